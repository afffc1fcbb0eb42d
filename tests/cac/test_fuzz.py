"""Schemathesis on CAC's operations only, with a real publisher key for the publisher routes
(the service-wide run has no city's key): no generated request gets a 5xx."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from tests.web.conftest import LiveService
from tests.web.test_roles import PUBLISHER, ROUTES

from epicity.cac import service
from epicity.db import session_scope

EXAMPLES = 10


@pytest.mark.slow
def test_no_server_errors_on_cac_operations(live: LiveService) -> None:
    now = dt.datetime.now(dt.UTC)
    with session_scope(live.app.state.sessions) as s:
        city = service.register_city(
            s,
            name_en="Seoul",
            name_local="서울",
            country="KR",
            population=10_000_000,
            time_zone="Asia/Seoul",
            contact_email="cac@seoul.example.org",
            now=now,
        )
        service.decide_city(s, city_id=city.id, approve=True, actor="t", now=now)
        _, key = service.create_publisher(s, city_id=city.id, label="fuzz", actor="t", now=now)
        service.post_updates(
            s, city_id=city.id, items=[{"date": "2020-03-01", "confirmed_total": 5}], actor="t",
            now=now,
        )  # fmt: skip
    spec = httpx.get(f"{live.url}/openapi.json").json()
    schema = schemathesis.openapi.from_dict(spec)
    failures: list[str] = []
    seen = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if not operation.path.startswith("/api/cac/v1/"):
            continue
        seen += 1
        needed = ROUTES[(operation.method.upper(), operation.path)]
        token = key if needed == PUBLISHER else live.tokens["admin"]
        headers = {"Authorization": f"Bearer {token}"}

        _fuzz(live, operation, headers, failures)
    assert seen >= 14
    assert failures == []


def _fuzz(
    live: LiveService,
    operation: schemathesis.APIOperation,
    headers: dict[str, str],
    failures: list[str],
) -> None:
    """Send `EXAMPLES` generated requests to one operation; note every 5xx."""

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: schemathesis.Case) -> None:
        # Slow is not a server error: a loaded machine (the suite runs on every core) must
        # not fail the run.
        response = case.call(base_url=live.url, headers=headers, timeout=60)
        if response.status_code >= 500:
            failures.append(
                f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:200]}"
            )

    check()
