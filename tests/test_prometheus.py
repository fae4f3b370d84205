"""Gates on a real Prometheus (Debian's binary) scraping a test exporter: values, errors, gates that flip to fail."""

from __future__ import annotations

import datetime as dt
import json
import math
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import select

from launchdesk.flags.http import AuthError
from launchdesk.metrics.evaluate import evaluate_rollout, record_manual_value
from launchdesk.metrics.prometheus import PrometheusClient
from launchdesk.metrics.series import QueryError
from launchdesk.models import (
    Connection,
    ConnectionKind,
    DecisionKind,
    GateOutcome,
    JournalEntry,
    MetricSample,
    PhaseStatus,
    Rollout,
    SyncRun,
    SyncStatus,
    utcnow,
)
from launchdesk.planning.decisions import OverrideRequired, next_phase, open_for_go, record_decision
from launchdesk.planning.template import create_rollout_from_template, load_template
from launchdesk.workspace import create_workspace
from loopback_http import LoopbackHttp, json_answer
from servers import PrometheusServer, free_port, log_tail

T = TypeVar("T")
DEADLINE_S = 60.0
ERROR_RATE = "Error rate"
P99 = "P99 latency"


def wait_for(server: PrometheusServer, what: str, probe: Callable[[], T], done: Callable[[T], bool]) -> T:
    """Ask ``probe`` after every scrape until ``done`` says so; fail with the last answer after the deadline."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        value = probe()
        if done(value):
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {DEADLINE_S:g} s; last: {value!r}\n"
                        f"{log_tail(server.log_path, 20)}")
        server.exporter.wait_for_next_scrape(timeout=5)  # nothing can change before Prometheus scrapes again


# --- the client on its own ------------------------------------------------------------------------------------


def test_instant_query_reads_values_labels_and_the_special_floats(prometheus_server: PrometheusServer) -> None:
    with PrometheusClient(prometheus_server.base_url) as client:
        by_code = {s.labels["code"]: s for s in client.query("http_requests_total")}
        assert set(by_code) == {"200", "500"}
        assert by_code["200"].points[0].value > 0
        assert by_code["200"].labels["job"] == "exporter"
        # Prometheus sends these as the strings "NaN", "+Inf" and "-Inf".
        assert math.isnan(client.query("0/0")[0].points[0].value)
        assert client.query("1/0")[0].points[0].value == math.inf
        assert client.query("-1/0")[0].points[0].value == -math.inf


def test_range_query_gives_one_point_per_step(prometheus_server: PrometheusServer) -> None:
    end = utcnow()
    with PrometheusClient(prometheus_server.base_url) as client:
        series = client.query_range("vector(7)", end - dt.timedelta(seconds=10), end, 1)
    assert len(series) == 1
    points = series[0].points
    assert len(points) == 11 and {p.value for p in points} == {7.0}
    assert points == sorted(points, key=lambda p: p.at) and (points[-1].at - points[0].at).total_seconds() == 10


def test_a_query_prometheus_cannot_parse_is_a_query_error_in_its_words(prometheus_server: PrometheusServer) -> None:
    with PrometheusClient(prometheus_server.base_url) as client, pytest.raises(QueryError) as caught:
        client.query("sum(rate(http_requests_total[5m])")
    assert caught.value.status == 400
    assert "parse error" in str(caught.value)


def test_measure_counts_samples_in_the_window_and_reads_a_baseline(prometheus_server: PrometheusServer) -> None:
    now = utcnow()
    with PrometheusClient(prometheus_server.base_url) as client:
        measured = client.measure("vector(3)", window_s=30, now=now, baseline_offset_s=60)
        with pytest.raises(QueryError, match="2 series"):
            client.measure("http_requests_total", window_s=30, now=now)
        empty = client.measure("no_such_metric", window_s=30, now=now)
    assert measured.value == 3 and measured.baseline == 3
    assert measured.sample_count == 31  # a point every second over 30 s, both ends included
    assert abs((measured.observed_at - now).total_seconds()) < 0.01
    assert empty.value is None and empty.sample_count == 0


# --- gates on real traffic ------------------------------------------------------------------------------------


@pytest.fixture
def workspace_path(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "gates.launchdesk"
    create_workspace(path).close()
    yield path


def test_error_rate_and_p99_gates_go_from_pass_to_fail_and_block_the_next_go(
    prometheus_server: PrometheusServer, workspace_path: Path
) -> None:
    from launchdesk.workspace import open_workspace

    exporter = prometheus_server.exporter
    exporter.set_traffic(requests_per_s=500, error_ratio=0.0002, latency_s=0.04)  # 0.02 % errors, P99 < 50 ms
    ws = open_workspace(workspace_path)
    try:
        with ws.transaction() as session:
            source = Connection(name="Prometheus (test)", kind=ConnectionKind.PROMETHEUS,
                                url=prometheus_server.base_url)
            session.add(source)
            rollout = create_rollout_from_template(session, load_template(), name="Smart search",
                                                   feature_name="Smart search",
                                                   launch_start=utcnow() + dt.timedelta(days=1))
            gates = {g.name: g for g in rollout.gates}
            for name in (ERROR_RATE, P99):
                # The template's own queries, with rate() over 10 s instead of 5 min and a 20 s gate window,
                # so earlier traffic washes out in seconds and the test waits for seconds, not minutes.
                assert "[5m]" in gates[name].query
                gates[name].query = gates[name].query.replace("[5m]", "[10s]")
                gates[name].source_connection = source
                gates[name].window_s = 20
            record_manual_value(session, gates["Support tickets"], 20, entered_by="Sam Support",
                                at=utcnow() - dt.timedelta(days=7, hours=1))
            record_manual_value(session, gates["Support tickets"], 22, entered_by="Sam Support")
            record_manual_value(session, gates["Activation within 7 days"], 31, entered_by="Ana Analyst")
            rollout_id = rollout.id

        def evaluate() -> dict[str, GateOutcome]:
            with ws.transaction() as session:
                results = evaluate_rollout(session, session.get(Rollout, rollout_id))
            return {r.name: r.outcome for r in results}

        passing = wait_for(prometheus_server, "all gates passing", evaluate,
                           lambda o: set(o.values()) == {GateOutcome.PASS})
        assert passing["Support tickets"] == GateOutcome.PASS  # 22 < 2 × 20

        with ws.transaction() as session:
            rollout = session.get(Rollout, rollout_id)
            phase = next_phase(rollout)
            assert phase is not None and phase.name.startswith("Phase 1")
            open_for_go(session, phase)
            results = evaluate_rollout(session, rollout)
            decision = record_decision(session, phase, DecisionKind.GO, decided_by="Mia Hoffmann", role="pmm",
                                       why="All gates pass.", results=results)
            assert not decision.overridden and phase.status == PhaseStatus.APPROVED

        exporter.set_traffic(error_ratio=0.05, latency_s=0.4)  # 5 % errors, every request takes 400 ms

        failing = wait_for(prometheus_server, "error rate and P99 failing", evaluate,
                           lambda o: o[ERROR_RATE] == GateOutcome.FAIL and o[P99] == GateOutcome.FAIL)
        assert failing["Support tickets"] == GateOutcome.PASS

        with ws.transaction() as session:
            rollout = session.get(Rollout, rollout_id)
            phase2 = rollout.phases[4]
            assert phase2.name.startswith("Phase 2") and phase2.status == PhaseStatus.PLANNED
            results = evaluate_rollout(session, rollout)
            by_name = {r.name: r for r in results}
            assert by_name[ERROR_RATE].value > 0.1 and by_name[P99].value > 200
            assert "is not < 0.1 %" in by_name[ERROR_RATE].reason
            with pytest.raises(OverrideRequired) as caught:
                record_decision(session, phase2, "go", decided_by="Mia Hoffmann", role="pmm",
                                why="Schedule says so.", results=results)
            assert {r.name for r in caught.value.blockers} == {ERROR_RATE, P99}
            assert phase2.status == PhaseStatus.PLANNED and phase2.decisions == []
            overridden = record_decision(session, phase2, "go", decided_by="Mia Hoffmann", role="pmm",
                                         why="Schedule says so.", results=results,
                                         override_reason="The errors come from a known bad client; accepted by "
                                                         "the on-call engineer.")
            assert overridden.overridden
            snapshot = {s["gate"]: s for s in overridden.gate_snapshot}
            assert snapshot[ERROR_RATE]["outcome"] == "fail" and snapshot[ERROR_RATE]["value"] > 0.1

        with ws.session() as session:
            changes = session.scalars(
                select(JournalEntry).where(JournalEntry.kind == "gate.outcome").order_by(JournalEntry.id)
            ).all()
            flips = [(e.details["gate"], e.details["from"], e.details["to"]) for e in changes]
            assert (ERROR_RATE, "pass", "fail") in flips and (P99, "pass", "fail") in flips
            samples = session.scalars(select(MetricSample).join(MetricSample.gate)
                                      .where(MetricSample.sync_run_id.is_not(None))).all()
            assert {s.outcome for s in samples} >= {GateOutcome.PASS, GateOutcome.FAIL}
            assert all(s.sync_run_id is not None for s in samples)
            runs = session.scalars(select(SyncRun).where(SyncRun.kind == "metrics")).all()
            assert runs and all(r.status == SyncStatus.OK and r.finished_at is not None for r in runs)
    finally:
        ws.close()
        exporter.set_traffic(error_ratio=0.0, latency_s=0.04)


def test_a_source_that_is_down_makes_its_gates_inconclusive_not_pass(workspace_path: Path) -> None:
    from launchdesk.workspace import open_workspace

    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with open_workspace(workspace_path) as ws, ws.transaction() as session, \
            PrometheusClient(url, retries=0) as client:
        source = Connection(name="Prometheus (gone)", kind=ConnectionKind.PROMETHEUS, url=url)
        rollout = create_rollout_from_template(session, load_template(), name="Down", feature_name="Down",
                                               launch_start=utcnow())
        rollout.gates[0].source_connection = source
        session.flush()
        result = evaluate_rollout(session, rollout, sources={source.id: client})[0]
        run = session.scalars(select(SyncRun)).one()
        assert result.outcome == GateOutcome.INCONCLUSIVE
        assert "refused the connection" in result.reason
        assert run.status == SyncStatus.FAILED and run.errors[0]["gate"] == rollout.gates[0].name


# --- signing in with a keyring secret -------------------------------------------------------------------------


@pytest.fixture
def prometheus_api() -> Iterator[LoopbackHttp]:
    server = LoopbackHttp()
    server.route("/api/v1/query", json_answer(200, {"status": "success",
                                                    "data": {"resultType": "scalar", "result": [1, "4.5"]}}))
    yield server
    server.stop()


@pytest.fixture
def connection_for(secret_service: object, prometheus_api: LoopbackHttp) -> Iterator[Callable[..., Connection]]:
    """Makes a Prometheus connection to the loopback API, its secret (if any) in the real keyring."""
    from launchdesk.connections import secret_key
    from launchdesk.secrets import delete_secret, set_secret

    made: list[Connection] = []

    def make(secret: str | None, **options: str) -> Connection:
        connection = Connection(name="Prometheus (auth)", kind=ConnectionKind.PROMETHEUS, url=prometheus_api.url,
                                options={"secret_id": uuid.uuid4().hex, **options})
        if secret:
            set_secret(secret_key(connection), secret)
        made.append(connection)
        return connection

    yield make
    for connection in made:
        delete_secret(secret_key(connection))


@pytest.mark.parametrize(("options", "scheme"), [
    ({"auth": "bearer"}, "bearer"),
    ({"auth": "basic", "username": "launchdesk"}, "basic"),
    ({}, "bearer"),  # no sign-in kind given: a secret in the keyring is a bearer token
    ({"username": "launchdesk"}, "basic"),  # ... or a password with a user name
])
def test_the_keyring_secret_signs_the_requests(
    prometheus_api: LoopbackHttp, connection_for: Callable[..., Connection], options: dict[str, str], scheme: str
) -> None:
    import base64

    secret = secrets.token_hex(12)
    with PrometheusClient.for_connection(connection_for(secret, **options)) as client:
        assert client.query("scalar(up)")[0].points[0].value == 4.5
    sent = prometheus_api.requests[0].headers["Authorization"]
    if scheme == "bearer":
        assert sent == f"Bearer {secret}"
    else:
        assert sent == "Basic " + base64.b64encode(f"launchdesk:{secret}".encode()).decode()


def test_without_a_secret_nothing_is_signed(prometheus_api: LoopbackHttp,
                                            connection_for: Callable[..., Connection]) -> None:
    with PrometheusClient.for_connection(connection_for(None)) as client:
        client.query("up")
    assert "Authorization" not in prometheus_api.requests[0].headers


def test_a_refused_password_is_an_auth_error_without_the_password(
    prometheus_api: LoopbackHttp, connection_for: Callable[..., Connection]
) -> None:
    secret = secrets.token_hex(12)
    prometheus_api.route("/api/v1/query", json_answer(401, {"status": "error", "error": f"bad password {secret}"}))
    connection = connection_for(secret, auth="basic", username="launchdesk")
    with PrometheusClient.for_connection(connection) as client, pytest.raises(AuthError) as caught:
        client.query("up")
    assert "401" in str(caught.value) and secret not in str(caught.value)
    assert "bad password ***" in str(caught.value)


def test_a_missing_keyring_secret_is_said_plainly(connection_for: Callable[..., Connection]) -> None:
    with pytest.raises(AuthError, match="holds no token for the connection 'Prometheus \\(auth\\)'"):
        PrometheusClient.for_connection(connection_for(None, auth="bearer"))


def test_gates_command_reads_real_prometheus_through_the_connection(
    prometheus_server: PrometheusServer, workspace_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from launchdesk.cli import main
    from launchdesk.connections import add_connection
    from launchdesk.workspace import open_workspace

    prometheus_server.exporter.set_traffic(requests_per_s=300, error_ratio=0.0, latency_s=0.04)
    with open_workspace(workspace_path) as ws, ws.transaction() as session:
        source = add_connection(session, "Prometheus", "prometheus", url=prometheus_server.base_url)
        rollout = create_rollout_from_template(session, load_template(), name="CLI", feature_name="CLI",
                                               launch_start=utcnow())
        error_rate, p99 = rollout.gates[0], rollout.gates[1]
        error_rate.source_connection = p99.source_connection = source
        for gate in (error_rate, p99):  # rate() over 10 s: an earlier test's bad traffic washes out quickly
            gate.query, gate.window_s = gate.query.replace("[5m]", "[10s]"), 20
        p99.min_samples = 1000  # more than a 20 s window can hold
        query = error_rate.query
    # Enough scrapes since Prometheus started for three rate() points at one-second steps, and no errors left.
    assert prometheus_server.exporter.wait_for_scrapes(6, timeout=DEADLINE_S)
    with PrometheusClient(prometheus_server.base_url) as client:
        wait_for(prometheus_server, "an error rate of 0", lambda: client.query(query)[0].points[0].value,
                 lambda value: value == 0)


    def gates_now() -> dict[str, dict]:
        assert main(["gates", str(workspace_path), "CLI", "--json"]) == 0
        return {row["name"]: row for row in json.loads(capsys.readouterr().out)}

    # An earlier test's error burst can still sit inside the 10 s rate window at the moment the CLI asks,
    # so wait (with the deadline) for the CLI itself to see the clean traffic.
    rows = wait_for(prometheus_server, "the CLI to see an error rate of 0", gates_now,
                    lambda r: r[ERROR_RATE]["outcome"] == "pass")
    assert rows[ERROR_RATE]["outcome"] == "pass", rows[ERROR_RATE]["reason"]
    assert rows[ERROR_RATE]["value"] == 0
    assert rows[ERROR_RATE]["sample_count"] >= 3 and rows[ERROR_RATE]["age_s"] == 0
    assert rows[P99]["outcome"] == "inconclusive" and 40 < rows[P99]["value"] < 50
    assert "the gate needs at least 1000" in rows[P99]["reason"]
