"""The default rollout template and the round trip template -> rollout -> template."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path

import pytest
from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import select

from launchdesk.models import JournalEntry, PhaseKind, Role, Rollout
from launchdesk.planning.checklists import due_at, team_zone
from launchdesk.planning.cohort_rules import matches
from launchdesk.planning.template import (
    RolloutNameError,
    TemplateError,
    builtin_templates,
    create_rollout_from_template,
    load_template,
    save_rollout_as_template,
    validate_template,
    write_template,
)
from launchdesk.workspace import Workspace, create_workspace

UTC = dt.timezone.utc
LAUNCH = dt.datetime(2025, 3, 4, 8, 0, tzinfo=UTC)
MOMENTS = {-2880, -1440, 0, 1440}  # 48 h before, 24 h before, day of, 24 h after


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    ws = create_workspace(tmp_path / "plan.launchdesk")
    yield ws
    ws.close()


def rollout_phases(template: dict) -> list[dict]:
    return [p for p in template["phases"] if p["kind"] == "rollout"]


def test_default_template_is_listed_and_loads() -> None:
    assert builtin_templates()[0] == "default"
    assert load_template()["name"] == load_template("default")["name"]


def test_default_template_has_the_five_phase_plan() -> None:
    template = load_template()
    phases = rollout_phases(template)
    assert [p["target_percentage"] for p in phases] == [5, 10, 25, 50, 100]
    assert [p["cohort"] for p in phases] == [c["name"] for c in template["cohorts"]]
    assert [c["target_percentage"] for c in template["cohorts"]] == [5, 10, 25, 50, 100]
    assert all(p["duration_days"] > 0 and "gap_after_days" in p for p in phases)
    preparation = [p for p in template["phases"] if p["kind"] == "preparation"]
    assert [p["start_offset_days"] for p in preparation] == [-28, -14, -7]
    assert "engineering" in preparation[0]["name"].lower()
    assert "cohorts" in preparation[1]["name"].lower() and "comms" in preparation[1]["name"].lower()
    assert "operational" in preparation[2]["name"].lower()


def test_default_cohorts_pick_the_intended_accounts() -> None:
    rules = {c["name"]: c["rule"] for c in load_template()["cohorts"]}
    first, power, mid_market, half, everyone = rules.values()
    assert matches(first, {"segment": "design_partner"}) and matches(first, {"segment": "internal"})
    assert not matches(first, {"segment": "enterprise"})
    assert matches(power, {"engagement": "power", "plan": "business"})
    assert not matches(power, {"engagement": "high", "plan": "business"})
    assert not matches(power, {"engagement": "power", "plan": "starter"})
    assert matches(mid_market, {"segment": "mid_market", "engagement": "high"})
    assert not matches(mid_market, {"segment": "mid_market", "engagement": "low"})
    assert not matches(mid_market, {"segment": "smb", "engagement": "power"})
    assert matches(half, {}) and matches(everyone, {"segment": "smb"})


def test_default_gates_and_thresholds() -> None:
    gates = {g["metric"]: g for g in load_template()["gates"]}
    assert set(gates) == {"error_rate", "latency_p99", "support_tickets", "activation"}
    assert (gates["error_rate"]["comparison"], gates["error_rate"]["threshold"], gates["error_rate"]["unit"]) == (
        "<", 0.1, "%")
    assert (gates["latency_p99"]["comparison"], gates["latency_p99"]["threshold"], gates["latency_p99"]["unit"]) == (
        "<", 200, "ms")
    tickets = gates["support_tickets"]
    assert (tickets["comparison"], tickets["threshold"], tickets["baseline_kind"]) == ("<", 2, "window")
    activation = gates["activation"]
    assert (activation["comparison"], activation["threshold"], activation["window_hours"]) == (">", 25, 7 * 24)


def test_created_rollout_has_dates_checklists_gates_and_messages(workspace: Workspace) -> None:
    template = load_template()
    with workspace.transaction() as session:
        create_rollout_from_template(session, template, name="Smart Scheduling", feature_name="Smart scheduling",
                                     launch_start=LAUNCH, owner="Mia")
    with workspace.session() as session:
        rollout = session.scalars(select(Rollout)).one()
        assert (rollout.feature_name, rollout.owner, rollout.template_name) == (
            "Smart scheduling", "Mia", template["name"])
        prep = [p for p in rollout.phases if p.kind == PhaseKind.PREPARATION]
        phases = [p for p in rollout.phases if p.kind == PhaseKind.ROLLOUT]
        assert [p.planned_start for p in prep] == [LAUNCH - dt.timedelta(days=d) for d in (28, 14, 7)]
        assert phases[0].planned_start == LAUNCH
        for before, after, spec in zip(phases, phases[1:], rollout_phases(template)):
            assert before.planned_end == before.planned_start + dt.timedelta(days=spec["duration_days"])
            assert after.planned_start == before.planned_end + dt.timedelta(days=spec["gap_after_days"])
        assert [p.target_percentage for p in phases] == [5, 10, 25, 50, 100]
        assert [p.cohort.name for p in phases] == [c.name for c in rollout.cohorts]

        for phase in phases:
            moments = {(item.role, item.offset_minutes) for item in phase.checklist}
            assert moments == {(role, m) for role in Role for m in MOMENTS}, phase.name
            first = next(i for i in phase.checklist if i.offset_minutes == -2880)
            assert due_at(phase.planned_start, first.offset_minutes, team_zone(session)) == \
                phase.planned_start - dt.timedelta(hours=48)
        titles = {i.title for p in phases for i in p.checklist}
        assert "Brief support on known issues and the rollback plan" in titles
        assert "Confirm dashboards and alerts for error rate and P99" in titles
        assert "Review cohort list with CS" in titles

        assert [(g.name, g.comparison, g.threshold) for g in rollout.gates][:2] == [
            ("Error rate", "<", 0.1), ("P99 latency", "<", 200.0)]
        tickets = rollout.gates[2]
        assert (tickets.baseline_kind, tickets.baseline_offset_s, tickets.window_s) == ("window", 7 * 86400, 86400)
        assert rollout.gates[3].window_s == 7 * 86400

        messages = [m for p in phases for m in p.messages]
        assert sorted(m.cohort.name for m in messages) == sorted(c.name for c in rollout.cohorts)
        assert all(m.phase.cohort is m.cohort for m in messages)
        assert "personal" in rollout.cohorts[0].comms_style.lower()
        assert "campaign" in rollout.cohorts[-1].comms_style.lower()

        entry = session.scalars(select(JournalEntry).where(JournalEntry.rollout_id == rollout.id)).one()
        assert entry.kind == "rollout.created" and "Smart Scheduling" in entry.summary


def test_default_messages_render_with_the_documented_variables(workspace: Workspace) -> None:
    env = SandboxedEnvironment(undefined=StrictUndefined)
    context = {
        "account": {"name": "Northwind Analytics"},
        "contact": {"first_name": "Ada"},
        "feature": {"name": "Smart scheduling"},
        "phase": {"name": "Phase 2: Power users"},
        "cohort": {"name": "Power users"},
    }
    messages = [m for p in rollout_phases(load_template()) for m in p["messages"]]
    assert len(messages) == 5
    for message in messages:
        body = env.from_string(message["body"]).render(context)  # StrictUndefined: an unknown variable raises
        subject = env.from_string(message["subject"]).render(context)
        assert "Ada" in body and "{{" not in body and "Smart scheduling" in subject + body
        assert message["channel"] == "email" and message["send_offset_hours"] >= 0


def test_save_as_template_gives_back_the_template(workspace: Workspace) -> None:
    template = load_template()
    with workspace.transaction() as session:
        rollout = create_rollout_from_template(session, template, name="A", feature_name="A", launch_start=LAUNCH)
        saved = save_rollout_as_template(rollout)
    assert saved == template
    validate_template(json.loads(json.dumps(saved)))


def test_edited_rollout_saves_its_own_timing_and_checklists(workspace: Workspace, tmp_path: Path) -> None:
    with workspace.transaction() as session:
        rollout = create_rollout_from_template(session, load_template(), name="A", feature_name="A",
                                               launch_start=LAUNCH)
        phase3 = rollout.phases[5]
        phase3.planned_start += dt.timedelta(days=2, minutes=30)  # moved by hand, and half an hour later
        phase3.checklist[0].title = "Review cohort list with CS and sales"
        phase3.messages[0].cohort = None
        saved = save_rollout_as_template(rollout, name="Edited")
    path = write_template(saved, tmp_path / "edited.json")
    edited = load_template(path)
    assert edited["name"] == "Edited"
    assert edited["checklist"] == []  # no longer shared by every phase: each phase carries its own
    relaunch = LAUNCH + dt.timedelta(days=30)
    with workspace.transaction() as session:
        again = create_rollout_from_template(session, edited, name="B", feature_name="B", launch_start=relaunch)
        phases = [p for p in again.phases if p.kind == PhaseKind.ROLLOUT]
        assert phases[2].planned_start - relaunch == dt.timedelta(days=16, minutes=30)
        assert phases[1].planned_start - relaunch == dt.timedelta(days=7)
        assert phases[2].checklist[0].title == "Review cohort list with CS and sales"
        assert phases[3].checklist[0].title == "Review cohort list with CS"
        assert phases[2].messages[0].cohort is None
        assert phases[3].messages[0].cohort is phases[3].cohort


def test_a_rollout_needs_an_aware_start_and_a_new_name(workspace: Workspace) -> None:
    template = load_template()
    with workspace.transaction() as session:
        with pytest.raises(ValueError, match="timezone-aware"):
            create_rollout_from_template(session, template, name="A", feature_name="A",
                                         launch_start=LAUNCH.replace(tzinfo=None))
        create_rollout_from_template(session, template, name="A", feature_name="A", launch_start=LAUNCH)
        with pytest.raises(RolloutNameError, match="already exists"):
            create_rollout_from_template(session, template, name="A", feature_name="A", launch_start=LAUNCH)
        with pytest.raises(RolloutNameError, match="needs a name"):
            create_rollout_from_template(session, template, name="  ", feature_name="A", launch_start=LAUNCH)


def broken(change) -> dict:
    template = copy.deepcopy(load_template())
    change(template)
    return template


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ([], "must be a JSON object"),
        ({"name": "x"}, "not a LaunchDesk template"),
        (broken(lambda t: t["phases"][3].update(cohort="Nobody")), r"phases\[3\].*'Nobody' is not among"),
        (broken(lambda t: t["cohorts"][0]["rule"]["conditions"][0].update(operator="like")), "unknown operator"),
        (broken(lambda t: t["checklist"][0].update(role="legal")), r"checklist\[0\]: 'role' must be one of"),
        (broken(lambda t: t.update(phases=t["phases"][:3])), "at least one phase of kind 'rollout'"),
        (broken(lambda t: t["phases"][4].update(target_percentage=150)), "between 0 and 100"),
        (broken(lambda t: t["phases"][4].update(duration_days=0)), "more than 0"),
        (broken(lambda t: t["gates"][0].update(comparison="=")), r"gates\[0\] \(Error rate\): 'comparison'"),
        (broken(lambda t: t["gates"][2].pop("baseline_offset_hours")), "'baseline_offset_hours' must be a number"),
        (broken(lambda t: t["phases"][3]["messages"][0].update(channel="fax")), "'channel' must be one of"),
        (broken(lambda t: t["cohorts"].append(dict(t["cohorts"][0]))), "used twice"),
    ],
)
def test_malformed_templates_are_refused_with_the_place(template: object, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        validate_template(template)


def test_write_template_refuses_a_broken_one(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="bad.json"):
        write_template({"launchdesk_template": 1, "name": "x"}, tmp_path / "bad.json")
    assert not (tmp_path / "bad.json").exists()


def test_load_template_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="no built-in template named 'nope'"):
        load_template("nope")
    with pytest.raises(TemplateError, match="There is no template file"):
        load_template(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"launchdesk_template": 1,')
    with pytest.raises(TemplateError, match=r"bad.json is not valid JSON \(line 1"):
        load_template(bad)
