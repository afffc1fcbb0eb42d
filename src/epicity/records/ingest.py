"""Load a directory of table files (CSV or Parquet) into a location store, atomically.

The pipeline, per load:

1. find ``<table>.csv`` / ``<table>.parquet`` files in the source directory;
2. check every file's columns, then run ONE aggregate pass per file that counts each kind of
   bad value (and, for record tables, the rows per UTC day); only when a count is non-zero run
   a slower, order-preserving pass that finds the first offending row for the error message;
3. when every file is valid, write the new files (record tables: only the days that change,
   sorted by person and time, deduplicated on the table key) into a staging directory, move
   them into place, and swap ``manifest.json`` -- the single atomic step that makes the load
   visible. Any failure before the swap leaves the store as it was.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from epicity.records.schema import ALL_TABLES, Column, Kind, Table
from epicity.records.store import (
    LocationStore,
    StoredFile,
    connect_duckdb,
    sql_quote,
    sql_string_list,
)

__all__ = [
    "DUCKDB_RECORDS",
    "IngestError",
    "IngestReport",
    "RecordEngine",
    "TableReport",
    "ingest_directory",
    "load_directory",
]

Progress = Callable[[str, int, int], None]

# An ISO 8601 date-time that ends with an explicit UTC offset (or Z).
_ISO_WITH_OFFSET = (
    r"^\s*\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?\s*([Zz]|[+-]\d{2}(:?\d{2})?)\s*$"
)
_TIME_OF_DAY = r"^([0-3][0-9]|4[0-7]):[0-5][0-9]$"
# Epoch seconds DuckDB can represent (years 1..9999).
_EPOCH_MIN, _EPOCH_MAX = -62_135_596_800, 253_402_300_799
_INTEGER_TYPES = {
    "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT",
    "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT",
}  # fmt: skip
_FLOAT_TYPES = {"FLOAT", "DOUBLE"}
_ZONED_TIMESTAMPS = {"TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ", "TIMESTAMPTZ_NS"}
_NAIVE_TIMESTAMPS = {"TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S"}
_KIND_WORDS = {
    Kind.ID: "an integer",
    Kind.INT: "an integer",
    Kind.FLOAT: "a number",
    Kind.TEXT: "text",
    Kind.BOOL: "true/false",
    Kind.TIMESTAMP: "an ISO 8601 time with offset",
    Kind.DATE: "a date (YYYY-MM-DD)",
    Kind.TIME_OF_DAY: "a time of day HH:MM",
}
_ROW_GROUP_SIZE = 122_880
# DuckDB spills to the staging directory beyond this; one day of a city of a million people
# sorts within it.
MEMORY_LIMIT = "4GB"
# Tables the place-time index is built from.
_INDEX_SOURCES = {"gps", "cell", "card", "entries", "towers", "merchants"}


class IngestError(Exception):
    """A load was rejected; the store is unchanged.

    `file` is the source file name (e.g. ``gps.csv``), `row` the 1-based data row (``None``
    for problems with the file as a whole) and `field` the column concerned, if any.
    """

    def __init__(
        self,
        file: str,
        row: int | None,
        field: str | None,
        message: str,
        *,
        line: int | None = None,
    ) -> None:
        self.file = file
        self.row = row
        self.field = field
        self.line = line
        self.detail = message
        where = file
        if row is not None:
            where += f", row {row}" + (f" (line {line})" if line is not None else "")
        if field is not None:
            where += f", field {field!r}"
        super().__init__(f"{where}: {message}")

    @property
    def message(self) -> str:
        return str(self)


@dataclass(frozen=True)
class TableReport:
    """What a load did to one table."""

    table: str
    file: str
    rows_read: int
    rows_added: int
    rows_total: int
    seconds: float


@dataclass(frozen=True)
class IngestReport:
    """What a load did, per table and overall."""

    store: Path
    tables: tuple[TableReport, ...]
    seconds: float

    @property
    def records(self) -> int:
        return sum(t.rows_read for t in self.tables)

    @property
    def rows_added(self) -> int:
        return sum(t.rows_added for t in self.tables)

    @property
    def records_per_second(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0

    def table(self, name: str) -> TableReport:
        for t in self.tables:
            if t.table == name:
                return t
        raise KeyError(name)


# -- sources ---------------------------------------------------------------------------------


@dataclass
class _Check:
    column: str
    sql: str  # condition over the projected relation (raw values as "__raw_<col>")
    message: Callable[[Any, Any], str]  # (raw value, typed value) -> message


@dataclass
class _Source:
    table: Table
    path: Path
    fmt: str  # "csv" or "parquet"
    raw_cols: dict[str, str] = field(default_factory=dict)  # column -> raw SQL expr
    typed_cols: dict[str, str] = field(default_factory=dict)  # column -> typed SQL expr
    checks: list[_Check] = field(default_factory=list)
    day_counts: dict[dt.date, int] = field(default_factory=dict)
    rows: int = 0
    seconds: float = 0.0
    _header: list[str] = field(default_factory=list)  # CSV column names, in file order

    @property
    def name(self) -> str:
        return self.path.name

    def relation(self, *, numbered: bool = False) -> str:
        """The file as a FROM item; `numbered` adds a 1-based file-order row number `__rn`."""
        path = sql_quote(str(self.path))
        if self.fmt == "parquet":
            if numbered:
                return (
                    f"(SELECT *, file_row_number + 1 AS __rn FROM read_parquet({path}, "
                    "hive_partitioning = false, file_row_number = true))"
                )
            return f"read_parquet({path}, hive_partitioning = false)"
        columns = "{" + ", ".join(f"{sql_quote(c)}: 'VARCHAR'" for c in self._header) + "}"
        rel = (
            f"read_csv({path}, header = true, auto_detect = false, delim = ',', quote = '\"', "
            f"escape = '\"', columns = {columns}, null_padding = false)"
        )
        if numbered:
            return f"(SELECT *, row_number() OVER () AS __rn FROM {rel})"
        return rel

    def projection(self, *, with_raw: bool) -> str:
        parts = [f'{self.typed_cols[c]} AS "{c}"' for c in self.table.column_names]
        if with_raw:
            parts += [f'{self.raw_cols[c]} AS "__raw_{c}"' for c in self.table.column_names]
        return ", ".join(parts)

    def typed_relation(self, *, numbered: bool = False) -> str:
        extra = ", __rn" if numbered else ""
        rel = self.relation(numbered=numbered)
        return f"(SELECT {self.projection(with_raw=False)}{extra} FROM {rel})"


def _discover(source: Path) -> list[tuple[Table, Path, str]]:
    found: list[tuple[Table, Path, str]] = []
    for table in ALL_TABLES:
        csv_path, pq_path = source / f"{table.name}.csv", source / f"{table.name}.parquet"
        has_csv, has_pq = csv_path.is_file(), pq_path.is_file()
        if has_csv and has_pq:
            raise IngestError(
                csv_path.name,
                None,
                None,
                f"both {csv_path.name} and {pq_path.name} are present; keep only one",
            )
        if has_csv:
            found.append((table, csv_path, "csv"))
        elif has_pq:
            found.append((table, pq_path, "parquet"))
    if not found:
        names = ", ".join(f"{t.name}.csv" for t in ALL_TABLES)
        raise IngestError(
            str(source),
            None,
            None,
            f"no table files found (expected some of: {names}, or .parquet)",
        )
    return found


def _fmt_value(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)


def _fmt_num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _prepare(con: duckdb.DuckDBPyConnection, table: Table, path: Path, fmt: str) -> _Source:
    """Read a file's columns and decide how each documented column is typed and checked."""
    src = _Source(table, path, fmt)
    if fmt == "csv":
        with open(path, encoding="utf-8-sig", newline="") as fh:
            header = next(csv.reader(fh), None)
        if header is None:
            raise IngestError(path.name, None, None, "the file is empty (no header line)")
        header = [h.strip() for h in header]
        dupes = sorted({h for h in header if header.count(h) > 1})
        if dupes:
            raise IngestError(path.name, None, dupes[0], "column appears more than once")
        src._header = header
        types = dict.fromkeys(header, "VARCHAR")
    else:
        try:
            rows = con.execute(f"DESCRIBE SELECT * FROM {src.relation()}").fetchall()
        except duckdb.Error as exc:
            raise IngestError(path.name, None, None, f"cannot read Parquet: {exc}") from exc
        types = {str(r[0]): str(r[1]) for r in rows}
    for col in table.columns:
        if col.name not in types:
            if col.required:
                found = ", ".join(types) or "none"
                raise IngestError(
                    path.name,
                    None,
                    col.name,
                    f"missing required column {col.name!r} (found: {found})",
                )
            src.raw_cols[col.name] = "NULL"
            src.typed_cols[col.name] = f"CAST(NULL AS {col.kind.sql})"
            continue
        _plan_column(src, col, types[col.name])
    return src


