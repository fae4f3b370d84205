"""The go/no-go panel of the selected rollout: gates with values, age and history, the next phase's checklist,
readiness and start time; recording decisions, entering manual values, evaluating now and the kill switch.

Everything shown is read from the workspace (the stored samples, judged again now), so the panel works offline.
Asking the metric sources and pulling the kill switch go over the network, so they run through ``run_task``;
recording a decision or a typed value is one short transaction on the GUI thread. Neither is an undoable
edit: decisions and values are records, kept in the journal.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from launchdesk import journal
from launchdesk.models import (
    ChecklistItem,
    Decision,
    DecisionKind,
    Gate,
    GateOutcome,
    Phase,
    PhaseKind,
    PhaseStatus,
    Role,
    Rollout,
    TeamMember,
    utcnow,
)
from launchdesk.planning.business_hours import BusinessHoursError, phase_start_warning, team_business_hours
from launchdesk.planning.checklists import due_at, team_zone
from launchdesk.planning.decisions import (
    DECISION_EVENTS,
    DecisionRefused,
    OverrideRequired,
    TransitionRefused,
    next_phase,
    next_status,
    record_decision,
)
from launchdesk.planning.gates import GateResult, Measurement, format_value, go_blockers
from launchdesk.views.document import WorkspaceDocument
from launchdesk.views.gonogo_dialogs import DecisionDialog, DecisionRequest, KillSwitchDialog, ManualValueDialog
from launchdesk.views.item_models import Column, RecordTableModel, local_text
from launchdesk.views.pages import DECISION_LABELS, OUTCOME_COLORS, ROLE_LABELS, RolloutPage, offset_text, section
from launchdesk.views.sparkline import SparkPoint, Sparkline
from launchdesk.views.sync_actions import PROBLEM_STYLE, age_text
from launchdesk.views.tasks import TaskHandle, run_task
from launchdesk.views.widgets import table_view
from launchdesk.workspace import Workspace

HISTORY_SPAN = dt.timedelta(days=14)  # the sparkline shows the two weeks up to the newest value
PREPARATION_OFFSETS = (-2880, -1440)  # the "48 h before" and "24 h before" checklist items
KILL_SWITCH_TIMEOUT_S = 60.0
STALE_COLOR = "#8a6d00"
OVERRIDE_COLOR = "#b3261e"
OUTCOME_WORDS = {GateOutcome.PASS: "Pass", GateOutcome.FAIL: "Fail", GateOutcome.INCONCLUSIVE: "Inconclusive"}
READINESS_QUESTIONS = (
    ("readiness_can_flag", "Can it be flagged?"),
    ("readiness_blast_radius", "Blast radius"),
    ("readiness_monitoring", "Monitoring"),
    ("readiness_rollback_plan", "Rollback plan"),
)


# --- what the panel shows, read in one go -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class GateRow:
    """One gate as the panel shows it: its verdict now, the value shown with its time, and its history."""

    id: int
    name: str
    query: str
    source: str  # the metric source's connection name; "" for a manual gate
    window_s: int
    baseline_offset_s: int | None
    result: GateResult
    shown_value: float | None  # the result's value or, when the newest evaluation got none, the last known one
    shown_at: dt.datetime | None
    last_known: bool  # shown_value is older than the newest evaluation (a source was down, no entry today)
    history: list[SparkPoint]

    @property
    def manual(self) -> bool:
        return not self.source

    def age(self, now: dt.datetime) -> dt.timedelta | None:
        return None if self.shown_at is None else now - self.shown_at

    def stale(self, now: dt.datetime) -> bool:
        age = self.age(now)
        return age is not None and age.total_seconds() > self.window_s


@dataclasses.dataclass(frozen=True)
class PhaseInfo:
    id: int
    name: str
    status: PhaseStatus
    planned_start: dt.datetime
    target_percentage: float | None


@dataclasses.dataclass(frozen=True)
class ChecklistLine:
    id: int
    offset_minutes: int
    role: Role
    title: str
    due_at: dt.datetime
    done_by: str | None
    done_at: dt.datetime | None


@dataclasses.dataclass(frozen=True)
class DecisionLine:
    id: int
    phase_name: str
    kind: DecisionKind
    decided_by: str
    decided_at: dt.datetime
    reason: str
    overridden: bool
    snapshot: list[dict[str, Any]]


@dataclasses.dataclass(frozen=True)
class FlagInfo:
    key: str
    environment: str
    connection: str


@dataclasses.dataclass(frozen=True)
class PanelState:
    rollout_id: int
    rollout_name: str
    read_at: dt.datetime
    flag: FlagInfo | None
    next_phase: PhaseInfo | None  # up for its go/no-go
    running_phase: PhaseInfo | None  # live or paused: what a pause or a rollback is about
    gates: list[GateRow]
    checklist: list[ChecklistLine]  # the next phase's 48 h and 24 h items
    readiness: dict[str, str]
    kill_switch_tested_on: dt.date | None
    hours_warning: str | None
    hours_text: str
    zone: ZoneInfo  # the team's: checklist due dates count whole days on its wall clock
    decisions: list[DecisionLine]  # newest first
    team: list[tuple[str, Role]]

    @property
    def blockers(self) -> list[GateResult]:
        return go_blockers(row.result for row in self.gates)

    def phase_for(self, kind: DecisionKind) -> PhaseInfo | None:
        """The phase a decision of this kind is about: a go or no-go the next phase, a pause or rollback the live one."""
        return self.next_phase if kind in (DecisionKind.GO, DecisionKind.NO_GO) else self.running_phase


def _phase_info(phase: Phase | None) -> PhaseInfo | None:
    if phase is None:
        return None
    return PhaseInfo(phase.id, phase.name, phase.status, phase.planned_start, phase.target_percentage)


def _gate_row(session: Session, gate: Gate, result: GateResult) -> GateRow:
    from launchdesk.metrics.evaluate import gate_history
    newest = result.observed_at
    history = gate_history(session, gate, since=newest - HISTORY_SPAN) if newest else []
    shown_value, shown_at, last_known = result.value, result.observed_at, False
    if result.value is None:
        earlier = next((s for s in reversed(history) if s.value is not None), None)
        if earlier is not None:
            shown_value, shown_at, last_known = earlier.value, earlier.sampled_at, True
        else:
            shown_at = None
    source = gate.source_connection.name if gate.source_connection is not None else ""
    return GateRow(
        id=gate.id, name=gate.name, query=gate.query, source=source, window_s=gate.window_s,
        baseline_offset_s=gate.baseline_offset_s if gate.baseline_kind == "window" else None, result=result,
        shown_value=shown_value, shown_at=shown_at, last_known=last_known,
        history=[SparkPoint(s.sampled_at, s.value, s.outcome) for s in history],
    )


def read_panel(session: Session, rollout_id: int, now: dt.datetime) -> PanelState | None:
    """Everything the panel shows about one rollout, from the workspace alone (None: the rollout is gone)."""
    from launchdesk.access.sync import flag_link
    from launchdesk.metrics.evaluate import gate_results

    rollout = session.get(Rollout, rollout_id, options=[selectinload(Rollout.gates).selectinload(Gate.source_connection),
                                                        selectinload(Rollout.phases)])
    if rollout is None:
        return None
    results = gate_results(session, rollout, now=now)
    gates = [_gate_row(session, gate, result) for gate, result in zip(rollout.gates, results)]
    upcoming = next_phase(rollout)
    running = next((p for p in reversed(rollout.phases)
                    if p.kind == PhaseKind.ROLLOUT and p.status in (PhaseStatus.LIVE, PhaseStatus.PAUSED)), None)
    checklist: list[ChecklistLine] = []
    hours_warning: str | None = None
    zone = team_zone(session)
    try:
        hours_text = team_business_hours(session).describe()
    except BusinessHoursError as exc:
        hours_text = str(exc)
    if upcoming is not None:
        hours_warning = phase_start_warning(session, upcoming)
        for item in session.scalars(
            select(ChecklistItem)
            .where(ChecklistItem.phase_id == upcoming.id, ChecklistItem.offset_minutes.in_(PREPARATION_OFFSETS))
            .order_by(ChecklistItem.offset_minutes, ChecklistItem.position, ChecklistItem.id)
        ):
            checklist.append(ChecklistLine(item.id, item.offset_minutes, item.role, item.title,
                                           due_at(upcoming.planned_start, item.offset_minutes, zone),
                                           item.done_by, item.done_at))
    link = flag_link(rollout)
    flag = None
    if link is not None:
        flag = FlagInfo(link[1], link[2], rollout.flag_connection.name if rollout.flag_connection else "")
    decisions = [
        DecisionLine(d.id, name, d.kind, d.decided_by, d.decided_at, d.reason, d.overridden, list(d.gate_snapshot))
        for d, name in session.execute(
            select(Decision, Phase.name).join(Decision.phase).where(Phase.rollout_id == rollout_id)
            .order_by(Decision.decided_at.desc(), Decision.id.desc())
        )
    ]
    team = [(m.name, m.role) for m in session.scalars(select(TeamMember).order_by(TeamMember.name))]
    return PanelState(
        rollout_id=rollout.id, rollout_name=rollout.name, read_at=now, flag=flag,
        next_phase=_phase_info(upcoming), running_phase=_phase_info(running), gates=gates, checklist=checklist,
        readiness={field: getattr(rollout, field) for field, _label in READINESS_QUESTIONS},
        kill_switch_tested_on=rollout.kill_switch_tested_on, hours_warning=hours_warning, hours_text=hours_text,
        zone=zone, decisions=decisions, team=team,
    )


# --- background work ---------------------------------------------------------------------------------------------


def measure_rollout(progress: Any, cancelled: Any, workspace: Workspace, rollout_id: int,
                    now: dt.datetime) -> dict[int, Measurement]:
    """Ask each gate's metric source (one gate at a time, so progress is real); writes nothing."""
    from launchdesk.metrics.evaluate import measure_gates

    with workspace.session() as session:
        gates = list(session.scalars(
            select(Gate).where(Gate.rollout_id == rollout_id, Gate.source_connection_id.is_not(None))
            .options(selectinload(Gate.source_connection)).order_by(Gate.position)
        ))
    measurements: dict[int, Measurement] = {}
    for number, gate in enumerate(gates, start=1):
        if cancelled():
            break
        progress((number, len(gates), gate.name))
        measurements.update(measure_gates([gate], now=now))
    return measurements


