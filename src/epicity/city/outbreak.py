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

The response to the outbreak is a `Response`. The default is the model the generated cities use
(contacts infected by a confirmed case are found with a per-setting chance and tested a day or
two after its confirmation, without quarantine before; testing is unlimited), decided when each
person is infected. Any other setting switches to a day-by-day model of testing and tracing
(`_Tracer`): a queue of people waiting for a test served up to a daily capacity, and contacts
(>= 15 minutes of co-presence, infected or not) of each confirmed case warned after a delay,
quarantined from the warning and tested. The default draws the same random numbers in the same
order as before the response existed, so generated cities are unchanged.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from epicity.city.places import KINDS, Places
from epicity.city.routines import DAY, CarryOver, DayStays

__all__ = ["NEVER", "Outbreak", "Response"]

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


# Day-by-day testing and tracing (a non-default Response only).
CONTACT_MIN_S = 15 * 60  # a close contact spends >= 15 minutes with the case (WHO, 2020)
# Contacts are traced from 2 days before onset, or before the test when asymptomatic (KDCA
# case-management guideline, 2020).
LOOKBACK_S = 2 * DAY
DETECTABLE_AFTER_DAYS = 2  # a test finds an infection from its 2nd day (as the default's tracing)
TEST_AT_S = 10 * 3600  # tests are taken mid-morning (routines.py: the screening clinic's visit)
SAME_DAY_RESULT_SHARE = 0.6  # as the default: most results within 6 hours, late samples next day
RESULT_SAME_DAY_S = 16 * 3600  # a same-day result arrives mid-afternoon
RESULT_NEXT_DAY_S = DAY + 9 * 3600  # a late sample's result arrives next morning
ISOLATION_DAYS = 14  # confirmed cases are counted as isolated for this long
LOG_DAYS = MAX_INFECTIOUS_DAYS + 7  # contacts are kept this long for tracing
# Where people stay together long enough to be close contacts. In markets, parks, stores,
# stations and the screening clinic people move about and keep apart: 15 minutes there is not
# a close contact (an infection there still makes its pair a contact).
_CLOSE_KIND = np.array(
    [k.name not in ("market", "park", "store", "subway_station", "hospital") for k in KINDS]
)


