"""Console page of capacity planning: the `epicity screening plan` search from a form.

GET /console/screening/plan shows the form; with ``run=1`` it runs the search
(`epicity.screening.planning.plan`) and shows the configurations tried, the chosen one, and
two Plotly figures built here (queue and lab backlog over the day, turnaround by hour of
arrival), drawn by the Plotly script the service serves itself. Inputs arrive as text and are
checked here; a bad one re-renders the form with a message naming the field (status 400).
The search is deterministic, so answers are kept for the last few inputs.
"""

from __future__ import annotations

import functools
import math
from typing import Annotated, Any

import plotly.graph_objects as go
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from epicity.accounts.permissions import Capability
from epicity.screening.planning import DayResult, PlanningError, PlanResult, Scenario, plan
from epicity.screening.pooling import capacity_gain, optimal_pool_size
from epicity.web.deps import Caller, need
from epicity.web.pages import render

__all__ = ["queue_figure", "router", "turnaround_figure"]

router = APIRouter(include_in_schema=False)

RunScreening = Annotated[Caller, Depends(need(Capability.RUN_SCREENING))]
Text = Annotated[str, Query(max_length=32)]

# A page answers within a request: at most this many tests (the CLI goes further).
WEB_MAX_TESTS = 50_000
DEFAULTS = {
    "tests": "15000",
    "target_share": "0.95",
    "hours": "6",
    "prevalence": "0.01",
    "pooling": "on",
    "seed": "0",
}


def _hour(minute: float) -> float:
    return minute / 60.0


def queue_figure(day: DayResult) -> go.Figure:
    """People waiting at the centres and samples at the lab, over the day (hours)."""
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=[_hour(t) for t, _ in day.queue],
            y=[q for _, q in day.queue],
            mode="lines",
            name="people waiting at centres",
            line={"color": "#0072B2"},
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[_hour(t) for t, _ in day.backlog],
            y=[b for _, b in day.backlog],
            mode="lines",
            name="samples at the lab",
            line={"color": "#D55E00", "shape": "hv"},
        )
    )
    fig.update_layout(
        height=360,
        margin={"l": 60, "r": 20, "t": 30, "b": 50},
        legend={"orientation": "h", "y": 1.12, "x": 0},
        xaxis={"title": "hour of the day"},
        yaxis={"title": "count", "rangemode": "tozero"},
        plot_bgcolor="#ffffff",
    )
    return fig


def turnaround_figure(day: DayResult, target_hours: float) -> go.Figure:
    """Median and 95th percentile of turnaround by hour of arrival, with the target."""
    stats = [h for h in day.by_hour if h.arrivals]
    x = [h.hour + 0.5 for h in stats]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=x,
            y=[h.median / 60 for h in stats],
            mode="lines+markers",
            name="median",
            line={"color": "#0072B2"},
            hovertext=[
                f"{h.arrivals} arrivals, {h.share_within_target:.1%} in time" for h in stats
            ],
        )
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=[h.p95 / 60 for h in stats],
            mode="lines+markers",
            name="95th percentile",
            line={"color": "#E69F00", "dash": "dash"},
        )
    )
    if x:
        fig.add_trace(
            go.Scatter(
                x=[min(x) - 0.5, max(x) + 0.5],
                y=[target_hours, target_hours],
                mode="lines",
                name="target",
                line={"color": "#D55E00"},
            )
        )
    fig.update_layout(
        height=360,
        margin={"l": 60, "r": 20, "t": 30, "b": 50},
        legend={"orientation": "h", "y": 1.12, "x": 0},
        xaxis={"title": "hour of arrival"},
        yaxis={"title": "hours from arrival to result", "rangemode": "tozero"},
        plot_bgcolor="#ffffff",
    )
    return fig


