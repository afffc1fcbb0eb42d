"""The outbox carries personal messages besides tracing's warnings.

``outbox.kind`` also allows ``test_result`` (a screening result to the person tested),
``isolation_notice`` (registration, reminders and release of a person in self-isolation) and
``relief_decision`` (the outcome of a relief application). They go through the same delivery
(retries, one idempotency key each); they need no officer approval, so they are queued approved
by the system (`epicity.tracing.outbox.enqueue_message`).

Revision ID: 0009_outbox_kinds
Revises: 0004_delivery, 0007_investigations (both alter outbox; this merges them)
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009_outbox_kinds"
down_revision: str | Sequence[str] | None = ("0004_delivery", "0007_investigations")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD = "kind IN ('isolation_order', 'test_advice', 'area_alert', 'public_notice')"
_NEW = (
    "kind IN ('isolation_order', 'test_advice', 'area_alert', 'public_notice', "
    "'test_result', 'isolation_notice', 'relief_decision')"
)


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_constraint("ck_outbox_kind", type_="check")
        batch.create_check_constraint("ck_outbox_kind", _NEW)


def downgrade() -> None:
    # The old kinds cannot hold personal messages: they go, delivered or not.
    op.execute(
        "DELETE FROM outbox WHERE kind IN ('test_result', 'isolation_notice', 'relief_decision')"
    )
    with op.batch_alter_table("outbox") as batch:
        batch.drop_constraint("ck_outbox_kind", type_="check")
        batch.create_check_constraint("ck_outbox_kind", _OLD)
