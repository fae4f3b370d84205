"""Checklist offsets, moments, due dates on the team's clock, reordering and the CSV and .ics exports."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
from hypothesis import given
from hypothesis import strategies as st

from launchdesk.models import ChecklistItem, Phase, PhaseKind, Role, Rollout, Setting
from launchdesk.planning.checklists import (
    MAX_OFFSET_MINUTES,
    OTHER,
    DueItem,
    OffsetError,
    Urgency,
    before_items_notice,
    checklist_csv,
    checklist_ics,
    describe_offset,
    due_at,
    fold_ics_line,
    format_offset,
    load_items,
    moment_of,
    parse_offset,
    reorder,
    team_zone,
    upcoming,
)
from launchdesk.planning.readiness import notice_phase_id, readiness_gaps, readiness_notice
from launchdesk.planning.template import create_rollout_from_template, load_template
from launchdesk.workspace import create_workspace

UTC = dt.timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")


def utc(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=UTC)


# --- offsets -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("typed", "minutes"), [
    ("-48h", -2880),
    ("+1d", 1440),
    ("day of", 0),
    ("Day Of", 0),
    ("24h before", -1440),
    ("24 hours before", -1440),
    ("2 days after", 2880),
    ("-2d 4h", -3120),
    ("-2d, 4h", -3120),
    ("2 days and 4 hours before", -3120),
    ("+90m", 90),
    ("90 min after", 90),
    ("-1.5h", -90),
    ("1w before", -10080),
    ("the day before", -1440),
    ("day after", 1440),
    ("48h", 2880),  # no sign and no before/after: after the start
])
def test_offsets_typed_naturally(typed: str, minutes: int) -> None:
    assert parse_offset(typed) == minutes


@pytest.mark.parametrize(("typed", "words"), [
    ("", "relative to the phase start"),
    ("48", "add a unit"),
    ("-24h before", "not both"),
    ("soon", "is not an offset"),
    ("3 months before", "is not an offset"),
    ("400 days after", "more than a year"),
])
def test_offsets_that_cannot_be_read_say_what_to_type(typed: str, words: str) -> None:
    with pytest.raises(OffsetError, match=words):
        parse_offset(typed)


@given(st.integers(min_value=-MAX_OFFSET_MINUTES, max_value=MAX_OFFSET_MINUTES))
def test_a_formatted_offset_reads_back_as_the_same_minutes(minutes: int) -> None:
    typed = format_offset(minutes)
    assert parse_offset(typed) == minutes
    assert parse_offset(describe_offset(minutes)) == minutes  # what people read can be typed back too


@given(st.integers(min_value=-400, max_value=400), st.integers(min_value=0, max_value=23),
       st.integers(min_value=0, max_value=59))
def test_typed_parts_add_up(days: int, hours: int, minutes: int) -> None:
    sign = "-" if days < 0 else "+"
    total = abs(days) * 1440 + hours * 60 + minutes
    typed = f"{sign}{abs(days)}d {hours}h {minutes}m"
    if total > MAX_OFFSET_MINUTES:
        with pytest.raises(OffsetError):
            parse_offset(typed)
    else:
        assert parse_offset(typed) == (-total if sign == "-" else total)


def test_offsets_are_shown_as_people_say_them() -> None:
    assert [format_offset(m) for m in (-2880, -1440, 0, 1440, 4320, -3120, 90)] == [
        "-48h", "-24h", "day of", "+24h", "+3d", "-2d 4h", "+1h 30m"]
    assert [describe_offset(m) for m in (-2880, 0, 4320, 90)] == [
        "48 h before", "day of", "3 days after", "1 h 30 min after"]


def test_the_four_moments_and_the_rest() -> None:
    assert [moment_of(m).label for m in (-2880, -1440, 0, 1440)] == [
        "48 h before", "24 h before", "Day of", "24 h after"]
    assert moment_of(-4320) is OTHER and moment_of(60) is OTHER


# --- due dates -----------------------------------------------------------------------------------------------


def test_due_dates_keep_the_wall_clock_across_the_spring_change_in_berlin() -> None:
    # Clocks go forward on Sunday 2027-03-28. Phase 1 starts Monday 29 March 09:00 CEST (07:00 UTC).
    start = dt.datetime(2027, 3, 29, 9, 0, tzinfo=BERLIN)
    before_48 = due_at(start, parse_offset("-48h"), BERLIN)
    assert before_48.astimezone(BERLIN).replace(tzinfo=None) == dt.datetime(2027, 3, 27, 9, 0)  # Saturday 09:00 CET
    assert before_48 == utc(2027, 3, 27, 8, 0)
    assert start - before_48 == dt.timedelta(hours=47)  # one hour less of elapsed time: the clock jumped
    assert due_at(start, parse_offset("+90m"), BERLIN).astimezone(BERLIN).strftime("%H:%M %Z") == "10:30 CEST"
    assert due_at(start, parse_offset("-2d 4h"), BERLIN) == utc(2027, 3, 27, 4, 0)  # 05:00 CET


def test_due_dates_keep_the_wall_clock_across_the_autumn_change_in_berlin() -> None:
    # Clocks go back on Sunday 2027-10-31. A phase starting Monday 1 November 09:00 CET (08:00 UTC).
    start = dt.datetime(2027, 11, 1, 9, 0, tzinfo=BERLIN)
    before_24 = due_at(start, -1440, BERLIN)
    assert before_24.astimezone(BERLIN).strftime("%a %H:%M %Z") == "Sun 09:00 CET"
    before_48 = due_at(start, -2880, BERLIN)
    assert before_48 == utc(2027, 10, 30, 7, 0) and before_48.astimezone(BERLIN).strftime("%H:%M %Z") == "09:00 CEST"
    assert due_at(start, 1440, BERLIN) == utc(2027, 11, 2, 8, 0)


def item(offset: int, *, due: dt.datetime, done_at: dt.datetime | None = None, role: Role = Role.PMM,
         item_id: int = 1, title: str = "Review cohort list with CS", notes: str = "") -> DueItem:
    return DueItem(
        id=item_id, rollout_id=1, rollout_name="Smart Scheduling", phase_id=10, phase_name="Phase 1: Internal users",
        phase_position=3, phase_start=due - dt.timedelta(minutes=offset), role=role, offset_minutes=offset,
        position=item_id, title=title, notes=notes, done_by="Mia Hoffmann" if done_at else None, done_at=done_at,
        due=due, calendar_uid=f"checklist-{item_id}-abc@launchdesk",
    )


def test_overdue_and_due_soon_are_told_apart_with_words() -> None:
    now = utc(2027, 3, 10, 12, 0)
    overdue = item(-2880, due=now - dt.timedelta(hours=3))
    soon = item(-1440, due=now + dt.timedelta(hours=5))
    later = item(0, due=now + dt.timedelta(hours=30))
    done = item(0, due=now - dt.timedelta(hours=1), done_at=utc(2027, 3, 10, 9, 4))
    assert [i.urgency(now) for i in (overdue, soon, later, done)] == [
        Urgency.OVERDUE, Urgency.DUE_SOON, Urgency.UPCOMING, Urgency.DONE]
    assert overdue.status_text(now, BERLIN) == "Overdue by 3 h"
    assert soon.status_text(now, BERLIN) == "Due in 5 h"
    assert later.status_text(now, BERLIN) == ""
    assert done.status_text(now, BERLIN) == "Done by Mia Hoffmann, Wed 10 Mar 10:04"
    assert item(0, due=now - dt.timedelta(days=3, hours=2)).status_text(now, BERLIN) == "Overdue by 3 days"


def test_reorder_moves_one_item_among_its_siblings_and_keeps_their_positions() -> None:
    siblings = [(11, 2), (12, 5), (13, 9)]
    assert reorder(siblings, 13, 0) == {13: 2, 11: 5, 12: 9}
    assert reorder(siblings, 11, 1) == {12: 2, 11: 5}
    assert reorder(siblings, 12, 1) == {}
    # Positions that were equal become distinct, so the chosen order sticks.
    assert reorder([(1, 0), (2, 0), (3, 0)], 3, 0) == {1: 1, 2: 2}  # 3 keeps 0 and now comes first
    with pytest.raises(ValueError):
        reorder(siblings, 99, 0)


def test_the_next_seven_days_hold_open_overdue_items_but_not_old_done_ones() -> None:
    now = utc(2027, 3, 10, 12, 0)
    overdue = item(-2880, due=now - dt.timedelta(days=2), item_id=1)
    old_done = item(-1440, due=now - dt.timedelta(days=1), done_at=now - dt.timedelta(days=1), item_id=2)
    this_week = item(0, due=now + dt.timedelta(days=6), item_id=3)
    done_this_week = item(0, due=now + dt.timedelta(days=1), done_at=now, item_id=4)
    next_month = item(1440, due=now + dt.timedelta(days=30), item_id=5)
    chosen = upcoming([next_month, this_week, old_done, overdue, done_this_week], now, days=7)
    assert [i.id for i in chosen] == [1, 4, 3]


# --- exports -------------------------------------------------------------------------------------------------

AWKWARD = "Brief support, sales; and CS\\ops — on the “rollback” plan ✓ " + "très long " * 8


def test_the_ics_file_is_valid_rfc_5545_and_reads_back() -> None:
    now = utc(2027, 3, 10, 12, 0)
    items = [
        item(-1440, due=utc(2027, 3, 11, 8, 0), item_id=7, title=AWKWARD, notes="Line one\nline two, with; marks"),
        item(0, due=utc(2027, 3, 12, 8, 0), item_id=8, role=Role.SUPPORT, title="Tag tickets",
             done_at=utc(2027, 3, 10, 9, 0)),
    ]
    text = checklist_ics(items, now, calendar_name="PMM checklist, next 7 days")
    raw = text.encode("utf-8")

    assert raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b"")
    lines = raw.split(b"\r\n")[:-1]
    assert all(len(line) <= 75 for line in lines)
    assert any(line.startswith(b" ") for line in lines)  # the long title really was folded
    assert lines[0] == b"BEGIN:VCALENDAR" and lines[-1] == b"END:VCALENDAR"

    calendar = icalendar.Calendar.from_ical(text)
    assert calendar["VERSION"] == "2.0" and calendar["PRODID"]
    events = list(calendar.walk("VEVENT"))
    assert len(events) == 2
    first, second = events
    for event in events:
        for required in ("UID", "DTSTAMP", "DTSTART", "SUMMARY", "DESCRIPTION"):
            assert required in event
    assert first.decoded("DTSTART") == utc(2027, 3, 11, 8, 0)
    assert first.decoded("DTSTAMP") == now
    assert "DTSTART:20270311T080000Z" in text  # UTC in the "Z" form, no TZID needed
    assert str(first["SUMMARY"]) == AWKWARD  # commas, semicolons, backslash and non-ASCII survive
    assert "Line one\nline two, with; marks" in str(first["DESCRIPTION"])
    assert "24 h before the start of Phase 1: Internal users" in str(first["DESCRIPTION"])
    assert str(first["UID"]) == "checklist-7-abc@launchdesk"
    assert str(second["SUMMARY"]) == "Done: Tag tickets"


def test_folding_never_splits_a_character() -> None:
    line = "SUMMARY:" + "é" * 100
    folded = fold_ics_line(line)
    pieces = folded.encode("utf-8").split(b"\r\n")
    assert all(len(p) <= 75 for p in pieces)
    assert "".join(p.decode("utf-8").removeprefix(" ") if i else p.decode("utf-8")
                   for i, p in enumerate(pieces)) == line


def test_the_csv_export_reads_back_with_the_team_time_zone() -> None:
    now = utc(2027, 3, 10, 12, 0)
    items = [item(-1440, due=utc(2027, 3, 11, 8, 0), title=AWKWARD, notes="two\nlines")]
    rows = list(csv.DictReader(io.StringIO(checklist_csv(items, BERLIN, now))))
    assert len(rows) == 1
    row = rows[0]
    assert row["due"] == "2027-03-11T09:00+01:00" and row["due_utc"] == "2027-03-11T08:00Z"
    assert row["title"] == AWKWARD and row["notes"] == "two\nlines"
    assert row["status"] == "due_soon" and row["role"] == "pmm" and row["when"] == "24 h before"


# --- from a workspace ----------------------------------------------------------------------------------------


@pytest.fixture
def planned(tmp_path: Path):  # type: ignore[no-untyped-def]
    workspace = create_workspace(tmp_path / "plan.launchdesk")
    with workspace.transaction() as session:
        session.add(Setting(key="team.timezone", value="Europe/Berlin"))
        create_rollout_from_template(session, load_template(), name="Smart Scheduling", feature_name="Smart",
                                     launch_start=dt.datetime(2027, 3, 29, 9, 0, tzinfo=BERLIN))
    yield workspace
    workspace.close()


def test_items_load_with_due_dates_that_follow_their_phase(planned) -> None:  # type: ignore[no-untyped-def]
    with planned.session() as session:
        zone = team_zone(session)
        items = load_items(session, zone, role=Role.SUPPORT)
    assert zone == BERLIN and items and all(i.role == Role.SUPPORT for i in items)
    first_phase = next(i for i in items if i.phase_name.startswith("Phase 1") and i.offset_minutes == -2880)
    assert first_phase.due == utc(2027, 3, 27, 8, 0)  # Saturday 09:00 CET, before the clock change

    with planned.transaction() as session:
        phase = session.get(Phase, first_phase.phase_id)
        phase.planned_start += dt.timedelta(days=7)
    with planned.session() as session:
        moved = next(i for i in load_items(session, BERLIN) if i.id == first_phase.id)
    assert moved.due == utc(2027, 4, 3, 7, 0)  # Saturday 09:00 CEST: still 09:00 on the team's clock


def test_open_before_items_and_readiness_are_told_for_the_first_phase(planned) -> None:  # type: ignore[no-untyped-def]
    with planned.transaction() as session:
        rollout = session.query(Rollout).one()
        phase_1 = next(p for p in rollout.phases if p.kind == PhaseKind.ROLLOUT)
        assert notice_phase_id(rollout.phases) == phase_1.id
        assert readiness_gaps(rollout) == ["Can it be flagged?", "Blast radius", "Monitoring and success criteria",
                                           "Rollback plan", "kill switch not tested"]
        for item_ in phase_1.checklist:
            if item_.offset_minutes < 0 and item_.role != Role.SUPPORT:
                item_.done_at, item_.done_by = utc(2027, 3, 26, 9, 0), "Mia"
        assert before_items_notice(phase_1.checklist) == (
            "2 checklist items due before the start are not done (Support 2)")
        for item_ in phase_1.checklist:
            item_.done_at = utc(2027, 3, 26, 9, 0)
        assert before_items_notice(phase_1.checklist) is None

        rollout.readiness_can_flag = rollout.readiness_blast_radius = "yes"
        rollout.readiness_monitoring = rollout.readiness_rollback_plan = "yes"
        assert readiness_notice(rollout) == "Readiness incomplete: kill switch not tested"
        rollout.kill_switch_tested_on = dt.date(2027, 3, 20)
        assert readiness_notice(rollout) is None and rollout.readiness_complete
        assert isinstance(phase_1.checklist[0], ChecklistItem)


def test_the_checklist_command_prints_and_exports_a_roles_next_days(demo_workspace: Path, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from launchdesk.cli import main
    from launchdesk.models import utcnow
    from launchdesk.workspace import open_workspace

    ics, out_csv = tmp_path / "support.ics", tmp_path / "support.csv"
    assert main(["checklist", str(demo_workspace), "--role", "support", "--days", "7", "--ics", str(ics),
                 "--csv", str(out_csv)]) == 0
    printed = capsys.readouterr().out
    with open_workspace(demo_workspace) as workspace, workspace.session() as session:
        expected = upcoming(load_items(session, team_zone(session), role=Role.SUPPORT), utcnow(), 7)
    assert expected and printed.startswith(f"Support: {len(expected)} item")
    assert all(i.title in printed for i in expected)
    events = list(icalendar.Calendar.from_ical(ics.read_bytes()).walk("VEVENT"))
    assert [str(e["SUMMARY"]).removeprefix("Done: ") for e in events] == [i.title for i in expected]
    with out_csv.open(newline="", encoding="utf-8") as handle:
        assert [row["title"] for row in csv.DictReader(handle)] == [i.title for i in expected]

    assert main(["checklist", str(demo_workspace), "--role", "support", "--rollout", "Nope"]) == 1
    assert "no rollout named 'Nope'" in capsys.readouterr().err
