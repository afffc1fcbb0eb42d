"""Cities Against COVID-19 (CAC): cities register and are approved, publishers hold API keys,
daily updates are checked and stored with their revisions, cities are compared per capita.

Plain functions with keyword-only arguments, called by the routes, the console page, the
CLI (``epicity cac``) and the tests alike; no web imports. Each function works inside the
caller's transaction and never commits, so a batch of updates is stored whole or not at all.

Daily updates (`post_updates`) are checked in two steps, and nothing is written unless both
find nothing: each update alone (`epicity.cac.schema.parse_update`), then the batch merged
over the city's stored days (a day of the batch replaces the stored one):

- a date appears once in a batch;
- cumulative counts (``*_total``) never decrease from a day to any later day (the nearest
  earlier and later days that give the count are compared; a stored pair that already
  disagreed before this batch is not blamed on it);
- where a day and the calendar day before both give a ``*_total``, the day's ``*_new``
  (when given) equals the difference; a batch day that would make the stored next day's
  ``*_new`` wrong is refused too (post both days together to correct one).

Re-posting a day is an idempotent upsert: the same figures change nothing; different ones
copy the stored day to ``cac_update_revisions`` and replace it with the next revision.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from epicity.cac import keys
from epicity.cac.compare import per_capita
from epicity.cac.errors import (
    CacConflict,
    CacInvalid,
    CityNotFound,
    KeyInvalid,
    PublisherNotFound,
    UpdatesInvalid,
)
from epicity.cac.models import (
    CITY_KINDS,
    CITY_STATUSES,
    EMAIL_MAX,
    LABEL_MAX,
    METRICS,
    NAME_MAX,
    NOTE_MAX,
    City,
    DailyUpdate,
    Publisher,
    UpdateRevision,
)
from epicity.cac.schema import CUMULATIVE, FieldError, ParsedUpdate, parse_update

__all__ = [
    "COUNTRIES",
    "LAST_USED_EVERY",
    "MAX_BATCH",
    "MAX_POPULATION",
    "BatchResult",
    "ComparedCity",
    "authenticate",
    "city_by_name",
    "city_today",
    "compare",
    "count_cities",
    "count_updates",
    "create_publisher",
    "decide_city",
    "get_city",
    "latest_updates",
    "list_cities",
    "list_publishers",
    "list_updates",
    "post_updates",
    "register_city",
    "revisions",
    "revoke_publisher",
    "update_json",
]

# ISO 3166-1 alpha-2: the 249 officially assigned codes.
_COUNTRY_CODES = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO
    BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK
    DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR
    GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM
    KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP
    MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL
    PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST
    SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG
    VI VN VU WF WS YE YT ZA ZM ZW"""
COUNTRIES = frozenset(_COUNTRY_CODES.split())
MAX_POPULATION = 2_000_000_000
MAX_BATCH = 2000
# A key's last use is written at most this often: a burst of requests costs one write.
LAST_USED_EVERY = dt.timedelta(seconds=60)
_EMAIL_RE = re.compile(
    r"^[^@\s]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$"
)
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


# -- cities -----------------------------------------------------------------------------------


def _text(name: str, value: str, limit: int) -> str:
    value = value.strip() if isinstance(value, str) else ""
    if not value:
        raise CacInvalid(name, "required")
    if len(value) > limit:
        raise CacInvalid(name, f"at most {limit} characters")
    if _CONTROL_RE.search(value):
        raise CacInvalid(name, "must not contain control characters")
    return value


