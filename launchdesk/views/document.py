"""The open workspace as the views see it: one QObject that owns the Workspace and the undo stack.

Views read the domain model through ``document.workspace`` and redraw when ``changed(kind, id)`` says a row
of that kind changed (kind is the table name: "rollout", "cohort", "phase"...). Undo commands are the only
writers from the GUI; they change the database and then emit ``changed``. Opening or closing a workspace
clears the undo stack, so it can never be undone.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack
from launchdesk.workspace import Workspace, create_workspace, open_workspace

log = logging.getLogger(__name__)


class WorkspaceDocument(QObject):
    changed = Signal(str, int)  # kind, row id
    workspace_replaced = Signal()  # a workspace was opened, created or closed: everything reloads
    edit_failed = Signal(str)  # a plain message for the user; the edit was not saved

    POLL_MS = 4000  # how often other people's changes are looked for

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.workspace: Workspace | None = None
        self.undo_stack = QUndoStack(self)
        # Live refresh: every change anyone makes is journaled, so a new journal row means "reload". A shared
        # PostgreSQL workspace is asked from a worker (network); a local file directly (a sub-millisecond read).
        self._last_journal_id: int | None = None
        self._poll_task = None
        self._watch = QTimer(self)
        self._watch.setInterval(self.POLL_MS)
        self._watch.timeout.connect(self.poll_for_changes)

    def open(self, target: str | os.PathLike[str]) -> Workspace:
        """Open another workspace. On failure (WorkspaceError) the current one stays open."""
        self._replace(open_workspace(target))
        assert self.workspace is not None
        return self.workspace

    def create(self, path: Path) -> Workspace:
        self._replace(create_workspace(path))
        assert self.workspace is not None
        return self.workspace

    def close(self) -> None:
        self._replace(None)

    def warm_up(self) -> None:
        """Load what editing needs (SQLAlchemy, the engine, the mapped classes) ahead of the first edit.

        The window paints its first screen from plain SQL reads without them; the application calls this
        right after that paint."""
        from sqlalchemy.orm import configure_mappers

        from launchdesk.models import load_mapped_classes

        load_mapped_classes()
        configure_mappers()
        if self.workspace is not None:
            self.workspace.engine  # noqa: B018 - made now, not on the first edit

    def push(self, make: Callable[[], QUndoCommand]) -> QUndoCommand | None:
        """Make an undo command and push it: the one way views record an edit. Returns the command when it was
        saved, else None; the reason (the row is gone, the write failed) has gone to ``edit_failed``."""
        from launchdesk.views.commands import RowGone

        try:
            command = make()
        except RowGone as exc:
            self.edit_failed.emit(str(exc))
            return None
        self.undo_stack.push(command)
        return command if getattr(command, "saved", True) else None

    def poll_for_changes(self) -> None:
        """Look for rows written by others (another window, a teammate, a scheduled CLI run) and reload."""
        workspace = self.workspace
        if workspace is None or self._poll_task is not None:
            return
        if workspace.is_sqlite:
            self._seen(_latest_journal_id(workspace))
            return
        from launchdesk.views.tasks import run_task

        def done(latest: int | None) -> None:
            self._poll_task = None
            if self.workspace is workspace:
                self._seen(latest)

        def failed(exc: BaseException) -> None:
            self._poll_task = None
            log.info("Looking for changes failed: %s", exc)

        self._poll_task = run_task(lambda _progress, _cancelled: _latest_journal_id(workspace), on_done=done,
                                   on_error=failed)

    def _seen(self, latest: int | None) -> None:
        if latest is None:
            return
        if self._last_journal_id is not None and latest > self._last_journal_id:
            self.changed.emit("*", 0)  # "*": every view reloads what it shows
        self._last_journal_id = latest

    def _replace(self, workspace: Workspace | None) -> None:
        if self._poll_task is not None:
            self._poll_task.cancel()
            self._poll_task = None
        self._watch.stop()
        self._last_journal_id = None
        self.undo_stack.clear()
        old, self.workspace = self.workspace, workspace
        # Pages cancel their background work on this signal, before the old engine goes away.
        self.workspace_replaced.emit()
        if old is not None:
            old.close()
        from launchdesk.views.item_models import set_display_zone

        set_display_zone(None)
        if workspace is not None:
            log.info("Opened workspace %s", workspace.display)
            set_display_zone(_team_zone(workspace))
            self._last_journal_id = _latest_journal_id(workspace) if workspace.is_sqlite else None
            self._watch.start()


def _team_zone(workspace: Workspace) -> dt.tzinfo | None:
    from launchdesk.planning.business_hours import TIMEZONE_SETTING, zone_named

    try:
        rows = workspace.read("SELECT value FROM setting WHERE key = :key", {"key": TIMEZONE_SETTING},
                              {"value": "json"})
    except Exception:  # noqa: BLE001 - a broken setting shows times on the machine's clock instead
        log.warning("The team time zone could not be read", exc_info=True)
        return None
    return zone_named(rows[0].value if rows else None)


def _latest_journal_id(workspace: Workspace) -> int | None:
    return workspace.read("SELECT max(id) AS latest FROM journal_entry")[0].latest
