"""The local LaunchDarkly evaluator agrees with the official server-side SDK on generated flags and contexts.

The SDK runs offline: its in-memory feature store is filled with the same raw flag JSON (salts, seeds,
bucketBy, experiments cannot all be expressed through TestData), daemon mode so it never connects, no events.
Every generated case must give the same variation index and value.
"""

from __future__ import annotations

import logging
import random
from collections import Counter

import pytest

from launchdesk.flags.launchdarkly_eval import LaunchDarklySnapshot

pytest.importorskip("ldclient")
from ldclient import Context  # noqa: E402
from ldclient.client import LDClient  # noqa: E402
from ldclient.config import Config  # noqa: E402
from ldclient.feature_store import InMemoryFeatureStore  # noqa: E402
from ldclient.versioned_data_kind import FEATURES, SEGMENTS  # noqa: E402

KEYS = [f"acct-{i}" for i in range(30)]
ORGS = [f"org-{i}" for i in range(6)]
PLANS = ["pro", "enterprise", "starter", "Pro"]
VERSIONS = ["1.2.3", "1.2", "2", "2.0.0-beta.1", "v1.0.0", "1.10.0", "not-a-version"]
DATES = ["2024-01-15T10:00:00Z", "2023-06-01T00:00:00+02:00", "2024-01-15T10:00:00", 1705312800000, "garbage"]
ATTRIBUTES = ["key", "name", "plan", "region", "seats", "email", "version", "signup", "tags", "anonymous", "kind",
              "/address/city", "missing"]  # fmt: skip
OPS = ["in", "endsWith", "startsWith", "matches", "contains", "lessThan", "lessThanOrEqual", "greaterThan",
       "greaterThanOrEqual", "before", "after", "semVerEqual", "semVerLessThan", "semVerGreaterThan",
       "segmentMatch", "notAnOperator"]  # fmt: skip


def clause_values(rng: random.Random, op: str) -> list:
    if op == "segmentMatch":
        return rng.sample(["seg-a", "seg-b", "seg-missing"], k=rng.randint(1, 2))
    if op in ("lessThan", "lessThanOrEqual", "greaterThan", "greaterThanOrEqual"):
        return rng.sample([5, 10, 100.5, "10", True], k=rng.randint(1, 2))
    if op in ("before", "after"):
        return [rng.choice(["2024-01-01T00:00:00Z", "2024-06-01T00:00:00.000Z", 1704067200000, "nonsense"])]
    if op.startswith("semVer"):
        return [rng.choice(["1.2.3", "2.0.0", "1.2", "2.0.0-alpha", "bad"])]
    if op == "matches":
        return [rng.choice(["^acct-1", "pro$", "(?i)^PRO", "[", "@example\\.com$", "^\\d+$"])]
    pool = KEYS[:6] + ORGS[:2] + PLANS + ["eu", "us", "example.com", "acct", "ro", 10, True, "user", "org", "Berlin"]
    return rng.sample(pool, k=rng.randint(1, 3))


def random_clause(rng: random.Random) -> dict:
    op = rng.choice(OPS)
    clause: dict = {"attribute": rng.choice(ATTRIBUTES), "op": op, "values": clause_values(rng, op)}
    if rng.random() < 0.3:
        clause["negate"] = True
    if rng.random() < 0.4:
        clause["contextKind"] = rng.choice(["user", "org"])
    return clause


def random_rollout(rng: random.Random, variations: int) -> dict:
    cuts = sorted(rng.randint(0, 100000) for _ in range(variations - 1))
    weights = [b - a for a, b in zip([0] + cuts, cuts + [100000])]
    if rng.random() < 0.1:
        weights[-1] -= rng.randint(1, 5000)  # weights that do not add up: the last bucket catches the rest
    rollout: dict = {"variations": [{"variation": i, "weight": w} for i, w in enumerate(weights)]}
    if rng.random() < 0.3:
        rollout["seed"] = rng.randint(-1000, 100000)
    if rng.random() < 0.3:
        rollout["bucketBy"] = rng.choice(["plan", "seats", "email", "anonymous", "missing", "/address/city"])
    if rng.random() < 0.3:
        rollout["contextKind"] = rng.choice(["user", "org"])
    if rng.random() < 0.15:
        rollout["kind"] = "experiment"
    return rollout


def variation_or_rollout(rng: random.Random, variations: int) -> dict:
    if rng.random() < 0.5:
        return {"variation": rng.randrange(variations + (1 if rng.random() < 0.05 else 0))}
    return {"rollout": random_rollout(rng, variations)}


