"""`epicity analytics`: reproduction number, forecasts, hotspots, risk groups, scenarios.

Each command lives beside its method (`rt_cli`, `forecast_cli`, ...) and is registered here.
Every command writes CSV (and PNG where it draws), and exits 2 with a message naming the
field on bad input.
"""

from __future__ import annotations

import typer

from epicity.analytics.forecast_cli import forecast_command
from epicity.analytics.risk_cli import risk_command
from epicity.analytics.rt_cli import rt_command, serial_command
from epicity.analytics.scan_cli import hotspots_command
from epicity.analytics.scenario_cli import scenario_command

__all__ = ["app"]

app = typer.Typer(
    help="Outbreak analytics: Rt, forecasts, hotspots, high-risk groups and scenarios.",
    no_args_is_help=True,
)
app.command("risk")(risk_command)
app.command("rt")(rt_command)
app.command("serial")(serial_command)
app.command("hotspots")(hotspots_command)
app.command("forecast")(forecast_command)
app.command("scenario")(scenario_command)
