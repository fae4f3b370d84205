"""Flag sync end to end against a real Unleash server and the real Secret Service keyring.

LaunchDesk's answer for every account is compared with Unleash's own server-side evaluation (the Admin
API playground); access diffs, plan drift, offline behaviour, and that the token is stored nowhere but the
keyring are checked on the way.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
import random
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from launchdesk import cli
from launchdesk.access.lookup import lookup
from launchdesk.access.sync import rollout_snapshot, sync_flags
from launchdesk.accounts.importer import import_accounts
from launchdesk.connections import add_connection, check_connection, secret_key
from launchdesk.models import Account, JournalEntry, PhaseKind, PhaseStatus, Rollout, SyncRun, SyncStatus
from launchdesk.planning.template import create_rollout_from_template, load_template
from launchdesk.workspace import Workspace, create_workspace
from servers import UnleashServer, free_port
from unleash_admin import UnleashAdmin, unique_name

PROJECT = "default"
ENV = "development"
PLANS = ["starter", "pro", "business", "enterprise"]
REGIONS = ["eu", "us", "apac"]


@pytest.fixture
def admin(unleash_server: UnleashServer) -> Iterator[UnleashAdmin]:
    helper = UnleashAdmin(unleash_server)
    yield helper
    helper.close()


def write_accounts(path: Path, n: int = 300) -> Path:
    rnd = random.Random(11)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["account_id", "name", "email", "plan", "region", "segment", "engagement"])
        for i in range(n):
            w.writerow([f"acct-{i:04d}", f"Company {i}", f"ops{i}@company{i}.example", rnd.choice(PLANS),
                        rnd.choice(REGIONS), rnd.choice(["smb", "mid_market", "enterprise"]),
                        rnd.choice(["low", "medium", "high", "power"])])
    return path


def playground(server: UnleashServer, flag: str, user_id: str, properties: dict[str, str]) -> bool:
    """Unleash's own answer for one context, from the Admin API playground."""
    body = {"projects": "*", "environment": ENV,
            "context": {"appName": "launchdesk-tests", "userId": user_id, "properties": properties}}
    r = httpx.post(f"{server.base_url}/api/admin/playground", json=body,
                   headers={"Authorization": server.admin_token}, timeout=30)
    r.raise_for_status()
    (feature,) = [f for f in r.json()["features"] if f["name"] == flag]
    return bool(feature["isEnabled"])


@pytest.fixture
def planned(tmp_path: Path, unleash_server: UnleashServer, admin: UnleashAdmin, secret_service: object):
    """A workspace with 300 accounts and a rollout linked to a fresh Unleash flag: 25% of pro/enterprise
    accounts outside APAC (the segment), enabled in development."""
    flag = unique_name("smart-inbox")
    admin.create_feature(PROJECT, flag)
    segment = admin.create_segment(unique_name("not-apac"), [
        {"contextName": "region", "operator": "NOT_IN", "values": ["apac"]}])
    admin.flexible_rollout(PROJECT, flag, ENV, 25, constraints=[
        {"contextName": "plan", "operator": "IN", "values": ["pro", "enterprise"]}], segments=[segment])
    admin.enable(PROJECT, flag, ENV)

    ws = create_workspace(tmp_path / "plan.launchdesk")
    import_accounts(ws, write_accounts(tmp_path / "accounts.csv"))
    with ws.transaction() as s:
        connection = add_connection(s, "unleash", "unleash", url=unleash_server.base_url, project=PROJECT,
                                    environment=ENV, secret=unleash_server.admin_token)
        rollout = create_rollout_from_template(s, load_template(), name="Smart inbox", feature_name="Smart inbox",
                                               launch_start=dt.datetime(2027, 1, 11, 9, tzinfo=dt.timezone.utc))
        rollout.flag_connection = connection
        rollout.flag_key = flag
        rollout.flag_environment = ENV
    yield ws, flag, segment
    ws.close()


