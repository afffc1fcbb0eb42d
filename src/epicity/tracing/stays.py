"""Stays from raw records: GPS stay detection, visits around payments, cell-tower runs.

Pure functions over NumPy arrays (times in UTC epoch seconds, positions in the city's local
metric projection), vectorised over many people at once so the same code serves one case and
thousands of candidate contacts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from epicity.tracing.config import TracingConfig

__all__ = [
    "CellRuns",
    "GpsStays",
    "VenueVisits",
    "cell_links",
    "cell_runs",
    "gps_links",
    "gps_stays",
    "venue_visits",
]

I64 = NDArray[np.int64]
CELL_RUN_GAP_S = 2 * 3600  # a longer silence ends a run at a tower
F64 = NDArray[np.float64]


@dataclass
class GpsStays:
    """Stays detected from GPS fixes: one row per stay."""

    person: I64
    start: I64
    end: I64
    x: F64
    y: F64
    radius_m: F64  # uncertainty of the centre (fix accuracy over sqrt(fixes), at least 5 m)
    fixes: I64

    def __len__(self) -> int:
        return len(self.person)


def gps_links(person: I64, t: I64, x: F64, y: F64, config: TracingConfig) -> NDArray[np.bool_]:
    """For each pair of consecutive fixes (sorted by person then time), whether the second
    continues the first's stay: same person, within `stay_radius_m` and `stay_max_gap_s`."""
    same = person[1:] == person[:-1]
    step = np.hypot(x[1:] - x[:-1], y[1:] - y[:-1])
    gap = t[1:] - t[:-1]
    return np.asarray(same & (step <= config.stay_radius_m) & (gap <= config.stay_max_gap_s))


