"""What a user would write instead of epicity's place-time index, for bench/tracing.py.

Both take a case epicity has traced (its window and timeline: the case's own movements) and
find its contacts again from the raw record tables, read through the same audited reader:

- `duckdb_contacts`: plain DuckDB SQL over the raw tables: a binned (grid cell, hour) join of
  everyone's GPS fixes with boxes around the case's places finds the candidates, whose whole
  tracks are then read by person; payments at the case's venues and connection records at its
  towers are filtered by place and time.
- `pandas_contacts`: the window's records loaded into pandas DataFrames, a GeoPandas spatial
  join of the fixes with buffers around the case's places, pandas filters for the rest.

Stay detection, visit intervals, cell runs, tiers and scores are the shared definitions
(`epicity.tracing.stays`, `find_contacts`): what differs is how the records are found, which is
what the benchmark measures. The results must equal epicity's exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from epicity.privacy.access import AuditedReader
from epicity.tracing.config import TracingConfig
from epicity.tracing.contacts import AreaExposure, Contact, find_contacts
from epicity.tracing.service import Investigation, _load_reference, _Reference, _ts
from epicity.tracing.stays import CELL_RUN_GAP_S, CellRuns, cell_runs, gps_stays, venue_visits

# A contact's stay centre lies within max(same_place_m, snap_radius_m) of the case's place; its
# fixes can lie farther (a stay's centre is a median of fixes chained 60 m apart).
SEARCH_MARGIN_M = 500.0
BIN_DEGREES = 0.005
DAY = 86_400


def _search_bounds(config: TracingConfig) -> tuple[float, int]:
    """How far (metres) and how long (seconds) from a case's place a contact's fixes can lie
    while their stay is at that place and time."""
    return (
        max(config.same_place_m, config.snap_radius_m) + SEARCH_MARGIN_M,
        config.stay_max_gap_s + config.stay_pad_s,
    )


def _ids(values: Any) -> pa.Table:
    return pa.table({"id": pa.array(sorted({int(v) for v in values}), pa.int64())})


def _places(inv: Investigation) -> list[Any]:
    return [s for s in inv.timeline if s.kind != "area"]


def _whole_tracks(
    reader: AuditedReader, ref: _Reference, people: Any, config: TracingConfig
) -> Any:
    """GPS stays of these people over their whole tracks (the definition epicity indexes)."""
    rows = reader.query(
        "SELECT person_id, epoch(ts)::BIGINT AS t, lat, lon, accuracy_m FROM gps "
        "WHERE person_id IN (SELECT id FROM ids) ORDER BY person_id, ts",
        inputs={"ids": _ids(people)},
    )
    x, y = ref.projection.to_xy(rows.column("lat").to_numpy(), rows.column("lon").to_numpy())
    cfg = TracingConfig(**{**config.__dict__, "stay_min_duration_s": 0})
    return gps_stays(
        rows.column("person_id").to_numpy(),
        rows.column("t").to_numpy(),
        x,
        y,
        rows.column("accuracy_m").to_numpy(),
        cfg,
    )


def _visits(
    reader: AuditedReader, ref: _Reference, inv: Investigation, config: TracingConfig
) -> Any:
    before, after = config.max_dwell_before_s, config.max_dwell_after_s
    venues = {int(s.place_id) for s in inv.timeline if s.kind == "venue" and s.place_id is not None}
    parts = []
    for table in ("card", "entries"):
        t = reader.query(
            f"SELECT person_id, epoch(ts)::BIGINT AS t, merchant_id, '{table}' AS source "
            f"FROM {table} WHERE merchant_id IN (SELECT id FROM ids) "
            "AND ts >= ?::TIMESTAMPTZ AND ts < ?::TIMESTAMPTZ",
            [_ts(inv.window_start - after), _ts(inv.window_end + before + 1)],
            inputs={"ids": _ids(venues)},
        )
        parts.append(t)
    rows = pa.concat_tables(parts)
    venue = rows.column("merchant_id").to_numpy()
    dwell_before, dwell_after = ref.venues.dwell(config)
    vrow = ref.venues.index_of(venue)
    return venue_visits(
        rows.column("person_id").to_numpy(),
        rows.column("t").to_numpy(),
        venue,
        np.asarray(rows.column("source").to_pylist(), dtype=str),
        dwell_before[vrow],
        dwell_after[vrow],
    )


def _case_runs(reader: AuditedReader, inv: Investigation) -> CellRuns:
    rows = reader.query(
        "SELECT person_id, epoch(ts)::BIGINT AS t, tower_id FROM cell WHERE person_id = ? "
        "AND ts >= ?::TIMESTAMPTZ AND ts < ?::TIMESTAMPTZ ORDER BY ts, tower_id",
        [inv.case.person_id, _ts(inv.window_start - 3 * 3600), _ts(inv.window_end + 3 * 3600)],
    )
    runs = cell_runs(
        rows.column("person_id").to_numpy(),
        rows.column("t").to_numpy(),
        rows.column("tower_id").to_numpy(),
    )
    keep = (runs.end > inv.window_start) & (runs.start < inv.window_end)
    return CellRuns(
        *(getattr(runs, f)[keep] for f in ("person", "tower", "start", "end", "records"))
    )


def _area(case_runs: CellRuns, others: CellRuns, named: set[int]) -> list[AreaExposure]:
    out = []
    for k in range(len(case_runs)):
        m = (
            (others.tower == case_runs.tower[k])
            & (others.start < case_runs.end[k])
            & (others.end > case_runs.start[k])
        )
        people = set(others.person[m].tolist()) - named
        out.append(
            AreaExposure(
                int(case_runs.tower[k]), int(case_runs.start[k]), int(case_runs.end[k]), len(people)
            )
        )
    return out


def _household(reader: AuditedReader, ref: _Reference, case_id: int) -> tuple[list[int], Any]:
    rows = reader.query(
        """SELECT p.person_id, c.home_lat, c.home_lon FROM people c JOIN people p
             ON p.household_id = c.household_id
           WHERE c.person_id = ? AND c.household_id IS NOT NULL ORDER BY p.person_id""",
        [case_id],
    ).to_pylist()
    if not rows:
        return [], None
    hx, hy = ref.projection.to_xy(rows[0]["home_lat"], rows[0]["home_lon"])
    return [int(r["person_id"]) for r in rows if r["person_id"] != case_id], (float(hx), float(hy))


def _finish(
    reader: AuditedReader,
    ref: _Reference,
    inv: Investigation,
    stays: Any,
    at_towers: Any,
    config: TracingConfig,
) -> tuple[list[Contact], list[AreaExposure]]:
    """The shared rest: visits at the case's venues, tiers, area counts over the runs of the
    people seen at the case's towers."""
    visits = _visits(reader, ref, inv, config)
    tower_people = _tower_runs(reader, at_towers, inv)
    household, home = _household(reader, ref, inv.case.person_id)
    contacts = find_contacts(
        inv.case.person_id,
        inv.timeline,
        inv.onset,
        visits,
        stays,
        ref.venues,
        config,
        household=household,
        home_xy=home,
    )
    case_runs = _case_runs(reader, inv)
    named = {c.contact_id for c in contacts} | {inv.case.person_id}
    return contacts, _area(case_runs, tower_people, named)


