"""Investigate a case: read its records and its potential contacts' records through the access
layer, build the timeline, find the contacts.

All reads go through a `RecordReader` (the privacy access layer's reader), which checks the
emergency and the purpose and writes the audit record; this module never opens the store itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
from epicity.tracing.index import (
    PLACE_BITS,
    grid_cells_near_many,
    hour_keys_many,
    read_settings,
    reference_projection,
)
from epicity.tracing.stays import CellRuns, GpsStays, VenueVisits, cell_runs, venue_visits
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
    "infectious_window",
    "investigate",
    "investigate_many",
    "warning_context",
]

IN_WINDOW = (
    "ts >= ?::TIMESTAMPTZ AND ts < ?::TIMESTAMPTZ"  # the two parameters: _ts(start), _ts(end)
)


class TracingError(Exception):
    """An investigation cannot run: unknown case, missing dates, missing tables."""


class RecordReader(Protocol):
    """What tracing needs from the access layer: audited SQL over the location store."""

    def query(
        self,
        sql: str,
        params: Sequence[Any] | None = None,
        inputs: Mapping[str, pa.Table] | None = None,
    ) -> pa.Table: ...

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
    proj = reference_projection(
        _col(towers, "lat", float),
        _col(towers, "lon", float),
        _col(merchants, "lat", float),
        _col(merchants, "lon", float),
    )
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
    reader: RecordReader,
    ref: _Reference,
    where: str,
    params: Sequence[Any],
    tables: set[str],
    inputs: Mapping[str, pa.Table] | None = None,
) -> PersonRecords:
    """GPS, card+entries and cell rows matching `where` (on person_id and ts), sorted."""

    def q(table: str, cols: str) -> pa.Table | None:
        if table not in tables:
            return None
        return reader.query(
            f"SELECT person_id, epoch(ts)::BIGINT AS t, {cols} FROM {table} "
            f"WHERE {where} ORDER BY person_id, ts, {cols}",
            list(params),
            inputs,
        )

    g = q("gps", "lat, lon, accuracy_m")
    gx, gy = (
        ref.projection.to_xy(_col(g, "lat", float), _col(g, "lon", float))
        if g is not None
        else (_EMPTY_F, _EMPTY_F)
    )
    parts = [
        (t, src)
        for t, src in ((q("card", "merchant_id"), "card"), (q("entries", "merchant_id"), "entries"))
        if t is not None
    ]
    v_person = np.concatenate([_col(t, "person_id", np.int64) for t, _ in parts] or [_EMPTY_I])
    v_t = np.concatenate([_col(t, "t", np.int64) for t, _ in parts] or [_EMPTY_I])
    v_venue = np.concatenate([_col(t, "merchant_id", np.int64) for t, _ in parts] or [_EMPTY_I])
    v_src = np.concatenate([np.full(t.num_rows, src) for t, src in parts] or [np.empty(0, str)])
    order = np.lexsort((v_t, v_person))
    c = q("cell", "tower_id")
    return PersonRecords(
        gps_person=_col(g, "person_id", np.int64) if g is not None else _EMPTY_I,
        gps_t=_col(g, "t", np.int64) if g is not None else _EMPTY_I,
        gps_x=gx,
        gps_y=gy,
        gps_accuracy=_col(g, "accuracy_m", float) if g is not None else _EMPTY_F,
        visit_person=v_person[order],
        visit_t=v_t[order],
        visit_venue=v_venue[order],
        visit_source=v_src[order].astype(str),
        cell_person=_col(c, "person_id", np.int64) if c is not None else _EMPTY_I,
        cell_t=_col(c, "t", np.int64) if c is not None else _EMPTY_I,
        cell_tower=_col(c, "tower_id", np.int64) if c is not None else _EMPTY_I,
    )


def _person_slice(records: PersonRecords, person: int, start: int, end: int) -> PersonRecords:
    """One person's rows with times in [start, end) (rows sorted by person then time)."""

    def cut(p: NDArray[np.int64], t: NDArray[np.int64]) -> slice:
        lo, hi = np.searchsorted(p, [person, person + 1])
        a = lo + np.searchsorted(t[lo:hi], start)
        b = lo + np.searchsorted(t[lo:hi], end)
        return slice(int(a), int(b))

    g = cut(records.gps_person, records.gps_t)
    v = cut(records.visit_person, records.visit_t)
    c = cut(records.cell_person, records.cell_t)
    return PersonRecords(
        records.gps_person[g],
        records.gps_t[g],
        records.gps_x[g],
        records.gps_y[g],
        records.gps_accuracy[g],
        records.visit_person[v],
        records.visit_t[v],
        records.visit_venue[v],
        records.visit_source[v],
        records.cell_person[c],
        records.cell_t[c],
        records.cell_tower[c],
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
    return investigate_many(
        reader,
        [case_id],
        config=config,
        timezone=timezone,
        confirmations={case_id: confirmations},
    )[0]


def investigate_many(
    reader: RecordReader,
    case_ids: Sequence[int],
    *,
    config: TracingConfig | None = None,
    timezone: str = "Asia/Seoul",
    confirmations: Mapping[int, Sequence[Confirmation]] | None = None,
) -> list[Investigation]:
    """Trace several confirmed cases at once (a day's new cases): the same result as tracing
    each alone, with one read of the store per kind of record instead of one per case."""
    config = config or TracingConfig()
    confirmations = confirmations or {}
    tz = ZoneInfo(timezone)
    schema = reader.schema()
    tables = set(schema)
    if "cases" not in tables:
        raise TracingError("store: no cases loaded")
    if not case_ids:
        return []
    _check_index(reader, tables, config)
    ids = _ids_input(case_ids)
    cases = _load_cases(reader, case_ids, ids)
    windows = [infectious_window(c, tz, config) for c in cases]
    ref = _load_reference(reader)
    pad = config.stay_max_gap_s
    own_all = _records(
        reader,
        ref,
        f"person_id IN (SELECT id FROM case_ids) AND {IN_WINDOW}",
        [_ts(min(w[0] for w in windows) - pad), _ts(max(w[1] for w in windows) + pad)],
        tables,
        {"case_ids": ids},
    )
    towers = (ref.tower_ids, ref.tower_x, ref.tower_y, ref.tower_range)
    timelines: list[list[Stay]] = []
    case_runs: list[CellRuns] = []
    for case, (w0, w1, _) in zip(cases, windows, strict=True):
        own = _person_slice(own_all, case.person_id, w0 - pad, w1 + pad)
        timeline = build_timeline(own, ref.venues, towers, ref.projection, config)
        timeline = apply_confirmations(
            timeline, confirmations.get(case.person_id, ()), ref.venues, ref.projection
        )
        timelines.append(
            [
                replace(s, start=max(s.start, w0), end=min(s.end, w1))
                for s in timeline
                if s.end > w0 and s.start < w1
            ]
        )
        runs = cell_runs(own.cell_person, own.cell_t, own.cell_tower)
        keep = (runs.end > w0) & (runs.start < w1)
        case_runs.append(CellRuns(*(getattr(runs, f)[keep] for f in _RUN_FIELDS)))

    visits = _visits_near(reader, ref, timelines, tables, config)
    stays = _stays_near(reader, ref, timelines, tables, config)
    households = _households(reader, ref, ids, schema)
    out: list[Investigation] = []
    for n, (case, (w0, w1, onset)) in enumerate(zip(cases, windows, strict=True)):
        household, home_xy = households.get(case.person_id, ([], None))
        contacts = find_contacts(
            case.person_id,
            timelines[n],
            onset,
            visits[n],
            stays[n],
            ref.venues,
            config,
            household=household,
            home_xy=home_xy,
        )
        out.append(Investigation(case, w0, w1, onset, timelines[n], contacts, [], ref.names))
    _area_counts(reader, out, case_runs, tables, check_tower=_ids_exceed_key(ref.tower_ids))
    return out


_RUN_FIELDS = ("person", "tower", "start", "end", "records")
_EMPTY_I = np.empty(0, np.int64)
_EMPTY_F = np.empty(0, np.float64)


def _ids_input(ids: Sequence[int]) -> pa.Table:
    return pa.table({"id": pa.array([int(i) for i in ids], pa.int64())})


def _check_index(reader: RecordReader, tables: set[str], config: TracingConfig) -> None:
    """The place-time index must exist (when there are records) and match the thresholds."""
    if not tables & {"gps", "cell", "card", "entries"}:
        return
    if "index_settings" not in tables:
        raise TracingError(
            "store: no place-time index; a load builds it (`epicity ingest`), or rebuild it "
            "with `epicity trace index --store PATH`"
        )
    rows = reader.query("SELECT * FROM index_settings").to_pylist()
    problem = read_settings(rows[0]).mismatch(config) if rows else "empty index_settings"
    if problem:
        raise TracingError(f"store: {problem}")


def _load_cases(reader: RecordReader, case_ids: Sequence[int], ids: pa.Table) -> list[CaseInfo]:
    rows = reader.query(
        "SELECT person_id, symptom_onset, test_date, confirmed_date FROM cases "
        "WHERE person_id IN (SELECT id FROM case_ids)",
        inputs={"case_ids": ids},
    ).to_pylist()
    by_id = {int(r["person_id"]): r for r in rows}
    out = []
    for case_id in case_ids:
        row = by_id.get(int(case_id))
        if row is None:
            raise TracingError(f"case: no confirmed case with person_id {case_id} in the store")
        if row["confirmed_date"] is None:
            raise TracingError(f"case {case_id}: no confirmation date, so no infectious window")
        out.append(
            CaseInfo(int(case_id), row["symptom_onset"], row["test_date"], row["confirmed_date"])
        )
    return out


def _split_by_case(case_no: NDArray[np.int64], n_cases: int) -> list[NDArray[np.int64]]:
    """Row indexes of each case (rows in any order)."""
    order = np.argsort(case_no, kind="stable")
    bounds = np.searchsorted(case_no[order], np.arange(n_cases + 1))
    return [order[bounds[i] : bounds[i + 1]] for i in range(n_cases)]


def _visits_near(
    reader: RecordReader,
    ref: _Reference,
    timelines: Sequence[Sequence[Stay]],
    tables: set[str],
    config: TracingConfig,
) -> list[VenueVisits]:
    """Per case, everyone's payments and entries at the case's venues in the hours when their
    visit could overlap the case's (a record at t means a visit from t - before to t + after)."""
    before, after = config.max_dwell_before_s, config.max_dwell_after_s
    venue_stays = [
        (n, s.place_id, s.start - after, s.end + before + 1)
        for n, timeline in enumerate(timelines)
        for s in timeline
        if s.kind == "venue" and s.place_id is not None
    ]
    owner, place, start, end = np.array(venue_stays, np.int64).reshape(-1, 4).T
    row, keys = hour_keys_many(place, start, end)
    found = _by_keys(
        reader,
        "visit_index",
        "person_id, t, merchant_id, source",
        keys,
        owner[row],
        tables,
        place[row] if _ids_exceed_key(ref.venues.merchant_id) else None,
        "merchant_id",
    )
    out = []
    dwell_before, dwell_after = ref.venues.dwell(config)
    vrow = ref.venues.index_of(found["merchant_id"])
    source = found["source"].astype(str)
    for rows in _split_by_case(found["case_no"], len(timelines)):
        out.append(
            venue_visits(
                found["person_id"][rows],
                found["t"][rows],
                found["merchant_id"][rows],
                source[rows],
                dwell_before[vrow[rows]],
                dwell_after[vrow[rows]],
            )
        )
    return out


def _stays_near(
    reader: RecordReader,
    ref: _Reference,
    timelines: Sequence[Sequence[Stay]],
    tables: set[str],
    config: TracingConfig,
) -> list[GpsStays]:
    """Per case, everyone's GPS stays whose centre can be at one of the case's places (within
    `same_place_m` of it, or snapped to its venue) at an hour of the case's stay there."""
    radius = max(config.same_place_m, config.snap_radius_m)
    # Each stay's own centre and, for a venue stay, the venue's position.
    stays = [(s, n) for n, timeline in enumerate(timelines) for s in timeline if s.kind != "area"]
    owner, start, end, place = (
        np.array(
            [(n, s.start, s.end, -1 if s.place_id is None else s.place_id) for s, n in stays],
            np.int64,
        )
        .reshape(-1, 4)
        .T
    )
    centre = np.array([(s.x, s.y) for s, _ in stays], np.float64).reshape(-1, 2)
    venue_row = ref.venues.index_of(place)
    at_venue = (place >= 0) & (ref.venues.merchant_id[venue_row] == place)
    point_of = np.concatenate([np.arange(len(stays)), np.flatnonzero(at_venue)])
    px = np.concatenate([centre[:, 0], ref.venues.x[venue_row[at_venue]]])
    py = np.concatenate([centre[:, 1], ref.venues.y[venue_row[at_venue]]])
    point, cell = grid_cells_near_many(px, py, radius, ref.projection)
    stay = point_of[point]
    row, keys = hour_keys_many(cell, start[stay], end[stay])
    found = _by_keys(
        reader,
        "stay_index",
        'person_id, start, "end", lat, lon, radius_m, fixes',
        keys,
        owner[stay][row],
        tables,
    )
    out = []
    for rows in _split_by_case(found["case_no"], len(timelines)):
        rows = rows[np.lexsort((found["start"][rows], found["person_id"][rows]))]
        x, y = ref.projection.to_xy(found["lat"][rows], found["lon"][rows])
        out.append(
            GpsStays(
                found["person_id"][rows],
                found["start"][rows],
                found["end"][rows],
                x,
                y,
                found["radius_m"][rows],
                found["fixes"][rows].astype(np.int64),
            )
        )
    return out


# Up to this many keys, a lookup lists them in the query (DuckDB then reads only the row groups
# holding them); more keys (a day of cases) read the index whole, which is faster then.
IN_LIST_MAX_KEYS = 5_000


def _key_filter(alias: str, keys: NDArray[np.int64]) -> str:
    """`AND` the hours of the keys (the partitions to open) and, for a short list, the keys
    themselves (the row groups to read) as IN lists."""
    hours = np.unique(keys >> PLACE_BITS)
    where = f" AND {alias}.hour IN ({','.join(str(int(h)) for h in hours)})"
    if len(keys) <= IN_LIST_MAX_KEYS:
        where += f" AND {alias}.key IN ({','.join(str(int(k)) for k in keys)})"
    return where


def _by_keys(
    reader: RecordReader,
    table: str,
    columns: str,
    keys: NDArray[np.int64],
    owners: NDArray[np.int64],
    tables: set[str],
    places: NDArray[np.int64] | None = None,
    place_column: str | None = None,
) -> dict[str, NDArray[Any]]:
    """Rows of an index table at the given keys, each with the case it was looked up for
    (a row listed under several hours of one case comes once). With `places`, rows must also
    be at that place (`place_column`): keys of very large ids can coincide."""
    names = ["case_no", *(c.strip().strip('"') for c in columns.split(","))]
    if table not in tables or not len(keys):
        return {n: np.empty(0, np.int64) for n in names}
    lookup = {"key": keys, "case_no": owners}
    same_place = ""
    if places is not None and place_column is not None:
        lookup["place"] = places
        same_place = f" AND i.{place_column} = k.place"
    cols = ", ".join(f"i.{c.strip()}" for c in columns.split(","))
    found = reader.query(
        f"SELECT DISTINCT k.case_no, {cols} FROM {table} i "
        f"JOIN (SELECT DISTINCT * FROM lookup) k ON i.key = k.key{same_place} "
        f"WHERE true{_key_filter('i', np.unique(keys))}",
        inputs={"lookup": pa.table(lookup)},
    )
    return {n: found.column(n).to_numpy(zero_copy_only=False) for n in names}


def _ids_exceed_key(ids: NDArray[np.int64]) -> bool:
    """Whether some id has bits beyond the index key's place bits (its keys can coincide with
    another's, so lookups must also compare the id itself)."""
    return bool(len(ids)) and int(np.max(ids)) >= 1 << PLACE_BITS


def _area_counts(
    reader: RecordReader,
    investigations: list[Investigation],
    case_runs: Sequence[CellRuns],
    tables: set[str],
    *,
    check_tower: bool,
) -> None:
    """For each run of a case at a tower: how many other people's runs there overlapped it,
    not counting the case's close and casual contacts. A count for area alerts; nobody is
    read out by name (the count is computed inside the query)."""
    if "cell_runs_index" not in tables:
        return
    tower = np.concatenate([r.tower for r in case_runs])
    run_start = np.concatenate([r.start for r in case_runs])
    run_end = np.concatenate([r.end for r in case_runs])
    if not len(tower):
        return
    run_no, keys = hour_keys_many(tower, run_start, run_end)
    case_of_run = np.repeat(
        np.array([inv.case.person_id for inv in investigations], np.int64),
        [len(r) for r in case_runs],
    )
    lookup = pa.table(
        {
            "key": keys,
            "run_no": run_no,
            "case_id": case_of_run[run_no],
            "tower_id": tower[run_no],
            "run_start": run_start[run_no],
            "run_end": run_end[run_no],
        }
    )
    named = pa.table(
        {
            "case_id": pa.array(
                [inv.case.person_id for inv in investigations for _ in inv.contacts], pa.int64()
            ),
            "person_id": pa.array(
                [c.contact_id for inv in investigations for c in inv.contacts], pa.int64()
            ),
        }
    )
    key_filter = _key_filter("r", np.unique(lookup.column("key").to_numpy()))
    same_tower = " AND r.tower_id = k.tower_id" if check_tower else ""
    # Distinct (run, person) pairs first, then the named contacts taken out by an anti join:
    # cheaper than a correlated NOT EXISTS for a day of cases.
    counts = reader.query(
        f"""WITH pairs AS (
              SELECT DISTINCT k.run_no, k.case_id, r.person_id
              FROM cell_runs_index r JOIN lookup k ON r.key = k.key{same_tower}
              WHERE r.start < k.run_end AND r."end" > k.run_start AND r.person_id <> k.case_id
                {key_filter})
            SELECT p.run_no, count(*) AS people
            FROM pairs p ANTI JOIN named n ON n.case_id = p.case_id AND n.person_id = p.person_id
            GROUP BY p.run_no""",
        inputs={"lookup": lookup, "named": named},
    )
    people = dict(
        zip(counts.column("run_no").to_pylist(), counts.column("people").to_pylist(), strict=True)
    )
    first = 0
    for inv, runs in zip(investigations, case_runs, strict=True):
        inv.area = [
            AreaExposure(
                int(runs.tower[k]),
                int(runs.start[k]),
                int(runs.end[k]),
                int(people.get(first + k, 0)),
            )
            for k in range(len(runs))
        ]
        first += len(runs)


def _households(
    reader: RecordReader, ref: _Reference, ids: pa.Table, schema: dict[str, list[str]]
) -> dict[int, tuple[list[int], tuple[float, float] | None]]:
    """Per case: household members from the resident registry, and the case's home position."""
    if not {"household_id", "home_lat", "home_lon"} <= set(schema.get("people", [])):
        return {}
    rows = reader.query(
        """SELECT c.person_id AS case_id, p.person_id, c.home_lat, c.home_lon
           FROM people c JOIN people p ON p.household_id = c.household_id
           WHERE c.person_id IN (SELECT id FROM case_ids) AND c.household_id IS NOT NULL
           ORDER BY c.person_id, p.person_id""",
        inputs={"case_ids": ids},
    ).to_pylist()
    out: dict[int, tuple[list[int], tuple[float, float] | None]] = {}
    for r in rows:
        case_id = int(r["case_id"])
        members, home = out.get(case_id, ([], None))
        if home is None and r["home_lat"] is not None and r["home_lon"] is not None:
            hx, hy = ref.projection.to_xy(r["home_lat"], r["home_lon"])
            home = (float(hx), float(hy))
        if int(r["person_id"]) != case_id:
            members.append(int(r["person_id"]))
        out[case_id] = (members, home)
    return out


def warning_context(
    reader: RecordReader, *investigations: Investigation
) -> tuple[dict[int, VenueInfo], dict[int, TowerInfo]]:
    """What the warnings need to name places: the cases' venues (name, district, whether they
    keep a visitor log) and their towers' districts and nearest station. No personal data."""
    schema = reader.schema()
    place_ids = sorted(
        {s.place_id for inv in investigations for s in inv.timeline if s.place_id is not None}
    )
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
    tower_ids = sorted({a.tower_id for inv in investigations for a in inv.area})
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
