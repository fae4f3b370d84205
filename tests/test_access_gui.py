"""Who has access, in the window: support lookup, account import, connections and their keyring tokens, flag
links, sync (failing, cancelled and against a real Unleash server), snapshot age and the plan drift banner."""

from __future__ import annotations

import csv
import datetime as dt
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtWidgets import QLineEdit, QMessageBox
from sqlalchemy import func, select

from launchdesk.access.lookup import lookup
from launchdesk.connections import secret_key
from launchdesk.models import Account, Connection, FlagSnapshot, JournalEntry, Rollout, utcnow
from launchdesk.views.connections_dialog import ConnectionsDialog
from launchdesk.views.flag_link import LinkFlagDialog
from launchdesk.views.import_dialog import ImportAccountsDialog
from launchdesk.views.main_window import MainWindow
from launchdesk.workspace import create_workspace, open_workspace
from servers import UnleashServer, free_port

pytestmark = pytest.mark.gui


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "settings" / "LaunchDesk.ini"), QSettings.Format.IniFormat)


def open_window(qtbot, settings: QSettings, path: Path) -> MainWindow:  # type: ignore[no-untyped-def]
    win = MainWindow(settings)
    qtbot.addWidget(win)
    assert win.open_workspace(path)
    win.show()
    qtbot.waitExposed(win)
    return win


@pytest.fixture
def window(qtbot, settings: QSettings, demo_workspace: Path) -> MainWindow:  # type: ignore[no-untyped-def]
    return open_window(qtbot, settings, demo_workspace)


@pytest.fixture
def keyring_cleanup() -> Iterator[list[str]]:
    """Keyring entries a test made (by connections.secret_key), deleted afterwards whatever happens."""
    keys: list[str] = []
    yield keys
    from launchdesk.secrets import delete_secret

    for key in keys:
        delete_secret(key)


def activate(window: MainWindow, qtbot) -> None:  # type: ignore[no-untyped-def]
    """Make the window the active one, as shortcuts need."""
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)


def select_rollout_named(window: MainWindow, name: str) -> int:
    rollout = next(r for r in window.rollouts.rows if r.name == name)
    window.select_rollout(rollout.id)
    return rollout.id


def panel_settled(window: MainWindow, rollout_id: int) -> bool:
    status = window.flag_status.status
    return window.flag_status._task is None and status is not None and status.rollout_id == rollout_id


def count_accounts(path: Path) -> int:
    with open_workspace(path) as ws, ws.session() as s:
        return s.scalar(select(func.count()).select_from(Account)) or 0


# --- support lookup ------------------------------------------------------------------------------------------


def look_up(window: MainWindow, qtbot, text: str) -> list:  # type: ignore[no-untyped-def, type-arg]
    page = window.accounts_page
    page.search.clear()
    qtbot.keyClicks(page.search, text)
    # Typing pauses, the table shows the matches, the best one is looked up.
    qtbot.waitUntil(lambda: not page._typing.isActive() and not page.model.loading and bool(page.model.rows)
                    and page.lookup.account_key == page.model.rows[0].account_key and not page.lookup.loading
                    and bool(page.lookup.answers), timeout=10_000)
    return page.lookup.answers


