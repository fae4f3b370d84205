"""Rescheduling rules for a rollout's phases: move, resize, ripple, refusals and snapping. Pure Python, no Qt.

A gesture (a drag, a key press, typed dates) becomes a :class:`Reschedule`: every phase's dates before and after,
computed in memory, so the timeline can preview it on each mouse move and commit it as one undo step.

The rules, in plan order (phases sorted by position):

- **Ripple**: moving a phase, or moving its end, moves every later phase by the same amount, so the gaps between
  them stay as they were. ``alone=True`` (the timeline's modifier key) moves only that phase, if that breaks no rule.
- **Order**: a phase never starts before the end of the phase before it. A gesture that would break this is
  refused with a sentence saying why (:class:`ScheduleRefused`); nothing is clamped silently. Only pairs that the
  gesture touches are checked, so an older overlap elsewhere never blocks an unrelated edit.
- **History**: a phase that has started (live, paused, complete or rolled back) keeps its start; only its end can
  change, and never to a moment already past.
- **Snapping**: drags and arrow keys move by whole units of the zoom level (hour, day, week). Days and weeks are
  counted on the team's wall clock (:func:`shift`), so a phase that starts at 09:00 in Berlin still starts at 09:00
  after a move across a daylight-saving change.

Checklist due dates and message send times are offsets from their phase's start, so they follow by themselves;
a checklist item's due moment is :func:`due_at` (whole days on the wall clock, like :func:`shift`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from launchdesk.models.enums import PhaseStatus, StrEnum
from launchdesk.planning.business_hours import BusinessHours
from launchdesk.planning.time_axis import SHORT_MONTHS, WEEKDAYS

UTC = dt.timezone.utc
STARTED = frozenset({PhaseStatus.LIVE, PhaseStatus.PAUSED, PhaseStatus.COMPLETE, PhaseStatus.ROLLED_BACK})
_MINUTES_PER_DAY = 24 * 60


class Unit(StrEnum):
    """The step a drag or an arrow key moves by: the unit of the timeline's zoom level."""

    HOUR = "hour"
    DAY = "day"
    WEEK = "week"

    @property
    def length(self) -> dt.timedelta:
        """The nominal length, for turning a drag distance into whole steps."""
        return _UNIT_LENGTHS[self]


_UNIT_LENGTHS = {Unit.HOUR: dt.timedelta(hours=1), Unit.DAY: dt.timedelta(days=1), Unit.WEEK: dt.timedelta(weeks=1)}


class Edge(StrEnum):
    START = "start"
    END = "end"


class ScheduleRefused(ValueError):
    """A gesture the rules do not allow; the message says why, in the words the timeline shows."""


@dataclass(frozen=True)
class PlannedPhase:
    """A phase as the rules see it: its dates and status, nothing else."""

    id: int
    name: str
    start: dt.datetime
    end: dt.datetime
    status: PhaseStatus = PhaseStatus.PLANNED

    @property
    def started(self) -> bool:
        return self.status in STARTED


@dataclass(frozen=True)
class Reschedule:
    """One gesture's outcome: every phase of the rollout before and after it, in plan order."""

    phase_id: int  # the phase the gesture was on
    before: tuple[PlannedPhase, ...]
    after: tuple[PlannedPhase, ...]

    @property
    def changes(self) -> list[tuple[PlannedPhase, PlannedPhase]]:
        """(before, after) of every phase whose dates change, in plan order."""
        return [(old, new) for old, new in zip(self.before, self.after, strict=True) if old != new]

    @property
    def pushed(self) -> list[PlannedPhase]:
        """The other phases that move along (after the gesture)."""
        return [new for _old, new in self.changes if new.id != self.phase_id]

    @property
    def phase(self) -> PlannedPhase:
        """The phase the gesture was on, after it."""
        return next(p for p in self.after if p.id == self.phase_id)

    def describe(self, zone: ZoneInfo) -> str:
        """A line for the preview and the journal:
        "Phase 2 → Tue 12 Jan 09:00 – Mon 18 Jan 09:00 (6 days); pushes 3 later phases by 2 days"."""
        new = self.phase
        text = f"{new.name} → {when_text(new.start, zone)} – {when_text(new.end, zone)} " \
               f"({duration_text(new.end - new.start)})"
        pushed = self.pushed
        if pushed:
            first_old = next(p for p in self.before if p.id == pushed[0].id)
            delta = pushed[0].start - first_old.start
            count = f"{len(pushed)} later phase{'s' if len(pushed) > 1 else ''}"
            text += f"; {'pushes' if delta > dt.timedelta(0) else 'pulls'} {count} by {duration_text(abs(delta))}"
        return text


def shift(moment: dt.datetime, steps: int, unit: Unit, zone: ZoneInfo) -> dt.datetime:
    """``moment`` moved by ``steps`` units: hours on the clock, days and weeks on the team's wall clock."""
    if unit == Unit.HOUR:
        return moment + steps * unit.length
    local = moment.astimezone(zone)
    return (local + steps * unit.length).astimezone(UTC)  # aware + timedelta keeps the wall-clock time


