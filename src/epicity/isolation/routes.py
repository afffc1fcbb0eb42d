"""Self-isolation over HTTP (`/api/v1/isolation`).

- A citizen (``read_own_records``) reaches their own registration only, by their account's
  person id: ``GET /me``, ``POST /me`` (a voluntary registration), ``POST /me/checkins`` and
  ``GET /me/checkins``: what the self-quarantine app calls.
- A health officer (``manage_isolation``) registers a case's close contacts in one call or one
  person, confirms an address, sees their caseload (worst first) and alerts, acknowledges
  alerts and ends registrations.
- The city's SMS gateway posts check-in replies to ``POST /sms``, signed like the delivery
  webhook (``X-Epicity-Signature: sha256=<HMAC-SHA256 of the body with
  EPICITY_WEBHOOK_SECRET>``); the answer carries the text to send back.
"""

from __future__ import annotations

import datetime as dt
import hmac
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, JsonValue
from sqlalchemy.orm import Session

from epicity.accounts.permissions import Capability
from epicity.delivery.channels import SIGNATURE_HEADER, sign
from epicity.delivery.settings import DeliveryConfigError, DeliverySettings
from epicity.isolation import service
from epicity.isolation.errors import (
    IsolationConflict,
    IsolationError,
    IsolationInvalid,
    IsolationNotFound,
)
from epicity.isolation.models import IsolationRegistration
from epicity.web.deps import Caller, DbSession, need

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/isolation", tags=["isolation"])

Citizen = Annotated[Caller, Depends(need(Capability.READ_OWN_RECORDS))]
Officer = Annotated[Caller, Depends(need(Capability.MANAGE_ISOLATION))]
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]
PersonId = Annotated[int, Field(ge=0, le=2**63 - 1)]
Symptom = Literal[
    "fever", "cough", "sore_throat", "shortness_of_breath", "loss_of_taste_or_smell",
    "runny_nose", "muscle_aches", "headache", "diarrhoea", "trouble_breathing_at_rest",
    "chest_pain", "confusion", "bluish_lips",
]  # fmt: skip
assert set(Symptom.__args__) == set(service.SYMPTOMS)  # type: ignore[attr-defined]
Lat = Annotated[float, Field(ge=-90, le=90, description="WGS84 latitude, degrees")]
Lon = Annotated[float, Field(ge=-180, le=180, description="WGS84 longitude, degrees")]
Radius = Annotated[
    int,
    Field(ge=service.MIN_RADIUS_M, le=service.MAX_RADIUS_M, description="Geofence radius, m"),
]
Reason = Annotated[str, Field(min_length=1, max_length=2000)]

_HOME: dict[str, JsonValue] = {"lat": 37.5665, "lon": 126.978, "radius_m": 100}


class GeofenceIO(BaseModel):
    """The isolation address as a geofence: centre and radius."""

    model_config = ConfigDict(json_schema_extra={"examples": [_HOME]})

    lat: Lat
    lon: Lon
    radius_m: Radius = service.DEFAULT_RADIUS_M

    def fence(self) -> service.Geofence:
        """The service's geofence."""
        return service.Geofence(self.lat, self.lon, self.radius_m)


class RegistrationOut(BaseModel):
    """A registration for self-isolation."""

    id: int
    person_id: int
    kind: str
    case_id: int | None
    status: str
    start_date: dt.date
    end_date: dt.date
    last_exposure: dt.date | None
    geofence: GeofenceIO | None
    officer_id: int
    needs_negative_test: bool
    released_at: dt.datetime | None
    release_reason: str | None

    @classmethod
    def of(cls, reg: IsolationRegistration) -> RegistrationOut:
        """From the table row."""
        fence = None
        if reg.lat is not None and reg.lon is not None and reg.radius_m is not None:
            fence = GeofenceIO(lat=reg.lat, lon=reg.lon, radius_m=reg.radius_m)
        return cls(
            id=reg.id,
            person_id=reg.person_id,
            kind=reg.kind,
            case_id=reg.case_id,
            status=reg.status,
            start_date=reg.start_date,
            end_date=reg.end_date,
            last_exposure=reg.last_exposure,
            geofence=fence,
            officer_id=reg.officer_id,
            needs_negative_test=reg.needs_negative_test,
            released_at=reg.released_at,
            release_reason=reg.release_reason,
        )


