"""Import customer accounts from CSV: a column mapping, bad rows reported with their line numbers, re-import updates.

Good rows are imported, bad rows (undecodable text, missing or duplicate id, wrong column count, huge fields)
are reported with their line number and written to a rejects file beside the input; nothing is dropped
silently. Rows are written in batches inside one transaction, so a cancelled or killed import leaves the
workspace as it was before (SQLite's journal rolls the open transaction back).
"""

from __future__ import annotations

import csv
import datetime as dt
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text

from launchdesk.workspace import Workspace

MAX_FIELD = 64 * 1024  # larger fields are almost always a broken quote swallowing the rest of the file
BATCH = 20_000


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
    """Decode the whole file strictly in chunks; only a file that fails pays for the per-row check."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as f:
        try:
            while chunk := f.read(1 << 20):
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


class _Position:
    """Characters handed to the csv reader so far: the progress bar's measure (the reader hides the file offset)."""

    chars = 0


def _counted(f: object, position: _Position) -> Iterator[str]:
    for line in f:  # type: ignore[attr-defined]
        position.chars += len(line)
        yield line


def _rows(
    path: Path, strict_utf8: bool, position: _Position
) -> Iterator[tuple[int, list[str] | None, str | None]]:
    """(line, row, error) for every record; the csv module's own errors become rejected lines."""
    errors = "strict" if strict_utf8 else "surrogateescape"
    with path.open(encoding="utf-8-sig", errors=errors, newline="") as f:
        reader = csv.reader(_counted(f, position))
        while True:
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield start, None, f"unreadable CSV ({exc})"
                continue
            if not strict_utf8 and _has_surrogates(row):
                yield start, None, "not valid UTF-8 text"
                continue
            yield start, row, None


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
    report = ImportReport()
    try:
        position = _Position()
        rows = _rows(path, strict, position)
        try:
            line, header, error = next(rows)
        except StopIteration:
            raise ImportFailed(f"{path.name} is empty.") from None
        if error or not header:
            raise ImportFailed(f"{path.name}: the first line must be a header row ({error or 'empty'}).")
        header = [h.strip() for h in header]
        if len(set(header)) != len(header):
            dupes = sorted({h for h in header if header.count(h) > 1})
            raise ImportFailed(f"{path.name}: the header names a column twice ({', '.join(dupes)}).")
        mapping = mapping or ColumnMapping.guess(header)
        _check_mapping(mapping, header, path)
        report = _import(workspace, rows, header, mapping, report, total_bytes, position, path, progress, cancelled)
    finally:
        csv.field_size_limit(previous_limit)
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


