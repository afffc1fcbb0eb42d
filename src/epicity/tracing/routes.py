"""Investigations over HTTP: trace a case, read its timeline, confirm stays, approve warnings;
and the console's investigation page (timeline on a map, stays, confirmations, warnings).

Refusals are 4xx with the rule's message: no emergency in force or no location store
configured -> 409, a case without a person id or confirmation date -> 409, a closed
investigation -> 409, the store not knowing the case -> 409, a purpose too short -> 400/422,
unknown case -> 404.
"""

from __future__ import annotations

import datetime as dt
import math
from functools import cache
from typing import Annotated, Any, Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo

import plotly.graph_objects as go
from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import AwareDatetime, BaseModel, Field, ValidationError
from sqlalchemy.orm import Session

from epicity.accounts.permissions import Capability, has_capability
from epicity.cases.models import Case
from epicity.city.districts import seoul_districts
from epicity.privacy.errors import AccessDenied, NoActiveEmergency, PrivacyError
from epicity.tracing.investigations import (
    CaseNotFound,
    CaseNotTraceable,
    InvestigationConflict,
    InvestigationError,
    approve_warnings,
    close_investigation,
    confirm_stay,
    get_investigation,
    run_investigation,
    warnings_of,
)
from epicity.tracing.models import InvestigationRow, OutboxMessage
from epicity.tracing.service import TracingError
from epicity.web.deps import Caller, DbSession, need
from epicity.web.pages import render

__all__ = ["router"]

router = APIRouter()

DEFAULT_TIMEZONE = "Asia/Seoul"
NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL characters
CaseId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The case's id in case management")]
Reading = Annotated[Caller, Depends(need(Capability.READ_CASES))]
Editing = Annotated[Caller, Depends(need(Capability.EDIT_CASES))]
Locating = Annotated[Caller, Depends(need(Capability.READ_LOCATION))]
Approving = Annotated[Caller, Depends(need(Capability.APPROVE_WARNINGS))]


# -- bodies and answers ---------------------------------------------------------------------


class RunRequest(BaseModel):
    """Why the case's location records are read (recorded in the audit log)."""

    purpose: str = Field(
        min_length=10,
        max_length=500,
        pattern=NO_NUL,
        description="Why the data is needed, e.g. 'contact tracing of case 17'",
    )


class StayOut(BaseModel):
    """One stay of the timeline."""

    id: str
    kind: str
    place_id: int | None
    name: str
    category: str | None
    lat: float
    lon: float
    radius_m: float
    start: str
    end: str
    minutes: float
    sources: list[str]
    confidence: float
    note: str


class InvestigationOut(BaseModel):
    """A case's investigation as last traced."""

    case_id: int
    person_id: int
    status: str
    opened_by: str
    opened_at: dt.datetime
    purpose: str
    window_start: dt.datetime
    window_end: dt.datetime
    traced_by: str
    traced_at: dt.datetime
    closed_by: str | None
    closed_at: dt.datetime | None
    contacts: dict[str, int]
    timeline: list[StayOut]


class RunOut(BaseModel):
    """What a run did."""

    investigation: InvestigationOut
    contacts_added: int
    warnings_queued: int
    warnings_cancelled: int


class ConfirmationRequest(BaseModel):
    """An investigator's finding about a stay (CCTV review or interview)."""

    action: Literal["add", "correct", "remove"]
    evidence: Literal["cctv", "interview"]
    note: str = Field(
        min_length=3, max_length=2000, pattern=NO_NUL, description="What was seen or said"
    )
    stay_id: str | None = Field(
        None, min_length=1, max_length=100, pattern=NO_NUL, description="The stay to correct"
    )
    place_id: int | None = Field(None, ge=0, le=2**63 - 1, description="A venue's id")
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    start: AwareDatetime | None = Field(None, description="ISO 8601 with offset")
    end: AwareDatetime | None = Field(None, description="ISO 8601 with offset")


class ConfirmationOut(BaseModel):
    """The stored confirmation; it takes effect when the case is traced again."""

    id: int
    case_id: int
    action: str


class WarningOut(BaseModel):
    """One warning of the case in the outbox."""

    id: int
    kind: str
    recipient: str
    status: str
    text: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    approved_by: str | None
    approved_at: dt.datetime | None
    channel: str | None
    delivered_at: dt.datetime | None


