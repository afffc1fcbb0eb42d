"""Capacity planning: a discrete-event simulation of one day of a city's screening system, and
a search for the cheapest configuration that meets the turnaround target.

Pure: plain data in, plain data out (no database, no web). One simulated day follows every
person from arrival at a screening centre to the result reaching them:

1. **Arrivals.** A Poisson process whose rate follows an hourly profile over the opening hours
   (09:00-21:00 by default; the expected total is the day's demand, e.g. 15,000). Each person
   goes to a centre kind (walk-through, glove wall, drive-through) with probability in
   proportion to that kind's sampling capacity, and is positive with probability
   ``prevalence``.
2. **Sampling.** Each kind is a first-come-first-served queue with ``c`` lanes (the lanes of
   every centre of that kind taken together: people are assumed to spread evenly over the
   centres of a kind). Sampling takes the kind's minutes per test, +/- 25% (uniform).
3. **Transport.** Every ``batch_interval`` minutes from opening, a courier round takes every
   sample taken so far to the lab; it arrives ``transport_minutes`` later.
4. **Lab.** ``machines`` RT-PCR machines run around the clock. A free machine starts a run as
   soon as wells are waiting, with up to ``wells_per_run`` of them (94 samples on a 96-well
   plate with a positive and a negative control); a run takes ``run_minutes`` (extraction,
   plate set-up and amplification). With Dorfman pooling (`epicity.screening.pooling`, pool
   size from prevalence), each courier batch is split into pools in order, one well per pool;
   the members of a positive pool are retested individually in a later run. Waiting wells
   go into runs oldest first (by the person's arrival at the centre: earliest deadline
   first), which puts retests ahead of newer samples.
5. **Delivery.** A result reaches the person ``delivery_minutes`` after its run ends (entry
   into the information system and an SMS).

Turnaround is measured from arrival at the centre to the result delivered (the citizen's
view; the issue's 6-hour target). The simulation continues past closing until every arrival
has a result, so every arrival gets one.

Parameters and where they come from (see `Scenario` and `DEFAULT_CENTRES`):

- Demand and target: Seoul ran about 15,000 tests a day with results within 6 hours (issue 5;
  Seoul Metropolitan Government briefings, 2020).
- Drive-through: about 10 minutes per person for registration, questionnaire, examination and
  sampling (Kwon et al., "Drive-Through Screening Center for COVID-19: a Safe and Efficient
  Screening System against Massive Community Outbreak", J Korean Med Sci 35(11):e123, 2020;
  Kym, "Fast Screening Systems for COVID-19", J Korean Med Sci 2020); 6-8 people an hour per
  lane (Korean government, reported by Arirang News, 26 March 2020).
- Walk-through booth: about 6 minutes per person including disinfection and ventilation
  (Central Disaster Management Headquarters briefing, 23 March 2020: "about six minutes");
  "more than a dozen people an hour" per booth (Arirang, 26 March 2020).
- Glove wall: the examiner stays inside the booth and the person outside, so no booth
  ventilation between people; assumed 5 minutes (an assumption, no published figure found).
- Lab run: **150 minutes** per run (assumption: automated extraction ~45 minutes, plate set-up
  ~15 minutes, real-time RT-PCR amplification ~90 minutes with the 2020 Korean emergency-use
  kits). Whole-workflow figures of 4-6 hours that include accessioning and manual extraction
  would make a 6-hour arrival-to-result target unreachable for anyone, so the run time here is
  the machine time of a high-throughput lab.
- Transport 30 minutes and delivery 10 minutes: assumptions for a city (a courier round
  across districts; result entry and an SMS).
- Hourly profile: an assumption (morning peak, lunch dip, after-work bump); no hourly series
  of Seoul's screening demand is published.

Example::

    >>> day = simulate_day(Scenario(tests=600), Config(lanes=12, machines=2,
    ...                    batch_interval=30, pooling=True), seed=1)
    >>> day.arrivals == len(day.turnaround)
    True
"""

from __future__ import annotations

import functools
import heapq
import itertools
import math
import random
import statistics
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import cast

from epicity.screening.pooling import expected_tests_per_person, optimal_pool_size

__all__ = [
    "DEFAULT_CENTRES",
    "DEFAULT_PROFILE",
    "CentreKind",
    "Config",
    "DayResult",
    "HourStat",
    "PlanResult",
    "PlanningError",
    "Scenario",
    "Trial",
    "lanes_by_kind",
    "plan",
    "pool_sizes",
    "simulate_day",
]