def test_the_lookup_pane_finds_an_account_by_id_prefix_name_and_email(window: MainWindow, qtbot, demo_workspace):
    window.show_page(window.ACCOUNTS)
    with open_workspace(demo_workspace) as ws, ws.session() as s:
        account = s.scalars(select(Account).where(Account.name.like("Internal:%")).order_by(Account.id)).first()
        assert account is not None and account.contacts
        key, name, email = account.account_key, account.name, account.contacts[0].email
        prefix = key[:-1]
        first_with_prefix = min(k for k in s.scalars(select(Account.account_key)) if k.startswith(prefix))
        expected = {a.rollout: a for a in lookup(s, key, limit=1)}
    assert {a.has_access for a in expected.values()} >= {"true", "false"}  # the demo gives both answers

    by_prefix = look_up(window, qtbot, prefix)
    assert {a.account_id for a in by_prefix} == {first_with_prefix}

    for query in (key, name.upper(), email, email[: email.index("@") + 2].upper()):
        answers = look_up(window, qtbot, query)
        assert {a.account_id for a in answers} == {key}, query
        assert {a.rollout: (a.has_access, a.reason, a.cohort, a.phase) for a in answers} == {
            r: (a.has_access, a.reason, a.cohort, a.phase) for r, a in expected.items()
        }
    shown = window.accounts_page.lookup.browser.toPlainText()
    assert name in shown and email in shown
    for answer in expected.values():
        assert answer.reason in shown
    assert "Has access" in shown and "No access" in shown
    assert re.search(r"from the sync \d+ min ago", shown)  # the demo's snapshot, offline
    with_messages = [a for a in expected.values() if a.messages]
    for answer in with_messages:
        assert answer.messages[0].message in shown

    page = window.accounts_page
    page.search.clear()
    qtbot.keyClicks(page.search, "zz-nobody")
    qtbot.waitUntil(lambda: "starts with “zz-nobody”" in page.lookup.browser.toPlainText())
    assert page.lookup.answers == [] and page.model.rowCount() == 0


