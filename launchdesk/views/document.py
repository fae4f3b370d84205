"""The open workspace as the views see it: one QObject that owns the Workspace and the undo stack.

Views read the domain model through ``document.workspace`` and redraw when ``changed(kind, id)`` says a row
of that kind changed (kind is the table name: "rollout", "cohort", "phase"...). Undo commands are the only
writers from the GUI; they change the database and then emit ``changed``. Opening or closing a workspace
clears the undo stack, so it can never be undone.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoStack

from launchdesk.workspace import Workspace, create_workspace, open_workspace

log = logging.getLogger(__name__)


class WorkspaceDocument(QObject):
    changed = Signal(str, int)  # kind, row id
    workspace_replaced = Signal()  # a workspace was opened, created or closed: everything reloads
    edit_failed = Signal(str)  # a plain message for the user; the edit was not saved

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.workspace: Workspace | None = None
        self.undo_stack = QUndoStack(self)

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

    def _replace(self, workspace: Workspace | None) -> None:
        self.undo_stack.clear()
        old, self.workspace = self.workspace, workspace
        # Pages cancel their background work on this signal, before the old engine goes away.
        self.workspace_replaced.emit()
        if old is not None:
            old.close()
        if workspace is not None:
            log.info("Opened workspace %s", workspace.display)
