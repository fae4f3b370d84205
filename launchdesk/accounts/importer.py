"""Import customer accounts from CSV: a column mapping, bad rows reported with their line numbers, re-import updates.

Good rows are imported, bad rows (undecodable text, missing or duplicate id, wrong column count, huge fields)
are reported with their line number and written to a rejects file beside the input; nothing is dropped
silently. Rows are written in batches inside one transaction, so a cancelled or killed import leaves the
workspace as it was before (SQLite's journal rolls the open transaction back).
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import gc
import io
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from bisect import bisect_right
from collections import deque
from itertools import chain, repeat
from operator import itemgetter
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import DateTime, bindparam, text

from launchdesk.workspace import Workspace

MAX_FIELD = 64 * 1024  # larger fields are almost always a broken quote swallowing the rest of the file
BATCH = 5_000  # rows checked and staged together: small enough to stay in the CPU cache meanwhile
CHUNK = 1 << 19  # bytes read and decoded at a time
ROWS_PER_STATEMENT = 500  # rows staged by one multi-row INSERT (fewer when the parameter limit is lower)
IMPORT_CACHE_KIB = 256 * 1024  # SQLite page cache of the import's own connection while it runs


class ImportCancelled(Exception):
    pass


class ImportFailed(Exception):
    """The file cannot be imported at all (no header, no id column...); the message is for the user."""


@dataclass
class ColumnMapping:
    """Which CSV columns mean what. Every column not named here becomes a context property of the same name."""

    id_column: str = "account_id"
    name_column: str | None = "name"
    email_columns: tuple[str, ...] = ("email",)
    first_name_column: str | None = "first_name"
    last_name_column: str | None = "last_name"
    stickiness_field: str | None = None  # a column whose value is the flag stickiness id instead of the account id

    @classmethod
    def guess(cls, header: list[str], **overrides: object) -> ColumnMapping:
        """A mapping from a header: columns named like 'email', 'e-mail', 'contact_email'... are contacts."""
        lowered = {h.lower(): h for h in header}
        emails = tuple(h for h in header if "email" in h.lower().replace("-", ""))
        mapping = cls(
            id_column=next((lowered[k] for k in ("account_id", "id", "account", "key") if k in lowered), header[0]),
            name_column=next((lowered[k] for k in ("name", "account_name", "company") if k in lowered), None),
            email_columns=emails,
            first_name_column=lowered.get("first_name"),
            last_name_column=lowered.get("last_name"),
        )
        for key, value in overrides.items():
            if value is not None:
                setattr(mapping, key, value)
        return mapping


@dataclass
class Rejected:
    line: int
    reason: str
    raw: list[str] | None = None


@dataclass
class ImportReport:
    rows_read: int = 0
    imported: int = 0  # new accounts
    updated: int = 0  # existing accounts whose row was re-imported
    rejected: list[Rejected] = field(default_factory=list)
    rejects_path: Path | None = None

    def summary(self) -> str:
        text_ = f"{self.imported} new, {self.updated} updated, {len(self.rejected)} rejected"
        if self.rejects_path:
            text_ += f" (see {self.rejects_path.name})"
        return text_


def _has_surrogates(row: list[str]) -> bool:
    try:
        "\x1f".join(row).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _batch_has_surrogates(rows: list[list[str]]) -> bool:
    """One encode for a whole batch: a row of undecodable bytes (kept as surrogates) makes it fail."""
    try:
        "\x1f".join(map("\x1f".join, rows)).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


@dataclass
class _Batch:
    """Records read together: the rows, the line each starts on, and records the csv module could not read."""

    rows: list[list[str]]
    starts: Sequence[int]
    errors: list[Rejected]
    check_utf8: bool  # some of the file was not valid UTF-8: rows may hold undecodable bytes (as surrogates)
    ascii: bool | None = None  # known to be all ASCII (None: not known)
    padded: bool = True  # some field may start or end with white space


class _Feed:
    """The csv reader's input: the lines of the current chunk, then of the next chunks while a record needs them."""

    def __init__(self, pull: Callable[[], str | None]) -> None:
        self.pull = pull
        self.text = io.StringIO("")

    def __iter__(self) -> _Feed:
        return self

    def __next__(self) -> str:
        line = self.text.readline()
        while not line:
            text = self.pull()
            if text is None:
                raise StopIteration
            self.text = io.StringIO(text, newline="")
            line = self.text.readline()
        return line

    def rest(self) -> str:
        """The unread text of the current chunk ('' when the last record ended with it)."""
        return self.text.read()


