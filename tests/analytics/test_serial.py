"""Serial interval and delays: recovery of known distributions, pairs, the DB and DS4C."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy.orm import Session

from epicity.analytics.data import cases_frame, ds4c_cases_frame
from epicity.analytics.errors import AnalyticsError, NotEnoughData
from epicity.analytics.serial import (
    censored_pmf,
    empirical_pmf,
    estimate_serial_and_delay,
    fit_delay,
    fit_serial_interval,
    transmission_pairs,
)
from epicity.cases.service import add_link, create_case


def _daily_difference(true_intervals: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Whole-day differences of two dates when each event falls anywhere in its day."""
    first = rng.uniform(0, 1, size=true_intervals.size) + 100.0
    second = first + true_intervals
    return (np.floor(second) - np.floor(first)).astype(np.int64)


def test_censored_pmf_is_a_distribution_with_the_right_mean() -> None:
    days = np.arange(-30, 120)
    for family, mean, sd in (("normal", 3.9, 3.8), ("gamma", 4.7, 4.4)):
        p = censored_pmf(days, family, mean, sd)  # type: ignore[arg-type]
        assert p.sum() == pytest.approx(1.0, abs=1e-9)
        # the triangular kernel has mean 0: the whole-day mean equals the continuous one
        assert float(np.dot(days, p)) == pytest.approx(mean, abs=1e-6)
    assert censored_pmf([-1, -5], "gamma", 4.0, 2.0).tolist() == [0.0, 0.0]


def test_normal_fit_recovers_a_known_serial_interval_with_negative_values() -> None:
    rng = np.random.default_rng(7)
    observed = _daily_difference(rng.normal(4.0, 3.0, size=2000), rng)
    assert (observed < 0).sum() > 50
    fit = fit_serial_interval(observed, bootstrap=100, seed=1)
    assert fit.family == "normal"
    assert fit.n == 2000
    assert fit.mean == pytest.approx(4.0, abs=0.2)
    assert fit.sd == pytest.approx(3.0, abs=0.15)
    assert fit.mean_ci[0] < 4.0 < fit.mean_ci[1]
    assert fit.sd_ci[0] < 3.0 < fit.sd_ci[1]
    assert fit.sd_ci[1] - fit.sd_ci[0] < 0.5
    # the naive sd of whole-day differences is inflated by the rounding; the fit removes it
    assert observed.std() > fit.sd


def test_gamma_delay_and_negative_binomial_recover_a_known_delay() -> None:
    rng = np.random.default_rng(3)
    observed = _daily_difference(rng.gamma(2.0, 2.5, size=3000), rng)  # mean 5, sd 3.54
    gamma = fit_delay(observed, bootstrap=50, seed=2)
    assert gamma.mean == pytest.approx(5.0, abs=0.2)
    assert gamma.sd == pytest.approx(np.sqrt(2.0) * 2.5, abs=0.2)
    negbin = fit_delay(observed, family="negbin", bootstrap=50, seed=2)
    assert negbin.mean == pytest.approx(observed.mean(), abs=0.02)  # NB's ML mean is the mean
    assert gamma.log_likelihood > negbin.log_likelihood  # the true model fits better
    pmf = empirical_pmf(observed, bootstrap=100)
    assert pmf["pmf"].sum() == pytest.approx(1.0)
    assert (pmf["lo"] <= pmf["pmf"]).all()
    assert (pmf["pmf"] <= pmf["hi"]).all()
    assert pmf["cdf"].iloc[-1] == pytest.approx(1.0)


def test_bootstrap_is_fixed_by_the_seed() -> None:
    data = [2, 3, 5, -1, 4, 6, 3, 0, 7, 4, 5, 2]
    a = fit_serial_interval(data, bootstrap=30, seed=5)
    b = fit_serial_interval(data, bootstrap=30, seed=5)
    c = fit_serial_interval(data, bootstrap=30, seed=6)
    pd.testing.assert_frame_equal(a.samples, b.samples)
    assert a.mean_ci != c.mean_ci


