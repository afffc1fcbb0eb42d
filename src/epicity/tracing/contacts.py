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

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

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


@dataclass(frozen=True)
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


def _shared(
    s: Stay,
    key: str,
    person: NDArray[np.int64],
    start: NDArray[np.int64],
    end: NDArray[np.int64],
    candidates: NDArray[np.int64],
    *,
    indoor: bool,
    their_sources: NDArray[np.str_] | str,
    distance: NDArray[np.float64] | None = None,
) -> list[Exposure]:
    """Exposures of the candidates (row indexes) whose interval overlaps the case's stay; the
    evidence is the case's sources and theirs ("card+entries" per row, or one for all)."""
    lo, hi = _overlap(s.start, s.end, start[candidates], end[candidates])

    def sources(j: int) -> tuple[str, ...]:
        theirs = their_sources if isinstance(their_sources, str) else str(their_sources[j])
        return tuple(sorted({*s.sources, *theirs.split("+")}))

    return [
        Exposure(
            int(person[j]),
            s.stay_id,
            key,
            s.place_id,
            int(lo[i]),
            int(hi[i]),
            None if distance is None else float(distance[j]),
            indoor,
            sources(int(j)),
        )
        for i in np.flatnonzero(hi > lo)
        for j in (candidates[i],)
    ]


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
    exposures: list[Exposure] = []
    snapped = _snap_to_venues(gps, venues, config)
    not_case_v = visits.person != case_id
    not_case_g = gps.person != case_id
    for s in case_stays:
        if s.kind == "area":
            continue
        if s.kind == "venue" and s.place_id is not None:
            key = f"venue:{s.place_id}"
            m = np.flatnonzero(not_case_v & (visits.venue == s.place_id))
            exposures += _shared(
                s,
                key,
                visits.person,
                visits.start,
                visits.end,
                m,
                indoor=bool(s.indoor),
                their_sources=visits.sources,
            )
            # Others' GPS stays snapped to this venue; and when GPS placed the case here, also
            # those whose centre is as close as a shared building (a long stay next door is
            # not snapped, yet may be the same office above the same cafe).
            near = snapped == s.place_id
            if "gps" in s.sources:
                near |= np.hypot(gps.x - s.x, gps.y - s.y) <= config.same_place_m
            m = np.flatnonzero(not_case_g & near)
            exposures += _shared(
                s,
                key,
                gps.person,
                gps.start,
                gps.end,
                m,
                indoor=bool(s.indoor),
                their_sources="gps",
            )
        else:
            dist = np.hypot(gps.x - s.x, gps.y - s.y)
            m = np.flatnonzero(not_case_g & (dist <= config.same_place_m))
            exposures += _shared(
                s,
                f"place:{s.stay_id}",
                gps.person,
                gps.start,
                gps.end,
                m,
                indoor=True,
                their_sources="gps",
                distance=dist,
            )
    contacts = _aggregate(exposures, onset, config)
    if household:
        _add_household(contacts, case_id, case_stays, household, home_xy, onset, config)
    return sorted(contacts, key=lambda c: (-TIER_RANK[c.tier], -c.risk_score, c.contact_id))


def _proximity(e: Exposure, config: TracingConfig) -> float:
    if e.distance_m is not None and e.distance_m <= config.close_max_distance_m:
        return 1.0
    if e.distance_m is not None and not e.indoor and e.distance_m <= config.casual_max_distance_m:
        return 0.4
    return 0.6


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


def _place_tier(group: list[Exposure], config: TracingConfig) -> Tier:
    """Tier of the exposures of one contact at one place (cumulative overlap)."""
    total = _union_seconds([(e.start, e.end) for e in group])
    near = [
        (e.start, e.end)
        for e in group
        if e.distance_m is not None and e.distance_m <= config.close_max_distance_m
    ]
    if _union_seconds(near) >= config.close_min_overlap_s:
        return "close"
    if group[0].indoor and total >= config.close_min_overlap_s:
        return "close"
    if not group[0].indoor and group[0].place_id is None:
        # Outdoors without a venue: only positions within 10 m make a contact.
        if any(
            e.distance_m is not None and e.distance_m <= config.casual_max_distance_m for e in group
        ):
            return "casual"
        return "area"
    return "casual"


def _aggregate(exposures: list[Exposure], onset: int, config: TracingConfig) -> list[Contact]:
    by_contact: dict[int, dict[str, list[Exposure]]] = defaultdict(lambda: defaultdict(list))
    for e in exposures:
        by_contact[e.contact_id][e.place_key].append(e)
    contacts = []
    for contact_id, places in by_contact.items():
        best: Tier = "area"
        scored: list[Exposure] = []
        for group in places.values():
            tier = _place_tier(group, config)
            if TIER_RANK[tier] > TIER_RANK[best]:
                best = tier
            for e in group:
                inf = float(relative_infectiousness((e.start + e.end) // 2, onset))
                risk = (
                    inf
                    * (1 - np.exp(-e.overlap_s / 1800))
                    * (1.0 if e.indoor else 0.3)
                    * _proximity(e, config)
                )
                scored.append(Exposure(**{**e.__dict__, "risk": float(risk)}))
        if best == "area":
            continue
        top = max(scored, key=lambda e: e.risk)
        distances = [e.distance_m for e in scored if e.distance_m is not None]
        contacts.append(
            Contact(
                contact_id=contact_id,
                tier=best,
                place_id=top.place_id,
                first_contact=min(e.start for e in scored),
                last_contact=max(e.end for e in scored),
                overlap_minutes=_union_seconds([(e.start, e.end) for e in scored]) / 60,
                min_distance_m=min(distances) if distances else None,
                risk_score=float(1 - np.prod([1 - e.risk for e in scored])),
                sources=tuple(sorted({s for e in scored for s in e.sources})),
                exposures=sorted(scored, key=lambda e: e.start),
            )
        )
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
