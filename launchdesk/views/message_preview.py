"""The composer's live preview: a message as one chosen account will receive it, or its template's problems."""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QLabel,
    QPlainTextEdit,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from launchdesk.comms.compose import Preview
from launchdesk.comms.templating import Problem

PROBLEM_STYLE = "background: #fdecea; color: #8c1d18; border: 1px solid #e6a29c; border-radius: 4px; padding: 4px 8px;"


class MailBrowser(QTextBrowser):
    """Shows an HTML e-mail part and fetches nothing: no remote images, no local files, links not followed."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)

    def loadResource(self, _type: int, _name: QUrl) -> Any:
        return None  # a message's images or style sheets would be remote content


class MessagePreview(QWidget):
    """"Preview as …" an account, then the subject, the recipient and the parts the message's channel sends."""

    account_chosen = Signal(str)  # the account id to render for

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.preview_as = QComboBox()
        self.preview_as.setMinimumContentsLength(12)
        self.preview_as.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        # A few accounts with access are offered; any other account id can be typed in.
        self.preview_as.setEditable(True)
        self.preview_as.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.preview_as.lineEdit().setPlaceholderText("an account id")
        self.preview_as.currentIndexChanged.connect(self._on_account)
        self.preview_as.lineEdit().editingFinished.connect(self._on_typed)
        self.recipient = QLabel()
        self.recipient.setTextFormat(Qt.TextFormat.RichText)
        self.recipient.setWordWrap(True)
        self.recipient.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.subject = QLabel()
        self.subject.setWordWrap(True)
        self.subject.setTextFormat(Qt.TextFormat.PlainText)
        font = self.subject.font()
        font.setBold(True)
        self.subject.setFont(font)
        self.problems = QLabel()
        self.problems.setWordWrap(True)
        self.problems.setTextFormat(Qt.TextFormat.RichText)
        self.problems.setStyleSheet(PROBLEM_STYLE)
        self.problems.hide()
        self.html = MailBrowser()
        self.plain = QPlainTextEdit()
        self.plain.setReadOnly(True)
        self.slack = QPlainTextEdit()
        self.slack.setReadOnly(True)
        self.parts = QTabWidget()
        self.parts.setDocumentMode(True)

        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Preview as", self.preview_as)
        form.addRow("To", self.recipient)
        form.addRow("Subject", self.subject)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(form)
        layout.addWidget(self.problems)
        layout.addWidget(self.parts, 1)

    def set_accounts(self, accounts: list[tuple[str, str]], note: str = "") -> None:
        """The accounts offered in "Preview as" (id, label); the current one is kept when still offered."""
        current = self.account_id()
        self.preview_as.blockSignals(True)
        self.preview_as.clear()
        for account_id, label in accounts:
            self.preview_as.addItem(label, account_id)
        index = self.preview_as.findData(current) if current else -1
        self.preview_as.setCurrentIndex(index if index >= 0 else 0 if accounts else -1)
        self.preview_as.setToolTip(note)
        self.preview_as.blockSignals(False)
        if self.account_id() != current:
            self.account_chosen.emit(self.account_id() or "")

    def account_id(self) -> str | None:
        """The chosen account's id: an offered one, or the id typed in."""
        index = self.preview_as.currentIndex()
        text = self.preview_as.currentText().strip()
        if index >= 0 and text == self.preview_as.itemText(index):
            return self.preview_as.itemData(index)
        return text or None

    def show_nothing(self, why: str) -> None:
        self.recipient.clear()
        self.subject.clear()
        self.problems.setText(why)
        self.problems.show()
        self.parts.clear()

    def show_preview(self, preview: Preview, channel: str) -> None:
        """Show a rendered message; a template problem replaces the parts with what is wrong, line by line."""
        name = html.escape(preview.account_name)
        if channel != "email":
            to = "the Slack channel of the webhook" if channel == "slack" else "the in-app notice webhook"
        else:
            to = html.escape(preview.recipient) if preview.recipient else "<i>no contact e-mail</i>"
        self.recipient.setText(f"{to} &nbsp;·&nbsp; for {name}" if name else to)
        if preview.problems:
            self.subject.clear()
            self.problems.setText(problems_text(preview.problems))
            self.problems.show()
            self.parts.clear()
            return
        self.problems.hide()
        self.subject.setText(preview.subject)
        wanted = [(self.html, "HTML e-mail"), (self.plain, "Plain text")] if channel == "email" else [
            (self.slack, "Slack text" if channel == "slack" else "In-app notice text")]
        if [self.parts.widget(i) for i in range(self.parts.count())] != [w for w, _ in wanted]:
            self.parts.clear()
            for widget, title in wanted:
                self.parts.addTab(widget, title)
        for widget, title in wanted:
            self.parts.setTabText(self.parts.indexOf(widget), title)
        self.html.setHtml(preview.html)
        self.plain.setPlainText(preview.plain)
        self.slack.setPlainText(preview.slack)

    def _on_account(self, _index: int) -> None:
        self.account_chosen.emit(self.account_id() or "")

    def _on_typed(self) -> None:
        if self.preview_as.findText(self.preview_as.currentText()) < 0:
            self.account_chosen.emit(self.account_id() or "")


def problems_text(problems: list[Problem]) -> str:
    """Template problems as rich text, one per line, each with its part and line."""
    lines = [f"<b>{html.escape(p.part.capitalize())}{f', line {p.line}' if p.line else ''}:</b> "
             f"{html.escape(p.message, quote=False)}" for p in problems]
    about_account = all(p.part == "account" for p in problems)
    head = "Nothing to preview:" if about_account else "The template cannot be rendered:"
    return f"{head}<br>" + "<br>".join(lines)
