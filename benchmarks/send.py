"""Sending 10,000 e-mails to a loopback SMTP server: LaunchDesk's throughput as a ratio to a bare smtplib loop
over one connection (target >= 0.5), and the GUI event loop's longest stall while a send runs in a
QThreadPool worker (target < 50 ms), beside the same measure while a bare smtplib loop runs in the worker.

LaunchDesk's run is the whole send: guards, audience, writing the outbox, rendering each recipient's message,
two committed row updates per message, and the SMTP exchange. The bare loop sends the same messages,
rendered beforehand, with ``smtplib.SMTP.sendmail``. The runs alternate (bare, LaunchDesk, bare, ...) and
each side's median counts, so machine noise hits both alike. The SMTP server (aiosmtpd) runs in its own
process. Before the GUI measure, what set-up built is frozen out of garbage collection, as the application
does at its first paint.

    .venv/bin/python benchmarks/send.py [--recipients 10000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import gc
import os
import smtplib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the test helpers build the workspace and run the SMTP server

from comms_world import World, build_world  # noqa: E402


class SinkProcess:
    """tests/smtp_sink.py in its own process."""

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, str(ROOT / "tests" / "smtp_sink.py")], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline())
        self.url = f"smtp://127.0.0.1:{self.port}"

    def count(self) -> int:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("count\n")
        self.process.stdin.flush()
        return int(self.process.stdout.readline())

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)


def rendered_messages(world: World) -> list[tuple[str, bytes]]:
    """Every recipient's message as LaunchDesk would put it on the wire, made before the bare loop's clock starts."""
    from sqlalchemy import select

    from launchdesk.comms.audience import compute_audience
    from launchdesk.comms.compose import compile_message, message_variables, recipient_variables
    from launchdesk.comms.guards import sender_connection
    from launchdesk.comms.senders import Envelope, SmtpSender, delivery_keys
    from launchdesk.models import Account

    messages = []
    with world.workspace.session() as s:
        message = world.message(s)
        compiled = compile_message(message)
        shared = message_variables(s, message)
        connection = sender_connection(s, message)
        assert connection is not None
        sender = SmtpSender(connection)
        new_key = delivery_keys(connection)
        ids = compute_audience(s, message).with_access
        for account in s.scalars(select(Account).where(Account.id.in_(ids))):
            contact = account.contacts[0]
            rendered = compiled.render(recipient_variables(
                shared, account_id=account.account_key, account_name=account.name, attributes=account.attributes,
                contact={"first_name": contact.first_name, "last_name": contact.last_name, "email": contact.email}))
            envelope = Envelope(contact.email, rendered, new_key(), account.account_key,
                                account.name, {})
            messages.append((contact.email, sender.message_bytes(envelope)))
    return messages


def bare_loop(port: int, messages: list[tuple[str, bytes]]) -> float:
    smtp = smtplib.SMTP("127.0.0.1", port)
    smtp.ehlo()
    started = time.perf_counter()
    for to, data in messages:
        smtp.sendmail("launch@ourco.example", [to], data)
    elapsed = time.perf_counter() - started
    smtp.quit()
    return elapsed


def copies_of_the_message(world: World, count: int) -> list[int]:
    """``count`` approved messages like the world's (same phase, cohort and text), so each round sends anew."""
    from launchdesk.comms import approval
    from launchdesk.models import Message

    ids = [world.message_id]
    with world.workspace.transaction() as s:
        original = world.message(s)
        for n in range(1, count):
            copy = Message(phase=original.phase, cohort=original.cohort, name=f"{original.name} ({n + 1})",
                           channel=original.channel, subject=original.subject, body=original.body,
                           sender_connection=original.sender_connection)
            s.add(copy)
            s.flush()
            approval.submit_for_review(s, copy, by="benchmark")
            approval.approve(s, copy, by="benchmark")
            ids.append(copy.id)
    return ids


def ours(world: World, message_id: int) -> float:
    from launchdesk.comms.outbox import send_message

    started = time.perf_counter()
    report = send_message(world.workspace, message_id, by="benchmark")
    elapsed = time.perf_counter() - started
    assert report.state.value == "sent" and report.failed == 0, report.summary()
    return elapsed


