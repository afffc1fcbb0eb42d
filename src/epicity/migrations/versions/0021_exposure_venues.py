"""Exposure notification, venue check-ins: registered venues and events (their QR payloads),
investigators' warnings of a case's visit, and the published signed packages. No table holds
a visitor (see epicity.exposure.venue_models).

Revision ID: 0021_exposure_venues
Revises: 0020_exposure
Create Date: 2026-12-13
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021_exposure_venues"
down_revision: str | None = "0020_exposure"
branch_labels: str | Sequence[str] | None = ("exposure_venues",)
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TEMPORARY = (
    "'temporary_club_activity', 'temporary_cultural_event', 'temporary_other', "
    "'temporary_private_event', 'temporary_worship_service'"
)
_TYPES = (
    "'permanent_craft', 'permanent_educational_institution', 'permanent_food_service', "
    "'permanent_other', 'permanent_public_building', 'permanent_retail', "
    "'permanent_workplace', " + _TEMPORARY
)


def upgrade() -> None:
    op.create_table(
        "exposure_venues",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("description", sa.String(100), nullable=False),
        sa.Column("address", sa.String(100), nullable=False),
        sa.Column("venue_type", sa.String(40), nullable=False),
        sa.Column("district", sa.String(40), nullable=False),
        sa.Column("place_id", sa.BigInteger(), nullable=True),
        sa.Column("starts_at", _TS, nullable=True),
        sa.Column("ends_at", _TS, nullable=True),
        sa.Column("default_check_in_minutes", sa.Integer(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("registered_by", sa.String(100), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("ended_at", _TS, nullable=True),
        sa.CheckConstraint(f"venue_type IN ({_TYPES})", name="ck_exposure_venues_venue_type"),
        sa.CheckConstraint(
            f"(venue_type IN ({_TEMPORARY})) = (starts_at IS NOT NULL AND ends_at IS NOT NULL)",
            name="ck_exposure_venues_event_times",
        ),
        sa.CheckConstraint(
            "ends_at IS NULL OR ends_at > starts_at", name="ck_exposure_venues_event_window"
        ),
        sa.CheckConstraint(
            "default_check_in_minutes BETWEEN 10 AND 1440",
            name="ck_exposure_venues_default_check_in_minutes",
        ),
        sa.CheckConstraint("place_id IS NULL OR place_id >= 0", name="ck_exposure_venues_place_id"),
        sa.PrimaryKeyConstraint("id", name="pk_exposure_venues"),
        sa.UniqueConstraint("token_hash", name="uq_exposure_venues_token_hash"),
    )
    op.create_index("ix_exposure_venues_place_id", "exposure_venues", ["place_id"])
    op.create_index("ix_exposure_venues_district", "exposure_venues", ["district"])

    op.create_table(
        "exposure_venue_packages",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("interval_number", sa.BigInteger(), nullable=False),
        sa.Column("region", sa.String(8), nullable=False),
        sa.Column("report_count", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.CheckConstraint("report_count >= 1", name="ck_exposure_venue_packages_report_count"),
        sa.PrimaryKeyConstraint("id", name="pk_exposure_venue_packages"),
        sa.UniqueConstraint("name", name="uq_exposure_venue_packages_name"),
    )
    op.create_index(
        "ix_exposure_venue_packages_expires_at", "exposure_venue_packages", ["expires_at"]
    )

    op.create_table(
        "exposure_venue_warnings",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("venue_id", _BIG_ID, nullable=False),
        sa.Column("case_id", _BIG_ID, nullable=False),
        sa.Column("starts_at", _TS, nullable=False),
        sa.Column("ends_at", _TS, nullable=False),
        sa.Column("start_interval", sa.BigInteger(), nullable=False),
        sa.Column("period", sa.Integer(), nullable=False),
        sa.Column("transmission_risk_level", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("decided_by", sa.String(100), nullable=True),
        sa.Column("decided_at", _TS, nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("package_id", _BIG_ID, nullable=True),
        sa.Column("expires_at", _TS, nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'rejected', 'published')",
            name="ck_exposure_venue_warnings_status",
        ),
        sa.CheckConstraint("ends_at > starts_at", name="ck_exposure_venue_warnings_window"),
        sa.CheckConstraint("period BETWEEN 1 AND 144", name="ck_exposure_venue_warnings_period"),
        sa.CheckConstraint(
            "transmission_risk_level BETWEEN 1 AND 8",
            name="ck_exposure_venue_warnings_transmission_risk_level",
        ),
        sa.CheckConstraint(
            "(status = 'published') = (package_id IS NOT NULL)",
            name="ck_exposure_venue_warnings_published_in_package",
        ),
        sa.ForeignKeyConstraint(
            ["venue_id"],
            ["exposure_venues.id"],
            name="fk_exposure_venue_warnings_venue_id_exposure_venues",
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name="fk_exposure_venue_warnings_case_id_cases"
        ),
        sa.ForeignKeyConstraint(
            ["package_id"],
            ["exposure_venue_packages.id"],
            name="fk_exposure_venue_warnings_package_id_exposure_venue_packages",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_exposure_venue_warnings"),
        sa.UniqueConstraint(
            "venue_id",
            "case_id",
            "start_interval",
            "period",
            name="uq_exposure_venue_warnings_venue_case_window",
        ),
    )
    op.create_index("ix_exposure_venue_warnings_status", "exposure_venue_warnings", ["status"])
    op.create_index(
        "ix_exposure_venue_warnings_expires_at", "exposure_venue_warnings", ["expires_at"]
    )
    op.create_index("ix_exposure_venue_warnings_case_id", "exposure_venue_warnings", ["case_id"])


def downgrade() -> None:
    op.drop_index("ix_exposure_venue_warnings_case_id", table_name="exposure_venue_warnings")
    op.drop_index("ix_exposure_venue_warnings_expires_at", table_name="exposure_venue_warnings")
    op.drop_index("ix_exposure_venue_warnings_status", table_name="exposure_venue_warnings")
    op.drop_table("exposure_venue_warnings")
    op.drop_index("ix_exposure_venue_packages_expires_at", table_name="exposure_venue_packages")
    op.drop_table("exposure_venue_packages")
    op.drop_index("ix_exposure_venues_district", table_name="exposure_venues")
    op.drop_index("ix_exposure_venues_place_id", table_name="exposure_venues")
    op.drop_table("exposure_venues")
