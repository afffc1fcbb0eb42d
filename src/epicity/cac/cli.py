"""`epicity cac`: seed the platform with Seoul's and Korea's real series, list and decide
registrations, make and revoke publishers' API keys."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from epicity.cac import service
from epicity.cac.errors import CacError, UpdatesInvalid
from epicity.cac.library_cli import seed_library_command
from epicity.cac.seed import CREDIT, seed
from epicity.cliutil import ACTOR_OPTION, DB_OPTION, actor_name, database, fail
from epicity.db import session_scope, utcnow

__all__ = ["app"]

app = typer.Typer(help="Cities Against COVID-19: cities, keys, seeding.", no_args_is_help=True)

ENV_REAL_DATA = "EPICITY_REAL_DATA"


def _real_data(given: Path | None) -> Path:
    if given is not None:
        return given
    env = os.environ.get(ENV_REAL_DATA)
    return Path(env) if env else Path("../shared/data/real")


@app.command("seed")
def seed_command(
    real_data: Path | None = typer.Option(
        None,
        "--real-data",
        help="The real data directory (default: $EPICITY_REAL_DATA, else ../shared/data/real).",
        show_default=False,
    ),
    national: bool = typer.Option(
        True, "--national/--no-national", help="Also Korea's national figures, for comparison."
    ),
    db: str | None = DB_OPTION,
) -> None:
    """Register and approve Seoul (and Korea's national figures) and load their daily series
    from Coronaboard through the checked update path. Running it again adds nothing."""
    root = _real_data(real_data)
    if not (root / "korea_timeseries").is_dir():
        raise fail(f"--real-data: {root / 'korea_timeseries'} is not a directory")
    with database(db) as sessions:
        try:
            with session_scope(sessions) as session:
                results = seed(session, real_data=root, now=utcnow(), national=national)
                lines = [
                    f"{r.city.name_en} (city {r.city.id}, population {r.city.population:,}): "
                    f"{r.created} days added, {r.revised} revised, {r.unchanged} unchanged"
                    for r in results
                ]
        except UpdatesInvalid as err:
            raise fail(f"the series was refused, nothing stored: {err}") from None
        except CacError as err:
            raise fail(str(err)) from None
    for line in lines:
        typer.echo(line)
    typer.echo(f"data: {CREDIT}")


@app.command("cities")
def cities_command(
    status: str = typer.Option("pending", "--status", help="pending, approved, rejected or all."),
    db: str | None = DB_OPTION,
) -> None:
    """List registered cities with a status (default: those waiting for a decision)."""
    if status not in ("pending", "approved", "rejected", "all"):
        raise fail(f"--status: {status!r} is not pending, approved, rejected or all")
    with database(db) as sessions, session_scope(sessions) as session:
        rows = service.list_cities(
            session, status=None if status == "all" else status, limit=10_000
        )
        lines = [
            f"{c.id}\t{c.status}\t{c.country}\t{c.name_en}\t{c.name_local}\t{c.population}"
            f"\t{c.contact_email}"
            for c in rows
        ]
    typer.echo("\n".join(lines) if lines else f"no {status} cities")


def _decide(city_id: int, approve: bool, note: str, actor: str | None, db: str | None) -> None:
    with database(db) as sessions:
        try:
            with session_scope(sessions) as session:
                city = service.decide_city(
                    session,
                    city_id=city_id,
                    approve=approve,
                    actor=actor_name(actor),
                    now=utcnow(),
                    note=note,
                )
                typer.echo(f"city {city.id} {city.name_en}: {city.status}")
        except CacError as err:
            raise fail(str(err)) from None


@app.command("approve")
def approve_command(
    city_id: int = typer.Argument(..., min=1, help="The city's id."),
    note: str = typer.Option("", "--note", help="Why."),
    actor: str | None = ACTOR_OPTION,
    db: str | None = DB_OPTION,
) -> None:
    """Approve a pending city (make its first key with `epicity cac key-create`)."""
    _decide(city_id, True, note, actor, db)


@app.command("reject")
def reject_command(
    city_id: int = typer.Argument(..., min=1, help="The city's id."),
    note: str = typer.Option("", "--note", help="Why."),
    actor: str | None = ACTOR_OPTION,
    db: str | None = DB_OPTION,
) -> None:
    """Reject a pending city."""
    _decide(city_id, False, note, actor, db)


@app.command("key-create")
def key_create(
    city_id: int = typer.Option(..., "--city", min=1, help="The approved city's id."),
    label: str = typer.Option(..., "--label", help="Who or what holds the key."),
    actor: str | None = ACTOR_OPTION,
    db: str | None = DB_OPTION,
) -> None:
    """Make a publisher key for a city and print it, this once (only its hash is kept)."""
    with database(db) as sessions:
        try:
            with session_scope(sessions) as session:
                publisher, key = service.create_publisher(
                    session, city_id=city_id, label=label, actor=actor_name(actor), now=utcnow()
                )
                pid = publisher.id
        except CacError as err:
            raise fail(str(err)) from None
    typer.echo(f"publisher {pid} for city {city_id}; the key (shown once):")
    typer.echo(key)


@app.command("key-revoke")
def key_revoke(
    publisher_id: int = typer.Argument(..., min=1, help="The publisher's id."),
    actor: str | None = ACTOR_OPTION,
    db: str | None = DB_OPTION,
) -> None:
    """Revoke a publisher key at once."""
    with database(db) as sessions:
        try:
            with session_scope(sessions) as session:
                p = service.revoke_publisher(
                    session, publisher_id=publisher_id, actor=actor_name(actor), now=utcnow()
                )
                typer.echo(f"publisher {p.id} ({p.key_prefix}...) revoked at {p.revoked_at}")
        except CacError as err:
            raise fail(str(err)) from None


# The countermeasure library and suppliers directory (epicity.cac.library_cli).
app.command("seed-library")(seed_library_command)
