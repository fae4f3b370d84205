"""The message composer's editor: subject, Markdown body, channel and send offset, each edit an undo step."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLineEdit,
    QPlainTextEdit,
    QWidget,
)

import launchdesk.comms  # noqa: F401  (registers the approval rule: an edit after approval returns to draft)
from launchdesk.models import Channel, Message, MessageState
from launchdesk.views.commands import EditFieldCommand, RowGone
from launchdesk.views.document import WorkspaceDocument

COMMIT_AFTER_MS = 700  # typing pauses this long before the text is saved as an (undoable, merged) edit
CHANNEL_LABELS = {Channel.EMAIL: "E-mail", Channel.SLACK: "Slack", Channel.WEBHOOK: "Webhook (in-app notice)"}
EDITABLE_STATES = (MessageState.DRAFT, MessageState.IN_REVIEW, MessageState.APPROVED)


class EditMessageField(EditFieldCommand):
    """An edit of what a message says; on an approved message the approval rule sends it back to draft."""

    entity = Message
    kind = "message"
    merge_id = 104
    fields = {
        "subject": "subject",
        "body": "body",
        "channel": "channel",
        "send_offset_minutes": "send offset",
        "sender_connection_id": "sending connection",
    }

    def describe(self, row: Any) -> str:
        return f"message “{row.name}”"

    def rollout_id(self, row: Any) -> int:
        return row.phase.rollout_id


class HoursSpinBox(QDoubleSpinBox):
    """Hours written as people write them: 4 h, 1.5 h, not 4.00 h."""

    def textFromValue(self, value: float) -> str:
        return f"{value:g}"


@dataclass(frozen=True)
class MessageText:
    """What the editor shows of one message, read in the GUI thread's session and kept as plain values."""

    id: int
    name: str
    subject: str
    body: str
    channel: Channel
    send_offset_minutes: int
    state: MessageState
    sender_connection_id: int | None = None


class MessageEditor(QWidget):
    """Edits one message. ``draft_changed`` fires on every keystroke (the preview follows the unsaved text);
    the text is saved as an undo step once typing pauses, or when the editor loses focus."""

    draft_changed = Signal()

    def __init__(self, document: WorkspaceDocument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.message: MessageText | None = None
        self.subject = QLineEdit()
        self.subject.setPlaceholderText("Subject, e.g. {{ feature.name }} is here")
        self.channel = QComboBox()
        for channel, label in CHANNEL_LABELS.items():
            self.channel.addItem(label, channel)
        self.offset = HoursSpinBox()  # hours, as people plan them; stored in minutes
        self.offset.setRange(-30 * 24, 30 * 24)
        self.offset.setDecimals(2)
        self.offset.setSingleStep(0.5)
        self.offset.setSuffix(" h after the phase starts")
        self.offset.setKeyboardTracking(False)  # one edit when the value is final, not one per digit
        self.body = QPlainTextEdit()
        self.body.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.body.setPlaceholderText("Markdown with Jinja2 variables: {{ account.name }}, {{ contact.first_name }}, "
                                     "{{ feature.name }}, {{ phase.name }}, {{ cohort.name }}, {{ links.help }}")
        self.body.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)

        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Subject", self.subject)
        form.addRow("Channel", self.channel)
        form.addRow("Sends", self.offset)
        form.addRow(self.body)

        self._commit_timer = QTimer(self)
        self._commit_timer.setSingleShot(True)
        self._commit_timer.setInterval(COMMIT_AFTER_MS)
        self._commit_timer.timeout.connect(self.commit)
        self.subject.textEdited.connect(self._typed)
        self.body.textChanged.connect(self._typed)
        self.subject.editingFinished.connect(self.commit)
        self.channel.activated.connect(lambda _i: self.save("channel", self.channel.currentData()))
        self.offset.valueChanged.connect(self._offset_changed)
        self._loading = False
        self.load(None)

    # --- showing a message ---------------------------------------------------------------------------------
    def load(self, message: MessageText | None) -> None:
        """Show ``message`` (None: nothing selected). Text still being typed into the same message is kept."""
        same = message is not None and self.message is not None and message.id == self.message.id
        # Text typed into the message being left is saved, after the switch, so the save's reload shows the new one.
        unsaved = [] if same or self.message is None else [(self.message.id, *edit) for edit in self._unsaved()]
        typing = same and self._commit_timer.isActive()
        if not same:
            self._commit_timer.stop()
        self.message = message
        self._loading = True
        try:
            if message is None:
                self.subject.clear()
                self.body.clear()
            else:
                if not typing and self.subject.text() != message.subject:
                    self.subject.setText(message.subject)
                if not typing and self.body.toPlainText() != message.body:
                    self.body.setPlainText(message.body)
                self.channel.setCurrentIndex(self.channel.findData(message.channel))
                self.offset.setValue(message.send_offset_minutes / 60)
        finally:
            self._loading = False
        editable = message is not None and message.state in EDITABLE_STATES
        for widget in (self.subject, self.channel, self.offset):
            widget.setEnabled(editable)
        self.body.setReadOnly(not editable)
        self.body.setEnabled(message is not None)
        tip = "" if editable or message is None else "A message that is being sent, or was sent, cannot be edited."
        self.setToolTip(tip)
        for message_id, field, value in unsaved:
            self._push(message_id, field, value)
        if not same:
            self.draft_changed.emit()

    def draft(self) -> tuple[str, str, Channel]:
        """The editor's text as it stands (saved or not): subject, body, channel."""
        return self.subject.text(), self.body.toPlainText(), self.channel.currentData()

    # --- saving edits --------------------------------------------------------------------------------------
    def commit(self) -> None:
        """Save typed text now (as undo steps); nothing to do when it is saved already."""
        self._commit_timer.stop()
        for field, value in self._unsaved():
            self.save(field, value)

    def _unsaved(self) -> list[tuple[str, str]]:
        message = self.message
        if message is None or message.state not in EDITABLE_STATES:
            return []
        subject, body, _channel = self.draft()
        return [(f, v) for f, v, saved in (("subject", subject, message.subject), ("body", body, message.body))
                if v != saved]

    def _push(self, message_id: int, field: str, value: Any) -> None:
        try:
            command = EditMessageField(self.document, message_id, field, value)
        except RowGone as gone:
            self.document.edit_failed.emit(f"The change was not saved: {gone}")
            return
        self.document.undo_stack.push(command)

    def _typed(self, _text: str = "") -> None:
        if self._loading or self.message is None:
            return
        self._commit_timer.start()
        self.draft_changed.emit()

    def _offset_changed(self, hours: float) -> None:
        if not self._loading:
            self.save("send_offset_minutes", round(hours * 60))

    def save(self, field: str, value: Any) -> None:
        """Save one field of the message as an undo step (merged with the previous edit of that field)."""
        message = self.message
        if message is None or self._loading or getattr(message, field) == value:
            return
        self._push(message.id, field, value)
        if self.message is message:  # the page did not reload it (yet): remember the saved value meanwhile
            self.message = replace(message, **{field: value})
        if field == "channel":
            self.draft_changed.emit()