def set_live(ws: Workspace, position: int) -> float:
    """Mark the n-th rollout phase live (and the earlier ones complete); returns its target percentage."""
    with ws.transaction() as s:
        rollout = s.scalars(select(Rollout)).one()
        phases = [p for p in rollout.phases if p.kind is PhaseKind.ROLLOUT]
        for p in phases[:position]:
            p.status = PhaseStatus.COMPLETE
        phases[position].status = PhaseStatus.LIVE
        return float(phases[position].target_percentage or 0)


def test_every_account_matches_unleash_and_the_token_stays_in_the_keyring(planned, unleash_server, caplog):
    ws, flag, _ = planned
    caplog.set_level(logging.DEBUG)
    report = sync_flags(ws)
    assert report.status is SyncStatus.OK, report.errors
    (result,) = report.flags
    assert result.enabled is True and result.percentage == 25.0

    with ws.session() as s:
        rollout = s.scalars(select(Rollout)).one()
        snapshot = rollout_snapshot(s, rollout)
        assert snapshot is not None and snapshot.enabled
        accounts = s.scalars(select(Account)).all()
        disagreements = []
        enabled = 0
        for account in accounts:
            (answer,) = lookup(s, account.account_key, rollout_name="Smart inbox", limit=1)
            assert answer.account_id == account.account_key
            server = playground(unleash_server, flag, account.account_key, account.attributes)
            enabled += server
            if (answer.has_access == "true") != server:
                disagreements.append((account.account_key, answer.has_access, server, answer.reason))
        assert disagreements == []
        assert 0 < enabled < len(accounts)  # the flag really splits the accounts
        assert snapshot.access_summary["enabled"] == enabled
        assert snapshot.access_summary["gained"] == enabled  # first sync: everyone with access is new

    # the token is in the keyring, and nowhere in the workspace, its journal or the log
    from launchdesk import secrets

    with ws.session() as s:
        from launchdesk.models import Connection

        connection = s.scalars(select(Connection)).one()
        assert secrets.get_secret(secret_key(connection)) == unleash_server.admin_token
        journal_text = " ".join(e.summary + json.dumps(e.details) for e in s.scalars(select(JournalEntry)))
    ws.engine.dispose()
    token_part = unleash_server.admin_token.split(".", 1)[1]
    for path in ws.path.parent.glob("plan.launchdesk*"):
        assert token_part.encode() not in path.read_bytes(), path.name
    assert token_part not in journal_text
    assert token_part not in caplog.text


def test_reasons_are_in_words(planned):
    ws, flag, _ = planned
    sync_flags(ws)
    with ws.session() as s:
        answers = {a.account_id: a for a in lookup(s, "acct-", rollout_name="Smart inbox", limit=300)}
        rows = {a.account_key: a.attributes for a in
                s.scalars(select(Account))}
    starter = next(k for k, attrs in rows.items() if attrs["plan"] == "starter")
    assert answers[starter].has_access == "false"
    assert "plan" in answers[starter].reason and "starter" in answers[starter].reason
    yes = next(a for a in answers.values() if a.has_access == "true")
    assert yes.reason.startswith("enabled:") and "25" in yes.reason
    assert yes.snapshot_age_s is not None and yes.snapshot_age_s >= 0


def test_widening_the_rollout_journals_who_gained_access(planned, admin):
    ws, flag, segment = planned
    sync_flags(ws)
    with ws.session() as s:
        first = rollout_snapshot(s, s.scalars(select(Rollout)).one())
        had = first.access_summary["enabled"]
    # engineering widens to 50% on the platform
    strategies = admin._call("GET", f"/api/admin/projects/{PROJECT}/features/{flag}/environments/{ENV}/strategies")
    (strategy,) = strategies
    strategy["parameters"]["rollout"] = "50"
    admin._call("PUT", f"/api/admin/projects/{PROJECT}/features/{flag}/environments/{ENV}/strategies/{strategy['id']}",
                {k: strategy[k] for k in ("name", "parameters", "constraints", "segments", "variants", "title",
                                          "disabled") if k in strategy})
    report = sync_flags(ws)
    (result,) = report.flags
    assert result.percentage == 50.0
    assert result.summary["lost"] == 0
    assert result.summary["gained"] == result.summary["enabled"] - had > 0
    with ws.session() as s:
        kinds = [e.kind for e in s.scalars(select(JournalEntry).order_by(JournalEntry.id))]
        change = s.scalars(select(JournalEntry).where(JournalEntry.kind == "access_change")
                           .order_by(JournalEntry.id.desc())).first()
    assert kinds.count("access_change") == 2
    assert f"{result.summary['gained']} accounts gained" in change.summary


