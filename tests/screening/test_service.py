"""Screening service on SQLite and PostgreSQL: centres, bookings, the queue, check-in, lab
batches with Dorfman pools, results into cases and the outbox, turnaround; refusals change
nothing; the migration matches the models."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from epicity.cases.models import Case
from epicity.cases.service import create_case
from epicity.db import Base, migrate
from epicity.screening import service as sv
from epicity.screening.errors import Conflict, NotFound, ScreeningError, SlotUnavailable
from epicity.screening.models import Batch, Booking, Centre, OpeningHours, Pool, Sample, Slot
from epicity.tracing.models import OutboxMessage

SEOUL = ZoneInfo("Asia/Seoul")
MONDAY = dt.date(2020, 3, 2)
SUNDAY = dt.date(2020, 3, 8)
WEEK = {d: (dt.time(9), dt.time(18)) for d in range(6)}  # Monday to Saturday, 09:00-18:00
TABLES = {
    "screening_centres",
    "screening_hours",
    "screening_slots",
    "screening_bookings",
    "screening_samples",
    "screening_batches",
    "screening_pools",
}


def at(day: dt.date, hh: int, mm: int = 0) -> dt.datetime:
    """An instant at local Seoul time `hh:mm` on `day`."""
    return dt.datetime.combine(day, dt.time(hh, mm), tzinfo=SEOUL)


def centre(session: Session, name: str = "Guro walk-through", **kw: Any) -> Centre:
    args: dict[str, Any] = {
        "actor": "officer",
        "kind": "walk_through",
        "name": name,
        "district": "Guro-gu",
        "lat": 37.495,
        "lon": 126.887,
        "lanes": 2,
        "minutes_per_test": 5,
        "hours": WEEK,
        "slot_minutes": 15,
        "now": at(MONDAY, 8),
    }
    args.update(kw)
    return sv.create_centre(session, **args)


def counts(session: Session) -> dict[str, int]:
    """Rows in every table a screening refusal could touch (after a flush)."""
    session.flush()
    models = (Centre, OpeningHours, Slot, Booking, Sample, Batch, Pool, Case, OutboxMessage)
    got = {
        m.__tablename__: session.scalar(select(func.count()).select_from(m)) or 0 for m in models
    }
    got["booked places"] = session.scalar(select(func.coalesce(func.sum(Slot.booked), 0))) or 0
    got["tests used"] = session.scalar(select(func.coalesce(func.sum(Batch.tests_used), 0))) or 0
    got["waiting"] = session.scalar(select(func.count()).where(Sample.status == "waiting")) or 0
    return got


@pytest.fixture
def refused(session: Session) -> Callable[..., Iterator[None]]:
    """`with refused(Error, "text"):` the block raises and leaves every table as it was."""
    import contextlib

    @contextlib.contextmanager
    def check(error: type[Exception], match: str) -> Iterator[None]:
        before = counts(session)
        with pytest.raises(error, match=match):
            yield
        assert counts(session) == before

    return check


# -- schema -----------------------------------------------------------------------------------


def _ours(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    table = getattr(obj, "table", obj)
    return getattr(table, "name", name) in TABLES


def test_models_match_the_migration(db_engine: sa.Engine) -> None:
    migrate(db_engine)
    assert set(sa.inspect(db_engine).get_table_names()) >= TABLES
    with db_engine.connect() as con:
        context = MigrationContext.configure(
            con, opts={"compare_type": True, "include_object": _ours}
        )
        assert compare_metadata(context, Base.metadata) == []


# -- centres ------------------------------------------------------------------------------------


def test_a_centre_and_its_slots(session: Session) -> None:
    c = centre(session)
    assert c.slot_capacity == 6  # 2 lanes x 15 min / 5 min a test
    assert sv.opening_hours(session, centre_id=c.id) == WEEK
    day = sv.slots(session, centre_id=c.id, day=MONDAY)
    assert len(day) == 36  # 09:00 to 17:45
    assert day[0].starts_at == at(MONDAY, 9)
    assert day[-1].ends_at == at(MONDAY, 18)
    assert {s.capacity for s in day} == {6}
    assert {s.booked for s in day} == {0}
    assert sv.slots(session, centre_id=c.id, day=SUNDAY) == []


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"lat": 91.0}, "lat must be at least -90 and at most 90"),
        ({"lat": float("nan")}, "lat must be a number"),
        ({"lon": -180.5}, "lon must be"),
        ({"kind": "tent"}, "kind 'tent' is not one of"),
        ({"lanes": 0}, "lanes must be a whole number from 1"),
        ({"minutes_per_test": 0.1}, "minutes_per_test must be at least 0.5"),
        ({"minutes_per_test": 40}, "fits no 40-minute test"),
        ({"name": "  "}, "name must not be empty"),
        ({"hours": {}}, "hours: give the opening hours"),
        ({"hours": {7: (dt.time(9), dt.time(18))}}, "hours weekday must be"),
        ({"hours": {0: (dt.time(18), dt.time(9))}}, r"hours.mon: 18:00-09:00 must close"),
        ({"hours": {0: (dt.time(9), dt.time(9, 10))}}, "room for at least one 15-minute slot"),
    ],
)
def test_bad_centres_are_refused(
    session: Session, refused: Callable[..., Any], change: dict[str, Any], match: str
) -> None:
    with refused(ScreeningError, match):
        centre(session, **change)


def test_a_centre_name_is_unique_and_updates_apply(
    session: Session, refused: Callable[..., Any]
) -> None:
    c = centre(session)
    with refused(Conflict, "a centre named 'Guro walk-through' exists already"):
        centre(session)
    sv.update_centre(
        session, centre_id=c.id, actor="officer", lanes=4, hours={6: (dt.time(10), dt.time(12))}
    )
    assert c.slot_capacity == 12
    assert sv.opening_hours(session, centre_id=c.id) == {6: (dt.time(10), dt.time(12))}
    with refused(NotFound, "no centre with id 999"):
        sv.update_centre(session, centre_id=999, actor="officer", lanes=1)


# -- bookings -----------------------------------------------------------------------------------


def test_booking_refusals(session: Session, refused: Callable[..., Any]) -> None:
    c = centre(session)
    now = at(MONDAY, 8)
    b = sv.book(session, person_id=7, centre_id=c.id, slot_start=at(MONDAY, 10), now=now)
    assert (b.status, b.active_day) == ("booked", MONDAY)
    with refused(Conflict, "already booked on 2020-03-02"):
        sv.book(session, person_id=7, centre_id=c.id, slot_start=at(MONDAY, 15), now=now)
    with refused(SlotUnavailable, "it is closed on suns"):
        sv.book(session, person_id=8, centre_id=c.id, slot_start=at(SUNDAY, 10), now=now)
    with refused(SlotUnavailable, "not a slot of centre"):
        sv.book(session, person_id=8, centre_id=c.id, slot_start=at(MONDAY, 8, 45), now=now)
    with refused(SlotUnavailable, "not a slot of centre"):
        sv.book(session, person_id=8, centre_id=c.id, slot_start=at(MONDAY, 10, 7), now=now)
    with refused(SlotUnavailable, "not a slot of centre"):  # the last slot starts 17:45
        sv.book(session, person_id=8, centre_id=c.id, slot_start=at(MONDAY, 18), now=now)
    with refused(SlotUnavailable, "is over"):
        sv.book(
            session, person_id=8, centre_id=c.id, slot_start=at(MONDAY, 9), now=at(MONDAY, 9, 15)
        )
    with refused(ScreeningError, "slot_start must have a time zone"):
        sv.book(
            session, person_id=8, centre_id=c.id, slot_start=dt.datetime(2020, 3, 2, 10), now=now
        )
    with refused(ScreeningError, "person_id must be a whole number"):
        sv.book(session, person_id=0, centre_id=c.id, slot_start=at(MONDAY, 11), now=now)
    with refused(NotFound, "no centre with id 999"):
        sv.book(session, person_id=8, centre_id=999, slot_start=at(MONDAY, 11), now=now)
    # the slot fills up: capacity 6, person 7 holds one place
    for person in range(100, 105):
        sv.book(session, person_id=person, centre_id=c.id, slot_start=at(MONDAY, 10), now=now)
    with refused(SlotUnavailable, r"is full \(6 places\)"):
        sv.book(session, person_id=8, centre_id=c.id, slot_start=at(MONDAY, 10), now=now)
    # a cancellation frees a place, and its owner may book that day again
    with refused(NotFound, "no booking"):
        sv.cancel_booking(session, booking_id=b.id, person_id=8, now=now)
    sv.cancel_booking(session, booking_id=b.id, person_id=7, now=now)
    assert (b.status, b.active_day) == ("cancelled", None)
    with refused(Conflict, "is cancelled"):
        sv.cancel_booking(session, booking_id=b.id, person_id=7, now=now)
    sv.book(session, person_id=8, centre_id=c.id, slot_start=at(MONDAY, 10), now=now)
    sv.book(session, person_id=7, centre_id=c.id, slot_start=at(MONDAY, 16), now=now)
    assert [s.booked for s in sv.slots(session, centre_id=c.id, day=MONDAY) if s.booked] == [6, 1]
    assert [x.status for x in sv.bookings_of(session, person_id=7)] == ["booked", "cancelled"]
    # a centre not taking bookings
    sv.update_centre(session, centre_id=c.id, actor="officer", active=False)
    with refused(SlotUnavailable, "not taking bookings"):
        sv.book(session, person_id=9, centre_id=c.id, slot_start=at(MONDAY, 11), now=now)


def test_the_database_refuses_a_second_active_booking_a_day(session: Session) -> None:
    c = centre(session)
    session.add(
        Booking(
            centre_id=c.id, person_id=5, slot_start=at(MONDAY, 10), status="booked",
            active_day=MONDAY, created_at=at(MONDAY, 8),
        )
    )  # fmt: skip
    session.flush()
    session.add(
        Booking(
            centre_id=c.id, person_id=5, slot_start=at(MONDAY, 11), status="booked",
            active_day=MONDAY, created_at=at(MONDAY, 8),
        )
    )  # fmt: skip
    with pytest.raises(sa.exc.IntegrityError):
        session.flush()


# -- queue and check-in -------------------------------------------------------------------------


def test_queue_wait_and_centre_status(session: Session, refused: Callable[..., Any]) -> None:
    c = centre(session)  # 2 lanes, 5 minutes a test: 2.5 minutes a person
    other = centre(session, "Mapo drive-through", kind="drive_through", district="Mapo-gu")
    noon = at(MONDAY, 12)
    for person in range(1, 5):
        sv.check_in(session, centre_id=c.id, actor="nurse", person_id=person, now=noon)
    # two booked arrivals due: one in the current slot, one within the 10-minute wait
    sv.book(session, person_id=50, centre_id=c.id, slot_start=at(MONDAY, 12), now=at(MONDAY, 8))
    sv.book(session, person_id=51, centre_id=c.id, slot_start=at(MONDAY, 12, 15), now=at(MONDAY, 8))
    sv.book(session, person_id=52, centre_id=c.id, slot_start=at(MONDAY, 13), now=at(MONDAY, 8))
    q = sv.queue(session, centre_id=c.id, at=at(MONDAY, 12, 6))
    assert (q.open_now, q.waiting, q.booked_due) == (True, 4, 2)
    assert q.wait_minutes == pytest.approx(6 * 2.5)
    status = {s.centre_id: s for s in sv.centre_status(session, at=at(MONDAY, 12, 6))}
    assert status[c.id].open_now
    assert status[c.id].wait_minutes == pytest.approx(15)
    assert status[c.id].next_open is None
    assert status[other.id].wait_minutes == 0
    assert (status[c.id].lat, status[c.id].kind) == (37.495, "walk_through")
    night = {s.centre_id: s for s in sv.centre_status(session, at=at(MONDAY, 20))}
    assert not night[c.id].open_now
    assert night[c.id].wait_minutes is None
    assert night[c.id].next_open == at(MONDAY + dt.timedelta(days=1), 9)
    saturday = {s.centre_id: s for s in sv.centre_status(session, at=at(SUNDAY, 10))}
    assert saturday[c.id].next_open == at(SUNDAY + dt.timedelta(days=1), 9)
    # collected samples leave the queue
    first = sv.list_samples(session, centre_id=c.id, status="waiting")[-1]
    sv.collect_sample(session, barcode=first.barcode, now=at(MONDAY, 12, 7))
    assert sv.queue(session, centre_id=c.id, at=at(MONDAY, 12, 7)).waiting == 3
    with refused(Conflict, "is collected already"):
        sv.collect_sample(session, barcode=first.barcode, now=at(MONDAY, 12, 8))


def test_check_in_refusals(session: Session, refused: Callable[..., Any]) -> None:
    c = centre(session)
    other = centre(session, "Mapo drive-through", kind="drive_through", district="Mapo-gu")
    tuesday = MONDAY + dt.timedelta(days=1)
    booked = sv.book(
        session, person_id=7, centre_id=c.id, slot_start=at(MONDAY, 10), now=at(MONDAY, 8)
    )
    later = sv.book(
        session, person_id=8, centre_id=c.id, slot_start=at(tuesday, 10), now=at(MONDAY, 8)
    )
    s = sv.check_in(
        session, centre_id=c.id, actor="nurse", booking_id=booked.id, barcode="LAB-000001",
        now=at(MONDAY, 10, 2),
    )  # fmt: skip
    assert (s.barcode, s.arrival, s.status, s.person_id) == ("LAB-000001", "booked", "waiting", 7)
    assert (booked.status, booked.active_day) == ("checked_in", None)
    with refused(Conflict, "LAB-000001 is used already"):
        sv.check_in(
            session,
            centre_id=c.id,
            actor="nurse",
            person_id=9,
            barcode="LAB-000001",
            now=at(MONDAY, 11),
        )
    with refused(Conflict, "is checked in"):
        sv.check_in(
            session, centre_id=c.id, actor="nurse", booking_id=booked.id, now=at(MONDAY, 11)
        )
    with refused(Conflict, "is for 2020-03-03, not today"):
        sv.check_in(session, centre_id=c.id, actor="nurse", booking_id=later.id, now=at(MONDAY, 11))
    with refused(Conflict, "at another centre"):
        sv.check_in(
            session, centre_id=other.id, actor="nurse", booking_id=later.id, now=at(tuesday, 10)
        )
    with refused(SlotUnavailable, "is closed now"):
        sv.check_in(session, centre_id=c.id, actor="nurse", person_id=9, now=at(MONDAY, 19))
    with refused(Conflict, "is in a queue already"):
        sv.check_in(session, centre_id=other.id, actor="nurse", person_id=7, now=at(MONDAY, 11))
    with refused(ScreeningError, "give exactly one"):
        sv.check_in(session, centre_id=c.id, actor="nurse", now=at(MONDAY, 11))
    with refused(ScreeningError, "barcode must be 6 to 32"):
        sv.check_in(
            session, centre_id=c.id, actor="nurse", person_id=9, barcode="a b", now=at(MONDAY, 11)
        )
    walk_in = sv.check_in(session, centre_id=c.id, actor="nurse", person_id=9, now=at(MONDAY, 11))
    assert walk_in.barcode.startswith("EPC-")
    assert walk_in.arrival == "walk_in"


# -- lab batches and results ------------------------------------------------------------------


_people = itertools.count(1000)


def collected(session: Session, c: Centre, n: int, when: dt.datetime) -> list[Sample]:
    """`n` walk-ins at `c`, checked in and sampled at `when`."""
    found = []
    for _ in range(n):
        s = sv.check_in(session, centre_id=c.id, actor="nurse", person_id=next(_people), now=when)
        found.append(sv.collect_sample(session, barcode=s.barcode, now=when))
    return found


def run_lab(
    session: Session, batch: Batch, truth: dict[str, bool], when: dt.datetime
) -> list[sv.ResultOutcome]:
    """Test every pool of `batch`, then every retest, as a perfect lab would."""
    outcomes = []
    for pool in sv.batch_pools(session, batch_id=batch.id):
        result = "positive" if any(truth[b] for b in pool.barcodes) else "negative"
        outcomes += sv.record_pool_result(
            session, batch_id=batch.id, pool_number=pool.number, result=result, actor="lab",
            now=when,
        )  # fmt: skip
    for o in [o for o in outcomes if o.status == "retest"]:
        outcomes.append(
            sv.record_sample_result(
                session, barcode=o.barcode, result="positive" if truth[o.barcode] else "negative",
                actor="lab", now=when,
            )
        )  # fmt: skip
    return outcomes


def test_a_pooled_batch_from_sample_to_case_and_message(
    session: Session, refused: Callable[..., Any]
) -> None:
    c = centre(session)
    samples = collected(session, c, 8, at(MONDAY, 10))
    codes = [s.barcode for s in samples]
    sick = samples[2]
    batch = sv.create_batch(
        session, actor="lab", lab="Seoul lab 1", barcodes=codes, pool_size=4, now=at(MONDAY, 11)
    )
    assert (batch.mode, batch.pool_size, batch.samples, batch.status) == ("pooled", 4, 8, "open")
    pools = sv.batch_pools(session, batch_id=batch.id)
    assert [p.barcodes for p in pools] == [tuple(codes[:4]), tuple(codes[4:])]
    assert {s.status for s in samples} == {"in_lab"}
    assert samples[0].received_at == at(MONDAY, 11)
    # the positive pool: its four go to retest; the negative one: four negative results
    first = sv.record_pool_result(
        session,
        batch_id=batch.id,
        pool_number=1,
        result="positive",
        actor="lab",
        now=at(MONDAY, 13),
    )
    assert [o.status for o in first] == ["retest"] * 4
    second = sv.record_pool_result(
        session,
        batch_id=batch.id,
        pool_number=2,
        result="negative",
        actor="lab",
        now=at(MONDAY, 13),
    )
    assert [(o.status, o.result) for o in second] == [("resulted", "negative")] * 4
    with refused(Conflict, "was tested already"):
        sv.record_pool_result(
            session, batch_id=batch.id, pool_number=2, result="positive", actor="lab"
        )
    with refused(NotFound, "has no pool 3"):
        sv.record_pool_result(
            session, batch_id=batch.id, pool_number=3, result="positive", actor="lab"
        )
    with refused(ScreeningError, "result 'maybe' is not one of"):
        sv.record_sample_result(session, barcode=sick.barcode, result="maybe", actor="lab")
    with refused(Conflict, r"is resulted \(negative\)"):
        sv.record_sample_result(session, barcode=codes[5], result="positive", actor="lab")
    for s in samples[:4]:
        outcome = sv.record_sample_result(
            session, barcode=s.barcode, result="positive" if s is sick else "negative",
            actor="lab", now=at(MONDAY, 15),
        )  # fmt: skip
        if s is sick:
            assert outcome.case_id is not None
            assert outcome.traceable
    assert batch.tests_used == 2 + 4
    assert batch.status == "done"
    assert batch.completed_at == at(MONDAY, 15)
    # the positive opened a confirmed, traceable case in case management
    case = session.get(Case, sick.case_id)
    assert case is not None
    assert (case.status, case.source, case.external_ref, case.person_id) == (
        "confirmed", "screening", sick.barcode, sick.person_id,
    )  # fmt: skip
    assert (case.confirmed_date, case.test_date, case.district) == (MONDAY, MONDAY, "Guro-gu")
    # every result was queued to its person, once, and the time recorded
    messages = list(
        session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "test_result"))
    )
    assert len(messages) == 8
    assert {m.approved_by for m in messages} == {"system"}
    assert all(s.notified_at is not None and s.outbox_id is not None for s in samples)
    sick_message = session.get(OutboxMessage, sick.outbox_id)
    assert sick_message is not None
    assert sick_message.recipient == f"person:{sick.person_id}"
    assert sick_message.payload["result"] == "positive"
    assert "POSITIVE" in sick_message.payload["text"]
    info = sv.latest_result(session, person_id=sick.person_id)
    assert info == sv.ResultInfo("positive", at(MONDAY, 10), at(MONDAY, 15), sick.barcode)
    assert sv.latest_result(session, person_id=codes.__len__() + 10**9) is None
    assert [s.result for s in sv.results_of(session, person_id=samples[0].person_id)] == [
        "negative"
    ]


def test_batch_refusals(session: Session, refused: Callable[..., Any]) -> None:
    c = centre(session)
    ready = collected(session, c, 3, at(MONDAY, 10))
    waiting = sv.check_in(
        session, centre_id=c.id, actor="nurse", person_id=next(_people), now=at(MONDAY, 10)
    )
    codes = [s.barcode for s in ready]
    with refused(ScreeningError, "no result in the last 7 days"):
        sv.create_batch(session, actor="lab", lab="L", barcodes=codes, now=at(MONDAY, 11))
    with refused(NotFound, "no sample NOPE-0001"):
        sv.create_batch(session, actor="lab", lab="L", barcodes=[*codes, "NOPE-0001"], pool_size=2)
    with refused(Conflict, "is waiting, not collected"):
        sv.create_batch(
            session, actor="lab", lab="L", barcodes=[*codes, waiting.barcode], pool_size=2
        )
    with refused(ScreeningError, "is given twice"):
        sv.create_batch(session, actor="lab", lab="L", barcodes=[codes[0], codes[0]], pool_size=2)
    with refused(ScreeningError, "at least one"):
        sv.create_batch(session, actor="lab", lab="L", barcodes=[], pool_size=2)
    with refused(ScreeningError, "prevalence must be at least 0"):
        sv.create_batch(session, actor="lab", lab="L", barcodes=codes, prevalence=1.5)
    with refused(ScreeningError, "individual testing runs pools of one"):
        sv.create_batch(
            session, actor="lab", lab="L", barcodes=codes, mode="individual", pool_size=3
        )
    single = sv.create_batch(session, actor="lab", lab="L", barcodes=codes[:1], mode="individual")
    assert single.pool_size == 1
    with refused(Conflict, f"is in batch {single.id} already"):
        sv.create_batch(session, actor="lab", lab="L", barcodes=codes, pool_size=2)
    # a pool of one gives its member's result at once (inconclusive too)
    [outcome] = sv.record_pool_result(
        session,
        batch_id=single.id,
        pool_number=1,
        result="inconclusive",
        actor="lab",
        now=at(MONDAY, 12),
    )
    assert (outcome.status, outcome.result, outcome.case_id) == ("resulted", "inconclusive", None)
    assert single.tests_used == 1
    assert single.status == "done"


def test_pool_size_from_given_prevalence_then_recent_positivity(session: Session) -> None:
    c = centre(session)
    samples = collected(session, c, 20, at(MONDAY, 9, 30))
    codes = [s.barcode for s in samples]
    truth = {code: i == 0 for i, code in enumerate(codes)}
    batch = sv.create_batch(
        session, actor="lab", lab="L", barcodes=codes[:10], prevalence=0.01, now=at(MONDAY, 10)
    )
    assert batch.pool_size == 11  # Dorfman's best at 1%; the ten samples make one pool
    assert [p.size for p in sv.batch_pools(session, batch_id=batch.id)] == [10]
    assert batch.prevalence == 0.01
    run_lab(session, batch, truth, at(MONDAY, 12))
    assert sv.recent_positivity(session, now=at(MONDAY, 13)) == pytest.approx(0.1)
    recent = sv.create_batch(session, actor="lab", lab="L", barcodes=codes[10:], now=at(MONDAY, 13))
    assert recent.prevalence == pytest.approx(0.1)
    assert recent.pool_size == 4


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    truth=st.lists(st.booleans(), min_size=1, max_size=12),
    pool_size=st.integers(1, 6),
)
def test_pooled_results_equal_each_persons_true_status(
    session: Session, truth: list[bool], pool_size: int
) -> None:
    name = f"Centre {next(_people)}"
    c = centre(session, name)
    samples = collected(session, c, len(truth), at(MONDAY, 10))
    status = {s.barcode: positive for s, positive in zip(samples, truth, strict=True)}
    batch = sv.create_batch(
        session,
        actor="lab",
        lab="L",
        barcodes=list(status),
        pool_size=pool_size,
        now=at(MONDAY, 11),
    )
    run_lab(session, batch, status, at(MONDAY, 14))
    for s in samples:
        assert s.result == ("positive" if status[s.barcode] else "negative")
        assert (s.case_id is not None) == status[s.barcode]
    pools = -(-len(truth) // pool_size)
    retests = sum(
        p.size for p in sv.batch_pools(session, batch_id=batch.id)
        if p.size > 1 and any(status[b] for b in p.barcodes)
    )  # fmt: skip
    assert batch.tests_used == pools + retests
    assert batch.status == "done"


def test_a_positive_confirms_a_suspected_case_or_joins_an_open_one(session: Session) -> None:
    c = centre(session)
    [a, b] = collected(session, c, 2, at(MONDAY, 10))
    suspected = create_case(session, actor="inv", status="suspected", person_id=a.person_id)
    confirmed = create_case(
        session, actor="inv", status="confirmed", person_id=b.person_id,
        confirmed_date=MONDAY - dt.timedelta(days=3),
    )  # fmt: skip
    batch = sv.create_batch(
        session, actor="lab", lab="L", barcodes=[a.barcode, b.barcode], mode="individual"
    )
    run_lab(session, batch, {a.barcode: True, b.barcode: True}, at(MONDAY, 12))
    assert (a.case_id, suspected.status, suspected.confirmed_date) == (
        suspected.id,
        "confirmed",
        MONDAY,
    )
    assert suspected.test_date == MONDAY
    assert b.case_id == confirmed.id
    assert session.scalar(select(func.count()).select_from(Case)) == 2


# -- turnaround ---------------------------------------------------------------------------------


def test_turnaround_per_centre_and_day_against_six_hours(session: Session) -> None:
    c = centre(session)
    samples = collected(session, c, 4, at(MONDAY, 9))
    codes = [s.barcode for s in samples]
    batch = sv.create_batch(
        session, actor="lab", lab="L", barcodes=codes[:3], mode="individual", now=at(MONDAY, 10)
    )
    for number, hours in ((1, 2), (2, 5), (3, 8)):
        sv.record_pool_result(
            session, batch_id=batch.id, pool_number=number, result="negative", actor="lab",
            now=at(MONDAY, 9 + hours),
        )  # fmt: skip
    # the first result is delivered 1 hour after being queued
    message = session.get(OutboxMessage, samples[0].outbox_id)
    assert message is not None
    message.status, message.delivered_at = "sent", at(MONDAY, 12)
    [row] = sv.turnaround(session, since=MONDAY, until=MONDAY, now=at(MONDAY, 20))
    assert (row.centre_id, row.day, row.samples, row.resulted, row.pending) == (
        c.id,
        MONDAY,
        4,
        3,
        1,
    )
    assert row.within_target == 2
    assert row.share_within == pytest.approx(2 / 4)  # the pending one is 11 h old: a miss
    assert row.median_hours == pytest.approx(5)
    assert row.p95_hours == pytest.approx(5 + 3 * 0.9)
    assert (row.delivered, row.delivered_within) == (1, 1)
    assert row.delivered_share_within == pytest.approx(1 / 4)
    assert row.delivered_median_hours == pytest.approx(3)
    # early in the day the pending sample may still make it: left out of the share
    [early] = sv.turnaround(session, since=MONDAY, until=MONDAY, now=at(MONDAY, 14, 30))
    assert early.share_within == pytest.approx(2 / 3)
    assert sv.turnaround(session, since=SUNDAY, until=SUNDAY) == []
    with pytest.raises(ScreeningError, match="until: must not be before since"):
        sv.turnaround(session, since=SUNDAY, until=MONDAY)


def test_percentile() -> None:
    assert sv.percentile([], 50) is None
    assert sv.percentile([3.0], 95) == 3.0
    assert sv.percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert sv.percentile([4.0, 1.0, 3.0, 2.0], 100) == 4.0
