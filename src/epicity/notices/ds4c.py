"""The DS4C public routes of 2020 as place notices, through tracing's public-notice rules.

DS4C's ``PatientRoute.csv`` lists, per patient, the dates and kinds of places (``type``) with
coordinates that Korean local governments disclosed in 2020. It is read at run time from
``../shared`` (CC BY-NC-SA: never shipped, nothing derived row by row is in the repository).
Only what a notice may show is kept, by the same rules as tracing's public notices
(`epicity.tracing.warnings.publishable` and `venue_notices`):

- only Seoul's rows (the city's province); the district is DS4C's ``city``, which must be one
  of Seoul's 25 districts;
- the place is the kind of place at those coordinates (DS4C names no venue); rows of all
  patients at the same place are pooled, so a notice is a place and a window, never a
  patient's route, and carries no patient id;
- withheld before the rules: ``etc`` (DS4C's catch-all, used for homes, workplaces and
  unnamed places: it cannot be shown to be a venue, so it is not disclosed) and
  ``administrative_area_level_1`` (a point geocoded only to a province: not a place);
- tracing's rule: private places (homes, workplaces) are never published, nor venues whose
  visitors can all be reached from an electronic visitor log; no venue kept one before
  KI-Pass (QR entry logs, from 10 June 2020), after DS4C's last route (1 June 2020), so every
  remaining venue qualifies;
- times: DS4C gives the date only, so the window is the whole local day (00:00-24:00; tracing
  rounds outward to 10 minutes, which leaves whole days whole), and the notice says the time
  of day was not disclosed (``time_known`` false); visits to the same place on consecutive days
  touch and are merged, as tracing merges touching windows;
- disinfection is advised for indoor places (every kind but ``park``);
- each notice expires 14 days after its window ends (tracing's ``NOTICE_DAYS``); it was
  published, at the latest, when the visit ended (the real dates of disclosure are not in the
  data), so ``?as_of=2020-03-20`` shows what was visible that day.

`import_routes` replaces the stored DS4C notices by the file's in one transaction: running it
twice changes nothing (same keys), and a row removed from the file removes its notice.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from epicity.notices.errors import SourceError
from epicity.notices.models import PublicNoticeRow
from epicity.notices.service import ZONE, delete_keys, districts, insert_new, notice_key
from epicity.tracing.warnings import PublicNotice, VenueInfo, publishable, venue_notices

__all__ = [
    "COLUMNS",
    "OUTDOOR",
    "PROVINCE",
    "WITHHELD",
    "RoutesImport",
    "import_routes",
    "read_routes",
]

COLUMNS = ("date", "province", "city", "type", "latitude", "longitude")
PROVINCE = "Seoul"
# DS4C kinds that are not shown to be venues (see the module docstring).
WITHHELD = {
    "etc": "kind 'etc' (homes, workplaces and unnamed places)",
    "administrative_area_level_1": "kind 'administrative_area_level_1' (not a place)",
}
OUTDOOR = frozenset({"park"})
FILE_NAME = "PatientRoute.csv"


@dataclass
class RoutesImport:
    """What an import read, withheld, made and changed."""

    path: Path
    rows: int = 0
    outside: int = 0  # rows outside the city's province
    skipped: Counter[str] = field(default_factory=Counter)  # unusable rows, by reason
    withheld: Counter[str] = field(default_factory=Counter)  # by the disclosure rules
    places: int = 0
    notices: int = 0
    multi_day: int = 0  # notices spanning several days (visits on consecutive days)
    first_day: dt.date | None = None
    last_day: dt.date | None = None
    added: int = 0
    removed: int = 0
    unchanged: int = 0

    @property
    def changed(self) -> bool:
        """Whether the import stored or removed anything."""
        return bool(self.added or self.removed)


def _place_id(kind: str, lat: float, lon: float) -> int:
    digest = hashlib.sha256(f"ds4c\x1f{kind}\x1f{lat:.6f}\x1f{lon:.6f}".encode()).digest()
    return int.from_bytes(digest[:7], "big")  # fits a signed 64-bit id


def _label(kind: str) -> str:
    return kind.replace("_", " ").capitalize()


def _epoch(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=ZONE).timestamp())


def read_routes(path: Path) -> tuple[list[tuple[str, PublicNotice]], RoutesImport]:
    """The notices of `path` (a PatientRoute.csv or its directory), each with its place key.

    Raises `SourceError` naming the file (and column) when it is missing, unreadable, empty or
    lacks a column it reads. Unusable rows (bad date or coordinates, a district not in Seoul)
    are skipped and counted.
    """
    source = path / FILE_NAME if path.is_dir() else path
    report = RoutesImport(path=source)
    if not source.is_file():
        raise SourceError(f"path: {source} is not a file (DS4C {FILE_NAME} or its directory)")
    known = set(districts())
    visits: dict[int, list[tuple[int, int]]] = defaultdict(list)
    info_of: dict[int, tuple[str, VenueInfo]] = {}
    seen: set[tuple[int, dt.date]] = set()
    try:
        with source.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames
            if not header:
                raise SourceError(f"path: {source} is empty")
            missing = [c for c in COLUMNS if c not in header]
            if missing:
                raise SourceError(f"path: {source} lacks the column(s) {', '.join(missing)}")
            for row in reader:
                report.rows += 1
                if (row.get("province") or "").strip() != PROVINCE:
                    report.outside += 1
                    continue
                kind = (row.get("type") or "").strip()
                try:
                    day = dt.date.fromisoformat((row.get("date") or "").strip())
                    lat = float(row.get("latitude") or "")
                    lon = float(row.get("longitude") or "")
                except ValueError:
                    report.skipped["bad date or coordinates"] += 1
                    continue
                if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                    report.skipped["coordinates out of range"] += 1
                    continue
                if not kind:
                    report.skipped["no kind of place"] += 1
                    continue
                if kind in WITHHELD:
                    report.withheld[WITHHELD[kind]] += 1
                    continue
                district = (row.get("city") or "").strip()
                if district not in known:
                    report.skipped["district not in Seoul"] += 1
                    continue
                info = VenueInfo(
                    name=_label(kind),
                    category=kind[:64],
                    district=district,
                    indoor=kind not in OUTDOOR,
                    keeps_visitor_log=False,  # no electronic visitor logs before June 2020
                )
                if not publishable(info):
                    report.withheld[f"private place ({kind})"] += 1
                    continue
                place = _place_id(kind, lat, lon)
                if (place, day) in seen:
                    continue  # another patient, same place and day: one visit to disclose
                seen.add((place, day))
                info_of[place] = (f"{kind}:{lat:.6f},{lon:.6f}", info)
                start = _epoch(day)
                visits[place].append((start, _epoch(day + dt.timedelta(days=1))))
    except UnicodeDecodeError as exc:
        raise SourceError(f"path: {source} is not UTF-8 text ({exc.reason})") from None
    except csv.Error as exc:
        raise SourceError(f"path: {source}, row {report.rows + 1}: {exc}") from None
    out: list[tuple[str, PublicNotice]] = []
    for place, windows in visits.items():
        key, info = info_of[place]
        for notice in venue_notices(place, info, windows, ZONE):
            out.append((key, notice))
    report.places = len(visits)
    report.notices = len(out)
    report.multi_day = sum(1 for _, n in out if n.end - n.start > dt.timedelta(days=1))
    if out:
        report.first_day = min(n.date for _, n in out)
        report.last_day = max((n.end - dt.timedelta(seconds=1)).date() for _, n in out)
    return out, report


def _row(place: str, n: PublicNotice, now: dt.datetime) -> dict[str, Any]:
    return {
        "source": "ds4c",
        "source_key": notice_key("ds4c", place, n.start, n.end),
        "venue_name": None,  # DS4C names no venue; the page shows the kind of place
        "category": n.category,
        "district": n.district,
        "address": None,
        "visit_date": n.date,
        "starts_at": n.start,
        "ends_at": n.end,
        "expires_at": n.expires,
        "published_at": n.end,
        "time_known": False,
        "disinfection_advised": n.disinfection_advised,
        "created_at": now,
    }


def import_routes(session: Session, path: Path, *, now: dt.datetime) -> RoutesImport:
    """Store the DS4C routes of `path` as place notices, replacing earlier DS4C notices
    (idempotent; flushes; the caller's transaction makes it all or nothing)."""
    notices, report = read_routes(path)
    rows = {r["source_key"]: r for r in (_row(place, n, now) for place, n in notices)}
    stored = set(
        session.scalars(select(PublicNoticeRow.source_key).where(PublicNoticeRow.source == "ds4c"))
    )
    report.removed = delete_keys(session, stored - set(rows))
    report.added = insert_new(session, (r for k, r in rows.items() if k not in stored))
    report.unchanged = len(set(rows) & stored)
    session.flush()
    return report