def _plan_column(src: _Source, col: Column, source_type: str) -> None:
    q = f'"{col.name}"'
    target = col.kind.sql
    raw = q
    parse_check = True
    if source_type == "VARCHAR":
        raw = f"NULLIF(trim({q}), '')"
    if col.kind is Kind.TIMESTAMP:
        if source_type in _ZONED_TIMESTAMPS:
            typed = q if source_type != "TIMESTAMPTZ_NS" else f"CAST({q} AS TIMESTAMPTZ)"
            parse_check = False
        elif source_type in _NAIVE_TIMESTAMPS:
            raise IngestError(
                src.name,
                None,
                col.name,
                f"column type is {source_type} without time zone; store UTC instants "
                "(timestamp with time zone / isAdjustedToUTC) or integer UTC epoch seconds",
            )
        elif source_type in _INTEGER_TYPES or source_type in _FLOAT_TYPES:
            typed = (
                f"CASE WHEN {q} BETWEEN {_EPOCH_MIN} AND {_EPOCH_MAX} THEN to_timestamp({q}) END"
            )
            src.checks.append(
                _Check(
                    col.name,
                    f'"__raw_{col.name}" IS NOT NULL AND NOT '
                    f'("__raw_{col.name}" BETWEEN {_EPOCH_MIN} AND {_EPOCH_MAX})',
                    lambda r, _t: f"{_fmt_value(r)} is out of range for UTC epoch seconds",
                )
            )
            parse_check = False
        elif source_type == "VARCHAR":
            typed = f"TRY_CAST({raw} AS TIMESTAMPTZ)"
        else:
            raise IngestError(
                src.name,
                None,
                col.name,
                f"column type {source_type} cannot hold times; use timestamp with time zone, "
                "UTC epoch seconds or ISO 8601 text with offset",
            )
    elif source_type == target:
        typed = raw
        parse_check = False
    elif source_type in _FLOAT_TYPES and col.kind in (Kind.ID, Kind.INT):
        typed = f"CASE WHEN {q} = trunc({q}) THEN TRY_CAST({q} AS {target}) END"
    else:
        typed = f"TRY_CAST({raw} AS {target})"
    src.raw_cols[col.name] = raw
    src.typed_cols[col.name] = typed
    c_raw, c_typed = f'"__raw_{col.name}"', q  # names in the projected relation

    if not col.nullable:
        src.checks.append(
            _Check(col.name, f"{c_raw} IS NULL", lambda _r, _t: "empty value in a required column")
        )
    if parse_check:
        word = _KIND_WORDS[col.kind]
        src.checks.append(
            _Check(
                col.name,
                f"{c_raw} IS NOT NULL AND {c_typed} IS NULL",
                lambda r, _t, word=word: f"cannot parse {_fmt_value(r)} as {word}",  # type: ignore[misc]
            )
        )
    if col.kind is Kind.TIMESTAMP and source_type == "VARCHAR":
        src.checks.append(
            _Check(
                col.name,
                f"{c_typed} IS NOT NULL AND "
                f"NOT regexp_matches({c_raw}, {sql_quote(_ISO_WITH_OFFSET)})",
                lambda r, _t: (
                    f"{_fmt_value(r)} has no UTC offset; write ISO 8601 times with an offset, "
                    "e.g. 2020-03-02T09:00:00+09:00 or 2020-03-02T00:00:00Z"
                ),
            )
        )
    if col.kind is Kind.FLOAT:
        src.checks.append(
            _Check(
                col.name,
                f"{c_typed} IS NOT NULL AND NOT isfinite({c_typed})",
                lambda _r, t: f"{_fmt_value(t)} is not a finite number",
            )
        )
    if col.minimum is not None or col.maximum is not None:
        conds = []
        if col.minimum is not None:
            conds.append(f"{c_typed} < {col.minimum!r}")
        if col.maximum is not None:
            conds.append(f"{c_typed} > {col.maximum!r}")
        lo = "-inf" if col.minimum is None else _fmt_num(col.minimum)
        hi = "inf" if col.maximum is None else _fmt_num(col.maximum)
        src.checks.append(
            _Check(
                col.name,
                " OR ".join(conds),
                lambda _r, t, lo=lo, hi=hi: f"{_fmt_value(t)} is out of range [{lo}, {hi}]",  # type: ignore[misc]
            )
        )
    if col.choices is not None:
        choices = ", ".join(sql_quote(c) for c in col.choices)
        allowed = ", ".join(col.choices)
        src.checks.append(
            _Check(
                col.name,
                f"{c_typed} NOT IN ({choices})",
                lambda _r, t, allowed=allowed: f"{_fmt_value(t)} is not one of: {allowed}",  # type: ignore[misc]
            )
        )
    if col.kind is Kind.TIME_OF_DAY:
        src.checks.append(
            _Check(
                col.name,
                f"NOT regexp_matches({c_typed}, {sql_quote(_TIME_OF_DAY)})",
                lambda _r, t: f"{_fmt_value(t)} is not a time of day HH:MM (hours 00-47)",
            )
        )
    if col.references is not None:
        ref_table, ref_col = col.references.split(".")
        noun = ref_table.rstrip("s")
        src.checks.append(
            _Check(
                col.name,
                f"{c_typed} IS NOT NULL AND "
                f"{c_typed} NOT IN (SELECT id FROM {_ref_name(ref_table)})",
                lambda _r, t, noun=noun, ref_table=ref_table, ref_col=ref_col: (  # type: ignore[misc]
                    f"unknown {noun} {_fmt_value(t)}: no {ref_table}.{ref_col} with this value "
                    "in this load or in the store"
                ),
            )
        )


