"""The main window on a real demo workspace: sidebar, pages, undoable table edits, errors, paging, settings."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QMessageBox
from sqlalchemy import select

from launchdesk.models import Cohort, JournalEntry, Phase, PhaseKind, Rollout
from launchdesk.views.item_models import to_qdatetime
from launchdesk.views.main_window import MAX_RECENT, MainWindow, recent_workspaces, remember_workspace
from launchdesk.workspace import create_workspace, open_workspace

pytestmark = pytest.mark.gui


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    """Settings in this test's folder, never the user's."""
    return QSettings(str(tmp_path / "settings" / "LaunchDesk.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def warnings(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Message boxes the window shows, captured instead of blocking the test."""
    shown: list[tuple[str, str]] = []

    def capture(_parent: object, title: str, text: str, *args: object) -> QMessageBox.StandardButton:
        shown.append((title, text))
        return QMessageBox.StandardButton.Ok

    monkeypatch.setattr(QMessageBox, "warning", capture)
    return shown


@pytest.fixture
def window(qtbot, settings: QSettings, demo_workspace: Path) -> MainWindow:
    win = MainWindow(settings)
    qtbot.addWidget(win)
    assert win.open_workspace(demo_workspace)
    win.show()
    qtbot.waitExposed(win)
    return win


def db_rows(path: Path, query):  # type: ignore[no-untyped-def]
    with open_workspace(path) as ws, ws.session() as session:
        return list(session.scalars(query))


def select_rollout_named(window: MainWindow, name: str) -> Rollout:
    rollout = next(r for r in window.rollouts.rows if r.name == name)
    window.select_rollout(rollout.id)
    return rollout


def phase_row(window: MainWindow, name: str) -> int:
    return next(i for i, p in enumerate(window.plan_page.phases.rows) if p.name == name)


def test_sidebar_lists_the_rollouts_and_selecting_one_shows_its_phases(window: MainWindow, demo_workspace: Path):
    in_db = db_rows(demo_workspace, select(Rollout).order_by(Rollout.name))
    shown = [window.rollouts.index(i, 0).data().split("\n")[0] for i in range(window.rollouts.rowCount())]
    assert shown == [r.name for r in in_db] and len(shown) == 3
    assert window.windowTitle() == "demo — LaunchDesk"

    for rollout in in_db:
        window.select_rollout(rollout.id)
        phases = db_rows(demo_workspace, select(Phase).where(Phase.rollout_id == rollout.id).order_by(Phase.position))
        model = window.plan_page.phases
        assert [model.index(i, 0).data() for i in range(model.rowCount())] == [p.name for p in phases]
        assert window.plan_page.form._editors["name"].text() == rollout.name


def test_every_page_shows_the_selected_rollouts_rows(window: MainWindow, qtbot, demo_workspace: Path):
    rollout = select_rollout_named(window, "Workflow Automations")
    with open_workspace(demo_workspace) as ws, ws.session() as session:
        r = session.get(Rollout, rollout.id)
        assert r is not None
        gates = [g.name for g in r.gates]
        checklist = sum(len(p.checklist) for p in r.phases)
        messages = sum(len(p.messages) for p in r.phases)
    for page_index in range(window.tabs.count()):
        window.tabs.setCurrentIndex(page_index)
    checklist_page, gates_page, messages_page = window.page(1), window.page(2), window.page(3)
    assert len(checklist_page.shown_items()) == checklist > 0  # every role: a fresh window remembers none
    assert [gates_page.gates.index(i, 0).data() for i in range(gates_page.gates.rowCount())] == gates
    assert messages_page.messages.rowCount() == messages > 0
    qtbot.waitUntil(lambda: not messages_page.audience_loading and not messages_page.preview_loading)
    qtbot.waitUntil(lambda: window.journal_page.model.rowCount() > 0 and not window.journal_page.model.loading)
    summaries = [window.journal_page.model.index(i, 3).data() for i in range(window.journal_page.model.rowCount())]
    assert any("Workflow Automations" in s for s in summaries)
    qtbot.waitUntil(lambda: not window.accounts_page.model.loading)


