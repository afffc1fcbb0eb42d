"""Dorfman pooled testing: expected tests per person, best pool size, capacity gain.

Pure functions over plain numbers (no database, no web). Dorfman's two-stage scheme
(R. Dorfman, "The Detection of Defective Members of Large Populations", *The Annals of
Mathematical Statistics* 14(4): 436-440, 1943): samples from ``k`` people are mixed into one
pool and tested once; a negative pool clears all ``k``; a positive pool has each of its ``k``
samples retested individually. With prevalence ``p`` and independent infections, a pool is
positive with probability ``1 - (1 - p)^k``, so the expected number of tests per person is::

    E(p, k) = 1/k + 1 - (1 - p)^k        (k >= 2)
    E(p, 1) = 1                           (individual testing)

This assumes a perfect test (no dilution loss in the pool); RT-PCR pools of up to about 8-16
were validated in 2020 with small sensitivity loss (e.g. Yelin et al., *Clinical Infectious
Diseases* 71(16), 2020, pools of up to 32 with ~10% false negatives at 32). The default upper
bound on pool size is therefore 16.

Example::

    >>> round(capacity_gain(0.01, optimal_pool_size(0.01)), 2)
    5.11
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = [
    "capacity_gain",
    "expected_tests_per_person",
    "make_pools",
    "optimal_pool_size",
]


def _check_prevalence(prevalence: float) -> None:
    """Refuse a prevalence outside [0, 1] (or NaN), naming the field."""
    if not isinstance(prevalence, int | float) or math.isnan(prevalence):
        raise ValueError(f"prevalence must be a number in [0, 1], got {prevalence!r}")
    if not 0.0 <= prevalence <= 1.0:
        raise ValueError(f"prevalence must be in [0, 1], got {prevalence!r}")


def _check_pool_size(pool_size: int, field: str = "pool_size") -> None:
    """Refuse a pool size that is not a positive integer, naming the field."""
    if isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 1:
        raise ValueError(f"{field} must be an integer >= 1, got {pool_size!r}")


def expected_tests_per_person(prevalence: float, pool_size: int) -> float:
    """Expected tests per person under Dorfman pooling (Dorfman 1943).

    Args:
        prevalence: probability that one person is positive, in [0, 1].
        pool_size: people per pool ``k``; 1 means individual testing (exactly 1 test each).

    Returns:
        ``1`` for ``k == 1``, else ``1/k + 1 - (1 - p)^k``.

    Example::

        >>> round(expected_tests_per_person(0.01, 10), 4)
        0.1956
    """
    _check_prevalence(prevalence)
    _check_pool_size(pool_size)
    if pool_size == 1:
        return 1.0
    return 1.0 / pool_size + 1.0 - (1.0 - prevalence) ** pool_size


def optimal_pool_size(prevalence: float, max_size: int = 16) -> int:
    """Pool size in ``1..max_size`` with the fewest expected tests per person (Dorfman 1943).

    Returns 1 when pooling does not help (for Dorfman's scheme, prevalence above about 30%).
    Ties go to the smaller pool (less dilution, fewer retests).

    Example::

        >>> optimal_pool_size(0.01), optimal_pool_size(0.05), optimal_pool_size(0.5)
        (11, 5, 1)
    """
    _check_prevalence(prevalence)
    _check_pool_size(max_size, "max_size")
    best_size, best_tests = 1, 1.0
    for size in range(2, max_size + 1):
        tests = expected_tests_per_person(prevalence, size)
        if tests < best_tests - 1e-12:
            best_size, best_tests = size, tests
    return best_size


def capacity_gain(prevalence: float, pool_size: int) -> float:
    """People served per test under Dorfman pooling, relative to individual testing.

    ``1 / expected_tests_per_person(prevalence, pool_size)`` (Dorfman 1943): a lab that can
    run ``N`` reactions a day can test ``N * capacity_gain`` people. At ``p = 0`` the gain is
    ``k``; it is below 1 when pooling costs more tests than it saves.

    Example::

        >>> round(capacity_gain(0.02, 8), 2)
        3.65
    """
    return 1.0 / expected_tests_per_person(prevalence, pool_size)


def make_pools(barcodes: Sequence[str], pool_size: int) -> list[list[str]]:
    """Split sample barcodes into consecutive pools of ``pool_size`` (in order).

    The last pool may be smaller. Every barcode appears in exactly one pool; an empty input
    gives no pools. Duplicate barcodes are refused (a sample can be in only one pool).

    Example::

        >>> make_pools(["a", "b", "c", "d", "e"], 2)
        [['a', 'b'], ['c', 'd'], ['e']]
    """
    _check_pool_size(pool_size)
    if isinstance(barcodes, str):
        raise ValueError("barcodes must be a sequence of barcodes, not one string")
    if len(set(barcodes)) != len(barcodes):
        raise ValueError("barcodes must be distinct: a sample can be in only one pool")
    items = list(barcodes)
    return [items[i : i + pool_size] for i in range(0, len(items), pool_size)]
