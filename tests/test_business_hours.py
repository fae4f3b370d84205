"""Business hours: a phase start outside the team's hours (in its time zone) gives a warning a person can act on."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select

from launchdesk.models import PhaseKind, Rollout, Setting
from launchdesk.planning.business_hours import BusinessHours, BusinessHoursError, phase_start_warning
from launchdesk.planning.template import create_rollout_from_template, load_template
from launchdesk.workspace import create_workspace

UTC = dt.timezone.utc
BERLIN = BusinessHours.parse("Europe/Berlin", {"start": "09:00", "end": "18:00", "days": [0, 1, 2, 3, 4]})


def utc(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=UTC)


def test_a_3_am_start_is_flagged_in_the_team_time_zone() -> None:
    # Tuesday 2025-03-04 02:00 UTC is 03:00 in Berlin (CET, UTC+1).
    assert BERLIN.warning(utc(2025, 3, 4, 2, 0)) == "starts 03:00 in Europe/Berlin — nobody online"
    assert BERLIN.warning(utc(2025, 3, 4, 9, 0)) is None


def test_the_time_zone_and_daylight_saving_decide_not_utc() -> None:
    # 07:30 UTC is 08:30 in Berlin in winter (outside) and 09:30 in summer (inside).
    assert BERLIN.warning(utc(2025, 1, 15, 7, 30)) == "starts 08:30 in Europe/Berlin — nobody online"
    assert BERLIN.contains(utc(2025, 7, 15, 7, 30))
    new_york = BusinessHours.parse("America/New_York", None)
    assert new_york.warning(utc(2025, 3, 4, 9, 0)) == "starts 04:00 in America/New_York — nobody online"


def test_the_end_is_exclusive_and_may_be_midnight() -> None:
    assert BERLIN.contains(utc(2025, 3, 4, 16, 59))  # 17:59 in Berlin
    assert not BERLIN.contains(utc(2025, 3, 4, 17, 0))  # 18:00
    late = BusinessHours.parse("UTC", {"start": "12:00", "end": "24:00", "days": [0, 1, 2, 3, 4]})
    assert late.contains(utc(2025, 3, 4, 23, 59)) and not late.contains(utc(2025, 3, 4, 11, 59))


def test_a_weekend_start_names_the_day() -> None:
    saturday_noon = utc(2025, 3, 8, 11, 0)
    assert BERLIN.warning(saturday_noon) == (
        "starts Saturday 12:00 in Europe/Berlin — nobody online (not a business day)")
    six_days = BusinessHours.parse("Europe/Berlin", {"start": "09:00", "end": "18:00", "days": [0, 1, 2, 3, 4, 5]})
    assert six_days.warning(saturday_noon) is None


def test_defaults_are_nine_to_six_weekdays_in_utc() -> None:
    hours = BusinessHours.parse()
    assert hours.describe() == "09:00–18:00 Monday–Friday, UTC"
    assert hours.warning(utc(2025, 3, 4, 3, 0)) == "starts 03:00 in UTC — nobody online"


@pytest.mark.parametrize(("zone", "hours", "words"), [
    ("Mars/Olympus", None, "'Mars/Olympus' is unknown"),
    (42, None, "must be a name"),
    ("UTC", {"start": "9am"}, "'9am' is not a time such as 09:00"),
    ("UTC", {"start": "25:00"}, "not a time of day"),
    ("UTC", {"start": "18:00", "end": "09:00"}, "must be after their start"),
    ("UTC", {"days": [5, 7]}, "Monday = 0 to Sunday = 6"),
    ("UTC", {"days": []}, "list of weekday numbers"),
    ("UTC", ["09:00", "18:00"], "{start, end, days}"),
])
def test_unreadable_settings_are_refused_with_what_is_wrong(zone: object, hours: object, words: str) -> None:
    with pytest.raises(BusinessHoursError, match=words.replace("(", r"\(").replace("{", r"\{")):
        BusinessHours.parse(zone, hours)  # type: ignore[arg-type]


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        BERLIN.contains(dt.datetime(2025, 3, 4, 3, 0))


def test_phase_starts_are_checked_against_the_workspace_settings(tmp_path: Path) -> None:
    with create_workspace(tmp_path / "hours.launchdesk") as ws, ws.transaction() as session:
        create_rollout_from_template(session, load_template(), name="Night launch", feature_name="Night launch",
                                     launch_start=utc(2025, 3, 4, 2, 0))
        phase1 = next(p for p in session.scalars(select(Rollout)).one().phases if p.kind == PhaseKind.ROLLOUT)
        assert phase_start_warning(session, phase1) == "starts 02:00 in UTC — nobody online"  # no settings yet
        session.add_all([Setting(key="team.timezone", value="Europe/Berlin"),
                         Setting(key="team.business_hours", value={"start": "09:00", "end": "18:00",
                                                                   "days": [0, 1, 2, 3, 4]})])
        session.flush()
        assert phase_start_warning(session, phase1) == "starts 03:00 in Europe/Berlin — nobody online"
        phase1.planned_start = utc(2025, 3, 4, 9, 0)
        assert phase_start_warning(session, phase1) is None
        session.get(Setting, "team.timezone").value = "Europe/Nowhere"
        session.flush()
        warning = phase_start_warning(session, phase1)
        assert warning is not None and "cannot check business hours" in warning and "Europe/Nowhere" in warning
