"""Ingest on Apache Spark: the DuckDB ingest's checks and store layout, beyond one machine.

`ingest_directory_spark` keeps `ingest_directory`'s contract (all or nothing, the store unchanged
on `IngestError`, idempotent re-loads, the same report) and gives the same stored tables. It
shares everything but the record tables' plan with the DuckDB path (`load_directory`):

- Reference tables (towers, merchants, people, cases, routes, daily_counts) are small; DuckDB
  checks and writes them on the driver, as in `ingest_directory`.
- Record tables (gps, cell, card, entries) go through Spark. Executors read the files in splits
  (CSV as text, with the options of DuckDB's ``read_csv`` call; Parquet natively) and every task
  types and checks its rows with THE SAME DuckDB SQL as `ingest_directory` (``mapInArrow`` with
  an in-process DuckDB over the task's Arrow batches): Spark SQL parses times and casts numbers
  differently, so the check plan is written once, in DuckDB's dialect. The reference id sets
  the tasks check against (towers, merchants) travel with the task.
- Two Spark jobs for all record tables together (each job's fixed cost, not the rows,
  dominates small loads). The first reads, types and checks: failures per check, rows per UTC
  day and the person-id range per day, and each task keeps its typed rows in a Parquet file in
  the staging directory, so a source is parsed once (as the DuckDB path copies a CSV to
  Parquet once). The second reads those files with the stored rows of the days they fall on,
  keeps the first row of each key (stored rows first, then file order: the split's offset and
  Spark's row id), shuffles the four tables together by file (one per table and day, or per
  person-id range of a day beyond `ROWS_PER_FILE` rows), sorts by key and writes the files in
  the tasks (pyarrow, DuckDB's row-group size). A stored day that gains no key keeps its files.
- A failing check is reported from the driver with the DuckDB path's own first-row search, so
  the message is the same; only then is a file read whole by one process.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import math
import time
import uuid
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from epicity.records.ingest import (
    _ROW_GROUP_SIZE,
    IngestError,
    IngestReport,
    Progress,
    RecordEngine,
    _check_query,
    _first_line,
    _raise_first_problem,
    _ref_name,
    _Source,
    _TableResult,
    _tally,
    _validate,
    load_directory,
)
from epicity.records.schema import Kind, Table
from epicity.records.store import LocationStore, StoredFile, connect_duckdb, sql_quote

if TYPE_CHECKING:
    from pyspark.sql import Column as SparkColumn
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import DataType, StructType

__all__ = ["ROWS_PER_FILE", "ingest_directory_spark"]

# A day with more rows is written as several files, each a range of person ids sorted by key:
# one task sorts one file's rows.
ROWS_PER_FILE = 10_000_000
# File order of the incoming rows: the split's first byte, then Spark's row id within a task.
_BLOCK, _ROW = "__epicity_block", "__epicity_row"
_TASK_MEMORY = "1GB"  # DuckDB's limit in a Spark task (holding one split's rows; it spills beyond)

_CHECK_ARROW = pa.schema(
    [
        ("table", pa.string()),
        ("day", pa.date32()),
        ("rows", pa.int64()),
        ("fails", pa.list_(pa.int64())),
        ("low", pa.int64()),
        ("high", pa.int64()),
        ("typed", pa.string()),
    ]
)
_FILES_ARROW = pa.schema(
    [("table", pa.string()), ("path", pa.string()), ("day", pa.date32()), ("rows", pa.int64())]
)
_ARROW_TYPES = {
    Kind.ID: pa.int64(),
    Kind.INT: pa.int64(),
    Kind.FLOAT: pa.float64(),
    Kind.TEXT: pa.string(),
    Kind.BOOL: pa.bool_(),
    Kind.TIMESTAMP: pa.timestamp("us", tz="UTC"),
    Kind.DATE: pa.date32(),
    Kind.TIME_OF_DAY: pa.string(),
}


def ingest_directory_spark(
    source: Path,
    store_path: Path,
    *,
    spark: SparkSession | None = None,
    progress: Progress | None = None,
    index: bool = True,
) -> IngestReport:
    """`epicity.records.ingest.ingest_directory` with the record tables on Spark.

    Same contract and same stored result: the tables are checked with the same rules and
    messages, written in the same layout (docs/data-formats.md, "Engines"), and with `index` the
    place-time index is rebuilt in the same commit (`epicity.tracing.index_spark`). `spark`
    defaults to `epicity.spark.spark_session()`; the source directory and the store must be
    readable (and the store writable) under the same paths on every executor.

    Example::

        report = ingest_directory_spark(Path("city"), Path("var/store"))
    """
    if spark is None:
        from epicity.spark import spark_session

        spark = spark_session()
    engine = _SparkRecords(spark)
    return load_directory(engine.engine(), source, store_path, progress=progress, index=index)


# -- what a task runs ------------------------------------------------------------------------


@dataclass(frozen=True)
class _TaskPlan:
    """What a Spark task needs to type and check its rows of one source file (picklable)."""

    table: str
    # (column, Arrow type to cast Spark's to first or None, DuckDB type to cast to or None)
    columns: tuple[tuple[str, pa.DataType | None, str | None], ...]
    references: dict[str, np.ndarray[Any, Any]]  # temp table name -> ids
    check_sql: str  # `_check_query` over the task's rows, plus the person-id range per day
    typed_sql: str  # typed columns, the UTC day and the file order
    typed_dir: str  # where the task writes its typed rows (in the load's staging directory)


def _task_rows(batches: Iterator[pa.RecordBatch], plan: _TaskPlan) -> Any:
    """A DuckDB connection with the task's rows in table ``__batch``, typed as DuckDB reads
    them from the file (Spark's Parquet types cast back); None when the task has no rows."""
    first = next(batches, None)
    if first is None:
        return None
    con = connect_duckdb(
        threads=1,
        preserve_insertion_order=True,
        memory_limit=_TASK_MEMORY,
        temp_directory=str(Path(plan.typed_dir) / f"tmp-{uuid.uuid4()}"),
    )
    for name, ids in plan.references.items():
        con.register("__ids", pa.table({"id": pa.array(ids, pa.int64())}))
        con.execute(f"CREATE TEMP TABLE {name} AS SELECT id FROM __ids")
        con.unregister("__ids")
    arrow_types = {c: t for c, t, _ in plan.columns if t is not None}
    schema = first.schema
    stream: Iterator[pa.RecordBatch] = itertools.chain([first], batches)
    if arrow_types:
        schema = pa.schema(
            [pa.field(f.name, arrow_types.get(f.name, f.type)) for f in first.schema]
        )
        stream = (b.cast(schema) for b in stream)
    con.register("__arrow", pa.RecordBatchReader.from_batches(schema, stream))
    cols = [
        f'CAST("{c}" AS {t}) AS "{c}"' if t is not None else f'"{c}"' for c, _, t in plan.columns
    ]
    con.execute(
        f"CREATE TEMP TABLE __batch AS SELECT {', '.join(cols)}, {_BLOCK}, {_ROW} FROM __arrow"
    )
    con.unregister("__arrow")
    return con


def _check_task(plan: _TaskPlan, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Count the task's failures per check and rows per day, and keep its typed rows in a
    Parquet file for the write (the source is parsed and typed once)."""
    con = _task_rows(batches, plan)
    if con is None:
        return
    try:
        rows = con.sql(plan.check_sql).fetchall()
        path = Path(plan.typed_dir) / f"part-{uuid.uuid4()}.parquet"
        con.execute(f"COPY ({plan.typed_sql}) TO {sql_quote(str(path))} (FORMAT parquet)")
    finally:
        con.close()
    yield pa.RecordBatch.from_pylist(
        [
            {
                "table": plan.table,
                "day": r[0],
                "rows": r[1],
                "fails": list(r[2:-2]),
                "low": r[-2],
                "high": r[-1],
                "typed": str(path),
            }
            for r in rows
        ],
        schema=_CHECK_ARROW,
    )


class _PartWriter:
    """One staged Parquet file, written in row groups of DuckDB's size."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.schema = schema
        self.rows = 0
        self._writer = pq.ParquetWriter(path, schema, compression="zstd")
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0

    def add(self, batch: pa.RecordBatch) -> None:
        self._pending.append(batch)
        self._pending_rows += batch.num_rows
        while self._pending_rows >= _ROW_GROUP_SIZE:
            table = pa.Table.from_batches(self._pending, self.schema)
            self._writer.write_table(table.slice(0, _ROW_GROUP_SIZE))
            rest = table.slice(_ROW_GROUP_SIZE)
            self._pending = rest.to_batches()
            self._pending_rows = rest.num_rows
        self.rows += batch.num_rows

    def close(self) -> int:
        if self._pending_rows:
            self._writer.write_table(pa.Table.from_batches(self._pending, self.schema))
        self._writer.close()
        return self.rows


def _write_task(
    groups: dict[int, tuple[str, str]],
    schemas: dict[str, pa.Schema],
    staging: str,
    batches: Iterator[pa.RecordBatch],
) -> Iterator[pa.RecordBatch]:
    """Write the task's rows (sorted by file group, then key) as one file per group; `groups`
    gives each group's table and day, `schemas` each table's stored schema."""
    files: list[dict[str, Any]] = []
    writer: _PartWriter | None = None
    current: int | None = None
    for batch in batches:
        if not batch.num_rows:
            continue
        ids = batch.column("__g").to_numpy()
        cuts = [0, *(np.flatnonzero(ids[1:] != ids[:-1]) + 1).tolist(), batch.num_rows]
        for start, stop in itertools.pairwise(cuts):
            group = int(ids[start])
            table, day = groups[group]
            if group != current:
                if writer is not None:
                    files[-1]["rows"] = writer.close()
                rel = f"{table}/day={day}/part-{uuid.uuid4()}.parquet"
                writer = _PartWriter(Path(staging) / rel, schemas[table])
                files.append({"table": table, "path": rel, "day": dt.date.fromisoformat(day)})
                current = group
            assert writer is not None
            part = batch.slice(start, stop - start)
            writer.add(part.select(schemas[table].names).cast(schemas[table]))
    if writer is not None:
        files[-1]["rows"] = writer.close()
    yield pa.RecordBatch.from_pylist(files, schema=_FILES_ARROW)


# -- the plan on the driver ------------------------------------------------------------------


def _spark_type(t: pa.DataType) -> DataType:
    """The Spark type to read a Parquet column as, given the Arrow type DuckDB reads it as."""
    from pyspark.sql.pandas.types import from_arrow_type
    from pyspark.sql.types import DecimalType, IntegerType, LongType, ShortType

    if pa.types.is_unsigned_integer(t):
        return {8: ShortType(), 16: IntegerType(), 32: LongType()}.get(
            t.bit_width, DecimalType(20, 0)
        )
    if pa.types.is_timestamp(t) and t.unit == "ns":
        return LongType()  # Spark reads INT64 nanosecond times only as integers
    return from_arrow_type(t)


def _spark_schema(table: Table, extra: Sequence[tuple[str, DataType]] = ()) -> StructType:
    from pyspark.sql.pandas.types import from_arrow_type
    from pyspark.sql.types import StructField, StructType

    fields = [StructField(c.name, from_arrow_type(_ARROW_TYPES[c.kind])) for c in table.columns]
    return StructType(fields + [StructField(n, t) for n, t in extra])


def _uri(path: Path) -> str:
    """A local file's URI for Spark (explicit, so that a cluster whose default file system is
    HDFS still reads the shared file system; not percent-encoded: Hadoop takes `=` as is)."""
    return "file://" + str(path.resolve())


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _map_in_arrow(df: DataFrame, fn: Any, schema: StructType) -> DataFrame:
    with warnings.catch_warnings():
        # PySpark warns about pandas versions on every mapInArrow; epicity does not use pandas.
        warnings.filterwarnings(
            "ignore", "PySpark does not yet fully support pandas", FutureWarning
        )
        return df.mapInArrow(fn, schema)


class _SparkRecords:
    """The Spark side of one load: the record tables' checks, writes and index."""

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark
        self._typed: dict[str, list[str]] = {}  # table -> its typed rows' files (staging)
        self._person_range: dict[str, dict[dt.date, tuple[int, int]]] = {}

    def engine(self) -> RecordEngine:
        return RecordEngine(validate=self.validate, write=self.write, build_index=self.index)

    # -- planning --------------------------------------------------------------------------

    def _plan(
        self, con: duckdb.DuckDBPyConnection, src: _Source, staging: Path
    ) -> tuple[DataFrame, _TaskPlan]:
        from pyspark.sql import functions as F  # noqa: N812 (Spark's usual name)
        from pyspark.sql.types import StringType, StructField, StructType

        uri = _uri(src.path)
        table = src.table
        if src.fmt == "csv":
            # Every column of the header is read (and sent to the task): a column Spark does
            # not read is not parsed, and a row with too many or too few fields would pass.
            names = list(src._header)
            reader = self.spark.read.schema(
                StructType([StructField(h, StringType()) for h in names])
            ).options(
                header="true",
                quote='"',
                escape='"',
                mode="FAILFAST",
                multiLine="false",
                encoding="UTF-8",
            )
            frame = reader.csv(uri)
            columns: list[tuple[str, pa.DataType | None, str | None]] = [
                (h, None, None) for h in names
            ]
        else:
            described = {
                str(r[0]): str(r[1])
                for r in con.sql(f"DESCRIBE SELECT * FROM {src.relation()}").fetchall()
            }
            names = [c for c in table.column_names if c in described]
            select = ", ".join(f'"{c}"' for c in names)
            arrow = con.sql(f"SELECT {select} FROM {src.relation()} LIMIT 0").to_arrow_table()
            fields = []
            columns = []
            for name, field in zip(names, arrow.schema, strict=True):
                try:
                    spark_type = _spark_type(field.type)
                except Exception as exc:  # PySpark raises TypeError or its own error
                    raise IngestError(
                        src.name,
                        None,
                        name,
                        f"column type {described[name]} cannot be read by the Spark engine",
                    ) from exc
                fields.append(StructField(name, spark_type))
                needs_cast = pa.types.is_timestamp(field.type) and field.type.unit == "ns"
                columns.append((name, field.type if needs_cast else None, described[name]))
            frame = self.spark.read.schema(StructType(fields)).parquet(uri)
        frame = frame.select(
            *[F.col(_quoted(n)) for n in names],
            F.input_file_block_start().alias(_BLOCK),
            F.monotonically_increasing_id().alias(_ROW),
        )
        references = {}
        for col in table.columns:
            if col.references:
                name = _ref_name(col.references.split(".")[0])
                ids = con.sql(f"SELECT id FROM {name}").fetchnumpy()["id"]
                references[name] = np.asarray(ids, dtype=np.int64)
        assert table.time_column is not None
        assert table.key[0] == "person_id"  # files are cut by person-id range
        ts = f'"{table.time_column}"'
        plan = _TaskPlan(
            table=table.name,
            columns=tuple(columns),
            references=references,
            check_sql=_check_query(src, "__batch", ['min("person_id")', 'max("person_id")']),
            typed_sql=(
                f"SELECT * EXCLUDE ({_BLOCK}, {_ROW}), CAST({ts} AS DATE) AS __day, {_BLOCK}, "
                f"{_ROW} FROM (SELECT {src.projection(with_raw=False)}, {_BLOCK}, {_ROW} "
                "FROM __batch)"
            ),
            typed_dir=str((staging / "typed" / table.name).resolve()),
        )
        Path(plan.typed_dir).mkdir(parents=True, exist_ok=True)
        return frame, plan

    # -- checking --------------------------------------------------------------------------

    def validate(
        self,
        con: duckdb.DuckDBPyConnection,
        sources: Sequence[_Source],
        staging: Path,
        progress: Progress | None,
    ) -> None:
        """One Spark job checks every record file (and keeps its typed rows in `staging` for
        `write`); errors as `ingest_directory` raises them."""
        from pyspark.sql.types import (
            ArrayType,
            DateType,
            LongType,
            StringType,
            StructField,
            StructType,
        )

        started = time.perf_counter()
        label = "checking " + ", ".join(s.name for s in sources)
        if progress:
            progress(label, 0, 1)
        out_schema = StructType(
            [
                StructField("table", StringType()),
                StructField("day", DateType()),
                StructField("rows", LongType()),
                StructField("fails", ArrayType(LongType())),
                StructField("low", LongType()),
                StructField("high", LongType()),
                StructField("typed", StringType()),
            ]
        )
        parts = []
        for src in sources:
            frame, plan = self._plan(con, src, staging)
            parts.append(_map_in_arrow(frame, functools.partial(_check_task, plan), out_schema))
        try:
            rows = functools.reduce(lambda a, b: a.unionByName(b), parts).collect()
        except Exception as exc:  # a Spark job fails with Py4J's or PySpark's errors
            _explain_read_failure(con, sources, exc)
            raise
        for src in sources:
            mine = [r for r in rows if r["table"] == src.table.name]
            self._typed[src.table.name] = sorted({_uri(Path(r["typed"])) for r in mine})
            totals = _tally(src, [(r["day"], r["rows"], *r["fails"]) for r in mine])
            ranges: dict[dt.date, tuple[int, int]] = {}
            for r in mine:
                if r["day"] is None or r["low"] is None:
                    continue
                low, high = ranges.get(r["day"], (r["low"], r["high"]))
                ranges[r["day"]] = (min(low, r["low"]), max(high, r["high"]))
            self._person_range[src.table.name] = ranges
            try:
                _raise_first_problem(con, src, totals)
            except duckdb.Error as exc:  # Spark read what DuckDB cannot: DuckDB's message
                raise IngestError(
                    src.name, None, None, f"cannot read the file: {_first_line(exc)}"
                ) from exc
        _share_time(sources, time.perf_counter() - started)
        if progress:
            progress(label, 1, 1)

    # -- writing ---------------------------------------------------------------------------

    def write(
        self,
        con: duckdb.DuckDBPyConnection,
        sources: Sequence[_Source],
        store: LocationStore,
        staging: Path,
        progress: Progress | None,
    ) -> dict[str, _TableResult]:
        """One Spark job stages every record table's days; see the module docstring.

        The tables share one shuffle (fewer Spark jobs): their rows are projected onto the
        union of their columns, each file group belongs to one table and day, and the merged
        key orders each table's rows by its own key (the other tables' columns are empty).
        """
        from pyspark.sql import Window
        from pyspark.sql import functions as F  # noqa: N812 (Spark's usual name)
        from pyspark.sql.types import DateType, LongType, StringType, StructField, StructType

        started = time.perf_counter()
        results = {
            s.table.name: _TableResult(store.stored_files(s.table.name), [], 0) for s in sources
        }
        loaded = [s for s in sources if s.day_counts]
        if not loaded:
            return results
        label = "writing " + ", ".join(s.table.name for s in loaded)
        if progress:
            progress(label, 0, 1)
        fields = {f.name: f for s in loaded for f in _spark_schema(s.table).fields}
        key = _merged_key([s.table.key for s in loaded])
        groups: dict[int, tuple[str, str]] = {}
        frames = [self._rows(src, store, fields, groups) for src in loaded]
        ordered = Window.partitionBy("__g", *key).orderBy("__prio", _BLOCK, _ROW)
        first = (
            functools.reduce(lambda a, b: a.unionByName(b), frames)
            # By file group, in as many tasks as adaptive execution finds worth it (a task
            # writes one file per group it holds).
            .repartition("__g")
            .withColumn("__n", F.row_number().over(ordered))
            .where(F.col("__n") == 1)
            .select(*fields, "__g")
        )
        # Required where the schema forbids empty values: what DuckDB writes for these tables.
        schemas = {
            s.table.name: pa.schema(
                [
                    pa.field(c.name, _ARROW_TYPES[c.kind], nullable=c.nullable)
                    for c in s.table.columns
                ]
            )
            for s in loaded
        }
        files_schema = StructType(
            [
                StructField("table", StringType()),
                StructField("path", StringType()),
                StructField("day", DateType()),
                StructField("rows", LongType()),
            ]
        )
        writer = functools.partial(_write_task, groups, schemas, str(staging.resolve()))
        rows = _map_in_arrow(first, writer, files_schema).collect()
        for src in loaded:
            written = [r for r in rows if r["table"] == src.table.name]
            results[src.table.name] = _keep_changed_days(src.table, written, store, staging)
        _share_time(sources, time.perf_counter() - started)
        if progress:
            progress(label, 1, 1)
        return results

    def _rows(
        self,
        src: _Source,
        store: LocationStore,
        fields: dict[str, Any],
        groups: dict[int, tuple[str, str]],
    ) -> DataFrame:
        """One table's rows to write: its typed incoming rows and the stored rows of the days
        they fall on, with the union's columns, file group (added to `groups`) and order."""
        from pyspark.sql import functions as F  # noqa: N812 (Spark's usual name)
        from pyspark.sql.types import DateType, LongType

        table = src.table
        assert table.time_column is not None
        typed_schema = _spark_schema(
            table, [("__day", DateType()), (_BLOCK, LongType()), (_ROW, LongType())]
        )
        # Only the files the check job reported: a failed task attempt's are not read.
        rows = (
            self.spark.read.schema(typed_schema)
            .parquet(*self._typed[table.name])
            .withColumn("__prio", F.lit(1))
        )
        by_day: dict[dt.date, list[StoredFile]] = {}
        for f in store.stored_files(table.name):
            assert f.day is not None
            by_day.setdefault(f.day, []).append(f)
        overlap = [d for d in sorted(src.day_counts) if d in by_day]
        if overlap:
            uris = [_uri(store.path / f.path) for d in overlap for f in by_day[d]]
            stored = (
                self.spark.read.schema(_spark_schema(table))
                .parquet(*uris)
                .select(
                    *table.column_names,
                    F.to_date(F.col(table.time_column)).alias("__day"),
                    F.lit(0).cast("long").alias(_BLOCK),
                    F.lit(0).cast("long").alias(_ROW),
                    F.lit(0).alias("__prio"),
                )
            )
            rows = rows.unionByName(stored)
        own = set(table.column_names)
        return rows.select(
            *[
                F.col(n) if n in own else F.lit(None).cast(f.dataType).alias(n)
                for n, f in fields.items()
            ],
            self._file_groups(src, by_day, groups).alias("__g"),
            "__prio",
            _BLOCK,
            _ROW,
        )

    def _file_groups(
        self,
        src: _Source,
        by_day: dict[dt.date, list[StoredFile]],
        groups: dict[int, tuple[str, str]],
    ) -> SparkColumn:
        """The file each row goes to: a new id in `groups` per day (ascending with person id
        within it), several when a day exceeds `ROWS_PER_FILE` rows: the day is then cut by
        person-id range, so each file holds whole person-days and files never interleave."""
        from pyspark.sql import functions as F  # noqa: N812 (Spark's usual name)

        expr = None
        for day in sorted(src.day_counts):
            base = len(groups)
            rows = src.day_counts[day] + sum(f.rows for f in by_day.get(day, []))
            k = max(1, math.ceil(rows / ROWS_PER_FILE))
            for i in range(k):
                groups[base + i] = (src.table.name, day.isoformat())
            if k == 1:
                value = F.lit(base)
            else:
                low, high = self._person_range[src.table.name][day]
                share = (F.col("person_id") - F.lit(low)) / F.lit(high - low + 1) * F.lit(k)
                bucket = F.least(F.greatest(F.floor(share), F.lit(0)), F.lit(k - 1))
                value = F.lit(base) + bucket.cast("long")
            cond = F.col("__day") == F.lit(day)
            expr = F.when(cond, value) if expr is None else expr.when(cond, value)
        assert expr is not None
        return expr

    # -- the index -------------------------------------------------------------------------

    def index(
        self,
        root: Path,
        tables: dict[str, list[StoredFile]],
        staging: Path,
        progress: Progress | None,
    ) -> dict[str, list[StoredFile]]:
        from epicity.tracing.index_spark import build_index_spark

        return build_index_spark(self.spark, root, tables, staging, progress=progress)


def _merged_key(keys: Sequence[tuple[str, ...]]) -> list[str]:
    """Key columns ordering every table's rows by its own key when the others are empty:
    each key must be a subsequence of the result (record tables: person, time, then the
    place and amount)."""
    merged: list[str] = []
    for key in keys:
        merged += [c for c in key if c not in merged]
    for key in keys:
        positions = [merged.index(c) for c in key]
        assert positions == sorted(positions), (key, merged)
    return merged


def _keep_changed_days(
    table: Table, written: Sequence[Any], store: LocationStore, staging: Path
) -> _TableResult:
    """The table's new file list: staged files replace a stored day only when it gained rows
    (the stored rows come first in every key, so a day without a new key comes out as it was)."""
    existing = store.stored_files(table.name)
    by_day: dict[dt.date, list[StoredFile]] = {}
    for f in existing:
        assert f.day is not None
        by_day.setdefault(f.day, []).append(f)
    staged_by_day: dict[dt.date, list[StoredFile]] = {}
    for r in written:
        staged_by_day.setdefault(r["day"], []).append(StoredFile(r["path"], r["rows"], r["day"]))
    changed: set[dt.date] = set()
    new_files: list[StoredFile] = []
    staged: list[tuple[Path, Path]] = []
    added = 0
    for day, files in staged_by_day.items():
        before = sum(f.rows for f in by_day.get(day, []))
        after = sum(f.rows for f in files)
        if day in by_day and after == before:
            continue
        changed.add(day)
        added += after - before
        new_files += files
        staged += [(staging / f.path, store.path / f.path) for f in files]
    if not changed:
        return _TableResult(existing, [], 0)
    new_files += [f for f in existing if f.day not in changed]
    new_files.sort(key=lambda f: (f.day or dt.date.min, f.path))
    return _TableResult(new_files, staged, added)


def _share_time(sources: Sequence[_Source], seconds: float) -> None:
    """Charge a job that served several tables to each in proportion to its rows."""
    total = sum(s.rows for s in sources)
    for s in sources:
        s.seconds += seconds * (s.rows / total if total else 1 / len(sources))


def _explain_read_failure(
    con: duckdb.DuckDBPyConnection, sources: Sequence[_Source], exc: Exception
) -> None:
    """When Spark could not read a source file, raise the error DuckDB gives for it (the
    DuckDB path's message), else one that names the file. Other failures are not ours."""
    text = str(exc)
    for src in sources:
        path = str(src.path.resolve())
        if path not in text:
            continue
        _validate(con, src)  # raises DuckDB's IngestError when DuckDB rejects the file too
        reason = next((line for line in text.splitlines() if "[" in line), _first_line(exc))
        raise IngestError(src.name, None, None, f"Spark cannot read the file: {reason.strip()}")
