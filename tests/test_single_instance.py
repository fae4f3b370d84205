"""One LaunchDesk per user: a second launch hands its workspace to the running one and exits at once."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QDialog, QMessageBox

from conftest import OFFSCREEN_NOISE
from launchdesk.views import single_instance
from launchdesk.views.main_window import MainWindow
from launchdesk.views.single_instance import InstanceServer, WindowRequests, request_for, server_name

pytestmark = pytest.mark.gui

unix_only = pytest.mark.skipif(sys.platform == "win32", reason="a stale name is a socket file on Unix")
# The offscreen platform cannot raise a window; that is about the test platform, not LaunchDesk.
offscreen_cannot_raise = pytest.mark.qt_log_ignore(OFFSCREEN_NOISE, r"This plugin does not support raise\(\)")


@pytest.fixture
def short_tmp(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Server names in a short private folder (a socket path has ~100 bytes at most), never the user's."""
    folder = Path(tempfile.mkdtemp(prefix="ld-"))
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, short_tmp: Path) -> Path:
    monkeypatch.setenv("LAUNCHDESK_CONFIG_DIR", str(tmp_path / "config"))
    from PySide6.QtCore import QDir

    assert QDir.tempPath() == str(short_tmp) or Path(QDir.tempPath()).resolve() == short_tmp.resolve()
    return tmp_path / "config"


def wait_for(condition: Callable[[], bool], timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError("timed out")
        time.sleep(0.05)


# --- the request and the name ---


def test_a_file_is_sent_as_an_absolute_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    assert request_for("plan.launchdesk") == ({"v": 1, "open": str(tmp_path / "plan.launchdesk")}, None)
    assert request_for(None) == ({"v": 1, "open": None}, None)


def test_a_server_url_is_sent_without_its_password():
    url = "postgresql+psycopg://ana:s3cr%40t@db.example:5433/launches?sslmode=require"
    request, note = request_for(url)
    assert "s3cr" not in json.dumps(request)
    assert request["open"] == "postgresql+psycopg://ana@db.example:5433/launches?sslmode=require"
    assert note and "keyring" in note

    plain = "postgresql+psycopg://ana@db.example/launches"
    assert request_for(plain) == ({"v": 1, "open": plain}, None)
    # Something that cannot be read as a URL but may hold a password is not sent at all.
    request, note = request_for("postgresql+psycopg://ana:pw@db:notaport/x")
    assert request == {"v": 1, "open": None} and note


def test_the_name_is_per_user_and_per_config_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LAUNCHDESK_CONFIG_DIR", str(tmp_path / "one"))
    one = server_name()
    assert server_name() == one
    monkeypatch.setenv("LAUNCHDESK_CONFIG_DIR", str(tmp_path / "two"))
    assert server_name() != one
    assert str(tmp_path) not in one  # a digest, not the user's folders
    if hasattr(os, "getuid"):
        monkeypatch.setattr(os, "getuid", lambda: 12345)
        assert server_name() != one


# --- the primary's side, in this process ---


def test_a_request_sent_while_the_primary_is_busy_is_done_once_it_is_free(qapp, config_dir: Path, tmp_path: Path):
    name = server_name()
    server = InstanceServer(name)
    assert server.listen()
    asked: list[str] = []
    server.requested.connect(asked.append)
    try:
        # The event loop is not running while _send waits: the primary is "busy". The request stays queued.
        assert single_instance._send(name, {"v": 1, "open": str(tmp_path / "b.launchdesk")}) is False
        deadline = time.monotonic() + 10
        while not asked and time.monotonic() < deadline:
            qapp.processEvents()
        assert asked == [str(tmp_path / "b.launchdesk")]
    finally:
        server.close()


def test_garbage_is_ignored(qapp, config_dir: Path):
    from PySide6.QtNetwork import QLocalSocket

    name = server_name()
    server = InstanceServer(name)
    assert server.listen()
    asked: list[str] = []
    server.requested.connect(asked.append)
    try:
        for garbage in (b"not json\n", b'{"open": 3}\n', b"[1, 2]\n"):
            client = QLocalSocket()
            client.connectToServer(name)
            assert client.waitForConnected(1000)
            client.write(garbage)
            client.waitForBytesWritten(1000)
            deadline = time.monotonic() + 2
            while client.state() == QLocalSocket.LocalSocketState.ConnectedState and time.monotonic() < deadline:
                qapp.processEvents()
                client.waitForDisconnected(10)
        for _ in range(20):
            qapp.processEvents()
        assert asked == []
    finally:
        server.close()


@unix_only
def test_a_name_left_by_a_crashed_instance_is_taken_over(qapp, config_dir: Path):
    name = server_name()
    path = name if os.path.isabs(name) else os.path.join(os.environ["TMPDIR"], name)
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(path)  # a socket file nobody listens on, as a LaunchDesk killed mid-run leaves it
    dead.close()
    assert os.path.exists(path)

    claim = single_instance.claim(None)
    assert claim is not None, "nobody answered on the stale name: this launch is the primary"
    server = claim.listen()
    assert server is not None
    try:
        assert single_instance._send(name, {"v": 1, "open": None}) is not None  # reached now
    finally:
        server.close()
    assert not os.path.exists(path)


@offscreen_cannot_raise
def test_the_window_is_raised_and_opens_the_workspace_the_usual_way(
    qtbot, qapp, tmp_path: Path, demo_workspace: Path, monkeypatch: pytest.MonkeyPatch, config_dir: Path
):
    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _p, title, text, *a: shown.append((title, text)))
    window = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    assert window.open_workspace(demo_workspace)
    window.show()
    qtbot.waitExposed(window)
    server = InstanceServer(server_name())
    requests = WindowRequests(window, server)
    raised: list[bool] = []
    monkeypatch.setattr(requests, "raise_window", lambda: raised.append(True))

    other = Path(shutil.copy(demo_workspace, tmp_path / "other.launchdesk"))
    server.requested.emit(str(other))
    assert window.document.workspace.path == other and raised == [True]

    server.requested.emit(str(other))  # the open workspace: only raised, not opened again (the undo stack stays)
    assert raised == [True, True] and shown == []

    server.requested.emit(str(tmp_path / "missing.launchdesk"))  # the usual failure dialog; the current one stays
    assert window.document.workspace.path == other
    assert len(shown) == 1 and shown[0][0] == "Cannot open the workspace"

    # While a dialog is open the workspace is not swapped under it: the request waits until it is closed.
    dialog = QDialog(window)
    dialog.setModal(True)
    dialog.show()
    qtbot.waitUntil(lambda: qapp.activeModalWidget() is dialog)
    server.requested.emit(str(demo_workspace))
    assert window.document.workspace.path == other
    dialog.close()
    qtbot.waitUntil(lambda: window.document.workspace.path == demo_workspace, timeout=5000)
    window.close_workspace()


