"""Tables of Cities Against COVID-19 (CAC): cities, their publishers and daily updates.

The schema is created and changed only by the migration ``0018_cac``; these classes must
match it (a test compares the two).

- ``cac_cities``: a city (or, ``kind = 'nation'``, a country's national figures, kept for
  comparison) that registered itself. ``status`` is ``pending`` until the admin approves or
  rejects it; only approved cities are public. ``population`` is the denominator of the
  per-100,000 comparisons. ``contact_email`` is for the platform's staff and never public.
- ``cac_publishers``: an API key of a city. Only the SHA-256 of the key is stored
  (``key_hash``, unique) with its first characters (``key_prefix``) so a person can tell keys
  apart; a key is refused once ``revoked_at`` is set. ``last_used_at`` is updated at most once
  a minute per key, not on every request.
- ``cac_daily_updates``: a city's figures for one day (unique per city and day), the current
  revision. Every count may be missing (NULL: not reported) and is never negative.
- ``cac_update_revisions``: the earlier revisions of a day, copied here when a re-post
  changes the figures (history never changes silently).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from epicity.db import Base

__all__ = [
    "ACTOR_MAX",
    "CITY_KINDS",
    "CITY_STATUSES",
    "EMAIL_MAX",
    "KEY_PREFIX_MAX",
    "LABEL_MAX",
    "METRICS",
    "NAME_MAX",
    "NOTES_MAX",
    "NOTE_MAX",
    "TIME_ZONE_MAX",
    "URL_MAX",
    "City",
    "DailyUpdate",
    "Publisher",
    "UpdateRevision",
]

CITY_KINDS = ("city", "nation")
CITY_STATUSES = ("pending", "approved", "rejected")
# The counts of a daily update, in the order of the schema.
METRICS = (
    "confirmed_new",
    "confirmed_total",
    "deaths_new",
    "deaths_total",
    "recovered_new",
    "recovered_total",
    "tests_new",
    "tests_total",
    "in_isolation",
)

NAME_MAX = 200
TIME_ZONE_MAX = 64
EMAIL_MAX = 254
ACTOR_MAX = 100
NOTE_MAX = 500
LABEL_MAX = 100
KEY_PREFIX_MAX = 16
NOTES_MAX = 2000
URL_MAX = 500

# BIGINT on PostgreSQL; SQLite autoincrements only an INTEGER PRIMARY KEY.
_BigId = BigInteger().with_variant(Integer(), "sqlite")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _non_negative() -> tuple[CheckConstraint, ...]:
    return tuple(CheckConstraint(f"{m} >= 0", name=m) for m in METRICS)


class City(Base):
    """A city (or a nation's figures) on the platform: names, country, population, status."""

    __tablename__ = "cac_cities"
    __table_args__ = (
        CheckConstraint(_one_of("kind", CITY_KINDS), name="kind"),
        CheckConstraint(_one_of("status", CITY_STATUSES), name="status"),
        CheckConstraint("population > 0", name="population"),
        UniqueConstraint("country", "name_en", name="uq_cac_cities_country_name_en"),
        Index("ix_cac_cities_status", "status"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    name_en: Mapped[str] = mapped_column(String(NAME_MAX))
    name_local: Mapped[str] = mapped_column(String(NAME_MAX))
    country: Mapped[str] = mapped_column(String(2))
    population: Mapped[int] = mapped_column(BigInteger)
    time_zone: Mapped[str] = mapped_column(String(TIME_ZONE_MAX))
    contact_email: Mapped[str] = mapped_column(String(EMAIL_MAX))
    status: Mapped[str] = mapped_column(String(16))
    registered_at: Mapped[dt.datetime]
    decided_at: Mapped[dt.datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(ACTOR_MAX))
    decision_note: Mapped[str] = mapped_column(String(NOTE_MAX))

    def __repr__(self) -> str:
        return f"City(id={self.id!r}, name_en={self.name_en!r}, status={self.status!r})"


class Publisher(Base):
    """An API key of a city: stored as its SHA-256, revocable, with when it was last used."""

    __tablename__ = "cac_publishers"
    __table_args__ = (
        UniqueConstraint("key_hash", name="uq_cac_publishers_key_hash"),
        Index("ix_cac_publishers_city_id", "city_id"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    city_id: Mapped[int] = mapped_column(ForeignKey("cac_cities.id"))
    label: Mapped[str] = mapped_column(String(LABEL_MAX))
    key_prefix: Mapped[str] = mapped_column(String(KEY_PREFIX_MAX))
    key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime]
    created_by: Mapped[str] = mapped_column(String(ACTOR_MAX))
    revoked_at: Mapped[dt.datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(ACTOR_MAX))
    last_used_at: Mapped[dt.datetime | None]

    def __repr__(self) -> str:
        return f"Publisher(id={self.id!r}, city_id={self.city_id!r}, prefix={self.key_prefix!r})"


class DailyUpdate(Base):
    """A city's figures for one day: the current revision."""

    __tablename__ = "cac_daily_updates"
    __table_args__ = (
        *_non_negative(),
        CheckConstraint("revision >= 1", name="revision"),
        UniqueConstraint("city_id", "day", name="uq_cac_daily_updates_city_id_day"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    city_id: Mapped[int] = mapped_column(ForeignKey("cac_cities.id"))
    day: Mapped[dt.date] = mapped_column(Date)
    revision: Mapped[int] = mapped_column(Integer)
    confirmed_new: Mapped[int | None] = mapped_column(BigInteger)
    confirmed_total: Mapped[int | None] = mapped_column(BigInteger)
    deaths_new: Mapped[int | None] = mapped_column(BigInteger)
    deaths_total: Mapped[int | None] = mapped_column(BigInteger)
    recovered_new: Mapped[int | None] = mapped_column(BigInteger)
    recovered_total: Mapped[int | None] = mapped_column(BigInteger)
    tests_new: Mapped[int | None] = mapped_column(BigInteger)
    tests_total: Mapped[int | None] = mapped_column(BigInteger)
    in_isolation: Mapped[int | None] = mapped_column(BigInteger)
    notes: Mapped[str] = mapped_column(String(NOTES_MAX))
    source_url: Mapped[str] = mapped_column(String(URL_MAX))
    posted_at: Mapped[dt.datetime]
    posted_by: Mapped[str] = mapped_column(String(ACTOR_MAX))

    def __repr__(self) -> str:
        return f"DailyUpdate(city_id={self.city_id!r}, day={self.day!r}, rev={self.revision!r})"


class UpdateRevision(Base):
    """An earlier revision of a city's day, kept when a re-post changed it."""

    __tablename__ = "cac_update_revisions"
    __table_args__ = (
        *_non_negative(),
        CheckConstraint("revision >= 1", name="revision"),
        UniqueConstraint(
            "city_id", "day", "revision", name="uq_cac_update_revisions_city_id_day_revision"
        ),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    city_id: Mapped[int] = mapped_column(ForeignKey("cac_cities.id"))
    day: Mapped[dt.date] = mapped_column(Date)
    revision: Mapped[int] = mapped_column(Integer)
    confirmed_new: Mapped[int | None] = mapped_column(BigInteger)
    confirmed_total: Mapped[int | None] = mapped_column(BigInteger)
    deaths_new: Mapped[int | None] = mapped_column(BigInteger)
    deaths_total: Mapped[int | None] = mapped_column(BigInteger)
    recovered_new: Mapped[int | None] = mapped_column(BigInteger)
    recovered_total: Mapped[int | None] = mapped_column(BigInteger)
    tests_new: Mapped[int | None] = mapped_column(BigInteger)
    tests_total: Mapped[int | None] = mapped_column(BigInteger)
    in_isolation: Mapped[int | None] = mapped_column(BigInteger)
    notes: Mapped[str] = mapped_column(String(NOTES_MAX))
    source_url: Mapped[str] = mapped_column(String(URL_MAX))
    posted_at: Mapped[dt.datetime]
    posted_by: Mapped[str] = mapped_column(String(ACTOR_MAX))
    replaced_at: Mapped[dt.datetime]
