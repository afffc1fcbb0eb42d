"""Screening: centres, bookings, the walk-in queue, samples, lab batches, results, turnaround.

Plain functions over a SQLAlchemy session. They add and flush but do not commit: the caller
owns the transaction (`epicity.db.session_scope`), so a refused request leaves nothing behind.
Bad input raises `ScreeningError` (or a subclass) naming the field. Times are aware instants
stored in UTC; opening hours and "today" are local to Asia/Seoul (`ZONE`).

Centres and bookings
--------------------
A centre has opening hours per weekday and books in slots of ``slot_minutes`` from its
opening time (09:00, 09:15, ...; the last slot ends by closing time). A slot takes
``floor(lanes * slot_minutes / minutes_per_test)`` people. A booking is refused when the
centre is closed then or not taking bookings, the slot has ended, it is full (counted by a
conditional update, so racing bookings cannot overfill it), or the person already has an
active booking that day at any centre (also a unique key in the database).

Queue and samples
-----------------
A person checks in with their booking (that day, at that centre) or walks in (while the
centre is open) and gets a sample with a barcode: generated, or a scanned label's (unique; a
barcode used before is refused). The sample waits in the centre's queue until collected::

    waiting ──collect──> collected ──batch──> in_lab ──pool negative──────────> resulted
                                                 │  └──pool of one: its result──> resulted
                                                 └──pool positive/inconclusive──> retest
                                                                  retest ──result──> resulted

The estimated wait is ``(people waiting + booked arrivals due by then) x minutes_per_test /
lanes``: booked people are served as they arrive, so those due within the wait join it.

Lab batches: Dorfman pooling
----------------------------
A batch runs its samples individually (pools of one) or in Dorfman pools
(`epicity.screening.pooling`): the pool size is given, or the best for the prevalence given,
or for the recent positivity (the last `RECENT_DAYS` days' positive share); with no recent
result the lab is asked for a prevalence. A negative pool clears every member; a positive (or
inconclusive) pool of two or more sends each member to an individual retest, whose result is
the person's. Each pool tested and each retest counts as one test used, so a batch shows its
capacity gain (samples per test).

Results
-------
A result is the person's, whichever way it was reached. A positive one opens a confirmed case
in case management (`epicity.cases.service.create_case`: source ``screening``, the barcode as
its reference, the person's pseudonymous id, the centre's district, test and confirmation
dates), or confirms the person's suspected case, or joins their open confirmed case: either
way the case has a person id and a confirmation date, so it can be traced. Every result is
queued to the person through the outbox (``test_result``, keyed by the barcode) and the time
recorded as ``notified_at``. Turnaround runs from sampling to the result queued and to it
delivered (the outbox row sent), per centre and local day, against the 6-hour target.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import secrets
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from epicity.cases.models import Case
from epicity.cases.service import change_status, create_case
from epicity.db import utcnow
from epicity.exposure.verification import issue_code
from epicity.screening.errors import Conflict, NotFound, ScreeningError, SlotUnavailable
from epicity.screening.models import (
    ACTOR_MAX,
    BATCH_MODES,
    CENTRE_KINDS,
    LAB_MAX,
    NAME_MAX,
    PLACE_MAX,
    RESULTS,
    SAMPLE_STATUSES,
    Batch,
    Booking,
    Centre,
    OpeningHours,
    Pool,
    Sample,
    Slot,
)
from epicity.screening.pooling import make_pools, optimal_pool_size
from epicity.tracing.models import OutboxMessage
from epicity.tracing.outbox import enqueue_message

__all__ = [
    "BARCODE_PATTERN",
    "MAX_BATCH",
    "MAX_POOL",
    "MIN_PACE",
    "RECENT_DAYS",
    "TURNAROUND_TARGET",
    "WEEKDAYS",
    "ZONE",
    "BatchPool",
    "CentreStatus",
    "QueueInfo",
    "ResultInfo",
    "ResultOutcome",
    "SlotInfo",
    "TurnaroundRow",
    "batch_pools",
    "book",
    "bookings_of",
    "cancel_booking",
    "centre_status",
    "check_in",
    "collect_sample",
    "create_batch",
    "create_centre",
    "get_batch",
    "get_centre",
    "get_sample",
    "is_open",
    "latest_result",
    "list_batches",
    "list_centres",
    "list_samples",
    "next_open",
    "opening_hours",
    "percentile",
    "queue",
    "recent_positivity",
    "record_pool_result",
    "record_sample_result",
    "results_of",
    "slots",
    "turnaround",
    "update_centre",
]

ZONE = ZoneInfo("Asia/Seoul")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Seoul's screening centres aimed at results within 6 hours of sampling (issue 5).
TURNAROUND_TARGET = dt.timedelta(hours=6)
RECENT_DAYS = 7  # the window of "recent positivity" that sizes Dorfman pools
MAX_POOL = 32  # larger RT-PCR pools lose too much sensitivity (see pooling.py)
MAX_BATCH = 2000  # samples per batch (about twenty 96-well plates)
MIN_PACE = 0.5  # minutes a test at the least: keeps a slot's capacity a sensible number
YEARS = (1900, 9000)  # instants and dates outside are typing errors (and overflow the zone)
BARCODE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{5,31}")
_RESULT_TEXT = {
    "positive": (
        "Your COVID-19 test (sample {barcode}, taken {taken}) is POSITIVE. Stay where you "
        "are and avoid contact with others; the health centre will call you today about "
        "treatment and isolation."
    ),
    "negative": "Your COVID-19 test (sample {barcode}, taken {taken}) is negative.",
    "inconclusive": (
        "Your COVID-19 test (sample {barcode}, taken {taken}) could not be read. Please come "
        "back for a new test; until then, stay home if you have symptoms."
    ),
}
# Appended to a positive result: the exposure-notification app's verification code.
_CODE_TEXT = (
    " To warn the people you met, anonymously, enter the code {code} in the exposure "
    "notification app (valid until {until}, once)."
)

Hours = Mapping[int, tuple[dt.time, dt.time]]
# A sample's sampling, result-queued and delivery instants (the latter two when they happened).
_Times = tuple[dt.datetime, dt.datetime | None, dt.datetime | None]


# --------------------------------------------------------------------------------------------
# results of the service's reads


@dataclass(frozen=True)
class CentreStatus:
    """A centre as a citizen looking for a test sees it: open now, the wait, next opening."""

    centre_id: int
    name: str
    kind: str
    district: str
    lat: float
    lon: float
    open_now: bool
    wait_minutes: float | None  # None while closed
    next_open: dt.datetime | None  # None while open


@dataclass(frozen=True)
class ResultInfo:
    """A person's test result."""

    result: Literal["positive", "negative", "inconclusive"]
    sampled_at: dt.datetime
    resulted_at: dt.datetime
    barcode: str


