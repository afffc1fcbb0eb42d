"""The CAC countermeasure library and suppliers directory over HTTP (`/api/cac/v1`).

- The public: search and list countermeasures (``GET /countermeasures?q=&city=&category=&
  tag=&language=&page=``: ranked hits with the matched words marked), read one with its text
  and attachments' links, download an attachment; list and filter suppliers, read one.
- A city's publishers with the city's key (``Authorization: Bearer cac_...`` or
  ``X-API-Key``, checked by `epicity.cac.routes.current_publisher`) or staff with
  ``manage_cities``: post a countermeasure (a publisher for its own city; staff name the
  city), attach a file to one (the file's bytes as the request body, its name in
  ``?filename=``).
- Staff with ``manage_cities``: add or update a supplier.

Refusals are `LibraryError`s with the field and the problem (400), mapped to 404 (unknown
id), 409, 413 (file too large) and 415 (file type) by the web layer; malformed bodies get
FastAPI's field-level 422.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from epicity.accounts.permissions import Capability
from epicity.cac import library_service, suppliers
from epicity.cac.library_errors import AttachmentTooLarge
from epicity.cac.library_files import (
    EXTENSIONS,
    MAX_ATTACHMENT_BYTES,
    content_disposition,
)
from epicity.cac.library_models import (
    APPROVAL_AUTHORITIES,
    CATEGORIES,
    COMPANY_MAX,
    CONTACT_MAX,
    LANGUAGES,
    LICENCE_MAX,
    NOTE_MAX,
    PRODUCT_MAX,
    REF_MAX,
    SOURCE_MAX,
    SUPPLIER_KINDS,
    TITLE_MAX,
    URL_MAX,
)
from epicity.cac.library_query import MAX_QUERY_CHARS
from epicity.cac.models import City
from epicity.cac.routes import current_publisher, publisher_key
from epicity.db import utcnow
from epicity.web.deps import Caller, DbSession, current_caller, in_thread, need

__all__ = ["Poster", "library_poster", "router"]

router = APIRouter(prefix="/api/cac/v1", tags=["cac library"])

Admin = Annotated[Caller, Depends(need(Capability.MANAGE_CITIES))]
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Category = Literal[
    "alert",
    "testing",
    "tracing",
    "isolation",
    "social_distancing",
    "masks",
    "schools",
    "borders",
    "relief",
    "communication",
    "technology",
    "other",
]
Language = Literal["ko", "en"]
Kind = Literal[
    "pcr_kit",
    "antigen_test",
    "antibody_test",
    "swab",
    "transport_medium",
    "ppe",
    "mask",
    "ventilator",
    "other",
]
Authority = Literal[
    "kr_mfds_eua", "kr_mfds", "kr_mfds_export", "us_fda_eua", "ce_ivd", "who_eul", "other"
]
assert set(Category.__args__) == set(CATEGORIES)  # type: ignore[attr-defined]
assert set(Language.__args__) == set(LANGUAGES)  # type: ignore[attr-defined]
assert set(Kind.__args__) == set(SUPPLIER_KINDS)  # type: ignore[attr-defined]
assert set(Authority.__args__) == set(APPROVAL_AUTHORITIES)  # type: ignore[attr-defined]

Tag = Annotated[str, Field(min_length=1, max_length=library_service.TAG_MAX)]
_FILE_TYPES = sorted(set(EXTENSIONS.values()) | {"application/octet-stream"})
# Files are served so a browser never runs them: no sniffing, no scripts, a sandbox.
_FILE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cache-Control": "public, max-age=86400",
}


@dataclass(frozen=True)
class Poster:
    """Who posts to the library: a publisher (its city fixed) or a staff member."""

    actor: str
    city_id: int | None  # the publisher's city; None for staff


async def library_poster(request: Request, session: DbSession) -> Poster:
    """A city's publisher (by its key) or a staff member with ``manage_cities``: 401 with
    neither, 403 for staff without the capability."""
    if publisher_key(request) is not None:
        publisher = await in_thread(session, lambda: current_publisher(request, session))
        return Poster(f"publisher:{publisher.key_prefix}", publisher.city_id)
    caller = await current_caller(request, session)
    await need(Capability.MANAGE_CITIES)(request, caller)
    return Poster(caller.actor, None)


PosterDep = Annotated[Poster, Depends(library_poster)]


class NewCountermeasure(BaseModel):
    """A countermeasure to post (or, with an ``external_ref`` posted before, to update)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "title": "Drive-through screening centres",
                    "date": "2020-02-26",
                    "category": "testing",
                    "language": "en",
                    "text": "Screening centres where people are tested without leaving "
                    "their cars: about 10 minutes per test, no waiting room.",
                    "tags": ["drive-through", "screening"],
                    "external_ref": "seoul-2020-017",
                }
            ]
        },
    )

    city_id: int | None = Field(
        None, ge=1, le=2**63 - 1, description="staff only; a publisher posts for its city"
    )
    title: str = Field(min_length=1, max_length=TITLE_MAX)
    date: dt.date = Field(description="when the measure started (or was announced)")
    end_date: dt.date | None = Field(None, description="when it ended, if it has")
    category: Category
    language: Language
    text: str = Field(min_length=1, max_length=library_service.BODY_MAX)
    tags: list[Tag] = Field(default_factory=list, max_length=library_service.MAX_TAGS)
    source: str = Field("", max_length=SOURCE_MAX, description="whom to credit")
    licence: str = Field("", max_length=LICENCE_MAX)
    source_url: str = Field("", max_length=URL_MAX)
    external_ref: str | None = Field(
        None, min_length=1, max_length=REF_MAX, description="the poster's own id of it"
    )


