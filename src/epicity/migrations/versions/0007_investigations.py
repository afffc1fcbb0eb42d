"""Investigations of cases, and the approval gate of the warnings outbox.

- ``investigations``: one per case of case management (``case_id`` -> ``cases.id``): who
  opened it and why, the infectious window, status (open, closed), the traced timeline (JSON:
  stays with place, position, times, sources and confidence), the contacts counted by tier,
  and when it was last traced.
- ``outbox`` gains ``approved_by`` and ``approved_at``: the delivery worker claims only rows a
  health officer approved.

``case_id`` has no foreign key to ``cases``: each domain's branch starts at ``0002_tracing``
and branches are applied in no fixed order, so ``cases`` may not exist yet (the service checks
that the case exists).

Revision ID: 0007_investigations
Revises: 0002_tracing
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007_investigations"
down_revision: str | None = "0002_tracing"
branch_labels: str | Sequence[str] | None = ("investigations",)
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "investigations",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("case_id", sa.BigInteger(), nullable=False),
        sa.Column("person_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("opened_by", sa.String(100), nullable=False),
        sa.Column("opened_at", _TS, nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("window_start", _TS, nullable=False),
        sa.Column("window_end", _TS, nullable=False),
        sa.Column("timeline", _JSON, nullable=False),
        sa.Column("contacts", _JSON, nullable=False),
        sa.Column("traced_by", sa.String(100), nullable=False),
        sa.Column("traced_at", _TS, nullable=False),
        sa.Column("closed_by", sa.String(100), nullable=True),
        sa.Column("closed_at", _TS, nullable=True),
        sa.CheckConstraint("status IN ('open', 'closed')", name="ck_investigations_status"),
        sa.CheckConstraint("window_end > window_start", name="ck_investigations_window"),
        sa.PrimaryKeyConstraint("id", name="pk_investigations"),
        sa.UniqueConstraint("case_id", name="uq_investigations_case_id"),
    )
    op.create_index("ix_investigations_person_id", "investigations", ["person_id"])
    # Plain ADD COLUMNs (no table rebuild on SQLite). Rows queued before the gate existed
    # are not approved either: they wait for a health officer like new ones.
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("approved_by", sa.String(100), nullable=True))
        batch.add_column(sa.Column("approved_at", _TS, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("approved_at")
        batch.drop_column("approved_by")
    op.drop_index("ix_investigations_person_id", table_name="investigations")
    op.drop_table("investigations")
