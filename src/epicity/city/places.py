"""Places of the synthetic city: homes, workplaces, schools, venues, subway stations, cell towers.

Every place has one id in a single id space, so a venue's `place_id` is also its `merchant_id`
in the card and visitor-log records and its id in the ground-truth stays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from epicity.city.districts import NIGHTLIFE, sample_points_in, seoul_districts
from epicity.geo import LocalProjection

__all__ = ["KINDS", "Kind", "Places", "Towers", "build_places", "build_towers", "kind_code"]


@dataclass(frozen=True)
class Kind:
    """A kind of place and how the city's records see it."""

    name: str
    indoor: bool
    opens: int  # minutes after local midnight
    closes: int  # may exceed 1440 when open past midnight
    card_rate: float  # chance a visit produces a card transaction by the visitor
    visitor_log: bool  # high-risk venue keeping an electronic (QR) visitor log
    per_100k: float  # places per 100,000 residents (0: placed otherwise)
    amount_krw: float  # typical card amount (median of a lognormal)
    near_station: float  # share placed near a subway station (commercial strips)
    transmission: float  # relative transmission per hour of co-presence (see outbreak.py)


# Densities are rounded from Seoul's 2019-2020 business counts per resident (e.g. ~120k
# restaurants and ~18k cafes for 10M people); churches, gyms, noraebang from the same survey.
# Card rates are per visitor: in a group usually one person pays.
KINDS: tuple[Kind, ...] = (
    Kind("home", True, 0, 1440, 0.0, False, 0, 0, 0.0, 1.0),
    Kind("office", True, 7 * 60, 22 * 60, 0.0, False, 0, 0, 0.6, 1.0),
    Kind("school", True, 8 * 60, 17 * 60, 0.0, False, 0, 0, 0.0, 1.0),
    Kind("call_centre", True, 8 * 60, 21 * 60, 0.0, False, 0, 0, 0.8, 2.5),
    Kind("restaurant", True, 10 * 60, 23 * 60, 0.55, False, 1_200, 12_000, 0.6, 2.0),
    Kind("cafe", True, 8 * 60, 22 * 60, 0.6, False, 180, 5_500, 0.7, 1.5),
    Kind("church", True, 6 * 60, 21 * 60, 0.0, True, 60, 0, 0.2, 3.0),
    Kind("gym", True, 6 * 60, 23 * 60, 0.05, True, 60, 10_000, 0.5, 2.5),
    Kind("club", True, 21 * 60, 29 * 60, 0.7, True, 4, 45_000, 0.9, 4.0),
    Kind("karaoke", True, 12 * 60, 26 * 60, 0.5, True, 60, 20_000, 0.8, 3.0),
    Kind("hospital", True, 9 * 60, 18 * 60, 0.8, False, 40, 6_000, 0.5, 1.5),
    Kind("store", True, 7 * 60, 24 * 60, 0.85, False, 600, 8_000, 0.5, 0.6),
    Kind("market", False, 9 * 60, 21 * 60, 0.6, False, 5, 15_000, 0.5, 0.4),
    Kind("park", False, 5 * 60, 23 * 60, 0.0, False, 20, 0, 0.0, 0.2),
    Kind("subway_station", True, 5 * 60 + 30, 26 * 60, 0.9, False, 0, 1_250, 0.0, 0.3),
)
_CODES = {k.name: i for i, k in enumerate(KINDS)}

OFFICE_SIZE_MEAN = 30  # employees per office; sizes are heavy-tailed (see build_places)
CALL_CENTRE_SIZE = 150  # a floor of agents; Guro's 2020 call-centre cluster had ~200 per floor
PUPILS_PER_SCHOOL = 700
STATIONS_SEOUL = 300  # Seoul Metro and Korail stations inside Seoul, rounded
TOWER_SPACING_M = 550.0  # dense urban macro/small-cell grid


def kind_code(name: str) -> int:
    """Integer code of a place kind."""
    return _CODES[name]


@dataclass
class Places:
    """All places, as parallel arrays indexed by place_id - 1."""

    kind: NDArray[np.int8]
    district: NDArray[np.int8]
    lat: NDArray[np.float64]
    lon: NDArray[np.float64]
    x: NDArray[np.float64]
    y: NDArray[np.float64]

    @property
    def count(self) -> int:
        """Number of places."""
        return len(self.kind)

    @property
    def place_id(self) -> NDArray[np.int64]:
        """Ids 1..count."""
        return np.arange(1, self.count + 1, dtype=np.int64)

    def of_kind(self, name: str) -> NDArray[np.int64]:
        """Indexes (place_id - 1) of places of a kind."""
        return np.flatnonzero(self.kind == kind_code(name))


@dataclass
class Towers:
    """Cell towers with a spatial index."""

    lat: NDArray[np.float64]
    lon: NDArray[np.float64]
    x: NDArray[np.float64]
    y: NDArray[np.float64]
    range_m: NDArray[np.float64]
    tree: cKDTree

    @property
    def tower_id(self) -> NDArray[np.int64]:
        """Ids 1..count."""
        return np.arange(1, len(self.lat) + 1, dtype=np.int64)


