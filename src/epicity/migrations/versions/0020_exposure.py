"""Exposure notification, the key server: verification codes, upload tokens, failed
verifications, diagnosis keys, export batches and files, signing keys' public halves, daily
counts. No table holds a person id or a client address (see epicity.exposure.models).

Revision ID: 0020_exposure
Revises: 0019_cac_library
Create Date: 2026-12-12
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_exposure"
down_revision: str | None = "0019_cac_library"
branch_labels: str | Sequence[str] | None = ("exposure",)
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_REPORT_TYPES = "report_type IN ('confirmed', 'likely', 'user-report')"


def upgrade() -> None:
    op.create_table(
        "exposure_verification_codes",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("report_type", sa.String(16), nullable=False),
        sa.Column("test_date", sa.Date(), nullable=False),
        sa.Column("symptom_onset", sa.Date(), nullable=True),
        sa.Column("expires_at", _TS, nullable=False),
        sa.Column("used", sa.Boolean(), nullable=False),
        sa.CheckConstraint(_REPORT_TYPES, name="ck_exposure_verification_codes_report_type"),
        sa.PrimaryKeyConstraint("id", name="pk_exposure_verification_codes"),
        sa.UniqueConstraint("code_hash", name="uq_exposure_verification_codes_code_hash"),
    )
    op.create_index(
        "ix_exposure_verification_codes_expires_at", "exposure_verification_codes", ["expires_at"]
    )

    op.create_table(
        "exposure_upload_tokens",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("report_type", sa.String(16), nullable=False),
        sa.Column("test_date", sa.Date(), nullable=False),
        sa.Column("symptom_onset", sa.Date(), nullable=True),
        sa.Column("expires_at", _TS, nullable=False),
        sa.Column("failed_uploads", sa.Integer(), nullable=False),
        sa.CheckConstraint(_REPORT_TYPES, name="ck_exposure_upload_tokens_report_type"),
        sa.CheckConstraint("failed_uploads >= 0", name="ck_exposure_upload_tokens_failed_uploads"),
        sa.PrimaryKeyConstraint("id", name="pk_exposure_upload_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_exposure_upload_tokens_token_hash"),
    )
    op.create_index(
        "ix_exposure_upload_tokens_expires_at", "exposure_upload_tokens", ["expires_at"]
    )

    op.create_table(
        "exposure_verify_failures",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_exposure_verify_failures"),
    )
    op.create_index("ix_exposure_verify_failures_at", "exposure_verify_failures", ["at"])

    op.create_table(
        "exposure_keys",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("key_data", sa.LargeBinary(16), nullable=False),
        sa.Column("region", sa.String(8), nullable=False),
        sa.Column("rolling_start_interval_number", sa.BigInteger(), nullable=False),
        sa.Column("rolling_period", sa.Integer(), nullable=False),
        sa.Column("transmission_risk_level", sa.Integer(), nullable=False),
        sa.Column("report_type", sa.Integer(), nullable=False),
        sa.Column("days_since_onset_of_symptoms", sa.Integer(), nullable=True),
        sa.Column("export_at", _TS, nullable=False),
        sa.Column("padding", sa.Boolean(), nullable=False),
        sa.CheckConstraint("length(key_data) = 16", name="ck_exposure_keys_key_data"),
        sa.CheckConstraint(
            "rolling_start_interval_number >= 0", name="ck_exposure_keys_rolling_start"
        ),
        sa.CheckConstraint(
            "rolling_period BETWEEN 1 AND 144", name="ck_exposure_keys_rolling_period"
        ),
        sa.CheckConstraint(
            "transmission_risk_level BETWEEN 0 AND 8", name="ck_exposure_keys_transmission_risk"
        ),
        sa.CheckConstraint("report_type BETWEEN 0 AND 5", name="ck_exposure_keys_report_type"),
        sa.CheckConstraint(
            "days_since_onset_of_symptoms BETWEEN -14 AND 14",
            name="ck_exposure_keys_days_since_onset",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_exposure_keys"),
        sa.UniqueConstraint("region", "key_data", name="uq_exposure_keys_region_key_data"),
    )
    op.create_index("ix_exposure_keys_region_export_at", "exposure_keys", ["region", "export_at"])
    op.create_index("ix_exposure_keys_key_data", "exposure_keys", ["key_data"])
    op.create_index(
        "ix_exposure_keys_rolling_start_interval_number",
        "exposure_keys",
        ["rolling_start_interval_number"],
    )

    op.create_table(
        "exposure_export_batches",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("region", sa.String(8), nullable=False),
        sa.Column("period", sa.String(8), nullable=False),
        sa.Column("start_at", _TS, nullable=False),
        sa.Column("end_at", _TS, nullable=False),
        sa.Column("batch_size", sa.Integer(), nullable=False),
        sa.Column("key_count", sa.Integer(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.CheckConstraint(
            "period IN ('daily', 'hourly')", name="ck_exposure_export_batches_period"
        ),
        sa.CheckConstraint("end_at > start_at", name="ck_exposure_export_batches_window"),
        sa.CheckConstraint(
            "batch_size >= 0 AND key_count >= 0", name="ck_exposure_export_batches_counts"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_exposure_export_batches"),
        sa.UniqueConstraint(
            "region", "period", "start_at", name="uq_exposure_export_batches_region_period_start"
        ),
    )
    op.create_index("ix_exposure_export_batches_end_at", "exposure_export_batches", ["end_at"])

    op.create_table(
        "exposure_export_files",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("batch_id", _BIG_ID, nullable=False),
        sa.Column("region", sa.String(8), nullable=False),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("batch_num", sa.Integer(), nullable=False),
        sa.Column("key_count", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.CheckConstraint("batch_num >= 1", name="ck_exposure_export_files_batch_num"),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["exposure_export_batches.id"],
            name="fk_exposure_export_files_batch_id_exposure_export_batches",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_exposure_export_files"),
        sa.UniqueConstraint("region", "name", name="uq_exposure_export_files_region_name"),
        sa.UniqueConstraint(
            "batch_id", "batch_num", name="uq_exposure_export_files_batch_id_batch_num"
        ),
    )

    op.create_table(
        "exposure_signing_keys",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("key_version", sa.String(64), nullable=False),
        sa.Column("algorithm", sa.String(32), nullable=False),
        sa.Column("public_key_pem", sa.Text(), nullable=False),
        sa.Column("first_used_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_exposure_signing_keys"),
        sa.UniqueConstraint(
            "key_id", "key_version", name="uq_exposure_signing_keys_key_id_key_version"
        ),
    )

    op.create_table(
        "exposure_daily_stats",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("codes_issued", sa.Integer(), nullable=False),
        sa.Column("codes_used", sa.Integer(), nullable=False),
        sa.Column("verify_failures", sa.Integer(), nullable=False),
        sa.Column("uploads", sa.Integer(), nullable=False),
        sa.Column("keys_published", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "codes_issued >= 0 AND codes_used >= 0 AND verify_failures >= 0 "
            "AND uploads >= 0 AND keys_published >= 0",
            name="ck_exposure_daily_stats_counts",
        ),
        sa.PrimaryKeyConstraint("day", name="pk_exposure_daily_stats"),
    )


def downgrade() -> None:
    op.drop_table("exposure_daily_stats")
    op.drop_table("exposure_signing_keys")
    op.drop_table("exposure_export_files")
    op.drop_index("ix_exposure_export_batches_end_at", table_name="exposure_export_batches")
    op.drop_table("exposure_export_batches")
    op.drop_index("ix_exposure_keys_rolling_start_interval_number", table_name="exposure_keys")
    op.drop_index("ix_exposure_keys_key_data", table_name="exposure_keys")
    op.drop_index("ix_exposure_keys_region_export_at", table_name="exposure_keys")
    op.drop_table("exposure_keys")
    op.drop_index("ix_exposure_verify_failures_at", table_name="exposure_verify_failures")
    op.drop_table("exposure_verify_failures")
    op.drop_index("ix_exposure_upload_tokens_expires_at", table_name="exposure_upload_tokens")
    op.drop_table("exposure_upload_tokens")
    op.drop_index(
        "ix_exposure_verification_codes_expires_at", table_name="exposure_verification_codes"
    )
    op.drop_table("exposure_verification_codes")
