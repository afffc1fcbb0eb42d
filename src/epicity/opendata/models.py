"""Tables of open data: publications, the daily figures they published, and the protected
breakdowns.

The schema is created and changed only by the migration ``0016_opendata``; these classes must
match it (a test compares the two). Published rows are never updated or deleted: a correction
is a new row with the next revision number, so every earlier revision stays readable.

- ``opendata_publications``: one per run of `epicity.opendata.service.publish` that changed
  something: the date it is as of, when and by whom, the note (the reason of a correction),
  and how many rows it added (first revisions), corrected (later revisions) and how many
  breakdown cells it changed.
- ``opendata_figures``: the figures of one (day, area) as one revision. ``area`` is "city" or
  a Seoul district's English name ("Mapo-gu"). The current figures are each (day, area)'s
  highest revision.
- ``opendata_breakdowns``: one cell of a protected breakdown (``dimension``
  "district_age": district x 10-year age band of confirmed cases, cumulative to ``day``) as
  one revision. ``value`` is NULL when the cell is hidden; ``protection`` says why ("primary":
  a small count, "complementary": hidden so a small count cannot be recomputed from the totals,
  "withheld": the whole table is hidden because it could not be protected). Hidden values are
  never stored.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from epicity.db import Base

__all__ = [
    "AREA_MAX",
    "DIMENSIONS",
    "PROTECTIONS",
    "BreakdownCell",
    "Figure",
    "Publication",
]

AREA_MAX = 32
KEY_MAX = 32
ACTOR_MAX = 100
NOTE_MAX = 1000
DIMENSIONS = ("district_age",)
PROTECTIONS = ("none", "primary", "complementary", "withheld")

# BIGINT on PostgreSQL; SQLite autoincrements only an INTEGER PRIMARY KEY.
_BigId = BigInteger().with_variant(Integer(), "sqlite")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Publication(Base):
    """One publication: what it is as of, when, by whom, why, and what it changed."""

    __tablename__ = "opendata_publications"
    __table_args__ = (
        CheckConstraint("figures_added >= 0", name="figures_added"),
        CheckConstraint("figures_corrected >= 0", name="figures_corrected"),
        CheckConstraint("cells_changed >= 0", name="cells_changed"),
        Index("ix_opendata_publications_published_at", "published_at"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    as_of: Mapped[dt.date] = mapped_column(Date)
    published_at: Mapped[dt.datetime]
    published_by: Mapped[str] = mapped_column(String(ACTOR_MAX))
    note: Mapped[str] = mapped_column(Text)
    figures_added: Mapped[int] = mapped_column(Integer)
    figures_corrected: Mapped[int] = mapped_column(Integer)
    cells_changed: Mapped[int] = mapped_column(Integer)

    def __repr__(self) -> str:
        return f"Publication(id={self.id!r}, as_of={self.as_of!r})"


class Figure(Base):
    """The figures of one day and area, as one revision (see the service for their meaning)."""

    __tablename__ = "opendata_figures"
    __table_args__ = (
        CheckConstraint("revision >= 1", name="revision"),
        CheckConstraint(
            "positivity_7d IS NULL OR (positivity_7d >= 0 AND positivity_7d <= 1)",
            name="positivity_7d",
        ),
        UniqueConstraint("day", "area", "revision", name="uq_opendata_figures_day_area_revision"),
        Index("ix_opendata_figures_area_day", "area", "day"),
        Index("ix_opendata_figures_publication_id", "publication_id"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    publication_id: Mapped[int] = mapped_column(ForeignKey("opendata_publications.id"))
    day: Mapped[dt.date] = mapped_column(Date)
    area: Mapped[str] = mapped_column(String(AREA_MAX))
    revision: Mapped[int] = mapped_column(Integer)
    confirmed_new: Mapped[int] = mapped_column(Integer)
    confirmed_total: Mapped[int] = mapped_column(Integer)
    deaths_new: Mapped[int] = mapped_column(Integer)
    deaths_total: Mapped[int] = mapped_column(Integer)
    released_new: Mapped[int] = mapped_column(Integer)
    released_total: Mapped[int] = mapped_column(Integer)
    in_isolation: Mapped[int] = mapped_column(Integer)
    tests_new: Mapped[int] = mapped_column(Integer)
    tests_total: Mapped[int] = mapped_column(Integer)
    positives_new: Mapped[int] = mapped_column(Integer)
    positivity_7d: Mapped[float | None] = mapped_column(Float)

    def __repr__(self) -> str:
        return f"Figure(day={self.day!r}, area={self.area!r}, revision={self.revision!r})"


class BreakdownCell(Base):
    """One cell of a protected breakdown, as one revision (``value`` NULL when hidden)."""

    __tablename__ = "opendata_breakdowns"
    __table_args__ = (
        CheckConstraint(_one_of("dimension", DIMENSIONS), name="dimension"),
        CheckConstraint(_one_of("protection", PROTECTIONS), name="protection"),
        CheckConstraint("revision >= 1", name="revision"),
        CheckConstraint("(protection = 'none') = (value IS NOT NULL)", name="value_iff_shown"),
        CheckConstraint("value IS NULL OR value >= 0", name="value"),
        UniqueConstraint(
            "dimension",
            "day",
            "row_key",
            "column_key",
            "revision",
            name="uq_opendata_breakdowns_cell_revision",
        ),
        Index("ix_opendata_breakdowns_publication_id", "publication_id"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    publication_id: Mapped[int] = mapped_column(ForeignKey("opendata_publications.id"))
    dimension: Mapped[str] = mapped_column(String(KEY_MAX))
    day: Mapped[dt.date] = mapped_column(Date)
    row_key: Mapped[str] = mapped_column(String(KEY_MAX))
    column_key: Mapped[str] = mapped_column(String(KEY_MAX))
    revision: Mapped[int] = mapped_column(Integer)
    value: Mapped[int | None] = mapped_column(Integer)
    protection: Mapped[str] = mapped_column(String(16))

    def __repr__(self) -> str:
        return (
            f"BreakdownCell(day={self.day!r}, row={self.row_key!r}, "
            f"column={self.column_key!r}, revision={self.revision!r})"
        )
