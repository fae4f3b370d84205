"""Imported customer accounts and their contacts."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, utcnow


class Account(Base):
    """A customer account evaluated against the flag.

    ``account_key`` is the customer's own id (the Unleash ``userId`` and LaunchDarkly context key by default);
    ``name_folded`` is the case-folded name, indexed so a prefix lookup stays an index range scan.
    ``attributes`` become context properties for constraints and clauses.
    """

    __tablename__ = "account"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_key: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(500), default="")
    name_folded: Mapped[str] = mapped_column(String(500), default="", index=True)
    stickiness_id: Mapped[str | None] = mapped_column(String(200))
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    imported_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    contacts: Mapped[list[Contact]] = relationship(
        back_populates="account", cascade="all, delete-orphan", order_by="Contact.position"
    )

    def __repr__(self) -> str:
        return f"<Account {self.account_key!r} {self.name!r}>"


class Contact(Base):
    """A person at an account who may receive messages; e-mail stored lower-case for lookup."""

    __tablename__ = "contact"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    email: Mapped[str] = mapped_column(String(320), index=True)
    first_name: Mapped[str] = mapped_column(String(200), default="")
    last_name: Mapped[str] = mapped_column(String(200), default="")

    account: Mapped[Account] = relationship(back_populates="contacts")
