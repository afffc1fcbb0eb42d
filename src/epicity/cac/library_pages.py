"""Public pages of the CAC countermeasure library and suppliers directory (no login, Korean
and English, phone-sized).

- ``/cac/countermeasures``: the search box (form ``#library-search``) with filters by city,
  category and language (and a tag, from a tag's link), and the results (``#library-results``,
  one ``.countermeasure`` each: title and snippet with the matched words marked, city, date,
  category, tags), paginated. A query that cannot be searched is answered with the page and
  its reason (400), never a server error.
- ``/cac/countermeasures/{id}``: one countermeasure: its text, tags, attachments, credit.
- ``/cac/suppliers``: the suppliers directory with filters by kind, country, approval and
  words, each approval with its date and what remains to be checked.

The pages call the services directly and stay out of the OpenAPI schema.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from epicity.cac import library_service, suppliers
from epicity.cac.library_errors import LibraryError, LibraryNotFound
from epicity.cac.library_models import (
    APPROVAL_AUTHORITIES,
    CATEGORIES,
    LANGUAGES,
    SUPPLIER_KINDS,
    Supplier,
)
from epicity.cac.library_query import MAX_QUERY_CHARS
from epicity.cac.models import City
from epicity.web.deps import DbSession
from epicity.web.i18n import render_public, request_language, translator

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Text = Annotated[str, Query(max_length=MAX_QUERY_CHARS)]
Page = Annotated[int, Query(ge=1, le=library_service.PAGE_MAX)]
PER_PAGE = 20


def _name(city: City, lang: str) -> str:
    return city.name_local if lang == "ko" else city.name_en


def _choice(value: str, allowed: tuple[str, ...]) -> str | None:
    """A filter's value if allowed; anything else (the empty "all" choice) is no filter."""
    return value if value in allowed else None


def _int(value: str) -> int | None:
    return int(value) if value.isdigit() and 0 < int(value) < 2**63 else None


def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()]


def _labels(lang: str, prefix: str, values: tuple[str, ...]) -> dict[str, str]:
    """Each value's label in `lang` (keys ``<prefix>.<value>`` of the catalogs)."""
    t = translator(lang)
    return {v: t(f"{prefix}.{v}") for v in values}


def _approved_cities(session: Session) -> list[City]:
    return list(
        session.scalars(select(City).where(City.status == "approved").order_by(City.name_en))
    )


@router.get("/cac/countermeasures", response_class=HTMLResponse)
def countermeasures_page(
    request: Request,
    session: DbSession,
    q: Text = "",
    city: Annotated[str, Query(max_length=20)] = "",
    category: Annotated[str, Query(max_length=30)] = "",
    language: Annotated[str, Query(max_length=5)] = "",
    tag: Annotated[str, Query(max_length=library_service.TAG_MAX)] = "",
    page: Page = 1,
) -> Response:
    """Search the countermeasure library."""
    lang = request_language(request)
    city_id = _int(city)
    chosen_category = _choice(category, CATEGORIES)
    chosen_language = _choice(language, LANGUAGES)
    error = None
    try:
        found = library_service.search(
            session,
            q=q,
            city_id=city_id,
            category=chosen_category,
            language=chosen_language,
            tag=tag.strip() or None,
            page=page,
            per_page=PER_PAGE,
        )
    except LibraryError as err:
        error = str(err)
        found = library_service.SearchPage([], 0, 1, PER_PAGE)
    tags = library_service.tags_of(session, [h.countermeasure.id for h in found.hits])
    hits = [
        {
            "id": h.countermeasure.id,
            "title": library_service.highlight_html(h.title),
            "snippet": library_service.highlight_html(h.snippet),
            "city": _name(h.city, lang),
            "date": h.countermeasure.day.isoformat(),
            "end_date": h.countermeasure.end_day.isoformat() if h.countermeasure.end_day else "",
            "category": h.countermeasure.category,
            "language": h.countermeasure.language,
            "tags": tags[h.countermeasure.id],
        }
        for h in found.hits
    ]
    pairs = (("q", q), ("city", city), ("category", category), ("language", language))
    query = [(k, v) for k, v in (*pairs, ("tag", tag)) if v]
    context: dict[str, Any] = {
        "q": q,
        "city": city_id,
        "category": chosen_category or "",
        "language_filter": chosen_language or "",
        "tag": tag.strip(),
        "cities": [(c.id, _name(c, lang)) for c in _approved_cities(session)],
        "categories": _labels(lang, "cac.library.category", CATEGORIES),
        "languages_all": _labels(lang, "cac.library.language", LANGUAGES),
        "hits": hits,
        "total": found.total,
        "page": found.page,
        "pages": found.pages,
        "page_query": query,
        "error": error,
    }
    return render_public(request, "cac_countermeasures.html", context, status=400 if error else 200)


