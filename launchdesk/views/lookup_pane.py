"""The support lookup pane: for one account, per rollout, its cohort, the phase now, access and why, and what it was sent.

Answers come from ``launchdesk.access.lookup``: the last synced snapshot, never the network, so the pane
works offline and says how old its knowledge is. The lookup runs through ``run_task``; a newer request
cancels the one before, so fast typing never queues work.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QTextBrowser, QVBoxLayout, QWidget

from launchdesk.views.document import WorkspaceDocument
from launchdesk.views.item_models import local_text
from launchdesk.views.sync_actions import STALE_AFTER_S, age_text
from launchdesk.views.tasks import TaskHandle, run_task
from launchdesk.workspace import Workspace

log = logging.getLogger(__name__)

# has_access -> what support reads, and its badge colour
ACCESS = {
    "true": ("Has access", "#1b7f3b"),
    "false": ("No access", "#b3261e"),
    "unpredictable": ("Unpredictable", "#8a6d00"),
    "unknown": ("Unknown", "#666666"),
}
# Changes that can change an answer: a sync, a plan edit, a message sent, a re-import.
REFRESH_ON = frozenset({"flag_snapshot", "phase", "cohort", "rollout", "account", "delivery", "message", "connection"})


def lookup_account(_progress: Any, _cancelled: Any, workspace: Workspace, account_key: str) -> list[Any]:
    """Every rollout's answer for the account with exactly this id."""
    from launchdesk.access.lookup import lookup

    with workspace.session() as session:
        # The exact id ranks first in the search, so one account is enough.
        return [a for a in lookup(session, account_key, limit=1) if a.account_id == account_key]


def snapshot_text(age_s: float | None) -> str:
    if age_s is None:
        return "no snapshot yet"
    if age_s > STALE_AFTER_S:
        return f"<span style='color:#8a6d00'><b>stale:</b> from a sync {age_text(age_s)}</span>"
    return f"from the sync {age_text(age_s)}"


def sent_text(message: Any) -> str:
    when = local_text(dt.datetime.fromisoformat(message.sent_at)) if message.sent_at else "not sent"
    state = "" if message.state == "sent" else f" ({html.escape(message.state)})"
    return (f"{html.escape(message.message)} — {html.escape(message.channel)} to {html.escape(message.recipient)}, "
            f"{when}{state}")


def answers_html(answers: list[Any]) -> str:
    """One account's card: who it is, then one block per rollout."""
    first = answers[0]
    parts = [
        f"<h3 style='margin-bottom:2px'>{html.escape(first.name or first.account_id)}</h3>",
        f"<p style='margin-top:0'>{html.escape(first.account_id)}"
        + (f" · {html.escape(', '.join(first.emails))}" if first.emails else "") + "</p>",
    ]
    for a in answers:
        label, color = ACCESS.get(a.has_access, (a.has_access, "#666666"))
        messages = "".join(f"<li>{sent_text(m)}</li>" for m in a.messages)
        parts.append(
            "<hr/>"
            f"<p style='margin-bottom:2px'><b>{html.escape(a.rollout)}</b>&nbsp;&nbsp;"
            f"<span style='background-color:{color}; color:white; font-weight:bold'>&nbsp;{label}&nbsp;</span></p>"
            f"<p style='margin:2px 0'>Why: {html.escape(a.reason)}</p>"
            f"<p style='margin:2px 0; color:#555555'>Cohort: {html.escape(a.cohort or 'none of the cohorts')} · "
            f"Phase now: {html.escape(a.phase or '-')} · {snapshot_text(a.snapshot_age_s)}</p>"
            + (f"<p style='margin:2px 0'>Messages sent:</p><ul style='margin-top:0'>{messages}</ul>" if messages
               else "<p style='margin:2px 0; color:#555555'>No message sent to this account yet.</p>")
        )
    return "".join(parts)


class LookupPane(QWidget):
    """Shows the answers for one account (``show_account``); empty with a hint otherwise."""

    answers_shown = Signal()

    HINT = ("<p style='color:#555555'>Type the start of an account id, a name or a contact e-mail above "
            "(Ctrl+F), or pick an account, to see whether it has each feature and why.</p>")

    def __init__(self, document: WorkspaceDocument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.account_key: str | None = None
        self.answers: list[Any] = []
        self._task: TaskHandle | None = None
        self.browser = QTextBrowser()
        self.browser.setOpenLinks(False)
        self.browser.setHtml(self.HINT)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.browser)
        document.changed.connect(self._on_changed)
        document.workspace_replaced.connect(self._forget_workspace)

    def show_account(self, account_key: str | None) -> None:
        self.account_key = account_key
        self.refresh()

    def refresh(self) -> None:
        self._cancel()
        workspace = self.document.workspace
        if workspace is None or not self.account_key:
            self.answers = []
            self.browser.setHtml(self.HINT)
            return
        self._task = run_task(lookup_account, workspace, self.account_key, on_done=self._on_answers,
                              on_error=self._on_error)

    def show_no_match(self, query: str) -> None:
        self.show_account(None)
        self.browser.setHtml(f"<p>No account's id, name or contact e-mail starts with “{html.escape(query)}”.</p>")

    @property
    def loading(self) -> bool:
        return self._task is not None

    def _cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def _forget_workspace(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task.wait(10)  # it holds a connection to the workspace about to close
            self._task = None
        self.account_key = None
        self.answers = []
        self.browser.setHtml(self.HINT)

    def _on_changed(self, kind: str, _row_id: int) -> None:
        if kind in REFRESH_ON and self.account_key:
            self.refresh()

    def _on_answers(self, answers: list[Any]) -> None:
        self._task = None
        self.answers = answers
        if answers:
            self.browser.setHtml(answers_html(answers))
        elif self.account_key:
            self.browser.setHtml(f"<p>No account {html.escape(self.account_key)} in this workspace "
                                 "(or no rollout yet).</p>")
        self.answers_shown.emit()

    def _on_error(self, exc: BaseException) -> None:
        self._task = None
        log.warning("Lookup of %s failed: %s", self.account_key, exc)
        self.answers = []
        self.browser.setHtml(f"<p style='color:#b3261e'>The lookup failed: {html.escape(str(exc))}</p>")
        self.answers_shown.emit()
