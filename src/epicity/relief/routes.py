"""Relief over HTTP (`/api/v1`): citizens apply and read their own applications; officers
with ``decide_relief`` list, decide and export payments; casework staff record closure
orders for venues."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from epicity.accounts.permissions import Capability
from epicity.relief import service
from epicity.relief.errors import ReliefInvalid
from epicity.relief.models import ReliefApplication
from epicity.web.deps import Caller, DbSession, need

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["relief"])

Citizen = Annotated[Caller, Depends(need(Capability.READ_OWN_RECORDS))]
Officer = Annotated[Caller, Depends(need(Capability.DECIDE_RELIEF))]
Editor = Annotated[Caller, Depends(need(Capability.EDIT_CASES))]
Reader = Annotated[Caller, Depends(need(Capability.READ_CASES))]
AppId = Annotated[int, Path(ge=1, le=2**63 - 1)]
VenueId = Annotated[int, Field(ge=0, le=2**63 - 1)]


class NewApplication(BaseModel):
    """An application: living support (household size) or, for a venue's owner, rent relief or
    an emergency loan (venue, business registration number, amount)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "kind": "living_support",
                    "period_start": "2020-03-02",
                    "period_end": "2020-03-15",
                    "household_size": 4,
                },
                {
                    "kind": "rent_relief",
                    "period_start": "2020-03-09",
                    "period_end": "2020-03-22",
                    "venue_id": 5012,
                    "business_number": "123-45-67891",
                    "amount_krw": 1500000,
                },
            ]
        }
    )

    kind: Literal["living_support", "rent_relief", "emergency_loan"]
    period_start: dt.date
    period_end: dt.date
    household_size: int | None = Field(None, ge=1, le=service.MAX_HOUSEHOLD)
    venue_id: VenueId | None = None
    business_number: str | None = Field(None, min_length=10, max_length=12)
    amount_krw: int | None = Field(None, ge=1, le=10**12)
    received_paid_leave: bool = False


class EligibilityOut(BaseModel):
    """The automatic check: the records found and what is missing."""

    eligible: bool
    evidence: list[str]
    problems: list[str]


class ApplicationOut(BaseModel):
    """An application and its state."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    person_id: int
    household_size: int | None
    venue_id: int | None
    business_number: str | None
    period_start: dt.date
    period_end: dt.date
    amount_krw: int
    received_paid_leave: bool
    status: str
    eligible: bool
    eligibility: EligibilityOut
    submitted_at: dt.datetime
    decided_at: dt.datetime | None
    decision_reason: str | None
    payment_reference: str | None = None


class Decision(BaseModel):
    """An officer's decision, always with a reason."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"approve": True, "reason": "isolation order verified"}]}
    )

    approve: bool
    reason: str = Field(min_length=1, max_length=service.REASON_MAX)


class NewClosure(BaseModel):
    """A closure order for a venue."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "venue_id": 5012,
                    "starts_on": "2020-03-09",
                    "ends_on": "2020-03-22",
                    "order_ref": "Guro-2020-0311",
                    "reason": "cluster at the venue; closure under IDCPA art. 49",
                }
            ]
        }
    )

    venue_id: VenueId
    starts_on: dt.date
    ends_on: dt.date
    order_ref: str = Field(min_length=1, max_length=64)
    reason: str = Field(min_length=1, max_length=service.REASON_MAX)


class ClosureOut(BaseModel):
    """A recorded closure order."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    venue_id: int
    starts_on: dt.date
    ends_on: dt.date
    order_ref: str
    reason: str
    recorded_by: str
    recorded_at: dt.datetime


def _out(session: DbSession, row: ReliefApplication) -> ApplicationOut:
    out = ApplicationOut.model_validate(row)
    payment = service.payment_for(session, application_id=row.id)
    out.payment_reference = payment.reference if payment else None
    return out


def _person(caller: Caller) -> int:
    assert caller.user is not None
    if caller.user.person_id is None:
        raise ReliefInvalid("person_id", "this account has no person id")
    return caller.user.person_id


@router.post("/relief/applications", status_code=201, response_model=ApplicationOut)
def apply(session: DbSession, caller: Citizen, body: NewApplication) -> ApplicationOut:
    """Apply for relief as the calling citizen. Eligibility is checked at once against
    epicity's records and shown; an application of the same kind for an overlapping period
    (same person, or same venue) is refused with 409."""
    row = service.apply(session, person_id=_person(caller), **body.model_dump())
    return _out(session, row)


@router.get("/me/relief/applications", response_model=list[ApplicationOut])
def my_applications(session: DbSession, caller: Citizen) -> list[ApplicationOut]:
    """The calling citizen's own applications, newest first."""
    rows = service.own_applications(session, person_id=_person(caller))
    return [_out(session, r) for r in rows]


@router.get("/me/relief/applications/{application_id}", response_model=ApplicationOut)
def my_application(session: DbSession, caller: Citizen, application_id: AppId) -> ApplicationOut:
    """One of the calling citizen's applications (another's is a 404)."""
    row = service.own_application(session, person_id=_person(caller), application_id=application_id)
    return _out(session, row)


@router.get("/relief/applications", response_model=list[ApplicationOut])
def list_applications(
    session: DbSession,
    _: Officer,
    status: Literal["pending", "approved", "rejected"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> list[ApplicationOut]:
    """Applications, oldest first, filtered by status (officers deciding relief)."""
    rows = service.list_applications(session, status=status, limit=limit, offset=offset)
    return [_out(session, r) for r in rows]


@router.get("/relief/applications/{application_id}", response_model=ApplicationOut)
def get_application(session: DbSession, _: Officer, application_id: AppId) -> ApplicationOut:
    """An application with its eligibility checked again against the current records."""
    row = service.get_application(session, application_id=application_id)
    out = _out(session, row)
    out.eligibility = EligibilityOut(**service.check_eligibility(session, row).to_json())
    out.eligible = out.eligibility.eligible
    return out


@router.post("/relief/applications/{application_id}/decision", response_model=ApplicationOut)
def decide(
    session: DbSession, caller: Officer, application_id: AppId, body: Decision
) -> ApplicationOut:
    """Approve or reject a pending application, with a reason; the applicant is told. An
    application that is not eligible cannot be approved (409)."""
    row = service.decide(
        session,
        application_id=application_id,
        approve=body.approve,
        reason=body.reason,
        actor=caller.actor,
    )
    return _out(session, row)


@router.post(
    "/relief/payments/export",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "Payments as CSV"}},
)
def payments_csv(session: DbSession, _: Officer, new_only: bool = False) -> Response:
    """Approved payments for the city's finance system, as CSV (one row per payment, a stable
    reference each). A POST, since a payment's first export stamps its ``exported_at``;
    exporting again repeats the same rows (``new_only=true``: only payments never exported
    before)."""
    rows = service.export_payments(session, new_only=new_only)
    return Response(
        service.payments_csv(rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="relief-payments.csv"'},
    )


@router.post("/relief/closures", status_code=201, response_model=ClosureOut)
def record_closure(session: DbSession, caller: Editor, body: NewClosure) -> Any:
    """Record a closure order for a venue (its owner may then apply for business relief)."""
    return service.record_closure(session, actor=caller.actor, **body.model_dump())


@router.get("/relief/closures", response_model=list[ClosureOut])
def list_closures(
    session: DbSession,
    _: Reader,
    venue_id: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
) -> Any:
    """Recorded closure orders, newest first, optionally for one venue."""
    return service.list_closures(session, venue_id=venue_id)
