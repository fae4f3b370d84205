"""run_task: work runs off the GUI thread and every callback runs on it; cancel silences a task."""

from __future__ import annotations

import logging
import threading

import pytest
import shiboken6
from PySide6.QtCore import QCoreApplication, QEvent

from launchdesk.views.tasks import run_task


def test_the_result_arrives_on_the_gui_thread(qtbot):
    seen: dict[str, object] = {}

    def work(progress, cancelled, a, b, *, times):  # type: ignore[no-untyped-def]
        seen["worker"] = threading.current_thread()
        return (a + b) * times

    def done(result: int) -> None:
        seen["result"] = result
        seen["callback"] = threading.current_thread()

    with qtbot.waitCallback() as finished:
        run_task(work, 2, 3, times=4, on_done=lambda r: (done(r), finished(r)))
    assert seen["result"] == 20
    assert seen["callback"] is threading.main_thread()
    assert seen["worker"] is not threading.main_thread()


def test_an_error_arrives_on_the_gui_thread(qtbot):
    def work(progress, cancelled):  # type: ignore[no-untyped-def]
        raise LookupError("no such flag: smart-inbox")

    threads: list[threading.Thread] = []
    with qtbot.waitCallback() as failed:
        run_task(work, on_done=lambda r: None, on_error=lambda e: (threads.append(threading.current_thread()), failed(e)))
    assert isinstance(failed.args[0], LookupError) and "smart-inbox" in str(failed.args[0])
    assert threads == [threading.main_thread()]


def test_progress_arrives_in_order_before_the_result(qtbot):
    events: list[object] = []

    def work(progress, cancelled):  # type: ignore[no-untyped-def]
        for step in range(5):
            progress(step)
        return "done"

    with qtbot.waitCallback() as finished:
        run_task(work, on_progress=events.append, on_done=lambda r: (events.append(r), finished(r)))
    assert events == [0, 1, 2, 3, 4, "done"]


def test_a_cancelled_task_sees_it_and_calls_nothing_back(qtbot):
    started, release = threading.Event(), threading.Event()
    saw_cancel: list[bool] = []
    calls: list[object] = []

    def work(progress, cancelled):  # type: ignore[no-untyped-def]
        started.set()
        release.wait(5)
        saw_cancel.append(cancelled())
        progress("late")
        return "too late"

    handle = run_task(work, on_done=calls.append, on_error=calls.append, on_progress=calls.append)
    assert started.wait(5)
    handle.cancel()
    release.set()
    qtbot.waitUntil(lambda: not handle.running)
    QCoreApplication.processEvents()  # the worker's queued result and progress arrive now, and are dropped
    assert saw_cancel == [True]
    assert calls == []


def test_a_failure_without_on_error_is_logged(qtbot, caplog):
    def work(progress, cancelled):  # type: ignore[no-untyped-def]
        raise RuntimeError("metrics source unreachable")

    with caplog.at_level(logging.ERROR, logger="launchdesk.views.tasks"):
        handle = run_task(work)
        qtbot.waitUntil(lambda: any("background task failed" in r.message for r in caplog.records))
    assert not handle.running
    assert "metrics source unreachable" in caplog.text


@pytest.mark.parametrize("fails", [False, True])
def test_the_bridge_is_deleted_on_the_gui_thread_once_the_last_result_is_delivered(qtbot, fails):
    """Not by whichever thread drops the last reference or runs the cyclic collector: a QObject with
    connections destroyed in a worker can deadlock against the GUI thread (Qt's connection lock vs the GIL)."""
    delivered: list[object] = []

    def work(progress, cancelled):  # type: ignore[no-untyped-def]
        progress(1)
        if fails:
            raise ValueError("no")
        return 42

    handle = run_task(work, on_done=delivered.append, on_error=delivered.append, on_progress=delivered.append)
    bridge = handle._bridge
    destroyed_on_gui_thread: list[bool] = []
    bridge.destroyed.connect(
        lambda *_: destroyed_on_gui_thread.append(threading.current_thread() is threading.main_thread()))
    qtbot.waitUntil(lambda: len(delivered) == 2)
    assert delivered[0] == 1 and (isinstance(delivered[1], ValueError) if fails else delivered[1] == 42)
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    assert not shiboken6.isValid(bridge)
    assert destroyed_on_gui_thread == [True]
