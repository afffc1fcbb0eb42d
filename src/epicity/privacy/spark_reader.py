"""The location reader on Apache Spark: the same audited SELECTs as `LocationReader`.

`LocationAccess.open(..., engine="spark")` yields a `SparkLocationReader`. Tracing's queries
are written once, in DuckDB's SQL; each one here is

1. checked by the same code as on DuckDB (`check_query`: one SELECT, allowed table
   functions, which location tables it refers to, for the audit);
2. bound by DuckDB with its parameters and inputs, which gives the result's column names and
   types without reading a row (``LIMIT 0``; the store's Parquet footers only);
3. translated to Spark SQL (`epicity.privacy.spark_sql`) and run by Spark over the same
   Parquet files, listed by the store's manifest; the caller's inputs (a day of cases' keys
   and ids, always small) are broadcast to every task, so a crowded place-hour (a station at
   rush hour) is read where it lies instead of being shuffled to one straggler task;
4. returned as Arrow, cast to the names and types DuckDB gives (Spark's differ: ``count(*)``
   is ``count(1)``, an integer literal's width, a sum's precision, ...).

So both engines return equal tables for the same query, and tracing's results are identical.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa
import sqlglot.errors
from sqlglot import exp

from epicity.privacy.access import AuditedReader, Params, sandbox, store_schema
from epicity.privacy.errors import PrivacyError, QueryRefused
from epicity.privacy.spark_sql import bind_parameters, parse_duckdb, to_spark
from epicity.records.store import LocationStore

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["SparkLocationReader"]

# A store's tables list their files one by one (the manifest): Spark then checks each path, in
# a Spark job per table beyond this many paths unless raised while the tables are opened.
_LISTING_KEY = "spark.sql.sources.parallelPartitionDiscovery.threshold"
_LISTING_ON_DRIVER = 100_000


@dataclass
class _Frames:
    """A store's tables as Spark DataFrames, for one manifest version and one session."""

    stamp: tuple[int, int, int]
    spark: SparkSession
    frames: dict[str, DataFrame]


_FRAMES: weakref.WeakKeyDictionary[LocationStore, _Frames] = weakref.WeakKeyDictionary()
_FRAMES_LOCK = threading.Lock()


def _manifest_stamp(store: LocationStore) -> tuple[int, int, int]:
    try:
        st = store.manifest_path.stat()
    except FileNotFoundError:
        return (0, 0, 0)
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _store_frames(
    store: LocationStore, spark: SparkSession, con: duckdb.DuckDBPyConnection
) -> dict[str, DataFrame]:
    """The store's tables on Spark, built once per manifest version (opening them lists and
    checks every file, which costs more than a small query)."""
    stamp = _manifest_stamp(store)
    with _FRAMES_LOCK:
        cached = _FRAMES.get(store)
        if cached is not None and cached.stamp == stamp and cached.spark is spark:
            return cached.frames
        previous = spark.conf.get(_LISTING_KEY)
        spark.conf.set(_LISTING_KEY, _LISTING_ON_DRIVER)
        try:
            frames = {name: _frame(store, spark, con, name) for name in store.tables()}
        finally:
            if previous is None:
                spark.conf.unset(_LISTING_KEY)
            else:
                spark.conf.set(_LISTING_KEY, previous)
        _FRAMES[store] = _Frames(stamp, spark, frames)
        return frames


def _frame(
    store: LocationStore, spark: SparkSession, con: duckdb.DuckDBPyConnection, name: str
) -> DataFrame:
    """One table over the manifest's files, with the columns and types of its DuckDB view
    (`LocationStore.connect`): an hour-partitioned index table gets ``hour`` (BIGINT) from
    its directory names, as DuckDB's hive partitioning gives it."""
    from pyspark.sql.pandas.types import from_arrow_schema
    from pyspark.sql.types import StructField, StructType

    columns = con.table(name).limit(0).to_arrow_table().schema
    schema = from_arrow_schema(columns, prefer_timestamp_ntz=False)
    schema = StructType([StructField(f.name, f.dataType, True) for f in schema.fields])
    root = store.path.resolve()
    files = [str(root / f.path) for f in store.stored_files(name)]
    read = spark.read.schema(schema)
    if "/hour=" in files[0]:
        read = read.option("basePath", str(root / name))
    return read.parquet(*files).select(*columns.names)


