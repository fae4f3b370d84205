"""Datadog as a gate source, against a loopback server answering with the JSON and status codes Datadog documents."""

from __future__ import annotations

import datetime as dt
import secrets
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from launchdesk.flags.http import AuthError, RateLimited
from launchdesk.metrics.datadog import DatadogClient, api_url, parse_series, split_keys
from launchdesk.metrics.evaluate import evaluate_rollout, gate_history
from launchdesk.metrics.series import QueryError
from launchdesk.models import Connection, ConnectionKind, GateOutcome, Rollout, utcnow
from launchdesk.planning.template import create_rollout_from_template, load_template
from launchdesk.workspace import create_workspace
from loopback_http import LoopbackHttp, json_answer

API_KEY = secrets.token_hex(16)
APP_KEY = secrets.token_hex(20)
QUERY = "sum:trace.http.request.errors{service:search}.as_rate()"


def documented_answer(points: list[list[Any]], *, query: str = QUERY, scope: str = "service:search",
                      tag_set: list[str] | None = None) -> dict[str, Any]:
    """A ``GET /api/v1/query`` answer with the fields of Datadog's documented MetricsQueryResponse."""
    start = int(points[0][0]) if points else 0
    end = int(points[-1][0]) if points else 0
    return {
        "status": "ok",
        "res_type": "time_series",
        "resp_version": 1,
        "query": query,
        "message": "",
        "error": "",
        "from_date": start,
        "to_date": end,
        "group_by": [],
        "series": [{
            "metric": "trace.http.request.errors",
            "display_name": "trace.http.request.errors",
            "unit": [{"family": "general", "name": "error", "plural": "errors", "scale_factor": 1.0,
                      "short_name": None}, None],
            "pointlist": points,
            "start": start,
            "end": end,
            "interval": 20,
            "length": len(points),
            "aggr": "sum",
            "scope": scope,
            "expression": query,
            "tag_set": tag_set or [],
            "query_index": 0,
        }],
    }


def ms(at: dt.datetime) -> float:
    return at.timestamp() * 1000


@pytest.fixture
def api() -> Iterator[LoopbackHttp]:
    server = LoopbackHttp()
    yield server
    server.stop()


def client(url: str, **options: Any) -> DatadogClient:
    return DatadogClient(url, api_key=API_KEY, application_key=APP_KEY, **{"backoff": 0.01, **options})


def assert_no_keys(text: str) -> None:
    assert API_KEY not in text and APP_KEY not in text


# --- reading the documented answer ----------------------------------------------------------------------------


def test_the_documented_answer_becomes_points_and_the_keys_go_in_the_headers(api: LoopbackHttp) -> None:
    now = utcnow().replace(microsecond=0)
    points = [[ms(now - dt.timedelta(seconds=40)), 1.5], [ms(now - dt.timedelta(seconds=20)), None],
              [ms(now), 2.25]]
    api.route("/api/v1/query", json_answer(200, documented_answer(points, tag_set=["service:search", "env:prod"])))
    with client(api.url) as dd:
        (series,) = dd.query(QUERY, now - dt.timedelta(minutes=1), now)
    assert [p.value for p in series.points] == [1.5, 2.25]  # null is Datadog's "no data here"
    assert series.points[-1].at == now
    assert series.labels == {"service": "search", "env": "prod"}
    request = api.requests[0]
    assert request.headers["DD-API-KEY"] == API_KEY and request.headers["DD-APPLICATION-KEY"] == APP_KEY
    params = parse_qs(request.query)
    assert params["query"] == [QUERY]
    assert int(params["to"][0]) == int(now.timestamp()) and int(params["from"][0]) == int(now.timestamp()) - 60


def test_measure_takes_the_newest_point_its_time_the_count_and_a_baseline_a_week_earlier(api: LoopbackHttp) -> None:
    now = utcnow().replace(microsecond=0)
    week = dt.timedelta(days=7)
    recent = [[ms(now - dt.timedelta(minutes=m)), v] for m, v in ((3, 12.0), (2, None), (1, 14.0))]
    earlier = [[ms(now - week - dt.timedelta(minutes=m)), v] for m, v in ((3, 9.0), (1, 10.0))]
    api.route("/api/v1/query", json_answer(200, documented_answer(recent)),
              json_answer(200, documented_answer(earlier)))
    with client(api.url) as dd:
        measured = dd.measure(QUERY, window_s=600, now=now, baseline_offset_s=int(week.total_seconds()))
    assert measured.value == 14.0 and measured.observed_at == now - dt.timedelta(minutes=1)
    assert measured.sample_count == 2 and measured.baseline == 10.0
    baseline_request = parse_qs(api.requests[1].query)
    assert int(baseline_request["to"][0]) == int((now - week).timestamp())


