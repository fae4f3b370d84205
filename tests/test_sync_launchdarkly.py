"""Flag sync from LaunchDarkly (a loopback server answering with its documented REST JSON, since LaunchDarkly
itself cannot run here), with the official server SDK as the oracle for every account's access."""

from __future__ import annotations

import copy
import csv
import json
import random
import secrets
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from sqlalchemy import select

from launchdesk.access.evaluate import SnapshotEvaluator, account_context, typed_attribute
from launchdesk.access.lookup import lookup
from launchdesk.access.sync import rollout_snapshot, sync_flags
from launchdesk.accounts.importer import import_accounts
from launchdesk.connections import add_connection
from launchdesk.flags.launchdarkly_api import LaunchDarklyClient
from launchdesk.models import Account, FlagSnapshot, Rollout, SyncStatus
from launchdesk.workspace import Workspace, create_workspace
from loopback_http import Answer, LoopbackHttp, json_answer

FIXTURES = Path(__file__).parent / "fixtures" / "launchdarkly"
FLAG_PATH = "/api/v2/flags/default/new-checkout"
SEGMENT_PATH = "/api/v2/segments/default/production/beta-accounts"
PREREQUISITE_PATH = "/api/v2/flags/default/checkout-api-v2"
CHAIN_PATH = "/api/v2/flags/default/payments-v3"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture
def token() -> str:
    return "api-" + secrets.token_hex(16)


def payments_v3(on: bool = True) -> dict:
    """The last flag of the prerequisite chain (new-checkout -> checkout-api-v2 -> payments-v3): on for everyone,
    the documented shape of checkout-api-v2 with its rule, rollout and prerequisite taken out."""
    flag = copy.deepcopy(fixture("flag-checkout-api-v2-production.json"))
    flag.update(key="payments-v3", name="Payments v3")
    env = flag["environments"]["production"]
    env.update(on=on, rules=[], prerequisites=[], fallthrough={"variation": 0}, salt="cGF5bWVudHMtdjM=")
    return flag


def authorized(token: str, answer: Answer) -> Answer:
    """LaunchDarkly answers 401 to any token but the right one."""

    def check(handler: BaseHTTPRequestHandler) -> None:
        if handler.headers.get("Authorization") != token:
            json_answer(401, fixture("error-unauthorized.json"))(handler)
        else:
            answer(handler)

    return check


@pytest.fixture
def launchdarkly(token: str) -> Iterator[LoopbackHttp]:
    """The documented example flag, which depends on checkout-api-v2, which depends on payments-v3."""
    server = LoopbackHttp()
    server.route(FLAG_PATH, authorized(token, json_answer(200, fixture("flag-new-checkout-production.json"))))
    server.route(SEGMENT_PATH, authorized(token, json_answer(200, fixture("segment-beta-accounts.json"))))
    server.route(PREREQUISITE_PATH,
                 authorized(token, json_answer(200, fixture("flag-checkout-api-v2-production.json"))))
    server.route(CHAIN_PATH, authorized(token, json_answer(200, payments_v3())))
    yield server
    server.stop()


def write_accounts(path: Path) -> Path:
    rnd = random.Random(5)
    special = ["acct-design-partner-1", "acct-opted-out", "acct-beta-1", "acct-beta-churned"]
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["account_id", "name", "tier", "seats", "betaOptIn", "region"])
        for i, key in enumerate(special + [f"acct-{i:04d}" for i in range(400)]):
            w.writerow([key, f"Org {i}", rnd.choice(["gold", "silver", "bronze"]), rnd.randint(1, 200),
                        rnd.choice(["true", "false", ""]), rnd.choice(["eu", "us"])])
    return path


def sdk_client(config: dict, tmp_path: Path):
    """The official SDK reading the synced flag and the prerequisite flags synced with it from a flag file."""
    import ldclient
    from ldclient.config import Config
    from ldclient.integrations import Files

    flags = [config, *config.get("prerequisiteFlags", [])]
    data = {"flags": {f["key"]: f for f in flags}, "segments": {k: v for f in flags for k, v in f["segments"].items()}}
    (tmp_path / "flags.json").write_text(json.dumps(data))
    return ldclient.LDClient(Config(
        "sdk-key-unused", update_processor_class=Files.new_data_source(paths=[str(tmp_path / "flags.json")]),
        send_events=False, diagnostic_opt_out=True,
    ), start_wait=5)


