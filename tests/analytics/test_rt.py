"""Rt by the Cori method: EpiEstim's published outputs, errors, invariants and the nowcast."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from tests.web.conftest import LiveService, live  # noqa: F401  (the live service fixture)
from typer.testing import CliRunner

from epicity.analytics.data import read_incidence_csv
from epicity.analytics.errors import AnalyticsError, NotEnoughData
from epicity.analytics.rt import (
    EPIESTIM_COLUMNS,
    QUANTILES,
    discretised_gamma_si,
    estimate_rt,
    estimate_rt_nowcast,
    estimate_rt_si_samples,
    nowcast_incidence,
)
from epicity.cli import app as cli_app

SI = discretised_gamma_si(4.0, 2.0)


def _example(root: Path, n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    folder = root / "epiestim"
    inc = pd.read_csv(folder / f"expected_Example{n}_incidence.csv")
    expected = pd.read_csv(folder / f"expected_Example{n}_R.csv")
    incidence = pd.DataFrame({"local": inc["I_local"], "imported": inc["I_imported"]})
    if n != 2:  # Example 2's dates are day numbers
        incidence["date"] = pd.to_datetime(inc["date"])
    return incidence, expected


def _max_differences(ours: pd.DataFrame, expected: pd.DataFrame) -> dict[str, float]:
    return {
        theirs: float(np.max(np.abs(ours[mine].to_numpy() - expected[theirs].to_numpy())))
        for mine, theirs in EPIESTIM_COLUMNS.items()
    }


# -- EpiEstim's published outputs ---------------------------------------------------------------


@pytest.mark.realdata
@pytest.mark.parametrize("n", [1, 2, 3])
def test_reproduces_epiestim_examples_1_to_3(real_data: Path, n: int) -> None:
    """Example 1 non-parametric SI; 2 local + imported; 3 parametric SI (mean 2.6, sd 1.5)."""
    incidence, expected = _example(real_data, n)
    si_file = pd.read_csv(real_data / "epiestim" / f"expected_Example{n}_si_distr.csv")
    if n == 1:
        si = si_file["si_distr"].to_numpy()
    else:
        # ours, not the file's: the file is only checked against it
        si = discretised_gamma_si(2.6, 1.5)
        file_si = si_file["si_distr"].to_numpy()
        assert np.max(np.abs(si[: file_si.size - 1] - file_si[:-1])) < 1e-12
    ours = estimate_rt(incidence, si, t_start=expected["t_start"], t_end=expected["t_end"])
    assert len(ours) == len(expected)
    differences = _max_differences(ours, expected)
    assert max(differences.values()) < 1e-6, differences
    if "date" in incidence.columns:
        assert (ours["date_start"].dt.strftime("%Y-%m-%d") == expected["date_start"]).all()
        assert (ours["date_end"].dt.strftime("%Y-%m-%d") == expected["date_end"]).all()


@pytest.mark.realdata
def test_default_windows_are_epiestims(real_data: Path) -> None:
    """Without t_start/t_end, weekly windows 2..T-6 are EpiEstim's default (Example 1's)."""
    incidence, expected = _example(real_data, 1)
    si = pd.read_csv(real_data / "epiestim" / "expected_Example1_si_distr.csv")["si_distr"]
    ours = estimate_rt(incidence, si.to_numpy(), window=7)
    assert ours["t_start"].tolist() == expected["t_start"].tolist()
    assert ours["t_end"].tolist() == expected["t_end"].tolist()
    assert max(_max_differences(ours, expected).values()) < 1e-6


@pytest.mark.realdata
def test_example_4_uncertain_si_within_epiestims_monte_carlo_error(real_data: Path) -> None:
    """Example 4 pools 100 x 100 random draws in R: with the same 100 SI samples our exact
    mixture must lie within 4.5 Monte Carlo standard errors of every published value."""
    incidence, expected = _example(real_data, 4)
    samples = pd.read_csv(real_data / "epiestim" / "expected_Example4_SI_Moments_samples.csv")
    ours = estimate_rt_si_samples(
        incidence,
        samples["Mean"],
        samples["Std"],
        t_start=expected["t_start"],
        t_end=expected["t_end"],
    )
    draws = 100 * 100
    se_mean = ours["std"] / np.sqrt(draws)
    assert (np.abs(ours["mean"] - expected["Mean(R)"]) < 4.5 * se_mean).all()
    assert (np.abs(ours["std"] / expected["Std(R)"] - 1) < 0.05).all()
    # a quantile's Monte Carlo SE: sqrt(q (1 - q) / N) / the mixture's density at the quantile
    components = [
        estimate_rt(
            incidence,
            discretised_gamma_si(mean, sd, max_days=len(incidence)),
            t_start=expected["t_start"],
            t_end=expected["t_end"],
        )
        for mean, sd in zip(samples["Mean"], samples["Std"], strict=True)
    ]
    for q in QUANTILES:
        column = f"q{q:g}"
        x = ours[column].to_numpy()
        density = np.mean(
            [stats.gamma.pdf(x, c["shape"], scale=c["scale"]) for c in components], axis=0
        )
        se = np.sqrt(q * (1 - q) / draws) / density
        error = np.abs(ours[column] - expected[EPIESTIM_COLUMNS[column]])
        assert (error < 4.5 * se).all(), (column, float((error / se).max()))


# -- the serial interval ------------------------------------------------------------------------


def test_discretised_gamma_si_is_a_distribution_from_day_one() -> None:
    w = discretised_gamma_si(4.8, 2.3)
    assert w[0] == 0.0
    assert w.sum() == pytest.approx(1.0, abs=1e-9)
    assert float(np.dot(np.arange(w.size), w)) == pytest.approx(4.8, abs=1e-6)
    assert discretised_gamma_si(4.8, 2.3, max_days=10).size == 11


@pytest.mark.parametrize(
    ("mean", "sd", "message"),
    [
        (1.0, 1.0, "si_mean: must be greater than 1"),
        (3.0, 0.0, "si_sd: must be positive"),
        (3.0, -1.0, "si_sd: must be positive"),
        (float("nan"), 1.0, "si_mean"),
    ],
)
def test_discretised_gamma_si_refuses_bad_parameters(mean: float, sd: float, message: str) -> None:
    with pytest.raises(AnalyticsError, match=message):
        discretised_gamma_si(mean, sd)


@pytest.mark.parametrize(
    ("si", "message"),
    [
        ([0.1, 0.5, 0.4], "si_distr: day 0 must have probability 0"),
        ([0.0, 0.5, 0.4], "si_distr: must sum to 1"),
        ([0.0, 1.2, -0.2], "si_distr: negative probability -0.2 on day 2"),
        ([0.0, float("nan"), 1.0], "si_distr: contains NaN"),
        ([0.0], "si_distr: needs at least days 0 and 1"),
    ],
)
def test_estimate_rt_refuses_a_bad_si(si: list[float], message: str) -> None:
    with pytest.raises(AnalyticsError, match=message):
        estimate_rt([1.0] * 20, si)


# -- input errors -------------------------------------------------------------------------------


def test_estimate_rt_refuses_bad_incidence() -> None:
    dates = pd.date_range("2020-03-01", periods=10)
    with pytest.raises(AnalyticsError, match="cases: negative count -3 on 2020-03-04"):
        estimate_rt(pd.DataFrame({"date": dates, "cases": [1, 2, 3, -3, 4, 5, 6, 7, 8, 9]}), SI)
    gappy = dates.delete(4)
    with pytest.raises(AnalyticsError, match=r"date: days must be consecutive .* 2020-03-06"):
        estimate_rt(pd.DataFrame({"date": gappy, "cases": [1] * 9}), SI)
    with pytest.raises(AnalyticsError, match="cases: missing or non-finite count on day 2"):
        estimate_rt([1.0, float("nan")] + [1.0] * 10, SI)
    with pytest.raises(NotEnoughData, match="7 days is too short for a 7-day window"):
        estimate_rt([1.0] * 7, SI)
    with pytest.raises(AnalyticsError, match="incidence: needs a 'cases' column"):
        estimate_rt(pd.DataFrame({"count": [1] * 10}), SI)
    with pytest.raises(AnalyticsError, match="t_start: windows must start on day 2"):
        estimate_rt([1.0] * 10, SI, t_start=[1], t_end=[7])
    with pytest.raises(AnalyticsError, match="imported: 3 days but the incidence has 10"):
        estimate_rt([1.0] * 10, SI, imported=[0, 0, 0])


def test_first_day_cases_count_as_imported() -> None:
    """EpiEstim moves day 1's local cases to imported: they infect but are not counted."""
    a = estimate_rt([5, 3, 4, 6, 2, 5, 7, 3, 4, 8], SI)
    b = estimate_rt([0, 3, 4, 6, 2, 5, 7, 3, 4, 8], SI, imported=[5] + [0] * 9)
    pd.testing.assert_frame_equal(a, b)


