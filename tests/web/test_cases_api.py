"""Case management over HTTP: the lifecycle, contacts, clusters, links and chains, with the
refusals a client must be able to act on (4xx naming the field or the rule)."""

from __future__ import annotations

import hashlib
import time

from sqlalchemy import select
from tests.web.conftest import CITIZEN_PERSON_ID, LiveService

from epicity.accounts.models import ApiToken
from epicity.accounts.service import revoke_token
from epicity.web.deps import TOKEN_CACHE_S


def test_case_lifecycle_contacts_and_chain(live: LiveService) -> None:
    with live.client("investigator") as c:
        a = c.post(
            "/api/v1/cases",
            json={
                "status": "confirmed",
                "confirmed_date": "2020-03-01",
                "district": "Guro-gu",
                "external_ref": "A",
            },
        )
        assert a.status_code == 201, a.text
        b = c.post("/api/v1/cases", json={"external_ref": "B"})
        assert b.json()["status"] == "suspected"
        a_id, b_id = a.json()["id"], b.json()["id"]

        # Illegal move: suspected cannot be released.
        r = c.post(f"/api/v1/cases/{b_id}/status", json={"to": "recovered", "reason": "x"})
        assert r.status_code == 409
        assert "suspected" in r.json()["detail"]
        r = c.post(
            f"/api/v1/cases/{b_id}/status",
            json={"to": "confirmed", "reason": "PCR positive", "on": "2020-03-03"},
        )
        assert r.json()["status"] == "confirmed"
        r = c.post(
            f"/api/v1/cases/{a_id}/status",
            json={"to": "isolated", "reason": "admitted", "on": "2020-02-01"},
        )
        assert r.status_code == 400  # isolated before confirmed
        history = c.get(f"/api/v1/cases/{b_id}/history").json()
        assert [h["to_status"] for h in history] == ["suspected", "confirmed"]
        assert history[-1]["changed_by"] == "investigator"

        contact = c.post(f"/api/v1/cases/{a_id}/contacts", json={"tier": "close", "person_id": 7})
        assert contact.status_code == 201
        again = c.post(f"/api/v1/cases/{a_id}/contacts", json={"tier": "close", "person_id": 7})
        assert again.status_code == 409
        nobody = c.post(f"/api/v1/cases/{a_id}/contacts", json={"tier": "close"})
        assert nobody.status_code == 422
        cid = contact.json()["id"]
        assert (
            c.post(f"/api/v1/contacts/{cid}/follow-up", json={"to": "reached"}).status_code == 200
        )
        assert c.post(f"/api/v1/contacts/{cid}/follow-up", json={"to": "none"}).status_code == 409

        link = c.post(
            "/api/v1/links",
            json={"infector_id": a_id, "infectee_id": b_id, "evidence": "same call centre floor"},
        )
        assert link.status_code == 201
        cycle = c.post(
            "/api/v1/links", json={"infector_id": b_id, "infectee_id": a_id, "evidence": "x"}
        )
        assert cycle.status_code == 400
        assert "cycle" in cycle.json()["detail"]
        found = c.get(f"/api/v1/cases/{b_id}/chain").json()
        assert found["roots"] == [a_id]
        assert found["edges"] == [{"infector_id": a_id, "infectee_id": b_id}]

        cluster = c.post("/api/v1/clusters", json={"name": "Guro call centre", "kind": "workplace"})
        assert cluster.status_code == 201
        k = cluster.json()["id"]
        assert c.post(f"/api/v1/clusters/{k}/cases", json={"case_id": a_id}).json()["cases"] == 1
        page = c.get("/api/v1/cases", params={"cluster_id": k}).json()
        assert [x["id"] for x in page["items"]] == [a_id]
        assert c.get("/api/v1/cases", params={"status": "nonsense"}).status_code == 422
        assert c.get("/api/v1/cases/0").status_code == 422
        assert c.get("/api/v1/cases/999999").status_code == 404

    with live.client("analyst") as c:
        counts = c.get("/api/v1/stats/cases").json()
        assert counts == {
            "total": 2,
            "by_status": {"confirmed": 2},
            "by_district": {"Guro-gu": 1, "unknown": 1},
        }


def test_a_citizen_sees_only_their_own_cases(live: LiveService) -> None:
    with live.client("investigator") as c:
        mine = c.post("/api/v1/cases", json={"person_id": CITIZEN_PERSON_ID}).json()
        c.post("/api/v1/cases", json={"person_id": CITIZEN_PERSON_ID + 1})
    with live.client("citizen") as c:
        assert [x["id"] for x in c.get("/api/v1/me/cases").json()] == [mine["id"]]
        assert c.get(f"/api/v1/cases/{mine['id']}").status_code == 403


def test_the_case_list_writes_each_case_as_the_case_route_does(live: LiveService) -> None:
    with live.client("investigator") as c:
        for ref, body in (
            ("A", {"status": "confirmed", "confirmed_date": "2020-03-01", "district": "Jung-gu"}),
            ("B", {"sex": "female", "age_group": "30s", "symptom_onset": "2020-02-27"}),
            ("Ü", {"status": "confirmed", "confirmed_date": "2020-03-02", "person_id": 5}),
        ):
            assert c.post("/api/v1/cases", json={"external_ref": ref, **body}).status_code == 201
        page = c.get("/api/v1/cases", params={"limit": 2, "offset": 0})
        assert page.headers["content-type"] == "application/json"
        body = page.json()
        assert (body["total"], body["limit"], body["offset"]) == (3, 2, 0)
        rest = c.get("/api/v1/cases", params={"limit": 2, "offset": 2}).json()["items"]
        listed = body["items"] + rest
        # newest confirmed first, unconfirmed last
        assert [x["external_ref"] for x in listed] == ["Ü", "A", "B"]
        for item in listed:
            assert item == c.get(f"/api/v1/cases/{item['id']}").json()


def test_a_revoked_token_stops_working_within_the_cache_time(live: LiveService) -> None:
    secret = live.tokens["investigator"]
    with live.client("investigator") as c:
        assert c.get("/api/v1/cases").status_code == 200  # the token is now cached
        with live.app.state.sessions() as s, s.begin():
            token_hash = hashlib.sha256(secret.encode()).hexdigest()
            token = s.scalars(select(ApiToken).where(ApiToken.token_hash == token_hash)).one()
            revoke_token(s, token_id=token.id)
        deadline = time.monotonic() + TOKEN_CACHE_S + 5
        while c.get("/api/v1/cases").status_code == 200:
            assert time.monotonic() < deadline, "the revoked token still works"
            time.sleep(0.5)
        assert c.get("/api/v1/cases").status_code == 401