def test_a_query_without_points_has_no_value(api: LoopbackHttp) -> None:
    api.route("/api/v1/query", json_answer(200, {**documented_answer([]), "series": []}))
    with client(api.url) as dd:
        measured = dd.measure(QUERY, window_s=600, now=utcnow())
    assert measured.value is None and measured.sample_count == 0


def test_several_series_are_refused_since_a_gate_needs_one_number(api: LoopbackHttp) -> None:
    now = utcnow()
    one = documented_answer([[ms(now), 1.0]], tag_set=["host:a"])
    two = documented_answer([[ms(now), 2.0]], tag_set=["host:b"])
    api.route("/api/v1/query", json_answer(200, {**one, "series": one["series"] + two["series"]}))
    with client(api.url) as dd, pytest.raises(QueryError, match="gave 2 series.*aggregate"):
        dd.measure(QUERY, window_s=600, now=now)


def test_status_error_and_400_are_query_errors_in_datadogs_words(api: LoopbackHttp) -> None:
    api.route("/api/v1/query", json_answer(200, {"status": "error", "error": "Rule 'sum:' is not a metric"}))
    with client(api.url) as dd, pytest.raises(QueryError, match="Rule 'sum:' is not a metric"):
        dd.query("sum:", utcnow() - dt.timedelta(minutes=5), utcnow())
    api.route("/api/v1/query", json_answer(400, {"errors": ["Error parsing query: unexpected end"]}))
    with client(api.url) as dd, pytest.raises(QueryError, match="Error parsing query") as caught:
        dd.query("sum:(", utcnow() - dt.timedelta(minutes=5), utcnow())
    assert caught.value.status == 400


@pytest.mark.parametrize("body", [[], {"status": "ok"}, {"series": [{"pointlist": [["x", 1]]}]}])
def test_answers_of_another_shape_are_bad_responses(body: Any) -> None:
    from launchdesk.flags.http import BadResponse

    with pytest.raises(BadResponse):
        parse_series(body)


# --- refusals and rate limits ---------------------------------------------------------------------------------


def test_403_is_an_auth_error_with_datadogs_reason_and_no_keys(api: LoopbackHttp) -> None:
    api.route("/api/v1/query", json_answer(403, {"errors": ["Forbidden"]}))
    with client(api.url) as dd, pytest.raises(AuthError) as caught:
        dd.query(QUERY, utcnow() - dt.timedelta(minutes=5), utcnow())
    assert "(403)" in str(caught.value) and "Forbidden" in str(caught.value)
    assert api.count("/api/v1/query") == 1, "a refusal is not retried"
    assert_no_keys(str(caught.value) + caught.value.server_message)


def test_429_with_retry_after_is_waited_out_then_answered(api: LoopbackHttp) -> None:
    now = utcnow()
    api.route("/api/v1/query", json_answer(429, {"errors": ["Too many requests"]}, {"Retry-After": "1"}),
              json_answer(200, documented_answer([[ms(now), 3.0]])))
    started = time.monotonic()
    with client(api.url) as dd:
        (series,) = dd.query(QUERY, now - dt.timedelta(minutes=5), now)
    assert series.points[-1].value == 3.0
    assert api.count("/api/v1/query") == 2
    assert time.monotonic() - started >= 0.9, "the client waited as Datadog asked"


def test_a_long_retry_after_is_reported_not_waited_and_the_gate_is_inconclusive(
    api: LoopbackHttp, tmp_path: Path
) -> None:
    api.route("/api/v1/query", json_answer(429, {"errors": ["Too many requests"]}, {"Retry-After": "120"}))
    started = time.monotonic()
    with client(api.url) as dd:
        with pytest.raises(RateLimited) as caught:
            dd.query(QUERY, utcnow() - dt.timedelta(minutes=5), utcnow())
        assert caught.value.retry_after == 120 and "wait 120 s" in str(caught.value)
        with create_workspace(tmp_path / "dd.launchdesk") as ws, ws.transaction() as session:
            rollout, source = rollout_with_datadog_gate(session, api.url)
            result = evaluate_rollout(session, rollout, sources={source.id: dd})[0]
    assert time.monotonic() - started < 5
    assert result.outcome == GateOutcome.INCONCLUSIVE and "rate limiting" in result.reason


# --- Datadog gates in a workspace -----------------------------------------------------------------------------


