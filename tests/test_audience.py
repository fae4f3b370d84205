"""Audiences by access, the send guards (each with its reason) and the approval states."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, text

from comms_world import ENVIRONMENT, FLAG, add_snapshot, build_world
from launchdesk.access.evaluate import account_context
from launchdesk.access.lookup import evaluator_for
from launchdesk.access.sync import rollout_snapshot
from launchdesk.comms import approval
from launchdesk.comms.audience import audience_accounts, compute_audience
from launchdesk.comms.guards import send_blockers
from launchdesk.models import (
    Account,
    Channel,
    JournalEntry,
    MessageState,
    PhaseStatus,
    RolloutStatus,
    Setting,
    utcnow,
)
from launchdesk.planning.cohort_rules import matches


def mixed_definition() -> dict:
    """Pro accounts by region (half the regions are in); starter accounts in the EU by the SDK's dice, which
    nobody can predict; other starter accounts not at all."""
    def strategy(stickiness: str, constraints: list[dict]) -> dict:
        return {"name": "flexibleRollout", "parameters": {"rollout": "50", "stickiness": stickiness, "groupId": FLAG},
                "constraints": constraints, "segments": [], "variants": []}

    return {
        "name": FLAG, "enabled": True, "environment": ENVIRONMENT, "variants": [], "dependencies": [], "segments": {},
        "strategies": [
            strategy("region", [{"contextName": "plan", "operator": "IN", "values": ["pro"]}]),
            strategy("random", [{"contextName": "plan", "operator": "IN", "values": ["starter"]},
                                {"contextName": "region", "operator": "IN", "values": ["eu"]}]),
        ],
    }


@pytest.fixture
def world(tmp_path):
    w = build_world(tmp_path, accounts=240)
    yield w
    w.workspace.close()


def codes(world, now=None) -> list[str]:
    with world.workspace.session() as s:
        message = world.message(s)
        return [b.code for b in send_blockers(s, message, compute_audience(s, message, now=now), now=now)]


def test_the_audience_is_the_cohort_split_by_the_same_answers_as_each_accounts_lookup(world):
    add_snapshot(world.workspace, 50, definition=mixed_definition())
    with world.workspace.transaction() as s:
        # Two accounts outside the cohort, one account with access but nobody to write to.
        message = world.message(s)
        message.cohort.rule = {"match": "all", "conditions": [
            {"attribute": "segment", "operator": "eq", "values": ["mid_market"]}]}
        s.execute(text("UPDATE account SET attributes = json_set(attributes, '$.segment', 'smb') "
                       "WHERE account_key IN ('acct-00000', 'acct-00004')"))
        s.execute(text("DELETE FROM contact WHERE account_id = (SELECT id FROM account WHERE account_key = 'acct-00001')"))
    with world.workspace.session() as s:
        message = world.message(s)
        audience = compute_audience(s, message)
        evaluator = evaluator_for(s, rollout_snapshot(s, message.phase.rollout))
        expected: dict[bool | None, list[int]] = {True: [], False: [], None: []}
        for account in s.scalars(select(Account).order_by(Account.id)):
            if matches(message.cohort.rule, account.attributes):
                expected[evaluator.explain(account_context(account)).enabled].append(account.id)
        assert audience.with_access == expected[True] and audience.without_access == expected[False]
        assert audience.unpredictable == expected[None]
        assert min(len(v) for v in expected.values()) > 10  # all three kinds really occur
        assert audience.in_cohort == 238
        no_address = s.scalars(select(Account.id).where(Account.account_key == "acct-00001")).all()
        assert audience.no_address == [i for i in no_address if i in audience.with_access]
        counts = audience.counts()
        assert counts["reachable"] == counts["with_access"] - len(audience.no_address)
        page = audience_accounts(s, audience.with_access, offset=0, limit=3)
        assert [a.account_id for a in page] == [
            s.get(Account, i).account_key for i in audience.with_access[:3]]
        assert all(a.emails for a in page if a.account_id != "acct-00001")


def test_before_the_first_sync_everyone_is_unpredictable_and_sending_waits_for_a_sync(tmp_path):
    world = build_world(tmp_path, accounts=20)
    with world.workspace.transaction() as s:
        s.execute(text("DELETE FROM flag_snapshot"))
    with world.workspace.session() as s:
        audience = compute_audience(s, world.message(s))
        assert audience.snapshot is None and len(audience.unpredictable) == 20 and audience.with_access == []
    assert codes(world) == ["no_snapshot"]
    world.workspace.close()


def test_an_approved_message_with_a_fresh_snapshot_may_go(world):
    assert codes(world) == []


def test_a_stale_snapshot_blocks_with_its_age_until_the_freshness_setting_allows_it(world):
    later = utcnow() + dt.timedelta(minutes=40)
    with world.workspace.session() as s:
        message = world.message(s)
        (blocker,) = send_blockers(s, message, compute_audience(s, message, now=later), now=later)
    assert blocker.code == "stale_snapshot" and "40 minutes old" in blocker.reason and "sync first" in blocker.reason
    with world.workspace.transaction() as s:
        s.add(Setting(key="comms.freshness_minutes", value=60))
    assert codes(world, now=later) == []


@pytest.mark.parametrize("status", [PhaseStatus.APPROVED, PhaseStatus.PAUSED, PhaseStatus.COMPLETE])
def test_a_phase_that_is_not_live_blocks(world, status):
    with world.workspace.transaction() as s:
        world.message(s).phase.status = status
    assert codes(world) == ["phase_not_live"]


def test_a_rolled_back_rollout_or_a_flag_switched_off_blocks(world):
    add_snapshot(world.workspace, 50, enabled=False)
    assert "flag_off" in codes(world)
    add_snapshot(world.workspace, 50)
    with world.workspace.transaction() as s:
        world.message(s).phase.rollout.status = RolloutStatus.ROLLED_BACK
    assert codes(world) == ["rolled_back"]


def test_all_customers_is_refused_below_100_percent_and_while_anyone_lacks_access(world):
    with world.workspace.transaction() as s:
        approval.edit_message(s, world.message(s), by="Sam", audience="all_customers")
        approval.submit_for_review(s, world.message(s), by="Sam")
        approval.approve(s, world.message(s), by="Pat")
    with world.workspace.session() as s:
        message = world.message(s)
        blockers = send_blockers(s, message, compute_audience(s, message))
    assert [b.code for b in blockers] == ["all_customers_below_100", "audience_without_access"]
    assert "while the rollout is at 50%" in blockers[0].reason
    add_snapshot(world.workspace, 100)
    assert codes(world) == []
    add_snapshot(world.workspace, 100, definition=mixed_definition())  # 100% of the platform, but pro only
    assert codes(world) == ["audience_without_access"]


def test_only_approved_messages_go_and_no_sender_no_send(world):
    with world.workspace.transaction() as s:
        approval.return_to_draft(s, world.message(s), by="Pat", reason="wording")
    assert codes(world) == ["not_approved"]
    with world.workspace.transaction() as s:
        approval.submit_for_review(s, world.message(s), by="Sam")
        approval.approve(s, world.message(s), by="Pat")
        message = world.message(s)
        message.sender_connection = None
        s.execute(text("UPDATE connection SET kind = 'webhook' WHERE kind = 'smtp'"))
    assert codes(world) == ["no_sender"]


def test_nobody_with_an_address_blocks(world):
    with world.workspace.transaction() as s:
        s.execute(text("DELETE FROM contact"))
    assert codes(world) == ["no_recipients"]


def test_the_approval_path_records_who_and_when_and_an_edit_returns_to_draft(world):
    with world.workspace.transaction() as s:
        message = world.message(s)
        assert message.state is MessageState.APPROVED and message.approved_by == "Pat"
        assert message.approved_at is not None and message.approved_at <= utcnow()
        message.body += "\n\nP.S. one more line"  # any code path: the listener takes the approval away
        assert message.state is MessageState.DRAFT and message.approved_by is None
        with pytest.raises(approval.ApprovalError, match="Submit it for review first"):
            approval.approve(s, message, by="Pat")
        approval.submit_for_review(s, message, by="Sam")
        approval.approve(s, message, by="Lee")
        assert approval.edit_message(s, message, by="Sam", subject="New subject") is True
        assert message.state is MessageState.DRAFT
        drafts = s.scalars(select(JournalEntry).where(JournalEntry.kind == "message_draft")).all()
        assert any("edited after approval" in e.summary for e in drafts)


def test_an_edit_made_behind_the_orms_back_is_caught_by_the_send_guard(world):
    with world.workspace.transaction() as s:
        s.execute(text("UPDATE message SET body = body || ' (changed)' WHERE id = :id"), {"id": world.message_id})
    assert codes(world) == ["edited"]


def test_a_message_being_sent_cannot_be_edited(world):
    with world.workspace.transaction() as s:
        message = world.message(s)
        message.state = MessageState.SENDING
        with pytest.raises(approval.MessageLocked, match="cannot be edited"):
            message.subject = "Too late"


def test_approval_is_refused_while_the_template_has_problems(world):
    with world.workspace.transaction() as s:
        message = world.message(s)
        message.body = "Hi {{ contact.first_name }},\n\n{{ account.attributes.csm }} says hello."
        approval.submit_for_review(s, message, by="Sam")
        with pytest.raises(approval.ApprovalError, match="line 3.*csm.*240 accounts"):
            approval.approve(s, message, by="Pat")
        assert message.state is MessageState.IN_REVIEW


def test_a_slack_message_needs_a_slack_connection(world):
    with world.workspace.transaction() as s:
        approval.edit_message(s, world.message(s), by="Sam", channel=Channel.SLACK)
        approval.submit_for_review(s, world.message(s), by="Sam")
        approval.approve(s, world.message(s), by="Pat")
    assert codes(world) == ["no_sender"]
