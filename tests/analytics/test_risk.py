"""Attack rates, secondary attack rates and their intervals (epicity.analytics.risk), the
`epicity analytics risk` command and the console page."""

from __future__ import annotations

import csv
import datetime as dt
from collections import Counter
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session
from tests.web.conftest import LiveService, live  # noqa: F401  (the live service fixture)
from typer.testing import CliRunner

from epicity.analytics import risk
from epicity.analytics.data import cases_frame
from epicity.analytics.errors import AnalyticsError, NotEnoughData
from epicity.analytics.risk_pages import rate_figure
from epicity.city.generate import CityConfig, generate_city
from epicity.cli import app as cli_app

CITY = CityConfig(people=3_000, days=10, seed=5, seed_infections=30, transmission=2.0)


@pytest.fixture(scope="module")
def city_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("risk_city")
    generate_city(out, CITY)
    return out


def _counts(**columns: list[object]) -> pd.DataFrame:
    return pd.DataFrame(columns)


# --------------------------------------------------------------------------------------------
# Intervals: published values, then invariants


def test_wilson_and_clopper_pearson_match_newcombe_1998() -> None:
    # Newcombe, Stat Med 17:857 (1998), Table I: 81/263 (methods 3 and 5) and 0/20.
    low, high = risk.proportion_ci([81, 0], [263, 20])
    assert np.round(low, 4).tolist() == [0.2553, 0.0]
    assert np.round(high, 4).tolist() == [0.3662, 0.1611]
    low, high = risk.proportion_ci([81, 0], [263, 20], method="clopper-pearson")
    assert np.round(low, 4).tolist() == [0.2527, 0.0]
    assert np.round(high, 4).tolist() == [0.3676, 0.1684]


def test_rate_ratio_log_interval_is_katz() -> None:
    rr, low, high = risk.rate_ratios([30, 10, 0], [100, 100, 50], reference=1)
    se = np.sqrt(1 / 30 - 1 / 100 + 1 / 10 - 1 / 100)
    assert rr[0] == pytest.approx(3.0)
    assert low[0] == pytest.approx(3.0 * np.exp(-1.959964 * se), rel=1e-6)
    assert high[0] == pytest.approx(3.0 * np.exp(1.959964 * se), rel=1e-6)
    assert rr[2] == 0.0
    assert np.isnan(low[2])
    assert np.isnan(high[2])


def test_poisson_interval_is_garwood() -> None:
    low, high = risk.poisson_ci([0, 5], [10.0, 10.0])
    assert low[0] == 0.0
    assert high[0] == pytest.approx(0.3689, abs=1e-4)
    assert low[1] == pytest.approx(0.16235, abs=1e-4)
    assert high[1] == pytest.approx(1.16683, abs=1e-4)


@st.composite
def _k_n(draw: st.DrawFn) -> tuple[int, int]:
    n = draw(st.integers(1, 10**7))
    return draw(st.integers(0, n)), n


@given(
    _k_n(),
    st.sampled_from(risk.METHODS),
    st.floats(0.5, 0.999),
)
@settings(max_examples=300, deadline=None)
def test_proportion_ci_contains_the_estimate_inside_0_1(
    kn: tuple[int, int], method: risk.Method, level: float
) -> None:
    k, n = kn
    low, high = risk.proportion_ci([k], [n], method=method, level=level)
    assert 0.0 <= low[0] <= k / n <= high[0] <= 1.0


@given(st.lists(_k_n(), min_size=1, max_size=12))
@settings(max_examples=150, deadline=None)
def test_attack_rates_are_proportions_with_intervals_and_ratios(
    pairs: list[tuple[int, int]],
) -> None:
    table = risk.attack_rates(
        _counts(
            group=[f"g{i}" for i in range(len(pairs))],
            cases=[k for k, _ in pairs],
            population=[n for _, n in pairs],
        )
    )
    assert ((table["rate"] >= 0) & (table["rate"] <= 1)).all()
    assert (table["ci_low"] <= table["rate"]).all()
    assert (table["rate"] <= table["ci_high"]).all()
    assert table["reference"].sum() == 1
    ref = table[table["reference"]].iloc[0]
    if ref["numerator"] > 0:
        assert ref["rr"] == pytest.approx(1.0)
    ok = table["rr_low"].notna()
    assert (table.loc[ok, "rr_low"] <= table.loc[ok, "rr"] * (1 + 1e-12)).all()
    assert (table.loc[ok, "rr"] <= table.loc[ok, "rr_high"] * (1 + 1e-12)).all()
    assert (
        table["small"] == (table["numerator"] < risk.SMALL_COUNT) | (table["denominator"] < 30)
    ).all()


