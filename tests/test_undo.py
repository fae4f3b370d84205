"""Undo commands change the domain model in their own transactions and put back exactly what was there."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select

from launchdesk.models import Cohort, JournalEntry, Phase, Rollout
from launchdesk.views import commands
from launchdesk.views.commands import EditCohortField, EditPhaseField, EditRolloutField
from launchdesk.views.document import WorkspaceDocument
from launchdesk.workspace import open_workspace

UTC = dt.timezone.utc


@pytest.fixture
def document(qapp, demo_workspace: Path):
    doc = WorkspaceDocument()
    doc.open(demo_workspace)
    yield doc
    doc.close()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The commands' clock, moved by hand: now[0] is the time in seconds."""
    now = [1000.0]
    monkeypatch.setattr(commands.EditFieldCommand, "clock", staticmethod(lambda: now[0]))
    return now


def fresh(path: Path, entity, row_id: int):  # type: ignore[no-untyped-def]
    """The row as another program reading the file sees it."""
    with open_workspace(path) as ws, ws.session() as session:
        return session.get(entity, row_id)


def first(document: WorkspaceDocument, entity, **where):  # type: ignore[no-untyped-def]
    assert document.workspace is not None
    with document.workspace.session() as session:
        return session.scalars(select(entity).filter_by(**where).order_by(entity.id)).first()


def test_phase_dates_round_trip_exactly(document: WorkspaceDocument, demo_workspace: Path):
    phase = first(document, Phase, name="Phase 4: Half of all accounts")
    odd_end = phase.planned_end + dt.timedelta(hours=5, minutes=7, seconds=3, microseconds=123456)
    stack = document.undo_stack
    stack.push(EditPhaseField(document, phase.id, "planned_end", odd_end))
    assert fresh(demo_workspace, Phase, phase.id).planned_end == odd_end
    stack.undo()
    assert fresh(demo_workspace, Phase, phase.id).planned_end == phase.planned_end
    stack.redo()
    assert fresh(demo_workspace, Phase, phase.id).planned_end == odd_end


def test_rollout_and_cohort_fields_round_trip(document: WorkspaceDocument, demo_workspace: Path):
    rollout = first(document, Rollout, name="Smart Scheduling")
    cohort = first(document, Cohort, rollout_id=rollout.id)
    stack = document.undo_stack
    stack.push(EditRolloutField(document, rollout.id, "kill_switch_tested_on", dt.date(2027, 2, 1)))
    stack.push(EditRolloutField(document, rollout.id, "readiness_rollback_plan", "Turn the flag off."))
    stack.push(EditCohortField(document, cohort.id, "target_percentage", 7.5))
    assert fresh(demo_workspace, Rollout, rollout.id).kill_switch_tested_on == dt.date(2027, 2, 1)
    assert fresh(demo_workspace, Cohort, cohort.id).target_percentage == 7.5

    while stack.canUndo():
        stack.undo()
    after = fresh(demo_workspace, Rollout, rollout.id)
    assert after.kill_switch_tested_on == rollout.kill_switch_tested_on
    assert after.readiness_rollback_plan == rollout.readiness_rollback_plan
    assert fresh(demo_workspace, Cohort, cohort.id).target_percentage == cohort.target_percentage


def test_each_edit_and_its_undo_are_journaled_and_signalled(document: WorkspaceDocument, qtbot, demo_workspace):
    phase = first(document, Phase, name="Phase 2: Power users")
    with qtbot.waitSignal(document.changed) as changed:
        document.undo_stack.push(EditPhaseField(document, phase.id, "target_percentage", 12.0))
    assert changed.args == ["phase", phase.id]
    with qtbot.waitSignal(document.changed):
        document.undo_stack.undo()

    assert document.workspace is not None
    with document.workspace.session() as session:
        entries = list(
            session.scalars(select(JournalEntry).where(JournalEntry.kind == "edit").order_by(JournalEntry.id))
        )
    assert [e.summary for e in entries] == [
        f"target % of phase “{phase.name}”: 10 → 12",
        f"Undo: target % of phase “{phase.name}”: 12 → 10",
    ]
    assert entries[0].rollout_id == phase.rollout_id
    assert entries[0].details == {"table": "phase", "id": phase.id, "field": "target_percentage", "from": 10.0, "to": 12.0}


