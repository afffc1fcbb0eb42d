"""Console page of hotspots: the prospective space-time scan on the database's cases.

GET /console/analytics/hotspots counts the confirmed cases by Seoul district and confirmation
date (`epicity.analytics.data.cases_frame`), runs `epicity.analytics.scan.run_scan` on the
chosen day (district centroids, residents as the population at risk) and shows a Plotly
choropleth of observed/expected cases over the last ``max_days`` days on the district
boundaries the package ships, the detected clusters outlined, and the clusters' table. Only
counts by district leave this module. Bad input re-renders the form with a message naming
the field (400).

The unit is the case: the database's cases carry no household id, so the page cannot count
each household once (``unit="household"``); the page says so, since household bursts inflate
the case unit's alarms (docs/analytics.md, "Hotspots").
"""

from __future__ import annotations

import datetime as dt
import json
from functools import cache
from importlib import resources
from typing import Annotated, Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from epicity.accounts.permissions import Capability
from epicity.analytics.data import cases_frame
from epicity.analytics.errors import AnalyticsError, NotEnoughData
from epicity.analytics.scan import ScanResult, district_locations, run_scan
from epicity.web.deps import Caller, DbSession, need
from epicity.web.pages import render

__all__ = ["district_counts", "hotspot_map", "router"]

router = APIRouter(include_in_schema=False)

Analyst = Annotated[Caller, Depends(need(Capability.READ_AGGREGATES))]
Text = Annotated[str, Query(max_length=16)]

# A page answers within a request: 25 districts x 999 replications take well under a second.
WEB_MAX_REPLICATIONS = 9_999
STUDY_DAYS = 28
DEFAULTS = {"day": "", "max_days": "7", "replications": "999", "seed": "0", "alpha": "0.05"}


@cache
def _boundaries() -> dict[str, Any]:
    text = resources.files("epicity.data").joinpath("seoul_districts.geojson").read_text("utf-8")
    geojson: dict[str, Any] = json.loads(text)
    return geojson


