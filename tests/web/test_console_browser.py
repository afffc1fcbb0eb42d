"""The console in a real browser: Debian's Chromium driven by Playwright (never a downloaded
browser) through the main flows, with screenshots of the main pages.

The screenshots go to a pytest tmp dir; with EPICITY_SCREENSHOTS=1 they are also copied to
docs/screenshots/ for the README (1280x800 viewport), so an ordinary run leaves the tree clean. One service (SQLite) and one browser serve the whole module; the HTTP
tests in test_console_pages.py cover both database backends.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.web.conftest import (
    CHROMIUM,
    PASSWORD,
    VIEWPORT,
    LiveService,
    Seeded,
    make_live_service,
    seed_cases,
)

DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} is absent: install Debian's chromium package to run the browser tests",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveService, Seeded]]:
    """One live service on a SQLite file with the seeded cases, for the whole module."""
    db = tmp_path_factory.mktemp("console-db") / "epicity.db"
    for live in make_live_service(f"sqlite:///{db}"):
        yield live, seed_cases(live.app)


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where this run's screenshots go (then copied to docs/screenshots/)."""
    return tmp_path_factory.mktemp("screenshots")


def _screenshot(page: sync_api.Page, shots: Path, name: str) -> None:
    path = shots / name
    page.screenshot(path=str(path))
    assert path.stat().st_size > 10_000  # a rendered page, not a blank one
    if os.environ.get("EPICITY_SCREENSHOTS") == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_SCREENSHOTS / name)


def _session(browser: sync_api.Browser, url: str, role: str) -> sync_api.Page:
    """A fresh browser context, logged in as `role` through the login form."""
    context = browser.new_context(viewport=VIEWPORT, base_url=url)
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto("/console/cases")
    assert "/login" in page.url  # sent to log in first
    page.fill("input[name=username]", role)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return page


@pytest.fixture(scope="module")
def investigator(
    browser: sync_api.Browser, service: tuple[LiveService, Seeded]
) -> Iterator[sync_api.Page]:
    """A page logged in as the investigator (shared by the module's flows)."""
    page = _session(browser, service[0].url, "investigator")
    yield page
    page.context.close()


def test_login_and_filter_the_case_list(
    investigator: sync_api.Page, service: tuple[LiveService, Seeded], shots: Path
) -> None:
    page = investigator
    assert page.url.endswith("/console/cases")  # back where the login was asked for
    rows = page.locator("#cases tbody tr")
    assert rows.count() == 6
    _screenshot(page, shots, "console-cases.png")
    page.select_option("select[name=status]", "suspected")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/console/cases?status=suspected*")
    assert rows.count() == 1
    assert "epicity P5" in rows.first.inner_text()


def test_open_a_case_and_change_its_status(
    investigator: sync_api.Page, service: tuple[LiveService, Seeded], shots: Path
) -> None:
    page = investigator
    p1 = service[1].cases["P1"]
    page.goto("/console/cases")
    page.click(f"#cases a[href='/console/cases/{p1}']")
    page.wait_for_url(f"**/console/cases/{p1}")
    assert "Case" in page.inner_text("h1")
    page.select_option("#status-form select[name=to]", "isolated")
    page.fill("#status-form input[name=on]", "2020-03-02")
    page.fill("#status-form textarea[name=reason]", "isolation order issued")
    page.click("#status-form button[type=submit]")
    page.wait_for_url(f"**/console/cases/{p1}?notice=status*")
    history = page.inner_text("#history table")
    assert "isolation order issued" in history
    assert "2020-03-02" in history
    assert "isolated" in page.inner_text("h1")
    page.goto(f"/console/cases/{p1}")  # from the top, for the picture
    _screenshot(page, shots, "console-case.png")


def test_an_illegal_change_is_refused_on_the_page(
    investigator: sync_api.Page, service: tuple[LiveService, Seeded]
) -> None:
    # Two tabs on P2: the second still offers 'isolated' after the first recorded recovery.
    p2 = service[1].cases["P2"]
    first, stale = investigator, investigator.context.new_page()
    try:
        stale.goto(f"/console/cases/{p2}")
        first.goto(f"/console/cases/{p2}")
        first.select_option("#status-form select[name=to]", "recovered")
        first.fill("#status-form textarea[name=reason]", "released after two negative tests")
        first.click("#status-form button[type=submit]")
        first.wait_for_url("**?notice=status*")
        stale.select_option("#status-form select[name=to]", "isolated")
        stale.fill("#status-form textarea[name=reason]", "late isolation order")
        with stale.expect_navigation() as nav:
            stale.click("#status-form button[type=submit]")
        response = nav.value
        assert response is not None
        assert response.status == 400
        error = stale.inner_text("#error")
        assert "cannot go from 'recovered' to 'isolated'" in error
        assert stale.locator("#status-form").count() == 0  # recovered is final: no form
    finally:
        stale.close()


def test_update_a_contacts_follow_up(
    investigator: sync_api.Page, service: tuple[LiveService, Seeded]
) -> None:
    page = investigator
    p1, contact = service[1].cases["P1"], service[1].contacts["KR-55"]
    page.goto(f"/console/cases/{p1}")
    row = page.locator(f"#contact-{contact}")
    assert row.locator(".follow-up").inner_text() == "none"
    row.locator("select[name=to]").select_option("in_isolation")
    row.locator("input[name=note]").fill("home isolation")
    row.locator("button[type=submit]").click()
    page.wait_for_url("**?notice=follow_up*")
    assert page.locator(f"#contact-{contact} .follow-up").inner_text() == "in isolation"
    assert "home isolation" in page.locator(f"#contact-{contact}").inner_text()


def test_cluster_page_draws_the_transmission_graph(
    investigator: sync_api.Page, service: tuple[LiveService, Seeded], shots: Path
) -> None:
    page = investigator
    page.goto("/console/clusters")
    page.click("#clusters a:text('Test call centre')")
    page.wait_for_url(f"**/console/clusters/{service[1].cluster_id}")
    page.wait_for_selector("#graph .main-svg")
    # Five cases (four members and one linked from outside) and four link midpoints.
    assert page.locator("#graph .scatterlayer .point").count() == 9
    assert page.locator("#graph .annotation").count() == 4  # the arrows
    _screenshot(page, shots, "console-cluster.png")


def test_admin_sees_the_audit_log_intact(
    browser: sync_api.Browser, service: tuple[LiveService, Seeded], shots: Path
) -> None:
    page = _session(browser, service[0].url, "admin")
    try:
        page.goto("/console/audit")
        assert "intact" in page.inner_text("#chain")
        assert page.locator("#audit tbody tr").count() >= 2
        _screenshot(page, shots, "console-audit.png")
    finally:
        page.context.close()


def test_analyst_is_refused_the_case_list(
    browser: sync_api.Browser, service: tuple[LiveService, Seeded]
) -> None:
    page = _session(browser, service[0].url, "analyst")
    try:
        response = page.goto("/console/cases")
        assert response is not None
        assert response.status == 403
    finally:
        page.context.close()
