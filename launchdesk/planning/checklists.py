"""Checklist items as each role meets them: offsets typed naturally, the four moments, due dates on the team's
clock, what is overdue or due soon, reordering, and the CSV and iCalendar (RFC 5545) exports of a role's next days.

An item stores an offset in minutes from its phase's planned start (negative = before), so it moves with the
phase. Whole days of an offset count on the team's wall clock, like the timeline's day steps: "24 h before"
a phase starting Monday 09:00 in Berlin is Sunday 09:00 there, also across a daylight-saving change; the rest
of the offset (hours, minutes) is elapsed time.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from launchdesk.models import ChecklistItem, Phase, Role, Rollout, Setting
from launchdesk.models.enums import StrEnum
from launchdesk.planning.business_hours import TIMEZONE_SETTING, zone_named
from launchdesk.planning.schedule import due_at, duration_text, when_text  # due_at: named here for importers
from launchdesk.planning.labels import ROLE_LABELS  # noqa: F401 - named here too for importers

UTC = dt.timezone.utc
MINUTES_PER_HOUR = 60
MINUTES_PER_DAY = 24 * MINUTES_PER_HOUR
MAX_OFFSET_MINUTES = 366 * MINUTES_PER_DAY
SOON = dt.timedelta(hours=24)


# --- offsets -------------------------------------------------------------------------------------------------


class OffsetError(ValueError):
    """An offset that cannot be read; the message shows what to type instead."""


_UNIT_MINUTES = {
    "m": 1, "min": 1, "mins": 1, "minute": 1, "minutes": 1,
    "h": 60, "hr": 60, "hrs": 60, "hour": 60, "hours": 60,
    "d": MINUTES_PER_DAY, "day": MINUTES_PER_DAY, "days": MINUTES_PER_DAY,
    "w": 7 * MINUTES_PER_DAY, "wk": 7 * MINUTES_PER_DAY, "week": 7 * MINUTES_PER_DAY, "weeks": 7 * MINUTES_PER_DAY,
}
_PART = re.compile(r"(\d+(?:[.,]\d+)?)\s*([a-z]+)")
_SEPARATOR = re.compile(r"(\s|,|and)*")
_AT_START = {"day of", "on the day", "at start", "at phase start", "at the start", "start", "0"}
_WHOLE_DAY = {"day before": -MINUTES_PER_DAY, "day after": MINUTES_PER_DAY}
EXAMPLES = '"-48h", "+1d", "day of", "24h before", "-2d 4h", "+90m"'


def parse_offset(text: str) -> int:
    """Minutes from the phase start for an offset as people type it: "-48h", "+1d", "day of", "24h before",
    "2 days after", "-2d 4h", "+90m", "the day before". Without a sign or before/after it is after the start."""
    words = " ".join(str(text).lower().split())
    words = words.removeprefix("the ")
    if words in _AT_START:
        return 0
    if words in _WHOLE_DAY:
        return _WHOLE_DAY[words]
    sign = 1
    if words and words[0] in "+-":
        sign = -1 if words[0] == "-" else 1
        words = words[1:].strip()
        if words.endswith((" before", " after")):
            raise OffsetError(f"“{text}”: use a sign or before/after, not both (e.g. {EXAMPLES}).")
    elif words.endswith(" before") or words.endswith(" after"):
        sign = -1 if words.endswith(" before") else 1
        words = words.rsplit(" ", 1)[0]
    total = 0.0
    position = _SEPARATOR.match(words).end()  # type: ignore[union-attr]
    if position == len(words):
        raise OffsetError(f"Type when the item is due, relative to the phase start, e.g. {EXAMPLES}.")
    while position < len(words):
        part = _PART.match(words, position)
        if part is None or part.group(2) not in _UNIT_MINUTES:
            if re.fullmatch(r"\d+(?:[.,]\d+)?", words[position:]):
                raise OffsetError(f"“{text}”: add a unit (m, h, d or w), e.g. {words[position:]}h.")
            raise OffsetError(f"“{text}” is not an offset; type one such as {EXAMPLES}.")
        total += float(part.group(1).replace(",", ".")) * _UNIT_MINUTES[part.group(2)]
        position = _SEPARATOR.match(words, part.end()).end()  # type: ignore[union-attr]
    minutes = sign * round(total)
    if abs(minutes) > MAX_OFFSET_MINUTES:
        raise OffsetError(f"“{text}” is more than a year from the phase start.")
    return minutes


def format_offset(minutes: int) -> str:
    """The offset as it is typed: "day of", "-48h", "+24h", "-3d", "-2d 4h", "+1h 30m"; parse_offset reads it back."""
    if minutes == 0:
        return "day of"
    sign = "-" if minutes < 0 else "+"
    days, hours, rest = _parts(abs(minutes))
    if not hours and not rest and days <= 2:
        return f"{sign}{days * 24}h"
    parts = [f"{days}d"] if days else []
    parts += [f"{hours}h"] if hours else []
    parts += [f"{rest}m"] if rest else []
    return sign + " ".join(parts)


def describe_offset(minutes: int) -> str:
    """The offset as people say it: "48 h before", "day of", "3 days after", "1 h 30 min after"."""
    if minutes == 0:
        return "day of"
    days, hours, rest = _parts(abs(minutes))
    if not hours and not rest and days <= 2:
        amount = f"{days * 24} h"
    else:
        parts = [f"{days} day{'s' if days > 1 else ''}"] if days else []
        parts += [f"{hours} h"] if hours else []
        parts += [f"{rest} min"] if rest else []
        amount = " ".join(parts)
    return f"{amount} {'before' if minutes < 0 else 'after'}"


def _parts(minutes: int) -> tuple[int, int, int]:
    days, rest = divmod(minutes, MINUTES_PER_DAY)
    hours, rest = divmod(rest, MINUTES_PER_HOUR)
    return days, hours, rest


# --- moments and due dates -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Moment:
    """A group of a phase's checklist: one of the four planning moments, or every other offset."""

    key: str
    label: str
    offset_minutes: int | None  # None: the "other" group