def test_windows_ending_before_the_si_mean_have_no_estimate() -> None:
    r = estimate_rt(list(range(1, 31)), discretised_gamma_si(4.5, 2.0), window=1)
    assert r["t_end"].tolist() == list(range(2, 31))
    assert r.loc[r["t_end"] <= 4, "mean"].isna().all()  # SI mean 4.5 days
    assert r.loc[r["t_end"] > 4, "mean"].notna().all()


# -- invariants ---------------------------------------------------------------------------------

counts = st.lists(st.integers(min_value=0, max_value=500), min_size=10, max_size=40)


@settings(max_examples=60, deadline=None)
@given(counts, st.integers(min_value=1, max_value=8))
def test_posterior_is_positive_and_quantiles_ordered(incidence: list[int], window: int) -> None:
    r = estimate_rt(incidence, SI, window=window)
    valid = r.dropna(subset=["mean"])
    assert (valid["mean"] > 0).all()
    assert (valid["std"] > 0).all()
    qs = valid[[f"q{q:g}" for q in QUANTILES]].to_numpy()
    assert (np.diff(qs, axis=1) >= 0).all()
    assert (qs[:, 0] > 0).all()
    assert np.allclose(valid["mean"], valid["shape"] * valid["scale"])


@settings(max_examples=60, deadline=None)
@given(counts, st.integers(min_value=1, max_value=50), st.data())
def test_more_cases_in_the_window_raise_the_mean(
    incidence: list[int], extra: int, data: st.DataObject
) -> None:
    """Adding cases on a window's last day raises that window's Rt (it adds to the
    numerator only: a window's own last day does not infect within it)."""
    r = estimate_rt(incidence, SI, window=7)
    row = data.draw(st.integers(min_value=0, max_value=len(r) - 1))
    if np.isnan(r["mean"].iloc[row]):
        return
    more = list(incidence)
    more[int(r["t_end"].iloc[row]) - 1] += extra
    r2 = estimate_rt(more, SI, window=7)
    assert r2["mean"].iloc[row] > r["mean"].iloc[row]
    assert r2["q0.5"].iloc[row] > r["q0.5"].iloc[row]


