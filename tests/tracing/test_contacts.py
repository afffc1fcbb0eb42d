"""Contact tiers, risk scores and the exactness of the search (against a brute-force reference)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from epicity.tracing.config import TracingConfig
from epicity.tracing.contacts import find_contacts, relative_infectiousness
from epicity.tracing.stays import GpsStays, VenueVisits
from epicity.tracing.timeline import MAX_VISIT_S, Stay

from .helpers import MIN, T0, venues

CFG = TracingConfig()
VENUES = venues(
    [(10, 0, 0, "restaurant", True), (11, 500, 0, "park", False), (12, 1000, 0, "cafe", True)]
)
CASE = 1
ONSET = T0


def venue_stay(
    place: int, start: int, end: int, indoor: bool = True, sources: tuple[str, ...] = ("card",)
) -> Stay:
    x = {10: 0.0, 11: 500.0, 12: 1000.0}[place]
    return Stay(
        f"v{start}-{place}",
        "venue",
        start,
        end,
        x,
        0.0,
        0.0,
        0.0,
        10.0,
        place_id=place,
        indoor=indoor,
        category="x",
        sources=sources,
        confidence=0.8,
    )


def location_stay(start: int, end: int, x: float, y: float) -> Stay:
    return Stay(
        f"l{start}", "location", start, end, x, y, 0.0, 0.0, 10.0, sources=("gps",), confidence=0.65
    )


def visits(rows: list[tuple[int, int, int, int]]) -> VenueVisits:
    """(person, venue, start, end)."""
    a = np.array(rows, dtype=np.int64).reshape(-1, 4)
    return VenueVisits(
        a[:, 0], a[:, 1], a[:, 2], a[:, 3], a[:, 2], a[:, 3], np.array(["card"] * len(a))
    )


def gps(rows: list[tuple[int, int, int, float, float]]) -> GpsStays:
    """(person, start, end, x, y)."""
    if not rows:
        e = np.empty(0, np.int64)
        return GpsStays(e, e, e, np.empty(0), np.empty(0), np.empty(0), e)
    a = np.array(rows, dtype=float)
    n = len(a)
    return GpsStays(
        a[:, 0].astype(np.int64),
        a[:, 1].astype(np.int64),
        a[:, 2].astype(np.int64),
        a[:, 3],
        a[:, 4],
        np.full(n, 10.0),
        np.full(n, 3, dtype=np.int64),
    )


def tiers(stays: list[Stay], v: VenueVisits, g: GpsStays, **kw: object) -> dict[int, str]:
    contacts = find_contacts(CASE, stays, ONSET, v, g, VENUES, CFG, **kw)  # type: ignore[arg-type]
    return {c.contact_id: c.tier for c in contacts}


def test_indoor_venue_fifteen_minutes_is_close_less_is_casual() -> None:
    stay = venue_stay(10, T0, T0 + 60 * MIN)
    v = visits(
        [
            (2, 10, T0 + 45 * MIN, T0 + 90 * MIN),  # 15 min overlap: close
            (3, 10, T0 + 50 * MIN, T0 + 90 * MIN),  # 10 min: casual
            (4, 10, T0 + 61 * MIN, T0 + 90 * MIN),  # no overlap
            (5, 12, T0, T0 + 60 * MIN),  # another venue
            (1, 10, T0, T0 + 60 * MIN),  # the case itself
        ]
    )
    assert tiers([stay], v, gps([])) == {2: "close", 3: "casual"}


def test_overlap_is_cumulative_over_visits_to_one_place() -> None:
    stays = [venue_stay(10, T0, T0 + 30 * MIN), venue_stay(10, T0 + 120 * MIN, T0 + 150 * MIN)]
    v = visits([(2, 10, T0 + 22 * MIN, T0 + 40 * MIN), (2, 10, T0 + 140 * MIN, T0 + 200 * MIN)])
    assert tiers(stays, v, gps([])) == {2: "close"}  # 8 + 10 minutes


def test_outdoor_venue_is_casual_however_long() -> None:
    stay = venue_stay(11, T0, T0 + 120 * MIN, indoor=False)
    assert tiers([stay], visits([(2, 11, T0, T0 + 120 * MIN)]), gps([])) == {2: "casual"}


def test_gps_stays_snap_to_the_case_venue_or_share_its_place() -> None:
    stays = [
        venue_stay(10, T0, T0 + 60 * MIN),
        location_stay(T0 + 200 * MIN, T0 + 300 * MIN, 3000, 3000),
    ]
    g = gps(
        [
            (2, T0, T0 + 40 * MIN, 20, 5),  # snaps to venue 10 (within 40 m, short)
            (3, T0, T0 + 40 * MIN, 80, 0),  # too far from the venue to snap
            (4, T0 + 250 * MIN, T0 + 400 * MIN, 3010, 3010),  # same building as the case: 14 m
            (5, T0 + 250 * MIN, T0 + 400 * MIN, 3030, 3030),  # 42 m: another building
            (6, T0 + 290 * MIN, T0 + 400 * MIN, 3001, 3001),  # 1.4 m but only 10 minutes
            (7, T0, T0 + MAX_VISIT_S + 1, 5, 5),  # too long to be a visit: not snapped
        ]
    )
    assert tiers(stays, visits([]), g) == {2: "close", 4: "close", 6: "casual"}


def test_household_members_are_close_contacts() -> None:
    stays = [location_stay(T0, T0 + 600 * MIN, 0, 0)]
    result = tiers(stays, visits([]), gps([]), household=[1, 8, 9], home_xy=(0.0, 0.0))
    assert result == {8: "close", 9: "close"}


def test_risk_scores_follow_infectiousness_and_overlap() -> None:
    near_onset = venue_stay(10, ONSET - 3600, ONSET)
    early = venue_stay(12, ONSET - 4 * 86_400, ONSET - 4 * 86_400 + 3600)
    v = visits(
        [
            (2, 10, ONSET - 3600, ONSET),
            (3, 12, early.start, early.end),
            (4, 10, ONSET - 20 * MIN, ONSET),
        ]
    )
    contacts = find_contacts(CASE, [near_onset, early], ONSET, v, gps([]), VENUES, CFG)
    score = {c.contact_id: c.risk_score for c in contacts}
    assert score[2] > score[4] > 0
    assert score[2] > score[3]
    assert all(0 <= s <= 1 for s in score.values())
    peak_day = relative_infectiousness(ONSET + np.arange(-10, 10) * 86_400, ONSET).argmax() - 10
    assert -2 <= peak_day <= 0  # infectiousness peaks around symptom onset (He et al. 2020)
    assert float(relative_infectiousness(ONSET - 6 * 86_400, ONSET)) == 0.0


# ---- exactness against a brute-force reference ----------------------------------------------


def reference(stays: list[Stay], v: VenueVisits, g: GpsStays) -> dict[int, str]:
    """The tier rules written as plain loops over every pair."""
    per_place: dict[tuple[int, str], list[tuple[int, int, bool]]] = {}
    for s in stays:
        for i in range(len(v)):
            if v.person[i] != CASE and s.place_id is not None and v.venue[i] == s.place_id:
                lo, hi = max(s.start, int(v.start[i])), min(s.end, int(v.end[i]))
                if hi > lo:
                    per_place.setdefault((int(v.person[i]), f"venue:{s.place_id}"), []).append(
                        (lo, hi, bool(s.indoor))
                    )
        for i in range(len(g)):
            if g.person[i] == CASE:
                continue
            lo, hi = max(s.start, int(g.start[i])), min(s.end, int(g.end[i]))
            if hi <= lo:
                continue
            if s.place_id is not None:
                d = [
                    math.hypot(VENUES.x[k] - g.x[i], VENUES.y[k] - g.y[i])
                    for k in range(len(VENUES.merchant_id))
                ]
                k = int(np.argmin(d))
                snaps = d[k] <= CFG.snap_radius_m and g.end[i] - g.start[i] <= MAX_VISIT_S
                beside = (
                    "gps" in s.sources
                    and math.hypot(g.x[i] - s.x, g.y[i] - s.y) <= CFG.same_place_m
                )
                if (snaps and VENUES.merchant_id[k] == s.place_id) or beside:
                    per_place.setdefault((int(g.person[i]), f"venue:{s.place_id}"), []).append(
                        (lo, hi, bool(s.indoor))
                    )
            elif math.hypot(g.x[i] - s.x, g.y[i] - s.y) <= CFG.same_place_m:
                per_place.setdefault((int(g.person[i]), f"place:{s.stay_id}"), []).append(
                    (lo, hi, True)
                )
    out: dict[int, str] = {}
    for (person, _), spans in per_place.items():
        covered = set()
        for lo, hi, _indoor in spans:
            covered.update(range(lo, hi))
        tier = "close" if spans[0][2] and len(covered) >= CFG.close_min_overlap_s else "casual"
        if out.get(person) != "close":
            out[person] = tier
    return out


# Times around a UTC midnight (T0 + 2 h) and positions around grid lines at multiples of 100 m
# and 0.001 degree, so any binning by day, time bucket or cell would be exercised.
MIDNIGHT = T0 + 2 * 3600
times = st.integers(MIDNIGHT - 3 * 3600, MIDNIGHT + 3 * 3600)
coords = st.sampled_from(
    [-50.0, -1.0, -0.5, 0.0, 0.5, 1.0, 24.9, 25.1, 99.9, 100.1, 500.0, 999.0, 1000.0, 1020.0]
)


@st.composite
def worlds(draw: st.DrawFn) -> tuple[list[Stay], VenueVisits, GpsStays]:
    stays = []
    for i in range(draw(st.integers(1, 4))):
        a = draw(times)
        b = a + draw(st.integers(60, 4 * 3600))
        if draw(st.booleans()):
            sources = draw(st.sampled_from([("card",), ("card", "gps"), ("gps",)]))
            stays.append(
                venue_stay(draw(st.sampled_from([10, 11, 12])), a, b, draw(st.booleans()), sources)
            )
        else:
            stays.append(location_stay(a + i, b, draw(coords), draw(coords)))
    vrows = []
    for _ in range(draw(st.integers(0, 12))):
        a = draw(times)
        vrows.append(
            (
                draw(st.integers(1, 6)),
                draw(st.sampled_from([10, 11, 12])),
                a,
                a + draw(st.integers(60, 3 * 3600)),
            )
        )
    grows = []
    for _ in range(draw(st.integers(0, 12))):
        a = draw(times)
        grows.append(
            (
                draw(st.integers(1, 6)),
                a,
                a + draw(st.integers(600, 6 * 3600)),
                draw(coords),
                draw(coords),
            )
        )
    return stays, visits(vrows), gps(grows)


@settings(max_examples=300, deadline=None)
@given(worlds())
def test_search_matches_brute_force_across_day_and_cell_boundaries(
    world: tuple[list[Stay], VenueVisits, GpsStays],
) -> None:
    stays, v, g = world
    assert tiers(stays, v, g) == reference(stays, v, g)
