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
import logging
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

FILE_SUFFIX = ".launchdesk"
# SQLite's application_id marks the file as ours ("LDSK"), so a foreign SQLite file is recognised at once.
APPLICATION_ID = 0x4C44534B
# Every schema revision this version of LaunchDesk knows, oldest first. tests/test_workspace.py checks that
# this list matches the Alembic scripts, so the version check at start-up needs no Alembic import.
SCHEMA_REVISIONS: tuple[str, ...] = ("0001_initial", "0002_snapshot_access")
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
        return make_url(str(target)).render_as_string(hide_password=True)
    return str(Path(target))


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


class Workspace:
    """An open workspace: its engine and a session factory. Close it when done."""

    def __init__(self, target: str, engine: Engine, *, path: Path | None) -> None:
        self.target = target
        self.path = path
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self.backup_path: Path | None = None  # set when opening copied the file aside before a migration

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @property
    def name(self) -> str:
        return self.path.stem if self.path else display_name(self.target)

    @property
    def display(self) -> str:
        return display_name(self.target)

    def session(self) -> Session:
        return self._sessions()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work is committed at the end of the block, or rolled back on an exception."""
        with self._sessions() as session, session.begin():
            yield session

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
        self.engine.dispose()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _read_revision(conn: Any) -> str | None:
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
    ws = Workspace(f"sqlite:///{path}", make_engine(f"sqlite:///{path}"), path=path)
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
    from launchdesk import migrations

    with ws.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": APPLICATION_ID})
        migrations.upgrade(conn)
    # The migration switched SQLite's foreign keys off on its connection; drop pooled connections so every
    # later one gets the pragmas from the connect listener again.
    ws.engine.dispose()
