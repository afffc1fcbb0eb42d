"""Benchmark: the same jobs on DuckDB and on Spark (local mode), for the scaling projection.

For one generated city, on each engine, three steps, each in a child process whose whole
process tree (Spark's JVM included) is sampled for peak resident memory:

- ``ingest``: validate and load the city's 14 days of records into a new store (no index);
- ``index``: build the place-time index of that store (`rebuild_index`);
- ``trace``: trace ``--cases`` cases together (what ``epicity trace --all-new`` does for a
  day), through the audited access layer, on the store the DuckDB engine loaded, so both
  engines read the very same files. The cases are the busiest confirmation day's; where that
  day has fewer, the next busiest day's are added (a backlog traced in one batch).

The run fails unless both engines give identical contacts, tiers, scores and area counts.
Records/s per core divides the records of the store (gps, cell, card, entries) by the
seconds and the cores the engine used (DuckDB: its threads, one per core of the machine;
Spark: ``local[N]``).

Usage (the city from ``epicity city generate``; see docs/scaling.md for the cities used):

    .venv/bin/python bench/scale.py --city /work/bench/c100k --work /work/bench/scale100k
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from accuracy import PURPOSE, investigator_access
from epicity.records.store import LocationStore
from epicity.tracing.service import Investigation

RECORD_TABLES = ("gps", "cell", "card", "entries")
STEPS = ("ingest", "index", "trace")


# -- child steps -----------------------------------------------------------------------------


def _records(store: LocationStore) -> int:
    return sum(store.row_count(t) for t in RECORD_TABLES if t in store.tables())


def step_ingest(engine: str, city: Path, store: Path) -> dict[str, Any]:
    """Load the city into a new store (no index): seconds and records."""
    if store.exists():
        shutil.rmtree(store)
    started = time.perf_counter()
    if engine == "spark":
        from epicity.records.ingest_spark import ingest_directory_spark

        ingest_directory_spark(city, store, index=False)
    else:
        from epicity.records.ingest import ingest_directory

        ingest_directory(city, store, index=False)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "records": _records(LocationStore(store))}


def step_index(engine: str, store: Path) -> dict[str, Any]:
    """Build the store's place-time index: seconds, and the records it was built from."""
    from epicity.tracing.index import rebuild_index

    loaded = LocationStore(store)
    started = time.perf_counter()
    rebuild_index(loaded, engine=engine)
    return {"seconds": time.perf_counter() - started, "records": _records(loaded)}


def busiest_day_cases(store: LocationStore, wanted: int) -> tuple[str, list[int]]:
    """The `wanted` cases of the busiest confirmation days: the busiest day's, then the next
    busiest day's, and so on (a small city has no 900-case day: its batch is a backlog of
    several days traced together). Returns the days taken and the case ids; reads the cases
    table's dates and ids only, through the audited access layer."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        investigator_access(store, Path(tmp)) as access,
        access.open(PURPOSE) as reader,
    ):
        rows = reader.query(
            "SELECT confirmed_date::VARCHAR AS day, list(person_id ORDER BY person_id) AS ids "
            "FROM cases GROUP BY 1 ORDER BY count(*) DESC, 1"
        ).to_pylist()
    days: list[str] = []
    ids: list[int] = []
    for row in rows:
        if len(ids) >= wanted:
            break
        days.append(str(row["day"]))
        ids += [int(i) for i in row["ids"]][: wanted - len(ids)]
    return ",".join(days), ids


def digest(found: list[Investigation]) -> str:
    """A hash of what tracing decided: every case's contacts (id, tier, score, overlap,
    distance, sources and each exposure's place, times and risk) and area counts."""
    h = hashlib.sha256()
    for inv in sorted(found, key=lambda i: i.case.person_id):
        h.update(f"case {inv.case.person_id}\n".encode())
        for c in sorted(inv.contacts, key=lambda c: c.contact_id):
            line = (
                f"{c.contact_id} {c.tier} {c.place_id} {c.first_contact} {c.last_contact} "
                f"{c.overlap_minutes!r} {c.min_distance_m!r} {c.risk_score!r} {c.sources}\n"
            )
            h.update(line.encode())
            for e in c.exposures:
                h.update(
                    f" {e.case_stay} {e.place_key} {e.start} {e.end} {e.distance_m!r} "
                    f"{e.indoor} {e.sources} {e.risk!r}\n".encode()
                )
        for a in inv.area:
            h.update(f"area {a.tower_id} {a.start} {a.end} {a.people}\n".encode())
    return h.hexdigest()


