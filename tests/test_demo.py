"""The demo workspace: three rollouts at their stages, 5,000 accounts, messages, history; deterministic and safe."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from launchdesk.demo import write_demo
from launchdesk.models import (
    Account,
    ChecklistItem,
    Connection,
    ConnectionKind,
    Contact,
    Decision,
    DecisionKind,
    Delivery,
    DeliveryState,
    GateOutcome,
    JournalEntry,
    Message,
    MessageState,
    MetricSample,
    Phase,
    PhaseKind,
    PhaseStatus,
    Role,
    Rollout,
    RolloutStatus,
    Setting,
    TeamMember,
)
from launchdesk.planning.checklists import due_at, team_zone
from launchdesk.planning.cohort_rules import matches
from launchdesk.workspace import WorkspaceError, open_workspace

NOW = dt.datetime(2025, 6, 12, 10, 30, tzinfo=dt.timezone.utc)  # a Thursday


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Session:
    path = write_demo(tmp_path_factory.mktemp("demo") / "demo.launchdesk", now=NOW)
    workspace = open_workspace(path)  # the file is a real workspace that opens again
    with workspace.session() as session:
        yield session
    workspace.close()


def rollout(session: Session, status: RolloutStatus) -> Rollout:
    return session.scalars(select(Rollout).where(Rollout.status == status)).one()


def rollout_phases(r: Rollout) -> list[Phase]:
    return [p for p in r.phases if p.kind == PhaseKind.ROLLOUT]


def test_three_rollouts_at_their_stages(demo: Session) -> None:
    assert demo.scalar(select(func.count(Rollout.id))) == 3

    planning = rollout(demo, RolloutStatus.PLANNING)
    launch = rollout_phases(planning)[0].planned_start
    assert dt.timedelta(days=19) <= launch - NOW <= dt.timedelta(days=25)
    assert all(p.status == PhaseStatus.PLANNED for p in rollout_phases(planning))

    active = rollout(demo, RolloutStatus.ACTIVE)
    phases = rollout_phases(active)
    assert [p.status for p in phases] == [PhaseStatus.COMPLETE, PhaseStatus.COMPLETE, PhaseStatus.LIVE,
                                          PhaseStatus.PLANNED, PhaseStatus.PLANNED]
    assert phases[2].actual_start <= NOW < phases[2].planned_end
    assert all(p.status == PhaseStatus.COMPLETE for p in active.phases if p.kind == PhaseKind.PREPARATION)

    complete = rollout(demo, RolloutStatus.COMPLETE)
    assert all(p.status == PhaseStatus.COMPLETE and p.actual_end <= NOW for p in complete.phases)


def test_go_decisions_carry_a_snapshot_of_every_gate(demo: Session) -> None:
    active = rollout(demo, RolloutStatus.ACTIVE)
    gate_names = {g.name for g in active.gates}
    for phase in rollout_phases(active)[:3]:
        gos = [d for d in phase.decisions if d.kind == DecisionKind.GO]
        assert len(gos) == 1, phase.name
        assert gos[0].decided_at <= phase.actual_start
        snapshot = gos[0].gate_snapshot
        assert {s["gate"] for s in snapshot} == gate_names
        assert all(s["outcome"] in {o.value for o in GateOutcome} for s in snapshot)
        # a go although a gate did not pass is recorded as an override
        assert gos[0].overridden == any(s["outcome"] != "pass" for s in snapshot)
    no_go = demo.scalars(select(Decision).where(Decision.kind == DecisionKind.NO_GO)).one()
    assert any(s["outcome"] == "fail" for s in no_go.gate_snapshot) and not no_go.overridden
    assert not any(p.decisions for p in rollout_phases(active)[3:])


def test_metric_history_for_every_gate_with_all_outcomes(demo: Session) -> None:
    active = rollout(demo, RolloutStatus.ACTIVE)
    outcomes: Counter[GateOutcome] = Counter()
    for gate in active.gates:
        recent = [s for s in gate.samples if NOW - dt.timedelta(days=3) <= s.sampled_at <= NOW]
        assert recent, gate.name
        outcomes.update(s.outcome for s in gate.samples)
        for sample in gate.samples:
            if sample.outcome == GateOutcome.PASS:
                assert sample.value is not None
    assert set(outcomes) == set(GateOutcome)
    assert all(s.outcome == GateOutcome.INCONCLUSIVE for g in active.gates for s in g.samples if s.value is None)


def test_checklists_partly_ticked(demo: Session) -> None:
    active = rollout(demo, RolloutStatus.ACTIVE)
    phases = rollout_phases(active)
    assert all(item.done for p in phases[:2] for item in p.checklist)
    live = phases[2].checklist
    assert any(item.done for item in live) and not all(item.done for item in live)
    zone = team_zone(demo)
    assert all(due_at(phases[2].planned_start, item.offset_minutes, zone) <= NOW
               for item in live if item.done and item.offset_minutes > 0)
    done = demo.scalars(select(ChecklistItem).where(ChecklistItem.done_at.is_not(None))).all()
    assert all(item.done_by and item.done_at <= NOW for item in done)


def test_accounts_and_contacts(demo: Session) -> None:
    assert demo.scalar(select(func.count(Account.id))) == 5000
    per_account = Counter(demo.scalars(select(Contact.account_id)).all())
    assert len(per_account) == 5000 and set(per_account.values()) == {1, 2, 3}
    emails = demo.scalars(select(Contact.email)).all()
    assert len(set(emails)) == len(emails)
    assert all(e == e.lower() and e.endswith(".example") for e in emails)  # RFC 2606: never a real mailbox
    accounts = demo.scalars(select(Account).limit(500)).all()
    assert len({a.name for a in accounts}) == len(accounts)
    assert all(a.name_folded == a.name.casefold() for a in accounts)
    segments = Counter(a.attributes["segment"] for a in demo.scalars(select(Account)))
    assert set(segments) == {"internal", "design_partner", "smb", "mid_market", "enterprise"}
    for account in accounts:
        assert {"segment", "engagement", "plan", "integrations", "region", "seats"} <= set(account.attributes)


def test_messages_in_several_states_and_deliveries_follow_the_cohort(demo: Session) -> None:
    states = Counter(demo.scalars(select(Message.state)).all())
    assert {MessageState.DRAFT, MessageState.IN_REVIEW, MessageState.APPROVED, MessageState.SENT} <= set(states)
    for message in demo.scalars(select(Message)):
        has_deliveries = demo.scalar(select(func.count(Delivery.id)).where(Delivery.message_id == message.id)) > 0
        assert has_deliveries == (message.state in (MessageState.SENT, MessageState.PARTLY_FAILED)), message.name
        if message.state != MessageState.DRAFT and message.state != MessageState.IN_REVIEW:
            assert message.approved_by and message.approved_at <= NOW
        rows = demo.execute(
            select(Account.attributes, Contact.email, Delivery.recipient)
            .join(Delivery, Delivery.account_id == Account.id)
            .join(Contact, (Contact.account_id == Account.id) & (Contact.email == Delivery.recipient), isouter=True)
            .where(Delivery.message_id == message.id)
        ).all()
        # every recipient belongs to the message's cohort, and is a contact of that account
        assert all(matches(message.cohort.rule, attributes) for attributes, _, _ in rows)
        assert all(contact_email == recipient for _, contact_email, recipient in rows)
    failed = demo.scalars(select(Delivery).where(Delivery.state == DeliveryState.FAILED)).all()
    assert failed and all(d.message.state == MessageState.PARTLY_FAILED and d.last_error for d in failed)
    # within a rollout an account hears about the feature once
    complete = rollout(demo, RolloutStatus.COMPLETE)
    message_ids = [m.id for p in complete.phases for m in p.messages]
    deliveries = demo.execute(select(Delivery.account_id, Delivery.recipient)
                              .where(Delivery.message_id.in_(message_ids))).all()
    accounts = [account_id for account_id, _ in deliveries]
    recipients = [recipient for _, recipient in deliveries]
    assert len(set(accounts)) == 5000 and len(set(recipients)) == len(recipients)


def test_connection_settings_team_and_journal(demo: Session) -> None:
    connection = demo.scalars(select(Connection)).one()
    assert (connection.kind, connection.url, connection.project, connection.environment) == (
        ConnectionKind.UNLEASH, "http://127.0.0.1:4242", "default", "production")
    for r in demo.scalars(select(Rollout)):
        assert r.flag_connection_id == connection.id and r.flag_key and r.flag_environment == "production"
        entries = demo.scalars(select(JournalEntry).where(JournalEntry.rollout_id == r.id)).all()
        assert len(entries) >= 3 and all(e.at <= NOW for e in entries)
        assert "rollout.created" in {e.kind for e in entries}
    settings = {s.key: s.value for s in demo.scalars(select(Setting))}
    assert settings["team.timezone"] == "Europe/Berlin"
    assert settings["team.business_hours"] == {"start": "09:00", "end": "18:00", "days": [0, 1, 2, 3, 4]}
    assert {m.role for m in demo.scalars(select(TeamMember))} == set(Role)


def test_same_seed_same_demo_and_no_overwrite(tmp_path: Path) -> None:
    def snapshot(path: Path) -> list[tuple[str, str, dict]]:
        with open_workspace(path) as ws, ws.session() as session:
            return [(a.account_key, a.name, a.attributes) for a in session.scalars(select(Account))]

    first = snapshot(write_demo(tmp_path / "a.launchdesk", accounts=200, now=NOW))
    again = snapshot(write_demo(tmp_path / "b.launchdesk", accounts=200, now=NOW))
    other = snapshot(write_demo(tmp_path / "c.launchdesk", accounts=200, seed=8, now=NOW))
    assert len(first) == 200 and first == again and first != other

    existing = tmp_path / "keep.launchdesk"
    existing.write_bytes(b"precious")
    with pytest.raises(WorkspaceError, match="already exists"):
        write_demo(existing)
    assert existing.read_bytes() == b"precious"