MOMENTS = (
    Moment("48h_before", "48 h before", -2 * MINUTES_PER_DAY),
    Moment("24h_before", "24 h before", -MINUTES_PER_DAY),
    Moment("day_of", "Day of", 0),
    Moment("24h_after", "24 h after", MINUTES_PER_DAY),
)
OTHER = Moment("other", "Other times", None)
MOMENT_ORDER = (*MOMENTS, OTHER)


def moment_of(offset_minutes: int) -> Moment:
    return next((m for m in MOMENTS if m.offset_minutes == offset_minutes), OTHER)


class Urgency(StrEnum):
    DONE = "done"
    OVERDUE = "overdue"
    DUE_SOON = "due_soon"  # within the next 24 hours
    UPCOMING = "upcoming"


def urgency(due: dt.datetime, done: bool, now: dt.datetime) -> Urgency:
    if done:
        return Urgency.DONE
    if due <= now:
        return Urgency.OVERDUE
    return Urgency.DUE_SOON if due - now <= SOON else Urgency.UPCOMING


def _rough(delta: dt.timedelta) -> str:
    """A span rounded as people say it in a status: minutes under an hour, hours under two days, then days."""
    minutes = round(delta.total_seconds() / 60)
    if minutes >= 2 * MINUTES_PER_DAY:
        minutes = round(minutes / MINUTES_PER_DAY) * MINUTES_PER_DAY
    elif minutes >= MINUTES_PER_HOUR:
        minutes = round(minutes / MINUTES_PER_HOUR) * MINUTES_PER_HOUR
    return duration_text(dt.timedelta(minutes=max(minutes, 1)))


@dataclass(frozen=True)
class DueItem:
    """A checklist item with its phase and rollout, and its due moment computed on the team's clock."""

    id: int
    rollout_id: int
    rollout_name: str
    phase_id: int
    phase_name: str
    phase_position: int
    phase_start: dt.datetime
    role: Role
    offset_minutes: int
    position: int
    title: str
    notes: str
    done_by: str | None
    done_at: dt.datetime | None
    due: dt.datetime
    calendar_uid: str  # stays the same for this item in this workspace, so a newer .ics export updates events

    @property
    def done(self) -> bool:
        return self.done_at is not None

    @property
    def moment(self) -> Moment:
        return moment_of(self.offset_minutes)

    def urgency(self, now: dt.datetime) -> Urgency:
        return urgency(self.due, self.done, now)

    def status_text(self, now: dt.datetime, zone: ZoneInfo) -> str:
        """"Overdue by 3 h", "Due in 5 h", "Done by Mia Hoffmann, Tue 12 Jan 10:04", or "" when later."""
        state = self.urgency(now)
        if state == Urgency.DONE:
            assert self.done_at is not None
            return f"Done by {self.done_by or 'someone'}, {when_text(self.done_at, zone)}"
        if state == Urgency.OVERDUE:
            return f"Overdue by {_rough(now - self.due)}"
        if state == Urgency.DUE_SOON:
            return f"Due in {_rough(self.due - now)}"
        return ""


