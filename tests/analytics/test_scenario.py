"""Scenarios: the outbreak under response settings (driver, summaries, CLI and console page)."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.web.conftest import LiveService, live  # noqa: F401  (the live service fixture)
from typer.testing import CliRunner

from epicity.analytics import scenario
from epicity.analytics.cli import app
from epicity.analytics.errors import AnalyticsError
from epicity.analytics.scenario_cli import parse_reach, parse_tests
from epicity.analytics.scenario_pages import curve_figure
from epicity.city.outbreak import Response

HTML = {"Accept": "text/html"}
PAGE = "/console/analytics/scenarios"
# A small city where the outbreak takes off under today's model within a few weeks.
CITY = {"people": 2_000, "days": 30, "transmission": 2.0}
FAST = Response(warning_delay=600, reach=0.8)
SLOW = Response(warning_delay=86_400, reach=0.8)


@functools.lru_cache(maxsize=32)
def _run(response: Response, seed: int, people: int = 2_000, days: int = 30) -> pd.DataFrame:
    return scenario.simulate(
        response, people=people, days=days, seed=seed, transmission=CITY["transmission"]
    )


def run(response: Response, seed: int, people: int = 2_000, days: int = 30) -> pd.DataFrame:
    """A cached run (runs are deterministic), copied so tests cannot change the cache."""
    return _run(response, seed, people, days).copy()


# --- regression: fixed seeds guard the numbers --------------------------------------------------


def test_same_seed_same_curves_and_the_default_matches_its_regression_numbers() -> None:
    a = run(Response(), seed=3)
    b = scenario.simulate(Response(), people=2_000, days=30, seed=3, transmission=2.0)
    pd.testing.assert_frame_equal(a, b)
    # Regression numbers of this seed (refresh only when the model is meant to change).
    last = a.iloc[-1]
    assert (last["cumulative_infections"], last["cumulative_confirmed"]) == (REGRESSION_TODAY_SEED3)


REGRESSION_TODAY_SEED3 = (603, 280)


def test_faster_warning_fewer_infections_on_a_fixed_seed() -> None:
    """A regression test on one seed where it holds, not a statistical claim: across seeds the
    ordering can flip (see docs/analytics.md, "Scenarios", for the medians over seeds)."""
    fast = run(FAST, seed=REGRESSION_SEED)
    slow = run(SLOW, seed=REGRESSION_SEED)
    none = run(Response(warning_delay=None, reach=0.8), seed=REGRESSION_SEED)
    totals = [int(f["cumulative_infections"].iloc[-1]) for f in (fast, slow, none)]
    assert totals == REGRESSION_TOTALS
    assert totals[0] < totals[1] < totals[2]
    # Same city and first infections: the curves agree until the first warning changes routines.
    assert fast["new_infections"].iloc[0] == slow["new_infections"].iloc[0]


REGRESSION_SEED = 1
REGRESSION_TOTALS = [99, 126, 202]


def test_limited_testing_makes_people_wait_and_delays_confirmation() -> None:
    ample = run(Response(warning_delay=600, reach=0.8), seed=1)
    scarce = run(Response(warning_delay=600, reach=0.8, tests_per_day=3), seed=1)
    assert scarce["tests"].max() <= 3
    assert scarce["waiting_for_test"].max() > 0
    assert ample["waiting_for_test"].max() == 0
    assert scarce["cumulative_confirmed"].iloc[-1] < ample["cumulative_confirmed"].iloc[-1]


# --- properties --------------------------------------------------------------------------------

RESPONSES = st.builds(
    Response,
    warning_delay=st.one_of(st.none(), st.sampled_from([0.0, 600.0, 6 * 3600.0, 86_400.0])),
    reach=st.one_of(st.none(), st.sampled_from([0.0, 0.5, 1.0])),
    tests_per_day=st.one_of(st.none(), st.sampled_from([0, 5, 50])),
)


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
@given(response=RESPONSES, seed=st.integers(0, 3))
def test_curves_are_non_negative_counts_and_cumulative_curves_never_fall(
    response: Response, seed: int
) -> None:
    daily = run(response, seed=seed, days=20)
    assert list(daily["day"]) == list(range(20))
    counts = daily.drop(columns="day")
    assert (counts >= 0).all().all()
    for column in ("cumulative_infections", "cumulative_confirmed", "quarantine_person_days"):
        assert daily[column].is_monotonic_increasing, column
    assert (daily["cumulative_infections"] <= 2_000).all()
    assert (daily["cumulative_confirmed"] <= daily["cumulative_infections"]).all()
    if response.tests_per_day is not None:
        assert (daily["tests"] <= response.tests_per_day).all()
    if response.warning_delay is None:  # no warning: nobody quarantines before a test
        assert (daily["in_quarantine"] == 0).all()


@settings(max_examples=4, deadline=None, derandomize=True)
@given(
    delay=st.sampled_from([None, 0.0, 600.0, 86_400.0]),
    tests=st.sampled_from([None, 20]),
    seed=st.integers(0, 3),
)
def test_reach_zero_warns_and_quarantines_nobody(
    delay: float | None, tests: int | None, seed: int
) -> None:
    daily = run(Response(warning_delay=delay, reach=0.0, tests_per_day=tests), seed=seed, days=20)
    assert (daily["warned"] == 0).all()
    assert (daily["in_quarantine"] == 0).all()
    assert daily["quarantine_person_days"].iloc[-1] == 0


def test_full_reach_with_a_warning_quarantines_contacts() -> None:
    daily = run(Response(warning_delay=600, reach=1.0), seed=1)
    assert daily["warned"].sum() > 0
    assert daily["in_quarantine"].max() > 0


# --- summaries ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def grid_curves() -> pd.DataFrame:
    grid = scenario.response_grid([600.0], [0.8], [None])
    curves, timing = scenario.run_scenarios(grid, people=1_000, days=12, seeds=3)
    assert len(timing) == 6
    assert all(t.seconds > 0 for t in timing)
    return curves


def test_run_scenarios_returns_every_run_in_order(grid_curves: pd.DataFrame) -> None:
    assert list(dict.fromkeys(grid_curves["scenario"])) == [
        "today",
        "warn 10m, reach 80%, tests unlimited",
    ]
    assert grid_curves.groupby("scenario")["seed"].unique().map(list).tolist() == [
        [0, 1, 2],
        [0, 1, 2],
    ]
    assert len(grid_curves) == 2 * 3 * 12
    assert set(scenario.COUNT_COLUMNS) <= set(grid_curves.columns)
    assert "person_id" not in grid_curves.columns


def test_summary_is_the_median_and_interval_of_the_runs(grid_curves: pd.DataFrame) -> None:
    summary = scenario.summarise(grid_curves, interval=0.8)
    totals = grid_curves.groupby(["scenario", "seed"], sort=False)["cumulative_infections"].last()
    for _, row in summary.iterrows():
        values = totals[row["scenario"]].to_numpy(dtype=float)
        assert row["infections"] == np.median(values)
        assert row["infections_lo"] == pytest.approx(np.quantile(values, 0.1))
        assert row["infections_hi"] == pytest.approx(np.quantile(values, 0.9))
        assert row["infections_lo"] <= row["infections"] <= row["infections_hi"]
        assert row["seeds"] == 3
    bands = scenario.curve_bands(grid_curves, ["in_quarantine"])
    assert (bands["lo"] <= bands["median"]).all()
    assert (bands["median"] <= bands["hi"]).all()
    assert len(bands) == 2 * 12


def test_formats_and_parses_delays() -> None:
    assert scenario.parse_delay("10m") == 600
    assert scenario.parse_delay("1d") == 86_400
    assert scenario.parse_delay("6h") == 6 * 3600
    assert scenario.parse_delay("1.5") == 1.5 * 3600
    assert scenario.parse_delay("none") is None
    for seconds in (600.0, 86_400.0, 7_200.0, 45.0):
        assert scenario.parse_delay(scenario.format_delay(seconds)) == seconds
    assert scenario.setting_name(Response()) == "today"
    assert parse_reach("0.5") == 0.5
    assert parse_reach("today") is None
    assert parse_tests("1,000") == 1000
    assert parse_tests("unlimited") is None


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: scenario.parse_delay("-1d"), "warning_delay"),
        (lambda: scenario.parse_delay("soon"), "warning_delay"),
        (lambda: scenario.parse_delay("90d"), "warning_delay"),
        (lambda: parse_reach("1.2"), "reach"),
        (lambda: parse_reach("nan"), "reach"),
        (lambda: parse_tests("-5"), "tests_per_day"),
        (lambda: scenario.simulate(Response(), people=100, days=10, seed=1), "people"),
        (lambda: scenario.simulate(Response(), people=1_000, days=0, seed=1), "days"),
        (lambda: scenario.simulate(Response(), people=1_000, days=5, seed=-1), "seed"),
        (
            lambda: scenario.simulate(
                Response(), people=1_000, days=5, seed=1, transmission=float("nan")
            ),
            "transmission",
        ),
        (lambda: scenario.simulate(Response(reach=2.0), people=1_000, days=5, seed=1), "reach"),
        (
            lambda: scenario.simulate(Response(warning_delay=-5), people=1_000, days=5, seed=1),
            "warning_delay",
        ),
        (lambda: scenario.run_scenarios([], people=1_000, days=5), "settings"),
        (lambda: scenario.run_scenarios({"a": Response()}, people=1_000, days=5, seeds=0), "seeds"),
        (
            lambda: scenario.run_scenarios({"a": Response()}, people=1_000, days=5, seeds=[1, 1]),
            "seeds",
        ),
        (lambda: scenario.summarise(pd.DataFrame({"scenario": ["a"]})), "curves"),
        (lambda: scenario.response_grid([None], [1.5], [None]), "reach"),
    ],
)
def test_bad_input_names_the_field(call: object, message: str) -> None:
    with pytest.raises(AnalyticsError, match=message):
        call()  # type: ignore[operator]


def test_summary_refuses_a_bad_interval(grid_curves: pd.DataFrame) -> None:
    with pytest.raises(AnalyticsError, match="interval"):
        scenario.summarise(grid_curves, interval=1.0)
    with pytest.raises(AnalyticsError, match="columns"):
        scenario.curve_bands(grid_curves, ["seed"])


# --- CLI ---------------------------------------------------------------------------------------


def test_cli_writes_curves_summary_and_png(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "scenario",
            "--people",
            "1000",
            "--days",
            "8",
            "--seeds",
            "2",
            "--warning-delay",
            "10m",
            "--warning-delay",
            "1d",
            "--reach",
            "0.8",
            "--tests-per-day",
            "unlimited",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert list(summary["scenario"]) == [
        "today",
        "warn 10m, reach 80%, tests unlimited",
        "warn 1d, reach 80%, tests unlimited",
    ]
    curves = pd.read_csv(tmp_path / "curves.csv")
    assert len(curves) == 3 * 2 * 8
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "bands.csv").exists()
    assert "runs of 1,000 people" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--warning-delay", "-1d"], "warning_delay"),
        (["--reach", "1.5"], "reach"),
        (["--tests-per-day", "lots"], "tests_per_day"),
        (["--people", "50"], "people"),
        (["--days", "0"], "days"),
        (["--seeds", "0"], "seeds"),
        (["--interval", "2"], "interval"),
    ],
)
def test_cli_refuses_bad_values_with_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["scenario", *args, "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert f"error: {message}" in result.output


# --- console page ------------------------------------------------------------------------------

SMALL = {
    "warning_delay": "10m",
    "reach": "0.8",
    "tests_per_day": "unlimited",
    "people": "1000",
    "days": "15",
    "seed": "2",
    "run": "1",
}


def test_scenarios_page_compares_the_setting_with_today(live: LiveService) -> None:  # noqa: F811
    with live.client("analyst") as c:
        form = c.get(PAGE, headers=HTML)
        assert form.status_code == 200
        assert 'name="warning_delay" value="10m"' in form.text
        assert 'id="outcomes"' not in form.text  # nothing runs until asked
        r = c.get(PAGE, params=SMALL, headers=HTML)
        assert r.status_code == 200, r.text
        assert 'id="outcomes"' in r.text
        assert "warn 10m, reach 80%, tests unlimited" in r.text
        assert 'src="/static/plotly.min.js"' in r.text
        for key in ("infections", "cumulative", "isolation", "quarantine"):
            assert f'id="{key}-data"' in r.text
        daily = scenario.simulate(
            Response(warning_delay=600, reach=0.8), people=1_000, days=15, seed=2
        )
        assert f"<td>{int(daily['cumulative_infections'].iloc[-1]):,}</td>" in r.text
        assert c.get(PAGE, params=SMALL, headers=HTML).text == r.text  # cached, deterministic


def test_scenarios_page_refuses_bad_input_naming_the_field(live: LiveService) -> None:  # noqa: F811
    with live.client("analyst") as c:
        for field, value in [
            ("warning_delay", "-1d"),
            ("warning_delay", "later"),
            ("reach", "1.5"),
            ("reach", "x"),
            ("tests_per_day", "-3"),
            ("people", "100"),
            ("people", "1000000"),
            ("days", "0"),
            ("days", "400"),
            ("seed", "-1"),
        ]:
            r = c.get(PAGE, params={**SMALL, field: value}, headers=HTML)
            assert r.status_code == 400, (field, value)
            assert f"{field}:" in r.text, (field, value)
            assert 'id="outcomes"' not in r.text
        assert c.get(PAGE, params={"reach": "1" * 40}).status_code == 422


def test_only_analysts_reach_the_scenarios_page(live: LiveService) -> None:  # noqa: F811
    for role in ("citizen",):
        with live.client(role) as c:
            assert c.get(PAGE, headers=HTML).status_code == 403, role
    with live.client() as c:
        assert c.get(PAGE).status_code == 401


def test_curve_figure_has_one_line_per_run() -> None:
    a = run(Response(), seed=1, days=10)
    b = run(FAST, seed=1, days=10)
    fig = curve_figure({"today": a, "fast": b}, "in_quarantine", "t", "people")
    assert [t.name for t in fig.data] == ["today", "fast"]
    assert list(fig.data[1].y) == b["in_quarantine"].tolist()
