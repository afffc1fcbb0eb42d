"""Tracing: the warnings outbox and investigators' confirmations.

Revision ID: 0002_tracing
Revises: 0001_privacy
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002_tracing"
down_revision: str | None = "0001_privacy"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("case_id", sa.BigInteger(), nullable=False),
        sa.Column("recipient", sa.String(100), nullable=False),
        sa.Column("channel", sa.String(32), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column(
            "payload", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("dedupe_key", sa.String(64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("not_before", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "kind IN ('isolation_order', 'test_advice', 'area_alert', 'public_notice')",
            name="ck_outbox_kind",
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'sent', 'failed', 'cancelled')", name="ck_outbox_status"
        ),
        sa.CheckConstraint("attempts >= 0", name="ck_outbox_attempts_not_negative"),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.UniqueConstraint("dedupe_key", name="uq_outbox_dedupe_key"),
    )
    op.create_index("ix_outbox_status_not_before", "outbox", ["status", "not_before"])
    op.create_index("ix_outbox_case_id", "outbox", ["case_id"])
    op.create_index("ix_outbox_recipient", "outbox", ["recipient"])
    op.create_table(
        "confirmations",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("case_id", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("stay_id", sa.String(100), nullable=True),
        sa.Column("starts_at", _TS, nullable=True),
        sa.Column("ends_at", _TS, nullable=True),
        sa.Column("place_id", sa.BigInteger(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("made_by", sa.String(100), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.CheckConstraint(
            "action IN ('add', 'correct', 'remove')", name="ck_confirmations_action"
        ),
        sa.CheckConstraint("method IN ('cctv', 'interview')", name="ck_confirmations_method"),
        sa.CheckConstraint(
            "starts_at IS NULL OR ends_at IS NULL OR ends_at > starts_at",
            name="ck_confirmations_ends_after_start",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_confirmations"),
    )
    op.create_index("ix_confirmations_case_id", "confirmations", ["case_id"])


def downgrade() -> None:
    op.drop_index("ix_confirmations_case_id", table_name="confirmations")
    op.drop_table("confirmations")
    op.drop_index("ix_outbox_recipient", table_name="outbox")
    op.drop_index("ix_outbox_case_id", table_name="outbox")
    op.drop_index("ix_outbox_status_not_before", table_name="outbox")
    op.drop_table("outbox")
