"""Quantile forecasts of daily cases 1-14 days ahead, the Forecast Hub baseline, and WIS scoring.

Forecasts are in the COVID-19 Forecast Hub's long format: one row per (location,)
target date and quantile level, at the Hub's 23 levels (`QUANTILES`).

The model (`RenewalModel`, "renewal") is a semi-mechanistic renewal-equation forecast in
the spirit of EpiNow2/EpiSoon (Abbott et al. 2020, Wellcome Open Res 5:112; Funk et al.
2019, PLoS Comput Biol 15:e1006785):

1. day-of-week reporting effects are estimated from the last weeks (counts over a centred
   7-day mean) and divided out;
2. Rt over the last week is estimated from the adjusted series by the Cori method
   (`epicity.analytics.rt.estimate_rt`), with its gamma posterior;
3. log Rt then follows a damped random walk over the horizon, its step size estimated from
   how much weekly log Rt moved over the last weeks (the Cori posterior alone only carries
   Poisson noise and is far too narrow for forecasting);
4. expected cases are projected by the renewal equation ``I_t = R_t sum_s w_s I_{t-s}``;
5. observed counts are negative binomial around ``I_t`` times the day-of-week effect, with
   the dispersion estimated from the recent residuals around the smoothed curve.

Quantiles are taken from sample paths. The baseline (`baseline_forecast`) is the Forecast
Hub's ``COVIDhub-baseline`` (Cramer et al. 2022, PNAS 119:e2113561119; the reference code is
reichlab's ``simplets::predict.quantile_baseline``): last value carried forward, quantiles
from the symmetrised past day-to-day differences, summed over the horizon along sampled
paths, re-centred on the last value and truncated at 0.

Scores (`wis`, `score`, `relative_wis`) follow Bracher, Ray, Gneiting, Reich (2021),
"Evaluating epidemic forecasts in an interval format", PLoS Comput Biol 17:e1008618.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from epicity.analytics.errors import AnalyticsError, NotEnoughData
from epicity.analytics.rt import discretised_gamma_si, estimate_rt

__all__ = [
    "MIN_DAYS",
    "MIN_DAYS_BASELINE",
    "QUANTILES",
    "Method",
    "RenewalModel",
    "baseline_forecast",
    "check_incidence",
    "coverage",
    "evaluate",
    "forecast",
    "relative_wis",
    "score",
    "wis",
]

#: The COVID-19 Forecast Hub's 23 quantile levels: 11 central intervals and the median.
QUANTILES: tuple[float, ...] = (
    0.01,
    0.025,
    *(round(0.05 * k, 2) for k in range(1, 20)),
    0.975,
    0.99,
)

#: Days of history the renewal model needs (4 weeks of day-of-week effects).
MIN_DAYS = 28
#: Days the baseline needs (one week of day-to-day differences).
MIN_DAYS_BASELINE = 8

Method = Literal["ensemble", "renewal"]
#: Sample paths of the baseline (its quantiles at horizon 1 come from an even grid).
BASELINE_SAMPLES = 10_000


@dataclasses.dataclass(frozen=True)
class RenewalModel:
    """Settings of the renewal-equation forecast.

    Attributes:
        si_mean: mean serial interval in days. 4.7 d (sd 2.9 d) is Nishiura, Linton and
            Akhmetzhanov (2020), Int J Infect Dis 93:284-286, from 28 early SARS-CoV-2 pairs.
        si_sd: serial interval standard deviation in days.
        window: days in the Cori window that gives the latest Rt.
        history: days of the series the model looks at (older days do not matter).
        dow_days: days used to estimate day-of-week effects.
        dow_pseudo: pseudo-count that pulls weekday effects towards 1 on sparse series.
        rt_prior_mean: mean of the gamma prior on Rt (EpiEstim's 5 suits estimation, a prior
            centred on 1 keeps sparse series from forecasting explosive growth).
        rt_prior_sd: its standard deviation.
        rw_sd_min: floor of the daily random-walk step of log Rt.
        rw_sd_max: its ceiling (a week of fast change must not widen every later forecast).
        rw_weeks: weeks of weekly log-Rt changes used to estimate the step.
        damping: per-day factor pulling log Rt towards 0 (Rt towards 1) over the horizon.
        dispersion_days: days of residuals used to estimate the negative-binomial dispersion.
        n_samples: sample paths behind the quantiles.
    """

    si_mean: float = 4.7
    si_sd: float = 2.9
    window: int = 7
    history: int = 70
    dow_days: int = 56
    dow_pseudo: float = 5.0
    rt_prior_mean: float = 1.0
    rt_prior_sd: float = 1.0
    rw_sd_min: float = 0.07
    rw_sd_max: float = 0.10
    rw_weeks: int = 6
    damping: float = 0.85
    dispersion_days: int = 28
    n_samples: int = 2000

    def __post_init__(self) -> None:
        for name in ("si_mean", "si_sd", "rt_prior_mean", "rt_prior_sd", "dow_pseudo"):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0:
                raise AnalyticsError(f"{name}: must be a positive number (got {value})")
        if not 0 < self.damping <= 1:
            raise AnalyticsError(f"damping: must be in (0, 1] (got {self.damping})")
        if not math.isfinite(self.rw_sd_min) or self.rw_sd_min < 0:
            raise AnalyticsError(f"rw_sd_min: must be >= 0 (got {self.rw_sd_min})")
        for name, low in (
            ("window", 1),
            ("history", MIN_DAYS),
            ("dow_days", 7),
            ("rw_weeks", 1),
            ("dispersion_days", 7),
            ("n_samples", 100),
        ):
            if getattr(self, name) < low:
                raise AnalyticsError(f"{name}: must be at least {low} (got {getattr(self, name)})")


# --------------------------------------------------------------------------------------------
# Input checks


def check_incidence(
    incidence: pd.DataFrame, *, by: str | None = None, min_days: int = MIN_DAYS
) -> pd.DataFrame:
    """The incidence as a clean frame (``date``, [``by``], ``cases``), or a clear error.

    Every location must have consecutive days (zeros written out), whole non-negative counts
    and at least `min_days` days.

    Args:
        incidence: columns ``date``, ``cases`` and, when `by` is given, that column.
        by: the grouping column (e.g. ``"district"``), or None for one series.
        min_days: the shortest series accepted.

    Returns:
        A copy with ``date`` as datetime64 and ``cases`` as int64, sorted.

    Raises:
        AnalyticsError: a missing column, a bad date, a NaN, negative or fractional count, a
            repeated date or a gap.
        NotEnoughData: a series shorter than `min_days`.

    Example:
        >>> frame = pd.DataFrame({"date": ["2020-03-01", "2020-03-02"], "cases": [1, 2]})
        >>> check_incidence(frame, min_days=2)["cases"].tolist()
        [1, 2]
    """
    if not isinstance(incidence, pd.DataFrame):
        raise AnalyticsError("incidence: must be a DataFrame with columns date, cases")
    needed = ["date", "cases"] + ([by] if by else [])
    missing = [c for c in needed if c not in incidence.columns]
    if missing:
        raise AnalyticsError(
            f"incidence: missing column(s) {', '.join(missing)} "
            f"(has {', '.join(map(str, incidence.columns)) or 'none'})"
        )
    frame = incidence[needed].copy()
    if frame.empty:
        raise NotEnoughData("cases: the series is empty")
    dates = pd.to_datetime(frame["date"], errors="coerce")
    if dates.isna().any():
        row = int(np.flatnonzero(dates.isna().to_numpy())[0])
        raise AnalyticsError(f"date: {frame['date'].iloc[row]!r} (row {row + 1}) is not a date")
    frame["date"] = dates.dt.normalize()
    cases = pd.to_numeric(frame["cases"], errors="coerce")
    for row in range(len(frame)):
        value = cases.iloc[row]
        day = frame["date"].iloc[row].date()
        if pd.isna(value) or not math.isfinite(float(value)):
            raise AnalyticsError(
                f"cases: missing or non-numeric count {frame['cases'].iloc[row]!r} on {day}"
            )
        if value < 0:
            raise AnalyticsError(f"cases: negative count {value:g} on {day}")
        if value != math.floor(value):
            raise AnalyticsError(f"cases: {value:g} on {day} is not a whole number")
    frame["cases"] = cases.astype("int64")
    if by:
        if frame[by].isna().any():
            raise AnalyticsError(f"{by}: missing value in the {by} column")
        frame[by] = frame[by].astype(str)
    groups: Iterable[tuple[Any, pd.DataFrame]] = (
        frame.groupby(by, sort=True) if by else [(None, frame)]
    )
    parts = []
    for key, part in groups:
        where = f" in {by} {key}" if by else ""
        part = part.sort_values("date")
        repeated = part["date"].duplicated()
        if repeated.any():
            day = part["date"][repeated].iloc[0].date()
            raise AnalyticsError(f"date: {day} appears more than once{where}")
        steps = part["date"].diff().dt.days.to_numpy()[1:]
        if np.any(steps != 1):
            i = int(np.flatnonzero(steps != 1)[0])
            raise AnalyticsError(
                f"date: gap between {part['date'].iloc[i].date()} and "
                f"{part['date'].iloc[i + 1].date()}{where} (write days without cases as 0)"
            )
        if len(part) < min_days:
            raise NotEnoughData(
                f"cases: {len(part)} days{where}; the forecast needs at least {min_days}"
            )
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def _select(frame: pd.DataFrame, by: str | None, locations: Sequence[str] | None) -> pd.DataFrame:
    if locations is None:
        return frame
    if by is None:
        raise AnalyticsError("locations: only with by (the grouping column)")
    known = sorted(frame[by].unique())
    unknown = [loc for loc in locations if loc not in known]
    if unknown:
        raise AnalyticsError(
            f"{by}: unknown {by} {unknown[0]!r} (known: {', '.join(known[:30])}"
            f"{', ...' if len(known) > 30 else ''})"
        )
    return frame[frame[by].isin(list(locations))]


def _quantile_levels(quantiles: Sequence[float]) -> np.ndarray:
    levels = np.asarray(sorted(quantiles), dtype=float)
    if levels.size == 0 or np.any((levels <= 0) | (levels >= 1)):
        raise AnalyticsError("quantiles: levels must lie strictly between 0 and 1")
    if np.unique(levels).size != levels.size:
        raise AnalyticsError("quantiles: repeated level")
    return levels


# --------------------------------------------------------------------------------------------
# Models: each maps one series (counts, oldest first) to sample paths (n_samples, horizon).


def _dow_effects(y: np.ndarray, weekday: np.ndarray, days: int, pseudo: float) -> np.ndarray:
    """Multiplicative weekday effects (mean 1) from counts over their centred 7-day mean.

    The median log ratio per weekday resists a surge that happens to start on one weekday;
    the pseudo-count (in cases) pulls the effects towards 1 on sparse series.
    """
    n = y.size
    if n < 7:
        return np.ones(7)
    centred = np.convolve(y, np.ones(7) / 7.0, mode="valid")  # day t+3's mean at index t
    lo = max(3, n - 3 - days)
    days_idx = np.arange(lo, n - 3)
    ratio = np.log((y[days_idx] + pseudo) / (centred[days_idx - 3] + pseudo))
    effect = np.ones(7)
    for d in range(7):
        mine = ratio[weekday[days_idx] == d]
        if mine.size:
            effect[d] = math.exp(float(np.median(mine)))
    return np.asarray(effect / effect.mean())


def _nb_sample(rng: np.random.Generator, mean: np.ndarray, inv_dispersion: float) -> np.ndarray:
    """Negative binomial counts with the given means and variance mean + k mean^2."""
    mean = np.maximum(mean, 0.0)
    if inv_dispersion <= 1e-9:
        return rng.poisson(mean).astype(float)
    shape = 1.0 / inv_dispersion
    return rng.poisson(rng.gamma(shape, mean / shape)).astype(float)


def _renewal_paths(
    y: np.ndarray,
    first_weekday: int,
    horizon: int,
    model: RenewalModel,
    rng: np.random.Generator,
) -> np.ndarray:
    dropped = max(0, y.size - model.history)
    y = y[dropped:].astype(float)
    n = y.size
    weekday = (first_weekday + dropped + np.arange(n + horizon)) % 7
    effect = _dow_effects(y, weekday[:n], model.dow_days, model.dow_pseudo)
    x = y / effect[weekday[:n]]
    si = discretised_gamma_si(model.si_mean, model.si_sd, max_days=min(n, 40))
    si = si / si.sum()

    # Rt over the last window and the windows a week, two weeks, ... before it.
    ends = np.array([n - 7 * k for k in range(model.rw_weeks + 1)])
    ends = ends[ends - model.window + 1 >= 2][::-1]
    rt = estimate_rt(
        x,
        si,
        mean_prior=model.rt_prior_mean,
        std_prior=model.rt_prior_sd,
        t_start=list(ends - model.window + 1),
        t_end=list(ends),
    )
    shape = float(rt["shape"].iloc[-1])
    scale = float(rt["scale"].iloc[-1])
    if not (math.isfinite(shape) and math.isfinite(scale)):
        raise NotEnoughData("cases: too few days for an Rt estimate before the forecast")
    log_means = np.log(rt["mean"].to_numpy(dtype=float))
    steps = np.diff(log_means[np.isfinite(log_means)])
    weekly_sd = float(np.sqrt(np.mean(steps**2))) if steps.size else 0.0
    rw_sd = min(model.rw_sd_max, max(model.rw_sd_min, weekly_sd / math.sqrt(7.0)))

    # Negative-binomial dispersion from one-day-ahead errors of a naive forecast (the mean
    # of the previous 7 days times the weekday effect): residuals around a centred mean
    # leave out the trend's error and give intervals far too narrow.
    lo = max(7, n - model.dispersion_days)
    trailing = np.convolve(y, np.ones(7) / 7.0, mode="valid")  # mean of days t..t+6 at t
    obs = y[lo:n]
    mu = trailing[lo - 7 : n - 7] * effect[weekday[lo:n]]
    inv_disp = 0.0
    if mu.size and float(np.sum(mu**2)) > 0:
        inv_disp = max(0.0, float(np.sum((obs - mu) ** 2 - mu) / np.sum(mu**2)))

    m = model.n_samples
    log_r = np.log(rng.gamma(shape, scale, size=m))
    shocks = rng.normal(0.0, rw_sd, size=(m, horizon))
    latent = np.empty((m, n + horizon))
    latent[:, :n] = x
    w = si[1:]
    lags = w.size
    out = np.empty((m, horizon))
    for h in range(horizon):
        log_r = model.damping * log_r + shocks[:, h]
        t = n + h
        past = latent[:, max(0, t - lags) : t][:, ::-1]
        lam = past @ w[: past.shape[1]]
        latent[:, t] = np.exp(log_r) * lam
        out[:, h] = _nb_sample(rng, latent[:, t] * effect[weekday[t]], inv_disp)
    return out


def _baseline_paths(
    y: np.ndarray, horizon: int, n_samples: int, rng: np.random.Generator
) -> np.ndarray:
    """COVIDhub-baseline sample paths (simplets' predict.quantile_baseline, origin "obs")."""
    diffs = np.diff(y.astype(float))
    symmetric = np.concatenate([diffs, -diffs])
    # Horizon 1 uses the distribution's quantiles on an even grid, as simplets does.
    sampled = np.quantile(symmetric, np.linspace(0.0, 1.0, n_samples))
    origin = float(y[-1])
    raw = origin + sampled
    out = np.empty((n_samples, horizon))
    out[:, 0] = np.maximum(raw, 0.0)
    for h in range(1, horizon):
        sampled = rng.permutation(sampled)
        raw = raw + sampled
        corrected = raw - (np.median(raw) - origin)
        out[:, h] = np.maximum(corrected, 0.0)
    return out


def _path_quantiles(paths: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Quantiles of sample paths, (levels, horizon), >= 0 and non-decreasing in the level."""
    values = np.quantile(paths, levels, axis=0)
    return np.asarray(np.maximum.accumulate(np.maximum(values, 0.0), axis=0))


def _frame(values: np.ndarray, last_date: pd.Timestamp, levels: np.ndarray) -> pd.DataFrame:
    horizon = values.shape[1]
    hs = np.repeat(np.arange(1, horizon + 1), levels.size)
    return pd.DataFrame(
        {
            "forecast_date": last_date,
            "target_end_date": last_date + pd.to_timedelta(hs, unit="D"),
            "horizon": hs,
            "quantile": np.tile(levels, horizon),
            "value": values.T.reshape(-1),
        }
    )


PathMaker = Callable[[np.ndarray, pd.Timestamp, np.random.Generator], np.ndarray]


def _run(
    incidence: pd.DataFrame,
    *,
    horizon: int,
    by: str | None,
    locations: Sequence[str] | None,
    quantiles: Sequence[float],
    seed: int,
    makers: Sequence[tuple[int, PathMaker]],
) -> pd.DataFrame:
    """Each location's forecast: the mean of the makers' quantiles (Vincentisation).

    A maker is (its stream number, its sample-path function); the streams keep a model's
    draws the same whether it runs alone or inside the ensemble.
    """
    if not isinstance(horizon, int) or not 1 <= horizon <= 28:
        raise AnalyticsError(
            f"horizon: must be a whole number of days from 1 to 28 (got {horizon})"
        )
    levels = _quantile_levels(quantiles)
    min_days = max(MIN_DAYS if stream == 0 else MIN_DAYS_BASELINE for stream, _ in makers)
    frame = _select(check_incidence(incidence, by=by, min_days=min_days), by, locations)
    groups: Iterable[tuple[Any, pd.DataFrame]] = (
        frame.groupby(by, sort=True) if by else [(None, frame)]
    )
    out = []
    for i, (key, part) in enumerate(groups):
        y = part["cases"].to_numpy(dtype=float)
        first = pd.Timestamp(part["date"].iloc[0])
        values = np.mean(
            [
                _path_quantiles(make(y, first, np.random.default_rng([seed, i, stream])), levels)
                for stream, make in makers
            ],
            axis=0,
        )
        fc = _frame(values, pd.Timestamp(part["date"].iloc[-1]), levels)
        if by:
            fc.insert(0, "location", key)
        out.append(fc)
    return pd.concat(out, ignore_index=True)


def _renewal_maker(horizon: int, settings: RenewalModel) -> tuple[int, PathMaker]:
    def paths(y: np.ndarray, first: pd.Timestamp, rng: np.random.Generator) -> np.ndarray:
        return _renewal_paths(y, first.weekday(), horizon, settings, rng)

    return 0, paths


def _baseline_maker(horizon: int, n_samples: int) -> tuple[int, PathMaker]:
    def paths(y: np.ndarray, first: pd.Timestamp, rng: np.random.Generator) -> np.ndarray:
        del first
        return _baseline_paths(y, horizon, n_samples, rng)

    return 1, paths


def forecast(
    incidence: pd.DataFrame,
    *,
    horizon: int = 14,
    by: str | None = None,
    locations: Sequence[str] | None = None,
    method: Method = "ensemble",
    model: RenewalModel | None = None,
    quantiles: Sequence[float] = QUANTILES,
    seed: int = 0,
) -> pd.DataFrame:
    """Quantile forecasts of daily cases 1 to `horizon` days after the last date.

    ``method="renewal"`` is the renewal-equation model of the module docstring (weekday
    effects, the latest Cori Rt on a damped random walk, negative-binomial counts);
    ``"ensemble"`` (the default) averages its quantiles with the Forecast Hub baseline's,
    level by level, which scored best on the development period (docs/analytics.md).

    Args:
        incidence: columns ``date``, ``cases`` (consecutive days, whole counts >= 0) and the
            `by` column when given; at least `MIN_DAYS` days per location.
        horizon: days ahead (1-28).
        by: grouping column (e.g. ``"district"``): one forecast per value.
        locations: only these values of `by` (an unknown one is an error).
        method: ``"ensemble"`` or ``"renewal"``.
        model: the renewal model's settings (default `RenewalModel()`).
        quantiles: quantile levels (default the Hub's 23).
        seed: seed of the sample paths; the same input and seed give the same forecast.

    Returns:
        Forecast Hub long format: ``location`` (with `by`), ``forecast_date`` (the last
        observed day), ``target_end_date``, ``horizon``, ``quantile``, ``value``; quantiles
        never cross and are never negative.

    Raises:
        AnalyticsError: bad columns, dates, counts, horizon, method or location.
        NotEnoughData: a series shorter than `MIN_DAYS`.

    Example:
        >>> days = pd.date_range("2020-03-01", periods=42)
        >>> inc = pd.DataFrame({"date": days, "cases": [20 + (i % 7 == 0) * 5 for i in range(42)]})
        >>> fc = forecast(inc, horizon=7)
        >>> len(fc), int(fc["horizon"].max()), bool(fc["value"].ge(0).all())
        (161, 7, True)
    """
    settings = model or RenewalModel()
    makers = [_renewal_maker(horizon, settings)]
    if method == "ensemble":
        makers.append(_baseline_maker(horizon, BASELINE_SAMPLES))
    elif method != "renewal":
        raise AnalyticsError(f"method: must be 'ensemble' or 'renewal' (got {method!r})")
    return _run(
        incidence,
        horizon=horizon,
        by=by,
        locations=locations,
        quantiles=quantiles,
        seed=seed,
        makers=makers,
    )


def baseline_forecast(
    incidence: pd.DataFrame,
    *,
    horizon: int = 14,
    by: str | None = None,
    locations: Sequence[str] | None = None,
    quantiles: Sequence[float] = QUANTILES,
    n_samples: int = BASELINE_SAMPLES,
    seed: int = 0,
) -> pd.DataFrame:
    """The COVID-19 Forecast Hub baseline (``COVIDhub-baseline``) for daily cases.

    Median: the last observed count, for every horizon. Spread: the past day-to-day
    differences and their negatives (a symmetric distribution); horizon h adds h draws along
    sample paths, the paths are shifted so their median stays the last count, and values
    below 0 become 0 (Cramer et al. 2022, PNAS; reichlab ``simplets``).

    Args:
        incidence: as for `forecast`; at least `MIN_DAYS_BASELINE` days per location.
        horizon: days ahead (1-28).
        by: grouping column, or None.
        locations: only these values of `by`.
        quantiles: quantile levels (default the Hub's 23).
        n_samples: sample paths (the Hub's code samples the differences' quantile grid).
        seed: seed of the path permutations.

    Returns:
        The same long format as `forecast`.

    Example:
        >>> inc = pd.DataFrame({"date": pd.date_range("2020-03-01", periods=10),
        ...                     "cases": [5, 7, 6, 8, 7, 9, 8, 10, 9, 10]})
        >>> fc = baseline_forecast(inc, horizon=3)
        >>> fc.loc[fc["quantile"] == 0.5, "value"].round(6).tolist()
        [10.0, 10.0, 10.0]
    """
    if n_samples < 100:
        raise AnalyticsError(f"n_samples: must be at least 100 (got {n_samples})")
    return _run(
        incidence,
        horizon=horizon,
        by=by,
        locations=locations,
        quantiles=quantiles,
        seed=seed,
        makers=[_baseline_maker(horizon, n_samples)],
    )


# --------------------------------------------------------------------------------------------
# Scoring


def _pairs(levels: np.ndarray) -> tuple[list[tuple[int, int, float]], int | None]:
    """Central intervals as (lower index, upper index, alpha) and the median's index."""
    intervals = []
    median: int | None = None
    for i, q in enumerate(levels):
        if abs(q - 0.5) < 1e-9:
            median = i
        elif q < 0.5:
            match = np.flatnonzero(np.abs(levels - (1 - q)) < 1e-9)
            if match.size == 0:
                raise AnalyticsError(f"quantiles: level {q:g} has no matching {1 - q:g}")
            intervals.append((i, int(match[0]), float(2 * q)))
    if median is None:
        raise AnalyticsError("quantiles: the median (0.5) is needed for the WIS")
    return intervals, median


def _wis_parts(
    levels: np.ndarray, values: np.ndarray, observed: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """WIS's dispersion, overprediction and underprediction components."""
    intervals, median = _pairs(levels)
    k = len(intervals)
    y = observed
    med = values[:, median]
    disp = np.zeros(y.size)
    over = 0.5 * np.maximum(med - y, 0.0)
    under = 0.5 * np.maximum(y - med, 0.0)
    for lo_i, hi_i, alpha in intervals:
        lo = values[:, lo_i]
        hi = values[:, hi_i]
        disp += alpha / 2 * (hi - lo)
        over += np.maximum(lo - y, 0.0)
        under += np.maximum(y - hi, 0.0)
    norm = k + 0.5
    return disp / norm, over / norm, under / norm


def wis(
    values: Sequence[float] | np.ndarray,
    observed: float | Sequence[float] | np.ndarray,
    *,
    quantiles: Sequence[float] = QUANTILES,
) -> np.ndarray:
    """The weighted interval score of quantile forecasts (Bracher et al. 2021).

    ``WIS = (|y - m| / 2 + sum_k alpha_k / 2 * IS_alpha_k(y)) / (K + 1/2)`` over the K
    central intervals ``(1 - alpha_k)`` and the median m, where
    ``IS_alpha = (u - l) + 2/alpha (l - y)+ + 2/alpha (y - u)+``. It equals the mean pinball
    loss over the levels times ``(2K + 1) / (K + 1/2)``.

    Args:
        values: the forecast's quantiles, one row per forecast (or one row), columns in the
            order of `quantiles`.
        observed: the observed value(s), one per row.
        quantiles: the levels; symmetric around a median (default the Hub's 23).

    Returns:
        One WIS per row (>= 0; 0 only when every quantile equals the observation).

    Example:
        >>> round(float(wis([8, 10, 12], 10, quantiles=[0.25, 0.5, 0.75])[0]), 4)
        0.6667
    """
    levels = np.asarray(quantiles, dtype=float)
    order = np.argsort(levels)
    vals = np.atleast_2d(np.asarray(values, dtype=float))[:, order]
    y = np.broadcast_to(np.asarray(observed, dtype=float), (vals.shape[0],))
    if vals.shape[1] != levels.size:
        raise AnalyticsError(f"values: {vals.shape[1]} columns for {levels.size} quantile levels")
    d, o, u = _wis_parts(levels[order], vals, np.asarray(y))
    return np.asarray(d + o + u)


def coverage(
    values: np.ndarray,
    observed: np.ndarray,
    *,
    quantiles: Sequence[float] | np.ndarray,
    level: float,
) -> np.ndarray:
    """Whether each observation lies in the central `level` interval (bounds included)."""
    levels = np.asarray(quantiles, dtype=float)
    lo = np.flatnonzero(np.abs(levels - (1 - level) / 2) < 1e-9)
    hi = np.flatnonzero(np.abs(levels - (1 + level) / 2) < 1e-9)
    if lo.size == 0 or hi.size == 0:
        raise AnalyticsError(f"quantiles: no central {level:.0%} interval among the levels")
    return np.asarray((observed >= values[:, lo[0]]) & (observed <= values[:, hi[0]]))


def score(forecasts: pd.DataFrame, truth: pd.DataFrame, *, by: str | None = None) -> pd.DataFrame:
    """WIS (with its components), absolute error and 50%/95% coverage of each forecast.

    Args:
        forecasts: long format from `forecast` or `baseline_forecast` (several forecast
            dates may be stacked; extra key columns such as ``model`` are kept).
        truth: ``date``, ``cases`` (and ``location`` when the forecasts have it, or the `by`
            column, renamed to ``location``).
        by: name of the truth's grouping column when it is not ``location``.

    Returns:
        One row per forecast target: the keys, ``observed``, ``wis``, ``dispersion``,
        ``overprediction``, ``underprediction``, ``ae_median``, ``covered_50``,
        ``covered_95``. Targets with no truth are dropped.

    Example:
        >>> inc = pd.DataFrame({"date": pd.date_range("2020-03-01", periods=12),
        ...                     "cases": [5, 7, 6, 8, 7, 9, 8, 10, 9, 10, 11, 9]})
        >>> fc = baseline_forecast(inc.iloc[:10], horizon=2)
        >>> s = score(fc, inc)
        >>> s["observed"].tolist(), bool((s["wis"] >= 0).all())
        ([11, 9], True)
    """
    truth = truth.rename(columns={by: "location"}) if by else truth
    keyed = "location" in forecasts.columns
    join = ["date", "location"] if keyed else ["date"]
    if any(c not in truth.columns for c in [*join, "cases"]):
        raise AnalyticsError(f"truth: needs columns {', '.join([*join, 'cases'])}")
    obs = truth[[*join, "cases"]].rename(columns={"date": "target_end_date", "cases": "observed"})
    obs = obs.assign(target_end_date=pd.to_datetime(obs["target_end_date"]))
    keys = [c for c in forecasts.columns if c not in ("quantile", "value")]
    wide = forecasts.pivot_table(index=keys, columns="quantile", values="value", aggfunc="first")
    levels = np.asarray(wide.columns, dtype=float)
    wide = wide.reset_index()
    merged = wide.merge(obs, on=["target_end_date", *(["location"] if keyed else [])])
    values = merged[list(levels)].to_numpy(dtype=float)
    y = merged["observed"].to_numpy(dtype=float)
    d, o, u = _wis_parts(levels, values, y)
    out = merged[[*keys, "observed"]].copy()
    out["wis"] = d + o + u
    out["dispersion"] = d
    out["overprediction"] = o
    out["underprediction"] = u
    median = values[:, int(np.argmin(np.abs(levels - 0.5)))]
    out["ae_median"] = np.abs(y - median)
    out["covered_50"] = coverage(values, y, quantiles=levels, level=0.5)
    out["covered_95"] = coverage(values, y, quantiles=levels, level=0.95)
    return out


def relative_wis(
    scores: pd.DataFrame,
    *,
    group: Sequence[str] = (),
    model_column: str = "model",
    baseline: str = "baseline",
) -> pd.DataFrame:
    """Mean WIS, relative WIS against the baseline, and coverage, per model and group.

    Relative WIS is the ratio of mean WIS over the same targets (the ones both the model and
    the baseline forecast). With two models this equals the Forecast Hub's pairwise
    relative WIS (the geometric mean of pairwise ratios, Cramer et al. 2022) scaled to the
    baseline.

    Args:
        scores: stacked output of `score` with a `model_column`.
        group: columns to break the summary down by (e.g. ``["location", "band"]``).
        model_column: the column naming the model.
        baseline: that column's value for the baseline.

    Returns:
        One row per group and model: ``n``, ``wis``, ``relative_wis``, ``coverage_50``,
        ``coverage_95``, ``ae_median``.
    """
    target = [c for c in ("location", "forecast_date", "target_end_date") if c in scores.columns]
    models = scores[model_column].unique()
    if baseline not in models:
        raise AnalyticsError(f"{model_column}: no {baseline!r} rows to compare with")
    # keep only the targets every model forecast
    per_target = scores.groupby(target, dropna=False)[model_column].transform("nunique")
    kept = scores[per_target.to_numpy() == len(models)]
    keys = [*group, model_column]
    summary = kept.groupby(keys, sort=True, dropna=False).agg(
        n=("wis", "size"),
        wis=("wis", "mean"),
        ae_median=("ae_median", "mean"),
        coverage_50=("covered_50", "mean"),
        coverage_95=("covered_95", "mean"),
    )
    summary = summary.reset_index()
    base = summary[summary[model_column] == baseline][[*group, "wis"]].rename(
        columns={"wis": "baseline_wis"}
    )
    summary = (
        summary.merge(base, on=list(group))
        if group
        else summary.assign(baseline_wis=float(base["baseline_wis"].iloc[0]))
    )
    summary["relative_wis"] = summary["wis"] / summary["baseline_wis"]
    return summary.drop(columns="baseline_wis")[
        [*keys, "n", "wis", "relative_wis", "coverage_50", "coverage_95", "ae_median"]
    ]


def evaluate(
    incidence: pd.DataFrame,
    origins: Sequence[pd.Timestamp | str],
    *,
    horizon: int = 14,
    by: str | None = None,
    model: RenewalModel | None = None,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Rolling-origin evaluation of the renewal model, the ensemble and the baseline.

    At each origin only the days up to and including it are used, and the forecasts are
    scored against the following `horizon` days.

    Args:
        incidence: the full series (as for `forecast`).
        origins: last observed day of each forecast; origins with less than `MIN_DAYS` of
            history, or no truth after them, are skipped.
        horizon: days ahead.
        by: grouping column, or None.
        model: the renewal model's settings.
        seed: seed; origin j forecasts with seed ``seed * 1_000_003 + j``.
        progress: called with (done, total) after each origin.

    Returns:
        The rows of `score` with a ``model`` column (``renewal``, ``ensemble``,
        ``baseline``) and ``location`` when `by` is given.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(1)
        >>> inc = pd.DataFrame({"date": pd.date_range("2020-03-01", periods=60),
        ...                     "cases": rng.poisson(30, 60)})
        >>> s = evaluate(inc, ["2020-04-15"], horizon=7)
        >>> sorted(s["model"].unique()), len(s)
        (['baseline', 'ensemble', 'renewal'], 21)
    """
    frame = check_incidence(incidence, by=by, min_days=1)
    groups: Iterable[tuple[Any, pd.DataFrame]] = (
        frame.groupby(by, sort=True) if by else [(None, frame)]
    )
    parts = list(groups)
    when = [pd.Timestamp(o) for o in origins]
    total = len(when) * len(parts)
    out = []
    done = 0
    for key, part in parts:
        truth = part.drop(columns=[by]) if by else part
        for j, origin in enumerate(when):
            done += 1
            history = truth[truth["date"] <= origin]
            if len(history) >= MIN_DAYS and truth["date"].max() > origin:
                origin_seed = seed * 1_000_003 + j
                renewal = forecast(
                    history, horizon=horizon, method="renewal", model=model, seed=origin_seed
                )
                base = baseline_forecast(history, horizon=horizon, seed=origin_seed)
                # Same rows in the same order, so the ensemble is the mean of the values
                # (exactly what forecast(method="ensemble") returns for this seed).
                ensemble = renewal.assign(
                    value=(renewal["value"].to_numpy() + base["value"].to_numpy()) / 2
                )
                for name, fc in (("renewal", renewal), ("ensemble", ensemble), ("baseline", base)):
                    s = score(fc, truth)
                    s.insert(0, "model", name)
                    if by:
                        s.insert(0, "location", key)
                    out.append(s)
            if progress:
                progress(done, total)
    if not out:
        raise NotEnoughData("origins: no origin has enough history and truth after it")
    return pd.concat(out, ignore_index=True)
