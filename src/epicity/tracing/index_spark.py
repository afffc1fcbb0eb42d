"""The place-time index built on Apache Spark: the same tables, files and rows as `build_index`.

The DuckDB build walks the days in order and carries each person's open stay or run over
midnight. Here Spark reads every day at once and brings each person's whole track together,
then hands it to the very functions the DuckDB build calls (`stay_index_rows`,
`cell_runs_index_rows`, `visit_index_rows`), so the rows are computed by one piece of code:

1. ``gps`` and ``cell`` rows are hash-partitioned by person and sorted by the table's key
   (person, time, tower: the order ingest stores a day in); a Python task receives its
   partition in Arrow batches and computes the index rows of whole people at a time.
2. The index rows are hash-partitioned by hour (``key >> 36``) and sorted by key; a Python
   task writes each hour it holds as one file with `HourFile`, so the files have the DuckDB
   build's encodings and row groups (and the same Arrow schema) and differ only in name.

Partitioning the writes by hour, not by ranges of keys, is what keeps a crowded place (a
station at rush hour, one hot key) from becoming a straggler: a key is a small share of its
hour, and the hours spread over tasks (``spark.sql.shuffle.partitions`` of them, which adaptive
execution merges when small; an hour is never split, so it stays one file).

The three tables are one Spark query (a union of their written-file lists): their stages run
side by side, so the fixed cost of Spark's jobs (about a second each in local mode) overlaps.
Grouping by ``repartition`` + ``sortWithinPartitions`` + ``mapInArrow`` streams each partition
through Python; ``groupBy(bucket).applyInArrow`` took 35-75% more CPU (5,000 people, 3 days).
"""

from __future__ import annotations

