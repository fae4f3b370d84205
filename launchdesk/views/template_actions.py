"""File ▸ New rollout from template… and Save rollout as template…: the two ways templates meet the window.

A new rollout is one undo step (``plan_commands.CreateRolloutFromTemplate``); saving a template writes a file
and changes nothing in the workspace. Dialogs open window-modal with ``open()``, so nothing blocks.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from PySide6.QtCore import QDate, QDateTime, QObject, QTime
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QComboBox,
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QVBoxLayout,
    QWidget,
)

from launchdesk.journal import current_user
from launchdesk.views.document import WorkspaceDocument

# The template, ORM and command modules are imported where an action or dialog needs them: the actions are
# made at start-up, before the window's first paint, which must not wait for SQLAlchemy.

log = logging.getLogger(__name__)

LEAD_DAYS = 28  # phase 1 four weeks out by default, so the week -4 preparation starts today
START_HOUR = 9
FROM_FILE = "file"
TEMPLATE_FILTER = "LaunchDesk templates (*.json);;All files (*)"
ERROR_STYLE = "color: #b3261e"


class NewRolloutDialog(QDialog):
    """Choose a template (built in or a file), name the rollout and say when phase 1 starts (team's clock)."""

    def __init__(self, document: WorkspaceDocument, zone: ZoneInfo, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New rollout from a template")
        self.document = document
        self.zone = zone
        self.template: dict[str, Any] | None = None
        from launchdesk.planning.template import builtin_templates

        self.template_choice = QComboBox()
        for name in builtin_templates():
            self.template_choice.addItem(f"{name} (built in)", name)
        self.template_choice.addItem("Template file…", FROM_FILE)
        self.template_choice.activated.connect(self._template_chosen)
        self.about = QLabel()
        self.about.setWordWrap(True)
        self.name = QLineEdit()
        self.name.setPlaceholderText("unique in this workspace")
        self.feature = QLineEdit()
        self.feature.setPlaceholderText("as customers know it (default: the rollout's name)")
        self.start = QDateTimeEdit()
        self.start.setDisplayFormat("yyyy-MM-dd HH:mm")
        self.start.setCalendarPopup(True)
        launch = dt.datetime.now(zone).date() + dt.timedelta(days=LEAD_DAYS)
        self.start.setDateTime(QDateTime(QDate(launch.year, launch.month, launch.day), QTime(START_HOUR, 0)))
        self.owner = QLineEdit(current_user())
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet(ERROR_STYLE)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self._accept_if_valid)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("Template", self.template_choice)
        form.addRow(self.about)
        form.addRow("Rollout name", self.name)
        form.addRow("Feature", self.feature)
        form.addRow(f"Phase 1 starts ({zone.key})", self.start)
        form.addRow("Owner", self.owner)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.resize(600, self.sizeHint().height())
        self._template_chosen(0)

    def _template_chosen(self, index: int) -> None:
        choice = self.template_choice.itemData(index)
        if choice == FROM_FILE:
            from PySide6.QtWidgets import QFileDialog

            path, _filter = QFileDialog.getOpenFileName(self, "Open a template", str(Path.home()), TEMPLATE_FILTER)
            if not path:
                self.template_choice.setCurrentIndex(0)
                self._template_chosen(0)
                return
            self.use_template_file(Path(path))
            return
        from launchdesk.planning.template import load_template

        self._use(lambda: load_template(choice))

    def use_template_file(self, path: Path) -> None:
        """Plan from this template file (what choosing "Template file…" leads to)."""
        label = f"{path.name} (file)"
        at = self.template_choice.findText(label)
        if at < 0:
            self.template_choice.insertItem(self.template_choice.count() - 1, label, str(path))
            at = self.template_choice.findText(label)
        self.template_choice.setCurrentIndex(at)
        from launchdesk.planning.template import load_template

        self._use(lambda: load_template(path))

    def _use(self, load: Callable[[], dict[str, Any]]) -> None:
        from launchdesk.planning.template import TemplateError

        try:
            self.template = load()
        except TemplateError as exc:
            self.template = None
            self.about.setText("")
            self.error.setText(str(exc))
            self._fit()
            return
        phases = self.template["phases"]
        rollout_phases = sum(1 for p in phases if p.get("kind") == "rollout")
        self.about.setText(f"{self.template.get('description') or self.template['name']}\n"
                           f"{len(phases)} phases ({rollout_phases} rollout phases), {len(self.template['cohorts'])} "
                           f"cohorts, {len(self.template['gates'])} gates.")
        self.error.setText("")
        self._fit()

    def _fit(self) -> None:
        """Room for the whole wrapped description: a form row does not ask for the height a label needs."""
        self.about.setMinimumHeight(self.about.heightForWidth(self.width() - 24))
        self.resize(self.width(), max(self.height(), self.sizeHint().height()))

    def launch_start(self) -> dt.datetime:
        value = self.start.dateTime()
        date, time = value.date(), value.time()
        return dt.datetime(date.year(), date.month(), date.day(), time.hour(), time.minute(), tzinfo=self.zone)

    def _accept_if_valid(self) -> None:
        name = self.name.text().strip()
        problem = None
        if self.template is None:
            problem = "Choose a template that can be read."
        elif not name:
            problem = "The rollout needs a name."
        else:
            from sqlalchemy import select

            from launchdesk.models import Rollout

            assert self.document.workspace is not None
            with self.document.workspace.session() as session:
                if session.scalar(select(Rollout.id).where(Rollout.name == name)) is not None:
                    problem = f"A rollout named “{name}” already exists in this workspace."
        if problem:
            self.error.setText(problem)
            return
        self.accept()


class TemplateActions(QObject):
    """The two template actions of the File menu, for the window's current rollout."""

    def __init__(self, window: QMainWindow, document: WorkspaceDocument, current_rollout_id: Callable[[], int | None],
                 select_rollout: Callable[[int], None]) -> None:
        super().__init__(window)
        self.window = window
        self.document = document
        self.current_rollout_id = current_rollout_id
        self.select_rollout = select_rollout
        self.dialog: NewRolloutDialog | None = None
        self.new_rollout_action = QAction("New rollout from &template…", self)
        self.new_rollout_action.triggered.connect(lambda _checked=False: self.new_rollout())
        self.save_template_action = QAction("Save rollout as te&mplate…", self)
        self.save_template_action.triggered.connect(lambda _checked=False: self.save_template_dialog())
        document.workspace_replaced.connect(self._enable)
        self._enable()

    def _enable(self) -> None:
        self.new_rollout_action.setEnabled(self.document.workspace is not None)
        self.save_template_action.setEnabled(self.document.workspace is not None)

    def new_rollout(self) -> NewRolloutDialog | None:
        workspace = self.document.workspace
        if workspace is None:
            return None
        from launchdesk.planning.checklists import team_zone

        with workspace.session() as session:
            zone = team_zone(session)
        dialog = NewRolloutDialog(self.document, zone, self.window)
        dialog.accepted.connect(lambda: self._create(dialog))
        dialog.finished.connect(dialog.deleteLater)
        self.dialog = dialog
        dialog.open()
        return dialog

    def _create(self, dialog: NewRolloutDialog) -> None:
        assert dialog.template is not None
        from launchdesk.views.plan_commands import CreateRolloutFromTemplate

        name = dialog.name.text().strip()
        command = CreateRolloutFromTemplate(
            self.document, dialog.template, name=name, feature_name=dialog.feature.text().strip() or name,
            launch_start=dialog.launch_start(), owner=dialog.owner.text().strip(),
        )
        self.document.undo_stack.push(command)
        if command.saved:
            self.select_rollout(command.row_id)
            self.window.statusBar().showMessage(f"Planned the rollout “{name}” from the template "
                                                f"“{dialog.template['name']}”.", 8000)

    def save_template_dialog(self) -> None:
        rollout_id = self.current_rollout_id()
        if self.document.workspace is None or rollout_id is None:
            self.window.statusBar().showMessage("Select a rollout to save it as a template.", 8000)
            return
        from PySide6.QtWidgets import QFileDialog
        from sqlalchemy import select

        from launchdesk.models import Rollout

        with self.document.workspace.session() as session:
            name = session.scalar(select(Rollout.name).where(Rollout.id == rollout_id)) or "rollout"
        path, _filter = QFileDialog.getSaveFileName(self.window, "Save the rollout as a template",
                                                    str(Path.home() / f"{name} template.json"), TEMPLATE_FILTER)
        if path:
            self.save_template(rollout_id, Path(path) if Path(path).suffix else Path(path).with_suffix(".json"))

    def save_template(self, rollout_id: int, path: Path) -> Path | None:
        """Write the rollout's plan as a template file named after the file; None (and a message) on failure."""
        from launchdesk.models import Rollout
        from launchdesk.planning.template import TemplateError, save_rollout_as_template, write_template

        assert self.document.workspace is not None
        try:
            with self.document.workspace.session() as session:
                rollout = session.get(Rollout, rollout_id)
                if rollout is None:
                    raise TemplateError("The rollout no longer exists.")
                template = save_rollout_as_template(rollout, name=path.stem)
            write_template(template, path)
        except (TemplateError, OSError) as exc:
            log.warning("Template not saved: %s", exc)
            self.document.edit_failed.emit(f"The template was not saved: {exc}")
            return None
        self.window.statusBar().showMessage(f"Saved the template “{path.stem}” to {path}", 8000)
        return path
