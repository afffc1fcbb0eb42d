"""Ingest on Spark stores what the DuckDB ingest stores, and rejects what it rejects, alike.

A generated city (300 people, 2 days, Parquet) is loaded by both engines once per module; the
stores are compared day by day (rows, files, column names and Arrow types, values in file
order). Then on Spark: part of the city again as CSV (nothing changes), an overlapping load with
duplicate keys read in many splits, Parquet types Spark reads otherwise, bad inputs (same
message, store byte for byte unchanged) and the CLI.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import typer
from tests.records.helpers import CELL, GPS, snapshot, write_city, write_csv, write_parquet
from typer.testing import CliRunner

from epicity.city.generate import CityConfig, generate_city
from epicity.records import ingest_spark
from epicity.records.cli import ingest
from epicity.records.ingest import IngestError, IngestReport, ingest_directory
from epicity.records.ingest_spark import ingest_directory_spark
from epicity.records.schema import TABLES_BY_NAME
from epicity.records.store import LocationStore

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

RECORDS = ("gps", "cell", "card", "entries")
Format = Literal["parquet", "csv"]


def _city(directory: Path, fmt: Format) -> Path:
    generate_city(directory, CityConfig(people=300, days=2, seed=23, format=fmt))
    return directory


Loaded = tuple[Path, Path, IngestReport, IngestReport]  # DuckDB's store, Spark's, reports


@pytest.fixture(scope="module")
def loaded(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    """The city (Parquet) loaded by DuckDB and by Spark, once per module (no index: the CLI
    test builds one)."""
    base = tmp_path_factory.mktemp("loaded")
    city = _city(base / "city", "parquet")
    duck = ingest_directory(city, base / "duckdb", index=False)
    on_spark = ingest_directory_spark(city, base / "spark", spark=spark, index=False)
    return base / "duckdb", base / "spark", duck, on_spark


def _assert_same_store(
    a: Path, b: Path, tables: tuple[str, ...] | None = None, *, files_per_day: bool = True
) -> None:
    """Same tables and days, rows per day and, with `files_per_day`, per file; column names
    and types; each day's values in file order (files of a day in key order), and every file
    of `b` sorted by the table's key, a person's day in one file."""
    left, right = LocationStore(a), LocationStore(b)
    assert left.tables() == right.tables()
    for name in tables or tuple(left.tables()):
        mine, theirs = _by_day(left, name), _by_day(right, name)
        assert [(d, sum(t.num_rows for t in ts)) for d, ts in mine.items()] == [
            (d, sum(t.num_rows for t in ts)) for d, ts in theirs.items()
        ], name
        for day, files in theirs.items():
            if files_per_day:
                assert [t.num_rows for t in files] == [t.num_rows for t in mine[day]]
            tx, ty = pa.concat_tables(mine[day]), pa.concat_tables(files)
            # Names, order and types; not the REQUIRED flag, which DuckDB sets from its
            # statistics (and Spark's writer from the schema).
            assert [(f.name, f.type) for f in tx.schema] == [(f.name, f.type) for f in ty.schema]
            for x, y in zip(tx.columns, ty.columns, strict=True):
                assert x.equals(y), (name, day)
            if name in RECORDS:
                for t in files:
                    _assert_sorted_by_key(t, TABLES_BY_NAME[name].key)
                people = [set(t.column("person_id").to_pylist()) for t in files]
                assert sum(map(len, people)) == len(set().union(*people))


def _by_day(store: LocationStore, table: str) -> dict[dt.date | None, list[pa.Table]]:
    """A table's files per day, each day's in the order of their first row's key."""
    out: dict[dt.date | None, list[pa.Table]] = {}
    for f in store.stored_files(table):
        out.setdefault(f.day, []).append(pq.read_table(store.path / f.path))
    key = TABLES_BY_NAME[table].key if table in TABLES_BY_NAME else ()
    for files in out.values():
        files.sort(key=lambda t: tuple(t.slice(0, 1).select(list(key)).to_pylist()[0].values()))
    return out


def _assert_sorted_by_key(table: pa.Table, key: tuple[str, ...]) -> None:
    rows = table.select(list(key)).to_pylist()
    keys = [tuple(r.values()) for r in rows]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)


def _counts(report: IngestReport) -> list[tuple[str, str, int, int, int]]:
    return [(t.table, t.file, t.rows_read, t.rows_added, t.rows_total) for t in report.tables]


