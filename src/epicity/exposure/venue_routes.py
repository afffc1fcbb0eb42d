"""Venue check-ins over HTTP (`/api/v1/exposure`): registration, investigators' warnings,
their approval and the published packages.

- ``POST /venues`` (public, rate limited per client; staff too): register a venue or event;
  answers with its management token once (``X-Venue-Token`` afterwards).
- ``GET /venues`` (``read_cases``): the registry, by district, place id, words.
- ``GET /venues/{id}`` (``read_cases``, or the venue's own token): one venue.
- ``POST /venues/{id}/end`` (``edit_cases``, or the venue's own token): end its code.
- ``POST /venues/{id}/place`` (``edit_cases``): link it to the city's place id.
- ``POST /venue-warnings`` (``edit_cases``): a confirmed case's visit; waits for approval.
- ``GET /venue-warnings`` and ``GET /venue-warnings/suggestions?case_id=`` (``read_cases``):
  warnings to review; a case's confirmed stays at registered venues not warned of yet.
- ``POST /venue-warnings/{id}/approve`` and ``.../reject`` (``approve_warnings``, not the
  warning's author).
- ``POST /venue-warnings/publish`` (``publish_data``): publish the approved warnings now (the
  command ``epicity exposure venue-warnings publish`` does it from a scheduler).
- ``GET /venue-warnings/index.txt`` and ``GET /venue-warnings/{name}.zip`` (public): the
  signed packages, oldest first; the public keys are the key server's
  (``GET /api/v1/exposure/exports/keys``).

Refusals are `VenueError`s with the field and the problem (422, 404, 403, 409); malformed
bodies get FastAPI's field-level 422.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from epicity.accounts.permissions import Capability, has_capability
from epicity.db import utcnow
from epicity.exposure import venues
from epicity.exposure.signing import load_signer
from epicity.exposure.venue_models import REASON_MAX, WARNING_STATUSES
from epicity.exposure.venue_payload import (
    ADDRESS_MAX,
    CHECK_IN_MINUTES_MAX,
    CHECK_IN_MINUTES_MIN,
    DESCRIPTION_MAX,
    TRL_MAX,
    TRL_MIN,
    VENUE_TYPES,
)
from epicity.exposure.verification import ClientLimiter
from epicity.web.deps import (
    Caller,
    CurrentCaller,
    DbSession,
    check_csrf,
    current_caller,
    in_thread,
    need,
)

__all__ = ["TOKEN_HEADER", "owner_or", "router", "settings_of"]

router = APIRouter(prefix="/api/v1/exposure", tags=["exposure venues"])

TOKEN_HEADER = "X-Venue-Token"
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Reader = Annotated[Caller, Depends(need(Capability.READ_CASES))]
Editor = Annotated[Caller, Depends(need(Capability.EDIT_CASES))]
Approver = Annotated[Caller, Depends(need(Capability.APPROVE_WARNINGS))]
Publisher = Annotated[Caller, Depends(need(Capability.PUBLISH_DATA))]
VenueType = Literal[
    "permanent_other",
    "temporary_other",
    "permanent_retail",
    "permanent_food_service",
    "permanent_craft",
    "permanent_workplace",
    "permanent_educational_institution",
    "permanent_public_building",
    "temporary_cultural_event",
    "temporary_club_activity",
    "temporary_private_event",
    "temporary_worship_service",
]
assert set(VenueType.__args__) == set(VENUE_TYPES)  # type: ignore[attr-defined]
Status = Literal["pending", "approved", "rejected", "published"]
assert set(Status.__args__) == set(WARNING_STATUSES)  # type: ignore[attr-defined]
_PACKAGE_NAME = re.compile(r"[0-9]{1,10}-[0-9]{1,6}")
FILE_MAX_AGE = 86_400  # a package never changes once made
INDEX_MAX_AGE = 60


def settings_of(request: Request) -> venues.VenueSettings:
    """The app's venue settings, read from the environment on first use."""
    settings: venues.VenueSettings | None = getattr(request.app.state, "venue_settings", None)
    if settings is None:
        settings = venues.VenueSettings.from_env()
        request.app.state.venue_settings = settings
    return settings


