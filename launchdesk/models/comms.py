"""Cohort messages and their per-recipient outbox."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, Channel, DeliveryState, MessageState, utcnow

if TYPE_CHECKING:
    from .accounts import Account
    from .plan import Cohort, Phase
    from .sync import Connection


class Message(Base):
    """A cohort's communication for a phase, sent ``send_offset_minutes`` after the phase's planned start.

    ``audience`` is ``cohort`` (the cohort's accounts that have access) or ``all_customers``, which is refused
    while the rollout is below 100%.
    """

    __tablename__ = "message"

    id: Mapped[int] = mapped_column(primary_key=True)
    phase_id: Mapped[int] = mapped_column(ForeignKey("phase.id", ondelete="CASCADE"), index=True)
    cohort_id: Mapped[int | None] = mapped_column(ForeignKey("cohort.id", ondelete="SET NULL"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    channel: Mapped[Channel] = mapped_column(default=Channel.EMAIL)
    audience: Mapped[str] = mapped_column(String(20), default="cohort")
    subject: Mapped[str] = mapped_column(String(500), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    send_offset_minutes: Mapped[int] = mapped_column(default=0)
    state: Mapped[MessageState] = mapped_column(default=MessageState.DRAFT)
    approved_by: Mapped[str | None] = mapped_column(String(200))
    approved_at: Mapped[dt.datetime | None]
    sender_connection_id: Mapped[int | None] = mapped_column(ForeignKey("connection.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)
    # The send lease: who is sending the message now, from which host, until when unless their heartbeat renews
    # it. ``send_lease_token`` names that one run; a send whose lease ran out (the sender crashed) may be taken
    # over, and only then are its rows caught mid-transmission *uncertain*. All empty when nobody is sending.
    send_lease_token: Mapped[str | None] = mapped_column(String(64))
    send_lease_by: Mapped[str | None] = mapped_column(String(200))
    send_lease_host: Mapped[str | None] = mapped_column(String(255))
    send_lease_expires: Mapped[dt.datetime | None]

    phase: Mapped[Phase] = relationship(back_populates="messages")
    cohort: Mapped[Cohort | None] = relationship()
    sender_connection: Mapped[Connection | None] = relationship()
    deliveries: Mapped[list[Delivery]] = relationship(back_populates="message", cascade="all, delete-orphan")

    __mapper_args__ = {"version_id_col": version}


class Delivery(Base):
    """One recipient's outbox row. Unique per message and recipient, so a message reaches each person once."""

    __tablename__ = "delivery"
    __table_args__ = (
        UniqueConstraint("message_id", "recipient"),
        Index(None, "message_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("message.id", ondelete="CASCADE"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("account.id", ondelete="SET NULL"), index=True)
    recipient: Mapped[str] = mapped_column(String(320))
    state: Mapped[DeliveryState] = mapped_column(default=DeliveryState.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    queued_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[dt.datetime | None]
    provider_message_id: Mapped[str | None] = mapped_column(String(500))
    dropped_by: Mapped[str | None] = mapped_column(String(200))  # who gave an uncertain row up: never retried

    message: Mapped[Message] = relationship(back_populates="deliveries")
    account: Mapped[Account | None] = relationship()
