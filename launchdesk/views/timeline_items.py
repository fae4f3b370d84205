"""The timeline's graphics items: a bar per phase, its message and checklist markers, badges and the drag preview.

Items only draw what they are given; they never read the database. Markers are children of their phase's bar,
placed by their offset from the phase start, so they travel with the bar while it is dragged, as the stored
offsets make them do once the move is saved.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPen, QPolygonF
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from launchdesk.models import Channel, GateOutcome, MessageState, PhaseKind, Role
from launchdesk.views.timeline_model import ChecklistDue, ScheduledMessage, TimelinePhase
from launchdesk.planning.labels import PHASE_STATUS_COLORS, PHASE_STATUS_LABELS

ROW_HEIGHT = 50.0
MESSAGE_LANE = 8.0  # centre of the message markers, from the row's top
BAR_TOP = 15.0
BAR_HEIGHT = 22.0
CHECKLIST_LANE = 43.5  # centre of the checklist markers
MARKER_SIZE = 11.0
EDGE_GRIP = 6.0  # pixels at either end of a bar that resize instead of move
LABEL_PAD = 6.0
LABEL_REPEAT = 900.0  # pixels between repeated labels on a long bar

STATUS_COLORS = PHASE_STATUS_COLORS
STATUS_NAMES = PHASE_STATUS_LABELS
ROLE_COLORS: dict[Role, str] = {
    Role.PMM: "#7b3fa0",
    Role.ENGINEERING: "#1f6fb2",
    Role.SUPPORT: "#d2691e",
    Role.CS: "#2e8b57",
    Role.SALES: "#c2185b",
    Role.MARKETING: "#b8a000",
}
ROLE_NAMES: dict[Role, str] = {
    Role.PMM: "PMM",
    Role.ENGINEERING: "Engineering",
    Role.SUPPORT: "Support",
    Role.CS: "Customer success",
    Role.SALES: "Sales",
    Role.MARKETING: "Marketing",
}
CHANNEL_COLORS: dict[Channel, str] = {Channel.EMAIL: "#1565c0", Channel.SLACK: "#6a1b9a", Channel.WEBHOOK: "#00796b"}
CHANNEL_NAMES: dict[Channel, str] = {Channel.EMAIL: "E-mail", Channel.SLACK: "Slack", Channel.WEBHOOK: "Webhook"}
OUTCOME_COLORS: dict[GateOutcome, str] = {
    GateOutcome.PASS: "#1b7f3b",
    GateOutcome.FAIL: "#b3261e",
    GateOutcome.INCONCLUSIVE: "#b57a00",
}
REFUSED_COLOR = "#b3261e"
WARNING_COLOR = "#e0a000"


def offset_words(minutes: int) -> str:
    """An offset from the phase start as people say it: "48 h before", "at the start", "2 h after"."""
    if minutes == 0:
        return "at the start"
    hours, rest = divmod(abs(minutes), 60)
    amount = f"{hours} h" + (f" {rest} min" if rest else "") if hours else f"{rest} min"
    return f"{amount} {'before' if minutes < 0 else 'after'}"


class PhaseBar(QGraphicsItem):
    """One phase: a rounded bar from its start to its end, coloured by status, labelled with cohort and target %.

    The label sits inside the bar when it fits, else just after it (each phase has its own row, so nothing else
    is there). While a gesture drags the bar, ``snap`` turns a proposed position into an allowed one; Qt asks for
    it in :meth:`itemChange`.
    """

    def __init__(self, phase: TimelinePhase, x: float, width: float, row_y: float, font: QFont) -> None:
        super().__init__()
        self.phase = phase
        self.width = max(width, 2.0)
        self.row_y = row_y
        self.font = font
        self.metrics = QFontMetricsF(font)
        self.snap: Callable[[QPointF], QPointF] | None = None
        self.refused = False  # drawn with a red outline while a gesture on it is refused
        self.warning: str | None = None
        self.gate_outcome: GateOutcome | None = None
        self._label = phase.label
        self._label_width = self.metrics.horizontalAdvance(self._label)
        color = QColor(STATUS_COLORS[phase.status])
        preparation = phase.kind == PhaseKind.PREPARATION
        self._fill = QBrush(color.lighter(175) if preparation else color)
        self._border = QPen(color.darker(130), 1.0)
        self._text_inside = QColor("#1d1d1d") if preparation else QColor("#ffffff")
        self._text_outside = QColor("#1d1d1d")
        self._update_bounds()
        self.setFlags(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable
                      | QGraphicsItem.GraphicsItemFlag.ItemIsFocusable
                      | QGraphicsItem.GraphicsItemFlag.ItemSendsGeometryChanges)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.setAcceptHoverEvents(True)
        self.setPos(x, row_y + BAR_TOP)
        self.setZValue(1)
        self.badge = WarningBadge(self)
        self.badge.setVisible(False)

    # --- geometry --------------------------------------------------------------------------------------------
    @property
    def label_inside(self) -> bool:
        return self._label_width + 2 * LABEL_PAD <= self.width

    def boundingRect(self) -> QRectF:
        return self._bounds  # Qt asks many times per mouse move; computed when the geometry changes

    def _update_bounds(self) -> None:
        extra = 0.0 if self.label_inside else LABEL_PAD + self._label_width + 2
        gate = 0.0 if self.gate_outcome is None else 14.0
        self._bounds = QRectF(-2, -2, self.width + extra + gate + 4, BAR_HEIGHT + 4)

    def shape(self) -> QPainterPath:  # only the bar itself takes clicks, not the label beside it
        path = QPainterPath()
        path.addRect(QRectF(0, 0, self.width, BAR_HEIGHT))
        return path

    def set_span(self, x: float, width: float) -> None:
        """Put the bar at ``x`` with ``width`` (the preview and the layout both use this)."""
        width = max(width, 2.0)
        if width != self.width:
            self.prepareGeometryChange()
            self.width = width
            self._update_bounds()
        snap, self.snap = self.snap, None  # an exact position from the rules needs no snapping
        self.setPos(x, self.row_y + BAR_TOP)
        self.snap = snap

    def edge_at(self, scene_x: float) -> str | None:
        """"start" or "end" when ``scene_x`` is on a resize grip of this bar, else None."""
        local = scene_x - self.pos().x()
        grip = min(EDGE_GRIP, self.width / 4)
        if local <= grip:
            return "start"
        if local >= self.width - grip:
            return "end"
        return None

    def itemChange(self, change: QGraphicsItem.GraphicsItemChange, value: Any) -> Any:
        if change == QGraphicsItem.GraphicsItemChange.ItemPositionChange and self.snap is not None:
            return self.snap(value)  # return the adjusted point; never setPos here
        return super().itemChange(change, value)

    # --- state shown -------------------------------------------------------------------------------------
    def set_refused(self, refused: bool) -> None:
        if refused != self.refused:
            self.refused = refused
            self.update()

    def set_warning(self, warning: str | None) -> None:
        if warning != self.warning:
            self.warning = warning
            self.badge.setVisible(warning is not None)
            self.badge.setToolTip(warning or "")

    def set_gate_outcome(self, outcome: GateOutcome | None) -> None:
        self.prepareGeometryChange()
        self.gate_outcome = outcome
        self._update_bounds()

    # --- painting --------------------------------------------------------------------------------------------
    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        bar = QRectF(0, 0, self.width, BAR_HEIGHT)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(self._border)
        painter.setBrush(self._fill)
        painter.drawRoundedRect(bar, 4, 4)
        if self.isSelected():
            painter.setPen(QPen(QColor("#101010"), 2.0))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(bar.adjusted(-1, -1, 1, 1), 5, 5)
        if self.refused:
            painter.setPen(QPen(QColor(REFUSED_COLOR), 2.0))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(bar.adjusted(-1, -1, 1, 1), 5, 5)
        painter.setFont(self.font)
        align = Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft
        if self.label_inside:
            painter.setPen(self._text_inside)
            # Zoomed in to hours a bar is wider than the view: repeat the label so one is always in sight.
            x = LABEL_PAD
            while True:
                painter.drawText(QRectF(x, 0, self._label_width + 2, BAR_HEIGHT), align, self._label)
                x += LABEL_REPEAT
                if x + self._label_width + LABEL_PAD > self.width:
                    break
        else:
            painter.setPen(self._text_outside)
            painter.drawText(QRectF(self.width + LABEL_PAD, 0, self._label_width + 2, BAR_HEIGHT), align,
                             self._label)
        if self.gate_outcome is not None:
            x = self.width + (LABEL_PAD + self._label_width + 8 if not self.label_inside else 8)
            painter.setPen(QPen(QColor("#ffffff"), 1.5))
            painter.setBrush(QColor(OUTCOME_COLORS[self.gate_outcome]))
            painter.drawEllipse(QPointF(x, BAR_HEIGHT / 2), 5, 5)


class WarningBadge(QGraphicsItem):
    """An amber triangle left of a bar whose start falls outside business hours; its tooltip says why."""

    SIZE = 14.0

    def __init__(self, parent: PhaseBar) -> None:
        super().__init__(parent)
        self.setPos(-self.SIZE - 3, (BAR_HEIGHT - self.SIZE) / 2)
        self.setZValue(2)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)

    BOUNDS = QRectF(0, 0, SIZE, SIZE)

    def boundingRect(self) -> QRectF:
        return self.BOUNDS

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        s = self.SIZE
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(QColor("#6b4e00"), 1.0))
        painter.setBrush(QColor(WARNING_COLOR))
        painter.drawPolygon(QPolygonF([QPointF(s / 2, 0.5), QPointF(s - 0.5, s - 0.5), QPointF(0.5, s - 0.5)]))
        painter.setPen(QPen(QColor("#1d1d1d"), 1.6))
        painter.drawLine(QPointF(s / 2, 4.5), QPointF(s / 2, s - 5))
        painter.drawPoint(QPointF(s / 2, s - 3))


OPEN_HINT = "Click (or Enter) to open it in {tab}"


class Marker(QGraphicsItem):
    """A marker on a phase's row; subclasses draw it. Clicking opens its rows in their tab (the view says so with
    ``marker_selected``); hovering shows what it is."""

    kind = ""

    def __init__(self, bar: PhaseBar, offset_x: float, lane_y: float) -> None:
        super().__init__(bar)
        self.setPos(offset_x, lane_y - BAR_TOP)
        self.setFlags(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)  # a drag moves it without repainting
        self.setAcceptHoverEvents(True)
        self.setZValue(3)
        self.hovered = False

    @property
    def ids(self) -> list[int]:
        raise NotImplementedError

    BOUNDS = QRectF(-MARKER_SIZE / 2 - 3, -MARKER_SIZE / 2 - 3, MARKER_SIZE + 6, MARKER_SIZE + 6)

    def boundingRect(self) -> QRectF:
        return self.BOUNDS

    def hoverEnterEvent(self, event: Any) -> None:
        self.hovered = True
        self.update()
        super().hoverEnterEvent(event)

    def hoverLeaveEvent(self, event: Any) -> None:
        self.hovered = False
        self.update()
        super().hoverLeaveEvent(event)

    def _radius(self) -> float:
        return MARKER_SIZE / 2 + (1.5 if self.hovered or self.isSelected() else 0)


class ChecklistMarker(Marker):
    """The checklist items of one phase due at the same moment: a dot split into one slice per role."""

    kind = "checklist_item"

    def __init__(self, bar: PhaseBar, offset_x: float, items: Sequence[ChecklistDue], due_text: str) -> None:
        super().__init__(bar, offset_x, CHECKLIST_LANE)
        self.items = tuple(items)
        roles = sorted({i.role for i in items}, key=list(Role).index)
        self._slices = [(QColor(ROLE_COLORS[r]), all(i.done for i in items if i.role == r)) for r in roles]
        lines = [f"Checklist due {due_text} ({offset_words(items[0].offset_minutes)} {bar.phase.name})"]
        lines += [f"{'✓' if i.done else '•'} {ROLE_NAMES[i.role]}: {i.title}" for i in items]
        lines.append(OPEN_HINT.format(tab="Checklists"))
        self.setToolTip("\n".join(lines))

    @property
    def ids(self) -> list[int]:
        return [i.id for i in self.items]

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        r = self._radius()
        rect = QRectF(-r, -r, 2 * r, 2 * r)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        span = 360 * 16 / len(self._slices)
        for n, (color, done) in enumerate(self._slices):
            painter.setBrush(color.lighter(160) if done else color)
            painter.drawPie(rect, round(90 * 16 - n * span), -round(span))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(QColor("#101010"), 1.5) if self.isSelected() else QPen(QColor("#ffffff"), 1.0))
        painter.drawEllipse(rect)


class MessageMarker(Marker):
    """A message scheduled for its phase: an envelope for e-mail, a diamond for Slack, a triangle for a webhook."""

    kind = "message"

    def __init__(self, bar: PhaseBar, offset_x: float, message: ScheduledMessage, send_text: str) -> None:
        super().__init__(bar, offset_x, MESSAGE_LANE)
        self.message = message
        self._color = QColor(CHANNEL_COLORS[message.channel])
        if message.state in (MessageState.DRAFT, MessageState.IN_REVIEW):
            self._color = self._color.lighter(150)  # not approved yet: paler
        self.setToolTip(
            f"{CHANNEL_NAMES[message.channel]} “{message.name}”\nSends {send_text} "
            f"({offset_words(message.offset_minutes)} {bar.phase.name}) · {message.state.value.replace('_', ' ')}\n"
            + OPEN_HINT.format(tab="Messages")
        )

    @property
    def ids(self) -> list[int]:
        return [self.message.id]

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        r = self._radius()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(QColor("#101010"), 1.5) if self.isSelected() else QPen(self._color.darker(140), 1.0))
        painter.setBrush(self._color)
        channel = self.message.channel
        if channel == Channel.EMAIL:
            body = QRectF(-r, -r * 0.72, 2 * r, 1.44 * r)
            painter.drawRect(body)
            painter.setPen(QPen(QColor("#ffffff"), 1.0))
            painter.drawPolyline(QPolygonF([body.topLeft() + QPointF(1, 1), QPointF(0, 0.5),
                                            body.topRight() + QPointF(-1, 1)]))
        elif channel == Channel.SLACK:
            painter.drawPolygon(QPolygonF([QPointF(0, -r), QPointF(r, 0), QPointF(0, r), QPointF(-r, 0)]))
        else:
            painter.drawPolygon(QPolygonF([QPointF(0, -r), QPointF(r, r * 0.8), QPointF(-r, r * 0.8)]))


class PreviewLabel(QGraphicsItem):
    """The floating text of a drag: the new dates and what else moves, or, in red, why the move is refused."""

    def __init__(self, font: QFont) -> None:
        super().__init__()
        self.font = font
        self.metrics = QFontMetricsF(font)
        self.text = ""
        self.refused = False
        self._lines: list[str] = []
        self._max_width = 0.0
        self._size = QRectF()
        self.setZValue(10)
        self.setVisible(False)

    def show_text(self, text: str, refused: bool, max_width: float) -> None:
        """Show ``text``, its lines wrapped at word boundaries to ``max_width`` pixels."""
        if text != self.text or refused != self.refused or max_width != self._max_width:
            self.prepareGeometryChange()
            self.text, self.refused, self._max_width = text, refused, max_width
            self._lines = [wrapped for line in text.split("\n") for wrapped in self._wrap(line, max_width - 16)]
            width = max(self.metrics.horizontalAdvance(line) for line in self._lines)
            self._size = QRectF(0, 0, math.ceil(width) + 16, len(self._lines) * self.metrics.lineSpacing() + 8)
        self.setVisible(True)

    def _wrap(self, line: str, width: float) -> list[str]:
        if self.metrics.horizontalAdvance(line) <= width:
            return [line]
        lines, current = [], ""
        for word in line.split(" "):
            candidate = f"{current} {word}" if current else word
            if current and self.metrics.horizontalAdvance(candidate) > width:
                lines.append(current)
                current = word
            else:
                current = candidate
        return lines + [current]

    def boundingRect(self) -> QRectF:
        return self._size

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        # Repainted on every snapped mouse move: plain rectangle, one drawText per line, no layout work.
        color = QColor(REFUSED_COLOR) if self.refused else QColor("#202630")
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        painter.setPen(QPen(color, 0))
        painter.setBrush(QColor("#fff4f2") if self.refused else QColor("#ffffff"))
        painter.drawRect(self._size.adjusted(0, 0, -1, -1))
        painter.setFont(self.font)
        line_height = self.metrics.lineSpacing()
        for n, line in enumerate(self._lines):
            painter.drawText(QPointF(8, 4 + self.metrics.ascent() + n * line_height), line)
