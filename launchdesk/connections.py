"""Connections to outside systems: their rows in the workspace and their secrets in the keyring (never both)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from launchdesk import journal
from launchdesk.models import Connection, ConnectionKind


class ConnectionProblem(Exception):
    """A connection cannot be used as asked; the message is for the user and never holds a secret."""


def secret_key(connection: Connection) -> str:
    """The keyring entry of a connection: a random id kept in its options, so two workspaces never share one
    by accident, while a copy of a workspace keeps working with the same keyring entry."""
    secret_id = (connection.options or {}).get("secret_id") or f"connection-{connection.id}"
    return f"{connection.kind}:{secret_id}"


def add_connection(
    session: Session,
    name: str,
    kind: ConnectionKind | str,
    *,
    url: str = "",
    project: str = "",
    environment: str = "",
    options: dict[str, Any] | None = None,
    secret: str | None = None,
) -> Connection:
    """Add a connection; its secret goes to the keyring, the row holds only where to find it."""
    name = name.strip()
    if not name:
        raise ConnectionProblem("A connection needs a name.")
    if session.scalars(select(Connection).where(Connection.name == name)).first():
        raise ConnectionProblem(f"There is already a connection named {name!r}.")
    kind = ConnectionKind(kind)
    connection = Connection(
        name=name, kind=kind, url=url.strip(), project=project.strip(), environment=environment.strip(),
        options={**(options or {}), "secret_id": uuid.uuid4().hex},
    )
    session.add(connection)
    session.flush()
    if secret:
        from launchdesk import secrets

        secrets.set_secret(secret_key(connection), secret)
    journal.record(session, "connection", f"Connection {name!r} ({kind}) added", details={"url": connection.url})
    return connection


def update_connection(
    session: Session,
    connection: Connection,
    *,
    name: str,
    url: str = "",
    project: str = "",
    environment: str = "",
    options: dict[str, Any] | None = None,
    secret: str | None = None,
) -> None:
    """Change a connection's settings; a new secret replaces the one in the keyring (none given keeps it).

    The kind stays: the keyring entry is named after it.
    """
    name = name.strip()
    if not name:
        raise ConnectionProblem("A connection needs a name.")
    other = session.scalars(select(Connection).where(Connection.name == name, Connection.id != connection.id)).first()
    if other is not None:
        raise ConnectionProblem(f"There is already a connection named {name!r}.")
    connection.name, connection.url = name, url.strip()
    connection.project, connection.environment = project.strip(), environment.strip()
    # The secret's keyring id is not the caller's to change.
    connection.options = {**(options or {}), "secret_id": (connection.options or {}).get("secret_id")}
    session.flush()
    if secret:
        from launchdesk import secrets

        secrets.set_secret(secret_key(connection), secret)
    journal.record(session, "connection", f"Connection {name!r} ({connection.kind}) changed"
                   + (", new token kept in the keyring" if secret else ""), details={"url": connection.url})


def remove_connection(session: Session, connection: Connection) -> None:
    """Remove a connection and its keyring entry. Its snapshots go with it; linked rollouts lose their link."""
    from launchdesk import secrets

    key, name = secret_key(connection), connection.name
    session.delete(connection)
    session.flush()
    # Inside the transaction: if the keyring refuses, the connection stays rather than leaving a stray secret.
    secrets.delete_secret(key)
    journal.record(session, "connection", f"Connection {name!r} removed")


def get_connection(session: Session, name: str) -> Connection:
    connection = session.scalars(select(Connection).where(Connection.name == name)).first()
    if connection is None:
        known = ", ".join(session.scalars(select(Connection.name).order_by(Connection.name))) or "none yet"
        raise ConnectionProblem(f"There is no connection named {name!r} (connections: {known}).")
    return connection


def read_secret(connection: Connection) -> str:
    """The connection's secret from the keyring, or a clear error saying how to add it."""
    from launchdesk import secrets

    value = secrets.get_secret(secret_key(connection))
    if not value:
        raise ConnectionProblem(
            f"The keyring holds no token for connection {connection.name!r}; add it again with its token."
        )
    return value


def flag_client(connection: Connection, *, token: str | None = None, **http_options: Any) -> Any:
    """An API client for a flag platform connection, with its token from the keyring unless one is given."""
    token = token or read_secret(connection)
    if connection.kind is ConnectionKind.UNLEASH:
        from launchdesk.flags.unleash_api import UnleashAdminClient

        return UnleashAdminClient(connection.url, token, **http_options)
    if connection.kind is ConnectionKind.LAUNCHDARKLY:
        from launchdesk.flags.launchdarkly_api import LaunchDarklyClient

        if connection.url:
            return LaunchDarklyClient(token, base_url=connection.url, **http_options)
        return LaunchDarklyClient(token, **http_options)
    raise ConnectionProblem(f"Connection {connection.name!r} is a {connection.kind} connection, not a flag platform.")


FLAG_PLATFORMS = (ConnectionKind.UNLEASH, ConnectionKind.LAUNCHDARKLY)
METRIC_SOURCES = (ConnectionKind.PROMETHEUS, ConnectionKind.DATADOG)
SENDERS = (ConnectionKind.SMTP, ConnectionKind.SLACK, ConnectionKind.WEBHOOK)


def webhook_origin(url: str) -> str:
    """What the workspace keeps of a Slack or webhook URL (the secret): its scheme and host only."""
    from urllib.parse import urlsplit

    parts = urlsplit(url.strip())
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def check_connection(connection: Connection, *, token: str | None = None) -> Any:
    """Test a connection of any kind with the stored secret (or one typed but not saved yet): a ConnectionCheck
    saying success or exactly what failed (refused, unknown host, TLS, 401/403, timeout). Nothing is sent:
    SMTP is signed in to and left; a Slack or webhook URL is checked for its form only, since calling it would
    post a message (``launchdesk.comms.senders.send_test_post`` posts one when asked)."""
    from launchdesk.flags.http import ConnectionCheck
    from launchdesk.secrets import SecretsUnavailable

    kind = ConnectionKind(connection.kind)
    try:
        if kind is ConnectionKind.PROMETHEUS:
            from launchdesk.metrics import prometheus

            return prometheus.check_connection(connection, secret=token)
        if kind is ConnectionKind.DATADOG:
            from launchdesk.metrics import datadog

            return datadog.check_connection(connection, secret=token)
        if kind is ConnectionKind.SMTP:
            from launchdesk.comms.senders import SenderUnavailable, check_smtp

            try:
                return ConnectionCheck(True, check_smtp(connection, password=token))
            except SenderUnavailable as err:
                return ConnectionCheck(False, str(err))
        if kind in (ConnectionKind.SLACK, ConnectionKind.WEBHOOK):
            from launchdesk.comms.senders import check_webhook_url

            return ConnectionCheck(*check_webhook_url(token or read_secret(connection), kind))
        with flag_client(connection, token=token) as client:
            if kind is ConnectionKind.UNLEASH:
                return client.test_connection(connection.project)
            return client.test_connection(connection.project, connection.environment)
    except (ConnectionProblem, SecretsUnavailable) as err:
        return ConnectionCheck(False, str(err))
