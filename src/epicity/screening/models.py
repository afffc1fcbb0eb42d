"""Tables of screening: centres and their hours, booking slots and bookings, samples, lab
batches and their pools.

The schema is created and changed only by the migration ``0010_screening``; these classes
must match it (a test compares the two).

- ``screening_centres``: a walk-through, drive-through or glove-wall centre: where it is
  (WGS84), how many lanes it runs, minutes per test per lane and the length of its booking
  slots. ``capacity per slot = floor(lanes * slot_minutes / minutes_per_test)``.
- ``screening_hours``: its opening hours per weekday (0 = Monday), local time in Asia/Seoul;
  no row for a weekday means closed that day.
- ``screening_slots``: booked places per slot (``starts_at`` in UTC); incremented by a
  conditional update, so two bookings racing for the last place cannot both get it.
- ``screening_bookings``: a citizen's booking of a slot. ``active_day`` (the slot's local
  date) is set while the booking is ``booked`` and cleared when it is cancelled or used: it is
  unique per person, so the database itself refuses a second booking the same day (NULLs do
  not clash on either backend).
- ``screening_samples``: one per check-in: the barcode (unique), the person (pseudonymous
  ``person_id``), where and how they came (booked or walk-in), where the sample is in its
  lifecycle ``waiting -> collected -> in_lab [-> retest] -> resulted`` and the times of each
  step (checked in, sampled, received by the lab, resulted, result queued to the person).
  ``case_id`` is the confirmed case a positive result opened (``cases.id``); ``outbox_id``
  the result message (``outbox.id``), whose ``delivered_at`` ends the turnaround. Neither is
  a foreign key: the outbox lives on another migration branch.
- ``screening_batches`` and ``screening_pools``: a lab run of samples, individually (pools
  of one) or in Dorfman pools, with the tests it used (pools tested plus individual retests).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from epicity.db import Base

__all__ = [
    "ARRIVALS",
    "BATCH_MODES",
    "BATCH_STATUSES",
    "BOOKING_STATUSES",
    "CENTRE_KINDS",
    "RESULTS",
    "SAMPLE_STATUSES",
    "Batch",
    "Booking",
    "Centre",
    "OpeningHours",
    "Pool",
    "Sample",
    "Slot",
]

CENTRE_KINDS = ("walk_through", "drive_through", "glove_wall")
BOOKING_STATUSES = ("booked", "cancelled", "checked_in")
ARRIVALS = ("booked", "walk_in")
SAMPLE_STATUSES = ("waiting", "collected", "in_lab", "retest", "resulted")
RESULTS = ("positive", "negative", "inconclusive")
BATCH_MODES = ("individual", "pooled")
BATCH_STATUSES = ("open", "done")

NAME_MAX = 200
PLACE_MAX = 100
ACTOR_MAX = 100
BARCODE_MAX = 32
LAB_MAX = 100

# BIGINT on PostgreSQL; SQLite autoincrements only an INTEGER PRIMARY KEY.
_BigId = BigInteger().with_variant(Integer(), "sqlite")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Centre(Base):
    """A screening centre: its kind, place, lanes, pace and booking slot length."""

    __tablename__ = "screening_centres"
    __table_args__ = (
        CheckConstraint(_one_of("kind", CENTRE_KINDS), name="kind"),
        CheckConstraint("lat >= -90 AND lat <= 90", name="lat"),
        CheckConstraint("lon >= -180 AND lon <= 180", name="lon"),
        CheckConstraint("lanes >= 1", name="lanes"),
        CheckConstraint("minutes_per_test > 0", name="minutes_per_test"),
        CheckConstraint("slot_minutes >= 1", name="slot_minutes"),
        UniqueConstraint("name", name="uq_screening_centres_name"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    district: Mapped[str] = mapped_column(String(PLACE_MAX))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    lanes: Mapped[int] = mapped_column(Integer)
    minutes_per_test: Mapped[float] = mapped_column(Float)
    slot_minutes: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean)
    created_by: Mapped[str] = mapped_column(String(ACTOR_MAX))
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]

    @property
    def slot_capacity(self) -> int:
        """People one slot can take: lanes x slot length / minutes per test, rounded down."""
        return int(self.lanes * self.slot_minutes // self.minutes_per_test)

    def __repr__(self) -> str:
        return f"Centre(id={self.id!r}, kind={self.kind!r})"


class OpeningHours(Base):
    """A centre's hours on one weekday (0 = Monday), local time (Asia/Seoul)."""

    __tablename__ = "screening_hours"
    __table_args__ = (
        CheckConstraint("weekday >= 0 AND weekday <= 6", name="weekday"),
        CheckConstraint("opens < closes", name="opens_before_closes"),
    )

    centre_id: Mapped[int] = mapped_column(ForeignKey("screening_centres.id"), primary_key=True)
    weekday: Mapped[int] = mapped_column(Integer, primary_key=True)
    opens: Mapped[dt.time] = mapped_column(Time)
    closes: Mapped[dt.time] = mapped_column(Time)


