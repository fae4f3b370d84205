"""Writing the plan PDF: each text section laid out by a QTextDocument, the timeline painted, all on one QPdfWriter.

Text sections are portrait pages, the timeline landscape ones; every page gets the same header (rollout name,
section) and footer (generated time, "Page x of y"). Every page is laid out before the first one is painted,
so the total is known. The file is written next to the target under a temporary name and moved into place
at the end: a failed or cancelled export leaves no half-written PDF and never spoils an existing one.
Needs a QGuiApplication (fonts); :func:`ensure_gui_application` makes an offscreen one for the command line.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import shiboken6
from PySide6.QtCore import QCoreApplication, QMarginsF, QPointF, QRectF, QSizeF, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontDatabase,
    QGuiApplication,
    QPageLayout,
    QPageSize,
    QPainter,
    QPdfWriter,
    QTextBlockFormat,
    QTextCursor,
    QTextDocument,
    QTextFormat,
)

from launchdesk import APP_NAME, __version__
from launchdesk.export.chart import ChartTile, TimelineChart
from launchdesk.export.html import render_section, stylesheet, when_text
from launchdesk.export.plan import SECTION_TITLES, ExportError, ExportOptions, PlanExport, read_plan
from launchdesk.journal import current_user
from launchdesk.models import Rollout, utcnow
from launchdesk.workspace import Workspace

RESOLUTION = 600  # dots per inch of the PDF's coordinate space; text and lines are vectors at any zoom
FONT_FAMILY = "DejaVu Sans"  # embeds cleanly and covers ✓ ☐ ⚠ ◂ ▸; the system font stands in when missing
BODY_SIZE = 9.0
SIDE_MARGIN = 48.0  # points
HEADER_TOP = 30.0
BODY_TOP = 62.0
BODY_BOTTOM = 54.0  # from the page's bottom edge
FOOTER_BOTTOM = 30.0
KEEP_TOGETHER_MAX = 0.6  # a headed group longer than this share of a page may break across pages
PAGE_SIZE_IDS = {"A4": QPageSize.PageSizeId.A4, "Letter": QPageSize.PageSizeId.Letter}
RULE = QColor("#aab3c0")
MUTED = QColor("#5a6473")

Progress = Callable[["ExportProgress"], None]


class ExportCancelled(Exception):
    """The user cancelled the export; nothing was written."""


@dataclass(frozen=True)
class ExportProgress:
    fraction: float  # 0 to 1
    text: str


@dataclass(frozen=True)
class ExportResult:
    path: Path
    pages: int


@dataclass
class _Page:
    section: str
    landscape: bool
    document: QTextDocument | None = None  # a text page: which page of this document
    index: int = 0
    tile: ChartTile | None = None


def ensure_gui_application() -> QGuiApplication:
    """The running QGuiApplication, or a new one on the offscreen platform (unless QT_QPA_PLATFORM says
    otherwise) for a process without a window. Call it on the main thread and keep the result."""
    app = QCoreApplication.instance()
    if isinstance(app, QGuiApplication):
        return app
    if app is not None:
        raise ExportError("The PDF export needs a QGuiApplication, but a plain QCoreApplication is running.")
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    return QGuiApplication([sys.argv[0] if sys.argv and sys.argv[0] else APP_NAME])


def export_plan(
    workspace: Workspace,
    rollout_id: int,
    path: str | os.PathLike[str],
    options: ExportOptions | None = None,
    *,
    now: dt.datetime | None = None,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> ExportResult:
    """Write the rollout's plan to ``path``; safe to run in a worker thread (it opens its own session)."""
    options = options or ExportOptions()
    cancelled = cancelled or (lambda: False)
    report = progress or (lambda _p: None)
    report(ExportProgress(0.0, "Reading the plan…"))
    with workspace.session() as session:
        rollout = session.get(Rollout, rollout_id)
        if rollout is None:
            raise ExportError("That rollout is no longer in the workspace.")
        plan = read_plan(session, rollout, options, now=now or utcnow(), cancelled=cancelled)
        author = rollout.owner.strip() or current_user()
    if cancelled():
        raise ExportCancelled("The export was cancelled; nothing was written.")
    return write_plan_pdf(plan, options, path, author=author, progress=report, cancelled=cancelled)


