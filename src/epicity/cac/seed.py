"""Seeding CAC with real figures: Seoul, and Korea's national figures as a second "city" for
comparison, from the Coronaboard series (``korea_timeseries/`` of the shared real data,
read at run time; credit "Coronaboard (coronaboard.kr)").

Both are registered and approved like any city, and their days go through the same checked
path as a publisher's batch (`epicity.cac.service.post_updates`), so a second run finds every
day unchanged and adds nothing.

What is taken from the files (``SOURCES.md`` of the data describes them):

- ``coronaboard_seoul_daily.csv`` (2020-02-17 to 2023-08-31): confirmed, deaths and released
  (recovered) cumulative counts of Seoul.
- ``coronaboard_kr_daily.csv``: Korea's cumulative confirmed, deaths, released and tests;
  rows from 2023-09-01 on are left out (daily reporting ended and the cumulative counts drop:
  artefacts).
- Released counts stop being updated after 2022-02-23 in both files, and Korea's tests after
  2021-10-31 (the ``negative`` column, part of ``tested``, last changes then): later values
  are left out (not reported) rather than repeated.
- A cumulative count lower than an earlier day's (Seoul's deaths read 0 on some days from
  April 2023 and 1 from August 2023; released once drops from 93 to 92) is left out of that
  day and named in its ``notes``.
- ``*_new`` is the difference of the kept cumulative counts of consecutive days;
  ``in_isolation`` is confirmed minus recovered minus deaths where all three are kept.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from epicity.cac import service
from epicity.cac.errors import CacError
from epicity.cac.models import City
from epicity.cac.schema import CUMULATIVE
from epicity.city.districts import seoul_districts

__all__ = [
    "CREDIT",
    "KOREA_POPULATION",
    "SOURCE_URL",
    "SeedResult",
    "national_updates",
    "seed",
    "seoul_population",
    "seoul_updates",
]

CREDIT = "Coronaboard (coronaboard.kr)"
SOURCE_URL = "https://coronaboard.kr/"
ACTOR = "seed:coronaboard"
# Resident registration population of the Republic of Korea at the end of 2020 (Ministry of
# the Interior and Safety, announced 2021-01-03).
KOREA_POPULATION = 51_829_023
# Not a mailbox: seeded cities are run by the platform itself (.invalid is reserved, RFC 2606).
SEED_CONTACT = "cac-seed@epicity.invalid"
RELEASED_LAST = dt.date(2022, 2, 23)
TESTS_LAST = dt.date(2021, 10, 31)
ARTEFACTS_FROM = dt.date(2023, 9, 1)
SEOUL_FILE = "korea_timeseries/coronaboard_seoul_daily.csv"
KOREA_FILE = "korea_timeseries/coronaboard_kr_daily.csv"


def seoul_population() -> int:
    """Seoul's residents: the sum over its districts (`epicity.city.districts`)."""
    return sum(d.residents for d in seoul_districts()) * 1000


def _int(text: str | None) -> int | None:
    text = (text or "").strip()
    return int(float(text)) if text else None


def _updates(rows: Iterable[tuple[dt.date, dict[str, int | None]]]) -> list[dict[str, Any]]:
    """Daily updates from cumulative counts by day: decreases left out (and noted), the
    counts of the day and the number in isolation derived."""
    items: list[dict[str, Any]] = []
    best: dict[str, int] = {}
    previous: dict[str, int | None] = {}
    previous_day: dt.date | None = None
    for day, totals in sorted(rows, key=lambda r: r[0]):
        item: dict[str, Any] = {"date": day.isoformat(), "source_url": SOURCE_URL}
        notes = []
        kept: dict[str, int | None] = {}
        for total, new in CUMULATIVE:
            value = totals.get(total)
            if value is not None and value < best.get(total, 0):
                notes.append(
                    f"{total} {value} in the source left out: lower than an earlier day's "
                    f"{best[total]}"
                )
                value = None
            kept[total] = value
            if value is None:
                continue
            best[total] = value
            item[total] = value
            before = previous.get(total) if previous_day == day - dt.timedelta(days=1) else None
            if before is not None:
                item[new] = value - before
        confirmed, recovered, deaths = (
            kept["confirmed_total"],
            kept["recovered_total"],
            kept["deaths_total"],
        )
        if (
            confirmed is not None
            and recovered is not None
            and deaths is not None
            and confirmed - recovered - deaths >= 0
        ):
            item["in_isolation"] = confirmed - recovered - deaths
        if notes:
            item["notes"] = "; ".join(notes)
        previous, previous_day = kept, day
        items.append(item)
    return items


