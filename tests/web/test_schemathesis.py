"""Property-based API testing with schemathesis: requests generated from the OpenAPI spec
for every operation, sent to the live service on loopback with a token of a role that may
use it. No answer may be a 5xx."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from tests.web.conftest import LiveService

EXAMPLES = 20  # per operation and backend: bounds the run to a few seconds
ADMIN_PATHS = ("/api/v1/users", "/api/v1/emergencies", "/api/v1/audit")


def test_no_server_errors_on_generated_requests(live: LiveService) -> None:
    spec = httpx.get(f"{live.url}/openapi.json").json()
    schema = schemathesis.openapi.from_dict(spec)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        role = "admin" if operation.path.startswith(ADMIN_PATHS) else "health_officer"
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
            response = case.call(base_url=live.url, headers=headers)
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path}: {response.status_code} "
                    f"{response.text[:200]}"
                )

        check()

    return run