def test_editing_a_phase_name_in_the_table_is_saved_and_undoable(window: MainWindow, demo_workspace: Path):
    select_rollout_named(window, "Smart Scheduling")
    model = window.plan_page.phases
    row = phase_row(window, "Phase 2: Power users")
    phase_id = model.rows[row].id
    index = model.index(row, 0)
    assert model.flags(index) & Qt.ItemFlag.ItemIsEditable

    assert model.setData(index, "Phase 2: Power users in Europe")
    assert db_rows(demo_workspace, select(Phase.name).where(Phase.id == phase_id)) == ["Phase 2: Power users in Europe"]
    assert model.index(row, 0).data() == "Phase 2: Power users in Europe"  # redrawn from the change signal
    journal = db_rows(demo_workspace, select(JournalEntry).where(JournalEntry.kind == "edit"))
    assert journal and "Power users in Europe" in journal[-1].summary

    stack = window.document.undo_stack
    assert stack.count() == 1 and window.undo_action.isEnabled()
    window.undo_action.trigger()
    assert db_rows(demo_workspace, select(Phase.name).where(Phase.id == phase_id)) == ["Phase 2: Power users"]
    assert model.index(row, 0).data() == "Phase 2: Power users"
    window.redo_action.trigger()
    assert db_rows(demo_workspace, select(Phase.name).where(Phase.id == phase_id)) == ["Phase 2: Power users in Europe"]


def test_editing_target_percentage_and_dates_restores_exactly_on_undo(window: MainWindow, demo_workspace: Path):
    select_rollout_named(window, "Smart Scheduling")
    model = window.plan_page.phases
    row = phase_row(window, "Phase 3: Engaged mid-market customers")
    before = model.rows[row]
    percent_column = [c.title for c in model.columns].index("Target %")
    start_column = [c.title for c in model.columns].index("Planned start")

    assert model.setData(model.index(row, percent_column), 30.0)
    new_start = before.planned_start + dt.timedelta(days=2, hours=1)  # later: earlier would overlap Phase 2
    assert model.setData(model.index(row, start_column), to_qdatetime(new_start))
    after = db_rows(demo_workspace, select(Phase).where(Phase.id == before.id))[0]
    assert after.target_percentage == 30.0 and after.planned_start == new_start

    window.document.undo_stack.undo()
    window.document.undo_stack.undo()
    restored = db_rows(demo_workspace, select(Phase).where(Phase.id == before.id))[0]
    assert restored.target_percentage == before.target_percentage
    assert restored.planned_start == before.planned_start
    assert model.index(row, percent_column).data() == f"{before.target_percentage:g} %"


def test_an_edit_the_column_cannot_accept_is_refused_and_not_on_the_stack(window: MainWindow, qtbot, demo_workspace):
    select_rollout_named(window, "Smart Scheduling")
    model = window.plan_page.phases
    percent_column = [c.title for c in model.columns].index("Target %")
    rollout_row = phase_row(window, "Phase 2: Power users")
    phase_id = model.rows[rollout_row].id
    preparation_row = next(i for i, p in enumerate(model.rows) if p.kind == PhaseKind.PREPARATION)

    with qtbot.waitSignal(model.edit_refused) as refused:
        assert not model.setData(model.index(rollout_row, percent_column), "a lot")
    assert "not a percentage" in refused.args[0]
    assert not model.setData(model.index(rollout_row, percent_column), 140.0)
    assert not model.flags(model.index(preparation_row, percent_column)) & Qt.ItemFlag.ItemIsEditable
    assert not model.setData(model.index(preparation_row, percent_column), 5.0)
    assert window.document.undo_stack.count() == 0
    assert db_rows(demo_workspace, select(Phase.target_percentage).where(Phase.id == phase_id)) == [10.0]


def test_a_cohort_edit_is_undoable(window: MainWindow, demo_workspace: Path):
    select_rollout_named(window, "Smart Scheduling")
    model = window.plan_page.cohorts
    cohort = model.rows[0]
    assert model.setData(model.index(0, 0), "Design partners")
    assert db_rows(demo_workspace, select(Cohort.name).where(Cohort.id == cohort.id)) == ["Design partners"]
    window.document.undo_stack.undo()
    assert db_rows(demo_workspace, select(Cohort.name).where(Cohort.id == cohort.id)) == [cohort.name]


