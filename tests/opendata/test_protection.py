"""Small-count protection: no hidden small count can be recomputed from what is published.

The check is independent of the algorithm's own graph reasoning: a linear programme (scipy's
HiGHS) finds the smallest and largest value each hidden small count can take given every
published cell and total, the row and column equations and the attacker's knowledge that a
hidden entry is a non-negative integer.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from epicity.opendata.protection import TOTAL, ProtectedTable, protect


def _ranges(t: ProtectedTable) -> dict[tuple[str, str], tuple[float, float]]:
    """The feasible (min, max) of every hidden entry given what `t` shows."""
    rows, cols = t.rows, t.columns
    keys = [(r, c) for r in (*rows, TOTAL) for c in cols]  # cells and column totals
    hidden = [k for k in keys if t.entries[k] is None]
    index = {k: i for i, k in enumerate(hidden)}
    n = len(hidden)
    a_eq, b_eq = [], []

    def equation(terms: list[tuple[tuple[str, str], int]], constant: float) -> None:
        row = np.zeros(n)
        rhs = constant
        for key, sign in terms:
            value = t.entries[key]
            if value is None:
                row[index[key]] += sign
            else:
                rhs -= sign * value
        if row.any():
            a_eq.append(row)
            b_eq.append(rhs)
        else:
            assert abs(rhs) < 1e-9  # the published figures are consistent

    for r in rows:  # each row adds up to its (published) total
        total = t.entries[(r, TOTAL)]
        assert total is not None
        equation([((r, c), 1) for c in cols], total)
    for c in cols:  # each column adds up to its total
        equation([*(((r, c), 1) for r in rows), ((TOTAL, c), -1)], 0)
    grand = t.entries[(TOTAL, TOTAL)]
    assert grand is not None
    equation([((TOTAL, c), 1) for c in cols], grand)
    low = 0
    out = {}
    for key in hidden:
        objective = np.zeros(n)
        objective[index[key]] = 1
        bounds = [(low, None)] * n
        lo = linprog(objective, A_eq=a_eq or None, b_eq=b_eq or None, bounds=bounds)
        hi = linprog(-objective, A_eq=a_eq or None, b_eq=b_eq or None, bounds=bounds)
        assert lo.status == 0
        # unbounded above cannot happen (totals bound everything), but do not rely on it
        out[key] = (lo.fun, -hi.fun if hi.status == 0 else float("inf"))
    return out


def _check(counts: dict[tuple[str, str], int], rows: list[str], cols: list[str]) -> None:
    t = protect(counts, rows, cols, threshold=5)
    truth = {(r, c): counts.get((r, c), 0) for r in rows for c in cols}
    for c in cols:
        truth[(TOTAL, c)] = sum(truth[(r, c)] for r in rows)
    for (r, c), value in t.entries.items():
        if c == TOTAL:
            assert value == (sum(truth[(r, x)] for x in cols)), "totals are exact"
        elif value is not None:
            assert value == truth[(r, c)]
            assert not 1 <= value <= 4, f"a small count is shown at {(r, c)}"
    ranges = _ranges(t)
    for key, (lo, hi) in ranges.items():
        assert lo - 1e-6 <= truth[key] <= hi + 1e-6
        if 1 <= truth[key] <= 4:
            assert hi - lo >= 1 - 1e-6, f"{key}={truth[key]} is recoverable: [{lo}, {hi}]"


small_counts = st.one_of(st.integers(0, 6), st.integers(0, 40))


@st.composite
def tables(draw: st.DrawFn) -> tuple[dict[tuple[str, str], int], list[str], list[str]]:
    n_rows = draw(st.integers(1, 6))
    n_cols = draw(st.integers(2, 5))
    rows = [f"d{i}" for i in range(n_rows)]
    cols = [f"a{j}" for j in range(n_cols)]
    counts = {(r, c): draw(small_counts) for r in rows for c in cols}
    return counts, rows, cols


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables())
def test_no_hidden_small_count_is_recoverable_from_the_totals(
    table: tuple[dict[tuple[str, str], int], list[str], list[str]],
) -> None:
    _check(*table)


def test_a_lone_small_count_gets_complements_in_its_row_and_column() -> None:
    counts = {("A", "x"): 2, ("A", "y"): 9, ("B", "x"): 7, ("B", "y"): 8}
    t = protect(counts, ["A", "B"], ["x", "y"])
    assert t.protection[("A", "x")] == "primary"
    hidden = {k for k, v in t.entries.items() if v is None}
    assert hidden == {("A", "x"), ("A", "y"), ("B", "x"), ("B", "y")}
    assert {t.protection[k] for k in hidden - {("A", "x")}} == {"complementary"}
    assert t.entries[("A", TOTAL)] == 11
    assert t.entries[(TOTAL, "x")] == 9  # column totals of 5 or more stay shown
    _check(counts, ["A", "B"], ["x", "y"])


def test_a_district_with_its_cases_in_one_band_hides_zeros_too() -> None:
    # shown zeros would give the hidden 2 away: the row total is 2
    counts = {("A", "x"): 2, ("B", "x"): 30, ("B", "y"): 20, ("C", "x"): 12, ("C", "y"): 9}
    t = protect(counts, ["A", "B", "C"], ["x", "y"])
    assert t.entries[("A", "y")] is None
    assert t.protection[("A", "y")] == "complementary"
    _check(counts, ["A", "B", "C"], ["x", "y"])


def test_ones_in_a_rectangle_of_ones_are_not_left_pinned() -> None:
    counts = {("A", "x"): 1, ("A", "y"): 1, ("B", "x"): 1, ("B", "y"): 1, ("C", "x"): 30}
    counts |= {("C", "y"): 20, ("A", "z"): 12, ("B", "z"): 15, ("C", "z"): 9}
    _check(counts, ["A", "B", "C"], ["x", "y", "z"])


def test_large_counts_are_shown_and_zeros_too() -> None:
    counts = {("A", "x"): 0, ("A", "y"): 12, ("B", "x"): 40, ("B", "y"): 5}
    t = protect(counts, ["A", "B"], ["x", "y"])
    assert all(v is not None for v in t.entries.values())
    assert not t.withheld


def test_one_case_in_the_whole_city_is_protected() -> None:
    counts = {("A", "x"): 1}
    t = protect(counts, ["A", "B"], ["x", "y", "z"])
    assert not t.withheld
    _check(counts, ["A", "B"], ["x", "y", "z"])


def test_a_table_that_cannot_be_protected_is_withheld() -> None:
    # one column: its total is the published grand total, so nothing can hide the 1
    t = protect({("A", "x"): 1, ("B", "x"): 9}, ["A", "B"], ["x"])
    assert t.withheld
    assert all(v is None for (r, c), v in t.entries.items() if c != TOTAL)
    assert (t.entries[("A", TOTAL)], t.entries[(TOTAL, TOTAL)]) == (1, 10)


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"threshold": 1}, "threshold"),
        ({"rows": ["A", TOTAL]}, "reserved"),
        ({"rows": ["A", "A"]}, "unique"),
        ({"counts": {("Z", "x"): 1}}, "not a cell"),
        ({"counts": {("A", "x"): -1}}, "negative"),
    ],
)
def test_bad_tables_are_refused(kwargs: dict[str, object], problem: str) -> None:
    args: dict[str, object] = {"counts": {}, "rows": ["A"], "columns": ["x", "y"]}
    args |= kwargs
    with pytest.raises(ValueError, match=problem):
        protect(**args)  # type: ignore[arg-type]
