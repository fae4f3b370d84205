"""The main window: the workspace's rollouts in a sidebar, the selected rollout's pages in tabs, and the menus.

Dialogs (file choosers, message boxes) are imported when first shown: start-up does not need them.
Window geometry, the last tab and the recent workspaces are kept with QSettings in an INI file in the
config folder (``paths.config_dir()``, so ``LAUNCHDESK_CONFIG_DIR`` moves it, as the tests do). Edits save
as they happen, so closing never asks to save; opening another workspace clears the undo stack.
"""

from __future__ import annotations

import logging
import os
import platform
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import QByteArray, QItemSelectionModel, QModelIndex, QSettings, Qt, qVersion
from PySide6.QtGui import QAction, QCloseEvent, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QLabel,
    QListView,
    QMainWindow,
    QMenu,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from launchdesk import APP_NAME, __version__, paths
from launchdesk.models.columns import kinds
from launchdesk.views.document import WorkspaceDocument
from launchdesk.views.item_models import Column, RecordTableModel
from launchdesk.views.pages import PageSlot, RolloutPage
from launchdesk.views.settings_dialog import TeamSettingsAction
from launchdesk.views.sync_actions import FlagActions, FlagStatusPanel
from launchdesk.views.tasks import run_task
from launchdesk.views.template_actions import TemplateActions
from launchdesk.workspace import FILE_SUFFIX, Workspace, WorkspaceError, display_name, is_url

if TYPE_CHECKING:
    from launchdesk.views.accounts_page import AccountsPage
    from launchdesk.views.checklist_page import ChecklistPage
    from launchdesk.views.journal_page import JournalPage
    from launchdesk.views.messages_page import MessagesPage
    from launchdesk.views.plan_page import PlanPage

log = logging.getLogger(__name__)

RECENT_KEY = "recentWorkspaces"
MAX_RECENT = 10
FILE_FILTER = f"LaunchDesk workspaces (*{FILE_SUFFIX});;All files (*)"


def user_settings() -> QSettings:
    """The user's LaunchDesk settings: an INI file in the config folder."""
    return QSettings(str(paths.config_dir() / f"{APP_NAME}.ini"), QSettings.Format.IniFormat)


def recent_workspaces(settings: QSettings) -> list[str]:
    return [str(v) for v in settings.value(RECENT_KEY, [], type=list)][:MAX_RECENT]


def remember_workspace(settings: QSettings, target: str) -> None:
    """Put a workspace first in the recent list; a URL with a password is never written to the settings."""
    if is_url(target):
        from sqlalchemy.engine import make_url

        if make_url(target).password:
            return
    else:
        target = str(Path(target).resolve())
    recent = [target] + [t for t in recent_workspaces(settings) if t != target]
    settings.setValue(RECENT_KEY, recent[:MAX_RECENT])


def workspace_location(workspace: Workspace) -> str:
    """Where a workspace is, as the user names it: its file (home as ~), or its URL without the password."""
    if workspace.path is None:
        return workspace.display
    path = workspace.path.resolve()
    home = Path.home()
    return f"~{os.sep}{path.relative_to(home)}" if path.is_relative_to(home) else str(path)


def rollout_text(rollout: Any) -> str:
    return f"{rollout.name}\n{str(rollout.status).replace('_', ' ').capitalize()} · {rollout.feature_name}"


