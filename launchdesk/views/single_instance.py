"""One LaunchDesk per user: a second launch hands its workspace to the running one and exits.

The running LaunchDesk (the *primary*) listens on a QLocalServer. A later launch connects to it before it
builds anything (no QApplication, no window), sends one request and exits with status 0; the primary raises
its window and opens the workspace through ``MainWindow.open_workspace`` (which explains a failure in a
dialog and keeps the current workspace).

The protocol is one line of UTF-8 JSON each way::

    -> {"v": 1, "open": "/abs/path/plan.launchdesk"}      (or "open": null: just raise the window)
    <- {"ok": true}

A file is sent as an absolute path (the two processes need not share a working folder). A server URL is sent
without its password, ever: the running LaunchDesk takes the password from the keyring like any other
server workspace it opens.

The server name is per user and per config folder (``LAUNCHDESK_CONFIG_DIR`` moves it, so tests and two
users never meet), and on Linux lives in the user's private runtime folder when there is one. A name left
behind by a LaunchDesk that crashed answers no connection: the next launch removes it and becomes the
primary. A QLockFile next to it is held from the check until the new primary listens, so two launches at
the same moment cannot both become the primary.

Start-up cost: QtNetwork takes 10-20 ms to load. When no socket file exists (Unix; the usual start) the check
needs no QtNetwork, and the primary listens right after its first paint, so the first paint waits only for
the lock file. A later launch meanwhile waits for the lock, then finds the primary listening.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import zlib
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QDir, QLockFile, QObject, QTimer, Signal

from launchdesk import APP_ID, paths

if TYPE_CHECKING:
    from PySide6.QtNetwork import QLocalSocket

    from launchdesk.views.main_window import MainWindow

log = logging.getLogger(__name__)

DISABLE_ENV = "LAUNCHDESK_NO_SINGLE_INSTANCE"  # "1": every launch is on its own (tests, benchmarks)
PROTOCOL_VERSION = 1
MAX_REQUEST_BYTES = 64 * 1024
CONNECT_MS = 1000
REPLY_MS = 500  # a busy primary answers later; the request waits in its queue, and this launch exits anyway
LOCK_WAIT_MS = 20_000  # a primary holds the lock from its check until it listens, right after its first paint
CLIENT_IDLE_MS = 5000


def disabled() -> bool:
    return os.environ.get(DISABLE_ENV) == "1"


def server_name() -> str:
    """Per user and per config folder; a full socket path in the user's runtime folder on Linux."""
    user = str(os.getuid()) if hasattr(os, "getuid") else os.environ.get("USERNAME", "")
    config = os.path.abspath(paths.config_dir())
    digest = zlib.crc32(f"{user}\0{config}".encode())  # zlib is loaded already; hashlib would load OpenSSL
    name = f"{APP_ID.rsplit('.', 1)[-1].lower()}-{digest:08x}"  # short: a socket path has ~100 bytes at most
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if sys.platform.startswith("linux") and runtime and os.path.isdir(runtime):
        return os.path.join(runtime, name)
    return name


def _lock_path(name: str) -> str:
    return name + ".lock" if os.path.isabs(name) else os.path.join(QDir.tempPath(), name + ".lock")


def request_for(argument: str | None) -> tuple[dict[str, object], str | None]:
    """The request for the running LaunchDesk, and a note for the user when part of the argument was kept back."""
    if not argument:
        return {"v": PROTOCOL_VERSION, "open": None}, None
    if "://" not in argument:
        return {"v": PROTOCOL_VERSION, "open": os.path.abspath(argument)}, None
    try:
        from sqlalchemy.engine import URL, make_url  # only here: a second launch with a server URL

        url = make_url(argument)
    except Exception:  # noqa: BLE001 - not a URL the running LaunchDesk could open either
        if "@" in argument:  # it may hold a password: it is not sent
            return {"v": PROTOCOL_VERSION, "open": None}, "The workspace URL was not passed on: it cannot be read."
        return {"v": PROTOCOL_VERSION, "open": argument}, None
    if url.password is None:
        return {"v": PROTOCOL_VERSION, "open": argument}, None
    # (URL.set ignores None, so the URL is made anew without the password)
    without = URL.create(url.drivername, url.username, None, url.host, url.port, url.database, url.query)
    without = without.render_as_string(hide_password=False)
    note = ("The password in the workspace URL was not passed on: the running LaunchDesk uses the password "
            "kept in the keyring for that server.")
    return {"v": PROTOCOL_VERSION, "open": without}, note


