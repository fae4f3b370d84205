"""Flag sync from LaunchDarkly (a loopback server answering with its documented REST JSON, since LaunchDarkly
itself cannot run here), with the official server SDK as the oracle for every account's access."""

from __future__ import annotations

import copy
import csv
import json
import random
import secrets
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from sqlalchemy import select

from launchdesk.access.evaluate import typed_attribute
from launchdesk.access.lookup import lookup
from launchdesk.access.sync import rollout_snapshot, sync_flags
from launchdesk.accounts.importer import import_accounts
from launchdesk.connections import add_connection
from launchdesk.models import Account, Rollout, SyncStatus
from launchdesk.workspace import create_workspace
from loopback_http import LoopbackHttp, json_answer

FIXTURES = Path(__file__).parent / "fixtures" / "launchdarkly"
FLAG_PATH = "/api/v2/flags/default/new-checkout"
SEGMENT_PATH = "/api/v2/segments/default/production/beta-accounts"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture
def token() -> str:
    return "api-" + secrets.token_hex(16)


@pytest.fixture
def launchdarkly(token: str) -> Iterator[LoopbackHttp]:
    flag = fixture("flag-new-checkout-production.json")
    # The documented example depends on a prerequisite flag; LaunchDesk syncs one flag per rollout, so the
    # example served here has none (a flag with prerequisites is covered by the evaluator's own tests).
    flag = copy.deepcopy(flag)
    flag["environments"]["production"]["prerequisites"] = []

    def authorized(answer):
        def check(handler: BaseHTTPRequestHandler) -> None:
            if handler.headers.get("Authorization") != token:
                json_answer(401, fixture("error-unauthorized.json"))(handler)
            else:
                answer(handler)
        return check

    server = LoopbackHttp()
    server.route(FLAG_PATH, authorized(json_answer(200, flag)))
    server.route(SEGMENT_PATH, authorized(json_answer(200, fixture("segment-beta-accounts.json"))))
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
    import ldclient
    from ldclient.config import Config
    from ldclient.integrations import Files

    data = {"flags": {"new-checkout": config}, "segments": config["segments"]}
    (tmp_path / "flags.json").write_text(json.dumps(data))
    return ldclient.LDClient(Config(
        "sdk-key-unused", update_processor_class=Files.new_data_source(paths=[str(tmp_path / "flags.json")]),
        send_events=False, diagnostic_opt_out=True,
    ), start_wait=5)


def test_every_account_matches_the_launchdarkly_sdk(tmp_path, launchdarkly, token, secret_service):
    from ldclient import Context

    ws = create_workspace(tmp_path / "ld.launchdesk")
    import_accounts(ws, write_accounts(tmp_path / "accounts.csv"))
    with ws.transaction() as s:
        connection = add_connection(s, "launchdarkly", "launchdarkly", url=launchdarkly.url, project="default",
                                    environment="production", options={"context_kind": "organization"},
                                    secret=token)
        s.add(Rollout(name="New checkout", feature_name="Checkout", flag_connection=connection,
                      flag_key="new-checkout", flag_environment="production"))
    report = sync_flags(ws)
    assert report.status is SyncStatus.OK, report.errors
    (result,) = report.flags
    assert result.enabled is True and result.percentage == 25.0

    with ws.session() as s:
        snapshot = rollout_snapshot(s, s.scalars(select(Rollout)).one())
        sdk = sdk_client(snapshot.definition, tmp_path)
        try:
            assert sdk.is_initialized()
            seen = {True: 0, False: 0}
            for account in s.scalars(select(Account)):
                builder = Context.builder(account.account_key).kind("organization").name(account.name)
                for name, value in account.attributes.items():
                    if value != "":
                        builder.set(name, typed_attribute(value))
                expected = sdk.variation("new-checkout", builder.build(), None)
                (answer,) = lookup(s, account.account_key, rollout_name="New checkout", limit=1)
                assert answer.has_access == ("true" if expected else "false"), (account.account_key, answer.reason)
                seen[bool(expected)] += 1
        finally:
            sdk.close()
        assert seen[True] > 10 and seen[False] > 10
        assert snapshot.access_summary["enabled"] == seen[True]
        (partner,) = lookup(s, "acct-design-partner-1", rollout_name="New checkout", limit=1)
        assert partner.has_access == "true" and "target" in partner.reason.lower()
        (opted_out,) = lookup(s, "acct-opted-out", rollout_name="New checkout", limit=1)
        assert opted_out.has_access == "false"
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
