"""Two people clicking Send on the same message of a shared workspace, at the same moment or one while the
other's send is under way: each recipient gets one e-mail, counted at a real SMTP server, on a real PostgreSQL
server and on a SQLite file; the second sender is told who holds the send and leaves its rows alone, so no
row is ever marked uncertain by a sender that is alive."""

from __future__ import annotations

import socket
import threading

import pytest
from sqlalchemy import select

from comms_world import build_world
from launchdesk.comms import outbox
from launchdesk.comms.outbox import SendBusy, SendRefused, send_message
from launchdesk.models import Delivery, DeliveryState, JournalEntry, Message, MessageState
from launchdesk.workspace import open_workspace
from launchdesk.workspace_copy import copy_workspace
from smtp_sink import SmtpSink


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request):
    return request.param


def shared_target(world, backend: str, request, name: str) -> str:
    """The world's workspace as the team shares it: the SQLite file itself, or a copy on PostgreSQL."""
    world.workspace.close()
    if backend == "sqlite":
        return str(world.path)
    server = request.getfixturevalue("postgres_server").create_database(name)
    copy_workspace(world.path, server)
    return server


def settled(target: str, message_id: int) -> tuple[list[Delivery], Message, list[str]]:
    with open_workspace(target) as ws, ws.session() as s:
        deliveries = s.scalars(select(Delivery).where(Delivery.message_id == message_id)).all()
        message = s.get(Message, message_id)
        journal = list(s.scalars(select(JournalEntry.summary).where(JournalEntry.kind == "message_send")))
        s.expunge_all()
    return list(deliveries), message, journal


def test_two_concurrent_senders_send_each_message_once(tmp_path, backend, request):
    with SmtpSink(keep=False, delay=0.005) as sink:
        world = build_world(tmp_path, accounts=240, smtp_url=sink.url)
        server = shared_target(world, backend, request, "team_send")
        start = threading.Barrier(2)
        outcomes: list[object] = []

        def click_send(user: str) -> None:
            with open_workspace(server) as ws:
                start.wait()
                try:
                    outcomes.append(send_message(ws, world.message_id, by=user))
                except SendRefused as refused:  # the other click got there first: a clear refusal is fine
                    outcomes.append(refused)

        threads = [threading.Thread(target=click_send, args=(user,)) for user in ("Pat", "Sam")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        assert len(outcomes) == 2
        deliveries, message, journal = settled(server, world.message_id)
        state = message.state
        assert deliveries and {d.state for d in deliveries} == {DeliveryState.SENT}
        assert state is MessageState.SENT
        # One click sent everything; the other was told someone holds the send (or, if it came after the end,
        # that the message is sent), and marked nothing uncertain.
        reports = [o for o in outcomes if not isinstance(o, SendRefused)]
        assert len(reports) == 1 and reports[0].sent == len(deliveries) and reports[0].recovered == 0
        assert not any("mid-transmission" in line for line in journal)
        assert message.send_lease_token is None and message.send_lease_expires is None
        assert sink.total == len(deliveries)
        assert set(sink.per_recipient.values()) == {1}  # nobody got it twice
        assert set(sink.per_recipient) == {d.recipient.lower() for d in deliveries}


def test_a_send_clicked_while_another_is_under_way_is_told_who_holds_it_and_touches_nothing(
        tmp_path, backend, request, monkeypatch):
    # A lease shorter than the send, renewed every 0.2 s: the second click comes after the first lease would
    # have run out, so only the heartbeat keeps it live.
    monkeypatch.setattr(outbox, "LEASE_SECONDS", 1.0)
    monkeypatch.setattr(outbox, "HEARTBEAT_SECONDS", 0.2)
    with SmtpSink(keep=False, delay=0.02) as sink:
        world = build_world(tmp_path, accounts=240, smtp_url=sink.url)
        target = shared_target(world, backend, request, "team_send_busy")
        outcome: list[object] = []

        def pat_sends() -> None:
            with open_workspace(target) as ws:
                outcome.append(send_message(ws, world.message_id, by="Pat"))

        first = threading.Thread(target=pat_sends)
        first.start()
        try:
            assert sink.wait_for(75, timeout=60)  # 1.5 s into the send: past the first expiry
            with open_workspace(target) as ws:
                for _ in range(2):
                    with pytest.raises(SendBusy) as busy:
                        send_message(ws, world.message_id, by="Sam")
                    assert busy.value.by == "Pat" and socket.gethostname() in busy.value.host
                    assert f"being sent by Pat on {socket.gethostname()}" in str(busy.value)
                    with ws.session() as s:
                        in_flight = s.scalars(select(Delivery.state).where(
                            Delivery.message_id == world.message_id)).all()
                    assert DeliveryState.UNCERTAIN not in in_flight
                    sink.wait_for(sink.total + 10, timeout=30)
        finally:
            first.join(timeout=300)
        (report,) = outcome
        deliveries, message, journal = settled(target, world.message_id)
        assert report.sent == len(deliveries) and report.uncertain == report.recovered == 0
        assert {d.state for d in deliveries} == {DeliveryState.SENT} and message.state is MessageState.SENT
        assert {d.attempts for d in deliveries} == {1}
        assert set(sink.per_recipient.values()) == {1} and sink.total == len(deliveries)
        assert not any("mid-transmission" in line for line in journal)
        assert message.send_lease_token is None  # given up at the end: the next person may send at once
