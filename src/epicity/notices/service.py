"""Place notices: copy tracing's approved public notices, list what is visible when.

The notices themselves are made by tracing's rules (`epicity.tracing.warnings`: which places
are disclosed, how windows are rounded, what is withheld, when a notice expires); this module
only stores and serves them:

- `sync_from_outbox` mirrors the approved, not cancelled, not yet expired ``public_notice`` rows
  of the tracing outbox into ``public_notices`` (idempotent: a notice is keyed on its place and
  rounded window, so syncing again adds nothing, and the same place and window from two cases
  is one notice). Tracing notices that are no longer wanted are **deleted**: those expired
  (14 days after the visit: "deleted on schedule", KDCA's disclosure guidelines, 3rd ed.) and
  those whose outbox row was cancelled (a re-trace removed the stay). `epicity publish` calls
  it on its schedule, and so does ``epicity notices sync``.
- `visible_notices` / `count_visible`: the notices visible at an instant (published by then,
  not yet expired), filtered by district, dates and source, newest first.
- `parse_filters`: the page's, feed's and API's query strings to `NoticeFilters`, refusing bad
  values with a `NoticeError` naming the field.

Functions add and flush but do not commit: the caller owns the transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Insert, Table, delete, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from epicity.city.districts import seoul_districts
from epicity.notices.errors import NoticeError
from epicity.notices.models import (
    ADDRESS_MAX,
    CATEGORY_MAX,
    DISTRICT_MAX,
    NAME_MAX,
    SOURCES,
    PublicNoticeRow,
)
from epicity.tracing.models import OutboxMessage

__all__ = [
    "MAX_LIMIT",
    "ZONE",
    "NoticeFilters",
    "NoticeRow",
    "count_visible",
    "day_end",
    "delete_keys",
    "district_counts",
    "districts",
    "insert_new",
    "notice_key",
    "parse_filters",
    "sync_from_outbox",
    "visible_notices",
]

log = logging.getLogger(__name__)

ZONE = ZoneInfo("Asia/Seoul")  # the city's time: dates and windows are shown in it
MAX_LIMIT = 500
EARLIEST = dt.date(2019, 12, 1)  # no COVID-19 notice before the first cases
_CHUNK = 500


@dataclass(frozen=True)
class NoticeRow:
    """One public notice as shown: nothing about the person.

    `key` is the notice's public id (a hash of its source, place and window); `start`/`end`
    are local to the city; `time_known` is false when the source gives dates only (the window
    is then whole days).
    """

    key: str
    source: str
    venue_name: str | None
    category: str
    district: str | None
    address: str | None
    visit_date: dt.date
    start: dt.datetime
    end: dt.datetime
    expires: dt.datetime
    published_at: dt.datetime
    time_known: bool
    disinfection_advised: bool

    def to_json(self) -> dict[str, Any]:
        """JSON-ready fields (ISO 8601 local times with offset)."""
        return {
            "id": self.key,
            "source": self.source,
            "venue_name": self.venue_name,
            "category": self.category,
            "district": self.district,
            "address": self.address,
            "date": self.visit_date.isoformat(),
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "expires": self.expires.isoformat(),
            "time_known": self.time_known,
            "disinfection_advised": self.disinfection_advised,
        }


@dataclass(frozen=True)
class NoticeFilters:
    """Validated filters: district (English name), visit dates (inclusive), source, instant."""

    as_of: dt.datetime
    district: str | None = None
    start: dt.date | None = None
    end: dt.date | None = None
    source: str | None = None


def districts() -> list[str]:
    """The districts a notice may be filtered by (English names)."""
    return [d.name for d in seoul_districts()]


def notice_key(source: str, place: str, start: dt.datetime, end: dt.datetime) -> str:
    """SHA-256 (hex) of the source, the place and the window: the notice's identity."""
    text = "\x1f".join(
        (source, place, start.astimezone(dt.UTC).isoformat(), end.astimezone(dt.UTC).isoformat())
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _aware(value: dt.datetime, name: str) -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise NoticeError(f"{name}: naive datetime {value.isoformat()}; give a time zone")
    return value


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=ZONE)


def day_end(day: dt.date) -> dt.datetime:
    """The last instant of local `day`: what was visible "on that day" is what was visible
    at its end."""
    return _midnight(day + dt.timedelta(days=1)) - dt.timedelta(microseconds=1)


# -- sync from tracing's outbox -----------------------------------------------------------


def _text(value: object, limit: int) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text[:limit] if text else None


