"""QApplication start-up: logging, the error dialog for uncaught errors, and which workspace to open first.

Start-up time matters (a benchmark compares it with a bare PySide6 window), so this module and the main
window import only what the first paint needs; Alembic, httpx, keyring, Jinja2 and the demo generator are
imported where they are first used.

    launchdesk [WORKSPACE] [--quit-after-paint | --quit-after-ready] [--self-check OUT_DIR]

``--quit-after-paint`` (or ``LAUNCHDESK_QUIT_AFTER_PAINT=1``) quits once the main window has been painted
the first time, so a benchmark can time a cold start; ``--quit-after-ready`` quits once the warm-up after
that paint has loaded what editing needs.

A launch while LaunchDesk is running hands its workspace to the running one and exits (see
views/single_instance.py), before it builds anything. Benchmark and self-check runs are always on their own,
and so is every launch with ``LAUNCHDESK_NO_SINGLE_INSTANCE=1``.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
import traceback
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, QtMsgType, QTimer, qInstallMessageHandler
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from launchdesk import APP_ID, APP_NAME, __version__, logging_setup, paths

if TYPE_CHECKING:
    from collections.abc import Callable

    from launchdesk.views.main_window import MainWindow

log = logging.getLogger("launchdesk")

QUIT_AFTER_PAINT = "--quit-after-paint"
QUIT_AFTER_READY = "--quit-after-ready"
SELF_CHECK = "--self-check"
# Qt's own command-line options that take a value: the workspace argument is not among them.
_QT_OPTIONS_WITH_VALUE = frozenset({
    "platform", "platformpluginpath", "platformtheme", "plugin", "qwindowgeometry", "qwindowicon",
    "qwindowtitle", "session", "style", "stylesheet", "display", "geometry", "title", "name", "visual",
})


class _StartUpFinished(QObject):
    """Watches the main window for its first paint, then loads what editing needs: start-up is over then.

    The first screen is read with plain SQL (``Workspace.read``), so SQLAlchemy and the mapped classes are
    imported only once the window shows the workspace: right after the first paint, in ``WorkspaceDocument
    .warm_up``, so the first edit does not wait for them.

    Start-up creates a few hundred thousand long-lived objects (Qt wrappers, SQLAlchemy, the models); letting
    the garbage collector run meanwhile only rescans them again and again, and rescanning them once more at
    exit costs as much. So collection is off until the warm-up is done, then they are frozen out of it.
    """

    def __init__(self, window: MainWindow, quit_after: str | None, after_paint: Callable[[], object] | None = None
                 ) -> None:
        super().__init__(window)
        self.window = window
        self.quit_after = quit_after  # "paint" or "ready" (benchmarks), else None
        self.after_paint = after_paint  # before the warm-up: listening for later launches

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            watched.removeEventFilter(self)
            if self.quit_after == "paint":
                QApplication.quit()
            else:
                if self.after_paint is not None:
                    QTimer.singleShot(0, self, self.after_paint)
                QTimer.singleShot(0, self, self._warm_up)
        return False

    def _warm_up(self) -> None:
        try:
            self.window.document.warm_up()
        finally:
            gc.freeze()
            gc.enable()
            if self.quit_after == "ready":
                QApplication.quit()


class _ErrorDialog:
    """sys.excepthook: log the traceback, then tell the user in plain words (once at a time)."""

    def __init__(self, log_file: Path | None) -> None:
        self.log_file = log_file
        self.showing = False

    def __call__(self, kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, exc, tb)
            return
        log.critical("Uncaught error:\n%s", "".join(traceback.format_exception(kind, exc, tb)))
        if self.showing or QApplication.instance() is None:
            return
        from PySide6.QtWidgets import QMessageBox

        where = f"The details were written to {self.log_file}." if self.log_file else ""
        self.showing = True
        try:
            QMessageBox.critical(
                QApplication.activeWindow(),
                f"{APP_NAME} ran into a problem",
                "Something went wrong and the last action may not have finished:\n\n"
                f"{kind.__name__}: {exc}\n\n"
                "Every edit is saved the moment it is made, so your earlier work is safe. "
                f"If this happens again, please report it. {where}",
            )
        finally:
            self.showing = False


def _qt_message(kind: QtMsgType, _context: object, message: str) -> None:
    """Qt's own warnings go to the log file instead of vanishing on a GUI-only start."""
    level = {QtMsgType.QtDebugMsg: logging.DEBUG, QtMsgType.QtInfoMsg: logging.INFO}.get(kind, logging.WARNING)
    logging.getLogger("qt").log(level, "%s", message)


def _icon() -> QIcon:
    from importlib.resources import files

    return QIcon(str(files("launchdesk.resources") / "icons" / "launchdesk.png"))


def _open_first_workspace(window: MainWindow, argument: str | None) -> None:
    """The workspace named on the command line, else the last one opened, else the demo (written on first run)."""
    if argument:
        window.open_workspace(argument)  # a failure is shown, and the window opens empty
        return
    from launchdesk.views.main_window import recent_workspaces
    from launchdesk.workspace import is_url

    recent = recent_workspaces(window.settings)
    # A last workspace that was moved or deleted since is skipped quietly; one that fails to open is explained.
    if recent and (is_url(recent[0]) or Path(recent[0]).exists()) and window.open_workspace(recent[0]):
        return
    demo = paths.demo_workspace()
    try:
        if not demo.exists():
            from launchdesk.demo import write_demo  # heavy, and needed once

            log.info("Writing the demo workspace to %s", demo)
            demo.parent.mkdir(parents=True, exist_ok=True)
            write_demo(demo)
    except Exception as exc:  # noqa: BLE001 - the window still opens, empty, with the reason shown
        from PySide6.QtWidgets import QMessageBox

        log.exception("Cannot create the demo workspace")
        QMessageBox.warning(window, "No demo workspace", f"The demo workspace could not be created: {exc}")
        return
    window.open_workspace(demo)


def _workspace_argument(args: list[str]) -> str | None:
    """The workspace named on the command line, as QApplication will leave it once it has taken its options."""
    value_expected = False
    for arg in args:
        if value_expected:
            value_expected = False
        elif arg.startswith("-"):
            value_expected = arg.lstrip("-") in _QT_OPTIONS_WITH_VALUE  # "-style fusion", not "-style=fusion"
        else:
            return arg
    return None


def main(argv: list[str] | None = None) -> int:
    gc.disable()  # until the first paint; see _StartUpFinished
    args = list(sys.argv[1:] if argv is None else argv)
    quit_after = None
    if QUIT_AFTER_PAINT in args or os.environ.get("LAUNCHDESK_QUIT_AFTER_PAINT") == "1":
        quit_after = "paint"
    elif QUIT_AFTER_READY in args:
        quit_after = "ready"
    args = [a for a in args if a not in (QUIT_AFTER_PAINT, QUIT_AFTER_READY)]
    self_check_dir = None
    if SELF_CHECK in args:  # the packaged application's smoke test (CI); see views/self_check.py
        index = args.index(SELF_CHECK)
        self_check_dir = args[index + 1] if index + 1 < len(args) else "launchdesk-self-check"
        del args[index:index + 2]

    log_file = logging_setup.configure(paths.log_dir())
    qInstallMessageHandler(_qt_message)
    single = None
    if self_check_dir is None and quit_after is None:
        from launchdesk.views import single_instance

        if not single_instance.disabled():
            single = single_instance.claim(_workspace_argument(args))
            if single is None:
                return 0  # the running LaunchDesk has the workspace

    app = QApplication([sys.argv[0], *args])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    app.setApplicationVersion(__version__)
    app.setDesktopFileName(APP_ID)
    app.setWindowIcon(_icon())
    sys.excepthook = _ErrorDialog(log_file)
    log.info("%s %s starting", APP_NAME, __version__)

    if self_check_dir is not None:
        from launchdesk.views.self_check import run_self_check

        return run_self_check(self_check_dir)

    from launchdesk.views.main_window import MainWindow

    window = MainWindow()
    if single is not None:
        single.serve(window)  # later launches wait until it listens, right after the first paint
    _open_first_workspace(window, next(iter(app.arguments()[1:]), None))
    start_up = _StartUpFinished(window, quit_after, single.listen if single is not None else None)
    window.installEventFilter(start_up)
    window.show()
    try:
        return app.exec()
    finally:
        sys.excepthook = sys.__excepthook__  # no dialogs once the event loop is gone
        if single is not None:
            single.close()  # the next launch becomes the primary without finding a stale name
