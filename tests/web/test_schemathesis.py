"""Property-based API testing with schemathesis: requests generated from the OpenAPI spec
for every operation, sent to the live service on loopback with a token of a role that may
use it. No answer may be a 5xx."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from tests.web.conftest import STAFF_ROLES, LiveService
from tests.web.test_roles import CREDENTIALS, PUBLIC, ROUTES

from epicity.accounts.permissions import ROLE_CAPABILITIES

EXAMPLES = 20  # per operation and backend: bounds the run to a few seconds


def _role_for(method: str, path: str) -> str:
    """A role that may use the route (the role matrix's capability), so the generated requests
    get past authorisation; public routes get a health officer's token, and so do CAC
    publishers' routes (refused with 401 without a city's key; tests/cac/test_fuzz.py fuzzes
    them with one)."""
    needed = ROUTES.get((method.upper(), path), PUBLIC)
    if needed == PUBLIC or needed in CREDENTIALS:
        return "health_officer"
    return next(r for r in STAFF_ROLES if needed in ROLE_CAPABILITIES[r])


def test_no_server_errors_on_generated_requests(
    live: LiveService, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The SMS gateway's route answers 503 while the gateway is not configured: configure it.
    monkeypatch.setenv("EPICITY_WEBHOOK_URL", "http://127.0.0.1:9/unused")
    monkeypatch.setenv("EPICITY_WEBHOOK_SECRET", "schemathesis-secret")
    spec = httpx.get(f"{live.url}/openapi.json").json()
    schema = schemathesis.openapi.from_dict(spec)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        role = _role_for(operation.method, operation.path)
        check = _checker(live, operation, {"Authorization": f"Bearer {live.tokens[role]}"})
        check(failures)
    assert operations >= 25
    assert failures == []


def _checker(
    live: LiveService, operation: schemathesis.APIOperation, headers: dict[str, str]
) -> Callable[[list[str]], None]:
    """A hypothesis test of one operation that notes every 5xx in `failures`."""

    def run(failures: list[str]) -> None:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            # A slow answer is not a server error: the generous timeout keeps a loaded
            # machine (the suite runs on every core) from failing the run.
            response = case.call(base_url=live.url, headers=headers, timeout=60)
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path}: {response.status_code} "
                    f"{response.text[:200]}"
                )

        check()

    return run
