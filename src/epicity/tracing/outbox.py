"""The warnings outbox and investigators' confirmations: plain functions over a session.

`enqueue` turns a case's `Warnings` into ``outbox`` rows for the delivery worker; it is
idempotent: each row carries a ``dedupe_key`` (SHA-256 of kind, recipient, case and window;
unique in the database), so tracing the same case again inserts nothing new, and a concurrent
enqueue of the same warning is skipped by ``INSERT ... ON CONFLICT DO NOTHING`` rather than
failing. The window of each kind is what makes a warning "the same" one:

- isolation order: the isolation end date (a new, later exposure extends it: a new order);
- testing advice: the end date of symptom monitoring;
- area alert: the tower and the rounded local window;
- public notice: the venue and the rounded local window.

The case id is stored in ``case_id`` for internal tracking only; payloads are the warnings'
own JSON, which never contains it.

Rows wait for approval: `approve` records who approved which of a case's pending rows, and
the delivery worker claims approved rows only (`epicity.delivery.service`). A re-trace keeps
the approval of rows it still gives and cancels pending rows it no longer gives, approved or
not; the rows it adds wait for approval again.

`add_confirmation` / `confirmations_for` keep investigators' confirmations, replayed by
`epicity.tracing.service.investigate` in creation order.

Functions add and flush but do not commit: the caller owns the transaction
(`epicity.db.session_scope`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from sqlalchemy import Insert, Table, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from epicity.db import utcnow
from epicity.tracing.models import (
    ACTOR_MAX,
    MESSAGE_KINDS,
    OUTBOX_KINDS,
    STAY_ID_MAX,
    WARNING_KINDS,
    ConfirmationRow,
    OutboxMessage,
)
from epicity.tracing.timeline import Confirmation
from epicity.tracing.warnings import AnyWarning, Warnings

__all__ = [
    "ApprovalRefused",
    "EnqueueResult",
    "add_confirmation",
    "approve",
    "confirmations_for",
    "dedupe_key",
    "enqueue",
    "enqueue_message",
    "messages_for",
    "pending",
]

_CHUNK = 500  # rows per INSERT (SQLite allows 32,766 parameters per statement)


@dataclass
class EnqueueResult:
    """How many warnings of each kind were queued, and how many were already there."""

    inserted: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    cancelled: dict[str, int] = field(default_factory=dict)

    @property
    def total_inserted(self) -> int:
        return sum(self.inserted.values())

    @property
    def total_skipped(self) -> int:
        return sum(self.skipped.values())

    @property
    def total_cancelled(self) -> int:
        return sum(self.cancelled.values())


def _aware_now(now: dt.datetime | None) -> dt.datetime:
    """`now`, or the current instant; a naive datetime is refused."""
    when = utcnow() if now is None else now
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"now: naive datetime {when.isoformat()}; give a time zone")
    return when


def dedupe_key(kind: str, recipient: str, case_id: int, window: str) -> str:
    """SHA-256 (hex) of kind, recipient, case and window: one row per distinct warning."""
    text = "\x1f".join((kind, recipient, str(int(case_id)), window))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _expires(item: AnyWarning) -> dt.datetime:
    return item.expires


def _insert_ignoring_duplicates(session: Session, rows: list[dict[str, Any]]) -> set[str]:
    """Insert `rows`, skipping those whose dedupe_key exists; the keys actually inserted."""
    table = OutboxMessage.__table__
    assert isinstance(table, Table)
    dialect = session.get_bind().dialect.name
    done: set[str] = set()
    for i in range(0, len(rows), _CHUNK):
        chunk = rows[i : i + _CHUNK]
        stmt: Insert
        if dialect == "postgresql":
            stmt = postgresql.insert(table).on_conflict_do_nothing(index_elements=["dedupe_key"])
        elif dialect == "sqlite":
            stmt = sqlite.insert(table).on_conflict_do_nothing(index_elements=["dedupe_key"])
        else:  # other backends: the keys were checked just before, in this transaction
            stmt = insert(table)
        result = session.execute(stmt.values(chunk).returning(table.c.dedupe_key))
        done.update(result.scalars())
    return done


def enqueue(
    session: Session, *, case_id: int, warnings: Warnings, now: dt.datetime | None = None
) -> EnqueueResult:
    """Queue every warning of a case as a pending outbox row (idempotent; flushes).

    `warnings` is the case's whole current set (a trace's result). Rows get ``created_at =
    not_before = now`` (default: the current instant) and ``expires_at`` from the warning.
    The case's still-pending rows that are not in the set any more (an investigator's
    confirmation removed the stay, a later exposure moved an isolation end) are cancelled, so
    they are never delivered; rows already sent stay as they are. Returns per-kind counts of
    rows inserted, skipped (already queued, whatever their status now) and cancelled.
    """
    when = _aware_now(now)
    result = EnqueueResult(
        inserted=dict.fromkeys(WARNING_KINDS, 0),
        skipped=dict.fromkeys(WARNING_KINDS, 0),
        cancelled=dict.fromkeys(WARNING_KINDS, 0),
    )
    rows: dict[str, dict[str, Any]] = {}
    for item in warnings.items():
        key = dedupe_key(item.kind, item.recipient, case_id, item.window)
        if key in rows:
            result.skipped[item.kind] += 1
            continue
        rows[key] = {
            "kind": item.kind,
            "case_id": int(case_id),
            "recipient": item.recipient,
            "channel": None,
            "status": "pending",
            "payload": item.to_json(),
            "dedupe_key": key,
            "created_at": when,
            "not_before": when,
            "expires_at": _expires(item),
            "attempts": 0,
            "last_error": None,
        }
    session.flush()  # pending ORM changes first, so the lookups below see them
    keys = list(rows)
    existing: set[str] = set()
    for i in range(0, len(keys), _CHUNK):
        existing.update(
            session.scalars(
                select(OutboxMessage.dedupe_key).where(
                    OutboxMessage.dedupe_key.in_(keys[i : i + _CHUNK])
                )
            )
        )
    new = [row for key, row in rows.items() if key not in existing]
    inserted = _insert_ignoring_duplicates(session, new) if new else set()
    kinds = Counter(row["kind"] for key, row in rows.items() if key in inserted)
    for kind in WARNING_KINDS:
        result.inserted[kind] = kinds[kind]
        result.skipped[kind] += sum(
            1 for key, row in rows.items() if row["kind"] == kind and key not in inserted
        )
    superseded = session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.case_id == int(case_id),
            OutboxMessage.status == "pending",
            OutboxMessage.kind.in_(WARNING_KINDS),
        )
    )
    for message in superseded:
        if message.dedupe_key not in rows:
            message.status = "cancelled"
            message.last_error = "superseded by a later trace of the case"
            result.cancelled[message.kind] += 1
    session.flush()
    return result


def pending(
    session: Session,
    *,
    kind: str | None = None,
    limit: int | None = None,
    due_at: dt.datetime | None = None,
) -> list[OutboxMessage]:
    """Pending outbox rows, oldest first (by ``not_before``, then id).

    `kind` keeps one kind; `due_at` keeps rows that may be sent at that instant (``not_before``
    reached, not expired); `limit` caps the number of rows.
    """
    if kind is not None and kind not in OUTBOX_KINDS:
        raise ValueError(f"kind: unknown kind {kind!r}; kinds are {', '.join(OUTBOX_KINDS)}")
    if limit is not None and limit < 0:
        raise ValueError(f"limit: must not be negative, got {limit}")
    query = select(OutboxMessage).where(OutboxMessage.status == "pending")
    if kind is not None:
        query = query.where(OutboxMessage.kind == kind)
    if due_at is not None:
        query = query.where(
            OutboxMessage.not_before <= due_at,
            (OutboxMessage.expires_at.is_(None)) | (OutboxMessage.expires_at > due_at),
        )
    query = query.order_by(OutboxMessage.not_before, OutboxMessage.id)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


class ApprovalRefused(ValueError):  # noqa: N818 (the name says what was refused)
    """Messages that cannot be approved: not the case's, or not pending any more."""


