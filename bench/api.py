"""Benchmark: the HTTP API under load on loopback (issue 4's goal: p99 < 100 ms at 500 req/s).

For each database backend (`--database`, repeatable; default a SQLite file in a temporary
directory) it creates a fresh database (PostgreSQL: a private schema, dropped at the end, so
nothing else in that database is touched), migrates it and seeds it through the domain
services (`epicity.cases.service`, `epicity.accounts.service`): `--cases` cases over 60 days
across Seoul's 25 districts, a few contacts each, clusters with transmission links inside
them, and one investigator with an API token. Then, for each worker count (`--workers 1,2`),
it starts `epicity serve` in a subprocess and drives it with an open-loop load generator:

- requests are scheduled at a fixed rate (`--rate`, default 500 req/s) and sent over 100
  keep-alive HTTP/1.1 connections ("users", `--users`); a request waits for a free
  connection when all are busy, and its latency is measured from its *scheduled* send time,
  so queueing shows in the figures (no coordinated omission);
- each scenario runs on its own, for `--duration` s after `--warmup` s:
  ``list`` (GET /api/v1/cases with random filters and offsets), ``page`` (a case page: GET
  /api/v1/cases/{id}, /contacts and /history, one after the other on one connection; the
  rate and latencies count its three requests), ``upload`` (POST /api/v1/cases/{id}/contacts
  with a new person id, 201 expected) and ``mix`` (of the three);
- each run gets a server of its own and new API tokens, each used once before the run: the
  service records a token's use (at most once a minute) inside the request's transaction,
  and many requests doing that at once stall it (docs/benchmarks.md); `--no-prime-tokens`
  leaves that in;
- every response's status is checked; errors (wrong status, broken connection, no answer
  within 10 s of the end) are counted and a run with any is flagged;
- the saturation step: the case list at rising rates (`--steps`) until its p99 reaches
  100 ms, it falls short of the rate, or it errs; the last rate that passed is reported.

The client is a few hundred lines of asyncio over raw sockets (no HTTP library) so that it
leaves the server the CPU: its own CPU per request is measured against /healthz (closed loop)
and printed with the table, as is the CPU the server used during each run.

Usage:
    python bench/api.py [--database URL ...] [--workers 1,2] [--rate 500] [--duration 20]
                        [--cases 20000] [--scenarios list,page,upload,mix] [--repeats 3]
    python bench/api.py --quick        # a few seconds on SQLite (the smoke test runs this)

PostgreSQL: ``--database postgresql+psycopg://postgres@127.0.0.1:5432/test``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import math
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from epicity.accounts import service as accounts
from epicity.accounts.service import AccountPolicy
from epicity.cases import service as cases
from epicity.city.districts import seoul_districts
from epicity.db import make_engine, migrate, session_factory, session_scope

SCENARIOS = ("list", "page", "upload", "mix")
LABELS = {
    "list": "case list",
    "page": "case page",
    "upload": "contact upload",
    "mix": "mix",
}
P99_GOAL_MS = 100.0
DAYS = 60
STATUSES = ("suspected", "confirmed", "isolated", "recovered", "deceased", "discarded")
ACTOR = "bench-investigator"
# The password is not used after seeding (the load uses the API token): a cheap hasher is
# enough, and argon2's default costs would only slow the set-up.
CHEAP_POLICY = AccountPolicy(hasher=PasswordHasher(time_cost=1, memory_cost=1024))


# ------------------------------------------------------------------------------------------
# database: a fresh one per backend, seeded through the services


@dataclass
class Seeded:
    """What the load needs to know about the seeded database."""

    url: str
    tokens: list[str]
    case_ids: list[int]
    cluster_ids: list[int]
    districts: list[str]
    seconds: float
    counts: dict[str, int] = field(default_factory=dict)


def backend_name(url: str) -> str:
    """'sqlite' or 'postgresql'."""
    return make_url(url).get_backend_name()


@contextlib.contextmanager
def fresh_database(url: str | None, tmp: Path) -> Iterator[str]:
    """A URL of an empty database: a SQLite file in `tmp`, or a private schema in the given
    PostgreSQL database (its URL sets ``search_path`` there; dropped afterwards)."""
    if url in (None, "sqlite"):
        yield f"sqlite:///{tmp / 'bench.db'}"
        return
    assert url is not None
    if backend_name(url) == "sqlite":
        yield url
        return
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = make_engine(url)
    try:
        with admin.begin() as con:
            con.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        try:
            private = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
            yield private.render_as_string(hide_password=False)
        finally:
            with admin.begin() as con:
                con.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


def seed(url: str, n_cases: int, rng: random.Random, n_tokens: int = 1) -> Seeded:
    """Migrate and fill the database through the domain services (committed in batches);
    `n_tokens` investigators, each with an API token."""
    started = time.perf_counter()
    engine = make_engine(url)
    try:
        migrate(engine)
        sessions = session_factory(engine)
        today = dt.date.today()
        districts = [d.name for d in seoul_districts()]
        weights = [rng.uniform(0.5, 2.0) for _ in districts]
        case_ids: list[int] = []
        contacts = 0
        batch = 1000
        for start in range(0, n_cases, batch):
            with session_scope(sessions) as s:
                for _ in range(min(batch, n_cases - start)):
                    case_ids.append(_seed_case(s, rng, today, districts, weights))
                    for _ in range(rng.choice((0, 1, 2, 2, 3, 3, 4, 5))):
                        cases.add_contact(
                            s,
                            case_id=case_ids[-1],
                            actor=ACTOR,
                            tier=rng.choice(("close", "close", "casual")),
                            person_id=rng.getrandbits(48),
                        )
                        contacts += 1
        cluster_ids, links = _seed_clusters(sessions, case_ids, rng, n_cases)
        tokens = []
        with session_scope(sessions) as s:
            for i in range(n_tokens):
                name = f"bench-investigator-{i + 1}"
                accounts.create_user(
                    s, username=name, password="Load-test-password-1", role="investigator",
                    policy=CHEAP_POLICY,
                )  # fmt: skip
                tokens.append(accounts.issue_token(s, username=name, name="bench").secret)
    finally:
        engine.dispose()
    return Seeded(
        url=url,
        tokens=tokens,
        case_ids=case_ids,
        cluster_ids=cluster_ids,
        districts=districts,
        seconds=time.perf_counter() - started,
        counts={
            "cases": len(case_ids),
            "contacts": contacts,
            "clusters": len(cluster_ids),
            "links": links,
        },
    )


def _seed_case(
    s: Session,
    rng: random.Random,
    today: dt.date,
    districts: list[str],
    weights: list[float],
) -> int:
    """One case: suspected (10%) or confirmed within the last 60 days, then often isolated,
    and (when long enough ago) recovered or, rarely, deceased."""
    district = rng.choices(districts, weights)[0]
    common: dict[str, Any] = {
        "actor": ACTOR,
        "person_id": rng.getrandbits(48),
        "sex": rng.choice(("female", "male")),
        "age_group": rng.choice(("0s", "10s", "20s", "30s", "40s", "50s", "60s", "70s", "80s")),
        "province": "Seoul",
        "district": district,
    }
    if rng.random() < 0.1:
        onset = today - dt.timedelta(days=rng.randrange(0, 7))
        return cases.create_case(s, status="suspected", symptom_onset=onset, **common).id
    confirmed = today - dt.timedelta(days=rng.randrange(0, DAYS))
    case = cases.create_case(
        s,
        status="confirmed",
        confirmed_date=confirmed,
        test_date=confirmed - dt.timedelta(days=rng.randrange(0, 2)),
        **common,
    )
    age = (today - confirmed).days
    if age >= 1 and rng.random() < 0.8:
        cases.change_status(
            s, case_id=case.id, to="isolated", actor=ACTOR, reason="isolation order",
            on=confirmed + dt.timedelta(days=1),
        )  # fmt: skip
        if age >= 14:
            outcome = "deceased" if rng.random() < 0.01 else "recovered"
            cases.change_status(
                s, case_id=case.id, to=outcome, actor=ACTOR, reason="outcome",
                on=confirmed + dt.timedelta(days=rng.randrange(10, min(age, 30) + 1)),
            )  # fmt: skip
    return case.id


def _seed_clusters(
    sessions: Callable[[], Session], case_ids: list[int], rng: random.Random, n: int
) -> tuple[list[int], int]:
    """Clusters of 3-40 cases (about a quarter of all cases), each a transmission tree."""
    kinds = ("venue", "workplace", "religious", "healthcare", "household", "community")
    pool = case_ids[:]
    rng.shuffle(pool)
    cluster_ids: list[int] = []
    links = 0
    with session_scope(sessions) as s:
        while len(pool) > 3 and len(pool) > len(case_ids) * 0.75:
            members = [pool.pop() for _ in range(min(len(pool), rng.randrange(3, 41)))]
            cluster = cases.create_cluster(
                s, name=f"cluster {len(cluster_ids) + 1}", kind=rng.choice(kinds), actor=ACTOR
            )
            cluster_ids.append(cluster.id)
            for i, case_id in enumerate(members):
                cases.add_to_cluster(s, cluster_id=cluster.id, case_id=case_id, actor=ACTOR)
                if i:  # each member but the first infected by an earlier one: a tree
                    cases.add_link(
                        s,
                        infector_id=members[rng.randrange(0, i)],
                        infectee_id=case_id,
                        evidence="same venue, overlapping visits",
                        actor=ACTOR,
                    )
                    links += 1
            if len(cluster_ids) >= max(1, n // 100):
                break
    return cluster_ids, links


# ------------------------------------------------------------------------------------------
# server: `epicity serve` in a subprocess


def free_port() -> int:
    """A TCP port free on loopback now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# `epicity serve` is `epicity.web.cli.serve`; run it directly so the benchmark does not depend