def team_zone(session: Any) -> ZoneInfo:
    """The team's time zone from the workspace settings; UTC when none is set or it is unknown here.

    ``session`` is a Session or a Connection (a Core query: no ORM mapper is configured for it)."""
    table = Setting.__table__
    return zone_named(session.execute(select(table.c.value).where(table.c.key == TIMEZONE_SETTING)).scalar())


def load_items(session: Any, zone: ZoneInfo, *, rollout_id: int | None = None,
               role: Role | None = None) -> list[DueItem]:
    """The checklist items of one rollout (or all), optionally of one role, in plan order."""
    item, phase, rollout = ChecklistItem.__table__, Phase.__table__, Rollout.__table__
    query = (
        select(item, phase.c.rollout_id, rollout.c.name.label("rollout_name"),
               rollout.c.created_at.label("rollout_created_at"), phase.c.name.label("phase_name"),
               phase.c.position.label("phase_position"), phase.c.planned_start)
        .join(phase, phase.c.id == item.c.phase_id)
        .join(rollout, rollout.c.id == phase.c.rollout_id)
        .order_by(rollout.c.name, phase.c.position, phase.c.id, item.c.offset_minutes, item.c.position, item.c.id)
    )
    if rollout_id is not None:
        query = query.where(phase.c.rollout_id == rollout_id)
    if role is not None:
        query = query.where(item.c.role == role.value)
    return [
        DueItem(
            id=row.id, rollout_id=row.rollout_id, rollout_name=row.rollout_name, phase_id=row.phase_id,
            phase_name=row.phase_name, phase_position=row.phase_position, phase_start=row.planned_start,
            role=Role(row.role), offset_minutes=row.offset_minutes, position=row.position, title=row.title,
            notes=row.notes, done_by=row.done_by, done_at=row.done_at,
            due=due_at(row.planned_start, row.offset_minutes, zone),
            calendar_uid=_calendar_uid(row.id, row.rollout_id, row.rollout_created_at),
        )
        for row in session.execute(query)
    ]


def before_items_open(items: Iterable[Any]) -> list[Any]:
    """The items due before their phase starts that are not done (anything with ``offset_minutes`` and
    ``done``/``done_at``): what the go/no-go panel and the timeline show on a phase."""
    return [i for i in items if i.offset_minutes < 0 and not _is_done(i)]


def before_items_notice(items: Iterable[Any]) -> str | None:
    """"3 checklist items due before the start are not done (PMM 1, Support 2)", or None when all are."""
    open_items = before_items_open(items)
    if not open_items:
        return None
    counts = [(role, sum(1 for i in open_items if Role(i.role) == role)) for role in Role]
    roles = ", ".join(f"{ROLE_LABELS[role]} {n}" for role, n in counts if n)
    count = len(open_items)
    return f"{count} checklist item{'s' if count > 1 else ''} due before the start {'are' if count > 1 else 'is'} " \
           f"not done ({roles})"


def _is_done(item: Any) -> bool:
    done = getattr(item, "done", None)
    return bool(done) if done is not None else getattr(item, "done_at", None) is not None


# --- reordering ----------------------------------------------------------------------------------------------


def reorder(siblings: Sequence[tuple[int, int]], item_id: int, to_index: int) -> dict[int, int]:
    """New positions after moving one item among its siblings (same phase, same offset), given as
    ``(id, position)`` in their shown order; only the items whose position changes are returned."""
    order = [i for i, _ in siblings]
    if item_id not in order:
        raise ValueError(f"item {item_id} is not among the siblings")
    order.remove(item_id)
    order.insert(max(0, min(to_index, len(order))), item_id)
    slots = sorted(p for _, p in siblings)
    positions: list[int] = []
    for slot in slots:  # keep the positions the group had, made strictly increasing
        positions.append(slot if not positions or slot > positions[-1] else positions[-1] + 1)
    old = dict(siblings)
    return {i: p for i, p in zip(order, positions, strict=True) if old[i] != p}


