"""CAC's service on both backends: registration and approval, keys, daily updates (field-level
errors, all or nothing, idempotent upsert with revisions) and per-capita comparison."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from epicity.cac import keys, service
from epicity.cac.errors import (
    CacConflict,
    CacInvalid,
    CityNotFound,
    KeyInvalid,
    PublisherNotFound,
    UpdatesInvalid,
)
from epicity.cac.models import DailyUpdate, UpdateRevision

NOW = dt.datetime(2020, 4, 1, 3, 0, tzinfo=dt.UTC)  # 12:00 in Seoul


def register(session: Session, name: str = "Seoul", **changes: Any) -> int:
    """A pending city's id."""
    fields: dict[str, Any] = {
        "name_en": name,
        "name_local": "서울특별시",
        "country": "KR",
        "population": 10_000_000,
        "time_zone": "Asia/Seoul",
        "contact_email": "cac@seoul.example.org",
    }
    fields.update(changes)
    return service.register_city(session, now=NOW, **fields).id


def approved(session: Session, name: str = "Seoul", **changes: Any) -> int:
    """An approved city's id."""
    city_id = register(session, name, **changes)
    service.decide_city(session, city_id=city_id, approve=True, actor="admin", now=NOW)
    return city_id


def post(session: Session, city_id: int, items: Any) -> service.BatchResult:
    return service.post_updates(session, city_id=city_id, items=items, actor="t", now=NOW)


def errors_of(session: Session, city_id: int, items: Any) -> list[dict[str, Any]]:
    with pytest.raises(UpdatesInvalid) as info:
        post(session, city_id, items)
    return info.value.errors


def stored(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(DailyUpdate)) or 0)


# -- registration -----------------------------------------------------------------------------


BAD_REGISTRATIONS = [
    ("country", "XX", "ISO 3166"),
    ("country", "KOR", "ISO 3166"),
    ("time_zone", "Mars/Olympus", "IANA"),
    ("contact_email", "nobody", "e-mail"),
    ("population", 0, "from 1"),
    ("name_en", "  ", "required"),
    ("name_local", "a\x00b", "control"),
]


def test_bad_registrations_name_the_field(cac_session: Session) -> None:
    session = cac_session
    for field, value, message in BAD_REGISTRATIONS:
        with pytest.raises(CacInvalid, match=message) as info:
            register(session, **{field: value})
        assert info.value.field == field
    assert service.count_cities(session, status=None) == 0


def test_a_city_is_public_only_once_approved(cac_session: Session) -> None:
    session = cac_session
    city_id = register(session, country="kr")  # the code is upper-cased
    assert service.get_city(session, city_id=city_id, public=False).country == "KR"
    assert service.list_cities(session) == []
    with pytest.raises(CityNotFound):
        service.get_city(session, city_id=city_id)
    with pytest.raises(CacConflict, match="pending; approve it first"):
        service.create_publisher(session, city_id=city_id, label="k", actor="a", now=NOW)
    city = service.decide_city(session, city_id=city_id, approve=True, actor="admin", now=NOW)
    assert (city.status, city.decided_by) == ("approved", "admin")
    assert [c.id for c in service.list_cities(session)] == [city_id]
    with pytest.raises(CacConflict, match="approved already"):
        service.decide_city(session, city_id=city_id, approve=False, actor="admin", now=NOW)
    with pytest.raises(CacConflict, match="registered already"):
        register(session, name="SEOUL")


def test_a_rejected_city_stays_hidden(cac_session: Session) -> None:
    session = cac_session
    city_id = register(session)
    service.decide_city(session, city_id=city_id, approve=False, actor="admin", now=NOW, note="x")
    assert service.list_cities(session) == []
    assert [c.id for c in service.list_cities(session, status="rejected")] == [city_id]
    with pytest.raises(CacConflict):
        post(session, city_id, [{"date": "2020-03-01", "confirmed_new": 1}])


# -- keys -------------------------------------------------------------------------------------


def test_keys_are_hashed_revocable_and_for_one_city(cac_session: Session) -> None:
    session = cac_session
    city_id = approved(session)
    publisher, key = service.create_publisher(
        session, city_id=city_id, label="KDCA feed", actor="admin", now=NOW
    )
    assert keys.looks_like_key(key)
    assert publisher.key_hash == keys.hash_key(key) != key
    assert key.startswith(publisher.key_prefix)
    assert key not in {publisher.key_hash, publisher.key_prefix, publisher.label}
    assert service.authenticate(session, secret=key, now=NOW).city_id == city_id
    with pytest.raises(KeyInvalid, match="unknown"):
        service.authenticate(session, secret=keys.new_key().secret, now=NOW)
    with pytest.raises(KeyInvalid, match="malformed"):
        service.authenticate(session, secret="epc_not_a_cac_key", now=NOW)
    service.revoke_publisher(session, publisher_id=publisher.id, actor="admin", now=NOW)
    again = service.revoke_publisher(
        session, publisher_id=publisher.id, actor="other", now=NOW + dt.timedelta(days=1)
    )
    assert (again.revoked_at, again.revoked_by) == (NOW, "admin")  # the first revocation stays
    with pytest.raises(KeyInvalid, match="revoked"):
        service.authenticate(session, secret=key, now=NOW)
    with pytest.raises(PublisherNotFound):
        service.revoke_publisher(session, publisher_id=999_999, actor="a", now=NOW)


