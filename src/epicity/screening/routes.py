"""Screening over HTTP (`/api/v1/screening`, `/api/v1/me/screening`).

- Public: centres taking bookings with whether they are open, the current wait and the next
  opening; a centre's free slots on a day (aggregates only: no one's data).
- Staff with ``run_screening``: centres (open, change), the queue, check-in, samples,
  lab batches and their pools, results, turnaround against the 6-hour target.
- Citizens (``read_own_records``): book and cancel their own slots, list their bookings and
  results; the person is always the caller's own pseudonymous id, never a parameter.

Refusals come from `epicity.screening.service` as `ScreeningError`s, mapped to 400 (bad
input), 404 (unknown), 409 (a used barcode, a double booking, a closed, full or past slot, a
sample in the wrong state) by the web layer.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from epicity.accounts.permissions import Capability
from epicity.db import utcnow
from epicity.screening import service
from epicity.screening.errors import ScreeningError
from epicity.screening.models import Batch, Booking, Centre, Sample
from epicity.web.deps import Caller, DbSession, need

__all__ = ["router"]

router = APIRouter(tags=["screening"])

Staff = Annotated[Caller, Depends(need(Capability.RUN_SCREENING))]
Citizen = Annotated[Caller, Depends(need(Capability.READ_OWN_RECORDS))]

Kind = Literal["walk_through", "drive_through", "glove_wall"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Result = Literal["positive", "negative", "inconclusive"]
SampleStatus = Literal["waiting", "collected", "in_lab", "retest", "resulted"]
BARCODE = r"^[A-Za-z0-9][A-Za-z0-9-]{5,31}$"
Barcode = Annotated[str, Field(pattern=BARCODE, examples=["EPC-3F9A0C21B7"])]
PersonId = Annotated[int, Field(ge=1, le=2**63 - 1)]
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]
BarcodePath = Annotated[str, Path(pattern=BARCODE)]

_WEEKDAY_NUMBER = {name: i for i, name in enumerate(service.WEEKDAYS)}


class DayHours(BaseModel):
    """Opening and closing time on one weekday, local time (Asia/Seoul)."""

    opens: dt.time = Field(examples=["09:00"])
    closes: dt.time = Field(examples=["18:00"])


_HOURS_EXAMPLE: dict[str, Any] = {
    d: {"opens": "09:00", "closes": "18:00"} for d in service.WEEKDAYS[:6]
}


class NewCentre(BaseModel):
    """A screening centre to open."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "kind": "walk_through",
                    "name": "Guro-gu Health Centre walk-through",
                    "district": "Guro-gu",
                    "lat": 37.4954,
                    "lon": 126.8874,
                    "lanes": 4,
                    "minutes_per_test": 5,
                    "slot_minutes": 15,
                    "hours": _HOURS_EXAMPLE,
                }
            ]
        }
    )

    kind: Kind
    name: str = Field(min_length=1, max_length=200)
    district: str = Field(min_length=1, max_length=100)
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False, description="WGS84 latitude")
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False, description="WGS84 longitude")
    lanes: int = Field(ge=1, le=100)
    minutes_per_test: float = Field(ge=service.MIN_PACE, le=240, allow_inf_nan=False)
    slot_minutes: int = Field(15, ge=5, le=240, description="Length of a booking slot")
    hours: dict[Weekday, DayHours] = Field(
        min_length=1, description="Opening hours by weekday; a weekday left out is closed"
    )


class CentreChange(BaseModel):
    """Changes to a centre; fields left out stay as they are (hours are replaced whole)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"lanes": 6}, {"active": False}]})

    lanes: int | None = Field(None, ge=1, le=100)
    minutes_per_test: float | None = Field(None, ge=service.MIN_PACE, le=240, allow_inf_nan=False)
    hours: dict[Weekday, DayHours] | None = Field(None, min_length=1)
    active: bool | None = Field(None, description="Whether the centre takes bookings")


class CentreOut(BaseModel):
    """A centre, its hours and (now) whether it is open and the estimated wait."""

    id: int
    kind: str
    name: str
    district: str
    lat: float
    lon: float
    lanes: int
    minutes_per_test: float
    slot_minutes: int
    slot_capacity: int
    active: bool
    hours: dict[str, DayHours]
    open_now: bool
    wait_minutes: float | None = Field(description="Estimated wait now; null while closed")
    next_open: dt.datetime | None = Field(description="Next opening; null while open")


class SlotOut(BaseModel):
    """A booking slot and its places."""

    starts_at: dt.datetime
    ends_at: dt.datetime
    capacity: int
    booked: int
    free: int


class QueueOut(BaseModel):
    """A centre's queue now."""

    centre_id: int
    open_now: bool
    waiting: int
    booked_due: int = Field(description="Booked people due within the wait, not yet arrived")
    wait_minutes: float | None


