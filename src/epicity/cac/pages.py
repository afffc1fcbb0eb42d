"""Cities Against COVID-19 pages.

Public (no login, Korean and English, phone-sized): ``/cac`` (approved cities with their
latest figures), ``/cac/cities/{id}`` (a city's series: daily figure and its 7-day mean),
``/cac/compare`` (cities per N people, smoothed). The charts are Plotly figures built here and
drawn by the Plotly script the service serves itself. A bad query is answered with the page
and a message (400), not a server error.

Console (``manage_cities``): ``/console/cac`` lists pending registrations with approve and
reject forms, and the approved cities' publisher keys with forms to make and revoke keys (CSRF
like every console form). A key just made is shown on the page that answers the form, once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any

import plotly.graph_objects as go
from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from epicity.accounts.permissions import Capability
from epicity.cac import service
from epicity.cac.compare import MAX_PER, MAX_SMOOTH, per_capita
from epicity.cac.errors import CacError, CityNotFound
from epicity.cac.models import METRICS, City, DailyUpdate
from epicity.cac.routes import MAX_COMPARED
from epicity.cac.seed import SOURCE_URL
from epicity.db import utcnow
from epicity.web.deps import Caller, DbSession, need
from epicity.web.i18n import render_public, request_language, translator
from epicity.web.pages import render

__all__ = ["city_figure", "compare_figure", "router"]

router = APIRouter(include_in_schema=False)

Admin = Annotated[Caller, Depends(need(Capability.MANAGE_CITIES))]
CityId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Text = Annotated[str, Query(max_length=300)]
_NOTICES = {
    "approved": "City approved.",
    "rejected": "City rejected.",
    "revoked": "Key revoked.",
}


def _figure_json(fig: go.Figure) -> str:
    """The figure as JSON safe inside a <script> element (no '<', '>' or '&')."""
    text: str = fig.to_json()
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _name(city: City, lang: str) -> str:
    return city.name_local if lang == "ko" else city.name_en


def _credited(session: Session, city_ids: list[int]) -> bool:
    """Whether any of these cities' days come from Coronaboard (its credit is then shown)."""
    if not city_ids:
        return False
    found = session.scalar(
        select(DailyUpdate.id)
        .where(DailyUpdate.city_id.in_(city_ids), DailyUpdate.source_url == SOURCE_URL)
        .limit(1)
    )
    return found is not None


def city_figure(
    rows: list[DailyUpdate], metric: str, t: Callable[..., str], population: int
) -> go.Figure:
    """A city's `metric` by day (bars for daily counts, a line for cumulative ones) and, for
    daily counts, the 7-day mean."""
    days = [r.day for r in rows]
    values = [getattr(r, metric) for r in rows]
    fig = go.Figure()
    if metric.endswith("_total") or metric == "in_isolation":
        fig.add_trace(go.Scatter(x=days, y=values, mode="lines", name=t(f"cac.metric.{metric}")))
    else:
        fig.add_trace(
            go.Bar(x=days, y=values, name=t("cac.daily"), marker_color="#9bb7d4", opacity=0.8)
        )
        mean = per_capita(list(zip(days, values, strict=True)), population=1, per=1, smooth=7)
        fig.add_trace(
            go.Scatter(
                x=[d for d, _ in mean],
                y=[v for _, v in mean],
                mode="lines",
                name=t("cac.mean7"),
                line={"color": "#123a5e", "width": 2},
            )
        )
    fig.update_layout(
        title=t(f"cac.metric.{metric}"),
        margin={"l": 50, "r": 10, "t": 40, "b": 40},
        legend={"orientation": "h", "y": -0.15},
        height=380,
    )
    del population
    return fig


def compare_figure(
    series: list[service.ComparedCity], metric: str, per: int, t: Callable[..., str], lang: str
) -> go.Figure:
    """One line per city: `metric` per `per` people."""
    fig = go.Figure()
    for s in series:
        fig.add_trace(
            go.Scatter(
                x=[d for d, _ in s.points],
                y=[v for _, v in s.points],
                mode="lines",
                name=_name(s.city, lang),
                connectgaps=False,
            )
        )
    fig.update_layout(
        title=t("cac.compare.axis", metric=t(f"cac.metric.{metric}"), per=f"{per:,}"),
        margin={"l": 50, "r": 10, "t": 40, "b": 40},
        legend={"orientation": "h", "y": -0.15},
        height=420,
    )
    return fig


