"""Deliver what is due in the outbox: claim, route, send, record; retries with backoff.

Routing (which channel carries which message):

- isolation orders and testing advice go to a person (``person:<id>``, pseudonymous): by
  **email** when the recipient directory has an email address and email is configured, else
  by **webhook** as an SMS (``route: "sms"``, the phone in ``to``) when it has a phone and the
  webhook is configured. A person with no address on record is marked ``undeliverable``. A
  person whose only address needs a channel that is not configured is left pending (held), so
  configuring the channel later delivers it.
- area alerts (cell broadcast per tower) and public notices go to the **webhook**.

Exactly-once, as far as the receivers are concerned: a worker claims due rows before sending
(status ``sending``, ``claimed_by``, ``lease_until``; one atomic UPDATE on SQLite, ``SELECT
... FOR UPDATE SKIP LOCKED`` then UPDATE on PostgreSQL), so two workers never hold the same
row. A claim counts as an attempt. Results are recorded only while the worker still holds
the row (``claimed_by`` and ``status = 'sending'``): a worker that outlived its lease
cannot overwrite another's result. A crashed worker's lease expires and the row is claimed
again, and sent with the SAME idempotency key (the dedupe key), which receivers dedupe on.
Cancelled rows are never claimed, nor are rows no health officer approved
(``approved_at``, see `epicity.tracing.outbox.approve`); pending rows past ``expires_at`` fail
as expired.

Retries: a transient failure puts the row back to ``pending`` with ``not_before`` (the next
attempt's time) moved by ``backoff * 2**(attempts-1)``, capped, with "equal jitter" (half
fixed, half random) and at least the receiver's ``Retry-After``; after ``max_attempts`` the row
is ``failed``. A permanent failure fails it at once.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
import socket
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Result, Table, and_, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from epicity.db import session_scope, utcnow
from epicity.delivery.channels import Channel, Delivery, EmailChannel, SendError, WebhookChannel
from epicity.delivery.directory import address_of
from epicity.delivery.settings import DeliverySettings, RetryPolicy
from epicity.tracing.models import OutboxMessage

__all__ = [
    "PERSONAL_KINDS",
    "Channels",
    "DeliveryReport",
    "backoff_delay",
    "deliver_due",
    "status_counts",
]

log = logging.getLogger(__name__)

PERSONAL_KINDS = ("isolation_order", "test_advice")
BROADCAST_KINDS = ("area_alert", "public_notice")
NO_ADDRESS = "no email or phone on record for the recipient"
EXPIRED = "expired before it could be delivered"
LEASE_LOST = "worker lease expired after the last attempt"


@dataclass(frozen=True)
class Channels:
    """The configured channels (None: off)."""

    email: Channel | None = None
    webhook: Channel | None = None

    @classmethod
    def from_settings(cls, settings: DeliverySettings) -> Channels:
        """SMTP and webhook channels for whatever `settings` configures."""
        return cls(
            email=EmailChannel(settings.smtp) if settings.smtp else None,
            webhook=WebhookChannel(settings.webhook) if settings.webhook else None,
        )

    def kinds(self) -> tuple[str, ...]:
        """The kinds of message these channels may carry."""
        kinds: tuple[str, ...] = ()
        if self.email is not None or self.webhook is not None:
            kinds += PERSONAL_KINDS
        if self.webhook is not None:
            kinds += BROADCAST_KINDS
        return kinds


@dataclass
class DeliveryReport:
    """What one `deliver_due` run did (counts only: no recipients)."""

    sent: Counter[str] = field(default_factory=Counter)  # by channel
    retrying: Counter[str] = field(default_factory=Counter)  # by channel
    failed: Counter[str] = field(default_factory=Counter)  # by channel
    undeliverable: int = 0
    expired: int = 0
    held: int = 0  # the only usable address needs a channel that is off
    lost: int = 0  # the lease ran out mid-send; another worker holds the row now

    @property
    def attempted(self) -> int:
        return sum(self.sent.values()) + sum(self.retrying.values()) + sum(self.failed.values())

    def rows(self) -> list[tuple[str, str, int]]:
        """(outcome, channel, count) rows for a summary table."""
        out = [
            (outcome, channel, n)
            for outcome, counts in (
                ("sent", self.sent),
                ("retrying", self.retrying),
                ("failed", self.failed),
            )
            for channel, n in sorted(counts.items())
        ]
        for outcome, n in (
            ("undeliverable", self.undeliverable),
            ("expired", self.expired),
            ("held", self.held),
            ("lost lease", self.lost),
        ):
            if n:
                out.append((outcome, "-", n))
        return out


def backoff_delay(attempts: int, policy: RetryPolicy, rng: random.Random) -> float:
    """Seconds before the next attempt after `attempts` tries: exponential, capped, jittered."""
    delay = min(policy.max_backoff_s, policy.backoff_s * 2.0 ** max(0, attempts - 1))
    return delay / 2 + rng.uniform(0, delay / 2)


def _table() -> Table:
    table = OutboxMessage.__table__
    assert isinstance(table, Table)
    return table


def _rowcount(result: Result[Any]) -> int:
    return int(cast(CursorResult[Any], result).rowcount)  # an UPDATE's result is a cursor's


def _default_worker() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _expire(sessions: sessionmaker[Session], now: dt.datetime, policy: RetryPolicy) -> int:
    """Fail pending rows past their expiry, and held rows whose last attempt's lease ran out."""
    t = _table()
    with session_scope(sessions) as session:
        expired = _rowcount(
            session.execute(
                update(t)
                .where(t.c.status == "pending", t.c.expires_at.is_not(None), t.c.expires_at <= now)
                .values(status="failed", last_error=EXPIRED)
            )
        )
        session.execute(
            update(t)
            .where(
                t.c.status == "sending",
                t.c.lease_until <= now,
                t.c.attempts >= policy.max_attempts,
            )
            .values(status="failed", last_error=LEASE_LOST, lease_until=None)
        )
    return int(expired)


