"""The open API while things change, on SQLite and PostgreSQL: a new publication (a
correction) changes the answers and their ETags; the rate limit answers 429; each test on
a service of its own."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

import pytest
from tests.opendata.test_api import DAY0, DAYS, OPEN, seed_and_publish
from tests.web.conftest import LiveService, make_live_service

from epicity.cases import service as cases
from epicity.db import session_scope
from epicity.opendata import service as opendata
from epicity.opendata.api_edge import replace_config

AS_OF = DAY0 + dt.timedelta(days=DAYS - 1)


@pytest.fixture
def live(db_url: str) -> Iterator[LiveService]:
    """A live service on a fresh database of its own (SQLite and PostgreSQL in turn)."""
    yield from make_live_service(db_url)


def test_a_correction_changes_the_answer_and_its_etag(live: LiveService) -> None:
    seed_and_publish(live)
    replace_config(live.app.state.open_api, refresh=0.0)  # see a publication at once
    with live.client() as c:
        url = f"{OPEN}/figures?area=Mapo-gu&start={DAY0}&end={DAY0}"
        before = c.get(url)
        etag = before.headers["ETag"]
        bulk_before = c.get(f"{OPEN}/bulk/figures")
        # a case of the first day reported late: the next publication corrects that day
        with session_scope(live.app.state.sessions) as s:
            cases.create_case(
                s, actor="seed", status="confirmed", person_id=99_999, age_group="50s",
                province="Seoul", district="Mapo-gu", confirmed_date=DAY0,
            )  # fmt: skip
            opendata.publish(
                s, as_of=AS_OF, actor="seed", now=dt.datetime.now(dt.UTC), note="late report"
            )
        after = c.get(url, headers={"If-None-Match": etag})
        assert after.status_code == 200, "the old ETag no longer matches"
        assert after.headers["ETag"] != etag
        old, new = before.json()["data"][0], after.json()["data"][0]
        assert new["confirmed_new"] == old["confirmed_new"] + 1
        assert new["revision"] == old["revision"] + 1
        assert after.json()["publication"]["id"] > before.json()["publication"]["id"]
        assert c.get(f"{OPEN}/bulk/figures").text != bulk_before.text
        history = c.get(f"{OPEN}/revisions", params={"day": str(DAY0), "area": "Mapo-gu"})
        revs = history.json()["data"]
        assert [r["revision"] for r in revs] == [1, 2]
        assert revs[0]["confirmed_new"] == old["confirmed_new"]
        assert revs[1]["confirmed_new"] == new["confirmed_new"]


def test_a_publication_reaches_the_cache_within_its_refresh(live: LiveService) -> None:
    seed_and_publish(live)
    edge = live.app.state.open_api
    replace_config(edge, refresh=0.5)
    with live.client() as c:
        url = f"{OPEN}/figures/latest"
        etag = c.get(url).headers["ETag"]
        with session_scope(live.app.state.sessions) as s:
            cases.create_case(
                s, actor="seed", status="confirmed", person_id=88_888, age_group="50s",
                province="Seoul", district="Guro-gu", confirmed_date=AS_OF,
            )  # fmt: skip
            opendata.publish(s, as_of=AS_OF, actor="seed", now=dt.datetime.now(dt.UTC))
        deadline = time.monotonic() + 5
        while c.get(url, headers={"If-None-Match": etag}).status_code == 304:
            assert time.monotonic() < deadline, "the new publication was never served"
            time.sleep(0.05)
        assert time.monotonic() - (deadline - 5) < 0.5 + 0.3


def test_rate_limit_answers_429_with_retry_after(live: LiveService) -> None:
    replace_config(live.app.state.open_api, rate=1.0, burst=3)
    with live.client() as c:
        answers = [c.get(f"{OPEN}/areas") for _ in range(4)]
        assert [r.status_code for r in answers] == [200, 200, 200, 429]
        assert [r.headers["RateLimit-Remaining"] for r in answers] == ["2", "1", "0", "0"]
        assert answers[0].headers["RateLimit-Limit"] == "3"
        assert answers[0].headers["RateLimit-Policy"] == "3;w=3"
        refused = answers[3]
        assert refused.headers["Retry-After"] == "1"
        assert "rate limit" in refused.json()["detail"]
        assert refused.headers["Access-Control-Allow-Origin"] == "*"
        # the staff API and pages are not limited by it
        assert c.get("/healthz").status_code == 200
        time.sleep(1.05)
        assert c.get(f"{OPEN}/areas").status_code == 200, "one token back after a second"