@router.get("/cac", response_class=HTMLResponse)
def cities_page(request: Request, session: DbSession) -> Response:
    """Approved cities with their latest figures."""
    lang = request_language(request)
    cities = service.list_cities(session, status="approved", limit=1000)
    latest = service.latest_updates(session, city_ids=[c.id for c in cities])
    rows = []
    for city in cities:
        last = latest.get(city.id)
        total = last.confirmed_total if last is not None else None
        rows.append(
            {
                "city": city,
                "name": _name(city, lang),
                "last": last,
                "per_100k": None if total is None else total * 100_000 / city.population,
            }
        )
    context = {
        "rows": rows,
        "compare_url": "/cac/compare?cities="
        + ",".join(str(c.id) for c in cities[:MAX_COMPARED])
        + "&metric=confirmed_new&per=100000&smooth=7",
        "credit": _credited(session, [c.id for c in cities]),
    }
    return render_public(request, "cac_cities.html", context)


@router.get("/cac/cities/{city_id}", response_class=HTMLResponse)
def city_page(
    request: Request,
    session: DbSession,
    city_id: CityId,
    metric: Annotated[str, Query(max_length=32)] = "confirmed_new",
) -> Response:
    """A city's series chart and its most recent days."""
    lang = request_language(request)
    t = translator(lang)
    try:
        city = service.get_city(session, city_id=city_id)
    except CityNotFound:
        return render_public(
            request, "cac_city.html", {"city": None, "error": t("cac.not_found")}, status=404
        )
    error = None
    if metric not in METRICS:
        metric, error = "confirmed_new", t("cac.error.metric")
    rows = service.list_updates(session, city_id=city.id, limit=None)
    context: dict[str, Any] = {
        "city": city,
        "name": _name(city, lang),
        "metric": metric,
        "metrics": METRICS,
        "metric_names": {m: t(f"cac.metric.{m}") for m in METRICS},
        "error": error,
        "recent": list(reversed(rows[-14:])),
        "figure_json": _figure_json(city_figure(rows, metric, t, city.population))
        if rows
        else None,
        "credit": _credited(session, [city.id]),
    }
    return render_public(request, "cac_city.html", context, status=400 if error else 200)


def _whole(text: str, field: str, low: int, high: int, t: Callable[..., str]) -> int:
    text = text.strip()
    if not text.isdigit() or not low <= int(text) <= high:
        raise ValueError(t("cac.error.number", field=field, low=f"{low:,}", high=f"{high:,}"))
    return int(text)


def _date(text: str, field: str, t: Callable[..., str]) -> dt.date | None:
    text = text.strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(t("cac.error.date", field=field)) from None


@router.get("/cac/compare", response_class=HTMLResponse)
def compare_page(
    request: Request,
    session: DbSession,
    cities: Annotated[list[str] | None, Query(max_length=MAX_COMPARED * 2)] = None,
    metric: Annotated[str, Query(max_length=32)] = "confirmed_new",
    per: Annotated[str, Query(max_length=12)] = "100000",
    smooth: Annotated[str, Query(max_length=4)] = "7",
    start: Annotated[str, Query(max_length=10)] = "",
    end: Annotated[str, Query(max_length=10)] = "",
) -> Response:
    """Cities compared per N people (``cities=1,2`` or ``cities=1&cities=2``)."""
    lang = request_language(request)
    t = translator(lang)
    approved = service.list_cities(session, status="approved", limit=1000)
    chosen: list[int] = []
    error = None
    series: list[service.ComparedCity] = []
    try:
        for part in ",".join(cities or []).split(","):
            part = part.strip()
            if not part:
                continue
            if not part.isdigit() or len(part) > 19:
                raise ValueError(t("cac.error.cities"))
            if int(part) not in chosen:
                chosen.append(int(part))
        if len(chosen) > MAX_COMPARED:
            raise ValueError(t("cac.error.cities"))
        if metric not in METRICS:
            raise ValueError(t("cac.error.metric"))
        per_n = _whole(per, t("cac.compare.per"), 1, MAX_PER, t)
        smooth_n = _whole(smooth, t("cac.compare.smooth"), 1, MAX_SMOOTH, t)
        start_d = _date(start, t("cac.compare.start"), t)
        end_d = _date(end, t("cac.compare.end"), t)
        known = {c.id for c in approved}
        for city_id in chosen:
            if city_id not in known:
                raise ValueError(t("cac.error.unknown_city", id=city_id))
        if chosen:
            series = service.compare(
                session,
                city_ids=chosen,
                metric=metric,
                per=per_n,
                smooth=smooth_n,
                start=start_d,
                end=end_d,
            )
    except (ValueError, CacError) as err:
        error = str(err)
        series = []
    summary = []
    for s in series:
        last = next(((d, v) for d, v in reversed(s.points) if v is not None), None)
        summary.append({"name": _name(s.city, lang), "city": s.city, "last": last})
    context: dict[str, Any] = {
        "approved": [(c, _name(c, lang)) for c in approved],
        "chosen": chosen,
        "metric": metric if metric in METRICS else "confirmed_new",
        "metrics": METRICS,
        "metric_names": {m: t(f"cac.metric.{m}") for m in METRICS},
        "per": per,
        "smooth": smooth,
        "start": start,
        "end": end,
        "error": error,
        "summary": summary,
        "figure_json": _figure_json(compare_figure(series, metric, int(per.strip()), t, lang))
        if series
        else None,
        "credit": _credited(session, [s.city.id for s in series]),
    }
    return render_public(request, "cac_compare.html", context, status=400 if error else 200)


