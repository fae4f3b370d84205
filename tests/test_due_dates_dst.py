"""A checklist item's due moment is the same everywhere it is shown, across Berlin's daylight-saving changes:
the timeline's marker, the Checklists tab, its .ics and CSV exports, the go/no-go panel and the PDF plan. A
message's planned send time follows the same rule.

Whole days of an offset count on the team's wall clock: "48 h before" a phase starting Monday 09:00 is
Saturday 09:00 there, although only 47 (spring) or 49 (autumn) hours lie between them.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
from pypdf import PdfReader
from sqlalchemy import select

from launchdesk.export.pdf import export_plan
from launchdesk.export.plan import ExportOptions
from launchdesk.models import ChecklistItem, Message, Phase, PhaseStatus, Role, Rollout, Setting
from launchdesk.planning.checklists import describe_offset, due_at, load_items
from launchdesk.planning.schedule import when_text
from launchdesk.views.checklist_page import ChecklistPage
from launchdesk.views.document import WorkspaceDocument
from launchdesk.views.gonogo_page import read_panel
from launchdesk.views.timeline import TimelineWidget
from launchdesk.views.timeline_items import ChecklistMarker, MessageMarker
from launchdesk.workspace import create_workspace, open_workspace

pytestmark = pytest.mark.gui

UTC = dt.timezone.utc
BERLIN_NAME = "Europe/Berlin"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


BERLIN = ZoneInfo(BERLIN_NAME)


def berlin(*args: int) -> dt.datetime:
    """A moment on the Berlin wall clock, as the UTC time the workspace stores."""
    return dt.datetime(*args, tzinfo=BERLIN).astimezone(UTC)

# Summer time begins on Sunday 29 March 2026 (02:00 → 03:00) and ends on Sunday 25 October 2026 (03:00 → 02:00).
# (phase name, its planned start, [(offset minutes, role, title, due on the Berlin wall clock)])
PLAN = [
    ("Before the spring change", berlin(2026, 3, 27, 9), [
        (2880, Role.SUPPORT, "Review the first tickets", berlin(2026, 3, 29, 9)),  # Sunday, already CEST
    ]),
    ("After the spring change", berlin(2026, 3, 30, 9), [
        (-3120, Role.ENGINEERING, "Freeze the config", berlin(2026, 3, 28, 5)),  # 2 days 4 h before: Saturday, CET
        (-2880, Role.SUPPORT, "Brief support", berlin(2026, 3, 28, 9)),  # Saturday 09:00 CET: 47 h before
        (-1440, Role.PMM, "Confirm the cohort", berlin(2026, 3, 29, 9)),
    ]),
    ("After the autumn change", berlin(2026, 10, 26, 9), [
        (-2880, Role.SUPPORT, "Brief support again", berlin(2026, 10, 24, 9)),  # Saturday 09:00 CEST: 49 h before
        (1440, Role.CS, "Call the design partners", berlin(2026, 10, 27, 9)),
    ]),
]
DUE = {title: due for _name, _start, items in PLAN for _offset, _role, title, due in items}


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "dst.launchdesk"
    with create_workspace(path) as ws, ws.transaction() as session:
        session.add(Setting(key="team.timezone", value=BERLIN_NAME))
        rollout = Rollout(name="Across the clock changes", feature_name="Summer time", owner="Ada")
        for position, (name, start, items) in enumerate(PLAN):
            phase = Phase(rollout=rollout, name=name, position=position, planned_start=start,
                          planned_end=start + dt.timedelta(days=2), target_percentage=10.0 * (position + 1),
                          status=PhaseStatus.COMPLETE if position == 0 else PhaseStatus.PLANNED)
            for n, (offset, role, title, _due) in enumerate(items):
                phase.checklist.append(ChecklistItem(role=role, offset_minutes=offset, position=n, title=title))
        session.add(rollout)
    return path


@pytest.fixture
def document(qapp, workspace: Path):  # type: ignore[no-untyped-def]
    doc = WorkspaceDocument()
    doc.open(workspace)
    yield doc
    doc.close()


def the_rollout_id(path: Path) -> int:
    with open_workspace(path) as ws, ws.session() as session:
        return session.scalars(select(Rollout.id)).one()


def test_due_at_keeps_whole_days_on_the_wall_clock():
    for _name, start, items in PLAN:
        for offset, _role, title, due in items:
            assert due_at(start, offset, BERLIN) == due, title
    # The elapsed-time reading the timeline used to have would be an hour off here.
    spring_start = PLAN[1][1]
    assert due_at(spring_start, -2880, BERLIN) - spring_start == -dt.timedelta(hours=47)
    autumn_start = PLAN[2][1]
    assert due_at(autumn_start, -2880, BERLIN) - autumn_start == -dt.timedelta(hours=49)


def test_the_timeline_marker_sits_at_the_due_moment(qtbot, document: WorkspaceDocument, workspace: Path):
    timeline = TimelineWidget(document)
    qtbot.addWidget(timeline)
    timeline.resize(1200, 500)
    timeline.set_rollout(the_rollout_id(workspace))
    scene = timeline.scene
    markers = [item for item in scene.items() if isinstance(item, ChecklistMarker)]
    assert sorted(i.title for m in markers for i in m.items) == sorted(DUE)
    for marker in markers:
        (item,) = marker.items
        due = DUE[item.title]
        assert marker.scenePos().x() == pytest.approx(scene.scale.x(due)), item.title
        assert f"Checklist due {when_text(due, BERLIN)} " in marker.toolTip()
    brief = next(m for m in markers if m.items[0].title == "Brief support")
    assert "Sat 28 Mar 09:00" in brief.toolTip()


def test_the_checklists_tab_and_its_exports_show_the_same_moments(qtbot, document: WorkspaceDocument,
                                                                  workspace: Path, tmp_path: Path):
    page = ChecklistPage(document)
    qtbot.addWidget(page)
    page.role_filter.setCurrentIndex(0)  # every role
    page.resize(1100, 600)
    page.set_rollout(the_rollout_id(workspace))
    page.show()
    qtbot.waitExposed(page)
    assert page.zone.key == BERLIN_NAME
    assert {i.title: i.due for i in page.items} == DUE
    shown = {node.title: node.due for phase in page.model.roots for moment in phase.children
             for node in moment.children}
    assert shown == {title: when_text(due, BERLIN) for title, due in DUE.items()}
    # A moment's group shows its due time as well: "48 h before" the spring phase is Saturday 09:00.
    spring = next(n for n in page.model.roots if n.title == "After the spring change")
    assert next(m.due for m in spring.children if m.title == "48 h before") == "Sat 28 Mar 09:00"

    for now in (berlin(2026, 3, 25, 12), berlin(2026, 10, 21, 12)):  # each change's next seven days
        page.clock = lambda now=now: now
        ics, table = tmp_path / "week.ics", tmp_path / "week.csv"
        count = page.export("ics", ics)
        events = list(icalendar.Calendar.from_ical(ics.read_bytes()).walk("VEVENT"))
        assert count == len(events) > 0
        for event in events:
            assert event.decoded("DTSTART") == DUE[str(event.get("SUMMARY"))]
        page.export("csv", table)
        with table.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        assert len(rows) == count
        for row in rows:
            due = DUE[row["title"]]
            assert row["due"] == due.astimezone(BERLIN).isoformat(timespec="minutes")
            assert row["due_utc"] == due.strftime("%Y-%m-%dT%H:%MZ")


def test_the_go_no_go_panel_shows_the_same_moments(workspace: Path):
    with open_workspace(workspace) as ws, ws.session() as session:
        state = read_panel(session, the_rollout_id(workspace), berlin(2026, 3, 26, 12))
    assert state is not None and state.next_phase is not None
    assert state.next_phase.name == "After the spring change"
    lines = {line.title: line.due_at for line in state.checklist}
    assert lines == {"Brief support": DUE["Brief support"], "Confirm the cohort": DUE["Confirm the cohort"]}


def test_the_pdf_plan_shows_the_same_moments(qapp, workspace: Path, tmp_path: Path):
    out = tmp_path / "plan.pdf"
    with open_workspace(workspace) as ws:
        export_plan(ws, the_rollout_id(workspace), out, ExportOptions(sections=("checklists",)))
        with ws.session() as session:
            items = load_items(session, BERLIN)
    text = " ".join(" ".join(page.extract_text().split()) for page in PdfReader(out).pages)
    assert {i.title: i.due for i in items} == DUE
    for item in items:
        local = DUE[item.title].astimezone(BERLIN)
        shown = f"{local:%a} {local.day} {MONTHS[local.month - 1]} {local.year} {local:%H:%M}"
        assert f"{item.title} {shown} {describe_offset(item.offset_minutes)}" in text, (item.title, shown)
    assert "Sat 28 Mar 2026 09:00 48 h before" in text
    assert "Sat 24 Oct 2026 09:00 48 h before" in text


def test_a_message_48_h_before_is_planned_at_the_same_wall_clock_moment(qapp, qtbot, document: WorkspaceDocument,
                                                                       workspace: Path, tmp_path: Path):
    with open_workspace(workspace) as ws, ws.transaction() as session:
        phase = session.scalars(select(Phase).where(Phase.name == "After the spring change")).one()
        session.add(Message(phase=phase, name="Heads-up e-mail", subject="Soon", body="Hello",
                            send_offset_minutes=-2880))
    sends = DUE["Brief support"]  # Saturday 28 March 09:00 CET, 47 hours before the phase
    timeline = TimelineWidget(document)
    qtbot.addWidget(timeline)
    timeline.resize(1200, 500)
    timeline.set_rollout(the_rollout_id(workspace))
    (marker,) = [item for item in timeline.scene.items() if isinstance(item, MessageMarker)]
    assert marker.scenePos().x() == pytest.approx(timeline.scene.scale.x(sends))
    assert "Sends Sat 28 Mar 09:00 " in marker.toolTip()

    from launchdesk.views.messages_page import MessagesPage

    page = MessagesPage(document)
    qtbot.addWidget(page)
    page.set_rollout(the_rollout_id(workspace))
    page.load_now()
    assert [row.sends_at for row in page.messages.rows] == [sends]  # the Messages tab's "Sends at" column

    out = tmp_path / "comms.pdf"
    with open_workspace(workspace) as ws:
        export_plan(ws, the_rollout_id(workspace), out, ExportOptions(sections=("comms",)))
    text = " ".join(" ".join(page.extract_text().split()) for page in PdfReader(out).pages)
    assert "Heads-up e-mail" in text and "Sat 28 Mar 2026 09:00" in text
