"""Self-isolation over HTTP on a live service (SQLite and PostgreSQL): the citizen's own
registration and check-ins, officers' registration of a case's contacts, alerts and release,
SMS check-ins signed by the gateway, the console page; bad input changes nothing."""

from __future__ import annotations

import datetime as dt
import json
import re

import httpx
import pytest
from sqlalchemy import func, select
from tests.web.conftest import CITIZEN_PERSON_ID, PASSWORD, LiveService

from epicity.accounts.models import User
from epicity.db import session_scope, utcnow
from epicity.delivery.channels import SIGNATURE_HEADER, sign
from epicity.delivery.models import Recipient
from epicity.isolation.models import CheckIn, IsolationAlert, IsolationRegistration
from epicity.isolation.service import SEOUL

SECRET = "a-long-webhook-secret-for-tests"
PHONE = "+821055501234"
HOME = {"lat": 37.5665, "lon": 126.978, "radius_m": 100}


def _today() -> dt.date:
    return utcnow().astimezone(SEOUL).date()


def _counts(live: LiveService) -> tuple[int, int, int]:
    with session_scope(live.app.state.sessions) as s:
        return tuple(  # type: ignore[return-value]
            int(s.scalar(select(func.count()).select_from(m)) or 0)
            for m in (IsolationRegistration, CheckIn, IsolationAlert)
        )


def _officer_id(live: LiveService) -> int:
    with session_scope(live.app.state.sessions) as s:
        return int(s.scalars(select(User.id).where(User.username == "health_officer")).one())


def test_a_citizen_registers_checks_in_and_reads_only_their_own(live: LiveService) -> None:
    with live.client("citizen") as c, live.client("health_officer") as officer:
        me = c.get("/api/v1/isolation/me").json()
        assert me["registration"] is None
        assert me["windows"] == {"morning": "09:00-12:00", "evening": "17:00-21:00"}
        # Not isolating: a check-in is refused and nothing is stored.
        r = c.post("/api/v1/isolation/me/checkins", json={"temperature_c": 36.5})
        assert r.status_code == 409, r.text
        assert "not in self-isolation" in r.json()["detail"]
        bad = c.post("/api/v1/isolation/me", json={**HOME, "lat": 123.0})
        assert bad.status_code == 422
        assert "lat" in bad.json()["detail"]
        assert _counts(live) == (0, 0, 0)
        r = c.post("/api/v1/isolation/me", json=HOME)
        assert r.status_code == 201, r.text
        reg = r.json()
        assert (reg["kind"], reg["person_id"], reg["officer_id"]) == (
            "voluntary", CITIZEN_PERSON_ID, _officer_id(live),
        )  # fmt: skip
        assert reg["end_date"] == (_today() + dt.timedelta(days=13)).isoformat()
        assert c.post("/api/v1/isolation/me", json=HOME).status_code == 409
        for body, field in (
            ({"temperature_c": 36.5, "lat": 95.0, "lon": 126.9}, "lat"),
            ({"temperature_c": 36.5, "lat": 37.5, "lon": 190.0}, "lon"),
            ({"temperature_c": 36.5, "lat": 37.5}, "lat, lon"),
            ({"temperature_c": 47.0}, "temperature_c"),
            ({"temperature_c": 36.5, "symptoms": ["hiccups"]}, "symptoms"),
            ({"temperature_c": "warm"}, "temperature_c"),
        ):
            r = c.post("/api/v1/isolation/me/checkins", json=body)
            assert r.status_code == 422, (body, r.text)
            assert field in r.json()["detail"]
        assert _counts(live) == (1, 0, 0)
        r = c.post(
            "/api/v1/isolation/me/checkins",
            json={"temperature_c": 36.6, "symptoms": [], "lat": 37.5666, "lon": 126.9781},
        )
        assert r.status_code == 201, r.text
        assert r.json()["officer_alerted"] is False
        assert [x["temperature_c"] for x in c.get("/api/v1/isolation/me/checkins").json()] == [36.6]
        # The citizen cannot reach officers' routes; the officer sees the new person.
        assert c.get("/api/v1/isolation/caseload").status_code == 403
        rows = officer.get("/api/v1/isolation/caseload").json()
        assert [r["person_id"] for r in rows] == [CITIZEN_PERSON_ID]


