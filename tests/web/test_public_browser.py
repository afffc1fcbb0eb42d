"""The public site in a real browser (Debian's Chromium through Playwright): the dashboard
and its language switch, on a desktop and a phone-sized screen; the place notices filtered by
district; the countermeasure library searched; a CSV downloaded from the open-data page.
Screenshots as in test_console_browser.py (EPICITY_SCREENSHOTS=1 copies them to
docs/screenshots/)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from tests.notices.conftest import CAFE, PARK, notice, queue
from tests.opendata.test_pages import _publish
from tests.web.conftest import CHROMIUM, VIEWPORT, LiveService, make_live_service
from tests.web.test_console_browser import _screenshot

from epicity.cac import library_service
from epicity.cac import service as cac
from epicity.db import session_scope

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is absent: install Debian's chromium", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")

PHONE = {"width": 375, "height": 812}
NOW = dt.datetime(2020, 4, 10, 1, 0, tzinfo=dt.UTC)  # when the figures are published
VISIT = dt.datetime(2020, 4, 8, 12, 3, tzinfo=dt.UTC)  # the noticed visits: still visible


def _seed_cac(session: Session) -> None:
    """Seoul, approved, with two countermeasures of its own."""
    city = cac.register_city(
        session, name_en="Seoul", name_local="서울", country="KR", population=9_988_000,
        time_zone="Asia/Seoul", contact_email="cac@seoul.invalid", now=NOW,
    )  # fmt: skip
    cac.decide_city(session, city_id=city.id, approve=True, actor="admin", now=NOW)
    for title, category, body in (
        ("Drive-through screening centres", "testing",
         "Samples taken without leaving the car: ten minutes a person, no waiting room."),
        ("Self-isolation safety app", "isolation",
         "People in self-isolation report symptoms twice a day; leaving home alerts an officer."),
    ):  # fmt: skip
        library_service.post_countermeasure(
            session, city_id=city.id, title=title, day=dt.date(2020, 3, 2), category=category,
            language="en", body=body, actor="admin", now=NOW,
        )  # fmt: skip


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    """A live service (SQLite) with 35 days of published figures, two approved place notices
    in two districts, and a CAC city with its countermeasures."""
    db = tmp_path_factory.mktemp("public-db") / "epicity.db"
    for live in make_live_service(f"sqlite:///{db}"):
        sessions = live.app.state.sessions
        with session_scope(sessions) as s:
            queue(s, 1, [notice(CAFE, place_id=12, start=VISIT)], now=VISIT)
            queue(s, 2, [notice(PARK, place_id=30, start=VISIT)], now=VISIT)
            _seed_cac(s)
        _publish(sessions, 35)  # also copies the approved notices
        yield live


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("public-screenshots")


def _page(browser: sync_api.Browser, site: LiveService, viewport: dict[str, int]) -> sync_api.Page:
    context = browser.new_context(viewport=viewport, base_url=site.url, locale="ko-KR")
    context.set_default_timeout(15_000)
    return context.new_page()


def test_dashboard_and_language_switch(
    browser: sync_api.Browser, site: LiveService, shots: Path
) -> None:
    page = _page(browser, site, VIEWPORT)
    page.goto("/public")
    assert page.locator("html").get_attribute("lang") == "ko"  # the browser's language
    assert page.locator("#figures").is_visible()
    page.wait_for_selector("#chart-daily .main-svg")  # Plotly drew the chart
    page.wait_for_selector("#map .main-svg")
    assert page.locator("#rt-value").is_visible()
    assert page.locator("#chart-forecast").is_visible()
    _screenshot(page, shots, "public-dashboard-ko.png")
    page.click("#lang-en")
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en"
    assert "Dashboard" in page.locator("header").inner_text()
    page.goto("/public/notices")  # the choice is remembered
    assert page.locator("html").get_attribute("lang") == "en"
    page.goto("/public")
    page.wait_for_selector("#chart-daily .main-svg")
    _screenshot(page, shots, "public-dashboard-en.png")
    page.context.close()


def test_dashboard_fits_a_phone(browser: sync_api.Browser, site: LiveService, shots: Path) -> None:
    page = _page(browser, site, PHONE)
    page.goto("/public")
    page.wait_for_selector("#chart-daily .main-svg")
    # nothing wider than the screen: the page does not scroll sideways
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], width
    _screenshot(page, shots, "public-dashboard-phone.png")
    page.context.close()


def test_notices_filtered_by_district(
    browser: sync_api.Browser, site: LiveService, shots: Path
) -> None:
    page = _page(browser, site, VIEWPORT)
    as_of = NOW.date().isoformat()  # the day of publication, when both were visible
    page.goto(f"/public/notices?lang=en&as_of={as_of}")
    assert page.locator(".notice-item").count() == 2
    page.select_option("#notice-filters select[name=district]", "Guro-gu")
    page.click("#notice-filters button[type=submit]")
    page.wait_for_load_state()
    items = page.locator(".notice-item")
    assert items.count() == 1
    assert "Guro" in items.first.inner_text()
    assert "district=Guro-gu" in page.url
    _screenshot(page, shots, "public-notices.png")
    page.context.close()


def test_countermeasure_library_search(
    browser: sync_api.Browser, site: LiveService, shots: Path
) -> None:
    page = _page(browser, site, VIEWPORT)
    page.goto("/cac/countermeasures?lang=en")
    assert page.locator(".countermeasure").count() == 2
    page.fill("#library-q", "car")
    page.press("#library-q", "Enter")
    page.wait_for_load_state()
    results = page.locator("#library-results .countermeasure")
    assert results.count() == 1
    assert "Drive-through" in results.first.inner_text()
    _screenshot(page, shots, "cac-library.png")
    page.context.close()


def test_csv_download_from_the_open_data_page(browser: sync_api.Browser, site: LiveService) -> None:
    context = browser.new_context(viewport=VIEWPORT, base_url=site.url, accept_downloads=True)
    page = context.new_page()
    page.goto("/public/data?lang=en")
    with page.expect_download() as info:
        page.click("#download-figures-csv")
    download = info.value
    text = Path(download.path()).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {"day", "area", "confirmed_new"} <= set(rows[0])
    city = [r for r in rows if r["area"] == "city"]
    assert len(city) == 35  # every published day of the city
    context.close()
