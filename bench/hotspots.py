"""Detection power and false alarm rate of the hotspot scan on injected clusters.

The synthetic city (`epicity.city.generate`, generated once, or reused with ``--city``) gives
where people live; its homes are gridded into square cells (``--cell-m``, 1 km) whose
residents are the population at risk. Background cases are SIMULATED from that population:
each day of the 28-day study period ``--daily`` cases are shared out among cells in
proportion to their residents (Poisson counts conditioned on the daily total). The
"households" background instead draws cases in household bursts (1 + Poisson(0.5) cases in one
cell on one day), which is over-dispersed like real case data, to show what that does to
false alarms.

A cluster is injected at a cell drawn by population: the cells within ``--radius-m`` of it
receive ``extra`` cases over the last ``--duration`` days ending on the analysis day (split
evenly over the days, each case in a cell drawn by population within the cluster). Each run
is scanned prospectively on the analysis day (`epicity.analytics.scan.run_scan`: windows up
to 7 days, at most 10% of the population, 999 replications).

- **Power**: share of runs with a reported cluster at the threshold that shares a cell with
  the injected cluster and overlaps its days.
- **False alarm rate**: share of null runs (nothing injected) with any cluster at the
  threshold; for a daily analysis, the share of days with a false signal.

Thresholds: p < 0.05 (recurrence interval >= 20 days) and recurrence interval >= 100 days
(p <= 0.01), with SaTScan's minimum of 2 cases in a cluster and with 5. Daily totals are
the same in every run of a row, so the replicated null maxima are computed once per row and
shared by its runs (`run_scan`'s ``null_cache``).

It also times a full daily run (999 replications, nothing cached) on the grid and on the
25 districts.

Usage:
    python bench/hotspots.py [--runs 100] [--out docs/analytics] [--city DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from rich.console import Console
from rich.table import Table

from epicity.analytics.scan import district_locations, grid_counts, run_scan
from epicity.city.generate import CityConfig, generate_city

REPO = Path(__file__).resolve().parents[1]
STUDY_DAYS = 28
MAX_DAYS = 7
MAX_SHARE = 0.1
DAY0 = pd.Timestamp("2020-03-02")
SIZES = (3, 5, 8, 12, 20)


def city_cells(city: Path | None, people: int, seed: int, cell_m: float) -> pd.DataFrame:
    """Grid cells with residents from a synthetic city (generated once when not given)."""
    if city is None:
        city = Path(tempfile.mkdtemp(prefix="epicity-hotspots-"))
        generate_city(city, CityConfig(people=people, days=1, seed=seed))
    homes = pd.read_parquet(city / "people.parquet", columns=["home_lat", "home_lon"])
    none = pd.DataFrame({"date": pd.Series([], dtype="datetime64[ns]"), "lat": [], "lon": []})
    _, cells = grid_counts(
        none, pd.DataFrame({"lat": homes["home_lat"], "lon": homes["home_lon"]}), cell_m=cell_m
    )
    return cells.reset_index(drop=True)


def background(
    weights: NDArray[np.float64], daily: int, kind: str, rng: np.random.Generator
) -> NDArray[np.int64]:
    """(days, cells) background counts with exactly `daily` cases a day."""
    n = len(weights)
    grid = np.zeros((STUDY_DAYS, n), dtype=np.int64)
    for t in range(STUDY_DAYS):
        if kind == "poisson":
            grid[t] = rng.multinomial(daily, weights)
            continue
        left = daily
        while left > 0:  # household bursts until the day's total is reached
            size = min(left, 1 + int(rng.poisson(0.5)))
            grid[t, rng.choice(n, p=weights)] += size
            left -= size
    return grid


def inject(
    grid: NDArray[np.int64],
    cells: pd.DataFrame,
    extra: int,
    radius_m: float,
    duration: int,
    rng: np.random.Generator,
) -> tuple[set[int], set[int]]:
    """Add `extra` cases around a cell drawn by population; (cell indices, day indices)."""
    pop = cells["population"].to_numpy(dtype=float)
    centre = int(rng.choice(len(cells), p=pop / pop.sum()))
    x, y = cells["x"].to_numpy(), cells["y"].to_numpy()
    inside = np.flatnonzero(np.hypot(x - x[centre], y - y[centre]) <= radius_m)
    days = list(range(STUDY_DAYS - duration, STUDY_DAYS))
    per_day = np.full(duration, extra // duration)
    per_day[duration - extra % duration :] += 1  # an empty slice when it divides evenly
    share = pop[inside] / pop[inside].sum()
    for t, k in zip(days, per_day, strict=True):
        np.add.at(grid[t], rng.choice(inside, size=int(k), p=share), 1)
    return set(inside.tolist()), set(days)


def as_counts(grid: NDArray[np.int64], cells: pd.DataFrame) -> pd.DataFrame:
    t, z = np.nonzero(grid)
    return pd.DataFrame(
        {
            "location": cells["location"].to_numpy()[z],
            "date": DAY0 + pd.to_timedelta(t, unit="D"),
            "cases": grid[t, z],
        }
    )


def run_row(
    cells: pd.DataFrame,
    *,
    extra: int,
    kind: str,
    min_cases: int,
    runs: int,
    daily: int,
    radius_m: float,
    duration: int,
    replications: int,
    seed: int,
    cache: dict[str, NDArray[np.float64]],
) -> dict[str, object]:
    """`runs` scans of one scenario; detections at both thresholds."""
    rng = np.random.default_rng([seed, extra, 0 if kind == "poisson" else 1])
    pop = cells["population"].to_numpy(dtype=float)
    weights = pop / pop.sum()
    index = {name: i for i, name in enumerate(cells["location"])}
    hits = {0.05: 0, 0.01: 0}
    expected_inside: list[float] = []
    started = time.perf_counter()
    for _ in range(runs):
        grid = background(weights, daily, kind, rng)
        truth_cells, truth_days = (
            inject(grid, cells, extra, radius_m, duration, rng) if extra else (set(), set())
        )
        result = run_scan(
            as_counts(grid, cells),
            cells,
            day=DAY0 + pd.Timedelta(days=STUDY_DAYS - 1),
            max_days=MAX_DAYS,
            study_days=STUDY_DAYS,
            max_population_share=MAX_SHARE,
            min_cases=min_cases,
            replications=replications,
            seed=seed,
            null_cache=cache,
        )
        if extra:
            expected_inside.append(daily * duration * float(weights[list(truth_cells)].sum()))
        for alpha in hits:
            for row in result.clusters[result.clusters["p_value"] <= alpha].itertuples():
                if not extra:
                    hits[alpha] += 1
                    break
                members = {index[m] for m in row.locations}
                first = STUDY_DAYS - int(row.days)
                if members & truth_cells and any(d >= first for d in truth_days):
                    hits[alpha] += 1
                    break
    bg = float(np.mean(expected_inside)) if expected_inside else float("nan")
    return {
        "background": kind,
        "extra_cases": extra,
        "min_cases": min_cases,
        "runs": runs,
        "background_in_cluster": bg,
        "relative_risk": (bg + extra) / bg if extra else float("nan"),
        "signal_p05": hits[0.05] / runs,
        "signal_ri100": hits[0.01] / runs,
        "seconds": time.perf_counter() - started,
    }


def time_daily(cells: pd.DataFrame, daily: int, replications: int, seed: int) -> pd.DataFrame:
    """Seconds of one full daily run (nothing cached) on the grid and on the districts."""
    rng = np.random.default_rng(seed)
    rows = []
    districts = district_locations()
    for name, locs in (("grid", cells), ("districts", districts)):
        pop = locs["population"].to_numpy(dtype=float)
        grid = background(pop / pop.sum(), daily, "poisson", rng)
        counts = as_counts(grid, locs)
        started, cpu = time.perf_counter(), time.process_time()
        result = run_scan(
            counts,
            locs,
            max_days=MAX_DAYS,
            study_days=STUDY_DAYS,
            max_population_share=MAX_SHARE,
            replications=replications,
            seed=seed,
        )
        rows.append(
            {
                "locations": f"{name} ({len(locs)})",
                "windows": result.windows,
                "replications": replications,
                "seconds": time.perf_counter() - started,
                "cpu_seconds": time.process_time() - cpu,
            }
        )
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--city", type=Path, help="a generated city to reuse (people table)")
    parser.add_argument("--people", type=int, default=20_000, help="people when generating")
    parser.add_argument("--cell-m", type=float, default=1000.0)
    parser.add_argument("--daily", type=int, default=40, help="background cases a day")
    parser.add_argument("--radius-m", type=float, default=1000.0, help="injected cluster")
    parser.add_argument("--duration", type=int, default=3, help="injected cluster, days")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--replications", type=int, default=999)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "analytics")
    args = parser.parse_args(argv)

    console = Console()
    cells = city_cells(args.city, args.people, args.seed, args.cell_m)
    console.print(f"{len(cells)} cells of {args.cell_m:g} m with residents")
    cache: dict[str, NDArray[np.float64]] = {}
    rows = []
    scenarios = [("poisson", 0, 2), ("households", 0, 2)] + [("poisson", e, 2) for e in SIZES]
    # A window must hold 5 cases: one household alone no longer makes a cluster.
    scenarios += [("households", 0, 5), ("poisson", 0, 5), ("poisson", 8, 5), ("poisson", 12, 5)]
    for kind, extra, min_cases in scenarios:
        rows.append(
            run_row(
                cells,
                extra=extra,
                kind=kind,
                min_cases=min_cases,
                runs=args.runs,
                daily=args.daily,
                radius_m=args.radius_m,
                duration=args.duration,
                replications=args.replications,
                seed=args.seed,
                cache=cache,
            )
        )
        console.print(f"  {kind} +{extra} (min {min_cases}): done in {rows[-1]['seconds']:.1f} s")
    power = pd.DataFrame(rows)
    timing = time_daily(cells, args.daily, args.replications, args.seed)

    table = Table(
        title=f"Hotspot scan: {args.runs} runs a row, {args.daily} background cases a day, "
        f"cluster radius {args.radius_m:g} m over {args.duration} days"
    )
    for column in (
        "background",
        "min cases",
        "injected cases",
        "expected in cluster",
        "RR",
        "p<0.05",
        "RI>=100",
    ):
        table.add_column(column, justify="right")
    for r in rows:
        table.add_row(
            str(r["background"]),
            str(r["min_cases"]),
            str(r["extra_cases"]) if r["extra_cases"] else "none (false alarms)",
            f"{r['background_in_cluster']:.2f}" if r["extra_cases"] else "",
            f"{r['relative_risk']:.1f}" if r["extra_cases"] else "",
            f"{r['signal_p05']:.2f}",
            f"{r['signal_ri100']:.2f}",
        )
    console.print(table)
    timed = Table(title="One daily run, nothing cached")
    for column in ("locations", "windows", "replications", "seconds", "CPU seconds"):
        timed.add_column(column, justify="right")
    for t in timing.itertuples():
        timed.add_row(
            t.locations,
            f"{t.windows:,}",
            str(t.replications),
            f"{t.seconds:.2f}",
            f"{t.cpu_seconds:.2f}",
        )
    console.print(timed)

    args.out.mkdir(parents=True, exist_ok=True)
    power.drop(columns=["seconds"]).to_csv(args.out / "hotspots_power.csv", index=False)
    timing.to_csv(args.out / "hotspots_timing.csv", index=False)
    console.print(f"wrote {args.out / 'hotspots_power.csv'} and hotspots_timing.csv")


if __name__ == "__main__":
    main()
