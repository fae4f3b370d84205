"""The Checklists tab on a real demo workspace: grouping, ticks, edits, moves and deletes (all undoable),
overdue and due-soon items, my role remembered, and the exports of the next seven days."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import icalendar
import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QDialogButtonBox
from sqlalchemy import select

from launchdesk.models import ChecklistItem, JournalEntry, Phase, PhaseKind, Role, Rollout
from launchdesk.planning.checklists import due_at, load_items, team_zone, upcoming
from launchdesk.planning.schedule import Unit, move, when_text
from launchdesk.views.checklist_page import OVERDUE_COLOR, SOON_COLOR, ChecklistPage
from launchdesk.views.document import WorkspaceDocument
from launchdesk.workspace import open_workspace

pytestmark = pytest.mark.gui
UTC = dt.timezone.utc


@pytest.fixture
def document(qapp, demo_workspace: Path):  # type: ignore[no-untyped-def]
    doc = WorkspaceDocument()
    doc.open(demo_workspace)
    yield doc
    doc.close()


def rollout_id(document: WorkspaceDocument, name: str = "Smart Scheduling") -> int:
    assert document.workspace is not None
    with document.workspace.session() as session:
        return session.scalars(select(Rollout.id).where(Rollout.name == name)).one()


@pytest.fixture
def page(qtbot, document: WorkspaceDocument) -> ChecklistPage:
    widget = ChecklistPage(document)
    qtbot.addWidget(widget)
    widget.resize(1100, 700)
    widget.set_rollout(rollout_id(document))
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def fresh(path: Path, item_id: int) -> ChecklistItem | None:
    """The item as another program reading the file sees it."""
    with open_workspace(path) as ws, ws.session() as session:
        return session.get(ChecklistItem, item_id)


def item_index(page: ChecklistPage, item_id: int, column: int = 0):  # type: ignore[no-untyped-def]
    assert page.select_item(item_id)
    return page.view.currentIndex().siblingAtColumn(column)


def shown_titles(page: ChecklistPage, phase_row: int, moment_row: int) -> list[str]:
    proxy = page.proxy
    moment = proxy.index(moment_row, 0, proxy.index(phase_row, 0))
    return [proxy.index(r, 0, moment).data() for r in range(proxy.rowCount(moment))]


def test_items_are_grouped_by_phase_and_moment_with_due_times_on_the_team_clock(page: ChecklistPage, document):
    with document.workspace.session() as session:
        zone = team_zone(session)
        phases = session.scalars(select(Phase).where(Phase.rollout_id == page.rollout_id).order_by(Phase.position))
        expected = [(p.name, len(p.checklist)) for p in phases if p.checklist]
    assert str(zone) == "Europe/Berlin"
    model = page.model
    assert [(n.title, sum(len(m.children) for m in n.children)) for n in model.roots] == expected
    assert page.model.headerData(2, Qt.Orientation.Horizontal) == "Due (Europe/Berlin)"

    phase_1 = next(n for n in model.roots if n.title.startswith("Phase 1"))
    assert [m.title for m in phase_1.children] == ["48 h before", "24 h before", "Day of", "24 h after"]
    item = phase_1.children[0].children[0].item
    assert item is not None and item.offset_minutes == -2880
    assert item.due == due_at(item.phase_start, -2880, zone)
    assert phase_1.children[0].children[0].due == when_text(item.due, zone)
    prep = model.roots[0]
    assert prep.title.startswith("Week -4") and prep.children[-1].title == "Other times"


def test_tick_records_who_and_when_and_undo_redo_put_it_back(page: ChecklistPage, document, demo_workspace,
                                                             monkeypatch):
    monkeypatch.setenv("LAUNCHDESK_USER", "Lucas Moreau")
    open_item = next(i for i in page.items if not i.done)
    index = item_index(page, open_item.id)
    assert index.data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Unchecked

    assert page.proxy.setData(index, Qt.CheckState.Checked.value, Qt.ItemDataRole.CheckStateRole)
    ticked = fresh(demo_workspace, open_item.id)
    assert ticked.done_by == "Lucas Moreau" and ticked.done_at is not None
    assert item_index(page, open_item.id).data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Checked
    assert item_index(page, open_item.id, 4).data().startswith("Done by Lucas Moreau")

    stack = document.undo_stack
    stack.undo()
    assert fresh(demo_workspace, open_item.id).done_by is None and fresh(demo_workspace, open_item.id).done_at is None
    assert item_index(page, open_item.id).data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Unchecked
    stack.redo()
    again = fresh(demo_workspace, open_item.id)
    assert (again.done_by, again.done_at) == (ticked.done_by, ticked.done_at)

    # Unticking is possible too, and recorded.
    assert page.proxy.setData(item_index(page, open_item.id), Qt.CheckState.Unchecked.value,
                              Qt.ItemDataRole.CheckStateRole)
    assert fresh(demo_workspace, open_item.id).done_at is None
    with open_workspace(demo_workspace) as ws, ws.session() as session:
        lines = session.scalars(select(JournalEntry.summary).where(JournalEntry.kind == "checklist")
                                .order_by(JournalEntry.id)).all()
    assert lines[-4].startswith("Done: “") and "by Lucas Moreau" in lines[-4]
    assert lines[-3].startswith("Undo: Done: ") and lines[-2].startswith("Done: ")
    assert lines[-1].startswith("Not done any more: “")


def fill(dialog, *, when: str, title: str) -> None:  # type: ignore[no-untyped-def]
    dialog.when.setText(when)
    dialog.title.setText(title)
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()


def test_add_an_item_typed_minus_48h_then_move_its_phase_and_the_due_date_follows(page: ChecklistPage, document,
                                                                                demo_workspace):
    phase = next(p for p in page.phases if p.name.startswith("Phase 5"))
    dialog = page.add_item()
    dialog.phase.setCurrentIndex(dialog.phase.findData(phase.id))
    dialog.role.setCurrentIndex(dialog.role.findData(Role.SUPPORT.value))
    dialog.when.setText("48 h befor")  # a typo is refused with a reason, OK stays off
    assert not dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).isEnabled()
    assert "is not an offset" in dialog.when_preview.text()
    fill(dialog, when="-48h", title="Staff the weekend support rota")

    added = page.current_item()
    assert added is not None and added.title == "Staff the weekend support rota"
    row = fresh(demo_workspace, added.id)
    assert (row.offset_minutes, row.role, row.phase_id) == (-2880, Role.SUPPORT, phase.id)
    assert added.due == due_at(phase.start, -2880, page.zone)
    assert item_index(page, added.id, 3).data() == "48 h before"

    # The timeline moves phase 5 (and nothing else) two days later; the item's due date follows.
    with document.workspace.transaction() as session:
        rows = session.scalars(select(Phase).where(Phase.rollout_id == page.rollout_id).order_by(Phase.position))
        planned = [p for p in rows]
        from launchdesk.planning.schedule import PlannedPhase

        reschedule = move([PlannedPhase(p.id, p.name, p.planned_start, p.planned_end, p.status) for p in planned],
                          phase.id, 2, Unit.DAY, page.zone, now=phase.start - dt.timedelta(days=30))
        for new in reschedule.after:
            target = session.get(Phase, new.id)
            target.planned_start, target.planned_end = new.start, new.end
    document.changed.emit("phase", phase.id)
    moved = next(i for i in page.items if i.id == added.id)
    assert moved.due == due_at(phase.start + dt.timedelta(days=2), -2880, page.zone)
    assert item_index(page, added.id, 2).data() == when_text(moved.due, page.zone)

    document.undo_stack.undo()
    assert fresh(demo_workspace, added.id) is None and all(i.id != added.id for i in page.items)
    document.undo_stack.redo()
    assert fresh(demo_workspace, added.id).title == "Staff the weekend support rota"  # the same row again


def test_edit_an_item_through_its_dialog_is_one_undo_step(page: ChecklistPage, document, demo_workspace):
    item = next(i for i in page.items if i.offset_minutes == -1440)
    page.select_item(item.id)
    dialog = page.edit_item()
    assert dialog.when.text() == "-24h" and dialog.title.text() == item.title
    fill(dialog, when="+1d", title="Renamed duty")
    row = fresh(demo_workspace, item.id)
    assert (row.offset_minutes, row.title) == (1440, "Renamed duty")
    assert document.undo_stack.count() == 1
    document.undo_stack.undo()
    row = fresh(demo_workspace, item.id)
    assert (row.offset_minutes, row.title) == (-1440, item.title)


def test_move_up_and_down_reorders_within_the_moment_and_undoes(page: ChecklistPage, document, demo_workspace):
    phase_row = next(r for r, n in enumerate(page.model.roots) if n.title.startswith("Phase 2"))
    before = shown_titles(page, phase_row, 1)  # 24 h before
    assert len(before) == 6
    last = page.model.roots[phase_row].children[1].children[-1].item
    page.select_item(last.id)
    assert not page.down_action.isEnabled() and page.up_action.isEnabled()
    assert page.move_item(-1)
    after = shown_titles(page, phase_row, 1)
    assert after == before[:4] + [before[5], before[4]]
    assert page.current_item().id == last.id  # the moved item stays selected
    with open_workspace(demo_workspace) as ws, ws.session() as session:
        phase = session.get(Phase, last.phase_id)
        in_db = [i.title for i in phase.checklist if i.offset_minutes == -1440]
    assert in_db == after
    document.undo_stack.undo()
    assert shown_titles(page, phase_row, 1) == before

    # With a role filter, a move passes the neighbour of the same role (others keep their relative order).
    page.set_role(Role.SUPPORT)
    assert shown_titles(page, phase_row, 1) == [before[2]] and not page.up_action.isEnabled()


def test_delete_is_undoable_with_the_done_state_kept(page: ChecklistPage, document, demo_workspace):
    done = next(i for i in page.items if i.done)
    page.select_item(done.id)
    assert page.delete_item()
    assert fresh(demo_workspace, done.id) is None
    assert all(i.id != done.id for i in page.items)
    document.undo_stack.undo()
    back = fresh(demo_workspace, done.id)
    assert back is not None and (back.done_by, back.done_at, back.title) == (done.done_by, done.done_at, done.title)


def test_overdue_and_due_soon_items_stand_out_by_colour_and_words(page: ChecklistPage):
    target = next(i for i in page.items if not i.done and i.offset_minutes == 0 and i.phase_name.startswith("Phase 5"))
    soon = next(i for i in page.items if i.phase_id == target.phase_id and i.offset_minutes == 1440)
    page.clock = lambda: target.due + dt.timedelta(hours=2)  # two hours after the "day of" items, soon before "after"
    page.invalidate()
    overdue_status = item_index(page, target.id, 4)
    assert overdue_status.data() == "Overdue by 2 h"
    assert overdue_status.data(Qt.ItemDataRole.ForegroundRole).name() == OVERDUE_COLOR
    soon_status = item_index(page, soon.id, 4)
    assert soon_status.data() == "Due in 22 h"
    assert soon_status.data(Qt.ItemDataRole.ForegroundRole).name() == SOON_COLOR
    assert "overdue" in page.summary.text() and "due within 24 h" in page.summary.text()


def test_my_role_filters_and_is_remembered_between_runs(qtbot, document, tmp_path: Path):
    settings = QSettings(str(tmp_path / "LaunchDesk.ini"), QSettings.Format.IniFormat)
    first = ChecklistPage(document)
    qtbot.addWidget(first)
    first.use_settings(settings)
    first.set_rollout(rollout_id(document))
    first.show()
    first.set_role(Role.MARKETING)
    assert {n.item.role for root in first.model.roots for m in root.children for n in m.children} == {Role.MARKETING}
    settings.sync()

    second = ChecklistPage(document)
    qtbot.addWidget(second)
    second.use_settings(QSettings(settings.fileName(), QSettings.Format.IniFormat))
    assert second.role() == Role.MARKETING and second.role_filter.currentText() == "Marketing"


def test_export_of_the_next_seven_days_as_ics_and_csv(page: ChecklistPage, document, tmp_path: Path):
    page.set_role(Role.ENGINEERING)
    with document.workspace.session() as session:
        zone = team_zone(session)
        expected = upcoming(load_items(session, zone, role=Role.ENGINEERING), page.clock(), 7)
    assert expected  # the demo has live rollouts with engineering duties this week

    ics_path, csv_path = tmp_path / "eng.ics", tmp_path / "eng.csv"
    assert page.export("ics", ics_path) == len(expected)
    calendar = icalendar.Calendar.from_ical(ics_path.read_bytes())
    events = list(calendar.walk("VEVENT"))
    assert [e.decoded("DTSTART") for e in events] == [i.due for i in expected]
    assert all(len(line) <= 75 for line in ics_path.read_bytes().split(b"\r\n"))

    assert page.export("csv", csv_path) == len(expected)
    with csv_path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["title"] for r in rows] == [i.title for i in expected]
    assert {r["role"] for r in rows} == {"engineering"}


def test_preparation_items_keep_their_odd_offsets(page: ChecklistPage):
    prep = [i for i in page.items if i.phase_name.startswith("Week -2")]
    assert sorted(i.offset_minutes for i in prep) == [0, 1440, 2880, 4320]
    other = next(m for m in page.model.roots[1].children if m.title == "Other times")
    assert [n.when for n in other.children] == ["48 h after", "3 days after"]
    assert PhaseKind.PREPARATION  # the grouping above is the preparation phase's own


def test_a_tick_on_an_item_deleted_elsewhere_is_refused_with_a_reason(page: ChecklistPage, document, demo_workspace,
                                                                       qtbot):
    item = next(i for i in page.items if not i.done)
    index = item_index(page, item.id)
    with open_workspace(demo_workspace) as ws, ws.transaction() as session:  # another window deletes it
        session.delete(session.get(ChecklistItem, item.id))
    with qtbot.waitSignal(document.edit_failed) as failed:
        assert not page.proxy.setData(index, Qt.CheckState.Checked.value, Qt.ItemDataRole.CheckStateRole)
    assert "no longer exists" in failed.args[0]
    assert document.undo_stack.count() == 0  # nothing to undo: nothing was saved
