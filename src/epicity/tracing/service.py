"""Investigate a case: read its records and its potential contacts' records through the access
layer, build the timeline, find the contacts.

All reads go through a `RecordReader` (the privacy access layer's reader), which checks the
emergency and the purpose and writes the audit record; this module never opens the store itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from epicity.geo import LocalProjection
from epicity.tracing.config import TracingConfig
from epicity.tracing.contacts import AreaExposure, Contact, find_contacts
from epicity.tracing.stays import cell_runs, gps_stays, venue_visits
from epicity.tracing.timeline import (
    Confirmation,
    PersonRecords,
    Stay,
    Venues,
    apply_confirmations,
    build_timeline,
)
from epicity.tracing.warnings import TowerInfo, VenueInfo

__all__ = [
    "CaseInfo",
    "Investigation",
    "RecordReader",
    "TracingError",
    "gps_candidates",
    "infectious_window",
    "investigate",
    "search_boxes",
    "warning_context",
]

# A candidate contact's stay can lie this far from the case's place and still have a fix in the
# search box (a stay's centre is the mean of fixes chained at most `stay_radius_m` apart).
SEARCH_MARGIN_M = 500.0
BIN_DEGREES = 0.005  # grid of the candidate search (about 550 m x 440 m in Seoul)
IN_WINDOW = (
    "ts >= ?::TIMESTAMPTZ AND ts < ?::TIMESTAMPTZ"  # the two parameters: _ts(start), _ts(end)
)


class TracingError(Exception):
    """An investigation cannot run: unknown case, missing dates, missing tables."""


class RecordReader(Protocol):
    """What tracing needs from the access layer: audited SQL over the location store."""

    def query(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table: ...

    def schema(self) -> dict[str, list[str]]: ...


@dataclass(frozen=True)
class CaseInfo:
    """The dates of a confirmed case that set its infectious window."""

    person_id: int
    symptom_onset: date | None
    test_date: date | None
    confirmed_date: date


@dataclass
class Investigation:
    """A traced case: window, timeline, contacts and area exposures."""

    case: CaseInfo
    window_start: int
    window_end: int
    onset: int  # epoch seconds used as the infectiousness reference
    timeline: list[Stay]
    contacts: list[Contact]
    area: list[AreaExposure]
    venue_names: dict[int, str] = field(default_factory=dict)


def _local_midnight(day: date, tz: ZoneInfo) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=tz).timestamp())


def infectious_window(case: CaseInfo, tz: ZoneInfo, config: TracingConfig) -> tuple[int, int, int]:
    """(start, end, onset reference) in epoch seconds: from `days_before_onset` days before symptom
    onset (the test date when there are none, or when it came first) until the end of the
    confirmation day (isolation)."""
    # A case tested before its symptoms began (found by tracing) was infectious from before the
    # test: the earlier of onset and test date sets the start.
    known = [d for d in (case.symptom_onset, case.test_date) if d is not None]
    reference = min(known) if known else case.confirmed_date
    start = _local_midnight(reference - timedelta(days=config.days_before_onset), tz)
    end = _local_midnight(case.confirmed_date + timedelta(days=1), tz)
    if end <= start:
        raise TracingError(
            f"case {case.person_id}: confirmed_date {case.confirmed_date} is before its window"
        )
    return start, end, _local_midnight(reference, tz)


def _col(table: pa.Table, name: str, dtype: Any) -> NDArray[Any]:
    return np.asarray(table.column(name).to_numpy(zero_copy_only=False), dtype=dtype)


def _load_case(reader: RecordReader, case_id: int) -> CaseInfo:
    rows = reader.query(
        "SELECT person_id, symptom_onset, test_date, confirmed_date FROM cases WHERE person_id = ?",
        [case_id],
    ).to_pylist()
    if not rows:
        raise TracingError(f"case: no confirmed case with person_id {case_id} in the store")
    row = rows[0]
    if row["confirmed_date"] is None:
        raise TracingError(f"case {case_id}: no confirmation date, so no infectious window")
    return CaseInfo(case_id, row["symptom_onset"], row["test_date"], row["confirmed_date"])


@dataclass
class _Reference:
    venues: Venues
    tower_ids: NDArray[np.int64]
    tower_x: NDArray[np.float64]
    tower_y: NDArray[np.float64]
    tower_range: NDArray[np.float64]
    projection: LocalProjection
    names: dict[int, str]


def _load_reference(reader: RecordReader) -> _Reference:
    towers = reader.query("SELECT tower_id, lat, lon, range_m FROM towers ORDER BY tower_id")
    merchants = reader.query("SELECT merchant_id, name, category, lat, lon, indoor FROM merchants")
    if towers.num_rows == 0 and merchants.num_rows == 0:
        raise TracingError("store: no towers and no merchants loaded")
    lat = np.concatenate([_col(towers, "lat", float), _col(merchants, "lat", float)])
    lon = np.concatenate([_col(towers, "lon", float), _col(merchants, "lon", float)])
    proj = LocalProjection(float(np.median(lat)), float(np.median(lon)))
    tx, ty = proj.to_xy(_col(towers, "lat", float), _col(towers, "lon", float))
    mx, my = proj.to_xy(_col(merchants, "lat", float), _col(merchants, "lon", float))
    venues = Venues(
        merchant_id=_col(merchants, "merchant_id", np.int64),
        x=mx,
        y=my,
        lat=_col(merchants, "lat", float),
        lon=_col(merchants, "lon", float),
        category=_col(merchants, "category", str),
        indoor=_col(merchants, "indoor", bool),
    )
    names = dict(
        zip(venues.merchant_id.tolist(), merchants.column("name").to_pylist(), strict=True)
    )
    return _Reference(
        venues,
        _col(towers, "tower_id", np.int64),
        tx,
        ty,
        _col(towers, "range_m", float),
        proj,
        names,
    )


def _records(
    reader: RecordReader, ref: _Reference, where: str, params: Sequence[Any], tables: set[str]
) -> PersonRecords:
    """GPS, card+entries and cell rows matching `where` (on person_id and ts), sorted."""

    def q(table: str, cols: str) -> pa.Table | None:
        if table not in tables:
            return None
        return reader.query(
            f"SELECT person_id, epoch(ts)::BIGINT AS t, {cols} FROM {table} "
            f"WHERE {where} ORDER BY person_id, ts, {cols}",
            list(params),
        )

    empty_i, empty_f = np.empty(0, np.int64), np.empty(0, np.float64)
    g = q("gps", "lat, lon, accuracy_m")
    gx, gy = (
        ref.projection.to_xy(_col(g, "lat", float), _col(g, "lon", float))
        if g is not None
        else (empty_f, empty_f)
    )
    parts = [
        (t, src)
        for t, src in ((q("card", "merchant_id"), "card"), (q("entries", "merchant_id"), "entries"))
        if t is not None
    ]
    v_person = np.concatenate([_col(t, "person_id", np.int64) for t, _ in parts] or [empty_i])
    v_t = np.concatenate([_col(t, "t", np.int64) for t, _ in parts] or [empty_i])
    v_venue = np.concatenate([_col(t, "merchant_id", np.int64) for t, _ in parts] or [empty_i])
    v_src = np.concatenate([np.full(t.num_rows, src) for t, src in parts] or [np.empty(0, str)])
    order = np.lexsort((v_t, v_person))
    c = q("cell", "tower_id")
    return PersonRecords(
        gps_person=_col(g, "person_id", np.int64) if g is not None else empty_i,
        gps_t=_col(g, "t", np.int64) if g is not None else empty_i,
        gps_x=gx,
        gps_y=gy,
        gps_accuracy=_col(g, "accuracy_m", float) if g is not None else empty_f,
        visit_person=v_person[order],
        visit_t=v_t[order],
        visit_venue=v_venue[order],
        visit_source=v_src[order].astype(str),
        cell_person=_col(c, "person_id", np.int64) if c is not None else empty_i,
        cell_t=_col(c, "t", np.int64) if c is not None else empty_i,
        cell_tower=_col(c, "tower_id", np.int64) if c is not None else empty_i,
    )


def _ts(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, ZoneInfo("UTC")).isoformat()


def investigate(
    reader: RecordReader,
    case_id: int,
    *,
    config: TracingConfig | None = None,
    timezone: str = "Asia/Seoul",
    confirmations: Sequence[Confirmation] = (),
) -> Investigation:
    """Trace one confirmed case: timeline over its infectious window, contacts, area exposures."""
    config = config or TracingConfig()
    tz = ZoneInfo(timezone)
    schema = reader.schema()
    tables = set(schema)
    if "cases" not in tables:
        raise TracingError("store: no cases loaded")
    case = _load_case(reader, case_id)
    w0, w1, onset = infectious_window(case, tz, config)
    ref = _load_reference(reader)
    pad = config.stay_max_gap_s
    own = _records(
        reader,
        ref,
        f"person_id = ? AND {IN_WINDOW}",
        [case_id, _ts(w0 - pad), _ts(w1 + pad)],
        tables,
    )
    towers = (ref.tower_ids, ref.tower_x, ref.tower_y, ref.tower_range)
    timeline = build_timeline(own, ref.venues, towers, ref.projection, config)
    timeline = apply_confirmations(timeline, confirmations, ref.venues, ref.projection)
    timeline = [
        replace(s, start=max(s.start, w0), end=min(s.end, w1))
        for s in timeline
        if s.end > w0 and s.start < w1
    ]

    visits, gps, cells = _candidates(reader, ref, case_id, timeline, w0, w1, tables, config)
    household, home_xy = _household(reader, ref, case_id, schema)
    case_cells = cell_runs(own.cell_person, own.cell_t, own.cell_tower)
    keep = (case_cells.end > w0) & (case_cells.start < w1)
    case_cells = type(case_cells)(
        *(getattr(case_cells, f)[keep] for f in ("person", "tower", "start", "end", "records"))
    )
    contacts, area = find_contacts(
        case_id,
        timeline,
        onset,
        visits,
        gps,
        ref.venues,
        config,
        household=household,
        home_xy=home_xy,
        case_cells=case_cells,
        cells=cells,
    )
    return Investigation(case, w0, w1, onset, timeline, contacts, area, ref.names)


def _candidates(
    reader: RecordReader,
    ref: _Reference,
    case_id: int,
    timeline: list[Stay],
    w0: int,
    w1: int,
    tables: set[str],
    config: TracingConfig,
) -> tuple[Any, Any, Any]:
    """Other people's visits at the case's venues, GPS stays near its places, cell runs at its
    towers, each read with bounds that cannot miss a pair (see SEARCH_MARGIN_M)."""
    dwell = config.max_dwell_s
    venues_visited = sorted({s.place_id for s in timeline if s.place_id is not None})
    empty = PersonRecords(
        *(np.empty(0, np.int64),) * 2,
        *(np.empty(0, np.float64),) * 3,
        *(np.empty(0, np.int64),) * 3,
        np.empty(0, str),
        *(np.empty(0, np.int64),) * 3,
    )
    visit_records = empty
    if venues_visited:
        ids = ",".join(str(int(v)) for v in venues_visited)
        visit_records = _records(
            reader,
            ref,
            f"merchant_id IN ({ids}) AND person_id <> ? AND {IN_WINDOW}",
            [case_id, _ts(w0 - dwell), _ts(w1 + dwell)],
            tables & {"card", "entries"},
        )
    vrow = ref.venues.index_of(visit_records.visit_venue)
    visits = venue_visits(
        visit_records.visit_person,
        visit_records.visit_t,
        visit_records.visit_venue,
        visit_records.visit_source,
        ref.venues.category[vrow],
        config,
    )

    places = [s for s in timeline if s.kind != "area"]
    gps = gps_stays(*(np.empty(0, np.int64),) * 2, *(np.empty(0, np.float64),) * 3, config)
    if places and "gps" in tables:
        gap = config.stay_max_gap_s + config.stay_pad_s
        people = gps_candidates(reader, search_boxes(places, config), case_id, w0 - gap, w1 + gap)
        if people:
            ids = ",".join(str(int(p)) for p in people)
            near = _records(
                reader,
                ref,
                f"person_id IN ({ids}) AND {IN_WINDOW}",
                [_ts(w0 - gap), _ts(w1 + gap)],
                {"gps"},
            )
            # A contact's single fix counts too: apps report rarely while the phone is still,
            # so a 40-minute meal may leave one fix. Its padding (at most half the way to the
            # neighbouring fixes) keeps a passer-by's presence short.
            gps = gps_stays(
                near.gps_person,
                near.gps_t,
                near.gps_x,
                near.gps_y,
                near.gps_accuracy,
                replace(config, stay_min_duration_s=0),
            )

    cells = None
    case_towers = sorted({s.tower_id for s in timeline if s.tower_id is not None})
    if "cell" in tables:
        own_towers = (
            reader.query(
                f"SELECT DISTINCT tower_id FROM cell WHERE person_id = ? AND {IN_WINDOW}",
                [case_id, _ts(w0), _ts(w1)],
            )
            .column(0)
            .to_pylist()
        )
        case_towers = sorted(set(case_towers) | {int(t) for t in own_towers})
    if case_towers:
        ids = ",".join(str(int(t)) for t in case_towers)
        rows = reader.query(
            f"""SELECT person_id, epoch(ts)::BIGINT AS t, tower_id FROM cell
                WHERE tower_id IN ({ids}) AND person_id <> ? AND {IN_WINDOW}
                ORDER BY person_id, ts, tower_id""",
            [case_id, _ts(w0), _ts(w1)],
        )
        cells = cell_runs(
            _col(rows, "person_id", np.int64),
            _col(rows, "t", np.int64),
            _col(rows, "tower_id", np.int64),
        )
    return visits, gps, cells


def _household(
    reader: RecordReader, ref: _Reference, case_id: int, schema: dict[str, list[str]]
) -> tuple[list[int], tuple[float, float] | None]:
    """Household members from the resident registry, and the case's home position."""
    if not {"household_id", "home_lat", "home_lon"} <= set(schema.get("people", [])):
        return [], None
    rows = reader.query(
        """SELECT p.person_id, c.home_lat, c.home_lon FROM people c JOIN people p
             ON p.household_id = c.household_id
           WHERE c.person_id = ? AND c.household_id IS NOT NULL""",
        [case_id],
    ).to_pylist()
    if not rows:
        return [], None
    home = None
    if rows[0]["home_lat"] is not None and rows[0]["home_lon"] is not None:
        hx, hy = ref.projection.to_xy(rows[0]["home_lat"], rows[0]["home_lon"])
        home = (float(hx), float(hy))
    return [int(r["person_id"]) for r in rows if r["person_id"] != case_id], home