def _send(name: str, request: dict[str, object]) -> bool | None:
    """Hand a request to the running LaunchDesk: True if it answered, False if the request is queued but it did
    not answer yet, None if no LaunchDesk listens on ``name``."""
    from PySide6.QtNetwork import QLocalSocket

    socket = QLocalSocket()
    socket.connectToServer(name)
    if not socket.waitForConnected(CONNECT_MS):
        return None
    socket.write(QByteArray(json.dumps(request).encode() + b"\n"))
    socket.waitForBytesWritten(CONNECT_MS)
    answered = False
    while socket.waitForReadyRead(REPLY_MS):
        if socket.canReadLine():
            try:
                answered = json.loads(bytes(socket.readLine().data())).get("ok") is True
            except (ValueError, AttributeError):
                answered = False
            break
    socket.disconnectFromServer()
    return answered


def _nobody_listens(name: str) -> bool:
    """Certainly no LaunchDesk listens on ``name``, known without loading QtNetwork: on Unix a listening server
    has a socket file (one may be left by a crash, though; then the connection attempt tells)."""
    if sys.platform == "win32":
        return False  # a named pipe: only a connection attempt tells
    return not os.path.exists(name if os.path.isabs(name) else os.path.join(QDir.tempPath(), name))


def claim(argument: str | None) -> Claim | None:
    """Before anything is built: hand ``argument`` (a workspace path or URL, or None) to a running LaunchDesk
    and return None, or return a Claim when this launch is the primary."""
    name = server_name()
    lock_file = QLockFile(_lock_path(name))
    lock = lock_file if lock_file.tryLock(LOCK_WAIT_MS) else None  # a starting LaunchDesk holds it until it listens
    if lock is None:
        log.warning("Another LaunchDesk is starting and holds %s; not waiting for it longer", lock_file.fileName())
    if _nobody_listens(name):
        return Claim(name, lock)
    request, note = request_for(argument)
    sent = _send(name, request)
    if sent is None:
        return Claim(name, lock)  # nobody answered: a crashed primary's name, removed when this one listens
    if lock is not None:
        lock.unlock()
    shown = request["open"] or "(no workspace)"
    if sent:
        log.info("LaunchDesk is already running; handed it %s", shown)
    else:  # busy (opening a workspace, a dialog): the request waits in its queue
        log.info("LaunchDesk is already running; handed it %s, to be done once it is free", shown)
    if note:
        print(note, file=sys.stderr)
    return None


class Claim(QObject):
    """This launch is the primary. It holds the lock until it listens: ``listen`` is meant for right after the
    window's first paint (QtNetwork costs more than the first paint should wait for); ``serve`` makes it
    happen after FALLBACK_MS anyway, when a dialog or a slow workspace holds the first paint back. A later
    launch waits for the lock meanwhile."""

    FALLBACK_MS = 2000

    def __init__(self, name: str, lock: QLockFile | None) -> None:
        super().__init__()
        self.name = name
        self.lock = lock
        self.server: InstanceServer | None = None
        self.window: MainWindow | None = None
        self._tried = False

    def serve(self, window: MainWindow) -> None:
        """Requests will go to ``window``; call before its first workspace is opened (that may show a dialog)."""
        self.window = window
        QTimer.singleShot(self.FALLBACK_MS, self, self.listen)

    def listen(self) -> InstanceServer | None:
        if self._tried:
            return self.server
        self._tried = True
        try:
            server = InstanceServer(self.name)
            # Without the lock another launch may be becoming the primary: its name is not removed then.
            if server.listen(remove_stale=self.lock is not None):
                self.server = server
                if self.window is not None:
                    WindowRequests(self.window, server)
        finally:
            if self.lock is not None:
                self.lock.unlock()
                self.lock = None
        return self.server

    def close(self) -> None:
        """At exit: the name is removed, so the next launch becomes the primary without a stale name."""
        if self.server is not None:
            self.server.close()
        if self.lock is not None:
            self.lock.unlock()
            self.lock = None


