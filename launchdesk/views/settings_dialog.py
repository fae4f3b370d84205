"""Team settings: the time zone and business hours the timeline and go/no-go panel judge starts by, the people
and their roles (kept in the workspace, one undo step), and "my role" (kept on this computer, in QSettings)."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QSettings, Qt, QTime, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QCompleter,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTimeEdit,
    QVBoxLayout,
    QWidget,
)

from launchdesk.models import Role
from launchdesk.planning.business_hours import DAY_NAMES, DEFAULT_HOURS, DEFAULT_TIMEZONE, BusinessHours, BusinessHoursError
from launchdesk.planning.labels import ROLE_LABELS
from launchdesk.views.document import WorkspaceDocument

ERROR_STYLE = "color: #b3261e"


def _time(text: str) -> QTime:
    hour, minute = (int(part) for part in text.split(":"))
    return QTime(0, 0) if hour == 24 else QTime(hour, minute)


MY_ROLE_KEY = "checklists/myRole"  # "all" or a Role value; a setting of this computer, not of the team


def my_role(settings: QSettings) -> Role | None:
    """The role remembered as "mine"; None for all roles."""
    value = str(settings.value(MY_ROLE_KEY, "all"))
    return Role(value) if value in {r.value for r in Role} else None


def set_my_role(settings: QSettings, role: Role | None) -> None:
    settings.setValue(MY_ROLE_KEY, role.value if role else "all")


def role_text(role: Role | None) -> str:
    return ROLE_LABELS[role] if role else "All roles"


class TeamSettingsDialog(QDialog):
    """Edit the team settings; OK writes what changed as one undo step and remembers my role."""

    my_role_changed = Signal(object)  # Role or None

    def __init__(self, document: WorkspaceDocument, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Team settings")
        self.document = document
        self.settings = settings
        assert document.workspace is not None
        with document.workspace.session() as session:
            from launchdesk.views.plan_commands import read_team  # on first use: it needs the ORM

            self.saved = read_team(session)
        timezone, hours, people = self.saved
        hours = hours if isinstance(hours, dict) else DEFAULT_HOURS

        self.timezone = QComboBox()
        self.timezone.setEditable(True)
        self.timezone.addItems(sorted(zoneinfo.available_timezones()))
        self.timezone.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        completer = QCompleter(self.timezone.model(), self.timezone)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.timezone.setCompleter(completer)
        self.timezone.setCurrentText(timezone if isinstance(timezone, str) else DEFAULT_TIMEZONE)
        self.start = QTimeEdit(_time(str(hours.get("start", DEFAULT_HOURS["start"]))))
        self.end = QTimeEdit(_time(str(hours.get("end", DEFAULT_HOURS["end"]))))
        for edit in (self.start, self.end):
            edit.setDisplayFormat("HH:mm")
        self.end.setToolTip("00:00 as the end means midnight (the end of the day)")
        self.days = [QCheckBox(name[:3]) for name in DAY_NAMES]
        for number, box in enumerate(self.days):
            box.setChecked(number in hours.get("days", DEFAULT_HOURS["days"]))
        self.hours_text = QLabel()
        self.hours_text.setWordWrap(True)

        self.people = QTableWidget(0, 3)
        self.people.setHorizontalHeaderLabels(["Name", "E-mail", "Role"])
        self.people.verticalHeader().setVisible(False)
        self.people.setWordWrap(False)
        self.people.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.people.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.people.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.people.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        for person in people:
            self.add_person(person)
        self.add_button = QPushButton("Add person")
        self.add_button.clicked.connect(lambda: self.add_person())
        self.remove_button = QPushButton("Remove person")
        self.remove_button.clicked.connect(self._remove_selected)

        self.my_role = QComboBox()
        self.my_role.addItem(role_text(None), "all")
        for role in Role:
            self.my_role.addItem(role_text(role), role.value)
        mine = my_role(settings)
        self.my_role.setCurrentIndex(self.my_role.findData(mine.value if mine else "all"))

        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet(ERROR_STYLE)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self._accept_if_valid)
        self.buttons.rejected.connect(self.reject)

        days = QHBoxLayout()
        for box in self.days:
            days.addWidget(box)
        days.addStretch(1)
        clock = QHBoxLayout()
        clock.addWidget(self.start)
        clock.addWidget(QLabel("to"))
        clock.addWidget(self.end)
        clock.addStretch(1)
        form = QFormLayout()
        form.addRow("Time zone", self.timezone)
        form.addRow("Business hours", clock)
        form.addRow("Business days", days)
        form.addRow("", self.hours_text)
        person_buttons = QHBoxLayout()
        person_buttons.addWidget(self.add_button)
        person_buttons.addWidget(self.remove_button)
        person_buttons.addStretch(1)
        mine_form = QFormLayout()
        mine_form.addRow("My role (on this computer)", self.my_role)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(QLabel("People on the launch team"))
        layout.addWidget(self.people, 1)
        layout.addLayout(person_buttons)
        layout.addLayout(mine_form)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.resize(720, 540)
        for signal in (self.timezone.currentTextChanged, self.start.timeChanged, self.end.timeChanged,
                       *(box.toggled for box in self.days)):
            signal.connect(lambda *_args: self._describe())
        self._describe()

    def add_person(self, person: dict[str, Any] | None = None) -> int:
        row = self.people.rowCount()
        self.people.insertRow(row)
        name = QTableWidgetItem(person["name"] if person else "")
        name.setData(Qt.ItemDataRole.UserRole, person["id"] if person else None)
        self.people.setItem(row, 0, name)
        self.people.setItem(row, 1, QTableWidgetItem(person["email"] if person else ""))
        role = QComboBox()
        for r in Role:
            role.addItem(ROLE_LABELS[r], r.value)
        role.setCurrentIndex(list(Role).index(Role(person["role"])) if person else 0)
        self.people.setCellWidget(row, 2, role)
        if person is None:
            self.people.setCurrentCell(row, 0)
            self.people.editItem(name)
        return row

    def _remove_selected(self) -> None:
        row = self.people.currentRow()
        if row >= 0:
            self.people.removeRow(row)

    def hours(self) -> dict[str, Any]:
        end = self.end.time().toString("HH:mm")
        return {"start": self.start.time().toString("HH:mm"), "end": "24:00" if end == "00:00" else end,
                "days": [n for n, box in enumerate(self.days) if box.isChecked()]}

    def team(self) -> list[dict[str, Any]]:
        people = []
        for row in range(self.people.rowCount()):
            name, email = self.people.item(row, 0), self.people.item(row, 1)
            role: QComboBox = self.people.cellWidget(row, 2)  # type: ignore[assignment]
            people.append({"id": name.data(Qt.ItemDataRole.UserRole) if name else None,
                           "name": name.text().strip() if name else "", "email": email.text().strip() if email else "",
                           "role": Role(role.currentData())})
        return people

    def problem(self) -> str | None:
        try:
            BusinessHours.parse(self.timezone.currentText().strip(), self.hours())
        except BusinessHoursError as exc:
            return str(exc)
        names = [p["name"] for p in self.team()]
        if any(not n for n in names):
            return "Every person needs a name (or remove the empty row)."
        doubled = sorted({n for n in names if names.count(n) > 1})
        if doubled:
            return f"{', '.join(doubled)} is listed twice; each person once, please."
        return None

    def _describe(self) -> None:
        try:
            hours = BusinessHours.parse(self.timezone.currentText().strip(), self.hours())
        except BusinessHoursError as exc:
            self.hours_text.setText(str(exc))
            self.hours_text.setStyleSheet(ERROR_STYLE)
        else:
            self.hours_text.setText(f"Phases starting outside {hours.describe()} are flagged.")
            self.hours_text.setStyleSheet("")

    def _accept_if_valid(self) -> None:
        problem = self.problem()
        if problem:
            self.error.setText(problem)
            return
        timezone = self.timezone.currentText().strip()
        hours, people = self.hours(), self.team()
        saved_timezone, saved_hours, saved_people = self.saved
        # Unset settings read as their defaults: OK on an untouched dialog writes nothing.
        if (timezone, hours, people) != (saved_timezone or DEFAULT_TIMEZONE, saved_hours or DEFAULT_HOURS, saved_people):
            from launchdesk.views.plan_commands import EditTeamSettings

            self.document.undo_stack.push(EditTeamSettings(self.document, timezone, hours, people))
        role = self.my_role.currentData()
        mine = None if role == "all" else Role(role)
        if mine != my_role(self.settings):
            set_my_role(self.settings, mine)
            self.my_role_changed.emit(mine)
        self.accept()


class TeamSettingsAction(QAction):
    """File ▸ Team settings…; ``dialog`` is the one open (tests fill it in)."""

    def __init__(self, window: QWidget, document: WorkspaceDocument, settings: QSettings,
                 on_my_role: Callable[[Role | None], None]) -> None:
        super().__init__("Team &settings…", window)
        self.window_ = window
        self.document = document
        self.settings = settings
        self.on_my_role = on_my_role
        self.dialog: TeamSettingsDialog | None = None
        self.triggered.connect(lambda _checked=False: self.open_dialog())
        document.workspace_replaced.connect(lambda: self.setEnabled(document.workspace is not None))
        self.setEnabled(document.workspace is not None)

    def open_dialog(self) -> TeamSettingsDialog | None:
        if self.document.workspace is None:
            return None
        dialog = TeamSettingsDialog(self.document, self.settings, self.window_)
        dialog.my_role_changed.connect(self.on_my_role)
        dialog.finished.connect(dialog.deleteLater)
        self.dialog = dialog
        dialog.open()
        return dialog
