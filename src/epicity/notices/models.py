"""The table of place notices.

The schema is created and changed only by the migration ``0017_notices``; this class must
match it (a test compares the two).

``public_notices``: one row per public notice of a place and a time window, from one
``source``: ``tracing`` (copies of approved ``public_notice`` rows of the tracing outbox, by
`epicity.notices.service.sync_from_outbox`) or ``ds4c`` (the DS4C public routes of 2020, by
``epicity import ds4c-routes``). Nothing about a person is stored: no case or person id, no
outbox id (a row of the outbox names the case), only what the notice shows.

- ``source_key``: SHA-256 (hex) of the source, the place and the rounded window; unique, so
  syncing or importing again adds nothing, and two cases at the same place and window give one
  notice. It is also the public id of the notice (the Atom entry's id): it is computed from
  what the notice shows, so it links nothing, unlike a serial id (notices of one case would be
  inserted together and numbered in a row).
- ``venue_name``: the venue's name (NULL when the source names none: DS4C's routes give a kind
  of place only); ``category`` its kind (``restaurant``, ``church``, ...); ``district`` the
  district's English name; ``address`` when tracing's venue register has one.
- ``visit_date``: local date of ``starts_at``; ``starts_at``/``ends_at`` the published window
  (rounded outward to 10 minutes by tracing's rules; the whole local day or days when the
  source gives dates only: ``time_known`` false); ``expires_at`` = ``ends_at`` + 14 days.
- ``published_at``: when the notice became public (the officer's approval of the outbox row;
  for DS4C, unknown, taken as ``ends_at``); a notice is visible at an instant ``t`` when
  ``published_at <= t < expires_at``.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Date, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from epicity.db import Base

__all__ = [
    "ADDRESS_MAX",
    "CATEGORY_MAX",
    "DISTRICT_MAX",
    "NAME_MAX",
    "SOURCES",
    "PublicNoticeRow",
]

SOURCES = ("tracing", "ds4c")
NAME_MAX = 200
CATEGORY_MAX = 64
DISTRICT_MAX = 100
ADDRESS_MAX = 300

_BigId = BigInteger().with_variant(Integer(), "sqlite")


class PublicNoticeRow(Base):
    """One public notice of a place and a time window."""

    __tablename__ = "public_notices"
    __table_args__ = (
        CheckConstraint("source IN ('tracing', 'ds4c')", name="source"),
        CheckConstraint("ends_at > starts_at", name="window"),
        CheckConstraint("expires_at > ends_at", name="expires_after_end"),
        Index("ix_public_notices_expires_at", "expires_at"),
        Index("ix_public_notices_starts_at", "starts_at"),
        Index("ix_public_notices_district", "district", "starts_at"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    source_key: Mapped[str] = mapped_column(String(64), unique=True)
    venue_name: Mapped[str | None] = mapped_column(String(NAME_MAX))
    category: Mapped[str] = mapped_column(String(CATEGORY_MAX))
    district: Mapped[str | None] = mapped_column(String(DISTRICT_MAX))
    address: Mapped[str | None] = mapped_column(String(ADDRESS_MAX))
    visit_date: Mapped[dt.date] = mapped_column(Date)
    starts_at: Mapped[dt.datetime]
    ends_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    published_at: Mapped[dt.datetime]
    time_known: Mapped[bool] = mapped_column(Boolean)
    disinfection_advised: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[dt.datetime]

    def __repr__(self) -> str:
        return (
            f"PublicNoticeRow(id={self.id!r}, source={self.source!r}, "
            f"category={self.category!r}, district={self.district!r})"
        )
