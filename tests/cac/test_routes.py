"""CAC over HTTP on the live service (both backends): registration and approval, keys
(revoked refused, a key posts only for its city, a staff login is no key), the update
schema's field-level 422s with nothing stored, idempotent re-posts, comparison, the public
pages in both languages and the console's forms."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import httpx
from tests.web.conftest import PASSWORD, LiveService

from epicity.cac import service
from epicity.cac.seed import SOURCE_URL
from epicity.db import session_scope

HTML = {"Accept": "text/html"}
SEOUL = {
    "name_en": "Seoul",
    "name_local": "서울특별시",
    "country": "KR",
    "population": 10_000_000,
    "time_zone": "Asia/Seoul",
    "contact_email": "cac@seoul.example.org",
}
BUSAN = dict(SEOUL, name_en="Busan", name_local="부산광역시", population=3_400_000)
DAYS = [
    {"date": "2020-03-01", "confirmed_total": 90},
    {"date": "2020-03-02", "confirmed_new": 10, "confirmed_total": 100},
    {"date": "2020-03-03", "confirmed_new": 20, "confirmed_total": 120, "deaths_total": 1},
]


def _key(key: str, header: str = "bearer") -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if header == "bearer" else {"X-API-Key": key}


def _updates(c: httpx.Client, city_id: int, **params: Any) -> dict[str, Any]:
    r = c.get(f"/api/cac/v1/cities/{city_id}/updates", params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_register_approve_key_post_and_compare(live: LiveService) -> None:
    public = live.client()
    admin = live.client("admin")
    officer = live.client("health_officer")
    with public, admin, officer:
        r = public.post("/api/cac/v1/cities", json=SEOUL)
        assert r.status_code == 201, r.text
        seoul = r.json()["id"]
        assert r.json()["status"] == "pending"
        bad = public.post("/api/cac/v1/cities", json=dict(SEOUL, country="ZZ", name_en="X"))
        assert bad.status_code == 422
        assert "country" in bad.json()["detail"]
        assert public.post("/api/cac/v1/cities", json=SEOUL).status_code == 409
        # pending: not public
        assert public.get("/api/cac/v1/cities").json()["items"] == []
        assert public.get(f"/api/cac/v1/cities/{seoul}").status_code == 404
        assert officer.post(f"/api/cac/v1/cities/{seoul}/approve").status_code == 403
        pending = admin.get("/api/cac/v1/registrations").json()["items"]
        assert [(p["id"], p["contact_email"]) for p in pending] == [(seoul, SEOUL["contact_email"])]
        done = admin.post(f"/api/cac/v1/cities/{seoul}/approve", json={"note": "verified"})
        assert done.status_code == 200, done.text
        key_a = done.json()["publisher"]["key"]
        assert key_a.startswith("cac_")
        listed = public.get("/api/cac/v1/cities").json()
        assert [c["name_en"] for c in listed["items"]] == ["Seoul"]
        assert "contact_email" not in listed["items"][0]
        # a second city and its key made apart
        busan = public.post("/api/cac/v1/cities", json=BUSAN).json()["id"]
        r = admin.post(f"/api/cac/v1/cities/{busan}/approve", json={"issue_key": False})
        assert r.json()["publisher"] is None
        made = admin.post(f"/api/cac/v1/cities/{busan}/publishers", json={"label": "Busan feed"})
        assert made.status_code == 201
        key_b, publisher_b = made.json()["key"], made.json()["id"]
        shown = admin.get(f"/api/cac/v1/cities/{busan}/publishers").json()
        assert [p["id"] for p in shown] == [publisher_b]
        assert "key" not in shown[0]
        assert key_b.startswith(shown[0]["key_prefix"])

        # posting needs a city's key: none, a staff token, a wrong key are all 401
        assert public.post("/api/cac/v1/updates", json=DAYS).status_code == 401
        assert admin.post("/api/cac/v1/updates", json=DAYS).status_code == 401
        wrong = public.post("/api/cac/v1/updates", json=DAYS, headers=_key("cac_" + "x" * 43))
        assert wrong.status_code == 401
        assert wrong.headers["www-authenticate"].startswith("Bearer")
        ok = public.post("/api/cac/v1/updates", json=DAYS, headers=_key(key_a))
        assert ok.status_code == 200, ok.text
        assert ok.json()["created"] == 3
        assert ok.json()["city_id"] == seoul
        me = public.get("/api/cac/v1/publisher", headers=_key(key_b, "x-api-key")).json()
        assert me["city"]["id"] == busan

        # Busan's key cannot post for Seoul; nothing is stored for either
        r = public.post(
            "/api/cac/v1/updates",
            json=[{"date": "2020-03-04", "confirmed_new": 1, "city": seoul}],
            headers=_key(key_b, "x-api-key"),
        )
        assert r.status_code == 422
        assert r.json()["errors"][0]["field"] == "city"
        assert _updates(public, busan)["total"] == 0
        assert _updates(public, seoul)["total"] == 3

        # a bad batch: field-level errors, nothing half-stored
        batch = [
            {"date": "2020-03-04", "confirmed_new": 5, "confirmed_total": 125},
            {"date": "2020-03-05", "confirmed_new": 3, "confirmed_total": 128},
            {"date": "2020-03-06", "confirmed_new": 2, "confirmed_total": 130},
            {"date": "2020-03-07", "confirmed_new": -4, "confirmed_total": 126},
        ]
        r = public.post("/api/cac/v1/updates", json=batch, headers=_key(key_a))
        assert r.status_code == 422
        assert r.json()["errors"][0] == {
            "index": 3,
            "field": "confirmed_new",
            "message": "must not be negative (got -4)",
        }
        assert _updates(public, seoul)["total"] == 3
        r = public.post("/api/cac/v1/updates", json={"date": "2020-03-04"}, headers=_key(key_a))
        assert r.status_code == 422
        assert r.json()["errors"][0]["index"] is None

        # re-posting: the same is unchanged, a change is a new revision with the old kept
        again = public.post("/api/cac/v1/updates", json=DAYS, headers=_key(key_a)).json()
        assert (again["created"], again["revised"], again["unchanged"]) == (0, 0, 3)
        fix = [dict(DAYS[2], deaths_total=2, notes="corrected")]
        r = public.post("/api/cac/v1/updates", json=fix, headers=_key(key_a))
        assert r.json()["days"] == [{"date": "2020-03-03", "outcome": "revised", "revision": 2}]
        revs = public.get(f"/api/cac/v1/cities/{seoul}/updates/2020-03-03/revisions").json()
        assert [(v["revision"], v["deaths_total"]) for v in revs["revisions"]] == [(1, 1), (2, 2)]
        page = _updates(public, seoul, limit=1, offset=1)
        assert (page["total"], [i["date"] for i in page["items"]]) == (3, ["2020-03-02"])

        # compared per 100,000: Seoul's 10 new on 03-02 is 0.1
        cmp = public.get(
            "/api/cac/v1/compare",
            params={"cities": f"{seoul},{busan}", "metric": "confirmed_new", "per": 100000},
        ).json()
        points = {p["date"]: p["value"] for p in cmp["cities"][0]["points"]}
        assert points == {"2020-03-01": None, "2020-03-02": 0.1, "2020-03-03": 0.2}
        assert cmp["cities"][1]["points"] == []
        assert public.get("/api/cac/v1/compare", params={"cities": "1,x"}).status_code == 422
        schema = public.get("/api/cac/v1/schema/daily-update").json()
        assert schema["required"] == ["date"]
        assert schema["properties"]["confirmed_new"]["minimum"] == 0

        # a revoked key is refused from the next request on
        assert admin.post(f"/api/cac/v1/publishers/{publisher_b}/revoke").status_code == 200
        r = public.get("/api/cac/v1/publisher", headers=_key(key_b))
        assert r.status_code == 401
        assert "revoked" in r.json()["detail"]


def _seed_pages(live: LiveService) -> tuple[int, int]:
    now = dt.datetime(2020, 4, 1, tzinfo=dt.UTC)
    with session_scope(live.app.state.sessions) as s:
        ids = []
        for fields in (SEOUL, BUSAN):
            city = service.register_city(s, now=now, **fields)
            service.decide_city(s, city_id=city.id, approve=True, actor="admin", now=now)
            ids.append(city.id)
        items = [
            {
                "date": (dt.date(2020, 3, 1) + dt.timedelta(days=i)).isoformat(),
                "confirmed_new": 10 + i,
                "source_url": SOURCE_URL,
            }
            for i in range(10)
        ]
        service.post_updates(s, city_id=ids[0], items=items, actor="t", now=now)
        service.register_city(s, now=now, **dict(SEOUL, name_en="Hidden", name_local="숨김"))
    return ids[0], ids[1]


def test_public_pages_in_both_languages(live: LiveService) -> None:
    seoul, busan = _seed_pages(live)
    with live.client() as c:
        en = c.get("/cac", params={"lang": "en"})
        assert en.status_code == 200
        assert "Cities Against COVID-19" in en.text
        assert f'id="city-{seoul}"' in en.text
        assert "Hidden" not in en.text
        assert "Coronaboard (coronaboard.kr)" in en.text
        assert 'class="table-wrap"' in en.text
        ko = c.get("/cac", params={"lang": "ko"})
        assert "서울특별시" in ko.text
        assert "코로나19 공동 대응 도시" in ko.text
        assert ko.headers["content-language"] == "ko"
        page = c.get(f"/cac/cities/{seoul}", params={"lang": "en", "metric": "confirmed_new"})
        assert page.status_code == 200
        assert 'id="city-chart"' in page.text
        assert "/static/plotly.min.js" in page.text
        assert "7-day mean" in page.text
        assert c.get(f"/cac/cities/{busan}", params={"lang": "ko"}).status_code == 200
        assert c.get("/cac/cities/999999").status_code == 404
        assert c.get(f"/cac/cities/{seoul}", params={"metric": "nope"}).status_code == 400
        cmp = c.get(
            "/cac/compare",
            params={"cities": f"{seoul},{busan}", "metric": "confirmed_new", "per": "100000",
                    "smooth": "7", "lang": "en"},
        )  # fmt: skip
        assert cmp.status_code == 200
        assert 'id="compare-chart"' in cmp.text
        # Seoul's last 7 days: 13..19, mean 16 per 10,000,000 -> 0.16 per 100,000
        assert re.search(rf'id="summary-{seoul}".*?2020-03-10.*?0\.16<', cmp.text, re.S)
        bad = c.get("/cac/compare", params={"cities": str(seoul), "per": "0", "lang": "en"})
        assert bad.status_code == 400
        assert "must be a whole number" in bad.text
        assert c.get("/cac/compare", params={"cities": "abc"}).status_code == 400
        assert c.get("/cac/compare").status_code == 200


def test_console_decides_and_manages_keys(live: LiveService) -> None:
    now = dt.datetime(2020, 4, 1, tzinfo=dt.UTC)
    with session_scope(live.app.state.sessions) as s:
        seoul = service.register_city(s, now=now, **SEOUL).id
        busan = service.register_city(s, now=now, **BUSAN).id
    with live.client("health_officer") as c:
        assert c.get("/console/cac", headers=HTML).status_code == 403
    with httpx.Client(base_url=live.url, timeout=30) as c:
        assert c.get("/console/cac", headers=HTML).status_code == 303  # to the login page
        assert c.post("/login", data={"username": "admin", "password": PASSWORD}).status_code == 303
        page = c.get("/console/cac", headers=HTML)
        assert f'id="pending-{seoul}"' in page.text
        found = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert found
        csrf = found.group(1)
        url = f"/console/cac/{seoul}/decision"
        assert c.post(url, data={"decision": "approve"}).status_code == 403  # no CSRF token
        approved = c.post(url, data={"csrf": csrf, "decision": "approve"})
        assert approved.status_code == 200
        key = re.search(r'id="key">(cac_[A-Za-z0-9_-]{43})<', approved.text)
        assert key, "the new key is shown once"
        assert c.get("/console/cac", headers=HTML).text.count(key.group(1)) == 0
        again = c.post(url, data={"csrf": csrf, "decision": "reject"})
        assert again.status_code == 400
        assert "approved already" in again.text
        rejected = c.post(
            f"/console/cac/{busan}/decision", data={"csrf": csrf, "decision": "reject"}
        )
        assert rejected.status_code == 303
        made = c.post(f"/console/cac/{seoul}/publishers", data={"csrf": csrf, "label": "feed"})
        assert made.status_code == 200
        assert 'id="key"' in made.text
        assert (
            c.post(
                f"/console/cac/{busan}/publishers", data={"csrf": csrf, "label": "x"}
            ).status_code
            == 400
        )
    with live.client() as pub:
        ok = pub.get("/api/cac/v1/publisher", headers=_key(key.group(1)))
        assert ok.status_code == 200
        publisher_id = ok.json()["publisher"]["id"]
    with httpx.Client(base_url=live.url, timeout=30) as c:
        c.post("/login", data={"username": "admin", "password": PASSWORD})
        text = c.get("/console/cac", headers=HTML).text
        m = re.search(r'name="csrf" value="([^"]+)"', text)
        assert m
        r = c.post(f"/console/cac/publishers/{publisher_id}/revoke", data={"csrf": m.group(1)})
        assert r.status_code == 303
    with live.client() as pub:
        assert pub.get("/api/cac/v1/publisher", headers=_key(key.group(1))).status_code == 401