class _Records:
    """The records of a CSV file in batches, with the line each record starts on.

    The file is read and decoded in big chunks that end on a line break. A chunk with no quote, no lone
    carriage return, no NUL and no line longer than the field limit is one record per line, split by
    ``str.split`` with no Python call per row; any other chunk goes through the csv module record by record
    (reading on into the next chunks while a quoted field spans lines). A chunk that is not valid UTF-8 is
    decoded keeping the bad bytes as surrogates, and the rows of such a file are checked one by one.
    """

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.position = 0  # bytes read so far
        self.line = 0  # lines consumed so far
        self.check_utf8 = False
        self._pending = b""
        self._eof = False
        self.feed = _Feed(self._pull)
        self.reader = csv.reader(self.feed)

    def _pull(self) -> str | None:
        """The next chunk of whole lines as text, or None at the end of the file."""
        data, self._pending = self._pending, b""
        while not self._eof:
            more = self.f.read(CHUNK)
            if not more:
                self._eof = True
                break
            if not data and not self.position and more.startswith(codecs.BOM_UTF8):
                more = more[len(codecs.BOM_UTF8):]
                self.position += len(codecs.BOM_UTF8)
            data += more
            cut = data.rfind(b"\n") + 1
            if cut:
                data, self._pending = data[:cut], data[cut:]
                break
        if not data:
            return None
        self.position += len(data)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            self.check_utf8 = True
            return data.decode("utf-8", "surrogateescape")

    def header(self) -> list[str] | None:
        """The first record (None for an empty file); a csv error is raised."""
        before = self.reader.line_num
        try:
            row = next(self.reader)
        except StopIteration:
            return None
        finally:
            self.line += self.reader.line_num - before
        return row

    def batches(self, size: int) -> Iterator[_Batch]:
        while True:
            text = self.feed.rest() or self._pull()
            if text is None:
                return
            simple = _simple_lines(text)
            if simple is not None:
                lines, padded = simple
                rows = list(map(str.split, lines, repeat(",")))
                first = self.line + 1
                self.line += len(rows)
                plain = text.isascii()
                for start in range(0, len(rows), size):
                    part = rows[start:start + size] if len(rows) > size else rows
                    yield _Batch(part, range(first + start, first + start + len(part)), [], self.check_utf8, plain,
                                 padded)
                continue
            self.feed.text = io.StringIO(text, newline="")
            yield from self._csv_batches(size)

    def _csv_batches(self, size: int) -> Iterator[_Batch]:
        """Records through the csv module until one ends where its chunk ends."""
        reader, feed = self.reader, self.feed
        rows: list[list[str]] = []
        starts: list[int] = []
        errors: list[Rejected] = []
        while True:
            before = reader.line_num
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                errors.append(Rejected(self.line + 1, f"unreadable CSV ({exc})"))
            else:
                rows.append(row)
                starts.append(self.line + 1)
            finally:
                self.line += reader.line_num - before
            if feed.text.tell() == len(feed.text.getvalue()):
                break
            if len(rows) >= size:
                yield _Batch(rows, starts, errors, self.check_utf8)
                rows, starts, errors = [], [], []
        yield _Batch(rows, starts, errors, self.check_utf8)


def _simple_lines(text: str) -> tuple[list[str], bool] | None:
    """The lines of a chunk in which every line is one record of plain comma-separated fields (else None), and
    whether a field in it starts or ends with white space."""
    if '"' in text or "\0" in text:
        return None
    if "\r" in text:
        text = text.replace("\r\n", "\n")
        if "\r" in text:
            return None
    lines = text.split("\n")
    if not lines[-1]:
        lines.pop()
    if lines and max(map(len, lines)) > MAX_FIELD:
        return None
    return lines, _padded(text)