def due_at(phase_start: dt.datetime, offset_minutes: int, zone: ZoneInfo) -> dt.datetime:
    """When a checklist item is due, or a message is planned to go, ``offset_minutes`` from its phase's start
    (UTC): whole days of the offset on the team's wall clock, the rest in elapsed minutes. "48 h before" a phase
    starting Monday 09:00 in Berlin is Saturday 09:00 there, also across a daylight-saving change. The one
    definition: the timeline's markers, the checklists, the Messages tab, their exports and the PDF all ask it."""
    sign = -1 if offset_minutes < 0 else 1
    days, rest = divmod(abs(offset_minutes), _MINUTES_PER_DAY)
    return shift(phase_start, sign * days, Unit.DAY, zone) + dt.timedelta(minutes=sign * rest)


def steps_for(distance: dt.timedelta, unit: Unit) -> int:
    """The whole number of units nearest to a drag distance: the snap."""
    return round(distance / unit.length)


def move(
    phases: Sequence[PlannedPhase],
    phase_id: int,
    steps: int,
    unit: Unit,
    zone: ZoneInfo,
    *,
    alone: bool = False,
    now: dt.datetime,
) -> Reschedule:
    """Move a phase (and, unless ``alone``, every later phase) by ``steps`` units; ScheduleRefused if not allowed."""
    index = _index(phases, phase_id)
    phase = phases[index]

    def moved(m: dt.datetime) -> dt.datetime:
        return shift(m, steps, unit, zone)

    return _reschedule(phases, index, moved(phase.start), moved(phase.end), None if alone else moved, zone, now)


def resize(
    phases: Sequence[PlannedPhase],
    phase_id: int,
    edge: Edge,
    steps: int,
    unit: Unit,
    zone: ZoneInfo,
    *,
    alone: bool = False,
    now: dt.datetime,
) -> Reschedule:
    """Move one edge of a phase by ``steps`` units. The later phases follow a moved end unless ``alone``; a moved
    start leaves every other phase where it is."""
    index = _index(phases, phase_id)
    phase = phases[index]

    def moved(m: dt.datetime) -> dt.datetime:
        return shift(m, steps, unit, zone)

    if edge == Edge.START:
        return _reschedule(phases, index, moved(phase.start), phase.end, None, zone, now)
    return _reschedule(phases, index, phase.start, moved(phase.end), None if alone else moved, zone, now)


def set_dates(
    phases: Sequence[PlannedPhase],
    phase_id: int,
    start: dt.datetime,
    end: dt.datetime,
    zone: ZoneInfo,
    *,
    alone: bool = False,
    now: dt.datetime,
) -> Reschedule:
    """Typed dates for a phase; unless ``alone``, the later phases move by as much as its end moved."""
    index = _index(phases, phase_id)
    delta = end - phases[index].end
    return _reschedule(phases, index, start, end, None if alone else (lambda m: m + delta), zone, now)


def start_warnings(reschedule: Reschedule, hours: BusinessHours) -> dict[int, str]:
    """Phase id → business-hours warning, for every phase whose start the gesture moves outside business hours."""
    warnings = {}
    for old, new in reschedule.changes:
        if new.start != old.start and (warning := hours.warning(new.start)) is not None:
            warnings[new.id] = warning
    return warnings


def when_text(moment: dt.datetime, zone: ZoneInfo) -> str:
    """A moment on the team's clock, the same in every locale: "Tue 12 Jan 09:00"."""
    local = moment.astimezone(zone)
    return f"{WEEKDAYS[local.weekday()]} {local.day} {SHORT_MONTHS[local.month - 1]} {local:%H:%M}"