@offscreen_cannot_raise
def test_the_primary_listens_once_its_window_is_up_and_holds_the_lock_until_then(
    qtbot, qapp, tmp_path: Path, demo_workspace: Path, monkeypatch: pytest.MonkeyPatch, config_dir: Path
):
    from PySide6.QtCore import QLockFile

    name = server_name()
    claim = single_instance.claim(None)
    assert claim is not None and claim.server is None
    assert not QLockFile(single_instance._lock_path(name)).tryLock(0), "held while the window is built"
    window = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    monkeypatch.setattr(claim, "FALLBACK_MS", 50)  # as when a dialog holds the first paint back
    claim.serve(window)
    try:
        qtbot.waitUntil(lambda: claim.server is not None, timeout=5000)
        assert claim.listen() is claim.server  # the first paint's call finds it listening already
        free = QLockFile(single_instance._lock_path(name))
        assert free.tryLock(0)
        free.unlock()
        assert single_instance._send(name, {"v": 1, "open": str(demo_workspace)}) is False  # queued: we are busy
        qtbot.waitUntil(lambda: window.document.workspace is not None, timeout=10_000)
        assert window.document.workspace.path == demo_workspace
    finally:
        claim.close()
        window.close_workspace()


# --- real processes ---


def app_env(home: Path, short_tmp: Path, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "LAUNCHDESK_CONFIG_DIR": str(home / "config"),
        "LAUNCHDESK_DATA_DIR": str(home / "data"),
        "LAUNCHDESK_LOG_DIR": str(home / "logs"),
        "TMPDIR": str(short_tmp),
        **extra,
    }
    env.pop("XDG_RUNTIME_DIR", None)
    env.pop(single_instance.DISABLE_ENV, None)
    return env


