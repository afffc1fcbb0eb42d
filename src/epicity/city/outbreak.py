"""An outbreak seeded into the synthetic city: transmission during true co-presence.

Each day, every infectious person's stays are matched with the stays of others at the same
place and time; the hazard of a pair is a per-setting rate x the overlap x the source's
infectiousness on that day. New infections get an incubation period, symptoms or not, and a test
and confirmation date (by symptoms, or by contact tracing of their source).

Parameters and their sources:
- Infectiousness over days since infection: the generation-time Weibull (shape 2.826, scale
  5.665 days; mean 5.0 days) of Ferretti et al., Science 368:eabb6936 (2020).
- Incubation period: lognormal (meanlog 1.621, sdlog 0.418; median 5.1 days), Lauer et al., Ann
  Intern Med 172:577 (2020).
- Asymptomatic share 0.3 and their relative infectiousness 0.35: Buitrago-Garcia et al., PLoS
  Med 17:e1003346 (2020).
- Household secondary attack rate ~18% (Madewell et al., JAMA Netw Open 3:e2031756, 2020) sets
  the home rate; other settings are scaled from it (places.Kind.transmission and PAIR_RATE).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from epicity.city.places import KINDS, Places
from epicity.city.routines import DAY, DayStays

__all__ = ["NEVER", "Outbreak"]

NEVER = np.iinfo(np.int32).max  # day index meaning "does not happen"
GT_SHAPE, GT_SCALE = 2.826, 5.665  # Ferretti et al. 2020
INCUBATION_MEANLOG, INCUBATION_SDLOG = 1.621, 0.418  # Lauer et al. 2020
ASYMPTOMATIC_SHARE = 0.3
ASYMPTOMATIC_INFECTIOUSNESS = 0.35
HOME_RATE_PER_H = 0.04  # calibrated: household SAR ~20% once isolation and time out are counted
STAY_HOME_WHEN_SICK = 0.5  # share of symptomatic people who stop going out after onset
MAX_INFECTIOUS_DAYS = 14

# Per-pair hourly rate relative to home, by kind. At workplaces and schools a person is close
# to a team or class, not to everyone in the building: the pair rate there is scaled by
# TEAM_SIZE / people present. Venue rates stay per pair, so crowded venues spread more
# (the Itaewon clubs and Guro call-centre clusters of 2020). Rates were set so that an
# unmitigated case infects ~2.5 others (R0 of early 2020), about 40% of them at home.
PAIR_RATE: dict[str, float] = {
    "home": 1.0,
    "office": 0.5,
    "school": 0.2,
    "call_centre": 0.6,
    "restaurant": 1.4,
    "cafe": 0.8,
    "church": 1.0,
    "gym": 1.0,
    "club": 2.0,
    "karaoke": 1.0,
    "hospital": 0.5,
    "store": 0.2,
    "market": 0.05,
    "park": 0.03,
    "subway_station": 0.1,
}
TEAM_SIZE: dict[str, float] = {"office": 12, "school": 25, "call_centre": 40}
_RATE = np.array([PAIR_RATE[k.name] for k in KINDS]) * HOME_RATE_PER_H
_TEAM = np.array([TEAM_SIZE.get(k.name, np.inf) for k in KINDS])
# Longest possible stay of each kind (routines.py), to bound the time-window search.
_MAX_STAY = np.array(
    [
        DAY
        if k.name in ("home", "office", "call_centre", "school")
        else 600
        if k.name == "subway_station"
        else 6 * 3600
        for k in KINDS
    ]
)
# Chance that contact tracing finds someone infected in a setting (named contacts vs strangers).
_TRACE = np.array(
    [
        {
            "home": 0.95,
            "office": 0.8,
            "school": 0.8,
            "call_centre": 0.8,
            "church": 0.6,
            "gym": 0.6,
            "club": 0.6,
            "karaoke": 0.6,
        }.get(k.name, 0.3)
        for k in KINDS
    ]
)


def generation_density(days: NDArray[np.float64]) -> NDArray[np.float64]:
    """Weibull generation-time density (per day) at `days` since infection; 0 before infection."""
    d = np.maximum(days, 0.0) / GT_SCALE
    dens = (GT_SHAPE / GT_SCALE) * d ** (GT_SHAPE - 1) * np.exp(-(d**GT_SHAPE))
    return np.where(days > 0, dens, 0.0)


@dataclass
class Outbreak:
    """Infection state of every person; times are seconds after the first day's local midnight."""

    infected_at: NDArray[np.float64]  # NaN: never infected
    infector: NDArray[np.int64]  # person index, -1 for seeds
    place: NDArray[np.int64]  # place index of infection, -1 for seeds
    asymptomatic: NDArray[np.bool_]
    onset: NDArray[np.float64]  # NaN when asymptomatic or not infected
    test_day: NDArray[np.int32]
    confirmed_day: NDArray[np.int32]
    sick_stays_home: NDArray[np.bool_]
    scale: float = 1.0

    @classmethod
    def start(cls, people: int, seeds: int, scale: float, rng: np.random.Generator) -> Outbreak:
        """A city with `seeds` people infected during the 6 days before day 0."""
        ob = cls(
            infected_at=np.full(people, np.nan),
            infector=np.full(people, -1, dtype=np.int64),
            place=np.full(people, -1, dtype=np.int64),
            asymptomatic=np.zeros(people, dtype=bool),
            onset=np.full(people, np.nan),
            test_day=np.full(people, NEVER, dtype=np.int32),
            confirmed_day=np.full(people, NEVER, dtype=np.int32),
            sick_stays_home=rng.random(people) < STAY_HOME_WHEN_SICK,
            scale=scale,
        )
        who = rng.choice(people, size=min(seeds, people), replace=False)
        ob._infect(
            who,
            rng.uniform(-6 * DAY, 0, len(who)),
            np.full(len(who), -1),
            np.full(len(who), -1),
            np.full(len(who), -1),
            rng,
        )
        return ob

    def _infect(
        self,
        who: NDArray[np.int64],
        when: NDArray[np.float64],
        infector: NDArray[np.int64],
        place: NDArray[np.int64],
        kind: NDArray[np.int64],
        rng: np.random.Generator,
    ) -> None:
        n = len(who)
        self.infected_at[who] = when
        self.infector[who] = infector
        self.place[who] = place
        asym = rng.random(n) < ASYMPTOMATIC_SHARE
        self.asymptomatic[who] = asym
        incubation = rng.lognormal(INCUBATION_MEANLOG, INCUBATION_SDLOG, n) * DAY
        onset = np.where(asym, np.nan, when + incubation)
        self.onset[who] = onset
        # Symptomatic people get tested a few days after onset (Seoul, spring 2020).
        delay = rng.choice(7, size=n, p=[0.15, 0.25, 0.2, 0.15, 0.1, 0.08, 0.07])
        by_symptoms = np.where(asym, NEVER, np.floor(np.nan_to_num(onset) / DAY) + delay)
        # Tracing: contacts of a confirmed source are tested a day or two after it is confirmed.
        src_confirmed = np.where(infector >= 0, self.confirmed_day[np.maximum(infector, 0)], NEVER)
        found = (
            (infector >= 0)
            & (src_confirmed < NEVER)
            & (rng.random(n) < _TRACE[np.maximum(kind, 0)])
        )
        infected_day = np.floor(when / DAY)
        by_tracing = np.where(
            found, np.maximum(src_confirmed + rng.integers(1, 3, n), infected_day + 2), NEVER
        )
        test = np.minimum(by_symptoms, by_tracing).astype(np.int64)
        self.test_day[who] = np.minimum(test, NEVER)
        same_day = rng.random(n) < 0.6  # most results arrive within 6 hours; late samples next day
        self.confirmed_day[who] = np.where(test >= NEVER, NEVER, test + np.where(same_day, 0, 1))

    def day_status(self, day: int) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
        """Who stays home today (isolated, awaiting a result, or sick) and who gets tested."""
        awaiting = (self.test_day < day) & (day <= self.confirmed_day)
        isolated = self.confirmed_day <= day
        sick = (self.onset <= day * DAY) & self.sick_stays_home
        test_today = self.test_day == day
        return isolated | awaiting | sick, test_today & ~isolated

    def transmit(self, day: int, stays: DayStays, places: Places, rng: np.random.Generator) -> int:
        """Infections during this day's co-presence; returns how many people were infected."""
        midday = day * DAY + DAY / 2
        age_days = (midday - self.infected_at) / DAY
        infectious = ~np.isnan(self.infected_at) & (age_days > 0) & (age_days < MAX_INFECTIOUS_DAYS)
        if not infectious.any() or len(stays) == 0:
            return 0
        weight = np.zeros(len(self.infected_at))
        weight[infectious] = generation_density(age_days[infectious]) * np.where(
            self.asymptomatic[infectious], ASYMPTOMATIC_INFECTIOUSNESS, 1.0
        )

        # Stays ordered by (place, start) so co-present stays are a contiguous window.
        order = np.lexsort((stays.start, stays.place))
        s_place, s_start = stays.place[order], stays.start[order]
        s_end, s_person = stays.end[order], stays.person[order]
        key = s_place * (2 * DAY) + s_start
        src = np.flatnonzero(infectious[s_person])
        kind = places.kind[s_place[src]]
        lo = np.searchsorted(
            key, s_place[src] * (2 * DAY) + np.maximum(s_start[src] - _MAX_STAY[kind], 0)
        )
        hi = np.searchsorted(key, s_place[src] * (2 * DAY) + s_end[src])
        count = hi - lo
        pair_src = np.repeat(src, count)
        offsets = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
        pair_dst = np.repeat(lo, count) + offsets
        overlap_start = np.maximum(s_start[pair_src], s_start[pair_dst])
        overlap = np.minimum(s_end[pair_src], s_end[pair_dst]) - overlap_start
        target = s_person[pair_dst]
        ok = (overlap > 0) & (target != s_person[pair_src]) & np.isnan(self.infected_at[target])
        pair_src, pair_dst, target = pair_src[ok], pair_dst[ok], target[ok]
        overlap, overlap_start = overlap[ok], overlap_start[ok]
        pair_place = s_place[pair_src]
        pair_kind = places.kind[pair_place]
        present = np.bincount(stays.place, minlength=places.count)[pair_place]
        team = np.minimum(1.0, _TEAM[pair_kind] / np.maximum(present, 1))
        hazard = self.scale * _RATE[pair_kind] * team * weight[s_person[pair_src]] * overlap / 3600
        if len(hazard) == 0:
            return 0
        # Each target's total hazard decides infection; the source is drawn in proportion to
        # its hazard (an exponential race), the moment uniformly within their overlap.
        race = rng.exponential(size=len(hazard)) / np.maximum(hazard, 1e-300)
        by_target = np.lexsort((race, target))
        target_sorted = target[by_target]
        first = np.ones(len(by_target), dtype=bool)
        first[1:] = target_sorted[1:] != target_sorted[:-1]
        total = np.add.reduceat(hazard[by_target], np.flatnonzero(first))
        winner = by_target[first]
        infected = rng.random(len(winner)) < -np.expm1(-total)
        winner = winner[infected]
        if len(winner) == 0:
            return 0
        who = target[winner]
        when = day * DAY + overlap_start[winner] + rng.random(len(winner)) * overlap[winner]
        source = s_person[pair_src[winner]]
        place = s_place[pair_src[winner]]
        self._infect(who, when, source, place, places.kind[place].astype(np.int64), rng)
        return len(who)
