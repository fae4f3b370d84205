"""The tabs of the main window that show one part of the selected rollout, and what they share.

Each page loads when it is first shown and again when rows it shows change (``document.changed``), so
start-up pays only for the visible tab. Later work replaces a page's table with its real editor (the
timeline, the checklist board, the go/no-go panel, the message composer) without touching the window.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import ClassVar

from PySide6.QtCore import Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from launchdesk.models import DecisionKind, GateOutcome
from launchdesk.views.document import WorkspaceDocument
from launchdesk.planning.labels import ROLE_LABELS  # noqa: F401 - named here too for importers

DECISION_LABELS = {
    DecisionKind.GO: "Go",
    DecisionKind.NO_GO: "No-go",
    DecisionKind.PAUSE: "Pause",
    DecisionKind.ROLLBACK: "Rollback",
}
OUTCOME_COLORS = {GateOutcome.PASS: "#1b7f3b", GateOutcome.FAIL: "#b3261e", GateOutcome.INCONCLUSIVE: "#8a6d00"}


class RolloutPage(QWidget):
    """A tab about the selected rollout: reloads when shown after a change of rollout or of its rows."""

    reload_on: ClassVar[frozenset[str]] = frozenset()  # the change kinds (table names) this page shows

    def __init__(self, document: WorkspaceDocument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.rollout_id: int | None = None
        self._stale = True
        document.changed.connect(self._on_changed)

    def set_rollout(self, rollout_id: int | None) -> None:
        self.rollout_id = rollout_id
        self.invalidate()

    def invalidate(self) -> None:
        self._stale = True
        if self.isVisible():
            self._refresh()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._stale:
            self._refresh()

    def _on_changed(self, kind: str, _row_id: int) -> None:
        if kind == "*" or kind in self.reload_on or "*" in self.reload_on:
            self.invalidate()

    def _refresh(self) -> None:
        self._stale = False
        self.reload()

    def load_now(self) -> None:
        """Load now if a change (or a new rollout) is not shown yet: before selecting a row from elsewhere in a page
        that has not been on screen since."""
        if self._stale:
            self._refresh()

    def reload(self) -> None:
        raise NotImplementedError


class PageSlot(QWidget):
    """A tab's place in the main window: it makes its page, importing the page's module, when first needed.

    Start-up then imports and builds only the tab that is shown; the others cost nothing until opened.
    ``page`` makes the page on demand (menus and tests may reach a page before its tab is shown).
    """

    created = Signal(object)  # the page, once made

    def __init__(self, document: WorkspaceDocument, where: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.where = where  # "module:Class" under launchdesk.views
        self._page: RolloutPage | None = None
        self._rollout_id: int | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)

    @property
    def made(self) -> bool:
        return self._page is not None

    @property
    def page(self) -> RolloutPage:
        if self._page is None:
            module, name = self.where.split(":")
            page_class: Callable[[WorkspaceDocument], RolloutPage] = getattr(
                import_module(f"launchdesk.views.{module}"), name
            )
            page = page_class(self.document)
            self._page = page
            page.set_rollout(self._rollout_id)
            self.layout().addWidget(page)
            if self.isVisible():
                page.show()  # now, not on the layout's queued show: the tab must not paint empty
            self.created.emit(page)
        return self._page

    def set_rollout(self, rollout_id: int | None) -> None:
        self._rollout_id = rollout_id
        if self._page is not None:
            self._page.set_rollout(rollout_id)

    def showEvent(self, event: QShowEvent) -> None:
        self.page  # noqa: B018 - made on first show
        super().showEvent(event)


def section(title: str, widget: QWidget) -> QWidget:
    """A titled block inside a page."""
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(4)
    label = QLabel(title)
    font = label.font()
    font.setBold(True)
    label.setFont(font)
    layout.addWidget(label)
    layout.addWidget(widget)
    return box


def offset_text(minutes: int) -> str:
    """A checklist offset as people say it: "48 h before", "day of", "3 days after"."""
    if minutes == 0:
        return "at phase start"
    hours, rest = divmod(abs(minutes), 60)
    when = "before" if minutes < 0 else "after"
    if rest:
        return f"{hours} h {rest} min {when}" if hours else f"{rest} min {when}"
    if hours >= 72 and hours % 24 == 0:
        return f"{hours // 24} days {when}"
    return f"{hours} h {when}"
