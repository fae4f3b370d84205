"""The go/no-go panel on the demo's "Workflow Automations": gates, override rules, decisions, manual values,
Evaluate now against loopback Prometheus servers, the sparkline, and the kill switch's typed confirmation."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from sqlalchemy import func, select

from launchdesk.models import (
    Connection,
    ConnectionKind,
    Decision,
    DecisionKind,
    Gate,
    GateOutcome,
    JournalEntry,
    MetricSample,
    Phase,
    PhaseStatus,
    Rollout,
)
from launchdesk.views import gonogo_page, tasks
from launchdesk.views.document import WorkspaceDocument
from launchdesk.views.gonogo_page import GoNoGoPage
from launchdesk.views.sparkline import LINE_COLOR, Sparkline
from launchdesk.workspace import Workspace
from loopback_http import LoopbackHttp, json_answer

pytestmark = pytest.mark.gui

ROLLOUT = "Workflow Automations"
NEXT_PHASE = "Phase 4: Half of all accounts"
LEFT = Qt.MouseButton.LeftButton


@pytest.fixture
def document(demo_workspace: Path) -> Iterator[WorkspaceDocument]:
    document = WorkspaceDocument()
    document.open(demo_workspace)
    yield document
    document.close()


@pytest.fixture
def page(qtbot, document: WorkspaceDocument) -> GoNoGoPage:
    page = GoNoGoPage(document)
    qtbot.addWidget(page)
    page.resize(1100, 760)
    page.set_rollout(rollout_id(document.workspace, ROLLOUT))
    page.show()
    qtbot.waitExposed(page)
    return page


def rollout_id(workspace: Workspace | None, name: str) -> int:
    assert workspace is not None
    with workspace.session() as session:
        return session.scalars(select(Rollout.id).where(Rollout.name == name)).one()


def gate_id(page: GoNoGoPage, name: str) -> int:
    assert page.state is not None
    return next(row.id for row in page.state.gates if row.name == name)


def gate_row(page: GoNoGoPage, name: str) -> gonogo_page.GateRow:
    assert page.state is not None
    return next(row for row in page.state.gates if row.name == name)


def enter_value(qtbot, page: GoNoGoPage, gate: str, value: str, baseline: str = "") -> None:
    """Through the gate's own "Enter value…" button and dialog, as a person would."""
    button = page.value_buttons[gate_id(page, gate)]
    qtbot.mouseClick(button, LEFT)
    dialog = page.dialog
    assert isinstance(dialog, gonogo_page.ManualValueDialog)
    dialog.value.setText(value)
    dialog.baseline.setText(baseline)
    dialog.entered_by.setText("Lucas Moreau")
    qtbot.mouseClick(dialog.save_button, LEFT)


def test_the_panel_shows_the_next_phase_its_gates_checklist_and_readiness(page: GoNoGoPage, document):
    state = page.state
    assert state is not None and state.next_phase is not None
    assert state.next_phase.name == NEXT_PHASE and page.heading.text() == f"Next phase: {NEXT_PHASE}"
    assert state.running_phase is not None and state.running_phase.status == PhaseStatus.LIVE
    with document.workspace.session() as session:
        rollout = session.scalars(select(Rollout).where(Rollout.name == ROLLOUT)).one()
        assert [page.gates.index(i, 0).data() for i in range(page.gates.rowCount())] == [g.name for g in rollout.gates]
        phase = next(p for p in rollout.phases if p.name == NEXT_PHASE)
        due = [(i.title, i.done) for i in phase.checklist if i.offset_minutes in (-2880, -1440)]
    assert len(due) == 12 and sorted((c.title, c.done_at is not None) for c in state.checklist) == sorted(due)
    assert 0 < sum(done for _title, done in due) < 12  # the demo has some of them done, so both states show
    # The demo's ticket count for today is not in: the value shown is the last known one, marked so.
    tickets = gate_row(page, "Support tickets")
    assert tickets.result.outcome == GateOutcome.INCONCLUSIVE and tickets.last_known
    assert page.gates.index(2, 1).data().endswith("(last known)")
    assert "Support tickets" in page.blockers.text()
    assert "Complete." in page.readiness.text() and "Kill switch tested on" in page.readiness.text()
    assert page.hours.text().startswith("Starts inside business hours")
    # Every demo gate is manual: nothing to ask, so Evaluate now says so instead of doing nothing.
    assert not page.evaluate_button.isEnabled() and "manual" in page.evaluate_button.toolTip()
    assert page.kill_button.isEnabled()


