"""The open API, v1 (`/api/open/v1/`): the published figures as JSON or CSV, for anyone.

Every answer is JSON by default and CSV with ``?format=csv`` (one scheme for every endpoint,
downloads included). JSON answers are an object with ``licence`` (CC BY 4.0, its URL and the
attribution to give), ``publication`` (the publication they come from) and ``data`` (the
rows); paged ones add ``page``, ``per_page``, ``total``, ``pages`` and ``links``. CSV answers
are the rows with a header line; their licence is in a ``Link: <...>; rel="license"`` header
and their paging in ``Link`` (``next``, ``prev``, ``first``, ``last``) and ``X-Total-Count``.

================================================  ==========================================
``GET /api/open/v1/areas``                        "city" and the districts (Korean names,
                                                  KOSTAT codes)
``GET /api/open/v1/figures``                      daily figures, current revision; filters
                                                  ``area``, ``start``, ``end``; paged
``GET /api/open/v1/figures/latest``               the latest published day, every area
``GET /api/open/v1/revisions?day=&area=``         every revision of one day's figures
``GET /api/open/v1/breakdowns/district_age``      district x age band of confirmed cases,
                                                  small counts protected at publication
``GET /api/open/v1/notices``                      place notices still shown (14 days)
``GET /api/open/v1/bulk/figures``                 the whole history in one file (attachment)
================================================  ==========================================

Caching headers, the rate limit, CORS and the response cache are the edge's
(`epicity.opendata.api_edge`); a route here reads through the service, renders, and names
the publication it read (an internal header the edge turns into the ETag).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime as dt
import email.utils
import io
import json
import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlencode

import anyio
import sqlalchemy as sa
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from sqlalchemy.orm import Session

from epicity.city.districts import seoul_districts
from epicity.db import utcnow
from epicity.notices import service as notices
from epicity.notices.errors import NoticeError
from epicity.opendata import service
from epicity.opendata.api_edge import (
    EXPIRES_HEADER,
    PUBLICATION_HEADER,
    OpenApiConfig,
    OpenApiEdge,
    OpenApiMiddleware,
)
from epicity.opendata.errors import OpendataError
from epicity.opendata.models import Publication
from epicity.web.deps import DbSession, read_only

__all__ = ["LICENCE_URL", "install_open_api", "licence", "router"]

PREFIX = "/api/open/v1"
LICENCE_URL = "https://creativecommons.org/licenses/by/4.0/"
ENV_CITY = "EPICITY_CITY_NAME"
DEFAULT_PER_PAGE = 100
MAX_PER_PAGE = 1000
MAX_PAGE = 1_000_000

T = TypeVar("T")

router = APIRouter(prefix=PREFIX, tags=["open data"])

Format = Annotated[
    Literal["json", "csv"], Query(description="json (default) or csv: the same rows either way")
]
AreaName = Annotated[
    str | None,
    Query(max_length=40, description='"city" or a district, e.g. "Mapo-gu" (see /areas)'),
]
Start = Annotated[dt.date | None, Query(description="first day, YYYY-MM-DD (inclusive)")]
End = Annotated[dt.date | None, Query(description="last day, YYYY-MM-DD (inclusive)")]
Page = Annotated[int, Query(ge=1, le=MAX_PAGE, description="page number, from 1")]
PerPage = Annotated[int, Query(ge=1, le=MAX_PER_PAGE, description="rows a page")]


def city_name() -> str:
    """The city the figures are of (``EPICITY_CITY_NAME``, default Seoul)."""
    return os.environ.get(ENV_CITY, "").strip() or "Seoul"


def licence() -> dict[str, str]:
    """The licence object every JSON answer carries."""
    return {
        "name": "Creative Commons Attribution 4.0 International",
        "spdx": "CC-BY-4.0",
        "url": LICENCE_URL,
        "attribution": f"epicity / {city_name()}",
    }


# ------------------------------------------------------------------------------------------
# validation and rendering


def _invalid(field: str, problem: str) -> RequestValidationError:
    """A 422 naming the field, in the same shape as FastAPI's own validation errors."""
    return RequestValidationError(
        [{"loc": ("query", field), "msg": problem, "type": "value_error"}]
    )


