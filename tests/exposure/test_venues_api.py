"""Venue check-ins over real HTTP on a live service (SQLite and PostgreSQL): an owner
registers and prints the poster, a phone scans and checks in, an investigator warns of a
confirmed case's visit, a health officer approves and publishes, and the phone downloads the
signed package, verifies it and finds the overlap. Refusals name the field and store
nothing; the published bytes name neither the venue nor the case."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from tests.web.conftest import LiveService, make_live_service

from epicity.exposure import venues
from epicity.exposure.signing import write_new_key
from epicity.exposure.venue_client import CheckInBook, read_package

HOST = "checkin.seoul.example"
LIMIT = 6  # public registrations per client an hour, for this test
API = "/api/v1/exposure"
SEOUL = ZoneInfo("Asia/Seoul")
CAFE = {
    "description": "Cafe Haneul 하늘",
    "address": "12 Wausan-ro, Mapo-gu",
    "type": "permanent_food_service",
    "district": "Mapo-gu",
    "default_check_in_minutes": 90,
}


@pytest.fixture
def live(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveService]:
    """A live service with a signing key, a check-in host and a small registration limit."""
    key = tmp_path / "signing.pem"
    write_new_key(key)
    monkeypatch.setenv("EPICITY_EXPOSURE_SIGNING_KEY", str(key))
    monkeypatch.setenv("EPICITY_EXPOSURE_CHECKIN_HOST", HOST)
    monkeypatch.setenv("EPICITY_EXPOSURE_VENUE_REGISTRATIONS", str(LIMIT))
    yield from make_live_service(db_url)


def _problem(r: httpx.Response, status: int, field: str) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["errors"][0]["field"] == field, body
    return str(body["detail"])


def _at(iso: str) -> dt.datetime:
    return dt.datetime.fromisoformat(iso)


def test_register_poster_check_in_warn_approve_publish_match(live: LiveService) -> None:
    with (
        live.client() as public,
        live.client("investigator") as investigator,
        live.client("health_officer") as officer,
        live.client("analyst") as analyst,
    ):
        _journey(public, investigator, officer, analyst)


def _journey(
    public: httpx.Client, investigator: httpx.Client, officer: httpx.Client, analyst: httpx.Client
) -> None:
    limited = 0  # public registrations that reached the rate limiter

    # -- an owner registers; bad registrations are refused field by field -------------------
    r = public.post(f"{API}/venues", json=CAFE)
    limited += 1
    assert r.status_code == 201, r.text
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    cafe, token = body["venue"], body["management_token"]
    assert cafe["checkin_url"].startswith(f"https://{HOST}/c/v1#")
    assert cafe["registered_by"] == "public"
    assert body["poster_link"] == f"/venues/{cafe['id']}/poster?token={token}"
    gym = public.post(f"{API}/venues", json={**CAFE, "description": "Gym 24"}).json()["venue"]
    limited += 1
    for changes, status, field in [
        ({"district": "Gotham-gu"}, 422, "district"),
        (
            {
                "type": "temporary_other",
                "start": "2030-01-01T20:00+09:00",
                "end": "2030-01-01T19:00+09:00",
            },
            422,
            "end",
        ),
        ({"place_id": 77}, 403, "place_id"),
    ]:
        _problem(public.post(f"{API}/venues", json={**CAFE, **changes}), status, field)
        limited += 1
    _problem(public.post(f"{API}/venues", json={**CAFE, "type": "bar"}), 422, "type")
    assert investigator.get(f"{API}/venues").json()["total"] == 2  # nothing else stored
    staff = investigator.post(f"{API}/venues", json={**CAFE, "place_id": 77}).json()["venue"]
    assert (staff["place_id"], staff["registered_by"]) == (77, "investigator")

    # -- who may read a venue ----------------------------------------------------------------
    one = f"{API}/venues/{cafe['id']}"
    assert public.get(one).status_code == 401
    assert public.get(one, headers={"X-Venue-Token": token}).json() == cafe
    assert public.get(one, headers={"X-Venue-Token": "venue_" + "x" * 32}).status_code == 403
    assert public.get(f"{API}/venues/{gym['id']}", headers={"X-Venue-Token": token}).status_code
    assert analyst.get(one).status_code == 403
    assert investigator.get(one).json()["description"] == CAFE["description"]

    # -- the poster: segno's SVG of exactly the check-in URL ----------------------------------
    poster = public.get(f"/venues/{cafe['id']}/poster", params={"token": token, "lang": "en"})
    assert poster.status_code == 200
    assert poster.headers["cache-control"] == "no-store"
    assert poster.headers["referrer-policy"] == "no-referrer"
    html = poster.text
    assert venues.qr_svg(cafe["checkin_url"]) in html
    assert f'data-url="{cafe["checkin_url"]}"' in html
    assert "Check in here" in html
    assert "Cafe Haneul 하늘" in html
    korean = public.get(f"/venues/{cafe['id']}/poster", params={"token": token, "lang": "ko"})
    assert "여기서 체크인하세요" in korean.text
    assert "마포구" in korean.text
    assert public.get(f"/venues/{cafe['id']}/poster").status_code == 401

    # -- a phone scans the printed URL and checks in (nothing sent to the server) -----------
    book = CheckInBook(hosts=frozenset({HOST}))
    scanned = book.scan(re.search(r'data-url="([^"]+)"', html)[1])  # type: ignore[index]
    assert scanned.data.description == CAFE["description"]
    registered = _at(cafe["created_at"])
    visit = book.check_in(scanned, at=registered - dt.timedelta(minutes=20))
    book.check_out(visit.id, at=registered - dt.timedelta(minutes=5))
    elsewhere = CheckInBook(hosts=frozenset({HOST}))
    elsewhere.check_in(gym["checkin_url"], at=registered - dt.timedelta(minutes=20))

    # -- an investigator warns of a confirmed case's visit ----------------------------------
    today = dt.datetime.now(SEOUL).date()
    case = investigator.post(
        "/api/v1/cases",
        json={"status": "confirmed", "confirmed_date": today.isoformat(),
              "symptom_onset": (today - dt.timedelta(days=1)).isoformat()},
    ).json()  # fmt: skip
    suspected = investigator.post("/api/v1/cases", json={"status": "suspected"}).json()
    start = registered - dt.timedelta(minutes=30)
    end = dt.datetime.now(dt.UTC)
    warning = {
        "case_id": case["id"],
        "venue_id": cafe["id"],
        "start": start.isoformat(),
        "end": end.isoformat(),
    }
    for changes, field in [
        ({"end": (start - dt.timedelta(minutes=1)).isoformat()}, "end"),
        (
            {
                "start": (start - dt.timedelta(days=10)).isoformat(),
                "end": (start - dt.timedelta(days=10, minutes=-60)).isoformat(),
            },
            "start",
        ),
        ({"case_id": suspected["id"]}, "case_id"),
        ({"venue_id": 999_999}, "venue_id"),
    ]:
        _problem(
            investigator.post(f"{API}/venue-warnings", json={**warning, **changes}), 422, field
        )
    _problem(
        investigator.post(f"{API}/venue-warnings", json={**warning, "start": "2024-01-01T10:00"}),
        422,
        "start",
    )  # no offset: FastAPI's own field-level refusal
    assert investigator.get(f"{API}/venue-warnings").json()["items"] == []
    r = investigator.post(f"{API}/venue-warnings", json=warning)
    assert r.status_code == 201, r.text
    created = r.json()
    assert (created["status"], created["transmission_risk_level"]) == ("pending", 8)
    assert investigator.post(f"{API}/venue-warnings", json=warning).status_code == 200

    # -- a health officer approves and publishes; the public downloads -----------------------
    approve = f"{API}/venue-warnings/{created['id']}/approve"
    assert investigator.post(approve).status_code == 403
    assert officer.post(approve).json()["status"] == "approved"
    published = officer.post(f"{API}/venue-warnings/publish").json()["package"]
    assert published["reports"] == 10
    index = public.get(f"{API}/venue-warnings/index.txt")
    assert index.text == f"{published['name']}\n"
    download = public.get(f"{API}/venue-warnings/{published['name']}")
    assert download.headers["content-type"] == "application/zip"
    etag = download.headers["etag"]
    again = public.get(f"{API}/venue-warnings/{published['name']}", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert public.get(f"{API}/venue-warnings/1-1.zip").status_code == 404
    for secret in (CAFE["description"], CAFE["address"], token, "Gym 24"):
        assert secret.encode() not in download.content

    keys = {
        (k["key_id"], k["key_version"]): serialization.load_pem_public_key(
            k["public_key_pem"].encode()
        )
        for k in public.get(f"{API}/exports/keys").json()["keys"]
    }
    package = read_package(download.content, keys)  # type: ignore[arg-type]
    (match,) = book.match([package])
    assert match.overlap_minutes == 15
    assert match.description == CAFE["description"]
    assert elsewhere.match([package]) == []

    # -- the owner ends the code; the rate limit holds -----------------------------------
    ended = public.post(f"{one}/end", headers={"X-Venue-Token": token})
    assert ended.json()["ended_at"] is not None
    statuses = []
    while limited < LIMIT + 1:
        r = public.post(f"{API}/venues", json={**CAFE, "description": f"Shop {limited}"})
        limited += 1
        statuses.append(r.status_code)
    assert statuses == [201] * (len(statuses) - 1) + [429]
    assert int(r.headers["retry-after"]) >= 1
    assert investigator.post(f"{API}/venues", json=CAFE).status_code == 201  # staff: no limit
