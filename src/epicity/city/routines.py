"""Daily routines: each person's true stays for one day, vectorised over the whole city.

A day is a fixed sequence of slots (home in the morning, an outing, work, lunch, work, an errand,
an evening out, home). Each person fills some slots; a forward pass adds travel time between
consecutive places and inserts subway-station stays for trips by subway. Times are seconds after
the local midnight. A stay that runs past midnight is cut there and carried into the next day.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from epicity.city.places import KINDS, Places, kind_code
from epicity.city.population import PRESCHOOL, STUDENT, WORKER, Population

__all__ = ["CarryOver", "DayStays", "Travel", "day_stays"]

DAY = 86_400
MIN_STAY = 600  # a visit lasts at least 10 minutes
WALK_MPS = 1.25  # walking speed
DETOUR = 1.3  # street distance / straight-line distance
DRIVE_MPS = 7.0  # Seoul average car speed incl. lights (~25 km/h)
SUBWAY_MPS = 9.0  # effective subway speed incl. stops (~32 km/h)
WALK_LIMIT_M = 1_500.0  # above this, people who don't drive take the subway
STATION_IN_S = 180  # entering, tapping in, waiting on the platform
STATION_OUT_S = 90  # leaving the destination station
BUS_SHARE = 0.45  # Seoul's transit trips are split roughly evenly between bus and subway
LAST_TRAIN_S = 25 * 3600  # last departures around 01:00; stations close after the last arrivals

_SLOTS = ("home_am", "morning", "work_am", "lunch", "work_pm", "errand", "evening", "home_pm")
_OPENS = np.array([k.opens for k in KINDS]) * 60
_CLOSES = np.array([k.closes for k in KINDS]) * 60
_HOME = kind_code("home")
_STATION = kind_code("subway_station")
_TIME_BOUND_KINDS = np.array(
    [k.name not in ("home", "office", "call_centre", "school") for k in KINDS]
)


@dataclass
class CarryOver:
    """Where each person is at midnight and until when (seconds into the new day)."""

    place: NDArray[np.int64]
    until: NDArray[np.int64]  # > 0: stays there until then; <= 0: left at that time (travelling)


@dataclass
class DayStays:
    """One day's stays of everyone, sorted by person then start (seconds after local midnight)."""

    person: NDArray[np.int64]  # person index
    place: NDArray[np.int64]  # place index
    start: NDArray[np.int64]
    end: NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.person)


@dataclass
class Travel:
    """Travel-time model between places, with the nearest station of every place."""

    places: Places
    station_of: NDArray[np.int64]  # nearest subway station (place index) of each place

    def plan(
        self, origin: NDArray[np.int64], dest: NDArray[np.int64], drives: NDArray[np.bool_]
    ) -> tuple[NDArray[np.int64], NDArray[np.bool_], NDArray[np.int64], NDArray[np.int64]]:
        """Travel time (s), whether by subway, walk to the first station and from the last."""
        p = self.places
        dist = np.hypot(p.x[dest] - p.x[origin], p.y[dest] - p.y[origin]) * DETOUR
        so, sd = self.station_of[origin], self.station_of[dest]
        walk_o = np.hypot(p.x[so] - p.x[origin], p.y[so] - p.y[origin]) * DETOUR / WALK_MPS
        walk_d = np.hypot(p.x[dest] - p.x[sd], p.y[dest] - p.y[sd]) * DETOUR / WALK_MPS
        ride = np.hypot(p.x[sd] - p.x[so], p.y[sd] - p.y[so]) * DETOUR / SUBWAY_MPS
        subway = (dist > WALK_LIMIT_M) & ~drives & (so != sd)
        seconds = np.where(
            dist <= WALK_LIMIT_M,
            dist / WALK_MPS,
            np.where(
                drives,
                dist / DRIVE_MPS + 300,
                np.where(
                    subway, walk_o + STATION_IN_S + ride + STATION_OUT_S + walk_d, dist / WALK_MPS
                ),
            ),
        )
        seconds = np.where(origin == dest, 0, np.maximum(seconds, 60))
        return seconds.astype(np.int64), subway, walk_o.astype(np.int64), walk_d.astype(np.int64)


