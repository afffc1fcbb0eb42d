"""Emergencies and the audit log over HTTP (`/api/v1`): admins declare and end emergencies
(the legal ground for reading location data) and read the hash-chained audit log."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import select

from epicity.accounts.permissions import Capability
from epicity.privacy.chain import verify_chain
from epicity.privacy.models import Emergency
from epicity.privacy.service import (
    DEFAULT_AREA,
    active_emergency,
    audit_entries,
    declare_emergency,
    end_emergency,
)
from epicity.web.deps import Caller, DbSession, need

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["privacy"])

Declarer = Annotated[Caller, Depends(need(Capability.DECLARE_EMERGENCY))]
Auditor = Annotated[Caller, Depends(need(Capability.READ_AUDIT))]
Staff = Annotated[Caller, Depends(need(Capability.READ_AGGREGATES))]


class EmergencyOut(BaseModel):
    """A declared emergency."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    area: str
    starts_at: dt.datetime
    ends_at: dt.datetime | None
    declared_by: str
    ended_at: dt.datetime | None
    reason: str


class NewEmergency(BaseModel):
    """An emergency to declare; times with their UTC offset."""

    name: str = Field(min_length=1, max_length=200)
    area: str = Field(DEFAULT_AREA, min_length=1, max_length=100)
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    reason: str = Field("", max_length=2000)


class AuditOut(BaseModel):
    """One audit entry (what was done, by whom, why; never the data itself)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    at: dt.datetime
    actor: str
    role: str
    action: str
    purpose: str | None
    case_id: int | None
    emergency_id: int | None
    tables: str
    rows_returned: int
    detail: dict[str, Any] | None
    hash: str


class ChainOut(BaseModel):
    """Whether the audit log's hash chain holds."""

    intact: bool
    entries: int
    head: str
    bad_id: int | None
    reason: str | None


@router.get("/emergencies", response_model=list[EmergencyOut])
def emergencies(session: DbSession, _: Staff) -> list[EmergencyOut]:
    """Every declaration, newest first."""
    rows = session.scalars(select(Emergency).order_by(Emergency.id.desc()))
    return [EmergencyOut.model_validate(e) for e in rows]


@router.get("/emergencies/active", response_model=EmergencyOut)
def active(session: DbSession, _: Staff) -> EmergencyOut:
    """The emergency in force now (404 when there is none)."""
    found = active_emergency(session)
    if found is None:
        raise HTTPException(404, "no emergency is in force")
    return EmergencyOut.model_validate(found)


@router.post("/emergencies", response_model=EmergencyOut, status_code=201)
def declare(body: NewEmergency, session: DbSession, caller: Declarer) -> EmergencyOut:
    """Declare an emergency (audited)."""
    assert caller.user is not None
    found = declare_emergency(
        session,
        name=body.name,
        area=body.area,
        actor=caller.actor,
        role=caller.user.role,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        reason=body.reason,
    )
    return EmergencyOut.model_validate(found)


@router.post("/emergencies/{emergency_id}/end", response_model=EmergencyOut)
def end(
    emergency_id: Annotated[int, Path(ge=1, le=2**31 - 1)], session: DbSession, caller: Declarer
) -> EmergencyOut:
    """End an emergency now (audited)."""
    assert caller.user is not None
    found = end_emergency(
        session, emergency_id=emergency_id, actor=caller.actor, role=caller.user.role
    )
    return EmergencyOut.model_validate(found)


@router.get("/audit", response_model=list[AuditOut])
def audit_log(
    session: DbSession,
    _: Auditor,
    case_id: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditOut]:
    """The newest audit entries (of one case, when given), oldest first."""
    return [
        AuditOut.model_validate(e) for e in audit_entries(session, case_id=case_id, limit=limit)
    ]


@router.get("/audit/verify", response_model=ChainOut)
def verify(session: DbSession, _: Auditor) -> ChainOut:
    """Recompute the audit log's hash chain."""
    result = verify_chain(session)
    return ChainOut(
        intact=result.intact,
        entries=result.entries,
        head=result.head,
        bad_id=result.bad_id,
        reason=result.reason,
    )
