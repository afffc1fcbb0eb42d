"""Benchmark: rolling-origin evaluation of the forecasts on the real Korean series.

Series (from `--real`, default ../shared/data/real):

- Korea and Seoul daily new confirmed (``korea_timeseries/korea_seoul_daily_confirmed.csv``);
  rows from 2023-09-01 on are artefacts of the source (SOURCES.md) and are dropped, though
  only 2020-2021 is used. Weekly origins (Sundays): the **development** period 2020-03-29 to
  2020-12-27 is where the model's settings were chosen; the **test** period 2021-01-03 to
  2021-12-26 was held out (scored once, with the settings frozen).
- The 17 provinces of DS4C ``TimeProvince.csv`` (cumulative, differenced to daily; the two
  negative differences, reclassified cases, become 0): every origin with 28 days of history,
  2020-02-17 to 2020-05-30 (horizons past 2020-05-31 have no truth and are not scored).
  The settings were not tuned on them (Seoul's spring 2020 overlaps the development period).

For every series, origin and horizon 1-14 it scores the renewal model, the ensemble (mean of
the renewal and baseline quantiles) and the Forecast Hub baseline: WIS, relative WIS (ratio
of mean WIS over the same targets), 50%/95% coverage. It prints the table and writes to
`--out` (default docs/analytics/): ``forecast_summary.csv`` (by series group and horizon
band), ``forecast_by_horizon.csv``, ``forecast_by_province.csv``,
``forecast_relative_wis.png`` and ``forecast_examples.png``.

Usage:
    python bench/forecast.py [--real DIR] [--out DIR] [--seed 0]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from rich.console import Console
from rich.table import Table

from epicity.analytics.forecast import baseline_forecast, evaluate, forecast, relative_wis
from epicity.cliutil import bar_per_label, progress_bar

REPO = Path(__file__).resolve().parents[1]
REAL = REPO.parent / "shared" / "data" / "real"
console = Console(width=150)

DEV = pd.date_range("2020-03-29", "2020-12-27", freq="7D")
TEST = pd.date_range("2021-01-03", "2021-12-26", freq="7D")
PROVINCE_ORIGINS = pd.date_range("2020-02-17", "2020-05-30", freq="D")
# The source's reporting ended on 2023-08-31; later rows are artefacts (SOURCES.md).
ARTEFACTS_FROM = pd.Timestamp("2023-09-01")


def korea_series(root: Path) -> dict[str, pd.DataFrame]:
    """Korea and Seoul daily new confirmed, as date,cases frames (artefact rows dropped)."""
    raw = pd.read_csv(root / "korea_timeseries" / "korea_seoul_daily_confirmed.csv")
    raw["date"] = pd.to_datetime(raw["date"])
    raw = raw[raw["date"] < ARTEFACTS_FROM]
    out = {}
    for name, column in (("Korea", "korea_new_confirmed"), ("Seoul", "seoul_new_confirmed")):
        series = raw[["date", column]].dropna().rename(columns={column: "cases"})
        series["cases"] = series["cases"].clip(lower=0).astype("int64")
        out[name] = series.reset_index(drop=True)
    return out


def province_series(root: Path) -> tuple[pd.DataFrame, int]:
    """DS4C provinces' daily confirmed (date, province, cases) and how many negatives were 0'd."""
    raw = pd.read_csv(root / "ds4c" / "TimeProvince.csv", parse_dates=["date"])
    raw = raw.sort_values(["province", "date"])
    raw["cases"] = raw.groupby("province")["confirmed"].diff()
    daily = raw.dropna(subset=["cases"])
    negatives = int((daily["cases"] < 0).sum())
    daily = daily.assign(cases=daily["cases"].clip(lower=0).astype("int64"))
    return daily[["date", "province", "cases"]].reset_index(drop=True), negatives


def band(h: pd.Series) -> pd.Series:
    return pd.cut(h, [0, 7, 14], labels=["1-7", "8-14"]).astype(str)


def show(title: str, table: pd.DataFrame) -> None:
    t = Table(title=title, title_justify="left")
    for c in table.columns:
        t.add_column(c, justify="left" if c in ("series", "band", "model") else "right")
    for row in table.itertuples(index=False):
        t.add_row(*[f"{v:.3f}" if isinstance(v, float) else str(v) for v in row])
    console.print(t)


def examples_figure(
    series: dict[str, pd.DataFrame], picks: list[tuple[str, str]], seed: int
) -> Figure:
    """The ensemble's median and 50%/95% intervals from a few origins, against the truth."""
    fig = Figure(figsize=(11, 7), layout="constrained")
    axes = fig.subplots(2, 2)
    for ax, (name, origin) in zip(axes.ravel(), picks, strict=True):
        s = series[name]
        when = pd.Timestamp(origin)
        history = s[s["date"] <= when]
        fc = forecast(history, horizon=14, seed=seed)
        base = baseline_forecast(history, horizon=14, seed=seed)
        wide = fc.pivot(index="target_end_date", columns="quantile", values="value")
        bwide = base.pivot(index="target_end_date", columns="quantile", values="value")
        shown = s[(s["date"] > when - pd.Timedelta(days=35)) & (s["date"] <= wide.index.max())]
        ax.fill_between(
            wide.index, wide[0.025], wide[0.975], color="#0072B2", alpha=0.18, label="ensemble 95%"
        )
        ax.fill_between(
            wide.index, wide[0.25], wide[0.75], color="#0072B2", alpha=0.35, label="ensemble 50%"
        )
        ax.plot(wide.index, wide[0.5], color="#0072B2", label="ensemble median")
        ax.plot(bwide.index, bwide[0.025], color="#E69F00", ls=":", label="baseline 95%")
        ax.plot(bwide.index, bwide[0.975], color="#E69F00", ls=":")
        ax.plot(shown["date"], shown["cases"], "k.-", ms=3, lw=0.7, label="observed")
        ax.axvline(when, color="grey", lw=0.8)
        ax.set_title(f"{name}, forecast from {when.date()}")
        ax.set_ylabel("daily confirmed")
        ax.tick_params(axis="x", labelrotation=30)
    axes[0, 0].legend(fontsize=7, loc="upper left")
    return fig


