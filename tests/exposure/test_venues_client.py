"""The phone's check-in book (pure): scan, check in and out, automatic check-out, 14-day
retention, matching protected reports with the overlap in minutes, local storage."""

from __future__ import annotations

import datetime as dt

import pytest

from epicity.exposure.venue_client import CheckInBook, CheckInError, scan
from epicity.exposure.venue_payload import (
    PayloadInvalid,
    VenueData,
    WarningPackage,
    WarningWindow,
    checkin_url,
    decoy_report,
    encode_payload,
    encrypt_report,
)

HOST = "epicity.example"
T0 = 1_700_000_400  # on a 10-minute boundary (1_700_000_400 / 600 = 2_833_334)
MINUTE = 60


def _url(description: str = "Cafe Haneul", minutes: int = 60, **more: object) -> str:
    data = VenueData(
        description=description,
        address="12 Wausan-ro, Mapo-gu",
        venue_type=str(more.get("venue_type", "permanent_food_service")),
        start=more.get("start"),  # type: ignore[arg-type]
        end=more.get("end"),  # type: ignore[arg-type]
        default_check_in_minutes=minutes,
        seed=bytes([len(description)]) * 16,
    )
    return checkin_url(encode_payload(data), HOST)


def _warning(url: str, start: int, minutes: int, trl: int = 8) -> WarningPackage:
    venue = scan(url)
    window = WarningWindow(start // 600, minutes // 10, trl)
    reports = (decoy_report(), encrypt_report(venue.location_id, window), decoy_report())
    return WarningPackage(start // 3600, "KR-11", reports)


def test_scan_check_in_and_auto_check_out() -> None:
    book = CheckInBook(hosts=frozenset({HOST}))
    venue = book.scan(_url(minutes=90))
    assert venue.data.description == "Cafe Haneul"
    visit = book.check_in(venue, at=T0)
    assert visit.auto_end == T0 + 90 * MINUTE
    assert visit.effective_end == visit.auto_end
    book.check_out(visit.id, at=T0 + 30 * MINUTE)
    assert visit.effective_end == T0 + 30 * MINUTE
    # a visitor who stayed longer says so: their own time wins over the default
    book.check_out(visit.id, at=T0 + 120 * MINUTE)
    assert visit.effective_end == T0 + 120 * MINUTE


def test_check_in_with_aware_datetimes_and_events_end_early() -> None:
    book = CheckInBook()
    start = dt.datetime.fromtimestamp(T0, dt.UTC)
    event_url = _url("Concert", minutes=180, venue_type="temporary_cultural_event",
                     start=T0, end=T0 + 60 * MINUTE)  # fmt: skip
    visit = book.check_in(event_url, at=start)
    assert visit.auto_end == T0 + 60 * MINUTE  # the event's end, before the default length
    with pytest.raises(CheckInError, match="at: the event has ended"):
        CheckInBook().check_in(event_url, at=T0 + 60 * MINUTE)
    with pytest.raises(CheckInError, match="time zone"):
        book.check_in(_url(), at=dt.datetime(2024, 1, 1, 12))


def test_refusals_name_the_field() -> None:
    book = CheckInBook(hosts=frozenset({HOST}))
    visit = book.check_in(_url(), at=T0)
    with pytest.raises(CheckInError, match="venue: already checked in"):
        book.check_in(_url(), at=T0 + 10 * MINUTE)
    with pytest.raises(CheckInError, match="at: the check-out must be after"):
        book.check_out(visit.id, at=T0)
    with pytest.raises(CheckInError, match="at: a visit lasts at most 24 hours"):
        book.check_out(visit.id, at=T0 + 25 * 3600)
    with pytest.raises(CheckInError, match="check_in_id"):
        book.check_out(999, at=T0 + MINUTE)
    with pytest.raises(PayloadInvalid, match="url: host"):
        book.scan("https://evil.example/c/v1#" + _url().split("#")[1])
    with pytest.raises(PayloadInvalid):
        book.scan(f"https://{HOST}/c/v1#AAAA")
    assert len(book.check_ins()) == 1  # nothing stored by a refusal


def test_match_gives_the_overlap() -> None:
    book = CheckInBook()
    cafe, gym = _url("Cafe Haneul"), _url("Gym 24")
    visit = book.check_in(cafe, at=T0 + 20 * MINUTE)
    book.check_out(visit.id, at=T0 + 80 * MINUTE)
    book.check_in(gym, at=T0)
    # the case was at the cafe from T0 to T0+50 min: 30 minutes together
    (match,) = book.match([_warning(cafe, T0, 50, trl=6)])
    assert match.check_in_id == visit.id
    assert match.description == "Cafe Haneul"
    assert (match.overlap_start, match.overlap_end) == (T0 + 20 * MINUTE, T0 + 50 * MINUTE)
    assert match.overlap_minutes == 30
    assert match.transmission_risk_level == 6


def test_no_overlap_and_other_venues_do_not_match() -> None:
    book = CheckInBook()
    cafe = _url("Cafe Haneul")
    visit = book.check_in(cafe, at=T0 + 60 * MINUTE)
    book.check_out(visit.id, at=T0 + 90 * MINUTE)
    assert book.match([_warning(cafe, T0, 60)]) == []  # ends when the visit starts
    assert book.match([_warning(cafe, T0 + 120 * MINUTE, 30)]) == []  # after it
    assert book.match([_warning(_url("Karaoke 7"), T0 + 60 * MINUTE, 30)]) == []
    assert len(book.match([_warning(cafe, T0 + 80 * MINUTE, 30)])) == 1


def test_retention_is_14_days() -> None:
    book = CheckInBook()
    old = book.check_in(_url("Old"), at=T0)
    book.check_out(old.id, at=T0 + 10 * MINUTE)
    recent = book.check_in(_url("Recent"), at=T0 + 2 * 86400)
    assert book.prune(T0 + 10 * MINUTE + 14 * 86400) == 0
    assert book.prune(T0 + 10 * MINUTE + 14 * 86400 + 1) == 1
    assert [c.id for c in book.check_ins()] == [recent.id]
    # matching prunes too: an old warning finds nothing
    assert book.match([_warning(_url("Old"), T0, 10)], now=T0 + 30 * 86400) == []


def test_dumps_and_loads_keep_the_book() -> None:
    book = CheckInBook(hosts=frozenset({HOST}))
    visit = book.check_in(_url(), at=T0)
    book.check_out(visit.id, at=T0 + 40 * MINUTE)
    again = CheckInBook.loads(book.dumps())
    assert again.check_ins() == book.check_ins()
    assert again.hosts == frozenset({HOST})
    assert again.check_in(_url("Next"), at=T0 + 3600).id == visit.id + 1
    with pytest.raises(CheckInError, match="book"):
        CheckInBook.loads('{"version": 2}')