def test_plan_drift_is_raised_when_the_platform_differs_from_the_plan(planned):
    ws, flag, _ = planned
    report = sync_flags(ws)  # nothing is live in the plan, yet the flag is on at 25%
    assert report.flags[0].drift and "no phase of the plan is live" in report.flags[0].drift[0]
    planned_pct = set_live(ws, 0)  # phase 1 (5%) live, the platform says 25%
    assert planned_pct == 5.0
    report = sync_flags(ws)
    assert report.flags[0].drift == ["25% live while the plan says 5% (Phase 1: Internal users and design partners)"] \
        or report.flags[0].drift[0].startswith("25% live while the plan says 5%")
    set_live(ws, 2)  # phase 3 at 25%: plan and platform agree
    report = sync_flags(ws)
    assert report.flags[0].drift == []
    with ws.session() as s:
        drifts = s.scalars(select(JournalEntry).where(JournalEntry.kind == "plan_drift")).all()
        snapshot = rollout_snapshot(s, s.scalars(select(Rollout)).one())
    assert len(drifts) == 2
    assert snapshot.drift is None


def test_offline_keeps_the_last_good_snapshot(planned):
    ws, flag, _ = planned
    sync_flags(ws)
    with ws.session() as s:
        good = rollout_snapshot(s, s.scalars(select(Rollout)).one()).id
    with ws.transaction() as s:
        from launchdesk.models import Connection

        s.scalars(select(Connection)).one().url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    report = sync_flags(ws)
    assert report.status is SyncStatus.FAILED
    assert "refused" in report.errors[0].lower() or "connect" in report.errors[0].lower()
    with ws.session() as s:
        rollout = s.scalars(select(Rollout)).one()
        assert rollout_snapshot(s, rollout).id == good
        run = s.get(SyncRun, report.run_id)
        assert run.status is SyncStatus.FAILED and run.errors and run.finished_at is not None
        assert s.scalars(select(JournalEntry).where(JournalEntry.kind == "sync_error")).first() is not None
        (answer,) = lookup(s, "acct-0001", rollout_name="Smart inbox")
        assert answer.has_access in {"true", "false"}  # still answered, offline, from the last good snapshot


def test_check_connection_reports_success_and_a_bad_token(planned, unleash_server):
    ws, _, _ = planned
    with ws.session() as s:
        from launchdesk.models import Connection

        connection = s.scalars(select(Connection)).one()
        ok = check_connection(connection)
        assert ok.ok, ok.message
        from launchdesk import secrets

        secrets.set_secret(secret_key(connection), "*:*.not-a-real-token-for-this-server")
        bad = check_connection(connection)
    assert not bad.ok
    assert "401" in bad.message or "token" in bad.message.lower()
    assert "not-a-real-token" not in bad.message