def _claimable(now: dt.datetime, kinds: tuple[str, ...], skip: set[int]) -> ColumnElement[bool]:
    t = _table()
    due = and_(
        t.c.status == "pending",
        t.c.approved_at.is_not(None),  # a health officer approved it (tracing.outbox.approve)
        t.c.not_before <= now,
        or_(t.c.expires_at.is_(None), t.c.expires_at > now),
    )
    abandoned = and_(t.c.status == "sending", t.c.lease_until <= now)
    condition = and_(or_(due, abandoned), t.c.kind.in_(kinds))
    if skip:
        condition = and_(condition, t.c.id.not_in(sorted(skip)))
    return condition


def _claim(
    sessions: sessionmaker[Session],
    *,
    now: dt.datetime,
    worker: str,
    policy: RetryPolicy,
    kinds: tuple[str, ...],
    skip: set[int],
    batch: int,
) -> list[dict[str, Any]]:
    """Atomically take up to `batch` due rows for `worker`; their data."""
    t = _table()
    values = {
        "status": "sending",
        "claimed_by": worker,
        "claimed_at": now,
        "lease_until": now + dt.timedelta(seconds=policy.lease_s),
        "attempts": t.c.attempts + 1,
    }
    columns = (t.c.id, t.c.kind, t.c.recipient, t.c.payload, t.c.dedupe_key, t.c.attempts)
    candidates = (
        select(t.c.id)
        .where(_claimable(now, kinds, skip))
        .order_by(t.c.not_before, t.c.id)
        .limit(batch)
    )
    with session_scope(sessions) as session:
        if session.get_bind().dialect.name == "postgresql":
            # Rows another worker is claiming are skipped, not waited for.
            ids = list(session.scalars(candidates.with_for_update(skip_locked=True)))
            if not ids:
                return []
            stmt = update(t).where(t.c.id.in_(ids))
        else:
            # One statement: SQLite takes the write lock first, so the choice and the
            # claim cannot interleave with another worker's.
            stmt = update(t).where(t.c.id.in_(candidates.scalar_subquery()))
        result = session.execute(stmt.values(values).returning(*columns))
        return [dict(row._mapping) for row in result]


def _record(
    sessions: sessionmaker[Session], row_id: int, worker: str, values: dict[str, Any]
) -> bool:
    """Store a result if `worker` still holds the row; False when it lost it."""
    t = _table()
    with session_scope(sessions) as session:
        done = _rowcount(
            session.execute(
                update(t)
                .where(t.c.id == row_id, t.c.status == "sending", t.c.claimed_by == worker)
                .values(lease_until=None, **values)
            )
        )
    return bool(done)


def _route(
    sessions: sessionmaker[Session], row: dict[str, Any], channels: Channels
) -> tuple[Channel, Delivery] | str:
    """The channel and delivery for a claimed row, or why there is none."""
    key, kind, payload = row["dedupe_key"], row["kind"], row["payload"]
    if kind in BROADCAST_KINDS:
        assert channels.webhook is not None  # only claimed when the webhook is on
        return channels.webhook, Delivery(key, kind, kind, payload)
    with sessions() as session:
        entry = address_of(session, row["recipient"])
        email, phone = (entry.email, entry.phone) if entry is not None else (None, None)
    if email is None and phone is None:
        return "undeliverable"
    if email is not None and channels.email is not None:
        return channels.email, Delivery(key, kind, "email", payload, address=email)
    if phone is not None and channels.webhook is not None:
        return channels.webhook, Delivery(key, kind, "sms", payload, address=phone)
    return "held"


