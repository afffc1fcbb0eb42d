"""Tables of the privacy domain: emergency declarations and the append-only audit log.

The schema is created and changed only by the migrations in ``epicity/migrations/versions``;
these classes must match them (a test compares the two).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from epicity.db import Base

__all__ = ["HASH_LENGTH", "ROLES", "AuditEntry", "Emergency"]

# Who may act. Analysts work on aggregates only and never open personal location data.
ROLES = ("admin", "investigator", "health_officer", "analyst", "system")

NAME_MAX = 200
AREA_MAX = 100
ACTOR_MAX = 100
HASH_LENGTH = 64  # SHA-256 in hex

# BIGINT on PostgreSQL; SQLite autoincrements only an INTEGER PRIMARY KEY.
_BigId = BigInteger().with_variant(Integer(), "sqlite")
_Json = JSON().with_variant(JSONB(), "postgresql")


class Emergency(Base):
    """A declared infectious-disease emergency: the legal ground for reading location data.

    Active at instant t when ``starts_at <= t`` and t is before both the planned end
    ``ends_at`` and the actual end ``ended_at`` (each when set).
    """

    __tablename__ = "emergencies"
    __table_args__ = (
        CheckConstraint("ends_at IS NULL OR ends_at > starts_at", name="ends_after_start"),
        Index("ix_emergencies_name", "name"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    area: Mapped[str] = mapped_column(String(AREA_MAX))
    starts_at: Mapped[dt.datetime]
    ends_at: Mapped[dt.datetime | None]
    declared_by: Mapped[str] = mapped_column(String(ACTOR_MAX))
    declared_at: Mapped[dt.datetime]
    ended_by: Mapped[str | None] = mapped_column(String(ACTOR_MAX))
    ended_at: Mapped[dt.datetime | None]
    reason: Mapped[str] = mapped_column(Text, default="")

    def active_at(self, at: dt.datetime) -> bool:
        """Whether the emergency is in force at instant `at`."""
        return (
            self.starts_at <= at
            and (self.ends_at is None or at < self.ends_at)
            and (self.ended_at is None or at < self.ended_at)
        )

    def __repr__(self) -> str:
        return f"Emergency(id={self.id!r}, name={self.name!r}, starts_at={self.starts_at!r})"


class AuditEntry(Base):
    """One audited action. Rows are only ever inserted (the database refuses the rest).

    ``prev_hash`` and ``hash`` chain the entries so tampering is detectable (see
    `epicity.privacy.chain`); no two entries may chain from the same predecessor.
    """

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_case_id", "case_id"),
        UniqueConstraint("prev_hash", name="uq_audit_log_prev_hash"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    at: Mapped[dt.datetime]
    actor: Mapped[str] = mapped_column(String(ACTOR_MAX))
    role: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str | None] = mapped_column(Text)
    case_id: Mapped[int | None] = mapped_column(BigInteger)
    emergency_id: Mapped[int | None] = mapped_column(ForeignKey("emergencies.id"))
    tables: Mapped[str] = mapped_column(String(200), default="")
    rows_returned: Mapped[int] = mapped_column(BigInteger, default=0)
    detail: Mapped[dict[str, Any] | None] = mapped_column(_Json)
    prev_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
    hash: Mapped[str] = mapped_column(String(HASH_LENGTH))

    @property
    def table_list(self) -> list[str]:
        """`tables` as a list."""
        return [t for t in self.tables.split(",") if t]

    def __repr__(self) -> str:
        return f"AuditEntry(id={self.id!r}, action={self.action!r}, actor={self.actor!r})"
