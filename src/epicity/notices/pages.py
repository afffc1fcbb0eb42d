"""Public pages of place notices (no login): the list and its Atom feed.

- ``/public/notices``: the notices visible now (or at the end of ``?as_of=YYYY-MM-DD``),
  filtered by ``district``, visit dates ``start``/``end`` and ``source`` (a GET form), newest
  visit first, 20 a page (``?page=``), with a map of notices per district; Korean or English.
- ``/public/notices.atom``: an Atom 1.0 feed of the same filters (the newest 100).

Bad filters answer 400 with a message naming the field: the page re-rendered with it, the feed
as plain text. Ids on the page for the browser tests: ``#notice-filters`` (the form),
``#notices`` (the list), ``.notice-item`` (each notice), ``#notice-error`` (the message).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import xml.etree.ElementTree as ET
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Annotated, Any
from urllib.parse import urlencode

import plotly.graph_objects as go
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from epicity.city.districts import seoul_districts
from epicity.db import utcnow
from epicity.notices import service
from epicity.notices.errors import NoticeError
from epicity.notices.models import SOURCES
from epicity.notices.service import NoticeFilters, NoticeRow
from epicity.web.deps import DbSession
from epicity.web.i18n import catalog, render_public, request_language, translator

__all__ = ["FEED_SIZE", "PAGE_SIZE", "notice_view", "router"]

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 20
FEED_SIZE = 100
MAX_PAGE = 10_000
ATOM = "http://www.w3.org/2005/Atom"

Text = Annotated[str | None, Query(max_length=40)]


@cache
def _boundaries() -> dict[str, Any]:
    text = resources.files("epicity.data").joinpath("seoul_districts.geojson").read_text("utf-8")
    geojson: dict[str, Any] = json.loads(text)
    return geojson


def _district_label(name: str | None, lang: str) -> str:
    if name is None:
        return ""
    if lang == "ko":
        for d in seoul_districts():
            if d.name == name:
                return d.name_ko
    return name


def _category_label(category: str, lang: str) -> str:
    key = f"notices.category.{category}"
    own, english = catalog(lang), catalog("en")
    return own.get(key) or english.get(key) or category.replace("_", " ").capitalize()


def _hhmm(at: dt.datetime, day: dt.date) -> str:
    if at.date() == day + dt.timedelta(days=1) and (at.hour, at.minute) == (0, 0):
        return "24:00"
    return at.strftime("%H:%M")


def _when(n: NoticeRow, t: Callable[..., str]) -> str:
    """The window in words: a time range, or dates when the source gave no time of day."""
    if not n.time_known:
        last = (n.end - dt.timedelta(microseconds=1)).date()
        days = n.start.date().isoformat()
        if last != n.start.date():
            days += f" – {last.isoformat()}"
        return f"{days} ({t('notices.time_unknown')})"
    day = n.start.date()
    end = _hhmm(n.end, day)
    if n.end.date() != day and end != "24:00":
        end = f"{n.end.date().isoformat()} {end}"
    return f"{day.isoformat()} {n.start.strftime('%H:%M')}–{end}"


def notice_view(n: NoticeRow, lang: str) -> dict[str, Any]:
    """What the page and the feed show of a notice, in `lang`."""
    t = translator(lang)
    category = _category_label(n.category, lang)
    return {
        "key": n.key,
        "title": n.venue_name or category,
        "category": category,
        "district": _district_label(n.district, lang),
        "address": n.address or "",
        "when": _when(n, t),
        "date": n.visit_date.isoformat(),
        "expires": n.expires.strftime("%Y-%m-%d %H:%M"),
        "disinfection": n.disinfection_advised,
        "source": t(f"notices.source.{n.source}"),
        "source_code": n.source,
        "published": n.published_at,
    }


def _params(**values: str | None) -> dict[str, str | None]:
    return dict(values)


def _map_json(counts: dict[str, int], lang: str) -> str | None:
    """A choropleth of visible notices per district, as JSON safe inside <script>."""
    if not counts:
        return None
    t = translator(lang)
    names = [d.name for d in seoul_districts()]
    fig = go.Figure(
        go.Choropleth(
            geojson=_boundaries(),
            featureidkey="properties.name_eng",
            locations=names,
            z=[counts.get(name, 0) for name in names],
            text=[_district_label(name, lang) for name in names],
            colorscale="Oranges",
            colorbar={"title": t("notices.map.count"), "thickness": 12},
            hovertemplate="%{text}: %{z}<extra></extra>",
            marker={"line": {"color": "#ffffff", "width": 0.5}},
        )
    )
    fig.update_geos(fitbounds="locations", visible=False)
    fig.update_layout(height=320, margin={"l": 0, "r": 0, "t": 10, "b": 0})
    text: str = fig.to_json()
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _page_number(raw: str | None) -> int:
    if raw is None or not raw.strip():
        return 1
    text = raw.strip()
    if not text.isdigit() or not 1 <= int(text) <= MAX_PAGE:
        raise NoticeError(f"page: must be a whole number from 1 to {MAX_PAGE}, got {text[:12]!r}")
    return int(text)


@router.get("/public/notices", response_class=HTMLResponse)
def notices_page(
    request: Request,
    session: DbSession,
    district: Text = None,
    start: Text = None,
    end: Text = None,
    source: Text = None,
    as_of: Text = None,
    page: Text = None,
) -> HTMLResponse:
    """Place notices visible now or on a past day, filtered (HTML; Korean or English)."""
    lang = request_language(request)
    now = utcnow()
    given = _params(district=district, start=start, end=end, source=source, as_of=as_of)
    form = {k: (v or "").strip()[:40] for k, v in given.items()}
    ctx: dict[str, Any] = {
        "form": form,
        "districts": [(d.name, d.name_ko if lang == "ko" else d.name) for d in seoul_districts()],
        "sources": SOURCES,
        "error": None,
        "notices": [],
        "total": 0,
        "page": 1,
        "pages": 1,
        "prev_url": None,
        "next_url": None,
        "map_json": None,
        "as_of_text": "",
        "feed_url": "/public/notices.atom",
    }
    try:
        f = service.parse_filters(given, now=now)
        number = _page_number(page)
    except NoticeError as exc:
        ctx["error"] = str(exc)
        return render_public(request, "public_notices.html", ctx, status=400)
    total = service.count_visible(session, **_kwargs(f))
    pages = max(1, math.ceil(total / PAGE_SIZE))
    rows = service.visible_notices(
        session, **_kwargs(f), limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE
    )
    kept = {k: v for k, v in form.items() if v}
    query = urlencode(kept)

    def page_url(n: int) -> str:
        return "/public/notices?" + urlencode({**kept, "page": str(n)})

    ctx.update(
        notices=[notice_view(n, lang) for n in rows],
        total=total,
        page=number,
        pages=pages,
        prev_url=page_url(number - 1) if number > 1 else None,
        next_url=page_url(number + 1) if number < pages else None,
        map_json=_map_json(
            service.district_counts(
                session, as_of=f.as_of, start=f.start, end=f.end, source=f.source
            ),
            lang,
        ),
        as_of_text=f.as_of.astimezone(service.ZONE).strftime("%Y-%m-%d %H:%M"),
        feed_url="/public/notices.atom" + (f"?{query}" if query else ""),
    )
    return render_public(request, "public_notices.html", ctx)


def _kwargs(f: NoticeFilters) -> dict[str, Any]:
    return {
        "as_of": f.as_of,
        "district": f.district,
        "start": f.start,
        "end": f.end,
        "source": f.source,
    }


def _day_stamp(at: dt.datetime) -> str:
    """Local midnight of `at`'s day, RFC 3339: entries say the day they were published, not
    the minute (notices approved together would otherwise share a time and be linkable)."""
    local = at.astimezone(service.ZONE)
    return dt.datetime(local.year, local.month, local.day, tzinfo=service.ZONE).isoformat()


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
    if text is not None:
        element.text = text
    return element


def atom_feed(
    rows: list[NoticeRow], f: NoticeFilters, *, lang: str, base: str, query: str
) -> bytes:
    """An Atom 1.0 document of `rows` (valid: feed id, title, updated, author, entries with
    id, title, updated, summary)."""
    t = translator(lang)
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed", {"{http://www.w3.org/XML/1998/namespace}lang": lang})
    _sub(feed, "id", f"{base}/public/notices.atom" + (f"?{query}" if query else ""))
    _sub(feed, "title", t("notices.feed.title"))
    _sub(feed, "subtitle", t("notices.intro"))
    updated = max((n.published_at for n in rows), default=f.as_of)
    _sub(feed, "updated", _day_stamp(updated) if rows else f.as_of.isoformat())
    _sub(
        feed,
        "link",
        rel="self",
        href=f"{base}/public/notices.atom" + (f"?{query}" if query else ""),
    )
    _sub(
        feed,
        "link",
        rel="alternate",
        type="text/html",
        href=f"{base}/public/notices" + (f"?{query}" if query else ""),
    )
    author = _sub(feed, "author")
    _sub(author, "name", t("site.name"))
    _sub(feed, "rights", t("notices.feed.rights"))
    for n in rows:
        v = notice_view(n, lang)
        entry = _sub(feed, "entry")
        _sub(entry, "id", f"urn:epicity:notice:{n.key}")
        where = ", ".join(p for p in (v["district"], v["address"]) if p)
        _sub(entry, "title", f"{v['title']} ({where})" if where else v["title"])
        _sub(entry, "updated", _day_stamp(n.published_at))
        _sub(entry, "published", _day_stamp(n.published_at))
        _sub(
            entry,
            "link",
            rel="alternate",
            type="text/html",
            href=f"{base}/public/notices?"
            + urlencode({"district": n.district or "", "start": v["date"], "end": v["date"]}),
        )
        _sub(entry, "category", term=n.category, label=v["category"])
        lines = [f"{v['category']}: {v['when']}.", t("notices.advice")]
        if n.disinfection_advised:
            lines.append(t("notices.disinfection"))
        lines.append(t("notices.expires", date=v["expires"]))
        _sub(entry, "summary", " ".join(lines))
    body: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return body


@router.get("/public/notices.atom")
def notices_feed(
    request: Request,
    session: DbSession,
    district: Text = None,
    start: Text = None,
    end: Text = None,
    source: Text = None,
    as_of: Text = None,
) -> Response:
    """The same notices as an Atom 1.0 feed (the newest 100)."""
    lang = request_language(request)
    given = _params(district=district, start=start, end=end, source=source, as_of=as_of)
    try:
        f = service.parse_filters(given, now=utcnow())
    except NoticeError as exc:
        return Response(str(exc), status_code=400, media_type="text/plain; charset=utf-8")
    rows = service.visible_notices(session, **_kwargs(f), limit=FEED_SIZE)
    query = urlencode({k: v.strip() for k, v in given.items() if v and v.strip()})
    base = str(request.base_url).rstrip("/")
    body = atom_feed(rows, f, lang=lang, base=base, query=query)
    return Response(
        body,
        media_type="application/atom+xml; charset=utf-8",
        headers={"Content-Language": lang, "Vary": "Accept-Language, Cookie"},
    )
