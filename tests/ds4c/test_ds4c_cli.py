"""`epicity ds4c check|import` through Typer's CliRunner, and the end-to-end load into a store."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import pytest
from typer.testing import CliRunner

from epicity.ds4c.cli import app

runner = CliRunner()


def out_text(result: object) -> str:
    """stdout and stderr of a CliRunner result, whichever Click version produced it."""
    return str(getattr(result, "output", ""))


def test_check_prints_summary(mini_dir: Path) -> None:
    result = runner.invoke(app, ["check", str(mini_dir)])
    assert result.exit_code == 0, out_text(result)
    text = out_text(result)
    for expected in ("DS4C conversion", "Cases by province", "Test Church", "Findings", "Dry run"):
        assert expected in text


def test_import_dry_run_loads_nothing(mini_dir: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    result = runner.invoke(app, ["import", str(mini_dir), "--store", str(store), "--dry-run"])
    assert result.exit_code == 0, out_text(result)
    assert "Dry run: nothing was loaded." in out_text(result)
    assert not store.exists()


@pytest.mark.parametrize("command", ["check", "import"])
def test_missing_source_exits_2(tmp_path: Path, command: str) -> None:
    missing = tmp_path / "no-such-dir"
    extra = ["--store", str(tmp_path / "store")] if command == "import" else []
    result = runner.invoke(app, [command, str(missing), *extra])
    assert result.exit_code == 2
    assert "does not exist" in out_text(result)


def test_default_source_is_relative_to_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["check"])
    assert result.exit_code == 2
    assert "../shared/data/real/ds4c" in out_text(result)


def test_missing_required_file_exits_2(mini_dir: Path, tmp_path: Path) -> None:
    (mini_dir / "PatientRoute.csv").unlink()
    result = runner.invoke(app, ["import", str(mini_dir), "--store", str(tmp_path / "store")])
    assert result.exit_code == 2
    assert "PatientRoute.csv" in out_text(result)
    assert not (tmp_path / "store").exists()


def test_missing_column_exits_2(mini_dir: Path) -> None:
    (mini_dir / "TimeProvince.csv").write_text("date,province,confirmed\n", encoding="utf-8")
    result = runner.invoke(app, ["check", str(mini_dir)])
    assert result.exit_code == 2
    assert "TimeProvince.csv" in out_text(result)
    assert "released" in out_text(result)


def test_import_without_store_exits_2(mini_dir: Path) -> None:
    result = runner.invoke(app, ["import", str(mini_dir)])
    assert result.exit_code == 2
    assert "--store" in out_text(result)


@pytest.mark.realdata
def test_check_real_data(real_dir: Path) -> None:
    result = runner.invoke(app, ["check", str(real_dir)], env={"COLUMNS": "160"})
    assert result.exit_code == 0, out_text(result)
    text = out_text(result)
    for expected in ("Seoul", "Gangnam-gu", "Itaewon Clubs", "hospital", "Findings", "PatientInfo"):
        assert expected in text


# ---------------------------------------------------------------------------------------------
# end to end: convert, ingest_directory into a location store, query through DuckDB

needs_ingest = pytest.mark.skipif(
    importlib.util.find_spec("epicity.records.ingest") is None
    or importlib.util.find_spec("epicity.records.store") is None,
    reason="epicity.records.ingest / epicity.records.store not available yet",
)


def store_counts(store: Path) -> dict[str, int]:
    from epicity.records.store import LocationStore

    con = LocationStore(store).connect()
    try:
        return {
            table: int(con.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
            for table in ("cases", "routes", "daily_counts")
        }
    finally:
        con.close()


@needs_ingest
def test_import_mini_into_store(mini_dir: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    result = runner.invoke(app, ["import", str(mini_dir), "--store", str(store)])
    assert result.exit_code == 0, out_text(result)
    assert "Loaded into" in out_text(result)
    assert store_counts(store) == {"cases": 8, "routes": 4, "daily_counts": 6}
    # Loading the same source again is idempotent.
    result = runner.invoke(app, ["import", str(mini_dir), "--store", str(store)])
    assert result.exit_code == 0, out_text(result)
    assert store_counts(store) == {"cases": 8, "routes": 4, "daily_counts": 6}


@needs_ingest
@pytest.mark.realdata
def test_import_real_data_into_store(real_dir: Path, tmp_path: Path) -> None:
    from epicity.ds4c.convert import convert_ds4c
    from epicity.records.ingest import ingest_directory
    from epicity.records.store import LocationStore

    converted = tmp_path / "converted"
    report = convert_ds4c(real_dir, converted)
    store = tmp_path / "store"
    ingest_directory(converted, store)

    with (real_dir / "PatientInfo.csv").open(encoding="utf-8", newline="") as fh:
        info = list(csv.DictReader(fh))
    confirmed = [r for r in info if r["confirmed_date"].strip()]
    counts = store_counts(store)
    assert counts["cases"] == len(confirmed) == report.cases
    assert counts["routes"] == report.route_points
    assert counts["daily_counts"] == report.time_rows

    con = LocationStore(store).connect()
    try:
        row = con.execute(
            "SELECT CAST(confirmed_date AS VARCHAR), state FROM cases WHERE person_id = 1000000001"
        ).fetchone()
        assert row == ("2020-01-23", "released")
        seoul = con.execute("SELECT count(*) FROM cases WHERE province = 'Seoul'").fetchone()
        assert seoul[0] == sum(r["province"] == "Seoul" for r in confirmed)
        latest = con.execute(
            "SELECT confirmed FROM daily_counts WHERE region = 'Seoul' ORDER BY date DESC LIMIT 1"
        ).fetchone()
        assert report.latest_seoul is not None
        assert latest[0] == report.latest_seoul.confirmed
    finally:
        con.close()
