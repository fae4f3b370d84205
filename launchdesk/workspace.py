"""The one place that opens a workspace: create, check, back up, migrate, and hand out sessions.

A workspace is a SQLite file (``*.launchdesk``) or a SQLAlchemy URL (PostgreSQL for a team). Opening one
checks what it is *before* changing anything: a file that is not a LaunchDesk workspace, a corrupt file or a
workspace written by a newer LaunchDesk is refused and left untouched. An older workspace is copied aside
and then upgraded with Alembic. Alembic is imported only when a migration is really needed, so a normal
start-up does not pay for it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import functools
import json
import logging
import os
import sqlite3
import threading
from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

FILE_SUFFIX = ".launchdesk"
# SQLite's application_id marks the file as ours ("LDSK"), so a foreign SQLite file is recognised at once.
APPLICATION_ID = 0x4C44534B
# Every schema revision this version of LaunchDesk knows, oldest first. tests/test_workspace.py checks that
# this list matches the Alembic scripts, so the version check at start-up needs no Alembic import.
SCHEMA_REVISIONS: tuple[str, ...] = ("0001_initial", "0002_snapshot_access", "0003_send_lease")
SCHEMA_HEAD = SCHEMA_REVISIONS[-1]
SQLITE_HEADER = b"SQLite format 3\x00"
QUICK_CHECK_MAX_BYTES = 128 * 1024 * 1024


class WorkspaceError(Exception):
    """A workspace cannot be opened; the message is meant for the user."""


class WorkspaceNotFound(WorkspaceError):
    pass


class NotAWorkspace(WorkspaceError):
    pass


class CorruptWorkspace(WorkspaceError):
    pass


class NewerWorkspace(WorkspaceError):
    pass


def is_url(target: str | os.PathLike[str]) -> bool:
    return "://" in str(target)


def display_name(target: str | os.PathLike[str]) -> str:
    """How a workspace is named to the user: the file path, or the URL without its password."""
    if is_url(target):
        from sqlalchemy.engine import make_url

        return make_url(str(target)).render_as_string(hide_password=True)
    return str(Path(target))


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


# How ``Workspace.read`` hands back a column: as stored, or converted the way the mapped column type does.
ColumnKind = Literal["utc_datetime", "date", "json", "bool"] | type[enum.Enum]


class Workspace:
    """An open workspace: its engine and a session factory. Close it when done.

    The engine (and with it SQLAlchemy) is made on first use. Until then ``read`` answers plain SQL from a
    read-only connection of Python's own sqlite3 module: that is how the window paints its first screen
    without waiting for SQLAlchemy, whose import alone costs more than a bare Qt window's whole start-up.
    """

    def __init__(self, target: str, engine: Engine | None = None, *, path: Path | None) -> None:
        self.target = target
        self.path = path
        self._engine = engine
        self._sessions: Any = None
        self._lock = threading.Lock()
        self._reader: sqlite3.Connection | None = None  # read-only, for ``read`` before the engine exists
        self._reader_thread: int | None = None
        self.backup_path: Path | None = None  # set when opening copied the file aside before a migration

    @property
    def engine(self) -> Engine:
        engine = self._engine
        if engine is None:
            with self._lock:
                if self._engine is None:
                    self._engine = make_engine(self.target)
                engine = self._engine
        return engine

    @property
    def engine_ready(self) -> bool:
        return self._engine is not None

    @property
    def is_sqlite(self) -> bool:
        return self.path is not None or self.engine.dialect.name == "sqlite"

    def read(self, sql: str, params: Mapping[str, Any] | None = None,
             kinds: Mapping[str, ColumnKind] | None = None) -> list[Any]:
        """The rows of one SELECT with ``:name`` parameters, columns by attribute as on SQLAlchemy rows.

        ``kinds`` names the columns to convert as their mapped type does (aware UTC datetimes, dates, JSON,
        booleans, enumerations); the others come as the database stores them. Before the engine exists a
        workspace file is read with the sqlite3 module, afterwards through the engine: the two give the same
        rows (tests/test_workspace_read.py reads every start-up query both ways).
        """
        kinds = kinds or {}
        reader = self._plain_reader()
        if reader is None:
            from sqlalchemy import text

            statement = text(sql).columns(**{name: _sql_type(kind) for name, kind in kinds.items()})
            with self.engine.connect() as conn:
                return list(conn.execute(statement, dict(params or {})))
        cursor = reader.execute(sql, dict(params or {}))
        names = [d[0] for d in cursor.description]
        row_type = _plain_row_type(tuple(names))
        converters = [_converter(kinds.get(name)) for name in names]
        if not any(converters):
            return [row_type._make(raw) for raw in cursor]
        return [row_type._make([v if c is None or v is None else c(v) for c, v in zip(converters, raw)])
                for raw in cursor]

    def _plain_reader(self) -> sqlite3.Connection | None:
        """The sqlite3 connection ``read`` uses while there is no engine (None: use the engine)."""
        if self._engine is not None or self.path is None:
            return None
        if self._reader is None:
            self._reader = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
            self._reader.execute("PRAGMA busy_timeout=5000")
            self._reader_thread = threading.get_ident()
        return self._reader if self._reader_thread == threading.get_ident() else None

    @property
    def name(self) -> str:
        return self.path.stem if self.path else display_name(self.target)

    @property
    def display(self) -> str:
        return display_name(self.path if self.path is not None else self.target)

    def session(self) -> Session:
        return self._session_factory()()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work is committed at the end of the block, or rolled back on an exception."""
        with self._session_factory()() as session, session.begin():
            yield session

    def _session_factory(self) -> Any:
        if self._sessions is None:
            from sqlalchemy.orm import sessionmaker

            self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        return self._sessions

    def schema_revision(self) -> str | None:
        with self.engine.connect() as conn:
            return _read_revision(conn)

    def save_copy(self, destination: str | os.PathLike[str]) -> Path:
        """Write a consistent copy of a SQLite workspace with SQLite's online backup API."""
        if not self.is_sqlite or self.path is None:
            raise WorkspaceError("Save a copy is available for workspace files; use 'launchdesk-cli copy' for a server.")
        dest = Path(destination)
        if dest.resolve() == self.path.resolve():
            raise WorkspaceError("Choose another file than the open workspace to save a copy.")
        tmp = dest.with_name(dest.name + ".part")
        tmp.unlink(missing_ok=True)
        _sqlite_backup(self.path, tmp)
        os.replace(tmp, dest)
        return dest

    def close(self) -> None:
        if self._reader is not None:
            with contextlib.suppress(sqlite3.ProgrammingError):  # made in another thread: it goes with it
                self._reader.close()
            self._reader = None
        if self._engine is not None:
            self._engine.dispose()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@functools.lru_cache(maxsize=64)