class NewBooking(BaseModel):
    """A slot to book for yourself."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"centre_id": 1, "slot_start": "2020-03-02T10:15:00+09:00"}]
        }
    )

    centre_id: int = Field(ge=1, le=2**63 - 1)
    slot_start: AwareDatetime = Field(description="The slot's start, with its time zone")


class BookingOut(BaseModel):
    """A booking."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    centre_id: int
    slot_start: dt.datetime
    status: str
    created_at: dt.datetime
    cancelled_at: dt.datetime | None
    checked_in_at: dt.datetime | None


class CheckIn(BaseModel):
    """A person arriving: with their booking, or as a walk-in (their person id)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"booking_id": 12},
                {"person_id": 424242, "barcode": "LAB-2020-000123"},
            ]
        }
    )

    booking_id: int | None = Field(None, ge=1, le=2**63 - 1)
    person_id: PersonId | None = None
    barcode: Barcode | None = Field(None, description="A scanned label; generated if left out")


class SampleOut(BaseModel):
    """A sample as the centre and lab see it."""

    model_config = ConfigDict(from_attributes=True)

    barcode: str
    centre_id: int
    person_id: int
    booking_id: int | None
    arrival: str
    status: str
    result: str | None
    batch_id: int | None
    case_id: int | None
    checked_in_at: dt.datetime
    sampled_at: dt.datetime | None
    received_at: dt.datetime | None
    resulted_at: dt.datetime | None
    notified_at: dt.datetime | None


class NewBatch(BaseModel):
    """Collected samples received by a lab, to run individually or in Dorfman pools."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"lab": "Seoul lab 1", "barcodes": ["EPC-3F9A0C21B7", "EPC-0B12CC4471"]},
                {
                    "lab": "Seoul lab 1",
                    "barcodes": ["EPC-3F9A0C21B7", "EPC-0B12CC4471"],
                    "mode": "pooled",
                    "prevalence": 0.02,
                },
            ]
        }
    )

    lab: str = Field(min_length=1, max_length=100)
    barcodes: list[Barcode] = Field(min_length=1, max_length=service.MAX_BATCH)
    mode: Literal["individual", "pooled"] = "pooled"
    prevalence: float | None = Field(
        None, ge=0, le=1, allow_inf_nan=False, description="Default: the recent positivity"
    )
    pool_size: int | None = Field(
        None, ge=1, le=service.MAX_POOL, description="Default: Dorfman's best for the prevalence"
    )


class PoolOut(BaseModel):
    """A pool of a batch and its members."""

    number: int
    size: int
    result: str | None
    tested_at: dt.datetime | None
    barcodes: list[str]


class BatchOut(BaseModel):
    """A lab batch: how it was pooled, tests used so far and the capacity gain."""

    id: int
    lab: str
    mode: str
    pool_size: int
    prevalence: float | None
    samples: int
    tests_used: int
    capacity_gain: float | None = Field(description="Samples per test used; null before any")
    status: str
    created_at: dt.datetime
    completed_at: dt.datetime | None
    pools: list[PoolOut]


