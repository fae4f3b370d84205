"""The workspace's domain tables (SQLAlchemy 2 typed ORM). No Qt, no network.

The enumerations (``models.enums``) import eagerly and without SQLAlchemy. The mapped classes load on first
use (PEP 562 ``__getattr__``): the window paints its first screen from plain SQL reads before the ORM, which
costs about as much as the bare window's whole start-up, is imported behind it.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

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
    utcnow,
)

if TYPE_CHECKING:
    from .accounts import Account, Contact
    from .base import Base
    from .comms import Delivery, Message
    from .journal import JournalEntry, Setting, TeamMember
    from .plan import ChecklistItem, Cohort, Decision, Gate, MetricSample, Phase, Rollout
    from .sync import Connection, FlagSnapshot, SyncRun

_MAPPED = {
    "Account": "accounts", "Contact": "accounts", "Base": "base", "Delivery": "comms", "Message": "comms",
    "JournalEntry": "journal", "Setting": "journal", "TeamMember": "journal", "ChecklistItem": "plan",
    "Cohort": "plan", "Decision": "plan", "Gate": "plan", "MetricSample": "plan", "Phase": "plan",
    "Rollout": "plan", "Connection": "sync", "FlagSnapshot": "sync", "SyncRun": "sync",
}


def load_mapped_classes() -> None:
    """Import every mapped class, so the metadata knows every table (Alembic, create_all, copies)."""
    for module in sorted(set(_MAPPED.values())):
        import_module(f"{__name__}.{module}")


def __getattr__(name: str) -> Any:
    module = _MAPPED.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    load_mapped_classes()  # relationships name classes of the other modules: load them all together
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "Account",
    "Base",
    "Channel",
    "ChecklistItem",
    "Cohort",
    "Connection",
    "ConnectionKind",
    "Contact",
    "Decision",
    "DecisionKind",
    "Delivery",
    "DeliveryState",
    "FlagSnapshot",
    "Gate",
    "GateOutcome",
    "JournalEntry",
    "Message",
    "MessageState",
    "MetricSample",
    "Phase",
    "PhaseKind",
    "PhaseStatus",
    "Role",
    "Rollout",
    "RolloutStatus",
    "Setting",
    "SyncRun",
    "SyncStatus",
    "TeamMember",
    "utcnow",
]
