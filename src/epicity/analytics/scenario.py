"""What faster tracing buys: the synthetic city's outbreak under different response settings.

The simulator is the synthetic city's (`epicity.city`): people with daily routines
(`routines.day_stays`) and transmission during true co-presence (`city.outbreak`). The
response is an `epicity.city.outbreak.Response`: the delay from a positive result to the
warning of the case's close contacts (who quarantine from then), the share of contacts
reached, and the tests the city can take a day. This driver runs the outbreak day by day
without drawing any sensor record (unlike `generate_city`, which writes GPS, cell, card and
entry records), for several seeds per setting, and returns daily aggregate curves.

Runs with the same seed share the city, its first infections and every random draw until the
responses make people behave differently (the response draws from its own stream), so the
differences between settings are mostly the settings' and not the seeds' (common random
numbers). Covasim (Kerr et al., PLoS Comput Biol 17:e1009149, 2021) compares interventions
the same way: several seeds per scenario, median and an interval across them.

Only aggregate counts leave the functions: no person ids.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from epicity.analytics.errors import AnalyticsError
from epicity.city.generate import CityConfig
from epicity.city.outbreak import Outbreak, Response
from epicity.city.places import build_towers
from epicity.city.population import build_population
from epicity.city.routines import DAY, CarryOver, Travel, day_stays

__all__ = [
    "COUNT_COLUMNS",
    "MAX_PEOPLE",
    "MIN_PEOPLE",
    "TODAY",
    "RunTiming",
    "Setting",
    "curve_bands",
    "format_delay",
    "parse_delay",
    "response_grid",
    "run_scenarios",
    "setting_name",
    "simulate",
    "summarise",
]

MIN_PEOPLE = 500  # below this a city lacks venues of several kinds
MAX_PEOPLE = 2_000_000  # the contact log and the day's stays stay within a few GB
MAX_DAYS = 366
COUNT_COLUMNS = (
    "new_infections",
    "new_confirmed",
    "tests",
    "waiting_for_test",
    "warned",
    "in_isolation",
    "in_quarantine",
)
TODAY = "today"  # the name of the default response


@dataclass(frozen=True)
class Setting:
    """A named response setting to simulate."""

    name: str
    response: Response


@dataclass(frozen=True)
class RunTiming:
    """How long one run took (seconds) for a city size and number of days."""

    people: int
    days: int
    seconds: float


def format_delay(seconds: float | None) -> str:
    """A warning delay in words: '10m', '1d', '6h'; 'none' for today's model (no warning).

    Example:
        >>> format_delay(600), format_delay(86_400), format_delay(None)
        ('10m', '1d', 'none')
    """
    if seconds is None:
        return "none"
    if seconds % DAY == 0 and seconds:
        return f"{seconds / DAY:g}d"
    if seconds % 3600 == 0 and seconds:
        return f"{seconds / 3600:g}h"
    if seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"


_DELAY = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([dhms]?)\s*$", re.IGNORECASE)
_UNIT = {"d": DAY, "h": 3600, "m": 60, "s": 1, "": 3600}


def parse_delay(text: str) -> float | None:
    """A warning delay from text: '1d', '10m', '6h', '30s', or a bare number of hours.

    'none' (or 'today') means today's model: no warning, contacts are tested 1-2 days after
    the case's confirmation.

    Raises:
        AnalyticsError: naming `warning_delay` when the text is not a non-negative duration.

    Example:
        >>> parse_delay("10m"), parse_delay("1d"), parse_delay("2.5"), parse_delay("none")
        (600.0, 86400.0, 9000.0, None)
    """
    if text.strip().lower() in ("none", "today"):
        return None
    match = _DELAY.match(text)
    if not match:
        raise AnalyticsError(
            f"warning_delay: expected a non-negative duration like 1d, 10m, 6h or a number of "
            f"hours (or 'none'), got {text!r}"
        )
    value = float(match.group(1)) * _UNIT[match.group(2).lower()]
    if not math.isfinite(value) or value > 60 * DAY:
        raise AnalyticsError(f"warning_delay: must be at most 60 days, got {text!r}")
    return value


def setting_name(response: Response) -> str:
    """A short name for a response: 'today', or e.g. 'warn 10m, reach 80%, 50 tests/day'.

    Example:
        >>> setting_name(Response(warning_delay=600, reach=0.8))
        'warn 10m, reach 80%, tests unlimited'
    """
    if response.is_default:
        return TODAY
    warn = (
        "no warning"
        if response.warning_delay is None
        else "warn " + format_delay(response.warning_delay)
    )
    reach = "reach today's" if response.reach is None else f"reach {response.reach:.0%}"
    tests = (
        "tests unlimited"
        if response.tests_per_day is None
        else f"{response.tests_per_day:,} tests/day"
    )
    return f"{warn}, {reach}, {tests}"


def response_grid(
    delays: Iterable[float | None],
    reaches: Iterable[float | None],
    tests_per_day: Iterable[int | None],
    *,
    include_today: bool = True,
) -> list[Setting]:
    """Every combination of the values as named settings, today's model first when asked.

    Example:
        >>> [s.name for s in response_grid([600.0], [0.5, 0.9], [None])]
        ['today', 'warn 10m, reach 50%, tests unlimited', 'warn 10m, reach 90%, tests unlimited']
    """
    settings = [Setting(TODAY, Response())] if include_today else []
    seen = {s.name for s in settings}
    for delay in delays:
        for reach in reaches:
            for tests in tests_per_day:
                response = Response(warning_delay=delay, reach=reach, tests_per_day=tests)
                _check_response(response)
                name = setting_name(response)
                if name not in seen:
                    seen.add(name)
                    settings.append(Setting(name, response))
    return settings


def _check_response(response: Response) -> None:
    try:
        response.validate()
    except ValueError as err:
        raise AnalyticsError(str(err)) from None


def _check_city(people: int, days: int, seed: int, transmission: float) -> None:
    if isinstance(people, bool) or not isinstance(people, int | np.integer):
        raise AnalyticsError(f"people: must be a whole number, got {people!r}")
    if not MIN_PEOPLE <= people <= MAX_PEOPLE:
        raise AnalyticsError(
            f"people: must be between {MIN_PEOPLE:,} and {MAX_PEOPLE:,}, got {people:,}"
        )
    if isinstance(days, bool) or not isinstance(days, int | np.integer):
        raise AnalyticsError(f"days: must be a whole number, got {days!r}")
    if not 1 <= days <= MAX_DAYS:
        raise AnalyticsError(f"days: must be between 1 and {MAX_DAYS}, got {days}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise AnalyticsError(f"seed: must be a non-negative whole number, got {seed!r}")
    if not (math.isfinite(transmission) and transmission >= 0):
        raise AnalyticsError(f"transmission: must be a non-negative number, got {transmission}")


def simulate(
    response: Response,
    *,
    people: int,
    days: int,
    seed: int,
    transmission: float = 1.0,
    seed_infections: int | None = None,
    on_day: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """One run of the outbreak under `response`: the daily aggregate counts.

    The city (people, places, the first infections) is the one `generate_city` builds with the
    same seed, size and transmission; the days then differ from it because no sensor record is
    drawn.

    Args:
        response: the response setting (`Response()` is today's model).
        people: residents of the city, from `MIN_PEOPLE` to `MAX_PEOPLE`.
        days: days simulated from day 0 (a Monday).
        seed: the random seed of the city and the run.
        transmission: multiplies every transmission rate (1.0: R0 about 2.5 unmitigated).
        seed_infections: people infected before day 0 (default 5 + people / 5,000).
        on_day: called with the day index after each simulated day (progress).

    Returns:
        One row per day: `day`, the counts of `Outbreak.day_counts` (`new_infections`,
        `new_confirmed`, `tests`, `waiting_for_test`, `warned`, `in_isolation`,
        `in_quarantine`), and `cumulative_infections` (with the seed infections),
        `cumulative_confirmed`, `quarantine_person_days` (cumulative).

    Raises:
        AnalyticsError: naming the field when a value is out of range.

    Example:
        >>> daily = simulate(Response(warning_delay=600), people=2_000, days=10, seed=1)
        >>> list(daily.columns[:3]), len(daily)
        (['day', 'new_infections', 'new_confirmed'], 10)
    """
    _check_city(people, days, seed, transmission)
    _check_response(response)
    config = CityConfig(
        people=int(people),
        days=int(days),
        seed=int(seed),
        transmission=float(transmission),
        seed_infections=seed_infections,
    )
    try:
        config.validate()
    except ValueError as err:
        raise AnalyticsError(str(err)) from None
    # The same draws as generate_city up to the outbreak's start (towers included), so a seed
    # means the same city and the same first infections.
    rng = np.random.default_rng(config.seed)
    pop, places = build_population(config.people, rng)
    build_towers(places, rng)
    stations = places.of_kind("subway_station")
    _, nearest = cKDTree(np.column_stack([places.x[stations], places.y[stations]])).query(
        np.column_stack([places.x, places.y])
    )
    travel = Travel(places, stations[nearest])
    outbreak = Outbreak.start(
        pop.count, config.initial_infections, config.transmission, rng, response
    )
    carry = CarryOver(pop.home.copy(), np.zeros(pop.count, dtype=np.int64))
    start_weekday = config.start.weekday()
    rows = []
    for d in range(config.days):
        stay_home, test_today = outbreak.day_status(d)
        stays, carry = day_stays(
            pop, travel, carry, (start_weekday + d) % 7, stay_home, test_today, rng
        )
        stays, carry = outbreak.confine(d, stays, carry, pop.home)
        outbreak.transmit(d, stays, places, rng)
        rows.append({"day": d, **outbreak.day_counts(d)})
        if on_day is not None:
            on_day(d)
    daily = pd.DataFrame(rows, columns=["day", *COUNT_COLUMNS])
    seeds = int(np.count_nonzero(outbreak.infected_at < 0))
    daily["cumulative_infections"] = seeds + daily["new_infections"].cumsum()
    daily["cumulative_confirmed"] = daily["new_confirmed"].cumsum()
    daily["quarantine_person_days"] = daily["in_quarantine"].cumsum()
    return daily.astype("int64")


def _one_run(
    setting: Setting, people: int, days: int, seed: int, transmission: float
) -> tuple[pd.DataFrame, float]:
    t0 = time.perf_counter()
    daily = simulate(
        setting.response, people=people, days=days, seed=seed, transmission=transmission
    )
    daily.insert(0, "seed", seed)
    daily.insert(0, "scenario", setting.name)
    return daily, time.perf_counter() - t0


def run_scenarios(
    settings: Sequence[Setting] | Mapping[str, Response],
    *,
    people: int,
    days: int,
    seeds: int | Sequence[int] = 5,
    transmission: float = 1.0,
    jobs: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[pd.DataFrame, list[RunTiming]]:
    """Run every setting for every seed; the daily curves of all runs in one frame.

    Args:
        settings: named responses (`response_grid` makes a grid of them).
        people: residents of the city.
        days: days simulated.
        seeds: how many seeds (0, 1, ... n-1) or the seeds themselves.
        transmission: multiplies every transmission rate.
        jobs: worker processes (runs are independent; 1 runs them here).
        progress: called with (runs done, runs in all) after each run.

    Returns:
        The curves (`scenario`, `seed`, then `simulate`'s columns; ordered by the settings'
        order, seed and day) and the time each run took.

    Raises:
        AnalyticsError: naming the field when a value is out of range.

    Example:
        >>> grid = response_grid([600.0], [0.8], [None])
        >>> curves, timing = run_scenarios(grid, people=2_000, days=10, seeds=2)
        >>> sorted(curves["scenario"].unique())
        ['today', 'warn 10m, reach 80%, tests unlimited']
    """
    if isinstance(settings, Mapping):
        settings = [Setting(name, r) for name, r in settings.items()]
    if not settings:
        raise AnalyticsError("settings: at least one response setting is needed")
    names = [s.name for s in settings]
    if len(set(names)) != len(names):
        raise AnalyticsError(f"settings: names must be unique, got {names}")
    if isinstance(seeds, int | np.integer) and not isinstance(seeds, bool):
        if not 1 <= seeds <= 1_000:
            raise AnalyticsError(f"seeds: must be between 1 and 1,000, got {seeds}")
        seed_list = list(range(int(seeds)))
    else:
        seed_list = [int(s) for s in seeds]  # type: ignore[union-attr]
        if not seed_list or len(set(seed_list)) != len(seed_list):
            raise AnalyticsError(f"seeds: must be distinct and at least one, got {seed_list}")
    if not 1 <= jobs <= 64:
        raise AnalyticsError(f"jobs: must be between 1 and 64, got {jobs}")
    for setting in settings:
        _check_response(setting.response)
    for seed in seed_list:
        _check_city(people, days, seed, transmission)
    tasks = [(s, people, days, seed, transmission) for s in settings for seed in seed_list]
    results: list[tuple[pd.DataFrame, float]] = []
    if jobs == 1:
        for i, task in enumerate(tasks):
            results.append(_one_run(*task))
            if progress is not None:
                progress(i + 1, len(tasks))
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(_one_run, *task) for task in tasks]
            for i, future in enumerate(as_completed(futures)):
                future.result()
                if progress is not None:
                    progress(i + 1, len(tasks))
            results = [f.result() for f in futures]
    curves = pd.concat([r[0] for r in results], ignore_index=True)
    order = {name: i for i, name in enumerate(names)}
    curves = curves.sort_values(
        ["scenario", "seed", "day"], key=lambda c: c.map(order) if c.name == "scenario" else c
    ).reset_index(drop=True)
    timing = [RunTiming(people, days, seconds) for _, seconds in results]
    return curves, timing


def _check_curves(curves: pd.DataFrame) -> None:
    needed = {"scenario", "seed", "day", *COUNT_COLUMNS, "cumulative_infections"}
    missing = needed - set(curves.columns)
    if missing:
        raise AnalyticsError(f"curves: missing columns {sorted(missing)}")
    if curves.empty:
        raise AnalyticsError("curves: no rows")


def _band(values: pd.core.groupby.SeriesGroupBy, interval: float) -> pd.DataFrame:
    lo, hi = (1 - interval) / 2, (1 + interval) / 2
    return pd.DataFrame(
        {"median": values.median(), "lo": values.quantile(lo), "hi": values.quantile(hi)}
    )


def _check_interval(interval: float) -> None:
    if not 0 < interval < 1:
        raise AnalyticsError(f"interval: must be between 0 and 1 (exclusive), got {interval}")


def summarise(curves: pd.DataFrame, *, interval: float = 0.8) -> pd.DataFrame:
    """Per scenario: outcomes over the run, median and interval across seeds.

    Outcomes per run: `infections` (everyone infected by the last day, seeds included),
    `confirmed`, `peak_isolated` and `peak_quarantined` (most people on one day),
    `quarantine_person_days`, `tests` (taken) and `peak_waiting` (longest test queue).

    Args:
        curves: `run_scenarios`' frame.
        interval: central share of the seeds the interval covers (0.8: 10th to 90th
            percentile, linear interpolation between seeds).

    Returns:
        One row per scenario (in the curves' order): `scenario`, `seeds`, and for each
        outcome `<outcome>` (the median), `<outcome>_lo`, `<outcome>_hi`.

    Example:
        >>> grid = response_grid([600.0], [0.8], [None])
        >>> curves, _ = run_scenarios(grid, people=2_000, days=10, seeds=2)
        >>> summarise(curves)[["scenario", "infections"]].shape
        (2, 2)
    """
    _check_curves(curves)
    _check_interval(interval)
    per_run = curves.groupby(["scenario", "seed"], sort=False).agg(
        infections=("cumulative_infections", "last"),
        confirmed=("new_confirmed", "sum"),
        peak_isolated=("in_isolation", "max"),
        peak_quarantined=("in_quarantine", "max"),
        quarantine_person_days=("in_quarantine", "sum"),
        tests=("tests", "sum"),
        peak_waiting=("waiting_for_test", "max"),
    )
    grouped = per_run.groupby(level="scenario", sort=False)
    out = pd.DataFrame({"seeds": grouped.size()})
    for column in per_run.columns:
        band = _band(grouped[column], interval)
        out[column] = band["median"]
        out[f"{column}_lo"] = band["lo"]
        out[f"{column}_hi"] = band["hi"]
    return out.reset_index()


def curve_bands(
    curves: pd.DataFrame, columns: Sequence[str] | None = None, *, interval: float = 0.8
) -> pd.DataFrame:
    """Per scenario and day: the median and interval across seeds of each curve.

    Example:
        >>> grid = response_grid([600.0], [0.8], [None])
        >>> curves, _ = run_scenarios(grid, people=2_000, days=10, seeds=2)
        >>> bands = curve_bands(curves, ["new_infections"])
        >>> list(bands.columns)
        ['scenario', 'day', 'column', 'median', 'lo', 'hi']
    """
    _check_curves(curves)
    _check_interval(interval)
    columns = list(columns or COUNT_COLUMNS)
    unknown = [c for c in columns if c not in curves.columns or c in ("scenario", "seed", "day")]
    if unknown:
        raise AnalyticsError(f"columns: not a curve of the runs: {unknown}")
    frames = []
    for column in columns:
        band = _band(curves.groupby(["scenario", "day"], sort=False)[column], interval)
        band.insert(0, "column", column)
        frames.append(band.reset_index())
    return pd.concat(frames, ignore_index=True)[["scenario", "day", "column", "median", "lo", "hi"]]
