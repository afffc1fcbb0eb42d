"""Benchmark: self-isolation check-ins through the API on loopback (issue 5's goal: 14,000
people checking in twice within one hour without falling behind).

It seeds a fresh database (SQLite file, or a private PostgreSQL schema: `--database`) through
the services: `--people` citizens (default 14,000), each with an account, an API token and an
active registration with a geofence, spread over 50 health officers (passwords hashed with
argon2's cheapest parameters: the load uses the tokens). Then it starts `epicity serve` in a
subprocess and sends ``POST /api/v1/isolation/me/checkins`` with bench/api.py's open-loop
load generator (imported, not copied): requests are scheduled at a fixed rate over `--users`
keep-alive connections and each one's latency counts from its scheduled time, so a server
that falls behind shows it. Every request is a different citizen's (their own token), with a
temperature, sometimes symptoms (3% feverish, so alerts are written too) and mostly a
location (2% outside the geofence). Scenarios:

- ``steady``: the goal's average, 28,000 check-ins in an hour = 7.8/s;
- ``burst``: the whole morning window's 14,000 check-ins within 10 minutes = 23.3/s, over 100
  connections;
- ``capacity``: `--capacity-rate` (default 150/s) over 100 connections: what the service
  absorbs; from it, how long the morning's 14,000 check-ins take when they all come at once.

"Backlog drains" means every scheduled check-in was answered 201 (none left 10 s after the
end) at the scheduled rate (within 5%).

Usage:
    python bench/isolation.py [--database URL ...] [--people 14000] [--duration 30]
                              [--workers 1] [--capacity-rate 150]
    python bench/isolation.py --quick      # a few seconds on SQLite
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher

from api import (
    Request,
    Result,
    backend_name,
    fresh_database,
    http,
    log,
    pct,
    run_load,
    server,
)
from epicity.accounts.service import AccountPolicy, create_user, issue_token
from epicity.db import make_engine, migrate, session_factory, session_scope, utcnow
from epicity.isolation import service as iso

PEOPLE = 14_000
OFFICERS = 50
GOAL_PER_HOUR = 2 * PEOPLE  # twice each within the hour
STEADY_RATE = GOAL_PER_HOUR / 3600  # 7.8/s
BURST_RATE = PEOPLE / 600  # the morning window's check-ins within 10 minutes: 23.3/s
PATH = "/api/v1/isolation/me/checkins"
# Seoul, around City Hall: homes spread over ~10 km.
CENTRE = (37.5665, 126.9780)
CHEAPEST = AccountPolicy(hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@dataclass
class Seeded:
    """The seeded database: its URL, each citizen's token and home, how long it took."""

    url: str
    tokens: list[str]
    homes: list[tuple[float, float]]
    seconds: float


def seed(url: str, people: int, rng: random.Random) -> Seeded:
    """Migrate and fill the database through the services, in batches of 1,000 people."""
    started = time.perf_counter()
    engine = make_engine(url)
    tokens: list[str] = []
    homes: list[tuple[float, float]] = []
    end = utcnow().astimezone(iso.SEOUL).date() + dt.timedelta(days=10)
    try:
        migrate(engine)
        sessions = session_factory(engine)
        with session_scope(sessions) as s:
            officers = [
                create_user(
                    s, username=f"bench-officer-{i}", password="bench pass phrase 1",
                    role="health_officer", policy=CHEAPEST,
                ).id
                for i in range(OFFICERS)
            ]  # fmt: skip
        for first in range(0, people, 1000):
            with session_scope(sessions) as s:
                for person in range(first + 1, min(people, first + 1000) + 1):
                    name = f"bench-citizen-{person}"
                    create_user(
                        s, username=name, password="bench pass phrase 1", role="citizen",
                        person_id=person, policy=CHEAPEST,
                    )  # fmt: skip
                    tokens.append(issue_token(s, username=name, name="app").secret)
                    home = (
                        CENTRE[0] + rng.uniform(-0.05, 0.05),
                        CENTRE[1] + rng.uniform(-0.06, 0.06),
                    )
                    homes.append(home)
                    iso.register(
                        s, person_id=person, kind="ordered", end=end,
                        officer_id=officers[person % OFFICERS], actor="bench",
                        geofence=iso.Geofence(home[0], home[1], 100),
                    )  # fmt: skip
            log(f"  seeded {min(people, first + 1000):,} of {people:,} people")
    finally:
        engine.dispose()
    return Seeded(url, tokens, homes, time.perf_counter() - started)


