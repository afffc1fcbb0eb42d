"""Console page of scenarios: what a faster warning, wider tracing and more tests buy.

GET /console/analytics/scenarios shows a form; with ``run=1`` it simulates a small synthetic
city (`epicity.analytics.scenario.simulate`) under the chosen response and under today's
model, with the same seed, and shows their outcomes side by side and Plotly curves (served by
the app itself). The city is capped at `WEB_MAX_PEOPLE` people and `WEB_MAX_DAYS` days so the
page answers within a few seconds; the CLI and `bench/scenarios.py` run larger cities and
several seeds. Inputs arrive as text and are checked here; a bad one re-renders the form with a
message naming the field (400). A run is deterministic, so answers are kept per input.
Only daily aggregate counts are shown.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any

import pandas as pd
import plotly.graph_objects as go
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from epicity.accounts.permissions import Capability
from epicity.analytics import scenario
from epicity.analytics.errors import AnalyticsError
from epicity.analytics.scenario_cli import parse_reach, parse_tests
from epicity.city.outbreak import Response as OutbreakResponse
from epicity.web.deps import Caller, need
from epicity.web.pages import render

__all__ = ["WEB_MAX_DAYS", "WEB_MAX_PEOPLE", "curve_figure", "router"]

router = APIRouter(include_in_schema=False)

Analyst = Annotated[Caller, Depends(need(Capability.READ_AGGREGATES))]
Text = Annotated[str, Query(max_length=32)]

# Two runs of this size take about 2 s on the test machine.
WEB_MAX_PEOPLE = 10_000
WEB_MAX_DAYS = 60
DEFAULTS = {
    "warning_delay": "10m",
    "reach": "0.8",
    "tests_per_day": "unlimited",
    "people": "5000",
    "days": "45",
    "seed": "1",
}
COLOURS = {"today": "#000000", "chosen": "#0072B2"}


def curve_figure(runs: dict[str, pd.DataFrame], column: str, title: str, y_title: str) -> go.Figure:
    """One line per run (name -> `simulate`'s daily frame) of a daily count."""
    fig = go.Figure()
    for i, (name, daily) in enumerate(runs.items()):
        fig.add_trace(
            go.Scatter(
                x=daily["day"].tolist(),
                y=daily[column].tolist(),
                mode="lines",
                name=name,
                line={"color": list(COLOURS.values())[i % len(COLOURS)], "dash": "solid"},
            )
        )
    fig.update_layout(
        title=title,
        height=320,
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
        legend={"orientation": "h", "y": -0.25, "x": 0},
        xaxis={"title": "day"},
        yaxis={"title": y_title, "rangemode": "tozero"},
        plot_bgcolor="#ffffff",
    )
    return fig


def _figure_json(fig: go.Figure) -> str:
    """The figure as JSON safe inside a <script> element (no '<', '>' or '&')."""
    text: str = fig.to_json()
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _whole(form: dict[str, str], name: str, lo: int, hi: int) -> int:
    text = form[name].replace(",", "")
    if not text.isdigit() or not lo <= int(text) <= hi:
        raise AnalyticsError(
            f"{name}: must be a whole number from {lo:,} to {hi:,}, got {form[name]!r}"
        )
    return int(text)


def _parse(form: dict[str, str]) -> tuple[OutbreakResponse, int, int, int]:
    """The form's text as a checked response and city; AnalyticsError naming the field."""
    delay = scenario.parse_delay(form["warning_delay"])
    reach = parse_reach(form["reach"])
    tests = parse_tests(form["tests_per_day"])
    if tests is not None and tests > 1_000_000:
        raise AnalyticsError(f"tests_per_day: at most 1,000,000, got {form['tests_per_day']!r}")
    people = _whole(form, "people", scenario.MIN_PEOPLE, WEB_MAX_PEOPLE)
    days = _whole(form, "days", 1, WEB_MAX_DAYS)
    seed = _whole(form, "seed", 0, 2**31 - 1)
    response = OutbreakResponse(warning_delay=delay, reach=reach, tests_per_day=tests)
    try:
        response.validate()
    except ValueError as err:
        raise AnalyticsError(str(err)) from None
    return response, people, days, seed


@functools.lru_cache(maxsize=16)
def _runs(
    response: OutbreakResponse, people: int, days: int, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Today's model and the chosen response on the same city and seed (kept per input)."""
    today = scenario.simulate(OutbreakResponse(), people=people, days=days, seed=seed)
    chosen = (
        today
        if response.is_default
        else scenario.simulate(response, people=people, days=days, seed=seed)
    )
    return today, chosen


def _outcomes(daily: pd.DataFrame) -> dict[str, int]:
    return {
        "infections": int(daily["cumulative_infections"].iloc[-1]),
        "confirmed": int(daily["cumulative_confirmed"].iloc[-1]),
        "peak_isolated": int(daily["in_isolation"].max()),
        "peak_quarantined": int(daily["in_quarantine"].max()),
        "quarantine_person_days": int(daily["quarantine_person_days"].iloc[-1]),
        "tests": int(daily["tests"].sum()),
        "peak_waiting": int(daily["waiting_for_test"].max()),
    }


def _context(response: OutbreakResponse, people: int, days: int, seed: int) -> dict[str, Any]:
    today, chosen = _runs(response, people, days, seed)
    name = scenario.setting_name(response)
    runs = {"today's model": today, name: chosen}
    figures = {
        "infections": curve_figure(runs, "new_infections", "New infections per day", "people"),
        "cumulative": curve_figure(
            runs, "cumulative_infections", "Infections so far (seeds included)", "people"
        ),
        "isolation": curve_figure(runs, "in_isolation", "Confirmed cases in isolation", "people"),
        "quarantine": curve_figure(runs, "in_quarantine", "Contacts in quarantine", "people"),
    }
    return {
        "setting": name,
        "outcomes": {"today": _outcomes(today), "chosen": _outcomes(chosen)},
        "figures": {key: _figure_json(fig) for key, fig in figures.items()},
        "city": {"people": people, "days": days, "seed": seed},
    }


@router.get("/console/analytics/scenarios", response_class=HTMLResponse)
def scenarios_page(
    request: Request,
    caller: Analyst,
    warning_delay: Text = DEFAULTS["warning_delay"],
    reach: Text = DEFAULTS["reach"],
    tests_per_day: Text = DEFAULTS["tests_per_day"],
    people: Text = DEFAULTS["people"],
    days: Text = DEFAULTS["days"],
    seed: Text = DEFAULTS["seed"],
    run: Annotated[str, Query(max_length=1)] = "",
) -> Response:
    """Scenarios: the chosen response against today's on a small synthetic city."""
    del caller
    form = {
        "warning_delay": warning_delay.strip(),
        "reach": reach.strip(),
        "tests_per_day": tests_per_day.strip(),
        "people": people.strip(),
        "days": days.strip(),
        "seed": seed.strip(),
    }
    context: dict[str, Any] = {
        "form": form,
        "error": None,
        "result": None,
        "max_people": WEB_MAX_PEOPLE,
        "max_days": WEB_MAX_DAYS,
    }
    try:
        parsed = _parse(form)
        if run:
            context["result"] = _context(*parsed)
    except AnalyticsError as err:
        context["error"] = str(err)
    return render(
        request, "analytics_scenarios.html", context, status=400 if context["error"] else 200
    )
