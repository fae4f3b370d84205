"""Which columns of each table ``Workspace.read`` converts, and to what: plain data, no SQLAlchemy.

The window's first screen is read with plain SQL before SQLAlchemy is imported; these are the conversions the
mapped column types would do (aware UTC datetimes, dates, JSON, booleans, enumerations). A test compares this
table with the mapped classes, so a column added there and forgotten here fails the suite.
"""

from __future__ import annotations

from typing import Any

from .enums import (
    Channel,
    ConnectionKind,
    DecisionKind,
    DeliveryState,
    GateOutcome,
    MessageState,
    PhaseKind,
    PhaseStatus,
    Role,
    RolloutStatus,
    SyncStatus,
)

COLUMN_KINDS: dict[str, dict[str, Any]] = {
    "account": {"attributes": "json", "imported_at": "utc_datetime"},
    "checklist_item": {"role": Role, "done_at": "utc_datetime"},
    "cohort": {"rule": "json"},
    "connection": {"kind": ConnectionKind, "options": "json", "created_at": "utc_datetime"},
    "contact": {},
    "decision": {"kind": DecisionKind, "decided_at": "utc_datetime", "gate_snapshot": "json", "overridden": "bool"},
    "delivery": {"state": DeliveryState, "queued_at": "utc_datetime", "sent_at": "utc_datetime"},
    "flag_snapshot": {"fetched_at": "utc_datetime", "enabled": "bool", "definition": "json",
                      "access_summary": "json"},
    "gate": {},
    "journal_entry": {"at": "utc_datetime", "details": "json"},
    "message": {"channel": Channel, "state": MessageState, "approved_at": "utc_datetime",
                "created_at": "utc_datetime", "updated_at": "utc_datetime", "send_lease_expires": "utc_datetime"},
    "metric_sample": {"sampled_at": "utc_datetime", "outcome": GateOutcome},
    "phase": {"kind": PhaseKind, "planned_start": "utc_datetime", "planned_end": "utc_datetime",
              "actual_start": "utc_datetime", "actual_end": "utc_datetime", "status": PhaseStatus},
    "rollout": {"status": RolloutStatus, "kill_switch_tested_on": "date", "created_at": "utc_datetime",
                "updated_at": "utc_datetime"},
    "setting": {"value": "json"},
    "sync_run": {"started_at": "utc_datetime", "finished_at": "utc_datetime", "status": SyncStatus,
                 "errors": "json"},
    "team_member": {"role": Role},
}


def kinds(table: str, **more: Any) -> dict[str, Any]:
    """The conversions for ``SELECT table.*`` (plus columns of other tables named in ``more``)."""
    return {**COLUMN_KINDS[table], **more}
