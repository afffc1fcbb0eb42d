"""Benchmark: generating a synthetic city and ingesting its records, beside the alternatives.

For each city size it measures, each step in its own process (so peak memory is per step):

- `generate`: `epicity city generate` (N people x D days, Parquet);
- `ingest`: loading into an empty store (validated, atomic, idempotent), without the index;
- `index`: building tracing's place-time index of that store (`epicity ingest` does both, in
  one commit; the records/s column counts the location records it is built from);
- `re-ingest`: `epicity ingest` of the same data again (every day merged and deduplicated; adds
  nothing, so the index is not rebuilt);
- `duckdb copy`: what a user would write by hand with DuckDB: one `COPY ... PARTITION_BY (day)`
  per table, no validation, no deduplication, no atomicity;
- `arrow dataset`: `pyarrow.dataset.write_dataset` partitioned by day, likewise unchecked.

Usage:
    python bench/ingest.py --sizes 100000,1000000 --days 14 --repeats 3

Prints a table of medians (records/s over gps, cell, card and entries; peak RSS) and the ratio of
each alternative's time to epicity's ingest, measured in the same run. The machine is shared
and noisy: read the ratios, and the medians, not single runs.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RECORD_TABLES = ("gps", "cell", "card", "entries")


def _peak_rss_mb() -> float:
    """The step's high-water mark, or that of a worker process it started, if higher."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, workers) / 1024  # Linux: kB


def _record_files(city: Path) -> list[Path]:
    return [city / f"{t}.parquet" for t in RECORD_TABLES if (city / f"{t}.parquet").exists()]


def step_generate(people: int, days: int, out: Path) -> dict[str, Any]:
    """Generate a city; returns seconds and record count."""
    from epicity.city.generate import CityConfig, generate_city

    t0 = time.perf_counter()
    report = generate_city(out, CityConfig(people=people, days=days, seed=1))
    return {"seconds": time.perf_counter() - t0, "records": report.records}


def step_ingest(city: Path, store: Path, index: bool) -> dict[str, Any]:
    """Ingest every table of the city into the store."""
    from epicity.records.ingest import ingest_directory

    t0 = time.perf_counter()
    report = ingest_directory(city, store, index=index)
    seconds = time.perf_counter() - t0
    records = sum(t.rows_read for t in report.tables if t.table in RECORD_TABLES)
    added = sum(t.rows_added for t in report.tables if t.table in RECORD_TABLES)
    return {"seconds": seconds, "records": records, "added": added}


def step_index(store: Path) -> dict[str, Any]:
    """Build the place-time index of a loaded store."""
    from epicity.records.store import LocationStore
    from epicity.tracing.index import rebuild_index

    location_store = LocationStore(store)
    records = sum(location_store.row_count(t) for t in RECORD_TABLES)
    t0 = time.perf_counter()
    rebuild_index(location_store)
    return {"seconds": time.perf_counter() - t0, "records": records}


def step_duckdb_copy(city: Path, out: Path) -> dict[str, Any]:
    """The hand-written DuckDB load: partitioned COPY per table, nothing checked."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    t0 = time.perf_counter()
    records = 0
    for path in _record_files(city):
        records += int(con.execute(f"SELECT count(*) FROM read_parquet('{path}')").fetchall()[0][0])
        con.execute(
            f"COPY (SELECT *, CAST(ts AS DATE) AS day FROM read_parquet('{path}')) "
            f"TO '{out / path.stem}' (FORMAT parquet, PARTITION_BY (day), OVERWRITE_OR_IGNORE)"
        )
    return {"seconds": time.perf_counter() - t0, "records": records}


def step_arrow_dataset(city: Path, out: Path) -> dict[str, Any]:
    """The hand-written Arrow load: stream batches into a day-partitioned dataset."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    t0 = time.perf_counter()
    records = 0
    for path in _record_files(city):
        source = pq.ParquetFile(path)
        records += source.metadata.num_rows
        schema = source.schema_arrow.append(pa.field("day", pa.date32()))

        def batches(src: pq.ParquetFile = source, sch: pa.Schema = schema) -> Any:
            for batch in src.iter_batches(batch_size=1 << 20):
                day = pc.cast(batch.column("ts"), pa.date32())
                yield pa.RecordBatch.from_arrays([*batch.columns, day], schema=sch)

        ds.write_dataset(
            batches(),
            out / path.stem,
            schema=schema,
            format="parquet",
            partitioning=ds.partitioning(pa.schema([("day", pa.date32())]), flavor="hive"),
            existing_data_behavior="overwrite_or_ignore",
            max_partitions=4096,
        )
    return {"seconds": time.perf_counter() - t0, "records": records}


