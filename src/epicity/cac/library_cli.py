"""`epicity cac seed-library`: Seoul's countermeasures from DS4C's Policy.csv (read from the
shared real data at run time, never shipped) and the Korean test-kit makers with emergency
use authorisation in 2020 (shipped in the package), in one transaction; idempotent."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from epicity.cac.errors import CacError
from epicity.cac.library_errors import LibraryError
from epicity.cac.library_seed import DS4C_CREDIT, DS4C_LICENCE, POLICY_FILE, seed_library
from epicity.cliutil import DB_OPTION, database, fail
from epicity.db import session_scope, utcnow

__all__ = ["seed_library_command"]

ENV_REAL_DATA = "EPICITY_REAL_DATA"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{counts.get(k, 0)} {k}" for k in ("created", "updated", "unchanged"))


def seed_library_command(
    real_data: Path | None = typer.Option(
        None,
        "--real-data",
        help="The real data directory holding ds4c/Policy.csv (default: $EPICITY_REAL_DATA, "
        "else ../shared/data/real).",
        show_default=False,
    ),
    policies: bool = typer.Option(
        True, "--policies/--no-policies", help="Load Seoul's countermeasures from DS4C."
    ),
    suppliers_file: Path | None = typer.Option(
        None,
        "--suppliers",
        help="A suppliers list in the shipped file's format (default: the Korean test-kit "
        "makers with emergency use authorisation in 2020, shipped in the package).",
        show_default=False,
    ),
    db: str | None = DB_OPTION,
) -> None:
    """Seed the countermeasure library (Seoul's policies from DS4C) and the suppliers
    directory. Everything is checked and stored in one transaction; a second run adds
    nothing."""
    root: Path | None = None
    if policies:
        env = os.environ.get(ENV_REAL_DATA)
        root = real_data or (Path(env) if env else Path("../shared/data/real"))
        if not (root / POLICY_FILE).is_file():
            raise fail(f"--real-data: {root / POLICY_FILE} is not a file")
    if suppliers_file is not None and not suppliers_file.is_file():
        raise fail(f"--suppliers: {suppliers_file} is not a file")
    with database(db) as sessions:
        try:
            with session_scope(sessions) as session:
                report = seed_library(
                    session, now=utcnow(), real_data=root, suppliers_file=suppliers_file
                )
                city = report.city.name_en if report.city else None
                city_id = report.city.id if report.city else None
        except (LibraryError, CacError) as err:
            raise fail(f"nothing stored: {err}") from None
    if root is not None:
        typer.echo(f"countermeasures of {city} (city {city_id}): {_counts(report.countermeasures)}")
        typer.echo(f"  from {DS4C_CREDIT}; licence {DS4C_LICENCE} (kept on every entry)")
    typer.echo(f"suppliers: {_counts(report.suppliers)}")