# on how the top-level CLI registers it.
_SERVE = "import typer; from epicity.web.cli import serve; typer.run(serve)"


@contextlib.contextmanager
def server(
    url: str, workers: int, server_log: Path | None = None
) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """`epicity serve` on a free loopback port, answering /healthz; stopped afterwards. Its
    stderr is appended to `server_log` and its tail echoed to ours."""
    port = free_port()
    cmd = [sys.executable, "-c", _SERVE, "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--database", url, "--workers", str(workers)]
    # The server's errors go to a file: a pipe nobody reads would fill and stall the server.
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=errors)
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    errors.seek(0)
                    err = errors.read().decode(errors="replace")
                    raise RuntimeError(f"epicity serve exited with {proc.returncode}:\n{err}")
                with contextlib.suppress(OSError):
                    status, _ = asyncio.run(_one_get(port, "/healthz"))
                    if status == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError("epicity serve did not answer /healthz within 60 s")
                time.sleep(0.2)
            yield port, proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            errors.seek(0)
            logged = errors.read().decode(errors="replace").strip()
            if logged:
                log(f"epicity serve's stderr (last 2000 characters):\n{logged[-2000:]}")
                if server_log is not None:
                    with server_log.open("a") as out:
                        out.write(logged + "\n")


def tree_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and its descendants (the uvicorn workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    tree = {pid}
    grew = True
    while grew:
        grew = False
        for child, parent in parents.items():
            if parent in tree and child not in tree:
                tree.add(child)
                grew = True
    return sum(times.get(p, 0.0) for p in tree)


# ------------------------------------------------------------------------------------------
# load: raw HTTP/1.1 over keep-alive connections, open loop


@dataclass(frozen=True)
class Request:
    """One HTTP request of a job, with the status it must get."""

    label: str
    data: bytes
    expect: int


@dataclass
class Result:
    """Latencies (s) of the measured requests by label, and what went wrong."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    jobs: list[float] = field(default_factory=list)  # whole-job latency (a case page)
    errors: dict[str, int] = field(default_factory=dict)
    measured: int = 0  # measured requests answered
    scheduled: int = 0  # measured requests scheduled
    elapsed: float = 0.0
    client_cpu: float = 0.0
    server_cpu: float = 0.0

    def error(self, what: str) -> None:
        """Count one error of kind `what`."""
        self.errors[what] = self.errors.get(what, 0) + 1


class Connection:
    """A keep-alive HTTP/1.1 connection that reconnects when the server closes it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def send(self, data: bytes) -> int:
        """Send one request and read its whole response; returns the status."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        try:
            self.writer.write(data)
            head = await self.reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            lower = head.lower()
            at = lower.find(b"\r\ncontent-length:")
            if at >= 0:
                end = lower.index(b"\r\n", at + 2)
                await self.reader.readexactly(int(lower[at + 17 : end]))
            elif b"\r\ntransfer-encoding: chunked" in lower:
                while True:
                    size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                    await self.reader.readexactly(size + 2)
                    if size == 0:
                        break
            if b"\r\nconnection: close" in lower:
                await self.close()
            return status
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Close the socket (a later send reconnects)."""
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


# Requests are made once with this in place of the token; each connection puts in its own.
TOKEN = b"<token>"


def http(method: str, path: str, port: int, body: object = None) -> bytes:
    """The bytes of one request (with `TOKEN` where the connection's token goes)."""
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {TOKEN.decode()}\r\nAccept: application/json\r\n"
    )
    if body is None:
        return (head + "\r\n").encode()
    payload = json.dumps(body).encode()
    head += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    return head.encode() + payload


