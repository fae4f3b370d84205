"""The enumerations of the workspace schema and ``utcnow``: plain Python, no SQLAlchemy.

Views import these at start-up, before the window's first paint, which must not wait for the ORM; the
tables store each as its lower-case value (see ``base.Base.type_annotation_map``).
"""

from __future__ import annotations

import datetime as dt
import enum


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class StrEnum(str, enum.Enum):
    def __str__(self) -> str:  # so f-strings and the UI show the value
        return self.value


class RolloutStatus(StrEnum):
    PLANNING = "planning"
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETE = "complete"
    ROLLED_BACK = "rolled_back"


class PhaseKind(StrEnum):
    PREPARATION = "preparation"  # the weeks before phase 1: alignment, cohorts and comms, operational checklist
    ROLLOUT = "rollout"  # an expansion step with a cohort and a target percentage


class PhaseStatus(StrEnum):
    PLANNED = "planned"
    AWAITING_GO = "awaiting_go"
    APPROVED = "approved"
    LIVE = "live"
    COMPLETE = "complete"
    PAUSED = "paused"
    ROLLED_BACK = "rolled_back"


class DecisionKind(StrEnum):
    GO = "go"
    NO_GO = "no_go"
    PAUSE = "pause"
    ROLLBACK = "rollback"


class GateOutcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


class Role(StrEnum):
    PMM = "pmm"
    ENGINEERING = "engineering"
    SUPPORT = "support"
    CS = "cs"
    SALES = "sales"
    MARKETING = "marketing"


class ConnectionKind(StrEnum):
    UNLEASH = "unleash"
    LAUNCHDARKLY = "launchdarkly"
    PROMETHEUS = "prometheus"
    DATADOG = "datadog"
    SMTP = "smtp"
    SLACK = "slack"
    WEBHOOK = "webhook"


class Channel(StrEnum):
    EMAIL = "email"
    SLACK = "slack"
    WEBHOOK = "webhook"


class MessageState(StrEnum):
    DRAFT = "draft"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    SENDING = "sending"
    SENT = "sent"
    PARTLY_FAILED = "partly_failed"


class DeliveryState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNCERTAIN = "uncertain"  # caught mid-transmission by a crash: a person decides, never resent silently


class SyncStatus(StrEnum):
    RUNNING = "running"
    OK = "ok"
    PARTIAL = "partial"
    FAILED = "failed"
