"""Self-diagnosis over a session: judge the answers with the current rules, store them (for a
logged-in citizen with their person id; for the public with no identity and no location) and,
when testing is advised, list the nearest open screening centres with their current waits.

Functions flush but do not commit: the caller owns the transaction.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from epicity.db import utcnow
from epicity.geo import haversine_m
from epicity.triage.engine import (
    AnswerInvalid,
    Assessment,
    Rules,
    assess,
    load_rules,
    validate_answers,
)
from epicity.triage.models import SelfDiagnosis

__all__ = [
    "CENTRES_SHOWN",
    "CentreOption",
    "Diagnosis",
    "nearest_centres",
    "own_diagnoses",
    "self_diagnose",
]

CENTRES_SHOWN = 3


class CentreLike(Protocol):
    """What `nearest_centres` reads of a centre (`epicity.screening.service.CentreStatus`)."""

    @property
    def centre_id(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def district(self) -> str: ...
    @property
    def lat(self) -> float: ...
    @property
    def lon(self) -> float: ...
    @property
    def open_now(self) -> bool: ...
    @property
    def wait_minutes(self) -> float | None: ...
    @property
    def next_open(self) -> dt.datetime | None: ...


@dataclass(frozen=True)
class CentreOption:
    """A screening centre offered to a person advised to get tested."""

    centre_id: int
    name: str
    kind: str
    district: str
    lat: float
    lon: float
    open_now: bool
    wait_minutes: float | None
    next_open: dt.datetime | None
    distance_m: float | None  # None when the person gave no location


@dataclass(frozen=True)
class Diagnosis:
    """The outcome of one questionnaire: the assessment, the rules, the centres, the row id."""

    assessment: Assessment
    rules: Rules
    centres: list[CentreOption]
    stored_id: int
    created_at: dt.datetime


def _check_location(location: tuple[float, float] | None) -> None:
    if location is None:
        return
    lat, lon = location
    if not (math.isfinite(lat) and -90 <= lat <= 90):
        raise AnswerInvalid("location.lat", f"must be between -90 and 90, got {lat}")
    if not (math.isfinite(lon) and -180 <= lon <= 180):
        raise AnswerInvalid("location.lon", f"must be between -180 and 180, got {lon}")


def nearest_centres(
    centres: Sequence[CentreLike],
    location: tuple[float, float] | None,
    *,
    limit: int = CENTRES_SHOWN,
) -> list[CentreOption]:
    """The `limit` best centres: open now first, then the nearest (haversine from
    `location`), then the shortest wait; without a location, open first, then shortest wait
    (unknown waits last), then name. Pure."""
    _check_location(location)
    options = []
    for c in centres:
        distance = None
        if location is not None:
            distance = float(haversine_m(location[0], location[1], c.lat, c.lon))
        options.append(
            CentreOption(
                centre_id=c.centre_id,
                name=c.name,
                kind=c.kind,
                district=c.district,
                lat=c.lat,
                lon=c.lon,
                open_now=c.open_now,
                wait_minutes=c.wait_minutes,
                next_open=c.next_open,
                distance_m=distance,
            )
        )

    def key(o: CentreOption) -> tuple[bool, float, float, str, int]:
        wait = math.inf if o.wait_minutes is None else o.wait_minutes
        distance = 0.0 if o.distance_m is None else o.distance_m
        return (not o.open_now, distance, wait, o.name, o.centre_id)

    return sorted(options, key=key)[:limit]


def _centres(session: Session, at: dt.datetime) -> Sequence[CentreLike]:
    # Screening owns its centres; imported here so triage works on its own in tests of rules.
    from epicity.screening.service import centre_status

    return centre_status(session, at=at)


def self_diagnose(
    session: Session,
    *,
    answers: Mapping[str, Any],
    person_id: int | None = None,
    location: tuple[float, float] | None = None,
    now: dt.datetime | None = None,
    rules: Rules | None = None,
) -> Diagnosis:
    """Judge `answers` with `rules` (default: the current rules file) and store them (flushes).

    `person_id` is a logged-in citizen's pseudonym; ``None`` is the public: the row keeps no
    identity and its time is rounded down to the hour. `location` (lat, lon; never stored)
    orders the centres offered when testing is advised. Raises `AnswerInvalid` naming the
    field (nothing is stored then)."""
    when = utcnow() if now is None else now
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"now: naive datetime {when.isoformat()}; give a time zone")
    _check_location(location)
    used = rules or load_rules()
    clean = validate_answers(answers, used)
    assessment = assess(clean, used)
    stamp = when if person_id is not None else when.replace(minute=0, second=0, microsecond=0)
    row = SelfDiagnosis(
        person_id=person_id,
        rules_id=used.id,
        rules_version=used.version,
        rules_sha256=used.sha256,
        answers=clean,
        recommendation=assessment.recommendation,
        fired=list(assessment.fired),
        created_at=stamp,
    )
    session.add(row)
    session.flush()
    centres: list[CentreOption] = []
    if assessment.recommendation == "get_tested":
        centres = nearest_centres(_centres(session, when), location)
    return Diagnosis(assessment, used, centres, row.id, stamp)


def own_diagnoses(session: Session, *, person_id: int, limit: int = 100) -> list[SelfDiagnosis]:
    """A citizen's stored self-diagnoses, newest first."""
    return list(
        session.scalars(
            select(SelfDiagnosis)
            .where(SelfDiagnosis.person_id == int(person_id))
            .order_by(SelfDiagnosis.created_at.desc(), SelfDiagnosis.id.desc())
            .limit(limit)
        )
    )