def test_ctrl_f_focuses_the_search_and_enter_selects_the_first_result(window: MainWindow, qtbot):
    page = window.accounts_page
    window.show_page(window.ACCOUNTS)
    activate(window, qtbot)
    window.rollout_list.setFocus()
    qtbot.keyClick(window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert page.search.hasFocus()
    window.rollout_list.setFocus()
    qtbot.keyClick(window, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    assert page.search.hasFocus()

    qtbot.keyClicks(page.search, "ACC-1002")
    qtbot.keyClick(page.search, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: page.view.hasFocus() and page.view.currentIndex().row() == 0)
    first = page.model.rows[0].account_key
    assert first.startswith("ACC-1002")
    qtbot.waitUntil(lambda: bool(page.lookup.answers) and page.lookup.answers[0].account_id == first)

    # On another tab the shortcuts are not the search's.
    window.tabs.setCurrentIndex(0)
    window.rollout_list.setFocus()
    qtbot.keyClick(window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert not page.search.hasFocus()


# --- import ------------------------------------------------------------------------------------------------------


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    return path


def test_the_import_dialog_imports_good_rows_and_reports_the_bad_one(window: MainWindow, qtbot, tmp_path,
                                                                    demo_workspace):
    page = window.accounts_page
    window.show_page(window.ACCOUNTS)
    qtbot.waitUntil(lambda: page.summary.text() == "300 accounts")
    source = write_csv(tmp_path / "new customers.csv", [
        ["customer_id", "company", "contact_email", "plan", "region"],
        ["NEW-1", "Aurora Freight", "ops@aurora.example", "pro", "eu"],
        ["", "Nameless Ltd", "who@nameless.example", "starter", "na"],  # no id: rejected, line 3
        ["NEW-2", "Boreal Labs", "it@boreal.example", "enterprise", "apac"],
        ["NEW-3", "Cirrus Bank", "", "business", "na"],
    ])
    dialog = ImportAccountsDialog(window.document, window, source)
    qtbot.addWidget(dialog)
    dialog.show()
    header = [dialog.preview.horizontalHeaderItem(i).text() for i in range(dialog.preview.columnCount())]
    assert header == ["customer_id", "company", "contact_email", "plan", "region"]
    assert dialog.preview.rowCount() == 4 and dialog.preview.item(0, 1).text() == "Aurora Freight"
    # The guesses: the id and name columns by name, e-mail columns by "email" in their name.
    assert dialog.id_column.currentText() == "customer_id"
    assert dialog.name_column.currentText() == "company"
    assert dialog.checked_emails() == ("contact_email",)
    assert "plan, region" in dialog.properties.text()
    dialog.stickiness.setCurrentText("region")
    assert dialog.mapping().stickiness_field == "region"
    dialog.stickiness.setCurrentIndex(0)

    qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.report is not None, timeout=20_000)
    report = dialog.report
    assert (report.imported, report.updated) == (3, 0)
    assert [(r.line, r.reason) for r in report.rejected] == [(3, "no account id in column 'customer_id'")]
    assert report.rejects_path is not None and report.rejects_path.is_file()
    status = dialog.status.text()
    assert "3 new, 0 updated, 1 rejected" in status and str(report.rejects_path) in status
    assert "line 3: no account id" in dialog.rejects.toPlainText()
    assert dialog.cancel_button.text() == "Close"

    assert count_accounts(demo_workspace) == 303
    qtbot.waitUntil(lambda: page.summary.text() == "303 accounts")  # the table refreshed
    with open_workspace(demo_workspace) as ws, ws.session() as s:
        boreal = s.scalars(select(Account).where(Account.account_key == "NEW-2")).one()
        assert boreal.name == "Boreal Labs" and boreal.attributes == {"plan": "enterprise", "region": "apac"}
        assert [c.email for c in boreal.contacts] == ["it@boreal.example"]


def test_cancelling_an_import_leaves_the_accounts_unchanged(window: MainWindow, qtbot, tmp_path, demo_workspace):
    rows = [["account_id", "name", "email", "plan"]]
    rows += [[f"BULK-{i:06d}", f"Bulk {i}", f"a{i}@bulk.example", "pro"] for i in range(60_000)]
    source = write_csv(tmp_path / "bulk.csv", rows)
    dialog = ImportAccountsDialog(window.document, window, source)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    assert dialog.task is not None and dialog.progress.isVisible() and dialog.cancel_button.text() == "Cancel"
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible()  # it stays until the import has rolled back
    qtbot.waitUntil(lambda: dialog.task is None, timeout=30_000)
    assert dialog.report is None
    assert "cancelled; no account was changed" in dialog.status.text()
    assert count_accounts(demo_workspace) == 300


# --- connections -------------------------------------------------------------------------------------------------


def test_a_new_connection_keeps_its_token_in_the_keyring_only(
    window: MainWindow, qtbot, secret_service, keyring_cleanup, demo_workspace, settings
):
    token = "ld-test-" + secrets.token_urlsafe(24)
    dialog = ConnectionsDialog(window.document, window)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.list.count() == 1  # the demo's Unleash connection
    qtbot.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)
    assert dialog.token.echoMode() == QLineEdit.EchoMode.Password
    name = f"Unleash staging {secrets.token_hex(3)}"
    qtbot.keyClicks(dialog.name, name)
    qtbot.keyClicks(dialog.url, f"http://127.0.0.1:{free_port()}")
    dialog.project.setText("default")
    qtbot.keyClicks(dialog.environment, "development")
    qtbot.keyClicks(dialog.token, token)
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.save_task is None and dialog.list.count() == 2, timeout=15_000)
    assert dialog.result.text().startswith("Saved")

    from launchdesk.secrets import get_secret

    with open_workspace(demo_workspace) as ws, ws.session() as s:
        connection = s.scalars(select(Connection).where(Connection.name == name)).one()
        keyring_cleanup.append(secret_key(connection))
        assert (connection.url, connection.project, connection.environment) == (
            dialog.url.text(), "default", "development")
        assert token not in repr(connection.options)
    assert get_secret(secret_key(connection)) == token
    assert dialog.token.text() == ""  # not kept in the form either

    # A new token replaces the keyring's; the journal says so without the token.
    qtbot.keyClicks(dialog.token, token + "-rotated")
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.save_task is None, timeout=15_000)
    assert get_secret(secret_key(connection)) == token + "-rotated"

    dialog.close()
    window.close()  # closes the workspace, so SQLite folds its write-ahead log into the file
    settings.sync()
    for leftover in (demo_workspace, Path(f"{demo_workspace}-wal"), Path(settings.fileName())):
        if leftover.exists():
            assert token.encode() not in leftover.read_bytes(), leftover
    with open_workspace(demo_workspace) as ws, ws.session() as s:
        journal = [e.summary for e in s.scalars(select(JournalEntry).where(JournalEntry.kind == "connection"))]
    assert any("new token kept in the keyring" in line for line in journal)
    assert not any(token in line for line in journal)


