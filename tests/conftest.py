"""Shared test set-up: Qt renders offscreen, the real servers' fixtures, a demo workspace, no stray Qt work."""

import gc
import os
import shutil
import sys
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from servers import *  # noqa: E402,F401,F403

# The offscreen platform warns whenever a window gets a minimum size (every window with a layout). It is
# about the test platform, not about LaunchDesk; every other Qt warning still fails the test.
OFFSCREEN_NOISE = r"This plugin does not support propagateSizeHints\(\)"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.qt_log_ignore(OFFSCREEN_NOISE))


@pytest.fixture(scope="session")
def _demo_original(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from launchdesk.demo import write_demo

    return write_demo(tmp_path_factory.mktemp("demo") / "demo.launchdesk", accounts=300)


@pytest.fixture
def demo_workspace(_demo_original: Path, tmp_path: Path) -> Path:
    """A fresh copy of a small demo workspace (three rollouts, 300 accounts) in this test's folder."""
    return Path(shutil.copy(_demo_original, tmp_path / "demo.launchdesk"))


@pytest.fixture(autouse=True)
def _no_background_task_left():
    """A test that leaves a background task running, or owed a result it never waited for, fails; then the
    test's garbage is collected on the GUI thread."""
    yield
    tasks = sys.modules.get("launchdesk.views.tasks")
    if tasks is None:
        return
    from PySide6.QtCore import QCoreApplication, QEvent, QThreadPool

    finished = QThreadPool.globalInstance().waitForDone(10_000)
    owed = tasks.pending_tasks()
    QCoreApplication.processEvents()  # hand cancelled tasks' results to the void before the next test
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    # The test's Qt objects held in reference cycles (documents, pages) die here, on the GUI thread with no
    # worker running, rather than whenever a later test's worker happens to run the cyclic collector. What
    # survives is frozen out of later collections, so each teardown scans only what its test created.
    gc.collect()
    gc.freeze()
    assert finished, "a background task was still running at the end of the test"
    assert owed == 0, f"{owed} background task result(s) were never waited for"
