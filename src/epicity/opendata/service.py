"""Publishing the daily figures: computed from the operational data, stored as revisions.

`publish` recomputes every day's figures up to ``as_of`` for the city and each of Seoul's 25
districts, and stores a new revision only of the (day, area) rows whose figures changed; a
changed past day is a correction, visible with its revision number, time and the
publication's note. Nothing published is ever updated or deleted. Publishing again with no
change stores nothing and returns the last publication, so running it twice (two workers, a
cron job and a person) is harmless.

The figures of a day and an area ("city" or a district's English name):

- ``confirmed_new`` / ``confirmed_total``: cases confirmed that day (``confirmed_date``) /
  up to that day, whatever their status now, except cases discarded (not a case after all)
  and suspected ones.
- ``deaths_new`` / ``deaths_total``: by ``deceased_date``; ``released_new`` /
  ``released_total``: by ``released_date`` (same cases).
- ``in_isolation``: people under a self-isolation registration that day (contacts ordered
  into isolation and voluntary isolation): from the start date to the day of release (or to
  the end date while active; to ``as_of`` while active and waiting for a negative test).
  Confirmed cases in hospital or a treatment centre are not registrations and are not
  counted; cases under treatment are ``confirmed_total - released_total - deaths_total``. A
  person confirmed while registered stays counted until the registration ends. The district
  is the one holding the registration's isolation address; without a confirmed address the
  person counts in the city only.
- ``tests_new`` / ``tests_total``: screening samples resulted that day (local date of the
  result, Asia/Seoul), whatever the result; ``positives_new``: those positive. The district
  is the screening centre's.
- ``positivity_7d``: positives / (positives + negatives) over the 7 days ending that day;
  None when fewer than `MIN_TESTS_7D` (30) tests with a positive or negative result.

Cases count in the city when their province is Seoul or blank; a case with a blank or unknown
district counts in the city's figures only, so the districts may add up to less than the
city.

The breakdown "district_age" (confirmed cases up to ``as_of`` by district and 10-year age
band) is published with each publication for its ``as_of`` day, protected against small
counts by `epicity.opendata.protection` (cells 1-4 hidden, complementary suppression).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import re
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import anyio
import numpy as np
import shapely
from sqlalchemy import case, delete, exists, false, func, insert, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, aliased

from epicity.cases.models import Case
from epicity.city.districts import seoul_districts
from epicity.db import session_scope, utcnow
from epicity.isolation.models import IsolationRegistration
from epicity.notices.service import sync_from_outbox
from epicity.opendata.errors import Conflict, OpendataError
from epicity.opendata.models import (
    ACTOR_MAX,
    DIMENSIONS,
    NOTE_MAX,
    BreakdownCell,
    Figure,
    Publication,
)
from epicity.opendata.protection import DEFAULT_THRESHOLD, TOTAL, protect
from epicity.screening.models import Centre, Sample

__all__ = [
    "AGE_BANDS",
    "CITY",
    "FIGURE_FIELDS",
    "MIN_TESTS_7D",
    "SEOUL",
    "SUPPRESSION_THRESHOLD",
    "UNKNOWN",
    "BreakdownRow",
    "FigureRow",
    "areas",
    "breakdown",
    "count_figures",
    "current_figures",
    "latest_publication",
    "list_publications",
    "publish",
    "publish_interval",
    "publish_latest",
    "publish_periodically",
    "publishing_lifespan",
    "revisions",
]

log = logging.getLogger(__name__)

SEOUL = ZoneInfo("Asia/Seoul")
CITY = "city"
UNKNOWN = "unknown"
# Below 30 tests in 7 days a proportion's 95% interval is wider than +/- 18 points
# (1.96 * sqrt(0.25 / 30) = 0.179): too wide to publish as a rate.
MIN_TESTS_7D = 30
SUPPRESSION_THRESHOLD = DEFAULT_THRESHOLD
AGE_BANDS = (
    "0-9",
    "10-19",
    "20-29",
    "30-39",
    "40-49",
    "50-59",
    "60-69",
    "70-79",
    "80-89",
    "90+",
)
COUNTED_STATUSES = ("confirmed", "isolated", "recovered", "deceased")
SEOUL_PROVINCES = frozenset(
    {"seoul", "seoul-si", "seoul special city", "서울", "서울특별시", "서울시"}
)
FIGURE_FIELDS = (
    "confirmed_new",
    "confirmed_total",
    "deaths_new",
    "deaths_total",
    "released_new",
    "released_total",
    "in_isolation",
    "tests_new",
    "tests_total",
    "positives_new",
    "positivity_7d",
)
MAX_DAYS = 3660  # ten years of days: a guard against an absurd range
_LOCK_KEY = 0x0E91C17D  # PostgreSQL advisory lock of `publish` (any constant of our own)

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class FigureRow:
    """The published figures of one day and area, as one revision (see the module)."""

    day: dt.date
    area: str
    revision: int
    published_at: dt.datetime
    confirmed_new: int
    confirmed_total: int
    deaths_new: int
    deaths_total: int
    released_new: int
    released_total: int
    in_isolation: int
    tests_new: int
    tests_total: int
    positives_new: int
    positivity_7d: float | None
    publication_id: int
    note: str


@dataclass(frozen=True)
class BreakdownRow:
    """One cell of a protected breakdown: ``value`` None when hidden (``suppressed``).

    ``district`` is a district's name, "unknown" or "all" (the age band's city total);
    ``age_band`` a band of `AGE_BANDS`, "unknown" or "all" (the district's total).
    """

    dimension: str
    day: dt.date
    district: str
    age_band: str
    value: int | None
    suppressed: bool
    revision: int
    published_at: dt.datetime


# --------------------------------------------------------------------------------------------
# Areas and their names


@cache
def _district_names() -> tuple[str, ...]:
    return tuple(sorted(d.name for d in seoul_districts()))


def areas() -> list[str]:
    """The areas figures are published for: "city", then the 25 districts by name."""
    return [CITY, *_district_names()]


@cache
def _district_lookup() -> dict[str, str]:
    names: dict[str, str] = {}
    for d in seoul_districts():
        names[d.name.casefold()] = d.name
        names[d.name_ko] = d.name
    return names


def _district_of(value: str | None) -> str | None:
    """The district's English name for a stored name (English or Korean), else None."""
    if not value:
        return None
    return _district_lookup().get(value.strip().casefold())


def _in_seoul(province: str | None) -> bool:
    return not province or not province.strip() or province.strip().casefold() in SEOUL_PROVINCES


_DECADE = re.compile(r"^\s*(\d{1,3})\s*(?:s|대)\s*$")


def age_band(age_group: str | None) -> str:
    """The 10-year band of a stored age group ("20s", "20대"), else "unknown"."""
    m = _DECADE.match(age_group or "")
    if not m:
        return UNKNOWN
    decade = int(m.group(1)) // 10 * 10
    return "90+" if decade >= 90 else f"{decade}-{decade + 9}"


def _check_area(area: str | None) -> None:
    if area is not None and area not in areas():
        raise OpendataError(
            f"area: unknown area {area[:40]!r}; use 'city' or a Seoul district's English "
            "name such as 'Mapo-gu'"
        )


def _local_day(when: dt.datetime) -> dt.date:
    return when.astimezone(SEOUL).date()


# --------------------------------------------------------------------------------------------
# Computing the figures from the operational data


@dataclass
class _Series:
    """Per-day counts of one area, keyed by day."""

    confirmed: dict[dt.date, int]
    deaths: dict[dt.date, int]
    released: dict[dt.date, int]
    isolation_delta: dict[dt.date, int]
    tests: dict[dt.date, int]
    positives: dict[dt.date, int]
    negatives: dict[dt.date, int]


def _series() -> _Series:
    return _Series(*(defaultdict(int) for _ in range(7)))


def _case_counts(
    session: Session, as_of: dt.date, by_area: dict[str, _Series]
) -> tuple[dict[tuple[str, str], int], list[dt.date]]:
    """Cases by day and area into `by_area`; returns the district x age table up to `as_of`
    and the days seen."""
    table: dict[tuple[str, str], int] = defaultdict(int)
    days: list[dt.date] = []
    counted = Case.status.in_(COUNTED_STATUSES)
    for column, attr in (
        (Case.confirmed_date, "confirmed"),
        (Case.deceased_date, "deaths"),
        (Case.released_date, "released"),
    ):
        keys: list[Any] = [Case.province, Case.district, column]
        if attr == "confirmed":
            keys.append(Case.age_group)
        stmt: Any = (
            select(*keys, func.count())
            .where(counted, Case.confirmed_date.is_not(None), column.is_not(None), column <= as_of)
            .group_by(*keys)
        )
        for row in session.execute(stmt):
            province: str | None = row[0]
            district_name: str | None = row[1]
            day: dt.date = row[2]
            n: int = row[-1]
            if not _in_seoul(province):
                continue
            district = _district_of(district_name)
            days.append(day)
            for area in (CITY, district) if district else (CITY,):
                getattr(by_area[area], attr)[day] += n
            if attr == "confirmed":
                table[(district or UNKNOWN, age_band(row[3]))] += n
    return table, days


def _isolation_counts(
    session: Session, as_of: dt.date, by_area: dict[str, _Series]
) -> list[dt.date]:
    """Registrations' days in isolation, as +1 on the first day and -1 after the last."""
    reg = IsolationRegistration
    rows = session.execute(
        select(
            reg.start_date,
            reg.end_date,
            reg.status,
            reg.needs_negative_test,
            reg.released_at,
            reg.lat,
            reg.lon,
        ).where(reg.start_date <= as_of)
    ).all()
    if not rows:
        return []
    lat = np.array([r.lat if r.lat is not None else np.nan for r in rows], dtype=float)
    lon = np.array([r.lon if r.lon is not None else np.nan for r in rows], dtype=float)
    where: list[str | None] = [None] * len(rows)
    for d in seoul_districts():
        inside = shapely.contains_xy(d.polygon, lon, lat)  # NaN is inside nothing
        for i in np.flatnonzero(inside):
            where[i] = d.name
    days = []
    for r, district in zip(rows, where, strict=True):
        if r.released_at is not None:
            last = _local_day(r.released_at)
        elif r.status == "active" and r.needs_negative_test:
            last = max(r.end_date, as_of)  # still isolated until a negative test
        else:
            last = r.end_date
        if last < r.start_date:
            continue
        days.append(r.start_date)
        for area in (CITY, district) if district else (CITY,):
            by_area[area].isolation_delta[r.start_date] += 1
            by_area[area].isolation_delta[last + dt.timedelta(days=1)] -= 1
    return days


def _test_counts(session: Session, as_of: dt.date, by_area: dict[str, _Series]) -> list[dt.date]:
    """Resulted screening samples by local day of the result and the centre's district."""
    end = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(), SEOUL)
    stmt = (
        select(Centre.district, Sample.resulted_at, Sample.result)
        .join(Centre, Centre.id == Sample.centre_id)
        .where(
            Sample.status == "resulted",
            Sample.resulted_at.is_not(None),
            Sample.resulted_at < end,
        )
    )
    days = []
    for district_name, resulted_at, result in session.execute(stmt):
        assert resulted_at is not None  # the query's condition
        day = _local_day(resulted_at)
        district = _district_of(district_name)
        days.append(day)
        for area in (CITY, district) if district else (CITY,):
            s = by_area[area]
            s.tests[day] += 1
            if result == "positive":
                s.positives[day] += 1
            elif result == "negative":
                s.negatives[day] += 1
    return days


