"""The timeline: a rollout's phases as bars on a date axis, dragged and resized by hand, with undo.

``TimelineScene`` lays out bars and markers and draws the shaded hours, the grid and the today line.
``TimelineView`` turns mouse and keys into gestures: a press on a bar starts a ``MoveGesture`` or a
``ResizeGesture``; each mouse move calls its ``apply`` (which asks ``planning.schedule`` for the outcome, in memory,
and shows it as a live preview) and the release calls ``finish``, which hands one Reschedule to the widget; the
widget pushes it as one undo command. ``TimelineWidget`` adds the toolbar, the date axis and the message line.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from PySide6.QtCore import QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QToolButton,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from launchdesk.models import Channel, utcnow
from launchdesk.planning.business_hours import BusinessHours
from launchdesk.planning.schedule import (
    Edge,
    PlannedPhase,
    Reschedule,
    ScheduleRefused,
    Unit,
    due_at,
    duration_text,
    move,
    resize,
    set_dates,
    shift,
    start_warnings,
    steps_for,
    when_text,
)
from launchdesk.planning.time_axis import off_hours, ticks
from launchdesk.views.document import WorkspaceDocument
from launchdesk.views.timeline_commands import ReschedulePhases
from launchdesk.views.timeline_dates import PhaseDatesPanel
from launchdesk.views.timeline_items import (
    BAR_HEIGHT,
    BAR_TOP,
    CHANNEL_COLORS,
    CHANNEL_NAMES,
    ROLE_COLORS,
    ROLE_NAMES,
    WARNING_COLOR,
    ROW_HEIGHT,
    STATUS_COLORS,
    STATUS_NAMES,
    ChecklistMarker,
    Marker,
    MessageMarker,
    PhaseBar,
    PreviewLabel,
)
from launchdesk.views.timeline_model import (
    DEFAULT_ZOOM,
    ZOOMS,
    TimelinePhase,
    TimelinePlan,
    TimeScale,
    Zoom,
    read_timeline,
)

TOP_MARGIN = 10.0
TITLE_HEIGHT = 26.0  # a rollout's name above its phases, when the scene shows several rollouts
SPAN_BEFORE = dt.timedelta(days=14)  # room left of the first phase and right of the last, to drag into
SPAN_AFTER = dt.timedelta(days=42)
AXIS_HEIGHT = 42
WEEKEND_SHADE = QColor("#e9edf2")
OFF_HOURS_SHADE = QColor("#f3f5f8")
GRID = QColor("#e2e6eb")
GRID_MAJOR = QColor("#c5ccd5")
ROW_LINE = QColor("#edf0f3")
TODAY = QColor("#d93025")
GHOST_PEN = QPen(QColor("#8a94a3"), 0)
CHECKLIST_MIN_PX_PER_DAY = 24.0
PREVIEW_WIDTH = 640.0  # the drag's dates label wraps its lines at this width
MESSAGE_LANE_SPACE = 16.0  # room above a bar for its message markers, which the preview label must not hide
GHOST_FILL = QColor(90, 100, 120, 28)


class TimelineScene(QGraphicsScene):
    """Bars and markers of one or more rollouts' phases, one row per phase, on a shared time scale."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.font = QFont()
        self.font.setPointSizeF(9.0)
        self.title_font = QFont(self.font)
        self.title_font.setBold(True)
        self.plans: list[TimelinePlan] = []
        self.zoom = ZOOMS[DEFAULT_ZOOM]
        self.scale = TimeScale(utcnow(), self.zoom)
        self.hours = BusinessHours.parse()
        self.clock: Callable[[], dt.datetime] = utcnow
        self.bars: dict[int, PhaseBar] = {}
        self.warnings: dict[int, str] = {}  # phase id → business-hours warning of its stored start
        self.titles: list[tuple[float, str]] = []
        self._plan_of: dict[int, TimelinePlan] = {}
        self._planned: dict[int, list[PlannedPhase]] = {}  # rollout id → its phases as the rules see them
        self.preview = PreviewLabel(self.font)
        self._ghosts: list[QGraphicsRectItem] = []
        self.preview_outlines: dict[int, QGraphicsRectItem] = {}  # pushed phase id → where the drag would put it

    # --- layout ------------------------------------------------------------------------------------------
    def set_plans(self, plans: Sequence[TimelinePlan], zoom: Zoom | None = None) -> None:
        """Lay out every bar and marker again (after a reload or a zoom)."""
        self.plans = list(plans)
        self.zoom = zoom or self.zoom
        if self.plans:
            self.hours = self.plans[0].hours
        self.preview.setParentItem(None)
        if self.preview.scene() is self:
            self.removeItem(self.preview)
        for ghost in self._ghosts:
            if ghost.scene() is self:
                self.removeItem(ghost)
        self._ghosts.clear()
        self.preview_outlines.clear()
        self.clear()
        self.bars.clear()
        self.warnings.clear()
        self.titles.clear()
        self._plan_of.clear()
        self._planned.clear()
        now = self.clock()
        starts = [p.start for plan in self.plans for p in plan.phases] + [now]
        ends = [p.end for plan in self.plans for p in plan.phases] + [now]
        zone = self.hours.zone
        first = (min(starts) - SPAN_BEFORE).astimezone(zone)
        origin = first.replace(hour=0, minute=0, second=0, microsecond=0) - dt.timedelta(days=first.weekday())
        self.scale = TimeScale(origin.astimezone(dt.timezone.utc), self.zoom)
        y = TOP_MARGIN
        for plan in self.plans:
            if len(self.plans) > 1:
                self.titles.append((y, plan.rollout_name))
                title = QGraphicsSimpleTextItem(plan.rollout_name)
                title.setFont(self.title_font)
                first = min((p.start for p in plan.phases), default=now)
                title.setPos(self.scale.x(first), y + (TITLE_HEIGHT - QFontMetricsF(self.title_font).height()) / 2)
                self.addItem(title)
                y += TITLE_HEIGHT
            self._planned[plan.rollout_id] = [p.planned() for p in plan.phases]
            for phase in plan.phases:
                self._plan_of[phase.id] = plan
                self.bars[phase.id] = self._add_bar(phase, y, zone)
                y += ROW_HEIGHT
        for phase_id, outcome in ((i, o) for plan in self.plans for i, o in plan.gate_outcomes.items()):
            bar = self.bars[phase_id]
            bar.set_gate_outcome(outcome)
            bar.setToolTip(f"{bar.toolTip()}\nGates for its go/no-go, latest values: {outcome.value}")
        self.addItem(self.preview)
        width = self.scale.x(max(ends) + SPAN_AFTER)
        self.setSceneRect(QRectF(0, 0, width, y + TOP_MARGIN))

    def _add_bar(self, phase: Any, row_y: float, zone: Any) -> PhaseBar:
        scale = self.scale
        bar = PhaseBar(phase, scale.x(phase.start), scale.width(phase.end - phase.start), row_y, self.font)
        bar.setToolTip(phase_summary(phase, zone))
        self.addItem(bar)
        warning = self.hours.warning(phase.start)
        if warning is not None:
            self.warnings[phase.id] = warning
        bar.set_warning(warning)
        by_offset: dict[int, list[Any]] = {}
        for item in phase.checklist:
            by_offset.setdefault(item.offset_minutes, []).append(item)
        for offset, items in by_offset.items():
            due = due_at(phase.start, offset, zone)  # whole days on the wall clock, as the checklists and exports
            marker = ChecklistMarker(bar, scale.width(due - phase.start), items, when_text(due, zone))
            # Weeks and months squeeze a phase's due dates into one blot; they show from the days zooms on.
            marker.setVisible(self.zoom.px_per_day >= CHECKLIST_MIN_PX_PER_DAY)
        for message in phase.messages:
            send = due_at(phase.start, message.offset_minutes, zone)  # the same wall-clock rule as the checklist
            MessageMarker(bar, scale.width(send - phase.start), message, when_text(send, zone))
        return bar

    def plan_of(self, phase_id: int) -> TimelinePlan:
        return self._plan_of[phase_id]

    def planned(self, phase_id: int) -> list[PlannedPhase]:
        """The phases of ``phase_id``'s rollout as stored, for the rules."""
        return self._planned[self._plan_of[phase_id].rollout_id]

    # --- preview -------------------------------------------------------------------------------------------
    def show_preview(self, gesture_bar: PhaseBar, outcome: Reschedule | ScheduleRefused) -> None:
        """Draw a gesture's outcome: the dragged bar at its new place with a ghost where it was, an outline where
        each pushed phase would go (the real bars stay put, which keeps a drag cheap however many phases follow),
        the new dates or the refusal beside the dragged bar, and warnings for starts outside business hours."""
        phase = next(p for p in self.planned(gesture_bar.phase.id) if p.id == gesture_bar.phase.id)
        self.preview_outlines.clear()
        if isinstance(outcome, Reschedule):
            warnings = start_warnings(outcome, self.hours)
            self._place(gesture_bar, outcome.phase)
            gesture_bar.set_refused(False)
            moved = outcome.phase.start != phase.start
            gesture_bar.set_warning(warnings.get(phase.id) if moved else self.warnings.get(phase.id))
            self._ghost(0, phase, gesture_bar.row_y, was=True)
            for n, pushed in enumerate(outcome.pushed, start=1):
                self._ghost(n, pushed, self.bars[pushed.id].row_y, was=False)
                self.preview_outlines[pushed.id] = self._ghosts[n]
            shown = len(outcome.pushed) + 1
            text = outcome.describe(self.hours.zone).replace("; ", "\n")
            listed = list(warnings.items())
            text += "".join(f"\n⚠ {self.bars[i].phase.name} {w}" for i, w in listed[:2])
            if len(listed) > 2:
                text += f"\n⚠ and {len(listed) - 2} more phases start outside business hours"
        else:
            gesture_bar.set_refused(True)
            self._ghost(0, phase, gesture_bar.row_y, was=True)
            shown = 1
            text = f"Not allowed: {outcome}"
        for ghost in self._ghosts[shown:]:
            ghost.setVisible(False)
        view = self.views()[0] if self.views() else None
        visible = view.mapToScene(view.viewport().rect()).boundingRect() if view else self.sceneRect()
        self.preview.show_text(text, isinstance(outcome, ScheduleRefused), min(PREVIEW_WIDTH, visible.width() - 8))
        self._place_preview(gesture_bar, visible)

    def _place_preview(self, bar: PhaseBar, visible: QRectF) -> None:
        """Above the dragged bar, or below its row when there is no room above; always inside the view."""
        size = self.preview.boundingRect()
        x = min(max(bar.pos().x(), visible.left() + 4), visible.right() - size.width() - 4)
        y = bar.pos().y() - MESSAGE_LANE_SPACE - size.height()
        if y < visible.top() + 2:
            y = bar.row_y + ROW_HEIGHT + 2
        self.preview.setPos(x, y)

    def clear_preview(self, gesture_bar: PhaseBar) -> None:
        """Put the dragged bar back where the stored plan has it and take the preview away."""
        phase = next(p for p in self.planned(gesture_bar.phase.id) if p.id == gesture_bar.phase.id)
        self._place(gesture_bar, phase)
        gesture_bar.set_refused(False)
        gesture_bar.set_warning(self.warnings.get(phase.id))
        for ghost in self._ghosts:
            ghost.setVisible(False)
        self.preview_outlines.clear()
        self.preview.setVisible(False)

    def _place(self, bar: PhaseBar, phase: PlannedPhase) -> None:
        x, width = self.scale.x(phase.start), self.scale.width(phase.end - phase.start)
        if bar.pos().x() != x or bar.width != width:
            bar.set_span(x, width)

    def _ghost(self, index: int, phase: PlannedPhase, row_y: float, *, was: bool) -> None:
        """Show ghost ``index``: grey where the dragged phase was, or a status-coloured outline where a pushed
        phase would go. Plain outlines: a dashed, antialiased one costs more to draw than the bars."""
        if index == len(self._ghosts):
            ghost = QGraphicsRectItem()
            ghost.setZValue(0.5)
            self.addItem(ghost)
            self._ghosts.append(ghost)
        ghost = self._ghosts[index]
        if was:
            ghost.setPen(GHOST_PEN)
            ghost.setBrush(GHOST_FILL)
        else:
            color = QColor(STATUS_COLORS[self.bars[phase.id].phase.status])
            ghost.setPen(QPen(color, 2))
            color.setAlpha(60)
            ghost.setBrush(color)
        ghost.setRect(QRectF(self.scale.x(phase.start), row_y + BAR_TOP,
                             self.scale.width(phase.end - phase.start), BAR_HEIGHT))
        ghost.setVisible(True)

    # --- drawing ---------------------------------------------------------------------------------------------
    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:
        painter.fillRect(rect, QColor("#ffffff"))
        scale, zoom = self.scale, self.zoom
        start, end = scale.time(rect.left()), scale.time(rect.right())
        if zoom.px_per_day >= 5:
            for since, until, whole_day in off_hours(self.hours, start, end, within_days=zoom.px_per_day >= 80):
                x0, x1 = scale.x(since), scale.x(until)
                painter.fillRect(QRectF(x0, rect.top(), x1 - x0, rect.height()),
                                 WEEKEND_SHADE if whole_day else OFF_HOURS_SHADE)
        major, minor = ticks(zoom.px_per_day, start, end, self.hours.zone)
        painter.setPen(QPen(GRID, 0))
        for tick in minor:
            x = scale.x(tick.at)
            painter.drawLine(QPointF(x, rect.top()), QPointF(x, rect.bottom()))
        painter.setPen(QPen(GRID_MAJOR, 0))
        for tick in major:
            x = scale.x(tick.at)
            painter.drawLine(QPointF(x, rect.top()), QPointF(x, rect.bottom()))
        painter.setPen(QPen(ROW_LINE, 0))
        for bar in self.bars.values():
            y = bar.row_y + ROW_HEIGHT
            if rect.top() <= y <= rect.bottom():
                painter.drawLine(QPointF(rect.left(), y), QPointF(rect.right(), y))
        for y, _name in self.titles:
            band = QRectF(rect.left(), y, rect.width(), TITLE_HEIGHT)
            if band.intersects(rect):
                painter.fillRect(band, QColor("#f0f2f5"))

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        x = self.scale.x(self.clock())
        if rect.left() - 2 <= x <= rect.right() + 2:
            painter.setPen(QPen(TODAY, 1.5))
            painter.drawLine(QPointF(x, rect.top()), QPointF(x, rect.bottom()))


