"""The window's first screen is read with plain SQL (Workspace.read) before SQLAlchemy is imported.

These tests hold that path to the same answers as the engine's, and to the mapped column types, and check
in a fresh process that the first paint really needs no SQLAlchemy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import JSON, Boolean, Date, Enum

from launchdesk.models import Base, Phase, PhaseStatus, Setting
from launchdesk.models.base import UTCDateTime
from launchdesk.models.columns import COLUMN_KINDS, kinds
from launchdesk.planning.business_hours import TIMEZONE_SETTING
from launchdesk.views.document import _latest_journal_id, _team_zone
from launchdesk.views.plan_page import read_plan
from launchdesk.views.timeline_model import read_business_hours, read_timeline
from launchdesk.workspace import open_workspace


def _mapped_kind(column) -> object:
    kind = column.type
    if isinstance(kind, UTCDateTime):
        return "utc_datetime"
    if isinstance(kind, Enum) and kind.enum_class is not None:
        return kind.enum_class
    if isinstance(kind, JSON):
        return "json"
    if isinstance(kind, Boolean):
        return "bool"
    if isinstance(kind, Date):
        return "date"
    return None


def test_the_column_kinds_are_the_mapped_column_types():
    expected = {
        table.name: {c.name: _mapped_kind(c) for c in table.columns if _mapped_kind(c) is not None}
        for table in Base.metadata.tables.values()
    }
    assert COLUMN_KINDS == expected


def _first_screen(workspace) -> list[object]:
    """Everything the window reads for its first paint, for every rollout."""
    rollouts = workspace.read("SELECT * FROM rollout ORDER BY name", kinds=kinds("rollout"))
    answers: list[object] = [rollouts, _team_zone(workspace), _latest_journal_id(workspace),
                             read_business_hours(workspace)]
    for rollout in rollouts:
        answers.append(read_plan(workspace, rollout.id))
        answers.append(read_timeline(workspace, rollout.id))
    return answers


def test_plain_sql_reads_give_what_the_engine_gives(demo_workspace: Path):
    with open_workspace(demo_workspace) as ws:
        assert not ws.engine_ready
        plain = _first_screen(ws)
        assert not ws.engine_ready  # nothing above needed the engine
    with open_workspace(demo_workspace) as ws:
        ws.engine  # noqa: B018 - from now on Workspace.read goes through SQLAlchemy
        through_engine = _first_screen(ws)
    assert plain == through_engine
    rollouts, zone = plain[0], plain[1]
    assert len(rollouts) == 3 and str(zone) != "UTC"  # the demo has rollouts and a team time zone
    # and the values are typed as the mapped columns type them
    phases = read_plan(open_workspace(demo_workspace), rollouts[0].id)[1]
    assert isinstance(phases[0].status, PhaseStatus) and phases[0].planned_start.tzinfo is not None


def test_a_read_converts_as_the_model_does(demo_workspace: Path):
    with open_workspace(demo_workspace) as ws, ws.transaction() as s:
        s.merge(Setting(key=TIMEZONE_SETTING, value="America/New_York"))
        orm_phase = s.get(Phase, 1)
        expected = (orm_phase.status, orm_phase.planned_start, orm_phase.actual_start)
    with open_workspace(demo_workspace) as ws:
        row = ws.read("SELECT * FROM phase WHERE id = :id", {"id": 1}, kinds("phase"))[0]
        assert (row.status, row.planned_start, row.actual_start) == expected
        assert row._mapping["id"] == row.id == row[0] == 1
        assert str(_team_zone(ws)) == "America/New_York"
        raw = ws.read("SELECT value FROM setting WHERE key = :k", {"k": TIMEZONE_SETTING})[0].value
        assert json.loads(raw) == "America/New_York"  # without a kind, the stored text comes back


def test_a_worker_thread_reads_through_the_engine(demo_workspace: Path):
    """The sqlite3 connection belongs to the thread that made it; another thread gets the engine."""
    import threading

    with open_workspace(demo_workspace) as ws:
        main_rows = ws.read("SELECT id FROM rollout ORDER BY id")
        found: list[object] = []
        worker = threading.Thread(target=lambda: found.append(ws.read("SELECT id FROM rollout ORDER BY id")))
        worker.start()
        worker.join()
        assert found == [main_rows] and ws.engine_ready


FIRST_PAINT = textwrap.dedent("""
    import sys
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv[:1])
    from launchdesk.app import _open_first_workspace
    from launchdesk.views.main_window import MainWindow

    window = MainWindow()
    _open_first_workspace(window, sys.argv[1])
    seen = {}

    class AtPaint(QObject):
        def eventFilter(self, watched, event):
            if event.type() == QEvent.Type.Paint:
                watched.removeEventFilter(self)
                try:
                    seen["sqlalchemy at first paint"] = sorted(m for m in sys.modules if m.startswith("sqlalchemy"))
                    seen["rollouts"] = window.rollouts.rowCount()
                    seen["phases"] = window.plan_page.phases.rowCount()
                    seen["timeline bars"] = len(window.plan_page.timeline.scene.bars)
                finally:
                    QTimer.singleShot(0, ready)
            return False

    def ready():
        try:
            window.document.warm_up()
            seen["engine after warm-up"] = window.document.workspace.engine_ready
            seen["mapped classes after warm-up"] = "launchdesk.models.plan" in sys.modules
        finally:
            app.quit()

    at_paint = AtPaint()
    window.installEventFilter(at_paint)
    window.show()
    app.exec()
    print(seen)
""")


def test_the_first_paint_shows_the_workspace_without_sqlalchemy(demo_workspace: Path, tmp_path: Path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "LAUNCHDESK_CONFIG_DIR": str(tmp_path / "config"),
           "LAUNCHDESK_DATA_DIR": str(tmp_path / "data"), "LAUNCHDESK_LOG_DIR": str(tmp_path / "logs")}
    result = subprocess.run([sys.executable, "-c", FIRST_PAINT, str(demo_workspace)], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    seen = eval(result.stdout.strip().splitlines()[-1])  # noqa: S307 - our own child's printed dict
    assert seen["sqlalchemy at first paint"] == []
    assert seen["rollouts"] == 3 and seen["phases"] > 0 and seen["timeline bars"] == seen["phases"]
    assert seen["engine after warm-up"] and seen["mapped classes after warm-up"]


@pytest.mark.parametrize("target", ["missing.launchdesk"])
def test_reading_never_creates_a_file(tmp_path: Path, target: str):
    """The read-only connection cannot make a workspace appear where there is none."""
    from launchdesk.workspace import Workspace

    path = tmp_path / target
    ws = Workspace(f"sqlite:///{path}", path=path)
    with pytest.raises(Exception):
        ws.read("SELECT 1")
    assert not path.exists()