class ResultIn(BaseModel):
    """A test's result."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"result": "negative"}]})

    result: Result


class OutcomeOut(BaseModel):
    """What a result did for one sample."""

    barcode: str
    status: str = Field(description="resulted, or retest (a member of a positive pool)")
    result: str | None
    case_id: int | None = Field(description="The confirmed case a positive result opened")
    traceable: bool = Field(description="The case has a person id and confirmation date")
    notified: bool = Field(description="The result was queued to the person")


# The service's row is the response model: one definition of the figures.
TurnaroundOut = service.TurnaroundRow


class MyResultOut(BaseModel):
    """One of your tests: its result once there is one."""

    model_config = ConfigDict(from_attributes=True)

    barcode: str
    centre_id: int
    status: str
    result: str | None
    sampled_at: dt.datetime | None
    resulted_at: dt.datetime | None


# --------------------------------------------------------------------------------------------
# helpers


def _hours_in(hours: dict[Weekday, DayHours]) -> dict[int, tuple[dt.time, dt.time]]:
    return {_WEEKDAY_NUMBER[d]: (h.opens, h.closes) for d, h in hours.items()}


def _centre_out(session: DbSession, centre: Centre, at: dt.datetime) -> CentreOut:
    hours = service.opening_hours(session, centre_id=centre.id)
    q = service.queue(session, centre_id=centre.id, at=at)
    return CentreOut(
        id=centre.id,
        kind=centre.kind,
        name=centre.name,
        district=centre.district,
        lat=centre.lat,
        lon=centre.lon,
        lanes=centre.lanes,
        minutes_per_test=centre.minutes_per_test,
        slot_minutes=centre.slot_minutes,
        slot_capacity=centre.slot_capacity,
        active=centre.active,
        hours={service.WEEKDAYS[d]: DayHours(opens=o, closes=c) for d, (o, c) in hours.items()},
        open_now=q.open_now,
        wait_minutes=q.wait_minutes,
        next_open=None if q.open_now else service.next_open(hours, at),
    )


def _batch_out(session: DbSession, batch: Batch) -> BatchOut:
    pools = service.batch_pools(session, batch_id=batch.id)
    return BatchOut(
        id=batch.id,
        lab=batch.lab,
        mode=batch.mode,
        pool_size=batch.pool_size,
        prevalence=batch.prevalence,
        samples=batch.samples,
        tests_used=batch.tests_used,
        capacity_gain=batch.samples / batch.tests_used if batch.tests_used else None,
        status=batch.status,
        created_at=batch.created_at,
        completed_at=batch.completed_at,
        pools=[
            PoolOut(
                number=p.number,
                size=p.size,
                result=p.result,
                tested_at=p.tested_at,
                barcodes=list(p.barcodes),
            )
            for p in pools
        ],
    )


def _outcome(o: service.ResultOutcome) -> OutcomeOut:
    return OutcomeOut(
        barcode=o.barcode,
        status=o.status,
        result=o.result,
        case_id=o.case_id,
        traceable=o.traceable,
        notified=o.notified,
    )


def _person_of(caller: Caller) -> int:
    assert caller.user is not None
    if caller.user.person_id is None:  # the accounts table forbids it; be explicit anyway
        raise ScreeningError("person_id: this account has no person id")
    return caller.user.person_id


# --------------------------------------------------------------------------------------------
# public


@router.get("/api/v1/screening/centres", response_model=list[CentreOut])
def centres(session: DbSession) -> list[CentreOut]:
    """Centres taking bookings: open now or when they next open, and the estimated wait."""
    now = utcnow()
    return [_centre_out(session, c, now) for c in service.list_centres(session, active_only=True)]


@router.get("/api/v1/screening/centres/{centre_id}", response_model=CentreOut)
def centre(centre_id: RowId, session: DbSession) -> CentreOut:
    """One centre, its hours and its wait now."""
    return _centre_out(session, service.get_centre(session, centre_id=centre_id), utcnow())


@router.get("/api/v1/screening/centres/{centre_id}/slots", response_model=list[SlotOut])
def centre_slots(
    centre_id: RowId,
    session: DbSession,
    day: Annotated[dt.date | None, Query(description="Local date; default today")] = None,
) -> list[SlotOut]:
    """A centre's booking slots on a day with the places left (no one's data)."""
    on = day or utcnow().astimezone(service.ZONE).date()
    return [
        SlotOut(
            starts_at=s.starts_at, ends_at=s.ends_at, capacity=s.capacity, booked=s.booked,
            free=s.free,
        )
        for s in service.slots(session, centre_id=centre_id, day=on)
    ]  # fmt: skip


# --------------------------------------------------------------------------------------------
# staff: centres, queue, check-in, samples


@router.post("/api/v1/screening/centres", response_model=CentreOut, status_code=201)
def create_centre(body: NewCentre, session: DbSession, caller: Staff) -> CentreOut:
    """Open a screening centre (a name already used is refused with 409)."""
    c = service.create_centre(
        session,
        actor=caller.actor,
        kind=body.kind,
        name=body.name,
        district=body.district,
        lat=body.lat,
        lon=body.lon,
        lanes=body.lanes,
        minutes_per_test=body.minutes_per_test,
        slot_minutes=body.slot_minutes,
        hours=_hours_in(body.hours),
    )
    return _centre_out(session, c, utcnow())


@router.patch("/api/v1/screening/centres/{centre_id}", response_model=CentreOut)
def change_centre(
    centre_id: RowId, body: CentreChange, session: DbSession, caller: Staff
) -> CentreOut:
    """Change a centre's lanes, pace, hours or whether it takes bookings."""
    c = service.update_centre(
        session,
        centre_id=centre_id,
        actor=caller.actor,
        lanes=body.lanes,
        minutes_per_test=body.minutes_per_test,
        hours=None if body.hours is None else _hours_in(body.hours),
        active=body.active,
    )
    return _centre_out(session, c, utcnow())


