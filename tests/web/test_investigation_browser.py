"""The investigation page in a real browser (Debian's Chromium through Playwright): an
investigator runs the investigation and sees the stays on the map and in the table; a health
officer approves the warnings; an investigator is not offered the Approve button."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.tracing.test_investigations import SmallCity, build_small_city
from tests.web.conftest import CHROMIUM, LiveService, make_live_service
from tests.web.test_console_browser import _session

from epicity.cases.service import create_case
from epicity.db import session_scope
from epicity.privacy.service import declare_emergency

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is absent: install Debian's chromium", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveService, int]]:
    """A live service on a small city's store, an emergency in force and one confirmed case."""
    root = tmp_path_factory.mktemp("investigation-browser")
    city: SmallCity = build_small_city(root / "city")
    for live in make_live_service(f"sqlite:///{root / 'epicity.db'}", city.store.path):
        with session_scope(live.app.state.sessions) as s:
            declare_emergency(s, name="COVID-19", actor="admin")
            case_id = create_case(
                s,
                actor="investigator",
                status="confirmed",
                person_id=city.person.person_id,
                confirmed_date=city.person.confirmed_date,
            ).id
        yield live, case_id


def test_run_the_investigation_then_approve_its_warnings(
    browser: sync_api.Browser, traced: tuple[LiveService, int], tmp_path: Path
) -> None:
    live, case_id = traced
    page = _session(browser, live.url, "investigator")
    page.goto(f"/console/cases/{case_id}/investigation")
    page.fill("input[name=purpose]", "contact tracing of the confirmed case")
    page.click("form[action$='/investigation/run'] button[type=submit]")
    page.wait_for_selector("#map .main-svg")  # Plotly drew the map from the local copy
    assert page.locator("#map .scatterlayer .trace").count() >= 2  # districts and stays
    stays = page.locator("table").first.locator("tbody tr")
    assert stays.count() > 0
    assert page.locator("text=Approve all").count() == 0  # not an investigator's decision
    page.screenshot(path=str(tmp_path / "investigation.png"))
    page.context.close()

    officer = _session(browser, live.url, "health_officer")
    officer.goto(f"/console/cases/{case_id}/investigation")
    approve_all = officer.locator("button", has_text="Approve all")
    assert approve_all.count() == 1
    approve_all.click()
    officer.wait_for_load_state()
    assert officer.locator("button", has_text="Approve all").count() == 0
    assert "waiting" not in officer.locator("table").last.inner_text()
    officer.context.close()
