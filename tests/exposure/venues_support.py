"""Helpers of the venue check-in tests: fixed times, a confirmed case, a signing key."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from epicity.cases.models import Case
from epicity.cases.service import create_case
from epicity.exposure.keyfile import SignatureInfo
from epicity.exposure.signing import Signer, new_private_key

SEOUL = ZoneInfo("Asia/Seoul")
REGISTERED = dt.datetime(2024, 3, 1, 9, 0, tzinfo=SEOUL)  # the venues' registration
NOW = dt.datetime(2024, 3, 10, 15, 0, tzinfo=SEOUL)  # when warnings are made
CONFIRMED = dt.date(2024, 3, 10)
ONSET = dt.date(2024, 3, 9)  # infectious from 2024-03-07 00:00 to 2024-03-11 00:00 (KST)
VISIT_START = dt.datetime(2024, 3, 9, 19, 5, tzinfo=SEOUL)  # published as 19:00-20:40
VISIT_END = dt.datetime(2024, 3, 9, 20, 35, tzinfo=SEOUL)
CAFE = {
    "description": "Cafe Haneul 하늘",
    "address": "12 Wausan-ro, Mapo-gu",
    "venue_type": "permanent_food_service",
    "district": "Mapo-gu",
}


def signer() -> Signer:
    """A fresh export signing key, id 450 version v1 (the key server's defaults)."""
    return Signer(new_private_key(), SignatureInfo("v1", "450"))


def confirmed_case(
    session: Session,
    *,
    ref: str = "V1",
    status: str = "confirmed",
    person_id: int | None = None,
    case_id: int | None = None,
) -> Case:
    """A case confirmed on `CONFIRMED` with symptoms from `ONSET` (or only suspected)."""
    if case_id is not None:  # an explicit id, for the privacy checks
        case = Case(
            id=case_id,
            source="epicity",
            external_ref=ref,
            person_id=person_id,
            status=status,
            symptom_onset=ONSET,
            confirmed_date=CONFIRMED if status != "suspected" else None,
            created_by="test",
            created_at=NOW,
            updated_at=NOW,
        )
        session.add(case)
        session.flush()
        return case
    return create_case(
        session,
        actor="test",
        status=status,
        external_ref=ref,
        person_id=person_id,
        district="Mapo-gu",
        symptom_onset=ONSET,
        confirmed_date=CONFIRMED if status != "suspected" else None,
    )
