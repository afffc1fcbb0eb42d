"""The public dashboard (/public) and open-data page (/public/data) on a live service, SQLite
and PostgreSQL in turn: with nothing published, with figures published by the service (the
page shows exactly the service's figures, and nothing about a person), in Korean and English,
after a correction, and with too short a series for Rt and a forecast."""

from __future__ import annotations

import datetime as dt
import html
import re
from typing import Any

import pandas as pd
import pytest
from markupsafe import escape
from sqlalchemy.orm import Session, sessionmaker
from tests.web.conftest import LiveService, live  # noqa: F401  (the live service fixture)

from epicity.analytics.forecast import MIN_DAYS
from epicity.cases.service import change_status, create_case
from epicity.city.districts import seoul_districts
from epicity.db import session_scope
from epicity.opendata import pages, service
from epicity.opendata.service import FigureRow
from epicity.screening.models import Sample
from epicity.screening.service import create_centre
from epicity.web.i18n import translator

EN, KO = translator("en"), translator("ko")
START = dt.date(2020, 3, 1)
DAYS = 35  # more than the forecast's 28
DISTRICTS = ("Mapo-gu", "Guro-gu", "Gangnam-gu", "Jongno-gu")
NOW = dt.datetime(2020, 4, 10, 1, 0, tzinfo=dt.UTC)
# What identifies a person in the operational data: none of it may reach a public page.
REF, PERSON = "PRIVATE-REF-", 73_100_000


def _seed_cases(session: Session, days: int) -> None:
    """Confirmed cases on `days` days from START in four districts; some released, one died."""
    n = 0
    for i in range(days):
        day = START + dt.timedelta(days=i)
        for k in range(1 + (i * 7) % 5):
            n += 1
            case = create_case(
                session,
                actor="tests",
                status="confirmed",
                external_ref=f"{REF}{n}",
                person_id=PERSON + n,
                age_group=f"{10 * (k % 8)}s",
                province="Seoul",
                district=DISTRICTS[(i + k) % len(DISTRICTS)],
                confirmed_date=day,
            )
            if n % 4 == 0 and i + 10 < days:
                change_status(
                    session,
                    case_id=case.id,
                    to="recovered",
                    actor="tests",
                    on=day + dt.timedelta(days=10),
                    reason="recovered",
                )
            elif n == 7:
                change_status(
                    session,
                    case_id=case.id,
                    to="deceased",
                    actor="tests",
                    on=day + dt.timedelta(days=3),
                    reason="died",
                )


def _seed_tests(session: Session, days: int) -> None:
    """Eight results a day at a centre in Mapo-gu, one or two of them positive."""
    hours = {d: (dt.time(9), dt.time(18)) for d in range(7)}
    centre = create_centre(session, actor="tests", kind="walk_through", name="Mapo centre",
                           district="Mapo-gu", lat=37.56, lon=126.90, lanes=2,
                           minutes_per_test=5, hours=hours)  # fmt: skip
    for i in range(days):
        at = dt.datetime.combine(START + dt.timedelta(days=i), dt.time(3), dt.UTC)
        for k in range(8):
            session.add(
                Sample(barcode=f"B{i:03d}{k}", centre_id=centre.id, person_id=PERSON + 500 + k,
                       arrival="walk_in", status="resulted",
                       result="positive" if k < 1 + i % 2 else "negative", checked_in_by="tests",
                       checked_in_at=at, sampled_at=at, received_at=at, resulted_at=at)
            )  # fmt: skip
    session.flush()


def _publish(sessions: sessionmaker[Session], days: int) -> None:
    with session_scope(sessions) as s:
        _seed_cases(s, days)
        _seed_tests(s, days)
    with session_scope(sessions) as s:
        service.publish(s, as_of=START + dt.timedelta(days=days - 1), actor="tests", now=NOW)


def _value(page: str, element_id: str) -> str:
    """The data-value of the first element with that value inside the element `element_id`."""
    found = re.search(rf'id="{element_id}".*?data-value="([^"]*)"', page, re.S)
    assert found, element_id
    return found.group(1)


def _district_row(page: str, area: str) -> list[str]:
    found = re.search(rf'<tr data-area="{area}">(.*?)</tr>', page, re.S)
    assert found, area
    return [
        html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()
        for cell in re.findall(r"<td[^>]*>(.*?)</td>", found.group(1), re.S)
    ]


def _esc(text: str) -> str:
    """`text` as Jinja writes it into the page."""
    return str(escape(text))


def _num(n: int) -> str:
    return f"{n:,}"


def test_pages_with_nothing_published_say_so(live: LiveService) -> None:  # noqa: F811
    with live.client() as c:
        for lang, t in (("en", EN), ("ko", KO)):
            r = c.get("/public", params={"lang": lang})
            assert r.status_code == 200, r.text
            assert r.headers["content-language"] == lang
            assert _esc(t("dash.empty")) in r.text
            assert 'id="figures"' not in r.text
            data = c.get("/public/data", params={"lang": lang})
            assert data.status_code == 200
            assert _esc(t("data.empty")) in data.text
            assert 'id="licence"' in data.text


