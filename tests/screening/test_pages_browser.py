"""The screening console in a real browser (Debian's Chromium through Playwright): an
investigator sees the centres with today's queue, the lab's batches with their capacity gain
and the turnaround against 6 hours, then opens a centre's page with its queue."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.web.conftest import CHROMIUM, LiveService, make_live_service
from tests.web.conftest import browser as browser
from tests.web.test_console_browser import _session

from epicity.db import session_scope, utcnow
from epicity.screening import service as sv

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is absent: install Debian's chromium", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")

ALL_DAY = {d: (dt.time(0), dt.time(23, 59)) for d in range(7)}


@pytest.fixture(scope="module")
def screening(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveService, int]]:
    """A live service with a centre, two people waiting and a pooled batch resulted."""
    db = tmp_path_factory.mktemp("screening-browser") / "epicity.db"
    for live in make_live_service(f"sqlite:///{db}"):
        now = utcnow()
        with session_scope(live.app.state.sessions) as s:
            c = sv.create_centre(
                s, actor="seed", kind="drive_through", name="Goyang drive-through",
                district="Mapo-gu", lat=37.56, lon=126.90, lanes=3, minutes_per_test=6,
                hours=ALL_DAY, now=now - dt.timedelta(hours=3),
            )  # fmt: skip
            codes = []
            for person in range(1, 5):
                sample = sv.check_in(
                    s, centre_id=c.id, actor="seed", person_id=person,
                    now=now - dt.timedelta(hours=2),
                )  # fmt: skip
                sv.collect_sample(s, barcode=sample.barcode, now=now - dt.timedelta(hours=2))
                codes.append(sample.barcode)
            batch = sv.create_batch(
                s, actor="seed", lab="Seoul lab 1", barcodes=codes, pool_size=4,
                now=now - dt.timedelta(hours=1),
            )  # fmt: skip
            sv.record_pool_result(
                s, batch_id=batch.id, pool_number=1, result="negative", actor="seed", now=now
            )
            for person in (5, 6):
                sv.check_in(
                    s, centre_id=c.id, actor="seed", person_id=person, barcode=f"Q-00000{person}"
                )
            centre_id = c.id
        yield live, centre_id


def test_the_screening_page_and_a_centre(
    browser: sync_api.Browser,
    screening: tuple[LiveService, int],
    tmp_path: Path,
) -> None:
    live, centre_id = screening
    page = _session(browser, live.url, "investigator")
    page.click("header >> text=Screening")
    assert page.url.endswith("/console/screening")
    row = page.locator("#centres tbody tr", has_text="Goyang drive-through")
    assert row.locator("td").nth(3).inner_text() == "open"
    assert row.locator("td").nth(4).inner_text() == "2"  # waiting
    assert row.locator("td").nth(5).inner_text() == "4 min"  # 2 x 6 min / 3 lanes
    batch = page.locator("#batches tbody tr").first
    assert "4.00×" in batch.inner_text()  # four samples, one test
    turnaround = page.locator("#turnaround tbody tr").first
    assert "100%" in turnaround.inner_text()
    assert turnaround.get_attribute("class") == "meets"
    page.screenshot(path=str(tmp_path / "screening.png"))
    page.click("#centres >> text=Goyang drive-through")
    assert page.url.endswith(f"/console/screening/centres/{centre_id}")
    assert page.locator("#queue tbody tr").count() == 2
    assert "Q-000005" in page.locator("#queue").inner_text()
    assert "2 waiting" in page.locator("#queue-summary").inner_text()
    page.context.close()