def _clock(
    rng: np.random.Generator, n: int, mean_h: float, sd_min: float, lo_h: float, hi_h: float
) -> NDArray[np.float64]:
    return np.clip(rng.normal(mean_h * 3600, sd_min * 60, n), lo_h * 3600, hi_h * 3600)


def _plan_slots(
    pop: Population,
    weekday: int,
    stay_home: NDArray[np.bool_],
    test_today: NDArray[np.bool_],
    rng: np.random.Generator,
) -> tuple[
    dict[str, NDArray[np.int64]], dict[str, NDArray[np.float64]], dict[str, NDArray[np.float64]]
]:
    """Each person's place per slot (-1: unused), end targets and durations for the day."""
    n = pop.count
    nan = np.full(n, np.nan)
    none = np.full(n, -1, dtype=np.int64)
    weekend = weekday >= 5
    social = pop.sociability

    def u() -> NDArray[np.float64]:
        """A fresh uniform draw per person, one per decision."""
        return rng.random(n)

    fav = pop.fav

    place = {s: none.copy() for s in _SLOTS}
    target = {s: nan.copy() for s in _SLOTS}
    dur = {s: nan.copy() for s in _SLOTS}
    place["home_am"] = pop.home.copy()
    place["home_pm"] = pop.home.copy()

    works_today = (pop.role == WORKER) & (
        u() < (0.96 if not weekend else (0.2 if weekday == 5 else 0.08))
    )
    school_today = (pop.role == STUDENT) & (not weekend)
    day_job = works_today | school_today

    # Morning at home until leaving for work/school, or a lazier start for everyone else.
    work_start = np.where(
        school_today, _clock(rng, n, 8.3, 10, 7.8, 9.0), _clock(rng, n, 9.0, 35, 7.0, 10.5)
    )
    target["home_am"] = np.where(
        day_job, work_start - 2400, _clock(rng, n, 10.0 if weekend else 9.5, 60, 7.5, 13.0)
    )

    # Morning outing for people without a day job (market, park, store; church on Sunday).
    free = ~day_job & (pop.role != PRESCHOOL)
    r = u()
    morning = np.where(r < 0.4, fav["market"], np.where(r < 0.7, fav["park"], fav["store"]))
    go = free & (u() < np.clip((0.45 if weekend else 0.55) * social, 0, 0.95))
    place["morning"] = np.where(go, morning, -1)
    dur["morning"] = rng.uniform(20, 100, n) * 60
    toddler_park = (pop.role == PRESCHOOL) & (u() < 0.3)
    place["morning"] = np.where(toddler_park, fav["park"], place["morning"])
    if weekday == 6:
        church = pop.churchgoer & (u() < 0.8)
        place["morning"] = np.where(church, fav["church"], place["morning"])
        target["home_am"] = np.where(church, _clock(rng, n, 9.8, 20, 8.5, 10.5), target["home_am"])
        dur["morning"] = np.where(church, rng.uniform(90, 150, n) * 60, dur["morning"])

    # Work or school.
    place["work_am"] = np.where(day_job, pop.work, -1)
    lunch_at = _clock(rng, n, 12.0, 15, 11.3, 13.0)
    target["work_am"] = np.where(school_today, _clock(rng, n, 15.8, 40, 14.5, 17.5), lunch_at)
    lunch_pick = rng.integers(0, 4, n)
    lunch_place = np.select(
        [lunch_pick == 0, lunch_pick == 1, lunch_pick == 2],
        [fav["lunch_a"], fav["lunch_b"], fav["lunch_c"]],
        fav["cafe_work"],
    )
    eats_out = works_today & (u() < 0.85)
    weekend_lunch = (
        ~day_job
        & (pop.role != PRESCHOOL)
        & (u() < np.clip((0.35 if weekend else 0.12) * social, 0, 0.9))
    )
    place["lunch"] = np.where(
        eats_out, lunch_place, np.where(weekend_lunch, fav["restaurant_home"], -1)
    )
    dur["lunch"] = rng.uniform(35, 70, n) * 60
    place["work_pm"] = np.where(works_today, pop.work, -1)
    target["work_pm"] = _clock(rng, n, 18.5, 45, 16.5, 21.5)

    # Errand: store, cafe or gym; a clubber going out tonight rests at home instead.
    r = u()
    errand = np.select(
        [r < 0.45, r < 0.75],
        [fav["store"], np.where(day_job, fav["cafe_work"], fav["cafe_home"])],
        fav["park"],
    )
    errand = np.where(pop.gym_member & (u() < 0.4), fav["gym"], errand)
    go = (pop.role != PRESCHOOL) & (u() < np.clip(0.3 * social, 0, 0.9))
    place["errand"] = np.where(go, errand, -1)
    dur["errand"] = (
        np.where(errand == fav["gym"], rng.uniform(50, 100, n), rng.uniform(10, 60, n)) * 60
    )

    # Evening out: dinner with colleagues or friends, karaoke after, church on Wednesday.
    r = u()
    evening = np.select(
        [r < 0.7, r < 0.85], [fav["restaurant_out"], fav["karaoke"]], fav["cafe_home"]
    )
    p_out = (0.35 if weekday in (4, 5) else 0.18) * social
    go = (pop.age >= 16) & (u() < np.clip(p_out, 0, 0.9)) & (pop.role != PRESCHOOL)
    place["evening"] = np.where(go, evening, -1)
    dur["evening"] = (
        np.where(evening == fav["karaoke"], rng.uniform(60, 150, n), rng.uniform(60, 150, n)) * 60
    )
    if weekday == 2:
        wed = pop.churchgoer & (u() < 0.25)
        place["evening"] = np.where(wed, fav["church"], place["evening"])
        dur["evening"] = np.where(wed, rng.uniform(60, 100, n) * 60, dur["evening"])
    if weekday in (4, 5):
        clubbing = pop.clubber & (u() < 0.35)
        place["errand"] = np.where(clubbing, pop.home, place["errand"])
        target["errand"] = np.where(
            clubbing, _clock(rng, n, 22.3, 30, 21.0, 23.5), target["errand"]
        )
        dur["errand"] = np.where(clubbing, np.nan, dur["errand"])
        place["evening"] = np.where(clubbing, fav["club"], place["evening"])
        dur["evening"] = np.where(clubbing, rng.uniform(150, 330, n) * 60, dur["evening"])

    # Staying home: isolation, waiting for a result, or feeling unwell.
    for s in _SLOTS[1:-1]:
        place[s] = np.where(stay_home, -1, place[s])
    # Test day: home, then a screening clinic mid-morning, then home to wait for the result.
    for s in _SLOTS[1:-1]:
        place[s] = np.where(test_today, -1, place[s])
    place["morning"] = np.where(test_today, fav["hospital"], place["morning"])
    target["home_am"] = np.where(test_today, _clock(rng, n, 10.0, 45, 9.0, 12.0), target["home_am"])
    dur["morning"] = np.where(test_today, rng.uniform(25, 60, n) * 60, dur["morning"])
    place["home_am"] = pop.home
    return place, target, dur