class ApproveRequest(BaseModel):
    """Which warnings to approve: the given ones, or every pending one when left out."""

    message_ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] | None = Field(
        None, min_length=1, max_length=10_000
    )


class ApproveOut(BaseModel):
    """The warnings this request approved."""

    approved: list[int]


# -- helpers ----------------------------------------------------------------------------------


def _timezone(request: Request) -> str:
    return str(getattr(request.app.state, "timezone", None) or DEFAULT_TIMEZONE)


def _refusal(exc: Exception) -> HTTPException:
    """The HTTP answer for a refusal by the tracing or privacy rules."""
    if isinstance(exc, CaseNotFound):
        return HTTPException(404, str(exc))
    if isinstance(exc, CaseNotTraceable | InvestigationConflict | NoActiveEmergency):
        return HTTPException(409, str(exc))
    if isinstance(exc, TracingError):
        return HTTPException(409, f"the location store cannot trace this case: {exc}")
    if isinstance(exc, AccessDenied):
        return HTTPException(403, str(exc))
    if isinstance(exc, InvestigationError | PrivacyError):
        return HTTPException(400, str(exc))
    raise exc


def _case_exists(session: Session, case_id: int) -> None:
    if session.get(Case, case_id) is None:
        raise HTTPException(404, f"case_id: no case {case_id}")


def _investigation_out(row: InvestigationRow) -> InvestigationOut:
    return InvestigationOut(
        case_id=row.case_id,
        person_id=row.person_id,
        status=row.status,
        opened_by=row.opened_by,
        opened_at=row.opened_at,
        purpose=row.purpose,
        window_start=row.window_start,
        window_end=row.window_end,
        traced_by=row.traced_by,
        traced_at=row.traced_at,
        closed_by=row.closed_by,
        closed_at=row.closed_at,
        contacts=dict(row.contacts),
        timeline=[StayOut(**s) for s in row.timeline],
    )


def _text_of(message: OutboxMessage) -> str:
    payload = message.payload or {}
    return str(payload.get("reason") or payload.get("text") or "")


def _warning_out(m: OutboxMessage) -> WarningOut:
    return WarningOut(
        id=m.id,
        kind=m.kind,
        recipient=m.recipient,
        status=m.status,
        text=_text_of(m),
        created_at=m.created_at,
        expires_at=m.expires_at,
        approved_by=m.approved_by,
        approved_at=m.approved_at,
        channel=m.channel,
        delivered_at=m.delivered_at,
    )


def _run(request: Request, session: Session, caller: Caller, case_id: int, purpose: str) -> RunOut:
    store = request.app.state.store
    if store is None:
        raise HTTPException(
            409,
            "no location store is configured for this service, so cases cannot be traced "
            "(start it with a store: epicity serve --store PATH)",
        )
    assert caller.user is not None  # need(READ_LOCATION) admits users only
    # The access layer writes its audit entries in its own transactions; on SQLite this
    # session must not hold a write lock meanwhile (resolving a token may have touched it).
    session.commit()
    try:
        result = run_investigation(
            session,
            store,
            case_id=case_id,
            actor=caller.actor,
            role=caller.user.role,
            purpose=purpose,
            timezone=_timezone(request),
            access_sessions=request.app.state.sessions,
        )
    except (InvestigationError, PrivacyError, TracingError) as exc:
        raise _refusal(exc) from None
    return RunOut(
        investigation=_investigation_out(result.investigation),
        contacts_added=result.contacts_added,
        warnings_queued=result.queued.total_inserted,
        warnings_cancelled=result.queued.total_cancelled,
    )


def _confirm(
    session: Session, caller: Caller, case_id: int, body: ConfirmationRequest
) -> ConfirmationOut:
    try:
        row_id = confirm_stay(
            session,
            case_id=case_id,
            actor=caller.actor,
            action=body.action,
            method=body.evidence,
            reason=body.note,
            stay_id=body.stay_id,
            start=body.start,
            end=body.end,
            place_id=body.place_id,
            lat=body.lat,
            lon=body.lon,
        )
    except InvestigationError as exc:
        raise _refusal(exc) from None
    return ConfirmationOut(id=row_id, case_id=case_id, action=body.action)