async def _one_get(port: int, path: str) -> tuple[int, float]:
    conn = Connection(port)
    try:
        started = time.perf_counter()
        status = await asyncio.wait_for(
            conn.send(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()), 5
        )
        return status, time.perf_counter() - started
    finally:
        await conn.close()


def fresh_tokens(url: str, n: int) -> list[str]:
    """New API tokens for the `n` seeded investigators (never used yet, so the first use of
    each, in `prime_tokens`, records it and the next minute records none)."""
    engine = make_engine(url)
    try:
        with session_scope(session_factory(engine)) as s:
            return [
                accounts.issue_token(s, username=f"bench-investigator-{i + 1}", name="run").secret
                for i in range(n)
            ]
    finally:
        engine.dispose()


async def prime_tokens(port: int, tokens: list[str]) -> None:
    """One request per token, one after the other: the service records a token's last use
    in the request's transaction at most once a minute, and many requests doing that at once
    stall it (see docs/benchmarks.md, "API under load"); with new tokens, a run starting
    right after this measures the API without those writes for a minute."""
    conn = Connection(port)
    try:
        for token in tokens:
            data = http("GET", "/api/v1/cases?limit=1", port).replace(TOKEN, token.encode())
            status = await asyncio.wait_for(conn.send(data), 30)
            if status != 200:
                raise RuntimeError(f"priming a token: HTTP {status}")
    finally:
        await conn.close()