def linked_workspace(tmp_path: Path, launchdarkly: LoopbackHttp, token: str) -> Workspace:
    ws = create_workspace(tmp_path / "ld.launchdesk")
    import_accounts(ws, write_accounts(tmp_path / "accounts.csv"))
    with ws.transaction() as s:
        connection = add_connection(s, "launchdarkly", "launchdarkly", url=launchdarkly.url, project="default",
                                    environment="production", options={"context_kind": "organization"},
                                    secret=token)
        s.add(Rollout(name="New checkout", feature_name="Checkout", flag_connection=connection,
                      flag_key="new-checkout", flag_environment="production"))
    return ws


SDK_KINDS = {"flag_off": "OFF", "prerequisite_failed": "PREREQUISITE_FAILED", "target_match": "TARGET_MATCH",
             "rule_match": "RULE_MATCH", "fallthrough": "FALLTHROUGH"}  # fmt: skip


def compare_with_sdk(ws: Workspace, tmp_path: Path) -> dict[str, Counter]:
    """Every account's access by lookup, and the reason behind it, against the SDK fed the synced snapshot;
    the SDK's reason kinds counted, with the failed prerequisite's key for PREREQUISITE_FAILED."""
    from ldclient import Context

    kinds: Counter = Counter()
    with ws.session() as s:
        snapshot = rollout_snapshot(s, s.scalars(select(Rollout)).one())
        ours = SnapshotEvaluator(snapshot)
        sdk = sdk_client(snapshot.definition, tmp_path)
        try:
            assert sdk.is_initialized()
            seen = {True: 0, False: 0}
            for account in s.scalars(select(Account)):
                builder = Context.builder(account.account_key).kind("organization").name(account.name)
                for name, value in account.attributes.items():
                    if value != "":
                        builder.set(name, typed_attribute(value))
                detail = sdk.variation_detail("new-checkout", builder.build(), None)
                (answer,) = lookup(s, account.account_key, rollout_name="New checkout", limit=1)
                assert answer.has_access == ("true" if detail.value else "false"), (account.account_key, answer)
                why = ours.explain(account_context(account))
                assert why.variation == detail.variation_index, (account.account_key, why, detail.reason)
                assert SDK_KINDS[why.code] == detail.reason["kind"], (account.account_key, why, detail.reason)
                assert why.prerequisite_key == detail.reason.get("prerequisiteKey")
                assert why.reason == answer.reason
                kinds[detail.reason["kind"], detail.reason.get("prerequisiteKey")] += 1
                seen[bool(detail.value)] += 1
        finally:
            sdk.close()
        assert snapshot.access_summary["enabled"] == seen[True]
    return {"kinds": kinds, "seen": Counter(seen)}


def test_every_account_matches_the_launchdarkly_sdk(tmp_path, launchdarkly, token, secret_service):
    """The documented example with its prerequisite chain: new-checkout needs checkout-api-v2 (v2 for all but EU
    accounts, then 80%), which needs payments-v3 (on for everyone)."""
    ws = linked_workspace(tmp_path, launchdarkly, token)
    report = sync_flags(ws)
    assert report.status is SyncStatus.OK, report.errors
    (result,) = report.flags
    assert result.enabled is True and result.percentage == 25.0
    # Each prerequisite was fetched once, for the rollout's environment.
    for path in (PREREQUISITE_PATH, CHAIN_PATH):
        [request] = [r for r in launchdarkly.requests if r.path == path]
        assert request.query == "env=production"
    with ws.session() as s:
        definition = rollout_snapshot(s, s.scalars(select(Rollout)).one()).definition
        assert [f["key"] for f in definition["prerequisiteFlags"]] == ["checkout-api-v2", "payments-v3"]
        assert definition["missingPrerequisites"] == [] and definition["unsyncedPrerequisites"] == []

    counted = compare_with_sdk(ws, tmp_path)
    kinds, seen = counted["kinds"], counted["seen"]
    assert seen[True] > 10 and seen[False] > 10
    assert kinds["PREREQUISITE_FAILED", "checkout-api-v2"] > 50 and kinds["FALLTHROUGH", None] > 50
    with ws.session() as s:
        eu = s.scalars(select(Account).where(Account.account_key.like("acct-0%"))).all()
        eu = [a.account_key for a in eu if a.attributes["region"] == "eu"][:5]
        assert eu
        for key in eu:
            # EU accounts stay on checkout API v1, so the prerequisite fails for them: the off variation.
            (answer,) = lookup(s, key, rollout_name="New checkout", limit=1)
            assert answer.has_access == "false"
            assert answer.reason == (
                "not enabled: prerequisite checkout-api-v2 failed (it serves variation 1 (False) where variation 0 "
                "(True) is required, because rule 1 matched (region in [eu])), serves its off variation 1 (False)"
            )
        (opted_out,) = lookup(s, "acct-opted-out", rollout_name="New checkout", limit=1)
        assert opted_out.has_access == "false"
    ws.close()


