"""A case's movement timeline: records fused into stays, then investigators' confirmations.

Evidence, strongest first:
1. an investigator's confirmation (CCTV review or interview): adds, corrects or removes a stay
   and outranks every automatic source;
2. a card payment or visitor-log entry: pins a venue and a moment; a GPS stay around that moment
   gives the visit's real bounds, otherwise the venue's dwell model does;
3. a GPS stay: a place with an uncertainty radius, snapped to a venue when one is close enough
   and the stay is short enough to be a visit;
4. a run of cell records at one tower: only an area (the tower's range), for area alerts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from epicity.geo import LocalProjection
from epicity.tracing.config import TracingConfig
from epicity.tracing.stays import cell_runs, dwell_bounds, gps_stays, venue_visits

__all__ = [
    "CONFIDENCE",
    "Confirmation",
    "PersonRecords",
    "Stay",
    "Venues",
    "apply_confirmations",
    "build_timeline",
]

StayKind = Literal["venue", "location", "area"]

# How much each kind of evidence is trusted (shown to investigators; used in risk scores).
CONFIDENCE = {
    "confirmation": 1.0,
    "card+gps": 0.95,
    "entries+gps": 0.95,
    "entries": 0.85,
    "card": 0.8,
    "gps-venue": 0.7,
    "gps": 0.65,
    "cell": 0.3,
}
MAX_VISIT_S = 4 * 3600  # a GPS stay longer than this is a home or workplace, not a venue visit
PAYMENT_MATCH_S = 30 * 60  # a payment this close to a GPS stay belongs to it


@dataclass(frozen=True)
class Stay:
    """One stay of a person: where, when, from what evidence, how sure."""

    stay_id: str
    kind: StayKind
    start: int  # UTC epoch seconds
    end: int
    x: float  # local metric projection
    y: float
    lat: float
    lon: float
    radius_m: float
    place_id: int | None = None  # the venue (merchant) when identified
    tower_id: int | None = None  # for area stays
    category: str | None = None
    indoor: bool | None = None
    sources: tuple[str, ...] = ()
    confidence: float = 0.0
    note: str = ""

    @property
    def minutes(self) -> float:
        """Length of the stay in minutes."""
        return (self.end - self.start) / 60


@dataclass(frozen=True)
class Confirmation:
    """An investigator's finding that outranks the automatic sources."""

    action: Literal["add", "correct", "remove"]
    method: Literal["cctv", "interview"]
    by: str
    reason: str
    stay_id: str | None = None  # the stay corrected or removed
    start: int | None = None
    end: int | None = None
    place_id: int | None = None  # a venue, or a location given by lat/lon
    lat: float | None = None
    lon: float | None = None

    def validate(self) -> None:
        """Raise ValueError naming the field when the confirmation cannot apply."""
        if not self.by.strip():
            raise ValueError("by: who made the confirmation is required")
        if not self.reason.strip():
            raise ValueError(
                "reason: say why (e.g. 'CCTV shows the case at the counter 12:05-12:40')"
            )
        if self.action in ("correct", "remove") and not self.stay_id:
            raise ValueError(f"stay_id: required to {self.action} a stay")
        if self.action == "add":
            if self.start is None or self.end is None:
                raise ValueError("start/end: required to add a stay")
            if self.place_id is None and (self.lat is None or self.lon is None):
                raise ValueError("place_id or lat/lon: required to add a stay")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError("end: must be after start")