# --- exports -------------------------------------------------------------------------------------------------


def upcoming(items: Iterable[DueItem], now: dt.datetime, days: int = 7) -> list[DueItem]:
    """What a role has on its plate for the next ``days``: items due before then that are not done (overdue
    ones included, they are still to do) and those due in that window already done; soonest first."""
    end = now + dt.timedelta(days=days)
    chosen = [i for i in items if i.due < end and (not i.done or i.due >= now)]
    return sorted(chosen, key=lambda i: (i.due, i.rollout_name, i.phase_position, i.position, i.id))


CSV_HEADER = ("due", "due_utc", "status", "role", "rollout", "phase", "when", "title", "notes", "done_by", "done_at")


def checklist_csv(items: Iterable[DueItem], zone: ZoneInfo, now: dt.datetime) -> str:
    """The items as CSV (a header row, then one row each); due and done times in the team's time zone."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    for i in items:
        writer.writerow([
            i.due.astimezone(zone).isoformat(timespec="minutes"),
            i.due.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ"),
            i.urgency(now).value,
            i.role.value,
            i.rollout_name,
            i.phase_name,
            describe_offset(i.offset_minutes),
            i.title,
            i.notes,
            i.done_by or "",
            i.done_at.astimezone(zone).isoformat(timespec="minutes") if i.done_at else "",
        ])
    return out.getvalue()


ICS_EVENT_MINUTES = 30


def checklist_ics(items: Iterable[DueItem], now: dt.datetime, *, calendar_name: str) -> str:
    """The items as an iCalendar file: one 30-minute VEVENT at each due time (UTC), CRLF line ends, folded lines.

    Each event's UID stays the same for the same item, so importing a newer export updates the calendar.
    """
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//LaunchDesk//Checklists//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{ics_text(calendar_name)}",
    ]
    stamp = _ics_time(now)
    for i in items:
        role = ROLE_LABELS[i.role]
        description = (f"{describe_offset(i.offset_minutes).capitalize()} the start of {i.phase_name} "
                       f"({i.rollout_name}).\nRole: {role}.")
        if i.done:
            description += f"\nDone by {i.done_by or 'someone'}."
        if i.notes:
            description += f"\n\n{i.notes}"
        lines += [
            "BEGIN:VEVENT",
            f"UID:{i.calendar_uid}",
            f"DTSTAMP:{stamp}",
            f"DTSTART:{_ics_time(i.due)}",
            f"DTEND:{_ics_time(i.due + dt.timedelta(minutes=ICS_EVENT_MINUTES))}",
            f"SUMMARY:{ics_text(('Done: ' if i.done else '') + i.title)}",
            f"DESCRIPTION:{ics_text(description)}",
            f"CATEGORIES:{ics_text(role)}",
            "TRANSP:TRANSPARENT",  # a duty, not a meeting: it does not block the calendar
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(fold_ics_line(line) + "\r\n" for line in lines)


def ics_text(value: str) -> str:
    """A TEXT value escaped as RFC 5545 section 3.3.11 asks: backslash, semicolon, comma and line breaks."""
    value = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return value.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")


def fold_ics_line(line: str) -> str:
    """A content line folded so no line exceeds 75 octets (RFC 5545 section 3.1), never inside a character."""
    if len(line.encode("utf-8")) <= 75:
        return line
    pieces: list[bytes] = []
    current = b""
    for char in line:
        encoded = char.encode("utf-8")
        if len(current) + len(encoded) > 75:
            pieces.append(current)
            current = b" "
        current += encoded
    pieces.append(current)
    return "\r\n".join(p.decode("utf-8") for p in pieces)


def _ics_time(moment: dt.datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _calendar_uid(item_id: int, rollout_id: int, rollout_created_at: dt.datetime) -> str:
    # The rollout's creation time is in the tag so item 12 of two workspaces do not collide in one calendar.
    tag = hashlib.sha1(f"{rollout_id}:{rollout_created_at.isoformat()}".encode()).hexdigest()[:10]
    return f"checklist-{item_id}-{tag}@launchdesk"