def test_officers_register_a_cases_contacts_and_handle_alerts(live: LiveService) -> None:
    exposure = (_today() - dt.timedelta(days=2)).isoformat()
    with live.client("health_officer") as o, live.client("citizen") as c:
        case = o.post(
            "/api/v1/cases",
            json={"status": "confirmed", "confirmed_date": _today().isoformat(), "person_id": 9},
        ).json()
        for person in (CITIZEN_PERSON_ID, 3001):
            r = o.post(
                f"/api/v1/cases/{case['id']}/contacts", json={"tier": "close", "person_id": person}
            )
            assert r.status_code == 201
        url = f"/api/v1/isolation/cases/{case['id']}/register"
        # No order from tracing and no date: refused, nothing stored.
        r = o.post(url, json={})
        assert r.status_code == 422, r.text
        assert "last_exposure" in r.json()["detail"]
        r = o.post(url, json={"last_exposure": exposure, "addresses": [{"person_id": 77, **HOME}]})
        assert r.status_code == 422
        assert _counts(live) == (0, 0, 0)
        r = o.post(
            url,
            json={
                "last_exposure": exposure,
                "addresses": [{"person_id": CITIZEN_PERSON_ID, **HOME}],
            },
        )
        assert r.status_code == 200, r.text
        done = r.json()
        assert sorted(x["person_id"] for x in done["registered"]) == [3001, CITIZEN_PERSON_ID]
        assert {x["end_date"] for x in done["registered"]} == {
            (_today() + dt.timedelta(days=12)).isoformat()
        }
        again = o.post(url, json={"last_exposure": exposure}).json()
        assert (len(again["registered"]), len(again["already"])) == (0, 2)
        assert o.post("/api/v1/isolation/cases/999999/register", json={}).status_code == 404
        # Fever after none, then ~1 km away: two alerts for the officer.
        r = c.post(
            "/api/v1/isolation/me/checkins", json={"temperature_c": 38.3, "symptoms": ["cough"]}
        )
        assert r.json()["officer_alerted"] is True
        c.post(
            "/api/v1/isolation/me/checkins",
            json={"temperature_c": 38.0, "lat": 37.5755, "lon": 126.978},
        )
        alerts = o.get("/api/v1/isolation/alerts").json()
        assert sorted(a["kind"] for a in alerts) == ["outside_geofence", "symptoms_worse"]
        rows = o.get("/api/v1/isolation/caseload").json()
        assert rows[0]["person_id"] == CITIZEN_PERSON_ID  # open alerts first
        assert rows[0]["fever"] is True
        assert rows[1]["address_set"] is False
        ack = o.post(
            f"/api/v1/isolation/alerts/{alerts[0]['id']}/acknowledge", json={"note": "called"}
        )
        assert ack.status_code == 200
        assert ack.json()["acknowledged_by"] == "health_officer"
        again_ack = o.post(f"/api/v1/isolation/alerts/{alerts[0]['id']}/acknowledge", json={})
        assert again_ack.status_code == 409
        assert len(o.get("/api/v1/isolation/alerts").json()) == 1
        reg_id = rows[1]["registration_id"]
        r = o.put(f"/api/v1/isolation/registrations/{reg_id}/address", json={**HOME, "radius_m": 1})
        assert r.status_code == 422
        r = o.put(f"/api/v1/isolation/registrations/{reg_id}/address", json=HOME)
        assert r.json()["geofence"] == HOME
        detail = o.get(f"/api/v1/isolation/registrations/{rows[0]['registration_id']}").json()
        assert (len(detail["checkins"]), len(detail["alerts"])) == (2, 2)
        r = o.post(
            f"/api/v1/isolation/registrations/{reg_id}/release", json={"reason": "hospitalised"}
        )
        assert r.json()["status"] == "ended_early"
        assert (
            o.post(
                f"/api/v1/isolation/registrations/{reg_id}/release", json={"reason": "x"}
            ).status_code
            == 409
        )
        assert o.get("/api/v1/isolation/registrations/999999").status_code == 404


def _sms(c: httpx.Client, body: dict[str, str], secret: str = SECRET) -> httpx.Response:
    raw = json.dumps(body).encode()
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, raw)}
    return c.post("/api/v1/isolation/sms", content=raw, headers=headers)


