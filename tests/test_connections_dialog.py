"""The Connections dialog for metric sources and senders: each kind shows its own fields, Test connection reaches
the real server (Prometheus, SMTP) or a loopback Datadog in the background, secrets go only to the keyring, and
removing a connection deletes its keyring entry."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLineEdit, QMessageBox
from sqlalchemy import select

from launchdesk.connections import secret_key
from launchdesk.models import Connection
from launchdesk.secrets import delete_secret, get_secret
from launchdesk.views.connections_dialog import ConnectionsDialog
from launchdesk.views.document import WorkspaceDocument
from launchdesk.workspace import create_workspace, open_workspace
from loopback_http import LoopbackHttp, json_answer
from smtp_sink import SmtpSink

pytestmark = pytest.mark.gui


@pytest.fixture
def dialog(qtbot, tmp_path: Path, secret_service) -> Iterator[ConnectionsDialog]:
    path = tmp_path / "connections.launchdesk"
    create_workspace(path).close()
    document = WorkspaceDocument()
    document.open(path)
    dialog = ConnectionsDialog(document)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.slack_task is None)
    yield dialog
    with open_workspace(path) as ws, ws.session() as s:
        keys = [secret_key(c) for c in s.scalars(select(Connection))]
    dialog.close()
    document.close()
    for key in keys:
        delete_secret(key)


def new(dialog: ConnectionsDialog, qtbot, kind: str, name: str) -> None:
    qtbot.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)
    dialog.kind.setCurrentIndex(dialog.kind.findText(kind))
    dialog.name.setText(name)


def run(dialog: ConnectionsDialog, qtbot, action: str) -> str:
    getattr(dialog, action)()
    qtbot.waitUntil(lambda: dialog.test_task is None and dialog.save_task is None, timeout=30_000)
    return dialog.result.text()


def saved(dialog: ConnectionsDialog, name: str) -> Connection:
    with dialog.document.workspace.session() as s:  # type: ignore[union-attr]
        connection = s.scalars(select(Connection).where(Connection.name == name)).one()
        s.expunge(connection)
        return connection


def visible(dialog: ConnectionsDialog) -> set[str]:
    fields = {"url": dialog.url, "port": dialog.port, "project": dialog.project, "environment": dialog.environment,
              "context_kind": dialog.context_kind, "site": dialog.site, "auth": dialog.auth,
              "security": dialog.security, "from": dialog.sender, "username": dialog.username,
              "ca_file": dialog.ca_file, "rate": dialog.rate, "token": dialog.token,
              "application_key": dialog.application_key}
    return {name for name, widget in fields.items() if widget.isVisible()}


def test_prometheus_fields_test_save_and_remove(dialog: ConnectionsDialog, qtbot, prometheus_server,
                                                monkeypatch) -> None:
    new(dialog, qtbot, "Prometheus", "metrics")
    assert visible(dialog) == {"url", "auth", "username", "token"}
    dialog.auth.setCurrentIndex(dialog.auth.findData("none"))
    assert visible(dialog) == {"url", "auth"}
    dialog.auth.setCurrentIndex(dialog.auth.findData("bearer"))
    assert visible(dialog) == {"url", "auth", "token"}
    assert dialog.token.echoMode() == QLineEdit.EchoMode.Password
    dialog.url.setText(prometheus_server.base_url)
    token = "prom-" + secrets.token_urlsafe(16)
    dialog.token.setText(token)
    assert run(dialog, qtbot, "test").startswith("✓ Connected to Prometheus at 127.0.0.1:")
    assert run(dialog, qtbot, "save").startswith("Saved")
    connection = saved(dialog, "metrics")
    assert connection.options["auth"] == "bearer" and get_secret(secret_key(connection)) == token
    assert dialog.token.text() == "" and dialog.auth.currentData() == "bearer"
    # Saved: the test uses the keyring's token.
    assert run(dialog, qtbot, "test").startswith("✓ Connected to Prometheus")

    monkeypatch.setattr(QMessageBox, "question", lambda *_a: QMessageBox.StandardButton.Yes)
    assert run(dialog, qtbot, "remove_current") == "Removed."
    assert get_secret(secret_key(connection)) is None
    path = dialog.document.workspace.path  # type: ignore[union-attr]
    dialog.document.close()
    assert token.encode() not in path.read_bytes()


def test_datadog_needs_both_keys_and_keeps_them_as_one_keyring_entry(dialog: ConnectionsDialog, qtbot) -> None:
    server = LoopbackHttp()
    server.route("/api/v1/validate", json_answer(403, {"errors": ["Forbidden"]}))
    try:
        new(dialog, qtbot, "Datadog", "datadog")
        assert visible(dialog) == {"url", "site", "token", "application_key"}
        dialog.url.setText(server.url)
        api_key, app_key = secrets.token_hex(16), secrets.token_hex(20)
        dialog.token.setText(api_key)
        assert run(dialog, qtbot, "save").startswith("Type both the API key and the application key")
        dialog.application_key.setText(app_key)
        refused = run(dialog, qtbot, "test")
        assert refused.startswith("✗ Datadog at 127.0.0.1:") and "(403)" in refused and api_key not in refused
        server.route("/api/v1/validate", json_answer(200, {"valid": True}))
        server.route("/api/v2/validate_keys", json_answer(200, {"status": "ok"}))
        assert run(dialog, qtbot, "test").startswith("✓ Connected to Datadog")
        dialog.site.setCurrentText("datadoghq.eu")
        assert run(dialog, qtbot, "save").startswith("Saved")
        connection = saved(dialog, "datadog")
        assert connection.options["site"] == "datadoghq.eu"
        assert get_secret(secret_key(connection)) == f"{api_key} {app_key}"
        assert api_key not in repr(connection.options) and connection.url == server.url
    finally:
        server.stop()


def test_smtp_is_signed_in_to_without_sending_and_saved_with_its_options(dialog: ConnectionsDialog, qtbot) -> None:
    with SmtpSink() as sink:
        new(dialog, qtbot, "SMTP e-mail", "mail")
        assert visible(dialog) == {"url", "port", "security", "from", "username", "ca_file", "rate", "token"}
        dialog.url.setText("127.0.0.1")
        dialog.port.setValue(sink.port)
        dialog.security.setCurrentIndex(dialog.security.findData("none"))
        assert run(dialog, qtbot, "test").startswith("Connection 'mail' has no valid sender address (the From field")
        dialog.sender.setText("Launch Team <launch@ourco.example>")
        dialog.unsubscribe_mailto.setText("unsubscribe@ourco.example")
        dialog.rate.setValue(5)
        assert run(dialog, qtbot, "test") == (f"✓ Connected to the SMTP server at 127.0.0.1:{sink.port} "
                                              "(no encryption); nothing was sent.")
        assert sink.total == 0
        assert run(dialog, qtbot, "save").startswith("Saved")
        connection = saved(dialog, "mail")
        assert connection.url == f"smtp://127.0.0.1:{sink.port}"
        assert {k: v for k, v in connection.options.items() if k != "secret_id"} == {
            "security": "none", "from": "Launch Team <launch@ourco.example>",
            "unsubscribe_mailto": "unsubscribe@ourco.example", "rate_per_second": 5.0}
        # Shown again as it was typed.
        dialog.show_connection(connection.id)
        assert (dialog.url.text(), dialog.port.value(), dialog.security.currentData()) == (
            "127.0.0.1", sink.port, "none")
        assert not dialog.kind.isEnabled()
