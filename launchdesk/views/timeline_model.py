"""What the timeline draws, read in one go, and the time axis: zoom levels, time ↔ x, ticks, shaded hours.

The plan is read with Core queries into frozen rows (no ORM objects, no lazy loads), so the graphics items never
touch the database while the user drags; the timeline is on the first tab, painted at start-up.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from launchdesk.models import Channel, GateOutcome, MessageState, PhaseKind, PhaseStatus, Role
from launchdesk.models.columns import kinds
from launchdesk.planning.business_hours import (
    HOURS_SETTING,
    TIMEZONE_SETTING,
    BusinessHours,
    BusinessHoursError,
)
from launchdesk.planning.schedule import PlannedPhase, Unit
from launchdesk.workspace import Workspace



@dataclass(frozen=True)
class ChecklistDue:
    """One checklist item as a marker shows it."""

    id: int
    role: Role
    title: str
    offset_minutes: int
    done: bool


@dataclass(frozen=True)
class ScheduledMessage:
    id: int
    name: str
    channel: Channel
    state: MessageState
    offset_minutes: int


@dataclass(frozen=True)
class TimelinePhase:
    """A phase row with what its bar shows: cohort, target %, status, and its markers."""

    id: int
    rollout_id: int
    name: str
    kind: PhaseKind
    status: PhaseStatus
    cohort_name: str | None
    target_percentage: float | None
    start: dt.datetime
    end: dt.datetime
    checklist: tuple[ChecklistDue, ...] = ()
    messages: tuple[ScheduledMessage, ...] = ()

    def planned(self) -> PlannedPhase:
        return PlannedPhase(self.id, self.name, self.start, self.end, self.status)

    @property
    def label(self) -> str:
        """"Phase 2: Power users · 10%"; the cohort is added when the name does not say it."""
        if self.kind == PhaseKind.PREPARATION:
            return self.name
        text = self.name
        if self.cohort_name and self.cohort_name.lower() not in self.name.lower():
            text += f" · {self.cohort_name}"
        if self.target_percentage is not None:
            text += f" · {self.target_percentage:g}%"
        return text


@dataclass
class TimelinePlan:
    """One rollout's phases in plan order, the team's business hours, and the gate outcome of the next go."""

    rollout_id: int
    rollout_name: str
    phases: list[TimelinePhase]
    hours: BusinessHours
    hours_problem: str | None = None  # the settings could not be read; defaults are used and the user is told
    gate_outcomes: dict[int, GateOutcome] = field(default_factory=dict)  # phase id → latest worst outcome

    @property
    def zone(self) -> ZoneInfo:
        return self.hours.zone


# The timeline is on the window's first screen: these reads are plain SQL (Workspace.read), so they run before
# SQLAlchemy is imported.
PHASE_ROWS = """
    SELECT phase.*, cohort.name AS cohort_name FROM phase LEFT OUTER JOIN cohort ON phase.cohort_id = cohort.id
    WHERE phase.rollout_id = :rollout ORDER BY phase.position, phase.id"""



def read_business_hours(workspace: Workspace) -> tuple[BusinessHours, str | None]:
    """The team's business hours, or the defaults with the reason the settings could not be used."""
    values = dict(workspace.read("SELECT key, value FROM setting WHERE key IN (:zone, :hours)",
                                 {"zone": TIMEZONE_SETTING, "hours": HOURS_SETTING}, {"value": "json"}))
    try:
        return BusinessHours.parse(values.get(TIMEZONE_SETTING), values.get(HOURS_SETTING)), None
    except BusinessHoursError as err:
        return BusinessHours.parse(), f"Business hours unreadable, using 09:00–18:00 UTC: {err}"