@dataclass(frozen=True)
class Response:
    """How the city answers the outbreak: warning of contacts, their reach, testing capacity.

    The default (all three None) is the model the generated cities use, decided when a person
    is infected: infected contacts of a confirmed case are found with a per-setting chance and
    tested 1-2 days after its confirmation, without quarantine before their test; testing is
    unlimited. Any other value switches to the day-by-day model (see the module docstring).

    Attributes:
        warning_delay: seconds from a case's positive result to the warning of its contacts,
            who quarantine from the moment they are warned and are tested the next day (or once
            an infection would show); None: no warning, contacts are tested 1-2 days after
            the confirmation and keep their routine until then.
        reach: share of a case's contacts that tracing reaches, in every setting; None: the
            per-setting chance of today's model (named contacts at home and work, strangers at
            venues less often).
        tests_per_day: tests the city can take a day; beyond it people wait in turn
            (first asked, first tested), so results come later. None: unlimited.
        quarantine_days: days of quarantine after the last contact with the case.

    Example:
        >>> Response(warning_delay=600, reach=0.8).is_default
        False
    """

    warning_delay: float | None = None
    reach: float | None = None
    tests_per_day: int | None = None
    quarantine_days: int = 14

    @property
    def is_default(self) -> bool:
        """Whether this is today's model (the one generated cities use)."""
        return self.warning_delay is None and self.reach is None and self.tests_per_day is None

    def validate(self) -> None:
        """Raise ValueError naming the field when a value is unusable."""
        if self.warning_delay is not None and not 0 <= self.warning_delay < np.inf:
            raise ValueError(
                f"warning_delay: must be a non-negative number of seconds, got {self.warning_delay}"
            )
        if self.reach is not None and not 0 <= self.reach <= 1:
            raise ValueError(f"reach: must be a share between 0 and 1, got {self.reach}")
        if self.tests_per_day is not None and self.tests_per_day < 0:
            raise ValueError(f"tests_per_day: must not be negative, got {self.tests_per_day}")
        if not 1 <= self.quarantine_days <= 60:
            raise ValueError(
                f"quarantine_days: must be between 1 and 60, got {self.quarantine_days}"
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
    response: Response = field(default_factory=Response)
    tracer: _Tracer | None = None  # the day-by-day model, for a non-default response

    @classmethod
    def start(
        cls,
        people: int,
        seeds: int,
        scale: float,
        rng: np.random.Generator,
        response: Response | None = None,
    ) -> Outbreak:
        """A city with `seeds` people infected during the 6 days before day 0.

        A non-default `response` gets its own random stream (spawned, so the city's stream
        draws the same numbers whatever the response).
        """
        response = response or Response()
        response.validate()
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
            response=response,
        )
        if not response.is_default:
            ob.tracer = _Tracer(ob, rng.spawn(1)[0])
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
        same_day = rng.random(n) < 0.6  # most results arrive within 6 hours; late samples next day
        if self.tracer is not None:
            # The day-by-day model tests and traces; only the symptoms' request is kept (the
            # draws above are made all the same, so both models see the same infections).
            self.tracer.infected(who, by_symptoms.astype(np.int64))
            return
        self.test_day[who] = np.minimum(test, NEVER)
        self.confirmed_day[who] = np.where(test >= NEVER, NEVER, test + np.where(same_day, 0, 1))

    def day_status(self, day: int) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
        """Who stays home today (isolated, awaiting a result, or sick) and who gets tested.

        With a non-default response this also takes the day's tests, sends the warnings due
        and adds who is in quarantine; call it once per day, before the day's stays.
        """
        if self.tracer is not None:
            return self.tracer.day_status(day)
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
        if self.tracer is not None:
            self.tracer.log_contacts(
                day,
                s_person[pair_src],
                target,
                s_place[pair_src],
                overlap,
                overlap_start,
                stays,
                places,
            )
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
        if self.tracer is not None:
            self.tracer.log_infections(day, source, who, places.kind[place].astype(np.int64), when)
        return len(who)

    def confine(
        self, day: int, stays: DayStays, carry: CarryOver, home: NDArray[np.int64]
    ) -> tuple[DayStays, CarryOver]:
        """Cut the day of people warned during it: home from the moment of the warning.

        The stays come from `routines.day_stays`; people quarantined for the whole day already
        stayed home (`day_status`). The default response warns nobody: stays are unchanged.
        """
        if self.tracer is None:
            return stays, carry
        return self.tracer.confine(day, stays, carry, home)

    def day_counts(self, day: int) -> dict[str, int]:
        """The day's aggregate counts; call after `transmit` for that day.

        Keys: new_infections (infected during the day), new_confirmed (positive results that
        day), tests (taken that day), waiting_for_test (in the queue after the day's tests),
        warned (contacts warned that day), in_isolation (confirmed in the last
        `ISOLATION_DAYS` days), in_quarantine (quarantined at some time of the day, not
        confirmed). Today's model warns and quarantines nobody and never queues.
        """
        infected_day = np.floor(self.infected_at / DAY)
        confirmed = self.confirmed_day.astype(np.int64)
        counts = {
            "new_infections": int(np.count_nonzero(infected_day == day)),
            "new_confirmed": int(np.count_nonzero(confirmed == day)),
            "tests": int(np.count_nonzero(self.test_day == day)),
            "waiting_for_test": 0,
            "warned": 0,
            "in_isolation": int(
                np.count_nonzero((confirmed <= day) & (day < confirmed + ISOLATION_DAYS))
            ),
            "in_quarantine": 0,
        }
        if self.tracer is not None:
            t = self.tracer
            counts["tests"] = t.tests_today
            counts["waiting_for_test"] = t.waiting
            counts["warned"] = t.warned_today
            counts["in_quarantine"] = int(np.count_nonzero(t.quarantined(day) & (confirmed > day)))
        return counts


