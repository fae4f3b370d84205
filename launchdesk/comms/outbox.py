"""The outbox: one row per recipient written in one transaction, then sent one row at a time, exactly once.

A send first writes a Delivery row for every recipient with access (each with its Message-ID or idempotency
key) and moves the message to *sending*, all in one transaction. Then each row goes

    pending → sending   committed before the first byte leaves
            → sent | failed                     what the server said
            → uncertain                         the connection broke mid-transmission

One sender at a time holds a message's send, under a *lease* on the message row: who, on which host, a token
naming the run, and an expiry that a heartbeat thread renews every few seconds while the run lasts. A second
Send (another window, a teammate on the shared workspace) that finds a live lease is refused with "being sent
by Pat on host-a" and touches nothing: the holder's rows in flight are its own. We refuse rather than join:
two senders on one message would double the pace the relay or Slack sees, a Cancel in one window would not
stop the other, and the person who clicked learns who is sending and where. Only a lease that ran out (its
sender crashed or was killed, so no heartbeat) may be taken over; then, and only then, the rows it left
*sending* become *uncertain* and are never sent again unless a person says so (``resend_uncertain``) or gives
them up (``drop_uncertain``). Claiming a row is a conditional update (``... WHERE state = 'pending'`` and the
message's lease still names this run), so a sender whose lease was taken over stops at its next row; and
*sent* overrides *uncertain*, so a sender that was only slow still records the truth for its last row.

Rows the server refused (*failed*) can be sent again with ``retry_failed``, under the same guards and lease;
rows a person dropped after an uncertain attempt are never retried.

Access is checked again for every row at send time against the latest snapshot; a row whose account lost
access is failed with that reason. ``send_message`` takes ``progress`` and ``cancelled`` callables, so the
window runs it with ``views.tasks.run_task``; cancelling leaves the remaining rows pending, and the next send
resumes with them.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import Text, bindparam, exists, func, literal, or_, select, text, type_coerce, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from launchdesk import journal
from launchdesk.access.lookup import evaluator_for
from launchdesk.access.sync import rollout_snapshot
from launchdesk.comms.audience import compute_audience, message_cohort
from launchdesk.comms.compose import (
    compile_message,
    message_variables,
    preview_message,
    recipient_variables,
)
from launchdesk.comms.guards import Blocker, send_blockers, sender_connection
from launchdesk.comms.senders import (
    Attempt,
    Envelope,
    Outcome,
    Sender,
    SenderUnavailable,
    delivery_keys,
    open_sender,
)
from launchdesk.comms.templating import Rendered, TemplateRefused
from launchdesk.models import (
    Account,
    Channel,
    Connection,
    ConnectionKind,
    Contact,
    Delivery,
    DeliveryState,
    Message,
    MessageState,
    utcnow,
)
from launchdesk.workspace import Workspace

log = logging.getLogger(__name__)

BATCH = 500  # rows read, and their access re-checked, at a time
PROGRESS_INTERVAL = 0.1  # seconds between progress reports
LEASE_SECONDS = 30.0  # how long a send stays held after its last heartbeat
HEARTBEAT_SECONDS = 5.0  # how often a running send renews its lease
SenderFactory = Callable[..., Sender]
_D = Delivery.__table__
_M = Message.__table__
_A = Account.__table__
_C = Contact.__table__


class SendRefused(Exception):
    """The message may not be sent now; ``blockers`` give every reason (str() joins them)."""

    def __init__(self, message: str, blockers: list[Blocker] | None = None) -> None:
        super().__init__(message if not blockers else f"{message} " + " ".join(b.reason for b in blockers))
        self.blockers = blockers or []


class SendBusy(SendRefused):
    """Someone else's send of this message is under way (its lease is live); nothing was touched."""

    def __init__(self, name: str, by: str, host: str, expires: dt.datetime, now: dt.datetime) -> None:
        left = max(0, round((expires - now).total_seconds()))
        super().__init__(f"'{name}' is being sent by {by} on {host}; its rows are left to that send. Try again "
                         f"when it has finished (if that sender stopped without finishing, the send can be "
                         f"resumed {left} s after its last sign of life).")
        self.by, self.host, self.expires = by, host, expires


@dataclass(frozen=True)
class SendProgress:
    """Where a send stands: ``done`` of ``total`` rows handled in this run."""

    done: int
    total: int
    sent: int
    failed: int
    uncertain: int


