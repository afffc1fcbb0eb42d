"""The place-time index: everyone's GPS stays, venue visits and cell runs, keyed by place and hour.

A case's contacts are the people at the case's places at the case's times. Stored by person
(as ingest writes them), finding them means scanning everyone's records of the window. The
index stores the same facts a second time, sorted by a key that joins a place and an hour::

    key = hour << 36 | place        hour = epoch seconds // 3600

where the place is a 0.002 x 0.0025 degree grid cell (about 220 m in Seoul) for GPS stays, the
merchant for visits and the tower for cell runs. A stay or run is listed once for every hour
it overlaps, so looking up the keys of a case's places and hours finds every record that can
overlap them, whatever cell, hour or day boundary they straddle. With the hour in the high bits,
a key's rows lie in one day's file and one or two row groups; DuckDB checks the keys of a
``key IN (...)`` list against each row group's min/max and reads only the groups holding them.

Tables (one partition per hour, ``TABLE/hour=H/part-*.parquet``, sorted by key; the view has
the hour as a column, so a filter on it opens only those hours' files):

- ``stay_index``: GPS stays of everyone with ``stay_min_duration_s = 0`` (a contact's single
  fix counts), computed over each person's whole track, so a stay crossing midnight is one stay.
- ``visit_index``: card payments and visitor-log entries by merchant and hour.
- ``cell_runs_index``: runs of connection records at one tower (see `stays.cell_runs`).
- ``index_settings``: the thresholds the stays and runs were built with; tracing refuses an
  index built with other thresholds.

The index is derived data: ingest rebuilds it with every load, in the same atomic commit.
`build_index` builds it on DuckDB, a day at a time; `epicity.tracing.index_spark` builds the
same tables on Spark. Both compute rows with `stay_index_rows`, `cell_runs_index_rows` and
`visit_index_rows` and write files with `HourFile`.
"""

from __future__ import annotations

import datetime as dt
import itertools
import multiprocessing
import os
import shutil
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import NDArray

from epicity.geo import LocalProjection
from epicity.records.store import (
    LocationStore,
    StoredFile,
    connect_duckdb,
    sql_quote,
    sql_string_list,
)
from epicity.spark import check_engine
from epicity.tracing.config import TracingConfig
from epicity.tracing.stays import (
    CELL_RUN_GAP_S,
    cell_links,
    cell_runs,
    gps_links,
    gps_stays,
)

__all__ = [
    "CELL_DEG_LAT",
    "CELL_DEG_LON",
    "HOUR",
    "INDEX_SCHEMAS",
    "PLACE_BITS",
    "HourFile",
    "IndexSettings",
    "build_index",
    "cell_runs_index_rows",
    "epoch_seconds",
    "gps_xy",
    "grid_cells_near",
    "grid_cells_near_many",
    "hour_keys",
    "hour_keys_many",
    "place_key",
    "read_settings",
    "rebuild_index",
    "reference_projection",
    "stay_index_rows",
    "store_projection",
    "visit_index_rows",
    "write_settings",
]

HOUR = 3600
DAY_S = 86_400
PLACE_BITS = 36
_PLACE_MASK = (1 << PLACE_BITS) - 1
CELL_DEG_LAT = 0.002
CELL_DEG_LON = 0.0025
_GRID_COLUMNS = round(360 / CELL_DEG_LON)  # cells per row of the global grid
_LAT_OFFSET = round(90 / CELL_DEG_LAT)
_LON_OFFSET = round(180 / CELL_DEG_LON)
_ROW_GROUP_SIZE = 32_768  # small groups: a key's rows are read with few neighbours
Progress = Callable[[str, int, int], None]
I64 = NDArray[np.int64]


@dataclass(frozen=True)
class IndexSettings:
    """Thresholds baked into the index (they must match the tracing configuration)."""

    stay_radius_m: float
    stay_max_gap_s: int
    stay_pad_s: int
    cell_run_gap_s: int = CELL_RUN_GAP_S

    @staticmethod
    def of(config: TracingConfig) -> IndexSettings:
        """The settings a tracing configuration needs."""
        return IndexSettings(config.stay_radius_m, config.stay_max_gap_s, config.stay_pad_s)

    def mismatch(self, config: TracingConfig) -> str | None:
        """A message naming the first threshold that differs from `config`, or None."""
        wanted = asdict(IndexSettings.of(config))
        for name, value in asdict(self).items():
            if name in wanted and wanted[name] != value:
                return (
                    f"the place-time index was built with {name}={value}, the investigation "
                    f"uses {wanted[name]}: rebuild it with `epicity index --store PATH`"
                )
        return None


