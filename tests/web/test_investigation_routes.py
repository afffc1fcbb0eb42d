"""Investigations over HTTP against a live service with a small city's location store."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from tests.tracing.test_investigations import SmallCity, build_small_city
from tests.web.conftest import PASSWORD, LiveService, make_live_service

from epicity.cases.service import create_case
from epicity.db import session_scope
from epicity.privacy.service import declare_emergency, end_emergency

PURPOSE = {"purpose": "contact tracing of the confirmed case"}


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> SmallCity:
    return build_small_city(tmp_path_factory.mktemp("web-investigation-city"))


@pytest.fixture
def service(db_url: str, city: SmallCity) -> Iterator[LiveService]:
    yield from make_live_service(db_url, city.store.path)


def make_case(live: LiveService, city: SmallCity, *, emergency: bool = True) -> int:
    with session_scope(live.app.state.sessions) as s:
        if emergency:
            declare_emergency(s, name="COVID-19", actor="admin")
        return create_case(
            s,
            actor="investigator",
            status="confirmed",
            person_id=city.person.person_id,
            confirmed_date=city.person.confirmed_date,
        ).id


def test_run_contacts_warnings_approval_and_confirmation(
    service: LiveService, city: SmallCity
) -> None:
    case_id = make_case(service, city)
    base = f"/api/v1/cases/{case_id}"
    with service.client("investigator") as inv, service.client("health_officer") as officer:
        assert inv.get(f"{base}/investigation").status_code == 404  # not traced yet
        r = inv.post(f"{base}/investigation", json=PURPOSE)
        assert r.status_code == 200, r.text
        run = r.json()
        assert run["contacts_added"] == city.person.close + city.person.casual
        assert run["warnings_queued"] > 0
        timeline = run["investigation"]["timeline"]
        assert timeline
        assert {"sources", "confidence", "lat", "lon"} <= set(timeline[0])

        # the contacts are in case management, from tracing
        got = inv.get(f"{base}/contacts").json()
        assert len(got) == city.person.close + city.person.casual
        assert {c["origin"] for c in got} == {"tracing"}

        # the warnings wait; an investigator may not approve them, a health officer may
        waiting = inv.get(f"{base}/warnings").json()
        assert len(waiting) == run["warnings_queued"]
        assert all(w["status"] == "pending" and w["approved_at"] is None for w in waiting)
        assert inv.post(f"{base}/warnings/approve", json={}).status_code == 403
        first = waiting[0]["id"]
        r = officer.post(f"{base}/warnings/approve", json={"message_ids": [first]})
        assert r.status_code == 200, r.text
        assert r.json() == {"approved": [first]}
        r = officer.post(f"{base}/warnings/approve", json={})
        assert sorted(r.json()["approved"]) == sorted(w["id"] for w in waiting[1:])
        approved = officer.get(f"{base}/warnings").json()
        assert {w["approved_by"] for w in approved} == {"health_officer"}
        r = officer.post(f"{base}/warnings/approve", json={"message_ids": [10**9]})
        assert r.status_code == 400
        assert "not among" in r.json()["detail"]

        # a confirmation removes a stay: re-running drops it
        stay = timeline[0]["id"]
        r = inv.post(
            f"{base}/confirmations",
            json={"action": "remove", "evidence": "interview", "stay_id": stay,
                  "note": "the case says the phone was left at a friend's"},
        )  # fmt: skip
        assert r.status_code == 201, r.text
        r = inv.post(f"{base}/investigation", json=PURPOSE)
        assert r.status_code == 200, r.text
        assert stay not in {s["id"] for s in r.json()["investigation"]["timeline"]}
        assert (
            inv.get(f"{base}/investigation").json()["timeline"]
            == (r.json()["investigation"]["timeline"])
        )


def test_refusals_are_4xx_with_a_clear_message(service: LiveService, city: SmallCity) -> None:
    case_id = make_case(service, city, emergency=False)
    base = f"/api/v1/cases/{case_id}"
    with service.client("investigator") as inv:
        r = inv.post(f"{base}/investigation", json=PURPOSE)
        assert r.status_code == 409
        assert "no emergency is in force" in r.json()["detail"]
        r = inv.post(f"{base}/investigation", json={"purpose": "short"})
        assert r.status_code == 422
        assert r.json()["errors"][0]["field"] == "purpose"
        assert inv.post("/api/v1/cases/999999/investigation", json=PURPOSE).status_code == 404
        assert inv.get("/api/v1/cases/999999/warnings").status_code == 404
        r = inv.post(
            f"{base}/confirmations",
            json={"action": "move", "evidence": "cctv", "note": "something"},
        )
        assert r.status_code == 422
        assert r.json()["errors"][0]["field"] == "action"
        r = inv.post(
            f"{base}/confirmations",
            json={"action": "add", "evidence": "cctv", "note": "seen", "lat": 37.5, "lon": 127.0,
                  "start": "2020-03-05T12:00:00", "end": "2020-03-05T13:00:00+09:00"},
        )  # fmt: skip
        assert r.status_code == 422  # no offset
        assert r.json()["errors"][0]["field"] == "start"
        r = inv.post(
            f"{base}/confirmations",
            json={"action": "correct", "evidence": "cctv", "note": "seen", "stay_id": "nope"},
        )
        assert r.status_code == 400
        assert "stay_id" in r.json()["detail"]
    with service.client("analyst") as analyst:
        assert analyst.get(f"{base}/investigation").status_code == 403
        assert analyst.post(f"{base}/investigation", json=PURPOSE).status_code == 403
    with service.client() as public:
        assert public.get(f"{base}/warnings").status_code == 401


def test_no_store_configured_is_409(db_url: str, city: SmallCity) -> None:
    for live in make_live_service(db_url):
        case_id = make_case(live, city)
        with live.client("investigator") as inv:
            r = inv.post(f"/api/v1/cases/{case_id}/investigation", json=PURPOSE)
        assert r.status_code == 409
        assert "no location store is configured" in r.json()["detail"]


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no csrf field on the page"
    return found.group(1)


def test_console_page_runs_confirms_and_approves(service: LiveService, city: SmallCity) -> None:
    case_id = make_case(service, city)
    page = f"/console/cases/{case_id}/investigation"
    with service.client() as browser:
        r = browser.post("/login", data={"username": "health_officer", "password": PASSWORD})
        assert r.status_code == 303
        html = browser.get(page).text
        assert "has not been traced yet" in html
        token = csrf_of(html)
        r = browser.post(f"{page}/run", data={"purpose": "too short"})
        assert r.status_code == 403  # no CSRF token
        r = browser.post(f"{page}/run", data={"csrf": token, "purpose": PURPOSE["purpose"]})
        assert r.status_code == 303, r.text
        html = browser.get(r.headers["location"]).text
        assert "warnings queued for approval" in html
        assert "Plotly.newPlot" in html
        assert "/static/plotly.min.js" in html
        assert '"type":"scatter"' in html.replace(" ", "")
        assert "cdn" not in html.lower()
        assert "wait for a health officer" in html
        assert "Approve all" in html
        # a bad form shows the page again with the problem
        r = browser.post(
            f"/console/cases/{case_id}/confirmations",
            data={"csrf": token, "action": "add", "evidence": "cctv", "note": "seen",
                  "lat": "91", "lon": "127"},
        )  # fmt: skip
        assert r.status_code == 422
        assert "lat" in r.text
        r = browser.post(
            f"/console/cases/{case_id}/warnings/approve",
            data={"csrf": token, "message_id": "999999999"},
        )
        assert r.status_code == 400  # refused by the rule: the page again, saying why
        assert "not among" in r.text
        r = browser.post(
            f"/console/cases/{case_id}/confirmations",
            data={"csrf": token, "action": "add", "evidence": "cctv", "note": "CCTV at the door",
                  "lat": "37.5665", "lon": "126.978", "start": "2020-03-01T10:00",
                  "end": "2020-03-01T10:30"},
        )  # fmt: skip
        assert r.status_code == 303, r.text
        r = browser.post(f"/console/cases/{case_id}/warnings/approve", data={"csrf": token})
        assert r.status_code == 303
        html = browser.get(r.headers["location"]).text
        assert "approved for delivery" in html
        assert "Approve all" not in html
    with service.client() as browser:
        browser.post("/login", data={"username": "investigator", "password": PASSWORD})
        html = browser.get(page).text
        assert "Approve all" not in html  # investigators see warnings, cannot approve
        r = browser.post(f"/console/cases/{case_id}/warnings/approve", data={"csrf": csrf_of(html)})
        assert r.status_code == 403
    with service.client() as public:
        r = public.get(page, headers={"Accept": "text/html"})
        assert r.status_code == 303
        assert r.headers["location"].startswith("/login")


def test_the_emergency_ending_stops_re_runs(service: LiveService, city: SmallCity) -> None:
    case_id = make_case(service, city)
    with service.client("investigator") as inv:
        assert inv.post(f"/api/v1/cases/{case_id}/investigation", json=PURPOSE).status_code == 200
        with session_scope(service.app.state.sessions) as s:
            end_emergency(s, name="COVID-19", actor="admin")
        r = inv.post(f"/api/v1/cases/{case_id}/investigation", json=PURPOSE)
        assert r.status_code == 409
        # what was traced stays readable
        assert inv.get(f"/api/v1/cases/{case_id}/investigation").status_code == 200


def test_paths_are_in_the_openapi_spec(service: LiveService) -> None:
    with service.client() as c:
        paths = c.get("/openapi.json").json()["paths"]
    for path in (
        "/api/v1/cases/{case_id}/investigation",
        "/api/v1/cases/{case_id}/confirmations",
        "/api/v1/cases/{case_id}/warnings",
        "/api/v1/cases/{case_id}/warnings/approve",
    ):
        assert path in paths
    assert not any(p.startswith("/console/") for p in paths)


def test_nul_characters_are_refused_by_name(service: LiveService, city: SmallCity) -> None:
    case_id = make_case(service, city)
    with service.client("investigator") as inv:
        r = inv.post(
            f"/api/v1/cases/{case_id}/investigation", json={"purpose": "contact\x00 tracing x"}
        )
        assert r.status_code == 422
        assert r.json()["errors"][0]["field"] == "purpose"
        r = inv.post(
            f"/api/v1/cases/{case_id}/confirmations",
            json={"action": "remove", "evidence": "cctv", "note": "a\x00b", "stay_id": "x"},
        )
        assert r.status_code == 422
        assert r.json()["errors"][0]["field"] == "note"
