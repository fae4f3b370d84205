"""Undoable edits of the domain model: each command changes one field of one row in its own transaction.

A command reads the current value when it is made, writes the new value on redo and the old one on undo,
each time in a committed transaction with a journal entry, then tells the views through
``document.changed``. Nothing is kept unsaved. Successive edits of the same field of the same row within a
few seconds (typing, nudging a percentage) merge into one undo step. A write that fails (a name already
used, the row deleted by someone else) makes the command obsolete, so it leaves the undo stack, and the
reason reaches the user through ``document.edit_failed``.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import TYPE_CHECKING, Any, ClassVar

from PySide6.QtGui import QUndoCommand

from launchdesk import journal
from launchdesk import models
from launchdesk.views.document import WorkspaceDocument

if TYPE_CHECKING:  # SQLAlchemy loads after the window's first paint
    from sqlalchemy import Connection, Table
    from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

MERGE_WINDOW_S = 3.0


class RowGone(Exception):
    """The row an edit refers to no longer exists (deleted from another window or machine)."""


class EditConflict(Exception):
    """Someone else changed the field since this edit was made (another window, or a teammate on a shared
    workspace): the edit is not applied, so nothing they wrote is silently overwritten."""


class EditFieldCommand(QUndoCommand):
    """Set one field of one row; subclasses name the table, the editable fields and how a row is named."""

    entity_name: ClassVar[str]  # the mapped class, by name: models load after the window's first paint

    @property
    def entity(self) -> type[models.Base]:
        return getattr(models, self.entity_name)  # type: ignore[no-any-return]
    kind: ClassVar[str]
    fields: ClassVar[dict[str, str]]  # field -> label the user reads
    merge_id: ClassVar[int]
    clock = staticmethod(time.monotonic)

    def __init__(self, document: WorkspaceDocument, row_id: int, field: str, value: Any) -> None:
        super().__init__()
        if field not in self.fields:
            raise ValueError(f"{self.kind}.{field} cannot be edited here")
        self.document = document
        self.row_id = row_id
        self.field = field
        self.new_value = value
        self.saved = False  # whether the last redo/undo reached the database
        self.at = self.clock()
        workspace = document.workspace
        assert workspace is not None, "edits need an open workspace"
        with workspace.session() as session:
            row = session.get(self.entity, row_id)
            if row is None:
                raise RowGone(f"This {self.kind} no longer exists.")
            self.old_value = getattr(row, field)
            self.row_name = self.describe(row)
        self.setText(f"Edit {self.fields[field]} of {self.row_name}")

    def describe(self, row: Any) -> str:
        return f"{self.kind} “{row.name}”"

    def rollout_id(self, row: Any) -> int:
        return row.rollout_id

    def id(self) -> int:
        return self.merge_id

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not (
            isinstance(other, type(self))
            and other.row_id == self.row_id
            and other.field == self.field
            and other.at - self.at <= MERGE_WINDOW_S
        ):
            return False
        self.new_value = other.new_value
        self.at = other.at
        # Edited back to where it started: nothing left to undo.
        self.setObsolete(self.new_value == self.old_value)
        return True

    def redo(self) -> None:
        self._write(self.old_value, self.new_value, "")

    def undo(self) -> None:
        self._write(self.new_value, self.old_value, "Undo: ")

    def _write(self, before: Any, after: Any, prefix: str) -> None:
        workspace = self.document.workspace
        try:
            assert workspace is not None
            with workspace.transaction() as session:
                row = session.get(self.entity, self.row_id)
                if row is None:
                    raise RowGone(f"{self.row_name} no longer exists.")
                current = getattr(row, self.field)
                if current != before:
                    raise EditConflict(
                        f"{self.fields[self.field]} of {self.row_name} was changed by someone else to "
                        f"{display_value(current)} since; your change to {display_value(after)} was not applied. "
                        "Edit it again to keep yours."
                    )
                setattr(row, self.field, after)
                journal.record(
                    session,
                    "edit",
                    f"{prefix}{self.fields[self.field]} of {self.row_name}: "
                    f"{display_value(before)} → {display_value(after)}",
                    rollout=self.rollout_id(row),
                    details={
                        "table": self.kind,
                        "id": self.row_id,
                        "field": self.field,
                        "from": plain(before),
                        "to": plain(after),
                    },
                )
        except Exception as exc:  # noqa: BLE001 - any failed write is reported, never half-applied
            log.warning("Edit not saved (%s): %s", self.text(), exc,
                        exc_info=not isinstance(exc, (RowGone, EditConflict)))
            self.saved = False
            self.setObsolete(True)
            self.document.edit_failed.emit(failure_message(exc, self.kind, after))
            return
        self.saved = True
        self.document.changed.emit(self.kind, self.row_id)


class EditRolloutField(EditFieldCommand):
    entity_name = "Rollout"
    kind = "rollout"
    merge_id = 101
    fields = {
        "name": "name",
        "feature_name": "feature name",
        "owner": "owner",
        "description": "description",
        "readiness_can_flag": "“can it be flagged”",
        "readiness_blast_radius": "blast radius",
        "readiness_monitoring": "monitoring",
        "readiness_rollback_plan": "rollback plan",
        "kill_switch_tested_on": "kill switch tested on",
    }

    def rollout_id(self, row: Any) -> int:
        return row.id


class EditCohortField(EditFieldCommand):
    entity_name = "Cohort"
    kind = "cohort"
    merge_id = 102
    fields = {
        "name": "name",
        "target_percentage": "target %",
        "description": "description",
        "comms_style": "communication style",
    }


class EditPhaseField(EditFieldCommand):
    entity_name = "Phase"
    kind = "phase"
    merge_id = 103
    fields = {
        "name": "name",
        "target_percentage": "target %",
        "planned_start": "planned start",
        "planned_end": "planned end",
    }


def plain(value: Any) -> Any:
    """A value as JSON can hold it, for the journal's details."""
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


