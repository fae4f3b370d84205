"""The undo command of a timeline gesture: every phase a move, resize or ripple changes, in one step.

Like the field edits in launchdesk.views.commands, it writes the domain model in one committed transaction with
a journal entry, and tells the views through ``document.changed``. Each write first checks that the phases still
have the dates this step expects; if someone changed them meanwhile (another window, another machine), nothing is
written, the step leaves the stack and the user is told why, so an undo never overwrites someone else's edit.
"""

from __future__ import annotations

import datetime as dt
import logging
from zoneinfo import ZoneInfo

from PySide6.QtGui import QUndoCommand

from launchdesk import journal, models
from launchdesk.planning.schedule import Reschedule, duration_text
from launchdesk.views.document import WorkspaceDocument

log = logging.getLogger(__name__)

Dates = tuple[dt.datetime, dt.datetime]


class PlanChangedElsewhere(Exception):
    """A phase of the step no longer has the dates the step expects, or no longer exists."""


class ReschedulePhases(QUndoCommand):
    """Set the planned start and end of every phase a gesture changes; undo puts back the exact old dates."""

    def __init__(self, document: WorkspaceDocument, rollout_id: int, reschedule: Reschedule, zone: ZoneInfo,
                 verb: str = "Move") -> None:
        super().__init__()
        self.document = document
        self.rollout_id = rollout_id
        self.phase_id = reschedule.phase_id
        self.old: dict[int, Dates] = {}
        self.new: dict[int, Dates] = {}
        self.names: dict[int, str] = {}
        for old, new in reschedule.changes:
            self.old[old.id] = (old.start, old.end)
            self.new[new.id] = (new.start, new.end)
            self.names[new.id] = new.name
        self.summary = reschedule.describe(zone)
        self.saved = False  # whether the last redo or undo reached the database
        self.setText(f"{verb} {reschedule.phase.name}")

    def redo(self) -> None:
        self._write(self.old, self.new, self.summary)

    def undo(self) -> None:
        name = self.names[self.phase_id]
        others = len(self.old) - 1
        self._write(self.new, self.old, f"Undo: {name} back to its dates"
                    + (f", with {others} later phase{'s' if others > 1 else ''}" if others else ""))

    def _write(self, expected: dict[int, Dates], target: dict[int, Dates], summary: str) -> None:
        workspace = self.document.workspace
        try:
            assert workspace is not None, "edits need an open workspace"
            with workspace.transaction() as session:
                for phase_id, (start, end) in target.items():
                    phase = session.get(models.Phase, phase_id)
                    if phase is None:
                        raise PlanChangedElsewhere(f"{self.names[phase_id]} no longer exists.")
                    if (phase.planned_start, phase.planned_end) != expected[phase_id]:
                        raise PlanChangedElsewhere(
                            f"{self.names[phase_id]} was rescheduled elsewhere in the meantime; reload and try again.")
                    phase.planned_start, phase.planned_end = start, end
                first_old, first_new = expected[self.phase_id], target[self.phase_id]
                journal.record(session, "phase.rescheduled", summary, rollout=self.rollout_id, details={
                    "phase_id": self.phase_id,
                    "moved_by": duration_text(first_new[0] - first_old[0]),
                    "phases": {str(i): {"from": [d.isoformat() for d in expected[i]],
                                        "to": [d.isoformat() for d in target[i]]} for i in target},
                })
        except Exception as exc:  # noqa: BLE001 - any failed write is reported, never half-applied
            log.warning("Reschedule not saved (%s): %s", self.text(), exc,
                        exc_info=not isinstance(exc, PlanChangedElsewhere))
            self.saved = False
            self.setObsolete(True)
            self.document.edit_failed.emit(f"The change was not saved: {exc}")
            return
        self.saved = True
        # One signal for the whole step: every view showing phases reloads once, not once per moved phase.
        self.document.changed.emit("phase", self.phase_id)