@contextlib.contextmanager
def _refusals() -> Iterator[None]:
    """A service's refusal of bad input ("field: problem") as a 422 naming the field."""
    try:
        yield
    except (OpendataError, NoticeError) as err:
        field, _, problem = str(err).partition(": ")
        raise _invalid(field, problem or str(err)) from None


async def _read(session: Session, work: Callable[[], T]) -> T:
    """`work` (reads only) on the request's session, its refusals as 422s."""
    with _refusals():
        return await read_only(session, work)


def _plain(value: Any) -> Any:
    """A row's value as JSON has it (dates and times as ISO 8601 text)."""
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


def _cell(value: Any) -> str:
    """A JSON value as its CSV cell: empty for null, the same digits for numbers."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def records(rows: Iterable[Any]) -> list[dict[str, Any]]:
    """Dataclass rows (FigureRow, BreakdownRow, NoticeRow) as JSON-ready dicts."""
    return [{f.name: _plain(getattr(row, f.name)) for f in dataclasses.fields(row)} for row in rows]


def _columns(rows: list[dict[str, Any]], kind: type[Any] | None) -> list[str]:
    if rows:
        return list(rows[0])
    return [f.name for f in dataclasses.fields(kind)] if kind is not None else []


def _publication(pub: Publication | None) -> dict[str, Any] | None:
    if pub is None:
        return None
    return {
        "id": pub.id,
        "as_of": pub.as_of.isoformat(),
        "published_at": pub.published_at.isoformat(),
        "note": pub.note,
    }


@dataclasses.dataclass(frozen=True)
class Paging:
    """Where a page sits in the whole."""

    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        """How many pages the whole takes (at least 1)."""
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def offset(self) -> int:
        """Rows before this page."""
        return (self.page - 1) * self.per_page

    def links(self, request: Request) -> dict[str, str | None]:
        """Relative URLs of this page and its neighbours (same query, other page)."""

        def to(page: int) -> str:
            query = [(k, v) for k, v in request.query_params.multi_items() if k != "page"]
            return f"{request.url.path}?{urlencode([*query, ('page', str(page))])}"

        return {
            "self": to(self.page),
            "first": to(1),
            "last": to(self.pages),
            "next": to(self.page + 1) if self.page < self.pages else None,
            "prev": to(min(self.page - 1, self.pages)) if self.page > 1 else None,
        }


def _answer(
    request: Request,
    fmt: str,
    pub: Publication | None,
    rows: list[dict[str, Any]],
    columns: Sequence[str],
    *,
    paging: Paging | None = None,
    extra: dict[str, Any] | None = None,
    download: str | None = None,
    expires: float | None = None,
    dated: bool = True,
) -> Response:
    """The answer in `fmt`, with the headers the edge and the client need: the publication
    (internal), Last-Modified (its time, when `dated`), Cache-Control, Link, and for a
    download Content-Disposition."""
    links: list[str] = [f'<{LICENCE_URL}>; rel="license"']
    headers: dict[str, str] = {
        PUBLICATION_HEADER.decode(): str(pub.id if pub else 0),
        "Cache-Control": f"public, max-age={_max_age(request)}",
    }
    if pub is not None and dated:
        headers["Last-Modified"] = email.utils.format_datetime(
            pub.published_at.astimezone(dt.UTC), usegmt=True
        )
    if expires is not None:
        headers[EXPIRES_HEADER.decode()] = repr(expires)
    body: dict[str, Any] = {"licence": licence(), "publication": _publication(pub)}
    if paging is not None:
        page_links = paging.links(request)
        links += [
            f'<{url}>; rel="{rel}"' for rel, url in page_links.items() if url and rel != "self"
        ]
        headers["X-Total-Count"] = str(paging.total)
        body |= {
            "page": paging.page,
            "per_page": paging.per_page,
            "total": paging.total,
            "pages": paging.pages,
            "links": page_links,
        }
    headers["Link"] = ", ".join(links)
    if download:
        name = f"epicity-{city_name().lower().replace(' ', '-')}-{download}"
        if pub is not None:
            name += f"-{pub.as_of.isoformat()}"
        headers["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(columns)
        writer.writerows([_cell(r.get(c)) for c in columns] for r in rows)
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)
    body |= extra or {}
    body["data"] = rows
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return Response(text, media_type="application/json", headers=headers)


def _max_age(request: Request) -> int:
    edge: OpenApiEdge | None = getattr(request.app.state, "open_api", None)
    return edge.config.max_age if edge is not None else OpenApiConfig().max_age


# ------------------------------------------------------------------------------------------
# routes


@router.get("/areas")
async def areas(request: Request, session: DbSession, format: Format = "json") -> Response:
    """The areas figures are published for: "city" and each district (English name, Korean
    name, KOSTAT code). Use the English name as ``area`` elsewhere."""
    pub = await read_only(session, lambda: service.latest_publication(session))
    districts = {d.name: d for d in seoul_districts()}
    rows = []
    for name in service.areas():
        d = districts.get(name)
        rows.append(
            {
                "area": name,
                "kind": "district" if d else "city",
                "name_ko": d.name_ko if d else "",
                "code": d.code if d else "",
            }
        )
    return _answer(request, format, pub, rows, ["area", "kind", "name_ko", "code"])


@router.get("/figures")
async def figures(
    request: Request,
    session: DbSession,
    area: AreaName = None,
    start: Start = None,
    end: End = None,
    page: Page = 1,
    per_page: PerPage = DEFAULT_PER_PAGE,
    format: Format = "json",
) -> Response:
    """Daily figures (the current revision of each day and area), ordered by day then area.
    Without ``area``: the city and every district."""

    def work() -> tuple[Publication | None, int, list[Any]]:
        pub = service.latest_publication(session)
        total = service.count_figures(session, area=area, start=start, end=end)
        offset = (page - 1) * per_page
        rows = service.current_figures(
            session, area=area, start=start, end=end, limit=per_page, offset=offset
        )
        return pub, total, rows

    pub, total, rows = await _read(session, work)
    data = records(rows)
    paging = Paging(page, per_page, total)
    return _answer(request, format, pub, data, _figure_columns(data), paging=paging)


def _figure_columns(data: list[dict[str, Any]]) -> list[str]:
    return _columns(data, service.FigureRow)


@router.get("/figures/latest")
async def latest(request: Request, session: DbSession, format: Format = "json") -> Response:
    """The latest published day's figures for the city and every district."""

    def work() -> tuple[Publication | None, list[Any]]:
        pub = service.latest_publication(session)
        days = service.count_figures(session, area="city")
        if not days:
            return pub, []
        last = service.current_figures(session, area="city", limit=1, offset=days - 1)[0].day
        return pub, service.current_figures(session, start=last, end=last)

    pub, rows = await _read(session, work)
    data = records(rows)
    return _answer(request, format, pub, data, _figure_columns(data))


