"""The Journal tab: the workspace's coordination log, newest first, filtered by rollout, kind, time and text,
fetched page by page, and exported as CSV (the same columns as ``launchdesk-cli journal --csv``)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import QDate, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy import Select, and_, or_, select

from launchdesk import journal
from launchdesk.models import JournalEntry, Rollout
from launchdesk.views.document import WorkspaceDocument
from launchdesk.views.item_models import Column, Page, PagedTableModel, local_text
from launchdesk.views.pages import RolloutPage
from launchdesk.views.tasks import TaskHandle, run_task
from launchdesk.views.widgets import fit_columns, table_view
from launchdesk.workspace import Workspace

FAMILY = "family:"  # a kind filter that takes a whole family: "decision" is decision.go, decision.no_go...
TEXT_DELAY_MS = 300  # the search waits for a pause in typing, not for every key


@dataclasses.dataclass(frozen=True)
class JournalFilter:
    """Which entries to show: one rollout's (or all), a kind or a family of kinds, since a moment, with a text."""

    rollout_id: int | None = None  # None: every entry of the workspace
    kind: str | None = None  # an exact kind ("decision.go") or FAMILY + prefix ("family:decision")
    since: dt.datetime | None = None
    text: str = ""

    def apply(self, query: Select[Any]) -> Select[Any]:
        if self.rollout_id is not None:
            query = query.where(JournalEntry.rollout_id == self.rollout_id)
        if self.kind is not None:
            if self.kind.startswith(FAMILY):
                family = self.kind.removeprefix(FAMILY)
                query = query.where(or_(JournalEntry.kind == family, JournalEntry.kind.startswith(f"{family}.",
                                                                                                   autoescape=True)))
            else:
                query = query.where(JournalEntry.kind == self.kind)
        if self.since is not None:
            query = query.where(JournalEntry.at >= self.since)
        if self.text.strip():
            words = self.text.strip()
            query = query.where(or_(JournalEntry.summary.icontains(words, autoescape=True),
                                    JournalEntry.actor.icontains(words, autoescape=True)))
        return query


ENTRY_COLUMNS = (JournalEntry.id, JournalEntry.at, JournalEntry.actor, JournalEntry.kind, JournalEntry.summary,
                 JournalEntry.rollout_id, JournalEntry.details)


def fetch_entries(workspace: Workspace, where: JournalFilter, cursor: Any, limit: int) -> Page:
    """One page of entries, newest first, after ``cursor`` (the last page's (at, id))."""
    query = where.apply(select(*ENTRY_COLUMNS))
    if cursor is not None:
        at, entry_id = cursor
        query = query.where(or_(JournalEntry.at < at, and_(JournalEntry.at == at, JournalEntry.id < entry_id)))
    with workspace.session() as session:
        rows = list(session.execute(query.order_by(JournalEntry.at.desc(), JournalEntry.id.desc()).limit(limit)))
    return rows, ((rows[-1].at, rows[-1].id) if len(rows) == limit else None)


def export_csv(_progress: Any, cancelled: Any, workspace: Workspace, where: JournalFilter, path: Path) -> int:
    """Write every entry the filter lets through, oldest first, to ``path``; returns how many."""
    with workspace.session() as session, open(path, "w", newline="", encoding="utf-8") as out:
        names = dict(session.execute(select(Rollout.id, Rollout.name)).all())
        rows = session.execute(where.apply(select(*ENTRY_COLUMNS)).order_by(JournalEntry.at, JournalEntry.id))
        return journal.write_csv(out, rows, names, cancelled)


def kind_choices(kinds: list[str]) -> list[tuple[str, str]]:
    """(label, filter value) for the kind box: each family with more than one kind, then its kinds."""
    families: dict[str, list[str]] = {}
    for kind in sorted(set(kinds)):
        families.setdefault(kind.split(".", 1)[0], []).append(kind)
    choices: list[tuple[str, str]] = []
    for family, members in families.items():
        if len(members) > 1 or members[0] != family:
            choices.append((f"{family} (all)", FAMILY + family))
            choices.extend((f"    {kind}", kind) for kind in members)
        else:
            choices.append((family, family))
    return choices