class PlanningError(ValueError):
    """A planning input out of range; the message names the field."""


@dataclass(frozen=True)
class CentreKind:
    """A kind of screening centre: its name, minutes per test and share of the city's lanes."""

    name: str
    minutes_per_test: float
    share_of_lanes: float


# Sources in the module docstring.
DEFAULT_CENTRES: tuple[CentreKind, ...] = (
    CentreKind("walk-through", 6.0, 0.5),
    CentreKind("glove wall", 5.0, 0.3),
    CentreKind("drive-through", 10.0, 0.2),
)
# Relative demand per opening hour from 09:00 (an assumption: see the module docstring).
DEFAULT_PROFILE: tuple[float, ...] = (10, 12, 11, 7, 9, 10, 9, 8, 8, 6, 5, 5)


@dataclass(frozen=True)
class Scenario:
    """What the city faces and how its system works, apart from the configuration searched.

    Times are minutes; ``open_hour`` is the local hour the centres open (arrivals run for
    ``len(hourly_profile)`` hours from then).
    """

    tests: int = 15_000
    prevalence: float = 0.01
    target_hours: float = 6.0
    open_hour: int = 9
    hourly_profile: tuple[float, ...] = DEFAULT_PROFILE
    centres: tuple[CentreKind, ...] = DEFAULT_CENTRES
    transport_minutes: float = 30.0
    run_minutes: float = 150.0
    wells_per_run: int = 94
    delivery_minutes: float = 10.0
    max_pool_size: int = 16
    snapshot_minutes: float = 10.0


@dataclass(frozen=True)
class Config:
    """What the planner chooses: lanes (over all centres), lab machines, minutes between
    courier rounds, and whether the lab pools samples (and in pools of how many; by default
    the size with the fewest expected tests at the scenario's prevalence, Dorfman 1943)."""

    lanes: int
    machines: int
    batch_interval: int
    pooling: bool
    pool_size: int | None = None  # None: Dorfman's optimum for the prevalence


@dataclass(frozen=True)
class HourStat:
    """Turnaround of the people who arrived in one hour (minutes)."""

    hour: int
    arrivals: int
    median: float
    p95: float
    share_within_target: float


@dataclass(frozen=True)
class DayResult:
    """One simulated day. Series are (minute of the day, value) every ``snapshot_minutes``."""

    config: Config
    pool_size: int
    arrivals: int
    positives: int
    arrival_minutes: tuple[float, ...]
    turnaround: tuple[float, ...]
    share_within_target: float
    median_turnaround: float
    p95_turnaround: float
    queue: tuple[tuple[float, int], ...]
    backlog: tuple[tuple[float, int], ...]
    max_queue: int
    max_backlog: int
    reactions: int
    runs: int
    last_result: float
    by_hour: tuple[HourStat, ...]
    wrong_results: int = 0


@dataclass(frozen=True)
class Trial:
    """A configuration the search simulated, with what it gave and what it costs."""

    config: Config
    share_within_target: float
    median_turnaround: float
    p95_turnaround: float
    max_queue: int
    reactions: int
    cost: float
    feasible: bool


@dataclass(frozen=True)
class PlanResult:
    """The search's answer: every configuration tried (in order) and the cheapest feasible."""

    scenario: Scenario
    target_share: float
    seed: int
    trials: tuple[Trial, ...]
    chosen: Trial | None
    day: DayResult | None = field(default=None, compare=False)


# --------------------------------------------------------------------------------------------
# validation