def test_a_rollout_form_edit_is_saved_on_leaving_the_field_and_undoable(window: MainWindow, demo_workspace: Path):
    rollout = select_rollout_named(window, "Smart Scheduling")
    owner = window.plan_page.form._editors["owner"]
    owner.setText("Sofia Lindqvist")
    owner.setModified(True)
    owner.editingFinished.emit()
    assert db_rows(demo_workspace, select(Rollout.owner).where(Rollout.id == rollout.id)) == ["Sofia Lindqvist"]
    window.document.undo_stack.undo()
    assert db_rows(demo_workspace, select(Rollout.owner).where(Rollout.id == rollout.id)) == [rollout.owner]
    assert owner.text() == rollout.owner


def test_a_failed_edit_reaches_the_user_and_leaves_the_stack_empty(window: MainWindow, warnings, demo_workspace):
    select_rollout_named(window, "Smart Scheduling")
    name = window.plan_page.form._editors["name"]
    name.setText("Billing Insights")  # another rollout's name; names are unique
    name.setModified(True)
    name.editingFinished.emit()
    assert warnings and "another rollout already uses" in warnings[0][1]
    assert window.document.undo_stack.count() == 0
    names = db_rows(demo_workspace, select(Rollout.name).order_by(Rollout.name))
    assert names.count("Billing Insights") == 1 and "Smart Scheduling" in names


def test_opening_a_workspace_clears_the_undo_stack(window: MainWindow, tmp_path: Path):
    select_rollout_named(window, "Smart Scheduling")
    model = window.plan_page.phases
    assert model.setData(model.index(0, 0), "Kick-off with engineering")
    assert window.document.undo_stack.count() == 1

    create_workspace(tmp_path / "empty.launchdesk").close()
    assert window.open_workspace(tmp_path / "empty.launchdesk")
    assert window.document.undo_stack.count() == 0 and not window.undo_action.isEnabled()
    assert window.rollouts.rowCount() == 0 and window.plan_page.phases.rowCount() == 0
    assert window.windowTitle() == "empty — LaunchDesk"


def test_opening_a_foreign_file_shows_why_and_keeps_the_open_workspace(
    window: MainWindow, warnings, tmp_path: Path, demo_workspace: Path
):
    select_rollout_named(window, "Smart Scheduling")
    window.plan_page.phases.setData(window.plan_page.phases.index(0, 0), "Kick-off")
    foreign = tmp_path / "notes.launchdesk"
    foreign.write_text("shopping list")

    assert not window.open_workspace(foreign)
    assert len(warnings) == 1
    assert "not a LaunchDesk workspace" in warnings[0][1]
    assert window.document.workspace is not None and window.document.workspace.path == demo_workspace
    assert window.windowTitle() == "demo — LaunchDesk"
    assert window.rollouts.rowCount() == 3
    assert window.document.undo_stack.count() == 1  # a refused open changes nothing, not even the history
    assert foreign.read_text() == "shopping list"


def test_the_account_table_holds_only_the_pages_it_fetched(window: MainWindow, qtbot):
    page = window.accounts_page
    model = page.model
    assert model.rowCount() == 0  # nothing loaded before the tab is shown
    with qtbot.waitSignal(model.page_loaded):
        window.show_page(window.ACCOUNTS)
    assert model.rowCount() == model.page_size == 200
    qtbot.waitUntil(lambda: page.summary.text() == "300 accounts")
    assert model.canFetchMore()
    with qtbot.waitSignal(model.page_loaded):
        model.fetchMore()
    assert model.rowCount() == 300
    assert not model.canFetchMore()
    keys = [model.index(i, 0).data() for i in range(model.rowCount())]
    assert keys == sorted(keys) and len(set(keys)) == 300

    target = keys[123]
    with qtbot.waitSignal(model.page_loaded):
        page.search.setText(target)
    assert model.index(0, 0).data() == target
    assert all(model.index(i, 0).data().startswith(target) for i in range(model.rowCount()))


