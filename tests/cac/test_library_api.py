"""The library and suppliers directory over HTTP on the live service (both backends): posting
with a city's key or as staff (field-level errors), attachments (limits, types, served back
safely), search and suppliers filters, the public pages in both languages, and that hostile
input never gets a server error."""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any

import httpx
from tests.web.conftest import LiveService

from epicity.cac import library_seed, service
from epicity.cac.library_files import MAX_ATTACHMENT_BYTES
from epicity.db import session_scope

NOW = dt.datetime(2020, 6, 1, 3, 0, tzinfo=dt.UTC)
PDF = b"%PDF-1.4\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
API = "/api/cac/v1"


def _cities(live: LiveService) -> tuple[int, int, str]:
    """Seoul (approved, with a publisher key), Busan (approved) and the key."""
    with session_scope(live.app.state.sessions) as s:
        ids = []
        for name in ("Seoul", "Busan"):
            city = service.register_city(
                s,
                name_en=name,
                name_local={"Seoul": "서울특별시", "Busan": "부산광역시"}[name],
                country="KR",
                population=3_000_000,
                time_zone="Asia/Seoul",
                contact_email="cac@city.example.org",
                now=NOW,
            )
            service.decide_city(s, city_id=city.id, approve=True, actor="admin", now=NOW)
            ids.append(city.id)
        _, key = service.create_publisher(
            s, city_id=ids[0], label="press office", actor="admin", now=NOW
        )
        library_seed.seed_library(s, now=NOW)  # the suppliers
    return ids[0], ids[1], key


def _measure(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "공적 마스크 5부제",
        "date": "2020-03-09",
        "category": "masks",
        "language": "ko",
        "text": "출생연도 끝자리에 따라 요일별로 공적 마스크를 샀습니다.\n\n약국에서 팔았습니다.",
        "tags": ["마스크", "pharmacy"],
        "external_ref": "seoul-masks",
    }
    body.update(changes)
    return body


def test_post_search_attach_and_read(live: LiveService) -> None:
    seoul, busan, key = _cities(live)
    with contextlib.ExitStack() as stack:
        clients = [live.client(), live.client("admin"), live.client("health_officer")]
        clients.append(
            httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {key}"}, timeout=30)
        )
        public, admin, officer, publisher = (stack.enter_context(c) for c in clients)
        _post_search_attach_and_read(live, public, admin, officer, publisher, seoul, busan, key)


