"""Import accounts from a CSV file: preview it, map its columns, import in the background with progress and Cancel.

The mapping starts from ``ColumnMapping.guess``; every column not mapped to the id, name or e-mails becomes
a context property of the same name. The import itself is ``launchdesk.accounts.importer``: one transaction,
so Cancel leaves the accounts exactly as they were.
"""

from __future__ import annotations

import csv
import io
import logging
import threading
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from launchdesk.views.document import WorkspaceDocument
from launchdesk.views.tasks import TaskHandle, run_task
from launchdesk.workspace import Workspace

log = logging.getLogger(__name__)

PREVIEW_ROWS = 8
PREVIEW_BYTES = 256 * 1024  # enough for the header and a few rows, whatever the file's size
NONE = "(none)"
ACCOUNT_ID = "(the account id)"


def read_preview(path: Path) -> tuple[list[str], list[list[str]]]:
    """The header and the first rows of a CSV file, read leniently: a preview, not the import's judgement."""
    with path.open("rb") as f:
        head = f.read(PREVIEW_BYTES)
    text = head.decode("utf-8-sig", errors="replace")
    previous = csv.field_size_limit(PREVIEW_BYTES)
    try:
        rows = []
        reader = csv.reader(io.StringIO(text))
        for row in reader:
            rows.append(row)
            if len(rows) > PREVIEW_ROWS:
                break
    except csv.Error:
        pass  # a broken quote in the preview; the import reports the line
    finally:
        csv.field_size_limit(previous)
    if not rows:
        return [], []
    return [h.strip() for h in rows[0]], rows[1:]


def import_task(
    progress: Any, cancelled: Any, workspace: Workspace, path: Path, mapping: Any, stop: threading.Event
) -> Any:
    from launchdesk.accounts.importer import import_accounts

    return import_accounts(
        workspace, path, mapping,
        progress=lambda done, total: progress((done, total)),
        # Cancel is the dialog's own event, not the task's, so the ImportCancelled still reaches the dialog.
        cancelled=lambda: stop.is_set() or cancelled(),
    )


