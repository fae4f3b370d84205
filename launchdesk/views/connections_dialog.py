"""The flag platform connections of the workspace (Unleash, LaunchDarkly): list, add, edit, remove and test them.

A token is typed into a password field and goes only to the system keyring (launchdesk.connections), never
to the workspace or the settings. Saving (the keyring may ask to be unlocked) and testing (the network) run
through ``run_task``, so the window never waits on either.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy import func, select

from launchdesk.models import Connection, ConnectionKind, FlagSnapshot, Rollout
from launchdesk.views.document import WorkspaceDocument
from launchdesk.views.tasks import TaskHandle, run_task
from launchdesk.workspace import Workspace

log = logging.getLogger(__name__)

KINDS = {ConnectionKind.UNLEASH: "Unleash", ConnectionKind.LAUNCHDARKLY: "LaunchDarkly"}
URL_HINTS = {
    ConnectionKind.UNLEASH: "https://unleash.example.com (the server's address)",
    ConnectionKind.LAUNCHDARKLY: "https://app.launchdarkly.com (empty: LaunchDarkly's own)",
}
OK_COLOR, FAIL_COLOR = "#1b7f3b", "#b3261e"


@dataclass(frozen=True)
class ConnectionForm:
    """What the form says; ``token`` is "" when the user did not type one (the keyring's stays)."""

    connection_id: int | None
    name: str
    kind: ConnectionKind
    url: str
    project: str
    environment: str
    context_kind: str
    token: str

    def options(self, current: dict[str, Any]) -> dict[str, Any]:
        options = {k: v for k, v in current.items() if k != "context_kind"}
        if self.kind is ConnectionKind.LAUNCHDARKLY:
            options["context_kind"] = self.context_kind or "user"
        return options


def save_connection(_progress: Any, _cancelled: Any, workspace: Workspace, form: ConnectionForm) -> int:
    """Add or change the connection; its token (if typed) goes to the keyring. Returns the connection's id."""
    from launchdesk.connections import add_connection, update_connection

    with workspace.transaction() as session:
        if form.connection_id is None:
            connection = add_connection(
                session, form.name, form.kind, url=form.url, project=form.project, environment=form.environment,
                options=form.options({}), secret=form.token or None,
            )
        else:
            connection = session.get(Connection, form.connection_id)
            if connection is None:
                raise LookupError("This connection was removed meanwhile.")
            update_connection(
                session, connection, name=form.name, url=form.url, project=form.project,
                environment=form.environment, options=form.options(dict(connection.options or {})),
                secret=form.token or None,
            )
        return connection.id


def delete_connection(_progress: Any, _cancelled: Any, workspace: Workspace, connection_id: int) -> None:
    from launchdesk.connections import remove_connection

    with workspace.transaction() as session:
        connection = session.get(Connection, connection_id)
        if connection is not None:
            remove_connection(session, connection)


def check_form_connection(_progress: Any, _cancelled: Any, connection: Connection, token: str | None) -> Any:
    """Reach the platform as the form describes it, with the typed token or else the keyring's."""
    from launchdesk.connections import check_connection

    return check_connection(connection, token=token)


class ConnectionsDialog(QDialog):
    def __init__(self, document: WorkspaceDocument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Flag platform connections")
        self.document = document
        self.connection_id: int | None = None  # the one in the form; None: a new one
        self._options: dict[str, Any] = {}
        self.save_task: TaskHandle | None = None
        self.test_task: TaskHandle | None = None

        self.list = QListWidget()
        self.list.currentItemChanged.connect(self._on_current)
        self.add_button = QPushButton("&Add")
        self.add_button.clicked.connect(self.new_connection)
        self.remove_button = QPushButton("&Remove…")
        self.remove_button.clicked.connect(self.remove_current)
        left = QVBoxLayout()
        left.addWidget(self.list)
        row = QHBoxLayout()
        row.addWidget(self.add_button)
        row.addWidget(self.remove_button)
        left.addLayout(row)

        self.name = QLineEdit()
        self.kind = QComboBox()
        for kind, label in KINDS.items():
            self.kind.addItem(label, kind.value)  # Qt keeps a plain string; kind() turns it back
        self.kind.currentIndexChanged.connect(self._on_kind)
        self.url = QLineEdit()
        self.project = QLineEdit()
        self.environment = QLineEdit()
        self.context_kind = QLineEdit()
        self.context_kind.setPlaceholderText("user")
        self.context_kind_label = QLabel("Context kind")
        self.token = QLineEdit()
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token_note = QLabel()
        self.token_note.setWordWrap(True)
        self.token_note.setEnabled(False)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("&Name", self.name)
        form.addRow("&Kind", self.kind)
        form.addRow("&URL", self.url)
        form.addRow("&Project", self.project)
        form.addRow("&Environment", self.environment)
        form.addRow(self.context_kind_label, self.context_kind)
        form.addRow("API &token", self.token)
        form.addRow("", self.token_note)

        self.save_button = QPushButton("&Save")
        self.save_button.clicked.connect(self.save)
        self.test_button = QPushButton("&Test connection")
        self.test_button.clicked.connect(self.test)
        self.result = QLabel()
        self.result.setObjectName("connectionResult")
        self.result.setWordWrap(True)
        self.result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        actions = QHBoxLayout()
        actions.addWidget(self.test_button)
        actions.addStretch(1)
        actions.addWidget(self.save_button)
        right = QVBoxLayout()
        right.addLayout(form)
        right.addLayout(actions)
        right.addWidget(self.result)
        right.addStretch(1)

        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        columns = QHBoxLayout()
        columns.addLayout(left, 2)
        columns.addSpacing(8)
        columns.addLayout(right, 5)
        layout = QVBoxLayout(self)
        layout.addLayout(columns)
        layout.addWidget(close)
        self.resize(760, 420)

        self.reload()
        if self.list.count():
            self.list.setCurrentRow(0)
        else:
            self.new_connection()

    # --- the list ------------------------------------------------------------------------------------------
    def reload(self, select_id: int | None = None) -> None:
        workspace = self.document.workspace
        assert workspace is not None
        self.list.blockSignals(True)
        self.list.clear()
        with workspace.session() as session:
            for c in session.scalars(
                select(Connection).where(Connection.kind.in_(list(KINDS))).order_by(Connection.name)
            ):
                item = QListWidgetItem(f"{c.name}\n{KINDS[c.kind]} · {c.project or '-'} · {c.environment or '-'}")
                item.setData(Qt.ItemDataRole.UserRole, c.id)
                self.list.addItem(item)
                if c.id == select_id:
                    self.list.setCurrentItem(item)
        self.list.blockSignals(False)
        self.remove_button.setEnabled(self.list.currentItem() is not None)

    def _on_current(self, item: QListWidgetItem | None, _previous: QListWidgetItem | None) -> None:
        self.remove_button.setEnabled(item is not None)
        if item is not None:
            self.show_connection(item.data(Qt.ItemDataRole.UserRole))

    def show_connection(self, connection_id: int) -> None:
        workspace = self.document.workspace
        assert workspace is not None
        with workspace.session() as session:
            c = session.get(Connection, connection_id)
            if c is None:
                self.reload()
                return
            self.connection_id = c.id
            self._options = dict(c.options or {})
            self.name.setText(c.name)
            self.kind.setCurrentIndex(self.kind.findData(c.kind.value))
            self.url.setText(c.url)
            self.project.setText(c.project)
            self.environment.setText(c.environment)
            self.context_kind.setText(str(self._options.get("context_kind", "")))
        self.kind.setEnabled(False)  # the keyring entry is named after the kind
        self.token.clear()
        self.token.setPlaceholderText("kept in the system keyring; type a new one to replace it")
        self.token_note.setText("The token is stored only in the system keyring, never in the workspace.")
        self.result.clear()
        self._on_kind()

    def new_connection(self) -> None:
        self.list.blockSignals(True)
        self.list.clearSelection()
        self.list.setCurrentItem(None)
        self.list.blockSignals(False)
        self.remove_button.setEnabled(False)
        self.connection_id = None
        self._options = {}
        for field in (self.name, self.url, self.project, self.environment, self.context_kind, self.token):
            field.clear()
        self.kind.setEnabled(True)
        self.kind.setCurrentIndex(0)
        self.project.setText("default")
        self.token.setPlaceholderText("an Admin API token or access token")
        self.token_note.setText("The token will be stored only in the system keyring, never in the workspace.")
        self.result.clear()
        self._on_kind()
        self.name.setFocus()

    def selected_kind(self) -> ConnectionKind:
        return ConnectionKind(self.kind.currentData())

    def _on_kind(self) -> None:
        kind = self.selected_kind()
        self.url.setPlaceholderText(URL_HINTS[kind])
        is_ld = kind is ConnectionKind.LAUNCHDARKLY
        self.context_kind.setVisible(is_ld)
        self.context_kind_label.setVisible(is_ld)
        self.environment.setPlaceholderText("production" if is_ld else "development or production")

    def form(self) -> ConnectionForm:
        return ConnectionForm(
            self.connection_id, self.name.text().strip(), self.selected_kind(), self.url.text().strip(),
            self.project.text().strip(), self.environment.text().strip(), self.context_kind.text().strip(),
            self.token.text().strip(),
        )

    # --- save, remove, test ---------------------------------------------------------------------------------
    def _say(self, text: str, color: str | None = None) -> None:
        self.result.setStyleSheet(f"color: {color};" if color else "")
        self.result.setText(text)

    def _problem(self, form: ConnectionForm) -> str | None:
        if not form.name:
            return "Give the connection a name."
        if form.kind is ConnectionKind.UNLEASH and not form.url:
            return "An Unleash connection needs the server's URL."
        if not form.project:
            return "Name the project (Unleash's is often “default”)."
        return None

    def save(self) -> None:
        workspace = self.document.workspace
        form = self.form()
        problem = self._problem(form)
        if workspace is None or self.save_task is not None:
            return
        if problem:
            self._say(problem, FAIL_COLOR)
            return
        self.save_button.setEnabled(False)
        self._say("Saving…")
        self.save_task = run_task(save_connection, workspace, form, on_done=self._on_saved,
                                  on_error=self._on_save_failed)

    def _on_saved(self, connection_id: int) -> None:
        self.save_task = None
        self.save_button.setEnabled(True)
        self.reload(select_id=connection_id)
        self.show_connection(connection_id)
        self._say("Saved." + (" The token is in the system keyring." if self.form().token == "" else ""), OK_COLOR)
        self.document.changed.emit("connection", connection_id)

    def _on_save_failed(self, exc: BaseException) -> None:
        self.save_task = None
        self.save_button.setEnabled(True)
        log.warning("Connection not saved: %s", exc)
        self._say(f"Not saved: {exc}", FAIL_COLOR)

    def remove_current(self) -> None:
        workspace = self.document.workspace
        if workspace is None or self.connection_id is None:
            return
        connection_id = self.connection_id
        with workspace.session() as session:
            name = session.get(Connection, connection_id).name  # type: ignore[union-attr]
            rollouts = list(session.scalars(select(Rollout.name).where(Rollout.flag_connection_id == connection_id).order_by(Rollout.name)))
            snapshots = session.scalar(
                select(func.count()).select_from(FlagSnapshot).where(FlagSnapshot.connection_id == connection_id))
        consequences = [f"Its token is deleted from the system keyring and its {snapshots} flag snapshot(s) "
                        "are removed."]
        if rollouts:
            consequences.append(f"These rollouts lose their flag link: {', '.join(rollouts)}.")
        answer = QMessageBox.question(
            self, "Remove the connection?", f"Remove the connection “{name}”?\n\n" + "\n".join(consequences),
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        self.remove_button.setEnabled(False)
        self._say("Removing…")
        self.save_task = run_task(delete_connection, workspace, connection_id,
                                  on_done=lambda _none: self._on_removed(connection_id),
                                  on_error=self._on_save_failed)

    def _on_removed(self, connection_id: int) -> None:
        self.save_task = None
        self.reload()
        if self.list.count():
            self.list.setCurrentRow(0)
        else:
            self.new_connection()
        self._say("Removed.", OK_COLOR)
        self.document.changed.emit("connection", connection_id)
        self.document.changed.emit("rollout", 0)  # linked rollouts lost their link

    def test(self) -> None:
        form = self.form()
        problem = self._problem(form)
        if problem:
            self._say(problem, FAIL_COLOR)
            return
        if self.connection_id is None and not form.token:
            self._say("Type the API token to test a new connection.", FAIL_COLOR)
            return
        if self.test_task is not None:
            self.test_task.cancel()
        # A detached row with the form's settings: it names the same keyring entry as the saved connection.
        connection = Connection(id=self.connection_id, name=form.name, kind=form.kind, url=form.url,
                                project=form.project, environment=form.environment,
                                options=form.options(self._options))
        self.test_button.setEnabled(False)
        self._say(f"Testing {form.url or KINDS[form.kind]}…")
        self.test_task = run_task(check_form_connection, connection, form.token or None, on_done=self._on_tested,
                                  on_error=self._on_test_error)

    def _on_tested(self, check: Any) -> None:
        self.test_task = None
        self.test_button.setEnabled(True)
        self._say(("✓ " if check.ok else "✗ ") + check.message, OK_COLOR if check.ok else FAIL_COLOR)

    def _on_test_error(self, exc: BaseException) -> None:
        self.test_task = None
        self.test_button.setEnabled(True)
        self._say(f"✗ {exc}", FAIL_COLOR)

    def done(self, result: int) -> None:
        if self.save_task is not None:  # its answer says whether the keyring took the token: wait for it
            self._say("Saving… the dialog closes once the keyring has answered.")
            return
        # The answer of a test still running is of no use once the dialog is gone.
        if self.test_task is not None:
            self.test_task.cancel()
            self.test_task = None
        super().done(result)