def _positivity(positives: int, decided: int) -> float | None:
    return round(positives / decided, 4) if decided >= MIN_TESTS_7D else None


def _area_figures(s: _Series, days: Sequence[dt.date]) -> dict[dt.date, tuple[Any, ...]]:
    """The figures (in `FIGURE_FIELDS` order) of every day of `days` (consecutive)."""
    out = {}
    totals = {"confirmed": 0, "deaths": 0, "released": 0, "tests": 0}
    isolation = sum(n for d, n in s.isolation_delta.items() if d < days[0])
    for name in totals:  # counts before the first day (only when the range was clipped)
        totals[name] = sum(n for d, n in getattr(s, name).items() if d < days[0])
    window: list[tuple[int, int]] = []
    for i in range(1, 7):  # the 6 days before the first day, for its 7-day window
        d = days[0] - dt.timedelta(days=7 - i)
        window.append((s.positives.get(d, 0), s.positives.get(d, 0) + s.negatives.get(d, 0)))
    for day in days:
        new = {name: getattr(s, name).get(day, 0) for name in totals}
        for name in totals:
            totals[name] += new[name]
        isolation += s.isolation_delta.get(day, 0)
        pos = s.positives.get(day, 0)
        window.append((pos, pos + s.negatives.get(day, 0)))
        window = window[-7:]
        out[day] = (
            new["confirmed"],
            totals["confirmed"],
            new["deaths"],
            totals["deaths"],
            new["released"],
            totals["released"],
            isolation,
            new["tests"],
            totals["tests"],
            pos,
            _positivity(sum(p for p, _ in window), sum(n for _, n in window)),
        )
    return out


