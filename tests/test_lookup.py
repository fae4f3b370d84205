"""The support lookup answers from the workspace as it is now: a new sync snapshot, a phase change or a cohort
rule edit shows in the very next lookup, also in a session kept open across lookups (as the lookup pane and
the benchmark keep one) and also when the edit bypassed the journal. Only compiled snapshots are cached."""

from __future__ import annotations

import datetime as dt
import os

import pytest
from sqlalchemy import select, text

from comms_world import ENVIRONMENT, FLAG, LIVE_PHASE, World, add_snapshot, build_world
from launchdesk.access.evaluate import account_context
from launchdesk.access.lookup import Lookup, lookup, lookup_context
from launchdesk.accounts.search import search_account_ids, search_account_rows, search_accounts
from launchdesk.connections import add_connection
from launchdesk.models import (
    Account,
    Cohort,
    Contact,
    Delivery,
    DeliveryState,
    PhaseKind,
    PhaseStatus,
    Rollout,
    utcnow,
)
from launchdesk.planning.template import create_rollout_from_template, load_template
from launchdesk.workspace import create_workspace

KEY = "acct-00001"  # plan "pro", segment "mid_market"


@pytest.fixture
def world(tmp_path) -> World:  # type: ignore[misc]
    world = build_world(tmp_path, accounts=30, percentage=100, approve=False)
    yield world
    world.workspace.close()


def answer(session, key: str = KEY) -> Lookup:  # type: ignore[no-untyped-def]
    (found,) = lookup(session, key, limit=1)
    assert found.account_id == key
    return found


def rollout_phases(session) -> list:  # type: ignore[no-untyped-def, type-arg]
    rollout = session.scalars(select(Rollout)).one()
    return [p for p in rollout.phases if p.kind is PhaseKind.ROLLOUT]


def test_a_new_sync_snapshot_answers_the_next_lookup(world):
    with world.workspace.session() as pane, world.workspace.session() as other:
        before = answer(pane)
        assert before.has_access == "true" and before.reason.startswith("enabled:")
        assert answer(other).has_access == "true"

        later = utcnow() + dt.timedelta(seconds=5)
        add_snapshot(world.workspace, 100, enabled=False, fetched_at=later)
        after = answer(pane)
        assert after.has_access == "false" and "flag is off" in after.reason
        assert after.snapshot_at == later.isoformat() != before.snapshot_at
        assert answer(other).has_access == "false"

        add_snapshot(world.workspace, 100, fetched_at=later + dt.timedelta(seconds=5))
        assert answer(pane).has_access == "true"


def test_a_phase_change_answers_the_next_lookup(world):
    with world.workspace.session() as s:
        names = [p.name for p in rollout_phases(s)]
    with world.workspace.session() as pane:
        assert answer(pane).phase == names[LIVE_PHASE]
        with world.workspace.transaction() as s:  # the next phase goes live
            phases = rollout_phases(s)
            phases[LIVE_PHASE].status = PhaseStatus.COMPLETE
            phases[LIVE_PHASE + 1].status = PhaseStatus.LIVE
        assert answer(pane).phase == names[LIVE_PHASE + 1]
        # a change that touched neither the journal nor a version column is seen as well
        with world.workspace.engine.begin() as conn:
            conn.execute(text("UPDATE phase SET status = 'planned' WHERE name = :name"),
                         {"name": names[LIVE_PHASE + 1]})
        assert answer(pane).phase == names[LIVE_PHASE + 1]  # not live now: the first phase not complete
        with world.workspace.engine.begin() as conn:
            conn.execute(text("UPDATE phase SET status = 'complete'"))
        assert answer(pane).phase == names[-1]  # all complete: the last one
        with world.workspace.engine.begin() as conn:
            conn.execute(text("UPDATE phase SET name = 'Renamed' WHERE name = :name"), {"name": names[-1]})
        assert answer(pane).phase == "Renamed"


