"""`epicity city ...`: generate a synthetic city."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from epicity.city.generate import CityConfig, GenerationReport, generate_city

app = typer.Typer(
    help="Synthetic city: generate people, places, routines, records and an outbreak."
)
console = Console(stderr=True)


def _parse_start(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"expected a date like 2020-03-02, got {value!r}", param_hint="--start"
        ) from None


def run_generation(out: Path, config: CityConfig, quiet: bool = False) -> GenerationReport:
    """Generate with a Rich progress bar (on stderr)."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} days"),
        TimeElapsedColumn(),
        console=console,
        disable=quiet,
    ) as bar:
        task = bar.add_task("building the city", total=config.days)

        def progress(description: str, done: int, total: int) -> None:
            bar.update(task, description=description, completed=done, total=total)

        return generate_city(out, config, progress)


def render_generation(report: GenerationReport) -> Table:
    """A table of what a generation run wrote."""
    cfg = report.config
    table = Table(
        title=f"Synthetic city: {cfg.people:,} people x {cfg.days} days (seed {cfg.seed})"
    )
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, rows in report.rows.items():
        table.add_row(name, f"{rows:,}")
    table.add_section()
    table.add_row("places (venues, homes, workplaces)", f"{sum(report.places_by_kind.values()):,}")
    table.add_row("cell towers", f"{report.towers:,}")
    table.add_row("infections (truth)", f"{report.infections:,}")
    table.add_row("confirmed cases (known)", f"{report.cases:,}")
    table.add_row("seconds", f"{report.seconds:.1f}")
    table.add_row("records / s", f"{report.records / max(report.seconds, 1e-9):,.0f}")
    return table


@app.command("generate")
def generate(
    people: int = typer.Option(
        10_000, "--people", min=1, max=20_000_000, help="Number of residents."
    ),
    days: int = typer.Option(14, "--days", min=1, max=366, help="Number of days to simulate."),
    seed: int = typer.Option(
        1, "--seed", min=0, help="Random seed; the same seed gives the same city."
    ),
    out: Path = typer.Option(Path("var/city"), "--out", help="Output directory."),
    start: str = typer.Option("2020-03-02", "--start", help="First day (local date, ISO)."),
    fmt: str = typer.Option("parquet", "--format", help="parquet or csv."),
    seed_infections: int | None = typer.Option(
        None,
        "--seed-infections",
        min=0,
        help="People infected before day 0 (default 5 + people/5000).",
    ),
    transmission: float = typer.Option(
        1.0, "--transmission", min=0.0, help="Scales every transmission rate."
    ),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Generate a synthetic Seoul-like city and the records its systems would hold."""
    if fmt not in ("parquet", "csv"):
        raise typer.BadParameter(f"expected parquet or csv, got {fmt!r}", param_hint="--format")
    if out.exists() and not out.is_dir():
        raise typer.BadParameter(f"{out} exists and is not a directory", param_hint="--out")
    config = CityConfig(
        people=people,
        days=days,
        seed=seed,
        start=_parse_start(start),
        format=fmt,  # type: ignore[arg-type]
        seed_infections=seed_infections,
        transmission=transmission,
    )
    try:
        config.validate()
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    report = run_generation(out, config, quiet)
    Console().print(render_generation(report))
    Console().print(f"written to {out}")
