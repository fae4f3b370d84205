"""File ▸ Open team workspace…: a PostgreSQL URL without its password, the password kept in the system keyring."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError


class TeamWorkspaceDialog(QDialog):
    """Asks for the server, database and user; the password (optional: libpq's ~/.pgpass also works) goes to the
    keyring under the workspace's entry, so the URL kept in recent files never holds it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Open team workspace")
        self.url_edit = QLineEdit()
        self.url_edit.setPlaceholderText("postgresql+psycopg://dana@db.example.com:5432/launchdesk")
        self.password_edit = QLineEdit()
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_edit.setPlaceholderText("kept in the system keyring; leave empty to use ~/.pgpass")
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #b3261e")
        self.error.hide()
        form = QFormLayout()
        form.addRow("Database URL", self.url_edit)
        form.addRow("Password", self.password_edit)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Open | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        intro = QLabel("A workspace on a shared PostgreSQL server. Everyone with access edits the same plan; "
                       "changes made by others appear within seconds.")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.resize(560, self.sizeHint().height())
        self.target: str | None = None

    def _accept(self) -> None:
        text = self.url_edit.text().strip()
        try:
            url = make_url(text)
        except ArgumentError:
            return self._fail("That is not a database URL, e.g. postgresql+psycopg://user@host/database.")
        if url.get_backend_name() != "postgresql":
            return self._fail("A team workspace is a PostgreSQL database (postgresql+psycopg://…).")
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")  # the driver LaunchDesk installs
        password = self.password_edit.text() or url.password
        url = url._replace(password=None)  # URL.set() treats None as "leave as is"
        self.target = url.render_as_string(hide_password=False)
        if password:
            from launchdesk import secrets
            from launchdesk.workspace import server_secret_name

            try:
                secrets.set_secret(server_secret_name(self.target), password)
            except secrets.SecretsUnavailable as exc:
                return self._fail(str(exc))
        self.accept()
        return None

    def _fail(self, message: str) -> None:
        self.error.setText(message)
        self.error.show()
