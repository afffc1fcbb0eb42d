"""Smoke run of bench/skew.py on a tiny skewed day: the join strategies count what DuckDB
counts over the same files, and each runs the plan it is named after (so the bench's table
compares what it says it compares)."""

from __future__ import annotations

import statistics
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from skew import (
    STRATEGIES,
    Day,
    DayConfig,
    Scale,
    reference_counts,
    register_day,
    run_strategy,
    write_day,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# Half the rows under one station key; sizes scaled so that AQE sees its partition as skewed
# (over 5x the median and the threshold) and the 1% sample finds the key.
TINY = DayConfig(rows=30_000, hot_share=0.5, hot_keys=1, cases=30, station_cases=3)
SCALE = Scale(partitions=8, split="128k", advisory="16k", skew_threshold="64k")


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Day:
    return write_day(TINY, tmp_path_factory.mktemp("skew"))


def test_every_strategy_counts_what_duckdb_counts_with_its_own_plan(
    spark: SparkSession, day: Day
) -> None:
    reference = reference_counts(day)
    # The station's case runs meet the crowd: the skew reaches the answer.
    assert max(reference.values()) > 20 * statistics.median(reference.values())
    before = spark.conf.get("spark.sql.autoBroadcastJoinThreshold")
    plans = {}
    register_day(spark, day)
    try:
        # Three queries, one per kind of plan (each costs about a second of Spark here): the
        # other two strategies run the same SQL as one of these with one setting changed.
        for strategy in ("broadcast", "sort-merge + AQE skew", "salted"):
            run = run_strategy(spark, strategy, day.rows, SCALE)
            assert run.counts == reference, strategy
            plans[strategy] = run.plan
            if strategy == "salted":
                assert set(run.salts) == set(day.hot_keys)
                assert all(n > 1 for n in run.salts.values())
    finally:  # the session is shared: leave no views behind
        spark.catalog.dropTempView("cell_runs_index")
        spark.catalog.dropTempView("lookup")
    # The session's settings are put back (the test session is shared).
    assert spark.conf.get("spark.sql.autoBroadcastJoinThreshold") == before
    assert set(plans) <= set(STRATEGIES)
    for strategy, plan in plans.items():
        broadcast = strategy.startswith("broadcast")
        assert ("BroadcastHashJoin" in plan) is broadcast, strategy
        assert ("SortMergeJoin" in plan) is not broadcast, strategy
        # AQE split the station's partition; salting needs no split (skew join is off).
        assert ("skew=true" in plan) is (strategy == "sort-merge + AQE skew"), strategy
