"""The Cohorts tab on a demo workspace: the rule editor's live count, sample and overlaps agree with judging every
account directly; rule, field, add and delete edits are undo steps; a rule that matches no one is a warning."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from launchdesk.models import Account, Cohort, Phase, Rollout
from launchdesk.planning.cohort_rules import matches
from launchdesk.views.cohort_editor import DRAFT, CohortsPage
from launchdesk.views.document import WorkspaceDocument
from launchdesk.workspace import open_workspace

pytestmark = pytest.mark.gui


@pytest.fixture
def document(qapp, demo_workspace: Path):  # type: ignore[no-untyped-def]
    doc = WorkspaceDocument()
    doc.open(demo_workspace)
    yield doc
    doc.close()


@pytest.fixture
def page(qtbot, document: WorkspaceDocument) -> CohortsPage:
    with document.workspace.session() as session:
        rollout_id = session.scalars(select(Rollout.id).where(Rollout.name == "Smart Scheduling")).one()
    widget = CohortsPage(document)
    qtbot.addWidget(widget)
    widget.resize(1100, 700)
    widget.set_rollout(rollout_id)
    widget.show()
    qtbot.waitExposed(widget)
    settle(qtbot, widget)
    return widget


def settle(qtbot, page: CohortsPage) -> None:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: not page.count_pending, timeout=20_000)


def choose(qtbot, page: CohortsPage, name: str) -> None:  # type: ignore[no-untyped-def]
    page.cohort_view.selectRow(next(i for i, c in enumerate(page.cohort_rows) if c.name == name))
    settle(qtbot, page)


def members(path: Path, rule) -> set[str]:  # type: ignore[no-untyped-def]
    with open_workspace(path) as ws, ws.session() as session:
        return {a.account_key for a in session.scalars(select(Account)) if matches(rule, a.attributes)}


def saved_rule(path: Path, cohort_id: int):  # type: ignore[no-untyped-def]
    with open_workspace(path) as ws, ws.session() as session:
        return session.get(Cohort, cohort_id).rule


def test_the_live_count_equals_a_count_computed_directly_and_follows_each_edit(qtbot, page: CohortsPage,
                                                                               demo_workspace: Path):
    choose(qtbot, page, "Engaged mid-market customers")
    cohort = next(c for c in page.cohort_rows if c.name == "Engaged mid-market customers")
    expected = members(demo_workspace, cohort.rule)
    assert 0 < page.reach.counts[DRAFT] == len(expected) < page.reach.total == 300
    assert f"<b>{len(expected)}</b> of 300 accounts match" in page.count_label.text()
    assert {s.account_key for s in page.reach.sample} <= expected

    # Widen the rule in the editor: mid-market or enterprise, high or power engagement.
    segment_row = next(r for r in page.rule.rows if r.attribute.currentText() == "segment")
    segment_row.operator.setCurrentIndex(segment_row.operator.findData("in"))
    segment_row.values.setText("mid_market, enterprise")
    settle(qtbot, page)
    draft = page.rule.draft()
    widened = members(demo_workspace, draft)
    assert page.reach.counts[DRAFT] == len(widened) > len(expected)
    assert f"<b>{len(widened)}</b> of 300" in page.count_label.text()

    segment_row.values.editingFinished.emit()  # leaving the box saves the rule as one undo step
    assert saved_rule(demo_workspace, cohort.id) == draft
    page.document.undo_stack.undo()
    assert saved_rule(demo_workspace, cohort.id) == cohort.rule
    settle(qtbot, page)
    assert page.rule.draft() == cohort.rule  # the editor shows the rule that is saved again
    assert page.reach.counts[DRAFT] == len(expected)


def test_overlaps_name_the_other_cohorts_with_the_shared_count(qtbot, page: CohortsPage, demo_workspace: Path):
    choose(qtbot, page, "Power users")
    rules = {c.name: c.rule for c in page.cohort_rows}
    power = members(demo_workspace, rules["Power users"])
    names = {c.id: c.name for c in page.cohort_rows}
    shown = {names[k]: n for k, n in page.reach.overlaps(DRAFT)}
    for name, rule in rules.items():
        shared = len(power & members(demo_workspace, rule))
        if name != "Power users" and shared:
            assert shown[name] == shared
            assert f"{name} ({shared:,})" in page.overlaps_label.text()


def test_a_rule_matching_no_one_is_a_warning_and_a_half_typed_rule_is_not_saved(qtbot, page: CohortsPage,
                                                                                 demo_workspace: Path):
    choose(qtbot, page, "Power users")
    cohort_id = page.cohort_id
    before = saved_rule(demo_workspace, cohort_id)
    row = page.rule.rows[0]
    row.values.setText("no_such_engagement")
    settle(qtbot, page)
    assert page.reach.counts[DRAFT] == 0
    assert "matches no account" in page.count_label.text()

    row.values.setText("power")
    page.rule.add_condition()  # an empty condition: nothing to count or save yet
    assert page.count_label.text().endswith("Condition 3: choose or type an attribute.</span>")
    page.rule.finished.emit()
    assert saved_rule(demo_workspace, cohort_id) == before
    page.rule.rows[-1].attribute.setCurrentText("region")
    page.rule.rows[-1].values.setText("eu")
    assert page.rule.problem() is None
    settle(qtbot, page)
    assert page.reach.counts[DRAFT] == len(members(demo_workspace, page.rule.draft()))


def test_field_edits_and_adding_and_deleting_cohorts_are_undoable(qtbot, page: CohortsPage, demo_workspace: Path):
    document = page.document
    choose(qtbot, page, "Power users")
    cohort_id = page.cohort_id
    page.name.setText("Power users (EU)")
    page.name.editingFinished.emit()
    with open_workspace(demo_workspace) as ws, ws.session() as session:
        assert session.get(Cohort, cohort_id).name == "Power users (EU)"
        phase_id = session.scalars(select(Phase.id).where(Phase.cohort_id == cohort_id)).one()
    document.undo_stack.undo()
    with open_workspace(demo_workspace) as ws, ws.session() as session:
        assert session.get(Cohort, cohort_id).name == "Power users"

    page.delete_cohort()
    with open_workspace(demo_workspace) as ws, ws.session() as session:
        assert session.get(Cohort, cohort_id) is None and session.get(Phase, phase_id).cohort_id is None
    assert all(c.id != cohort_id for c in page.cohort_rows)
    document.undo_stack.undo()
    with open_workspace(demo_workspace) as ws, ws.session() as session:
        assert session.get(Cohort, cohort_id).name == "Power users"
        assert session.get(Phase, phase_id).cohort_id == cohort_id  # the phase has its cohort back
    settle(qtbot, page)

    count = len(page.cohort_rows)
    page.add_cohort()
    settle(qtbot, page)
    assert len(page.cohort_rows) == count + 1 and page.name.text() == "New cohort"
    new_id = page.cohort_id
    assert page.reach.counts[DRAFT] == 300  # a new cohort matches everyone until its rule says otherwise
    document.undo_stack.undo()
    assert len(page.cohort_rows) == count
    document.undo_stack.redo()
    with open_workspace(demo_workspace) as ws, ws.session() as session:
        assert session.get(Cohort, new_id).name == "New cohort"
    settle(qtbot, page)