def _approve(
    session: Session, caller: Caller, case_id: int, message_ids: list[int] | None
) -> ApproveOut:
    try:
        done = approve_warnings(
            session, case_id=case_id, actor=caller.actor, message_ids=message_ids
        )
    except InvestigationError as exc:
        raise _refusal(exc) from None
    return ApproveOut(approved=[m.id for m in done])


# -- API --------------------------------------------------------------------------------------


@router.post(
    "/api/v1/cases/{case_id}/investigation",
    tags=["investigations"],
    response_model=RunOut,
    responses={404: {"description": "no such case"}, 409: {"description": "cannot trace"}},
)
def run(
    case_id: CaseId, body: RunRequest, request: Request, session: DbSession, caller: Locating
) -> RunOut:
    """Trace the case (again): timeline, contacts into case management, warnings queued for
    approval. Needs an emergency in force and a location store; the read is audited."""
    return _run(request, session, caller, case_id, body.purpose)


@router.get(
    "/api/v1/cases/{case_id}/investigation",
    tags=["investigations"],
    response_model=InvestigationOut,
    responses={404: {"description": "no such case, or not traced yet"}},
)
def read(case_id: CaseId, session: DbSession, _: Reading) -> InvestigationOut:
    """The case's investigation: window, timeline (stays with sources and confidence),
    contacts by tier."""
    _case_exists(session, case_id)
    row = get_investigation(session, case_id=case_id)
    if row is None:
        raise HTTPException(404, f"case {case_id} has not been traced yet")
    return _investigation_out(row)


@router.post(
    "/api/v1/cases/{case_id}/investigation/close",
    tags=["investigations"],
    response_model=InvestigationOut,
    responses={404: {"description": "no such case, or not traced yet"}},
)
def close(case_id: CaseId, session: DbSession, caller: Editing) -> InvestigationOut:
    """Close the case's investigation: it is not traced again."""
    try:
        return _investigation_out(close_investigation(session, case_id=case_id, actor=caller.actor))
    except InvestigationError as exc:
        raise _refusal(exc) from None


@router.post(
    "/api/v1/cases/{case_id}/confirmations",
    tags=["investigations"],
    response_model=ConfirmationOut,
    status_code=201,
    responses={404: {"description": "no such case"}, 409: {"description": "no person id"}},
)
def confirm(
    case_id: CaseId, body: ConfirmationRequest, session: DbSession, caller: Editing
) -> ConfirmationOut:
    """Record a confirmation (add, correct or remove a stay, from CCTV or an interview); it
    takes effect when the case is traced again."""
    return _confirm(session, caller, case_id, body)


@router.get(
    "/api/v1/cases/{case_id}/warnings",
    tags=["investigations"],
    response_model=list[WarningOut],
    responses={404: {"description": "no such case"}, 409: {"description": "no person id"}},
)
def warnings(case_id: CaseId, session: DbSession, _: Reading) -> list[WarningOut]:
    """The case's warnings in the outbox, with their approval and delivery status."""
    try:
        return [_warning_out(m) for m in warnings_of(session, case_id=case_id)]
    except InvestigationError as exc:
        raise _refusal(exc) from None


@router.post(
    "/api/v1/cases/{case_id}/warnings/approve",
    tags=["investigations"],
    response_model=ApproveOut,
    responses={404: {"description": "no such case"}, 400: {"description": "not pending"}},
)
def approve(
    case_id: CaseId, body: ApproveRequest, session: DbSession, caller: Approving
) -> ApproveOut:
    """Approve the case's pending warnings (all, or `message_ids`) for delivery (health
    officers)."""
    return _approve(session, caller, case_id, body.message_ids)


# -- console ----------------------------------------------------------------------------------


@cache
def _districts() -> tuple[tuple[float | None, ...], tuple[float | None, ...], tuple[Any, ...]]:
    """Seoul's district boundaries as one line (None between rings), and name labels."""
    xs: list[float | None] = []
    ys: list[float | None] = []
    for d in seoul_districts():
        for polygon in getattr(d.polygon, "geoms", [d.polygon]):
            x, y = polygon.exterior.coords.xy
            xs += [float(v) for v in x] + [None]
            ys += [float(v) for v in y] + [None]
    labels = tuple((d.centroid_lon, d.centroid_lat, d.name) for d in seoul_districts())
    return tuple(xs), tuple(ys), labels


