"""`epicity screening plan`: runs with small numbers, writes its PNG and JSON, refuses bad
options naming them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from epicity.cli import app

runner = CliRunner()
SMALL = ["screening", "plan", "--tests", "600", "--max-lanes", "30", "--max-machines", "6"]


def test_plan_prints_the_trials_and_writes_png_and_json(tmp_path: Path) -> None:
    png, out = tmp_path / "day.png", tmp_path / "plan.json"
    result = runner.invoke(app, [*SMALL, "--seed", "2", "--png", str(png), "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "Configurations tried" in result.output
    assert "Chosen:" in result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads(out.read_text())
    assert data["chosen"] is not None
    assert data["day"]["share_within_target"] >= 0.95
    assert any(t["feasible"] for t in data["trials"])
    assert data["day"]["queue"][0][0] == "09:00"
    # Deterministic by seed.
    again = runner.invoke(app, [*SMALL, "--seed", "2", "--json", str(tmp_path / "b.json")])
    assert json.loads((tmp_path / "b.json").read_text()) == data
    assert again.exit_code == 0


def test_no_pooling_never_pools(tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    result = runner.invoke(app, [*SMALL, "--no-pooling", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert not any(t["pooling"] for t in json.loads(out.read_text())["trials"])


def test_nothing_serves_exits_1() -> None:
    result = runner.invoke(
        app, ["screening", "plan", "--tests", "600", "--max-lanes", "3", "--max-machines", "1"]
    )
    assert result.exit_code == 1
    assert "No configuration" in result.output


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--tests", "0"], "--tests"),
        (["--tests", "abc"], "--tests"),
        (["--tests", "10000000"], "--tests"),
        (["--target-share", "0"], "--target-share"),
        (["--target-share", "1.5"], "--target-share"),
        (["--target-share", "nan"], "--target-share"),
        (["--hours", "-1"], "--hours"),
        (["--prevalence", "2"], "--prevalence"),
        (["--seed", "-3"], "--seed"),
        (["--max-lanes", "2"], "--max-lanes"),
        (["--max-machines", "0"], "--max-machines"),
        (["--lane-cost", "-1"], "--lane-cost"),
        (["--png", "out.jpg"], "--png"),
        (["--png", "/no/such/folder/out.png"], "--png"),
        (["--json", "out.txt"], "--json"),
    ],
)
def test_bad_options_are_refused(args: list[str], option: str) -> None:
    result = runner.invoke(app, ["screening", "plan", *args])
    assert result.exit_code == 2, result.output
    assert option in result.output
