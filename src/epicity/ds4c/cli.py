"""`epicity ds4c ...`: convert the Korean DS4C data set and load it into a location store."""

from __future__ import annotations

import tempfile
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from epicity.ds4c.convert import REQUIRED_FILES, Ds4cError, Ds4cReport, convert_ds4c
from epicity.ds4c.summary import print_summary

__all__ = ["DEFAULT_SOURCE", "app"]

DEFAULT_SOURCE = Path("../shared/data/real/ds4c")

app = typer.Typer(
    help=(
        "The Korean DS4C data set (Kaggle kimjihoo/coronavirusdataset, CC BY-NC-SA 4.0): "
        "convert PatientInfo/PatientRoute/TimeProvince into cases, routes and daily_counts "
        "and load them into a location store."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_SOURCE = typer.Argument(
    DEFAULT_SOURCE,
    help="Directory holding the DS4C CSV files (relative paths are from the current directory).",
    show_default=True,
)
_STORE = typer.Option(
    None, "--store", help="Location store directory to load into (created if needed)."
)
_DRY_RUN = typer.Option(
    False, "--dry-run", help="Only convert and validate (same as `check`); load nothing."
)


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"Error: {message}", err=True)
    return typer.Exit(code)


def _check_source(source: Path) -> None:
    if not source.is_dir():
        raise _fail(f"DS4C source directory {source} does not exist.", 2)
    missing = [name for name in REQUIRED_FILES if not (source / name).is_file()]
    if missing:
        raise _fail(f"{source} lacks required file(s): {', '.join(missing)}.", 2)


def _convert(source: Path, out_dir: Path) -> Ds4cReport:
    try:
        return convert_ds4c(source, out_dir)
    except Ds4cError as e:
        raise _fail(str(e), 2) from e


@app.command("check")
def check(source: Path = _SOURCE) -> None:
    """Convert and validate without loading anything; print the summary and findings."""
    _check_source(source)
    with tempfile.TemporaryDirectory(prefix="epicity-ds4c-") as tmp:
        report = _convert(source, Path(tmp))
    print_summary(report, Console())
    typer.echo("Dry run: nothing was loaded.")


@app.command("import")
def import_(
    source: Path = _SOURCE,
    store: Path | None = _STORE,
    dry_run: bool = _DRY_RUN,
) -> None:
    """Convert DS4C into cases/routes/daily_counts and ingest them into --store."""
    _check_source(source)
    if dry_run:
        check(source)
        return
    if store is None:
        raise _fail("--store is required unless --dry-run is given.", 2)

    from epicity.records.ingest import IngestError, ingest_directory

    console = Console()
    with tempfile.TemporaryDirectory(prefix="epicity-ds4c-") as tmp:
        report = _convert(source, Path(tmp))
        try:
            result = ingest_directory(Path(tmp), store)
        except IngestError as e:
            where = ", ".join(
                f"{k} {v}"
                for k, v in (("file", e.file), ("row", e.row), ("field", e.field))
                if v is not None
            )
            raise _fail(f"loading the converted tables failed ({where}): {e}", 1) from e
    print_summary(report, console)
    loaded = Table(title=f"Loaded into {store} ({result.seconds:.1f} s)", title_justify="left")
    for name in ("table", "rows read", "rows added", "rows in store"):
        loaded.add_column(name, justify="left" if name == "table" else "right")
    for t in result.tables:
        loaded.add_row(t.table, f"{t.rows_read:,}", f"{t.rows_added:,}", f"{t.rows_total:,}")
    console.print(loaded)