def test_same_store_and_report_as_duckdb(loaded: Loaded) -> None:
    duck_store, spark_store, duck, on_spark = loaded
    _assert_same_store(duck_store, spark_store)
    assert _counts(on_spark) == _counts(duck)
    assert {t.table for t in on_spark.tables} >= set(RECORDS)
    assert all(t.rows_added > 0 for t in on_spark.tables if t.table in ("gps", "cell", "card"))
    for f in LocationStore(spark_store).files("gps"):
        assert f.parent.name.startswith("day=")
        assert f.name.startswith("part-")
        assert f.suffix == ".parquet"
        assert "day" not in pq.read_schema(f).names


def test_reload_as_csv_changes_nothing(loaded: Loaded, spark: SparkSession, tmp_path: Path) -> None:
    """Part of the city again, as CSV (local times with offsets): Spark parses it to the same
    keys and the store stays byte for byte as it was (DuckDB does the same)."""
    _, spark_store, _, _ = loaded
    store = tmp_path / "store"
    shutil.copytree(spark_store, store)
    before = snapshot(store)
    city = _city(tmp_path / "city", "csv")
    again = tmp_path / "again"  # two record tables (their keys hold a place and an amount)
    again.mkdir()
    for name in ("towers", "merchants", "cell", "card"):
        shutil.copy(city / f"{name}.csv", again)
    report = ingest_directory_spark(again, store, spark=spark, index=False)
    assert [t.table for t in report.tables if t.rows_read] == [
        "towers",
        "merchants",
        "cell",
        "card",
    ]
    assert all(t.rows_added == 0 for t in report.tables)
    assert snapshot(store) == before


@pytest.fixture
def small_splits(spark: SparkSession) -> Iterator[None]:
    """Spark reads files in 4 kB splits, so one file's rows come from many tasks."""
    key = "spark.sql.files.maxPartitionBytes"
    old = str(spark.conf.get(key))
    spark.conf.set(key, "4096")
    yield
    spark.conf.set(key, old)


