"""Undoable checklist edits: tick and untick, add, edit, reorder and delete items.

Like the field edits in ``launchdesk.views.commands``, each command writes the domain model in its own
committed transaction with a journal line, then tells the views through ``document.changed``; a write that
fails makes the command obsolete and reaches the user through ``document.edit_failed``. They build on
``WriteCommand``, as the plan editor's and the messages tab's commands do.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from launchdesk import journal
from launchdesk.models import ChecklistItem, Phase, Role, utcnow
from launchdesk.planning.checklists import ROLE_LABELS, describe_offset
from launchdesk.views.commands import RowGone, WriteCommand
from launchdesk.views.document import WorkspaceDocument

log = logging.getLogger(__name__)

ITEM_FIELDS = ("phase_id", "role", "offset_minutes", "title", "notes")


def _item(session: Session, item_id: int) -> ChecklistItem:
    item = session.get(ChecklistItem, item_id)
    if item is None:
        raise RowGone("This checklist item no longer exists.")
    return item


def _where(item: ChecklistItem) -> str:
    return f"“{item.title}” ({ROLE_LABELS[item.role]}, {item.phase.name})"


class ChecklistCommand(WriteCommand):
    kind = "checklist_item"

    def __init__(self, document: WorkspaceDocument, item_id: int, text: str) -> None:
        super().__init__(document, text)
        self.row_id = item_id

    def _read(self) -> ChecklistItem:
        """The item as it is now, with its phase loaded (for names and the rollout)."""
        assert self.document.workspace is not None, "edits need an open workspace"
        with self.document.workspace.session() as session:
            item = _item(session, self.row_id)
            self.rollout_id = item.phase.rollout_id  # loads the phase, so its name reads after the session closes
            return item


class TickItem(ChecklistCommand):
    """Tick an item (who and when are recorded) or untick it; undo puts back exactly what was there."""

    journal_kind = "checklist"

    def __init__(self, document: WorkspaceDocument, item_id: int, done: bool, *, by: str | None = None,
                 at: dt.datetime | None = None) -> None:
        super().__init__(document, item_id, "")
        item = self._read()
        self.old = (item.done_by, item.done_at)
        self.new = (by or journal.current_user(), at or utcnow()) if done else (None, None)
        self.setText(f"{'Tick' if done else 'Untick'} “{item.title}”")
        self.summary = (f"Done: {_where(item)}, by {self.new[0]}" if done
                        else f"Not done any more: {_where(item)}")

    def apply(self, session: Session, forward: bool) -> None:
        item = _item(session, self.row_id)
        item.done_by, item.done_at = self.new if forward else self.old


class AddItem(ChecklistCommand):
    """A new item at the end of its phase's list; redo after undo brings back the same row (same id)."""

    def __init__(self, document: WorkspaceDocument, phase_id: int, *, role: Role, offset_minutes: int, title: str,
                 notes: str = "") -> None:
        super().__init__(document, 0, f"Add “{title}”")
        assert document.workspace is not None, "edits need an open workspace"
        with document.workspace.session() as session:
            phase = session.get(Phase, phase_id)
            if phase is None:
                raise RowGone("This phase no longer exists.")
            self.rollout_id = phase.rollout_id
            last = session.scalar(select(func.max(ChecklistItem.position)).where(ChecklistItem.phase_id == phase_id))
            phase_name = phase.name
        self.values: dict[str, Any] = {"phase_id": phase_id, "role": role, "offset_minutes": offset_minutes,
                                       "title": title, "notes": notes, "position": (last or 0) + 1}
        self.summary = f"Added “{title}” ({ROLE_LABELS[role]}, {phase_name}, {describe_offset(offset_minutes)})"

    def apply(self, session: Session, forward: bool) -> None:
        if forward:
            self.add_row(session, ChecklistItem, self.values)
        else:
            session.delete(_item(session, self.row_id))


class EditItem(ChecklistCommand):
    """Change several fields of an item at once (what the item dialog edits)."""

    def __init__(self, document: WorkspaceDocument, item_id: int, changes: dict[str, Any]) -> None:
        super().__init__(document, item_id, "")
        unknown = set(changes) - set(ITEM_FIELDS)
        if unknown:
            raise ValueError(f"checklist item fields {sorted(unknown)} cannot be edited here")
        item = self._read()
        self.old = {field: getattr(item, field) for field in changes}
        self.new = dict(changes)
        self.setText(f"Edit “{item.title}”")
        labels = {"phase_id": "phase", "role": "role", "offset_minutes": "due", "title": "title", "notes": "notes"}
        changed = ", ".join(labels[f] for f in changes if self.old[f] != changes[f]) or "nothing"
        self.summary = f"Edited {changed} of {_where(item)}"

    def apply(self, session: Session, forward: bool) -> None:
        item = _item(session, self.row_id)
        for field, value in (self.new if forward else self.old).items():
            setattr(item, field, value)

    def details(self) -> dict[str, Any]:
        plain = {f: (v.value if isinstance(v, Role) else v) for f, v in self.new.items()}
        return {**super().details(), "to": plain}


class ReorderItems(ChecklistCommand):
    """New positions for some items of one phase (one move up or down)."""

    def __init__(self, document: WorkspaceDocument, item_id: int, positions: dict[int, int]) -> None:
        super().__init__(document, item_id, "")
        item = self._read()
        assert document.workspace is not None
        with document.workspace.session() as session:
            rows = session.execute(select(ChecklistItem.id, ChecklistItem.position)
                                   .where(ChecklistItem.id.in_(list(positions)))).all()
        self.old = {row.id: row.position for row in rows}
        if set(self.old) != set(positions):
            raise RowGone("A checklist item to reorder no longer exists.")
        self.new = dict(positions)
        self.setText(f"Move “{item.title}”")
        self.summary = f"Moved {_where(item)} in the list"

    def apply(self, session: Session, forward: bool) -> None:
        for item_id, position in (self.new if forward else self.old).items():
            _item(session, item_id).position = position


class DeleteItem(ChecklistCommand):
    """Delete an item; undo puts the same row back, done state and all."""

    def __init__(self, document: WorkspaceDocument, item_id: int) -> None:
        super().__init__(document, item_id, "")
        item = self._read()
        table = ChecklistItem.__table__
        assert document.workspace is not None
        with document.workspace.engine.connect() as conn:
            self.row = self.stored_row(conn, table, item_id, "This checklist item no longer exists.")
        self.setText(f"Delete “{item.title}”")
        self.summary = f"Deleted {_where(item)}"

    def apply(self, session: Session, forward: bool) -> None:
        table = ChecklistItem.__table__
        if forward:
            _item(session, self.row_id)  # refuse when it is already gone
            session.execute(delete(table).where(table.c.id == self.row_id))
        else:
            session.execute(insert(table).values(**self.row))
