"""Linking a rollout to its flag (connection + flag key + environment): the undoable command and its small dialog."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from PySide6.QtGui import QUndoCommand
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy import select

from launchdesk import journal
from launchdesk.models import Connection, ConnectionKind, Rollout
from launchdesk.views.commands import RowGone, failure_message
from launchdesk.views.document import WorkspaceDocument

log = logging.getLogger(__name__)

FLAG_PLATFORMS = (ConnectionKind.UNLEASH, ConnectionKind.LAUNCHDARKLY)


@dataclass(frozen=True)
class FlagLink:
    """Where a rollout's flag lives; all None when the rollout follows no flag."""

    connection_id: int | None
    flag_key: str | None
    environment: str | None

    def text(self, connection_name: str) -> str:
        if self.flag_key is None:
            return "no flag"
        return f"flag {self.flag_key} ({self.environment or 'default'}) on {connection_name}"


class LinkFlagCommand(QUndoCommand):
    """Point a rollout at a flag (or at none); undo puts the previous link back. One transaction each way."""

    def __init__(self, document: WorkspaceDocument, rollout_id: int, link: FlagLink) -> None:
        super().__init__()
        self.document = document
        self.rollout_id = rollout_id
        self.new = link
        self.saved = False
        workspace = document.workspace
        assert workspace is not None, "edits need an open workspace"
        with workspace.session() as session:
            rollout = session.get(Rollout, rollout_id)
            if rollout is None:
                raise RowGone("This rollout no longer exists.")
            self.old = FlagLink(rollout.flag_connection_id, rollout.flag_key, rollout.flag_environment)
            self.rollout_name = rollout.name
        self.setText(f"Link “{self.rollout_name}” to a flag" if link.flag_key else f"Unlink “{self.rollout_name}”")

    def redo(self) -> None:
        self._write(self.old, self.new, "")

    def undo(self) -> None:
        self._write(self.new, self.old, "Undo: ")

    def _write(self, before: FlagLink, after: FlagLink, prefix: str) -> None:
        workspace = self.document.workspace
        try:
            assert workspace is not None
            with workspace.transaction() as session:
                rollout = session.get(Rollout, self.rollout_id)
                if rollout is None:
                    raise RowGone(f"The rollout “{self.rollout_name}” no longer exists.")
                connection = session.get(Connection, after.connection_id) if after.connection_id else None
                if after.connection_id is not None and connection is None:
                    raise RowGone("That connection no longer exists.")
                rollout.flag_connection_id = after.connection_id
                rollout.flag_key = after.flag_key
                rollout.flag_environment = after.environment
                before_connection = session.get(Connection, before.connection_id) if before.connection_id else None
                journal.record(
                    session,
                    "plan_edit",
                    f"{prefix}{self.rollout_name} now follows {after.text(connection.name if connection else '')} "
                    f"(was {before.text(before_connection.name if before_connection else 'a removed connection')})",
                    rollout=rollout,
                    details={"table": "rollout", "id": self.rollout_id, "field": "flag_link",
                             "from": before.__dict__, "to": after.__dict__},
                )
        except Exception as exc:  # noqa: BLE001 - any failed write is reported, never half-applied
            log.warning("Flag link not saved: %s", exc, exc_info=not isinstance(exc, RowGone))
            self.saved = False
            self.setObsolete(True)
            self.document.edit_failed.emit(failure_message(exc, "rollout", after.flag_key))
            return
        self.saved = True
        self.document.changed.emit("rollout", self.rollout_id)


class LinkFlagDialog(QDialog):
    """Pick the connection, type the flag key and (optionally) the environment; OK pushes one undoable link."""

    def __init__(self, document: WorkspaceDocument, rollout_id: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.rollout_id = rollout_id
        workspace = document.workspace
        assert workspace is not None
        with workspace.session() as session:
            rollout = session.get(Rollout, rollout_id)
            if rollout is None:
                raise RowGone("This rollout no longer exists.")
            self.setWindowTitle(f"Link “{rollout.name}” to a flag")
            current = FlagLink(rollout.flag_connection_id, rollout.flag_key, rollout.flag_environment)
            connections = list(session.scalars(
                select(Connection).where(Connection.kind.in_(FLAG_PLATFORMS)).order_by(Connection.name)))
            self._environments = {c.id: c.environment for c in connections}

        self.connection = QComboBox()
        for c in connections:
            platform = "Unleash" if c.kind is ConnectionKind.UNLEASH else "LaunchDarkly"
            self.connection.addItem(f"{c.name} — {platform}, project {c.project or '-'}", c.id)
        if current.connection_id is not None:
            self.connection.setCurrentIndex(max(0, self.connection.findData(current.connection_id)))
        self.flag_key = QLineEdit(current.flag_key or "")
        self.flag_key.setPlaceholderText("the flag's key on the platform, e.g. smart-inbox")
        self.environment = QLineEdit(current.environment or "")
        self.connection.currentIndexChanged.connect(self._show_default_environment)
        self._show_default_environment()
        hint = QLabel("Leave the flag key empty to unlink the rollout. Sync (F5) afterwards to see who has access.")
        hint.setWordWrap(True)
        hint.setEnabled(False)
        if not connections:
            hint.setText("This workspace has no Unleash or LaunchDarkly connection yet: add one in "
                         "Flags ▸ Connections… first.")
            hint.setEnabled(True)

        form = QFormLayout()
        form.addRow("Connection", self.connection)
        form.addRow("Flag key", self.flag_key)
        form.addRow("Environment", self.environment)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(bool(connections))
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(hint)
        layout.addWidget(self.buttons)
        self.resize(480, self.sizeHint().height())

    def _show_default_environment(self) -> None:
        default = self._environments.get(self.connection.currentData(), "")
        self.environment.setPlaceholderText(f"{default} (the connection's)" if default else "the connection's")

    def link(self) -> FlagLink:
        key = self.flag_key.text().strip()
        if not key:
            return FlagLink(None, None, None)
        environment = self.environment.text().strip() or self._environments.get(self.connection.currentData(), "")
        return FlagLink(self.connection.currentData(), key, environment or None)

    def accept(self) -> None:
        try:
            command = LinkFlagCommand(self.document, self.rollout_id, self.link())
        except RowGone as exc:
            self.document.edit_failed.emit(str(exc))
            super().reject()
            return
        if command.old != command.new:
            self.document.undo_stack.push(command)
        super().accept()