def _post_search_attach_and_read(
    live: LiveService,
    public: httpx.Client,
    admin: httpx.Client,
    officer: httpx.Client,
    publisher: httpx.Client,
    seoul: int,
    busan: int,
    key: str,
) -> None:

    # Posting: a publisher for its own city; re-posting the reference is an update.
    r = publisher.post(f"{API}/countermeasures", json=_measure())
    assert r.status_code == 201, r.text
    made = r.json()["countermeasure"]
    assert (made["city"]["id"], made["tags"], made["date"]) == (
        seoul,
        ["pharmacy", "마스크"],
        "2020-03-09",
    )
    assert "posted_by" not in made
    r = publisher.post(f"{API}/countermeasures", json=_measure())
    assert (r.status_code, r.json()["status"]) == (200, "unchanged")
    r = publisher.post(f"{API}/countermeasures", json=_measure(city_id=busan))
    assert r.status_code == 403
    r = httpx.post(f"{live.url}{API}/countermeasures", json=_measure(), headers={"X-API-Key": key})
    assert r.status_code == 200
    r = httpx.post(
        f"{live.url}{API}/countermeasures", json=_measure(), headers={"X-API-Key": "cac_x"}
    )
    assert r.status_code == 401

    # Staff with manage_cities name the city; others are refused.
    staff_post = _measure(
        city_id=busan,
        title="Drive-through screening centres",
        language="en",
        category="testing",
        text="Tested without leaving the car, about ten minutes each.",
        tags=["drive-through"],
        external_ref=None,
    )
    r = admin.post(f"{API}/countermeasures", json=staff_post)
    assert r.status_code == 201, r.text
    drive = r.json()["countermeasure"]["id"]
    assert (
        admin.post(f"{API}/countermeasures", json={**staff_post, "city_id": None}).status_code
        == 422
    )
    assert officer.post(f"{API}/countermeasures", json=staff_post).status_code == 403
    assert public.post(f"{API}/countermeasures", json=staff_post).status_code == 401

    # Field-level errors.
    r = publisher.post(
        f"{API}/countermeasures",
        json=_measure(category="vaccines", date="2020-13-01", colour="red"),
    )
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert {"category", "date", "colour"} <= fields
    r = publisher.post(f"{API}/countermeasures", json=_measure(date="2019-01-01"))
    assert r.status_code == 400
    assert r.json()["errors"] == [{"field": "date", "problem": "must be on or after 2019-12-01"}]

    # Search, both languages, filters, highlights.
    found = public.get(f"{API}/countermeasures", params={"q": "마스크"}).json()
    assert [i["id"] for i in found["items"]] == [made["id"]]
    assert "<mark>마스크</mark>" in found["items"][0]["highlight"]["title"]
    found = public.get(f"{API}/countermeasures", params={"q": '"drive through"'}).json()
    assert [i["id"] for i in found["items"]] == [drive]
    found = public.get(f"{API}/countermeasures", params={"city": seoul}).json()
    assert found["total"] == 1
    found = public.get(f"{API}/countermeasures", params={"tag": "drive-through"}).json()
    assert [i["id"] for i in found["items"]] == [drive]
    r = public.get(f"{API}/countermeasures", params={"q": "***"})
    assert (r.status_code, r.json()["errors"][0]["field"]) == (400, "q")
    assert public.get(f"{API}/countermeasures", params={"q": "x" * 201}).status_code == 422
    assert public.get(f"{API}/countermeasures", params={"category": "x"}).status_code == 422

    # Attachments: a publisher to its own city's entry; typed by the bytes; served safely.
    url = f"{API}/countermeasures/{made['id']}/attachments"
    r = publisher.post(
        url,
        params={"filename": "안내문.pdf"},
        content=PDF,
        headers={"Content-Type": "application/pdf"},
    )
    assert r.status_code == 201, r.text
    attachment = r.json()
    assert publisher.post(url, params={"filename": "again.pdf"}, content=PDF).status_code == 200
    r = publisher.post(url, params={"filename": "x.pdf"}, content=PNG)
    assert (r.status_code, r.json()["errors"][0]["field"]) == (415, "file")
    r = publisher.post(url, params={"filename": "x.html"}, content=b"<html>")
    assert r.status_code == 415
    r = publisher.post(
        url, params={"filename": "big.pdf"}, content=b"%PDF-" + b"0" * MAX_ATTACHMENT_BYTES
    )
    assert r.status_code == 413
    r = publisher.post(
        f"{API}/countermeasures/{drive}/attachments", params={"filename": "a.pdf"}, content=PDF
    )
    assert r.status_code == 404  # Busan's entry: not the key's city
    assert public.post(url, params={"filename": "a.pdf"}, content=PDF).status_code == 401
    r = admin.post(
        f"{API}/countermeasures/{drive}/attachments",
        params={"filename": "poster.png"},
        content=PNG,
        headers={"Content-Type": "image/png"},
    )
    assert r.status_code == 201

    r = public.get(attachment["url"])
    assert r.status_code == 200
    assert r.content == PDF
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["content-disposition"].startswith("attachment;")
    assert "filename*=UTF-8''%EC%95%88%EB%82%B4%EB%AC%B8.pdf" in r.headers["content-disposition"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in r.headers["content-security-policy"]
    full = public.get(f"{API}/countermeasures/{made['id']}").json()
    assert [a["filename"] for a in full["attachments"]] == ["안내문.pdf"]
    assert full["text"].startswith("출생연도")
    assert public.get(f"{API}/countermeasures/999999").status_code == 404
    assert (
        public.get(f"{API}/countermeasures/{drive}/attachments/{attachment['id']}").status_code
        == 404
    )

    # Pages.
    page = public.get("/cac/countermeasures", params={"q": "마스크", "lang": "ko"})
    assert page.status_code == 200
    assert 'id="library-search"' in page.text
    assert 'id="library-results"' in page.text
    assert page.text.count('class="countermeasure"') == 1
    assert "<mark>마스크</mark>" in page.text
    assert "방역 대책 자료실" in page.text
    page = public.get("/cac/countermeasures", params={"lang": "en", "category": "testing"})
    assert "Countermeasure library" in page.text
    assert page.text.count('class="countermeasure"') == 1
    bad = public.get("/cac/countermeasures", params={"q": '"(*', "lang": "en"})
    assert bad.status_code == 400
    assert 'id="library-error"' in bad.text
    detail = public.get(f"/cac/countermeasures/{made['id']}", params={"lang": "en"})
    assert detail.status_code == 200
    assert "안내문.pdf" in detail.text
    assert "약국에서 팔았습니다." in detail.text
    assert public.get("/cac/countermeasures/999999").status_code == 404


def test_suppliers_api_and_page(live: LiveService) -> None:
    _cities(live)
    with live.client() as public, live.client("admin") as admin:
        _suppliers_api_and_page(live, public, admin)


def _suppliers_api_and_page(live: LiveService, public: httpx.Client, admin: httpx.Client) -> None:
    listed = public.get(f"{API}/suppliers").json()
    assert listed["total"] == len(library_seed.load_suppliers())
    seegene = next(i for i in listed["items"] if i["company_local"] == "씨젠")
    assert seegene["approvals"][0] == {
        "authority": "kr_mfds_eua",
        "date": "2020-02-12",
        "reference": "Korea's 2nd emergency use authorisation",
        "source": seegene["approvals"][0]["source"],
        "note": "sure",
    }
    fda = public.get(f"{API}/suppliers", params={"authority": "us_fda_eua"}).json()
    assert "OSANG Healthcare Co., Ltd." in {i["company"] for i in fda["items"]}
    assert "BioSewoom Inc." not in {i["company"] for i in fda["items"]}
    assert public.get(f"{API}/suppliers", params={"kind": "swab"}).json()["total"] == 0
    assert public.get(f"{API}/suppliers", params={"q": "allplex"}).json()["total"] == 1
    assert public.get(f"{API}/suppliers/{seegene['id']}").json()["product"] == seegene["product"]
    assert public.get(f"{API}/suppliers/999999").status_code == 404

    new = {
        "company": "Acme Swabs",
        "product": "Flocked swab",
        "kind": "swab",
        "country": "US",
        "contact": "sales@acme.example",
        "daily_capacity": 50_000,
        "approvals": [{"authority": "ce_ivd"}],
    }
    assert public.post(f"{API}/suppliers", json=new).status_code == 401
    with live.client("analyst") as analyst:
        assert analyst.post(f"{API}/suppliers", json=new).status_code == 403
    r = admin.post(f"{API}/suppliers", json=new)
    assert r.status_code == 201, r.text
    assert admin.post(f"{API}/suppliers", json=new).json()["status"] == "unchanged"
    r = admin.post(f"{API}/suppliers", json={**new, "contact": "Mr Kim, please"})
    assert (r.status_code, r.json()["errors"][0]["field"]) == (400, "contact")
    r = admin.post(f"{API}/suppliers", json={**new, "kind": "vaccine", "daily_capacity": -1})
    assert {e["field"] for e in r.json()["errors"]} == {"kind", "daily_capacity"}

    page = public.get("/cac/suppliers", params={"lang": "ko", "kind": "swab"})
    assert page.status_code == 200
    assert "Flocked swab" in page.text
    assert "씨젠" not in page.text
    page = public.get("/cac/suppliers", params={"lang": "ko"})
    assert "씨젠" in page.text
    assert "확인 필요" in page.text
    page = public.get("/cac/suppliers", params={"lang": "en", "authority": "kr_mfds_eua"})
    assert "Seegene Inc." in page.text
    assert "Flocked swab" not in page.text
    assert public.get("/cac/suppliers", params={"kind": "nonsense", "q": "%_'"}).status_code == 200


HOSTILE: list[dict[str, Any]] = [
    {"q": "NEAR(a b)"},
    {"q": "' OR 1=1 --"},
    {"q": "\\"},
    {"q": "마스크*", "page": 1000},
    {"city": "abc"},
    {"page": 0},
    {"per_page": 1000},
    {"tag": "x" * 51},
]


def test_hostile_list_queries_never_fail(live: LiveService) -> None:
    with live.client() as c:
        for params in HOSTILE:
            assert c.get(f"{API}/countermeasures", params=params).status_code < 500, params
            assert c.get("/cac/countermeasures", params=params).status_code < 500, params
