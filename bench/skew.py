"""Benchmark: a crowded place on Spark. Join strategies for tracing's index lookup on a skewed day.

Tracing looks up the place-time index (`epicity.tracing.index`: rows keyed
``key = hour << 36 | place``, one partition per hour) with a small table of the cases' keys,
then keeps distinct (case run, person) pairs and counts them per case run: the area-count query
of `epicity.tracing.service`. A station at rush hour puts a large share of a day's rows under a
few keys, and several of the day's cases were there, so those keys' rows each meet several case
runs. This bench writes such a day in the index's layout (``cell_runs_index/hour=H/*.parquet``,
sorted by key, the index's Parquet encodings) and runs the query on Spark under each strategy:

- ``broadcast``: the case side broadcast to every task (``BROADCAST`` hint): the index is read
  where it lies, never shuffled; epicity's plan.
- ``broadcast + small splits``: the same with scan splits a quarter the size (a split full of
  a hot key's rows is a long task: every row meets several case runs).
- ``sort-merge``: broadcasting off and AQE's skew join off: both sides shuffled by key, so each
  hot key's rows land in one task.
- ``sort-merge + AQE skew``: the same, with AQE's skew join on: partitions much larger than the
  median are split at run time, the case side's matching partition copied to each split.
- ``salted``: broadcasting off; the hot keys (found from a 1% sample of the index, part of the
  timed run) get a salt on the index side (a hash of the row, modulo that key's salt count) and
  their case-side rows are copied once per salt; the join is on (key, salt).

And, with ``--build``, the index build's write: ``repartition(hour)`` (one task per hour),
``REBALANCE(hour)`` (AQE splits large hours) and ``repartitionByRange(key)``, each sorted by
key within its files and written partitioned by hour.

For each strategy: wall time (median of ``--repeats`` runs, strategies interleaved), and from
Spark's event log (medians over the runs): the join stage's task count, max and median task
time and their ratio (the straggler ratio), the same in task CPU time (which a busy machine's
noise leaves alone), the CPU time of all the run's tasks, shuffle bytes written, the largest
task's peak execution memory, bytes spilled to disk, and the join's output rows. Every
strategy's counts must equal DuckDB's over the same files (the bench fails otherwise).

Usage:
    .venv/bin/python bench/skew.py --rows 20000000 --hot-share 0.3 [--hot-keys 6]
        [--cases 900] [--station-cases 12] [--repeats 3] [--build] [--workdir DIR]

Spark runs in local mode (``EPICITY_SPARK_MASTER``, default here ``local[2]``) with the event
log on; the sizes that matter at this scale (shuffle partitions, scan splits, AQE's partition
and skew sizes: `Scale`) are options, printed with the table. Results: docs/scaling.md.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import NDArray

from epicity.tracing.index import (
    _ROW_GROUP_SIZE,
    HOUR,
    INDEX_SCHEMAS,
    PLACE_BITS,
    hour_keys_many,
    place_key,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

I64 = NDArray[np.int64]

DAY_START = 1_772_409_600  # 2026-03-02 00:00 UTC, a Monday
MEAN_PLACE_HOUR_ROWS = 30  # an ordinary tower-hour: tens of people
STATION_TOWERS = 3  # a large station is served by a few cells
RUSH_HOURS = (8, 18, 7, 19, 9, 17, 12, 13)  # hot hours in the order hot keys take them
# People on the air by hour of day (UTC as local time here; the shape is what matters).
HOURLY_WEIGHT = np.array(
    [2, 1, 1, 1, 1, 2, 4, 8, 10, 8, 7, 7, 8, 8, 7, 7, 8, 10, 10, 8, 6, 5, 4, 3], dtype=np.float64
)
STRATEGIES = (
    "broadcast",
    "broadcast + small splits",
    "sort-merge",
    "sort-merge + AQE skew",
    "salted",
)
BUILDS = ("repartition(hour)", "REBALANCE(hour)", "repartitionByRange(key)")
# The cell-run index as epicity.tracing.index writes it: its schema and row groups.
INDEX_SCHEMA = INDEX_SCHEMAS["cell_runs_index"]

_SPARK_TYPES = {pa.int64(): "BIGINT", pa.int32(): "INT"}


# -- the skewed day ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DayConfig:
    """A day of cell-run index rows with a crowded station, and the day's cases."""

    rows: int = 20_000_000
    hot_share: float = 0.3  # share of the day's rows under the station's rush-hour keys
    hot_keys: int = 6  # the station's (tower, rush hour) keys
    cases: int = 900
    station_cases: int = 12  # cases with a run at the station at a rush hour
    seed: int = 1