Settings = Annotated[venues.VenueSettings, Depends(settings_of)]


def _limiter(request: Request, per_hour: int) -> ClientLimiter:
    limiter: ClientLimiter | None = getattr(request.app.state, "venue_registration_limiter", None)
    if limiter is None or limiter.per_hour != per_hour:
        limiter = ClientLimiter(per_hour)
        request.app.state.venue_registration_limiter = limiter
    return limiter


def _presented_token(request: Request) -> str | None:
    """A management token in the header (the API) or ``?token=`` (the poster's link)."""
    return request.headers.get(TOKEN_HEADER) or request.query_params.get("token") or None


def owner_or(capability: Capability) -> Callable[..., Any]:
    """A dependency that lets the request through for the venue's owner (its management token
    in ``X-Venue-Token``, or ``?token=`` on the poster's link) or for staff with
    `capability`; it returns None for the owner, the caller for staff. A token that is not
    the venue's: 403; neither: 401 (403 for staff without the capability)."""

    async def dependency(request: Request, session: DbSession, venue_id: RowId) -> Caller | None:
        token = _presented_token(request)
        if token is not None:
            await in_thread(
                session, lambda: venues.venue_with_token(session, venue_id=venue_id, token=token)
            )
            return None
        caller = await current_caller(request, session)
        result: Caller = await need(capability)(request, caller)
        return result

    dependency.__name__ = f"venue_owner_or_{capability.value}"
    return dependency


OwnerOrReader = Annotated[Caller | None, Depends(owner_or(Capability.READ_CASES))]
OwnerOrEditor = Annotated[Caller | None, Depends(owner_or(Capability.EDIT_CASES))]


class NewVenue(BaseModel):
    """A venue (permanent type) or event (temporary type, with start and end) to register."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "description": "Cafe Haneul",
                    "address": "12 Wausan-ro, Mapo-gu",
                    "type": "permanent_food_service",
                    "district": "Mapo-gu",
                    "default_check_in_minutes": 90,
                }
            ]
        },
    )

    description: str = Field(min_length=1, max_length=DESCRIPTION_MAX)
    address: str = Field(min_length=1, max_length=ADDRESS_MAX)
    type: VenueType
    district: str = Field(min_length=1, max_length=40, description="e.g. Mapo-gu or 마포구")
    place_id: int | None = Field(
        None, ge=0, le=2**63 - 1, description="staff only: the city's place id of the venue"
    )
    start: AwareDatetime | None = Field(None, description="events only")
    end: AwareDatetime | None = Field(None, description="events only")
    default_check_in_minutes: int | None = Field(
        None, ge=CHECK_IN_MINUTES_MIN, le=CHECK_IN_MINUTES_MAX
    )


class PlaceLink(BaseModel):
    """The city's place id a venue is (null: none)."""

    model_config = ConfigDict(extra="forbid")

    place_id: int | None = Field(ge=0, le=2**63 - 1)


class NewWarning(BaseModel):
    """An investigator's confirmation that a confirmed case was at a venue."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "case_id": 7,
                    "venue_id": 3,
                    "start": "2020-05-02T23:30:00+09:00",
                    "end": "2020-05-03T02:10:00+09:00",
                }
            ]
        },
    )

    case_id: int = Field(ge=1, le=2**63 - 1)
    venue_id: int = Field(ge=1, le=2**63 - 1)
    start: AwareDatetime
    end: AwareDatetime
    transmission_risk_level: int | None = Field(
        None, ge=TRL_MIN, le=TRL_MAX, description=f"default {venues.DEFAULT_TRL}"
    )


class Decision(BaseModel):
    """Why a warning is rejected (optional)."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field("", max_length=REASON_MAX)


