"""Proximity and Bluetooth on the synthetic city: who was how far from whom, and what phones saw.

The city's ground truth says who stayed at which place when (`truth/stays`), not where in the
place. This module adds the missing metre scale, deterministically from a seed, and derives
what exposure-notification phones would record. Pure NumPy: no database, no files.

Positions within a place
    Each place is a square whose floor area follows its peak occupancy in the run:
    ``area = max(min_area, m2_per_person * peak)`` with per-kind densities (`PLACE_KINDS`: a
    club's dance floor ~1 m² per person, a classroom ~3 m², an open-plan office ~10 m²,
    a home ~15 m² of shared living space). People stand at uniform random spots and move to a
    new spot every `spot_minutes` on average (per kind: seated guests of a restaurant keep
    their table, shoppers and passengers move every few minutes), with a random phase per
    stay. A spot is a hash of (seed, stay, epoch), so everyone's position is the same whichever
    pair asks, and runs are reproducible whatever the processing order. Offices, schools and
    call centres are divided into rooms of a team or class (12, 25 and 40 people, the team
    sizes of `city.outbreak`); a person is in the same room at a place every day, and people
    in different rooms are never within reach of each other (walls are taken as opaque to
    Bluetooth: a simplification that spares exposure notification the false alarms through
    walls that real phones raise).

Time
    Positions are piecewise constant on a grid of `slot_s` seconds (default 300 s, the
    Exposure Notification scan period). An encounter row is one slot shared by two stays at one
    place, with the seconds both spent there in the slot and their distance.

Bluetooth
    A log-distance path-loss model, ``A = A1 + 10 n log10(d / 1 m) + carry_a + carry_b + X_slow
    + X_fast`` (`RadioModel`): A1 the calibrated attenuation at 1 m with both phones in hand;
    n = 2.5 from the Corona-Warn-App's guidance values (55 dB ~ 1.5 m, 63 dB ~ 3 m, 73 dB ~ 8 m,
    cwa-documentation issues #484 and #712, typical carrying included); each phone's carrying
    loss (hand, pocket, bag, the body in between: 0-6 dB, fixed for a stay) on top;
    log-normal shadowing in two parts, a slow one (4 dB) fixed while neither person moves
    (orientation, bodies and furniture in the way) and a fast one (3 dB) per advertisement.
    Leith & Farrell (2020, "Coronavirus contact tracing: evaluating the potential of using
    Bluetooth received signal strength for proximity detection", ACM SIGCOMM CCR 50(4);
    and their bus and tram measurements of the GAEN API) found that body absorption,
    orientation and reflections move the signal by 10 dB or more and that attenuation need not
    grow with distance: the total spread here (~6 dB) is on the optimistic side of theirs.
    Phones scan once per slot at a phase of their own; a scan sees a neighbour's beacon with
    probability `scan_success` when the attenuation is below `max_attenuation_db`, and records
    the typical (mean) and minimum attenuation of the `samples_per_scan` advertisements it
    caught, as the GAEN `ScanInstance` does.

Example::

    stays = Stays(person, place, start, end)          # epoch seconds
    layout = place_layout(stays, place_kind)          # m² and rooms, indexed by place id
    enc = encounters(stays, sources, layout, seed=1)
    seen = scans(enc, seed=1)                          # what the others' phones recorded
    seconds = close_seconds(enc, within_m=2.0)        # the truth, per source, other and day
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from epicity.city.outbreak import TEAM_SIZE

__all__ = [
    "DAY",
    "PLACE_KINDS",
    "Encounters",
    "PlaceKind",
    "PlaceLayout",
    "RadioModel",
    "Scans",
    "Stays",
    "adopters",
    "attenuation_samples",
    "close_seconds",
    "encounters",
    "estimate_distance",
    "mean_attenuation",
    "place_layout",
    "scans",
    "shared_seconds",
]

DAY = 86_400
SLOT_S = 300  # positions and scans: GAEN phones scan about every 5 minutes (BLE spec v1.2)


@dataclass(frozen=True)
class PlaceKind:
    """How people spread out in one kind of place.

    Attributes:
        m2_per_person: floor area per person at the place's peak occupancy.
        min_area_m2: the smallest floor area of such a place.
        spot_minutes: mean time a person keeps a spot before moving to another one.
        team: people per room when the place is divided into rooms (a class, an office team,
            a row of call-centre agents); None: one open space.
    """

    m2_per_person: float
    min_area_m2: float
    spot_minutes: float
    team: float | None = None


# Densities at peak occupancy, rounded from common planning figures: dwelling floor space per
# person in Seoul (~30 m², about half of it shared living space), open-plan offices 8-12 m² per
# desk, call-centre rows ~4 m², classrooms ~66 m² for 25 pupils, restaurant and cafe dining
# areas 1.5-2.5 m² per seat, church pews ~1.5 m², a crowded dance floor ~1 m² (the Itaewon
# clubs of May 2020). Spot times are assumptions: seated people keep their place for the visit
# (a long spot time), people in shops, markets, parks and stations keep walking.
# Workplaces and schools are divided into rooms of a team or class, the sizes the outbreak model
# uses for who is close to whom there (`city.outbreak.TEAM_SIZE`); a person keeps the same room
# every day. Walls between rooms are taken as opaque to Bluetooth (see the module docstring).
PLACE_KINDS: dict[str, PlaceKind] = {
    "home": PlaceKind(15.0, 25.0, 45.0),
    "office": PlaceKind(10.0, 40.0, 90.0, TEAM_SIZE["office"]),
    "school": PlaceKind(3.0, 60.0, 60.0, TEAM_SIZE["school"]),
    "call_centre": PlaceKind(4.0, 100.0, 240.0, TEAM_SIZE["call_centre"]),
    "restaurant": PlaceKind(2.0, 30.0, 600.0),
    "cafe": PlaceKind(2.5, 25.0, 600.0),
    "church": PlaceKind(1.5, 80.0, 600.0),
    "gym": PlaceKind(6.0, 80.0, 15.0),
    "club": PlaceKind(1.0, 60.0, 10.0),
    "karaoke": PlaceKind(3.0, 30.0, 600.0),
    "hospital": PlaceKind(4.0, 100.0, 20.0),
    "store": PlaceKind(5.0, 40.0, 5.0),
    "market": PlaceKind(6.0, 300.0, 5.0),
    "park": PlaceKind(50.0, 5_000.0, 5.0),
    "subway_station": PlaceKind(2.0, 300.0, 5.0),
}
_DEFAULT_KIND = PlaceKind(5.0, 50.0, 30.0)


@dataclass(frozen=True)
class RadioModel:
    """Bluetooth Low Energy attenuation between two phones, and how phones scan.

    Attributes:
        attenuation_1m_db: calibrated attenuation at 1 m, both phones in hand, line of sight.
        exponent: path-loss exponent n (2 in free space; 2.5 fits CWA's guidance values).
        carry_loss_max_db: each phone's carrying loss is uniform in [0, this] dB for a stay.
        slow_sd_db: shadowing fixed while neither person moves (log-normal, in dB).
        fast_sd_db: fading per advertisement within a scan.
        samples_per_scan: advertisements caught in one ~4 s scan (typical = their mean).
        max_attenuation_db: beacons weaker than this are not received.
        scan_success: chance that a scan catches a beacon that is in range.
        min_distance_m: two phones are never closer than this (bodies, pockets).
        slot_s: seconds between scans (and between position updates).
    """

    attenuation_1m_db: float = 45.0
    exponent: float = 2.5
    carry_loss_max_db: float = 6.0
    slow_sd_db: float = 4.0
    fast_sd_db: float = 3.0
    samples_per_scan: int = 3
    max_attenuation_db: float = 90.0
    scan_success: float = 0.9
    min_distance_m: float = 0.3
    slot_s: int = SLOT_S

    def validate(self) -> None:
        """Raise ValueError naming the field when a value is unusable."""
        if not 0 < self.exponent <= 6:
            raise ValueError(f"exponent: must be in (0, 6], got {self.exponent}")
        for name in ("carry_loss_max_db", "slow_sd_db", "fast_sd_db"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: must not be negative, got {getattr(self, name)}")
        if self.samples_per_scan < 1:
            raise ValueError(f"samples_per_scan: must be at least 1, got {self.samples_per_scan}")
        if not 0 <= self.scan_success <= 1:
            raise ValueError(f"scan_success: must be between 0 and 1, got {self.scan_success}")
        if self.min_distance_m <= 0:
            raise ValueError(f"min_distance_m: must be positive, got {self.min_distance_m}")
        if self.slot_s < 60 or DAY % self.slot_s:
            raise ValueError(f"slot_s: must divide a day and be >= 60, got {self.slot_s}")

    @property
    def mean_carry_db(self) -> float:
        """Mean carrying loss of a pair of phones (both ends)."""
        return self.carry_loss_max_db


# --- deterministic hashing (splitmix64), so positions do not depend on processing order ------

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(x: NDArray[np.uint64]) -> NDArray[np.uint64]:
    x = x + _GOLDEN
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def _hash(seed: int, salt: int, *cols: NDArray[np.integer]) -> NDArray[np.uint64]:
    n = len(cols[0])
    h = _mix(np.full(n, (seed * 1_000_003 + salt) & 0xFFFFFFFFFFFFFFFF, dtype=np.uint64))
    for c in cols:
        h = _mix(h ^ np.asarray(c).astype(np.int64).view(np.uint64))
    return h


def _uniform(h: NDArray[np.uint64]) -> NDArray[np.float64]:
    return (h >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def _normal(h: NDArray[np.uint64]) -> NDArray[np.float64]:
    """Standard normal from a hash (Box-Muller on two uniforms drawn from it)."""
    u1 = 1.0 - _uniform(h)  # (0, 1]
    u2 = _uniform(_mix(h))
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2 * np.pi * u2)


# --- stays and places --------------------------------------------------------------------


@dataclass
class Stays:
    """True stays (epoch seconds), as parallel arrays. Person and place ids are any integers
    >= 0; `place_kind` arrays are indexed by place id."""

    person: NDArray[np.int64]
    place: NDArray[np.int64]
    start: NDArray[np.int64]
    end: NDArray[np.int64]

    def __post_init__(self) -> None:
        n = len(self.person)
        if not len(self.place) == len(self.start) == len(self.end) == n:
            raise ValueError("stays: person, place, start and end must have the same length")
        if n and (self.end < self.start).any():
            raise ValueError("stays: a stay ends before it starts")

    def __len__(self) -> int:
        return len(self.person)


@dataclass
class PlaceLayout:
    """Floor area and rooms of every place id (indexed by place id)."""

    area_m2: NDArray[np.float64]  # the whole place
    rooms: NDArray[np.int64]  # rooms it is divided into (1: one open space)
    spot_s: NDArray[np.float64]  # mean seconds a person keeps a spot there

    @property
    def room_side_m(self) -> NDArray[np.float64]:
        """Side of one (square) room."""
        return np.asarray(np.sqrt(self.area_m2 / self.rooms), dtype=np.float64)


def place_layout(
    stays: Stays, place_kind: NDArray[np.str_], kinds: dict[str, PlaceKind] | None = None
) -> PlaceLayout:
    """Floor area and rooms of every place id, from its peak simultaneous occupancy in `stays`.

    `place_kind[p]` names the kind of place id p (`PLACE_KINDS` keys; others get a default).
    """
    kinds = PLACE_KINDS if kinds is None else kinds
    n_places = len(place_kind)
    peak = np.zeros(n_places, dtype=np.int64)
    if len(stays):
        place = np.concatenate([stays.place, stays.place])
        t = np.concatenate([stays.start, stays.end])
        delta = np.concatenate([np.ones(len(stays), np.int64), -np.ones(len(stays), np.int64)])
        # Leaving before arriving at the same second: back-to-back stays do not overlap.
        order = np.lexsort((delta, t, place))
        place, delta = place[order], delta[order]
        running = np.cumsum(delta)
        first = np.ones(len(place), dtype=bool)
        first[1:] = place[1:] != place[:-1]
        starts = np.flatnonzero(first)
        before = np.repeat(running[starts] - delta[starts], np.diff(np.append(starts, len(place))))
        np.maximum.at(peak, place, running - before)
    names, code = np.unique(np.asarray(place_kind, dtype=str), return_inverse=True)
    specs = [kinds.get(str(k), _DEFAULT_KIND) for k in names]
    m2 = np.array([sp.m2_per_person for sp in specs])[code]
    lo = np.array([sp.min_area_m2 for sp in specs])[code]
    team = np.array([sp.team or np.inf for sp in specs])[code]
    spot = np.array([sp.spot_minutes * 60.0 for sp in specs])[code]
    rooms = np.maximum(1, np.round(peak / team)).astype(np.int64)
    return PlaceLayout(np.maximum(lo, m2 * peak), rooms, spot)


# --- encounters ------------------------------------------------------------------------------


@dataclass
class Encounters:
    """One row per slot shared by a source's stay and another person's stay at one place.

    `source` and `other` are person ids, `slot` the slot's start (epoch s), `seconds` the time
    both were there within the slot, `distance_m` their distance in it. `source_stay` and
    `other_stay` index the input stays; `source_epoch` and `other_epoch` number each one's spots
    (the slow shadowing holds while both keep theirs).
    """

    source: NDArray[np.int64]
    other: NDArray[np.int64]
    place: NDArray[np.int64]
    slot: NDArray[np.int64]
    seconds: NDArray[np.int64]
    distance_m: NDArray[np.float64]
    source_stay: NDArray[np.int64]
    other_stay: NDArray[np.int64]
    source_epoch: NDArray[np.int64]
    other_epoch: NDArray[np.int64]
    seed: int = 0
    slot_s: int = SLOT_S
    # The co-present pairs before the split into slots: (source, other, place, start, end).
    pairs: tuple[NDArray[np.int64], ...] = field(default_factory=tuple)

    def __len__(self) -> int:
        return len(self.source)

    def select(self, mask: NDArray[np.bool_]) -> Encounters:
        """The rows where `mask` holds (`pairs` kept whole)."""
        return Encounters(
            self.source[mask],
            self.other[mask],
            self.place[mask],
            self.slot[mask],
            self.seconds[mask],
            self.distance_m[mask],
            self.source_stay[mask],
            self.other_stay[mask],
            self.source_epoch[mask],
            self.other_epoch[mask],
            seed=self.seed,
            slot_s=self.slot_s,
            pairs=self.pairs,
        )


def _co_present(
    stays: Stays, sources: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """(source stay index, other stay index) of every pair of overlapping stays at one place,
    the first of a source person, the second of anyone else."""
    n = len(stays)
    is_source = np.zeros(int(stays.person.max(initial=0)) + 1, dtype=bool)
    is_source[sources[sources <= stays.person.max(initial=0)]] = True
    src = np.flatnonzero(is_source[stays.person])
    if not len(src) or not n:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    order = np.lexsort((stays.start, stays.place))
    s_place, s_start = stays.place[order], stays.start[order]
    base = int(s_start.min())
    span = int(stays.end.max()) - base + 1  # place-major keys: place * span + time
    key = s_place * span + (s_start - base)
    # The longest stay at each place bounds how early an overlapping stay can start.
    longest = np.zeros(int(stays.place.max()) + 1, dtype=np.int64)
    np.maximum.at(longest, stays.place, stays.end - stays.start)
    lo = np.searchsorted(
        key,
        stays.place[src] * span
        + np.maximum(stays.start[src] - longest[stays.place[src]] - base, 0),
    )
    hi = np.searchsorted(key, stays.place[src] * span + (stays.end[src] - base), side="left")
    count = hi - lo
    a = np.repeat(src, count)
    offsets = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    b = order[np.repeat(lo, count) + offsets]
    keep = (
        (stays.person[b] != stays.person[a])
        & (stays.start[b] < stays.end[a])
        & (stays.end[b] > stays.start[a])
    )
    return a[keep], b[keep]


def _co_present_chunked(
    stays: Stays, sources: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """`_co_present` over a long run, a few days at a time (the place-time key stays small)."""
    if not len(stays):
        return np.empty(0, np.int64), np.empty(0, np.int64)
    first = int(stays.start.min())
    day = (stays.start - first) // DAY
    # A stay overlaps only stays that start less than its longest length away.
    reach = int(-(-int((stays.end - stays.start).max()) // DAY))
    out_a, out_b = [], []
    for d in range(0, int(day.max()) + 1, 2):
        # Stays starting on days d and d+1 as sources, with the candidates around them.
        cand = np.flatnonzero((day >= d - reach) & (day <= d + 1 + reach))
        sub = Stays(stays.person[cand], stays.place[cand], stays.start[cand], stays.end[cand])
        a, b = _co_present(sub, sources)
        a, b = cand[a], cand[b]
        mine = (day[a] >= d) & (day[a] <= d + 1)
        out_a.append(a[mine])
        out_b.append(b[mine])
    return np.concatenate(out_a), np.concatenate(out_b)


def _spots(
    stay: NDArray[np.int64],
    t: NDArray[np.int64],
    side: NDArray[np.float64],
    period: NDArray[np.float64],
    phase: NDArray[np.float64],
    seed: int,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
    """(x, y, epoch) of the stays' people at times `t`: a new uniform spot every `period`."""
    epoch = np.floor((t + phase) / period).astype(np.int64)
    h = _hash(seed, 3, stay, epoch)
    # Two 26-bit uniforms from one hash.
    x = side * ((h >> np.uint64(38)).astype(np.float64) * 2.0**-26)
    y = side * (((h >> np.uint64(12)) & np.uint64(0x3FFFFFF)).astype(np.float64) * 2.0**-26)
    return x, y, epoch


def encounters(
    stays: Stays,
    sources: NDArray[np.int64],
    layout: PlaceLayout,
    *,
    seed: int,
    slot_s: int = SLOT_S,
) -> Encounters:
    """Every slot that a source person shared a room with someone else, with distances.

    Args:
        stays: everyone's true stays.
        sources: person ids whose encounters are wanted (e.g. the confirmed cases).
        layout: areas and rooms of the places (`place_layout`).
        seed: positions are a function of the seed and the stay (same seed, same positions).
        slot_s: slot length in seconds.

    `Encounters.pairs` keeps every co-presence at the same place, whatever the room.
    """
    a, b = _co_present_chunked(stays, np.unique(np.asarray(sources, dtype=np.int64)))
    lo = np.maximum(stays.start[a], stays.start[b])
    hi = np.minimum(stays.end[a], stays.end[b])
    place = stays.place[a]
    pairs = (stays.person[a], stays.person[b], place, lo, hi)
    # A person's room at a place is the same every day (their class, their team).
    rooms = layout.rooms[place]
    same_room = _hash(seed, 5, stays.person[a], place) % rooms.astype(np.uint64) == _hash(
        seed, 5, stays.person[b], place
    ) % rooms.astype(np.uint64)
    a, b, lo, hi = a[same_room], b[same_room], lo[same_room], hi[same_room]
    first = lo // slot_s
    count = (hi + slot_s - 1) // slot_s - first
    count = np.where(hi > lo, count, 0)
    rows = np.repeat(np.arange(len(a)), count)
    k = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    slot = (first[rows] + k) * slot_s
    seconds = np.minimum(hi[rows], slot + slot_s) - np.maximum(lo[rows], slot)
    sa, sb = a[rows], b[rows]
    place = stays.place[sa]
    side = layout.room_side_m[place]
    # Each stay moves on its own period (0.5-1.5x the kind's) and phase.
    stay_ids = np.unique(np.concatenate([a, b]))
    spot = layout.spot_s[stays.place[stay_ids]]
    period_of = spot * (0.5 + _uniform(_hash(seed, 1, stay_ids)))
    phase_of = period_of * _uniform(_hash(seed, 2, stay_ids))
    ia, ib = np.searchsorted(stay_ids, sa), np.searchsorted(stay_ids, sb)
    xa, ya, ea = _spots(sa, slot, side, period_of[ia], phase_of[ia], seed)
    xb, yb, eb = _spots(sb, slot, side, period_of[ib], phase_of[ib], seed)
    return Encounters(
        source=stays.person[sa],
        other=stays.person[sb],
        place=place,
        slot=slot,
        seconds=seconds,
        distance_m=np.hypot(xa - xb, ya - yb),
        source_stay=sa,
        other_stay=sb,
        source_epoch=ea,
        other_epoch=eb,
        seed=seed,
        slot_s=slot_s,
        pairs=pairs,
    )


# --- ground truth ------------------------------------------------------------------------


def close_seconds(
    enc: Encounters,
    *,
    within_m: float = 2.0,
    utc_offset_s: int = 9 * 3600,
    windows: dict[int, tuple[int, int]] | None = None,
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """Seconds each (source, other) pair spent within `within_m` metres, per local day.

    Returns (source, other, local day number, seconds), one row per pair and day with time
    close. `windows` (source -> [start, end) epoch seconds) keeps only slots inside the
    source's window (e.g. its infectious period); slots are counted by their overlap with it.
    """
    keep = enc.distance_m < within_m
    src, oth, slot, sec = enc.source[keep], enc.other[keep], enc.slot[keep], enc.seconds[keep]
    if windows is not None:
        src, oth, slot, sec = _clip_to_windows(src, oth, slot, sec, windows, enc.slot_s)
    day = (slot + utc_offset_s) // DAY
    return _sum_by(src, oth, day, sec)


def shared_seconds(
    enc: Encounters,
    indoor: NDArray[np.bool_],
    windows: dict[int, tuple[int, int]],
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """Seconds each (source, other) pair shared an indoor place, per place, within the
    source's window: bench/accuracy.py's same-place ground truth. (source, other, place, s)."""
    source, other, place, lo, hi = enc.pairs
    if not len(source):
        e = np.empty(0, np.int64)
        return e, e, e, e
    w0, w1 = _window_arrays(source, windows)
    s = np.maximum(lo, w0)
    e = np.minimum(hi, w1)
    keep = (e > s) & indoor[place]
    return _sum_by(source[keep], other[keep], place[keep], (e - s)[keep])


def _window_arrays(
    source: NDArray[np.int64], windows: dict[int, tuple[int, int]]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    ids = np.array(sorted(windows), dtype=np.int64)
    bounds = np.array([windows[int(i)] for i in ids], dtype=np.int64).reshape(-1, 2)
    pos = np.searchsorted(ids, source)
    pos = np.minimum(pos, max(len(ids) - 1, 0))
    known = (ids[pos] == source) if len(ids) else np.zeros(len(source), bool)
    w0 = np.where(known, bounds[pos, 0] if len(ids) else 0, 0)
    w1 = np.where(known, bounds[pos, 1] if len(ids) else 0, 0)
    return w0, w1


def _clip_to_windows(
    src: NDArray[np.int64],
    oth: NDArray[np.int64],
    slot: NDArray[np.int64],
    sec: NDArray[np.int64],
    windows: dict[int, tuple[int, int]],
    slot_s: int,
) -> tuple[NDArray[np.int64], ...]:
    w0, w1 = _window_arrays(src, windows)
    inside = np.clip(np.minimum(slot + slot_s, w1) - np.maximum(slot, w0), 0, slot_s)
    # The slot's shared seconds, scaled by the part of the slot inside the window.
    sec = np.minimum(sec, inside)
    keep = sec > 0
    return src[keep], oth[keep], slot[keep], sec[keep]


def _sum_by(
    a: NDArray[np.int64], b: NDArray[np.int64], c: NDArray[np.int64], v: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    if not len(a):
        e = np.empty(0, np.int64)
        return e, e, e, e
    order = np.lexsort((c, b, a))
    a, b, c, v = a[order], b[order], c[order], v[order]
    first = np.ones(len(a), dtype=bool)
    first[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1]) | (c[1:] != c[:-1])
    starts = np.flatnonzero(first)
    return a[starts], b[starts], c[starts], np.add.reduceat(v, starts)


# --- Bluetooth -------------------------------------------------------------------------------


def mean_attenuation(
    distance_m: NDArray[np.float64] | float, radio: RadioModel
) -> NDArray[np.float64]:
    """Expected attenuation (dB) at a distance, with the mean carrying loss of both phones."""
    d = np.maximum(np.asarray(distance_m, dtype=np.float64), radio.min_distance_m)
    return np.asarray(
        radio.attenuation_1m_db + radio.mean_carry_db + 10 * radio.exponent * np.log10(d),
        dtype=np.float64,
    )


def estimate_distance(
    attenuation_db: NDArray[np.float64] | float, radio: RadioModel
) -> NDArray[np.float64]:
    """The distance an attenuation suggests under the model's mean (its inverse)."""
    a = np.asarray(attenuation_db, dtype=np.float64)
    return np.asarray(
        10 ** ((a - radio.attenuation_1m_db - radio.mean_carry_db) / (10 * radio.exponent)),
        dtype=np.float64,
    )


def attenuation_samples(
    distance_m: NDArray[np.float64],
    radio: RadioModel,
    *,
    seed: int,
    keys: tuple[NDArray[np.integer], ...],
) -> NDArray[np.float64]:
    """`samples_per_scan` attenuations (dB) per row: path loss, carrying, shadowing, fading.

    `keys` = (source stay, other stay, source epoch, other epoch, slot) identify each row's
    randomness: the carrying loss follows each stay, the slow shadowing the pair's spots, the
    fading the scan.
    """
    sa, sb, ea, eb, slot = keys
    d = np.maximum(distance_m, radio.min_distance_m)
    carry = radio.carry_loss_max_db * (
        _uniform(_hash(seed, 11, sa)) + _uniform(_hash(seed, 11, sb))
    )
    slow = radio.slow_sd_db * _normal(_hash(seed, 12, sa, sb, ea, eb))
    base = radio.attenuation_1m_db + 10 * radio.exponent * np.log10(d) + carry + slow
    fast = np.stack(
        [
            radio.fast_sd_db * _normal(_hash(seed, 13 + i, sa, sb, slot))
            for i in range(radio.samples_per_scan)
        ],
        axis=1,
    )
    return np.asarray(base[:, None] + fast, dtype=np.float64)


@dataclass
class Scans:
    """Beacons of a source's phone caught by another's scans (if both had phones).

    One row per scan: `observer` (person id), `source` (person id), `at` (epoch s, the scan's
    time), `typical_db` and `minimum_db` (the scan's mean and least attenuation),
    `seconds_since_last_scan`, and `distance_m` (the truth, for analysis only).
    """

    observer: NDArray[np.int64]
    source: NDArray[np.int64]
    at: NDArray[np.int64]
    typical_db: NDArray[np.float64]
    minimum_db: NDArray[np.float64]
    seconds_since_last_scan: NDArray[np.int64]
    distance_m: NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.observer)

    def select(self, mask: NDArray[np.bool_]) -> Scans:
        """The rows where `mask` holds."""
        return Scans(
            self.observer[mask],
            self.source[mask],
            self.at[mask],
            self.typical_db[mask],
            self.minimum_db[mask],
            self.seconds_since_last_scan[mask],
            self.distance_m[mask],
        )


def scans(enc: Encounters, radio: RadioModel | None = None, *, seed: int | None = None) -> Scans:
    """What the others' phones would record of the sources' beacons, for everyone (filter by
    who has a phone afterwards: `Scans.select`). Each phone scans once per slot at a phase of
    its own; the scan happens only if both are there at that moment."""
    radio = radio or RadioModel()
    radio.validate()
    seed = enc.seed if seed is None else seed
    if enc.slot_s != radio.slot_s:
        raise ValueError(f"slot_s: encounters use {enc.slot_s} s slots, the radio {radio.slot_s} s")
    phase = (_uniform(_hash(seed, 21, enc.other)) * radio.slot_s).astype(np.int64)
    at = enc.slot + phase
    # Both present at the scan: the shared seconds of the slot are one interval; the scan
    # falls in it with probability seconds / slot (a uniform draw keyed by the scan).
    present = _uniform(_hash(seed, 22, enc.source_stay, enc.other_stay, enc.slot)) < (
        enc.seconds / radio.slot_s
    )
    samples = attenuation_samples(
        enc.distance_m,
        radio,
        seed=seed,
        keys=(enc.source_stay, enc.other_stay, enc.source_epoch, enc.other_epoch, enc.slot),
    )
    typical = samples.mean(axis=1)
    minimum = samples.min(axis=1)
    caught = (
        _uniform(_hash(seed, 23, enc.source_stay, enc.other_stay, enc.slot)) < radio.scan_success
    )
    keep = present & caught & (minimum < radio.max_attenuation_db)
    return Scans(
        observer=enc.other[keep],
        source=enc.source[keep],
        at=at[keep],
        typical_db=np.round(typical[keep]),
        minimum_db=np.round(minimum[keep]),
        seconds_since_last_scan=np.full(int(keep.sum()), radio.slot_s, dtype=np.int64),
        distance_m=enc.distance_m[keep],
    )


def adopters(people: int, adoption: float, seed: int) -> NDArray[np.bool_]:
    """Who has the app: a share `adoption` of person ids 0..people-1. Nested across shares for
    one seed (everyone with the app at 0.2 has it at 0.4), so a sensitivity run compares like
    with like."""
    if not 0 <= adoption <= 1:
        raise ValueError(f"adoption: must be a share between 0 and 1, got {adoption}")
    return _uniform(_hash(seed, 31, np.arange(people, dtype=np.int64))) < adoption