def _ref_name(table: str) -> str:
    return f"__ref_{table}"


# -- validation ------------------------------------------------------------------------------


def _validate(con: duckdb.DuckDBPyConnection, src: _Source) -> None:
    """One aggregate pass counting every kind of problem (and rows per day)."""
    try:
        rows = con.execute(_check_query(src, src.relation())).fetchall()
    except duckdb.Error as exc:
        raise IngestError(
            src.name, None, None, f"cannot read the file: {_first_line(exc)}"
        ) from exc
    _raise_first_problem(con, src, _tally(src, rows))
    if not src.table.partitioned:
        _check_conflicting_keys(con, src)


def _check_query(src: _Source, relation: str, extra: Sequence[str] = ()) -> str:
    """The aggregate over `relation` (the file, or a batch of it on another engine): rows and
    failures of each check (in `src.checks` order), per UTC day for record tables, then `extra`.
    """
    inner = f"(SELECT {src.projection(with_raw=True)} FROM {relation}) s"
    counts = [f"count(*) FILTER (WHERE {c.sql})" for c in src.checks]
    select = ", ".join(["count(*)", *counts, *extra])
    if src.table.time_column is not None:
        day = f'CAST("{src.table.time_column}" AS DATE)'
        return f"SELECT {day} AS __day, {select} FROM {inner} GROUP BY ALL"
    return f"SELECT {select} FROM {inner}"