class Launches:
    """LaunchDesk processes started by a test, all stopped at its end."""

    def __init__(self) -> None:
        self.running: list[subprocess.Popen[str]] = []

    def start(self, args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
        process = subprocess.Popen([sys.executable, "-m", "launchdesk", *args], env=env, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.running.append(process)
        return process

    def run(self, args: list[str], env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], float]:
        start = time.monotonic()
        result = subprocess.run([sys.executable, "-m", "launchdesk", *args], env=env, capture_output=True,
                                text=True, timeout=120)
        return result, time.monotonic() - start

    def stop_all(self) -> None:
        for process in self.running:
            if process.poll() is None:
                process.kill()
            process.communicate(timeout=30)


@pytest.fixture
def launches() -> Iterator[Launches]:
    launched = Launches()
    yield launched
    launched.stop_all()


def log_of(home: Path) -> str:
    path = home / "logs" / "launchdesk.log"
    return path.read_text(encoding="utf-8") if path.exists() else ""


def opened(home: Path) -> list[str]:
    return [line.split("Opened workspace ")[1] for line in log_of(home).splitlines() if "Opened workspace " in line]


def listening(home: Path) -> int:
    return log_of(home).count("Listening for later launches")


@pytest.mark.slow
def test_a_second_launch_hands_its_workspace_to_the_running_one(
    launches: Launches, tmp_path: Path, demo_workspace: Path, short_tmp: Path
):
    home = tmp_path / "home"
    env = app_env(home, short_tmp)
    other = Path(shutil.copy(demo_workspace, tmp_path / "other.launchdesk"))
    primary = launches.start([str(demo_workspace)], env)
    wait_for(lambda: listening(home) == 1 and opened(home) == [str(demo_workspace)] or primary.poll() is not None)
    assert primary.poll() is None, primary.communicate()

    second, took = launches.run([str(other)], env)
    assert second.returncode == 0, second.stderr
    assert second.stdout == "" and second.stderr == ""
    assert took < 15, f"the second launch took {took:.1f} s"
    wait_for(lambda: opened(home) == [str(demo_workspace), str(other)])
    assert log_of(home).count(" starting") == 1, "the second launch built no application of its own"

    # Without a workspace the running window is only raised.
    third, _took = launches.run([], env)
    assert third.returncode == 0, third.stderr
    wait_for(lambda: "Another launch asked for the window" in log_of(home))
    assert opened(home) == [str(demo_workspace), str(other)]

    # A benchmark run and an opted-out run are on their own: neither hands off nor is reached.
    alone = app_env(home, short_tmp, LAUNCHDESK_LOG_DIR=str(tmp_path / "alone-logs"))
    bench, _took = launches.run(["--quit-after-paint", str(demo_workspace)], alone)
    assert bench.returncode == 0, bench.stderr
    assert "Opened workspace" in (tmp_path / "alone-logs" / "launchdesk.log").read_text()
    opted_out = launches.start([str(demo_workspace)], {**alone, single_instance.DISABLE_ENV: "1"})
    wait_for(lambda: (tmp_path / "alone-logs" / "launchdesk.log").read_text().count("Opened workspace") == 2)
    assert opted_out.poll() is None
    assert "Listening" not in (tmp_path / "alone-logs" / "launchdesk.log").read_text()
    assert opened(home) == [str(demo_workspace), str(other)]

    primary.terminate()
    primary.communicate(timeout=30)


@pytest.mark.slow
def test_two_launches_at_the_same_moment_end_in_one_window(
    launches: Launches, tmp_path: Path, demo_workspace: Path, short_tmp: Path
):
    home = tmp_path / "home"
    env = app_env(home, short_tmp)
    other = Path(shutil.copy(demo_workspace, tmp_path / "other.launchdesk"))
    first = launches.start([str(demo_workspace)], env)
    second = launches.start([str(other)], env)
    wait_for(lambda: first.poll() is not None or second.poll() is not None)
    ended, running = (first, second) if first.poll() is not None else (second, first)
    assert ended.returncode == 0, ended.communicate()
    wait_for(lambda: sorted(opened(home)) == sorted([str(demo_workspace), str(other)]) or running.poll() is not None)
    assert running.poll() is None, running.communicate()
    assert listening(home) == 1


@pytest.mark.slow
@unix_only
def test_after_a_crash_the_next_launch_becomes_the_primary_and_other_users_do_not_meet(
    launches: Launches, tmp_path: Path, demo_workspace: Path, short_tmp: Path
):
    home = tmp_path / "home"
    env = app_env(home, short_tmp)
    crashed = launches.start([str(demo_workspace)], env)
    wait_for(lambda: listening(home) == 1 or crashed.poll() is not None)
    crashed.send_signal(signal.SIGKILL)  # leaves its socket behind
    crashed.communicate(timeout=30)
    assert [p.name for p in short_tmp.iterdir() if p.is_socket()], "the crashed primary left its name"

    primary = launches.start([str(demo_workspace)], env)
    wait_for(lambda: listening(home) == 2 or primary.poll() is not None)
    assert primary.poll() is None, primary.communicate()

    # Someone else (another config folder, as another user has) starts their own LaunchDesk.
    someone = tmp_path / "someone"
    theirs = launches.start([str(demo_workspace)], app_env(someone, short_tmp))
    wait_for(lambda: listening(someone) == 1 or theirs.poll() is not None)
    assert theirs.poll() is None, theirs.communicate()

    other = Path(shutil.copy(demo_workspace, tmp_path / "other.launchdesk"))
    second, _took = launches.run([str(other)], env)
    assert second.returncode == 0, second.stderr
    wait_for(lambda: str(other) in opened(home))
    assert str(other) not in opened(someone)