class Jobs:
    """Random jobs (lists of requests) of each scenario, over the seeded data."""

    def __init__(self, seeded: Seeded, port: int, rng: random.Random) -> None:
        self.s = seeded
        self.port = port
        self.rng = rng

    def _get(self, label: str, path: str) -> Request:
        return Request(label, http("GET", path, self.port), 200)

    def case_list(self) -> list[Request]:
        """A page of the case list: no filter, or a status, district or cluster, or two."""
        rng = self.rng
        params = [f"limit=50&offset={50 * rng.randrange(0, 20)}"]
        roll = rng.random()
        if roll < 0.25 or 0.6 <= roll < 0.75:
            params.append(f"district={rng.choice(self.s.districts)}")
        if 0.25 <= roll < 0.45 or 0.6 <= roll < 0.75:
            params.append(f"status={rng.choice(STATUSES[:4])}")
        if 0.45 <= roll < 0.5 and self.s.cluster_ids:
            params = ["limit=50", f"cluster_id={rng.choice(self.s.cluster_ids)}"]
        return [self._get("case list", "/api/v1/cases?" + "&".join(params))]

    def case_page(self) -> list[Request]:
        """What the case page asks: the case, its contacts and its history."""
        case = self.rng.choice(self.s.case_ids)
        return [
            self._get("case page", f"/api/v1/cases/{case}"),
            self._get("case page", f"/api/v1/cases/{case}/contacts"),
            self._get("case page", f"/api/v1/cases/{case}/history"),
        ]

    def upload(self) -> list[Request]:
        """A contact added by hand to a random case (a new person: 201)."""
        case = self.rng.choice(self.s.case_ids)
        body = {
            "tier": self.rng.choice(("close", "casual")),
            "person_id": self.rng.getrandbits(62),
            "note": "named at interview",
        }
        data = http("POST", f"/api/v1/cases/{case}/contacts", self.port, body)
        return [Request("contact upload", data, 201)]

    def maker(self, scenario: str) -> tuple[Callable[[], list[Request]], float]:
        """The job maker of a scenario and its mean number of requests per job."""
        if scenario == "list":
            return self.case_list, 1.0
        if scenario == "page":
            return self.case_page, 3.0
        if scenario == "upload":
            return self.upload, 1.0
        # mix: of the jobs, 6 in 10 list pages, 3 case pages, 1 upload (a console's day)
        choices = (self.case_list,) * 6 + (self.case_page,) * 3 + (self.upload,)

        def mixed() -> list[Request]:
            return self.rng.choice(choices)()

        return mixed, (6 * 1 + 3 * 3 + 1) / 10