def _tally(src: _Source, rows: Sequence[Sequence[Any]]) -> list[int]:
    """Add `_check_query` result rows (any number per day) to `src`; the failures per check."""
    offset = 1 if src.table.time_column is not None else 0
    totals = [0] * len(src.checks)
    for r in rows:
        for i in range(len(src.checks)):
            totals[i] += int(r[offset + 1 + i])
        src.rows += int(r[offset])
        if offset and r[0] is not None:
            src.day_counts[r[0]] = src.day_counts.get(r[0], 0) + int(r[1])
    return totals


def _raise_first_problem(
    con: duckdb.DuckDBPyConnection, src: _Source, totals: Sequence[int]
) -> None:
    """When a check failed, find the first bad row in file order and raise its error."""
    failing = [c for c, n in zip(src.checks, totals, strict=True) if n > 0]
    if failing:
        _locate(con, src, failing)


def _key_columns(batch: pa.RecordBatch) -> list[np.ndarray[Any, Any]]:
    """A batch's key columns as NumPy values that compare like the columns."""
    out = []
    for column in batch.columns:
        if pa.types.is_timestamp(column.type):
            column = column.cast(pa.int64())
        out.append(np.asarray(column.to_numpy(zero_copy_only=False)))
    return out


def _drop_adjacent_duplicates(path: Path, key: Sequence[str]) -> int | None:
    """In a file sorted by key (then by preference), keep the first row of each key.

    Streams the file batch by batch. Returns None when it holds no duplicates (the usual case:
    the file is left as it is), else rewrites it and returns the rows kept.
    """
    source = pq.ParquetFile(path)
    keep_masks: list[np.ndarray[Any, Any]] = []
    previous: list[Any] | None = None
    for batch in source.iter_batches(columns=list(key), batch_size=1 << 20):
        columns = _key_columns(batch)
        same = np.ones(batch.num_rows, dtype=bool)
        for i, c in enumerate(columns):
            first = previous[i] if previous is not None else c[:1]
            same &= np.concatenate([np.asarray(first).reshape(-1)[:1], c[:-1]]) == c
        if previous is None and batch.num_rows:
            same[0] = False  # the file's first row has nothing before it
        keep_masks.append(~same)
        previous = [c[-1] for c in columns] if batch.num_rows else previous
    if all(m.all() for m in keep_masks):
        return None
    tmp = path.with_suffix(".dedupe.parquet")
    kept = 0
    with pq.ParquetWriter(tmp, source.schema_arrow, compression="zstd") as writer:
        for batch, keep in zip(source.iter_batches(batch_size=1 << 20), keep_masks, strict=True):
            filtered = batch.filter(pa.array(keep))
            kept += filtered.num_rows
            writer.write_batch(filtered, row_group_size=_ROW_GROUP_SIZE)
    os.replace(tmp, path)
    return kept


