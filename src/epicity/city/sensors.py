"""What the city's systems record of the true stays: GPS fixes, cell records, cards, visitor logs.

Each generator takes one day's true stays (for a block of people) and returns plain arrays with
seconds after local midnight; `generate.py` turns them into the documented tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from epicity.city.places import KINDS, Places, Towers, kind_code
from epicity.city.population import Population
from epicity.city.routines import DAY, DayStays

__all__ = [
    "Records",
    "card_records",
    "cell_records",
    "entry_records",
    "gps_records",
    "positions_at",
]

_CARD_RATE = np.array([k.card_rate for k in KINDS])
_AMOUNT = np.array([k.amount_krw for k in KINDS], dtype=np.float64)
_VISITOR_LOG = np.array([k.visitor_log for k in KINDS])
_INDOOR = np.array([k.indoor for k in KINDS])
# When in a visit the card is used: 0 = on arrival (cafe counter, transit gate), 1 = on leaving.
_PAY_AT = np.array(
    [
        {"cafe": 0.0, "subway_station": 0.0, "karaoke": 0.1, "gym": 0.0, "club": 0.2}.get(
            k.name, 0.95
        )
        for k in KINDS
    ]
)

GPS_STATIONARY_S = 1800.0  # apps report rarely while the phone is still (batched, geofenced)
GPS_MOVING_S = 300.0  # and often while moving
GPS_GAPS_PER_DAY = 2.0  # app killed, phone off, no signal: periods with no fixes
GPS_GAP_MEAN_S = 3 * 3600
GPS_OUTLIER_SHARE = 0.01  # multipath: a fix far off while reporting normal accuracy
CELL_NIGHT_FACTOR = 0.3  # fewer network events while people sleep (00:00-07:00)
VISITOR_LOG_SHARE = 0.85  # share of visits to high-risk venues that are logged


@dataclass
class Records:
    """Records of one kind: person index, seconds after midnight, and per-kind columns."""

    person: NDArray[np.int64]
    t: NDArray[np.int64]
    columns: dict[str, NDArray[np.generic]]


def positions_at(
    stays: DayStays, places: Places, person: NDArray[np.int64], t: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64], NDArray[np.bool_]]:
    """True position (x, y metres) of each person at time t, the stay index and whether at a place.

    Between stays people move in a straight line from one place to the next.
    """
    key_stays = stays.person * (4 * DAY) + stays.start
    key = person * (4 * DAY) + t.astype(np.int64)
    i = np.searchsorted(key_stays, key, side="right") - 1
    i_safe = np.clip(i, 0, len(stays) - 1)
    has_prev = (i >= 0) & (stays.person[i_safe] == person)
    nxt = np.clip(i + 1, 0, len(stays) - 1)
    has_next = (i + 1 < len(stays)) & (stays.person[nxt] == person)
    at_place = has_prev & (t < stays.end[i_safe])
    a = np.where(has_prev, i_safe, nxt)
    b = np.where(has_next, nxt, a)
    ax, ay = places.x[stays.place[a]], places.y[stays.place[a]]
    bx, by = places.x[stays.place[b]], places.y[stays.place[b]]
    span = np.maximum(stays.start[b] - stays.end[a], 1)
    f = np.clip((t - stays.end[a]) / span, 0.0, 1.0)
    f = np.where(at_place | ~has_prev | ~has_next, 0.0, f)
    x = ax + (bx - ax) * f
    y = ay + (by - ay) * f
    stay = np.where(at_place, a, -1)
    return x, y, stay, at_place


def gps_records(
    stays: DayStays, places: Places, pop: Population, rng: np.random.Generator
) -> Records:
    """Fixes from a location-sharing app: irregular, noisy (5-50 m), with gaps."""
    users = pop.gps_app[stays.person]
    s = DayStays(stays.person[users], stays.place[users], stays.start[users], stays.end[users])
    if len(s) == 0:
        return Records(np.empty(0, np.int64), np.empty(0, np.int64), {})
    # Stationary fixes: Poisson per stay.
    n_stay = rng.poisson((s.end - s.start) / GPS_STATIONARY_S)
    rep = np.repeat(np.arange(len(s)), n_stay)
    t_stay = s.start[rep] + rng.random(len(rep)) * (s.end - s.start)[rep]
    # Moving fixes: Poisson per gap between consecutive stays of the same person.
    same = s.person[1:] == s.person[:-1]
    gap_start = s.end[:-1][same]
    gap_len = np.maximum(s.start[1:][same] - gap_start, 0)
    n_move = rng.poisson(gap_len / GPS_MOVING_S)
    rep_m = np.repeat(np.arange(len(gap_start)), n_move)
    t_move = gap_start[rep_m] + rng.random(len(rep_m)) * gap_len[rep_m]
    person = np.concatenate([s.person[rep], s.person[:-1][same][rep_m]])
    t = np.concatenate([t_stay, t_move])

    # Missing periods: each user loses a few random stretches of the day.
    users_idx = s.person[np.concatenate([[True], s.person[1:] != s.person[:-1]])]
    n_gaps = rng.poisson(GPS_GAPS_PER_DAY, len(users_idx))
    g_person = np.repeat(users_idx, n_gaps)
    g_start = rng.uniform(0, DAY, len(g_person))
    g_end = g_start + rng.exponential(GPS_GAP_MEAN_S, len(g_person))
    if len(g_person):
        order = np.lexsort((g_start, g_person))
        g_person, g_start, g_end = g_person[order], g_start[order], g_end[order]
        gkey = g_person * (4.0 * DAY) + g_start
        j = np.searchsorted(gkey, person * (4.0 * DAY) + t, side="right") - 1
        j_safe = np.clip(j, 0, len(gkey) - 1)
        in_gap = (j >= 0) & (g_person[j_safe] == person) & (t < g_end[j_safe])
        person, t = person[~in_gap], t[~in_gap]

    # Fixes carry whole seconds; a phone reports at most one fix per second.
    t = np.floor(t)
    key = np.sort(person * (4 * DAY) + t.astype(np.int64))
    key = key[np.concatenate([[True], key[1:] != key[:-1]])] if len(key) else key
    person, t = key // (4 * DAY), (key % (4 * DAY)).astype(np.float64)
    x, y, stay, at_place = positions_at(stays, places, person, t)
    indoor = at_place & _INDOOR[places.kind[stays.place[np.maximum(stay, 0)]]]
    accuracy = np.where(indoor, rng.uniform(15, 50, len(t)), rng.uniform(5, 20, len(t)))
    sigma = accuracy / 1.51  # reported accuracy is a 68% radius: r68 = 1.51 sigma (2-D normal)
    x = x + rng.normal(0, 1, len(t)) * sigma
    y = y + rng.normal(0, 1, len(t)) * sigma
    outlier = rng.random(len(t)) < GPS_OUTLIER_SHARE
    angle = rng.uniform(0, 2 * np.pi, int(outlier.sum()))
    radius = rng.uniform(100, 500, int(outlier.sum()))
    x[outlier] += radius * np.cos(angle)
    y[outlier] += radius * np.sin(angle)
    return Records(
        person,
        t.astype(np.int64),
        {"x": x, "y": y, "accuracy_m": np.round(accuracy, 1).astype(np.float32)},
    )


def cell_records(
    stays: DayStays,
    places: Places,
    towers: Towers,
    place_towers: NDArray[np.int64],
    pop: Population,
    rng: np.random.Generator,
) -> Records:
    """Serving-cell records at network events, with handovers while moving; minute resolution.

    `place_towers` holds the three nearest towers of every place; a phone at a place is served by
    the nearest most of the time and by the second or third otherwise (load, walls, reflections).
    """
    phone_people = stays.person[pop.phone[stays.person]]
    phone_people = (
        phone_people[np.concatenate([[True], phone_people[1:] != phone_people[:-1]])]
        if len(phone_people)
        else phone_people
    )
    if len(phone_people) == 0:
        return Records(np.empty(0, np.int64), np.empty(0, np.int64), {})
    rate = pop.cell_rate[phone_people].astype(np.float64)
    # Thinned Poisson: candidate events at the daytime rate, night ones kept with a lower chance.
    n_events = rng.poisson(rate * 24)
    person = np.repeat(phone_people, n_events)
    t = rng.uniform(0, DAY, len(person))
    night = t < 7 * 3600
    keep = ~night | (rng.random(len(t)) < CELL_NIGHT_FACTOR)
    person, t = person[keep], t[keep]

    # Handovers: on some trips the phone is in use and reports each new serving cell.
    same = stays.person[1:] == stays.person[:-1]
    legs = np.flatnonzero(same & pop.phone[stays.person[1:]])
    leg_start = stays.end[legs]
    leg_len = stays.start[legs + 1] - leg_start
    active = (rng.random(len(legs)) < 0.3) & (leg_len > 120)
    legs, leg_start, leg_len = legs[active], leg_start[active], leg_len[active]
    samples = 4
    h_person = np.repeat(stays.person[legs], samples)
    h_t = np.repeat(leg_start, samples) + np.tile(
        (np.arange(samples) + 0.5) / samples, len(legs)
    ) * np.repeat(leg_len, samples)

    person = np.concatenate([person, h_person])
    t = np.concatenate([t, h_t])
    x, y, stay, at_place = positions_at(stays, places, person, t)
    tower_idx = np.empty(len(t), dtype=np.int64)
    choice = np.searchsorted([0.75, 0.95], rng.random(len(t)), side="right")
    place_of = stays.place[np.maximum(stay, 0)]
    tower_idx[at_place] = place_towers[place_of[at_place], choice[at_place]]
    moving = ~at_place
    if moving.any():
        _, nearest = towers.tree.query(np.column_stack([x[moving], y[moving]]))
        tower_idx[moving] = nearest
    # Carriers keep coarse times: truncate to the minute, then drop repeats within a minute.
    minute = (t // 60).astype(np.int64)
    key = np.sort((person * (4 * DAY // 60) + minute) * (len(towers.lat) + 1) + tower_idx)
    key = key[np.concatenate([[True], key[1:] != key[:-1]])]
    tower_idx = key % (len(towers.lat) + 1)
    key //= len(towers.lat) + 1
    person, minute = key // (4 * DAY // 60), key % (4 * DAY // 60)
    return Records(person, minute * 60, {"tower_id": tower_idx + 1})


def card_records(
    stays: DayStays, places: Places, pop: Population, rng: np.random.Generator
) -> Records:
    """Card and transit-card payments during some visits to venues that take cards."""
    kind = places.kind[stays.place]
    p = _CARD_RATE[kind] * pop.card_propensity[stays.person]
    pay = rng.random(len(stays)) < p
    idx = np.flatnonzero(pay)
    length = stays.end[idx] - stays.start[idx]
    t = stays.start[idx] + np.clip(
        _PAY_AT[kind[idx]] * length + rng.normal(0, 90, len(idx)), 0, length - 1
    )
    amount = np.round(_AMOUNT[kind[idx]] * rng.lognormal(0, 0.45, len(idx)), -2)
    is_fare = kind[idx] == kind_code("subway_station")
    amount = np.where(is_fare, 1_250.0, np.maximum(amount, 500.0))
    return Records(
        stays.person[idx],
        t.astype(np.int64),
        {"merchant_id": stays.place[idx] + 1, "amount": amount},
    )


def entry_records(stays: DayStays, places: Places, rng: np.random.Generator) -> Records:
    """QR visitor-log entries at high-risk venues, for most visits, at arrival."""
    kind = places.kind[stays.place]
    idx = np.flatnonzero(_VISITOR_LOG[kind] & (rng.random(len(stays)) < VISITOR_LOG_SHARE))
    length = stays.end[idx] - stays.start[idx]
    t = stays.start[idx] + np.minimum(rng.integers(0, 180, len(idx)), length - 1)
    return Records(stays.person[idx], t.astype(np.int64), {"merchant_id": stays.place[idx] + 1})
