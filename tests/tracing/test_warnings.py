"""Warnings from a hand-made investigation: orders, advice, area alerts, public notices."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from epicity.tracing.contacts import AreaExposure, Contact, Exposure
from epicity.tracing.service import CaseInfo, Investigation
from epicity.tracing.timeline import Stay
from epicity.tracing.warnings import (
    PublicNotice,
    TowerInfo,
    VenueInfo,
    build_warnings,
)

SEOUL = ZoneInfo("Asia/Seoul")
CASE_ID = 987_654_321
HOME = (37.512345, 127.054321)  # the case's home: must never be published
CAFE, CLUB, PARK, BAR, CHURCH = 501, 502, 503, 504, 505
VENUES = {
    CAFE: VenueInfo("Cafe Dal", "cafe", "Gangnam-gu", indoor=True, keeps_visitor_log=False),
    CLUB: VenueInfo("Club Neon", "club", "Yongsan-gu", indoor=True, keeps_visitor_log=True),
    PARK: VenueInfo("Seoul Forest", "park", "Seongdong-gu", indoor=False, keeps_visitor_log=False),
    BAR: VenueInfo(
        "Pocha 24",
        "restaurant",
        "Mapo-gu",
        indoor=True,
        keeps_visitor_log=False,
        address="12 Wausan-ro",
    ),
}
TOWERS = {
    7: TowerInfo("Gangnam-gu", "Gangnam Station"),
    8: TowerInfo("Seocho-gu", "Seocho Station"),
}
# Keys a public notice may carry; anything else would be a leak.
NOTICE_KEYS = {
    "kind",
    "place_id",
    "venue_name",
    "category",
    "district",
    "address",
    "date",
    "start",
    "end",
    "start_time",
    "end_time",
    "expires",
    "disinfection_advised",
    "text",
}
PERSONAL = {"case_id", "person_id", "contact_id", "age", "sex", "gender", "nationality", "home"}


def kst(day: int, hour: int, minute: int = 0, month: int = 3) -> int:
    """Epoch seconds of a Seoul wall-clock time in 2020."""
    return int(datetime(2020, month, day, hour, minute, tzinfo=SEOUL).timestamp())


def venue_stay(place: int, start: int, end: int, *, indoor: bool = True) -> Stay:
    return Stay(
        f"v{start}-{place}",
        "venue",
        start,
        end,
        0.0,
        0.0,
        37.5,
        127.0,
        10.0,
        place_id=place,
        category="x",
        indoor=indoor,
        sources=("card",),
        confidence=0.8,
    )


def location_stay(start: int, end: int) -> Stay:
    return Stay(
        f"l{start}",
        "location",
        start,
        end,
        0.0,
        0.0,
        *HOME,
        30.0,
        sources=("gps",),
        confidence=0.65,
    )


def area_stay(start: int, end: int, tower: int) -> Stay:
    return Stay(
        f"a{start}-{tower}",
        "area",
        start,
        end,
        0.0,
        0.0,
        37.5,
        127.0,
        500.0,
        tower_id=tower,
        sources=("cell",),
        confidence=0.3,
    )


def contact(
    person: int, tier: str, place: int | None, start: int, end: int, *, key: str | None = None
) -> Contact:
    exposures = []
    if key != "registry":
        exposures.append(
            Exposure(
                person,
                "s",
                key or f"venue:{place}",
                place,
                start,
                end,
                None,
                True,
                ("card",),
                0.1,
            )
        )
    return Contact(
        contact_id=person,
        tier=tier,  # type: ignore[arg-type]
        place_id=place,
        first_contact=start,
        last_contact=end,
        overlap_minutes=(end - start) / 60,
        min_distance_m=None,
        risk_score=0.1,
        sources=("card",) if key != "registry" else ("registry",),
        exposures=exposures,
    )


def investigation(
    timeline: list[Stay] | None = None,
    contacts: list[Contact] | None = None,
    area: list[AreaExposure] | None = None,
) -> Investigation:
    return Investigation(
        case=CaseInfo(CASE_ID, date(2020, 3, 5), date(2020, 3, 6), date(2020, 3, 7)),
        window_start=kst(3, 0),
        window_end=kst(8, 0),
        onset=kst(5, 0),
        timeline=timeline or [],
        contacts=contacts or [],
        area=area or [],
        venue_names={CAFE: "Cafe Dal", 999: "Noraebang Star"},
    )


def strings_and_numbers(value: Any) -> list[str]:
    """Every scalar in a JSON value, as text."""
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings_and_numbers(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings_and_numbers(v)]
    return [str(value)]


# -- isolation orders and testing advice -------------------------------------------------


def test_one_isolation_order_per_close_contact_for_14_days_from_the_last_exposure() -> None:
    inv = investigation(
        contacts=[
            contact(11, "close", CAFE, kst(5, 12, 5), kst(5, 12, 40)),
            contact(12, "casual", CAFE, kst(5, 12, 30), kst(5, 12, 35)),
        ]
    )
    w = build_warnings(inv, VENUES)
    assert [o.contact_id for o in w.orders] == [11]
    order = w.orders[0]
    assert order.recipient == "person:11"
    assert order.last_exposure == datetime(2020, 3, 5, 12, 40, tzinfo=SEOUL)
    assert order.isolate_until == date(2020, 3, 19)
    assert order.expires == datetime(2020, 3, 20, tzinfo=SEOUL)
    assert order.reason == (
        "You were in close contact with a confirmed case on 2020-03-05 at Cafe Dal (Gangnam-gu). "
        "Stay at home in self-isolation until 2020-03-19."
    )


def test_isolation_counts_from_the_local_date_not_the_utc_date() -> None:
    # 2020-03-05 16:30 UTC is already 2020-03-06 01:30 in Seoul
    last = int(datetime(2020, 3, 5, 16, 30, tzinfo=UTC).timestamp())
    inv = investigation(contacts=[contact(11, "close", CAFE, last - 3600, last)])
    order = build_warnings(inv, VENUES).orders[0]
    assert order.last_exposure.isoformat() == "2020-03-06T01:30:00+09:00"
    assert order.isolate_until == date(2020, 3, 20)
    assert "on 2020-03-06" in order.reason
    assert "until 2020-03-20" in order.reason
    in_utc = build_warnings(inv, VENUES, timezone="UTC").orders[0]
    assert in_utc.isolate_until == date(2020, 3, 19)


def test_an_exposure_until_midnight_counts_for_the_day_before() -> None:
    # household contacts are exposed until the case's isolation: the end of its confirmation day
    household = contact(12, "close", None, kst(3, 0), kst(8, 0), key="registry")
    order = build_warnings(investigation(contacts=[household]), VENUES).orders[0]
    assert order.last_exposure.isoformat() == "2020-03-08T00:00:00+09:00"
    assert order.isolate_until == date(2020, 3, 21)
    assert order.reason == (
        "You were in close contact with a confirmed case on 2020-03-07 at your home. "
        "Stay at home in self-isolation until 2020-03-21."
    )


def test_orders_name_the_place_of_the_last_exposure_never_the_case() -> None:
    c = contact(11, "close", CAFE, kst(4, 9), kst(4, 10))
    c.exposures.append(
        Exposure(11, "s2", f"venue:{BAR}", BAR, kst(5, 20), kst(5, 21), None, True, ("card",))
    )
    c.last_contact = kst(5, 21)
    household = contact(12, "close", None, kst(3, 0), kst(7, 23), key="registry")
    office = contact(13, "close", None, kst(5, 9), kst(5, 18), key="place:l123")
    unnamed = contact(14, "close", 999, kst(5, 9), kst(5, 10))
    w = build_warnings(investigation(contacts=[c, household, office, unnamed]), VENUES)
    places = {o.contact_id: o.place for o in w.orders}
    assert places == {
        11: "Pocha 24 (Mapo-gu)",
        12: "your home",
        13: "a place where you stayed at the same time",
        14: "Noraebang Star",  # from the investigation's venue names
    }
    for o in w.orders:
        text = json.dumps(o.to_json())
        assert str(CASE_ID) not in text
        assert "case_id" not in o.to_json()


def test_casual_contacts_get_testing_advice_for_14_days() -> None:
    inv = investigation(contacts=[contact(12, "casual", PARK, kst(5, 14), kst(5, 14, 10))])
    w = build_warnings(inv, VENUES)
    assert w.orders == []
    (advice,) = w.advice
    assert (advice.contact_id, advice.recipient) == (12, "person:12")
    assert advice.monitor_until == date(2020, 3, 19)
    assert advice.text.startswith(
        "You may have been exposed to a confirmed case on 2020-03-05 at Seoul Forest "
        "(Seongdong-gu). Please get tested at a screening centre"
    )
    assert advice.text.endswith("until 2020-03-19.")
    assert str(CASE_ID) not in json.dumps(advice.to_json())


# -- area alerts ---------------------------------------------------------------------------


def test_area_alerts_merge_runs_at_a_tower_less_than_an_hour_apart() -> None:
    area = [
        AreaExposure(7, kst(5, 12, 3), kst(5, 12, 30), 40),
        AreaExposure(7, kst(5, 13, 10), kst(5, 13, 27), 25),  # 40 minutes later: merged
        AreaExposure(7, kst(5, 14, 27), kst(5, 14, 50), 5),  # exactly an hour later: apart
        AreaExposure(8, kst(5, 12, 5), kst(5, 12, 20), 9),  # another tower
        AreaExposure(8, kst(5, 18, 0), kst(5, 18, 30), 0),  # nobody left to reach: no alert
    ]
    w = build_warnings(investigation(area=area), VENUES, towers=TOWERS)
    got = [
        (a.tower_id, a.start.isoformat(), a.end.isoformat(), a.people_count) for a in w.area_alerts
    ]
    assert got == [
        (7, "2020-03-05T12:00:00+09:00", "2020-03-05T13:30:00+09:00", 65),
        (8, "2020-03-05T12:00:00+09:00", "2020-03-05T12:20:00+09:00", 9),
        (7, "2020-03-05T14:20:00+09:00", "2020-03-05T14:50:00+09:00", 5),
    ]
    first = w.area_alerts[0]
    assert first.recipient == "tower:7"
    assert first.text == (
        "[Seoul Gangnam-gu] People who were near Gangnam Station on 3/5 12:00-13:30, "
        "please watch for symptoms and get tested if any appear."
    )
    assert first.expires == first.end + timedelta(days=14)
    # counts only, never who
    assert set(first.to_json()) == {
        "kind",
        "tower_id",
        "district",
        "landmark",
        "start",
        "end",
        "people_count",
        "text",
        "expires",
    }


def test_area_alert_across_midnight_and_for_an_unknown_tower() -> None:
    area = [AreaExposure(42, kst(5, 23, 15), kst(6, 0, 55), 3)]
    (alert,) = build_warnings(investigation(area=area), VENUES, towers=TOWERS).area_alerts
    assert alert.text == (
        "[Seoul] People who were near cell area 42 on 3/5 23:10-3/6 01:00, "
        "please watch for symptoms and get tested if any appear."
    )


# -- public notices ------------------------------------------------------------------------


def test_notices_only_for_venues_without_visitor_logs() -> None:
    timeline = [
        location_stay(kst(5, 0), kst(5, 8)),  # home: never published
        venue_stay(CAFE, kst(5, 8, 12), kst(5, 8, 47)),
        area_stay(kst(5, 9), kst(5, 10), 7),  # cell area: never a notice
        location_stay(kst(5, 10), kst(5, 18)),  # office without a venue: never published
        venue_stay(CLUB, kst(5, 22), kst(6, 2)),  # visitor log: visitors told directly
        venue_stay(PARK, kst(6, 15, 1), kst(6, 15, 59), indoor=False),
    ]
    w = build_warnings(investigation(timeline=timeline), VENUES)
    assert [(n.place_id, n.start.isoformat(), n.end.isoformat()) for n in w.notices] == [
        (CAFE, "2020-03-05T08:10:00+09:00", "2020-03-05T08:50:00+09:00"),
        (PARK, "2020-03-06T15:00:00+09:00", "2020-03-06T16:00:00+09:00"),
    ]
    cafe, park = w.notices
    assert cafe.recipient == "public"
    assert (cafe.venue_name, cafe.category, cafe.district, cafe.date) == (
        "Cafe Dal",
        "cafe",
        "Gangnam-gu",
        date(2020, 3, 5),
    )
    assert cafe.disinfection_advised
    assert not park.disinfection_advised
    assert cafe.text == (
        "Cafe Dal (cafe, Gangnam-gu): 2020-03-05 08:10-08:50. A confirmed case visited at this "
        "time. If you were there, watch for symptoms and get tested at a screening centre if any "
        "appear. Disinfection of the premises is advised."
    )
    assert "Disinfection" not in park.text


def test_notices_merge_overlapping_and_adjacent_stays_at_a_venue() -> None:
    timeline = [
        venue_stay(CAFE, kst(5, 12, 0), kst(5, 12, 30)),
        venue_stay(CAFE, kst(5, 12, 20), kst(5, 12, 50)),  # overlaps
        venue_stay(CAFE, kst(5, 12, 55), kst(5, 13, 15)),  # touches once rounded (12:50)
        venue_stay(CAFE, kst(5, 14, 0), kst(5, 14, 30)),  # apart
        venue_stay(BAR, kst(5, 12, 0), kst(5, 12, 30)),  # another venue: its own notice
    ]
    w = build_warnings(investigation(timeline=timeline), VENUES)
    spans = [(n.place_id, n.to_json()["start_time"], n.to_json()["end_time"]) for n in w.notices]
    assert spans == [(CAFE, "12:00", "13:20"), (BAR, "12:00", "12:30"), (CAFE, "14:00", "14:30")]
    bar = w.notices[1]
    assert bar.address == "12 Wausan-ro"
    assert "Pocha 24 (restaurant, Mapo-gu, 12 Wausan-ro): 2020-03-05 12:00-12:30." in bar.text


def test_notice_windows_round_outward_to_10_minutes_and_expire_after_14_days() -> None:
    timeline = [
        venue_stay(CAFE, kst(5, 12, 3), kst(5, 12, 47)),
        venue_stay(BAR, kst(5, 23, 35), kst(6, 1, 2)),  # past midnight
        venue_stay(PARK, kst(6, 23, 41), kst(7, 0, 0), indoor=False),  # ends at midnight
    ]
    cafe, bar, park = build_warnings(investigation(timeline=timeline), VENUES).notices
    assert (cafe.start.isoformat(), cafe.end.isoformat()) == (
        "2020-03-05T12:00:00+09:00",
        "2020-03-05T12:50:00+09:00",
    )
    assert cafe.expires == datetime(2020, 3, 19, 12, 50, tzinfo=SEOUL)
    assert bar.date == date(2020, 3, 5)
    assert (bar.to_json()["start_time"], bar.to_json()["end_time"]) == ("23:30", "01:10")
    assert "2020-03-05 23:30-2020-03-06 01:10." in bar.text
    assert bar.expires == datetime(2020, 3, 20, 1, 10, tzinfo=SEOUL)
    assert park.to_json()["end_time"] == "24:00"
    assert "2020-03-06 23:40-24:00." in park.text


def test_expired_warnings_are_withheld_when_now_is_given() -> None:
    inv = investigation(
        timeline=[venue_stay(CAFE, kst(5, 12), kst(5, 13))],
        contacts=[contact(11, "close", CAFE, kst(5, 12), kst(5, 13))],
    )
    assert (
        len(build_warnings(inv, VENUES, now=datetime(2020, 3, 19, 12, 59, tzinfo=SEOUL)).notices)
        == 1
    )
    late = build_warnings(inv, VENUES, now=datetime(2020, 3, 19, 13, 0, tzinfo=SEOUL))
    assert late.notices == []
    assert len(late.orders) == 1  # isolation runs until the end of 2020-03-19
    assert build_warnings(inv, VENUES, now=datetime(2020, 3, 20, tzinfo=SEOUL)).orders == []
    with pytest.raises(ValueError, match="now: naive"):
        build_warnings(inv, VENUES, now=datetime(2020, 3, 20))


def test_a_venue_missing_from_the_mapping_is_named_and_published() -> None:
    inv = investigation(timeline=[venue_stay(999, kst(5, 20), kst(5, 21))])
    (notice,) = build_warnings(inv, {}).notices
    assert (notice.venue_name, notice.district) == ("Noraebang Star", None)


def test_notices_carry_nothing_about_the_person() -> None:
    close = contact(11_111_111, "close", CAFE, kst(5, 12), kst(5, 13))
    casual = contact(22_222_222, "casual", PARK, kst(6, 15), kst(6, 16))
    inv = investigation(
        timeline=[
            location_stay(kst(5, 0), kst(5, 8)),
            venue_stay(CAFE, kst(5, 12), kst(5, 13)),
            venue_stay(PARK, kst(6, 15), kst(6, 16), indoor=False),
        ],
        contacts=[close, casual],
        area=[AreaExposure(7, kst(5, 12), kst(5, 13), 33)],
    )
    w = build_warnings(inv, VENUES, towers=TOWERS)
    assert len(w.notices) == 2
    public = [n.to_json() for n in w.notices] + [a.to_json() for a in w.area_alerts]
    for item in public:
        assert not PERSONAL & set(item)
        values = " ".join(strings_and_numbers(item))
        for secret in (CASE_ID, 11_111_111, 22_222_222, HOME[0], HOME[1]):
            assert str(secret) not in values
        for word in ("age", "male", "female", "years old", "nationality", "lives", "home"):
            assert not re.search(rf"\b{word}\b", values.lower())
    for n in w.notices:
        assert set(n.to_json()) == NOTICE_KEYS
        assert not set(PublicNotice.__dataclass_fields__) & PERSONAL


def test_to_json_is_ready_for_warnings_json() -> None:
    inv = investigation(
        timeline=[venue_stay(CAFE, kst(5, 12), kst(5, 13))],
        contacts=[
            contact(11, "close", CAFE, kst(5, 12), kst(5, 13)),
            contact(12, "casual", CAFE, kst(5, 12, 30), kst(5, 12, 40)),
        ],
        area=[AreaExposure(7, kst(5, 12), kst(5, 13), 33)],
    )
    doc = build_warnings(inv, VENUES, towers=TOWERS).to_json()
    assert json.loads(json.dumps(doc)) == doc
    assert doc["timezone"] == "Asia/Seoul"
    assert doc["counts"] == {
        "orders": 1,
        "advice": 1,
        "area_alerts": 1,
        "area_people": 33,
        "notices": 1,
    }
    assert doc["orders"][0]["last_exposure"] == "2020-03-05T13:00:00+09:00"
    assert doc["orders"][0]["isolate_until"] == "2020-03-19"
    assert doc["notices"][0]["expires"] == "2020-03-19T13:00:00+09:00"
    assert doc["area_alerts"][0]["start"] == "2020-03-05T12:00:00+09:00"
    assert str(CASE_ID) not in json.dumps(doc)
