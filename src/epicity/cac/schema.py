"""The one schema of a CAC daily update, and the checks of a single update (pure: no database).

A daily update is a JSON object; a batch is a JSON array of them. The city is the API key's;
``city`` may be given but must then be that city's id. Every count is optional (missing or
``null``: not reported) and, when given, a whole number from 0 to 10^10::

    {"date": "2020-03-02", "confirmed_new": 12, "confirmed_total": 98,
     "deaths_new": 0, "deaths_total": 0, "recovered_new": 3, "recovered_total": 17,
     "tests_new": 1200, "tests_total": 15000, "in_isolation": 81,
     "notes": "KCDC 10:00 release", "source_url": "https://example.org/2020-03-02"}

Rules checked here, on each update alone: the fields are known ones; ``date`` is a date
(``YYYY-MM-DD``) from `FIRST_DAY` to the city's today; at least one count is given; each
``*_new`` is at most its ``*_total``; ``notes`` at most 2,000 characters; ``source_url`` an
http(s) URL of at most 500. The rules that need the stored days (cumulative counts never
decrease; ``*_new`` equals the day's ``*_total`` minus the previous day's) are in
`epicity.cac.service`.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from epicity.cac.models import METRICS, NOTES_MAX, URL_MAX

__all__ = [
    "CUMULATIVE",
    "DAILY_UPDATE_SCHEMA",
    "FIELDS",
    "FIRST_DAY",
    "MAX_COUNT",
    "FieldError",
    "ParsedUpdate",
    "parse_update",
]

# The earliest day an update may be for (the first cases of COVID-19 were in December 2019).
FIRST_DAY = dt.date(2019, 12, 1)
MAX_COUNT = 10**10
# Each cumulative count and the count of the day that adds to it.
CUMULATIVE = (
    ("confirmed_total", "confirmed_new"),
    ("deaths_total", "deaths_new"),
    ("recovered_total", "recovered_new"),
    ("tests_total", "tests_new"),
)
FIELDS = ("city", "date", *METRICS, "notes", "source_url")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

_MEANINGS = {
    "confirmed_new": "cases confirmed that day",
    "confirmed_total": "cases confirmed up to and including that day",
    "deaths_new": "deaths of confirmed cases reported that day",
    "deaths_total": "deaths of confirmed cases up to and including that day",
    "recovered_new": "confirmed cases released from isolation (recovered) that day",
    "recovered_total": "confirmed cases released (recovered) up to and including that day",
    "tests_new": "diagnostic tests (PCR) done that day",
    "tests_total": "diagnostic tests done up to and including that day",
    "in_isolation": "confirmed cases in isolation (hospital, treatment centre or home) at the "
    "end of that day",
}

DAILY_UPDATE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "/api/cac/v1/schema/daily-update",
    "title": "CAC daily update",
    "description": (
        "One city's figures for one day. POST an array of these to /api/cac/v1/updates with "
        "the city's API key; the city is the key's. Missing or null counts are not reported. "
        "Re-posting a day replaces it (the earlier figures are kept as a revision). Checked "
        "beyond this schema: the date is not after the city's today; each *_new is at most "
        "its *_total; cumulative counts never decrease from one stored day to a later one; "
        "where a day and the previous day both give a *_total, the day's *_new (when given) "
        "equals the difference."
    ),
    "type": "object",
    "additionalProperties": False,
    "required": ["date"],
    "properties": {
        "city": {
            "type": "integer",
            "minimum": 1,
            "description": "optional; when given, must be the id of the key's city",
        },
        "date": {
            "type": "string",
            "format": "date",
            "description": f"the day (YYYY-MM-DD, local to the city), from {FIRST_DAY} to today",
        },
        **{
            metric: {
                "type": ["integer", "null"],
                "minimum": 0,
                "maximum": MAX_COUNT,
                "description": _MEANINGS[metric],
            }
            for metric in METRICS
        },
        "notes": {"type": "string", "maxLength": NOTES_MAX, "description": "free text"},
        "source_url": {
            "type": "string",
            "maxLength": URL_MAX,
            "format": "uri",
            "description": "where the figures were published (http or https)",
        },
    },
    "examples": [
        {
            "date": "2020-03-02",
            "confirmed_new": 12,
            "confirmed_total": 98,
            "deaths_total": 0,
            "in_isolation": 81,
            "source_url": "https://example.org/2020-03-02",
        }
    ],
}


@dataclass(frozen=True)
class FieldError:
    """One problem: the update's index in its batch, the field (None: the whole update)."""

    index: int | None
    field: str | None
    message: str

    def to_json(self) -> dict[str, Any]:
        """``{"index", "field", "message"}``."""
        return {"index": self.index, "field": self.field, "message": self.message}