def test_a_cohort_rule_edit_answers_the_next_lookup(world):
    with world.workspace.session() as pane:
        assert answer(pane).cohort == "Half of all accounts"
        with world.workspace.transaction() as s:
            first = s.scalars(select(Cohort).order_by(Cohort.position)).first()
            first.rule = {"match": "all", "conditions": [{"attribute": "plan", "operator": "in", "values": ["pro"]}]}
            first_name = first.name
        assert answer(pane).cohort == first_name
        assert answer(pane, "acct-00002").cohort == "Half of all accounts"  # plan "starter"
        with world.workspace.engine.begin() as conn:  # straight to the table: no journal, no version
            conn.execute(text("UPDATE cohort SET rule = :rule WHERE name = :name"),
                         {"rule": '{"match": "all", "conditions": [{"attribute": "plan", "operator": "in", '
                                  '"values": ["starter"]}]}', "name": first_name})
        assert answer(pane).cohort == "Half of all accounts"
        assert answer(pane, "acct-00002").cohort == first_name


def test_a_workspace_made_again_at_the_same_path_is_not_answered_from_the_old_snapshot(tmp_path):
    world = build_world(tmp_path, accounts=5, percentage=100, approve=False)
    with world.workspace.session() as s:
        assert answer(s).has_access == "true"
    world.workspace.close()
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(f"{world.path}{suffix}"):
            os.remove(f"{world.path}{suffix}")
    again = build_world(tmp_path, accounts=5, percentage=0, approve=False)  # the same path, snapshot id 1 again
    try:
        with again.workspace.session() as s:
            assert answer(s).has_access == "false"
    finally:
        again.workspace.close()


def test_rollouts_without_a_flag_or_a_snapshot_say_so(world):
    with world.workspace.transaction() as s:
        create_rollout_from_template(s, load_template(), name="A unlinked", feature_name="Unlinked",
                                     launch_start=dt.datetime(2027, 1, 11, 9, tzinfo=dt.timezone.utc))
        linked = create_rollout_from_template(s, load_template(), name="B no sync yet", feature_name="Later",
                                              launch_start=dt.datetime(2027, 1, 11, 9, tzinfo=dt.timezone.utc))
        smart_inbox = s.scalars(select(Rollout).where(Rollout.name == "Smart inbox")).one()
        linked.flag_connection_id = smart_inbox.flag_connection_id
        linked.flag_key, linked.flag_environment = "other-flag", ENVIRONMENT
    with world.workspace.session() as s:
        answers = {a.rollout: a for a in lookup(s, KEY, limit=1)}
        assert list(answers) == ["A unlinked", "B no sync yet", "Smart inbox"]
        assert answers["A unlinked"].reason == "the rollout is not linked to a flag yet"
        assert answers["B no sync yet"].reason.startswith("no flag snapshot yet")
        assert answers["A unlinked"].has_access == answers["B no sync yet"].has_access == "unknown"
        assert answers["A unlinked"].snapshot_age_s is None
        assert answers["Smart inbox"].has_access == "true" and answers["Smart inbox"].snapshot_age_s is not None
        assert [a.rollout for a in lookup(s, KEY, rollout_name="B no sync yet")] == ["B no sync yet"]
        assert lookup(s, KEY, rollout_name="No such rollout") == []


def test_the_answer_keeps_its_shape(world):
    with world.workspace.session() as s:
        (found,) = lookup(s, KEY)
    assert list(found.as_dict()) == ["account_id", "name", "emails", "rollout", "cohort", "phase", "has_access",
                                     "reason", "snapshot_age_s", "snapshot_at", "messages"]
    assert found.emails == ["ops1@company1.example"] and found.name == "Company 1"
    assert found.snapshot_at is not None and dt.datetime.fromisoformat(found.snapshot_at).tzinfo is not None