@dataclass(frozen=True)
class Day:
    """The day as written: where the index is, the case side, and what is in it."""

    index_dir: Path
    lookup: pa.Table
    hot_keys: list[int]
    rows: int
    place_hours: int
    median_place_hour_rows: float
    hot_key_rows: int


def _towers(cfg: DayConfig, rng: np.random.Generator) -> tuple[int, NDArray[np.float64]]:
    """Tower count and popularity: lognormal, so place-hours hold from a few to hundreds of
    rows; the station's towers are the most popular ones (ids 0 .. STATION_TOWERS - 1)."""
    ordinary = round(cfg.rows * (1 - cfg.hot_share))
    towers = max(STATION_TOWERS + 1, round(ordinary / (24 * MEAN_PLACE_HOUR_ROWS)))
    weight = rng.lognormal(0.0, 1.0, towers)
    weight[:STATION_TOWERS] = weight.max()
    return towers, weight / weight.sum()


def _hot_places(cfg: DayConfig) -> list[tuple[int, int]]:
    """(tower, hour of day) of each hot key."""
    if cfg.hot_keys > STATION_TOWERS * len(RUSH_HOURS):
        raise ValueError(f"at most {STATION_TOWERS * len(RUSH_HOURS)} hot keys")
    return [(j % STATION_TOWERS, RUSH_HOURS[j // STATION_TOWERS]) for j in range(cfg.hot_keys)]


def _runs_in_hour(hour: I64, rng: np.random.Generator) -> tuple[I64, I64]:
    """Start and end of a run listed under `hour`: it overlaps the hour and lasts a minute to
    a few hours (connection runs at one tower)."""
    h0 = hour * HOUR
    start = h0 + rng.integers(-1200, HOUR, len(hour))
    end = start + 60 + rng.exponential(1500.0, len(hour)).astype(np.int64)
    return start, np.maximum(end, h0 + 60)


def index_rows(cfg: DayConfig) -> dict[str, NDArray[Any]]:
    """The day's index rows (unsorted): ordinary place-hours by tower popularity and hour of
    day, plus `hot_share` of the rows spread evenly over the station's rush-hour keys."""
    rng = np.random.default_rng(cfg.seed)
    towers, weight = _towers(cfg, rng)
    people = max(1, cfg.rows // 10)  # about ten run-hours a person a day
    hot = round(cfg.rows * cfg.hot_share) if cfg.hot_keys else 0
    ordinary = cfg.rows - hot
    hour = DAY_START // HOUR + rng.choice(24, ordinary, p=HOURLY_WEIGHT / HOURLY_WEIGHT.sum())
    tower = rng.choice(towers, ordinary, p=weight)
    per_key = np.full(cfg.hot_keys, hot // max(cfg.hot_keys, 1))
    per_key[: hot - int(per_key.sum())] += 1
    places = _hot_places(cfg)
    hot_tower = np.repeat(np.array([t for t, _ in places], np.int64), per_key)
    hot_hour = DAY_START // HOUR + np.repeat(np.array([h for _, h in places], np.int64), per_key)
    tower = np.concatenate([tower, hot_tower]).astype(np.int64)
    hour = np.concatenate([hour, hot_hour]).astype(np.int64)
    start, end = _runs_in_hour(hour, rng)
    return {
        "key": place_key(tower, hour),
        "person_id": rng.integers(0, people, cfg.rows, dtype=np.int64),
        "tower_id": tower,
        "start": start,
        "end": end,
        "records": rng.integers(1, 40, cfg.rows).astype(np.int32),
    }


def case_lookup(cfg: DayConfig) -> pa.Table:
    """The case side as `epicity.tracing.service` builds it for area counts: one row per
    (case run, hour key) with the run's case, tower and interval. Cases have a few runs at
    towers by popularity; the first `station_cases` also have one across a rush hour at the
    station (taking the hot keys in turn, so every hot key has a case)."""
    rng = np.random.default_rng(cfg.seed + 1)
    _, weight = _towers(cfg, np.random.default_rng(cfg.seed))
    people = max(1, cfg.rows // 10)
    case_ids = rng.choice(people, cfg.cases, replace=False).astype(np.int64)
    runs_per_case = 1 + rng.poisson(5, cfg.cases)
    case_of_run = np.repeat(case_ids, runs_per_case)
    tower = rng.choice(len(weight), len(case_of_run), p=weight).astype(np.int64)
    start = DAY_START + rng.integers(0, 24 * HOUR - 1800, len(case_of_run))
    end = start + 60 + rng.exponential(2400.0, len(case_of_run)).astype(np.int64)
    if cfg.hot_keys and cfg.station_cases:
        places = _hot_places(cfg)
        at = [places[j % len(places)] for j in range(cfg.station_cases)]
        h0 = DAY_START + np.array([h for _, h in at], np.int64) * HOUR
        case_of_run = np.concatenate([case_of_run, case_ids[: cfg.station_cases]])
        tower = np.concatenate([tower, np.array([t for t, _ in at], np.int64)])
        start = np.concatenate([start, h0 - 600])  # 10 minutes either side of the hour
        end = np.concatenate([end, h0 + HOUR + 600])
    run_no, keys = hour_keys_many(tower, start, end)
    return pa.table(
        {
            "key": keys,
            "run_no": run_no,
            "case_id": case_of_run[run_no],
            "tower_id": tower[run_no],
            "run_start": start[run_no],
            "run_end": end[run_no],
        }
    )


def _write_sorted(cols: Mapping[str, NDArray[Any]], path: Path) -> None:
    """One index file, as `epicity.tracing.index` writes them: sorted by key, LZ4,
    delta-packed integers, small row groups."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        pa.table(dict(cols), schema=INDEX_SCHEMA),
        path,
        row_group_size=_ROW_GROUP_SIZE,
        compression="lz4",
        use_dictionary=False,
        column_encoding=dict.fromkeys(INDEX_SCHEMA.names, "DELTA_BINARY_PACKED"),
    )


def write_day(cfg: DayConfig, out: Path) -> Day:
    """Write the day's index under ``out/cell_runs_index/hour=H/`` (one file per hour, sorted
    by key) and return it with the case side."""
    cols = index_rows(cfg)
    order = np.argsort(cols["key"], kind="stable")
    cols = {k: v[order] for k, v in cols.items()}
    key = cols["key"]
    hour = key >> PLACE_BITS
    index_dir = out / "cell_runs_index"
    shutil.rmtree(index_dir, ignore_errors=True)
    bounds = np.flatnonzero(np.concatenate([[True], hour[1:] != hour[:-1], [True]]))
    for lo, hi in itertools.pairwise(bounds):
        _write_sorted(
            {k: v[lo:hi] for k, v in cols.items()}, index_dir / f"hour={hour[lo]}/part-0.parquet"
        )
    _, counts = np.unique(key, return_counts=True)
    places = _hot_places(cfg)
    hot = [
        int(k)
        for k in place_key(
            np.array([t for t, _ in places], np.int64),
            DAY_START // HOUR + np.array([h for _, h in places], np.int64),
        )
    ]
    return Day(
        index_dir=index_dir,
        lookup=case_lookup(cfg),
        hot_keys=hot,
        rows=len(key),
        place_hours=len(counts),
        median_place_hour_rows=float(np.median(counts)),
        hot_key_rows=int(counts.max()),
    )


# -- the query --------------------------------------------------------------------------------


def area_sql(quote: str, hint: str = "", salts: Mapping[int, int] | None = None) -> str:
    """Distinct (case run, person) pairs of people whose runs overlap a case run at its tower,
    counted per case run: the join of `epicity.tracing.service`'s area counts. `quote` is the
    dialect's identifier quote (``end`` is a keyword). With `salts` (hot key -> salt count),
    the index rows of a hot key get a salt below its count and the case rows of that key are
    copied once per salt; the join is also on the salt."""
    end = f"{quote}end{quote}"
    index, lookup, on_salt = "cell_runs_index", "lookup", ""
    if salts:
        whens = " ".join(f"WHEN {k} THEN {n}" for k, n in sorted(salts.items()))
        index = (
            f"(SELECT i.*, pmod(hash(i.person_id, i.start), CASE i.key {whens} ELSE 1 END) "
            "AS salt FROM cell_runs_index i)"
        )
        lookup = (
            f"(SELECT l.*, explode(sequence(0, CASE l.key {whens} ELSE 1 END - 1)) AS salt "
            "FROM lookup l)"
        )
        on_salt = " AND r.salt = k.salt"
    return f"""
        SELECT run_no, count(*) AS people FROM (
          SELECT {hint} DISTINCT k.run_no, k.case_id, r.person_id
          FROM {index} r JOIN {lookup} k ON r.key = k.key AND r.tower_id = k.tower_id{on_salt}
          WHERE r.start < k.run_end AND r.{end} > k.run_start AND r.person_id <> k.case_id
        ) GROUP BY run_no"""


def reference_counts(day: Day) -> dict[int, int]:
    """The counts by DuckDB (epicity's one-machine engine) over the same files."""
    con = duckdb.connect(config={"threads": 2, "memory_limit": "4GB"})
    try:
        con.register("lookup", day.lookup)
        con.execute(
            "CREATE VIEW cell_runs_index AS SELECT * FROM read_parquet("
            f"'{day.index_dir}/*/*.parquet', hive_partitioning = true)"
        )
        rows = con.execute(area_sql('"')).fetchall()
    finally:
        con.close()
    return {int(r): int(n) for r, n in rows}


@dataclass(frozen=True)
class Scale:
    """Shuffle partitions, the scan's split size and AQE's sizes, scaled to the data. Spark's
    defaults (128 MB splits, 64 MB partitions, a 256 MB skew threshold) are for data sets of
    terabytes: a few hundred MB would be read by two tasks and coalesced into a handful of
    partitions, leaving no tasks to compare. The sizes here are Spark's divided by 32."""

    partitions: int = 200  # Spark's default
    split: str = "4m"  # sizes as Spark reads them: 4m, 512k
    advisory: str = "2m"
    skew_threshold: str = "8m"

    def conf(self) -> dict[str, str]:
        """The Spark settings."""
        return {
            "spark.sql.shuffle.partitions": str(self.partitions),
            "spark.sql.files.maxPartitionBytes": self.split,
            "spark.sql.adaptive.advisoryPartitionSizeInBytes": self.advisory,
            "spark.sql.adaptive.skewJoin.skewedPartitionThresholdInBytes": self.skew_threshold,
        }

    def small_split(self) -> str:
        """A quarter of the split size."""
        number = self.split.rstrip("kKmMgG")
        return f"{max(1, int(number) // 4)}{self.split[len(number) :]}"


def strategy_conf(strategy: str, scale: Scale) -> dict[str, str]:
    """The Spark settings a strategy runs with (on top of `scale`'s)."""
    conf = {**scale.conf(), "spark.sql.adaptive.skewJoin.enabled": "false"}
    if strategy == "broadcast + small splits":
        conf["spark.sql.files.maxPartitionBytes"] = scale.small_split()
    elif not strategy.startswith("broadcast"):
        conf["spark.sql.autoBroadcastJoinThreshold"] = "-1"
        conf["spark.sql.adaptive.autoBroadcastJoinThreshold"] = "-1"
    if strategy == "sort-merge + AQE skew":
        conf["spark.sql.adaptive.skewJoin.enabled"] = "true"
    return conf


@contextlib.contextmanager
def spark_settings(spark: SparkSession, conf: Mapping[str, str]) -> Iterator[None]:
    """Set runtime SQL settings for a block, then put back what was there (the test session
    is shared)."""
    before: dict[str, str | None] = {k: spark.conf.get(k, None) for k in conf}
    try:
        for k, v in conf.items():
            spark.conf.set(k, v)
        yield
    finally:
        for k, old in before.items():
            if old is None:
                spark.conf.unset(k)
            else:
                spark.conf.set(k, old)


@contextlib.contextmanager
def job_group(spark: SparkSession, group: str | None, description: str) -> Iterator[None]:
    """Tag the block's Spark jobs with `group` (the event log's key for a run), if given."""
    sc = spark.sparkContext
    if group is None:
        yield
        return
    sc.setJobGroup(group, description)
    try:
        yield
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]
        sc.setLocalProperty("spark.job.description", None)  # type: ignore[arg-type]


def hot_key_salts(
    spark: SparkSession, rows: int, partitions: int, fraction: float = 0.01
) -> dict[int, int]:
    """Keys holding more rows than an average shuffle partition (of `rows`, the index's row
    count, which the store's manifest holds), estimated from a sample of the index, each with
    its salt count: its estimated rows over a partition's share, at most `partitions`."""
    from pyspark.sql import functions as sf

    share = rows / partitions
    found = (
        spark.table("cell_runs_index")
        .select("key")
        .sample(fraction=fraction, seed=1)
        .groupBy("key")
        .agg((sf.count("*") / sf.lit(fraction)).alias("rows"))
        .where(sf.col("rows") > share)
        .collect()
    )
    return {int(r["key"]): min(partitions, math.ceil(r["rows"] / share)) for r in found}


@dataclass
class Run:
    """One timed run of a strategy."""

    strategy: str
    seconds: float
    counts: dict[int, int]
    plan: str  # the executed physical plan (AQE's final plan)
    salts: dict[int, int] = field(default_factory=dict)


def run_strategy(
    spark: SparkSession, strategy: str, rows: int, scale: Scale, group: str | None = None
) -> Run:
    """Run the query once under `strategy` over the registered views (`register_day`) of an
    index of `rows` rows; salted: the hot keys are found first, in the timed run. `group` tags
    its Spark jobs for the event log. The session's settings are left as they were."""
    with job_group(spark, group, strategy), spark_settings(spark, strategy_conf(strategy, scale)):
        t0 = time.perf_counter()
        salts = hot_key_salts(spark, rows, scale.partitions) if strategy == "salted" else {}
        hint = "/*+ BROADCAST(k) */" if strategy.startswith("broadcast") else ""
        df = spark.sql(area_sql("`", hint, salts))
        got = df.collect()
        seconds = time.perf_counter() - t0
        plan = str(df._jdf.queryExecution().executedPlan().toString())
    counts = {int(r["run_no"]): int(r["people"]) for r in got}
    return Run(strategy, seconds, counts, plan, salts)


def register_day(spark: SparkSession, day: Day) -> None:
    """The index and the case side as the views the query names (the index's types given, so
    Spark reads no footer to infer them)."""
    columns = ", ".join(f"`{f.name}` {_SPARK_TYPES[f.type]}" for f in INDEX_SCHEMA)
    index = spark.read.schema(f"{columns}, hour BIGINT").parquet(str(day.index_dir))
    index.createOrReplaceTempView("cell_runs_index")
    spark.createDataFrame(day.lookup).createOrReplaceTempView("lookup")


# -- the index build's write ------------------------------------------------------------------


def write_index(
    spark: SparkSession,
    index_dir: Path,
    how: str,
    out: Path,
    scale: Scale,
    group: str | None = None,
) -> tuple[float, int]:
    """Write the index again from its rows (taken as a build has them, the hour computed from
    the key), partitioned by hour and sorted by key within files, after the shuffle `how`
    names (AQE may coalesce or split its partitions). Seconds and files written."""
    from pyspark.sql import functions as sf

    shutil.rmtree(out, ignore_errors=True)
    with job_group(spark, group, how), spark_settings(spark, scale.conf()):
        rows: DataFrame = (
            spark.read.parquet(str(index_dir))
            .drop("hour")
            .withColumn("hour", sf.shiftright("key", PLACE_BITS))
        )
        if how == "repartition(hour)":
            rows = rows.repartition("hour")
        elif how == "REBALANCE(hour)":
            rows = rows.hint("rebalance", "hour")
        elif how == "repartitionByRange(key)":
            rows = rows.repartitionByRange("key")
        else:
            raise ValueError(f"unknown build {how!r}")
        t0 = time.perf_counter()
        rows.sortWithinPartitions("key").write.partitionBy("hour").parquet(str(out))
        seconds = time.perf_counter() - t0
    return seconds, len(list(out.glob("hour=*/*.parquet")))


# -- the event log ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RunStats:
    """What Spark's event log says about one run (the jobs of one job group)."""

    key_stage_tasks: int  # the join stage (or the write stage of a build)
    max_task_s: float  # launch to finish
    median_task_s: float
    max_task_cpu_s: float  # the task's own CPU time: what a busy machine's noise leaves alone
    median_task_cpu_s: float
    cpu_s: float  # every task of the run
    shuffle_bytes: int  # written, all stages
    peak_execution_memory: int  # the largest of any task's
    spilled_bytes: int  # to disk, all stages
    join_rows: int

    @property
    def straggler_ratio(self) -> float:
        """The key stage's longest task over its median task."""
        return self.max_task_s / self.median_task_s if self.median_task_s else math.inf

    @property
    def cpu_straggler_ratio(self) -> float:
        """The same in CPU time."""
        return self.max_task_cpu_s / self.median_task_cpu_s if self.median_task_cpu_s else math.inf


def read_event_log(log_dir: Path) -> list[dict[str, Any]]:
    """Every event of the application logs under `log_dir` (Spark 4 writes a directory of
    ``events_N_<app>`` files per application; older versions one file)."""
    files = sorted(
        (p for p in log_dir.rglob("*") if p.is_file() and not p.name.startswith(".")),
        key=lambda p: (
            str(p.parent),
            int(p.name.split("_")[1]) if p.name.startswith("events_") else 0,
        ),
    )
    events: list[dict[str, Any]] = []
    for path in files:
        with path.open() as fh:
            events.extend(json.loads(line) for line in fh if line.strip())
    return events


def _join_metric_ids(plan: Mapping[str, Any]) -> set[int]:
    """Accumulator ids of the metrics of every join operator in a plan tree."""
    ids: set[int] = set()
    if "Join" in plan["nodeName"]:
        ids.update(int(m["accumulatorId"]) for m in plan["metrics"])
    for child in plan["children"]:
        ids |= _join_metric_ids(child)
    return ids


def run_stats(events: Sequence[Mapping[str, Any]]) -> dict[str, RunStats]:
    """Per job group: the key stage (the one whose tasks updated a join operator's metrics;
    failing that, the one that wrote output) and the run's shuffle, memory and spill."""
    group_of_stage: dict[int, str] = {}
    executions: dict[str, set[int]] = {}
    join_ids: dict[int, set[int]] = {}
    tasks: dict[int, list[Mapping[str, Any]]] = {}
    for e in events:
        kind = e["Event"]
        if kind == "SparkListenerStageSubmitted":
            group = (e.get("Properties") or {}).get("spark.jobGroup.id")
            if group:
                group_of_stage[e["Stage Info"]["Stage ID"]] = group
                execution = e["Properties"].get("spark.sql.execution.id")
                if execution is not None:
                    executions.setdefault(group, set()).add(int(execution))
        elif kind.endswith("SQLExecutionStart") or kind.endswith("SQLAdaptiveExecutionUpdate"):
            ids = _join_metric_ids(e["sparkPlanInfo"])
            join_ids.setdefault(int(e["executionId"]), set()).update(ids)
        elif kind == "SparkListenerTaskEnd" and e["Task End Reason"]["Reason"] == "Success":
            tasks.setdefault(e["Stage ID"], []).append(e)
    out = {}
    for group in sorted(set(group_of_stage.values())):
        stages = {s: tasks[s] for s, g in group_of_stage.items() if g == group and s in tasks}
        joins: set[int] = set()
        for execution in executions.get(group, set()):
            joins |= join_ids.get(execution, set())
        found = _group_stats(stages, joins)
        if found is not None:
            out[group] = found
    return out


def _updates(task: Mapping[str, Any], ids: set[int], name: str | None = None) -> list[int]:
    """The task's updates of the accumulators `ids` (only those called `name`, if given)."""
    return [
        int(a["Update"])
        for a in task["Task Info"]["Accumulables"]
        if int(a["ID"]) in ids and (name is None or a["Name"] == name)
    ]


def _group_stats(
    stages: Mapping[int, Sequence[Mapping[str, Any]]], joins: set[int]
) -> RunStats | None:
    """One run's figures from its stages' finished tasks and its join metrics' ids."""

    def written(stage: int) -> int:
        return sum(t["Task Metrics"]["Output Metrics"]["Records Written"] for t in stages[stage])

    key_stages = [s for s in stages if any(_updates(t, joins) for t in stages[s])]
    key_stages = key_stages or [s for s in stages if written(s)]
    if not key_stages:
        return None
    # Should AQE run a join stage more than once, the one with the most task time counts.
    key = max(key_stages, key=lambda s: sum(_task_s(t) for t in stages[s]))
    durations = [_task_s(t) for t in stages[key]]
    cpu = [_cpu_s(t) for t in stages[key]]
    every = [t for s in stages for t in stages[s]]
    metrics = [t["Task Metrics"] for t in every]
    return RunStats(
        key_stage_tasks=len(durations),
        max_task_s=max(durations),
        median_task_s=statistics.median(durations),
        max_task_cpu_s=max(cpu),
        median_task_cpu_s=statistics.median(cpu),
        cpu_s=sum(_cpu_s(t) for t in every),
        shuffle_bytes=sum(m["Shuffle Write Metrics"]["Shuffle Bytes Written"] for m in metrics),
        peak_execution_memory=max(m["Peak Execution Memory"] for m in metrics),
        spilled_bytes=sum(m["Disk Bytes Spilled"] for m in metrics),
        join_rows=sum(sum(_updates(t, joins, "number of output rows")) for t in every),
    )


def _task_s(task: Mapping[str, Any]) -> float:
    info = task["Task Info"]
    return float(info["Finish Time"] - info["Launch Time"]) / 1000


def _cpu_s(task: Mapping[str, Any]) -> float:
    metrics = task["Task Metrics"]
    return float(metrics["Executor CPU Time"] + metrics["Executor Deserialize CPU Time"]) / 1e9


# -- the bench --------------------------------------------------------------------------------


def _start_spark(driver_memory: str, log_dir: Path) -> SparkSession:
    """epicity's session (`epicity.spark.spark_session`, so its settings hold) with the event
    log on, through EPICITY_SPARK_CONF; local[2] unless EPICITY_SPARK_MASTER says otherwise."""
    from epicity.spark import spark_session

    os.environ.setdefault("EPICITY_SPARK_MASTER", "local[2]")
    conf = {
        "spark.eventLog.enabled": "true",
        "spark.eventLog.dir": log_dir.as_uri(),
        "spark.eventLog.compress": "false",
        "spark.driver.memory": driver_memory,
    }
    extra = os.environ.get("EPICITY_SPARK_CONF", "")
    os.environ["EPICITY_SPARK_CONF"] = ";".join(
        [*(f"{k}={v}" for k, v in conf.items()), *([extra] if extra else [])]
    )
    return spark_session()


def _mb(n: float) -> str:
    return f"{n / 1e6:,.1f}"


def _medians(stats: Sequence[RunStats], seconds: Sequence[float]) -> list[str]:
    """Table cells: medians over the runs."""
    med = statistics.median
    return [
        f"{med(seconds):.1f}",
        f"{med(s.key_stage_tasks for s in stats):.0f}",
        f"{med(s.max_task_s for s in stats):.2f}",
        f"{med(s.median_task_s for s in stats):.2f}",
        f"{med(s.straggler_ratio for s in stats):.1f}",
        f"{med(s.max_task_cpu_s for s in stats):.2f}",
        f"{med(s.cpu_straggler_ratio for s in stats):.1f}",
        f"{med(s.cpu_s for s in stats):.0f}",
        _mb(med(s.shuffle_bytes for s in stats)),
        _mb(med(s.peak_execution_memory for s in stats)),
        _mb(med(s.spilled_bytes for s in stats)),
    ]


_COLUMNS = (
    "wall s | {stage} tasks | max task s | median task s | straggler ratio | max task CPU s | "
    "CPU straggler ratio | CPU s, all tasks | shuffle MB | peak exec MB (task) | spilled MB"
)


def print_table(runs: Mapping[str, Sequence[Run]], stats: Mapping[str, RunStats]) -> None:
    """The strategies' medians, as a markdown table."""
    print(f"| strategy | {_COLUMNS.format(stage='join')} | join rows |")
    print("|---|" + "---:|" * 12)
    for name, done in runs.items():
        got = [stats[f"skew:{name}:{n}"] for n in range(len(done))]
        cells = _medians(got, [r.seconds for r in done])
        rows = statistics.median(s.join_rows for s in got)
        print(f"| {name} | {' | '.join(cells)} | {rows:,.0f} |")


def print_build_table(
    builds: Mapping[str, Sequence[tuple[float, int]]], stats: Mapping[str, RunStats]
) -> None:
    """The index writes' medians, as a markdown table."""
    print(f"| index write | {_COLUMNS.format(stage='write')} | files |")
    print("|---|" + "---:|" * 12)
    for how, done in builds.items():
        got = [stats[f"build:{how}:{n}"] for n in range(len(done))]
        cells = _medians(got, [seconds for seconds, _ in done])
        print(f"| {how} | {' | '.join(cells)} | {done[0][1]} |")


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def bench(args: argparse.Namespace, work: Path) -> None:
    """Write the day, run the strategies (and the writes), print what was measured."""
    cfg = DayConfig(
        args.rows, args.hot_share, args.hot_keys, args.cases, args.station_cases, args.seed
    )
    scale = Scale(args.shuffle_partitions, args.split, args.advisory, args.skew_threshold)
    strategies = [s.strip() for s in args.strategies.split(",")]
    print(f"load average at start: {_load()}")
    t0 = time.perf_counter()
    day = write_day(cfg, work)
    size = sum(p.stat().st_size for p in day.index_dir.rglob("*.parquet"))
    print(
        f"day written in {time.perf_counter() - t0:.1f} s: {day.rows:,} index rows "
        f"({_mb(size)} MB), {day.place_hours:,} place-hours "
        f"(median {day.median_place_hour_rows:.0f} rows), {len(day.hot_keys)} hot keys "
        f"of {day.hot_key_rows:,} rows; case side {day.lookup.num_rows:,} rows "
        f"({cfg.cases} cases, {cfg.station_cases} at the station)"
    )
    t0 = time.perf_counter()
    reference = reference_counts(day)
    print(
        f"DuckDB (the reference answer): {time.perf_counter() - t0:.1f} s, "
        f"{len(reference):,} case runs with people, {sum(reference.values()):,} pairs"
    )
    log_dir = work / "eventlog"
    shutil.rmtree(log_dir, ignore_errors=True)
    log_dir.mkdir()
    spark = _start_spark(args.driver_memory, log_dir)
    runs: dict[str, list[Run]] = {s: [] for s in strategies}
    builds: dict[str, list[tuple[float, int]]] = {}
    try:
        version = spark.version
        register_day(spark, day)
        run_strategy(spark, "broadcast", day.rows, scale)  # warm-up (JIT, file cache)
        for n in range(args.repeats):  # strategies interleaved: the machine's noise is shared
            for s in strategies:
                run = run_strategy(spark, s, day.rows, scale, group=f"skew:{s}:{n}")
                if run.counts != reference:
                    raise SystemExit(f"{s}: the counts differ from DuckDB's (run {n})")
                runs[s].append(run)
                print(f"  {s} run {n}: {run.seconds:.1f} s", flush=True)
        for n in range(args.build_repeats if args.build else 0):
            for how in BUILDS:
                done = write_index(
                    spark, day.index_dir, how, work / "rebuilt", scale, group=f"build:{how}:{n}"
                )
                builds.setdefault(how, []).append(done)
                print(f"  {how} run {n}: {done[0]:.1f} s", flush=True)
    finally:
        spark.stop()
    stats = run_stats(read_event_log(log_dir))
    print(f"load average at end: {_load()}")
    print(
        f"Spark {version}, {os.environ['EPICITY_SPARK_MASTER']}, driver memory "
        f"{args.driver_memory}; {scale.conf()}"
    )
    print("every strategy's counts equal DuckDB's")
    if "salted" in runs:
        salts = runs["salted"][0].salts
        print(f"salted: {len(salts)} hot keys found, salts {sorted(salts.values())}")
    for s, tried in runs.items():
        if s.startswith("sort-merge"):
            split = sum("skew=true" in r.plan for r in tried)
            print(f"{s}: AQE split skewed partitions in {split} of {len(tried)} runs")
    print()
    print_table(runs, stats)
    if builds:
        print()
        print_build_table(builds, stats)
    if args.json:
        figures = {
            "config": vars(args),
            "runs": {s: [r.seconds for r in rs] for s, rs in runs.items()},
            "builds": builds,
            "stats": {g: vars(s) for g, s in stats.items()},
        }
        Path(args.json).write_text(json.dumps(figures, indent=1))


def main() -> None:
    """Parse the arguments and run the bench."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    day, scale = DayConfig(), Scale()
    parser.add_argument("--rows", type=int, default=day.rows, help="index rows of the day")
    parser.add_argument("--hot-share", type=float, default=day.hot_share)
    parser.add_argument("--hot-keys", type=int, default=day.hot_keys)
    parser.add_argument("--cases", type=int, default=day.cases)
    parser.add_argument("--station-cases", type=int, default=day.station_cases)
    parser.add_argument("--seed", type=int, default=day.seed)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--build", action="store_true", help="also compare the index writes")
    parser.add_argument("--build-repeats", type=int, default=1)
    parser.add_argument("--shuffle-partitions", type=int, default=scale.partitions)
    parser.add_argument("--split", default=scale.split, help="scan split (Spark: 128m)")
    parser.add_argument("--advisory", default=scale.advisory, help="AQE partition (Spark: 64m)")
    parser.add_argument(
        "--skew-threshold", default=scale.skew_threshold, help="AQE skew size (Spark: 256m)"
    )
    parser.add_argument("--driver-memory", default="4g")
    parser.add_argument("--workdir", help="where the day is written (default: a temporary one)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()
    unknown = {s.strip() for s in args.strategies.split(",")} - set(STRATEGIES)
    if unknown:
        parser.error(f"unknown strategies {sorted(unknown)}; choose from {list(STRATEGIES)}")
    if args.workdir:
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
        bench(args, Path(args.workdir))
    else:
        with tempfile.TemporaryDirectory(prefix="epicity-skew-") as tmp:
            bench(args, Path(tmp))


if __name__ == "__main__":
    main()