@dataclass(frozen=True)
class Computed:
    """Everything a publication as of a day would publish."""

    as_of: dt.date
    figures: dict[tuple[dt.date, str], tuple[Any, ...]]
    district_age: dict[tuple[str, str], int]


def compute(session: Session, *, as_of: dt.date, progress: Progress | None = None) -> Computed:
    """The figures of every day up to `as_of` (from the first day with data, or the first day
    published before) for the city and every district, and the district x age table."""
    report = progress or (lambda _label, _done, _total: None)
    by_area: dict[str, _Series] = defaultdict(_series)
    report("reading cases, isolation and tests", 0, 3)
    table, seen = _case_counts(session, as_of, by_area)
    report("reading cases, isolation and tests", 1, 3)
    seen += _isolation_counts(session, as_of, by_area)
    report("reading cases, isolation and tests", 2, 3)
    seen += _test_counts(session, as_of, by_area)
    report("reading cases, isolation and tests", 3, 3)
    first_published = session.scalar(select(func.min(Figure.day)))
    starts = [d for d in (*seen, first_published) if d is not None and d <= as_of]
    if not starts:
        return Computed(as_of, {}, dict(table))
    first = min(starts)
    if (as_of - first).days >= MAX_DAYS:
        first = as_of - dt.timedelta(days=MAX_DAYS - 1)
    days = [first + dt.timedelta(days=i) for i in range((as_of - first).days + 1)]
    figures: dict[tuple[dt.date, str], tuple[Any, ...]] = {}
    names = areas()
    for i, area in enumerate(names):
        for day, values in _area_figures(by_area[area], days).items():
            figures[(day, area)] = values
        report("computing the figures", i + 1, len(names))
    return Computed(as_of, figures, dict(table))


