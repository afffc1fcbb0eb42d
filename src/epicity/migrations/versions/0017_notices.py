"""Place notices: the public notices of places and time windows (``public_notices``).

No foreign key to the outbox: a notice keeps nothing that points to a case (see
``epicity.notices.models``).

Revision ID: 0017_notices
Revises: 0015_case_list_order_pg
Create Date: 2027-01-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_notices"
down_revision: str | None = "0015_case_list_order_pg"
branch_labels: str | Sequence[str] | None = ("notices",)
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "public_notices",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("source_key", sa.String(64), nullable=False),
        sa.Column("venue_name", sa.String(200), nullable=True),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("district", sa.String(100), nullable=True),
        sa.Column("address", sa.String(300), nullable=True),
        sa.Column("visit_date", sa.Date(), nullable=False),
        sa.Column("starts_at", _TS, nullable=False),
        sa.Column("ends_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.Column("published_at", _TS, nullable=False),
        sa.Column("time_known", sa.Boolean(), nullable=False),
        sa.Column("disinfection_advised", sa.Boolean(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.CheckConstraint("source IN ('tracing', 'ds4c')", name="ck_public_notices_source"),
        sa.CheckConstraint("ends_at > starts_at", name="ck_public_notices_window"),
        sa.CheckConstraint("expires_at > ends_at", name="ck_public_notices_expires_after_end"),
        sa.PrimaryKeyConstraint("id", name="pk_public_notices"),
        sa.UniqueConstraint("source_key", name="uq_public_notices_source_key"),
    )
    op.create_index("ix_public_notices_expires_at", "public_notices", ["expires_at"])
    op.create_index("ix_public_notices_starts_at", "public_notices", ["starts_at"])
    op.create_index("ix_public_notices_district", "public_notices", ["district", "starts_at"])


def downgrade() -> None:
    op.drop_index("ix_public_notices_district", table_name="public_notices")
    op.drop_index("ix_public_notices_starts_at", table_name="public_notices")
    op.drop_index("ix_public_notices_expires_at", table_name="public_notices")
    op.drop_table("public_notices")