def _padded(text: str) -> bool:
    """Whether a field of a plain chunk starts or ends with white space (a few substring searches, no regex)."""
    for space in _SPACES:
        if space in text and (space + "," in text or "," + space in text or space + "\n" in text
                              or "\n" + space in text or text.startswith(space) or text.endswith(space)):
            return True
    return False


def import_accounts(
    workspace: Workspace,
    csv_path: str | os.PathLike[str],
    mapping: ColumnMapping | None = None,
    *,
    rejects_path: str | os.PathLike[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> ImportReport:
    """Import (insert or update) the accounts of a CSV file; returns what happened to every row."""
    path = Path(csv_path)
    if not path.is_file():
        raise ImportFailed(f"{path} does not exist.")
    total_bytes = max(path.stat().st_size, 1)
    previous_limit = csv.field_size_limit(MAX_FIELD)
    # A million rows are millions of short-lived lists and strings, none of them in a reference cycle: the
    # cyclic collector would only walk them over and over (a third of the import time), so it pauses.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    report = ImportReport()
    try:
        with path.open("rb") as f:
            records = _Records(f)
            try:
                header = records.header()
            except csv.Error as exc:
                raise ImportFailed(f"{path.name}: the first line must be a header row (unreadable CSV ({exc})).") from None
            if header is None:
                raise ImportFailed(f"{path.name} is empty.")
            if not header or (records.check_utf8 and _has_surrogates(header)):
                raise ImportFailed(f"{path.name}: the first line must be a header row "
                                   f"({'not valid UTF-8 text' if header else 'empty'}).")
            header = [h.strip() for h in header]
            if len(set(header)) != len(header):
                dupes = sorted({h for h in header if header.count(h) > 1})
                raise ImportFailed(f"{path.name}: the header names a column twice ({', '.join(dupes)}).")
            mapping = mapping or ColumnMapping.guess(header)
            _check_mapping(mapping, header, path)
            report = _import(workspace, records, header, mapping, report, total_bytes, path, progress, cancelled)
    finally:
        csv.field_size_limit(previous_limit)
        if gc_was_enabled:
            gc.enable()
    if report.rejected:
        report.rejects_path = Path(rejects_path) if rejects_path else path.with_name(path.stem + ".rejects.csv")
        _write_rejects(report.rejects_path, header, report.rejected)
    return report


def _check_mapping(mapping: ColumnMapping, header: list[str], path: Path) -> None:
    named = [mapping.id_column, mapping.name_column, *mapping.email_columns, mapping.first_name_column,
             mapping.last_name_column, mapping.stickiness_field]
    # Only the id column must exist; optional columns the file lacks are simply not used.
    if mapping.id_column not in header:
        raise ImportFailed(f"{path.name} has no column {mapping.id_column!r} for the account id "
                           f"(columns: {', '.join(header)}).")
    for column in named:
        if column and column not in header and column is mapping.stickiness_field:
            raise ImportFailed(f"{path.name} has no column {column!r} for the stickiness id.")


# The characters str.strip() removes (str.isspace()): SQL's trim() with this set strips exactly the same.
WHITESPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
              "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")


_SPACES = WHITESPACE.replace("\r", "").replace("\n", "")  # line breaks end records in a plain chunk


@dataclass
class _Columns:
    """Where the mapped fields are in a row.

    A staged row is the CSV row as it is (columns c0..cn) and, when the row is not plain ASCII, the folded name
    and lower-case e-mails computed by Python (f, e0..em). The database strips the fields (trim() with the
    characters str.strip() removes) and, for ASCII rows, lower-cases them: for ASCII text SQL's lower() is
    str.lower() and str.casefold().
    """

    width: int
    id_i: int
    name_i: int | None
    email_is: list[int]
    first_i: int | None
    last_i: int | None
    stick_i: int | None
    prop_is: list[int]

    @classmethod
    def of(cls, header: list[str], mapping: ColumnMapping) -> _Columns:
        index = {h: i for i, h in enumerate(header)}

        def at(column: str | None) -> int | None:
            return index.get(column) if column else None

        id_i = index[mapping.id_column]
        name_i, first_i, last_i = at(mapping.name_column), at(mapping.first_name_column), at(mapping.last_name_column)
        email_is = [index[c] for c in mapping.email_columns if c in index]
        reserved = {id_i, name_i, first_i, last_i, *email_is}
        return cls(len(header), id_i, name_i, email_is, first_i, last_i, at(mapping.stickiness_field),
                   [i for i in range(len(header)) if i not in reserved])

    @property
    def folded(self) -> int:
        """How many values Python computes for a row that is not plain ASCII (folded name, e-mails)."""
        return (self.name_i is not None) + len(self.email_is)

    def fold(self, row: list[str]) -> list[str]:
        """The values Python computes for one row: the folded name and the lower-case e-mails."""
        name = [row[self.name_i].strip().casefold()] if self.name_i is not None else []
        return name + [row[i].strip().lower() for i in self.email_is]

    def fold_batch(self, rows: list[list[str]]) -> None:
        """Append the Python-computed values to every row of a batch, column by column (C-level maps)."""
        strip = str.strip
        if self.name_i is not None:
            deque(map(list.append, rows, map(str.casefold, map(strip, map(itemgetter(self.name_i), rows)))), 0)
        for i in self.email_is:
            deque(map(list.append, rows, map(str.lower, map(strip, map(itemgetter(i), rows)))), 0)


def _import(
    workspace: Workspace,
    records: _Records,
    header: list[str],
    mapping: ColumnMapping,
    report: ImportReport,
    total_bytes: int,
    path: Path,
    progress: Callable[[int, int], None] | None,
    cancelled: Callable[[], bool] | None,
) -> ImportReport:
    """Check rows a batch at a time, stage them in a temporary table, then merge with set-based SQL.

    A batch whose rows are all good (the usual case) is checked and staged column by column with no Python
    call per row; a batch with a bad row in it is handled row by row, so every bad row is reported with its
    line. A staged row's id is its line. Into an empty account table the accounts and contacts are copied
    straight from the staging table; otherwise accounts are upserted and their contacts replaced.
    """
    cols = _Columns.of(header, mapping)
    rejected = report.rejected
    step = max(total_bytes // 100, 1)  # progress is reported about once per percent

    with workspace.engine.connect() as conn:
        dialect = conn.dialect.name
        sqlite = dialect == "sqlite"
        sql = _StagingSql(dialect, conn.dialect.paramstyle, cols, header)
        restore: list[str] = []
        if sqlite:
            # Only this connection: staging in memory, and a page cache large enough for the index builds.
            cache = conn.exec_driver_sql("PRAGMA cache_size").scalar_one()
            temp_store = conn.exec_driver_sql("PRAGMA temp_store").scalar_one()
            restore = [f"PRAGMA cache_size={int(cache)}", f"PRAGMA temp_store={int(temp_store)}"]
            conn.exec_driver_sql(f"PRAGMA cache_size=-{IMPORT_CACHE_KIB}")
            conn.exec_driver_sql("PRAGMA temp_store=MEMORY")
        conn.commit()  # end the transaction SQLAlchemy began for the pragmas; the import has its own
        try:
            with conn.begin():
                for statement in sql.create:
                    conn.exec_driver_sql(statement)
                existing_before = conn.exec_driver_sql("SELECT count(*) FROM account").scalar_one()
                cursor = conn.connection.cursor()
                stager = _Stager(cursor, sql, cols, mapping, rejected, _parameter_limit(conn))
                try:
                    reported = 0
                    for batch in records.batches(BATCH):
                        rejected.extend(batch.errors)
                        if batch.rows:
                            stager.stage(batch)
                        if cancelled and cancelled():
                            raise ImportCancelled(f"Import of {path.name} cancelled; no account was changed.")
                        if progress and records.position - reported >= step:
                            reported = records.position
                            progress(min(reported, total_bytes - 1), total_bytes)
                    if cancelled and cancelled():
                        raise ImportCancelled(f"Import of {path.name} cancelled; no account was changed.")
                finally:
                    cursor.close()
                _merge(conn, sql, sqlite, existing_before, stager._staged)
                after = conn.exec_driver_sql("SELECT count(*) FROM account").scalar_one()
        finally:
            conn.exec_driver_sql(sql.drop)
            for statement in restore:
                conn.exec_driver_sql(statement)
            conn.commit()
    rejected.sort(key=lambda r: r.line)
    report.rows_read = len(stager.seen) + len(rejected)
    report.imported = after - existing_before
    report.updated = len(stager.seen) - report.imported
    if progress:
        progress(total_bytes, total_bytes)
    return report


class _Stager:
    """Checks batches of rows and writes the good ones to the staging table."""

    def __init__(self, cursor: Any, sql: _StagingSql, cols: _Columns, mapping: ColumnMapping,
                 rejected: list[Rejected], max_params: int) -> None:
        self.cursor = cursor
        self.max_params = max_params
        self.sql = sql
        self.cols = cols
        self.mapping = mapping
        self.rejected = rejected
        self.seen: set[str] = set()  # the account ids staged so far
        self._staged = 0  # rows staged so far: the staging table's row ids are 1, 2, 3...
        self._lines: list[tuple[int, Sequence[int]]] = []  # (first row id, lines) of every staged batch
        self._key_index = False

    def stage(self, batch: _Batch) -> None:
        rows, cols, seen = batch.rows, self.cols, self.seen
        try:
            keys = list(map(str.strip, map(itemgetter(cols.id_i), rows)))
        except IndexError:  # a short row (a blank line): the row-by-row check reports or skips it
            keys = [row[cols.id_i].strip() if len(row) > cols.id_i else "" for row in rows]
        unique = set(keys)
        if (
            all(keys)
            and len(unique) == len(keys)
            and seen.isdisjoint(unique)
            and all(map(cols.width.__eq__, map(len, rows)))
            and not (batch.check_utf8 and _batch_has_surrogates(rows))
        ):
            seen |= unique
            plain = batch.ascii if batch.ascii is not None else "".join(map("".join, rows)).isascii()
            if plain or not cols.folded:
                self._insert(rows, batch.starts, False, batch.padded)
            else:
                cols.fold_batch(rows)
                self._insert(rows, batch.starts, True, batch.padded)
            return
        self._stage_rows(batch, keys)

    def _insert(self, rows: Sequence[Sequence[str]], lines: Sequence[int], with_folded: bool, padded: bool) -> None:
        width = len(rows[0])
        per = max(1, min(ROWS_PER_STATEMENT, self.max_params // width))
        flat = list(chain.from_iterable(rows))
        full, rest = divmod(len(rows), per)
        if full:
            step = per * width
            self.cursor.executemany(self.sql.stage(with_folded, padded, per),
                                    [flat[i:i + step] for i in range(0, full * step, step)])
        if rest:
            self.cursor.execute(self.sql.stage(with_folded, padded, rest), flat[full * per * width:])
        self._lines.append((self._staged + 1, lines))
        self._staged += len(rows)

    def _stage_rows(self, batch: _Batch, keys: list[str]) -> None:
        """A batch with a bad row in it, row by row."""
        cols, rejected, width = self.cols, self.rejected, self.cols.width
        first_lines: dict[str, int] = {}  # ids first seen in this batch
        good: list[list[str]] = []
        lines: list[int] = []
        for line, row, key in zip(batch.starts, batch.rows, keys):
            if batch.check_utf8 and _has_surrogates(row):
                rejected.append(Rejected(line, "not valid UTF-8 text"))
                continue
            if len(row) != width:
                if not any(row):
                    continue  # a blank line is not a record
                rejected.append(Rejected(line, f"{len(row)} columns, the header has {width}", row))
                continue
            if not key:
                rejected.append(Rejected(line, f"no account id in column {self.mapping.id_column!r}", row))
                continue
            first = first_lines.get(key) or (self._first_line(key) if key in self.seen else None)
            if first is not None:
                rejected.append(Rejected(line, f"account id {key!r} repeats line {first}", row))
                continue
            first_lines[key] = line
            good.append(row + cols.fold(row))
            lines.append(line)
        self.seen.update(first_lines)
        if good:
            self._insert(good, lines, bool(cols.folded), True)

    def _first_line(self, key: str) -> int:
        """The line an id was staged from, looked up only when a later row repeats it."""
        if not self._key_index:
            self.cursor.execute(self.sql.index_keys)
            self._key_index = True
        self.cursor.execute(self.sql.row_of_key, (key,))
        staged = int(self.cursor.fetchone()[0])
        at = bisect_right(self._lines, staged, key=itemgetter(0)) - 1
        first, lines = self._lines[at]
        return lines[staged - first]


def _parameter_limit(conn: Any) -> int:
    """How many values one statement may bind (SQLite's is a build option: 999 on old builds)."""
    driver = conn.connection.driver_connection
    if conn.dialect.name == "sqlite":
        import sqlite3

        return int(driver.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))
    return 65_535  # PostgreSQL's wire protocol counts parameters in 16 bits


def _merge(conn: Any, sql: _StagingSql, sqlite: bool, existing_before: int, staged: int) -> None:
    """Move the staged rows into account and contact."""
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    # A load at least as large as what is there already: building the secondary indexes once afterwards
    # (sorted) is faster than updating them row by row, and leaves them compact. The unique index on the
    # account id stays; the upsert needs it.
    indexes = []
    if sqlite and staged and staged >= existing_before:
        indexes = conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('account', 'contact') "
            "AND sql IS NOT NULL").all()
        for name, _ in indexes:
            conn.exec_driver_sql(f'DROP INDEX "{name}"')
    params: dict[str, object] = {"now": now, **sql.property_keys}
    if sqlite and not existing_before:
        conn.execute(sql.insert_accounts, params)
        for statement in sql.insert_contacts:
            conn.execute(statement, params)
    else:
        conn.execute(sql.merge_accounts, params)
        if existing_before:
            conn.execute(sql.drop_replaced_contacts)
        for statement in sql.merge_contacts:
            conn.execute(statement, params)
    for _, create in indexes:
        conn.exec_driver_sql(create)


class _StagingSql:
    """The staging and merge statements for one dialect (SQLite or PostgreSQL) and column mapping."""

    def __init__(self, dialect: str, paramstyle: str, cols: _Columns, header: list[str]) -> None:
        mark = "?" if paramstyle == "qmark" else "%s"
        raw = [f"c{i}" for i in range(cols.width)]
        folded = (["f"] if cols.name_i is not None else []) + [f"e{n}" for n in range(len(cols.email_is))]
        row_id = "INTEGER PRIMARY KEY" if dialect == "sqlite" else "BIGSERIAL PRIMARY KEY"
        # A cancelled import rolls back the rows but may keep the table on the pooled connection: drop first.
        self.drop = f"DROP TABLE IF EXISTS {'temp' if dialect == 'sqlite' else 'pg_temp'}.import_account"
        self.create = [
            self.drop,
            f"CREATE TEMPORARY TABLE import_account (id {row_id}, t INTEGER, "
            f"{', '.join(f'{c} TEXT' for c in raw + folded)})",
        ]
        # Rows are staged many to a statement (one multi-row VALUES): SQLite and PostgreSQL then parse, plan and
        # step once per few hundred rows instead of once per row, which is most of what staging costs.
        self._mark = mark
        self._raw, self._folded = raw, folded
        self._statements: dict[tuple[bool, bool, int], str] = {}

        def strip(column: str) -> str:
            trim = "trim" if dialect == "sqlite" else "btrim"
            return f"CASE WHEN t = 0 THEN {column} ELSE {trim}({column}, '{WHITESPACE}') END"

        def field(i: int | None) -> str:
            return strip(f"c{i}") if i is not None else "''"

        key = strip(f"c{cols.id_i}")
        self.index_keys = f"CREATE INDEX import_account_k ON import_account ({key})"
        self.row_of_key = f"SELECT min(id) FROM import_account WHERE {key} = {mark}"
        props = [f"c{i}" for i in cols.prop_is]
        self.property_keys = {f"k{n}": header[i] for n, i in enumerate(cols.prop_is)}
        # Properties become a JSON object built by the database itself (json_object / json_build_object take
        # at most 127 / 100 arguments, so larger objects are merged from groups).
        # PostgreSQL cannot tell a bound key's type inside json_build_object: it is said to be text.
        def key_param(n: int) -> str:
            return f":k{n}" if dialect == "sqlite" else f"CAST(:k{n} AS TEXT)"

        build, merge, group = (
            ("json_object", "json_patch({a}, {b})", 60) if dialect == "sqlite"
            else ("json_build_object", "({a}::jsonb || {b}::jsonb)::json", 45)
        )
        parts = [
            f"{build}(" + ", ".join(f"{key_param(n)}, {props[n]}" for n in range(start, min(start + group, len(props))))
            + ")"
            for start in range(0, len(props), group)
        ] or [f"{build}()"]
        attributes = parts[0]
        for part in parts[1:]:
            attributes = merge.format(a=attributes, b=part)
        emails = [f"coalesce(e{n}, lower({field(i)}))" for n, i in enumerate(cols.email_is)]
        # The staged rows as the account and contact columns need them.
        name = field(cols.name_i)
        folded_name = f"coalesce(f, lower({name}))" if cols.name_i is not None else "''"
        stickiness = f"c{cols.stick_i}" if cols.stick_i is not None else "NULL"
        staged = (
            f"SELECT id, {key} AS k, {name} AS n, {folded_name} AS f, {stickiness} AS s, {attributes} AS a, "
            + "".join(f"{e} AS e{n}, " for n, e in enumerate(emails))
            + f"{field(cols.first_i)} AS fn, {field(cols.last_i)} AS ln FROM import_account"
        )
        now = bindparam("now", type_=DateTime())
        # Into an empty table (SQLite): the staging id is the account id, so contacts need no lookup.
        self.insert_accounts = text(
            "INSERT INTO account (id, account_key, name, name_folded, stickiness_id, attributes, imported_at) "
            f"SELECT id, k, n, f, s, a, :now FROM ({staged}) AS s ORDER BY id"
        ).bindparams(now)
        # First and last name belong to the first e-mail column's contact.
        names = ["s.fn, s.ln"] + ["'', ''"] * (len(emails) - 1)
        self.insert_contacts = [
            text("INSERT INTO contact (account_id, position, email, first_name, last_name) "
                 f"SELECT s.id, {pos}, s.e{pos}, {names[pos]} FROM ({staged}) AS s WHERE s.e{pos} <> ''")
            for pos in range(len(emails))
        ]
        self.merge_accounts = text(
            "INSERT INTO account (account_key, name, name_folded, stickiness_id, attributes, imported_at) "
            f"SELECT k, n, f, s, a, :now FROM ({staged}) AS s WHERE true ORDER BY id "
            "ON CONFLICT (account_key) DO UPDATE SET name = excluded.name, name_folded = excluded.name_folded, "
            "stickiness_id = excluded.stickiness_id, attributes = excluded.attributes, "
            "imported_at = excluded.imported_at"
        ).bindparams(now)
        self.drop_replaced_contacts = text(
            "DELETE FROM contact WHERE account_id IN "
            f"(SELECT a.id FROM account a JOIN import_account ON {key} = a.account_key)"
        )
        self.merge_contacts = [
            text("INSERT INTO contact (account_id, position, email, first_name, last_name) "
                 f"SELECT a.id, {pos}, s.e{pos}, {names[pos]} "
                 f"FROM ({staged}) AS s JOIN account a ON a.account_key = s.k WHERE s.e{pos} <> ''")
            for pos in range(len(emails))
        ]

    def stage(self, with_folded: bool, padded: bool, rows: int) -> str:
        """The statement that stages `rows` rows (with the Python-computed values or not; rows whose fields have
        no white space at either end get t = 0 and are not stripped again by the database)."""
        key = (with_folded, padded, rows)
        statement = self._statements.get(key)
        if statement is None:
            columns = self._raw + self._folded if with_folded else self._raw
            one = f"({int(padded)}, {', '.join([self._mark] * len(columns))})"
            statement = f"INSERT INTO import_account (t, {', '.join(columns)}) VALUES {', '.join([one] * rows)}"
            self._statements[key] = statement
        return statement


def _write_rejects(path: Path, header: list[str], rejected: list[Rejected]) -> None:
    with path.open("w", encoding="utf-8", newline="", errors="replace") as f:
        writer = csv.writer(f)
        writer.writerow(["line", "reason", *header])
        for r in rejected:
            raw = [v.encode("utf-8", "replace").decode("utf-8") if isinstance(v, str) else v for v in (r.raw or [])]
            writer.writerow([r.line, r.reason, *(v[:200] for v in raw)])
