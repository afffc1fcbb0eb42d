"""`epicity demo`: the quickstart's main job on the embedded default.

Generates a synthetic city, loads its records into the location store, and prints what the
store holds. Later issues extend this same command (investigation, console).
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from epicity.city.cli import render_generation, run_generation
from epicity.city.generate import CityConfig
from epicity.records.cli import render_ingest, run_ingest
from epicity.records.store import LocationStore
from epicity.records.summary import StoreSummary, summarize_store

__all__ = ["demo", "render_summary"]


def render_summary(summary: StoreSummary) -> list[Table]:
    """Tables describing a store's contents (aggregates only)."""
    span = (
        f"UTC days {summary.first_day} .. {summary.last_day}" if summary.first_day else "no records"
    )
    rows = Table(title=f"Location store ({span})")
    rows.add_column("table")
    rows.add_column("rows", justify="right")
    rows.add_column("distinct people", justify="right")
    for name, n in summary.rows.items():
        people = summary.people_with.get(name)
        rows.add_row(name, f"{n:,}", f"{people:,}" if people is not None else "")

    districts = Table(title="Residents and confirmed cases by district")
    districts.add_column("district")
    districts.add_column("residents", justify="right")
    districts.add_column("cases", justify="right")
    for name, residents, cases in summary.districts:
        districts.add_row(name, f"{residents:,}", f"{cases:,}")

    venues = Table(title="Venues and card transactions by category")
    venues.add_column("category")
    venues.add_column("venues", justify="right")
    venues.add_column("card transactions", justify="right")
    for category, count, txns in summary.merchants_by_category:
        venues.add_row(category, f"{count:,}", f"{txns:,}")

    by_day = Table(title="Confirmed cases by day")
    by_day.add_column("date")
    by_day.add_column("cases", justify="right")
    for day, n in summary.cases_by_day:
        by_day.add_row(day.isoformat(), f"{n:,}")
    return [rows, districts, venues, by_day]


def demo(
    people: int = typer.Option(
        10_000, "--people", min=100, max=20_000_000, help="Residents of the city."
    ),
    days: int = typer.Option(14, "--days", min=1, max=366, help="Days to simulate."),
    seed: int = typer.Option(1, "--seed", min=0, help="Random seed."),
    workdir: Path = typer.Option(
        Path("var/demo"), "--dir", help="Where the city and the store go."
    ),
) -> None:
    """Generate a synthetic Seoul, load its records into the location store, print a summary."""
    if workdir.exists() and not workdir.is_dir():
        raise typer.BadParameter(f"{workdir} exists and is not a directory", param_hint="--dir")
    console = Console()
    city_dir, store_dir = workdir / "city", workdir / "store"
    generation = run_generation(city_dir, CityConfig(people=people, days=days, seed=seed))
    console.print(render_generation(generation))
    report = run_ingest(city_dir, store_dir)
    console.print(render_ingest(report))
    for table in render_summary(summarize_store(LocationStore(store_dir))):
        console.print(table)
    console.print(
        f"\nCity files: {city_dir} (ground truth in {city_dir / 'truth'}); store: {store_dir}.\n"
        f"Run it again and the load is a no-op: ingest is idempotent."
    )
