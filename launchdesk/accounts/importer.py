"""Import customer accounts from CSV: a column mapping, bad rows reported with their line numbers, re-import updates.

Good rows are imported, bad rows (undecodable text, missing or duplicate id, wrong column count, huge fields)
are reported with their line number and written to a rejects file beside the input; nothing is dropped
silently. Rows are written in batches inside one transaction, so a cancelled or killed import leaves the
workspace as it was before (SQLite's journal rolls the open transaction back).
"""

from __future__ import annotations

import csv
import datetime as dt
import gc
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice, repeat
from operator import itemgetter
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, bindparam, text

from launchdesk.workspace import Workspace

MAX_FIELD = 64 * 1024  # larger fields are almost always a broken quote swallowing the rest of the file
BATCH = 20_000
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


def _file_is_utf8(path: Path) -> bool:
    """Decode the whole file strictly in big chunks; only a file that fails pays for the per-row check."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as f:
        try:
            while chunk := f.read(1 << 22):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return False
    return True


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


class _Batch:
    """Up to BATCH records read by the csv module: the rows, the line each starts on, and unreadable records."""

    __slots__ = ("rows", "starts", "errors", "last")

    def __init__(self) -> None:
        self.rows: list[list[str]] = []
        self.starts: list[int] = []
        self.errors: list[Rejected] = []
        self.last = False  # the end of the file was reached


def _read_batch(reader: Any, size: int) -> _Batch:
    """The next records; the csv module's own errors (a field over the size limit...) become rejected lines.

    The reader's line counter is read once per record (the line a record ends on) and turned into the line
    each record starts on per batch, so good rows cost no Python call of their own.
    """
    batch = _Batch()
    rows, starts = batch.rows, batch.starts
    while True:
        before = reader.line_num
        n0 = len(rows)
        ends: list[int] = []
        append_row, append_end = rows.append, ends.append
        try:
            for row in islice(reader, size - n0):
                append_row(row)
                append_end(reader.line_num)
        except csv.Error as exc:
            starts.append(before + 1)
            starts.extend(map(_next_line, ends[:-1]))
            batch.errors.append(Rejected((ends[-1] if ends else before) + 1, f"unreadable CSV ({exc})"))
            continue
        if ends:
            starts.append(before + 1)
            starts.extend(map(_next_line, ends[:-1]))
        batch.last = len(rows) < size
        return batch


_next_line = (1).__add__


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
    strict = _file_is_utf8(path)
    previous_limit = csv.field_size_limit(MAX_FIELD)
    # A million rows are millions of short-lived lists and strings, none of them in a reference cycle: the
    # cyclic collector would only walk them over and over (a third of the import time), so it pauses.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    report = ImportReport()
    try:
        errors = "strict" if strict else "surrogateescape"
        with path.open(encoding="utf-8-sig", errors=errors, newline="") as f:
            reader = csv.reader(f)
            first = _read_batch(reader, 1)
            if first.errors:
                raise ImportFailed(f"{path.name}: the first line must be a header row ({first.errors[0].reason}).")
            if not first.rows:
                raise ImportFailed(f"{path.name} is empty.")
            header = first.rows[0]
            if not header or (not strict and _has_surrogates(header)):
                raise ImportFailed(f"{path.name}: the first line must be a header row "
                                   f"({'not valid UTF-8 text' if header else 'empty'}).")
            header = [h.strip() for h in header]
            if len(set(header)) != len(header):
                dupes = sorted({h for h in header if header.count(h) > 1})
                raise ImportFailed(f"{path.name}: the header names a column twice ({', '.join(dupes)}).")
            mapping = mapping or ColumnMapping.guess(header)
            _check_mapping(mapping, header, path)

            def position() -> int:
                return f.buffer.tell()  # bytes read so far (ahead of the parser by at most one buffer)

            report = _import(workspace, reader, strict, header, mapping, report, total_bytes, position, path,
                             progress, cancelled)
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


@dataclass
class _Columns:
    """Where the mapped fields are in a row; staged rows are (id, name, folded name, stickiness id,
    e-mail 0..n, first name, last name, property 0..m)."""

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

    def staged_row(self, key: str, row: list[str]) -> tuple[object, ...]:
        """One row the slow way (a batch with a bad row in it); the same values as ``staged_batch``."""
        name = row[self.name_i].strip() if self.name_i is not None else ""
        return (key, name, name.casefold(), row[self.stick_i] if self.stick_i is not None else None,
                *[row[i].strip().lower() for i in self.email_is],
                row[self.first_i].strip() if self.first_i is not None else "",
                row[self.last_i].strip() if self.last_i is not None else "",
                *[row[i] for i in self.prop_is])

    def staged_batch(self, keys: list[str], rows: list[list[str]]) -> Iterator[tuple[object, ...]]:
        """All rows of a clean batch, column by column: C-level maps and one zip, no Python call per row."""
        strip = str.strip

        def column(i: int | None, *transforms: Callable[[str], str], absent: object = "") -> Iterator[object]:
            if i is None:
                return repeat(absent)
            values: Iterator[Any] = map(itemgetter(i), rows)
            for transform in transforms:
                values = map(transform, values)
            return values

        names = list(column(self.name_i, strip)) if self.name_i is not None else None
        return zip(
            keys,
            names if names is not None else repeat(""),
            map(str.casefold, names) if names is not None else repeat(""),
            column(self.stick_i, absent=None),
            *[column(i, strip, str.lower) for i in self.email_is],
            column(self.first_i, strip),
            column(self.last_i, strip),
            *[map(itemgetter(i), rows) for i in self.prop_is],
        )


def _import(
    workspace: Workspace,
    reader: Any,
    strict_utf8: bool,
    header: list[str],
    mapping: ColumnMapping,
    report: ImportReport,
    total_bytes: int,
    position: Callable[[], int],
    path: Path,
    progress: Callable[[int, int], None] | None,
    cancelled: Callable[[], bool] | None,
) -> ImportReport:
    """Check rows a batch at a time, stage them in a temporary table, then merge with set-based SQL.

    A batch whose rows are all good (the usual case) is checked and staged column by column with no Python
    call per row; a batch with a bad row in it is handled row by row, so every bad row is reported with its
    line. Into an empty account table the accounts and contacts are copied straight from the staging table
    (their ids are the staging row numbers); otherwise accounts are upserted and their contacts replaced.
    """
    cols = _Columns.of(header, mapping)
    seen: dict[str, int] = {}  # account id -> the line it was first seen on
    rejected = report.rejected
    staged = 0

    with workspace.engine.connect() as conn:
        dialect = conn.dialect.name
        sqlite = dialect == "sqlite"
        sql = _StagingSql(dialect, conn.dialect.paramstyle, len(cols.email_is), [header[i] for i in cols.prop_is])
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
                try:
                    while True:
                        batch = _read_batch(reader, BATCH)
                        rejected.extend(batch.errors)
                        if batch.rows:
                            staged += _stage(cursor, sql.stage_account, batch, cols, mapping, seen, rejected,
                                             strict_utf8)
                        if cancelled and cancelled():
                            raise ImportCancelled(f"Import of {path.name} cancelled; no account was changed.")
                        if batch.last:
                            break
                        if progress:
                            progress(min(position(), total_bytes - 1), total_bytes)
                finally:
                    cursor.close()
                _merge(conn, sql, sqlite, existing_before, staged)
                after = conn.exec_driver_sql("SELECT count(*) FROM account").scalar_one()
        finally:
            conn.exec_driver_sql(sql.drop)
            for statement in restore:
                conn.exec_driver_sql(statement)
            conn.commit()
    rejected.sort(key=lambda r: r.line)
    report.rows_read = len(seen) + len(rejected)
    report.imported = after - existing_before
    report.updated = len(seen) - report.imported
    if progress:
        progress(total_bytes, total_bytes)
    return report


def _stage(
    cursor: Any,
    statement: str,
    batch: _Batch,
    cols: _Columns,
    mapping: ColumnMapping,
    seen: dict[str, int],
    rejected: list[Rejected],
    strict_utf8: bool,
) -> int:
    """Stage one batch; returns the number of rows staged."""
    rows = batch.rows
    keys = list(map(str.strip, map(itemgetter(cols.id_i), rows)))
    unique = set(keys)
    clean = (
        all(keys)
        and len(unique) == len(keys)
        and seen.keys().isdisjoint(unique)
        and all(map(cols.width.__eq__, map(len, rows)))
        and (strict_utf8 or not _batch_has_surrogates(rows))
    )
    if clean:
        seen.update(zip(keys, batch.starts))
        cursor.executemany(statement, cols.staged_batch(keys, rows))
        return len(rows)
    good: list[tuple[object, ...]] = []
    width = cols.width
    for line, row, key in zip(batch.starts, rows, keys):
        if not strict_utf8 and _has_surrogates(row):
            rejected.append(Rejected(line, "not valid UTF-8 text"))
            continue
        if len(row) != width:
            if not any(row):
                continue  # a blank line is not a record
            rejected.append(Rejected(line, f"{len(row)} columns, the header has {width}", row))
            continue
        if not key:
            rejected.append(Rejected(line, f"no account id in column {mapping.id_column!r}", row))
            continue
        first = seen.setdefault(key, line)
        if first != line:
            rejected.append(Rejected(line, f"account id {key!r} repeats line {first}", row))
            continue
        good.append(cols.staged_row(key, row))
    if good:
        cursor.executemany(statement, good)
    return len(good)


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
            conn.exec_driver_sql(statement)
    else:
        conn.execute(sql.merge_accounts, params)
        if existing_before:
            conn.exec_driver_sql(sql.drop_replaced_contacts)
        for statement in sql.merge_contacts:
            conn.exec_driver_sql(statement)
    for _, create in indexes:
        conn.exec_driver_sql(create)


class _StagingSql:
    """The staging and merge statements for one dialect (SQLite or PostgreSQL) and number of e-mail columns
    and properties."""

    def __init__(self, dialect: str, paramstyle: str, emails: int, property_names: list[str]) -> None:
        mark = "?" if paramstyle == "qmark" else "%s"
        properties = len(property_names)
        mails = [f"e{n}" for n in range(emails)]
        props = [f"p{n}" for n in range(properties)]
        columns = ["k", "n", "f", "s", *mails, "fn", "ln", *props]
        row_id = "id INTEGER PRIMARY KEY" if dialect == "sqlite" else "id BIGSERIAL PRIMARY KEY"
        # A cancelled import rolls back the rows but may keep the table on the pooled connection: drop first.
        self.drop = f"DROP TABLE IF EXISTS {'temp' if dialect == 'sqlite' else 'pg_temp'}.import_account"
        self.create = [
            self.drop,
            f"CREATE TEMPORARY TABLE import_account ({row_id}, {', '.join(f'{c} TEXT' for c in columns)})",
        ]
        self.stage_account = (
            f"INSERT INTO import_account ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"
        )
        self.property_keys = {f"k{n}": name for n, name in enumerate(property_names)}
        # Properties become a JSON object built by the database itself (json_object / json_build_object take
        # at most 127 / 100 arguments, so larger objects are merged from groups).
        build, merge, group = (
            ("json_object", "json_patch({a}, {b})", 60) if dialect == "sqlite"
            else ("json_build_object", "({a}::jsonb || {b}::jsonb)::json", 45)
        )
        parts = [
            f"{build}(" + ", ".join(f":k{n}, {props[n]}" for n in range(start, min(start + group, properties))) + ")"
            for start in range(0, properties, group)
        ] or [f"{build}()"]
        attributes = parts[0]
        for part in parts[1:]:
            attributes = merge.format(a=attributes, b=part)
        now = bindparam("now", type_=DateTime())
        # Into an empty table (SQLite): the staging row number is the account id, so contacts need no lookup.
        self.insert_accounts = text(
            "INSERT INTO account (id, account_key, name, name_folded, stickiness_id, attributes, imported_at) "
            f"SELECT id, k, n, f, s, {attributes}, :now FROM import_account ORDER BY id"
        ).bindparams(now)
        # First and last name belong to the first e-mail column's contact.
        names = ["fn, ln"] + ["'', ''"] * (emails - 1)
        self.insert_contacts = [
            "INSERT INTO contact (account_id, position, email, first_name, last_name) "
            f"SELECT id, {pos}, {mail}, {names[pos]} FROM import_account WHERE {mail} <> ''"
            for pos, mail in enumerate(mails)
        ]
        self.merge_accounts = text(
            "INSERT INTO account (account_key, name, name_folded, stickiness_id, attributes, imported_at) "
            f"SELECT k, n, f, s, {attributes}, :now FROM import_account WHERE true ORDER BY id "
            "ON CONFLICT (account_key) DO UPDATE SET name = excluded.name, name_folded = excluded.name_folded, "
            "stickiness_id = excluded.stickiness_id, attributes = excluded.attributes, "
            "imported_at = excluded.imported_at"
        ).bindparams(now)
        self.drop_replaced_contacts = (
            "DELETE FROM contact WHERE account_id IN "
            "(SELECT a.id FROM account a JOIN import_account s ON s.k = a.account_key)"
        )
        self.merge_contacts = [
            "INSERT INTO contact (account_id, position, email, first_name, last_name) "
            f"SELECT a.id, {pos}, s.{mail}, {names[pos].replace('fn', 's.fn').replace('ln', 's.ln')} "
            f"FROM import_account s JOIN account a ON a.account_key = s.k WHERE s.{mail} <> ''"
            for pos, mail in enumerate(mails)
        ]


def _write_rejects(path: Path, header: list[str], rejected: list[Rejected]) -> None:
    with path.open("w", encoding="utf-8", newline="", errors="replace") as f:
        writer = csv.writer(f)
        writer.writerow(["line", "reason", *header])
        for r in rejected:
            raw = [v.encode("utf-8", "replace").decode("utf-8") if isinstance(v, str) else v for v in (r.raw or [])]
            writer.writerow([r.line, r.reason, *(v[:200] for v in raw)])
