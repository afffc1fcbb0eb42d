"""`epicity trace` and `epicity trace confirm` end to end, on a generated city."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from epicity.cli import app
from epicity.records.store import LocationStore

runner = CliRunner()
PURPOSE = "investigation of confirmed cases in the test city"


def first_case(store: LocationStore) -> int:
    con = store.connect()
    try:
        return int(con.execute("SELECT min(person_id) FROM cases").fetchall()[0][0])
    finally:
        con.close()


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'ops.db'}"
    result = runner.invoke(
        app, ["emergency", "declare", "COVID-19", "--db", url, "--actor", "admin"]
    )
    assert result.exit_code == 0, result.output
    return url


def trace(store: Path, db: str, out: Path, *args: str) -> object:
    return runner.invoke(
        app,
        [
            "trace",
            "--store",
            str(store),
            "--purpose",
            PURPOSE,
            "--db",
            db,
            "--out",
            str(out),
            *args,
        ],
    )


def test_trace_writes_timeline_contacts_warnings_and_queues_once(
    traced_city: tuple[Path, LocationStore], db: str, tmp_path: Path
) -> None:
    store = traced_city[1]
    case = first_case(store)
    out = tmp_path / "out"
    result = trace(store.path, db, out, "--case", str(case))
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    with (out / "timeline.csv").open() as fh:
        timeline = list(csv.DictReader(fh))
    assert timeline
    assert {"stay_id", "kind", "start", "end", "sources", "confidence"} <= set(timeline[0])
    with (out / "contacts.csv").open() as fh:
        header = next(csv.reader(fh))
    assert header == [
        "contact_id",
        "tier",
        "place_id",
        "first_contact",
        "last_contact",
        "overlap_minutes",
        "min_distance_m",
        "risk_score",
        "sources",
    ]
    warnings = json.loads((out / "warnings.json").read_text())
    assert set(warnings["counts"]) >= {"orders", "advice", "area_alerts", "notices"}
    assert str(case) not in json.dumps(warnings["notices"])
    # Tracing the same case again queues nothing new.
    again = trace(store.path, db, out, "--case", str(case))
    assert again.exit_code == 0  # type: ignore[attr-defined]
    from sqlalchemy import create_engine, text

    engine = create_engine(db)
    with engine.connect() as c:
        queued = c.execute(
            text("SELECT count(*) FROM outbox WHERE case_id = :c"), {"c": case}
        ).scalar()
        reads = c.execute(
            text("SELECT count(*) FROM audit_log WHERE action = 'location.read' AND case_id = :c"),
            {"c": case},
        ).scalar()
    engine.dispose()
    total = sum(v for k, v in warnings["counts"].items() if k != "area_people")
    assert queued == total
    assert reads == 2


def test_a_confirmation_outranks_the_records(
    traced_city: tuple[Path, LocationStore], db: str, tmp_path: Path
) -> None:
    store = traced_city[1]
    case = first_case(store)
    out = tmp_path / "before"
    assert trace(store.path, db, out, "--case", str(case)).exit_code == 0  # type: ignore[attr-defined]
    with (out / "timeline.csv").open() as fh:
        stay = next(csv.DictReader(fh))["stay_id"]
    result = runner.invoke(
        app,
        [
            "trace",
            "confirm",
            "--case",
            str(case),
            "--action",
            "remove",
            "--method",
            "interview",
            "--reason",
            "the case lent the card to a relative",
            "--stay-id",
            stay,
            "--db",
            db,
            "--actor",
            "kim",
        ],
    )
    assert result.exit_code == 0, result.output
    after = tmp_path / "after"
    assert trace(store.path, db, after, "--case", str(case)).exit_code == 0  # type: ignore[attr-defined]
    with (after / "timeline.csv").open() as fh:
        assert stay not in {row["stay_id"] for row in csv.DictReader(fh)}


def test_all_new_traces_every_case_of_the_latest_day(
    traced_city: tuple[Path, LocationStore], db: str, tmp_path: Path
) -> None:
    store = traced_city[1]
    con = store.connect()
    expected = {
        int(r[0])
        for r in con.execute(
            "SELECT person_id FROM cases WHERE confirmed_date = (SELECT max(confirmed_date) FROM cases)"
        ).fetchall()
    }
    con.close()
    out = tmp_path / "all"
    result = trace(store.path, db, out, "--all-new")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    if len(expected) > 1:
        assert {int(p.name.removeprefix("case-")) for p in out.iterdir()} == expected
    else:
        assert (out / "timeline.csv").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--case", "999999999"], "999999999"),
        ([], "--case"),
        (["--case", "1", "--all-new"], "either"),
        (["--all-new", "--date", "2020-02-30"], "--date"),
    ],
)
def test_bad_input_is_a_clear_error(
    traced_city: tuple[Path, LocationStore], db: str, tmp_path: Path, args: list[str], message: str
) -> None:
    result = trace(traced_city[1].path, db, tmp_path / "x", *args)
    assert result.exit_code == 2  # type: ignore[attr-defined]
    assert message in result.output  # type: ignore[attr-defined]


def test_no_emergency_no_purpose_no_store(
    traced_city: tuple[Path, LocationStore], tmp_path: Path
) -> None:
    store = traced_city[1].path
    empty_db = f"sqlite:///{tmp_path / 'none.db'}"
    result = trace(store, empty_db, tmp_path / "x", "--case", "1")
    assert result.exit_code == 2
    assert "emergency" in result.output
    declared = f"sqlite:///{tmp_path / 'e.db'}"
    runner.invoke(app, ["emergency", "declare", "E", "--db", declared])
    no_purpose = runner.invoke(
        app, ["trace", "--store", str(store), "--case", "1", "--db", declared]
    )
    assert no_purpose.exit_code == 2
    assert "purpose" in no_purpose.output
    missing = trace(tmp_path / "nowhere", declared, tmp_path / "x", "--case", "1")
    assert missing.exit_code == 2
    assert "no location store" in missing.output


def test_trace_index_rebuilds_and_a_stale_threshold_is_refused(
    traced_city: tuple[Path, LocationStore], tmp_path: Path
) -> None:
    store_path = tmp_path / "store"
    shutil.copytree(traced_city[1].path, store_path)
    before = LocationStore(store_path).row_count("stay_index")
    result = runner.invoke(app, ["trace", "index", "--store", str(store_path)])
    assert result.exit_code == 0, result.output
    assert "stay_index" in result.output
    store = LocationStore(store_path)
    assert store.row_count("stay_index") == before > 0
    # Old index files are gone; only the manifest's are left.
    listed = {store_path / f.path for f in store.stored_files("stay_index")}
    assert set((store_path / "stay_index").rglob("*.parquet")) == listed
    missing = runner.invoke(app, ["trace", "index", "--store", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2
    assert "no location store" in missing.output


def test_a_second_load_rebuilds_the_index_across_the_days(tmp_path: Path) -> None:
    """Loading a city's days in two parts gives the same index as loading them at once."""
    import duckdb

    from epicity.city.generate import CityConfig, generate_city
    from epicity.records.ingest import ingest_directory

    city = tmp_path / "city"
    generate_city(city, CityConfig(people=800, days=3, seed=5))
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    ingest_directory(city, whole)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    split = tmp_path / "split"
    for name in ("first", "second"):
        (split / name).mkdir(parents=True)
    for f in city.glob("*.parquet"):
        if f.stem in ("gps", "cell", "card", "entries"):
            cut = "(SELECT min(ts) FROM read_parquet(?)) + INTERVAL 36 HOUR"
            for name, op in (("first", "<"), ("second", ">=")):
                con.execute(
                    f"COPY (SELECT * FROM read_parquet(?) WHERE ts {op} {cut}) TO "
                    f"'{split / name / f.name}' (FORMAT parquet)",
                    [str(f), str(f)],
                )
        else:
            for name in ("first", "second"):
                shutil.copyfile(f, split / name / f.name)
    ingest_directory(split / "first", parts)
    ingest_directory(split / "second", parts)

    def stays(path: Path) -> list[tuple[object, ...]]:
        c = LocationStore(path).connect()
        try:
            return c.execute(
                'SELECT person_id, start, "end", lat, lon, fixes, count(*) FROM stay_index '
                "GROUP BY ALL ORDER BY ALL"
            ).fetchall()
        finally:
            c.close()

    assert stays(parts) == stays(whole)


