"""Smoke run of bench/scale.py on a tiny city with DuckDB (its Spark side is what
tests/spark/test_trace_spark.py compares): the steps run as children, the table and
scale.json report them, the case batch spans the busiest days, and the digest of contacts
sees a changed score."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from epicity.city.generate import CityConfig, generate_city
from epicity.records.store import LocationStore
from epicity.tracing.service import investigate_many

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))
from accuracy import PURPOSE, investigator_access  # noqa: E402
from project import Run, _cores, fit_line, median_runs, power_growth  # noqa: E402
from scale import busiest_day_cases, digest, measure  # noqa: E402

CITY = CityConfig(people=400, days=3, seed=21, seed_infections=60, transmission=3.0)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("scale")
    generate_city(root / "city", CITY)
    cmd = [sys.executable, str(BENCH / "scale.py"), "--city", str(root / "city")]
    cmd += ["--work", str(root / "work"), "--engines", "duckdb", "--cases", "8"]
    done = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return root, done.stdout


def test_each_step_is_measured_and_tabled(run: tuple[Path, str]) -> None:
    root, stdout = run
    rows = json.loads((root / "work" / "scale.json").read_text())
    assert [r["step"] for r in rows] == ["ingest", "index", "trace"]
    store = LocationStore(root / "work" / "store-duckdb")
    records = sum(store.row_count(t) for t in ("gps", "cell", "card", "entries"))
    for r in rows:
        assert r["engine"] == "duckdb"
        assert r["records"] == records
        assert r["seconds"] > 0
        # A Python process with DuckDB and the store open holds tens of MB at least.
        assert r["peak_mb"] > 30
    table = [line for line in stdout.splitlines() if line.startswith("| duckdb |")]
    assert len(table) == 3
    trace = rows[2]
    assert trace["cases"] == 8
    assert trace["contacts"] > 0


def test_the_batch_takes_the_busiest_days_in_turn(run: tuple[Path, str]) -> None:
    root, _ = run
    store = LocationStore(root / "work" / "store-duckdb")
    con = store.connect()
    try:
        per_day = dict(
            con.execute(
                "SELECT confirmed_date::VARCHAR, count(*) FROM cases GROUP BY 1 ORDER BY 2 DESC, 1"
            ).fetchall()
        )
    finally:
        con.close()
    busiest = next(iter(per_day))
    days, ids = busiest_day_cases(store, per_day[busiest])
    assert days == busiest
    assert len(ids) == per_day[busiest]
    days, ids = busiest_day_cases(store, per_day[busiest] + 1)
    assert days.split(",") == list(per_day)[:2]
    assert len(ids) == len(set(ids)) == per_day[busiest] + 1


def test_the_digest_sees_a_changed_score(run: tuple[Path, str]) -> None:
    root, _ = run
    store = LocationStore(root / "work" / "store-duckdb")
    _, ids = busiest_day_cases(store, 8)
    with investigator_access(store, root) as access, access.open(PURPOSE, cases=ids) as reader:
        found = investigate_many(reader, ids)
    first = next(i for i in found if i.contacts)
    changed = dataclasses.replace(first.contacts[0], risk_score=first.contacts[0].risk_score + 1e-9)
    altered = [
        dataclasses.replace(i, contacts=[changed, *i.contacts[1:]]) if i is first else i
        for i in found
    ]
    assert digest(found) == digest(list(reversed(found)))  # the order of cases is not part of it
    assert digest(altered) != digest(found)


def test_peak_memory_counts_the_childs_whole_tree(tmp_path: Path) -> None:
    # The child starts a grandchild holding 200 MB: the peak must include it.
    code = (
        "import json, subprocess, sys;"
        "p = subprocess.run([sys.executable, '-c', "
        "'import time; b = bytearray(200 * 2**20); b[::4096] = bytes(len(b[::4096])); "
        "time.sleep(1.5)']);"
        "print(json.dumps({'ok': p.returncode}))"
    )
    out, peak_mb = measure([sys.executable, "-c", code], {})
    assert out == {"ok": 0}
    assert peak_mb > 200


def test_the_projection_fits_fixed_and_per_record_costs() -> None:
    a, b = fit_line([1e6, 1e7, 1e8], [5 + 2e-6 * x for x in (1e6, 1e7, 1e8)])
    assert a == pytest.approx(5)
    assert b == pytest.approx(2e-6)
    # A negative intercept is no fixed cost: the line goes through the origin.
    a, b = fit_line([1.0, 2.0], [1.0, 3.0])
    assert a == 0
    assert b == pytest.approx(7 / 5)
    assert power_growth([100_000, 1_000_000], [0.1, 0.2]) == pytest.approx(math.log10(2))
    # 600 core-s in the 300 s budget less 60 s of fixed time: 3 cores (2.5 rounded up).
    assert _cores(600, 60, 300) == "3"
    assert _cores(600, 300, 300) == "not within the budget"


def test_repeats_at_one_size_count_by_their_median() -> None:
    def run(people: int, seconds: float, step: str = "ingest") -> Run:
        return Run(people, 14, "spark", step, 2, seconds, people * 300, 0)

    runs = [run(100, 9.0), run(100, 1.0), run(100, 2.0), run(1000, 5.0), run(100, 7.0, "index")]
    got = {(r.step, r.people): r.seconds for r in median_runs(runs)}
    assert got == {("ingest", 100): 2.0, ("ingest", 1000): 5.0, ("index", 100): 7.0}