def random_prerequisites(rng: random.Random, earlier: list[str], later: list[str]) -> list[dict]:
    """Prerequisites on earlier flags (so chains form), now and then on a flag that does not exist or on a later
    flag (which may close a circle), requiring a variation that may not exist."""
    if not earlier or rng.random() >= 0.5:
        return []
    keys = rng.sample(earlier, k=min(len(earlier), rng.choice([1, 1, 2, 3])))
    if rng.random() < 0.1:
        keys.insert(rng.randrange(len(keys) + 1), "flag-that-does-not-exist")
    if later and rng.random() < 0.05:
        keys.append(rng.choice(later))
    return [{"key": k, "variation": rng.choice([0, 0, 1, 1, 2, 3])} for k in keys]


def random_flag(rng: random.Random, key: str, others: list[str], later: list[str] = ()) -> dict:
    variations = [True, False] if rng.random() < 0.8 else ["red", "green", "blue"]
    n = len(variations)
    flag: dict = {
        "key": key,
        "version": 1,
        "on": rng.random() < 0.85,
        "salt": rng.choice(["abc123", "", "0f1e2d"]),
        "variations": variations,
        "offVariation": rng.choice([0, 1, 1, None]),
        # Now and then a fallthrough that serves nothing: the SDK answers with an error, which as a prerequisite
        # means not met.
        "fallthrough": variation_or_rollout(rng, n) if rng.random() < 0.97 else {},
        "targets": [],
        "contextTargets": [],
        "rules": [],
        "prerequisites": [],
        "trackEvents": False,
        "deleted": False,
    }
    for variation in range(n):
        if rng.random() < 0.3:
            flag["targets"].append({"variation": variation, "values": rng.sample(KEYS, k=3)})
    if rng.random() < 0.3:
        flag["contextTargets"] = [{"contextKind": "org", "variation": rng.randrange(n), "values": rng.sample(ORGS, k=2)}]
        flag["contextTargets"] += [{"contextKind": "user", "variation": t["variation"], "values": []} for t in flag["targets"]]
    for index in range(rng.choice([0, 1, 2, 3])):
        rule = {"id": f"rule-{index}", "clauses": [random_clause(rng) for _ in range(rng.randint(1, 2))]}
        rule.update(variation_or_rollout(rng, n))
        flag["rules"].append(rule)
    flag["prerequisites"] = random_prerequisites(rng, others, list(later))
    return flag


SEGMENT_LIST = [
    {"key": "seg-a", "version": 1, "salt": "s1", "included": KEYS[:3], "excluded": KEYS[3:5],
     "rules": [{"clauses": [{"attribute": "plan", "op": "in", "values": ["pro"]}], "weight": 50000}]},
    {"key": "seg-b", "version": 1, "salt": "s2", "included": [], "excluded": [],
     "includedContexts": [{"contextKind": "org", "values": ORGS[:2]}],
     "rules": [{"clauses": [{"attribute": "region", "op": "in", "values": ["eu"]}]},
               {"clauses": [{"attribute": "seats", "op": "greaterThan", "values": [50]}], "weight": 30000,
                "bucketBy": "email"}]},
]  # fmt: skip


def random_context(rng: random.Random) -> dict:
    def user() -> dict:
        attributes = {"kind": "user", "key": rng.choice(KEYS)}
        optional = {
            "name": rng.choice(["Ann", "Bo"]),
            "plan": rng.choice(PLANS),
            "region": rng.choice(["eu", "us", "apac"]),
            "seats": rng.choice([1, 10, 50, 100.5, "10", 1000]),
            "email": rng.choice(["ann@example.com", "bo@corp.io"]),
            "version": rng.choice(VERSIONS),
            "signup": rng.choice(DATES),
            "tags": rng.sample(["beta", "pro", "eu", "example.com"], k=2),
            "anonymous": rng.random() < 0.5,
            "address": {"city": rng.choice(["Berlin", "Paris"])},
        }
        for name, value in optional.items():
            if rng.random() < 0.6:
                attributes[name] = value
        return attributes

    shape = rng.random()
    if shape < 0.6:
        return user()
    org = {"kind": "org", "key": rng.choice(ORGS), "plan": rng.choice(PLANS), "seats": rng.choice([5, 60, 500])}
    if shape < 0.85:
        u = user()
        return {"kind": "multi", "user": {k: v for k, v in u.items() if k != "kind"}, "org": {k: v for k, v in org.items() if k != "kind"}}
    if shape < 0.93:
        return org
    return {"key": rng.choice(KEYS), "email": "ann@example.com", "custom": {"plan": rng.choice(PLANS), "seats": 10}}


