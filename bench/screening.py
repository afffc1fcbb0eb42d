"""Benchmark: screening capacity (issue 5).

- A simulated day at 15,000 tests (`epicity.screening.planning`): the configuration the
  planner chooses for 95% of results within 6 hours (`plan`, as `epicity screening plan`
  does), the cheapest one without pooling, and the chosen one with fewer lab machines; for
  each, the median over several seeds of the share within 6 h, median and 95th percentile
  turnaround, the longest queue at the centres and the reactions used.
- The capacity gain of Dorfman pooling at prevalences 0.5%, 1%, 2%, 5%: Dorfman's formula
  (people per reaction at the optimal pool size) beside the simulated day's
  (arrivals / reactions, median over seeds).

- The API throughput of self-isolation check-ins (bench/isolation.py's
  `checkin_throughput_table`): 14,000 people checking in twice within an hour, the morning's
  window in 10 minutes, and a capacity run, through `epicity serve` on loopback.

Usage:
    python bench/screening.py [--tests 15000] [--seeds 5] [--prevalence 0.01] [--plan-seed 0]
        [--no-checkins] [--checkin-database URL] [--checkin-workers 1] [--checkin-duration 20]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from collections.abc import Sequence
from typing import Any

from epicity.screening.planning import Config, DayResult, Scenario, plan, simulate_day
from epicity.screening.pooling import capacity_gain, expected_tests_per_person, optimal_pool_size

GAIN_PREVALENCES = (0.005, 0.01, 0.02, 0.05)


def _median_day(scenario: Scenario, config: Config, seeds: Sequence[int]) -> dict[str, Any]:
    days: list[DayResult] = [simulate_day(scenario, config, seed=s) for s in seeds]
    return {
        "share": statistics.median(d.share_within_target for d in days),
        "median_h": statistics.median(d.median_turnaround for d in days) / 60,
        "p95_h": statistics.median(d.p95_turnaround for d in days) / 60,
        "max_queue": statistics.median(d.max_queue for d in days),
        "reactions": statistics.median(d.reactions for d in days),
        "arrivals": statistics.median(d.arrivals for d in days),
        "pool_size": days[0].pool_size,
    }


def simulated_day_table(
    *,
    tests: int = 15_000,
    prevalence: float = 0.01,
    target_share: float = 0.95,
    target_hours: float = 6.0,
    seeds: Sequence[int] = (1, 2, 3, 4, 5),
    plan_seed: int = 0,
) -> dict[str, Any]:
    """The simulated day's figures: configurations (chosen, no pooling, fewer machines) with
    medians over ``seeds``, and pooling's capacity gain by prevalence. Plain data."""
    scenario = Scenario(tests=tests, prevalence=prevalence, target_hours=target_hours)
    started = time.perf_counter()
    chosen = plan(scenario, target_share=target_share, seed=plan_seed)
    no_pooling = plan(scenario, target_share=target_share, seed=plan_seed, pooling_options=(False,))
    plan_seconds = time.perf_counter() - started
    rows: list[tuple[str, Config]] = []
    if chosen.chosen is not None:
        c = chosen.chosen.config
        rows.append(("chosen", c))
        if c.machines > 1:
            rows.append(
                (
                    "chosen, 2 machines fewer",
                    dataclasses.replace(c, machines=max(1, c.machines - 2)),
                )
            )
    if no_pooling.chosen is not None and (
        chosen.chosen is None or no_pooling.chosen.config != chosen.chosen.config
    ):
        rows.append(("cheapest without pooling", no_pooling.chosen.config))
    configs = [
        {"label": label, "config": cfg, **_median_day(scenario, cfg, seeds)} for label, cfg in rows
    ]
    gains = []
    base = rows[0][1] if rows else Config(lanes=150, machines=40, batch_interval=30, pooling=True)
    for p in GAIN_PREVALENCES:
        k = optimal_pool_size(p)
        at_p = dataclasses.replace(scenario, prevalence=p)
        pooled = dataclasses.replace(base, pooling=True, pool_size=k)
        day = _median_day(at_p, pooled, seeds)
        gains.append(
            {
                "prevalence": p,
                "pool_size": k,
                "tests_per_person": expected_tests_per_person(p, k),
                "gain_formula": capacity_gain(p, k),
                "gain_simulated": day["arrivals"] / day["reactions"],
            }
        )
    return {
        "tests": tests,
        "prevalence": prevalence,
        "target_share": target_share,
        "target_hours": target_hours,
        "seeds": list(seeds),
        "plan_seed": plan_seed,
        "plan_seconds": plan_seconds,
        "trials": len(chosen.trials) + len(no_pooling.trials),
        "configs": configs,
        "gains": gains,
    }


