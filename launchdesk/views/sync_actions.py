"""Flag sync in the window: the Sync, Connections, Link and Import actions, and the selected rollout's flag status.

The status panel above the tabs says what the last good snapshot of the selected rollout's flag knows: how
old it is, how many accounts have access, and a PLAN DRIFT banner when the platform differs from the plan.
A failed sync never replaces that snapshot; the panel says what failed and keeps showing the old answers.
Everything that reads the network or evaluates accounts runs through ``run_task``; the domain modules it
needs are imported there, so start-up does not pay for them.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence, QPaintEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from launchdesk.views.document import WorkspaceDocument
from launchdesk.views.journal_slack import JournalSlackPoster
from launchdesk.views.tasks import TaskHandle, run_task
from launchdesk.workspace import Workspace

log = logging.getLogger(__name__)

STALE_AFTER_S = 3600  # an hour-old snapshot may miss an expansion: the panel says "stale"
# What a sync may change: new snapshots, the journal, and phases the platform confirmed live.
SYNC_CHANGES = ("flag_snapshot", "sync_run", "journal_entry", "phase")
DRIFT_STYLE = "background: #b3261e; color: white; border-radius: 4px; padding: 6px 10px;"
PROBLEM_STYLE = "background: #fff4ce; color: #5c4400; border: 1px solid #e0c060; border-radius: 4px; padding: 4px 8px;"


def age_text(seconds: float) -> str:
    """How long ago, as people say it: "just now", "3 min ago", "2 h ago", "4 d ago"."""
    if seconds < 60:
        return "just now"
    from launchdesk.planning.gates import format_duration

    return f"{format_duration(seconds)} ago"


def freshness_text(seconds: float) -> str:
    """ "synced 3 min ago", or "stale: last sync 2 h ago" once a snapshot is older than an hour."""
    if seconds > STALE_AFTER_S:
        return f"stale: last sync {age_text(seconds)}"
    return f"synced {age_text(seconds)}"


@dataclass
class FlagStatus:
    """What the window shows about one rollout's flag, read in a worker."""

    rollout_id: int
    linked: bool = False
    flag_key: str = ""
    environment: str = ""
    connection: str = ""
    fetched_at: dt.datetime | None = None  # None: never synced
    enabled: bool | None = None
    percentage: float | None = None
    counts: dict[str, Any] = field(default_factory=dict)
    drift: str | None = None
    problem: str | None = None  # the last sync's error for this flag, when newer than the snapshot
    problem_at: dt.datetime | None = None


def read_flag_status(_progress: Any, _cancelled: Any, workspace: Workspace, rollout_id: int) -> FlagStatus | None:
    """The rollout's flag link, its last good snapshot and the last sync error since (None: rollout gone)."""
    from sqlalchemy import select

    from launchdesk.access.sync import flag_link, rollout_snapshot
    from launchdesk.models import Rollout, SyncRun

    with workspace.session() as session:
        rollout = session.get(Rollout, rollout_id)
        if rollout is None:
            return None
        status = FlagStatus(rollout_id)
        link = flag_link(rollout)
        if link is None:
            return status
        status.linked = True
        status.flag_key, status.environment = link[1], link[2]
        status.connection = rollout.flag_connection.name if rollout.flag_connection else ""
        snapshot = rollout_snapshot(session, rollout)
        if snapshot is not None:
            status.fetched_at = snapshot.fetched_at
            status.enabled, status.percentage = snapshot.enabled, snapshot.rollout_percentage
            status.counts = dict(snapshot.access_summary or {})
            status.drift = snapshot.drift
        runs = select(SyncRun).where(SyncRun.kind == "flags", SyncRun.finished_at.is_not(None))
        if snapshot is not None:
            runs = runs.where(SyncRun.finished_at > snapshot.fetched_at)
        for run in session.scalars(runs.order_by(SyncRun.finished_at.desc()).limit(20)):
            error = next((e for e in run.errors or [] if e.get("flag") == link[1]
                          and e.get("environment") == link[2]), None)
            if error:
                status.problem, status.problem_at = error.get("message") or "unknown error", run.finished_at
                break
        return status