def read_timeline(workspace: Workspace, rollout_id: int) -> TimelinePlan | None:
    """The rollout's phases with their checklist items and messages; None when the rollout is gone."""
    hours, problem = read_business_hours(workspace)
    given = {"rollout": rollout_id}
    names = workspace.read("SELECT name FROM rollout WHERE id = :rollout", given)
    if not names:
        return None
    phase_rows = workspace.read(PHASE_ROWS, given, kinds("phase"))
    checklist: dict[int, list[ChecklistDue]] = defaultdict(list)
    for row in workspace.read(
        "SELECT id, phase_id, role, title, offset_minutes, done_at FROM checklist_item"
        " WHERE phase_id IN (SELECT id FROM phase WHERE rollout_id = :rollout)"
        " ORDER BY offset_minutes, position, id", given, {"role": Role},
    ):
        checklist[row.phase_id].append(
            ChecklistDue(row.id, row.role, row.title, row.offset_minutes, row.done_at is not None))
    messages: dict[int, list[ScheduledMessage]] = defaultdict(list)
    for row in workspace.read(
        "SELECT id, phase_id, name, channel, state, send_offset_minutes FROM message"
        " WHERE phase_id IN (SELECT id FROM phase WHERE rollout_id = :rollout)"
        " ORDER BY send_offset_minutes, id", given, {"channel": Channel, "state": MessageState},
    ):
        messages[row.phase_id].append(
            ScheduledMessage(row.id, row.name, row.channel, row.state, row.send_offset_minutes))
    # the outcome of each gate's latest sample
    outcomes = [row.outcome for row in workspace.read(
        "SELECT sample.outcome FROM metric_sample AS sample JOIN ("
        " SELECT s.gate_id, max(s.sampled_at) AS at FROM metric_sample AS s JOIN gate ON gate.id = s.gate_id"
        " WHERE gate.rollout_id = :rollout GROUP BY s.gate_id"
        ") AS latest ON sample.gate_id = latest.gate_id AND sample.sampled_at = latest.at",
        given, {"outcome": GateOutcome},
    )]
    phases = [
        TimelinePhase(
            id=p.id, rollout_id=rollout_id, name=p.name, kind=p.kind, status=p.status,
            cohort_name=p.cohort_name, target_percentage=p.target_percentage, start=p.planned_start,
            end=p.planned_end, checklist=tuple(checklist[p.id]), messages=tuple(messages[p.id]),
        )
        for p in phase_rows
    ]
    plan = TimelinePlan(rollout_id, names[0].name, phases, hours, problem)
    up_next = next((p for p in phases if p.kind == PhaseKind.ROLLOUT
                    and p.status not in (PhaseStatus.LIVE, PhaseStatus.COMPLETE)), None)
    if up_next is not None and outcomes:
        plan.gate_outcomes[up_next.id] = worst_outcome(outcomes)
    return plan


def worst_outcome(outcomes: list[GateOutcome]) -> GateOutcome:
    """What the next go/no-go faces: fail if any gate fails, else inconclusive if any is, else pass."""
    for outcome in (GateOutcome.FAIL, GateOutcome.INCONCLUSIVE):
        if outcome in outcomes:
            return outcome
    return GateOutcome.PASS


# --- the time axis ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Zoom:
    """A zoom level: how many pixels a day takes, and the unit drags snap to."""

    name: str
    px_per_day: float
    unit: Unit

    @property
    def px_per_second(self) -> float:
        return self.px_per_day / 86400.0


ZOOMS: tuple[Zoom, ...] = (
    Zoom("hours", 960.0, Unit.HOUR),
    Zoom("quarter days", 240.0, Unit.HOUR),
    Zoom("days", 84.0, Unit.DAY),
    Zoom("days", 36.0, Unit.DAY),
    Zoom("weeks", 14.0, Unit.DAY),
    Zoom("weeks", 5.0, Unit.WEEK),
    Zoom("months", 2.0, Unit.WEEK),
)
DEFAULT_ZOOM = 3


@dataclass(frozen=True)
class TimeScale:
    """Time ↔ scene x: ``origin`` is at x = 0."""

    origin: dt.datetime
    zoom: Zoom

    def x(self, moment: dt.datetime) -> float:
        return (moment - self.origin).total_seconds() * self.zoom.px_per_second

    def time(self, x: float) -> dt.datetime:
        return self.origin + dt.timedelta(seconds=x / self.zoom.px_per_second)

    def width(self, span: dt.timedelta) -> float:
        return span.total_seconds() * self.zoom.px_per_second
