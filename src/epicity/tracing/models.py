"""Tables of the tracing domain: the warnings outbox and investigators' confirmations.

The schema is created and changed only by the migrations in ``epicity/migrations/versions``
(``0002_tracing``); these classes must match them (a test compares the two).

- ``outbox``: one row per warning to deliver (isolation order, testing advice, area alert,
  public notice). ``case_id`` (the case's pseudonymous person id) is kept for internal tracking
  only and never appears in ``payload``. ``dedupe_key`` (unique) is a hash of kind, recipient,
  case and window, so tracing the same case again inserts nothing new. ``channel`` and the
  delivery fields are filled by the delivery worker.
- ``confirmations``: investigators' findings (CCTV review, interview) that add, correct or
  remove a stay of a case's timeline; replayed in creation order on every re-trace.
- ``investigations`` (migration ``0007_investigations``): one per case of case management
  (``case_id`` is ``cases.id`` there; ``person_id`` the pseudonym the location store, the
  outbox and the confirmations use): the traced timeline as JSON, contacts counted by tier,
  the window, who opened it and why. The outbox's ``approved_by``/``approved_at`` (same
  migration) hold a health officer's approval: delivery claims approved rows only.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Float,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, synonym

from epicity.db import Base

__all__ = [
    "CONFIRMATION_ACTIONS",
    "CONFIRMATION_METHODS",
    "INVESTIGATION_STATUSES",
    "MESSAGE_KINDS",
    "OUTBOX_KINDS",
    "OUTBOX_STATUSES",
    "WARNING_KINDS",
    "ConfirmationRow",
    "InvestigationRow",
    "OutboxMessage",
]

WARNING_KINDS = ("isolation_order", "test_advice", "area_alert", "public_notice")
# Personal messages from other domains (migration 0009_outbox_kinds): no officer approval.
MESSAGE_KINDS = ("test_result", "isolation_notice", "relief_decision")
OUTBOX_KINDS = WARNING_KINDS + MESSAGE_KINDS
# pending: waiting (first try or a retry at `not_before`); sending: claimed by a worker until
# `lease_until`; sent, failed, cancelled, undeliverable (no address on record): final.
OUTBOX_STATUSES = ("pending", "sending", "sent", "failed", "cancelled", "undeliverable")
CONFIRMATION_ACTIONS = ("add", "correct", "remove")
CONFIRMATION_METHODS = ("cctv", "interview")
INVESTIGATION_STATUSES = ("open", "closed")

RECIPIENT_MAX = 100
ACTOR_MAX = 100
STAY_ID_MAX = 100

# BIGINT on PostgreSQL; SQLite autoincrements only an INTEGER PRIMARY KEY.
_BigId = BigInteger().with_variant(Integer(), "sqlite")
_Json = JSON().with_variant(JSONB(), "postgresql")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class OutboxMessage(Base):
    """One warning waiting for (or done with) delivery."""

    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint(_one_of("kind", OUTBOX_KINDS), name="kind"),
        CheckConstraint(_one_of("status", OUTBOX_STATUSES), name="status"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        Index("ix_outbox_status_not_before", "status", "not_before"),
        Index("ix_outbox_case_id", "case_id"),
        Index("ix_outbox_recipient", "recipient"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    case_id: Mapped[int] = mapped_column(BigInteger)
    recipient: Mapped[str] = mapped_column(String(RECIPIENT_MAX))
    channel: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    payload: Mapped[dict[str, Any]] = mapped_column(_Json)
    dedupe_key: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime]
    not_before: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # Delivery state (migration 0004_delivery): who holds the row and until when, and when it
    # was delivered. `not_before` doubles as the time of the next attempt.
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_at: Mapped[dt.datetime | None]
    lease_until: Mapped[dt.datetime | None]
    delivered_at: Mapped[dt.datetime | None]
    # Approval (migration 0007_investigations): delivery claims only approved rows.
    approved_by: Mapped[str | None] = mapped_column(String(ACTOR_MAX))
    approved_at: Mapped[dt.datetime | None]

    next_attempt_at = synonym("not_before")

    @property
    def idempotency_key(self) -> str:
        """The key receivers dedupe on: the dedupe key, the same on every retry."""
        return self.dedupe_key

    def __repr__(self) -> str:
        return (
            f"OutboxMessage(id={self.id!r}, kind={self.kind!r}, recipient={self.recipient!r}, "
            f"status={self.status!r})"
        )


class ConfirmationRow(Base):
    """An investigator's confirmation of a case's timeline, as stored."""

    __tablename__ = "confirmations"
    __table_args__ = (
        CheckConstraint(_one_of("action", CONFIRMATION_ACTIONS), name="action"),
        CheckConstraint(_one_of("method", CONFIRMATION_METHODS), name="method"),
        CheckConstraint(
            "starts_at IS NULL OR ends_at IS NULL OR ends_at > starts_at",
            name="ends_after_start",
        ),
        Index("ix_confirmations_case_id", "case_id"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(16))
    method: Mapped[str] = mapped_column(String(16))
    stay_id: Mapped[str | None] = mapped_column(String(STAY_ID_MAX))
    starts_at: Mapped[dt.datetime | None]
    ends_at: Mapped[dt.datetime | None]
    place_id: Mapped[int | None] = mapped_column(BigInteger)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    made_by: Mapped[str] = mapped_column(String(ACTOR_MAX))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime]

    def __repr__(self) -> str:
        return (
            f"ConfirmationRow(id={self.id!r}, case_id={self.case_id!r}, "
            f"action={self.action!r}, method={self.method!r})"
        )


class InvestigationRow(Base):
    """A case's investigation: its traced timeline and contacts, as last traced."""

    __tablename__ = "investigations"
    __table_args__ = (
        CheckConstraint(_one_of("status", INVESTIGATION_STATUSES), name="status"),
        CheckConstraint("window_end > window_start", name="window"),
        UniqueConstraint("case_id", name="uq_investigations_case_id"),
        Index("ix_investigations_person_id", "person_id"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    # cases.id of case management; no foreign key, because migrations of separate domains
    # branch off 0002_tracing in no fixed order (the service checks that the case exists).
    case_id: Mapped[int] = mapped_column(BigInteger)
    person_id: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="open")
    opened_by: Mapped[str] = mapped_column(String(ACTOR_MAX))
    opened_at: Mapped[dt.datetime]
    purpose: Mapped[str] = mapped_column(Text)  # of the latest trace
    window_start: Mapped[dt.datetime]
    window_end: Mapped[dt.datetime]
    # [{id, kind, place_id, name, category, lat, lon, radius_m, start, end, minutes, sources,
    #   confidence, note}], times as ISO 8601 with the city's offset
    timeline: Mapped[list[dict[str, Any]]] = mapped_column(_Json)
    contacts: Mapped[dict[str, int]] = mapped_column(_Json)  # {"close": n, "casual": m, ...}
    traced_by: Mapped[str] = mapped_column(String(ACTOR_MAX))
    traced_at: Mapped[dt.datetime]
    closed_by: Mapped[str | None] = mapped_column(String(ACTOR_MAX))
    closed_at: Mapped[dt.datetime | None]

    def __repr__(self) -> str:
        return f"InvestigationRow(id={self.id!r}, case_id={self.case_id!r}, status={self.status!r})"
