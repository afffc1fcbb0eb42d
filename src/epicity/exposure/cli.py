"""`epicity exposure`: the key server's jobs: make signed exports, apply retention, make a
signing key, issue a verification code by hand, show aggregate counts.

Other exposure commands attach to `app` here (``app.add_typer(venue_app, name="venues")``
or ``app.command("...")(fn)``, in this module's last lines or in ``epicity/cli.py``): `app`
is what ``epicity/cli.py`` registers as ``epicity exposure``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from epicity.cliutil import DB_OPTION, NOW_OPTION, database, fail, now_or
from epicity.db import session_scope
from epicity.exposure import keyserver
from epicity.exposure.errors import ExposureError
from epicity.exposure.models import REPORT_TYPES
from epicity.exposure.settings import ExposureSettings
from epicity.exposure.signing import load_signer, public_key_pem, write_new_key
from epicity.exposure.venue_cli import venue_app, warnings_app
from epicity.exposure.verification import format_code, issue_code

__all__ = ["app"]

app = typer.Typer(
    help="Exposure notification: the key server's exports, retention, keys and counts.",
    no_args_is_help=True,
)


def _settings() -> ExposureSettings:
    try:
        return ExposureSettings.from_env()
    except ExposureError as err:
        raise fail(str(err)) from None


@app.command("export")
def export_command(
    period: str = typer.Option("daily", "--period", help="daily or hourly."),
    now: str | None = NOW_OPTION,
    db: str | None = DB_OPTION,
) -> None:
    """Make the signed export files of every closed window of the last 14 days not made yet,
    for every region (after applying retention). Running it again makes nothing new."""
    if period not in ("daily", "hourly"):
        raise fail(f"--period: {period!r} is not daily or hourly")
    when = now_or(now)
    settings = _settings()
    try:
        signer = load_signer(settings)
    except ExposureError as err:
        raise fail(str(err)) from None
    with database(db) as sessions:
        try:
            with session_scope(sessions) as session:
                built = keyserver.export_all(
                    session, now=when, period=period, settings=settings, signer=signer
                )
        except ExposureError as err:
            raise fail(str(err)) from None
    files = [f for b in built for f in b.files]
    keys = sum(b.key_count for b in built)
    typer.echo(
        f"{len(built)} {period} window(s) made, {len(files)} file(s), {keys} key(s) "
        f"(padding included), signed by key {signer.info.verification_key_id} "
        f"{signer.info.verification_key_version}"
    )
    for f in files:
        typer.echo(f"  {f.path}\t{f.key_count} keys\t{len(f.data)} bytes")


@app.command("prune")
def prune_command(now: str | None = NOW_OPTION, db: str | None = DB_OPTION) -> None:
    """Delete keys that ended more than 14 days ago, export files of windows that ended more
    than 14 days ago, expired codes and tokens, and old failed-verification records."""
    when = now_or(now)
    settings = _settings()
    with database(db) as sessions, session_scope(sessions) as session:
        result = keyserver.prune(session, now=when, settings=settings)
    typer.echo(
        f"deleted {result.keys} key row(s), {result.batches} export batch(es) with "
        f"{result.files} file(s), {result.codes} code(s), {result.tokens} token(s), "
        f"{result.failures} failed-verification record(s)"
    )


@app.command("keygen")
def keygen_command(
    out: Path = typer.Option(..., "--out", help="Where to write the PEM private key."),
    force: bool = typer.Option(False, "--force", help="Replace an existing file."),
) -> None:
    """Make an ECDSA P-256 export signing key (PEM, mode 0600) and print its public half,
    which the apps (and Google and Apple) need."""
    try:
        key = write_new_key(out, overwrite=force)
    except ExposureError as err:
        raise fail(str(err)) from None
    except OSError as err:
        raise fail(f"--out: cannot write {out}: {err.strerror}") from None
    typer.echo(f"wrote {out} (mode 0600); set EPICITY_EXPOSURE_SIGNING_KEY={out}")
    typer.echo(public_key_pem(key.public_key()).rstrip())


@app.command("code")
def code_command(
    test_date: str = typer.Option(..., "--test-date", help="Date of the test or diagnosis."),
    report_type: str = typer.Option(
        "confirmed", "--report-type", help="confirmed, likely (clinical) or user-report."
    ),
    onset: str | None = typer.Option(None, "--onset", help="Symptom onset date, if known."),
    now: str | None = NOW_OPTION,
    db: str | None = DB_OPTION,
) -> None:
    """Issue a verification code by hand (a diagnosis made outside screening) and print it,
    for the health officer to give the person. Only its hash is stored."""
    if report_type not in REPORT_TYPES:
        raise fail(f"--report-type: {report_type!r} is not one of {', '.join(REPORT_TYPES)}")
    days = {}
    for option, value in (("--test-date", test_date), ("--onset", onset)):
        if value is not None:
            try:
                days[option] = dt.date.fromisoformat(value)
            except ValueError:
                raise fail(f"{option} {value!r} is not a date (YYYY-MM-DD)") from None
    when = now_or(now)
    settings = _settings()
    with database(db) as sessions:
        try:
            with session_scope(sessions) as session:
                issued = issue_code(
                    session,
                    test_date=days["--test-date"],
                    report_type=report_type,
                    symptom_onset=days.get("--onset"),
                    now=when,
                    settings=settings,
                )
        except ExposureError as err:
            raise fail(str(err)) from None
    typer.echo(f"{format_code(issued.code)}\tvalid until {issued.expires_at.isoformat()}")


@app.command("stats")
def stats_command(
    days: int = typer.Option(14, "--days", min=1, max=3660, help="Days to show."),
    now: str | None = NOW_OPTION,
    db: str | None = DB_OPTION,
) -> None:
    """Aggregate counts per UTC day: codes issued and used, failed verifications, uploads and
    keys; and what is stored now. Nothing about any person."""
    when = now_or(now)
    with database(db) as sessions, session_scope(sessions) as session:
        report = keyserver.stats(session, now=when, days=days)
        rows = [
            (
                d.day.isoformat(),
                (d.codes_issued, d.codes_used, d.verify_failures, d.uploads, d.keys_published),
            )
            for d in report.days
        ]
    table = Table(title=f"exposure key server, last {days} day(s) (UTC)")
    table.add_column("day")
    for column in ("codes issued", "codes used", "failed verifications", "uploads", "keys"):
        table.add_column(column, justify="right")
    for day, counts in rows:
        table.add_row(day, *(str(v) for v in counts))
    if rows:
        table.add_section()
        totals = [sum(column) for column in zip(*(counts for _, counts in rows), strict=True)]
        table.add_row("total", *(str(t) for t in totals))
    console = Console(width=120)
    console.print(table)
    console.print(
        f"stored now: {report.keys_stored} keys (+{report.padding_stored} padding), "
        f"{report.files_stored} export files, {report.live_codes} unused live codes, "
        f"{report.live_tokens} live upload tokens"
    )


app.add_typer(venue_app, name="venues")
app.add_typer(warnings_app, name="venue-warnings")
