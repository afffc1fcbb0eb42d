"""Emergency declarations and the audit log: plain functions over a SQLAlchemy session.

Functions add and flush but do not commit: the caller owns the transaction (e.g.
`epicity.db.session_scope`), so a declaration and its audit entry land together or not at
all. The audit log has no update or delete here, and the database refuses both; each entry
is hash-chained to the one before it (`epicity.privacy.chain`), so tampering that goes round
the database's refusal is still detected by `epicity.privacy.chain.verify_chain`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from epicity.db import utcnow
from epicity.privacy import chain
from epicity.privacy.errors import EmergencyConflict, NoActiveEmergency, PrivacyError
from epicity.privacy.models import ACTOR_MAX, AREA_MAX, NAME_MAX, ROLES, AuditEntry, Emergency

__all__ = [
    "active_emergency",
    "audit",
    "audit_entries",
    "declare_emergency",
    "end_emergency",
    "get_emergency",
]

DEFAULT_AREA = "Seoul"


def _text(value: str, what: str, maximum: int) -> str:
    value = (value or "").strip()
    if not value:
        raise PrivacyError(f"{what} must not be empty")
    if len(value) > maximum:
        raise PrivacyError(f"{what} is longer than {maximum} characters")
    return value


def _aware(value: dt.datetime, what: str) -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise PrivacyError(f"{what} {value.isoformat()} has no time zone; give an offset")
    return value.astimezone(dt.UTC)


def _role(role: str) -> str:
    if role not in ROLES:
        raise PrivacyError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
    return role


def _fmt(at: dt.datetime | None) -> str:
    return at.isoformat() if at is not None else "open-ended"


def declare_emergency(
    session: Session,
    *,
    name: str,
    area: str = DEFAULT_AREA,
    actor: str,
    role: str = "admin",
    starts_at: dt.datetime | None = None,
    ends_at: dt.datetime | None = None,
    reason: str = "",
) -> Emergency:
    """Declare an emergency from `starts_at` (default now) until `ends_at` (default open).

    Raises `PrivacyError` on bad input and `EmergencyConflict` when an emergency of the same
    name is not yet ended and overlaps this one. Writes an ``emergency.declare`` audit entry.
    """
    name = _text(name, "emergency name", NAME_MAX)
    area = _text(area, "area", AREA_MAX)
    actor = _text(actor, "actor", ACTOR_MAX)
    _role(role)
    now = utcnow()
    start = _aware(starts_at, "start") if starts_at is not None else now
    end = _aware(ends_at, "end") if ends_at is not None else None
    if end is not None and end <= start:
        raise PrivacyError(
            f"end {end.isoformat()} must be after start {start.isoformat()}"
            + (" (now)" if starts_at is None else "")
        )
    clash = session.scalars(
        select(Emergency)
        .where(
            Emergency.name == name,
            Emergency.ended_at.is_(None),
            or_(Emergency.ends_at.is_(None), Emergency.ends_at > start),
            *([Emergency.starts_at < end] if end is not None else []),
        )
        .order_by(Emergency.starts_at)
        .limit(1)
    ).first()
    if clash is not None:
        raise EmergencyConflict(
            f"emergency {name!r} is already declared (id {clash.id}, "
            f"from {_fmt(clash.starts_at)} until {_fmt(clash.ends_at)}); end it first"
        )
    emergency = Emergency(
        name=name,
        area=area,
        starts_at=start,
        ends_at=end,
        declared_by=actor,
        declared_at=now,
        reason=reason.strip(),
    )
    session.add(emergency)
    session.flush()
    audit(
        session,
        actor=actor,
        role=role,
        action="emergency.declare",
        purpose=reason.strip() or None,
        emergency_id=emergency.id,
        detail={
            "name": name,
            "area": area,
            "starts_at": start.isoformat(),
            "ends_at": end.isoformat() if end is not None else None,
        },
    )
    return emergency


def get_emergency(session: Session, *, emergency_id: int) -> Emergency | None:
    """The emergency with this id, if any."""
    return session.get(Emergency, emergency_id)


def end_emergency(
    session: Session,
    *,
    emergency_id: int | None = None,
    name: str | None = None,
    actor: str,
    role: str = "admin",
    at: dt.datetime | None = None,
) -> Emergency:
    """End an emergency, chosen by id or by name, at `at` (default now).

    By name: the earliest not yet ended, not yet over emergency of that name. Raises
    `NoActiveEmergency` when there is none and `EmergencyConflict` when it already ended.
    Writes an ``emergency.end`` audit entry.
    """
    actor = _text(actor, "actor", ACTOR_MAX)
    _role(role)
    when = _aware(at, "end time") if at is not None else utcnow()
    if (emergency_id is None) == (name is None):
        raise PrivacyError("give exactly one of emergency_id and name")
    emergency: Emergency | None
    if emergency_id is not None:
        emergency = session.get(Emergency, emergency_id)
        if emergency is None:
            raise NoActiveEmergency(f"no emergency with id {emergency_id}")
    else:
        assert name is not None
        emergency = session.scalars(
            select(Emergency)
            .where(
                Emergency.name == name.strip(),
                Emergency.ended_at.is_(None),
                or_(Emergency.ends_at.is_(None), Emergency.ends_at > when),
            )
            .order_by(Emergency.starts_at, Emergency.id)
            .limit(1)
        ).first()
        if emergency is None:
            raise NoActiveEmergency(f"no current emergency named {name.strip()!r}")
    if emergency.ended_at is not None:
        raise EmergencyConflict(
            f"emergency {emergency.name!r} (id {emergency.id}) was already ended at "
            f"{emergency.ended_at.isoformat()} by {emergency.ended_by}"
        )
    if emergency.ends_at is not None and emergency.ends_at <= when:
        raise EmergencyConflict(
            f"emergency {emergency.name!r} (id {emergency.id}) is already over "
            f"(it ended at {emergency.ends_at.isoformat()})"
        )
    emergency.ended_at = when
    emergency.ended_by = actor
    session.flush()
    audit(
        session,
        actor=actor,
        role=role,
        action="emergency.end",
        emergency_id=emergency.id,
        detail={"name": emergency.name, "ended_at": when.isoformat()},
    )
    return emergency


def active_emergency(session: Session, *, at: dt.datetime | None = None) -> Emergency | None:
    """The emergency in force at `at` (default now); the latest started when several are."""
    when = _aware(at, "time") if at is not None else utcnow()
    return session.scalars(
        select(Emergency)
        .where(
            Emergency.starts_at <= when,
            or_(Emergency.ends_at.is_(None), Emergency.ends_at > when),
            or_(Emergency.ended_at.is_(None), Emergency.ended_at > when),
        )
        .order_by(Emergency.starts_at.desc(), Emergency.id.desc())
        .limit(1)
    ).first()


def audit(
    session: Session,
    *,
    actor: str,
    role: str,
    action: str,
    purpose: str | None = None,
    case_id: int | None = None,
    emergency_id: int | None = None,
    tables: Iterable[str] = (),
    rows_returned: int = 0,
    detail: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry to the audit log (time now), chained to the last one, and flush it.

    The chain's lock is held until the caller's transaction ends (see `chain.append`), so
    keep transactions that write audit entries short.
    """
    names = list(dict.fromkeys(t.strip() for t in tables if t.strip()))
    if rows_returned < 0:
        raise PrivacyError(f"rows_returned must not be negative, got {rows_returned}")
    try:
        stored_detail = chain.normalise_detail(detail)
    except ValueError as exc:
        raise PrivacyError(str(exc)) from None
    entry = AuditEntry(
        at=utcnow(),
        actor=_text(actor, "actor", ACTOR_MAX),
        role=_role(role),
        action=_text(action, "action", 64),
        purpose=purpose,
        case_id=case_id,
        emergency_id=emergency_id,
        tables=",".join(names),
        rows_returned=rows_returned,
        detail=stored_detail,
    )
    return chain.append(session, entry)


def audit_entries(
    session: Session, *, case_id: int | None = None, limit: int | None = None
) -> list[AuditEntry]:
    """Audit entries in the order they were written (of one case, when given).

    With `limit`, the most recent `limit` entries, still oldest first.
    """
    query = select(AuditEntry)
    if case_id is not None:
        query = query.where(AuditEntry.case_id == case_id)
    if limit is not None:
        if limit < 0:
            raise PrivacyError(f"limit must not be negative, got {limit}")
        newest = list(session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit)))
        return newest[::-1]
    return list(session.scalars(query.order_by(AuditEntry.id)))