def counts_text(counts: dict[str, Any]) -> str:
    if not counts:
        return "access not counted yet"
    return (f"{counts.get('enabled', 0):,} have access, {counts.get('disabled', 0):,} do not, "
            f"{counts.get('unpredictable', 0):,} unpredictable")


class FlagStatusPanel(QWidget):
    """Above the tabs: the selected rollout's flag, snapshot age, access counts, plan drift and sync trouble."""

    link_requested = Signal()

    def __init__(self, document: WorkspaceDocument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.rollout_id: int | None = None
        self.status: FlagStatus | None = None
        self._task: TaskHandle | None = None
        # The first read waits for the first paint: it imports the access modules, which start-up need not pay for.
        self._painted = False

        self.flag = QLabel()
        self.flag.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.state = QLabel()  # snapshot age and access counts
        self.state.setObjectName("flagState")
        self.link_button = QPushButton("Link to a flag…")
        self.link_button.clicked.connect(self.link_requested)
        self.sync_button = QToolButton()  # gets the Sync action from FlagActions
        self.sync_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.drift = QLabel()
        self.drift.setObjectName("planDrift")
        self.drift.setWordWrap(True)
        self.drift.setStyleSheet(DRIFT_STYLE)
        self.drift.hide()
        self.problem = QLabel()
        self.problem.setObjectName("syncProblem")
        self.problem.setWordWrap(True)
        self.problem.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.problem.setStyleSheet(PROBLEM_STYLE)
        self.problem.hide()

        # Two short lines beside the buttons: labels wrap rather than push the sidebar away on a narrow window.
        for label in (self.flag, self.state):
            label.setWordWrap(True)
        text = QVBoxLayout()
        text.setSpacing(0)
        text.addWidget(self.flag)
        text.addWidget(self.state)
        line = QHBoxLayout()
        line.setContentsMargins(0, 0, 0, 0)
        line.addLayout(text, 1)
        line.addWidget(self.link_button)
        line.addWidget(self.sync_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 4)
        layout.setSpacing(4)
        layout.addLayout(line)
        layout.addWidget(self.drift)
        layout.addWidget(self.problem)

        # The age moves on while the window is open.
        self._clock = QTimer(self)
        self._clock.setInterval(30_000)
        self._clock.timeout.connect(self._show_age)
        self._clock.start()
        document.changed.connect(self._on_changed)
        document.workspace_replaced.connect(self._forget_workspace)
        self._show()

    def set_rollout(self, rollout_id: int | None) -> None:
        if rollout_id != self.rollout_id:
            self.status = None
        self.rollout_id = rollout_id
        self.reload()

    def reload(self) -> None:
        self._cancel()
        if not self._painted:
            return  # paintEvent loads it
        workspace = self.document.workspace
        if workspace is None or self.rollout_id is None:
            self.status = None
            self._show()
            return
        self._task = run_task(read_flag_status, workspace, self.rollout_id, on_done=self._on_status,
                              on_error=self._on_error)

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if not self._painted:
            self._painted = True
            QTimer.singleShot(0, self, self.reload)

    def _cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def _forget_workspace(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task.wait(10)  # it may hold a connection to the workspace about to close
            self._task = None
        # The window may already have selected a rollout of the new workspace (it hears this signal first).
        self.status = None
        self.reload()

    def _on_changed(self, kind: str, _row_id: int) -> None:
        if kind in ("rollout", "connection", *SYNC_CHANGES):
            self.reload()

    def _on_status(self, status: FlagStatus | None) -> None:
        self._task = None
        self.status = status
        self._show()

    def _on_error(self, exc: BaseException) -> None:
        self._task = None
        log.warning("Could not read the flag status: %s", exc)
        self.problem.setText(f"Could not read the flag's last snapshot: {_escape(str(exc))}")
        self.problem.show()

    def _show(self) -> None:
        status = self.status
        self.link_button.setEnabled(self.rollout_id is not None and self.document.workspace is not None)
        self.drift.setVisible(bool(status and status.drift))
        self.problem.setVisible(bool(status and status.problem))
        if status is None:
            self.flag.setText("")
            self.state.setText("")
            return
        self.link_button.setText("Change flag link…" if status.linked else "Link to a flag…")
        if not status.linked:
            self.flag.setText("<b>Flag:</b> not linked yet")
            self.state.setText("Link this rollout to its flag to see who has access.")
            return
        state = ""
        if status.fetched_at is not None:
            state = "on" if status.enabled else "off"
            if status.enabled and status.percentage is not None:
                state += f" at {status.percentage:g}%"
            state = f" — {state}"
        connection = f" on {_escape(status.connection)}" if status.connection else ""
        self.flag.setText(f"<b>Flag:</b> {_escape(status.flag_key)} ({_escape(status.environment)}){connection}{state}")
        if status.drift:
            self.drift.setText(f"<b>PLAN DRIFT:</b> {_escape(status.drift)}. Check with engineering before any "
                               "message goes out.")
        self._show_age()

    def _show_age(self) -> None:
        status = self.status
        if status is None or not status.linked:
            return
        from launchdesk.models import utcnow

        now = utcnow()
        if status.fetched_at is None:
            self.state.setText("Never synced: press F5 to sync.")
        else:
            age = (now - status.fetched_at).total_seconds()
            fresh = freshness_text(age)
            if age > STALE_AFTER_S:
                fresh = f"<span style='color:#8a6d00; font-weight:bold'>{fresh}</span>"
            self.state.setText(f"{fresh} · {counts_text(status.counts)}")
        if status.problem and status.problem_at is not None:
            kept = (f"The snapshot from {age_text((now - status.fetched_at).total_seconds())} stays in use."
                    if status.fetched_at else "No snapshot yet, so access is unknown.")
            self.problem.setText(f"<b>Last sync failed</b> ({age_text((now - status.problem_at).total_seconds())}): "
                                 f"{_escape(status.problem)} {kept}")


def _escape(text: str) -> str:
    return html.escape(text)


class FlagActions(QObject):
    """The window's flag and account actions: Sync flags (F5), Connections…, Link to a flag…, Import accounts…"""

    sync_finished = Signal(object)  # the SyncReport
    sync_failed = Signal(str)

    def __init__(self, window: QMainWindow, document: WorkspaceDocument,
                 current_rollout: Callable[[], int | None]) -> None:
        super().__init__(window)
        self.window = window
        self.document = document
        self.current_rollout = current_rollout
        self.sync_task: TaskHandle | None = None
        self._dialogs: list[QWidget] = []

        self.sync = QAction("&Sync flags", self)
        self.sync.setShortcuts([QKeySequence("F5"), QKeySequence("Ctrl+R")])
        self.sync.setToolTip("Fetch every linked flag from its platform and count who has access (F5)")
        self.sync.triggered.connect(self.start_sync)
        self.cancel_sync = QAction("Cancel sync", self)
        self.cancel_sync.triggered.connect(self.stop_sync)
        self.cancel_sync.setEnabled(False)
        self.connections = QAction("&Connections…", self)
        self.connections.triggered.connect(self.show_connections)
        self.link = QAction("&Link rollout to a flag…", self)
        self.link.triggered.connect(self.show_link)
        self.import_accounts = QAction("&Import accounts…", self)
        self.import_accounts.setShortcut(QKeySequence("Ctrl+I"))
        self.import_accounts.triggered.connect(self.show_import)

        # The sync's progress lives in the status bar, with its own Cancel button.
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setMaximumWidth(120)
        self.progress.setMaximumHeight(14)
        self.progress_label = QLabel()
        self.cancel_button = QToolButton()
        self.cancel_button.setDefaultAction(self.cancel_sync)
        self.progress_box = QFrame()
        box = QHBoxLayout(self.progress_box)
        box.setContentsMargins(0, 0, 0, 0)
        for widget in (self.progress_label, self.progress, self.cancel_button):
            box.addWidget(widget)
        self.progress_box.hide()
        window.statusBar().addWidget(self.progress_box)
        document.workspace_replaced.connect(self._on_workspace_replaced)
        self._on_workspace_replaced()
        # The journal events the team chose go to Slack in the background, soon after they happen.
        self.journal_poster = JournalSlackPoster(
            document, lambda message: window.statusBar().showMessage(message, 15_000), self)

    def _on_workspace_replaced(self) -> None:
        if self.sync_task is not None:
            self.sync_task.cancel()
            self.sync_task.wait(30)  # it writes to the workspace about to close
            self._sync_ended()
        has_workspace = self.document.workspace is not None
        for action in (self.sync, self.connections, self.link, self.import_accounts):
            action.setEnabled(has_workspace)

    # --- sync ----------------------------------------------------------------------------------------------
    def start_sync(self) -> None:
        workspace = self.document.workspace
        if workspace is None or self.sync_task is not None:
            return
        self.sync.setEnabled(False)
        self.cancel_sync.setEnabled(True)
        self.progress_label.setText("Syncing flags…")
        self.progress_box.show()
        self.sync_task = run_task(_sync, workspace, on_done=self._on_synced, on_error=self._on_sync_error,
                                  on_progress=self.progress_label.setText)

    def stop_sync(self) -> None:
        """Ask the sync to stop after the flag it is on; what it stored so far stays."""
        if self.sync_task is None:
            return
        self.sync_task.cancel()
        self.sync_task = None
        self._sync_ended()
        self.window.statusBar().showMessage("Sync cancelled; the flags synced so far are kept.", 8000)
        self._announce_changes()

    def _sync_ended(self) -> None:
        self.sync_task = None
        self.progress_box.hide()
        self.cancel_sync.setEnabled(False)
        self.sync.setEnabled(self.document.workspace is not None)

    def _on_synced(self, report: Any) -> None:
        self._sync_ended()
        self._announce_changes()
        self.window.statusBar().showMessage(sync_summary(report), 0 if report.errors else 10_000)
        self.sync_finished.emit(report)

    def _on_sync_error(self, exc: BaseException) -> None:
        self._sync_ended()
        log.error("Flag sync failed", exc_info=(type(exc), exc, exc.__traceback__))
        message = f"Sync failed: {exc}. The last good snapshots stay in use."
        self.window.statusBar().showMessage(message)
        self._announce_changes()  # a failed run is recorded too
        self.sync_failed.emit(message)

    def _announce_changes(self) -> None:
        for kind in SYNC_CHANGES:
            self.document.changed.emit(kind, 0)

    # --- dialogs -------------------------------------------------------------------------------------------
    def _open(self, dialog: QWidget) -> None:
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self._dialogs.append(dialog)
        dialog.finished.connect(lambda _result: self._dialogs.remove(dialog))  # type: ignore[attr-defined]
        dialog.open()  # type: ignore[attr-defined]

    def show_connections(self) -> None:
        from launchdesk.views.connections_dialog import ConnectionsDialog

        self._open(ConnectionsDialog(self.document, self.window))

    def show_link(self) -> None:
        rollout_id = self.current_rollout()
        if rollout_id is None:
            self.window.statusBar().showMessage("Select a rollout first.", 5000)
            return
        from launchdesk.views.flag_link import LinkFlagDialog

        self._open(LinkFlagDialog(self.document, rollout_id, self.window))

    def show_import(self) -> None:
        from launchdesk.views.import_dialog import ImportAccountsDialog

        self._open(ImportAccountsDialog(self.document, self.window))


def _sync(progress: Callable[[str], None], cancelled: Callable[[], bool], workspace: Workspace) -> Any:
    from launchdesk.access.sync import sync_flags

    return sync_flags(workspace, progress=lambda text: progress(f"Syncing {text}…"), cancelled=cancelled)


def sync_summary(report: Any) -> str:
    """One status-bar line for a sync: how many flags synced, drift, and the first failure in words."""
    if not report.flags:
        return "No rollout is linked to a flag yet: link one (Flags ▸ Link rollout to a flag…) to sync it."
    failed = [f for f in report.flags if f.error]
    synced = len(report.flags) - len(failed)
    text = f"Synced {synced} of {len(report.flags)} flag{'s' if len(report.flags) != 1 else ''}"
    drifting = sum(1 for f in report.flags if f.drift)
    if drifting:
        text += f"; PLAN DRIFT on {drifting}"
    if failed:
        first = failed[0]
        text += f". {first.link[1]} failed: {first.error}"
        if len(failed) > 1:
            text += f" (and {len(failed) - 1} more)"
        text += ". The last good snapshots stay in use."
    return text