def _pools(config: Config, pool_size: int) -> str:
    return f"pools of {pool_size}" if config.pooling and pool_size > 1 else "no pooling"


def format_table(result: dict[str, Any]) -> str:
    """The figures as Markdown tables."""
    hours = result["target_hours"]
    lines = [
        f"Simulated day: {result['tests']:,} tests, prevalence {result['prevalence']:.1%}, "
        f"target {result['target_share']:.0%} within {hours:g} h; configurations from the "
        f"planner (seed {result['plan_seed']}, {result['trials']} days simulated in "
        f"{result['plan_seconds']:.1f} s); figures are medians over seeds "
        f"{', '.join(map(str, result['seeds']))}.",
        "",
        f"| configuration | lanes | lab machines | courier (min) | pooling | within {hours:g} h "
        "| median h | p95 h | max queue | reactions |",
        "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for row in result["configs"]:
        c: Config = row["config"]
        lines.append(
            f"| {row['label']} | {c.lanes} | {c.machines} | {c.batch_interval} | "
            f"{_pools(c, row['pool_size'])} | {row['share']:.1%} | {row['median_h']:.2f} | "
            f"{row['p95_h']:.2f} | {row['max_queue']:,.0f} | {row['reactions']:,.0f} |"
        )
    lines += [
        "",
        "| prevalence | Dorfman pool size | tests per person | capacity gain (formula) "
        "| capacity gain (simulated) |",
        "|---:|---:|---:|---:|---:|",
    ]
    for g in result["gains"]:
        lines.append(
            f"| {g['prevalence']:.1%} | {g['pool_size']} | {g['tests_per_person']:.3f} | "
            f"{g['gain_formula']:.2f}x | {g['gain_simulated']:.2f}x |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tests", type=int, default=15_000, help="tests in the day")
    parser.add_argument("--seeds", type=int, default=5, help="seeds to take the median over")
    parser.add_argument("--prevalence", type=float, default=0.01)
    parser.add_argument("--target-share", type=float, default=0.95)
    parser.add_argument("--hours", type=float, default=6.0, help="turnaround target")
    parser.add_argument("--plan-seed", type=int, default=0, help="seed of the planner's day")
    parser.add_argument(
        "--no-checkins", action="store_true", help="skip the check-in throughput (minutes)"
    )
    parser.add_argument(
        "--checkin-database", default=None, help="a PostgreSQL URL (default: a SQLite file)"
    )
    parser.add_argument("--checkin-workers", type=int, default=1)
    parser.add_argument("--checkin-duration", type=float, default=20.0, help="seconds a run")
    parser.add_argument("--checkin-capacity-rate", type=float, default=100.0)
    args = parser.parse_args(argv)
    if args.tests < 1 or args.seeds < 1:
        parser.error("--tests and --seeds must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the screening benchmark and print its tables."""
    args = parse_args(argv)
    result = simulated_day_table(
        tests=args.tests,
        prevalence=args.prevalence,
        target_share=args.target_share,
        target_hours=args.hours,
        seeds=range(1, args.seeds + 1),
        plan_seed=args.plan_seed,
    )
    print(format_table(result))
    if not args.no_checkins:
        from isolation import checkin_throughput_table  # bench/ is on sys.path as a script

        print()
        print(
            checkin_throughput_table(
                args.checkin_database,
                workers=args.checkin_workers,
                duration=args.checkin_duration,
                capacity_rate=args.checkin_capacity_rate,
            ),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
