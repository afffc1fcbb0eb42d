"""Seeding the library and the suppliers directory with real material.

- Korea's COVID-19 policies from DS4C's ``Policy.csv`` (``ds4c/`` of the shared real data,
  read at run time and never shipped: CC BY-NC-SA 4.0) become Seoul's countermeasures, one
  per row, in English as in the file, each carrying DS4C's credit and licence. They are
  national measures, which applied in Seoul; the text says so. The category comes from the
  row's type and policy (`category_of`), and each gets its DS4C type, the words "ds4c" and
  "national", and the category's Korean word as tags, so a Korean search finds them too.
- The Korean makers of test kits with emergency use authorisation in 2020, from
  ``epicity/cac/data/suppliers_kr_2020.json`` (shipped: compiled by the project, a source
  cited for every approval and what remains to be checked said in its ``note``).

Seoul is found among the CAC cities (``epicity cac seed`` registers it); when absent it is
registered and approved as that command does. The files are read and checked before
anything is written, the whole seed is one transaction (a row refused stores nothing of it),
and entries are found again by their reference
(``ds4c-policy-<policy_id>``, ``kr2020-...``), so a second run adds nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from epicity.cac import library_service, service, suppliers
from epicity.cac.library_errors import LibraryError
from epicity.cac.models import City

__all__ = [
    "DS4C_CREDIT",
    "DS4C_LICENCE",
    "POLICY_FILE",
    "SeedReport",
    "category_of",
    "load_suppliers",
    "policy_countermeasures",
    "seed_library",
]

POLICY_FILE = "ds4c/Policy.csv"
SUPPLIERS_RESOURCE = "suppliers_kr_2020.json"
ACTOR = "seed:library"
DS4C_CREDIT = (
    "Data Science for COVID-19 (DS4C), Policy.csv, by Jihoo Kim et al. "
    "(Kaggle kimjihoo/coronavirusdataset)"
)
DS4C_LICENCE = "CC BY-NC-SA 4.0"
DS4C_URL = "https://www.kaggle.com/datasets/kimjihoo/coronavirusdataset"
POLICY_COLUMNS = ("policy_id", "country", "type", "gov_policy", "detail", "start_date", "end_date")
MAX_POLICY_ROWS = 10_000

# (DS4C type, policy) -> category; a type alone is the fallback; anything else is "other".
_BY_POLICY = {
    ("Health", "Mask Distribution"): "masks",
    ("Technology", "Open Data"): "communication",
    ("Technology", "Open API"): "masks",  # the public mask sales information
    ("Technology", "Self-Quarantine Safety Protection App"): "isolation",
    ("Technology", "Electronic Wristbands"): "isolation",
    ("Social", "Thanks to Challenge korea"): "communication",
    ("Transformation", "Wearing of masks"): "masks",
    ("Immigration", "Mandatory 14-day Self-Quarantine"): "borders",
}
_BY_TYPE = {
    "Alert": "alert",
    "Immigration": "borders",
    "Health": "testing",
    "Social": "social_distancing",
    "Education": "schools",
    "Technology": "technology",
    "Administrative": "social_distancing",
    "Transformation": "other",
}
# The category's word in Korean, as a tag (the DS4C text is English only).
KOREAN_TAG = {
    "alert": "경보",
    "testing": "검사",
    "tracing": "역학조사",
    "isolation": "격리",
    "social_distancing": "거리두기",
    "masks": "마스크",
    "schools": "학교",
    "borders": "입국",
    "relief": "지원",
    "communication": "소통",
    "technology": "기술",
    "other": "기타",
}


def category_of(kind: str, policy: str) -> str:
    """The library's category of a DS4C policy row (its type and policy name)."""
    return _BY_POLICY.get((kind, policy)) or _BY_TYPE.get(kind, "other")


def _date(value: str, where: str) -> dt.date | None:
    value = value.strip()
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise LibraryError(where, f"{value!r} is not a date (YYYY-MM-DD)") from None


