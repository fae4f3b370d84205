"""Business hours: whether a phase starts while the team is at work, in the team's time zone.

Two workspace settings hold them: ``team.timezone`` (an IANA name such as ``"Europe/Berlin"``) and
``team.business_hours`` (``{"start": "09:00", "end": "18:00", "days": [0, 1, 2, 3, 4]}``, days counted from
Monday = 0; the end is exclusive and may be "24:00"). Without them: 09:00-18:00, Monday to Friday, UTC.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from launchdesk.models import Phase

TIMEZONE_SETTING = "team.timezone"
HOURS_SETTING = "team.business_hours"
DEFAULT_TIMEZONE = "UTC"
DEFAULT_HOURS: dict[str, Any] = {"start": "09:00", "end": "18:00", "days": [0, 1, 2, 3, 4]}
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class BusinessHoursError(ValueError):
    """The team's time zone or hours setting cannot be read; the message says which and why."""


@dataclass(frozen=True)
class BusinessHours:
    """The team's working hours in its time zone: minutes of the day [start, end) on the given weekdays."""

    timezone: str
    start_minute: int
    end_minute: int
    days: frozenset[int]

    @classmethod
    def parse(cls, timezone: str | None = None, hours: Mapping[str, Any] | None = None) -> BusinessHours:
        """From the two settings' values (None means the default); BusinessHoursError when unreadable."""
        timezone = DEFAULT_TIMEZONE if timezone is None else timezone
        if not isinstance(timezone, str):
            raise BusinessHoursError(f"The team time zone must be a name such as Europe/Berlin, not {timezone!r}.")
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise BusinessHoursError(f"The team time zone '{timezone}' is unknown here; use an IANA name "
                                     "such as Europe/Berlin or America/New_York.") from None
        hours = DEFAULT_HOURS if hours is None else hours
        if not isinstance(hours, Mapping):
            raise BusinessHoursError("The business hours must be {start, end, days}.")
        start = _minute_of_day(hours.get("start", DEFAULT_HOURS["start"]), "start")
        end = _minute_of_day(hours.get("end", DEFAULT_HOURS["end"]), "end")
        if end <= start:
            raise BusinessHoursError(f"The business hours end ({hours.get('end')}) must be after their start "
                                     f"({hours.get('start')}).")
        days = hours.get("days", DEFAULT_HOURS["days"])
        if (not isinstance(days, list) or not days
                or not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= 6 for d in days)):
            raise BusinessHoursError("The business days must be a list of weekday numbers, Monday = 0 to Sunday = 6.")
        return cls(timezone, start, end, frozenset(days))

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def contains(self, moment: dt.datetime) -> bool:
        """Whether an aware ``moment`` falls inside the business hours."""
        local = self._local(moment)
        minute = local.hour * 60 + local.minute
        return local.weekday() in self.days and self.start_minute <= minute < self.end_minute

    def warning(self, moment: dt.datetime) -> str | None:
        """None inside business hours, else a warning such as "starts 03:00 in Europe/Berlin — nobody online"."""
        if self.contains(moment):
            return None
        local = self._local(moment)
        if local.weekday() not in self.days:
            return (f"starts {DAY_NAMES[local.weekday()]} {local:%H:%M} in {self.timezone} — nobody online "
                    "(not a business day)")
        return f"starts {local:%H:%M} in {self.timezone} — nobody online"

    def describe(self) -> str:
        """A line for people, such as "09:00–18:00 Monday–Friday, Europe/Berlin"."""
        days = sorted(self.days)
        if days == list(range(days[0], days[-1] + 1)) and len(days) > 2:
            day_text = f"{DAY_NAMES[days[0]]}–{DAY_NAMES[days[-1]]}"
        else:
            day_text = ", ".join(DAY_NAMES[d] for d in days)
        return f"{_clock(self.start_minute)}–{_clock(self.end_minute)} {day_text}, {self.timezone}"

    def _local(self, moment: dt.datetime) -> dt.datetime:
        if moment.tzinfo is None:
            raise ValueError("Business hours compare aware datetimes only (got a naive one).")
        return moment.astimezone(self.zone)


def team_business_hours(session: Session) -> BusinessHours:
    """The workspace's business hours from its settings (defaults for missing ones)."""
    from launchdesk.models import Setting

    zone = session.get(Setting, TIMEZONE_SETTING)
    hours = session.get(Setting, HOURS_SETTING)
    return BusinessHours.parse(zone.value if zone else None, hours.value if hours else None)


def phase_start_warning(session: Session, phase: Phase) -> str | None:
    """The warning for a phase whose planned start falls outside the team's business hours, else None.

    A setting that cannot be read is itself the warning, so a broken setting never hides a 3 AM start.
    """
    try:
        hours = team_business_hours(session)
    except BusinessHoursError as err:
        return f"cannot check business hours: {err}"
    return hours.warning(phase.planned_start)


def _minute_of_day(text: Any, which: str) -> int:
    try:
        hour_text, minute_text = str(text).split(":")
        hour, minute = int(hour_text), int(minute_text)
    except ValueError:
        raise BusinessHoursError(f"The business hours {which} '{text}' is not a time such as 09:00.") from None
    if not (0 <= minute < 60 and (0 <= hour < 24 or (hour == 24 and minute == 0))):
        raise BusinessHoursError(f"The business hours {which} '{text}' is not a time of day.")
    return hour * 60 + minute


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def zone_named(value: object) -> ZoneInfo:
    """The time zone a setting's value names; UTC when it names none this machine knows."""
    try:
        return ZoneInfo(value) if isinstance(value, str) else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")