def _from_payload(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The notice's columns from an outbox payload (`PublicNotice.to_json()`); KeyError,
    TypeError or ValueError when it is not one."""
    start = dt.datetime.fromisoformat(payload["start"])
    end = dt.datetime.fromisoformat(payload["end"])
    expires = dt.datetime.fromisoformat(payload["expires"])
    for value, name in ((start, "start"), (end, "end"), (expires, "expires")):
        _aware(value, name)
    if not end > start or not expires > end:
        raise ValueError("window: end must follow start, expiry the end")
    category = _text(payload["category"], CATEGORY_MAX)
    if category is None:
        raise ValueError("category: empty")
    return {
        "source": "tracing",
        "source_key": notice_key("tracing", f"venue:{int(payload['place_id'])}", start, end),
        "venue_name": _text(payload.get("venue_name"), NAME_MAX),
        "category": category,
        "district": _text(payload.get("district"), DISTRICT_MAX),
        "address": _text(payload.get("address"), ADDRESS_MAX),
        "visit_date": dt.date.fromisoformat(payload["date"]),
        "starts_at": start,
        "ends_at": end,
        "expires_at": expires,
        "time_known": True,
        "disinfection_advised": bool(payload["disinfection_advised"]),
    }


def insert_new(session: Session, rows: Iterable[dict[str, Any]]) -> int:
    """Insert notice rows whose ``source_key`` is not stored yet (a concurrent insert of the
    same key is skipped, not an error), in key order; how many were inserted."""
    table = PublicNoticeRow.__table__
    assert isinstance(table, Table)
    todo = sorted(rows, key=lambda r: r["source_key"])  # ids then follow no case's route
    dialect = session.get_bind().dialect.name
    done = 0
    for i in range(0, len(todo), _CHUNK):
        chunk = todo[i : i + _CHUNK]
        stmt: Insert
        if dialect == "postgresql":
            stmt = postgresql.insert(table).on_conflict_do_nothing(index_elements=["source_key"])
        elif dialect == "sqlite":
            stmt = sqlite.insert(table).on_conflict_do_nothing(index_elements=["source_key"])
        else:  # other backends: the keys were checked in this transaction
            stmt = insert(table)
        result = session.execute(stmt.values(chunk).returning(table.c.source_key))
        done += len(list(result.scalars()))
    return done


def delete_keys(session: Session, keys: Iterable[str]) -> int:
    """Delete the notices with these keys; how many keys were given."""
    gone = sorted(keys)
    for i in range(0, len(gone), _CHUNK):
        session.execute(
            delete(PublicNoticeRow).where(PublicNoticeRow.source_key.in_(gone[i : i + _CHUNK]))
        )
    return len(gone)


def sync_from_outbox(session: Session, *, now: dt.datetime) -> int:
    """Mirror tracing's approved public notices into ``public_notices``; the number added.

    Copies every ``public_notice`` outbox row that an officer approved, that is not cancelled
    and whose notice has not expired at `now` (idempotent; flushes). The notice is published
    at the earliest approval among the rows that give it. Tracing notices stored earlier that
    are not in that set any more (expired, or cancelled by a re-trace) are deleted. Other
    kinds of outbox rows (orders, advice, alerts, personal messages) are never read.
    """
    now = _aware(now, "now")
    query = select(OutboxMessage.id, OutboxMessage.payload, OutboxMessage.approved_at).where(
        OutboxMessage.kind == "public_notice",
        OutboxMessage.approved_at.is_not(None),
        OutboxMessage.status != "cancelled",
        (OutboxMessage.expires_at.is_(None)) | (OutboxMessage.expires_at > now),
    )
    wanted: dict[str, dict[str, Any]] = {}
    bad = 0
    for message_id, payload, approved_at in session.execute(query):
        try:
            row = _from_payload(payload)
        except (KeyError, TypeError, ValueError):
            bad += 1
            log.warning("outbox row %s: not a public notice payload; skipped", message_id)
            continue
        if row["expires_at"] <= now:
            continue
        row["published_at"] = approved_at
        key = row["source_key"]
        if key in wanted:
            wanted[key]["published_at"] = min(wanted[key]["published_at"], approved_at)
        else:
            wanted[key] = row
    session.flush()
    stored = set(
        session.scalars(
            select(PublicNoticeRow.source_key).where(PublicNoticeRow.source == "tracing")
        )
    )
    removed = delete_keys(session, stored - set(wanted))
    created = now
    added = insert_new(
        session,
        ({**row, "created_at": created} for key, row in wanted.items() if key not in stored),
    )
    session.flush()
    if added or removed or bad:
        log.info("notices sync: %d added, %d deleted, %d unreadable", added, removed, bad)
    return added


# -- reading ------------------------------------------------------------------------------


def _conditions(f: NoticeFilters) -> list[ColumnElement[bool]]:
    conds = [PublicNoticeRow.published_at <= f.as_of, PublicNoticeRow.expires_at > f.as_of]
    if f.district is not None:
        conds.append(PublicNoticeRow.district == f.district)
    if f.start is not None:  # the window overlaps the dates asked for
        conds.append(PublicNoticeRow.ends_at > _midnight(f.start))
    if f.end is not None:
        conds.append(PublicNoticeRow.starts_at < _midnight(f.end + dt.timedelta(days=1)))
    if f.source is not None:
        conds.append(PublicNoticeRow.source == f.source)
    return conds


def _filters(
    as_of: dt.datetime,
    district: str | None,
    start: dt.date | None,
    end: dt.date | None,
    source: str | None,
) -> NoticeFilters:
    f = NoticeFilters(
        as_of=_aware(as_of, "as_of"), district=district, start=start, end=end, source=source
    )
    _check(f)
    return f


def _check(f: NoticeFilters) -> None:
    if f.district is not None and f.district not in districts():
        raise NoticeError(f"district: unknown district {f.district[:40]!r}; e.g. 'Mapo-gu'")
    if f.source is not None and f.source not in SOURCES:
        raise NoticeError(f"source: must be one of {', '.join(SOURCES)}")
    if f.start is not None and f.end is not None and f.start > f.end:
        raise NoticeError(
            f"start: {f.start.isoformat()} is after end {f.end.isoformat()}; swap them"
        )


def _row(n: PublicNoticeRow) -> NoticeRow:
    return NoticeRow(
        key=n.source_key,
        source=n.source,
        venue_name=n.venue_name,
        category=n.category,
        district=n.district,
        address=n.address,
        visit_date=n.visit_date,
        start=n.starts_at.astimezone(ZONE),
        end=n.ends_at.astimezone(ZONE),
        expires=n.expires_at.astimezone(ZONE),
        published_at=n.published_at.astimezone(ZONE),
        time_known=n.time_known,
        disinfection_advised=n.disinfection_advised,
    )


def visible_notices(
    session: Session,
    *,
    as_of: dt.datetime,
    district: str | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    source: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[NoticeRow]:
    """The notices visible at `as_of` (published by then; their visit ended less than 14 days
    before), newest visit first.

    `district` keeps one district (English name); `start`/`end` keep notices whose window
    overlaps those local dates (inclusive); `source` keeps ``tracing`` or ``ds4c``. Raises
    `NoticeError` naming the field for an unknown district or source, dates in the wrong
    order, a naive `as_of`, a negative offset or a limit outside 0..500.
    """
    f = _filters(as_of, district, start, end, source)
    if limit is not None and not 0 <= limit <= MAX_LIMIT:
        raise NoticeError(f"limit: must be between 0 and {MAX_LIMIT}, got {limit}")
    if offset < 0:
        raise NoticeError(f"offset: must not be negative, got {offset}")
    query = (
        select(PublicNoticeRow)
        .where(*_conditions(f))
        .order_by(PublicNoticeRow.starts_at.desc(), PublicNoticeRow.source_key)
    )
    if limit is not None:
        query = query.limit(limit)
    if offset:
        query = query.offset(offset)
    return [_row(n) for n in session.scalars(query)]


def count_visible(
    session: Session,
    *,
    as_of: dt.datetime,
    district: str | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    source: str | None = None,
) -> int:
    """How many notices `visible_notices` gives with the same filters (no paging)."""
    f = _filters(as_of, district, start, end, source)
    query = select(func.count()).select_from(PublicNoticeRow).where(*_conditions(f))
    return int(session.scalar(query) or 0)


def district_counts(
    session: Session,
    *,
    as_of: dt.datetime,
    start: dt.date | None = None,
    end: dt.date | None = None,
    source: str | None = None,
) -> dict[str, int]:
    """Visible notices per district (those with a district), for the map."""
    f = _filters(as_of, None, start, end, source)
    query = select(PublicNoticeRow.district, func.count()).where(
        *_conditions(f), PublicNoticeRow.district.is_not(None)
    )
    return {str(d): int(n) for d, n in session.execute(query.group_by(PublicNoticeRow.district))}


# -- query strings ------------------------------------------------------------------------


def _date(raw: str, name: str) -> dt.date:
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError:
        raise NoticeError(f"{name}: {raw[:20]!r} is not a date (YYYY-MM-DD)") from None
    if not EARLIEST <= day <= dt.date(2100, 12, 31):
        raise NoticeError(f"{name}: {day.isoformat()} is out of range (2019-12-01 to 2100)")
    return day


def parse_filters(params: Mapping[str, str | None], *, now: dt.datetime) -> NoticeFilters:
    """Filters from query-string values (``district``, ``start``, ``end``, ``source``,
    ``as_of`` as YYYY-MM-DD: the end of that local day; empty means none; default `now`).

    Raises `NoticeError` naming the field: a date that is not YYYY-MM-DD or out of range, an
    unknown district or source, start after end, or ``as_of`` in the future.
    """

    def value(name: str) -> str | None:
        raw = params.get(name)
        text = raw.strip() if raw is not None else ""
        return text or None

    as_of = _aware(now, "now")
    raw_as_of = value("as_of")
    if raw_as_of is not None:
        day = _date(raw_as_of, "as_of")
        if _midnight(day) > now:
            raise NoticeError(f"as_of: {day.isoformat()} is in the future")
        as_of = min(day_end(day), now)
    start, end = value("start"), value("end")
    f = NoticeFilters(
        as_of=as_of,
        district=value("district"),
        start=_date(start, "start") if start is not None else None,
        end=_date(end, "end") if end is not None else None,
        source=value("source"),
    )
    _check(f)
    return f