def projection() -> LocalProjection:
    """The city's metric projection, centred on Seoul City Hall."""
    return LocalProjection(37.5663, 126.9779)


def _weights(values: list[float]) -> NDArray[np.float64]:
    w = np.asarray(values, dtype=np.float64)
    return np.asarray(w / w.sum(), dtype=np.float64)


def build_places(
    households: int, residents: int, workers: int, pupils: int, rng: np.random.Generator
) -> tuple[Places, NDArray[np.int64]]:
    """Lay out homes (one per household, first `households` ids), workplaces, schools and venues.

    Returns the places and the district of each household's home (its index).
    """
    districts = seoul_districts()
    resident_w = _weights([d.residents for d in districts])
    job_w = _weights([d.jobs for d in districts])
    night_w = _weights([d.residents * (6 if d.name in NIGHTLIFE else 1) for d in districts])
    proj = projection()

    kinds: list[NDArray[np.int8]] = []
    dist: list[NDArray[np.int64]] = []

    def add(name: str, count: int, weights: NDArray[np.float64]) -> None:
        kinds.append(np.full(count, kind_code(name), dtype=np.int8))
        dist.append(rng.choice(len(districts), size=count, p=weights))

    add("home", households, resident_w)
    # Stations go first among non-homes so venues can cluster around them.
    stations = STATIONS_SEOUL
    add("subway_station", stations, _weights([d.jobs + d.residents for d in districts]))
    add("office", max(1, round(workers / OFFICE_SIZE_MEAN)), job_w)
    add("call_centre", max(1, round(workers * 0.015 / CALL_CENTRE_SIZE)), job_w)
    add("school", max(1, round(pupils / PUPILS_PER_SCHOOL)), resident_w)
    mixed_w = _weights(list(0.6 * resident_w + 0.4 * job_w))
    for kind in KINDS:
        if kind.per_100k == 0:
            continue
        count = max(1, round(residents * kind.per_100k / 100_000))
        weights = night_w if kind.name in ("club", "karaoke") else mixed_w
        add(kind.name, count, weights)

    kind_arr = np.concatenate(kinds)
    district_arr = np.concatenate(dist)
    lat, lon = sample_points_in(district_arr, rng)
    x, y = proj.to_xy(lat, lon)

    # Commercial places cluster within ~250 m of a station in their district.
    station_idx = np.flatnonzero(kind_arr == kind_code("subway_station"))
    for kind in KINDS:
        if kind.near_station == 0:
            continue
        idx = np.flatnonzero(kind_arr == kind_code(kind.name))
        idx = idx[rng.random(len(idx)) < kind.near_station]
        for d in np.unique(district_arr[idx]):
            here = idx[district_arr[idx] == d]
            local = station_idx[district_arr[station_idx] == d]
            if len(local) == 0:
                continue
            anchor = rng.choice(local, size=len(here))
            x[here] = x[anchor] + rng.normal(0, 250, len(here))
            y[here] = y[anchor] + rng.normal(0, 250, len(here))
    lat, lon = proj.to_latlon(x, y)
    places = Places(kind_arr, district_arr.astype(np.int8), lat, lon, x, y)
    return places, district_arr[:households]


def build_towers(places: Places, rng: np.random.Generator) -> Towers:
    """A jittered hexagonal grid of cells over the city, denser where people are.

    Every cell-covered point of the city is within range of some tower; range grows where the
    grid is sparse (outskirts, parks).
    """
    districts = seoul_districts()
    proj = projection()
    xs, ys = [], []
    for d in districts:
        minx, miny, maxx, maxy = d.polygon.bounds
        (x0, x1), (y0, y1) = proj.to_xy([miny, maxy], [minx, maxx])
        # Busy districts get a denser grid (capacity follows demand).
        load = (d.residents + d.jobs) / d.area_km2
        spacing = TOWER_SPACING_M * float(np.clip((40.0 / load) ** 0.5, 0.6, 1.6))
        gx = np.arange(x0, x1, spacing)
        gy = np.arange(y0, y1, spacing * np.sqrt(3) / 2)
        mx, my = np.meshgrid(gx, gy)
        mx[1::2] += spacing / 2
        cx = mx.ravel() + rng.normal(0, spacing * 0.15, mx.size)
        cy = my.ravel() + rng.normal(0, spacing * 0.15, my.size)
        clat, clon = proj.to_latlon(cx, cy)
        inside = shapely.contains_xy(d.polygon, clon, clat)
        xs.append(cx[inside])
        ys.append(cy[inside])
    x = np.concatenate(xs)
    y = np.concatenate(ys)
    tree = cKDTree(np.column_stack([x, y]))
    # Range: enough to reach the third-nearest neighbour's midpoint (overlapping coverage).
    d, _ = tree.query(np.column_stack([x, y]), k=4)
    range_m = np.round(np.clip(d[:, 3] * 1.2, 300, 3000), -1)
    lat, lon = proj.to_latlon(x, y)
    return Towers(lat, lon, x, y, range_m, tree)