def _plain_row_type(names: tuple[str, ...]) -> Any:
    """A row class for sqlite3 results: attributes, indexes and ``_mapping``, like SQLAlchemy's Row."""
    base = namedtuple("Row", names, rename=True)  # type: ignore[misc]
    return type("Row", (base,), {"__slots__": (), "_mapping": property(lambda self: self._asdict())})


def _utc_datetime(value: Any) -> dt.datetime:
    moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)
    return moment.replace(tzinfo=dt.timezone.utc)


def _date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, (str, bytes)) else value


_CONVERTERS: dict[str, Callable[[Any], Any]] = {"utc_datetime": _utc_datetime, "date": _date, "json": _json,
                                                "bool": bool}


def _converter(kind: ColumnKind | None) -> Callable[[Any], Any] | None:
    if kind is None:
        return None
    return _CONVERTERS[kind] if isinstance(kind, str) else kind


def _sql_type(kind: ColumnKind) -> Any:
    """The SQLAlchemy type that converts a column of this kind (the one the mapped column declares)."""
    from sqlalchemy import JSON, Boolean, Date, Enum

    from launchdesk.models.base import UTCDateTime

    if kind == "utc_datetime":
        return UTCDateTime()
    if kind == "date":
        return Date()
    if kind == "json":
        return JSON()
    if kind == "bool":
        return Boolean()
    assert isinstance(kind, type)
    return Enum(kind, native_enum=False, create_constraint=False, length=32,
                values_callable=lambda members: [m.value for m in members])


