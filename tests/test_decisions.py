"""Decisions and phase status: the transition table, the override rule, frozen snapshots, confirmation by the flag."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from launchdesk.models import (
    Decision,
    DecisionKind,
    GateOutcome,
    JournalEntry,
    Phase,
    PhaseKind,
    PhaseStatus,
    Rollout,
)
from launchdesk.planning.decisions import (
    TRANSITIONS,
    DecisionRefused,
    OverrideRequired,
    PhaseEvent,
    TransitionRefused,
    allowed_events,
    complete_phase,
    confirm_live,
    live_mismatch,
    next_phase,
    next_status,
    open_for_go,
    parse_decision_kind,
    record_decision,
)
from launchdesk.planning.gates import GateResult, Measurement, judge
from launchdesk.planning.template import create_rollout_from_template, load_template
from launchdesk.workspace import Workspace, create_workspace, open_workspace

NOW = dt.datetime(2025, 3, 4, 8, 0, tzinfo=dt.timezone.utc)
S, E = PhaseStatus, PhaseEvent


# --- the transition table -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "event", "target"), [
    (S.PLANNED, E.AWAIT_GO, S.AWAITING_GO),
    (S.AWAITING_GO, E.GO, S.APPROVED),
    (S.PLANNED, E.GO, S.APPROVED),
    (S.AWAITING_GO, E.NO_GO, S.AWAITING_GO),
    (S.APPROVED, E.NO_GO, S.AWAITING_GO),
    (S.APPROVED, E.CONFIRM_LIVE, S.LIVE),
    (S.LIVE, E.COMPLETE, S.COMPLETE),
    (S.LIVE, E.PAUSE, S.PAUSED),
    (S.LIVE, E.ROLLBACK, S.ROLLED_BACK),
    (S.PAUSED, E.ROLLBACK, S.ROLLED_BACK),
    (S.PAUSED, E.GO, S.APPROVED),
    (S.ROLLED_BACK, E.AWAIT_GO, S.AWAITING_GO),
])
def test_the_allowed_moves(status: PhaseStatus, event: PhaseEvent, target: PhaseStatus) -> None:
    assert next_status(status, event) == target


@pytest.mark.parametrize(("status", "event", "words"), [
    (S.PLANNED, E.CONFIRM_LIVE, "goes live only after a go is recorded"),
    (S.AWAITING_GO, E.CONFIRM_LIVE, "goes live only after a go is recorded"),
    (S.APPROVED, E.PAUSE, "Record a no-go to withdraw the approval"),
    (S.PLANNED, E.ROLLBACK, "only a live or paused phase can be rolled back"),
    (S.APPROVED, E.GO, "already has a go"),
    (S.LIVE, E.GO, "already live"),
    (S.AWAITING_GO, E.COMPLETE, "only a live phase can be completed"),
    (S.COMPLETE, E.ROLLBACK, "is complete"),
    (S.PAUSED, E.CONFIRM_LIVE, "goes live only after a go"),
])
def test_refused_moves_say_why(status: PhaseStatus, event: PhaseEvent, words: str) -> None:
    with pytest.raises(TransitionRefused, match=words):
        next_status(status, event, phase_name="'Phase 2'")


def test_every_status_and_event_either_moves_or_is_refused_with_a_sentence() -> None:
    assert set(TRANSITIONS) == set(PhaseStatus)
    for status in PhaseStatus:
        for event in PhaseEvent:
            if event in allowed_events(status):
                assert next_status(status, event) in PhaseStatus
            else:
                with pytest.raises(TransitionRefused) as caught:
                    next_status(status, event)
                assert str(caught.value).endswith((".", ")"))


def test_decision_kinds_read_as_typed() -> None:
    assert parse_decision_kind("no-go") == parse_decision_kind("NO_GO") == DecisionKind.NO_GO
    assert parse_decision_kind("rollback") == DecisionKind.ROLLBACK
    with pytest.raises(DecisionRefused, match="go, no-go, pause or rollback"):
        parse_decision_kind("maybe")


# --- recording decisions in a workspace -----------------------------------------------------------------------


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    ws = create_workspace(tmp_path / "decide.launchdesk")
    with ws.transaction() as session:
        create_rollout_from_template(session, load_template(), name="Smart search", feature_name="Smart search",
                                     launch_start=NOW)
    yield ws
    ws.close()


def rollout_of(session: Any) -> Rollout:
    return session.scalars(select(Rollout)).one()


def results(rollout: Rollout, outcomes: dict[str, float | None]) -> list[GateResult]:
    """Gate results judged from made-up values (None: no data)."""
    out = []
    for gate in rollout.gates:
        value = outcomes.get(gate.name)
        gate.min_samples, gate.baseline_kind = 1, "none"
        out.append(judge(gate, Measurement(value, observed_at=NOW, sample_count=1), now=NOW))
    return out


ALL_PASS = {"Error rate": 0.02, "P99 latency": 150.0, "Support tickets": 1.0, "Activation within 7 days": 30.0}


def test_a_go_with_all_gates_passing_approves_and_freezes_every_gate(workspace: Workspace) -> None:
    with workspace.transaction() as session:
        rollout = rollout_of(session)
        phase = next_phase(rollout)
        assert phase is not None and phase.name.startswith("Phase 1")
        decision = record_decision(session, phase, "go", decided_by="Mia Hoffmann", role="pmm",
                                   why="Gates green in the go/no-go call.", results=results(rollout, ALL_PASS),
                                   now=NOW)
        assert not decision.overridden and phase.status == PhaseStatus.APPROVED
        # The gates move on afterwards; the decision keeps what they were.
        rollout.gates[0].threshold = 5
    with workspace.session() as session:
        decision = session.scalars(select(Decision)).one()
        assert decision.kind == DecisionKind.GO and decision.decided_by == "Mia Hoffmann (pmm)"
        assert decision.decided_at == NOW and decision.reason == "Gates green in the go/no-go call."
        snapshot = {s["gate"]: s for s in decision.gate_snapshot}
        assert set(snapshot) == set(ALL_PASS)
        assert snapshot["Error rate"] == {**snapshot["Error rate"], "value": 0.02, "threshold": 0.1,
                                          "comparison": "<", "outcome": "pass", "at": NOW.isoformat()}
        entry = session.scalars(select(JournalEntry).where(JournalEntry.kind == "decision.go")).one()
        assert entry.actor == "Mia Hoffmann" and entry.details["role"] == "pmm"
        assert entry.details["snapshot"] == decision.gate_snapshot and entry.details["overridden"] is False
        assert "(all gates pass)" in entry.summary


@pytest.mark.parametrize("missing", [{"Error rate": 0.4}, {"P99 latency": None}])
def test_a_go_with_a_gate_failing_or_inconclusive_needs_a_written_override(
    workspace: Workspace, missing: dict[str, float | None]
) -> None:
    with workspace.transaction() as session:
        rollout = rollout_of(session)
        phase = next_phase(rollout)
        assert phase is not None
        gates_now = results(rollout, {**ALL_PASS, **missing})
        (blocker_name,) = missing
        for override in (None, "   "):
            with pytest.raises(OverrideRequired) as caught:
                record_decision(session, phase, "go", decided_by="Mia", role="pmm", why="Launch day.",
                                results=gates_now, override_reason=override)
            assert [r.name for r in caught.value.blockers] == [blocker_name]
            assert blocker_name in str(caught.value)
        assert phase.decisions == [] and phase.status == PhaseStatus.PLANNED
        decision = record_decision(session, phase, "go", decided_by="Mia", role="pmm", why="Launch day.",
                                   results=gates_now, override_reason="Known noise; on-call agrees.")
        assert decision.overridden and phase.status == PhaseStatus.APPROVED
        assert decision.reason == "Launch day.\nOverride: Known noise; on-call agrees."
        outcome = {s["gate"]: s["outcome"] for s in decision.gate_snapshot}[blocker_name]
        assert outcome in (GateOutcome.FAIL.value, GateOutcome.INCONCLUSIVE.value)
    with workspace.session() as session:
        entry = session.scalars(select(JournalEntry).where(JournalEntry.kind == "decision.go")).one()
        assert "OVERRIDING 1 gate(s) not passing" in entry.summary and blocker_name in entry.summary
        assert entry.details["override_reason"] == "Known noise; on-call agrees."


def test_a_no_go_needs_no_passing_gates_and_no_override(workspace: Workspace) -> None:
    with workspace.transaction() as session:
        rollout = rollout_of(session)
        phase = next_phase(rollout)
        assert phase is not None
        failing = results(rollout, {**ALL_PASS, "Error rate": 0.5})
        with pytest.raises(DecisionRefused, match="Only a go can override"):
            record_decision(session, phase, "no-go", decided_by="Mia", role="pmm", why="Errors.",
                            results=failing, override_reason="whatever")
        decision = record_decision(session, phase, "no-go", decided_by="Mia", role="pmm", why="Errors up.",
                                   results=failing)
        assert not decision.overridden and phase.status == PhaseStatus.AWAITING_GO
        entry = session.scalars(select(JournalEntry).where(JournalEntry.kind == "decision.no_go")).one()
        assert entry.summary == "No-go for Phase 1: Internal users and design partners by Mia (pmm) " \
                                "(not passing: Error rate): Errors up."


@pytest.mark.parametrize(("fields", "words"), [
    ({"decided_by": " "}, "name and the role"),
    ({"role": ""}, "name and the role"),
    ({"why": "  "}, "say why"),
])
def test_a_decision_says_who_and_why(workspace: Workspace, fields: dict[str, str], words: str) -> None:
    with workspace.transaction() as session:
        rollout = rollout_of(session)
        phase = next_phase(rollout)
        assert phase is not None
        arguments = {"decided_by": "Mia", "role": "pmm", "why": "Fine.", **fields}
        with pytest.raises(DecisionRefused, match=words):
            record_decision(session, phase, "no-go", results=[], **arguments)
        assert phase.decisions == []


def test_preparation_steps_take_no_decision(workspace: Workspace) -> None:
    with workspace.transaction() as session:
        preparation = rollout_of(session).phases[0]
        assert preparation.kind == PhaseKind.PREPARATION
        with pytest.raises(DecisionRefused, match="preparation step"):
            record_decision(session, preparation, "go", decided_by="Mia", role="pmm", why="x", results=[])


def test_pause_and_rollback_only_from_live_and_a_refusal_records_nothing(workspace: Workspace) -> None:
    with workspace.transaction() as session:
        rollout = rollout_of(session)
        phase = next_phase(rollout)
        assert phase is not None
        args: dict[str, Any] = {"decided_by": "Dan", "role": "engineering", "results": []}
        with pytest.raises(TransitionRefused, match="only a live phase can be paused"):
            record_decision(session, phase, "pause", why="Hold.", **args)
        record_decision(session, phase, "go", why="Ready.", **args)
        assert confirm_live(phase, 5.0, True, now=NOW)
        record_decision(session, phase, "pause", why="Error spike; holding.", **args)
        assert phase.status == PhaseStatus.PAUSED
        assert next_phase(rollout) is phase  # a paused phase needs a go again before anything else
        record_decision(session, phase, "rollback", why="Root cause needs a fix.", **args)
        assert phase.status == PhaseStatus.ROLLED_BACK
        assert [d.kind for d in phase.decisions] == [DecisionKind.GO, DecisionKind.PAUSE, DecisionKind.ROLLBACK]
    with workspace.session() as session:
        kinds = session.scalars(select(JournalEntry.kind).order_by(JournalEntry.id)).all()
        assert kinds[-4:] == ["decision.go", "phase.live", "decision.pause", "decision.rollback"]


# --- the flag platform confirms live --------------------------------------------------------------------------


def test_a_phase_goes_live_only_when_the_platform_confirms_its_percentage(workspace: Workspace) -> None:
    with workspace.transaction() as session:
        rollout = rollout_of(session)
        phase = next_phase(rollout)
        assert phase is not None and phase.target_percentage == 5
        assert not confirm_live(phase, 5.0, True), "no go recorded yet"
        assert phase.status == PhaseStatus.PLANNED
        open_for_go(session, phase)
        record_decision(session, phase, "go", decided_by="Mia", role="pmm", why="Ready.", results=[])
        assert not confirm_live(phase, 5.0, False) and not confirm_live(phase, 10.0, True)
        assert not confirm_live(phase, None, True)
        assert phase.status == PhaseStatus.APPROVED and phase.actual_start is None
        assert confirm_live(phase, 5.000001, True, now=NOW)
        assert phase.status == PhaseStatus.LIVE and phase.actual_start == NOW
        assert not confirm_live(phase, 5.0, True), "already live: nothing to move"
        complete_phase(session, phase, now=NOW + dt.timedelta(days=7))
        assert phase.status == PhaseStatus.COMPLETE and phase.actual_end == NOW + dt.timedelta(days=7)
        assert next_phase(rollout).name.startswith("Phase 2")  # type: ignore[union-attr]
    with workspace.session() as session:
        entry = session.scalars(select(JournalEntry).where(JournalEntry.kind == "phase.live")).one()
        assert "confirms 5%" in entry.summary


def test_live_mismatch_says_what_the_platform_shows() -> None:
    phase = Phase(name="Phase 2", target_percentage=10.0)
    assert live_mismatch(phase, 10, True) is None
    assert live_mismatch(phase, 10, False) == "The flag is off on the platform."
    assert live_mismatch(phase, 25, True) == "The flag is at 25% on the platform; 'Phase 2' plans 10%."
    assert "no planned percentage" in (live_mismatch(Phase(name="Week -1", target_percentage=None), 0, True) or "")


def test_a_snapshot_with_an_infinite_value_survives_the_workspace(workspace: Workspace, tmp_path: Path) -> None:
    with workspace.transaction() as session:
        rollout = rollout_of(session)
        phase = next_phase(rollout)
        assert phase is not None
        gates_now = results(rollout, {**ALL_PASS, "P99 latency": math.inf})
        record_decision(session, phase, "no-go", decided_by="Dan", role="engineering", why="P99 off the chart.",
                        results=gates_now)
    copy = workspace.save_copy(tmp_path / "copy.launchdesk")
    with open_workspace(copy) as reopened, reopened.session() as session:
        snapshot = {s["gate"]: s for s in session.scalars(select(Decision)).one().gate_snapshot}
    assert snapshot["P99 latency"]["value"] is None and snapshot["P99 latency"]["display"] == "+Inf ms"
    assert snapshot["P99 latency"]["outcome"] == "fail"


# --- the decide command ---------------------------------------------------------------------------------------


def test_decide_refuses_a_plain_go_on_unmeasured_gates_and_records_an_override(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    from launchdesk.cli import main

    path = str(workspace.path)
    base = [path, "Smart search", "--phase", "1", "--decision", "go", "--by", "Mia Hoffmann", "--role", "pmm",
            "--why", "Design partners are waiting."]
    assert main(["decide", *base]) == 1
    err = capsys.readouterr().err
    assert "needs a written override reason" in err and "--override" in err and len(err.strip().splitlines()) == 1
    assert main(["decide", *base, "--override", "No traffic yet; nothing to measure before phase 1."]) == 0
    out = capsys.readouterr().out
    assert "OVERRIDE" in out and "now approved" in out
    assert main(["decide", path, "Smart search", "--phase", "1", "--decision", "pause", "--by", "Dan",
                 "--role", "engineering", "--why", "Hold"]) == 1
    assert "only a live phase can be paused" in capsys.readouterr().err
    assert main(["decide", path, "Smart search", "--phase", "7", "--decision", "no-go", "--by", "Dan",
                 "--role", "engineering", "--why", "Hold"]) == 1
    assert "there is no phase 7" in capsys.readouterr().err
    with open_workspace(path) as reopened, reopened.session() as session:
        (decision,) = session.scalars(select(Decision)).all()
        assert decision.overridden and decision.decided_by == "Mia Hoffmann (pmm)"
        assert len(decision.gate_snapshot) == 4
        assert {s["outcome"] for s in decision.gate_snapshot} == {"inconclusive"}
        assert decision.phase.status == PhaseStatus.APPROVED