class InstanceServer(QObject):
    """The primary's listener: each request from a later launch becomes ``requested(target)``, where an empty
    target means only "raise the window"."""

    requested = Signal(str)

    def __init__(self, name: str) -> None:
        from PySide6.QtNetwork import QLocalServer  # loaded only now: after the first paint in a primary

        super().__init__()
        self.name = name
        self.server = QLocalServer(self)
        self.server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self.server.newConnection.connect(self._accept)

    def listen(self, *, remove_stale: bool = True) -> bool:
        from PySide6.QtNetwork import QLocalServer

        if remove_stale:
            QLocalServer.removeServer(self.name)  # a name left by a LaunchDesk that crashed; nobody answered on it
        if not self.server.listen(self.name):
            log.warning("Cannot listen for later launches on %s: %s", self.name, self.server.errorString())
            return False
        log.info("Listening for later launches on %s", self.server.fullServerName())
        return True

    def close(self) -> None:
        self.server.close()

    def _accept(self) -> None:
        while self.server.hasPendingConnections():
            socket = self.server.nextPendingConnection()
            timer = QTimer(socket, singleShot=True, interval=CLIENT_IDLE_MS)
            timer.timeout.connect(lambda socket=socket: socket.abort())
            socket.readyRead.connect(lambda socket=socket: self._read(socket))
            socket.disconnected.connect(socket.deleteLater)
            timer.start()

    def _read(self, socket: QLocalSocket) -> None:
        if not socket.canReadLine():
            if socket.bytesAvailable() > MAX_REQUEST_BYTES:
                log.warning("A request from another launch was too long; ignored")
                socket.abort()
            return
        line = bytes(socket.readLine(MAX_REQUEST_BYTES).data())
        try:
            request = json.loads(line)
            target = request.get("open") if isinstance(request, dict) else None
            if not isinstance(request, dict) or not (target is None or isinstance(target, str)):
                raise ValueError("not a request")
        except ValueError:
            log.warning("Ignored a request from another launch that could not be read")
            socket.abort()
            return
        socket.write(QByteArray(b'{"ok": true}\n'))
        socket.flush()
        socket.disconnectFromServer()
        # Opened after the answer, so the other launch exits at once even while a dialog shows here.
        QTimer.singleShot(0, self, lambda: self.requested.emit(target or ""))


class WindowRequests(QObject):
    """Carries out the requests for the main window: raise it, then open the workspace the usual way."""

    RETRY_MS = 500

    def __init__(self, window: MainWindow, server: InstanceServer) -> None:
        super().__init__(window)
        self.window = window
        server.requested.connect(self.handle)  # the server outlives the window: main() closes it at exit

    def handle(self, target: str) -> None:
        from PySide6.QtWidgets import QApplication

        modal = QApplication.activeModalWidget()
        if modal is not None:  # a dialog is open: the workspace is not swapped under it; tried again when closed
            modal.raise_()
            modal.activateWindow()
            QTimer.singleShot(self.RETRY_MS, self, lambda: self.handle(target))
            return
        self.raise_window()
        if not target:
            log.info("Another launch asked for the window")
            return
        if self._is_open(target):
            log.info("Another launch asked for the open workspace %s", target)
            return
        log.info("Another launch asked to open %s", target)
        self.window.open_workspace(target)  # a failure is explained in a dialog; the current workspace stays

    def raise_window(self) -> None:
        window = self.window
        if window.isMinimized():
            window.showNormal()
        window.show()
        window.raise_()
        window.activateWindow()
        from PySide6.QtWidgets import QApplication

        QApplication.alert(window)  # where the window system refuses activation, the taskbar entry asks for it

    def _is_open(self, target: str) -> bool:
        workspace = self.window.document.workspace
        if workspace is None:
            return False
        if workspace.path is not None and "://" not in target:
            try:
                return os.path.samefile(workspace.path, target)
            except OSError:
                return False
        return workspace.path is None and workspace.target == target