def _tower_runs(reader: AuditedReader, people: Any, inv: Investigation) -> CellRuns:
    """Runs of these people, from their records of the window and a day either side (a run
    cut there still covers the same part of the window)."""
    rows = reader.query(
        "SELECT person_id, epoch(ts)::BIGINT AS t, tower_id FROM cell "
        "WHERE person_id IN (SELECT id FROM ids) AND ts >= ?::TIMESTAMPTZ "
        "AND ts < ?::TIMESTAMPTZ ORDER BY person_id, ts, tower_id",
        [_ts(inv.window_start - DAY), _ts(inv.window_end + DAY)],
        inputs={"ids": _ids(people)},
    )
    return cell_runs(
        rows.column("person_id").to_numpy(),
        rows.column("t").to_numpy(),
        rows.column("tower_id").to_numpy(),
    )


def duckdb_contacts(
    reader: AuditedReader, inv: Investigation, config: TracingConfig
) -> tuple[list[Contact], list[AreaExposure]]:
    """Plain DuckDB SQL over the raw tables (no index)."""
    ref = _load_reference(reader)
    margin, gap = _search_bounds(config)
    dlat = margin / 111_000.0
    boxes = []
    for s in _places(inv):
        dlon = dlat / float(np.cos(np.radians(s.lat)))
        boxes.append(
            (s.lat - dlat, s.lat + dlat, s.lon - dlon, s.lon + dlon, s.start - gap, s.end + gap)
        )
    people: NDArray[np.int64] = np.empty(0, np.int64)
    if boxes:
        names = ("lat0", "lat1", "lon0", "lon1", "t0", "t1")
        box = pa.table({name: [b[i] for b in boxes] for i, name in enumerate(names)})
        cell, hour = BIN_DEGREES, 3600
        people = (
            reader.query(
                f"""WITH keys AS (
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
                  AND epoch(g.ts) BETWEEN k.t0 AND k.t1 AND g.person_id <> ?
                  AND g.ts >= ?::TIMESTAMPTZ AND g.ts < ?::TIMESTAMPTZ""",
                [inv.case.person_id, _ts(inv.window_start - gap), _ts(inv.window_end + gap)],
                inputs={"boxes": box},
            )
            .column(0)
            .to_numpy()
        )
    stays = _whole_tracks(reader, ref, people, config)
    towers = {int(a.tower_id) for a in inv.area}
    at_towers = (
        reader.query(
            "SELECT DISTINCT person_id FROM cell WHERE tower_id IN (SELECT id FROM ids) "
            "AND ts >= ?::TIMESTAMPTZ AND ts < ?::TIMESTAMPTZ",
            [_ts(inv.window_start - CELL_RUN_GAP_S), _ts(inv.window_end + CELL_RUN_GAP_S)],
            inputs={"ids": _ids(towers)},
        )
        .column(0)
        .to_numpy()
    )
    return _finish(reader, ref, inv, stays, at_towers, config)