def write_plan_pdf(
    plan: PlanExport,
    options: ExportOptions,
    path: str | os.PathLike[str],
    *,
    author: str,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> ExportResult:
    """Lay out and paint ``plan`` into a PDF at ``path``."""
    if not isinstance(QCoreApplication.instance(), QGuiApplication):
        raise ExportError("The PDF export needs a QGuiApplication (see ensure_gui_application).")
    target = Path(path)
    if not target.parent.is_dir():
        raise ExportError(f"The folder {target.parent} does not exist.")
    partial = target.with_name(f".{target.name}.part")
    partial.touch()  # a folder that cannot be written to fails here, with the reason, before any work
    try:
        pages = _write(plan, options, partial, author, progress or (lambda _p: None), cancelled or (lambda: False))
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return ExportResult(target, pages)


def _write(plan: PlanExport, options: ExportOptions, path: Path, author: str, report: Progress,
           cancelled: Callable[[], bool]) -> int:
    """Paint every page into ``path``; the writer is gone (the file closed) when this returns."""
    writer = QPdfWriter(str(path))
    painter = QPainter()
    try:
        writer.setResolution(RESOLUTION)
        writer.setTitle(f"{plan.rollout_name}: rollout plan")
        writer.setAuthor(author)
        writer.setCreator(f"{APP_NAME} {__version__}")
        page_size = QPageSize(PAGE_SIZE_IDS[options.page_size])
        writer.setPageLayout(QPageLayout(page_size, QPageLayout.Orientation.Portrait, QMarginsF()))
        layout = _Layout(plan, options, writer, page_size)
        report(ExportProgress(0.25, "Laying out the pages…"))
        pages = layout.pages()
        writer.setPageOrientation(_orientation(pages[0].landscape))
        if not painter.begin(writer):
            raise OSError("The PDF file could not be opened for writing.")
        for number, page in enumerate(pages, start=1):
            if cancelled():
                raise ExportCancelled("The export was cancelled; nothing was written.")
            if number > 1:
                writer.setPageOrientation(_orientation(page.landscape))
                writer.newPage()
            layout.paint(painter, page, number, len(pages))
            report(ExportProgress(0.25 + 0.75 * number / len(pages), f"Page {number} of {len(pages)}"))
    finally:
        if painter.isActive():
            painter.end()
        # Now and in this thread: the writer and its text documents are in reference cycles, and the garbage
        # collector would free them later on whichever thread it runs, where their timers cannot be stopped.
        shiboken6.delete(writer)
    return len(pages)


def _keep_headed_groups_together(document: QTextDocument) -> None:
    """Move a heading to the next page when the page break would cut its group (the heading and what follows
    it up to the next heading: a cohort, a decision with its gate snapshot) and the group fits on one page.

    QTextDocument has no "keep together"; a page break before the heading's block is the tool it offers.
    """
    layout = document.documentLayout()
    page = document.pageSize().height()
    starts = []
    block = document.begin()
    while block.isValid():
        if block.blockFormat().headingLevel() in (2, 3):
            starts.append(block)
        block = block.next()
    for index, start in enumerate(starts):
        top = layout.blockBoundingRect(start).top()
        end = (layout.blockBoundingRect(starts[index + 1]).top() if index + 1 < len(starts)
               else layout.documentSize().height())
        first_page = int(top // page)
        if first_page != int((end - 1) // page) and end - top <= page * KEEP_TOGETHER_MAX and top % page > 1:
            keep = QTextBlockFormat()
            keep.setPageBreakPolicy(QTextFormat.PageBreakFlag.PageBreak_AlwaysBefore)
            QTextCursor(start).mergeBlockFormat(keep)
            document.pageCount()  # lays the rest out again before the next group is measured


def _orientation(landscape: bool) -> QPageLayout.Orientation:
    return QPageLayout.Orientation.Landscape if landscape else QPageLayout.Orientation.Portrait


class _Layout:
    """The pages of one export: text documents paginated on portrait pages, chart tiles on landscape ones."""

    def __init__(self, plan: PlanExport, options: ExportOptions, writer: QPdfWriter, page_size: QPageSize) -> None:
        self.plan = plan
        self.options = options
        self.writer = writer
        self.k = RESOLUTION / 72.0  # device pixels per point
        self.portrait = page_size.size(QPageSize.Unit.Point)
        self.font = QFont(FONT_FAMILY if FONT_FAMILY in QFontDatabase.families()
                          else QFontDatabase.systemFont(QFontDatabase.SystemFont.GeneralFont).family())
        self.font.setPointSizeF(BODY_SIZE)
        # Without ligatures "workflow" stays six letters in the PDF's text, so search and copy find it.
        self.font.setFeature(QFont.Tag("liga"), 0)
        self.css = stylesheet()
        self.chart: TimelineChart | None = None
        self.generated = when_text(plan.generated_at, plan.hours.zone)

    def page_points(self, landscape: bool) -> QSizeF:
        return self.portrait.transposed() if landscape else self.portrait

    def body(self, landscape: bool) -> QRectF:
        """The area between header and footer, in points."""
        size = self.page_points(landscape)
        return QRectF(SIDE_MARGIN, BODY_TOP, size.width() - 2 * SIDE_MARGIN, size.height() - BODY_TOP - BODY_BOTTOM)

    def pages(self) -> list[_Page]:
        pages: list[_Page] = []
        for section in self.options.sections:
            if section == "timeline":
                self.chart = TimelineChart(self.plan.phases, self.plan.hours, self.plan.generated_at,
                                           self.body(landscape=True), self.font)
                pages += [_Page(section, True, tile=tile) for tile in self.chart.tiles]
                continue
            document = self.document(render_section(section, self.plan))
            pages += [_Page(section, False, document=document, index=i) for i in range(document.pageCount())]
        return pages

    def document(self, html: str) -> QTextDocument:
        document = QTextDocument(self.writer)  # owned by the writer: freed with it, never after it
        document.documentLayout().setPaintDevice(self.writer)  # lay text out at the PDF's resolution
        document.setDefaultFont(self.font)
        document.setDefaultStyleSheet(self.css)
        document.setDocumentMargin(0)
        document.setHtml(html)
        body = self.body(landscape=False)
        document.setPageSize(QSizeF(body.width() * self.k, body.height() * self.k))
        _keep_headed_groups_together(document)
        return document

    def paint(self, painter: QPainter, page: _Page, number: int, total: int) -> None:
        self.decorate(painter, page, number, total)
        if page.tile is not None:
            assert self.chart is not None
            self.chart.paint(painter, page.tile)
            return
        assert page.document is not None
        body = self.body(landscape=False)
        height = page.document.pageSize().height()
        painter.save()
        painter.translate(body.left() * self.k, body.top() * self.k - page.index * height)
        page.document.drawContents(painter, QRectF(0, page.index * height, page.document.pageSize().width(), height))
        painter.restore()

    def decorate(self, painter: QPainter, page: _Page, number: int, total: int) -> None:
        """The header (rollout name, section) and footer (generated time, page x of y)."""
        size = self.page_points(page.landscape)
        k = self.k
        width = size.width() - 2 * SIDE_MARGIN
        painter.save()
        small = QFont(self.font)
        small.setPointSizeF(7.5)
        bold = QFont(small)
        bold.setBold(True)
        left, right = Qt.AlignmentFlag.AlignLeft, Qt.AlignmentFlag.AlignRight
        bottom = Qt.AlignmentFlag.AlignBottom
        header = QRectF(SIDE_MARGIN * k, HEADER_TOP * k, width * k, 14 * k)
        painter.setPen(QColor("#1d2330"))
        painter.setFont(bold)
        name_width = width * 0.7 * k
        painter.drawText(QRectF(header.left(), header.top(), name_width, header.height()), int(left | bottom),
                         painter.fontMetrics().elidedText(self.plan.rollout_name, Qt.TextElideMode.ElideRight,
                                                          int(name_width)))
        painter.setFont(small)
        painter.setPen(MUTED)
        painter.drawText(header, int(right | bottom), SECTION_TITLES[page.section])
        footer = QRectF(SIDE_MARGIN * k, (size.height() - FOOTER_BOTTOM - 12) * k, width * k, 12 * k)
        painter.drawText(footer, int(left | Qt.AlignmentFlag.AlignTop),
                         f"{self.plan.feature_name} · generated {self.generated} ({self.plan.zone_name})")
        painter.setPen(QColor("#1d2330"))
        painter.drawText(footer, int(right | Qt.AlignmentFlag.AlignTop), f"Page {number} of {total}")
        painter.setPen(RULE)
        painter.drawLine(header.bottomLeft() + _down(3 * k), header.bottomRight() + _down(3 * k))
        painter.drawLine(footer.topLeft() - _down(4 * k), footer.topRight() - _down(4 * k))
        painter.restore()


def _down(pixels: float) -> QPointF:
    return QPointF(0, pixels)
