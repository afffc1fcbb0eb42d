"""Contact detection: who shared a place with the case, for how long, how close, how risky.

Pure functions. The case's timeline is matched against other people's own stays:
- at a venue the case visited: their visits there (payments, visitor-log entries) and their GPS
  stays that snap to the same venue;
- at a place the case stayed without a known venue (a home, an office): their GPS stays whose
  centre lies within `same_place_m` of the case's;
- at a tower the case was served by: their cell runs there (area tier, counted, never named);
- at the case's home: the household from the resident registry.

Tiers (`TracingConfig`, KDCA 2020 case definitions): `close` when the cumulative overlap at one
indoor place (an indoor venue or a building) reaches 15 minutes, or at an estimated distance of
2 m or less for 15 minutes; `casual` for any other overlap at the same venue or place, or within
10 m outdoors; `area` for the cell tier. The search is exact: every pair of intervals is compared
by its real bounds (no time buckets), and places by their real distance (no grid cells).

Risk score in [0, 1] per exposure: infectiousness of the case at that moment (relative to its
peak) x (1 - exp(-overlap / 30 min)) x setting (indoor 1, outdoor 0.3) x proximity (2 m: 1,
same place: 0.6, 10 m outdoors: 0.4); a contact's score combines its exposures as independent
chances, 1 - prod(1 - r). Infectiousness follows the generation-time distribution of Ferretti
et al. (Science 2020; Weibull shape 2.826, scale 5.665 days) placed at the case's estimated
infection time, symptom onset minus the median incubation of 5.1 days (Lauer et al., Ann Intern
Med 2020); without symptoms the test date stands in for onset.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from epicity.tracing.config import TracingConfig
from epicity.tracing.stays import GpsStays, VenueVisits
from epicity.tracing.timeline import MAX_VISIT_S, Stay, Venues

__all__ = [
    "AreaExposure",
    "Contact",
    "Exposure",
    "find_contacts",
    "relative_infectiousness",
]

Tier = Literal["close", "casual", "area"]
TIER_RANK = {"close": 2, "casual": 1, "area": 0}
GT_SHAPE, GT_SCALE = 2.826, 5.665  # Ferretti et al. 2020, days
MEDIAN_INCUBATION_DAYS = 5.1  # Lauer et al. 2020
DAY = 86_400


def relative_infectiousness(t: NDArray[np.int64] | int, onset: int) -> NDArray[np.float64]:
    """Infectiousness at epoch seconds `t` relative to the peak, for symptom onset `onset`."""
    days = (np.asarray(t, dtype=np.float64) - onset) / DAY + MEDIAN_INCUBATION_DAYS
    d = np.maximum(days, 0.0) / GT_SCALE
    density = d ** (GT_SHAPE - 1) * np.exp(-(d**GT_SHAPE))
    peak_d = ((GT_SHAPE - 1) / GT_SHAPE) ** (1 / GT_SHAPE)
    peak = peak_d ** (GT_SHAPE - 1) * np.exp(-(peak_d**GT_SHAPE))
    return np.asarray(np.where(days > 0, density / peak, 0.0), dtype=np.float64)


# Not frozen: a day of cases builds ~10^5-10^6 of them, and a frozen init is 5x slower.
@dataclass(slots=True)
class Exposure:
    """One shared stay: the case's stay, the contact, the overlap and how it was seen."""

    contact_id: int
    case_stay: str
    place_key: str  # "venue:<id>" or "place:<case stay id>"
    place_id: int | None
    start: int
    end: int
    distance_m: float | None  # estimated distance when positions are known, else None
    indoor: bool
    sources: tuple[str, ...]
    risk: float = 0.0

    @property
    def overlap_s(self) -> int:
        """Seconds of overlap."""
        return self.end - self.start


