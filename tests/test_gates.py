"""Gate evaluation: the pass / fail / inconclusive rules, the failure limit, manual values and offline outcomes."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select

from launchdesk.metrics.evaluate import gate_history, gate_results, record_manual_value
from launchdesk.models import Gate, GateOutcome, JournalEntry, MetricSample, Rollout, utcnow
from launchdesk.planning.gates import (
    Measurement,
    check_gate_rule,
    failing_streak,
    format_duration,
    go_blockers,
    judge,
)
from launchdesk.planning.template import create_rollout_from_template, load_template
from launchdesk.workspace import Workspace, create_workspace

NOW = dt.datetime(2025, 3, 4, 10, 0, tzinfo=dt.timezone.utc)
PASS, FAIL, INCONCLUSIVE = GateOutcome.PASS, GateOutcome.FAIL, GateOutcome.INCONCLUSIVE


def gate(**settings: Any) -> Gate:
    values: dict[str, Any] = {"name": "Error rate", "comparison": "<", "threshold": 0.1, "unit": "%",
                              "baseline_kind": "none", "baseline_value": None, "window_s": 3600, "min_samples": 3,
                              "failure_limit": 1}
    values.update(settings)
    return Gate(**values)


def seen(value: float | None, **fields: Any) -> Measurement:
    values: dict[str, Any] = {"observed_at": NOW - dt.timedelta(minutes=1), "sample_count": 12}
    values.update(fields)
    return Measurement(value, **values)


# --- the rules ------------------------------------------------------------------------------------------------


def test_a_value_meeting_the_comparison_passes_and_one_missing_it_fails() -> None:
    passed = judge(gate(), seen(0.05), now=NOW)
    failed = judge(gate(), seen(0.42), now=NOW)
    assert passed.outcome == PASS and passed.reason == "0.05 % is < 0.1 %"
    assert failed.outcome == FAIL and failed.reason == "0.42 % is not < 0.1 %"
    assert failed.failing_streak == 1 and passed.failing_streak == 0


@pytest.mark.parametrize(("comparison", "value", "outcome"), [
    ("<", 0.1, FAIL), ("<=", 0.1, PASS), (">", 0.1, FAIL), (">=", 0.1, PASS),
    ("<", 0.0999, PASS), (">", 0.1001, PASS),
])
def test_each_comparison_at_and_around_the_threshold(comparison: str, value: float, outcome: GateOutcome) -> None:
    assert judge(gate(comparison=comparison), seen(value), now=NOW).outcome == outcome


def test_infinities_compare_like_numbers() -> None:
    p99 = gate(name="P99 latency", threshold=200, unit="ms")
    result = judge(p99, seen(math.inf), now=NOW)
    assert result.outcome == FAIL and result.reason == "+Inf ms is not < 200 ms"
    assert judge(gate(comparison=">"), seen(-math.inf), now=NOW).outcome == FAIL


@pytest.mark.parametrize(("measurement", "reason"), [
    (Measurement(None, error="Prometheus at host refused the connection."), "refused the connection"),
    (seen(None), "No data in the last 1 h"),
    (seen(math.nan), "NaN"),
    (seen(0.01, sample_count=2), "2 sample(s) in the last 1 h; the gate needs at least 3"),
    (seen(0.01, observed_at=NOW - dt.timedelta(hours=3)), "Stale: the last value is 3 h old"),
])
def test_what_cannot_be_judged_is_inconclusive_never_pass(measurement: Measurement, reason: str) -> None:
    result = judge(gate(), measurement, now=NOW)
    assert result.outcome == INCONCLUSIVE
    assert reason in result.reason
    assert go_blockers([result]) == [result]


def test_a_fixed_baseline_multiplies_the_threshold() -> None:
    tickets = gate(name="Support tickets", threshold=2, unit="× baseline", baseline_kind="fixed",
                   baseline_value=20, min_samples=1)
    below, above = judge(tickets, seen(39), now=NOW), judge(tickets, seen(41), now=NOW)
    assert below.outcome == PASS and below.limit == 40 and below.baseline == 20
    assert above.outcome == FAIL and above.reason == "41 is not < 40 (2 × baseline 20)"
    assert above.display_threshold() == "< 2 × baseline (20)"


def test_a_window_baseline_comes_with_the_measurement_and_must_be_usable() -> None:
    tickets = gate(threshold=2, unit="× baseline", baseline_kind="window", baseline_offset_s=7 * 86400,
                   min_samples=1)
    assert judge(tickets, seen(30, baseline=20), now=NOW).outcome == PASS
    assert judge(tickets, seen(50, baseline=20), now=NOW).outcome == FAIL
    missing = judge(tickets, seen(30), now=NOW)
    zero = judge(tickets, seen(30, baseline=0), now=NOW)
    assert missing.outcome == INCONCLUSIVE and "no data in the earlier window" in missing.reason
    assert zero.outcome == INCONCLUSIVE and "baseline is 0" in zero.reason


def test_a_gate_without_baseline_ignores_one_sent_along() -> None:
    result = judge(gate(), seen(0.05, baseline=0.0001), now=NOW)
    assert result.outcome == PASS and result.baseline is None and result.limit == 0.1


# --- the failure limit ----------------------------------------------------------------------------------------


def test_below_the_failure_limit_a_failing_gate_is_inconclusive_and_says_how_far() -> None:
    patient = gate(failure_limit=3)
    first = judge(patient, seen(0.42), now=NOW, failing_before=0)
    second = judge(patient, seen(0.42), now=NOW, failing_before=1)
    third = judge(patient, seen(0.42), now=NOW, failing_before=2)
    assert first.outcome == INCONCLUSIVE
    assert "(1 of 3 failed evaluations in a row before the gate fails)" in first.reason
    assert second.outcome == INCONCLUSIVE and "2 of 3" in second.reason
    assert third.outcome == FAIL and "3 failed evaluations in a row" in third.reason
    assert judge(patient, seen(0.05), now=NOW, failing_before=2).failing_streak == 0


def test_the_streak_counts_failed_evaluations_back_to_the_last_pass_skipping_gaps() -> None:
    def sample(value: float | None, count: int = 12) -> SimpleNamespace:
        return SimpleNamespace(value=value, baseline=None, sample_count=count)

    history = [sample(0.42), sample(0.05), sample(0.3), sample(None), sample(0.2, count=1), sample(0.5)]
    # Newest last: 0.5 fails, the thin and the empty ones have no say, 0.3 fails, 0.05 passes and ends the row.
    assert failing_streak(gate(), history) == 2
    assert failing_streak(gate(), []) == 0
    assert failing_streak(gate(), [sample(0.05)]) == 0


# --- presentation ---------------------------------------------------------------------------------------------


def test_results_turn_into_strict_json_and_frozen_snapshots() -> None:
    p99 = gate(name="P99 latency", threshold=200, unit="ms")
    result = judge(p99, seen(math.inf), now=NOW)
    data = result.as_dict(NOW)
    json.dumps(data, allow_nan=False)  # PostgreSQL's JSON and most readers refuse NaN and Infinity
    assert data["value"] is None and data["display"] == "+Inf ms" and data["outcome"] == "fail"
    assert data["age_s"] == 60
    snapshot = result.snapshot()
    json.dumps(snapshot, allow_nan=False)
    assert snapshot["gate"] == "P99 latency" and snapshot["outcome"] == "fail"
    assert snapshot["threshold"] == 200 and snapshot["comparison"] == "<" and snapshot["at"].startswith("2025-03-04")


def test_format_duration_uses_the_largest_whole_unit() -> None:
    assert [format_duration(s) for s in (30, 300, 3600, 86400 * 7, 5400)] == ["30 s", "5 min", "1 h", "7 d", "1 h"]


def test_unusable_gate_settings_are_refused_with_the_gate_name() -> None:
    with pytest.raises(ValueError, match="'Error rate'.*comparison"):
        check_gate_rule(gate(comparison="=="))
    with pytest.raises(ValueError, match="baseline"):
        check_gate_rule(gate(baseline_kind="median"))
    with pytest.raises(ValueError, match="positive"):
        check_gate_rule(gate(failure_limit=0))
    check_gate_rule(gate())


# --- manual values and offline outcomes in a workspace --------------------------------------------------------


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    ws = create_workspace(tmp_path / "gates.launchdesk")
    with ws.transaction() as session:
        create_rollout_from_template(session, load_template(), name="Smart search", feature_name="Smart search",
                                     launch_start=NOW + dt.timedelta(days=2))
    yield ws
    ws.close()


def gates_of(session: Any) -> dict[str, Gate]:
    rollout = session.scalars(select(Rollout)).one()
    return {g.name: g for g in rollout.gates}


def test_a_manual_value_is_stored_with_who_entered_it_and_judged_against_an_earlier_window(
    workspace: Workspace,
) -> None:
    with workspace.transaction() as session:
        tickets = gates_of(session)["Support tickets"]  # < 2 × the same 24 h a week earlier
        record_manual_value(session, tickets, 20, entered_by="Sam Support", at=NOW - dt.timedelta(days=7, hours=2))
        result = record_manual_value(session, tickets, 45, entered_by="Sam Support", at=NOW)
    assert result.outcome == FAIL and result.baseline == 20 and result.limit == 40
    with workspace.session() as session:
        tickets = gates_of(session)["Support tickets"]
        stored = gate_history(session, tickets)
        assert [(s.value, s.entered_by, s.outcome) for s in stored] == [
            (20, "Sam Support", INCONCLUSIVE),  # nothing a week before that one
            (45, "Sam Support", FAIL),
        ]
        kinds = session.scalars(select(JournalEntry.kind).where(JournalEntry.kind.like("gate.%"))).all()
        assert kinds.count("gate.value") == 2 and "gate.outcome" in kinds


def test_offline_outcomes_come_from_stored_values_and_turn_stale_with_age(workspace: Workspace) -> None:
    with workspace.transaction() as session:
        activation = gates_of(session)["Activation within 7 days"]  # > 25 %, 7 day window
        record_manual_value(session, activation, 31, entered_by="Ana Analyst", at=NOW)
    with workspace.session() as session:
        rollout = session.scalars(select(Rollout)).one()
        fresh = {r.name: r for r in gate_results(session, rollout, now=NOW + dt.timedelta(days=1))}
        old = {r.name: r for r in gate_results(session, rollout, now=NOW + dt.timedelta(days=8))}
    assert fresh["Activation within 7 days"].outcome == PASS
    assert fresh["Activation within 7 days"].age(NOW + dt.timedelta(days=1)) == dt.timedelta(days=1)
    assert old["Activation within 7 days"].outcome == INCONCLUSIVE
    assert "Stale: the last value is 8 d old" in old["Activation within 7 days"].reason
    assert fresh["Error rate"].outcome == INCONCLUSIVE and "Never evaluated" in fresh["Error rate"].reason


def test_the_failure_limit_counts_stored_evaluations_in_a_row(workspace: Workspace) -> None:
    with workspace.transaction() as session:
        activation = gates_of(session)["Activation within 7 days"]
        activation.failure_limit = 2
        outcomes = [
            record_manual_value(session, activation, v, entered_by="Ana", at=NOW + dt.timedelta(hours=h)).outcome
            for h, v in enumerate([30, 20, 22, 40, 21])
        ]
    assert outcomes == [PASS, INCONCLUSIVE, FAIL, PASS, INCONCLUSIVE]
    with workspace.session() as session:
        flips = [(e.details["from"], e.details["to"]) for e in session.scalars(
            select(JournalEntry).where(JournalEntry.kind == "gate.outcome").order_by(JournalEntry.id))]
    assert flips == [(None, "pass"), ("pass", "inconclusive"), ("inconclusive", "fail"), ("fail", "pass"),
                     ("pass", "inconclusive")]


def test_manual_values_are_refused_for_sourced_gates_and_non_numbers(workspace: Workspace) -> None:
    from launchdesk.models import Connection, ConnectionKind

    with workspace.transaction() as session:
        gates = gates_of(session)
        gates["Error rate"].source_connection = Connection(name="prom", kind=ConnectionKind.PROMETHEUS, url="x")
        session.flush()
        with pytest.raises(ValueError, match="reads its value from a metric source"):
            record_manual_value(session, gates["Error rate"], 0.2, entered_by="Sam")
        with pytest.raises(ValueError, match="finite number"):
            record_manual_value(session, gates["Support tickets"], math.nan, entered_by="Sam")
        with pytest.raises(ValueError, match="who entered"):
            record_manual_value(session, gates["Support tickets"], 3, entered_by=" ")
        assert session.scalars(select(MetricSample)).all() == []


def test_stored_samples_keep_infinite_values(workspace: Workspace) -> None:
    with workspace.transaction() as session:
        p99 = gates_of(session)["P99 latency"]
        session.add(MetricSample(gate_id=p99.id, sampled_at=utcnow(), value=math.inf, sample_count=12,
                                 outcome=FAIL, detail="+Inf ms is not < 200 ms"))
    with workspace.session() as session:
        rollout = session.scalars(select(Rollout)).one()
        result = {r.name: r for r in gate_results(session, rollout)}["P99 latency"]
    assert result.value == math.inf and result.outcome == FAIL


# --- the gates command ----------------------------------------------------------------------------------------


def test_gates_json_lists_every_gate_with_value_threshold_outcome_and_reason(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    from launchdesk.cli import main

    with workspace.transaction() as session:
        activation = gates_of(session)["Activation within 7 days"]
        record_manual_value(session, activation, 31, entered_by="Ana Analyst")
    assert main(["gates", str(workspace.path), "Smart search", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert list(rows) == ["Error rate", "P99 latency", "Support tickets", "Activation within 7 days"]
    assert rows["Activation within 7 days"] == {**rows["Activation within 7 days"], "value": 31, "threshold": 25,
                                                "comparison": ">", "outcome": "pass", "reason": "31 % is > 25 %"}
    assert rows["Error rate"]["outcome"] == "inconclusive" and rows["Error rate"]["value"] is None
    assert "Never evaluated" in rows["Error rate"]["reason"]

    assert main(["gates", str(workspace.path), "Smart search"]) == 0
    out = capsys.readouterr().out
    assert "Activation within 7 days  31 %" in out and "a go needs a written override: 3 gate(s) not passing" in out
    assert main(["gates", str(workspace.path), "Nope"]) == 1
    assert "no rollout named 'Nope'" in capsys.readouterr().err
