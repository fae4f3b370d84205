"""A plan's date axis on the team's wall clock: local days, axis labels and off-hours, for the timeline tab and
the PDF's chart alike.

Dates are written the same in every locale ("Tue 12 Jan"), so a plan reads the same on every teammate's screen
and on paper; these are the names they use.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from launchdesk.planning.business_hours import BusinessHours

UTC = dt.timezone.utc
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
SHORT_MONTHS = tuple(month[:3] for month in MONTHS)
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class Tick:
    at: dt.datetime
    label: str


def local_days(start: dt.datetime, end: dt.datetime, zone: ZoneInfo) -> Iterator[tuple[dt.date, dt.datetime]]:
    """Each local day touching [start, end) with the moment its local midnight falls (aware UTC)."""
    day = start.astimezone(zone).date()
    last = end.astimezone(zone).date()
    while day <= last:
        yield day, dt.datetime.combine(day, dt.time(), zone).astimezone(UTC)
        day += dt.timedelta(days=1)


def local_moment(day: dt.date, minute: int, zone: ZoneInfo) -> dt.datetime:
    """``minute`` minutes after local midnight of ``day`` on the wall clock (24:00 is the next midnight)."""
    if minute >= 24 * 60:
        return local_moment(day + dt.timedelta(days=1), minute - 24 * 60, zone)
    return dt.datetime.combine(day, dt.time(minute // 60, minute % 60), zone).astimezone(UTC)


def ticks(per_day: float, start: dt.datetime, end: dt.datetime, zone: ZoneInfo) -> tuple[list[Tick], list[Tick]]:
    """The axis' upper (major) and lower (minor) labels between ``start`` and ``end``, on the team's clock.

    ``per_day`` is how wide a day is drawn, in units of about a twelfth of a label's height (screen pixels for
    the timeline's 8.5 pt labels): the wider the day, the more each label says.
    """
    major: list[Tick] = []
    minor: list[Tick] = []
    days = list(local_days(start, end, zone))
    if per_day >= 200:  # hours: a day above, every hour (or every third) below
        step = 1 if per_day >= 600 else 3
        for day, midnight in days:
            major.append(Tick(midnight, f"{WEEKDAYS[day.weekday()]} {day.day} {SHORT_MONTHS[day.month - 1]} {day.year}"))
            minor.extend(Tick(local_moment(day, h * 60, zone), f"{h:02d}") for h in range(0, 24, step))
    elif per_day >= 10:  # days or weeks: the month above
        for day, midnight in days:
            if day.day == 1 or not major:
                major.append(Tick(midnight, f"{MONTHS[day.month - 1]} {day.year}"))
            if per_day >= 60:
                minor.append(Tick(midnight, f"{WEEKDAYS[day.weekday()]} {day.day}"))
            elif per_day >= 24:
                minor.append(Tick(midnight, str(day.day)))
            elif day.weekday() == 0:
                minor.append(Tick(midnight, f"{day.day} {SHORT_MONTHS[day.month - 1]}"))
    else:  # months: the year above
        for day, midnight in days:
            if (day.month == 1 and day.day == 1) or not major:
                major.append(Tick(midnight, str(day.year)))
            if day.day == 1:
                minor.append(Tick(midnight, MONTHS[day.month - 1] if per_day >= 4 else SHORT_MONTHS[day.month - 1]))
    return major, minor


def off_hours(hours: BusinessHours, start: dt.datetime, end: dt.datetime, *, within_days: bool
              ) -> Iterator[tuple[dt.datetime, dt.datetime, bool]]:
    """Spans outside business hours between ``start`` and ``end``: (from, to, whole_day). Non-business days are
    whole; on business days the early and late hours come only ``within_days`` (when the zoom shows hours)."""
    zone = hours.zone
    for day, midnight in local_days(start, end, zone):
        next_midnight = local_moment(day, 24 * 60, zone)
        if day.weekday() not in hours.days:
            yield midnight, next_midnight, True
        elif within_days:
            yield midnight, local_moment(day, hours.start_minute, zone), False
            yield local_moment(day, hours.end_minute, zone), next_midnight, False
