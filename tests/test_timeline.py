"""The timeline on a real demo workspace: mouse drags and keys on the view, stored dates, ripple, refusals, undo."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from sqlalchemy import select

from launchdesk.models import JournalEntry, Phase, PhaseStatus, Rollout
from launchdesk.planning.schedule import Unit, due_at, shift
from launchdesk.views.document import WorkspaceDocument
from launchdesk.views.timeline import TimelineWidget
from launchdesk.views.timeline_items import BAR_HEIGHT, ChecklistMarker, MessageMarker, PhaseBar
from launchdesk.views.timeline_model import ZOOMS
from launchdesk.workspace import open_workspace

pytestmark = pytest.mark.gui

BERLIN = ZoneInfo("Europe/Berlin")
UTC = dt.timezone.utc
LEFT = Qt.MouseButton.LeftButton
NO_MODIFIER = Qt.KeyboardModifier.NoModifier


@pytest.fixture
def document(qapp, demo_workspace: Path):
    doc = WorkspaceDocument()
    doc.open(demo_workspace)
    yield doc
    doc.close()


@pytest.fixture
def timeline(qtbot, document: WorkspaceDocument) -> TimelineWidget:
    widget = TimelineWidget(document)
    qtbot.addWidget(widget)
    widget.resize(1200, 600)
    widget.show()
    qtbot.waitExposed(widget)
    # The window redraws on document.changed through its pages; this widget stands alone, so it listens itself.
    document.changed.connect(lambda kind, _id: kind == "phase" and widget.reload())
    return widget


def phases_of(path: Path, rollout_name: str) -> list[Phase]:
    """The rollout's phases as another program reading the file sees them, with checklists and messages."""
    with open_workspace(path) as ws, ws.session() as session:
        rollout = session.scalars(select(Rollout).where(Rollout.name == rollout_name)).one()
        phases = list(rollout.phases)
        for phase in phases:
            _ = [i.phase for i in phase.checklist], list(phase.messages)
        session.expunge_all()
        return phases


def show(timeline: TimelineWidget, path: Path, rollout_name: str) -> list[Phase]:
    phases = phases_of(path, rollout_name)
    timeline.set_rollout(phases[0].rollout_id)
    return phases


def dates(phases: list[Phase]) -> list[tuple[dt.datetime, dt.datetime]]:
    return [(p.planned_start, p.planned_end) for p in phases]


def bar_point(timeline: TimelineWidget, phase_id: int, fraction: float = 0.5) -> QPoint:
    """Where on the viewport a point ``fraction`` along the bar is (scrolling the bar into view first)."""
    view = timeline.view
    bar = timeline.scene.bars[phase_id]
    view.centerOn(bar.pos().x() + bar.width * fraction, bar.pos().y())
    return view.mapFromScene(bar.mapToScene(QPointF(bar.width * fraction, BAR_HEIGHT / 2)))


def drag(timeline: TimelineWidget, start: QPoint, dx: float, modifier=NO_MODIFIER, steps: int = 8) -> None:
    """A real drag on the viewport: press, several moves, release."""
    viewport = timeline.view.viewport()
    QTest.mousePress(viewport, LEFT, modifier, start)
    for n in range(1, steps + 1):
        QTest.mouseMove(viewport, start + QPoint(round(dx * n / steps), 0))
    QTest.mouseRelease(viewport, LEFT, modifier, start + QPoint(round(dx), 0))


def px_per_day(timeline: TimelineWidget) -> float:
    return timeline.scene.zoom.px_per_day