def place_key(place: I64 | int, hour: I64 | int) -> I64:
    """The index key of a place (grid cell, merchant or tower id) at an hour: the hour in the
    high bits, so one key's rows sit in one day's file, in one or two row groups. Ids of 2**36
    or more share keys with smaller ones; readers also match the place column."""
    place = np.asarray(place, np.int64) & _PLACE_MASK
    return np.asarray((np.asarray(hour, np.int64) << PLACE_BITS) | place)


def epoch_seconds(micros: I64) -> I64:
    """Epoch seconds of UTC timestamps in microseconds, rounded as DuckDB's
    ``epoch(ts)::BIGINT`` rounds them (to the nearest second, halves to even)."""
    return np.rint(np.asarray(micros, np.int64) / 1e6).astype(np.int64)


def grid_cell(lat: NDArray[np.float64], lon: NDArray[np.float64]) -> I64:
    """The global grid cell of each point."""
    iy = np.floor(np.asarray(lat) / CELL_DEG_LAT).astype(np.int64) + _LAT_OFFSET
    ix = np.floor(np.asarray(lon) / CELL_DEG_LON).astype(np.int64) + _LON_OFFSET
    return np.asarray(iy * _GRID_COLUMNS + ix, dtype=np.int64)


def grid_cells_near(x: float, y: float, radius_m: float, proj: LocalProjection) -> list[int]:
    """Every grid cell holding a point within `radius_m` of (x, y) in the projection's metres."""
    _, cells = grid_cells_near_many(np.array([x]), np.array([y]), radius_m, proj)
    return [int(c) for c in cells]


