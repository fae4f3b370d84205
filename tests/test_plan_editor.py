"""The plan editor's window actions: a new rollout from a template (one undo step), saving a rollout as a
template file, and the team settings (kept in the workspace, my role on this computer)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QDialogButtonBox
from sqlalchemy import select

from launchdesk.models import JournalEntry, Phase, PhaseKind, Role, Rollout, Setting, TeamMember
from launchdesk.planning.business_hours import team_business_hours
from launchdesk.planning.template import load_template
from launchdesk.views.main_window import MainWindow
from launchdesk.workspace import open_workspace

pytestmark = pytest.mark.gui


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "settings" / "LaunchDesk.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot, settings: QSettings, demo_workspace: Path) -> MainWindow:
    win = MainWindow(settings)
    qtbot.addWidget(win)
    assert win.open_workspace(demo_workspace)
    win.show()
    qtbot.waitExposed(win)
    return win


def ok(dialog) -> None:  # type: ignore[no-untyped-def]
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()


def plan(path: Path, name: str) -> list[tuple[PhaseKind, str, dt.datetime]] | None:
    with open_workspace(path) as ws, ws.session() as session:
        rollout = session.scalars(select(Rollout).where(Rollout.name == name)).first()
        return None if rollout is None else [(p.kind, p.name, p.planned_start) for p in rollout.phases]


def test_new_rollout_from_the_default_template_through_the_menu_action(window: MainWindow, demo_workspace: Path):
    window.template_actions.new_rollout_action.trigger()
    dialog = window.template_actions.dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.template is not None and dialog.template["name"] == load_template()["name"]
    ok(dialog)  # no name yet: refused with the reason, the dialog stays
    assert dialog.isVisible() and "needs a name" in dialog.error.text()
    dialog.name.setText("Smart Scheduling")
    ok(dialog)
    assert dialog.isVisible() and "already exists" in dialog.error.text()

    dialog.name.setText("Offline Mode")
    dialog.start.setDateTime(dialog.start.dateTime().fromString("2031-03-31 09:00", "yyyy-MM-dd HH:mm"))
    ok(dialog)
    phases = plan(demo_workspace, "Offline Mode")
    assert phases is not None
    rollout_phases = [p for p in phases if p[0] == PhaseKind.ROLLOUT]
    assert len(rollout_phases) == 5 and len(phases) == 8  # five phases after three weeks of preparation
    berlin = ZoneInfo("Europe/Berlin")  # the demo team's clock: 09:00 there, in summer time
    assert rollout_phases[0][2] == dt.datetime(2031, 3, 31, 9, 0, tzinfo=berlin)
    assert window.rollouts.rows[window.rollout_list.currentIndex().row()].name == "Offline Mode"

    stack = window.document.undo_stack
    assert stack.count() == 1
    ids_before = _ids(demo_workspace, "Offline Mode")
    stack.undo()
    assert plan(demo_workspace, "Offline Mode") is None
    assert all(r.name != "Offline Mode" for r in window.rollouts.rows)
    stack.redo()
    assert plan(demo_workspace, "Offline Mode") == phases
    assert _ids(demo_workspace, "Offline Mode") == ids_before  # the very same rows, so later edits still apply
    with open_workspace(demo_workspace) as ws, ws.session() as session:
        journal = session.scalars(select(JournalEntry.summary).order_by(JournalEntry.id)).all()
    assert "Removed the rollout “Offline Mode” created from a template" in journal[-2]
    assert journal[-1].startswith("Created the rollout “Offline Mode”")


def _ids(path: Path, name: str) -> list[int]:
    with open_workspace(path) as ws, ws.session() as session:
        rollout = session.scalars(select(Rollout).where(Rollout.name == name)).one()
        return [rollout.id] + [p.id for p in rollout.phases] + [i.id for p in rollout.phases for i in p.checklist]


def test_save_as_template_then_plan_from_that_file(window: MainWindow, demo_workspace: Path, tmp_path: Path):
    rollout = next(r for r in window.rollouts.rows if r.name == "Smart Scheduling")
    path = window.template_actions.save_template(rollout.id, tmp_path / "Our launch plan.json")
    assert path is not None
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert saved["name"] == "Our launch plan"
    assert len([p for p in saved["phases"] if p["kind"] == "rollout"]) == 5

    dialog = window.template_actions.new_rollout()
    dialog.use_template_file(path)
    assert dialog.template["name"] == "Our launch plan" and dialog.template_choice.currentText().endswith("(file)")
    dialog.name.setText("From our file")
    ok(dialog)
    copied = plan(demo_workspace, "From our file")
    original = plan(demo_workspace, "Smart Scheduling")
    assert copied is not None and [p[:2] for p in copied] == [p[:2] for p in original]


def test_team_settings_persist_in_the_workspace_and_undo(window: MainWindow, demo_workspace: Path,
                                                         settings: QSettings):
    window.team_settings_action.trigger()
    dialog = window.team_settings_action.dialog
    assert dialog is not None and dialog.timezone.currentText() == "Europe/Berlin"
    names_before = [p["name"] for p in dialog.team()]
    dialog.timezone.setCurrentText("America/New_York")
    dialog.start.setTime(dialog.start.time().fromString("08:30", "HH:mm"))
    dialog.end.setTime(dialog.end.time().fromString("00:00", "HH:mm"))  # midnight: the end of the day
    dialog.days[4].setChecked(False)  # not on Fridays
    row = dialog.add_person()
    dialog.people.item(row, 0).setText("Ravi Kumar")
    dialog.people.item(row, 1).setText("ravi@example.com")
    dialog.people.cellWidget(row, 2).setCurrentIndex(list(Role).index(Role.SUPPORT))
    dialog.people.setCurrentCell(0, 0)
    removed = dialog.people.item(0, 0).text()
    dialog.people.removeRow(0)
    dialog.my_role.setCurrentIndex(dialog.my_role.findData(Role.CS.value))
    ok(dialog)

    with open_workspace(demo_workspace) as ws, ws.session() as session:
        assert session.get(Setting, "team.timezone").value == "America/New_York"
        hours = team_business_hours(session)
        assert hours.describe() == "08:30–24:00 Monday–Thursday, America/New_York"
        people = {m.name: m.role for m in session.scalars(select(TeamMember))}
    assert people["Ravi Kumar"] == Role.SUPPORT and removed not in people
    assert window.checklist_page.role() == Role.CS
    settings.sync()
    assert QSettings(settings.fileName(), QSettings.Format.IniFormat).value("checklists/myRole") == "cs"

    window.document.undo_stack.undo()
    with open_workspace(demo_workspace) as ws, ws.session() as session:
        assert session.get(Setting, "team.timezone").value == "Europe/Berlin"
        assert team_business_hours(session).describe() == "09:00–18:00 Monday–Friday, Europe/Berlin"
        assert sorted(m.name for m in session.scalars(select(TeamMember))) == sorted(names_before)


def test_team_settings_refuse_what_cannot_work(window: MainWindow, demo_workspace: Path):
    dialog = window.team_settings_action.open_dialog()
    dialog.timezone.setCurrentText("Mars/Olympus")
    assert "unknown" in dialog.hours_text.text()
    ok(dialog)
    assert dialog.isVisible() and "Mars/Olympus" in dialog.error.text()
    dialog.timezone.setCurrentText("UTC")
    dialog.add_person()  # left without a name
    ok(dialog)
    assert dialog.isVisible() and "needs a name" in dialog.error.text()
    dialog.reject()
    assert window.document.undo_stack.count() == 0
    with open_workspace(demo_workspace) as ws, ws.session() as session:
        assert session.get(Setting, "team.timezone").value == "Europe/Berlin"
        assert session.scalar(select(Phase.id).limit(1)) is not None


def test_ok_on_untouched_team_settings_changes_nothing(window: MainWindow):
    ok(window.team_settings_action.open_dialog())
    assert window.document.undo_stack.count() == 0


def test_the_cohort_table_says_a_rule_in_the_words_of_the_pdf_and_the_undo_texts(window: MainWindow,
                                                                                  demo_workspace: Path):
    from launchdesk.planning.cohort_rules import describe_rule

    model = window.plan_page.cohorts
    column = next(n for n, c in enumerate(model.columns) if c.title == "Accounts matching")
    assert model.rows
    shown = [model.index(row, column).data() for row in range(model.rowCount())]
    assert shown == [describe_rule(c.rule) for c in model.rows]
    assert "segment is mid_market and engagement is one of high, power" in shown
