"""The role matrix: on every route of the service, each role reaches exactly what its
capabilities allow (epicity.accounts.permissions) and nothing else, and the public only the
public routes. Adding a route without a line here fails the first test."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pytest
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute
from tests.web.conftest import STAFF_ROLES, LiveService

from epicity.accounts.permissions import ROLE_CAPABILITIES

PUBLIC = "public"
# Routes for a CAC city's publishers, who present the city's API key, not a login: without
# one, every caller is refused with 401.
PUBLISHER = "cac_publisher"
# Routes for an exposure-notification app, which presents a one-time upload token (exchanged
# for the verification code that came with a positive result), not a login: without one,
# every caller is refused with 401.
UPLOAD_TOKEN = "exposure_upload_token"
CREDENTIALS = (PUBLISHER, UPLOAD_TOKEN)

# (method, path) -> the capability it needs, or PUBLIC.
ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/static/plotly.min.js"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/logout"): PUBLIC,
    ("GET", "/"): PUBLIC,
    ("GET", "/public"): PUBLIC,
    ("GET", "/public/data"): PUBLIC,
    ("GET", "/public/notices"): PUBLIC,
    ("GET", "/public/notices.atom"): PUBLIC,
    ("POST", "/api/v1/auth/token"): PUBLIC,
    ("GET", "/api/v1/me"): PUBLIC,
    ("GET", "/api/v1/users"): "manage_users",
    ("POST", "/api/v1/users"): "manage_users",
    ("GET", "/api/v1/cases"): "read_cases",
    ("POST", "/api/v1/cases"): "edit_cases",
    ("GET", "/api/v1/cases/{case_id}"): "read_cases",
    ("POST", "/api/v1/cases/{case_id}/status"): "edit_cases",
    ("GET", "/api/v1/cases/{case_id}/history"): "read_cases",
    ("GET", "/api/v1/cases/{case_id}/contacts"): "read_cases",
    ("POST", "/api/v1/cases/{case_id}/contacts"): "edit_cases",
    ("POST", "/api/v1/contacts/{contact_id}/follow-up"): "edit_cases",
    ("GET", "/api/v1/clusters"): "read_cases",
    ("POST", "/api/v1/clusters"): "edit_cases",
    ("GET", "/api/v1/clusters/{cluster_id}"): "read_cases",
    ("POST", "/api/v1/clusters/{cluster_id}/cases"): "edit_cases",
    ("POST", "/api/v1/links"): "edit_cases",
    ("GET", "/api/v1/cases/{case_id}/links"): "read_cases",
    ("GET", "/api/v1/cases/{case_id}/chain"): "read_cases",
    ("GET", "/api/v1/me/cases"): "read_own_records",
    ("GET", "/api/v1/stats/cases"): "read_aggregates",
    ("GET", "/api/v1/emergencies"): "read_aggregates",
    ("GET", "/api/v1/emergencies/active"): "read_aggregates",
    ("POST", "/api/v1/emergencies"): "declare_emergency",
    ("POST", "/api/v1/emergencies/{emergency_id}/end"): "declare_emergency",
    ("GET", "/api/v1/audit"): "read_audit",
    ("GET", "/api/v1/audit/verify"): "read_audit",
    ("GET", "/console/cases"): "read_cases",
    ("GET", "/console/cases/{case_id}"): "read_cases",
    ("POST", "/console/cases/{case_id}/status"): "edit_cases",
    ("POST", "/console/cases/{case_id}/contacts"): "edit_cases",
    ("POST", "/console/contacts/{contact_id}/follow-up"): "edit_cases",
    ("GET", "/console/clusters"): "read_cases",
    ("GET", "/console/clusters/{cluster_id}"): "read_cases",
    ("GET", "/console/audit"): "read_audit",
    ("POST", "/api/v1/cases/{case_id}/investigation"): "read_location",
    ("GET", "/api/v1/cases/{case_id}/investigation"): "read_cases",
    ("POST", "/api/v1/cases/{case_id}/investigation/close"): "edit_cases",
    ("POST", "/api/v1/cases/{case_id}/confirmations"): "edit_cases",
    ("GET", "/api/v1/cases/{case_id}/warnings"): "read_cases",
    ("POST", "/api/v1/cases/{case_id}/warnings/approve"): "approve_warnings",
    ("GET", "/console/cases/{case_id}/investigation"): "read_cases",
    ("POST", "/console/cases/{case_id}/investigation/run"): "read_location",
    ("POST", "/console/cases/{case_id}/confirmations"): "edit_cases",
    ("POST", "/console/cases/{case_id}/warnings/approve"): "approve_warnings",
    ("GET", "/api/v1/isolation/me"): "read_own_records",
    ("POST", "/api/v1/isolation/me"): "read_own_records",
    ("POST", "/api/v1/isolation/me/checkins"): "read_own_records",
    ("GET", "/api/v1/isolation/me/checkins"): "read_own_records",
    ("POST", "/api/v1/isolation/cases/{case_id}/register"): "manage_isolation",
    ("POST", "/api/v1/isolation/registrations"): "manage_isolation",
    ("GET", "/api/v1/isolation/registrations/{registration_id}"): "manage_isolation",
    ("PUT", "/api/v1/isolation/registrations/{registration_id}/address"): "manage_isolation",
    ("POST", "/api/v1/isolation/registrations/{registration_id}/release"): "manage_isolation",
    ("GET", "/api/v1/isolation/caseload"): "manage_isolation",
    ("GET", "/api/v1/isolation/alerts"): "manage_isolation",
    ("POST", "/api/v1/isolation/alerts/{alert_id}/acknowledge"): "manage_isolation",
    ("POST", "/api/v1/isolation/sms"): PUBLIC,  # signed by the SMS gateway (HMAC), not a user
    ("GET", "/console/isolation"): "manage_isolation",
    ("POST", "/console/isolation/alerts/{alert_id}/acknowledge"): "manage_isolation",
    ("GET", "/console/screening/plan"): "run_screening",
    ("GET", "/console/analytics"): "read_aggregates",
    ("GET", "/console/analytics/risk"): "read_aggregates",
    ("GET", "/console/analytics/rt"): "read_aggregates",
    ("GET", "/console/analytics/hotspots"): "read_aggregates",
    ("GET", "/console/analytics/forecast"): "read_aggregates",
    ("GET", "/console/analytics/scenarios"): "read_aggregates",
    ("GET", "/api/v1/screening/centres"): PUBLIC,
    ("GET", "/api/v1/screening/centres/{centre_id}"): PUBLIC,
    ("GET", "/api/v1/screening/centres/{centre_id}/slots"): PUBLIC,
    ("POST", "/api/v1/screening/centres"): "run_screening",
    ("PATCH", "/api/v1/screening/centres/{centre_id}"): "run_screening",
    ("GET", "/api/v1/screening/centres/{centre_id}/queue"): "run_screening",
    ("POST", "/api/v1/screening/centres/{centre_id}/check-in"): "run_screening",
    ("GET", "/api/v1/screening/samples"): "run_screening",
    ("GET", "/api/v1/screening/samples/{barcode}"): "run_screening",
    ("POST", "/api/v1/screening/samples/{barcode}/collect"): "run_screening",
    ("POST", "/api/v1/screening/samples/{barcode}/result"): "run_screening",
    ("POST", "/api/v1/screening/batches"): "run_screening",
    ("GET", "/api/v1/screening/batches"): "run_screening",
    ("GET", "/api/v1/screening/batches/{batch_id}"): "run_screening",
    ("POST", "/api/v1/screening/batches/{batch_id}/pools/{pool_number}/result"): "run_screening",
    ("GET", "/api/v1/screening/turnaround"): "run_screening",
    ("GET", "/api/v1/me/screening/bookings"): "read_own_records",
    ("POST", "/api/v1/me/screening/bookings"): "read_own_records",
    ("POST", "/api/v1/me/screening/bookings/{booking_id}/cancel"): "read_own_records",
    ("GET", "/api/v1/me/screening/results"): "read_own_records",
    ("GET", "/console/screening"): "run_screening",
    ("GET", "/console/screening/centres/{centre_id}"): "run_screening",
    ("GET", "/api/v1/self-diagnosis/rules"): PUBLIC,
    ("POST", "/api/v1/self-diagnosis"): PUBLIC,
    ("GET", "/api/v1/me/self-diagnoses"): "read_own_records",
    ("POST", "/api/v1/relief/applications"): "read_own_records",
    ("GET", "/api/v1/me/relief/applications"): "read_own_records",
    ("GET", "/api/v1/me/relief/applications/{application_id}"): "read_own_records",
    ("GET", "/api/v1/relief/applications"): "decide_relief",
    ("GET", "/api/v1/relief/applications/{application_id}"): "decide_relief",
    ("POST", "/api/v1/relief/applications/{application_id}/decision"): "decide_relief",
    ("POST", "/api/v1/relief/payments/export"): "decide_relief",
    ("POST", "/api/v1/relief/closures"): "edit_cases",
    ("GET", "/api/v1/relief/closures"): "read_cases",
    ("GET", "/console/relief"): "decide_relief",
    ("POST", "/console/relief/{application_id}/decision"): "decide_relief",
    ("GET", "/api/open/v1/areas"): PUBLIC,
    ("GET", "/api/open/v1/figures"): PUBLIC,
    ("GET", "/api/open/v1/figures/latest"): PUBLIC,
    ("GET", "/api/open/v1/revisions"): PUBLIC,
    ("GET", "/api/open/v1/breakdowns/{dimension}"): PUBLIC,
    ("GET", "/api/open/v1/bulk/figures"): PUBLIC,
    ("GET", "/api/open/v1/notices"): PUBLIC,
    ("POST", "/api/v1/opendata/publish"): "publish_data",
    ("GET", "/api/v1/opendata/publications"): "publish_data",
    ("GET", "/api/cac/v1/schema/daily-update"): PUBLIC,
    ("POST", "/api/cac/v1/cities"): PUBLIC,  # a registration: pending until approved
    ("GET", "/api/cac/v1/cities"): PUBLIC,
    ("GET", "/api/cac/v1/cities/{city_id}"): PUBLIC,
    ("GET", "/api/cac/v1/cities/{city_id}/updates"): PUBLIC,
    ("GET", "/api/cac/v1/cities/{city_id}/updates/{day}/revisions"): PUBLIC,
    ("GET", "/api/cac/v1/compare"): PUBLIC,
    ("GET", "/api/cac/v1/registrations"): "manage_cities",
    ("POST", "/api/cac/v1/cities/{city_id}/approve"): "manage_cities",
    ("POST", "/api/cac/v1/cities/{city_id}/reject"): "manage_cities",
    ("GET", "/api/cac/v1/cities/{city_id}/publishers"): "manage_cities",
    ("POST", "/api/cac/v1/cities/{city_id}/publishers"): "manage_cities",
    ("POST", "/api/cac/v1/publishers/{publisher_id}/revoke"): "manage_cities",
    ("GET", "/api/cac/v1/publisher"): PUBLISHER,
    ("POST", "/api/cac/v1/updates"): PUBLISHER,
    ("GET", "/cac"): PUBLIC,
    ("GET", "/cac/cities/{city_id}"): PUBLIC,
    ("GET", "/cac/compare"): PUBLIC,
    ("GET", "/console/cac"): "manage_cities",
    ("POST", "/console/cac/{city_id}/decision"): "manage_cities",
    ("POST", "/console/cac/{city_id}/publishers"): "manage_cities",
    ("POST", "/console/cac/publishers/{publisher_id}/revoke"): "manage_cities",
    # The countermeasure library: posts take a city's key or a staff login with manage_cities.
    ("GET", "/api/cac/v1/countermeasures"): PUBLIC,
    ("POST", "/api/cac/v1/countermeasures"): "manage_cities",
    ("GET", "/api/cac/v1/countermeasures/{countermeasure_id}"): PUBLIC,
    ("POST", "/api/cac/v1/countermeasures/{countermeasure_id}/attachments"): "manage_cities",
    ("GET", "/api/cac/v1/countermeasures/{countermeasure_id}/attachments/{attachment_id}"): PUBLIC,
    ("GET", "/api/cac/v1/suppliers"): PUBLIC,
    ("GET", "/api/cac/v1/suppliers/{supplier_id}"): PUBLIC,
    ("POST", "/api/cac/v1/suppliers"): "manage_cities",
    ("GET", "/cac/countermeasures"): PUBLIC,
    ("GET", "/cac/countermeasures/{countermeasure_id}"): PUBLIC,
    ("GET", "/cac/suppliers"): PUBLIC,
    # Exposure notification's key server: apps verify a code, then publish with its token.
    ("POST", "/api/v1/exposure/verify"): PUBLIC,
    ("POST", "/api/v1/exposure/publish"): UPLOAD_TOKEN,
    ("GET", "/api/v1/exposure/exports/index.txt"): PUBLIC,
    ("GET", "/api/v1/exposure/exports/keys"): PUBLIC,
    ("GET", "/api/v1/exposure/exports/{region}/{name}.zip"): PUBLIC,
    ("POST", "/api/v1/exposure/venues"): PUBLIC,  # a venue's owner registers; rate limited
    ("GET", "/api/v1/exposure/venues"): "read_cases",
    ("GET", "/api/v1/exposure/venues/{venue_id}"): "read_cases",  # or the venue's own token
    ("POST", "/api/v1/exposure/venues/{venue_id}/end"): "edit_cases",  # or its own token
    ("POST", "/api/v1/exposure/venues/{venue_id}/place"): "edit_cases",
    ("GET", "/venues/{venue_id}/poster"): "read_cases",  # or the venue's own token
    ("POST", "/api/v1/exposure/venue-warnings"): "edit_cases",
    ("GET", "/api/v1/exposure/venue-warnings"): "read_cases",
    ("GET", "/api/v1/exposure/venue-warnings/suggestions"): "read_cases",
    ("POST", "/api/v1/exposure/venue-warnings/{warning_id}/approve"): "approve_warnings",
    ("POST", "/api/v1/exposure/venue-warnings/{warning_id}/reject"): "approve_warnings",
    ("POST", "/api/v1/exposure/venue-warnings/publish"): "publish_data",
    ("GET", "/api/v1/exposure/venue-warnings/index.txt"): PUBLIC,
    ("GET", "/api/v1/exposure/venue-warnings/{name}.zip"): PUBLIC,
}
# FastAPI's own pages.
FRAMEWORK = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


def _routes_of(routes: Sequence[BaseRoute]) -> set[tuple[str, str]]:
    found = set()
    for route in routes:
        if isinstance(route, APIRoute):
            found |= {(m, route.path) for m in route.methods - {"HEAD"}}
        elif hasattr(route, "original_router"):  # an included router (FastAPI >= 0.16x)
            found |= _routes_of(route.original_router.routes)
    return found


def _app_routes(live: LiveService) -> set[tuple[str, str]]:
    return _routes_of(live.app.routes)


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "999999", path)


def test_every_route_is_in_the_matrix(live: LiveService) -> None:
    routes = {r for r in _app_routes(live) if r[1] not in FRAMEWORK}
    missing = sorted(routes - set(ROUTES))
    assert missing == [], "routes without a line in ROUTES"
    gone = sorted(set(ROUTES) - routes)
    assert gone == [], "lines in ROUTES for routes that are gone"


@pytest.mark.parametrize("role", [*STAFF_ROLES, None])
def test_each_role_reaches_exactly_its_routes(live: LiveService, role: str | None) -> None:
    allowed = ROLE_CAPABILITIES[role] if role else frozenset()
    wrong = []
    with live.client(role) as c:
        for (method, path), capability in sorted(ROUTES.items()):
            if path == "/logout":
                continue  # would end the session the next requests use (tokens: harmless)
            r = c.request(method, _concrete(path), json={} if method == "POST" else None)
            may = capability == PUBLIC or capability in allowed
            refused = r.status_code in (401, 403)
            if may == refused:
                wrong.append(f"{method} {path}: {r.status_code} ({capability})")
            if not may:
                refusal = 401 if role is None or capability in CREDENTIALS else 403
                assert r.status_code == refusal, (method, path)
    assert wrong == [], f"role {role or 'public'}"
