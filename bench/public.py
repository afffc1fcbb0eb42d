"""Benchmark: the open API's dashboard endpoints under load on loopback (issue 7's goal:
p99 < 50 ms at 1,000 req/s for cached answers).

For each database backend (`--database`, repeatable; default a SQLite file in a temporary
directory) it creates a fresh database, seeds it through the domain services (`--cases`
cases over 60 days across Seoul's 25 districts, as `bench/api.py` does) and publishes the
daily figures and breakdown once (`epicity.opendata.service.publish`). Then, for each worker
count, it starts `epicity serve` and drives it with `bench/api.py`'s open-loop generator
(requests scheduled at `--rate`, latency from the scheduled time, so queueing shows; raw
sockets over `--users` keep-alive connections). Each run mixes the endpoints a dashboard
reads: the latest day of every area, the city's and a district's series (a page of up to
100 days), the district x age breakdown, the list of areas. Scenarios, side by side:

- ``cached``: the response cache on (the default), each URL asked for once before the run;
- ``cached, If-None-Match``: the same with the ETag the client holds: 304s, no body;
- ``/healthz``: the service's cheapest route (one ``SELECT 1``), the framework's floor;
- ``uncached``: a server started with ``EPICITY_OPEN_API_CACHE=0``, so every request runs
  the route and its queries; at `--uncached-rate` (default 50 req/s), since at 1,000 req/s
  it would only queue: how much it can answer is measured apart (below).

Each repeat starts one server with the cache and one without, and runs the scenarios one
after the other (interleaved, so the shared machine's noise falls on all alike); figures are
medians of `--repeats` runs. With each server, the most it answers is measured too: closed
loop (each connection sends as soon as answered) on the latest-day endpoint. The rate
limit stays on, at a rate no client reaches, so its bucket is paid for. A run with any
error (wrong status, broken connection, no answer) is flagged. The load average of the
(shared) machine is printed at the start, after each run and at the end.

Usage:
    python bench/public.py [--database URL ...] [--workers 1,2] [--rate 1000]
                           [--uncached-rate 50] [--duration 10] [--repeats 3] [--cases 5000]
    python bench/public.py --quick          # a few seconds on SQLite (the smoke test)

PostgreSQL: ``--database postgresql+psycopg://postgres@127.0.0.1:5432/test``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from api import (
    Request,
    Result,
    Row,
    backend_name,
    closed_loop,
    fresh_database,
    log,
    run_load,
    seed,
    server,
    summarise,
)
from api import meets as api_meets
from api import table as api_table
from epicity.db import make_engine, session_factory, session_scope, utcnow
from epicity.opendata import service as opendata

P99_GOAL_MS = 50.0
SCENARIOS = ("cached", "etag", "uncached", "healthz")
LABELS = {
    "cached": "cached",
    "etag": "cached, If-None-Match (304)",
    "uncached": "uncached",
    "healthz": "/healthz (floor)",
}
OPEN = "/api/open/v1"
ENV = {"EPICITY_OPEN_API_RATE": "1000000", "EPICITY_OPEN_API_BURST": "1000000"}


# ------------------------------------------------------------------------------------------
# data and URLs


def publish(url: str) -> tuple[int, float]:
    """Publish the seeded database's figures as of today; rows stored and seconds taken."""
    started = time.perf_counter()
    engine = make_engine(url)
    try:
        with session_scope(session_factory(engine)) as s:
            opendata.publish(s, as_of=utcnow().date(), actor="bench", now=utcnow())
            rows = opendata.count_figures(s)
    finally:
        engine.dispose()
    return rows, time.perf_counter() - started


def dashboard_urls(districts: list[str]) -> list[tuple[str, int]]:
    """The dashboard's reads with their weights: the latest day (every area), the city's
    and each district's series, the breakdown and the areas."""
    urls = [
        (f"{OPEN}/figures/latest", 25),
        (f"{OPEN}/figures?area=city", 20),
        (f"{OPEN}/breakdowns/district_age", 10),
        (f"{OPEN}/areas", 5),
    ]
    urls += [(f"{OPEN}/figures?area={d}", 2) for d in districts]  # 50 in all
    return urls


def request_bytes(path: str, etag: str | None = None) -> bytes:
    """A GET of `path` as a browser's fetch would send it (with the ETag it holds)."""
    head = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n"
    if etag:
        head += f"If-None-Match: {etag}\r\n"
    return (head + "\r\n").encode()