def test_recent_workspaces_are_remembered_newest_first(qtbot, settings: QSettings, demo_workspace: Path, tmp_path):
    other = tmp_path / "other.launchdesk"
    create_workspace(other).close()
    win = MainWindow(settings)
    qtbot.addWidget(win)
    assert win.open_workspace(demo_workspace) and win.open_workspace(other) and win.open_workspace(demo_workspace)
    win.close()

    again = QSettings(settings.fileName(), QSettings.Format.IniFormat)
    assert recent_workspaces(again) == [str(demo_workspace.resolve()), str(other.resolve())]
    win2 = MainWindow(again)
    qtbot.addWidget(win2)
    win2.recent_menu.aboutToShow.emit()
    assert [a.text() for a in win2.recent_menu.actions()] == [str(demo_workspace.resolve()), str(other.resolve())]


def test_the_recent_list_is_capped_and_keeps_no_password(settings: QSettings, tmp_path: Path):
    for i in range(MAX_RECENT + 3):
        remember_workspace(settings, str(tmp_path / f"w{i}.launchdesk"))
    remember_workspace(settings, "postgresql://launch:s3cret-pw@db.internal/rollouts")
    remember_workspace(settings, "postgresql://db.internal/team")
    recent = recent_workspaces(settings)
    assert len(recent) == MAX_RECENT
    assert recent[0] == "postgresql://db.internal/team"
    settings.sync()
    assert "s3cret-pw" not in Path(settings.fileName()).read_text()


def test_view_shortcuts_switch_tabs_and_the_window_state_is_remembered(qtbot, settings: QSettings, demo_workspace):
    win = MainWindow(settings)
    qtbot.addWidget(win)
    win.open_workspace(demo_workspace)
    actions = {a.shortcut().toString(): a for a in win.findChildren(type(win.undo_action))}
    for number in range(1, 7):
        actions[f"Ctrl+{number}"].trigger()
        assert win.tabs.currentIndex() == number - 1
    assert win.undo_action.shortcut() == QKeySequence(QKeySequence.StandardKey.Undo)
    win.tabs.setCurrentIndex(3)
    win.resize(700, 500)  # inside the offscreen screen (800 x 600), which restoreGeometry respects
    win.close()

    win2 = MainWindow(QSettings(settings.fileName(), QSettings.Format.IniFormat))
    qtbot.addWidget(win2)
    assert win2.tabs.currentIndex() == 3
    assert (win2.width(), win2.height()) == (700, 500)


def start_app(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "LAUNCHDESK_CONFIG_DIR": str(home / "config"),
        "LAUNCHDESK_DATA_DIR": str(home / "data"),
        "LAUNCHDESK_LOG_DIR": str(home / "logs"),
    }
    return subprocess.run(
        [sys.executable, "-m", "launchdesk", "--quit-after-paint", *args],
        env=env, capture_output=True, text=True, timeout=120,
    )


@pytest.mark.slow
def test_start_up_opens_the_demo_on_first_run_then_the_last_workspace(tmp_path: Path, demo_workspace: Path):
    first = start_app([], tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout == ""
    demo = tmp_path / "data" / "demo.launchdesk"
    assert db_rows(demo, select(Rollout.name).order_by(Rollout.name)) == [
        "Billing Insights", "Smart Scheduling", "Workflow Automations"
    ]

    named = start_app([str(demo_workspace)], tmp_path)
    assert named.returncode == 0, named.stderr
    last = start_app([], tmp_path)
    assert last.returncode == 0, last.stderr
    log = (tmp_path / "logs" / "launchdesk.log").read_text()
    opened = [line.split("Opened workspace ")[1] for line in log.splitlines() if "Opened workspace " in line]
    assert opened == [str(demo), str(demo_workspace), str(demo_workspace)]


def test_save_a_copy_writes_a_workspace_that_opens(window: MainWindow, qtbot, monkeypatch, tmp_path: Path):
    from PySide6.QtWidgets import QFileDialog

    copy = tmp_path / "copies" / "demo copy.launchdesk"
    copy.parent.mkdir()
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *args, **kwargs: (str(copy), ""))
    window.save_copy_action.trigger()
    qtbot.waitUntil(lambda: window.statusBar().currentMessage().startswith("Saved a copy"))
    assert db_rows(copy, select(Rollout.name).order_by(Rollout.name)) == [r.name for r in window.rollouts.rows]