def test_dragging_a_bar_moves_it_and_the_later_phases_in_one_undoable_step(timeline, document, demo_workspace):
    before = show(timeline, demo_workspace, "Smart Scheduling")
    phase2 = next(i for i, p in enumerate(before) if p.name.startswith("Phase 2"))
    assert timeline.scene.zoom.unit == Unit.DAY
    drag(timeline, bar_point(timeline, before[phase2].id), 2 * px_per_day(timeline) + 5)

    after = phases_of(demo_workspace, "Smart Scheduling")
    expected = dates(before[:phase2]) + [(shift(s, 2, Unit.DAY, BERLIN), shift(e, 2, Unit.DAY, BERLIN))
                                         for s, e in dates(before[phase2:])]
    assert dates(after) == expected
    assert after[phase2].planned_start.astimezone(BERLIN).hour == before[phase2].planned_start.astimezone(BERLIN).hour
    # Checklist due dates and message send times are relative to the phase: they followed.
    for old, new in zip(before[phase2:], after[phase2:]):
        old_due = [due_at(old.planned_start, i.offset_minutes, BERLIN) for i in old.checklist]
        new_due = [due_at(new.planned_start, i.offset_minutes, BERLIN) for i in new.checklist]
        assert [i.offset_minutes for i in new.checklist] == [i.offset_minutes for i in old.checklist]
        assert new_due == [shift(due, 2, Unit.DAY, BERLIN) for due in old_due]
        assert [m.send_offset_minutes for m in new.messages] == [m.send_offset_minutes for m in old.messages]
    stack = document.undo_stack
    assert stack.count() == 1
    assert stack.text(0).startswith("Move Phase 2")
    # The timeline redrew from the stored plan.
    bar = timeline.scene.bars[before[phase2].id]
    assert bar.pos().x() == pytest.approx(timeline.scene.scale.x(after[phase2].planned_start))

    stack.undo()
    assert dates(phases_of(demo_workspace, "Smart Scheduling")) == dates(before)
    stack.redo()
    assert dates(phases_of(demo_workspace, "Smart Scheduling")) == expected
    with open_workspace(demo_workspace) as ws, ws.session() as session:
        kinds = list(session.scalars(select(JournalEntry.summary).where(JournalEntry.kind == "phase.rescheduled")
                                     .order_by(JournalEntry.id)))
    assert len(kinds) == 3 and "pushes 3 later phases by 2 days" in kinds[0] and kinds[1].startswith("Undo")


def test_the_live_preview_shows_new_dates_and_what_else_moves(timeline, demo_workspace):
    before = show(timeline, demo_workspace, "Smart Scheduling")
    phase2 = next(p for p in before if p.name.startswith("Phase 2"))
    phase3 = next(p for p in before if p.name.startswith("Phase 3"))
    viewport = timeline.view.viewport()
    start = bar_point(timeline, phase2.id)
    QTest.mousePress(viewport, LEFT, NO_MODIFIER, start)
    QTest.mouseMove(viewport, start + QPoint(round(px_per_day(timeline) * 3), 0))
    preview = timeline.scene.preview
    assert preview.isVisible() and not preview.refused
    assert "pushes 3 later phases by 3 days" in preview.text
    dragged = timeline.scene.bars[phase2.id]
    assert dragged.pos().x() == pytest.approx(timeline.scene.scale.x(shift(phase2.planned_start, 3, Unit.DAY, BERLIN)))
    # Each phase pushed along is outlined where it would go.
    outlines = timeline.scene.preview_outlines
    assert len(outlines) == 3 and phase3.id in outlines
    assert outlines[phase3.id].rect().x() == pytest.approx(
        timeline.scene.scale.x(shift(phase3.planned_start, 3, Unit.DAY, BERLIN)))
    QTest.keyPress(timeline.view, Qt.Key.Key_Escape)  # cancel: everything goes back, nothing is saved
    QTest.mouseRelease(viewport, LEFT, NO_MODIFIER, start)
    assert not preview.isVisible() and not outlines
    assert dragged.pos().x() == pytest.approx(timeline.scene.scale.x(phase2.planned_start))
    assert dates(phases_of(demo_workspace, "Smart Scheduling")) == dates(before)


def test_shift_moves_a_phase_alone_when_that_breaks_no_rule(timeline, document, demo_workspace):
    before = show(timeline, demo_workspace, "Smart Scheduling")
    index = next(i for i, p in enumerate(before) if p.name.startswith("Phase 2"))
    gap = before[index + 1].planned_start - before[index].planned_end
    assert gap >= dt.timedelta(days=1)
    drag(timeline, bar_point(timeline, before[index].id), px_per_day(timeline) + 3,
         modifier=Qt.KeyboardModifier.ShiftModifier)
    after = phases_of(demo_workspace, "Smart Scheduling")
    assert after[index].planned_start == before[index].planned_start + dt.timedelta(days=1)
    assert dates(after[index + 1:]) == dates(before[index + 1:])
    assert document.undo_stack.count() == 1


