"""One Spark session (local mode, 2 cores) for all Spark tests: starting the JVM costs seconds.

Without PySpark or Java the Spark tests are skipped, unless ``EPICITY_SPARK_REQUIRED=1`` (CI
sets it), which turns a missing engine into a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from epicity.spark import SparkUnavailable, spark_session

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """The shared local Spark session (small shuffles: the tests' data is small)."""
    os.environ.setdefault("EPICITY_SPARK_MASTER", "local[2]")
    # The C1 JIT only: the tests' jobs are small and short, so the JVM's C2 compiles cost more
    # CPU than they save (measured: the tracing module's CPU time about halved).
    os.environ.setdefault(
        "EPICITY_SPARK_CONF",
        "spark.sql.shuffle.partitions=4;spark.driver.extraJavaOptions=-XX:TieredStopAtLevel=1",
    )
    try:
        session = spark_session()
    except SparkUnavailable as exc:
        if os.environ.get("EPICITY_SPARK_REQUIRED") == "1":
            pytest.fail(f"EPICITY_SPARK_REQUIRED=1 but {exc}")
        pytest.skip(str(exc))
    yield session
    session.stop()