def test_last_use_is_written_at_most_once_a_minute(cac_session: Session) -> None:
    session = cac_session
    city_id = approved(session)
    publisher, key = service.create_publisher(
        session, city_id=city_id, label="k", actor="admin", now=NOW
    )
    for seconds in (0, 10, 59):
        service.authenticate(session, secret=key, now=NOW + dt.timedelta(seconds=seconds))
    session.refresh(publisher)
    assert publisher.last_used_at == NOW
    later = NOW + dt.timedelta(seconds=61)
    service.authenticate(session, secret=key, now=later)
    session.refresh(publisher)
    assert publisher.last_used_at == later


# -- daily updates ----------------------------------------------------------------------------

GOOD = [
    {"date": "2020-03-01", "confirmed_total": 90, "deaths_total": 0},
    {"date": "2020-03-02", "confirmed_new": 8, "confirmed_total": 98, "in_isolation": 81},
    {
        "date": "2020-03-03",
        "confirmed_new": 2,
        "confirmed_total": 100,
        "notes": "10:00 release",
        "source_url": "https://example.org/0303",
    },
]


def test_a_good_batch_is_stored(cac_session: Session) -> None:
    session = cac_session
    city_id = approved(session)
    result = post(session, city_id, GOOD)
    assert result.to_json()["created"] == 3
    rows = service.list_updates(session, city_id=city_id)
    assert [(r.day.day, r.confirmed_total, r.revision) for r in rows] == [
        (1, 90, 1),
        (2, 98, 1),
        (3, 100, 1),
    ]
    assert rows[1].in_isolation == 81
    assert rows[1].deaths_total is None  # not reported is not zero
    assert rows[2].source_url == "https://example.org/0303"
    assert service.count_updates(session, city_id=city_id, start=dt.date(2020, 3, 2)) == 2


def test_every_problem_is_reported_by_index_and_field_and_nothing_is_stored(
    cac_session: Session,
) -> None:
    session = cac_session
    city_id = approved(session)
    bad = [
        {"date": "2020-03-01", "confirmed_total": 90},
        {"date": "2020-03-02", "confirmed_new": -1, "deaths_total": 1.5},
        {"date": "2020-04-02", "confirmed_new": 1},  # Seoul's today is 2020-04-01
        {"date": "2020-03-04", "confirmed_new": 12, "confirmed_total": 10},
        {"date": "2020-03-05", "confirmed_new": True, "colour": "red"},
        {"date": "03/06/2020", "confirmed_new": 1},
        {"date": "2020-03-07"},
        {"date": "2020-03-08", "confirmed_new": 1, "source_url": "ftp://x"},
        "not an object",
        {"confirmed_new": 1},
        {"date": "2020-03-01", "confirmed_total": 91},
        {"date": "2020-03-12", "confirmed_new": 1, "city": city_id + 1},
    ]
    errors = errors_of(session, city_id, bad)
    found = {(e["index"], e["field"]) for e in errors}
    assert found >= {
        (1, "confirmed_new"),
        (1, "deaths_total"),
        (2, "date"),
        (3, "confirmed_new"),
        (4, "confirmed_new"),
        (4, "colour"),
        (5, "date"),
        (6, None),
        (7, "source_url"),
        (8, None),
        (9, "date"),
        (10, "date"),
        (11, "city"),
    }
    messages = {(e["index"], e["field"]): e["message"] for e in errors}
    assert "must not be negative" in messages[(1, "confirmed_new")]
    assert "in the future" in messages[(2, "date")]
    assert "12 is more than confirmed_total 10" in messages[(3, "confirmed_new")]
    assert "given twice" in messages[(10, "date")]
    assert [e["index"] for e in errors] == sorted(e["index"] for e in errors)
    assert stored(session) == 0


def test_a_batch_must_be_a_non_empty_array(cac_session: Session) -> None:
    session = cac_session
    city_id = approved(session)
    for items in ([], {"date": "2020-03-01"}, None, "x", [{}] * (service.MAX_BATCH + 1)):
        assert errors_of(session, city_id, items)[0]["index"] is None


