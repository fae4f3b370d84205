"""Evaluating a rollout's gates: ask each gate's source, keep values and outcomes as metric samples, journal changes.

Every evaluation is stored as a :class:`~launchdesk.models.MetricSample` (value, baseline, sample count, outcome,
reason, time), so the gates work offline: :func:`gate_results` judges each gate again from its newest stored
sample, which turns *stale* (inconclusive) once it is older than the gate's window. ``sampled_at`` is when the
value was true: the evaluation time for Prometheus, the newest point's time for Datadog, the time a person
entered a manual value.

The network part (:func:`measure_gates`) writes nothing, so a worker thread can run it without holding the
workspace's write lock; :func:`record_measurements` then stores and journals in one short transaction.
:func:`evaluate_rollout` does both.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from launchdesk import journal
from launchdesk.flags.http import PlatformError
from launchdesk.models import (
    Connection,
    ConnectionKind,
    Gate,
    GateOutcome,
    MetricSample,
    Rollout,
    SyncRun,
    SyncStatus,
    utcnow,
)
from launchdesk.planning.gates import GateResult, Measurement, failing_streak, format_value, judge

HISTORY_FOR_STREAK = 50  # earlier samples read to count failed evaluations in a row


class MetricSource(Protocol):
    """A metric source client: :class:`~launchdesk.metrics.prometheus.PrometheusClient` or the Datadog one."""

    def measure(
        self, query: str, *, window_s: int, now: dt.datetime, baseline_offset_s: int | None = None
    ) -> Measurement: ...

    def close(self) -> None: ...


class NotAMetricSource(PlatformError):
    """A gate points at a connection that is not Prometheus or Datadog."""


def open_source(connection: Connection) -> MetricSource:
    """A client for a metric source connection; reads the keyring when the connection has a secret."""
    if connection.kind == ConnectionKind.PROMETHEUS:
        from launchdesk.metrics.prometheus import PrometheusClient

        return PrometheusClient.for_connection(connection)
    if connection.kind == ConnectionKind.DATADOG:
        from launchdesk.metrics.datadog import DatadogClient

        return DatadogClient.for_connection(connection)
    raise NotAMetricSource(f"The connection '{connection.name}' is a {connection.kind} connection, "
                           "not a metric source (Prometheus or Datadog).")


def is_manual(gate: Gate) -> bool:
    """A manual gate has no source: someone types its value (a ticket count from the help desk)."""
    return gate.source_connection_id is None


def measure_gates(
    gates: Sequence[Gate], *, now: dt.datetime, sources: Mapping[int, MetricSource] | None = None
) -> dict[int, Measurement]:
    """Ask each non-manual gate's source for its measurement now; writes nothing.

    A source that cannot be opened or asked gives a measurement with ``error`` set (inconclusive), never an
    exception. ``sources`` are clients by connection id, lent by the caller (not closed here); the others are
    opened once per connection and closed before returning.
    """
    from launchdesk.secrets import SecretsUnavailable

    lent = dict(sources or {})
    opened: dict[int, MetricSource | Exception] = {}
    measurements: dict[int, Measurement] = {}
    try:
        for gate in gates:
            if is_manual(gate):
                continue
            connection_id = gate.source_connection_id
            assert connection_id is not None
            source: MetricSource | Exception
            if connection_id in lent:
                source = lent[connection_id]
            else:
                if connection_id not in opened:
                    try:
                        opened[connection_id] = open_source(gate.source_connection)  # type: ignore[arg-type]
                    except (PlatformError, SecretsUnavailable) as err:
                        opened[connection_id] = err
                source = opened[connection_id]
            if isinstance(source, Exception):
                measurements[gate.id] = Measurement(None, error=str(source))
                continue
            if not gate.query.strip():
                measurements[gate.id] = Measurement(None, error="The gate has a source but no query.")
                continue
            offset = gate.baseline_offset_s if gate.baseline_kind == "window" else None
            try:
                measurements[gate.id] = source.measure(gate.query, window_s=gate.window_s, now=now,
                                                       baseline_offset_s=offset)
            except PlatformError as err:
                measurements[gate.id] = Measurement(None, error=str(err))
    finally:
        for source in opened.values():
            if not isinstance(source, Exception):
                source.close()
    return measurements


def record_measurements(
    session: Session,
    rollout: Rollout,
    measurements: Mapping[int, Measurement],
    *,
    now: dt.datetime,
    actor: str | None = None,
) -> list[GateResult]:
    """Judge and store each measured gate, journal outcome changes; one result per gate, in the plan's order.

    Manual gates are judged from their newest entry (they store nothing here). The evaluation is one
    :class:`~launchdesk.models.SyncRun` of kind ``metrics`` holding the sources' errors.
    """
    run = SyncRun(kind="metrics", started_at=now, status=SyncStatus.RUNNING)
    session.add(run)
    session.flush()
    results: list[GateResult] = []
    errors: list[dict[str, str]] = []
    for gate in rollout.gates:
        measurement = measurements.get(gate.id)
        if measurement is None:
            results.append(_result_from_history(session, gate, now))
            continue
        if measurement.error:
            errors.append({"gate": gate.name, "error": measurement.error})
        results.append(_record(session, gate, measurement, now=now, run=run, actor=actor))
    run.finished_at = utcnow()
    run.errors = errors
    measured = len(measurements)
    run.status = SyncStatus.OK if not errors else SyncStatus.FAILED if len(errors) == measured else SyncStatus.PARTIAL
    return results


def evaluate_rollout(
    session: Session,
    rollout: Rollout,
    *,
    now: dt.datetime | None = None,
    sources: Mapping[int, MetricSource] | None = None,
    actor: str | None = None,
) -> list[GateResult]:
    """Evaluate every gate of ``rollout`` now: :func:`measure_gates`, then :func:`record_measurements`."""
    now = now or utcnow()
    measurements = measure_gates(list(rollout.gates), now=now, sources=sources)
    return record_measurements(session, rollout, measurements, now=now, actor=actor)


def gate_results(session: Session, rollout: Rollout, *, now: dt.datetime | None = None) -> list[GateResult]:
    """Offline: each gate's outcome from its newest stored sample, judged again at ``now`` (so old values are stale)."""
    now = now or utcnow()
    return [_result_from_history(session, gate, now) for gate in rollout.gates]