# -- nowcast ------------------------------------------------------------------------------------


def _renewal_outbreak(r: float, days: int, seed: int) -> np.ndarray:
    """Daily onsets of a Poisson renewal process with constant R and the SI above."""
    rng = np.random.default_rng(seed)
    onsets = np.zeros(days, dtype=np.int64)
    onsets[0] = 300
    for t in range(1, days):
        s = SI[1 : t + 1]
        onsets[t] = rng.poisson(r * float(np.dot(s, onsets[t - 1 :: -1][: s.size])))
    return onsets


DELAY = np.array([0.1, 0.25, 0.25, 0.15, 0.1, 0.08, 0.05, 0.02])  # onset to report, days 0-7


def _reported_by_now(onsets: np.ndarray, seed: int) -> np.ndarray:
    """Cases by onset day that are reported by the last day (delays drawn from DELAY)."""
    rng = np.random.default_rng(seed)
    last = onsets.size - 1
    reported = np.zeros_like(onsets)
    for t, n in enumerate(onsets):
        delays = rng.choice(DELAY.size, size=int(n), p=DELAY)
        reported[t] = int((t + delays <= last).sum())
    return reported


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_nowcast_recovers_the_truth_better_than_raw_counts(seed: int) -> None:
    truth = 1.1
    onsets = _renewal_outbreak(truth, 40, seed)
    reported = _reported_by_now(onsets, seed + 100)
    assert reported[-1] < onsets[-1]  # the last days are incomplete
    raw = estimate_rt(reported, SI)
    now = estimate_rt_nowcast(reported, SI, DELAY, samples=200, seed=seed)
    complete = estimate_rt(onsets, SI)
    # the last day (10% reported) is below min_reported = 0.2: its window is not estimated
    assert now["t_end"].iloc[-1] == len(onsets) - 1
    raw = raw[raw["t_end"] <= len(onsets) - 1]
    complete = complete[complete["t_end"] <= len(onsets) - 1]
    last_raw, last_now = raw["mean"].iloc[-1], now["mean"].iloc[-1]
    last_complete = complete["mean"].iloc[-1]  # what full reporting would give
    # raw counts are biased down on the last window, the nowcast is not
    assert last_raw < last_complete - 0.15
    assert abs(last_now - last_complete) < 0.03
    assert abs(last_now - truth) < abs(last_raw - truth) / 3
    assert now["q0.025"].iloc[-1] < truth < now["q0.975"].iloc[-1]
    # the nowcast's interval is wider than that of the complete data (it carries the unknown)
    assert (now["q0.975"] - now["q0.025"]).iloc[-1] > (
        complete["q0.975"] - complete["q0.025"]
    ).iloc[-1]


