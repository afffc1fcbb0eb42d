"""Tables of the CAC countermeasure library and the suppliers directory.

The schema is created and changed only by the migration ``0019_cac_library``; these classes
must match it (a test compares the two).

- ``cac_countermeasures``: a measure a city took (title, date it started and, if it ended,
  when, category from `CATEGORIES`, language ``ko`` or ``en``, the text), who may be credited
  for it (``source``, ``licence``, ``source_url``: DS4C's entries carry its credit and
  CC BY-NC-SA 4.0 notice) and the poster's own reference (``external_ref``, unique per city,
  so re-posting the same reference updates the entry instead of adding another).
  ``tags_text`` is the tags joined by spaces, kept by the service for the full-text index.
- ``cac_countermeasure_tags``: the tags (lower case, one row each) for exact filtering.
- ``cac_attachments``: files of a countermeasure, stored in the database (so a file is
  written, backed up and rolled back with its row) with their type (sniffed from the bytes,
  one of `ATTACHMENT_TYPES`), size and SHA-256 (unique per countermeasure: uploading the same
  file twice stores it once).
- ``cac_suppliers`` and ``cac_supplier_approvals``: makers of test kits and equipment, what
  they make, their regulatory approvals (authority and date) and a business contact only.

Full-text search (see `epicity.cac.library_search`): on SQLite the FTS5 table
``cac_countermeasures_fts`` (external content over title, tags and text, kept in sync by
triggers) created by the migration and mapped by no model (`epicity.db.dialect_only`); on
PostgreSQL the stored generated column ``search_vector`` (the weighted ``tsvector``
`SEARCH_VECTOR_SQL`, 'simple' configuration: words as written, which suits Korean, whose
words the default English stemmer would mangle) and a GIN index on it, also made by the
migration and declared with `epicity.db.dialect_only` rather than on the model (the column
does not exist on SQLite).
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
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from epicity.db import Base, dialect_only

__all__ = [
    "ACTOR_MAX",
    "APPROVAL_AUTHORITIES",
    "ATTACHMENT_TYPES",
    "CATEGORIES",
    "FTS_TABLE",
    "LANGUAGES",
    "SEARCH_COLUMN",
    "SEARCH_INDEX",
    "SEARCH_VECTOR_SQL",
    "SUPPLIER_KINDS",
    "Attachment",
    "Countermeasure",
    "CountermeasureTag",
    "Supplier",
    "SupplierApproval",
]

# The fixed list of categories (docs/open-data.md explains each).
CATEGORIES = (
    "alert",  # alert levels, emergency declarations
    "testing",  # test kits, screening centres, drive-through testing
    "tracing",  # contact tracing, place notices
    "isolation",  # quarantine and self-isolation, their apps and checks
    "social_distancing",  # campaigns, closures of venues, limits on gatherings
    "masks",  # supply, distribution and wearing of masks
    "schools",  # closures, delayed openings, online classes
    "borders",  # entry procedures, quarantine of arrivals
    "relief",  # support for people and businesses
    "communication",  # public information, open data, campaigns
    "technology",  # apps and systems not covered above
    "other",
)
LANGUAGES = ("ko", "en")
ATTACHMENT_TYPES = ("application/pdf", "image/png", "image/jpeg", "text/plain", "text/csv")
SUPPLIER_KINDS = (
    "pcr_kit",
    "antigen_test",
    "antibody_test",
    "swab",
    "transport_medium",
    "ppe",
    "mask",
    "ventilator",
    "other",
)
APPROVAL_AUTHORITIES = (
    "kr_mfds_eua",  # Korea MFDS emergency use authorisation (requested by the KCDC)
    "kr_mfds",  # Korea MFDS full (formal) approval
    "kr_mfds_export",  # Korea MFDS licence for export only
    "us_fda_eua",  # US FDA emergency use authorization
    "ce_ivd",  # CE marking as an in-vitro diagnostic (EU self-declaration under the IVDD)
    "who_eul",  # WHO emergency use listing
    "other",
)

TITLE_MAX = 300
TAGS_TEXT_MAX = 1100
SOURCE_MAX = 500
LICENCE_MAX = 200
URL_MAX = 500
REF_MAX = 100
ACTOR_MAX = 100
FILENAME_MAX = 200
COMPANY_MAX = 200
PRODUCT_MAX = 300
CONTACT_MAX = 300
NOTE_MAX = 2000

FTS_TABLE = "cac_countermeasures_fts"
SEARCH_INDEX = "ix_cac_countermeasures_search"
SEARCH_COLUMN = "search_vector"  # PostgreSQL only: generated from SEARCH_VECTOR_SQL, stored
# Title weighs most, then tags, then the text (ts_rank's A, B, C). Angle brackets are read as
# spaces: PostgreSQL's parser drops anything that looks like an XML tag ("<b>"), FTS5 does not.
SEARCH_VECTOR_SQL = (
    "setweight(to_tsvector('simple'::regconfig, translate(title, '<>', '  ')), 'A') || "
    "setweight(to_tsvector('simple'::regconfig, tags_text), 'B') || "
    "setweight(to_tsvector('simple'::regconfig, translate(body, '<>', '  ')), 'C')"
)
# FTS5's table and the shadow tables it creates, and PostgreSQL's column and GIN index: made
# by the migration, mapped by no model.
dialect_only(
    "sqlite", FTS_TABLE, *(f"{FTS_TABLE}_{part}" for part in ("data", "idx", "docsize", "config"))
)
dialect_only("postgresql", SEARCH_INDEX, f"cac_countermeasures.{SEARCH_COLUMN}")

# BIGINT on PostgreSQL; SQLite autoincrements only an INTEGER PRIMARY KEY.
_BigId = BigInteger().with_variant(Integer(), "sqlite")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Countermeasure(Base):
    """A measure a city took, with its text, category, language and credit."""

    __tablename__ = "cac_countermeasures"
    __table_args__ = (
        CheckConstraint(_one_of("category", CATEGORIES), name="category"),
        CheckConstraint(_one_of("language", LANGUAGES), name="language"),
        CheckConstraint("end_day IS NULL OR end_day >= day", name="end_after_start"),
        UniqueConstraint(
            "city_id", "external_ref", name="uq_cac_countermeasures_city_id_external_ref"
        ),
        Index("ix_cac_countermeasures_city_id_day", "city_id", "day"),
        Index("ix_cac_countermeasures_day", "day"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    city_id: Mapped[int] = mapped_column(ForeignKey("cac_cities.id"))
    title: Mapped[str] = mapped_column(String(TITLE_MAX))
    day: Mapped[dt.date] = mapped_column(Date)
    end_day: Mapped[dt.date | None] = mapped_column(Date)
    category: Mapped[str] = mapped_column(String(24))
    language: Mapped[str] = mapped_column(String(2))
    body: Mapped[str] = mapped_column(Text)
    tags_text: Mapped[str] = mapped_column(String(TAGS_TEXT_MAX))
    source: Mapped[str] = mapped_column(String(SOURCE_MAX))
    licence: Mapped[str] = mapped_column(String(LICENCE_MAX))
    source_url: Mapped[str] = mapped_column(String(URL_MAX))
    external_ref: Mapped[str | None] = mapped_column(String(REF_MAX))
    posted_by: Mapped[str] = mapped_column(String(ACTOR_MAX))
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]

    def __repr__(self) -> str:
        return f"Countermeasure(id={self.id!r}, city_id={self.city_id!r}, title={self.title!r})"


class CountermeasureTag(Base):
    """One tag of a countermeasure (lower case)."""

    __tablename__ = "cac_countermeasure_tags"
    __table_args__ = (Index("ix_cac_countermeasure_tags_tag", "tag"),)

    # The conventional name would pass PostgreSQL's 63 characters.
    countermeasure_id: Mapped[int] = mapped_column(
        ForeignKey("cac_countermeasures.id", name="fk_cac_countermeasure_tags_countermeasure_id"),
        primary_key=True,
    )
    tag: Mapped[str] = mapped_column(String(50), primary_key=True)


class Attachment(Base):
    """A file of a countermeasure: its bytes, sniffed type, size and SHA-256."""

    __tablename__ = "cac_attachments"
    __table_args__ = (
        CheckConstraint(_one_of("content_type", ATTACHMENT_TYPES), name="content_type"),
        CheckConstraint("size > 0", name="size"),
        UniqueConstraint(
            "countermeasure_id", "sha256", name="uq_cac_attachments_countermeasure_id_sha256"
        ),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    countermeasure_id: Mapped[int] = mapped_column(ForeignKey("cac_countermeasures.id"))
    filename: Mapped[str] = mapped_column(String(FILENAME_MAX))
    content_type: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    posted_by: Mapped[str] = mapped_column(String(ACTOR_MAX))
    created_at: Mapped[dt.datetime]

    def __repr__(self) -> str:
        return f"Attachment(id={self.id!r}, filename={self.filename!r}, size={self.size!r})"


class Supplier(Base):
    """A maker of test kits or equipment and one product: kind, capacity, business contact."""

    __tablename__ = "cac_suppliers"
    __table_args__ = (
        CheckConstraint(_one_of("kind", SUPPLIER_KINDS), name="kind"),
        CheckConstraint("daily_capacity IS NULL OR daily_capacity >= 0", name="daily_capacity"),
        UniqueConstraint("company", "product", name="uq_cac_suppliers_company_product"),
        UniqueConstraint("external_ref", name="uq_cac_suppliers_external_ref"),
        Index("ix_cac_suppliers_kind", "kind"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    company: Mapped[str] = mapped_column(String(COMPANY_MAX))
    company_local: Mapped[str] = mapped_column(String(COMPANY_MAX))
    product: Mapped[str] = mapped_column(String(PRODUCT_MAX))
    kind: Mapped[str] = mapped_column(String(24))
    country: Mapped[str] = mapped_column(String(2))
    website: Mapped[str] = mapped_column(String(URL_MAX))
    contact: Mapped[str] = mapped_column(String(CONTACT_MAX))
    daily_capacity: Mapped[int | None] = mapped_column(BigInteger)
    notes: Mapped[str] = mapped_column(String(NOTE_MAX))
    source: Mapped[str] = mapped_column(String(NOTE_MAX))
    external_ref: Mapped[str | None] = mapped_column(String(REF_MAX))
    posted_by: Mapped[str] = mapped_column(String(ACTOR_MAX))
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]

    def __repr__(self) -> str:
        return f"Supplier(id={self.id!r}, company={self.company!r}, product={self.product!r})"


class SupplierApproval(Base):
    """A regulatory approval of a supplier's product: authority, date (if known), source, and
    a note saying what remains to be checked."""

    __tablename__ = "cac_supplier_approvals"
    __table_args__ = (
        CheckConstraint(_one_of("authority", APPROVAL_AUTHORITIES), name="authority"),
        Index("ix_cac_supplier_approvals_authority", "authority"),
    )

    supplier_id: Mapped[int] = mapped_column(ForeignKey("cac_suppliers.id"), primary_key=True)
    authority: Mapped[str] = mapped_column(String(24), primary_key=True)
    approved_on: Mapped[dt.date | None] = mapped_column(Date)
    reference: Mapped[str] = mapped_column(String(SOURCE_MAX))
    source: Mapped[str] = mapped_column(String(SOURCE_MAX))
    note: Mapped[str] = mapped_column(String(SOURCE_MAX))