async def run_load(
    port: int,
    make: Callable[[], list[Request]],
    per_job: float,
    rate: float,
    duration: float,
    warmup: float,
    users: int,
    server_pid: int,
    tokens: list[str],
) -> Result:
    """Open loop: jobs scheduled at `rate`/`per_job` a second over `warmup + duration` s,
    taken by `users` connections as they come free; requests scheduled in the warm-up are
    not measured. Connection i uses token i modulo their number. Latency of a job's first
    request counts from its scheduled time; of the next ones, from the previous one's answer
    (they follow it, as a browser's would)."""
    result = Result()
    queue: asyncio.Queue[tuple[float, list[Request]] | None] = asyncio.Queue()
    interval = per_job / rate
    start = time.perf_counter() + 0.05
    measure_from = start + warmup
    end = measure_from + duration

    async def user(token: bytes) -> None:
        conn = Connection(port)
        try:
            while (item := await queue.get()) is not None:
                scheduled, requests = item
                measured = scheduled >= measure_from
                since = scheduled
                for req in requests:
                    try:
                        status = await conn.send(req.data.replace(TOKEN, token, 1))
                    except (OSError, asyncio.IncompleteReadError, ValueError) as err:
                        if measured:
                            result.error(type(err).__name__)
                        break
                    done = time.perf_counter()
                    if measured:
                        result.latencies.setdefault(req.label, []).append(done - since)
                        result.measured += 1
                        if status != req.expect:
                            result.error(f"HTTP {status}")
                    since = done
                else:
                    if measured and len(requests) > 1:
                        result.jobs.append(since - scheduled)
        finally:
            await conn.close()

    tasks = [asyncio.create_task(user(tokens[i % len(tokens)].encode())) for i in range(users)]
    cpu0, server0 = time.process_time(), tree_cpu_seconds(server_pid)
    n = 0
    while (at := start + n * interval) < end:
        delay = at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        job = make()
        if at >= measure_from:
            result.scheduled += len(job)
        queue.put_nowait((at, job))
        n += 1
    for _ in tasks:
        queue.put_nowait(None)
    _, pending = await asyncio.wait(tasks, timeout=10)
    for task in pending:
        task.cancel()
    unanswered = result.scheduled - result.measured - sum(result.errors.values())
    for _ in range(unanswered):  # never sent or never answered, 10 s after the end
        result.error("no answer")
    result.elapsed = max(time.perf_counter(), end) - measure_from
    result.client_cpu = time.process_time() - cpu0
    result.server_cpu = tree_cpu_seconds(server_pid) - server0
    return result


async def closed_loop(port: int, path: str, seconds: float, users: int) -> tuple[float, float]:
    """Requests/s against `path` with `users` connections each sending as soon as answered,
    and the client's CPU per request (s)."""
    data = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    count = 0
    stop = time.perf_counter() + seconds

    async def user() -> None:
        nonlocal count
        conn = Connection(port)
        try:
            while time.perf_counter() < stop:
                if await conn.send(data) == 200:
                    count += 1
        finally:
            await conn.close()

    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(user() for _ in range(users)))
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return count / wall, cpu / max(count, 1)


# ------------------------------------------------------------------------------------------
# figures


