"""The launch calendar: every rollout of the workspace by week, so launches that collide are seen before they do.

One row per rollout, one column per week (Monday to Sunday on the team's calendar). A cell shows the phases of
that rollout running that week as coloured chips; a cell where two rollouts reach the same cohort at the same
time is framed red, one where two rollouts start a phase the same week amber (planning.schedule.launch_conflicts).
The selected rollout's row is in bold; the current week is tinted.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy import select

from launchdesk.models import Cohort, Phase, PhaseKind, PhaseStatus, Rollout, utcnow
from launchdesk.planning.schedule import Conflict, ConflictKind, LaunchStep, launch_conflicts, week_of
from launchdesk.planning.time_axis import SHORT_MONTHS
from launchdesk.views.document import WorkspaceDocument
from launchdesk.views.pages import RolloutPage
from launchdesk.views.timeline_items import STATUS_COLORS
from launchdesk.views.timeline_model import TimelinePhase, read_business_hours
from launchdesk.workspace import Workspace

Index = QModelIndex | QPersistentModelIndex
CHIP_HEIGHT = 18
CELL_PADDING = 4
WEEK_WIDTH = 150
COHORT_CONFLICT = QColor("#b3261e")
WEEK_CONFLICT = QColor("#c98a00")


class CalendarPhase(TimelinePhase):
    """A phase as the calendar shows it: the timeline's phase (without markers) and its chip text."""

    @property
    def chip(self) -> str:
        """What fits in a week's cell: "Power users 10%", or the preparation step's name."""
        if self.kind == PhaseKind.PREPARATION:
            return self.name
        text = self.cohort_name or self.name
        return f"{text} {self.target_percentage:g}%" if self.target_percentage is not None else text


@dataclass
class LaunchCalendar:
    """Rollouts (rows), weeks (columns), the phases in each cell and the conflicts in each cell."""

    rollouts: list[tuple[int, str]]
    weeks: list[dt.date]
    cells: dict[tuple[int, dt.date], list[CalendarPhase]]
    conflicts: dict[tuple[int, dt.date], list[Conflict]]
    this_week: dt.date