def test_a_failing_gate_disables_a_plain_go_and_an_override_reason_enables_it(qtbot, page: GoNoGoPage, document):
    enter_value(qtbot, page, "Activation within 7 days", "12")  # 12 % is not > 25 %
    assert gate_row(page, "Activation within 7 days").result.outcome == GateOutcome.FAIL
    assert page.gates.index(3, 3).data() == "● Fail"

    qtbot.mouseClick(page.decision_buttons[DecisionKind.GO], LEFT)
    dialog = page.dialog
    assert isinstance(dialog, gonogo_page.DecisionDialog)
    assert {r.name for r in dialog.blockers} == {"Activation within 7 days", "Support tickets"}
    assert "Activation within 7 days" in dialog.blocker_note.text() and dialog.override.isVisibleTo(dialog)
    dialog.name.setCurrentText("Mia Hoffmann")  # a team member: the role follows
    assert dialog.role.currentText() == "PMM"
    dialog.why.setPlainText("Activation is low because phase 3 accounts got access two days ago.")
    assert not dialog.record_button.isEnabled()
    assert "override reason" in dialog.record_button.toolTip()
    dialog.override.setPlainText("Too early to judge activation; tickets are counted by hand tonight.")
    assert dialog.record_button.isEnabled()
    qtbot.mouseClick(dialog.record_button, LEFT)
    assert page.dialog is None  # recorded and closed

    with document.workspace.session() as session:
        phase = session.scalars(select(Phase).where(Phase.name == NEXT_PHASE, Phase.rollout.has(name=ROLLOUT))).one()
        decision = session.scalars(select(Decision).where(Decision.phase_id == phase.id)).one()
        assert phase.status == PhaseStatus.APPROVED
        assert decision.kind == DecisionKind.GO and decision.overridden
        assert decision.decided_by == "Mia Hoffmann (PMM)"
        assert decision.reason.endswith("Override: Too early to judge activation; tickets are counted by hand tonight.")
        snapshot = {entry["gate"]: entry for entry in decision.gate_snapshot}
        assert snapshot["Activation within 7 days"]["outcome"] == "fail"
        assert snapshot["Activation within 7 days"]["value"] == 12.0
        entry = session.scalars(select(JournalEntry).where(JournalEntry.kind == "decision.go")
                                .order_by(JournalEntry.id.desc())).first()
        assert entry is not None and entry.details["overridden"] is True
        assert "OVERRIDING 2 gate(s)" in entry.summary
        assert {s["gate"] for s in entry.details["snapshot"]} == set(snapshot)

    # The decision log shows it first, marked, with its snapshot one click away.
    item = page.decision_log.topLevelItem(0)
    assert item.text(1) == "Go — OVERRIDE" and item.text(3) == NEXT_PHASE
    assert item.foreground(1).color() == QColor(gonogo_page.OVERRIDE_COLOR)
    children = [item.child(i).text(0) for i in range(item.childCount())]
    assert children[0].startswith("Why: Activation is low")
    assert children[1] == "Override: Too early to judge activation; tickets are counted by hand tonight."
    assert any(c.startswith("Activation within 7 days: 12 % (passes when > 25 %) — fail") for c in children)
    assert len(children) == 2 + len(snapshot)
    # The phase is approved now: another go is not possible, a no-go (withdrawing it) is.
    assert not page.decision_buttons[DecisionKind.GO].isEnabled()
    assert "already has a go" in page.decision_buttons[DecisionKind.GO].toolTip()
    assert page.decision_buttons[DecisionKind.NO_GO].isEnabled()