@router.get("/api/v1/screening/centres/{centre_id}/queue", response_model=QueueOut)
def centre_queue(centre_id: RowId, session: DbSession, _: Staff) -> QueueOut:
    """The centre's queue now: people waiting, booked arrivals due, the estimated wait."""
    q = service.queue(session, centre_id=centre_id)
    return QueueOut(
        centre_id=q.centre_id,
        open_now=q.open_now,
        waiting=q.waiting,
        booked_due=q.booked_due,
        wait_minutes=q.wait_minutes,
    )


@router.post(
    "/api/v1/screening/centres/{centre_id}/check-in", response_model=SampleOut, status_code=201
)
def check_in(centre_id: RowId, body: CheckIn, session: DbSession, caller: Staff) -> SampleOut:
    """Check a person in (booking or walk-in): a waiting sample with a barcode. A barcode used
    before, a booking of another day or centre, a walk-in while closed: 409."""
    sample = service.check_in(
        session,
        centre_id=centre_id,
        actor=caller.actor,
        booking_id=body.booking_id,
        person_id=body.person_id,
        barcode=body.barcode,
    )
    return SampleOut.model_validate(sample)


@router.get("/api/v1/screening/samples", response_model=list[SampleOut])
def samples(
    session: DbSession,
    _: Staff,
    status: SampleStatus | None = None,
    centre_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> list[SampleOut]:
    """Samples, latest check-in first, by status and centre."""
    rows = service.list_samples(
        session, status=status, centre_id=centre_id, limit=limit, offset=offset
    )
    return [SampleOut.model_validate(s) for s in rows]


@router.get("/api/v1/screening/samples/{barcode}", response_model=SampleOut)
def sample(barcode: BarcodePath, session: DbSession, _: Staff) -> SampleOut:
    """One sample."""
    return SampleOut.model_validate(service.get_sample(session, barcode=barcode))


@router.post("/api/v1/screening/samples/{barcode}/collect", response_model=SampleOut)
def collect(barcode: BarcodePath, session: DbSession, _: Staff) -> SampleOut:
    """The swab is taken: the sample leaves the queue for the lab."""
    return SampleOut.model_validate(service.collect_sample(session, barcode=barcode))


@router.post("/api/v1/screening/samples/{barcode}/result", response_model=OutcomeOut)
def sample_result(
    barcode: BarcodePath, body: ResultIn, session: DbSession, caller: Staff
) -> OutcomeOut:
    """The individual retest of a sample from a positive pool (a result is final: 409)."""
    return _outcome(
        service.record_sample_result(
            session, barcode=barcode, result=body.result, actor=caller.actor
        )
    )


# --------------------------------------------------------------------------------------------
# staff: lab batches, turnaround


@router.post("/api/v1/screening/batches", response_model=BatchOut, status_code=201)
def create_batch(body: NewBatch, session: DbSession, caller: Staff) -> BatchOut:
    """Receive collected samples as a batch, individually or in Dorfman pools sized for the
    prevalence (given, or the recent positivity)."""
    batch = service.create_batch(
        session,
        actor=caller.actor,
        lab=body.lab,
        barcodes=body.barcodes,
        mode=body.mode,
        prevalence=body.prevalence,
        pool_size=body.pool_size,
    )
    return _batch_out(session, batch)


@router.get("/api/v1/screening/batches", response_model=list[BatchOut])
def batches(
    session: DbSession,
    _: Staff,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> list[BatchOut]:
    """Batches, newest first, with their pools and capacity gain."""
    rows = service.list_batches(session, limit=limit, offset=offset)
    return [_batch_out(session, b) for b in rows]


@router.get("/api/v1/screening/batches/{batch_id}", response_model=BatchOut)
def batch(batch_id: RowId, session: DbSession, _: Staff) -> BatchOut:
    """One batch."""
    return _batch_out(session, service.get_batch(session, batch_id=batch_id))


@router.post(
    "/api/v1/screening/batches/{batch_id}/pools/{pool_number}/result",
    response_model=list[OutcomeOut],
)
def pool_result(
    batch_id: RowId,
    pool_number: Annotated[int, Path(ge=1, le=10**6)],
    body: ResultIn,
    session: DbSession,
    caller: Staff,
) -> list[OutcomeOut]:
    """A pool's result: negative clears every member, positive sends them to retest (a pool
    of one gives its member's result). Positive results open confirmed cases; every result is
    queued to its person."""
    outcomes = service.record_pool_result(
        session, batch_id=batch_id, pool_number=pool_number, result=body.result, actor=caller.actor
    )
    return [_outcome(o) for o in outcomes]


@router.get("/api/v1/screening/turnaround", response_model=list[TurnaroundOut])
def turnaround(
    session: DbSession,
    _: Staff,
    since: Annotated[dt.date | None, Query(description="Local date; default 6 days ago")] = None,
    until: Annotated[dt.date | None, Query(description="Local date; default today")] = None,
    centre_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> list[TurnaroundOut]:
    """Sample-to-result and sample-to-delivery times per centre and day against 6 hours."""
    today = utcnow().astimezone(service.ZONE).date()
    end = until or today
    # The service refuses years out of range; the default must not overflow first.
    start = since or max(end, dt.date(1900, 1, 7)) - dt.timedelta(days=6)
    rows = service.turnaround(session, since=start, until=end, centre_id=centre_id)
    return rows


# --------------------------------------------------------------------------------------------
# citizens: their own bookings and results


@router.get("/api/v1/me/screening/bookings", response_model=list[BookingOut])
def my_bookings(session: DbSession, caller: Citizen) -> list[BookingOut]:
    """Your bookings, latest first."""
    rows = service.bookings_of(session, person_id=_person_of(caller))
    return [BookingOut.model_validate(b) for b in rows]


@router.post("/api/v1/me/screening/bookings", response_model=BookingOut, status_code=201)
def book(body: NewBooking, session: DbSession, caller: Citizen) -> BookingOut:
    """Book a slot for yourself. A second booking the same day, a slot when the centre is
    closed, a full or past slot: 409."""
    booking: Booking = service.book(
        session, person_id=_person_of(caller), centre_id=body.centre_id, slot_start=body.slot_start
    )
    return BookingOut.model_validate(booking)


@router.post("/api/v1/me/screening/bookings/{booking_id}/cancel", response_model=BookingOut)
def cancel(booking_id: RowId, session: DbSession, caller: Citizen) -> BookingOut:
    """Cancel one of your bookings (another's is 404)."""
    booking = service.cancel_booking(session, booking_id=booking_id, person_id=_person_of(caller))
    return BookingOut.model_validate(booking)


@router.get("/api/v1/me/screening/results", response_model=list[MyResultOut])
def my_results(session: DbSession, caller: Citizen) -> list[MyResultOut]:
    """Your tests, latest first, with their results once there are."""
    rows: list[Sample] = service.results_of(session, person_id=_person_of(caller))
    return [MyResultOut.model_validate(s) for s in rows]
