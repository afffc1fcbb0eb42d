"""Investigations: tracing a case of case management, and the warnings it sets off.

The link between case management (`epicity.cases`: a `Case` with the store's pseudonymous
``person_id``) and tracing::

    result = run_investigation(session, store, case_id=7, actor="kim", role="investigator",
                               purpose="contact tracing of case 7")
    approve_warnings(session, case_id=7, actor="park")      # a health officer, before delivery

`run_investigation` reads the location store through the privacy access layer
(`LocationAccess`: an emergency must be in force, a purpose is given, the read is audited),
replays the investigators' confirmations of that person, stores the timeline on the case's
one ``investigations`` row (created on the first run, updated on every re-run), adds the close
and casual contacts to case management (origin "tracing"; those already there are left as they
are) and queues the warnings in the outbox, idempotently, where they wait for approval.

Functions add and flush but do not commit: the caller owns the transaction. The access layer
writes its audit entries in transactions of its own (a read stays on record even when the
caller's transaction is rolled back), so on SQLite the caller's session must not hold
uncommitted writes when `run_investigation` is called (SQLite has one writer at a time).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from epicity.cases.models import Case, CaseContact
from epicity.cases.service import add_contact
from epicity.db import session_factory, utcnow
from epicity.privacy.access import LocationAccess
from epicity.records.store import LocationStore
from epicity.tracing.config import TracingConfig
from epicity.tracing.contacts import Contact
from epicity.tracing.models import ACTOR_MAX, InvestigationRow, OutboxMessage
from epicity.tracing.outbox import (
    EnqueueResult,
    add_confirmation,
    approve,
    confirmations_for,
    enqueue,
    messages_for,
)
from epicity.tracing.service import Investigation, investigate, warning_context
from epicity.tracing.timeline import Confirmation, Stay
from epicity.tracing.warnings import build_warnings

__all__ = [
    "CaseNotFound",
    "CaseNotTraceable",
    "InvestigationConflict",
    "InvestigationError",
    "InvestigationResult",
    "approve_warnings",
    "close_investigation",
    "confirm_stay",
    "get_investigation",
    "run_investigation",
    "stay_json",
    "warnings_of",
]

TRACED_TIERS = ("close", "casual")  # the tiers that become contacts in case management


class InvestigationError(ValueError):
    """An investigation request refused; the message names the field or the problem."""


class CaseNotFound(InvestigationError):  # noqa: N818 (the names say what was refused)
    """No case (or no investigation of it) with that id."""


class CaseNotTraceable(InvestigationError):  # noqa: N818 (the names say what was refused)
    """The case lacks what tracing needs: a person id in the location store, a confirmed date."""


class InvestigationConflict(InvestigationError):  # noqa: N818 (says what was refused)
    """The investigation is closed, so it is not traced again."""


@dataclass
class InvestigationResult:
    """What one run did: the stored investigation, contacts added, warnings queued."""

    investigation: InvestigationRow
    contacts_added: int
    queued: EnqueueResult


def _case(session: Session, case_id: int) -> Case:
    case = session.get(Case, int(case_id))
    if case is None:
        raise CaseNotFound(f"case_id: no case {case_id}")
    return case


def _person(case: Case) -> int:
    if case.person_id is None:
        raise CaseNotTraceable(
            f"person_id: case {case.id} has no person id in the location store, so it cannot "
            "be traced (set the case's person_id)"
        )
    return int(case.person_id)


def _actor(actor: str) -> str:
    who = (actor or "").strip()
    if not who:
        raise InvestigationError("actor: who does this is required")
    if len(who) > ACTOR_MAX:
        raise InvestigationError(f"actor: longer than {ACTOR_MAX} characters")
    return who


def _iso(epoch: int, tz: ZoneInfo) -> str:
    return dt.datetime.fromtimestamp(epoch, tz).isoformat()


def _instant(epoch: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


def stay_json(stay: Stay, names: dict[int, str], tz: ZoneInfo) -> dict[str, Any]:
    """A stay as stored in ``investigations.timeline`` (local ISO 8601 times with offset)."""
    return {
        "id": stay.stay_id,
        "kind": stay.kind,
        "place_id": stay.place_id,
        "name": names.get(stay.place_id, "") if stay.place_id is not None else "",
        "category": stay.category,
        "lat": round(stay.lat, 6),
        "lon": round(stay.lon, 6),
        "radius_m": round(stay.radius_m, 1),
        "start": _iso(stay.start, tz),
        "end": _iso(stay.end, tz),
        "minutes": round(stay.minutes, 1),
        "sources": list(stay.sources),
        "confidence": round(stay.confidence, 3),
        "note": stay.note,
    }


def _contact_summary(inv: Investigation) -> dict[str, int]:
    tiers = Counter(c.tier for c in inv.contacts)
    return {
        "close": tiers["close"],
        "casual": tiers["casual"],
        "area_people": sum(a.people for a in inv.area),
    }


def _add_contacts(session: Session, case: Case, contacts: Sequence[Contact], actor: str) -> int:
    """The traced close and casual contacts not yet on the case, added; how many."""
    known = set(
        session.scalars(
            select(CaseContact.person_id).where(
                CaseContact.case_id == case.id, CaseContact.person_id.is_not(None)
            )
        )
    )
    added = 0
    for c in sorted(contacts, key=lambda c: (c.tier != "close", c.contact_id)):
        if c.tier not in TRACED_TIERS or c.contact_id in known or c.contact_id == case.person_id:
            continue
        add_contact(
            session,
            case_id=case.id,
            actor=actor,
            tier=c.tier,
            person_id=int(c.contact_id),
            origin="tracing",
            note=f"traced: {c.overlap_minutes:.0f} min overlap, risk {c.risk_score:.2f}",
        )
        known.add(c.contact_id)
        added += 1
    return added


def run_investigation(
    session: Session,
    store: LocationStore | Path,
    *,
    case_id: int,
    actor: str,
    role: str,
    purpose: str,
    config: TracingConfig | None = None,
    timezone: str = "Asia/Seoul",
    access_sessions: Callable[[], Session] | None = None,
    now: dt.datetime | None = None,
) -> InvestigationResult:
    """Trace a case of case management and record what it found (flushes).

    Requires the case to have a ``person_id`` and a ``confirmed_date`` (`CaseNotTraceable`);
    the store must have that person as a confirmed case (`TracingError`). The read is made by
    `actor` in `role` for `purpose` through `LocationAccess` (`PrivacyError` subclasses:
    no emergency in force, purpose too short, role not allowed; refusals are audited).
    `access_sessions` opens the access layer's own audit transactions (default: sessions on
    the caller's engine). Re-running after a confirmation updates the timeline, adds the new
    contacts, queues new warnings and cancels pending ones the case no longer gives.
    """
    who = _actor(actor)
    case = _case(session, case_id)
    person = _person(case)
    if case.confirmed_date is None:
        raise CaseNotTraceable(
            f"confirmed_date: case {case.id} is not confirmed, so it has no infectious window"
        )
    row = session.scalar(select(InvestigationRow).where(InvestigationRow.case_id == case.id))
    if row is not None and row.status == "closed":
        raise InvestigationConflict(
            f"case {case.id}: the investigation was closed by {row.closed_by}; it is not traced "
            "again"
        )
    confirmations = confirmations_for(session, case_id=person)
    if access_sessions is None:
        access_sessions = session_factory(session.get_bind().engine)
    the_store = store if isinstance(store, LocationStore) else LocationStore(store)
    access = LocationAccess(the_store, access_sessions, actor=who, role=role)
    with access.open(purpose, case_id=person) as reader:
        try:
            inv = investigate(
                reader, person, config=config, timezone=timezone, confirmations=confirmations
            )
        except ValueError as exc:  # a stored confirmation that no longer applies
            raise InvestigationConflict(
                f"case {case.id}: a recorded confirmation cannot be applied: {exc}"
            ) from None
        venues, towers = warning_context(reader, inv)
    warnings = build_warnings(inv, venues, timezone=timezone, towers=towers)

    when = utcnow() if now is None else now
    tz = ZoneInfo(timezone)
    timeline = [stay_json(s, inv.venue_names, tz) for s in inv.timeline]
    text = " ".join(purpose.split())
    if row is None:
        row = InvestigationRow(
            case_id=case.id,
            person_id=person,
            status="open",
            opened_by=who,
            opened_at=when,
        )
        session.add(row)
    row.person_id = person
    row.purpose = text
    row.window_start = _instant(inv.window_start)
    row.window_end = _instant(inv.window_end)
    row.timeline = timeline
    row.contacts = _contact_summary(inv)
    row.traced_by = who
    row.traced_at = when
    session.flush()
    added = _add_contacts(session, case, inv.contacts, who)
    queued = enqueue(session, case_id=person, warnings=warnings, now=when)
    return InvestigationResult(row, added, queued)


def get_investigation(session: Session, *, case_id: int) -> InvestigationRow | None:
    """The case's investigation, or None when it has not been traced yet."""
    return session.scalar(select(InvestigationRow).where(InvestigationRow.case_id == case_id))


