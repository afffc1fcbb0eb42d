"""Tables of the exposure-notification key server.

The schema is created and changed only by the migration ``0020_exposure``; these classes must
match it (a test compares the two). No table holds a person id, a case id, a barcode or a
client address, and no key row points at the code or token that let it in: the key server
cannot link a published key to a person (docs/exposure/keyserver.md, "What the server knows").

- ``exposure_verification_codes``: a one-time code sent with a positive result. Only its
  HMAC-SHA256 (``code_hash``, unique) is stored, with what it vouches for (report type, test
  date, symptom onset when known) and when it expires; ``used`` once exchanged. Deleted once
  expired.
- ``exposure_upload_tokens``: the bearer token a code was exchanged for: its SHA-256, the
  code's claims, its expiry and the uploads it had refused. Deleted when used (consumed in the
  upload's transaction), revoked or expired.
- ``exposure_verify_failures``: one row per failed verification, its time only: the global
  brute-force limit counts them across workers. Deleted after an hour.
- ``exposure_keys``: a diagnosis key, once per region it was published to (unique per region
  and key data); ``export_at`` is the hour from which it may be exported (the upload's hour,
  or for a key still valid when uploaded, the first hour after it expired). ``padding`` marks
  the random keys an export added to a small batch (kept so that the daily and hourly files
  share them). Deleted once the key ended more than 14 days ago.
- ``exposure_export_batches``: one export window (region, period, start) already made, with
  its file count (0: the window had no keys, no file).
- ``exposure_export_files``: a signed zip of a batch (``batch_num`` of ``batch_size``), served
  as ``{region}/{name}.zip``; deleted with its batch 14 days after the window ended.
- ``exposure_signing_keys``: the public half of every export signing key used, served to
  clients (the private half stays in its file, with the export job).
- ``exposure_daily_stats``: counts per UTC day (codes issued and used, failed verifications,
  uploads, keys), aggregates only; kept.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from epicity.db import Base

__all__ = [
    "PERIODS",
    "REPORT_TYPES",
    "DailyStats",
    "DiagnosisKeyRow",
    "ExportBatch",
    "ExportFile",
    "SigningKey",
    "UploadToken",
    "VerificationCode",
    "VerifyFailure",
]

# The report types a code can vouch for, named as exposure-notifications-server names them
# ("likely": a clinical diagnosis without a test; "user-report": a self-report).
REPORT_TYPES = ("confirmed", "likely", "user-report")
PERIODS = ("daily", "hourly")
REGION_MAX = 8
NAME_MAX = 40

# BIGINT on PostgreSQL; SQLite autoincrements only an INTEGER PRIMARY KEY.
_BigId = BigInteger().with_variant(Integer(), "sqlite")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class VerificationCode(Base):
    """A one-time verification code: its keyed hash, claims and expiry; no person."""

    __tablename__ = "exposure_verification_codes"
    __table_args__ = (
        CheckConstraint(_one_of("report_type", REPORT_TYPES), name="report_type"),
        UniqueConstraint("code_hash", name="uq_exposure_verification_codes_code_hash"),
        Index("ix_exposure_verification_codes_expires_at", "expires_at"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    report_type: Mapped[str] = mapped_column(String(16))
    test_date: Mapped[dt.date] = mapped_column(Date)
    symptom_onset: Mapped[dt.date | None] = mapped_column(Date)
    expires_at: Mapped[dt.datetime]
    used: Mapped[bool] = mapped_column(Boolean, default=False)

    def __repr__(self) -> str:
        return f"VerificationCode(id={self.id!r}, used={self.used!r})"


class UploadToken(Base):
    """A single-use upload token: its hash, the code's claims, expiry, refused uploads."""

    __tablename__ = "exposure_upload_tokens"
    __table_args__ = (
        CheckConstraint(_one_of("report_type", REPORT_TYPES), name="report_type"),
        CheckConstraint("failed_uploads >= 0", name="failed_uploads"),
        UniqueConstraint("token_hash", name="uq_exposure_upload_tokens_token_hash"),
        Index("ix_exposure_upload_tokens_expires_at", "expires_at"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    report_type: Mapped[str] = mapped_column(String(16))
    test_date: Mapped[dt.date] = mapped_column(Date)
    symptom_onset: Mapped[dt.date | None] = mapped_column(Date)
    expires_at: Mapped[dt.datetime]
    failed_uploads: Mapped[int] = mapped_column(Integer, default=0)

    def __repr__(self) -> str:
        return f"UploadToken(id={self.id!r}, expires_at={self.expires_at!r})"


class VerifyFailure(Base):
    """A failed verification attempt: when, nothing else."""

    __tablename__ = "exposure_verify_failures"
    __table_args__ = (Index("ix_exposure_verify_failures_at", "at"),)

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    at: Mapped[dt.datetime]


class DiagnosisKeyRow(Base):
    """A published diagnosis key in one region (or a padding key an export added)."""

    __tablename__ = "exposure_keys"
    __table_args__ = (
        CheckConstraint("length(key_data) = 16", name="key_data"),
        CheckConstraint("rolling_start_interval_number >= 0", name="rolling_start"),
        CheckConstraint("rolling_period BETWEEN 1 AND 144", name="rolling_period"),
        CheckConstraint("transmission_risk_level BETWEEN 0 AND 8", name="transmission_risk"),
        CheckConstraint("report_type BETWEEN 0 AND 5", name="report_type"),
        CheckConstraint("days_since_onset_of_symptoms BETWEEN -14 AND 14", name="days_since_onset"),
        UniqueConstraint("region", "key_data", name="uq_exposure_keys_region_key_data"),
        Index("ix_exposure_keys_region_export_at", "region", "export_at"),
        Index("ix_exposure_keys_key_data", "key_data"),
        Index("ix_exposure_keys_rolling_start_interval_number", "rolling_start_interval_number"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    key_data: Mapped[bytes] = mapped_column(LargeBinary(16))
    region: Mapped[str] = mapped_column(String(REGION_MAX))
    rolling_start_interval_number: Mapped[int] = mapped_column(BigInteger)
    rolling_period: Mapped[int] = mapped_column(Integer)
    transmission_risk_level: Mapped[int] = mapped_column(Integer)
    report_type: Mapped[int] = mapped_column(Integer)
    days_since_onset_of_symptoms: Mapped[int | None] = mapped_column(Integer)
    export_at: Mapped[dt.datetime]
    padding: Mapped[bool] = mapped_column(Boolean, default=False)

    def __repr__(self) -> str:
        return (
            f"DiagnosisKeyRow(id={self.id!r}, region={self.region!r}, "
            f"start={self.rolling_start_interval_number!r})"
        )


class ExportBatch(Base):
    """An export window made already: region, period, start and end, files and keys."""

    __tablename__ = "exposure_export_batches"
    __table_args__ = (
        CheckConstraint(_one_of("period", PERIODS), name="period"),
        CheckConstraint("end_at > start_at", name="window"),
        CheckConstraint("batch_size >= 0 AND key_count >= 0", name="counts"),
        UniqueConstraint(
            "region", "period", "start_at", name="uq_exposure_export_batches_region_period_start"
        ),
        Index("ix_exposure_export_batches_end_at", "end_at"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    region: Mapped[str] = mapped_column(String(REGION_MAX))
    period: Mapped[str] = mapped_column(String(8))
    start_at: Mapped[dt.datetime]
    end_at: Mapped[dt.datetime]
    batch_size: Mapped[int] = mapped_column(Integer)
    key_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime]

    def __repr__(self) -> str:
        return (
            f"ExportBatch(region={self.region!r}, period={self.period!r}, "
            f"start_at={self.start_at!r}, batch_size={self.batch_size!r})"
        )


class ExportFile(Base):
    """One signed export zip (``export.bin`` + ``export.sig``) of a batch."""

    __tablename__ = "exposure_export_files"
    __table_args__ = (
        CheckConstraint("batch_num >= 1", name="batch_num"),
        UniqueConstraint("region", "name", name="uq_exposure_export_files_region_name"),
        UniqueConstraint(
            "batch_id", "batch_num", name="uq_exposure_export_files_batch_id_batch_num"
        ),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    batch_id: Mapped[int] = mapped_column(
        ForeignKey("exposure_export_batches.id", ondelete="CASCADE")
    )
    region: Mapped[str] = mapped_column(String(REGION_MAX))
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    batch_num: Mapped[int] = mapped_column(Integer)
    key_count: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime]

    def __repr__(self) -> str:
        return f"ExportFile(region={self.region!r}, name={self.name!r})"


class SigningKey(Base):
    """The public half of an export signing key, by key id and version."""

    __tablename__ = "exposure_signing_keys"
    __table_args__ = (
        UniqueConstraint(
            "key_id", "key_version", name="uq_exposure_signing_keys_key_id_key_version"
        ),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    key_id: Mapped[str] = mapped_column(String(64))
    key_version: Mapped[str] = mapped_column(String(64))
    algorithm: Mapped[str] = mapped_column(String(32))
    public_key_pem: Mapped[str] = mapped_column(Text)
    first_used_at: Mapped[dt.datetime]

    def __repr__(self) -> str:
        return f"SigningKey(key_id={self.key_id!r}, key_version={self.key_version!r})"


class DailyStats(Base):
    """The key server's counts of one UTC day (aggregates only)."""

    __tablename__ = "exposure_daily_stats"
    __table_args__ = (
        CheckConstraint(
            "codes_issued >= 0 AND codes_used >= 0 AND verify_failures >= 0 "
            "AND uploads >= 0 AND keys_published >= 0",
            name="counts",
        ),
    )

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    codes_issued: Mapped[int] = mapped_column(Integer, default=0)
    codes_used: Mapped[int] = mapped_column(Integer, default=0)
    verify_failures: Mapped[int] = mapped_column(Integer, default=0)
    uploads: Mapped[int] = mapped_column(Integer, default=0)
    keys_published: Mapped[int] = mapped_column(Integer, default=0)
