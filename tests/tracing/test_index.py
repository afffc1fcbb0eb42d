"""The place-time index keys: no pair at a grid-cell, hour or day boundary is missed."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from epicity.geo import LocalProjection
from epicity.tracing.index import (
    CELL_DEG_LAT,
    CELL_DEG_LON,
    grid_cell,
    grid_cells_near,
    grid_cells_near_many,
    hour_keys,
    hour_keys_many,
    place_key,
)

PROJ = LocalProjection(37.55, 126.99)
T0 = 1_583_020_800  # 2020-03-01 00:00 UTC

# Points placed on or next to cell edges, where a binned search would lose pairs.
edge = st.integers(-40, 40).map(lambda k: k * CELL_DEG_LAT) | st.floats(-0.08, 0.08)


@given(
    lat_off=edge,
    lon_off=edge,
    radius=st.floats(1.0, 200.0),
    angle=st.floats(0, 2 * np.pi),
    frac=st.floats(0, 1),
)
def test_every_point_within_the_radius_falls_in_a_listed_cell(
    lat_off: float, lon_off: float, radius: float, angle: float, frac: float
) -> None:
    lat, lon = 37.55 + lat_off, 126.99 + lon_off * CELL_DEG_LON / CELL_DEG_LAT
    x, y = PROJ.to_xy(lat, lon)
    d = radius * frac
    px, py = float(x) + d * np.cos(angle), float(y) + d * np.sin(angle)
    plat, plon = PROJ.to_latlon(px, py)
    cells = grid_cells_near(float(x), float(y), radius, PROJ)
    assert int(grid_cell(np.array([plat]), np.array([plon]))[0]) in cells


@given(
    start=st.integers(0, 3 * 86_400),
    length=st.integers(1, 30 * 3600),
    other_start=st.integers(-86_400, 4 * 86_400),
    other_length=st.integers(1, 30 * 3600),
)
def test_overlapping_intervals_share_an_hour_key(
    start: int, length: int, other_start: int, other_length: int
) -> None:
    a0, a1 = T0 + start, T0 + start + length
    b0, b1 = T0 + other_start, T0 + other_start + other_length
    shared = set(hour_keys(7, a0, a1).tolist()) & set(hour_keys(7, b0, b1).tolist())
    if a0 < b1 and b0 < a1:  # overlapping: the lookup must find it (sharing more is harmless)
        assert shared


def test_keys_separate_places_and_hours() -> None:
    assert place_key(5, 10) != place_key(5, 11)
    assert place_key(5, 10) != place_key(6, 10)
    # The hour is in the high bits: one hour's keys sort together, whatever the place.
    assert place_key(2**30, 10) < place_key(0, 11)


@given(
    points=st.lists(st.tuples(st.floats(-3000, 3000), st.floats(-3000, 3000)), max_size=8),
    radius=st.floats(1.0, 400.0),
    intervals=st.lists(st.tuples(st.integers(0, 86_400), st.integers(1, 20 * 3600)), max_size=8),
)
def test_many_at_once_lists_what_one_at_a_time_does(
    points: list[tuple[float, float]], radius: float, intervals: list[tuple[int, int]]
) -> None:
    x = np.array([p[0] for p in points], np.float64)
    y = np.array([p[1] for p in points], np.float64)
    rows, cells = grid_cells_near_many(x, y, radius, PROJ)
    for i in range(len(points)):
        assert sorted(cells[rows == i].tolist()) == sorted(
            c for c in grid_cells_near(x[i], y[i], radius, PROJ)
        )
        # Every cell of the square around the point, each once.
        assert len(set(cells[rows == i].tolist())) == (rows == i).sum()
    start = np.array([T0 + a for a, _ in intervals], np.int64)
    end = start + np.array([n for _, n in intervals], np.int64)
    place = np.arange(len(intervals), dtype=np.int64) + 3
    rows, keys = hour_keys_many(place, start, end)
    for i in range(len(intervals)):
        hours = range(int(start[i]) // 3600, (int(end[i]) - 1) // 3600 + 1)
        assert keys[rows == i].tolist() == [int(place_key(int(place[i]), h)) for h in hours]
