"""The analysts' console home, `/console/analytics`: what each analytics page answers.

Each page lives beside its method (`rt_pages`, `forecast_pages`, `scan_pages`, `risk_pages`,
`scenario_pages`); this one only lists them. Analysts see aggregates only.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from epicity.accounts.permissions import Capability
from epicity.web.deps import Caller, need
from epicity.web.pages import render

__all__ = ["ANALYTICS_PAGES", "router"]

router = APIRouter(include_in_schema=False)

Analyst = Annotated[Caller, Depends(need(Capability.READ_AGGREGATES))]

# (path, title, the question the page answers)
ANALYTICS_PAGES = (
    (
        "/console/analytics/rt",
        "Reproduction number",
        "Is the epidemic growing, in the city and in each district? (Cori et al. 2013)",
    ),
    (
        "/console/analytics/forecast",
        "Forecasts",
        "How many cases in the next 1 to 14 days, with what uncertainty?",
    ),
    (
        "/console/analytics/hotspots",
        "Hotspots",
        "Where and since when are cases more frequent than expected? (space-time scan)",
    ),
    (
        "/console/analytics/risk",
        "High-risk groups",
        "Which age groups and districts are hit hardest?",
    ),
    (
        "/console/analytics/scenarios",
        "Scenarios",
        "What do faster warnings, wider tracing and more tests buy us?",
    ),
)


@router.get("/console/analytics", response_class=HTMLResponse)
def analytics_home(request: Request, _: Analyst) -> Response:
    """The list of analytics pages."""
    return render(request, "analytics.html", {"pages": ANALYTICS_PAGES})
