"""Posting chosen journal events to a Slack channel: go/no-go decisions, phases going live, the kill switch,
plan drift and failed gates.

The team setting ``journal.slack`` names a Slack connection (by id, so renaming it keeps the setting) and the
event kinds to post (``{"connection_id": 3, "events": ["decision", ...]}``); ``journal.slack.last_posted_id`` remembers the
last journal entry handled, in the workspace, so every entry is posted at most once whoever posts it (the window
in the background, or ``launchdesk-cli journal post-slack`` from a scheduler).

How an entry is posted: its id is claimed first (the marker moves to it, committed, under a row lock so two
posters never take the same entry), then it is posted through the Slack sender, which keeps Slack's pace of one
post a second and waits out a 429's Retry-After. When Slack certainly did not get it (no connection, cancelled,
the webhook refused), the claim is handed back and the entry waits for the next run; when the post may have
arrived (the connection broke mid-way) it is not posted again. Posting never writes the journal it reads, so a
failing Slack never blocks or loses a journal entry. What is posted is the entry's summary (journal entries
never hold secrets); the webhook URL lives in the keyring only.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, text

from launchdesk import journal
from launchdesk.connections import ConnectionProblem, get_connection
from launchdesk.models import Connection, ConnectionKind, JournalEntry, Rollout, Setting

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from launchdesk.comms.senders import Sender
    from launchdesk.workspace import Workspace

log = logging.getLogger(__name__)

SETTING = "journal.slack"
MARKER = "journal.slack.last_posted_id"
# Event kinds a team can choose, as the window and the CLI name them.
EVENTS: dict[str, str] = {
    "decision": "Go/no-go decisions",
    "phase_live": "Phases going live",
    "kill_switch": "Kill switch",
    "plan_drift": "Plan drift",
    "gate_failed": "Failed gates",
}
ICONS = {"decision": ":vertical_traffic_light:", "phase_live": ":rocket:", "kill_switch": ":rotating_light:",
         "plan_drift": ":warning:", "gate_failed": ":x:"}
MAX_PER_RUN = 50  # at Slack's pace of one a second, a run ends within a minute or so; the rest waits for the next
BATCH = 200  # journal rows read per claim


class SlackPostingProblem(ConnectionProblem):
    """The posting setting cannot be saved as asked; the message is for the user."""


@dataclass(frozen=True)
class SlackJournalSetting:
    connection_id: int
    events: tuple[str, ...]


def event_of(kind: str, details: dict[str, Any] | None) -> str | None:
    """Which postable event a journal entry is (a key of EVENTS), or None."""
    if kind.startswith("decision."):
        return "decision"
    if kind == "phase.live":
        return "phase_live"
    if kind == "kill_switch":
        return "kill_switch"
    if kind == "plan_drift":
        return "plan_drift"
    if kind == "gate.outcome" and (details or {}).get("to") == "fail":
        return "gate_failed"
    return None


def read_setting(session: Session) -> SlackJournalSetting | None:
    """The team's posting setting, or None when posting is off."""
    row = session.get(Setting, SETTING)
    value = row.value if row is not None else None
    if not isinstance(value, dict) or not isinstance(value.get("connection_id"), int):
        return None
    events = tuple(e for e in value.get("events") or () if e in EVENTS)
    return SlackJournalSetting(value["connection_id"], events) if events else None


