"""The Messages tab: a rollout's cohort messages, the composer with its live preview, the audience by access,
approval, and the one-click send with progress, cancel and the uncertain deliveries to resolve; failed
deliveries can be retried the same way, under the same guards.

It drives the same domain functions as ``launchdesk-cli messages/review/approve/send/resolve``. Rendering, the
audience count and sending run through ``run_task``; only short reads and approval steps run on the GUI thread.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import threading
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy import func, select
from sqlalchemy.orm import contains_eager, selectinload

from launchdesk import journal
from launchdesk.comms import approval
from launchdesk.comms.audience import (
    ALL_CUSTOMERS,
    Audience,
    AudienceAccount,
    audience_accounts,
    compute_audience,
    message_cohort,
)
from launchdesk.comms.compose import Preview, cohort_problems, preview_message
from launchdesk.comms.guards import SENDER_KINDS, Blocker, freshness, send_blockers
from launchdesk.comms.outbox import (
    SendProgress,
    SendReport,
    database_now,
    drop_uncertain,
    resend_uncertain,
    retry_failed,
    send_holder,
    send_message,
    send_test,
)
from launchdesk.models import (
    Account,
    Channel,
    Cohort,
    Connection,
    ConnectionKind,
    Delivery,
    DeliveryState,
    Message,
    MessageState,
    Phase,
    PhaseKind,
    utcnow,
)
from launchdesk.planning.checklists import team_zone
from launchdesk.planning.schedule import due_at
from launchdesk.views.document import WorkspaceDocument
from launchdesk.views.item_models import Column, RecordTableModel, local_text
from launchdesk.views.message_commands import (
    ChangeMessageAudience,
    DeleteMessage,
    MessageAudience,
    NewMessage,
    audience_refusal,
)
from launchdesk.views.message_editor import CHANNEL_LABELS, HoursSpinBox, MessageEditor, MessageText
from launchdesk.views.message_preview import PROBLEM_STYLE, MessagePreview
from launchdesk.views.pages import RolloutPage, section
from launchdesk.views.tasks import TaskHandle, run_task
from launchdesk.views.widgets import fit_columns, table_view

log = logging.getLogger(__name__)

PREVIEW_AFTER_MS = 200  # typing pauses this long before the preview renders again
LISTED = 200  # accounts of each kind shown in the audience list
PREVIEW_ACCOUNTS = 8  # accounts offered in "Preview as"
AGE_CHECK_MS = 30_000  # how often the snapshot's age is looked at again
STATE_LABELS = {
    MessageState.DRAFT: "Draft",
    MessageState.IN_REVIEW: "In review",
    MessageState.APPROVED: "Approved",
    MessageState.SENDING: "Sending",
    MessageState.SENT: "Sent",
    MessageState.PARTLY_FAILED: "Partly failed",
}
STATE_COLORS = {MessageState.APPROVED: "#1b7f3b", MessageState.SENT: "#1b7f3b",
                MessageState.PARTLY_FAILED: "#b3261e", MessageState.IN_REVIEW: "#8a6d00"}
NOTE_STYLE = "color: #5c4400;"
KIND_LABELS = {ConnectionKind.SMTP: "SMTP", ConnectionKind.SLACK: "Slack", ConnectionKind.WEBHOOK: "webhook"}


@dataclass(frozen=True)
class MessageRow:
    """One line of the message list, read on the GUI thread as plain values."""

    id: int
    text: MessageText
    phase: str
    audience: str
    sends_at: dt.datetime
    approved_by: str | None
    approved_at: dt.datetime | None
    deliveries: dict[str, int]
    phase_id: int = 0
    cohort_id: int | None = None
    scope: str = "cohort"


@dataclass(frozen=True)
class PhaseChoice:
    """A phase a message can go with, and the cohort it brings."""

    id: int
    name: str
    cohort_id: int | None
    cohort: str
    planned_start: dt.datetime


@dataclass(frozen=True)
class AudienceLine:
    """One account in the audience list, with whether it has access."""

    id: int
    account_id: str
    name: str
    email: str
    access: str


@dataclass(frozen=True)
class UncertainLine:
    """A delivery caught mid-transmission, waiting for a person to resend or drop it."""

    id: int
    account_id: str
    recipient: str
    why: str


@dataclass
class AudienceState:
    """What the side panel shows for one message, computed in a worker from its own session."""

    message_id: int
    counts: dict[str, int]
    snapshot_at: dt.datetime | None
    blockers: list[Blocker]
    lines: list[AudienceLine]
    preview_accounts: list[tuple[str, str]]
    preview_note: str
    problems: list[str]
    deliveries: dict[str, int]
    uncertain: list[UncertainLine] = field(default_factory=list)
    freshness: dt.timedelta = dt.timedelta(minutes=15)  # how old the snapshot may get before a send is blocked
    retryable: int = 0  # failed rows a retry would send again (not those a person dropped)
    retry_blockers: list[Blocker] = field(default_factory=list)
    holder: str | None = None  # "Pat on host-a (process 12)" while someone's send holds the message
    audience_name: str = "the cohort"  # "the cohort Power users", "all customers": what the counts are out of


def _lines(accounts: list[AudienceAccount], access: str, start: int) -> list[AudienceLine]:
    return [AudienceLine(start + i, a.account_id, a.name, a.emails[0] if a.emails else "", access)
            for i, a in enumerate(accounts)]


def load_audience(_progress: Any, cancelled: Any, workspace: Any, message_id: int) -> AudienceState | None:
    """The audience, send guards, template problems and outbox state of one message (runs in a worker)."""
    with workspace.session() as s:
        message = s.get(Message, message_id)
        if message is None:
            return None
        audience = compute_audience(s, message, cancelled=cancelled)
        blockers = send_blockers(s, message, audience)
        lines: list[AudienceLine] = []
        for ids, access in ((audience.with_access, "has access"), (audience.unpredictable, "unpredictable"),
                            (audience.without_access, "no access: not sent to")):
            lines += _lines(audience_accounts(s, ids, limit=LISTED), access, len(lines))
        audience_name = audience_text(audience)
        with_access = [line for line in lines if line.access == "has access"]
        if with_access:
            offered, note = with_access[:PREVIEW_ACCOUNTS], f"Accounts of {audience_name} that have access."
        else:
            offered = lines[:PREVIEW_ACCOUNTS]
            note = f"Nobody in {audience_name} has access yet: previewing as accounts without it."
        preview_accounts = [(line.account_id, f"{line.name} ({line.account_id})") for line in offered]
        problems = [str(p) for p in cohort_problems(s, message)] if message.state in (
            MessageState.DRAFT, MessageState.IN_REVIEW, MessageState.APPROVED) else []
        deliveries = {str(state): count for state, count in s.execute(
            select(Delivery.state, func.count()).where(Delivery.message_id == message_id).group_by(Delivery.state))}
        uncertain = [UncertainLine(d.id, key or "", d.recipient, d.last_error or "") for d, key in s.execute(
            select(Delivery, Account.account_key).outerjoin(Account, Delivery.account_id == Account.id)
            .where(Delivery.message_id == message_id, Delivery.state == DeliveryState.UNCERTAIN)
            .order_by(Delivery.id).limit(LISTED))]
        retryable = s.scalar(select(func.count()).select_from(Delivery).where(
            Delivery.message_id == message_id, Delivery.state == DeliveryState.FAILED,
            Delivery.dropped_by.is_(None))) or 0
        retry_blockers = send_blockers(s, message, audience, retrying=True) if retryable else []
        held = send_holder(message, database_now(s))
        return AudienceState(message_id, audience.counts(),
                             audience.snapshot.fetched_at if audience.snapshot is not None else None,
                             blockers, lines, preview_accounts, note, problems, deliveries, uncertain,
                             freshness(s), retryable, retry_blockers,
                             f"{held[0]} on {held[1]}" if held is not None else None, audience_name)


def audience_text(audience: Audience) -> str:
    """What a message goes out of, in words: "the cohort Power users", "all customers"."""
    if audience.scope == ALL_CUSTOMERS:
        return "all customers"
    return f"the cohort {audience.cohort}" if audience.cohort else "the cohort"


def render_preview(_progress: Any, _cancelled: Any, workspace: Any, message_id: int, account_id: str,
                   subject: str, body: str, channel: str) -> Preview | None:
    """The editor's text rendered for one account (runs in a worker)."""
    with workspace.session() as s:
        message = s.get(Message, message_id)
        if message is None:
            return None
        return preview_message(s, message, account_id, subject=subject, body=body, channel=channel)