def approve(
    session: Session,
    *,
    case_id: int,
    actor: str,
    message_ids: Sequence[int] | None = None,
    now: dt.datetime | None = None,
) -> list[OutboxMessage]:
    """Approve a case's pending, not yet approved outbox rows for delivery (flushes).

    `case_id` is the outbox's (the case's pseudonymous person id). With `message_ids`, only
    those rows; each must be one of the case's rows and pending, else `ApprovalRefused` names
    it and nothing is approved. Rows approved already are left as they were (idempotent).
    Returns the rows approved by this call.
    """
    who = (actor or "").strip()
    if not who:
        raise ValueError("actor: who approves is required")
    if len(who) > ACTOR_MAX:
        raise ValueError(f"actor: longer than {ACTOR_MAX} characters")
    when = _aware_now(now)
    query = select(OutboxMessage).where(
        OutboxMessage.case_id == int(case_id), OutboxMessage.kind.in_(WARNING_KINDS)
    )
    if message_ids is not None:
        wanted = sorted({int(i) for i in message_ids})
        if not wanted:
            raise ApprovalRefused("message_ids: give at least one message, or leave it out")
        rows = list(session.scalars(query.where(OutboxMessage.id.in_(wanted))))
        unknown = sorted(set(wanted) - {r.id for r in rows})
        if unknown:
            raise ApprovalRefused(
                f"message_ids: {', '.join(map(str, unknown))} not among this case's warnings"
            )
        done = [r.id for r in rows if r.status != "pending"]
        if done:
            raise ApprovalRefused(
                f"message_ids: {', '.join(map(str, sorted(done)))} no longer pending "
                "(sent, cancelled or failed)"
            )
    else:
        rows = list(session.scalars(query.where(OutboxMessage.status == "pending")))
    approved = []
    for row in sorted(rows, key=lambda r: r.id):
        if row.approved_at is None:
            row.approved_by = who
            row.approved_at = when
            approved.append(row)
    session.flush()
    return approved