def test_an_uncaught_error_is_logged_and_explained(qapp, monkeypatch, caplog, tmp_path: Path):
    from launchdesk.app import _ErrorDialog

    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "critical", lambda _parent, _title, text, *a: shown.append(text))
    hook = _ErrorDialog(tmp_path / "launchdesk.log")
    try:
        raise ValueError("the phase has no cohort")
    except ValueError as exc:
        with caplog.at_level("CRITICAL", logger="launchdesk"):
            hook(type(exc), exc, exc.__traceback__)
    assert "ValueError: the phase has no cohort" in shown[0]
    assert str(tmp_path / "launchdesk.log") in shown[0]
    assert "Traceback" in caplog.text and "test_an_uncaught_error_is_logged_and_explained" in caplog.text


def phase_dates(path: Path, rollout_id: int) -> list[tuple[str, dt.datetime, dt.datetime]]:
    return [(p.name, p.planned_start, p.planned_end)
            for p in db_rows(path, select(Phase).where(Phase.rollout_id == rollout_id).order_by(Phase.position))]


def test_a_date_typed_in_the_phase_table_ripples_like_the_timeline_and_is_one_undo_step(
        window: MainWindow, demo_workspace: Path):
    rollout = select_rollout_named(window, "Smart Scheduling")
    model = window.plan_page.phases
    row = phase_row(window, "Phase 3: Engaged mid-market customers")
    end_column = [c.title for c in model.columns].index("Planned end")
    before = phase_dates(demo_workspace, rollout.id)
    later = dt.timedelta(days=3, hours=2)

    assert model.setData(model.index(row, end_column), to_qdatetime(before[row][2] + later))
    after = phase_dates(demo_workspace, rollout.id)
    assert after[:row] == before[:row]
    assert after[row] == (before[row][0], before[row][1], before[row][2] + later)
    assert len(before) > row + 1
    assert after[row + 1:] == [(name, start + later, end + later) for name, start, end in before[row + 1:]]
    # The timeline shows the same plan, and the table the new dates.
    bars = window.plan_page.timeline.scene.bars
    assert [(bars[p.id].phase.start, bars[p.id].phase.end) for p in model.rows] == [(s, e) for _n, s, e in after]
    assert model.rows[row + 1].planned_start == before[row + 1][1] + later

    stack = window.document.undo_stack
    assert stack.count() == 1 and stack.text(0) == "Change the end of Phase 3: Engaged mid-market customers"
    window.undo_action.trigger()
    assert phase_dates(demo_workspace, rollout.id) == before
    window.redo_action.trigger()
    assert phase_dates(demo_workspace, rollout.id) == after


def test_an_illegal_date_typed_in_the_phase_table_is_refused_with_the_reason(
        window: MainWindow, qtbot, demo_workspace: Path):
    rollout = select_rollout_named(window, "Smart Scheduling")
    model = window.plan_page.phases
    row = phase_row(window, "Phase 3: Engaged mid-market customers")
    start_column = [c.title for c in model.columns].index("Planned start")
    before = phase_dates(demo_workspace, rollout.id)
    previous_end = before[row - 1][2]

    with qtbot.waitSignal(model.edit_refused) as refused:
        assert not model.setData(model.index(row, start_column), to_qdatetime(previous_end - dt.timedelta(hours=1)))
    reason = refused.args[0]
    assert reason.startswith("Dates not set: Phase 3") and "before Phase 2" in reason and "do not overlap" in reason
    assert window.statusBar().currentMessage() == reason
    assert window.document.undo_stack.count() == 0
    assert phase_dates(demo_workspace, rollout.id) == before
    assert model.rows[row].planned_start == before[row][1]