def _figure(stays: list[dict[str, Any]]) -> str:
    """The timeline over the district map as Plotly JSON (no map tiles: the network is closed).

    Stays are markers sized by confidence, joined in time order; hover shows where and when.
    """
    xs, ys, labels = _districts()
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=list(xs),
            y=list(ys),
            mode="lines",
            line={"color": "#9aa5b1", "width": 1},
            hoverinfo="skip",
            name="districts",
            showlegend=False,
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[lab[0] for lab in labels],
            y=[lab[1] for lab in labels],
            text=[lab[2] for lab in labels],
            mode="text",
            textfont={"color": "#7b8794", "size": 9},
            hoverinfo="skip",
            showlegend=False,
        )
    )
    colours = {"venue": "#D55E00", "location": "#0072B2", "area": "#999999"}
    for kind in ("venue", "location", "area"):
        these = [s for s in stays if s["kind"] == kind]
        if not these:
            continue
        fig.add_trace(
            go.Scatter(
                x=[s["lon"] for s in these],
                y=[s["lat"] for s in these],
                mode="markers",
                name=kind,
                marker={
                    "size": [8 + 10 * float(s["confidence"]) for s in these],
                    "color": colours[kind],
                    "line": {"color": "#fff", "width": 1},
                },
                text=[
                    f"{s['name'] or s['kind']}<br>{s['start'][:16].replace('T', ' ')} - "
                    f"{s['end'][11:16]}<br>{'+'.join(s['sources'])} "
                    f"(confidence {float(s['confidence']):.2f})<br>{s['id']}"
                    for s in these
                ],
                hoverinfo="text",
            )
        )
    if stays:
        fig.add_trace(
            go.Scatter(
                x=[s["lon"] for s in stays],
                y=[s["lat"] for s in stays],
                mode="lines",
                line={"color": "#D55E00", "width": 1, "dash": "dot"},
                hoverinfo="skip",
                name="path",
            )
        )
    lat0 = sum(float(s["lat"]) for s in stays) / len(stays) if stays else 37.55
    layout: dict[str, Any] = {
        "margin": {"l": 40, "r": 10, "t": 10, "b": 30},
        "height": 520,
        "plot_bgcolor": "#fbfcfd",
        "legend": {"orientation": "h"},
        "xaxis": {"title": "longitude", "showgrid": False},
        # degrees of longitude are shorter than degrees of latitude by cos(latitude)
        "yaxis": {
            "title": "latitude",
            "showgrid": False,
            "scaleanchor": "x",
            "scaleratio": 1 / math.cos(math.radians(lat0)),
        },
    }
    if stays:
        pad = 0.02
        layout["xaxis"]["range"] = [
            min(float(s["lon"]) for s in stays) - pad,
            max(float(s["lon"]) for s in stays) + pad,
        ]
        layout["yaxis"]["range"] = [
            min(float(s["lat"]) for s in stays) - pad,
            max(float(s["lat"]) for s in stays) + pad,
        ]
    fig.update_layout(**layout)
    # Inside a <script>: "</" would end it early.
    return str(fig.to_json()).replace("</", "<\\/")


