"""Records relief checks against, made through their owners' services: ordered and voluntary
isolation (H4's isolation service), public notices (the outbox), closures (relief)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session
from tests.web.conftest import FAST_POLICY

from epicity.accounts.service import create_user
from epicity.isolation import service as isolation
from epicity.tracing.models import OutboxMessage
from epicity.tracing.outbox import dedupe_key

SEOUL = ZoneInfo("Asia/Seoul")
MARCH_1 = dt.datetime(2020, 3, 1, 9, 0, tzinfo=SEOUL)
VENUE = 5012
FENCE = isolation.Geofence(lat=37.5, lon=127.0, radius_m=100)


def business_number(first9: str) -> str:
    """A business registration number with the right check digit for its first nine."""
    d = [int(c) for c in first9]
    weights = (1, 3, 7, 1, 3, 7, 1, 3, 5)
    total = sum(a * b for a, b in zip(d, weights, strict=True)) + d[8] * 5 // 10
    return first9 + str((10 - total % 10) % 10)


def officer(session: Session, name: str = "officer1") -> int:
    """A health officer account (isolation assigns one)."""
    return create_user(
        session, username=name, password="a long pass phrase 1", role="health_officer",
        policy=FAST_POLICY,
    ).id  # fmt: skip


def isolate(
    session: Session,
    person_id: int,
    start: dt.date,
    end: dt.date,
    *,
    ordered: bool = True,
    officer_id: int | None = None,
) -> int:
    """Register `person_id` in isolation from `start` to `end` (ordered or voluntary)."""
    if ordered:
        assert officer_id is not None
        return isolation.register(
            session,
            person_id=person_id,
            kind="ordered",
            start=start,
            end=end,
            officer_id=officer_id,
            actor="officer",
            geofence=FENCE,
            now=MARCH_1,
        ).id
    return isolation.register_voluntary(
        session, person_id=person_id, geofence=FENCE, actor="citizen", start=start, end=end,
        now=MARCH_1,
    ).id  # fmt: skip


def public_notice(
    session: Session,
    venue_id: int,
    day: dt.date,
    *,
    approved: bool = True,
    status: str = "sent",
) -> OutboxMessage:
    """A public notice naming `venue_id` on `day`, as tracing queues it."""
    payload = {
        "kind": "public_notice",
        "place_id": venue_id,
        "venue_name": "Karaoke 7",
        "category": "karaoke",
        "district": "Guro-gu",
        "address": None,
        "date": day.isoformat(),
        "start_time": "19:00",
        "end_time": "21:30",
        "text": "A confirmed case visited.",
    }
    at = dt.datetime.combine(day, dt.time(22), tzinfo=SEOUL)
    row = OutboxMessage(
        kind="public_notice",
        case_id=1,
        recipient="public",
        channel=None,
        status=status,
        payload=payload,
        dedupe_key=dedupe_key("public_notice", "public", 1, f"venue:{venue_id}:{day}:{status}"),
        created_at=at,
        not_before=at,
        expires_at=None,
        attempts=0,
        approved_by="officer" if approved else None,
        approved_at=at if approved else None,
    )
    session.add(row)
    session.flush()
    return row
