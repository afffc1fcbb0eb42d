"""Console page of the reproduction number, for the city or one district.

GET /console/analytics/rt reads the database's cases (`epicity.analytics.data.cases_frame`),
counts them per day of confirmation (`daily_incidence`, the whole city or the chosen
``district``), and estimates Rt over sliding windows by the Cori method
(`epicity.analytics.rt.estimate_rt`) with the serial interval given in the form, or by
default Nishiura et al.'s (2020) COVID-19 estimate: mean 4.7 days, sd 2.9 days
(Int J Infect Dis 93:284-286; discretised as EpiEstim's shifted gamma). Two Plotly charts:
the daily cases, and Rt's posterior mean with its 95% band by the window's last day; the last
windows in a table. Only daily counts and estimates leave this module. A bad form value
re-renders the form with a message naming the field (400); too few days, 422.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

import pandas as pd
import plotly.graph_objects as go
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from epicity.accounts.permissions import Capability
from epicity.analytics.data import confirmed_cases, daily_incidence
from epicity.analytics.errors import AnalyticsError, NotEnoughData
from epicity.analytics.rt import discretised_gamma_si, estimate_rt
from epicity.web.deps import Caller, DbSession, need
from epicity.web.pages import render

__all__ = ["DEFAULT_SI_MEAN", "DEFAULT_SI_SD", "incidence_figure", "router", "rt_figure"]

router = APIRouter(include_in_schema=False)

Analyst = Annotated[Caller, Depends(need(Capability.READ_AGGREGATES))]
Text = Annotated[str, Query(max_length=64)]

# Nishiura H, Linton NM, Akhmetzhanov AR (2020). Serial interval of novel coronavirus
# (COVID-19) infections. Int J Infect Dis 93:284-286: mean 4.7 days, sd 2.9 days.
DEFAULT_SI_MEAN = 4.7
DEFAULT_SI_SD = 2.9
# Windows shown in the table (the chart has them all).
TABLE_ROWS = 14


def _layout(fig: go.Figure, title: str, ytitle: str) -> go.Figure:
    fig.update_layout(
        title=title,
        height=340,
        margin={"l": 60, "r": 20, "t": 50, "b": 40},
        legend={"orientation": "h", "y": -0.18, "x": 0},
        yaxis={"title": ytitle, "rangemode": "tozero"},
        plot_bgcolor="#ffffff",
    )
    return fig


def incidence_figure(incidence: pd.DataFrame, title: str) -> go.Figure:
    """Daily confirmed cases as bars."""
    fig = go.Figure(
        go.Bar(
            x=[d.date().isoformat() for d in incidence["date"]],
            y=incidence["cases"].tolist(),
            name="confirmed cases",
            marker={"color": "#999999"},
        )
    )
    return _layout(fig, title, "confirmed cases per day")


def rt_figure(result: pd.DataFrame) -> go.Figure:
    """Rt's posterior mean and 95% band by each window's last day, with the line R = 1."""
    shown = result.dropna(subset=["mean"])
    x = [d.date().isoformat() for d in shown["date_end"]]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=x + x[::-1],
            y=shown["q0.975"].tolist() + shown["q0.025"].tolist()[::-1],
            fill="toself",
            fillcolor="rgba(0,114,178,0.22)",
            line={"width": 0},
            hoverinfo="skip",
            name="95% interval",
        )
    )
    fig.add_trace(
        go.Scatter(x=x, y=shown["mean"].tolist(), mode="lines", name="Rt (posterior mean)",
                   line={"color": "#0072B2"})
    )  # fmt: skip
    if x:
        fig.add_trace(
            go.Scatter(x=[x[0], x[-1]], y=[1, 1], mode="lines", name="R = 1",
                       line={"color": "#000000", "dash": "dash", "width": 1})
        )  # fmt: skip
    return _layout(fig, "Reproduction number (window ending that day)", "Rt")


def _figure_json(fig: go.Figure) -> str:
    """The figure as JSON safe inside a <script> element (no '<', '>' or '&')."""
    text: str = fig.to_json()
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _number(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise AnalyticsError(f"{name} must be a number of days, got {text!r}") from None
    if not math.isfinite(value):
        raise AnalyticsError(f"{name} must be a finite number, got {text!r}")
    return value


@router.get("/console/analytics/rt", response_class=HTMLResponse)
def rt_page(
    request: Request,
    session: DbSession,
    caller: Analyst,
    district: Text = "",
    si_mean: Text = str(DEFAULT_SI_MEAN),
    si_sd: Text = str(DEFAULT_SI_SD),
    window: Text = "7",
) -> Response:
    """Rt by the Cori method for the city or one district, from the confirmed cases."""
    del caller
    district, si_mean, si_sd, window = (
        district.strip(),
        si_mean.strip(),
        si_sd.strip(),
        window.strip(),
    )
    context: dict[str, Any] = {
        "form": {"district": district, "si_mean": si_mean, "si_sd": si_sd, "window": window},
        "defaults": {"si_mean": DEFAULT_SI_MEAN, "si_sd": DEFAULT_SI_SD},
        "districts": [],
        "error": None,
        "empty": None,
        "result": None,
    }
    cases, context["districts"] = confirmed_cases(session)
    status = 200
    try:
        mean = _number("si_mean", si_mean)
        sd = _number("si_sd", si_sd)
        if not window.isdigit() or not 1 <= int(window) <= 28:
            raise AnalyticsError(
                f"window must be a whole number of days from 1 to 28, got {window!r}"
            )
        si = discretised_gamma_si(mean, sd)
        if district and district not in context["districts"]:
            raise AnalyticsError(f"district: no confirmed cases in {district!r} (unknown district)")
        if cases.empty:
            raise NotEnoughData("no confirmed cases yet")
        start, end = cases["confirmed_date"].min(), cases["confirmed_date"].max()
        if district:
            cases = cases[cases["district"] == district]
        incidence = daily_incidence(cases, start=start, end=end)
        result = estimate_rt(incidence, si, window=int(window))
        where = district or "The city"
        table = result.dropna(subset=["mean"]).tail(TABLE_ROWS)
        context["result"] = {
            "where": where,
            "first_day": start.date().isoformat(),
            "last_day": end.date().isoformat(),
            "total": int(incidence["cases"].sum()),
            "rows": [
                {
                    "start": r["date_start"].date().isoformat(),
                    "end": r["date_end"].date().isoformat(),
                    "mean": r["mean"],
                    "lo": r["q0.025"],
                    "median": r["q0.5"],
                    "hi": r["q0.975"],
                }
                for r in table.to_dict("records")
            ],
            "incidence": _figure_json(
                incidence_figure(incidence, f"{where}: confirmed cases per day")
            ),
            "rt": _figure_json(rt_figure(result)),
        }
    except NotEnoughData as err:
        context["empty"] = str(err)
        status = 422
    except AnalyticsError as err:
        context["error"] = str(err)
        status = 400
    return render(request, "analytics_rt.html", context, status=status)
