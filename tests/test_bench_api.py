"""Smoke test of bench/api.py: a tiny run on SQLite prints its table with no errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "api.py"


def test_quick_run_prints_table_without_errors(tmp_path: Path) -> None:
    """`--quick` seeds a small SQLite database, serves it and loads every scenario."""
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--server-log", str(tmp_path / "server.log")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| scenario | target req/s | achieved req/s | p50 ms")
    by_scenario = {r.split("|")[1].strip(): [c.strip() for c in r.split("|")[2:-1]] for r in rows}
    for scenario in ("case list", "case page", "case page (whole page)", "contact upload", "mix"):
        cells = by_scenario[scenario]
        assert cells[6] == "0", f"{scenario}: errors {cells[6]}"
        assert float(cells[1]) > 0, f"{scenario}: nothing answered"
    assert "us CPU per request" in done.stdout
    assert "SOME RUNS HAD ERRORS" not in done.stdout
    assert not (tmp_path / "server.log").exists(), (tmp_path / "server.log").read_text()