def register_city(
    session: Session,
    *,
    name_en: str,
    name_local: str,
    country: str,
    population: int,
    time_zone: str,
    contact_email: str,
    now: dt.datetime,
    kind: str = "city",
) -> City:
    """A city's registration, ``pending`` until the admin decides. `country` is an ISO 3166
    alpha-2 code, `time_zone` an IANA zone (the city's "today" for its updates)."""
    name_en = _text("name_en", name_en, NAME_MAX)
    name_local = _text("name_local", name_local, NAME_MAX)
    code = country.strip().upper() if isinstance(country, str) else ""
    if code not in COUNTRIES:
        raise CacInvalid("country", f"{country!r} is not an ISO 3166 alpha-2 code (e.g. KR)")
    if isinstance(population, bool) or not isinstance(population, int):
        raise CacInvalid("population", "must be a whole number")
    if not 1 <= population <= MAX_POPULATION:
        raise CacInvalid("population", f"must be from 1 to {MAX_POPULATION:,}")
    zone = time_zone.strip() if isinstance(time_zone, str) else ""
    if zone not in available_timezones():
        raise CacInvalid("time_zone", f"{time_zone!r} is not an IANA time zone (e.g. Asia/Seoul)")
    email = contact_email.strip() if isinstance(contact_email, str) else ""
    if len(email) > EMAIL_MAX or not _EMAIL_RE.fullmatch(email):
        raise CacInvalid("contact_email", "must be an e-mail address")
    if kind not in CITY_KINDS:
        raise CacInvalid("kind", f"must be one of {CITY_KINDS}")
    if city_by_name(session, country=code, name_en=name_en) is not None:
        raise CacConflict(f"name_en: {name_en!r} in {code} is registered already")
    city = City(
        kind=kind,
        name_en=name_en,
        name_local=name_local,
        country=code,
        population=population,
        time_zone=zone,
        contact_email=email,
        status="pending",
        registered_at=now,
        decided_at=None,
        decided_by=None,
        decision_note="",
    )
    session.add(city)
    session.flush()
    return city


def city_by_name(session: Session, *, country: str, name_en: str) -> City | None:
    """The city registered under this English name in `country`, any status."""
    return session.scalar(
        select(City).where(City.country == country, func.lower(City.name_en) == name_en.lower())
    )


def get_city(session: Session, *, city_id: int, public: bool = True) -> City:
    """The city `city_id`; for the public (`public`) only an approved one."""
    city = session.get(City, city_id)
    if city is None or (public and city.status != "approved"):
        raise CityNotFound(f"city_id: no {'approved ' if public else ''}city {city_id}")
    return city


def decide_city(
    session: Session, *, city_id: int, approve: bool, actor: str, now: dt.datetime, note: str = ""
) -> City:
    """Approve or reject a pending city (a decided city stays decided)."""
    city = get_city(session, city_id=city_id, public=False)
    note = note.strip() if isinstance(note, str) else ""
    if len(note) > NOTE_MAX:
        raise CacInvalid("note", f"at most {NOTE_MAX} characters")
    if city.status != "pending":
        raise CacConflict(f"status: city {city_id} is {city.status} already")
    city.status = "approved" if approve else "rejected"
    city.decided_at = now
    city.decided_by = actor
    city.decision_note = note
    session.flush()
    return city


def list_cities(
    session: Session, *, status: str | None = "approved", limit: int = 100, offset: int = 0
) -> list[City]:
    """Cities with `status` (None: all), by English name."""
    query = select(City).order_by(City.name_en, City.id).limit(limit).offset(offset)
    if status is not None:
        if status not in CITY_STATUSES:
            raise CacInvalid("status", f"must be one of {CITY_STATUSES}")
        query = query.where(City.status == status)
    return list(session.scalars(query))


def count_cities(session: Session, *, status: str | None = "approved") -> int:
    """How many cities `list_cities` would give without a limit."""
    query = select(func.count()).select_from(City)
    if status is not None:
        query = query.where(City.status == status)
    return int(session.scalar(query) or 0)


def city_today(city: City, now: dt.datetime) -> dt.date:
    """The date in the city's time zone at `now` (an update may not be for a later day)."""
    return now.astimezone(ZoneInfo(city.time_zone)).date()


# -- publishers and keys ----------------------------------------------------------------------


def create_publisher(
    session: Session, *, city_id: int, label: str, actor: str, now: dt.datetime
) -> tuple[Publisher, str]:
    """A new API key for an approved city: the publisher row and the key, which is shown to
    the caller this once and never stored."""
    city = get_city(session, city_id=city_id, public=False)
    if city.status != "approved":
        raise CacConflict(f"status: city {city_id} is {city.status}; approve it first")
    label = _text("label", label, LABEL_MAX)
    made = keys.new_key()
    publisher = Publisher(
        city_id=city.id,
        label=label,
        key_prefix=made.prefix,
        key_hash=made.digest,
        created_at=now,
        created_by=actor,
        revoked_at=None,
        revoked_by=None,
        last_used_at=None,
    )
    session.add(publisher)
    session.flush()
    return publisher, made.secret