def test_a_launchdarkly_connection_keeps_its_context_kind(window: MainWindow, qtbot, demo_workspace):
    dialog = ConnectionsDialog(window.document, window)
    qtbot.addWidget(dialog)
    dialog.show()
    assert not dialog.context_kind.isVisible()  # an Unleash connection has no context kind
    qtbot.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)
    dialog.kind.setCurrentIndex(dialog.kind.findText("LaunchDarkly"))
    assert dialog.context_kind.isVisible()
    dialog.name.setText("LaunchDarkly")
    dialog.environment.setText("production")
    dialog.save()  # no token typed: nothing goes to the keyring
    qtbot.waitUntil(lambda: dialog.save_task is None, timeout=15_000)

    def options() -> dict:  # type: ignore[type-arg]
        with open_workspace(demo_workspace) as ws, ws.session() as s:
            c = s.scalars(select(Connection).where(Connection.name == "LaunchDarkly")).one()
            return {"kind": str(c.kind), "url": c.url, **c.options}

    saved = options()
    assert (saved["kind"], saved["url"], saved["context_kind"]) == ("launchdarkly", "", "user")
    assert not dialog.kind.isEnabled()  # the keyring entry is named after the kind
    dialog.context_kind.setText("organization")
    dialog.save()
    qtbot.waitUntil(lambda: dialog.save_task is None, timeout=15_000)
    assert options() == {**saved, "context_kind": "organization"}  # the keyring id stays the same


def test_test_connection_reports_a_refused_connection_without_blocking(window: MainWindow, qtbot):
    dialog = ConnectionsDialog(window.document, window)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)
    port = free_port()
    dialog.name.setText("Nowhere")
    dialog.url.setText(f"http://127.0.0.1:{port}")
    dialog.token.setText("any-token-" + secrets.token_hex(8))

    ticks: list[int] = []
    clock = QTimer()
    clock.timeout.connect(lambda: ticks.append(1))
    clock.start(20)
    qtbot.mouseClick(dialog.test_button, Qt.MouseButton.LeftButton)
    # The click returned at once: the test runs in the background, and the window keeps answering.
    assert dialog.test_task is not None and not dialog.test_button.isEnabled()
    assert dialog.result.text().startswith("Testing")
    qtbot.waitUntil(lambda: dialog.test_task is None, timeout=30_000)
    clock.stop()
    assert len(ticks) >= 10
    assert dialog.result.text() == f"✗ Unleash at 127.0.0.1:{port} refused the connection. Is the server running?"
    assert dialog.test_button.isEnabled()


def test_removing_a_connection_deletes_its_keyring_entry_and_unlinks_its_rollouts(
    window: MainWindow, qtbot, secret_service, keyring_cleanup, demo_workspace, monkeypatch
):
    from launchdesk.secrets import get_secret, set_secret

    with open_workspace(demo_workspace) as ws, ws.session() as s:
        demo_connection = s.scalars(select(Connection)).one()
        key = secret_key(demo_connection)
    keyring_cleanup.append(key)
    set_secret(key, "demo-" + secrets.token_hex(8))
    asked: list[str] = []
    monkeypatch.setattr(QMessageBox, "question",
                        lambda _parent, _title, text, *_a: asked.append(text) or QMessageBox.StandardButton.Yes)
    dialog = ConnectionsDialog(window.document, window)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.mouseClick(dialog.remove_button, Qt.MouseButton.LeftButton)
    assert "Billing Insights, Smart Scheduling, Workflow Automations" in asked[0]
    qtbot.waitUntil(lambda: dialog.save_task is None and dialog.list.count() == 0, timeout=15_000)
    assert get_secret(key) is None
    with open_workspace(demo_workspace) as ws, ws.session() as s:
        assert s.scalars(select(Rollout.flag_connection_id)).all() == [None, None, None]
    rollout_id = select_rollout_named(window, "Workflow Automations")
    qtbot.waitUntil(lambda: panel_settled(window, rollout_id) and not window.flag_status.status.linked)


