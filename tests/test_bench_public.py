"""Smoke test of bench/public.py: a tiny run on SQLite prints its table with no errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "public.py"


@pytest.mark.slow
def test_quick_run_prints_table_without_errors(tmp_path: Path) -> None:
    """`--quick` seeds and publishes a small SQLite database, serves it with and without the
    response cache and loads every scenario."""
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--server-log", str(tmp_path / "server.log")],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| scenario | target req/s | achieved req/s | p50 ms")
    by_scenario = {r.split("|")[1].strip(): [c.strip() for c in r.split("|")[2:-1]] for r in rows}
    for scenario in ("cached", "cached, If-None-Match (304)", "uncached", "/healthz (floor)"):
        cells = by_scenario[scenario]
        assert cells[6] == "0", f"{scenario}: errors {cells[6]}"
        assert float(cells[1]) > 0, f"{scenario}: nothing answered"
    assert "most a server answers" in done.stdout
    assert "load average at start" in done.stdout
    assert "SOME RUNS HAD ERRORS" not in done.stdout
    assert not (tmp_path / "server.log").exists(), (tmp_path / "server.log").read_text()
