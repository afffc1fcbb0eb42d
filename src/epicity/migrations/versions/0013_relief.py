"""Relief: applications (living support, rent relief, emergency loans), their payments for the
finance system's export, and venue closure orders recorded by officers.

Revision ID: 0013_relief
Revises: 0002_tracing
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013_relief"
down_revision: str | None = "0002_tracing"
branch_labels: str | Sequence[str] | None = ("relief",)
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "relief_applications",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("person_id", sa.BigInteger(), nullable=False),
        sa.Column("household_size", sa.Integer(), nullable=True),
        sa.Column("venue_id", sa.BigInteger(), nullable=True),
        sa.Column("business_number", sa.String(10), nullable=True),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("amount_krw", sa.BigInteger(), nullable=False),
        sa.Column("received_paid_leave", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("eligible", sa.Boolean(), nullable=False),
        sa.Column("eligibility", _JSON, nullable=False),
        sa.Column("submitted_at", _TS, nullable=False),
        sa.Column("decided_by", sa.String(100), nullable=True),
        sa.Column("decided_at", _TS, nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "kind IN ('living_support', 'rent_relief', 'emergency_loan')",
            name="ck_relief_applications_kind",
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'rejected')", name="ck_relief_applications_status"
        ),
        sa.CheckConstraint(
            "period_end >= period_start", name="ck_relief_applications_period_in_order"
        ),
        sa.CheckConstraint("amount_krw > 0", name="ck_relief_applications_amount_positive"),
        sa.CheckConstraint(
            "(kind = 'living_support' AND household_size IS NOT NULL AND venue_id IS NULL)"
            " OR (kind <> 'living_support' AND venue_id IS NOT NULL"
            " AND business_number IS NOT NULL AND household_size IS NULL)",
            name="ck_relief_applications_kind_fields",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_relief_applications"),
    )
    op.create_index("ix_relief_applications_person_id", "relief_applications", ["person_id"])
    op.create_index("ix_relief_applications_venue_id", "relief_applications", ["venue_id"])
    op.create_index("ix_relief_applications_status", "relief_applications", ["status"])

    op.create_table(
        "relief_payments",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("application_id", _BIG_ID, nullable=False),
        sa.Column("reference", sa.String(32), nullable=False),
        sa.Column("person_id", sa.BigInteger(), nullable=False),
        sa.Column("amount_krw", sa.BigInteger(), nullable=False),
        sa.Column("approved_at", _TS, nullable=False),
        sa.Column("exported_at", _TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["relief_applications.id"],
            name="fk_relief_payments_application_id_relief_applications",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_relief_payments"),
        sa.UniqueConstraint("application_id", name="uq_relief_payments_application_id"),
        sa.UniqueConstraint("reference", name="uq_relief_payments_reference"),
    )

    op.create_table(
        "venue_closures",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("venue_id", sa.BigInteger(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("order_ref", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.String(100), nullable=False),
        sa.Column("recorded_at", _TS, nullable=False),
        sa.CheckConstraint("ends_on >= starts_on", name="ck_venue_closures_dates_in_order"),
        sa.PrimaryKeyConstraint("id", name="pk_venue_closures"),
    )
    op.create_index("ix_venue_closures_venue_id", "venue_closures", ["venue_id"])


def downgrade() -> None:
    op.drop_index("ix_venue_closures_venue_id", table_name="venue_closures")
    op.drop_table("venue_closures")
    op.drop_table("relief_payments")
    for column in ("status", "venue_id", "person_id"):
        op.drop_index(f"ix_relief_applications_{column}", table_name="relief_applications")
    op.drop_table("relief_applications")
