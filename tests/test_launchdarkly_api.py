"""The LaunchDarkly client against a loopback server answering with LaunchDarkly's documented REST JSON."""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from launchdesk.flags.http import AuthError, NotFound, ServerError
from launchdesk.flags.launchdarkly_api import LaunchDarklyClient, flag_config, rollout_percentage
from loopback_http import Answer, LoopbackHttp, json_answer

FIXTURES = Path(__file__).parent / "fixtures" / "launchdarkly"
TOKEN = "api-" + secrets.token_hex(16)
FLAG_PATH = "/api/v2/flags/default/new-checkout"
SEGMENT_PATH = "/api/v2/segments/default/production/beta-accounts"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def authorized(answer: Answer) -> Answer:
    """LaunchDarkly answers 401 to any token but the right one."""

    def check(handler: BaseHTTPRequestHandler) -> None:
        if handler.headers.get("Authorization") != TOKEN:
            json_answer(401, fixture("error-unauthorized.json"))(handler)
        else:
            answer(handler)

    return check


@pytest.fixture
def launchdarkly() -> Iterator[LoopbackHttp]:
    server = LoopbackHttp()
    server.route(FLAG_PATH, authorized(json_answer(200, fixture("flag-new-checkout-production.json"))))
    server.route(SEGMENT_PATH, authorized(json_answer(200, fixture("segment-beta-accounts.json"))))
    server.route(
        "/api/v2/projects/default/environments/production",
        authorized(json_answer(200, fixture("environment-production.json"))),
    )
    for missing in ("/api/v2/flags/default/no-such-flag", "/api/v2/projects/default/environments/staging"):
        server.route(missing, authorized(json_answer(404, fixture("error-not-found.json"))))
    yield server
    server.stop()


@pytest.fixture
def client(launchdarkly: LoopbackHttp) -> Iterator[LaunchDarklyClient]:
    with LaunchDarklyClient(TOKEN, base_url=launchdarkly.url, backoff=0.01) as c:
        yield c


def test_get_flag_gives_the_environments_configuration(launchdarkly: LoopbackHttp, client: LaunchDarklyClient) -> None:
    config = client.get_flag("default", "new-checkout", "production")

    [request] = [r for r in launchdarkly.requests if r.path == FLAG_PATH]
    assert request.query == "env=production"
    assert request.headers["Authorization"] == TOKEN and request.headers["LD-API-Version"]
    assert config["key"] == "new-checkout" and config["environment"] == "production" and config["version"] == 9
    assert config["on"] is True and config["salt"] == "bmV3LWNoZWNrb3V0"
    assert config["variations"] == [True, False]
    assert config["variationNames"] == ["Available", "Not available"]
    assert config["offVariation"] == 1
    assert config["targets"] == [{"contextKind": "user", "values": ["user-anna", "user-ben"], "variation": 0}]
    # User targets keep their place among the context targets, as SDKs expect (an entry without values).
    assert config["contextTargets"] == [
        {"contextKind": "user", "values": [], "variation": 0},
        {"contextKind": "organization", "values": ["acct-design-partner-1"], "variation": 0},
        {"contextKind": "organization", "values": ["acct-opted-out"], "variation": 1},
    ]
    assert config["prerequisites"] == [{"key": "checkout-api-v2", "variation": 0}]
    assert config["fallthrough"] == {
        "rollout": {
            "variations": [{"variation": 0, "weight": 10000, "untracked": False},
                           {"variation": 1, "weight": 90000, "untracked": False}],
            "contextKind": "organization",
        }
    }
    # The disabled rule is gone; ids lose their underscore; the rollout rule keeps its bucketing.
    beta, gold = config["rules"]
    assert beta["id"] == "2c3b8f4e-1d8a-4b2b-9f55-4f4b2d9c1a01" and beta["variation"] == 0
    assert beta["clauses"] == [{"contextKind": "organization", "attribute": "segmentMatch", "op": "segmentMatch",
                                "values": ["beta-accounts"], "negate": False}]
    assert [c["attribute"] for c in gold["clauses"]] == ["tier", "seats"]
    assert gold["rollout"]["bucketBy"] == "key"
    assert [w["weight"] for w in gold["rollout"]["variations"]] == [25000, 75000]
    # The segment its rule names came along, fetched once.
    segment = config["segments"]["beta-accounts"]
    assert segment["includedContexts"] == [{"contextKind": "organization", "values": ["acct-beta-1", "acct-beta-2"]}]
    assert segment["rules"][0]["clauses"][0]["attribute"] == "betaOptIn"
    assert launchdarkly.count(SEGMENT_PATH) == 1
    assert json.loads(json.dumps(config)) == config


