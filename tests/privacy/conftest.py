"""Fixtures for the privacy tests: a migrated database (SQLite and PostgreSQL), a tiny store."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from epicity.records.ingest import ingest_directory
from epicity.records.store import LocationStore

TOWERS = [
    {"tower_id": 1, "lat": 37.50, "lon": 127.00, "range_m": 500},
    {"tower_id": 2, "lat": 37.55, "lon": 127.05, "range_m": 800},
]
CELL = [
    {"person_id": 1, "ts": "2020-03-02T09:00:00+09:00", "tower_id": 1},
    {"person_id": 1, "ts": "2020-03-02T10:00:00+09:00", "tower_id": 2},
    {"person_id": 2, "ts": "2020-03-02T09:30:00+09:00", "tower_id": 1},
]
GPS = [
    {
        "person_id": 1,
        "ts": "2020-03-02T09:00:00+09:00",
        "lat": 37.500,
        "lon": 127.000,
        "accuracy_m": 10,
    },
    {
        "person_id": 1,
        "ts": "2020-03-02T09:10:00+09:00",
        "lat": 37.501,
        "lon": 127.001,
        "accuracy_m": 12,
    },
    {
        "person_id": 1,
        "ts": "2020-03-03T09:00:00+09:00",
        "lat": 37.550,
        "lon": 127.050,
        "accuracy_m": 8,
    },
    {
        "person_id": 2,
        "ts": "2020-03-02T09:30:00+09:00",
        "lat": 37.500,
        "lon": 127.000,
        "accuracy_m": 20,
    },
]


def write_csv(directory: Path, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """Write `rows` as <table>.csv."""
    with open(directory / f"{table}.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture(scope="session")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny location store (towers, cell, gps) loaded by the real ingest, shared read-only."""
    source = tmp_path_factory.mktemp("records")
    write_csv(source, "towers", TOWERS)
    write_csv(source, "cell", CELL)
    write_csv(source, "gps", GPS)
    store = tmp_path_factory.mktemp("store")
    ingest_directory(source, store)
    return store


@pytest.fixture
def store(store_dir: Path) -> LocationStore:
    return LocationStore(store_dir)
