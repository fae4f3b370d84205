"""The plan: rollouts, their cohorts, phases, gates, decisions and checklists."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import (
    Base,
    DecisionKind,
    GateOutcome,
    PhaseKind,
    PhaseStatus,
    Role,
    RolloutStatus,
    utcnow,
)

if TYPE_CHECKING:
    from .comms import Message
    from .sync import Connection


class Rollout(Base):
    """One feature launch, linked to one flag on one flag platform."""

    __tablename__ = "rollout"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    feature_name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    owner: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[RolloutStatus] = mapped_column(default=RolloutStatus.PLANNING)
    template_name: Mapped[str | None] = mapped_column(String(200))

    # The flag link: which connection, which flag, which environment.
    flag_connection_id: Mapped[int | None] = mapped_column(ForeignKey("connection.id", ondelete="SET NULL"))
    flag_key: Mapped[str | None] = mapped_column(String(200))
    flag_environment: Mapped[str | None] = mapped_column(String(100))

    # Readiness: the four planning questions and the kill switch test date.
    readiness_can_flag: Mapped[str] = mapped_column(Text, default="")
    readiness_blast_radius: Mapped[str] = mapped_column(Text, default="")
    readiness_monitoring: Mapped[str] = mapped_column(Text, default="")
    readiness_rollback_plan: Mapped[str] = mapped_column(Text, default="")
    kill_switch_tested_on: Mapped[dt.date | None]

    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    flag_connection: Mapped[Connection | None] = relationship()
    cohorts: Mapped[list[Cohort]] = relationship(
        back_populates="rollout", cascade="all, delete-orphan", order_by="Cohort.position"
    )
    phases: Mapped[list[Phase]] = relationship(
        back_populates="rollout", cascade="all, delete-orphan", order_by="Phase.position"
    )
    gates: Mapped[list[Gate]] = relationship(
        back_populates="rollout", cascade="all, delete-orphan", order_by="Gate.position"
    )

    __mapper_args__ = {"version_id_col": version}

    @property
    def readiness_complete(self) -> bool:
        return all(
            s.strip()
            for s in (
                self.readiness_can_flag,
                self.readiness_blast_radius,
                self.readiness_monitoring,
                self.readiness_rollback_plan,
            )
        ) and self.kill_switch_tested_on is not None

    def __repr__(self) -> str:
        return f"<Rollout {self.id} {self.name!r}>"


class Cohort(Base):
    """A named audience: a rule over account attributes, a target percentage and a communication style.

    ``rule`` is ``{"match": "all" | "any", "conditions": [{"attribute": str, "operator": str, "values": [...]}]}``;
    an empty condition list matches every account.
    """

    __tablename__ = "cohort"
    __table_args__ = (UniqueConstraint("rollout_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rollout_id: Mapped[int] = mapped_column(ForeignKey("rollout.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    rule: Mapped[dict[str, Any]] = mapped_column(default=lambda: {"match": "all", "conditions": []})
    target_percentage: Mapped[float] = mapped_column(default=0.0)
    comms_style: Mapped[str] = mapped_column(Text, default="")

    rollout: Mapped[Rollout] = relationship(back_populates="cohorts")

    def __repr__(self) -> str:
        return f"<Cohort {self.id} {self.name!r} {self.target_percentage}%>"


class Phase(Base):
    """An ordered step of a rollout; preparation steps have no cohort and no percentage."""

    __tablename__ = "phase"
    __table_args__ = (Index(None, "rollout_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rollout_id: Mapped[int] = mapped_column(ForeignKey("rollout.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(default=0)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[PhaseKind] = mapped_column(default=PhaseKind.ROLLOUT)
    cohort_id: Mapped[int | None] = mapped_column(ForeignKey("cohort.id", ondelete="SET NULL"), index=True)
    target_percentage: Mapped[float | None]
    planned_start: Mapped[dt.datetime]
    planned_end: Mapped[dt.datetime]
    actual_start: Mapped[dt.datetime | None]
    actual_end: Mapped[dt.datetime | None]
    status: Mapped[PhaseStatus] = mapped_column(default=PhaseStatus.PLANNED)
    notes: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, default=1)

    rollout: Mapped[Rollout] = relationship(back_populates="phases")
    cohort: Mapped[Cohort | None] = relationship()
    checklist: Mapped[list[ChecklistItem]] = relationship(
        back_populates="phase",
        cascade="all, delete-orphan",
        order_by="(ChecklistItem.offset_minutes, ChecklistItem.position)",
    )
    decisions: Mapped[list[Decision]] = relationship(
        back_populates="phase", cascade="all, delete-orphan", order_by="Decision.decided_at"
    )
    messages: Mapped[list[Message]] = relationship(back_populates="phase", cascade="all, delete-orphan")

    __mapper_args__ = {"version_id_col": version}

    def __repr__(self) -> str:
        return f"<Phase {self.id} {self.position} {self.name!r} {self.status}>"


class Gate(Base):
    """A success criterion evaluated before a phase expands.

    ``source_connection_id`` is empty for a manual gate (a value someone types, such as a ticket count).
    ``baseline_kind`` is ``none``, ``fixed`` (``baseline_value``) or ``window`` (the same query
    ``baseline_offset_s`` earlier); with a baseline the threshold is a multiple of it.
    """

    __tablename__ = "gate"

    id: Mapped[int] = mapped_column(primary_key=True)
    rollout_id: Mapped[int] = mapped_column(ForeignKey("rollout.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    name: Mapped[str] = mapped_column(String(200))
    metric: Mapped[str] = mapped_column(String(50), default="custom")
    source_connection_id: Mapped[int | None] = mapped_column(ForeignKey("connection.id", ondelete="SET NULL"))
    query: Mapped[str] = mapped_column(Text, default="")
    comparison: Mapped[str] = mapped_column(String(2), default="<")
    threshold: Mapped[float]
    unit: Mapped[str] = mapped_column(String(20), default="")
    baseline_kind: Mapped[str] = mapped_column(String(10), default="none")
    baseline_value: Mapped[float | None]
    baseline_offset_s: Mapped[int | None]
    window_s: Mapped[int] = mapped_column(default=3600)
    min_samples: Mapped[int] = mapped_column(default=1)
    failure_limit: Mapped[int] = mapped_column(default=1)

    rollout: Mapped[Rollout] = relationship(back_populates="gates")
    source_connection: Mapped[Connection | None] = relationship()
    samples: Mapped[list[MetricSample]] = relationship(
        back_populates="gate", cascade="all, delete-orphan", order_by="MetricSample.sampled_at"
    )

    def __repr__(self) -> str:
        return f"<Gate {self.id} {self.name!r} {self.comparison} {self.threshold}{self.unit}>"


class MetricSample(Base):
    """One gate value seen at a time, with the outcome it gave then; the gates panel works offline from these."""

    __tablename__ = "metric_sample"
    __table_args__ = (Index(None, "gate_id", "sampled_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    gate_id: Mapped[int] = mapped_column(ForeignKey("gate.id", ondelete="CASCADE"))
    sync_run_id: Mapped[int | None] = mapped_column(ForeignKey("sync_run.id", ondelete="SET NULL"), index=True)
    sampled_at: Mapped[dt.datetime]
    value: Mapped[float | None]
    baseline: Mapped[float | None]
    sample_count: Mapped[int] = mapped_column(default=1)
    outcome: Mapped[GateOutcome]
    detail: Mapped[str] = mapped_column(Text, default="")
    entered_by: Mapped[str | None] = mapped_column(String(200))  # set for manual values

    gate: Mapped[Gate] = relationship(back_populates="samples")


class Decision(Base):
    """A go / no-go / pause / rollback for a phase, with a snapshot of every gate value at that moment."""

    __tablename__ = "decision"
    __table_args__ = (Index(None, "phase_id", "decided_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    phase_id: Mapped[int] = mapped_column(ForeignKey("phase.id", ondelete="CASCADE"))
    kind: Mapped[DecisionKind]
    decided_by: Mapped[str] = mapped_column(String(200))
    decided_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    reason: Mapped[str] = mapped_column(Text, default="")
    # [{"gate": name, "value": float | None, "threshold": float, "comparison": str, "outcome": str, "at": iso}]
    gate_snapshot: Mapped[list[Any]] = mapped_column(default=list)
    overridden: Mapped[bool] = mapped_column(default=False)  # a go recorded although a gate did not pass
    version: Mapped[int] = mapped_column(Integer, default=1)

    phase: Mapped[Phase] = relationship(back_populates="decisions")

    __mapper_args__ = {"version_id_col": version}


class ChecklistItem(Base):
    """A duty of one role, due at an offset (in minutes, negative = before) from its phase's planned start.

    When that is depends on the team's time zone (whole days count on its wall clock), so it is not a method
    here: ``launchdesk.planning.checklists.due_at(phase.planned_start, offset_minutes, zone)``."""

    __tablename__ = "checklist_item"
    __table_args__ = (Index(None, "phase_id", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    phase_id: Mapped[int] = mapped_column(ForeignKey("phase.id", ondelete="CASCADE"))
    role: Mapped[Role]
    offset_minutes: Mapped[int] = mapped_column(default=0)
    position: Mapped[int] = mapped_column(default=0)
    title: Mapped[str] = mapped_column(String(500))
    notes: Mapped[str] = mapped_column(Text, default="")
    done_by: Mapped[str | None] = mapped_column(String(200))
    done_at: Mapped[dt.datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=1)

    phase: Mapped[Phase] = relationship(back_populates="checklist")

    __mapper_args__ = {"version_id_col": version}

    @property
    def done(self) -> bool:
        return self.done_at is not None