def test_the_normalized_flag_is_what_the_sdk_evaluates(client: LaunchDarklyClient, tmp_path: Path) -> None:
    """The official SDK, fed our normalized configuration from a flag file, serves what the REST JSON says."""
    import ldclient
    from ldclient import Context
    from ldclient.config import Config
    from ldclient.integrations import Files

    config = client.get_flag("default", "new-checkout", "production")
    prerequisite = {"key": "checkout-api-v2", "version": 1, "on": True, "variations": [True, False],
                    "fallthrough": {"variation": 0}, "offVariation": 1, "salt": "x"}
    data = {"flags": {"new-checkout": config, "checkout-api-v2": prerequisite}, "segments": config["segments"]}
    (tmp_path / "flags.json").write_text(json.dumps(data))
    sdk = ldclient.LDClient(Config(
        "sdk-key-unused", update_processor_class=Files.new_data_source(paths=[str(tmp_path / "flags.json")]),
        send_events=False, diagnostic_opt_out=True,
    ), start_wait=5)
    try:
        assert sdk.is_initialized()

        def served(key: str, kind: str = "organization", **attributes: object) -> bool:
            return why(key, kind, **attributes)[0]

        def why(key: str, kind: str = "organization", **attributes: object) -> tuple[bool, dict]:
            builder = Context.builder(key).kind(kind)
            for name, value in attributes.items():
                builder.set(name, value)
            detail = sdk.variation_detail("new-checkout", builder.build(), "default")
            return detail.value, detail.reason

        assert why("user-anna", kind="user") == (True, {"kind": "TARGET_MATCH"})
        assert why("acct-design-partner-1") == (True, {"kind": "TARGET_MATCH"})
        assert why("acct-opted-out", tier="gold") == (False, {"kind": "TARGET_MATCH"})
        beta_rule = {"kind": "RULE_MATCH", "ruleIndex": 0, "ruleId": "2c3b8f4e-1d8a-4b2b-9f55-4f4b2d9c1a01"}
        assert why("acct-beta-1") == (True, beta_rule)  # included in the segment
        assert why("acct-new", betaOptIn=True) == (True, beta_rule)  # the segment's rule
        assert why("acct-beta-churned", betaOptIn=True)[1]["kind"] == "FALLTHROUGH"  # excluded from it
        # The 25% gold rule and the 10% fallthrough: over many accounts, roughly those shares get access.
        gold = sum(served(f"acct-g{i}", tier="gold", seats=80) for i in range(2000)) / 2000
        rest = sum(served(f"acct-r{i}", tier="silver") for i in range(2000)) / 2000
        assert 0.21 < gold < 0.29 and 0.07 < rest < 0.13
    finally:
        sdk.close()


def test_rollout_percentage_of_the_fixture_and_simple_cases(client: LaunchDarklyClient) -> None:
    config = client.get_flag("default", "new-checkout", "production")
    assert rollout_percentage(config) == 25.0  # the gold rule's 25% beats the fallthrough's 10%

    def simple(on: bool, fallthrough: dict, variations: list | None = None) -> dict:
        rep = {"key": "f", "variations": [{"value": v} for v in (variations or [True, False])],
               "environments": {"production": {"on": on, "offVariation": 1, "fallthrough": fallthrough}}}
        return flag_config(rep, "production", {})

    assert rollout_percentage(simple(False, {"variation": 0})) == 0.0
    assert rollout_percentage(simple(True, {"variation": 0})) == 100.0
    assert rollout_percentage(simple(True, {"variation": 1})) == 0.0
    assert rollout_percentage(simple(True, {"variation": 0}, ["red", "green"])) is None


def test_test_connection(client: LaunchDarklyClient) -> None:
    check = client.test_connection("default", "production")
    assert check.ok, check.message


def test_a_wrong_token_is_an_auth_error(launchdarkly: LoopbackHttp) -> None:
    wrong = "api-" + secrets.token_hex(16)
    with LaunchDarklyClient(wrong, base_url=launchdarkly.url) as client:
        check = client.test_connection("default", "production")
        assert not check.ok and isinstance(check.error, AuthError) and check.error.status == 401
        with pytest.raises(AuthError) as caught:
            client.get_flag("default", "new-checkout", "production")
    for message in (check.message, str(caught.value)):
        assert wrong not in message and TOKEN not in message
    assert "Invalid access token" in str(caught.value)


def test_unknown_flag_and_environment_are_not_found(client: LaunchDarklyClient) -> None:
    with pytest.raises(NotFound, match="no flag 'no-such-flag'"):
        client.get_flag("default", "no-such-flag", "production")
    check = client.test_connection("default", "staging")
    assert not check.ok and isinstance(check.error, NotFound)
    assert "staging" in check.message
    with pytest.raises(NotFound, match="no environment 'staging'"):
        client.get_flag("default", "new-checkout", "staging")