@dataclass
class Contact:
    """A person who shared a place with the case, with their strongest tier."""

    contact_id: int
    tier: Tier
    place_id: int | None
    first_contact: int
    last_contact: int
    overlap_minutes: float
    min_distance_m: float | None
    risk_score: float
    sources: tuple[str, ...]
    exposures: list[Exposure] = field(default_factory=list)


@dataclass(frozen=True)
class AreaExposure:
    """People served by the case's tower while the case was there: a count, never names."""

    tower_id: int
    start: int
    end: int
    people: int


def _overlap(
    a0: int, a1: int, b0: NDArray[np.int64], b1: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    return np.maximum(b0, a0), np.minimum(b1, a1)


def _snap_to_venues(gps: GpsStays, venues: Venues, config: TracingConfig) -> NDArray[np.int64]:
    """Merchant id each GPS stay snaps to (the nearest venue within the radius, for visits of at
    most 4 hours), or -1: the same rule the case's timeline uses."""
    out = np.full(len(gps), -1, dtype=np.int64)
    if not len(gps) or not len(venues.merchant_id):
        return out
    dist, idx = venues.tree.query(np.column_stack([gps.x, gps.y]))
    ok = (dist <= config.snap_radius_m) & (gps.end - gps.start <= MAX_VISIT_S)
    out[ok] = venues.merchant_id[idx[ok]]
    return out


@dataclass
class _Exposures:
    """Exposures as parallel arrays, collected one case stay at a time."""

    parts: list[dict[str, NDArray[Any]]] = field(default_factory=list)
    keys: dict[str, int] = field(default_factory=dict)  # place key -> group number
    stays: list[Stay] = field(default_factory=list)
    vocabulary: dict[str, int] = field(default_factory=dict)  # source name -> bit

    def bits(self, names: Sequence[str]) -> int:
        out = 0
        for name in names:
            out |= 1 << self.vocabulary.setdefault(name, len(self.vocabulary))
        return out

    def add(
        self,
        s: Stay,
        key: str,
        person: NDArray[np.int64],
        start: NDArray[np.int64],
        end: NDArray[np.int64],
        rows: NDArray[np.int64],
        *,
        indoor: bool,
        their_bits: NDArray[np.int64] | int,
        distance: NDArray[np.float64] | None = None,
    ) -> None:
        """The candidates `rows` whose interval overlaps the case's stay `s`."""
        lo = np.maximum(start[rows], s.start)
        hi = np.minimum(end[rows], s.end)
        ok = hi > lo
        rows = rows[ok]
        n = len(rows)
        if not n:
            return
        bits = self.bits(s.sources) | (
            their_bits if isinstance(their_bits, int) else their_bits[rows]
        )
        self.parts.append(
            {
                "contact": person[rows],
                "start": lo[ok],
                "end": hi[ok],
                "distance": np.full(n, np.nan) if distance is None else distance[rows],
                "indoor": np.full(n, indoor),
                "group": np.full(n, self.keys.setdefault(key, len(self.keys))),
                "place": np.full(n, -1 if s.place_id is None else int(s.place_id)),
                "stay": np.full(n, len(self.stays)),
                "bits": np.broadcast_to(np.asarray(bits, dtype=np.int64), (n,)).copy(),
            }
        )
        self.stays.append(s)

    def arrays(self) -> dict[str, NDArray[Any]]:
        if not self.parts:
            return {}
        return {k: np.concatenate([p[k] for p in self.parts]) for k in self.parts[0]}


def find_contacts(
    case_id: int,
    case_stays: Sequence[Stay],
    onset: int,
    visits: VenueVisits,
    gps: GpsStays,
    venues: Venues,
    config: TracingConfig,
    household: Sequence[int] = (),
    home_xy: tuple[float, float] | None = None,
) -> list[Contact]:
    """Contacts of a case from other people's stays (the case's own rows are ignored)."""
    found = _Exposures()
    snapped = _snap_to_venues(gps, venues, config)
    not_case_v = visits.person != case_id
    not_case_g = gps.person != case_id
    labels, label_of = np.unique(np.asarray(visits.sources, dtype=str), return_inverse=True)
    visit_bits = np.array([found.bits(str(x).split("+")) for x in labels], dtype=np.int64)[
        label_of.ravel()
    ]
    gps_bit = found.bits(["gps"])
    for s in case_stays:
        if s.kind == "area":
            continue
        if s.kind == "venue" and s.place_id is not None:
            key = f"venue:{s.place_id}"
            m = np.flatnonzero(not_case_v & (visits.venue == s.place_id))
            found.add(
                s,
                key,
                visits.person,
                visits.start,
                visits.end,
                m,
                indoor=bool(s.indoor),
                their_bits=visit_bits,
            )
            # Others' GPS stays snapped to this venue; and when GPS placed the case here, also
            # those whose centre is as close as a shared building (a long stay next door is
            # not snapped, yet may be the same office above the same cafe).
            near = snapped == s.place_id
            if "gps" in s.sources:
                near |= np.hypot(gps.x - s.x, gps.y - s.y) <= config.same_place_m
            m = np.flatnonzero(not_case_g & near)
            found.add(
                s,
                key,
                gps.person,
                gps.start,
                gps.end,
                m,
                indoor=bool(s.indoor),
                their_bits=gps_bit,
            )
        else:
            dist = np.hypot(gps.x - s.x, gps.y - s.y)
            m = np.flatnonzero(not_case_g & (dist <= config.same_place_m))
            found.add(
                s,
                f"place:{s.stay_id}",
                gps.person,
                gps.start,
                gps.end,
                m,
                indoor=True,
                their_bits=gps_bit,
                distance=dist,
            )
    contacts = _aggregate(found, onset, config)
    if household:
        _add_household(contacts, case_id, case_stays, household, home_xy, onset, config)
    return sorted(contacts, key=lambda c: (-TIER_RANK[c.tier], -c.risk_score, c.contact_id))


def _union_by_group(
    group_start: NDArray[np.bool_], start: NDArray[np.int64], end: NDArray[np.int64]
) -> NDArray[np.int64]:
    """Seconds covered by the union of each group's intervals (rows sorted by group, then
    start; `group_start` marks each group's first row). One total per row of the group."""
    n = len(start)
    if not n:
        return np.empty(0, np.int64)
    group_no = np.cumsum(group_start) - 1
    # Running maximum of end within the group; a new piece starts past it.
    offset = group_no.astype(np.int64) << 34
    running = np.maximum.accumulate(end + offset) - offset
    previous = np.concatenate([[np.iinfo(np.int64).min], running[:-1]])
    piece_start = group_start | (start > previous)
    piece_first = np.flatnonzero(piece_start)
    piece_end = np.maximum.reduceat(end, piece_first)
    lengths = piece_end - start[piece_first]
    per_group = np.bincount(group_no[piece_first], weights=lengths, minlength=group_no[-1] + 1)
    return np.asarray(per_group[group_no], dtype=np.int64)


def _union_seconds(intervals: list[tuple[int, int]]) -> int:
    total, cur_s, cur_e = 0, None, None
    for s, e in sorted(intervals):
        if cur_e is None or s > cur_e:
            if cur_e is not None and cur_s is not None:
                total += cur_e - cur_s
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    if cur_e is not None and cur_s is not None:
        total += cur_e - cur_s
    return total


def _aggregate(found: _Exposures, onset: int, config: TracingConfig) -> list[Contact]:
    """Tiers per contact and place (cumulative overlap), then one Contact per person."""
    e = found.arrays()
    if not e:
        return []
    n = len(e["contact"])
    appearance = np.arange(n)
    overlap = e["end"] - e["start"]
    inf = relative_infectiousness((e["start"] + e["end"]) // 2, onset)
    dist = e["distance"]
    known = ~np.isnan(dist)
    near = known & (dist <= config.close_max_distance_m)
    proximity = np.where(
        near, 1.0, np.where(known & ~e["indoor"] & (dist <= config.casual_max_distance_m), 0.4, 0.6)
    )
    risk = inf * (1 - np.exp(-overlap / 1800)) * np.where(e["indoor"], 1.0, 0.3) * proximity

    # Per (contact, place): union of all overlaps, and of the overlaps within 2 m.
    order = np.lexsort((e["start"], e["group"], e["contact"]))
    c, g = e["contact"][order], e["group"][order]
    first = np.concatenate([[True], (c[1:] != c[:-1]) | (g[1:] != g[:-1])])
    total = _union_by_group(first, e["start"][order], e["end"][order])
    group_no = np.cumsum(first) - 1
    near_o = near[order]
    near_rows = np.flatnonzero(near_o)
    near_total = np.zeros(n, np.int64)
    if len(near_rows):
        cn, gn = c[near_rows], g[near_rows]
        nfirst = np.concatenate([[True], (cn[1:] != cn[:-1]) | (gn[1:] != gn[:-1])])
        per = _union_by_group(nfirst, e["start"][order][near_rows], e["end"][order][near_rows])
        # Spread each group's near total over all its rows.
        near_by_group = np.zeros(group_no[-1] + 1, np.int64)
        near_by_group[group_no[near_rows]] = per
        near_total = near_by_group[group_no]
    # A place's setting is that of its first exposure found (as listed, not by time).
    first_seen = np.full(group_no[-1] + 1, n)
    np.minimum.at(first_seen, group_no, appearance[order])
    g_indoor = e["indoor"][first_seen][group_no]
    g_place = e["place"][first_seen][group_no]
    close = (near_total >= config.close_min_overlap_s) | (
        g_indoor & (total >= config.close_min_overlap_s)
    )
    # Outdoors without a venue: only positions within 10 m make a contact.
    outdoor_free = ~g_indoor & (g_place < 0)
    within10 = np.zeros(group_no[-1] + 1, bool)
    np.logical_or.at(
        within10, group_no, (~np.isnan(dist[order])) & (dist[order] <= config.casual_max_distance_m)
    )
    rank = np.where(close, 2, np.where(outdoor_free & ~within10[group_no], 0, 1))
    tier_rank = np.zeros(n, np.int64)
    tier_rank[order] = rank

    # One contact per person: exposures in the order the place groups first appeared.
    seen = np.empty(n, np.int64)
    seen[order] = first_seen[group_no]
    seq = np.lexsort((appearance, seen, e["contact"]))
    contact_s = e["contact"][seq]
    starts = np.flatnonzero(np.concatenate([[True], contact_s[1:] != contact_s[:-1]]))
    segment = np.cumsum(np.concatenate([[True], contact_s[1:] != contact_s[:-1]])) - 1
    best = np.maximum.reduceat(tier_rank[seq], starts)
    risk_s = risk[seq]
    # The top exposure: the first with the contact's highest risk.
    is_max = risk_s == np.maximum.reduceat(risk_s, starts)[segment]
    first_max = np.flatnonzero(is_max)
    top = seq[first_max[np.searchsorted(segment[first_max], np.arange(len(starts)))]]
    score = 1 - np.multiply.reduceat(1 - risk_s, starts)
    min_dist = np.fmin.reduceat(dist[seq], starts)
    bits = np.bitwise_or.reduceat(e["bits"][seq], starts)
    first_contact = np.minimum.reduceat(e["start"][seq], starts)
    last_contact = np.maximum.reduceat(e["end"][seq], starts)
    by_time = np.lexsort((e["start"], e["contact"]))
    cs = e["contact"][by_time]
    contact_first = np.concatenate([[True], cs[1:] != cs[:-1]])
    union = _union_by_group(contact_first, e["start"][by_time], e["end"][by_time])
    union_of_contact = union[np.flatnonzero(contact_first)]  # contacts in ascending id order

    names = sorted(found.vocabulary, key=found.vocabulary.__getitem__)
    place_keys = sorted(found.keys, key=found.keys.__getitem__)
    labels: dict[int, tuple[str, ...]] = {}

    def label(b: int) -> tuple[str, ...]:
        if b not in labels:
            labels[b] = tuple(sorted(names[i] for i in range(len(names)) if b >> i & 1))
        return labels[b]

    kept = np.flatnonzero(best > 0)
    bounds = np.concatenate([starts, [n]])
    # Rows of each kept contact in time order: by_time and seq both list contacts by id, so a
    # contact's segment starts at the same offset in both.
    kept_rows = by_time[(best > 0)[np.cumsum(contact_first) - 1]]
    exposures = [
        Exposure(
            contact,
            found.stays[stay].stay_id,
            place_keys[group],
            None if place < 0 else place,
            start,
            end,
            None if d != d else d,  # NaN: no distance
            indoor,
            label(b),
            r,
        )
        for contact, stay, group, place, start, end, d, indoor, b, r in zip(
            e["contact"][kept_rows].tolist(),
            e["stay"][kept_rows].tolist(),
            e["group"][kept_rows].tolist(),
            e["place"][kept_rows].tolist(),
            e["start"][kept_rows].tolist(),
            e["end"][kept_rows].tolist(),
            dist[kept_rows].tolist(),
            e["indoor"][kept_rows].tolist(),
            e["bits"][kept_rows].tolist(),
            risk[kept_rows].tolist(),
            strict=True,
        )
    ]
    contacts = []
    first_exposure = 0
    sizes = (bounds[kept + 1] - bounds[kept]).tolist()
    for size, contact, rank_k, place, first_t, last_t, union_s, d, risk_k, b in zip(
        sizes,
        contact_s[starts[kept]].tolist(),
        best[kept].tolist(),
        e["place"][top[kept]].tolist(),
        first_contact[kept].tolist(),
        last_contact[kept].tolist(),
        union_of_contact[kept].tolist(),
        min_dist[kept].tolist(),
        score[kept].tolist(),
        bits[kept].tolist(),
        strict=True,
    ):
        contacts.append(
            Contact(
                contact_id=contact,
                tier="close" if rank_k == 2 else "casual",
                place_id=None if place < 0 else place,
                first_contact=first_t,
                last_contact=last_t,
                overlap_minutes=float(union_s) / 60,
                min_distance_m=None if d != d else d,  # NaN: no distance
                risk_score=risk_k,
                sources=label(b),
                exposures=exposures[first_exposure : first_exposure + size],
            )
        )
        first_exposure += size
    return contacts


def _add_household(
    contacts: list[Contact],
    case_id: int,
    case_stays: Sequence[Stay],
    household: Sequence[int],
    home_xy: tuple[float, float] | None,
    onset: int,
    config: TracingConfig,
) -> None:
    """Household members are close contacts (same home); their exposure is the case's time at
    home when GPS shows it, else the whole window."""
    start = min((s.start for s in case_stays), default=0)
    end = max((s.end for s in case_stays), default=0)
    at_home = [
        (s.start, s.end)
        for s in case_stays
        if home_xy is not None
        and s.kind == "location"
        and np.hypot(s.x - home_xy[0], s.y - home_xy[1]) <= 60
    ]
    minutes = _union_seconds(at_home) / 60 if at_home else (end - start) / 60
    risk = float(
        np.max(relative_infectiousness(np.arange(start, end + 1, 3600), onset), initial=0.0)
    )
    known = {c.contact_id: c for c in contacts}
    for person in household:
        if person == case_id:
            continue
        existing = known.get(person)
        if existing is not None:
            existing.tier = "close"
            existing.sources = tuple(sorted({*existing.sources, "registry"}))
            continue
        contacts.append(
            Contact(
                person,
                "close",
                None,
                start,
                end,
                minutes,
                None,
                risk * (1 - np.exp(-minutes / 30)),
                ("registry",),
            )
        )
