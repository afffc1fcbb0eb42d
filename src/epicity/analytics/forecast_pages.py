"""Console page of forecasts: daily confirmed cases 1-14 days ahead, for the city or a district.

GET /console/analytics/forecast reads the database's cases
(`epicity.analytics.data.cases_frame`), counts them per day of confirmation
(`daily_incidence`, for the whole city or the chosen ``district``), runs
`epicity.analytics.forecast.forecast` and draws a Plotly fan chart (the last weeks observed,
the median with 50% and 95% intervals, and the Forecast Hub baseline's 95% bounds), with
the quantiles in a table. Only daily counts leave this module. A bad district, horizon or
method re-renders the form with the message (400); a series too short for the model, 422.
"""

from __future__ import annotations

from typing import Annotated, Any

import pandas as pd
import plotly.graph_objects as go
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from epicity.accounts.permissions import Capability
from epicity.analytics.data import confirmed_cases, daily_incidence
from epicity.analytics.errors import AnalyticsError, NotEnoughData
from epicity.analytics.forecast import MIN_DAYS, Method, baseline_forecast, forecast
from epicity.web.deps import Caller, DbSession, need
from epicity.web.pages import render

__all__ = ["fan_figure", "router"]

router = APIRouter(include_in_schema=False)

Analyst = Annotated[Caller, Depends(need(Capability.READ_AGGREGATES))]
Text = Annotated[str, Query(max_length=64)]
METHODS: tuple[Method, ...] = ("ensemble", "renewal")
# Days of history drawn before the forecast.
SHOWN_DAYS = 56


def _wide(fc: pd.DataFrame) -> pd.DataFrame:
    return fc.pivot(index="target_end_date", columns="quantile", values="value")


def fan_figure(
    incidence: pd.DataFrame, fc: pd.DataFrame, base: pd.DataFrame | None, title: str
) -> go.Figure:
    """Observed daily cases, the forecast's median and 50%/95% bands, the baseline's 95%."""
    hist = incidence[incidence["date"] > incidence["date"].max() - pd.Timedelta(days=SHOWN_DAYS)]
    wide = _wide(fc)
    x = [d.date().isoformat() for d in wide.index]
    back = x[::-1]
    fig = go.Figure()
    for lo, hi, name, colour in (
        (0.025, 0.975, "95% interval", "rgba(0,114,178,0.18)"),
        (0.25, 0.75, "50% interval", "rgba(0,114,178,0.38)"),
    ):
        fig.add_trace(
            go.Scatter(
                x=x + back,
                y=wide[hi].tolist() + wide[lo].tolist()[::-1],
                fill="toself",
                fillcolor=colour,
                line={"width": 0},
                hoverinfo="skip",
                name=name,
            )
        )
    fig.add_trace(
        go.Scatter(x=x, y=wide[0.5].tolist(), mode="lines", name="median",
                   line={"color": "#0072B2"})
    )  # fmt: skip
    if base is not None:
        bwide = _wide(base)
        for q, shown in ((0.975, True), (0.025, False)):
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=bwide[q].tolist(),
                    mode="lines",
                    name="baseline 95%",
                    showlegend=shown,
                    line={"color": "#E69F00", "dash": "dot", "width": 1},
                )
            )
    fig.add_trace(
        go.Scatter(
            x=[d.date().isoformat() for d in hist["date"]],
            y=hist["cases"].tolist(),
            mode="lines+markers",
            name="observed",
            line={"color": "#000000", "width": 1},
            marker={"size": 4},
        )
    )
    fig.update_layout(
        title=title,
        height=420,
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
        legend={"orientation": "h", "y": -0.15, "x": 0},
        yaxis={"title": "confirmed cases per day", "rangemode": "tozero"},
        plot_bgcolor="#ffffff",
    )
    return fig


def _figure_json(fig: go.Figure) -> str:
    """The figure as JSON safe inside a <script> element (no '<', '>' or '&')."""
    text: str = fig.to_json()
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _rows(fc: pd.DataFrame) -> list[dict[str, Any]]:
    wide = _wide(fc)
    return [
        {
            "date": day.date().isoformat(),
            "horizon": h,
            "q025": row[0.025],
            "q25": row[0.25],
            "median": row[0.5],
            "q75": row[0.75],
            "q975": row[0.975],
        }
        for h, (day, row) in enumerate(wide.iterrows(), start=1)
    ]


@router.get("/console/analytics/forecast", response_class=HTMLResponse)
def forecast_page(
    request: Request,
    session: DbSession,
    caller: Analyst,
    district: Text = "",
    horizon: Text = "14",
    method: Text = "ensemble",
) -> Response:
    """Forecast of daily confirmed cases for the city or one district."""
    del caller
    district, horizon, method = district.strip(), horizon.strip(), method.strip()
    context: dict[str, Any] = {
        "form": {"district": district, "horizon": horizon, "method": method},
        "methods": METHODS,
        "districts": [],
        "min_days": MIN_DAYS,
        "error": None,
        "empty": None,
        "result": None,
    }
    cases, context["districts"] = confirmed_cases(session)
    status = 200
    try:
        if not horizon.isdigit() or not 1 <= int(horizon) <= 28:
            raise AnalyticsError(
                f"horizon must be a whole number of days from 1 to 28, got {horizon!r}"
            )
        if method not in METHODS:
            raise AnalyticsError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
        if district and district not in context["districts"]:
            raise AnalyticsError(f"district: no confirmed cases in {district!r} (unknown district)")
        if cases.empty:
            raise NotEnoughData("no confirmed cases yet")
        end = cases["confirmed_date"].max()
        start = cases["confirmed_date"].min()
        if district:
            cases = cases[cases["district"] == district]
        incidence = daily_incidence(cases, start=start, end=end)
        chosen: Method = "renewal" if method == "renewal" else "ensemble"
        fc = forecast(incidence, horizon=int(horizon), method=chosen)
        base = baseline_forecast(incidence, horizon=int(horizon))
        title = f"{district or 'The city'}: confirmed cases per day, forecast from {end.date()}"
        context["result"] = {
            "title": title,
            "last_day": end.date().isoformat(),
            "days": len(incidence),
            "total": int(incidence["cases"].sum()),
            "rows": _rows(fc),
            "figure": _figure_json(fan_figure(incidence, fc, base, title)),
        }
    except NotEnoughData as err:
        context["empty"] = str(err)
        status = 422
    except AnalyticsError as err:
        context["error"] = str(err)
        status = 400
    return render(request, "analytics_forecast.html", context, status=status)