def save_setting(session: Session, connection_name: str | None, events: Iterable[str]) -> SlackJournalSetting | None:
    """Turn posting on (a Slack connection and event kinds) or off (no connection or no kinds); journaled.

    Turning it on for the first time starts after the newest journal entry: the history is not posted.
    """
    chosen = set(events)
    unknown = chosen - set(EVENTS)
    if unknown:
        raise SlackPostingProblem(f"Unknown event kinds: {', '.join(sorted(unknown))} "
                                  f"(choose from {', '.join(EVENTS)}).")
    events = tuple(e for e in EVENTS if e in chosen)
    row = session.get(Setting, SETTING)
    if not connection_name or not events:
        if row is not None:
            session.delete(row)
            journal.record(session, "setting", "Journal events are no longer posted to Slack")
        return None
    connection = get_connection(session, connection_name)
    if connection.kind is not ConnectionKind.SLACK:
        raise SlackPostingProblem(f"{connection_name!r} is a {connection.kind} connection; journal events go to "
                                  "a Slack connection.")
    value = {"connection_id": connection.id, "events": list(events)}
    if row is None:
        session.add(Setting(key=SETTING, value=value))
    else:
        row.value = value
    if session.get(Setting, MARKER) is None:
        newest = session.scalar(select(func.max(JournalEntry.id))) or 0
        session.add(Setting(key=MARKER, value=newest))
    labels = ", ".join(EVENTS[e].lower() for e in events)
    journal.record(session, "setting", f"Journal events posted to Slack through {connection.name!r}: {labels}")
    session.flush()
    return SlackJournalSetting(connection.id, events)


def slack_text(entry: Any, event: str, rollout_name: str | None) -> str:
    """The Slack message for a journal entry: its summary, the rollout, who and when (mrkdwn, escaped)."""
    where = f"*{_escape(rollout_name)}* · " if rollout_name else ""
    at = entry.at if entry.at.tzinfo else entry.at.replace(tzinfo=dt.timezone.utc)
    by = f" — {_escape(entry.actor)}" if entry.actor else ""
    return (f"{ICONS[event]} {where}{_escape(' '.join(entry.summary.split()))}\n"
            f"_{EVENTS[event]}{by}, {at.astimezone(dt.timezone.utc):%Y-%m-%d %H:%M} UTC_")


def _escape(value: str) -> str:
    # Slack's mrkdwn reads these three as markup; everything else goes as typed.
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass
class PostReport:
    """What a run did. ``problem``: why it stopped early (the entry it was on waits for the next run)."""

    configured: bool = True
    posted: int = 0
    failed: list[str] = field(default_factory=list)  # Slack refused these entries: they are not retried
    uncertain: int = 0  # may have arrived: not posted again
    more: bool = False  # the run's limit was reached with entries still to post
    problem: str = ""

    def summary(self) -> str:
        if not self.configured:
            return "Posting journal events to Slack is off (no Slack connection chosen)."
        parts = [f"{self.posted} journal event(s) posted to Slack"]
        if self.uncertain:
            parts.append(f"{self.uncertain} may have arrived (connection broke; not posted again)")
        if self.failed:
            parts.append(f"{len(self.failed)} refused by Slack: {self.failed[-1]}")
        if self.more:
            parts.append("more remain for the next run")
        said = "; ".join(parts) + "."
        return f"{said} Stopped: {self.problem}" if self.problem else said

    @property
    def ok(self) -> bool:
        return not self.problem and not self.failed