def list_publishers(session: Session, *, city_id: int | None = None) -> list[Publisher]:
    """Publishers (of `city_id`, or all), newest first."""
    query = select(Publisher).order_by(Publisher.id.desc())
    if city_id is not None:
        query = query.where(Publisher.city_id == city_id)
    return list(session.scalars(query))


def revoke_publisher(
    session: Session, *, publisher_id: int, actor: str, now: dt.datetime
) -> Publisher:
    """Revoke a key at once (revoking it again changes nothing)."""
    publisher = session.get(Publisher, publisher_id)
    if publisher is None:
        raise PublisherNotFound(f"publisher_id: no publisher {publisher_id}")
    if publisher.revoked_at is None:
        publisher.revoked_at = now
        publisher.revoked_by = actor
        session.flush()
    return publisher


def authenticate(session: Session, *, secret: str, now: dt.datetime) -> Publisher:
    """The publisher holding `secret`, if the key is valid, not revoked and its city
    approved; its last use is recorded (at most once per `LAST_USED_EVERY`)."""
    if not keys.looks_like_key(secret):
        raise KeyInvalid("api key: malformed (expected cac_ and 43 characters)")
    publisher = session.scalar(select(Publisher).where(Publisher.key_hash == keys.hash_key(secret)))
    if publisher is None or publisher.revoked_at is not None:
        raise KeyInvalid("api key: unknown or revoked")
    city = session.get(City, publisher.city_id)
    if city is None or city.status != "approved":
        raise KeyInvalid("api key: its city is not approved")
    # A conditional update: of concurrent requests at most one writes each minute.
    session.execute(
        update(Publisher)
        .where(
            Publisher.id == publisher.id,
            or_(Publisher.last_used_at.is_(None), Publisher.last_used_at < now - LAST_USED_EVERY),
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    return publisher


# -- daily updates ----------------------------------------------------------------------------


@dataclass
class BatchResult:
    """What a batch did: per day ``created``, ``revised`` or ``unchanged``, and its revision."""

    city_id: int
    days: list[dict[str, Any]] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        """How many days had `outcome`."""
        return sum(1 for d in self.days if d["outcome"] == outcome)

    def to_json(self) -> dict[str, Any]:
        """The batch's summary as JSON."""
        return {
            "city_id": self.city_id,
            "created": self.count("created"),
            "revised": self.count("revised"),
            "unchanged": self.count("unchanged"),
            "days": self.days,
        }


def _stored(session: Session, city_id: int) -> dict[dt.date, DailyUpdate]:
    rows = session.scalars(select(DailyUpdate).where(DailyUpdate.city_id == city_id))
    return {row.day: row for row in rows}


def _cross_checks(
    parsed: list[ParsedUpdate], stored: dict[dt.date, DailyUpdate]
) -> list[FieldError]:
    """The rules over days (see the module's docstring), on the batch merged over `stored`."""
    errors: list[FieldError] = []
    batch = {p.day: p for p in parsed}
    merged: dict[dt.date, dict[str, int | None]] = {
        day: {m: getattr(row, m) for m in METRICS} for day, row in stored.items()
    }
    merged.update({p.day: p.counts for p in parsed})
    days = sorted(merged)
    one = dt.timedelta(days=1)
    for total, new in CUMULATIVE:
        known = [(d, merged[d][total]) for d in days if merged[d][total] is not None]
        for (d0, v0), (d1, v1) in itertools.pairwise(known):
            assert v0 is not None
            assert v1 is not None
            if v1 >= v0:
                continue
            if d1 in batch:
                errors.append(
                    FieldError(batch[d1].index, total, f"{v1} is less than {v0} given for {d0}")
                )
            elif d0 in batch:
                errors.append(
                    FieldError(batch[d0].index, total, f"{v0} is more than {v1} stored for {d1}")
                )
        for p in parsed:
            t, n = p.counts[total], p.counts[new]
            before = merged.get(p.day - one, {}).get(total)
            if t is not None and n is not None and before is not None and t - before != n:
                errors.append(
                    FieldError(
                        p.index,
                        new,
                        f"{n} is not {total} {t} minus the previous day's {before} "
                        f"(= {t - before})",
                    )
                )
            after_day = p.day + one
            if after_day in stored and after_day not in batch and t is not None:
                after = merged[after_day]
                at, an = after[total], after[new]
                if at is not None and an is not None and at - t != an:
                    errors.append(
                        FieldError(
                            p.index,
                            total,
                            f"{t} makes the stored {after_day}'s {new} {an} wrong "
                            f"({total} {at} minus {t} = {at - t}); post that day too",
                        )
                    )
    return errors


def _same(row: DailyUpdate, p: ParsedUpdate) -> bool:
    return (
        all(getattr(row, m) == p.counts[m] for m in METRICS)
        and row.notes == p.notes
        and row.source_url == p.source_url
    )


def post_updates(
    session: Session, *, city_id: int, items: Any, actor: str, now: dt.datetime
) -> BatchResult:
    """Store a batch of daily updates for `city_id`, all or nothing: `UpdatesInvalid` lists
    every problem found (``index``, ``field``, ``message``) and nothing is written."""
    city = get_city(session, city_id=city_id, public=False)
    if city.status != "approved":
        raise CacConflict(f"status: city {city_id} is {city.status}; only approved cities post")
    if not isinstance(items, list) or not items:
        raise UpdatesInvalid(
            [{"index": None, "field": None, "message": "must be a non-empty array of updates"}]
        )
    if len(items) > MAX_BATCH:
        raise UpdatesInvalid(
            [{"index": None, "field": None, "message": f"at most {MAX_BATCH} updates a batch"}]
        )
    today = city_today(city, now)
    parsed: list[ParsedUpdate] = []
    errors: list[FieldError] = []
    first_index: dict[dt.date, int] = {}
    for index, raw in enumerate(items):
        update_, problems = parse_update(raw, index, city_id=city.id, today=today)
        errors.extend(problems)
        if update_ is None:
            continue
        if update_.day in first_index:
            errors.append(
                FieldError(
                    index,
                    "date",
                    f"{update_.day} is given twice (also at {first_index[update_.day]})",
                )
            )
            continue
        first_index[update_.day] = index
        parsed.append(update_)
    stored = _stored(session, city.id)
    if not errors:
        errors = _cross_checks(parsed, stored)
    if errors:
        errors.sort(key=lambda e: (e.index if e.index is not None else -1, e.field or ""))
        raise UpdatesInvalid([e.to_json() for e in errors])
    result = BatchResult(city.id)
    for p in sorted(parsed, key=lambda p: p.index):
        row = stored.get(p.day)
        if row is None:
            row = DailyUpdate(
                city_id=city.id,
                day=p.day,
                revision=1,
                notes=p.notes,
                source_url=p.source_url,
                posted_at=now,
                posted_by=actor,
                **p.counts,
            )
            session.add(row)
            outcome = "created"
        elif _same(row, p):
            outcome = "unchanged"
        else:
            session.add(
                UpdateRevision(
                    city_id=row.city_id,
                    day=row.day,
                    revision=row.revision,
                    notes=row.notes,
                    source_url=row.source_url,
                    posted_at=row.posted_at,
                    posted_by=row.posted_by,
                    replaced_at=now,
                    **{m: getattr(row, m) for m in METRICS},
                )
            )
            for m in METRICS:
                setattr(row, m, p.counts[m])
            row.notes, row.source_url = p.notes, p.source_url
            row.posted_at, row.posted_by = now, actor
            row.revision += 1
            outcome = "revised"
        result.days.append(
            {"date": p.day.isoformat(), "outcome": outcome, "revision": row.revision}
        )
    session.flush()
    return result


def update_json(row: DailyUpdate | UpdateRevision) -> dict[str, Any]:
    """A stored day as the public sees it (who posted it is not shown)."""
    out: dict[str, Any] = {"city_id": row.city_id, "date": row.day.isoformat()}
    out.update({m: getattr(row, m) for m in METRICS})
    out.update(
        {
            "notes": row.notes,
            "source_url": row.source_url,
            "revision": row.revision,
            "posted_at": row.posted_at.isoformat(),
        }
    )
    if isinstance(row, UpdateRevision):
        out["replaced_at"] = row.replaced_at.isoformat()
    return out


def _update_query(city_id: int, start: dt.date | None, end: dt.date | None) -> Any:
    query = select(DailyUpdate).where(DailyUpdate.city_id == city_id)
    if start is not None:
        query = query.where(DailyUpdate.day >= start)
    if end is not None:
        query = query.where(DailyUpdate.day <= end)
    return query


def list_updates(
    session: Session,
    *,
    city_id: int,
    start: dt.date | None = None,
    end: dt.date | None = None,
    limit: int | None = 100,
    offset: int = 0,
) -> list[DailyUpdate]:
    """A city's days (current revisions), oldest first."""
    query = _update_query(city_id, start, end).order_by(DailyUpdate.day).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def count_updates(
    session: Session, *, city_id: int, start: dt.date | None = None, end: dt.date | None = None
) -> int:
    """How many days `list_updates` would give without a limit."""
    query = _update_query(city_id, start, end).with_only_columns(func.count())
    return int(session.scalar(query) or 0)


def revisions(
    session: Session, *, city_id: int, day: dt.date
) -> list[DailyUpdate | UpdateRevision]:
    """Every revision of a city's day, the current one last (empty when no such day)."""
    current = session.scalar(_update_query(city_id, day, day))
    if current is None:
        return []
    earlier = session.scalars(
        select(UpdateRevision)
        .where(UpdateRevision.city_id == city_id, UpdateRevision.day == day)
        .order_by(UpdateRevision.revision)
    )
    return [*earlier, current]


def latest_updates(session: Session, *, city_ids: list[int]) -> dict[int, DailyUpdate]:
    """Each city's most recent day."""
    if not city_ids:
        return {}
    last = (
        select(DailyUpdate.city_id, func.max(DailyUpdate.day).label("day"))
        .where(DailyUpdate.city_id.in_(city_ids))
        .group_by(DailyUpdate.city_id)
        .subquery()
    )
    rows = session.scalars(
        select(DailyUpdate).join(
            last, (DailyUpdate.city_id == last.c.city_id) & (DailyUpdate.day == last.c.day)
        )
    )
    return {row.city_id: row for row in rows}


# -- comparison -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ComparedCity:
    """One city's series in a comparison: its rate per `per` people by day."""

    city: City
    points: list[tuple[dt.date, float | None]]

    def to_json(self) -> dict[str, Any]:
        """The series as JSON."""
        return {
            "city_id": self.city.id,
            "name_en": self.city.name_en,
            "name_local": self.city.name_local,
            "population": self.city.population,
            "points": [
                {"date": d.isoformat(), "value": None if v is None else round(v, 4)}
                for d, v in self.points
            ],
        }


def compare(
    session: Session,
    *,
    city_ids: list[int],
    metric: str,
    per: int = 100_000,
    smooth: int = 1,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> list[ComparedCity]:
    """Approved cities' `metric` per `per` people, smoothed over `smooth` days (see
    `epicity.cac.compare.per_capita`), between `start` and `end`."""
    if metric not in METRICS:
        raise CacInvalid("metric", f"must be one of {METRICS}")
    if start is not None and end is not None and start > end:
        raise CacInvalid("start", f"{start} is after end {end}")
    out = []
    for city_id in dict.fromkeys(city_ids):
        city = get_city(session, city_id=city_id)
        # read from smooth-1 days earlier, so the first day shown has its whole window
        since = start - dt.timedelta(days=smooth - 1) if start is not None else None
        query = (
            select(DailyUpdate.day, getattr(DailyUpdate, metric))
            .where(DailyUpdate.city_id == city.id)
            .order_by(DailyUpdate.day)
        )
        if since is not None:
            query = query.where(DailyUpdate.day >= since)
        if end is not None:
            query = query.where(DailyUpdate.day <= end)
        points = [(row[0], row[1]) for row in session.execute(query)]
        try:
            series = per_capita(points, population=city.population, per=per, smooth=smooth)
        except ValueError as err:
            name, _, problem = str(err).partition(": ")
            raise CacInvalid(name, problem) from None
        if start is not None:
            series = [(d, v) for d, v in series if d >= start]
        out.append(ComparedCity(city, series))
    return out