@router.get("/revisions")
async def revisions(
    request: Request,
    session: DbSession,
    day: Annotated[dt.date, Query(description="the day, YYYY-MM-DD")],
    area: Annotated[str, Query(max_length=40, description='"city" or a district')],
    format: Format = "json",
) -> Response:
    """Every revision of one day's figures for one area, oldest first: a correction is a new
    revision, and earlier ones stay readable."""

    def work() -> tuple[Publication | None, list[Any]]:
        pub = service.latest_publication(session)
        return pub, service.revisions(session, day=day, area=area)

    pub, rows = await _read(session, work)
    data = records(rows)
    return _answer(request, format, pub, data, _figure_columns(data))


# The published dimensions (`epicity.opendata.models.DIMENSIONS`; a test keeps them equal).
Dimension = Literal["district_age"]


@router.get("/breakdowns/{dimension}")
async def breakdown(
    request: Request,
    session: DbSession,
    dimension: Dimension,
    day: Annotated[
        dt.date | None, Query(description="the day (default: the latest published)")
    ] = None,
    format: Format = "json",
) -> Response:
    """A breakdown of confirmed cases (``district_age``: district x 10-year age band,
    cumulative to the day). Small counts are protected when published: a hidden cell has
    no value and says why (``protection``)."""

    def work() -> tuple[Publication | None, list[Any]]:
        pub = service.latest_publication(session)
        return pub, service.breakdown(session, dimension=dimension, day=day)

    pub, rows = await _read(session, work)
    data = records(rows)
    return _answer(request, format, pub, data, _columns(data, service.BreakdownRow))


