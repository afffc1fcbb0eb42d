"""Tables of venue check-ins (`epicity.exposure.venues`).

The schema is created and changed only by the migration ``0021_exposure_venues``; these
classes must match it (a test compares the two). No table holds a visitor: check-ins stay on
the phones. What the server keeps:

- ``exposure_venues``: a registered venue or event: its description and address (printed on
  the poster, carried in the QR code), CWA type, district, optionally the city's place id it
  is (set by staff, so an investigator's confirmed stay at that place finds it), event times,
  default check-in length, the QR code's payload bytes (from which the location id is
  derived), the SHA-256 of the owner's management token, who registered it, and when it was
  ended (an event called off, a poster withdrawn). Deleted 14 days after it ended when no
  warning refers to it.
- ``exposure_venue_warnings``: an investigator's warning that a confirmed case was at a venue
  from ``starts_at`` to ``ends_at`` (also kept as 10-minute ``start_interval`` and
  ``period``), with its transmission risk level, status (pending -> approved -> published,
  or rejected), who created and who decided it. ``case_id`` is for the health department's
  own review and never leaves the server. Deleted 14 days after the window ended
  (``expires_at``), whatever its status.
- ``exposure_venue_packages``: a published, signed package zip (``{name}.zip``), its hour,
  region, number of reports (real and decoy) and when it expires (14 days after the last
  window it carries ended); deleted then.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from epicity.db import Base
from epicity.exposure.venue_payload import (
    ADDRESS_MAX,
    CHECK_IN_MINUTES_MAX,
    CHECK_IN_MINUTES_MIN,
    DESCRIPTION_MAX,
    MAX_PERIOD,
    TEMPORARY_TYPES,
    TRL_MAX,
    TRL_MIN,
    VENUE_TYPES,
)

__all__ = [
    "ACTOR_MAX",
    "DISTRICT_MAX",
    "REASON_MAX",
    "WARNING_STATUSES",
    "Venue",
    "VenuePackage",
    "VenueWarning",
]

WARNING_STATUSES = ("pending", "approved", "rejected", "published")
ACTOR_MAX = 100
DISTRICT_MAX = 40
REASON_MAX = 500
NAME_MAX = 40

# BIGINT on PostgreSQL; SQLite autoincrements only an INTEGER PRIMARY KEY.
_BigId = BigInteger().with_variant(Integer(), "sqlite")


def _one_of(column: str, values: tuple[str, ...] | list[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Venue(Base):
    """A registered venue or event and its QR code's payload; never a visitor."""

    __tablename__ = "exposure_venues"
    __table_args__ = (
        CheckConstraint(_one_of("venue_type", sorted(VENUE_TYPES)), name="venue_type"),
        CheckConstraint(
            f"(venue_type IN ({', '.join(repr(t) for t in sorted(TEMPORARY_TYPES))}))"
            " = (starts_at IS NOT NULL AND ends_at IS NOT NULL)",
            name="event_times",
        ),
        CheckConstraint("ends_at IS NULL OR ends_at > starts_at", name="event_window"),
        CheckConstraint(
            f"default_check_in_minutes BETWEEN {CHECK_IN_MINUTES_MIN} AND {CHECK_IN_MINUTES_MAX}",
            name="default_check_in_minutes",
        ),
        CheckConstraint("place_id IS NULL OR place_id >= 0", name="place_id"),
        UniqueConstraint("token_hash", name="uq_exposure_venues_token_hash"),
        Index("ix_exposure_venues_place_id", "place_id"),
        Index("ix_exposure_venues_district", "district"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    description: Mapped[str] = mapped_column(String(DESCRIPTION_MAX))
    address: Mapped[str] = mapped_column(String(ADDRESS_MAX))
    venue_type: Mapped[str] = mapped_column(String(40))
    district: Mapped[str] = mapped_column(String(DISTRICT_MAX))
    place_id: Mapped[int | None] = mapped_column(BigInteger)
    starts_at: Mapped[dt.datetime | None]
    ends_at: Mapped[dt.datetime | None]
    default_check_in_minutes: Mapped[int] = mapped_column(Integer)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    token_hash: Mapped[str] = mapped_column(String(64))
    registered_by: Mapped[str] = mapped_column(String(ACTOR_MAX))
    created_at: Mapped[dt.datetime]
    ended_at: Mapped[dt.datetime | None]

    def __repr__(self) -> str:
        return f"Venue(id={self.id!r}, venue_type={self.venue_type!r})"


class VenueWarning(Base):
    """A confirmed case's visit to a venue, to be published as a protected report."""

    __tablename__ = "exposure_venue_warnings"
    __table_args__ = (
        CheckConstraint(_one_of("status", WARNING_STATUSES), name="status"),
        CheckConstraint("ends_at > starts_at", name="window"),
        CheckConstraint(f"period BETWEEN 1 AND {MAX_PERIOD}", name="period"),
        CheckConstraint(
            f"transmission_risk_level BETWEEN {TRL_MIN} AND {TRL_MAX}",
            name="transmission_risk_level",
        ),
        CheckConstraint(
            "(status = 'published') = (package_id IS NOT NULL)", name="published_in_package"
        ),
        UniqueConstraint(
            "venue_id",
            "case_id",
            "start_interval",
            "period",
            name="uq_exposure_venue_warnings_venue_case_window",
        ),
        Index("ix_exposure_venue_warnings_status", "status"),
        Index("ix_exposure_venue_warnings_expires_at", "expires_at"),
        Index("ix_exposure_venue_warnings_case_id", "case_id"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    venue_id: Mapped[int] = mapped_column(ForeignKey("exposure_venues.id"))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    starts_at: Mapped[dt.datetime]
    ends_at: Mapped[dt.datetime]
    start_interval: Mapped[int] = mapped_column(BigInteger)
    period: Mapped[int] = mapped_column(Integer)
    transmission_risk_level: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(ACTOR_MAX))
    created_at: Mapped[dt.datetime]
    decided_by: Mapped[str | None] = mapped_column(String(ACTOR_MAX))
    decided_at: Mapped[dt.datetime | None]
    reason: Mapped[str] = mapped_column(Text)
    package_id: Mapped[int | None] = mapped_column(ForeignKey("exposure_venue_packages.id"))
    expires_at: Mapped[dt.datetime]

    def __repr__(self) -> str:
        return f"VenueWarning(id={self.id!r}, venue_id={self.venue_id!r}, status={self.status!r})"


class VenuePackage(Base):
    """A published package of protected reports: the signed zip, served as ``{name}.zip``."""

    __tablename__ = "exposure_venue_packages"
    __table_args__ = (
        CheckConstraint("report_count >= 1", name="report_count"),
        UniqueConstraint("name", name="uq_exposure_venue_packages_name"),
        Index("ix_exposure_venue_packages_expires_at", "expires_at"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    interval_number: Mapped[int] = mapped_column(BigInteger)
    region: Mapped[str] = mapped_column(String(8))
    report_count: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]

    def __repr__(self) -> str:
        return f"VenuePackage(name={self.name!r}, report_count={self.report_count!r})"
