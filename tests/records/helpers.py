"""Hand-written fixture data and file helpers for the records tests."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

TOWERS = [
    {"tower_id": 1, "lat": 37.50, "lon": 127.00, "range_m": 500},
    {"tower_id": 2, "lat": 37.55, "lon": 127.05, "range_m": 800},
    {"tower_id": 3, "lat": 37.60, "lon": 126.95, "range_m": 1200},
]
MERCHANTS = [
    {"merchant_id": 10, "name": "Cafe A", "category": "cafe", "lat": 37.51, "lon": 127.01,
     "indoor": "true", "district": "Gangnam-gu", "opens": "08:00", "closes": "22:00"},
    {"merchant_id": 11, "name": "Club B", "category": "club", "lat": 37.53, "lon": 126.99,
     "indoor": "true", "district": "Yongsan-gu", "opens": "20:00", "closes": "29:30"},
]  # fmt: skip
PEOPLE = [
    {"person_id": 1, "age": 34, "sex": "female", "district": "Gangnam-gu"},
    {"person_id": 2, "age": 51, "sex": "male", "district": "Yongsan-gu"},
]
# Local times in Seoul (+09:00): the first two fixes fall on 2020-03-01 UTC, the rest on 03-02.
GPS = [
    {"person_id": p, "ts": ts, "lat": lat, "lon": lon, "accuracy_m": acc}
    for p, ts, lat, lon, acc in [
        (1, "2020-03-02T08:00:00+09:00", 37.50, 127.00, 10),
        (1, "2020-03-02T08:30:00+09:00", 37.51, 127.01, 12),
        (1, "2020-03-02T10:00:00+09:00", 37.52, 127.02, 8),
        (2, "2020-03-02T09:15:00+09:00", 37.53, 126.99, 20),
        (2, "2020-03-02T01:00:00Z", 37.54, 126.98, 15),
    ]
]
CELL = [
    {"person_id": 1, "ts": "2020-03-02T08:05:00+09:00", "tower_id": 1},
    {"person_id": 1, "ts": "2020-03-02T10:05:00+09:00", "tower_id": 2},
    {"person_id": 2, "ts": "2020-03-02T09:20:00+09:00", "tower_id": 3},
]
CARD = [
    {"person_id": 1, "ts": "2020-03-02T08:35:00+09:00", "merchant_id": 10, "amount": 4500},
    {"person_id": 2, "ts": "2020-03-02T23:10:00+09:00", "merchant_id": 11, "amount": 30000},
]
ENTRIES = [
    {"person_id": 2, "ts": "2020-03-02T23:00:00+09:00", "merchant_id": 11},
]
CITY: dict[str, list[dict[str, Any]]] = {
    "towers": TOWERS,
    "merchants": MERCHANTS,
    "people": PEOPLE,
    "gps": GPS,
    "cell": CELL,
    "card": CARD,
    "entries": ENTRIES,
}


def write_csv(directory: Path, table: str, rows: Sequence[Mapping[str, Any]],
              columns: Sequence[str] | None = None) -> Path:  # fmt: skip
    """Write `rows` as <table>.csv (columns from the first row unless given)."""
    directory.mkdir(parents=True, exist_ok=True)
    cols = list(columns) if columns is not None else list(rows[0])
    path = directory / f"{table}.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({c: ("" if r.get(c) is None else r.get(c)) for c in cols})
    return path


def write_parquet(directory: Path, table: str, data: Mapping[str, Any]) -> Path:
    """Write a dict of columns (lists or pyarrow arrays) as <table>.parquet."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{table}.parquet"
    pq.write_table(pa.table(dict(data)), path)
    return path


def write_city(directory: Path, tables: Iterable[str] | None = None) -> Path:
    """The small hand-written city as CSV files."""
    for name in tables if tables is not None else CITY:
        write_csv(directory, name, CITY[name])
    return directory


def snapshot(store: Path) -> dict[str, bytes]:
    """Every file under the store (except the lock), by relative path, with its bytes."""
    return {
        str(p.relative_to(store)): p.read_bytes()
        for p in sorted(store.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }
