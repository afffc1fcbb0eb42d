"""The simulated screening day and the configuration search (epicity.screening.planning)."""

from __future__ import annotations

import dataclasses
import doctest
import math

import pytest

from epicity.screening import planning
from epicity.screening.planning import (
    Config,
    PlanningError,
    Scenario,
    lanes_by_kind,
    plan,
    pool_sizes,
    simulate_day,
)

SMALL = Scenario(tests=1_500)


def test_every_arrival_gets_one_correct_result() -> None:
    for config in (Config(14, 3, 30, False), Config(14, 2, 60, True), Config(6, 1, 90, True)):
        day = simulate_day(SMALL, config, seed=3)
        assert day.arrivals == len(day.turnaround) == len(day.arrival_minutes) > 1_000
        assert all(math.isfinite(x) and x > 0 for x in day.turnaround)
        assert day.wrong_results == 0  # pooling keeps each person's result right
        assert day.queue[-1][1] == 0
        assert day.backlog[-1][1] == 0
        assert sum(h.arrivals for h in day.by_hour) == day.arrivals
        # The shortest path: sampling, a courier round, a run and delivery.
        floor = SMALL.transport_minutes + SMALL.run_minutes + SMALL.delivery_minutes
        assert min(day.turnaround) >= floor


def test_reactions_count_every_well() -> None:
    day = simulate_day(SMALL, Config(14, 3, 30, False), seed=3)
    assert day.pool_size == 1
    assert day.reactions == day.arrivals
    assert day.runs >= math.ceil(day.arrivals / SMALL.wells_per_run)


def test_same_seed_same_day_other_seed_other_day() -> None:
    config = Config(14, 2, 30, True)
    a = simulate_day(SMALL, config, seed=7)
    b = simulate_day(SMALL, config, seed=7)
    c = simulate_day(SMALL, config, seed=8)
    assert a == b
    assert a.turnaround != c.turnaround


def test_arrivals_follow_the_demand() -> None:
    day = simulate_day(Scenario(tests=15_000), Config(200, 60, 30, False), seed=1)
    assert abs(day.arrivals - 15_000) < 4 * math.sqrt(15_000)  # Poisson: sd = sqrt(mean)
    profile = SMALL.hourly_profile
    busiest = max(range(len(profile)), key=lambda h: profile[h])
    assert max(day.by_hour, key=lambda h: h.arrivals).hour == SMALL.open_hour + busiest
    assert all(
        SMALL.open_hour * 60 <= a < (SMALL.open_hour + len(profile)) * 60
        for a in day.arrival_minutes
    )


def _shares(
    seed: int, interval: int, pooling: bool, lanes: tuple[int, ...], machines: tuple[int, ...]
) -> dict[tuple[int, int], float]:
    return {
        (x, m): simulate_day(SMALL, Config(x, m, interval, pooling), seed=seed).share_within_target
        for x in lanes
        for m in machines
    }


def _worse(shares: dict[tuple[int, int], float]) -> list[tuple[int, int, int, int]]:
    """Pairs where a configuration with at least as many lanes and machines did worse."""
    return [
        (a, b, c, d)
        for (a, b), x in shares.items()
        for (c, d), y in shares.items()
        if c >= a and d >= b and y < x - 1e-12
    ]


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("interval", [30, 60])
def test_more_capacity_never_worsens_the_share(seed: int, interval: int) -> None:
    """Same seed, same people: more machines never lower the share within the target, and
    neither do more lanes while the lab keeps up (SMALL needs about 4 machines at its peak).

    Two known exceptions, left out on purpose: when the lab is overloaded, sampling faster
    only sends more samples into it sooner and the oldest-first lab order can let a few more
    miss; and with pooling, more lanes change which samples travel together, hence the pools
    and who needs a retest."""
    assert _worse(_shares(seed, interval, False, (3, 6, 8, 10, 12, 16, 24), (5, 6, 8))) == []
    for pooling in (False, True):
        for lanes in (6, 10, 16):
            by_machines = _shares(seed, interval, pooling, (lanes,), (1, 2, 3, 4, 5, 8))
            assert _worse(by_machines) == [], (pooling, lanes)


def test_more_lanes_shorten_the_queue() -> None:
    few = simulate_day(SMALL, Config(8, 5, 30, False), seed=2)
    many = simulate_day(SMALL, Config(24, 5, 30, False), seed=2)
    assert many.max_queue < few.max_queue
    assert many.median_turnaround < few.median_turnaround


