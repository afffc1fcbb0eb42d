"""`epicity ingest` through Typer's CliRunner on a small app wrapping the command."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from epicity.records.cli import ingest
from epicity.records.store import LocationStore

from .helpers import GPS, snapshot, write_csv

app = typer.Typer()
app.command("ingest")(ingest)
app.command("noop")(lambda: None)  # keep `ingest` a sub-command, as under the root CLI


def test_ingest_prints_table(city: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    result = CliRunner().invoke(app, ["ingest", str(city), "--store", str(store)])
    assert result.exit_code == 0, result.output
    assert "gps" in result.output
    assert "records/s" in result.output
    assert LocationStore(store).row_count("gps") == len(GPS)


def test_bad_input_exits_2_with_message(city: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    assert CliRunner().invoke(app, ["ingest", str(city), "--store", str(store)]).exit_code == 0
    before = snapshot(store)
    bad = tmp_path / "bad"
    write_csv(bad, "gps", [{**GPS[0], "ts": "2020-03-02T09:00:00"}])
    result = CliRunner().invoke(app, ["ingest", str(bad), "--store", str(store)])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: gps.csv, row 1 (line 2), field 'ts': ")
    assert "no UTC offset" in result.stderr
    assert snapshot(store) == before


def test_source_must_be_a_directory(tmp_path: Path) -> None:
    for bad in (tmp_path / "missing", write_csv(tmp_path, "gps", GPS)):
        result = CliRunner().invoke(app, ["ingest", str(bad), "--store", str(tmp_path / "s")])
        assert result.exit_code == 2
        assert "Invalid value" in result.stderr
    assert not (tmp_path / "s").exists()


def test_root_cli_subprocess(city: Path, tmp_path: Path) -> None:
    """`python -m epicity ingest`, when the root CLI (edited elsewhere) imports cleanly."""
    import subprocess
    import sys

    store = tmp_path / "store"
    write_csv(city, "cell", [{"person_id": 1, "ts": "2020-03-02", "tower_id": 1}])
    cmd = [sys.executable, "-m", "epicity", "ingest", str(city), "--store", str(store)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if "ImportError" in proc.stderr or "ModuleNotFoundError" in proc.stderr:
        pytest.skip("the root CLI does not import yet")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: cell.csv, row 1 (line 2), field 'ts': '2020-03-02'")
    assert "has no UTC offset" in proc.stderr
    assert not LocationStore(store).tables()