def test_a_go_on_passing_gates_needs_no_override(qtbot, page: GoNoGoPage, document):
    enter_value(qtbot, page, "Support tickets", "20", baseline="18")  # 20 < 2 × 18
    assert page.state is not None and page.state.blockers == []
    assert page.blockers.text() == "Every gate passes."
    dialog = page.open_decision_dialog(DecisionKind.GO)
    assert dialog is not None and not dialog.override.isVisibleTo(dialog) and dialog.record_button.text() == "Go"
    dialog.name.setCurrentText("Daniel Okafor")
    dialog.why.setPlainText("All gates pass.")
    assert dialog.record_button.isEnabled()
    qtbot.mouseClick(dialog.record_button, LEFT)
    with document.workspace.session() as session:
        decision = session.scalars(select(Decision).order_by(Decision.id.desc())).first()
        assert decision is not None and decision.kind == DecisionKind.GO and not decision.overridden
    assert page.decision_log.topLevelItem(0).text(1) == "Go"


def test_a_no_go_records_without_an_override(qtbot, page: GoNoGoPage, document):
    qtbot.mouseClick(page.decision_buttons[DecisionKind.NO_GO], LEFT)
    dialog = page.dialog
    assert isinstance(dialog, gonogo_page.DecisionDialog)
    assert dialog.blockers == [] and not dialog.override.isVisibleTo(dialog)
    dialog.name.setCurrentText("Priya Raman")
    assert not dialog.record_button.isEnabled()  # why is required
    dialog.why.setPlainText("Ticket count for today is missing; decide tomorrow.")
    qtbot.mouseClick(dialog.record_button, LEFT)
    with document.workspace.session() as session:
        phase = session.scalars(select(Phase).where(Phase.name == NEXT_PHASE, Phase.rollout.has(name=ROLLOUT))).one()
        (decision,) = phase.decisions
        assert decision.kind == DecisionKind.NO_GO and not decision.overridden
        assert decision.reason == "Ticket count for today is missing; decide tomorrow."
        assert phase.status == PhaseStatus.AWAITING_GO
        entry = session.scalars(select(JournalEntry).where(JournalEntry.kind == "decision.no_go")
                                .order_by(JournalEntry.id.desc())).first()
        assert entry is not None and entry.actor == "Priya Raman" and "not passing: Support tickets" in entry.summary
    top = page.decision_log.topLevelItem(0)
    assert top.text(1) == "No-go" and top.text(2) == "Priya Raman (Engineering)"


def test_the_decision_dialog_says_a_decision_is_a_record_not_an_undoable_edit(page: GoNoGoPage, document):
    dialog = page.open_decision_dialog(DecisionKind.PAUSE)
    assert dialog is not None and dialog.windowTitle() == "Pause for Phase 3: Engaged mid-market customers"
    texts = " ".join(label.text() for label in dialog.findChildren(type(page.heading)))
    assert "Undo does not take it back" in texts
    dialog.reject()
    assert document.undo_stack.count() == 0


def test_manual_value_entry_stores_a_metric_sample_and_refuses_what_is_not_a_number(qtbot, page: GoNoGoPage,
                                                                                  document):
    tickets = gate_id(page, "Support tickets")
    with document.workspace.session() as session:
        before = session.scalar(select(func.count()).select_from(MetricSample).where(MetricSample.gate_id == tickets))

    qtbot.mouseClick(page.value_buttons[tickets], LEFT)
    dialog = page.dialog
    assert isinstance(dialog, gonogo_page.ManualValueDialog)
    dialog.value.setText("many")
    qtbot.mouseClick(dialog.save_button, LEFT)
    assert dialog.error.isVisibleTo(dialog) and "must be a number" in dialog.error.text()
    assert page.dialog is dialog  # still open, nothing stored

    dialog.value.setText("31")
    dialog.baseline.setText("20")
    dialog.entered_by.setText("Lucas Moreau")
    qtbot.mouseClick(dialog.save_button, LEFT)
    assert page.dialog is None
    with document.workspace.session() as session:
        samples = list(session.scalars(select(MetricSample).where(MetricSample.gate_id == tickets)
                                       .order_by(MetricSample.id)))
        assert len(samples) == before + 1
        newest = samples[-1]
        assert (newest.value, newest.baseline, newest.entered_by) == (31.0, 20.0, "Lucas Moreau")
        assert newest.outcome == GateOutcome.PASS  # 31 < 2 × 20
        assert session.scalars(select(JournalEntry).where(JournalEntry.kind == "gate.value")
                               .order_by(JournalEntry.id.desc())).first().actor == "Lucas Moreau"
    row = gate_row(page, "Support tickets")
    assert row.result.outcome == GateOutcome.PASS and not row.last_known
    assert page.gates.index(2, 1).data() == "31" and page.gates.index(2, 4).data() == "just now"