def _page(
    request: Request,
    session: Session,
    caller: Caller,
    case_id: int,
    *,
    error: str | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    case = session.get(Case, case_id)
    if case is None:
        raise HTTPException(404, f"case_id: no case {case_id}")
    row = get_investigation(session, case_id=case_id)
    stays = list(row.timeline) if row is not None else []
    messages = (
        [_warning_out(m) for m in warnings_of(session, case_id=case_id)]
        if case.person_id is not None
        else []
    )
    user = caller.user
    return render(
        request,
        "investigation.html",
        {
            "case": case,
            "inv": row,
            "stays": stays,
            "figure": _figure(stays),
            "warnings": messages,
            "waiting": sum(1 for m in messages if m.status == "pending" and not m.approved_at),
            "can_run": has_capability(user, Capability.READ_LOCATION),
            "can_edit": has_capability(user, Capability.EDIT_CASES),
            "can_approve": has_capability(user, Capability.APPROVE_WARNINGS),
            "store_configured": request.app.state.store is not None,
            "timezone": _timezone(request),
            "error": error,
            "notice": notice or request.query_params.get("notice", "")[:300] or None,
        },
        status=status,
    )


def _refused_page(
    request: Request, session: Session, caller: Caller, case_id: int, exc: Exception
) -> Response:
    """The page again, with why the form was refused (nothing of the request is kept)."""
    session.rollback()
    if isinstance(exc, ValidationError):
        return _page(request, session, caller, case_id, error=_problems(exc), status=422)
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        raise exc
    return _page(request, session, caller, case_id, error=str(exc.detail), status=exc.status_code)


def _back(case_id: int, notice: str) -> Response:
    return RedirectResponse(
        f"/console/cases/{case_id}/investigation?notice={quote(notice)}", status_code=303
    )


def _refused(
    request: Request,
    session: Session,
    caller: Caller,
    case_id: int,
    exc: ValidationError | HTTPException,
) -> Response:
    """A form the page refused: the page again, with why (an unknown case stays a 404)."""
    if isinstance(exc, ValidationError):
        return _page(request, session, caller, case_id, error=_problems(exc), status=422)
    if exc.status_code == 404:
        raise exc
    return _page(request, session, caller, case_id, error=str(exc.detail), status=exc.status_code)


def _problems(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'form'}: {e['msg']}" for e in exc.errors()
    )


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v.strip() for k, v in form.items() if isinstance(v, str) and k != "csrf"}


@router.get(
    "/console/cases/{case_id}/investigation",
    response_class=HTMLResponse,
    include_in_schema=False,
)
def page(case_id: CaseId, request: Request, session: DbSession, caller: Reading) -> Response:
    """The investigation page: timeline on the map, stays, confirmations, warnings."""
    return _page(request, session, caller, case_id)


@router.post("/console/cases/{case_id}/investigation/run", include_in_schema=False)
async def page_run(
    case_id: CaseId, request: Request, session: DbSession, caller: Locating
) -> Response:
    """The page's run/re-run button."""
    form = await _form(request)
    try:
        body = RunRequest(purpose=form.get("purpose", ""))
        done = _run(request, session, caller, case_id, body.purpose)
    except (ValidationError, HTTPException) as exc:
        return _refused(request, session, caller, case_id, exc)
    return _back(
        case_id,
        f"traced: {len(done.investigation.timeline)} stays, {done.contacts_added} new contacts, "
        f"{done.warnings_queued} warnings queued for approval",
    )


def _local(value: str, tz: str) -> str | None:
    """A datetime-local field ('2020-03-05T12:00') in the city's time zone, as ISO 8601."""
    if not value:
        return None
    try:
        at = dt.datetime.fromisoformat(value)
    except ValueError:
        return value  # pydantic names the field
    if at.tzinfo is None:
        at = at.replace(tzinfo=ZoneInfo(tz))
    return at.isoformat()


@router.post("/console/cases/{case_id}/confirmations", include_in_schema=False)
async def page_confirm(
    case_id: CaseId, request: Request, session: DbSession, caller: Editing
) -> Response:
    """The page's confirm/correct/remove form."""
    form = await _form(request)
    tz = _timezone(request)
    fields: dict[str, Any] = {k: v for k, v in form.items() if v != ""}
    for name in ("start", "end"):
        if name in fields:
            fields[name] = _local(fields[name], tz)
    try:
        body = ConfirmationRequest.model_validate(fields)
        done = _confirm(session, caller, case_id, body)
    except (ValidationError, HTTPException) as exc:
        return _refused(request, session, caller, case_id, exc)
    return _back(case_id, f"confirmation {done.id} recorded: re-run the investigation to apply it")


@router.post("/console/cases/{case_id}/warnings/approve", include_in_schema=False)
async def page_approve(
    case_id: CaseId, request: Request, session: DbSession, caller: Approving
) -> Response:
    """The page's Approve buttons (one warning, or all waiting)."""
    form = await _form(request)
    try:
        body = ApproveRequest.model_validate(
            {"message_ids": [form["message_id"]]} if form.get("message_id") else {}
        )
        done = _approve(session, caller, case_id, body.message_ids)
    except (ValidationError, HTTPException) as exc:
        return _refused(request, session, caller, case_id, exc)
    return _back(case_id, f"{len(done.approved)} warning(s) approved for delivery")
