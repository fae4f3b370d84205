"""Connections to outside systems and what their syncs saw (snapshots and runs)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, ConnectionKind, SyncStatus, utcnow


class Connection(Base):
    """A flag platform, metrics source or sender. Its secret lives in the OS keyring, never here."""

    __tablename__ = "connection"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[ConnectionKind]
    url: Mapped[str] = mapped_column(String(1000), default="")
    project: Mapped[str] = mapped_column(String(200), default="")
    environment: Mapped[str] = mapped_column(String(200), default="")
    # Non-secret settings (user name, site, sender address, port...). Never a token or password.
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"<Connection {self.id} {self.name!r} {self.kind}>"


class SyncRun(Base):
    """One sync attempt: when it started and finished and what went wrong."""

    __tablename__ = "sync_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # "flags" or "metrics"
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None]
    status: Mapped[SyncStatus] = mapped_column(default=SyncStatus.RUNNING)
    errors: Mapped[list[Any]] = mapped_column(default=list)


class FlagSnapshot(Base):
    """A flag definition as a sync fetched it, parsed, with its fetch time; the evaluator works from these."""

    __tablename__ = "flag_snapshot"
    __table_args__ = (Index(None, "connection_id", "flag_key", "environment", "fetched_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connection.id", ondelete="CASCADE"))
    sync_run_id: Mapped[int | None] = mapped_column(ForeignKey("sync_run.id", ondelete="SET NULL"), index=True)
    flag_key: Mapped[str] = mapped_column(String(200))
    environment: Mapped[str] = mapped_column(String(200))
    fetched_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    enabled: Mapped[bool]
    definition: Mapped[dict[str, Any]]
    rollout_percentage: Mapped[float | None]  # the platform's effective percentage, for drift checks
    # Filled in by the sync once accounts were evaluated: counts of enabled / not / unpredictable accounts and
    # of those who gained or lost access since the previous snapshot of the same flag.
    access_summary: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # What differed from the plan when this snapshot was taken ("25% live while the plan says 10%"), if anything.
    drift: Mapped[str | None] = mapped_column(Text)

    connection: Mapped[Connection] = relationship()