class ImportAccountsDialog(QDialog):
    def __init__(self, document: WorkspaceDocument, parent: QWidget | None = None, path: Path | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Import accounts")
        self.document = document
        self.header: list[str] = []
        self.task: TaskHandle | None = None
        self.report: Any = None  # the ImportReport once an import finished
        self._guess: Any = None  # ColumnMapping.guess of the file's header: the name columns not shown here
        self._stop = threading.Event()

        self.path = QLineEdit()
        self.path.setPlaceholderText("a CSV file with a header row: account id, name, e-mail, attributes…")
        self.path.editingFinished.connect(lambda: self.load(Path(self.path.text().strip())))
        browse = QPushButton("&Choose…")
        browse.clicked.connect(self.choose_file)
        file_row = QHBoxLayout()
        file_row.addWidget(self.path, 1)
        file_row.addWidget(browse)

        self.preview = QTableWidget()
        self.preview.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.preview.verticalHeader().setVisible(False)
        self.preview.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.preview.setAlternatingRowColors(True)
        self.preview.setWordWrap(False)

        self.id_column = QComboBox()
        self.name_column = QComboBox()
        self.email_columns = QListWidget()
        self.email_columns.setMaximumHeight(self.fontMetrics().height() * 5)
        self.stickiness = QComboBox()
        self.stickiness.setToolTip("The value the flag platform sees as the user id, when it is not the account id")
        self.properties = QLabel()
        self.properties.setWordWrap(True)
        self.properties.setEnabled(False)
        for combo in (self.id_column, self.name_column, self.stickiness):
            combo.currentIndexChanged.connect(self._show_properties)
        self.email_columns.itemChanged.connect(self._show_properties)
        mapping = QFormLayout()
        mapping.addRow("Account &id column", self.id_column)
        mapping.addRow("&Name column", self.name_column)
        mapping.addRow("&E-mail columns", self.email_columns)
        mapping.addRow("&Stickiness id", self.stickiness)
        mapping.addRow("", self.properties)

        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.hide()
        self.status = QLabel()
        self.status.setObjectName("importStatus")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.rejects = QPlainTextEdit()
        self.rejects.setReadOnly(True)
        self.rejects.setMaximumHeight(self.fontMetrics().lineSpacing() * 5 + 12)
        self.rejects.hide()

        self.import_button = QPushButton("&Import")
        self.import_button.setDefault(True)
        self.import_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Close")
        self.cancel_button.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addWidget(self.progress, 1)
        buttons.addStretch(0)
        buttons.addWidget(self.import_button)
        buttons.addWidget(self.cancel_button)

        layout = QVBoxLayout(self)
        layout.addLayout(file_row)
        layout.addWidget(self.preview, 1)
        layout.addLayout(mapping)
        layout.addWidget(self.status)
        layout.addWidget(self.rejects)
        layout.addLayout(buttons)
        self.resize(820, 600)
        self._set_mapping_enabled(False)
        if path is not None:
            self.load(path)

    # --- the file and its mapping ------------------------------------------------------------------------------
    def choose_file(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        start = self.path.text().strip() or str(Path.home())
        path, _filter = QFileDialog.getOpenFileName(self, "Import accounts from", start,
                                                    "CSV files (*.csv *.txt);;All files (*)")
        if path:
            self.load(Path(path))

    def load(self, path: Path) -> None:
        if self.task is not None:
            return
        self.path.setText(str(path))
        self.report = None
        self.rejects.hide()
        try:
            header, rows = read_preview(path)
        except OSError as exc:
            self._fail(f"Cannot read {path.name}: {exc.strerror or exc}")
            return
        if not header:
            self._fail(f"{path.name} is empty.")
            return
        from launchdesk.accounts.importer import ColumnMapping

        self.header = header
        guess = ColumnMapping.guess(header)
        self.preview.clear()
        self.preview.setColumnCount(len(header))
        self.preview.setHorizontalHeaderLabels(header)
        self.preview.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, value in enumerate(row[: len(header)]):
                self.preview.setItem(r, c, QTableWidgetItem(value[:200]))
        self.preview.resizeColumnsToContents()
        for combo, first, chosen in (
            (self.id_column, [], guess.id_column),
            (self.name_column, [NONE], guess.name_column or NONE),
            (self.stickiness, [ACCOUNT_ID], ACCOUNT_ID),
        ):
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(first + header)
            combo.setCurrentText(chosen)
            combo.blockSignals(False)
        self.email_columns.blockSignals(True)
        self.email_columns.clear()
        for column in header:
            item = QListWidgetItem(column)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if column in guess.email_columns else Qt.CheckState.Unchecked)
            self.email_columns.addItem(item)
        self.email_columns.blockSignals(False)
        self._guess = guess
        self._set_mapping_enabled(True)
        self._show_properties()
        self._say(f"{len(header)} columns; the first {len(rows)} rows are shown. Check the mapping, then Import.")

    def _fail(self, message: str) -> None:
        self.header = []
        self.preview.clear()
        self.preview.setRowCount(0)
        self.preview.setColumnCount(0)
        self._set_mapping_enabled(False)
        self._say(message)

    def _set_mapping_enabled(self, enabled: bool) -> None:
        for widget in (self.id_column, self.name_column, self.email_columns, self.stickiness, self.import_button):
            widget.setEnabled(enabled)

    def checked_emails(self) -> tuple[str, ...]:
        return tuple(
            self.email_columns.item(i).text() for i in range(self.email_columns.count())
            if self.email_columns.item(i).checkState() == Qt.CheckState.Checked
        )

    def mapping(self) -> Any:
        """The ColumnMapping the form describes."""
        from launchdesk.accounts.importer import ColumnMapping

        name = self.name_column.currentText()
        stickiness = self.stickiness.currentText()
        return ColumnMapping(
            id_column=self.id_column.currentText(),
            name_column=None if name == NONE else name,
            email_columns=self.checked_emails(),
            first_name_column=self._guess.first_name_column,
            last_name_column=self._guess.last_name_column,
            stickiness_field=None if stickiness == ACCOUNT_ID else stickiness,
        )

    def _show_properties(self, *_args: Any) -> None:
        if not self.header:
            return
        mapping = self.mapping()
        used = {mapping.id_column, mapping.name_column, *mapping.email_columns, mapping.first_name_column,
                mapping.last_name_column}
        rest = [h for h in self.header if h not in used]
        self.properties.setText(
            "Context properties (for flag constraints and cohort rules): " + (", ".join(rest) if rest else "none")
        )

    # --- the import -----------------------------------------------------------------------------------------
    def _say(self, text: str) -> None:
        self.status.setText(text)

    def start(self) -> None:
        workspace = self.document.workspace
        if workspace is None or self.task is not None or not self.header:
            return
        path = Path(self.path.text().strip())
        self._stop.clear()
        self.report = None
        self.rejects.hide()
        self._set_mapping_enabled(False)
        self.progress.setValue(0)
        self.progress.show()
        self.cancel_button.setText("Cancel")
        self._say(f"Importing {path.name}…")
        self.task = run_task(import_task, workspace, path, self.mapping(), self._stop, on_done=self._on_done,
                             on_error=self._on_error, on_progress=self._on_progress)

    def cancel_import(self) -> None:
        if self.task is not None and not self._stop.is_set():
            self._stop.set()
            self.cancel_button.setEnabled(False)
            self._say("Cancelling… nothing is changed until the import finishes.")

    def _on_progress(self, value: tuple[int, int]) -> None:
        done, total = value
        self.progress.setValue(round(1000 * done / max(total, 1)))

    def _finished(self) -> None:
        self.task = None
        self.progress.hide()
        self.cancel_button.setEnabled(True)
        self.cancel_button.setText("Close")
        self._set_mapping_enabled(True)

    def _on_done(self, report: Any) -> None:
        self._finished()
        self.report = report
        text = f"Imported: {report.imported:,} new, {report.updated:,} updated, {len(report.rejected):,} rejected."
        if report.rejects_path:
            text += f"\nRejected rows were written to {report.rejects_path}"
            lines = [f"line {r.line}: {r.reason}" for r in report.rejected[:200]]
            if len(report.rejected) > 200:
                lines.append(f"… and {len(report.rejected) - 200:,} more in the rejects file")
            self.rejects.setPlainText("\n".join(lines))
            self.rejects.show()
        self._say(text)
        self.document.changed.emit("account", 0)

    def _on_error(self, exc: BaseException) -> None:
        self._finished()
        from launchdesk.accounts.importer import ImportCancelled, ImportFailed

        if isinstance(exc, ImportCancelled | ImportFailed):
            self._say(str(exc))
        else:
            log.error("Account import failed", exc_info=(type(exc), exc, exc.__traceback__))
            self._say(f"The import failed and no account was changed: {exc}")

    def done(self, result: int) -> None:
        # Closing while importing means Cancel; the dialog goes once the import has rolled back.
        if self.task is not None:
            self.cancel_import()
            return
        super().done(result)
