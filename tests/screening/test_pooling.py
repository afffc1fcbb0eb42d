"""Dorfman pooling math (Dorfman 1943): known values and properties."""

from __future__ import annotations

import doctest

import pytest
from hypothesis import given
from hypothesis import strategies as st

from epicity.screening import pooling
from epicity.screening.pooling import (
    capacity_gain,
    expected_tests_per_person,
    make_pools,
    optimal_pool_size,
)

prevalences = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
sizes = st.integers(min_value=1, max_value=64)


def test_known_values() -> None:
    """Values from Dorfman's formula, worked by hand."""
    assert expected_tests_per_person(0.01, 1) == 1.0
    assert expected_tests_per_person(0.3, 1) == 1.0
    # 1/10 + 1 - 0.99^10 = 0.1 + 1 - 0.904382 = 0.195618
    assert expected_tests_per_person(0.01, 10) == pytest.approx(0.195618, abs=1e-6)
    # 1/5 + 1 - 0.95^5 = 0.2 + 1 - 0.773781 = 0.426219
    assert expected_tests_per_person(0.05, 5) == pytest.approx(0.426219, abs=1e-6)
    assert expected_tests_per_person(0.0, 4) == pytest.approx(0.25)
    assert expected_tests_per_person(1.0, 4) == pytest.approx(1.25)
    # Dorfman's own table (1943): p = 1% -> k = 11, about 0.196 tests per person.
    assert optimal_pool_size(0.01) == 11
    assert expected_tests_per_person(0.01, 11) == pytest.approx(0.1956, abs=1e-4)
    assert optimal_pool_size(0.05) == 5
    assert optimal_pool_size(0.02) == 8
    assert optimal_pool_size(0.001) == 16  # capped at max_size
    assert optimal_pool_size(0.001, max_size=40) == 32
    assert optimal_pool_size(0.3) == 3
    assert optimal_pool_size(0.31) == 1  # beyond ~30% pooling does not pay
    assert optimal_pool_size(0.5) == 1
    assert capacity_gain(0.01, 11) == pytest.approx(5.11, abs=0.01)
    assert capacity_gain(0.0, 8) == pytest.approx(8.0)
    assert capacity_gain(0.5, 1) == 1.0


def test_make_pools_in_order() -> None:
    assert make_pools(["a", "b", "c", "d", "e"], 2) == [["a", "b"], ["c", "d"], ["e"]]
    assert make_pools(["a", "b"], 1) == [["a"], ["b"]]
    assert make_pools(["a", "b"], 8) == [["a", "b"]]
    assert make_pools([], 4) == []


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: expected_tests_per_person(-0.1, 2), "prevalence"),
        (lambda: expected_tests_per_person(1.5, 2), "prevalence"),
        (lambda: expected_tests_per_person(float("nan"), 2), "prevalence"),
        (lambda: expected_tests_per_person(0.1, 0), "pool_size"),
        (lambda: expected_tests_per_person(0.1, True), "pool_size"),
        (lambda: optimal_pool_size(0.1, max_size=0), "max_size"),
        (lambda: capacity_gain(2.0, 4), "prevalence"),
        (lambda: make_pools(["a"], 0), "pool_size"),
        (lambda: make_pools(["a", "a"], 2), "barcodes"),
        (lambda: make_pools("abc", 2), "barcodes"),
    ],
)
def test_bad_input_names_the_field(call: object, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        call()  # type: ignore[operator]


@given(prevalences, sizes)
def test_expected_tests_bounds(p: float, k: int) -> None:
    """Between the all-negative cost 1/k and the all-positive cost 1/k + 1."""
    e = expected_tests_per_person(p, k)
    if k == 1:
        assert e == 1.0
    else:
        assert 1.0 / k - 1e-12 <= e <= 1.0 / k + 1.0 + 1e-12


@given(st.floats(min_value=0.0, max_value=0.99, allow_nan=False), st.integers(2, 64))
def test_expected_tests_grow_with_prevalence(p: float, k: int) -> None:
    assert expected_tests_per_person(p, k) <= expected_tests_per_person(p + 0.01, k) + 1e-12


@given(prevalences, st.integers(min_value=1, max_value=40))
def test_optimal_is_the_minimum(p: float, max_size: int) -> None:
    best = optimal_pool_size(p, max_size)
    assert 1 <= best <= max_size
    best_tests = expected_tests_per_person(p, best)
    assert all(
        best_tests <= expected_tests_per_person(p, k) + 1e-12 for k in range(1, max_size + 1)
    )
    assert best_tests <= 1.0  # never worse than individual testing
    assert capacity_gain(p, best) >= 1.0 - 1e-12


@given(st.floats(min_value=0.0, max_value=0.2, allow_nan=False))
def test_optimal_pool_shrinks_as_prevalence_grows(p: float) -> None:
    assert optimal_pool_size(p + 0.05) <= optimal_pool_size(p)


@given(prevalences, sizes)
def test_gain_is_reciprocal(p: float, k: int) -> None:
    assert capacity_gain(p, k) * expected_tests_per_person(p, k) == pytest.approx(1.0)


@given(st.lists(st.text(min_size=1, max_size=6), unique=True, max_size=60), sizes)
def test_make_pools_partition(barcodes: list[str], k: int) -> None:
    pools = make_pools(barcodes, k)
    assert [b for pool in pools for b in pool] == barcodes
    assert all(1 <= len(pool) <= k for pool in pools)
    assert all(len(pool) == k for pool in pools[:-1])
    assert len(pools) == -(-len(barcodes) // k)


def test_docstring_examples() -> None:
    assert doctest.testmod(pooling).failed == 0
