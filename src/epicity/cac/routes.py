"""Cities Against COVID-19 over HTTP (`/api/cac/v1`).

- The public: register a city (pending until approved), read approved cities, their daily
  updates (paginated) and each day's revisions, compare cities per capita, read the schema.
- The admin (``manage_cities``): list registrations, approve or reject them, make and revoke
  publishers' API keys (a key is in the answer that creates it, and nowhere else ever).
- A city's publishers, with the city's key (``Authorization: Bearer cac_...`` or
  ``X-API-Key: cac_...``; a staff login is not a key): post daily updates.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from epicity.accounts.permissions import Capability
from epicity.cac import service
from epicity.cac.compare import MAX_PER, MAX_SMOOTH
from epicity.cac.errors import CacInvalid, KeyInvalid, UpdatesInvalid
from epicity.cac.models import (
    EMAIL_MAX,
    LABEL_MAX,
    METRICS,
    NAME_MAX,
    NOTE_MAX,
    TIME_ZONE_MAX,
    City,
    Publisher,
)
from epicity.cac.schema import DAILY_UPDATE_SCHEMA, FIRST_DAY
from epicity.db import utcnow
from epicity.web.deps import Caller, DbSession, need

__all__ = ["CityId", "parse_city_ids", "publisher_key", "router"]

router = APIRouter(prefix="/api/cac/v1", tags=["cac"])

Admin = Annotated[Caller, Depends(need(Capability.MANAGE_CITIES))]
CityId = Annotated[int, Path(ge=1, le=2**63 - 1)]
PublisherId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=10**9)]
Metric = Literal[
    "confirmed_new",
    "confirmed_total",
    "deaths_new",
    "deaths_total",
    "recovered_new",
    "recovered_total",
    "tests_new",
    "tests_total",
    "in_isolation",
]
assert set(Metric.__args__) == set(METRICS)  # type: ignore[attr-defined]
_REALM = {"WWW-Authenticate": 'Bearer realm="cac"'}
MAX_COMPARED = 12


def publisher_key(request: Request) -> str | None:
    """The CAC key the request presents: ``X-API-Key``, else a ``cac_`` bearer token."""
    key = request.headers.get("x-api-key", "").strip()
    if key:
        return key
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    secret = secret.strip()
    if scheme.lower() == "bearer" and secret.startswith("cac_"):
        return secret
    return None


def current_publisher(request: Request, session: DbSession) -> Publisher:
    """The publisher whose key the request carries; 401 without a valid key (a staff login
    does not count: only a city's key posts for that city)."""
    secret = publisher_key(request)
    if secret is None:
        raise HTTPException(
            401,
            "api key: send the city's key as Authorization: Bearer cac_... or X-API-Key",
            headers=_REALM,
        )
    try:
        return service.authenticate(session, secret=secret, now=utcnow())
    except KeyInvalid as err:
        raise HTTPException(401, str(err), headers=_REALM) from err


CurrentPublisher = Annotated[Publisher, Depends(current_publisher)]


class Registration(BaseModel):
    """A city's registration: names, country, population, time zone, a contact address."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name_en": "Seoul",
                    "name_local": "서울특별시",
                    "country": "KR",
                    "population": 9_668_465,
                    "time_zone": "Asia/Seoul",
                    "contact_email": "cac@seoul.go.kr",
                }
            ]
        }
    )

    name_en: str = Field(min_length=1, max_length=NAME_MAX, description="the name in English")
    name_local: str = Field(
        min_length=1, max_length=NAME_MAX, description="the name in the local script"
    )
    country: str = Field(min_length=2, max_length=2, description="ISO 3166 alpha-2, e.g. KR")
    population: int = Field(ge=1, le=service.MAX_POPULATION)
    time_zone: str = Field(min_length=1, max_length=TIME_ZONE_MAX, description="IANA zone")
    contact_email: str = Field(
        min_length=3, max_length=EMAIL_MAX, description="for the platform's staff; never public"
    )


class Decision(BaseModel):
    """The admin's decision on a registration; approving may issue the city's first key."""

    note: str = Field("", max_length=NOTE_MAX)
    issue_key: bool = Field(True, description="approve only: make a first publisher key")
    label: str = Field("first key", min_length=1, max_length=LABEL_MAX)


class NewPublisher(BaseModel):
    """A new publisher key's label (who or what holds it)."""

    label: str = Field(min_length=1, max_length=LABEL_MAX)


def city_json(city: City, *, private: bool = False) -> dict[str, Any]:
    """A city as JSON; `private` adds what only the admin sees (contact, registration)."""
    out: dict[str, Any] = {
        "id": city.id,
        "kind": city.kind,
        "name_en": city.name_en,
        "name_local": city.name_local,
        "country": city.country,
        "population": city.population,
        "time_zone": city.time_zone,
        "approved_at": city.decided_at.isoformat()
        if city.status == "approved" and city.decided_at
        else None,
    }
    if private:
        out.update(
            {
                "status": city.status,
                "contact_email": city.contact_email,
                "registered_at": city.registered_at.isoformat(),
                "decided_at": city.decided_at.isoformat() if city.decided_at else None,
                "decided_by": city.decided_by,
                "decision_note": city.decision_note,
            }
        )
    return out


def publisher_json(publisher: Publisher, key: str | None = None) -> dict[str, Any]:
    """A publisher as JSON (the key itself only in the answer that made it)."""
    out: dict[str, Any] = {
        "id": publisher.id,
        "city_id": publisher.city_id,
        "label": publisher.label,
        "key_prefix": publisher.key_prefix,
        "created_at": publisher.created_at.isoformat(),
        "created_by": publisher.created_by,
        "revoked_at": publisher.revoked_at.isoformat() if publisher.revoked_at else None,
        "last_used_at": publisher.last_used_at.isoformat() if publisher.last_used_at else None,
    }
    if key is not None:
        out["key"] = key
        out["key_note"] = "shown this once: store it now; epicity keeps only its hash"
    return out


def parse_city_ids(text: str) -> list[int]:
    """``"1,2,3"`` as ids (at most `MAX_COMPARED`), or `CacInvalid` naming ``cities``."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise CacInvalid("cities", "give one or more city ids, e.g. cities=1,2")
    if len(parts) > MAX_COMPARED:
        raise CacInvalid("cities", f"at most {MAX_COMPARED} cities")
    ids = []
    for part in parts:
        if not part.isdigit() or not 1 <= int(part) <= 2**63 - 1:
            raise CacInvalid("cities", f"{part[:20]!r} is not a city id")
        ids.append(int(part))
    return ids


# -- the public -------------------------------------------------------------------------------


@router.get("/schema/daily-update")
def daily_update_schema() -> dict[str, Any]:
    """The JSON Schema of one daily update (a batch is an array of them)."""
    return DAILY_UPDATE_SCHEMA


@router.post("/cities", status_code=201)
def register(session: DbSession, body: Registration) -> dict[str, Any]:
    """Register a city. It stays ``pending``, and invisible to the public, until the admin
    approves it; the contact address is never published."""
    city = service.register_city(session, now=utcnow(), **body.model_dump())
    return city_json(city, private=True)


@router.get("/cities")
def cities(session: DbSession, limit: Limit = 100, offset: Offset = 0) -> dict[str, Any]:
    """Approved cities, by English name, each with its latest day."""
    rows = service.list_cities(session, status="approved", limit=limit, offset=offset)
    latest = service.latest_updates(session, city_ids=[c.id for c in rows])
    items = []
    for city in rows:
        item = city_json(city)
        last = latest.get(city.id)
        item["latest"] = service.update_json(last) if last is not None else None
        items.append(item)
    total = service.count_cities(session, status="approved")
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.get("/cities/{city_id}")
def city(session: DbSession, city_id: CityId) -> dict[str, Any]:
    """An approved city (any other id is a 404)."""
    return city_json(service.get_city(session, city_id=city_id))


@router.get("/cities/{city_id}/updates")
def updates(
    session: DbSession,
    city_id: CityId,
    start: Annotated[dt.date | None, Query(ge=FIRST_DAY, le=dt.date(2100, 1, 1))] = None,
    end: Annotated[dt.date | None, Query(ge=FIRST_DAY, le=dt.date(2100, 1, 1))] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    """An approved city's days (current revisions), oldest first, between `start` and `end`."""
    service.get_city(session, city_id=city_id)
    rows = service.list_updates(
        session, city_id=city_id, start=start, end=end, limit=limit, offset=offset
    )
    total = service.count_updates(session, city_id=city_id, start=start, end=end)
    return {
        "items": [service.update_json(r) for r in rows],
        "total": total,
        "limit": limit,
        "offset": offset,
    }


@router.get("/cities/{city_id}/updates/{day}/revisions")
def day_revisions(
    session: DbSession,
    city_id: CityId,
    day: Annotated[dt.date, Path(ge=FIRST_DAY, le=dt.date(2100, 1, 1))],
) -> dict[str, Any]:
    """Every revision of a city's day, the current one last (404 when no such day)."""
    service.get_city(session, city_id=city_id)
    rows = service.revisions(session, city_id=city_id, day=day)
    if not rows:
        raise HTTPException(404, f"day: city {city_id} has no update for {day}")
    return {
        "city_id": city_id,
        "date": day.isoformat(),
        "revisions": [service.update_json(r) for r in rows],
    }


@router.get("/compare")
def compare(
    session: DbSession,
    cities: Annotated[str, Query(min_length=1, max_length=300, description="ids, e.g. 1,2")],
    metric: Metric = "confirmed_new",
    per: Annotated[int, Query(ge=1, le=MAX_PER)] = 100_000,
    smooth: Annotated[int, Query(ge=1, le=MAX_SMOOTH)] = 1,
    start: Annotated[dt.date | None, Query(ge=FIRST_DAY, le=dt.date(2100, 1, 1))] = None,
    end: Annotated[dt.date | None, Query(ge=FIRST_DAY, le=dt.date(2100, 1, 1))] = None,
) -> dict[str, Any]:
    """Approved cities' `metric` per `per` people, as a trailing mean over `smooth` days
    (a day whose window lacks a report is null)."""
    series = service.compare(
        session,
        city_ids=parse_city_ids(cities),
        metric=metric,
        per=per,
        smooth=smooth,
        start=start,
        end=end,
    )
    return {
        "metric": metric,
        "per": per,
        "smooth": smooth,
        "cities": [s.to_json() for s in series],
    }


# -- the admin --------------------------------------------------------------------------------


@router.get("/registrations")
def registrations(
    session: DbSession,
    _: Admin,
    status: Literal["pending", "approved", "rejected"] | None = "pending",
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Registrations with `status` (default pending), with their contact addresses."""
    rows = service.list_cities(session, status=status, limit=limit, offset=offset)
    return {
        "items": [city_json(c, private=True) for c in rows],
        "total": service.count_cities(session, status=status),
        "limit": limit,
        "offset": offset,
    }


@router.post("/cities/{city_id}/approve")
def approve(
    session: DbSession, caller: Admin, city_id: CityId, body: Decision | None = None
) -> dict[str, Any]:
    """Approve a pending city; unless ``issue_key`` is false, its first publisher key is made
    and returned here, once."""
    body = body or Decision.model_validate({})
    now = utcnow()
    city = service.decide_city(
        session, city_id=city_id, approve=True, actor=caller.actor, now=now, note=body.note
    )
    out: dict[str, Any] = {"city": city_json(city, private=True), "publisher": None}
    if body.issue_key:
        publisher, key = service.create_publisher(
            session, city_id=city.id, label=body.label, actor=caller.actor, now=now
        )
        out["publisher"] = publisher_json(publisher, key)
    return out


@router.post("/cities/{city_id}/reject")
def reject(
    session: DbSession, caller: Admin, city_id: CityId, body: Decision | None = None
) -> dict[str, Any]:
    """Reject a pending city (it never becomes public)."""
    body = body or Decision.model_validate({})
    city = service.decide_city(
        session, city_id=city_id, approve=False, actor=caller.actor, now=utcnow(), note=body.note
    )
    return {"city": city_json(city, private=True)}


@router.get("/cities/{city_id}/publishers")
def publishers(session: DbSession, _: Admin, city_id: CityId) -> list[dict[str, Any]]:
    """A city's publisher keys (prefixes, never the keys), newest first."""
    service.get_city(session, city_id=city_id, public=False)
    return [publisher_json(p) for p in service.list_publishers(session, city_id=city_id)]


@router.post("/cities/{city_id}/publishers", status_code=201)
def new_publisher(
    session: DbSession, caller: Admin, city_id: CityId, body: NewPublisher
) -> dict[str, Any]:
    """Make a publisher key for an approved city; the key is in this answer only."""
    publisher, key = service.create_publisher(
        session, city_id=city_id, label=body.label, actor=caller.actor, now=utcnow()
    )
    return publisher_json(publisher, key)


@router.post("/publishers/{publisher_id}/revoke")
def revoke(session: DbSession, caller: Admin, publisher_id: PublisherId) -> dict[str, Any]:
    """Revoke a key: refused from the next request on."""
    publisher = service.revoke_publisher(
        session, publisher_id=publisher_id, actor=caller.actor, now=utcnow()
    )
    return publisher_json(publisher)


# -- publishers -------------------------------------------------------------------------------


@router.get("/publisher")
def whoami(session: DbSession, publisher: CurrentPublisher) -> dict[str, Any]:
    """The key's publisher and city (to check a key works)."""
    city = service.get_city(session, city_id=publisher.city_id)
    return {"publisher": publisher_json(publisher), "city": city_json(city)}


_BATCH_BODY = {
    "type": "array",
    "minItems": 1,
    "maxItems": service.MAX_BATCH,
    "items": {k: v for k, v in DAILY_UPDATE_SCHEMA.items() if not k.startswith("$")},
}


@router.post(
    "/updates",
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": _BATCH_BODY}}}
    },
    responses={422: {"description": "refused: `errors` lists index, field and message"}},
)
def post_updates(
    session: DbSession, publisher: CurrentPublisher, body: Annotated[Any, Body()]
) -> Any:
    """Post a batch of daily updates (a JSON array; see ``/schema/daily-update``) for the
    key's city. All or nothing: any problem refuses the batch with 422 and
    ``errors: [{"index", "field", "message"}, ...]``. Re-posting a day replaces it and keeps
    the earlier figures as a revision; the same figures again change nothing."""
    try:
        result = service.post_updates(
            session,
            city_id=publisher.city_id,
            items=body,
            actor=f"publisher:{publisher.id}",
            now=utcnow(),
        )
    except UpdatesInvalid as err:
        return JSONResponse({"detail": str(err), "errors": err.errors}, status_code=422)
    return result.to_json()