def pull_kill_switch(_progress: Any, cancelled: Any, workspace: Workspace, rollout_name: str, confirmation: str,
                     actor: str) -> Any:
    from launchdesk.access.kill_switch import turn_flag_off

    return turn_flag_off(workspace, rollout_name, confirmation=confirmation, actor=actor,
                         timeout_s=KILL_SWITCH_TIMEOUT_S, cancelled=cancelled)


# --- texts -------------------------------------------------------------------------------------------------------


def status_text(status: PhaseStatus) -> str:
    return status.value.replace("_", " ")


def value_text(row: GateRow) -> str:
    text = format_value(row.shown_value, row.result.unit)
    return f"{text} (last known)" if row.last_known else text


def age_cell(row: GateRow) -> str:
    age = row.age(utcnow())
    if age is None:
        return "never"
    text = age_text(max(age.total_seconds(), 0))
    return f"{text} · stale" if row.stale(utcnow()) else text


def gate_tooltip(row: GateRow) -> str:
    source = f"Source: {row.source}" if row.source else "Manual: someone enters its value"
    query = f"\nQuery: {row.query}" if row.query else ""
    return f"{row.name}\n{source}{query}\n{OUTCOME_WORDS[row.result.outcome]}: {row.result.reason}"


def snapshot_line(entry: dict[str, Any]) -> str:
    """One gate of a decision's frozen snapshot, as a line: "Error rate: 0.05 % (passes when < 0.1 %) — pass"."""
    unit = entry.get("unit") or ""
    shown = entry.get("display") or format_value(entry.get("value"), unit)
    threshold = entry.get("threshold")
    rule = "?"
    if isinstance(threshold, (int, float)):
        # "× baseline" is a unit of the threshold, not of the value: "< 2 × baseline".
        limit = f"{threshold:g} {unit}".strip() if unit.startswith(("×", "x ")) else format_value(threshold, unit)
        rule = f"{entry.get('comparison', '')} {limit}".strip()
    line = f"{entry.get('gate', '?')}: {shown} (passes when {rule}) — {entry.get('outcome', '?')}"
    if entry.get("reason"):
        line += f". {entry['reason']}"
    return line