def _locate(con: duckdb.DuckDBPyConnection, src: _Source, failing: Sequence[_Check]) -> None:
    """The slow pass: find the first row (in file order) with a problem and raise."""
    inner = f"(SELECT {src.projection(with_raw=True)}, __rn FROM {src.relation(numbered=True)}) s"
    flags = ", ".join(f"({c.sql}) AS __f{i}" for i, c in enumerate(failing))
    values = ", ".join(f'"__raw_{c.column}", "{c.column}"' for c in failing)
    where = " OR ".join(f"({c.sql})" for c in failing)
    sql = f"SELECT __rn, {flags}, {values} FROM {inner} WHERE {where} ORDER BY __rn LIMIT 1"
    con.execute("SET threads = 1")
    try:
        row = con.execute(sql).fetchone()
    finally:
        con.execute(f"SET threads = {_threads()}")
    if row is None:  # pragma: no cover - the aggregate pass said there is one
        raise IngestError(src.name, None, failing[0].column, "invalid values")
    rn = int(row[0])
    flagged = row[1 : 1 + len(failing)]
    vals = row[1 + len(failing) :]
    order = {name: i for i, name in enumerate(src.table.column_names)}
    hits = [i for i, f in enumerate(flagged) if f]
    hits.sort(key=lambda i: order[failing[i].column])  # first field in documented order
    i = hits[0]
    check = failing[i]
    raise _row_error(src, rn, check.column, check.message(vals[2 * i], vals[2 * i + 1]))


def _row_error(src: _Source, row: int, column: str | None, message: str) -> IngestError:
    line = row + 1 if src.fmt == "csv" else None
    return IngestError(src.name, row, column, message, line=line)


def _check_conflicting_keys(con: duckdb.DuckDBPyConnection, src: _Source) -> None:
    """Reference tables: one row per key (exact repeats are fine, contradictions are not)."""
    table = src.table
    others = [c for c in table.column_names if c not in table.key]
    if not others:
        return
    key = ", ".join(f'"{k}"' for k in table.key)
    cols = ", ".join(f'"{c}"' for c in table.column_names)
    n = con.execute(
        f"SELECT count(*) FROM (SELECT {key} FROM (SELECT DISTINCT {cols} FROM "
        f"{src.typed_relation()}) GROUP BY ALL HAVING count(*) > 1)"
    ).fetchone()
    if not n or not n[0]:
        return
    on = " AND ".join(f't."{k}" = f."{k}"' for k in table.key)
    differs = " OR ".join(f't."{c}" IS DISTINCT FROM f."{c}"' for c in others)
    tcols = ", ".join(f't."{c}"' for c in others)
    fcols = ", ".join(f'f."{c}"' for c in others)
    tkeys = ", ".join(f't."{k}"' for k in table.key)
    sql = (
        f"WITH t AS (SELECT * FROM {src.typed_relation(numbered=True)}), "
        f"f AS (SELECT DISTINCT ON ({key}) * FROM t ORDER BY {key}, __rn) "
        f"SELECT t.__rn, f.__rn, {tkeys}, "
        f"{tcols}, {fcols} FROM t JOIN f ON {on} WHERE {differs} ORDER BY t.__rn LIMIT 1"
    )
    con.execute("SET threads = 1")
    try:
        row = con.execute(sql).fetchone()
    finally:
        con.execute(f"SET threads = {_threads()}")
    assert row is not None
    rn, first = int(row[0]), int(row[1])
    nk = len(table.key)
    keyvals = row[2 : 2 + nk]
    mine, theirs = row[2 + nk : 2 + nk + len(others)], row[2 + nk + len(others) :]
    col = next(c for c, a, b in zip(others, mine, theirs, strict=True) if a != b)
    key_desc = ", ".join(f"{k}={_fmt_value(v)}" for k, v in zip(table.key, keyvals, strict=True))
    first_desc = f"row {first}" + (f" (line {first + 1})" if src.fmt == "csv" else "")
    i = others.index(col)
    raise _row_error(
        src,
        rn,
        col,
        f"duplicate key {key_desc} with a different value: {_fmt_value(mine[i])} here, "
        f"{_fmt_value(theirs[i])} on {first_desc}",
    )


def _build_reference(
    con: duckdb.DuckDBPyConnection,
    ref_table: str,
    ref_col: str,
    sources: dict[str, _Source],
    store: LocationStore,
) -> None:
    parts = []
    if ref_table in sources:
        parts.append(f'SELECT "{ref_col}" AS id FROM {sources[ref_table].typed_relation()}')
    files = [str(p) for p in store.files(ref_table)]
    if files:
        parts.append(
            f'SELECT "{ref_col}" AS id FROM read_parquet({sql_string_list(files)}, '
            "hive_partitioning = false)"
        )
    body = " UNION ".join(parts) if parts else "SELECT CAST(NULL AS BIGINT) AS id WHERE false"
    con.execute(f"CREATE OR REPLACE TEMP TABLE {_ref_name(ref_table)} AS {body}")


# -- writing ---------------------------------------------------------------------------------


@dataclass
class _TableResult:
    files: list[StoredFile]  # the table's complete new file list
    staged: list[tuple[Path, Path]]  # (staging path, final path) to move into place
    rows_added: int


def _existing_relation(files: Sequence[StoredFile], store: LocationStore, table: Table) -> str:
    cols = ", ".join(f'"{c}"' for c in table.column_names)
    paths = [str(store.path / f.path) for f in files]
    return f"(SELECT {cols} FROM read_parquet({sql_string_list(paths)}, hive_partitioning = false))"