def pandas_contacts(
    reader: AuditedReader, inv: Investigation, config: TracingConfig
) -> tuple[list[Contact], list[AreaExposure]]:
    """The window's records in pandas DataFrames; GeoPandas finds the fixes near the places."""
    import geopandas as gpd  # bench-only dependencies (pip install -e '.[bench]')

    ref = _load_reference(reader)
    margin, gap = _search_bounds(config)
    window = [_ts(inv.window_start - gap), _ts(inv.window_end + gap)]
    fixes = reader.query(
        "SELECT person_id, epoch(ts)::BIGINT AS t, lat, lon FROM gps "
        "WHERE ts >= ?::TIMESTAMPTZ AND ts < ?::TIMESTAMPTZ",
        window,
    ).to_pandas()
    places = _places(inv)
    people: Any = []
    if places and len(fixes):
        x, y = ref.projection.to_xy(fixes["lat"].to_numpy(), fixes["lon"].to_numpy())
        fixes["x"], fixes["y"] = x, y
        # Only fixes inside the places' bounding box become geometries (all of a big city's
        # would not fit in memory as shapely points).
        px, py = [p.x for p in places], [p.y for p in places]
        box = fixes[
            fixes["x"].between(min(px) - margin, max(px) + margin)
            & fixes["y"].between(min(py) - margin, max(py) + margin)
        ]
        points = gpd.GeoDataFrame(box, geometry=gpd.points_from_xy(box["x"], box["y"]))
        # Squares, as the SQL boxes: a centre within the radius of a place, fixes within margin.
        zones = gpd.GeoDataFrame(
            {"s": [p.start - gap for p in places], "e": [p.end + gap for p in places]},
            geometry=gpd.points_from_xy(px, py).buffer(margin, cap_style="square"),
        )
        hits = gpd.sjoin(points, zones, predicate="intersects")
        hits = hits[(hits["t"] >= hits["s"]) & (hits["t"] <= hits["e"])]
        people = hits.loc[hits["person_id"] != inv.case.person_id, "person_id"].unique()
    stays = _whole_tracks(reader, ref, people, config)
    cells = reader.query(
        "SELECT person_id, tower_id FROM cell WHERE ts >= ?::TIMESTAMPTZ AND ts < ?::TIMESTAMPTZ",
        [_ts(inv.window_start - CELL_RUN_GAP_S), _ts(inv.window_end + CELL_RUN_GAP_S)],
    ).to_pandas()
    towers = {int(a.tower_id) for a in inv.area}
    at_towers = cells.loc[cells["tower_id"].isin(towers), "person_id"].unique()
    return _finish(reader, ref, inv, stays, at_towers, config)


def same_result(
    inv: Investigation, other: tuple[list[Contact], list[AreaExposure]]
) -> tuple[bool, str]:
    """Whether another method found the same contacts (id, tier, score) and area counts."""

    def key(contacts: list[Contact]) -> list[tuple[int, str, float]]:
        return sorted((c.contact_id, c.tier, round(c.risk_score, 9)) for c in contacts)

    mine, theirs = key(inv.contacts), key(other[0])
    if mine != theirs:
        diff = set(mine) ^ set(theirs)
        return False, f"contacts differ in {len(diff)} rows, e.g. {sorted(diff)[:3]}"
    if [(a.tower_id, a.start, a.people) for a in inv.area] != [
        (a.tower_id, a.start, a.people) for a in other[1]
    ]:
        return False, "area counts differ"
    return True, ""
