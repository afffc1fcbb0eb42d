"""`epicity screening plan`: which configuration serves a day's tests within the target.

Simulates the day (`epicity.screening.planning`) for the configurations the search tries,
prints them in a table with the chosen one, and writes the chosen day's queue and turnaround
as a PNG (matplotlib, no display needed) and everything as JSON, when asked.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Any

import typer
from matplotlib.figure import Figure
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from epicity.cliutil import fail
from epicity.screening.planning import (
    MAX_TESTS,
    DayResult,
    PlanningError,
    PlanResult,
    Scenario,
    Trial,
    plan,
)
from epicity.screening.pooling import capacity_gain, optimal_pool_size

__all__ = ["app", "plan_json", "write_png"]

app = typer.Typer(
    help="Screening centres: capacity planning of a day of testing.", no_args_is_help=True
)


def _clock(minute: float) -> str:
    """Minutes since midnight as HH:MM (past midnight as +1d HH:MM)."""
    if not math.isfinite(minute):
        return "—"
    day, rest = divmod(round(minute), 24 * 60)
    text = f"{rest // 60:02d}:{rest % 60:02d}"
    return f"+{day}d {text}" if day else text


def _pooling(trial: Trial) -> str:
    c = trial.config
    return f"k={c.pool_size}" if c.pooling and c.pool_size else "on" if c.pooling else "off"


def write_png(day: DayResult, scenario: Scenario, path: Path) -> None:
    """The day's queue at the centres, lab backlog, and turnaround by hour of arrival."""
    fig = Figure(figsize=(10, 7.5), layout="constrained")
    top, bottom = fig.subplots(2, 1)
    hours = [t / 60 for t, _ in day.queue]
    top.plot(hours, [q for _, q in day.queue], color="#0072B2", label="people waiting at centres")
    top.plot(
        hours, [b for _, b in day.backlog], color="#D55E00", label="samples at the lab (backlog)"
    )
    top.set_xlabel("hour of the day")
    top.set_ylabel("count")
    top.set_title("Queue and lab backlog over the day")
    top.legend(loc="upper right")
    top.grid(alpha=0.3)
    stats = [h for h in day.by_hour if h.arrivals]
    x = [h.hour + 0.5 for h in stats]
    bottom.scatter(
        [a / 60 for a in day.arrival_minutes],
        [t / 60 for t in day.turnaround],
        s=2,
        alpha=0.3,
        color="#999999",
        label="each person",
    )
    bottom.plot(x, [h.median / 60 for h in stats], "o-", color="#0072B2", label="median")
    bottom.plot(x, [h.p95 / 60 for h in stats], "s--", color="#E69F00", label="95th percentile")
    bottom.axhline(scenario.target_hours, color="#D55E00", label="target")
    bottom.set_xlabel("hour of arrival")
    bottom.set_ylabel("hours from arrival to result")
    bottom.set_title(
        f"Turnaround: {day.share_within_target:.1%} within {scenario.target_hours:g} h"
    )
    bottom.legend(loc="upper left")
    bottom.grid(alpha=0.3)
    c = day.config
    fig.suptitle(
        f"{day.arrivals:,} tests · {c.lanes} lanes · {c.machines} lab machines · "
        f"courier every {c.batch_interval} min · "
        + (f"pools of {day.pool_size}" if day.pool_size > 1 else "no pooling")
    )
    fig.savefig(path, format="png", dpi=100)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def plan_json(result: PlanResult) -> dict[str, Any]:
    """The plan as JSON-ready data: scenario, trials, the chosen configuration and its day."""
    day = result.day
    return {
        "scenario": dataclasses.asdict(result.scenario),
        "target_share": result.target_share,
        "seed": result.seed,
        "trials": [
            {
                **dataclasses.asdict(t.config),
                "share_within_target": t.share_within_target,
                "median_minutes": _finite(t.median_turnaround),
                "p95_minutes": _finite(t.p95_turnaround),
                "max_queue": t.max_queue,
                "reactions": t.reactions,
                "cost": t.cost,
                "feasible": t.feasible,
            }
            for t in result.trials
        ],
        "chosen": dataclasses.asdict(result.chosen.config) if result.chosen else None,
        "day": None
        if day is None
        else {
            "arrivals": day.arrivals,
            "positives": day.positives,
            "pool_size": day.pool_size,
            "share_within_target": day.share_within_target,
            "median_minutes": _finite(day.median_turnaround),
            "p95_minutes": _finite(day.p95_turnaround),
            "max_queue": day.max_queue,
            "max_backlog": day.max_backlog,
            "reactions": day.reactions,
            "runs": day.runs,
            "last_result": _clock(day.last_result),
            "queue": [[_clock(t), q] for t, q in day.queue],
            "backlog": [[_clock(t), b] for t, b in day.backlog],
            "by_hour": [
                {**dataclasses.asdict(h), "median": _finite(h.median), "p95": _finite(h.p95)}
                for h in day.by_hour
            ],
        },
    }