@dataclass
class SendReport:
    """What one run of ``send_message`` did, and where the message stands after it."""

    message_id: int
    message: str
    state: MessageState = MessageState.SENDING
    queued: int = 0  # rows written by this run
    recovered: int = 0  # rows found mid-transmission when the run started, now uncertain
    sent: int = 0
    failed: int = 0
    uncertain: int = 0  # rows this run left uncertain (the connection broke while handing one over)
    pending: int = 0  # rows still waiting when the run ended (cancelled or stopped)
    stopped: str | None = None  # why the run ended before the last row
    totals: dict[str, int] = field(default_factory=dict)  # every row of the message, by state

    def summary(self) -> str:
        parts = [f"{self.sent} sent", f"{self.failed} failed"]
        if self.uncertain or self.recovered:
            parts.append(f"{self.uncertain + self.recovered} uncertain (to resend or drop)")
        if self.pending:
            parts.append(f"{self.pending} still pending")
        head = f"'{self.message}' is {self.state.value.replace('_', ' ')}: " + ", ".join(parts)
        return head + (f". Stopped: {self.stopped}" if self.stopped else ".")


def delivery_counts(session: Session, message_id: int) -> dict[str, int]:
    """How many of the message's rows are in each state (every state listed, zeros included)."""
    counts = {state.value: 0 for state in DeliveryState}
    for state, count in session.execute(
        select(Delivery.state, func.count()).where(Delivery.message_id == message_id).group_by(Delivery.state)
    ):
        counts[DeliveryState(state).value] = count
    return counts


def database_now(session: Session) -> dt.datetime:
    """The time on the workspace's clock: the PostgreSQL server's for a team (so every host judges a lease
    by the same clock), this machine's for a SQLite file."""
    if session.get_bind().dialect.name == "postgresql":
        value = session.scalar(select(func.clock_timestamp()))
        if isinstance(value, dt.datetime):
            return value.astimezone(dt.timezone.utc) if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    return utcnow()


def send_holder(message: Message, now: dt.datetime) -> tuple[str, str, dt.datetime] | None:
    """Who holds the message's send now (by, host, lease expiry), or None when nobody's lease is live."""
    expires = message.send_lease_expires
    if message.send_lease_token is None or expires is None or expires <= now:
        return None
    return message.send_lease_by or "someone", message.send_lease_host or "another computer", expires


def mark_interrupted(session: Session, message_id: int, now: dt.datetime | None = None) -> int:
    """Rows left *sending* by a sender that is gone (no live lease) become *uncertain*; returns how many.

    The lease is checked in the same statement, so a live sender's rows in flight are never touched.
    """
    now = now or database_now(session)
    live = exists(select(_M.c.id).where(_M.c.id == message_id, _M.c.send_lease_token.is_not(None),
                                        _M.c.send_lease_expires > now))
    result = session.execute(
        update(_D).where(_D.c.message_id == message_id, _D.c.state == DeliveryState.SENDING, ~live)
        .values(state=DeliveryState.UNCERTAIN,
                last_error="Caught mid-transmission when the sending stopped; it may have arrived.")
    )
    return result.rowcount or 0