def test_a_move_before_the_predecessors_end_is_refused_with_a_reason(timeline, document, demo_workspace):
    before = show(timeline, demo_workspace, "Smart Scheduling")
    phase3 = next(p for p in before if p.name.startswith("Phase 3"))
    viewport = timeline.view.viewport()
    start = bar_point(timeline, phase3.id)
    QTest.mousePress(viewport, LEFT, NO_MODIFIER, start)
    QTest.mouseMove(viewport, start - QPoint(round(px_per_day(timeline) * 3), 0))
    assert timeline.scene.preview.refused and "before Phase 2" in timeline.scene.preview.text
    assert timeline.scene.bars[phase3.id].refused
    QTest.mouseRelease(viewport, LEFT, NO_MODIFIER, start - QPoint(round(px_per_day(timeline) * 3), 0))

    assert timeline.message.isVisible()
    assert timeline.message.text().startswith("Not moved: Phase 3")
    assert "before Phase 2: Power users ends" in timeline.message.text()
    assert dates(phases_of(demo_workspace, "Smart Scheduling")) == dates(before)
    assert document.undo_stack.count() == 0
    assert timeline.scene.bars[phase3.id].pos().x() == pytest.approx(timeline.scene.scale.x(phase3.planned_start))


def test_a_live_phase_cannot_be_moved_into_the_past(timeline, document, demo_workspace):
    before = show(timeline, demo_workspace, "Workflow Automations")
    live = next(p for p in before if p.status == PhaseStatus.LIVE and p.name.startswith("Phase"))
    drag(timeline, bar_point(timeline, live.id), -px_per_day(timeline) - 5)
    assert "is live since" in timeline.message.text() and "only its end can change" in timeline.message.text()
    assert dates(phases_of(demo_workspace, "Workflow Automations")) == dates(before)
    # The keyboard follows the same rule; its end can still move.
    timeline.view.select_phase(live.id)
    timeline.view.setFocus()
    QTest.keyClick(timeline.view, Qt.Key.Key_Left, Qt.KeyboardModifier.AltModifier)
    assert "its start is history" in timeline.message.text()
    assert document.undo_stack.count() == 0
    QTest.keyClick(timeline.view, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    after = phases_of(demo_workspace, "Workflow Automations")
    index = [p.id for p in before].index(live.id)
    assert after[index].planned_start == live.planned_start
    assert after[index].planned_end == shift(live.planned_end, 1, Unit.DAY, BERLIN)
    assert document.undo_stack.count() == 1


def test_dragging_the_end_edge_resizes_and_pushes_the_later_phases(timeline, demo_workspace):
    before = show(timeline, demo_workspace, "Smart Scheduling")
    index = next(i for i, p in enumerate(before) if p.name.startswith("Phase 1"))
    bar = timeline.scene.bars[before[index].id]
    edge = bar_point(timeline, before[index].id, fraction=1.0) - QPoint(2, 0)
    drag(timeline, edge, 2 * px_per_day(timeline))
    after = phases_of(demo_workspace, "Smart Scheduling")
    assert after[index].planned_start == before[index].planned_start
    assert after[index].planned_end == shift(before[index].planned_end, 2, Unit.DAY, BERLIN)
    assert after[index + 1].planned_start == shift(before[index + 1].planned_start, 2, Unit.DAY, BERLIN)
    assert dates(after[:index]) == dates(before[:index])


def test_arrow_keys_move_the_selected_phase_by_one_unit(timeline, document, demo_workspace):
    before = show(timeline, demo_workspace, "Smart Scheduling")
    phase4 = next(i for i, p in enumerate(before) if p.name.startswith("Phase 4"))
    timeline.view.select_phase(before[phase4].id)
    timeline.view.setFocus()
    QTest.keyClick(timeline.view, Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)
    QTest.keyClick(timeline.view, Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)
    after = phases_of(demo_workspace, "Smart Scheduling")
    assert dates(after[phase4:]) == [(shift(s, 2, Unit.DAY, BERLIN), shift(e, 2, Unit.DAY, BERLIN))
                                     for s, e in dates(before[phase4:])]
    assert document.undo_stack.count() == 2
    assert timeline.view.selected_phase_id() == before[phase4].id  # the selection survives the redraw
    document.undo_stack.undo()
    document.undo_stack.undo()
    assert dates(phases_of(demo_workspace, "Smart Scheduling")) == dates(before)


def test_a_start_outside_business_hours_gets_a_warning_badge(timeline, document, demo_workspace):
    before = show(timeline, demo_workspace, "Smart Scheduling")
    phase2 = next(p for p in before if p.name.startswith("Phase 2"))
    assert not timeline.scene.bars[phase2.id].badge.isVisible()
    timeline.view.set_zoom(0)  # hours: the arrow keys move by one hour
    assert timeline.scene.zoom.unit == Unit.HOUR
    timeline.view.select_phase(phase2.id)
    timeline.view.setFocus()
    start_local = phase2.planned_start.astimezone(BERLIN)
    for _ in range(start_local.hour - 3):  # back to 03:00 Berlin, one hour per key press
        QTest.keyClick(timeline.view, Qt.Key.Key_Left, Qt.KeyboardModifier.AltModifier)
    moved = next(p for p in phases_of(demo_workspace, "Smart Scheduling") if p.id == phase2.id)
    assert moved.planned_start.astimezone(BERLIN).hour == 3
    badge = timeline.scene.bars[phase2.id].badge
    assert badge.isVisible()
    assert badge.toolTip() == "starts 03:00 in Europe/Berlin — nobody online"


def test_zoom_changes_the_scale_by_keys_wheel_and_buttons(timeline, demo_workspace):
    before = show(timeline, demo_workspace, "Smart Scheduling")
    bar = lambda: timeline.scene.bars[before[-1].id]  # noqa: E731 - items are rebuilt on zoom
    width, scale = bar().width, px_per_day(timeline)
    timeline.view.setFocus()
    QTest.keyClick(timeline.view, Qt.Key.Key_Plus)
    assert px_per_day(timeline) > scale
    assert bar().width == pytest.approx(width * px_per_day(timeline) / scale)
    timeline.zoom_out_button.click()
    timeline.zoom_out_button.click()
    assert px_per_day(timeline) < scale
    viewport = timeline.view.viewport()
    wheel = QWheelEvent(QPointF(100, 100), QPointF(viewport.mapToGlobal(QPoint(100, 100))), QPoint(0, 0),
                        QPoint(0, 120), Qt.MouseButton.NoButton, Qt.KeyboardModifier.ControlModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(viewport, wheel)
    assert px_per_day(timeline) == scale
    while timeline.zoom_in_button.isEnabled():
        timeline.zoom_in_button.click()
    assert timeline.scene.zoom is ZOOMS[0] and timeline.scene.zoom.unit == Unit.HOUR
    assert "Hours" in timeline.zoom_label.text()


def test_markers_show_messages_and_checklist_items_and_select_on_click(qtbot, timeline, demo_workspace):
    before = show(timeline, demo_workspace, "Smart Scheduling")
    phase = next(p for p in before if p.name.startswith("Phase 2"))
    bar = timeline.scene.bars[phase.id]
    checklist = [m for m in bar.childItems() if isinstance(m, ChecklistMarker)]
    messages = [m for m in bar.childItems() if isinstance(m, MessageMarker)]
    assert sorted(i for m in checklist for i in m.ids) == sorted(i.id for i in phase.checklist)
    assert [m.message.id for m in messages] == [m.id for m in phase.messages]
    day_before = next(m for m in checklist if m.items[0].offset_minutes == -24 * 60)
    assert "24 h before" in day_before.toolTip() and "Engineering: " in day_before.toolTip()
    assert messages[0].toolTip().startswith("E-mail “")

    view = timeline.view
    view.centerOn(day_before.scenePos())
    with qtbot.waitSignal(timeline.marker_selected) as selected:
        QTest.mouseClick(view.viewport(), LEFT, NO_MODIFIER, view.mapFromScene(day_before.scenePos()))
    assert selected.args == ["checklist_item", day_before.ids]
    with qtbot.waitSignal(timeline.phase_selected) as picked:
        QTest.mouseClick(view.viewport(), LEFT, NO_MODIFIER, bar_point(timeline, phase.id))
    assert picked.args == [phase.id]


def test_undo_restores_a_sequence_of_gestures_exactly(timeline, document, demo_workspace):
    before = show(timeline, demo_workspace, "Smart Scheduling")
    ids = [p.id for p in before if p.name.startswith("Phase")]
    drag(timeline, bar_point(timeline, ids[1]), 3 * px_per_day(timeline))
    drag(timeline, bar_point(timeline, ids[3], 1.0) - QPoint(2, 0), -2 * px_per_day(timeline))
    drag(timeline, bar_point(timeline, ids[0]), px_per_day(timeline), modifier=Qt.KeyboardModifier.ShiftModifier)
    timeline.view.set_zoom(0)
    timeline.view.select_phase(ids[4])
    timeline.view.setFocus()
    QTest.keyClick(timeline.view, Qt.Key.Key_Right)
    assert document.undo_stack.count() == 4
    assert dates(phases_of(demo_workspace, "Smart Scheduling")) != dates(before)
    while document.undo_stack.canUndo():
        document.undo_stack.undo()
    assert dates(phases_of(demo_workspace, "Smart Scheduling")) == dates(before)


def test_a_step_whose_phases_changed_elsewhere_is_not_applied(timeline, document, demo_workspace, qtbot):
    before = show(timeline, demo_workspace, "Smart Scheduling")
    phase = next(p for p in before if p.name.startswith("Phase 5"))
    timeline.view.select_phase(phase.id)
    timeline.view.setFocus()
    QTest.keyClick(timeline.view, Qt.Key.Key_Right)
    with open_workspace(demo_workspace) as ws, ws.transaction() as session:  # another window edits it
        session.get(Phase, phase.id).planned_end += dt.timedelta(hours=1)
    with qtbot.waitSignal(document.edit_failed) as failed:
        document.undo_stack.undo()
    assert "rescheduled elsewhere" in failed.args[0]
    after = next(p for p in phases_of(demo_workspace, "Smart Scheduling") if p.id == phase.id)
    assert after.planned_start == shift(phase.planned_start, 1, Unit.DAY, BERLIN)


def test_the_plan_page_shows_the_timeline_and_selects_with_the_phase_table(qtbot, demo_workspace, tmp_path):
    from PySide6.QtCore import QSettings

    from launchdesk.views.main_window import MainWindow

    window = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    assert window.open_workspace(demo_workspace)
    window.show()
    qtbot.waitExposed(window)
    rollout = next(r for r in window.rollouts.rows if r.name == "Smart Scheduling")
    window.select_rollout(rollout.id)
    page = window.plan_page
    assert len(page.timeline.scene.bars) == page.phases.rowCount() > 0
    page.phase_view.selectRow(4)
    assert page.timeline.view.selected_phase_id() == page.phases.rows[4].id
    other = page.phases.rows[6].id
    QTest.mouseClick(page.timeline.view.viewport(), LEFT, NO_MODIFIER, bar_point(page.timeline, other))
    assert page.phase_view.currentIndex().row() == 6

    # A drag there is undone by the window's Undo action.
    start = page.timeline.scene.bars[other].phase.start
    drag(page.timeline, bar_point(page.timeline, other), page.timeline.scene.zoom.px_per_day)
    assert window.undo_action.isEnabled() and window.undo_action.text().startswith("&Undo Move")
    moved = page.timeline.scene.bars[other].phase.start
    assert moved == shift(start, 1, Unit.DAY, BERLIN)
    window.undo_action.trigger()
    assert page.timeline.scene.bars[other].phase.start == start
    assert isinstance(page.timeline.scene.bars[other], PhaseBar)



def test_the_qt_binding_keeps_none_alive(qapp):
    """Painting a timeline makes thousands of void Qt calls; a binding that returns None without a reference
    (PySide6 6.12.0 on Python 3.11) would bring the process down with "deallocating None" after a while."""
    import sys

    point = QPointF(1, 2)
    before = sys.getrefcount(None)
    for _ in range(1000):
        point.setX(3)
    assert sys.getrefcount(None) - before > -100


def test_the_launch_calendar_shows_a_conflict_for_two_rollouts_on_the_same_cohort_the_same_week(
        qtbot, document, demo_workspace):
    from launchdesk.planning.schedule import ConflictKind
    from launchdesk.views.calendar_page import CalendarPage

    with open_workspace(demo_workspace) as ws, ws.transaction() as session:
        def phase(rollout: str, name: str) -> Phase:
            return session.scalars(select(Phase).join(Rollout).where(Rollout.name == rollout,
                                                                     Phase.name.like(f"{name}%"))).one()

        ahead = phase("Workflow Automations", "Phase 4")
        planned = phase("Smart Scheduling", "Phase 4")
        assert ahead.cohort.name == planned.cohort.name == "Half of all accounts"
        planned.planned_start, planned.planned_end = ahead.planned_start, ahead.planned_end
        ids = {ahead.id, planned.id}
        week = ahead.planned_start.astimezone(BERLIN).date()
        week -= dt.timedelta(days=week.weekday())
    page = CalendarPage(document)
    qtbot.addWidget(page)
    page.resize(1200, 500)
    page.show()
    qtbot.waitExposed(page)
    model = page.model
    rows = {name: row for row, (_id, name) in enumerate(model.calendar.rollouts)}
    column = model.calendar.weeks.index(week)
    for rollout in ("Workflow Automations", "Smart Scheduling"):
        phases, conflicts = model.index(rows[rollout], column).data(Qt.ItemDataRole.UserRole)
        assert ids & {p.id for p in phases}
        cohort = [c for c in conflicts if c.kind == ConflictKind.COHORT]
        assert cohort and set(cohort[0].phase_ids) == ids
        tooltip = model.index(rows[rollout], column).data(Qt.ItemDataRole.ToolTipRole)
        assert "Cohort “Half of all accounts” is reached by" in tooltip
    # Billing Insights, long complete, has no conflict in that week; the summary names the cohort.
    assert model.index(rows["Billing Insights"], column).data(Qt.ItemDataRole.UserRole) == ([], [])
    assert page.summary.text().startswith("1 cohort conflict(s)")
    assert "Half of all accounts" in page.summary.text()


def test_the_launch_calendar_of_the_demo_has_no_conflicts_and_spans_every_rollout(qtbot, document):
    from launchdesk.views.calendar_page import CalendarPage

    page = CalendarPage(document)
    qtbot.addWidget(page)
    page.show()
    qtbot.waitExposed(page)
    assert [name for _id, name in page.model.calendar.rollouts] == [
        "Billing Insights", "Workflow Automations", "Smart Scheduling"]  # in the order they launch
    assert page.model.calendar.conflicts == {}
    assert page.summary.text().startswith("No conflicts")
    assert page.model.columnCount() >= 10


def test_a_bar_tells_its_phase_and_the_next_go_shows_its_gates(timeline, demo_workspace):
    before = show(timeline, demo_workspace, "Workflow Automations")
    up_next = next(p for p in before if p.name.startswith("Phase 4"))
    bar = timeline.scene.bars[up_next.id]
    assert bar.gate_outcome is not None  # the demo has metric samples for every gate
    assert f"Gates for its go/no-go, latest values: {bar.gate_outcome.value}" in bar.toolTip()
    assert bar.toolTip().startswith("Phase 4: Half of all accounts\nHalf of all accounts · 50%\n")
    assert "Status: planned" in bar.toolTip()
    assert all(timeline.scene.bars[p.id].gate_outcome is None for p in before if p.id != up_next.id)


def test_typed_dates_follow_the_rules_and_are_one_undo_step(timeline, document, demo_workspace):
    from launchdesk.views.timeline_dates import to_wall_clock

    before = show(timeline, demo_workspace, "Smart Scheduling")
    index = next(i for i, p in enumerate(before) if p.name.startswith("Phase 3"))
    panel = timeline.dates
    assert not panel.apply.isVisible()
    timeline.view.select_phase(before[index].id)
    assert panel.apply.isVisible() and "Phase 3" in panel.title.text()
    assert panel.start.dateTime().toString("yyyy-MM-dd HH:mm") == \
        before[index].planned_start.astimezone(BERLIN).strftime("%Y-%m-%d %H:%M")  # the team's clock
    later_end = before[index].planned_end + dt.timedelta(days=3, hours=2)
    panel.end.setDateTime(to_wall_clock(later_end, BERLIN))
    panel.apply.click()
    after = phases_of(demo_workspace, "Smart Scheduling")
    assert after[index].planned_end == later_end and after[index].planned_start == before[index].planned_start
    assert [p.planned_start for p in after[index + 1:]] == [p.planned_start + dt.timedelta(days=3, hours=2)
                                                            for p in before[index + 1:]]
    assert document.undo_stack.count() == 1 and document.undo_stack.text(0).startswith("Set the dates of Phase 3")

    # A start typed before the previous phase's end is refused with the reason, and nothing changes.
    timeline.view.select_phase(before[index].id)
    panel.start.setDateTime(to_wall_clock(before[index - 1].planned_end - dt.timedelta(hours=1), BERLIN))
    panel.apply.click()
    assert timeline.message.text().startswith("Dates not set: Phase 3") and "before Phase 2" in timeline.message.text()
    assert dates(phases_of(demo_workspace, "Smart Scheduling")) == dates(after)
    document.undo_stack.undo()
    assert dates(phases_of(demo_workspace, "Smart Scheduling")) == dates(before)


def test_a_redraw_during_a_drag_ends_it_without_saving(timeline, document, demo_workspace):
    before = show(timeline, demo_workspace, "Smart Scheduling")
    phase = next(p for p in before if p.name.startswith("Phase 2"))
    viewport = timeline.view.viewport()
    start = bar_point(timeline, phase.id)
    QTest.mousePress(viewport, LEFT, NO_MODIFIER, start)
    QTest.mouseMove(viewport, start + QPoint(round(px_per_day(timeline) * 2), 0))
    assert timeline.view.gesture is not None
    timeline.reload()  # the plan changed elsewhere (a sync, another window) while the mouse is down
    QTest.mouseMove(viewport, start + QPoint(round(px_per_day(timeline) * 3), 0))
    QTest.mouseRelease(viewport, LEFT, NO_MODIFIER, start + QPoint(round(px_per_day(timeline) * 3), 0))
    assert document.undo_stack.count() == 0
    assert dates(phases_of(demo_workspace, "Smart Scheduling")) == dates(before)


@pytest.fixture
def window(qtbot, demo_workspace: Path, tmp_path: Path):
    from PySide6.QtCore import QSettings

    from launchdesk.views.main_window import MainWindow

    win = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    assert win.open_workspace(demo_workspace)
    win.show()
    qtbot.waitExposed(win)
    rollout = next(r for r in win.rollouts.rows if r.name == "Smart Scheduling")
    win.select_rollout(rollout.id)
    return win


def click_marker(timeline: TimelineWidget, marker) -> None:  # type: ignore[no-untyped-def]
    view = timeline.view
    view.centerOn(marker.scenePos())
    QTest.mouseClick(view.viewport(), LEFT, NO_MODIFIER, view.mapFromScene(marker.scenePos()))


def test_clicking_a_checklist_marker_selects_its_item_in_the_checklists_tab(window, demo_workspace):
    from launchdesk.models import Role
    from launchdesk.views.settings_dialog import my_role

    timeline = window.plan_page.timeline
    assert window.tabs.currentIndex() == window.PLAN
    phase = next(p for p in phases_of(demo_workspace, "Smart Scheduling") if p.name.startswith("Phase 2"))
    markers = [m for m in timeline.scene.bars[phase.id].childItems() if isinstance(m, ChecklistMarker)]
    day_before = next(m for m in markers if m.items[0].offset_minutes == -24 * 60)
    assert "Click (or Enter) to open it in Checklists" in day_before.toolTip()

    click_marker(timeline, day_before)
    assert window.tabs.currentIndex() == window.CHECKLISTS
    page = window.checklist_page
    assert page.current_item() is not None and page.current_item().id == day_before.ids[0]
    assert page.view.hasFocus()

    # An item the page's filters hide is shown anyway: the role filter opens up for it, "my role" stays remembered.
    preparation = next(p for p in phases_of(demo_workspace, "Smart Scheduling") if p.name.startswith("Week -2"))
    later = next(m for m in timeline.scene.bars[preparation.id].childItems()
                 if isinstance(m, ChecklistMarker) and {i.role for i in m.items} == {Role.CS})
    other_role = Role.SUPPORT
    page.set_role(other_role)
    page.search.setText("no item is called this")
    window.tabs.setCurrentIndex(window.PLAN)
    click_marker(timeline, later)
    assert window.tabs.currentIndex() == window.CHECKLISTS
    assert page.current_item() is not None and page.current_item().id in later.ids
    assert page.search.text() == "" and page.role() is None
    assert my_role(window.settings) == other_role


def test_clicking_a_message_marker_selects_that_message_in_the_messages_tab(window, demo_workspace):
    timeline = window.plan_page.timeline
    markers = [m for bar in timeline.scene.bars.values() for m in bar.childItems() if isinstance(m, MessageMarker)]
    assert len(markers) >= 2
    for marker in (markers[-1], markers[0]):  # the last first: not the message the page selects by itself
        assert "Click (or Enter) to open it in Messages" in marker.toolTip()
        window.tabs.setCurrentIndex(window.PLAN)
        click_marker(timeline, marker)
        assert window.tabs.currentIndex() == window.MESSAGES
        page = window.page(window.MESSAGES)
        assert page.current_row() is not None and page.current_row().id == marker.message.id
        assert page.list.currentIndex().row() == page.messages.row_of(marker.message.id)


# The offscreen platform, showing the marker's tooltip (this marker replaces the one conftest.py adds).
@pytest.mark.qt_log_ignore(r"This plugin does not support (raise|propagateSizeHints)\(\)")
def test_the_keyboard_reaches_a_phases_markers_and_enter_opens_one(window, demo_workspace):
    timeline = window.plan_page.timeline
    view = timeline.view
    phase = next(p for p in phases_of(demo_workspace, "Smart Scheduling") if p.name.startswith("Phase 2"))
    markers = sorted((m for m in timeline.scene.bars[phase.id].childItems()
                      if isinstance(m, (ChecklistMarker, MessageMarker)) and m.isVisible()),
                     key=lambda m: (m.pos().x(), m.pos().y()))
    assert len(markers) >= 2
    view.select_phase(phase.id)
    view.setFocus()
    QTest.keyClick(view, Qt.Key.Key_Right, Qt.KeyboardModifier.ControlModifier)
    assert view.selected_marker() is markers[0] and view.selected_phase_id() is None
    QTest.keyClick(view, Qt.Key.Key_Right)  # a marker selected: the arrows step through the markers, moving nothing
    assert view.selected_marker() is markers[1]
    assert window.document.undo_stack.count() == 0
    QTest.keyClick(view, Qt.Key.Key_Escape)  # back to the phase
    assert view.selected_phase_id() == phase.id
    QTest.keyClick(view, Qt.Key.Key_Left, Qt.KeyboardModifier.ControlModifier)  # from the end: the last marker
    last = markers[-1]
    assert view.selected_marker() is last
    QTest.keyClick(view, Qt.Key.Key_Return)
    if isinstance(last, MessageMarker):
        assert window.tabs.currentIndex() == window.MESSAGES
        assert window.page(window.MESSAGES).current_row().id == last.message.id
    else:
        assert window.tabs.currentIndex() == window.CHECKLISTS
        assert window.checklist_page.current_item().id in last.ids


@pytest.mark.parametrize("rollout_name", ["Billing Insights", "Smart Scheduling", "Workflow Automations"])
def test_a_rollout_opens_with_a_bar_in_view(qtbot, timeline, demo_workspace, rollout_name):
    """A finished or future rollout opens on its first phase, an ongoing one on today and the phase at hand; the
    visible part of the timeline is never an empty stretch (a finished plan once opened on its first day and its
    last row)."""
    timeline.resize(900, 300)  # few rows fit: the vertical position matters
    phases = show(timeline, demo_workspace, rollout_name)
    view = timeline.view
    visible = view.mapToScene(view.viewport().rect()).boundingRect()
    shown = [p for p in phases if visible.intersects(timeline.scene.bars[p.id].sceneBoundingRect())]
    assert shown, f"no bar of {rollout_name} is in view"
    now = dt.datetime.now(dt.timezone.utc)
    if now < min(p.planned_start for p in phases) or now > max(p.planned_end for p in phases):
        first = min(phases, key=lambda p: p.planned_start)
        assert first in shown
