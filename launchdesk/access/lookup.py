"""The support lookup: for an account typed by id, name or e-mail, its cohort, phase, access and why — offline.

Answers come from the last synced snapshot, never from the network, so the lookup works on a plane and
says how old its knowledge is.

The lookup pane asks on every keystroke, in a workspace of up to a million accounts, so a lookup reads plain
rows in four statements (the search with the accounts' e-mails; the rollouts with their latest snapshot ids;
their cohorts and phases; the messages sent to the matches) and creates no ORM objects. The plan is read
afresh every time: it is a few dozen rows, and an answer can then never lag behind a plan edit. What is
expensive and never changes is cached: the compiled evaluator of a stored snapshot, keyed by the snapshot's
id and fetch time and the connection's settings, so a new sync (a new snapshot) or another context kind is
a new key.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from launchdesk.access.evaluate import SnapshotEvaluator, make_context
from launchdesk.accounts.search import FoundAccount, search_account_rows
from launchdesk.models import Account, Cohort, Delivery, FlagSnapshot, PhaseKind, PhaseStatus, Rollout, utcnow
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


# Compiled snapshots, most recently used last. Lookups run in worker threads, hence the lock.
_COMPILED: OrderedDict[tuple[Any, ...], SnapshotEvaluator] = OrderedDict()
_COMPILED_MAX = 32
_COMPILED_LOCK = threading.Lock()


def _remember(key: tuple[Any, ...], make: Callable[[], SnapshotEvaluator]) -> SnapshotEvaluator:
    with _COMPILED_LOCK:
        evaluator = _COMPILED.get(key)
        if evaluator is not None:
            _COMPILED.move_to_end(key)
            return evaluator
    evaluator = make()  # outside the lock: compiling a large snapshot takes a while
    with _COMPILED_LOCK:
        _COMPILED[key] = evaluator
        while len(_COMPILED) > _COMPILED_MAX:
            _COMPILED.popitem(last=False)
    return evaluator


def evaluator_for(session: Session, snapshot: FlagSnapshot) -> SnapshotEvaluator:
    """The compiled snapshot, reused across lookups: a stored snapshot never changes."""
    return _remember((str(session.get_bind().url), snapshot.id), lambda: SnapshotEvaluator(snapshot))


def cohort_of(rollout: Rollout, account: Account) -> Cohort | None:
    """The first cohort of the plan (in phase order) whose rule the account matches."""
    for cohort in rollout.cohorts:
        if matches(cohort.rule or {}, account.attributes or {}):
            return cohort
    return None


def lookup_context(account: FoundAccount) -> dict[str, Any]:
    """The evaluation context of a found account: what `access.evaluate.account_context` makes of an Account."""
    return make_context(account.account_key, account.stickiness_id, account.name,
                        account.emails[0] if account.emails else None, account.attributes)


# Each rollout with its flag link and the id of its latest snapshot (`access.sync.rollout_snapshot`: the flag in
# the rollout's environment, else the connection's; newest fetch first). The connection's kind and options
# decide how the snapshot is compiled.
_ROLLOUTS_SQL = """
    SELECT r.id, r.name, r.flag_key, c.kind, c.options, s.id, s.fetched_at
    FROM rollout AS r
    LEFT JOIN connection AS c ON c.id = r.flag_connection_id
    LEFT JOIN flag_snapshot AS s ON s.id = (
        SELECT f.id FROM flag_snapshot AS f
        WHERE f.connection_id = r.flag_connection_id AND f.flag_key = r.flag_key AND r.flag_key <> ''
          AND f.environment = COALESCE(NULLIF(r.flag_environment, ''), c.environment, '')
        ORDER BY f.fetched_at DESC, f.id DESC LIMIT 1)
    {where}
    ORDER BY r.name