class Slot(Base):
    """How many places of one of a centre's slots are booked."""

    __tablename__ = "screening_slots"
    __table_args__ = (CheckConstraint("booked >= 0", name="booked"),)

    centre_id: Mapped[int] = mapped_column(ForeignKey("screening_centres.id"), primary_key=True)
    starts_at: Mapped[dt.datetime] = mapped_column(primary_key=True)
    booked: Mapped[int] = mapped_column(Integer)


class Booking(Base):
    """A person's booking of a slot at a centre."""

    __tablename__ = "screening_bookings"
    __table_args__ = (
        CheckConstraint(_one_of("status", BOOKING_STATUSES), name="status"),
        CheckConstraint(
            "(status = 'booked') = (active_day IS NOT NULL)", name="active_day_iff_booked"
        ),
        # One active booking per person and day, kept by the database (see the module).
        UniqueConstraint(
            "person_id", "active_day", name="uq_screening_bookings_person_id_active_day"
        ),
        Index("ix_screening_bookings_centre_id_slot_start", "centre_id", "slot_start"),
        Index("ix_screening_bookings_person_id", "person_id"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("screening_centres.id"))
    person_id: Mapped[int] = mapped_column(BigInteger)
    slot_start: Mapped[dt.datetime]
    status: Mapped[str] = mapped_column(String(16))
    active_day: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime]
    cancelled_at: Mapped[dt.datetime | None]
    checked_in_at: Mapped[dt.datetime | None]

    def __repr__(self) -> str:
        return f"Booking(id={self.id!r}, centre_id={self.centre_id!r}, status={self.status!r})"


class Batch(Base):
    """A lab run of samples: individually or in Dorfman pools of `pool_size`."""

    __tablename__ = "screening_batches"
    __table_args__ = (
        CheckConstraint(_one_of("mode", BATCH_MODES), name="mode"),
        CheckConstraint(_one_of("status", BATCH_STATUSES), name="status"),
        CheckConstraint("pool_size >= 1", name="pool_size"),
        CheckConstraint("samples >= 1", name="samples"),
        CheckConstraint("tests_used >= 0", name="tests_used"),
        CheckConstraint("prevalence IS NULL OR (prevalence >= 0 AND prevalence <= 1)", name="prev"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    lab: Mapped[str] = mapped_column(String(LAB_MAX))
    mode: Mapped[str] = mapped_column(String(16))
    pool_size: Mapped[int] = mapped_column(Integer)
    prevalence: Mapped[float | None] = mapped_column(Float)
    samples: Mapped[int] = mapped_column(Integer)
    tests_used: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(ACTOR_MAX))
    created_at: Mapped[dt.datetime]
    completed_at: Mapped[dt.datetime | None]

    def __repr__(self) -> str:
        return f"Batch(id={self.id!r}, mode={self.mode!r}, status={self.status!r})"


class Pool(Base):
    """One pool of a batch (number 1, 2, ...) and its result once tested."""

    __tablename__ = "screening_pools"
    __table_args__ = (
        CheckConstraint(_one_of("result", RESULTS), name="result"),
        CheckConstraint("size >= 1", name="size"),
        UniqueConstraint("batch_id", "number", name="uq_screening_pools_batch_id_number"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("screening_batches.id"))
    number: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer)
    result: Mapped[str | None] = mapped_column(String(16))
    tested_at: Mapped[dt.datetime | None]


class Sample(Base):
    """A person's sample from check-in to result (see the module for its lifecycle)."""

    __tablename__ = "screening_samples"
    __table_args__ = (
        CheckConstraint(_one_of("arrival", ARRIVALS), name="arrival"),
        CheckConstraint(_one_of("status", SAMPLE_STATUSES), name="status"),
        CheckConstraint(_one_of("result", RESULTS), name="result"),
        CheckConstraint("(status = 'resulted') = (result IS NOT NULL)", name="result_iff_resulted"),
        UniqueConstraint("barcode", name="uq_screening_samples_barcode"),
        Index("ix_screening_samples_centre_id_status", "centre_id", "status"),
        Index("ix_screening_samples_status", "status"),
        Index("ix_screening_samples_person_id", "person_id"),
        Index("ix_screening_samples_batch_id", "batch_id"),
        Index("ix_screening_samples_sampled_at", "sampled_at"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    barcode: Mapped[str] = mapped_column(String(BARCODE_MAX))
    centre_id: Mapped[int] = mapped_column(ForeignKey("screening_centres.id"))
    person_id: Mapped[int] = mapped_column(BigInteger)
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("screening_bookings.id"))
    arrival: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    result: Mapped[str | None] = mapped_column(String(16))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("screening_batches.id"))
    pool_id: Mapped[int | None] = mapped_column(ForeignKey("screening_pools.id"))
    case_id: Mapped[int | None] = mapped_column(BigInteger)
    outbox_id: Mapped[int | None] = mapped_column(BigInteger)
    checked_in_by: Mapped[str] = mapped_column(String(ACTOR_MAX))
    checked_in_at: Mapped[dt.datetime]
    sampled_at: Mapped[dt.datetime | None]
    received_at: Mapped[dt.datetime | None]
    resulted_at: Mapped[dt.datetime | None]
    notified_at: Mapped[dt.datetime | None]

    def __repr__(self) -> str:
        return f"Sample(id={self.id!r}, status={self.status!r})"
