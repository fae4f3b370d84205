"""Who a message reaches: its cohort's accounts, split by access on the latest flag snapshot.

Only accounts whose evaluation says *enabled* are sent to; accounts without access and the unpredictable ones
(an evaluation that depends on something LaunchDesk cannot know) are counted and left out. A message
addressed to ``all_customers`` takes every account of the workspace instead of its cohort's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from launchdesk.access.evaluate import iter_account_chunks
from launchdesk.access.lookup import evaluator_for
from launchdesk.access.sync import rollout_snapshot
from launchdesk.models import Account, Channel, Cohort, Contact, FlagSnapshot, Message, utcnow
from launchdesk.planning.cohort_rules import MATCH_ALL_ACCOUNTS, matches

ALL_CUSTOMERS = "all_customers"
CHUNK = 2_000  # small chunks die young: fewer objects outlive young GCs and bring on a full one


@dataclass
class Audience:
    """A message's audience at one moment. The id lists hold account row ids in id order."""

    message_id: int
    scope: str  # "cohort" or "all_customers"
    cohort: str | None  # the cohort's name; None for all customers or a message without a cohort
    snapshot: FlagSnapshot | None  # the snapshot the access answers come from; None before the first sync
    with_access: list[int] = field(default_factory=list)
    without_access: list[int] = field(default_factory=list)
    unpredictable: list[int] = field(default_factory=list)
    # Accounts with access but no contact e-mail: an e-mail message cannot reach them.
    no_address: list[int] = field(default_factory=list)

    @property
    def in_cohort(self) -> int:
        return len(self.with_access) + len(self.without_access) + len(self.unpredictable)

    @property
    def reachable(self) -> int:
        """Accounts the message will go to: with access, and with an address when it is an e-mail."""
        return len(self.with_access) - len(self.no_address)

    def counts(self) -> dict[str, int]:
        """The numbers the audience panel and ``launchdesk-cli messages`` show."""
        return {
            "in_cohort": self.in_cohort,
            "with_access": len(self.with_access),
            "without_access": len(self.without_access),
            "unpredictable": len(self.unpredictable),
            "no_address": len(self.no_address),
            "reachable": self.reachable,
        }


@dataclass(frozen=True)
class AudienceAccount:
    """One line of the audience list."""

    account_id: str
    name: str
    emails: tuple[str, ...]


def message_cohort(message: Message) -> Cohort | None:
    """The cohort a message is for: its own, else its phase's."""
    return message.cohort or message.phase.cohort


def compute_audience(
    session: Session,
    message: Message,
    *,
    now: dt.datetime | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> Audience:
    """Count and list the accounts of the message's cohort by access on the rollout's latest snapshot.

    Reads accounts a chunk at a time, so a million-account workspace is never in memory at once. Before the
    first sync every member is *unpredictable*. ``cancelled`` is checked between chunks.
    """
    now = now or utcnow()
    rollout = message.phase.rollout
    cohort = message_cohort(message)
    scope = ALL_CUSTOMERS if message.audience == ALL_CUSTOMERS else "cohort"
    audience = Audience(message.id, scope, cohort.name if cohort and scope == "cohort" else None,
                        rollout_snapshot(session, rollout))
    if scope == "cohort" and cohort is None:
        return audience
    rule: dict[str, Any] = MATCH_ALL_ACCOUNTS if scope == ALL_CUSTOMERS else (cohort.rule or MATCH_ALL_ACCOUNTS)
    evaluator = evaluator_for(session, audience.snapshot) if audience.snapshot is not None else None
    for rows in iter_account_chunks(session, CHUNK):
        members = [r for r in rows if matches(rule, r.attributes)]
        if evaluator is None:
            answers: list[bool | None] = [None] * len(members)
        else:
            answers = evaluator.evaluate_rows([(r.user_id, r.attributes) for r in members], now)
        with_access = []
        for row, answer in zip(members, answers):
            if answer is True:
                with_access.append(row.id)
            elif answer is None:
                audience.unpredictable.append(row.id)
            else:
                audience.without_access.append(row.id)
        audience.with_access += with_access
        if message.channel is Channel.EMAIL and with_access:
            addressed = set(session.scalars(
                select(Contact.account_id).where(Contact.account_id.between(with_access[0], with_access[-1]))
            ))
            audience.no_address += [i for i in with_access if i not in addressed]
        if cancelled and cancelled():
            break
    return audience


def audience_accounts(session: Session, account_ids: list[int], *, offset: int = 0,
                      limit: int = 100) -> list[AudienceAccount]:
    """A page of the audience list (for example ``audience.with_access``), in the order given."""
    page = account_ids[offset:offset + limit]
    if not page:
        return []
    accounts = {i: (key, name) for i, key, name in
                session.execute(select(Account.id, Account.account_key, Account.name).where(Account.id.in_(page)))}
    emails: dict[int, list[str]] = {}
    for account_id, email in session.execute(
        select(Contact.account_id, Contact.email).where(Contact.account_id.in_(page)).order_by(Contact.position)
    ):
        emails.setdefault(account_id, []).append(email)
    return [AudienceAccount(*accounts[i], tuple(emails.get(i, []))) for i in page if i in accounts]