def messages_for(session: Session, *, case_id: int) -> list[OutboxMessage]:
    """Every warning of a case (the outbox's case id: the pseudonymous person id), by id."""
    return list(
        session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.case_id == int(case_id), OutboxMessage.kind.in_(WARNING_KINDS))
            .order_by(OutboxMessage.id)
        )
    )


SYSTEM_APPROVER = "system"


def enqueue_message(
    session: Session,
    *,
    kind: str,
    person_id: int,
    payload: dict[str, Any],
    key: str,
    now: dt.datetime | None = None,
    expires_at: dt.datetime | None = None,
) -> OutboxMessage | None:
    """Queue a personal message (a test result, an isolation notice, a relief decision) to the
    person with pseudonymous id `person_id`; idempotent on `key` (flushes).

    Unlike tracing's warnings these need no officer's approval: they are queued approved by
    ``"system"``, so the delivery worker sends them at once through the person's address in the
    recipient directory. `key` names the message within its kind (e.g. the sample's barcode);
    the same kind, person and key again inserts nothing and returns ``None``. The outbox's
    ``case_id`` holds the person's id, as for warnings. The payload is what the channel sends:
    keep it to what the person needs (no other person's data).
    """
    if kind not in MESSAGE_KINDS:
        raise ValueError(f"kind: {kind!r} is not a message kind ({', '.join(MESSAGE_KINDS)})")
    if not key or len(key) > 200:
        raise ValueError("key: required, at most 200 characters")
    when = _aware_now(now)
    dedupe = dedupe_key(kind, f"person:{int(person_id)}", int(person_id), key)
    session.flush()
    row = {
        "kind": kind,
        "case_id": int(person_id),
        "recipient": f"person:{int(person_id)}",
        "channel": None,
        "status": "pending",
        "payload": payload,
        "dedupe_key": dedupe,
        "created_at": when,
        "not_before": when,
        "expires_at": expires_at,
        "attempts": 0,
        "last_error": None,
        "approved_by": SYSTEM_APPROVER,
        "approved_at": when,
    }
    if not _insert_ignoring_duplicates(session, [row]):
        return None
    return session.scalars(select(OutboxMessage).where(OutboxMessage.dedupe_key == dedupe)).one()


# -- confirmations ------------------------------------------------------------------------


def _instant(epoch: int | None) -> dt.datetime | None:
    return None if epoch is None else dt.datetime.fromtimestamp(epoch, dt.UTC)


def _epoch(at: dt.datetime | None) -> int | None:
    return None if at is None else int(at.timestamp())


def add_confirmation(
    session: Session, *, case_id: int, confirmation: Confirmation
) -> ConfirmationRow:
    """Store an investigator's confirmation of a case's timeline (flushes).

    Raises ValueError naming the field when it cannot apply (`Confirmation.validate`) or does
    not fit the table (unknown action or method, too long, coordinates out of range).
    """
    c = confirmation
    c.validate()
    if c.action not in ("add", "correct", "remove"):
        raise ValueError(f"action: must be add, correct or remove, got {c.action!r}")
    if c.method not in ("cctv", "interview"):
        raise ValueError(f"method: must be cctv or interview, got {c.method!r}")
    if len(c.by.strip()) > ACTOR_MAX:
        raise ValueError(f"by: longer than {ACTOR_MAX} characters")
    if c.stay_id is not None and len(c.stay_id) > STAY_ID_MAX:
        raise ValueError(f"stay_id: longer than {STAY_ID_MAX} characters")
    if c.lat is not None and not -90 <= c.lat <= 90:
        raise ValueError(f"lat: must be between -90 and 90, got {c.lat}")
    if c.lon is not None and not -180 <= c.lon <= 180:
        raise ValueError(f"lon: must be between -180 and 180, got {c.lon}")
    row = ConfirmationRow(
        case_id=int(case_id),
        action=c.action,
        method=c.method,
        stay_id=c.stay_id,
        starts_at=_instant(c.start),
        ends_at=_instant(c.end),
        place_id=c.place_id,
        lat=c.lat,
        lon=c.lon,
        made_by=c.by.strip(),
        reason=c.reason.strip(),
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return row


def _confirmation(row: ConfirmationRow) -> Confirmation:
    # The database checks both values.
    action = cast(Literal["add", "correct", "remove"], row.action)
    method = cast(Literal["cctv", "interview"], row.method)
    return Confirmation(
        action=action,
        method=method,
        by=row.made_by,
        reason=row.reason,
        stay_id=row.stay_id,
        start=_epoch(row.starts_at),
        end=_epoch(row.ends_at),
        place_id=row.place_id,
        lat=row.lat,
        lon=row.lon,
    )


def confirmations_for(session: Session, *, case_id: int) -> list[Confirmation]:
    """A case's confirmations in the order they were made, as `Confirmation`s."""
    rows: Sequence[ConfirmationRow] = session.scalars(
        select(ConfirmationRow)
        .where(ConfirmationRow.case_id == case_id)
        .order_by(ConfirmationRow.id)
    ).all()
    return [_confirmation(r) for r in rows]