class Approval(BaseModel):
    """A regulatory approval of a supplier's product."""

    model_config = ConfigDict(extra="forbid")

    authority: Authority
    date: dt.date | None = None
    reference: str = Field("", max_length=SOURCE_MAX)
    source: str = Field("", max_length=SOURCE_MAX)
    note: str = Field("", max_length=SOURCE_MAX)


class NewSupplier(BaseModel):
    """A supplier's product for the directory (updated when listed already)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "company": "Seegene Inc.",
                    "company_local": "씨젠",
                    "product": "Allplex 2019-nCoV Assay",
                    "kind": "pcr_kit",
                    "country": "KR",
                    "website": "https://www.seegene.com",
                    "approvals": [{"authority": "kr_mfds_eua", "date": "2020-02-12"}],
                    "source": "KCDC briefing, 2020-02-12",
                }
            ]
        },
    )

    company: str = Field(min_length=1, max_length=COMPANY_MAX)
    company_local: str = Field("", max_length=COMPANY_MAX)
    product: str = Field(min_length=1, max_length=PRODUCT_MAX)
    kind: Kind
    country: str = Field(min_length=2, max_length=2, description="ISO 3166 alpha-2")
    website: str = Field("", max_length=URL_MAX)
    contact: str = Field(
        "", max_length=CONTACT_MAX, description="the company's business contact, never a person"
    )
    daily_capacity: int | None = Field(None, ge=0, le=suppliers.MAX_CAPACITY)
    notes: str = Field("", max_length=NOTE_MAX)
    source: str = Field("", max_length=NOTE_MAX)
    approvals: list[Approval] = Field(default_factory=list, max_length=suppliers.MAX_APPROVALS)
    external_ref: str | None = Field(None, min_length=1, max_length=REF_MAX)


def _status(what: str) -> int:
    return 201 if what == "created" else 200


def _full_json(session: Session, countermeasure_id: int) -> dict[str, Any]:
    row = library_service.get_countermeasure(session, countermeasure_id=countermeasure_id)
    city = session.get(City, row.city_id)
    assert city is not None
    return library_service.countermeasure_json(
        row,
        city,
        library_service.tags_of(session, [row.id])[row.id],
        library_service.attachments_of(session, countermeasure_id=row.id),
    )


@router.get("/countermeasures")
def countermeasures(
    session: DbSession,
    q: Annotated[str | None, Query(max_length=MAX_QUERY_CHARS)] = None,
    city: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    category: Category | None = None,
    tag: Annotated[str | None, Query(min_length=1, max_length=library_service.TAG_MAX)] = None,
    language: Language | None = None,
    page: Annotated[int, Query(ge=1, le=library_service.PAGE_MAX)] = 1,
    per_page: Annotated[int, Query(ge=1, le=library_service.PER_PAGE_MAX)] = 20,
) -> dict[str, Any]:
    """Countermeasures of approved cities: with `q`, those matching the full-text query
    (words, "phrases", prefix*, -exclusions, OR), best first, with the matched words marked
    in `highlight` (HTML: the text escaped, matches in ``<mark>``); without, newest first."""
    found = library_service.search(
        session,
        q=q,
        city_id=city,
        category=category,
        tag=tag,
        language=language,
        page=page,
        per_page=per_page,
    )
    tags = library_service.tags_of(session, [h.countermeasure.id for h in found.hits])
    items = []
    for hit in found.hits:
        item = library_service.countermeasure_json(
            hit.countermeasure, hit.city, tags[hit.countermeasure.id], None
        )
        item["highlight"] = {
            "title": str(library_service.highlight_html(hit.title)),
            "snippet": str(library_service.highlight_html(hit.snippet)),
        }
        item["rank"] = hit.rank
        items.append(item)
    return {
        "items": items,
        "total": found.total,
        "page": found.page,
        "per_page": found.per_page,
        "pages": found.pages,
    }


@router.post(
    "/countermeasures",
    status_code=201,
    responses={200: {"description": "an entry of that external_ref updated or unchanged"}},
)
def post_countermeasure(
    session: DbSession, poster: PosterDep, body: NewCountermeasure
) -> JSONResponse:
    """Post a countermeasure: a publisher for its own city, staff with ``manage_cities`` for
    the approved city they name. Re-posting an ``external_ref`` updates that entry (200)."""
    if poster.city_id is None:
        if body.city_id is None:
            raise HTTPException(422, "city_id: required when staff post")
        city_id = body.city_id
    else:
        if body.city_id is not None and body.city_id != poster.city_id:
            raise HTTPException(403, f"city_id: your key posts for city {poster.city_id} only")
        city_id = poster.city_id
    row, what = library_service.post_countermeasure(
        session,
        city_id=city_id,
        title=body.title,
        day=body.date,
        end_day=body.end_date,
        category=body.category,
        language=body.language,
        body=body.text,
        tags=body.tags,
        source=body.source,
        licence=body.licence,
        source_url=body.source_url,
        external_ref=body.external_ref,
        actor=poster.actor,
        now=utcnow(),
    )
    return JSONResponse(
        {"status": what, "countermeasure": _full_json(session, row.id)}, status_code=_status(what)
    )


@router.get("/countermeasures/{countermeasure_id}")
def countermeasure(session: DbSession, countermeasure_id: RowId) -> dict[str, Any]:
    """A countermeasure with its text, tags and attachments' links."""
    return _full_json(session, countermeasure_id)