def _import(
    workspace: Workspace,
    rows: Iterator[tuple[int, list[str] | None, str | None]],
    header: list[str],
    mapping: ColumnMapping,
    report: ImportReport,
    total_bytes: int,
    position: _Position,
    path: Path,
    progress: Callable[[int, int], None] | None,
    cancelled: Callable[[], bool] | None,
) -> ImportReport:
    """Validate rows in Python, stage them in temporary tables, then merge them with set-based SQL.

    Row-by-row ORM or upsert statements cost ten times SQLite's own CSV import; staging plus three
    INSERT ... SELECT statements keeps the per-row Python work to parsing and checking.
    """
    width = len(header)
    index = {h: i for i, h in enumerate(header)}
    id_i = index[mapping.id_column]
    name_i = index.get(mapping.name_column) if mapping.name_column else None
    email_is = [index[c] for c in mapping.email_columns if c in index]
    first_i = index.get(mapping.first_name_column) if mapping.first_name_column else None
    last_i = index.get(mapping.last_name_column) if mapping.last_name_column else None
    stick_i = index.get(mapping.stickiness_field) if mapping.stickiness_field else None
    reserved = {id_i, name_i, first_i, last_i, *email_is}
    prop_cols = [(i, h) for i, h in enumerate(header) if i not in reserved]
    seen: dict[str, int] = {}
    rejected = report.rejected

    with workspace.engine.begin() as conn:
        sql = _StagingSql(conn.dialect.name, conn.dialect.paramstyle, len(prop_cols))
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA temp_store=MEMORY")  # staging tables never touch the disk
        for statement in sql.create:
            conn.exec_driver_sql(statement)
        existing_before = conn.exec_driver_sql("SELECT count(*) FROM account").scalar_one()
        accounts: list[tuple[object, ...]] = []
        contacts: list[tuple[object, ...]] = []

        def flush() -> None:
            if accounts:
                conn.exec_driver_sql(sql.stage_account, accounts)
                accounts.clear()
            if contacts:
                conn.exec_driver_sql(sql.stage_contact, contacts)
                contacts.clear()

        for line, row, error in rows:
            if row is None:
                rejected.append(Rejected(line, error or "unreadable"))
                continue
            if len(row) != width:
                if not any(row):
                    continue  # a blank line is not a record
                rejected.append(Rejected(line, f"{len(row)} columns, the header has {width}", row))
                continue
            key = row[id_i].strip()
            if not key:
                rejected.append(Rejected(line, f"no account id in column {mapping.id_column!r}", row))
                continue
            first = seen.setdefault(key, line)
            if first != line:
                rejected.append(Rejected(line, f"account id {key!r} repeats line {first}", row))
                continue
            name = row[name_i].strip() if name_i is not None else ""
            accounts.append((key, name, name.casefold(), row[stick_i] if stick_i is not None else None,
                             *[row[i] for i, _ in prop_cols]))
            for pos, ei in enumerate(email_is):
                email = row[ei].strip()
                if email:
                    contacts.append((
                        key, pos, email.lower(),
                        row[first_i].strip() if first_i is not None and pos == 0 else "",
                        row[last_i].strip() if last_i is not None and pos == 0 else "",
                    ))
            if len(accounts) >= BATCH:
                flush()
                if cancelled and cancelled():
                    raise ImportCancelled(f"Import of {path.name} cancelled; no account was changed.")
                if progress:
                    progress(min(position.chars, total_bytes), total_bytes)
        flush()
        if cancelled and cancelled():
            raise ImportCancelled(f"Import of {path.name} cancelled; no account was changed.")
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        keys = {f"k{n}": h for n, (_, h) in enumerate(prop_cols)}
        conn.execute(text(sql.merge_accounts), {"now": now, **keys})
        if existing_before:
            conn.exec_driver_sql(sql.drop_replaced_contacts)
        conn.exec_driver_sql(sql.merge_contacts)
        after = conn.exec_driver_sql("SELECT count(*) FROM account").scalar_one()
        for statement in sql.drop:
            conn.exec_driver_sql(statement)
    report.rows_read = len(seen) + len(rejected)
    report.imported = after - existing_before
    report.updated = len(seen) - report.imported
    if progress:
        progress(total_bytes, total_bytes)
    return report


class _StagingSql:
    """The staging and merge statements for one dialect (SQLite or PostgreSQL) and number of properties."""

    def __init__(self, dialect: str, paramstyle: str, properties: int) -> None:
        mark = "?" if paramstyle == "qmark" else "%s"
        props = [f"p{n}" for n in range(properties)]
        prop_defs = "".join(f", {p} TEXT" for p in props)
        self.create = [
            f"CREATE TEMPORARY TABLE import_account (k TEXT, n TEXT, f TEXT, s TEXT{prop_defs})",
            "CREATE TEMPORARY TABLE import_contact (k TEXT, pos INTEGER, e TEXT, fn TEXT, ln TEXT)",
        ]
        self.drop = ["DROP TABLE import_account", "DROP TABLE import_contact"]
        self.stage_account = (
            f"INSERT INTO import_account VALUES ({', '.join([mark] * (4 + properties))})"
        )
        self.stage_contact = f"INSERT INTO import_contact VALUES ({mark}, {mark}, {mark}, {mark}, {mark})"
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
        self.merge_accounts = (
            "INSERT INTO account (account_key, name, name_folded, stickiness_id, attributes, imported_at) "
            f"SELECT k, n, f, s, {attributes}, :now FROM import_account WHERE true "
            "ON CONFLICT (account_key) DO UPDATE SET name = excluded.name, name_folded = excluded.name_folded, "
            "stickiness_id = excluded.stickiness_id, attributes = excluded.attributes, "
            "imported_at = excluded.imported_at"
        )
        self.drop_replaced_contacts = (
            "DELETE FROM contact WHERE account_id IN "
            "(SELECT a.id FROM account a JOIN import_account s ON s.k = a.account_key)"
        )
        self.merge_contacts = (
            "INSERT INTO contact (account_id, position, email, first_name, last_name) "
            "SELECT a.id, c.pos, c.e, c.fn, c.ln FROM import_contact c JOIN account a ON a.account_key = c.k"
        )


def _write_rejects(path: Path, header: list[str], rejected: list[Rejected]) -> None:
    with path.open("w", encoding="utf-8", newline="", errors="replace") as f:
        writer = csv.writer(f)
        writer.writerow(["line", "reason", *header])
        for r in rejected:
            raw = [v.encode("utf-8", "replace").decode("utf-8") if isinstance(v, str) else v for v in (r.raw or [])]
            writer.writerow([r.line, r.reason, *(v[:200] for v in raw)])
