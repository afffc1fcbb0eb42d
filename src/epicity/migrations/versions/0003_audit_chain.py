"""Audit chain: every audit_log entry carries prev_hash and hash (see epicity.privacy.chain).

Existing entries get their hashes computed in id order, chained from the genesis value. The
append-only guard of 0001_privacy is lifted for that backfill and restored before the
migration's transaction commits; no other writer can see the table unguarded.

Revision ID: 0003_audit_chain
Revises: 0002_tracing
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from epicity.db import UTCDateTime
from epicity.privacy.chain import GENESIS_HASH, entry_hash

revision: str = "0003_audit_chain"
down_revision: str | None = "0002_tracing"
branch_labels: str | Sequence[str] | None = ("audit_chain",)
depends_on: str | Sequence[str] | None = None

_PAGE = 1000  # rows read and hashed at a time

# The columns a hash covers, typed so values come back as the application sees them.
_audit = sa.table(
    "audit_log",
    sa.column("id", sa.BigInteger()),
    sa.column("at", UTCDateTime()),
    sa.column("actor", sa.String()),
    sa.column("role", sa.String()),
    sa.column("action", sa.String()),
    sa.column("purpose", sa.Text()),
    sa.column("case_id", sa.BigInteger()),
    sa.column("emergency_id", sa.Integer()),
    sa.column("tables", sa.String()),
    sa.column("rows_returned", sa.BigInteger()),
    sa.column("detail", sa.JSON().with_variant(postgresql.JSONB(), "postgresql")),
    sa.column("prev_hash", sa.String()),
    sa.column("hash", sa.String()),
)


def _lift_guard() -> None:
    """Drop or disable 0001_privacy's refusal of UPDATE and DELETE on audit_log."""
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
    elif dialect == "sqlite":
        # SQLite cannot disable a trigger; a table rebuilt by batch mode loses them anyway.
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")


def _restore_guard() -> None:
    """Put 0001_privacy's refusal of UPDATE and DELETE back (same names and messages)."""
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
    elif dialect == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log "
                f"BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: {verb} refused'); END"
            )


def _backfill() -> None:
    """Chain the existing entries in id order, a page at a time."""
    bind = op.get_bind()
    update = (
        sa.update(_audit)
        .where(_audit.c.id == sa.bindparam("entry_id"))
        .values(prev_hash=sa.bindparam("new_prev"), hash=sa.bindparam("new_hash"))
    )
    prev, last_id = GENESIS_HASH, None
    while True:
        query = sa.select(_audit).order_by(_audit.c.id).limit(_PAGE)
        if last_id is not None:
            query = query.where(_audit.c.id > last_id)
        rows = bind.execute(query).mappings().all()
        if not rows:
            return
        changes = []
        for row in rows:
            digest = entry_hash(row, prev)
            changes.append({"entry_id": row["id"], "new_prev": prev, "new_hash": digest})
            prev, last_id = digest, row["id"]
        bind.execute(update, changes)


def upgrade() -> None:
    _lift_guard()
    op.add_column("audit_log", sa.Column("prev_hash", sa.String(64), nullable=True))
    op.add_column("audit_log", sa.Column("hash", sa.String(64), nullable=True))
    _backfill()
    with op.batch_alter_table("audit_log") as batch:
        batch.alter_column("prev_hash", existing_type=sa.String(64), nullable=False)
        batch.alter_column("hash", existing_type=sa.String(64), nullable=False)
        batch.create_unique_constraint("uq_audit_log_prev_hash", ["prev_hash"])
    _restore_guard()


def downgrade() -> None:
    _lift_guard()
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_constraint("uq_audit_log_prev_hash", type_="unique")
        batch.drop_column("hash")
        batch.drop_column("prev_hash")
    _restore_guard()