class PeriodOut(BaseModel):
    """One period of isolation."""

    registration_id: int
    start: dt.date
    end: dt.date
    ordered: bool
    status: str


class MyIsolation(BaseModel):
    """A citizen's isolation: the active registration (or null), every period, the windows."""

    registration: RegistrationOut | None
    periods: list[PeriodOut]
    timezone: str = "Asia/Seoul"
    windows: dict[str, str] = Field(
        default_factory=lambda: {
            name: f"{a.strftime('%H:%M')}-{b.strftime('%H:%M')}"
            for name, (a, b) in service.WINDOWS.items()
        }
    )


class VoluntaryIn(GeofenceIO):
    """A voluntary registration: the isolation address and, optionally, the dates (default:
    from today for 14 days)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{**_HOME, "end_date": "2020-03-23"}]})

    start_date: dt.date | None = None
    end_date: dt.date | None = None


class CheckInIn(BaseModel):
    """A check-in: temperature, symptoms, optionally where the phone is."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"temperature_c": 36.6, "symptoms": []},
                {
                    "temperature_c": 37.8,
                    "symptoms": ["cough", "sore_throat"],
                    "lat": 37.5667,
                    "lon": 126.9781,
                    "accuracy_m": 15,
                },
            ]
        }
    )

    temperature_c: Annotated[float, Field(ge=34, le=43, description="Body temperature, °C")]
    symptoms: Annotated[list[Symptom], Field(max_length=len(service.SYMPTOMS))] = []
    lat: Lat | None = None
    lon: Lon | None = None
    accuracy_m: Annotated[float | None, Field(ge=0, le=service.MAX_ACCURACY_M)] = None


class CheckInOut(BaseModel):
    """A stored check-in and the window it counts for."""

    id: int
    registration_id: int
    at: dt.datetime
    local_date: dt.date
    slot: str
    source: str
    temperature_c: float
    symptoms: list[str]
    lat: float | None
    lon: float | None
    distance_m: float | None


class CheckInAnswer(CheckInOut):
    """A check-in as its sender sees it, with whether the officer was alerted."""

    officer_alerted: bool


def _checkin_out(row: Any) -> CheckInOut:
    return CheckInOut(
        id=row.id,
        registration_id=row.registration_id,
        at=row.at,
        local_date=row.local_date,
        slot=row.slot,
        source=row.source,
        temperature_c=row.temperature_c,
        symptoms=row.symptom_list,
        lat=row.lat,
        lon=row.lon,
        distance_m=row.distance_m,
    )


class NewRegistration(BaseModel):
    """An officer registers one person (ordered or voluntary)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "person_id": 1042,
                    "kind": "ordered",
                    "end_date": "2020-03-22",
                    "last_exposure": "2020-03-08",
                    "geofence": _HOME,
                }
            ]
        }
    )

    person_id: PersonId
    kind: Literal["ordered", "voluntary"] = "ordered"
    start_date: dt.date | None = None
    end_date: dt.date
    last_exposure: dt.date | None = None
    case_id: Annotated[int | None, Field(ge=1, le=2**63 - 1)] = None
    geofence: GeofenceIO | None = None
    officer_id: Annotated[
        int | None, Field(ge=1, le=2**63 - 1, description="Default: the caller")
    ] = None


class ContactAddress(GeofenceIO):
    """The isolation address of one contact."""

    person_id: PersonId


class CaseContactsIn(BaseModel):
    """Register a case's close contacts: the officer to assign (default: the caller), the last
    exposure for contacts without an isolation order from tracing, and known addresses."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"last_exposure": "2020-03-08", "addresses": [{"person_id": 1042, **_HOME}]}
            ]
        }
    )

    officer_id: Annotated[int | None, Field(ge=1, le=2**63 - 1)] = None
    last_exposure: dt.date | None = None
    addresses: Annotated[list[ContactAddress], Field(max_length=10_000)] = []


