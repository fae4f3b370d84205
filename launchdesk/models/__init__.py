"""The workspace's domain tables (SQLAlchemy 2 typed ORM). No Qt, no network."""

from .accounts import Account, Contact
from .base import (
    Base,
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
from .comms import Delivery, Message
from .journal import JournalEntry, Setting, TeamMember
from .plan import ChecklistItem, Cohort, Decision, Gate, MetricSample, Phase, Rollout
from .sync import Connection, FlagSnapshot, SyncRun

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