def _check_output(path: Path | None, option: str, suffix: str) -> None:
    if path is None:
        return
    if path.suffix.lower() != suffix:
        raise fail(f"{option} {str(path)!r} must end in {suffix}")
    if not path.parent.is_dir():
        raise fail(f"{option}: the folder {str(path.parent)!r} does not exist")
    if path.is_dir():
        raise fail(f"{option} {str(path)!r} is a folder")


@app.command("plan")
def plan_command(
    tests: int = typer.Option(15_000, "--tests", help="Tests (arrivals) expected in the day."),
    target_share: float = typer.Option(
        0.95, "--target-share", help="Share of results to deliver within --hours, in (0, 1]."
    ),
    hours: float = typer.Option(6.0, "--hours", help="Turnaround target, arrival to result."),
    prevalence: float = typer.Option(
        0.01, "--prevalence", help="Share of people tested who are positive, in [0, 1]."
    ),
    pooling: bool = typer.Option(
        True, "--pooling/--no-pooling", help="Let the lab pool samples (Dorfman)."
    ),
    seed: int = typer.Option(0, "--seed", help="Random seed of the simulated day."),
    max_lanes: int = typer.Option(400, "--max-lanes", help="Most lanes considered."),
    max_machines: int = typer.Option(60, "--max-machines", help="Most lab machines considered."),
    lane_cost: float = typer.Option(1.0, "--lane-cost", help="Relative cost of a lane."),
    machine_cost: float = typer.Option(
        1.0, "--machine-cost", help="Relative cost of a lab machine."
    ),
    png: Path | None = typer.Option(
        None, "--png", help="Write the chosen day's queue and turnaround here (.png)."
    ),
    json_path: Path | None = typer.Option(
        None, "--json", help="Write the trials and the chosen day here (.json)."
    ),
) -> None:
    """Find the cheapest configuration (lanes, lab machines, courier interval, pooling) that
    delivers --target-share of results within --hours for --tests a day."""
    if not 1 <= tests <= MAX_TESTS:
        raise fail(f"--tests must be between 1 and {MAX_TESTS:,}, got {tests}")
    if not (math.isfinite(target_share) and 0 < target_share <= 1):
        raise fail(f"--target-share must be in (0, 1], got {target_share:g}")
    if not (math.isfinite(hours) and 0 < hours <= 72):
        raise fail(f"--hours must be in (0, 72], got {hours:g}")
    if not (math.isfinite(prevalence) and 0 <= prevalence <= 1):
        raise fail(f"--prevalence must be in [0, 1], got {prevalence:g}")
    if seed < 0:
        raise fail(f"--seed must be 0 or more, got {seed}")
    if not 3 <= max_lanes <= 100_000:
        raise fail(f"--max-lanes must be between 3 and 100,000, got {max_lanes}")
    if not 1 <= max_machines <= 10_000:
        raise fail(f"--max-machines must be between 1 and 10,000, got {max_machines}")
    for name, cost in (("--lane-cost", lane_cost), ("--machine-cost", machine_cost)):
        if not (math.isfinite(cost) and cost >= 0):
            raise fail(f"{name} must be 0 or more, got {cost:g}")
    _check_output(png, "--png", ".png")
    _check_output(json_path, "--json", ".json")

    scenario = Scenario(tests=tests, prevalence=prevalence, target_hours=hours)
    console = Console()
    started = time.monotonic()
    bar: Progress | None = None

    def progress(done: int) -> None:
        nonlocal bar
        if bar is None and time.monotonic() - started > 1.0:  # only for a search that lasts
            bar = Progress(
                SpinnerColumn(),
                TextColumn("simulating days: {task.completed} configurations"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            bar.start()
            bar.add_task("plan", total=None)
        if bar is not None:
            bar.update(bar.task_ids[0], completed=done)

    try:
        result = plan(
            scenario,
            target_share=target_share,
            seed=seed,
            pooling_options=(False, True) if pooling else (False,),
            max_lanes=max_lanes,
            max_machines=max_machines,
            lane_cost=lane_cost,
            machine_cost=machine_cost,
            progress=progress,
        )
    except PlanningError as exc:
        raise fail(str(exc)) from None
    finally:
        if bar is not None:
            bar.stop()

    table = Table(
        title=f"Configurations tried: {tests:,} tests, {target_share:.0%} within {hours:g} h, "
        f"prevalence {prevalence:.2%}, seed {seed}"
    )
    for column in (
        "lanes",
        "machines",
        "courier min",
        "pooling",
        "within target",
        "median h",
        "p95 h",
        "max queue",
        "reactions",
        "cost",
    ):
        table.add_column(column, justify="left" if column == "pools" else "right")
    ordered = sorted(
        result.trials,
        key=lambda t: (not t.feasible, t.cost, t.config.lanes, t.config.machines),
    )
    for t in ordered:
        chosen = result.chosen is not None and t.config == result.chosen.config
        table.add_row(
            str(t.config.lanes),
            str(t.config.machines),
            str(t.config.batch_interval),
            _pooling(t),
            f"{t.share_within_target:.1%}",
            f"{t.median_turnaround / 60:.2f}",
            f"{t.p95_turnaround / 60:.2f}",
            f"{t.max_queue:,}",
            f"{t.reactions:,}",
            f"{t.cost:g}",
            style="bold green" if chosen else None if t.feasible else "dim",
        )
    console.print(table)
    k = optimal_pool_size(prevalence)
    console.print(
        f"Dorfman pooling at prevalence {prevalence:.2%}: pools of {k}, "
        f"{capacity_gain(prevalence, k):.2f}x the people per test."
    )
    if json_path is not None:
        json_path.write_text(json.dumps(plan_json(result), indent=2), encoding="utf-8")
    if result.chosen is None or result.day is None:
        console.print(
            f"No configuration up to {max_lanes} lanes and {max_machines} machines delivers "
            f"{target_share:.0%} of results within {hours:g} h."
        )
        raise typer.Exit(code=1)
    c, day = result.chosen.config, result.day
    console.print(
        f"Chosen: {c.lanes} lanes, {c.machines} lab machines, a courier every "
        f"{c.batch_interval} min, "
        + (f"pools of {day.pool_size}" if day.pool_size > 1 else "no pooling")
        + f": {day.share_within_target:.1%} of {day.arrivals:,} results within {hours:g} h "
        f"(median {day.median_turnaround / 60:.2f} h, 95th percentile "
        f"{day.p95_turnaround / 60:.2f} h), {day.reactions:,} reactions in {day.runs} runs, "
        f"at most {day.max_queue:,} people waiting; last result {_clock(day.last_result)}.",
        highlight=False,
    )
    if png is not None:
        write_png(day, scenario, png)
        console.print(f"Wrote {png}", highlight=False)