def test_nowcast_incidence_divides_by_the_reported_share() -> None:
    dates = pd.date_range("2020-03-01", periods=6)
    inc = pd.DataFrame({"date": dates, "cases": [40, 40, 40, 40, 30, 8]})
    now = nowcast_incidence(inc, [0.2, 0.5, 0.3], samples=4000, seed=1)
    assert now["reported"].round(6).tolist() == [1.0, 1.0, 1.0, 1.0, 0.7, 0.2]
    assert now["nowcast"].tolist() == pytest.approx([40, 40, 40, 40, 30 / 0.7, 40])
    assert (now["q0.025"].iloc[:4] == 40).all()
    assert now["q0.025"].iloc[-1] < 40 < now["q0.975"].iloc[-1]
    assert now["date"].iloc[-1] == dates[-1]
    with pytest.raises(AnalyticsError, match="delay: must sum to 1"):
        nowcast_incidence(inc, [0.2, 0.5])
    with pytest.raises(AnalyticsError, match="probability 0 of reporting on the same day"):
        nowcast_incidence(inc, [0.0, 0.5, 0.5])


# -- CLI ----------------------------------------------------------------------------------------

runner = CliRunner()


def _write_cases(path: Path, counts: list[int], district: str | None = None) -> None:
    dates = pd.date_range("2020-03-01", periods=len(counts))
    frame = pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "cases": counts})
    if district is not None:
        frame.insert(1, "district", district)
    frame.to_csv(path, index=False)


COUNTS = [3, 4, 6, 5, 8, 9, 12, 14, 13, 18, 20, 19, 25, 24, 30]


def test_cli_rt_writes_epiestims_table_and_a_chart(tmp_path: Path) -> None:
    cases, out, png = tmp_path / "cases.csv", tmp_path / "rt.csv", tmp_path / "rt.png"
    _write_cases(cases, COUNTS)
    args = ["analytics", "rt", "--cases", str(cases), "--si-mean", "4.7", "--si-sd", "2.9"]
    done = runner.invoke(cli_app, [*args, "--window", "7", "--out", str(out), "--png", str(png)])
    assert done.exit_code == 0, done.output
    table = pd.read_csv(out)
    assert list(table.columns) == [*EPIESTIM_COLUMNS.values(), "date_start", "date_end"]
    expected = estimate_rt(read_incidence_csv(cases), discretised_gamma_si(4.7, 2.9))
    assert table["Mean(R)"].to_numpy() == pytest.approx(expected["mean"].to_numpy(), rel=1e-12)
    assert table["date_end"].iloc[-1] == "2020-03-15"
    assert png.stat().st_size > 10_000