@dataclass
class Venues:
    """Venue (merchant) attributes indexed by merchant id."""

    merchant_id: NDArray[np.int64]
    x: NDArray[np.float64]
    y: NDArray[np.float64]
    lat: NDArray[np.float64]
    lon: NDArray[np.float64]
    category: NDArray[np.str_]
    indoor: NDArray[np.bool_]
    _dwell: dict[tuple[tuple[str, tuple[int, int]], ...], tuple[NDArray[np.int64], ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def index_of(self, ids: NDArray[np.int64]) -> NDArray[np.int64]:
        """Row of each merchant id (ids must exist)."""
        order = self._order
        pos = np.searchsorted(self.merchant_id[order], ids)
        return np.asarray(order[np.clip(pos, 0, len(order) - 1)], dtype=np.int64)

    @cached_property
    def _order(self) -> NDArray[np.int64]:
        return np.asarray(np.argsort(self.merchant_id), dtype=np.int64)

    def dwell(self, config: TracingConfig) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Seconds before and after a record that a visit to each venue is assumed to last
        (by row; computed once per dwell table)."""
        key = tuple(sorted(config.dwell.items()))
        if key not in self._dwell:
            self._dwell[key] = dwell_bounds(self.category, config)
        before, after = self._dwell[key]
        return before, after

    @cached_property
    def tree(self) -> cKDTree:
        """A k-d tree of the venues' positions (built once, shared by every case)."""
        return cKDTree(np.column_stack([self.x, self.y]))


@dataclass
class PersonRecords:
    """Records of one or more people, each kind sorted by person then time."""

    gps_person: NDArray[np.int64]
    gps_t: NDArray[np.int64]
    gps_x: NDArray[np.float64]
    gps_y: NDArray[np.float64]
    gps_accuracy: NDArray[np.float64]
    visit_person: NDArray[np.int64]  # card payments and visitor-log entries together
    visit_t: NDArray[np.int64]
    visit_venue: NDArray[np.int64]
    visit_source: NDArray[np.str_]
    cell_person: NDArray[np.int64]
    cell_t: NDArray[np.int64]
    cell_tower: NDArray[np.int64]


def _stay_id(kind: str, start: int, key: int | float) -> str:
    return f"{kind[0]}{start}-{key}"


def build_timeline(
    records: PersonRecords,
    venues: Venues,
    towers: tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]],
    projection: LocalProjection,
    config: TracingConfig,
) -> list[Stay]:
    """Fuse one person's records into a timeline of stays, sorted by start."""
    tower_ids, tower_x, tower_y, tower_range = towers
    vrow = venues.index_of(records.visit_venue)
    before, after = venues.dwell(config)
    visits = venue_visits(
        records.visit_person,
        records.visit_t,
        records.visit_venue,
        records.visit_source,
        before[vrow],
        after[vrow],
    )
    gps = gps_stays(
        records.gps_person,
        records.gps_t,
        records.gps_x,
        records.gps_y,
        records.gps_accuracy,
        config,
    )
    stays: list[Stay] = []
    matched_visit = np.zeros(len(visits), dtype=bool)
    vis_row = venues.index_of(visits.venue)
    vis_x, vis_y = venues.x[vis_row], venues.y[vis_row]
    # The nearest venue of every GPS stay at once (the k-d tree contacts snap with too).
    if len(gps) and len(venues.merchant_id):
        nearest_d, nearest_row = venues.tree.query(np.column_stack([gps.x, gps.y]))
    else:
        nearest_d, nearest_row = np.full(len(gps), np.inf), np.full(len(gps), -1)
    for i in range(len(gps)):
        gx, gy, gs, ge = gps.x[i], gps.y[i], int(gps.start[i]), int(gps.end[i])
        near = np.hypot(vis_x - gx, vis_y - gy)
        during = (visits.last >= gs - PAYMENT_MATCH_S) & (visits.first <= ge + PAYMENT_MATCH_S)
        cand = np.flatnonzero(during & (near <= config.snap_with_payment_m))
        if len(cand):
            j = cand[np.argmin(near[cand])]
            matched_visit[cand] = True
            row = vis_row[j]
            start = min(gs, int(visits.first[j]))
            end = max(ge, int(visits.last[j]))
            stays.append(
                _venue_stay(venues, row, start, end, (str(visits.sources[j]), "gps"), projection)
            )
            continue
        if nearest_d[i] <= config.snap_radius_m and ge - gs <= MAX_VISIT_S:
            stays.append(_venue_stay(venues, int(nearest_row[i]), gs, ge, ("gps",), projection))
            continue
        lat, lon = projection.to_latlon(gx, gy)
        stays.append(
            Stay(
                stay_id=_stay_id("location", gs, round(float(gx))),
                kind="location",
                start=gs,
                end=ge,
                x=float(gx),
                y=float(gy),
                lat=float(lat),
                lon=float(lon),
                radius_m=float(gps.radius_m[i]),
                sources=("gps",),
                confidence=CONFIDENCE["gps"],
            )
        )
    for j in np.flatnonzero(~matched_visit):
        stays.append(
            _venue_stay(
                venues,
                vis_row[j],
                int(visits.start[j]),
                int(visits.end[j]),
                tuple(str(visits.sources[j]).split("+")),
                projection,
            )
        )
    # Cell runs fill the gaps: kept when other stays cover less than half of them.
    runs = cell_runs(records.cell_person, records.cell_t, records.cell_tower)
    trow = np.searchsorted(tower_ids, runs.tower)
    covered = _covered_seconds(runs.start, runs.end, [(s.start, s.end) for s in stays])
    for k in np.flatnonzero(covered < (runs.end - runs.start) / 2):
        r = int(trow[k])
        lat, lon = projection.to_latlon(tower_x[r], tower_y[r])
        stays.append(
            Stay(
                stay_id=_stay_id("area", int(runs.start[k]), int(runs.tower[k])),
                kind="area",
                start=int(runs.start[k]),
                end=int(runs.end[k]),
                x=float(tower_x[r]),
                y=float(tower_y[r]),
                lat=float(lat),
                lon=float(lon),
                radius_m=float(tower_range[r]),
                tower_id=int(runs.tower[k]),
                sources=("cell",),
                confidence=CONFIDENCE["cell"],
            )
        )
    return sorted(stays, key=lambda s: (s.start, s.end, s.stay_id))


