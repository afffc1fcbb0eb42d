"""Self-isolation: registration, twice-daily check-ins, alerts to the officer, release.

Plain functions over a SQLAlchemy session. They add and flush but do not commit: the caller
owns the transaction (`epicity.db.session_scope`). Bad input raises `IsolationError` (or a
subclass) naming the field, before anything is stored.

Registration
------------
- **Ordered** (`register_case_contacts`): a confirmed case's close contacts (its
  ``case_contacts`` rows of tier ``close`` with a person id, and the people its approved or
  pending ``isolation_order`` warnings in the outbox are addressed to), registered by a health
  officer in one call. The end date is the order's ``isolate_until`` (last exposure + 14
  days, KDCA's quarantine for contacts) or, without an order, ``last_exposure`` + 14 given by
  the officer. Idempotent: a person already isolating is reported, not registered twice; a
  later exposure extends their end date. The contact's follow-up moves to ``in_isolation``.
- **Voluntary** (`register_voluntary`): a citizen registers themselves (returning travellers,
  household members); the health officer with the fewest active registrations is assigned.
- A person has at most one active registration (`IsolationConflict`, 409).
- The isolation address is a geofence: centre (WGS84 degrees, validated) and radius in metres
  (`DEFAULT_RADIUS_M`, bounded by `MIN_RADIUS_M`..`MAX_RADIUS_M`). An ordered contact's
  address may be unknown at registration (the officer confirms it by phone): the geofence is
  then empty and locations are not judged until `set_address`.

Check-ins
---------
Twice a day, in the windows `WINDOWS` (Asia/Seoul): morning 09:00-12:00 and evening
17:00-21:00. A check-in outside them is kept (slot ``extra``) but counts for neither.
Temperature 34-43 °C, symptoms from `SYMPTOMS` (the self-diagnosis vocabulary), optional
location (validated; an impossible coordinate stores nothing). A check-in raises alerts:

- ``symptoms_worse``: a red-flag symptom (`RED_FLAGS`) not reported before, or fever
  (>= `FEVER_C` °C or the symptom ``fever``) after none; any symptom also sets the
  registration's ``needs_negative_test`` (release then waits for a negative test);
- ``outside_geofence``: the haversine distance from the geofence's centre exceeds the radius
  plus the fix's accuracy (clamped to `MIN_MARGIN_M`..`MAX_MARGIN_M`; a fix worse than that
  cannot place a person in a house, and a client must not widen its own fence).

`check_missed` (run by ``epicity isolation sweep``, e.g. every 10 minutes from cron or with
``--loop``) raises a ``missed_checkin`` alert for every window of the last `LOOKBACK` that
closed without a check-in, once (unique key), and queues a reminder to the person. It runs
outside the web workers on purpose: each of several uvicorn workers would sweep the same rows.

Release
-------
`release_due` releases active registrations whose end date has passed. When
``needs_negative_test`` is set it waits for a negative result
(`epicity.screening.service.latest_result`) from a sample taken no earlier than
`NEGATIVE_TEST_DAYS` days before the end date. An officer may end a registration early
(`end_registration`, with a reason: hospitalised, confirmed case). Notices to the person
(registered, missed check-in, released) go through the outbox as ``isolation_notice``.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Insert, Table, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from epicity.accounts.models import User
from epicity.cases.models import Case, CaseContact
from epicity.cases.service import update_follow_up
from epicity.db import utcnow
from epicity.delivery.models import Recipient
from epicity.geo import haversine_m
from epicity.isolation.errors import (
    IsolationConflict,
    IsolationInvalid,
    IsolationNotFound,
    NotIsolating,
)
from epicity.isolation.models import (
    ACTOR_MAX,
    CheckIn,
    IsolationAlert,
    IsolationRegistration,
)
from epicity.tracing.models import OutboxMessage
from epicity.tracing.outbox import enqueue_message

__all__ = [
    "DEFAULT_RADIUS_M",
    "FEVER_C",
    "QUARANTINE_DAYS",
    "RED_FLAGS",
    "SEOUL",
    "SYMPTOMS",
    "WINDOWS",
    "AlertInfo",
    "CaseloadRow",
    "CheckInResult",
    "ContactsRegistration",
    "Geofence",
    "IsolationPeriod",
    "MissedReport",
    "ReleaseReport",
    "SmsReading",
    "acknowledge",
    "active_registration",
    "caseload",
    "check_in",
    "check_missed",
    "checkins_of",
    "end_registration",
    "isolation_periods",
    "list_alerts",
    "normalise_phone",
    "parse_sms",
    "register",
    "register_case_contacts",
    "register_voluntary",
    "registration",
    "release_due",
    "set_address",
    "slot_of",
    "sms_check_in",
    "worsening",
]

SEOUL = ZoneInfo("Asia/Seoul")
# KDCA: contacts of a confirmed case are quarantined for 14 days from the last exposure.
QUARANTINE_DAYS = 14
MAX_DAYS = 30  # no registration spans more (a longer one is a typo)
# The check-in windows, local time [start, end): twice daily, like Korea's self-quarantine app.
WINDOWS: Mapping[str, tuple[dt.time, dt.time]] = {
    "morning": (dt.time(9), dt.time(12)),
    "evening": (dt.time(17), dt.time(21)),
}
LOOKBACK = dt.timedelta(hours=36)  # windows the sweep looks at (older ones are stale news)
# The self-diagnosis vocabulary: the symptom options of the triage rules
# (src/epicity/triage/rules/kdca-2020-v1.json; a test keeps the two equal).
SYMPTOMS = (
    "fever",
    "cough",
    "sore_throat",
    "shortness_of_breath",
    "loss_of_taste_or_smell",
    "runny_nose",
    "muscle_aches",
    "headache",
    "diarrhoea",
    "trouble_breathing_at_rest",
    "chest_pain",
    "confusion",
    "bluish_lips",
)
# The triage rules' emergency signs: the officer must call now.
RED_FLAGS = frozenset({"trouble_breathing_at_rest", "chest_pain", "confusion", "bluish_lips"})
FEVER_C = 37.5  # KDCA's fever threshold
TEMPERATURE_RANGE = (34.0, 43.0)  # outside: a broken thermometer or a typo, not a person
DEFAULT_RADIUS_M = 100
MIN_RADIUS_M, MAX_RADIUS_M = 10, 2000
MIN_MARGIN_M, MAX_MARGIN_M = 25.0, 200.0  # GPS accuracy margin of the geofence test
MAX_ACCURACY_M = 10_000.0
NEGATIVE_TEST_DAYS = 2  # a negative sample from the last 2 days before the end date counts
SYSTEM = "system"


# --------------------------------------------------------------------------------------------
# results


@dataclass(frozen=True)
class IsolationPeriod:
    """One period of isolation of a person (relief checks eligibility against these)."""

    registration_id: int
    start: dt.date
    end: dt.date
    ordered: bool  # False: voluntary
    status: str  # "active", "released", "ended_early"


@dataclass(frozen=True)
class Geofence:
    """An isolation address: centre in WGS84 degrees and radius in metres."""

    lat: float
    lon: float
    radius_m: int = DEFAULT_RADIUS_M


@dataclass
class ContactsRegistration:
    """What `register_case_contacts` did, person by person."""

    case_id: int
    registered: list[IsolationRegistration] = field(default_factory=list)
    extended: list[IsolationRegistration] = field(default_factory=list)
    already: list[IsolationRegistration] = field(default_factory=list)
    expired: list[int] = field(default_factory=list)  # person ids whose 14 days are over


@dataclass(frozen=True)
class CheckInResult:
    """The stored check-in and the alerts it raised."""

    checkin: CheckIn
    registration: IsolationRegistration
    alerts: tuple[IsolationAlert, ...]


@dataclass(frozen=True)
class SmsReading:
    """A parsed SMS check-in."""

    temperature_c: float
    symptoms: tuple[str, ...]


@dataclass
class MissedReport:
    """What a sweep found: windows checked, registrations, new alerts and reminders."""

    windows: list[tuple[dt.date, str]] = field(default_factory=list)
    registrations: int = 0
    alerts: int = 0
    reminders: int = 0


@dataclass
class ReleaseReport:
    """Registrations released, and those waiting for a negative test."""

    released: list[int] = field(default_factory=list)
    waiting_for_test: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class AlertInfo:
    """An alert as the officer sees it."""

    id: int
    registration_id: int
    kind: str
    detail: str
    created_at: dt.datetime
    acknowledged_at: dt.datetime | None
    acknowledged_by: str | None
    note: str | None


@dataclass(frozen=True)
class CaseloadRow:
    """One person in an officer's caseload, with what makes them urgent."""

    registration_id: int
    person_id: int
    kind: str
    officer_id: int
    start: dt.date
    end: dt.date
    address_set: bool
    needs_negative_test: bool
    open_alerts: tuple[AlertInfo, ...]
    missed_recent: int  # missed-check-in alerts in the last 48 hours
    last_checkin_at: dt.datetime | None
    last_temperature_c: float | None
    last_symptoms: tuple[str, ...]

    @property
    def fever(self) -> bool:
        """The last check-in reported fever."""
        return (self.last_temperature_c or 0.0) >= FEVER_C or "fever" in self.last_symptoms

    @property
    def red_flags(self) -> tuple[str, ...]:
        """Red-flag symptoms of the last check-in."""
        return tuple(s for s in self.last_symptoms if s in RED_FLAGS)

    def severity(self) -> tuple[int, int, int, int, float]:
        """The sort key, largest first: open alerts, missed check-ins, red flags, fever,
        temperature."""
        return (
            len(self.open_alerts),
            self.missed_recent,
            len(self.red_flags),
            int(self.fever),
            self.last_temperature_c or 0.0,
        )


