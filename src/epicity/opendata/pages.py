"""The public pages of open data: the dashboard (``/public``) and the open-data page
(``/public/data``), in Korean and English, no login.

The dashboard shows only published figures (`epicity.opendata.service.current_figures`, the
latest revision of each day and area): the latest published day's and cumulative figures for
the city or a district chosen with ``?area=``, every district in a table and on a choropleth
map per 100,000 residents (`epicity.city.districts`), Plotly charts of daily confirmed cases
with their 7-day average and of tests with the 7-day positivity, the latest reproduction
number (`epicity.analytics.rt.estimate_rt`) and a 14-day forecast
(`epicity.analytics.forecast.forecast`) of the city's published series. Everything shown
derives from the publication, so the page's data (the analytics above all, a few seconds of
CPU) is computed once per publication and language and kept on the app
(`DashboardCache`); a new publication or correction changes the key.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import pandas as pd
import plotly.graph_objects as go
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from epicity.analytics.errors import AnalyticsError
from epicity.analytics.forecast import MIN_DAYS, forecast
from epicity.analytics.rt import discretised_gamma_si, estimate_rt
from epicity.city.districts import seoul_districts
from epicity.opendata import service
from epicity.opendata.api import LICENCE_URL, PREFIX, licence
from epicity.opendata.service import MIN_TESTS_7D as POSITIVITY_MIN_TESTS
from epicity.opendata.service import SUPPRESSION_THRESHOLD, FigureRow
from epicity.web.deps import DbSession
from epicity.web.i18n import render_public, request_language, translator

__all__ = [
    "CITY",
    "DashboardCache",
    "RtSummary",
    "analyse_city",
    "daily_figure",
    "forecast_figure",
    "map_figure",
    "router",
    "rt_figure",
    "tests_figure",
]

router = APIRouter(include_in_schema=False)

AreaParam = Annotated[str, Query(max_length=40)]
Translate = Callable[..., str]

CITY = "city"
# Serial interval: gamma, mean 4.7 d, sd 2.9 d (Nishiura, Linton, Akhmetzhanov 2020, Int J
# Infect Dis 93:284-286), the one the analysts' Rt page and the forecast model use.
SI_MEAN, SI_SD = 4.7, 2.9
RT_WINDOW = 7
# The Rt chart shows the last weeks of windows; the fan chart the last weeks observed.
RT_SHOWN_WINDOWS = 56
FORECAST_HORIZON = 14
FORECAST_SHOWN_DAYS = 56
# Published dates and times are shown in the city's zone.
CITY_ZONE = ZoneInfo("Asia/Seoul")
# Open API v1 (helper OPENAPI's router, epicity.opendata.api); the data page links these.
OPEN_API = PREFIX

BLUE, ORANGE, VERMILION, GREY = "#0072B2", "#E69F00", "#D55E00", "#555555"
PLOTLY_CONFIG = {"responsive": True, "displaylogo": False, "displayModeBar": False}


# --------------------------------------------------------------------------------------------
# Reproduction number and forecast of the published city series


@dataclass(frozen=True)
class RtSummary:
    """The latest Rt window: its days, posterior mean and 95% credible interval."""

    start: dt.date
    end: dt.date
    mean: float
    low: float
    high: float


@dataclass(frozen=True)
class CityAnalysis:
    """Rt and forecast of the city's published daily confirmed cases, or why not.

    A reason is a catalog key and its values (translated when the page is drawn)."""

    rt: RtSummary | None
    rt_windows: pd.DataFrame | None
    rt_reason: tuple[str, dict[str, Any]] | None
    forecast: pd.DataFrame | None  # target_end_date x quantile, wide
    forecast_reason: tuple[str, dict[str, Any]] | None


def city_incidence(rows: Sequence[FigureRow]) -> pd.DataFrame:
    """The city's published daily confirmed cases (``date``, ``cases``) on consecutive days
    from the first published day (a day without a row had no figures: 0)."""
    if not rows:
        return pd.DataFrame({"date": pd.to_datetime([]), "cases": pd.Series([], dtype="int64")})
    series = pd.Series(
        {pd.Timestamp(r.day): int(r.confirmed_new) for r in rows}, dtype="int64"
    ).sort_index()
    days = pd.date_range(series.index.min(), series.index.max(), freq="D")
    series = series.reindex(days, fill_value=0)
    return pd.DataFrame({"date": series.index, "cases": series.to_numpy()})


def analyse_city(incidence: pd.DataFrame) -> CityAnalysis:
    """Rt (Cori, 7-day windows, EpiEstim's prior) and a 14-day ensemble forecast of
    `incidence`, each only when the series is long enough and has cases."""
    days = len(incidence)
    total = int(incidence["cases"].sum()) if days else 0
    rt: RtSummary | None = None
    windows: pd.DataFrame | None = None
    rt_reason: tuple[str, dict[str, Any]] | None = None
    need_rt = RT_WINDOW + 1
    if days < need_rt:
        rt_reason = ("dash.rt.too_short", {"days": days, "need": need_rt})
    elif total == 0:
        rt_reason = ("dash.rt.no_cases", {})
    else:
        try:
            table = estimate_rt(incidence, discretised_gamma_si(SI_MEAN, SI_SD), window=RT_WINDOW)
        except AnalyticsError as err:  # a series the estimator refuses; say so, never a 500
            rt_reason = ("dash.rt.failed", {"reason": str(err)})
        else:
            table = table[table["mean"].notna()]
            # A window without any infectiousness behind it has only the prior: not shown.
            if table.empty:
                rt_reason = ("dash.rt.too_short", {"days": days, "need": need_rt})
            else:
                windows = table.tail(RT_SHOWN_WINDOWS).reset_index(drop=True)
                last = windows.iloc[-1]
                rt = RtSummary(
                    start=pd.Timestamp(last["date_start"]).date(),
                    end=pd.Timestamp(last["date_end"]).date(),
                    mean=float(last["mean"]),
                    low=float(last["q0.025"]),
                    high=float(last["q0.975"]),
                )
    fc: pd.DataFrame | None = None
    fc_reason: tuple[str, dict[str, Any]] | None = None
    if days < MIN_DAYS:
        fc_reason = ("dash.forecast.too_short", {"days": days, "need": MIN_DAYS})
    elif total == 0:
        fc_reason = ("dash.forecast.no_cases", {})
    else:
        try:
            long = forecast(incidence, horizon=FORECAST_HORIZON, seed=0)
        except AnalyticsError as err:
            fc_reason = ("dash.forecast.failed", {"reason": str(err)})
        else:
            fc = long.pivot(index="target_end_date", columns="quantile", values="value")
    return CityAnalysis(rt, windows, rt_reason, fc, fc_reason)


# --------------------------------------------------------------------------------------------
# Figures (Plotly, built here and drawn by the script the app serves)


def _layout(fig: go.Figure, ytitle: str, *, height: int = 340) -> go.Figure:
    # No width: the chart follows its container (phones included).
    fig.update_layout(
        autosize=True,
        height=height,
        margin={"l": 50, "r": 10, "t": 10, "b": 40},
        legend={"orientation": "h", "y": -0.18, "x": 0},
        yaxis={"title": ytitle, "rangemode": "tozero"},
        plot_bgcolor="#ffffff",
        hovermode="x unified",
    )
    fig.update_xaxes(showgrid=False)
    fig.update_yaxes(gridcolor="#e5e5e5")
    return fig


def _dates(days: Sequence[dt.date]) -> list[str]:
    return [d.isoformat() for d in days]


def daily_figure(rows: Sequence[FigureRow], t: Translate) -> go.Figure:
    """Daily new confirmed cases (bars) and their 7-day average (line)."""
    days = [r.day for r in rows]
    new = pd.Series([r.confirmed_new for r in rows], dtype="float64")
    average = new.rolling(7, min_periods=7).mean().round(1)
    fig = go.Figure()
    fig.add_trace(
        go.Bar(x=_dates(days), y=new.tolist(), name=t("dash.chart.new_confirmed"),
               marker={"color": "#8fbfe0"})
    )  # fmt: skip
    fig.add_trace(
        go.Scatter(
            x=_dates(days),
            y=[None if math.isnan(v) else v for v in average],
            mode="lines",
            name=t("dash.chart.average_7d"),
            line={"color": BLUE, "width": 2.5},
        )
    )
    return _layout(fig, t("dash.chart.cases_per_day"))


def tests_figure(rows: Sequence[FigureRow], t: Translate) -> go.Figure:
    """Tests done per day (bars) and the 7-day positivity (line, right axis, %)."""
    days = _dates([r.day for r in rows])
    fig = go.Figure()
    fig.add_trace(
        go.Bar(x=days, y=[r.tests_new for r in rows], name=t("dash.chart.tests"),
               marker={"color": "#c9c9c9"})
    )  # fmt: skip
    fig.add_trace(
        go.Scatter(
            x=days,
            y=[None if r.positivity_7d is None else round(100 * r.positivity_7d, 2) for r in rows],
            mode="lines",
            name=t("dash.chart.positivity"),
            line={"color": VERMILION, "width": 2.5},
            yaxis="y2",
        )
    )
    _layout(fig, t("dash.chart.tests_per_day"))
    fig.update_layout(
        yaxis2={
            "title": t("dash.chart.positivity_axis"),
            "overlaying": "y",
            "side": "right",
            "rangemode": "tozero",
            "showgrid": False,
        },
        margin={"l": 50, "r": 50, "t": 10, "b": 40},
    )
    return fig


@cache
def _boundaries() -> dict[str, Any]:
    text = resources.files("epicity.data").joinpath("seoul_districts.geojson").read_text("utf-8")
    geojson: dict[str, Any] = json.loads(text)
    return geojson


def map_figure(table: Sequence[dict[str, Any]], t: Translate) -> go.Figure:
    """Districts coloured by confirmed cases per 100,000 residents: the last 7 days (shown
    first) or cumulative, switched with two buttons."""
    names = [row["area"] for row in table]
    labels = [row["label"] for row in table]
    fig = go.Figure()
    for key, count_key, title, colours, visible in (
        ("week_per_100k", "week", t("dash.map.week"), "Oranges", True),
        ("total_per_100k", "total", t("dash.map.total"), "Blues", False),
    ):
        fig.add_trace(
            go.Choropleth(
                geojson=_boundaries(),
                featureidkey="properties.name_eng",
                locations=names,
                z=[row[key] for row in table],
                zmin=0,
                colorscale=colours,
                colorbar={"title": {"text": t("dash.map.per_100k"), "side": "right"},
                          "thickness": 12, "len": 0.8},
                customdata=[[lb, row[count_key]] for lb, row in zip(labels, table, strict=True)],
                hovertemplate="%{customdata[0]}: %{z:.1f} "
                + t("dash.map.per_100k")
                + " (%{customdata[1]:,})<extra></extra>",
                marker={"line": {"color": "#ffffff", "width": 0.6}},
                name=title,
                visible=visible,
            )
        )  # fmt: skip
    fig.update_geos(fitbounds="locations", visible=False)
    fig.update_layout(
        autosize=True,
        height=440,
        margin={"l": 0, "r": 0, "t": 40, "b": 0},
        updatemenus=[
            {
                "type": "buttons",
                "direction": "right",
                "x": 0,
                "y": 1.0,
                "xanchor": "left",
                "yanchor": "bottom",
                "pad": {"t": 0, "b": 4},
                "buttons": [
                    {"label": t("dash.map.week"), "method": "update",
                     "args": [{"visible": [True, False]}]},
                    {"label": t("dash.map.total"), "method": "update",
                     "args": [{"visible": [False, True]}]},
                ],
            }
        ],
    )  # fmt: skip
    return fig


def rt_figure(windows: pd.DataFrame, t: Translate) -> go.Figure:
    """Rt by window end with its 95% credible band and the threshold 1."""
    x = [pd.Timestamp(d).date().isoformat() for d in windows["date_end"]]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=x + x[::-1],
            y=windows["q0.975"].round(3).tolist() + windows["q0.025"].round(3).tolist()[::-1],
            fill="toself",
            fillcolor="rgba(0,114,178,0.2)",
            line={"width": 0},
            hoverinfo="skip",
            name=t("dash.rt.interval"),
        )
    )
    fig.add_trace(
        go.Scatter(x=x, y=windows["mean"].round(3).tolist(), mode="lines",
                   name=t("dash.rt.mean"), line={"color": BLUE, "width": 2.5})
    )  # fmt: skip
    fig.add_hline(y=1, line={"color": GREY, "dash": "dash", "width": 1})
    return _layout(fig, "Rt", height=300)


def forecast_figure(incidence: pd.DataFrame, wide: pd.DataFrame, t: Translate) -> go.Figure:
    """The last weeks observed, the forecast's median and its 50% and 95% intervals."""
    shown = incidence.tail(FORECAST_SHOWN_DAYS)
    x = [pd.Timestamp(d).date().isoformat() for d in wide.index]
    back = x[::-1]
    fig = go.Figure()
    for lo, hi, name, colour in (
        (0.025, 0.975, t("dash.forecast.interval95"), "rgba(0,114,178,0.18)"),
        (0.25, 0.75, t("dash.forecast.interval50"), "rgba(0,114,178,0.38)"),
    ):
        fig.add_trace(
            go.Scatter(
                x=x + back,
                y=wide[hi].round(1).tolist() + wide[lo].round(1).tolist()[::-1],
                fill="toself",
                fillcolor=colour,
                line={"width": 0},
                hoverinfo="skip",
                name=name,
            )
        )
    fig.add_trace(
        go.Scatter(x=x, y=wide[0.5].round(1).tolist(), mode="lines",
                   name=t("dash.forecast.median"), line={"color": BLUE, "width": 2.5})
    )  # fmt: skip
    fig.add_trace(
        go.Scatter(
            x=[pd.Timestamp(d).date().isoformat() for d in shown["date"]],
            y=shown["cases"].tolist(),
            mode="lines+markers",
            name=t("dash.forecast.observed"),
            line={"color": "#000000", "width": 1},
            marker={"size": 4},
        )
    )
    return _layout(fig, t("dash.chart.cases_per_day"))


def _figure_json(fig: go.Figure) -> str:
    """The figure as JSON safe inside a <script> element (no '<', '>' or '&')."""
    text: str = fig.to_json()
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


# --------------------------------------------------------------------------------------------
# What the dashboard shows, cached per publication


@dataclass
class DashboardCache:
    """Answers computed from one publication, keyed by (publication, ...): a new publication
    (or correction) has a new key, so nothing stale is served. Bounded, thread-safe."""

    size: int = 128
    entries: OrderedDict[Hashable, Any] = field(default_factory=OrderedDict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The value kept under `key`, computed (outside the lock) when absent."""
        with self.lock:
            if key in self.entries:
                self.entries.move_to_end(key)
                return self.entries[key]
        value = compute()
        with self.lock:
            self.entries[key] = value
            self.entries.move_to_end(key)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)
        return value


def _cache(request: Request) -> DashboardCache:
    state = request.app.state
    existing = getattr(state, "opendata_dashboard_cache", None)
    if isinstance(existing, DashboardCache):
        return existing
    with _CACHE_CREATION:
        existing = getattr(state, "opendata_dashboard_cache", None)
        if not isinstance(existing, DashboardCache):
            existing = DashboardCache()
            state.opendata_dashboard_cache = existing
    return existing


_CACHE_CREATION = threading.Lock()


def _area_label(area: str, lang: str, t: Translate) -> str:
    if area == CITY:
        return t("dash.city")
    if lang == "ko":
        for district in seoul_districts():
            if district.name == area:
                return district.name_ko
    return area


def _ratio(count: float, residents_thousands: int) -> float:
    """`count` per 100,000 residents (the districts' residents are in thousands)."""
    return round(count * 100.0 / residents_thousands, 1) if residents_thousands else 0.0


def _district_table(
    session: Session, last_day: dt.date, lang: str, t: Translate
) -> list[dict[str, Any]]:
    """Every district on the last published day, with its last 7 days and rates."""
    week = service.current_figures(session, start=last_day - dt.timedelta(days=6), end=last_day)
    week_new: dict[str, int] = {}
    latest: dict[str, FigureRow] = {}
    for row in week:
        week_new[row.area] = week_new.get(row.area, 0) + row.confirmed_new
        if row.day == last_day:
            latest[row.area] = row
    table = []
    for district in sorted(seoul_districts(), key=lambda d: _area_label(d.name, lang, t)):
        shown = latest.get(district.name)
        total = shown.confirmed_total if shown is not None else 0
        week_count = week_new.get(district.name, 0)
        table.append(
            {
                "area": district.name,
                "label": _area_label(district.name, lang, t),
                "row": shown,
                "week": week_count,
                "total": total,
                "week_per_100k": _ratio(week_count, district.residents),
                "total_per_100k": _ratio(total, district.residents),
            }
        )
    return table


def _corrections(session: Session, publication_id: int) -> list[FigureRow]:
    """Published figures that were corrected (latest revision above 1), newest first."""
    del publication_id  # part of the cache key only
    rows = [r for r in service.current_figures(session) if r.revision > 1]
    return sorted(rows, key=lambda r: (r.published_at, r.day, r.area), reverse=True)


def _local(moment: dt.datetime) -> str:
    if moment.tzinfo is None:  # stored in UTC (SQLite gives it back naive)
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(CITY_ZONE).strftime("%Y-%m-%d %H:%M")


def _dashboard(session: Session, area: str, lang: str) -> dict[str, Any]:
    """The dashboard's context for `area` in `lang`, from the latest publication."""
    t = translator(lang)
    rows = service.current_figures(session, area=area)
    city_rows = rows if area == CITY else service.current_figures(session, area=CITY)
    context: dict[str, Any] = {"area": area, "area_label": _area_label(area, lang, t)}
    if not rows:
        context["today"] = None
        return context
    today = rows[-1]
    last_day = city_rows[-1].day if city_rows else today.day
    context["today"] = today
    context["previous"] = rows[-2] if len(rows) > 1 else None
    context["daily_json"] = _figure_json(daily_figure(rows, t))
    context["tests_json"] = _figure_json(tests_figure(rows, t))
    table = _district_table(session, last_day, lang, t)
    context["districts"] = table
    context["map_json"] = _figure_json(map_figure(table, t))
    return context


@router.get("/public", response_class=HTMLResponse)
def dashboard_page(request: Request, session: DbSession, area: AreaParam = CITY) -> Response:
    """The public dashboard: the latest published figures, charts, map, Rt and forecast."""
    lang = request_language(request)
    t = translator(lang)
    area = area.strip() or CITY
    choices = [
        (CITY, t("dash.city")),
        *sorted(
            ((d.name, _area_label(d.name, lang, t)) for d in seoul_districts()),
            key=lambda pair: pair[1],
        ),
    ]
    context: dict[str, Any] = {
        "choices": choices,
        "labels": dict(choices),
        "area": area,
        "api": OPEN_API,
        "positivity_min": POSITIVITY_MIN_TESTS,
        "publication": None,
        "error": None,
    }
    if area not in {name for name, _ in choices}:
        context["error"] = t("dash.error.area", value=area[:40])
        context["area"] = CITY
        return render_public(request, "public_dashboard.html", context, status=400)
    publication = service.latest_publication(session)
    if publication is None:
        return render_public(request, "public_dashboard.html", context)
    cache = _cache(request)
    context["publication"] = publication
    context["published_at"] = _local(publication.published_at)
    context.update(
        cache.get(
            ("page", publication.id, area, lang),
            lambda: _dashboard(session, area, lang),
        )
    )
    corrections: list[FigureRow] = cache.get(
        ("corrections", publication.id), lambda: _corrections(session, publication.id)
    )
    context["corrections"] = corrections
    context["corrections_local"] = [_local(r.published_at) for r in corrections]

    def analysis() -> tuple[pd.DataFrame, CityAnalysis]:
        incidence = city_incidence(service.current_figures(session, area=CITY))
        return incidence, analyse_city(incidence)

    def analysis_figures() -> dict[str, Any]:
        incidence, result = cache.get(("analysis", publication.id), analysis)
        out: dict[str, Any] = {"analysis": result}
        if result.rt_windows is not None:
            out["rt_json"] = _figure_json(rt_figure(result.rt_windows, t))
        if result.forecast is not None:
            out["forecast_json"] = _figure_json(forecast_figure(incidence, result.forecast, t))
            out["forecast_from"] = pd.Timestamp(incidence["date"].iloc[-1]).date()
            out["forecast_end"] = pd.Timestamp(result.forecast.index[-1]).date()
        return out

    context.update(cache.get(("analysis figures", publication.id, lang), analysis_figures))
    return render_public(request, "public_dashboard.html", context)


@dataclass(frozen=True)
class Link:
    """An open API endpoint or download listed on the data page: `path` is the route as the
    app registers it (a test checks it exists), `href` a link that answers as it is."""

    slug: str
    path: str
    key: str
    href: str
    formats: tuple[tuple[str, str], ...] = ()


def _formats(link: str, query: str = "") -> tuple[tuple[str, str], ...]:
    if not query:
        return (("JSON", link), ("CSV", f"{link}?format=csv"))
    return (("JSON", f"{link}?{query}"), ("CSV", f"{link}?{query}&format=csv"))


def _endpoint(slug: str, route: str, example_query: str = "") -> Link:
    path = OPEN_API + route
    # The one path parameter of the API: the published breakdown's dimension.
    link = path.replace("{dimension}", "district_age")
    href = f"{link}?{example_query}" if example_query else link
    return Link(slug, path, f"data.api.{slug}", href, _formats(link, example_query))


def endpoints(day: dt.date | None) -> tuple[Link, ...]:
    """What the open API (epicity.opendata.api) offers, as the data page lists it; the
    examples ask for `day` (the latest published) where a day is needed."""
    example_day = (day or dt.date.today()).isoformat()
    return (
        _endpoint("figures", "/figures", "area=city"),
        _endpoint("districts", "/figures/latest"),
        _endpoint("revisions", "/revisions", f"day={example_day}&area=city"),
        _endpoint("breakdown", "/breakdowns/{dimension}"),
        _endpoint("notices", "/notices"),
        _endpoint("areas", "/areas"),
    )


DOWNLOADS: tuple[Link, ...] = (
    Link("figures-csv", OPEN_API + "/bulk/figures", "data.download.figures_csv",
         OPEN_API + "/bulk/figures?format=csv"),
    Link("figures-json", OPEN_API + "/bulk/figures", "data.download.figures_json",
         OPEN_API + "/bulk/figures?format=json"),
    Link("breakdown-csv", OPEN_API + "/breakdowns/{dimension}", "data.download.breakdown_csv",
         OPEN_API + "/breakdowns/district_age?format=csv"),
)  # fmt: skip


def _paths(routes: Sequence[Any]) -> set[str]:
    found: set[str] = set()
    for route in routes:
        if isinstance(getattr(route, "path", None), str):
            found.add(route.path)
        if hasattr(route, "original_router"):  # an included router (FastAPI >= 0.16x)
            found |= _paths(route.original_router.routes)
    return found


def _served(request: Request, links: Sequence[Link]) -> list[Link]:
    """The links whose route the app serves (a part of the API not installed is not listed)."""
    paths = _paths(request.app.routes)
    return [link for link in links if link.path in paths]


# The published fields, in the order of the API's answers.
FIELDS = ("day", "area", *service.FIGURE_FIELDS, "revision", "published_at")


@router.get("/public/data", response_class=HTMLResponse)
def data_page(request: Request, session: DbSession) -> Response:
    """The open-data page: the open API and downloads, the licence, small-count protection,
    the sources."""
    publication = service.latest_publication(session)
    context: dict[str, Any] = {
        "api": OPEN_API,
        "endpoints": _served(request, endpoints(publication.as_of if publication else None)),
        "downloads": _served(request, DOWNLOADS),
        "attribution": licence()["attribution"],
        "licence_url": LICENCE_URL,
        "fields": [(name, f"data.field.{name}") for name in FIELDS],
        "positivity_min": POSITIVITY_MIN_TESTS,
        "hidden_below": SUPPRESSION_THRESHOLD,
        "publication": publication,
        "published_at": _local(publication.published_at) if publication is not None else None,
    }
    return render_public(request, "public_data.html", context)
