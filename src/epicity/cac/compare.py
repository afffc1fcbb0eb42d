"""Comparing cities: a count per N people, smoothed over a trailing window (pure: no database).

``rate(day) = mean(count over the `smooth` days ending on day) * per / population``. The
window is of calendar days and needs a count on every one of them: a day without a report
(no update, or the count not given) leaves a gap rather than a mean of fewer days, so a city
that reports irregularly is not made to look steadier than it is. ``smooth = 1`` is the
day's own count.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

__all__ = ["MAX_PER", "MAX_SMOOTH", "per_capita"]

MAX_SMOOTH = 28
MAX_PER = 1_000_000


def per_capita(
    points: Sequence[tuple[dt.date, int | None]], *, population: int, per: int, smooth: int
) -> list[tuple[dt.date, float | None]]:
    """Every calendar day from the first to the last of `points` with its rate per `per`
    people (None where the window is incomplete).

    Example::

        >>> d = dt.date(2020, 3, 1)
        >>> per_capita([(d, 10), (d + dt.timedelta(1), 20)], population=1_000_000,
        ...            per=100_000, smooth=2)
        [(datetime.date(2020, 3, 1), None), (datetime.date(2020, 3, 2), 1.5)]
    """
    if population <= 0:
        raise ValueError(f"population: must be positive (got {population})")
    if not 1 <= per <= MAX_PER:
        raise ValueError(f"per: must be from 1 to {MAX_PER} (got {per})")
    if not 1 <= smooth <= MAX_SMOOTH:
        raise ValueError(f"smooth: must be from 1 to {MAX_SMOOTH} (got {smooth})")
    if not points:
        return []
    by_day = dict(points)
    first, last = min(by_day), max(by_day)
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    counts = [by_day.get(day) for day in days]
    out: list[tuple[dt.date, float | None]] = []
    window_sum = 0
    missing = 0  # days without a count in the current window
    for i, day in enumerate(days):
        value = counts[i]
        if value is None:
            missing += 1
        else:
            window_sum += value
        if i >= smooth:
            leaving = counts[i - smooth]
            if leaving is None:
                missing -= 1
            else:
                window_sum -= leaving
        complete = i + 1 >= smooth and missing == 0
        out.append((day, window_sum / smooth * per / population if complete else None))
    return out
