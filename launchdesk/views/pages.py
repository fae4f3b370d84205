"""The tabs of the main window that show one part of the selected rollout, read-only for now.

Each page loads when it is first shown and again when rows it shows change (``document.changed``), so
start-up pays only for the visible tab. Later work replaces a page's table with its real editor (the
timeline, the checklist board, the go/no-go panel, the message composer) without touching the window.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, ClassVar

from PySide6.QtCore import Qt
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QLabel, QSplitter, QVBoxLayout, QWidget
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import contains_eager, selectinload

from launchdesk.models import (
    ChecklistItem,
    Decision,
    DecisionKind,
    Delivery,
    Gate,
    GateOutcome,
    JournalEntry,
    Message,
    MetricSample,
    Phase,
    Role,
)
from launchdesk.views.document import WorkspaceDocument
from launchdesk.views.item_models import Column, PagedTableModel, Page, RecordTableModel, local_text
from launchdesk.views.widgets import fit_columns, table_view

ROLE_LABELS = {
    Role.PMM: "PMM",
    Role.ENGINEERING: "Engineering",
    Role.SUPPORT: "Support",
    Role.CS: "Customer success",
    Role.SALES: "Sales",
    Role.MARKETING: "Marketing",
}
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
        if kind in self.reload_on or "*" in self.reload_on:
            self.invalidate()

    def _refresh(self) -> None:
        self._stale = False
        self.reload()

    def reload(self) -> None:
        raise NotImplementedError


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


class ChecklistPage(RolloutPage):
    reload_on = frozenset({"phase", "checklist_item"})

    def __init__(self, document: WorkspaceDocument, parent: QWidget | None = None) -> None:
        super().__init__(document, parent)
        self.model = RecordTableModel(
            [
                Column("Phase", lambda i: i.phase.name),
                Column("Role", lambda i: ROLE_LABELS.get(i.role, str(i.role))),
                Column("Item", lambda i: i.title, tooltip=lambda i: f"{i.title}\n{i.notes}".strip()),
                Column("Due", lambda i: local_text(i.due_at())),
                Column("When", lambda i: offset_text(i.offset_minutes)),
                Column(
                    "Done",
                    lambda i: f"✓ {i.done_by or ''}".strip() if i.done else "",
                    tooltip=lambda i: f"Done by {i.done_by or 'someone'} at {local_text(i.done_at)}" if i.done else "",
                ),
            ],
            parent=self,
        )
        self.view = table_view(self.model, stretch=2)
        layout = QVBoxLayout(self)
        layout.addWidget(self.view)

    def reload(self) -> None:
        items: list[ChecklistItem] = []
        workspace = self.document.workspace
        if workspace is not None and self.rollout_id is not None:
            with workspace.session() as session:
                items = list(
                    session.scalars(
                        select(ChecklistItem)
                        .join(ChecklistItem.phase)
                        .where(Phase.rollout_id == self.rollout_id)
                        .options(contains_eager(ChecklistItem.phase))
                        .order_by(Phase.position, ChecklistItem.offset_minutes, ChecklistItem.position)
                    )
                )
        self.model.set_rows(items)
        fit_columns(self.view)


@dataclasses.dataclass(frozen=True)
class GateRow:
    id: int
    gate: Gate
    latest: MetricSample | None


def criterion_text(gate: Gate) -> str:
    if gate.baseline_kind != "none":
        return f"{gate.comparison} {gate.threshold:g} × baseline"
    return f"{gate.comparison} {gate.threshold:g} {gate.unit}".rstrip()


def window_text(seconds: int) -> str:
    if seconds % 86400 == 0:
        return f"{seconds // 86400} d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds // 60} min"


def sample_value_text(row: GateRow) -> str:
    sample = row.latest
    if sample is None:
        return "no sample yet"
    if sample.value is None:
        return "no value"
    text = f"{sample.value:g} {row.gate.unit}".rstrip()
    if sample.baseline:
        text += f" (baseline {sample.baseline:g})"
    return text


class GatesPage(RolloutPage):
    reload_on = frozenset({"gate", "metric_sample", "decision", "phase"})

    def __init__(self, document: WorkspaceDocument, parent: QWidget | None = None) -> None:
        super().__init__(document, parent)
        self.gates = RecordTableModel(
            [
                Column("Gate", lambda r: r.gate.name, tooltip=lambda r: f"{r.gate.name}\n{r.gate.query}".strip()),
                Column("Passes when", lambda r: criterion_text(r.gate)),
                Column("Window", lambda r: window_text(r.gate.window_s)),
                Column("Latest value", sample_value_text, numeric=True),
                Column(
                    "Outcome",
                    lambda r: str(r.latest.outcome).capitalize() if r.latest else "Inconclusive",
                    color=lambda r: OUTCOME_COLORS[r.latest.outcome if r.latest else GateOutcome.INCONCLUSIVE],
                    tooltip=lambda r: r.latest.detail if r.latest else "No metric sample has been taken yet.",
                ),
                Column("Sampled", lambda r: local_text(r.latest.sampled_at) if r.latest else ""),
            ],
            parent=self,
        )
        self.decisions = RecordTableModel(
            [
                Column("Phase", lambda d: d.phase.name),
                Column("Decision", lambda d: DECISION_LABELS.get(d.kind, str(d.kind))),
                Column("By", lambda d: d.decided_by),
                Column("At", lambda d: local_text(d.decided_at)),
                Column("Gate override", lambda d: "yes" if d.overridden else ""),
                Column("Reason", lambda d: d.reason),
            ],
            parent=self,
        )
        self.gates_view = table_view(self.gates, stretch=0)
        self.decisions_view = table_view(self.decisions, stretch=5)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(section("Gates", self.gates_view))
        splitter.addWidget(section("Go/no-go decisions", self.decisions_view))
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

    def reload(self) -> None:
        gate_rows: list[GateRow] = []
        decisions: list[Decision] = []
        workspace = self.document.workspace
        if workspace is not None and self.rollout_id is not None:
            with workspace.session() as session:
                gates = list(
                    session.scalars(select(Gate).where(Gate.rollout_id == self.rollout_id).order_by(Gate.position))
                )
                latest_at = (
                    select(MetricSample.gate_id, func.max(MetricSample.sampled_at).label("at"))
                    .where(MetricSample.gate_id.in_([g.id for g in gates]))
                    .group_by(MetricSample.gate_id)
                    .subquery()
                )
                latest = {
                    s.gate_id: s
                    for s in session.scalars(
                        select(MetricSample).join(
                            latest_at,
                            and_(MetricSample.gate_id == latest_at.c.gate_id, MetricSample.sampled_at == latest_at.c.at),
                        )
                    )
                }
                gate_rows = [GateRow(g.id, g, latest.get(g.id)) for g in gates]
                decisions = list(
                    session.scalars(
                        select(Decision)
                        .join(Decision.phase)
                        .where(Phase.rollout_id == self.rollout_id)
                        .options(contains_eager(Decision.phase))
                        .order_by(Decision.decided_at.desc())
                    )
                )
        self.gates.set_rows(gate_rows)
        self.decisions.set_rows(decisions)
        fit_columns(self.gates_view)
        fit_columns(self.decisions_view)


@dataclasses.dataclass(frozen=True)
class MessageRow:
    id: int
    message: Message
    deliveries: dict[str, int]


def audience_text(row: MessageRow) -> str:
    if row.message.audience == "cohort":
        return row.message.cohort.name if row.message.cohort else "(cohort removed)"
    return row.message.audience.replace("_", " ")


def deliveries_text(row: MessageRow) -> str:
    return ", ".join(f"{count} {state}" for state, count in sorted(row.deliveries.items()))


class MessagesPage(RolloutPage):
    reload_on = frozenset({"message", "delivery", "phase", "cohort"})

    def __init__(self, document: WorkspaceDocument, parent: QWidget | None = None) -> None:
        super().__init__(document, parent)
        self.model = RecordTableModel(
            [
                Column("Message", lambda r: r.message.name, tooltip=lambda r: r.message.subject),
                Column("Phase", lambda r: r.message.phase.name),
                Column("To", audience_text),
                Column("Channel", lambda r: str(r.message.channel)),
                Column("Sends at", lambda r: local_text(send_time(r.message))),
                Column("State", lambda r: str(r.message.state).replace("_", " ")),
                Column("Approved by", lambda r: r.message.approved_by or ""),
                Column("Deliveries", deliveries_text),
            ],
            parent=self,
        )
        self.view = table_view(self.model, stretch=1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.view)

    def reload(self) -> None:
        rows: list[MessageRow] = []
        workspace = self.document.workspace
        if workspace is not None and self.rollout_id is not None:
            with workspace.session() as session:
                messages = list(
                    session.scalars(
                        select(Message)
                        .join(Message.phase)
                        .where(Phase.rollout_id == self.rollout_id)
                        .options(contains_eager(Message.phase), selectinload(Message.cohort))
                        .order_by(Phase.position, Message.send_offset_minutes, Message.id)
                    )
                )
                counts: dict[int, dict[str, int]] = {m.id: {} for m in messages}
                for message_id, state, count in session.execute(
                    select(Delivery.message_id, Delivery.state, func.count())
                    .where(Delivery.message_id.in_(list(counts)))
                    .group_by(Delivery.message_id, Delivery.state)
                ):
                    counts[message_id][str(state)] = count
                rows = [MessageRow(m.id, m, counts[m.id]) for m in messages]
        self.model.set_rows(rows)
        fit_columns(self.view)


def send_time(message: Message) -> dt.datetime:
    return message.phase.planned_start + dt.timedelta(minutes=message.send_offset_minutes)


class JournalPage(RolloutPage):
    """The journal of the selected rollout and of the workspace, newest first, fetched page by page."""

    reload_on = frozenset({"*"})  # every edit writes a journal entry

    def __init__(self, document: WorkspaceDocument, parent: QWidget | None = None) -> None:
        super().__init__(document, parent)
        self.model = PagedTableModel(
            [
                Column("When", lambda e: local_text(e.at)),
                Column("Who", lambda e: e.actor),
                Column("What", lambda e: e.kind),
                Column("Summary", lambda e: e.summary),
            ],
            parent=self,
        )
        self.view = table_view(self.model, stretch=3)
        self.model.page_loaded.connect(self._on_first_page)
        document.workspace_replaced.connect(self.model.stop)
        layout = QVBoxLayout(self)
        layout.addWidget(self.view)

    def reload(self) -> None:
        workspace = self.document.workspace
        if workspace is None:
            self.model.set_source(None)
            return
        rollout_id = self.rollout_id

        def fetch(cursor: Any, limit: int) -> Page:
            query = select(
                JournalEntry.id, JournalEntry.at, JournalEntry.actor, JournalEntry.kind, JournalEntry.summary
            )
            if rollout_id is not None:
                query = query.where(or_(JournalEntry.rollout_id == rollout_id, JournalEntry.rollout_id.is_(None)))
            if cursor is not None:
                at, entry_id = cursor
                query = query.where(or_(JournalEntry.at < at, and_(JournalEntry.at == at, JournalEntry.id < entry_id)))
            with workspace.session() as session:
                rows = list(session.execute(query.order_by(JournalEntry.at.desc(), JournalEntry.id.desc()).limit(limit)))
            return rows, ((rows[-1].at, rows[-1].id) if len(rows) == limit else None)

        self.model.set_source(fetch)

    def _on_first_page(self, _count: int) -> None:
        if self.model.rowCount() <= self.model.page_size:
            fit_columns(self.view)
