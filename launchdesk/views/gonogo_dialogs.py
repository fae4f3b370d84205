"""The go/no-go panel's dialogs: record a decision, enter a manual gate value, confirm the kill switch.

Each dialog collects and checks what the person typed, then hands it to a callable the panel gives it; that
callable answers None when it is done, or a sentence saying why not, which the dialog shows while it stays open.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from launchdesk.models import DecisionKind, Role
from launchdesk.planning.gates import GateResult, format_duration
from launchdesk.views.pages import DECISION_LABELS, ROLE_LABELS
from launchdesk.views.sync_actions import PROBLEM_STYLE

ERROR_STYLE = "color: #b3261e;"
WHAT_IT_DOES = {
    DecisionKind.GO: "A go approves the phase. It goes live only when the flag platform confirms its percentage.",
    DecisionKind.NO_GO: "A no-go holds the phase; it also withdraws an earlier go that has not gone live.",
    DecisionKind.PAUSE: "A pause stops the expansion where it is; a later go resumes it.",
    DecisionKind.ROLLBACK: "A rollback marks the phase as rolled back. It does not touch the flag: use "
                           "“Turn the feature off…” for that.",
}
RECORD_NOT_EDIT = ("A decision is a record, not an edit: Undo does not take it back. It is kept with a snapshot of "
                   "every gate and written to the journal; to change course, record another decision.")


@dataclass(frozen=True)
class DecisionRequest:
    """What the person filled in: the decision, who takes it, why, and the override reason for a go."""

    kind: DecisionKind
    name: str
    role: Role
    why: str
    override_reason: str


def _error_label() -> QLabel:
    label = QLabel()
    label.setObjectName("error")
    label.setWordWrap(True)
    label.setStyleSheet(ERROR_STYLE)
    label.hide()
    return label


class DecisionDialog(QDialog):
    """Go / no-go / pause / rollback for one phase; a go while gates do not pass needs an override reason."""

    def __init__(
        self,
        kind: DecisionKind,
        phase_name: str,
        blockers: Sequence[GateResult],
        team: Sequence[tuple[str, Role]],
        default_name: str,
        record: Callable[[DecisionRequest], str | None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.kind = kind
        self.blockers = list(blockers) if kind == DecisionKind.GO else []
        self._record = record
        self._team = dict(team)
        label = DECISION_LABELS[kind]
        self.setWindowTitle(f"{label} for {phase_name}")

        title = QLabel(f"<b>{html.escape(label)}</b> for <b>{html.escape(phase_name)}</b>")
        what = QLabel(WHAT_IT_DOES[kind])
        what.setWordWrap(True)

        self.name = QComboBox()
        self.name.setEditable(True)
        self.name.addItems(sorted(self._team))
        self.role = QComboBox()
        self.role.setPlaceholderText("Choose a role")
        for role in Role:
            self.role.addItem(ROLE_LABELS[role], role.value)  # Qt keeps str subclasses as plain str
        self.why = QPlainTextEdit()
        self.why.setPlaceholderText("Why: what the gates, the checklist and the people on the call said")
        self.why.setMaximumHeight(90)
        form = QFormLayout()
        form.addRow("Decided by", self.name)
        form.addRow("Role", self.role)
        form.addRow("Why (required)", self.why)

        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(what)
        layout.addLayout(form)

        self.override = QPlainTextEdit()
        self.override.setPlaceholderText("Why go although these gates do not pass (required)")
        self.override.setMaximumHeight(70)
        self.blocker_note = QLabel()
        self.blocker_note.setObjectName("blockers")
        self.blocker_note.setWordWrap(True)
        self.blocker_note.setStyleSheet(PROBLEM_STYLE)
        if self.blockers:
            listed = "".join(f"<li><b>{html.escape(r.name)}</b>: {r.outcome.value} — {html.escape(r.reason)}</li>"
                             for r in self.blockers)
            self.blocker_note.setText(f"{len(self.blockers)} gate(s) do not pass, so this go is an "
                                      f"<b>override</b> and is marked as one everywhere:<ul>{listed}</ul>")
            layout.addWidget(self.blocker_note)
            override_form = QFormLayout()
            override_form.addRow("Override reason", self.override)
            layout.addLayout(override_form)
        else:
            self.blocker_note.hide()
            self.override.hide()

        note = QLabel(RECORD_NOT_EDIT)
        note.setWordWrap(True)
        note.setStyleSheet("color: #555;")
        layout.addWidget(note)
        self.error = _error_label()
        layout.addWidget(self.error)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.record_button = QPushButton(label + (" (override)" if self.blockers else ""))
        self.record_button.setDefault(True)
        buttons.addButton(self.record_button, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.rejected.connect(self.reject)
        self.record_button.clicked.connect(self._submit)
        layout.addWidget(buttons)

        self.name.currentTextChanged.connect(self._on_name)
        for signal in (self.role.currentIndexChanged, self.why.textChanged, self.override.textChanged):
            signal.connect(self._update_button)
        self.name.setCurrentText(default_name)
        self._on_name(default_name)
        self.resize(520, self.sizeHint().height())

    def _on_name(self, name: str) -> None:
        role = self._team.get(name.strip())
        if role is not None:
            self.role.setCurrentIndex(self.role.findData(role.value))
        self._update_button()

    def missing(self) -> list[str]:
        """What still has to be filled in before the decision can be recorded."""
        missing = []
        if not self.name.currentText().strip():
            missing.append("who decides")
        if self.role.currentIndex() < 0:
            missing.append("their role")
        if not self.why.toPlainText().strip():
            missing.append("why")
        if self.blockers and not self.override.toPlainText().strip():
            missing.append("the override reason")
        return missing

    def _update_button(self) -> None:
        missing = self.missing()
        self.record_button.setEnabled(not missing)
        self.record_button.setToolTip(f"Still needed: {', '.join(missing)}." if missing else "")

    def _submit(self) -> None:
        if self.missing():
            return
        request = DecisionRequest(
            kind=self.kind,
            name=self.name.currentText().strip(),
            role=Role(self.role.currentData()),
            why=self.why.toPlainText().strip(),
            override_reason=self.override.toPlainText().strip() if self.blockers else "",
        )
        refusal = self._record(request)
        if refusal:
            self.error.setText(refusal)
            self.error.show()
            return
        self.accept()


class ManualValueDialog(QDialog):
    """A value someone read elsewhere (a ticket count from the help desk) for a manual gate."""

    def __init__(
        self,
        gate_name: str,
        rule: str,
        baseline_offset_s: int | None,
        default_name: str,
        record: Callable[[float, float | None, str], str | None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._record = record
        self.setWindowTitle(f"Enter a value for {gate_name}")
        intro = QLabel(f"<b>{html.escape(gate_name)}</b> passes when the value is {html.escape(rule)}. "
                       "The value counts from now.")
        intro.setWordWrap(True)
        self.value = QLineEdit()
        self.value.setPlaceholderText("a number, e.g. 42 or 0.08")
        self.baseline = QLineEdit()
        self.entered_by = QLineEdit(default_name)
        form = QFormLayout()
        form.addRow("Value", self.value)
        if baseline_offset_s:
            self.baseline.setPlaceholderText(f"empty: the value entered {format_duration(baseline_offset_s)} earlier")
            form.addRow("Baseline", self.baseline)
        else:
            self.baseline.hide()
        form.addRow("Entered by", self.entered_by)
        self.error = _error_label()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.save_button = QPushButton("Save value")
        self.save_button.setDefault(True)
        buttons.addButton(self.save_button, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.rejected.connect(self.reject)
        self.save_button.clicked.connect(self._submit)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        self.setMinimumWidth(420)
        layout.addWidget(self.error)
        layout.addWidget(buttons)

    def _submit(self) -> None:
        try:
            value = _number(self.value.text(), "The value")
            baseline = _number(self.baseline.text(), "The baseline") if self.baseline.text().strip() else None
        except ValueError as exc:
            refusal: str | None = str(exc)
        else:
            refusal = self._record(value, baseline, self.entered_by.text().strip())
        if refusal:
            self.error.setText(refusal)
            self.error.show()
            return
        self.accept()


def _number(text: str, what: str) -> float:
    try:
        return float(text.strip().replace(",", "."))
    except ValueError:
        raise ValueError(f"{what} must be a number, such as 42 or 0.08.") from None


class KillSwitchDialog(QDialog):
    """Turning the flag off for everyone: the person types the flag key, so it cannot happen by a slip."""

    def __init__(
        self,
        flag_key: str,
        environment: str,
        connection: str,
        pull: Callable[[str], str | None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.flag_key = flag_key
        self._pull = pull
        self.setWindowTitle("Turn the feature off")
        where = f" on {html.escape(connection)}" if connection else ""
        text = QLabel(
            f"This turns the flag <b>{html.escape(flag_key)}</b> off in <b>{html.escape(environment)}</b>{where}: "
            "every account loses the feature at once. LaunchDesk then syncs until the platform confirms it is off, "
            "marks the live phase as rolled back and writes it to the journal.<br><br>"
            f"To confirm, type the flag key <b>{html.escape(flag_key)}</b>:")
        text.setWordWrap(True)
        self.typed = QLineEdit()
        self.typed.setPlaceholderText(flag_key)
        self.error = _error_label()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.off_button = QPushButton("Turn the feature off")
        self.off_button.setEnabled(False)
        self.off_button.setStyleSheet("QPushButton:enabled { color: #b3261e; font-weight: bold; }")
        buttons.addButton(self.off_button, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.button(QDialogButtonBox.StandardButton.Cancel).setDefault(True)
        buttons.rejected.connect(self.reject)
        self.off_button.clicked.connect(self._submit)
        self.typed.textChanged.connect(lambda text: self.off_button.setEnabled(text.strip() == flag_key))
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addWidget(self.typed)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        text.setMinimumWidth(460)
        layout.setSizeConstraint(QVBoxLayout.SizeConstraint.SetFixedSize)  # as tall as the wrapped text, no more

    def _submit(self) -> None:
        refusal = self._pull(self.typed.text())
        if refusal:
            self.error.setText(refusal)
            self.error.show()
            return
        self.accept()