def send_message(
    workspace: Workspace,
    message_id: int,
    *,
    by: str | None = None,
    progress: Callable[[SendProgress], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    now: dt.datetime | None = None,
    sender_factory: SenderFactory = open_sender,
) -> SendReport:
    """Send an approved message to every recipient with access, or resume one that is already sending.

    Raises SendRefused with the guards' reasons when it may not go, SendBusy when another sender holds it.
    Returns a report; a send that could not finish (cancelled, server unreachable) leaves its rows pending and
    says why in ``stopped``.
    """
    return _run(workspace, message_id, None, by=by, progress=progress, cancelled=cancelled, now=now,
                sender_factory=sender_factory)


def retry_failed(
    workspace: Workspace,
    message_id: int,
    delivery_ids: list[int] | None = None,
    *,
    by: str | None = None,
    progress: Callable[[SendProgress], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    now: dt.datetime | None = None,
    sender_factory: SenderFactory = open_sender,
) -> SendReport:
    """Send the message's failed rows again (all of them, or those given), then any still pending.

    The same guards as a send: the message still approved and unchanged, its phase live, the flag on and its
    snapshot fresh; each row's access is checked again as it goes. Rows a person dropped after an uncertain
    attempt are never retried (they may have arrived). Raises SendRefused (SendBusy) like ``send_message``;
    the retry is journaled with who asked.
    """
    return _run(workspace, message_id, list(delivery_ids) if delivery_ids is not None else [], by=by,
                progress=progress, cancelled=cancelled, now=now, sender_factory=sender_factory)


def _run(workspace: Workspace, message_id: int, retry: list[int] | None, *, by: str | None,
         progress: Callable[[SendProgress], None] | None, cancelled: Callable[[], bool] | None,
         now: dt.datetime | None, sender_factory: SenderFactory) -> SendReport:
    """``retry``: None for a send; the failed rows to retry otherwise ([] for all of them)."""
    by = by or journal.current_user()
    cancelled = cancelled or (lambda: False)
    lease = _Lease(workspace, message_id, by)
    try:
        report, connection = _prepare(workspace, message_id, lease, retry, now=now or utcnow())
    except (StaleDataError, IntegrityError):
        # Someone else (another window, a teammate) took the send at the same moment and won the update of the
        # message row: this time their lease is found and the send is refused with who holds it.
        report, connection = _prepare(workspace, message_id, lease, retry, now=now or utcnow())
    lease.start()
    try:
        def stop() -> bool:
            return cancelled() or lease.lost.is_set()

        try:
            sender = sender_factory(connection, cancelled=stop)
        except SenderUnavailable as err:
            report.stopped = str(err)
        else:
            try:
                _send_rows(workspace, message_id, sender, report, progress, stop, lease.token)
            finally:
                sender.close()
        if lease.lost.is_set():
            report.stopped = lease.lost_reason
    except BaseException:
        lease.stop()
        lease.release_quietly()
        raise
    lease.stop()
    _finish(workspace, message_id, report, by, lease.token)
    return report


class _Lease:
    """This run's hold on the message's send: taken in ``_prepare``, renewed by a heartbeat thread, released
    by ``_finish``. ``lost`` is set when another sender took it over (after it ran out), and the run stops."""

    def __init__(self, workspace: Workspace, message_id: int, by: str) -> None:
        self.workspace, self.message_id, self.by = workspace, message_id, by
        self.token = secrets.token_hex(16)
        self.host = f"{socket.gethostname()} (process {os.getpid()})"
        self.lost = threading.Event()
        self.lost_reason = "Another sender took the send over."
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def take(self, message: Message, now: dt.datetime) -> None:
        message.send_lease_token, message.send_lease_by, message.send_lease_host = self.token, self.by, self.host
        message.send_lease_expires = now + dt.timedelta(seconds=LEASE_SECONDS)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._beat, name=f"send-lease-{self.message_id}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                if not self.renew():
                    return
            except OperationalError as err:  # the database is busy or briefly unreachable: try at the next beat
                log.warning("Could not renew the send lease of message %s: %s", self.message_id, err)

    def renew(self) -> bool:
        """Push the expiry on; False (and ``lost`` set) when the lease is no longer this run's."""
        with self.workspace.session() as s:
            now = database_now(s)
            renewed = s.execute(
                update(_M).where(_M.c.id == self.message_id, _M.c.send_lease_token == self.token)
                .values(send_lease_expires=now + dt.timedelta(seconds=LEASE_SECONDS))
                # Core update: the message's version and updated_at stay as they are (nobody edited it).
                .values(updated_at=_M.c.updated_at)
            ).rowcount
            if not renewed:
                holder = s.execute(select(_M.c.send_lease_by, _M.c.send_lease_host)
                                   .where(_M.c.id == self.message_id)).first()
                s.rollback()
                if holder is not None and holder[0]:
                    self.lost_reason = (f"The send was taken over by {holder[0]} on {holder[1]} after this "
                                        "sender's lease ran out; the rest is left to them.")
                self.lost.set()
                return False
            s.commit()
        return True

    def release_quietly(self) -> None:
        """Give the lease up after a run that ended in an error (best effort: it runs out anyway)."""
        try:
            with self.workspace.session() as s:
                s.execute(update(_M).where(_M.c.id == self.message_id, _M.c.send_lease_token == self.token)
                          .values(send_lease_token=None, send_lease_by=None, send_lease_host=None,
                                  send_lease_expires=None, updated_at=_M.c.updated_at))
                s.commit()
        except Exception:  # noqa: BLE001 - the run's own error is the one to report
            log.warning("Could not release the send lease of message %s", self.message_id, exc_info=True)


def _prepare(workspace: Workspace, message_id: int, lease: _Lease, retry: list[int] | None, *,
             now: dt.datetime) -> tuple[SendReport, Connection]:
    """Check the lease and the guards, write the outbox and take the lease, in one transaction; hand back the
    sender's connection."""
    refused: SendRefused | None = None
    with workspace.transaction() as s:
        # Row lock: a second Send clicked at the same moment waits here, then finds this one's lease.
        message = _message(s, message_id, lock=True)
        clock = database_now(s)
        holder = send_holder(message, clock)
        if holder is not None:
            raise SendBusy(message.name, *holder, clock)
        report = SendReport(message.id, message.name)
        # Nobody holds the send: rows a crashed sender left mid-transmission are uncertain from now on. This
        # is kept even when the guards refuse below: those rows are uncertain whatever happens next.
        report.recovered = mark_interrupted(s, message.id, clock)
        if report.recovered:
            journal.record(s, "message_send", f"{report.recovered} deliveries of '{message.name}' were caught "
                           "mid-transmission and are now uncertain: resend or drop them",
                           rollout=message.phase.rollout_id, actor=lease.by, details={"message": message.id})
        audience = compute_audience(s, message, now=now)
        blockers = send_blockers(s, message, audience, now=now, retrying=retry is not None)
        retried = 0
        if not blockers and retry is not None:
            retried = _requeue_failed(s, message, retry, by=lease.by)
            if not retried and message.state is not MessageState.SENDING:
                blockers = [Blocker("nothing_to_retry", f"'{message.name}' has no failed deliveries to retry.")]
        if blockers:
            refused = SendRefused(f"'{message.name}' cannot be sent now.", blockers)
        else:
            connection = sender_connection(s, message)
            assert connection is not None  # a missing sender is one of the blockers
            if message.state is MessageState.APPROVED:
                report.queued = _queue(s, message, audience.with_access, connection)
                journal.record(s, "message_send", f"Sending '{message.name}' to {report.queued} recipients with "
                               f"access ({len(audience.without_access)} without access and "
                               f"{len(audience.unpredictable)} unpredictable left out)",
                               rollout=message.phase.rollout_id, actor=lease.by,
                               details={"message": message.id, "audience": audience.counts(),
                                        "snapshot": audience.snapshot.id if audience.snapshot else None})
            elif retried:
                journal.record(s, "message_send", f"{lease.by} asked to retry {retried} failed deliveries of "
                               f"'{message.name}'", rollout=message.phase.rollout_id, actor=lease.by,
                               details={"message": message.id, "deliveries": retry or None})
            message.state = MessageState.SENDING
            # Taken with the version check of the message row: of two senders that got here together, the
            # second one's commit fails and it comes back to find this lease.
            lease.take(message, clock)
            s.expunge(connection)
    if refused is not None:
        raise refused
    return report, connection


def _requeue_failed(session: Session, message: Message, delivery_ids: list[int], *, by: str) -> int:
    """Failed rows (all, or those given) pending again, unless a person dropped them. Returns how many."""
    query = update(_D).where(_D.c.message_id == message.id, _D.c.state == DeliveryState.FAILED,
                             _D.c.dropped_by.is_(None))
    if delivery_ids:
        query = query.where(_D.c.id.in_(delivery_ids))
    return session.execute(query.values(
        state=DeliveryState.PENDING, last_error=literal(f"Retry asked by {by}; before: ") + _D.c.last_error)
    ).rowcount or 0


def _queue(session: Session, message: Message, account_ids: list[int], connection: Connection) -> int:
    """Write one pending row per recipient: each contact of an account for e-mail, the account otherwise.

    Written a chunk at a time (in the caller's one transaction), so the rows never pile up in memory, where
    they would outlive young garbage collections and bring on a full one, which pauses every thread.
    """
    now = utcnow()
    new_key = delivery_keys(connection)
    # One row per recipient: an address shared by two accounts gets the message once (the first account's).
    taken = set(session.scalars(select(Delivery.recipient).where(Delivery.message_id == message.id)))
    queued = 0
    for start in range(0, len(account_ids), BATCH):
        chunk = account_ids[start:start + BATCH]
        if message.channel is Channel.EMAIL:
            recipients = session.execute(
                select(_C.c.account_id, _C.c.email).where(_C.c.account_id.in_(chunk))
                .order_by(_C.c.account_id, _C.c.position)
            ).all()
        else:
            recipients = session.execute(
                select(_A.c.id, _A.c.account_key).where(_A.c.id.in_(chunk)).order_by(_A.c.id)).all()
        rows = []
        for account_id, recipient in recipients:
            if recipient not in taken:
                taken.add(recipient)
                rows.append({"message_id": message.id, "account_id": account_id, "recipient": recipient,
                             "state": DeliveryState.PENDING, "attempts": 0, "last_error": "", "queued_at": now,
                             "provider_message_id": new_key()})
        if rows:
            session.execute(_D.insert(), rows)
            queued += len(rows)
    return queued


def _send_rows(
    workspace: Workspace,
    message_id: int,
    sender: Sender,
    report: SendReport,
    progress: Callable[[SendProgress], None] | None,
    cancelled: Callable[[], bool],
    token: str,
) -> None:
    with workspace.session() as s, workspace.engine.connect() as connection:
        rows = _RowWriter(connection, message_id, token)
        try:
            _SendRun(s, rows, message_id, sender, report, progress, cancelled).run()
        finally:
            rows.flush()


class _SendRun:
    """One pass over a message's pending rows, a batch at a time, each row sent on its own."""

    def __init__(self, s: Session, rows: _RowWriter, message_id: int, sender: Sender, report: SendReport,
                 progress: Callable[[SendProgress], None] | None, cancelled: Callable[[], bool]) -> None:
        self.s, self.rows, self.sender, self.report = s, rows, sender, report
        self.progress, self.cancelled = progress, cancelled
        self.message = _message(s, message_id)
        self.rollout = self.message.phase.rollout
        self.compiled = compile_message(self.message)
        self.shared = message_variables(s, self.message)
        cohort = message_cohort(self.message)
        self.about = {"message": self.message.name, "rollout": self.rollout.name, "phase": self.message.phase.name,
                      "cohort": cohort.name if cohort else None}
        self.total = s.scalar(select(func.count()).select_from(_D).where(
            _D.c.message_id == message_id, _D.c.state == DeliveryState.PENDING)) or 0
        self.done = 0
        self.reported = float("-inf")
        self.in_flight: int | None = None  # the row whose message the server is still answering

    def run(self) -> None:
        """Send every pending row. One message is in flight at a time; the next one is rendered while the
        server works on it, and its answer is read just before the next claim."""
        try:
            self._run_batches()
        finally:
            self.land()

    def _run_batches(self) -> None:
        report, last = self.report, 0
        while report.stopped is None:
            # Plain tuples of text and numbers (the attributes as JSON text): the collector stops tracking them,
            # so a long send does not pile up objects that bring on a full collection, which pauses every thread.
            batch = [_Pending(*row) for row in self.s.execute(
                select(_D.c.id, _D.c.recipient, _D.c.provider_message_id, _D.c.account_id, _A.c.account_key,
                       _A.c.name, _A.c.stickiness_id, type_coerce(_A.c.attributes, Text))
                .select_from(_D.outerjoin(_A, _D.c.account_id == _A.c.id))
                .where(_D.c.message_id == self.message.id, _D.c.state == DeliveryState.PENDING, _D.c.id > last)
                .order_by(_D.c.id).limit(BATCH)
            )]
            if not batch:
                return
            attributes = [_attributes(row.attributes) for row in batch]
            access = _access_now(self.s, self.rollout, batch, attributes)
            if access is None:
                report.stopped = (f"The flag {self.rollout.flag_key} is off or has no snapshot any more; "
                                  "the remaining rows were not sent.")
                return
            contacts = _contacts(self.s, [row.account_id for row in batch if row.account_id is not None])
            self.s.commit()  # no read transaction stays open while the rows are written
            for row, attrs, has_access in zip(batch, attributes, access):
                last = row.id
                if self.cancelled():
                    report.stopped = "cancelled"
                    return
                prepared = self.prepare(row, attrs, has_access, contacts.get(row.account_id, ()))
                self.land()
                if report.stopped is not None:
                    return
                if isinstance(prepared, Attempt):
                    self.count(prepared)
                else:
                    self.hand_over(row.id, prepared)

    def prepare(self, row: _Pending, attributes: dict[str, Any], has_access: bool | None,
                people: tuple[tuple[str, str, str], ...]) -> Envelope | Attempt:
        """The row's envelope, or the failure that keeps it from being sent (nothing was sent then)."""
        rows = self.rows
        if row.account_id is None:
            return rows.fail_unclaimed(row.id, "The account is no longer in the workspace.")
        if has_access is not True:
            reason = "unpredictable access" if has_access is None else "no access"
            return rows.fail_unclaimed(row.id, f"Not sent: the account has {reason} on the latest snapshot.")
        if self.message.channel is Channel.EMAIL:
            person = next((p for p in people if p[0] == row.recipient), None)
        else:
            person = people[0] if people else None
        contact = {"email": person[0], "first_name": person[1], "last_name": person[2]} if person else None
        try:
            rendered = self.compiled.render(recipient_variables(
                self.shared, account_id=row.account_key, account_name=row.name, attributes=attributes,
                contact=contact))
        except TemplateRefused as refused:
            return rows.fail_unclaimed(row.id, f"The template failed for this recipient: {refused}")
        return Envelope(row.recipient, rendered, row.key, row.account_key or "", row.name or "", self.about)

    def hand_over(self, row: int, envelope: Envelope) -> None:
        """Claim the row (committed first) and hand the message to the sender."""
        rows, sender = self.rows, self.sender
        if sender.paced:
            rows.flush()  # a rate-limited sender may wait a while: the last outcome should not wait with it
        try:
            if not sender.ready():
                return  # cancelled while waiting; the row stays pending
        except SenderUnavailable as err:
            self.count(Attempt(Outcome.NOT_SENT, str(err), stop=True))
            return
        if not rows.claim(row):
            return  # another sender took it
        attempt = sender.begin(envelope)
        if attempt is None:
            self.in_flight = row
        else:
            rows.settle(row, attempt)
            self.count(attempt)

    def land(self) -> None:
        """Read the server's answer to the message in flight, if any, and record it."""
        if self.in_flight is not None:
            row, self.in_flight = self.in_flight, None
            attempt = self.sender.end()
            self.rows.settle(row, attempt)
            self.count(attempt)

    def count(self, attempt: Attempt) -> None:
        report = self.report
        if attempt.outcome is Outcome.NOT_SENT:
            # Pending again, for a later run; a sender that cannot go on stops this one.
            if attempt.stop:
                report.stopped = attempt.detail
            return
        self.done += 1
        if attempt.outcome is Outcome.SENT:
            report.sent += 1
        elif attempt.outcome is Outcome.FAILED:
            report.failed += 1
        else:
            report.uncertain += 1
        now = time.monotonic()
        # A progress line or bar needs no more than a few updates a second; each one wakes the GUI thread.
        if self.progress and (now - self.reported >= PROGRESS_INTERVAL or self.done == self.total):
            self.reported = now
            self.progress(SendProgress(self.done, self.total, report.sent, report.failed, report.uncertain))
        if attempt.stop and report.stopped is None:
            report.stopped = attempt.detail


class _RowWriter:
    """A send's per-row writes, prepared once and run on one connection.

    A claim is committed before anything leaves. A row's outcome is written with the next row's claim, in
    the same commit (one commit per message instead of two), or by ``flush``; so a crash can at most leave
    the row last handed over without its outcome, and that row is *sending*, hence uncertain on restart.
    """

    _state = bindparam("state", type_=_D.c.state.type)
    # Only while the message's lease is still this run's: a sender whose lease ran out and was taken over
    # claims nothing more (its heartbeat tells it to stop, too).
    CLAIM = (update(_D).where(_D.c.id == bindparam("row"), _D.c.state == DeliveryState.PENDING,
                              exists(select(_M.c.id).where(_M.c.id == bindparam("message"),
                                                           _M.c.send_lease_token == bindparam("token"))))
             .values(state=DeliveryState.SENDING, attempts=_D.c.attempts + 1))
    # What the server said (sent, failed) wins over an "uncertain" another process may have set meanwhile.
    # (or_, not in_: a list parameter would be re-expanded on every execution.)
    ANSWERED = (update(_D).where(_D.c.id == bindparam("row"),
                                 or_(_D.c.state == DeliveryState.SENDING, _D.c.state == DeliveryState.UNCERTAIN))
                .values(state=_state, last_error=bindparam("error"), sent_at=bindparam("at")))
    UNANSWERED = (update(_D).where(_D.c.id == bindparam("row"), _D.c.state == DeliveryState.SENDING)
                  .values(state=_state, last_error=bindparam("error")))
    NOT_TRIED = (update(_D).where(_D.c.id == bindparam("row"), _D.c.state == DeliveryState.PENDING)
                 .values(state=DeliveryState.FAILED, last_error=bindparam("error")))

    def __init__(self, connection: Any, message_id: int, token: str) -> None:
        self.connection = connection
        self._lease = {"message": message_id, "token": token}
        self._outcomes: list[tuple[Any, dict[str, Any]]] = []

    def claim(self, row: int) -> bool:
        """Take a pending row for sending (and write the outcomes waiting), committed before anything leaves."""
        self._write_outcomes()
        claimed = self.connection.execute(self.CLAIM, {"row": row, **self._lease}).rowcount
        self.connection.commit()
        return bool(claimed)

    def settle(self, row: int, attempt: Attempt) -> None:
        if attempt.outcome is Outcome.SENT:
            self._outcomes.append((self.ANSWERED, {"row": row, "state": DeliveryState.SENT, "error": "",
                                                   "at": utcnow()}))
        elif attempt.outcome is Outcome.FAILED:
            self._outcomes.append((self.ANSWERED, {"row": row, "state": DeliveryState.FAILED,
                                                   "error": attempt.detail, "at": None}))
        else:  # not sent after all (pending again), or uncertain
            state = DeliveryState.PENDING if attempt.outcome is Outcome.NOT_SENT else DeliveryState.UNCERTAIN
            self._outcomes.append((self.UNANSWERED, {"row": row, "state": state, "error": attempt.detail}))

    def fail_unclaimed(self, row: int, reason: str) -> Attempt:
        self._outcomes.append((self.NOT_TRIED, {"row": row, "error": reason}))
        return Attempt(Outcome.FAILED, reason)

    def flush(self) -> None:
        self._write_outcomes()
        self.connection.commit()

    def _write_outcomes(self) -> None:
        for statement, params in self._outcomes:
            self.connection.execute(statement, params)
        self._outcomes.clear()


class _Pending(NamedTuple):
    """A pending row as the send reads it, with its account."""

    id: int
    recipient: str
    key: str
    account_id: int | None
    account_key: str | None
    name: str | None
    stickiness_id: str | None
    attributes: str | dict[str, Any] | None  # JSON text (SQLite) or already decoded (PostgreSQL's driver)


def _attributes(value: str | dict[str, Any] | None) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    return json.loads(value) if value else {}


def _access_now(s: Session, rollout: Any, batch: list[_Pending],
                attributes: list[dict[str, Any]]) -> list[bool | None] | None:
    """Each row's access on the rollout's latest snapshot; None when the flag is off or has no snapshot."""
    snapshot = rollout_snapshot(s, rollout)
    if snapshot is None or not snapshot.enabled:
        return None
    evaluator = evaluator_for(s, snapshot)
    known = [(row.stickiness_id or row.account_key, attrs) for row, attrs in zip(batch, attributes)
             if row.account_id is not None]
    answers = iter(evaluator.evaluate_rows(known, utcnow()))
    return [next(answers) if row.account_id is not None else None for row in batch]


def _contacts(s: Session, account_ids: list[int]) -> dict[int, tuple[tuple[str, str, str], ...]]:
    """Each account's contacts as (e-mail, first name, last name), in their order."""
    found: dict[int, list[tuple[str, str, str]]] = {}
    if not account_ids:
        return {}
    for account_id, email, first, last in s.execute(
        select(_C.c.account_id, _C.c.email, _C.c.first_name, _C.c.last_name)
        .where(_C.c.account_id.in_(account_ids)).order_by(_C.c.account_id, _C.c.position)
    ):
        found.setdefault(account_id, []).append((email, first, last))
    return {account_id: tuple(people) for account_id, people in found.items()}


def _finish(workspace: Workspace, message_id: int, report: SendReport, by: str, token: str) -> None:
    """Settle the message's state from its rows, give the lease up and journal the run."""
    with workspace.transaction() as s:
        # Locked, so two senders finishing together settle the state one after the other.
        message = _message(s, message_id, lock=True)
        if message.send_lease_token == token:
            message.send_lease_token = message.send_lease_by = message.send_lease_host = None
            message.send_lease_expires = None
        counts = delivery_counts(s, message_id)
        report.totals = counts
        report.pending = counts["pending"]
        if counts["pending"] == 0 and counts["sending"] == 0 and message.state is MessageState.SENDING:
            troubled = counts["failed"] + counts["uncertain"]
            message.state = MessageState.PARTLY_FAILED if troubled else MessageState.SENT
        report.state = message.state
        if report.sent or report.failed or report.uncertain or report.stopped:
            journal.record(s, "message_send", report.summary(), rollout=message.phase.rollout_id, actor=by,
                           details={"message": message.id, "run": {"sent": report.sent, "failed": report.failed,
                                                                   "uncertain": report.uncertain},
                                    "totals": counts})


def _message(s: Session, message_id: int, *, lock: bool = False) -> Message:
    """The message; ``lock``: held until the transaction ends (a row lock on PostgreSQL, SQLite's write lock
    taken at once on a SQLite file, so a second sender waits there instead of reading a state about to change)."""
    if lock and s.get_bind().dialect.name == "sqlite":
        s.execute(text("UPDATE message SET version = version WHERE id = :id"), {"id": message_id})
    message = s.get(Message, message_id, with_for_update=lock or None, populate_existing=lock)
    if message is None:
        raise SendRefused(f"There is no message {message_id}.")
    return message


# --- rows a person resolves ------------------------------------------------------------------------------------


def resend_uncertain(session: Session, message: Message, delivery_ids: list[int] | None = None, *,
                     by: str) -> int:
    """Queue uncertain rows again (all of the message's, or those given); the next send sends them.

    For a person who checked that those recipients did not get the message. Returns how many were queued.
    """
    count = _resolve(session, message, delivery_ids,
                     {"state": DeliveryState.PENDING, "last_error": f"Resend asked by {by}."})
    if count:
        if message.state in (MessageState.SENT, MessageState.PARTLY_FAILED):
            message.state = MessageState.SENDING
        journal.record(session, "message_send", f"{by} asked to resend {count} uncertain deliveries of "
                       f"'{message.name}'", rollout=message.phase.rollout_id, actor=by,
                       details={"message": message.id, "deliveries": delivery_ids})
    return count


def drop_uncertain(session: Session, message: Message, delivery_ids: list[int] | None = None, *,
                   by: str) -> int:
    """Give uncertain rows up without resending them (they are failed, with who decided). Returns how many."""
    count = _resolve(session, message, delivery_ids, {
        "state": DeliveryState.FAILED, "last_error": f"Dropped by {by} after an uncertain attempt; not resent.",
        "dropped_by": by})
    if count:
        journal.record(session, "message_send", f"{by} dropped {count} uncertain deliveries of '{message.name}'",
                       rollout=message.phase.rollout_id, actor=by,
                       details={"message": message.id, "deliveries": delivery_ids})
        if message.state is MessageState.SENT:
            message.state = MessageState.PARTLY_FAILED
    return count


def _resolve(session: Session, message: Message, delivery_ids: list[int] | None, values: dict[str, Any]) -> int:
    query = update(_D).where(_D.c.message_id == message.id, _D.c.state == DeliveryState.UNCERTAIN)
    if delivery_ids is not None:
        query = query.where(_D.c.id.in_(delivery_ids))
    return session.execute(query.values(**values)).rowcount or 0


# --- a test to oneself ---------------------------------------------------------------------------------------


def send_test(
    workspace: Workspace,
    message_id: int,
    account_id: str,
    to: str,
    *,
    via: str | None = None,
    by: str | None = None,
    sender_factory: SenderFactory = open_sender,
) -> Attempt:
    """E-mail the message as ``account_id`` would get it, to ``to`` only, with "[Test]" before the subject.

    Works for drafts too and writes no outbox row. ``to`` must not be a customer's address: a test never
    reaches a customer. Slack and webhook messages arrive as their text. ``via`` names the SMTP connection
    (default: the message's own, else the only one).
    """
    from launchdesk.connections import get_connection

    by = by or journal.current_user()
    to = to.strip().lower()
    with workspace.transaction() as s:
        message = _message(s, message_id)
        customer = s.scalars(select(Account.account_key).join(Contact).where(Contact.email == to)).first()
        if customer is not None:
            raise SendRefused(f"{to} is a contact of the customer account {customer}; a test goes to your own "
                              "address only.")
        if via:
            connection: Connection | None = get_connection(s, via)
        elif message.channel is Channel.EMAIL:
            connection = sender_connection(s, message)
        else:
            smtp = s.scalars(select(Connection).where(Connection.kind == ConnectionKind.SMTP)).all()
            connection = smtp[0] if len(smtp) == 1 else None
        if connection is None or connection.kind is not ConnectionKind.SMTP:
            raise SendRefused("A test is e-mailed: name the SMTP connection to send it through.")
        preview = preview_message(s, message, account_id)
        if preview.problems:
            raise SendRefused(f"'{message.name}' cannot be rendered for {account_id}: "
                              + "; ".join(str(p) for p in preview.problems))
        rendered = Rendered(subject=f"[Test] {preview.subject}", plain=preview.plain or preview.slack,
                            html=preview.html)
        envelope = Envelope(to, rendered, delivery_keys(connection)(), preview.account_id, preview.account_name,
                            {"message": message.name})
        name = message.name
        s.expunge(connection)
    sender = sender_factory(connection)
    try:
        attempt = sender.send(envelope) if sender.ready() else Attempt(Outcome.NOT_SENT, "cancelled")
    except SenderUnavailable as err:
        attempt = Attempt(Outcome.NOT_SENT, str(err))
    finally:
        sender.close()
    with workspace.transaction() as s:
        message = _message(s, message_id)
        journal.record(s, "message_test", f"Test of '{name}' as {account_id} to {to}: {attempt.outcome}",
                       rollout=message.phase.rollout_id, actor=by, details={"message": message_id})
    return attempt