def test_cli_rt_non_parametric_si_and_nowcast(tmp_path: Path) -> None:
    cases, si_file, delay_file = tmp_path / "c.csv", tmp_path / "si.csv", tmp_path / "d.csv"
    _write_cases(cases, COUNTS)
    si = discretised_gamma_si(4.0, 2.0, max_days=20)
    pd.DataFrame({"t": range(21), "si_distr": si / si.sum()}).to_csv(si_file, index=False)
    pd.DataFrame({"day": [0, 1, 2], "pmf": [0.3, 0.4, 0.3]}).to_csv(delay_file, index=False)
    out = tmp_path / "rt.csv"
    base = ["analytics", "rt", "--cases", str(cases), "--si-distr", str(si_file)]
    assert runner.invoke(cli_app, [*base, "--out", str(out)]).exit_code == 0
    raw = pd.read_csv(out)
    done = runner.invoke(cli_app, [*base, "--out", str(out), "--nowcast-delay", str(delay_file)])
    assert done.exit_code == 0, done.output
    now = pd.read_csv(out)
    assert now["t_end"].tolist() == raw["t_end"].tolist()
    assert now["Mean(R)"].iloc[-1] > raw["Mean(R)"].iloc[-1]  # unreported cases added back
    done = runner.invoke(
        cli_app,
        [*base, "--out", str(out), "--nowcast-delay-mean", "2", "--nowcast-delay-sd", "1"],
    )
    assert done.exit_code == 0, done.output


def test_cli_rt_by_district(tmp_path: Path) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    _write_cases(a, COUNTS, "Mapo-gu")
    _write_cases(b, COUNTS[::-1], "Guro-gu")
    both = tmp_path / "both.csv"
    pd.concat([pd.read_csv(a), pd.read_csv(b)]).to_csv(both, index=False)
    out = tmp_path / "rt.csv"
    args = ["analytics", "rt", "--cases", str(both), "--si-mean", "4.7", "--si-sd", "2.9"]
    done = runner.invoke(cli_app, [*args, "--by", "district", "--out", str(out)])
    assert done.exit_code == 0, done.output
    table = pd.read_csv(out)
    assert table.columns[0] == "district"
    growing = table[table["district"] == "Mapo-gu"]["Mean(R)"].iloc[-1]
    shrinking = table[table["district"] == "Guro-gu"]["Mean(R)"].iloc[-1]
    assert growing > 1 > shrinking
    done = runner.invoke(
        cli_app, [*args, "--by", "district", "--district", "Jung-gu", "--out", str(out)]
    )
    assert done.exit_code == 2
    assert "--district: unknown district Jung-gu" in done.output


@pytest.mark.parametrize(
    ("counts", "extra", "message"),
    [
        ([3, -3, *COUNTS[2:]], ["--si-mean", "4.7", "--si-sd", "2.9"], "cases: negative count -3"),
        (COUNTS[:5], ["--si-mean", "4.7", "--si-sd", "2.9"], "too short for a 7-day window"),
        (COUNTS, ["--si-mean", "4.7", "--si-sd", "0"], "si_sd: must be positive"),
        (COUNTS, ["--si-mean", "4.7"], "--si-mean and --si-sd"),
        (COUNTS, ["--si-mean", "4.7", "--si-sd", "2", "--district", "X"], "--district: only"),
    ],
)
def test_cli_rt_errors(tmp_path: Path, counts: list[int], extra: list[str], message: str) -> None:
    cases = tmp_path / "cases.csv"
    _write_cases(cases, counts)
    args = ["analytics", "rt", "--cases", str(cases), "--out", str(tmp_path / "o.csv")]
    done = runner.invoke(cli_app, [*args, *extra])
    assert done.exit_code == 2
    assert message in done.output


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("t,si_distr\n0,0.1\n1,0.9\n", "si_distr: day 0 must have probability 0"),
        ("t,si_distr\n0,0\n1,0.5\n", "si_distr: must sum to 1"),
        ("t,si_distr\n0,0\n2,1\n", "line 3: t: expected day 1"),
        ("day,weight\n0,0\n", "needs a si_distr, pmf or probability column"),
    ],
)
def test_cli_rt_bad_si_distribution(tmp_path: Path, rows: str, message: str) -> None:
    cases, si_file = tmp_path / "cases.csv", tmp_path / "si.csv"
    _write_cases(cases, COUNTS)
    si_file.write_text(rows)
    args = ["analytics", "rt", "--cases", str(cases), "--si-distr", str(si_file)]
    done = runner.invoke(cli_app, [*args, "--out", str(tmp_path / "o.csv")])
    assert done.exit_code == 2
    assert message in done.output