# -- console ----------------------------------------------------------------------------------


def _console(
    request: Request,
    session: Session,
    *,
    error: str | None = None,
    notice: str | None = None,
    new_key: dict[str, Any] | None = None,
    code: int = 200,
) -> Response:
    pending = service.list_cities(session, status="pending", limit=500)
    approved = service.list_cities(session, status="approved", limit=500)
    keys = {c.id: service.list_publishers(session, city_id=c.id) for c in approved}
    context = {
        "pending": pending,
        "approved": approved,
        "keys": keys,
        "error": error,
        "notice": _NOTICES.get(notice or ""),
        "new_key": new_key,
    }
    return render(request, "cac_console.html", context, status=code)


@router.get("/console/cac", response_class=HTMLResponse)
def console_page(
    request: Request,
    session: DbSession,
    caller: Admin,
    notice: Annotated[str, Query(max_length=16)] = "",
) -> Response:
    """Registrations waiting for a decision, and the approved cities' keys."""
    del caller
    return _console(request, session, notice=notice)


@router.post("/console/cac/{city_id}/decision")
def decision_form(
    request: Request,
    session: DbSession,
    caller: Admin,
    city_id: CityId,
    decision: Annotated[str, Form(max_length=16)] = "",
    note: Annotated[str, Form(max_length=10_000)] = "",
) -> Response:
    """Approve (making the city's first key, shown once) or reject a registration."""
    now = utcnow()
    try:
        if decision not in ("approve", "reject"):
            raise CacError("decision: choose approve or reject")
        city = service.decide_city(
            session,
            city_id=city_id,
            approve=decision == "approve",
            actor=caller.actor,
            now=now,
            note=note,
        )
        new_key = None
        if city.status == "approved":
            publisher, key = service.create_publisher(
                session, city_id=city.id, label="first key", actor=caller.actor, now=now
            )
            new_key = {"city": city, "publisher": publisher, "key": key}
    except CityNotFound as err:
        session.rollback()
        return _console(request, session, error=str(err), code=404)
    except CacError as err:
        session.rollback()
        return _console(request, session, error=str(err), code=400)
    session.commit()
    if new_key is None:
        return RedirectResponse(f"/console/cac?notice={city.status}", status_code=303)
    return _console(request, session, notice="approved", new_key=new_key)


@router.post("/console/cac/{city_id}/publishers")
def new_key_form(
    request: Request,
    session: DbSession,
    caller: Admin,
    city_id: CityId,
    label: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Make a publisher key for an approved city; the page shows it once."""
    try:
        publisher, key = service.create_publisher(
            session, city_id=city_id, label=label, actor=caller.actor, now=utcnow()
        )
        city = service.get_city(session, city_id=city_id, public=False)
    except CityNotFound as err:
        session.rollback()
        return _console(request, session, error=str(err), code=404)
    except CacError as err:
        session.rollback()
        return _console(request, session, error=str(err), code=400)
    session.commit()
    return _console(request, session, new_key={"city": city, "publisher": publisher, "key": key})


@router.post("/console/cac/publishers/{publisher_id}/revoke")
def revoke_form(
    request: Request,
    session: DbSession,
    caller: Admin,
    publisher_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
) -> Response:
    """Revoke a publisher key."""
    try:
        service.revoke_publisher(
            session, publisher_id=publisher_id, actor=caller.actor, now=utcnow()
        )
    except CacError as err:
        session.rollback()
        return _console(request, session, error=str(err), code=404)
    session.commit()
    return RedirectResponse("/console/cac?notice=revoked", status_code=303)