def _write_reference(
    con: duckdb.DuckDBPyConnection,
    src: _Source,
    store: LocationStore,
    staging: Path,
) -> _TableResult:
    table = src.table
    existing = store.stored_files(table.name)
    before = sum(f.rows for f in existing)
    cols = ", ".join(f'"{c}"' for c in table.column_names)
    key = ", ".join(f'"{k}"' for k in table.key)
    incoming = src.typed_relation()
    if src.rows == 0:
        return _TableResult(existing, [], 0)
    if existing:
        old = _existing_relation(existing, store, table)
        new = con.execute(
            f"SELECT count(*) FROM (SELECT {cols} FROM {incoming} EXCEPT SELECT {cols} FROM {old})"
        ).fetchone()
        if not new or not new[0]:
            return _TableResult(existing, [], 0)  # nothing new: keep the files as they are
        match = " AND ".join(f'i."{k}" = e."{k}"' for k in table.key)
        body = (
            f"SELECT DISTINCT {cols} FROM {incoming} UNION ALL SELECT {cols} FROM {old} e "
            f"WHERE NOT EXISTS (SELECT 1 FROM {incoming} i WHERE {match})"
        )
    else:
        body = f"SELECT DISTINCT {cols} FROM {incoming}"
    name = f"part-{uuid.uuid4()}.parquet"
    out = staging / table.name / name
    out.parent.mkdir(parents=True, exist_ok=True)
    res = con.execute(
        f"COPY (SELECT {cols} FROM ({body}) ORDER BY {key}) TO {sql_quote(str(out))} "
        f"(FORMAT parquet, COMPRESSION zstd)"
    ).fetchone()
    rows = int(res[0]) if res else 0
    final = store.path / table.name / name
    rel = f"{table.name}/{name}"
    return _TableResult([StoredFile(rel, rows)], [(out, final)], rows - before)


def _in_day(ts: str, day: dt.date) -> str:
    """A filter on one UTC day that Parquet row-group statistics can prune with."""
    following = day + dt.timedelta(days=1)
    return (
        f"{ts} >= TIMESTAMPTZ '{day.isoformat()} 00:00:00+00' "
        f"AND {ts} < TIMESTAMPTZ '{following.isoformat()} 00:00:00+00'"
    )


def _write_records(
    con: duckdb.DuckDBPyConnection,
    src: _Source,
    store: LocationStore,
    staging: Path,
    progress: Progress | None,
) -> _TableResult:
    table = src.table
    assert table.time_column is not None
    ts = f'"{table.time_column}"'
    cols = ", ".join(f'"{c}"' for c in table.column_names)
    key_cols = [f'"{k}"' for k in table.key]
    existing = store.stored_files(table.name)
    by_day: dict[dt.date, list[StoredFile]] = {}
    for f in existing:
        assert f.day is not None
        by_day.setdefault(f.day, []).append(f)

    # Which days change: new days always; days already stored only if a key is new.
    overlap = sorted(d for d in src.day_counts if d in by_day)
    changed: set[dt.date] = {d for d in src.day_counts if d not in by_day}
    using = ", ".join(key_cols)
    for n, day in enumerate(overlap):
        # One day at a time: the join's hash table holds one day, not the whole store.
        if progress:
            progress(f"comparing {src.name} with the store", n, len(overlap))
        old = _existing_relation(by_day[day], store, table)
        new_keys = con.execute(
            f"SELECT count(*) FROM (SELECT {cols} FROM {src.typed_relation()} "
            f"WHERE {_in_day(ts, day)}) i ANTI JOIN {old} e USING ({using})"
        ).fetchall()[0][0]
        if new_keys:
            changed.add(day)
    if overlap and progress:
        progress(f"comparing {src.name} with the store", len(overlap), len(overlap))
    if not changed:
        return _TableResult(existing, [], 0)

    # Each changed day is written on its own, so memory is bounded by one day, not the load.
    # A CSV is parsed once into a Parquet copy first; a Parquet input grouped by day (as the
    # generator writes it) is then read only where its row groups hold that day.
    incoming = src.typed_relation(numbered=True)
    if src.fmt == "csv":
        copy = staging / f"__incoming-{table.name}.parquet"
        con.execute(
            f"COPY (SELECT {cols}, __rn FROM {incoming}) TO {sql_quote(str(copy))} "
            f"(FORMAT parquet, COMPRESSION zstd)"
        )
        incoming = f"read_parquet({sql_quote(str(copy))})"
    keys = ", ".join(key_cols)
    new_files: list[StoredFile] = [f for f in existing if f.day not in changed]
    staged: list[tuple[Path, Path]] = []
    added = 0
    days = sorted(changed)
    for n, day in enumerate(days):
        if progress:
            progress(f"writing {table.name}", n, len(days))
        in_day = _in_day(ts, day)
        replaced = by_day.get(day, [])
        parts = [f"SELECT {cols}, 1 AS __prio, __rn FROM {incoming} WHERE {in_day}"]
        if replaced:
            paths = sql_string_list([str(store.path / f.path) for f in replaced])
            parts.append(
                f"SELECT {cols}, 0 AS __prio, file_row_number AS __rn FROM "
                f"read_parquet({paths}, hive_partitioning = false, file_row_number = true)"
            )
        # Sorted by key, and within a key stored rows first, then file order: the first row
        # of each key is the one to keep (dropped afterwards, in one streaming pass, only when
        # a key repeats). A sort is far cheaper here than a dedupe window or DISTINCT ON.
        query = f"SELECT {cols} FROM ({' UNION ALL '.join(parts)}) ORDER BY {keys}, __prio, __rn"
        name = f"part-{uuid.uuid4()}.parquet"
        rel = f"{table.name}/day={day.isoformat()}/{name}"
        out = staging / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        res = con.execute(
            f"COPY ({query}) TO {sql_quote(str(out))} "
            f"(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {_ROW_GROUP_SIZE})"
        ).fetchone()
        written = int(res[0]) if res else 0
        deduplicated = _drop_adjacent_duplicates(out, table.key)
        if deduplicated is not None:
            written = deduplicated
        added += written - sum(f.rows for f in replaced)
        new_files.append(StoredFile(rel, written, day))
        staged.append((out, store.path / rel))
    if progress:
        progress(f"writing {table.name}", len(days), len(days))
    new_files.sort(key=lambda f: (f.day or dt.date.min, f.path))
    return _TableResult(new_files, staged, added)


