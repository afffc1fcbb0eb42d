"""Tables of the relief domain (migration ``0013_relief``).

- ``relief_applications``: one per application. ``person_id`` is the applicant's pseudonymous
  id (a citizen account's); living support names a household size, a business application a
  venue (``venue_id``: the place id public notices and the location store use) and its
  business registration number. ``eligible`` and ``eligibility`` (the evidence, JSON) are the
  automatic check at submission, checked again at the decision. ``status`` is ``pending``,
  ``approved`` or ``rejected``; a decision records who, when and why.
- ``relief_payments``: one per approved application, with a stable ``reference`` the finance
  system dedupes on, and ``exported_at``, the first time it went out in an export.
- ``venue_closures``: an officer's record of a closure order for a venue (administrative order,
  e.g. under the Infectious Disease Control and Prevention Act, art. 49), with its dates.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from epicity.db import Base

__all__ = [
    "APPLICATION_KINDS",
    "APPLICATION_STATUSES",
    "BUSINESS_KINDS",
    "ReliefApplication",
    "ReliefPayment",
    "VenueClosure",
]

BUSINESS_KINDS = ("rent_relief", "emergency_loan")
APPLICATION_KINDS = ("living_support", *BUSINESS_KINDS)
APPLICATION_STATUSES = ("pending", "approved", "rejected")
ACTOR_MAX = 100
ORDER_REF_MAX = 64

_BigId = BigInteger().with_variant(Integer(), "sqlite")
_Json = JSON().with_variant(JSONB(), "postgresql")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class ReliefApplication(Base):
    """A citizen's application for living support, rent relief or an emergency loan."""

    __tablename__ = "relief_applications"
    __table_args__ = (
        CheckConstraint(_one_of("kind", APPLICATION_KINDS), name="kind"),
        CheckConstraint(_one_of("status", APPLICATION_STATUSES), name="status"),
        CheckConstraint("period_end >= period_start", name="period_in_order"),
        CheckConstraint("amount_krw > 0", name="amount_positive"),
        CheckConstraint(
            "(kind = 'living_support' AND household_size IS NOT NULL AND venue_id IS NULL)"
            " OR (kind <> 'living_support' AND venue_id IS NOT NULL"
            " AND business_number IS NOT NULL AND household_size IS NULL)",
            name="kind_fields",
        ),
        Index("ix_relief_applications_person_id", "person_id"),
        Index("ix_relief_applications_venue_id", "venue_id"),
        Index("ix_relief_applications_status", "status"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    person_id: Mapped[int] = mapped_column(BigInteger)
    household_size: Mapped[int | None] = mapped_column(Integer)
    venue_id: Mapped[int | None] = mapped_column(BigInteger)
    business_number: Mapped[str | None] = mapped_column(String(10))
    period_start: Mapped[dt.date] = mapped_column(Date)
    period_end: Mapped[dt.date] = mapped_column(Date)
    amount_krw: Mapped[int] = mapped_column(BigInteger)
    received_paid_leave: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16))
    eligible: Mapped[bool] = mapped_column(Boolean)
    eligibility: Mapped[dict[str, Any]] = mapped_column(_Json)
    submitted_at: Mapped[dt.datetime]
    decided_by: Mapped[str | None] = mapped_column(String(ACTOR_MAX))
    decided_at: Mapped[dt.datetime | None]
    decision_reason: Mapped[str | None] = mapped_column(Text)

    def __repr__(self) -> str:
        return f"ReliefApplication(id={self.id!r}, kind={self.kind!r}, status={self.status!r})"


class ReliefPayment(Base):
    """An approved application's payment, as the finance system receives it."""

    __tablename__ = "relief_payments"

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    application_id: Mapped[int] = mapped_column(
        _BigId, ForeignKey("relief_applications.id"), unique=True
    )
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    person_id: Mapped[int] = mapped_column(BigInteger)
    amount_krw: Mapped[int] = mapped_column(BigInteger)
    approved_at: Mapped[dt.datetime]
    exported_at: Mapped[dt.datetime | None]


class VenueClosure(Base):
    """A closure order for a venue, recorded by an officer."""

    __tablename__ = "venue_closures"
    __table_args__ = (
        CheckConstraint("ends_on >= starts_on", name="dates_in_order"),
        Index("ix_venue_closures_venue_id", "venue_id"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    venue_id: Mapped[int] = mapped_column(BigInteger)
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date] = mapped_column(Date)
    order_ref: Mapped[str] = mapped_column(String(ORDER_REF_MAX))
    reason: Mapped[str] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(ACTOR_MAX))
    recorded_at: Mapped[dt.datetime]