def test_a_segment_named_along_the_chain_is_fetched_once(launchdarkly, token):
    """payments-v3 names the segment new-checkout names: one read serves both configurations."""
    chain = payments_v3()
    beta_rule = copy.deepcopy(fixture("flag-new-checkout-production.json")["environments"]["production"]["rules"][0])
    chain["environments"]["production"]["rules"] = [beta_rule]
    launchdarkly.route(CHAIN_PATH, authorized(token, json_answer(200, chain)))
    with LaunchDarklyClient(token, base_url=launchdarkly.url, backoff=0.01) as client:
        config = client.get_flag("default", "new-checkout", "production")
        config.update(client.get_prerequisites("default", config, "production"))
    assert launchdarkly.count(SEGMENT_PATH) == 1
    payments = next(f for f in config["prerequisiteFlags"] if f["key"] == "payments-v3")
    assert payments["segments"]["beta-accounts"] == config["segments"]["beta-accounts"]
    assert config["segments"]["beta-accounts"]["key"] == "beta-accounts"


def test_an_off_prerequisite_further_down_the_chain_turns_the_flag_off_for_everyone(
    tmp_path, launchdarkly, token, secret_service
):
    launchdarkly.route(CHAIN_PATH, authorized(token, json_answer(200, payments_v3(on=False))))
    ws = linked_workspace(tmp_path, launchdarkly, token)
    report = sync_flags(ws)
    assert report.status is SyncStatus.OK, report.errors
    counted = compare_with_sdk(ws, tmp_path)
    # payments-v3 is off, so checkout-api-v2 serves its off variation (1) where new-checkout needs 0.
    assert counted["seen"][True] == 0
    assert counted["kinds"] == Counter({("PREREQUISITE_FAILED", "checkout-api-v2"): 404})
    with ws.session() as s:
        (answer,) = lookup(s, "acct-design-partner-1", rollout_name="New checkout", limit=1)
        assert answer.reason == (
            "not enabled: prerequisite checkout-api-v2 failed (it serves variation 1 (False) where variation 0 "
            "(True) is required, because its own prerequisite payments-v3 failed), serves its off variation 1 (False)"
        )
    ws.close()


def test_a_prerequisite_launchdarkly_does_not_have_fails_for_everyone(tmp_path, launchdarkly, token, secret_service):
    launchdarkly.route(PREREQUISITE_PATH, authorized(token, json_answer(404, fixture("error-not-found.json"))))
    ws = linked_workspace(tmp_path, launchdarkly, token)
    report = sync_flags(ws)
    assert report.status is SyncStatus.OK, report.errors
    assert launchdarkly.count(CHAIN_PATH) == 0
    with ws.session() as s:
        definition = rollout_snapshot(s, s.scalars(select(Rollout)).one()).definition
        assert definition["prerequisiteFlags"] == [] and definition["missingPrerequisites"] == ["checkout-api-v2"]
    counted = compare_with_sdk(ws, tmp_path)
    assert counted["kinds"] == Counter({("PREREQUISITE_FAILED", "checkout-api-v2"): 404})
    with ws.session() as s:
        (answer,) = lookup(s, "acct-design-partner-1", rollout_name="New checkout", limit=1)
        assert answer.has_access == "false" and "checkout-api-v2 failed (LaunchDarkly has no such flag" in answer.reason
    ws.close()


