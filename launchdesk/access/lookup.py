"""The support lookup: for an account typed by id, name or e-mail, its cohort, phase, access and why — offline.

Answers come from the last synced snapshot, never from the network, so the lookup works on a plane and
says how old its knowledge is.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from collections import OrderedDict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from launchdesk.access.evaluate import SnapshotEvaluator, account_context
from launchdesk.access.sync import current_phase, rollout_snapshot
from launchdesk.accounts.search import search_accounts
from launchdesk.models import Account, Cohort, Delivery, FlagSnapshot, Message, Rollout, utcnow
from launchdesk.planning.cohort_rules import matches


@dataclass
class SentMessage:
    message: str
    channel: str
    recipient: str
    state: str
    sent_at: str | None


@dataclass
class Lookup:
    account_id: str
    name: str
    emails: list[str]
    rollout: str
    cohort: str | None
    phase: str | None
    has_access: str  # "true", "false", "unpredictable", or "unknown" before the first sync
    reason: str
    snapshot_age_s: float | None
    snapshot_at: str | None
    messages: list[SentMessage] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def access_word(enabled: bool | None) -> str:
    return "unpredictable" if enabled is None else ("true" if enabled else "false")


_COMPILED: OrderedDict[tuple[str, int], SnapshotEvaluator] = OrderedDict()


def evaluator_for(session: Session, snapshot: FlagSnapshot) -> SnapshotEvaluator:
    """The compiled snapshot, reused across lookups: a stored snapshot never changes."""
    key = (str(session.get_bind().url), snapshot.id)
    evaluator = _COMPILED.get(key)
    if evaluator is None:
        evaluator = _COMPILED[key] = SnapshotEvaluator(snapshot)
        while len(_COMPILED) > 32:
            _COMPILED.popitem(last=False)
    return evaluator


def cohort_of(rollout: Rollout, account: Account) -> Cohort | None:
    """The first cohort of the plan (in phase order) whose rule the account matches."""
    for cohort in rollout.cohorts:
        if matches(cohort.rule or {}, account.attributes or {}):
            return cohort
    return None


def lookup(
    session: Session,
    query: str,
    *,
    rollout_name: str | None = None,
    limit: int = 20,
    now: dt.datetime | None = None,
) -> list[Lookup]:
    """One answer per matching account and rollout (the named one, or every rollout of the workspace)."""
    now = now or utcnow()
    accounts = search_accounts(session, query, limit=limit)
    if not accounts:
        return []
    # No eager loading: a lookup pane keeps its session, whose identity map already holds each rollout's
    # phases and cohorts after the first lookup, so later keystrokes cost only the search and the snapshot query.
    rollouts_q = select(Rollout).order_by(Rollout.name)
    if rollout_name:
        rollouts_q = rollouts_q.where(Rollout.name == rollout_name)
    rollouts = list(session.scalars(rollouts_q))
    sent = _messages_sent(session, [a.id for a in accounts])
    answers: list[Lookup] = []
    for rollout in rollouts:
        snapshot = rollout_snapshot(session, rollout)
        evaluator = evaluator_for(session, snapshot) if snapshot is not None else None
        phase = current_phase(rollout)
        for account in accounts:
            cohort = cohort_of(rollout, account)
            if evaluator is None:
                has, reason = "unknown", "no flag snapshot yet: sync the rollout's flag first"
                if rollout.flag_key is None:
                    reason = "the rollout is not linked to a flag yet"
            else:
                result = evaluator.explain(account_context(account), now=now)
                has, reason = access_word(result.enabled), result.reason
            answers.append(Lookup(
                account_id=account.account_key,
                name=account.name,
                emails=[c.email for c in account.contacts],
                rollout=rollout.name,
                cohort=cohort.name if cohort else None,
                phase=phase.name if phase else None,
                has_access=has,
                reason=reason,
                snapshot_age_s=round((now - snapshot.fetched_at).total_seconds(), 1) if snapshot else None,
                snapshot_at=snapshot.fetched_at.isoformat() if snapshot else None,
                messages=[m for rid, m in sent.get(account.id, []) if rid == rollout.id],
            ))
    return answers


def _messages_sent(session: Session, account_ids: list[int]) -> dict[int, list[tuple[int, SentMessage]]]:
    from launchdesk.models import Phase

    rows = session.execute(
        select(Delivery.account_id, Phase.rollout_id, Message.name, Message.channel, Delivery.recipient,
               Delivery.state, Delivery.sent_at)
        .join(Message, Delivery.message_id == Message.id)
        .join(Phase, Message.phase_id == Phase.id)
        .where(Delivery.account_id.in_(account_ids))
        .order_by(Delivery.sent_at)
    ).all()
    out: dict[int, list[tuple[int, SentMessage]]] = {}
    for account_id, rollout_id, name, channel, recipient, state, sent_at in rows:
        out.setdefault(account_id, []).append((rollout_id, SentMessage(
            name, str(channel), recipient, str(state), sent_at.isoformat() if sent_at else None)))
    return out
