"""Cities Against COVID-19: the countermeasure library (with its full-text index) and the
suppliers directory.

Full-text search differs by backend, and only the backend's own objects are created:

- SQLite: an FTS5 table ``cac_countermeasures_fts`` over the title, tags and text of
  ``cac_countermeasures`` (external content: the text is stored once, in the table), kept in
  sync by three triggers. Its tokenizer is ``unicode61`` with diacritics kept, so a word is
  what PostgreSQL's 'simple' configuration calls a word too (Hangul included).
- PostgreSQL: a stored generated column ``search_vector``, the weighted ``tsvector`` of
  title (A), tags (B) and text (C) with the 'simple' configuration, and a GIN index on it.
  Stored rather than an index on the expression: ranking reads the vector of every match,
  and recomputing it took 2 s for 5,000 matches (bench/library_search.py).

Revision ID: 0019_cac_library
Revises: 0018_cac
Create Date: 2026-12-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_cac_library"
down_revision: str | None = "0018_cac"
branch_labels: str | Sequence[str] | None = ("cac_library",)
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

CATEGORIES = (
    "alert",
    "testing",
    "tracing",
    "isolation",
    "social_distancing",
    "masks",
    "schools",
    "borders",
    "relief",
    "communication",
    "technology",
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
    "kr_mfds_eua",
    "kr_mfds",
    "kr_mfds_export",
    "us_fda_eua",
    "ce_ivd",
    "who_eul",
    "other",
)

FTS = "cac_countermeasures_fts"
SEARCH_VECTOR_SQL = (
    "setweight(to_tsvector('simple'::regconfig, translate(title, '<>', '  ')), 'A') || "
    "setweight(to_tsvector('simple'::regconfig, tags_text), 'B') || "
    "setweight(to_tsvector('simple'::regconfig, translate(body, '<>', '  ')), 'C')"
)
_FTS_COLUMNS = "title, tags_text, body"
_NEW = "new.id, new.title, new.tags_text, new.body"
_OLD = "'delete', old.id, old.title, old.tags_text, old.body"
SQLITE_FTS = (
    f"CREATE VIRTUAL TABLE {FTS} USING fts5({_FTS_COLUMNS}, content='cac_countermeasures', "
    "content_rowid='id', tokenize='unicode61 remove_diacritics 0')",
    f"CREATE TRIGGER {FTS}_ai AFTER INSERT ON cac_countermeasures BEGIN "
    f"INSERT INTO {FTS}(rowid, {_FTS_COLUMNS}) VALUES ({_NEW}); END",
    f"CREATE TRIGGER {FTS}_ad AFTER DELETE ON cac_countermeasures BEGIN "
    f"INSERT INTO {FTS}({FTS}, rowid, {_FTS_COLUMNS}) VALUES ({_OLD}); END",
    f"CREATE TRIGGER {FTS}_au AFTER UPDATE ON cac_countermeasures BEGIN "
    f"INSERT INTO {FTS}({FTS}, rowid, {_FTS_COLUMNS}) VALUES ({_OLD}); "
    f"INSERT INTO {FTS}(rowid, {_FTS_COLUMNS}) VALUES ({_NEW}); END",
)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _dialect() -> str:
    return op.get_bind().dialect.name


def upgrade() -> None:
    op.create_table(
        "cac_countermeasures",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("city_id", _BIG_ID, nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("end_day", sa.Date(), nullable=True),
        sa.Column("category", sa.String(24), nullable=False),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("tags_text", sa.String(1100), nullable=False),
        sa.Column("source", sa.String(500), nullable=False),
        sa.Column("licence", sa.String(200), nullable=False),
        sa.Column("source_url", sa.String(500), nullable=False),
        sa.Column("external_ref", sa.String(100), nullable=True),
        sa.Column("posted_by", sa.String(100), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.CheckConstraint(_one_of("category", CATEGORIES), name="ck_cac_countermeasures_category"),
        sa.CheckConstraint(_one_of("language", LANGUAGES), name="ck_cac_countermeasures_language"),
        sa.CheckConstraint(
            "end_day IS NULL OR end_day >= day", name="ck_cac_countermeasures_end_after_start"
        ),
        sa.ForeignKeyConstraint(
            ["city_id"], ["cac_cities.id"], name="fk_cac_countermeasures_city_id_cac_cities"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_cac_countermeasures"),
        sa.UniqueConstraint(
            "city_id", "external_ref", name="uq_cac_countermeasures_city_id_external_ref"
        ),
    )
    op.create_index("ix_cac_countermeasures_city_id_day", "cac_countermeasures", ["city_id", "day"])
    op.create_index("ix_cac_countermeasures_day", "cac_countermeasures", ["day"])

    op.create_table(
        "cac_countermeasure_tags",
        sa.Column("countermeasure_id", _BIG_ID, nullable=False),
        sa.Column("tag", sa.String(50), nullable=False),
        sa.ForeignKeyConstraint(
            ["countermeasure_id"],
            ["cac_countermeasures.id"],
            name="fk_cac_countermeasure_tags_countermeasure_id",
        ),
        sa.PrimaryKeyConstraint("countermeasure_id", "tag", name="pk_cac_countermeasure_tags"),
    )
    op.create_index("ix_cac_countermeasure_tags_tag", "cac_countermeasure_tags", ["tag"])

    op.create_table(
        "cac_attachments",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("countermeasure_id", _BIG_ID, nullable=False),
        sa.Column("filename", sa.String(200), nullable=False),
        sa.Column("content_type", sa.String(32), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("posted_by", sa.String(100), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.CheckConstraint(
            _one_of("content_type", ATTACHMENT_TYPES), name="ck_cac_attachments_content_type"
        ),
        sa.CheckConstraint("size > 0", name="ck_cac_attachments_size"),
        sa.ForeignKeyConstraint(
            ["countermeasure_id"],
            ["cac_countermeasures.id"],
            name="fk_cac_attachments_countermeasure_id_cac_countermeasures",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_cac_attachments"),
        sa.UniqueConstraint(
            "countermeasure_id", "sha256", name="uq_cac_attachments_countermeasure_id_sha256"
        ),
    )

    op.create_table(
        "cac_suppliers",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("company", sa.String(200), nullable=False),
        sa.Column("company_local", sa.String(200), nullable=False),
        sa.Column("product", sa.String(300), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("website", sa.String(500), nullable=False),
        sa.Column("contact", sa.String(300), nullable=False),
        sa.Column("daily_capacity", sa.BigInteger(), nullable=True),
        sa.Column("notes", sa.String(2000), nullable=False),
        sa.Column("source", sa.String(2000), nullable=False),
        sa.Column("external_ref", sa.String(100), nullable=True),
        sa.Column("posted_by", sa.String(100), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.CheckConstraint(_one_of("kind", SUPPLIER_KINDS), name="ck_cac_suppliers_kind"),
        sa.CheckConstraint(
            "daily_capacity IS NULL OR daily_capacity >= 0",
            name="ck_cac_suppliers_daily_capacity",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_cac_suppliers"),
        sa.UniqueConstraint("company", "product", name="uq_cac_suppliers_company_product"),
        sa.UniqueConstraint("external_ref", name="uq_cac_suppliers_external_ref"),
    )
    op.create_index("ix_cac_suppliers_kind", "cac_suppliers", ["kind"])

    op.create_table(
        "cac_supplier_approvals",
        sa.Column("supplier_id", _BIG_ID, nullable=False),
        sa.Column("authority", sa.String(24), nullable=False),
        sa.Column("approved_on", sa.Date(), nullable=True),
        sa.Column("reference", sa.String(500), nullable=False),
        sa.Column("source", sa.String(500), nullable=False),
        sa.Column("note", sa.String(500), nullable=False),
        sa.CheckConstraint(
            _one_of("authority", APPROVAL_AUTHORITIES), name="ck_cac_supplier_approvals_authority"
        ),
        sa.ForeignKeyConstraint(
            ["supplier_id"],
            ["cac_suppliers.id"],
            name="fk_cac_supplier_approvals_supplier_id_cac_suppliers",
        ),
        sa.PrimaryKeyConstraint("supplier_id", "authority", name="pk_cac_supplier_approvals"),
    )
    op.create_index("ix_cac_supplier_approvals_authority", "cac_supplier_approvals", ["authority"])

    if _dialect() == "sqlite":
        for statement in SQLITE_FTS:
            op.execute(statement)
    elif _dialect() == "postgresql":
        op.execute(
            "ALTER TABLE cac_countermeasures ADD COLUMN search_vector tsvector "
            f"GENERATED ALWAYS AS ({SEARCH_VECTOR_SQL}) STORED"
        )
        op.execute(
            "CREATE INDEX ix_cac_countermeasures_search ON cac_countermeasures "
            "USING gin (search_vector)"
        )


def downgrade() -> None:
    if _dialect() == "sqlite":
        for trigger in ("ai", "ad", "au"):
            op.execute(f"DROP TRIGGER IF EXISTS {FTS}_{trigger}")
        op.execute(f"DROP TABLE IF EXISTS {FTS}")
    elif _dialect() == "postgresql":
        op.drop_index("ix_cac_countermeasures_search", table_name="cac_countermeasures")
        op.drop_column("cac_countermeasures", "search_vector")
    op.drop_index("ix_cac_supplier_approvals_authority", table_name="cac_supplier_approvals")
    op.drop_table("cac_supplier_approvals")
    op.drop_index("ix_cac_suppliers_kind", table_name="cac_suppliers")
    op.drop_table("cac_suppliers")
    op.drop_table("cac_attachments")
    op.drop_index("ix_cac_countermeasure_tags_tag", table_name="cac_countermeasure_tags")
    op.drop_table("cac_countermeasure_tags")
    op.drop_index("ix_cac_countermeasures_day", table_name="cac_countermeasures")
    op.drop_index("ix_cac_countermeasures_city_id_day", table_name="cac_countermeasures")
    op.drop_table("cac_countermeasures")
