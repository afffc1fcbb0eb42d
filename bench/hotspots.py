"""Detection power and false alarm rate of the hotspot scan, case vs household units.

The synthetic city (`epicity.city.generate`, generated once, or reused with ``--city``) gives
where people live and in which household; homes are gridded into square cells (``--cell-m``,
1 km) whose residents (and households) are the population at risk. Background cases are
SIMULATED on those real households, over a 28-day study period and the 99 days before it
(the calibration days):

- **households** (the realistic background): each day ``--households`` households (27) have
  cases, each a burst of 1 + Poisson(0.5) cases confirmed the same day at the household's
  home (about 40 cases a day); a household is drawn with probability proportional to its
  size among those with at least as many members, and has cases once in the 127 days.
- **independent**: each day ``--daily`` (40) cases, each in a different household (the
  Poisson model's own assumption), for reference.

Daily burst sizes follow one of ``--patterns`` fixed draws (run i uses pattern i mod P), so the
daily totals repeat and the Monte Carlo null is computed once per pattern (`run_scan`'s
``null_cache``); the households, hence the places, are new in every run.

An outbreak is injected as **several households in one neighbourhood** (a local cluster of
household introductions, e.g. around a shared venue): ``k`` households living within
``--radius-m`` (1 km) of a cell drawn by population get bursts of 2, 1, 2, 1, ... cases (1.5 a
household on average, as in the background), spread evenly over the last ``--duration`` (3)
days.

Each run is scanned prospectively on the last day (windows up to 7 days, at most 10% of the
residents, 999 replications) in four ways: the case unit and the household unit, each with the
Monte Carlo p-value and with the empirical p-value against the 99 past days' highest LLRs
(``calibration_days=99``, Neill 2009).

- **Power**: share of runs with a reported cluster at the threshold that shares a cell with
  the injected households and overlaps their days.
- **False alarm rate**: share of null runs (nothing injected) with any cluster at the
  threshold; for a daily analysis, the share of days with a false signal.

Thresholds: p < 0.05 (recurrence interval >= 20 days) and p <= 0.01 (recurrence interval >= 100
days), SaTScan's minimum of 2 units in a cluster. It also times a full daily run (999
replications, nothing cached) on the grid and on the 25 districts, and the calibration.

Usage:
    python bench/hotspots.py [--runs 100] [--out docs/analytics] [--city DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from rich.console import Console
from rich.table import Table

from epicity.analytics.scan import district_locations, grid_counts, run_scan
from epicity.city.generate import CityConfig, generate_city
from epicity.geo import LocalProjection

REPO = Path(__file__).resolve().parents[1]
STUDY_DAYS = 28
CALIBRATION_DAYS = 99
DAYS = STUDY_DAYS + CALIBRATION_DAYS
MAX_DAYS = 7
MAX_SHARE = 0.1
DAY0 = pd.Timestamp("2020-01-01")
SIZES = (3, 5, 8, 12)
METHODS = {
    "case_mc": ("case", "p_value"),
    "household_mc": ("household", "p_value"),
    "case_calibrated": ("case", "empirical_p"),
    "household_calibrated": ("household", "empirical_p"),
}


@dataclass(frozen=True)
class City:
    cells: pd.DataFrame  # location, x, y, lat, lon, population, households
    home: NDArray[np.int64]  # each household's cell
    size: NDArray[np.int64]  # each household's members


def load_city(city: Path | None, people: int, seed: int, cell_m: float) -> City:
    """Cells with residents and households, and each household's cell and size."""
    if city is None:
        city = Path(tempfile.mkdtemp(prefix="epicity-hotspots-"))
        generate_city(city, CityConfig(people=people, days=1, seed=seed))
    frame = pd.read_parquet(
        city / "people.parquet", columns=["home_lat", "home_lon", "household_id"]
    )
    frame = frame.dropna().rename(columns={"home_lat": "lat", "home_lon": "lon"})
    none = pd.DataFrame(
        {"date": pd.Series([], dtype="datetime64[ns]"), "lat": [], "lon": [], "household_id": []}
    )
    _, cells = grid_counts(none, frame, cell_m=cell_m, household_column="household_id")
    cells = cells.reset_index(drop=True)
    # The same local projection and cell names as grid_counts, for each household's home.
    homes = frame.groupby("household_id").agg(
        lat=("lat", "first"), lon=("lon", "first"), n=("lat", "size")
    )
    proj = LocalProjection(float(frame["lat"].mean()), float(frame["lon"].mean()))
    x, y = proj.to_xy(homes["lat"].to_numpy(), homes["lon"].to_numpy())
    names = [
        f"r{r}c{c}"
        for r, c in zip(
            np.floor(y / cell_m).astype(int), np.floor(x / cell_m).astype(int), strict=True
        )
    ]
    index = {name: i for i, name in enumerate(cells["location"])}
    home = np.array([index[n] for n in names], dtype=np.int64)
    return City(cells, home, homes["n"].to_numpy(dtype=np.int64))