def post_journal_to_slack(
    workspace: Workspace,
    *,
    cancelled: Callable[[], bool] | None = None,
    limit: int = MAX_PER_RUN,
    open_sender: Callable[[Connection, Callable[[], bool] | None], Sender] | None = None,
) -> PostReport:
    """Post the journal entries of the chosen kinds written since the last run, each at most once."""
    from launchdesk.comms.senders import Envelope, Outcome, SenderUnavailable, SlackSender
    from launchdesk.comms.templating import Rendered

    cancelled = cancelled or (lambda: False)
    report = PostReport()
    with workspace.session() as s:
        setting = read_setting(s)
        if setting is None:
            return PostReport(configured=False)
        connection = s.get(Connection, setting.connection_id)
        if connection is None:
            report.problem = "The Slack connection chosen for the journal was removed; choose another."
            return report
        s.expunge(connection)
    if connection.kind is not ConnectionKind.SLACK:
        report.problem = f"{connection.name!r} is not a Slack connection."
        return report
    try:
        sender = (open_sender or SlackSender)(connection, cancelled)
    except SenderUnavailable as err:
        report.problem = str(err)
        return report
    try:
        while report.posted + report.uncertain + len(report.failed) < limit:
            if cancelled():
                break
            claimed = _claim_next(workspace, setting.events)
            if claimed is None:
                return report
            entry_id, body = claimed
            envelope = Envelope("journal", Rendered(subject="", plain=body, slack=body), uuid.uuid4().hex,
                                "", "", {"journal_entry": entry_id})
            try:
                ready = sender.ready()
            except SenderUnavailable as err:
                _release(workspace, entry_id)
                report.problem = str(err)
                return report
            if not ready:
                _release(workspace, entry_id)
                break
            attempt = sender.send(envelope)
            if attempt.outcome is Outcome.SENT:
                report.posted += 1
            elif attempt.outcome is Outcome.UNCERTAIN:
                report.uncertain += 1
                log.warning("Journal entry %s may or may not have reached Slack: %s", entry_id, attempt.detail)
            elif attempt.outcome is Outcome.FAILED and not attempt.stop:
                report.failed.append(attempt.detail)
                log.warning("Slack refused journal entry %s: %s", entry_id, attempt.detail)
            else:  # certainly not delivered: it waits for the next run
                _release(workspace, entry_id)
                report.problem = attempt.detail
                log.warning("Journal entry %s not posted to Slack: %s", entry_id, attempt.detail)
                return report
        report.more = _claimable(workspace, setting.events)
        return report
    finally:
        sender.close()


def _lock_marker(s: Session) -> Setting:
    """The marker row, held until the transaction ends: SQLite's write lock taken at once on a file (a second
    poster waits here instead of reading a value about to change), a row lock on PostgreSQL."""
    s.execute(text("UPDATE setting SET key = key WHERE key = :key"), {"key": MARKER})
    marker = s.get(Setting, MARKER, with_for_update=True, populate_existing=True)
    if marker is None:  # posting set up outside save_setting: start after the newest entry
        marker = Setting(key=MARKER, value=s.scalar(select(func.max(JournalEntry.id))) or 0)
        s.add(marker)
        s.flush()
    return marker


def _claim_next(workspace: Workspace, events: tuple[str, ...]) -> tuple[int, str] | None:
    """Move the marker to the next entry to post (past any not chosen) and commit; its id and Slack text."""
    wanted = set(events)
    with workspace.transaction() as s:
        marker = _lock_marker(s)
        last = int(marker.value or 0)
        while True:
            rows = s.execute(select(JournalEntry.id, JournalEntry.at, JournalEntry.actor, JournalEntry.kind,
                                    JournalEntry.summary, JournalEntry.details, JournalEntry.rollout_id)
                             .where(JournalEntry.id > last).order_by(JournalEntry.id).limit(BATCH)).all()
            if not rows:
                marker.value = last
                return None
            for row in rows:
                last = row.id
                event = event_of(row.kind, row.details)
                if event in wanted:
                    marker.value = last
                    name = s.get(Rollout, row.rollout_id).name if row.rollout_id else None  # type: ignore[union-attr]
                    return row.id, slack_text(row, event, name)  # type: ignore[arg-type]


def _claimable(workspace: Workspace, events: tuple[str, ...]) -> bool:
    with workspace.session() as s:
        marker = s.get(Setting, MARKER)
        last = int(marker.value or 0) if marker else 0
        for kind, details in s.execute(select(JournalEntry.kind, JournalEntry.details)
                                       .where(JournalEntry.id > last).order_by(JournalEntry.id).limit(BATCH)):
            if event_of(kind, details) in events:
                return True
    return False


def _release(workspace: Workspace, entry_id: int) -> None:
    """Hand a claimed entry back for the next run, unless another poster has moved on meanwhile."""
    with workspace.transaction() as s:
        marker = _lock_marker(s)
        if int(marker.value or 0) == entry_id:
            marker.value = entry_id - 1