import functools
import itertools
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from epicity.geo import LocalProjection
from epicity.records.store import StoredFile
from epicity.tracing.config import TracingConfig
from epicity.tracing.index import (
    INDEX_SCHEMAS,
    PLACE_BITS,
    HourFile,
    IndexSettings,
    Progress,
    cell_runs_index_rows,
    epoch_seconds,
    gps_xy,
    stay_index_rows,
    store_projection,
    visit_index_rows,
    write_settings,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

__all__ = ["build_index_spark"]

# Rows gathered before computing (Spark hands Arrow batches of 10,000 rows): NumPy's fixed cost
# per call is then small beside its work.
_CHUNK_ROWS = 200_000
_FILES_SCHEMA = "table STRING, path STRING, rows BIGINT, hour BIGINT"


def build_index_spark(
    spark: SparkSession,
    root: Path,
    tables: Mapping[str, Sequence[StoredFile]],
    staging: Path,
    config: TracingConfig | None = None,
    *,
    progress: Progress | None = None,
) -> dict[str, list[StoredFile]]:
    """Build the index tables from the store's record files (paths relative to `root`) on
    Spark, writing them under `staging` with the relative paths they will have in the store;
    the same contract, tables and rows as `epicity.tracing.index.build_index`.

    `staging` must be on a file system every executor sees under the same path.
    """
    config = replace(config or TracingConfig(), stay_min_duration_s=0)
    kinds = ("stay_index", "cell_runs_index", "visit_index")
    if progress:
        progress("building the place-time index", 0, len(kinds))
    rows = {
        "stay_index": _stay_rows(spark, root, tables, config),
        "cell_runs_index": _run_rows(spark, root, tables),
        "visit_index": _visit_rows(spark, root, tables),
    }
    written = [_written(frame, kind, staging) for kind, frame in rows.items() if frame is not None]
    out: dict[str, list[StoredFile]] = {kind: [] for kind in kinds}
    if written:
        files = functools.reduce(lambda a, b: a.unionByName(b), written)
        for row in files.collect():  # one query: the three tables' stages run side by side
            out[row["table"]].append(
                StoredFile(row["path"], int(row["rows"]), HourFile.day_of(int(row["hour"])))
            )
    for kind in kinds:
        out[kind].sort(key=lambda f: f.path)
    if progress:
        progress("building the place-time index", len(kinds), len(kinds))
    out["index_settings"] = [write_settings(staging, IndexSettings.of(config))]
    return out


# -- reading and grouping by person -----------------------------------------------------------


# The stored types of the columns read (docs/data-formats.md): given, Spark reads no footers
# to infer them (a job per table).
_READ_TYPES = {
    "person_id": "BIGINT",
    "ts": "TIMESTAMP",
    "lat": "DOUBLE",
    "lon": "DOUBLE",
    "accuracy_m": "DOUBLE",
    "tower_id": "BIGINT",
    "merchant_id": "BIGINT",
}


def _read(
    spark: SparkSession, root: Path, files: Sequence[StoredFile], columns: Sequence[str]
) -> DataFrame | None:
    """A record table's day partitions (as `build_index` reads them), or None without any."""
    paths = [str(root / f.path) for f in files if f.day is not None]
    if not paths:
        return None
    schema = ", ".join(f"{c} {_READ_TYPES[c]}" for c in columns)
    return spark.read.schema(schema).parquet(*paths).select(*columns)


def _spark_schema(table: str) -> StructType:
    from pyspark.sql.types import (
        DoubleType,
        IntegerType,
        LongType,
        StringType,
        StructField,
        StructType,
    )

    types = {
        pa.int64(): LongType(),
        pa.int32(): IntegerType(),
        pa.float64(): DoubleType(),
        pa.string(): StringType(),
    }
    return StructType([StructField(f.name, types[f.type], True) for f in INDEX_SCHEMAS[table]])


def _map_in_arrow(frame: DataFrame, fn: Any, schema: StructType | str) -> DataFrame:
    """`frame.mapInArrow`, without PySpark's warning about pandas 3 (no pandas is used)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "PySpark does not yet fully support", FutureWarning)
        return frame.mapInArrow(fn, schema)


def _by_person(frame: DataFrame, order: Sequence[str]) -> DataFrame:
    """Each person's rows in one partition, sorted by `order` (person first)."""
    return frame.repartition("person_id").sortWithinPartitions(*order)


def _stay_rows(
    spark: SparkSession,
    root: Path,
    tables: Mapping[str, Sequence[StoredFile]],
    config: TracingConfig,
) -> DataFrame | None:
    columns = ("person_id", "ts", "lat", "lon", "accuracy_m")
    gps = _read(spark, root, tables.get("gps", []), columns)
    if gps is None:
        return None
    compute = functools.partial(_stays_of, proj=store_projection(root, tables), config=config)
    by_person = _by_person(gps, ("person_id", "ts"))
    return _map_in_arrow(by_person, compute, _spark_schema("stay_index"))


def _run_rows(
    spark: SparkSession, root: Path, tables: Mapping[str, Sequence[StoredFile]]
) -> DataFrame | None:
    cell = _read(spark, root, tables.get("cell", []), ("person_id", "ts", "tower_id"))
    if cell is None:
        return None
    # Records at one instant keep the stored order (by tower), as in a day's file.
    by_person = _by_person(cell, ("person_id", "ts", "tower_id"))
    return _map_in_arrow(by_person, _runs_of, _spark_schema("cell_runs_index"))


def _visit_rows(
    spark: SparkSession, root: Path, tables: Mapping[str, Sequence[StoredFile]]
) -> DataFrame | None:
    from pyspark.sql import functions as F  # noqa: N812 (Spark's usual name)

    parts = []
    for source in ("card", "entries"):
        frame = _read(spark, root, tables.get(source, []), ("person_id", "ts", "merchant_id"))
        if frame is not None:
            parts.append(frame.withColumn("source", F.lit(source)))
    if not parts:
        return None
    visits = functools.reduce(lambda a, b: a.unionByName(b), parts)
    return _map_in_arrow(visits, _visits_of, _spark_schema("visit_index"))


def _numpy(chunk: pa.Table, columns: Iterable[str]) -> dict[str, Any]:
    """Columns as NumPy arrays, timestamps as epoch seconds (`epoch_seconds`) named ``t``."""
    out: dict[str, Any] = {}
    for name in columns:
        column = chunk.column(name)
        if pa.types.is_timestamp(column.type):
            micros = column.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
            out["t"] = epoch_seconds(micros.to_numpy())
        else:
            out[name] = column.to_numpy()
    return out


def _whole_people(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.Table]:
    """Batches sorted by person regrouped into chunks of whole people (a person's rows may
    straddle two batches: the last person of a chunk waits for the next batches)."""
    held: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        if not batch.num_rows:
            continue
        held.append(batch)
        count += batch.num_rows
        if count < _CHUNK_ROWS:
            continue
        chunk = pa.Table.from_batches(held)
        person = chunk.column("person_id").to_numpy()
        cut = int(np.searchsorted(person, person[-1], side="left"))
        if cut:
            yield chunk.slice(0, cut)
            rest = chunk.slice(cut)
            held, count = rest.to_batches(), rest.num_rows
    if count:
        yield pa.Table.from_batches(held)


def _batch(table: str, rows: Mapping[str, Any]) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict(dict(rows), schema=INDEX_SCHEMAS[table])


def _stays_of(
    batches: Iterable[pa.RecordBatch], proj: LocalProjection, config: TracingConfig
) -> Iterator[pa.RecordBatch]:
    """stay_index rows of the GPS fixes of a partition (sorted by person, time)."""
    for chunk in _whole_people(batches):
        fixes = gps_xy(_numpy(chunk, chunk.column_names), proj)
        yield _batch("stay_index", stay_index_rows(fixes, proj, config))


def _runs_of(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """cell_runs_index rows of the connection records of a partition (sorted by person, time)."""
    for chunk in _whole_people(batches):
        yield _batch("cell_runs_index", cell_runs_index_rows(_numpy(chunk, chunk.column_names)))


def _visits_of(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """visit_index rows of payments and entries (one each)."""
    for batch in batches:
        records = _numpy(pa.Table.from_batches([batch]), batch.schema.names)
        yield _batch("visit_index", visit_index_rows(records))


# -- writing by hour ---------------------------------------------------------------------------


def _written(rows: DataFrame, table: str, staging: Path) -> DataFrame:
    """The files of `rows` written one per hour (table, path, rows, hour): hash-partitioned by
    hour and sorted by key, so each task streams its hours one after the other."""
    from pyspark.sql import functions as F  # noqa: N812

    by_hour = rows.repartition(F.shiftright(F.col("key"), PLACE_BITS)).sortWithinPartitions("key")
    write = functools.partial(_write_hours, table=table, staging=str(staging))
    return _map_in_arrow(by_hour, write, _FILES_SCHEMA)


def _write_hours(
    batches: Iterable[pa.RecordBatch], table: str, staging: str
) -> Iterator[pa.RecordBatch]:
    """Write a partition's rows (sorted by key, so by hour) as one file per hour."""
    done: list[tuple[int, StoredFile]] = []
    current: HourFile | None = None
    for batch in batches:
        hour = batch.column("key").to_numpy() >> PLACE_BITS
        bounds = np.flatnonzero(np.concatenate([[True], hour[1:] != hour[:-1], [True]]))
        for lo, hi in itertools.pairwise(bounds):
            if current is None or current.hour != int(hour[lo]):
                if current is not None:
                    done.append((current.hour, current.close()))
                current = HourFile(Path(staging), table, int(hour[lo]))
            current.write(pa.Table.from_batches([batch.slice(lo, hi - lo)]))
    if current is not None:
        done.append((current.hour, current.close()))
    if done:
        yield pa.RecordBatch.from_pydict(
            {
                "table": [table] * len(done),
                "path": [f.path for _, f in done],
                "rows": [f.rows for _, f in done],
                "hour": [h for h, _ in done],
            }
        )