def warning_context(
    reader: RecordReader, inv: Investigation
) -> tuple[dict[int, VenueInfo], dict[int, TowerInfo]]:
    """What the warnings need to name places: the case's venues (name, district, whether they
    keep a visitor log) and its towers' districts and nearest station. No personal data."""
    schema = reader.schema()
    place_ids = sorted({s.place_id for s in inv.timeline if s.place_id is not None})
    venues: dict[int, VenueInfo] = {}
    if place_ids and "merchants" in schema:
        ids = ",".join(str(p) for p in place_ids)
        district = "district" if "district" in schema["merchants"] else "NULL"
        logged = (
            "EXISTS (SELECT 1 FROM entries e WHERE e.merchant_id = m.merchant_id)"
            if "entries" in schema
            else "false"
        )
        rows = reader.query(
            f"""SELECT m.merchant_id, m.name, m.category, {district} AS district, m.indoor,
                       {logged} AS keeps_log
                FROM merchants m WHERE m.merchant_id IN ({ids})"""
        ).to_pylist()
        for r in rows:
            venues[int(r["merchant_id"])] = VenueInfo(
                name=r["name"],
                category=r["category"],
                district=r["district"] or "",
                indoor=bool(r["indoor"]),
                keeps_visitor_log=bool(r["keeps_log"]),
            )
    towers: dict[int, TowerInfo] = {}
    tower_ids = sorted({a.tower_id for a in inv.area})
    if tower_ids and "merchants" in schema and "towers" in schema:
        ids = ",".join(str(t) for t in tower_ids)
        district = "m.district" if "district" in schema["merchants"] else "NULL"
        # The nearest subway station names the area, as Korea's emergency alerts do.
        d2 = "(m.lat - t.lat) ^ 2 + (m.lon - t.lon) ^ 2"
        rows = reader.query(
            f"""SELECT t.tower_id, arg_min(m.name, {d2}) AS landmark,
                       arg_min({district}, {d2}) AS district
                FROM towers t, merchants m
                WHERE t.tower_id IN ({ids}) AND m.category = 'subway_station'
                GROUP BY t.tower_id"""
        ).to_pylist()
        for r in rows:
            towers[int(r["tower_id"])] = TowerInfo(
                district=r["district"] or "", landmark=r["landmark"] or ""
            )
    return venues, towers


