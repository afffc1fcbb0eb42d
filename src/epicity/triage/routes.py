"""Self-diagnosis over HTTP (`/api/v1`): the questionnaire, answering it (anyone; a logged-in
citizen's answers are kept under their pseudonymous id) and a citizen's own past answers."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from epicity.accounts.models import CITIZEN
from epicity.accounts.permissions import Capability
from epicity.triage import service
from epicity.triage.engine import AnswerInvalid, load_rules
from epicity.web.deps import Caller, CurrentCaller, DbSession, check_csrf, need

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["self-diagnosis"])

Citizen = Annotated[Caller, Depends(need(Capability.READ_OWN_RECORDS))]

_EXAMPLE_ANSWERS: dict[str, JsonValue] = {
    "symptoms": ["fever", "cough"],
    "temperature_c": 38.2,
    "contact_with_confirmed_case": True,
    "overseas_travel_14d": False,
    "age": 34,
}


class Location(BaseModel):
    """Where the person is (WGS84 degrees); used to order centres, never stored."""

    lat: float = Field(ge=-90, le=90, examples=[37.5665])
    lon: float = Field(ge=-180, le=180, examples=[126.978])


class SelfDiagnosisIn(BaseModel):
    """Answers to the questionnaire (ids from GET /api/v1/self-diagnosis/rules)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"answers": _EXAMPLE_ANSWERS, "location": {"lat": 37.5665, "lon": 126.978}}
            ]
        }
    )

    answers: dict[str, Any] = Field(
        description="Question id -> answer: true/false, a number, or a list of option ids"
    )
    location: Location | None = None


class CentreOut(BaseModel):
    """A screening centre to go to, with its current wait."""

    centre_id: int
    name: str
    kind: str
    district: str
    lat: float
    lon: float
    open_now: bool
    wait_minutes: float | None
    next_open: dt.datetime | None
    distance_m: float | None = Field(description="From the given location; null without one")


class RulesRef(BaseModel):
    """Which rules judged the answers."""

    id: str
    version: int
    sha256: str


class SelfDiagnosisOut(BaseModel):
    """The recommendation, why, and where to get tested."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 12,
                    "recommendation": "get_tested",
                    "advice": "Get tested at a screening centre. ...",
                    "reasons": [
                        "Suspected case: fever or respiratory symptoms within 14 days of "
                        "contact with a confirmed case."
                    ],
                    "fired": ["suspected_case_contact", "contact_no_symptoms"],
                    "rules": {"id": "kdca-2020-v1", "version": 1, "sha256": "3f2a..."},
                    "centres": [
                        {
                            "centre_id": 3,
                            "name": "Jung-gu walk-through",
                            "kind": "walk_through",
                            "district": "Jung-gu",
                            "lat": 37.5636,
                            "lon": 126.9976,
                            "open_now": True,
                            "wait_minutes": 12.5,
                            "next_open": None,
                            "distance_m": 1740.2,
                        }
                    ],
                    "stored_for_you": True,
                }
            ]
        }
    )

    id: int | None = Field(description="The stored answer's id (a logged-in citizen only)")
    recommendation: str = Field(examples=["stay_home_monitor", "get_tested", "urgent_care"])
    advice: str
    reasons: list[str]
    fired: list[str]
    rules: RulesRef
    centres: list[CentreOut]
    stored_for_you: bool


class StoredDiagnosis(BaseModel):
    """A citizen's past self-diagnosis."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    created_at: dt.datetime
    recommendation: str
    fired: list[str]
    answers: dict[str, Any]
    rules_id: str
    rules_version: int
    rules_sha256: str


@router.get("/self-diagnosis/rules")
def rules() -> dict[str, Any]:
    """The current questionnaire and rules (public): questions with their types and ranges,
    the rules, their source (the Korean case definition) and the file's SHA-256."""
    current = load_rules()
    return {**current.document, "sha256": current.sha256}


@router.post(
    "/self-diagnosis",
    response_model=SelfDiagnosisOut,
    dependencies=[Depends(check_csrf)],
    responses={422: {"description": "An answer the questionnaire does not allow"}},
)
def self_diagnose(
    session: DbSession,
    caller: CurrentCaller,
    body: Annotated[SelfDiagnosisIn, Body()],
) -> SelfDiagnosisOut:
    """Answer the questionnaire (anyone may): a recommendation (stay home and monitor, get
    tested, urgent care) with its reasons and, for testing, the three best screening centres
    (open now first, then nearest to `location`) with their waits. A logged-in citizen's
    answers are kept under their pseudonymous id (GET /api/v1/me/self-diagnoses); the
    public's are kept without identity or location, for counts only."""
    user = caller.user
    person_id = user.person_id if user is not None and user.role == CITIZEN else None
    location = (body.location.lat, body.location.lon) if body.location else None
    try:
        found = service.self_diagnose(
            session, answers=body.answers, person_id=person_id, location=location
        )
    except AnswerInvalid as err:
        loc = ("body", *err.field.split("."))
        raise RequestValidationError(
            [{"loc": loc, "msg": err.problem, "type": "value_error"}]
        ) from None
    a = found.assessment
    return SelfDiagnosisOut(
        id=found.stored_id if person_id is not None else None,
        recommendation=a.recommendation,
        advice=a.advice,
        reasons=list(a.reasons),
        fired=list(a.fired),
        rules=RulesRef(id=found.rules.id, version=found.rules.version, sha256=found.rules.sha256),
        centres=[CentreOut(**vars(c)) for c in found.centres],
        stored_for_you=person_id is not None,
    )


@router.get("/me/self-diagnoses", response_model=list[StoredDiagnosis])
def my_self_diagnoses(
    session: DbSession,
    caller: Citizen,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[StoredDiagnosis]:
    """The calling citizen's own self-diagnoses, newest first (nobody else's)."""
    assert caller.user is not None
    person_id = caller.user.person_id
    if person_id is None:
        return []
    rows = service.own_diagnoses(session, person_id=person_id, limit=limit)
    return [StoredDiagnosis.model_validate(r) for r in rows]
