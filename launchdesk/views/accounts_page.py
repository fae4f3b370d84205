"""The accounts of the workspace, fetched a page at a time, with a lookup by account id, name or e-mail prefix.

A workspace may hold a million accounts, so the table holds only the pages scrolled to so far; each page
is an index range scan continued from the last account id seen (keyset), fetched in the background. The
lookup uses the same search as the rest of LaunchDesk (launchdesk.accounts.search).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QVBoxLayout, QWidget
from sqlalchemy import func, select

from launchdesk.accounts.search import search_accounts
from launchdesk.models import Account
from launchdesk.views.document import WorkspaceDocument
from launchdesk.views.item_models import Column, Page, PagedTableModel, PageFetcher, local_text
from launchdesk.views.pages import RolloutPage
from launchdesk.views.tasks import TaskHandle, run_task
from launchdesk.views.widgets import fit_columns, table_view
from launchdesk.workspace import Workspace

SEARCH_LIMIT = 200
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
    """Every account of the workspace (not only the selected rollout's), with a prefix lookup."""

    reload_on = frozenset({"account"})

    def __init__(self, document: WorkspaceDocument, parent: QWidget | None = None) -> None:
        super().__init__(document, parent)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Look up an account: type the start of its id, name or a contact e-mail")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(lambda _text: self.invalidate())
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
        self.view = table_view(self.model, stretch=2)
        self._total: int | None = None
        self._count_task: TaskHandle | None = None
        document.workspace_replaced.connect(self._forget_workspace)

        top = QHBoxLayout()
        top.addWidget(self.search, 2)
        top.addWidget(self.summary, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.view)

    def set_rollout(self, rollout_id: int | None) -> None:
        self.rollout_id = rollout_id  # the accounts do not depend on the selected rollout

    def _forget_workspace(self) -> None:
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