def _read_revision(conn: Any) -> str | None:
    from sqlalchemy import text

    try:
        row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
    except Exception:
        conn.rollback()
        return None
    return row[0] if row else None


def _sqlite_backup(source: Path, dest: Path) -> None:
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(dest)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()


def inspect_sqlite_file(path: Path) -> str | None:
    """Check a file without writing to it; return its schema revision or raise a WorkspaceError."""
    if not path.exists():
        raise WorkspaceNotFound(f"There is no workspace at {path}.")
    if path.is_dir():
        raise NotAWorkspace(f"{path} is a folder, not a LaunchDesk workspace.")
    size = path.stat().st_size
    if size == 0:
        raise NotAWorkspace(f"{path} is empty; it is not a LaunchDesk workspace.")
    with path.open("rb") as f:
        header = f.read(len(SQLITE_HEADER))
    if header != SQLITE_HEADER:
        raise NotAWorkspace(f"{path} is not a LaunchDesk workspace (it is not a database file).")
    try:
        # Read-only, and immutable=0 so a pending WAL is honoured; nothing is written by this check.
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise CorruptWorkspace(f"{path} cannot be read: {exc}.") from exc
    try:
        app_id = con.execute("PRAGMA application_id").fetchone()[0]
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if app_id != APPLICATION_ID and "alembic_version" not in tables:
            raise NotAWorkspace(f"{path} is a database, but not a LaunchDesk workspace.")
        # quick_check reads every page: cheap for a plan-sized file, seconds for a million accounts. Large files
        # get the schema check above only; a damaged page there is reported when it is read ("malformed").
        problems = [r[0] for r in con.execute("PRAGMA quick_check(5)")] if size <= QUICK_CHECK_MAX_BYTES else ["ok"]
        if problems != ["ok"]:
            raise CorruptWorkspace(f"{path} is damaged ({'; '.join(problems)}). It was left as it is.")
        if "alembic_version" not in tables:
            raise CorruptWorkspace(f"{path} has no schema version; it was left as it is.")
        row = con.execute("SELECT version_num FROM alembic_version").fetchone()
        return row[0] if row else None
    except sqlite3.DatabaseError as exc:
        if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
            raise WorkspaceError(f"{path} is locked by another program; try again in a moment.") from exc
        raise CorruptWorkspace(f"{path} is damaged or not a workspace ({exc}). It was left as it is.") from exc
    finally:
        con.close()


def _check_revision(revision: str | None, where: str) -> bool:
    """True when the workspace needs an upgrade; raises for a revision this LaunchDesk does not know."""
    if revision is None:
        raise CorruptWorkspace(f"{where} has no schema version; it was left as it is.")
    if revision not in SCHEMA_REVISIONS:
        raise NewerWorkspace(
            f"{where} was written by a newer version of LaunchDesk (schema {revision}). "
            "Update LaunchDesk to open it; the file was not changed."
        )
    return revision != SCHEMA_HEAD


def server_secret_name(target: str) -> str:
    """The keyring entry holding a team workspace's database password: user@host:port/database."""
    from sqlalchemy.engine import make_url

    url = make_url(target)
    return f"workspace:{url.username or ''}@{url.host or ''}:{url.port or ''}/{url.database or ''}"