def gate_history(session: Session, gate: Gate, *, since: dt.datetime | None = None) -> list[MetricSample]:
    """The gate's stored samples, oldest first (for a sparkline); all of them, or those at or after ``since``."""
    query = select(MetricSample).where(MetricSample.gate_id == gate.id)
    if since is not None:
        query = query.where(MetricSample.sampled_at >= since)
    return list(session.scalars(query.order_by(MetricSample.sampled_at, MetricSample.id)))


def record_manual_value(
    session: Session,
    gate: Gate,
    value: float,
    *,
    entered_by: str,
    at: dt.datetime | None = None,
    baseline: float | None = None,
) -> GateResult:
    """Keep a value someone typed for a manual gate (a ticket count), judged as of ``at`` (default: now).

    For a gate with a ``window`` baseline the baseline is ``baseline`` when given, else the newest value
    entered in the same window ``baseline_offset_s`` earlier. Journals the entry, and the outcome change if any.
    """
    if not is_manual(gate):
        raise ValueError(f"The gate '{gate.name}' reads its value from a metric source; it takes no typed value.")
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"The value for '{gate.name}' must be a finite number.")
    if not entered_by.strip():
        raise ValueError("Say who entered the value.")
    at = at or utcnow()
    history = _history(session, gate, before=at)
    if gate.baseline_kind == "window" and baseline is None and gate.baseline_offset_s:
        baseline = _entered_baseline(session, gate, at)
    measurement = Measurement(float(value), observed_at=at, sample_count=1, baseline=baseline)
    result = judge(gate, measurement, now=at, failing_before=failing_streak(gate, history))
    session.add(MetricSample(gate_id=gate.id, sampled_at=at, value=float(value), baseline=result.baseline,
                             sample_count=1, outcome=result.outcome, detail=result.reason,
                             entered_by=entered_by.strip()))
    journal.record(session, "gate.value",
                   f"{entered_by.strip()} entered {format_value(value, gate.unit)} for '{gate.name}': "
                   f"{result.outcome}. {result.reason}",
                   rollout=gate.rollout_id, actor=entered_by.strip(),
                   details={"gate": gate.name, "value": float(value), "baseline": result.baseline,
                            "outcome": result.outcome.value, "at": at.isoformat()})
    _journal_change(session, gate, history[-1].outcome if history else None, result, actor=entered_by.strip())
    return result


