"""The accounts of the workspace, fetched a page at a time, with the support lookup by id, name or e-mail prefix.

A workspace may hold a million accounts, so the table holds only the pages scrolled to so far; each page
is an index range scan continued from the last account id seen (keyset), fetched in the background. The
search uses the same search as the rest of LaunchDesk (launchdesk.accounts.search); while typing, the best
match is picked and the lookup pane beside the table says, per rollout, whether it has access and why.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt, QTimer
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QSplitter, QVBoxLayout, QWidget
from sqlalchemy import func, select

from launchdesk.accounts.search import search_accounts
from launchdesk.models import Account
from launchdesk.views.document import WorkspaceDocument
from launchdesk.views.item_models import Column, Page, PagedTableModel, PageFetcher, local_text
from launchdesk.views.lookup_pane import LookupPane
from launchdesk.views.pages import RolloutPage
from launchdesk.views.tasks import TaskHandle, run_task
from launchdesk.views.widgets import fit_columns, table_view
from launchdesk.workspace import Workspace

SEARCH_LIMIT = 200
TYPING_PAUSE_MS = 150  # search once typing pauses, not on every keystroke
ROW_COLUMNS = (Account.id, Account.account_key, Account.name, Account.attributes, Account.imported_at)


def attributes_text(attributes: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in attributes.items())


def all_accounts(workspace: Workspace) -> PageFetcher:
    """Pages of every account by account id, each continuing after the last id seen (an index range scan)."""

    def fetch(after: str | None, limit: int) -> Page:
        query = select(*ROW_COLUMNS).order_by(Account.account_key).limit(limit)
        if after is not None:
            query = query.where(Account.account_key > after)
        with workspace.session() as session:
            rows = list(session.execute(query))
        return rows, (rows[-1].account_key if len(rows) == limit else None)

    return fetch


def matching_accounts(workspace: Workspace, text: str) -> PageFetcher:
    """One page: the best matches of the support lookup (id, name or e-mail prefix)."""

    def fetch(_after: None, _limit: int) -> Page:
        with workspace.session() as session:
            return search_accounts(session, text, limit=SEARCH_LIMIT), None

    return fetch


def count_accounts(_progress: Any, _cancelled: Any, workspace: Workspace) -> int:
    with workspace.session() as session:
        return session.scalar(select(func.count()).select_from(Account)) or 0


class AccountsPage(RolloutPage):
    """Every account of the workspace (not only the selected rollout's), with the support lookup."""

    reload_on = frozenset({"account"})

    def __init__(self, document: WorkspaceDocument, parent: QWidget | None = None) -> None:
        super().__init__(document, parent)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Look up an account: type the start of its id, name or a contact e-mail")
        self.search.setClearButtonEnabled(True)
        self._typing = QTimer(self)
        self._typing.setSingleShot(True)
        self._typing.setInterval(TYPING_PAUSE_MS)
        self._typing.timeout.connect(self.invalidate)
        self.search.textChanged.connect(lambda _text: self._typing.start())
        self.search.returnPressed.connect(self.select_first_result)
        # Window-wide, but only while this tab is shown (a hidden widget's shortcuts do not fire).
        for keys in ("Ctrl+F", "Ctrl+L"):
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.activated.connect(self.focus_search)
        self.summary = QLabel()
        self.model = PagedTableModel(
            [
                Column("Account id", lambda a: a.account_key),
                Column("Name", lambda a: a.name),
                Column("Attributes", lambda a: attributes_text(a.attributes)),
                Column("Imported", lambda a: local_text(a.imported_at)),
            ],
            parent=self,
        )
        self.model.page_loaded.connect(self._on_page)
        self.model.load_failed.connect(self.summary.setText)
        self.model.modelReset.connect(lambda: self.lookup.show_account(None))
        self.view = table_view(self.model, stretch=2)
        self.view.selectionModel().currentRowChanged.connect(self._on_account_picked)
        self.lookup = LookupPane(document)
        self._total: int | None = None
        self._count_task: TaskHandle | None = None
        self._enter_pressed = False
        document.workspace_replaced.connect(self._forget_workspace)

        top = QHBoxLayout()
        top.addWidget(self.search, 2)
        top.addWidget(self.summary, 1)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.view)
        self.splitter.addWidget(self.lookup)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.splitter, 1)

    def set_rollout(self, rollout_id: int | None) -> None:
        self.rollout_id = rollout_id  # the accounts do not depend on the selected rollout

    def focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def select_first_result(self) -> None:
        """Enter in the search: the best match becomes the selected account, and the keyboard moves to the table."""
        if self._typing.isActive():  # typed faster than the pause: search now
            self._typing.stop()
            self._refresh()
        if self.model.loading:
            self._enter_pressed = True  # the results are on their way; pick the first when they come
        elif self.model.rowCount():
            self._pick_first()
            self.view.setFocus(Qt.FocusReason.OtherFocusReason)

    def _pick_first(self) -> None:
        self.view.selectionModel().setCurrentIndex(
            self.model.index(0, 0), QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        )

    def _on_account_picked(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self.lookup.show_account(self.model.rows[current.row()].account_key if current.isValid() else None)

    def _on_changed(self, kind: str, row_id: int) -> None:
        if kind == "account":
            self._total = None  # an import changed how many there are
        super()._on_changed(kind, row_id)

    def _forget_workspace(self) -> None:
        self._typing.stop()
        self.model.stop()
        if self._count_task is not None:
            self._count_task.cancel()
            self._count_task.wait(10)
            self._count_task = None
        self._total = None
        self.invalidate()

    def reload(self) -> None:
        workspace = self.document.workspace
        if workspace is None:
            self.model.set_source(None)
            self.summary.setText("")
            return
        if self._total is None and self._count_task is None:
            self._count_task = run_task(count_accounts, workspace, on_done=self._on_count, on_error=self._on_count_error)
        text = self.search.text().strip()
        self.model.set_source(matching_accounts(workspace, text) if text else all_accounts(workspace))

    def _on_count(self, total: int) -> None:
        self._count_task = None
        self._total = total
        self._show_summary()

    def _on_count_error(self, exc: BaseException) -> None:
        self._count_task = None
        self.summary.setText(f"Could not count the accounts: {exc}")

    def _on_page(self, _count: int) -> None:
        if self.model.rowCount() <= self.model.page_size:
            fit_columns(self.view)
            # While searching, the best match is looked up at once: that is what support typed it for.
            query = self.search.text().strip()
            if query and self.model.rowCount():
                self._pick_first()
                if self._enter_pressed:
                    self.view.setFocus(Qt.FocusReason.OtherFocusReason)
            elif query:
                self.lookup.show_no_match(query)
        self._enter_pressed = False
        self._show_summary()

    def _show_summary(self) -> None:
        shown = self.model.rowCount()
        more = "" if self.model.complete else "+"
        if self.search.text().strip():
            capped = " (the first ones; type more to narrow)" if shown >= SEARCH_LIMIT else ""
            self.summary.setText(f"{shown:,} matching{capped}")
        elif self._total is not None:
            self.summary.setText(f"{self._total:,} accounts")
        else:
            self.summary.setText(f"{shown:,}{more} accounts")
