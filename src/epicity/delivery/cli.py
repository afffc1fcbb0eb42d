"""`epicity deliver ...`: send what is due in the outbox, show its state, import addresses.

Channels come from the environment (``EPICITY_SMTP_*``, ``EPICITY_WEBHOOK_*``, see
`epicity.delivery.settings`); bad settings or input print a message on stderr and exit 2.
Output holds counts only, never addresses.
"""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from epicity.cliutil import DB_OPTION, database, fail
from epicity.db import utcnow
from epicity.delivery.directory import ContactsImportError, load_contacts_file
from epicity.delivery.service import Channels, DeliveryReport, deliver_due, status_counts
from epicity.delivery.settings import DeliveryConfigError, DeliverySettings

__all__ = ["app"]

app = typer.Typer(
    help="Deliver the warnings outbox by email and webhook; import recipients' addresses.",
    no_args_is_help=True,
)


def _summary(report: DeliveryReport, title: str) -> Table:
    table = Table(title=title)
    for column, justify in (("outcome", "left"), ("channel", "left"), ("messages", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for outcome, channel, n in report.rows():
        table.add_row(outcome, channel, f"{n:,}")
    if not report.rows():
        table.caption = "nothing was due"
    return table


def _merge(total: DeliveryReport, part: DeliveryReport) -> None:
    total.sent.update(part.sent)
    total.retrying.update(part.retrying)
    total.failed.update(part.failed)
    total.undeliverable += part.undeliverable
    total.expired += part.expired
    total.held += part.held
    total.lost += part.lost


@app.command("run")
def run(
    loop: bool = typer.Option(False, "--loop", help="Keep delivering until interrupted."),
    interval: float = typer.Option(
        30.0, "--interval", min=0.0, help="Seconds between rounds with --loop."
    ),
    rounds: int | None = typer.Option(
        None, "--rounds", min=1, help="With --loop: stop after this many rounds."
    ),
    batch: int = typer.Option(20, "--batch", min=1, help="Messages claimed at a time."),
    db: str | None = DB_OPTION,
) -> None:
    """Deliver every outbox message that is due (once, or in a loop), then print a summary."""
    try:
        settings = DeliverySettings.from_env()
    except DeliveryConfigError as exc:
        raise fail(str(exc)) from None
    channels = Channels.from_settings(settings)
    if channels.email is None and channels.webhook is None:
        raise fail("no channel configured: set EPICITY_SMTP_HOST and/or EPICITY_WEBHOOK_URL")
    console = Console()
    total = DeliveryReport()
    done = 0
    with database(db) as sessions:
        try:
            while True:
                report = deliver_due(
                    sessions, channels, utcnow(), policy=settings.retry, batch=batch
                )
                _merge(total, report)
                done += 1
                if not loop or (rounds is not None and done >= rounds):
                    break
                if report.rows():
                    console.print(_summary(report, f"round {done}"))
                time.sleep(interval)
        except KeyboardInterrupt:
            console.print("interrupted")
    title = "delivery" if not loop else f"delivery, {done} round(s)"
    console.print(_summary(total, title))


@app.command("status")
def status(db: str | None = DB_OPTION) -> None:
    """Count outbox messages by status and channel."""
    with database(db) as sessions, sessions() as session:
        counts = status_counts(session)
    table = Table(title="outbox")
    for column, justify in (("status", "left"), ("channel", "left"), ("messages", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for state, channel, n in counts:
        table.add_row(state, channel, f"{n:,}")
    if not counts:
        table.caption = "the outbox is empty"
    Console().print(table)


@app.command("contacts")
def contacts(
    file: Path = typer.Argument(
        ..., exists=True, dir_okay=False, readable=True, help="CSV: person_id,email,phone."
    ),
    db: str | None = DB_OPTION,
) -> None:
    """Import people's addresses (validated whole, applied atomically; idempotent)."""
    with database(db) as sessions:
        try:
            result = load_contacts_file(sessions, file)
        except ContactsImportError as exc:
            raise fail(str(exc)) from None
    typer.echo(
        f"contacts: {result.inserted:,} added, {result.updated:,} updated, "
        f"{result.unchanged:,} unchanged"
    )