def burst_patterns(
    kind: str, per_day: int, patterns: int, seed: int, largest: int
) -> list[list[NDArray[np.int64]]]:
    """Each pattern: the burst sizes of each of the DAYS days."""
    rng = np.random.default_rng([seed, 7])
    if kind == "independent":
        return [[np.ones(per_day, dtype=np.int64)] * DAYS]
    # At most `largest` cases: no household is bigger.
    return [
        [np.minimum(1 + rng.poisson(0.5, size=per_day), largest) for _ in range(DAYS)]
        for _ in range(patterns)
    ]


def pick(
    city: City, sizes: NDArray[np.int64], free: NDArray[np.bool_], rng: np.random.Generator
) -> NDArray[np.int64] | None:
    """Households for bursts of `sizes` among `free` ones (by size, at least the burst's
    members), without replacement; marks them used. None when too few are free."""
    chosen = np.empty(len(sizes), dtype=np.int64)
    for s in np.unique(sizes)[::-1]:
        slots = np.flatnonzero(sizes == s)
        cands = np.flatnonzero(free & (city.size >= s))
        if len(cands) < len(slots):
            return None
        w = city.size[cands].astype(float)
        got = rng.choice(cands, size=len(slots), replace=False, p=w / w.sum())
        chosen[slots] = got
        free[got] = False
    return chosen