# --------------------------------------------------------------------------------------------
# validation


def _now(now: dt.datetime | None) -> dt.datetime:
    when = utcnow() if now is None else now
    if when.tzinfo is None or when.utcoffset() is None:
        raise IsolationInvalid(f"now: naive datetime {when.isoformat()}; give a time zone")
    return when


def _local_day(when: dt.datetime) -> dt.date:
    return when.astimezone(SEOUL).date()


def _actor(actor: str) -> str:
    value = (actor or "").strip()
    if not value or len(value) > ACTOR_MAX:
        raise IsolationInvalid(f"actor: required, at most {ACTOR_MAX} characters")
    return value


def _int_id(value: object, what: str, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value < 2**63:
        raise IsolationInvalid(f"{what}: must be an integer >= {minimum}, got {value!r}")
    return value


def _date(value: object, what: str) -> dt.date:
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise IsolationInvalid(f"{what}: must be a date (YYYY-MM-DD), got {value!r}")
    return value


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise IsolationInvalid(f"{what}: must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise IsolationInvalid(f"{what}: must be a finite number")
    return number


def _coordinate(lat: object, lon: object, what: str = "") -> tuple[float, float]:
    prefix = f"{what}." if what else ""
    la, lo = _number(lat, f"{prefix}lat"), _number(lon, f"{prefix}lon")
    if not -90.0 <= la <= 90.0:
        raise IsolationInvalid(f"{prefix}lat: {la} is not a latitude (-90 to 90 degrees)")
    if not -180.0 <= lo <= 180.0:
        raise IsolationInvalid(f"{prefix}lon: {lo} is not a longitude (-180 to 180 degrees)")
    return la, lo


def _geofence(fence: Geofence | None) -> Geofence | None:
    if fence is None:
        return None
    lat, lon = _coordinate(fence.lat, fence.lon)
    radius = fence.radius_m
    if isinstance(radius, bool) or not isinstance(radius, int):
        raise IsolationInvalid(f"radius_m: must be a whole number of metres, got {radius!r}")
    if not MIN_RADIUS_M <= radius <= MAX_RADIUS_M:
        raise IsolationInvalid(
            f"radius_m: must be between {MIN_RADIUS_M} and {MAX_RADIUS_M} metres, got {radius}"
        )
    return Geofence(lat, lon, radius)


def _temperature(value: object) -> float:
    temp = _number(value, "temperature_c")
    lo, hi = TEMPERATURE_RANGE
    if not lo <= temp <= hi:
        raise IsolationInvalid(
            f"temperature_c: {temp:g} °C is outside {lo:g}-{hi:g} °C (a typo or a broken "
            "thermometer?)"
        )
    return round(temp, 1)


def _symptoms(values: Iterable[str]) -> tuple[str, ...]:
    if isinstance(values, str):
        raise IsolationInvalid("symptoms: must be a list of symptom names")
    names = []
    for value in values:
        if not isinstance(value, str) or value not in SYMPTOMS:
            raise IsolationInvalid(
                f"symptoms: {value!r} is not one of {', '.join(SYMPTOMS)}",
            )
        if value not in names:
            names.append(value)
    return tuple(sorted(names, key=SYMPTOMS.index))


def _check_dates(start: dt.date, end: dt.date, today: dt.date) -> None:
    if end < start:
        raise IsolationInvalid(f"end_date: {end} is before start_date {start}")
    if (end - start).days + 1 > MAX_DAYS:
        raise IsolationInvalid(f"end_date: a registration spans at most {MAX_DAYS} days")
    if end < today:
        raise IsolationInvalid(f"end_date: {end} has passed already (today is {today})")
    if start > today + dt.timedelta(days=QUARANTINE_DAYS):
        raise IsolationInvalid(f"start_date: {start} is more than {QUARANTINE_DAYS} days ahead")


def _officer(session: Session, officer_id: int) -> User:
    user = session.get(User, _int_id(officer_id, "officer_id"))
    if user is None or user.role != "health_officer" or not user.active:
        raise IsolationNotFound(f"officer_id: no active health officer with id {officer_id}")
    return user


# --------------------------------------------------------------------------------------------
# registration


def active_registration(session: Session, *, person_id: int) -> IsolationRegistration | None:
    """The person's active registration, if any."""
    return session.scalars(
        select(IsolationRegistration).where(
            IsolationRegistration.person_id == person_id, IsolationRegistration.status == "active"
        )
    ).one_or_none()


def _notice(
    session: Session,
    reg: IsolationRegistration,
    key: str,
    text: str,
    when: dt.datetime,
    **extra: Any,
) -> None:
    # The payload is what the person's phone shows: no address, no other person's data.
    payload = {"text": text, "registration_id": reg.id, **extra}
    enqueue_message(
        session,
        kind="isolation_notice",
        person_id=reg.person_id,
        payload=payload,
        key=f"{key}:{reg.id}",
        now=when,
    )


def _windows_text() -> str:
    return " and ".join(f"{a.strftime('%H:%M')}-{b.strftime('%H:%M')}" for a, b in WINDOWS.values())


def register(
    session: Session,
    *,
    person_id: int,
    kind: str,
    end: dt.date,
    officer_id: int,
    actor: str,
    start: dt.date | None = None,
    geofence: Geofence | None = None,
    case_id: int | None = None,
    last_exposure: dt.date | None = None,
    now: dt.datetime | None = None,
) -> IsolationRegistration:
    """Register a person for self-isolation from `start` (default today, Seoul) to `end`
    (inclusive) and queue the ``registered`` notice. `IsolationConflict` when the person has an
    active registration already; `IsolationInvalid` for a bad value."""
    when = _now(now)
    today = _local_day(when)
    who = _actor(actor)
    person = _int_id(person_id, "person_id", minimum=0)
    if kind not in ("ordered", "voluntary"):
        raise IsolationInvalid(f"kind: {kind!r} is not one of ordered, voluntary")
    first = today if start is None else _date(start, "start_date")
    last = _date(end, "end_date")
    _check_dates(first, last, today)
    exposure = None if last_exposure is None else _date(last_exposure, "last_exposure")
    if exposure is not None and exposure > today:
        raise IsolationInvalid(f"last_exposure: {exposure} is in the future")
    fence = _geofence(geofence)
    _officer(session, officer_id)
    if case_id is not None and session.get(Case, _int_id(case_id, "case_id")) is None:
        raise IsolationNotFound(f"case_id: no case with id {case_id}")
    current = active_registration(session, person_id=person)
    if current is not None:
        raise IsolationConflict(
            f"person_id: person {person} is isolating already (registration {current.id})"
        )
    reg = IsolationRegistration(
        person_id=person,
        kind=kind,
        case_id=case_id,
        status="active",
        start_date=first,
        end_date=last,
        last_exposure=exposure,
        lat=None if fence is None else fence.lat,
        lon=None if fence is None else fence.lon,
        radius_m=None if fence is None else fence.radius_m,
        officer_id=officer_id,
        needs_negative_test=False,
        created_by=who,
        created_at=when,
        updated_at=when,
    )
    session.add(reg)
    session.flush()
    _notice(
        session,
        reg,
        "registered",
        f"You are registered for self-isolation until {last.isoformat()} (inclusive). Stay at "
        f"your isolation address and check in twice a day, {_windows_text()} (Seoul time), in "
        'the app or by SMS reply, e.g. "36.8" or "37.9 fever cough".',
        when,
        end_date=last.isoformat(),
    )
    return reg


def register_voluntary(
    session: Session,
    *,
    person_id: int,
    geofence: Geofence,
    actor: str,
    start: dt.date | None = None,
    end: dt.date | None = None,
    now: dt.datetime | None = None,
) -> IsolationRegistration:
    """A citizen registers themselves; `end` defaults to 14 days on. The health officer with
    the fewest active registrations is assigned (`IsolationConflict` when there is none)."""
    when = _now(now)
    first = _local_day(when) if start is None else _date(start, "start_date")
    last = first + dt.timedelta(days=QUARANTINE_DAYS - 1) if end is None else end
    if geofence is None:
        raise IsolationInvalid("geofence: a voluntary registration needs the isolation address")
    load = (
        select(func.count())
        .where(
            IsolationRegistration.officer_id == User.id, IsolationRegistration.status == "active"
        )
        .correlate(User)
        .scalar_subquery()
    )
    officer = session.scalars(
        select(User.id)
        .where(User.role == "health_officer", User.active.is_(True))
        .order_by(load, User.id)
        .limit(1)
    ).first()
    if officer is None:
        raise IsolationConflict("officer_id: no active health officer to assign")
    return register(
        session,
        person_id=person_id,
        kind="voluntary",
        start=first,
        end=last,
        officer_id=officer,
        actor=actor,
        geofence=geofence,
        now=when,
    )


def _orders_of(session: Session, case: Case) -> dict[int, tuple[dt.date, dt.date]]:
    """Person id -> (last exposure, isolate until) from the case's isolation orders."""
    if case.person_id is None:
        return {}
    rows = session.execute(
        select(OutboxMessage.recipient, OutboxMessage.payload).where(
            OutboxMessage.case_id == case.person_id,
            OutboxMessage.kind == "isolation_order",
            OutboxMessage.status != "cancelled",
        )
    )
    found: dict[int, tuple[dt.date, dt.date]] = {}
    for recipient, payload in rows:
        if not recipient.startswith("person:"):
            continue
        try:
            person = int(recipient.removeprefix("person:"))
            until = dt.date.fromisoformat(str(payload["isolate_until"])[:10])
            exposed = dt.datetime.fromisoformat(str(payload["last_exposure"]))
            exposure = exposed.astimezone(SEOUL).date() if exposed.tzinfo else exposed.date()
        except (KeyError, ValueError):
            continue  # not an order this code wrote: the officer gives the date
        if person not in found or found[person][1] < until:
            found[person] = (exposure, until)
    return found


def register_case_contacts(
    session: Session,
    *,
    case_id: int,
    officer_id: int,
    actor: str,
    addresses: Mapping[int, Geofence] | None = None,
    last_exposure: dt.date | None = None,
    now: dt.datetime | None = None,
) -> ContactsRegistration:
    """Order a case's close contacts into isolation, in one call and idempotently.

    The contacts are the case's close ``case_contacts`` with a person id and the recipients of
    its isolation orders in the outbox. Each one's end date comes from their order, else from
    `last_exposure` + 14 days (`IsolationInvalid`, nothing stored, when neither is known for
    someone). `addresses` gives geofences by person id (the others get theirs later with
    `set_address`). Already isolating: reported, or extended when this exposure is later.
    """
    when = _now(now)
    today = _local_day(when)
    who = _actor(actor)
    case = session.get(Case, _int_id(case_id, "case_id"))
    if case is None:
        raise IsolationNotFound(f"case_id: no case with id {case_id}")
    _officer(session, officer_id)
    default = None if last_exposure is None else _date(last_exposure, "last_exposure")
    if default is not None and default > today:
        raise IsolationInvalid(f"last_exposure: {default} is in the future")
    contacts = {
        int(c.person_id): c
        for c in session.scalars(
            select(CaseContact).where(
                CaseContact.case_id == case.id,
                CaseContact.tier == "close",
                CaseContact.person_id.is_not(None),
            )
        )
        if c.person_id is not None
    }
    orders = _orders_of(session, case)
    people = sorted(set(contacts) | set(orders))
    fences = {int(p): _geofence(f) for p, f in (addresses or {}).items()}
    strangers = sorted(set(fences) - set(people))
    if strangers:
        raise IsolationInvalid(
            f"addresses: person {strangers[0]} is not a close contact of case {case.id}"
        )
    unknown = [p for p in people if p not in orders and default is None]
    if unknown:
        raise IsolationInvalid(
            f"last_exposure: no isolation order from tracing for {len(unknown)} contact(s) "
            f"(person {unknown[0]}{', ...' if len(unknown) > 1 else ''}); give last_exposure"
        )
    result = ContactsRegistration(case_id=case.id)
    for person in people:
        if person in orders:
            exposure, end = orders[person]
        else:
            assert default is not None
            exposure, end = default, default + dt.timedelta(days=QUARANTINE_DAYS)
        if end < today:
            result.expired.append(person)
            continue
        current = active_registration(session, person_id=person)
        if current is not None:
            if current.end_date < end:
                current.end_date = end
                current.last_exposure = exposure
                current.updated_at = when
                result.extended.append(current)
                _notice(
                    session, current, f"extended:{end.isoformat()}",
                    f"A later exposure extends your self-isolation until {end.isoformat()} "
                    "(inclusive).", when, end_date=end.isoformat(),
                )  # fmt: skip
            else:
                result.already.append(current)
            continue
        reg = register(
            session,
            person_id=person,
            kind="ordered",
            end=end,
            officer_id=officer_id,
            actor=who,
            geofence=fences.get(person),
            case_id=case.id,
            last_exposure=exposure,
            now=when,
        )
        result.registered.append(reg)
        contact = contacts.get(person)
        if contact is not None and contact.follow_up in ("none", "reached", "tested"):
            update_follow_up(
                session,
                contact_id=contact.id,
                to="in_isolation",
                actor=who,
                note=f"registered for self-isolation (registration {reg.id})",
            )
    session.flush()
    return result


def set_address(
    session: Session,
    *,
    registration_id: int,
    geofence: Geofence,
    actor: str,
    now: dt.datetime | None = None,
) -> IsolationRegistration:
    """Set or correct the isolation address of an active registration."""
    when = _now(now)
    _actor(actor)
    fence = _geofence(geofence)
    assert fence is not None
    reg = _registration(session, registration_id)
    if reg.status != "active":
        raise IsolationConflict(f"registration {reg.id} is {reg.status}, not active")
    reg.lat, reg.lon, reg.radius_m = fence.lat, fence.lon, fence.radius_m
    reg.updated_at = when
    session.flush()
    return reg


def _registration(session: Session, registration_id: int) -> IsolationRegistration:
    reg = session.get(IsolationRegistration, _int_id(registration_id, "registration_id"))
    if reg is None:
        raise IsolationNotFound(f"registration_id: no registration with id {registration_id}")
    return reg


def isolation_periods(session: Session, *, person_id: int) -> list[IsolationPeriod]:
    """Every isolation period of a person, oldest first."""
    rows = session.execute(
        select(
            IsolationRegistration.id,
            IsolationRegistration.start_date,
            IsolationRegistration.end_date,
            IsolationRegistration.kind,
            IsolationRegistration.status,
        )
        .where(IsolationRegistration.person_id == person_id)
        .order_by(IsolationRegistration.start_date, IsolationRegistration.id)
    )
    return [
        IsolationPeriod(
            registration_id=rid, start=start, end=end, ordered=kind == "ordered", status=status
        )
        for rid, start, end, kind, status in rows
    ]


# --------------------------------------------------------------------------------------------
# check-ins


def slot_of(at: dt.datetime) -> tuple[dt.date, str]:
    """The local date and the window (``morning``, ``evening`` or ``extra``) of an instant."""
    local = at.astimezone(SEOUL)
    for name, (start, end) in WINDOWS.items():
        if start <= local.time() < end:
            return local.date(), name
    return local.date(), "extra"


def worsening(
    before: Iterable[tuple[float, Sequence[str]]], temperature_c: float, symptoms: Sequence[str]
) -> str | None:
    """Why a check-in is worse than the ones `before` (temperature, symptoms), or None:
    a red-flag symptom not reported before, or fever after none."""
    had_fever = False
    seen_flags: set[str] = set()
    for temp, names in before:
        had_fever = had_fever or temp >= FEVER_C or "fever" in names
        seen_flags.update(n for n in names if n in RED_FLAGS)
    reasons = []
    new_flags = [s for s in symptoms if s in RED_FLAGS and s not in seen_flags]
    if new_flags:
        reasons.append(f"new red-flag symptom: {', '.join(new_flags)}")
    fever = temperature_c >= FEVER_C or "fever" in symptoms
    if fever and not had_fever:
        reasons.append(f"fever ({temperature_c:.1f} °C) after none")
    return "; ".join(reasons) or None


def _margin(accuracy_m: float | None) -> float:
    return min(max(accuracy_m or 0.0, MIN_MARGIN_M), MAX_MARGIN_M)


def check_in(
    session: Session,
    *,
    person_id: int,
    temperature_c: float,
    symptoms: Iterable[str] = (),
    lat: float | None = None,
    lon: float | None = None,
    accuracy_m: float | None = None,
    source: str = "app",
    now: dt.datetime | None = None,
) -> CheckInResult:
    """Store a check-in of the person's active registration and raise its alerts.

    `IsolationInvalid` for a value out of bounds and `NotIsolating` when the person has no
    active registration; in both cases nothing is stored."""
    when = _now(now)
    temp = _temperature(temperature_c)
    names = _symptoms(symptoms)
    if (lat is None) != (lon is None):
        raise IsolationInvalid("lat, lon: give both or neither")
    point = None if lat is None else _coordinate(lat, lon)
    accuracy = None
    if accuracy_m is not None:
        accuracy = _number(accuracy_m, "accuracy_m")
        if not 0 <= accuracy <= MAX_ACCURACY_M:
            raise IsolationInvalid(f"accuracy_m: must be 0-{MAX_ACCURACY_M:g} metres")
        if point is None:
            raise IsolationInvalid("accuracy_m: given without a location")
    if source not in ("app", "sms"):
        raise IsolationInvalid(f"source: {source!r} is not one of app, sms")
    person = _int_id(person_id, "person_id", minimum=0)
    reg = active_registration(session, person_id=person)
    if reg is None:
        raise NotIsolating(f"person_id: person {person} is not in self-isolation")
    before = [
        (temp_, [s for s in text.split(",") if s])
        for temp_, text in session.execute(
            select(CheckIn.temperature_c, CheckIn.symptoms).where(CheckIn.registration_id == reg.id)
        )
    ]
    day, slot = slot_of(when)
    distance = None
    if point is not None and reg.lat is not None and reg.lon is not None:
        distance = float(haversine_m(reg.lat, reg.lon, point[0], point[1]))
    row = CheckIn(
        registration_id=reg.id,
        at=when,
        local_date=day,
        slot=slot,
        source=source,
        temperature_c=temp,
        symptoms=",".join(names),
        lat=None if point is None else point[0],
        lon=None if point is None else point[1],
        accuracy_m=accuracy,
        distance_m=None if distance is None else round(distance, 1),
    )
    session.add(row)
    session.flush()
    alerts = []
    worse = worsening(before, temp, names)
    if worse is not None:
        alerts.append(_alert(reg, "symptoms_worse", f"checkin:{row.id}", worse, row.id, when))
    if distance is not None and reg.radius_m is not None:
        allowed = reg.radius_m + _margin(accuracy)
        if distance > allowed:
            alerts.append(
                _alert(
                    reg,
                    "outside_geofence",
                    f"checkin:{row.id}",
                    f"location {distance:.0f} m from the isolation address (radius "
                    f"{reg.radius_m} m, accuracy margin {_margin(accuracy):.0f} m)",
                    row.id,
                    when,
                )
            )
    if (names or temp >= FEVER_C) and not reg.needs_negative_test:
        reg.needs_negative_test = True  # symptoms: release waits for a negative test
        reg.updated_at = when
    session.add_all(alerts)
    if alerts or reg in session.dirty:
        session.flush()
    return CheckInResult(checkin=row, registration=reg, alerts=tuple(alerts))


def _alert(
    reg: IsolationRegistration,
    kind: str,
    key: str,
    detail: str,
    checkin_id: int | None,
    when: dt.datetime,
) -> IsolationAlert:
    return IsolationAlert(
        registration_id=reg.id,
        officer_id=reg.officer_id,
        kind=kind,
        key=key,
        detail=detail,
        checkin_id=checkin_id,
        created_at=when,
    )


def checkins_of(session: Session, *, registration_id: int, limit: int = 200) -> list[CheckIn]:
    """A registration's check-ins, newest first."""
    return list(
        session.scalars(
            select(CheckIn)
            .where(CheckIn.registration_id == registration_id)
            .order_by(CheckIn.at.desc(), CheckIn.id.desc())
            .limit(limit)
        )
    )


# --------------------------------------------------------------------------------------------
# SMS


_NUMBER = re.compile(r"^(\d{2}(?:[.,]\d{1,2})?)(?:°?c)?$", re.IGNORECASE)
_OK = frozenset({"ok", "okay", "none", "괜찮음", "없음"})
# Words a person may text for each symptom (English with - or _, and Korean).
_ALIASES: Mapping[str, str] = {
    **{s: s for s in SYMPTOMS},
    **{s.replace("_", "-"): s for s in SYMPTOMS},
    **{s.replace("_", ""): s for s in SYMPTOMS},
    "diarrhea": "diarrhoea",
    "breath": "shortness_of_breath",
    "breathless": "shortness_of_breath",
    "taste": "loss_of_taste_or_smell",
    "smell": "loss_of_taste_or_smell",
    "발열": "fever",
    "열": "fever",
    "기침": "cough",
    "인후통": "sore_throat",
    "숨가쁨": "shortness_of_breath",
    "호흡곤란": "trouble_breathing_at_rest",
    "미각상실": "loss_of_taste_or_smell",
    "후각상실": "loss_of_taste_or_smell",
    "콧물": "runny_nose",
    "근육통": "muscle_aches",
    "두통": "headache",
    "설사": "diarrhoea",
    "흉통": "chest_pain",
}
SMS_HINT = (
    'Reply with your temperature and any symptoms, e.g. "36.8", "OK 36.5" or '
    '"37.9 fever cough". Symptoms: ' + ", ".join(SYMPTOMS) + "."
)
SMS_MAX = 320


def parse_sms(text: str) -> SmsReading:
    """Parse an SMS check-in strictly: one temperature (34-43 °C), then symptom words or
    ``OK`` (none). Anything else raises `IsolationInvalid` with `SMS_HINT` as its hint."""
    if not isinstance(text, str) or not text.strip():
        raise IsolationInvalid("text: empty message", hint=SMS_HINT)
    if len(text) > SMS_MAX:
        raise IsolationInvalid(f"text: longer than {SMS_MAX} characters", hint=SMS_HINT)
    temps: list[float] = []
    names: list[str] = []
    ok = False
    for token in re.split(r"(?:[\s;]|,(?!\d))+", text.strip()):
        if not token:
            continue
        word = token.lower().rstrip(".!")
        number = _NUMBER.match(word)
        if number:
            temps.append(float(number.group(1).replace(",", ".")))
        elif word in _OK:
            ok = True
        elif word in _ALIASES:
            if _ALIASES[word] not in names:
                names.append(_ALIASES[word])
        else:
            raise IsolationInvalid(
                f"text: {token[:20]!r} is neither a temperature nor a symptom", hint=SMS_HINT
            )
    if not temps:
        raise IsolationInvalid("text: no temperature (e.g. 36.8)", hint=SMS_HINT)
    if len(temps) > 1:
        raise IsolationInvalid("text: more than one temperature", hint=SMS_HINT)
    if ok and names:
        raise IsolationInvalid("text: OK (no symptoms) together with symptoms", hint=SMS_HINT)
    try:
        temp = _temperature(temps[0])
    except IsolationInvalid as err:
        raise IsolationInvalid(str(err), hint=SMS_HINT) from None
    return SmsReading(temperature_c=temp, symptoms=tuple(sorted(names, key=SYMPTOMS.index)))


_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


def normalise_phone(phone: str) -> str:
    """E.164 from what a gateway sends: spaces, dots, hyphens and brackets dropped, ``00``
    read as ``+``, a leading ``0`` as a Korean national number (``+82``)."""
    raw = re.sub(r"[\s.\-()]", "", phone or "")
    if raw.startswith("00"):
        raw = "+" + raw[2:]
    elif raw.startswith("0"):
        raw = "+82" + raw[1:]
    if not _E164.match(raw):
        raise IsolationInvalid("from: not a phone number (E.164, e.g. +821012345678)")
    return raw


def sms_check_in(
    session: Session, *, phone: str, text: str, now: dt.datetime | None = None
) -> CheckInResult:
    """A check-in by SMS reply: the sender's phone maps to the person through the recipient
    directory; the text is parsed by `parse_sms`. Unknown phone: `IsolationNotFound`; several
    people isolating on one phone: `IsolationConflict` (they check in by app or call)."""
    number = normalise_phone(phone)
    reading = parse_sms(text)
    people = list(session.scalars(select(Recipient.person_id).where(Recipient.phone == number)))
    if not people:
        raise IsolationNotFound("from: this phone is not in the recipient directory")
    if len(people) > 1:
        isolating = list(
            session.scalars(
                select(IsolationRegistration.person_id).where(
                    IsolationRegistration.person_id.in_(people),
                    IsolationRegistration.status == "active",
                )
            )
        )
        if len(isolating) > 1:
            raise IsolationConflict(
                "from: several people isolating share this phone; check in with the app or "
                "call your officer"
            )
        people = isolating or people[:1]
    return check_in(
        session,
        person_id=people[0],
        temperature_c=reading.temperature_c,
        symptoms=reading.symptoms,
        source="sms",
        now=now,
    )


# --------------------------------------------------------------------------------------------
# the sweep: missed check-ins


def _windows_closed(now: dt.datetime) -> list[tuple[dt.date, str, dt.datetime, dt.datetime]]:
    local = now.astimezone(SEOUL)
    out = []
    for back in (2, 1, 0):
        day = local.date() - dt.timedelta(days=back)
        for name, (start, end) in WINDOWS.items():
            opens = dt.datetime.combine(day, start, SEOUL)
            closes = dt.datetime.combine(day, end, SEOUL)
            if now - LOOKBACK < closes <= now:
                out.append((day, name, opens, closes))
    return out


def _insert_alerts(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert alert rows, skipping any whose (registration, kind, key) exists already."""
    table = IsolationAlert.__table__
    assert isinstance(table, Table)
    dialect = session.get_bind().dialect.name
    done = 0
    unique = ["registration_id", "kind", "key"]
    for i in range(0, len(rows), 500):
        chunk = rows[i : i + 500]
        stmt: Insert
        if dialect == "postgresql":
            stmt = postgresql.insert(table).on_conflict_do_nothing(index_elements=unique)
        elif dialect == "sqlite":
            stmt = sqlite.insert(table).on_conflict_do_nothing(index_elements=unique)
        else:
            stmt = insert(table)
        result = session.execute(stmt.values(chunk).returning(table.c.id))
        done += len(result.all())
    return done


def check_missed(session: Session, now: dt.datetime | None = None) -> MissedReport:
    """Alert the officer about every check-in window of the last 36 hours that closed without
    a check-in from an active registration (once per window), and remind the person.

    A window counts from the registration's first day to its last, and only if the person was
    registered before it opened. Idempotent: a second sweep adds nothing."""
    when = _now(now)
    windows = _windows_closed(when)
    report = MissedReport(windows=[(d, s) for d, s, _, _ in windows])
    if not windows:
        return report
    regs = session.execute(
        select(
            IsolationRegistration.id,
            IsolationRegistration.officer_id,
            IsolationRegistration.start_date,
            IsolationRegistration.end_date,
            IsolationRegistration.created_at,
        ).where(IsolationRegistration.status == "active")
    ).all()
    report.registrations = len(regs)
    days = sorted({d for d, _, _, _ in windows})
    active = {r.id for r in regs}
    done = {
        (rid, day, slot)
        for rid, day, slot in session.execute(
            select(CheckIn.registration_id, CheckIn.local_date, CheckIn.slot).where(
                CheckIn.local_date.in_(days), CheckIn.slot.in_(tuple(WINDOWS))
            )
        )
        if rid in active
    }
    known = set(
        session.execute(
            select(IsolationAlert.registration_id, IsolationAlert.key).where(
                IsolationAlert.kind == "missed_checkin",
                IsolationAlert.created_at >= when - LOOKBACK - dt.timedelta(days=1),
            )
        )
    )
    rows: list[dict[str, Any]] = []
    reminders: list[tuple[int, dt.date, str]] = []
    for r in regs:
        for day, slot, opens, closes in windows:
            if not r.start_date <= day <= r.end_date or r.created_at > opens:
                continue
            key = f"{day.isoformat()}:{slot}"
            if (r.id, day, slot) in done or (r.id, key) in known:
                continue
            rows.append(
                {
                    "registration_id": r.id,
                    "officer_id": r.officer_id,
                    "kind": "missed_checkin",
                    "key": key,
                    "detail": f"no check-in in the {slot} window of {day.isoformat()} "
                    f"({opens.strftime('%H:%M')}-{closes.strftime('%H:%M')} Seoul time)",
                    "checkin_id": None,
                    "created_at": when,
                }
            )
            reminders.append((r.id, day, slot))
    report.alerts = _insert_alerts(session, rows)
    if reminders:
        regs_by_id = {
            reg.id: reg
            for reg in session.scalars(
                select(IsolationRegistration).where(
                    IsolationRegistration.id.in_({rid for rid, _, _ in reminders})
                )
            )
        }
        for rid, day, slot in reminders:
            _notice(
                session,
                regs_by_id[rid],
                f"missed:{day.isoformat()}:{slot}",
                f"We did not receive your {slot} check-in of {day.isoformat()}. Please check in "
                'now in the app or by SMS reply (e.g. "36.8"); your officer has been told.',
                when,
            )
            report.reminders += 1
    session.flush()
    return report


# --------------------------------------------------------------------------------------------
# release


def _negative_since(session: Session, person_id: int, since: dt.date) -> bool:
    """Whether the person's latest screening result is negative from a sample taken on or
    after `since` (local date)."""
    from epicity.screening.service import latest_result  # screening is optional at import

    result = latest_result(session, person_id=person_id)
    if result is None or result.result != "negative":
        return False
    return bool(result.sampled_at.astimezone(SEOUL).date() >= since)


def _close(
    session: Session,
    reg: IsolationRegistration,
    status: str,
    actor: str,
    reason: str,
    when: dt.datetime,
) -> None:
    reg.status = status
    reg.released_at = when
    reg.released_by = actor
    reg.release_reason = reason
    reg.updated_at = when
    if reg.case_id is not None:
        contact = session.scalars(
            select(CaseContact).where(
                CaseContact.case_id == reg.case_id, CaseContact.person_id == reg.person_id
            )
        ).one_or_none()
        if contact is not None and contact.follow_up in ("in_isolation", "tested"):
            update_follow_up(
                session,
                contact_id=contact.id,
                to="released",
                actor=actor,
                note=f"self-isolation {status.replace('_', ' ')} (registration {reg.id})",
            )


def release_due(
    session: Session, today: dt.date | None = None, *, now: dt.datetime | None = None
) -> ReleaseReport:
    """Release every active registration whose end date is before `today` (Seoul), except
    those needing a negative test that has not come yet; queue the ``released`` notices."""
    when = _now(now)
    day = _local_day(when) if today is None else _date(today, "today")
    report = ReleaseReport()
    due = session.scalars(
        select(IsolationRegistration)
        .where(IsolationRegistration.status == "active", IsolationRegistration.end_date < day)
        .order_by(IsolationRegistration.id)
    ).all()
    for reg in due:
        since = reg.end_date - dt.timedelta(days=NEGATIVE_TEST_DAYS)
        if reg.needs_negative_test and not _negative_since(session, reg.person_id, since):
            report.waiting_for_test.append(reg.id)
            continue
        reason = "end date passed" + (" and a negative test" if reg.needs_negative_test else "")
        _close(session, reg, "released", SYSTEM, reason, when)
        _notice(
            session,
            reg,
            "released",
            f"Your self-isolation ended on {reg.end_date.isoformat()}: you are released. "
            "Thank you for protecting others.",
            when,
        )
        report.released.append(reg.id)
    session.flush()
    return report


def end_registration(
    session: Session,
    *,
    registration_id: int,
    actor: str,
    reason: str,
    now: dt.datetime | None = None,
) -> IsolationRegistration:
    """An officer ends an active registration: ``released`` when its end date has passed and
    any negative test it needs has come, else ``ended_early`` (hospitalised, confirmed as a
    case, ordered in error); the reason is required."""
    when = _now(now)
    who = _actor(actor)
    why = (reason or "").strip()
    if not why or len(why) > 2000:
        raise IsolationInvalid("reason: required, at most 2000 characters")
    reg = _registration(session, registration_id)
    if reg.status != "active":
        raise IsolationConflict(f"registration {reg.id} is {reg.status} already")
    today = _local_day(when)
    done = reg.end_date < today and (
        not reg.needs_negative_test
        or _negative_since(session, reg.person_id, reg.end_date - dt.timedelta(NEGATIVE_TEST_DAYS))
    )
    status = "released" if done else "ended_early"
    _close(session, reg, status, who, why, when)
    _notice(
        session,
        reg,
        "released",
        "Your self-isolation has ended: you are released." if done
        else "Your self-isolation registration was ended by your health officer; they will "
        "tell you what comes next.",
        when,
    )  # fmt: skip
    session.flush()
    return reg


# --------------------------------------------------------------------------------------------
# alerts and the caseload


def _alert_info(a: IsolationAlert) -> AlertInfo:
    return AlertInfo(
        id=a.id,
        registration_id=a.registration_id,
        kind=a.kind,
        detail=a.detail,
        created_at=a.created_at,
        acknowledged_at=a.acknowledged_at,
        acknowledged_by=a.acknowledged_by,
        note=a.note,
    )


def list_alerts(
    session: Session,
    *,
    officer_id: int | None = None,
    open_only: bool = True,
    registration_id: int | None = None,
    limit: int = 500,
) -> list[AlertInfo]:
    """Alerts, newest first: of one officer (None: everyone's) or one registration, open ones
    only by default."""
    stmt = select(IsolationAlert)
    if registration_id is not None:
        stmt = stmt.where(IsolationAlert.registration_id == registration_id)
    if officer_id is not None:
        stmt = stmt.where(IsolationAlert.officer_id == officer_id)
    if open_only:
        stmt = stmt.where(IsolationAlert.acknowledged_at.is_(None))
    stmt = stmt.order_by(IsolationAlert.created_at.desc(), IsolationAlert.id.desc()).limit(limit)
    return [_alert_info(a) for a in session.scalars(stmt)]


def acknowledge(
    session: Session,
    *,
    alert_id: int,
    actor: str,
    note: str = "",
    now: dt.datetime | None = None,
) -> AlertInfo:
    """An officer acknowledges an alert (what they did, in `note`); twice is a conflict."""
    when = _now(now)
    who = _actor(actor)
    if len(note or "") > 2000:
        raise IsolationInvalid("note: at most 2000 characters")
    alert = session.get(IsolationAlert, _int_id(alert_id, "alert_id"))
    if alert is None:
        raise IsolationNotFound(f"alert_id: no alert with id {alert_id}")
    if alert.acknowledged_at is not None:
        raise IsolationConflict(
            f"alert {alert.id} was acknowledged already by {alert.acknowledged_by}"
        )
    alert.acknowledged_at = when
    alert.acknowledged_by = who
    alert.note = (note or "").strip() or None
    session.flush()
    return _alert_info(alert)


def caseload(
    session: Session, *, officer_id: int | None = None, now: dt.datetime | None = None
) -> list[CaseloadRow]:
    """The active registrations of an officer (None: all), worst first: open alerts, then
    recent missed check-ins, red flags, fever, temperature; then the earliest end date."""
    when = _now(now)
    where = [IsolationRegistration.status == "active"]
    if officer_id is not None:
        where.append(IsolationRegistration.officer_id == officer_id)
    regs = session.scalars(select(IsolationRegistration).where(*where)).all()
    if not regs:
        return []
    ids = [r.id for r in regs]
    open_alerts: dict[int, list[AlertInfo]] = defaultdict(list)
    missed: dict[int, int] = defaultdict(int)
    last: dict[int, tuple[dt.datetime, float, str]] = {}
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        for a in session.scalars(
            select(IsolationAlert)
            .where(
                IsolationAlert.registration_id.in_(chunk), IsolationAlert.acknowledged_at.is_(None)
            )
            .order_by(IsolationAlert.created_at)
        ):
            open_alerts[a.registration_id].append(_alert_info(a))
        for rid, n in session.execute(
            select(IsolationAlert.registration_id, func.count())
            .where(
                IsolationAlert.registration_id.in_(chunk),
                IsolationAlert.kind == "missed_checkin",
                IsolationAlert.created_at >= when - dt.timedelta(hours=48),
            )
            .group_by(IsolationAlert.registration_id)
        ):
            missed[rid] = int(n)
        latest = (
            select(CheckIn.registration_id, func.max(CheckIn.at).label("at"))
            .where(CheckIn.registration_id.in_(chunk))
            .group_by(CheckIn.registration_id)
            .subquery()
        )
        for rid, at, temp, symptoms in session.execute(
            select(
                CheckIn.registration_id, CheckIn.at, CheckIn.temperature_c, CheckIn.symptoms
            ).join(
                latest,
                (latest.c.registration_id == CheckIn.registration_id) & (latest.c.at == CheckIn.at),
            )
        ):
            last[rid] = (at, temp, symptoms)
    rows = []
    for r in regs:
        seen = last.get(r.id)
        last_at = None if seen is None else seen[0]
        last_temp = None if seen is None else seen[1]
        last_symptoms = "" if seen is None else seen[2]
        rows.append(
            CaseloadRow(
                registration_id=r.id,
                person_id=r.person_id,
                kind=r.kind,
                officer_id=r.officer_id,
                start=r.start_date,
                end=r.end_date,
                address_set=r.lat is not None,
                needs_negative_test=r.needs_negative_test,
                open_alerts=tuple(open_alerts.get(r.id, ())),
                missed_recent=missed.get(r.id, 0),
                last_checkin_at=last_at,
                last_temperature_c=last_temp,
                last_symptoms=tuple(s for s in last_symptoms.split(",") if s),
            )
        )
    rows.sort(key=lambda row: (row.end, row.registration_id))
    rows.sort(key=CaseloadRow.severity, reverse=True)  # stable: ties keep the end-date order
    return rows


def registration(session: Session, *, registration_id: int) -> IsolationRegistration:
    """One registration (`IsolationNotFound` when there is none)."""
    return _registration(session, registration_id)
