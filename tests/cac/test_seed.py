"""Seeding CAC from the Coronaboard series (real data; skipped without it): Seoul and Korea's
national figures registered, approved and loaded through the checked path, twice without
change, with the source's artefacts left out and named."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from epicity.cac import service
from epicity.cac.models import DailyUpdate
from epicity.cac.seed import KOREA_POPULATION, seed, seoul_population, seoul_updates
from epicity.cli import app

pytestmark = pytest.mark.realdata

NOW = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def test_seed_loads_seoul_and_korea_idempotently(cac_session: Session, real_data: Path) -> None:
    session = cac_session
    first = seed(session, real_data=real_data, now=NOW)
    assert [(r.city.name_en, r.created, r.revised) for r in first] == [
        ("Seoul", 1292, 0),
        ("Republic of Korea (national)", 1319, 0),
    ]
    seoul, korea = (r.city for r in first)
    assert (seoul.status, seoul.kind, korea.kind) == ("approved", "city", "nation")
    assert seoul.population == seoul_population() == 9_988_000
    assert korea.population == KOREA_POPULATION
    second = seed(session, real_data=real_data, now=NOW + dt.timedelta(days=1))
    assert [(r.created, r.revised, r.unchanged) for r in second] == [(0, 0, 1292), (0, 0, 1319)]
    assert service.count_cities(session) == 2

    def day(city_id: int, iso: str) -> DailyUpdate:
        rows = service.list_updates(
            session,
            city_id=city_id,
            start=dt.date.fromisoformat(iso),
            end=dt.date.fromisoformat(iso),
        )
        assert len(rows) == 1
        return rows[0]

    # coronaboard_seoul_daily.csv: 2020-03-01 82 confirmed, 13 released; 03-02 91, 0 deaths
    d = day(seoul.id, "2020-03-02")
    assert (d.confirmed_new, d.confirmed_total, d.deaths_total, d.recovered_total) == (9, 91, 0, 13)
    assert d.in_isolation == 91 - 13 - 0
    assert d.revision == 1
    assert d.source_url == "https://coronaboard.kr/"
    # released drops from 93 to 92 on 2020-03-30: left out and named
    d = day(seoul.id, "2020-03-30")
    assert d.recovered_total is None
    assert "recovered_total 92 in the source left out" in d.notes
    # released is stale after 2022-02-23
    assert day(seoul.id, "2022-02-23").recovered_total == 281356
    assert day(seoul.id, "2022-02-24").recovered_total is None
    # Korea: 2020-03-02 4212 confirmed (686 new), tested 109591 (10880 new)
    k = day(korea.id, "2020-03-02")
    assert (k.confirmed_new, k.confirmed_total, k.deaths_total) == (686, 4212, 23)
    assert (k.tests_new, k.tests_total) == (109591 - 98711, 109591)
    assert day(korea.id, "2021-10-31").tests_total == 15804019
    assert day(korea.id, "2021-11-01").tests_total is None
    # nothing from the 2023-09-01 artefact on
    assert service.list_updates(session, city_id=korea.id, start=dt.date(2023, 9, 1)) == []
    # compared per 100,000: Korea's cumulative on 2020-03-02
    series = service.compare(
        session,
        city_ids=[korea.id],
        metric="confirmed_total",
        start=dt.date(2020, 3, 2),
        end=dt.date(2020, 3, 2),
    )
    assert series[0].points == [(dt.date(2020, 3, 2), pytest.approx(4212 * 1e5 / KOREA_POPULATION))]


def test_seoul_deaths_artefacts_of_2023_are_left_out(real_data: Path) -> None:
    items = {i["date"]: i for i in seoul_updates(real_data)}
    # the source reads 0 on 2023-04-09 and 1 from 2023-08-03 on
    assert "deaths_total" not in items["2023-04-09"]
    assert "deaths_total 0 in the source left out" in items["2023-04-09"]["notes"]
    assert items["2023-04-08"]["deaths_total"] == 6395
    assert "deaths_total" not in items["2023-08-31"]
    totals = [i["deaths_total"] for i in items.values() if "deaths_total" in i]
    assert totals == sorted(totals)


def test_the_seed_command_twice(tmp_path: Path, real_data: Path) -> None:
    db = f"sqlite:///{tmp_path / 'epicity.db'}"
    runner = CliRunner()
    first = runner.invoke(app, ["cac", "seed", "--real-data", str(real_data), "--db", db])
    assert first.exit_code == 0, first.output
    assert "Seoul (city 1, population 9,988,000): 1292 days added" in first.output
    assert "Coronaboard (coronaboard.kr)" in first.output
    again = runner.invoke(app, ["cac", "seed", "--real-data", str(real_data), "--db", db])
    assert again.exit_code == 0
    assert "0 days added, 0 revised, 1292 unchanged" in again.output
    missing = runner.invoke(app, ["cac", "seed", "--real-data", str(tmp_path), "--db", db])
    assert missing.exit_code == 2
    assert "--real-data" in missing.output
