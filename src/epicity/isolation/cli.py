"""`epicity isolation ...`: the periodic jobs of self-isolation.

- ``sweep``: alert officers about check-in windows that closed without a check-in, and remind
  the people (`epicity.isolation.service.check_missed`); idempotent. Run it every few minutes
  (cron, a systemd timer) or keep it running with ``--loop``. It runs apart from the web
  workers on purpose: every uvicorn worker would otherwise sweep the same rows.
- ``release``: release the registrations whose end date has passed (those waiting for a
  negative test stay), and queue the ``released`` notices. Run it once a day, after midnight.

Output holds counts and registration ids only, never personal data.
"""

from __future__ import annotations

import datetime as dt
import time

import typer

from epicity.cliutil import DB_OPTION, database, fail, parse_time
from epicity.db import session_scope, utcnow
from epicity.isolation.errors import IsolationError
from epicity.isolation.service import SEOUL, check_missed, release_due

__all__ = ["app"]

app = typer.Typer(
    help="Self-isolation jobs: the missed-check-in sweep and release at the end date.",
    no_args_is_help=True,
)


@app.command("sweep")
def sweep(
    at: str | None = typer.Option(
        None, "--at", help="Sweep as of this time (ISO 8601 with offset; default now)."
    ),
    loop: bool = typer.Option(False, "--loop", help="Keep sweeping until interrupted."),
    interval: float = typer.Option(
        300.0, "--interval", min=1.0, help="Seconds between sweeps with --loop."
    ),
    rounds: int | None = typer.Option(
        None, "--rounds", min=1, help="With --loop: stop after this many sweeps."
    ),
    db: str | None = DB_OPTION,
) -> None:
    """Alert officers about missed check-ins (windows closed in the last 36 hours)."""
    when = parse_time(at, "--at") if at else None
    done = 0
    with database(db) as sessions:
        try:
            while True:
                with session_scope(sessions) as session:
                    report = check_missed(session, when or utcnow())
                done += 1
                windows = ", ".join(f"{d.isoformat()} {s}" for d, s in report.windows) or "none"
                typer.echo(
                    f"swept {report.registrations} active registration(s), windows: {windows}; "
                    f"{report.alerts} new missed-check-in alert(s), {report.reminders} reminder(s)"
                )
                if not loop or (rounds is not None and done >= rounds):
                    break
                time.sleep(interval)
        except KeyboardInterrupt:
            typer.echo("interrupted")
        except IsolationError as err:
            raise fail(str(err)) from None


@app.command("release")
def release(
    today: str | None = typer.Option(
        None, "--today", help="Release as of this date (YYYY-MM-DD; default today in Seoul)."
    ),
    db: str | None = DB_OPTION,
) -> None:
    """Release registrations whose end date has passed (waiting for a negative test where
    symptoms appeared)."""
    try:
        day = dt.date.fromisoformat(today) if today else utcnow().astimezone(SEOUL).date()
    except ValueError:
        raise fail(f"--today: {today!r} is not a date (YYYY-MM-DD)") from None
    with database(db) as sessions, session_scope(sessions) as session:
        try:
            report = release_due(session, day)
        except IsolationError as err:
            raise fail(str(err)) from None
    typer.echo(
        f"released {len(report.released)} registration(s) ending before {day.isoformat()}; "
        f"{len(report.waiting_for_test)} waiting for a negative test"
        + (f" (registrations {', '.join(map(str, report.waiting_for_test))})"
           if report.waiting_for_test else "")
    )  # fmt: skip
