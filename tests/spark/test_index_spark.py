"""The place-time index built on Spark equals the DuckDB build, file layout included.

One generated city (300 people, 4 days) is loaded with DuckDB, made harder (a day's GPS and
cell records split over two files, cut inside a person's track; fixes at half seconds, where
epoch seconds round), and indexed by DuckDB. A copy is re-indexed with
``epicity trace index --engine spark`` (one Spark build for the whole module), and the two
stores' index tables, files and traced contacts are compared.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from epicity.city.generate import CityConfig, generate_city
from epicity.cli import app
from epicity.db import make_engine, migrate, session_factory
from epicity.privacy.access import LocationAccess
from epicity.privacy.service import declare_emergency
from epicity.records.ingest import ingest_directory
from epicity.records.store import LocationStore, StoredFile
from epicity.tracing.index import PLACE_BITS, build_index, rebuild_index
from epicity.tracing.service import investigate_many

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

CITY = CityConfig(people=300, days=4, seed=11, seed_infections=30, transmission=2.0)
INDEX_TABLES = ("stay_index", "cell_runs_index", "visit_index")
PURPOSE = "comparing tracing on the two engines' indexes"
runner = CliRunner()


def _half_seconds(gps_file: Path) -> None:
    """Move every fifth fix by half a second (rounded to even seconds, as DuckDB does)."""
    table = pq.read_table(gps_file)
    micros = table.column("ts").cast(pa.int64()).to_numpy().copy()
    micros[::5] += 500_000
    ts = pa.array(micros, pa.int64()).cast(table.schema.field("ts").type)
    pq.write_table(table.set_column(table.schema.get_field_index("ts"), "ts", ts), gps_file)


def _split_a_day(store: LocationStore, table: str) -> None:
    """Replace the second day's file of `table` by two files cut in the middle of its rows."""
    tables = {name: store.stored_files(name) for name in store.tables()}
    day = store.days(table)[1]
    (whole,) = [f for f in tables[table] if f.day == day]
    rows = pq.read_table(store.path / whole.path)
    halves = [rows.slice(0, rows.num_rows // 2), rows.slice(rows.num_rows // 2)]
    parts = []
    for half in halves:
        rel = f"{table}/day={day.isoformat()}/part-{uuid.uuid4()}.parquet"
        pq.write_table(half, store.path / rel)
        parts.append(StoredFile(rel, half.num_rows, day))
    tables[table] = sorted(
        [f for f in tables[table] if f != whole] + parts, key=lambda f: (f.day, f.path)
    )
    store.commit(tables)
    store.collect_garbage()


@pytest.fixture(scope="module")
def stores(
    spark: SparkSession, tmp_path_factory: pytest.TempPathFactory
) -> tuple[LocationStore, LocationStore, dict[str, Any]]:
    """(the DuckDB-indexed store, its copy re-indexed on Spark, the copy's manifest before)."""
    root = tmp_path_factory.mktemp("index-spark")
    generate_city(root / "city", CITY)
    _half_seconds(root / "city" / "gps.parquet")
    ingest_directory(root / "city", root / "duckdb", index=False)
    store = LocationStore(root / "duckdb")
    _split_a_day(store, "gps")
    _split_a_day(store, "cell")
    rebuild_index(store)
    shutil.copytree(root / "duckdb", root / "spark")
    before = json.loads((root / "spark" / "manifest.json").read_text())
    result = runner.invoke(
        app, ["trace", "index", "--store", str(root / "spark"), "--engine", "spark"]
    )
    assert result.exit_code == 0, result.output
    return store, LocationStore(root / "spark"), before


def _sorted_rows(store: LocationStore, table: str) -> list[tuple[Any, ...]]:
    rows = pa.concat_tables(pq.read_table(p) for p in store.files(table))
    return sorted(zip(*(rows.column(c).to_pylist() for c in rows.column_names), strict=True))


def _hours(files: Sequence[StoredFile]) -> list[int]:
    return sorted(int(f.path.split("/")[1].removeprefix("hour=")) for f in files)


def test_the_test_data_holds_what_an_index_build_can_get_wrong(
    stores: tuple[LocationStore, LocationStore, dict[str, Any]],
) -> None:
    duck, _, _ = stores
    for table in ("gps", "cell"):
        files = duck.stored_files(table)
        assert len(files) > len({f.day for f in files})  # a day over two files
    micros = pa.concat_tables(pq.read_table(p, columns=["ts"]) for p in duck.files("gps"))
    assert pc.any(pc.not_equal(pc.cast(micros["ts"], pa.int64()).to_numpy() % 1_000_000, 0))
    stays = pa.concat_tables(pq.read_table(p) for p in duck.files("stay_index"))
    start, end = stays["start"].to_numpy(), stays["end"].to_numpy()
    assert ((start // 86_400) != ((end - 1) // 86_400)).any()  # stays crossing midnight
    assert all(duck.row_count(t) for t in INDEX_TABLES)


@pytest.mark.parametrize("table", INDEX_TABLES)
def test_spark_builds_the_same_index_tables_and_files(
    stores: tuple[LocationStore, LocationStore, dict[str, Any]], table: str
) -> None:
    duck, spark_store, _ = stores
    want, got = duck.stored_files(table), spark_store.stored_files(table)
    # One file per hour, the same hours, the same rows.
    assert _hours(got) == _hours(want) == sorted(set(_hours(want)))
    assert _sorted_rows(spark_store, table) == _sorted_rows(duck, table)
    schema = pq.read_schema(duck.files(table)[0])
    for stored in got:
        path = spark_store.path / stored.path
        assert pq.read_schema(path) == schema
        keys = pq.read_table(path, columns=["key"])["key"].to_numpy()
        hour = int(stored.path.split("/")[1].removeprefix("hour="))
        assert (keys[1:] >= keys[:-1]).all()
        assert ((keys >> PLACE_BITS) == hour).all()
        assert stored.rows == len(keys)
        assert stored.day == next(f.day for f in want if _hours([f]) == [hour])
    assert (
        pq.ParquetFile(spark_store.path / got[0].path).metadata.row_group(0).column(0).compression
        == pq.ParquetFile(duck.path / want[0].path).metadata.row_group(0).column(0).compression
    )


def test_the_spark_rebuild_replaced_only_the_index_in_one_commit(
    stores: tuple[LocationStore, LocationStore, dict[str, Any]],
) -> None:
    _, spark_store, before = stores
    after = json.loads((spark_store.path / "manifest.json").read_text())
    assert after["tables"].keys() == before["tables"].keys()
    for name, entry in after["tables"].items():
        paths = {f["path"] for f in entry["files"]}
        old = {f["path"] for f in before["tables"][name]["files"]}
        if name in (*INDEX_TABLES, "index_settings"):
            assert not paths & old
            assert not any((spark_store.path / p).exists() for p in old)
        else:
            assert paths == old
    listed = {spark_store.path / f["path"] for e in after["tables"].values() for f in e["files"]}
    assert set(spark_store.path.rglob("*.parquet")) == listed
    assert not list(spark_store.path.glob(".staging-*"))


def _access(store: LocationStore, db: Path) -> LocationAccess:
    engine = make_engine(f"sqlite:///{db}")
    migrate(engine)
    sessions = session_factory(engine)
    with sessions() as s:
        declare_emergency(s, name="COVID-19", area="Seoul", actor="admin")
        s.commit()
    return LocationAccess(store, sessions, actor="investigator-kim", role="investigator")


def test_tracing_on_the_spark_index_finds_the_same_contacts(
    stores: tuple[LocationStore, LocationStore, dict[str, Any]], tmp_path: Path
) -> None:
    duck, spark_store, _ = stores
    con = duck.connect()
    ids = [int(r[0]) for r in con.execute("SELECT person_id FROM cases ORDER BY 1").fetchall()]
    con.close()
    traced = []
    for store in (duck, spark_store):
        with _access(store, tmp_path / f"{store.path.name}.db").open(PURPOSE, cases=ids) as reader:
            traced.append(investigate_many(reader, ids))
    on_duckdb, on_spark = traced
    assert len(ids) > 3
    assert any(inv.contacts for inv in on_duckdb)
    for a, b in zip(on_duckdb, on_spark, strict=True):
        assert (a.case, a.timeline, a.contacts, a.area) == (b.case, b.timeline, b.contacts, b.area)


def test_an_unknown_engine_is_refused(tmp_path: Path) -> None:
    result = runner.invoke(app, ["trace", "index", "--store", str(tmp_path), "--engine", "bogus"])
    assert result.exit_code == 2
    assert "bogus" in result.output


def test_a_store_without_records_gets_an_empty_index(spark: SparkSession, tmp_path: Path) -> None:
    from epicity.tracing.index_spark import build_index_spark

    got = build_index_spark(spark, tmp_path, {}, tmp_path / "spark")
    want = build_index(tmp_path, {}, tmp_path / "duckdb", workers=1)
    assert {k: v for k, v in got.items() if k != "index_settings"} == {
        k: v for k, v in want.items() if k != "index_settings"
    }
    assert got.keys() == want.keys()
    assert len(got["index_settings"]) == 1
