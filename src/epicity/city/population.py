"""Residents of the synthetic city: households, ages, roles, habits and favourite places."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from epicity.city.districts import seoul_districts
from epicity.city.places import Places, build_places, kind_code

__all__ = ["ROLE_NAMES", "Population", "build_population"]

# Seoul household sizes, 2020 census, rounded: 1 person 33%, 2: 26%, 3: 21%, 4: 16%, 5+: 4%.
HOUSEHOLD_SIZE_P = (0.33, 0.26, 0.21, 0.16, 0.04)

ROLE_NAMES = ("preschool", "student", "worker", "at_home")
PRESCHOOL, STUDENT, WORKER, AT_HOME = range(4)


@dataclass
class Population:
    """People as parallel arrays indexed by person_id - 1, plus favourite places (indexes)."""

    household: NDArray[np.int64]  # household index == home place index
    age: NDArray[np.int16]
    female: NDArray[np.bool_]
    role: NDArray[np.int8]
    home: NDArray[np.int64]  # place index
    work: NDArray[np.int64]  # place index (office, call centre or school); -1 if none
    district: NDArray[np.int8]  # district of residence
    phone: NDArray[np.bool_]
    gps_app: NDArray[np.bool_]
    card_propensity: NDArray[np.float32]
    drives: NDArray[np.bool_]
    churchgoer: NDArray[np.bool_]
    gym_member: NDArray[np.bool_]
    clubber: NDArray[np.bool_]
    sociability: NDArray[np.float32]  # multiplies the chance of going out
    cell_rate: NDArray[np.float32]  # phone network events per hour
    # Favourite places (place indexes), chosen among the nearest of each kind.
    fav: dict[str, NDArray[np.int64]]

    @property
    def count(self) -> int:
        """Number of people."""
        return len(self.age)


def _household_sizes(people: int, rng: np.random.Generator) -> NDArray[np.int64]:
    sizes = rng.choice(np.arange(1, 6), size=people // 2 + 10, p=HOUSEHOLD_SIZE_P)
    cut = int(np.searchsorted(np.cumsum(sizes), people))
    sizes = sizes[: cut + 1].copy()
    sizes[-1] -= int(sizes.sum()) - people
    return sizes[sizes > 0]


def _ages(sizes: NDArray[np.int64], rng: np.random.Generator) -> NDArray[np.int16]:
    """Ages by position in household: head, partner, then children (or adult children)."""
    n_hh = len(sizes)
    # Head's age by household size: singles are young or old, families are middle-aged.
    band = rng.choice(3, n_hh, p=[0.42, 0.28, 0.30])
    single = rng.uniform(np.array([20, 35, 60])[band], np.array([35, 60, 88])[band])
    head = np.where(
        sizes == 1,
        single,
        np.where(sizes == 2, rng.uniform(26, 85, n_hh), rng.uniform(33, 58, n_hh)),
    )
    position = _positions(sizes)
    head_of = np.repeat(head, sizes)
    age = np.where(
        position == 0,
        head_of,
        np.where(
            position == 1,
            head_of + rng.normal(0, 3, len(position)),
            head_of - 27 - rng.uniform(0, 14, len(position)),
        ),
    )
    return np.clip(np.round(age), 0, 99).astype(np.int16)


def _positions(sizes: NDArray[np.int64]) -> NDArray[np.int64]:
    starts = np.repeat(np.cumsum(sizes) - sizes, sizes)
    return np.arange(int(sizes.sum())) - starts


def _nearest_of_kind(
    places: Places,
    kind: str,
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    k: int,
    rng: np.random.Generator,
) -> NDArray[np.int64]:
    """For each anchor point, one of the k nearest places of a kind, picked at random."""
    idx = places.of_kind(kind)
    k = min(k, len(idx))
    tree = cKDTree(np.column_stack([places.x[idx], places.y[idx]]))
    _, nearest = tree.query(np.column_stack([x, y]), k=k)
    if k == 1:
        return np.asarray(idx[nearest], dtype=np.int64)
    pick = rng.integers(0, k, len(x))
    return np.asarray(idx[nearest[np.arange(len(x)), pick]], dtype=np.int64)


def _assign_workplaces(
    places: Places,
    home_district: NDArray[np.int8],
    workers: NDArray[np.int64],
    rng: np.random.Generator,
) -> NDArray[np.int64]:
    """Gravity model: work district ~ jobs x exp(-distance / 8 km); heavy-tailed office sizes."""
    districts = seoul_districts()
    cx = np.array([d.centroid_lon for d in districts])
    cy = np.array([d.centroid_lat for d in districts])
    dist_km = np.hypot((cx[:, None] - cx[None, :]) * 88.2, (cy[:, None] - cy[None, :]) * 111.0)
    jobs = np.array([d.jobs for d in districts], dtype=float)
    gravity = jobs[None, :] * np.exp(-dist_km / 8.0)
    gravity /= gravity.sum(axis=1, keepdims=True)

    offices = places.of_kind("office")
    call_centres = places.of_kind("call_centre")
    # Office size weights: Pareto (many small firms, a few large employers).
    office_w = rng.pareto(1.6, len(offices)) + 1.0
    work = np.full(len(workers), -1, dtype=np.int64)
    in_call_centre = rng.random(len(workers)) < 0.015
    work[in_call_centre] = rng.choice(call_centres, size=int(in_call_centre.sum()))
    rest = np.flatnonzero(~in_call_centre)
    # Sample the work district per home district, then an office within it.
    cum = np.cumsum(gravity, axis=1)
    u = rng.random(len(rest))
    work_district = (u[:, None] > cum[home_district[workers[rest]]]).sum(axis=1)
    work_district = np.minimum(work_district, len(districts) - 1)
    office_district = places.district[offices]
    for d in range(len(districts)):
        who = rest[work_district == d]
        cand = offices[office_district == d]
        w = office_w[office_district == d]
        if len(cand) == 0:
            cand, w = offices, office_w
        work[who] = rng.choice(cand, size=len(who), p=w / w.sum())
    return work


def build_population(people: int, rng: np.random.Generator) -> tuple[Population, Places]:
    """Create `people` residents in households, the city's places, and everyone's habits."""
    if people < 1:
        raise ValueError("people must be at least 1")
    sizes = _household_sizes(people, rng)
    age = _ages(sizes, rng)
    household = np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)
    female = rng.random(people) < 0.51

    # Employment: 19-64 about 70% (men more than women), 65+ about 30% (Statistics Korea 2020).
    p_work = np.where(age < 19, 0.0, np.where(age < 65, np.where(female, 0.6, 0.78), 0.3))
    role = np.where(
        age < 7,
        PRESCHOOL,
        np.where(age < 19, STUDENT, np.where(rng.random(people) < p_work, WORKER, AT_HOME)),
    ).astype(np.int8)
    workers = np.flatnonzero(role == WORKER)
    pupils = int((role == STUDENT).sum())

    places, home_district = build_places(len(sizes), people, len(workers), pupils, rng)
    home = household  # homes are the first places, one per household
    district = home_district[household].astype(np.int8)
    hx, hy = places.x[home], places.y[home]

    work = np.full(people, -1, dtype=np.int64)
    work[workers] = _assign_workplaces(places, district, workers, rng)
    students = np.flatnonzero(role == STUDENT)
    work[students] = _nearest_of_kind(places, "school", hx[students], hy[students], 2, rng)

    # Anchor for daytime venues: the workplace when there is one, else home.
    has_work = work >= 0
    ax = np.where(has_work, places.x[np.maximum(work, 0)], hx)
    ay = np.where(has_work, places.y[np.maximum(work, 0)], hy)

    fav = {
        "lunch_a": _nearest_of_kind(places, "restaurant", ax, ay, 6, rng),
        "lunch_b": _nearest_of_kind(places, "restaurant", ax, ay, 6, rng),
        "lunch_c": _nearest_of_kind(places, "restaurant", ax, ay, 10, rng),
        "cafe_work": _nearest_of_kind(places, "cafe", ax, ay, 3, rng),
        "cafe_home": _nearest_of_kind(places, "cafe", hx, hy, 3, rng),
        "restaurant_home": _nearest_of_kind(places, "restaurant", hx, hy, 12, rng),
        "restaurant_out": _nearest_of_kind(places, "restaurant", ax, ay, 25, rng),
        "store": _nearest_of_kind(places, "store", hx, hy, 2, rng),
        "market": _nearest_of_kind(places, "market", hx, hy, 2, rng),
        "park": _nearest_of_kind(places, "park", hx, hy, 2, rng),
        "hospital": _nearest_of_kind(places, "hospital", hx, hy, 3, rng),
        "church": _nearest_of_kind(places, "church", hx, hy, 3, rng),
        "gym": _nearest_of_kind(places, "gym", ax, ay, 2, rng),
        "karaoke": _nearest_of_kind(places, "karaoke", ax, ay, 6, rng),
        # Clubbers travel across the city: any club, weighted towards a few favourites.
        "club": _nearest_of_kind(places, "club", ax, ay, 8, rng),
    }

    adult = age >= 19
    # Smartphone ownership ~95% (KISDI 2020); app with location sharing a minority.
    phone = (age >= 10) & (rng.random(people) < np.where(age >= 80, 0.75, 0.97))
    gps_app = phone & (rng.random(people) < np.where((age >= 15) & (age < 60), 0.3, 0.12))
    card_propensity = np.where(adult, rng.beta(8, 2, people), rng.beta(2, 5, people)).astype(
        np.float32
    )
    drives = (role == WORKER) & (rng.random(people) < 0.25)
    churchgoer = rng.random(people) < 0.15
    gym_member = (age >= 18) & (age < 60) & (rng.random(people) < 0.12)
    clubber = (age >= 20) & (age < 35) & (rng.random(people) < 0.15)
    sociability = rng.lognormal(0.0, 0.5, people).astype(np.float32)
    cell_rate = rng.lognormal(np.log(0.45), 0.6, people).astype(np.float32)

    population = Population(
        household=household,
        age=age,
        female=female,
        role=role,
        home=home,
        work=work,
        district=district,
        phone=phone,
        gps_app=gps_app,
        card_propensity=card_propensity,
        drives=drives,
        churchgoer=churchgoer,
        gym_member=gym_member,
        clubber=clubber,
        sociability=sociability,
        cell_rate=cell_rate,
        fav=fav,
    )
    assert (places.kind[home] == kind_code("home")).all()
    return population, places
