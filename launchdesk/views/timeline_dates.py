"""Typed dates for the phase selected on the timeline: start and end on the team's clock, ripple or alone.

The panel only collects the dates; the timeline checks them with the same rules as a drag
(planning.schedule.set_dates) and commits them as one undo command, or shows why not.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from PySide6.QtCore import QDate, QDateTime, QTime, QTimeZone, Signal
from PySide6.QtWidgets import QCheckBox, QDateTimeEdit, QHBoxLayout, QLabel, QPushButton, QWidget

from launchdesk.views.timeline_model import TimelinePhase

FORMAT = "yyyy-MM-dd HH:mm"


def to_wall_clock(moment: dt.datetime, zone: ZoneInfo) -> QDateTime:
    """The team's wall-clock time of ``moment``, as fields the editor shows whatever the machine's time zone."""
    local = moment.astimezone(zone)
    return QDateTime(QDate(local.year, local.month, local.day), QTime(local.hour, local.minute),
                     QTimeZone.utc())


def from_wall_clock(value: QDateTime, zone: ZoneInfo) -> dt.datetime:
    """The aware UTC moment the editor's fields mean on the team's clock."""
    date, time = value.date(), value.time()
    local = dt.datetime(date.year(), date.month(), date.day(), time.hour(), time.minute(), tzinfo=zone)
    return local.astimezone(dt.timezone.utc)


class PhaseDatesPanel(QWidget):
    """Start, end, "later phases follow" and a button, for one phase."""

    dates_entered = Signal(int, object, object, bool)  # phase id, start, end (aware UTC), alone

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.phase: TimelinePhase | None = None
        self.zone = ZoneInfo("UTC")
        self.title = QLabel()
        self.start = QDateTimeEdit()
        self.end = QDateTimeEdit()
        for edit in (self.start, self.end):
            edit.setDisplayFormat(FORMAT)
            edit.setCalendarPopup(True)
            edit.setTimeZone(QTimeZone.utc())  # the fields are the team's wall clock; see to_wall_clock
        self.follow = QCheckBox("Later phases follow")
        self.follow.setChecked(True)
        self.follow.setToolTip("Move the later phases by as much as the end moves, keeping their gaps")
        self.apply = QPushButton("Set dates")
        self.apply.clicked.connect(self._enter)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self.title)
        self._editors = [QLabel("Start"), self.start, QLabel("End"), self.end, self.follow, self.apply]
        for widget in self._editors:
            layout.addWidget(widget)
        layout.addStretch(1)
        self.setMinimumHeight(self.start.sizeHint().height())
        self.show_phase(None, self.zone)

    def show_phase(self, phase: TimelinePhase | None, zone: ZoneInfo) -> None:
        self.phase, self.zone = phase, zone
        for widget in self._editors:
            widget.setVisible(phase is not None)  # the row keeps its height: the title stays
        if phase is None:
            self.title.setText("Click a bar to select its phase: drag it, use ←/→, or type its dates here.")
            return
        self.title.setText(f"<b>{phase.name}</b>")
        self.start.setDateTime(to_wall_clock(phase.start, zone))
        self.end.setDateTime(to_wall_clock(phase.end, zone))

    def _enter(self) -> None:
        if self.phase is not None:
            self.dates_entered.emit(self.phase.id, from_wall_clock(self.start.dateTime(), self.zone),
                                    from_wall_clock(self.end.dateTime(), self.zone), not self.follow.isChecked())
