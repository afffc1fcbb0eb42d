"""`epicity analytics forecast`: quantile forecasts 1-14 days ahead, as CSV (and PNG).

The cases come from a ``date,cases`` CSV (with a ``district`` column, or the one named by
``--by``, for one forecast per district), checked line by line. The forecasts are written in
the Forecast Hub's long format with a ``model`` column (``ensemble`` or ``renewal``, plus
``baseline`` with ``--baseline``); ``--png`` draws a fan chart per location.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from matplotlib.figure import Figure
from rich.console import Console

from epicity.analytics.data import read_incidence_csv
from epicity.analytics.errors import AnalyticsError
from epicity.analytics.forecast import Method, baseline_forecast, forecast
from epicity.cliutil import fail, progress_bar

__all__ = ["fan_chart", "forecast_command"]

# Panels drawn at most in one PNG (the CSV has every location).
MAX_PANELS = 12


def fan_chart(
    incidence: pd.DataFrame, forecasts: pd.DataFrame, *, by: str | None = None, days: int = 42
) -> Figure:
    """History (last `days` days) and each location's median with 50%/95% intervals.

    Args:
        incidence: ``date``, ``cases`` (and `by`).
        forecasts: long format with a ``model`` column; the first model listed is drawn as a
            fan, ``baseline`` (when present) as dotted 95% bounds.
        by: the grouping column of `incidence` (the forecasts' ``location``).
        days: days of history shown.
    """
    keys = sorted(forecasts["location"].unique())[:MAX_PANELS] if by else [None]
    cols = min(3, len(keys))
    rows = -(-len(keys) // cols)
    fig = Figure(figsize=(4.2 * cols, 3.2 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    main = next(m for m in forecasts["model"].unique() if m != "baseline")
    for ax, key in zip(axes, keys, strict=False):
        hist = incidence if key is None else incidence[incidence[by] == key]
        fc = forecasts if key is None else forecasts[forecasts["location"] == key]
        hist = hist[hist["date"] > hist["date"].max() - pd.Timedelta(days=days)]
        wide = fc[fc["model"] == main].pivot(
            index="target_end_date", columns="quantile", values="value"
        )
        ax.plot(hist["date"], hist["cases"], "k.-", ms=3, lw=0.7, label="observed")
        ax.fill_between(wide.index, wide[0.025], wide[0.975], color="#0072B2", alpha=0.18)
        ax.fill_between(wide.index, wide[0.25], wide[0.75], color="#0072B2", alpha=0.35)
        ax.plot(wide.index, wide[0.5], color="#0072B2", label=f"{main} median, 50%, 95%")
        if "baseline" in set(fc["model"]):
            base = fc[fc["model"] == "baseline"].pivot(
                index="target_end_date", columns="quantile", values="value"
            )
            ax.plot(base.index, base[0.5], color="#E69F00", lw=0.8, label="baseline median, 95%")
            ax.plot(base.index, base[0.025], color="#E69F00", ls=":", lw=0.8)
            ax.plot(base.index, base[0.975], color="#E69F00", ls=":", lw=0.8)
        ax.set_title(str(key) if key is not None else "all cases")
        ax.set_ylabel("cases per day")
        ax.tick_params(axis="x", labelrotation=30, labelsize=7)
    for ax in axes[len(keys) :]:
        ax.set_visible(False)
    axes[0].legend(fontsize=7, loc="upper left")
    return fig


def forecast_command(
    cases: Annotated[
        Path,
        typer.Option(
            "--cases", help="CSV with date,cases (and a district column with --by district)."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Forecast CSV to write (Hub long format).")],
    horizon: Annotated[int, typer.Option("--horizon", help="Days ahead (1-28).")] = 14,
    png: Annotated[
        Path | None, typer.Option("--png", help="Also draw the fan chart(s) to this PNG.")
    ] = None,
    by: Annotated[
        str | None,
        typer.Option("--by", help="Grouping column (e.g. district): one forecast per value."),
    ] = None,
    location: Annotated[
        list[str] | None,
        typer.Option("--location", help="Only this value of --by (repeatable)."),
    ] = None,
    method: Annotated[
        str, typer.Option("--method", help="ensemble (renewal + baseline) or renewal.")
    ] = "ensemble",
    baseline: Annotated[
        bool, typer.Option("--baseline", help="Also write the Forecast Hub baseline.")
    ] = False,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the sample paths.")] = 0,
) -> None:
    """Forecast daily cases 1 to --horizon days ahead, as the Forecast Hub's 23 quantiles."""
    try:
        if location and not by:
            raise AnalyticsError("--location: only with --by (e.g. --by district)")
        if method not in ("ensemble", "renewal"):
            raise AnalyticsError(f"--method: must be ensemble or renewal (got {method!r})")
        chosen_method: Method = "renewal" if method == "renewal" else "ensemble"
        incidence = read_incidence_csv(cases, by=by)
        incidence = incidence[["date", *([by] if by else []), "cases"]]
        keys = list(location) if location else None
        groups = [None] if not by else (keys or sorted(incidence[by].unique()))
        parts = []
        with progress_bar() as bar:
            task = bar.add_task("forecasting", total=len(groups))
            for key in groups:
                chosen = None if key is None else [key]
                fc = forecast(
                    incidence,
                    horizon=horizon,
                    by=by,
                    locations=chosen,
                    method=chosen_method,
                    seed=seed,
                )
                parts.append(fc.assign(model=method))
                if baseline:
                    base = baseline_forecast(
                        incidence, horizon=horizon, by=by, locations=chosen, seed=seed
                    )
                    parts.append(base.assign(model="baseline"))
                bar.advance(task)
    except AnalyticsError as exc:
        raise fail(str(exc)) from None
    result = pd.concat(parts, ignore_index=True)
    first = ["location"] if by else []
    result = result[
        [*first, "model", "forecast_date", "target_end_date", "horizon", "quantile", "value"]
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    result.to_csv(out, index=False, date_format="%Y-%m-%d", float_format="%.6g")
    console = Console(stderr=True)
    console.print(f"wrote {len(result):,} rows to {out}")
    if png is not None:
        png.parent.mkdir(parents=True, exist_ok=True)
        fan_chart(incidence, result, by=by).savefig(png, dpi=110)
        console.print(f"wrote {png}")
