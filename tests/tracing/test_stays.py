"""Stays from raw records: GPS chains, visits around payments, cell runs."""

from __future__ import annotations

import numpy as np

from epicity.tracing.config import TracingConfig
from epicity.tracing.stays import cell_runs, dwell_bounds, gps_stays, venue_visits

CFG = TracingConfig()
T0 = 1_583_100_000
MIN = 60


def arr(*values: float) -> np.ndarray:
    return np.asarray(values)


def test_gps_chain_becomes_a_stay_with_padding_and_centre() -> None:
    # Person 1: four fixes around (0, 0) over 40 minutes, then a jump of 2 km.
    person = arr(1, 1, 1, 1, 1).astype(np.int64)
    t = (T0 + arr(0, 10, 25, 40, 70) * MIN).astype(np.int64)
    x = arr(0, 20, -10, 10, 2000)
    y = arr(0, -10, 15, 5, 0)
    acc = arr(20, 20, 20, 20, 10)
    stays = gps_stays(person, t, x, y, acc, CFG)
    assert len(stays) == 2  # the lone fix 2 km away, then silence, is a stay of its own
    assert stays.start[0] == T0 - CFG.stay_pad_s  # nothing before: full padding
    assert stays.end[0] == T0 + 40 * MIN + CFG.stay_pad_s  # next fix 30 min later: pad 10 min
    assert abs(stays.x[0] - 5) < 1e-9
    assert abs(stays.y[0] - 2.5) < 1e-9
    assert stays.radius_m[0] == 10  # 20 m / sqrt(4)


def test_gps_padding_never_crosses_the_midpoint_to_a_neighbouring_fix() -> None:
    person = np.ones(4, dtype=np.int64)
    t = (T0 + arr(0, 6, 18, 26) * MIN).astype(np.int64)
    stays = gps_stays(person, t, arr(0, 0, 0, 5000), arr(0, 5, 5, 0), arr(10, 10, 10, 10), CFG)
    assert stays.end[0] == T0 + 18 * MIN + 4 * MIN  # half of the 8-minute gap


def test_gps_gaps_short_chains_and_people_split_stays() -> None:
    person = arr(1, 1, 1, 1, 2, 2).astype(np.int64)
    t = (T0 + arr(0, 30, 300, 320, 321, 340) * MIN).astype(np.int64)
    x = np.zeros(6)
    stays = gps_stays(person, t, x, x, np.full(6, 10.0), CFG)
    # 0-30 min (one stay), a 4.5 h silence splits, 300-320 (one), person 2 separately.
    assert stays.person.tolist() == [1, 1, 2]


def test_a_stay_is_long_enough_counting_the_silence_around_it() -> None:
    # A walk: a fix a minute, 100 m apart (never chained); each fix alone lasts a minute.
    walk = np.ones(6, dtype=np.int64)
    t = (T0 + arr(0, 1, 2, 3, 4, 5) * MIN).astype(np.int64)
    x = arr(0, 100, 200, 300, 400, 500)
    walked = gps_stays(walk, t, x, np.zeros(6), np.full(6, 10.0), CFG)
    # Only the track's two ends get a full padding (nothing is known beyond them).
    assert walked.x.tolist() == [0.0, 500.0]
    # A still phone reports rarely: one fix 30 minutes after the last and before the next,
    # far from both, is a stay padded on each side (by at most half the 30-minute gaps).
    t = (T0 + arr(0, 30, 60) * MIN).astype(np.int64)
    lone = gps_stays(
        np.ones(3, dtype=np.int64), t, arr(0, 1000, 2000), np.zeros(3), np.full(3, 30.0), CFG
    )
    assert len(lone) == 3
    pad = min(CFG.stay_pad_s, 15 * MIN)
    assert (lone.start[1], lone.end[1]) == (T0 + 30 * MIN - pad, T0 + 30 * MIN + pad)
    # Two fixes 5 minutes apart with fixes elsewhere a minute before and after: 6 minutes.
    t = (T0 + arr(-1, 0, 5, 6) * MIN).astype(np.int64)
    short = gps_stays(
        np.ones(4, dtype=np.int64), t, arr(-900, 0, 0, 900), np.zeros(4), np.full(4, 10.0), CFG
    )
    assert 0.0 not in short.x.tolist()
    assert short.x.tolist() == [-900.0, 900.0]  # the track's ends


def test_venue_visits_use_dwell_and_merge_overlaps() -> None:
    person = arr(1, 1, 1, 2).astype(np.int64)
    t = (T0 + arr(0, 20, 300, 0) * MIN).astype(np.int64)
    venue = arr(7, 7, 7, 7).astype(np.int64)
    source = np.array(["card", "entries", "card", "card"])
    category = np.array(["restaurant"] * 4)
    v = venue_visits(person, t, venue, source, *dwell_bounds(category, CFG))
    before, after = CFG.dwell_for("restaurant")
    assert v.person.tolist() == [1, 1, 2]
    assert v.start[0] == T0 - before
    assert v.end[0] == T0 + 20 * MIN + after
    assert v.sources[0] == "card+entries"
    assert (v.first[0], v.last[0]) == (T0, T0 + 20 * MIN)


def test_cell_runs_split_on_tower_change_and_silence() -> None:
    person = arr(1, 1, 1, 1, 1).astype(np.int64)
    t = (T0 + arr(0, 10, 20, 200, 210) * MIN).astype(np.int64)
    tower = arr(5, 5, 6, 6, 6).astype(np.int64)
    runs = cell_runs(person, t, tower)
    assert runs.tower.tolist() == [5, 6, 6]
    assert runs.end[0] == T0 + 10 * MIN + 60  # minute resolution: the last minute counts
