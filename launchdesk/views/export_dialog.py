"""File ▸ Export plan as PDF…: the sections, message bodies, paper size and file, then the export in the background.

The export runs through ``run_task`` with a progress bar (a long plan has many pages); Cancel stops it between
pages and leaves no file behind. The export modules are imported when the export starts, not with the window.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from PySide6.QtCore import QLocale, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy import select

from launchdesk.export import PAGE_SIZES, SECTIONS
from launchdesk.models import Rollout
from launchdesk.views.document import WorkspaceDocument
from launchdesk.views.tasks import TaskHandle, run_task

log = logging.getLogger(__name__)

SECTION_LABELS = {
    "cover": "Cover: feature, owner, status, flag, key dates",
    "readiness": "Readiness answers and kill switch test",
    "cohorts": "Cohorts",
    "timeline": "Timeline chart",
    "gates": "Gates with latest values",
    "decisions": "Decision log",
    "checklists": "Checklists by phase and role",
    "comms": "Comms plan",
}


def _export(progress: Any, cancelled: Any, workspace: Any, rollout_id: int, path: Path, options: Any) -> Any:
    from launchdesk.export.pdf import export_plan

    return export_plan(workspace, rollout_id, path, options, progress=progress, cancelled=cancelled)


class ExportPlanDialog(QDialog):
    """Export one rollout's plan; ``exported`` says where the PDF went."""

    exported = Signal(str)

    def __init__(self, document: WorkspaceDocument, rollout_id: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.rollout_id = rollout_id
        self.task: TaskHandle | None = None
        workspace = document.workspace
        assert workspace is not None
        with workspace.engine.connect() as conn:
            table = Rollout.__table__
            name = conn.execute(select(table.c.name).where(table.c.id == rollout_id)).scalar_one()
        self.setWindowTitle(f"Export “{name}” as PDF")

        sections = QGroupBox("Sections")
        grid = QGridLayout(sections)
        self.section_boxes: dict[str, QCheckBox] = {}
        for index, section in enumerate(SECTIONS):
            box = QCheckBox(SECTION_LABELS[section])
            box.setChecked(True)
            box.toggled.connect(self._update_buttons)
            self.section_boxes[section] = box
            grid.addWidget(box, index % 4, index // 4)

        self.message_bodies = QCheckBox("Include message texts in the comms plan (recipients are never included)")
        self.page_size = QComboBox()
        self.page_size.addItems(PAGE_SIZES)
        us = QLocale().measurementSystem() == QLocale.MeasurementSystem.ImperialUSSystem
        self.page_size.setCurrentText("Letter" if us else "A4")
        folder = workspace.path.parent if workspace.path is not None else Path.home()
        self.path = QLineEdit(str(folder / f"{_file_name(name)} plan.pdf"))
        self.path.textChanged.connect(self._update_buttons)
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._choose_file)
        where = QHBoxLayout()
        where.addWidget(self.path, 1)
        where.addWidget(browse)
        self.open_when_done = QCheckBox("Open the PDF when it is written")
        self.open_when_done.setChecked(True)
        form = QFormLayout()
        form.addRow("Paper size:", self.page_size)
        form.addRow("Save as:", where)

        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.hide()
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.export_button = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.export_button.setDefault(True)
        self.buttons.accepted.connect(self.start_export)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(sections)
        layout.addWidget(self.message_bodies)
        layout.addLayout(form)
        layout.addWidget(self.open_when_done)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)
        # close(), a C++ slot, is disconnected when the dialog is deleted; closing a visible dialog rejects it.
        document.workspace_replaced.connect(self.close)  # the rollout's workspace is going away
        self._update_buttons()

    def chosen_sections(self) -> tuple[str, ...]:
        return tuple(s for s, box in self.section_boxes.items() if box.isChecked())

    def _update_buttons(self) -> None:
        running = self.task is not None
        self.export_button.setEnabled(not running and bool(self.chosen_sections()) and bool(self.path.text().strip()))

    def _choose_file(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        path, _filter = QFileDialog.getSaveFileName(self, "Save the plan as", self.path.text(), "PDF files (*.pdf)")
        if path:
            self.path.setText(path if path.lower().endswith(".pdf") else f"{path}.pdf")

    def start_export(self) -> None:
        from launchdesk.export.plan import ExportError, ExportOptions

        workspace = self.document.workspace
        if workspace is None or self.task is not None:
            return
        path = Path(self.path.text().strip()).expanduser()
        try:
            options = ExportOptions(sections=self.chosen_sections(), message_bodies=self.message_bodies.isChecked(),
                                    page_size=self.page_size.currentText())
        except ExportError as exc:
            self.status.setText(str(exc))
            return
        self.progress.setValue(0)
        self.progress.show()
        self.status.setText("Reading the plan…")
        self.task = run_task(_export, workspace, self.rollout_id, path, options,
                             on_done=self._done, on_error=self._failed, on_progress=self._progressed)
        self._update_buttons()

    def _progressed(self, step: Any) -> None:
        self.progress.setValue(round(step.fraction * 100))
        self.status.setText(step.text)

    def _done(self, result: Any) -> None:
        self.task = None
        self.exported.emit(str(result.path))
        if self.open_when_done.isChecked():
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(result.path)))
        self.accept()

    def _failed(self, exc: BaseException) -> None:
        self.task = None
        log.warning("PDF export failed: %s", exc, exc_info=(type(exc), exc, exc.__traceback__))
        self.progress.hide()
        self.status.setText(f"The PDF was not written: {exc}")
        self._update_buttons()

    def reject(self) -> None:
        if self.task is not None:  # stops between pages; the partial file is removed
            self.task.cancel()
            self.task = None
        super().reject()


def _file_name(name: str) -> str:
    """A rollout name made safe as a file name on every platform."""
    return re.sub(r'[\\/:*?"<>|\x00-\x1f]+', " ", name).strip() or "Rollout"
