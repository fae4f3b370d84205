"""Opening a team workspace on a real PostgreSQL server from the window; the password goes to the keyring only."""

from __future__ import annotations

from PySide6.QtCore import QSettings

from launchdesk.demo import write_demo
from launchdesk.views.main_window import MainWindow, recent_workspaces
from launchdesk.views.team_workspace_dialog import TeamWorkspaceDialog
from launchdesk.workspace import server_secret_name
from launchdesk.workspace_copy import copy_workspace


def test_open_team_workspace_keeps_the_password_out_of_the_url(qtbot, tmp_path, postgres_server, secret_service):
    from launchdesk import secrets

    server = postgres_server.create_database("team_gui")
    copy_workspace(write_demo(tmp_path / "demo.launchdesk", accounts=50), server)
    dialog = TeamWorkspaceDialog()
    qtbot.addWidget(dialog)
    typed = server.replace("postgres@", "postgres:typed-secret@").replace("postgresql+psycopg", "postgresql")
    dialog.url_edit.setText(typed)
    dialog._accept()
    assert dialog.result() == dialog.DialogCode.Accepted
    assert dialog.target == server  # driver filled in, password removed
    assert secrets.get_secret(server_secret_name(server)) == "typed-secret"

    window = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    try:
        assert window.open_workspace(dialog.target)
        assert window.rollouts.rowCount() == 3
        assert all("typed-secret" not in r for r in recent_workspaces(window.settings))
        window.settings.sync()
        assert "typed-secret" not in (tmp_path / "settings.ini").read_text()
    finally:
        window.close_workspace()
        secrets.delete_secret(server_secret_name(server))


def test_not_a_postgresql_url_is_refused(qtbot):
    dialog = TeamWorkspaceDialog()
    qtbot.addWidget(dialog)
    dialog.url_edit.setText("mysql://someone@db/launch")
    dialog._accept()
    assert dialog.result() != dialog.DialogCode.Accepted
    assert "PostgreSQL" in dialog.error.text()