def phase_summary(phase: TimelinePhase, zone: ZoneInfo) -> str:
    """A bar's tooltip: what the phase is, when, and its status."""
    lines = [phase.name]
    if phase.cohort_name or phase.target_percentage is not None:
        target = f" · {phase.target_percentage:g}%" if phase.target_percentage is not None else ""
        lines.append(f"{phase.cohort_name or 'no cohort'}{target}")
    lines.append(f"{when_text(phase.start, zone)} – {when_text(phase.end, zone)} ({duration_text(phase.end - phase.start)})")
    lines.append(f"Status: {STATUS_NAMES[phase.status].lower()}")
    lines.append("Drag to move (Shift: alone), drag an end to resize; ←/→ move, Shift+←/→ change the end")
    lines.append("Ctrl+←/→ steps through its markers; click a marker, or press Enter on it, to open it")
    return "\n".join(lines)


class Gesture:
    """One drag on a bar: ``apply`` on every mouse move previews the outcome; ``finish`` on release returns it."""

    verb = "Move"

    def __init__(self, scene: TimelineScene, bar: PhaseBar, press_x: float) -> None:
        self.scene = scene
        self.bar = bar
        self.press_x = press_x
        self.phase = next(p for p in scene.planned(bar.phase.id) if p.id == bar.phase.id)
        self.unit: Unit = scene.zoom.unit
        self.zone = scene.hours.zone
        self.now = scene.clock()
        self.steps = 0
        self.alone = False
        self.outcome: Reschedule | ScheduleRefused | None = None
        self._shown: tuple[int, bool] | None = None

    def apply(self, scene_x: float, alone: bool) -> None:
        raise NotImplementedError

    def _show(self) -> None:
        key = (self.steps, self.alone)
        if key == self._shown:
            return  # the same snapped outcome as the last mouse move: nothing to redo
        self._shown = key
        if self.steps == 0:
            self.outcome = None
            self.scene.clear_preview(self.bar)
            return
        try:
            self.outcome = self.compute()
        except ScheduleRefused as refused:
            self.outcome = refused
        self.scene.show_preview(self.bar, self.outcome)

    def compute(self) -> Reschedule:
        raise NotImplementedError

    def finish(self) -> Reschedule | ScheduleRefused | None:
        """End the gesture: the outcome to commit (or the refusal to show); the bars go back to the stored plan
        until the committed change redraws them."""
        self.bar.snap = None
        self.scene.clear_preview(self.bar)
        return self.outcome

    def cancel(self) -> None:
        self.outcome = None
        self.finish()


