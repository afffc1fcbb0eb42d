"""Open data: publications, the daily figures they published (per revision), and protected
breakdown cells (per revision).

Published rows are only ever inserted: a correction is the next revision of a (day, area) or a
cell, so history stays readable. The figures are computed from cases, isolation registrations
and screening samples, but hold no reference to them (aggregates only), so this branch needs
nothing but the shared base.

Revision ID: 0016_opendata
Revises: 0015_case_list_order_pg
Create Date: 2026-12-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_opendata"
down_revision: str | None = "0015_case_list_order_pg"
branch_labels: str | Sequence[str] | None = ("opendata",)
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_FIGURES = (
    "confirmed_new",
    "confirmed_total",
    "deaths_new",
    "deaths_total",
    "released_new",
    "released_total",
    "in_isolation",
    "tests_new",
    "tests_total",
    "positives_new",
)


def upgrade() -> None:
    op.create_table(
        "opendata_publications",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("published_at", _TS, nullable=False),
        sa.Column("published_by", sa.String(100), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("figures_added", sa.Integer(), nullable=False),
        sa.Column("figures_corrected", sa.Integer(), nullable=False),
        sa.Column("cells_changed", sa.Integer(), nullable=False),
        sa.CheckConstraint("figures_added >= 0", name="ck_opendata_publications_figures_added"),
        sa.CheckConstraint(
            "figures_corrected >= 0", name="ck_opendata_publications_figures_corrected"
        ),
        sa.CheckConstraint("cells_changed >= 0", name="ck_opendata_publications_cells_changed"),
        sa.PrimaryKeyConstraint("id", name="pk_opendata_publications"),
    )
    op.create_index(
        "ix_opendata_publications_published_at", "opendata_publications", ["published_at"]
    )

    op.create_table(
        "opendata_figures",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("publication_id", _BIG_ID, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("area", sa.String(32), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in _FIGURES),
        sa.Column("positivity_7d", sa.Float(), nullable=True),
        sa.CheckConstraint("revision >= 1", name="ck_opendata_figures_revision"),
        sa.CheckConstraint(
            "positivity_7d IS NULL OR (positivity_7d >= 0 AND positivity_7d <= 1)",
            name="ck_opendata_figures_positivity_7d",
        ),
        sa.ForeignKeyConstraint(
            ["publication_id"],
            ["opendata_publications.id"],
            name="fk_opendata_figures_publication_id_opendata_publications",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_opendata_figures"),
        sa.UniqueConstraint(
            "day", "area", "revision", name="uq_opendata_figures_day_area_revision"
        ),
    )
    op.create_index("ix_opendata_figures_area_day", "opendata_figures", ["area", "day"])
    op.create_index("ix_opendata_figures_publication_id", "opendata_figures", ["publication_id"])

    op.create_table(
        "opendata_breakdowns",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("publication_id", _BIG_ID, nullable=False),
        sa.Column("dimension", sa.String(32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("row_key", sa.String(32), nullable=False),
        sa.Column("column_key", sa.String(32), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("value", sa.Integer(), nullable=True),
        sa.Column("protection", sa.String(16), nullable=False),
        sa.CheckConstraint(
            "dimension IN ('district_age')", name="ck_opendata_breakdowns_dimension"
        ),
        sa.CheckConstraint(
            "protection IN ('none', 'primary', 'complementary', 'withheld')",
            name="ck_opendata_breakdowns_protection",
        ),
        sa.CheckConstraint("revision >= 1", name="ck_opendata_breakdowns_revision"),
        sa.CheckConstraint(
            "(protection = 'none') = (value IS NOT NULL)",
            name="ck_opendata_breakdowns_value_iff_shown",
        ),
        sa.CheckConstraint("value IS NULL OR value >= 0", name="ck_opendata_breakdowns_value"),
        sa.ForeignKeyConstraint(
            ["publication_id"],
            ["opendata_publications.id"],
            name="fk_opendata_breakdowns_publication_id_opendata_publications",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_opendata_breakdowns"),
        sa.UniqueConstraint(
            "dimension",
            "day",
            "row_key",
            "column_key",
            "revision",
            name="uq_opendata_breakdowns_cell_revision",
        ),
    )
    op.create_index(
        "ix_opendata_breakdowns_publication_id",
        "opendata_breakdowns",
        ["publication_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_opendata_breakdowns_publication_id", table_name="opendata_breakdowns")
    op.drop_table("opendata_breakdowns")
    op.drop_index("ix_opendata_figures_publication_id", table_name="opendata_figures")
    op.drop_index("ix_opendata_figures_area_day", table_name="opendata_figures")
    op.drop_table("opendata_figures")
    op.drop_index("ix_opendata_publications_published_at", table_name="opendata_publications")
    op.drop_table("opendata_publications")