def test_a_prerequisite_that_fails_to_fetch_fails_the_sync_and_keeps_the_last_snapshot(
    tmp_path, launchdarkly, token, secret_service
):
    ws = linked_workspace(tmp_path, launchdarkly, token)
    assert sync_flags(ws).status is SyncStatus.OK
    # A 503 is retried, as for the flag itself; one that persists fails the sync, which stores nothing.
    launchdarkly.route(CHAIN_PATH, json_answer(503, {"message": "try later"}),
                       authorized(token, json_answer(200, payments_v3())))
    before = launchdarkly.count(CHAIN_PATH)
    assert sync_flags(ws).status is SyncStatus.OK
    assert launchdarkly.count(CHAIN_PATH) == before + 2
    launchdarkly.route(CHAIN_PATH, json_answer(500, {"message": "internal error"}))
    report = sync_flags(ws)
    assert report.status is SyncStatus.FAILED and "500" in report.errors[0]
    with ws.session() as s:
        snapshots = s.scalars(select(FlagSnapshot)).all()
        assert len(snapshots) == 2
    ws.close()


def test_a_snapshot_synced_without_its_prerequisites_is_unpredictable(tmp_path, launchdarkly, token, secret_service):
    """A snapshot stored before prerequisites were synced names them but does not hold them: unknown, not failed."""
    ws = linked_workspace(tmp_path, launchdarkly, token)
    assert sync_flags(ws).status is SyncStatus.OK
    with ws.session() as s:
        snapshot = rollout_snapshot(s, s.scalars(select(Rollout)).one())
        assert snapshot.connection is not None
        s.expunge(snapshot)  # changed below, never written back
    older = {k: v for k, v in snapshot.definition.items() if not k.endswith(("Prerequisites", "prerequisiteFlags"))}
    snapshot.definition = older
    answer = SnapshotEvaluator(snapshot).explain({"key": "acct-0001", "attributes": {"region": "us"}})
    assert (answer.enabled, answer.code) == (None, "unpredictable_prerequisite")
    assert answer.reason == ("unpredictable: prerequisite checkout-api-v2 was not synced with the flag, so whether "
                             "it is met is not known")
    ws.close()


def test_wrong_token_fails_the_sync_and_keeps_nothing_half_done(tmp_path, launchdarkly, secret_service):
    ws = create_workspace(tmp_path / "ld.launchdesk")
    with ws.transaction() as s:
        connection = add_connection(s, "launchdarkly", "launchdarkly", url=launchdarkly.url, project="default",
                                    environment="production", secret="api-wrong-" + secrets.token_hex(8))
        s.add(Rollout(name="New checkout", feature_name="Checkout", flag_connection=connection,
                      flag_key="new-checkout", flag_environment="production"))
    report = sync_flags(ws)
    assert report.status is SyncStatus.FAILED
    assert "401" in report.errors[0] or "token" in report.errors[0].lower()
    assert "api-wrong-" not in report.errors[0]
    with ws.session() as s:
        assert rollout_snapshot(s, s.scalars(select(Rollout)).one()) is None
    ws.close()


def test_typed_attributes():
    assert typed_attribute("80") == 80 and typed_attribute("2.5") == 2.5
    assert typed_attribute("true") is True and typed_attribute("False") is False
    assert typed_attribute("gold") == "gold" and typed_attribute("nan") == "nan" and typed_attribute("007x") == "007x"


def test_a_prerequisite_that_is_off_or_missing_blocks_the_flag_for_everyone():
    from launchdesk.access.sync import blocked_by
    from launchdesk.models import ConnectionKind

    flag = {"key": "checkout", "on": True, "prerequisites": [{"key": "api", "variation": 0}],
            "prerequisiteFlags": [{"key": "api", "on": True}], "missingPrerequisites": []}
    assert blocked_by(ConnectionKind.LAUNCHDARKLY, flag) is None  # which variation it serves is per account
    flag["prerequisiteFlags"] = [{"key": "api", "on": False}]
    assert blocked_by(ConnectionKind.LAUNCHDARKLY, flag) == "its prerequisite 'api' is off"
    flag["prerequisiteFlags"], flag["missingPrerequisites"] = [], ["api"]
    assert blocked_by(ConnectionKind.LAUNCHDARKLY, flag) == "its prerequisite 'api' does not exist (deleted or archived)"
    # An Unleash parent that must be off depends on each account's evaluation: not a block for everyone.
    child = {"dependencies": [{"feature": "p", "enabled": False}], "parents": [{"name": "p", "enabled": True}]}
    assert blocked_by(ConnectionKind.UNLEASH, child) is None
