"""Tables of self-diagnosis (migration ``0012_triage``).

``self_diagnoses``: one row per questionnaire answered. A logged-in citizen's row carries their
pseudonymous ``person_id``; an answer from the public carries none, no location and a time
rounded down to the hour (kept only for counts). Every row records the rules that produced the
recommendation: their id, version and the SHA-256 of the rules file.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, Index, Integer, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from epicity.db import Base
from epicity.triage.engine import RECOMMENDATIONS

__all__ = ["SelfDiagnosis"]

_BigId = BigInteger().with_variant(Integer(), "sqlite")
_Json = JSON().with_variant(JSONB(), "postgresql")


class SelfDiagnosis(Base):
    """A questionnaire answered, the recommendation and the rules that gave it."""

    __tablename__ = "self_diagnoses"
    __table_args__ = (
        CheckConstraint(
            f"recommendation IN ({', '.join(repr(r) for r in RECOMMENDATIONS)})",
            name="recommendation",
        ),
        Index("ix_self_diagnoses_person_id", "person_id"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    person_id: Mapped[int | None] = mapped_column(BigInteger)
    rules_id: Mapped[str] = mapped_column(String(64))
    rules_version: Mapped[int] = mapped_column(Integer)
    rules_sha256: Mapped[str] = mapped_column(String(64))
    answers: Mapped[dict[str, Any]] = mapped_column(_Json)
    recommendation: Mapped[str] = mapped_column(String(24))
    fired: Mapped[list[str]] = mapped_column(_Json)
    created_at: Mapped[dt.datetime]
