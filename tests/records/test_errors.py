"""Every class of bad input is rejected with the file, row and field in the message."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from epicity.records.ingest import IngestError, ingest_directory
from epicity.records.store import LocationStore

from .helpers import CARD, CELL, ENTRIES, GPS, MERCHANTS, PEOPLE, TOWERS, write_csv, write_parquet


def _fail(source: Path, store: Path) -> IngestError:
    with pytest.raises(IngestError) as info:
        ingest_directory(source, store)
    assert not LocationStore(store).tables()
    return info.value


def test_missing_required_column(tmp_path: Path, store_path: Path) -> None:
    write_csv(tmp_path, "gps", GPS, columns=["person_id", "ts", "lon", "accuracy_m"])
    err = _fail(tmp_path, store_path)
    assert (err.file, err.row, err.field) == ("gps.csv", None, "lat")
    assert "missing required column 'lat'" in str(err)


def test_unparseable_time(tmp_path: Path, store_path: Path) -> None:
    rows = [dict(r) for r in GPS]
    rows[2]["ts"] = "2020-13-01T00:00"
    write_csv(tmp_path, "gps", rows)
    err = _fail(tmp_path, store_path)
    assert (err.file, err.row, err.field) == ("gps.csv", 3, "ts")
    assert str(err) == (
        "gps.csv, row 3 (line 4), field 'ts': "
        "cannot parse '2020-13-01T00:00' as an ISO 8601 time with offset"
    )


def test_time_without_offset(tmp_path: Path, store_path: Path) -> None:
    rows = [dict(r) for r in GPS]
    rows[1]["ts"] = "2020-03-02T09:00:00"
    write_csv(tmp_path, "gps", rows)
    err = _fail(tmp_path, store_path)
    assert (err.row, err.field) == (2, "ts")
    assert "'2020-03-02T09:00:00' has no UTC offset" in str(err)
    assert "row 2 (line 3)" in str(err)


def test_latitude_out_of_range(tmp_path: Path, store_path: Path) -> None:
    rows = [dict(r) for r in GPS]
    rows[4]["lat"] = 91.5
    write_csv(tmp_path, "gps", rows)
    err = _fail(tmp_path, store_path)
    assert (err.row, err.field) == (5, "lat")
    assert "91.5 is out of range [-90, 90]" in str(err)


def test_unknown_tower(tmp_path: Path, store_path: Path) -> None:
    write_csv(tmp_path, "towers", TOWERS)
    rows = [dict(r) for r in CELL]
    rows[1]["tower_id"] = 99
    write_csv(tmp_path, "cell", rows)
    err = _fail(tmp_path, store_path)
    assert (err.file, err.row, err.field) == ("cell.csv", 2, "tower_id")
    assert "unknown tower 99" in str(err)


@pytest.mark.parametrize("table", ["card", "entries"])
def test_unknown_merchant(tmp_path: Path, store_path: Path, table: str) -> None:
    write_csv(tmp_path, "merchants", MERCHANTS)
    rows = [dict(r) for r in (CARD if table == "card" else ENTRIES)]
    rows[-1]["merchant_id"] = 77
    write_csv(tmp_path, table, rows)
    err = _fail(tmp_path, store_path)
    assert (err.file, err.row, err.field) == (f"{table}.csv", len(rows), "merchant_id")
    assert "unknown merchant 77" in str(err)


def test_null_in_required_field(tmp_path: Path, store_path: Path) -> None:
    rows = [dict(r) for r in CELL]
    rows[2]["person_id"] = None
    write_csv(tmp_path, "towers", TOWERS)
    write_csv(tmp_path, "cell", rows)
    err = _fail(tmp_path, store_path)
    assert (err.row, err.field) == (3, "person_id")
    assert "empty value in a required column" in str(err)


def test_bad_choice(tmp_path: Path, store_path: Path) -> None:
    rows = [dict(r) for r in PEOPLE]
    rows[1]["sex"] = "m"
    write_csv(tmp_path, "people", rows)
    err = _fail(tmp_path, store_path)
    assert (err.file, err.row, err.field) == ("people.csv", 2, "sex")
    assert "'m' is not one of: female, male" in str(err)


def test_bad_time_of_day(tmp_path: Path, store_path: Path) -> None:
    rows = [dict(r) for r in MERCHANTS]
    rows[0]["closes"] = "48:00"
    write_csv(tmp_path, "merchants", rows)
    err = _fail(tmp_path, store_path)
    assert (err.row, err.field) == (1, "closes")
    assert "not a time of day HH:MM" in str(err)


def test_unparseable_number(tmp_path: Path, store_path: Path) -> None:
    rows = [dict(r) for r in TOWERS]
    rows[1]["range_m"] = "wide"
    write_csv(tmp_path, "towers", rows)
    err = _fail(tmp_path, store_path)
    assert (err.row, err.field) == (2, "range_m")
    assert "cannot parse 'wide' as a number" in str(err)


def test_conflicting_reference_duplicate(tmp_path: Path, store_path: Path) -> None:
    rows = [*TOWERS, {**TOWERS[0], "lat": 37.7}]
    write_csv(tmp_path, "towers", rows)
    err = _fail(tmp_path, store_path)
    assert (err.file, err.row, err.field) == ("towers.csv", 4, "lat")
    assert "duplicate key tower_id=1 with a different value: 37.7 here, 37.5 on row 1" in str(err)


def test_exact_reference_duplicate_is_fine(tmp_path: Path, store_path: Path) -> None:
    write_csv(tmp_path, "towers", [*TOWERS, TOWERS[0]])
    report = ingest_directory(tmp_path, store_path)
    assert report.table("towers").rows_total == len(TOWERS)


def test_both_csv_and_parquet(tmp_path: Path, store_path: Path) -> None:
    write_csv(tmp_path, "towers", TOWERS)
    write_parquet(tmp_path, "towers", {k: [r[k] for r in TOWERS] for k in TOWERS[0]})
    err = _fail(tmp_path, store_path)
    assert "both towers.csv and towers.parquet" in str(err)


def test_empty_directory(tmp_path: Path, store_path: Path) -> None:
    (tmp_path / "truth").mkdir()
    (tmp_path / "city.json").write_text("{}")
    err = _fail(tmp_path, store_path)
    assert "no table files found" in str(err)


def test_naive_parquet_timestamp(tmp_path: Path, store_path: Path) -> None:
    write_parquet(
        tmp_path,
        "gps",
        {
            "person_id": [1],
            "ts": pa.array([dt.datetime(2020, 3, 1, 9)], type=pa.timestamp("us")),
            "lat": [37.5],
            "lon": [127.0],
            "accuracy_m": [5.0],
        },
    )
    err = _fail(tmp_path, store_path)
    assert (err.file, err.row, err.field) == ("gps.parquet", None, "ts")
    assert "without time zone" in str(err)


def test_parquet_error_row_and_epoch_range(tmp_path: Path, store_path: Path) -> None:
    n = 5000
    ts = [1583020800 + i for i in range(n)]
    ts[4321] = 1583020800000  # milliseconds by mistake
    write_parquet(
        tmp_path,
        "gps",
        {
            "person_id": [i // 100 for i in range(n)],
            "ts": ts,
            "lat": [37.5] * n,
            "lon": [127.0] * n,
            "accuracy_m": [5.0] * n,
        },
    )
    err = _fail(tmp_path, store_path)
    assert (err.file, err.row, err.field) == ("gps.parquet", 4322, "ts")
    assert "line" not in str(err)
    assert "out of range for UTC epoch seconds" in str(err)


@settings(max_examples=15, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=400),
    data=st.data(),
    bad=st.sampled_from(
        [
            ("ts", "2020-03-02 09:00"),
            ("ts", "yesterday"),
            ("lat", "-90.5"),
            ("lon", "abc"),
            ("accuracy_m", "-1"),
            ("person_id", ""),
        ]
    ),
)
def test_bad_value_reported_at_its_row(
    tmp_path_factory: pytest.TempPathFactory, n: int, data: st.DataObject, bad: tuple[str, str]
) -> None:
    where = data.draw(st.integers(min_value=0, max_value=n - 1))
    rows = [
        {
            "person_id": i,
            "ts": f"2020-03-02T{i % 24:02d}:{i % 60:02d}:00+09:00",
            "lat": 37.5,
            "lon": 127.0,
            "accuracy_m": 10,
        }
        for i in range(n)
    ]
    rows[where][bad[0]] = bad[1]
    src = tmp_path_factory.mktemp("src")
    write_csv(src, "gps", rows)
    err = _fail(src, tmp_path_factory.mktemp("store"))
    assert (err.row, err.field) == (where + 1, bad[0])
    assert f"row {where + 1} (line {where + 2})" in str(err)