class MainWindow(QMainWindow):
    # (tab title, "module:Class" under launchdesk.views): a page is imported and built when first shown
    PAGES: tuple[tuple[str, str], ...] = (
        ("&Timeline", "plan_page:PlanPage"),
        ("&Checklists", "checklist_page:ChecklistPage"),
        ("&Gates and go/no-go", "gonogo_page:GoNoGoPage"),
        ("&Messages", "messages_page:MessagesPage"),
        ("&Accounts and lookup", "accounts_page:AccountsPage"),
        ("&Journal", "journal_page:JournalPage"),
        ("Launch ca&lendar", "calendar_page:CalendarPage"),
        ("Co&horts", "cohort_editor:CohortsPage"),
    )
    PLAN, CHECKLISTS, GATES, MESSAGES, ACCOUNTS, JOURNAL, CALENDAR, COHORTS = range(8)

    def __init__(self, settings: QSettings | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings if settings is not None else user_settings()
        self.document = WorkspaceDocument(self)
        self.document.workspace_replaced.connect(self._on_workspace_replaced)
        self.document.changed.connect(self._on_changed)
        self.document.edit_failed.connect(self._show_edit_failure)

        self.rollouts = RecordTableModel([Column("Rollout", rollout_text, tooltip=lambda r: r.description)], parent=self)
        self.rollout_list = QListView()
        self.rollout_list.setModel(self.rollouts)
        self.rollout_list.setSpacing(2)
        self.rollout_list.selectionModel().currentChanged.connect(self._on_rollout_selected)
        self.no_rollouts = QLabel("This workspace has no rollouts yet.\nCreate one with File ▸ New rollout from template…")
        self.no_rollouts.setWordWrap(True)
        self.no_rollouts.hide()
        sidebar = QWidget()
        side = QVBoxLayout(sidebar)
        side.setContentsMargins(6, 6, 0, 6)
        heading = QLabel("Rollouts")
        font = heading.font()
        font.setBold(True)
        heading.setFont(font)
        side.addWidget(heading)
        side.addWidget(self.rollout_list)
        side.addWidget(self.no_rollouts)

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.slots: list[PageSlot] = []
        for index, (title, where) in enumerate(self.PAGES):
            slot = PageSlot(self.document, where)
            slot.created.connect(lambda page, i=index: self._page_made(i, page))
            self.slots.append(slot)
            self.tabs.addTab(slot, title)

        # The selected rollout's flag status (snapshot age, access counts, plan drift) sits above its tabs.
        self.flag_status = FlagStatusPanel(self.document)
        rollout_side = QWidget()
        rollout_layout = QVBoxLayout(rollout_side)
        rollout_layout.setContentsMargins(0, 0, 0, 0)
        rollout_layout.setSpacing(0)
        rollout_layout.addWidget(self.flag_status)
        rollout_layout.addWidget(self.tabs)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(sidebar)
        self.splitter.addWidget(rollout_side)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([240, 1040])
        self.setCentralWidget(self.splitter)
        self.workspace_label = QLabel()
        self.statusBar().addPermanentWidget(self.workspace_label)

        self._build_menus()
        self._restore_state()
        self.slots[self.tabs.currentIndex()].page  # noqa: B018 - the tab shown first is made before the window
        self._on_workspace_replaced()

    # --- pages ---------------------------------------------------------------------------------------------
    def page(self, index: int) -> RolloutPage:
        """The page of tab ``index`` (made now if it was not yet shown)."""
        return self.slots[index].page

    def show_page(self, index: int) -> RolloutPage:
        """Bring tab ``index`` to the front and return its page."""
        self.tabs.setCurrentIndex(index)
        return self.page(index)

    @property
    def plan_page(self) -> PlanPage:
        return self.page(self.PLAN)  # type: ignore[return-value]

    @property
    def checklist_page(self) -> ChecklistPage:
        return self.page(self.CHECKLISTS)  # type: ignore[return-value]

    @property
    def accounts_page(self) -> AccountsPage:
        return self.page(self.ACCOUNTS)  # type: ignore[return-value]

    @property
    def journal_page(self) -> JournalPage:
        return self.page(self.JOURNAL)  # type: ignore[return-value]

    def _page_made(self, index: int, page: RolloutPage) -> None:
        """Wire a page to the window the moment it exists."""
        def status(message: str) -> None:
            self.statusBar().showMessage(message, 8000)

        if index == self.CHECKLISTS:
            page.use_settings(self.settings)  # type: ignore[attr-defined] - "my role" is remembered between runs
            page.exported.connect(status)  # type: ignore[attr-defined]
        elif index == self.PLAN:
            for model in (page.phases, page.cohorts):  # type: ignore[attr-defined]
                model.edit_refused.connect(status)
            page.open_requested.connect(self.open_rows)  # type: ignore[attr-defined]

    def open_rows(self, kind: str, ids: list[int]) -> bool:
        """Show rows picked on the timeline in their own tab, selected: checklist items or a message."""
        if kind == "checklist_item":
            checklists: ChecklistPage = self.show_page(self.CHECKLISTS)  # type: ignore[assignment]
            if checklists.show_items(ids):
                return True
            what = "That checklist item"
        elif kind == "message":
            messages: MessagesPage = self.show_page(self.MESSAGES)  # type: ignore[assignment]
            messages.load_now()
            if ids and messages.messages.row_of(ids[0]) >= 0:
                messages.select_message(ids[0])
                messages.list.setFocus()
                return True
            what = "That message"
        else:
            return False
        self.statusBar().showMessage(f"{what} is no longer in this rollout.", 8000)
        return False

    # --- menus -------------------------------------------------------------------------------------------
    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self._add_action(file_menu, "&New workspace…", self.new_workspace_dialog, QKeySequence.StandardKey.New)
        self._add_action(file_menu, "&Open…", self.open_workspace_dialog, QKeySequence.StandardKey.Open)
        self._add_action(file_menu, "Open &team workspace…", self.open_team_workspace_dialog)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file_menu.addSeparator()
        self.save_copy_action = self._add_action(
            file_menu, "Save a &copy as…", self.save_copy_dialog, QKeySequence.StandardKey.SaveAs
        )
        self.export_pdf_action = self._add_action(file_menu, "&Export plan as PDF…", self.export_pdf_dialog)
        self.close_action = self._add_action(file_menu, "&Close", self.close_workspace, QKeySequence.StandardKey.Close)
        file_menu.addSeparator()
        self.flag_actions = FlagActions(self, self.document, self.current_rollout_id)
        self.flag_status.sync_button.setDefaultAction(self.flag_actions.sync)
        self.flag_status.link_requested.connect(self.flag_actions.show_link)
        file_menu.addAction(self.flag_actions.import_accounts)
        file_menu.addAction(self.flag_actions.connections)
        file_menu.addSeparator()
        self.template_actions = TemplateActions(self, self.document, self.current_rollout_id, self.select_rollout)
        file_menu.addAction(self.template_actions.new_rollout_action)
        file_menu.addAction(self.template_actions.save_template_action)
        self.team_settings_action = TeamSettingsAction(
            self, self.document, self.settings, lambda role: self.checklist_page.set_role(role)
        )
        file_menu.addAction(self.team_settings_action)
        file_menu.addSeparator()
        quit_action = self._add_action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        quit_action.setMenuRole(QAction.MenuRole.QuitRole)

        edit_menu = self.menuBar().addMenu("&Edit")
        self.undo_action = self.document.undo_stack.createUndoAction(self, "&Undo")
        self.undo_action.setShortcut(QKeySequence.StandardKey.Undo)
        self.redo_action = self.document.undo_stack.createRedoAction(self, "&Redo")
        self.redo_action.setShortcut(QKeySequence.StandardKey.Redo)
        edit_menu.addAction(self.undo_action)
        edit_menu.addAction(self.redo_action)

        view_menu = self.menuBar().addMenu("&View")
        for number, (title, _page) in enumerate(self.PAGES, start=1):
            action = self._add_action(view_menu, title, lambda i=number - 1: self.tabs.setCurrentIndex(i))
            action.setShortcut(QKeySequence(f"Ctrl+{number}"))

        flags_menu = self.menuBar().addMenu("F&lags")
        for action in (self.flag_actions.sync, self.flag_actions.cancel_sync, self.flag_actions.link,
                       self.flag_actions.connections):
            flags_menu.addAction(action)

        help_menu = self.menuBar().addMenu("&Help")
        self._add_action(help_menu, "Open &log folder", self.open_log_folder)
        about = self._add_action(help_menu, "&About LaunchDesk", self.show_about)
        about.setMenuRole(QAction.MenuRole.AboutRole)

    def _add_action(
        self, menu: QMenu, text: str, slot: object, shortcut: QKeySequence.StandardKey | None = None
    ) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(shortcut)
        action.triggered.connect(lambda _checked=False: slot())  # type: ignore[operator]
        menu.addAction(action)
        return action

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = recent_workspaces(self.settings)
        for target in recent:
            action = self.recent_menu.addAction(display_name(target))
            action.triggered.connect(lambda _checked=False, t=target: self.open_workspace(t))
        if not recent:
            self.recent_menu.addAction("No recent workspaces").setEnabled(False)

    # --- workspaces ----------------------------------------------------------------------------------------
    def open_workspace(self, target: str | os.PathLike[str]) -> bool:
        """Open a workspace; on failure tell the user why and keep the current one."""
        return self._switch_workspace(self.document.open, target, "Cannot open the workspace")

    def create_workspace(self, path: Path) -> bool:
        return self._switch_workspace(self.document.create, path, "Cannot create the workspace")

    def _switch_workspace(self, how: object, target: str | os.PathLike[str], title: str) -> bool:
        QGuiApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            workspace = how(target)  # type: ignore[operator]
        except WorkspaceError as exc:
            log.warning("%s %s: %s", title, display_name(target), exc)
            error = str(exc)
        except Exception as exc:  # noqa: BLE001 - a driver or file-system error; the message says what
            log.exception("%s %s", title, display_name(target))
            error = f"{display_name(target)} could not be opened: {exc}"
        else:
            remember_workspace(self.settings, str(workspace.path) if workspace.path else workspace.target)
            return True
        finally:
            QGuiApplication.restoreOverrideCursor()
        from PySide6.QtWidgets import QMessageBox

        QMessageBox.warning(self, title, error)
        return False

    def close_workspace(self) -> None:
        self.document.close()

    def _start_folder(self) -> str:
        workspace = self.document.workspace
        if workspace is not None and workspace.path is not None:
            return str(workspace.path.parent)
        return str(Path.home())

    def open_workspace_dialog(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        path, _filter = QFileDialog.getOpenFileName(self, "Open a workspace", self._start_folder(), FILE_FILTER)
        if path:
            self.open_workspace(path)

    def open_team_workspace_dialog(self) -> None:
        from launchdesk.views.team_workspace_dialog import TeamWorkspaceDialog

        dialog = TeamWorkspaceDialog(self)
        if dialog.exec() and dialog.target:
            self.open_workspace(dialog.target)

    def new_workspace_dialog(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        path, _filter = QFileDialog.getSaveFileName(
            self,
            "New workspace",
            str(Path(self._start_folder()) / f"Launch plan{FILE_SUFFIX}"),
            FILE_FILTER,
            options=QFileDialog.Option.DontConfirmOverwrite,  # an existing file is refused, never replaced
        )
        if path:
            target = Path(path)
            self.create_workspace(target if target.suffix else target.with_suffix(FILE_SUFFIX))

    def save_copy_dialog(self) -> None:
        workspace = self.document.workspace
        if workspace is None:
            return
        from PySide6.QtWidgets import QFileDialog

        path, _filter = QFileDialog.getSaveFileName(
            self, "Save a copy of the workspace", str(Path(self._start_folder()) / f"{workspace.name} copy{FILE_SUFFIX}"),
            FILE_FILTER,
        )
        if not path:
            return
        self.statusBar().showMessage(f"Saving a copy to {path}…")
        run_task(
            lambda _progress, _cancelled: workspace.save_copy(path),
            on_done=lambda dest: self.statusBar().showMessage(f"Saved a copy to {dest}", 8000),
            on_error=self._show_copy_failure,
        )

    def export_pdf_dialog(self) -> None:
        rollout_id = self.current_rollout_id()
        if self.document.workspace is None or rollout_id is None:
            self.statusBar().showMessage("Select a rollout to export its plan.", 8000)
            return
        from launchdesk.views.export_dialog import ExportPlanDialog

        dialog = ExportPlanDialog(self.document, rollout_id, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.exported.connect(lambda path: self.statusBar().showMessage(f"Exported the plan to {path}", 8000))
        dialog.open()

    def _show_copy_failure(self, exc: BaseException) -> None:
        from PySide6.QtWidgets import QMessageBox

        log.warning("Save a copy failed: %s", exc)
        self.statusBar().clearMessage()
        QMessageBox.warning(self, "The copy was not saved", str(exc))

    # --- reacting to the document --------------------------------------------------------------------------
    def _on_workspace_replaced(self) -> None:
        workspace = self.document.workspace
        self.setWindowTitle(f"{workspace.name} — {APP_NAME}" if workspace else APP_NAME)
        self.workspace_label.setText(workspace_location(workspace) if workspace else "No workspace open")
        self.save_copy_action.setEnabled(workspace is not None and workspace.path is not None)
        self.close_action.setEnabled(workspace is not None)
        self.tabs.setEnabled(workspace is not None)
        self._load_rollouts(select_id=None)

    def _on_changed(self, kind: str, row_id: int) -> None:
        if kind in ("rollout", "*"):
            self._load_rollouts(select_id=self.current_rollout_id())

    def _load_rollouts(self, select_id: int | None) -> None:
        workspace = self.document.workspace
        # plain SQL, like the plan page: see plan_page.read_plan
        rollouts = workspace.read("SELECT * FROM rollout ORDER BY name", kinds=kinds("rollout")) if workspace else []
        self.rollouts.set_rows(rollouts)
        self.no_rollouts.setVisible(workspace is not None and not rollouts)
        row = self.rollouts.row_of(select_id) if select_id is not None else -1
        if rollouts and self.rollout_list.currentIndex().row() != max(row, 0):
            self.rollout_list.selectionModel().setCurrentIndex(
                self.rollouts.index(max(row, 0), 0), QItemSelectionModel.SelectionFlag.ClearAndSelect
            )
        elif not rollouts:
            self._show_rollout(None)

    def current_rollout_id(self) -> int | None:
        index = self.rollout_list.currentIndex()
        return self.rollouts.rows[index.row()].id if index.isValid() else None

    def select_rollout(self, rollout_id: int) -> None:
        row = self.rollouts.row_of(rollout_id)
        if row < 0:
            raise KeyError(f"no rollout {rollout_id} in this workspace")
        self.rollout_list.setCurrentIndex(self.rollouts.index(row, 0))

    def _on_rollout_selected(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self._show_rollout(self.rollouts.rows[current.row()].id if current.isValid() else None)

    def _show_rollout(self, rollout_id: int | None) -> None:
        self.flag_status.set_rollout(rollout_id)
        for slot in self.slots:
            slot.set_rollout(rollout_id)

    def _show_edit_failure(self, message: str) -> None:
        from PySide6.QtWidgets import QMessageBox

        QMessageBox.warning(self, "Not saved", message)

    def open_log_folder(self) -> None:
        from PySide6.QtCore import QUrl
        from PySide6.QtGui import QDesktopServices

        from launchdesk import paths

        folder = paths.log_dir()
        folder.mkdir(parents=True, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    def show_about(self) -> None:
        import html

        from PySide6.QtWidgets import QMessageBox

        workspace = self.document.workspace
        QMessageBox.about(
            self,
            f"About {APP_NAME}",
            f"<h3>{APP_NAME} {__version__}</h3>"
            "<p>Plan, gate and communicate phased feature rollouts.</p>"
            f"<p>Qt {qVersion()} · PySide6 {pyside_version} · Python {platform.python_version()}</p>"
            f"<p>Workspace: {html.escape(workspace_location(workspace)) if workspace else 'none open'}</p>",
        )

    # --- remembered window state ---------------------------------------------------------------------------
    def _restore_state(self) -> None:
        geometry = self.settings.value("window/geometry")
        if isinstance(geometry, QByteArray) and self.restoreGeometry(geometry):
            self.restoreState(self.settings.value("window/state", QByteArray()))
            splitter = self.settings.value("window/splitter")
            if isinstance(splitter, QByteArray):
                self.splitter.restoreState(splitter)
        else:
            self.resize(1280, 800)
        self.tabs.setCurrentIndex(int(self.settings.value("window/tab", 0)))

    def closeEvent(self, event: QCloseEvent) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.setValue("window/splitter", self.splitter.saveState())
        self.settings.setValue("window/tab", self.tabs.currentIndex())
        self.settings.sync()
        self.document.close()
        super().closeEvent(event)