def rollout_with_datadog_gate(session: Any, url: str) -> tuple[Rollout, Connection]:
    source = Connection(name=f"Datadog {uuid.uuid4().hex[:6]}", kind=ConnectionKind.DATADOG, url=url)
    rollout = create_rollout_from_template(session, load_template(), name="Checkout", feature_name="Checkout",
                                           launch_start=utcnow())
    gate = rollout.gates[0]  # error rate < 0.1 %
    gate.source_connection, gate.query, gate.window_s, gate.min_samples = source, QUERY, 600, 2
    session.flush()
    return rollout, source


def test_an_unchanged_newest_point_is_stored_once_and_a_new_one_flips_the_gate(api: LoopbackHttp,
                                                                               tmp_path: Path) -> None:
    now = utcnow().replace(microsecond=0)
    before = [[ms(now - dt.timedelta(minutes=2)), 0.05], [ms(now - dt.timedelta(minutes=1)), 0.06]]
    after = before + [[ms(now), 0.4]]
    api.route("/api/v1/query", json_answer(200, documented_answer(before)),
              json_answer(200, documented_answer(before)), json_answer(200, documented_answer(after)))
    with create_workspace(tmp_path / "dd.launchdesk") as ws, ws.transaction() as session, client(api.url) as dd:
        rollout, source = rollout_with_datadog_gate(session, api.url)
        outcomes = [evaluate_rollout(session, rollout, now=now, sources={source.id: dd})[0].outcome
                    for _ in range(3)]
        stored = gate_history(session, rollout.gates[0])
    assert outcomes == [GateOutcome.PASS, GateOutcome.PASS, GateOutcome.FAIL]
    assert [(s.value, s.sampled_at) for s in stored] == [(0.06, now - dt.timedelta(minutes=1)), (0.4, now)]


def test_the_connection_reads_both_keys_from_the_keyring_and_the_site_picks_the_address(
    api: LoopbackHttp, secret_service: object
) -> None:
    from launchdesk.connections import secret_key
    from launchdesk.secrets import delete_secret, set_secret

    options = {"secret_id": uuid.uuid4().hex, "site": "datadoghq.eu"}
    connection = Connection(name="Datadog EU", kind=ConnectionKind.DATADOG, url=api.url, options=options)
    set_secret(secret_key(connection), f"{API_KEY} {APP_KEY}")  # one line, as `connection add` reads it
    try:
        api.route("/api/v1/query", json_answer(200, documented_answer([[ms(utcnow()), 1.0]])))
        with DatadogClient.for_connection(connection) as dd:
            dd.query(QUERY, utcnow() - dt.timedelta(minutes=5), utcnow())
        assert api.requests[0].headers["DD-API-KEY"] == API_KEY
        assert api.requests[0].headers["DD-APPLICATION-KEY"] == APP_KEY
        eu = Connection(name="Datadog EU", kind=ConnectionKind.DATADOG, url="", options=options)
        with DatadogClient.for_connection(eu) as dd:
            assert dd.http.base_url == "https://api.datadoghq.eu"
    finally:
        delete_secret(secret_key(connection))
    with pytest.raises(AuthError, match="holds no Datadog keys"):
        DatadogClient.for_connection(connection)


def test_sites_and_key_pairs() -> None:
    assert api_url("datadoghq.eu") == "https://api.datadoghq.eu"
    assert api_url("us5.datadoghq.com") == "https://api.us5.datadoghq.com"
    assert api_url("app.datadoghq.com") == "https://api.datadoghq.com"
    assert split_keys(f"  {API_KEY}\n{APP_KEY}\n") == (API_KEY, APP_KEY)
    with pytest.raises(AuthError, match="API key and the application key") as caught:
        split_keys(API_KEY)
    assert_no_keys(str(caught.value))


def test_the_gate_of_a_source_that_rate_limits_keeps_its_history(api: LoopbackHttp, tmp_path: Path) -> None:
    now = utcnow().replace(microsecond=0)
    api.route("/api/v1/query", json_answer(200, documented_answer([[ms(now - dt.timedelta(minutes=1)), 0.02],
                                                                   [ms(now), 0.03]])),
              json_answer(429, {"errors": ["Too many requests"]}, {"Retry-After": "600"}))
    with create_workspace(tmp_path / "dd.launchdesk") as ws, ws.transaction() as session, client(api.url) as dd:
        rollout, source = rollout_with_datadog_gate(session, api.url)
        first = evaluate_rollout(session, rollout, now=now, sources={source.id: dd})[0]
        second = evaluate_rollout(session, rollout, now=now + dt.timedelta(minutes=1), sources={source.id: dd})[0]
        stored = gate_history(session, rollout.gates[0])
    assert first.outcome == GateOutcome.PASS and second.outcome == GateOutcome.INCONCLUSIVE
    assert [s.value for s in stored] == [0.03, None]  # the last good value stays, the failure is on record