def _record(session: Session, gate: Gate, m: Measurement, *, now: dt.datetime, run: SyncRun,
            actor: str | None) -> GateResult:
    history = _history(session, gate, before=None)
    previous = history[-1] if history else None
    # Datadog's newest point may not have moved since the last evaluation: the same observation is one sample.
    if (previous is not None and not m.error and m.observed_at is not None
            and previous.sampled_at == m.observed_at and previous.value == m.value):
        return judge(gate, m, now=now, failing_before=failing_streak(gate, history[:-1]))
    result = judge(gate, m, now=now, failing_before=failing_streak(gate, history))
    session.add(MetricSample(gate_id=gate.id, sync_run_id=run.id, sampled_at=m.observed_at or now, value=m.value,
                             baseline=result.baseline, sample_count=m.sample_count, outcome=result.outcome,
                             detail=result.reason))
    _journal_change(session, gate, previous.outcome if previous else None, result, actor=actor)
    return result


def _journal_change(session: Session, gate: Gate, before: GateOutcome | None, result: GateResult,
                    *, actor: str | None) -> None:
    if before == result.outcome:
        return
    was = before.value if before else "not evaluated"
    journal.record(session, "gate.outcome",
                   f"Gate '{gate.name}': {was} → {result.outcome.value} ({result.display_value()}, "
                   f"{result.display_threshold()}). {result.reason}",
                   rollout=gate.rollout_id, actor=actor,
                   details={"gate": gate.name, "from": before.value if before else None,
                            "to": result.outcome.value, "value": result.display_value(), "reason": result.reason})


def _result_from_history(session: Session, gate: Gate, now: dt.datetime) -> GateResult:
    history = _history(session, gate, before=now)
    if not history:
        return judge(gate, Measurement(None, error="Never evaluated: no value yet."), now=now)
    newest = history[-1]
    error = "" if newest.value is not None else (newest.detail or "")
    measurement = Measurement(newest.value, observed_at=newest.sampled_at, sample_count=newest.sample_count,
                              baseline=newest.baseline, error=error)
    return judge(gate, measurement, now=now, failing_before=failing_streak(gate, history[:-1]))


def _history(session: Session, gate: Gate, *, before: dt.datetime | None) -> list[MetricSample]:
    """The gate's newest stored samples, oldest first (at or before ``before`` when given)."""
    query = select(MetricSample).where(MetricSample.gate_id == gate.id)
    if before is not None:
        query = query.where(MetricSample.sampled_at <= before)
    newest_first = session.scalars(
        query.order_by(MetricSample.sampled_at.desc(), MetricSample.id.desc()).limit(HISTORY_FOR_STREAK)
    ).all()
    return list(reversed(newest_first))


def _entered_baseline(session: Session, gate: Gate, at: dt.datetime) -> float | None:
    """The newest value entered in the gate's window ``baseline_offset_s`` before ``at``."""
    assert gate.baseline_offset_s is not None
    end = at - dt.timedelta(seconds=gate.baseline_offset_s)
    start = end - dt.timedelta(seconds=gate.window_s)
    return session.scalar(
        select(MetricSample.value)
        .where(MetricSample.gate_id == gate.id, MetricSample.sampled_at > start, MetricSample.sampled_at <= end,
               MetricSample.value.is_not(None))
        .order_by(MetricSample.sampled_at.desc(), MetricSample.id.desc())
        .limit(1)
    )