def gui_stall(work: Callable[[Callable[[object], None], Callable[[], bool]], object]) -> tuple[float, float, int]:
    """Run ``work(progress, cancelled)`` in a QThreadPool worker (the window's run_task) while a 5 ms timer
    ticks on the GUI thread, and a progress bar there follows the progress reports, as the send dialog does.

    Returns the longest gap between ticks, the work's duration and the number of ticks.
    """
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QElapsedTimer, Qt, QTimer
    from PySide6.QtWidgets import QApplication, QProgressBar

    from launchdesk.views.tasks import run_task

    app = QApplication.instance() or QApplication([])
    bar = QProgressBar()
    bar.show()
    clock = QElapsedTimer()
    ticks: list[int] = []
    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(5)
    timer.timeout.connect(lambda: ticks.append(clock.nsecsElapsed()))
    outcome: dict[str, object] = {}

    def progress(p: object) -> None:
        bar.setMaximum(getattr(p, "total", 0))
        bar.setValue(getattr(p, "done", 0))

    def finished(value: object) -> None:
        outcome["report"] = value
        app.quit()

    def failed(error: BaseException) -> None:
        outcome["error"] = error
        app.quit()

    # As the application does at its first paint (app.py): what start-up built is frozen out of collections.
    gc.freeze()
    clock.start()
    timer.start()
    started = time.perf_counter()
    run_task(work, on_done=finished, on_error=failed, on_progress=progress)
    app.exec()
    elapsed = time.perf_counter() - started
    timer.stop()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    gaps = [(b - a) / 1e6 for a, b in zip(ticks, ticks[1:])]
    return max(gaps), elapsed, len(ticks)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3, help="LaunchDesk sends, each between two bare loops")
    args = parser.parse_args()
    n = args.recipients
    sink = SinkProcess()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            worlds = []
            for name in ("throughput", "gui"):
                folder = Path(tmp) / name
                folder.mkdir()
                worlds.append(build_world(folder, accounts=n, percentage=100, smtp_url=sink.url))
            message_ids = copies_of_the_message(worlds[0], args.rounds)
            print(f"built two workspaces of {n} accounts in {time.perf_counter() - t:.1f} s")
            messages = rendered_messages(worlds[0])
            assert len(messages) == n

            # Bare, ours, bare, ours, ..., bare: each side's median, so a burst of machine load hits both alike.
            bare_times = [bare_loop(sink.port, messages)]
            our_times = []
            for message_id in message_ids:
                our_times.append(ours(worlds[0], message_id))
                bare_times.append(bare_loop(sink.port, messages))
            bare, mine = statistics.median(bare_times), statistics.median(our_times)
            print("bare smtplib loop: " + ", ".join(f"{n / b:.0f}" for b in bare_times) + " messages/s")
            print("LaunchDesk send:   " + ", ".join(f"{n / o:.0f}" for o in our_times)
                  + " messages/s (outbox, access re-check and journal included)")
            print(f"throughput ratio LaunchDesk/bare (medians) = {bare / mine:.2f} (target >= 0.5)")

            def bare_work(progress: Callable[[object], None], cancelled: Callable[[], bool]) -> object:
                return bare_loop(sink.port, messages)

            reference, _, _ = gui_stall(bare_work)
            del messages  # the GUI run below should not carry the bare loop's data in its heap

            def send_work(progress: Callable[[object], None], cancelled: Callable[[], bool]) -> object:
                from launchdesk.comms.outbox import send_message

                return send_message(worlds[1].workspace, worlds[1].message_id, progress=progress,
                                    cancelled=cancelled, by="benchmark")

            stall, elapsed, ticks = gui_stall(send_work)
            print(f"GUI send from a worker: {n / elapsed:.0f} messages/s, {ticks} timer ticks")
            print(f"longest GUI event-loop stall = {stall:.1f} ms (target < 50); "
                  f"{reference:.1f} ms with a bare smtplib loop in the worker, for reference")
            expected = n * (len(bare_times) + len(our_times) + 2)
            received = sink.count()
            assert received == expected, f"the server received {received} messages, expected {expected}"
            for world in worlds:
                world.workspace.close()
    finally:
        sink.stop()


if __name__ == "__main__":
    main()