def duration_text(delta: dt.timedelta) -> str:
    """A signed span as people say it: "2 days", "−3 h", "1 week 2 days", "5 days 4 h"."""
    sign = "−" if delta < dt.timedelta(0) else ""
    minutes = round(abs(delta).total_seconds() / 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = []
    weeks, days = divmod(days, 7) if days % 7 == 0 else (0, days)
    if weeks:
        parts.append(f"{weeks} week{'s' if weeks > 1 else ''}")
    if days:
        parts.append(f"{days} day{'s' if days > 1 else ''}")
    if hours:
        parts.append(f"{hours} h")
    if minutes:
        parts.append(f"{minutes} min")
    return sign + (" ".join(parts) or "0 h")


def _index(phases: Sequence[PlannedPhase], phase_id: int) -> int:
    for i, p in enumerate(phases):
        if p.id == phase_id:
            return i
    raise KeyError(f"no phase {phase_id} in this plan")


def _reschedule(
    phases: Sequence[PlannedPhase],
    index: int,
    start: dt.datetime,
    end: dt.datetime,
    tail: Callable[[dt.datetime], dt.datetime] | None,
    zone: ZoneInfo,
    now: dt.datetime,
) -> Reschedule:
    before = tuple(phases)
    after = list(before)
    after[index] = dataclasses.replace(before[index], start=start, end=end)
    if tail is not None:
        for i in range(index + 1, len(before)):
            p = before[i]
            after[i] = dataclasses.replace(p, start=tail(p.start), end=tail(p.end))
    result = Reschedule(before[index].id, before, tuple(after))
    _check(result, zone, now)
    return result


def _check(result: Reschedule, zone: ZoneInfo, now: dt.datetime) -> None:
    """Raise ScheduleRefused with the first rule the result breaks."""
    for old, new in result.changes:
        if new.end <= new.start:
            raise ScheduleRefused(
                f"{new.name} would end ({when_text(new.end, zone)}) before it starts ({when_text(new.start, zone)})."
            )
        if old.started and new.start != old.start:
            subject = f"{new.name} is" if new.id == result.phase_id else f"This would also move {new.name}, which is"
            raise ScheduleRefused(
                f"{subject} {_status_text(old.status)} since {when_text(old.start, zone)}: its start is history "
                f"and cannot move; only its end can change."
            )
        if old.started and new.end != old.end and new.end < now:
            raise ScheduleRefused(
                f"{new.name} is {_status_text(old.status)}: its end cannot move into the past "
                f"({when_text(new.end, zone)} is before now, {when_text(now, zone)})."
            )
    changed = {new.id for _old, new in result.changes}
    after = result.after
    for earlier, later in zip(after, after[1:]):
        if (earlier.id in changed or later.id in changed) and later.start < earlier.end:
            if later.id == result.phase_id or earlier.id not in changed:
                raise ScheduleRefused(
                    f"{later.name} would start {when_text(later.start, zone)}, before {earlier.name} ends "
                    f"({when_text(earlier.end, zone)}). Phases stay in order and do not overlap."
                )
            raise ScheduleRefused(
                f"{earlier.name} would end {when_text(earlier.end, zone)}, after {later.name} starts "
                f"({when_text(later.start, zone)}). Move it together with the later phases instead of alone "
                f"(without the modifier key)."
            )


def _status_text(status: PhaseStatus) -> str:
    return status.value.replace("_", " ")


# --- the launch calendar across rollouts ---------------------------------------------------------------------


class ConflictKind(StrEnum):
    COHORT = "cohort"  # two rollouts reach the same cohort at the same time
    WEEK = "week"  # two rollouts expand in the same week: two launches for customers and support at once


@dataclass(frozen=True)
class LaunchStep:
    """A rollout phase as the launch calendar compares them across rollouts."""

    phase_id: int
    rollout_id: int
    rollout_name: str
    phase_name: str
    cohort_name: str | None
    start: dt.datetime
    end: dt.datetime


@dataclass(frozen=True)
class Conflict:
    kind: ConflictKind
    week: dt.date  # the Monday (team time zone) of the week it is in
    phase_ids: tuple[int, int]
    text: str


def week_of(moment: dt.datetime, zone: ZoneInfo) -> dt.date:
    """The Monday of ``moment``'s week on the team's calendar."""
    day = moment.astimezone(zone).date()
    return day - dt.timedelta(days=day.weekday())


def launch_conflicts(steps: Sequence[LaunchStep], zone: ZoneInfo) -> list[Conflict]:
    """Pairs of rollout phases of different rollouts that aim at the same cohort (by name, ignoring case) while
    both run, or that start in the same week; each listed in every week the pair shares, by week then kind."""
    conflicts = []
    for i, a in enumerate(steps):
        for b in steps[i + 1:]:
            if a.rollout_id == b.rollout_id:
                continue
            same_cohort = (a.cohort_name and b.cohort_name
                           and a.cohort_name.strip().casefold() == b.cohort_name.strip().casefold())
            if same_cohort and a.start < b.end and b.start < a.end:
                first, last = max(a.start, b.start), min(a.end, b.end)
                week = week_of(first, zone)
                while week <= week_of(last - dt.timedelta(microseconds=1), zone):
                    conflicts.append(Conflict(
                        ConflictKind.COHORT, week, (a.phase_id, b.phase_id),
                        f"Cohort “{a.cohort_name}” is reached by {a.rollout_name} ({a.phase_name}) and by "
                        f"{b.rollout_name} ({b.phase_name}) at the same time."))
                    week += dt.timedelta(days=7)
            if week_of(a.start, zone) == week_of(b.start, zone):
                conflicts.append(Conflict(
                    ConflictKind.WEEK, week_of(a.start, zone), (a.phase_id, b.phase_id),
                    f"Two launches start the same week: {a.rollout_name} ({a.phase_name}, {when_text(a.start, zone)}) "
                    f"and {b.rollout_name} ({b.phase_name}, {when_text(b.start, zone)})."))
    return sorted(conflicts, key=lambda c: (c.week, c.kind != ConflictKind.COHORT, c.phase_ids))