def test_dashboard_shows_the_published_figures(live: LiveService) -> None:  # noqa: F811
    _publish(live.app.state.sessions, DAYS)
    with session_scope(live.app.state.sessions) as s:
        city = service.current_figures(s, area="city")
        last = city[-1].day
        latest = {r.area: r for r in service.current_figures(s, start=last, end=last)}
        week = service.current_figures(s, start=last - dt.timedelta(days=6), end=last)
        mapo = service.current_figures(s, area="Mapo-gu")
        publication = service.latest_publication(s)
    assert publication is not None
    assert len(city) == DAYS
    today = city[-1]

    with live.client() as c:
        r = c.get("/public", params={"lang": "en"})
        assert r.status_code == 200, r.text
        page = r.text
        # The headline figures are the service's, for the latest published day.
        assert f"{EN('dash.city')}, {last.isoformat()}" in page
        for element, value in (
            ("fig-confirmed", today.confirmed_new),
            ("fig-deaths", today.deaths_new),
            ("fig-released", today.released_new),
            ("fig-isolation", today.in_isolation),
            ("fig-tests", today.tests_new),
        ):
            assert _value(page, element) == str(value), element
        assert today.tests_new == 8
        assert today.positivity_7d is not None
        assert f"{today.positivity_7d * 100:.1f}%" in page
        assert EN("dash.total", n=_num(today.confirmed_total)) in page
        assert EN("dash.total", n=_num(today.deaths_total)) in page
        assert today.confirmed_total == sum(r.confirmed_new for r in city)
        # Every district, with the service's figures and its rate per 100,000.
        residents = {d.name: d.residents for d in seoul_districts()}
        for area in DISTRICTS:
            row = latest[area]
            week_new = sum(r.confirmed_new for r in week if r.area == area)
            cells = _district_row(page, area)
            assert cells[1:6] == [
                _num(row.confirmed_new),
                _num(week_new),
                f"{week_new * 100 / residents[area]:.1f}",
                _num(row.confirmed_total),
                f"{row.confirmed_total * 100 / residents[area]:.1f}",
            ], area
            assert cells[6:9] == [
                _num(row.deaths_total),
                _num(row.released_total),
                _num(row.in_isolation),
            ]
        assert page.count("<tr data-area=") == 25
        # The charts, map, Rt and forecast, with the ids the browser tests use.
        for element in ('id="figures"', 'id="chart-daily"', 'id="chart-tests"', 'id="map"',
                        'id="rt"', 'id="forecast"', 'id="lang-ko"', 'id="lang-en"',
                        'src="/static/plotly.min.js"', 'id="forecast-data"', 'id="rt-data"'):  # fmt: skip
            assert element in page, element
        analysis = pages.analyse_city(pages.city_incidence(city))
        assert analysis.rt is not None
        assert analysis.forecast is not None
        assert _value(page, "rt-value") == f"{analysis.rt.mean:.2f}"
        assert (
            EN("dash.rt.ci", low=f"{analysis.rt.low:.2f}", high=f"{analysis.rt.high:.2f}") in page
        )
        assert analysis.rt.end == last
        assert EN("dash.published", day=last.isoformat(), at=pages._local(publication.published_at),
                  number=publication.id) in page  # fmt: skip
        assert 'id="corrections"' not in page  # nothing corrected yet
        # Nothing about a person: no case references, person ids or ages.
        for forbidden in (REF, str(PERSON + 1), str(PERSON + 7), "person_id", "external_ref"):
            assert forbidden not in page, forbidden

        # One district: its own figures, and the switch keeps the choice.
        r = c.get("/public", params={"area": "Mapo-gu", "lang": "ko"})
        assert r.status_code == 200
        assert _value(r.text, "fig-confirmed") == str(mapo[-1].confirmed_new)
        assert KO("dash.total", n=_num(mapo[-1].confirmed_total)) in r.text
        assert "마포구, " + last.isoformat() in r.text
        assert 'href="/public?area=Mapo-gu&amp;lang=en"' in r.text
        # Korean texts in Korean, English in English.
        for key in ("dash.title", "dash.confirmed", "dash.rt.title", "dash.map.title"):
            assert _esc(KO(key)) in r.text
            assert KO(key) != EN(key)
            assert _esc(EN(key)) in page
        assert "감염재생산지수" in r.text
        assert "Reproduction number" not in r.text

        data = c.get("/public/data", params={"lang": "en"})
        assert data.status_code == 200
        assert EN("data.published", day=last.isoformat(),
                  at=pages._local(publication.published_at), number=publication.id) in data.text  # fmt: skip
        assert "https://creativecommons.org/licenses/by/4.0/" in data.text
        # Every API link and download on the page answers, the CSV ones as CSV.
        links = sorted(set(re.findall(r'href="(/api/open/v1/[^"]*)"', data.text)))
        assert len(links) >= 12
        for link in links:
            answer = c.get(html.unescape(link))
            assert answer.status_code == 200, link
            if "format=csv" in link:
                assert answer.headers["content-type"].startswith("text/csv"), link
        assert 'id="download-figures-csv"' in data.text
        assert REF not in data.text
        assert "공공 데이터" in c.get("/public/data", params={"lang": "ko"}).text