def _overlapping_load(city: Path, out: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """A second load: stored GPS fixes (some with other values), new ones, and a new key
    twice with different values, far apart in the file; as CSV with columns in another order
    and an extra column. Returns the changed stored row and the repeated new row (first copy).
    """
    gps = pq.read_table(city / "gps.parquet").sort_by(
        [("person_id", "ascending"), ("ts", "ascending")]
    )
    last_day = pc.max(gps["ts"]).as_py().date()
    stored = gps.filter(
        pc.greater_equal(
            gps["ts"],
            pa.scalar(
                dt.datetime.combine(last_day, dt.time(), dt.UTC), gps.schema.field("ts").type
            ),
        )
    )
    rows = stored.slice(0, 300).to_pylist()
    changed = dict(rows[10], lat=rows[10]["lat"] + 0.01)  # the stored row must win
    rows[10] = changed
    new = [dict(r, ts=r["ts"] + dt.timedelta(milliseconds=250)) for r in rows[50:150]]
    twice = dict(new[0], ts=new[0]["ts"] + dt.timedelta(milliseconds=500))
    out_rows = [*rows, twice, *new, dict(twice, lat=twice["lat"] + 0.02)]
    for r in out_rows:
        r["ts"] = r["ts"].astimezone(dt.timezone(dt.timedelta(hours=9))).isoformat()
        r["note"] = "resent"
    write_csv(out, "gps", out_rows, columns=["note", "ts", "person_id", "accuracy_m", "lon", "lat"])
    return changed, twice


def test_overlapping_load_dedupes_like_duckdb(
    loaded: Loaded,
    spark: SparkSession,
    tmp_path: Path,
    small_splits: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The second load is read in many splits, and the days it changes are written as
    several files (a small `ROWS_PER_FILE`): each a range of people, sorted by key."""
    monkeypatch.setattr(ingest_spark, "ROWS_PER_FILE", 1500)
    duck_store, spark_store, _, _ = loaded
    city = spark_store.parent / "city"
    second = tmp_path / "second"
    changed, twice = _overlapping_load(city, second)
    a, b = tmp_path / "duckdb", tmp_path / "spark"
    shutil.copytree(duck_store, a)
    shutil.copytree(spark_store, b)
    duck = ingest_directory(second, a, index=False)
    on_spark = ingest_directory_spark(second, b, spark=spark, index=False)
    assert _counts(on_spark) == _counts(duck)
    assert on_spark.table("gps").rows_added == 101  # 100 new fixes, one new key twice
    _assert_same_store(a, b, files_per_day=False)
    store = LocationStore(b)
    changed_day = [f for f in store.stored_files("gps") if f.day == store.days("gps")[-1]]
    assert len(changed_day) > 1  # 2,673 rows, cut by person into files of about 1,500
    con = LocationStore(b).connect()
    for row in (changed, twice):
        ts = dt.datetime.fromisoformat(row["ts"])
        found = con.execute(
            "SELECT lat FROM gps WHERE person_id = ? AND ts = ?", [row["person_id"], ts]
        ).fetchall()
        if row is changed:
            assert len(found) == 1
            assert found != [(row["lat"],)]  # the stored value stayed
        else:
            assert found == [(row["lat"],)]  # the first copy in the file won


def test_parquet_types_spark_reads_otherwise(
    base_store: Path, spark: SparkSession, tmp_path: Path
) -> None:
    """Unsigned ids, nanosecond times (rounded to microseconds), epoch seconds, float32,
    decimals and int16 load as with DuckDB, though Spark reads some as other types first."""
    source = tmp_path / "source"
    n = len(GPS)
    ns = [
        int(dt.datetime.fromisoformat(str(r["ts"])).timestamp()) * 10**9 + 123_456_789 * i
        for i, r in enumerate(GPS)
    ]
    write_parquet(
        source,
        "gps",
        {
            "person_id": pa.array([int(str(r["person_id"])) for r in GPS], pa.uint32()),
            "ts": pa.array(ns, pa.int64()).cast(pa.timestamp("ns", tz="UTC")),
            "lat": pa.array([float(str(r["lat"])) for r in GPS], pa.float32()),
            "lon": pa.array([str(r["lon"]) for r in GPS]).cast(pa.decimal128(9, 6)),
            "accuracy_m": pa.array([int(str(r["accuracy_m"])) for r in GPS], pa.int16()),
        },
    )
    write_parquet(
        source,
        "cell",
        {
            "person_id": pa.array([1] * n, pa.uint64()),
            "ts": pa.array([t // 10**9 for t in ns], pa.int64()),  # UTC epoch seconds
            "tower_id": pa.array([1, 2, 3, 2, 1], pa.uint64()),
        },
    )
    stores = {engine: tmp_path / engine for engine in ("duckdb", "spark")}
    for store in stores.values():
        shutil.copytree(base_store, store)
    duck = ingest_directory(source, stores["duckdb"], index=False)
    on_spark = ingest_directory_spark(source, stores["spark"], spark=spark, index=False)
    assert _counts(on_spark) == _counts(duck)
    _assert_same_store(stores["duckdb"], stores["spark"])
    (first,) = LocationStore(stores["spark"]).connect().execute(
        "SELECT ts FROM gps WHERE person_id = 1 ORDER BY ts LIMIT 1 OFFSET 1"
    ).fetchone() or (None,)
    assert first is not None
    assert first.microsecond != 0  # sub-second parts survive (rounded to microseconds)


# -- bad input -------------------------------------------------------------------------------


def _gps_rows() -> list[dict[str, Any]]:
    return [dict(r) for r in GPS]


def _csv_case(
    table: str, edit: Callable[[list[dict[str, Any]]], None], columns: list[str] | None = None
) -> Callable[[Path], None]:
    def write(directory: Path) -> None:
        rows = [dict(r) for r in (GPS if table == "gps" else CELL)]
        edit(rows)
        write_csv(directory, table, rows, columns=columns)

    return write


def _parquet_gps(**changes: Any) -> Callable[[Path], None]:
    def write(directory: Path) -> None:
        n = len(GPS)
        data: dict[str, Any] = {
            "person_id": pa.array([r["person_id"] for r in GPS], pa.int64()),
            "ts": pa.array(
                [dt.datetime.fromisoformat(str(r["ts"])) for r in GPS], pa.timestamp("us", tz="UTC")
            ),
            "lat": [float(str(r["lat"])) for r in GPS],
            "lon": [float(str(r["lon"])) for r in GPS],
            "accuracy_m": [float(str(r["accuracy_m"])) for r in GPS],
        }
        for name, value in changes.items():
            if value is None:
                del data[name]
            else:
                data[name] = value(n) if callable(value) else value
        write_parquet(directory, "gps", data)

    return write


def _set(row: int, column: str, value: Any) -> Callable[[list[dict[str, Any]]], None]:
    def edit(rows: list[dict[str, Any]]) -> None:
        rows[row][column] = value

    return edit


def _malformed(directory: Path) -> None:
    path = write_csv(directory, "gps", GPS)
    lines = path.read_text().splitlines()
    lines[3] += ",surplus"
    path.write_text("\n".join(lines) + "\n")


def _two_bad_tables(directory: Path) -> None:
    _csv_case("cell", _set(0, "tower_id", 99))(directory)
    _csv_case("gps", _set(1, "lat", 95))(directory)


BAD = {
    "csv-unparseable-time": _csv_case("gps", _set(2, "ts", "2020-13-01T00:00")),
    "csv-time-without-offset": _csv_case("gps", _set(1, "ts", "2020-03-02T09:00:00")),
    "csv-empty-required-value": _csv_case("gps", _set(3, "accuracy_m", " ")),
    "csv-missing-column": _csv_case(
        "gps", lambda _rows: None, ["person_id", "ts", "lon", "accuracy_m"]
    ),
    "csv-unknown-tower": _csv_case("cell", _set(2, "tower_id", 7)),
    "csv-malformed-row": _malformed,
    "csv-gps-reported-before-cell": _two_bad_tables,
    "parquet-latitude-out-of-range": _parquet_gps(lat=lambda n: [37.5] * (n - 1) + [-90.5]),
    "parquet-empty-required-value": _parquet_gps(
        person_id=pa.array([1, None, 2, 2, 1], pa.int64())
    ),
    "parquet-missing-column": _parquet_gps(lat=None),
    "parquet-time-without-zone": _parquet_gps(
        ts=pa.array([dt.datetime(2020, 3, 2)] * 5, pa.timestamp("us"))
    ),
}


@pytest.fixture(scope="module")
def base_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding the small hand-made city (towers 1-3, people 1-2)."""
    base = tmp_path_factory.mktemp("base")
    ingest_directory(
        write_city(base / "city", ["towers", "merchants", "people"]), base / "store", index=False
    )
    return base / "store"


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_same_error_store_unchanged(
    case: str, base_store: Path, spark: SparkSession, tmp_path: Path
) -> None:
    source = tmp_path / "bad"
    source.mkdir()
    BAD[case](source)
    before = snapshot(base_store)
    with pytest.raises(IngestError) as duck:
        ingest_directory(source, base_store, index=False)
    assert snapshot(base_store) == before
    with pytest.raises(IngestError) as on_spark:
        ingest_directory_spark(source, base_store, spark=spark, index=False)
    assert snapshot(base_store) == before
    assert str(on_spark.value) == str(duck.value)
    got = (on_spark.value.file, on_spark.value.row, on_spark.value.field, on_spark.value.line)
    assert got == (duck.value.file, duck.value.row, duck.value.field, duck.value.line)
    if case == "csv-gps-reported-before-cell":
        assert duck.value.file == "gps.csv"


# -- the CLI ---------------------------------------------------------------------------------

app = typer.Typer()
app.command("ingest")(ingest)
app.command("noop")(lambda: None)  # keep `ingest` a sub-command, as under the root CLI


def test_cli_engine_spark_loads_and_indexes(spark: SparkSession, tmp_path: Path) -> None:
    city = write_city(tmp_path / "city")
    runner = CliRunner()
    stores = {}
    for engine in ("duckdb", "spark"):
        stores[engine] = tmp_path / engine
        result = runner.invoke(
            app, ["ingest", str(city), "--store", str(stores[engine]), "--engine", engine]
        )
        assert result.exit_code == 0, result.output
        assert "records/s" in result.output
    _assert_same_store(
        stores["duckdb"], stores["spark"], ("towers", "merchants", "people", *RECORDS)
    )
    manifests = [json.loads((s / "manifest.json").read_text())["tables"] for s in stores.values()]
    assert {n: t["rows"] for n, t in manifests[0].items()} == {
        n: t["rows"] for n, t in manifests[1].items()
    }
    assert manifests[1]["stay_index"]["rows"] > 0

    result = runner.invoke(
        app, ["ingest", str(city), "--store", str(tmp_path / "x"), "--engine", "bogus"]
    )
    assert result.exit_code == 2
    assert "--engine" in result.stderr
    assert not (tmp_path / "x").exists()
