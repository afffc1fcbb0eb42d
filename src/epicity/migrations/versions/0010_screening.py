"""Screening: centres and their hours, booking slots and bookings, samples, lab batches, pools.

``screening_samples.case_id`` refers to ``cases`` (this revision follows the cases branch, so
the table is there) but is not a foreign key: a sample outlives a case's correction, and the
service checks the case. ``outbox_id`` refers to the outbox on another branch.

Revision ID: 0010_screening
Revises: 0008_api_indexes
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_screening"
down_revision: str | None = "0008_api_indexes"
branch_labels: str | Sequence[str] | None = ("screening",)
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

RESULTS = "('positive', 'negative', 'inconclusive')"


def upgrade() -> None:
    op.create_table(
        "screening_centres",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("district", sa.String(100), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lanes", sa.Integer(), nullable=False),
        sa.Column("minutes_per_test", sa.Float(), nullable=False),
        sa.Column("slot_minutes", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.CheckConstraint(
            "kind IN ('walk_through', 'drive_through', 'glove_wall')",
            name="ck_screening_centres_kind",
        ),
        sa.CheckConstraint("lat >= -90 AND lat <= 90", name="ck_screening_centres_lat"),
        sa.CheckConstraint("lon >= -180 AND lon <= 180", name="ck_screening_centres_lon"),
        sa.CheckConstraint("lanes >= 1", name="ck_screening_centres_lanes"),
        sa.CheckConstraint("minutes_per_test > 0", name="ck_screening_centres_minutes_per_test"),
        sa.CheckConstraint("slot_minutes >= 1", name="ck_screening_centres_slot_minutes"),
        sa.PrimaryKeyConstraint("id", name="pk_screening_centres"),
        sa.UniqueConstraint("name", name="uq_screening_centres_name"),
    )

    op.create_table(
        "screening_hours",
        sa.Column("centre_id", _BIG_ID, nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("opens", sa.Time(), nullable=False),
        sa.Column("closes", sa.Time(), nullable=False),
        sa.CheckConstraint("weekday >= 0 AND weekday <= 6", name="ck_screening_hours_weekday"),
        sa.CheckConstraint("opens < closes", name="ck_screening_hours_opens_before_closes"),
        sa.ForeignKeyConstraint(
            ["centre_id"],
            ["screening_centres.id"],
            name="fk_screening_hours_centre_id_screening_centres",
        ),
        sa.PrimaryKeyConstraint("centre_id", "weekday", name="pk_screening_hours"),
    )

    op.create_table(
        "screening_slots",
        sa.Column("centre_id", _BIG_ID, nullable=False),
        sa.Column("starts_at", _TS, nullable=False),
        sa.Column("booked", sa.Integer(), nullable=False),
        sa.CheckConstraint("booked >= 0", name="ck_screening_slots_booked"),
        sa.ForeignKeyConstraint(
            ["centre_id"],
            ["screening_centres.id"],
            name="fk_screening_slots_centre_id_screening_centres",
        ),
        sa.PrimaryKeyConstraint("centre_id", "starts_at", name="pk_screening_slots"),
    )

    op.create_table(
        "screening_bookings",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("centre_id", _BIG_ID, nullable=False),
        sa.Column("person_id", sa.BigInteger(), nullable=False),
        sa.Column("slot_start", _TS, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("active_day", sa.Date(), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("cancelled_at", _TS, nullable=True),
        sa.Column("checked_in_at", _TS, nullable=True),
        sa.CheckConstraint(
            "status IN ('booked', 'cancelled', 'checked_in')", name="ck_screening_bookings_status"
        ),
        sa.CheckConstraint(
            "(status = 'booked') = (active_day IS NOT NULL)",
            name="ck_screening_bookings_active_day_iff_booked",
        ),
        sa.ForeignKeyConstraint(
            ["centre_id"],
            ["screening_centres.id"],
            name="fk_screening_bookings_centre_id_screening_centres",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_screening_bookings"),
        sa.UniqueConstraint(
            "person_id", "active_day", name="uq_screening_bookings_person_id_active_day"
        ),
    )
    op.create_index(
        "ix_screening_bookings_centre_id_slot_start",
        "screening_bookings",
        ["centre_id", "slot_start"],
    )
    op.create_index("ix_screening_bookings_person_id", "screening_bookings", ["person_id"])

    op.create_table(
        "screening_batches",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("lab", sa.String(100), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("pool_size", sa.Integer(), nullable=False),
        sa.Column("prevalence", sa.Float(), nullable=True),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("tests_used", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("completed_at", _TS, nullable=True),
        sa.CheckConstraint("mode IN ('individual', 'pooled')", name="ck_screening_batches_mode"),
        sa.CheckConstraint("status IN ('open', 'done')", name="ck_screening_batches_status"),
        sa.CheckConstraint("pool_size >= 1", name="ck_screening_batches_pool_size"),
        sa.CheckConstraint("samples >= 1", name="ck_screening_batches_samples"),
        sa.CheckConstraint("tests_used >= 0", name="ck_screening_batches_tests_used"),
        sa.CheckConstraint(
            "prevalence IS NULL OR (prevalence >= 0 AND prevalence <= 1)",
            name="ck_screening_batches_prev",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_screening_batches"),
    )

    op.create_table(
        "screening_pools",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("batch_id", _BIG_ID, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("result", sa.String(16), nullable=True),
        sa.Column("tested_at", _TS, nullable=True),
        sa.CheckConstraint(f"result IN {RESULTS}", name="ck_screening_pools_result"),
        sa.CheckConstraint("size >= 1", name="ck_screening_pools_size"),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["screening_batches.id"],
            name="fk_screening_pools_batch_id_screening_batches",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_screening_pools"),
        sa.UniqueConstraint("batch_id", "number", name="uq_screening_pools_batch_id_number"),
    )

    op.create_table(
        "screening_samples",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("barcode", sa.String(32), nullable=False),
        sa.Column("centre_id", _BIG_ID, nullable=False),
        sa.Column("person_id", sa.BigInteger(), nullable=False),
        sa.Column("booking_id", _BIG_ID, nullable=True),
        sa.Column("arrival", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("result", sa.String(16), nullable=True),
        sa.Column("batch_id", _BIG_ID, nullable=True),
        sa.Column("pool_id", _BIG_ID, nullable=True),
        sa.Column("case_id", sa.BigInteger(), nullable=True),
        sa.Column("outbox_id", sa.BigInteger(), nullable=True),
        sa.Column("checked_in_by", sa.String(100), nullable=False),
        sa.Column("checked_in_at", _TS, nullable=False),
        sa.Column("sampled_at", _TS, nullable=True),
        sa.Column("received_at", _TS, nullable=True),
        sa.Column("resulted_at", _TS, nullable=True),
        sa.Column("notified_at", _TS, nullable=True),
        sa.CheckConstraint("arrival IN ('booked', 'walk_in')", name="ck_screening_samples_arrival"),
        sa.CheckConstraint(
            "status IN ('waiting', 'collected', 'in_lab', 'retest', 'resulted')",
            name="ck_screening_samples_status",
        ),
        sa.CheckConstraint(f"result IN {RESULTS}", name="ck_screening_samples_result"),
        sa.CheckConstraint(
            "(status = 'resulted') = (result IS NOT NULL)",
            name="ck_screening_samples_result_iff_resulted",
        ),
        sa.ForeignKeyConstraint(
            ["centre_id"],
            ["screening_centres.id"],
            name="fk_screening_samples_centre_id_screening_centres",
        ),
        sa.ForeignKeyConstraint(
            ["booking_id"],
            ["screening_bookings.id"],
            name="fk_screening_samples_booking_id_screening_bookings",
        ),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["screening_batches.id"],
            name="fk_screening_samples_batch_id_screening_batches",
        ),
        sa.ForeignKeyConstraint(
            ["pool_id"],
            ["screening_pools.id"],
            name="fk_screening_samples_pool_id_screening_pools",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_screening_samples"),
        sa.UniqueConstraint("barcode", name="uq_screening_samples_barcode"),
    )
    op.create_index(
        "ix_screening_samples_centre_id_status", "screening_samples", ["centre_id", "status"]
    )
    op.create_index("ix_screening_samples_status", "screening_samples", ["status"])
    op.create_index("ix_screening_samples_person_id", "screening_samples", ["person_id"])
    op.create_index("ix_screening_samples_batch_id", "screening_samples", ["batch_id"])
    op.create_index("ix_screening_samples_sampled_at", "screening_samples", ["sampled_at"])


def downgrade() -> None:
    for index in (
        "ix_screening_samples_sampled_at",
        "ix_screening_samples_batch_id",
        "ix_screening_samples_person_id",
        "ix_screening_samples_status",
        "ix_screening_samples_centre_id_status",
    ):
        op.drop_index(index, table_name="screening_samples")
    op.drop_table("screening_samples")
    op.drop_table("screening_pools")
    op.drop_table("screening_batches")
    op.drop_index("ix_screening_bookings_person_id", table_name="screening_bookings")
    op.drop_index("ix_screening_bookings_centre_id_slot_start", table_name="screening_bookings")
    op.drop_table("screening_bookings")
    op.drop_table("screening_slots")
    op.drop_table("screening_hours")
    op.drop_table("screening_centres")