class CheckIns:
    """Check-in requests, each from the next citizen (in a shuffled order) with their token."""

    def __init__(self, seeded: Seeded, port: int, rng: random.Random) -> None:
        self.s = seeded
        self.port = port
        self.rng = rng
        self.order = list(range(len(seeded.tokens)))
        rng.shuffle(self.order)
        self.next = 0

    def body(self, i: int) -> dict[str, object]:
        """A plausible check-in of citizen `i`."""
        rng = self.rng
        temperature = min(max(round(rng.gauss(36.6, 0.25), 1), 35.0), 37.4)
        body: dict[str, object] = {"temperature_c": temperature}
        roll = rng.random()
        if roll < 0.03:
            body = {"temperature_c": round(rng.uniform(37.6, 38.9), 1), "symptoms": ["cough"]}
        elif roll < 0.08:
            body["symptoms"] = [rng.choice(("sore_throat", "headache", "runny_nose"))]
        if rng.random() < 0.7:
            lat, lon = self.s.homes[i]
            away = 0.01 if rng.random() < 0.02 else 0.0002  # ~1 km, or ~20 m
            body.update(lat=lat + away, lon=lon, accuracy_m=round(rng.uniform(5, 40), 1))
        return body

    def make(self) -> list[Request]:
        """The next citizen's check-in (201 expected)."""
        i = self.order[self.next % len(self.order)]
        self.next += 1
        data = http("POST", PATH, self.port, self.body(i))
        return [Request("check-in", data.replace(b"<token>", self.s.tokens[i].encode()), 201)]


@dataclass
class Row:
    """One line of the table."""

    scenario: str
    rate: float
    users: int
    achieved: float
    p50: float
    p99: float
    max: float
    errors: int
    note: str

    @property
    def drains(self) -> bool:
        """Every check-in answered 201 at the scheduled rate (within 5%)."""
        return self.errors == 0 and self.achieved >= 0.95 * self.rate


def _row(scenario: str, rate: float, users: int, r: Result) -> Row:
    latencies = [x for v in r.latencies.values() for x in v] or [float("nan")]
    return Row(
        scenario=scenario,
        rate=rate,
        users=users,
        achieved=r.measured / r.elapsed if r.elapsed else 0.0,
        p50=pct(latencies, 0.50),
        p99=pct(latencies, 0.99),
        max=pct(latencies, 1.0),
        errors=sum(r.errors.values()),
        note=", ".join(f"{k} x{n}" for k, n in sorted(r.errors.items())),
    )


