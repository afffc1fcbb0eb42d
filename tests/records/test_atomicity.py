"""A load is all or nothing: failures at any point leave the store exactly as it was."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import epicity.records.ingest as ingest_module
from epicity.records.ingest import IngestError, ingest_directory
from epicity.records.store import LocationStore

from .helpers import CELL, GPS, TOWERS, snapshot, write_csv


def _second_load(tmp_path: Path, *, bad_cell: bool = False) -> Path:
    """New towers, new gps days and cell rows: touches reference and record tables."""
    src = tmp_path / "second"
    write_csv(src, "towers", [*TOWERS, {"tower_id": 9, "lat": 37.0, "lon": 127.0, "range_m": 50}])
    write_csv(src, "gps", [*GPS, {**GPS[0], "ts": "2020-03-07T10:00:00+09:00"}])
    cell = [*CELL, {"person_id": 5, "ts": "2020-03-08T10:00:00+09:00", "tower_id": 9}]
    if bad_cell:
        cell.append({"person_id": 5, "ts": "2020-03-08T11:00:00+09:00", "tower_id": 12345})
    write_csv(src, "cell", cell)
    return src


def _assert_clean(store_path: Path, before: dict[str, bytes]) -> None:
    assert snapshot(store_path) == before
    assert not list(store_path.glob(".staging-*"))


def test_later_table_failure_leaves_store_unchanged(city: Path, tmp_path: Path) -> None:
    store_path = tmp_path / "store"
    ingest_directory(city, store_path)
    before = snapshot(store_path)
    with pytest.raises(IngestError) as info:
        ingest_directory(_second_load(tmp_path, bad_cell=True), store_path)
    assert info.value.file == "cell.csv"  # towers and gps were valid and came first
    assert "unknown tower 12345" in str(info.value)
    _assert_clean(store_path, before)


def test_failure_into_empty_store_leaves_it_empty(tmp_path: Path) -> None:
    store_path = tmp_path / "store"
    with pytest.raises(IngestError):
        ingest_directory(_second_load(tmp_path, bad_cell=True), store_path)
    assert snapshot(store_path) == {}
    assert LocationStore(store_path).tables() == []


def _fail_on_call(n: int, real: Callable[..., Any], exc: BaseException) -> Callable[..., Any]:
    calls = [0]

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] == n:
            raise exc
        return real(*args, **kwargs)

    return wrapper


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), OSError("disk full")])
def test_crash_while_moving_files_into_place(
    city: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exc: BaseException
) -> None:
    store_path = tmp_path / "store"
    ingest_directory(city, store_path)
    before = snapshot(store_path)
    # The 3rd file moved into the store fails: two new files are already in place.
    monkeypatch.setattr(os, "replace", _fail_on_call(3, os.replace, exc))
    with pytest.raises(type(exc)):
        ingest_directory(_second_load(tmp_path), store_path)
    monkeypatch.undo()
    _assert_clean(store_path, before)


def test_crash_after_some_partitions_are_written(
    city: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_path = tmp_path / "store"
    ingest_directory(city, store_path)
    before = snapshot(store_path)
    # gps partitions get written, then the write of cell is interrupted.
    real = ingest_module._write_records
    monkeypatch.setattr(
        ingest_module, "_write_records", _fail_on_call(2, real, KeyboardInterrupt())
    )
    with pytest.raises(KeyboardInterrupt):
        ingest_directory(_second_load(tmp_path), store_path)
    monkeypatch.undo()
    _assert_clean(store_path, before)
    # and the same load then goes through
    report = ingest_directory(_second_load(tmp_path), store_path)
    assert report.table("cell").rows_added == 1


def test_crash_at_manifest_swap(
    city: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_path = tmp_path / "store"
    ingest_directory(city, store_path)
    before = snapshot(store_path)

    def boom(self: LocationStore, tables: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(LocationStore, "commit", boom)
    with pytest.raises(KeyboardInterrupt):
        ingest_directory(_second_load(tmp_path), store_path)
    monkeypatch.undo()
    _assert_clean(store_path, before)


def test_unlisted_files_are_ignored_then_collected(city: Path, tmp_path: Path) -> None:
    store_path = tmp_path / "store"
    ingest_directory(city, store_path)
    store = LocationStore(store_path)
    # What a crash (kill -9) between writing files and the manifest swap would leave.
    live = store.files("gps")[0]
    stray_day = store_path / "gps" / "day=2020-03-09"
    stray_day.mkdir()
    shutil.copy(live, stray_day / "part-stray.parquet")
    shutil.copy(live, live.parent / "part-stray.parquet")
    (store_path / ".staging-deadbeef" / "cell").mkdir(parents=True)
    store.reload()
    con = store.connect()
    assert con.execute("SELECT count(*) FROM gps").fetchone() == (len(GPS),)
    assert store.days("gps") == sorted(store.days("gps"))
    assert len(store.days("gps")) == 2
    ingest_directory(city, store_path)  # a no-op load still cleans up
    assert not stray_day.exists()
    assert not (live.parent / "part-stray.parquet").exists()
    assert not (store_path / ".staging-deadbeef").exists()
    assert live.exists()