async def etags(port: int, paths: list[str]) -> dict[str, str]:
    """Each path asked for once (this fills the cache); the ETag of each answer."""
    found: dict[str, str] = {}
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for path in paths:
            writer.write(request_bytes(path))
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            if not head.startswith("HTTP/1.1 200"):
                raise RuntimeError(f"GET {path}: {head.splitlines()[0]}")
            fields = dict(line.split(": ", 1) for line in head.split("\r\n")[1:] if ": " in line)
            lower = {k.lower(): v for k, v in fields.items()}
            await reader.readexactly(int(lower["content-length"]))
            found[path] = lower["etag"]
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return found


def jobs(
    scenario: str, urls: list[tuple[str, int]], tags: dict[str, str], rng: random.Random
) -> Callable[[], list[Request]]:
    """Random requests of a scenario, each URL as often as its weight says."""
    label = LABELS[scenario]
    if scenario == "healthz":
        only = [Request(label, request_bytes("/healthz"), 200)]
        return lambda: only
    conditional = scenario == "etag"
    made = [
        Request(
            label,
            request_bytes(path, tags[path] if conditional else None),
            304 if conditional else 200,
        )
        for path, _ in urls
    ]
    weights = [w for _, w in urls]

    def make() -> list[Request]:
        return rng.choices(made, weights)

    return make


# ------------------------------------------------------------------------------------------
# runs


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """`values` in os.environ (the server subprocess inherits them), restored afterwards."""
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def fill(port: int, workers: int, urls: list[tuple[str, int]]) -> dict[str, str]:
    """Each URL asked for over new connections, enough rounds to reach every worker (they
    share the socket): their caches filled; the ETags of the answers."""
    tags: dict[str, str] = {}
    for _ in range(3 * workers):
        tags = asyncio.run(etags(port, [u for u, _ in urls]))
    return tags


def load(
    port: int,
    pid: int,
    scenario: str,
    make: Callable[[], list[Request]],
    args: argparse.Namespace,
) -> Result:
    """One open-loop run of a scenario at its rate (`--rate`, or `--uncached-rate`)."""
    rate = args.uncached_rate if scenario == "uncached" else args.rate
    return asyncio.run(
        run_load(port, make, 1.0, rate, args.duration, args.warmup, args.users, pid, [""])
    )


def meets(row: Row) -> bool:
    """p99 under this benchmark's goal, the rate achieved (within 5%) and no error."""
    return api_meets(row, P99_GOAL_MS)


def table(rows: list[Row]) -> str:
    """The markdown table of `rows` against this benchmark's goal."""
    return api_table(rows, P99_GOAL_MS)


@dataclass
class Seeded:
    """The seeded database and what the load asks for."""

    url: str
    urls: list[tuple[str, int]]
    note: str


def prepare(url: str, args: argparse.Namespace, rng: random.Random) -> Seeded:
    """Seed `url` with cases and publish their figures."""
    seeded = seed(url, args.cases, rng)
    rows, seconds = publish(url)
    note = (
        f"{seeded.counts['cases']:,} cases seeded in {seeded.seconds:.0f} s; published "
        f"{rows:,} (day, area) rows in {seconds:.1f} s"
    )
    return Seeded(url, dashboard_urls(seeded.districts), note)


def bench_server(seeded: Seeded, workers: int, args: argparse.Namespace) -> tuple[list[Row], str]:
    """Every scenario with `workers` workers, interleaved: each repeat starts a server with
    the cache (cached, If-None-Match, /healthz runs) and one without (uncached run), so the
    machine's noise falls on all alike. Rows (medians) and notes."""
    rng = random.Random(args.seed)
    runs: dict[str, list[Result]] = {s: [] for s in args.scenarios}
    ceilings: dict[str, list[float]] = {"cached": [], "uncached": []}
    sizes: dict[str, int] = {}
    probe = f"{OPEN}/figures/latest"
    for i in range(args.repeats):
        for cached in (True, False):
            todo = [s for s in args.scenarios if (s == "uncached") != cached]
            env = dict(ENV, EPICITY_OPEN_API_CACHE="1" if cached else "0")
            with environment(env), server(seeded.url, workers, args.server_log) as (port, proc):
                tags = fill(port, workers, seeded.urls)
                if not sizes:  # once: answer sizes and the client's own cost
                    sizes = asyncio.run(_sizes(port, [u for u, _ in seeded.urls[:4]]))
                    client_rps, cpu = asyncio.run(
                        closed_loop(port, "/healthz", args.ceiling_seconds, args.users)
                    )
                rps, _ = asyncio.run(closed_loop(port, probe, args.ceiling_seconds, args.users))
                ceilings["cached" if cached else "uncached"].append(rps)
                for scenario in todo:
                    result = load(
                        port, proc.pid, scenario, jobs(scenario, seeded.urls, tags, rng), args
                    )
                    runs[scenario].append(result)
                    rate = args.uncached_rate if scenario == "uncached" else args.rate
                    done = summarise(LABELS[scenario], rate, [result])
                    log(
                        f"  {LABELS[scenario]} run {i + 1}: {done.achieved:.0f} req/s, p99 "
                        f"{done.p99:.1f} ms, errors {done.errors}, load {os.getloadavg()[0]:.2f}"
                    )
    rows = [
        summarise(LABELS[s], args.uncached_rate if s == "uncached" else args.rate, runs[s])
        for s in args.scenarios
    ]
    most = "; ".join(
        f"{kind} {statistics.median(v):,.0f} req/s" for kind, v in ceilings.items() if v
    )
    notes = [
        f"most a server answers, closed loop ({args.users} connections, {probe.removeprefix(OPEN)}"
        f", {args.ceiling_seconds:g} s, median of {args.repeats}): {most}",
        f"client: {1e6 * cpu:.0f} us CPU per request (ceiling about {1 / cpu:,.0f} req/s on "
        f"one core); /healthz closed loop: {client_rps:,.0f} req/s",
        "answer sizes: " + ", ".join(f"{p.removeprefix(OPEN)} {n:,} B" for p, n in sizes.items()),
    ]
    return rows, "\n".join(f"- {n}" for n in notes)