def _number(value: object, name: str, lo: float, hi: float, *, lo_open: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise PlanningError(f"{name} must be a number, got {value!r}")
    if value > hi or value < lo or (lo_open and value == lo):
        side = "(" if lo_open else "["
        raise PlanningError(f"{name} must be in {side}{lo:g}, {hi:g}], got {value!r}")


def _integer(value: object, name: str, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PlanningError(f"{name} must be a whole number, got {value!r}")
    if not lo <= value <= hi:
        raise PlanningError(f"{name} must be between {lo} and {hi}, got {value}")


MAX_TESTS = 200_000


def check_scenario(s: Scenario) -> None:
    """Refuse a scenario with a field out of range (`PlanningError` naming the field)."""
    _integer(s.tests, "tests", 1, MAX_TESTS)
    _number(s.prevalence, "prevalence", 0.0, 1.0)
    _number(s.target_hours, "target_hours", 0.0, 72.0, lo_open=True)
    _integer(s.open_hour, "open_hour", 0, 23)
    if not s.hourly_profile or len(s.hourly_profile) > 24:
        raise PlanningError("hourly_profile must have 1 to 24 hours")
    for w in s.hourly_profile:
        _number(w, "hourly_profile", 0.0, 1e9)
    if sum(s.hourly_profile) <= 0:
        raise PlanningError("hourly_profile must have some demand")
    if not s.centres:
        raise PlanningError("centres must name at least one kind of centre")
    for c in s.centres:
        _number(c.minutes_per_test, "minutes_per_test", 0.0, 240.0, lo_open=True)
        _number(c.share_of_lanes, "share_of_lanes", 0.0, 1.0, lo_open=True)
    _number(s.transport_minutes, "transport_minutes", 0.0, 24 * 60)
    _number(s.run_minutes, "run_minutes", 0.0, 24 * 60, lo_open=True)
    _integer(s.wells_per_run, "wells_per_run", 1, 10_000)
    _number(s.delivery_minutes, "delivery_minutes", 0.0, 24 * 60)
    _integer(s.max_pool_size, "max_pool_size", 1, 64)
    _number(s.snapshot_minutes, "snapshot_minutes", 1.0, 24 * 60)


def check_config(c: Config, s: Scenario) -> None:
    """Refuse a configuration out of range (`PlanningError` naming the field)."""
    _integer(c.lanes, "lanes", len(s.centres), 100_000)
    _integer(c.machines, "machines", 1, 10_000)
    _integer(c.batch_interval, "batch_interval", 1, 24 * 60)
    if not isinstance(c.pooling, bool):
        raise PlanningError(f"pooling must be true or false, got {c.pooling!r}")
    if c.pool_size is not None:
        _integer(c.pool_size, "pool_size", 1, 64)


# --------------------------------------------------------------------------------------------
# the simulated day


def lanes_by_kind(lanes: int, centres: Sequence[CentreKind]) -> tuple[int, ...]:
    """Split ``lanes`` over the kinds of centre by their shares: one each, then one at a time
    to the kind furthest below its share (D'Hondt), so adding a lane never takes one away
    from any kind."""
    if lanes < len(centres):
        raise PlanningError(f"lanes must be at least {len(centres)} (one per kind of centre)")
    counts = [1] * len(centres)
    for _ in range(lanes - len(centres)):
        j = max(
            range(len(centres)), key=lambda i: (centres[i].share_of_lanes / (counts[i] + 1), -i)
        )
        counts[j] += 1
    return tuple(counts)


@dataclass(frozen=True)
class _People:
    arrival: tuple[float, ...]
    kind: tuple[int, ...]
    service: tuple[float, ...]
    positive: tuple[bool, ...]


@functools.lru_cache(maxsize=8)  # the search simulates one seed's people many times
def _people(s: Scenario, seed: int) -> _People:
    """Who arrives when, where, for how long, and who is positive: drawn from the seed alone,
    so every configuration of one seed sees the same people (common random numbers)."""
    rng = random.Random(seed)
    total = sum(s.hourly_profile)
    arrival: list[float] = []
    for h, weight in enumerate(s.hourly_profile):
        start = (s.open_hour + h) * 60.0
        per_minute = s.tests * weight / total / 60.0
        if per_minute <= 0:
            continue
        t = start
        while True:  # a Poisson process is memoryless: restart it at each hour's rate
            t += rng.expovariate(per_minute)
            if t >= start + 60.0:
                break
            arrival.append(t)
    weights = [c.share_of_lanes / c.minutes_per_test for c in s.centres]
    kinds = range(len(s.centres))
    kind, service, positive = [], [], []
    for _ in arrival:
        k = rng.choices(kinds, weights)[0]
        kind.append(k)
        service.append(s.centres[k].minutes_per_test * rng.uniform(0.75, 1.25))
        positive.append(rng.random() < s.prevalence)
    return _People(tuple(arrival), tuple(kind), tuple(service), tuple(positive))


def _quantile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank quantile of sorted values (nan when empty)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


# Event kinds, in the order they are handled at the same minute.
_SAMPLED, _ARRIVE, _PICKUP, _RUN_DONE, _LAB_ARRIVE, _SNAPSHOT = range(6)


def simulate_day(scenario: Scenario, config: Config, *, seed: int = 0) -> DayResult:
    """Simulate one day of screening (see the module docstring); deterministic by seed.

    Args:
        scenario: demand, prevalence, target and the system's fixed parameters.
        config: lanes, lab machines, minutes between courier rounds, pooling on or off.
        seed: the random seed; the same seed gives the same people for every configuration.

    Returns:
        A `DayResult`: every arrival's turnaround, the share within the target, the queue at
        the centres and the lab's backlog over the day, reactions used and runs.
    """
    check_scenario(scenario)
    check_config(config, scenario)
    _integer(seed, "seed", 0, 2**63 - 1)
    s = scenario
    people = _people(s, seed)
    n = len(people.arrival)
    pool_size = 1
    if config.pooling:
        pool_size = config.pool_size or optimal_pool_size(s.prevalence, s.max_pool_size)

    heap: list[tuple[float, int, int, int, object]] = []
    order = itertools.count()

    def push(t: float, kind: int, payload: object = None) -> None:
        heapq.heappush(heap, (t, kind, next(order), kind, payload))

    for i, t in enumerate(people.arrival):
        push(t, _ARRIVE, i)
    opening = s.open_hour * 60.0
    if n:
        push(opening + config.batch_interval, _PICKUP)
        push(opening, _SNAPSHOT)

    free_lanes = list(lanes_by_kind(config.lanes, s.centres))
    waiting: list[deque[int]] = [deque() for _ in s.centres]
    queued = 0  # people waiting (not being sampled) over all centres
    ready: list[int] = []  # samples taken, waiting for the courier
    picked = 0
    # Wells waiting for a run, oldest first: by the earliest arrival at a centre among the
    # well's people (earliest deadline first; retests of a positive pool come first).
    lab: list[tuple[float, int, tuple[int, ...]]] = []
    free_machines = config.machines
    backlog = 0  # samples at the lab without a result
    result_at = [math.nan] * n
    result_positive = [False] * n
    reactions = runs = 0
    queue_series: list[tuple[float, int]] = []
    backlog_series: list[tuple[float, int]] = []

    def start_runs(t: float) -> None:
        nonlocal free_machines, reactions, runs
        while free_machines and lab:
            wells: list[tuple[int, ...]] = []
            while len(wells) < s.wells_per_run and lab:
                wells.append(heapq.heappop(lab)[2])
            free_machines -= 1
            reactions += len(wells)
            runs += 1
            push(t + s.run_minutes, _RUN_DONE, wells)

    while heap:
        t, _, _, kind, payload = heapq.heappop(heap)
        if kind == _ARRIVE:
            i = cast(int, payload)
            c = people.kind[i]
            if free_lanes[c]:
                free_lanes[c] -= 1
                push(t + people.service[i], _SAMPLED, i)
            else:
                waiting[c].append(i)
                queued += 1
        elif kind == _SAMPLED:
            i = cast(int, payload)
            ready.append(i)
            c = people.kind[i]
            if waiting[c]:
                j = waiting[c].popleft()
                queued -= 1
                push(t + people.service[j], _SAMPLED, j)
            else:
                free_lanes[c] += 1
        elif kind == _PICKUP:
            if ready:
                push(t + s.transport_minutes, _LAB_ARRIVE, ready)
                picked += len(ready)
                ready = []
            if picked < n:
                push(t + config.batch_interval, _PICKUP)
        elif kind == _LAB_ARRIVE:
            batch = cast(list[int], payload)
            backlog += len(batch)
            # Consecutive pools in order of arrival, as `make_pools` splits barcodes.
            for at in range(0, len(batch), pool_size):
                well = tuple(batch[at : at + pool_size])
                heapq.heappush(lab, (min(people.arrival[m] for m in well), next(order), well))
            start_runs(t)
        elif kind == _RUN_DONE:
            wells = cast(list[tuple[int, ...]], payload)
            free_machines += 1
            for members in wells:
                hit = any(people.positive[m] for m in members)
                if hit and len(members) > 1:
                    for m in members:
                        heapq.heappush(lab, (people.arrival[m], next(order), (m,)))
                    continue
                for m in members:
                    result_at[m] = t + s.delivery_minutes
                    result_positive[m] = hit
                backlog -= len(members)
            start_runs(t)
        else:  # _SNAPSHOT
            queue_series.append((t, queued))
            backlog_series.append((t, backlog))
            if heap:
                push(t + s.snapshot_minutes, _SNAPSHOT)

    turnaround = tuple(result_at[i] - people.arrival[i] for i in range(n))
    target = s.target_hours * 60.0
    within = sum(1 for x in turnaround if x <= target)
    ordered = sorted(turnaround)
    buckets: list[list[float]] = [[] for _ in s.hourly_profile]
    for x, a in zip(turnaround, people.arrival, strict=True):
        buckets[min(int(a // 60) - s.open_hour, len(buckets) - 1)].append(x)
    by_hour = []
    for h, xs in enumerate(buckets):
        xs.sort()
        by_hour.append(
            HourStat(
                hour=s.open_hour + h,
                arrivals=len(xs),
                median=statistics.median(xs) if xs else math.nan,
                p95=_quantile(xs, 0.95),
                share_within_target=sum(1 for x in xs if x <= target) / len(xs) if xs else 1.0,
            )
        )
    return DayResult(
        config=config,
        pool_size=pool_size,
        arrivals=n,
        positives=sum(people.positive),
        arrival_minutes=tuple(people.arrival),
        turnaround=turnaround,
        share_within_target=within / n if n else 1.0,
        median_turnaround=statistics.median(ordered) if ordered else math.nan,
        p95_turnaround=_quantile(ordered, 0.95),
        queue=tuple(queue_series),
        backlog=tuple(backlog_series),
        max_queue=max((q for _, q in queue_series), default=0),
        max_backlog=max((b for _, b in backlog_series), default=0),
        reactions=reactions,
        runs=runs,
        last_result=max(result_at, default=math.nan),
        by_hour=tuple(by_hour),
        wrong_results=sum(1 for i in range(n) if result_positive[i] != people.positive[i]),
    )


# --------------------------------------------------------------------------------------------
# the search


def pool_sizes(prevalence: float, target_share: float, max_size: int = 16) -> tuple[int, ...]:
    """The pool sizes the planner tries at a prevalence: Dorfman's optimum (fewest expected
    tests, `optimal_pool_size`) and, since every member of a positive pool waits for a second
    run (a second 150-minute run rarely fits in 6 hours), the best size among those whose
    chance of being positive, ``1 - (1 - p)^k``, is at most half the share of results allowed
    to miss the target (``(1 - target_share) / 2``: the other half is left for queues and
    couriers). Sizes of 1 (pooling does not pay) are left out; smallest first.

    Example::

        >>> pool_sizes(0.005, 0.95), pool_sizes(0.01, 0.95), pool_sizes(0.05, 0.95)
        ((5, 15), (2, 11), (5,))
    """
    _number(prevalence, "prevalence", 0.0, 1.0)
    _number(target_share, "target_share", 0.0, 1.0, lo_open=True)
    _integer(max_size, "max_size", 1, 64)
    sizes = {optimal_pool_size(prevalence, max_size)}
    allowed = [
        k for k in range(1, max_size + 1) if 1 - (1 - prevalence) ** k <= (1 - target_share) / 2
    ]
    if allowed:
        sizes.add(min(allowed, key=lambda k: (expected_tests_per_person(prevalence, k), k)))
    return tuple(sorted(k for k in sizes if k > 1))


DEFAULT_INTERVALS: tuple[int, ...] = (30, 60)


def plan(
    scenario: Scenario,
    *,
    target_share: float = 0.95,
    seed: int = 0,
    pooling_options: Sequence[bool] = (False, True),
    batch_intervals: Sequence[int] = DEFAULT_INTERVALS,
    max_lanes: int = 400,
    max_machines: int = 60,
    lane_cost: float = 1.0,
    machine_cost: float = 1.0,
    progress: Callable[[int], None] | None = None,
) -> PlanResult:
    """The cheapest configuration whose simulated day has at least ``target_share`` of
    results within ``scenario.target_hours``; deterministic given the seed.

    Cost is ``lanes * lane_cost + machines * machine_cost``. For each pooling option and
    courier interval the search finds the fewest lanes that meet the target with the most
    machines, the fewest machines with the most lanes, then for each lane count from the
    fewest up, the fewest machines (binary searches: more lanes or machines never delay a
    result), stopping once more lanes cannot lower the cost. Ties go to fewer reactions, then
    fewer courier rounds. Every simulated configuration is returned in ``trials``.

    Args:
        scenario: the day to plan for (`Scenario`).
        target_share: share of results to deliver within the target, in (0, 1].
        seed: random seed of the simulated day.
        pooling_options: which of pooling off (False) and on (True) to consider.
        batch_intervals: minutes between courier rounds to consider.
        max_lanes, max_machines: the largest configuration considered.
        lane_cost, machine_cost: relative costs of a lane and of a lab machine.
        progress: called with the number of days simulated so far.

    Example::

        >>> result = plan(Scenario(tests=300), batch_intervals=(30,), max_lanes=40,
        ...               max_machines=8)
        >>> result.chosen is not None and result.chosen.feasible
        True
    """
    check_scenario(scenario)
    _number(target_share, "target_share", 0.0, 1.0, lo_open=True)
    _integer(seed, "seed", 0, 2**63 - 1)
    _integer(max_lanes, "max_lanes", len(scenario.centres), 100_000)
    _integer(max_machines, "max_machines", 1, 10_000)
    _number(lane_cost, "lane_cost", 0.0, 1e9)
    _number(machine_cost, "machine_cost", 0.0, 1e9)
    if not pooling_options or not batch_intervals:
        raise PlanningError("pooling_options and batch_intervals must not be empty")
    for interval in batch_intervals:
        _integer(interval, "batch_interval", 1, 24 * 60)
    variants: list[tuple[bool, int | None]] = []
    for pooling in dict.fromkeys(bool(p) for p in pooling_options):
        if not pooling:
            variants.append((False, None))
            continue
        sizes = pool_sizes(scenario.prevalence, target_share, scenario.max_pool_size)
        variants += [(True, k) for k in sizes if k > 1]
    if not variants:  # pooling only, at a prevalence where pools do not pay: test one by one
        variants.append((False, None))

    trials: dict[Config, Trial] = {}
    days: dict[Config, DayResult] = {}

    def run(config: Config) -> Trial:
        if config not in trials:
            day = simulate_day(scenario, config, seed=seed)
            days[config] = day
            trials[config] = Trial(
                config=config,
                share_within_target=day.share_within_target,
                median_turnaround=day.median_turnaround,
                p95_turnaround=day.p95_turnaround,
                max_queue=day.max_queue,
                reactions=day.reactions,
                cost=config.lanes * lane_cost + config.machines * machine_cost,
                feasible=day.share_within_target >= target_share,
            )
            if progress:
                progress(len(trials))
        return trials[config]

    def fewest(lo: int, hi: int, ok: Callable[[int], bool]) -> int | None:
        """The least value in lo..hi for which ok holds (ok is monotone), or None."""
        if not ok(hi):
            return None
        while lo < hi:
            mid = (lo + hi) // 2
            if ok(mid):
                hi = mid
            else:
                lo = mid + 1
        return lo

    min_lanes = len(scenario.centres)
    for pooling, size in variants:
        for interval in batch_intervals:

            def cfg(
                lanes: int,
                machines: int,
                p: bool = pooling,
                b: int = interval,
                k: int | None = size,
            ) -> Config:
                return Config(
                    lanes=lanes, machines=machines, batch_interval=b, pooling=p, pool_size=k
                )

            lanes_lo = fewest(min_lanes, max_lanes, lambda x: run(cfg(x, max_machines)).feasible)
            if lanes_lo is None:
                continue
            machines_lo = fewest(1, max_machines, lambda m: run(cfg(max_lanes, m)).feasible)
            if machines_lo is None:
                continue
            machines_hi = max_machines
            best = math.inf
            lanes = lanes_lo
            while lanes <= max_lanes and lanes * lane_cost + machines_lo * machine_cost < best:

                def ok(m: int, x: int = lanes) -> bool:
                    return run(cfg(x, m)).feasible

                found = fewest(machines_lo, machines_hi, ok)
                if found is not None:
                    best = min(best, lanes * lane_cost + found * machine_cost)
                    machines_hi = found
                    if found == machines_lo:
                        break
                lanes += 1

    feasible = [t for t in trials.values() if t.feasible]
    chosen = min(
        feasible,
        key=lambda t: (
            t.cost,
            t.reactions,
            -t.config.batch_interval,
            -t.share_within_target,
            t.config.lanes,
            t.config.pool_size or 1,
        ),
        default=None,
    )
    return PlanResult(
        scenario=scenario,
        target_share=target_share,
        seed=seed,
        trials=tuple(trials.values()),
        chosen=chosen,
        day=days[chosen.config] if chosen else None,
    )