@router.get("/cac/countermeasures/{countermeasure_id}", response_class=HTMLResponse)
def countermeasure_page(request: Request, session: DbSession, countermeasure_id: RowId) -> Response:
    """One countermeasure: text, tags, attachments and credit."""
    lang = request_language(request)
    try:
        row = library_service.get_countermeasure(session, countermeasure_id=countermeasure_id)
    except LibraryNotFound:
        return render_public(
            request, "cac_countermeasure.html", {"missing": countermeasure_id}, status=404
        )
    city = session.get(City, row.city_id)
    assert city is not None
    attachments = library_service.attachments_of(session, countermeasure_id=row.id)
    context = {
        "missing": None,
        "item": row,
        "city_name": _name(city, lang),
        "city_id": city.id,
        "category_label": translator(lang)(f"cac.library.category.{row.category}"),
        "paragraphs": _paragraphs(row.body),
        "tags": library_service.tags_of(session, [row.id])[row.id],
        "attachments": [
            {
                "url": f"/api/cac/v1/countermeasures/{row.id}/attachments/{a.id}",
                "filename": a.filename,
                "kind": a.content_type,
                "kib": max(1, round(a.size / 1024)),
            }
            for a in attachments
        ],
    }
    return render_public(request, "cac_countermeasure.html", context)


def _approval_rows(approvals: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "authority": a["authority"],
            "date": a["approved_on"].isoformat() if a["approved_on"] else "",
            "note": a["note"],
            "source": a["source"],
            "to_check": a["note"].startswith("to check") or a["approved_on"] is None,
        }
        for a in approvals
    ]


@router.get("/cac/suppliers", response_class=HTMLResponse)
def suppliers_page(
    request: Request,
    session: DbSession,
    kind: Annotated[str, Query(max_length=30)] = "",
    country: Annotated[str, Query(max_length=2)] = "",
    authority: Annotated[str, Query(max_length=30)] = "",
    q: Annotated[str, Query(max_length=100)] = "",
    page: Page = 1,
) -> Response:
    """The suppliers directory with its filters."""
    lang = request_language(request)
    code = country.strip().upper()
    found = suppliers.list_suppliers(
        session,
        kind=_choice(kind, SUPPLIER_KINDS),
        country=code if len(code) == 2 and code.isalpha() else None,
        authority=_choice(authority, APPROVAL_AUTHORITIES),
        q=q,
        page=page,
        per_page=50,
    )
    approvals = suppliers.approvals_of(session, [s.id for s in found.suppliers])
    countries = sorted(set(session.scalars(select(Supplier.country).distinct())))
    rows = [
        {
            "company": (s.company_local or s.company) if lang == "ko" else s.company,
            "company_other": s.company if lang == "ko" and s.company_local else s.company_local,
            "product": s.product,
            "kind": s.kind,
            "country": s.country,
            "website": s.website,
            "contact": s.contact,
            "capacity": f"{s.daily_capacity:,}" if s.daily_capacity is not None else "",
            "approvals": _approval_rows(approvals[s.id]),
            "source": s.source,
        }
        for s in found.suppliers
    ]
    query = [
        (k, v)
        for k, v in (("kind", kind), ("country", code), ("authority", authority), ("q", q))
        if v
    ]
    context = {
        "rows": rows,
        "total": found.total,
        "page": found.page,
        "pages": found.pages,
        "page_query": query,
        "kinds": _labels(lang, "cac.suppliers.kind", SUPPLIER_KINDS),
        "authorities": _labels(lang, "cac.suppliers.authority", APPROVAL_AUTHORITIES),
        "countries": countries,
        "kind": kind,
        "country": code,
        "authority": authority,
        "q": q,
    }
    return render_public(request, "cac_suppliers.html", context)