def test_found_rows_match_the_accounts_and_their_contexts(world):
    with world.workspace.transaction() as s:  # a second contact, and an account found by id and by e-mail
        account = s.scalars(select(Account).where(Account.account_key == KEY)).one()
        account.contacts.append(Contact(position=1, email="acct-00001-billing@company1.example"))
    with world.workspace.session() as s:
        for query in ("acct-0000", "ACCT-0001", KEY, "company 1", "COMPANY 2", "ops1", "acct-00001-b", "zz", " "):
            rows = search_account_rows(s, query, limit=7)
            accounts = search_accounts(s, query, limit=7)
            assert [r.id for r in rows] == [a.id for a in accounts] == search_account_ids(s, query, limit=7)
            for row, account in zip(rows, accounts):
                assert (row.account_key, row.name, row.stickiness_id, row.attributes) == (
                    account.account_key, account.name, account.stickiness_id, account.attributes)
                assert row.emails == [c.email for c in account.contacts]
                assert lookup_context(row) == account_context(account)
        assert [r.account_key for r in search_account_rows(s, "acct-00001")][:1] == [KEY]  # once, ranked by its id
        assert len({r.id for r in search_account_rows(s, "acct-", limit=50)}) == 30


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request, tmp_path) -> str:  # type: ignore[no-untyped-def]
    """A fresh workspace target on each back end: the lookup's SQL is written for both."""
    if request.param == "sqlite":
        return str(tmp_path / "lookup.launchdesk")
    return request.getfixturevalue("postgres_server").create_database("lookup_workspace")


def test_the_lookup_answers_alike_on_both_back_ends(target):
    sent_at = dt.datetime(2026, 1, 20, 9, 30, tzinfo=dt.timezone.utc)
    with create_workspace(target) as ws:
        with ws.transaction() as s:
            for i in range(12):
                s.add(Account(account_key=f"acct-{i:05d}", name=f"Company {i}", name_folded=f"company {i}",
                              attributes={"plan": "pro" if i % 2 else "starter", "segment": "mid_market"},
                              contacts=[Contact(position=0, email=f"ops{i}@company{i}.example")]))
            connection = add_connection(s, "unleash", "unleash", url="http://127.0.0.1:4242",
                                        environment=ENVIRONMENT)
            rollout = create_rollout_from_template(s, load_template(), name="Smart inbox", feature_name="Inbox",
                                                   launch_start=dt.datetime(2027, 1, 11, 9, tzinfo=dt.timezone.utc))
            rollout.flag_connection, rollout.flag_key = connection, FLAG  # the connection's environment
            phases = [p for p in rollout.phases if p.kind is PhaseKind.ROLLOUT]
            phases[0].status = PhaseStatus.LIVE
            first = s.scalars(select(Cohort).where(Cohort.rollout == rollout).order_by(Cohort.position)).first()
            first.rule = {"match": "all",
                          "conditions": [{"attribute": "plan", "operator": "in", "values": ["pro"]}]}
            s.flush()
            account_3 = s.scalars(select(Account).where(Account.account_key == "acct-00003")).one()
            s.add(Delivery(message=phases[0].messages[0], account_id=account_3.id,
                           recipient="ops3@company3.example", state=DeliveryState.SENT, sent_at=sent_at))
            live, first_cohort, message = phases[0].name, first.name, phases[0].messages[0].name
        add_snapshot(ws, 100, fetched_at=sent_at)
        with ws.session() as s:
            assert [a.account_id for a in lookup(s, "ACCT-0000", limit=3)] == [f"acct-0000{i}" for i in range(3)]
            assert [a.account_id for a in lookup(s, "company 1", limit=5)] == ["acct-00001", "acct-00010",
                                                                               "acct-00011"]
            (found,) = lookup(s, "ops3@", rollout_name="Smart inbox")
            assert lookup(s, "zz") == []
    assert (found.account_id, found.name, found.emails) == ("acct-00003", "Company 3", ["ops3@company3.example"])
    assert (found.cohort, found.phase, found.has_access) == (first_cohort, live, "true")
    assert found.reason.startswith("enabled:") and found.snapshot_at == sent_at.isoformat()
    assert found.snapshot_age_s is not None and found.snapshot_age_s > 0
    assert [(m.message, m.channel, m.recipient, m.state, m.sent_at) for m in found.messages] == [
        (message, "email", "ops3@company3.example", "sent", sent_at.isoformat())]