SearchBox = tuple[float, float, float, float, int, int]  # lat0, lat1, lon0, lon1, t0, t1


def search_boxes(places: Sequence[Stay], config: TracingConfig) -> list[SearchBox]:
    """Around each of the case's places and times, the box in which a fix of anyone whose stay
    could share that place and time must lie (see SEARCH_MARGIN_M; time widened by the longest
    gap a stay may span, plus its padding)."""
    margin_m = max(config.same_place_m, config.snap_radius_m) + SEARCH_MARGIN_M
    dlat = margin_m / 111_000.0
    gap = config.stay_max_gap_s + config.stay_pad_s
    boxes = []
    for s in places:
        dlon = dlat / float(np.cos(np.radians(s.lat)))
        boxes.append(
            (s.lat - dlat, s.lat + dlat, s.lon - dlon, s.lon + dlon, s.start - gap, s.end + gap)
        )
    return boxes


def gps_candidates(
    reader: RecordReader, boxes: Sequence[SearchBox], case_id: int, start: int, end: int
) -> list[int]:
    """Everyone but the case with a GPS fix inside any box (and within [start, end)).

    An equi-join on (grid cell, hour) finds them; every cell and hour a box touches is listed,
    so the exact box test afterwards loses nothing at a cell or hour boundary.
    """
    if not boxes:
        return []
    values = ",".join(
        f"({a}, {b}, {c}, {d}, {int(t0)}::BIGINT, {int(t1)}::BIGINT)"
        for a, b, c, d, t0, t1 in boxes
    )
    cell, hour = BIN_DEGREES, 3600
    rows = reader.query(
        f"""WITH boxes(lat0, lat1, lon0, lon1, t0, t1) AS (VALUES {values}),
        keys AS (
          SELECT *, unnest(range(t0 // {hour}, t1 // {hour} + 1)) AS h FROM (
            SELECT *, unnest(range(floor(lon0 / {cell})::BIGINT,
                                   floor(lon1 / {cell})::BIGINT + 1)) AS ix FROM (
              SELECT *, unnest(range(floor(lat0 / {cell})::BIGINT,
                                     floor(lat1 / {cell})::BIGINT + 1)) AS iy
              FROM boxes)))
        SELECT DISTINCT g.person_id FROM gps g JOIN keys k
          ON floor(g.lat / {cell})::BIGINT = k.iy AND floor(g.lon / {cell})::BIGINT = k.ix
         AND epoch(g.ts)::BIGINT // {hour} = k.h
        WHERE g.lat BETWEEN k.lat0 AND k.lat1 AND g.lon BETWEEN k.lon0 AND k.lon1
          AND epoch(g.ts) BETWEEN k.t0 AND k.t1
          AND g.person_id <> ? AND {IN_WINDOW}
        ORDER BY g.person_id""",
        [case_id, _ts(start), _ts(end)],
    )
    return [int(p) for p in rows.column(0).to_pylist()]
