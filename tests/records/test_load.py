"""Successful loads: layout, views, time zones, idempotence, merges and upserts."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from epicity.records.ingest import ingest_directory
from epicity.records.schema import DERIVED_TABLES, TABLES_BY_NAME
from epicity.records.store import LocationStore

from .helpers import CELL, GPS, TOWERS, snapshot, write_city, write_csv, write_parquet

UTC = dt.UTC


def test_layout_manifest_and_views(city: Path, store_path: Path) -> None:
    report = ingest_directory(city, store_path)
    store = LocationStore(store_path)
    assert store.tables() == [
        "towers",
        "merchants",
        "people",
        "gps",
        "cell",
        "card",
        "entries",
        *sorted(DERIVED_TABLES),
    ]
    assert report.table("gps").rows_read == len(GPS)
    assert report.table("gps").rows_added == len(GPS)
    assert report.records == sum(t.rows_read for t in report.tables)
    assert report.records_per_second > 0
    # +09:00 local times: 08:00 and 08:30 on 03-02 in Seoul are 03-01 in UTC.
    assert store.days("gps") == [dt.date(2020, 3, 1), dt.date(2020, 3, 2)]
    for f in store.files("gps"):
        assert f.parent.parent == store_path / "gps"
        assert f.parent.name.startswith("day=2020-03-0")
        assert f.name.startswith("part-")
        assert f.suffix == ".parquet"
    (towers_file,) = store.files("towers")
    assert towers_file.parent == store_path / "towers"
    manifest = json.loads((store_path / "manifest.json").read_text())
    assert manifest["format_version"] == 1
    assert manifest["tables"]["gps"]["rows"] == len(GPS)
    assert store.row_count("gps") == len(GPS)

    con = store.connect()
    assert con.execute("SELECT current_setting('TimeZone')").fetchone() == ("UTC",)
    sql = "SELECT view_name FROM duckdb_views() WHERE NOT internal"
    views = {r[0] for r in con.execute(sql).fetchall()}
    assert views == set(store.tables())
    cols = [r[0] for r in con.execute("DESCRIBE gps").fetchall()]
    assert cols == list(TABLES_BY_NAME["gps"].column_names)  # no `day` column
    types = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE gps)").fetchall())
    assert types == {
        "person_id": "BIGINT",
        "ts": "TIMESTAMP WITH TIME ZONE",
        "lat": "DOUBLE",
        "lon": "DOUBLE",
        "accuracy_m": "DOUBLE",
    }
    first = con.execute("SELECT ts FROM gps ORDER BY ts LIMIT 1").fetchone()
    assert first == (dt.datetime(2020, 3, 1, 23, 0, tzinfo=UTC),)
    by_day = con.execute("SELECT ts::DATE, count(*) FROM gps GROUP BY 1 ORDER BY 1").fetchall()
    assert by_day == [(dt.date(2020, 3, 1), 2), (dt.date(2020, 3, 2), 3)]
    merchants = con.execute("SELECT closes, indoor FROM merchants ORDER BY merchant_id").fetchall()
    assert merchants == [("22:00", True), ("29:30", True)]


def test_day_files_sorted_by_person_then_time(tmp_path: Path, store_path: Path) -> None:
    rows = [
        {"person_id": p, "ts": f"2020-03-0{d}T{h:02d}:00:00Z", "tower_id": 1 + (p + h) % 3}
        for h in (5, 1, 3)
        for p in (3, 1, 2)
        for d in (2, 1)
    ]
    write_csv(tmp_path, "towers", TOWERS)
    write_csv(tmp_path, "cell", rows)
    ingest_directory(tmp_path, store_path)
    store = LocationStore(store_path)
    for f in store.files("cell"):
        t = pq.read_table(f)
        keys = list(zip(t["person_id"].to_pylist(), t["ts"].to_pylist(), strict=True))
        assert keys == sorted(keys)
        assert t.schema.names == ["person_id", "ts", "tower_id"]


def test_reingest_same_data_changes_nothing(city: Path, store_path: Path) -> None:
    ingest_directory(city, store_path)
    before = snapshot(store_path)
    report = ingest_directory(city, store_path)
    assert all(t.rows_added == 0 for t in report.tables)
    assert snapshot(store_path) == before


def test_same_data_as_csv_then_parquet(tmp_path: Path, store_path: Path) -> None:
    csv_dir = write_city(tmp_path / "csv", ["towers", "cell", "gps"])
    ingest_directory(csv_dir, store_path)
    before = snapshot(store_path)
    pq_dir = tmp_path / "pq"
    # Same instants: towers as-is, cell as epoch seconds, gps as timestamps in Seoul time.
    con = LocationStore(store_path).connect()
    for name in ("towers", "cell", "gps"):
        table = con.sql(f"SELECT * FROM {name}").to_arrow_table()
        if name == "cell":
            secs = pa.compute.divide(table["ts"].cast(pa.int64()), 1_000_000)
            table = table.set_column(1, "ts", secs)
        if name == "gps":
            table = table.set_column(1, "ts", table["ts"].cast(pa.timestamp("ms", "Asia/Seoul")))
        pq_dir.mkdir(exist_ok=True)
        pq.write_table(table, pq_dir / f"{name}.parquet")
    report = ingest_directory(pq_dir, store_path)
    assert all(t.rows_added == 0 for t in report.tables)
    assert snapshot(store_path) == before


def test_parquet_epoch_seconds_and_offsets(tmp_path: Path, store_path: Path) -> None:
    write_parquet(tmp_path, "towers", {k: [r[k] for r in TOWERS] for k in TOWERS[0]})
    write_parquet(
        tmp_path,
        "cell",
        {"person_id": [1, 1], "ts": [1583020800, 1583107199], "tower_id": [1, 2]},
    )
    ingest_directory(tmp_path, store_path)
    store = LocationStore(store_path)
    con = store.connect()
    assert con.execute("SELECT ts FROM cell ORDER BY ts").fetchall() == [
        (dt.datetime(2020, 3, 1, tzinfo=UTC),),
        (dt.datetime(2020, 3, 1, 23, 59, 59, tzinfo=UTC),),
    ]
    assert store.days("cell") == [dt.date(2020, 3, 1)]


def test_incremental_load_keeps_untouched_days(tmp_path: Path, store_path: Path) -> None:
    first = write_city(tmp_path / "a", ["towers", "cell"])
    ingest_directory(first, store_path)
    store = LocationStore(store_path)
    old_files = {f.parent.name: f for f in store.files("cell")}
    assert set(old_files) == {"day=2020-03-01", "day=2020-03-02"}
    # A new day, plus one new row and one repeated row on an existing day.
    more = [
        CELL[0],
        {"person_id": 3, "ts": "2020-03-02T12:00:00+09:00", "tower_id": 2},
        {"person_id": 3, "ts": "2020-03-05T12:00:00+09:00", "tower_id": 3},
    ]
    write_csv(tmp_path / "b", "cell", more)
    report = ingest_directory(tmp_path / "b", store_path)
    assert report.table("cell").rows_added == 2
    assert report.table("cell").rows_total == len(CELL) + 2
    store.reload()
    new_files = {f.parent.name: f for f in store.files("cell")}
    assert new_files["day=2020-03-01"] == old_files["day=2020-03-01"]  # same file kept
    assert new_files["day=2020-03-02"] != old_files["day=2020-03-02"]  # merged
    assert not old_files["day=2020-03-02"].exists()  # replaced file removed
    assert "day=2020-03-05" in new_files


def test_duplicates_within_input_are_dropped(tmp_path: Path, store_path: Path) -> None:
    rows = [*GPS, GPS[0], {**GPS[1], "accuracy_m": 99}]
    write_csv(tmp_path, "gps", rows)
    report = ingest_directory(tmp_path, store_path)
    assert report.table("gps").rows_read == len(rows)
    assert report.table("gps").rows_total == len(GPS)
    con = LocationStore(store_path).connect()
    # The first occurrence in file order wins.
    assert con.execute("SELECT max(accuracy_m) FROM gps").fetchone() == (20.0,)


def test_stored_row_wins_over_conflicting_reload(tmp_path: Path, store_path: Path) -> None:
    write_csv(tmp_path / "a", "gps", GPS)
    ingest_directory(tmp_path / "a", store_path)
    write_csv(tmp_path / "b", "gps", [{**GPS[0], "accuracy_m": 99}])
    report = ingest_directory(tmp_path / "b", store_path)
    assert report.table("gps").rows_added == 0
    con = LocationStore(store_path).connect()
    assert con.execute("SELECT max(accuracy_m) FROM gps").fetchone() == (20.0,)


def test_reference_upsert_and_store_references(tmp_path: Path, store_path: Path) -> None:
    write_csv(tmp_path / "a", "towers", TOWERS)
    ingest_directory(tmp_path / "a", store_path)
    moved = {**TOWERS[0], "lat": 37.45}
    new = {"tower_id": 4, "lat": 37.4, "lon": 127.1, "range_m": 300}
    write_csv(tmp_path / "b", "towers", [moved, new])
    # cell rows may refer to towers from the store (1) and from this load (4)
    write_csv(
        tmp_path / "b",
        "cell",
        [
            {"person_id": 1, "ts": "2020-03-02T08:05:00+09:00", "tower_id": 1},
            {"person_id": 1, "ts": "2020-03-02T08:06:00+09:00", "tower_id": 4},
        ],
    )
    report = ingest_directory(tmp_path / "b", store_path)
    assert report.table("towers").rows_added == 1
    assert report.table("towers").rows_total == 4
    con = LocationStore(store_path).connect()
    assert con.execute("SELECT lat FROM towers WHERE tower_id = 1").fetchone() == (37.45,)
    # only cell, towers from the store
    shutil.rmtree(tmp_path / "b")
    write_csv(tmp_path / "c", "cell", [{**CELL[0], "tower_id": 3}])
    assert ingest_directory(tmp_path / "c", store_path).table("cell").rows_total == 3


def test_optional_columns_may_be_absent_and_extra_columns_ignored(
    tmp_path: Path, store_path: Path
) -> None:
    write_csv(
        tmp_path,
        "merchants",
        [{"merchant_id": 1, "name": "A", "category": "cafe", "lat": 37, "lon": 127,
          "indoor": "false", "note": "ignored"}],
    )  # fmt: skip
    ingest_directory(tmp_path, store_path)
    con = LocationStore(store_path).connect()
    row = con.execute("SELECT * FROM merchants").fetchone()
    assert row == (1, "A", "cafe", 37.0, 127.0, False, None, None, None)


@st.composite
def _gps_rows(draw: st.DrawFn) -> list[dict[str, object]]:
    n = draw(st.integers(min_value=1, max_value=60))
    base = dt.datetime(2020, 3, 1, tzinfo=UTC)
    rows = []
    for _ in range(n):
        offset = draw(st.integers(min_value=-12, max_value=14))
        tz = dt.timezone(dt.timedelta(hours=offset))
        when = base + dt.timedelta(seconds=draw(st.integers(0, 3 * 86400)))
        rows.append(
            {
                "person_id": draw(st.integers(0, 5)),
                "ts": when.astimezone(tz).isoformat(),
                "lat": draw(st.floats(-90, 90, allow_nan=False)),
                "lon": draw(st.floats(-180, 180, allow_nan=False)),
                "accuracy_m": draw(st.floats(0, 10_000, allow_nan=False)),
            }
        )
    return rows


@settings(max_examples=20, deadline=None)
@given(rows=_gps_rows(), split=st.integers(0, 60))
def test_random_rows_round_trip(
    tmp_path_factory: pytest.TempPathFactory, rows: list[dict[str, object]], split: int
) -> None:
    store_path = tmp_path_factory.mktemp("store")
    a, b = tmp_path_factory.mktemp("a"), tmp_path_factory.mktemp("b")
    write_csv(a, "gps", rows[:split] or rows)
    write_csv(b, "gps", rows)
    ingest_directory(a, store_path)
    ingest_directory(b, store_path)
    expected: dict[tuple[object, dt.datetime], tuple[object, ...]] = {}
    for r in rows[:split] or rows:
        key = (r["person_id"], dt.datetime.fromisoformat(str(r["ts"])))
        expected.setdefault(key, (r["lat"], r["lon"], r["accuracy_m"]))
    for r in rows:
        key = (r["person_id"], dt.datetime.fromisoformat(str(r["ts"])))
        expected.setdefault(key, (r["lat"], r["lon"], r["accuracy_m"]))
    store = LocationStore(store_path)
    con = store.connect()
    got = {
        (p, ts): (lat, lon, acc)
        for p, ts, lat, lon, acc in con.execute("SELECT * FROM gps").fetchall()
    }
    assert got == expected
    assert store.row_count("gps") == len(expected)
    before = snapshot(store_path)
    report = ingest_directory(b, store_path)
    assert report.table("gps").rows_added == 0
    assert snapshot(store_path) == before


@pytest.mark.parametrize("duplicate_at", [None, 0, 777, 2999])
def test_sorted_parquet_input(tmp_path: Path, store_path: Path, duplicate_at: int | None) -> None:
    """Input already sorted by (person, ts): the fast path; a repeated row takes the slow one."""
    n = 3000
    person = [i // 300 for i in range(n)]
    ts = [1583020800 + (i % 300) * 900 for i in range(n)]  # 300 fixes per person, 3+ days
    acc = [float(i % 50) for i in range(n)]
    if duplicate_at is not None:
        j = duplicate_at
        person.insert(j + 1, person[j])
        ts.insert(j + 1, ts[j])
        acc.insert(j + 1, 999.0)
    m = len(person)
    write_parquet(
        tmp_path,
        "gps",
        {"person_id": person, "ts": ts, "lat": [37.5] * m, "lon": [127.0] * m, "accuracy_m": acc},
    )
    report = ingest_directory(tmp_path, store_path)
    assert report.table("gps").rows_total == n
    store = LocationStore(store_path)
    assert len(store.days("gps")) == 4
    for f in store.files("gps"):
        t = pq.read_table(f)
        keys = list(zip(t["person_id"].to_pylist(), t["ts"].to_pylist(), strict=True))
        assert keys == sorted(set(keys))
    con = store.connect()
    assert con.execute("SELECT max(accuracy_m) FROM gps").fetchone() == (49.0,)
