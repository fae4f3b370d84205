"""Test helper: a workspace ready to send a cohort message, built from the real pieces.

Accounts imported from CSV, a rollout from the default template, an Unleash flag snapshot (a flexible
rollout at a chosen percentage, as a sync would store it), phase 4 ("Half of all accounts", every account)
live, and its e-mail message approved, going out through an SMTP connection.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from launchdesk.accounts.importer import import_accounts
from launchdesk.comms import approval
from launchdesk.connections import add_connection
from launchdesk.models import (
    Account,
    Channel,
    FlagSnapshot,
    Message,
    PhaseKind,
    PhaseStatus,
    Rollout,
    utcnow,
)
from launchdesk.planning.template import create_rollout_from_template, load_template
from launchdesk.workspace import Workspace, create_workspace

FLAG = "smart-inbox"
ENVIRONMENT = "production"
LIVE_PHASE = 3  # the fourth rollout phase: "Half of all accounts", whose cohort rule matches every account


@dataclass
class World:
    workspace: Workspace
    path: Path
    rollout_id: int
    message_id: int

    def message(self, session: Any) -> Message:
        message = session.get(Message, self.message_id)
        assert message is not None
        return message


def flag_definition(percentage: float, *, enabled: bool = True) -> dict[str, Any]:
    """An Unleash feature as the Admin API gives it: one flexible rollout on the default stickiness."""
    return {
        "name": FLAG, "enabled": enabled, "environment": ENVIRONMENT, "variants": [], "dependencies": [],
        "segments": {},
        "strategies": [{"name": "flexibleRollout",
                        "parameters": {"rollout": f"{percentage:g}", "stickiness": "default", "groupId": FLAG},
                        "constraints": [], "segments": [], "variants": []}],
    }


def write_accounts(path: Path, count: int, *, names: dict[int, str] | None = None) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["account_id", "name", "email", "first_name", "segment", "plan", "region"])
        for i in range(count):
            name = (names or {}).get(i, f"Company {i}")
            writer.writerow([f"acct-{i:05d}", name, f"ops{i}@company{i}.example", f"Alex{i}", "mid_market",
                             "pro" if i % 2 else "starter", ["eu", "us", "apac", ""][i // 2 % 4]])
    return path


def add_snapshot(workspace: Workspace, percentage: float, *, enabled: bool = True,
                 fetched_at: dt.datetime | None = None, definition: dict[str, Any] | None = None) -> None:
    """Store a snapshot of the flag as a sync would (``definition`` defaults to ``flag_definition``)."""
    with workspace.transaction() as s:
        rollout = s.scalars(select(Rollout)).one()
        s.add(FlagSnapshot(connection_id=rollout.flag_connection_id, flag_key=FLAG, environment=ENVIRONMENT,
                           fetched_at=fetched_at or utcnow(), enabled=enabled,
                           definition=definition or flag_definition(percentage, enabled=enabled),
                           rollout_percentage=percentage))


def build_world(
    folder: Path,
    *,
    accounts: int = 200,
    percentage: float = 50,
    smtp_url: str = "smtp://127.0.0.1:1",
    smtp_options: dict[str, Any] | None = None,
    names: dict[int, str] | None = None,
    channel: Channel = Channel.EMAIL,
    approve: bool = True,
) -> World:
    """The workspace described above, in ``folder``; the message is approved by "Pat" unless ``approve`` is False."""
    path = folder / "comms.launchdesk"
    workspace = create_workspace(path)
    import_accounts(workspace, write_accounts(folder / "accounts.csv", accounts, names=names))
    with workspace.transaction() as s:
        flags = add_connection(s, "unleash", "unleash", url="http://127.0.0.1:4242", environment=ENVIRONMENT)
        smtp = add_connection(s, "mail", "smtp", url=smtp_url,
                              options={"from": "Launch Team <launch@ourco.example>", **(smtp_options or {})})
        rollout = create_rollout_from_template(s, load_template(), name="Smart inbox", feature_name="Smart inbox",
                                               launch_start=utcnow() - dt.timedelta(days=30))
        rollout.flag_connection, rollout.flag_key, rollout.flag_environment = flags, FLAG, ENVIRONMENT
        phases = [p for p in rollout.phases if p.kind is PhaseKind.ROLLOUT]
        for phase in phases[:LIVE_PHASE]:
            phase.status = PhaseStatus.COMPLETE
        phases[LIVE_PHASE].status = PhaseStatus.LIVE
        message = phases[LIVE_PHASE].messages[0]
        message.channel = channel
        message.sender_connection = smtp if channel is Channel.EMAIL else None
        s.flush()
        rollout_id, message_id = rollout.id, message.id
    add_snapshot(workspace, percentage)
    if approve:
        with workspace.transaction() as s:
            message = s.get(Message, message_id)
            approval.submit_for_review(s, message, by="Sam")
            approval.approve(s, message, by="Pat")
    return World(workspace, path, rollout_id, message_id)


def account_emails(workspace: Workspace) -> dict[str, str]:
    """account id -> its contact e-mail."""
    with workspace.session() as s:
        return {a.account_key: a.contacts[0].email for a in s.scalars(select(Account))}
