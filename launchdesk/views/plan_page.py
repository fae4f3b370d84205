"""The plan of the selected rollout: its details and readiness answers, its phases and its cohorts, all editable.

Every edit becomes an undo command (launchdesk.views.commands) pushed on the document's undo stack; the
page redraws from ``document.changed`` like every other view, so undo and redo show up here by themselves.
This is the Timeline tab: the graphical timeline (launchdesk.views.timeline) above the phase table, each
selecting the phase the other selects.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from PySide6.QtCore import QDateTime, Qt, Signal
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from launchdesk.models import PhaseKind, PhaseStatus
from launchdesk.models.columns import kinds
from launchdesk.planning.cohort_rules import describe_rule
from launchdesk.planning.readiness import readiness_gaps
from launchdesk.planning.schedule import ScheduleRefused
from launchdesk.views.commands import (
    EditCohortField,
    EditFieldCommand,
    EditPhaseField,
    EditRolloutField,
)
from launchdesk.views.document import WorkspaceDocument
from launchdesk.views.item_models import (
    Column,
    RecordTableModel,
    from_qdatetime,
    local_text,
    percent_text,
    to_qdatetime,
)
from launchdesk.views.pages import RolloutPage, section
from launchdesk.views.timeline import TimelineWidget
from launchdesk.views.timeline_model import PHASE_ROWS
from launchdesk.views.widgets import CommitTextEdit, fit_columns, table_view
from launchdesk.workspace import Workspace

log = logging.getLogger(__name__)

STATUS_COLORS = {
    PhaseStatus.LIVE: "#1b7f3b",
    PhaseStatus.COMPLETE: "#555555",
    PhaseStatus.AWAITING_GO: "#8a6d00",
    PhaseStatus.PAUSED: "#8a6d00",
    PhaseStatus.ROLLED_BACK: "#b3261e",
}


def parse_name(_row: Any, value: Any) -> str:
    name = str(value).strip()
    if not name:
        raise ValueError("A name cannot be empty.")
    return name


def parse_percent(_row: Any, value: Any) -> float:
    try:
        percent = float(str(value).replace("%", "").strip()) if not isinstance(value, float) else value
    except ValueError:
        raise ValueError(f"“{value}” is not a percentage.") from None
    if not 0.0 <= percent <= 100.0:
        raise ValueError("A percentage is between 0 and 100.")
    return round(percent, 2)


def parse_start(phase: Any, value: Any) -> dt.datetime:
    start = _as_datetime(value)
    if start >= phase.planned_end:
        raise ValueError("The planned start must be before the planned end.")
    return start


def parse_end(phase: Any, value: Any) -> dt.datetime:
    end = _as_datetime(value)
    if end <= phase.planned_start:
        raise ValueError("The planned end must be after the planned start.")
    return end


def _as_datetime(value: Any) -> dt.datetime:
    if isinstance(value, QDateTime):
        if not value.isValid():
            raise ValueError("That is not a valid date and time.")
        return from_qdatetime(value)
    try:
        return dt.datetime.strptime(str(value).strip(), "%Y-%m-%d %H:%M").astimezone(dt.timezone.utc)
    except ValueError:
        raise ValueError(f"“{value}” is not a date and time like 2027-01-11 09:00.") from None


class RolloutForm(QWidget):
    """Name, feature, owner, description and the readiness answers of one rollout; each field commits on leave."""

    edit_requested = Signal(str, object)  # field, new value

    TEXT_FIELDS = ("name", "feature_name", "owner")
    LONG_FIELDS = (
        "description",
        "readiness_can_flag",
        "readiness_blast_radius",
        "readiness_monitoring",
        "readiness_rollback_plan",
    )

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._editors: dict[str, QLineEdit | CommitTextEdit] = {}
        # Two columns: what the rollout is on the left, the readiness answers on the right.
        about, readiness = QFormLayout(), QFormLayout()
        for form in (about, readiness):
            form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        columns = QHBoxLayout(self)
        columns.setContentsMargins(0, 0, 0, 0)
        for form in (about, readiness):
            column = QVBoxLayout()
            column.addLayout(form)
            column.addStretch(1)  # rows keep their height; spare room goes below them
            columns.addLayout(column, 1)
            columns.addSpacing(12)
        labels = {
            "name": "Name",
            "feature_name": "Feature",
            "owner": "Owner",
            "description": "Description",
            "readiness_can_flag": "Can it be flagged?",
            "readiness_blast_radius": "Blast radius",
            "readiness_monitoring": "Monitoring",
            "readiness_rollback_plan": "Rollback plan",
        }
        for field in self.TEXT_FIELDS:
            line = QLineEdit()
            line.editingFinished.connect(lambda f=field: self._commit(f))
            self._editors[field] = line
            about.addRow(labels[field], line)
        self.status = QLabel()
        about.addRow("Status", self.status)
        self.flag = QLabel()
        self.flag.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        about.addRow("Flag", self.flag)
        for field in self.LONG_FIELDS:
            box = CommitTextEdit()
            box.setTabChangesFocus(True)
            box.setFixedHeight(box.fontMetrics().lineSpacing() * (3 if field == "description" else 2) + 12)
            box.editingFinished.connect(lambda f=field: self._commit(f))
            self._editors[field] = box
            (about if field == "description" else readiness).addRow(labels[field], box)
        self.kill_switch = QLineEdit()
        self.kill_switch.setPlaceholderText("YYYY-MM-DD, not tested yet")
        self.kill_switch.editingFinished.connect(self._commit_kill_switch)
        readiness.addRow("Kill switch tested on", self.kill_switch)
        self.readiness = QLabel()
        self.readiness.setWordWrap(True)
        readiness.addRow("Readiness", self.readiness)
        self._rollout: Any | None = None
        self.setEnabled(False)

    def show_rollout(self, rollout: Any | None) -> None:
        self._rollout = rollout
        self.setEnabled(rollout is not None)
        for field, editor in self._editors.items():
            value = getattr(rollout, field) if rollout else ""
            if isinstance(editor, QLineEdit):
                if not editor.isModified() and editor.text() != value:
                    editor.setText(value)
            else:
                editor.set_text_unless_editing(value)
        tested = rollout.kill_switch_tested_on if rollout else None
        if not self.kill_switch.isModified():
            self.kill_switch.setText(tested.isoformat() if tested else "")
        self.status.setText(str(rollout.status).replace("_", " ").capitalize() if rollout else "")
        if rollout and rollout.flag_key:
            connection = rollout.connection_name or "no connection"
            self.flag.setText(f"{rollout.flag_key} in {rollout.flag_environment or 'default'} ({connection})")
        else:
            self.flag.setText("not linked to a flag yet")
        if rollout is None:
            self.readiness.setText("")
        elif not readiness_gaps(rollout):
            self.readiness.setText("All readiness questions answered and the kill switch tested.")
        else:
            self.readiness.setText("Incomplete: answer every question and test the kill switch before phase 1.")

    def _commit(self, field: str) -> None:
        editor = self._editors[field]
        if isinstance(editor, QLineEdit):
            editor.setModified(False)
            value = editor.text().strip()
        else:
            value = editor.toPlainText().strip()
        if self._rollout is None or value == getattr(self._rollout, field):
            return
        if field == "name" and not value:  # a rollout keeps a name; put the current one back
            assert isinstance(editor, QLineEdit)
            editor.setText(self._rollout.name)
            return
        self.edit_requested.emit(field, value)

    def _commit_kill_switch(self) -> None:
        self.kill_switch.setModified(False)
        text = self.kill_switch.text().strip()
        if self._rollout is None:
            return
        try:
            tested = dt.date.fromisoformat(text) if text else None
        except ValueError:
            old = self._rollout.kill_switch_tested_on
            self.kill_switch.setText(old.isoformat() if old else "")
            return
        if tested != self._rollout.kill_switch_tested_on:
            self.edit_requested.emit("kill_switch_tested_on", tested)


class PlanPage(RolloutPage):
    reload_on = frozenset({"rollout", "cohort", "phase", "checklist_item", "message", "setting"})
    # A timeline marker clicked (or Enter on it): "checklist_item" or "message" and the row ids, for the window to
    # show in their own tab.
    open_requested = Signal(str, list)

    def __init__(self, document: WorkspaceDocument, parent: QWidget | None = None) -> None:
        super().__init__(document, parent)
        self.phases = RecordTableModel(
            [
                Column("Phase", lambda p: p.name, field="name", parse=parse_name),
                Column("Cohort", lambda p: p.cohort_name or ""),
                Column(
                    "Target %",
                    lambda p: percent_text(p.target_percentage),
                    field="target_percentage",
                    edit_value=lambda p: p.target_percentage or 0.0,
                    parse=parse_percent,
                    editable=lambda p: p.kind == PhaseKind.ROLLOUT,
                    editor="percent",
                    numeric=True,
                ),
                Column(
                    "Planned start",
                    lambda p: local_text(p.planned_start),
                    field="planned_start",
                    edit_value=lambda p: to_qdatetime(p.planned_start),
                    parse=parse_start,
                    editor="datetime",
                ),
                Column(
                    "Planned end",
                    lambda p: local_text(p.planned_end),
                    field="planned_end",
                    edit_value=lambda p: to_qdatetime(p.planned_end),
                    parse=parse_end,
                    editor="datetime",
                ),
                Column(
                    "Status",
                    lambda p: str(p.status).replace("_", " "),
                    color=lambda p: STATUS_COLORS.get(p.status),
                ),
                Column("Notes", lambda p: p.notes),
            ],
            on_edit=self._edit_phase,
            parent=self,
        )
        self.cohorts = RecordTableModel(
            [
                Column("Cohort", lambda c: c.name, field="name", parse=parse_name),
                Column(
                    "Target %",
                    lambda c: percent_text(c.target_percentage),
                    field="target_percentage",
                    edit_value=lambda c: c.target_percentage,
                    parse=parse_percent,
                    editor="percent",
                    numeric=True,
                ),
                Column("Accounts matching", lambda cohort: describe_rule(cohort.rule)),
                Column("Communication", lambda c: c.comms_style, field="comms_style"),
                Column("Description", lambda c: c.description, field="description"),
            ],
            on_edit=lambda row, field, value: self._push(EditCohortField, row.id, field, value),
            parent=self,
        )
        self.form = RolloutForm()
        self.form.edit_requested.connect(
            lambda field, value: self.rollout_id is not None
            and self._push(EditRolloutField, self.rollout_id, field, value)
        )
        self.phase_view = table_view(self.phases, stretch=6)
        self.cohort_view = table_view(self.cohorts, stretch=4)
        form_scroll = QScrollArea()
        form_scroll.setWidget(self.form)
        form_scroll.setWidgetResizable(True)
        form_scroll.setFrameShape(QScrollArea.Shape.NoFrame)

        self.timeline = TimelineWidget(document)
        self.timeline.phase_selected.connect(self._select_phase_row)
        self.timeline.marker_selected.connect(self.open_requested)
        self.phase_view.selectionModel().currentRowChanged.connect(
            lambda current, _previous: current.isValid()
            and self.timeline.view.select_phase(self.phases.rows[current.row()].id, notify=False)
        )

        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(section("Timeline", self.timeline))
        self.splitter.addWidget(section("Phases", self.phase_view))
        self.splitter.addWidget(section("Cohorts", self.cohort_view))
        self.splitter.addWidget(section("Rollout", form_scroll))
        self.splitter.setStretchFactor(0, 16)
        self.splitter.setStretchFactor(1, 6)
        self.splitter.setStretchFactor(2, 5)
        self.splitter.setStretchFactor(3, 5)
        self.splitter.setSizes([560, 180, 120, 120])  # the timeline is what this tab is for
        layout = QVBoxLayout(self)
        layout.addWidget(self.splitter)

    def _push(self, command: type[EditFieldCommand], row_id: int, field: str, value: Any) -> bool:
        """Push one undoable edit; False when it could not be saved (the reason went to ``edit_failed``)."""
        return self.document.push(lambda: command(self.document, row_id, field, value)) is not None

    def _edit_phase(self, row: Any, field: str, value: Any) -> bool:
        if field in ("planned_start", "planned_end"):
            return self._set_date(row, field, value)
        return self._push(EditPhaseField, row.id, field, value)

    def _set_date(self, row: Any, field: str, value: dt.datetime) -> bool:
        """A start or end typed in the table goes by the timeline's rules, as its dates panel does: a new end moves
        the later phases along by as much, a new start moves only the start; an illegal one is refused with the
        reason. Every phase it changes is one undo step."""
        start, end = (value, row.planned_end) if field == "planned_start" else (row.planned_start, value)
        try:
            outcome = self.timeline.typed_dates(row.id, start, end)
        except ScheduleRefused as refused:
            self.phases.edit_refused.emit(f"Dates not set: {refused}")
            return False
        if not outcome.changes:
            return False
        return self.timeline.commit(outcome, "Change the start of" if field == "planned_start" else "Change the end of")

    def reload(self) -> None:
        rollout, phases, cohorts = None, [], []
        workspace = self.document.workspace
        if workspace is not None and self.rollout_id is not None:
            rollout, phases, cohorts = read_plan(workspace, self.rollout_id)
        self.form.show_rollout(rollout)
        self.phases.set_rows(phases)
        self.cohorts.set_rows(cohorts)
        fit_columns(self.phase_view, max_width=300)  # phase names are long and say most
        fit_columns(self.cohort_view)
        self.timeline.set_rollout(self.rollout_id)

    def _select_phase_row(self, phase_id: int) -> None:
        row = self.phases.row_of(phase_id)
        if row >= 0:
            self.phase_view.selectRow(row)


def read_plan(workspace: Workspace, rollout_id: int) -> tuple[Any | None, list[Any], list[Any]]:
    """The rollout (with its flag connection's name), its phases (with their cohort's name) and its cohorts.

    Plain SQL through ``Workspace.read``: this page is what the window paints first, before SQLAlchemy is
    imported (see launchdesk/workspace.py).
    """
    given = {"rollout": rollout_id}
    rollouts = workspace.read(
        "SELECT rollout.*, connection.name AS connection_name FROM rollout"
        " LEFT OUTER JOIN connection ON rollout.flag_connection_id = connection.id WHERE rollout.id = :rollout",
        given, kinds("rollout"),
    )
    phases = workspace.read(PHASE_ROWS, given, kinds("phase"))
    cohorts = workspace.read("SELECT * FROM cohort WHERE rollout_id = :rollout ORDER BY position", given,
                             kinds("cohort"))
    return (rollouts[0] if rollouts else None), phases, cohorts