@pytest.fixture
def sdk_client():
    clients = []
    logging.getLogger("ldclient").setLevel(logging.CRITICAL)

    def make(flags: list[dict], segments: list[dict]) -> LDClient:
        store = InMemoryFeatureStore()
        store.init({FEATURES: {f["key"]: f for f in flags}, SEGMENTS: {s["key"]: s for s in segments}})
        config = Config("sdk-key-for-offline-tests", feature_store=store, use_ldd=True, send_events=False,
                        diagnostic_opt_out=True)  # fmt: skip
        client = LDClient(config=config)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


# Our codes and the SDK's reason kinds (an error is an error, whatever its kind).
SDK_KINDS = {"flag_off": "OFF", "prerequisite_failed": "PREREQUISITE_FAILED", "target_match": "TARGET_MATCH",
             "rule_match": "RULE_MATCH", "fallthrough": "FALLTHROUGH", "malformed_flag": "ERROR",
             "invalid_context": "ERROR", "unknown_flag": "ERROR"}  # fmt: skip


def assert_agrees(client: LDClient, ours: LaunchDarklySnapshot, key: str, context: dict, flags: list[dict]) -> dict:
    """Same variation, value, reason kind and failed prerequisite as the SDK; the SDK's reason."""
    detail = client.variation_detail(key, Context.from_dict(context), False)
    answer = ours.explain(key, context)
    seen = (answer.variation, answer.value, SDK_KINDS[answer.code], answer.prerequisite_key)
    expected = (detail.variation_index, detail.value, detail.reason["kind"], detail.reason.get("prerequisiteKey"))
    assert seen == expected, (key, flags, context, answer, detail.reason)
    return detail.reason


def test_agrees_with_the_sdk_on_generated_flags_and_contexts(sdk_client):
    """Flags with chains of prerequisites (several per flag, some off, some missing, some in a circle) too."""
    rng = random.Random(424242)
    compared = 0
    kinds: Counter = Counter()
    for _ in range(40):
        keys = [f"flag-{i}" for i in range(6)]
        flags = [random_flag(rng, key, keys[:i], keys[i + 1 :]) for i, key in enumerate(keys)]
        client = sdk_client(flags, SEGMENT_LIST)
        ours = LaunchDarklySnapshot(flags, SEGMENT_LIST)
        for _ in range(60):
            context = random_context(rng)
            for key in keys:
                reason = assert_agrees(client, ours, key, context, flags)
                kinds[reason["kind"]] += 1
                compared += 1
    assert compared >= 10000
    # Every step is exercised, prerequisites failing among them.
    assert min(kinds[k] for k in ("OFF", "PREREQUISITE_FAILED", "TARGET_MATCH", "RULE_MATCH", "FALLTHROUGH")) > 200
    assert kinds["ERROR"] > 50