def read_calendar(workspace: Workspace, now: dt.datetime | None = None) -> LaunchCalendar:
    """Every rollout's phases placed in the weeks they run, and the conflicts between rollouts."""
    hours, _problem = read_business_hours(workspace)
    zone = hours.zone
    rollout, phase, cohort = Rollout.__table__, Phase.__table__, Cohort.__table__
    with workspace.engine.connect() as conn:
        rows = list(conn.execute(
            select(phase, rollout.c.name.label("rollout_name"), cohort.c.name.label("cohort_name"))
            .join(rollout, rollout.c.id == phase.c.rollout_id)
            .outerjoin(cohort, cohort.c.id == phase.c.cohort_id)
            .order_by(phase.c.rollout_id, phase.c.position, phase.c.id)
        ))
        names = list(conn.execute(select(rollout.c.id, rollout.c.name)))
    phases = [CalendarPhase(r.id, r.rollout_id, r.name, PhaseKind(r.kind), PhaseStatus(r.status), r.cohort_name,
                            r.target_percentage, r.planned_start, r.planned_end) for r in rows]
    first_start = {}
    for p in phases:
        first_start.setdefault(p.rollout_id, p.start)
    # Rollouts in the order they launch; those without phases last, by name.
    far = dt.datetime.max.replace(tzinfo=dt.timezone.utc)
    rollouts = sorted(((i, n) for i, n in names), key=lambda r: (first_start.get(r[0], far), r[1]))
    cells: dict[tuple[int, dt.date], list[CalendarPhase]] = defaultdict(list)
    for p in phases:
        week = week_of(p.start, zone)
        while week <= week_of(p.end - dt.timedelta(microseconds=1), zone):
            cells[(p.rollout_id, week)].append(p)
            week += dt.timedelta(days=7)
    rollout_names = dict(names)
    steps = [LaunchStep(p.id, p.rollout_id, rollout_names[p.rollout_id], p.name, p.cohort_name, p.start, p.end)
             for p in phases if p.kind == PhaseKind.ROLLOUT]
    conflicts: dict[tuple[int, dt.date], list[Conflict]] = defaultdict(list)
    rollout_of = {p.id: p.rollout_id for p in phases}
    for conflict in launch_conflicts(steps, zone):
        for phase_id in conflict.phase_ids:
            conflicts[(rollout_of[phase_id], conflict.week)].append(conflict)
    this_week = week_of(now or utcnow(), zone)
    weeks_used = [w for _r, w in cells] + [this_week]
    first, last = min(weeks_used), max(weeks_used)
    weeks = [first + dt.timedelta(days=7 * n) for n in range((last - first).days // 7 + 1)]
    return LaunchCalendar(rollouts, weeks, dict(cells), dict(conflicts), this_week)


class CalendarModel(QAbstractTableModel):
    """Rows are rollouts, columns weeks; the delegate draws each cell's phases (Qt.UserRole)."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.calendar = LaunchCalendar([], [], {}, {}, dt.date.today())
        self.selected_rollout: int | None = None

    def set_calendar(self, calendar: LaunchCalendar) -> None:
        self.beginResetModel()
        self.calendar = calendar
        self.endResetModel()

    def set_selected_rollout(self, rollout_id: int | None) -> None:
        self.selected_rollout = rollout_id
        if self.calendar.rollouts:
            self.headerDataChanged.emit(Qt.Orientation.Vertical, 0, len(self.calendar.rollouts) - 1)

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.calendar.rollouts)

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.calendar.weeks)

    def cell(self, index: Index) -> tuple[list[CalendarPhase], list[Conflict]]:
        key = (self.calendar.rollouts[index.row()][0], self.calendar.weeks[index.column()])
        return self.calendar.cells.get(key, []), self.calendar.conflicts.get(key, [])

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        phases, conflicts = self.cell(index)
        if role == Qt.ItemDataRole.DisplayRole:
            return "\n".join(p.chip for p in phases)
        if role == Qt.ItemDataRole.ToolTipRole:
            lines = [f"{p.name} ({p.status.value.replace('_', ' ')})" for p in phases]
            lines += [f"⚠ {c.text}" for c in conflicts]
            return "\n".join(lines) or None
        if role == Qt.ItemDataRole.UserRole:
            return phases, conflicts
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and section < len(self.calendar.weeks):
            week = self.calendar.weeks[section]
            if role == Qt.ItemDataRole.DisplayRole:
                return f"W{week.isocalendar().week} · {week.day} {SHORT_MONTHS[week.month - 1]}"
            if role == Qt.ItemDataRole.ToolTipRole:
                return f"Week of Monday {week.isoformat()}"
            if role == Qt.ItemDataRole.FontRole and week == self.calendar.this_week:
                font = QFont()
                font.setBold(True)
                return font
        if orientation == Qt.Orientation.Vertical and section < len(self.calendar.rollouts):
            rollout_id, name = self.calendar.rollouts[section]
            if role == Qt.ItemDataRole.DisplayRole:
                return name
            if role == Qt.ItemDataRole.FontRole and rollout_id == self.selected_rollout:
                font = QFont()
                font.setBold(True)
                return font
        return None


class CalendarDelegate(QStyledItemDelegate):
    """Draws a cell's phases as chips coloured by status, and its conflicts as a coloured frame."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        phases, conflicts = index.data(Qt.ItemDataRole.UserRole)
        model: CalendarModel = index.model()  # type: ignore[assignment]
        rect = QRectF(option.rect)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if model.calendar.weeks[index.column()] == model.calendar.this_week:
            painter.fillRect(rect, QColor("#eef4ff"))
        kinds = {c.kind for c in conflicts}
        if kinds:
            color = COHORT_CONFLICT if ConflictKind.COHORT in kinds else WEEK_CONFLICT
            fill = QColor(color)
            fill.setAlpha(28)
            painter.fillRect(rect, fill)
            painter.setPen(QPen(color, 2))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(rect.adjusted(1, 1, -1, -1))
        metrics = option.fontMetrics
        y = rect.top() + CELL_PADDING
        in_conflict = {i: c.kind for c in conflicts for i in c.phase_ids}
        for phase in phases:
            chip = QRectF(rect.left() + CELL_PADDING, y, rect.width() - 2 * CELL_PADDING, CHIP_HEIGHT)
            color = QColor(STATUS_COLORS[phase.status])
            preparation = phase.kind == PhaseKind.PREPARATION
            if phase.id in in_conflict:  # the chips the conflict is about get its colour as their outline
                kind = in_conflict[phase.id]
                painter.setPen(QPen(COHORT_CONFLICT if kind == ConflictKind.COHORT else WEEK_CONFLICT, 2))
            else:
                painter.setPen(QPen(color.darker(120), 1))
            painter.setBrush(color.lighter(175) if preparation else color)
            painter.drawRoundedRect(chip, 3, 3)
            painter.setPen(QColor("#1d1d1d") if preparation else QColor("#ffffff"))
            text = metrics.elidedText(phase.chip, Qt.TextElideMode.ElideRight, int(chip.width()) - 8)
            painter.drawText(chip.adjusted(4, 0, -4, 0), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                             text)
            y += CHIP_HEIGHT + 2
        if kinds:
            painter.setPen(COHORT_CONFLICT if ConflictKind.COHORT in kinds else WEEK_CONFLICT)
            painter.drawText(rect.adjusted(0, 0, -4, -1), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignBottom,
                             "⚠ conflict")
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        phases, conflicts = index.data(Qt.ItemDataRole.UserRole)
        lines = len(phases) + (1 if conflicts else 0)
        return QSize(WEEK_WIDTH, max(1, lines) * (CHIP_HEIGHT + 2) + 2 * CELL_PADDING)


class CalendarPage(RolloutPage):
    """The launch calendar across every rollout; the selected rollout's row is in bold."""

    reload_on = frozenset({"rollout", "phase", "cohort", "setting"})

    def __init__(self, document: WorkspaceDocument, parent: QWidget | None = None) -> None:
        super().__init__(document, parent)
        self.model = CalendarModel(self)
        self.view = QTableView()
        self.view.setModel(self.model)
        self.view.setItemDelegate(CalendarDelegate(self.view))
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setShowGrid(True)
        self.view.setWordWrap(False)
        self.view.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.view.horizontalHeader().setDefaultSectionSize(WEEK_WIDTH)
        self.view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        legend = QLabel(
            f"<span style='color:{COHORT_CONFLICT.name()}'>■</span> same cohort at the same time &nbsp; "
            f"<span style='color:{WEEK_CONFLICT.name()}'>■</span> two launches start the same week &nbsp; "
            "<span style='color:#7f9cd6'>■</span> this week")
        layout = QVBoxLayout(self)
        layout.addWidget(legend)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.summary)

    def reload(self) -> None:
        workspace = self.document.workspace
        calendar = read_calendar(workspace) if workspace is not None else LaunchCalendar([], [], {}, {}, dt.date.today())
        self.model.set_calendar(calendar)
        self.model.set_selected_rollout(self.rollout_id)
        seen: dict[tuple[ConflictKind, tuple[int, int]], Conflict] = {}
        for conflicts in calendar.conflicts.values():
            for c in conflicts:
                seen.setdefault((c.kind, c.phase_ids), c)
        cohort = [c for c in seen.values() if c.kind == ConflictKind.COHORT]
        week = [c for c in seen.values() if c.kind == ConflictKind.WEEK]
        if cohort or week:
            lines = [f"⚠ {c.text}" for c in cohort + week]
            self.summary.setText(f"{len(cohort)} cohort conflict(s), {len(week)} busy week(s):\n" + "\n".join(lines))
            self.summary.setStyleSheet(f"color: {(COHORT_CONFLICT if cohort else WEEK_CONFLICT).name()};")
        else:
            self.summary.setText("No conflicts: no cohort is reached by two rollouts at once, and no two launches "
                                 "start the same week.")
            self.summary.setStyleSheet("color: #1b7f3b;")
        if calendar.this_week in calendar.weeks:
            # Start with this week near the left, as a calendar opens on today.
            column = calendar.weeks.index(calendar.this_week)
            self.view.horizontalScrollBar().setValue(max(0, column - 2) * WEEK_WIDTH)
