"""Seoul's districts: names, boundaries and centroids agree with the public data sets."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import shapely

from epicity.city.districts import sample_points_in, seoul_districts
from epicity.geo import LocalProjection, haversine_m


def test_twenty_five_districts_cover_seoul() -> None:
    districts = seoul_districts()
    assert len(districts) == 25
    assert len({d.name for d in districts}) == 25
    assert "Gangnam-gu" in {d.name for d in districts}
    area = sum(d.area_km2 for d in districts)
    assert 590 < area < 620  # Seoul is 605 km²


@pytest.mark.realdata
def test_ds4c_district_offices_lie_inside_our_boundaries(real_data: Path) -> None:
    with (real_data / "ds4c" / "Region.csv").open() as f:
        rows = {
            r["city"]: r
            for r in csv.DictReader(f)
            if r["province"] == "Seoul" and r["city"] != "Seoul"
        }
    for d in seoul_districts():
        lat, lon = float(rows[d.name]["latitude"]), float(rows[d.name]["longitude"])
        assert shapely.contains_xy(d.polygon, lon, lat), d.name
        assert haversine_m(lat, lon, d.centroid_lat, d.centroid_lon) < 3_500, d.name


def test_sampled_points_fall_inside_the_district() -> None:
    rng = np.random.default_rng(0)
    which = rng.integers(0, 25, 2_000)
    lat, lon = sample_points_in(which, rng)
    for d in seoul_districts():
        here = which == d.index
        assert shapely.contains_xy(d.polygon, lon[here], lat[here]).all()


def test_local_projection_matches_haversine_within_a_city() -> None:
    proj = LocalProjection(37.5663, 126.9779)
    rng = np.random.default_rng(1)
    lat = 37.45 + rng.random(500) * 0.25
    lon = 126.8 + rng.random(500) * 0.35
    x, y = proj.to_xy(lat, lon)
    planar = np.hypot(x[1:] - x[:-1], y[1:] - y[:-1])
    exact = haversine_m(lat[1:], lon[1:], lat[:-1], lon[:-1])
    assert np.max(np.abs(planar - exact) / exact) < 2e-3
    back_lat, back_lon = proj.to_latlon(x, y)
    assert np.allclose(back_lat, lat)
    assert np.allclose(back_lon, lon)
