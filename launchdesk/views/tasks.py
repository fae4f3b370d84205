"""The one way to run background work in LaunchDesk: `run_task` on the Qt thread pool, results by signal.

Network calls, bulk queries and anything that may take more than a few milliseconds run through
``run_task`` so the GUI thread never waits. The worker function is called as
``fn(progress, cancelled, *args, **kwargs)``:

- ``progress(value)`` reports progress (any object); it reaches ``on_progress`` on the GUI thread;
- ``cancelled()`` returns True once the handle was cancelled; long loops should check it and return early.

``on_done(result)``, ``on_error(exception)`` and ``on_progress(value)`` are always called on the GUI
thread, and never after ``TaskHandle.cancel()``, so a view can cancel its task and forget it. The worker must
not touch widgets or Qt item models; it returns plain data that the callbacks hand to the views. A worker
that needs the database opens its own session (``workspace.session()``), never one of the GUI thread's.

    handle = run_task(load_page, workspace, cursor, on_done=model.append_page, on_error=show_error)
    ...
    handle.cancel()
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

log = logging.getLogger(__name__)

# Handles whose results are not delivered yet. Keeping them here keeps their bridge alive until the GUI
# thread has run the callbacks, even when the caller dropped its handle.
_pending: set[TaskHandle] = set()


class _Bridge(QObject):
    """Lives in the GUI thread; signals emitted by the worker are queued to its slots.

    It is deleted on the GUI thread once the last result is delivered. Left to Python, it would die with its
    handle wherever the last reference went or the cyclic collector ran: often in a worker, where destroying
    a QObject with connections takes Qt's connection lock and then waits for the GIL, while the GUI thread,
    holding the GIL, waits for that lock in another object's destructor. Both threads stop for good.
    """

    done = Signal(object)
    failed = Signal(object)
    progressed = Signal(object)

    def __init__(self, handle: TaskHandle) -> None:
        super().__init__()
        self._handle = handle
        self.done.connect(self._deliver_done)
        self.failed.connect(self._deliver_error)
        self.progressed.connect(self._deliver_progress)

    @Slot(object)
    def _deliver_done(self, result: object) -> None:
        self._handle._finish(self._handle._on_done, result)

    @Slot(object)
    def _deliver_error(self, exc: object) -> None:
        self._handle._finish(self._handle._on_error, exc)

    @Slot(object)
    def _deliver_progress(self, value: object) -> None:
        if not self._handle.cancelled and self._handle._on_progress is not None:
            self._handle._on_progress(value)


class TaskHandle:
    """A running background task: cancel it, ask whether it is still running, or wait for it at shutdown."""

    def __init__(
        self,
        on_done: Callable[[Any], None] | None,
        on_error: Callable[[BaseException], None] | None,
        on_progress: Callable[[Any], None] | None,
    ) -> None:
        self._on_done = on_done
        self._on_error = on_error or _log_error
        self._on_progress = on_progress
        self._cancel = threading.Event()
        self._worker_finished = threading.Event()
        self._bridge = _Bridge(self)

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def running(self) -> bool:
        """True until the worker has returned (its result may still be on its way to the GUI thread)."""
        return not self._worker_finished.is_set()

    def cancel(self) -> None:
        """Ask the worker to stop; none of the callbacks will be called after this."""
        self._cancel.set()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the worker returned. Only for shutdown paths (closing a workspace), never for results."""
        return self._worker_finished.wait(timeout_s)

    def _finish(self, callback: Callable[[Any], None] | None, value: object) -> None:
        _pending.discard(self)
        # The worker has emitted its last signal: nothing else is queued to the bridge after this one.
        self._bridge.deleteLater()
        if not self.cancelled and callback is not None:
            callback(value)


class _Runnable(QRunnable):
    def __init__(self, handle: TaskHandle, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]):
        super().__init__()
        self._handle = handle
        self._fn = fn
        self._args = args
        self._kwargs = kwargs

    def run(self) -> None:
        handle = self._handle
        bridge = handle._bridge
        try:
            result = self._fn(bridge.progressed.emit, handle._cancel.is_set, *self._args, **self._kwargs)
        except BaseException as exc:  # noqa: BLE001 - every failure goes to on_error on the GUI thread
            _deliver(bridge.failed, exc)
        else:
            _deliver(bridge.done, result)
        finally:
            handle._worker_finished.set()


def _deliver(signal: Any, value: object) -> None:
    """Hand a result to the GUI thread, unless its receiver is gone: the window was closed (or the application
    is quitting) while the work ran, and there is nobody left to tell."""
    try:
        signal.emit(value)
    except RuntimeError:
        log.debug("A background result was dropped: its window is gone")


def run_task(
    fn: Callable[..., Any],
    *args: Any,
    on_done: Callable[[Any], None] | None = None,
    on_error: Callable[[BaseException], None] | None = None,
    on_progress: Callable[[Any], None] | None = None,
    **kwargs: Any,
) -> TaskHandle:
    """Run ``fn(progress, cancelled, *args, **kwargs)`` on the thread pool; call it from the GUI thread.

    Without ``on_error`` a failure is logged with its traceback.
    """
    handle = TaskHandle(on_done, on_error, on_progress)
    _pending.add(handle)
    QThreadPool.globalInstance().start(_Runnable(handle, fn, args, kwargs))
    return handle


def pending_tasks() -> int:
    """How many tasks still owe a result (not delivered, not cancelled); the tests check none is left behind."""
    return sum(1 for handle in _pending if not handle.cancelled)


def _log_error(exc: BaseException) -> None:
    log.error("A background task failed", exc_info=(type(exc), exc, exc.__traceback__))
