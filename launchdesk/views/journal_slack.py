"""Posting journal events to Slack while the window is open: a few seconds after something changes.

Why "after a change" rather than a fixed timer: every edit, sync, decision or kill switch emits the document's
``changed`` signal, and so does the document's watch for rows written by others (a teammate on a shared
workspace, a scheduled CLI sync), so the events are posted soon after they happen without polling Slack's
side or the database any more than the window already does. Changes are gathered for a few seconds and then
posted in one background run (``run_task``), which keeps Slack's pace and Retry-After in a worker thread; the
posting itself (``launchdesk.comms.journal_slack``) claims each entry before posting it, so the window and a
scheduled ``launchdesk-cli journal-slack post`` never post one twice.

Start-up cost: this module imports only QtCore and the task runner; the domain is imported in the worker. On a
workspace file the setting is read with the plain-SQL reader, so a workspace that does not post to Slack never
starts a task for it.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from PySide6.QtCore import QObject, QTimer

from launchdesk.views.document import WorkspaceDocument
from launchdesk.views.tasks import TaskHandle, run_task

log = logging.getLogger(__name__)

SETTING = "journal.slack"  # launchdesk.comms.journal_slack.SETTING, without importing the ORM at start-up


def _post(_progress: Any, cancelled: Any, workspace: Any) -> Any:
    from launchdesk.comms.journal_slack import post_journal_to_slack

    return post_journal_to_slack(workspace, cancelled=cancelled)


class JournalSlackPoster(QObject):
    """Posts the chosen journal events to Slack in the background, a moment after the workspace changes."""

    DELAY_MS = 3000  # gather a burst of changes (a sync journals several entries) into one run

    def __init__(self, document: WorkspaceDocument, status: Any = None, parent: QObject | None = None) -> None:
        super().__init__(parent if parent is not None else document)
        self.document = document
        self.status = status  # show(message) for the outcome worth telling (a post that failed); optional
        self.task: TaskHandle | None = None
        self.last_report: Any = None
        self._again = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(self.DELAY_MS)
        self._timer.timeout.connect(self.post_now)
        document.changed.connect(self._on_changed)
        document.workspace_replaced.connect(self._on_workspace_replaced)
        self._on_workspace_replaced()

    def _on_changed(self, _kind: str, _row_id: int) -> None:
        if self.document.workspace is not None:
            self._timer.start()

    def _on_workspace_replaced(self) -> None:
        self._timer.stop()
        self._again = False
        if self.task is not None:
            # It writes the workspace about to close (the claim of the entry it posts): let it end first.
            self.task.cancel()
            self.task.wait(20)
            self.task = None
        if self.document.workspace is not None:
            self._timer.start()  # what was journaled while the window was closed

    def enabled(self) -> bool:
        """Whether the workspace posts to Slack; read cheaply on a workspace file, assumed on a server (the
        worker then finds out)."""
        workspace = self.document.workspace
        if workspace is None:
            return False
        if workspace.path is None:
            return True
        try:
            rows = workspace.read("SELECT value FROM setting WHERE key = :key", {"key": SETTING})
        except Exception as exc:  # noqa: BLE001 - a read that fails now is tried again on the next change
            log.info("Could not read the Slack posting setting: %s", exc)
            return False
        if not rows:
            return False
        value = rows[0].value
        try:
            value = json.loads(value) if isinstance(value, str | bytes) else value
        except ValueError:
            return False
        return isinstance(value, dict) and bool(value.get("connection_id")) and bool(value.get("events"))

    def post_now(self) -> None:
        workspace = self.document.workspace
        if workspace is None:
            return
        if self.task is not None:
            self._again = True  # changes during a run: one more run once it ends
            return
        if not self.enabled():
            return
        self.task = run_task(_post, workspace, on_done=self._on_done, on_error=self._on_error)

    def _on_done(self, report: Any) -> None:
        self.task = None
        self.last_report = report
        if report.configured and (report.problem or report.failed):
            self._tell(f"Posting journal events to Slack: {report.summary()}")
        if self._again or report.more:
            self._again = False
            self._timer.start()

    def _on_error(self, exc: BaseException) -> None:
        self.task = None
        log.warning("Posting journal events to Slack failed: %s", exc)
        self._tell(f"Posting journal events to Slack failed: {exc}")

    def _tell(self, message: str) -> None:
        if self.status is not None:
            self.status(message)

    def stop(self) -> None:
        """Stop posting (the window closes): a run under way is cancelled and waited for."""
        self._timer.stop()
        if self.task is not None:
            self.task.cancel()
            self.task.wait(20)
            self.task = None