# --------------------------------------------------------------------------------------------
# Publishing


def _text(value: str, field: str, limit: int) -> str:
    if "\x00" in value:
        raise OpendataError(f"{field}: must not contain NUL characters")
    value = value.strip()
    if len(value) > limit:
        raise OpendataError(f"{field}: at most {limit} characters, got {len(value)}")
    return value


def _take_lock(session: Session) -> None:
    """Serialise publications (several workers, a cron job): the second waits, then finds
    nothing changed."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(_LOCK_KEY)))
    else:  # SQLite: a write statement takes the database's write lock now
        session.execute(delete(Publication).where(false()))


def _latest_figures(
    session: Session, start: dt.date, end: dt.date
) -> dict[tuple[dt.date, str], Figure]:
    newer = aliased(Figure)
    stmt = select(Figure).where(
        Figure.day >= start,
        Figure.day <= end,
        ~exists().where(
            newer.day == Figure.day, newer.area == Figure.area, newer.revision > Figure.revision
        ),
    )
    return {(f.day, f.area): f for f in session.scalars(stmt)}


def _values(f: Figure) -> tuple[Any, ...]:
    return tuple(getattr(f, name) for name in FIGURE_FIELDS)


def _latest_cells(
    session: Session, dimension: str, day: dt.date
) -> dict[tuple[str, str], BreakdownCell]:
    newer = aliased(BreakdownCell)
    stmt = select(BreakdownCell).where(
        BreakdownCell.dimension == dimension,
        BreakdownCell.day == day,
        ~exists().where(
            newer.dimension == BreakdownCell.dimension,
            newer.day == BreakdownCell.day,
            newer.row_key == BreakdownCell.row_key,
            newer.column_key == BreakdownCell.column_key,
            newer.revision > BreakdownCell.revision,
        ),
    )
    return {(c.row_key, c.column_key): c for c in session.scalars(stmt)}


def _district_age_cells(
    table: dict[tuple[str, str], int],
) -> dict[tuple[str, str], tuple[int | None, str]]:
    rows = [*_district_names(), UNKNOWN]
    columns = [*AGE_BANDS, UNKNOWN]
    protected = protect(table, rows, columns, threshold=SUPPRESSION_THRESHOLD)
    return {key: (protected.entries[key], protected.protection[key]) for key in protected.entries}


def publish(
    session: Session,
    *,
    as_of: dt.date,
    actor: str,
    now: dt.datetime,
    note: str = "",
    progress: Progress | None = None,
) -> Publication:
    """Recompute every day's figures up to `as_of` and store what changed as new revisions.

    Approved place notices of the tracing outbox are copied to the public ones first
    (`epicity.notices.service.sync_from_outbox`).

    Returns the new publication, or the last one when nothing changed (idempotent). A
    publication that changes figures already published is a correction: its note says why
    (when none is given, one saying what changed is written). The caller commits.

    Raises:
        OpendataError: `as_of` after today (Asia/Seoul) or a bad actor or note.
        Conflict: nothing to publish yet (no case, registration or result up to `as_of`).
    """
    if now.tzinfo is None:
        raise OpendataError("now: must be timezone-aware")
    today = _local_day(now)
    if as_of > today:
        raise OpendataError(
            f"as_of: {as_of.isoformat()} is in the future (today is {today.isoformat()} in Seoul)"
        )
    actor = _text(actor, "actor", ACTOR_MAX)
    if not actor:
        raise OpendataError("actor: required")
    note = _text(note, "note", NOTE_MAX)
    report = progress or (lambda _label, _done, _total: None)
    _take_lock(session)
    # The place notices officers approved since the last run go out with the figures.
    sync_from_outbox(session, now=now)
    computed = compute(session, as_of=as_of, progress=report)
    previous = latest_publication(session)
    if not computed.figures and previous is None:
        raise Conflict(
            f"as_of: nothing to publish: no confirmed case, isolation registration or test "
            f"result on or before {as_of.isoformat()}"
        )
    days = sorted({day for day, _ in computed.figures})
    stored = _latest_figures(session, days[0], days[-1]) if days else {}
    new_rows: list[dict[str, Any]] = []
    corrected_days: set[dt.date] = set()
    for (day, area), values in sorted(computed.figures.items()):
        old = stored.get((day, area))
        if old is not None and _values(old) == values:
            continue
        revision = 1 if old is None else old.revision + 1
        if old is not None:
            corrected_days.add(day)
        new_rows.append(
            {
                "day": day,
                "area": area,
                "revision": revision,
                **dict(zip(FIGURE_FIELDS, values, strict=True)),
            }
        )
    report("protecting the breakdown", 0, 1)
    cells = _district_age_cells(computed.district_age) if computed.figures else {}
    old_cells = _latest_cells(session, "district_age", as_of) if cells else {}
    new_cells: list[dict[str, Any]] = []
    for (row, column), (value, protection) in sorted(cells.items()):
        old_cell = old_cells.get((row, column))
        if old_cell is not None and (old_cell.value, old_cell.protection) == (value, protection):
            continue
        new_cells.append(
            {
                "dimension": "district_age",
                "day": as_of,
                "row_key": row,
                "column_key": column,
                "revision": 1 if old_cell is None else old_cell.revision + 1,
                "value": value,
                "protection": protection,
            }
        )
    report("protecting the breakdown", 1, 1)
    if not new_rows and not new_cells:
        assert previous is not None  # figures exist, so an earlier publication stored them
        return previous
    corrected = sum(1 for r in new_rows if r["revision"] > 1)
    if not note and corrected:
        first, last = min(corrected_days), max(corrected_days)
        span = first.isoformat() if first == last else f"{first.isoformat()} to {last.isoformat()}"
        note = (
            f"correction: {corrected} figure row(s) of {span} changed after the operational "
            "data was corrected (no reason given)"
        )
    publication = Publication(
        as_of=as_of,
        published_at=now,
        published_by=actor,
        note=note,
        figures_added=len(new_rows) - corrected,
        figures_corrected=corrected,
        cells_changed=len(new_cells),
    )
    session.add(publication)
    session.flush()
    if new_rows:
        session.execute(
            insert(Figure),
            [{**r, "publication_id": publication.id} for r in new_rows],
        )
    if new_cells:
        session.execute(
            insert(BreakdownCell),
            [{**c, "publication_id": publication.id} for c in new_cells],
        )
    session.flush()
    log.info(
        "publication %s as of %s: %d figure rows added, %d corrected, %d breakdown cells",
        publication.id,
        as_of,
        publication.figures_added,
        corrected,
        len(new_cells),
    )
    return publication


def last_data_day(session: Session, *, today: dt.date) -> dt.date | None:
    """The last day (up to `today`) with a case date, an isolation start or a test result."""
    days = [
        session.scalar(select(func.max(c)).where(c <= today))
        for c in (Case.confirmed_date, Case.released_date, Case.deceased_date)
    ]
    days.append(
        session.scalar(
            select(func.max(IsolationRegistration.start_date)).where(
                IsolationRegistration.start_date <= today
            )
        )
    )
    end = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(), SEOUL)
    resulted = session.scalar(select(func.max(Sample.resulted_at)).where(Sample.resulted_at < end))
    if resulted is not None:
        days.append(_local_day(resulted))
    known = [d for d in days if d is not None]
    return max(known) if known else None


def publish_latest(
    session: Session, *, actor: str, now: dt.datetime, note: str = ""
) -> Publication | None:
    """Publish as of the last day with data (a drill or the demo, whose days are in the
    past); None when there is no data at all."""
    as_of = last_data_day(session, today=_local_day(now))
    if as_of is None:
        return None
    return publish(session, as_of=as_of, actor=actor, now=now, note=note)


# --------------------------------------------------------------------------------------------
# Reading what was published


def latest_publication(session: Session) -> Publication | None:
    """The most recent publication (what the open API's ETag and Last-Modified follow)."""
    return session.scalars(select(Publication).order_by(Publication.id.desc()).limit(1)).first()


def list_publications(session: Session, *, limit: int = 50, offset: int = 0) -> list[Publication]:
    """Publications, newest first."""
    _check_page(limit, offset)
    return list(
        session.scalars(
            select(Publication).order_by(Publication.id.desc()).limit(limit).offset(offset)
        )
    )


def _check_page(limit: int | None, offset: int) -> None:
    if limit is not None and limit < 0:
        raise OpendataError(f"limit: must be 0 or more, got {limit}")
    if offset < 0:
        raise OpendataError(f"offset: must be 0 or more, got {offset}")


def _area_order() -> tuple[Any, ...]:
    # "city" first, then the districts by name (the same order on both backends: the names
    # are ASCII letters and one hyphen, which C and ICU/glibc collations sort alike)
    return (case((Figure.area == CITY, 0), else_=1), Figure.area)


def _current_filter(area: str | None, start: dt.date | None, end: dt.date | None) -> list[Any]:
    _check_area(area)
    if start is not None and end is not None and start > end:
        raise OpendataError(f"start: {start.isoformat()} is after end {end.isoformat()}")
    newer = aliased(Figure)
    where: list[Any] = [
        ~exists().where(
            newer.day == Figure.day, newer.area == Figure.area, newer.revision > Figure.revision
        )
    ]
    if area is not None:
        where.append(Figure.area == area)
    if start is not None:
        where.append(Figure.day >= start)
    if end is not None:
        where.append(Figure.day <= end)
    return where


def _row(f: Figure, published_at: dt.datetime, note: str) -> FigureRow:
    return FigureRow(
        day=f.day,
        area=f.area,
        revision=f.revision,
        published_at=published_at,
        **{name: getattr(f, name) for name in FIGURE_FIELDS},
        publication_id=f.publication_id,
        note=note,
    )


def current_figures(
    session: Session,
    *,
    area: str | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[FigureRow]:
    """The latest revision of each (day, area), ordered by day, then area ("city" first)."""
    _check_page(limit, offset)
    stmt = (
        select(Figure, Publication.published_at, Publication.note)
        .join(Publication, Publication.id == Figure.publication_id)
        .where(*_current_filter(area, start, end))
        .order_by(Figure.day, *_area_order())
        .offset(offset)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    return [_row(f, at, note) for f, at, note in session.execute(stmt)]


def count_figures(
    session: Session,
    *,
    area: str | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> int:
    """How many (day, area) rows `current_figures` has with these filters."""
    stmt = select(func.count()).select_from(Figure).where(*_current_filter(area, start, end))
    return int(session.scalar(stmt) or 0)


def revisions(session: Session, *, day: dt.date, area: str) -> list[FigureRow]:
    """Every published revision of one (day, area), oldest first (empty if never published)."""
    _check_area(area)
    stmt = (
        select(Figure, Publication.published_at, Publication.note)
        .join(Publication, Publication.id == Figure.publication_id)
        .where(Figure.day == day, Figure.area == area)
        .order_by(Figure.revision)
    )
    return [_row(f, at, note) for f, at, note in session.execute(stmt)]


def breakdown(
    session: Session, *, dimension: str, day: dt.date | None = None
) -> list[BreakdownRow]:
    """The latest revision of every cell of a protected breakdown as of `day` (default: the
    latest day published). "district_age": confirmed cases by district and age band; rows
    (districts, then "unknown", then "all") by columns (bands, "unknown", "all")."""
    if dimension not in DIMENSIONS:
        raise OpendataError(
            f"dimension: unknown breakdown {dimension[:40]!r}; one of {', '.join(DIMENSIONS)}"
        )
    if day is None:
        day = session.scalar(
            select(func.max(BreakdownCell.day)).where(BreakdownCell.dimension == dimension)
        )
        if day is None:
            return []
    cells = _latest_cells(session, dimension, day)
    if not cells:
        return []
    stmt = select(Publication.id, Publication.published_at).where(
        Publication.id.in_({c.publication_id for c in cells.values()})
    )
    published: dict[int, dt.datetime] = dict(session.execute(stmt).all())
    row_order = {k: i for i, k in enumerate([*_district_names(), UNKNOWN, TOTAL])}
    col_order = {k: i for i, k in enumerate([*AGE_BANDS, UNKNOWN, TOTAL])}
    ordered = sorted(
        cells.values(),
        key=lambda c: (row_order.get(c.row_key, 99), col_order.get(c.column_key, 99)),
    )
    return [
        BreakdownRow(
            dimension=dimension,
            day=c.day,
            district=c.row_key,
            age_band=c.column_key,
            value=c.value,
            suppressed=c.value is None,
            revision=c.revision,
            published_at=published[c.publication_id],
        )
        for c in ordered
    ]


def breakdown_days(session: Session, *, dimension: str) -> list[dt.date]:
    """The days a breakdown was published for, oldest first."""
    stmt = (
        select(BreakdownCell.day)
        .where(BreakdownCell.dimension == dimension)
        .distinct()
        .order_by(BreakdownCell.day)
    )
    return list(session.scalars(stmt))


# --------------------------------------------------------------------------------------------
# The scheduled job


def publish_interval(environ: dict[str, str] | None = None) -> float | None:
    """Seconds between scheduled publications from ``EPICITY_PUBLISH_EVERY`` (None: off)."""
    env = os.environ if environ is None else environ
    raw = env.get("EPICITY_PUBLISH_EVERY", "").strip()
    if not raw or raw in {"0", "off"}:
        return None
    try:
        every = float(raw)
    except ValueError:
        raise OpendataError(
            f"EPICITY_PUBLISH_EVERY: {raw[:40]!r} is not a number of seconds"
        ) from None
    if not 60 <= every <= 7 * 86400:
        raise OpendataError(
            f"EPICITY_PUBLISH_EVERY: {every:g} seconds is outside 60 to 604800 (one week)"
        )
    return every


def default_as_of(now: dt.datetime) -> dt.date:
    """The last complete day in Seoul (yesterday): a day's figures are published once over."""
    return _local_day(now) - dt.timedelta(days=1)


def publish_once(
    sessions: Callable[[], Session], *, actor: str = "scheduler", now: dt.datetime | None = None
) -> Publication | None:
    """One scheduled publication as of yesterday; None when there is nothing to publish or
    another worker published at the same moment (its publication holds the same figures)."""
    when = now or utcnow()
    try:
        with session_scope(sessions) as session:
            publication = publish(session, as_of=default_as_of(when), actor=actor, now=when)
            session.expunge(publication)
            return publication
    except Conflict as err:
        log.info("scheduled publication skipped: %s", err)
    except (IntegrityError, OperationalError) as err:
        # another worker stored the same revision first (or held the write lock too long)
        log.info("scheduled publication skipped: another worker published (%s)", type(err).__name__)
    return None


async def publish_periodically(sessions: Callable[[], Session], every: float) -> None:
    """Publish now and every `every` seconds until cancelled (in a worker thread)."""
    while True:
        try:
            await anyio.to_thread.run_sync(publish_once, sessions)
        except Exception:  # keep the schedule alive; the error is logged without data
            log.exception("scheduled publication failed")
        await anyio.sleep(every)


@contextlib.asynccontextmanager
async def publishing_lifespan(app: Any) -> AsyncIterator[None]:
    """A FastAPI lifespan running `publish_periodically` when ``EPICITY_PUBLISH_EVERY`` is set
    (off by default). Several workers may each run it: a second run finds nothing changed."""
    every = publish_interval()
    if every is None:
        yield
        return
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(publish_periodically, app.state.sessions, every)
        try:
            yield
        finally:
            tasks.cancel_scope.cancel()
