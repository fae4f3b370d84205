"""The timeline chart of the PDF, painted with QPainter as vector graphics, tiled so it stays legible.

Text sizes never shrink: the chart keeps its fonts and row height, and a plan that does not fit one page is cut
into tiles. Rows go down in bands of as many phases as a page holds; each band covers only its own phases'
dates, cut into windows of as many days as a page holds at the chosen scale, so a long plan that steps
diagonally through time gives no empty pages. Every tile draws its own date axis and repeats the phase
labels, so each page can be read alone.

Layout works in points (1/72 inch); painting converts to the device's pixels, since fonts are sized by the
device and a scaled painter would scale them twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
import math
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPen, QPolygonF

from launchdesk.export.html import day_text
from launchdesk.export.plan import STATUS_LABELS, ChartPhase
from launchdesk.models import PhaseKind, PhaseStatus
from launchdesk.planning.business_hours import BusinessHours
from launchdesk.planning.labels import PHASE_STATUS_COLORS
from launchdesk.planning.time_axis import SHORT_MONTHS, local_moment, off_hours, ticks

# The timeline tab's colours, so the printed plan looks like the screen.
STATUS_COLORS = PHASE_STATUS_COLORS
TEXT = QColor("#1d2330")
MUTED = QColor("#5a6473")
WARNING = QColor("#b3261e")
TODAY = QColor("#d93025")
MESSAGE = QColor("#6a1b9a")
GRID = QColor("#e2e6eb")
GRID_MAJOR = QColor("#aab3c0")
SHADE = QColor("#eef1f5")
ROW_STRIPE = QColor("#f8f9fb")

LABEL_WIDTH = 200.0  # the phase names on the left of every tile
ROW_HEIGHT = 36.0  # the least; rows grow up to MAX_ROW_HEIGHT when a plan has room on its page
MAX_ROW_HEIGHT = 46.0
BAR_HEIGHT = 13.0
AXIS_HEIGHT = 30.0
CAPTION_HEIGHT = 16.0
LEGEND_HEIGHT = 24.0
MIN_PT_PER_DAY = 6.0  # about 2 mm: below this days blur together, so the chart is tiled instead
MAX_PT_PER_DAY = 60.0  # a short plan is not stretched into week-wide days
NAME_SIZE = 8.0
SMALL_SIZE = 6.5
AXIS_SIZE = 7.0
# The axis labels say as much as the timeline tab's at the same room per day: its thresholds are in screen pixels
# of an 8.5 pt label, and the chart's 7 pt labels need about half as many points.
AXIS_ROOM = 2.0


@dataclass(frozen=True)
class ChartTile:
    """One page of the chart: a band of phase rows over a window of whole local days."""

    first_row: int
    last_row: int  # exclusive
    start: dt.datetime
    end: dt.datetime


class TimelineChart:
    """Lays a plan's phases out on pages of ``area`` (points) and paints one tile at a time."""

    def __init__(self, phases: Sequence[ChartPhase], hours: BusinessHours, now: dt.datetime, area: QRectF,
                 font: QFont) -> None:
        self.phases = list(phases)
        self.hours = hours
        self.zone: ZoneInfo = hours.zone
        self.now = now
        self.area = area
        self.font = font
        self.rows_top = area.top() + CAPTION_HEIGHT + AXIS_HEIGHT
        room = area.bottom() - LEGEND_HEIGHT - self.rows_top
        self.rows_per_tile = max(1, int(room // ROW_HEIGHT))
        self.row_height = min(MAX_ROW_HEIGHT, room / max(1, min(len(self.phases), self.rows_per_tile)))
        self.time_left = area.left() + LABEL_WIDTH
        self.time_width = area.width() - LABEL_WIDTH
        bands = [(i, min(i + self.rows_per_tile, len(self.phases)))
                 for i in range(0, len(self.phases), self.rows_per_tile)]
        spans = [self._band_days(a, b) for a, b in bands]
        longest = max((len(days) for days in spans), default=1)
        self.pt_per_day = min(MAX_PT_PER_DAY, max(MIN_PT_PER_DAY, self.time_width / longest))
        fits = max(1, math.floor(self.time_width / self.pt_per_day + 1e-9))
        self.tiles: list[ChartTile] = []
        for (first, last), days in zip(bands, spans):
            # Windows of even length, so a band is never a full page plus a sliver of a few days.
            days_per_tile = math.ceil(len(days) / math.ceil(len(days) / fits))
            for i in range(0, len(days), days_per_tile):
                window = days[i:i + days_per_tile]
                self.tiles.append(ChartTile(first, last, _midnight(window[0], self.zone),
                                            _midnight(window[-1] + dt.timedelta(days=1), self.zone)))
        if not self.tiles:  # no phases: one page that says so
            today = now.astimezone(self.zone).date()
            self.tiles.append(ChartTile(0, 0, _midnight(today, self.zone),
                                        _midnight(today + dt.timedelta(days=7), self.zone)))

    def _band_days(self, first: int, last: int) -> list[dt.date]:
        """The local days a band of phases needs: a day of room either side of its earliest and latest date."""
        moments = [m for p in self.phases[first:last] for m in _moments(p)]
        start = min(moments).astimezone(self.zone).date() - dt.timedelta(days=1)
        end = max(moments).astimezone(self.zone).date() + dt.timedelta(days=1)
        return [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]

    # --- painting --------------------------------------------------------------------------------------------

    def paint(self, painter: QPainter, tile: ChartTile) -> None:
        """Paint ``tile`` on the current page; the painter works in the device's pixels."""
        _Painter(self, painter, tile).paint()

    def x(self, moment: dt.datetime, tile: ChartTile) -> float:
        return self.time_left + (moment - tile.start).total_seconds() / 86400 * self.pt_per_day

    def caption(self, tile: ChartTile) -> str:
        last_day = (tile.end - dt.timedelta(seconds=1)).astimezone(self.zone).date()
        first_day = tile.start.astimezone(self.zone).date()
        rows = f"phases {tile.first_row + 1}–{tile.last_row} of {len(self.phases)}" if self.phases else "no phases yet"
        return f"{day_text(first_day)} – {day_text(last_day)} · {rows} · times in {self.hours.timezone}"


class _Painter:
    """Paints one tile; every coordinate it is given is in points."""

    def __init__(self, chart: TimelineChart, painter: QPainter, tile: ChartTile) -> None:
        self.chart = chart
        self.p = painter
        self.tile = tile
        self.k = painter.device().logicalDpiX() / 72.0
        self.right = chart.time_left + chart.time_width
        self.row = chart.row_height
        self.bar_top = (self.row - BAR_HEIGHT) / 2  # room above for message marks, below for the actual line
        rows = max(tile.last_row - tile.first_row, 1)
        self.rows_bottom = chart.rows_top + rows * self.row

    # geometry helpers: points in, device pixels out
    def rect(self, x: float, y: float, w: float, h: float) -> QRectF:
        return QRectF(x * self.k, y * self.k, w * self.k, h * self.k)

    def point(self, x: float, y: float) -> QPointF:
        return QPointF(x * self.k, y * self.k)

    def pen(self, color: QColor, width_pt: float, style: Qt.PenStyle = Qt.PenStyle.SolidLine) -> QPen:
        pen = QPen(color, width_pt * self.k, style)
        pen.setCapStyle(Qt.PenCapStyle.FlatCap)
        return pen

    def font(self, size: float, *, bold: bool = False) -> QFont:
        font = QFont(self.chart.font)
        font.setPointSizeF(size)
        font.setBold(bold)
        return font

    def text_width(self, font: QFont, text: str) -> float:
        return QFontMetricsF(font, self.p.device()).horizontalAdvance(text) / self.k

    def elided(self, font: QFont, text: str, width: float) -> str:
        return QFontMetricsF(font, self.p.device()).elidedText(text, Qt.TextElideMode.ElideRight, width * self.k)

    def text(self, x: float, y: float, w: float, h: float, text: str, font: QFont, color: QColor,
             align: Qt.AlignmentFlag = Qt.AlignmentFlag.AlignLeft) -> None:
        self.p.setFont(font)
        self.p.setPen(color)
        self.p.drawText(self.rect(x, y, w, h), int(align | Qt.AlignmentFlag.AlignVCenter), text)

    def line(self, x1: float, y1: float, x2: float, y2: float) -> None:
        self.p.drawLine(self.point(x1, y1), self.point(x2, y2))

    # the tile
    def paint(self) -> None:
        self.p.save()
        self.p.setRenderHint(QPainter.RenderHint.Antialiasing)
        chart = self.chart
        area = chart.area
        self.text(area.left(), area.top(), area.width(), CAPTION_HEIGHT - 4, chart.caption(self.tile),
                  self.font(AXIS_SIZE), MUTED)
        self.p.save()
        self.p.setClipRect(self.rect(chart.time_left, area.top() + CAPTION_HEIGHT, chart.time_width,
                                     self.rows_bottom - area.top() - CAPTION_HEIGHT))
        self.shading()
        self.axis()
        self.p.restore()
        for row in range(self.tile.first_row, self.tile.last_row):
            self.phase_row(row)
        self.today()
        self.frame()
        self.legend()
        if not chart.phases:
            self.text(chart.time_left, chart.rows_top, chart.time_width, self.row,
                      "This rollout has no phases yet.", self.font(NAME_SIZE), MUTED)
        self.p.restore()

    def shading(self) -> None:
        chart, top = self.chart, self.chart.rows_top
        self.p.setPen(Qt.PenStyle.NoPen)
        for index in range(self.tile.first_row, self.tile.last_row):
            if index % 2:
                y = top + (index - self.tile.first_row) * self.row
                self.p.fillRect(self.rect(chart.time_left, y, chart.time_width, self.row), ROW_STRIPE)
        last = self.tile.end - dt.timedelta(seconds=1)  # the tile ends at a midnight: that day is not on it
        for since, until, _ in off_hours(chart.hours, self.tile.start, last, within_days=False):
            x0, x1 = chart.x(since, self.tile), chart.x(until, self.tile)
            self.p.fillRect(self.rect(x0, top, x1 - x0, self.rows_bottom - top), SHADE)

    def axis(self) -> None:
        chart, tile = self.chart, self.tile
        top = chart.area.top() + CAPTION_HEIGHT
        mid = top + AXIS_HEIGHT / 2
        small, bold = self.font(AXIS_SIZE), self.font(AXIS_SIZE, bold=True)
        end = tile.end - dt.timedelta(seconds=1)  # the tile ends at a midnight: that day is not on it
        major, minor = ticks(chart.pt_per_day * AXIS_ROOM, tile.start, end, chart.zone)
        step = (minor[1].at - minor[0].at).total_seconds() / 86400 if len(minor) > 1 else 7.0
        for tick in minor:
            x = chart.x(tick.at, tile)
            self.p.setPen(self.pen(GRID, 0.3))
            self.line(x, mid, x, self.rows_bottom)
            self.text(x + 1.5, mid, step * chart.pt_per_day - 1.5, AXIS_HEIGHT / 2, tick.label, small, MUTED)
        # Month starts cross the month row and the phase rows, over the day lines.
        for tick in major:
            x = chart.x(tick.at, tile)
            if tick.at.astimezone(chart.zone).day == 1:
                self.p.setPen(self.pen(GRID_MAJOR, 0.6))
                self.line(x, top, x, mid)
                self.line(x, chart.rows_top, x, self.rows_bottom)
            self.text(x + 2, top, max(self.text_width(bold, tick.label) + 4, 10), AXIS_HEIGHT / 2, tick.label, bold,
                      TEXT)
        self.p.setPen(self.pen(GRID_MAJOR, 0.6))
        self.line(chart.time_left, mid, self.right, mid)

    def phase_row(self, index: int) -> None:
        """The phase's label on the left (name on up to two lines, then percentage, status and dates), its bar."""
        chart, phase = self.chart, self.chart.phases[index]
        top = chart.rows_top + (index - self.tile.first_row) * self.row
        left = chart.area.left() + 3
        name_font, small = self.font(NAME_SIZE, bold=True), self.font(SMALL_SIZE)
        width = LABEL_WIDTH - 8
        lines = self.wrapped(name_font, phase.name, width, 2)
        dates = f"{_short_day(phase.start, chart.zone)} – {_short_day(phase.end, chart.zone)}"
        # A name on two lines usually names its cohort already: the cohort gives way to the dates.
        notes = [_details(phase), dates] if len(lines) == 1 else [f"{_bar_label(phase)} · {dates}"]
        if phase.start_warning:
            notes[-1] = f"{notes[-1]} · ⚠ {phase.start_warning}"
        y = top + (self.row - len(lines) * 10 - len(notes) * 9) / 2
        for line in lines:
            self.text(left, y, width, 10, line, name_font, TEXT)
            y += 10
        for n, note in enumerate(notes):
            warn = phase.start_warning is not None and n == len(notes) - 1
            self.text(left, y, width, 9, self.elided(small, note, width), small, WARNING if warn else MUTED)
            y += 9
        self.p.setPen(self.pen(GRID, 0.3))
        self.line(chart.area.left(), top + self.row, self.right, top + self.row)
        self.bar(phase, top)

    def wrapped(self, font: QFont, text: str, width: float, most: int) -> list[str]:
        """``text`` broken into lines of ``width`` at spaces, at most ``most`` lines, the last one elided."""
        words, lines = text.split(), []
        while words and len(lines) < most:
            line = words.pop(0)
            while words and self.text_width(font, f"{line} {words[0]}") <= width:
                line = f"{line} {words.pop(0)}"
            lines.append(line)
        if words:
            lines[-1] = self.elided(font, f"{lines[-1]} {' '.join(words)}", width)
        return [self.elided(font, line, width) for line in lines] or [""]

    def bar(self, phase: ChartPhase, top: float) -> None:
        chart, tile = self.chart, self.tile
        small = self.font(SMALL_SIZE)
        bar_top = top + self.bar_top
        if phase.end <= tile.start:
            self.text(chart.time_left + 3, bar_top, chart.time_width - 6, BAR_HEIGHT,
                      f"◂ {_bar_label(phase)}, ended {_short_day(phase.end, chart.zone)}", small, MUTED)
            return
        if phase.start >= tile.end:
            self.text(chart.time_left + 3, bar_top, chart.time_width - 6, BAR_HEIGHT,
                      f"{_bar_label(phase)}, starts {_short_day(phase.start, chart.zone)} ▸", small, MUTED,
                      Qt.AlignmentFlag.AlignRight)
            return
        x1 = max(chart.x(phase.start, tile), chart.time_left)
        x2 = min(chart.x(phase.end, tile), self.right)
        x2 = max(x2, x1 + 1.5)  # a phase of an hour is still a visible mark
        color = QColor(STATUS_COLORS[phase.status])
        self.p.setPen(Qt.PenStyle.NoPen)
        self.p.setBrush(QBrush(color))
        self.p.drawRoundedRect(self.rect(x1, bar_top, x2 - x1, BAR_HEIGHT), 2 * self.k, 2 * self.k)
        mid = bar_top + BAR_HEIGHT / 2
        if phase.start < tile.start:
            self.arrow(x1 + 4, mid, -1, QColor("white"))
        if phase.end > tile.end:
            self.arrow(x2 - 4, mid, 1, QColor("white"))
        label = _bar_label(phase)
        needed = self.text_width(small, label) + 8
        if needed <= x2 - x1 - 10:
            self.text(x1 + 5, bar_top, x2 - x1 - 10, BAR_HEIGHT, label, small, QColor("white"))
        elif x2 + needed <= self.right:
            self.text(x2 + 3, bar_top, needed, BAR_HEIGHT, label, small, TEXT)
        self.actual(phase, top)
        for message in phase.messages:
            if tile.start <= message.at < tile.end:
                self.diamond(chart.x(message.at, tile), bar_top - 4)

    def actual(self, phase: ChartPhase, top: float) -> None:
        """What really happened: a dark line under the bar from the actual start to the actual end (or now)."""
        if phase.actual_start is None:
            return
        end = phase.actual_end or (self.chart.now if phase.status == PhaseStatus.LIVE else phase.actual_start)
        x1 = max(self.chart.x(phase.actual_start, self.tile), self.chart.time_left)
        x2 = min(self.chart.x(end, self.tile), self.right)
        if x2 <= x1:
            return
        y = top + self.bar_top + BAR_HEIGHT + 2.5
        self.p.setPen(self.pen(TEXT, 1.6))
        self.line(x1, y, x2, y)

    def arrow(self, x: float, y: float, direction: int, color: QColor) -> None:
        """A small triangle at a bar's cut end: the phase goes on beyond this page."""
        self.p.setPen(Qt.PenStyle.NoPen)
        self.p.setBrush(color)
        tip = x + 2.5 * direction
        self.p.drawPolygon(QPolygonF([self.point(tip, y), self.point(x - 2 * direction, y - 3),
                                      self.point(x - 2 * direction, y + 3)]))

    def diamond(self, x: float, y: float) -> None:
        self.p.setPen(self.pen(QColor("white"), 0.5))
        self.p.setBrush(MESSAGE)
        r = 3.2
        self.p.drawPolygon(QPolygonF([self.point(x, y - r), self.point(x + r, y), self.point(x, y + r),
                                      self.point(x - r, y)]))

    def today(self) -> None:
        """A red line at the export's moment, labelled below the rows where it hides no date or bar."""
        chart, tile = self.chart, self.tile
        if not (tile.start <= chart.now < tile.end):
            return
        x = chart.x(chart.now, tile)
        self.p.setPen(self.pen(TODAY, 0.9))
        self.line(x, chart.area.top() + CAPTION_HEIGHT + AXIS_HEIGHT / 2, x, self.rows_bottom + 2)
        small = self.font(SMALL_SIZE, bold=True)
        width = self.text_width(small, "Today") + 4
        self.text(x - width / 2, self.rows_bottom + 2, width, 9, "Today", small, TODAY, Qt.AlignmentFlag.AlignHCenter)

    def frame(self) -> None:
        chart = self.chart
        top = chart.area.top() + CAPTION_HEIGHT
        self.p.setPen(self.pen(GRID_MAJOR, 0.6))
        self.p.setBrush(Qt.BrushStyle.NoBrush)
        self.p.drawRect(self.rect(chart.area.left(), top, chart.area.width(), self.rows_bottom - top))
        self.line(chart.time_left, top, chart.time_left, self.rows_bottom)

    def legend(self) -> None:
        chart = self.chart
        y = self.rows_bottom + 12
        x = chart.area.left()
        small = self.font(SMALL_SIZE)
        statuses = [s for s in STATUS_COLORS if any(p.status == s for p in chart.phases)]
        for status in statuses:
            self.p.setPen(Qt.PenStyle.NoPen)
            self.p.setBrush(QColor(STATUS_COLORS[status]))
            self.p.drawRoundedRect(self.rect(x, y + 2, 14, 7), self.k, self.k)
            label = STATUS_LABELS[status]
            self.text(x + 17, y, self.text_width(small, label) + 2, 11, label, small, TEXT)
            x += 17 + self.text_width(small, label) + 10
        self.p.setPen(self.pen(TEXT, 1.6))
        self.line(x, y + 5.5, x + 14, y + 5.5)
        x = self.legend_text(x + 17, y, "actual dates", small)
        self.diamond(x + 3, y + 5.5)
        x = self.legend_text(x + 9, y, "message sent", small)
        self.p.setPen(Qt.PenStyle.NoPen)
        self.p.fillRect(self.rect(x, y + 1, 14, 9), SHADE)
        x = self.legend_text(x + 17, y, "not a business day", small)
        self.p.setPen(self.pen(TODAY, 0.9))
        self.line(x + 7, y, x + 7, y + 11)
        self.legend_text(x + 11, y, "today", small)

    def legend_text(self, x: float, y: float, label: str, font: QFont) -> float:
        width = self.text_width(font, label)
        self.text(x, y, width + 2, 11, label, font, TEXT)
        return x + width + 12


def _moments(phase: ChartPhase) -> list[dt.datetime]:
    moments = [phase.start, phase.end, *(m.at for m in phase.messages)]
    moments += [m for m in (phase.actual_start, phase.actual_end) if m is not None]
    return moments


def _midnight(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    return local_moment(day, 0, zone)


def _short_day(moment: dt.datetime, zone: ZoneInfo) -> str:
    local = moment.astimezone(zone)
    return f"{local.day} {SHORT_MONTHS[local.month - 1]} {local:%H:%M}" if local.time() != dt.time() \
        else f"{local.day} {SHORT_MONTHS[local.month - 1]}"


def _details(phase: ChartPhase) -> str:
    if phase.kind == PhaseKind.PREPARATION:
        return f"Preparation · {phase.status_label}"
    parts = [phase.cohort] if phase.cohort and phase.cohort.lower() not in phase.name.lower() else []
    if phase.target_percentage is not None:
        parts.append(f"{phase.target_percentage:g}%")
    parts.append(phase.status_label)
    return " · ".join(parts)


def _bar_label(phase: ChartPhase) -> str:
    if phase.target_percentage is None or phase.kind == PhaseKind.PREPARATION:
        return phase.status_label
    return f"{phase.target_percentage:g}% · {phase.status_label}"

