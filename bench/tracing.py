"""Benchmark: tracing speed on an ingested store, against what a user would write instead.

- One case: cases of the store's busiest confirmation day traced one at a time, each through
  its own audited reader (as `epicity trace --case` does); the same cases found again by plain
  DuckDB SQL over the raw tables and by pandas/GeoPandas (bench/alternatives.py), in the same
  run, asserting identical contacts, tiers, scores and area counts. Medians.
- A day of cases: every case confirmed on that day, traced together (`investigate_many`,
  what `epicity trace --all-new` does) in a child process, whose peak RSS is reported.

Usage:
    python bench/tracing.py --store STORE [--cases 20] [--pandas-cases 5]

Needs the bench extra for the pandas/GeoPandas version: pip install -e '.[bench]'.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from accuracy import PURPOSE, investigator_access
from alternatives import duckdb_contacts, pandas_contacts, same_result
from epicity.privacy.access import LocationAccess
from epicity.records.store import LocationStore
from epicity.tracing.config import TracingConfig
from epicity.tracing.service import investigate, investigate_many


def busiest_day(access: LocationAccess) -> tuple[str, list[int]]:
    with access.open(PURPOSE) as reader:
        row = reader.query(
            "SELECT confirmed_date::VARCHAR AS day, list(person_id ORDER BY person_id) AS ids "
            "FROM cases GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
        ).to_pylist()[0]
    return str(row["day"]), [int(i) for i in row["ids"]]


def _peak_mb() -> float:
    """This process's peak resident memory in MB: VmHWM on Linux, which (unlike ru_maxrss)
    does not inherit the parent's size at fork."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_day(store_path: Path, limit: int | None) -> None:
    """Child process: trace the busiest day's cases together; print JSON."""
    store = LocationStore(store_path)
    with tempfile.TemporaryDirectory() as tmp, investigator_access(store, Path(tmp)) as access:
        day, ids = busiest_day(access)
        ids = ids[:limit] if limit else ids
        started = time.perf_counter()
        with access.open(PURPOSE) as reader:
            found = investigate_many(reader, ids)
        seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "day": day,
                "cases": len(ids),
                "seconds": seconds,
                "contacts": sum(len(i.contacts) for i in found),
                "peak_mb": _peak_mb(),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--cases", type=int, default=20, help="cases traced one at a time")
    parser.add_argument("--pandas-cases", type=int, default=5, help="of those, also by pandas")
    parser.add_argument("--day-cases", type=int, default=None, help="limit the day's cases")
    parser.add_argument("--day-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.day_only:
        run_day(args.store, args.day_cases)
        return
    store = LocationStore(args.store)
    config = TracingConfig()
    people = store.row_count("people")
    times: dict[str, list[float]] = {"epicity": [], "duckdb": [], "pandas": []}
    mismatches: list[str] = []
    contacts = 0
    with tempfile.TemporaryDirectory() as tmp, investigator_access(store, Path(tmp)) as access:
        day, ids = busiest_day(access)
        for n, case_id in enumerate(ids[: args.cases]):
            started = time.perf_counter()
            with access.open(PURPOSE, case_id=case_id) as reader:
                inv = investigate(reader, case_id, config=config)
            times["epicity"].append(time.perf_counter() - started)
            contacts += len(inv.contacts)
            methods = [("duckdb", duckdb_contacts)]
            if n < args.pandas_cases:
                methods.append(("pandas", pandas_contacts))
            for name, method in methods:
                started = time.perf_counter()
                with access.open(PURPOSE, case_id=case_id) as reader:
                    other = method(reader, inv, config)
                times[name].append(time.perf_counter() - started)
                same, why = same_result(inv, other)
                if not same:
                    mismatches.append(f"case {case_id}, {name}: {why}")
            print(
                f"case {case_id}: "
                + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items() if len(v) == n + 1),
                file=sys.stderr,
            )
    child = subprocess.run(
        [sys.executable, __file__, "--store", str(args.store), "--day-only"]
        + (["--day-cases", str(args.day_cases)] if args.day_cases else []),
        check=True,
        capture_output=True,
        text=True,
    )
    batch = json.loads(child.stdout.strip().splitlines()[-1])
    base = statistics.median(times["epicity"])
    print(f"\n{people:,} people; cases confirmed on {day}\n")
    print("| method | job | cases | median s per case | x epicity's time | total s | peak RSS MB |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, label in (
        ("epicity", "epicity (place-time index)"),
        ("duckdb", "plain DuckDB SQL, raw tables"),
        ("pandas", "pandas + GeoPandas"),
    ):
        if times[name]:
            med = statistics.median(times[name])
            print(
                f"| {label} | one case at a time | {len(times[name])} | {med:.3f} | "
                f"{med / base:.1f}x | {sum(times[name]):.1f} | |"
            )
    per_case = batch["seconds"] / batch["cases"]
    print(
        f"| epicity (place-time index) | the day's cases together | {batch['cases']} | "
        f"{per_case:.3f} | | {batch['seconds']:.1f} | {batch['peak_mb']:,.0f} |"
    )
    for name, label in (("duckdb", "plain DuckDB SQL"), ("pandas", "pandas + GeoPandas")):
        if times[name]:
            est = statistics.median(times[name]) * batch["cases"]
            print(
                f"| {label} | the day's cases, one by one (estimate: median x cases) | "
                f"{batch['cases']} | | | ~{est:,.0f} | |"
            )
    print(f"\n{contacts:,} contacts in the cases traced one at a time.")
    if mismatches:
        print("MISMATCHES:\n" + "\n".join(mismatches))
        raise SystemExit(1)
    print("Identical contacts, tiers, scores and area counts from every method.")


if __name__ == "__main__":
    main()
