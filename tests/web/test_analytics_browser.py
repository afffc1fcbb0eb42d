"""The analysts' console in a real browser (Debian's Chromium through Playwright): an analyst
logs in, lands on the analytics home, opens the Rt, forecast and hotspot pages over 35 days of
cases, and each draws its figures. Screenshots as in test_console_browser.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.opendata.test_pages import _seed_cases
from tests.web.conftest import CHROMIUM, LiveService, make_live_service
from tests.web.test_console_browser import _screenshot, _session

from epicity.db import session_scope

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is absent: install Debian's chromium", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    """A live service (SQLite) with 35 days of confirmed cases in four districts."""
    db = tmp_path_factory.mktemp("analytics-db") / "epicity.db"
    for live in make_live_service(f"sqlite:///{db}"):
        with session_scope(live.app.state.sessions) as s:
            _seed_cases(s, 35)
        yield live


def test_an_analyst_draws_rt_forecast_and_hotspots(
    browser: sync_api.Browser, service: LiveService, tmp_path: Path
) -> None:
    page = _session(browser, service.url, "analyst")
    page.goto("/")
    assert page.url.endswith("/console/analytics")  # an analyst's home
    page.click("text=Reproduction number")
    page.wait_for_selector("#rt-chart .main-svg")
    page.wait_for_selector("#incidence-chart .main-svg")
    _screenshot(page, tmp_path, "console-analytics-rt.png")
    page.select_option("select[name=district]", "Mapo-gu")
    page.click("form button[type=submit]")
    page.wait_for_selector("#rt-chart .main-svg")
    assert "district=Mapo-gu" in page.url
    page.goto("/console/analytics/forecast")
    page.wait_for_selector("#forecast-chart .main-svg")
    _screenshot(page, tmp_path, "console-analytics-forecast.png")
    page.goto("/console/analytics/hotspots")
    page.wait_for_selector("#hotspot-map .main-svg")
    assert page.locator("#districts").is_visible()
    page.context.close()