class MoveGesture(Gesture):
    """Drag a whole bar: it snaps to whole units in :meth:`PhaseBar.itemChange`; later phases follow."""

    def __init__(self, scene: TimelineScene, bar: PhaseBar, press_x: float) -> None:
        super().__init__(scene, bar, press_x)
        self.origin_x = bar.pos().x()
        bar.snap = self._snap

    def _snap(self, proposed: QPointF) -> QPointF:
        scale = self.scene.scale
        self.steps = steps_for(scale.time(proposed.x()) - self.phase.start, self.unit)
        start = shift(self.phase.start, self.steps, self.unit, self.zone)
        return QPointF(scale.x(start), self.bar.pos().y())

    def apply(self, scene_x: float, alone: bool) -> None:
        self.alone = alone
        self.bar.setPos(QPointF(self.origin_x + scene_x - self.press_x, self.bar.pos().y()))
        self._show()

    def compute(self) -> Reschedule:
        return move(self.scene.planned(self.phase.id), self.phase.id, self.steps, self.unit, self.zone,
                    alone=self.alone, now=self.now)


class ResizeGesture(Gesture):
    """Drag one end of a bar: the start (alone) or the end (the later phases follow unless ``alone``)."""

    def __init__(self, scene: TimelineScene, bar: PhaseBar, press_x: float, edge: Edge) -> None:
        super().__init__(scene, bar, press_x)
        self.edge = edge
        self.verb = "Change the start of" if edge == Edge.START else "Change the end of"

    def apply(self, scene_x: float, alone: bool) -> None:
        self.alone = alone
        self.steps = steps_for(dt.timedelta(seconds=(scene_x - self.press_x) / self.scene.zoom.px_per_second),
                               self.unit)
        self._show()

    def compute(self) -> Reschedule:
        return resize(self.scene.planned(self.phase.id), self.phase.id, self.edge, self.steps, self.unit,
                      self.zone, alone=self.alone, now=self.now)