# --- flag link ---------------------------------------------------------------------------------------------------


def test_linking_a_rollout_to_a_flag_is_one_undoable_edit(window: MainWindow, qtbot, demo_workspace):
    rollout_id = select_rollout_named(window, "Smart Scheduling")
    dialog = LinkFlagDialog(window.document, rollout_id, window)
    qtbot.addWidget(dialog)
    assert dialog.flag_key.text() == "smart-scheduling" and dialog.environment.text() == "production"
    dialog.flag_key.setText("smart-scheduling-v2")
    dialog.environment.setText("staging")
    dialog.accept()

    def link() -> tuple:  # type: ignore[type-arg]
        with open_workspace(demo_workspace) as ws, ws.session() as s:
            r = s.get(Rollout, rollout_id)
            return r.flag_connection_id, r.flag_key, r.flag_environment

    connection_id = link()[0]
    assert link() == (connection_id, "smart-scheduling-v2", "staging")
    assert window.document.undo_stack.count() == 1
    qtbot.waitUntil(lambda: panel_settled(window, rollout_id) and window.flag_status.status.fetched_at is None)
    assert "smart-scheduling-v2 (staging)" in window.flag_status.flag.text()
    assert "Never synced" in window.flag_status.state.text()

    window.undo_action.trigger()
    assert link() == (connection_id, "smart-scheduling", "production")
    qtbot.waitUntil(lambda: panel_settled(window, rollout_id) and window.flag_status.status.fetched_at is not None)
    window.redo_action.trigger()
    assert link() == (connection_id, "smart-scheduling-v2", "staging")


# --- flag status, drift, sync ------------------------------------------------------------------------------------


def add_snapshot(path: Path, flag: str, *, age: dt.timedelta, drift: str | None) -> dict:  # type: ignore[type-arg]
    """A newer snapshot of a demo flag, as a sync that saw drift would have stored it; returns its counts."""
    with open_workspace(path) as ws, ws.transaction() as s:
        latest = s.scalars(select(FlagSnapshot).where(FlagSnapshot.flag_key == flag)
                           .order_by(FlagSnapshot.fetched_at.desc())).first()
        counts = {**latest.access_summary, "unpredictable": 4}
        s.add(FlagSnapshot(connection_id=latest.connection_id, flag_key=flag, environment=latest.environment,
                           fetched_at=utcnow() - age, enabled=True, definition=latest.definition,
                           rollout_percentage=25.0, access_summary=counts, drift=drift))
    return counts


def test_the_drift_banner_shows_for_a_rollout_whose_latest_snapshot_has_drift(
    qtbot, settings, demo_workspace
):
    drift = "25% live while the plan says 10% (Phase 2: Power users)"
    counts = add_snapshot(demo_workspace, "workflow-automations", age=dt.timedelta(minutes=3), drift=drift)
    with open_workspace(demo_workspace) as ws, ws.transaction() as s:  # nobody synced billing-insights since
        s.scalars(select(FlagSnapshot).where(FlagSnapshot.flag_key == "billing-insights")).one().fetched_at = (
            utcnow() - dt.timedelta(hours=2, minutes=5))
    window = open_window(qtbot, settings, demo_workspace)
    panel = window.flag_status

    rollout_id = select_rollout_named(window, "Workflow Automations")
    qtbot.waitUntil(lambda: panel_settled(window, rollout_id))
    assert panel.drift.isVisible()
    assert "PLAN DRIFT" in panel.drift.text() and drift in panel.drift.text()
    assert panel.state.text() == (f"synced 3 min ago · {counts['enabled']:,} have access, "
                                  f"{counts['disabled']:,} do not, 4 unpredictable")

    rollout_id = select_rollout_named(window, "Billing Insights")
    qtbot.waitUntil(lambda: panel_settled(window, rollout_id))
    assert not panel.drift.isVisible()
    assert "stale: last sync 2 h ago" in panel.state.text()


