"""A gate's recent history as a sparkline: its values over time, the limit as a dashed line, misses marked."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from launchdesk.models import GateOutcome

LINE_COLOR = "#3b6ea5"
LIMIT_COLOR = "#8c8c8c"
OUTCOME_DOT_COLORS = {GateOutcome.PASS: "#1b7f3b", GateOutcome.FAIL: "#b3261e", GateOutcome.INCONCLUSIVE: "#b08900"}


@dataclass(frozen=True)
class SparkPoint:
    """One stored evaluation: when, the value (None: no value then) and the outcome it got."""

    at: dt.datetime
    value: float | None
    outcome: GateOutcome


class Sparkline(QWidget):
    """Paints the points it is given; a gap in the values (None) is a gap in the line."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.points: list[SparkPoint] = []
        self.limit: float | None = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)

    def set_history(self, points: Sequence[SparkPoint], limit: float | None) -> None:
        self.points = sorted(points, key=lambda p: p.at)
        self.limit = limit if limit is not None and math.isfinite(limit) else None
        values = [p.value for p in self.points if p.value is not None and math.isfinite(p.value)]
        if values:
            self.setToolTip(f"{len(self.points)} evaluations since {self.points[0].at.astimezone():%Y-%m-%d %H:%M}: "
                            f"lowest {min(values):.4g}, highest {max(values):.4g}"
                            + (f"; the dashed line is the limit ({self.limit:.4g})" if self.limit is not None else ""))
        else:
            self.setToolTip("No values stored yet.")
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(140, 26)

    def minimumSizeHint(self) -> QSize:
        return QSize(60, 18)

    def paintEvent(self, event: QPaintEvent) -> None:
        finite = [p.value for p in self.points if p.value is not None and math.isfinite(p.value)]
        if not finite:
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        area = QRectF(self.rect()).adjusted(3, 3, -3, -3)
        low, high = min(finite), max(finite)
        if self.limit is not None:
            low, high = min(low, self.limit), max(high, self.limit)
        if high == low:  # a flat line sits in the middle
            low, high = low - 1, high + 1
        first, last = self.points[0].at, self.points[-1].at
        span = (last - first).total_seconds() or 1.0

        def x_of(at: dt.datetime) -> float:
            if len(self.points) == 1:
                return area.center().x()
            return area.left() + area.width() * (at - first).total_seconds() / span

        def y_of(value: float) -> float:
            if math.isinf(value):  # +Inf latency: pinned to the edge, never off the widget
                return area.top() if value > 0 else area.bottom()
            return area.bottom() - area.height() * (value - low) / (high - low)

        if self.limit is not None:
            pen = QPen(QColor(LIMIT_COLOR), 1, Qt.PenStyle.DashLine)
            painter.setPen(pen)
            y = y_of(self.limit)
            painter.drawLine(QPointF(area.left(), y), QPointF(area.right(), y))

        path = QPainterPath()
        drawing = False
        for point in self.points:
            if point.value is None or math.isnan(point.value):
                drawing = False
                continue
            where = QPointF(x_of(point.at), y_of(point.value))
            if drawing:
                path.lineTo(where)
            else:
                path.moveTo(where)
                drawing = True
        painter.setPen(QPen(QColor(LINE_COLOR), 1.5))
        painter.drawPath(path)

        # Failed evaluations as red dots, and the newest value as a dot in its outcome's colour.
        painter.setPen(Qt.PenStyle.NoPen)
        valued = [p for p in self.points if p.value is not None and not math.isnan(p.value)]
        for point in valued:
            if point.outcome == GateOutcome.FAIL:
                painter.setBrush(QColor(OUTCOME_DOT_COLORS[GateOutcome.FAIL]))
                painter.drawEllipse(QPointF(x_of(point.at), y_of(point.value)), 2.0, 2.0)  # type: ignore[arg-type]
        newest = valued[-1]
        painter.setBrush(QColor(OUTCOME_DOT_COLORS[newest.outcome]))
        painter.drawEllipse(QPointF(x_of(newest.at), y_of(newest.value)), 3.0, 3.0)  # type: ignore[arg-type]
        painter.end()
