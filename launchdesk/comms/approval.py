"""A message's approval: draft → in review → approved (by whom, when) → sending → sent / partly failed.

Any edit of what a message says or to whom (subject, body, channel, audience, cohort, phase) after approval
sends it back to draft: an attribute listener does it whichever code makes the edit, and approval records a
fingerprint of the content in the journal so the send guard can also catch an edit made behind the ORM's back.
The fingerprint covers the audience as it resolves: the phase, and the cohort the message goes to (its own, else
its phase's), so moving a message to another phase, or giving its phase another cohort, needs a new approval.
A message being sent, or sent, cannot be edited at all.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from launchdesk import journal
from launchdesk.models import JournalEntry, Message, MessageState, utcnow

CONTENT_FIELDS = ("subject", "body", "channel", "audience", "cohort_id")
AUDIENCE_FIELDS = ("phase_id",)  # also to whom (the phase's cohort when the message has none of its own) and when
# 1: CONTENT_FIELDS only (approvals recorded before the phase and resolved cohort were covered); 2: with them.
FINGERPRINT_VERSION = 2
LOCKED_STATES = (MessageState.SENDING, MessageState.SENT, MessageState.PARTLY_FAILED)
APPROVED_KIND = "message_approved"


class ApprovalError(Exception):
    """A state change that is not allowed now; the message says why and what to do instead."""


class MessageLocked(ApprovalError):
    """An edit of a message that is being sent or was sent."""


def submit_for_review(session: Session, message: Message, *, by: str) -> None:
    """draft → in review."""
    _require(message, (MessageState.DRAFT,), "submitted for review")
    message.state = MessageState.IN_REVIEW
    journal.record(session, "message_review", f"Message '{message.name}' submitted for review",
                   rollout=message.phase.rollout_id, actor=by, details={"message": message.id})


def approve(session: Session, message: Message, *, by: str, now: dt.datetime | None = None) -> None:
    """in review → approved, by ``by``; refused while the template has problems (syntax, unknown or missing values).

    The problems are those ``compose.cohort_problems`` lists for the composer. That check reads every account
    of the cohort (seconds on a million accounts), so the window calls this from a worker.
    """
    from launchdesk.comms.compose import cohort_problems

    _require(message, (MessageState.IN_REVIEW,), "approved",
             hint=" Submit it for review first." if message.state is MessageState.DRAFT else "")
    if not by.strip():
        raise ApprovalError("An approval needs the approver's name.")
    problems = cohort_problems(session, message)
    if problems:
        listed = "; ".join(str(p) for p in problems[:5])
        raise ApprovalError(f"Message '{message.name}' cannot be approved while its template has problems: {listed}")
    message.state = MessageState.APPROVED
    message.approved_by = by.strip()
    message.approved_at = now or utcnow()
    journal.record(session, APPROVED_KIND, f"Message '{message.name}' approved by {message.approved_by}",
                   rollout=message.phase.rollout_id, actor=by,
                   details=approval_details(message))


def return_to_draft(session: Session, message: Message, *, by: str, reason: str = "") -> None:
    """in review or approved → draft (changes requested, or the approval withdrawn)."""
    _require(message, (MessageState.IN_REVIEW, MessageState.APPROVED), "returned to draft")
    _to_draft(message)
    journal.record(session, "message_draft", f"Message '{message.name}' returned to draft"
                   + (f": {reason}" if reason else ""), rollout=message.phase.rollout_id, actor=by,
                   details={"message": message.id})


def edit_message(session: Session, message: Message, *, by: str, **changes: Any) -> bool:
    """Change a message's fields (``subject=``, ``body=`` ...); returns True when that took away its approval."""
    was_approved = message.state is MessageState.APPROVED
    for name, value in changes.items():
        if not hasattr(Message, name):
            raise AttributeError(f"a message has no field {name!r}")
        setattr(message, name, value)
    lost = was_approved and message.state is MessageState.DRAFT
    if lost:
        journal.record(session, "message_draft", f"Message '{message.name}' edited after approval; back to draft",
                       rollout=message.phase.rollout_id, actor=by, details={"message": message.id})
    return lost


def content_fingerprint(message: Message, *, version: int = FINGERPRINT_VERSION) -> str:
    """A hash of what the message says and to whom; approval stores it, the send guard compares it.

    From version 2 it covers the phase and the cohort the message resolves to (its own, else its phase's).
    """
    content = [str(getattr(message, name)) for name in CONTENT_FIELDS]
    if version >= 2:
        cohort_id = message.cohort_id if message.cohort_id is not None else message.phase.cohort_id
        content += [str(getattr(message, name)) for name in AUDIENCE_FIELDS] + [str(cohort_id)]
    return hashlib.sha256(json.dumps(content).encode()).hexdigest()


def approval_details(message: Message) -> dict[str, Any]:
    """The details of an approval's journal entry: the message, its fingerprint and the fingerprint's version."""
    return {"message": message.id, "content": content_fingerprint(message), "fingerprint": FINGERPRINT_VERSION}


def _latest_approval(session: Session, message: Message) -> dict[str, Any] | None:
    entries = session.scalars(
        select(JournalEntry).where(JournalEntry.kind == APPROVED_KIND,
                                   JournalEntry.rollout_id == message.phase.rollout_id)
        .order_by(JournalEntry.at.desc(), JournalEntry.id.desc())
    )
    for entry in entries:
        if (entry.details or {}).get("message") == message.id:
            return dict(entry.details)
    return None


def approved_content(session: Session, message: Message) -> str | None:
    """The fingerprint recorded by the message's latest approval, None if it was never approved."""
    details = _latest_approval(session, message)
    return None if details is None else str(details.get("content"))


def approval_holds(session: Session, message: Message) -> bool:
    """Whether the message is still what its latest approval saw (compared the way that approval fingerprinted it)."""
    details = _latest_approval(session, message)
    if details is None:
        return False
    version = details.get("fingerprint", 1)
    return str(details.get("content")) == content_fingerprint(message, version=int(version))


def _require(message: Message, states: tuple[MessageState, ...], action: str, hint: str = "") -> None:
    if message.state not in states:
        allowed = " or ".join(s.value.replace("_", " ") for s in states)
        raise ApprovalError(f"Message '{message.name}' is {message.state.value.replace('_', ' ')}; only a message "
                            f"that is {allowed} can be {action}.{hint}")


def _to_draft(message: Message) -> None:
    message.state = MessageState.DRAFT
    message.approved_by = None
    message.approved_at = None


def _on_content_edit(target: Message, value: Any, oldvalue: Any, _initiator: Any) -> None:
    if value == oldvalue or target.state is None:  # no change, or a message still being built
        return
    if target.state in LOCKED_STATES:
        raise MessageLocked(f"Message '{target.name}' is {target.state.value.replace('_', ' ')} and cannot be "
                            "edited; write a new message instead.")
    if target.state is MessageState.APPROVED:
        _to_draft(target)


# "cohort" and "phase" too: assigning a relationship changes its id column only at flush, without a "set" event.
for _field in (*CONTENT_FIELDS, *AUDIENCE_FIELDS, "cohort", "phase"):
    event.listen(getattr(Message, _field), "set", _on_content_edit)
