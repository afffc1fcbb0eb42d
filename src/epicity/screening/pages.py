"""Console pages of screening (staff with ``run_screening``).

- ``/console/screening``: every centre with today's queue (waiting, booked today, checked in
  today) and its wait now; the lab's samples by stage (waiting for a batch, in the lab,
  waiting for a retest); recent batches with tests used against samples (the capacity gain of
  pooling); and turnaround per centre and day over the last week against the 6-hour target.
- ``/console/screening/centres/{centre_id}``: one centre: its facts and hours, the queue with
  each waiting sample, today's slots and bookings, and its turnaround.

The pages call the service directly and stay out of the OpenAPI schema; times are shown in
Seoul time.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from epicity.accounts.permissions import Capability
from epicity.db import utcnow
from epicity.screening import service
from epicity.screening.errors import NotFound
from epicity.screening.models import Booking, Centre, Sample
from epicity.web.deps import Caller, DbSession, need
from epicity.web.pages import render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

Staff = Annotated[Caller, Depends(need(Capability.RUN_SCREENING))]
CentreId = Annotated[int, Path(ge=1, le=2**63 - 1)]
TURNAROUND_DAYS = 7  # days of turnaround on the pages
TARGET_SHARE = 0.95  # Seoul's aim: 95% of results within 6 hours (issue 5)


def _local(at: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return "" if at is None else at.astimezone(service.ZONE).strftime(fmt)


def _hours_text(h: float | None) -> str:
    return "" if h is None else f"{h:.1f} h"


def _share_text(share: float | None) -> str:
    return "–" if share is None else f"{share:.0%}"


def _turnaround_rows(
    session: Session, today: dt.date, now: dt.datetime, centre_id: int | None = None
) -> list[dict[str, Any]]:
    rows = service.turnaround(
        session,
        since=today - dt.timedelta(days=TURNAROUND_DAYS - 1),
        until=today,
        centre_id=centre_id,
        now=now,
    )
    return [
        {
            "centre_id": r.centre_id,
            "centre": r.centre_name,
            "day": r.day.isoformat(),
            "samples": r.samples,
            "resulted": r.resulted,
            "pending": r.pending,
            "share": _share_text(r.share_within),
            "meets": r.share_within is not None and r.share_within >= TARGET_SHARE,
            "missed": r.share_within is not None and r.share_within < TARGET_SHARE,
            "median": _hours_text(r.median_hours),
            "p95": _hours_text(r.p95_hours),
            "delivered": r.delivered,
            "delivered_share": _share_text(r.delivered_share_within),
            "delivered_median": _hours_text(r.delivered_median_hours),
        }
        for r in sorted(rows, key=lambda r: (r.day, r.centre_name), reverse=True)
    ]


def _counts_by_centre(session: Session, *where: Any) -> dict[int, int]:
    return {
        int(c): int(n)
        for c, n in session.execute(
            select(Sample.centre_id, func.count()).where(*where).group_by(Sample.centre_id)
        ).all()
    }


@router.get("/console/screening", response_class=HTMLResponse)
def screening_page(request: Request, session: DbSession, caller: Staff) -> Response:
    """Centres with today's queue, the lab's samples and batches, turnaround against 6 h."""
    del caller
    now = utcnow()
    today = now.astimezone(service.ZONE).date()
    day_start = dt.datetime.combine(today, dt.time(0), tzinfo=service.ZONE)
    waiting = _counts_by_centre(session, Sample.status == "waiting")
    checked_in = _counts_by_centre(session, Sample.checked_in_at >= day_start)
    booked = {
        int(c): int(n)
        for c, n in session.execute(
            select(Booking.centre_id, func.count())
            .where(Booking.status == "booked", Booking.active_day == today)
            .group_by(Booking.centre_id)
        ).all()
    }
    centres = []
    for centre in service.list_centres(session):
        q = service.queue(session, centre_id=centre.id, at=now)
        centres.append(
            {
                "id": centre.id,
                "name": centre.name,
                "kind": centre.kind.replace("_", "-"),
                "district": centre.district,
                "active": centre.active,
                "open_now": q.open_now,
                "waiting": waiting.get(centre.id, 0),
                "booked": booked.get(centre.id, 0),
                "checked_in": checked_in.get(centre.id, 0),
                "wait": "closed" if q.wait_minutes is None else f"{q.wait_minutes:.0f} min",
            }
        )
    stages = dict(
        session.execute(
            select(Sample.status, func.count())
            .where(Sample.status.in_(("collected", "in_lab", "retest")))
            .group_by(Sample.status)
        ).all()
    )
    batches = [
        {
            "id": b.id,
            "lab": b.lab,
            "mode": b.mode,
            "pool_size": b.pool_size,
            "prevalence": "" if b.prevalence is None else f"{b.prevalence:.1%}",
            "samples": b.samples,
            "tests_used": b.tests_used,
            "gain": f"{b.samples / b.tests_used:.2f}×" if b.tests_used else "–",
            "status": b.status,
            "created": _local(b.created_at),
        }
        for b in service.list_batches(session, limit=20)
    ]
    context = {
        "centres": centres,
        "stages": {k: int(stages.get(k, 0)) for k in ("collected", "in_lab", "retest")},
        "batches": batches,
        "turnaround": _turnaround_rows(session, today, now),
        "today": today.isoformat(),
        "now": _local(now),
        "target_share": f"{TARGET_SHARE:.0%}",
    }
    return render(request, "screening_centres.html", context)


@router.get("/console/screening/centres/{centre_id}", response_class=HTMLResponse)
def centre_page(
    request: Request, centre_id: CentreId, session: DbSession, caller: Staff
) -> Response:
    """One centre: facts and hours, the queue, today's slots, its turnaround."""
    del caller
    try:
        centre: Centre = service.get_centre(session, centre_id=centre_id)
    except NotFound as err:
        context: dict[str, Any] = {"centre": None, "error": str(err)}
        return render(request, "screening_centre.html", context, status=404)
    now = utcnow()
    today = now.astimezone(service.ZONE).date()
    hours = service.opening_hours(session, centre_id=centre.id)
    q = service.queue(session, centre_id=centre.id, at=now)
    queue = [
        {
            "barcode": s.barcode,
            "person_id": s.person_id,
            "arrival": s.arrival.replace("_", "-"),
            "checked_in": _local(s.checked_in_at, "%H:%M"),
        }
        for s in reversed(service.list_samples(session, status="waiting", centre_id=centre.id))
    ]
    slots = [
        {
            "start": _local(s.starts_at, "%H:%M"),
            "end": _local(s.ends_at, "%H:%M"),
            "booked": s.booked,
            "capacity": s.capacity,
            "full": s.free == 0,
        }
        for s in service.slots(session, centre_id=centre.id, day=today)
    ]
    context = {
        "centre": centre,
        "kind": centre.kind.replace("_", "-"),
        "hours": [
            (service.WEEKDAYS[d], f"{o:%H:%M}–{c:%H:%M}") for d, (o, c) in sorted(hours.items())
        ],
        "open_now": q.open_now,
        "waiting": q.waiting,
        "booked_due": q.booked_due,
        "wait": "closed" if q.wait_minutes is None else f"{q.wait_minutes:.0f} min",
        "next_open": "" if q.open_now else _local(service.next_open(hours, now)),
        "queue": queue,
        "slots": slots,
        "turnaround": _turnaround_rows(session, today, now, centre.id),
        "today": today.isoformat(),
        "target_share": f"{TARGET_SHARE:.0%}",
    }
    return render(request, "screening_centre.html", context)
