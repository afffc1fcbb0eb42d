"""Serial interval and onset-to-confirmation delay, by maximum likelihood with uncertainty.

Serial interval
---------------
A transmission pair is a case with a recorded infector (DS4C's ``infected_by``, epicity's
transmission links; `transmission_pairs`) where both have a symptom onset date. Its serial
interval is the infectee's onset minus the infector's. Pairs whose two cases name each other
(direction unknown) are left out.

Onsets are known to the day, so an observed difference of ``d`` days is a true interval
``x`` in ``(d - 1, d + 1)``: with each onset uniform within its day, ``x - d`` has a
triangular density, and ``P(d) = G(d+1) - 2 G(d) + G(d-1)`` with ``G`` the integral of the
distribution function (the same double interval-censoring EpiEstim's `discr_si` applies).
The default family is the **normal**, because serial intervals of COVID-19 are negative when
the infectee shows symptoms first (pre-symptomatic transmission: Du et al. 2020, Emerg Infect
Dis 26(6), found 12.6% negative among 468 Chinese pairs; DS4C has 7 of 82). A gamma (positive
only) is fitted for comparison on the pairs it can explain (``d >= 0``). For the Cori method,
which needs a positive serial interval, the normal's mean and sd are discretised as a gamma
(`epicity.analytics.rt.discretised_gamma_si`), as is common practice.

Delay
-----
Onset-to-confirmation delay ``confirmed_date - symptom_onset`` (negative values are data
errors and are dropped, and counted): a gamma with the same double censoring, a negative
binomial on the whole days, and the empirical probability of each day.

Uncertainty
-----------
Nonparametric bootstrap: the pairs (delays) are resampled with replacement and refitted;
95% intervals are the 2.5% and 97.5% percentiles of the replicates (``seed`` fixes them).
The replicates' (mean, sd) can be passed to `epicity.analytics.rt.estimate_rt_si_samples`
to carry the SI's uncertainty into Rt.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from scipy import optimize, special

from epicity.analytics.errors import AnalyticsError, NotEnoughData

__all__ = [
    "DelayEstimate",
    "DistributionFit",
    "SerialEstimate",
    "censored_pmf",
    "empirical_pmf",
    "estimate_serial_and_delay",
    "fit_delay",
    "fit_serial_interval",
    "onset_to_confirmation",
    "transmission_pairs",
]

Family = Literal["normal", "gamma", "negbin"]

#: Fewest observations a fit accepts.
MIN_OBSERVATIONS = 5


@dataclass(frozen=True)
class DistributionFit:
    """A fitted distribution of whole-day intervals, with bootstrap uncertainty.

    ``mean``/``sd`` are the fitted distribution's (days); ``*_ci`` their 95% percentile
    bootstrap intervals; ``samples`` the bootstrap replicates' ``mean`` and ``sd`` columns.
    """

    family: str
    n: int
    mean: float
    sd: float
    mean_ci: tuple[float, float]
    sd_ci: tuple[float, float]
    log_likelihood: float
    samples: pd.DataFrame = field(repr=False)

    @property
    def aic(self) -> float:
        """Akaike information criterion (both families have two parameters)."""
        return 4.0 - 2.0 * self.log_likelihood

    def summary(self) -> dict[str, float | int | str]:
        """A flat row for tables: family, n, mean, its CI, sd, its CI, log-likelihood, AIC."""
        return {
            "family": self.family,
            "n": self.n,
            "mean": self.mean,
            "mean_lo": self.mean_ci[0],
            "mean_hi": self.mean_ci[1],
            "sd": self.sd,
            "sd_lo": self.sd_ci[0],
            "sd_hi": self.sd_ci[1],
            "log_likelihood": self.log_likelihood,
            "aic": self.aic,
        }


@dataclass(frozen=True)
class SerialEstimate:
    """The serial interval: the pairs' observed days, the normal fit and the gamma fit."""

    intervals: np.ndarray = field(repr=False)
    dropped_mutual: int
    normal: DistributionFit
    gamma: DistributionFit | None


@dataclass(frozen=True)
class DelayEstimate:
    """Onset-to-confirmation delay: gamma and negative binomial fits and the empirical pmf."""

    delays: np.ndarray = field(repr=False)
    dropped_negative: int
    gamma: DistributionFit
    negbin: DistributionFit
    pmf: pd.DataFrame