class SparkLocationReader(AuditedReader):
    """Runs SELECT queries on the location store with Apache Spark, for one audited access;
    the same interface and results as `LocationReader` (see the module docstring)."""

    __slots__ = ("_con", "_inputs", "_prefix", "_schema", "_spark", "_views")

    def __init__(self, store: LocationStore, spark: SparkSession) -> None:
        super().__init__()
        # DuckDB parses (the check) and binds (the result's types) each query; Spark runs it.
        self._con: duckdb.DuckDBPyConnection | None = store.shared_cursor(sandbox(store))
        self._spark = spark
        self._schema: dict[str, list[str]] | None = None
        self._inputs = 0
        frames = _store_frames(store, spark, self._con)
        # Views private to this reader: other readers (other stores, other versions of this
        # one) use the same session.
        self._prefix = f"epicity_{uuid.uuid4().hex[:16]}_"
        self._views = {name: f"{self._prefix}{name}" for name in frames}
        for name, view in self._views.items():
            frames[name].createOrReplaceTempView(view)

    def schema(self) -> dict[str, list[str]]:
        """The stored tables and their columns: metadata only, no rows, not counted."""
        if self._schema is None:
            self._schema = store_schema(self._connection())
        return {k: list(v) for k, v in self._schema.items()}

    def query(
        self, sql: str, params: Params = None, inputs: Mapping[str, pa.Table] | None = None
    ) -> pa.Table:
        """Run one SELECT (parameters as ``?``/``$1`` list or ``$name`` dict); an Arrow table
        with the column names and types DuckDB gives.

        `inputs` are the caller's own tables, visible to the query under their names for its
        duration (broadcast to Spark's tasks); they cannot shadow a stored table.
        """
        with self._prepared(sql, params, inputs) as (frame, expected):
            table = frame.toArrow()
        result = _conform(table, expected)
        self._rows += result.num_rows
        return result

    def explain(
        self, sql: str, params: Params = None, inputs: Mapping[str, pa.Table] | None = None
    ) -> str:
        """Spark's physical plan for a query, without running it (checked like a query, no
        rows read): to see which joins broadcast."""
        with self._prepared(sql, params, inputs) as (frame, _):
            return str(frame._jdf.queryExecution().executedPlan().toString())

    @contextlib.contextmanager
    def _prepared(
        self, sql: str, params: Params, inputs: Mapping[str, pa.Table] | None
    ) -> Iterator[tuple[DataFrame, pa.Schema]]:
        from pyspark.sql.functions import broadcast

        con = self._connection()
        inputs = dict(inputs or {})
        if inputs:
            self._check_inputs(inputs)
        self._check(con, sql)
        try:
            tree = bind_parameters(parse_duckdb(sql), params)
        except (sqlglot.errors.SqlglotError, ValueError) as exc:
            raise QueryRefused(f"this query cannot be translated for Spark: {exc}") from None
        expected = _duckdb_result_schema(con, sql if not params else tree, inputs)
        self._inputs += 1
        names = {name.lower(): f"{self._prefix}in{self._inputs}_{name.lower()}" for name in inputs}
        try:
            spark_sql = to_spark(tree, {**self._views, **names}, small=names)
        except (sqlglot.errors.SqlglotError, KeyError) as exc:
            raise QueryRefused(f"this query cannot be translated for Spark: {exc}") from None
        registered: list[str] = []
        try:
            for name, table in inputs.items():
                view = names[name.lower()]
                broadcast(self._spark.createDataFrame(table)).createOrReplaceTempView(view)
                registered.append(view)
            yield self._spark.sql(spark_sql), expected
        finally:
            for view in registered:
                self._spark.catalog.dropTempView(view)

    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            raise PrivacyError("this location reader is closed; open a new one")
        return self._con

    def close(self) -> None:
        """Drop this reader's Spark views and close its DuckDB cursor (further queries raise
        `PrivacyError`)."""
        if self._con is not None:
            for view in self._views.values():
                self._spark.catalog.dropTempView(view)
            self._con.close()
            self._con = None


def _duckdb_result_schema(
    con: duckdb.DuckDBPyConnection, query: str | exp.Expression, inputs: Mapping[str, pa.Table]
) -> pa.Schema:
    """The Arrow schema DuckDB gives the query's result, bound but not run (``LIMIT 0``).

    A query with parameters comes with them bound as literals: a prepared statement would
    run in full before its LIMIT.
    """
    sql = query if isinstance(query, str) else query.sql(dialect="duckdb")
    for name, table in inputs.items():
        con.register(name, table)
    try:
        schema: pa.Schema = con.sql(sql).limit(0).to_arrow_table().schema
    finally:
        for name in inputs:
            con.unregister(name)
    return schema


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Spark's result with DuckDB's column names and types (a safe cast: a value that would
    change raises)."""
    if table.num_columns != len(schema):
        raise RuntimeError(
            f"Spark returned {table.num_columns} columns where DuckDB gives {len(schema)}"
        )
    return table.rename_columns(schema.names).cast(schema)