def _venue_stay(
    venues: Venues,
    row: int,
    start: int,
    end: int,
    sources: Iterable[str],
    projection: LocalProjection,
) -> Stay:
    flat = sorted({part for s in sources for part in s.split("+")})
    # A record pinned the venue (card, entries), GPS bounded the visit, or GPS alone snapped it.
    pinned = [f"{s}+gps" if "gps" in flat else s for s in flat if s != "gps"]
    confidence = max((CONFIDENCE[k] for k in pinned), default=CONFIDENCE["gps-venue"])
    return Stay(
        stay_id=_stay_id("venue", start, int(venues.merchant_id[row])),
        kind="venue",
        start=start,
        end=end,
        x=float(venues.x[row]),
        y=float(venues.y[row]),
        lat=float(venues.lat[row]),
        lon=float(venues.lon[row]),
        radius_m=10.0,
        place_id=int(venues.merchant_id[row]),
        category=str(venues.category[row]),
        indoor=bool(venues.indoor[row]),
        sources=tuple(flat),
        confidence=confidence,
    )


def _covered_seconds(
    start: NDArray[np.int64], end: NDArray[np.int64], others: Sequence[tuple[int, int]]
) -> NDArray[np.int64]:
    """Seconds of each [start, end) covered by the union of `others`."""
    out = np.zeros(len(start), dtype=np.int64)
    if not others or not len(start):
        return out
    merged: list[list[int]] = []
    for s, e in sorted(others):
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    for s, e in merged:
        out += np.clip(np.minimum(end, e) - np.maximum(start, s), 0, None)
    return out


def apply_confirmations(
    stays: Sequence[Stay],
    confirmations: Sequence[Confirmation],
    venues: Venues,
    projection: LocalProjection,
) -> list[Stay]:
    """Apply investigators' confirmations in order; they outrank the automatic sources.

    `remove` drops a stay; `correct` replaces a stay's place and/or times; `add` inserts a stay
    and cuts the time it covers out of overlapping automatic stays (a person is in one place at
    a time). Confirmed stays carry the method ("cctv" or "interview") as their source.
    """
    out = list(stays)
    for c in confirmations:
        c.validate()
        if c.action in ("correct", "remove"):
            found = [s for s in out if s.stay_id == c.stay_id]
            if not found:
                raise ValueError(f"stay_id: no stay {c.stay_id!r} in this timeline")
            out.remove(found[0])
            if c.action == "remove":
                continue
            old = found[0]
            start = c.start if c.start is not None else old.start
            end = c.end if c.end is not None else old.end
            new = _confirmed_stay(c, start, end, venues, projection, base=old)
        else:
            assert c.start is not None  # validated above
            assert c.end is not None
            new = _confirmed_stay(c, c.start, c.end, venues, projection, base=None)
        out = [piece for s in out for piece in _cut(s, new.start, new.end)]
        out.append(new)
    return sorted(out, key=lambda s: (s.start, s.end, s.stay_id))


def _confirmed_stay(
    c: Confirmation,
    start: int,
    end: int,
    venues: Venues,
    projection: LocalProjection,
    base: Stay | None,
) -> Stay:
    note = f"{c.method} by {c.by}: {c.reason}"
    if c.place_id is not None:
        rows = np.flatnonzero(venues.merchant_id == c.place_id)
        if not len(rows):
            raise ValueError(f"place_id: unknown venue {c.place_id}")
        stay = _venue_stay(venues, int(rows[0]), start, end, (), projection)
    elif c.lat is not None and c.lon is not None:
        x, y = projection.to_xy(c.lat, c.lon)
        stay = Stay(
            stay_id="",
            kind="location",
            start=start,
            end=end,
            x=float(x),
            y=float(y),
            lat=c.lat,
            lon=c.lon,
            radius_m=10.0,
        )
    else:
        assert base is not None
        stay = base
    return replace(
        stay,
        stay_id=f"c{start}-{c.method}",
        start=start,
        end=end,
        sources=(c.method,),
        confidence=CONFIDENCE["confirmation"],
        note=note,
    )


def _cut(stay: Stay, start: int, end: int) -> list[Stay]:
    """The parts of an automatic stay outside [start, end)."""
    if (
        stay.end <= start
        or stay.start >= end
        or "cctv" in stay.sources
        or "interview" in stay.sources
    ):
        return [stay]
    parts = []
    if stay.start < start:
        parts.append(replace(stay, end=start))
    if stay.end > end:
        parts.append(replace(stay, start=end, stay_id=f"{stay.stay_id}+"))
    return parts
