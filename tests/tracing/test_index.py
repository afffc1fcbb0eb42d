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
    hour_keys,
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
