"""Self-isolation's service on SQLite and PostgreSQL: registration, check-ins and their
alerts, the missed-check-in sweep, release, the caseload; bad input stores nothing."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from epicity.accounts.service import AccountPolicy, create_user
from epicity.cases import service as cases
from epicity.cases.models import CaseContact
from epicity.delivery.models import Recipient
from epicity.isolation import service as iso
from epicity.isolation.errors import (
    IsolationConflict,
    IsolationInvalid,
    IsolationNotFound,
    NotIsolating,
)
from epicity.isolation.models import CheckIn, IsolationAlert, IsolationRegistration
from epicity.tracing.models import OutboxMessage
from epicity.tracing.outbox import enqueue
from epicity.tracing.warnings import IsolationOrder, Warnings

SEOUL = iso.SEOUL
CHEAP = AccountPolicy(hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
# Tuesday 10 March 2020, 10:30 in Seoul: inside the morning window.
NOW = dt.datetime(2020, 3, 10, 10, 30, tzinfo=SEOUL)
HOME = iso.Geofence(37.5665, 126.9780, 100)
TRIAGE_RULES = Path(__file__).resolve().parents[2] / "src/epicity/triage/rules/kdca-2020-v1.json"


def _officer(session: Session, name: str = "officer") -> int:
    user = create_user(
        session, username=name, password="a long pass phrase 1", role="health_officer",
        policy=CHEAP,
    )  # fmt: skip
    return user.id


def _count(session: Session, model: type) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _notices(session: Session) -> list[OutboxMessage]:
    return list(
        session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.kind == "isolation_notice")
            .order_by(OutboxMessage.id)
        )
    )


def _register(
    session: Session, officer: int, person: int = 11, **kw: object
) -> IsolationRegistration:
    args: dict[str, object] = {
        "person_id": person, "kind": "ordered", "end": dt.date(2020, 3, 20),
        "officer_id": officer, "actor": "officer", "geofence": HOME, "now": NOW,
    }  # fmt: skip
    args.update(kw)
    return iso.register(session, **args)  # type: ignore[arg-type]


def test_the_symptom_vocabulary_is_the_self_diagnosis_one() -> None:
    if not TRIAGE_RULES.exists():
        pytest.skip("the triage rules are not in this tree")
    rules = json.loads(TRIAGE_RULES.read_text())
    (question,) = [q for q in rules["questions"] if q["id"] == "symptoms"]
    assert tuple(o["id"] for o in question["options"]) == iso.SYMPTOMS


def test_register_notifies_and_refuses_a_second_active_registration(session: Session) -> None:
    officer = _officer(session)
    reg = _register(session, officer)
    assert (reg.status, reg.kind, reg.start_date, reg.radius_m) == (
        "active", "ordered", dt.date(2020, 3, 10), 100,
    )  # fmt: skip
    (notice,) = _notices(session)
    assert notice.recipient == "person:11"
    assert "2020-03-20" in notice.payload["text"]
    assert "37.5665" not in json.dumps(notice.payload)  # no address in the message
    with pytest.raises(IsolationConflict, match="isolating already"):
        _register(session, officer)
    assert _count(session, IsolationRegistration) == 1
    assert iso.isolation_periods(session, person_id=11) == [
        iso.IsolationPeriod(reg.id, dt.date(2020, 3, 10), dt.date(2020, 3, 20), True, "active")
    ]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"end": dt.date(2020, 3, 9)}, "end_date"),  # before the start
        ({"end": dt.date(2020, 5, 1)}, "end_date"),  # longer than 30 days
        ({"geofence": iso.Geofence(91.0, 126.9, 100)}, "lat"),
        ({"geofence": iso.Geofence(37.5, 181.0, 100)}, "lon"),
        ({"geofence": iso.Geofence(float("nan"), 126.9, 100)}, "lat"),
        ({"geofence": iso.Geofence(37.5, 126.9, 5)}, "radius_m"),
        ({"geofence": iso.Geofence(37.5, 126.9, 50_000)}, "radius_m"),
        ({"kind": "forced"}, "kind"),
        ({"person_id": -1}, "person_id"),
    ],
)
def test_bad_registrations_store_nothing(
    session: Session, change: dict[str, object], field: str
) -> None:
    officer = _officer(session)
    with pytest.raises(IsolationInvalid, match=field):
        _register(session, officer, **change)
    assert _count(session, IsolationRegistration) == 0
    assert _notices(session) == []


def test_the_officer_must_be_an_active_health_officer(session: Session) -> None:
    analyst = create_user(
        session, username="ana", password="a long pass phrase 1", role="analyst", policy=CHEAP
    )
    with pytest.raises(IsolationNotFound, match="officer_id"):
        _register(session, analyst.id)


def test_voluntary_registration_goes_to_the_least_loaded_officer(session: Session) -> None:
    busy, free = _officer(session, "busy"), _officer(session, "free")
    _register(session, busy, person=1)
    reg = iso.register_voluntary(session, person_id=2, geofence=HOME, actor="citizen", now=NOW)
    assert (reg.kind, reg.officer_id) == ("voluntary", free)
    assert reg.end_date == dt.date(2020, 3, 23)  # 14 days including today


def _case_with_contacts(session: Session) -> int:
    case = cases.create_case(
        session, actor="inv", status="confirmed", person_id=500,
        confirmed_date=dt.date(2020, 3, 8),
    )  # fmt: skip
    for person, tier in ((21, "close"), (22, "close"), (23, "casual")):
        cases.add_contact(session, case_id=case.id, actor="inv", tier=tier, person_id=person)
    # Tracing ordered person 22 (exposure on 7 March) and 24, who is not in case management.
    orders = [
        IsolationOrder(
            contact_id=p, last_exposure=dt.datetime(2020, 3, day, 20, tzinfo=SEOUL),
            isolate_until=dt.date(2020, 3, day + 14), place="a cafe", reason="close contact",
            expires=dt.datetime(2020, 3, day + 15, tzinfo=SEOUL),
        )
        for p, day in ((22, 7), (24, 6))
    ]  # fmt: skip
    enqueue(session, case_id=500, warnings=Warnings("Asia/Seoul", orders=orders), now=NOW)
    return case.id


def test_register_a_cases_close_contacts_in_one_idempotent_call(session: Session) -> None:
    officer = _officer(session)
    case_id = _case_with_contacts(session)
    with pytest.raises(IsolationInvalid, match="last_exposure"):
        iso.register_case_contacts(session, case_id=case_id, officer_id=officer, actor="o", now=NOW)
    assert _count(session, IsolationRegistration) == 0
    with pytest.raises(IsolationInvalid, match="addresses: person 23"):
        iso.register_case_contacts(
            session, case_id=case_id, officer_id=officer, actor="o", now=NOW,
            last_exposure=dt.date(2020, 3, 8), addresses={23: HOME},
        )  # fmt: skip
    done = iso.register_case_contacts(
        session, case_id=case_id, officer_id=officer, actor="o", now=NOW,
        last_exposure=dt.date(2020, 3, 8), addresses={21: HOME},
    )  # fmt: skip
    ends = {r.person_id: (r.end_date, r.lat is not None) for r in done.registered}
    assert ends == {
        21: (dt.date(2020, 3, 22), True),  # the officer's date + 14
        22: (dt.date(2020, 3, 21), False),  # tracing's order
        24: (dt.date(2020, 3, 20), False),
    }
    follow = dict(session.execute(select(CaseContact.person_id, CaseContact.follow_up)).all())
    assert follow == {21: "in_isolation", 22: "in_isolation", 23: "none"}
    again = iso.register_case_contacts(
        session, case_id=case_id, officer_id=officer, actor="o", now=NOW,
        last_exposure=dt.date(2020, 3, 8),
    )  # fmt: skip
    assert (again.registered, again.extended) == ([], [])
    assert sorted(r.person_id for r in again.already) == [21, 22, 24]
    assert _count(session, IsolationRegistration) == 3
    later = iso.register_case_contacts(
        session, case_id=case_id, officer_id=officer, actor="o", now=NOW,
        last_exposure=dt.date(2020, 3, 9),
    )  # fmt: skip
    assert [r.person_id for r in later.extended] == [21]
    assert later.extended[0].end_date == dt.date(2020, 3, 23)
    with pytest.raises(IsolationNotFound, match="case_id"):
        iso.register_case_contacts(session, case_id=99999, officer_id=officer, actor="o", now=NOW)


def test_check_ins_alert_on_fever_red_flags_and_leaving_the_geofence(session: Session) -> None:
    officer = _officer(session)
    reg = _register(session, officer)
    ok = iso.check_in(session, person_id=11, temperature_c=36.6, now=NOW)
    assert (ok.checkin.slot, ok.checkin.local_date, ok.alerts) == (
        "morning", dt.date(2020, 3, 10), (),
    )  # fmt: skip
    assert not reg.needs_negative_test
    evening = NOW.replace(hour=18)
    fever = iso.check_in(session, person_id=11, temperature_c=38.2, symptoms=["cough"], now=evening)
    assert [a.kind for a in fever.alerts] == ["symptoms_worse"]
    assert "fever" in fever.alerts[0].detail
    assert reg.needs_negative_test
    # Still feverish: no new alert. A red flag never seen before: alert.
    same = iso.check_in(session, person_id=11, temperature_c=38.4, now=evening)
    assert same.alerts == ()
    flag = iso.check_in(
        session, person_id=11, temperature_c=38.0, symptoms=["chest_pain"], now=evening
    )
    assert "chest_pain" in flag.alerts[0].detail
    # ~40 m away: inside (radius 100 + margin). ~500 m: outside, even with a claimed 5 km
    # accuracy (the margin is capped).
    near = iso.check_in(session, person_id=11, temperature_c=37.0, lat=37.5668, lon=126.9782,
                        accuracy_m=10, now=evening)  # fmt: skip
    assert near.alerts == ()
    assert near.checkin.distance_m is not None
    far = iso.check_in(session, person_id=11, temperature_c=37.0, lat=37.5710, lon=126.9780,
                       accuracy_m=5000, now=evening)  # fmt: skip
    assert [a.kind for a in far.alerts] == ["outside_geofence"]
    assert far.checkin.distance_m == pytest.approx(500, abs=10)
    extra = iso.check_in(session, person_id=11, temperature_c=36.5, now=NOW.replace(hour=14))
    assert extra.checkin.slot == "extra"


@pytest.mark.parametrize(
    ("kwargs", "error", "field"),
    [
        ({"temperature_c": 45.0}, IsolationInvalid, "temperature_c"),
        ({"temperature_c": 30.0}, IsolationInvalid, "temperature_c"),
        ({"symptoms": ["sneezing"]}, IsolationInvalid, "symptoms"),
        ({"lat": 95.0, "lon": 126.9}, IsolationInvalid, "lat"),
        ({"lat": 37.5, "lon": -200.0}, IsolationInvalid, "lon"),
        ({"lat": 37.5}, IsolationInvalid, "lat, lon"),
        ({"lat": 37.5, "lon": 126.9, "accuracy_m": -1.0}, IsolationInvalid, "accuracy_m"),
        ({"person_id": 12}, NotIsolating, "not in self-isolation"),
    ],
)
def test_bad_check_ins_store_nothing(
    session: Session, kwargs: dict[str, object], error: type[Exception], field: str
) -> None:
    officer = _officer(session)
    _register(session, officer)
    args: dict[str, object] = {"person_id": 11, "temperature_c": 36.5, "now": NOW, **kwargs}
    with pytest.raises(error, match=field):
        iso.check_in(session, **args)  # type: ignore[arg-type]
    assert _count(session, CheckIn) == 0
    assert _count(session, IsolationAlert) == 0


@pytest.mark.parametrize(
    ("text", "temperature", "symptoms"),
    [
        ("36.8", 36.8, ()),
        ("OK 36.5", 36.5, ()),
        ("36.8 cough", 36.8, ("cough",)),
        ("37.9C fever, Cough sore-throat", 37.9, ("fever", "cough", "sore_throat")),
        ("38,1 기침 발열", 38.1, ("fever", "cough")),
    ],
)
def test_sms_parses_strictly(text: str, temperature: float, symptoms: tuple[str, ...]) -> None:
    assert iso.parse_sms(text) == iso.SmsReading(temperature, symptoms)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty"),
        ("cough", "no temperature"),
        ("36.5 37.0", "more than one"),
        ("OK 36.5 cough", "OK"),
        ("36.5 sneezing", "neither"),
        ("48.0", "outside"),
        ("hello", "neither"),
    ],
)
def test_sms_that_does_not_parse_gets_a_hint(text: str, problem: str) -> None:
    with pytest.raises(IsolationInvalid, match=problem) as err:
        iso.parse_sms(text)
    assert err.value.hint is not None
    assert "36.8" in err.value.hint


def test_sms_check_in_maps_the_phone_through_the_directory(session: Session) -> None:
    officer = _officer(session)
    _register(session, officer)
    session.add(Recipient(person_id=11, phone="+821012345678", updated_at=NOW))
    session.flush()
    done = iso.sms_check_in(session, phone="010-1234-5678", text="37.8 cough", now=NOW)
    assert (done.checkin.source, done.checkin.temperature_c) == ("sms", 37.8)
    assert [a.kind for a in done.alerts] == ["symptoms_worse"]
    with pytest.raises(IsolationNotFound, match="from"):
        iso.sms_check_in(session, phone="+821099999999", text="36.5", now=NOW)
    with pytest.raises(IsolationInvalid, match="from"):
        iso.sms_check_in(session, phone="call me", text="36.5", now=NOW)
    assert _count(session, CheckIn) == 1


def test_the_sweep_alerts_each_missed_window_once_and_reminds(session: Session) -> None:
    officer = _officer(session)
    # Registered the day before, at 08:00: every window of the 10th counts.
    reg = _register(session, officer, now=NOW.replace(day=9, hour=8))
    late = _register(session, officer, person=12, now=NOW.replace(hour=10))  # after 09:00
    iso.check_in(session, person_id=11, temperature_c=36.5, now=NOW.replace(day=9, hour=18))
    iso.check_in(session, person_id=11, temperature_c=36.5, now=NOW.replace(hour=9, minute=5))
    report = iso.check_missed(session, NOW.replace(hour=21, minute=30))
    # 9 March: morning missed (registered 08:00); 10 March: morning done, evening missed.
    keys = sorted(
        (a.registration_id, a.key)
        for a in session.scalars(
            select(IsolationAlert).where(IsolationAlert.kind == "missed_checkin")
        )
    )
    assert keys == [
        (reg.id, "2020-03-09:morning"),
        (reg.id, "2020-03-10:evening"),
        (late.id, "2020-03-10:evening"),
    ]
    assert report.alerts == report.reminders == 3
    reminders = [n for n in _notices(session) if "did not receive" in n.payload["text"]]
    assert len(reminders) == 3
    again = iso.check_missed(session, NOW.replace(hour=22))
    assert (again.alerts, again.reminders) == (0, 0)
    assert _count(session, IsolationAlert) == 3


def test_caseload_worst_first_and_acknowledge(session: Session) -> None:
    officer = _officer(session)
    calm = _register(session, officer, person=1, now=NOW.replace(hour=8))
    feverish = _register(session, officer, person=2, now=NOW.replace(hour=8))
    alerted = _register(session, officer, person=3, now=NOW.replace(hour=8))
    for person in (1, 2, 3):
        iso.check_in(session, person_id=person, temperature_c=36.5, now=NOW)
    iso.check_in(session, person_id=2, temperature_c=38.0, now=NOW.replace(hour=17))
    iso.check_in(session, person_id=1, temperature_c=36.5, now=NOW.replace(hour=17))
    # Person 2's fever alert is acknowledged; person 3 misses the evening.
    (fever,) = iso.list_alerts(session, officer_id=officer)
    iso.acknowledge(session, alert_id=fever.id, actor="officer", note="called, stable", now=NOW)
    with pytest.raises(IsolationConflict, match="acknowledged already"):
        iso.acknowledge(session, alert_id=fever.id, actor="officer", now=NOW)
    iso.check_missed(session, NOW.replace(hour=21, minute=30))
    rows = iso.caseload(session, officer_id=officer, now=NOW.replace(hour=21, minute=30))
    assert [r.registration_id for r in rows] == [alerted.id, feverish.id, calm.id]
    assert rows[0].open_alerts[0].kind == "missed_checkin"
    assert rows[1].fever
    assert rows[1].open_alerts == ()
    assert iso.caseload(session, officer_id=officer + 100, now=NOW) == []
    with pytest.raises(IsolationNotFound):
        iso.acknowledge(session, alert_id=12345, actor="officer", now=NOW)


def test_release_at_the_end_date(session: Session) -> None:
    officer = _officer(session)
    due = _register(session, officer, person=1, end=dt.date(2020, 3, 12))
    later = _register(session, officer, person=2, end=dt.date(2020, 3, 20))
    sick = _register(session, officer, person=3, end=dt.date(2020, 3, 12))
    iso.check_in(session, person_id=3, temperature_c=38.0, now=NOW)
    assert iso.release_due(session, dt.date(2020, 3, 12)).released == []  # the last day
    report = iso.release_due(session, dt.date(2020, 3, 13), now=NOW + dt.timedelta(days=3))
    assert report.released == [due.id]
    assert report.waiting_for_test == [sick.id]
    assert (due.status, later.status, sick.status) == ("released", "active", "active")
    assert any("released" in n.payload["text"] for n in _notices(session))
    # The officer ends one early, with a reason; twice is a conflict.
    ended = iso.end_registration(
        session, registration_id=later.id, actor="officer", reason="hospitalised", now=NOW
    )
    assert (ended.status, ended.release_reason) == ("ended_early", "hospitalised")
    with pytest.raises(IsolationConflict):
        iso.end_registration(session, registration_id=later.id, actor="o", reason="x", now=NOW)
    with pytest.raises(NotIsolating):
        iso.check_in(session, person_id=1, temperature_c=36.5, now=NOW)
    periods = iso.isolation_periods(session, person_id=2)
    assert [(p.status, p.ordered) for p in periods] == [("ended_early", True)]


def test_release_waits_for_a_negative_test(session: Session) -> None:
    screening = pytest.importorskip(
        "epicity.screening.service", reason="screening (H1) is not in this tree yet"
    )
    officer = _officer(session)
    sick = _register(session, officer, person=3, end=dt.date(2020, 3, 12))
    iso.check_in(session, person_id=3, temperature_c=38.0, now=NOW)
    every_day = {d: (dt.time(0), dt.time(23, 59)) for d in range(7)}
    centre = screening.create_centre(
        session, actor="c", kind="walk_through", name="Guro", district="Guro-gu", lat=37.49,
        lon=126.88, lanes=2, minutes_per_test=5, hours=every_day, now=NOW,
    )  # fmt: skip
    sampled = dt.datetime(2020, 3, 11, 10, tzinfo=SEOUL)
    sample = screening.check_in(session, centre_id=centre.id, actor="c", person_id=3, now=sampled)
    screening.collect_sample(session, barcode=sample.barcode, now=sampled)
    batch = screening.create_batch(
        session, actor="lab", lab="lab", barcodes=[sample.barcode], mode="individual",
        now=sampled,
    )  # fmt: skip
    assert iso.release_due(session, dt.date(2020, 3, 13), now=sampled).waiting_for_test == [sick.id]
    screening.record_pool_result(
        session, batch_id=batch.id, pool_number=1, result="negative", actor="lab", now=sampled
    )
    report = iso.release_due(session, dt.date(2020, 3, 13), now=sampled)
    assert report.released == [sick.id]
