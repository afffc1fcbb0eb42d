"""Self-diagnosis: answered questionnaires with the rules version that judged them.

Revision ID: 0012_triage
Revises: 0002_tracing
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012_triage"
down_revision: str | None = "0002_tracing"
branch_labels: str | Sequence[str] | None = ("triage",)
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "self_diagnoses",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("person_id", sa.BigInteger(), nullable=True),
        sa.Column("rules_id", sa.String(64), nullable=False),
        sa.Column("rules_version", sa.Integer(), nullable=False),
        sa.Column("rules_sha256", sa.String(64), nullable=False),
        sa.Column("answers", _JSON, nullable=False),
        sa.Column("recommendation", sa.String(24), nullable=False),
        sa.Column("fired", _JSON, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.CheckConstraint(
            "recommendation IN ('stay_home_monitor', 'get_tested', 'urgent_care')",
            name="ck_self_diagnoses_recommendation",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_self_diagnoses"),
    )
    op.create_index("ix_self_diagnoses_person_id", "self_diagnoses", ["person_id"])


def downgrade() -> None:
    op.drop_index("ix_self_diagnoses_person_id", table_name="self_diagnoses")
    op.drop_table("self_diagnoses")