class TimelineView(QGraphicsView):
    """Mouse, wheel and keys on the timeline: gestures on bars, zoom, selection, scrolling."""

    reschedule_requested = Signal(object, str)  # a Reschedule to commit, and the verb for the undo text
    refused = Signal(str)  # a gesture the rules refused, with the reason
    phase_selected = Signal(int)
    marker_selected = Signal(str, list)  # a marker clicked, or Enter on it: "checklist_item" or "message", row ids
    zoom_changed = Signal()
    scrolled = Signal()

    ALONE = Qt.KeyboardModifier.ShiftModifier  # held during a drag: move only this phase

    def __init__(self, scene: TimelineScene, parent: QWidget | None = None) -> None:
        super().__init__(scene, parent)
        self.timeline = scene
        self.zoom_index = DEFAULT_ZOOM
        self.gesture: Gesture | None = None
        self._pending: tuple[PhaseBar, QPoint, float, Edge | None] | None = None
        self._last_x = 0.0
        self._alone = False  # the modifier was down at the press, or pressed since
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.setCacheMode(QGraphicsView.CacheModeFlag.CacheBackground)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.MinimalViewportUpdate)
        # Every item sets the painter state it needs, so the view need not save and restore it around each one.
        self.setOptimizationFlags(QGraphicsView.OptimizationFlag.DontSavePainterState
                                  | QGraphicsView.OptimizationFlag.DontAdjustForAntialiasing)
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setRenderHint(QPainter.RenderHint.TextAntialiasing)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.horizontalScrollBar().valueChanged.connect(self.scrolled)

    # --- selection -------------------------------------------------------------------------------------------
    def selected_phase_id(self) -> int | None:
        for item in self.timeline.selectedItems():
            if isinstance(item, PhaseBar):
                return item.phase.id
        return None

    def selected_marker(self) -> Marker | None:
        for item in self.timeline.selectedItems():
            if isinstance(item, Marker):
                return item
        return None

    def _current_phase_id(self) -> int | None:
        """The selected phase, or the phase of the selected marker."""
        marker = self.selected_marker()
        if marker is not None:
            bar = marker.parentItem()
            return bar.phase.id if isinstance(bar, PhaseBar) else None
        return self.selected_phase_id()

    def select_marker(self, marker: Marker) -> None:
        """Select a marker from the keyboard; its tooltip says what it is and that Enter opens it."""
        self.timeline.clearSelection()
        marker.setSelected(True)
        self.ensureVisible(marker, 40, 10)
        point = self.viewport().mapToGlobal(self.mapFromScene(marker.scenePos()))
        QToolTip.showText(point, marker.toolTip(), self)

    def step_marker(self, step: int) -> None:
        """Select the next (``step`` 1) or previous (-1) visible marker of the current phase, in time order; past
        the last or the first, the phase's bar again."""
        phase_id = self._current_phase_id()
        if phase_id is None:
            return
        bar = self.timeline.bars[phase_id]
        markers = sorted((m for m in bar.childItems() if isinstance(m, Marker) and m.isVisible()),
                         key=lambda m: (m.pos().x(), m.pos().y()))
        current = self.selected_marker()
        index = markers.index(current) + step if current in markers else (0 if step > 0 else len(markers) - 1)
        if 0 <= index < len(markers):
            self.select_marker(markers[index])
        else:
            QToolTip.hideText()
            self.select_phase(phase_id)

    def open_marker(self, marker: Marker) -> None:
        self.marker_selected.emit(marker.kind, marker.ids)

    def select_phase(self, phase_id: int | None, *, notify: bool = True) -> None:
        bar = self.timeline.bars.get(phase_id) if phase_id is not None else None
        if bar is not None and bar.isSelected() and len(self.timeline.selectedItems()) == 1:
            return
        self.timeline.clearSelection()
        if bar is not None:
            bar.setSelected(True)
            self.ensureVisible(bar, 40, 10)
            if notify:
                self.phase_selected.emit(bar.phase.id)

    def cancel_gesture(self) -> None:
        """Drop a gesture in progress (the plan is about to be redrawn under it): nothing is committed."""
        if self.gesture is not None:
            self.gesture.cancel()
        self.gesture = None
        self._pending = None

    # --- mouse -----------------------------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            super().mousePressEvent(event)
            return
        self.setFocus()
        item = self.itemAt(event.position().toPoint())
        if isinstance(item, Marker):
            self.timeline.clearSelection()
            item.setSelected(True)
            self.open_marker(item)
            return
        while item is not None and not isinstance(item, PhaseBar):
            item = item.parentItem()
        if item is None:
            self.timeline.clearSelection()
            super().mousePressEvent(event)
            return
        bar: PhaseBar = item
        self.select_phase(bar.phase.id)
        scene_x = self.mapToScene(event.position().toPoint()).x()
        edge = bar.edge_at(scene_x)
        self._pending = (bar, event.position().toPoint(), scene_x, Edge(edge) if edge else None)
        self._alone = bool(event.modifiers() & self.ALONE)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        point = event.position().toPoint()
        if self._pending is not None and self.gesture is None:
            bar, pressed, press_x, edge = self._pending
            if (point - pressed).manhattanLength() < QApplication.startDragDistance():
                return
            self.gesture = (ResizeGesture(self.timeline, bar, press_x, edge) if edge is not None
                            else MoveGesture(self.timeline, bar, press_x))
        if self.gesture is not None:
            self._last_x = self.mapToScene(point).x()
            self.gesture.apply(self._last_x, self._alone or bool(event.modifiers() & self.ALONE))
            return
        self._hover_cursor(point)
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._pending = None
        if self.gesture is None:
            super().mouseReleaseEvent(event)
            return
        gesture, self.gesture = self.gesture, None
        self._deliver(gesture.finish(), gesture.verb)

    def _deliver(self, outcome: Reschedule | ScheduleRefused | None, verb: str) -> None:
        if isinstance(outcome, ScheduleRefused):
            self.refused.emit(str(outcome))
        elif outcome is not None and outcome.changes:
            self.reschedule_requested.emit(outcome, verb)

    def _hover_cursor(self, point: QPoint) -> None:
        item = self.itemAt(point)
        if isinstance(item, PhaseBar):
            edge = item.edge_at(self.mapToScene(point).x())
            shape = Qt.CursorShape.SizeHorCursor if edge else Qt.CursorShape.OpenHandCursor
            self.viewport().setCursor(shape)
        else:
            self.viewport().unsetCursor()

    # --- zoom and scrolling ----------------------------------------------------------------------------------
    def wheelEvent(self, event: QWheelEvent) -> None:
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            delta = event.angleDelta().y()
            if delta:
                self.set_zoom(self.zoom_index + (-1 if delta > 0 else 1), anchor=event.position().x())
            event.accept()
            return
        super().wheelEvent(event)

    def set_zoom(self, index: int, anchor: float | None = None) -> None:
        """Zoom to ``ZOOMS[index]`` keeping the moment under ``anchor`` (viewport x; default the centre) in place."""
        index = max(0, min(len(ZOOMS) - 1, index))
        if index == self.zoom_index:
            return
        anchor = self.viewport().width() / 2 if anchor is None else anchor
        moment = self.timeline.scale.time(self.mapToScene(int(anchor), 0).x())
        selected = self.selected_phase_id()
        self.cancel_gesture()
        self.zoom_index = index
        self.timeline.set_plans(self.timeline.plans, ZOOMS[index])
        self.select_phase(selected, notify=False)
        self.scroll_to_time(moment, anchor)
        self.zoom_changed.emit()

    def scroll_to_time(self, moment: dt.datetime, at: float | None = None) -> None:
        """Scroll so ``moment`` is at viewport x ``at`` (default: a third in)."""
        at = self.viewport().width() / 3 if at is None else at
        bar = self.horizontalScrollBar()
        bar.setValue(round(self.timeline.scale.x(moment) - at - self.timeline.sceneRect().left()))

    def left_time(self) -> dt.datetime:
        return self.timeline.scale.time(self.mapToScene(0, 0).x())

    def scroll_to_selected(self) -> None:
        phase_id = self.selected_phase_id()
        if phase_id is not None:
            bar = self.timeline.bars[phase_id]
            self.centerOn(bar.pos().x() + bar.width / 2, bar.pos().y())

    # --- keys ------------------------------------------------------------------------------------------------
    def keyPressEvent(self, event: QKeyEvent) -> None:
        key, mods = event.key(), event.modifiers()
        if self.gesture is not None:
            if key == Qt.Key.Key_Escape:
                self.cancel_gesture()
            elif key == Qt.Key.Key_Shift:
                self._alone = True
                self.gesture.apply(self._last_x, True)
            return
        marker = self.selected_marker()
        if marker is not None and key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.open_marker(marker)
        elif marker is not None and key == Qt.Key.Key_Escape:
            QToolTip.hideText()
            self.select_phase(self._current_phase_id())
        elif key in (Qt.Key.Key_Left, Qt.Key.Key_Right) and (
                marker is not None or mods & Qt.KeyboardModifier.ControlModifier):
            self.step_marker(-1 if key == Qt.Key.Key_Left else 1)
        elif key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.set_zoom(self.zoom_index - 1)
        elif key == Qt.Key.Key_Minus:
            self.set_zoom(self.zoom_index + 1)
        elif key in (Qt.Key.Key_Left, Qt.Key.Key_Right) and self.selected_phase_id() is not None:
            steps = -1 if key == Qt.Key.Key_Left else 1
            resize_end = bool(mods & Qt.KeyboardModifier.ShiftModifier)
            self.nudge(self.selected_phase_id(), steps, Edge.END if resize_end else None)  # type: ignore[arg-type]
        elif key in (Qt.Key.Key_Up, Qt.Key.Key_Down) and self.timeline.bars:
            self._select_neighbour(-1 if key == Qt.Key.Key_Up else 1)
        else:
            super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if self.gesture is not None and event.key() == Qt.Key.Key_Shift:
            self._alone = False
            self.gesture.apply(self._last_x, False)
            return
        super().keyReleaseEvent(event)

    def nudge(self, phase_id: int, steps: int, edge: Edge | None = None) -> None:
        """Move a phase (or its end) by ``steps`` units of the zoom level, as one undoable step."""
        timeline = self.timeline
        phases = timeline.planned(phase_id)
        try:
            if edge is None:
                outcome = move(phases, phase_id, steps, timeline.zoom.unit, timeline.hours.zone, now=timeline.clock())
            else:
                outcome = resize(phases, phase_id, edge, steps, timeline.zoom.unit, timeline.hours.zone,
                                 now=timeline.clock())
        except ScheduleRefused as refused:
            self._deliver(refused, "")
            return
        self._deliver(outcome, "Move" if edge is None else "Change the end of")

    def _select_neighbour(self, step: int) -> None:
        ids = list(self.timeline.bars)
        current = self._current_phase_id()
        index = ids.index(current) + step if current in ids else 0
        self.select_phase(ids[max(0, min(len(ids) - 1, index))])


