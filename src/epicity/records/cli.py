"""`epicity ingest`: load a directory of table files into the location store."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from epicity.cliutil import ENGINE_OPTION, bar_per_label, engine_or_default, fail, progress_bar
from epicity.records.ingest import IngestError, IngestReport, ingest_directory
from epicity.spark import SparkUnavailable

__all__ = ["ingest", "render_ingest", "run_ingest"]


_SOURCE = typer.Argument(
    ...,
    exists=True,
    file_okay=False,
    dir_okay=True,
    readable=True,
    help="Directory with <table>.csv or <table>.parquet files (see docs/data-formats.md).",
)
_STORE = typer.Option(
    Path("var/store"),
    "--store",
    file_okay=False,
    help="Location store directory (created when missing).",
)


def ingest(
    source: Path = _SOURCE,
    store: Path = _STORE,
    engine: str | None = ENGINE_OPTION,
) -> None:
    """Validate the table files in SOURCE and load them into the store, all or nothing."""
    chosen = engine_or_default(engine)
    console = Console()
    try:
        report = run_ingest(source, store, console=console, engine=chosen)
    except IngestError as exc:
        Console(stderr=True).print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(code=2) from None
    except SparkUnavailable as exc:
        raise fail(str(exc)) from None
    console.print(render_ingest(report))


def run_ingest(
    source: Path, store: Path, *, console: Console | None = None, engine: str = "duckdb"
) -> IngestReport:
    """`ingest_directory` (or on Spark, `ingest_directory_spark`) with a Rich progress bar
    (raises `IngestError` on bad input)."""
    with progress_bar(console or Console()) as bar:
        progress = bar_per_label(bar)
        if engine == "spark":
            from epicity.records.ingest_spark import ingest_directory_spark

            return ingest_directory_spark(source, store, progress=progress)
        return ingest_directory(source, store, progress=progress)


def render_ingest(report: IngestReport) -> Group:
    """A table of rows read / added / in store per table, and the overall speed."""
    return Group(
        _report_table(report),
        Text(
            f"{report.records:,} records in {report.seconds:.1f} s "
            f"({report.records_per_second:,.0f} records/s) -> {report.store}"
        ),
    )


def _report_table(report: IngestReport) -> Table:
    table = Table(title="ingest")
    table.add_column("table")
    table.add_column("file")
    table.add_column("rows read", justify="right")
    table.add_column("rows added", justify="right")
    table.add_column("rows in store", justify="right")
    table.add_column("seconds", justify="right")
    for t in report.tables:
        table.add_row(
            t.table,
            t.file,
            f"{t.rows_read:,}",
            f"{t.rows_added:,}",
            f"{t.rows_total:,}",
            f"{t.seconds:.2f}",
        )
    return table