class _Tracer:
    """The day-by-day testing and tracing of a non-default `Response`.

    Each day: the queue of people waiting for a test is served up to the capacity (first
    asked, first tested); a test is positive when the person is infected and the infection
    shows (from its 2nd day, or once symptomatic); each positive result schedules the warning
    of the case's close contacts since the lookback start; warned contacts who are reached
    quarantine from the warning (or, without a warning delay, just queue for a test).
    """

    def __init__(self, ob: Outbreak, rng: np.random.Generator) -> None:
        n = len(ob.infected_at)
        self.ob = ob
        self.response = ob.response
        self.rng = rng
        self.symptom_test = np.full(n, NEVER, dtype=np.int64)  # waits for a test from this day
        self.trace_test = np.full(n, NEVER, dtype=np.int64)  # (as a traced contact)
        self.result_day = np.full(n, -1, dtype=np.int64)  # day of the latest result
        self.q_from = np.full(n, np.inf)  # quarantined from this second ...
        self.q_until = np.full(n, -1, dtype=np.int64)  # ... to the end of this day
        self.test_today = np.zeros(n, dtype=bool)
        self.traced = np.zeros(n, dtype=bool)  # cases whose contacts were warned
        # Close contacts of infectious people: (day, source, contact, kind, second).
        self.log: deque[
            tuple[int, NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]
        ] = deque()
        self.pending: list[tuple[NDArray[np.int64], NDArray[np.float64]]] = []  # (case, warn at)
        self.tests_today = 0
        self.waiting = 0
        self.warned_today = 0

    def infected(self, who: NDArray[np.int64], by_symptoms: NDArray[np.int64]) -> None:
        """New infections: symptomatic people ask for a test on the day drawn for them."""
        self.symptom_test[who] = np.minimum(self.symptom_test[who], by_symptoms)

    def quarantined(self, day: int) -> NDArray[np.bool_]:
        """Who is in quarantine at some time of `day`."""
        return (self.q_from < (day + 1) * DAY) & (day <= self.q_until)

    def day_status(self, day: int) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
        """Take the day's tests, send the warnings due today; who stays home, who is tested."""
        ob = self.ob
        # Warnings due today from earlier results, so those called in are tested today; then
        # the tests; then warnings of today's results that fall within today.
        self.warned_today = 0
        self._warn(day)
        self._test(day)
        self._warn(day)
        isolated = ob.confirmed_day <= day
        awaiting = (ob.test_day < day) & (day <= self.result_day)
        sick = (ob.onset <= day * DAY) & ob.sick_stays_home
        all_day = (self.q_from < day * DAY) & (day <= self.q_until)
        return isolated | awaiting | sick | all_day, self.test_today & ~isolated

    def _test(self, day: int) -> None:
        ob = self.ob
        want = np.minimum(self.symptom_test, self.trace_test)
        awaiting = (ob.test_day < day) & (day <= self.result_day)
        queue = np.flatnonzero((want <= day) & (ob.confirmed_day == NEVER) & ~awaiting)
        # Symptomatic people first (KDCA's priority for suspected cases), then first asked,
        # first tested; ties in a random order.
        symptomatic = self.symptom_test[queue] <= day
        queue = queue[np.lexsort((self.rng.random(len(queue)), want[queue], ~symptomatic))]
        capacity = self.response.tests_per_day
        tested = queue if capacity is None else queue[:capacity]
        self.waiting = len(queue) - len(tested)
        self.tests_today = len(tested)
        self.test_today[:] = False
        self.test_today[tested] = True
        ob.test_day[tested] = day
        self.trace_test[tested] = np.where(
            self.trace_test[tested] <= day, NEVER, self.trace_test[tested]
        )
        self.symptom_test[tested] = np.where(
            self.symptom_test[tested] <= day, NEVER, self.symptom_test[tested]
        )
        infected_at = ob.infected_at[tested]
        infected = ~np.isnan(infected_at)
        shows = (day >= np.floor(np.nan_to_num(infected_at) / DAY) + DETECTABLE_AFTER_DAYS) | (
            np.nan_to_num(ob.onset[tested], nan=np.inf) <= day * DAY + TEST_AT_S
        )
        positive = infected & shows
        # An infection too recent to show is found by a follow-up test once it shows (today's
        # model tests traced contacts no earlier than that).
        early = tested[infected & ~shows]
        self.trace_test[early] = np.minimum(
            self.trace_test[early],
            np.floor(ob.infected_at[early] / DAY).astype(np.int64) + DETECTABLE_AFTER_DAYS,
        )
        same_day = self.rng.random(len(tested)) < SAME_DAY_RESULT_SHARE
        result_day = day + np.where(same_day, 0, 1)
        self.result_day[tested] = result_day
        cases = tested[positive]
        ob.confirmed_day[cases] = result_day[positive]
        if not len(cases):
            return
        delay = self.response.warning_delay
        if delay is None:
            # Today's practice: the contacts are called in for a test 1-2 days after.
            warn = (result_day[positive] + self.rng.integers(1, 3, len(cases))) * float(DAY)
        else:
            result_at = np.where(same_day, RESULT_SAME_DAY_S, RESULT_NEXT_DAY_S)[positive]
            warn = day * DAY + result_at + delay
        self.pending.append((cases, warn.astype(np.float64)))

    def _warn(self, day: int) -> None:
        if not self.pending:
            return
        ob = self.ob
        cases = np.concatenate([c for c, _ in self.pending])
        warn = np.concatenate([w for _, w in self.pending])
        due = warn < (day + 1) * DAY
        self.pending = [(cases[~due], warn[~due])] if (~due).any() else []
        cases, warn = cases[due], warn[due]
        self.traced[cases] = True
        if not len(cases) or not self.log:
            return
        n = len(ob.infected_at)
        warn_of = np.full(n, np.nan)
        warn_of[cases] = warn
        onset = ob.onset[cases]
        since = np.full(n, np.nan)
        since[cases] = (
            np.where(np.isnan(onset), ob.test_day[cases] * float(DAY), onset) - LOOKBACK_S
        )
        src = np.concatenate([e[1] for e in self.log])
        dst = np.concatenate([e[2] for e in self.log])
        kind = np.concatenate([e[3] for e in self.log])
        at = np.concatenate([e[4] for e in self.log])
        sel = ~np.isnan(warn_of[src])
        src, dst, kind, at = src[sel], dst[sel], kind[sel], at[sel]
        sel = (at >= since[src]) & (at <= warn_of[src]) & (ob.confirmed_day[dst] == NEVER)
        src, dst, kind, at = src[sel], dst[sel], kind[sel], at[sel]
        if not len(src):
            return
        # One chance per (case, contact) pair, the best setting's: a housemate met at a
        # restaurant is still a housemate.
        chance = (
            _TRACE[kind] if self.response.reach is None else np.full(len(kind), self.response.reach)
        )
        pair = src * n + dst
        order = np.lexsort((-chance, pair))
        pair, dst, chance, at = pair[order], dst[order], chance[order], at[order]
        first = np.ones(len(pair), dtype=bool)
        first[1:] = pair[1:] != pair[:-1]
        starts = np.flatnonzero(first)
        last = np.maximum.reduceat(at, starts)
        w = warn_of[src[order][starts]]
        dst = dst[starts]
        reached = self.rng.random(len(dst)) < chance[starts]
        dst, last, w = dst[reached], last[reached], w[reached]
        if not len(dst):
            return
        # A contact of several cases: the earliest warning, the latest contact.
        order = np.lexsort((w, dst))
        dst, last, w = dst[order], last[order], w[order]
        first = np.ones(len(dst), dtype=bool)
        first[1:] = dst[1:] != dst[:-1]
        starts = np.flatnonzero(first)
        w = w[starts]
        last = np.maximum.reduceat(last, starts)
        dst = dst[starts]
        self.warned_today += len(dst)
        last_day = np.floor(last / DAY).astype(np.int64)
        warn_day = np.floor(w / DAY).astype(np.int64)
        if self.response.warning_delay is None:
            test_day = warn_day
        else:
            in_q = self.q_until[dst] >= day
            self.q_from[dst] = np.where(in_q, np.minimum(self.q_from[dst], w), w)
            self.q_until[dst] = np.maximum(
                np.where(in_q, self.q_until[dst], -1), last_day + self.response.quarantine_days
            )
            test_day = warn_day + 1
        self.trace_test[dst] = np.minimum(self.trace_test[dst], test_day)

    def log_contacts(
        self,
        day: int,
        source: NDArray[np.int64],
        target: NDArray[np.int64],
        place: NDArray[np.int64],
        overlap: NDArray[np.int64],
        overlap_start: NDArray[np.int64],
        stays: DayStays,
        places: Places,
    ) -> None:
        """Keep the day's close contacts of infectious people (all pairs of their stays)."""
        keep = (overlap >= CONTACT_MIN_S) & (target != source) & _CLOSE_KIND[places.kind[place]]
        source, target, place = source[keep], target[keep], place[keep]
        kind = places.kind[place].astype(np.int64)
        # At work and school a person is close to a team, not to everyone in the building.
        present = np.bincount(stays.place, minlength=places.count)[place]
        team = np.minimum(1.0, _TEAM[kind] / np.maximum(present, 1))
        close = self.rng.random(len(team)) < team
        at = day * float(DAY) + overlap_start[keep][close]
        self.log.append((day, source[close], target[close], kind[close], at))
        while self.log and self.log[0][0] < day - LOG_DAYS:
            self.log.popleft()

    def log_infections(
        self,
        day: int,
        source: NDArray[np.int64],
        target: NDArray[np.int64],
        kind: NDArray[np.int64],
        when: NDArray[np.float64],
    ) -> None:
        """An infection makes its pair a contact, however short or crowded the encounter.

        Someone infected by a case whose contacts were already warned (a housemate, since
        cases isolate at home) is followed up as that case's contact from the infection on,
        as today's model does.
        """
        self.log.append((day, source, target, kind, when.astype(np.float64)))
        late = self.traced[source]
        if not late.any():
            return
        target, kind, when = target[late], kind[late], when[late]
        chance = _TRACE[kind] if self.response.reach is None else self.response.reach
        reached = self.rng.random(len(target)) < chance
        target, when = target[reached], when[reached]
        infected_day = np.floor(when / DAY).astype(np.int64)
        test_day = infected_day + DETECTABLE_AFTER_DAYS
        if self.response.warning_delay is not None:
            in_q = self.q_until[target] >= day
            self.q_from[target] = np.where(in_q, np.minimum(self.q_from[target], when), when)
            self.q_until[target] = np.maximum(
                self.q_until[target], infected_day + self.response.quarantine_days
            )
        self.trace_test[target] = np.minimum(self.trace_test[target], test_day)

    def confine(
        self, day: int, stays: DayStays, carry: CarryOver, home: NDArray[np.int64]
    ) -> tuple[DayStays, CarryOver]:
        """People warned during `day` go home at the warning and stay there."""
        q_from = self.q_from
        who = np.flatnonzero(
            (q_from >= day * DAY)
            & (q_from < (day + 1) * DAY)
            & (day <= self.q_until)
            & (self.ob.confirmed_day > day)
        )
        if not len(who):
            return stays, carry
        cut = np.full(len(home), DAY, dtype=np.int64)
        cut[who] = np.ceil(q_from[who] - day * DAY).astype(np.int64)
        c = cut[stays.person]
        keep = stays.start < c
        person = np.concatenate([stays.person[keep], who])
        place = np.concatenate([stays.place[keep], home[who]])
        start = np.concatenate([stays.start[keep], cut[who]])
        end = np.concatenate([np.minimum(stays.end[keep], c[keep]), np.full(len(who), DAY)])
        order = np.lexsort((start, person))
        carry_place, carry_until = carry.place.copy(), carry.until.copy()
        carry_place[who], carry_until[who] = home[who], 0
        return (
            DayStays(person[order], place[order], start[order], end[order]),
            CarryOver(carry_place, carry_until),
        )
