"""Small widgets the pages share: table views over our models, cell editors, a text box that commits on leave."""

from __future__ import annotations

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QPersistentModelIndex, Signal
from PySide6.QtGui import QFocusEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDateTimeEdit,
    QDoubleSpinBox,
    QHeaderView,
    QPlainTextEdit,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QWidget,
)

from launchdesk.views.item_models import Column, PagedTableModel, RecordTableModel


class ColumnDelegate(QStyledItemDelegate):
    """Makes the editor a column asks for: a 0–100 % spin box, a date-time editor, or plain text."""

    def createEditor(self, parent: QWidget, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QWidget:
        column: Column = index.model().columns[index.column()]  # type: ignore[attr-defined]
        if column.editor == "percent":
            spin = QDoubleSpinBox(parent)
            spin.setRange(0.0, 100.0)
            spin.setDecimals(2)
            spin.setSuffix(" %")
            return spin
        if column.editor == "datetime":
            edit = QDateTimeEdit(parent)
            edit.setDisplayFormat("yyyy-MM-dd HH:mm")
            edit.setCalendarPopup(True)
            return edit
        return super().createEditor(parent, option, index)


def table_view(model: RecordTableModel | PagedTableModel, *, stretch: int | None = None) -> QTableView:
    """A table view as every page shows one: row selection, no grid clutter, the given column stretched."""
    view = QTableView()
    view.setModel(model)
    view.setItemDelegate(ColumnDelegate(view))
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setAlternatingRowColors(True)
    view.setShowGrid(False)
    view.setWordWrap(False)
    view.setEditTriggers(
        QAbstractItemView.EditTrigger.DoubleClicked
        | QAbstractItemView.EditTrigger.EditKeyPressed
        | QAbstractItemView.EditTrigger.AnyKeyPressed
    )
    view.verticalHeader().setVisible(False)
    view.verticalHeader().setDefaultSectionSize(view.fontMetrics().height() + 10)
    header = view.horizontalHeader()
    header.setHighlightSections(False)
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    header.setStretchLastSection(stretch is None)
    if stretch is not None:
        header.setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)
    return view


MAX_COLUMN_WIDTH = 240


def fit_columns(view: QTableView, max_width: int = MAX_COLUMN_WIDTH) -> None:
    """Size the columns to their contents once rows are in, none wider than ``max_width`` (long text is
    elided and shown whole in the tooltip); a stretched column takes the room that is left."""
    header = view.horizontalHeader()
    model: QAbstractItemModel = view.model()
    for column in range(model.columnCount()):
        if header.sectionResizeMode(column) != QHeaderView.ResizeMode.Stretch:
            view.resizeColumnToContents(column)
            header.resizeSection(column, min(header.sectionSize(column), max_width))


class CommitTextEdit(QPlainTextEdit):
    """A multi-line text box that, like QLineEdit, reports ``editingFinished`` when the user leaves it."""

    editingFinished = Signal()

    def set_text_unless_editing(self, text: str) -> None:
        if not self.document().isModified() and self.toPlainText() != text:
            self.setPlainText(text)
            self.document().setModified(False)

    def focusOutEvent(self, event: QFocusEvent) -> None:
        super().focusOutEvent(event)
        if self.document().isModified():
            self.editingFinished.emit()
            self.document().setModified(False)
