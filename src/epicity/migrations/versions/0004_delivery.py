"""Delivery of the warnings outbox: claim/lease and delivery columns, the recipient directory.

- ``outbox`` gains ``claimed_by``, ``claimed_at``, ``lease_until`` (a worker holds a row in
  status ``sending`` until its lease ends) and ``delivered_at``; statuses ``sending`` and
  ``undeliverable`` are allowed. ``not_before`` is the time of the next attempt.
- ``recipients``: pseudonymous person id -> email and/or phone (filled by
  ``epicity deliver contacts``).

Revision ID: 0004_delivery
Revises: 0002_tracing
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_delivery"
down_revision: str | None = "0002_tracing"
branch_labels: str | Sequence[str] | None = ("delivery",)
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)
_OLD_STATUSES = "status IN ('pending', 'sent', 'failed', 'cancelled')"
_NEW_STATUSES = "status IN ('pending', 'sending', 'sent', 'failed', 'cancelled', 'undeliverable')"


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(100), nullable=True))
        batch.add_column(sa.Column("claimed_at", _TS, nullable=True))
        batch.add_column(sa.Column("lease_until", _TS, nullable=True))
        batch.add_column(sa.Column("delivered_at", _TS, nullable=True))
        batch.drop_constraint("ck_outbox_status", type_="check")
        batch.create_check_constraint("ck_outbox_status", _NEW_STATUSES)
    op.create_table(
        "recipients",
        sa.Column("person_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("phone", sa.String(16), nullable=True),
        sa.Column("updated_at", _TS, nullable=False),
        sa.CheckConstraint(
            "email IS NOT NULL OR phone IS NOT NULL", name="ck_recipients_an_address"
        ),
        sa.PrimaryKeyConstraint("person_id", name="pk_recipients"),
    )


def downgrade() -> None:
    op.drop_table("recipients")
    # The old statuses cannot hold these: a claimed row waits again, an unaddressed one failed.
    op.execute("UPDATE outbox SET status = 'pending' WHERE status = 'sending'")
    op.execute("UPDATE outbox SET status = 'failed' WHERE status = 'undeliverable'")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_constraint("ck_outbox_status", type_="check")
        batch.create_check_constraint("ck_outbox_status", _OLD_STATUSES)
        batch.drop_column("delivered_at")
        batch.drop_column("lease_until")
        batch.drop_column("claimed_at")
        batch.drop_column("claimed_by")
