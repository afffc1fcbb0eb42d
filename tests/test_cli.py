"""The root command line: every domain's commands are reachable, bad arguments exit with 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from epicity import __version__
from epicity.cli import app
from epicity.records.store import LocationStore

runner = CliRunner()


def test_version_and_help_list_the_commands() -> None:
    assert runner.invoke(app, ["--version"]).output.strip() == __version__
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("city", "ds4c", "ingest", "demo"):
        assert command in result.output


def test_city_generate_writes_the_tables(tmp_path: Path) -> None:
    out = tmp_path / "city"
    result = runner.invoke(
        app, ["city", "generate", "--people", "400", "--days", "2", "--out", str(out), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    assert "confirmed cases" in result.output
    for table in ("towers", "merchants", "people", "cases", "gps", "cell", "card", "entries"):
        assert (out / f"{table}.parquet").is_file()


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["--people", "0"], "--people"),
        (["--days", "0"], "--days"),
        (["--seed", "-1"], "--seed"),
        (["--format", "xml"], "--format"),
        (["--start", "2020-02-30"], "--start"),
        (["--transmission", "-2"], "--transmission"),
    ],
)
def test_city_generate_rejects_bad_arguments(tmp_path: Path, args: list[str], names: str) -> None:
    result = runner.invoke(app, ["city", "generate", "--out", str(tmp_path / "c"), *args])
    assert result.exit_code == 2
    assert names in result.output
    assert not (tmp_path / "c").exists()


def test_demo_generates_loads_and_summarises(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    args = ["demo", "--people", "500", "--days", "2", "--dir", str(workdir)]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "Location store" in first.output
    store = LocationStore(workdir / "store")
    assert store.row_count("people") == 500
    cells = store.row_count("cell")
    assert cells > 0
    # Running it again regenerates the same city (same seed) and the load adds nothing.
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert LocationStore(workdir / "store").row_count("cell") == cells


def test_demo_without_any_confirmed_case(tmp_path: Path) -> None:
    # One day of a small city: nobody is confirmed yet, and the demo says so instead of failing.
    result = runner.invoke(
        app, ["demo", "--people", "300", "--days", "1", "--dir", str(tmp_path / "d")]
    )
    assert result.exit_code == 0, result.output
    assert "Traced cases" in result.output