@dataclass(frozen=True)
class SlotInfo:
    """One booking slot of a centre and its places."""

    starts_at: dt.datetime
    ends_at: dt.datetime
    capacity: int
    booked: int

    @property
    def free(self) -> int:
        """Places still free."""
        return max(0, self.capacity - self.booked)


@dataclass(frozen=True)
class QueueInfo:
    """A centre's queue: who waits, booked arrivals due within the wait, the estimated wait."""

    centre_id: int
    open_now: bool
    waiting: int
    booked_due: int
    wait_minutes: float | None  # None while closed


@dataclass(frozen=True)
class BatchPool:
    """A pool of a batch with its members' barcodes."""

    number: int
    size: int
    result: str | None
    tested_at: dt.datetime | None
    barcodes: tuple[str, ...]


@dataclass(frozen=True)
class ResultOutcome:
    """What recording a result did for one sample."""

    barcode: str
    person_id: int
    status: str  # "resulted" or "retest"
    result: str | None
    case_id: int | None  # the confirmed case of a positive result
    traceable: bool  # the case has a person id and a confirmation date: tracing can start
    notified: bool  # the result was queued to the person


@dataclass(frozen=True)
class TurnaroundRow:
    """Turnaround of one centre's samples taken on one local day, against the 6-hour target.

    ``share_within`` is the share of samples whose result was queued within the target,
    counting still-pending samples older than the target as misses and leaving out pending
    ones that may still make it (None when nothing is decided yet). ``delivered_*`` is the
    same up to the message's delivery. Hours are medians and 95th percentiles.
    """

    centre_id: int
    centre_name: str
    day: dt.date
    samples: int
    resulted: int
    pending: int
    within_target: int
    share_within: float | None
    median_hours: float | None
    p95_hours: float | None
    delivered: int
    delivered_within: int
    delivered_share_within: float | None
    delivered_median_hours: float | None
    delivered_p95_hours: float | None


# --------------------------------------------------------------------------------------------
# validation


