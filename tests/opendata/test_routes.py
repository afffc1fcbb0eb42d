"""The staff routes to publish (`/api/v1/opendata`) on a live server, both backends: who may
publish, idempotency over HTTP, corrections and bad bodies."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from tests.opendata.seed import AS_OF, seed
from tests.web.conftest import LiveService, live  # noqa: F401  (the live service fixture)

from epicity.cases.models import Case
from epicity.db import session_scope
from epicity.opendata import service

PUBLISH = "/api/v1/opendata/publish"
LIST = "/api/v1/opendata/publications"


def test_health_officers_publish_and_correct_others_cannot(live: LiveService) -> None:  # noqa: F811
    body = {"as_of": AS_OF.isoformat(), "note": "daily figures"}
    with live.client() as public, live.client("investigator") as investigator:
        assert public.post(PUBLISH, json=body).status_code == 401
        assert investigator.post(PUBLISH, json=body).status_code == 403
        assert investigator.get(LIST).status_code == 403
    with live.client("health_officer") as officer:
        nothing = officer.post(PUBLISH, json=body)
        assert nothing.status_code == 409
        assert nothing.json()["detail"].startswith("as_of: nothing to publish")
        with session_scope(live.app.state.sessions) as s:
            seed(s)
        first = officer.post(PUBLISH, json=body)
        assert first.status_code == 200, first.text
        p = first.json()
        assert p["created"] is True
        assert (p["as_of"], p["published_by"], p["note"]) == (
            "2020-03-07",
            "health_officer",
            "daily figures",
        )
        assert (p["figures_added"], p["figures_corrected"]) == (7 * 26, 0)
        again = officer.post(PUBLISH, json=body).json()
        assert (again["id"], again["created"]) == (p["id"], False)
        with session_scope(live.app.state.sessions) as s:
            case = s.scalars(select(Case).where(Case.external_ref == "u1")).one()
            case.district = "Jongno-gu"
        fix = officer.post(PUBLISH, json={"as_of": "2020-03-07", "note": "u1 lives in Jongno-gu"})
        corrected = fix.json()
        assert corrected["created"] is True
        assert corrected["figures_corrected"] == 5  # Jongno-gu's days 3-7
        listed = officer.get(LIST, params={"limit": 10}).json()
        assert [x["id"] for x in listed] == [corrected["id"], p["id"]]
        assert listed[0]["note"] == "u1 lives in Jongno-gu"
    with session_scope(live.app.state.sessions) as s:
        history = service.revisions(s, day=dt.date(2020, 3, 3), area="Jongno-gu")
        assert [r.confirmed_new for r in history] == [0, 1]
    _bad_bodies_are_refused_naming_the_field(live)


def _bad_bodies_are_refused_naming_the_field(live: LiveService) -> None:  # noqa: F811
    future = (dt.date.today() + dt.timedelta(days=3)).isoformat()
    with live.client("health_officer") as officer:
        for body, status, field in [
            ({"as_of": "2020-13-01"}, 422, "as_of"),
            ({}, 422, "as_of"),
            ({"as_of": "2020-03-07", "note": "x" * 1001}, 422, "note"),
            ({"as_of": "2020-03-07", "extra": 1}, 422, "extra"),
            ({"as_of": future}, 400, "as_of"),
        ]:
            r = officer.post(PUBLISH, json=body)
            assert r.status_code == status, (body, r.text)
            assert r.json()["detail"].startswith(field), r.text
        assert officer.get(LIST, params={"limit": 0}).status_code == 422
        assert len(officer.get(LIST).json()) == 2  # nothing stored by the refusals