def test_cli_serial_on_a_ds4c_shaped_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    lines = ["patient_id,sex,age,city,infected_by,symptom_onset_date,confirmed_date,state"]
    day0 = pd.Timestamp("2020-03-01")
    for i in range(1, 41):
        onset = day0 + pd.Timedelta(days=int(rng.integers(0, 5)) + (i > 1) * 4)
        confirmed = onset + pd.Timedelta(days=int(rng.integers(0, 6)))
        infector = "" if i == 1 else "1"
        lines.append(f"{i},,,Mapo-gu,{infector},{onset.date()},{confirmed.date()},isolated")
    path = tmp_path / "PatientInfo.csv"
    path.write_text("\n".join(lines) + "\n")
    args = ["analytics", "serial", "--ds4c", str(path), "--out", str(tmp_path / "o")]
    done = runner.invoke(cli_app, [*args, "--bootstrap", "20"])
    assert done.exit_code == 0, done.output
    summary = pd.read_csv(tmp_path / "o" / "serial_interval.csv")
    assert summary["quantity"].tolist() == ["serial_interval"] * 2 + ["onset_to_confirmation"] * 2
    assert summary["n"].iloc[0] == 39
    assert (tmp_path / "o" / "delay_pmf.csv").is_file()
    assert "39 pairs" in done.output
    path.write_text("patient_id\n1\n")
    done = runner.invoke(cli_app, args)
    assert done.exit_code == 2
    assert "lacks the column" in done.output


# -- console page -------------------------------------------------------------------------------

HTML = {"Accept": "text/html"}
PAGE = "/console/analytics/rt"


def test_rt_page(live: LiveService) -> None:  # noqa: F811
    from epicity.cases.service import create_case
    from epicity.db import session_scope

    with live.client("analyst") as c:
        empty = c.get(PAGE, headers=HTML)
        assert empty.status_code == 422
        assert 'id="empty"' in empty.text
    with session_scope(live.app.state.sessions) as s:
        for day, count in zip(pd.date_range("2021-03-01", periods=15), COUNTS, strict=True):
            for k in range(count):
                create_case(
                    s, actor="test", external_ref=f"RTX-{day.day}-{k}", status="confirmed",
                    district="Mapo-gu" if k % 2 else "Jung-gu", confirmed_date=day.date(),
                )  # fmt: skip
    with live.client("analyst") as c:
        r = c.get(PAGE, headers=HTML)
        assert r.status_code == 200, r.text
        assert 'id="rt-data"' in r.text
        assert 'id="incidence-data"' in r.text
        assert 'src="/static/plotly.min.js"' in r.text
        assert "RTX-" not in r.text  # no case reference reaches the page
        city = estimate_rt(pd.DataFrame({"cases": COUNTS}), discretised_gamma_si(4.7, 2.9))
        assert f"<td>{city['mean'].iloc[-1]:.2f}</td>" in r.text
        d = c.get(
            PAGE, params={"district": "Mapo-gu", "si_mean": "3", "si_sd": "1.5"}, headers=HTML
        )
        assert d.status_code == 200
        assert "Mapo-gu: confirmed cases per day" in d.text
        for params, message in (
            ({"district": "Gangnam-gu"}, "unknown district"),
            ({"si_sd": "0"}, "si_sd: must be positive"),
            ({"si_mean": "abc"}, "si_mean must be a number"),
            ({"si_mean": "0.5"}, "si_mean: must be greater than 1"),
            ({"window": "0"}, "window must be a whole number"),
        ):
            bad = c.get(PAGE, params=params, headers=HTML)
            assert bad.status_code == 400, params
            assert message in bad.text
        short = c.get(PAGE, params={"window": "20"}, headers=HTML)
        assert short.status_code == 422
    with live.client("citizen") as c:
        assert c.get(PAGE, headers=HTML).status_code == 403
    with live.client() as c:
        assert c.get(PAGE).status_code == 401
