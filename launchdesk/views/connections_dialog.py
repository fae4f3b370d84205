"""The workspace's connections: flag platforms (Unleash, LaunchDarkly), metric sources (Prometheus, Datadog) and
senders (SMTP, Slack, webhooks): list, add, edit, test and remove them; and which journal events go to Slack.

Each kind shows only its own fields. A token, password, key or webhook URL is typed into a password field and
goes only to the system keyring (launchdesk.connections), never to the workspace or the settings. Saving (the
keyring may ask to be unlocked), testing and posting (the network) run through ``run_task``, so the window
never waits on either. The checks themselves live in the domain (connections, metrics, comms.senders).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy import func, select

from launchdesk.models import Connection, ConnectionKind, FlagSnapshot, Gate, Message, Rollout
from launchdesk.views.document import WorkspaceDocument
from launchdesk.views.tasks import TaskHandle, run_task
from launchdesk.workspace import Workspace

log = logging.getLogger(__name__)

K = ConnectionKind
KINDS = {K.UNLEASH: "Unleash", K.LAUNCHDARKLY: "LaunchDarkly", K.PROMETHEUS: "Prometheus", K.DATADOG: "Datadog",
         K.SMTP: "SMTP e-mail", K.SLACK: "Slack webhook", K.WEBHOOK: "Webhook"}
FLAG_KINDS = (K.UNLEASH, K.LAUNCHDARKLY)
URL_HINTS = {
    K.UNLEASH: "https://unleash.example.com (the server's address)",
    K.LAUNCHDARKLY: "https://app.launchdarkly.com (empty: LaunchDarkly's own)",
    K.PROMETHEUS: "https://prometheus.example.com:9090 (or the prefix before /api/v1)",
    K.DATADOG: "empty: the site's API address (https://api.<site>)",
    K.SMTP: "smtp.example.com",
}
URL_LABELS = {K.SMTP: "SMTP &server", K.DATADOG: "API &URL"}
SECRET_LABELS = {K.UNLEASH: "API &token", K.LAUNCHDARKLY: "API &token", K.PROMETHEUS: "Token or &password",
                 K.DATADOG: "API &key", K.SMTP: "&Password", K.SLACK: "Webhook &URL", K.WEBHOOK: "Webhook &URL"}
SECRET_HINTS = {K.UNLEASH: "an Admin API token or personal access token",
                K.LAUNCHDARKLY: "a REST API access token",
                K.PROMETHEUS: "a bearer token, or the basic-auth password",
                K.DATADOG: "the Datadog API key",
                K.SMTP: "the SMTP password (only with a user name)",
                K.SLACK: "https://hooks.slack.com/services/…",
                K.WEBHOOK: "https://notices.example.com/hooks/…"}
DATADOG_SITES = ("datadoghq.com", "us3.datadoghq.com", "us5.datadoghq.com", "datadoghq.eu", "ap1.datadoghq.com",
                 "ddog-gov.com")
PROMETHEUS_AUTH = {"auto": "A saved token, if any (basic with a user name)", "none": "None",
                   "bearer": "Bearer token", "basic": "User name and password"}
SMTP_SECURITY = {"starttls": "STARTTLS (port 587)", "tls": "TLS from the start (port 465)", "none": "None (port 25)"}
# Options the form edits; any other option of a connection (timeout, the keyring id...) is kept as it is.
FORM_OPTIONS = ("context_kind", "auth", "username", "site", "security", "from", "ca_file", "unsubscribe_url",
                "unsubscribe_mailto", "rate_per_second")
OK_COLOR, FAIL_COLOR = "#1b7f3b", "#b3261e"


@dataclass(frozen=True)
class ConnectionForm:
    """What the form says. ``token`` (and Datadog's ``application_key``) are "" when the user typed none: the
    keyring's stays. For Slack and webhooks ``token`` is the webhook URL, itself the secret."""

    connection_id: int | None
    name: str
    kind: ConnectionKind
    url: str
    project: str = ""
    environment: str = ""
    context_kind: str = ""
    token: str = ""
    auth: str = ""
    username: str = ""
    site: str = ""
    security: str = "starttls"
    sender: str = ""
    port: int = 0
    ca_file: str = ""
    unsubscribe_url: str = ""
    unsubscribe_mailto: str = ""
    rate: float = 0.0
    application_key: str = ""

    def options(self, current: dict[str, Any]) -> dict[str, Any]:
        options = {k: v for k, v in current.items() if k not in FORM_OPTIONS}
        kind = self.kind
        if kind is K.LAUNCHDARKLY:
            options["context_kind"] = self.context_kind or "user"
        elif kind is K.PROMETHEUS:
            if self.auth in ("none", "bearer", "basic"):  # "auto": no option, the keyring decides
                options["auth"] = self.auth
            if self.auth in ("basic", "auto") and self.username:
                options["username"] = self.username
        elif kind is K.DATADOG:
            options["site"] = self.site or "datadoghq.com"
        elif kind is K.SMTP:
            extra = {"security": self.security, "from": self.sender, "username": self.username,
                     "ca_file": self.ca_file, "unsubscribe_url": self.unsubscribe_url,
                     "unsubscribe_mailto": self.unsubscribe_mailto}
            options.update({k: v for k, v in extra.items() if v})
        if kind in (K.SMTP, K.SLACK, K.WEBHOOK) and self.rate > 0:
            options["rate_per_second"] = self.rate
        return options

    def secret(self) -> str:
        """What goes to the keyring ("" for nothing new): Datadog keeps both keys as one entry."""
        if self.kind is K.DATADOG:
            return f"{self.token} {self.application_key}" if self.token and self.application_key else ""
        return self.token

    def stored_url(self, current: str = "") -> str:
        """The URL the workspace keeps: a webhook's scheme and host only (the rest is the secret), an SMTP
        server as smtp(s)://host:port."""
        if self.kind in (K.SLACK, K.WEBHOOK):
            from launchdesk.connections import webhook_origin

            return webhook_origin(self.token) if self.token else current
        if self.kind is K.SMTP and self.url:
            host = self.url.split("://", 1)[-1].rstrip("/")
            scheme = "smtps" if self.security == "tls" else "smtp"
            if self.port:
                host = f"{host.rsplit(':', 1)[0] if host.count(':') == 1 else host}:{self.port}"
            return f"{scheme}://{host}"
        return self.url

    def connection(self, current_options: dict[str, Any], current_url: str = "") -> Connection:
        """A detached row with the form's settings: it names the same keyring entry as the saved connection."""
        flag = self.kind in FLAG_KINDS
        return Connection(id=self.connection_id, name=self.name, kind=self.kind, url=self.stored_url(current_url),
                          project=self.project if flag else "", environment=self.environment if flag else "",
                          options=self.options(current_options))

    def problem(self, *, new: bool) -> str | None:
        """What must change before the form can be saved or tested; None when nothing must."""
        if not self.name:
            return "Give the connection a name."
        kind = self.kind
        if kind is K.UNLEASH and not self.url:
            return "An Unleash connection needs the server's URL."
        if kind in FLAG_KINDS and not self.project:
            return "Name the project (Unleash's is often “default”)."
        if kind is K.PROMETHEUS:
            if not self.url:
                return "A Prometheus connection needs the server's URL."
            if self.auth == "basic" and not self.username:
                return "Basic sign-in needs a user name."
        if kind is K.DATADOG:
            if bool(self.token) != bool(self.application_key):
                return "Type both the API key and the application key (or neither, to keep the saved ones)."
            if any(c.isspace() for c in self.token + self.application_key):
                return "A Datadog key has no spaces."
            if new and not self.token:
                return "Type the Datadog API key and application key."
        if kind is K.SMTP:
            if not self.url:
                return "Name the SMTP server."
            from launchdesk.comms.senders import smtp_problem

            return smtp_problem(self.connection({}))
        if kind in (K.SLACK, K.WEBHOOK):
            if new or self.token:
                from launchdesk.comms.senders import webhook_url_problem

                return webhook_url_problem(self.token, kind)
        return None


def save_connection(_progress: Any, _cancelled: Any, workspace: Workspace, form: ConnectionForm) -> int:
    """Add or change the connection; its secret (if typed) goes to the keyring. Returns the connection's id."""
    from launchdesk.connections import add_connection, update_connection

    flag = form.kind in FLAG_KINDS
    project, environment = (form.project, form.environment) if flag else ("", "")
    with workspace.transaction() as session:
        if form.connection_id is None:
            connection = add_connection(
                session, form.name, form.kind, url=form.stored_url(), project=project, environment=environment,
                options=form.options({}), secret=form.secret() or None,
            )
        else:
            connection = session.get(Connection, form.connection_id)
            if connection is None:
                raise LookupError("This connection was removed meanwhile.")
            update_connection(
                session, connection, name=form.name, url=form.stored_url(connection.url), project=project,
                environment=environment, options=form.options(dict(connection.options or {})),
                secret=form.secret() or None,
            )
        return connection.id


def delete_connection(_progress: Any, _cancelled: Any, workspace: Workspace, connection_id: int) -> None:
    from launchdesk.connections import remove_connection

    with workspace.transaction() as session:
        connection = session.get(Connection, connection_id)
        if connection is not None:
            remove_connection(session, connection)


def check_form_connection(_progress: Any, _cancelled: Any, connection: Connection, token: str | None) -> Any:
    """Test the connection as the form describes it, with the typed secret or else the keyring's."""
    from launchdesk.connections import check_connection

    return check_connection(connection, token=token)


def post_test_message(_progress: Any, cancelled: Any, connection: Connection, url: str | None) -> Any:
    """Post one test message through a Slack or webhook connection (the typed URL or the keyring's)."""
    from launchdesk.comms.senders import SenderUnavailable, send_test_post
    from launchdesk.flags.http import ConnectionCheck

    try:
        attempt = send_test_post(connection, url=url, cancelled=cancelled)
    except SenderUnavailable as err:
        return ConnectionCheck(False, str(err))
    if attempt.outcome == "sent":
        return ConnectionCheck(True, f"Test message posted ({attempt.detail}).")
    return ConnectionCheck(False, f"Test message {attempt.outcome.replace('_', ' ')}: {attempt.detail}")


def removal_consequences(workspace: Workspace, connection_id: int) -> tuple[str, list[str]]:
    """The connection's name and what removing it takes with it, for the confirmation."""
    with workspace.session() as session:
        connection = session.get(Connection, connection_id)
        if connection is None:
            return "", []
        name, kind = connection.name, connection.kind
        secret = "webhook URL" if kind in (K.SLACK, K.WEBHOOK) else "password" if kind is K.SMTP else "token"
        lines = [f"Its {secret} is deleted from the system keyring."]
        if kind in FLAG_KINDS:
            snapshots = session.scalar(select(func.count()).select_from(FlagSnapshot)
                                       .where(FlagSnapshot.connection_id == connection_id))
            lines[0] = lines[0][:-1] + f" and its {snapshots} flag snapshot(s) are removed."
            rollouts = list(session.scalars(select(Rollout.name).where(Rollout.flag_connection_id == connection_id)
                                            .order_by(Rollout.name)))
            if rollouts:
                lines.append(f"These rollouts lose their flag link: {', '.join(rollouts)}.")
        gates = list(session.scalars(select(Gate.name).where(Gate.source_connection_id == connection_id)
                                     .order_by(Gate.name)))
        if gates:
            lines.append(f"These gates lose their metric source: {', '.join(sorted(set(gates)))}.")
        messages = list(session.scalars(select(Message.name).where(Message.sender_connection_id == connection_id)
                                        .order_by(Message.name)))
        if messages:
            lines.append(f"These messages lose their sender: {', '.join(sorted(set(messages)))}.")
        if kind is K.SLACK:
            from launchdesk.comms.journal_slack import read_setting

            setting = read_setting(session)
            if setting is not None and setting.connection_id == connection_id:
                lines.append("Journal events stop going to Slack until another connection is chosen.")
    return name, lines


def read_slack_posting(_progress: Any, _cancelled: Any, workspace: Workspace) -> tuple[Any, list[tuple[int, str]]]:
    """The journal-to-Slack setting and the Slack connections to choose from."""
    from launchdesk.comms.journal_slack import read_setting

    with workspace.session() as session:
        choices = [(c.id, c.name) for c in session.scalars(
            select(Connection).where(Connection.kind == K.SLACK).order_by(Connection.name))]
        return read_setting(session), choices


def save_slack_posting(_progress: Any, _cancelled: Any, workspace: Workspace, connection_id: int | None,
                       events: list[str]) -> Any:
    from launchdesk.comms.journal_slack import save_setting

    with workspace.transaction() as session:
        name = session.get(Connection, connection_id).name if connection_id else None  # type: ignore[union-attr]
        return save_setting(session, name, events)


def post_journal_now(_progress: Any, cancelled: Any, workspace: Workspace) -> Any:
    from launchdesk.comms.journal_slack import post_journal_to_slack

    return post_journal_to_slack(workspace, cancelled=cancelled)


class ConnectionsDialog(QDialog):
    def __init__(self, document: WorkspaceDocument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Connections")
        self.document = document
        self.connection_id: int | None = None  # the one in the form; None: a new one
        self._options: dict[str, Any] = {}
        self._url = ""  # the saved URL (a webhook's host: its full URL is the secret)
        self.save_task: TaskHandle | None = None
        self.test_task: TaskHandle | None = None
        self.slack_task: TaskHandle | None = None

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
        self.port = QSpinBox()
        self.port.setRange(0, 65535)
        self.port.setSpecialValueText("default for the security")
        self.project = QLineEdit()
        self.environment = QLineEdit()
        self.context_kind = QLineEdit()
        self.context_kind.setPlaceholderText("user")
        self.context_kind_label = QLabel("Context kind")
        self.auth = QComboBox()
        for value, label in PROMETHEUS_AUTH.items():
            self.auth.addItem(label, value)
        self.auth.currentIndexChanged.connect(self._on_kind)
        self.site = QComboBox()
        self.site.setEditable(True)
        self.site.addItems(DATADOG_SITES)
        self.security = QComboBox()
        for value, label in SMTP_SECURITY.items():
            self.security.addItem(label, value)
        self.sender = QLineEdit()
        self.sender.setPlaceholderText("Launch Team <launch@example.com>")
        self.username = QLineEdit()
        self.ca_file = QLineEdit()
        self.ca_file.setPlaceholderText("empty: the system's trusted certificates")
        self.unsubscribe_url = QLineEdit()
        self.unsubscribe_url.setPlaceholderText("https://example.com/unsubscribe?email={email} (optional)")
        self.unsubscribe_mailto = QLineEdit()
        self.unsubscribe_mailto.setPlaceholderText("unsubscribe@example.com (optional)")
        self.rate = QDoubleSpinBox()
        self.rate.setRange(0, 1000)
        self.rate.setDecimals(2)
        self.rate.setSuffix(" per second")
        self.rate.setSpecialValueText("no limit")
        self.token = QLineEdit()
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.application_key = QLineEdit()
        self.application_key.setEchoMode(QLineEdit.EchoMode.Password)
        self.token_note = QLabel()
        self.token_note.setWordWrap(True)
        self.token_note.setEnabled(False)
        self.form_layout = form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("&Name", self.name)
        form.addRow("&Kind", self.kind)
        form.addRow("&URL", self.url)
        form.addRow("Po&rt", self.port)
        form.addRow("&Project", self.project)
        form.addRow("&Environment", self.environment)
        form.addRow(self.context_kind_label, self.context_kind)
        form.addRow("&Site", self.site)
        form.addRow("Sign-&in", self.auth)
        form.addRow("Se&curity", self.security)
        form.addRow("&From", self.sender)
        form.addRow("User na&me", self.username)
        form.addRow("CA certificate file", self.ca_file)
        form.addRow("Unsubscribe URL", self.unsubscribe_url)
        form.addRow("Unsubscribe e-mail", self.unsubscribe_mailto)
        form.addRow("Rate &limit", self.rate)
        form.addRow("API &token", self.token)
        form.addRow("Appl&ication key", self.application_key)
        form.addRow("", self.token_note)
        # Which rows each kind shows; the others are hidden.
        self._rows: dict[QWidget, tuple[ConnectionKind, ...]] = {
            self.url: (K.UNLEASH, K.LAUNCHDARKLY, K.PROMETHEUS, K.DATADOG, K.SMTP),
            self.port: (K.SMTP,),
            self.project: FLAG_KINDS,
            self.environment: FLAG_KINDS,
            self.context_kind: (K.LAUNCHDARKLY,),
            self.site: (K.DATADOG,),
            self.auth: (K.PROMETHEUS,),
            self.security: (K.SMTP,),
            self.sender: (K.SMTP,),
            self.username: (K.PROMETHEUS, K.SMTP),
            self.ca_file: (K.SMTP,),
            self.unsubscribe_url: (K.SMTP,),
            self.unsubscribe_mailto: (K.SMTP,),
            self.rate: (K.SMTP, K.SLACK, K.WEBHOOK),
            self.token: tuple(KINDS),
            self.application_key: (K.DATADOG,),
        }

        self.save_button = QPushButton("&Save")
        self.save_button.clicked.connect(self.save)
        self.test_button = QPushButton("&Test connection")
        self.test_button.clicked.connect(self.test)
        self.send_test_button = QPushButton("Send a test &message")
        self.send_test_button.setToolTip("Posts one short test message to the channel or webhook")
        self.send_test_button.clicked.connect(self.send_test)
        self.result = QLabel()
        self.result.setObjectName("connectionResult")
        self.result.setWordWrap(True)
        self.result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        actions = QHBoxLayout()
        actions.addWidget(self.test_button)
        actions.addWidget(self.send_test_button)
        actions.addStretch(1)
        actions.addWidget(self.save_button)
        right = QVBoxLayout()
        right.addLayout(form)
        right.addLayout(actions)
        right.addWidget(self.result)
        right.addStretch(1)

        columns = QHBoxLayout()
        columns.addLayout(left, 2)
        columns.addSpacing(8)
        columns.addLayout(right, 5)
        connections_tab = QWidget()
        connections_tab.setLayout(columns)

        self.tabs = QTabWidget()
        self.tabs.addTab(connections_tab, "C&onnections")
        self.tabs.addTab(self._build_slack_tab(), "&Journal to Slack")
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addWidget(close)
        self.resize(820, 600)

        self.reload()
        if self.list.count():
            self.list.setCurrentRow(0)
        else:
            self.new_connection()
        self.load_slack_posting()

    # --- the list ------------------------------------------------------------------------------------------
    def reload(self, select_id: int | None = None) -> None:
        workspace = self.document.workspace
        assert workspace is not None
        self.list.blockSignals(True)
        self.list.clear()
        with workspace.session() as session:
            for c in session.scalars(select(Connection).order_by(Connection.name)):
                if c.kind in FLAG_KINDS:
                    detail = f"{c.project or '-'} · {c.environment or '-'}"
                else:
                    detail = urlsplit(c.url).netloc or c.url or "-"
                item = QListWidgetItem(f"{c.name}\n{KINDS[c.kind]} · {detail}")
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

    def _clear_fields(self) -> None:
        for field in (self.name, self.url, self.project, self.environment, self.context_kind, self.sender,
                      self.username, self.ca_file, self.unsubscribe_url, self.unsubscribe_mailto, self.token,
                      self.application_key):
            field.clear()
        self.port.setValue(0)
        self.rate.setValue(0)
        self.auth.setCurrentIndex(self.auth.findData("auto"))
        self.site.setCurrentText(DATADOG_SITES[0])
        self.security.setCurrentIndex(self.security.findData("starttls"))

    def show_connection(self, connection_id: int) -> None:
        workspace = self.document.workspace
        assert workspace is not None
        with workspace.session() as session:
            c = session.get(Connection, connection_id)
            if c is None:
                self.reload()
                return
            self._clear_fields()
            self.connection_id = c.id
            self._options = options = dict(c.options or {})
            self._url = c.url
            self.name.setText(c.name)
            self.kind.setCurrentIndex(self.kind.findData(c.kind.value))
            self.project.setText(c.project)
            self.environment.setText(c.environment)
            kind = c.kind
            url = c.url
            if kind is K.SMTP:
                parts = urlsplit(url if "://" in url else f"smtp://{url}")
                url = parts.hostname or ""
                self.port.setValue(parts.port or 0)
                security = options.get("security") or ("tls" if parts.scheme == "smtps" else "none")
                self.security.setCurrentIndex(max(0, self.security.findData(security)))
            self.url.setText("" if kind in (K.SLACK, K.WEBHOOK) else url)
            self.context_kind.setText(str(options.get("context_kind", "")))
            auth = options.get("auth") or "auto"
            self.auth.setCurrentIndex(max(0, self.auth.findData(auth)))
            self.site.setCurrentText(str(options.get("site") or DATADOG_SITES[0]))
            self.sender.setText(str(options.get("from") or ""))
            self.username.setText(str(options.get("username") or ""))
            self.ca_file.setText(str(options.get("ca_file") or ""))
            self.unsubscribe_url.setText(str(options.get("unsubscribe_url") or ""))
            self.unsubscribe_mailto.setText(str(options.get("unsubscribe_mailto") or ""))
            try:
                self.rate.setValue(float(options.get("rate_per_second") or 0))
            except (TypeError, ValueError):
                self.rate.setValue(0)
        self.kind.setEnabled(False)  # the keyring entry is named after the kind
        self.token.setPlaceholderText("kept in the system keyring; type a new one to replace it")
        self.application_key.setPlaceholderText("kept in the system keyring; type both keys to replace them")
        self.token_note.setText(self._secret_note(kept=True))
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
        self._url = ""
        self._clear_fields()
        self.kind.setEnabled(True)
        self.kind.setCurrentIndex(0)
        self.project.setText("default")
        self.result.clear()
        self._on_kind()
        self.name.setFocus()

    def selected_kind(self) -> ConnectionKind:
        return ConnectionKind(self.kind.currentData())

    def _secret_note(self, *, kept: bool) -> str:
        kind = self.selected_kind()
        what = "webhook URL (itself the secret)" if kind in (K.SLACK, K.WEBHOOK) else (
            "keys" if kind is K.DATADOG else "password" if kind is K.SMTP else "token")
        verb = "is" if kept else "will be"
        return f"The {what} {verb} stored only in the system keyring, never in the workspace."

    def _on_kind(self) -> None:
        kind = self.selected_kind()
        for widget, kinds in self._rows.items():
            self.form_layout.setRowVisible(widget, kind in kinds)
        self.context_kind_label.setVisible(kind is K.LAUNCHDARKLY)
        if kind is K.PROMETHEUS:
            auth = self.auth.currentData()
            self.form_layout.setRowVisible(self.username, auth in ("basic", "auto"))
            self.form_layout.setRowVisible(self.token, auth != "none")
        self.url.setPlaceholderText(URL_HINTS.get(kind, ""))
        url_label = self.form_layout.labelForField(self.url)
        if isinstance(url_label, QLabel):
            url_label.setText(URL_LABELS.get(kind, "&URL"))
        token_label = self.form_layout.labelForField(self.token)
        if isinstance(token_label, QLabel):
            token_label.setText(SECRET_LABELS[kind])
        if self.connection_id is None:
            self.token.setPlaceholderText(SECRET_HINTS[kind])
            self.application_key.setPlaceholderText("the Datadog application key")
            self.token_note.setText(self._secret_note(kept=False))
        self.environment.setPlaceholderText("production" if kind is K.LAUNCHDARKLY else "development or production")
        self.send_test_button.setVisible(kind in (K.SLACK, K.WEBHOOK))

    def form(self) -> ConnectionForm:
        return ConnectionForm(
            self.connection_id, self.name.text().strip(), self.selected_kind(), self.url.text().strip(),
            self.project.text().strip(), self.environment.text().strip(), self.context_kind.text().strip(),
            self.token.text().strip(), auth=str(self.auth.currentData()), username=self.username.text().strip(),
            site=self.site.currentText().strip(), security=str(self.security.currentData()),
            sender=self.sender.text().strip(), port=self.port.value(), ca_file=self.ca_file.text().strip(),
            unsubscribe_url=self.unsubscribe_url.text().strip(),
            unsubscribe_mailto=self.unsubscribe_mailto.text().strip(), rate=self.rate.value(),
            application_key=self.application_key.text().strip(),
        )

    # --- save, remove, test ---------------------------------------------------------------------------------
    def _say(self, text: str, color: str | None = None) -> None:
        self.result.setStyleSheet(f"color: {color};" if color else "")
        self.result.setText(text)

    def save(self) -> None:
        workspace = self.document.workspace
        form = self.form()
        if workspace is None or self.save_task is not None:
            return
        problem = form.problem(new=self.connection_id is None)
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
        self._say("Saved. The secret is in the system keyring only.", OK_COLOR)
        self.document.changed.emit("connection", connection_id)
        self.load_slack_posting()

    def _on_save_failed(self, exc: BaseException) -> None:
        self.save_task = None
        self.save_button.setEnabled(True)
        self.remove_button.setEnabled(self.list.currentItem() is not None)
        log.warning("Connection not saved: %s", exc)
        self._say(f"Not saved: {exc}", FAIL_COLOR)

    def remove_current(self) -> None:
        workspace = self.document.workspace
        if workspace is None or self.connection_id is None or self.save_task is not None:
            return
        connection_id = self.connection_id
        name, consequences = removal_consequences(workspace, connection_id)
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
        self.load_slack_posting()

    def _ready_to_test(self, form: ConnectionForm) -> bool:
        problem = form.problem(new=self.connection_id is None)
        if problem is None and self.connection_id is None and not form.secret() and form.kind in FLAG_KINDS:
            problem = "Type the API token to test a new connection."
        if problem:
            self._say(problem, FAIL_COLOR)
            return False
        return True

    def test(self) -> None:
        form = self.form()
        if not self._ready_to_test(form):
            return
        if self.test_task is not None:
            self.test_task.cancel()
        connection = form.connection(self._options, self._url)
        self.test_button.setEnabled(False)
        where = urlsplit(connection.url).netloc or connection.url or KINDS[form.kind]
        self._say(f"Testing {where}…")
        self.test_task = run_task(check_form_connection, connection, form.secret() or None,
                                  on_done=self._on_tested, on_error=self._on_test_error)

    def send_test(self) -> None:
        form = self.form()
        if form.kind not in (K.SLACK, K.WEBHOOK) or not self._ready_to_test(form):
            return
        if self.test_task is not None:
            self.test_task.cancel()
        connection = form.connection(self._options, self._url)
        self.test_button.setEnabled(False)
        self.send_test_button.setEnabled(False)
        self._say("Posting a test message…")
        self.test_task = run_task(post_test_message, connection, form.token or None, on_done=self._on_tested,
                                  on_error=self._on_test_error)

    def _on_tested(self, check: Any) -> None:
        self.test_task = None
        self.test_button.setEnabled(True)
        self.send_test_button.setEnabled(True)
        self._say(("✓ " if check.ok else "✗ ") + check.message, OK_COLOR if check.ok else FAIL_COLOR)

    def _on_test_error(self, exc: BaseException) -> None:
        self.test_task = None
        self.test_button.setEnabled(True)
        self.send_test_button.setEnabled(True)
        self._say(f"✗ {exc}", FAIL_COLOR)

    # --- journal to Slack ------------------------------------------------------------------------------------
    def _build_slack_tab(self) -> QWidget:
        from launchdesk.comms.journal_slack import EVENTS

        tab = QWidget()
        self.slack_connection = QComboBox()
        self.slack_connection.addItem("Off: post nothing", None)
        self.slack_events: dict[str, QCheckBox] = {}
        events = QVBoxLayout()
        for key, label in EVENTS.items():
            box = QCheckBox(label)
            box.setChecked(True)
            self.slack_events[key] = box
            events.addWidget(box)
        self.slack_save_button = QPushButton("Sa&ve")
        self.slack_save_button.clicked.connect(self.save_slack_posting)
        self.slack_post_button = QPushButton("&Post now")
        self.slack_post_button.setToolTip("Post the chosen events journaled since the last post")
        self.slack_post_button.clicked.connect(self.post_now)
        self.slack_result = QLabel()
        self.slack_result.setWordWrap(True)
        self.slack_result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        note = QLabel(
            "The chosen journal events are posted to the Slack channel of the connection, each at most once, "
            "in the background while LaunchDesk is open (a few seconds after they happen), or by "
            "<code>launchdesk-cli journal-slack post</code> on a schedule. Only the event's summary is posted; "
            "events that happened before posting was turned on are not.")
        note.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Slack &connection", self.slack_connection)
        form.addRow("Events", events)
        buttons = QHBoxLayout()
        buttons.addWidget(self.slack_post_button)
        buttons.addStretch(1)
        buttons.addWidget(self.slack_save_button)
        layout = QVBoxLayout(tab)
        layout.addWidget(note)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.slack_result)
        layout.addStretch(1)
        return tab

    def _slack_say(self, text: str, color: str | None = None) -> None:
        self.slack_result.setStyleSheet(f"color: {color};" if color else "")
        self.slack_result.setText(text)

    def _slack_busy(self, busy: bool) -> None:
        self.slack_save_button.setEnabled(not busy)
        self.slack_post_button.setEnabled(not busy)

    def load_slack_posting(self) -> None:
        workspace = self.document.workspace
        if workspace is None or self.slack_task is not None:
            return
        self._slack_busy(True)
        self.slack_task = run_task(read_slack_posting, workspace, on_done=self._on_slack_loaded,
                                   on_error=self._on_slack_failed)

    def _on_slack_loaded(self, answer: tuple[Any, list[tuple[int, str]]]) -> None:
        self.slack_task = None
        self._slack_busy(False)
        setting, choices = answer
        self.slack_connection.clear()
        self.slack_connection.addItem("Off: post nothing", None)
        for connection_id, name in choices:
            self.slack_connection.addItem(name, connection_id)
        if setting is not None:
            index = self.slack_connection.findData(setting.connection_id)
            self.slack_connection.setCurrentIndex(max(0, index))
            for key, box in self.slack_events.items():
                box.setChecked(key in setting.events)
            if index < 0:
                self._slack_say("The Slack connection chosen for the journal was removed; choose another.",
                                FAIL_COLOR)
        if not choices:
            self._slack_say("Add a Slack webhook connection first (Connections tab).")

    def _on_slack_failed(self, exc: BaseException) -> None:
        self.slack_task = None
        self._slack_busy(False)
        self._slack_say(f"✗ {exc}", FAIL_COLOR)

    def slack_choice(self) -> tuple[int | None, list[str]]:
        return self.slack_connection.currentData(), [k for k, box in self.slack_events.items() if box.isChecked()]

    def save_slack_posting(self) -> None:
        workspace = self.document.workspace
        if workspace is None or self.slack_task is not None:
            return
        connection_id, events = self.slack_choice()
        if connection_id is not None and not events:
            self._slack_say("Choose at least one kind of event, or choose “Off”.", FAIL_COLOR)
            return
        self._slack_busy(True)
        self._slack_say("Saving…")
        self.slack_task = run_task(save_slack_posting, workspace, connection_id, events,
                                   on_done=self._on_slack_saved, on_error=self._on_slack_failed)

    def _on_slack_saved(self, setting: Any) -> None:
        self.slack_task = None
        self._slack_busy(False)
        self._slack_say("Saved: journal events are posted to Slack." if setting is not None
                        else "Saved: journal events are not posted to Slack.", OK_COLOR)
        self.document.changed.emit("setting", 0)

    def post_now(self) -> None:
        workspace = self.document.workspace
        if workspace is None or self.slack_task is not None:
            return
        self._slack_busy(True)
        self._slack_say("Posting…")
        self.slack_task = run_task(post_journal_now, workspace, on_done=self._on_slack_posted,
                                   on_error=self._on_slack_failed)

    def _on_slack_posted(self, report: Any) -> None:
        self.slack_task = None
        self._slack_busy(False)
        self._slack_say(report.summary(), OK_COLOR if report.ok else FAIL_COLOR)

    def done(self, result: int) -> None:
        if self.save_task is not None:  # its answer says whether the keyring took the token: wait for it
            self._say("Saving… the dialog closes once the keyring has answered.")
            return
        # The answer of a test still running is of no use once the dialog is gone.
        for task in (self.test_task, self.slack_task):
            if task is not None:
                task.cancel()
        self.test_task = self.slack_task = None
        super().done(result)