def _text(value: object, what: str, maximum: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ScreeningError(f"{what} must not be empty")
    text = value.strip()
    if len(text) > maximum:
        raise ScreeningError(f"{what} is longer than {maximum} characters")
    if "\x00" in text:
        raise ScreeningError(f"{what} must not contain NUL characters")
    return text


def _choice(value: object, what: str, choices: Iterable[str]) -> str:
    options = tuple(choices)
    if value not in options:
        raise ScreeningError(f"{what} {value!r} is not one of {', '.join(options)}")
    assert isinstance(value, str)
    return value


def _int(value: object, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ScreeningError(f"{what} must be a whole number from {low} to {high}, got {value!r}")
    return value


def _number(value: object, what: str, low: float, high: float, *, open_low: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ScreeningError(f"{what} must be a number, got {value!r}")
    number = float(value)
    if number > high or number < low or (open_low and number == low):
        bound = f"above {low}" if open_low else f"at least {low}"
        raise ScreeningError(f"{what} must be {bound} and at most {high}, got {value!r}")
    return number


def _person(value: object) -> int:
    return _int(value, "person_id", 1, 2**63 - 1)


def _instant(value: object, what: str) -> dt.datetime:
    if not isinstance(value, dt.datetime):
        raise ScreeningError(f"{what} must be a date and time, got {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ScreeningError(f"{what} must have a time zone (e.g. +09:00), got {value!r}")
    _year(value, what)
    return value.astimezone(dt.UTC)


def _date(value: object, what: str) -> dt.date:
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise ScreeningError(f"{what} must be a date (YYYY-MM-DD), got {value!r}")
    _year(value, what)
    return value


def _year(value: dt.date, what: str) -> None:
    if not YEARS[0] <= value.year <= YEARS[1]:
        raise ScreeningError(f"{what}: the year must be from {YEARS[0]} to {YEARS[1]}")


def _now(now: dt.datetime | None) -> dt.datetime:
    return utcnow() if now is None else _instant(now, "now")


def _barcode(value: object) -> str:
    if not isinstance(value, str) or not BARCODE_PATTERN.fullmatch(value.strip()):
        raise ScreeningError(
            "barcode must be 6 to 32 letters, digits or hyphens, starting with a letter or digit"
        )
    return value.strip()


def _hours(hours: Hours, slot_minutes: int) -> dict[int, tuple[dt.time, dt.time]]:
    """Checked opening hours: weekdays 0-6, naive local times, each day at least one slot."""
    if not isinstance(hours, Mapping) or not hours:
        raise ScreeningError("hours: give the opening hours of at least one weekday")
    checked: dict[int, tuple[dt.time, dt.time]] = {}
    for weekday, span in hours.items():
        day = WEEKDAYS[_int(weekday, "hours weekday", 0, 6)]
        if not isinstance(span, tuple | list) or len(span) != 2:
            raise ScreeningError(f"hours.{day}: give an opening and a closing time")
        opens, closes = span
        for what, t in (("opens", opens), ("closes", closes)):
            if not isinstance(t, dt.time) or t.tzinfo is not None:
                raise ScreeningError(f"hours.{day}.{what}: a local time of day (HH:MM), got {t!r}")
        if _minutes(opens) + slot_minutes > _minutes(closes):
            raise ScreeningError(
                f"hours.{day}: {opens:%H:%M}-{closes:%H:%M} must close after it opens, with "
                f"room for at least one {slot_minutes}-minute slot"
            )
        checked[weekday] = (opens.replace(second=0, microsecond=0), closes)
    return checked


def _minutes(t: dt.time) -> float:
    return t.hour * 60 + t.minute + t.second / 60 + t.microsecond / 60e6


def _local(at: dt.datetime) -> dt.datetime:
    return at.astimezone(ZONE)


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=ZONE).astimezone(dt.UTC)


# --------------------------------------------------------------------------------------------
# centres


def create_centre(
    session: Session,
    *,
    actor: str,
    kind: str,
    name: str,
    district: str,
    lat: float,
    lon: float,
    lanes: int,
    minutes_per_test: float,
    hours: Hours,
    slot_minutes: int = 15,
    now: dt.datetime | None = None,
) -> Centre:
    """Open a screening centre with its opening hours (weekday 0 = Monday, local times).

    Raises `ScreeningError` naming the field for bad input (unknown kind, latitude outside
    -90..90, longitude outside -180..180, no lane, hours without room for one slot, a slot
    too short for one test) and `Conflict` when the name is taken.
    """
    when = _now(now)
    actor_ = _text(actor, "actor", ACTOR_MAX)
    kind_ = _choice(kind, "kind", CENTRE_KINDS)
    name_ = _text(name, "name", NAME_MAX)
    district_ = _text(district, "district", PLACE_MAX)
    lat_ = _number(lat, "lat", -90, 90)
    lon_ = _number(lon, "lon", -180, 180)
    lanes_ = _int(lanes, "lanes", 1, 100)
    pace = _number(minutes_per_test, "minutes_per_test", MIN_PACE, 240)
    slot = _int(slot_minutes, "slot_minutes", 5, 240)
    if lanes_ * slot // pace < 1:
        raise ScreeningError(
            f"slot_minutes: a {slot}-minute slot on {lanes_} lane(s) fits no "
            f"{pace:g}-minute test; lengthen the slot or add lanes"
        )
    checked = _hours(hours, slot)
    if session.scalar(select(Centre.id).where(Centre.name == name_)) is not None:
        raise Conflict(f"name: a centre named {name_!r} exists already")
    centre = Centre(
        kind=kind_,
        name=name_,
        district=district_,
        lat=lat_,
        lon=lon_,
        lanes=lanes_,
        minutes_per_test=pace,
        slot_minutes=slot,
        active=True,
        created_by=actor_,
        created_at=when,
        updated_at=when,
    )
    session.add(centre)
    session.flush()
    for weekday, (opens, closes) in sorted(checked.items()):
        session.add(OpeningHours(centre_id=centre.id, weekday=weekday, opens=opens, closes=closes))
    session.flush()
    return centre


def update_centre(
    session: Session,
    *,
    centre_id: int,
    actor: str,
    lanes: int | None = None,
    minutes_per_test: float | None = None,
    hours: Hours | None = None,
    active: bool | None = None,
    now: dt.datetime | None = None,
) -> Centre:
    """Change a centre's lanes, pace, hours (replaced whole) or whether it takes bookings.

    Existing bookings stand whatever changes: the centre honours them.
    """
    when = _now(now)
    _text(actor, "actor", ACTOR_MAX)
    centre = get_centre(session, centre_id=centre_id)
    lanes_ = centre.lanes if lanes is None else _int(lanes, "lanes", 1, 100)
    pace = (
        centre.minutes_per_test
        if minutes_per_test is None
        else _number(minutes_per_test, "minutes_per_test", MIN_PACE, 240)
    )
    if lanes_ * centre.slot_minutes // pace < 1:
        raise ScreeningError(
            f"minutes_per_test: a {centre.slot_minutes}-minute slot on {lanes_} lane(s) fits "
            f"no {pace:g}-minute test"
        )
    checked = None if hours is None else _hours(hours, centre.slot_minutes)
    if active is not None and not isinstance(active, bool):
        raise ScreeningError(f"active must be true or false, got {active!r}")
    centre.lanes = lanes_
    centre.minutes_per_test = pace
    if active is not None:
        centre.active = active
    if checked is not None:
        for row in session.scalars(select(OpeningHours).where(OpeningHours.centre_id == centre.id)):
            session.delete(row)
        session.flush()
        for weekday, (opens, closes) in sorted(checked.items()):
            session.add(
                OpeningHours(centre_id=centre.id, weekday=weekday, opens=opens, closes=closes)
            )
    centre.updated_at = when
    session.flush()
    return centre


def get_centre(session: Session, *, centre_id: int) -> Centre:
    """The centre with id `centre_id`; `NotFound` if there is none."""
    _int(centre_id, "centre_id", 1, 2**63 - 1)
    centre = session.get(Centre, centre_id)
    if centre is None:
        raise NotFound(f"centre_id: no centre with id {centre_id}")
    return centre


def list_centres(session: Session, *, active_only: bool = False) -> list[Centre]:
    """Centres by district and name (only those taking bookings with `active_only`)."""
    query = select(Centre).order_by(Centre.district, Centre.name, Centre.id)
    if active_only:
        query = query.where(Centre.active.is_(True))
    return list(session.scalars(query))


def opening_hours(session: Session, *, centre_id: int) -> dict[int, tuple[dt.time, dt.time]]:
    """A centre's hours by weekday (0 = Monday): (opens, closes), local times."""
    return {
        h.weekday: (h.opens, h.closes)
        for h in session.scalars(
            select(OpeningHours)
            .where(OpeningHours.centre_id == centre_id)
            .order_by(OpeningHours.weekday)
        )
    }


def _all_hours(session: Session) -> dict[int, dict[int, tuple[dt.time, dt.time]]]:
    found: dict[int, dict[int, tuple[dt.time, dt.time]]] = defaultdict(dict)
    for h in session.scalars(select(OpeningHours)):
        found[h.centre_id][h.weekday] = (h.opens, h.closes)
    return found


def is_open(hours: Hours, at: dt.datetime) -> bool:
    """Whether hours `hours` (weekday -> local opens, closes) have the centre open at `at`."""
    local = _local(_instant(at, "at"))
    span = hours.get(local.weekday())
    return span is not None and span[0] <= local.time().replace(tzinfo=None) < span[1]


def next_open(hours: Hours, at: dt.datetime) -> dt.datetime | None:
    """The next opening instant after `at` (UTC), within a week; None if never open."""
    at = _instant(at, "at")
    local = _local(at)
    for ahead in range(8):
        day = local.date() + dt.timedelta(days=ahead)
        span = hours.get(day.weekday())
        if span is None:
            continue
        opening = dt.datetime.combine(day, span[0], tzinfo=ZONE).astimezone(dt.UTC)
        if opening > at:
            return opening
    return None


def _slot_starts(centre: Centre, hours: Hours, day: dt.date) -> list[dt.datetime]:
    span = hours.get(day.weekday())
    if span is None:
        return []
    step = dt.timedelta(minutes=centre.slot_minutes)
    start = dt.datetime.combine(day, span[0], tzinfo=ZONE)
    closes = dt.datetime.combine(day, span[1], tzinfo=ZONE)
    starts = []
    while start + step <= closes:
        starts.append(start.astimezone(dt.UTC))
        start += step
    return starts


def slots(session: Session, *, centre_id: int, day: dt.date) -> list[SlotInfo]:
    """The centre's booking slots on local date `day` with their places booked."""
    centre = get_centre(session, centre_id=centre_id)
    _date(day, "day")
    starts = _slot_starts(centre, opening_hours(session, centre_id=centre.id), day)
    if not starts:
        return []
    booked = dict(
        session.execute(
            select(Slot.starts_at, Slot.booked).where(
                Slot.centre_id == centre.id,
                Slot.starts_at >= starts[0],
                Slot.starts_at <= starts[-1],
            )
        ).all()
    )
    step = dt.timedelta(minutes=centre.slot_minutes)
    return [SlotInfo(s, s + step, centre.slot_capacity, int(booked.get(s, 0))) for s in starts]


# --------------------------------------------------------------------------------------------
# bookings


def book(
    session: Session,
    *,
    person_id: int,
    centre_id: int,
    slot_start: dt.datetime,
    now: dt.datetime | None = None,
) -> Booking:
    """Book the slot starting at `slot_start` at a centre for a person.

    Raises `SlotUnavailable` when the centre is not taking bookings, is closed then (or
    `slot_start` is not one of its slot starts), the slot has ended or is full, and
    `Conflict` when the person has an active booking that local day already.
    """
    when = _now(now)
    person = _person(person_id)
    start = _instant(slot_start, "slot_start")
    centre = get_centre(session, centre_id=centre_id)
    if not centre.active:
        raise SlotUnavailable(f"centre_id: centre {centre.id} is not taking bookings")
    local = _local(start)
    hours = opening_hours(session, centre_id=centre.id)
    if start not in _slot_starts(centre, hours, local.date()):
        span = hours.get(local.weekday())
        when_open = (
            f"on {WEEKDAYS[local.weekday()]} it opens {span[0]:%H:%M}-{span[1]:%H:%M} with "
            f"{centre.slot_minutes}-minute slots"
            if span
            else f"it is closed on {WEEKDAYS[local.weekday()]}s"
        )
        raise SlotUnavailable(
            f"slot_start: {local:%Y-%m-%d %H:%M} (Seoul) is not a slot of centre {centre.id}: "
            f"{when_open}"
        )
    if start + dt.timedelta(minutes=centre.slot_minutes) <= when:
        raise SlotUnavailable(f"slot_start: the slot at {local:%Y-%m-%d %H:%M} (Seoul) is over")
    day = local.date()
    clash = session.scalar(
        select(Booking.id).where(Booking.person_id == person, Booking.active_day == day)
    )
    if clash is not None:
        raise Conflict(
            f"person_id: already booked on {day.isoformat()} (booking {clash}); cancel it first"
        )
    if session.get(Slot, (centre.id, start)) is None:
        session.add(Slot(centre_id=centre.id, starts_at=start, booked=0))
        session.flush()
    # A conditional increment: of two bookings racing for the last place, one gets it.
    taken = session.execute(
        update(Slot)
        .where(
            Slot.centre_id == centre.id,
            Slot.starts_at == start,
            Slot.booked < centre.slot_capacity,
        )
        .values(booked=Slot.booked + 1)
        .execution_options(synchronize_session=False)
    )
    if getattr(taken, "rowcount", 0) != 1:
        raise SlotUnavailable(
            f"slot_start: the slot at {local:%Y-%m-%d %H:%M} (Seoul) is full "
            f"({centre.slot_capacity} places)"
        )
    booking = Booking(
        centre_id=centre.id,
        person_id=person,
        slot_start=start,
        status="booked",
        active_day=day,
        created_at=when,
    )
    session.add(booking)
    session.flush()
    return booking


def _release_slot(session: Session, booking: Booking) -> None:
    session.execute(
        update(Slot)
        .where(
            Slot.centre_id == booking.centre_id,
            Slot.starts_at == booking.slot_start,
            Slot.booked > 0,
        )
        .values(booked=Slot.booked - 1)
        .execution_options(synchronize_session=False)
    )


def cancel_booking(
    session: Session,
    *,
    booking_id: int,
    person_id: int | None = None,
    now: dt.datetime | None = None,
) -> Booking:
    """Cancel a booking (with `person_id`: only that person's; another's is `NotFound`).

    Frees its place in the slot. A booking already cancelled or used is a `Conflict`.
    """
    when = _now(now)
    _int(booking_id, "booking_id", 1, 2**63 - 1)
    booking = session.get(Booking, booking_id, with_for_update=True)
    if booking is None or (person_id is not None and booking.person_id != _person(person_id)):
        raise NotFound(f"booking_id: no booking {booking_id} of yours")
    if booking.status != "booked":
        raise Conflict(f"booking_id: booking {booking.id} is {booking.status.replace('_', ' ')}")
    booking.status = "cancelled"
    booking.active_day = None
    booking.cancelled_at = when
    _release_slot(session, booking)
    session.flush()
    return booking


def bookings_of(session: Session, *, person_id: int) -> list[Booking]:
    """A person's bookings, latest slot first."""
    return list(
        session.scalars(
            select(Booking)
            .where(Booking.person_id == _person(person_id))
            .order_by(Booking.slot_start.desc(), Booking.id.desc())
        )
    )


# --------------------------------------------------------------------------------------------
# the queue


def _waiting_counts(session: Session) -> dict[int, int]:
    return {
        int(c): int(n)
        for c, n in session.execute(
            select(Sample.centre_id, func.count())
            .where(Sample.status == "waiting")
            .group_by(Sample.centre_id)
        )
    }


def _queue(
    session: Session, centre: Centre, hours: Hours, at: dt.datetime, waiting: int
) -> QueueInfo:
    open_now = is_open(hours, at)
    if not open_now:
        return QueueInfo(centre.id, False, waiting, 0, None)
    per_person = centre.minutes_per_test / centre.lanes
    horizon = dt.timedelta(minutes=waiting * per_person)
    # Booked people whose slot has started (and not ended) or starts within the wait.
    due = session.scalar(
        select(func.count()).where(
            Booking.centre_id == centre.id,
            Booking.status == "booked",
            Booking.slot_start > at - dt.timedelta(minutes=centre.slot_minutes),
            Booking.slot_start <= at + horizon,
        )
    )
    booked_due = int(due or 0)
    return QueueInfo(centre.id, True, waiting, booked_due, (waiting + booked_due) * per_person)


def queue(session: Session, *, centre_id: int, at: dt.datetime | None = None) -> QueueInfo:
    """The centre's queue at `at` (default now): people waiting, booked arrivals due, wait."""
    when = _now(at)
    centre = get_centre(session, centre_id=centre_id)
    waiting = session.scalar(
        select(func.count()).where(Sample.centre_id == centre.id, Sample.status == "waiting")
    )
    return _queue(
        session, centre, opening_hours(session, centre_id=centre.id), when, int(waiting or 0)
    )


def centre_status(session: Session, *, at: dt.datetime) -> list[CentreStatus]:
    """Every centre taking bookings at `at`: open now, the estimated wait, next opening."""
    when = _instant(at, "at")
    hours = _all_hours(session)
    waiting = _waiting_counts(session)
    found = []
    for centre in list_centres(session, active_only=True):
        own = hours.get(centre.id, {})
        q = _queue(session, centre, own, when, waiting.get(centre.id, 0))
        found.append(
            CentreStatus(
                centre_id=centre.id,
                name=centre.name,
                kind=centre.kind,
                district=centre.district,
                lat=centre.lat,
                lon=centre.lon,
                open_now=q.open_now,
                wait_minutes=q.wait_minutes,
                next_open=None if q.open_now else next_open(own, when),
            )
        )
    return found


# --------------------------------------------------------------------------------------------
# check-in and samples


def _new_barcode(session: Session) -> str:
    for _ in range(10):
        code = f"EPC-{secrets.token_hex(5).upper()}"
        if session.scalar(select(Sample.id).where(Sample.barcode == code)) is None:
            return code
    raise RuntimeError("could not draw an unused barcode")  # 16^10 codes: not in practice


def check_in(
    session: Session,
    *,
    centre_id: int,
    actor: str,
    booking_id: int | None = None,
    person_id: int | None = None,
    barcode: str | None = None,
    now: dt.datetime | None = None,
) -> Sample:
    """Check a person in at a centre, with their booking or as a walk-in: a waiting sample.

    `barcode` is a scanned label's; without one a barcode is generated. Refused: a barcode
    used before (`Conflict`), a booking of another day or centre or not active (`Conflict`), a
    walk-in while the centre is closed (`SlotUnavailable`), a person already in a queue
    (`Conflict`), neither or both of `booking_id` and `person_id` (`ScreeningError`).
    """
    when = _now(now)
    actor_ = _text(actor, "actor", ACTOR_MAX)
    centre = get_centre(session, centre_id=centre_id)
    if (booking_id is None) == (person_id is None):
        raise ScreeningError("booking_id or person_id: give exactly one (booked or walk-in)")
    code = None if barcode is None else _barcode(barcode)
    booking = None
    if booking_id is not None:
        _int(booking_id, "booking_id", 1, 2**63 - 1)
        booking = session.get(Booking, booking_id, with_for_update=True)
        if booking is None:
            raise NotFound(f"booking_id: no booking with id {booking_id}")
        if booking.centre_id != centre.id:
            raise Conflict(f"booking_id: booking {booking.id} is at another centre")
        if booking.status != "booked":
            raise Conflict(
                f"booking_id: booking {booking.id} is {booking.status.replace('_', ' ')}"
            )
        today = _local(when).date()
        if booking.active_day != today:
            raise Conflict(
                f"booking_id: booking {booking.id} is for {booking.active_day}, not today ({today})"
            )
        person = booking.person_id
    else:
        person = _person(person_id)
        if not is_open(opening_hours(session, centre_id=centre.id), when):
            raise SlotUnavailable(f"centre_id: centre {centre.id} is closed now")
    queued = session.scalar(
        select(Sample.barcode).where(Sample.person_id == person, Sample.status == "waiting")
    )
    if queued is not None:
        raise Conflict(f"person_id: person {person} is in a queue already (sample {queued})")
    if code is not None:
        if session.scalar(select(Sample.id).where(Sample.barcode == code)) is not None:
            raise Conflict(f"barcode: {code} is used already; scan a new label")
    else:
        code = _new_barcode(session)
    if booking is not None:
        booking.status = "checked_in"
        booking.active_day = None
        booking.checked_in_at = when
    sample = Sample(
        barcode=code,
        centre_id=centre.id,
        person_id=person,
        booking_id=None if booking is None else booking.id,
        arrival="walk_in" if booking is None else "booked",
        status="waiting",
        checked_in_by=actor_,
        checked_in_at=when,
    )
    session.add(sample)
    session.flush()
    return sample


def get_sample(session: Session, *, barcode: str) -> Sample:
    """The sample with `barcode`; `NotFound` if there is none."""
    code = _barcode(barcode)
    sample = session.scalar(select(Sample).where(Sample.barcode == code))
    if sample is None:
        raise NotFound(f"barcode: no sample {code}")
    return sample


def _sample_for_update(session: Session, barcode: str) -> Sample:
    code = _barcode(barcode)
    sample = session.scalar(select(Sample).where(Sample.barcode == code).with_for_update())
    if sample is None:
        raise NotFound(f"barcode: no sample {code}")
    return sample


def collect_sample(session: Session, *, barcode: str, now: dt.datetime | None = None) -> Sample:
    """Record the swab taken from a waiting person (leaves the queue; `sampled_at`)."""
    when = _now(now)
    sample = _sample_for_update(session, barcode)
    if sample.status != "waiting":
        raise Conflict(f"barcode: sample {sample.barcode} is {sample.status} already")
    sample.status = "collected"
    sample.sampled_at = when
    session.flush()
    return sample


def list_samples(
    session: Session,
    *,
    status: str | None = None,
    centre_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Sample]:
    """Samples, latest check-in first, filtered by status and centre."""
    query = select(Sample)
    if status is not None:
        query = query.where(Sample.status == _choice(status, "status", SAMPLE_STATUSES))
    if centre_id is not None:
        query = query.where(Sample.centre_id == centre_id)
    return list(
        session.scalars(
            query.order_by(Sample.checked_in_at.desc(), Sample.id.desc())
            .limit(_int(limit, "limit", 1, 10_000))
            .offset(_int(offset, "offset", 0, 10**9))
        )
    )


# --------------------------------------------------------------------------------------------
# lab batches


def recent_positivity(
    session: Session, *, now: dt.datetime | None = None, days: int = RECENT_DAYS
) -> float | None:
    """The share of positive results among positive and negative ones resulted in the last
    `days` days; None when there were none."""
    when = _now(now)
    rows = dict(
        session.execute(
            select(Sample.result, func.count())
            .where(
                Sample.status == "resulted",
                Sample.result.in_(("positive", "negative")),
                Sample.resulted_at > when - dt.timedelta(days=days),
                Sample.resulted_at <= when,
            )
            .group_by(Sample.result)
        ).all()
    )
    total = sum(rows.values())
    return None if total == 0 else rows.get("positive", 0) / total


def create_batch(
    session: Session,
    *,
    actor: str,
    lab: str,
    barcodes: Sequence[str],
    mode: str = "pooled",
    prevalence: float | None = None,
    pool_size: int | None = None,
    now: dt.datetime | None = None,
) -> Batch:
    """Receive collected samples at a lab as one batch, individually or in Dorfman pools.

    Pooled: `pool_size` if given, else the best for `prevalence`, else for the recent
    positivity (`ScreeningError` when there is no recent result to estimate it from). The
    samples are pooled in the order given (`make_pools`). Refused: an unknown barcode
    (`NotFound`), one given twice, or a sample not collected or in a batch already
    (`Conflict`).
    """
    when = _now(now)
    actor_ = _text(actor, "actor", ACTOR_MAX)
    lab_ = _text(lab, "lab", LAB_MAX)
    mode_ = _choice(mode, "mode", BATCH_MODES)
    if isinstance(barcodes, str) or not isinstance(barcodes, Sequence) or not barcodes:
        raise ScreeningError("barcodes: give at least one sample's barcode")
    if len(barcodes) > MAX_BATCH:
        raise ScreeningError(f"barcodes: at most {MAX_BATCH} samples a batch, got {len(barcodes)}")
    codes = [_barcode(b) for b in barcodes]
    seen: set[str] = set()
    for code in codes:
        if code in seen:
            raise ScreeningError(f"barcodes: {code} is given twice")
        seen.add(code)
    prevalence_ = None if prevalence is None else _number(prevalence, "prevalence", 0, 1)
    if mode_ == "individual":
        if pool_size not in (None, 1):
            raise ScreeningError("pool_size: individual testing runs pools of one")
        size = 1
    elif pool_size is not None:
        size = _int(pool_size, "pool_size", 1, MAX_POOL)
    else:
        if prevalence_ is None:
            prevalence_ = recent_positivity(session, now=when)
        if prevalence_ is None:
            raise ScreeningError(
                f"prevalence: no result in the last {RECENT_DAYS} days to estimate it from; "
                "give the prevalence or a pool_size"
            )
        size = optimal_pool_size(prevalence_, max_size=MAX_POOL)
    samples = {
        s.barcode: s
        for s in session.scalars(select(Sample).where(Sample.barcode.in_(codes)).with_for_update())
    }
    for code in codes:
        sample = samples.get(code)
        if sample is None:
            raise NotFound(f"barcodes: no sample {code}")
        if sample.batch_id is not None:
            raise Conflict(f"barcodes: sample {code} is in batch {sample.batch_id} already")
        if sample.status != "collected":
            raise Conflict(f"barcodes: sample {code} is {sample.status}, not collected")
    batch = Batch(
        lab=lab_,
        mode=mode_,
        pool_size=size,
        prevalence=prevalence_,
        samples=len(codes),
        tests_used=0,
        status="open",
        created_by=actor_,
        created_at=when,
    )
    session.add(batch)
    session.flush()
    for number, members in enumerate(make_pools(codes, size), start=1):
        pool = Pool(batch_id=batch.id, number=number, size=len(members))
        session.add(pool)
        session.flush()
        for code in members:
            sample = samples[code]
            sample.status = "in_lab"
            sample.received_at = when
            sample.batch_id = batch.id
            sample.pool_id = pool.id
    session.flush()
    return batch


def get_batch(session: Session, *, batch_id: int) -> Batch:
    """The batch with id `batch_id`; `NotFound` if there is none."""
    _int(batch_id, "batch_id", 1, 2**63 - 1)
    batch = session.get(Batch, batch_id)
    if batch is None:
        raise NotFound(f"batch_id: no batch with id {batch_id}")
    return batch


def list_batches(session: Session, *, limit: int = 50, offset: int = 0) -> list[Batch]:
    """Batches, newest first."""
    return list(
        session.scalars(
            select(Batch)
            .order_by(Batch.id.desc())
            .limit(_int(limit, "limit", 1, 10_000))
            .offset(_int(offset, "offset", 0, 10**9))
        )
    )


def batch_pools(session: Session, *, batch_id: int) -> list[BatchPool]:
    """A batch's pools in order, with their members' barcodes."""
    batch = get_batch(session, batch_id=batch_id)
    members: dict[int, list[str]] = defaultdict(list)
    for pool_id, code in session.execute(
        select(Sample.pool_id, Sample.barcode)
        .where(Sample.batch_id == batch.id)
        .order_by(Sample.id)
    ):
        if pool_id is not None:
            members[pool_id].append(code)
    return [
        BatchPool(p.number, p.size, p.result, p.tested_at, tuple(members[p.id]))
        for p in session.scalars(
            select(Pool).where(Pool.batch_id == batch.id).order_by(Pool.number)
        )
    ]


def _finish_batch(session: Session, batch: Batch, when: dt.datetime) -> None:
    session.flush()
    left = session.scalar(
        select(func.count()).where(Sample.batch_id == batch.id, Sample.status != "resulted")
    )
    if not left:
        batch.status = "done"
        batch.completed_at = when


def record_pool_result(
    session: Session,
    *,
    batch_id: int,
    pool_number: int,
    result: str,
    actor: str,
    now: dt.datetime | None = None,
) -> list[ResultOutcome]:
    """Record a pool's test: one test used.

    A pool of one gives its member's result. A negative pool gives every member a negative
    result; a positive or inconclusive pool of two or more sends its members to individual
    retests (`record_sample_result`). A pool tested already is a `Conflict`.
    """
    when = _now(now)
    actor_ = _text(actor, "actor", ACTOR_MAX)
    result_ = _choice(result, "result", RESULTS)
    batch = get_batch(session, batch_id=batch_id)
    number = _int(pool_number, "pool_number", 1, 10**6)
    pool = session.scalar(
        select(Pool).where(Pool.batch_id == batch.id, Pool.number == number).with_for_update()
    )
    if pool is None:
        raise NotFound(f"pool_number: batch {batch.id} has no pool {number}")
    if pool.result is not None:
        raise Conflict(f"pool_number: pool {number} of batch {batch.id} was tested already")
    pool.result = result_
    pool.tested_at = when
    batch.tests_used += 1
    members = list(
        session.scalars(
            select(Sample).where(Sample.pool_id == pool.id).order_by(Sample.id).with_for_update()
        )
    )
    outcomes = []
    for sample in members:
        if pool.size == 1 or result_ == "negative":
            outcomes.append(_give_result(session, sample, result_, actor_, when))
        else:
            sample.status = "retest"
            outcomes.append(
                ResultOutcome(sample.barcode, sample.person_id, "retest", None, None, False, False)
            )
    _finish_batch(session, batch, when)
    session.flush()
    return outcomes


def record_sample_result(
    session: Session,
    *,
    barcode: str,
    result: str,
    actor: str,
    now: dt.datetime | None = None,
) -> ResultOutcome:
    """Record the individual retest of a sample from a positive pool: one test used.

    Only a sample waiting for a retest takes one (`Conflict` otherwise): a result is final.
    """
    when = _now(now)
    actor_ = _text(actor, "actor", ACTOR_MAX)
    result_ = _choice(result, "result", RESULTS)
    sample = _sample_for_update(session, barcode)
    if sample.status != "retest":
        state = f"resulted ({sample.result})" if sample.status == "resulted" else sample.status
        raise Conflict(
            f"barcode: sample {sample.barcode} is {state}; only a sample from a positive pool "
            "waits for an individual result"
        )
    assert sample.batch_id is not None
    batch = get_batch(session, batch_id=sample.batch_id)
    batch.tests_used += 1
    outcome = _give_result(session, sample, result_, actor_, when)
    _finish_batch(session, batch, when)
    session.flush()
    return outcome


def _give_result(
    session: Session, sample: Sample, result: str, actor: str, when: dt.datetime
) -> ResultOutcome:
    """The person's result: recorded, a case for a positive one, queued to the person."""
    sample.result = result
    sample.status = "resulted"
    sample.resulted_at = when
    case_id = None
    traceable = False
    sampled = sample.sampled_at or sample.checked_in_at
    text = _RESULT_TEXT[result].format(
        barcode=sample.barcode, taken=f"{_local(sampled):%Y-%m-%d %H:%M}"
    )
    exposure: dict[str, str] = {}
    if result == "positive":
        case = _confirmed_case(session, sample, actor, when)
        case_id = case.id
        traceable = case.person_id is not None and case.confirmed_date is not None
        sample.case_id = case.id
        # A one-time code for the exposure-notification app; the key server stores only its
        # hash, never whom it was given to (epicity.exposure.verification).
        code = issue_code(session, test_date=_local(sampled).date(), now=when)
        text += _CODE_TEXT.format(
            code=code.display, until=f"{_local(code.expires_at):%Y-%m-%d %H:%M}"
        )
        exposure = {
            "verification_code": code.code,
            "verification_code_expires_at": code.expires_at.isoformat(),
        }
    message = enqueue_message(
        session,
        kind="test_result",
        person_id=sample.person_id,
        payload={
            "text": text,
            "result": result,
            "barcode": sample.barcode,
            "sampled_at": sampled.isoformat(),
            **exposure,
        },
        key=sample.barcode,
        now=when,
    )
    sample.notified_at = when
    if message is not None:
        sample.outbox_id = message.id
    return ResultOutcome(
        sample.barcode, sample.person_id, "resulted", result, case_id, traceable, True
    )


def _confirmed_case(session: Session, sample: Sample, actor: str, when: dt.datetime) -> Case:
    """The person's confirmed case: a new one, their suspected case confirmed, or the open
    confirmed (or isolated) case they have already."""
    confirmed_on = _local(when).date()
    tested_on = _local(sample.sampled_at or sample.checked_in_at).date()
    reason = f"positive screening result, sample {sample.barcode}"
    existing = session.scalars(
        select(Case)
        .where(
            Case.person_id == sample.person_id,
            Case.status.in_(("suspected", "confirmed", "isolated")),
        )
        .order_by(Case.id.desc())
    ).first()
    if existing is None:
        centre = session.get(Centre, sample.centre_id)
        return create_case(
            session,
            actor=actor,
            status="confirmed",
            source="screening",
            external_ref=sample.barcode,
            person_id=sample.person_id,
            district=None if centre is None else centre.district,
            test_date=tested_on,
            confirmed_date=confirmed_on,
            reason=reason,
        )
    if existing.status == "suspected":
        if existing.test_date is None:
            existing.test_date = tested_on
        return change_status(
            session,
            case_id=existing.id,
            to="confirmed",
            actor=actor,
            reason=reason,
            on=confirmed_on,
        )
    return existing


# --------------------------------------------------------------------------------------------
# a person's results


def results_of(session: Session, *, person_id: int) -> list[Sample]:
    """A person's samples (results and those still under way), latest first."""
    return list(
        session.scalars(
            select(Sample)
            .where(Sample.person_id == _person(person_id))
            .order_by(Sample.checked_in_at.desc(), Sample.id.desc())
        )
    )


def latest_result(session: Session, *, person_id: int) -> ResultInfo | None:
    """The person's most recent result (by the time it was resulted), or None."""
    sample = session.scalars(
        select(Sample)
        .where(Sample.person_id == _person(person_id), Sample.status == "resulted")
        .order_by(Sample.resulted_at.desc(), Sample.id.desc())
    ).first()
    if sample is None or sample.result is None or sample.resulted_at is None:
        return None
    result: Literal["positive", "negative", "inconclusive"]
    if sample.result == "positive":
        result = "positive"
    elif sample.result == "negative":
        result = "negative"
    else:
        result = "inconclusive"
    return ResultInfo(
        result=result,
        sampled_at=sample.sampled_at or sample.checked_in_at,
        resulted_at=sample.resulted_at,
        barcode=sample.barcode,
    )


# --------------------------------------------------------------------------------------------
# turnaround


def percentile(values: Sequence[float], q: float) -> float | None:
    """The `q`-th percentile (0-100) of `values` by linear interpolation; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _share(hits: int, decided: int) -> float | None:
    return None if decided == 0 else hits / decided


def turnaround(
    session: Session,
    *,
    since: dt.date,
    until: dt.date,
    centre_id: int | None = None,
    now: dt.datetime | None = None,
) -> list[TurnaroundRow]:
    """Turnaround per centre and local day of sampling, from `since` to `until` inclusive.

    From sampling to the result queued to the person and to its delivery (outbox row sent),
    against `TURNAROUND_TARGET`; see `TurnaroundRow`.
    """
    when = _now(now)
    _date(since, "since")
    _date(until, "until")
    if until < since:
        raise ScreeningError("until: must not be before since")
    if (until - since).days > 366:
        raise ScreeningError("until: at most a year after since")
    query = (
        select(
            Sample.centre_id,
            Centre.name,
            Sample.sampled_at,
            Sample.notified_at,
            OutboxMessage.status,
            OutboxMessage.delivered_at,
        )
        .join(Centre, Centre.id == Sample.centre_id)
        .outerjoin(OutboxMessage, OutboxMessage.id == Sample.outbox_id)
        .where(
            Sample.sampled_at >= _day_start(since),
            Sample.sampled_at < _day_start(until + dt.timedelta(days=1)),
        )
    )
    if centre_id is not None:
        query = query.where(Sample.centre_id == _int(centre_id, "centre_id", 1, 2**63 - 1))
    groups: dict[
        tuple[int, dt.date], list[tuple[dt.datetime, dt.datetime | None, dt.datetime | None]]
    ]
    groups = defaultdict(list)
    names: dict[int, str] = {}
    for cid, name, sampled, notified, status, delivered in session.execute(query):
        assert sampled is not None
        names[cid] = name
        groups[(cid, _local(sampled).date())].append(
            (sampled, notified, delivered if status == "sent" else None)
        )
    rows = []
    target_hours = TURNAROUND_TARGET.total_seconds() / 3600
    for (cid, day), items in sorted(groups.items(), key=lambda kv: (names[kv[0][0]], kv[0][1])):
        to_result = [(n - s).total_seconds() / 3600 for s, n, _ in items if n is not None]
        to_delivery = [(d - s).total_seconds() / 3600 for s, _, d in items if d is not None]
        overdue = sum(1 for s, n, _ in items if n is None and when - s > TURNAROUND_TARGET)
        late_delivery = sum(1 for s, _, d in items if d is None and when - s > TURNAROUND_TARGET)
        within = sum(1 for h in to_result if h <= target_hours)
        delivered_within = sum(1 for h in to_delivery if h <= target_hours)
        rows.append(
            TurnaroundRow(
                centre_id=cid,
                centre_name=names[cid],
                day=day,
                samples=len(items),
                resulted=len(to_result),
                pending=len(items) - len(to_result),
                within_target=within,
                share_within=_share(within, len(to_result) + overdue),
                median_hours=percentile(to_result, 50),
                p95_hours=percentile(to_result, 95),
                delivered=len(to_delivery),
                delivered_within=delivered_within,
                delivered_share_within=_share(delivered_within, len(to_delivery) + late_delivery),
                delivered_median_hours=percentile(to_delivery, 50),
                delivered_p95_hours=percentile(to_delivery, 95),
            )
        )
    return rows
