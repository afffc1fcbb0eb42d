"""Self-diagnosis over HTTP on a live server: the public questionnaire, answering as the
public (nothing kept for them) and as a citizen (kept, visible only to them), 422s naming
the field, the nearest open centres for testing."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from tests.web.conftest import CITIZEN_PERSON_ID, LiveService

from epicity.db import session_scope, utcnow
from epicity.triage.models import SelfDiagnosis

EXPOSED: dict[str, Any] = {
    "symptoms": ["fever", "cough"],
    "contact_with_confirmed_case": True,
    "overseas_travel_14d": False,
}
WELL: dict[str, Any] = {**EXPOSED, "symptoms": [], "contact_with_confirmed_case": False}


def test_the_questionnaire_is_public(live: LiveService) -> None:
    with live.client() as c:
        r = c.get("/api/v1/self-diagnosis/rules")
    assert r.status_code == 200
    body = r.json()
    assert body["id"] == "kdca-2020-v1"
    assert len(body["sha256"]) == 64
    assert "Response Guidelines" in body["source"]["citation"]
    assert {q["id"] for q in body["questions"]} >= {"symptoms", "temperature_c"}


def test_the_public_gets_advice_and_nothing_personal_is_kept(live: LiveService) -> None:
    with live.client() as c:
        r = c.post("/api/v1/self-diagnosis", json={"answers": WELL})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["recommendation"] == "stay_home_monitor"
    assert body["id"] is None
    assert body["stored_for_you"] is False
    assert body["centres"] == []
    with session_scope(live.app.state.sessions) as s:
        rows = list(s.scalars(select(SelfDiagnosis)))
    assert [r.person_id for r in rows] == [None]
    # staff answering are the public too
    with live.client("investigator") as c:
        assert c.post("/api/v1/self-diagnosis", json={"answers": WELL}).json()["id"] is None


def test_a_citizens_answers_are_kept_and_theirs_only(live: LiveService) -> None:
    with live.client("citizen") as c:
        r = c.post(
            "/api/v1/self-diagnosis",
            json={"answers": EXPOSED, "location": {"lat": 37.5665, "lon": 126.978}},
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["recommendation"] == "get_tested"
        assert body["stored_for_you"] is True
        assert body["rules"]["id"] == "kdca-2020-v1"
        assert any("Suspected case" in x for x in body["reasons"])
        mine = c.get("/api/v1/me/self-diagnoses").json()
    assert [d["id"] for d in mine] == [body["id"]]
    assert mine[0]["rules_sha256"] == body["rules"]["sha256"]
    with session_scope(live.app.state.sessions) as s:
        row = s.get(SelfDiagnosis, body["id"])
        assert row is not None
        assert row.person_id == CITIZEN_PERSON_ID
        # someone else's answer never shows in the citizen's list
        s.add(
            SelfDiagnosis(
                person_id=CITIZEN_PERSON_ID + 1,
                rules_id="kdca-2020-v1",
                rules_version=1,
                rules_sha256="0" * 64,
                answers=WELL,
                recommendation="stay_home_monitor",
                fired=[],
                created_at=utcnow(),
            )
        )
    with live.client("citizen") as c:
        assert [d["id"] for d in c.get("/api/v1/me/self-diagnoses").json()] == [body["id"]]
    with live.client() as c:
        assert c.get("/api/v1/me/self-diagnoses").status_code == 401
    with live.client("health_officer") as c:
        assert c.get("/api/v1/me/self-diagnoses").status_code == 403


def test_bad_answers_are_422_naming_the_field(live: LiveService) -> None:
    cases = [
        ({"answers": {**WELL, "temperature_c": 50}}, "answers.temperature_c"),
        ({"answers": {**WELL, "mood": "bad"}}, "answers.mood"),
        ({"answers": {**WELL, "age": "old"}}, "answers.age"),
        ({"answers": {**WELL, "symptoms": ["hiccups"]}}, "answers.symptoms"),
        ({"answers": {"symptoms": []}}, "answers.contact_with_confirmed_case"),
        ({"answers": WELL, "location": {"lat": 95, "lon": 0}}, "location.lat"),
        ({"answers": "fever"}, "answers"),
    ]
    with live.client("citizen") as c:
        for body, field in cases:
            r = c.post("/api/v1/self-diagnosis", json=body)
            assert r.status_code == 422, (body, r.text)
            assert r.json()["errors"][0]["field"] == field, r.json()
        assert c.get("/api/v1/me/self-diagnoses").json() == []


def test_testing_advice_lists_the_nearest_open_centres(live: LiveService) -> None:
    from epicity.screening import service as screening

    week = {d: (dt.time(0), dt.time(23, 59)) for d in range(7)}
    with session_scope(live.app.state.sessions) as s:
        ids = [
            screening.create_centre(
                s,
                actor="officer",
                kind="walk_through",
                name=name,
                district="Jung-gu",
                lat=lat,
                lon=lon,
                lanes=2,
                minutes_per_test=5,
                hours=week,
            ).id
            for name, lat, lon in [
                ("Far", 37.65, 127.05),
                ("Near", 37.567, 126.979),
                ("Mid", 37.60, 127.00),
                ("Farther", 37.70, 127.10),
            ]
        ]
    with live.client() as c:
        r = c.post(
            "/api/v1/self-diagnosis",
            json={"answers": EXPOSED, "location": {"lat": 37.5665, "lon": 126.978}},
        )
    assert r.status_code == 200, r.text
    centres = r.json()["centres"]
    assert [x["centre_id"] for x in centres] == [ids[1], ids[2], ids[0]]
    assert centres[0]["distance_m"] < centres[1]["distance_m"] < centres[2]["distance_m"]
    assert all("wait_minutes" in x for x in centres)