def policy_countermeasures(real_data: Path) -> list[dict[str, Any]]:
    """The countermeasures made of ``Policy.csv``'s rows (refused, naming the row and
    column, when a row is malformed)."""
    path = real_data / POLICY_FILE
    if not path.is_file():
        raise LibraryError("real_data", f"{path} is not a file")
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        missing = [c for c in POLICY_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise LibraryError(POLICY_FILE, f"missing columns: {', '.join(missing)}")
        rows = list(reader)
    if len(rows) > MAX_POLICY_ROWS:
        raise LibraryError(POLICY_FILE, f"more than {MAX_POLICY_ROWS:,} rows")
    items = []
    seen: set[str] = set()
    for number, row in enumerate(rows, start=2):  # line 1 is the header
        where = f"{POLICY_FILE} line {number}"
        policy_id = (row["policy_id"] or "").strip()
        if not policy_id.isdigit():
            raise LibraryError(f"{where} policy_id", f"{policy_id!r} is not a number")
        if policy_id in seen:
            raise LibraryError(f"{where} policy_id", f"{policy_id} appears twice")
        seen.add(policy_id)
        kind = (row["type"] or "").strip()
        policy = " ".join((row["gov_policy"] or "").split())
        detail = " ".join((row["detail"] or "").split())
        country = (row["country"] or "").strip()
        start = _date(row["start_date"] or "", f"{where} start_date")
        end = _date(row["end_date"] or "", f"{where} end_date")
        if not policy:
            raise LibraryError(f"{where} gov_policy", "empty")
        if start is None:
            raise LibraryError(f"{where} start_date", "empty")
        title = f"{policy}: {detail}" if detail else policy
        until = f"until {end.isoformat()}" if end else "with no end date recorded"
        body = (
            f"{policy}{f' ({detail})' if detail else ''}. "
            f"A national measure of {country or 'Korea'}, in force in Seoul from "
            f"{start.isoformat()} {until}. DS4C classifies it as {kind or 'unclassified'}.\n\n"
            f"Source: {DS4C_CREDIT}, policy {policy_id}. Licence: {DS4C_LICENCE}."
        )
        category = category_of(kind, policy)
        items.append(
            {
                "external_ref": f"ds4c-policy-{policy_id}",
                "title": title[:300],
                "day": start,
                "end_day": end,
                "category": category,
                "language": "en",
                "body": body,
                "tags": [t for t in (kind.lower(), "ds4c", "national", KOREAN_TAG[category]) if t],
                "source": DS4C_CREDIT,
                "licence": DS4C_LICENCE,
                "source_url": DS4C_URL,
            }
        )
    return items


def load_suppliers(path: Path | None = None) -> list[dict[str, Any]]:
    """The suppliers of the JSON list at `path` (default: the one shipped in the package)."""
    try:
        if path is None:
            raw = (
                resources.files("epicity.cac")
                .joinpath("data", SUPPLIERS_RESOURCE)
                .read_text(encoding="utf-8")
            )
        else:
            raw = path.read_text(encoding="utf-8")
        data = json.loads(raw)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise LibraryError("suppliers", f"cannot read the list: {err}") from None
    entries = data.get("suppliers") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise LibraryError("suppliers", "the file must hold an object with a 'suppliers' list")
    allowed = {
        "ref", "company", "company_local", "product", "kind", "country", "website",
        "contact", "daily_capacity", "notes", "source", "approvals",
    }  # fmt: skip
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise LibraryError(f"suppliers.{i}", "must be an object")
        unknown = sorted(set(entry) - allowed)
        if unknown:
            raise LibraryError(f"suppliers.{i}.{unknown[0]}", "unknown field")
        if not entry.get("source") or not all(
            isinstance(a, dict) and a.get("source") for a in entry.get("approvals") or []
        ):
            raise LibraryError(f"suppliers.{i}.source", "every entry and approval cites a source")
    return entries


@dataclass
class SeedReport:
    """What a seed did: countermeasures and suppliers created, updated and unchanged."""

    city: City | None = None
    countermeasures: dict[str, int] = field(default_factory=dict)
    suppliers: dict[str, int] = field(default_factory=dict)


def _seoul(session: Session, now: dt.datetime) -> City:
    from epicity.cac.seed import ACTOR as CAC_ACTOR
    from epicity.cac.seed import CREDIT, SEED_CONTACT, seoul_population

    city = service.city_by_name(session, country="KR", name_en="Seoul")
    if city is None:
        city = service.register_city(
            session,
            name_en="Seoul",
            name_local="서울특별시",
            country="KR",
            population=seoul_population(),
            time_zone="Asia/Seoul",
            contact_email=SEED_CONTACT,
            now=now,
        )
    if city.status == "pending":
        service.decide_city(
            session, city_id=city.id, approve=True, actor=CAC_ACTOR, now=now, note=CREDIT
        )
    if city.status != "approved":
        raise LibraryError("city", f"Seoul is {city.status}; seeding will not approve it")
    return city


def seed_library(
    session: Session,
    *,
    now: dt.datetime,
    real_data: Path | None = None,
    suppliers_file: Path | None = None,
) -> SeedReport:
    """Seoul's countermeasures from DS4C (when `real_data` is given) and the suppliers list;
    every input checked first, then written in the caller's transaction; idempotent."""
    policies = policy_countermeasures(real_data) if real_data is not None else []
    entries = load_suppliers(suppliers_file)
    report = SeedReport()
    if policies:
        report.city = _seoul(session, now)
        for item in policies:
            _, what = library_service.post_countermeasure(
                session, city_id=report.city.id, actor=ACTOR, now=now, **item
            )
            report.countermeasures[what] = report.countermeasures.get(what, 0) + 1
    for i, entry in enumerate(entries):
        entry = dict(entry)
        ref = entry.pop("ref", None)
        try:
            _, what = suppliers.upsert_supplier(
                session, actor=ACTOR, now=now, external_ref=ref, **entry
            )
        except LibraryError as err:
            raise LibraryError(f"suppliers.{i}.{err.field}", err.problem) from None
        report.suppliers[what] = report.suppliers.get(what, 0) + 1
    return report
