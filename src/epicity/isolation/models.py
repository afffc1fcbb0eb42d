"""Tables of self-isolation: registrations, check-ins and alerts to the assigned officer.

The schema is created and changed only by the migration ``0011_isolation``; these classes
must match it (a test compares the two).

- ``isolation_registrations``: one per period of isolation of a person (pseudonymous
  ``person_id``): ordered (a close contact of ``case_id``, from tracing) or voluntary; the
  isolation address as a geofence (centre and radius; all three empty while the officer has
  not confirmed the address), the first and last day (local dates, inclusive), the assigned
  health officer (``users.id``), the status, and whether release waits for a negative test.
  A person has at most one ``active`` registration: a partial unique index enforces it, so two
  concurrent registrations cannot both succeed.
- ``isolation_checkins``: a twice-daily report: temperature, symptoms (comma-separated names
  from `SYMPTOMS`), optional location with its distance from the geofence's centre, the
  window it counts for (``morning``, ``evening`` or ``extra`` outside the windows) and the
  source (``app``, ``sms``).
- ``isolation_alerts``: what the officer must look at: a missed check-in, worsening symptoms,
  a location outside the geofence. ``key`` makes each alert once only (the window for a missed
  check-in, the check-in for the others); acknowledged by the officer with a note.
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
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from epicity.db import Base

__all__ = [
    "ALERT_KINDS",
    "CHECKIN_SLOTS",
    "CHECKIN_SOURCES",
    "REGISTRATION_KINDS",
    "REGISTRATION_STATUSES",
    "CheckIn",
    "IsolationAlert",
    "IsolationRegistration",
]

REGISTRATION_KINDS = ("ordered", "voluntary")
REGISTRATION_STATUSES = ("active", "released", "ended_early")
CHECKIN_SLOTS = ("morning", "evening", "extra")
CHECKIN_SOURCES = ("app", "sms")
ALERT_KINDS = ("missed_checkin", "symptoms_worse", "outside_geofence")

ACTOR_MAX = 100
SYMPTOMS_MAX = 300
KEY_MAX = 64

_BigId = BigInteger().with_variant(Integer(), "sqlite")
_ACTIVE = text("status = 'active'")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class IsolationRegistration(Base):
    """A person's period of self-isolation, its geofence, officer and status."""

    __tablename__ = "isolation_registrations"
    __table_args__ = (
        CheckConstraint(_one_of("kind", REGISTRATION_KINDS), name="kind"),
        CheckConstraint(_one_of("status", REGISTRATION_STATUSES), name="status"),
        CheckConstraint("end_date >= start_date", name="dates"),
        CheckConstraint(
            "(lat IS NULL AND lon IS NULL AND radius_m IS NULL) OR "
            "(lat BETWEEN -90 AND 90 AND lon BETWEEN -180 AND 180 AND radius_m > 0)",
            name="geofence",
        ),
        # One active registration per person (partial unique index, both backends).
        Index(
            "uq_isolation_registrations_active_person",
            "person_id",
            unique=True,
            sqlite_where=_ACTIVE,
            postgresql_where=_ACTIVE,
        ),
        Index("ix_isolation_registrations_person_id", "person_id"),
        Index("ix_isolation_registrations_officer_id_status", "officer_id", "status"),
        Index("ix_isolation_registrations_status_end_date", "status", "end_date"),
        Index("ix_isolation_registrations_case_id", "case_id"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    person_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    status: Mapped[str] = mapped_column(String(16))
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date] = mapped_column(Date)
    last_exposure: Mapped[dt.date | None] = mapped_column(Date)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    radius_m: Mapped[int | None] = mapped_column(Integer)
    officer_id: Mapped[int] = mapped_column(BigInteger)
    needs_negative_test: Mapped[bool] = mapped_column(Boolean)
    released_at: Mapped[dt.datetime | None]
    released_by: Mapped[str | None] = mapped_column(String(ACTOR_MAX))
    release_reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(ACTOR_MAX))
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]

    def __repr__(self) -> str:  # no address: reprs end up in logs
        return f"IsolationRegistration(id={self.id!r}, kind={self.kind!r}, status={self.status!r})"


class CheckIn(Base):
    """One check-in: temperature, symptoms, optional location, the window it counts for."""

    __tablename__ = "isolation_checkins"
    __table_args__ = (
        CheckConstraint(_one_of("slot", CHECKIN_SLOTS), name="slot"),
        CheckConstraint(_one_of("source", CHECKIN_SOURCES), name="source"),
        CheckConstraint("temperature_c BETWEEN 34 AND 43", name="temperature"),
        CheckConstraint(
            "(lat IS NULL AND lon IS NULL) OR "
            "(lat BETWEEN -90 AND 90 AND lon BETWEEN -180 AND 180)",
            name="location",
        ),
        Index("ix_isolation_checkins_registration_id_at", "registration_id", "at"),
        Index("ix_isolation_checkins_local_date_slot", "local_date", "slot"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("isolation_registrations.id"))
    at: Mapped[dt.datetime]
    local_date: Mapped[dt.date] = mapped_column(Date)
    slot: Mapped[str] = mapped_column(String(8))
    source: Mapped[str] = mapped_column(String(8))
    temperature_c: Mapped[float] = mapped_column(Float)
    symptoms: Mapped[str] = mapped_column(String(SYMPTOMS_MAX))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    distance_m: Mapped[float | None] = mapped_column(Float)

    @property
    def symptom_list(self) -> list[str]:
        """The symptoms as a list (stored comma-separated)."""
        return [s for s in self.symptoms.split(",") if s]

    def __repr__(self) -> str:
        return f"CheckIn(id={self.id!r}, registration_id={self.registration_id!r})"


class IsolationAlert(Base):
    """Something the assigned officer must look at, until acknowledged."""

    __tablename__ = "isolation_alerts"
    __table_args__ = (
        CheckConstraint(_one_of("kind", ALERT_KINDS), name="kind"),
        UniqueConstraint(
            "registration_id", "kind", "key", name="uq_isolation_alerts_registration_id_kind_key"
        ),
        Index("ix_isolation_alerts_officer_id_acknowledged_at", "officer_id", "acknowledged_at"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("isolation_registrations.id"))
    officer_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(24))
    key: Mapped[str] = mapped_column(String(KEY_MAX))
    detail: Mapped[str] = mapped_column(Text)
    checkin_id: Mapped[int | None] = mapped_column(ForeignKey("isolation_checkins.id"))
    created_at: Mapped[dt.datetime]
    acknowledged_at: Mapped[dt.datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(ACTOR_MAX))
    note: Mapped[str | None] = mapped_column(Text)

    def __repr__(self) -> str:
        return f"IsolationAlert(id={self.id!r}, kind={self.kind!r})"