async def _read_body(request: Request) -> bytes:
    """The request body, refused as soon as it passes the size limit."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_ATTACHMENT_BYTES:
        raise AttachmentTooLarge("file", f"at most {MAX_ATTACHMENT_BYTES:,} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_ATTACHMENT_BYTES:
            raise AttachmentTooLarge("file", f"at most {MAX_ATTACHMENT_BYTES:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/countermeasures/{countermeasure_id}/attachments",
    status_code=201,
    responses={
        200: {"description": "the same file was attached already"},
        413: {"description": "the file is larger than the limit"},
        415: {"description": "not a PDF, PNG, JPEG, plain text or CSV file"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": f"the file's bytes (at most {MAX_ATTACHMENT_BYTES:,})",
            "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in _FILE_TYPES},
        }
    },
)
async def attach(
    request: Request,
    session: DbSession,
    poster: PosterDep,
    countermeasure_id: RowId,
    filename: Annotated[str, Query(min_length=1, max_length=200)],
) -> JSONResponse:
    """Attach a file to a countermeasure (a publisher: of its own city): PDF, PNG, JPEG,
    plain text or CSV, at most 5 MiB, the type shown by its bytes and matching its name's
    extension. The same file twice is stored once (200)."""
    data = await _read_body(request)
    declared = request.headers.get("content-type", "")

    def work() -> tuple[dict[str, Any], bool]:
        attachment, created = library_service.add_attachment(
            session,
            countermeasure_id=countermeasure_id,
            filename=filename,
            data=data,
            declared_type=declared,
            actor=poster.actor,
            now=utcnow(),
            city_id=poster.city_id,
        )
        return {
            "id": attachment.id,
            "filename": attachment.filename,
            "content_type": attachment.content_type,
            "size": attachment.size,
            "sha256": attachment.sha256,
            "url": f"/api/cac/v1/countermeasures/{countermeasure_id}/attachments/{attachment.id}",
        }, created

    body, created = await in_thread(session, work)
    return JSONResponse(body, status_code=201 if created else 200)


@router.get(
    "/countermeasures/{countermeasure_id}/attachments/{attachment_id}",
    response_class=Response,
    responses={200: {"content": {t: {} for t in _FILE_TYPES}}},
)
def attachment(session: DbSession, countermeasure_id: RowId, attachment_id: RowId) -> Response:
    """An attachment's bytes, with its type and name (images inline, other files as
    downloads), never sniffed or run by the browser."""
    row = library_service.get_attachment(
        session, countermeasure_id=countermeasure_id, attachment_id=attachment_id
    )
    media_type = row.content_type + (
        "; charset=utf-8" if row.content_type.startswith("text/") else ""
    )
    headers = {
        **_FILE_HEADERS,
        "Content-Disposition": content_disposition(
            row.filename, inline=row.content_type.startswith("image/")
        ),
        "ETag": f'"{row.sha256}"',
    }
    return Response(row.data, media_type=media_type, headers=headers)


@router.get("/suppliers")
def supplier_list(
    session: DbSession,
    kind: Kind | None = None,
    country: Annotated[str | None, Query(min_length=2, max_length=2)] = None,
    authority: Authority | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    min_capacity: Annotated[int | None, Query(ge=0, le=suppliers.MAX_CAPACITY)] = None,
    page: Annotated[int, Query(ge=1, le=suppliers.PAGE_MAX)] = 1,
    per_page: Annotated[int, Query(ge=1, le=suppliers.PER_PAGE_MAX)] = 50,
) -> dict[str, Any]:
    """The suppliers directory, filtered by kind of product, country, an approval's
    authority, words in the company or product, and a least daily capacity."""
    found = suppliers.list_suppliers(
        session,
        kind=kind,
        country=country,
        authority=authority,
        q=q,
        min_capacity=min_capacity,
        page=page,
        per_page=per_page,
    )
    approvals = suppliers.approvals_of(session, [s.id for s in found.suppliers])
    return {
        "items": [suppliers.supplier_json(s, approvals[s.id]) for s in found.suppliers],
        "total": found.total,
        "page": found.page,
        "per_page": found.per_page,
        "pages": found.pages,
    }


@router.get("/suppliers/{supplier_id}")
def supplier(session: DbSession, supplier_id: RowId) -> dict[str, Any]:
    """One supplier's entry with its approvals."""
    row = suppliers.get_supplier(session, supplier_id=supplier_id)
    return suppliers.supplier_json(row, suppliers.approvals_of(session, [row.id])[row.id])


@router.post("/suppliers", status_code=201, responses={200: {"description": "updated"}})
def post_supplier(session: DbSession, caller: Admin, body: NewSupplier) -> JSONResponse:
    """Add a supplier's product to the directory, or update it (same external_ref, else same
    company and product): staff with ``manage_cities``."""
    data = body.model_dump()
    approvals = [a.model_dump() for a in body.approvals]
    data["approvals"] = approvals
    row, what = suppliers.upsert_supplier(session, actor=caller.actor, now=utcnow(), **data)
    return JSONResponse(
        {
            "status": what,
            "supplier": suppliers.supplier_json(
                row, suppliers.approvals_of(session, [row.id])[row.id]
            ),
        },
        status_code=_status(what),
    )
