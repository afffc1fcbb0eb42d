"""The hotspots console page on a live service (SQLite and PostgreSQL in turn): the scan on
the database's confirmed cases by district, the map, the clusters, bad input, roles."""

from __future__ import annotations

import datetime as dt
import json
import re

import pandas as pd
from tests.web.conftest import LiveService, live  # noqa: F401  (the live service fixture)

from epicity.analytics.scan import district_locations, run_scan
from epicity.analytics.scan_pages import district_counts, hotspot_map
from epicity.db import session_scope

HTML = {"Accept": "text/html"}
PAGE = "/console/analytics/hotspots"
DAY = dt.date(2020, 3, 28)


def seed_outbreak(service: LiveService) -> None:
    """Four weeks of one case a day in each of three districts, then 14 cases in Guro-gu on
    the last two days; a suspected case and a case outside Seoul are left out."""
    from epicity.cases import service as cases

    with session_scope(service.app.state.sessions) as s:
        n = 0

        def add(district: str, day: dt.date | None, status: str = "confirmed") -> None:
            nonlocal n
            n += 1
            cases.create_case(
                s,
                actor="seed",
                status=status,
                external_ref=f"H{n}",
                district=district,
                province="Seoul",
                confirmed_date=day,
            )

        for back in range(28):
            for district in ("Mapo-gu", "Songpa-gu", "Nowon-gu"):
                add(district, DAY - dt.timedelta(days=back))
        for back in (0, 1):
            for _ in range(7):
                add("Guro-gu", DAY - dt.timedelta(days=back))
        add("Mapo-gu", None, status="suspected")
        add("Suwon-si", DAY)


def test_page_scans_the_cases_by_district_and_draws_the_map(live: LiveService) -> None:  # noqa: F811
    seed_outbreak(live)
    with live.client("analyst") as c:
        r = c.get(PAGE, params={"replications": "199", "seed": "4"}, headers=HTML)
        assert r.status_code == 200, r.text
        assert 'value="2020-03-28"' in r.text  # the latest confirmation date by default
        # Guro-gu first; Mapo-gu's steady case a day is also more than its residents explain.
        assert "2 clusters with p" in r.text
        assert 'src="/static/plotly.min.js"' in r.text
        assert "2 cases without a confirmation date or a Seoul district left out" in r.text
        assert "Unit: the case. The database's cases carry no household id" in r.text
        figure = json.loads(
            re.search(r'id="hotspot-data">(.*?)</script>', r.text, re.S).group(1)  # type: ignore[union-attr]
        )
        assert figure["data"][0]["type"] == "choropleth"
        assert len(figure["data"][0]["locations"]) == 25
        assert figure["data"][1]["name"] == "cluster #1"
        assert figure["data"][1]["locations"] == ["Guro-gu"]
        row = re.search(r'<tr class="significant">(.*?)</tr>', r.text, re.S)
        assert row is not None
        assert "<td>Guro-gu</td>" in row.group(1)
        assert "<td>14</td>" in row.group(1)
        # Aggregates only: no case reference reaches the page.
        assert "H1" not in r.text.replace("<h1>", "")
        # Deterministic by seed; a day before Guro-gu's cases has no cluster there.
        assert c.get(PAGE, params={"replications": "199", "seed": "4"}, headers=HTML).text == r.text
        quiet = c.get(PAGE, params={"day": "2020-03-20", "replications": "99"}, headers=HTML)
        assert quiet.status_code == 200
        before = json.loads(
            re.search(r'id="hotspot-data">(.*?)</script>', quiet.text, re.S).group(1)  # type: ignore[union-attr]
        )
        assert all("Guro-gu" not in trace["locations"] for trace in before["data"][1:])


def test_page_refuses_bad_input_naming_the_field(live: LiveService) -> None:  # noqa: F811
    seed_outbreak(live)
    with live.client("analyst") as c:
        for field, value, status in [
            ("day", "2020-13-01", 400),
            ("max_days", "0", 400),
            ("max_days", "many", 400),
            ("replications", "5", 400),
            ("replications", "100000", 400),
            ("seed", "-1", 400),
            ("alpha", "2", 400),
            ("alpha", "nan", 400),
        ]:
            r = c.get(PAGE, params={field: value}, headers=HTML)
            assert r.status_code == status, (field, value)
            assert f"{field} must" in r.text, (field, value)
            assert 'id="hotspot-data"' not in r.text
        r = c.get(PAGE, params={"max_days": "14", "day": "2020-02-01"}, headers=HTML)
        assert r.status_code == 200  # no cases yet on that day: an empty scan, no cluster
        assert "No cluster with p" in r.text


def test_page_without_cases_says_so(live: LiveService) -> None:  # noqa: F811
    with live.client("analyst") as c:
        r = c.get(PAGE, headers=HTML)
        assert r.status_code == 200
        assert "Nothing to scan" in r.text


def test_only_analyst_roles_reach_the_page(live: LiveService) -> None:  # noqa: F811
    with live.client("citizen") as c:
        assert c.get(PAGE, headers=HTML).status_code == 403
    with live.client() as c:
        assert c.get(PAGE).status_code == 401


def test_district_counts_and_map_without_a_service() -> None:
    cases = pd.DataFrame(
        {
            "district": ["Guro-gu", "Guro-gu", "Guro-gu", "Atlantis", "Mapo-gu"],
            "confirmed_date": pd.to_datetime(
                ["2020-03-01", "2020-03-01", "2020-03-02", "2020-03-02", None]
            ),
        }
    )
    counts, excluded = district_counts(cases)
    assert excluded == 2
    assert counts["cases"].tolist() == [2, 1]
    result = run_scan(counts, district_locations(), study_days=7, max_days=2, replications=19)
    fig = hotspot_map(result, 1.0, 2)
    assert [t.name for t in fig.data] == ["observed / expected", "cluster #1"]
    assert list(fig.data[1].locations) == result.clusters.iloc[0]["locations"]