def close_investigation(session: Session, *, case_id: int, actor: str) -> InvestigationRow:
    """Close the case's investigation (flushes); closing a closed one changes nothing."""
    who = _actor(actor)
    row = get_investigation(session, case_id=case_id)
    if row is None:
        raise CaseNotFound(f"case_id: case {case_id} has no investigation")
    if row.status != "closed":
        row.status = "closed"
        row.closed_by = who
        row.closed_at = utcnow()
        session.flush()
    return row


def confirm_stay(
    session: Session,
    *,
    case_id: int,
    actor: str,
    action: Literal["add", "correct", "remove"],
    method: Literal["cctv", "interview"],
    reason: str,
    stay_id: str | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    place_id: int | None = None,
    lat: float | None = None,
    lon: float | None = None,
) -> int:
    """Record an investigator's confirmation for the case's person (flushes); its id.

    It takes effect on the next `run_investigation`. Raises `InvestigationError` naming the
    field when it cannot apply (e.g. correcting without a stay id or one that is not in the
    stored timeline, an end before the start).
    """
    case = _case(session, case_id)
    person = _person(case)
    if action in ("correct", "remove") and stay_id:
        # Stay ids come from the stored timeline; one that is not there would make every
        # later trace of the case fail.
        current = get_investigation(session, case_id=case.id)
        if current is None or stay_id not in {s["id"] for s in current.timeline}:
            raise InvestigationError(
                f"stay_id: no stay {stay_id!r} in case {case.id}'s current timeline"
            )
    for name, at in (("start", start), ("end", end)):
        if at is not None and (at.tzinfo is None or at.utcoffset() is None):
            raise InvestigationError(f"{name}: {at.isoformat()} has no time zone; give an offset")
    confirmation = Confirmation(
        action=action,
        method=method,
        by=_actor(actor),
        reason=reason,
        stay_id=stay_id,
        start=int(start.timestamp()) if start is not None else None,
        end=int(end.timestamp()) if end is not None else None,
        place_id=place_id,
        lat=lat,
        lon=lon,
    )
    try:
        row = add_confirmation(session, case_id=person, confirmation=confirmation)
    except ValueError as exc:
        raise InvestigationError(str(exc)) from None
    return row.id


def warnings_of(session: Session, *, case_id: int) -> list[OutboxMessage]:
    """The case's warnings in the outbox (every status), oldest first."""
    return messages_for(session, case_id=_person(_case(session, case_id)))


def approve_warnings(
    session: Session,
    *,
    case_id: int,
    actor: str,
    message_ids: Sequence[int] | None = None,
    now: dt.datetime | None = None,
) -> list[OutboxMessage]:
    """Approve the case's pending warnings (all, or `message_ids`) for delivery (flushes).

    Returns the messages this call approved (ones approved before are left as they were);
    `InvestigationError` names messages that are not the case's or no longer pending.
    """
    person = _person(_case(session, case_id))
    try:
        return approve(
            session, case_id=person, actor=_actor(actor), message_ids=message_ids, now=now
        )
    except ValueError as exc:
        raise InvestigationError(str(exc)) from None