def day_stays(
    pop: Population,
    travel: Travel,
    carry: CarryOver,
    weekday: int,
    stay_home: NDArray[np.bool_],
    test_today: NDArray[np.bool_],
    rng: np.random.Generator,
) -> tuple[DayStays, CarryOver]:
    """Everyone's true stays for one day (weekday 0 = Monday), and where they are at midnight."""
    n = pop.count
    place, target, dur = _plan_slots(pop, weekday, stay_home, test_today, rng)
    kinds = travel.places.kind

    # Columns in time order: the carried stay, then per slot
    # [origin station, destination station, place].
    cols = 1 + 3 * len(_SLOTS)
    grid_place = np.full((n, cols), -1, dtype=np.int64)
    grid_start = np.zeros((n, cols), dtype=np.int64)
    grid_end = np.zeros((n, cols), dtype=np.int64)
    grid_place[:, 0] = np.where(carry.until > 0, carry.place, -1)
    grid_end[:, 0] = np.maximum(carry.until, 0)
    t = carry.until.copy()  # time the person is free to leave the previous place
    prev = carry.place.copy()
    done = np.zeros(n, dtype=bool)  # the day's schedule ran into midnight

    for k, slot in enumerate(_SLOTS):
        dest = place[slot]
        active = (dest >= 0) & ~done
        moving = active & (dest != prev)
        seconds, subway, walk_o, walk_d = travel.plan(
            prev, np.where(active, dest, prev), pop.drives
        )
        start = np.where(moving, t + seconds, np.maximum(t, 0))
        if slot != "home_pm":
            # Venues are visited only while open; skip a visit that would not fit.
            kd = kinds[np.maximum(dest, 0)]
            bound = _TIME_BOUND_KINDS[kd]
            closes = _CLOSES[kd] - MIN_STAY
            ok = ~bound | ((start >= _OPENS[kd]) & (start <= closes))
            ok &= start < DAY - 900
            active &= ok
            moving &= ok
        end = np.where(
            np.isnan(target[slot]),
            start + np.nan_to_num(dur[slot]),
            np.maximum(start + MIN_STAY, np.nan_to_num(target[slot])),
        ).astype(np.int64)
        if slot == "home_pm":
            end = np.full(n, DAY, dtype=np.int64)
            active &= start < DAY
        moving &= active
        col = 1 + 3 * k
        # Some transit trips are by bus, and outside subway hours (05:30-01:00) by taxi:
        # the same travel time, but no station stays.
        board = (t + walk_o) % DAY
        by_train = rng.random(n) >= BUS_SHARE
        in_hours = (board >= _OPENS[_STATION]) | (board < LAST_TRAIN_S - DAY)
        sub = moving & subway & by_train & in_hours
        so = travel.station_of[prev]
        sd = travel.station_of[np.maximum(dest, 0)]
        grid_place[:, col] = np.where(sub, so, -1)
        grid_start[:, col] = t + walk_o
        grid_end[:, col] = t + walk_o + STATION_IN_S
        grid_place[:, col + 1] = np.where(sub, sd, -1)
        grid_start[:, col + 1] = start - walk_d - STATION_OUT_S
        grid_end[:, col + 1] = start - walk_d
        grid_place[:, col + 2] = np.where(active, dest, -1)
        grid_start[:, col + 2] = start
        grid_end[:, col + 2] = end
        t = np.where(active, end, t)
        prev = np.where(active, dest, prev)
        if slot != "home_pm":
            done |= active & (end >= DAY)

    # Whoever is not home by midnight carries the last place (and its remaining time) over.
    at_home = grid_place[:, -1] >= 0
    next_carry = CarryOver(
        place=np.where(at_home, pop.home, prev), until=np.where(at_home, 0, t - DAY)
    )
    # Stations can't be entered before midnight of this day: drop any that start negative.
    grid_end = np.minimum(grid_end, DAY)
    keep = (grid_place >= 0) & (grid_end > grid_start) & (grid_start >= 0) & (grid_start < DAY)
    person = np.broadcast_to(np.arange(n, dtype=np.int64)[:, None], grid_place.shape)[keep]
    stays = DayStays(
        person=person, place=grid_place[keep], start=grid_start[keep], end=grid_end[keep]
    )
    return stays, next_carry