class TimeAxis(QWidget):
    """The dates above the timeline: months or days above, days or hours below; follows the view's scrolling."""

    def __init__(self, view: TimelineView, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = view
        self.setFixedHeight(AXIS_HEIGHT)
        self.font_major = QFont()
        self.font_major.setPointSizeF(9.0)
        self.font_major.setBold(True)
        self.font_minor = QFont()
        self.font_minor.setPointSizeF(8.5)
        view.scrolled.connect(self.update)
        view.zoom_changed.connect(self.update)

    def paintEvent(self, event: QPaintEvent) -> None:
        scene = self.view.timeline
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#f7f8fa"))
        painter.setPen(QPen(QColor("#c5ccd5"), 1))
        painter.drawLine(0, self.height() - 1, self.width(), self.height() - 1)
        left = self.view.mapToScene(0, 0).x()
        start, end = scene.scale.time(left), scene.scale.time(left + self.width())
        major, minor = ticks(scene.zoom.px_per_day, start, end, scene.hours.zone)
        half = self.height() / 2
        painter.setFont(self.font_minor)
        metrics = QFontMetricsF(self.font_minor)
        for tick in minor:
            x = scene.scale.x(tick.at) - left
            painter.setPen(QPen(QColor("#c5ccd5"), 1))
            painter.drawLine(QPointF(x, half), QPointF(x, self.height()))
            painter.setPen(QColor("#3c4350"))
            painter.drawText(QPointF(x + 3, half + metrics.ascent() + 3), tick.label)
        painter.setFont(self.font_major)
        metrics = QFontMetricsF(self.font_major)
        xs = [scene.scale.x(t.at) - left for t in major]
        for n, tick in enumerate(major):
            x = xs[n]
            next_x = xs[n + 1] if n + 1 < len(xs) else self.width() + 10_000
            painter.setPen(QPen(QColor("#9aa3b0"), 1))
            painter.drawLine(QPointF(x, 0), QPointF(x, self.height()))
            # The current month (or day) stays readable at the left edge until the next one pushes it out.
            text_x = min(max(x, 0) + 4, next_x - metrics.horizontalAdvance(tick.label) - 6)
            painter.setPen(QColor("#1d2129"))
            painter.drawText(QPointF(text_x, metrics.ascent() + 4), tick.label)
        now_x = scene.scale.x(scene.clock()) - left
        if 0 <= now_x <= self.width():
            painter.setPen(QPen(TODAY, 2))
            painter.drawLine(QPointF(now_x, half), QPointF(now_x, self.height()))
        painter.end()


class TimelineWidget(QWidget):
    """The timeline of one rollout with its toolbar, date axis, legend and message line; commits gestures as undo
    commands on the document's stack."""

    phase_selected = Signal(int)
    marker_selected = Signal(str, list)

    def __init__(self, document: WorkspaceDocument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.rollout_id: int | None = None
        self.scene = TimelineScene(self)
        self.view = TimelineView(self.scene)
        self.axis = TimeAxis(self.view)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.hide()
        self.zoom_label = QLabel()
        self.zone_label = QLabel()
        self.zone_label.setStyleSheet("color: #5a6270;")
        self._first_layout = True

        toolbar = QHBoxLayout()
        toolbar.setContentsMargins(0, 0, 0, 0)
        toolbar.setSpacing(4)
        self.zoom_out_button = self._button("−", "Zoom out (Ctrl+wheel down, −)", lambda: self.view.set_zoom(
            self.view.zoom_index + 1))
        self.zoom_in_button = self._button("+", "Zoom in (Ctrl+wheel up, +)", lambda: self.view.set_zoom(
            self.view.zoom_index - 1))
        toolbar.addWidget(self.zoom_out_button)
        toolbar.addWidget(self.zoom_in_button)
        toolbar.addWidget(self.zoom_label)
        toolbar.addSpacing(12)
        toolbar.addWidget(self._button("Today", "Scroll to today", lambda: self.view.scroll_to_time(
            self.scene.clock())))
        toolbar.addWidget(self._button("Selected phase", "Scroll to the selected phase", self.view.scroll_to_selected))
        toolbar.addSpacing(12)
        toolbar.addStretch(1)
        toolbar.addWidget(self.zone_label)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(toolbar)
        self.dates = PhaseDatesPanel()
        layout.addWidget(self.dates)
        layout.addWidget(self.message)
        axis_and_view = QVBoxLayout()
        axis_and_view.setSpacing(0)
        axis_and_view.addWidget(self.axis)
        axis_and_view.addWidget(self.view, 1)
        layout.addLayout(axis_and_view, 1)
        layout.addWidget(legend())

        self.view.reschedule_requested.connect(self.commit)
        self.view.refused.connect(lambda reason: self.show_message(f"Not moved: {reason}", error=True))
        self.view.phase_selected.connect(self.phase_selected)
        self.view.marker_selected.connect(self.marker_selected)
        self.view.zoom_changed.connect(self._show_zoom)
        self.scene.selectionChanged.connect(self._show_selected_dates)
        self.dates.dates_entered.connect(self.set_dates)
        self._show_zoom()

    def _show_selected_dates(self) -> None:
        phase_id = self.view.selected_phase_id()
        bar = self.scene.bars.get(phase_id) if phase_id is not None else None
        self.dates.show_phase(bar.phase if bar is not None else None, self.scene.hours.zone)

    def set_dates(self, phase_id: int, start: dt.datetime, end: dt.datetime, alone: bool) -> None:
        """Typed dates, checked by the same rules as a drag and committed as one undo command."""
        try:
            outcome = self.typed_dates(phase_id, start, end, alone=alone)
        except ScheduleRefused as refused:
            self.show_message(f"Dates not set: {refused}", error=True)
            return
        if outcome.changes:
            self.commit(outcome, "Set the dates of")

    def typed_dates(self, phase_id: int, start: dt.datetime, end: dt.datetime, *, alone: bool = False) -> Reschedule:
        """What typed dates for a phase of this rollout do under the rules of a drag (unless ``alone``, the later
        phases move by as much as its end); ScheduleRefused says why not. The dates panel and the phase table
        both ask this."""
        scene = self.scene
        if phase_id not in scene.bars:
            raise ScheduleRefused("That phase is not in this rollout's plan any more; it was changed elsewhere.")
        return set_dates(scene.planned(phase_id), phase_id, start, end, scene.hours.zone, alone=alone,
                         now=scene.clock())

    def _button(self, text: str, tip: str, slot: Callable[[], None]) -> QToolButton:
        button = QToolButton()
        button.setText(text)
        button.setToolTip(tip)
        button.setAutoRaise(False)
        button.clicked.connect(lambda _checked=False: slot())
        return button

    def _show_zoom(self) -> None:
        zoom = self.scene.zoom
        self.zoom_label.setText(f"{zoom.name.capitalize()} · drag snaps to {zoom.unit.value}s")
        self.zoom_in_button.setEnabled(self.view.zoom_index > 0)
        self.zoom_out_button.setEnabled(self.view.zoom_index < len(ZOOMS) - 1)

    def show_message(self, text: str, *, error: bool = False) -> None:
        color = "#b3261e" if error else "#5a4500"
        self.message.setStyleSheet(f"color: {color}; padding: 2px 4px;")
        self.message.setText(text)
        self.message.setVisible(bool(text))

    def set_rollout(self, rollout_id: int | None) -> None:
        if rollout_id != self.rollout_id:
            self.rollout_id = rollout_id
            self._first_layout = True
            self.show_message("")
        self.reload()

    def reload(self) -> None:
        """Read the rollout again and redraw, keeping the selection and the visible dates."""
        workspace = self.document.workspace
        plan = read_timeline(workspace, self.rollout_id) if workspace and self.rollout_id is not None else None
        selected = self.view.selected_phase_id()
        left = self.view.left_time()
        self.view.cancel_gesture()  # a change from elsewhere (a sync, another window) ends a drag in progress
        self.scene.set_plans([plan] if plan else [])
        self.zone_label.setText(f"Times in {self.scene.hours.timezone} · business hours "
                                f"{self.scene.hours.describe().split(' ', 1)[0]}" if plan else "")
        if plan and plan.hours_problem:
            self.show_message(plan.hours_problem)
        self.view.select_phase(selected, notify=False)
        if self._first_layout and plan and plan.phases:
            # First look: today and the phase at hand when the rollout is under way, else its first phase.
            self._first_layout = False
            # Before it starts or once it is over, the plan is read from its first phase, in both directions.
            now, first = self.scene.clock(), min(plan.phases, key=lambda p: p.start)
            if first.start <= now <= max(p.end for p in plan.phases):
                at_hand = next((p for p in plan.phases if p.end > now), plan.phases[-1])
                self.view.scroll_to_time(now)
            else:
                at_hand = first
                self.view.scroll_to_time(first.start, at=60)
            self.view.verticalScrollBar().setValue(round(self.scene.bars[at_hand.id].row_y - ROW_HEIGHT))
        else:
            self.view.scroll_to_time(left, at=0)
        self.axis.update()

    def commit(self, reschedule: Reschedule, verb: str) -> bool:
        """Push a gesture's outcome as one undo command (the timeline redraws from ``document.changed``); False
        when it was not saved (the reason went to ``document.edit_failed``)."""
        assert self.rollout_id is not None
        self.show_message("")
        rollout_id, zone = self.rollout_id, self.scene.hours.zone
        command = self.document.push(lambda: ReschedulePhases(self.document, rollout_id, reschedule, zone, verb))
        return command is not None

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.axis.update()


def legend() -> QLabel:
    """What the colours and shapes mean: phase status, checklist roles, message channels."""

    def swatch(color: str, symbol: str, name: str) -> str:
        return f"<span style='color:{color}'>{symbol}</span>&nbsp;{name}"

    statuses = " ".join(swatch(STATUS_COLORS[s], "■", n) for s, n in STATUS_NAMES.items())
    roles = " ".join(swatch(ROLE_COLORS[r], "●", n) for r, n in ROLE_NAMES.items())
    channels = " ".join(swatch(CHANNEL_COLORS[c], symbol, CHANNEL_NAMES[c])
                        for c, symbol in ((Channel.EMAIL, "✉"), (Channel.SLACK, "◆"), (Channel.WEBHOOK, "▲")))
    label = QLabel(f"Phases: {statuses} &nbsp;·&nbsp; Checklist due (below a bar): {roles} "
                   f"&nbsp;·&nbsp; Messages (above): {channels} &nbsp;·&nbsp; "
                   f"<span style='color:{WARNING_COLOR}'>▲</span>&nbsp;starts outside business hours "
                   f"&nbsp;·&nbsp; Click a marker (or Ctrl+→ then Enter) to open it in its tab")
    label.setWordWrap(True)
    label.setStyleSheet("color: #3c4350;")
    return label