def rest_flag(key: str, prerequisites: list[str], *, archived: bool = False) -> dict:
    """The documented REST shape (the new-checkout example) for another flag, needing `prerequisites` (variation 0)."""
    rep = fixture("flag-new-checkout-production.json")
    rep.update(key=key, name=key, archived=archived)
    rep["environments"]["production"]["prerequisites"] = [{"key": k, "variation": 0} for k in prerequisites]
    rep["environments"]["production"]["rules"] = []
    return rep


def test_prerequisites_are_fetched_level_by_level_each_once(launchdarkly: LoopbackHttp) -> None:
    """new-checkout -> checkout-api-v2 -> {payments, ledger}; payments -> {ledger, new-checkout} (a circle);
    ledger -> retired (archived) and gone (404). The two flags of one level are fetched side by side: each
    answer waits until both requests have arrived."""
    both = threading.Barrier(2, timeout=5)

    def together(rep: dict) -> Answer:
        def answer(handler: BaseHTTPRequestHandler) -> None:
            both.wait()
            json_answer(200, rep)(handler)

        return authorized(answer)

    flags = {
        "checkout-api-v2": authorized(json_answer(200, rest_flag("checkout-api-v2", ["payments", "ledger"]))),
        "payments": together(rest_flag("payments", ["ledger", "new-checkout"])),
        "ledger": together(rest_flag("ledger", ["retired", "gone"])),
        "retired": authorized(json_answer(200, rest_flag("retired", [], archived=True))),
        "gone": authorized(json_answer(404, fixture("error-not-found.json"))),
    }
    for key, answer in flags.items():
        launchdarkly.route(f"/api/v2/flags/default/{key}", answer)
    with LaunchDarklyClient(TOKEN, base_url=launchdarkly.url, backoff=0.01) as client:
        config = client.get_flag("default", "new-checkout", "production")
        found = client.get_prerequisites("default", config, "production")

    assert [f["key"] for f in found["prerequisiteFlags"]] == ["checkout-api-v2", "payments", "ledger"]
    assert found["missingPrerequisites"] == ["retired", "gone"] and found["unsyncedPrerequisites"] == []
    assert found["prerequisiteFlags"][1]["prerequisites"] == [{"key": "ledger", "variation": 0},
                                                             {"key": "new-checkout", "variation": 0}]
    # Each flag once, for the environment asked; each prerequisite with the segments its rules name.
    for key in [*flags, "new-checkout"]:
        requests = [r for r in launchdarkly.requests if r.path == f"/api/v2/flags/default/{key}"]
        assert len(requests) == 1 and requests[0].query == "env=production", key
    assert all("segments" in f for f in found["prerequisiteFlags"])
    assert json.loads(json.dumps(found)) == found


def test_prerequisites_deeper_than_the_limit_are_listed_not_fetched(launchdarkly: LoopbackHttp) -> None:
    chain = [f"step-{i}" for i in range(6)]
    launchdarkly.route("/api/v2/flags/default/checkout-api-v2",
                       authorized(json_answer(200, rest_flag("checkout-api-v2", [chain[0]]))))
    for key, after in zip(chain, chain[1:] + [None]):
        launchdarkly.route(f"/api/v2/flags/default/{key}",
                           authorized(json_answer(200, rest_flag(key, [after] if after else []))))
    with LaunchDarklyClient(TOKEN, base_url=launchdarkly.url, backoff=0.01) as client:
        config = client.get_flag("default", "new-checkout", "production")
        found = client.get_prerequisites("default", config, "production", max_depth=3)
        everything = client.get_prerequisites("default", config, "production")
    assert [f["key"] for f in found["prerequisiteFlags"]] == ["checkout-api-v2", "step-0", "step-1"]
    assert found["unsyncedPrerequisites"] == ["step-2"]
    assert launchdarkly.count("/api/v2/flags/default/step-2") == 1  # by the second call only
    assert [f["key"] for f in everything["prerequisiteFlags"]] == ["checkout-api-v2", *chain]
    assert everything["unsyncedPrerequisites"] == [] == everything["missingPrerequisites"]


def test_a_prerequisite_that_keeps_failing_raises(launchdarkly: LoopbackHttp) -> None:
    launchdarkly.route("/api/v2/flags/default/checkout-api-v2", json_answer(502, {"message": "bad gateway"}))
    with LaunchDarklyClient(TOKEN, base_url=launchdarkly.url, backoff=0.01, retries=2) as client:
        config = client.get_flag("default", "new-checkout", "production")
        with pytest.raises(ServerError):
            client.get_prerequisites("default", config, "production")
    assert launchdarkly.count("/api/v2/flags/default/checkout-api-v2") == 3  # the retries of any request