# --- the page ----------------------------------------------------------------------------------------------------


class GoNoGoPage(RolloutPage):
    """Gates, the next phase's readiness and the decisions of the selected rollout."""

    reload_on = frozenset({"rollout", "phase", "gate", "metric_sample", "decision", "checklist_item",
                           "flag_snapshot", "setting", "team_member", "connection"})

    def __init__(self, document: WorkspaceDocument, parent: QWidget | None = None) -> None:
        super().__init__(document, parent)
        self.state: PanelState | None = None
        self.evaluation: TaskHandle | None = None
        self.kill_switch: TaskHandle | None = None
        self.dialog: DecisionDialog | ManualValueDialog | KillSwitchDialog | None = None

        # Heading: the phase up for its go/no-go, and whether it starts while the team is at work.
        self.heading = QLabel()
        font = self.heading.font()
        font.setPointSizeF(font.pointSizeF() * 1.2)
        font.setBold(True)
        self.heading.setFont(font)
        self.phase_line = QLabel()
        self.phase_line.setWordWrap(True)
        self.hours = QLabel()
        for label in (self.heading, self.phase_line, self.hours):
            label.setTextFormat(Qt.TextFormat.PlainText)  # phase names are the users' text
        self.hours.setObjectName("businessHours")
        self.hours.setWordWrap(True)

        # Actions: evaluate, the four decisions, the kill switch.
        self.evaluate_button = QPushButton("Evaluate now")
        self.evaluate_button.clicked.connect(self.evaluate_now)
        self.evaluate_progress = QProgressBar()
        self.evaluate_progress.setMaximumWidth(110)
        self.evaluate_progress.setMaximumHeight(14)
        self.evaluate_progress.hide()
        self.activity = QLabel()
        self.activity.setObjectName("activity")
        self.activity.setTextFormat(Qt.TextFormat.PlainText)
        self.decision_buttons: dict[DecisionKind, QPushButton] = {}
        for kind in DecisionKind:
            button = QPushButton(f"{DECISION_LABELS[kind]}…")
            button.clicked.connect(partial(self.open_decision_dialog, kind))
            self.decision_buttons[kind] = button
        self.kill_button = QPushButton("Turn the feature off…")
        self.kill_button.setObjectName("killSwitch")
        self.kill_button.setStyleSheet("QPushButton:enabled { color: #b3261e; }")
        self.kill_button.clicked.connect(self.open_kill_switch_dialog)
        self.kill_progress = QProgressBar()
        self.kill_progress.setRange(0, 0)  # busy: the platform's confirmation has no known duration
        self.kill_progress.setMaximumWidth(90)
        self.kill_progress.setMaximumHeight(14)
        self.kill_progress.hide()
        actions = QHBoxLayout()
        actions.addWidget(self.evaluate_button)
        actions.addWidget(self.evaluate_progress)
        actions.addWidget(self.activity, 1)
        for button in self.decision_buttons.values():
            actions.addWidget(button)
        actions.addSpacing(16)
        actions.addWidget(self.kill_progress)
        actions.addWidget(self.kill_button)

        self.problem = QLabel()
        self.problem.setObjectName("problem")
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet(PROBLEM_STYLE)
        self.problem.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.problem.hide()

        # The gates, one line each, with a sparkline and (for a manual gate) a button to enter its value.
        self.gates = RecordTableModel(
            [
                Column("Gate", lambda r: r.name, tooltip=gate_tooltip),
                Column("Value", value_text, numeric=True, tooltip=lambda r: r.result.reason,
                       color=lambda r: STALE_COLOR if r.last_known else None),
                Column("Passes when", lambda r: r.result.display_threshold()),
                Column("Outcome", lambda r: f"● {OUTCOME_WORDS[r.result.outcome]}",
                       color=lambda r: OUTCOME_COLORS[r.result.outcome], tooltip=lambda r: r.result.reason),
                Column("Age", age_cell, color=lambda r: STALE_COLOR if r.stale(utcnow()) else None,
                       tooltip=lambda r: f"Value from {local_text(r.shown_at)}" if r.shown_at else "No value yet"),
                Column("Last 14 days", lambda r: ""),
                Column("Source", lambda r: r.source, tooltip=gate_tooltip),
            ],
            parent=self,
        )
        self.gates_view = table_view(self.gates, stretch=5)
        self.gates_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.gates_view.verticalHeader().setDefaultSectionSize(max(30, self.fontMetrics().height() + 14))
        self.gates_view.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.blockers = QLabel()
        self.blockers.setObjectName("blockers")
        self.blockers.setWordWrap(True)
        self.sparklines: dict[int, Sparkline] = {}
        self.value_buttons: dict[int, QPushButton] = {}

        # Below: the decision log on the left; the next phase's checklist and the readiness on the right.
        self.decision_log = QTreeWidget()
        self.decision_log.setHeaderLabels(["When", "Decision", "By", "Phase"])
        self.decision_log.setAlternatingRowColors(True)
        self.decision_log.setUniformRowHeights(False)
        self.decision_log.header().setStretchLastSection(True)
        self.checklist = QTreeWidget()
        self.checklist.setHeaderLabels(["Item", "Role", "Done"])
        self.checklist.setRootIsDecorated(False)
        self.checklist.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.checklist.header().setStretchLastSection(False)
        self.readiness = QLabel()
        self.readiness.setObjectName("readiness")
        self.readiness.setWordWrap(True)
        self.readiness.setTextFormat(Qt.TextFormat.RichText)
        self.readiness.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        readiness_scroll = QScrollArea()
        readiness_scroll.setWidgetResizable(True)
        readiness_scroll.setFrameShape(QFrame.Shape.NoFrame)
        readiness_scroll.setWidget(self.readiness)
        right = QSplitter(Qt.Orientation.Vertical)
        checklist_section = section("Checklist before the phase", self.checklist)
        self.checklist_title = checklist_section.findChild(QLabel)  # section() makes the title its only label
        right.addWidget(checklist_section)
        right.addWidget(section("Readiness", readiness_scroll))
        right.setSizes([260, 200])
        lower = QSplitter(Qt.Orientation.Horizontal)
        lower.addWidget(section("Decision log", self.decision_log))
        lower.addWidget(right)
        lower.setStretchFactor(0, 1)
        lower.setStretchFactor(1, 1)
        lower.setSizes([460, 560])

        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.phase_line)
        layout.addWidget(self.hours)
        layout.addLayout(actions)
        layout.addWidget(self.problem)
        layout.addWidget(self.gates_view)
        layout.addWidget(self.blockers)
        layout.addWidget(lower, 1)

        # Ages move on while the panel is open.
        self._clock = QTimer(self)
        self._clock.setInterval(30_000)
        self._clock.timeout.connect(self._refresh_ages)
        self._clock.start()
        document.workspace_replaced.connect(self._forget_workspace)
        self._show_state()

    # --- loading -------------------------------------------------------------------------------------------------
    def reload(self) -> None:
        workspace = self.document.workspace
        state = None
        if workspace is not None and self.rollout_id is not None:
            with workspace.session() as session:
                state = read_panel(session, self.rollout_id, utcnow())
        self.state = state
        self._show_state()

    def _forget_workspace(self) -> None:
        # Both tasks hold connections to the workspace that is about to close.
        for task in (self.evaluation, self.kill_switch):
            if task is not None:
                task.cancel()
                task.wait(10)
        self.evaluation = self.kill_switch = None
        self.evaluate_progress.hide()
        self.kill_progress.hide()
        self.activity.clear()
        self.problem.hide()

    def _refresh_ages(self) -> None:
        if self.isVisible() and self.gates.rowCount():
            column = 4
            self.gates.dataChanged.emit(self.gates.index(0, column), self.gates.index(self.gates.rowCount() - 1, column))

    # --- showing -------------------------------------------------------------------------------------------------
    def _show_state(self) -> None:
        state = self.state
        self._show_heading(state)
        self._show_gates(state)
        self._show_decisions(state)
        self._show_checklist(state)
        self._show_readiness(state)
        self._update_buttons()

    def _show_heading(self, state: PanelState | None) -> None:
        self.hours.setStyleSheet("")
        self.hours.hide()
        if state is None:
            self.heading.setText("No rollout selected")
            self.phase_line.setText("")
            return
        phase, running = state.next_phase, state.running_phase
        live = ""
        if running is not None:
            live = (f"{status_text(running.status).capitalize()} now: {running.name}"
                    + (f" at {running.target_percentage:g}%" if running.target_percentage is not None else "") + ". ")
        if phase is None:
            self.heading.setText(f"{state.rollout_name}: no phase left to decide")
            self.phase_line.setText(live + "Every rollout phase is live or complete.")
            return
        self.heading.setText(f"Next phase: {phase.name}")
        target = f" for {phase.target_percentage:g}% of accounts" if phase.target_percentage is not None else ""
        self.phase_line.setText(f"{live}Next: {status_text(phase.status)}{target}, planned start "
                                f"{local_text(phase.planned_start)} (your time).")
        if state.hours_warning:
            self.hours.setText(f"⚠ Outside business hours: {phase.name} {state.hours_warning}. "
                               f"The team works {state.hours_text}.")
            self.hours.setStyleSheet(PROBLEM_STYLE)
        else:
            self.hours.setText(f"Starts inside business hours ({state.hours_text}).")
        self.hours.show()

    def _show_gates(self, state: PanelState | None) -> None:
        rows = state.gates if state else []
        self.gates.set_rows(rows)
        self.sparklines.clear()
        self.value_buttons.clear()
        for number, row in enumerate(rows):
            spark = Sparkline()
            spark.set_history(row.history, row.result.limit)
            self.gates_view.setIndexWidget(self.gates.index(number, 5), spark)
            self.sparklines[row.id] = spark
            if row.manual:
                button = QPushButton("Enter value…")
                button.setToolTip(f"Type today's value of {row.name}")
                button.clicked.connect(partial(self.open_value_dialog, row.id))
                self.gates_view.setIndexWidget(self.gates.index(number, 6), button)
                self.value_buttons[row.id] = button
            else:
                self.gates_view.setIndexWidget(self.gates.index(number, 6), None)
        header = self.gates_view.horizontalHeader()
        for column, width in enumerate((170, 120, 190, 120, 110, 0, 120)):
            if width:
                header.resizeSection(column, width)
        self.gates_view.resizeColumnToContents(0)
        header.resizeSection(0, min(max(header.sectionSize(0), 140), 220))
        # The table is as tall as its gates: the decision log below gets the rest.
        height = header.height() + self.gates_view.verticalHeader().length() + 2 * self.gates_view.frameWidth()
        self.gates_view.setFixedHeight(max(height, header.height() + 32))
        self.blockers.setStyleSheet("")
        if state is None or state.next_phase is None:
            self.blockers.setText("")  # nothing is up for a go, so nothing blocks one
            self.blockers.hide()
            return
        self.blockers.show()
        if not state.gates:
            self.blockers.setText("This rollout has no gates: a go rests on the people's judgement alone.")
            return
        blockers = state.blockers
        if blockers:
            names = ", ".join(f"{html.escape(r.name)} ({r.outcome.value})" for r in blockers)
            self.blockers.setText(f"<b>A go now needs a written override:</b> {names} "
                                  f"{'does' if len(blockers) == 1 else 'do'} not pass.")
            self.blockers.setStyleSheet(f"color: {OVERRIDE_COLOR};")
        else:
            self.blockers.setText("Every gate passes.")
            self.blockers.setStyleSheet(f"color: {OUTCOME_COLORS[GateOutcome.PASS]};")

    def _show_decisions(self, state: PanelState | None) -> None:
        """One line per decision; expanded, it says why, the override reason and the frozen gate snapshot."""
        self.decision_log.clear()
        for decision in state.decisions if state else []:
            why, _, override = decision.reason.partition("\nOverride: ")
            label = DECISION_LABELS[decision.kind] + (" — OVERRIDE" if decision.overridden else "")
            item = QTreeWidgetItem([local_text(decision.decided_at), label, decision.decided_by, decision.phase_name])
            item.setData(0, Qt.ItemDataRole.UserRole, decision.id)
            for column in range(4):
                item.setToolTip(column, f"Why: {why}")
            if decision.overridden:
                bold = QFont(item.font(1))
                bold.setBold(True)
                item.setFont(1, bold)
                item.setForeground(1, QColor(OVERRIDE_COLOR))
                item.setToolTip(1, f"A go recorded although gates did not pass. Override: {override}")
            self.decision_log.addTopLevelItem(item)
            lines = [(f"Why: {' '.join(why.split())}", why, None)]
            if override:
                lines.append((f"Override: {' '.join(override.split())}", override, OVERRIDE_COLOR))
            for entry in decision.snapshot:
                try:
                    color: str | None = OUTCOME_COLORS[GateOutcome(entry.get("outcome"))]
                except ValueError:  # an entry without an outcome
                    color = None
                lines.append((snapshot_line(entry), snapshot_line(entry), color))
            for text, tooltip, color in lines:
                line = QTreeWidgetItem(item, [text])
                line.setFirstColumnSpanned(True)
                line.setToolTip(0, tooltip)
                if color:
                    line.setForeground(0, QColor(color))
        header = self.decision_log.header()
        for column, widest in enumerate((150, 140, 120)):  # the phase takes the rest
            self.decision_log.resizeColumnToContents(column)
            header.resizeSection(column, min(header.sectionSize(column), widest))

    def _show_checklist(self, state: PanelState | None) -> None:
        self.checklist.clear()
        phase = state.next_phase if state else None
        self.checklist_title.setText(f"Checklist before {phase.name}" if phase else "Checklist before the phase")
        if state is None or phase is None:
            return
        now = utcnow()
        for offset in PREPARATION_OFFSETS:
            lines = [line for line in state.checklist if line.offset_minutes == offset]
            done = sum(1 for line in lines if line.done_at is not None)
            due = due_at(phase.planned_start, offset, state.zone)
            group = QTreeWidgetItem([f"{offset_text(offset)} (due {local_text(due)}): {done} of {len(lines)} done"])
            bold = QFont(group.font(0))
            bold.setBold(True)
            group.setFont(0, bold)
            self.checklist.addTopLevelItem(group)
            group.setFirstColumnSpanned(True)  # only takes once the item is in the tree
            for line in lines:
                finished = line.done_at is not None
                item = QTreeWidgetItem(self.checklist, [
                    f"{'☑' if finished else '☐'} {line.title}",
                    ROLE_LABELS.get(line.role, str(line.role)),
                    f"{line.done_by or ''}".strip() if finished else ("overdue" if line.due_at < now else ""),
                ])
                item.setToolTip(0, line.title)
                if finished:
                    item.setToolTip(2, f"Done by {line.done_by or 'someone'} at {local_text(line.done_at)}")
                    item.setForeground(0, QColor(OUTCOME_COLORS[GateOutcome.PASS]))
                elif line.due_at < now:
                    item.setForeground(2, QColor(OVERRIDE_COLOR))
            if not lines:
                QTreeWidgetItem(self.checklist, ["(no items)"])
        self.checklist.resizeColumnToContents(1)
        self.checklist.resizeColumnToContents(2)

    def _show_readiness(self, state: PanelState | None) -> None:
        if state is None:
            self.readiness.setText("")
            return
        missing = [label for field, label in READINESS_QUESTIONS if not state.readiness[field].strip()]
        if state.kill_switch_tested_on is None:
            missing.append("kill switch test")
        if missing:
            head = (f"<p style='color:{STALE_COLOR}'><b>Incomplete:</b> {html.escape(', '.join(missing))} "
                    "missing (edit them on the Timeline tab).</p>")
        else:
            head = f"<p style='color:{OUTCOME_COLORS[GateOutcome.PASS]}'><b>Complete.</b></p>"
        rows = []
        for field, label in READINESS_QUESTIONS:
            answer = state.readiness[field].strip()
            shown = html.escape(answer) if answer else f"<i style='color:{OVERRIDE_COLOR}'>not answered</i>"
            rows.append(f"<tr><td><b>{label}</b>&nbsp;</td><td>{shown}</td></tr>")
        tested = state.kill_switch_tested_on
        shown = tested.isoformat() if tested else f"<i style='color:{OVERRIDE_COLOR}'>not tested</i>"
        rows.append(f"<tr><td><b>Kill switch tested on</b>&nbsp;</td><td>{shown}</td></tr>")
        self.readiness.setText(head + "<table cellspacing='0' cellpadding='2'>" + "".join(rows) + "</table>")

    def _update_buttons(self) -> None:
        state = self.state
        workspace_open = self.document.workspace is not None and state is not None
        sourced = [row for row in state.gates if not row.manual] if state else []
        self.evaluate_button.setEnabled(workspace_open and bool(sourced) and self.evaluation is None)
        self.evaluate_button.setToolTip(
            "Ask each gate's metric source for its value now" if sourced else
            "Every gate of this rollout is manual: enter their values with “Enter value…”.")
        for kind, button in self.decision_buttons.items():
            phase = state.phase_for(kind) if state else None
            reason = ""
            if phase is None:
                reason = ("No phase is left to decide." if kind in (DecisionKind.GO, DecisionKind.NO_GO)
                          else f"No phase is live, so there is nothing to {DECISION_LABELS[kind].lower()}.")
            else:
                try:
                    next_status(phase.status, DECISION_EVENTS[kind], phase_name=phase.name)
                except TransitionRefused as exc:
                    reason = str(exc)
            button.setEnabled(workspace_open and not reason)
            if phase is not None and not reason:
                reason = f"Record a {DECISION_LABELS[kind].lower()} for {phase.name}"
            button.setToolTip(reason)
        flag = state.flag if state else None
        self.kill_button.setEnabled(workspace_open and flag is not None and self.kill_switch is None)
        self.kill_button.setToolTip(
            f"Turn {flag.key} off in {flag.environment} through the platform's API" if flag else
            "This rollout is not linked to a flag, so there is nothing to turn off.")

    # --- decisions ------------------------------------------------------------------------------------------------
    def open_decision_dialog(self, kind: DecisionKind) -> DecisionDialog | None:
        state = self.state
        phase = state.phase_for(kind) if state else None
        if state is None or phase is None:
            return None
        dialog = DecisionDialog(kind, phase.name, state.blockers, state.team, journal.current_user(),
                                partial(self.record, phase.id), self)
        self._show_dialog(dialog)
        return dialog

    def record(self, phase_id: int, request: DecisionRequest) -> str | None:
        """Record a decision on the gates as they stand now; None when done, else why not (nothing changed)."""
        from launchdesk.metrics.evaluate import gate_results

        workspace = self.document.workspace
        if workspace is None or self.rollout_id is None:
            return "No workspace is open."
        try:
            with workspace.transaction() as session:
                phase = session.get(Phase, phase_id)
                if phase is None:
                    return "The phase was deleted meanwhile; nothing was recorded."
                results = gate_results(session, phase.rollout)
                decision = record_decision(
                    session, phase, request.kind, decided_by=request.name, role=ROLE_LABELS[request.role],
                    why=request.why, results=results, override_reason=request.override_reason or None,
                )
                decision_id, overridden, phase_name = decision.id, decision.overridden, phase.name
        except OverrideRequired as exc:
            # A gate stopped passing (a value went stale) after the dialog opened, which offered no override.
            self.invalidate()
            return f"{exc} The panel now shows the gates as they are: cancel, then record the go again."
        except DecisionRefused as exc:
            return str(exc)
        label = DECISION_LABELS[request.kind]
        self.activity.setText(f"{label} recorded for {phase_name}" + (", overriding gates." if overridden else "."))
        self.document.changed.emit("decision", decision_id)
        self.document.changed.emit("phase", phase_id)
        self.document.changed.emit("journal_entry", 0)
        return None

    # --- manual values --------------------------------------------------------------------------------------------
    def open_value_dialog(self, gate_id: int) -> ManualValueDialog | None:
        row = next((r for r in self.state.gates if r.id == gate_id), None) if self.state else None
        if row is None:
            return None
        dialog = ManualValueDialog(row.name, row.result.display_threshold(), row.baseline_offset_s,
                                   journal.current_user(), partial(self.enter_value, gate_id), self)
        self._show_dialog(dialog)
        return dialog

    def enter_value(self, gate_id: int, value: float, baseline: float | None, entered_by: str) -> str | None:
        """Keep a typed value for a manual gate; None when stored, else why not."""
        from launchdesk.metrics.evaluate import record_manual_value

        workspace = self.document.workspace
        if workspace is None:
            return "No workspace is open."
        try:
            with workspace.transaction() as session:
                gate = session.get(Gate, gate_id)
                if gate is None:
                    return "The gate was deleted meanwhile; nothing was stored."
                result = record_manual_value(session, gate, value, entered_by=entered_by, baseline=baseline)
        except ValueError as exc:
            return str(exc)
        self.activity.setText(f"{result.name}: {result.display_value()} entered — "
                              f"{OUTCOME_WORDS[result.outcome].lower()}.")
        self.document.changed.emit("metric_sample", gate_id)
        self.document.changed.emit("journal_entry", 0)
        return None

    # --- evaluating now -------------------------------------------------------------------------------------------
    def evaluate_now(self) -> None:
        workspace = self.document.workspace
        if workspace is None or self.rollout_id is None or self.evaluation is not None:
            return
        now = utcnow()
        self.problem.hide()
        self.activity.setText("Asking the metric sources…")
        self.evaluate_progress.setRange(0, 0)
        self.evaluate_progress.show()
        self.evaluation = run_task(
            measure_rollout, workspace, self.rollout_id, now,
            on_done=partial(self._on_measured, self.rollout_id, now),
            on_error=self._on_evaluation_failed, on_progress=self._on_evaluation_progress,
        )
        self._update_buttons()

    def _on_evaluation_progress(self, progress: tuple[int, int, str]) -> None:
        number, total, name = progress
        self.evaluate_progress.setRange(0, total)
        self.evaluate_progress.setValue(number - 1)
        self.activity.setText(f"Asking for {name} ({number} of {total})…")

    def _end_evaluation(self) -> None:
        self.evaluation = None
        self.evaluate_progress.hide()
        self._update_buttons()

    def _on_measured(self, rollout_id: int, now: dt.datetime, measurements: dict[int, Measurement]) -> None:
        from launchdesk.metrics.evaluate import record_measurements

        self._end_evaluation()
        workspace = self.document.workspace
        if workspace is None:
            return
        names: dict[int, str] = {}
        with workspace.transaction() as session:
            rollout = session.get(Rollout, rollout_id)
            if rollout is None:
                return
            names = {gate.id: gate.name for gate in rollout.gates}
            results = record_measurements(session, rollout, measurements, now=now, actor=journal.current_user())
        measured = [r for r in results if r.gate_id in measurements]
        counts = ", ".join(f"{sum(1 for r in measured if r.outcome == o)} {o.value}" for o in GateOutcome
                           if any(r.outcome == o for r in measured))
        self.activity.setText(f"Evaluated {len(measured)} gate(s) at {now.astimezone():%H:%M}: {counts}.")
        errors = [(names.get(gate_id, "?"), m.error) for gate_id, m in measurements.items() if m.error]
        if errors:
            listed = "<br>".join(f"<b>{html.escape(name)}</b>: {html.escape(error)}" for name, error in errors)
            self.problem.setText(f"Could not get a value for {len(errors)} gate(s); they count as inconclusive "
                                 f"and their last values stay shown.<br>{listed}")
            self.problem.show()
        self.document.changed.emit("metric_sample", rollout_id)
        self.document.changed.emit("journal_entry", 0)

    def _on_evaluation_failed(self, exc: BaseException) -> None:
        self._end_evaluation()
        self.activity.clear()
        self.problem.setText(f"The evaluation failed: {exc}. The stored values stay shown.")
        self.problem.show()

    # --- the kill switch ------------------------------------------------------------------------------------------
    def open_kill_switch_dialog(self) -> KillSwitchDialog | None:
        flag = self.state.flag if self.state else None
        if flag is None:
            return None
        dialog = KillSwitchDialog(flag.key, flag.environment, flag.connection, self.pull_kill_switch, self)
        self._show_dialog(dialog)
        return dialog

    def pull_kill_switch(self, typed: str) -> str | None:
        """Turn the flag off in the background once the typed key matches; None when started, else why not."""
        workspace, state = self.document.workspace, self.state
        flag = state.flag if state else None
        if workspace is None or state is None or flag is None:
            return "This rollout is not linked to a flag, so there is nothing to turn off."
        if self.kill_switch is not None:
            return "The kill switch is already on its way; wait for the platform's answer."
        if typed.strip() != flag.key:
            return f"Type the flag key “{flag.key}” exactly to confirm. Nothing was turned off."
        self.problem.hide()
        self.activity.setText(f"Turning {flag.key} off in {flag.environment}… waiting for the platform to confirm.")
        self.kill_progress.show()
        self.kill_switch = run_task(
            pull_kill_switch, workspace, state.rollout_name, typed.strip(), journal.current_user(),
            on_done=partial(self._on_kill_switch_done, state.rollout_id),
            on_error=partial(self._on_kill_switch_failed, state.rollout_id),
        )
        self._update_buttons()
        return None

    def _end_kill_switch(self, rollout_id: int) -> None:
        self.kill_switch = None
        self.kill_progress.hide()
        self._update_buttons()
        for kind in ("rollout", "phase", "flag_snapshot", "journal_entry"):
            self.document.changed.emit(kind, rollout_id)

    def _on_kill_switch_done(self, rollout_id: int, result: Any) -> None:
        self._end_kill_switch(rollout_id)
        if result.confirmed:
            self.activity.setText(f"Off: the platform confirmed after {result.seconds:g} s.")
        else:
            self.activity.clear()
            self.problem.setText(result.message)
            self.problem.show()

    def _on_kill_switch_failed(self, rollout_id: int, exc: BaseException) -> None:
        self._end_kill_switch(rollout_id)
        self.activity.clear()
        self.problem.setText(f"The feature was not turned off: {exc}")
        self.problem.show()

    def _show_dialog(self, dialog: DecisionDialog | ManualValueDialog | KillSwitchDialog) -> None:
        # Window-modal and non-blocking: the panel keeps painting, and tests can fill the dialog in.
        if self.dialog is not None:
            self.dialog.close()
        self.dialog = dialog
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(partial(self._dialog_closed, dialog))
        dialog.open()

    def _dialog_closed(self, dialog: QWidget, _result: int) -> None:
        if self.dialog is dialog:
            self.dialog = None