def count_line_pixels(widget: Sparkline) -> int:
    image = widget.grab().toImage()
    line = QColor(LINE_COLOR)
    return sum(
        1
        for x in range(image.width())
        for y in range(image.height())
        if abs(image.pixelColor(x, y).blue() - line.blue()) < 40 and abs(image.pixelColor(x, y).red() - line.red()) < 40
        and abs(image.pixelColor(x, y).green() - line.green()) < 40
    )


def test_the_sparkline_paints_the_gates_history(qtbot, page: GoNoGoPage, document):
    error_rate = gate_id(page, "Error rate")
    spark = page.sparklines[error_rate]
    row = gate_row(page, "Error rate")
    since = row.result.observed_at - gonogo_page.HISTORY_SPAN
    with document.workspace.session() as session:
        stored = session.scalar(select(func.count()).select_from(MetricSample)
                                .where(MetricSample.gate_id == error_rate, MetricSample.sampled_at >= since))
    assert len(spark.points) == stored > 100  # hourly values over two weeks
    assert spark.limit == pytest.approx(0.1)
    assert count_line_pixels(spark) > 100

    empty = Sparkline()
    qtbot.addWidget(empty)
    empty.resize(spark.size())
    assert count_line_pixels(empty) == 0  # so the pixels above are the history, not the background


@pytest.fixture
def prometheus_pair() -> Iterator[tuple[LoopbackHttp, LoopbackHttp]]:
    """Two Prometheus look-alikes on loopback: one answers the error-rate query, one refuses every query."""
    good, broken = LoopbackHttp(), LoopbackHttp()
    now = time.time()
    good.route("/api/v1/query", json_answer(200, {"status": "success", "data": {
        "resultType": "vector", "result": [{"metric": {}, "value": [now, "0.42"]}]}}))
    good.route("/api/v1/query_range", json_answer(200, {"status": "success", "data": {
        "resultType": "matrix", "result": [{"metric": {}, "values": [[now - 60 * i, "0.42"] for i in range(20, -1, -1)]}]}}))
    broken.route("/api/v1/query", json_answer(400, {"status": "error", "errorType": "bad_data",
                                                     "error": "parse error at char 7: unexpected <by>"}))
    yield good, broken
    good.stop()
    broken.stop()