@pytest.mark.parametrize("prevalence", [0.005, 0.01, 0.02, 0.05])
def test_pooling_uses_fewer_tests_at_low_prevalence(prevalence: float) -> None:
    scenario = dataclasses.replace(SMALL, prevalence=prevalence)
    alone = simulate_day(scenario, Config(16, 4, 30, False), seed=5)
    pooled = simulate_day(scenario, Config(16, 4, 30, True), seed=5)
    assert pooled.pool_size > 1
    assert pooled.reactions < 0.6 * alone.reactions
    assert pooled.wrong_results == 0


def test_pooling_at_high_prevalence_does_not_pool() -> None:
    scenario = dataclasses.replace(SMALL, prevalence=0.4)
    day = simulate_day(scenario, Config(16, 4, 30, True), seed=5)
    assert day.pool_size == 1
    assert day.reactions == day.arrivals


def test_lanes_split_by_share_and_never_taken_away() -> None:
    centres = SMALL.centres
    assert lanes_by_kind(3, centres) == (1, 1, 1)
    assert lanes_by_kind(10, centres) == (5, 3, 2)
    previous = lanes_by_kind(3, centres)
    for lanes in range(4, 300):
        split = lanes_by_kind(lanes, centres)
        assert sum(split) == lanes
        assert all(a >= b for a, b in zip(split, previous, strict=True))
        previous = split


def test_pool_sizes() -> None:
    assert pool_sizes(0.01, 0.95) == (2, 11)
    assert pool_sizes(0.005, 0.95) == (5, 15)
    assert pool_sizes(0.5, 0.95) == ()


def test_search_finds_the_cheapest_feasible() -> None:
    result = plan(SMALL, seed=4, max_lanes=40, max_machines=8)
    assert result.chosen is not None
    assert result.day is not None
    chosen = result.chosen
    assert chosen.feasible
    assert chosen.share_within_target >= 0.95
    assert result.day.config == chosen.config
    assert chosen in result.trials
    assert all(t.cost >= chosen.cost for t in result.trials if t.feasible)
    # One lane or machine fewer misses the target (for the same pooling and courier rounds).
    for fewer in (
        dataclasses.replace(chosen.config, lanes=chosen.config.lanes - 1),
        dataclasses.replace(chosen.config, machines=chosen.config.machines - 1),
    ):
        if fewer.machines >= 1 and fewer.lanes >= len(SMALL.centres):
            assert simulate_day(SMALL, fewer, seed=4).share_within_target < 0.95
    # Deterministic by seed.
    assert plan(SMALL, seed=4, max_lanes=40, max_machines=8) == result


def test_search_without_pooling_and_when_nothing_serves() -> None:
    result = plan(SMALL, seed=4, pooling_options=(False,), max_lanes=40, max_machines=8)
    assert result.chosen is not None
    assert not result.chosen.config.pooling
    none = plan(SMALL, seed=4, max_lanes=4, max_machines=1, batch_intervals=(60,))
    assert none.chosen is None
    assert none.day is None
    assert none.trials
    assert not any(t.feasible for t in none.trials)


def test_progress_is_reported() -> None:
    seen: list[int] = []
    result = plan(SMALL, seed=4, max_lanes=40, max_machines=8, progress=seen.append)
    assert seen == list(range(1, len(result.trials) + 1))


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: simulate_day(Scenario(tests=0), Config(10, 1, 30, False)), "tests"),
        (lambda: simulate_day(Scenario(prevalence=1.5), Config(10, 1, 30, False)), "prevalence"),
        (lambda: simulate_day(Scenario(target_hours=0), Config(10, 1, 30, False)), "target_hours"),
        (lambda: simulate_day(Scenario(run_minutes=-1), Config(10, 1, 30, False)), "run_minutes"),
        (lambda: simulate_day(Scenario(hourly_profile=()), Config(9, 1, 30, False)), "profile"),
        (lambda: simulate_day(SMALL, Config(2, 1, 30, False)), "lanes"),
        (lambda: simulate_day(SMALL, Config(10, 0, 30, False)), "machines"),
        (lambda: simulate_day(SMALL, Config(10, 1, 0, False)), "batch_interval"),
        (lambda: simulate_day(SMALL, Config(10, 1, 30, True, 0)), "pool_size"),
        (lambda: simulate_day(SMALL, Config(10, 1, 30, False), seed=-1), "seed"),
        (lambda: plan(SMALL, target_share=0), "target_share"),
        (lambda: plan(SMALL, target_share=1.2), "target_share"),
        (lambda: plan(SMALL, max_machines=0), "max_machines"),
        (lambda: plan(SMALL, batch_intervals=(0,)), "batch_interval"),
    ],
)
def test_bad_input_names_the_field(call: object, field: str) -> None:
    with pytest.raises(PlanningError, match=field):
        call()  # type: ignore[operator]


def test_docstring_examples() -> None:
    assert doctest.testmod(planning).failed == 0
