"""The location store: Parquet files on disk, listed by a manifest, queried with DuckDB.

Layout of a store directory ``STORE``::

    STORE/manifest.json                                   live files, row counts, format version
    STORE/<table>/day=YYYY-MM-DD/part-<uuid>.parquet      record tables (one partition per UTC day)
    STORE/<table>/part-<uuid>.parquet                     reference tables

The manifest is the only source of truth: a file under the store that it does not list (left
behind by a crashed ingest) is invisible to readers and removed by the next ingest. Updates
write new files first and then replace ``manifest.json`` atomically (temp file, fsync,
``os.replace``), so readers see either the whole old state or the whole new one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from epicity.records.schema import ALL_TABLES, DERIVED_TABLES, TABLES_BY_NAME

__all__ = [
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "LocationStore",
    "StoreError",
    "StoredFile",
    "connect_duckdb",
    "sql_quote",
    "sql_string_list",
]

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
LOCK_NAME = ".lock"
STAGING_PREFIX = ".staging-"
READER_MEMORY_LIMIT = "1500MB"


class StoreError(Exception):
    """The store directory is not a store this version can read."""


@dataclass(frozen=True)
class StoredFile:
    """One live Parquet file of a table, as listed in the manifest."""

    path: str  # relative to the store root, with forward slashes
    rows: int
    day: dt.date | None = None  # the partition of a record table

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "rows": self.rows}
        if self.day is not None:
            out["day"] = self.day.isoformat()
        return out

    @staticmethod
    def from_json(obj: Mapping[str, Any]) -> StoredFile:
        day = obj.get("day")
        return StoredFile(
            path=str(obj["path"]),
            rows=int(obj["rows"]),
            day=dt.date.fromisoformat(day) if day else None,
        )


def sql_quote(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def sql_string_list(values: Sequence[str]) -> str:
    """A DuckDB list literal of strings, e.g. for read_parquet([...])."""
    return "[" + ", ".join(sql_quote(v) for v in values) + "]"


def connect_duckdb(**settings: str | int | bool) -> duckdb.DuckDBPyConnection:
    """A new in-memory DuckDB connection with the session time zone set to UTC.

    Always go through this: casting TIMESTAMPTZ to DATE uses the session time zone, which
    otherwise is the machine's local zone.
    """
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    for name, value in settings.items():
        if isinstance(value, str):
            con.execute(f"SET {name} = {sql_quote(value)}")
        else:
            con.execute(f"SET {name} = {str(value).lower() if isinstance(value, bool) else value}")
    return con


class LocationStore:
    """An embedded location store on disk (see the module docstring for the layout)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._tables: dict[str, list[StoredFile]] = {}
        self._shared: tuple[tuple[int, int, int], duckdb.DuckDBPyConnection] | None = None
        self.reload()

    @classmethod
    def create_or_open(cls, path: Path) -> LocationStore:
        """Open the store at `path`, creating the directory when needed."""
        Path(path).mkdir(parents=True, exist_ok=True)
        return cls(Path(path))

    # -- reading ---------------------------------------------------------------------------

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST_NAME

    def reload(self) -> None:
        """Re-read the manifest (another process may have ingested since)."""
        self._tables = {}
        if not self.manifest_path.exists():
            return
        try:
            data = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise StoreError(f"{self.manifest_path}: unreadable manifest: {exc}") from exc
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise StoreError(
                f"{self.manifest_path}: format version {version!r}, expected {FORMAT_VERSION}"
            )
        for name, entry in data.get("tables", {}).items():
            files = [StoredFile.from_json(f) for f in entry.get("files", [])]
            if files:
                self._tables[name] = files

    def tables(self) -> list[str]:
        """Tables holding data, in schema order."""
        known = [t.name for t in ALL_TABLES if self._tables.get(t.name)]
        extra = sorted(n for n in self._tables if n not in TABLES_BY_NAME and self._tables[n])
        return known + extra

    def stored_files(self, table: str) -> list[StoredFile]:
        """Manifest entries of a table's live files (empty when the table has no data)."""
        return list(self._tables.get(table, []))

    def files(self, table: str) -> list[Path]:
        """Absolute paths of a table's live files, partitions in day order."""
        return [self.path / f.path for f in self.stored_files(table)]

    def row_count(self, table: str) -> int:
        return sum(f.rows for f in self._tables.get(table, []))

    def days(self, table: str) -> list[dt.date]:
        """The UTC days a record table has partitions for, ascending."""
        return sorted({f.day for f in self._tables.get(table, []) if f.day is not None})

    def shared_cursor(
        self, prepare: Callable[[duckdb.DuckDBPyConnection], None] | None = None
    ) -> duckdb.DuckDBPyConnection:
        """A cursor on one DuckDB instance shared by the store's readers, so Parquet metadata
        read by one query is cached for the next (a lookup in a large store then costs
        milliseconds, not the walk over every row group's footer).

        The instance is rebuilt, with `prepare` applied first, whenever the manifest changes;
        cursors opened before keep the files they saw.
        """
        try:
            st = self.manifest_path.stat()
            stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = (0, 0, 0)
        if self._shared is None or self._shared[0] != stamp:
            self.reload()
            con = self.connect()
            con.execute("SET parquet_metadata_cache = true")
            # Bounded: a day of cases joins large index tables; DuckDB spills beyond this.
            con.execute(f"SET memory_limit = {sql_quote(READER_MEMORY_LIMIT)}")
            if prepare is not None:
                prepare(con)
            self._shared = (stamp, con)
        return self._shared[1].cursor()

    def connect(self) -> duckdb.DuckDBPyConnection:
        """A new DuckDB connection (TimeZone UTC) with one view per stored table."""
        con = connect_duckdb()
        for name in self.tables():
            files = [str(p) for p in self.files(name)]
            table = TABLES_BY_NAME.get(name)
            cols = ", ".join(f'"{c}"' for c in table.column_names) if table else "*"
            # Derived tables partitioned by hour expose it as a column: a filter on it skips
            # whole files before any is opened.
            hive = "/hour=" in files[0]
            partitioning = (
                "hive_partitioning = true, hive_types = {'hour': BIGINT}"
                if hive
                else "hive_partitioning = false"
            )
            con.execute(
                f'CREATE VIEW "{name}" AS SELECT {cols} FROM read_parquet('
                f"{sql_string_list(files)}, {partitioning})"
            )
        return con

    # -- writing (used by ingest) ----------------------------------------------------------

    @contextlib.contextmanager
    def write_lock(self) -> Iterator[None]:
        """Hold the store's exclusive writer lock (one ingest at a time)."""
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path / LOCK_NAME, "a+b") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def new_staging_dir(self) -> Path:
        """A fresh private directory inside the store (same file system, so renames are atomic)."""
        staging = self.path / f"{STAGING_PREFIX}{uuid.uuid4().hex}"
        staging.mkdir()
        return staging

    def commit(self, tables: Mapping[str, Sequence[StoredFile]]) -> None:
        """Atomically make `tables` the live content (tables not mentioned are emptied)."""
        manifest = {
            "format_version": FORMAT_VERSION,
            "tables": {
                name: {
                    "rows": sum(f.rows for f in files),
                    "files": [f.to_json() for f in files],
                }
                for name, files in tables.items()
                if files
            },
        }
        tmp = self.path / f".{MANIFEST_NAME}.{uuid.uuid4().hex}.tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(manifest, fh, indent=1, sort_keys=True)
                fh.write("\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.manifest_path)
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_dir(self.path)
        self.reload()

    def collect_garbage(self, keep: Path | None = None) -> int:
        """Remove files the manifest does not list, and stale staging dirs; count removed files.

        Only touches what an ingest may have written: ``*.parquet`` under table directories,
        ``.staging-*`` directories (except `keep`) and temporary manifests.
        """
        live = {self.path / f.path for name in self._tables for f in self._tables[name]}
        removed = 0
        for entry in self.path.iterdir():
            if entry.name.startswith(STAGING_PREFIX) and entry.is_dir():
                if keep is None or entry != keep:
                    shutil.rmtree(entry, ignore_errors=True)
            elif entry.name.startswith(f".{MANIFEST_NAME}.") and entry.name.endswith(".tmp"):
                entry.unlink(missing_ok=True)
            elif entry.is_dir() and (entry.name in TABLES_BY_NAME or entry.name in DERIVED_TABLES):
                for f in entry.rglob("*.parquet"):
                    if f not in live:
                        f.unlink(missing_ok=True)
                        removed += 1
                for d in sorted(entry.glob("day=*"), reverse=True):
                    if d.is_dir() and not any(d.iterdir()):
                        d.rmdir()
                if not any(entry.iterdir()):
                    entry.rmdir()
        return removed


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
