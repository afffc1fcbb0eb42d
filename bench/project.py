"""Project bench/scale.py's measured runs to a city or a nation: data volume and cluster size.

Reads runs of ``bench/scale.py`` at two or more city sizes (each ``--run`` is its ``--work``
directory: its ``scale.json`` and the DuckDB-loaded store beside it; repeats at one size count
by their median) and, for each engine and step, fits the
measured core-seconds to ``fixed + per_record * records`` (least squares over the runs). The
fixed part (JVM and job start, the driver's work) does not shrink with more cores; the
per-record part does. For a target population over ``--days`` days it prints

- the data volume: records (at the runs' records per person and day) and store bytes (at the
  largest run's bytes per record, source tables and index apart);
- for each step, the core-seconds of the work and the cores that do it within ``--budget``
  seconds, with ``--margin`` for what local mode does not show (network shuffles, stragglers,
  a shared cluster);
- tracing's cost per case grows with the city (more people under each tower and at each
  venue): fitted as a power of the population over the runs. Its serial part (the timeline,
  tiers and scores, Python on the driver) is taken as DuckDB's whole trace time, which holds
  the same Python plus its own queries.

Usage (after bench/scale.py at 100k and 1M people; see docs/scaling.md):

    .venv/bin/python bench/project.py --run /work/bench/scale100k --run /work/bench/scale1m
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from dataclasses import dataclass, replace
from pathlib import Path

from epicity.records.store import LocationStore

SOURCE_TABLES = ("gps", "cell", "card", "entries")
INDEX_TABLES = ("stay_index", "cell_runs_index", "visit_index")
TARGETS = {"Seoul": 10_000_000, "Korea": 52_000_000}


@dataclass(frozen=True)
class Run:
    """One measured step of one engine at one city size."""

    people: int
    days: int
    engine: str
    step: str
    cores: int
    seconds: float
    records: int
    cases: int

    @property
    def core_seconds(self) -> float:
        return self.seconds * self.cores


def _dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def load_runs(work: Path, days: int) -> tuple[list[Run], dict[str, int]]:
    """The steps of one bench/scale.py run, and its store's bytes (sources and index)."""
    rows = json.loads((work / "scale.json").read_text())
    store = LocationStore(work / "store-duckdb")
    people = store.row_count("people")
    runs = [
        Run(
            people=people,
            days=days,
            engine=r["engine"],
            step=r["step"],
            cores=int(r.get("cores", 2)),
            seconds=float(r["seconds"]),
            records=int(r["records"]),
            cases=int(r.get("cases") or 0),
        )
        for r in rows
    ]
    sizes = {
        "source": sum(_dir_bytes(store.path / t) for t in SOURCE_TABLES),
        "index": sum(_dir_bytes(store.path / t) for t in INDEX_TABLES),
    }
    return runs, sizes


def median_runs(runs: list[Run]) -> list[Run]:
    """One run per engine, step and city size: the median seconds of its repeats."""
    groups: dict[tuple[str, str, int], list[Run]] = {}
    for r in runs:
        groups.setdefault((r.engine, r.step, r.people), []).append(r)
    return [
        replace(same[0], seconds=statistics.median(r.seconds for r in same))
        for same in groups.values()
    ]