@router.get("/bulk/figures")
async def bulk_figures(request: Request, session: DbSession, format: Format = "csv") -> Response:
    """The whole history of the current figures (every day and area) in one file, CSV by
    default, as an attachment."""

    def work() -> tuple[Publication | None, list[Any]]:
        return service.latest_publication(session), service.current_figures(session)

    pub, rows = await _read(session, work)
    data = records(rows)
    return _answer(request, format, pub, data, _figure_columns(data), download="figures")


NOTICE_TTL = 60.0  # seconds a notices answer is reused: notices come and go by the clock
NoticeSource = Literal["tracing", "ds4c"]  # `epicity.notices.models.SOURCES`


@router.get("/notices")
async def place_notices(
    request: Request,
    session: DbSession,
    district: Annotated[
        str | None, Query(max_length=40, description='a district, e.g. "Mapo-gu"')
    ] = None,
    start: Start = None,
    end: End = None,
    source: Annotated[
        NoticeSource | None, Query(description="tracing (epicity's) or ds4c (2020)")
    ] = None,
    as_of: Annotated[
        dt.date | None,
        Query(description="what was shown at the end of that day (default: now)"),
    ] = None,
    page: Page = 1,
    per_page: Annotated[int, Query(ge=1, le=notices.MAX_LIMIT, description="rows a page")] = 100,
    format: Format = "json",
) -> Response:
    """Places confirmed cases visited, as published (place, district, time window; nothing
    about the person), newest visit first. A notice is shown until 14 days after the visit;
    ``as_of`` shows an earlier day's list (e.g. 2020-03-20 for the DS4C notices of 2020)."""
    now = utcnow()

    def work() -> tuple[Publication | None, int, list[Any], dt.datetime]:
        raw = {"district": district, "source": source}
        raw |= {k: v.isoformat() for k, v in (("start", start), ("end", end)) if v is not None}
        if as_of is not None:
            raw["as_of"] = as_of.isoformat()
        f = notices.parse_filters(raw, now=now)
        total = notices.count_visible(
            session, as_of=f.as_of, district=f.district, start=f.start, end=f.end,
            source=f.source,
        )  # fmt: skip
        rows = notices.visible_notices(
            session, as_of=f.as_of, district=f.district, start=f.start, end=f.end,
            source=f.source, limit=per_page, offset=(page - 1) * per_page,
        )  # fmt: skip
        return service.latest_publication(session), total, rows, f.as_of

    pub, total, rows, seen_at = await _read(session, work)
    # Reused until the first listed notice expires, and at most NOTICE_TTL seconds.
    expires = min([now.timestamp() + NOTICE_TTL, *(r.expires.timestamp() for r in rows)])
    data = [r.to_json() for r in rows]
    columns = list(data[0]) if data else _NOTICE_COLUMNS
    return _answer(
        request, format, pub, data, columns, paging=Paging(page, per_page, total),
        extra={"as_of": seen_at.isoformat()}, expires=expires, dated=False,
    )  # fmt: skip


_NOTICE_COLUMNS = [
    "id", "source", "venue_name", "category", "district", "address", "date", "start", "end",
    "expires", "time_known", "disinfection_advised",
]  # fmt: skip


# ------------------------------------------------------------------------------------------
# the edge


def install_open_api(app: FastAPI) -> OpenApiEdge:
    """Put the open API's edge (CORS, rate limit, conditional requests, cache) in front of
    `app`, configured from the environment; kept in ``app.state.open_api``."""
    engine: sa.Engine = app.state.engine
    query = sa.select(sa.func.max(Publication.id))

    def latest() -> int:
        with engine.connect() as con:
            return int(con.execute(query).scalar() or 0)

    async def probe() -> int:
        # A local SQLite file answers faster than a trip to a thread; a server does not.
        if engine.dialect.name == "sqlite":
            return latest()
        return await anyio.to_thread.run_sync(latest)

    edge = OpenApiEdge(OpenApiConfig.from_env(), probe)
    app.state.open_api = edge
    app.add_middleware(OpenApiMiddleware, edge=edge)
    return edge