def test_agrees_with_the_sdk_on_prerequisite_chains(sdk_client):
    """A chain app -> api -> db -> payments with each link's requirement met, then broken link by link: an off
    prerequisite, another variation served, a missing flag, a circle; and a flag with two prerequisites."""

    def flag(key: str, prerequisites: list[tuple[str, int]], **settings) -> dict:
        return {"key": key, "version": 1, "on": True, "salt": key, "variations": ["a", "b", "c"], "offVariation": 2,
                "fallthrough": {"variation": 0}, "targets": [], "contextTargets": [], "rules": [],
                "prerequisites": [{"key": k, "variation": v} for k, v in prerequisites], "trackEvents": False,
                "deleted": False, **settings}  # fmt: skip

    chain = {
        "app": flag("app", [("api", 0)]),
        "api": flag("api", [("db", 1)], fallthrough={"variation": 0}),
        "db": flag("db", [("payments", 0)], fallthrough={"variation": 1},
                   rules=[{"id": "r", "clauses": [{"attribute": "plan", "op": "in", "values": ["starter"]}],
                           "variation": 0}]),
        "payments": flag("payments", [], offVariation=0),
        "both": flag("both", [("payments", 0), ("db", 1)]),
    }  # fmt: skip
    broken = {
        "intact": {},
        "payments off (its off variation is the one required, still not met)": {"payments": {"on": False}},
        "db off": {"db": {"on": False}},
        "db serves another variation": {"db": {"fallthrough": {"variation": 2}}},
        "db serves a variation that does not exist": {"db": {"fallthrough": {"variation": 7}}},
        "db serves a variation that does not exist, which api requires": {
            "db": {"fallthrough": {"variation": 7}}, "api": {"prerequisites": [{"key": "db", "variation": 7}]}},
        "db serves nothing": {"db": {"fallthrough": {}}},
        "api requires a variation that does not exist": {"api": {"prerequisites": [{"key": "db", "variation": 9}]}},
        "payments missing": {"payments": None},
        "circle payments -> app": {"payments": {"prerequisites": [{"key": "app", "variation": 0}]}},
        "circle payments -> payments": {"payments": {"prerequisites": [{"key": "payments", "variation": 0}]}},
        "app's off variation unset": {"app": {"offVariation": None}, "payments": {"on": False}},
    }
    contexts = [{"kind": "user", "key": "u1"}, {"kind": "user", "key": "u2", "plan": "starter"}]
    for case, changes in broken.items():
        flags = []
        for key, base in chain.items():
            if key in changes and changes[key] is None:
                continue
            flags.append({**base, **(changes.get(key) or {})})
        client = sdk_client(flags, [])
        ours = LaunchDarklySnapshot(flags, environment="production")
        for key in chain:
            for context in contexts:
                assert_agrees(client, ours, key, context, [case, *flags])

    # The words say which prerequisite failed, and why.
    ours = LaunchDarklySnapshot([chain["app"], chain["api"], {**chain["db"], "on": False}, chain["payments"]],
                                environment="production")  # fmt: skip
    app = ours.explain("app", contexts[0], enabled_variations={0})
    assert (app.code, app.prerequisite_key, app.variation) == ("prerequisite_failed", "api", 2)
    assert app.reason == (
        "not enabled: prerequisite api failed (it serves variation 2 ('c') where variation 0 ('a') is required, "
        "because its own prerequisite db failed), serves its off variation 2 ('c')"
    )
    assert ours.explain("api", contexts[0], enabled_variations={0}).reason == (
        "not enabled: prerequisite db failed (it is off in production), serves its off variation 2 ('c')"
    )
    missing = LaunchDarklySnapshot([chain["app"]]).explain("app", contexts[0])
    assert missing.prerequisite_key == "api" and "api failed (LaunchDarkly has no such flag" in missing.reason
    circle = LaunchDarklySnapshot([chain["app"], {**chain["api"], "prerequisites": [{"key": "app", "variation": 0}]}])
    assert circle.explain("app", contexts[0]).code == "malformed_flag"
    assert "app -> api -> app" in circle.explain("app", contexts[0]).reason
    # A prerequisite a sync did not follow (too deep) makes the answer unpredictable, not a failure.
    unsynced = LaunchDarklySnapshot([chain["app"], chain["api"]], unsynced=["db"]).explain("app", contexts[0])
    assert (unsynced.enabled, unsynced.code) == (None, "unpredictable_prerequisite")


def test_reasons_name_the_deciding_step():
    flag = {
        "key": "new-editor", "on": True, "salt": "x", "variations": [True, False], "offVariation": 1,
        "targets": [{"variation": 0, "values": ["acct-vip"]}],
        "rules": [{"clauses": [{"attribute": "plan", "op": "in", "values": ["enterprise"]}], "variation": 0}],
        "fallthrough": {"rollout": {"variations": [{"variation": 0, "weight": 25000}, {"variation": 1, "weight": 75000}]}},
    }  # fmt: skip
    snapshot = LaunchDarklySnapshot([flag], environment="production")
    vip = snapshot.explain("new-editor", {"kind": "user", "key": "acct-vip"})
    assert (vip.enabled, vip.code, vip.variation) == (True, "target_match", 0)
    enterprise = snapshot.explain("new-editor", {"kind": "user", "key": "a1", "plan": "enterprise"})
    assert enterprise.code == "rule_match" and "plan in [enterprise]" in enterprise.reason
    rolled = snapshot.explain("new-editor", {"kind": "user", "key": "a2", "plan": "starter"})
    assert rolled.code == "fallthrough" and "bucket" in rolled.reason
    off = LaunchDarklySnapshot([{**flag, "on": False}], environment="production").explain("new-editor", {"kind": "user", "key": "a"})
    assert (off.enabled, off.code) == (False, "flag_off") and "off in production" in off.reason


def test_rest_api_flags_are_read_for_one_environment():
    rest_flag = {
        "key": "new-editor",
        "variations": [{"_id": "a", "value": True}, {"_id": "b", "value": False}],
        "environments": {
            "production": {"on": True, "salt": "s", "offVariation": 1, "fallthrough": {"variation": 1},
                           "targets": [{"variation": 0, "values": ["acct-1"]}], "rules": [], "prerequisites": []},
            "staging": {"on": False, "salt": "s", "offVariation": 1, "fallthrough": {"variation": 0}},
        },
    }  # fmt: skip
    production = LaunchDarklySnapshot([rest_flag], environment="production")
    assert production.is_enabled("new-editor", {"kind": "user", "key": "acct-1"}) is True
    assert production.is_enabled("new-editor", {"kind": "user", "key": "acct-2"}) is False
    assert LaunchDarklySnapshot([rest_flag], environment="staging").explain("new-editor", {"kind": "user", "key": "acct-1"}).code == "flag_off"
