"""Forecasts: WIS and coverage, the Forecast Hub baseline, the renewal model and its ensemble,
bad input, the CLI, the console page, and a short evaluation on the real Korean series."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session
from tests.web.conftest import LiveService, live  # noqa: F401  (the live service fixture)
from typer.testing import CliRunner

from epicity.analytics.errors import AnalyticsError, NotEnoughData
from epicity.analytics.forecast import (
    MIN_DAYS,
    QUANTILES,
    RenewalModel,
    baseline_forecast,
    check_incidence,
    coverage,
    evaluate,
    forecast,
    relative_wis,
    score,
    wis,
)
from epicity.analytics.forecast_pages import fan_figure
from epicity.analytics.rt import discretised_gamma_si
from epicity.cli import app as cli_app

WEEKDAY = np.array([0.8, 0.9, 1.1, 1.1, 1.1, 1.0, 1.0])  # Monday first


def synthetic(
    days: int = 70, seed: int = 3, r: float = 1.0, start: float = 50.0, k: float = 20.0
) -> pd.DataFrame:
    """A renewal-equation epidemic with weekday reporting and negative-binomial counts."""
    rng = np.random.default_rng(seed)
    w = discretised_gamma_si(4.7, 2.9, max_days=30)[1:]
    latent = [start] * 10
    for _ in range(days - 10):
        past = np.array(latent[::-1][: w.size])
        latent.append(r * float(past @ w[: past.size]) / float(w[: past.size].sum()))
    dates = pd.date_range("2021-03-01", periods=days)  # a Monday
    mean = np.array(latent) * WEEKDAY[dates.day_of_week]
    counts = rng.poisson(rng.gamma(k, mean / k))
    return pd.DataFrame({"date": dates, "cases": counts})


def quantile_matrix(fc: pd.DataFrame) -> np.ndarray:
    keys = [c for c in ("location", "horizon") if c in fc.columns]
    return fc.pivot_table(index=keys, columns="quantile", values="value").to_numpy()


# ---------------------------------------------------------------------------- WIS, coverage


def test_quantile_levels_are_the_hubs_23() -> None:
    assert len(QUANTILES) == 23
    assert QUANTILES[:4] == (0.01, 0.025, 0.05, 0.1)
    assert QUANTILES[-3:] == (0.95, 0.975, 0.99)
    assert np.allclose(np.array(QUANTILES) + np.array(QUANTILES[::-1]), 1.0)


def test_wis_by_hand() -> None:
    levels = [0.25, 0.5, 0.75]
    # inside the 50% interval: (0.5 * |10 - 10| + 0.25 * (12 - 8)) / 1.5
    assert wis([8, 10, 12], 10, quantiles=levels)[0] == pytest.approx(1 / 1.5)
    # above it: 0.5 * 6 + 0.25 * (4 + 2 / 0.5 * 4) = 3 + 5, over 1.5
    assert wis([8, 10, 12], 16, quantiles=levels)[0] == pytest.approx(8 / 1.5)
    # several rows at once
    assert wis([[8, 10, 12], [8, 10, 12]], [10, 16], quantiles=levels) == pytest.approx(
        [1 / 1.5, 8 / 1.5]
    )


def test_wis_of_a_perfect_point_forecast_is_zero() -> None:
    assert wis([7.0] * 23, 7.0)[0] == 0.0


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(0, 1e4, allow_nan=False), min_size=23, max_size=23),
    st.floats(0, 1e4, allow_nan=False),
)
def test_wis_is_non_negative_and_equals_the_pinball_loss(values: list[float], y: float) -> None:
    q = np.sort(np.array(values))
    levels = np.array(QUANTILES)
    score_ = wis(q, y)[0]
    assert score_ >= 0
    # Bracher et al. (2021): WIS = 2/(2K+1) * sum of pinball losses over the 2K+1 levels
    pinball = np.sum(((y < q).astype(float) - levels) * (q - y))
    assert score_ == pytest.approx(pinball / 11.5, rel=1e-9, abs=1e-9)


def test_wis_refuses_unpaired_levels() -> None:
    with pytest.raises(AnalyticsError, match="no matching"):
        wis([1, 2, 3], 2, quantiles=[0.1, 0.5, 0.8])
    with pytest.raises(AnalyticsError, match="median"):
        wis([1, 3], 2, quantiles=[0.25, 0.75])


def test_coverage_counts_the_bounds_as_inside() -> None:
    values = np.array([[1.0, 2.0, 3.0, 4.0, 5.0]])
    levels = [0.025, 0.25, 0.5, 0.75, 0.975]
    assert coverage(values, np.array([4.0]), quantiles=levels, level=0.5)[0]
    assert not coverage(values, np.array([4.5]), quantiles=levels, level=0.5)[0]
    assert coverage(values, np.array([4.5]), quantiles=levels, level=0.95)[0]
    with pytest.raises(AnalyticsError, match="80%"):
        coverage(values, np.array([1.0]), quantiles=levels, level=0.8)


# ---------------------------------------------------------------------------- baseline


def test_baseline_is_the_last_value_with_symmetric_widening_quantiles() -> None:
    inc = synthetic(40)
    fc = baseline_forecast(inc, horizon=14)
    last = float(inc["cases"].iloc[-1])
    q = quantile_matrix(fc)  # (horizon, level)
    assert q[:, 11] == pytest.approx(np.full(14, last), abs=1e-9)
    # horizon 1: the last value plus the symmetrised differences' quantiles
    diffs = np.diff(inc["cases"].to_numpy(dtype=float))
    sym = np.quantile(np.concatenate([diffs, -diffs]), np.linspace(0, 1, 10_000))
    expected = np.maximum(last + np.quantile(sym, QUANTILES), 0)
    assert q[0] == pytest.approx(expected, abs=1e-6)
    # symmetric around the last value where nothing is truncated, and wider with the horizon
    assert q[0, 22] - last == pytest.approx(last - q[0, 0], abs=1e-6)
    width = q[:, 21] - q[:, 1]
    assert np.all(np.diff(width) > -1e-9)
    assert width[13] > 2 * width[0]


def test_baseline_truncates_at_zero() -> None:
    dates = pd.date_range("2020-03-01", periods=20)
    inc = pd.DataFrame({"date": dates, "cases": [0, 9] * 9 + [0, 1]})
    q = quantile_matrix(baseline_forecast(inc, horizon=5))
    assert q.min() == 0.0
    assert q[:, 11] == pytest.approx(np.ones(5))


# ---------------------------------------------------------------------------- renewal model


def test_forecast_long_format_and_fixed_seed_regression() -> None:
    inc = synthetic(70)
    fc = forecast(inc, horizon=14, method="renewal", seed=11)
    assert list(fc.columns) == [
        "forecast_date",
        "target_end_date",
        "horizon",
        "quantile",
        "value",
    ]
    assert len(fc) == 14 * 23
    assert (fc["forecast_date"] == inc["date"].iloc[-1]).all()
    assert (fc["target_end_date"] - fc["forecast_date"]).dt.days.tolist() == fc["horizon"].tolist()
    wide = fc.pivot(index="horizon", columns="quantile", values="value")
    # Regression guard: computed by this code with seed 11 (refresh only on purpose, with
    # the reason in the commit). Rows: horizons 1, 7, 14; columns: 2.5%, median, 97.5%.
    assert wide.loc[[1, 7, 14], [0.025, 0.5, 0.975]].to_numpy() == pytest.approx(
        np.array([[28.0, 50.0, 83.0], [32.0, 67.0, 123.0], [26.0, 67.0, 160.0]]), abs=1e-6
    )
    again = forecast(inc, horizon=14, method="renewal", seed=11)
    pd.testing.assert_frame_equal(fc, again)
    other = forecast(inc, horizon=14, method="renewal", seed=12)
    assert not np.array_equal(other["value"].to_numpy(), fc["value"].to_numpy())


def test_forecast_follows_growth_and_weekday_effects() -> None:
    flat = quantile_matrix(
        forecast(synthetic(70, r=1.0, start=400, k=1e4), horizon=14, method="renewal")
    )
    growing = quantile_matrix(
        forecast(synthetic(70, r=1.25, start=400, k=1e4), horizon=14, method="renewal")
    )
    # growth continues (damped) and the intervals are wider further out
    assert growing[13, 11] > 1.3 * growing[0, 11]
    first_week, second_week = flat[:7, 11].sum(), flat[7:, 11].sum()
    assert 0.85 * first_week < second_week < 1.15 * first_week
    assert np.all(flat[:, 21] - flat[:, 1] > 0)
    # weekday reporting effects carry into the forecast
    inc = synthetic(70, r=1.0, start=400.0)
    fc = forecast(inc, horizon=14, method="renewal")
    med = fc[fc["quantile"] == 0.5].set_index("target_end_date")["value"]
    by_day = med.groupby(med.index.day_of_week).mean()
    assert by_day[0] < by_day[2]  # Monday (0.8) below Wednesday (1.1)


def test_ensemble_is_the_mean_of_renewal_and_baseline() -> None:
    inc = synthetic(50)
    ens = forecast(inc, horizon=7, seed=5)
    ren = forecast(inc, horizon=7, method="renewal", seed=5)
    base = baseline_forecast(inc, horizon=7, seed=5)
    assert ens["value"].to_numpy() == pytest.approx(
        (ren["value"].to_numpy() + base["value"].to_numpy()) / 2
    )


@settings(max_examples=15, deadline=None)
@given(
    st.lists(st.integers(0, 500), min_size=MIN_DAYS, max_size=60),
    st.integers(0, 2**16),
    st.sampled_from(["ensemble", "renewal"]),
)
def test_quantiles_never_cross_and_are_never_negative(
    counts: list[int], seed: int, method: str
) -> None:
    inc = pd.DataFrame({"date": pd.date_range("2020-01-01", periods=len(counts)), "cases": counts})
    fc = forecast(inc, horizon=14, seed=seed, method=method)  # type: ignore[arg-type]
    q = quantile_matrix(fc)
    assert np.all(np.diff(q, axis=1) >= 0)
    assert np.all(q >= 0)
    assert np.all(np.isfinite(q))
    qb = quantile_matrix(baseline_forecast(inc, horizon=14, seed=seed))
    assert np.all(np.diff(qb, axis=1) >= 0)


def test_zero_series_forecasts_zero() -> None:
    inc = pd.DataFrame({"date": pd.date_range("2020-01-01", periods=40), "cases": 0})
    fc = forecast(inc, horizon=5, method="renewal")
    assert (fc["value"] == 0).all()


def test_forecast_by_district_and_chosen_locations() -> None:
    a = synthetic(40, seed=1).assign(district="Jung-gu")
    b = synthetic(40, seed=2, start=10).assign(district="Mapo-gu")
    inc = pd.concat([a, b])
    fc = forecast(inc, horizon=3, by="district")
    assert sorted(fc["location"].unique()) == ["Jung-gu", "Mapo-gu"]
    assert len(fc) == 2 * 3 * 23
    one = forecast(inc, horizon=3, by="district", locations=["Mapo-gu"])
    assert one["location"].unique().tolist() == ["Mapo-gu"]
    with pytest.raises(AnalyticsError, match="unknown district 'Gangnam-gu'"):
        forecast(inc, by="district", locations=["Gangnam-gu"])


# ---------------------------------------------------------------------------- bad input


def _frame(cases: list[float], start: str = "2020-03-01") -> pd.DataFrame:
    return pd.DataFrame({"date": pd.date_range(start, periods=len(cases)), "cases": cases})


@pytest.mark.parametrize(
    ("frame", "error", "message"),
    [
        (_frame([5] * 10 + [-3] + [5] * 30), AnalyticsError, "negative count -3 on 2020-03-11"),
        (_frame([5] * 10 + [np.nan] + [5] * 30), AnalyticsError, "missing or non-numeric"),
        (_frame([5] * 10 + [2.5] + [5] * 30), AnalyticsError, "2.5 on 2020-03-11 is not a whole"),
        (_frame([5] * 20), NotEnoughData, "20 days; the forecast needs at least 28"),
        (pd.DataFrame({"day": [1], "cases": [1]}), AnalyticsError, "missing column"),
        (
            pd.concat([_frame([5] * 10), _frame([5] * 30, start="2020-03-13")]),
            AnalyticsError,
            "gap between 2020-03-10 and 2020-03-13",
        ),
        (
            pd.concat([_frame([5] * 30), _frame([5], start="2020-03-05")]),
            AnalyticsError,
            "2020-03-05 appears more than once",
        ),
        (
            pd.DataFrame({"date": ["2020-03-01", "March"], "cases": [1, 2]}),
            AnalyticsError,
            "'March' \\(row 2\\) is not a date",
        ),
    ],
)
def test_bad_input_is_refused(frame: pd.DataFrame, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        forecast(frame)


def test_bad_options_are_refused() -> None:
    inc = synthetic(40)
    with pytest.raises(AnalyticsError, match="horizon"):
        forecast(inc, horizon=0)
    with pytest.raises(AnalyticsError, match="method"):
        forecast(inc, method="arima")  # type: ignore[arg-type]
    with pytest.raises(AnalyticsError, match="damping"):
        RenewalModel(damping=1.5)
    with pytest.raises(AnalyticsError, match="locations: only with by"):
        forecast(inc, locations=["x"])
    with pytest.raises(NotEnoughData, match="at least 8"):
        baseline_forecast(_frame([1, 2, 3]))
    assert len(check_incidence(_frame([1] * 8), min_days=8)) == 8


# ---------------------------------------------------------------------------- scoring frames


def test_score_and_relative_wis() -> None:
    inc = synthetic(84, seed=9)
    s = evaluate(inc, ["2021-04-18", "2021-04-25", "2021-05-02"], horizon=14, seed=2)
    assert set(s["model"]) == {"renewal", "ensemble", "baseline"}
    assert len(s) == 3 * 3 * 14
    assert (s["wis"] >= 0).all()
    parts = s["dispersion"] + s["overprediction"] + s["underprediction"]
    assert s["wis"].to_numpy() == pytest.approx(parts.to_numpy())
    summary = relative_wis(s).set_index("model")
    assert summary.loc["baseline", "relative_wis"] == 1.0
    ratio = s[s.model == "renewal"]["wis"].mean() / s[s.model == "baseline"]["wis"].mean()
    assert summary.loc["renewal", "relative_wis"] == pytest.approx(ratio)
    by_h = relative_wis(s, group=["horizon"])
    assert len(by_h) == 14 * 3
    # the truth rows a forecast is scored against are the observed counts
    one = s[(s.model == "baseline") & (s.forecast_date == pd.Timestamp("2021-04-18"))]
    truth = inc.set_index("date")["cases"]
    assert one["observed"].tolist() == truth.loc[one["target_end_date"]].tolist()
    # a forecast with no truth after it is dropped, not scored
    fc = baseline_forecast(inc, horizon=3)
    assert score(fc, inc).empty


# ---------------------------------------------------------------------------- CLI


def _write(path: Path, frame: pd.DataFrame) -> Path:
    frame.assign(date=frame["date"].dt.strftime("%Y-%m-%d")).to_csv(path, index=False)
    return path


def test_cli_writes_forecast_csv_and_png(tmp_path: Path) -> None:
    cases = _write(tmp_path / "cases.csv", synthetic(50))
    out, png = tmp_path / "fc.csv", tmp_path / "fc.png"
    args = ["analytics", "forecast", "--cases", str(cases), "--horizon", "7"]
    r = CliRunner().invoke(cli_app, [*args, "--out", str(out), "--png", str(png), "--baseline"])
    assert r.exit_code == 0, r.output
    table = pd.read_csv(out)
    assert list(table.columns) == [
        "model",
        "forecast_date",
        "target_end_date",
        "horizon",
        "quantile",
        "value",
    ]
    assert sorted(table["model"].unique()) == ["baseline", "ensemble"]
    assert len(table) == 2 * 7 * 23
    assert png.read_bytes()[:4] == b"\x89PNG"
    expected = forecast(synthetic(50), horizon=7)
    got = table[table["model"] == "ensemble"]["value"].to_numpy()
    assert got == pytest.approx(expected["value"].to_numpy(), rel=1e-5)


def test_cli_by_district(tmp_path: Path) -> None:
    inc = pd.concat(
        [
            synthetic(30, seed=1).assign(district="Jung-gu"),
            synthetic(30, seed=2).assign(district="Mapo-gu"),
        ]
    )
    cases = _write(tmp_path / "d.csv", inc)
    out = tmp_path / "d_fc.csv"
    r = CliRunner().invoke(
        cli_app,
        ["analytics", "forecast", "--cases", str(cases), "--by", "district", "--out", str(out)],
    )
    assert r.exit_code == 0, r.output
    assert sorted(pd.read_csv(out)["location"].unique()) == ["Jung-gu", "Mapo-gu"]
    r = CliRunner().invoke(
        cli_app,
        ["analytics", "forecast", "--cases", str(cases), "--by", "district",
         "--location", "Gangnam-gu", "--out", str(out)],
    )  # fmt: skip
    assert r.exit_code == 2
    assert "unknown district 'Gangnam-gu'" in r.output


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("date,cases\n2020-03-01,4\n2020-03-02,-3\n", "negative count -3 on 2020-03-02"),
        ("date,cases\n2020-03-01,4\n2020-03-04,3\n", "gap in dates"),
        ("date,cases\n" + "".join(f"2020-03-{d:02d},4\n" for d in range(1, 11)), "at least 28"),
        ("day,n\n1,2\n", "header must have date, cases"),
    ],
)
def test_cli_refuses_bad_input(tmp_path: Path, body: str, message: str) -> None:
    cases = tmp_path / "bad.csv"
    cases.write_text(body)
    r = CliRunner().invoke(
        cli_app, ["analytics", "forecast", "--cases", str(cases), "--out", str(tmp_path / "o.csv")]
    )
    assert r.exit_code == 2
    assert message in r.output
    assert not (tmp_path / "o.csv").exists()


# ---------------------------------------------------------------------------- console page

HTML = {"Accept": "text/html"}
PAGE = "/console/analytics/forecast"


def _seed_cases(session: Session, days: int) -> None:
    from epicity.cases import service as cases

    inc = synthetic(days, seed=4, start=6)
    n = 0
    for day, count in zip(inc["date"], inc["cases"], strict=True):
        for k in range(int(count)):
            cases.create_case(
                session, actor="test", external_ref=f"FCX-{n}", status="confirmed",
                district="Jung-gu" if k % 3 else "Mapo-gu", age_group="30s",
                confirmed_date=day.date(),
            )  # fmt: skip
            n += 1
    session.flush()


def test_forecast_page(live: LiveService) -> None:  # noqa: F811
    from epicity.db import session_scope

    with live.client("analyst") as c:
        empty = c.get(PAGE, headers=HTML)
        assert empty.status_code == 422
        assert 'id="empty"' in empty.text
    with session_scope(live.app.state.sessions) as s:
        _seed_cases(s, 35)
    with live.client("analyst") as c:
        r = c.get(PAGE, headers=HTML)
        assert r.status_code == 200, r.text
        assert 'id="forecast-data"' in r.text
        assert 'src="/static/plotly.min.js"' in r.text
        assert "2021-04-05" in r.text  # the first forecast day (last case on 2021-04-04)
        assert "FCX-" not in r.text  # no case reference reaches the page
        d = c.get(PAGE, params={"district": "Mapo-gu", "horizon": "7"}, headers=HTML)
        assert d.status_code == 200
        assert "Mapo-gu: confirmed cases per day" in d.text
        assert d.text.count("<tr><td>2021-04-") == 7
        bad = c.get(PAGE, params={"district": "Gangnam-gu"}, headers=HTML)
        assert bad.status_code == 400
        assert "unknown district" in bad.text
        assert c.get(PAGE, params={"horizon": "99"}, headers=HTML).status_code == 400
        assert c.get(PAGE, params={"method": "arima"}, headers=HTML).status_code == 400
    with live.client("citizen") as c:
        assert c.get(PAGE, headers=HTML).status_code == 403
    with live.client() as c:
        assert c.get(PAGE).status_code == 401


def test_fan_figure_traces() -> None:
    inc = synthetic(40)
    fc = forecast(inc, horizon=5)
    fig = fan_figure(inc, fc, baseline_forecast(inc, horizon=5), "t")
    names = [t.name for t in fig.data]
    assert names[:3] == ["95% interval", "50% interval", "median"]
    assert "observed" in names
    assert "baseline 95%" in names
    median = fc[fc["quantile"] == 0.5]["value"].tolist()
    assert list(fig.data[2].y) == pytest.approx(median)


# ---------------------------------------------------------------------------- real data


@pytest.mark.realdata
def test_short_evaluation_on_korea(real_data: Path) -> None:
    raw = pd.read_csv(real_data / "korea_timeseries" / "korea_seoul_daily_confirmed.csv")
    raw["date"] = pd.to_datetime(raw["date"])
    korea = raw[["date", "korea_new_confirmed"]].dropna()
    korea = korea.rename(columns={"korea_new_confirmed": "cases"})
    korea = korea[korea["date"] < dt.datetime(2021, 7, 1)]
    origins = pd.date_range("2021-03-07", "2021-05-30", freq="14D")
    s = evaluate(korea, origins, horizon=14)
    summary = relative_wis(s).set_index("model")
    assert summary.loc["baseline", "n"] == len(origins) * 14
    # Measured 2021-03..05 (held-out period): the ensemble beats the baseline clearly.
    assert summary.loc["ensemble", "relative_wis"] < 0.9
    assert 0.3 <= summary.loc["ensemble", "coverage_50"] <= 0.8
    assert summary.loc["ensemble", "coverage_95"] >= 0.8