def details_tooltip(row: Any) -> str:
    text = row.summary
    if row.details:
        dump = json.dumps(row.details, indent=2, sort_keys=True, ensure_ascii=False)
        text += "\n\n" + (dump if len(dump) < 2000 else dump[:2000] + "\n…")
    return text


class JournalPage(RolloutPage):
    """The journal of the selected rollout or of the whole workspace, newest first, fetched page by page."""

    reload_on = frozenset({"*"})  # every edit writes a journal entry
    exported = Signal(str, int)  # the file and how many entries it holds
    export_failed = Signal(str)

    def __init__(self, document: WorkspaceDocument, parent: QWidget | None = None) -> None:
        super().__init__(document, parent)
        self.rollout_names: dict[int, str] = {}
        self.export_task: TaskHandle | None = None

        self.scope = QComboBox()
        self.scope.addItem("This rollout", "rollout")
        self.scope.addItem("All rollouts", "all")
        self.kind = QComboBox()
        self.kind.setMinimumContentsLength(18)
        self.since_on = QCheckBox("Since")
        self.since = QDateEdit(QDate.currentDate().addDays(-7))
        self.since.setCalendarPopup(True)
        self.since.setDisplayFormat("yyyy-MM-dd")
        self.since.setEnabled(False)
        self.text = QLineEdit()
        self.text.setPlaceholderText("Search summaries and people")
        self.text.setClearButtonEnabled(True)
        self.shown = QLabel()
        self.shown.setObjectName("shown")
        self.export_button = QPushButton("Export CSV…")
        self.export_button.clicked.connect(self.export_dialog)
        filters = QHBoxLayout()
        filters.addWidget(self.scope)
        filters.addWidget(QLabel("Kind"))
        filters.addWidget(self.kind)
        filters.addWidget(self.since_on)
        filters.addWidget(self.since)
        filters.addWidget(self.text, 1)
        filters.addWidget(self.shown)
        filters.addWidget(self.export_button)
        self.status = QLabel()
        self.status.setObjectName("exportStatus")
        self.status.setWordWrap(True)
        self.status.hide()

        self.model = PagedTableModel(
            [
                Column("When", lambda e: local_text(e.at)),
                Column("Who", lambda e: e.actor),
                Column("What", lambda e: e.kind),
                Column("Summary", lambda e: " ".join(e.summary.split()), tooltip=details_tooltip),
                Column("Rollout", lambda e: self.rollout_names.get(e.rollout_id, "") if e.rollout_id else "workspace"),
            ],
            parent=self,
        )
        self.view = table_view(self.model, stretch=3)
        self.model.page_loaded.connect(self._on_page)
        self.model.load_failed.connect(self._on_load_failed)
        document.workspace_replaced.connect(self._forget_workspace)

        self._text_timer = QTimer(self)
        self._text_timer.setSingleShot(True)
        self._text_timer.setInterval(TEXT_DELAY_MS)
        self._text_timer.timeout.connect(self.apply_filter)
        self.text.textChanged.connect(self._text_timer.start)
        self.scope.currentIndexChanged.connect(self.apply_filter)
        self.kind.currentIndexChanged.connect(self.apply_filter)
        self.since.dateChanged.connect(self.apply_filter)
        self.since_on.toggled.connect(self.since.setEnabled)
        self.since_on.toggled.connect(self.apply_filter)

        layout = QVBoxLayout(self)
        layout.addLayout(filters)
        layout.addWidget(self.status)
        layout.addWidget(self.view)

    def current_filter(self) -> JournalFilter:
        since = None
        if self.since_on.isChecked():
            day = self.since.date().toPython()
            since = dt.datetime.combine(day, dt.time()).astimezone().astimezone(dt.timezone.utc)  # local midnight
        return JournalFilter(
            rollout_id=self.rollout_id if self.scope.currentData() == "rollout" else None,
            kind=self.kind.currentData(),
            since=since,
            text=self.text.text(),
        )

    def reload(self) -> None:
        """Re-read the rollout names and the kinds there are, then the entries."""
        workspace = self.document.workspace
        if workspace is None:
            self.model.set_source(None)
            self._on_page(0)
            return
        with workspace.session() as session:
            self.rollout_names = dict(session.execute(select(Rollout.id, Rollout.name)).all())
            kinds = list(session.scalars(select(JournalEntry.kind).distinct()))
        self._fill_kinds(kinds)
        self.apply_filter()

    def _fill_kinds(self, kinds: list[str]) -> None:
        chosen = self.kind.currentData()
        self.kind.blockSignals(True)  # one reload at the end, not one per item
        self.kind.clear()
        self.kind.addItem("All kinds", None)
        for label, value in kind_choices(kinds):
            self.kind.addItem(label, value)
        self.kind.setCurrentIndex(max(self.kind.findData(chosen), 0))
        self.kind.blockSignals(False)

    def apply_filter(self) -> None:
        self._text_timer.stop()
        workspace = self.document.workspace
        if workspace is None:
            return
        name = self.rollout_names.get(self.rollout_id) if self.rollout_id is not None else None
        self.scope.setItemText(0, f"This rollout: {name}" if name else "This rollout")
        where = self.current_filter()
        self.view.setColumnHidden(4, where.rollout_id is not None)  # one rollout: its name on every row says nothing
        if self.scope.currentData() == "rollout" and self.rollout_id is None:
            self.model.set_source(None)
            self._on_page(0)
            return
        self.shown.setText("loading…")
        self.model.set_source(lambda cursor, limit: fetch_entries(workspace, where, cursor, limit))

    def _on_page(self, _count: int) -> None:
        rows = self.model.rowCount()
        more = "+" if not self.model.complete else ""
        self.shown.setText(f"{rows}{more} entr{'y' if rows == 1 and not more else 'ies'}")
        if rows <= self.model.page_size:
            fit_columns(self.view)

    def _on_load_failed(self, message: str) -> None:
        self.shown.setText("")
        self.status.setText(message)
        self.status.show()

    def _forget_workspace(self) -> None:
        self.model.stop()
        if self.export_task is not None:
            self.export_task.cancel()
            self.export_task.wait(10)
            self.export_task = None
            self.export_button.setEnabled(True)

    # --- export -----------------------------------------------------------------------------------------------
    def export_dialog(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        rollout_id = self.current_filter().rollout_id
        name = f"{self.rollout_names.get(rollout_id, 'rollout')} journal" if rollout_id is not None else "journal"
        path, _filter = QFileDialog.getSaveFileName(self, "Export the journal entries shown",
                                                    str(Path.home() / f"{name}.csv"),
                                                    "CSV files (*.csv);;All files (*)")
        if path:
            self.export_csv(Path(path))

    def export_csv(self, path: Path) -> None:
        """Write the entries the filters let through (all of them, not only the pages shown) in the background."""
        workspace = self.document.workspace
        if workspace is None or self.export_task is not None:
            return
        self.export_button.setEnabled(False)
        self.status.setText(f"Exporting to {path}…")
        self.status.show()
        self.export_task = run_task(export_csv, workspace, self.current_filter(), path,
                                    on_done=lambda count: self._exported(path, count),
                                    on_error=self._export_error)

    def _exported(self, path: Path, count: int) -> None:
        self.export_task = None
        self.export_button.setEnabled(True)
        self.status.setText(f"Wrote {count} journal entr{'y' if count == 1 else 'ies'} to {path}.")
        self.exported.emit(str(path), count)

    def _export_error(self, exc: BaseException) -> None:
        self.export_task = None
        self.export_button.setEnabled(True)
        message = f"The journal was not exported: {exc}"
        self.status.setText(message)
        self.export_failed.emit(message)