def pct(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank) of `values`, in ms."""
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


@dataclass
class Row:
    """One line of the table (medians over repeats)."""

    scenario: str
    rate: float
    achieved: float
    p50: float
    p95: float
    p99: float
    max: float
    errors: int
    client_cpu: float
    server_cpu: float
    note: str = ""


def summarise(scenario: str, rate: float, runs: list[Result], *, pages: bool = False) -> Row:
    """The median of each figure over the runs (`pages`: whole-page latencies instead)."""

    def med(f: Callable[[Result], float]) -> float:
        return statistics.median(f(r) for r in runs)

    def lat(r: Result) -> list[float]:
        if pages:
            return r.jobs or [math.nan]
        return [x for v in r.latencies.values() for x in v] or [math.nan]

    errors = [sum(r.errors.values()) for r in runs]
    kinds = sorted({k for r in runs for k in r.errors})
    return Row(
        scenario=scenario,
        rate=rate / 3 if pages else rate,
        achieved=med(lambda r: (len(r.jobs) if pages else r.measured) / r.elapsed),
        p50=med(lambda r: pct(lat(r), 0.50)),
        p95=med(lambda r: pct(lat(r), 0.95)),
        p99=med(lambda r: pct(lat(r), 0.99)),
        max=med(lambda r: pct(lat(r), 1.0)),
        errors=sum(errors),
        client_cpu=med(lambda r: 100 * r.client_cpu / r.elapsed),
        server_cpu=med(lambda r: 100 * r.server_cpu / r.elapsed),
        note=", ".join(kinds),
    )


def meets(row: Row, goal_ms: float = P99_GOAL_MS) -> bool:
    """p99 under the goal, the rate achieved (within 5%) and no error."""
    return row.p99 < goal_ms and row.achieved >= 0.95 * row.rate and row.errors == 0


def table(rows: list[Row], goal_ms: float = P99_GOAL_MS) -> str:
    """The markdown table of `rows` against a p99 goal of `goal_ms`."""
    out = [
        "| scenario | target req/s | achieved req/s | p50 ms | p95 ms | p99 ms | max ms | errors "
        f"| p99 < {goal_ms:g} ms | client CPU % | server CPU % |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for r in rows:
        flag = "yes" if meets(r, goal_ms) else "**no**"
        errors = f"**{r.errors}** ({r.note})" if r.errors else "0"
        out.append(
            f"| {r.scenario} | {r.rate:.0f} | {r.achieved:.0f} | {r.p50:.1f} | {r.p95:.1f} | "
            f"{r.p99:.1f} | {r.max:.1f} | {errors} | {flag} | {r.client_cpu:.0f} | "
            f"{r.server_cpu:.0f} |"
        )
    return "\n".join(out)


def log(message: str) -> None:
    """Progress on stderr (the table goes to stdout)."""
    print(message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------
# main


def one_run(
    seeded: Seeded,
    workers: int,
    args: argparse.Namespace,
    rng: random.Random,
    scenario: str,
    rate: float,
    duration: float,
) -> Result:
    """One run of a scenario against a server of its own: a run that stalls the service
    (see docs/benchmarks.md) must not spoil the next one."""
    tokens = fresh_tokens(seeded.url, len(seeded.tokens)) if args.prime_tokens else seeded.tokens
    with server(seeded.url, workers, args.server_log) as (port, proc):
        if args.prime_tokens:
            asyncio.run(prime_tokens(port, tokens))
        make, per_job = Jobs(seeded, port, rng).maker(scenario)
        return asyncio.run(
            run_load(
                port, make, per_job, rate, duration, args.warmup, args.users, proc.pid, tokens,
            )
        )  # fmt: skip


def bench_server(
    seeded: Seeded, workers: int, args: argparse.Namespace, rng: random.Random
) -> tuple[list[Row], str]:
    """Every scenario (and the saturation step) with `workers` workers; rows and notes."""
    rows: list[Row] = []
    notes: list[str] = []
    with server(seeded.url, workers, args.server_log) as (port, _):
        rps, cpu = asyncio.run(closed_loop(port, "/healthz", args.ceiling_seconds, args.users))
    notes.append(
        f"client: {1e6 * cpu:.0f} us CPU per request (ceiling about {1 / cpu:,.0f} req/s on "
        f"one core); /healthz closed loop, {args.users} connections: {rps:,.0f} req/s"
    )
    for scenario in args.scenarios:
        runs = []
        for i in range(args.repeats):
            result = one_run(seeded, workers, args, rng, scenario, args.rate, args.duration)
            runs.append(result)
            done = summarise(LABELS[scenario], args.rate, [result])
            log(
                f"  {LABELS[scenario]} run {i + 1}: {done.achieved:.0f} req/s, p99 "
                f"{done.p99:.1f} ms, errors {done.errors}"
            )
        rows.append(summarise(LABELS[scenario], args.rate, runs))
        if scenario == "page":
            rows.append(summarise("case page (whole page)", args.rate, runs, pages=True))
    if args.steps:
        passed: float | None = None
        steps: list[str] = []
        for rate in args.steps:
            result = one_run(seeded, workers, args, rng, "list", rate, args.step_duration)
            row = summarise("case list", rate, [result])
            steps.append(
                f"{rate:.0f}: p99 {row.p99:.0f} ms, {row.achieved:.0f} req/s, {row.errors} errors"
            )
            log(f"  saturation {steps[-1]}")
            if not meets(row):
                break
            passed = rate
        shown = f"{passed:.0f} req/s" if passed else f"below {args.steps[0]:.0f} req/s"
        notes.append(
            f"saturation (case list, p99 < 100 ms, {args.step_duration:.0f} s a step): "
            f"{shown} ({'; '.join(steps)})"
        )
    return rows, "\n".join(f"- {n}" for n in notes)


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


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
    parser.add_argument("--workers", default="2", help="worker counts, e.g. 1,2")
    parser.add_argument("--rate", type=float, default=500.0, help="target requests/s")
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds a run")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds first")
    parser.add_argument("--users", type=int, default=100, help="concurrent connections")
    parser.add_argument("--cases", type=int, default=20_000, help="cases seeded")
    parser.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help=f"of {','.join(SCENARIOS)}"
    )
    parser.add_argument("--repeats", type=int, default=1, help="runs per scenario (medians)")
    parser.add_argument(
        "--steps",
        default="100,200,300,400,500,750,1000",
        help="case-list rates of the saturation step ('' to skip)",
    )
    parser.add_argument("--step-duration", type=float, default=10.0, help="seconds a step")
    parser.add_argument(
        "--tokens",
        type=int,
        default=1,
        help="investigators (each with an API token) the connections share round-robin",
    )
    parser.add_argument(
        "--no-prime-tokens",
        dest="prime_tokens",
        action="store_false",
        help="do not use each token once before a run (shows the token-touch stall)",
    )
    parser.add_argument("--server-log", type=Path, help="append the server's stderr here")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="tiny run (a few seconds)")
    args = parser.parse_args(argv)
    args.ceiling_seconds = 3.0
    if args.quick:
        args.workers, args.rate, args.duration, args.warmup = "1", 100.0, 1.0, 0.3
        args.cases, args.steps, args.users, args.ceiling_seconds = 200, "", 20, 0.3
    args.workers = [int(w) for w in args.workers.split(",")]
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"--scenarios: unknown {', '.join(sorted(unknown))}")
    args.steps = _floats(args.steps)
    for name in ("rate", "duration", "cases", "users", "repeats"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name}: must be positive")
    if any(w < 1 for w in args.workers):
        parser.error("--workers: must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 1 when any run had errors."""
    args = parse_args(argv)
    rng = random.Random(args.seed)
    load = os.getloadavg()[0]
    print(
        f"\nAPI under load: {args.cases:,} cases, {args.users} connections, "
        f"{args.duration:g} s a run after {args.warmup:g} s warm-up, medians of {args.repeats} "
        f"run(s); load average at start {load:.2f} on {os.cpu_count()} cores"
    )
    failed = False
    for url in args.database or [None]:
        with tempfile.TemporaryDirectory() as tmp, fresh_database(url, Path(tmp)) as db:
            backend = backend_name(db)
            log(f"{backend}: seeding {args.cases:,} cases ...")
            seeded = seed(db, args.cases, rng, args.tokens)
            counts = ", ".join(f"{v:,} {k}" for k, v in seeded.counts.items())
            log(f"{backend}: seeded {counts} in {seeded.seconds:.0f} s")
            for workers in args.workers:
                log(f"{backend}, {workers} worker(s):")
                rows, notes = bench_server(seeded, workers, args, rng)
                print(f"\n### {backend}, {workers} worker(s) ({counts})\n")
                print(table(rows))
                print(f"\n{notes}")
                failed |= any(r.errors for r in rows)
    print(f"\nload average at end {os.getloadavg()[0]:.2f}")
    if failed:
        print("\nSOME RUNS HAD ERRORS: their figures are flagged above.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