def test_evaluate_now_asks_the_sources_in_the_background_and_keeps_the_last_value_of_a_broken_one(
        qtbot, page: GoNoGoPage, document, prometheus_pair):
    good, broken = prometheus_pair
    with document.workspace.transaction() as session:
        rollout = session.scalars(select(Rollout).where(Rollout.name == ROLLOUT)).one()
        gates = {g.name: g for g in rollout.gates}
        for name, server, gate in (("Prometheus", good, "Error rate"), ("Prometheus (broken)", broken, "P99 latency")):
            connection = Connection(name=name, kind=ConnectionKind.PROMETHEUS, url=server.url, options={"auth": "none"})
            session.add(connection)
            gates[gate].source_connection = connection
    page.invalidate()
    p99_before = gate_row(page, "P99 latency").shown_value
    assert page.evaluate_button.isEnabled()
    assert gate_id(page, "Error rate") not in page.value_buttons  # a sourced gate takes no typed value

    qtbot.mouseClick(page.evaluate_button, LEFT)
    assert page.evaluation is not None and not page.evaluate_button.isEnabled()
    qtbot.waitUntil(lambda: page.evaluation is None, timeout=20_000)

    error_rate, p99 = gate_row(page, "Error rate"), gate_row(page, "P99 latency")
    assert error_rate.result.outcome == GateOutcome.FAIL and error_rate.shown_value == pytest.approx(0.42)
    assert p99.result.outcome == GateOutcome.INCONCLUSIVE and "parse error" in p99.result.reason
    assert p99.last_known and p99.shown_value == p99_before  # the last good value stays on screen
    assert page.problem.isVisibleTo(page) and "P99 latency" in page.problem.text()
    assert "parse error" in page.problem.text()
    assert page.activity.text().startswith("Evaluated 2 gate(s)")
    assert good.count("/api/v1/query") >= 1 and broken.count("/api/v1/query") >= 1
    with document.workspace.session() as session:
        newest = session.scalars(select(MetricSample).where(MetricSample.gate_id == gate_id(page, "P99 latency"))
                                 .order_by(MetricSample.id.desc())).first()
        assert newest is not None and newest.value is None and newest.outcome == GateOutcome.INCONCLUSIVE
        assert session.scalars(select(JournalEntry).where(JournalEntry.kind == "gate.outcome")
                               .order_by(JournalEntry.id.desc())).first().details["gate"] in ("Error rate",
                                                                                             "P99 latency")


def test_the_kill_switch_refuses_a_wrong_flag_key_without_starting_any_work(qtbot, page: GoNoGoPage, document,
                                                                          monkeypatch):
    started: list[object] = []
    monkeypatch.setattr(gonogo_page, "run_task", lambda *args, **kwargs: started.append(args))

    qtbot.mouseClick(page.kill_button, LEFT)
    dialog = page.dialog
    assert isinstance(dialog, gonogo_page.KillSwitchDialog)
    assert not dialog.off_button.isEnabled()
    dialog.typed.setText("workflow-automation")  # one letter short
    assert not dialog.off_button.isEnabled()
    dialog.typed.setText("workflow-automations")
    assert dialog.off_button.isEnabled()
    dialog.reject()

    refusal = page.pull_kill_switch("Workflow-Automations")
    assert refusal is not None and "Type the flag key “workflow-automations” exactly" in refusal
    assert started == [] and tasks.pending_tasks() == 0 and page.kill_switch is None
    with document.workspace.session() as session:
        assert session.scalar(select(func.count()).select_from(JournalEntry)
                              .where(JournalEntry.kind == "kill_switch")) == 0


def test_the_kill_switch_is_disabled_for_a_rollout_without_a_flag(page: GoNoGoPage, document):
    with document.workspace.transaction() as session:
        rollout = session.scalars(select(Rollout).where(Rollout.name == ROLLOUT)).one()
        rollout.flag_key = None
    page.invalidate()
    assert not page.kill_button.isEnabled() and "not linked to a flag" in page.kill_button.toolTip()
    assert page.open_kill_switch_dialog() is None


def test_pause_and_rollback_are_about_the_live_phase_and_disabled_when_none_is_live(page: GoNoGoPage, document):
    assert page.decision_buttons[DecisionKind.PAUSE].isEnabled()
    assert page.decision_buttons[DecisionKind.ROLLBACK].isEnabled()
    page.set_rollout(rollout_id(document.workspace, "Smart Scheduling"))
    assert not page.decision_buttons[DecisionKind.PAUSE].isEnabled()
    assert "No phase is live" in page.decision_buttons[DecisionKind.PAUSE].toolTip()
    assert page.decision_buttons[DecisionKind.GO].isEnabled()


def test_a_phase_starting_at_night_is_flagged_outside_business_hours(page: GoNoGoPage, document):
    with document.workspace.transaction() as session:
        phase = session.scalars(select(Phase).where(Phase.name == NEXT_PHASE, Phase.rollout.has(name=ROLLOUT))).one()
        # 02:00 UTC is 03:00 in Berlin in winter and 04:00 in summer: nobody of the demo team is online.
        phase.planned_start = phase.planned_start.replace(hour=2, minute=0)
    page.invalidate()
    text = page.hours.text()
    assert text.startswith(f"⚠ Outside business hours: {NEXT_PHASE} starts 0")
    assert "Europe/Berlin — nobody online" in text and "09:00–18:00" in text