def test_cumulative_counts_never_decrease_against_stored_days(cac_session: Session) -> None:
    session = cac_session
    city_id = approved(session)
    post(session, city_id, GOOD)
    # below the stored day before, and above the stored day after
    errors = errors_of(
        session,
        city_id,
        [
            {"date": "2020-03-05", "confirmed_total": 99},
            {"date": "2020-02-28", "confirmed_total": 95},
        ],
    )
    assert errors == [
        {
            "index": 0,
            "field": "confirmed_total",
            "message": "99 is less than 100 given for 2020-03-03",
        },
        {
            "index": 1,
            "field": "confirmed_total",
            "message": "95 is more than 90 stored for 2020-03-01",
        },
    ]
    assert stored(session) == 3


def test_new_counts_must_match_the_cumulative_ones(cac_session: Session) -> None:
    session = cac_session
    city_id = approved(session)
    post(session, city_id, GOOD)
    errors = errors_of(
        session, city_id, [{"date": "2020-03-04", "confirmed_new": 5, "confirmed_total": 104}]
    )
    assert errors[0]["field"] == "confirmed_new"
    assert "minus the previous day's 100 (= 4)" in errors[0]["message"]
    # correcting a day alone would make the stored next day's new count wrong ...
    errors = errors_of(session, city_id, [{"date": "2020-03-02", "confirmed_total": 97}])
    assert errors[0]["field"] == "confirmed_total"
    assert "post that day too" in errors[0]["message"]
    # ... posting both days together is accepted
    result = post(
        session,
        city_id,
        [
            {"date": "2020-03-02", "confirmed_new": 7, "confirmed_total": 97, "in_isolation": 81},
            {"date": "2020-03-03", "confirmed_new": 3, "confirmed_total": 100},
        ],
    )
    assert (result.count("revised"), result.count("created")) == (2, 0)


def test_reposting_a_day_is_an_idempotent_upsert_keeping_revisions(cac_session: Session) -> None:
    session = cac_session
    city_id = approved(session)
    post(session, city_id, GOOD)
    again = post(session, city_id, GOOD)
    assert again.count("unchanged") == 3
    assert session.scalar(select(func.count()).select_from(UpdateRevision)) == 0
    fixed = dict(GOOD[2], notes="corrected: 10:00 release, revised at 14:00")
    result = post(session, city_id, [fixed])
    assert result.days == [{"date": "2020-03-03", "outcome": "revised", "revision": 2}]
    history = service.revisions(session, city_id=city_id, day=dt.date(2020, 3, 3))
    assert [(r.revision, r.notes) for r in history] == [
        (1, "10:00 release"),
        (2, "corrected: 10:00 release, revised at 14:00"),
    ]
    assert stored(session) == 3
    assert post(session, city_id, [fixed]).count("unchanged") == 1
    assert service.revisions(session, city_id=city_id, day=dt.date(2020, 3, 9)) == []


def test_today_is_the_city_s_own(cac_session: Session) -> None:
    session = cac_session
    # 2020-04-01 03:00 UTC is still 2020-03-31 in Los Angeles
    city_id = approved(session, "Los Angeles", country="US", time_zone="America/Los_Angeles")
    errors = errors_of(session, city_id, [{"date": "2020-04-01", "confirmed_new": 1}])
    assert "the city's today is 2020-03-31" in errors[0]["message"]


# -- comparison -------------------------------------------------------------------------------


def test_comparison_per_100k_with_a_7_day_mean(cac_session: Session) -> None:
    session = cac_session
    big = approved(session, "Big", population=2_000_000)
    small = approved(session, "Small", population=50_000)
    start = dt.date(2020, 3, 1)
    post(
        session,
        big,
        [
            {"date": (start + dt.timedelta(days=i)).isoformat(), "confirmed_new": 10 * (i + 1)}
            for i in range(8)
        ],
    )
    post(
        session,
        small,
        [{"date": (start + dt.timedelta(days=i)).isoformat(), "confirmed_new": 5} for i in (0, 1)],
    )
    series = service.compare(
        session, city_ids=[big, small], metric="confirmed_new", per=100_000, smooth=7
    )
    by_name = {s.city.name_en: dict(s.points) for s in series}
    # Big: days 1..7 mean 40 -> 2.0 per 100k; days 2..8 mean 50 -> 2.5
    assert by_name["Big"][dt.date(2020, 3, 7)] == pytest.approx(2.0)
    assert by_name["Big"][dt.date(2020, 3, 8)] == pytest.approx(2.5)
    assert by_name["Big"][dt.date(2020, 3, 6)] is None  # the window is not full yet
    assert set(by_name["Small"].values()) == {None}
    daily = service.compare(session, city_ids=[small], metric="confirmed_new", per=100_000)
    assert [v for _, v in daily[0].points] == [pytest.approx(10.0), pytest.approx(10.0)]
    with pytest.raises(CacInvalid, match="metric"):
        service.compare(session, city_ids=[big], metric="cases")
    with pytest.raises(CacInvalid, match="smooth"):
        service.compare(session, city_ids=[big], metric="confirmed_new", smooth=0)
    pending = register(session, "Hidden")
    with pytest.raises(CityNotFound):
        service.compare(session, city_ids=[pending], metric="confirmed_new")