def test_cli_end_to_end(tmp_path, unleash_server, admin, secret_service, monkeypatch, capsys):
    flag = unique_name("cli-flag")
    admin.create_feature(PROJECT, flag)
    admin.flexible_rollout(PROJECT, flag, ENV, 30)
    admin.enable(PROJECT, flag, ENV)
    ws_path = str(tmp_path / "cli.launchdesk")
    accounts = write_accounts(tmp_path / "accounts.csv", 120)
    run = cli.main
    assert run(["new", ws_path]) == 0
    assert run(["rollout", "new", ws_path, "Reports", "--start", "2027-02-01"]) == 0
    assert run(["accounts", "import", ws_path, str(accounts)]) == 0
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(unleash_server.admin_token + "\n"))
    assert run(["connection", "add", ws_path, "prod-unleash", "--kind", "unleash", "--url", unleash_server.base_url,
                "--project", PROJECT, "--environment", ENV]) == 0
    assert run(["rollout", "link", ws_path, "Reports", "--connection", "prod-unleash", "--flag", flag]) == 0
    capsys.readouterr()
    assert run(["sync", ws_path]) == 0
    out = capsys.readouterr().out
    assert f"synced {flag}" in out and "30%" in out
    out_csv = tmp_path / "access.csv"
    assert run(["access", ws_path, "Reports", "--csv", str(out_csv)]) == 0
    rows = list(csv.DictReader(out_csv.open(encoding="utf-8")))
    assert len(rows) == 120
    assert set(rows[0]) == {"account_id", "has_access", "cohort", "reason"}
    assert {r["has_access"] for r in rows} == {"true", "false"}
    for r in rows[:40]:
        assert (r["has_access"] == "true") == playground(unleash_server, flag, r["account_id"], {})
    capsys.readouterr()
    assert run(["lookup", ws_path, "acct-0007", "--json"]) == 0
    (match,) = json.loads(capsys.readouterr().out)
    for key in ("account_id", "name", "cohort", "phase", "has_access", "reason", "snapshot_age_s"):
        assert key in match
    assert match["account_id"] == "acct-0007"
    # the secret was read from standard input and is not in the workspace file
    token_part = unleash_server.admin_token.split(".", 1)[1]
    for path in tmp_path.glob("cli.launchdesk*"):
        assert token_part.encode() not in path.read_bytes()


def test_kill_switch_turns_the_flag_off_and_waits_for_the_platform(planned, unleash_server):
    from launchdesk.access.kill_switch import KillSwitchRefused, turn_flag_off

    ws, flag, _ = planned
    set_live(ws, 2)
    sync_flags(ws)
    with pytest.raises(KillSwitchRefused, match="Type the flag key"):
        turn_flag_off(ws, "Smart inbox", confirmation="yes")
    result = turn_flag_off(ws, "Smart inbox", confirmation=flag, actor="On-call")
    assert result.confirmed, result.message
    # the platform itself says off
    r = httpx.get(f"{unleash_server.base_url}/api/admin/projects/{PROJECT}/features/{flag}",
                  headers={"Authorization": unleash_server.admin_token}, timeout=30)
    (env,) = [e for e in r.json()["environments"] if e["name"] == ENV]
    assert env["enabled"] is False
    with ws.session() as s:
        rollout = s.scalars(select(Rollout)).one()
        assert rollout.status.value == "rolled_back"
        assert [p.status for p in rollout.phases if p.kind is PhaseKind.ROLLOUT][2] is PhaseStatus.ROLLED_BACK
        entry = s.scalars(select(JournalEntry).where(JournalEntry.kind == "kill_switch")).one()
        assert entry.actor == "On-call" and entry.details["confirmed"] is True
        assert entry.details["seconds"] >= 0
        (answer,) = lookup(s, "acct-0001", rollout_name="Smart inbox")
        assert answer.has_access == "false" and "off" in answer.reason


def test_an_approved_phase_goes_live_only_when_the_platform_confirms(planned, admin):
    ws, flag, _ = planned
    with ws.transaction() as s:
        rollout = s.scalars(select(Rollout)).one()
        phases = [p for p in rollout.phases if p.kind is PhaseKind.ROLLOUT]
        phases[0].status = PhaseStatus.COMPLETE
        phases[1].status = PhaseStatus.LIVE  # 10%
        phases[2].status = PhaseStatus.APPROVED  # 25%: the go was recorded
    sync_flags(ws)  # the platform is at 25%: phase 3 is confirmed live, phase 2 complete
    with ws.session() as s:
        statuses = [p.status for p in s.scalars(select(Rollout)).one().phases if p.kind is PhaseKind.ROLLOUT]
    assert statuses[:3] == [PhaseStatus.COMPLETE, PhaseStatus.COMPLETE, PhaseStatus.LIVE]
    assert statuses[3] is PhaseStatus.PLANNED


