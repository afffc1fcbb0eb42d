"""Helpers of the place-notice tests: tracing's public notices queued in the outbox and
approved, as tracing does it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session
from tests.web.conftest import LiveService, make_live_service

from epicity.notices.service import ZONE
from epicity.tracing.outbox import approve, enqueue
from epicity.tracing.warnings import (
    IsolationOrder,
    PublicNotice,
    VenueInfo,
    Warnings,
    venue_notices,
)

T0 = dt.datetime(2020, 3, 5, 12, 3, tzinfo=ZONE)  # a visit's start (local)
CAFE = VenueInfo(
    name="Guro Cafe 12", category="cafe", district="Guro-gu", indoor=True,
    keeps_visitor_log=False, address="12 Digital-ro, Guro-gu",
)  # fmt: skip
PARK = VenueInfo(
    name="Mapo Park 3", category="park", district="Mapo-gu", indoor=False,
    keeps_visitor_log=False,
)  # fmt: skip


def notice(
    info: VenueInfo = CAFE, place_id: int = 12, start: dt.datetime = T0, minutes: int = 50
) -> PublicNotice:
    """Tracing's notice of one visit (rounded by its rules)."""
    s = int(start.timestamp())
    (n,) = venue_notices(place_id, info, [(s, s + minutes * 60)], ZONE)
    return n


def queue(
    session: Session,
    case_id: int,
    notices: list[PublicNotice],
    *,
    approved: bool = True,
    orders: list[IsolationOrder] | None = None,
    now: dt.datetime = T0,
) -> None:
    """Queue a case's warnings in the outbox as tracing does, approved by an officer or not."""
    warnings = Warnings(timezone="Asia/Seoul", notices=notices, orders=orders or [])
    enqueue(session, case_id=case_id, warnings=warnings, now=now)
    if approved:
        approve(session, case_id=case_id, actor="officer", now=now + dt.timedelta(hours=1))
    session.flush()


@pytest.fixture
def live(db_url: str) -> Iterator[LiveService]:
    """A live service on a fresh database (SQLite and PostgreSQL in turn)."""
    yield from make_live_service(db_url)
