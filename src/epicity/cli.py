"""The `epicity` command line: a thin layer that parses arguments and calls domain services."""

from __future__ import annotations

import typer

from epicity import __version__
from epicity.accounts.cli import app as users_app
from epicity.analytics.cli import app as analytics_app
from epicity.cac.cli import app as cac_app
from epicity.cases.cli import import_app
from epicity.city.cli import app as city_app
from epicity.delivery.cli import app as deliver_app
from epicity.demo import demo
from epicity.ds4c.cli import app as ds4c_app
from epicity.exposure.cli import app as exposure_app
from epicity.isolation.cli import app as isolation_app
from epicity.notices.cli import app as notices_app
from epicity.opendata.cli import publish
from epicity.privacy.cli import audit_app, emergency_app
from epicity.records.cli import ingest
from epicity.relief.cli import app as relief_app
from epicity.screening.cli import app as screening_app
from epicity.tracing.cli import app as trace_app
from epicity.web.cli import serve

app = typer.Typer(
    name="epicity",
    help="Epidemic response for a city: synthetic city, location records, investigation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(city_app, name="city")
app.add_typer(cac_app, name="cac")
app.add_typer(ds4c_app, name="ds4c")
app.add_typer(emergency_app, name="emergency")
app.add_typer(audit_app, name="audit")
app.add_typer(trace_app, name="trace")
app.add_typer(import_app, name="import")
app.add_typer(users_app, name="users")
app.add_typer(deliver_app, name="deliver")
app.add_typer(isolation_app, name="isolation")
app.add_typer(relief_app, name="relief")
app.add_typer(screening_app, name="screening")
app.add_typer(analytics_app, name="analytics")
app.add_typer(notices_app, name="notices")
app.add_typer(exposure_app, name="exposure")
app.command("ingest")(ingest)
app.command("demo")(demo)
app.command("serve")(serve)
app.command("publish")(publish)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print the version and exit.",
    ),
) -> None:
    """Epidemic response for a city."""


def main() -> None:
    """Entry point of the console script."""
    app()
