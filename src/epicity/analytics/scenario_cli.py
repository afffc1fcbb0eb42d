"""`epicity analytics scenario`: the synthetic city's outbreak under response settings.

Runs every combination of the warning delays, reaches and testing capacities given (plus
today's model unless ``--no-baseline``) for ``--seeds`` seeds, and writes to ``--out``:
`curves.csv` (every run's daily counts), `bands.csv` (median and interval across seeds per
day), `summary.csv` (outcomes per setting) and `curves.png`.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from matplotlib.figure import Figure
from rich.console import Console
from rich.table import Table

from epicity.analytics import scenario
from epicity.analytics.errors import AnalyticsError
from epicity.cliutil import fail, progress_bar

__all__ = ["PANELS", "parse_reach", "parse_tests", "scenario_command", "write_png"]

# (curve, title) of the PNG's panels
PANELS = (
    ("new_infections", "New infections per day"),
    ("cumulative_infections", "Infections so far (seeds included)"),
    ("in_isolation", "Confirmed cases in isolation"),
    ("in_quarantine", "Contacts in quarantine"),
)
COLOURS = ("#000000", "#0072B2", "#D55E00", "#009E73", "#E69F00", "#CC79A7", "#56B4E9")
STYLES = ("-", "--", ":", "-.")


def parse_reach(text: str) -> float | None:
    """A share of contacts reached in [0, 1] ('today': the per-setting chances).

    Example:
        >>> parse_reach("0.8"), parse_reach("today")
        (0.8, None)
    """
    if text.strip().lower() == "today":
        return None
    try:
        value = float(text)
    except ValueError:
        raise AnalyticsError(
            f"reach: expected a share from 0 to 1 or 'today', got {text!r}"
        ) from None
    if not (math.isfinite(value) and 0 <= value <= 1):
        raise AnalyticsError(f"reach: must be a share between 0 and 1, got {text!r}")
    return value


def parse_tests(text: str) -> int | None:
    """Tests a day: a whole number >= 0, or 'unlimited'.

    Example:
        >>> parse_tests("200"), parse_tests("unlimited")
        (200, None)
    """
    if text.strip().lower() in ("unlimited", "none", "inf"):
        return None
    clean = text.strip().replace(",", "").replace("_", "")
    if not clean.isdigit():
        raise AnalyticsError(
            f"tests_per_day: expected a whole number >= 0 or 'unlimited', got {text!r}"
        )
    return int(clean)


def write_png(curves: pd.DataFrame, path: Path, *, interval: float = 0.8, title: str = "") -> None:
    """Four panels of daily curves: each setting's median across seeds and its interval."""
    bands = scenario.curve_bands(curves, [c for c, _ in PANELS], interval=interval)
    names = list(dict.fromkeys(curves["scenario"]))
    fig = Figure(figsize=(13, 9), layout="constrained")
    axes = fig.subplots(2, 2, sharex=True).ravel()
    for ax, (column, panel_title) in zip(axes, PANELS, strict=True):
        part = bands[bands["column"] == column]
        for i, name in enumerate(names):
            s = part[part["scenario"] == name]
            colour = COLOURS[i % len(COLOURS)]
            style = STYLES[(i // len(COLOURS)) % len(STYLES)]
            ax.plot(s["day"], s["median"], style, color=colour, label=name, lw=1.6)
            ax.fill_between(s["day"], s["lo"], s["hi"], color=colour, alpha=0.12, lw=0)
        ax.set_title(panel_title)
        ax.grid(alpha=0.3)
        ax.set_ylim(bottom=0)
    for ax in axes[2:]:
        ax.set_xlabel("day")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(3, len(names)), fontsize=8)
    seeds = curves["seed"].nunique()
    fig.suptitle(
        (title + "\n" if title else "")
        + f"median of {seeds} seeds, band: central {interval:.0%} across seeds"
    )
    fig.savefig(path, dpi=100)


def _table(summary: pd.DataFrame) -> Table:
    table = Table(title="Outcomes per setting: median \\[interval] across seeds")
    for column in (
        "setting",
        "infections",
        "confirmed",
        "peak isolated",
        "peak quarantined",
        "quarantine person-days",
        "tests",
    ):
        table.add_column(column, justify="left" if column == "setting" else "right")

    def cell(row: pd.Series, column: str) -> str:
        return f"{row[column]:,.0f} [{row[column + '_lo']:,.0f}-{row[column + '_hi']:,.0f}]"

    for _, row in summary.iterrows():
        table.add_row(
            str(row["scenario"]),
            cell(row, "infections"),
            cell(row, "confirmed"),
            cell(row, "peak_isolated"),
            cell(row, "peak_quarantined"),
            cell(row, "quarantine_person_days"),
            cell(row, "tests"),
        )
    return table


def scenario_command(
    people: Annotated[int, typer.Option("--people", help="Residents of the city.")] = 20_000,
    days: Annotated[int, typer.Option("--days", help="Days simulated.")] = 60,
    seeds: Annotated[int, typer.Option("--seeds", help="Seeds per setting.")] = 5,
    warning_delay: Annotated[
        list[str] | None,
        typer.Option(
            "--warning-delay",
            help="From a positive result to the contacts' warning: 1d, 10m, 6h, a number of "
            "hours, or 'none' (today: tested 1-2 days later, no quarantine). Repeat for several.",
        ),
    ] = None,
    reach: Annotated[
        list[str] | None,
        typer.Option(
            "--reach",
            help="Share of contacts reached, 0-1, or 'today' (per-setting). Repeat for several.",
        ),
    ] = None,
    tests_per_day: Annotated[
        list[str] | None,
        typer.Option(
            "--tests-per-day",
            help="Tests the city takes a day, or 'unlimited'. Repeat for several.",
        ),
    ] = None,
    transmission: Annotated[
        float, typer.Option("--transmission", help="Multiplies every transmission rate.")
    ] = 1.0,
    baseline: Annotated[
        bool,
        typer.Option("--baseline/--no-baseline", help="Also run today's model (the default)."),
    ] = True,
    interval: Annotated[
        float, typer.Option("--interval", help="Central share of seeds in the interval.")
    ] = 0.8,
    jobs: Annotated[int, typer.Option("--jobs", help="Worker processes.")] = 1,
    out: Annotated[Path, typer.Option("--out", help="Output directory.")] = Path("var/scenarios"),
) -> None:
    """Compare response settings on the synthetic city's outbreak: curves and outcomes."""
    console = Console()
    try:
        delays = [scenario.parse_delay(t) for t in (warning_delay or ["1d", "10m"])]
        reaches = [parse_reach(t) for t in (reach or ["0.8"])]
        capacities = [parse_tests(t) for t in (tests_per_day or ["unlimited"])]
        settings = scenario.response_grid(delays, reaches, capacities, include_today=baseline)
        if not 0 < interval < 1:
            raise AnalyticsError(f"interval: must be between 0 and 1 (exclusive), got {interval}")
        out.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        with progress_bar() as bar:
            task = bar.add_task("simulating runs", total=len(settings) * seeds)

            def tick(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            curves, timing = scenario.run_scenarios(
                settings,
                people=people,
                days=days,
                seeds=seeds,
                transmission=transmission,
                jobs=jobs,
                progress=tick,
            )
        wall = time.perf_counter() - t0
        summary = scenario.summarise(curves, interval=interval)
        bands = scenario.curve_bands(curves, interval=interval)
    except AnalyticsError as err:
        raise fail(str(err)) from None
    except OSError as err:
        raise fail(f"out: cannot write to {out}: {err}") from None
    curves.to_csv(out / "curves.csv", index=False)
    bands.to_csv(out / "bands.csv", index=False)
    summary.to_csv(out / "summary.csv", index=False, float_format="%.6g")
    write_png(
        curves,
        out / "curves.png",
        interval=interval,
        title=f"Synthetic city of {people:,} people, {days} days",
    )
    console.print(_table(summary))
    per_run = sorted(t.seconds for t in timing)
    console.print(
        f"{len(timing)} runs of {people:,} people x {days} days: median "
        f"{per_run[len(per_run) // 2]:.1f} s per run, {wall:.1f} s in all ({jobs} job(s)). "
        f"Wrote curves.csv, bands.csv, summary.csv, curves.png to {out}",
        markup=False,
        highlight=False,
    )
