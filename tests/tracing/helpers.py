"""Small hand-made worlds for tracing tests: venues, towers and records in metres."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from epicity.geo import LocalProjection
from epicity.tracing.timeline import PersonRecords, Venues

PROJ = LocalProjection(37.5663, 126.9779)
T0 = 1_583_100_000  # 2020-03-01T22:00:00Z
MIN = 60


def venues(rows: Sequence[tuple[int, float, float, str, bool]]) -> Venues:
    """(merchant_id, x, y, category, indoor) rows."""
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    x = np.array([r[1] for r in rows], dtype=float)
    y = np.array([r[2] for r in rows], dtype=float)
    lat, lon = PROJ.to_latlon(x, y)
    return Venues(
        ids, x, y, lat, lon, np.array([r[3] for r in rows]), np.array([r[4] for r in rows])
    )


def towers(rows: Sequence[tuple[int, float, float, float]]) -> tuple[np.ndarray, ...]:
    """(tower_id, x, y, range_m) rows."""
    return tuple(
        np.array([r[i] for r in rows], dtype=np.int64 if i == 0 else float) for i in range(4)
    )


def records(
    gps: Sequence[tuple[int, int, float, float, float]] = (),
    visits: Sequence[tuple[int, int, int, str]] = (),
    cells: Sequence[tuple[int, int, int]] = (),
) -> PersonRecords:
    """gps (person, t, x, y, accuracy), visits (person, t, venue, source), cells (person, t, tower)."""
    g = sorted(gps)
    v = sorted(visits)
    c = sorted(cells)
    return PersonRecords(
        gps_person=np.array([r[0] for r in g], dtype=np.int64),
        gps_t=np.array([r[1] for r in g], dtype=np.int64),
        gps_x=np.array([r[2] for r in g], dtype=float),
        gps_y=np.array([r[3] for r in g], dtype=float),
        gps_accuracy=np.array([r[4] for r in g], dtype=float),
        visit_person=np.array([r[0] for r in v], dtype=np.int64),
        visit_t=np.array([r[1] for r in v], dtype=np.int64),
        visit_venue=np.array([r[2] for r in v], dtype=np.int64),
        visit_source=np.array([r[3] for r in v], dtype=str),
        cell_person=np.array([r[0] for r in c], dtype=np.int64),
        cell_t=np.array([r[1] for r in c], dtype=np.int64),
        cell_tower=np.array([r[2] for r in c], dtype=np.int64),
    )