# -- the whole load --------------------------------------------------------------------------


def _threads() -> int:
    return max(1, os.cpu_count() or 1)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def ingest_directory(
    source: Path,
    store_path: Path,
    *,
    progress: Progress | None = None,
    index: bool = True,
) -> IngestReport:
    """Validate every table file in `source`, then load them all into the store at once.

    With `index` (the default), a load that changes location records or places also rebuilds
    the place-time index tracing reads (`epicity.tracing.index`), in the same commit.

    Raises `IngestError` (store unchanged) when a file is missing a column, holds a value
    that does not parse or breaks a rule of `epicity.records.schema`.
    """
    return load_directory(DUCKDB_RECORDS, source, store_path, progress=progress, index=index)


RecordValidator = Callable[
    [duckdb.DuckDBPyConnection, Sequence[_Source], Path, Progress | None], None
]


@dataclass(frozen=True)
class RecordEngine:
    """The engine-specific part of a load: checking, writing and indexing the record tables
    (gps, cell, card, entries). Everything else -- finding and planning the files, reference
    tables, staging, moving files into place, the commit and clean-up -- is `load_directory`.
    """

    # Check a run of consecutive record sources (schema order): fill each source's `rows`
    # and `day_counts`, raise the `IngestError` the DuckDB path raises; the staging directory
    # may keep what `write` needs. None: `_validate` one source at a time.
    validate: RecordValidator | None
    # Stage the record sources' new files: table name -> result.
    write: Callable[
        [duckdb.DuckDBPyConnection, Sequence[_Source], LocationStore, Path, Progress | None],
        dict[str, _TableResult],
    ]
    # `epicity.tracing.index.build_index`'s contract: (root, tables, staging, progress).
    build_index: Callable[
        [Path, dict[str, list[StoredFile]], Path, Progress | None], dict[str, list[StoredFile]]
    ]


def _write_each(
    con: duckdb.DuckDBPyConnection,
    sources: Sequence[_Source],
    store: LocationStore,
    staging: Path,
    progress: Progress | None,
) -> dict[str, _TableResult]:
    results = {}
    for src in sources:
        t0 = time.perf_counter()
        results[src.table.name] = _write_records(con, src, store, staging, progress)
        src.seconds += time.perf_counter() - t0
    return results


def _build_index_duckdb(
    root: Path,
    tables: dict[str, list[StoredFile]],
    staging: Path,
    progress: Progress | None,
) -> dict[str, list[StoredFile]]:
    from epicity.tracing.index import build_index

    return build_index(root, tables, staging, progress=progress)


DUCKDB_RECORDS = RecordEngine(validate=None, write=_write_each, build_index=_build_index_duckdb)