def test_a_load_rebuilds_an_index_built_with_other_thresholds(
    traced_city: tuple[Path, LocationStore], tmp_path: Path
) -> None:
    from epicity.records.ingest import ingest_directory
    from epicity.tracing.config import TracingConfig
    from epicity.tracing.index import rebuild_index

    city, original = traced_city
    store_path = tmp_path / "store"
    shutil.copytree(original.path, store_path)
    rebuild_index(LocationStore(store_path), TracingConfig(stay_pad_s=60))

    def pad() -> int:
        c = LocationStore(store_path).connect()
        try:
            return int(c.execute("SELECT stay_pad_s FROM index_settings").fetchall()[0][0])
        finally:
            c.close()

    assert pad() == 60
    ingest_directory(city, store_path)  # the same records: only the index is out of date
    assert pad() == TracingConfig().stay_pad_s


def test_queued_warnings_wait_for_approval_from_the_command_line(
    traced_city: tuple[Path, LocationStore], db: str, tmp_path: Path
) -> None:
    from sqlalchemy import create_engine, text

    store = traced_city[1]
    case = first_case(store)
    assert trace(store.path, db, tmp_path / "out", "--case", str(case)).exit_code == 0  # type: ignore[attr-defined]
    engine = create_engine(db)

    def approved() -> tuple[int, int]:
        with engine.connect() as c:
            row = c.execute(
                text(
                    "SELECT count(*), count(approved_at) FROM outbox "
                    "WHERE case_id = :c AND status = 'pending'"
                ),
                {"c": case},
            ).one()
        return int(row[0]), int(row[1])

    try:
        pending, done = approved()
        assert pending > 0
        assert done == 0
        args = ["trace", "approve", "--case", str(case), "--db", db, "--actor", "officer-lee"]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert f"{pending} warnings of case {case} approved" in result.output
        assert approved() == (pending, pending)
        bad = runner.invoke(app, [*args, "--message", "999999999"])
        assert bad.exit_code == 2
    finally:
        engine.dispose()