def _read(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise CacError(f"real data: {path} not found")
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def seoul_updates(real_data: Path) -> list[dict[str, Any]]:
    """Seoul's daily updates from ``coronaboard_seoul_daily.csv`` (see the module's notes)."""
    rows = []
    for row in _read(real_data / SEOUL_FILE):
        day = dt.date.fromisoformat(row["date"])
        if day >= ARTEFACTS_FROM:
            continue
        rows.append(
            (
                day,
                {
                    "confirmed_total": _int(row["confirmed_cumulative"]),
                    "deaths_total": _int(row["death_cumulative"]),
                    "recovered_total": _int(row["released_cumulative"])
                    if day <= RELEASED_LAST
                    else None,
                },
            )
        )
    return _updates(rows)


def national_updates(real_data: Path) -> list[dict[str, Any]]:
    """Korea's national daily updates from ``coronaboard_kr_daily.csv``."""
    rows = []
    for row in _read(real_data / KOREA_FILE):
        day = dt.datetime.strptime(row["date"], "%Y%m%d").date()
        if day >= ARTEFACTS_FROM:
            continue
        rows.append(
            (
                day,
                {
                    "confirmed_total": _int(row["confirmed"]),
                    "deaths_total": _int(row["death"]),
                    "recovered_total": _int(row["released"]) if day <= RELEASED_LAST else None,
                    "tests_total": _int(row["tested"]) if day <= TESTS_LAST else None,
                },
            )
        )
    return _updates(rows)


@dataclass(frozen=True)
class SeedResult:
    """A seeded city and what its batch did."""

    city: City
    created: int
    revised: int
    unchanged: int


def _approved_city(session: Session, *, now: dt.datetime, **registration: Any) -> City:
    city = service.city_by_name(
        session, country=registration["country"], name_en=registration["name_en"]
    )
    if city is None:
        city = service.register_city(
            session, now=now, contact_email=SEED_CONTACT, time_zone="Asia/Seoul", **registration
        )
    if city.status == "pending":
        service.decide_city(
            session, city_id=city.id, approve=True, actor=ACTOR, now=now, note=f"seeded: {CREDIT}"
        )
    if city.status != "approved":
        raise CacError(f"status: {city.name_en} is {city.status}; seeding will not approve it")
    return city


def seed(
    session: Session, *, real_data: Path, now: dt.datetime, national: bool = True
) -> list[SeedResult]:
    """Register and approve Seoul (and, with `national`, "Republic of Korea (national)") and
    post their Coronaboard series; idempotent."""
    plans: list[tuple[dict[str, Any], list[dict[str, Any]]]] = [
        (
            {
                "name_en": "Seoul",
                "name_local": "서울특별시",
                "country": "KR",
                "population": seoul_population(),
                "kind": "city",
            },
            seoul_updates(real_data),
        )
    ]
    if national:
        plans.append(
            (
                {
                    "name_en": "Republic of Korea (national)",
                    "name_local": "대한민국 (전국)",
                    "country": "KR",
                    "population": KOREA_POPULATION,
                    "kind": "nation",
                },
                national_updates(real_data),
            )
        )
    results = []
    for registration, items in plans:
        city = _approved_city(session, now=now, **registration)
        batch = service.post_updates(session, city_id=city.id, items=items, actor=ACTOR, now=now)
        results.append(
            SeedResult(
                city, batch.count("created"), batch.count("revised"), batch.count("unchanged")
            )
        )
    return results