def approval_step(_progress: Any, _cancelled: Any, workspace: Any, message_id: int, step: str, by: str) -> None:
    """One approval step in its own transaction (runs in a worker); ApprovalError says why it is refused."""
    with workspace.transaction() as s:
        message = s.get(Message, message_id)
        if message is None:
            raise approval.ApprovalError("This message no longer exists.")
        if step == "review":
            approval.submit_for_review(s, message, by=by)
        elif step == "approve":
            approval.approve(s, message, by=by)
        else:
            approval.return_to_draft(s, message, by=by, reason="changes requested")


def age_text(then: dt.datetime, now: dt.datetime) -> str:
    minutes = max(0, int((now - then).total_seconds() // 60))
    if minutes < 1:
        return "just now"
    if minutes < 120:
        return f"{minutes} min ago"
    hours = minutes / 60
    return f"{hours:.0f} h ago" if hours < 48 else f"{hours / 24:.0f} days ago"


class SendTestDialog(QDialog):
    """"Send a test to me…": the message rendered for one account, e-mailed to the address typed here only."""

    def __init__(self, accounts: list[tuple[str, str]], current: str | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Send a test to me")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.account = QComboBox()
        for account_id, label in accounts:
            self.account.addItem(label, account_id)
        if current is not None and self.account.findData(current) >= 0:
            self.account.setCurrentIndex(self.account.findData(current))
        self.address = QLineEdit()
        self.address.setPlaceholderText("you@yourcompany.example")
        self.result = QLabel("It goes only to this address, never to the account's contacts.")
        self.result.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.send_button = self.buttons.addButton("Send test", QDialogButtonBox.ButtonRole.ActionRole)
        self.send_button.setEnabled(False)
        self.address.textChanged.connect(lambda text: self.send_button.setEnabled("@" in text))
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Render as", self.account)
        form.addRow("Send to", self.address)
        form.addRow(self.result)
        form.addRow(self.buttons)
        self.resize(460, self.sizeHint().height())


PHASE_COHORT, OTHER_COHORT, EVERYONE = "phase", "cohort", "all"


class MessageDialog(QDialog):
    """"New message…", "Duplicate…" and "Change audience…": the phase (which brings its cohort and sets when the
    message goes), whom of it to address, and, for a new message, its channel, name and send offset."""

    def __init__(self, title: str, phases: list[PhaseChoice], cohorts: list[tuple[int, str]], *,
                 audience: MessageAudience | None = None, name: str = "", channel: Channel = Channel.EMAIL,
                 offset_minutes: int = 0, audience_only: bool = False, ok_text: str = "Create draft",
                 note: str = "", zone: ZoneInfo = ZoneInfo("UTC"), parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.zone = zone  # the team's: a send offset's whole days count on its wall clock
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.phases = phases
        self.cohorts = cohorts
        self.audience_only = audience_only
        self.note = note
        self.phase = QComboBox()
        for phase in phases:
            self.phase.addItem(phase.name, phase.id)
        self.who = QComboBox()
        self.channel = QComboBox()
        for value, label in CHANNEL_LABELS.items():
            self.channel.addItem(label, value)
        self.channel.setCurrentIndex(max(0, self.channel.findData(channel)))
        self.name = QLineEdit(name)
        self.name.setPlaceholderText("e.g. In-app notice for power users")
        self.offset = HoursSpinBox()
        self.offset.setRange(-30 * 24, 30 * 24)
        self.offset.setDecimals(2)
        self.offset.setSingleStep(0.5)
        self.offset.setSuffix(" h after the phase starts")
        self.offset.setValue(offset_minutes / 60)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setStyleSheet(NOTE_STYLE)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = self.buttons.addButton(ok_text, QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        if not audience_only:
            form.addRow("Name", self.name)
        form.addRow("Phase", self.phase)
        form.addRow("Goes to", self.who)
        if not audience_only:
            form.addRow("Channel", self.channel)
            form.addRow("Sends", self.offset)
        form.addRow(self.summary)
        form.addRow(self.buttons)

        if audience is not None and self.phase.findData(audience.phase_id) >= 0:
            self.phase.setCurrentIndex(self.phase.findData(audience.phase_id))
        self._fill_who(audience)
        self.phase.currentIndexChanged.connect(lambda _i: self._fill_who(None, keep=True))
        for signal in (self.who.currentIndexChanged, self.channel.currentIndexChanged, self.offset.valueChanged):
            signal.connect(lambda *_a: self._update())
        self.name.textChanged.connect(lambda _t: self._update())
        self._update()
        self.resize(max(520, self.sizeHint().width()), self.sizeHint().height())

    def current_phase(self) -> PhaseChoice | None:
        index = self.phase.currentIndex()
        return self.phases[index] if 0 <= index < len(self.phases) else None

    def _fill_who(self, audience: MessageAudience | None, *, keep: bool = False) -> None:
        """The phase's cohort first (the usual choice), the rollout's other cohorts, then all customers."""
        kept = self.who.currentData() if keep else None
        phase = self.current_phase()
        self.who.blockSignals(True)
        self.who.clear()
        if phase is not None:
            self.who.addItem(f"Cohort of the phase: {phase.cohort}" if phase.cohort_id is not None
                             else "Cohort of the phase (it has none yet)", (PHASE_COHORT, None))
        for cohort_id, name in self.cohorts:
            if phase is None or cohort_id != phase.cohort_id:
                self.who.addItem(f"Cohort: {name}", (OTHER_COHORT, cohort_id))
        self.who.addItem("All customers (refused until the rollout is at 100%)", (EVERYONE, None))
        if audience is not None and phase is not None:
            if audience.scope == ALL_CUSTOMERS:
                wanted: tuple[str, int | None] = (EVERYONE, None)
            elif audience.cohort_id is None or audience.cohort_id == phase.cohort_id:
                wanted = (PHASE_COHORT, None)
            else:
                wanted = (OTHER_COHORT, audience.cohort_id)
        else:
            wanted = kept if kept is not None and (kept[0] != OTHER_COHORT or phase is None
                                                   or kept[1] != phase.cohort_id) else (PHASE_COHORT, None)
        self.who.setCurrentIndex(max(0, self.who.findData(wanted)))
        self.who.blockSignals(False)
        self._update()

    def audience(self) -> MessageAudience | None:
        phase = self.current_phase()
        if phase is None:
            return None
        kind, cohort_id = self.who.currentData() or (PHASE_COHORT, None)
        if kind == OTHER_COHORT:
            return MessageAudience(phase.id, cohort_id, "cohort")
        return MessageAudience(phase.id, phase.cohort_id, ALL_CUSTOMERS if kind == EVERYONE else "cohort")

    def values(self) -> dict[str, Any]:
        return {"name": self.name.text().strip(), "channel": Channel(self.channel.currentData()),
                "send_offset_minutes": round(self.offset.value() * 60)}

    def _update(self) -> None:
        phase, audience = self.current_phase(), self.audience()
        if phase is None or audience is None:
            self.summary.setText("This rollout has no phase to send with.")
            self.ok_button.setEnabled(False)
            return
        if audience.scope == ALL_CUSTOMERS:
            who = "every account of the workspace, once the rollout is at 100% and all of them have access"
        else:
            cohort = next((name for cid, name in self.cohorts if cid == audience.cohort_id), None)
            who = (f"the accounts of the cohort “{cohort}” that have access when it is sent" if cohort
                   else "nobody yet: the phase has no cohort")
        when = ""
        if not self.audience_only:
            sends = due_at(phase.planned_start, round(self.offset.value() * 60), self.zone)
            when = f", planned for {local_text(sends)}"
        self.summary.setText(f"Goes to {who}{when}." + (f" {self.note}" if self.note else ""))
        self.ok_button.setEnabled(self.audience_only or bool(self.name.text().strip()))


class MessagesPage(RolloutPage):
    """Compose, preview, approve and send the selected rollout's cohort messages."""

    reload_on = frozenset({"message", "delivery", "phase", "cohort", "flag_snapshot", "connection", "rollout",
                           "account"})

    def __init__(self, document: WorkspaceDocument, parent: QWidget | None = None) -> None:
        super().__init__(document, parent)
        self.message_id: int | None = None
        self.audience: AudienceState | None = None
        self.last_report: SendReport | None = None
        self.zone = ZoneInfo("UTC")  # the team's, read with the messages
        self.dialog: QWidget | None = None
        self.confirm_button: QPushButton | None = None
        self._audience_task: TaskHandle | None = None
        self._preview_task: TaskHandle | None = None
        self._send_task: TaskHandle | None = None
        self._send_stop: threading.Event | None = None
        self._test_task: TaskHandle | None = None
        self._approval_task: TaskHandle | None = None
        self._shown_state: MessageState | None = None
        document.workspace_replaced.connect(self._cancel_all)

        # The messages of the rollout.
        self.messages = RecordTableModel([
            Column("Message", lambda r: r.text.name, tooltip=lambda r: r.text.subject),
            Column("Phase", lambda r: r.phase),
            Column("Cohort", lambda r: r.audience),
            Column("Channel", lambda r: CHANNEL_LABELS[r.text.channel]),
            Column("Sends at", lambda r: local_text(r.sends_at)),
            Column("State", lambda r: STATE_LABELS[r.text.state], color=lambda r: STATE_COLORS.get(r.text.state)),
            Column("Deliveries", lambda r: ", ".join(f"{n} {s}" for s, n in sorted(r.deliveries.items()))),
        ], parent=self)
        self.list = table_view(self.messages, stretch=0)
        self.list.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.list.selectionModel().currentRowChanged.connect(self._on_current)
        self.empty = QLabel("This rollout has no messages: New message… writes one.")
        self.empty.hide()
        self.phase_choices: list[PhaseChoice] = []
        self.cohort_choices: list[tuple[int, str]] = []

        # Writing messages and choosing whom they go to; each an undo step.
        self.new_action = self._action("&New message…", self.new_message, QKeySequence("Ctrl+Shift+N"))
        self.duplicate_action = self._action("D&uplicate…", self.duplicate_message, None)
        self.audience_action = self._action("Change &audience…", self.change_audience, None)
        self.delete_action = self._action("&Delete draft", self.delete_message,
                                          QKeySequence(QKeySequence.StandardKey.Delete))
        # Delete only from the list: in the editor the key deletes text.
        self.removeAction(self.delete_action)
        self.delete_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.list.addAction(self.delete_action)
        self.action_buttons: dict[QAction, QPushButton] = {}
        list_buttons = QHBoxLayout()
        list_buttons.setContentsMargins(0, 0, 0, 0)
        for action in (self.new_action, self.duplicate_action, self.audience_action, self.delete_action):
            button = QPushButton(action.text().replace("&", ""))
            button.clicked.connect(action.trigger)
            action.changed.connect(lambda b=button, a=action: (b.setEnabled(a.isEnabled()), b.setToolTip(a.toolTip())))
            self.action_buttons[action] = button
            list_buttons.addWidget(button)
        list_buttons.addStretch(1)

        # The composer: editor with approval, and the preview beside it.
        self.editor = MessageEditor(document)
        self.editor.draft_changed.connect(self._schedule_preview)
        self.state_label = QLabel()
        self.state_label.setTextFormat(Qt.TextFormat.RichText)
        self.state_label.setWordWrap(True)
        self.review_button = QPushButton("Send for review")
        self.approve_button = QPushButton("Approve")
        self.draft_button = QPushButton("Back to draft")
        self.review_button.clicked.connect(lambda: self._approval_step("review"))
        self.approve_button.clicked.connect(lambda: self._approval_step("approve"))
        self.draft_button.clicked.connect(lambda: self._approval_step("draft"))
        self.approval_note = QLabel()
        self.approval_note.setWordWrap(True)
        self.approval_note.setStyleSheet(PROBLEM_STYLE)
        self.approval_note.hide()
        self.problems_note = QLabel()  # what would go wrong for some of the cohort, listed before approval
        self.problems_note.setWordWrap(True)
        self.problems_note.setStyleSheet(PROBLEM_STYLE)
        self.problems_note.hide()
        buttons = QHBoxLayout()
        buttons.addWidget(self.review_button)
        buttons.addWidget(self.approve_button)
        buttons.addWidget(self.draft_button)
        buttons.addStretch(1)
        editor_side = QWidget()
        editor_layout = QVBoxLayout(editor_side)
        editor_layout.setContentsMargins(0, 0, 4, 0)
        editor_layout.addWidget(self.editor, 1)
        editor_layout.addWidget(self.state_label)
        editor_layout.addLayout(buttons)
        editor_layout.addWidget(self.approval_note)
        editor_layout.addWidget(self.problems_note)

        self.preview = MessagePreview()
        self.preview.account_chosen.connect(lambda _account: self._schedule_preview())
        self._preview_timer = QTimer(self)
        self._preview_timer.setSingleShot(True)
        self._preview_timer.setInterval(PREVIEW_AFTER_MS)
        self._preview_timer.timeout.connect(self.render_now)
        # The snapshot ages while the page is open: once it passes the freshness limit the guards run again.
        self._age_timer = QTimer(self)
        self._age_timer.setInterval(AGE_CHECK_MS)
        self._age_timer.timeout.connect(self._check_age)
        self._age_timer.start()

        # The audience and the send.
        self.counts = QLabel("…")
        self.counts.setTextFormat(Qt.TextFormat.RichText)
        self.counts.setWordWrap(True)
        self.people = RecordTableModel([
            Column("Account", lambda r: r.name, tooltip=lambda r: f"{r.account_id} · {r.email or 'no e-mail'}"),
            Column("Access", lambda r: r.access,
                   color=lambda r: "#1b7f3b" if r.access == "has access" else "#b3261e"),
        ], parent=self)
        self.people_view = table_view(self.people, stretch=0)
        self.people_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.people_note = QLabel()
        self.people_note.setStyleSheet(NOTE_STYLE)
        self.sender = QComboBox()
        self.sender.activated.connect(self._on_sender)
        self.senders: list[tuple[int, str, ConnectionKind]] = []
        self.send_button = QPushButton("Send")
        self.send_button.setStyleSheet("font-weight: bold; padding: 6px;")
        self.send_button.clicked.connect(self.confirm_send)
        self.retry_button = QPushButton("Retry failed")
        self.retry_button.clicked.connect(self.confirm_retry)
        self.retry_button.hide()
        self.blockers = QLabel()
        self.blockers.setWordWrap(True)
        self.blockers.setTextFormat(Qt.TextFormat.RichText)
        self.blockers.setStyleSheet(PROBLEM_STYLE)
        self.blockers.hide()
        self.progress = QProgressBar()
        self.progress.setFormat("%v of %m recipients")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_send)
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.cancel_button)
        self.progress.hide()
        self.cancel_button.hide()
        self.result = QLabel()
        self.result.setWordWrap(True)
        self.result.hide()
        self.test_button = QPushButton("Send a test to me…")
        self.test_button.clicked.connect(self.open_test_dialog)
        self.uncertain = RecordTableModel([
            Column("Recipient", lambda r: r.recipient, tooltip=lambda r: r.why),
            Column("Account", lambda r: r.account_id),
        ], parent=self)
        self.uncertain_view = table_view(self.uncertain, stretch=0)
        self.uncertain_view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.uncertain_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.resend_button = QPushButton("Resend")
        self.resend_button.setToolTip("They did not arrive: queue them again; the next send sends them.")
        self.drop_button = QPushButton("Drop")
        self.drop_button.setToolTip("They may have arrived: give them up without resending.")
        self.resend_button.clicked.connect(lambda: self.resolve_uncertain(resend=True))
        self.drop_button.clicked.connect(lambda: self.resolve_uncertain(resend=False))
        self.uncertain_box = QWidget()
        uncertain_layout = QVBoxLayout(self.uncertain_box)
        uncertain_layout.setContentsMargins(0, 0, 0, 0)
        uncertain_note = QLabel("Caught mid-transmission: they may or may not have arrived. Select rows (none: "
                                "all) and decide.")
        uncertain_note.setWordWrap(True)
        uncertain_layout.addWidget(uncertain_note)
        uncertain_layout.addWidget(self.uncertain_view)
        resolve_row = QHBoxLayout()
        resolve_row.addWidget(self.resend_button)
        resolve_row.addWidget(self.drop_button)
        resolve_row.addStretch(1)
        uncertain_layout.addLayout(resolve_row)

        people_box = QWidget()
        people_layout = QVBoxLayout(people_box)
        people_layout.setContentsMargins(0, 0, 0, 0)
        people_layout.addWidget(self.people_view, 1)
        people_layout.addWidget(self.people_note)
        send_box = QWidget()
        send_layout = QVBoxLayout(send_box)
        send_layout.setContentsMargins(0, 0, 0, 0)
        via = QFormLayout()
        via.setContentsMargins(0, 0, 0, 0)
        via.addRow("Through", self.sender)
        send_layout.addLayout(via)
        send_layout.addWidget(self.send_button)
        send_layout.addWidget(self.retry_button)
        send_layout.addWidget(self.blockers)
        send_layout.addLayout(progress_row)
        send_layout.addWidget(self.result)
        self.uncertain_section = section("Uncertain deliveries", self.uncertain_box)
        self.uncertain_section.hide()
        send_layout.addWidget(self.uncertain_section)
        send_layout.addWidget(self.test_button)
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(4, 0, 0, 0)
        # The counts and the send first, so the reasons not to send are never scrolled away; the list below.
        side_layout.addWidget(section("Audience", self.counts))
        side_layout.addWidget(section("Send", send_box))
        side_layout.addWidget(section("Who is in the audience", people_box), 1)

        self.columns = columns = QSplitter(Qt.Orientation.Horizontal)
        columns.addWidget(section("Message", editor_side))
        columns.addWidget(section("Preview", self.preview))
        columns.addWidget(side)
        for index in range(3):
            columns.setStretchFactor(index, 1)
        self._sized = False
        list_box = QWidget()
        list_layout = QVBoxLayout(list_box)
        list_layout.setContentsMargins(0, 0, 0, 0)
        list_layout.addLayout(list_buttons)
        list_layout.addWidget(self.list)
        list_layout.addWidget(self.empty)
        rows = QSplitter(Qt.Orientation.Vertical)
        rows.addWidget(list_box)
        rows.addWidget(columns)
        rows.setStretchFactor(1, 1)
        rows.setSizes([185, 500])  # the buttons and five messages (a template's) without scrolling
        layout = QVBoxLayout(self)
        layout.addWidget(rows)
        self._show_message(None)

    def showEvent(self, event: QShowEvent) -> None:
        if not self._sized:  # a third each for editor, preview and audience, whatever their size hints say
            self._sized = True
            self.columns.setSizes([self.width() * 34 // 100, self.width() * 36 // 100, self.width() * 30 // 100])
        super().showEvent(event)

    # --- loading ------------------------------------------------------------------------------------------
    def reload(self) -> None:
        rows: list[MessageRow] = []
        workspace = self.document.workspace
        if workspace is not None and self.rollout_id is not None:
            with workspace.session() as s:
                messages = list(s.scalars(
                    select(Message).join(Message.phase).where(Phase.rollout_id == self.rollout_id)
                    .options(contains_eager(Message.phase).selectinload(Phase.cohort), selectinload(Message.cohort))
                    .order_by(Phase.position, Message.send_offset_minutes, Message.id)))
                counts: dict[int, dict[str, int]] = {m.id: {} for m in messages}
                for message_id, state, count in s.execute(
                    select(Delivery.message_id, Delivery.state, func.count())
                    .where(Delivery.message_id.in_(list(counts))).group_by(Delivery.message_id, Delivery.state)):
                    counts[message_id][str(state)] = count
                senders = [(c.id, c.name, c.kind) for c in s.scalars(
                    select(Connection).where(Connection.kind.in_(list(SENDER_KINDS.values()))).order_by(Connection.name))]
                phases = [PhaseChoice(p.id, p.name, p.cohort_id, p.cohort.name if p.cohort else "", p.planned_start)
                          for p in s.scalars(select(Phase).where(Phase.rollout_id == self.rollout_id,
                                                                 Phase.kind == PhaseKind.ROLLOUT)
                                             .options(selectinload(Phase.cohort)).order_by(Phase.position))]
                self.zone = team_zone(s)
                cohorts = [(c.id, c.name) for c in s.scalars(
                    select(Cohort).where(Cohort.rollout_id == self.rollout_id).order_by(Cohort.position))]
                for m in messages:
                    cohort = message_cohort(m)
                    audience = "All customers" if m.audience == ALL_CUSTOMERS else (cohort.name if cohort else "—")
                    rows.append(MessageRow(
                        m.id, MessageText(m.id, m.name, m.subject, m.body, m.channel, m.send_offset_minutes, m.state,
                                          m.sender_connection_id),
                        m.phase.name, audience, due_at(m.phase.planned_start, m.send_offset_minutes, self.zone),
                        m.approved_by, m.approved_at, counts[m.id], m.phase_id, m.cohort_id, m.audience))
        else:
            senders, phases, cohorts = [], [], []
        self.senders = senders
        self.phase_choices, self.cohort_choices = phases, cohorts
        keep = self.message_id
        self.messages.set_rows(rows)
        fit_columns(self.list)
        self.empty.setVisible(self.rollout_id is not None and not rows)
        row = self.messages.row_of(keep) if keep is not None else -1
        if row < 0 and rows:
            row = next((i for i, r in enumerate(rows) if r.text.state in (MessageState.APPROVED,
                                                                           MessageState.IN_REVIEW)), 0)
        if row >= 0:
            index = self.messages.index(row, 0)
            if self.list.currentIndex().row() != row:
                self.list.selectionModel().setCurrentIndex(
                    index, QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
            self._show_message(rows[row])
        else:
            self._show_message(None)

    def select_message(self, message_id: int) -> None:
        row = self.messages.row_of(message_id)
        self.list.selectionModel().setCurrentIndex(
            self.messages.index(row, 0),
            QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)

    def _on_current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid() and self.messages.rows[current.row()].id != self.message_id:
            self._show_message(self.messages.rows[current.row()])

    def current_row(self) -> MessageRow | None:
        row = self.messages.row_of(self.message_id) if self.message_id is not None else -1
        return self.messages.rows[row] if row >= 0 else None

    def _show_message(self, row: MessageRow | None) -> None:
        changed = row is None or row.id != self.message_id
        self.message_id = row.id if row is not None else None
        self.editor.load(row.text if row is not None else None)
        self._show_state(row)
        if changed:
            self.result.hide()
            self.approval_note.hide()
            self.audience = None
        elif self._shown_state is MessageState.APPROVED and row is not None and row.text.state is MessageState.DRAFT:
            self.approval_note.setText("Edited after approval: it is a draft again, to review and approve anew.")
            self.approval_note.show()
        self._shown_state = row.text.state if row is not None else None
        self._load_audience()
        if row is None:
            self.preview.set_accounts([])
            self.preview.show_nothing("Choose a message above." if self.messages.rows else "No message to show.")
        else:
            self._schedule_preview()

    def _show_senders(self, row: MessageRow | None) -> None:
        self.sender.clear()
        if row is None:
            self.sender.setEnabled(False)
            return
        kind = SENDER_KINDS[row.text.channel]
        fitting = [(cid, name) for cid, name, k in self.senders if k is kind]
        if row.text.sender_connection_id not in [cid for cid, _ in fitting]:
            self.sender.addItem("the only one" if len(fitting) == 1 else f"choose the {KIND_LABELS[kind]} connection",
                                None)
        for cid, name in fitting:
            self.sender.addItem(name, cid)
        self.sender.setCurrentIndex(max(0, self.sender.findData(row.text.sender_connection_id)))
        self.sender.setEnabled(bool(fitting) and row.text.state in (
            MessageState.DRAFT, MessageState.IN_REVIEW, MessageState.APPROVED))
        self.sender.setToolTip("" if fitting else f"No {KIND_LABELS[kind]} connection yet: add one with "
                               f"launchdesk-cli connection add WORKSPACE NAME --kind {kind}.")

    def _on_sender(self, _index: int) -> None:
        connection_id = self.sender.currentData()
        if connection_id is not None:
            self.editor.save("sender_connection_id", connection_id)

    def _show_state(self, row: MessageRow | None) -> None:
        self._show_senders(row)
        self._update_actions(row)
        if row is None:
            self.state_label.clear()
            for button in (self.review_button, self.approve_button, self.draft_button, self.test_button):
                button.setEnabled(False)
            return
        state = row.text.state
        text = f"<b style='color:{STATE_COLORS.get(state, '#444')}'>{STATE_LABELS[state]}</b>"
        if row.approved_by and state is not MessageState.DRAFT:
            text += f" · approved by {html.escape(row.approved_by)} on {local_text(row.approved_at)}"
        self.state_label.setText(f"State: {text}")
        self.review_button.setEnabled(state is MessageState.DRAFT)
        self.approve_button.setEnabled(state is MessageState.IN_REVIEW)
        self.draft_button.setEnabled(state in (MessageState.IN_REVIEW, MessageState.APPROVED))
        self.test_button.setEnabled(True)

    # --- writing messages, choosing their audience, deleting drafts ------------------------------------------
    def _action(self, text: str, slot: Any, shortcut: QKeySequence | None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(shortcut)
        action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        action.triggered.connect(lambda _checked=False: slot())
        self.addAction(action)
        return action

    def _update_actions(self, row: MessageRow | None) -> None:
        def tip(action: QAction, what: str) -> None:
            keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
            action.setToolTip(f"{what} ({keys})" if keys else what)

        self.new_action.setEnabled(self.rollout_id is not None and bool(self.phase_choices))
        tip(self.new_action, "Write a new draft message for one of the rollout's phases" if self.phase_choices
            else "The rollout has no phase to send a message with")
        self.duplicate_action.setEnabled(row is not None)
        tip(self.duplicate_action, "A new draft with this message's text, to change and send to someone else")
        refused = audience_refusal(row.text.name, row.text.state) if row is not None else None
        self.audience_action.setEnabled(row is not None and refused is None)
        tip(self.audience_action, refused or ("Which phase and cohort it goes to"
                                              + (" (takes the approval away)" if row is not None and
                                                 row.text.state is MessageState.APPROVED else "")))
        draft = row is not None and row.text.state is MessageState.DRAFT
        self.delete_action.setEnabled(draft)
        tip(self.delete_action, "Delete this draft" if draft or row is None else
            f"Only a draft can be deleted; this one is {STATE_LABELS[row.text.state].lower()}")

    def _open_dialog(self, dialog: MessageDialog, then: Any) -> MessageDialog:
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: then(dialog))
        dialog.finished.connect(lambda _r: setattr(self, "dialog", None) if self.dialog is dialog else None)
        self.dialog = dialog
        dialog.open()
        return dialog

    def _current_phase(self) -> int | None:
        row = self.current_row()
        return row.phase_id if row is not None else (self.phase_choices[0].id if self.phase_choices else None)

    def new_message(self) -> MessageDialog | None:
        """Open "New message…": OK writes a draft (an undo step) and selects it."""
        self.load_now()
        if self.rollout_id is None or not self.phase_choices:
            return None
        phase_id = self._current_phase()
        dialog = MessageDialog("New message", self.phase_choices, self.cohort_choices,
                               audience=MessageAudience(phase_id, None) if phase_id is not None else None,
                               zone=self.zone, parent=self)
        return self._open_dialog(dialog, lambda d: self._create(d))

    def duplicate_message(self) -> MessageDialog | None:
        """Open "Duplicate…" with the selected message's phase, audience, channel and offset."""
        row = self.current_row()
        if row is None:
            return None
        self.editor.commit()
        dialog = MessageDialog("Duplicate message", self.phase_choices, self.cohort_choices,
                               audience=MessageAudience(row.phase_id, row.cohort_id, row.scope),
                               name=f"{row.text.name} (copy)", channel=row.text.channel,
                               offset_minutes=row.text.send_offset_minutes, ok_text="Create copy", zone=self.zone,
                               parent=self)
        return self._open_dialog(dialog, lambda d: self._create(d, copy_of=row))

    def _create(self, dialog: MessageDialog, copy_of: MessageRow | None = None) -> int | None:
        audience = dialog.audience()
        if audience is None:
            return None
        values = dialog.values()
        text = copy_of.text if copy_of is not None else None
        command = self.document.push(lambda: NewMessage(
            self.document, audience, name=values["name"], channel=values["channel"],
            send_offset_minutes=values["send_offset_minutes"],
            # A copy keeps its text unless its channel changed, then it starts from that channel's default.
            subject=text.subject if text is not None else None,
            body=text.body if text is not None and text.channel is values["channel"] else None,
            sender_connection_id=text.sender_connection_id if text is not None and
            text.channel is values["channel"] else None,
            copy_of=text.name if text is not None else None))
        if command is None:
            return None
        self.load_now()
        self.select_message(command.row_id)
        return int(command.row_id)

    def change_audience(self) -> MessageDialog | None:
        """Open "Change audience…" for the selected message; refused, with the reason, once it is being sent."""
        row = self.current_row()
        if row is None:
            return None
        refused = audience_refusal(row.text.name, row.text.state)
        if refused:
            self.approval_note.setText(html.escape(refused))
            self.approval_note.show()
            return None
        title = f"Audience of “{row.text.name}”"
        dialog = MessageDialog(title, self.phase_choices, self.cohort_choices,
                               audience=MessageAudience(row.phase_id, row.cohort_id, row.scope),
                               audience_only=True, ok_text="Change audience", zone=self.zone, parent=self,
                               note="It goes back to draft, to review and approve for its new audience."
                               if row.text.state is MessageState.APPROVED else "")
        return self._open_dialog(dialog, lambda d: self.set_audience(row.id, d.audience()))

    def set_audience(self, message_id: int, audience: MessageAudience | None) -> bool:
        """Give the message this audience as an undo step; False when nothing changed or it was refused."""
        row = self.messages.rows[self.messages.row_of(message_id)] if self.messages.row_of(message_id) >= 0 else None
        if audience is None or row is None or MessageAudience(row.phase_id, row.cohort_id, row.scope) == audience:
            return False
        self.editor.commit()
        command = self.document.push(lambda: ChangeMessageAudience(self.document, message_id, audience))
        return command is not None

    def delete_message(self) -> bool:
        """Delete the selected draft (an undo step)."""
        row = self.current_row()
        if row is None:
            return False
        self.editor.commit()
        return self.document.push(lambda: DeleteMessage(self.document, row.id)) is not None

    # --- audience and guards ------------------------------------------------------------------------------
    @property
    def audience_loading(self) -> bool:
        return self._audience_task is not None

    def _load_audience(self) -> None:
        if self._audience_task is not None:
            self._audience_task.cancel()
            self._audience_task = None
        workspace = self.document.workspace
        if workspace is None or self.message_id is None:
            self._show_audience(None)
            return
        self.send_button.setEnabled(False)  # until the guards have looked at the message as it is now
        if self.audience is None:
            self.counts.setText("Counting the audience…")
        self._audience_task = run_task(load_audience, workspace, self.message_id,
                                       on_done=self._audience_loaded, on_error=self._audience_failed)

    def _audience_loaded(self, state: AudienceState | None) -> None:
        self._audience_task = None
        if state is not None and state.message_id != self.message_id:
            return
        self.audience = state
        self._show_audience(state)

    def _audience_failed(self, exc: BaseException) -> None:
        self._audience_task = None
        self.counts.setText(f"<span style='color:#b3261e'>Could not count the audience: {html.escape(str(exc))}"
                            "</span>")

    def _show_audience(self, state: AudienceState | None) -> None:
        if state is None:
            self.counts.setText("")
            self.people.set_rows([])
            self.people_note.clear()
            self.problems_note.hide()
            self.uncertain.set_rows([])
            self.uncertain_section.hide()
            self._show_send(None)
            return
        c = state.counts
        if state.snapshot_at is None:
            snapshot = "<span style='color:#b3261e'>no flag snapshot yet: sync first</span>"
        else:
            snapshot = f"flag snapshot from {local_text(state.snapshot_at)} ({age_text(state.snapshot_at, utcnow())})"
        no_address = (f"<br>{c['no_address']} with access have no contact e-mail" if c["no_address"] else "")
        self.counts.setText(
            f"<b>{c['in_cohort']}</b> accounts in {html.escape(state.audience_name)}, on the {snapshot}:<br>"
            f"<span style='color:#1b7f3b'><b>{c['with_access']}</b> have access</span> · "
            f"<span style='color:#b3261e'><b>{c['without_access']}</b> do not (not sent to)</span> · "
            f"<b>{c['unpredictable']}</b> unpredictable{no_address}")
        self.people.set_rows(state.lines)
        fit_columns(self.people_view)
        shown = {kind: sum(1 for line in state.lines if line.access == kind) for kind in
                 ("has access", "unpredictable", "no access: not sent to")}
        cut = shown["has access"] < c["with_access"] or shown["unpredictable"] < c["unpredictable"] or (
            shown["no access: not sent to"] < c["without_access"])
        self.people_note.setText(f"Showing the first {LISTED} of each kind." if cut else "")
        self.people_note.setVisible(cut)
        self.preview.set_accounts(state.preview_accounts, state.preview_note)
        row = self.current_row()
        listed = bool(state.problems) and row is not None and row.text.state in (
            MessageState.DRAFT, MessageState.IN_REVIEW)
        self.problems_note.setText("Before approval: " + html.escape("; ".join(state.problems[:5])) if listed else "")
        self.problems_note.setVisible(listed)
        self.uncertain.set_rows(state.uncertain)
        self.uncertain_section.setVisible(bool(state.uncertain))
        self._show_send(state)

    def _show_send(self, state: AudienceState | None) -> None:
        row = self.current_row()
        sending = self._send_task is not None
        self._show_retry(state if row is not None else None, sending)
        if row is None or state is None:
            self.send_button.setText("Send")
            self.send_button.setEnabled(False)
            self.blockers.hide()
            return
        if state.holder is not None and not sending:
            # Someone else's send (another window, a teammate) holds the message: its rows are left to it.
            self.send_button.setText(f"Being sent by {state.holder}")
            self.send_button.setEnabled(False)
            self.blockers.setText(f"• {html.escape(state.holder)} is sending this message; reload to see how far "
                                  "it got.")
            self.blockers.show()
            return
        pending = state.deliveries.get("pending", 0)
        if row.text.state is MessageState.SENDING:
            self.send_button.setText(f"Resume sending ({pending} pending)")
        elif row.text.state in (MessageState.SENT, MessageState.PARTLY_FAILED):
            self.send_button.setText(f"{STATE_LABELS[row.text.state]}: {state.deliveries.get('sent', 0)} delivered")
        else:
            self.send_button.setText(f"Send to {state.counts['reachable']} accounts with access")
        if row.text.state in (MessageState.SENT, MessageState.PARTLY_FAILED):
            self.send_button.setEnabled(False)
            self.blockers.hide()
            return
        self.send_button.setEnabled(not state.blockers and not sending)
        self.blockers.setText("<br>".join(f"• {html.escape(b.reason)}" for b in state.blockers))
        self.blockers.setVisible(bool(state.blockers))
        self.send_button.setToolTip("\n".join(b.reason for b in state.blockers))

    def _show_retry(self, state: AudienceState | None, sending: bool) -> None:
        """"Retry N failed": shown while the message has failed rows a retry would send again."""
        retryable = state.retryable if state is not None else 0
        self.retry_button.setVisible(bool(retryable))
        if not retryable or state is None:
            return
        self.retry_button.setText(f"Retry {retryable} failed")
        blocked = state.retry_blockers
        self.retry_button.setEnabled(not blocked and state.holder is None and not sending)
        tip = "\n".join(b.reason for b in blocked) or ("Send the deliveries the server refused again; access is "
                                                      "checked again for each. Dropped ones are never retried.")
        self.retry_button.setToolTip(tip)

    def _check_age(self) -> None:
        state = self.audience
        if state is None or not self.isVisible() or self.audience_loading or self.sending:
            return
        if state.snapshot_at is not None and utcnow() - state.snapshot_at > state.freshness and not any(
                b.code == "stale_snapshot" for b in state.blockers):
            self._load_audience()
        else:
            self._show_audience(state)  # the age shown moves on

    # --- preview ------------------------------------------------------------------------------------------
    def _schedule_preview(self) -> None:
        self._preview_timer.start()

    def render_now(self) -> None:
        self._preview_timer.stop()
        if self._preview_task is not None:
            self._preview_task.cancel()
            self._preview_task = None
        workspace = self.document.workspace
        account = self.preview.account_id()
        if workspace is None or self.message_id is None:
            return
        if not account:
            if self.audience is not None:
                self.preview.show_nothing("Nobody in this cohort to preview as.")
            return
        subject, body, channel = self.editor.draft()
        self._preview_task = run_task(render_preview, workspace, self.message_id, account, subject, body,
                                      str(channel), on_done=lambda p: self._previewed(p, str(channel)),
                                      on_error=self._preview_failed)

    @property
    def preview_loading(self) -> bool:
        return self._preview_task is not None or self._preview_timer.isActive()

    def _previewed(self, preview: Preview | None, channel: str) -> None:
        self._preview_task = None
        if preview is not None:
            self.preview.show_preview(preview, channel)

    def _preview_failed(self, exc: BaseException) -> None:
        self._preview_task = None
        self.preview.show_nothing(f"The preview failed: {html.escape(str(exc))}")

    # --- approval -----------------------------------------------------------------------------------------
    def _approval_step(self, step: str) -> None:
        """Review, approve or return to draft; in a worker, as approving renders the template for the cohort."""
        workspace = self.document.workspace
        if workspace is None or self.message_id is None or self._approval_task is not None:
            return
        self.editor.commit()  # approve what is on screen, not an older text
        message_id, by = self.message_id, journal.current_user()
        for button in (self.review_button, self.approve_button, self.draft_button):
            button.setEnabled(False)
        self._approval_task = run_task(approval_step, workspace, message_id, step, by,
                                       on_done=lambda _r: self._approval_done(message_id, None),
                                       on_error=lambda exc: self._approval_done(message_id, exc))

    @property
    def approving(self) -> bool:
        return self._approval_task is not None

    def _approval_done(self, message_id: int, exc: BaseException | None) -> None:
        self._approval_task = None
        if exc is not None:
            self.approval_note.setText(html.escape(str(exc)))
            self.approval_note.show()
            self._show_state(self.current_row())
            if not isinstance(exc, approval.ApprovalError):
                log.error("An approval step failed", exc_info=(type(exc), exc, exc.__traceback__))
            return
        self.approval_note.hide()
        self.document.changed.emit("message", message_id)
        self.document.changed.emit("journal_entry", 0)

    # --- sending ------------------------------------------------------------------------------------------
    def confirm_send(self) -> None:
        row, state = self.current_row(), self.audience
        if row is None or state is None or state.blockers:
            return
        count = state.deliveries.get("pending", 0) if row.text.state is MessageState.SENDING else (
            state.counts["reachable"])
        self._confirm("Send the message?", f"Send “{row.text.name}” to {count} accounts with access?",
                      f"{state.counts['without_access']} accounts without access and "
                      f"{state.counts['unpredictable']} unpredictable ones are left out. Access is "
                      "checked again for each recipient as it goes.", f"Send to {count}", self.start_send)

    def start_send(self) -> None:
        self._start_sending(send_message)

    def confirm_retry(self) -> None:
        row, state = self.current_row(), self.audience
        if row is None or state is None or not state.retryable or state.retry_blockers:
            return
        self._confirm("Retry the failed deliveries?",
                      f"Send “{row.text.name}” again to the {state.retryable} recipients whose delivery failed?",
                      "Access is checked again for each recipient as it goes. Deliveries dropped after an "
                      "uncertain attempt are not retried.", f"Retry {state.retryable}", self.start_retry)

    def start_retry(self) -> None:
        self._start_sending(retry_failed)

    def _confirm(self, title: str, question: str, details: str, go: str, then: Any) -> None:
        """The window-modal question before a send or a retry; ``go`` names the button that starts it."""
        box = QMessageBox(QMessageBox.Icon.Question, title, question, parent=self)
        box.setInformativeText(details)
        box.addButton(QMessageBox.StandardButton.Cancel)
        self.confirm_button = box.addButton(go, QMessageBox.ButtonRole.AcceptRole)
        self.confirm_button.clicked.connect(then)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda _r: setattr(self, "dialog", None))
        self.dialog = box
        box.open()

    def _start_sending(self, run: Any) -> None:
        """Run a send or a retry in a worker, with the progress bar and Cancel."""
        workspace = self.document.workspace
        if workspace is None or self.message_id is None or self._send_task is not None:
            return
        stop = threading.Event()
        message_id, by = self.message_id, journal.current_user()

        def send(progress: Any, cancelled: Any) -> SendReport:
            report: SendReport = run(workspace, message_id, by=by, progress=progress,
                                     cancelled=lambda: cancelled() or stop.is_set())
            return report

        self._send_stop = stop
        self.progress.setRange(0, 0)
        self.progress.show()
        self.cancel_button.setEnabled(True)
        self.cancel_button.show()
        self.result.hide()
        self.send_button.setEnabled(False)
        self.retry_button.setEnabled(False)
        self._send_task = run_task(send, on_done=self._sent, on_error=self._send_failed,
                                   on_progress=self._send_progressed)

    @property
    def sending(self) -> bool:
        return self._send_task is not None

    def cancel_send(self) -> None:
        """Stop after the row being sent; the rest stay pending for the next send."""
        if self._send_stop is not None:
            self._send_stop.set()
            self.cancel_button.setEnabled(False)
            self.cancel_button.setText("Stopping…")

    def _send_progressed(self, progress: SendProgress) -> None:
        self.progress.setRange(0, max(progress.total, 1))
        self.progress.setValue(progress.done)
        self.progress.setToolTip(f"{progress.sent} sent, {progress.failed} failed, {progress.uncertain} uncertain")

    def _send_ended(self) -> None:
        self._send_task = None
        self._send_stop = None
        self.progress.hide()
        self.cancel_button.hide()
        self.cancel_button.setText("Cancel")

    def _sent(self, report: SendReport) -> None:
        self._send_ended()
        self.last_report = report
        self._show_result(report.summary(), ok=report.state is MessageState.SENT)
        self._announce(report.message_id)

    def _send_failed(self, exc: BaseException) -> None:
        self._send_ended()
        self._show_result(f"Not sent: {exc}", ok=False)
        if self.message_id is not None:
            self._announce(self.message_id)

    def _show_result(self, text: str, *, ok: bool) -> None:
        self.result.setText(text)
        self.result.setStyleSheet("" if ok else PROBLEM_STYLE)
        self.result.show()

    def _announce(self, message_id: int) -> None:
        self.document.changed.emit("delivery", message_id)
        self.document.changed.emit("journal_entry", 0)

    def resolve_uncertain(self, *, resend: bool) -> None:
        workspace = self.document.workspace
        if workspace is None or self.message_id is None:
            return
        chosen = sorted({self.uncertain.rows[i.row()].id for i in self.uncertain_view.selectionModel().selectedRows()})
        decide = resend_uncertain if resend else drop_uncertain
        with workspace.transaction() as s:
            message = s.get(Message, self.message_id)
            if message is None:
                return
            count = decide(s, message, chosen or None, by=journal.current_user())
        self._show_result(f"{count} uncertain deliveries " + ("queued again: resume sending to send them."
                                                               if resend else "dropped."), ok=True)
        self._announce(self.message_id)

    # --- a test to oneself --------------------------------------------------------------------------------
    def open_test_dialog(self) -> SendTestDialog | None:
        if self.message_id is None:
            return None
        self.editor.commit()
        accounts = [(self.preview.preview_as.itemData(i), self.preview.preview_as.itemText(i))
                    for i in range(self.preview.preview_as.count())]
        dialog = SendTestDialog(accounts, self.preview.account_id(), self)
        dialog.send_button.clicked.connect(lambda: self._send_test(dialog))
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(lambda _r: self._test_dialog_closed(dialog))
        self.dialog = dialog
        dialog.open()
        return dialog

    def _send_test(self, dialog: SendTestDialog) -> None:
        workspace = self.document.workspace
        account, to = dialog.account.currentData(), dialog.address.text().strip()
        if workspace is None or self.message_id is None or not account:
            return
        message_id = self.message_id
        dialog.send_button.setEnabled(False)
        dialog.result.setText(f"Sending a test to {to}…")

        def done(attempt: Any) -> None:
            self._test_task = None
            dialog.send_button.setEnabled(True)
            dialog.result.setText(f"Test sent to {to}." if str(attempt.outcome) == "sent"
                                  else f"The test was not sent: {attempt.detail}")
            self.document.changed.emit("journal_entry", 0)

        def failed(exc: BaseException) -> None:
            self._test_task = None
            dialog.send_button.setEnabled(True)
            dialog.result.setText(f"The test was not sent: {exc}")

        self._test_task = run_task(lambda _p, _c: send_test(workspace, message_id, account, to),
                                   on_done=done, on_error=failed)

    def _test_dialog_closed(self, dialog: SendTestDialog) -> None:
        if self._test_task is not None:
            self._test_task.cancel()
            self._test_task = None
        if self.dialog is dialog:
            self.dialog = None

    # --- shutting down ------------------------------------------------------------------------------------
    def _cancel_all(self) -> None:
        for task in (self._audience_task, self._preview_task, self._test_task, self._approval_task):
            if task is not None:
                task.cancel()
        if self._send_task is not None:
            # The outbox keeps what was not sent pending; the next send resumes it.
            if self._send_stop is not None:
                self._send_stop.set()
            self._send_task.cancel()
            self._send_task.wait()
            self._send_ended()
        self._audience_task = self._preview_task = self._test_task = self._approval_task = None
        self.message_id = None
        self.audience = None
