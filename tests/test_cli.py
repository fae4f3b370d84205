"""The headless commands: what they write, what they print, and one-line errors with the right exit status."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from launchdesk.cli import command_names, main
from launchdesk.models import PhaseKind, Rollout, Setting
from launchdesk.planning.template import save_rollout_as_template
from launchdesk.workspace import create_workspace, open_workspace

UTC = dt.timezone.utc


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "team.launchdesk"
    assert main(["new", str(path)]) == 0
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def phase1_start(path: Path, name: str) -> dt.datetime:
    with open_workspace(path) as ws, ws.session() as session:
        rollout = session.scalars(select(Rollout).where(Rollout.name == name)).one()
        return next(p.planned_start for p in rollout.phases if p.kind == PhaseKind.ROLLOUT)


def test_new_creates_a_workspace_once(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    open_workspace(workspace).close()
    status, out, err = run(capsys, "new", workspace)
    assert status == 1 and out == ""
    assert err.count("\n") == 1 and "already exists" in err and err.startswith("launchdesk-cli: error: ")


def test_rollout_new_and_list(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "rollout", "new", workspace, "Smart Scheduling", "--feature", "Smart scheduling",
                         "--start", "2025-03-04", "--owner", "Mia")
    assert status == 0 and "Smart Scheduling" in out
    # a date means 09:00 in the team's time zone; without one set, UTC
    assert phase1_start(workspace, "Smart Scheduling") == dt.datetime(2025, 3, 4, 9, tzinfo=UTC)

    status, out, err = run(capsys, "rollout", "new", workspace, "Smart Scheduling")
    assert status == 1 and "already exists" in err and err.count("\n") == 1

    status, out, _ = run(capsys, "rollout", "list", workspace, "--json")
    [listed] = json.loads(out)
    assert (listed["name"], listed["feature_name"], listed["status"], listed["owner"], listed["phases"]) == (
        "Smart Scheduling", "Smart scheduling", "planning", "Mia", 8)
    assert listed["launch"].startswith("2025-03-04T09:00")

    status, out, _ = run(capsys, "rollout", "list", workspace)
    header, row = out.splitlines()
    assert header.split()[:2] == ["NAME", "STATUS"] and row.startswith("Smart Scheduling") and "planning" in row


def test_rollout_start_uses_the_team_time_zone(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with open_workspace(workspace) as ws, ws.transaction() as session:
        session.add(Setting(key="team.timezone", value="Europe/Berlin"))
    assert run(capsys, "rollout", "new", workspace, "Winter", "--start", "2025-01-14")[0] == 0
    assert run(capsys, "rollout", "new", workspace, "Summer", "--start", "2025-07-15T10:30")[0] == 0
    assert run(capsys, "rollout", "new", workspace, "Exact", "--start", "2025-07-15T10:30+00:00")[0] == 0
    assert phase1_start(workspace, "Winter") == dt.datetime(2025, 1, 14, 8, tzinfo=UTC)  # 09:00 CET
    assert phase1_start(workspace, "Summer") == dt.datetime(2025, 7, 15, 8, 30, tzinfo=UTC)  # 10:30 CEST
    assert phase1_start(workspace, "Exact") == dt.datetime(2025, 7, 15, 10, 30, tzinfo=UTC)


def test_rollout_without_start_launches_in_four_weeks(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "rollout", "new", workspace, "Later")[0] == 0
    start = phase1_start(workspace, "Later")
    assert start.date() == dt.datetime.now(UTC).date() + dt.timedelta(days=28) and start.hour == 9


def test_rollout_from_a_template_file(workspace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "rollout", "new", workspace, "First", "--start", "2025-03-04")[0] == 0
    with open_workspace(workspace) as ws, ws.session() as session:
        template = save_rollout_as_template(session.scalars(select(Rollout)).one(), name="Our own plan")
    template["phases"] = template["phases"][3:]  # no preparation weeks
    path = tmp_path / "ours.json"
    path.write_text(json.dumps(template))
    status, out, _ = run(capsys, "rollout", "new", workspace, "Second", "--template", path, "--start", "2025-05-06")
    assert status == 0 and "Our own plan" in out
    with open_workspace(workspace) as ws, ws.session() as session:
        second = session.scalars(select(Rollout).where(Rollout.name == "Second")).one()
        assert second.template_name == "Our own plan" and len(second.phases) == 5

    broken = tmp_path / "broken.json"
    broken.write_text('{"launchdesk_template": 1, "name": "x"}')
    status, _, err = run(capsys, "rollout", "new", workspace, "Third", "--template", broken)
    assert status == 1 and "broken.json" in err and err.count("\n") == 1


def test_demo_then_list_and_journal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    demo = tmp_path / "demo.launchdesk"
    status, out, _ = run(capsys, "demo", "--out", demo, "--accounts", "300")
    assert status == 0 and str(demo) in out
    status, out, _ = run(capsys, "rollout", "list", demo, "--json")
    assert sorted(r["status"] for r in json.loads(out)) == ["active", "complete", "planning"]

    status, out, _ = run(capsys, "journal", demo, "--rollout", "Workflow Automations", "--limit", "4")
    lines = out.splitlines()
    assert status == 0 and len(lines) == 4
    assert lines == sorted(lines)  # oldest first, ending with the latest
    assert "flags.sync" in lines[-1] and "[Workflow Automations]" not in out

    status, out, _ = run(capsys, "journal", demo)
    assert "[Billing Insights]" in out and "[Smart Scheduling]" in out

    status, _, err = run(capsys, "journal", demo, "--rollout", "Nope")
    assert status == 1 and "no rollout named 'Nope'" in err and "Workflow Automations" in err

    status, _, err = run(capsys, "demo", "--out", demo)
    assert status == 1 and "already exists" in err


def test_refuses_missing_and_foreign_workspaces(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    foreign = tmp_path / "foreign.db"
    sqlite3.connect(foreign).execute("CREATE TABLE t (x)").connection.close()
    for target, reason in ((tmp_path / "missing.launchdesk", "There is no workspace"),
                           (foreign, "not a LaunchDesk workspace")):
        for argv in (["rollout", "list", target], ["journal", target], ["rollout", "new", target, "X"]):
            status, out, err = run(capsys, *argv)
            assert status == 1 and out == ""
            assert err.count("\n") == 1 and reason in err and "Traceback" not in err
    assert not (tmp_path / "missing.launchdesk").exists()


def test_usage_errors_exit_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["rollout", "new", "x.launchdesk"], ["rollout", "new", "x", "y", "--start", "next tuesday"],
                 ["journal", "x", "--limit", "0"], ["frobnicate"], []):
        status, _, err = run(capsys, *argv)
        assert status == 2, argv
        assert err.count("\n") == 1 and "error:" in err
    status, out, _ = run(capsys, "--help")
    assert status == 0 and all(name in out for name in ("new", "demo", "rollout", "journal"))


def test_every_command_word_is_known_to_python_m_launchdesk() -> None:
    assert {"new", "demo", "rollout", "journal"} <= command_names()


def test_subprocess_exit_status_and_error_line(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    missing = tmp_path / "missing.launchdesk"
    result = subprocess.run([sys.executable, "-m", "launchdesk.cli", "rollout", "list", str(missing)],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == f"launchdesk-cli: error: There is no workspace at {missing}.\n"

    foreign = tmp_path / "notes.txt"
    foreign.write_text("not a database")
    result = subprocess.run([sys.executable, "-m", "launchdesk", "journal", str(foreign)],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "is not a LaunchDesk workspace" in result.stderr

    workspace = tmp_path / "ok.launchdesk"
    create_workspace(workspace).close()
    result = subprocess.run([sys.executable, "-m", "launchdesk", "rollout", "new", str(workspace), "Sub",
                             "--start", "2025-03-04"], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert phase1_start(workspace, "Sub") == dt.datetime(2025, 3, 4, 9, tzinfo=UTC)
