"""The isolation caseload page in Chromium (Debian's, driven by Playwright): an officer sees
the person with an alert first and acknowledges it through the page's form."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.web.conftest import CITIZEN_PERSON_ID, PASSWORD, VIEWPORT, LiveService, make_live_service

from epicity.db import utcnow
from epicity.isolation.service import SEOUL

HOME = {"lat": 37.5665, "lon": 126.978, "radius_m": 100}


@pytest.fixture
def service(tmp_path: Path) -> Iterator[LiveService]:
    """A live service on SQLite with three people isolating, one of them feverish."""
    for live in make_live_service(f"sqlite:///{tmp_path / 'epicity.db'}"):
        end = (utcnow().astimezone(SEOUL).date() + dt.timedelta(days=5)).isoformat()
        with live.client("health_officer") as o, live.client("citizen") as c:
            for person in (6001, CITIZEN_PERSON_ID, 6002):
                body = {"person_id": person, "end_date": end, "geofence": HOME}
                o.post("/api/v1/isolation/registrations", json=body).raise_for_status()
            c.post("/api/v1/isolation/me/checkins", json={"temperature_c": 38.6}).raise_for_status()
        yield live


def test_an_officer_acknowledges_an_alert_on_the_caseload_page(
    browser: Any, service: LiveService
) -> None:
    context = browser.new_context(viewport=VIEWPORT, base_url=service.url)
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        page.goto("/console/isolation")
        assert "/login" in page.url
        page.fill("input[name=username]", "health_officer")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.goto("/console/isolation")
        rows = page.locator("#caseload tbody tr")
        assert rows.count() == 3
        first = rows.nth(0)
        assert first.locator("td").nth(1).inner_text() == str(CITIZEN_PERSON_ID)
        assert "38.6" in first.locator("td.temperature").inner_text()
        assert "symptoms worse" in first.inner_text()
        first.locator("input[name=note]").fill("called: resting, will get tested")
        first.locator("button", has_text="Acknowledge").click()
        page.wait_for_load_state()
        assert "Alert acknowledged" in page.locator("[role=status]").inner_text()
        assert page.locator("ul.alerts").count() == 0
        # Still first: fever ranks above the people without symptoms.
        assert page.locator("#caseload tbody tr").nth(0).locator("td.fever").count() == 1
    finally:
        context.close()