@router.post(
    "/venues",
    status_code=201,
    responses={429: {"description": "too many registrations from this client; Retry-After"}},
)
async def register(
    request: Request, session: DbSession, caller: CurrentCaller, body: NewVenue, settings: Settings
) -> JSONResponse:
    """Register a venue or event: its QR code's payload is made here with a fresh random
    seed. Open to anyone (a venue's owner is not a staff user), a few times an hour per
    client; staff with ``edit_cases`` may also link the city's ``place_id``. The answer holds
    the management token, shown once: keep it to print the poster again or end the code."""
    await check_csrf(request, caller)
    staff = has_capability(caller.user, Capability.EDIT_CASES)
    if not staff:
        client = request.client.host if request.client else "unknown"
        allowance = _limiter(request, settings.registrations_per_hour).take(client)
        if not allowance.allowed:
            return JSONResponse(
                {"detail": "too many registrations from this address; try again later"},
                status_code=429,
                headers={"Retry-After": str(allowance.retry_after)},
            )

    def work() -> dict[str, Any]:
        venue, token = venues.register_venue(
            session,
            description=body.description,
            address=body.address,
            venue_type=body.type,
            district=body.district,
            place_id=body.place_id,
            start=body.start,
            end=body.end,
            default_check_in_minutes=body.default_check_in_minutes,
            actor=caller.actor if staff else "public",
            staff=staff,
            now=utcnow(),
        )
        return {
            "venue": venues.venue_json(venue, settings),
            "management_token": token,
            "poster_link": f"/venues/{venue.id}/poster?token={token}",
        }

    answer = await in_thread(session, work)
    return JSONResponse(answer, status_code=201, headers={"Cache-Control": "no-store"})