def _figure_json(fig: go.Figure) -> str:
    """The figure as JSON safe inside a <script> element (no '<', '>' or '&')."""
    text: str = fig.to_json()
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _parse(form: dict[str, str]) -> tuple[Scenario, float, bool, int]:
    """The form's text as checked numbers; `PlanningError` naming the first bad field."""

    def number(name: str) -> float:
        try:
            value = float(form[name])
        except ValueError:
            raise PlanningError(f"{name} must be a number, got {form[name]!r}") from None
        if not math.isfinite(value):
            raise PlanningError(f"{name} must be a finite number, got {form[name]!r}")
        return value

    def whole(name: str, lo: int, hi: int) -> int:
        text = form[name]
        if not text.isdigit() or not lo <= int(text) <= hi:
            raise PlanningError(f"{name} must be a whole number from {lo} to {hi:,}, got {text!r}")
        return int(text)

    tests = whole("tests", 1, WEB_MAX_TESTS)
    target_share = number("target_share")
    if not 0 < target_share <= 1:
        raise PlanningError(f"target_share must be in (0, 1], got {form['target_share']!r}")
    hours = number("hours")
    if not 0 < hours <= 72:
        raise PlanningError(f"hours must be in (0, 72], got {form['hours']!r}")
    prevalence = number("prevalence")
    if not 0 <= prevalence <= 1:
        raise PlanningError(f"prevalence must be in [0, 1], got {form['prevalence']!r}")
    if form["pooling"] not in ("on", "off"):
        raise PlanningError(f"pooling must be 'on' or 'off', got {form['pooling']!r}")
    seed = whole("seed", 0, 2**31 - 1)
    scenario = Scenario(tests=tests, prevalence=prevalence, target_hours=hours)
    return scenario, target_share, form["pooling"] == "on", seed


@functools.lru_cache(maxsize=8)
def _plan(scenario: Scenario, target_share: float, pooling: bool, seed: int) -> PlanResult:
    return plan(
        scenario,
        target_share=target_share,
        seed=seed,
        pooling_options=(False, True) if pooling else (False,),
    )


def _context(result: PlanResult) -> dict[str, Any]:
    scenario = result.scenario
    trials = sorted(
        result.trials,
        key=lambda t: (not t.feasible, t.cost, t.config.lanes, t.config.machines),
    )
    k = optimal_pool_size(scenario.prevalence, scenario.max_pool_size)
    context: dict[str, Any] = {
        "result": result,
        "trials": trials,
        "pool_size": k,
        "gain": capacity_gain(scenario.prevalence, k),
    }
    if result.day is not None:
        context["queue_json"] = _figure_json(queue_figure(result.day))
        context["turnaround_json"] = _figure_json(
            turnaround_figure(result.day, scenario.target_hours)
        )
    return context


@router.get("/console/screening/plan", response_class=HTMLResponse)
def plan_page(
    request: Request,
    caller: RunScreening,
    tests: Text = DEFAULTS["tests"],
    target_share: Text = DEFAULTS["target_share"],
    hours: Text = DEFAULTS["hours"],
    prevalence: Text = DEFAULTS["prevalence"],
    pooling: Text = DEFAULTS["pooling"],
    seed: Text = DEFAULTS["seed"],
    run: Annotated[str, Query(max_length=1)] = "",
) -> Response:
    """Capacity planning: the cheapest configuration that meets the turnaround target."""
    del caller
    form = {
        "tests": tests.strip(),
        "target_share": target_share.strip(),
        "hours": hours.strip(),
        "prevalence": prevalence.strip(),
        "pooling": pooling.strip(),
        "seed": seed.strip(),
    }
    context: dict[str, Any] = {"form": form, "error": None, "result": None}
    try:
        scenario, share, pool, rng_seed = _parse(form)
        if run:
            context.update(_context(_plan(scenario, share, pool, rng_seed)))
    except PlanningError as err:
        context["error"] = str(err)
    return render(request, "screening_plan.html", context, status=400 if context["error"] else 200)
