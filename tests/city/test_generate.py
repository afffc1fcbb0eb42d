"""The synthetic city: reproducible, plausible, and records consistent with the ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest

from epicity.city.districts import seoul_districts
from epicity.city.generate import CityConfig, GenerationReport, generate_city
from epicity.records.schema import TABLES_BY_NAME

RECORD_TABLES = ("towers", "merchants", "people", "cases", "gps", "cell", "card", "entries")


def test_writes_documented_tables_with_documented_columns(
    small_city: tuple[Path, GenerationReport],
) -> None:
    out, report = small_city
    for name in RECORD_TABLES:
        schema = pq.read_schema(out / f"{name}.parquet")
        required = [c.name for c in TABLES_BY_NAME[name].columns if c.required]
        assert set(required) <= set(schema.names), name
        assert set(schema.names) <= set(TABLES_BY_NAME[name].column_names), name
        assert report.rows[name] == pq.read_metadata(out / f"{name}.parquet").num_rows
    meta = json.loads((out / "city.json").read_text())
    assert meta["config"]["people"] == 3_000
    assert meta["rows"] == report.rows


def test_same_seed_same_city_other_seed_other_city(tmp_path: Path) -> None:
    cfg = CityConfig(people=800, days=2, seed=5)
    a = generate_city(tmp_path / "a", cfg)
    b = generate_city(tmp_path / "b", cfg)
    generate_city(tmp_path / "c", CityConfig(people=800, days=2, seed=6))
    assert a.rows == b.rows
    for name in ("people", "cell", "gps", "card", "truth/stays"):
        ta = pq.read_table(tmp_path / "a" / f"{name}.parquet")
        assert ta.equals(pq.read_table(tmp_path / "b" / f"{name}.parquet")), name
    assert not pq.read_table(tmp_path / "a" / "cell.parquet").equals(
        pq.read_table(tmp_path / "c" / "cell.parquet")
    )


def test_population_follows_district_shares(
    small_city: tuple[Path, GenerationReport], city_db: duckdb.DuckDBPyConnection
) -> None:
    counts = dict(city_db.execute("SELECT district, count(*) FROM people GROUP BY 1").fetchall())
    districts = seoul_districts()
    assert set(counts) == {d.name for d in districts}
    total_res = sum(d.residents for d in districts)
    for d in districts:
        expected = 3_000 * d.residents / total_res
        # Whole households are placed, so allow a generous binomial band.
        assert abs(counts[d.name] - expected) < 5 * np.sqrt(expected) + 10, d.name


def test_homes_lie_in_their_district(city_db: duckdb.DuckDBPyConnection) -> None:
    import shapely

    polygons = {d.name: d.polygon for d in seoul_districts()}
    rows = city_db.execute("SELECT district, home_lon, home_lat FROM people").fetchall()
    inside = sum(shapely.contains_xy(polygons[d], x, y) for d, x, y in rows)
    assert inside == len(rows)


def test_stays_never_overlap_and_cover_the_night_at_home(
    city_db: duckdb.DuckDBPyConnection,
) -> None:
    overlaps = city_db.execute(
        """SELECT count(*) FROM (
             SELECT person_id, start, lag("end") OVER (PARTITION BY person_id ORDER BY start) AS prev_end
             FROM stays) WHERE start < prev_end"""
    ).fetchone()[0]
    assert overlaps == 0
    # At 04:00 local on a weekday most people are at home.
    at_home = city_db.execute(
        """SELECT avg(CASE WHEN p.kind = 'home' THEN 1 ELSE 0 END) FROM stays s JOIN places p USING (place_id)
           WHERE TIMESTAMPTZ '2020-03-04 04:00:00+09' >= s.start AND TIMESTAMPTZ '2020-03-04 04:00:00+09' < s."end" """
    ).fetchone()[0]
    assert at_home > 0.95


def test_weekday_commute_and_weekend_leisure(city_db: duckdb.DuckDBPyConnection) -> None:
    by_day = dict(
        city_db.execute(
            """SELECT dayofweek(timezone('Asia/Seoul', start)) AS dow, count(*) FILTER (WHERE p.kind = 'office')
               FROM stays s JOIN places p USING (place_id) GROUP BY 1"""
        ).fetchall()
    )
    assert by_day[3] > 4 * by_day[0]  # Wednesday vs Sunday office stays
    # Workers who go to the office on a weekday spend most of the day there.
    hours = city_db.execute(
        """SELECT median(h) FROM (
             SELECT person_id, sum(epoch("end") - epoch(start)) / 3600 AS h FROM stays s JOIN places p USING (place_id)
             WHERE p.kind = 'office' AND dayofweek(timezone('Asia/Seoul', start)) = 3 GROUP BY 1)"""
    ).fetchone()[0]
    assert 7 <= hours <= 11
    clubs = dict(
        city_db.execute(
            """SELECT dayofweek(timezone('Asia/Seoul', start)), count(*) FROM stays s JOIN places p USING (place_id)
               WHERE p.kind = 'club' GROUP BY 1"""
        ).fetchall()
    )
    # Nights out at clubs start on Friday or Saturday (and run past midnight into the next day).
    assert set(clubs) <= {5, 6, 0}
    assert clubs.get(5, 0) + clubs.get(6, 0) > 0


def test_venue_visits_respect_opening_hours(city_db: duckdb.DuckDBPyConnection) -> None:
    rows = city_db.execute(
        """SELECT m.category, m.opens, m.closes,
                  extract(hour FROM timezone('Asia/Seoul', s.start)) * 60 + extract(minute FROM timezone('Asia/Seoul', s.start)) AS m0
           FROM stays s JOIN merchants m ON m.merchant_id = s.place_id
           WHERE timezone('Asia/Seoul', s.start)::TIME > TIME '00:00:00'"""
    ).fetchall()
    bad = 0
    for _category, opens, closes, start_min in rows:
        o = int(opens[:2]) * 60 + int(opens[3:])
        c = int(closes[:2]) * 60 + int(closes[3:])
        if not (o <= start_min <= c or o <= start_min + 1440 <= c):
            bad += 1
    assert bad == 0


def test_card_and_entry_records_happen_during_true_visits(
    city_db: duckdb.DuckDBPyConnection,
) -> None:
    for table in ("card", "entries"):
        total, matched = city_db.execute(
            f"""SELECT count(*), count(*) FILTER (WHERE EXISTS (
                    SELECT 1 FROM stays s WHERE s.person_id = r.person_id AND s.place_id = r.merchant_id
                    AND r.ts >= s.start AND r.ts < s."end"))
                FROM {table} r"""
        ).fetchone()
        assert total > 0, table
        assert matched == total, table
    # Not every visit is paid by card, and only high-risk venues keep visitor logs.
    share = city_db.execute(
        """SELECT count(*) FILTER (WHERE EXISTS (SELECT 1 FROM card c WHERE c.person_id = s.person_id
                                   AND c.merchant_id = s.place_id AND c.ts >= s.start AND c.ts < s."end")) / count(*)
           FROM stays s JOIN merchants m ON m.merchant_id = s.place_id WHERE m.category = 'restaurant'"""
    ).fetchone()[0]
    assert 0.2 < share < 0.8
    logged = {
        c
        for (c,) in city_db.execute(
            "SELECT DISTINCT m.category FROM entries e JOIN merchants m USING (merchant_id)"
        ).fetchall()
    }
    assert logged <= {"club", "karaoke", "gym", "church"}


def test_gps_is_noisy_around_the_truth_with_gaps(city_db: duckdb.DuckDBPyConnection) -> None:
    rows = city_db.execute(
        """SELECT g.accuracy_m, g.lat, g.lon, p.lat, p.lon FROM gps g
           JOIN stays s ON s.person_id = g.person_id AND g.ts >= s.start AND g.ts < s."end"
           JOIN places p USING (place_id)"""
    ).fetchnumpy()
    from epicity.geo import haversine_m

    acc = rows["accuracy_m"]
    err = haversine_m(rows["lat"], rows["lon"], rows["lat_1"], rows["lon_1"])
    assert acc.min() >= 5
    assert acc.max() <= 50
    within = float(np.mean(err <= acc))
    assert 0.6 < within < 0.76  # accuracy is a 68% radius, plus 1% gross outliers
    assert np.mean(err > 100) < 0.03
    users = city_db.execute("SELECT count(DISTINCT person_id) FROM gps").fetchone()[0]
    assert 0.1 * 3_000 < users < 0.35 * 3_000
    # Sampling is irregular and has gaps: some intervals between fixes exceed an hour.
    gaps = city_db.execute(
        """SELECT quantile_cont(d, 0.5), max(d) FROM (SELECT epoch(ts) - epoch(lag(ts) OVER (PARTITION BY person_id ORDER BY ts)) AS d FROM gps)"""
    ).fetchone()
    assert gaps[0] < 3600
    assert gaps[1] > 3 * 3600


def test_cell_records_name_a_tower_in_range_of_the_true_place(
    city_db: duckdb.DuckDBPyConnection,
) -> None:
    rows = city_db.execute(
        """SELECT p.lat, p.lon, t.lat, t.lon, t.range_m FROM cell c
           JOIN towers t USING (tower_id)
           JOIN stays s ON s.person_id = c.person_id AND c.ts >= s.start AND c.ts + INTERVAL 59 SECOND < s."end"
           JOIN places p USING (place_id)"""
    ).fetchnumpy()
    from epicity.geo import haversine_m

    d = haversine_m(rows["lat"], rows["lon"], rows["lat_1"], rows["lon_1"])
    assert np.mean(d <= rows["range_m"]) > 0.97
    coverage = city_db.execute(
        "SELECT count(DISTINCT c.person_id) / (SELECT count(*) FROM people) FROM cell c"
    ).fetchone()[0]
    assert coverage > 0.8  # nearly everyone with a phone (young children have none)
    assert (
        city_db.execute("SELECT count(*) FROM cell WHERE second(ts) <> 0").fetchone()[0] == 0
    )  # minute resolution


def test_outbreak_transmissions_happen_during_true_co_presence(
    small_city: tuple[Path, GenerationReport], city_db: duckdb.DuckDBPyConnection
) -> None:
    _, report = small_city
    assert report.infections > 30
    unexplained = city_db.execute(
        """SELECT count(*) FROM infections i WHERE infector_id IS NOT NULL AND NOT EXISTS (
             SELECT 1 FROM stays a JOIN stays b ON a.place_id = b.place_id
             WHERE a.person_id = i.infector_id AND b.person_id = i.person_id AND a.place_id = i.place_id
               AND i.infected_at >= greatest(a.start, b.start) AND i.infected_at <= least(a."end", b."end"))"""
    ).fetchone()[0]
    assert unexplained == 0
    late_source = city_db.execute(
        """SELECT count(*) FROM infections i JOIN infections s ON s.person_id = i.infector_id
           WHERE s.infected_at >= i.infected_at"""
    ).fetchone()[0]
    assert late_source == 0


def test_cases_are_the_confirmed_infections(
    city_db: duckdb.DuckDBPyConnection, small_city: tuple[Path, GenerationReport]
) -> None:
    _, report = small_city
    assert report.cases > 0
    rows = city_db.execute(
        """SELECT count(*), count(*) FILTER (WHERE i.person_id IS NULL),
                  count(*) FILTER (WHERE c.confirmed_date < c.test_date),
                  count(*) FILTER (WHERE c.symptom_onset < timezone('Asia/Seoul', i.infected_at)::DATE),
                  count(*) FILTER (WHERE c.confirmed_date > DATE '2020-03-08')
           FROM cases c LEFT JOIN infections i USING (person_id)"""
    ).fetchone()
    assert rows[0] == report.cases
    assert rows[1:] == (0, 0, 0, 0)


def test_csv_output_uses_iso_times_with_offset(tmp_path: Path) -> None:
    generate_city(tmp_path, CityConfig(people=300, days=1, seed=2, format="csv"))
    header, first = (tmp_path / "cell.csv").read_text().splitlines()[:2]
    assert header.replace('"', "") == "person_id,ts,tower_id"
    ts = first.split(",")[1].strip('"')
    assert ts.endswith("+09:00")
    assert "T" in ts


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("people", 0, "people"),
        ("days", 0, "days"),
        ("transmission", -1.0, "transmission"),
        ("timezone", "Mars/Base", "timezone"),
    ],
)
def test_config_rejects_bad_values(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CityConfig(**{field: value}).validate()  # type: ignore[arg-type]