def test_quick_successive_edits_of_one_field_merge_into_one_step(document: WorkspaceDocument, clock, demo_workspace):
    phase = first(document, Phase, name="Phase 3: Engaged mid-market customers")
    stack = document.undo_stack
    for percent in (26.0, 27.0, 28.0):
        stack.push(EditPhaseField(document, phase.id, "target_percentage", percent))
        clock[0] += 1.0
    assert stack.count() == 1
    assert fresh(demo_workspace, Phase, phase.id).target_percentage == 28.0
    stack.undo()
    assert fresh(demo_workspace, Phase, phase.id).target_percentage == phase.target_percentage


def test_edits_apart_in_time_or_of_other_fields_stay_separate(document: WorkspaceDocument, clock):
    phase = first(document, Phase, name="Phase 3: Engaged mid-market customers")
    stack = document.undo_stack
    stack.push(EditPhaseField(document, phase.id, "target_percentage", 26.0))
    clock[0] += commands.MERGE_WINDOW_S + 1
    stack.push(EditPhaseField(document, phase.id, "target_percentage", 27.0))
    stack.push(EditPhaseField(document, phase.id, "name", "Phase 3: Mid-market"))
    assert stack.count() == 3


def test_editing_back_to_the_start_leaves_nothing_to_undo(document: WorkspaceDocument, clock, demo_workspace):
    phase = first(document, Phase, name="Phase 2: Power users")
    stack = document.undo_stack
    stack.push(EditPhaseField(document, phase.id, "name", "Phase 2: Power"))
    stack.push(EditPhaseField(document, phase.id, "name", phase.name))
    assert stack.count() == 0
    assert fresh(demo_workspace, Phase, phase.id).name == phase.name


def test_undo_of_a_row_deleted_elsewhere_is_reported_and_dropped(document: WorkspaceDocument, qtbot, demo_workspace):
    cohort = first(document, Cohort, name="Power users")
    stack = document.undo_stack
    stack.push(EditCohortField(document, cohort.id, "comms_style", "A short in-app note"))
    with open_workspace(demo_workspace) as other, other.transaction() as session:
        session.delete(session.get(Cohort, cohort.id))  # a colleague removes the cohort meanwhile

    with qtbot.waitSignal(document.edit_failed) as failed:
        stack.undo()
    assert "no longer exists" in failed.args[0]
    assert stack.count() == 0


def test_an_edit_that_cannot_be_saved_never_reaches_the_stack(document: WorkspaceDocument, qtbot, demo_workspace):
    rollout = first(document, Rollout, name="Smart Scheduling")
    with qtbot.waitSignal(document.edit_failed) as failed:
        document.undo_stack.push(EditRolloutField(document, rollout.id, "name", "Billing Insights"))
    assert "another rollout already uses “Billing Insights”" in failed.args[0]
    assert document.undo_stack.count() == 0
    assert fresh(demo_workspace, Rollout, rollout.id).name == "Smart Scheduling"


def test_only_the_editable_fields_can_be_edited(document: WorkspaceDocument):
    phase = first(document, Phase, name="Phase 2: Power users")
    with pytest.raises(ValueError):
        EditPhaseField(document, phase.id, "status", "live")  # status changes through decisions, not the table


def test_opening_a_workspace_is_never_undoable(document: WorkspaceDocument, demo_workspace: Path, tmp_path: Path):
    phase = first(document, Phase, name="Phase 2: Power users")
    document.undo_stack.push(EditPhaseField(document, phase.id, "name", "Renamed"))
    assert document.undo_stack.canUndo()
    document.open(demo_workspace)
    assert document.undo_stack.count() == 0 and not document.undo_stack.canUndo()


def test_undo_after_a_colleague_changed_the_field_is_refused_not_overwritten(
    document: WorkspaceDocument, qtbot, demo_workspace
):
    cohort = first(document, Cohort, name="Power users")
    stack = document.undo_stack
    stack.push(EditCohortField(document, cohort.id, "comms_style", "A short in-app note"))
    with open_workspace(demo_workspace) as other, other.transaction() as session:
        session.get(Cohort, cohort.id).comms_style = "Personal e-mail from the CSM"  # a colleague's edit

    with qtbot.waitSignal(document.edit_failed) as failed:
        stack.undo()
    assert "changed by someone else" in failed.args[0] and "Personal e-mail from the CSM" in failed.args[0]
    assert fresh(demo_workspace, Cohort, cohort.id).comms_style == "Personal e-mail from the CSM"
    assert stack.count() == 0