def grid_cells_near_many(
    x: NDArray[np.float64], y: NDArray[np.float64], radius_m: float, proj: LocalProjection
) -> tuple[I64, I64]:
    """(point row, cell) for every grid cell holding a point within `radius_m` of each (x, y):
    the cells of the square around the point, row by row."""
    r = radius_m + 0.01  # a centimetre more: the degrees are rounded on the way back
    lat0, lon0 = proj.to_latlon(np.asarray(x) - r, np.asarray(y) - r)
    lat1, lon1 = proj.to_latlon(np.asarray(x) + r, np.asarray(y) + r)
    low, high = grid_cell(lat0, lon0), grid_cell(lat1, lon1)
    y0, x0 = low // _GRID_COLUMNS, low % _GRID_COLUMNS
    ny, nx = high // _GRID_COLUMNS - y0 + 1, high % _GRID_COLUMNS - x0 + 1
    count = ny * nx
    rows = np.repeat(np.arange(len(low), dtype=np.int64), count)
    k = np.arange(len(rows), dtype=np.int64) - np.repeat(np.cumsum(count) - count, count)
    cells = (y0[rows] + k // nx[rows]) * _GRID_COLUMNS + x0[rows] + k % nx[rows]
    return rows, np.asarray(cells, dtype=np.int64)


def hour_keys(place: int, start: int, end: int) -> I64:
    """Keys of a place over every hour that the interval [start, end) overlaps."""
    _, keys = hour_keys_many(np.array([place]), np.array([start]), np.array([end]))
    return keys


def hour_keys_many(place: I64, start: I64, end: I64) -> tuple[I64, I64]:
    """(row, key) for every hour each place's interval [start, end) overlaps."""
    rows, hours = _spread_over_hours(np.asarray(start, np.int64), np.asarray(end, np.int64))
    return rows, place_key(np.asarray(place, np.int64)[rows], hours)


def _spread_over_hours(start: I64, end: I64) -> tuple[I64, I64]:
    """(row index, hour) for every hour each interval [start, end) overlaps."""
    first = start // HOUR
    count = np.maximum(end - 1, start) // HOUR - first + 1
    rows = np.repeat(np.arange(len(start), dtype=np.int64), count)
    offset = np.arange(len(rows), dtype=np.int64) - np.repeat(np.cumsum(count) - count, count)
    return rows, first[rows] + offset


def reference_projection(
    tower_lat: NDArray[np.float64],
    tower_lon: NDArray[np.float64],
    merchant_lat: NDArray[np.float64],
    merchant_lon: NDArray[np.float64],
) -> LocalProjection:
    """The city's metric projection: about the median of its towers and merchants."""
    lat = np.concatenate([tower_lat, merchant_lat])
    lon = np.concatenate([tower_lon, merchant_lon])
    return LocalProjection(float(np.median(lat)), float(np.median(lon)))


# -- building ---------------------------------------------------------------------------------


def _open_last_chains(
    person: I64, t: I64, linked: NDArray[np.bool_], since: int
) -> NDArray[np.bool_]:
    """Rows of each person's last chain, for the people whose last row is at `since` or later
    (rows sorted by person then time; `linked[i]`: row i + 1 continues row i's chain)."""
    chain = np.cumsum(np.concatenate([[True], ~linked])) - 1
    last_row = np.flatnonzero(np.concatenate([person[1:] != person[:-1], [True]]))
    rows_per_person = np.diff(np.concatenate([[-1], last_row]))
    in_last_chain = chain == np.repeat(chain[last_row], rows_per_person)
    recent = np.repeat(t[last_row] >= since, rows_per_person)
    return np.asarray(in_last_chain & recent)


def _rows_before(person: I64, mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """The row just before each first row of a masked stretch, when it is the same person's."""
    out = np.zeros(len(person), dtype=bool)
    first = np.flatnonzero(mask & np.concatenate([[True], ~mask[:-1]]))
    before = first - 1
    ok = (before >= 0) & (person[np.maximum(before, 0)] == person[first])
    out[before[ok]] = True
    return out


def _merge_carry(carry: dict[str, NDArray[Any]], day: dict[str, NDArray[Any]]) -> dict[str, Any]:
    """Carried rows put before each person's rows of the day (both sorted by person and time;
    carried rows are older)."""
    if not len(carry["person_id"]):
        return day
    where = np.searchsorted(day["person_id"], carry["person_id"], side="left")
    return {k: np.insert(day[k], where, carry[k].astype(day[k].dtype)) for k in day}


def _each_day_with_carry(
    con: duckdb.DuckDBPyConnection,
    days: Sequence[tuple[dt.date, list[Path]]],
    columns: str,
    prepare: Callable[[dict[str, Any]], dict[str, Any]],
    links: Callable[[dict[str, Any]], NDArray[np.bool_]],
    emit: Callable[[dict[str, Any], NDArray[np.bool_]], None],
    writer: _Writer,
    *,
    max_gap_s: int,
    lead_s: int,
    ghost: bool,
) -> None:
    """Feed `emit` each day's rows (sorted by person, time) and which chains are complete.

    A person's last chain of a day goes on the next day when its last row is within
    `max_gap_s` of midnight: it is carried over and emitted with that day, so chains are the
    same as over the whole track at once. With `ghost`, the row before a carried chain is
    carried too (marked done) because it bounds the chain's padding. After each day the
    writer may write every hour before the earliest carried chain (less `lead_s`, the padding).
    """
    carry: dict[str, NDArray[Any]] | None = None
    for n, (day, files) in enumerate(days):
        end = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()) + DAY_S
        d = prepare(_read_day(con, files, columns))
        d["pending"] = np.ones(len(d["person_id"]), dtype=bool)
        if carry is not None:
            d = _merge_carry(carry, d)
        person = d["person_id"]
        last = np.zeros(len(person), dtype=bool)
        before = last
        if n < len(days) - 1 and len(person):
            last = _open_last_chains(person, d["t"], links(d), end - max_gap_s)
            before = _rows_before(person, last) if ghost else before
        emit(d, d["pending"] & ~last)
        keep = last | before
        carry = {k: v[keep] for k, v in d.items()}
        carry["pending"] = last[keep]
        # Later days add rows only from carried chains or from their own rows (padded).
        waiting = carry["t"][carry["pending"]]
        earliest = min(int(waiting.min()), end) if len(waiting) else end
        writer.flush((earliest - lead_s) // HOUR)
    writer.flush(None)


def _read_day(
    con: duckdb.DuckDBPyConnection, files: Sequence[Path], columns: str
) -> dict[str, Any]:
    paths = sql_string_list([str(f) for f in files])
    order = " ORDER BY person_id, t" if len(files) > 1 else ""  # one file is stored sorted
    rel = con.sql(f"SELECT {columns} FROM read_parquet({paths}, hive_partitioning = false){order}")
    return {k: np.asarray(v) for k, v in rel.fetchnumpy().items()}


class _Writer:
    """Rows of one index table, held by hour until no later day can add to that hour, then
    written as one file per hour, sorted by key."""

    def __init__(self, name: str, staging: Path) -> None:
        self.name = name
        self.staging = staging
        self.schema = INDEX_SCHEMAS[name]
        self.files: list[StoredFile] = []
        self.pending: dict[int, list[dict[str, NDArray[Any]]]] = {}

    def add(self, columns: Mapping[str, NDArray[Any]]) -> None:
        key = np.asarray(columns["key"])
        if not len(key):
            return
        order = np.argsort(key)  # the hour is the key's high bits: hours come out grouped
        sorted_cols = {k: np.asarray(v)[order] for k, v in columns.items()}
        hour = sorted_cols["key"] >> PLACE_BITS
        bounds = np.flatnonzero(np.concatenate([[True], hour[1:] != hour[:-1], [True]]))
        for lo, hi in itertools.pairwise(bounds):
            part = {k: v[lo:hi] for k, v in sorted_cols.items()}
            self.pending.setdefault(int(hour[lo]), []).append(part)

    def flush(self, before_hour: int | None) -> None:
        """Write every held hour before `before_hour` (all of them with None)."""
        for hour in sorted(self.pending):
            if before_hour is not None and hour >= before_hour:
                break
            parts = self.pending.pop(hour)
            cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
            if len(parts) > 1:
                order = np.argsort(cols["key"], kind="stable")
                cols = {k: v[order] for k, v in cols.items()}
            out = HourFile(self.staging, self.name, hour)
            out.write(pa.table(cols, schema=self.schema))
            self.files.append(out.close())

    def finish(self) -> list[StoredFile]:
        self.flush(None)
        return sorted(self.files, key=lambda f: f.path)


class HourFile:
    """One index table's file of one hour, ``TABLE/hour=H/part-<uuid>.parquet`` under
    `staging`, written in pieces (sorted by key, in order) with the index's encodings and in
    row groups of `_ROW_GROUP_SIZE` rows, whatever the pieces' sizes. Both engines write
    through it, so their files differ only in name."""

    def __init__(self, staging: Path, table: str, hour: int) -> None:
        self.table = table
        self.hour = hour
        self.schema = INDEX_SCHEMAS[table]
        self.rel = _partition_path(table, hour)
        path = staging / self.rel
        path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = pq.ParquetWriter(path, self.schema, **_encodings(self.schema))
        self._held: list[pa.Table] = []
        self._held_rows = 0
        self.rows = 0

    def write(self, piece: pa.Table) -> None:
        """Append rows (the index table's columns; cast to its schema)."""
        self._held.append(piece.select(self.schema.names).cast(self.schema))
        self._held_rows += piece.num_rows
        if self._held_rows >= _ROW_GROUP_SIZE:
            # Only whole row groups: a row group cannot span two writes.
            self._write(self._held_rows // _ROW_GROUP_SIZE * _ROW_GROUP_SIZE)

    def _write(self, rows: int) -> None:
        held = pa.concat_tables(self._held)
        self._writer.write_table(held.slice(0, rows), row_group_size=_ROW_GROUP_SIZE)
        rest = held.slice(rows)
        self._held, self._held_rows = [rest], rest.num_rows
        self.rows += rows

    @staticmethod
    def day_of(hour: int) -> dt.date:
        """The UTC day of an hour (an index file's manifest day)."""
        return _hour_day(hour)

    def close(self) -> StoredFile:
        """Write the rows held back and close the file; its manifest entry."""
        if self._held_rows:
            self._write(self._held_rows)
        self._writer.close()
        return StoredFile(self.rel, self.rows, _hour_day(self.hour))


def _encodings(schema: pa.Schema) -> dict[str, Any]:
    """Parquet options for an index file. A day of cases reads most of the index, so decoding
    speed counts: delta-packed integers, byte-split floats and LZ4 decode 1.8x faster than plain
    zstd and take 17% less space (measured on the 1M-person city's stay index)."""
    ints = [f.name for f in schema if pa.types.is_integer(f.type)]
    floats = [f.name for f in schema if pa.types.is_floating(f.type)]
    return {
        "compression": "lz4",
        "use_dictionary": [f.name for f in schema if f.name not in ints + floats],
        "column_encoding": dict.fromkeys(ints, "DELTA_BINARY_PACKED"),
        "use_byte_stream_split": floats,
    }


def _partition_path(table: str, hour: int) -> str:
    return f"{table}/hour={hour}/part-{uuid.uuid4()}.parquet"


def _hour_day(hour: int) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(hours=hour)


_STAY_SCHEMA = pa.schema(
    [
        ("key", pa.int64()),
        ("person_id", pa.int64()),
        ("start", pa.int64()),
        ("end", pa.int64()),
        ("lat", pa.float64()),
        ("lon", pa.float64()),
        ("radius_m", pa.float64()),
        ("fixes", pa.int32()),
    ]
)
_RUN_SCHEMA = pa.schema(
    [
        ("key", pa.int64()),
        ("person_id", pa.int64()),
        ("tower_id", pa.int64()),
        ("start", pa.int64()),
        ("end", pa.int64()),
        ("records", pa.int32()),
    ]
)
_VISIT_SCHEMA = pa.schema(
    [
        ("key", pa.int64()),
        ("person_id", pa.int64()),
        ("t", pa.int64()),
        ("merchant_id", pa.int64()),
        ("source", pa.string()),
    ]
)
INDEX_SCHEMAS = {
    "stay_index": _STAY_SCHEMA,
    "cell_runs_index": _RUN_SCHEMA,
    "visit_index": _VISIT_SCHEMA,
}


def gps_xy(fixes: dict[str, Any], proj: LocalProjection) -> dict[str, Any]:
    """GPS fixes with ``lat`` and ``lon`` replaced by the projection's ``x`` and ``y``."""
    fixes["x"], fixes["y"] = proj.to_xy(fixes.pop("lat"), fixes.pop("lon"))
    return fixes


def stay_index_rows(
    fixes: Mapping[str, NDArray[Any]],
    proj: LocalProjection,
    config: TracingConfig,
    emit: NDArray[np.bool_] | None = None,
) -> dict[str, NDArray[Any]]:
    """The stay_index rows of GPS fixes (``person_id, t, x, y, accuracy_m``, sorted by person
    then time; each person's fixes whole, or bounded as `gps_stays` says for `emit`): one row
    per stay and hour it overlaps. Both engines call this on their chunks of people."""
    stays = gps_stays(
        fixes["person_id"],
        fixes["t"],
        fixes["x"],
        fixes["y"],
        fixes["accuracy_m"],
        config,
        emit=emit,
    )
    rows, hour = _spread_over_hours(stays.start, stays.end)
    lat, lon = proj.to_latlon(stays.x, stays.y)
    return {
        "key": place_key(grid_cell(lat, lon)[rows], hour),
        "person_id": stays.person[rows],
        "start": stays.start[rows],
        "end": stays.end[rows],
        "lat": lat[rows],
        "lon": lon[rows],
        "radius_m": stays.radius_m[rows],
        "fixes": stays.fixes[rows].astype(np.int32),
    }


def cell_runs_index_rows(
    records: Mapping[str, NDArray[Any]], emit: NDArray[np.bool_] | None = None
) -> dict[str, NDArray[Any]]:
    """The cell_runs_index rows of connection records (``person_id, t, tower_id``, sorted by
    person, time and tower; see `stay_index_rows`): one row per run and hour it overlaps."""
    runs = cell_runs(records["person_id"], records["t"], records["tower_id"], emit=emit)
    rows, hour = _spread_over_hours(runs.start, runs.end)
    return {
        "key": place_key(runs.tower[rows], hour),
        "person_id": runs.person[rows],
        "tower_id": runs.tower[rows],
        "start": runs.start[rows],
        "end": runs.end[rows],
        "records": runs.records[rows].astype(np.int32),
    }


def visit_index_rows(records: Mapping[str, NDArray[Any]]) -> dict[str, NDArray[Any]]:
    """The visit_index rows of payments and entries (``person_id, t, merchant_id, source``,
    any order): one row each, keyed by its merchant and hour."""
    t = np.asarray(records["t"], np.int64)
    return {
        "key": place_key(records["merchant_id"], t // HOUR),
        "person_id": np.asarray(records["person_id"], np.int64),
        "t": t,
        "merchant_id": np.asarray(records["merchant_id"], np.int64),
        "source": np.asarray(records["source"]),
    }


def _days(files: Sequence[StoredFile], root: Path) -> list[tuple[dt.date, list[Path]]]:
    by_day: dict[dt.date, list[Path]] = {}
    for f in files:  # a record table's files, one partition per UTC day
        if f.day is not None:
            by_day.setdefault(f.day, []).append(root / f.path)
    return sorted(by_day.items())


def store_projection(root: Path, tables: Mapping[str, Sequence[StoredFile]]) -> LocalProjection:
    """The store's metric projection (`reference_projection` of its towers and merchants)."""
    coords = []
    for name in ("towers", "merchants"):
        files = [root / f.path for f in tables.get(name, [])]
        if files:
            got = pa.concat_tables(pq.read_table(f, columns=["lat", "lon"]) for f in files)
            coords.append((np.asarray(got["lat"], np.float64), np.asarray(got["lon"], np.float64)))
        else:
            coords.append((np.empty(0), np.empty(0)))
    (tlat, tlon), (mlat, mlon) = coords
    if not len(tlat) and not len(mlat):
        return LocalProjection(0.0, 0.0)
    return reference_projection(tlat, tlon, mlat, mlon)


def build_index(
    root: Path,
    tables: Mapping[str, Sequence[StoredFile]],
    staging: Path,
    config: TracingConfig | None = None,
    *,
    progress: Progress | None = None,
    workers: int | None = None,
) -> dict[str, list[StoredFile]]:
    """Build the index tables from the store's record files (paths relative to `root`),
    writing them under `staging` with the same relative paths they will have in the store.

    The three tables are built in separate processes (`workers`, default: one per core, at
    most three): stay detection and run encoding are NumPy work on one core each.
    """
    config = replace(config or TracingConfig(), stay_min_duration_s=0)
    frozen = {name: list(files) for name, files in tables.items()}
    kinds = ("stay_index", "cell_runs_index", "visit_index")
    workers = workers or min(len(kinds), os.cpu_count() or 1)
    out: dict[str, list[StoredFile]] = {}
    if progress:
        progress("building the place-time index", 0, len(kinds))
    if workers <= 1:
        for n, kind in enumerate(kinds):
            out[kind] = _build_one(kind, root, frozen, staging, config)
            if progress:
                progress("building the place-time index", n + 1, len(kinds))
    else:
        # Spawned, not forked: the parent may hold DuckDB threads.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = {
                pool.submit(_build_one, kind, root, frozen, staging, config): kind for kind in kinds
            }
            for n, future in enumerate(as_completed(futures)):
                out[futures[future]] = future.result()
                if progress:
                    progress("building the place-time index", n + 1, len(kinds))
    out["index_settings"] = [write_settings(staging, IndexSettings.of(config))]
    return out


def _build_one(
    kind: str,
    root: Path,
    tables: Mapping[str, Sequence[StoredFile]],
    staging: Path,
    config: TracingConfig,
) -> list[StoredFile]:
    """One index table (run in a worker process)."""
    tmp = staging / f"__tmp-{kind}"
    con = connect_duckdb(threads=1, memory_limit="2GB", temp_directory=str(tmp))
    try:
        if kind == "visit_index":
            return _build_visits(con, root, tables, staging, None)
        if kind == "stay_index":
            proj = store_projection(root, tables)
            stays = _Writer("stay_index", staging)
            _each_day_with_carry(
                con,
                _days(tables.get("gps", []), root),
                "person_id, epoch(ts)::BIGINT AS t, lat, lon, accuracy_m",
                lambda d: gps_xy(d, proj),
                lambda d: gps_links(d["person_id"], d["t"], d["x"], d["y"], config),
                lambda d, pending: stays.add(stay_index_rows(d, proj, config, pending)),
                stays,
                max_gap_s=config.stay_max_gap_s,
                lead_s=config.stay_pad_s,
                ghost=True,
            )
            return stays.finish()
        runs = _Writer("cell_runs_index", staging)
        _each_day_with_carry(
            con,
            _days(tables.get("cell", []), root),
            "person_id, epoch(ts)::BIGINT AS t, tower_id",
            lambda d: d,
            lambda d: cell_links(d["person_id"], d["t"], d["tower_id"]),
            lambda d, pending: runs.add(cell_runs_index_rows(d, pending)),
            runs,
            max_gap_s=CELL_RUN_GAP_S,
            lead_s=0,
            ghost=False,
        )
        return runs.finish()
    finally:
        con.close()
        shutil.rmtree(tmp, ignore_errors=True)


def _build_visits(
    con: duckdb.DuckDBPyConnection,
    root: Path,
    tables: Mapping[str, Sequence[StoredFile]],
    staging: Path,
    progress: Progress | None,
) -> list[StoredFile]:
    """Payments and visitor-log entries by merchant and hour (a record's hour is in its day)."""
    by_day: dict[dt.date, list[tuple[str, Path]]] = {}
    for source in ("card", "entries"):
        for day, files in _days(tables.get(source, []), root):
            by_day.setdefault(day, []).extend((source, f) for f in files)
    writer = _Writer("visit_index", staging)
    for n, (_, sources) in enumerate(sorted(by_day.items())):
        if progress:
            progress("indexing visits", n, len(by_day))
        parts = [
            f"SELECT person_id, epoch(ts)::BIGINT AS t, merchant_id, '{source}' AS source "
            f"FROM read_parquet({sql_quote(str(path))}, hive_partitioning = false)"
            for source, path in sources
        ]
        rows = con.sql(" UNION ALL ".join(parts)).fetchnumpy()
        writer.add(visit_index_rows({k: np.asarray(v) for k, v in rows.items()}))
        writer.flush(None)  # a record's hour lies in its own day: these hours are complete
    if progress:
        progress("indexing visits", len(by_day), len(by_day))
    return writer.finish()


def write_settings(staging: Path, settings: IndexSettings) -> StoredFile:
    """The index_settings table's one file, under `staging`."""
    rel = f"index_settings/part-{uuid.uuid4()}.parquet"
    path = staging / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    row = {**asdict(settings), "built_at": dt.datetime.now(dt.UTC).isoformat()}
    pq.write_table(pa.Table.from_pylist([row]), path)
    return StoredFile(rel, 1)


def read_settings(row: Mapping[str, Any]) -> IndexSettings:
    """Settings from the `index_settings` row."""
    return IndexSettings(
        stay_radius_m=float(row["stay_radius_m"]),
        stay_max_gap_s=int(row["stay_max_gap_s"]),
        stay_pad_s=int(row["stay_pad_s"]),
        cell_run_gap_s=int(row["cell_run_gap_s"]),
    )


def rebuild_index(
    store: LocationStore,
    config: TracingConfig | None = None,
    *,
    progress: Progress | None = None,
    engine: str = "duckdb",
) -> dict[str, int]:
    """Rebuild the store's place-time index (e.g. for other thresholds), atomically: readers
    see the old index until the new one is committed. Rows per index table.

    `engine` ``spark`` builds it on the process's Spark session (`epicity.spark`); the
    tables are the same either way.
    """
    engine = check_engine(engine)
    with store.write_lock():
        store.reload()
        staging = store.new_staging_dir()
        try:
            tables = {name: store.stored_files(name) for name in store.tables()}
            if engine == "spark":
                from epicity.spark import spark_session
                from epicity.tracing.index_spark import build_index_spark

                built = build_index_spark(
                    spark_session(), store.path, tables, staging, config, progress=progress
                )
            else:
                built = build_index(store.path, tables, staging, config, progress=progress)
            for files in built.values():
                for stored in files:
                    target = store.path / stored.path
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(staging / stored.path, target)
            tables.update(built)
            store.commit(tables)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            store.collect_garbage()
    return {name: sum(f.rows for f in files) for name, files in built.items()}
