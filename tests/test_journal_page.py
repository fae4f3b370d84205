"""The Journal tab on the demo workspace: rollout, kind, date and text filters narrow the rows; CSV export."""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QDate
from sqlalchemy import func, select

from launchdesk.models import JournalEntry, Rollout
from launchdesk.views.document import WorkspaceDocument
from launchdesk.journal import CSV_COLUMNS
from launchdesk.views.journal_page import FAMILY, JournalPage, kind_choices

pytestmark = pytest.mark.gui

ROLLOUT = "Workflow Automations"


@pytest.fixture
def document(demo_workspace: Path) -> Iterator[WorkspaceDocument]:
    document = WorkspaceDocument()
    document.open(demo_workspace)
    yield document
    document.close()


@pytest.fixture
def rollout_id(document: WorkspaceDocument) -> int:
    assert document.workspace is not None
    with document.workspace.session() as session:
        return session.scalars(select(Rollout.id).where(Rollout.name == ROLLOUT)).one()


@pytest.fixture
def page(qtbot, document: WorkspaceDocument, rollout_id: int) -> JournalPage:
    page = JournalPage(document)
    qtbot.addWidget(page)
    page.set_rollout(rollout_id)
    page.show()
    qtbot.waitExposed(page)
    return page


def all_rows(qtbot, page: JournalPage) -> list:
    """Every row the filters let through, fetching the remaining pages as scrolling would."""
    model = page.model
    while True:
        qtbot.waitUntil(lambda: not model.loading, timeout=10_000)
        if not model.canFetchMore():
            return list(model.rows)
        model.fetchMore()


def db_count(document: WorkspaceDocument, *where) -> int:  # type: ignore[no-untyped-def]
    with document.workspace.session() as session:
        return session.scalar(select(func.count()).select_from(JournalEntry).where(*where))


def choose(combo, value) -> None:  # type: ignore[no-untyped-def]
    index = combo.findData(value)
    assert index >= 0, f"{value!r} is not offered"
    combo.setCurrentIndex(index)


def test_the_rollout_scope_shows_only_its_entries_and_all_shows_every_entry(qtbot, page, document, rollout_id):
    rows = all_rows(qtbot, page)
    assert len(rows) == db_count(document, JournalEntry.rollout_id == rollout_id) > 0
    assert {r.rollout_id for r in rows} == {rollout_id}
    assert page.model.index(0, 4).data() == ROLLOUT
    times = [(r.at, r.id) for r in rows]
    assert times == sorted(times, reverse=True)  # newest first

    choose(page.scope, "all")
    rows = all_rows(qtbot, page)
    assert len(rows) == db_count(document) > db_count(document, JournalEntry.rollout_id == rollout_id)


def test_filtering_by_kind_narrows_the_rows(qtbot, page, document, rollout_id):
    everything = len(all_rows(qtbot, page))
    choose(page.kind, "decision.no_go")
    rows = all_rows(qtbot, page)
    assert rows and {r.kind for r in rows} == {"decision.no_go"}
    assert len(rows) == db_count(document, JournalEntry.rollout_id == rollout_id,
                                 JournalEntry.kind == "decision.no_go") < everything

    choose(page.kind, FAMILY + "decision")
    rows = all_rows(qtbot, page)
    kinds = {r.kind for r in rows}
    assert kinds >= {"decision.go", "decision.no_go"} and all(k.startswith("decision.") for k in kinds)
    assert page.shown.text() == f"{len(rows)} entries"

    choose(page.kind, None)
    assert len(all_rows(qtbot, page)) == everything


def test_filtering_by_text_and_date(qtbot, page, document, rollout_id):
    everything = len(all_rows(qtbot, page))
    page.text.setText("power USERS")  # case does not matter
    qtbot.waitUntil(lambda: page.current_filter().text == "power USERS" and not page.model.loading
                    and page.model.rowCount() < everything, timeout=5_000)
    rows = all_rows(qtbot, page)
    assert rows and all("power users" in (r.summary + r.actor).casefold() for r in rows)
    page.text.clear()
    qtbot.waitUntil(lambda: len(all_rows(qtbot, page)) == everything, timeout=5_000)

    since = dt.date.today() - dt.timedelta(days=3)
    page.since.setDate(QDate(since.year, since.month, since.day))
    page.since_on.setChecked(True)
    rows = all_rows(qtbot, page)
    midnight = dt.datetime.combine(since, dt.time()).astimezone()
    assert len(rows) == db_count(document, JournalEntry.rollout_id == rollout_id,
                                 JournalEntry.at >= midnight.astimezone(dt.timezone.utc)) < everything
    assert all(r.at >= midnight for r in rows)


def test_export_csv_writes_the_filtered_entries(qtbot, page, document, rollout_id, tmp_path: Path):
    choose(page.kind, "message.sent")
    shown = all_rows(qtbot, page)
    out = tmp_path / "journal.csv"
    with qtbot.waitSignal(page.exported, timeout=10_000) as signal:
        page.export_csv(out)
    assert signal.args == [str(out), len(shown)]
    with open(out, newline="", encoding="utf-8") as f:
        lines = list(csv.reader(f))
    assert tuple(lines[0]) == CSV_COLUMNS
    body = lines[1:]
    assert len(body) == len(shown) == db_count(document, JournalEntry.rollout_id == rollout_id,
                                               JournalEntry.kind == "message.sent") > 0
    assert {row[2] for row in body} == {"message.sent"} and {row[3] for row in body} == {ROLLOUT}
    assert sorted(row[4] for row in body) == sorted(r.summary for r in shown)
    ats = [dt.datetime.fromisoformat(row[0]) for row in body]
    assert ats == sorted(ats)  # oldest first, like the command line's export
    assert all("sent" in json.loads(row[5]) for row in body)
    assert "Wrote" in page.status.text()


def test_kind_choices_group_families():
    choices = kind_choices(["decision.go", "decision.no_go", "kill_switch", "gate.outcome"])
    assert choices == [
        ("decision (all)", FAMILY + "decision"),
        ("    decision.go", "decision.go"),
        ("    decision.no_go", "decision.no_go"),
        ("gate (all)", FAMILY + "gate"),
        ("    gate.outcome", "gate.outcome"),
        ("kill_switch", "kill_switch"),
    ]