def test_a_recorded_decision_shows_in_the_journal_tab(qtbot, page: GoNoGoPage, document):
    from launchdesk.views.journal_page import JournalPage

    journal_page = JournalPage(document)
    qtbot.addWidget(journal_page)
    journal_page.set_rollout(page.rollout_id)
    journal_page.show()
    qtbot.waitUntil(lambda: journal_page.model.rowCount() > 0 and not journal_page.model.loading)
    dialog = page.open_decision_dialog(DecisionKind.NO_GO)
    assert dialog is not None
    dialog.name.setCurrentText("Sofia Lindqvist")
    dialog.why.setPlainText("Two key accounts are mid-renewal; wait a week.")
    qtbot.mouseClick(dialog.record_button, LEFT)

    def newest_is_the_no_go() -> bool:
        rows = journal_page.model.rows
        return bool(rows) and not journal_page.model.loading and rows[0].kind == "decision.no_go"

    qtbot.waitUntil(newest_is_the_no_go)
    newest = journal_page.model.rows[0]
    assert newest.actor == "Sofia Lindqvist" and newest.summary.endswith("Two key accounts are mid-renewal; wait a week.")
    assert [s["gate"] for s in newest.details["snapshot"]] == [r.name for r in page.state.gates]


def test_the_kill_switch_turns_a_real_unleash_flag_off(qtbot, tmp_path: Path, unleash_server, secret_service):
    """The whole path on the real Unleash server: typed key, background work, the platform's confirmation."""
    import datetime as dt

    from launchdesk.connections import add_connection
    from launchdesk.models import PhaseKind
    from launchdesk.planning.template import create_rollout_from_template, load_template
    from launchdesk.workspace import create_workspace
    from unleash_admin import UnleashAdmin, unique_name

    admin = UnleashAdmin(unleash_server)
    flag = unique_name("gonogo-kill")
    try:
        admin.create_feature("default", flag)
        admin.flexible_rollout("default", flag, "development", 25)
        admin.enable("default", flag, "development")
    finally:
        admin.close()
    path = tmp_path / "kill.launchdesk"
    workspace = create_workspace(path)
    with workspace.transaction() as session:
        connection = add_connection(session, "Unleash", "unleash", url=unleash_server.base_url, project="default",
                                    environment="development", secret=unleash_server.admin_token)
        rollout = create_rollout_from_template(session, load_template(), name="Inbox", feature_name="Inbox",
                                               launch_start=dt.datetime(2027, 1, 11, 9, tzinfo=dt.timezone.utc))
        rollout.flag_connection, rollout.flag_key, rollout.flag_environment = connection, flag, "development"
        phases = [p for p in rollout.phases if p.kind is PhaseKind.ROLLOUT]
        for phase in phases[:2]:
            phase.status = PhaseStatus.COMPLETE
        phases[2].status = PhaseStatus.LIVE  # 25 %, as on the platform
    workspace.close()

    document = WorkspaceDocument()
    document.open(path)
    try:
        page = GoNoGoPage(document)
        qtbot.addWidget(page)
        page.set_rollout(rollout_id(document.workspace, "Inbox"))
        page.show()
        assert page.kill_button.isEnabled()
        assert page.pull_kill_switch(flag) is None
        assert page.kill_progress.isVisibleTo(page) and not page.kill_button.isEnabled()
        qtbot.waitUntil(lambda: page.kill_switch is None, timeout=90_000)
        assert page.activity.text().startswith("Off: the platform confirmed after"), page.problem.text()
        assert not page.kill_progress.isVisibleTo(page)
        with document.workspace.session() as session:
            entry = session.scalars(select(JournalEntry).where(JournalEntry.kind == "kill_switch")).one()
            assert entry.details["confirmed"] is True and entry.details["flag"] == flag
        assert page.state is not None and page.state.running_phase is None  # the live phase was rolled back
    finally:
        document.close()