@dataclass(frozen=True)
class ParsedUpdate:
    """A checked update: the day, each count (None: not reported), notes and source."""

    index: int
    day: dt.date
    counts: dict[str, int | None]
    notes: str
    source_url: str


def _count(value: Any) -> tuple[int | None, str | None]:
    if value is None:
        return None, None
    if isinstance(value, bool) or not isinstance(value, int):
        return None, f"must be a whole number or null, not {type(value).__name__}"
    if value < 0:
        return None, f"must not be negative (got {value})"
    if value > MAX_COUNT:
        return None, f"must be at most {MAX_COUNT:,} (got {value})"
    return value, None


def _day(value: Any, today: dt.date) -> tuple[dt.date | None, str | None]:
    if not isinstance(value, str) or not _DATE_RE.fullmatch(value):
        return None, "must be a date written YYYY-MM-DD"
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        return None, f"{value!r} is not a calendar date"
    if day > today:
        return None, f"{day} is in the future (the city's today is {today})"
    if day < FIRST_DAY:
        return None, f"{day} is before {FIRST_DAY}"
    return day, None


def _url(value: Any) -> tuple[str, str | None]:
    if not isinstance(value, str):
        return "", "must be a string"
    if len(value) > URL_MAX:
        return "", f"at most {URL_MAX} characters"
    value = value.strip()
    if not value:
        return "", None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in value):
        return "", "must be an http or https URL"
    return value, None


def parse_update(
    raw: Any, index: int, *, city_id: int, today: dt.date
) -> tuple[ParsedUpdate | None, list[FieldError]]:
    """Check one update of a batch for the key's city `city_id` on the city's `today`: the
    parsed update, or None and every problem found (all of them, not only the first)."""
    if not isinstance(raw, dict):
        return None, [FieldError(index, None, "must be an object (see the daily-update schema)")]
    errors: list[FieldError] = []
    for name in raw:
        if name not in FIELDS:
            shown = str(name)[:60]
            errors.append(FieldError(index, shown, f"unknown field; known: {', '.join(FIELDS)}"))
    if "city" in raw:
        city = raw["city"]
        if isinstance(city, bool) or not isinstance(city, int) or city != city_id:
            errors.append(
                FieldError(
                    index, "city", f"the API key is for city {city_id}; omit city or give it"
                )
            )
    day: dt.date | None = None
    if "date" not in raw:
        errors.append(FieldError(index, "date", "required"))
    else:
        day, problem = _day(raw["date"], today)
        if problem:
            errors.append(FieldError(index, "date", problem))
    counts: dict[str, int | None] = {}
    for metric in METRICS:
        value, problem = _count(raw.get(metric))
        if problem:
            errors.append(FieldError(index, metric, problem))
        counts[metric] = value
    if all(raw.get(metric) is None for metric in METRICS):
        errors.append(FieldError(index, None, f"no figures: give at least one of {METRICS}"))
    for total, new in CUMULATIVE:
        t, n = counts[total], counts[new]
        if t is not None and n is not None and n > t:
            errors.append(FieldError(index, new, f"{n} is more than {total} {t}"))
    notes = raw.get("notes", "")
    if notes is None:
        notes = ""
    if not isinstance(notes, str):
        errors.append(FieldError(index, "notes", "must be a string"))
        notes = ""
    elif len(notes) > NOTES_MAX:
        errors.append(FieldError(index, "notes", f"at most {NOTES_MAX} characters"))
    source = raw.get("source_url", "")
    source_url, problem = _url("" if source is None else source)
    if problem:
        errors.append(FieldError(index, "source_url", problem))
    if errors or day is None:
        return None, errors
    return ParsedUpdate(index, day, counts, notes.strip(), source_url), []