def test_a_failed_sync_says_why_and_keeps_the_last_good_snapshot(
    window: MainWindow, qtbot, secret_service, keyring_cleanup, demo_workspace
):
    from launchdesk.secrets import set_secret

    port = free_port()
    with open_workspace(demo_workspace) as ws, ws.transaction() as s:
        connection = s.scalars(select(Connection)).one()
        connection.url = f"http://127.0.0.1:{port}"
        key = secret_key(connection)
    keyring_cleanup.append(key)
    set_secret(key, "demo-" + secrets.token_hex(8))
    with open_workspace(demo_workspace) as ws, ws.session() as s:
        snapshots_before = s.scalar(select(func.count()).select_from(FlagSnapshot))
    rollout_id = select_rollout_named(window, "Workflow Automations")
    qtbot.waitUntil(lambda: panel_settled(window, rollout_id))
    counts_before = window.flag_status.state.text().split(" · ")[1]

    actions = window.flag_actions
    activate(window, qtbot)
    qtbot.keyClick(window, Qt.Key.Key_F5)
    assert actions.sync_task is not None and actions.progress_box.isVisible()
    assert not actions.sync.isEnabled() and actions.cancel_sync.isEnabled()
    with qtbot.waitSignal(actions.sync_finished, timeout=60_000) as finished:
        pass
    report = finished.args[0]
    assert len(report.errors) == 3
    assert not actions.progress_box.isVisible() and actions.sync.isEnabled()
    message = window.statusBar().currentMessage()
    assert "Synced 0 of 3 flags" in message and "refused the connection" in message
    assert "The last good snapshots stay in use" in message

    panel = window.flag_status
    qtbot.waitUntil(lambda: panel_settled(window, rollout_id) and panel.problem.isVisible())
    assert "Last sync failed" in panel.problem.text() and "refused the connection" in panel.problem.text()
    assert "stays in use" in panel.problem.text()
    assert panel.state.text().split(" · ")[1] == counts_before  # the old snapshot still answers
    with open_workspace(demo_workspace) as ws, ws.session() as s:
        assert s.scalar(select(func.count()).select_from(FlagSnapshot)) == snapshots_before


def test_cancelling_a_sync_stores_nothing_more(
    window: MainWindow, qtbot, secret_service, keyring_cleanup, demo_workspace
):
    from launchdesk.secrets import set_secret

    with open_workspace(demo_workspace) as ws, ws.transaction() as s:
        connection = s.scalars(select(Connection)).one()
        connection.url = f"http://127.0.0.1:{free_port()}"  # refused, and retried for a few seconds
        key = secret_key(connection)
        snapshots_before = s.scalar(select(func.count()).select_from(FlagSnapshot))
    keyring_cleanup.append(key)
    set_secret(key, "demo-" + secrets.token_hex(8))
    actions = window.flag_actions
    actions.sync.trigger()
    assert actions.progress_box.isVisible()
    qtbot.mouseClick(actions.cancel_button, Qt.MouseButton.LeftButton)
    assert actions.sync_task is None and not actions.progress_box.isVisible() and actions.sync.isEnabled()
    assert "Sync cancelled" in window.statusBar().currentMessage()
    from PySide6.QtCore import QThreadPool

    assert QThreadPool.globalInstance().waitForDone(30_000)
    with open_workspace(demo_workspace) as ws, ws.session() as s:
        assert s.scalar(select(func.count()).select_from(FlagSnapshot)) == snapshots_before