class CaseContactsOut(BaseModel):
    """What registering a case's contacts did."""

    case_id: int
    registered: list[RegistrationOut]
    extended: list[RegistrationOut]
    already: list[RegistrationOut]
    expired: list[int] = Field(description="Person ids whose 14 days are over already")


class EndIn(BaseModel):
    """Why the registration ends (released after its end date, or ended early)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"reason": "moved to a treatment centre"}]}
    )

    reason: Reason


# The service's alert is the response model: one definition of its fields.
AlertOut = service.AlertInfo


class AckIn(BaseModel):
    """What the officer did about the alert."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"note": "called: phone left at home, back now"}]}
    )

    note: Annotated[str, Field(max_length=2000)] = ""


class CaseloadOut(BaseModel):
    """One person of the caseload."""

    registration_id: int
    person_id: int
    kind: str
    officer_id: int
    start: dt.date
    end: dt.date
    address_set: bool
    needs_negative_test: bool
    open_alerts: list[AlertOut]
    missed_recent: int
    fever: bool
    red_flags: list[str]
    last_checkin_at: dt.datetime | None
    last_temperature_c: float | None
    last_symptoms: list[str]


class RegistrationDetail(BaseModel):
    """A registration with its check-ins (newest first) and alerts."""

    registration: RegistrationOut
    checkins: list[CheckInOut]
    alerts: list[AlertOut]


class SmsIn(BaseModel):
    """An SMS reply as the gateway forwards it."""

    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={"examples": [{"from": "+821012345678", "text": "36.8 cough"}]},
    )

    sender: Annotated[str, Field(alias="from", min_length=1, max_length=32)]
    text: Annotated[str, Field(max_length=service.SMS_MAX)]


class SmsOut(BaseModel):
    """The stored check-in and the reply to send to the phone."""

    checkin_id: int
    reply: str


def _person(caller: Caller) -> int:
    assert caller.user is not None
    if caller.user.person_id is None:
        raise HTTPException(403, "this account has no person id: no own records")
    return int(caller.user.person_id)


def _officer_id(caller: Caller, given: int | None) -> int:
    assert caller.user is not None
    return given if given is not None else int(caller.user.id)


# --------------------------------------------------------------------------------------------
# the citizen


@router.get("/me", response_model=MyIsolation)
def my_isolation(session: DbSession, caller: Citizen) -> MyIsolation:
    """The caller's active registration (null when not isolating), every period, and the
    check-in windows (local time)."""
    person = _person(caller)
    reg = service.active_registration(session, person_id=person)
    periods = service.isolation_periods(session, person_id=person)
    return MyIsolation(
        registration=None if reg is None else RegistrationOut.of(reg),
        periods=[PeriodOut(**p.__dict__) for p in periods],
    )


@router.post("/me", response_model=RegistrationOut, status_code=201)
def register_myself(body: VoluntaryIn, session: DbSession, caller: Citizen) -> RegistrationOut:
    """Register yourself for voluntary self-isolation at the given address (409 when you are
    registered already); a health officer is assigned."""
    reg = service.register_voluntary(
        session,
        person_id=_person(caller),
        geofence=body.fence(),
        actor=caller.actor,
        start=body.start_date,
        end=body.end_date,
    )
    return RegistrationOut.of(reg)


@router.post(
    "/me/checkins",
    response_model=CheckInAnswer,
    status_code=201,
    responses={409: {"description": "You are not in self-isolation: nothing stored"}},
)
def check_in(body: CheckInIn, session: DbSession, caller: Citizen) -> CheckInAnswer:
    """Check in (twice daily: 09:00-12:00 and 17:00-21:00 Seoul time; other times are kept as
    extra check-ins). An impossible value is refused (422) and nothing is stored."""
    done = service.check_in(
        session,
        person_id=_person(caller),
        temperature_c=body.temperature_c,
        symptoms=body.symptoms,
        lat=body.lat,
        lon=body.lon,
        accuracy_m=body.accuracy_m,
    )
    out = _checkin_out(done.checkin)
    return CheckInAnswer(**out.model_dump(), officer_alerted=bool(done.alerts))