"""
_ROLLOUTS = text(_ROLLOUTS_SQL.format(where=""))
_ROLLOUT_NAMED = text(_ROLLOUTS_SQL.format(where="WHERE r.name = :name"))

# Every cohort (0) and phase (1) of the workspace in plan order: a few dozen rows.
_PLAN = text(
    """
    SELECT 0, rollout_id, position, id, name, rule, NULL, NULL FROM cohort
    UNION ALL SELECT 1, rollout_id, position, id, name, NULL, kind, status FROM phase
    ORDER BY 1, 2, 3, 4
    """
)

_MESSAGES = text(
    """
    SELECT d.account_id, p.rollout_id, m.name, m.channel, d.recipient, d.state, d.sent_at
    FROM delivery AS d JOIN message AS m ON m.id = d.message_id JOIN phase AS p ON p.id = m.phase_id
    WHERE d.account_id IN :ids
    ORDER BY d.sent_at, d.id
    """
).bindparams(bindparam("ids", expanding=True)).columns(sent_at=Delivery.__table__.c.sent_at.type)  # aware UTC

_DONE = (PhaseStatus.COMPLETE.value, PhaseStatus.ROLLED_BACK.value)


@dataclass
class _Rollout:
    id: int
    name: str
    linked: bool
    evaluator: SnapshotEvaluator | None
    cohorts: list[tuple[str, Mapping[str, Any]]] = field(default_factory=list)  # (name, rule) in plan order
    phases: list[tuple[str, str]] = field(default_factory=list)  # (name, status) of the rollout phases, in order

    def cohort(self, attributes: Mapping[str, Any]) -> str | None:
        for name, rule in self.cohorts:
            if matches(rule, attributes):
                return name
        return None

    def phase(self) -> str | None:
        """`access.sync.current_phase`: the live rollout phase, else the next one not yet complete, else the last."""
        for name, status in self.phases:
            if status == PhaseStatus.LIVE.value:
                return name
        for name, status in self.phases:
            if status not in _DONE:
                return name
        return self.phases[-1][0] if self.phases else None


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value  # SQLite hands JSON back as text


def _plan(session: Session, rollout_name: str | None) -> list[_Rollout]:
    conn = session.connection()
    url = str(session.get_bind().url)
    rollouts: dict[int, _Rollout] = {}
    rows = conn.execute(_ROLLOUT_NAMED, {"name": rollout_name}) if rollout_name else conn.execute(_ROLLOUTS)
    for rid, name, flag_key, kind, options, snapshot_id, fetched_at in rows:
        evaluator = None
        if snapshot_id is not None:
            options_key = options if isinstance(options, str) else json.dumps(options, sort_keys=True, default=str)
            evaluator = _remember(
                (url, snapshot_id, str(fetched_at), kind, options_key),
                lambda sid=snapshot_id: SnapshotEvaluator(session.get(FlagSnapshot, sid)),  # type: ignore[arg-type]
            )
        rollouts[rid] = _Rollout(rid, name, flag_key is not None, evaluator)
    if not rollouts:
        return []
    rollout_kind = PhaseKind.ROLLOUT.value
    for what, rid, _position, _id, name, rule, kind, status in conn.execute(_PLAN):
        rollout = rollouts.get(rid)
        if rollout is None:
            continue
        if what == 0:
            rollout.cohorts.append((name, _json(rule) or {}))
        elif kind == rollout_kind:
            rollout.phases.append((name, status))
    return list(rollouts.values())


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
    accounts = search_account_rows(session, query, limit=limit)
    if not accounts:
        return []
    rollouts = _plan(session, rollout_name)
    if not rollouts:
        return []
    sent = _messages_sent(session, [a.id for a in accounts])
    contexts = [lookup_context(a) for a in accounts]
    answers: list[Lookup] = []
    for rollout in rollouts:
        evaluator = rollout.evaluator
        phase = rollout.phase()
        if evaluator is not None:
            age: float | None = round((now - evaluator.fetched_at).total_seconds(), 1)
            at: str | None = evaluator.fetched_at.isoformat()
        else:
            age = at = None
        for account, context in zip(accounts, contexts):
            if evaluator is None:
                has, reason = "unknown", "no flag snapshot yet: sync the rollout's flag first"
                if not rollout.linked:
                    reason = "the rollout is not linked to a flag yet"
            else:
                result = evaluator.explain(context, now=now)
                has, reason = access_word(result.enabled), result.reason
            answers.append(Lookup(
                account_id=account.account_key,
                name=account.name,
                emails=list(account.emails),
                rollout=rollout.name,
                cohort=rollout.cohort(account.attributes),
                phase=phase,
                has_access=has,
                reason=reason,
                snapshot_age_s=age,
                snapshot_at=at,
                messages=[m for rid, m in sent.get(account.id, ()) if rid == rollout.id],
            ))
    return answers


def _messages_sent(session: Session, account_ids: list[int]) -> dict[int, list[tuple[int, SentMessage]]]:
    out: dict[int, list[tuple[int, SentMessage]]] = {}
    for account_id, rollout_id, name, channel, recipient, state, sent_at in session.connection().execute(
        _MESSAGES, {"ids": account_ids}
    ):
        out.setdefault(account_id, []).append((rollout_id, SentMessage(
            name, str(channel), recipient, str(state), sent_at.isoformat() if sent_at else None)))
    return out