# --- a real sync ---------------------------------------------------------------------------------------------


@pytest.fixture
def unleash_workspace(tmp_path: Path, unleash_server: UnleashServer, secret_service, keyring_cleanup) -> Path:
    """A workspace with 200 accounts and a rollout linked to a fresh Unleash flag at 30% for pro accounts."""
    from launchdesk.accounts.importer import import_accounts
    from launchdesk.connections import add_connection
    from launchdesk.planning.template import create_rollout_from_template, load_template
    from unleash_admin import UnleashAdmin, unique_name

    flag = unique_name("gui-sync")
    admin = UnleashAdmin(unleash_server)
    try:
        admin.create_feature("default", flag)
        admin.flexible_rollout("default", flag, "development", 30, constraints=[
            {"contextName": "plan", "operator": "IN", "values": ["pro"]}])
        admin.enable("default", flag, "development")
    finally:
        admin.close()
    rows = [["account_id", "name", "email", "plan"]]
    rows += [[f"acct-{i:04d}", f"Company {i}", f"ops{i}@c{i}.example", ("pro", "starter")[i % 2]] for i in range(200)]
    path = tmp_path / "unleash.launchdesk"
    ws = create_workspace(path)
    try:
        import_accounts(ws, write_csv(tmp_path / "accounts.csv", rows))
        with ws.transaction() as s:
            connection = add_connection(s, "Unleash", "unleash", url=unleash_server.base_url, project="default",
                                        environment="development", secret=unleash_server.admin_token)
            keyring_cleanup.append(secret_key(connection))
            rollout = create_rollout_from_template(s, load_template(), name="Smart inbox", feature_name="Smart inbox",
                                                   launch_start=dt.datetime(2027, 1, 11, 9, tzinfo=dt.timezone.utc))
            rollout.flag_connection, rollout.flag_key, rollout.flag_environment = connection, flag, "development"
    finally:
        ws.close()
    return path


def test_sync_from_the_window_against_a_real_unleash_shows_the_access_counts(
    qtbot, settings, unleash_workspace: Path
):
    window = open_window(qtbot, settings, unleash_workspace)
    panel = window.flag_status
    rollout_id = window.current_rollout_id()
    assert rollout_id is not None
    qtbot.waitUntil(lambda: panel_settled(window, rollout_id))
    assert panel.state.text() == "Never synced: press F5 to sync."

    qtbot.mouseClick(panel.sync_button, Qt.MouseButton.LeftButton)
    assert window.flag_actions.progress_box.isVisible()
    qtbot.waitUntil(lambda: "have access" in panel.state.text(), timeout=60_000)

    with open_workspace(unleash_workspace) as ws, ws.session() as s:
        snapshot = s.scalars(select(FlagSnapshot)).one()
        counts = snapshot.access_summary
    assert counts["enabled"] + counts["disabled"] + counts["unpredictable"] == 200
    assert 0 < counts["enabled"] < 100  # 30% of the 100 pro accounts
    assert panel.state.text() == (f"synced just now · {counts['enabled']} have access, {counts['disabled']} do not, "
                                  "0 unpredictable")
    assert "on at 30%" in panel.flag.text()
    assert not panel.problem.isVisible()
    # The flag is on while the plan has no phase live yet: that is plan drift, and the window says so.
    assert panel.drift.isVisible()
    assert "the flag is on (30%) in development while no phase of the plan is live" in panel.drift.text()
    assert window.statusBar().currentMessage() == "Synced 1 of 1 flag; PLAN DRIFT on 1"

    # The lookup answers from the new snapshot, with the evaluator's reason.
    page = window.accounts_page
    window.show_page(window.ACCOUNTS)
    answers = look_up(window, qtbot, "acct-0001")  # a starter account: the constraint leaves it out
    assert [(a.account_id, a.has_access) for a in answers] == [("acct-0001", "false")]
    assert "plan" in answers[0].reason