def fit_line(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares ``y = a + b x`` (a clamped at 0: a step has no negative fixed cost)."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    a = my - b * mx
    if a < 0:
        return 0.0, sum(x * y for x, y in zip(xs, ys, strict=True)) / sum(x * x for x in xs)
    return a, b


def power_growth(people: list[int], values: list[float]) -> float:
    """The exponent k of ``value ~ people^k`` through the smallest and largest runs."""
    return math.log(values[-1] / values[0]) / math.log(people[-1] / people[0])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", type=Path, action="append", required=True)
    parser.add_argument("--days", type=int, default=14, help="days of records kept")
    parser.add_argument("--run-days", type=int, default=14, help="days of the runs' cities")
    parser.add_argument("--cases", type=int, default=900, help="cases traced in the day")
    parser.add_argument("--budget", type=float, default=300.0, help="seconds for the job")
    parser.add_argument("--margin", type=float, default=2.0, help="cluster overhead factor")
    args = parser.parse_args()
    measured: list[Run] = []
    sizes: dict[int, dict[str, int]] = {}
    for work in args.run:
        found, size = load_runs(work, args.run_days)
        measured += found
        sizes[found[0].people] = size
    if len(sizes) < 2:
        parser.error("--run: give runs at two city sizes at least, to fit")
    runs = median_runs(measured)
    largest = max(sizes)
    big = [r for r in runs if r.people == largest]
    per_person_day = big[0].records / largest / big[0].days
    bytes_per_record = {k: v / big[0].records for k, v in sizes[largest].items()}

    print("## Measured (median of the runs; core-seconds = wall seconds x cores)\n")
    columns = ("engine", "step", "people", "runs", "each run s", "records", "median s", "core-s")
    print("| " + " | ".join((*columns, "records/s per core")) + " |")
    print("|---|---|---:|---:|---|---:|---:|---:|---:|")
    for r in sorted(runs, key=lambda r: (r.engine, r.step, r.people)):
        each = sorted(
            m.seconds
            for m in measured
            if (m.engine, m.step, m.people) == (r.engine, r.step, r.people)
        )
        print(
            f"| {r.engine} | {r.step} | {r.people:,} | {len(each)} | "
            f"{', '.join(f'{x:.1f}' for x in each)} | {r.records:,} | {r.seconds:.1f} | "
            f"{r.core_seconds:.0f} | {r.records / r.core_seconds:,.0f} |"
        )

    fits: dict[tuple[str, str], tuple[float, float]] = {}  # (fixed wall s, core-s per record)
    growth: dict[str, float] = {}
    print("\n## Fits\n")
    print("| engine | step | fixed core-s | marginal records/s per core | note |")
    print("|---|---|---:|---:|---|")
    for engine in sorted({r.engine for r in runs}):
        for step in ("ingest", "index", "trace"):
            steps = sorted(
                (r for r in runs if r.engine == engine and r.step == step), key=lambda r: r.people
            )
            if len(steps) < 2:
                continue
            if step == "trace":
                # Per case, growing with the city: core-s per case ~ people^k.
                per_cases = [r.core_seconds / r.cases for r in steps]
                k = power_growth([r.people for r in steps], per_cases)
                growth[engine] = k
                print(
                    f"| {engine} | trace | | | {per_cases[-1]:.3f} core-s per case at "
                    f"{steps[-1].people:,} people, growing as people^{k:.2f} |"
                )
                continue
            a, b = fit_line([r.records for r in steps], [r.core_seconds for r in steps])
            fits[(engine, step)] = (a / steps[-1].cores, b)
            print(f"| {engine} | {step} | {a:.0f} | {1 / b:,.0f} | |")

    print(
        f"\n## Projection: {args.days} days of records, {per_person_day:.1f} records per person "
        f"and day (as measured), {args.cases} cases traced, {args.budget:.0f} s budget, "
        f"margin x{args.margin:g}\n"
    )
    print(
        "| target | people | records | source GB | index GB | engine | step | work core-h "
        "| fixed s | cores for the budget |"
    )
    print("|---|---:|---:|---:|---:|---|---|---:|---:|---:|")
    for name, people in TARGETS.items():
        records = people * per_person_day * args.days
        day_records = records / args.days
        src_gb = records * bytes_per_record["source"] / 1e9
        idx_gb = records * bytes_per_record["index"] / 1e9
        head = f"| {name} | {people:,} | {records / 1e9:,.2f} B | {src_gb:,.0f} | {idx_gb:,.0f} |"
        # DuckDB runs on one machine: only Spark's work spreads over a cluster.
        for engine in ("spark",):
            jobs: dict[str, tuple[float, float]] = {}
            if (engine, "ingest") in fits:
                a, b = fits[(engine, "ingest")]
                jobs["ingest (the day's records)"] = (b * day_records, a)
            if (engine, "index") in fits:
                a, b = fits[(engine, "index")]
                jobs[f"index ({args.days} days, rebuilt)"] = (b * records, a)
            if engine in growth:
                per_case = _trace_at(runs, engine, people, growth[engine], wall=False)
                # The timeline, tiers and scores are Python on the driver: serial. DuckDB's
                # whole trace (its queries and the same Python) bounds that part.
                driver = _trace_at(runs, "duckdb", people, growth.get("duckdb", 0.0), wall=True)
                jobs[f"trace ({args.cases} cases)"] = (per_case * args.cases, driver * args.cases)
            for step, (core_s, fixed) in jobs.items():
                cores = _cores(core_s * args.margin, fixed, args.budget)
                print(f"{head} {engine} | {step} | {core_s / 3600:,.1f} | {fixed:.0f} | {cores} |")
                head = "| | | | | |"
            total = sum(c for c, _ in jobs.values())
            fixed_all = sum(f for _, f in jobs.values())
            print(
                f"{head} {engine} | **all three** | {total / 3600:,.1f} | {fixed_all:.0f} | "
                f"{_cores(total * args.margin, fixed_all, args.budget)} |"
            )
            head = "| | | | | |"


def _trace_at(runs: list[Run], engine: str, people: int, k: float, *, wall: bool) -> float:
    """Tracing's core-seconds (or wall seconds) per case at `people`, from the largest run of
    `engine` grown as people^k; 0 when the engine was not run."""
    steps = sorted(
        (r for r in runs if r.engine == engine and r.step == "trace"), key=lambda r: r.people
    )
    if not steps:
        return 0.0
    last = steps[-1]
    per_case = (last.seconds if wall else last.core_seconds) / last.cases
    return float(per_case * (people / last.people) ** k)


def _cores(core_seconds: float, fixed_wall: float, budget: float) -> str:
    """Cores that finish `core_seconds` of parallel work in what `budget` leaves after the
    fixed (serial) wall time."""
    left = budget - fixed_wall
    if left <= 0:
        return "not within the budget"
    return f"{math.ceil(core_seconds / left):,}"


if __name__ == "__main__":
    main()