def test_clopper_pearson_is_wider_than_wilson_away_from_the_edges() -> None:
    k, n = np.arange(1, 50), np.full(49, 50)
    w = risk.proportion_ci(k, n)
    cp = risk.proportion_ci(k, n, method="clopper-pearson")
    assert ((cp[1] - cp[0]) > (w[1] - w[0])).all()


# --------------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize(
    ("frame", "kwargs", "message"),
    [
        (_counts(group=["a"], cases=[1]), {}, "missing column 'population'"),
        (
            _counts(group=["a", "b"], cases=[-3, 1], population=[10, 10]),
            {},
            "negative count -3 in cases for a",
        ),
        (
            _counts(group=["a"], cases=[11], population=[10]),
            {},
            "cases 11 exceeds population 10 for a",
        ),
        (_counts(group=["a"], cases=[float("nan")], population=[10]), {}, "cases is not a number"),
        (_counts(group=["a"], cases=[1.5], population=[10]), {}, "whole count"),
        (
            _counts(group=["a", "a"], cases=[1, 2], population=[10, 10]),
            {},
            "'a' appears more than once",
        ),
        (
            _counts(group=["a"], cases=[1], population=[10]),
            {"reference": "z"},
            "reference: unknown group 'z'",
        ),
        (
            _counts(group=["a"], cases=[1], population=[10]),
            {"method": "exact"},
            "method: must be one of",
        ),
        (
            _counts(group=["a"], cases=[1], population=[10]),
            {"level": 1.5},
            "level: must be between",
        ),
    ],
)
def test_attack_rates_refuse_bad_input_naming_the_field(
    frame: pd.DataFrame, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(AnalyticsError, match=message):
        risk.attack_rates(frame, **kwargs)  # type: ignore[arg-type]


def test_empty_counts_are_not_enough_data() -> None:
    with pytest.raises(NotEnoughData):
        risk.attack_rates(_counts(group=[], cases=[], population=[]))


def test_case_rates_refuse_an_unknown_district_and_bad_columns() -> None:
    cases = pd.DataFrame(
        {
            "district": ["Guro-gu"],
            "age_group": ["30s"],
            "confirmed_date": [pd.Timestamp("2020-03-01")],
        }
    )
    with pytest.raises(AnalyticsError, match="unknown district 'Atlantis-gu'"):
        risk.case_attack_rates(cases, by="district", districts=["Guro-gu", "Atlantis-gu"])
    with pytest.raises(AnalyticsError, match="missing column 'confirmed_date'"):
        risk.case_attack_rates(cases.drop(columns="confirmed_date"), by="district")
    with pytest.raises(AnalyticsError, match="by: must be"):
        risk.case_attack_rates(cases, by="sex")  # type: ignore[arg-type]
    bad_pop = pd.DataFrame({"group": ["30s"], "population": [-5]})
    with pytest.raises(AnalyticsError, match="negative count -5 in population for 30s"):
        risk.case_attack_rates(cases, by="age_group", population=bad_pop)
    with pytest.raises(NotEnoughData):
        risk.case_attack_rates(cases.assign(confirmed_date=pd.NaT), by="district")


def test_open_city_names_what_is_missing(tmp_path: Path, city_dir: Path) -> None:
    with (
        pytest.raises(AnalyticsError, match="is not a directory"),
        risk.open_city(tmp_path / "none"),
    ):
        pass
    with pytest.raises(AnalyticsError, match=r"city\.json"), risk.open_city(tmp_path):
        pass
    (tmp_path / "city.json").write_text((city_dir / "city.json").read_text())
    with (
        pytest.raises(AnalyticsError, match=r"people\.parquet not found"),
        risk.open_city(tmp_path),
    ):
        pass


# --------------------------------------------------------------------------------------------
# The synthetic city: totals checked against the files, numbers guarded by a fixed seed


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


def test_city_attack_rates_add_up_to_the_files(city_dir: Path) -> None:
    con = duckdb.connect()
    infections = f"read_parquet('{city_dir}/truth/infections.parquet')"
    infected = _scalar(con, f"SELECT count(*) FROM {infections} WHERE setting <> 'seed'")
    seeds = _scalar(con, f"SELECT count(*) FROM {infections} WHERE setting = 'seed'")
    confirmed = _scalar(con, f"SELECT count(*) FROM read_parquet('{city_dir}/cases.parquet')")
    with risk.open_city(city_dir) as city:
        for by in ("age", "household_size", "district"):
            t = risk.city_attack_rates(city, by)
            truth, seen = t[t["source"] == "truth"], t[t["source"] == "confirmed"]
            assert truth["numerator"].sum() == infected, by
            assert truth["denominator"].sum() == CITY.people - seeds, by
            assert seen["numerator"].sum() == confirmed, by
            assert seen["denominator"].sum() == CITY.people, by
        ages = risk.city_attack_rates(city, "age")
    assert ages["group"].tolist()[:3] == ["0s", "10s", "20s"]
    # The department sees fewer than there are: in every band, confirmed <= true infections.
    truth = ages[ages["source"] == "truth"].set_index("group")["numerator"]
    seen = ages[ages["source"] == "confirmed"].set_index("group")["numerator"]
    assert (seen <= truth + seeds).all()


def test_city_risk_tables_regression(city_dir: Path) -> None:
    """Fixed seed (CITY): the numbers as computed when this test was written."""
    with risk.open_city(city_dir) as city:
        ages = risk.city_attack_rates(city, "age")
        hh = risk.household_sar(city, follow_up_days=3)
        venues = risk.venue_risk(city)
        settings_ = risk.setting_sar(city)
    truth = ages[ages["source"] == "truth"]
    assert truth["numerator"].tolist() == REGRESSION["age_truth"]
    assert ages[ages["source"] == "confirmed"]["numerator"].tolist() == REGRESSION["age_confirmed"]
    all_hh = hh[hh["group"] == "all"].set_index("source")
    assert all_hh["numerator"].to_dict() == REGRESSION["household_secondary"]
    assert all_hh["denominator"].to_dict() == REGRESSION["household_at_risk"]
    assert venues["group"].head(3).tolist() == REGRESSION["venue_top3"]
    assert venues["infected"].sum() == REGRESSION["venue_infected"]
    assert settings_.set_index("group").loc["home", "rate"] == pytest.approx(
        REGRESSION["home_sar"], abs=1e-4
    )


REGRESSION: dict[str, object] = {
    "age_truth": [19, 16, 16, 22, 29, 28, 4, 5, 4],
    "age_confirmed": [10, 9, 3, 9, 16, 16, 3, 3, 2],
    "household_secondary": {"truth": 60, "confirmed": 19},
    "household_at_risk": {"truth": 146, "confirmed": 42},
    "venue_top3": ["church", "restaurant", "karaoke"],
    "venue_infected": 143,
    "home_sar": 0.2909,
}


def test_venue_risk_ranks_by_rate_per_visitor_hour(city_dir: Path) -> None:
    with risk.open_city(city_dir) as city:
        v = risk.venue_risk(city)
        sar = risk.setting_sar(city)
    assert v["rank"].tolist() == list(range(1, len(v) + 1))
    assert v["per_1000_visitor_hours"].is_monotonic_decreasing
    assert (v["per_1000_visitor_hours_low"] <= v["per_1000_visitor_hours"]).all()
    assert (v["per_1000_visitor_hours"] <= v["per_1000_visitor_hours_high"]).all()
    assert v["share_of_infections"].sum() == pytest.approx(1.0)
    assert (v["visitors"] <= CITY.people).all()
    # Each secondary case by setting is an infection in that setting (with a known infector).
    by_setting = v.set_index("group")["infected"]
    for row in sar.itertuples():
        assert row.numerator <= by_setting.get(row.group, 0)
    assert sar["rate"].is_monotonic_decreasing


# --------------------------------------------------------------------------------------------
# DS4C (real data)


@pytest.mark.realdata
def test_ds4c_tables(real_data: Path) -> None:
    root = real_data / "ds4c"
    with (root / "PatientInfo.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    patients = risk.read_patient_info(root)
    assert len(patients) == len({r["patient_id"] for r in rows})

    ages = risk.ds4c_age_rates(root)
    with (root / "TimeAge.csv").open(newline="") as f:
        age_rows = list(csv.DictReader(f))
    last = max(r["date"] for r in age_rows)
    assert ages["numerator"].sum() == sum(
        int(r["confirmed"]) for r in age_rows if r["date"] == last
    )
    assert ages.set_index("group")["rate"].idxmax() == "20s"  # Shincheonji's young members

    seoul = risk.ds4c_district_rates(patients)
    n_seoul = sum(r["province"] == "Seoul" for r in rows)
    assert seoul["numerator"].sum() + seoul.attrs["excluded"] == n_seoul
    assert len(seoul) == 25

    offspring = risk.ds4c_offspring(patients)
    ids = {r["patient_id"] for r in rows}
    links = Counter(r["infected_by"] for r in rows if r["infected_by"] in ids)
    assert offspring.attrs["links"] == sum(links.values())
    assert offspring.attrs["with_secondary"] == len(links)
    assert offspring["cases"].sum() == len(ids)
    assert 0 < offspring.attrs["dispersion_k"] < 1  # superspreading: k well below 1

    settings_ = risk.ds4c_settings(root, patients)
    assert settings_.iloc[0]["setting"] == "religious gathering"
    places = settings_[settings_["rank"] > 0]
    assert places["cluster_cases"].is_monotonic_decreasing
    known = settings_["share"].notna()
    assert settings_.loc[known, "share"].sum() == pytest.approx(1.0)

    sar = risk.ds4c_contact_sar(patients, by="age")
    overall = sar[sar["group"] == "all"].iloc[0]
    assert 0 < overall["rate"] < 0.1
    assert overall["numerator"] == sar[sar["group"] != "all"]["numerator"].sum()


def test_infection_routes_as_settings() -> None:
    assert risk.infection_route_setting("Guro-gu Call Center") == "workplace"
    assert risk.infection_route_setting("Shincheonji Church") == "religious gathering"
    assert risk.infection_route_setting("Cheongdo Daenam Hospital") == "hospital / nursing home"
    assert risk.infection_route_setting(float("nan")) == "unknown"
    assert risk.infection_route_setting("overseas inflow") == "overseas inflow"


# --------------------------------------------------------------------------------------------
# The database's cases, the CLI and the page


def _seed(session: Session) -> None:
    from epicity.cases import service as cases

    rows = [
        ("Guro-gu", "30s", "confirmed", dt.date(2020, 3, 1)),
        ("Guro-gu", "30s", "confirmed", dt.date(2020, 3, 2)),
        ("Guro-gu", "90s", "confirmed", dt.date(2020, 3, 2)),
        ("Mapo-gu", "20s", "confirmed", dt.date(2020, 3, 3)),
        ("Daegu", "50s", "confirmed", dt.date(2020, 3, 3)),
        ("Mapo-gu", "20s", "suspected", None),
    ]
    for i, (district, age, status, confirmed) in enumerate(rows):
        cases.create_case(
            session, actor="test", external_ref=f"R{i}", status=status, district=district,
            age_group=age, confirmed_date=confirmed,
        )  # fmt: skip
    session.flush()


def test_case_attack_rates_from_the_database(session: Session) -> None:
    _seed(session)
    frame = cases_frame(session)
    by_district = risk.case_attack_rates(frame, by="district").set_index("group")
    assert by_district.loc["Guro-gu", "numerator"] == 3
    assert by_district.loc["Guro-gu", "denominator"] == 435_000
    assert by_district.loc["Mapo-gu", "numerator"] == 1
    assert by_district["numerator"].sum() == 4
    assert len(by_district) == 25
    t = risk.case_attack_rates(frame, by="district")
    assert t.attrs["excluded"] == 1  # Daegu is not a Seoul district
    ages = risk.case_attack_rates(frame, by="age_group").set_index("group")
    assert ages.loc["30s", "numerator"] == 2
    assert ages.loc["80+", "numerator"] == 1
    assert "approximate" in risk.case_attack_rates(frame, by="age_group").attrs["denominator"]


def test_cli_writes_tables_and_charts(city_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = CliRunner().invoke(
        cli_app, ["analytics", "risk", "--city", str(city_dir), "--out", str(out)]
    )
    assert r.exit_code == 0, r.output
    for name in ("city_age", "city_household_size", "household_sar", "setting_sar", "venue_risk"):
        assert (out / f"{name}.csv").stat().st_size > 0
        assert (out / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    table = pd.read_csv(out / "venue_risk.csv")
    assert "person_id" not in table.columns
    assert table["rank"].iloc[0] == 1


def test_cli_refuses_bad_input(tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(cli_app, ["analytics", "risk", "--out", str(tmp_path)])
    assert r.exit_code == 2
    assert "at least one of --city" in r.output
    r = runner.invoke(cli_app, ["analytics", "risk", "--city", str(tmp_path / "x")])
    assert r.exit_code == 2
    assert "does not exist" in r.output
    r = runner.invoke(
        cli_app, ["analytics", "risk", "--city", str(tmp_path), "--out", str(tmp_path)]
    )
    assert r.exit_code == 2
    assert "city.json" in r.output
    r = runner.invoke(cli_app, ["analytics", "risk", "--city", str(tmp_path), "--method", "x"])
    assert r.exit_code == 2
    assert "--method" in r.output


HTML = {"Accept": "text/html"}
PAGE = "/console/analytics/risk"


def test_risk_page_shows_rates_by_age_and_district(live: LiveService) -> None:  # noqa: F811
    with live.client("analyst") as c:
        empty = c.get(PAGE, headers=HTML)
        assert empty.status_code == 200
        assert 'id="empty"' in empty.text
    from epicity.db import session_scope

    with session_scope(live.app.state.sessions) as s:
        _seed(s)
    with live.client("analyst") as c:
        r = c.get(PAGE, headers=HTML)
        assert r.status_code == 200, r.text
        assert 'id="age-group-data"' in r.text
        assert 'id="district-data"' in r.text
        assert 'src="/static/plotly.min.js"' in r.text
        assert "<td>Guro-gu</td><td>3</td><td>435,000</td>" in r.text
        assert "fewer than 20 cases" in r.text  # every group here is small
        assert "1 confirmed case without a known Seoul district left out" in r.text
        assert "R0" not in r.text  # no case reference reaches the page
        cp = c.get(PAGE, params={"method": "clopper-pearson"}, headers=HTML)
        assert cp.status_code == 200
        assert "Clopper-Pearson" in cp.text
        bad = c.get(PAGE, params={"method": "exact"}, headers=HTML)
        assert bad.status_code == 400
        assert "method must be one of" in bad.text
    for role in ("citizen",):
        with live.client(role) as c:
            assert c.get(PAGE, headers=HTML).status_code == 403
    with live.client() as c:
        assert c.get(PAGE).status_code == 401


def test_rate_figure_has_error_bars() -> None:
    t = risk.attack_rates(_counts(group=["a", "b"], cases=[3, 40], population=[1000, 2000]))
    fig = rate_figure(t, "x")
    bar = fig.data[0]
    assert list(bar.x) == ["a", "b"]
    assert bar.y[1] == pytest.approx(2000.0)
    assert bar.error_y.array[0] == pytest.approx((t["ci_high"][0] - t["rate"][0]) * 1e5)
    assert list(bar.marker.color) == ["#9ecae1", "#0072B2"]
