"""The time-varying reproduction number by the Cori method, as EpiEstim computes it.

Cori A, Ferguson NM, Fraser C, Cauchemez S (2013). A new framework and software to estimate
time-varying reproduction numbers during epidemics. Am J Epidemiol 178(9):1505-1512. The
numbers follow the R package EpiEstim (`estimate_R`, methods ``"parametric_si"`` and
``"non_parametric_si"``; `discr_si`), and reproduce its published outputs to 1e-6 (see
docs/analytics.md, "Reproduction number").

With incidence ``I_t`` (local plus imported cases on day t, days numbered from 1) and a
discrete serial interval ``w_s`` (``w_0 = 0``), the total infectiousness is
``Lambda_t = sum_{s=1}^{t-1} w_s I_{t-s}``. Over a window ``[t_start, t_end]`` the
reproduction number has a gamma prior (shape ``a``, scale ``b``: mean 5, sd 5 by default) and
the gamma posterior with shape ``a + sum I_local`` and scale ``1 / (1/b + sum Lambda)``.
As in EpiEstim, every case of the first day counts as imported (nobody in the series infected
it), windows start on day 2 or later, and a window ending before the serial interval's mean
has no estimate (NaN).

The nowcast (`nowcast_incidence`) corrects the last days' counts for cases that happened but
are not yet reported, so Rt on the most recent windows is not biased down.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from epicity.analytics.errors import AnalyticsError, NotEnoughData

__all__ = [
    "EPIESTIM_COLUMNS",
    "QUANTILES",
    "check_si_distr",
    "discretised_gamma_si",
    "estimate_rt",
    "estimate_rt_nowcast",
    "estimate_rt_si_samples",
    "nowcast_incidence",
    "nowcast_samples",
    "overall_infectivity",
]

#: The posterior quantiles EpiEstim reports.
QUANTILES: tuple[float, ...] = (0.025, 0.05, 0.25, 0.5, 0.75, 0.95, 0.975)

#: Our column name -> EpiEstim's `R` table column name.
EPIESTIM_COLUMNS: dict[str, str] = {
    "t_start": "t_start",
    "t_end": "t_end",
    "mean": "Mean(R)",
    "std": "Std(R)",
    "q0.025": "Quantile.0.025(R)",
    "q0.05": "Quantile.0.05(R)",
    "q0.25": "Quantile.0.25(R)",
    "q0.5": "Median(R)",
    "q0.75": "Quantile.0.75(R)",
    "q0.95": "Quantile.0.95(R)",
    "q0.975": "Quantile.0.975(R)",
}

# EpiEstim's check_si_distr tolerance on the distribution's total.
_SI_SUM_TOLERANCE = 0.01


def _qname(q: float) -> str:
    return f"q{q:g}"


def discretised_gamma_si(mean: float, sd: float, *, max_days: int | None = None) -> np.ndarray:
    """The discrete serial interval of a gamma shifted by one day (EpiEstim's `discr_si`).

    The serial interval minus one day is gamma with mean ``mean - 1`` and sd ``sd``; day k's
    probability is the continuous distribution averaged with a triangular kernel over
    ``[k-1, k+1]`` (Cori et al. 2013, Web Appendix 11), so day 0 has probability 0.

    Args:
        mean: mean serial interval in days (> 1).
        sd: its standard deviation in days (> 0).
        max_days: the last day returned; by default the day by which all but 1e-10 of the
            mass is in (at least 2 days).

    Returns:
        Array ``w`` with ``w[k]`` the probability of a serial interval of k days, ``w[0] = 0``.

    Example:
        >>> w = discretised_gamma_si(2.6, 1.5, max_days=31)
        >>> round(float(w[1]), 6), float(w[0])
        (0.233172, 0.0)
    """
    if not np.isfinite(mean) or mean <= 1:
        raise AnalyticsError(f"si_mean: must be greater than 1 day (got {mean})")
    if not np.isfinite(sd) or sd <= 0:
        raise AnalyticsError(f"si_sd: must be positive (got {sd})")
    if max_days is not None and max_days < 1:
        raise AnalyticsError(f"max_days: must be at least 1 (got {max_days})")
    shape = ((mean - 1.0) / sd) ** 2
    scale = sd**2 / (mean - 1.0)
    if max_days is None:
        # gamma(shape, scale) + 1 (+ 1 day of kernel) holds all but 1e-10 of the mass by then.
        max_days = max(2, int(np.ceil(stats.gamma.ppf(1 - 1e-10, shape, scale=scale))) + 2)
    k = np.arange(max_days + 1, dtype=float)

    def cdf(x: np.ndarray, a: float) -> np.ndarray:
        return np.asarray(stats.gamma.cdf(x, a, scale=scale), dtype=float)

    res = k * cdf(k, shape) + (k - 2) * cdf(k - 2, shape) - 2 * (k - 1) * cdf(k - 1, shape)
    res = res + shape * scale * (
        2 * cdf(k - 1, shape + 1) - cdf(k - 2, shape + 1) - cdf(k, shape + 1)
    )
    return np.asarray(np.maximum(res, 0.0), dtype=float)


def check_si_distr(si_distr: Sequence[float] | np.ndarray) -> np.ndarray:
    """`si_distr` as a float array after EpiEstim's checks (non-negative, day 0 = 0, sums to 1).

    Raises:
        AnalyticsError: naming the problem.
    """
    w = np.asarray(si_distr, dtype=float)
    if w.ndim != 1 or w.size < 2:
        raise AnalyticsError("si_distr: needs at least days 0 and 1")
    if not np.all(np.isfinite(w)):
        raise AnalyticsError("si_distr: contains NaN or infinite values")
    if np.any(w < 0):
        bad = int(np.flatnonzero(w < 0)[0])
        raise AnalyticsError(f"si_distr: negative probability {w[bad]} on day {bad}")
    if w[0] != 0:
        raise AnalyticsError(f"si_distr: day 0 must have probability 0 (got {w[0]})")
    if abs(w.sum() - 1.0) > _SI_SUM_TOLERANCE:
        raise AnalyticsError(f"si_distr: must sum to 1 (sums to {w.sum():.6g})")
    return w


def overall_infectivity(total: np.ndarray, si_distr: np.ndarray) -> np.ndarray:
    """Lambda_t = sum_{s>=1} w_s I_{t-s} for each day (index 0 is day 1, where it is NaN).

    Args:
        total: daily incidence, local plus imported.
        si_distr: the discrete serial interval, ``si_distr[0] = 0``.
    """
    n = total.size
    w = np.zeros(n)
    m = min(n, si_distr.size)
    w[:m] = si_distr[:m]
    lam = np.full(n, np.nan)
    for t in range(1, n):
        # w_1..w_t against I_{t-1}..I_0 (0-based days)
        lam[t] = float(np.dot(w[1 : t + 1], total[t - 1 :: -1]))
    return lam


def _incidence_arrays(
    incidence: pd.DataFrame | Sequence[float] | np.ndarray,
    imported: Sequence[float] | np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, pd.Series | None]:
    """(local, imported, dates or None) from the accepted incidence shapes, validated."""
    dates: pd.Series | None = None
    if isinstance(incidence, pd.DataFrame):
        frame = incidence
        if "date" in frame.columns:
            dates = pd.Series(pd.to_datetime(frame["date"]).to_numpy())
            if dates.isna().any():
                raise AnalyticsError("date: missing date in the incidence")
            steps = dates.diff().dropna()
            if len(steps) and not (steps == pd.Timedelta(days=1)).all():
                bad = int(np.flatnonzero((steps != pd.Timedelta(days=1)).to_numpy())[0]) + 1
                raise AnalyticsError(
                    f"date: days must be consecutive (gap or disorder at {dates[bad].date()})"
                )
        if "local" in frame.columns and "imported" in frame.columns:
            if imported is not None:
                raise AnalyticsError("imported: given twice (argument and 'imported' column)")
            local = frame["local"].to_numpy(dtype=float)
            imp = frame["imported"].to_numpy(dtype=float)
        elif "cases" in frame.columns:
            local = frame["cases"].to_numpy(dtype=float)
            imp = None
        else:
            raise AnalyticsError("incidence: needs a 'cases' column (or 'local' and 'imported')")
    else:
        local = np.asarray(incidence, dtype=float)
        imp = None
        if local.ndim != 1:
            raise AnalyticsError("incidence: must be one-dimensional")
    if imp is None:
        if imported is None:
            imp = np.zeros_like(local)
        else:
            imp = np.asarray(imported, dtype=float)
            if imp.shape != local.shape:
                raise AnalyticsError(
                    f"imported: {imp.size} days but the incidence has {local.size}"
                )
    for name, values in (("cases", local), ("imported", imp)):
        if not np.all(np.isfinite(values)):
            bad = int(np.flatnonzero(~np.isfinite(values))[0])
            raise AnalyticsError(f"{name}: missing or non-finite count on {_day(dates, bad)}")
        if np.any(values < 0):
            bad = int(np.flatnonzero(values < 0)[0])
            raise AnalyticsError(f"{name}: negative count {values[bad]:g} on {_day(dates, bad)}")
    if local.size > 0 and local[0] > 0:
        # EpiEstim: cases on the first day have no infector in the series, so are imported.
        imp = imp.copy()
        local = local.copy()
        imp[0] += local[0]
        local[0] = 0.0
    return local, imp, dates


def _day(dates: pd.Series | None, index: int) -> str:
    return str(dates[index].date()) if dates is not None else f"day {index + 1}"


def estimate_rt(
    incidence: pd.DataFrame | Sequence[float] | np.ndarray,
    si_distr: Sequence[float] | np.ndarray,
    *,
    window: int = 7,
    mean_prior: float = 5.0,
    std_prior: float = 5.0,
    imported: Sequence[float] | np.ndarray | None = None,
    t_start: Sequence[int] | None = None,
    t_end: Sequence[int] | None = None,
) -> pd.DataFrame:
    """Rt over sliding windows by the Cori method (EpiEstim's `estimate_R`).

    Args:
        incidence: daily counts: a DataFrame with ``cases`` (or ``local`` and ``imported``)
            and optionally ``date`` (consecutive days), or a sequence of counts.
        si_distr: discrete serial interval, day 0 first (= 0), summing to 1 (see
            `discretised_gamma_si` for a parametric one).
        window: days per window; windows end on each day from ``window + 1`` (EpiEstim's
            default ``t_start = 2..T-window+1``).
        mean_prior: mean of the gamma prior on R (EpiEstim: 5).
        std_prior: its standard deviation (EpiEstim: 5).
        imported: imported cases per day (they infect but were not infected in the series).
        t_start: explicit 1-based window starts (>= 2), with ``t_end``; overrides ``window``.
        t_end: explicit 1-based window ends (<= number of days).

    Returns:
        One row per window: ``t_start``, ``t_end`` (1-based days), ``mean``, ``std``, the
        quantiles ``q0.025`` ... ``q0.975``, the posterior's gamma ``shape`` and ``scale``,
        and ``date_start``, ``date_end`` when the incidence has dates. Windows ending on or
        before the serial interval's mean have NaN estimates, as in EpiEstim.

    Raises:
        AnalyticsError: bad counts, dates, serial interval or windows.
        NotEnoughData: fewer days than one window plus the first day.

    Example:
        >>> inc = pd.DataFrame({"date": pd.date_range("2020-03-01", periods=10),
        ...                     "cases": [1, 2, 4, 6, 9, 12, 15, 20, 24, 30]})
        >>> r = estimate_rt(inc, discretised_gamma_si(4.0, 2.0), window=7)
        >>> list(r["t_end"]), bool((r["q0.025"] < r["mean"]).all())
        ([8, 9, 10], True)
    """
    local, imp, dates = _incidence_arrays(incidence, imported)
    w = check_si_distr(si_distr)
    if not np.isfinite(mean_prior) or mean_prior <= 0:
        raise AnalyticsError(f"mean_prior: must be positive (got {mean_prior})")
    if not np.isfinite(std_prior) or std_prior <= 0:
        raise AnalyticsError(f"std_prior: must be positive (got {std_prior})")
    n = local.size
    if (t_start is None) != (t_end is None):
        raise AnalyticsError("t_start, t_end: give both or neither")
    if t_start is None or t_end is None:
        if window < 1:
            raise AnalyticsError(f"window: must be at least 1 day (got {window})")
        if n < window + 1:
            raise NotEnoughData(
                f"cases: {n} days is too short for a {window}-day window after the first day"
            )
        starts = np.arange(2, n - window + 2)
        ends = starts + window - 1
    else:
        starts = np.asarray(t_start, dtype=int)
        ends = np.asarray(t_end, dtype=int)
        if starts.shape != ends.shape or starts.ndim != 1 or starts.size == 0:
            raise AnalyticsError("t_start, t_end: must be equally long, non-empty sequences")
        if np.any(starts < 2):
            raise AnalyticsError("t_start: windows must start on day 2 or later")
        if np.any(ends > n):
            raise AnalyticsError(f"t_end: beyond the last day ({n})")
        if np.any(starts > ends):
            raise AnalyticsError("t_start: a window starts after it ends")

    a_prior = (mean_prior / std_prior) ** 2
    b_prior = std_prior**2 / mean_prior
    lam = overall_infectivity(local + imp, w)
    # EpiEstim measures the SI mean on the distribution padded/truncated to T + 1 days.
    w_used = w[: n + 1]
    mean_si = float(np.dot(np.arange(w_used.size), w_used))

    cum_local = np.concatenate([[0.0], np.cumsum(local)])
    lam0 = np.nan_to_num(lam)
    cum_lam = np.concatenate([[0.0], np.cumsum(lam0)])
    sum_local = cum_local[ends] - cum_local[starts - 1]
    sum_lam = cum_lam[ends] - cum_lam[starts - 1]
    valid = ends > mean_si
    shape = np.where(valid, a_prior + sum_local, np.nan)
    scale = np.where(valid, 1.0 / (1.0 / b_prior + sum_lam), np.nan)

    out = pd.DataFrame({"t_start": starts, "t_end": ends})
    out["mean"] = shape * scale
    out["std"] = np.sqrt(shape) * scale
    for q in QUANTILES:
        out[_qname(q)] = stats.gamma.ppf(q, shape, scale=scale)
    out["shape"] = shape
    out["scale"] = scale
    if dates is not None:
        out["date_start"] = dates.to_numpy()[starts - 1]
        out["date_end"] = dates.to_numpy()[ends - 1]
    return out


def estimate_rt_si_samples(
    incidence: pd.DataFrame | Sequence[float] | np.ndarray,
    si_means: Sequence[float] | np.ndarray,
    si_sds: Sequence[float] | np.ndarray,
    *,
    window: int = 7,
    mean_prior: float = 5.0,
    std_prior: float = 5.0,
    imported: Sequence[float] | np.ndarray | None = None,
    t_start: Sequence[int] | None = None,
    t_end: Sequence[int] | None = None,
) -> pd.DataFrame:
    """Rt with an uncertain serial interval: the posterior mixed over SI (mean, sd) samples.

    EpiEstim's ``"uncertain_si"`` draws the SI's mean and sd, discretises each pair
    (`discretised_gamma_si`) and pools Rt draws from each posterior. Here the pooled
    distribution is computed exactly (an equal mixture of the gamma posteriors), so there is
    no Monte Carlo noise: ``mean`` is the mixture mean, ``std`` its sd and the quantiles solve
    the mixture's distribution function. As in EpiEstim, a sample whose SI mean is not below
    a window's end does not contribute to that window. The samples may come from EpiEstim or
    from `epicity.analytics.serial` (bootstrap fits).

    Args:
        incidence: as `estimate_rt`.
        si_means: sampled SI means (each > 1).
        si_sds: sampled SI standard deviations (each > 0), as many as `si_means`.
        window: as `estimate_rt`.
        mean_prior: as `estimate_rt`.
        std_prior: as `estimate_rt`.
        imported: as `estimate_rt`.
        t_start: as `estimate_rt`.
        t_end: as `estimate_rt`.

    Returns:
        `estimate_rt`'s columns without ``shape`` and ``scale`` (a mixture is not one gamma).

    Example:
        >>> inc = [1, 2, 4, 6, 9, 12, 15, 20, 24, 30]
        >>> r = estimate_rt_si_samples(inc, [3.5, 4.0, 4.5], [1.5, 2.0, 2.5])
        >>> bool((r["q0.025"] < r["q0.975"]).all())
        True
    """
    means = np.asarray(si_means, dtype=float)
    sds = np.asarray(si_sds, dtype=float)
    if means.ndim != 1 or means.size == 0 or means.shape != sds.shape:
        raise AnalyticsError("si_means, si_sds: must be equally long, non-empty sequences")
    local, imp, dates = _incidence_arrays(incidence, imported)
    frame = pd.DataFrame({"local": local, "imported": imp})
    if dates is not None:
        frame["date"] = dates
    n = local.size
    runs = []
    for mean, sd in zip(means, sds, strict=True):
        # EpiEstim discretises each sample over days 0..T (no renormalisation).
        w = discretised_gamma_si(float(mean), float(sd), max_days=max(n, 1))
        w = w / w.sum() if abs(w.sum() - 1.0) > _SI_SUM_TOLERANCE else w
        runs.append(
            estimate_rt(
                frame,
                w,
                window=window,
                mean_prior=mean_prior,
                std_prior=std_prior,
                t_start=t_start,
                t_end=t_end,
            )
        )
    shapes = np.stack([r["shape"].to_numpy() for r in runs])  # samples x windows
    used = ~np.isnan(shapes)
    # EpiEstim keeps a sample for a window when the window ends after the sample's SI mean.
    used &= runs[0]["t_end"].to_numpy()[None, :] > means[:, None]
    return _mixture(runs, used)


def _mixture(runs: list[pd.DataFrame], used: np.ndarray) -> pd.DataFrame:
    """The equal mixture of each window's gamma posteriors over the runs (where `used`)."""
    shapes = np.stack([r["shape"].to_numpy() for r in runs])  # runs x windows
    scales = np.stack([r["scale"].to_numpy() for r in runs])
    out = runs[0].drop(columns=["shape", "scale"]).copy()
    count = used.sum(axis=0)
    comp_mean = np.where(used, shapes * scales, 0.0)
    comp_second = np.where(used, shapes * scales**2 + (shapes * scales) ** 2, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mix_mean = comp_mean.sum(axis=0) / count
        mix_var = comp_second.sum(axis=0) / count - mix_mean**2
    out["mean"] = np.where(count > 0, mix_mean, np.nan)
    out["std"] = np.where(count > 0, np.sqrt(np.maximum(mix_var, 0.0)), np.nan)
    for q in QUANTILES:
        out[_qname(q)] = _mixture_quantiles(q, shapes, scales, used)
    return out


def _mixture_quantiles(
    q: float, shapes: np.ndarray, scales: np.ndarray, used: np.ndarray
) -> np.ndarray:
    """Per window (column), the q-quantile of the equal mixture of the used gamma components.

    Bisection on all windows at once, between the smallest and largest component quantile
    (the mixture's quantile lies between them), down to floating-point resolution.
    """
    a = np.where(used, shapes, 1.0)
    b = np.where(used, scales, 1.0)
    parts = np.asarray(stats.gamma.ppf(q, a, scale=b), dtype=float)
    lo = np.where(used, parts, np.inf).min(axis=0)
    hi = np.where(used, parts, -np.inf).max(axis=0)
    count = used.sum(axis=0)
    ok = count > 0
    lo, hi = np.where(ok, lo, 0.0), np.where(ok, hi, 0.0)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if np.all((mid <= lo) | (mid >= hi)):
            break
        cdf = np.where(used, stats.gamma.cdf(mid[None, :], a, scale=b), 0.0).sum(axis=0)
        below = cdf < q * count
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    return np.where(ok, 0.5 * (lo + hi), np.nan)


# -- nowcast ------------------------------------------------------------------------------------


def _delay_cdf(pmf: np.ndarray, days: int) -> np.ndarray:
    """F(k) = P(delay <= k) for k = 0..days-1 from a delay pmf (day 0 first)."""
    cdf = np.cumsum(pmf)
    if cdf.size < days:
        cdf = np.concatenate([cdf, np.full(days - cdf.size, cdf[-1])])
    return np.asarray(np.minimum(cdf[:days], 1.0), dtype=float)


def _check_delay(pmf: Sequence[float] | np.ndarray, what: str = "delay") -> np.ndarray:
    p = np.asarray(pmf, dtype=float)
    if p.ndim != 1 or p.size == 0:
        raise AnalyticsError(f"{what}: needs at least day 0")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise AnalyticsError(f"{what}: probabilities must be finite and non-negative")
    if abs(p.sum() - 1.0) > _SI_SUM_TOLERANCE:
        raise AnalyticsError(f"{what}: must sum to 1 (sums to {p.sum():.6g})")
    return np.asarray(p / p.sum(), dtype=float)


def nowcast_samples(
    incidence: pd.DataFrame | Sequence[float] | np.ndarray,
    delay_pmf: Sequence[float] | np.ndarray,
    *,
    delay_samples: Sequence[Sequence[float] | np.ndarray] | None = None,
    samples: int = 1000,
    seed: int = 0,
) -> np.ndarray:
    """Draws of the complete daily counts, given the counts reported so far.

    The last day of `incidence` is "now". A case of day t (k = now - t days ago) has been
    reported with probability F(k), the delay's distribution function. The counts still
    missing are negative binomial: ``N_t`` reported of a total ``M_t`` gives
    ``M_t - N_t ~ NegBin(N_t, F(k))`` (the posterior under the scale-invariant prior
    ``1/M``), whose mean makes ``E[M_t] = N_t / F(k)``. With `delay_samples` (e.g. pmfs from
    `epicity.analytics.serial`'s bootstrap) each draw uses one at random, so the delay's
    uncertainty is carried too.

    Returns:
        Array of shape ``(samples, days)``.
    """
    local, imp, _ = _incidence_arrays(incidence, None)
    local = local + imp  # every reported case, day 1's included
    pmf = _check_delay(delay_pmf)
    pmfs = [pmf] if not delay_samples else [_check_delay(d) for d in delay_samples]
    if samples < 1:
        raise AnalyticsError(f"samples: must be at least 1 (got {samples})")
    n = local.size
    # F(now - t) for each day t: the last day has had k = 0 days.
    cdfs = np.stack([_delay_cdf(p, n)[::-1] for p in pmfs])
    if np.any(cdfs[:, -1] <= 0):
        raise AnalyticsError("delay: probability 0 of reporting on the same day; cannot nowcast")
    rng = np.random.default_rng(seed)
    which = rng.integers(0, len(pmfs), size=samples)
    share = cdfs[which]  # samples x days
    observed = np.rint(local).astype(np.int64)
    missing = np.zeros((samples, n))
    positive = observed > 0
    if positive.any():
        p = np.clip(share[:, positive], 1e-12, 1.0)
        missing[:, positive] = rng.negative_binomial(
            np.broadcast_to(observed[positive], p.shape), p
        )
    return np.asarray(observed[None, :] + missing, dtype=float)


def nowcast_incidence(
    incidence: pd.DataFrame | Sequence[float] | np.ndarray,
    delay_pmf: Sequence[float] | np.ndarray,
    *,
    delay_samples: Sequence[Sequence[float] | np.ndarray] | None = None,
    samples: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """The daily counts corrected for cases not yet reported, with a 95% interval.

    Args:
        incidence: counts so far by the day of the event the delay runs from (usually
            symptom onset), last day = now; a DataFrame with ``date``/``cases`` or a sequence.
        delay_pmf: probability of each reporting delay in days, day 0 first (e.g.
            `epicity.analytics.serial.censored_pmf` of the onset-to-confirmation fit).
        delay_samples: alternative delay pmfs drawn from the delay's uncertainty.
        samples: draws for the interval.
        seed: random seed.

    Returns:
        Columns (``date``,) ``cases`` (reported so far), ``reported`` (the expected share
        reported by now, F(k)), ``nowcast`` (``cases / reported``), ``q0.025``, ``q0.5``,
        ``q0.975`` (from the draws).

    Example:
        >>> now = nowcast_incidence([10, 10, 10, 6, 3], [0.5, 0.3, 0.2], samples=200)
        >>> now["nowcast"].round(1).tolist()
        [10.0, 10.0, 10.0, 7.5, 6.0]
    """
    local, imp, dates = _incidence_arrays(incidence, None)
    local = local + imp  # every reported case, day 1's included
    pmf = _check_delay(delay_pmf)
    draws = nowcast_samples(incidence, pmf, delay_samples=delay_samples, samples=samples, seed=seed)
    share = _delay_cdf(pmf, local.size)[::-1]
    out = pd.DataFrame()
    if dates is not None:
        out["date"] = dates.to_numpy()
    out["cases"] = np.rint(local).astype(np.int64)
    out["reported"] = share
    out["nowcast"] = out["cases"] / share
    for q in (0.025, 0.5, 0.975):
        out[_qname(q)] = np.quantile(draws, q, axis=0)
    return out


def estimate_rt_nowcast(
    incidence: pd.DataFrame | Sequence[float] | np.ndarray,
    si_distr: Sequence[float] | np.ndarray,
    delay_pmf: Sequence[float] | np.ndarray,
    *,
    window: int = 7,
    mean_prior: float = 5.0,
    std_prior: float = 5.0,
    delay_samples: Sequence[Sequence[float] | np.ndarray] | None = None,
    samples: int = 200,
    min_reported: float = 0.2,
    seed: int = 0,
) -> pd.DataFrame:
    """Rt on nowcast incidence: the posterior mixed over draws of the complete counts.

    Each draw of `nowcast_samples` gives a gamma posterior per window; the result is their
    equal mixture (as `estimate_rt_si_samples`), so the uncertainty of the cases still to
    come widens the last windows' intervals. Days with less than `min_reported` of their
    cases expected by now are too uncertain to estimate from and are dropped from the end
    first (the output's last window ends on the last day kept).

    Args:
        incidence: as `nowcast_incidence`.
        si_distr: as `estimate_rt`.
        delay_pmf: as `nowcast_incidence`.
        window: as `estimate_rt`.
        mean_prior: as `estimate_rt`.
        std_prior: as `estimate_rt`.
        delay_samples: as `nowcast_incidence`.
        samples: nowcast draws.
        min_reported: smallest expected reported share of a day kept (0..1).
        seed: random seed.

    Returns:
        `estimate_rt`'s columns without ``shape`` and ``scale``.

    Example:
        >>> inc = [2, 3, 5, 8, 12, 18, 26, 38, 50, 60, 55, 40]
        >>> r = estimate_rt_nowcast(inc, discretised_gamma_si(4.0, 2.0), [0.3, 0.4, 0.3])
        >>> int(r["t_end"].iloc[-1])
        12
    """
    if not 0.0 <= min_reported < 1.0:
        raise AnalyticsError(f"min_reported: must be in [0, 1) (got {min_reported})")
    local, imp, dates = _incidence_arrays(incidence, None)
    local = local + imp  # estimate_rt counts day 1's cases as imported again
    pmf = _check_delay(delay_pmf)
    share = _delay_cdf(pmf, local.size)[::-1]
    keep = (
        int(np.flatnonzero(share >= min_reported)[-1]) + 1 if (share >= min_reported).any() else 0
    )
    frame = pd.DataFrame({"cases": local[:keep]})
    if dates is not None:
        frame.insert(0, "date", dates.to_numpy()[:keep])
    if keep < window + 1:
        raise NotEnoughData(
            f"cases: {keep} days with at least {min_reported:.0%} reported, too short for a "
            f"{window}-day window after the first day"
        )
    full = pd.DataFrame({"cases": local})
    draws = nowcast_samples(full, pmf, delay_samples=delay_samples, samples=samples, seed=seed)[
        :, :keep
    ]
    runs = []
    for draw in draws:
        frame["cases"] = draw
        runs.append(
            estimate_rt(frame, si_distr, window=window, mean_prior=mean_prior, std_prior=std_prior)
        )
    used = ~np.isnan(np.stack([r["shape"].to_numpy() for r in runs]))
    return _mixture(runs, used)
