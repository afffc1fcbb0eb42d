"""`epicity emergency ...` and `epicity audit ...`: declare, end and show emergencies; read the log.

Every command brings the database up to date first (idempotent). Bad input prints a message
on stderr and exits with 2; `emergency status` exits with 1 when no emergency is in force,
`audit verify` when the audit log's hash chain is broken.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table

from epicity.cliutil import ACTOR_OPTION, DB_OPTION, actor_name, database, parse_time
from epicity.db import session_scope, utcnow
from epicity.privacy.chain import verify_chain
from epicity.privacy.errors import NoActiveEmergency
from epicity.privacy.models import Emergency
from epicity.privacy.service import (
    DEFAULT_AREA,
    active_emergency,
    audit_entries,
    declare_emergency,
    end_emergency,
)

__all__ = ["audit_app", "emergency_app"]

# Times are stored in UTC and shown in the city's zone.
DISPLAY_ZONE = ZoneInfo("Asia/Seoul")

emergency_app = typer.Typer(
    help="Declare, end and show the emergency that allows reading location data.",
    no_args_is_help=True,
)
audit_app = typer.Typer(
    help="Read and verify the audit log of accesses and declarations.", no_args_is_help=True
)

HEAD_SHOWN = 16  # hex digits of the head hash printed by `audit verify`


def _show(at: dt.datetime | None) -> str:
    return at.astimezone(DISPLAY_ZONE).isoformat(timespec="seconds") if at else "-"


def _describe(e: Emergency) -> str:
    until = f"until {_show(e.ends_at)}" if e.ends_at else "until ended"
    lines = [
        f"emergency {e.id}: {e.name} ({e.area})",
        f"  in force from {_show(e.starts_at)} {until}",
        f"  declared by {e.declared_by} at {_show(e.declared_at)}",
    ]
    if e.ended_at is not None:
        lines.append(f"  ended by {e.ended_by} at {_show(e.ended_at)}")
    if e.reason:
        lines.append(f"  reason: {e.reason}")
    return "\n".join(lines)


@emergency_app.command("declare")
def declare(
    name: str = typer.Argument(..., help="Name of the emergency, e.g. 'COVID-19 Seoul'."),
    area: str = typer.Option(DEFAULT_AREA, "--area", help="Area it covers."),
    until: str | None = typer.Option(
        None, "--until", help="Planned end, ISO 8601 with offset (default: until ended)."
    ),
    reason: str = typer.Option("", "--reason", help="Legal basis or reason."),
    actor: str | None = ACTOR_OPTION,
    db: str | None = DB_OPTION,
) -> None:
    """Declare an emergency from now on: location data may be read for stated purposes."""
    ends_at = parse_time(until, "--until") if until is not None else None
    with database(db) as sessions, session_scope(sessions) as session:
        emergency = declare_emergency(
            session, name=name, area=area, actor=actor_name(actor), ends_at=ends_at, reason=reason
        )
        typer.echo(f"declared {_describe(emergency)}")


@emergency_app.command("end")
def end(
    name: str | None = typer.Argument(
        None, help="Name of the emergency to end (default: the one in force)."
    ),
    actor: str | None = ACTOR_OPTION,
    db: str | None = DB_OPTION,
) -> None:
    """End an emergency now: no more reading of location data under it."""
    with database(db) as sessions, session_scope(sessions) as session:
        if name is None:
            current = active_emergency(session)
            if current is None:
                raise NoActiveEmergency("no emergency is in force, nothing to end")
            emergency = end_emergency(session, emergency_id=current.id, actor=actor_name(actor))
        else:
            emergency = end_emergency(session, name=name, actor=actor_name(actor))
        typer.echo(f"ended {_describe(emergency)}")


@emergency_app.command("status")
def status(db: str | None = DB_OPTION) -> None:
    """Show the emergency in force; exit 1 when there is none."""
    with database(db) as sessions, sessions() as session:
        emergency = active_emergency(session)
        if emergency is None:
            typer.echo(f"no active emergency (at {_show(utcnow())})")
            raise typer.Exit(code=1)
        typer.echo(_describe(emergency))


@audit_app.command("show")
def show(
    case: int | None = typer.Option(None, "--case", help="Only entries about this case."),
    limit: int | None = typer.Option(
        50, "--limit", min=1, help="Show the most recent N entries (oldest first)."
    ),
    db: str | None = DB_OPTION,
) -> None:
    """Print audit entries as a table, oldest first."""
    with database(db) as sessions, sessions() as session:
        entries = audit_entries(session, case_id=case, limit=limit)
        table = Table(title="audit log" + (f" of case {case}" if case is not None else ""))
        table.caption = f"times in {DISPLAY_ZONE.key}"
        for column, justify, wrap in [
            ("id", "right", False), ("at", "left", True), ("actor", "left", True),
            ("role", "left", True), ("action", "left", True), ("purpose", "left", True),
            ("case", "right", False), ("emerg.", "right", False), ("tables", "left", True),
            ("rows", "right", False),
        ]:  # fmt: skip
            table.add_column(column, justify=justify, no_wrap=not wrap, overflow="fold")  # type: ignore[arg-type]
        for e in entries:
            table.add_row(
                str(e.id),
                e.at.astimezone(DISPLAY_ZONE).strftime("%Y-%m-%d %H:%M:%S"),
                e.actor,
                e.role,
                e.action,
                e.purpose or "",
                "" if e.case_id is None else str(e.case_id),
                "" if e.emergency_id is None else str(e.emergency_id),
                e.tables,
                f"{e.rows_returned:,}",
            )
        Console().print(table)
        if not entries:
            typer.echo("no audit entries")


@audit_app.command("verify")
def verify(db: str | None = DB_OPTION) -> None:
    """Recompute the audit log's hash chain; exit 1 naming the first broken entry."""
    with database(db) as sessions, sessions() as session:
        result = verify_chain(session)
    if result.intact:
        typer.echo(f"audit log intact: {result.entries} entries, head {result.head[:HEAD_SHOWN]}")
        return
    typer.echo(
        f"audit log broken at entry {result.bad_id}: {result.reason} "
        f"({result.entries} entries before it verified)"
    )
    raise typer.Exit(code=1)
