"""Kill -9 during a send, then restart: every recipient with access gets exactly one message (counted at a real
SMTP server), nobody without access gets any, and the row caught mid-transmission is left uncertain for a
person to resolve, never resent by the restart."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from comms_world import account_emails, build_world
from launchdesk.access.evaluate import account_context
from launchdesk.access.lookup import evaluator_for
from launchdesk.access.sync import rollout_snapshot
from launchdesk.comms.outbox import SendBusy, drop_uncertain, resend_uncertain, send_message
from launchdesk.models import Account, Delivery, DeliveryState, Message, MessageState, utcnow
from launchdesk.workspace import open_workspace
from launchdesk.workspace_copy import copy_workspace
from smtp_sink import SmtpSink

ROOT = Path(__file__).resolve().parents[1]


def send_command(path: Path, message_id: int) -> list[str]:
    return [sys.executable, "-m", "launchdesk.cli", "send", str(path), str(message_id), "--quiet"]


def deliveries(path: Path) -> dict[str, Delivery]:
    with open_workspace(path) as ws, ws.session() as s:
        return {d.recipient: d for d in s.scalars(select(Delivery))}


def expire_lease(target: Path | str, message_id: int) -> None:
    with open_workspace(target) as ws, ws.transaction() as s:
        message = s.get(Message, message_id)
        assert message.send_lease_token is not None  # the killed sender still holds it
        message.send_lease_expires = utcnow() - dt.timedelta(seconds=1)


@pytest.mark.slow
def test_kill_during_a_send_then_restart_delivers_each_message_exactly_once(tmp_path):
    # Each message takes the server a couple of milliseconds to accept, so the kill most often lands while one
    # is being handed over: the case that must end "uncertain".
    with SmtpSink(keep=False, delay=0.002) as sink:
        world = build_world(tmp_path, accounts=4000, percentage=50, smtp_url=sink.url)
        emails = account_emails(world.workspace)
        with world.workspace.session() as s:
            evaluator = evaluator_for(s, rollout_snapshot(s, world.message(s).phase.rollout))
            entitled = {emails[a.account_key] for a in s.scalars(select(Account))
                        if evaluator.explain(account_context(a)).enabled is True}
        world.workspace.close()
        assert 1800 < len(entitled) < 2200
        env = {**os.environ, "PYTHONPATH": str(ROOT)}

        sending = subprocess.Popen(send_command(world.path, world.message_id), cwd=ROOT, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        reached = sink.wait_for(len(entitled) // 3, timeout=300)
        sending.kill()  # SIGKILL: no cleanup, no finally blocks
        sending.wait()
        assert reached, sending.stderr.read().decode() if sending.stderr else "the send never got going"
        assert sending.returncode == -9

        rows = deliveries(world.path)
        assert set(rows) == entitled  # the outbox was written whole, for exactly the accounts with access
        in_flight = {r for r, d in rows.items() if d.state is DeliveryState.SENDING}
        sent = {r for r, d in rows.items() if d.state is DeliveryState.SENT}
        assert len(in_flight) <= 1 and 0 < len(sent) < len(entitled)
        assert sent <= set(sink.per_recipient) <= sent | in_flight

        # At once, the killed sender's lease is still live: the restart is told who holds the send and touches
        # nothing; the row in flight stays as the killed process left it.
        early = subprocess.run(send_command(world.path, world.message_id), cwd=ROOT, env=env,
                               capture_output=True, text=True, timeout=600)
        assert early.returncode == 1 and "is being sent by" in early.stderr, early.stderr
        assert deliveries(world.path).keys() == rows.keys()
        assert {r for r, d in deliveries(world.path).items() if d.state is DeliveryState.SENDING} == in_flight
        expire_lease(world.path, world.message_id)  # as if the lease's 30 s had passed with no heartbeat

        restart = subprocess.run(send_command(world.path, world.message_id), cwd=ROOT, env=env,
                                 capture_output=True, text=True, timeout=600)
        rows = deliveries(world.path)
        uncertain = {r for r, d in rows.items() if d.state is DeliveryState.UNCERTAIN}
        assert uncertain == in_flight, restart.stderr
        assert {d.state for r, d in rows.items() if r not in uncertain} == {DeliveryState.SENT}
        assert all(rows[r].attempts == 1 for r in uncertain)  # claimed once, by the killed process, never again
        counts = dict(sink.per_recipient)
        assert set(counts) <= entitled and max(counts.values()) == 1
        assert {r for r in entitled if counts.get(r) != 1} <= uncertain
        expected_state = "partly failed" if uncertain else "sent"
        assert f"is {expected_state}:" in restart.stdout and restart.returncode == (1 if uncertain else 0)

        # A person resolves the uncertain row from what the server shows: resend if it did not arrive.
        lost = {r for r in uncertain if counts.get(r, 0) == 0}
        with open_workspace(world.path) as ws:
            with ws.transaction() as s:
                message = s.get(Message, world.message_id)
                resend_uncertain(s, message, [rows[r].id for r in lost], by="Pat")
                drop_uncertain(s, message, [rows[r].id for r in uncertain - lost], by="Pat")
            if lost:
                assert send_message(ws, world.message_id).sent == len(lost)
            with ws.session() as s:
                state = s.get(Message, world.message_id).state
        assert dict(sink.per_recipient) == {r: 1 for r in entitled}
        assert state in (MessageState.SENT, MessageState.PARTLY_FAILED)


SHORT_LEASE = ("import sys\n"
               "import launchdesk.comms.outbox as outbox\n"
               "outbox.LEASE_SECONDS, outbox.HEARTBEAT_SECONDS = 3.0, 0.5\n"
               "from launchdesk.cli import main\n"
               "sys.exit(main(sys.argv[1:]))\n")


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_killed_sender_holds_the_send_until_its_lease_runs_out_then_only_its_row_in_flight_is_uncertain(
        tmp_path, request, backend):
    with SmtpSink(keep=False, delay=0.01) as sink:
        world = build_world(tmp_path, accounts=1200, percentage=50, smtp_url=sink.url)
        world.workspace.close()
        target: str = str(world.path)
        if backend == "postgresql":
            target = request.getfixturevalue("postgres_server").create_database(f"lease_{tmp_path.name[-20:]}")
            copy_workspace(world.path, target)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        # The same send command, with a 3 s lease renewed every half second, so its running out is seen soon.
        sending = subprocess.Popen([sys.executable, "-c", SHORT_LEASE, "send", target, str(world.message_id),
                                    "--quiet"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        started = time.monotonic()
        reached = sink.wait_for(450, timeout=300)  # some 4.5 s of sending: longer than one lease
        with open_workspace(target) as ws, ws.session() as s:
            message = s.get(Message, world.message_id)
            alive_lease = message.send_lease_expires
        assert time.monotonic() - started > 3.5 and alive_lease is not None and alive_lease > utcnow(), \
            "the heartbeat kept the lease alive"
        sending.kill()
        sending.wait()
        assert reached and sending.returncode == -9, sending.stderr.read().decode() if sending.stderr else ""
        before = deliveries_of(target, world.message_id)
        in_flight = {r for r, d in before.items() if d.state is DeliveryState.SENDING}
        assert len(in_flight) <= 1

        with open_workspace(target) as ws:
            # While the lease is live, a resume is refused with who holds the send, and changes nothing.
            with pytest.raises(SendBusy, match=f"being sent by .* on {socket.gethostname()}"):
                send_message(ws, world.message_id, by="Sam")
            assert {r: d.state for r, d in deliveries_of(target, world.message_id).items()} == {
                r: d.state for r, d in before.items()}
            with ws.session() as s:
                expires = s.get(Message, world.message_id).send_lease_expires
            time.sleep(max(0.0, (expires - utcnow()).total_seconds()) + 0.3)  # no heartbeat: it runs out

            report = send_message(ws, world.message_id, by="Sam")
        after = deliveries_of(target, world.message_id)
        assert report.recovered == len(in_flight)
        assert {r for r, d in after.items() if d.state is DeliveryState.UNCERTAIN} == in_flight
        assert {d.state for r, d in after.items() if r not in in_flight} == {DeliveryState.SENT}
        counts = dict(sink.per_recipient)
        assert max(counts.values()) == 1 and set(counts) <= set(after)
        assert {r for r in after if counts.get(r) != 1} <= in_flight
        assert report.sent == sum(1 for d in before.values() if d.state is DeliveryState.PENDING)
        with open_workspace(target) as ws, ws.session() as s:
            message = s.get(Message, world.message_id)
            assert message.send_lease_token is None  # the resume gave it up when it finished


def deliveries_of(target: str, message_id: int) -> dict[str, Delivery]:
    with open_workspace(target) as ws, ws.session() as s:
        return {d.recipient: d for d in s.scalars(select(Delivery).where(Delivery.message_id == message_id))}
