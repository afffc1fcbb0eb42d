"""Isolation: registrations (geofence, dates, officer), twice-daily check-ins, alerts.

A registration may name the case whose contact was ordered into isolation (``cases.id``), so
this branches off the cases branch's head. The officer (``users.id``) is checked by the
service rather than by a foreign key: the accounts branch is a sibling and downgrades alone.

Revision ID: 0011_isolation
Revises: 0008_api_indexes
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_isolation"
down_revision: str | None = "0008_api_indexes"
branch_labels: str | Sequence[str] | None = ("isolation",)
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_ACTIVE = sa.text("status = 'active'")


def upgrade() -> None:
    op.create_table(
        "isolation_registrations",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("person_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("case_id", _BIG_ID, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("last_exposure", sa.Date(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("radius_m", sa.Integer(), nullable=True),
        sa.Column("officer_id", sa.BigInteger(), nullable=False),
        sa.Column("needs_negative_test", sa.Boolean(), nullable=False),
        sa.Column("released_at", _TS, nullable=True),
        sa.Column("released_by", sa.String(100), nullable=True),
        sa.Column("release_reason", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.CheckConstraint(
            "kind IN ('ordered', 'voluntary')", name="ck_isolation_registrations_kind"
        ),
        sa.CheckConstraint(
            "status IN ('active', 'released', 'ended_early')",
            name="ck_isolation_registrations_status",
        ),
        sa.CheckConstraint("end_date >= start_date", name="ck_isolation_registrations_dates"),
        sa.CheckConstraint(
            "(lat IS NULL AND lon IS NULL AND radius_m IS NULL) OR "
            "(lat BETWEEN -90 AND 90 AND lon BETWEEN -180 AND 180 AND radius_m > 0)",
            name="ck_isolation_registrations_geofence",
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name="fk_isolation_registrations_case_id_cases"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_isolation_registrations"),
    )
    op.create_index(
        "uq_isolation_registrations_active_person",
        "isolation_registrations",
        ["person_id"],
        unique=True,
        sqlite_where=_ACTIVE,
        postgresql_where=_ACTIVE,
    )
    op.create_index(
        "ix_isolation_registrations_person_id", "isolation_registrations", ["person_id"]
    )
    op.create_index(
        "ix_isolation_registrations_officer_id_status",
        "isolation_registrations",
        ["officer_id", "status"],
    )
    op.create_index(
        "ix_isolation_registrations_status_end_date",
        "isolation_registrations",
        ["status", "end_date"],
    )
    op.create_index("ix_isolation_registrations_case_id", "isolation_registrations", ["case_id"])

    op.create_table(
        "isolation_checkins",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("registration_id", _BIG_ID, nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("slot", sa.String(8), nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("temperature_c", sa.Float(), nullable=False),
        sa.Column("symptoms", sa.String(300), nullable=False),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("accuracy_m", sa.Float(), nullable=True),
        sa.Column("distance_m", sa.Float(), nullable=True),
        sa.CheckConstraint(
            "slot IN ('morning', 'evening', 'extra')", name="ck_isolation_checkins_slot"
        ),
        sa.CheckConstraint("source IN ('app', 'sms')", name="ck_isolation_checkins_source"),
        sa.CheckConstraint(
            "temperature_c BETWEEN 34 AND 43", name="ck_isolation_checkins_temperature"
        ),
        sa.CheckConstraint(
            "(lat IS NULL AND lon IS NULL) OR "
            "(lat BETWEEN -90 AND 90 AND lon BETWEEN -180 AND 180)",
            name="ck_isolation_checkins_location",
        ),
        sa.ForeignKeyConstraint(
            ["registration_id"],
            ["isolation_registrations.id"],
            name="fk_isolation_checkins_registration_id_isolation_registrations",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_isolation_checkins"),
    )
    op.create_index(
        "ix_isolation_checkins_registration_id_at", "isolation_checkins", ["registration_id", "at"]
    )
    op.create_index(
        "ix_isolation_checkins_local_date_slot", "isolation_checkins", ["local_date", "slot"]
    )

    op.create_table(
        "isolation_alerts",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("registration_id", _BIG_ID, nullable=False),
        sa.Column("officer_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("checkin_id", _BIG_ID, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("acknowledged_at", _TS, nullable=True),
        sa.Column("acknowledged_by", sa.String(100), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "kind IN ('missed_checkin', 'symptoms_worse', 'outside_geofence')",
            name="ck_isolation_alerts_kind",
        ),
        sa.ForeignKeyConstraint(
            ["registration_id"],
            ["isolation_registrations.id"],
            name="fk_isolation_alerts_registration_id_isolation_registrations",
        ),
        sa.ForeignKeyConstraint(
            ["checkin_id"],
            ["isolation_checkins.id"],
            name="fk_isolation_alerts_checkin_id_isolation_checkins",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_isolation_alerts"),
        sa.UniqueConstraint(
            "registration_id", "kind", "key", name="uq_isolation_alerts_registration_id_kind_key"
        ),
    )
    op.create_index(
        "ix_isolation_alerts_officer_id_acknowledged_at",
        "isolation_alerts",
        ["officer_id", "acknowledged_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_isolation_alerts_officer_id_acknowledged_at", table_name="isolation_alerts")
    op.drop_table("isolation_alerts")
    op.drop_index("ix_isolation_checkins_local_date_slot", table_name="isolation_checkins")
    op.drop_index("ix_isolation_checkins_registration_id_at", table_name="isolation_checkins")
    op.drop_table("isolation_checkins")
    for name in (
        "ix_isolation_registrations_case_id",
        "ix_isolation_registrations_status_end_date",
        "ix_isolation_registrations_officer_id_status",
        "ix_isolation_registrations_person_id",
        "uq_isolation_registrations_active_person",
    ):
        op.drop_index(name, table_name="isolation_registrations")
    op.drop_table("isolation_registrations")