def test_fit_errors() -> None:
    with pytest.raises(NotEnoughData, match="intervals: 3 observations"):
        fit_serial_interval([1, 2, 3])
    with pytest.raises(AnalyticsError, match="intervals: must be whole days"):
        fit_serial_interval([1.5, 2, 3, 4, 5])
    with pytest.raises(AnalyticsError, match="intervals: contains missing"):
        fit_serial_interval([1, 2, float("nan"), 4, 5])
    with pytest.raises(AnalyticsError, match="delays: negative delay -2"):
        fit_delay([1, 2, -2, 4, 5])
    with pytest.raises(AnalyticsError, match="family: must be 'normal' or 'gamma'"):
        fit_serial_interval([1, 2, 3, 4, 5], family="weibull")  # type: ignore[arg-type]


def test_transmission_pairs_drop_mutual_links_and_missing_onsets() -> None:
    onset = pd.to_datetime(
        ["2020-03-01", "2020-03-04", "2020-03-02", "2020-03-03", None, "2020-03-09"]
    )
    cases = pd.DataFrame(
        {
            "case_id": [1, 2, 3, 4, 5, 6],
            "infector_case_id": pd.array([None, 1, 4, 3, 1, 99], dtype="Int64"),
            "symptom_onset": onset,
        }
    )
    pairs, mutual = transmission_pairs(cases)
    # 1->2 kept; 3<->4 name each other (dropped); 5 has no onset; 99 is not a case
    assert pairs["serial_interval"].tolist() == [3]
    assert mutual == 2
    assert "case_id" not in pairs.columns


def _case(session: Session, onset: dt.date, confirmed: dt.date) -> int:
    case = create_case(
        session, actor="kim", status="confirmed", symptom_onset=onset, confirmed_date=confirmed
    )
    return case.id


def test_estimate_from_the_database(session: Session) -> None:
    day = dt.date(2020, 3, 1)
    rng = np.random.default_rng(11)
    root = _case(session, day, day + dt.timedelta(days=2))
    for i in range(12):
        si = int(rng.integers(-1, 8))
        onset = day + dt.timedelta(days=si)
        child = _case(session, onset, onset + dt.timedelta(days=int(rng.integers(0, 6)) + i % 2))
        add_link(session, infector_id=root, infectee_id=child, evidence="contact", actor="kim")
    cases = cases_frame(session)
    si, delay = estimate_serial_and_delay(cases, bootstrap=20)
    pairs, _ = transmission_pairs(cases)
    assert si.normal.n == 12
    assert si.normal.mean == pytest.approx(pairs["serial_interval"].mean(), abs=0.05)
    assert delay.gamma.n == 13
    assert delay.pmf["count"].sum() == 13


def test_too_few_pairs() -> None:
    cases = pd.DataFrame(
        {
            "case_id": [1, 2],
            "infector_case_id": pd.array([None, 1], dtype="Int64"),
            "symptom_onset": pd.to_datetime(["2020-03-01", "2020-03-03"]),
            "confirmed_date": pd.to_datetime(["2020-03-02", "2020-03-05"]),
        }
    )
    with pytest.raises(NotEnoughData, match="serial_interval: 1 infector-infectee pairs"):
        estimate_serial_and_delay(cases)


@pytest.mark.realdata
def test_ds4c_serial_interval_and_delay(real_data: Path) -> None:
    """Regression figures for docs/analytics.md (bootstrap 40 here, 500 in the docs)."""
    cases = ds4c_cases_frame(real_data / "ds4c" / "PatientInfo.csv")
    si, delay = estimate_serial_and_delay(cases, bootstrap=40, seed=0)
    assert si.intervals.size == 79
    assert si.dropped_mutual == 14  # 7 pairs of cases naming each other
    assert (si.intervals < 0).sum() == 7
    assert si.normal.mean == pytest.approx(3.886, abs=0.005)
    assert si.normal.sd == pytest.approx(3.783, abs=0.005)
    assert si.normal.mean_ci[0] < si.normal.mean < si.normal.mean_ci[1]
    assert si.gamma is not None
    assert si.gamma.n == 72
    assert si.gamma.mean == pytest.approx(4.537, abs=0.005)
    assert delay.delays.size == 530
    assert delay.dropped_negative == 3
    assert delay.gamma.mean == pytest.approx(4.686, abs=0.005)
    assert delay.negbin.mean == pytest.approx(4.700, abs=0.005)
    assert delay.pmf["count"].iloc[:3].tolist() == [21, 108, 89]
