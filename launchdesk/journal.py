"""Writing to the journal, the timestamped coordination log every part of LaunchDesk appends to."""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from launchdesk import models
from launchdesk.models import utcnow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from launchdesk.models import JournalEntry, Rollout


def current_user() -> str:
    """The person at the keyboard, as journals and decisions name them."""
    name = os.environ.get("LAUNCHDESK_USER")
    if name:
        return name
    try:
        return getpass.getuser()
    except Exception:  # no user database entry (containers)
        return "unknown"


def record(
    session: Session,
    kind: str,
    summary: str,
    *,
    rollout: Rollout | int | None = None,
    actor: str | None = None,
    details: dict[str, Any] | None = None,
) -> JournalEntry:
    """Add a journal entry to the session's transaction (it commits with the change it describes)."""
    rollout_id = rollout if rollout is None or isinstance(rollout, int) else rollout.id
    entry = models.JournalEntry(
        at=utcnow(),
        rollout_id=rollout_id,
        actor=actor or current_user(),
        kind=kind,
        summary=summary,
        details=details or {},
    )
    session.add(entry)
    return entry


CSV_COLUMNS = ("at", "actor", "kind", "rollout", "summary", "details")


def write_csv(out: Any, entries: Iterable[Any], rollout_names: Mapping[int, str],
              cancelled: Callable[[], bool] | None = None) -> int:
    """Write journal entries (rows or JournalEntry objects with at, actor, kind, rollout_id, summary, details) as
    CSV to an open text file; the one format the window and ``launchdesk-cli journal --csv`` share."""
    import csv
    import json

    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    count = 0
    for entry in entries:
        if cancelled and cancelled():
            break
        writer.writerow([entry.at.isoformat(), entry.actor, entry.kind,
                         rollout_names.get(entry.rollout_id, "") if entry.rollout_id else "", entry.summary,
                         json.dumps(entry.details or {}, sort_keys=True)])
        count += 1
    return count