def horizon_figure(by_h: pd.DataFrame) -> Figure:
    """Relative WIS by horizon, per series group, for the renewal model and the ensemble."""
    fig = Figure(figsize=(9, 4.5), layout="constrained")
    ax = fig.subplots()
    colours = {
        "Korea+Seoul 2021 (test)": "#0072B2",
        "Korea+Seoul 2020 (dev)": "#009E73",
        "17 provinces spring 2020": "#D55E00",
    }
    for group, colour in colours.items():
        for model, style in (("ensemble", "-"), ("renewal", "--")):
            part = by_h[(by_h["group"] == group) & (by_h["model"] == model)]
            ax.plot(
                part["horizon"],
                part["relative_wis"],
                style,
                color=colour,
                marker="o",
                ms=3,
                label=f"{group}, {model}",
            )
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.axhline(0.8, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("horizon (days)")
    ax.set_ylabel("relative WIS (vs Forecast Hub baseline)")
    ax.set_xticks(range(1, 15))
    ax.legend(fontsize=7, ncols=2)
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--real", type=Path, default=REAL)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "analytics")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    korea = korea_series(args.real)
    provinces, negatives = province_series(args.real)
    console.print(f"provinces: {negatives} negative daily differences set to 0")
    scores = []
    started = time.perf_counter()
    with progress_bar(console) as bar:
        progress = bar_per_label(bar)

        def reporter(label: str) -> Callable[[int, int], None]:
            return lambda done, total: progress(label, done, total)

        for name, s in korea.items():
            for period, origins in (("dev", DEV), ("test", TEST)):
                sc = evaluate(s, origins, seed=args.seed, progress=reporter(f"{name} {period}"))
                scores.append(sc.assign(series=name, period=period, location=name))
        sc = evaluate(
            provinces, PROVINCE_ORIGINS, by="province", seed=args.seed,
            progress=reporter("provinces"),
        )  # fmt: skip
        scores.append(sc.assign(series="provinces", period="spring 2020"))
    seconds = time.perf_counter() - started
    all_scores = pd.concat(scores, ignore_index=True)
    all_scores["band"] = band(all_scores["horizon"])
    all_scores["group"] = np.where(
        all_scores["series"] == "provinces",
        "17 provinces spring 2020",
        np.where(
            all_scores["period"] == "test", "Korea+Seoul 2021 (test)", "Korea+Seoul 2020 (dev)"
        ),
    )

    rows = []
    for (series, period), part in all_scores.groupby(["series", "period"], sort=False):
        for b in ("1-7", "8-14", "1-14"):
            chosen = part if b == "1-14" else part[part["band"] == b]
            summary = relative_wis(chosen)
            rows.append(summary.assign(series=series, period=period, band=b))
    table = pd.concat(rows, ignore_index=True)
    table = table[
        [
            "series",
            "period",
            "band",
            "model",
            "n",
            "wis",
            "relative_wis",
            "coverage_50",
            "coverage_95",
        ]
    ]
    table.to_csv(args.out / "forecast_summary.csv", index=False, float_format="%.4f")
    show(f"Forecast evaluation ({seconds:.0f} s)", table[table["model"] != "baseline"])

    by_h = relative_wis(all_scores, group=["group", "horizon"])
    by_h.to_csv(args.out / "forecast_by_horizon.csv", index=False, float_format="%.4f")
    prov = all_scores[all_scores["series"] == "provinces"]
    by_p = relative_wis(prov, group=["location"])
    by_p.to_csv(args.out / "forecast_by_province.csv", index=False, float_format="%.4f")
    show("Provinces (1-14 days)", by_p[by_p["model"] == "ensemble"].drop(columns="ae_median"))

    horizon_figure(by_h).savefig(args.out / "forecast_relative_wis.png", dpi=110)
    series = {
        **korea,
        "Daegu": provinces[provinces["province"] == "Daegu"].drop(columns="province"),
    }
    picks = [
        ("Korea", "2021-07-04"),
        ("Seoul", "2021-03-07"),
        ("Korea", "2021-12-12"),
        ("Daegu", "2020-03-08"),
    ]
    examples_figure(series, picks, args.seed).savefig(args.out / "forecast_examples.png", dpi=110)
    console.print(f"wrote {args.out}/forecast_*.csv and .png")


if __name__ == "__main__":
    main()