def load_directory(
    engine: RecordEngine,
    source: Path,
    store_path: Path,
    *,
    progress: Progress | None = None,
    index: bool = True,
) -> IngestReport:
    """`ingest_directory` with the record tables checked, written and indexed by `engine`
    (reference tables always by DuckDB, on this machine: they are small)."""
    started = time.perf_counter()
    source = Path(source)
    if not source.is_dir():
        raise IngestError(str(source), None, None, "not a directory")
    found = _discover(source)
    store = LocationStore.create_or_open(Path(store_path))
    with store.write_lock():
        store.reload()
        staging = store.new_staging_dir()
        moved: list[Path] = []
        committed = False
        try:
            con = connect_duckdb(
                threads=_threads(),
                preserve_insertion_order=True,
                memory_limit=MEMORY_LIMIT,
                temp_directory=str(staging / "duckdb-tmp"),
            )
            try:
                sources = _validate_all(con, found, store, progress, engine.validate, staging)
                results: dict[str, _TableResult] = {}
                for src in sources:
                    if not src.table.partitioned:
                        t0 = time.perf_counter()
                        results[src.table.name] = _write_reference(con, src, store, staging)
                        src.seconds += time.perf_counter() - t0
                records = [s for s in sources if s.table.partitioned]
                if records:
                    results.update(engine.write(con, records, store, staging, progress))
            finally:
                con.close()
            tables = {name: store.stored_files(name) for name in store.tables()}
            changed = False
            for name, res in results.items():
                for tmp, final in res.staged:
                    final.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(tmp, final)
                    moved.append(final)
                if res.staged or res.files != tables.get(name, []):
                    changed = True
                tables[name] = res.files
            reloaded = _INDEX_SOURCES & {n for n, r in results.items() if r.staged}
            if index and (reloaded or _index_outdated(store, tables)):
                # Derived data rides in the same commit: the index never lags the records
                # (nor the thresholds: an index built with other ones is rebuilt too).
                changed = True
                built = engine.build_index(store.path, tables, staging, progress)
                for name, index_files in built.items():
                    for stored in index_files:
                        target = store.path / stored.path
                        target.parent.mkdir(parents=True, exist_ok=True)
                        os.replace(staging / stored.path, target)
                        moved.append(target)
                    tables[name] = index_files
            if changed:
                store.commit(tables)  # the atomic step
            committed = True
        except BaseException:
            if not committed:
                for f in moved:
                    f.unlink(missing_ok=True)
            raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            if committed:
                store.collect_garbage()
            else:
                _remove_empty_dirs(store, moved)
    reports = tuple(
        TableReport(
            table=src.table.name,
            file=src.name,
            rows_read=src.rows,
            rows_added=results[src.table.name].rows_added,
            rows_total=store.row_count(src.table.name),
            seconds=src.seconds,
        )
        for src in sources
    )
    return IngestReport(store.path, reports, time.perf_counter() - started)


def _index_outdated(store: LocationStore, tables: dict[str, list[StoredFile]]) -> bool:
    """Whether the store has location records but no index, or one built with thresholds
    other than tracing's current defaults."""
    if not any(tables.get(t) for t in ("gps", "cell", "card", "entries")):
        return False
    settings = tables.get("index_settings")
    if not settings:
        return True
    from epicity.tracing.config import TracingConfig
    from epicity.tracing.index import read_settings

    row = pq.read_table(store.path / settings[0].path).to_pylist()[0]
    return read_settings(row).mismatch(TracingConfig()) is not None


def _validate_all(
    con: duckdb.DuckDBPyConnection,
    found: Sequence[tuple[Table, Path, str]],
    store: LocationStore,
    progress: Progress | None,
    validate_records: RecordValidator | None = None,
    staging: Path | None = None,
) -> list[_Source]:
    # Cheap checks (columns, types) for every file before any data is scanned.
    sources: list[_Source] = []
    for table, path, fmt in found:
        t0 = time.perf_counter()
        src = _prepare(con, table, path, fmt)
        src.seconds += time.perf_counter() - t0
        sources.append(src)
    by_name = {s.table.name: s for s in sources}
    built: set[str] = set()
    pending: list[_Source] = []  # consecutive record sources, checked together by the engine
    for i, src in enumerate(sources):
        t0 = time.perf_counter()
        for col in src.table.columns:
            if col.references and col.references not in built:
                ref_table, ref_col = col.references.split(".")
                _build_reference(con, ref_table, ref_col, by_name, store)
                built.add(col.references)
        if validate_records is not None and src.table.partitioned:
            src.seconds += time.perf_counter() - t0
            pending.append(src)
            following = sources[i + 1] if i + 1 < len(sources) else None
            if following is None or not following.table.partitioned:
                assert staging is not None
                validate_records(con, pending, staging, progress)  # errors in schema order
                pending = []
            continue
        if progress:
            progress(f"checking {src.name}", i, len(sources))
        _validate(con, src)
        src.seconds += time.perf_counter() - t0
    if progress:
        progress("checked", len(sources), len(sources))
    return sources


def _remove_empty_dirs(store: LocationStore, moved: Sequence[Path]) -> None:
    for f in moved:
        for d in (f.parent, f.parent.parent):
            if d != store.path and d.is_dir() and not any(d.iterdir()):
                d.rmdir()