def district_counts(cases: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Confirmed cases by Seoul district and confirmation date; and how many were left out
    (no confirmation date, or no Seoul district)."""
    known = set(district_locations()["location"])
    usable = cases["confirmed_date"].notna() & cases["district"].isin(known)
    counts = (
        cases.loc[usable, ["district", "confirmed_date"]]
        .rename(columns={"district": "location", "confirmed_date": "date"})
        .groupby(["location", "date"], as_index=False)
        .size()
        .rename(columns={"size": "cases"})
    )
    return counts, int((~usable).sum())


def hotspot_map(result: ScanResult, alpha: float, max_days: int) -> go.Figure:
    """Districts coloured by observed/expected over the last `max_days` days (the scan's
    `by_location`); clusters with p <= alpha outlined."""
    table = result.by_location
    ratio = table["ratio"].fillna(0.0)
    fig = go.Figure(
        go.Choropleth(
            geojson=_boundaries(),
            featureidkey="properties.name_eng",
            locations=table["location"].tolist(),
            z=ratio.clip(upper=5.0).tolist(),
            zmin=0,
            zmax=5,
            colorscale="Viridis",
            colorbar={"title": "observed / expected"},
            customdata=np.column_stack(
                [table["observed"], table["expected"].round(2), ratio.round(2)]
            ).tolist(),
            hovertemplate="%{location}: %{customdata[0]} cases, %{customdata[1]} expected "
            "(ratio %{customdata[2]})<extra></extra>",
            marker={"line": {"color": "#ffffff", "width": 0.5}},
            name="observed / expected",
        )
    )
    shown = result.clusters[result.clusters["p_value"] <= alpha]
    for row in shown.itertuples():
        fig.add_trace(
            go.Choropleth(
                geojson=_boundaries(),
                featureidkey="properties.name_eng",
                locations=list(row.locations),
                z=[1] * len(row.locations),
                colorscale=[[0, "rgba(0,0,0,0)"], [1, "rgba(0,0,0,0)"]],
                showscale=False,
                marker={"line": {"color": "#D55E00", "width": 3}},
                hovertemplate=f"cluster #{row.rank}: p = {row.p_value:.3f}<extra></extra>",
                name=f"cluster #{row.rank}",
            )
        )
    fig.update_geos(fitbounds="locations", visible=False)
    fig.update_layout(
        height=520,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        title=f"Observed / expected, {result.day - dt.timedelta(days=max_days - 1)} "
        f"to {result.day}",
    )
    return fig


def _figure_json(fig: go.Figure) -> str:
    """The figure as JSON safe inside a <script> element (no '<', '>' or '&')."""
    text: str = fig.to_json()
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _parse(form: dict[str, str]) -> tuple[dt.date | None, int, int, int, float]:
    def whole(name: str, lo: int, hi: int) -> int:
        text = form[name]
        if not text.isdigit() or not lo <= int(text) <= hi:
            raise AnalyticsError(f"{name} must be a whole number from {lo} to {hi:,}, got {text!r}")
        return int(text)

    day = None
    if form["day"]:
        try:
            day = dt.date.fromisoformat(form["day"])
        except ValueError:
            raise AnalyticsError(f"day must be a date YYYY-MM-DD, got {form['day']!r}") from None
    max_days = whole("max_days", 1, 14)
    replications = whole("replications", 9, WEB_MAX_REPLICATIONS)
    seed = whole("seed", 0, 2**31 - 1)
    try:
        alpha = float(form["alpha"])
    except ValueError:
        alpha = float("nan")
    if not 0 < alpha <= 1:
        raise AnalyticsError(f"alpha must be a number in (0, 1], got {form['alpha']!r}")
    return day, max_days, replications, seed, alpha


@router.get("/console/analytics/hotspots", response_class=HTMLResponse)
def hotspots_page(
    request: Request,
    session: DbSession,
    caller: Analyst,
    day: Text = DEFAULTS["day"],
    max_days: Text = DEFAULTS["max_days"],
    replications: Text = DEFAULTS["replications"],
    seed: Text = DEFAULTS["seed"],
    alpha: Text = DEFAULTS["alpha"],
) -> Response:
    """Hotspots: the space-time scan on the confirmed cases by district, for a day."""
    del caller
    form = {
        "day": day.strip(),
        "max_days": max_days.strip(),
        "replications": replications.strip(),
        "seed": seed.strip(),
        "alpha": alpha.strip(),
    }
    context: dict[str, Any] = {
        "form": form,
        "error": None,
        "result": None,
        "empty": None,
        "study_days": STUDY_DAYS,
    }
    status = 200
    try:
        chosen, days, reps, rng_seed, level = _parse(form)
        counts, excluded = district_counts(cases_frame(session))
        context["excluded"] = excluded
        if counts.empty:
            context["empty"] = "no confirmed case in a Seoul district"
        else:
            if chosen is None:
                chosen = counts["date"].max().date()
                form["day"] = chosen.isoformat()
            result = run_scan(
                counts,
                district_locations(),
                day=chosen,
                max_days=days,
                study_days=STUDY_DAYS,
                unit="case",  # the database's cases have no household id
                replications=reps,
                seed=rng_seed,
            )
            shown = result.clusters[result.clusters["p_value"] <= level]
            context.update(
                result=result,
                alpha=level,
                window_start=result.day - dt.timedelta(days=days - 1),
                clusters=result.clusters.to_dict("records"),
                significant=len(shown),
                map_json=_figure_json(hotspot_map(result, level, days)),
                districts=result.by_location.sort_values("ratio", ascending=False).to_dict(
                    "records"
                ),
            )
    except NotEnoughData as err:
        context["error"], status = str(err), 422
    except AnalyticsError as err:
        context["error"], status = str(err), 400
    return render(request, "analytics_hotspots.html", context, status=status)
