"""The declarative base, shared column types and enumerations of the workspace schema."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, DateTime, Enum, MetaData, TypeDecorator
from sqlalchemy.orm import DeclarativeBase

from .enums import (  # noqa: F401 - re-exported: the schema's enumerations live with the schema
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
    StrEnum,
    SyncStatus,
    utcnow,
)

# A naming convention lets Alembic name (and later drop) every constraint the same way on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored as naive UTC and always handed back as an aware UTC datetime.

    SQLite keeps no time zone, PostgreSQL's ``timestamp`` neither; storing UTC everywhere keeps
    comparisons and the copy between the two back ends exact.
    """

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("LaunchDesk stores aware datetimes only (got a naive one)")
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    # Enumerations are stored as their lower-case values in plain VARCHAR columns (no native ENUM type), so a
    # new value needs no schema change on PostgreSQL and reads the same in the SQLite shell.
    type_annotation_map = {
        dt.datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
        enum.Enum: Enum(
            enum.Enum,
            native_enum=False,
            create_constraint=False,
            length=32,
            values_callable=lambda members: [m.value for m in members],
        ),
    }
