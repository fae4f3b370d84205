"""The send guards: every reason a message may not be sent now, each with a sentence for the person at the button.

The same list blocks the "Send to N accounts with access" button and ``launchdesk-cli send``; an empty list
means the message may go.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from launchdesk.comms.approval import approval_holds
from launchdesk.comms.audience import ALL_CUSTOMERS, Audience, message_cohort
from launchdesk.models import (
    Channel,
    Connection,
    ConnectionKind,
    Message,
    MessageState,
    PhaseStatus,
    RolloutStatus,
    Setting,
    utcnow,
)

FRESHNESS_SETTING = "comms.freshness_minutes"
DEFAULT_FRESHNESS_MINUTES = 15
SENDER_KINDS = {Channel.EMAIL: ConnectionKind.SMTP, Channel.SLACK: ConnectionKind.SLACK,
                Channel.WEBHOOK: ConnectionKind.WEBHOOK}


@dataclass(frozen=True)
class Blocker:
    """One reason not to send: a stable ``code`` for code and tests, a ``reason`` for people."""

    code: str
    reason: str

    def __str__(self) -> str:
        return self.reason


def freshness(session: Session) -> dt.timedelta:
    """How old a flag snapshot may be for a send (Setting "comms.freshness_minutes", default 15 minutes)."""
    setting = session.get(Setting, FRESHNESS_SETTING)
    minutes = setting.value if setting is not None and isinstance(setting.value, int | float) else None
    return dt.timedelta(minutes=minutes if minutes and minutes > 0 else DEFAULT_FRESHNESS_MINUTES)


def sender_connection(session: Session, message: Message) -> Connection | None:
    """The connection a message goes out through: its own if it fits the channel, else the only one that does."""
    kind = SENDER_KINDS[message.channel]
    chosen = message.sender_connection
    if chosen is not None and chosen.kind is kind:
        return chosen
    candidates = session.scalars(select(Connection).where(Connection.kind == kind)).all()
    return candidates[0] if len(candidates) == 1 else None


def send_blockers(session: Session, message: Message, audience: Audience, *,
                  now: dt.datetime | None = None, retrying: bool = False) -> list[Blocker]:
    """Why the message cannot be sent now (empty when it can). A message already sending may resume;
    ``retrying``: its failed rows are to go again, so a message already sent (or partly failed) may too."""
    now = now or utcnow()
    blockers: list[Blocker] = []

    def block(code: str, reason: str) -> None:
        blockers.append(Blocker(code, reason))

    phase, rollout = message.phase, message.phase.rollout
    allowed = (MessageState.APPROVED, MessageState.SENDING) + (
        (MessageState.SENT, MessageState.PARTLY_FAILED) if retrying else ())
    if message.state not in allowed:
        block("not_approved", f"Only an approved message can be sent; '{message.name}' is "
                              f"{message.state.value.replace('_', ' ')}.")
    elif not approval_holds(session, message):
        block("edited", f"'{message.name}' changed after it was approved; it needs a new review and approval.")
    if rollout.status is RolloutStatus.ROLLED_BACK or phase.status is PhaseStatus.ROLLED_BACK:
        block("rolled_back", f"The rollout '{rollout.name}' was rolled back; nobody should be told about it now.")
    elif phase.status is not PhaseStatus.LIVE:
        block("phase_not_live", f"The phase '{phase.name}' is {phase.status.value.replace('_', ' ')}, not live.")
    snapshot = audience.snapshot
    if rollout.flag_key is None:
        block("no_flag", f"The rollout '{rollout.name}' is not linked to a flag, so nobody's access is known.")
    elif snapshot is None:
        block("no_snapshot", f"There is no flag snapshot of {rollout.flag_key} yet: sync first.")
    else:
        age = now - snapshot.fetched_at
        limit = freshness(session)
        if age > limit:
            block("stale_snapshot", f"The flag snapshot is {_minutes(age)} old (the limit is {_minutes(limit)}): "
                                    "sync first, so the audience is who has access now.")
        if not snapshot.enabled:
            block("flag_off", f"The flag {snapshot.flag_key} is off in {snapshot.environment}.")
    if audience.scope == ALL_CUSTOMERS:
        percentage = snapshot.rollout_percentage if snapshot is not None else None
        if percentage is None or percentage < 100:
            shown = "an unknown share" if percentage is None else f"{percentage:g}%"
            block("all_customers_below_100", f"'{message.name}' is addressed to all customers while the rollout "
                                             f"is at {shown}; address a cohort instead.")
        left_out = len(audience.without_access) + len(audience.unpredictable)
        if left_out:
            block("audience_without_access", f"The audience would include {left_out} accounts without access "
                                             f"({len(audience.unpredictable)} of them unpredictable).")
    elif message_cohort(message) is None:
        block("no_cohort", f"'{message.name}' has no cohort to send to.")
    if message.state is MessageState.APPROVED and not blockers and audience.reachable == 0:
        reason = "Nobody in the audience has access yet." if not audience.with_access else (
            "None of the accounts with access has a contact e-mail.")
        block("no_recipients", reason)
    if sender_connection(session, message) is None:
        kind = SENDER_KINDS[message.channel]
        block("no_sender", f"Choose the {kind} connection to send through (or add one: "
                           f"launchdesk-cli connection add ... --kind {kind}).")
    return blockers


def _minutes(delta: dt.timedelta) -> str:
    minutes = delta.total_seconds() / 60
    return f"{minutes:.0f} minutes" if minutes < 120 else f"{minutes / 60:.1f} hours"
