"""Console page of high-risk groups: attack rates of the database's confirmed cases by age band
and by district, with confidence intervals, for analysts.

GET /console/analytics/risk reads the cases (`epicity.analytics.data.cases_frame`), computes
`epicity.analytics.risk.case_attack_rates` and draws two Plotly bar charts with CI error bars
(served by the app itself). Only aggregates leave this module: counts and rates by group.
Groups with fewer than `risk.SMALL_COUNT` cases are flagged as unreliable. A bad ``method``
re-renders the page with the message (400).
"""

from __future__ import annotations

from typing import Annotated, Any

import pandas as pd
import plotly.graph_objects as go
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from epicity.accounts.permissions import Capability
from epicity.analytics import risk
from epicity.analytics.data import cases_frame
from epicity.analytics.errors import AnalyticsError, NotEnoughData
from epicity.web.deps import Caller, DbSession, need
from epicity.web.pages import render

__all__ = ["rate_figure", "router"]

router = APIRouter(include_in_schema=False)

Analyst = Annotated[Caller, Depends(need(Capability.READ_AGGREGATES))]
PER = 100_000


def rate_figure(table: pd.DataFrame, title: str) -> go.Figure:
    """Cases per 100,000 by group as bars with their CI as error bars; small groups paler."""
    rate = table["rate"] * PER
    fig = go.Figure(
        go.Bar(
            x=table["group"].astype(str).tolist(),
            y=rate.tolist(),
            error_y={
                "type": "data",
                "symmetric": False,
                "array": (table["ci_high"] * PER - rate).tolist(),
                "arrayminus": (rate - table["ci_low"] * PER).tolist(),
            },
            marker={"color": ["#9ecae1" if s else "#0072B2" for s in table["small"]]},
            customdata=table[["numerator", "denominator"]].to_numpy().tolist(),
            hovertemplate="%{x}: %{y:.1f} per 100,000 (%{customdata[0]} cases of "
            "%{customdata[1]:,})<extra></extra>",
            name="cases per 100,000",
        )
    )
    fig.update_layout(
        title=title,
        height=380,
        margin={"l": 60, "r": 20, "t": 50, "b": 90},
        yaxis={"title": "confirmed cases per 100,000 (95% CI)", "rangemode": "tozero"},
        plot_bgcolor="#ffffff",
    )
    return fig


def _figure_json(fig: go.Figure) -> str:
    """The figure as JSON safe inside a <script> element (no '<', '>' or '&')."""
    text: str = fig.to_json()
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _rows(table: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {
            "group": r.group,
            "cases": int(r.numerator),
            "population": int(r.denominator),
            "rate": r.rate * PER,
            "low": r.ci_low * PER,
            "high": r.ci_high * PER,
            "rr": r.rr,
            "rr_low": r.rr_low,
            "rr_high": r.rr_high,
            "reference": bool(r.reference),
            "small": bool(r.small),
        }
        for r in table.itertuples()
    ]


@router.get("/console/analytics/risk", response_class=HTMLResponse)
def risk_page(
    request: Request,
    session: DbSession,
    caller: Analyst,
    method: Annotated[str, Query(max_length=20)] = "wilson",
) -> Response:
    """Attack rates of the confirmed cases by age band and by district."""
    del caller
    context: dict[str, Any] = {
        "method": method,
        "methods": risk.METHODS,
        "small_count": risk.SMALL_COUNT,
        "error": None,
        "empty": None,
        "tables": [],
    }
    if method not in risk.METHODS:
        context["error"] = f"method must be one of {', '.join(risk.METHODS)}, got {method!r}"
        return render(request, "analytics_risk.html", context, status=400)
    cases = cases_frame(session)
    try:
        for by, title in (("age_group", "By age band"), ("district", "By district")):
            table = risk.case_attack_rates(cases, by=by, method=method)  # type: ignore[arg-type]
            context["tables"].append(
                {
                    "id": by.replace("_", "-"),
                    "title": title,
                    "rows": _rows(table),
                    "excluded": table.attrs["excluded"],
                    "denominator": table.attrs["denominator"],
                    "figure": _figure_json(rate_figure(table, title)),
                }
            )
    except NotEnoughData as err:
        context["empty"] = str(err)
    except AnalyticsError as err:  # the database holds something the method refuses
        context["error"] = str(err)
        return render(request, "analytics_risk.html", context, status=400)
    return render(request, "analytics_risk.html", context)
