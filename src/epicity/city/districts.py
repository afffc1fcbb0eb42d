"""Seoul's 25 districts (gu): boundaries, centroids, residents and jobs.

Boundaries are KOSTAT's 2013 census districts (Apache 2.0, see `epicity/data/NOTICE`).
Centroids are computed from those polygons. Residents and jobs are rounded approximations of
Seoul's 2019-2020 statistics (resident registration incl. foreigners; employees by workplace
district, Seoul business survey), used only as relative weights.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
import shapely
from numpy.typing import NDArray

__all__ = ["District", "sample_points_in", "seoul_districts"]

# name_eng: (residents, jobs), thousands, rounded.
_SEOUL_FIGURES: dict[str, tuple[int, int]] = {
    "Jongno-gu": (155, 280),
    "Jung-gu": (135, 430),
    "Yongsan-gu": (245, 150),
    "Seongdong-gu": (308, 200),
    "Gwangjin-gu": (370, 140),
    "Dongdaemun-gu": (362, 150),
    "Jungnang-gu": (400, 100),
    "Seongbuk-gu": (452, 120),
    "Gangbuk-gu": (316, 70),
    "Dobong-gu": (330, 70),
    "Nowon-gu": (535, 120),
    "Eunpyeong-gu": (485, 110),
    "Seodaemun-gu": (325, 120),
    "Mapo-gu": (385, 300),
    "Yangcheon-gu": (460, 130),
    "Gangseo-gu": (595, 230),
    "Guro-gu": (435, 280),
    "Geumcheon-gu": (250, 210),
    "Yeongdeungpo-gu": (405, 420),
    "Dongjak-gu": (405, 110),
    "Gwanak-gu": (515, 120),
    "Seocho-gu": (435, 480),
    "Gangnam-gu": (550, 780),
    "Songpa-gu": (680, 360),
    "Gangdong-gu": (455, 150),
}

# Nightlife districts where clubs and karaoke bars concentrate (Itaewon, Hongdae, Gangnam...).
NIGHTLIFE = frozenset(
    {"Yongsan-gu", "Mapo-gu", "Gangnam-gu", "Jung-gu", "Gwanak-gu", "Gwangjin-gu"}
)


@dataclass(frozen=True)
class District:
    """One district: names, KOSTAT code, centroid and weights."""

    index: int
    code: str
    name: str  # English, e.g. "Gangnam-gu"
    name_ko: str
    centroid_lat: float
    centroid_lon: float
    residents: int  # thousands
    jobs: int  # thousands
    polygon: shapely.Polygon

    @property
    def area_km2(self) -> float:
        """Approximate area from the polygon, using the local scale at the centroid."""
        kx = 111.32 * np.cos(np.radians(self.centroid_lat))
        return float(self.polygon.area * kx * 110.57)


@cache
def seoul_districts() -> tuple[District, ...]:
    """The 25 Seoul districts, sorted by KOSTAT code."""
    text = resources.files("epicity.data").joinpath("seoul_districts.geojson").read_text("utf-8")
    features = sorted(json.loads(text)["features"], key=lambda f: f["properties"]["code"])
    districts = []
    for index, feature in enumerate(features):
        props = feature["properties"]
        polygon = shapely.geometry.shape(feature["geometry"])
        centroid = polygon.centroid
        residents, jobs = _SEOUL_FIGURES[props["name_eng"]]
        districts.append(
            District(
                index=index,
                code=props["code"],
                name=props["name_eng"],
                name_ko=props["name"],
                centroid_lat=float(centroid.y),
                centroid_lon=float(centroid.x),
                residents=residents,
                jobs=jobs,
                polygon=polygon,
            )
        )
    return tuple(districts)


def sample_points_in(
    district_index: NDArray[np.integer], rng: np.random.Generator
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Uniform random (lat, lon) inside each given district's polygon (rejection sampling)."""
    districts = seoul_districts()
    n = len(district_index)
    lat = np.empty(n)
    lon = np.empty(n)
    for d in districts:
        todo = np.flatnonzero(district_index == d.index)
        minx, miny, maxx, maxy = d.polygon.bounds
        shapely.prepare(d.polygon)
        while len(todo):
            x = rng.uniform(minx, maxx, len(todo))
            y = rng.uniform(miny, maxy, len(todo))
            inside = shapely.contains_xy(d.polygon, x, y)
            lat[todo[inside]] = y[inside]
            lon[todo[inside]] = x[inside]
            todo = todo[~inside]
    return lat, lon