def deliver_due(
    session_factory: sessionmaker[Session],
    channels: Channels,
    now: dt.datetime | None = None,
    *,
    policy: RetryPolicy | None = None,
    worker: str | None = None,
    rng: random.Random | None = None,
    batch: int = 20,
) -> DeliveryReport:
    """Deliver every outbox message due at `now` (default: the current instant) once.

    Claims due rows `batch` at a time until none is left, sends each by its channel and
    records the outcome (see the module's docstring). `now` is the clock of the whole run:
    rows retried in this run are due again only at a later `now`. Returns counts by outcome
    and channel. Safe to run in several processes or threads at once.
    """
    when = utcnow() if now is None else now
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"now: naive datetime {when.isoformat()}; give a time zone")
    if batch < 1:
        raise ValueError(f"batch: must be at least 1, got {batch}")
    policy = policy or RetryPolicy()
    worker = worker or _default_worker()
    rng = rng or random.Random()
    report = DeliveryReport(expired=_expire(session_factory, when, policy))
    kinds = channels.kinds()
    if not kinds:
        return report
    skip: set[int] = set()
    while True:
        claimed = _claim(
            session_factory,
            now=when,
            worker=worker,
            policy=policy,
            kinds=kinds,
            skip=skip,
            batch=batch,
        )
        if not claimed:
            return report
        for row in claimed:
            _deliver_one(session_factory, row, channels, when, policy, worker, rng, report, skip)


def _deliver_one(
    sessions: sessionmaker[Session],
    row: dict[str, Any],
    channels: Channels,
    now: dt.datetime,
    policy: RetryPolicy,
    worker: str,
    rng: random.Random,
    report: DeliveryReport,
    skip: set[int],
) -> None:
    row_id, attempts = int(row["id"]), int(row["attempts"])
    routed = _route(sessions, row, channels)
    if routed == "undeliverable":
        if _record(sessions, row_id, worker, {"status": "undeliverable", "last_error": NO_ADDRESS}):
            report.undeliverable += 1
        log.info("outbox %d (%s): undeliverable, no address", row_id, row["kind"])
        return
    if routed == "held":
        # Not an attempt: give the row back as it was, and leave it alone for this run.
        _record(
            sessions,
            row_id,
            worker,
            {
                "status": "pending",
                "attempts": attempts - 1,
                "last_error": "held: the recipient's address needs a channel that is off",
            },
        )
        report.held += 1
        skip.add(row_id)
        return
    assert not isinstance(routed, str)
    channel, delivery = routed
    values: dict[str, Any] = {"channel": channel.name}
    try:
        channel.send(delivery)
    except SendError as exc:
        error = exc
    except Exception as exc:  # a fault in a channel must not leave the row claimed
        error = SendError(f"{channel.name}: {type(exc).__name__}", permanent=False)
        log.exception("outbox %d (%s): unexpected error in %s", row_id, row["kind"], channel.name)
    else:
        values.update(status="sent", delivered_at=now, last_error=None)
        if _record(sessions, row_id, worker, values):
            report.sent[channel.name] += 1
        else:
            report.lost += 1
        log.info("outbox %d (%s): sent by %s", row_id, row["kind"], channel.name)
        return
    values["last_error"] = error.reason[:500]
    if error.permanent or attempts >= policy.max_attempts:
        values["status"] = "failed"
        outcome = report.failed
    else:
        delay = backoff_delay(attempts, policy, rng)
        if error.retry_after_s is not None:
            delay = max(delay, min(error.retry_after_s, policy.max_backoff_s))
        values.update(status="pending", not_before=now + dt.timedelta(seconds=delay))
        outcome = report.retrying
    if _record(sessions, row_id, worker, values):
        outcome[channel.name] += 1
    else:
        report.lost += 1
    log.info(
        "outbox %d (%s): %s by %s after attempt %d: %s",
        row_id,
        row["kind"],
        values["status"],
        channel.name,
        attempts,
        error.reason,
    )


def status_counts(session: Session) -> list[tuple[str, str, int]]:
    """(status, channel, count) over the whole outbox; channel '-' when none was chosen."""
    t = _table()
    query = (
        select(t.c.status, t.c.channel, func.count())
        .group_by(t.c.status, t.c.channel)
        .order_by(t.c.status, t.c.channel)
    )
    return [(status, channel or "-", int(n)) for status, channel, n in session.execute(query)]