def test_sms_check_ins_signed_by_the_gateway(
    live: LiveService, monkeypatch: pytest.MonkeyPatch
) -> None:
    with live.client() as gateway, live.client("health_officer") as o:
        assert _sms(gateway, {"from": PHONE, "text": "36.8"}).status_code == 503  # not configured
        monkeypatch.setenv("EPICITY_WEBHOOK_URL", "http://127.0.0.1:9/sms")
        monkeypatch.setenv("EPICITY_WEBHOOK_SECRET", SECRET)
        with session_scope(live.app.state.sessions) as s:
            s.add(Recipient(person_id=CITIZEN_PERSON_ID, phone=PHONE, updated_at=utcnow()))
        r = _sms(gateway, {"from": PHONE, "text": "36.8"})
        assert r.status_code == 409
        assert "not registered" in r.json()["reply"]
        o.post(
            "/api/v1/isolation/registrations",
            json={
                "person_id": CITIZEN_PERSON_ID,
                "end_date": (_today() + dt.timedelta(days=5)).isoformat(),
                "geofence": HOME,
            },
        ).raise_for_status()
        # A wrong signature, a missing one: 401, nothing stored.
        assert (
            _sms(
                gateway, {"from": PHONE, "text": "36.8"}, secret="another-secret-xxxxxxx"
            ).status_code
            == 401
        )
        raw = json.dumps({"from": PHONE, "text": "36.8"}).encode()
        r = gateway.post(
            "/api/v1/isolation/sms", content=raw, headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 401
        r = _sms(gateway, {"from": PHONE, "text": "feeling fine"})
        assert r.status_code == 422
        assert "36.8" in r.json()["reply"]
        assert _counts(live)[1] == 0
        r = _sms(gateway, {"from": "010-5550-1234", "text": "37.9 fever cough"})
        assert r.status_code == 201, r.text
        assert r.json()["reply"].startswith("Check-in received: 37.9 °C, fever, cough")
        assert _sms(gateway, {"from": "+821099990000", "text": "36.5"}).status_code == 404
        checkins = o.get(
            f"/api/v1/isolation/registrations/{o.get('/api/v1/isolation/caseload').json()[0]['registration_id']}"
        ).json()["checkins"]
        assert [(x["source"], x["symptoms"]) for x in checkins] == [("sms", ["fever", "cough"])]


def _login(c: httpx.Client, role: str) -> None:
    assert c.post("/login", data={"username": role, "password": PASSWORD}).status_code == 303


def test_the_caseload_page_lists_worst_first_and_acknowledges(live: LiveService) -> None:
    end = (_today() + dt.timedelta(days=5)).isoformat()
    with live.client("health_officer") as o, live.client("citizen") as c:
        for person in (5001, CITIZEN_PERSON_ID, 5002):
            o.post(
                "/api/v1/isolation/registrations",
                json={"person_id": person, "end_date": end, "geofence": HOME},
            ).raise_for_status()
        c.post("/api/v1/isolation/me/checkins", json={"temperature_c": 38.5}).raise_for_status()
    with httpx.Client(base_url=live.url) as browser:
        _login(browser, "health_officer")
        page = browser.get("/console/isolation").text
        order = [int(x) for x in re.findall(r'data-registration="(\d+)"', page)]
        assert len(order) == 3
        assert f"<td>{CITIZEN_PERSON_ID}</td>" in page.split("data-registration")[1]  # first row
        alert = re.search(r'action="/console/isolation/alerts/(\d+)/acknowledge"', page)
        assert alert
        url = f"/console/isolation/alerts/{alert.group(1)}/acknowledge"
        assert browser.post(url, data={"note": "x"}).status_code == 403  # no CSRF token
        token = re.search(r'name="csrf" value="([^"]+)"', page)
        assert token
        r = browser.post(url, data={"csrf": token.group(1), "note": "called"})
        assert r.status_code == 303
        again = browser.post(url, data={"csrf": token.group(1), "note": "called"})
        assert again.status_code == 409
        assert "acknowledged already" in again.text
        assert "Alert acknowledged" in browser.get(r.headers["location"]).text
    with httpx.Client(base_url=live.url) as investigator:
        _login(investigator, "investigator")
        assert investigator.get("/console/isolation").status_code == 403
