"""Issue 5 end to end, through the API of a live service (SQLite and PostgreSQL), with the
officers' console checked in Chromium: a citizen self-diagnoses, books a slot, is tested; the
sample runs in a Dorfman pool; the positive result opens a case; tracing finds the contacts;
they are ordered into isolation; they miss a check-in and the officer is alerted.

The synthetic city is generated to end yesterday, so its exposures are recent enough for
isolation orders that have not run out yet."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from tests.tracing.test_investigations import SMALL_CITY, SmallCity, build_small_city
from tests.web.conftest import PASSWORD, VIEWPORT, LiveService, make_live_service
from tests.web.test_console_browser import _screenshot
from typer.testing import CliRunner

from epicity.accounts.service import create_user, issue_token
from epicity.cli import app as cli
from epicity.db import session_scope
from epicity.tracing.models import OutboxMessage

SEOUL = ZoneInfo("Asia/Seoul")
ALL_DAY = {d: {"opens": "00:00", "closes": "23:59"} for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}  # fmt: skip
SLOT_MINUTES = 5


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> SmallCity:
    start = dt.datetime.now(SEOUL).date() - dt.timedelta(days=SMALL_CITY.days + 1)
    config = dataclasses.replace(SMALL_CITY, start=start)
    return build_small_city(tmp_path_factory.mktemp("journey-city"), config)


@pytest.fixture
def service(db_url: str, city: SmallCity) -> Iterator[LiveService]:
    for live in make_live_service(db_url, city.store.path):
        with session_scope(live.app.state.sessions) as s:
            create_user(
                s,
                username="patient",
                password=PASSWORD,
                role="citizen",
                person_id=city.person.person_id,
            )
            live.tokens["patient"] = issue_token(s, username="patient", name="app").secret
        yield live


def _current_slot() -> str:
    """The slot in progress now (Seoul): bookable until it ends. The centre's last slot ends at
    23:55, so in the day's last minutes wait for the next day's first slot."""
    now = dt.datetime.now(SEOUL)
    if now.hour == 23 and now.minute >= 55 - SLOT_MINUTES:
        time.sleep((60 - now.minute) * 60 - now.second + 1)
        now = dt.datetime.now(SEOUL)
    start = now.replace(minute=now.minute - now.minute % SLOT_MINUTES, second=0, microsecond=0)
    return start.isoformat()


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def test_from_self_diagnosis_to_an_alerted_officer(
    service: LiveService, city: SmallCity, db_url: str, browser: Any, tmp_path: Path
) -> None:
    person = city.person.person_id
    with (
        service.client("admin") as admin,
        service.client("investigator") as staff,
        service.client("health_officer") as officer,
        service.client("patient") as patient,
    ):
        _ok(admin.post("/api/v1/emergencies", json={"name": "COVID-19"}), 201)
        centre = _ok(
            staff.post(
                "/api/v1/screening/centres",
                json={
                    "kind": "walk_through", "name": "Jung-gu walk-through", "district": "Jung-gu",
                    "lat": 37.5636, "lon": 126.9976, "lanes": 2, "minutes_per_test": 5,
                    "slot_minutes": SLOT_MINUTES, "hours": ALL_DAY,
                },
            ),
            201,
        )  # fmt: skip

        # 1. Self-diagnosis: fever and a cough after contact with a case -> get tested, here.
        advice = _ok(
            patient.post(
                "/api/v1/self-diagnosis",
                json={
                    "answers": {
                        "symptoms": ["fever", "cough"],
                        "contact_with_confirmed_case": True,
                        "overseas_travel_14d": False,
                    },
                    "location": {"lat": 37.5665, "lon": 126.978},
                },
            )
        )
        assert advice["recommendation"] == "get_tested"
        assert advice["stored_for_you"] is True
        assert [c["centre_id"] for c in advice["centres"]] == [centre["id"]]

        # 2. Booking the slot in progress, and checking in on arrival: a labelled sample.
        booking = _ok(
            patient.post(
                "/api/v1/me/screening/bookings",
                json={"centre_id": centre["id"], "slot_start": _current_slot()},
            ),
            201,
        )
        check_in = f"/api/v1/screening/centres/{centre['id']}/check-in"
        sample = _ok(staff.post(check_in, json={"booking_id": booking["id"]}), 201)
        assert (sample["person_id"], sample["arrival"]) == (person, "booked")
        # Three walk-ins tested the same hour.
        others = [_ok(staff.post(check_in, json={"person_id": p}), 201) for p in (91, 92, 93)]
        barcodes = [sample["barcode"], *(o["barcode"] for o in others)]
        for code in barcodes:
            _ok(staff.post(f"/api/v1/screening/samples/{code}/collect"))

        # 3. The lab pools the four (pool size from 5% prevalence: 5), the pool is positive,
        # the retests find the citizen positive and the others negative.
        batch = _ok(
            staff.post(
                "/api/v1/screening/batches",
                json={"lab": "Seoul lab 1", "barcodes": barcodes, "prevalence": 0.05},
            ),
            201,
        )
        assert (batch["mode"], len(batch["pools"])) == ("pooled", 1)
        retests = _ok(staff.post(f"/api/v1/screening/batches/{batch['id']}/pools/1/result",
                                 json={"result": "positive"}))  # fmt: skip
        assert {r["status"] for r in retests} == {"retest"}
        outcome = _ok(staff.post(f"/api/v1/screening/samples/{sample['barcode']}/result",
                                 json={"result": "positive"}))  # fmt: skip
        for other in others:
            _ok(staff.post(f"/api/v1/screening/samples/{other['barcode']}/result",
                           json={"result": "negative"}))  # fmt: skip
        assert (outcome["result"], outcome["traceable"]) == ("positive", True)
        assert _ok(staff.get(f"/api/v1/screening/batches/{batch['id']}"))["tests_used"] == 5
        [mine] = _ok(patient.get("/api/v1/me/screening/results"))
        assert mine["result"] == "positive"

        # 4. The positive result opened a confirmed case; tracing finds its contacts.
        case_id = outcome["case_id"]
        case = _ok(staff.get(f"/api/v1/cases/{case_id}"))
        assert (case["status"], case["person_id"], case["source"]) == (
            "confirmed",
            person,
            "screening",
        )
        run = _ok(
            staff.post(
                f"/api/v1/cases/{case_id}/investigation",
                json={"purpose": "contact tracing of the confirmed case"},
            )
        )
        assert run["contacts_added"] == city.person.close + city.person.casual
        contacts = _ok(staff.get(f"/api/v1/cases/{case_id}/contacts"))
        close = sorted(c["person_id"] for c in contacts if c["tier"] == "close")
        assert len(close) == city.person.close

        # 5. The officer approves the isolation orders and registers the close contacts.
        _ok(officer.post(f"/api/v1/cases/{case_id}/warnings/approve", json={}))
        registered = _ok(officer.post(f"/api/v1/isolation/cases/{case_id}/register", json={}))
        isolating = sorted(r["person_id"] for r in registered["registered"])
        registration_of = {r["id"]: r["person_id"] for r in registered["registered"]}
        assert isolating == close
        today = dt.datetime.now(SEOUL).date()
        assert all(dt.date.fromisoformat(r["end_date"]) > today for r in registered["registered"])

    # 6. Nobody checks in the next morning: the sweep after the window alerts the officer.
    next_noon = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(12, 30), tzinfo=SEOUL)
    swept = CliRunner().invoke(
        cli, ["isolation", "sweep", "--at", next_noon.isoformat(), "--db", db_url]
    )
    assert swept.exit_code == 0, swept.output
    with service.client("health_officer") as officer:
        alerts = _ok(officer.get("/api/v1/isolation/alerts"))
    missed = {
        registration_of[a["registration_id"]] for a in alerts if a["kind"] == "missed_checkin"
    }
    assert missed == set(close)
    with session_scope(service.app.state.sessions) as s:
        result_messages = s.scalars(
            select(OutboxMessage.recipient).where(OutboxMessage.kind == "test_result")
        ).all()
        assert sorted(result_messages) == sorted(f"person:{p}" for p in (person, 91, 92, 93))

    # 7. The console, in Chromium: the screening page and the officer's caseload with the alerts.
    context = browser.new_context(viewport=VIEWPORT, base_url=service.url)
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        page.goto("/login")
        page.fill("input[name=username]", "health_officer")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.goto("/console/screening")
        assert "Jung-gu walk-through" in page.content()
        _screenshot(page, tmp_path, "console-screening.png")
        page.goto("/console/isolation")
        rows = page.locator("#caseload tbody tr")
        assert rows.count() == len(close)
        assert "missed" in rows.nth(0).inner_text().lower()
        _screenshot(page, tmp_path, "console-isolation.png")
    finally:
        context.close()
