"""Undoable message edits beyond single fields: a new message (or a copy of one), a message's audience, and
deleting a draft. Each is a ``WriteCommand``: one transaction, a journal line, a ``document.changed`` signal.

Who a message goes to is its phase (which also sets when it is sent), its cohort (stored explicitly: the phase's
by default) and its scope, ``cohort`` or ``all_customers``. Changing any of them on an approved message takes the
approval away (the approval rule's attribute listener); a message being sent, or sent, keeps its audience.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from launchdesk import journal
from launchdesk.comms import approval
from launchdesk.comms.audience import ALL_CUSTOMERS
from launchdesk.models import Channel, Cohort, Delivery, Message, MessageState, Phase
from launchdesk.views.commands import RowGone, WriteCommand
from launchdesk.views.document import WorkspaceDocument

# A new message starts from these, per channel: Markdown with the variables every message has.
DEFAULT_SUBJECT = "{{ feature.name }} is now on for {{ account.name }}"
DEFAULT_BODIES = {
    Channel.EMAIL: (
        "Hi {{ contact.first_name }},\n\n"
        "**{{ feature.name }}** is now available for {{ account.name }}.\n\n"
        "We are rolling it out in stages ({{ phase.name }}), so you are among the first to have it.\n\n"
        "Questions or feedback? Just reply to this e-mail.\n\n"
        "The {{ feature.name }} team"
    ),
    Channel.SLACK: "**{{ feature.name }}** is now on for {{ account.name }} ({{ phase.name }}).",
    Channel.WEBHOOK: "**{{ feature.name }}** is now available for {{ account.name }}.",
}
AUDIENCE_LOCKED = (MessageState.SENDING, MessageState.SENT, MessageState.PARTLY_FAILED)


class MessageRefused(RowGone):
    """An edit of a message that its state does not allow; the text says why. A ``RowGone`` so that
    ``document.push`` reports it instead of pushing the command."""


@dataclass(frozen=True)
class MessageAudience:
    """To whom a message goes: its phase, its cohort (None: the phase's) and its scope."""

    phase_id: int
    cohort_id: int | None
    scope: str = "cohort"  # or ALL_CUSTOMERS

    def values(self) -> dict[str, Any]:
        return {"phase_id": self.phase_id, "cohort_id": self.cohort_id, "audience": self.scope}


def describe_audience(session: Session, audience: MessageAudience) -> str:
    """"Phase 2: Power users · cohort Power users", as the journal and the undo menu say it."""
    phase = session.get(Phase, audience.phase_id)
    cohort = session.get(Cohort, audience.cohort_id) if audience.cohort_id is not None else (
        phase.cohort if phase is not None else None)
    who = "all customers" if audience.scope == ALL_CUSTOMERS else (
        f"cohort “{cohort.name}”" if cohort is not None else "no cohort")
    return f"{phase.name if phase is not None else '(a deleted phase)'} · {who}"


def audience_refusal(name: str, state: MessageState) -> str | None:
    """Why a message's audience cannot change now, None when it can."""
    if state in AUDIENCE_LOCKED:
        return (f"“{name}” is {state.value.replace('_', ' ')}: its audience cannot change, since people may "
                "already have it. Duplicate it to address someone else.")
    return None


def _rollout_of_phase(session: Session, phase_id: int) -> int:
    rollout_id = session.scalar(select(Phase.rollout_id).where(Phase.id == phase_id))
    if rollout_id is None:
        raise RowGone("That phase no longer exists.")
    return int(rollout_id)


class NewMessage(WriteCommand):
    """A new draft message (``values``: name, channel, send offset, subject, body ... and its audience)."""

    kind = "message"

    def __init__(self, document: WorkspaceDocument, audience: MessageAudience, *, name: str, channel: Channel,
                 send_offset_minutes: int, subject: str | None = None, body: str | None = None,
                 sender_connection_id: int | None = None, copy_of: str | None = None) -> None:
        name = name.strip()
        if not name:
            raise MessageRefused("A message needs a name.")
        super().__init__(document, f"{'Duplicate' if copy_of else 'New'} message “{name}”")
        assert document.workspace is not None, "edits need an open workspace"
        with document.workspace.session() as session:
            self.rollout_id = _rollout_of_phase(session, audience.phase_id)
            where = describe_audience(session, audience)
        self.values: dict[str, Any] = {
            **audience.values(), "name": name, "channel": channel, "send_offset_minutes": send_offset_minutes,
            "subject": DEFAULT_SUBJECT if subject is None else subject,
            "body": DEFAULT_BODIES[channel] if body is None else body,
            "sender_connection_id": sender_connection_id, "state": MessageState.DRAFT,
        }
        self.summary = (f"Duplicated “{copy_of}” as" if copy_of else "New") + (
            f" {channel.value} message “{name}” for {where}, as a draft")

    def apply(self, session: Session, forward: bool) -> None:
        if forward:
            self.add_row(session, Message, self.values)
        else:
            _delete_draft(session, self.row_id, self.values["name"])

    def details(self) -> dict[str, Any]:
        return {**super().details(), "phase": self.values["phase_id"], "cohort": self.values["cohort_id"],
                "audience": self.values["audience"], "channel": str(self.values["channel"])}


class DeleteMessage(WriteCommand):
    """Delete a draft message; undo puts it back as it was, with the same id."""

    kind = "message"

    def __init__(self, document: WorkspaceDocument, message_id: int) -> None:
        super().__init__(document, "")
        table = Message.__table__
        assert document.workspace is not None, "edits need an open workspace"
        with document.workspace.engine.connect() as conn:
            self.row = self.stored_row(conn, table, message_id, "This message no longer exists.")
            self.rollout_id = conn.scalar(select(Phase.rollout_id).where(Phase.id == self.row["phase_id"]))
        if self.row["state"] != MessageState.DRAFT:
            raise MessageRefused(_not_a_draft(self.row["name"], MessageState(self.row["state"])))
        self.row_id = message_id
        self.setText(f"Delete message “{self.row['name']}”")
        self.summary = f"Deleted the draft message “{self.row['name']}”"

    def apply(self, session: Session, forward: bool) -> None:
        if forward:
            _delete_draft(session, self.row_id, self.row["name"])
        else:
            session.execute(insert(Message.__table__).values(**self.row))


class ChangeMessageAudience(WriteCommand):
    """Move a message to another phase, cohort or scope; an approved message goes back to draft."""

    kind = "message"

    def __init__(self, document: WorkspaceDocument, message_id: int, audience: MessageAudience) -> None:
        super().__init__(document, "")
        assert document.workspace is not None, "edits need an open workspace"
        with document.workspace.session() as session:
            message = session.get(Message, message_id)
            if message is None:
                raise RowGone("This message no longer exists.")
            refused = audience_refusal(message.name, message.state)
            if refused:
                raise MessageRefused(refused)
            if _rollout_of_phase(session, audience.phase_id) != message.phase.rollout_id:
                raise MessageRefused("A message can only move to a phase of its own rollout.")
            self.old = MessageAudience(message.phase_id, message.cohort_id, message.audience)
            self.name = message.name
            self.rollout_id = message.phase.rollout_id
            before, after = describe_audience(session, self.old), describe_audience(session, audience)
        self.new = audience
        self.row_id = message_id
        self.lost_approval = False
        self.setText(f"Change the audience of “{self.name}”")
        self.summary = f"Audience of message “{self.name}”: {before} → {after}"

    def apply(self, session: Session, forward: bool) -> None:
        message = session.get(Message, self.row_id)
        if message is None:
            raise RowGone(f"The message “{self.name}” no longer exists.")
        refused = audience_refusal(message.name, message.state)
        if refused:
            raise MessageRefused(refused)
        target = self.new if forward else self.old
        # Through the approval module: the listener takes an approval away and this journals that it did.
        lost = approval.edit_message(session, message, by=journal.current_user(), **target.values())
        if forward:
            self.lost_approval = lost

    def details(self) -> dict[str, Any]:
        return {**super().details(), "field": "audience", "from": self.old.values(), "to": self.new.values()}


def _not_a_draft(name: str, state: MessageState) -> str:
    return (f"“{name}” is {state.value.replace('_', ' ')}; only a draft message can be deleted"
            + (": return it to draft first." if state in (MessageState.IN_REVIEW, MessageState.APPROVED) else
               ", since people may already have it."))


def _delete_draft(session: Session, message_id: int, name: str) -> None:
    message = session.get(Message, message_id)
    if message is None:
        raise RowGone(f"The message “{name}” no longer exists.")
    if message.state is not MessageState.DRAFT:
        raise MessageRefused(_not_a_draft(message.name, message.state))
    if session.scalar(select(func.count()).select_from(Delivery).where(Delivery.message_id == message_id)):
        raise MessageRefused(f"“{message.name}” has deliveries on record; it cannot be deleted.")
    session.execute(delete(Message.__table__).where(Message.__table__.c.id == message_id))