async def _sizes(port: int, paths: list[str]) -> dict[str, int]:
    """The body size of each path's answer (bytes)."""
    sizes: dict[str, int] = {}
    for path in paths:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(request_bytes(path))
            head = (await reader.readuntil(b"\r\n\r\n")).lower()
            at = head.index(b"content-length:") + 15
            sizes[path] = int(head[at : head.index(b"\r\n", at)])
        finally:
            writer.close()
    return sizes


# ------------------------------------------------------------------------------------------
# main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database",
        action="append",
        help="database URL, or 'sqlite' for a file in a temporary directory (the default); "
        "repeatable",
    )
    parser.add_argument("--workers", default="1,2", help="worker counts, e.g. 1,2")
    parser.add_argument("--rate", type=float, default=1000.0, help="target requests/s")
    parser.add_argument(
        "--uncached-rate",
        type=float,
        default=50.0,
        help="requests/s of the uncached runs (a rate the uncached path sustains)",
    )
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds a run")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first")
    parser.add_argument("--users", type=int, default=50, help="concurrent connections")
    parser.add_argument("--cases", type=int, default=5000, help="cases seeded")
    parser.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help=f"of {','.join(SCENARIOS)}"
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs per scenario (medians)")
    parser.add_argument("--server-log", type=Path, help="append the server's stderr here")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="tiny run (a few seconds)")
    args = parser.parse_args(argv)
    args.ceiling_seconds = 3.0
    if args.quick:
        args.workers, args.rate, args.duration, args.warmup = "1", 100.0, 1.0, 0.3
        args.uncached_rate = 10.0
        args.cases, args.users, args.repeats, args.ceiling_seconds = 200, 10, 1, 0.3
    args.workers = [int(w) for w in args.workers.split(",")]
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"--scenarios: unknown {', '.join(sorted(unknown))}")
    for name in ("rate", "uncached_rate", "duration", "cases", "users", "repeats"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name}: must be positive")
    if any(w < 1 for w in args.workers):
        parser.error("--workers: must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 1 when any run had errors."""
    args = parse_args(argv)
    rng = random.Random(args.seed)
    print(
        f"\nOpen data API under load: {args.cases:,} cases, {args.users} connections, "
        f"{args.rate:g} req/s, {args.duration:g} s a run after {args.warmup:g} s warm-up, "
        f"medians of {args.repeats} run(s); load average at start "
        f"{', '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores"
    )
    failed = False
    for url in args.database or [None]:
        with tempfile.TemporaryDirectory() as tmp, fresh_database(url, Path(tmp)) as db:
            backend = backend_name(db)
            log(f"{backend}: seeding {args.cases:,} cases and publishing ...")
            seeded = prepare(db, args, rng)
            log(f"{backend}: {seeded.note}")
            for workers in args.workers:
                log(f"{backend}, {workers} worker(s):")
                rows, notes = bench_server(seeded, workers, args)
                print(f"\n### {backend}, {workers} worker(s)\n")
                print(table(rows))
                print(f"\n- {seeded.note}\n{notes}")
                failed |= any(r.errors for r in rows)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nload average at end {load} (1, 5, 15 min)")
    if failed:
        print("\nSOME RUNS HAD ERRORS: their figures are flagged above.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
