"""Journal events posted to Slack (a loopback server answering like Slack): the chosen kinds only, each at most
once whoever posts, Slack's 429 Retry-After waited out, a Slack that is down neither blocks nor loses an entry,
and the webhook URL (the secret) appears nowhere in the workspace, the journal or the logs. From the command
line, and from the window in the background."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from sqlalchemy import select

from launchdesk import journal
from launchdesk.cli import main as cli
from launchdesk.comms.journal_slack import MARKER, SETTING, post_journal_to_slack, save_setting
from launchdesk.connections import add_connection, secret_key
from launchdesk.models import Connection, JournalEntry, Setting
from launchdesk.secrets import delete_secret, get_secret
from launchdesk.workspace import Workspace, create_workspace, open_workspace
from loopback_http import LoopbackHttp, raw_answer

HOOK = "/services/T0JOURNAL/B0JOURNAL/"


@dataclass
class SlackWorld:
    path: Path
    workspace: Workspace
    server: LoopbackHttp
    hook: str  # the secret path of the webhook URL

    def record(self, kind: str, summary: str, **details) -> int:
        with self.workspace.transaction() as s:
            entry = journal.record(s, kind, summary, actor="Dana", details=details)
            s.flush()
            return entry.id

    def posts(self) -> list[str]:
        return [json.loads(r.body)["text"] for r in self.server.requests if r.path == self.hook and r.body]


def ok():
    return raw_answer(200, b"ok", {"Content-Type": "text/html"})


@pytest.fixture
def world(request, tmp_path: Path, secret_service) -> Iterator[SlackWorld]:
    """A workspace file, or with ``indirect`` parameter "postgresql" a team workspace (then ``path`` is its URL)."""
    server = LoopbackHttp()
    hook = HOOK + f"secret{time.time_ns()}"
    server.route(hook, ok())
    if getattr(request, "param", "sqlite") == "postgresql":
        path = request.getfixturevalue("postgres_server").create_database(f"slack_{time.time_ns()}")
    else:
        path = tmp_path / "slack.launchdesk"
    workspace = create_workspace(path)
    with workspace.transaction() as s:
        connection = add_connection(s, "team-slack", "slack", url=server.url, secret=server.url + hook)
        s.flush()
        key = secret_key(connection)
    world = SlackWorld(path, workspace, server, hook)
    world.record("decision.go", "Old decision before posting was turned on")
    with workspace.transaction() as s:
        save_setting(s, "team-slack", ["decision", "gate_failed", "kill_switch", "phase_live", "plan_drift"])
    yield world
    workspace.close()
    server.stop()
    delete_secret(key)


def test_only_the_chosen_events_are_posted_once_each_and_the_url_stays_secret(world: SlackWorld, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    world.record("decision.go", "Go for Phase 2 by Dana (pmm): all <green> & good")
    world.record("sync", "Synced smart-inbox: on at 10%")  # not a chosen event
    world.record("gate.outcome", "Gate 'Error rate': pass → fail", to="fail")
    world.record("gate.outcome", "Gate 'Latency': fail → pass", to="pass")  # a gate passing is not posted
    world.record("phase.live", "Phase 2 is live: the flag platform confirms 10%.")
    report = post_journal_to_slack(world.workspace)
    assert (report.posted, report.problem, report.failed) == (3, "", [])
    posts = world.posts()
    assert len(posts) == 3
    assert "Go for Phase 2 by Dana (pmm): all &lt;green&gt; &amp; good" in posts[0]
    assert "Error rate" in posts[1] and "Failed gates" in posts[1]
    assert "Phase 2 is live" in posts[2]
    assert not any("Old decision" in p for p in posts)  # history before the setting is not posted

    again = post_journal_to_slack(world.workspace)
    assert again.posted == 0 and len(world.posts()) == 3  # each entry at most once

    # The webhook URL is the keyring's only: not in the workspace, the journal or the logs.
    with world.workspace.session() as s:
        journal_text = json.dumps([[e.summary, e.details] for e in s.scalars(select(JournalEntry))])
        settings = json.dumps([[r.key, r.value] for r in s.scalars(select(Setting))])
        assert s.scalars(select(Connection.url)).one() == world.server.url
    world.workspace.close()
    for text in (journal_text, settings, caplog.text, world.path.read_bytes().decode("latin-1")):
        assert world.hook not in text and "secret" not in text.replace("secret_id", "")


def test_slacks_rate_limit_is_waited_out_and_nothing_is_posted_twice(world: SlackWorld) -> None:
    world.server.route(world.hook, raw_answer(429, b"rate_limited", {"Retry-After": "1"}), ok())
    world.record("kill_switch", "Kill switch: smart-inbox is off in production")
    world.record("plan_drift", "Plan drift on smart-inbox: 25% on the platform, 10% planned")
    started = time.monotonic()
    report = post_journal_to_slack(world.workspace)
    assert report.posted == 2 and time.monotonic() - started >= 1.0
    assert len(world.posts()) == 3  # the refused attempt, then each entry once


def test_a_slack_that_is_down_keeps_the_entries_for_the_next_run(world: SlackWorld) -> None:
    world.record("decision.no_go", "No-go for Phase 3 by Sam")
    world.server.route(world.hook, raw_answer(404, b"no_service"))
    report = post_journal_to_slack(world.workspace)
    assert report.posted == 0 and "the webhook was disabled or removed" in report.problem and not report.ok
    world.server.route(world.hook, ok())
    report = post_journal_to_slack(world.workspace)
    assert report.posted == 1 and world.posts()[-1].count("No-go for Phase 3") == 1
    assert len([p for p in world.posts() if "No-go" in p]) == 2  # the refused one and the one that went


@pytest.mark.parametrize("world", ["sqlite", "postgresql"], indirect=True)
def test_two_posters_at_once_post_every_entry_exactly_once(world: SlackWorld) -> None:
    for number in range(6):
        world.record("decision.go", f"Go number {number}")
    world.server.route(world.hook, ok())
    reports = []

    def post() -> None:
        with open_workspace(world.path) as ws:
            reports.append(post_journal_to_slack(ws))

    threads = [threading.Thread(target=post) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(r.posted for r in reports) == 6 and all(not r.problem for r in reports)
    posts = world.posts()
    assert sorted(posts) == sorted(set(posts)) and len(posts) == 6


def test_posting_never_blocks_journaling(world: SlackWorld) -> None:
    """While a post waits on Slack, the journal takes new entries (the claim is committed before posting)."""
    release = threading.Event()

    def slow(handler) -> None:
        release.wait(10)
        ok()(handler)

    world.server.route(world.hook, slow)
    world.record("decision.go", "Go for Phase 4")
    poster = threading.Thread(target=lambda: post_journal_to_slack(world.workspace, limit=1))
    poster.start()
    time.sleep(0.5)
    started = time.monotonic()
    world.record("decision.go", "Go for Phase 5")
    assert time.monotonic() - started < 2.0
    release.set()
    poster.join(30)


def test_the_cli_sets_and_posts(world: SlackWorld, capsys) -> None:
    world.workspace.close()
    assert cli(["journal-slack", "set", str(world.path), "--connection", "team-slack", "--event", "kill_switch"]) == 0
    world.record("decision.go", "Go that is not chosen any more")
    world.record("kill_switch", "Kill switch: smart-inbox is off")
    capsys.readouterr()
    assert cli(["journal-slack", "post", str(world.path)]) == 0
    assert "1 journal event(s) posted to Slack." in capsys.readouterr().out
    assert len(world.posts()) == 1 and "Kill switch" in world.posts()[0]
    assert cli(["journal-slack", "set", str(world.path), "--connection", "nope"]) == 1
    assert cli(["journal-slack", "set", str(world.path), "--off"]) == 0
    assert cli(["journal-slack", "post", str(world.path)]) == 0
    assert "is off" in capsys.readouterr().out
    with open_workspace(world.path) as ws, ws.session() as s:
        assert s.get(Setting, SETTING) is None and s.get(Setting, MARKER) is not None


# --- the window --------------------------------------------------------------------------------------------------


@pytest.mark.gui
def test_the_window_posts_new_events_in_the_background(world: SlackWorld, qtbot, tmp_path: Path) -> None:
    from launchdesk.views import journal_slack as poster_module
    from launchdesk.views.main_window import MainWindow

    world.workspace.close()
    window = MainWindow(QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    poster = window.flag_actions.journal_poster
    poster._timer.setInterval(100)
    assert poster_module.JournalSlackPoster.DELAY_MS >= 1000  # gathers a burst of changes in the app
    assert window.open_workspace(world.path)
    world.record("phase.live", "Phase 1 is live: the flag platform confirms 5%.")  # e.g. a teammate's sync
    window.document.changed.emit("*", 0)
    qtbot.waitUntil(lambda: len(world.posts()) == 1 and poster.task is None, timeout=20_000)
    assert "Phase 1 is live" in world.posts()[0]
    window.close()


@pytest.mark.gui
def test_the_dialog_adds_a_slack_connection_and_chooses_it_for_the_journal(world: SlackWorld, qtbot) -> None:
    from launchdesk.views.connections_dialog import ConnectionsDialog
    from launchdesk.views.document import WorkspaceDocument

    world.workspace.close()
    document = WorkspaceDocument()
    document.open(world.path)
    dialog = ConnectionsDialog(document)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.slack_task is None and dialog.slack_connection.count() == 2, timeout=10_000)
    assert dialog.slack_connection.currentText() == "team-slack"

    qtbot.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)
    dialog.kind.setCurrentIndex(dialog.kind.findText("Slack webhook"))
    assert dialog.token.isVisible() and not dialog.url.isVisible() and not dialog.project.isVisible()
    assert dialog.send_test_button.isVisible() and dialog.rate.isVisible() and not dialog.sender.isVisible()
    dialog.name.setText("alerts")
    url = world.server.url + world.hook + "-alerts"
    world.server.route(world.hook + "-alerts", ok())
    dialog.token.setText("http://example.com/hook")  # a secret over plain http is refused
    dialog.save()
    assert "must use https" in dialog.result.text() and dialog.save_task is None
    dialog.token.setText(url)
    dialog.test()
    qtbot.waitUntil(lambda: dialog.test_task is None, timeout=10_000)
    assert dialog.result.text().startswith("✓ The URL is well formed") and world.server.requests == []
    dialog.send_test()
    qtbot.waitUntil(lambda: dialog.test_task is None, timeout=10_000)
    assert dialog.result.text().startswith("✓ Test message posted")
    dialog.save()
    qtbot.waitUntil(lambda: dialog.save_task is None and dialog.slack_task is None, timeout=15_000)
    assert dialog.result.text().startswith("Saved")
    with open_workspace(world.path) as ws, ws.session() as s:
        alerts = s.scalars(select(Connection).where(Connection.name == "alerts")).one()
        assert alerts.url == world.server.url and url not in json.dumps(alerts.options)
    assert get_secret(secret_key(alerts)) == url
    assert dialog.token.text() == ""

    dialog.tabs.setCurrentIndex(1)
    dialog.slack_connection.setCurrentIndex(dialog.slack_connection.findText("alerts"))
    for key, box in dialog.slack_events.items():
        box.setChecked(key == "kill_switch")
    dialog.save_slack_posting()
    qtbot.waitUntil(lambda: dialog.slack_task is None, timeout=10_000)
    assert dialog.slack_result.text().startswith("Saved")
    with open_workspace(world.path) as ws, ws.session() as s:
        assert s.get(Setting, SETTING).value == {"connection_id": alerts.id, "events": ["kill_switch"]}
    dialog.close()
    document.close()
    delete_secret(secret_key(alerts))
    assert url.encode() not in world.path.read_bytes()