STEPS = {
    "generate": lambda a: step_generate(a.people, a.days, Path(a.out)),
    "ingest": lambda a: step_ingest(Path(a.city), Path(a.out), index=False),
    "index": lambda a: step_index(Path(a.out)),
    "re-ingest": lambda a: step_ingest(Path(a.city), Path(a.out), index=True),
    "duckdb-copy": lambda a: step_duckdb_copy(Path(a.city), Path(a.out)),
    "arrow-dataset": lambda a: step_arrow_dataset(Path(a.city), Path(a.out)),
}


def run_step(name: str, **kwargs: Any) -> dict[str, Any]:
    """Run one step in a fresh process; returns its measurements and peak RSS."""
    args = [sys.executable, __file__, "--step", name]
    for key, value in kwargs.items():
        args += [f"--{key}", str(value)]
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"step {name} failed:\n{done.stderr}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def bench(sizes: list[int], days: int, repeats: int, workdir: Path) -> list[dict[str, Any]]:
    """Every step for every size; `repeats` runs of each (one city per size)."""
    rows = []
    for people in sizes:
        city = workdir / f"city-{people}"
        runs: dict[str, list[dict[str, Any]]] = {}
        reps = repeats if people < 1_000_000 else 1
        for _ in range(reps):
            runs.setdefault("generate", []).append(
                run_step("generate", people=people, days=days, out=_fresh(city))
            )
            store = _fresh(workdir / f"store-{people}")
            runs.setdefault("ingest", []).append(run_step("ingest", city=city, out=store))
            runs.setdefault("index", []).append(run_step("index", out=store))
            runs.setdefault("re-ingest", []).append(run_step("re-ingest", city=city, out=store))
            shutil.rmtree(store)
            for alt in ("duckdb-copy", "arrow-dataset"):
                out = _fresh(workdir / f"{alt}-{people}")
                runs.setdefault(alt, []).append(run_step(alt, city=city, out=out))
                shutil.rmtree(out)
        shutil.rmtree(city)
        base = statistics.median(r["seconds"] for r in runs["ingest"])
        for step, results in runs.items():
            seconds = statistics.median(r["seconds"] for r in results)
            records = results[0]["records"]
            rows.append(
                {
                    "people": people,
                    "days": days,
                    "step": step,
                    "runs": len(results),
                    "seconds": seconds,
                    "records": records,
                    "records_per_s": records / seconds,
                    "peak_rss_mb": max(r["peak_rss_mb"] for r in results),
                    "vs_ingest": seconds / base if step not in ("generate", "index") else None,
                    "added": results[0].get("added"),
                }
            )
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    """Markdown table, ready for docs/benchmarks.md."""
    columns = ["people x days", "step", "runs", "median s", "records", "records/s", "peak RSS MB"]
    print("| " + " | ".join([*columns, "time vs ingest"]) + " |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        ratio = f"{r['vs_ingest']:.2f}x" if r["vs_ingest"] is not None else ""
        print(
            f"| {r['people']:,} x {r['days']} | {r['step']} | {r['runs']} | {r['seconds']:.1f} | "
            f"{r['records']:,} | {r['records_per_s']:,.0f} | {r['peak_rss_mb']:,.0f} | {ratio} |"
        )


def main() -> None:
    """Parse arguments; either run one step (internal) or the whole benchmark."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated people counts")
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs per size below 1M (1M runs once)"
    )
    parser.add_argument("--workdir", default="/tmp/epicity-bench")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    parser.add_argument("--step", choices=sorted(STEPS), help=argparse.SUPPRESS)
    parser.add_argument("--people", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--city", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        result = STEPS[args.step](args)
        result["peak_rss_mb"] = _peak_rss_mb()
        print(json.dumps(result))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    rows = bench(sizes, args.days, args.repeats, workdir)
    print_table(rows)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
