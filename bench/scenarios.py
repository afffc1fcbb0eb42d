"""What does faster tracing buy us? The synthetic city's outbreak under response settings.

Runs today's model and the grid warning delay {1 day, 10 minutes} x contacts reached
{50%, 80%, 95%} x testing capacity {limited, ample} (`epicity.analytics.scenario`) for several
seeds, prints the table of outcomes (median and 10-90% interval across seeds) and writes to
``--out``: `scenarios_summary.csv`, `scenarios_ample.png` and `scenarios_limited.png` (the
curves; `epicity analytics scenario` also writes every run's daily counts).

    .venv/bin/python bench/scenarios.py --people 30000 --days 60 --seeds 10 --jobs 2
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from epicity.analytics import scenario
from epicity.analytics.scenario_cli import write_png
from epicity.city.outbreak import Response

DELAYS = (86_400.0, 600.0)
REACHES = (0.5, 0.8, 0.95)


def settings(limited: int) -> list[scenario.Setting]:
    """Today's model, no warning in the day-by-day model (tests 1-2 days after, reach 80%,
    unlimited tests: today's practice there), and the grid."""
    grid = scenario.response_grid(DELAYS, REACHES, [limited, None], include_today=True)
    no_warning = Response(warning_delay=None, reach=0.8)
    return [grid[0], scenario.Setting(scenario.setting_name(no_warning), no_warning), *grid[1:]]


def _cell(row: pd.Series, column: str) -> str:
    return f"{row[column]:,.0f} ({row[column + '_lo']:,.0f}-{row[column + '_hi']:,.0f})"


def main() -> None:
    """Run the grid, print the table and write the outputs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=30_000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--transmission", type=float, default=1.0)
    parser.add_argument(
        "--limited",
        type=int,
        default=None,
        help="tests a day of the limited capacity (default: 1 per 1,000 residents)",
    )
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("docs/analytics"))
    args = parser.parse_args()
    limited = args.limited if args.limited is not None else max(1, args.people // 1_000)
    chosen = settings(limited)
    console = Console(width=180)
    t0 = time.perf_counter()
    with console.status("") as status:

        def tick(done: int, total: int) -> None:
            status.update(f"runs {done}/{total}, {time.perf_counter() - t0:.0f} s")

        curves, timing = scenario.run_scenarios(
            chosen,
            people=args.people,
            days=args.days,
            seeds=args.seeds,
            transmission=args.transmission,
            jobs=args.jobs,
            progress=tick,
        )
    wall = time.perf_counter() - t0
    summary = scenario.summarise(curves, interval=0.8)
    args.out.mkdir(parents=True, exist_ok=True)
    summary.to_csv(args.out / "scenarios_summary.csv", index=False, float_format="%.6g")
    title = f"Synthetic city of {args.people:,} people, {args.days} days"
    for label, tests in (("ample", "tests unlimited"), ("limited", f"{limited:,} tests/day")):
        names = [s.name for s in chosen if s.name in (scenario.TODAY,) or s.name.endswith(tests)]
        part = curves[curves["scenario"].isin(names)]
        write_png(
            part,
            args.out / f"scenarios_{label}.png",
            title=f"{title}; testing {label} ({tests})",
        )

    table = Table(
        title=f"Outcomes after {args.days} days, {args.people:,} people: median "
        f"(10-90% of {args.seeds} seeds)"
    )
    columns = ("setting", "infections", "confirmed", "peak quarantined",
               "quarantine person-days", "peak isolated", "tests", "longest queue")  # fmt: skip
    for column in columns:
        table.add_column(column, justify="left" if column == "setting" else "right")
    for _, row in summary.iterrows():
        table.add_row(
            str(row["scenario"]),
            _cell(row, "infections"),
            _cell(row, "confirmed"),
            _cell(row, "peak_quarantined"),
            _cell(row, "quarantine_person_days"),
            _cell(row, "peak_isolated"),
            _cell(row, "tests"),
            _cell(row, "peak_waiting"),
        )
    console.print(table)
    per_run = sorted(t.seconds for t in timing)
    console.print(
        f"{len(timing)} runs; per run median {per_run[len(per_run) // 2]:.1f} s "
        f"(min {per_run[0]:.1f}, max {per_run[-1]:.1f}); wall {wall:.0f} s with {args.jobs} "
        f"job(s). Limited capacity: {limited:,} tests/day. Wrote {args.out}/scenarios_*.",
        markup=False,
        highlight=False,
    )


if __name__ == "__main__":
    main()
