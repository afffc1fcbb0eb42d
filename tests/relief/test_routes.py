"""Relief over HTTP on a live server: a citizen applies and sees only their own applications
(another's is a 404, the officer's routes a 403); the officer sees eligibility, decides with a
reason, and exports payments as CSV; the console page's forms need the CSRF token; the CLI
exports the same rows."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import httpx
from tests.relief.helpers import VENUE, business_number, isolate, officer
from tests.web.conftest import CITIZEN_PERSON_ID, PASSWORD, LiveService
from typer.testing import CliRunner

from epicity.cli import app as cli
from epicity.db import session_scope
from epicity.relief import service as relief

D = dt.date
LIVING = {
    "kind": "living_support",
    "period_start": "2020-03-02",
    "period_end": "2020-03-15",
    "household_size": 2,
}
HTML = {"Accept": "text/html"}


def _isolate_citizen(live: LiveService) -> None:
    with session_scope(live.app.state.sessions) as s:
        isolate(s, CITIZEN_PERSON_ID, D(2020, 3, 2), D(2020, 3, 15), officer_id=officer(s, "ho2"))


def _someone_elses(live: LiveService) -> int:
    with session_scope(live.app.state.sessions) as s:
        return relief.apply(
            s,
            person_id=CITIZEN_PERSON_ID + 1,
            kind="living_support",
            period_start=D(2020, 3, 2),
            period_end=D(2020, 3, 5),
            household_size=1,
        ).id


def test_a_citizen_applies_and_reaches_only_their_own(live: LiveService) -> None:
    _isolate_citizen(live)
    other = _someone_elses(live)
    with live.client("citizen") as c:
        r = c.post("/api/v1/relief/applications", json=LIVING)
        assert r.status_code == 201, r.text
        mine = r.json()
        assert mine["person_id"] == CITIZEN_PERSON_ID
        assert mine["amount_krw"] == 774_700
        assert mine["eligible"] is True
        assert mine["eligibility"]["evidence"]
        again = c.post("/api/v1/relief/applications", json=LIVING)
        assert again.status_code == 409
        assert "overlapping" in again.json()["detail"]
        assert [a["id"] for a in c.get("/api/v1/me/relief/applications").json()] == [mine["id"]]
        assert c.get(f"/api/v1/me/relief/applications/{mine['id']}").status_code == 200
        theirs = c.get(f"/api/v1/me/relief/applications/{other}")
        assert theirs.status_code == 404
        assert str(CITIZEN_PERSON_ID + 1) not in theirs.text
        assert c.get(f"/api/v1/relief/applications/{other}").status_code == 403
        assert c.get("/api/v1/relief/applications").status_code == 403
        assert c.post("/api/v1/relief/payments/export").status_code == 403


def test_bad_applications_are_4xx_and_change_nothing(live: LiveService) -> None:
    bad = [
        ({**LIVING, "period_end": "2020-03-01"}, 422, "period_end"),
        ({**LIVING, "period_end": "2020-05-01"}, 422, "period_end"),
        ({**LIVING, "household_size": 0}, 422, "household_size"),
        ({**LIVING, "kind": "bailout"}, 422, "kind"),
        ({**LIVING, "period_start": "03/02/2020"}, 422, "period_start"),
        (
            {
                "kind": "rent_relief",
                "period_start": "2020-03-09",
                "period_end": "2020-03-20",
                "venue_id": VENUE,
                "business_number": "1234567890",
                "amount_krw": 100,
            },
            422,
            "business_number",
        ),
        (
            {
                "kind": "emergency_loan",
                "period_start": "2020-03-09",
                "period_end": "2020-03-20",
                "venue_id": VENUE,
                "business_number": business_number("123456789"),
                "amount_krw": 10**11,
            },
            422,
            "amount_krw",
        ),
    ]
    with live.client("citizen") as c:
        for body, status, field in bad:
            r = c.post("/api/v1/relief/applications", json=body)
            assert r.status_code == status, (body, r.text)
            assert field in r.text, r.text
        assert c.get("/api/v1/me/relief/applications").json() == []


def test_the_officer_decides_and_exports(live: LiveService, tmp_path: Path) -> None:
    _isolate_citizen(live)
    with live.client("citizen") as c:
        app_id = c.post("/api/v1/relief/applications", json=LIVING).json()["id"]
        other = c.post(
            "/api/v1/relief/applications",
            json={
                "kind": "rent_relief",
                "period_start": "2020-03-09",
                "period_end": "2020-03-20",
                "venue_id": VENUE,
                "business_number": business_number("123456789"),
                "amount_krw": 1_000_000,
            },
        ).json()
    assert other["eligible"] is False
    with live.client("health_officer") as c:
        waiting = c.get("/api/v1/relief/applications", params={"status": "pending"}).json()
        assert [a["id"] for a in waiting] == [app_id, other["id"]]
        no_reason = c.post(f"/api/v1/relief/applications/{app_id}/decision", json={"approve": True})
        assert no_reason.status_code == 422
        refused = c.post(
            f"/api/v1/relief/applications/{other['id']}/decision",
            json={"approve": True, "reason": "looks fine"},
        )
        assert refused.status_code == 409
        assert "not eligible" in refused.json()["detail"]
        r = c.post(
            f"/api/v1/relief/applications/{app_id}/decision",
            json={"approve": True, "reason": "order verified"},
        )
        assert r.status_code == 200, r.text
        assert r.json()["payment_reference"] == f"EPC-RLF-{app_id:010d}"
        twice = c.post(
            f"/api/v1/relief/applications/{app_id}/decision",
            json={"approve": False, "reason": "oops"},
        )
        assert twice.status_code == 409
        csv1 = c.post("/api/v1/relief/payments/export")
        assert csv1.status_code == 200
        assert csv1.headers["content-type"].startswith("text/csv")
        assert csv1.text == c.post("/api/v1/relief/payments/export").text  # idempotent
        assert f"EPC-RLF-{app_id:010d}" in csv1.text
        assert (
            c.post("/api/v1/relief/payments/export", params={"new_only": True}).text.count("\r\n")
            == 1
        )  # the header only: exported already
    # a closure order recorded by casework staff makes the venue eligible
    with live.client("investigator") as c:
        r = c.post(
            "/api/v1/relief/closures",
            json={
                "venue_id": VENUE,
                "starts_on": "2020-03-10",
                "ends_on": "2020-03-16",
                "order_ref": "Guro-2020-0311",
                "reason": "cluster at the venue",
            },
        )
        assert r.status_code == 201, r.text
        bad = c.post(
            "/api/v1/relief/closures",
            json={
                "venue_id": VENUE,
                "starts_on": "2020-03-10",
                "ends_on": "2020-03-01",
                "order_ref": "x",
                "reason": "y",
            },
        )
        assert bad.status_code == 422
        assert "ends_on" in bad.text
        assert len(c.get("/api/v1/relief/closures", params={"venue_id": VENUE}).json()) == 1
    with live.client("health_officer") as c:
        now = c.get(f"/api/v1/relief/applications/{other['id']}").json()
        assert now["eligible"] is True
        assert "Guro-2020-0311" in now["eligibility"]["evidence"][0]
    # the CLI exports the same payments
    out = tmp_path / "finance" / "payments.csv"
    db = live.app.state.engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(cli, ["relief", "export", "--out", str(out), "--db", db])
    assert result.exit_code == 0, result.output
    assert "1 payments, 774,700 KRW" in result.output
    assert out.read_bytes().decode("utf-8") == csv1.text


def _login(c: httpx.Client, role: str) -> str:
    assert c.post("/login", data={"username": role, "password": PASSWORD}).status_code == 303
    page = c.get("/console/relief", headers=HTML)
    assert page.status_code == 200, page.text
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, "no csrf field on the page"
    return found.group(1)


def test_the_console_page_shows_evidence_and_decides(live: LiveService) -> None:
    _isolate_citizen(live)
    with live.client("citizen") as c:
        app_id = c.post("/api/v1/relief/applications", json=LIVING).json()["id"]
    other = _someone_elses(live)
    for role in ("citizen", "investigator", "admin"):
        with live.client(role) as c:
            assert c.get("/console/relief", headers=HTML).status_code == 403, role
    with httpx.Client(base_url=live.url, timeout=30) as c:
        assert c.get("/console/relief", headers=HTML).status_code == 303  # to the login page
        token = _login(c, "health_officer")
        page = c.get("/console/relief", headers=HTML).text
        assert f'id="application-{app_id}"' in page
        assert "ordered isolation 2020-03-02 to 2020-03-15" in page
        assert "no ordered isolation on record" in page  # the other applicant's
        url = f"/console/relief/{app_id}/decision"
        assert c.post(url, data={"decision": "approve", "reason": "ok"}).status_code == 403
        empty = c.post(url, data={"csrf": token, "decision": "approve", "reason": ""})
        assert empty.status_code == 400
        assert "a decision needs a reason" in empty.text
        refused = c.post(
            f"/console/relief/{other}/decision",
            data={"csrf": token, "decision": "approve", "reason": "ok"},
        )
        assert refused.status_code == 400
        assert "not eligible" in refused.text
        done = c.post(url, data={"csrf": token, "decision": "approve", "reason": "verified"})
        assert done.status_code == 303
        approved = c.get("/console/relief?status=approved", headers=HTML).text
        assert f"EPC-RLF-{app_id:010d}" in approved
        assert "verified" in approved