def simulate(
    city: City,
    pattern: list[NDArray[np.int64]],
    extra: NDArray[np.int64],
    radius_m: float,
    duration: int,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, set[int], set[int]]:
    """Case counts with household labels; the injected cells and days."""
    day = np.concatenate([np.full(len(p), t) for t, p in enumerate(pattern)])
    sizes = np.concatenate(pattern)
    free = np.ones(len(city.size), dtype=bool)
    hh = pick(city, sizes, free, rng)
    assert hh is not None, "the city has too few households for the background"
    truth_cells: set[int] = set()
    truth_days: set[int] = set()
    if len(extra):
        pop = city.cells["population"].to_numpy(dtype=float)
        x, y = city.cells["x"].to_numpy(), city.cells["y"].to_numpy()
        while True:
            centre = int(rng.choice(len(pop), p=pop / pop.sum()))
            near = np.hypot(x - x[centre], y - y[centre]) <= radius_m
            got = pick(city, extra, free & near[city.home], rng)
            if got is not None:
                break
        k = len(extra)
        days = np.repeat(np.arange(DAYS - duration, DAYS), k // duration)
        days = (
            np.concatenate([np.arange(DAYS - k % duration, DAYS), days]) if k % duration else days
        )
        day = np.concatenate([day, np.sort(days)])
        sizes = np.concatenate([sizes, extra])
        hh = np.concatenate([hh, got])
        truth_cells = set(city.home[got].tolist())
        truth_days = set(days.tolist())
    counts = pd.DataFrame(
        {
            "location": city.cells["location"].to_numpy()[city.home[hh]],
            "date": DAY0 + pd.to_timedelta(day, unit="D"),
            "cases": sizes,
            "household": hh,
        }
    )
    return counts, truth_cells, truth_days


def run_row(
    city: City,
    *,
    kind: str,
    k: int,
    patterns: list[list[NDArray[np.int64]]],
    runs: int,
    radius_m: float,
    duration: int,
    replications: int,
    seed: int,
    cache: dict[str, NDArray[np.float64]],
) -> dict[str, object]:
    """`runs` scans of one scenario, four ways; detections at both thresholds."""
    rng = np.random.default_rng([seed, k, 0 if kind == "independent" else 1])
    # The injected households' bursts: 2, 1, 2, 1, ... cases (1.5 a household, the mean of
    # 1 + Poisson(0.5)), so that a row's size says how many households and cases.
    extra = np.where(np.arange(k) % 2 == 0, 2, 1).astype(np.int64)
    index = {name: i for i, name in enumerate(city.cells["location"])}
    pop = city.cells["population"].to_numpy(dtype=float)
    hits = {(m, a): 0 for m in METHODS for a in (0.05, 0.01)}
    expected_there: list[float] = []
    started = time.perf_counter()
    last = DAY0 + pd.Timedelta(days=DAYS - 1)
    for r in range(runs):
        pattern = patterns[r % len(patterns)]
        counts, cells, days = simulate(city, pattern, extra, radius_m, duration, rng)
        if k:
            daily = float(np.mean([p.sum() for p in pattern[-duration:]]))
            expected_there.append(daily * duration * pop[list(cells)].sum() / pop.sum())
        results = {
            unit: run_scan(
                counts,
                city.cells,
                day=last,
                max_days=MAX_DAYS,
                study_days=STUDY_DAYS,
                max_population_share=MAX_SHARE,
                unit=unit,
                calibration_days=CALIBRATION_DAYS,
                replications=replications,
                seed=seed,
                null_cache=cache,
            ).clusters
            for unit in ("case", "household")
        }
        for (method, alpha), _ in list(hits.items()):
            unit, column = METHODS[method]
            found = results[unit]
            for row in found[found[column] <= alpha].itertuples():
                members = {index[m] for m in row.locations}
                first = DAYS - int(row.days)
                if not k or (members & cells and any(d >= first for d in days)):
                    hits[(method, alpha)] += 1
                    break
    out: dict[str, object] = {
        "background": kind,
        "injected_households": k,
        "injected_cases": int(extra.sum()),
        "background_cases_there": float(np.mean(expected_there)) if k else float("nan"),
        "runs": runs,
    }
    for (method, alpha), n in hits.items():
        out[f"{method}_{'p05' if alpha == 0.05 else 'ri100'}"] = n / runs
    out["seconds"] = time.perf_counter() - started
    return out


def time_daily(city: City, daily: int, replications: int, seed: int) -> pd.DataFrame:
    """Seconds of one full daily run (nothing cached) on the grid and on the districts, and
    of the grid run with the 99-day calibration."""
    rng = np.random.default_rng(seed)
    rows = []
    for name, locs, calibration in (
        ("grid", city.cells, 0),
        ("grid + calibration", city.cells, CALIBRATION_DAYS),
        ("districts", district_locations(), 0),
    ):
        pop = locs["population"].to_numpy(dtype=float)
        grid = rng.multinomial(daily, pop / pop.sum(), size=DAYS)
        t, z = np.nonzero(grid)
        counts = pd.DataFrame(
            {
                "location": locs["location"].to_numpy()[z],
                "date": DAY0 + pd.to_timedelta(t, unit="D"),
                "cases": grid[t, z],
            }
        )
        started, cpu = time.perf_counter(), time.process_time()
        result = run_scan(
            counts,
            locs,
            max_days=MAX_DAYS,
            study_days=STUDY_DAYS,
            max_population_share=MAX_SHARE,
            calibration_days=calibration,
            replications=replications,
            seed=seed,
        )
        rows.append(
            {
                "locations": f"{name} ({len(locs)})",
                "windows": result.windows,
                "replications": replications,
                "calibration_days": calibration,
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
    parser.add_argument("--daily", type=int, default=40, help="independent cases a day")
    parser.add_argument("--households", type=int, default=27, help="households with cases a day")
    parser.add_argument("--patterns", type=int, default=4, help="burst-size patterns")
    parser.add_argument("--radius-m", type=float, default=1000.0, help="injected cluster")
    parser.add_argument("--duration", type=int, default=3, help="injected cluster, days")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--replications", type=int, default=999)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "analytics")
    args = parser.parse_args(argv)

    console = Console()
    city = load_city(args.city, args.people, args.seed, args.cell_m)
    console.print(
        f"{len(city.cells)} cells of {args.cell_m:g} m with residents, {len(city.size)} households"
    )
    cache: dict[str, NDArray[np.float64]] = {}
    patterns = {
        "independent": burst_patterns("independent", args.daily, 1, args.seed, 1),
        "households": burst_patterns(
            "households", args.households, args.patterns, args.seed, int(city.size.max())
        ),
    }
    scenarios = [("independent", 0), ("independent", 5), ("households", 0)]
    scenarios += [("households", k) for k in SIZES]
    rows = []
    for kind, k in scenarios:
        rows.append(
            run_row(
                city,
                kind=kind,
                k=k,
                patterns=patterns[kind],
                runs=args.runs,
                radius_m=args.radius_m,
                duration=args.duration,
                replications=args.replications,
                seed=args.seed,
                cache=cache,
            )
        )
        console.print(f"  {kind} +{k} households: done in {rows[-1]['seconds']:.1f} s")
    power = pd.DataFrame(rows)
    timing = time_daily(city, args.daily, args.replications, args.seed)

    table = Table(
        title=f"Hotspot scan: {args.runs} runs a row; injected: households within "
        f"{args.radius_m:g} m over {args.duration} days; signal rate at p<0.05 / RI>=100 days"
    )
    for column in (
        "background",
        "injected",
        "cases there",
        "case MC",
        "hh MC",
        "case cal",
        "hh cal",
    ):
        table.add_column(column, justify="right")
    for r in rows:
        table.add_row(
            str(r["background"]),
            f"{r['injected_households']} hh, {r['injected_cases']} cases"
            if r["injected_households"]
            else "none (false alarms)",
            f"{r['background_cases_there']:.2f}" if r["injected_households"] else "",
            *(f"{r[f'{m}_p05']:.2f} / {r[f'{m}_ri100']:.2f}" for m in METHODS),
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