@router.get("/venues")
def venue_list(
    session: DbSession,
    caller: Reader,
    settings: Settings,
    district: Annotated[str | None, Query(min_length=1, max_length=40)] = None,
    place_id: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    active_at: AwareDatetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> dict[str, Any]:
    """Registered venues, newest first: by district, the city's place id, words of the
    description or address, and whose code was in use at `active_at`."""
    del caller
    rows, total = venues.list_venues(
        session,
        district=district,
        place_id=place_id,
        q=q,
        active_at=active_at,
        limit=limit,
        offset=offset,
    )
    return {"items": [venues.venue_json(v, settings) for v in rows], "total": total}


@router.get("/venues/{venue_id}")
def venue(
    session: DbSession, access: OwnerOrReader, venue_id: RowId, settings: Settings
) -> dict[str, Any]:
    """One venue, to staff with ``read_cases`` or to its owner (``X-Venue-Token``)."""
    del access
    return venues.venue_json(venues.get_venue(session, venue_id=venue_id), settings)


@router.post("/venues/{venue_id}/end")
def end(
    session: DbSession, access: OwnerOrEditor, venue_id: RowId, settings: Settings
) -> dict[str, Any]:
    """End a venue's code now (an event over or called off, a poster withdrawn): staff with
    ``edit_cases`` or its owner. Ending it again changes nothing."""
    del access
    return venues.venue_json(venues.end_venue(session, venue_id=venue_id, now=utcnow()), settings)


@router.post("/venues/{venue_id}/place")
def link_place(
    session: DbSession, caller: Editor, venue_id: RowId, body: PlaceLink, settings: Settings
) -> dict[str, Any]:
    """Link a venue to the city's place id (null: unlink), so that an investigator's
    confirmed stay at that place suggests a warning for it."""
    del caller
    venue = venues.set_place(session, venue_id=venue_id, place_id=body.place_id)
    return venues.venue_json(venue, settings)


def _warning_json(session: Session, warning: Any, settings: venues.VenueSettings) -> dict[str, Any]:
    venue = venues.get_venue(session, venue_id=warning.venue_id)
    return venues.warning_json(warning, venue, settings.timezone)


@router.post("/venue-warnings", status_code=201, responses={200: {"description": "stored before"}})
def create_warning(
    session: DbSession, caller: Editor, body: NewWarning, settings: Settings
) -> JSONResponse:
    """Record a confirmed case's visit to a registered venue (an investigator's confirmation):
    the case must be confirmed and the visit inside its infectious window, at most 24 hours,
    while the venue's code was in use. It is published only after a health officer approves
    it. The same visit again answers 200 with the stored warning."""
    warning, created = venues.create_warning(
        session,
        case_id=body.case_id,
        venue_id=body.venue_id,
        start=body.start,
        end=body.end,
        transmission_risk_level=body.transmission_risk_level,
        actor=caller.actor,
        now=utcnow(),
        timezone=settings.timezone,
    )
    return JSONResponse(
        _warning_json(session, warning, settings), status_code=201 if created else 200
    )


@router.get("/venue-warnings")
def warning_list(
    session: DbSession,
    caller: Reader,
    settings: Settings,
    status: Status | None = None,
    case_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> dict[str, Any]:
    """Venue warnings, newest first, by status and case."""
    del caller
    rows = venues.list_warnings(session, status=status, case_id=case_id, limit=limit, offset=offset)
    return {"items": [_warning_json(session, w, settings) for w in rows]}


@router.get("/venue-warnings/suggestions")
def suggestions(
    session: DbSession,
    caller: Reader,
    settings: Settings,
    case_id: Annotated[int, Query(ge=1, le=2**63 - 1)],
) -> dict[str, Any]:
    """The case's confirmed stays (investigators' confirmations with a place and times) at
    registered venues that have no warning yet: candidates, nothing is created."""
    del caller
    found = venues.suggestions_for_case(session, case_id=case_id)
    return {
        "items": [
            {
                "confirmation_id": s.confirmation_id,
                "venue": venues.venue_json(s.venue, settings),
                "start": s.start.isoformat(),
                "end": s.end.isoformat(),
            }
            for s in found
        ]
    }


@router.post("/venue-warnings/{warning_id}/approve")
def approve(
    session: DbSession, caller: Approver, warning_id: RowId, settings: Settings
) -> dict[str, Any]:
    """Approve a pending warning for publication (another officer than its author)."""
    warning = venues.approve_warning(
        session, warning_id=warning_id, actor=caller.actor, now=utcnow()
    )
    return _warning_json(session, warning, settings)


@router.post("/venue-warnings/{warning_id}/reject")
def reject(
    session: DbSession, caller: Approver, warning_id: RowId, body: Decision, settings: Settings
) -> dict[str, Any]:
    """Reject a pending warning: it is never published."""
    warning = venues.reject_warning(
        session, warning_id=warning_id, actor=caller.actor, now=utcnow(), reason=body.reason
    )
    return _warning_json(session, warning, settings)


@router.post("/venue-warnings/publish")
def publish(session: DbSession, caller: Publisher, settings: Settings) -> dict[str, Any]:
    """Publish every approved warning now as one signed package (with decoys); the package's
    name, or null when there was nothing to publish."""
    del caller
    package = venues.publish_warnings(
        session, now=utcnow(), signer=load_signer(), settings=settings
    )
    if package is None:
        return {"package": None}
    return {"package": {"name": f"{package.name}.zip", "reports": package.report_count}}


@router.get("/venue-warnings/index.txt", response_class=PlainTextResponse)
def package_index(session: DbSession) -> Response:
    """The published packages, one file name a line, oldest first; append a line to
    ``/api/v1/exposure/venue-warnings/`` to download it."""
    text = "".join(f"{name}\n" for name in venues.package_index(session))
    return PlainTextResponse(text, headers={"Cache-Control": f"public, max-age={INDEX_MAX_AGE}"})


@router.get(
    "/venue-warnings/{name}.zip",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}}, 404: {"description": "no such file"}},
)
def package_file(
    request: Request,
    session: DbSession,
    name: Annotated[str, Path(min_length=1, max_length=20)],
) -> Response:
    """A package: a zip of ``export.bin`` (a ``TraceWarningPackage`` after its header) and
    ``export.sig`` (signed with the key server's export key)."""
    if not _PACKAGE_NAME.fullmatch(name):
        raise HTTPException(404, f"name: {name[:20]!r} is not a package's name")
    row = venues.package_data(session, name=name)
    etag = f'"{row.sha256}"'
    headers = {"ETag": etag, "Cache-Control": f"public, max-age={FILE_MAX_AGE}, immutable"}
    match = request.headers.get("if-none-match", "")
    if etag in (t.strip().removeprefix("W/") for t in match.split(",")):
        return Response(status_code=304, headers=headers)
    headers["Content-Disposition"] = f'attachment; filename="{name}.zip"'
    return Response(row.data, media_type="application/zip", headers=headers)
