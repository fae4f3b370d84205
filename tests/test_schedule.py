"""The rescheduling rules on plain phases: ripple, moving alone, resizing, refusals, history, snapping, warnings."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from launchdesk.models import PhaseStatus
from launchdesk.planning.business_hours import BusinessHours
from launchdesk.planning.schedule import (
    ConflictKind,
    Edge,
    LaunchStep,
    PlannedPhase,
    Reschedule,
    ScheduleRefused,
    Unit,
    duration_text,
    launch_conflicts,
    move,
    resize,
    set_dates,
    shift,
    start_warnings,
    steps_for,
    week_of,
    when_text,
)

UTC = dt.timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
NOW = dt.datetime(2027, 1, 4, 12, 0, tzinfo=UTC)  # a Monday
DAY = dt.timedelta(days=1)


def plan(*statuses: PhaseStatus) -> list[PlannedPhase]:
    """Phases of 5 days with 2-day gaps, the first starting Monday 11 January 2027 at 09:00 Berlin (08:00 UTC)."""
    first = dt.datetime(2027, 1, 11, 8, 0, tzinfo=UTC)
    statuses = statuses or (PhaseStatus.PLANNED,) * 4
    return [
        PlannedPhase(i + 1, f"Phase {i + 1}", first + i * 7 * DAY, first + i * 7 * DAY + 5 * DAY, status)
        for i, status in enumerate(statuses)
    ]


def dates(phases: tuple[PlannedPhase, ...] | list[PlannedPhase]) -> list[tuple[dt.datetime, dt.datetime]]:
    return [(p.start, p.end) for p in phases]


def test_moving_later_pushes_every_later_phase_by_the_same_amount():
    phases = plan()
    result = move(phases, 2, 3, Unit.DAY, BERLIN, now=NOW)
    assert dates(result.after) == [dates(phases)[0]] + [(s + 3 * DAY, e + 3 * DAY) for s, e in dates(phases)[1:]]
    assert [p.id for p in result.pushed] == [3, 4]
    gaps_before = [b.start - a.end for a, b in zip(phases, phases[1:])]
    gaps_after = [b.start - a.end for a, b in zip(result.after, result.after[1:])]
    assert gaps_after[1:] == gaps_before[1:]  # the gaps after the moved phase are kept
    assert "pushes 2 later phases by 3 days" in result.describe(BERLIN)


def test_moving_earlier_within_the_gap_pulls_the_later_phases_along():
    phases = plan()
    result = move(phases, 3, -2, Unit.DAY, BERLIN, now=NOW)
    assert result.phase.start == phases[2].start - 2 * DAY
    assert result.after[3].start == phases[3].start - 2 * DAY
    assert result.after[:2] == tuple(phases[:2])
    assert "pulls 1 later phase by 2 days" in result.describe(BERLIN)


def test_moving_alone_leaves_the_other_phases_when_it_breaks_no_rule():
    phases = plan()
    result = move(phases, 2, 1, Unit.DAY, BERLIN, alone=True, now=NOW)
    assert [p.id for _o, p in result.changes] == [2]
    assert result.after[2:] == tuple(phases[2:])


def test_moving_alone_into_the_next_phase_is_refused_with_the_reason():
    phases = plan()
    with pytest.raises(ScheduleRefused) as refused:
        move(phases, 2, 3, Unit.DAY, BERLIN, alone=True, now=NOW)
    assert "Phase 2 would end Tue 26 Jan 09:00, after Phase 3 starts (Mon 25 Jan 09:00)" in str(refused.value)
    assert "together with the later phases" in str(refused.value)


def test_a_move_before_the_predecessors_end_is_refused_not_clamped():
    phases = plan()
    with pytest.raises(ScheduleRefused, match=r"Phase 2 would start Fri 15 Jan 09:00, before Phase 1 ends "
                                              r"\(Sat 16 Jan 09:00\)"):
        move(phases, 2, -3, Unit.DAY, BERLIN, now=NOW)
    # Exactly touching the predecessor's end is allowed.
    assert move(phases, 2, -2, Unit.DAY, BERLIN, now=NOW).phase.start == phases[0].end


def test_resizing_the_start_changes_only_that_phase_and_is_checked():
    phases = plan()
    result = resize(phases, 3, Edge.START, -1, Unit.DAY, BERLIN, now=NOW)
    assert [p.id for _o, p in result.changes] == [3]
    assert result.phase.start == phases[2].start - DAY and result.phase.end == phases[2].end
    with pytest.raises(ScheduleRefused, match="before Phase 2 ends"):
        resize(phases, 3, Edge.START, -3, Unit.DAY, BERLIN, now=NOW)
    with pytest.raises(ScheduleRefused, match="would end .* before it starts"):
        resize(phases, 3, Edge.START, 5, Unit.DAY, BERLIN, now=NOW)


def test_resizing_the_end_ripples_unless_alone():
    phases = plan()
    longer = resize(phases, 1, Edge.END, 4, Unit.DAY, BERLIN, now=NOW)
    assert longer.phase.start == phases[0].start and longer.phase.end == phases[0].end + 4 * DAY
    assert [p.start for p in longer.after[1:]] == [p.start + 4 * DAY for p in phases[1:]]
    alone = resize(phases, 1, Edge.END, 2, Unit.DAY, BERLIN, alone=True, now=NOW)  # into the 2-day gap
    assert alone.after[1:] == tuple(phases[1:])
    with pytest.raises(ScheduleRefused, match="after Phase 2 starts"):
        resize(phases, 1, Edge.END, 3, Unit.DAY, BERLIN, alone=True, now=NOW)
    with pytest.raises(ScheduleRefused, match="before it starts"):
        resize(phases, 1, Edge.END, -5, Unit.DAY, BERLIN, now=NOW)


@pytest.mark.parametrize("status", [PhaseStatus.LIVE, PhaseStatus.COMPLETE, PhaseStatus.ROLLED_BACK,
                                    PhaseStatus.PAUSED])
def test_a_started_phase_keeps_its_start(status: PhaseStatus):
    phases = plan(PhaseStatus.COMPLETE, status, PhaseStatus.PLANNED)
    now = phases[1].start + DAY
    for steps in (-1, 1):
        with pytest.raises(ScheduleRefused, match=f"Phase 2 is {status.value.replace('_', ' ')} since .*only its "
                                                  "end can change"):
            move(phases, 2, steps, Unit.DAY, BERLIN, now=now)
        with pytest.raises(ScheduleRefused, match="its start is history"):
            resize(phases, 2, Edge.START, steps, Unit.HOUR, BERLIN, now=now)
    later = resize(phases, 2, Edge.END, 1, Unit.DAY, BERLIN, now=now)
    assert later.phase.end == phases[1].end + DAY and later.phase.start == phases[1].start


def test_a_live_phase_cannot_end_in_the_past():
    phases = plan(PhaseStatus.COMPLETE, PhaseStatus.LIVE, PhaseStatus.PLANNED)
    now = phases[1].start + 2 * DAY
    with pytest.raises(ScheduleRefused, match="Phase 2 is live: its end cannot move into the past"):
        resize(phases, 2, Edge.END, -4, Unit.DAY, BERLIN, now=now)
    assert resize(phases, 2, Edge.END, -2, Unit.DAY, BERLIN, now=now).phase.end == phases[1].end - 2 * DAY


def test_a_ripple_that_would_move_a_started_phase_is_refused_naming_it():
    # An odd plan: a planned phase before a live one (it was added late). Pushing it must not move history.
    phases = plan(PhaseStatus.PLANNED, PhaseStatus.LIVE)
    with pytest.raises(ScheduleRefused, match="This would also move Phase 2, which is live"):
        move(phases, 1, 1, Unit.DAY, BERLIN, now=phases[1].start)
    assert move(phases, 1, 1, Unit.DAY, BERLIN, alone=True, now=phases[1].start).phase.start == phases[0].start + DAY


def test_an_older_overlap_elsewhere_does_not_block_an_unrelated_move():
    phases = plan()
    phases[1] = PlannedPhase(2, "Phase 2", phases[0].end - DAY, phases[1].end)  # overlaps phase 1 already
    result = move(phases, 4, 1, Unit.DAY, BERLIN, now=NOW)
    assert [p.id for _o, p in result.changes] == [4]


def test_typed_dates_follow_the_same_rules():
    phases = plan()
    start, end = phases[1].start + DAY, phases[1].end + 2 * DAY
    result = set_dates(phases, 2, start, end, BERLIN, now=NOW)
    assert (result.phase.start, result.phase.end) == (start, end)
    assert result.after[2].start == phases[2].start + 2 * DAY  # pushed by as much as the end moved
    with pytest.raises(ScheduleRefused, match="after Phase 3 starts"):
        set_dates(phases, 2, start, phases[2].start + DAY, BERLIN, alone=True, now=NOW)


def test_days_and_weeks_move_on_the_teams_wall_clock_across_daylight_saving():
    before_dst = dt.datetime(2027, 3, 26, 8, 0, tzinfo=UTC)  # Friday 09:00 in Berlin (CET)
    after = shift(before_dst, 3, Unit.DAY, BERLIN)  # Monday 29 March, CEST
    assert after.astimezone(BERLIN).hour == 9 and after == dt.datetime(2027, 3, 29, 7, 0, tzinfo=UTC)
    assert shift(after, -3, Unit.DAY, BERLIN) == before_dst
    assert shift(before_dst, 1, Unit.WEEK, BERLIN).astimezone(BERLIN).hour == 9
    assert shift(before_dst, 50, Unit.HOUR, BERLIN) == before_dst + dt.timedelta(hours=50)


def test_a_drag_distance_snaps_to_the_nearest_whole_unit():
    assert steps_for(dt.timedelta(hours=35), Unit.DAY) == 1
    assert steps_for(dt.timedelta(hours=37), Unit.DAY) == 2
    assert steps_for(dt.timedelta(hours=-13), Unit.DAY) == -1
    assert steps_for(dt.timedelta(minutes=29), Unit.HOUR) == 0
    assert steps_for(dt.timedelta(days=4), Unit.WEEK) == 1
    assert steps_for(dt.timedelta(days=3), Unit.WEEK) == 0


def test_a_start_moved_outside_business_hours_gets_a_warning():
    hours = BusinessHours.parse("Europe/Berlin", {"start": "09:00", "end": "18:00", "days": [0, 1, 2, 3, 4]})
    phases = plan()
    at_3am = move(phases, 2, -6, Unit.HOUR, BERLIN, alone=True, now=NOW)  # 09:00 → 03:00 Berlin
    assert start_warnings(at_3am, hours) == {2: "starts 03:00 in Europe/Berlin — nobody online"}
    assert start_warnings(move(phases, 2, 1, Unit.DAY, BERLIN, now=NOW), hours) == {}
    weekend = move(phases, 4, -2, Unit.DAY, BERLIN, alone=True, now=NOW)
    assert "not a business day" in start_warnings(weekend, hours)[4]


def test_texts_are_the_same_in_every_locale():
    assert when_text(dt.datetime(2027, 1, 12, 8, 0, tzinfo=UTC), BERLIN) == "Tue 12 Jan 09:00"
    assert duration_text(dt.timedelta(days=14)) == "2 weeks"
    assert duration_text(dt.timedelta(days=9, hours=4)) == "9 days 4 h"
    assert duration_text(-dt.timedelta(hours=3)) == "−3 h"


# --- properties: any sequence of accepted gestures keeps the plan in order, and undoing restores it -----------

gesture = st.tuples(
    st.sampled_from(["move", "start", "end"]),
    st.integers(min_value=0, max_value=5),  # which phase
    st.integers(min_value=-10, max_value=10),  # steps
    st.sampled_from(list(Unit)),
    st.booleans(),  # alone
)


@st.composite
def plans(draw: st.DrawFn) -> list[PlannedPhase]:
    """A valid plan: 1-6 phases in order without overlaps, some of the first ones started."""
    count = draw(st.integers(min_value=1, max_value=6))
    started = draw(st.integers(min_value=0, max_value=count))
    moment = dt.datetime(2027, 3, 1, tzinfo=UTC) + dt.timedelta(minutes=draw(st.integers(0, 60 * 24 * 60)))
    phases = []
    for i in range(count):
        moment += dt.timedelta(hours=draw(st.integers(0, 24 * 10)))
        end = moment + dt.timedelta(hours=draw(st.integers(1, 24 * 14)))
        status = PhaseStatus.COMPLETE if i < started - 1 else PhaseStatus.LIVE if i < started else PhaseStatus.PLANNED
        phases.append(PlannedPhase(i + 10, f"Phase {i + 1}", moment, end, status))
        moment = end
    return phases


def in_order(phases: tuple[PlannedPhase, ...]) -> bool:
    return all(p.start < p.end for p in phases) and all(b.start >= a.end for a, b in zip(phases, phases[1:]))


@settings(max_examples=300, deadline=None)
@given(plans(), st.lists(gesture, max_size=12), st.sampled_from(["UTC", "Europe/Berlin", "America/New_York"]))
def test_any_sequence_of_gestures_keeps_phases_ordered_and_undo_restores_the_plan(
    phases: list[PlannedPhase], gestures: list[tuple[str, int, int, Unit, bool]], zone_name: str
):
    zone = ZoneInfo(zone_name)
    now = phases[0].start + dt.timedelta(days=3)
    current = tuple(phases)
    done: list[Reschedule] = []
    for kind, which, steps, unit, alone in gestures:
        target = current[which % len(current)]
        try:
            if kind == "move":
                result = move(current, target.id, steps, unit, zone, alone=alone, now=now)
            else:
                edge = Edge.START if kind == "start" else Edge.END
                result = resize(current, target.id, edge, steps, unit, zone, alone=alone, now=now)
        except ScheduleRefused:
            continue
        assert in_order(result.after)
        for old, new in zip(result.before, result.after):
            assert not old.started or new.start == old.start  # history never moves
            assert old.id == new.id and old.status == new.status
        done.append(result)
        current = result.after
    for result in reversed(done):  # what the undo stack does: put back each gesture's "before"
        assert result.after == current
        current = result.before
    assert current == tuple(phases)


# --- launch calendar conflicts -------------------------------------------------------------------------------


def step(phase_id: int, rollout: int, cohort: str | None, start: dt.datetime, days: int = 6) -> LaunchStep:
    return LaunchStep(phase_id, rollout, f"Rollout {rollout}", f"Phase {phase_id}", cohort, start,
                      start + dt.timedelta(days=days))


def test_two_rollouts_reaching_the_same_cohort_at_the_same_time_conflict_in_each_shared_week():
    monday = dt.datetime(2027, 1, 11, 8, 0, tzinfo=UTC)
    steps = [step(1, 1, "Power users", monday, days=10), step(2, 2, " power USERS", monday + 3 * DAY, days=14),
             step(3, 3, "Power users", monday + 30 * DAY)]
    conflicts = launch_conflicts(steps, BERLIN)
    cohort = [c for c in conflicts if c.kind == ConflictKind.COHORT]
    assert [(c.week, c.phase_ids) for c in cohort] == [(dt.date(2027, 1, 11), (1, 2)), (dt.date(2027, 1, 18), (1, 2))]
    assert "Cohort “Power users” is reached by Rollout 1 (Phase 1) and by Rollout 2 (Phase 2)" in cohort[0].text
    week = [c for c in conflicts if c.kind == ConflictKind.WEEK]
    assert [(c.week, c.phase_ids) for c in week] == [(dt.date(2027, 1, 11), (1, 2))]


def test_conflicts_need_two_rollouts_and_a_shared_moment_or_week():
    monday = dt.datetime(2027, 1, 11, 8, 0, tzinfo=UTC)
    steps = [step(1, 1, "Power users", monday), step(2, 1, "Power users", monday + DAY),
             step(3, 2, "Everyone", monday + 7 * DAY), step(4, 3, "Power users", monday + 6 * DAY)]
    # Phase 4 starts (Sunday) when phase 1 ends: touching is not overlapping; phase 2 runs until Monday, so 2 and 4
    # share a day in each of two weeks. Phases 1 and 2 are one rollout's; phase 3 is another cohort, a week later.
    conflicts = launch_conflicts(steps, BERLIN)
    assert [(c.week.day, c.kind, c.phase_ids) for c in conflicts] == [
        (11, ConflictKind.COHORT, (2, 4)), (11, ConflictKind.WEEK, (1, 4)), (11, ConflictKind.WEEK, (2, 4)),
        (18, ConflictKind.COHORT, (2, 4)),
    ]
    assert week_of(dt.datetime(2027, 1, 17, 23, 30, tzinfo=UTC), BERLIN) == dt.date(2027, 1, 18)  # Monday 00:30 Berlin