def test_a_flag_with_a_parent_flag_is_evaluated_with_its_parent(tmp_path, unleash_server, admin, secret_service):
    parent, child = unique_name("parent"), unique_name("child")
    for name in (parent, child):
        admin.create_feature(PROJECT, name)
    admin.flexible_rollout(PROJECT, parent, ENV, 50)
    admin.flexible_rollout(PROJECT, child, ENV, 100)
    admin._call("POST", f"/api/admin/projects/{PROJECT}/features/{child}/dependencies",
                {"feature": parent, "enabled": True})
    admin.enable(PROJECT, parent, ENV)
    admin.enable(PROJECT, child, ENV)
    ws = create_workspace(tmp_path / "deps.launchdesk")
    import_accounts(ws, write_accounts(tmp_path / "accounts.csv", 80))
    with ws.transaction() as s:
        connection = add_connection(s, "unleash", "unleash", url=unleash_server.base_url, project=PROJECT,
                                    environment=ENV, secret=unleash_server.admin_token)
        s.add(Rollout(name="Child", feature_name="Child", flag_connection=connection, flag_key=child,
                      flag_environment=ENV))
    report = sync_flags(ws)
    assert report.status is SyncStatus.OK, report.errors
    with ws.session() as s:
        answers = {a.account_id: a.has_access for a in lookup(s, "acct-", rollout_name="Child", limit=80)}
    assert len(answers) == 80
    expected = {key: playground(unleash_server, child, key, {}) for key in answers}
    assert {k: v == "true" for k, v in answers.items()} == expected
    assert 0 < sum(expected.values()) < 80  # the parent's 50% really splits the child's audience
    ws.close()


def test_a_parent_flag_that_is_off_holds_the_plan_back(planned, admin):
    """The flag is on at 25% but needs a parent that is off: nobody has it, so the approved 25% phase does not go
    live and the plan drift says why; once the parent is on, the phase goes live and the drift clears."""
    ws, flag, _ = planned
    parent = unique_name("platform")
    admin.create_feature(PROJECT, parent)
    admin.flexible_rollout(PROJECT, parent, ENV, 100)
    admin._call("POST", f"/api/admin/projects/{PROJECT}/features/{flag}/dependencies",
                {"feature": parent, "enabled": True})
    with ws.transaction() as s:
        rollout = s.scalars(select(Rollout)).one()
        phases = [p for p in rollout.phases if p.kind is PhaseKind.ROLLOUT]
        phases[0].status = PhaseStatus.COMPLETE
        phases[1].status = PhaseStatus.LIVE  # 10%
        phases[2].status = PhaseStatus.APPROVED  # 25%, the platform's own percentage

    def statuses() -> list[PhaseStatus]:
        with ws.session() as s:
            return [p.status for p in s.scalars(select(Rollout)).one().phases if p.kind is PhaseKind.ROLLOUT][:3]

    report = sync_flags(ws)
    assert report.flags[0].summary["enabled"] == 0  # the evaluator agrees: no account has it
    assert report.flags[0].drift == [
        f"the flag is on in {ENV} but its parent flag {parent!r} is off, so no account has it, while the plan has "
        "Phase 2: Power users live at 10%"]
    assert statuses() == [PhaseStatus.COMPLETE, PhaseStatus.LIVE, PhaseStatus.APPROVED]

    admin.enable(PROJECT, parent, ENV)
    report = sync_flags(ws)
    assert report.flags[0].summary["enabled"] > 0
    assert statuses() == [PhaseStatus.COMPLETE, PhaseStatus.COMPLETE, PhaseStatus.LIVE]
    assert report.flags[0].drift == []