def test_a_correction_shows_at_once_with_its_history(live: LiveService) -> None:  # noqa: F811
    sessions = live.app.state.sessions
    _publish(sessions, DAYS)
    last = START + dt.timedelta(days=DAYS - 1)
    with live.client() as c:
        before = c.get("/public", params={"lang": "en"}).text
        assert 'id="corrections"' not in before
        # A case confirmed on the last day, reported late: the day's figures are corrected.
        with session_scope(sessions) as s:
            create_case(s, actor="tests", status="confirmed", district="Mapo-gu",
                        confirmed_date=last, external_ref="LATE-1")  # fmt: skip
        with session_scope(sessions) as s:
            service.publish(s, as_of=last, actor="tests", now=NOW + dt.timedelta(hours=2),
                            note="a late report")  # fmt: skip
            city: list[FigureRow] = service.current_figures(s, area="city")
            publication = service.latest_publication(s)
        assert publication is not None
        assert city[-1].revision == 2
        after = c.get("/public", params={"lang": "en"}).text
        assert _value(after, "fig-confirmed") == str(city[-1].confirmed_new)
        assert int(_value(before, "fig-confirmed")) + 1 == city[-1].confirmed_new
        assert 'id="corrections"' in after
        assert 'href="#corrections"' in after
        assert f"revisions?day={last.isoformat()}&amp;area=city" in after
        assert f"no. {publication.id}." in after
        assert "a late report" in after
        assert "LATE-1" not in after


def test_a_short_series_says_why_there_is_no_rt_or_forecast(live: LiveService) -> None:  # noqa: F811
    _publish(live.app.state.sessions, 5)
    with live.client() as c:
        for lang, t in (("en", EN), ("ko", KO)):
            r = c.get("/public", params={"lang": lang})
            assert r.status_code == 200
            assert _esc(t("dash.rt.too_short", days=5, need=8)) in r.text
            assert _esc(t("dash.forecast.too_short", days=5, need=MIN_DAYS)) in r.text
            assert 'id="forecast-data"' not in r.text
            assert 'id="chart-daily"' in r.text


def test_a_bad_area_is_refused_naming_the_field(live: LiveService) -> None:  # noqa: F811
    with live.client() as c:
        r = c.get("/public", params={"area": "Atlantis", "lang": "en"})
        assert r.status_code == 400
        assert "area: unknown area" in r.text
        assert c.get("/public", params={"area": "x" * 41}).status_code == 422


def test_city_incidence_writes_out_days_without_figures() -> None:
    def row(day: dt.date, new: int) -> FigureRow:
        values: dict[str, Any] = dict.fromkeys(service.FIGURE_FIELDS, 0)
        values.update(confirmed_new=new, positivity_7d=None)
        return FigureRow(day=day, area="city", revision=1, published_at=NOW, **values,
                         publication_id=1, note="")  # fmt: skip

    frame = pages.city_incidence([row(START, 3), row(START + dt.timedelta(days=3), 5)])
    assert frame["cases"].tolist() == [3, 0, 0, 5]
    assert frame["date"].iloc[-1] == pd.Timestamp(START + dt.timedelta(days=3))
    assert pages.city_incidence([]).empty


def test_analysis_needs_days_and_cases() -> None:
    days = pd.date_range("2020-03-01", periods=40)
    zeros = pages.analyse_city(pd.DataFrame({"date": days, "cases": [0] * 40}))
    assert zeros.rt is None
    assert zeros.rt_reason == ("dash.rt.no_cases", {})
    assert zeros.forecast is None
    assert zeros.forecast_reason == ("dash.forecast.no_cases", {})
    short = pages.analyse_city(pd.DataFrame({"date": days[:20], "cases": [4] * 20}))
    assert short.rt is not None
    assert short.forecast is None
    assert short.forecast_reason == ("dash.forecast.too_short", {"days": 20, "need": MIN_DAYS})
    full = pages.analyse_city(pd.DataFrame({"date": days, "cases": [4] * 40}))
    assert full.forecast is not None
    assert len(full.forecast) == pages.FORECAST_HORIZON
    assert full.rt is not None
    assert 0.5 < full.rt.mean < 1.5


@pytest.mark.parametrize("area", ["city", "Mapo-gu"])
def test_dashboard_cache_is_keyed_by_publication(area: str) -> None:
    cache = pages.DashboardCache(size=2)
    calls: list[int] = []

    def compute(n: int) -> int:
        calls.append(n)
        return n

    assert cache.get(("page", 1, area), lambda: compute(1)) == 1
    assert cache.get(("page", 1, area), lambda: compute(9)) == 1
    assert cache.get(("page", 2, area), lambda: compute(2)) == 2
    cache.get(("page", 3, area), lambda: compute(3))
    assert ("page", 1, area) not in cache.entries  # bounded
    assert calls == [1, 2, 3]
