"""The screening API on a live server (SQLite and PostgreSQL): a centre opened, a citizen's
booking, walk-ins checked in, a pooled batch, a positive result into a traceable case and a
message; bad input (an impossible coordinate, a double booking, a closed, misaligned or past
slot, a barcode used twice, someone else's booking) gets a clear 4xx and changes nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import func, select
from tests.web.conftest import CITIZEN_PERSON_ID, LiveService, make_live_service

from epicity.db import session_scope
from epicity.tracing.models import OutboxMessage

SEOUL = ZoneInfo("Asia/Seoul")
ALL_DAY = {
    d: {"opens": "00:00", "closes": "23:59"}
    for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
}
CENTRE = {
    "kind": "walk_through",
    "name": "Guro-gu walk-through",
    "district": "Guro-gu",
    "lat": 37.4954,
    "lon": 126.8874,
    "lanes": 2,
    "minutes_per_test": 5,
    "slot_minutes": 15,
    "hours": ALL_DAY,
}


@pytest.fixture
def live(db_url: str) -> Iterator[LiveService]:
    """A live service on a fresh database (both backends)."""
    yield from make_live_service(db_url)


def _tomorrow(hh: int, mm: int = 0) -> str:
    day = dt.datetime.now(SEOUL).date() + dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(hh, mm), tzinfo=SEOUL).isoformat()


def _state(staff: httpx.Client, citizen: httpx.Client) -> dict[str, Any]:
    """What a refused request must leave as it was."""
    return {
        "centres": staff.get("/api/v1/screening/centres").json(),
        "samples": staff.get("/api/v1/screening/samples").json(),
        "batches": staff.get("/api/v1/screening/batches").json(),
        "bookings": citizen.get("/api/v1/me/screening/bookings").json(),
        "results": citizen.get("/api/v1/me/screening/results").json(),
        "cases": staff.get("/api/v1/cases").json()["total"],
    }


def _refused(
    staff: httpx.Client, citizen: httpx.Client, response: httpx.Response, status: int, text: str
) -> None:
    assert response.status_code == status, response.text
    assert text in response.json()["detail"], response.json()


def test_from_booking_to_a_traceable_case(live: LiveService) -> None:
    with (
        live.client("investigator") as staff,
        live.client("citizen") as citizen,
        live.client() as public,
    ):
        r = staff.post("/api/v1/screening/centres", json=CENTRE)
        assert r.status_code == 201, r.text
        centre = r.json()
        assert (centre["slot_capacity"], centre["open_now"]) == (6, True)
        assert centre["wait_minutes"] == 0
        # a second centre, open only on a weekday that is not tomorrow
        tomorrow = dt.datetime.now(SEOUL).date() + dt.timedelta(days=1)
        other_day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[(tomorrow.weekday() + 3) % 7]
        closed = staff.post(
            "/api/v1/screening/centres",
            json={**CENTRE, "name": "Mapo glove wall", "kind": "glove_wall",
                  "hours": {other_day: {"opens": "09:00", "closes": "18:00"}}},
        ).json()  # fmt: skip
        listed = public.get("/api/v1/screening/centres").json()
        assert [c["name"] for c in listed] == ["Guro-gu walk-through", "Mapo glove wall"]
        slots = public.get(
            f"/api/v1/screening/centres/{centre['id']}/slots", params={"day": str(tomorrow)}
        ).json()
        assert len(slots) == 95  # 00:00 to 23:30: the 23:45 slot would end after 23:59
        assert dt.datetime.fromisoformat(slots[0]["starts_at"]) == dt.datetime.fromisoformat(
            _tomorrow(0)
        )
        assert (slots[0]["capacity"], slots[0]["free"]) == (6, 6)

        # a citizen books tomorrow's first slot for themself
        r = citizen.post(
            "/api/v1/me/screening/bookings",
            json={"centre_id": centre["id"], "slot_start": _tomorrow(0, 15)},
        )
        assert r.status_code == 201, r.text
        booking = r.json()
        assert booking["status"] == "booked"

        before = _state(staff, citizen)
        # bad input: clear 4xx, nothing changed
        cases = [
            (
                staff.post("/api/v1/screening/centres", json={**CENTRE, "name": "X", "lat": 95}),
                422, "lat: Input should be less than or equal to 90",
            ),
            (
                staff.post("/api/v1/screening/centres", json={**CENTRE, "name": "X", "lon": -181}),
                422, "lon: Input should be greater than or equal to -180",
            ),
            (
                staff.post("/api/v1/screening/centres", json=CENTRE),
                409, "exists already",
            ),
            (
                citizen.post(
                    "/api/v1/me/screening/bookings",
                    json={"centre_id": centre["id"], "slot_start": _tomorrow(10)},
                ),
                409, "already booked on",
            ),
            (
                citizen.post(
                    "/api/v1/me/screening/bookings",
                    json={"centre_id": closed["id"], "slot_start": _tomorrow(10)},
                ),
                409, "closed on",
            ),
            (
                citizen.post(
                    "/api/v1/me/screening/bookings",
                    json={"centre_id": centre["id"], "slot_start": _tomorrow(10, 7)},
                ),
                409, "is not a slot of centre",
            ),
            (
                citizen.post(
                    "/api/v1/me/screening/bookings",
                    json={"centre_id": centre["id"], "slot_start": "2020-03-02T10:00:00+09:00"},
                ),
                409, "is over",
            ),
            (
                citizen.post(
                    "/api/v1/me/screening/bookings",
                    json={"centre_id": centre["id"], "slot_start": "2030-03-02T10:00:00"},
                ),
                422, "slot_start",
            ),
            (
                citizen.post(
                    "/api/v1/me/screening/bookings",
                    json={"centre_id": 999, "slot_start": _tomorrow(10)},
                ),
                404, "no centre with id 999",
            ),
            (
                staff.post(
                    f"/api/v1/screening/centres/{centre['id']}/check-in",
                    json={"booking_id": booking["id"]},
                ),
                409, "not today",
            ),
            (
                staff.post(f"/api/v1/screening/centres/{centre['id']}/check-in", json={}),
                400, "give exactly one",
            ),
        ]  # fmt: skip
        for response, status, text in cases:
            _refused(staff, citizen, response, status, text)
        assert _state(staff, citizen) == before

        # walk-ins: the citizen with a scanned label, another person with a generated one
        r = staff.post(
            f"/api/v1/screening/centres/{centre['id']}/check-in",
            json={"person_id": CITIZEN_PERSON_ID, "barcode": "LAB-000001"},
        )
        assert r.status_code == 201, r.text
        assert (r.json()["status"], r.json()["arrival"]) == ("waiting", "walk_in")
        other = staff.post(
            f"/api/v1/screening/centres/{centre['id']}/check-in", json={"person_id": 77}
        ).json()
        queue = staff.get(f"/api/v1/screening/centres/{centre['id']}/queue").json()
        assert (queue["waiting"], queue["wait_minutes"]) == (2, 5.0)
        before = _state(staff, citizen)
        _refused(
            staff, citizen,
            staff.post(
                f"/api/v1/screening/centres/{centre['id']}/check-in",
                json={"person_id": 78, "barcode": "LAB-000001"},
            ),
            409, "LAB-000001 is used already",
        )  # fmt: skip
        _refused(
            staff, citizen,
            staff.post(
                f"/api/v1/screening/centres/{centre['id']}/check-in",
                json={"person_id": 78, "barcode": "no spaces allowed"},
            ),
            422, "barcode",
        )  # fmt: skip
        _refused(
            staff, citizen,
            staff.post("/api/v1/screening/batches", json={"lab": "L", "barcodes": ["LAB-000001"], "pool_size": 2}),
            409, "is waiting, not collected",
        )  # fmt: skip
        assert _state(staff, citizen) == before

        # collected, pooled, the pool positive, retests: the citizen is positive
        for code in ("LAB-000001", other["barcode"]):
            assert staff.post(f"/api/v1/screening/samples/{code}/collect").status_code == 200
        r = staff.post(
            "/api/v1/screening/batches",
            json={"lab": "Seoul lab 1", "barcodes": ["LAB-000001", other["barcode"]], "prevalence": 0.05},
        )  # fmt: skip
        assert r.status_code == 201, r.text
        batch = r.json()
        assert (batch["mode"], batch["pool_size"], batch["samples"]) == ("pooled", 5, 2)
        assert batch["pools"][0]["barcodes"] == ["LAB-000001", other["barcode"]]
        r = staff.post(
            f"/api/v1/screening/batches/{batch['id']}/pools/1/result", json={"result": "positive"}
        )
        assert [o["status"] for o in r.json()] == ["retest", "retest"]
        _refused(
            staff, citizen,
            staff.post(f"/api/v1/screening/batches/{batch['id']}/pools/1/result", json={"result": "negative"}),
            409, "was tested already",
        )  # fmt: skip
        r = staff.post("/api/v1/screening/samples/LAB-000001/result", json={"result": "positive"})
        outcome = r.json()
        assert (outcome["result"], outcome["traceable"], outcome["notified"]) == (
            "positive",
            True,
            True,
        )
        r = staff.post(
            f"/api/v1/screening/samples/{other['barcode']}/result", json={"result": "negative"}
        )
        assert r.json()["case_id"] is None
        done = staff.get(f"/api/v1/screening/batches/{batch['id']}").json()
        assert (done["status"], done["tests_used"], done["capacity_gain"]) == ("done", 3, 2 / 3)

        # the case: confirmed, the citizen's pseudonym, the centre's district
        case = staff.get(f"/api/v1/cases/{outcome['case_id']}").json()
        assert (case["status"], case["source"], case["person_id"], case["district"]) == (
            "confirmed", "screening", CITIZEN_PERSON_ID, "Guro-gu",
        )  # fmt: skip
        assert case["confirmed_date"] is not None
        # the citizen sees their own result; the message is queued to them
        [mine] = citizen.get("/api/v1/me/screening/results").json()
        assert (mine["barcode"], mine["result"]) == ("LAB-000001", "positive")
        with session_scope(live.app.state.sessions) as s:
            sent = s.scalar(
                select(func.count()).where(
                    OutboxMessage.kind == "test_result",
                    OutboxMessage.recipient == f"person:{CITIZEN_PERSON_ID}",
                )
            )
        assert sent == 1
        # turnaround: both results queued within 6 h of sampling
        [row] = staff.get("/api/v1/screening/turnaround", params={"centre_id": centre["id"]}).json()
        assert (row["samples"], row["resulted"], row["share_within"]) == (2, 2, 1.0)

        # cancelling: own booking once; twice is 409, an unknown one 404
        path = f"/api/v1/me/screening/bookings/{booking['id']}/cancel"
        assert citizen.post(path).json()["status"] == "cancelled"
        _refused(staff, citizen, citizen.post(path), 409, "is cancelled")
        _refused(
            staff,
            citizen,
            citizen.post("/api/v1/me/screening/bookings/999/cancel"),
            404,
            "no booking 999",
        )

        # the console page
        page = staff.get("/console/screening", headers={"accept": "text/html"})
        assert page.status_code == 200
        assert "Guro-gu walk-through" in page.text
        assert "Turnaround against 6 hours" in page.text
        page = staff.get(f"/console/screening/centres/{centre['id']}")
        assert page.status_code == 200
        assert "LAB-000001" not in page.text
        assert staff.get("/console/screening/centres/999").status_code == 404


def test_staff_change_a_centre_and_citizens_cannot(live: LiveService) -> None:
    with live.client("health_officer") as staff, live.client("citizen") as citizen:
        centre = staff.post("/api/v1/screening/centres", json=CENTRE).json()
        r = staff.patch(
            f"/api/v1/screening/centres/{centre['id']}", json={"lanes": 4, "active": False}
        )
        assert (r.json()["lanes"], r.json()["slot_capacity"], r.json()["active"]) == (4, 12, False)
        assert staff.get("/api/v1/screening/centres").json() == []  # not taking bookings
        r = citizen.post(
            "/api/v1/me/screening/bookings",
            json={"centre_id": centre["id"], "slot_start": _tomorrow(10)},
        )
        assert r.status_code == 409
        assert "not taking bookings" in r.json()["detail"]
        r = staff.patch(f"/api/v1/screening/centres/{centre['id']}", json={"minutes_per_test": 0})
        assert r.status_code == 422
        assert (
            citizen.patch(
                f"/api/v1/screening/centres/{centre['id']}", json={"lanes": 1}
            ).status_code
            == 403
        )
        assert citizen.get("/api/v1/screening/samples").status_code == 403
