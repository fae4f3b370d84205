"""Qt item models over domain rows: a small table of loaded rows, and a paged table that never loads it all.

``RecordTableModel`` shows a short list of rows (phases, cohorts, gates...) described by ``Column``s; an
editable column hands a parsed value to ``on_edit``, which pushes an undo command, so the model itself never
writes. ``PagedTableModel`` shows a table that may hold a million rows (accounts, the journal): it fetches
one page at a time in the background (``canFetchMore``/``fetchMore``) with a keyset cursor.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QDateTime,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor

from launchdesk.views.tasks import TaskHandle, run_task

Index = QModelIndex | QPersistentModelIndex

# What a page fetcher returns: the rows, and the cursor to continue after them (None: nothing more).
Page = tuple[list[Any], Any]
PageFetcher = Callable[[Any, int], Page]


@dataclass(frozen=True)
class Column:
    """One column: how a row shows, and for an editable column which domain field it sets and how."""

    title: str
    text: Callable[[Any], str]
    field: str | None = None  # the domain field an edit of this column sets
    edit_value: Callable[[Any], Any] | None = None  # what the editor starts with (default: the text)
    parse: Callable[[Any, Any], Any] | None = None  # (row, editor value) -> domain value; ValueError refuses
    editable: Callable[[Any], bool] | None = None  # per-row condition, e.g. preparation phases have no %
    editor: str = "text"  # "text", "percent" or "datetime": which editor the ColumnDelegate makes
    numeric: bool = False
    tooltip: Callable[[Any], str] | None = None
    color: Callable[[Any], str | None] | None = None  # a text colour name, e.g. for a failing gate


class _ColumnsModel(QAbstractTableModel):
    """A flat table of ``rows`` shown through ``columns``: the counts and headers both table models share."""

    rows: list[Any]
    columns: Sequence[Column]

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.columns[section].title
        return None


class RecordTableModel(_ColumnsModel):
    """A table over a short list of loaded rows (each with an ``id``)."""

    edit_refused = Signal(str)  # an edit the column could not accept, with the reason

    def __init__(
        self,
        columns: Sequence[Column],
        on_edit: Callable[[Any, str, Any], bool] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.columns = list(columns)
        self.rows: list[Any] = []
        self._on_edit = on_edit

    def set_rows(self, rows: Sequence[Any]) -> None:
        """Show new rows; when they are the same rows as before, update in place so selection survives."""
        rows = list(rows)
        if [r.id for r in rows] == [r.id for r in self.rows] and rows:
            self.rows = rows
            self.dataChanged.emit(self.index(0, 0), self.index(len(rows) - 1, len(self.columns) - 1))
            return
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()

    def row_of(self, row_id: int) -> int:
        return next((i for i, r in enumerate(self.rows) if r.id == row_id), -1)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row, column = self.rows[index.row()], self.columns[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.text(row)
        if role == Qt.ItemDataRole.EditRole:
            return column.edit_value(row) if column.edit_value else column.text(row)
        if role == Qt.ItemDataRole.ToolTipRole:  # the whole text, for cells elided to fit
            return column.tooltip(row) if column.tooltip else column.text(row)
        if role == Qt.ItemDataRole.TextAlignmentRole and column.numeric:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and column.color:
            name = column.color(row)
            return QColor(name) if name else None
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        flags = super().flags(index)
        if index.isValid() and self._is_editable(index):
            flags |= Qt.ItemFlag.ItemIsEditable
        return flags

    def _is_editable(self, index: Index) -> bool:
        column = self.columns[index.column()]
        if column.field is None or self._on_edit is None:
            return False
        return column.editable is None or column.editable(self.rows[index.row()])

    def setData(self, index: Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if role != Qt.ItemDataRole.EditRole or not index.isValid() or not self._is_editable(index):
            return False
        row, column = self.rows[index.row()], self.columns[index.column()]
        assert column.field is not None and self._on_edit is not None
        try:
            new_value = column.parse(row, value) if column.parse else value
        except ValueError as exc:
            self.edit_refused.emit(str(exc))
            return False
        if new_value == getattr(row, column.field):
            return False
        return self._on_edit(row, column.field, new_value)


class PagedTableModel(_ColumnsModel):
    """A read-only table filled page by page in the background; it holds only the pages fetched so far."""

    page_loaded = Signal(int)  # rows added by the page that just arrived
    load_failed = Signal(str)

    def __init__(self, columns: Sequence[Column], page_size: int = 200, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.columns = list(columns)
        self.page_size = page_size
        self.rows: list[Any] = []
        self._fetch: PageFetcher | None = None
        self._cursor: Any = None
        self._exhausted = True
        self._task: TaskHandle | None = None

    def set_source(self, fetch: PageFetcher | None) -> None:
        """Start over with another query (None: empty); the first page is fetched at once."""
        self.stop()
        self.beginResetModel()
        self.rows = []
        self._fetch = fetch
        self._cursor = None
        self._exhausted = fetch is None
        self.endResetModel()
        if fetch is not None:
            self.fetchMore()

    def stop(self) -> None:
        """Cancel the page being fetched and wait for its worker (it may hold a database connection)."""
        if self._task is not None:
            self._task.cancel()
            self._task.wait(10)
            self._task = None

    @property
    def loading(self) -> bool:
        return self._task is not None

    @property
    def complete(self) -> bool:
        return self._exhausted

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:
        return not parent.isValid() and not self._exhausted and self._task is None

    def fetchMore(self, parent: Index = QModelIndex()) -> None:
        if not self.canFetchMore(parent):
            return
        assert self._fetch is not None
        self._task = run_task(
            _fetch_page, self._fetch, self._cursor, self.page_size, on_done=self._add_page, on_error=self._failed
        )

    def _add_page(self, page: Page) -> None:
        self._task = None
        rows, self._cursor = page
        self._exhausted = self._cursor is None
        if rows:
            self.beginInsertRows(QModelIndex(), len(self.rows), len(self.rows) + len(rows) - 1)
            self.rows.extend(rows)
            self.endInsertRows()
        self.page_loaded.emit(len(rows))

    def _failed(self, exc: BaseException) -> None:
        self._task = None
        self._exhausted = True
        self.load_failed.emit(f"Could not load the rows: {exc}")

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        column = self.columns[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.text(self.rows[index.row()])
        if role == Qt.ItemDataRole.ToolTipRole:
            row = self.rows[index.row()]
            return column.tooltip(row) if column.tooltip else column.text(row)
        return None


def _fetch_page(_progress: Any, _cancelled: Any, fetch: PageFetcher, cursor: Any, limit: int) -> Page:
    return fetch(cursor, limit)


# The team's time zone of the open workspace (set by the document when a workspace opens): plan times are
# shown on the team's wall clock everywhere, as the timeline and the checklists show them.
_display_zone: dt.tzinfo | None = None


def set_display_zone(zone: dt.tzinfo | None) -> None:
    global _display_zone
    _display_zone = zone


def local_text(when: dt.datetime | None) -> str:
    """A UTC timestamp on the team's wall clock (the machine's when no team zone is known)."""
    return when.astimezone(_display_zone).strftime("%Y-%m-%d %H:%M") if when else ""


def to_qdatetime(when: dt.datetime) -> QDateTime:
    value = QDateTime.fromMSecsSinceEpoch(round(when.timestamp() * 1000))
    key = getattr(_display_zone, "key", None)
    if key:
        from PySide6.QtCore import QTimeZone

        value = value.toTimeZone(QTimeZone(key.encode()))
    return value


def from_qdatetime(value: QDateTime) -> dt.datetime:
    return dt.datetime.fromtimestamp(value.toMSecsSinceEpoch() / 1000, tz=dt.timezone.utc)


def percent_text(value: float | None) -> str:
    return "" if value is None else f"{value:g} %"