def table(rows: list[Row]) -> str:
    """The markdown table of `rows`."""
    out = [
        "| scenario | target req/s | connections | achieved req/s | p50 ms | p99 ms | max ms "
        "| errors | backlog drains |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        errors = f"**{r.errors}** ({r.note})" if r.errors else "0"
        out.append(
            f"| {r.scenario} | {r.rate:.1f} | {r.users} | {r.achieved:.1f} | {r.p50:.1f} | "
            f"{r.p99:.1f} | {r.max:.1f} | {errors} | {'yes' if r.drains else '**no**'} |"
        )
    return "\n".join(out)


def scenarios(capacity_rate: float) -> list[tuple[str, float, int]]:
    """(name, rate, connections) of each scenario."""
    return [
        ("steady: 28,000 in an hour", STEADY_RATE, 20),
        ("burst: the morning's 14,000 in 10 min", BURST_RATE, 100),
        ("capacity", capacity_rate, 100),
    ]


def run_scenarios(
    seeded: Seeded,
    *,
    workers: int = 1,
    duration: float = 30.0,
    warmup: float = 3.0,
    capacity_rate: float = 150.0,
    seed: int = 1,
    server_log: Path | None = None,
) -> list[Row]:
    """Each scenario against a server of its own (`epicity serve`, `workers` processes)."""
    rows = []
    rng = random.Random(seed)
    for name, rate, users in scenarios(capacity_rate):
        with server(seeded.url, workers, server_log) as (port, proc):
            checkins = CheckIns(seeded, port, rng)
            make: Callable[[], list[Request]] = checkins.make
            log(f"  {name}: {rate:.1f}/s over {users} connections for {duration:g} s ...")
            result = asyncio.run(
                run_load(port, make, 1.0, rate, duration, warmup, users, proc.pid, ["-"])
            )
        rows.append(_row(name, rate, users, result))
    return rows


def summary(rows: list[Row], people: int) -> str:
    """What the table means for the goal."""
    capacity = rows[-1]
    best = max(r.achieved for r in rows if r.errors == 0) if any(not r.errors for r in rows) else 0
    lines = [
        f"Goal: {2 * people:,} check-ins within an hour ({2 * people / 3600:.1f}/s on average); "
        f"the morning window's {people:,} within 10 minutes is {people / 600:.1f}/s.",
    ]
    if best > 0:
        lines.append(
            f"Highest rate served without error: {best:.0f} check-ins/s, i.e. the morning's "
            f"{people:,} check-ins in {people / best / 60:.1f} minutes if they all came at once."
        )
    if not capacity.drains:
        why = f"{capacity.errors} error(s): {capacity.note}" if capacity.errors else "behind"
        lines.append(
            f"At {capacity.rate:.0f}/s over {capacity.users} connections: achieved "
            f"{capacity.achieved:.0f}/s, p99 {capacity.p99:.0f} ms, {why}; above what this "
            "machine serves cleanly."
        )
    return "\n".join(lines)


def measure(
    database: str | None = None,
    *,
    people: int = PEOPLE,
    workers: int = 1,
    duration: float = 30.0,
    warmup: float = 3.0,
    capacity_rate: float = 150.0,
    seed: int = 1,
) -> tuple[str, list[Row]]:
    """Seed a fresh database and run the scenarios: a title line and the rows."""
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp, fresh_database(database, Path(tmp)) as db:
        backend = backend_name(db)
        log(f"{backend}: seeding {people:,} people in isolation ...")
        seeded = seed_database(db, people, rng)
        log(f"  seeded in {seeded.seconds:.0f} s")
        rows = run_scenarios(
            seeded, workers=workers, duration=duration, warmup=warmup,
            capacity_rate=capacity_rate, seed=seed,
        )  # fmt: skip
    head = (
        f"Isolation check-ins, {backend}, {workers} worker(s), {people:,} people "
        f"(seeded in {seeded.seconds:.0f} s), {duration:g} s a run after {warmup:g} s warm-up"
    )
    return head, rows


def checkin_throughput_table(
    database: str | None = None,
    *,
    people: int = PEOPLE,
    workers: int = 1,
    duration: float = 30.0,
    warmup: float = 3.0,
    capacity_rate: float = 150.0,
    seed: int = 1,
) -> str:
    """Seed a fresh database (`database`: None for a SQLite file in a temporary directory, or
    a PostgreSQL URL: a private schema, dropped afterwards), run the scenarios and return the
    markdown table with its title and a summary (what bench/screening.py prints)."""
    head, rows = measure(
        database, people=people, workers=workers, duration=duration, warmup=warmup,
        capacity_rate=capacity_rate, seed=seed,
    )  # fmt: skip
    return f"{head}\n\n{table(rows)}\n\n{summary(rows, people)}"


seed_database = seed  # the name bench/screening.py may call


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--database", action="append", help="sqlite (default) or a PostgreSQL URL")
    p.add_argument("--people", type=int, default=PEOPLE)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--duration", type=float, default=30.0)
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--capacity-rate", type=float, default=150.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--quick", action="store_true", help="500 people, 3 s runs (smoke test)")
    args = p.parse_args(argv)
    if args.quick:
        args.people, args.duration, args.warmup, args.capacity_rate = 500, 3.0, 0.5, 60.0
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 1 when the steady or burst scenario fell behind."""
    args = parse_args(argv)
    print(f"load average at start {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    failed = False
    for url in args.database or [None]:
        head, rows = measure(
            url, people=args.people, workers=args.workers, duration=args.duration,
            warmup=args.warmup, capacity_rate=args.capacity_rate, seed=args.seed,
        )  # fmt: skip
        print(f"\n### {head}\n\n{table(rows)}\n\n{summary(rows, args.people)}\n")
        # The goal's scenarios must drain; the capacity run may saturate (that is its point).
        failed |= not all(r.drains for r in rows[:2])
    print(f"load average at end {os.getloadavg()[0]:.2f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