def display_value(value: Any) -> str:
    if value is None or value == "":
        return "(empty)"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:g}"
    text = str(value)
    return f"“{text[:60]}…”" if len(text) > 60 else f"“{text}”"


def failure_message(exc: Exception, kind: str, value: Any) -> str:
    if isinstance(exc, (RowGone, EditConflict)):
        return f"The change was not saved: {exc}"
    from sqlalchemy.exc import IntegrityError

    if isinstance(exc, IntegrityError):
        return f"The change was not saved: another {kind} already uses {display_value(value)}."
    return f"The change was not saved: {exc}"


class WriteCommand(QUndoCommand):
    """An edit applied by ``apply(session, forward)`` in one transaction, journaled, then signalled.

    Subclasses set ``kind`` (the table the views reload on), ``journal_kind``, ``summary`` (the journal line of
    the forward edit), ``rollout_id`` and ``row_id`` before the first redo.
    """

    kind: ClassVar[str]
    journal_kind: ClassVar[str] = "edit"

    def __init__(self, document: WorkspaceDocument, text: str) -> None:
        super().__init__(text)
        self.document = document
        self.saved = False  # whether the last redo/undo reached the database
        self.summary = text
        self.rollout_id: int | None = None
        self.row_id = 0

    def apply(self, session: Session, forward: bool) -> None:
        raise NotImplementedError

    def add_row(self, session: Session, entity: type[Any], values: dict[str, Any]) -> Any:
        """Insert a new row of ``entity`` (on a redo, with the id it had before the undo) and keep its id."""
        row = entity(**values, **({"id": self.row_id} if self.row_id else {}))
        session.add(row)
        session.flush()
        self.row_id = row.id
        return row

    @staticmethod
    def stored_row(conn: Connection, table: Table, row_id: int, gone: str) -> dict[str, Any]:
        """A row as it is stored, every column, so an undo of its deletion puts it back as it was; ``gone`` is
        the RowGone message when it no longer exists."""
        from sqlalchemy import select

        row = conn.execute(select(table).where(table.c.id == row_id)).first()
        if row is None:
            raise RowGone(gone)
        return dict(row._mapping)

    def details(self) -> dict[str, Any]:
        return {"table": self.kind, "id": self.row_id}

    def journal(self, session: Session, forward: bool) -> None:
        journal.record(session, self.journal_kind, ("" if forward else "Undo: ") + self.summary,
                       rollout=self.rollout_id, details=self.details())

    def redo(self) -> None:
        self._write(True)

    def undo(self) -> None:
        self._write(False)

    def _write(self, forward: bool) -> None:
        workspace = self.document.workspace
        try:
            assert workspace is not None, "edits need an open workspace"
            with workspace.transaction() as session:
                self.apply(session, forward)
                self.journal(session, forward)
        except Exception as exc:  # noqa: BLE001 - any failed write is reported, never half-applied
            log.warning("Edit not saved (%s): %s", self.text(), exc, exc_info=not isinstance(exc, RowGone))
            self.saved = False
            self.setObsolete(True)
            self.document.edit_failed.emit(failure_message(exc, self.kind.replace("_", " "), None))
            return
        self.saved = True
        self.document.changed.emit(self.kind, self.row_id)