def _with_keyring_password(url: Any) -> Any:
    """A server URL without a password takes it from the keyring, if it holds one (else libpq's passfile or
    service file apply), so a password never has to be typed into a URL that is kept in recent files."""
    if url.get_backend_name() == "sqlite" or url.password is not None:
        return url
    from launchdesk import secrets

    try:
        password = secrets.get_secret(server_secret_name(url.render_as_string(hide_password=False)))
    except secrets.SecretsUnavailable:
        return url
    return url.set(password=password) if password else url


def make_engine(target: str) -> Engine:
    """The only place an engine is created; SQLite gets its pragmas in a connect listener."""
    from sqlalchemy import create_engine, event
    from sqlalchemy.engine import make_url

    url = _with_keyring_password(make_url(target))
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def backup_name(path: Path, revision: str) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return path.with_name(f"{path.name}.{revision}.{stamp}.bak")


def create_workspace(target: str | os.PathLike[str]) -> Workspace:
    """Create a new, empty workspace at the latest schema. An existing file is never overwritten."""
    if is_url(target):
        ws = Workspace(str(target), make_engine(str(target)), path=None)
        with ws.engine.connect() as conn:
            if _read_revision(conn) is not None:
                ws.close()
                raise WorkspaceError(f"{display_name(target)} already holds a workspace.")
        _migrate(ws)
        return ws
    path = Path(target)
    if path.exists():
        raise WorkspaceError(f"{path} already exists; choose another name or open it.")
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    try:
        con.execute(f"PRAGMA application_id={APPLICATION_ID}")
        con.commit()
    finally:
        con.close()
    ws = Workspace(f"sqlite:///{path}", make_engine(f"sqlite:///{path}"), path=path)
    try:
        _migrate(ws)
    except Exception:
        ws.close()
        for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            p.unlink(missing_ok=True)
        raise
    return ws


def open_workspace(target: str | os.PathLike[str], *, create: bool = False) -> Workspace:
    """Open a workspace file or URL, upgrading an older one after copying it aside."""
    if is_url(target):
        return _open_url(str(target))
    path = Path(target).expanduser()
    if create and not path.exists():
        return create_workspace(path)
    revision = inspect_sqlite_file(path)
    needs_upgrade = _check_revision(revision, str(path))
    ws = Workspace(f"sqlite:///{path}", path=path)  # the engine is made on first use
    if needs_upgrade:
        assert revision is not None
        backup = backup_name(path, revision)
        _sqlite_backup(path, backup)
        log.info("Copied %s to %s before upgrading it from schema %s", path, backup, revision)
        ws.backup_path = backup
        try:
            _migrate(ws)
        except Exception as exc:
            ws.close()
            raise WorkspaceError(
                f"Upgrading {path} failed ({exc}). A copy made before the upgrade is at {backup}."
            ) from exc
    return ws


def _open_url(url: str) -> Workspace:
    ws = Workspace(url, make_engine(url), path=None)
    try:
        with ws.engine.connect() as conn:
            revision = _read_revision(conn)
    except Exception as exc:
        ws.close()
        raise WorkspaceError(f"Cannot connect to {display_name(url)}: {exc.__class__.__name__}: {exc}") from exc
    if revision is None:
        ws.close()
        raise NotAWorkspace(f"{display_name(url)} holds no LaunchDesk workspace; create one first.")
    try:
        if _check_revision(revision, display_name(url)):
            _migrate(ws)
    except Exception:
        ws.close()
        raise
    return ws


def _migrate(ws: Workspace) -> None:
    """Upgrade to head with Alembic (imported here, on first need). PostgreSQL upgrades hold an advisory lock."""
    from sqlalchemy import text

    from launchdesk import migrations

    with ws.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": APPLICATION_ID})
        migrations.upgrade(conn)
    # The migration switched SQLite's foreign keys off on its connection; drop pooled connections so every
    # later one gets the pragmas from the connect listener again.
    ws.engine.dispose()