# -- data ---------------------------------------------------------------------------------------


def transmission_pairs(cases: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Infector-infectee pairs with both onsets, from a case frame (`epicity.analytics.data`).

    Args:
        cases: with ``case_id``, ``infector_case_id`` and ``symptom_onset``.

    Returns:
        (pairs, mutual): pairs with ``infector_onset``, ``infectee_onset`` and
        ``serial_interval`` (whole days; no case ids), and how many pairs were left out
        because the two cases name each other.

    Example:
        >>> cases = pd.DataFrame({"case_id": [1, 2], "infector_case_id": [None, 1],
        ...     "symptom_onset": pd.to_datetime(["2020-03-01", "2020-03-05"])})
        >>> transmission_pairs(cases)[0]["serial_interval"].tolist()
        [4]
    """
    missing = [
        c for c in ("case_id", "infector_case_id", "symptom_onset") if c not in cases.columns
    ]
    if missing:
        raise AnalyticsError(f"cases: missing column(s) {', '.join(missing)}")
    onset = pd.to_datetime(cases["symptom_onset"], errors="coerce").dt.normalize()
    frame = pd.DataFrame(
        {
            "case_id": cases["case_id"].to_numpy(),
            "infector": pd.array(cases["infector_case_id"], dtype="Int64"),
            "onset": onset.to_numpy(),
        }
    ).drop_duplicates("case_id")
    linked = frame[frame["infector"].notna()]
    edges = set(zip(linked["infector"].astype("int64"), linked["case_id"], strict=True))
    mutual = {(a, b) for a, b in edges if (b, a) in edges}
    keep = [
        (int(a), int(b)) not in mutual
        for a, b in zip(linked["infector"], linked["case_id"], strict=True)
    ]
    linked = linked[keep]
    onsets = frame.set_index("case_id")["onset"]
    infector_onset = onsets.reindex(linked["infector"].astype("int64").to_numpy()).to_numpy()
    pairs = pd.DataFrame(
        {"infector_onset": infector_onset, "infectee_onset": linked["onset"].to_numpy()}
    ).dropna()
    pairs["serial_interval"] = (pairs["infectee_onset"] - pairs["infector_onset"]).dt.days
    pairs["serial_interval"] = pairs["serial_interval"].astype("int64")
    return pairs.reset_index(drop=True), len(mutual)


def onset_to_confirmation(cases: pd.DataFrame) -> tuple[np.ndarray, int]:
    """Whole-day delays from symptom onset to confirmation, and how many were negative.

    Cases missing either date are skipped; negative delays (confirmed before onset: data
    errors or asymptomatic-at-test cases) are dropped and counted.
    """
    for column in ("symptom_onset", "confirmed_date"):
        if column not in cases.columns:
            raise AnalyticsError(f"cases: missing column {column}")
    onset = pd.to_datetime(cases["symptom_onset"], errors="coerce").dt.normalize()
    confirmed = pd.to_datetime(cases["confirmed_date"], errors="coerce").dt.normalize()
    days = (confirmed - onset).dt.days.dropna().to_numpy(dtype=np.int64)
    return days[days >= 0], int((days < 0).sum())


# -- distributions of whole-day intervals -------------------------------------------------------


def _integrated_cdf(x: np.ndarray, family: str, p1: float, p2: float) -> np.ndarray:
    """G(x) = integral of the distribution function up to x."""
    if family == "normal":
        mu, sigma = p1, p2
        z = (x - mu) / sigma
        # scipy.stats' per-call overhead dominates the bootstrap; the ufuncs are direct
        density = np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi)
        return np.asarray((x - mu) * special.ndtr(z) + sigma * density, dtype=float)
    shape, scale = p1, p2
    xp = np.maximum(x, 0.0)
    g = xp * special.gammainc(shape, xp / scale) - shape * scale * special.gammainc(
        shape + 1, xp / scale
    )
    return np.asarray(g, dtype=float)


def censored_pmf(
    days: np.ndarray | list[int], family: Literal["normal", "gamma"], mean: float, sd: float
) -> np.ndarray:
    """P(observed whole-day difference = d) for a continuous interval with daily dates.

    Both ends known to the day: ``P(d) = G(d+1) - 2 G(d) + G(d-1)``, ``G`` the integrated
    distribution function (a triangular kernel over ``[d-1, d+1]``).

    Example:
        >>> p = censored_pmf(np.arange(-20, 40), "normal", 4.0, 3.0)
        >>> round(float(p.sum()), 6)
        1.0
    """
    d = np.asarray(days, dtype=float)
    if sd <= 0 or not np.isfinite(sd) or not np.isfinite(mean):
        raise AnalyticsError(f"sd: must be positive (got {sd})")
    if family == "normal":
        p1, p2 = mean, sd
    elif family == "gamma":
        if mean <= 0:
            raise AnalyticsError(f"mean: a gamma needs a positive mean (got {mean})")
        p1, p2 = (mean / sd) ** 2, sd**2 / mean
    else:
        raise AnalyticsError(f"family: unknown {family!r}")
    g = _integrated_cdf
    pmf = g(d + 1, family, p1, p2) - 2 * g(d, family, p1, p2) + g(d - 1, family, p1, p2)
    return np.asarray(np.maximum(pmf, 0.0), dtype=float)


def _negbin_pmf(days: np.ndarray, mean: float, sd: float) -> np.ndarray:
    """Negative binomial on whole days with this mean and sd (sd^2 > mean)."""
    size = mean**2 / (sd**2 - mean)
    log_pmf = (
        special.gammaln(days + size)
        - special.gammaln(size)
        - special.gammaln(days + 1)
        + size * np.log(size / (size + mean))
        + days * np.log(mean / (size + mean))
    )
    return np.asarray(np.exp(log_pmf), dtype=float)


def _loglik(values: np.ndarray, counts: np.ndarray, family: str, mean: float, sd: float) -> float:
    if family == "negbin":
        if sd**2 <= mean:
            return -np.inf
        p = _negbin_pmf(values, mean, sd)
    else:
        p = censored_pmf(values, family, mean, sd)  # type: ignore[arg-type]
    if np.any((p <= 0) & (counts > 0)):
        return -np.inf
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.sum(np.where(counts > 0, counts * np.log(p), 0.0)))


def _mle(
    values: np.ndarray, counts: np.ndarray, family: str, start: tuple[float, float]
) -> tuple[float, float, float]:
    """(mean, sd, log-likelihood) maximising the likelihood of the counted whole days."""

    def unpack(theta: np.ndarray) -> tuple[float, float]:
        if family == "normal":
            return float(theta[0]), float(np.exp(theta[1]))
        if family == "negbin":  # sd^2 = mean + mean^2 / size: over-dispersed by construction
            mean = float(np.exp(theta[0]))
            return mean, float(np.sqrt(mean + mean**2 * np.exp(-theta[1])))
        return float(np.exp(theta[0])), float(np.exp(theta[1]))

    def objective(theta: np.ndarray) -> float:
        mean, sd = unpack(theta)
        ll = _loglik(values, counts, family, mean, sd)
        return -ll if np.isfinite(ll) else 1e300

    m0, s0 = start
    if family == "normal":
        theta0 = np.array([m0, np.log(s0)])
    elif family == "negbin":
        theta0 = np.array([np.log(m0), np.log(max(m0**2 / max(s0**2 - m0, 1e-3), 1e-3))])
    else:
        theta0 = np.array([np.log(m0), np.log(s0)])
    result = optimize.minimize(
        objective, theta0, method="Nelder-Mead", options={"xatol": 1e-7, "fatol": 1e-9}
    )
    mean, sd = unpack(result.x)
    return mean, sd, -float(result.fun)


Progress = Callable[[str, int, int], None]


def _fit(
    observed: np.ndarray,
    family: Family,
    *,
    bootstrap: int,
    seed: int,
    progress: Progress | None = None,
    label: str = "",
) -> DistributionFit:
    if observed.size < MIN_OBSERVATIONS:
        raise NotEnoughData(
            f"intervals: {observed.size} observations, a fit needs at least {MIN_OBSERVATIONS}"
        )
    if bootstrap < 0:
        raise AnalyticsError(f"bootstrap: must not be negative (got {bootstrap})")
    values, counts = np.unique(observed, return_counts=True)
    values = values.astype(float)
    raw_mean = float(observed.mean())
    raw_sd = float(max(observed.std(ddof=1), 0.5))
    if family in ("gamma", "negbin"):
        raw_mean = max(raw_mean, 0.5)
        if family == "negbin":
            raw_sd = max(raw_sd, np.sqrt(raw_mean) * 1.1)
    mean, sd, ll = _mle(values, counts.astype(float), family, (raw_mean, raw_sd))
    # resample the observations: multinomial counts over the distinct values
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(observed.size, counts / counts.sum(), size=bootstrap)
    reps = np.empty((bootstrap, 2))
    for i, row in enumerate(draws):
        reps[i] = _mle(values, row.astype(float), family, (mean, sd))[:2]
        if progress is not None and (i + 1) % 10 == 0:
            progress(label or family, i + 1, bootstrap)
    samples = pd.DataFrame(reps, columns=["mean", "sd"])

    def ci(column: str) -> tuple[float, float]:
        if samples.empty:
            return (float("nan"), float("nan"))
        lo, hi = np.percentile(samples[column], [2.5, 97.5])
        return (float(lo), float(hi))

    return DistributionFit(
        family=family,
        n=int(observed.size),
        mean=mean,
        sd=sd,
        mean_ci=ci("mean"),
        sd_ci=ci("sd"),
        log_likelihood=ll,
        samples=samples,
    )


def _whole_days(intervals: np.ndarray | pd.Series | list[int], what: str) -> np.ndarray:
    values = np.asarray(intervals, dtype=float)
    if values.ndim != 1:
        raise AnalyticsError(f"{what}: must be one-dimensional")
    if not np.all(np.isfinite(values)):
        raise AnalyticsError(f"{what}: contains missing or non-finite values")
    if np.any(values != np.round(values)):
        raise AnalyticsError(f"{what}: must be whole days")
    return values.astype(np.int64)


def fit_serial_interval(
    intervals: np.ndarray | pd.Series | list[int],
    *,
    family: Literal["normal", "gamma"] = "normal",
    bootstrap: int = 500,
    seed: int = 0,
    progress: Progress | None = None,
) -> DistributionFit:
    """Fit the serial interval to whole-day differences of onset dates.

    Args:
        intervals: infectee onset minus infector onset, in days (may be negative).
        family: ``"normal"`` (allows negative intervals; the default) or ``"gamma"`` (uses
            only the intervals >= 0).
        bootstrap: bootstrap replicates for the 95% intervals.
        seed: the bootstrap's random seed.

    Returns:
        The fit (mean, sd, 95% CIs, log-likelihood, bootstrap samples).

    Raises:
        AnalyticsError: non-integer or missing values.
        NotEnoughData: fewer than `MIN_OBSERVATIONS` usable intervals.

    Example:
        >>> fit = fit_serial_interval([2, 3, 5, -1, 4, 6, 3, 0, 7, 4], bootstrap=50)
        >>> fit.family, round(fit.mean, 1)
        ('normal', 3.3)
    """
    values = _whole_days(intervals, "intervals")
    if family == "gamma":
        values = values[values >= 0]
    elif family != "normal":
        raise AnalyticsError(f"family: must be 'normal' or 'gamma' (got {family!r})")
    return _fit(
        values, family, bootstrap=bootstrap, seed=seed, progress=progress, label=f"SI {family}"
    )


def fit_delay(
    delays: np.ndarray | pd.Series | list[int],
    *,
    family: Literal["gamma", "negbin"] = "gamma",
    bootstrap: int = 500,
    seed: int = 0,
    progress: Progress | None = None,
) -> DistributionFit:
    """Fit a reporting delay (e.g. onset to confirmation) to whole-day, non-negative delays.

    ``"gamma"`` treats both dates as known to the day (`censored_pmf`); ``"negbin"`` models
    the whole days directly.

    Example:
        >>> fit = fit_delay([1, 2, 2, 3, 0, 5, 4, 2, 8, 3], family="negbin", bootstrap=50)
        >>> round(fit.mean, 1)
        3.0
    """
    values = _whole_days(delays, "delays")
    if np.any(values < 0):
        raise AnalyticsError(f"delays: negative delay {int(values[values < 0][0])}")
    if family not in ("gamma", "negbin"):
        raise AnalyticsError(f"family: must be 'gamma' or 'negbin' (got {family!r})")
    return _fit(
        values, family, bootstrap=bootstrap, seed=seed, progress=progress, label=f"delay {family}"
    )


def empirical_pmf(
    delays: np.ndarray | pd.Series | list[int], *, bootstrap: int = 500, seed: int = 0
) -> pd.DataFrame:
    """The observed share of each whole day, with 95% bootstrap intervals.

    Returns:
        Columns ``day`` (0..max), ``count``, ``pmf``, ``lo``, ``hi``, ``cdf``.

    Example:
        >>> empirical_pmf([0, 1, 1, 3], bootstrap=20)["pmf"].tolist()
        [0.25, 0.5, 0.0, 0.25]
    """
    values = _whole_days(delays, "delays")
    if values.size == 0:
        raise NotEnoughData("delays: none")
    if np.any(values < 0):
        raise AnalyticsError(f"delays: negative delay {int(values[values < 0][0])}")
    counts = np.bincount(values)
    pmf = counts / counts.sum()
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(values.size, pmf, size=max(bootstrap, 1)) / values.size
    lo, hi = np.percentile(draws, [2.5, 97.5], axis=0)
    return pd.DataFrame(
        {
            "day": np.arange(counts.size),
            "count": counts,
            "pmf": pmf,
            "lo": lo,
            "hi": hi,
            "cdf": np.cumsum(pmf),
        }
    )


def estimate_serial_and_delay(
    cases: pd.DataFrame,
    *,
    bootstrap: int = 500,
    seed: int = 0,
    progress: Progress | None = None,
) -> tuple[SerialEstimate, DelayEstimate]:
    """Serial interval and onset-to-confirmation delay from a case frame.

    Args:
        cases: `epicity.analytics.data.cases_frame` (the database) or
            `epicity.analytics.data.ds4c_cases_frame` (DS4C's PatientInfo.csv).
        bootstrap: replicates for the 95% intervals.
        seed: the bootstrap's seed.
        progress: called as ``progress(label, done, total)`` during the bootstraps.

    Returns:
        (serial interval estimate, delay estimate). The gamma serial-interval fit is None
        when fewer than `MIN_OBSERVATIONS` intervals are >= 0.

    Raises:
        NotEnoughData: fewer than `MIN_OBSERVATIONS` pairs or delays.

    Example:
        >>> from epicity.analytics.data import ds4c_cases_frame
        >>> cases = ds4c_cases_frame("PatientInfo.csv")  # doctest: +SKIP
        >>> si, delay = estimate_serial_and_delay(cases)  # doctest: +SKIP
        >>> si.normal.mean, si.normal.mean_ci  # doctest: +SKIP
    """
    pairs, mutual = transmission_pairs(cases)
    intervals = pairs["serial_interval"].to_numpy()
    if intervals.size < MIN_OBSERVATIONS:
        raise NotEnoughData(
            f"serial_interval: {intervals.size} infector-infectee pairs with both onsets, "
            f"need at least {MIN_OBSERVATIONS}"
        )
    normal = fit_serial_interval(intervals, bootstrap=bootstrap, seed=seed, progress=progress)
    gamma = (
        fit_serial_interval(
            intervals, family="gamma", bootstrap=bootstrap, seed=seed, progress=progress
        )
        if (intervals >= 0).sum() >= MIN_OBSERVATIONS
        else None
    )
    delays, negative = onset_to_confirmation(cases)
    if delays.size < MIN_OBSERVATIONS:
        raise NotEnoughData(
            f"delay: {delays.size} cases with onset and confirmation dates, "
            f"need at least {MIN_OBSERVATIONS}"
        )
    delay = DelayEstimate(
        delays=delays,
        dropped_negative=negative,
        gamma=fit_delay(delays, bootstrap=bootstrap, seed=seed, progress=progress),
        negbin=fit_delay(
            delays, family="negbin", bootstrap=bootstrap, seed=seed, progress=progress
        ),
        pmf=empirical_pmf(delays, bootstrap=bootstrap, seed=seed),
    )
    return SerialEstimate(intervals, mutual, normal, gamma), delay
