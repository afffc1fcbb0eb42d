"""Apache Spark, for the jobs that outgrow one machine: the engine setting and the session.

Ingest and tracing run on DuckDB (embedded, the default) or on Spark (PySpark, the ``spark``
extra: ``pip install 'epicity[spark]'`` and a Java 17+ runtime). Both read and write the same
Parquet layout (docs/data-formats.md), so a store loaded by one engine is traced by the other.

=============================  ===============================================================
``EPICITY_ENGINE``             the engine when a command gets no ``--engine``: ``duckdb``
                               (default) or ``spark``
``EPICITY_SPARK_MASTER``       where Spark runs: ``local[*]`` (default: this machine, every
                               core), ``local[2]``, ``spark://host:7077``, ``yarn``,
                               ``k8s://https://...``
``EPICITY_SPARK_CONF``         more Spark settings, ``key=value`` pairs separated by ``;``
                               (e.g. ``spark.executor.memory=8g;spark.executor.cores=4``)
=============================  ===============================================================

On a cluster every executor needs epicity installed (its Python functions run there) and the
store must be on a file system all nodes and the driver share under the same path (NFS, a
parallel file system, or a FUSE mount of object storage): the store's commit is an atomic
rename of its manifest.
"""

from __future__ import annotations

import os
import shutil
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = [
    "DEFAULT_MASTER",
    "ENGINES",
    "SparkUnavailable",
    "check_engine",
    "default_engine",
    "spark_conf",
    "spark_session",
]

ENGINES = ("duckdb", "spark")
DEFAULT_MASTER = "local[*]"

# Settings every epicity job relies on; EPICITY_SPARK_CONF may add to them or override them.
_BASE_CONF = {
    "spark.app.name": "epicity",
    # Instants are UTC everywhere (the store holds UTC; days are UTC days).
    "spark.sql.session.timeZone": "UTC",
    # The store's timestamps are Parquet INT64 microseconds adjusted to UTC, as DuckDB writes.
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.parquet.compression.codec": "zstd",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    # INT_MAX turns off a per-row size check of Arrow batches to Python (13% of the JVM's CPU
    # in the index build); batches stay bounded by maxRecordsPerBatch (10,000 rows).
    "spark.sql.execution.arrow.maxBytesPerBatch": "2147483647",
    "spark.sql.adaptive.enabled": "true",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    # A person's records must never be split between files of one task's output by size.
    "spark.sql.files.maxRecordsPerFile": "0",
}


class SparkUnavailable(RuntimeError):  # noqa: N818 (says what is missing)
    """Spark cannot run here: PySpark or Java is missing, or a setting is malformed."""


def check_engine(name: str) -> str:
    """The engine name, or `ValueError` naming the choices."""
    engine = name.strip().lower()
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {name!r}; choose {' or '.join(ENGINES)}")
    return engine


def default_engine() -> str:
    """`EPICITY_ENGINE`, or ``duckdb``."""
    value = os.environ.get("EPICITY_ENGINE", "duckdb")
    try:
        return check_engine(value)
    except ValueError as exc:
        raise SparkUnavailable(f"EPICITY_ENGINE: {exc}") from None


def spark_conf() -> dict[str, str]:
    """The Spark settings epicity starts sessions with (base, master, EPICITY_SPARK_CONF)."""
    conf = dict(_BASE_CONF)
    conf["spark.master"] = os.environ.get("EPICITY_SPARK_MASTER", "").strip() or DEFAULT_MASTER
    for n, pair in enumerate(os.environ.get("EPICITY_SPARK_CONF", "").split(";"), 1):
        if not pair.strip():
            continue
        key, sep, value = pair.partition("=")
        if not sep or not key.strip().startswith("spark."):
            raise SparkUnavailable(
                f"EPICITY_SPARK_CONF: entry {n} ({pair.strip()!r}) is not spark.<name>=<value>"
            )
        conf[key.strip()] = value.strip()
    return conf


def spark_session() -> SparkSession:
    """The process's Spark session (started on first use with `spark_conf`, then reused)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise SparkUnavailable(
            "the Spark engine needs PySpark: pip install 'epicity[spark]'"
        ) from None
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    java_home = os.environ.get("JAVA_HOME")
    if not (java_home and os.path.isfile(os.path.join(java_home, "bin", "java"))) and not (
        shutil.which("java")
    ):
        raise SparkUnavailable(
            "the Spark engine needs a Java 17+ runtime (java not on PATH and JAVA_HOME unset)"
        )
    # Executors (and local Python workers) run this same interpreter, where epicity is.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder
    for key, value in spark_conf().items():
        builder = builder.config(key, value)
    try:
        session: SparkSession = builder.getOrCreate()
    except Exception as exc:  # the JVM did not start: Py4J and Spark raise many kinds
        raise SparkUnavailable(f"Spark did not start: {str(exc).strip()[:300]}") from exc
    session.sparkContext.setLogLevel("WARN")
    return session