@router.get("/me/checkins", response_model=list[CheckInOut])
def my_checkins(
    session: DbSession,
    caller: Citizen,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[CheckInOut]:
    """The check-ins of your active registration, newest first (empty when not isolating)."""
    reg = service.active_registration(session, person_id=_person(caller))
    if reg is None:
        return []
    return [
        _checkin_out(c) for c in service.checkins_of(session, registration_id=reg.id, limit=limit)
    ]


# --------------------------------------------------------------------------------------------
# officers


@router.post("/cases/{case_id}/register", response_model=CaseContactsOut)
def register_contacts(
    case_id: RowId, body: CaseContactsIn, session: DbSession, caller: Officer
) -> CaseContactsOut:
    """Order the case's close contacts into self-isolation, in one call and idempotently
    (people isolating already are listed, or extended by a later exposure)."""
    done = service.register_case_contacts(
        session,
        case_id=case_id,
        officer_id=_officer_id(caller, body.officer_id),
        actor=caller.actor,
        addresses={a.person_id: a.fence() for a in body.addresses},
        last_exposure=body.last_exposure,
    )
    return CaseContactsOut(
        case_id=done.case_id,
        registered=[RegistrationOut.of(r) for r in done.registered],
        extended=[RegistrationOut.of(r) for r in done.extended],
        already=[RegistrationOut.of(r) for r in done.already],
        expired=done.expired,
    )


@router.post("/registrations", response_model=RegistrationOut, status_code=201)
def register_person(body: NewRegistration, session: DbSession, caller: Officer) -> RegistrationOut:
    """Register one person (409 when they are isolating already)."""
    reg = service.register(
        session,
        person_id=body.person_id,
        kind=body.kind,
        start=body.start_date,
        end=body.end_date,
        officer_id=_officer_id(caller, body.officer_id),
        actor=caller.actor,
        geofence=None if body.geofence is None else body.geofence.fence(),
        case_id=body.case_id,
        last_exposure=body.last_exposure,
    )
    return RegistrationOut.of(reg)


@router.get("/registrations/{registration_id}", response_model=RegistrationDetail)
def get_registration(
    registration_id: RowId, session: DbSession, caller: Officer
) -> RegistrationDetail:
    """A registration with its check-ins and alerts."""
    del caller
    reg = service.registration(session, registration_id=registration_id)
    alerts = service.list_alerts(session, registration_id=reg.id, open_only=False)
    return RegistrationDetail(
        registration=RegistrationOut.of(reg),
        checkins=[_checkin_out(c) for c in service.checkins_of(session, registration_id=reg.id)],
        alerts=list(alerts),
    )


@router.put("/registrations/{registration_id}/address", response_model=RegistrationOut)
def set_address(
    registration_id: RowId, body: GeofenceIO, session: DbSession, caller: Officer
) -> RegistrationOut:
    """Set or correct the isolation address (the geofence)."""
    reg = service.set_address(
        session, registration_id=registration_id, geofence=body.fence(), actor=caller.actor
    )
    return RegistrationOut.of(reg)


@router.post("/registrations/{registration_id}/release", response_model=RegistrationOut)
def end_registration(
    registration_id: RowId, body: EndIn, session: DbSession, caller: Officer
) -> RegistrationOut:
    """End a registration: ``released`` once its end date has passed (and a negative test
    where it needs one), else ``ended_early``; the reason is kept."""
    reg = service.end_registration(
        session, registration_id=registration_id, actor=caller.actor, reason=body.reason
    )
    return RegistrationOut.of(reg)


@router.get("/caseload", response_model=list[CaseloadOut])
def caseload(
    session: DbSession,
    caller: Officer,
    everyone: Annotated[bool, Query(alias="all", description="Every officer's")] = False,
) -> list[CaseloadOut]:
    """Your active registrations, worst first: open alerts, missed check-ins, red flags,
    fever, temperature."""
    officer = None if everyone else _officer_id(caller, None)
    rows = service.caseload(session, officer_id=officer)
    return [
        CaseloadOut(
            registration_id=r.registration_id,
            person_id=r.person_id,
            kind=r.kind,
            officer_id=r.officer_id,
            start=r.start,
            end=r.end,
            address_set=r.address_set,
            needs_negative_test=r.needs_negative_test,
            open_alerts=list(r.open_alerts),
            missed_recent=r.missed_recent,
            fever=r.fever,
            red_flags=list(r.red_flags),
            last_checkin_at=r.last_checkin_at,
            last_temperature_c=r.last_temperature_c,
            last_symptoms=list(r.last_symptoms),
        )
        for r in rows
    ]


@router.get("/alerts", response_model=list[AlertOut])
def alerts(
    session: DbSession,
    caller: Officer,
    open_only: Annotated[bool, Query(alias="open")] = True,
    everyone: Annotated[bool, Query(alias="all")] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[AlertOut]:
    """Your alerts, newest first (open ones by default; ``all=true`` for every officer's)."""
    officer = None if everyone else _officer_id(caller, None)
    found = service.list_alerts(session, officer_id=officer, open_only=open_only, limit=limit)
    return found


@router.post("/alerts/{alert_id}/acknowledge", response_model=AlertOut)
def acknowledge(alert_id: RowId, body: AckIn, session: DbSession, caller: Officer) -> AlertOut:
    """Acknowledge an alert, saying what was done (409 when acknowledged already)."""
    return service.acknowledge(session, alert_id=alert_id, actor=caller.actor, note=body.note)


# --------------------------------------------------------------------------------------------
# the SMS gateway


def _webhook_secret() -> str:
    try:
        webhook = DeliverySettings.from_env().webhook
    except DeliveryConfigError as err:
        raise HTTPException(503, f"SMS check-ins are off: {err}") from None
    if webhook is None:
        raise HTTPException(
            503, "SMS check-ins are off: EPICITY_WEBHOOK_URL and EPICITY_WEBHOOK_SECRET unset"
        )
    return webhook.secret


def _sms(session: Session, body: SmsIn) -> service.CheckInResult:
    return service.sms_check_in(session, phone=body.sender, text=body.text)


@router.post(
    "/sms",
    response_model=SmsOut,
    status_code=201,
    responses={
        401: {"description": "Missing or wrong signature"},
        404: {"description": "The phone is not in the recipient directory"},
        409: {"description": "The sender is not in self-isolation"},
        422: {"description": "The text does not parse; `reply` says how to write it"},
        503: {"description": "The webhook secret is not configured"},
    },
)
async def sms_check_in(request: Request, body: SmsIn, session: DbSession) -> Any:
    """A check-in by SMS reply, forwarded by the city's gateway and signed with the webhook
    secret (``X-Epicity-Signature``). Text: a temperature and symptoms, e.g. ``36.8 cough``
    or ``OK 36.5``. Every answer has a ``reply`` to text back."""
    secret = _webhook_secret()
    raw = await request.body()
    sent = request.headers.get(SIGNATURE_HEADER, "")
    if not hmac.compare_digest(sent.encode(), sign(secret, raw).encode()):
        raise HTTPException(401, f"{SIGNATURE_HEADER}: missing or wrong signature")
    try:
        done = await run_in_threadpool(_sms, session, body)
    except IsolationError as err:
        status, reply = 400, str(err)
        if isinstance(err, IsolationInvalid):
            status, reply = 422, err.hint or str(err)
        elif isinstance(err, IsolationNotFound):
            status, reply = 404, "This phone is not registered with the health centre."
        elif isinstance(err, IsolationConflict):
            status = 409
            reply = "You are not registered for self-isolation; no check-in was recorded."
            if "share this phone" in str(err):
                reply = "Several people use this phone: please check in with the app."
        return JSONResponse(
            {"detail": str(err), "hint": getattr(err, "hint", None), "reply": reply},
            status_code=status,
        )
    c = done.checkin
    said = ", ".join(c.symptom_list) or "no symptoms"
    return SmsOut(
        checkin_id=c.id,
        reply=f"Check-in received: {c.temperature_c:.1f} °C, {said}. Thank you.",
    )
