"""Two people clicking Send on the same message of a team workspace at the same moment: each recipient gets
one e-mail, counted at a real SMTP server, on a real PostgreSQL server."""

from __future__ import annotations

import threading

from comms_world import build_world
from launchdesk.comms.outbox import SendRefused, send_message
from launchdesk.models import Delivery, DeliveryState, Message, MessageState
from launchdesk.workspace import open_workspace
from launchdesk.workspace_copy import copy_workspace
from smtp_sink import SmtpSink
from sqlalchemy import select


def test_two_concurrent_senders_send_each_message_once(tmp_path, postgres_server):
    with SmtpSink(keep=False, delay=0.005) as sink:
        world = build_world(tmp_path, accounts=240, smtp_url=sink.url)
        world.workspace.close()
        server = postgres_server.create_database("team_send")
        copy_workspace(world.path, server)
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
        with open_workspace(server) as ws, ws.session() as s:
            deliveries = s.scalars(select(Delivery).where(Delivery.message_id == world.message_id)).all()
            state = s.get(Message, world.message_id).state
        assert deliveries and {d.state for d in deliveries} == {DeliveryState.SENT}
        assert state is MessageState.SENT
        assert sink.total == len(deliveries)
        assert set(sink.per_recipient.values()) == {1}  # nobody got it twice
        assert set(sink.per_recipient) == {d.recipient.lower() for d in deliveries}