def step_trace(engine: str, store_path: Path, cases: int) -> dict[str, Any]:
    """Trace `cases` cases of the busiest days together on `engine`."""
    from epicity.tracing.service import investigate_many

    store = LocationStore(store_path)
    days, ids = busiest_day_cases(store, cases)
    if engine == "spark":
        from epicity.spark import spark_session

        spark_session()  # the JVM's start is not part of the job (a cluster keeps it running)
    with tempfile.TemporaryDirectory() as tmp, investigator_access(store, Path(tmp)) as access:
        started = time.perf_counter()
        with access.open(PURPOSE, cases=ids, engine=engine) as reader:
            found = investigate_many(reader, ids)
        seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "records": _records(store),
        "days": days,
        "cases": len(ids),
        "contacts": sum(len(i.contacts) for i in found),
        "digest": digest(found),
    }


def run_child(args: argparse.Namespace) -> None:
    if args.step == "ingest":
        out = step_ingest(args.engine, args.city, args.store)
    elif args.step == "index":
        out = step_index(args.engine, args.store)
    else:
        out = step_trace(args.engine, args.store, args.cases)
    print(json.dumps(out))


# -- the parent: children, memory, table -----------------------------------------------------


def _tree_rss_kb(root: int) -> int:
    """Resident memory of a process and all its descendants (kB), from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        pid = int(entry.name)
        children.setdefault(int(fields.get("PPid", "0").strip()), []).append(pid)
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0]) if "VmRSS" in fields else 0
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += children.get(pid, [])
    return total


def measure(cmd: list[str], env: dict[str, str]) -> tuple[dict[str, Any], float]:
    """Run a child step; its JSON output and the peak RSS (MB) of its process tree."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss_kb(proc.pid))
            done.wait(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"step failed ({proc.returncode}): {' '.join(cmd)}")
    return json.loads(out.strip().splitlines()[-1]), peak / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--city", type=Path, required=True, help="a generated city directory")
    parser.add_argument("--work", type=Path, required=True, help="where the stores are built")
    parser.add_argument("--engines", default="duckdb,spark")
    parser.add_argument("--steps", default=",".join(STEPS))
    parser.add_argument("--cases", type=int, default=900, help="cases of the busiest days")
    parser.add_argument("--cores", type=int, default=2, help="Spark local[N] (DuckDB: all)")
    parser.add_argument(
        "--spark-conf",
        default="spark.driver.memory=12g",
        help="EPICITY_SPARK_CONF for the Spark steps",
    )
    parser.add_argument("--step", choices=STEPS, help=argparse.SUPPRESS)
    parser.add_argument("--engine", help=argparse.SUPPRESS)
    parser.add_argument("--store", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        run_child(args)
        return
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    args.work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["EPICITY_SPARK_MASTER"] = f"local[{args.cores}]"
    env["EPICITY_SPARK_CONF"] = args.spark_conf
    cores = {"duckdb": os.cpu_count() or 1, "spark": args.cores}
    rows: list[dict[str, Any]] = []
    digests: dict[str, str] = {}
    for engine in engines:
        for step in steps:
            # Tracing reads the DuckDB-loaded store on both engines: the same files.
            store = args.work / ("store-duckdb" if step == "trace" else f"store-{engine}")
            cmd = [sys.executable, __file__, "--city", str(args.city), "--work", str(args.work)]
            cmd += ["--step", step, "--engine", engine, "--store", str(store)]
            cmd += ["--cases", str(args.cases)]
            print(f"{engine} {step} ...", file=sys.stderr, flush=True)
            out, peak_mb = measure(cmd, env)
            rate = out["records"] / out["seconds"]
            rows.append(
                {"engine": engine, "step": step, "cores": cores[engine], "peak_mb": peak_mb, **out}
            )
            print(
                f"{engine} {step}: {out['seconds']:.1f} s, {rate / cores[engine]:,.0f} records/s "
                f"per core, peak {peak_mb:,.0f} MB",
                file=sys.stderr,
                flush=True,
            )
            if step == "trace":
                digests[engine] = out["digest"]
    if len(set(digests.values())) > 1:
        raise SystemExit(f"the engines traced different contacts: {digests}")
    people = LocationStore(args.work / f"store-{engines[0]}").row_count("people")
    print(f"\n{people:,} people; Spark local[{args.cores}], conf {args.spark_conf}\n")
    print(
        "| engine | step | cores | s | records | records/s per core | peak RSS MB "
        "| cases | contacts |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['engine']} | {r['step']} | {r['cores']} | {r['seconds']:.1f} | "
            f"{r['records']:,} | {r['records'] / r['seconds'] / r['cores']:,.0f} | "
            f"{r['peak_mb']:,.0f} | "
            f"{r.get('cases', '')} | {r.get('contacts', '')} |"
        )
    if digests:
        print(f"\nidentical contacts on {', '.join(digests)}: {next(iter(digests.values()))[:16]}")
    (args.work / "scale.json").write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
