"""`epicity exposure venues ...` and `epicity exposure venue-warnings ...`: register and list
venues, write a venue's QR code as SVG; publish approved warnings and apply retention (the
jobs a scheduler runs hourly). Bad input exits with code 2 and a message naming the option.
"""

from __future__ import annotations

from pathlib import Path

import segno
import typer
from rich.console import Console
from rich.table import Table

from epicity.cliutil import (
    ACTOR_OPTION,
    DB_OPTION,
    NOW_OPTION,
    actor_name,
    database,
    fail,
    now_or,
    parse_time,
)
from epicity.db import session_scope, utcnow
from epicity.exposure import venues
from epicity.exposure.errors import ExposureError
from epicity.exposure.signing import load_signer
from epicity.exposure.venue_errors import VenueError
from epicity.exposure.venue_payload import VENUE_TYPES

__all__ = ["venue_app", "warnings_app"]

venue_app = typer.Typer(
    help="Venue check-ins: register venues and events, list them, write their QR codes.",
    no_args_is_help=True,
)
warnings_app = typer.Typer(
    help="Venue warnings: publish the approved ones as a signed package; apply retention.",
    no_args_is_help=True,
)


def _settings() -> venues.VenueSettings:
    try:
        return venues.VenueSettings.from_env()
    except ValueError as err:
        raise fail(str(err)) from None


@venue_app.command("register")
def register_command(
    description: str = typer.Option(..., "--description", help="Name shown on the poster."),
    address: str = typer.Option(..., "--address", help="Address shown on the poster."),
    venue_type: str = typer.Option(
        ..., "--type", help=f"One of: {', '.join(VENUE_TYPES)} (temporary_*: an event)."
    ),
    district: str = typer.Option(..., "--district", help="The city's district, e.g. Mapo-gu."),
    place_id: int | None = typer.Option(None, "--place-id", help="The city's place id."),
    start: str | None = typer.Option(None, "--start", help="An event's start (ISO 8601)."),
    end: str | None = typer.Option(None, "--end", help="An event's end (ISO 8601)."),
    minutes: int | None = typer.Option(
        None, "--minutes", help="Default check-in length in minutes (10-1440; default 120)."
    ),
    actor: str | None = ACTOR_OPTION,
    db: str | None = DB_OPTION,
) -> None:
    """Register a venue (as staff) and print its id, check-in URL and management token."""
    settings = _settings()
    with database(db) as sessions:
        try:
            with session_scope(sessions) as session:
                venue, token = venues.register_venue(
                    session,
                    description=description,
                    address=address,
                    venue_type=venue_type,
                    district=district,
                    place_id=place_id,
                    start=parse_time(start, "--start") if start else None,
                    end=parse_time(end, "--end") if end else None,
                    default_check_in_minutes=minutes,
                    actor=actor_name(actor),
                    staff=True,
                    now=utcnow(),
                )
                url = venues.checkin_url_of(venue, settings)
                venue_id = venue.id
        except VenueError as err:
            raise fail(str(err)) from None
    typer.echo(f"venue {venue_id} registered")
    typer.echo(f"check-in URL: {url}")
    typer.echo(f"management token (shown once): {token}")


@venue_app.command("list")
def list_command(
    district: str | None = typer.Option(None, "--district", help="Only this district."),
    place_id: int | None = typer.Option(None, "--place-id", help="Only this place id."),
    q: str | None = typer.Option(None, "--q", help="Words of the description or address."),
    limit: int = typer.Option(100, "--limit", min=1, max=10_000),
    db: str | None = DB_OPTION,
) -> None:
    """List registered venues, newest first."""
    with database(db) as sessions:
        try:
            with session_scope(sessions) as session:
                rows, total = venues.list_venues(
                    session, district=district, place_id=place_id, q=q, limit=limit
                )
                table = Table("id", "description", "type", "district", "place", "ended")
                for v in rows:
                    table.add_row(
                        str(v.id),
                        v.description,
                        v.venue_type,
                        v.district,
                        "" if v.place_id is None else str(v.place_id),
                        "" if v.ended_at is None else v.ended_at.isoformat(timespec="minutes"),
                    )
        except VenueError as err:
            raise fail(str(err)) from None
    Console().print(table)
    typer.echo(f"{len(rows)} of {total} venue(s)")


@venue_app.command("poster")
def poster_command(
    venue_id: int = typer.Argument(..., help="The venue's id."),
    out: Path = typer.Option(..., "--out", help="The SVG file to write.", dir_okay=False),
    scale: int = typer.Option(10, "--scale", min=1, max=100, help="Pixels a module."),
    db: str | None = DB_OPTION,
) -> None:
    """Write the venue's QR code (its check-in URL) as an SVG file, to print."""
    settings = _settings()
    if out.suffix.lower() != ".svg":
        raise fail(f"--out: {out} must end in .svg")
    with database(db) as sessions:
        try:
            with session_scope(sessions) as session:
                url = venues.checkin_url_of(venues.get_venue(session, venue_id=venue_id), settings)
        except VenueError as err:
            raise fail(str(err)) from None
    qr = segno.make(url, error=venues.QR_ERROR, micro=False)
    try:
        qr.save(str(out), kind="svg", scale=scale, border=4)
    except OSError as err:
        raise fail(f"--out: cannot write {out}: {err.strerror}") from None
    typer.echo(f"wrote {out} (QR version {qr.version}, error correction M) for {url}")


@warnings_app.command("publish")
def publish_command(now: str | None = NOW_OPTION, db: str | None = DB_OPTION) -> None:
    """Publish every approved venue warning as one signed package (with decoys); prints its
    name, or that there was nothing to publish. Signed with the key server's export key
    (EPICITY_EXPOSURE_SIGNING_KEY)."""
    when = now_or(now)
    settings = _settings()
    try:
        signer = load_signer()
    except ExposureError as err:
        raise fail(str(err)) from None
    with database(db) as sessions, session_scope(sessions) as session:
        package = venues.publish_warnings(session, now=when, signer=signer, settings=settings)
        done = None if package is None else (package.name, package.report_count)
    if done is None:
        typer.echo("no approved warning to publish")
    else:
        typer.echo(f"published {done[0]}.zip ({done[1]} reports, decoys included)")


@warnings_app.command("prune")
def prune_command(now: str | None = NOW_OPTION, db: str | None = DB_OPTION) -> None:
    """Delete warnings and packages 14 days after their window ended, and venues ended 14
    days ago that no warning refers to."""
    when = now_or(now)
    with database(db) as sessions, session_scope(sessions) as session:
        counts = venues.prune(session, now=when)
    typer.echo(
        f"deleted {counts['warnings']} warning(s), {counts['packages']} package(s), "
        f"{counts['venues']} venue(s)"
    )
