"""Hotspots: the prospective space-time scan statistic (Kulldorff 2001), Poisson model.

The method follows Kulldorff, "Prospective time periodic geographical disease surveillance
using a scan statistic", J R Stat Soc A 164:61-72 (2001), as SaTScan implements it:

- **Windows.** Cylinders: a circle centred on each location, growing through its nearest
  neighbours until the population inside would pass ``max_population_share`` of the total (a
  single location is always a window; locations at the same distance enter together),
  times a period that ENDS on the analysis day
  (prospective: an alarm is about what is happening now) and lasts 1..``max_days`` days.
- **Expected counts.** ``E[z, t] = w[z] * C[t]``: each day's city-wide count ``C[t]`` shared
  out by weights ``w``. With ``baseline="population"`` (the default) ``w`` is the share of the
  population at risk, which is SaTScan's Poisson model with a nonparametric adjustment for the
  time trend (a city-wide surge is not a hotspot). With ``baseline="history"`` ``w`` is each
  location's share of the cases in the baseline days (the study period before the last
  ``max_days``), for places whose reporting or testing differs in a stable way.
- **Likelihood ratio.** Conditioned on the total ``C`` of the study period, a window with
  ``c`` observed and ``mu`` expected cases has ``LLR = c ln(c/mu) + (C-c) ln((C-c)/(C-mu))``
  when ``c > mu``, else 0 (only excesses are sought).
- **Clusters.** The most likely cluster is the window of highest LLR; secondary clusters are
  the next best windows that share no location with a cluster already reported (SaTScan's
  "no geographical overlap").
- **Units.** ``unit="case"`` counts cases. ``unit="household"`` counts each household (any
  "burst" id: a household, a shared address) once, on the date and at the location of its
  first case in the study period; the population at risk becomes the households of each
  location (a ``households`` column of the locations) or, where household counts are unknown,
  the residents (residents / mean household size has the same shares whatever the mean size).
  The Monte Carlo null assumes independent units: cases of one household are not independent
  (a household's cases arrive together), households nearly are.
- **Significance.** ``replications`` data sets are drawn under the null (each scanned day's
  count shared out multinomially by ``w``), each scanned the same way; the p-value of a
  cluster is ``(1 + #{replicate max LLR >= LLR}) / (R + 1)``, SaTScan's conservative choice
  for secondary clusters too. For a daily analysis the recurrence interval is ``1 / p`` days:
  how often a cluster this strong would arise by chance in daily surveillance.
- **Calibration.** Where units are not independent and households unknown, the null can be
  taken from the data's own past instead (Neill, "An empirical comparison of spatial scan
  statistics for outbreak detection", Int J Health Geogr 8:20, 2009): with
  ``calibration_days=N`` the scan's highest LLR on each of the N days before the analysis day
  (each with its own study period) is the null sample, and ``empirical_p = (1 + #{past day's
  max LLR >= LLR}) / (N + 1)``. Valid when the past days are quiet and like today.

The scan is vectorised with numpy: every cylinder of a centre is a cumulative sum over its
ordered neighbours, and replications are scanned in batches.

Analysts see aggregates only: the functions take counts by location and day and return
clusters as counts; case-level frames (in `grid_counts`, `read_city`) stay inside them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from epicity.analytics.errors import AnalyticsError, NotEnoughData
from epicity.geo import LocalProjection

__all__ = [
    "CLUSTER_COLUMNS",
    "ScanResult",
    "district_locations",
    "grid_counts",
    "nearest_location",
    "read_city",
    "run_scan",
    "space_time_scan",
]

Baseline = Literal["population", "history"]
Unit = Literal["case", "household"]
Progress = Callable[[int, int], None]

CLUSTER_COLUMNS = [
    "rank",
    "centre",
    "x",
    "y",
    "lat",
    "lon",
    "radius_m",
    "n_locations",
    "locations",
    "start",
    "end",
    "days",
    "observed",
    "expected",
    "relative_risk",
    "llr",
    "p_value",
    "recurrence_days",
    "empirical_p",
]

# Replicates scanned at once: bounds memory to a few tens of MB on a 1 km grid of a city.
_BATCH_CELLS = 4_000_000


@dataclass(frozen=True)
class ScanResult:
    """Everything one scan computed (aggregates only).

    Attributes:
        clusters: one row per reported cluster (`CLUSTER_COLUMNS`), most likely first.
        by_location: location, population, observed and expected cases over the last
            ``max_days`` days, their ratio, and ``cluster`` (rank of the cluster that holds the
            location, 0 when none).
        null_max_llr: the highest LLR of each replicated null data set.
        day: the analysis day; start: the study period's first day.
        windows: how many space-time windows were scanned per data set.
        unit: ``"case"`` or ``"household"``, what was counted.
        past_max_llr: with ``calibration_days``, the highest LLR on each past day (the day
            before first); empty otherwise.
    """

    clusters: pd.DataFrame
    by_location: pd.DataFrame
    null_max_llr: NDArray[np.float64]
    day: dt.date
    start: dt.date
    windows: int
    unit: str = "case"
    past_max_llr: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))


# --------------------------------------------------------------------------------------------
# Input checks


def _need_columns(frame: pd.DataFrame, name: str, columns: list[str]) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise AnalyticsError(f"{name}: expected a DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise AnalyticsError(
            f"{name}: missing column(s) {', '.join(missing)} "
            f"(has {', '.join(map(str, frame.columns))})"
        )


def _as_day(value: object, field: str) -> dt.date:
    try:
        stamp = pd.Timestamp(str(value)) if isinstance(value, str) else pd.Timestamp(value)
    except (ValueError, TypeError):
        raise AnalyticsError(f"{field}: {value!r} is not a date") from None
    if pd.isna(stamp):
        raise AnalyticsError(f"{field}: {value!r} is not a date")
    day: dt.date = stamp.date()
    return day


def _finite(values: pd.Series, name: str, field: str) -> NDArray[np.float64]:
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() | ~np.isfinite(numbers.to_numpy(dtype=float, na_value=np.nan))
    if bad.any():
        raise AnalyticsError(
            f"{name}: {field} must be a finite number, got {values[bad].iloc[0]!r}"
        )
    return np.asarray(numbers.to_numpy(dtype=np.float64), dtype=np.float64)


@dataclass(frozen=True)
class _Locations:
    ids: list[str]
    x: NDArray[np.float64]
    y: NDArray[np.float64]
    lat: NDArray[np.float64] | None
    lon: NDArray[np.float64] | None
    population: NDArray[np.float64]
    households: NDArray[np.float64] | None


def _check_locations(locations: pd.DataFrame) -> _Locations:
    _need_columns(locations, "locations", ["location", "population"])
    if len(locations) < 2:
        raise NotEnoughData(f"locations: a scan needs at least 2 locations, got {len(locations)}")
    ids = locations["location"].astype(str).str.strip()
    dup = ids[ids.duplicated()]
    if len(dup):
        raise AnalyticsError(f"locations: location {dup.iloc[0]!r} appears more than once")
    population = _finite(locations["population"], "locations", "population")
    if (population <= 0).any():
        i = int(np.flatnonzero(population <= 0)[0])
        raise AnalyticsError(
            f"locations: population must be positive, got {population[i]:g} for {ids.iloc[i]!r}"
        )
    households = None
    if "households" in locations.columns:
        households = _finite(locations["households"], "locations", "households")
        if (households <= 0).any():
            i = int(np.flatnonzero(households <= 0)[0])
            raise AnalyticsError(
                f"locations: households must be positive, got {households[i]:g} for {ids.iloc[i]!r}"
            )
    lat = lon = None
    if {"lat", "lon"} <= set(locations.columns):
        lat = _finite(locations["lat"], "locations", "lat")
        lon = _finite(locations["lon"], "locations", "lon")
        if (np.abs(lat) > 90).any() or (np.abs(lon) > 180).any():
            raise AnalyticsError("locations: lat must be within [-90, 90], lon within [-180, 180]")
    if {"x", "y"} <= set(locations.columns):
        x = _finite(locations["x"], "locations", "x")
        y = _finite(locations["y"], "locations", "y")
    elif lat is not None and lon is not None:
        x, y = LocalProjection(float(lat.mean()), float(lon.mean())).to_xy(lat, lon)
    else:
        raise AnalyticsError("locations: needs coordinates, columns x, y (metres) or lat, lon")
    return _Locations(ids.tolist(), x, y, lat, lon, population, households)


def _check_counts(
    counts: pd.DataFrame, index: dict[str, int]
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """Location index, day number (days since 1970-01-01) and count of each row."""
    _need_columns(counts, "counts", ["location", "date", "cases"])
    locs = counts["location"].astype(str).str.strip()
    unknown = ~locs.isin(index.keys())
    if unknown.any():
        raise AnalyticsError(
            f"counts: unknown location {locs[unknown].iloc[0]!r} (not in locations)"
        )
    dates = pd.to_datetime(counts["date"], errors="coerce")
    if dates.isna().any():
        raise AnalyticsError(f"counts: date {counts['date'][dates.isna()].iloc[0]!r} is not a date")
    cases = pd.to_numeric(counts["cases"], errors="coerce")
    if cases.isna().any():
        raw = counts["cases"][cases.isna()].iloc[0]
        shown = repr(raw) if isinstance(raw, str) else str(raw)
        raise AnalyticsError(f"counts: cases {shown} is not a number")
    values = cases.to_numpy(dtype=np.float64)
    for problem, bad in (
        ("negative count", values < 0),
        ("count is not a whole number", ~np.isfinite(values) | (values != np.round(values))),
    ):
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise AnalyticsError(
                f"cases: {problem} {values[i]:g} on {dates.iloc[i].date()} at {locs.iloc[i]}"
            )
    epoch = dates.dt.normalize().to_numpy(dtype="datetime64[D]").astype(np.int64)
    return locs.map(index).to_numpy(dtype=np.int64), epoch, values.astype(np.int64)


# --------------------------------------------------------------------------------------------
# The scan


@dataclass(frozen=True)
class _Windows:
    order: NDArray[np.int64]  # (L, K): each centre's neighbours, nearest first
    valid: NDArray[np.bool_]  # (L, K): the first k+1 neighbours fit the population cap
    dist: NDArray[np.float64]  # (L, K): distance from the centre to the k-th neighbour


def _windows(loc: _Locations, max_share: float, max_radius: float | None) -> _Windows:
    dx = loc.x[:, None] - loc.x[None, :]
    dy = loc.y[:, None] - loc.y[None, :]
    dist = np.hypot(dx, dy)
    n = len(loc.ids)
    # The centre first even when another location shares its coordinates; ties by index.
    key = dist.copy()
    key[np.arange(n), np.arange(n)] = -1.0
    order = np.argsort(key, axis=1, kind="stable")
    sorted_dist = np.take_along_axis(dist, order, axis=1)
    cum_pop = np.cumsum(loc.population[order], axis=1)
    fits = cum_pop <= max_share * loc.population.sum() * (1 + 1e-12)
    if max_radius is not None:
        fits &= sorted_dist <= max_radius
    fits[:, 0] = True
    # Windows grow outwards: once a neighbour does not fit, no farther one does.
    fits = np.cumprod(fits, axis=1).astype(bool)
    # A circle holds every location at its radius: it ends after the last of a tie.
    closes = np.ones_like(fits)
    closes[:, :-1] = sorted_dist[:, :-1] < sorted_dist[:, 1:]
    valid = fits & closes
    valid[:, 0] = True  # a single location is always a window
    k = int(np.flatnonzero(valid.any(axis=0)).max()) + 1
    return _Windows(order[:, :k], valid[:, :k], sorted_dist[:, :k])


@dataclass(frozen=True)
class _Scorer:
    """Kulldorff's Poisson LLR of every window, for integer counts, in a few array passes.

    ``LLR = c ln(c/mu) + (C-c) ln((C-c)/(C-mu)) = T[c] - c a - b`` with the table
    ``T[c] = c ln c + (C-c) ln(C-c)`` and per window ``a = ln mu - ln(C-mu)``,
    ``b = C ln(C-mu)``; windows below ``floor`` (no excess, or too few cases) score 0.
    Windows are the circles within the population cap only (``flat`` indexes them among
    the padded centre x neighbour rectangle), so no work goes to padding.
    """

    table: NDArray[np.float64]  # (C+1,)
    flat: NDArray[np.int64]  # (W,): valid windows in the flattened (L*K) rectangle
    a: NDArray[np.float64]  # (D, W)
    b: NDArray[np.float64]
    floor: NDArray[np.int32]  # the least count that is an excess, per window

    @classmethod
    def build(
        cls, expected: NDArray[np.float64], win: _Windows, total: int, min_cases: int
    ) -> _Scorer:
        flat = np.flatnonzero(win.valid.ravel())
        mu = expected.reshape(expected.shape[0], -1)[:, flat]
        c = np.arange(total + 1, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            table = np.nan_to_num(c * np.log(c)) + np.nan_to_num((total - c) * np.log(total - c))
            rest = total - mu
            usable = (mu > 0) & (rest > 0)
            a = np.where(usable, np.log(mu) - np.log(rest), 0.0)
            b = np.where(usable, total * np.log(rest), 0.0)
        # The least whole count above the expectation; the tolerance keeps counts equal to
        # their expectation (up to rounding) from being an excess.
        least = np.maximum(np.floor(mu * (1 + 1e-9) + 1e-12) + 1, min_cases)
        floor = np.where(usable & (least <= total), least, np.iinfo(np.int32).max)
        return cls(table, flat, a, b, floor.astype(np.int32))

    def compact(self, counts: NDArray[np.int32]) -> NDArray[np.int32]:
        """Window counts (..., D, L, K) -> (..., D, W), the valid windows only."""
        return counts.reshape(*counts.shape[:-2], -1)[..., self.flat]

    def score(self, c: NDArray[np.int32]) -> NDArray[np.float64]:
        """LLR of valid windows with counts ``c`` (..., D, W); 0 where there is no excess."""
        value = self.table[c]
        value -= c * self.a
        value -= self.b
        value[c < self.floor] = 0.0
        return np.maximum(value, 0.0, out=value)


def run_scan(
    counts: pd.DataFrame,
    locations: pd.DataFrame,
    *,
    day: object = None,
    max_days: int = 7,
    study_days: int | None = 28,
    max_population_share: float = 0.1,
    max_radius_m: float | None = None,
    min_cases: int = 2,
    baseline: Baseline = "population",
    unit: Unit = "case",
    calibration_days: int = 0,
    replications: int = 999,
    seed: int = 0,
    max_clusters: int = 10,
    progress: Progress | None = None,
    null_cache: dict[str, NDArray[np.float64]] | None = None,
) -> ScanResult:
    """The prospective space-time scan, with everything it computed (see `space_time_scan`).

    Args:
        counts: columns ``location``, ``date``, ``cases`` (whole numbers >= 0). Absent
            (location, date) pairs are zero; repeated pairs are added up; rows after ``day``
            are ignored (prospective). With ``unit="household"`` also ``household``: a
            household (or any burst) label on every row.
        locations: ``location``, ``population`` (> 0) and coordinates: ``x``, ``y`` in
            metres, or ``lat``, ``lon`` in degrees (projected locally); optionally
            ``households`` (> 0), the population at risk of the household unit.
        day: the analysis day; default the last date in ``counts``.
        max_days: longest time window (days ending on ``day``).
        study_days: days in the study period ending on ``day``; None: from the first date
            in ``counts``. Must be at least ``max_days`` (``history`` needs more).
        max_population_share: the largest share of the population a window may hold.
        max_radius_m: optionally, the largest radius of a window, metres.
        min_cases: a window needs at least this many cases to be a cluster (SaTScan's 2).
        baseline: ``"population"`` (population at risk, adjusted for the daily totals) or
            ``"history"`` (each location's share of cases in the baseline days).
        unit: ``"case"`` counts cases; ``"household"`` counts each household once, at the
            date and location of its first case in the study period, against households
            (``locations["households"]``, else residents) as the population at risk.
        calibration_days: when > 0, also scan each of that many days before ``day`` (the
            data must reach back that far plus a study period) and give each cluster an
            ``empirical_p`` against those days' highest LLRs (Neill 2009).
        replications: Monte Carlo replications under the null (9 to 99,999).
        seed: seed of the replications.
        max_clusters: at most this many clusters are reported.
        progress: called with (replications done, replications) as the scan goes.
        null_cache: a dict kept between calls: the replicated null maxima are reused when
            everything they depend on (scanned days' totals, weights, windows, seed) is the
            same; for benchmarks that scan many data sets with the same daily totals.

    Returns:
        A `ScanResult`.

    Example:
        >>> counts = pd.DataFrame({"location": ["a", "a", "b"],
        ...     "date": ["2020-03-01", "2020-03-07", "2020-03-07"], "cases": [1, 6, 1]})
        >>> places = pd.DataFrame({"location": ["a", "b", "c"], "x": [0, 1000, 5000],
        ...     "y": [0, 0, 0], "population": [1000, 1000, 1000]})
        >>> result = run_scan(counts, places, max_days=3, study_days=7, max_population_share=0.4)
        >>> result.clusters.loc[0, "locations"], int(result.clusters.loc[0, "observed"])
        (['a'], 6)
        >>> counts["household"] = ["h1", "h2", "h3"]  # a's 6 cases on 03-07: one household
        >>> run_scan(counts, places, max_days=3, study_days=7, max_population_share=0.4,
        ...     unit="household").clusters.empty
        True
    """
    if not 1 <= max_days <= 366:
        raise AnalyticsError(f"max_days: must be between 1 and 366, got {max_days}")
    if not 0 < max_population_share <= 0.5:
        raise AnalyticsError(
            f"max_population_share: must be in (0, 0.5], got {max_population_share}"
        )
    if max_radius_m is not None and not max_radius_m >= 0:
        raise AnalyticsError(f"max_radius_m: must be >= 0, got {max_radius_m}")
    if not 9 <= replications <= 99_999:
        raise AnalyticsError(f"replications: must be between 9 and 99,999, got {replications}")
    if baseline not in ("population", "history"):
        raise AnalyticsError(f"baseline: must be 'population' or 'history', got {baseline!r}")
    if min_cases < 1:
        raise AnalyticsError(f"min_cases: must be at least 1, got {min_cases}")
    if max_clusters < 1:
        raise AnalyticsError(f"max_clusters: must be at least 1, got {max_clusters}")
    if unit not in ("case", "household"):
        raise AnalyticsError(f"unit: must be 'case' or 'household', got {unit!r}")
    if calibration_days < 0:
        raise AnalyticsError(f"calibration_days: must be >= 0, got {calibration_days}")
    if calibration_days and study_days is None:
        raise AnalyticsError("calibration_days: needs a fixed study_days")
    loc = _check_locations(locations)
    n_loc = len(loc.ids)
    index = {name: i for i, name in enumerate(loc.ids)}
    where, when, cases = _check_counts(counts, index)
    units = _Units.build(
        where, when, cases, _household_codes(counts) if unit == "household" else None
    )

    if day is None:
        if not len(when):
            raise NotEnoughData("counts: no rows, and no day given")
        end = int(when.max())
    else:
        end = int(np.datetime64(_as_day(day, "day"), "D").astype(np.int64))
    if study_days is None:
        first = int(when.min()) if len(when) else end
        if first > end:
            raise NotEnoughData(f"counts: no rows on or before the day {_epoch_day(end)}")
        n_days = end - first + 1
    else:
        n_days = int(study_days)
    if n_days < max_days:
        raise NotEnoughData(
            f"counts: the study period has {n_days} day(s), fewer than max_days={max_days}"
        )
    if baseline == "history" and n_days <= max_days:
        raise NotEnoughData(
            f"counts: baseline 'history' needs days before the last {max_days}, "
            f"study period has {n_days}"
        )
    if calibration_days:
        needed = end - calibration_days - n_days + 1
        if not len(when) or int(when.min()) > needed:
            raise NotEnoughData(
                f"counts: calibration_days={calibration_days} needs data from "
                f"{_epoch_day(needed)} ({calibration_days} past days, each with a "
                f"{n_days}-day study period)"
                + (f", the first date is {_epoch_day(int(when.min()))}" if len(when) else "")
            )
    start = end - n_days + 1
    # Households where they are known; else residents (the mean household size cancels out).
    at_risk = (
        loc.households if unit == "household" and loc.households is not None else loc.population
    )
    win = _windows(loc, max_population_share, max_radius_m)
    shape = (n_days, max_days, min_cases, baseline)
    now = _observe(units.grid(start, n_days, n_loc), at_risk, win, *shape)
    # Calibration: the same scan on each past day, its highest LLR only.
    past_max = np.array(
        [
            _observe(units.grid(start - k, n_days, n_loc), at_risk, win, *shape).llr.max(
                initial=0.0
            )
            for k in range(1, calibration_days + 1)
        ],
        dtype=np.float64,
    )

    # The null distribution depends only on the scanned days' totals, the weights and the
    # windows: a caller scanning many data sets that share them may keep it in `null_cache`.
    key = _null_key(now.recent_totals, now.total, now.weights, win, min_cases, replications, seed)
    null_max = null_cache.get(key) if null_cache is not None else None
    if null_max is None:
        null_max = _null_max_llr(
            now.scorer, win, now.recent_totals, now.weights, replications, seed, progress
        )
        if null_cache is not None:
            null_cache[key] = null_max
    elif progress is not None:
        progress(replications, replications)

    clusters = _clusters(now, win, loc, null_max, past_max, end, max_clusters)
    observed, expected = now.observed[-1], now.expected[-1]
    ratio = np.divide(observed, expected, out=np.full(n_loc, np.nan), where=expected > 0)
    member = np.zeros(n_loc, dtype=np.int64)
    for row in clusters.itertuples():
        member[[index[m] for m in row.locations]] = int(row.rank)
    by_location = pd.DataFrame(
        {
            "location": loc.ids,
            "population": at_risk,
            "observed": observed.astype(np.int64),
            "expected": expected,
            "ratio": ratio,
            "cluster": member,
        }
    )
    return ScanResult(
        clusters=clusters,
        by_location=by_location,
        null_max_llr=null_max,
        day=_epoch_day(end),
        start=_epoch_day(start),
        windows=int(win.valid.sum()) * max_days,
        unit=unit,
        past_max_llr=past_max,
    )


def _household_codes(counts: pd.DataFrame) -> NDArray[np.int64]:
    """Household (burst) labels of the rows as integer codes; a missing label is an error."""
    _need_columns(counts, "counts", ["household"])
    missing = counts["household"].isna().to_numpy()
    if missing.any():
        row = counts[missing].iloc[0]
        raise AnalyticsError(
            f"counts: household is missing on {pd.Timestamp(row['date']).date()} "
            f"at {row['location']} (unit 'household' needs a household on every case)"
        )
    codes, _ = pd.factorize(counts["household"].astype(str).str.strip())
    return np.asarray(codes, dtype=np.int64)


@dataclass(frozen=True)
class _Units:
    """The counted units: cases, or each household's first case in a study period."""

    where: NDArray[np.int64]
    when: NDArray[np.int64]
    cases: NDArray[np.int64]
    household: NDArray[np.int64] | None  # sorted by household, then date, then location

    @classmethod
    def build(
        cls,
        where: NDArray[np.int64],
        when: NDArray[np.int64],
        cases: NDArray[np.int64],
        household: NDArray[np.int64] | None,
    ) -> _Units:
        if household is None:
            return cls(where, when, cases, None)
        some = cases > 0  # a row with no case is no household case
        order = np.lexsort((where[some], when[some], household[some]))
        return cls(
            where[some][order], when[some][order], cases[some][order], household[some][order]
        )

    def grid(self, start: int, n_days: int, n_loc: int) -> NDArray[np.float64]:
        """(n_days, n_loc) counts of the study period from ``start``."""
        keep = (self.when >= start) & (self.when < start + n_days)
        grid = np.zeros((n_days, n_loc), dtype=np.float64)
        if self.household is None:
            np.add.at(grid, (self.when[keep] - start, self.where[keep]), self.cases[keep])
            return grid
        hh, when, where = self.household[keep], self.when[keep], self.where[keep]
        first = np.ones(len(hh), dtype=bool)
        first[1:] = hh[1:] != hh[:-1]  # rows are sorted: a household's first case leads
        np.add.at(grid, (when[first] - start, where[first]), 1.0)
        return grid


@dataclass(frozen=True)
class _Day:
    """One data set scanned on one analysis day."""

    weights: NDArray[np.float64]
    recent_totals: NDArray[np.float64]
    total: float
    observed: NDArray[np.float64]  # (D, L): the last d+1 days
    expected: NDArray[np.float64]
    obs_w: NDArray[np.int32]  # (D, L, K): every cylinder
    exp_w: NDArray[np.float64]
    scorer: _Scorer
    llr: NDArray[np.float64]


def _observe(
    grid: NDArray[np.float64],
    at_risk: NDArray[np.float64],
    win: _Windows,
    n_days: int,
    max_days: int,
    min_cases: int,
    baseline: Baseline,
) -> _Day:
    daily = grid.sum(axis=1)
    total = float(daily.sum())
    if baseline == "population":
        weights = at_risk / at_risk.sum()
    else:
        past = grid[: n_days - max_days].sum(axis=0)
        if past.sum() == 0:
            raise NotEnoughData("counts: baseline 'history' needs cases in the baseline days")
        # Half a case spread by population keeps places without past cases scannable.
        past = past + 0.5 * at_risk / at_risk.sum()
        weights = past / past.sum()
    recent_days = grid[::-1][:max_days]  # day 0 = the analysis day
    recent_totals = daily[::-1][:max_days]
    observed = np.cumsum(recent_days, axis=0)
    expected = np.cumsum(recent_totals)[:, None] * weights[None, :]
    obs_w = np.cumsum(observed.astype(np.int32)[..., win.order], axis=-1, dtype=np.int32)
    exp_w = np.cumsum(expected[..., win.order], axis=-1)
    scorer = _Scorer.build(exp_w, win, int(total), min_cases)
    llr = np.zeros(obs_w.shape, dtype=np.float64)
    llr.reshape(max_days, -1)[:, scorer.flat] = scorer.score(scorer.compact(obs_w))
    return _Day(weights, recent_totals, total, observed, expected, obs_w, exp_w, scorer, llr)


def _null_key(
    recent_totals: NDArray[np.float64],
    total: float,
    weights: NDArray[np.float64],
    win: _Windows,
    min_cases: int,
    replications: int,
    seed: int,
) -> str:
    digest = hashlib.sha256()
    for array in (recent_totals, weights, win.order, win.valid):
        digest.update(np.ascontiguousarray(array).tobytes())
    digest.update(repr((total, min_cases, replications, seed)).encode())
    return digest.hexdigest()


def _null_max_llr(
    scorer: _Scorer,
    win: _Windows,
    recent_totals: NDArray[np.float64],
    weights: NDArray[np.float64],
    replications: int,
    seed: int,
    progress: Progress | None,
) -> NDArray[np.float64]:
    """The highest LLR of each data set replicated under the null hypothesis."""
    max_days = len(recent_totals)
    rng = np.random.default_rng(seed)
    null_max = np.empty(replications, dtype=np.float64)
    batch = max(1, min(replications, _BATCH_CELLS // max(1, win.order.size * max_days)))
    n_int = recent_totals.astype(np.int64)
    done = 0
    while done < replications:
        b = min(batch, replications - done)
        # Each scanned day's total shared out by the weights (conditioned on daily totals).
        sim = rng.multinomial(n_int, weights, size=(b, max_days)).astype(np.int32)
        sim_w = np.cumsum(np.cumsum(sim, axis=1)[..., win.order], axis=-1, dtype=np.int32)
        null_max[done : done + b] = scorer.score(scorer.compact(sim_w)).reshape(b, -1).max(axis=1)
        done += b
        if progress is not None:
            progress(done, replications)
    return null_max


def _epoch_day(days: int) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=int(days))


def _clusters(
    now: _Day,
    win: _Windows,
    loc: _Locations,
    null_max: NDArray[np.float64],
    past_max: NDArray[np.float64],
    end: int,
    max_clusters: int,
) -> pd.DataFrame:
    """Most likely cluster, then the best windows sharing no location with one reported."""
    llr, obs_w, exp_w, total = now.llr, now.obs_w, now.exp_w, now.total
    best_d = np.argmax(llr, axis=0)  # (L, K): the best time window of each circle
    best = np.take_along_axis(llr, best_d[None], axis=0)[0]
    flat = best.ravel()
    candidates = np.flatnonzero(flat > 0)
    candidates = candidates[np.argsort(-flat[candidates], kind="stable")]
    used = np.zeros(len(loc.ids), dtype=bool)
    rows: list[dict[str, object]] = []
    k_max = win.order.shape[1]
    for pos in candidates:
        i, k = divmod(int(pos), k_max)
        members = win.order[i, : k + 1]
        if used[members].any():
            continue
        used[members] = True
        d = int(best_d[i, k])
        c, mu = float(obs_w[d, i, k]), float(exp_w[d, i, k])
        value = float(flat[pos])
        # A small tolerance: a replicate's LLR equal to the observed one counts as higher.
        p = (1 + int(np.count_nonzero(null_max >= value * (1 - 1e-12)))) / (len(null_max) + 1)
        past = (1 + int(np.count_nonzero(past_max >= value * (1 - 1e-12)))) / (len(past_max) + 1)
        inside = (c / mu) if mu > 0 else np.inf
        outside = (total - c) / (total - mu) if total - mu > 0 else np.nan
        rows.append(
            {
                "rank": len(rows) + 1,
                "centre": loc.ids[i],
                "x": float(loc.x[i]),
                "y": float(loc.y[i]),
                "lat": float(loc.lat[i]) if loc.lat is not None else np.nan,
                "lon": float(loc.lon[i]) if loc.lon is not None else np.nan,
                "radius_m": float(win.dist[i, k]),
                "n_locations": k + 1,
                "locations": [loc.ids[m] for m in members],
                "start": _epoch_day(end - d),
                "end": _epoch_day(end),
                "days": d + 1,
                "observed": round(c),
                "expected": mu,
                "relative_risk": inside / outside if outside > 0 else np.inf,
                "llr": value,
                "p_value": p,
                "recurrence_days": 1.0 / p,
                "empirical_p": past if len(past_max) else np.nan,
            }
        )
        if len(rows) == max_clusters:
            break
    return pd.DataFrame(rows, columns=CLUSTER_COLUMNS)


def space_time_scan(
    counts: pd.DataFrame,
    locations: pd.DataFrame,
    *,
    day: object = None,
    max_days: int = 7,
    study_days: int | None = 28,
    max_population_share: float = 0.1,
    max_radius_m: float | None = None,
    min_cases: int = 2,
    baseline: Baseline = "population",
    unit: Unit = "case",
    calibration_days: int = 0,
    replications: int = 999,
    seed: int = 0,
    max_clusters: int = 10,
) -> pd.DataFrame:
    """Prospective space-time scan (Kulldorff 2001, Poisson model): the clusters on ``day``.

    Arguments as in `run_scan`. The clusters are ranked by log-likelihood ratio; the first
    is the most likely cluster, the others share no location with a better one. Filter on
    ``p_value`` (or ``recurrence_days``) for alarms: every window with an excess is listed.

    Returns:
        One row per cluster: ``rank``, ``centre`` (location id), ``x``, ``y`` (metres),
        ``lat``, ``lon`` (NaN when the locations had none), ``radius_m``, ``n_locations``,
        ``locations`` (list of ids), ``start``, ``end`` (dates; ``end`` is ``day``), ``days``,
        ``observed``, ``expected``, ``relative_risk``, ``llr``, ``p_value``,
        ``recurrence_days`` (``1/p`` for a daily analysis), ``empirical_p`` (against past
        days' maxima with ``calibration_days``, else NaN).

    Example:
        >>> counts = pd.DataFrame({"location": ["a", "a", "b"],
        ...     "date": ["2020-03-01", "2020-03-07", "2020-03-07"], "cases": [1, 6, 1]})
        >>> places = pd.DataFrame({"location": ["a", "b", "c"], "x": [0, 1000, 5000],
        ...     "y": [0, 0, 0], "population": [1000, 1000, 1000]})
        >>> clusters = space_time_scan(counts, places, max_days=3, study_days=7,
        ...     max_population_share=0.4, replications=99)
        >>> top = clusters.iloc[0]
        >>> top["centre"], int(top["observed"]), int(top["days"]), bool(top["p_value"] < 0.05)
        ('a', 6, 1, True)
    """
    return run_scan(
        counts,
        locations,
        day=day,
        max_days=max_days,
        study_days=study_days,
        max_population_share=max_population_share,
        max_radius_m=max_radius_m,
        min_cases=min_cases,
        baseline=baseline,
        unit=unit,
        calibration_days=calibration_days,
        replications=replications,
        seed=seed,
        max_clusters=max_clusters,
    ).clusters


# --------------------------------------------------------------------------------------------
# Locations: districts, a square grid, the synthetic city


def district_locations() -> pd.DataFrame:
    """Seoul's 25 districts as scan locations: name, centroid and residents.

    Example:
        >>> d = district_locations()
        >>> len(d), list(d.columns)
        (25, ['location', 'lat', 'lon', 'population'])
    """
    from epicity.city.districts import seoul_districts

    return pd.DataFrame(
        {
            "location": [d.name for d in seoul_districts()],
            "lat": [d.centroid_lat for d in seoul_districts()],
            "lon": [d.centroid_lon for d in seoul_districts()],
            "population": [d.residents * 1000 for d in seoul_districts()],
        }
    )


def grid_counts(
    cases: pd.DataFrame,
    population: pd.DataFrame,
    *,
    cell_m: float = 1000.0,
    household_column: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cases and residents on a square grid of ``cell_m`` metres: (counts, locations).

    A local equirectangular projection (`epicity.geo.LocalProjection`) about the residents'
    centre; cells are named ``r<row>c<col>``; only cells with residents are locations.

    Args:
        cases: one row per case, ``date``, ``lat``, ``lon``.
        population: one row per resident (``lat``, ``lon``) or per point with a
            ``population`` column.
        cell_m: side of a cell, metres.
        household_column: a column of ``cases`` (and, when it has one, of ``population``)
            holding household ids: the counts then carry a ``household`` label for
            ``unit="household"`` (opaque numbers, not the ids) and the locations the
            number of ``households`` in each cell.

    Returns:
        ``counts`` (location, date, cases[, household]) and ``locations`` (location, x, y,
        lat, lon, population[, households]), the inputs of `space_time_scan`.

    Example:
        >>> people = pd.DataFrame({"lat": [37.50, 37.50, 37.52], "lon": [127.0, 127.0, 127.0]})
        >>> cases = pd.DataFrame({"date": ["2020-03-01"], "lat": [37.50], "lon": [127.0]})
        >>> counts, cells = grid_counts(cases, people, cell_m=1000)
        >>> counts["cases"].tolist(), cells["population"].tolist()
        ([1], [2, 1])
    """
    if not cell_m > 0:
        raise AnalyticsError(f"cell_m: must be positive, got {cell_m}")
    _need_columns(population, "population", ["lat", "lon"])
    _need_columns(cases, "cases", ["date", "lat", "lon"])
    plat = _finite(population["lat"], "population", "lat")
    plon = _finite(population["lon"], "population", "lon")
    if not len(plat):
        raise NotEnoughData("population: no rows")
    weight = (
        _finite(population["population"], "population", "population")
        if "population" in population.columns
        else np.ones(len(plat), dtype=np.int64)
    )
    proj = LocalProjection(float(plat.mean()), float(plon.mean()))
    px, py = proj.to_xy(plat, plon)
    prow, pcol = np.floor(py / cell_m).astype(np.int64), np.floor(px / cell_m).astype(np.int64)
    cells = (
        pd.DataFrame({"row": prow, "col": pcol, "population": weight})
        .groupby(["row", "col"], as_index=False)["population"]
        .sum()
    )
    if household_column is not None and household_column in population.columns:
        homes = pd.DataFrame({"row": prow, "col": pcol, "h": population[household_column]})
        per_cell = homes.dropna().groupby(["row", "col"], as_index=False)["h"].nunique()
        cells = cells.merge(per_cell.rename(columns={"h": "households"}), on=["row", "col"])
    cells = cells[cells["population"] > 0].reset_index(drop=True)
    cells["x"] = (cells["col"] + 0.5) * cell_m
    cells["y"] = (cells["row"] + 0.5) * cell_m
    lat, lon = proj.to_latlon(cells["x"].to_numpy(), cells["y"].to_numpy())
    cells["lat"], cells["lon"] = lat, lon
    cells["location"] = "r" + cells["row"].astype(str) + "c" + cells["col"].astype(str)

    clat = _finite(cases["lat"], "cases", "lat")
    clon = _finite(cases["lon"], "cases", "lon")
    dates = pd.to_datetime(cases["date"], errors="coerce")
    if dates.isna().any():
        raise AnalyticsError(f"cases: date {cases['date'][dates.isna()].iloc[0]!r} is not a date")
    cx, cy = proj.to_xy(clat, clon)
    names = (
        "r"
        + pd.Series(np.floor(cy / cell_m).astype(np.int64)).astype(str)
        + "c"
        + pd.Series(np.floor(cx / cell_m).astype(np.int64)).astype(str)
    )
    outside = ~names.isin(set(cells["location"]))
    if outside.any():
        raise AnalyticsError(
            f"cases: {int(outside.sum())} case(s) fall in cells with no residents "
            f"(first on {dates[outside.to_numpy()].iloc[0].date()})"
        )
    counts = _aggregate(names.to_numpy(), dates, cases, household_column)
    columns = ["location", "x", "y", "lat", "lon", "population"]
    locations = cells[columns + (["households"] if "households" in cells.columns else [])]
    return counts, locations


def _aggregate(
    names: NDArray[np.object_], dates: pd.Series, cases: pd.DataFrame, household: str | None
) -> pd.DataFrame:
    """Cases by location and date (and household label): no ids leave this function."""
    frame = pd.DataFrame({"location": names, "date": dates.dt.normalize().to_numpy()})
    keys = ["location", "date"]
    if household is not None:
        _need_columns(cases, "cases", [household])
        ids = cases[household]
        if ids.isna().any():
            raise AnalyticsError(
                f"cases: {household} is missing on {dates[ids.isna().to_numpy()].iloc[0].date()}"
            )
        # Opaque labels numbered in date order: they group a household's cases and say
        # nothing else (not linkable to the people table).
        order = np.argsort(frame["date"].to_numpy(), kind="stable")
        codes = np.empty(len(ids), dtype=np.int64)
        codes[order] = pd.factorize(ids.astype(str).to_numpy()[order])[0]
        frame["household"] = codes
        keys.append("household")
    return frame.groupby(keys, as_index=False).size().rename(columns={"size": "cases"})


def nearest_location(
    cases: pd.DataFrame, locations: pd.DataFrame, *, household_column: str | None = None
) -> pd.DataFrame:
    """Counts by location from cases with coordinates, each case at its nearest location.

    Args:
        cases: one row per case, ``date``, ``lat``, ``lon``.
        locations: ``location``, ``lat``, ``lon`` (e.g. `district_locations`).
        household_column: a column of ``cases`` with household ids: the counts then carry
            an opaque ``household`` label (see `grid_counts`).

    Returns:
        ``location``, ``date``, ``cases`` (and ``household``).

    Example:
        >>> places = pd.DataFrame({"location": ["a", "b"], "lat": [37.5, 37.6],
        ...     "lon": [127.0, 127.0], "population": [10, 10]})
        >>> cases = pd.DataFrame({"date": ["2020-03-01"] * 2, "lat": [37.51, 37.58],
        ...     "lon": [127.0, 127.0]})
        >>> nearest_location(cases, places)["location"].tolist()
        ['a', 'b']
    """
    _need_columns(cases, "cases", ["date", "lat", "lon"])
    _need_columns(locations, "locations", ["location", "lat", "lon"])
    llat = _finite(locations["lat"], "locations", "lat")
    llon = _finite(locations["lon"], "locations", "lon")
    clat = _finite(cases["lat"], "cases", "lat")
    clon = _finite(cases["lon"], "cases", "lon")
    dates = pd.to_datetime(cases["date"], errors="coerce")
    if dates.isna().any():
        raise AnalyticsError(f"cases: date {cases['date'][dates.isna()].iloc[0]!r} is not a date")
    proj = LocalProjection(float(llat.mean()), float(llon.mean()))
    lx, ly = proj.to_xy(llat, llon)
    cx, cy = proj.to_xy(clat, clon)
    nearest = np.empty(len(cx), dtype=np.int64)
    for s in range(0, len(cx), 10_000):  # bounded memory for large case files
        d = np.hypot(cx[s : s + 10_000, None] - lx[None], cy[s : s + 10_000, None] - ly[None])
        nearest[s : s + 10_000] = np.argmin(d, axis=1)
    names = locations["location"].astype(str).to_numpy()[nearest]
    return _aggregate(names, dates, cases, household_column)


def _read_table(
    city: Path, name: str, columns: list[str], optional: tuple[str, ...] = ()
) -> pd.DataFrame:
    """The columns of a city table; ``optional`` ones are read when the table has them."""
    for path in (city / f"{name}.parquet", city / f"{name}.csv"):
        if path.exists():
            if path.suffix == ".parquet":
                import pyarrow.parquet as pq

                has = set(pq.read_schema(path).names)
                return pd.read_parquet(path, columns=columns + [c for c in optional if c in has])
            has = set(pd.read_csv(path, nrows=0).columns)
            return pd.read_csv(path, usecols=columns + [c for c in optional if c in has])
    raise AnalyticsError(f"city: no {name}.parquet or {name}.csv in {city}")


def read_city(
    city: Path, *, cell_m: float = 1000.0, households: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A synthetic city's confirmed cases at their homes, on a grid: (counts, locations).

    Reads ``people`` (home_lat, home_lon, household_id) and ``cases`` (confirmed_date)
    written by `epicity.city.generate.generate_city`, joins them on person_id inside this
    function and returns aggregates only (see `grid_counts`). With ``households`` (and a
    ``household_id`` in ``people``) the counts carry opaque ``household`` labels and the
    cells their number of ``households``, for ``run_scan(..., unit="household")``.

    Example:
        >>> counts, cells = read_city(Path("out/city"), cell_m=1000)  # doctest: +SKIP
    """
    columns = ["person_id", "home_lat", "home_lon"]
    people = _read_table(city, "people", columns, ("household_id",) if households else ())
    cases = _read_table(city, "cases", ["person_id", "confirmed_date"])
    people = people.dropna(subset=["home_lat", "home_lon"])
    homes = cases.merge(people, on="person_id", how="inner")
    labelled = "household_id" in people.columns and bool(people["household_id"].notna().all())
    extra = ["household_id"] if labelled else []
    return grid_counts(
        homes.rename(columns={"confirmed_date": "date", "home_lat": "lat", "home_lon": "lon"})[
            ["date", "lat", "lon", *extra]
        ],
        people.rename(columns={"home_lat": "lat", "home_lon": "lon"})[["lat", "lon", *extra]],
        cell_m=cell_m,
        household_column="household_id" if labelled else None,
    )
