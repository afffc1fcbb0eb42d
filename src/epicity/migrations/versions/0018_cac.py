"""Cities Against COVID-19: cities (registration and approval), their publishers' API keys,
daily updates and the earlier revisions of each day.

Revision ID: 0018_cac
Revises: 0015_case_list_order_pg
Create Date: 2026-12-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.schema import SchemaItem

revision: str = "0018_cac"
down_revision: str | None = "0015_case_list_order_pg"
branch_labels: str | Sequence[str] | None = ("cac",)
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

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


def _update_columns(table: str) -> list[SchemaItem]:
    """The columns and checks a daily update and its earlier revisions share."""
    items: list[SchemaItem] = [
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("city_id", _BIG_ID, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
    ]
    items += [sa.Column(m, sa.BigInteger(), nullable=True) for m in METRICS]
    items += [
        sa.Column("notes", sa.String(2000), nullable=False),
        sa.Column("source_url", sa.String(500), nullable=False),
        sa.Column("posted_at", _TS, nullable=False),
        sa.Column("posted_by", sa.String(100), nullable=False),
    ]
    items += [sa.CheckConstraint(f"{m} >= 0", name=f"ck_{table}_{m}") for m in METRICS]
    items += [
        sa.CheckConstraint("revision >= 1", name=f"ck_{table}_revision"),
        sa.ForeignKeyConstraint(
            ["city_id"], ["cac_cities.id"], name=f"fk_{table}_city_id_cac_cities"
        ),
        sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
    ]
    return items


def upgrade() -> None:
    op.create_table(
        "cac_cities",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("name_en", sa.String(200), nullable=False),
        sa.Column("name_local", sa.String(200), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("population", sa.BigInteger(), nullable=False),
        sa.Column("time_zone", sa.String(64), nullable=False),
        sa.Column("contact_email", sa.String(254), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("registered_at", _TS, nullable=False),
        sa.Column("decided_at", _TS, nullable=True),
        sa.Column("decided_by", sa.String(100), nullable=True),
        sa.Column("decision_note", sa.String(500), nullable=False),
        sa.CheckConstraint("kind IN ('city', 'nation')", name="ck_cac_cities_kind"),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'rejected')", name="ck_cac_cities_status"
        ),
        sa.CheckConstraint("population > 0", name="ck_cac_cities_population"),
        sa.PrimaryKeyConstraint("id", name="pk_cac_cities"),
        sa.UniqueConstraint("country", "name_en", name="uq_cac_cities_country_name_en"),
    )
    op.create_index("ix_cac_cities_status", "cac_cities", ["status"])

    op.create_table(
        "cac_publishers",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("city_id", _BIG_ID, nullable=False),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("key_prefix", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("revoked_at", _TS, nullable=True),
        sa.Column("revoked_by", sa.String(100), nullable=True),
        sa.Column("last_used_at", _TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["city_id"], ["cac_cities.id"], name="fk_cac_publishers_city_id_cac_cities"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_cac_publishers"),
        sa.UniqueConstraint("key_hash", name="uq_cac_publishers_key_hash"),
    )
    op.create_index("ix_cac_publishers_city_id", "cac_publishers", ["city_id"])

    op.create_table(
        "cac_daily_updates",
        *_update_columns("cac_daily_updates"),
        sa.UniqueConstraint("city_id", "day", name="uq_cac_daily_updates_city_id_day"),
    )

    op.create_table(
        "cac_update_revisions",
        *_update_columns("cac_update_revisions"),
        sa.Column("replaced_at", _TS, nullable=False),
        sa.UniqueConstraint(
            "city_id", "day", "revision", name="uq_cac_update_revisions_city_id_day_revision"
        ),
    )


def downgrade() -> None:
    op.drop_table("cac_update_revisions")
    op.drop_table("cac_daily_updates")
    op.drop_index("ix_cac_publishers_city_id", table_name="cac_publishers")
    op.drop_table("cac_publishers")
    op.drop_index("ix_cac_cities_status", table_name="cac_cities")
    op.drop_table("cac_cities")