def gps_stays(
    person: I64,
    t: I64,
    x: F64,
    y: F64,
    accuracy: F64,
    config: TracingConfig,
    *,
    emit: NDArray[np.bool_] | None = None,
) -> GpsStays:
    """Chain consecutive fixes of a person that lie within `stay_radius_m` of each other and
    `stay_max_gap_s` apart; chains lasting `stay_min_duration_s` (before padding) are stays.

    Input must be sorted by person then time. Each stay is padded by `stay_pad_s` on both sides
    (people arrive before the first fix and leave after the last), but never beyond the
    midpoint to the person's neighbouring fixes. `emit` (per fix) drops the chains whose first
    fix is False: the index build passes neighbouring fixes that only bound the padding.
    """
    n = len(person)
    if n == 0:
        empty_i = np.empty(0, np.int64)
        empty_f = np.empty(0, np.float64)
        return GpsStays(empty_i, empty_i, empty_i, empty_f, empty_f, empty_f, empty_i)
    linked = gps_links(person, t, x, y, config)
    # A chain starts wherever the previous fix is not linked to this one.
    chain_of_fix = np.cumsum(np.concatenate([[True], ~linked])) - 1
    starts = np.flatnonzero(np.concatenate([[True], ~linked]))
    ends = np.concatenate([starts[1:], [n]]) - 1
    # Padding, limited to half the way to the neighbouring fixes of the same person.
    prev_ok = (starts > 0) & (person[np.maximum(starts - 1, 0)] == person[starts])
    next_ok = (ends < n - 1) & (person[np.minimum(ends + 1, n - 1)] == person[ends])
    before = np.where(prev_ok, (t[starts] - t[np.maximum(starts - 1, 0)]) // 2, config.stay_pad_s)
    after = np.where(next_ok, (t[np.minimum(ends + 1, n - 1)] - t[ends]) // 2, config.stay_pad_s)
    padded_start = t[starts] - np.minimum(before, config.stay_pad_s)
    padded_end = t[ends] + np.minimum(after, config.stay_pad_s)
    # A stay lasts long enough counting the time around its fixes in which the phone reported
    # nothing (a still phone reports rarely), so one fix between long silences can be a stay.
    keep = (padded_end - padded_start) >= config.stay_min_duration_s
    if emit is not None:
        keep &= emit[starts]
    counts = (ends - starts + 1)[keep]
    fix_kept = keep[chain_of_fix]
    # Renumber kept chains 0..k-1 for the per-stay sums.
    chain = (np.cumsum(keep) - 1)[chain_of_fix[fix_kept]]
    k = int(keep.sum())
    # The centre is the coordinate-wise median: a multipath fix hundreds of metres off would
    # drag a mean across the street.
    cx = _group_median(chain, x[fix_kept], counts)
    cy = _group_median(chain, y[fix_kept], counts)
    acc = np.bincount(chain, weights=accuracy[fix_kept], minlength=k) / counts
    starts = starts[keep]
    start, end = padded_start[keep], padded_end[keep]
    radius = np.maximum(acc / np.sqrt(counts), 5.0)
    return GpsStays(person[starts], start, end, cx, cy, radius, counts.astype(np.int64))


def _group_median(group: I64, values: F64, counts: I64) -> F64:
    """Median of `values` per group 0..k-1 (groups given in ascending order, sizes `counts`)."""
    if not len(counts):
        return np.empty(0, np.float64)
    first = np.cumsum(counts) - counts
    # Groups of one or two fixes (most of them) need no sort; sort only the larger ones.
    out = (values[first] + values[first + np.minimum(counts, 2) - 1]) / 2
    big = counts > 2
    if big.any():
        rows = big[group]
        sub_group, sub_values = group[rows], values[rows]
        # One integer sort instead of a two-key lexsort: group in the high bits, the value in
        # millimetres in the low 32 (a city spans far less than 4,000 km).
        mm = np.round((sub_values - sub_values.min()) * 1000).astype(np.int64)
        ordered = sub_values[np.argsort((sub_group << 32) | np.minimum(mm, 2**32 - 1))]
        sub_counts = counts[big]
        sub_first = np.cumsum(sub_counts) - sub_counts
        low = ordered[sub_first + (sub_counts - 1) // 2]
        high = ordered[sub_first + sub_counts // 2]
        out[big] = (low + high) / 2
    return np.asarray(out, dtype=np.float64)


@dataclass
class VenueVisits:
    """Visits pinned by a card payment or a visitor-log entry, merged per person and venue."""

    person: I64
    venue: I64
    start: I64
    end: I64
    first: I64  # time of the first and last record behind the visit
    last: I64
    sources: NDArray[np.str_]  # "card", "entries" or "card+entries"

    def __len__(self) -> int:
        return len(self.person)


def dwell_bounds(category: NDArray[np.str_], config: TracingConfig) -> tuple[I64, I64]:
    """Seconds a visit is assumed to last before and after its record, per venue category."""
    kinds, kind_of = np.unique(np.asarray(category, dtype=str), return_inverse=True)
    dwell = np.array([config.dwell_for(str(k)) for k in kinds], dtype=np.int64).reshape(-1, 2)
    return dwell[kind_of.ravel(), 0], dwell[kind_of.ravel(), 1]


def venue_visits(
    person: I64, t: I64, venue: I64, source: NDArray[np.str_], before: I64, after: I64
) -> VenueVisits:
    """Turn each payment or entry into a visit interval from `before` its time to `after` it
    (its venue's dwell model, `dwell_bounds`), then merge overlapping visits of the same person
    at the same venue."""
    start, end = t - before, t + after
    order = np.lexsort((start, venue, person))
    person, venue, start, end = person[order], venue[order], start[order], end[order]
    t, source = t[order], source[order]
    n = len(person)
    if n == 0:
        return VenueVisits(person, venue, start, end, t, t, source)
    # Merge runs of overlapping intervals per (person, venue).
    same_key = np.concatenate([[False], (person[1:] == person[:-1]) & (venue[1:] == venue[:-1])])
    running_end = _running_max_by_group(end, ~same_key)
    previous_end = np.concatenate([[np.iinfo(np.int64).min], running_end[:-1]])
    firsts = np.flatnonzero(~same_key | (start > previous_end))
    merged_end = np.maximum.reduceat(end, firsts)
    bits = np.where(source == "card", 1, 2)
    merged_bits = np.bitwise_or.reduceat(bits, firsts)
    names = np.array(["", "card", "entries", "card+entries"])
    return VenueVisits(
        person[firsts],
        venue[firsts],
        start[firsts],
        merged_end,
        np.minimum.reduceat(t, firsts),
        np.maximum.reduceat(t, firsts),
        names[merged_bits],
    )


def _running_max_by_group(values: I64, group_start: NDArray[np.bool_]) -> I64:
    """Running maximum of `values` (non-negative, below 2**34) restarting at each group start."""
    offset = np.cumsum(group_start).astype(np.int64) << 34
    return np.asarray(np.maximum.accumulate(values + offset) - offset, dtype=np.int64)


@dataclass
class CellRuns:
    """Consecutive connection records of a person at the same tower."""

    person: I64
    tower: I64
    start: I64
    end: I64
    records: I64

    def __len__(self) -> int:
        return len(self.person)


def cell_links(
    person: I64, t: I64, tower: I64, max_gap_s: int = CELL_RUN_GAP_S
) -> NDArray[np.bool_]:
    """For each pair of consecutive records, whether the second continues the first's run."""
    return np.asarray(
        (person[1:] == person[:-1]) & (tower[1:] == tower[:-1]) & (t[1:] - t[:-1] <= max_gap_s)
    )


def cell_runs(
    person: I64,
    t: I64,
    tower: I64,
    max_gap_s: int = CELL_RUN_GAP_S,
    *,
    emit: NDArray[np.bool_] | None = None,
) -> CellRuns:
    """Run-length encode a person's serving cells (sorted by person then time); a run ends when
    the tower changes or the records stop for `max_gap_s`. `emit` drops runs whose first record
    is False (as in `gps_stays`)."""
    n = len(person)
    if n == 0:
        e = np.empty(0, np.int64)
        return CellRuns(e, e, e, e, e)
    cont = cell_links(person, t, tower, max_gap_s)
    starts = np.flatnonzero(np.concatenate([[True], ~cont]))
    ends = np.concatenate([starts[1:], [n]]) - 1
    if emit is not None:
        keep = emit[starts]
        starts, ends = starts[keep], ends[keep]
    # Cell times are truncated to the minute: a run covers at least that minute.
    return CellRuns(
        person[starts], tower[starts], t[starts], t[ends] + 60, (ends - starts + 1).astype(np.int64)
    )
