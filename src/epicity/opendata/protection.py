"""Small-count protection of a two-way table of counts: primary and complementary suppression.

A pure algorithm (no database, no web): `protect` takes the counts of a rows x columns table
and returns which entries may be shown. Row totals and the grand total are always shown (the
daily figures publish them anyway: a district's confirmed total); column totals and the
interior cells are entries that may be hidden.

- **Primary suppression**: an entry (cell or column total) from 1 to ``threshold - 1`` is
  hidden.
- **Complementary suppression**: more entries (zeros included) are hidden until no primary
  entry can be recomputed exactly from what is shown. The attacker model: everything shown
  (cells, row totals, column totals, grand total), and that every hidden entry is a
  non-negative integer (a hidden entry may be a zero, a small count or a large one; which
  entries are primary is not published). An entry is recoverable exactly when the linear system
  "rows and columns add up to their totals" with those bounds leaves it a single value. Zeros
  must be hideable: a district with 2 cases, both in their twenties, would otherwise show its
  other bands as 0 and give the hidden 2 away.

The test of recoverability is exact and cheap. Write the hidden entries as edges of a
bipartite graph between rows (plus one node for the row of column totals) and columns; the
totals are the nodes' equations. The hidden values can change without changing any total only
along cycles of hidden entries, alternately up and down by the same amount (a column total
enters its column's equation with the opposite sign, so its arcs are reversed). An entry can
go up by 1 if a cycle through it exists whose "down" entries are all at least 1 (they stay
non-negative), and down by 1 if it is at least 1 and a cycle exists whose other "down"
entries are all at least 1. With arcs row -> column for "up" (always allowed) and column ->
row for "down" (allowed when the value is at least 1), each is a directed path search
(`_protected`). By the
conformal decomposition of circulations this is exact: the entry's feasible set is more than
one value if and only if one of the two searches succeeds (tests check it against a linear
programme with scipy on random tables).

Complementary entries are chosen greedily to hide as little as possible: first the smallest
single entry in the exposed entry's row or column that protects it, else the cheapest
rectangle (three entries) that does. If even that cannot protect it (a table of one column,
whose total is the published grand total), the whole table is withheld: every entry is
hidden; only the row totals and the grand total remain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["DEFAULT_THRESHOLD", "TOTAL", "ProtectedTable", "protect"]

# Counts 1-4 are hidden: the "rule of five" of official statistics for tables of people.
DEFAULT_THRESHOLD = 5
TOTAL = "all"

Key = tuple[str, str]  # (row, column); row TOTAL holds the column totals


@dataclass(frozen=True)
class ProtectedTable:
    """A table after protection: each entry's value (None when hidden) and why.

    ``entries`` holds every interior cell ``(row, column)``, every column total
    ``(TOTAL, column)``, every row total ``(row, TOTAL)`` and the grand total
    ``(TOTAL, TOTAL)``. ``protection`` says "none" (shown), "primary" (a small count),
    "complementary" (hidden to protect a small count) or "withheld" (the whole table hidden).
    """

    rows: tuple[str, ...]
    columns: tuple[str, ...]
    threshold: int
    entries: Mapping[Key, int | None]
    protection: Mapping[Key, str]

    @property
    def withheld(self) -> bool:
        """Whether the whole table is hidden (it could not be protected otherwise)."""
        return any(p == "withheld" for p in self.protection.values())


def _arcs(values: Mapping[Key, int], hidden: set[Key], skip: Key) -> dict[str, set[str]]:
    """Allowed moves between nodes ('r:<row>', 'c:<column>') along hidden entries but `skip`."""
    arcs: dict[str, set[str]] = {}
    for key in hidden:
        if key == skip:
            continue
        row, column = key
        r, c = f"r:{row}", f"c:{column}"
        v = values[key]
        if row == TOTAL:  # a column total: its sign in the column's equation is reversed
            arcs.setdefault(c, set()).add(r)  # the total goes up
            if v >= 1:
                arcs.setdefault(r, set()).add(c)  # the total goes down
        else:
            arcs.setdefault(r, set()).add(c)  # the cell goes up
            if v >= 1:
                arcs.setdefault(c, set()).add(r)  # the cell goes down
    return arcs


def _reaches(arcs: Mapping[str, set[str]], start: str, goal: str) -> bool:
    seen = {start}
    todo = [start]
    while todo:
        node = todo.pop()
        if node == goal:
            return True
        for nxt in arcs.get(node, ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return False


def _protected(values: Mapping[Key, int], hidden: set[Key], key: Key) -> bool:
    """Whether hidden entry `key` can take another value without changing anything shown."""
    arcs = _arcs(values, hidden, key)
    row, column = key
    r, c = f"r:{row}", f"c:{column}"
    v = values[key]
    if row == TOTAL:
        # up: the cycle leaves the column node towards the totals row and comes back
        return _reaches(arcs, r, c) or (v >= 1 and _reaches(arcs, c, r))
    return _reaches(arcs, c, r) or (v >= 1 and _reaches(arcs, r, c))


def _complement(
    values: Mapping[Key, int], hidden: set[Key], key: Key, rows: Sequence[str], cols: Sequence[str]
) -> set[Key] | None:
    """The cheapest entries to hide so that `key` is protected, or None if none exist."""

    row, column = key
    line = [(row, c) for c in cols if c != column] + [(r, column) for r in rows if r != row]
    singles = sorted((k for k in line if k not in hidden), key=lambda k: (values[k], k))
    for k in singles:
        if _protected(values, hidden | {k}, key):
            return {k}
    rectangles: list[tuple[int, tuple[Key, Key, Key]]] = []
    for r2 in rows:
        if r2 == row:
            continue
        for c2 in cols:
            if c2 == column:
                continue
            trio = ((row, c2), (r2, column), (r2, c2))
            cost = sum(values[k] for k in trio if k not in hidden)
            rectangles.append((cost, trio))
    for _, corners in sorted(rectangles):
        if _protected(values, hidden | set(corners), key):
            return set(corners) - hidden
    return None


def protect(
    counts: Mapping[Key, int],
    rows: Sequence[str],
    columns: Sequence[str],
    *,
    threshold: int = DEFAULT_THRESHOLD,
) -> ProtectedTable:
    """Protect a table of counts (`counts[(row, column)]`, missing = 0) by suppression.

    Args:
        counts: non-negative counts of the interior cells.
        rows, columns: the table's labels (TOTAL is reserved).
        threshold: entries from 1 to ``threshold - 1`` are hidden (primary suppression).

    Example::

        t = protect({("A", "x"): 2, ("A", "y"): 9, ("B", "x"): 7, ("B", "y"): 8},
                    ["A", "B"], ["x", "y"])
        t.entries[("A", "x")]  # None: a small count, and (A, y), (B, x), (B, y) hide with it
    """
    if threshold < 2:
        raise ValueError(f"threshold: must be at least 2, got {threshold}")
    if TOTAL in rows or TOTAL in columns:
        raise ValueError(f"rows and columns: {TOTAL!r} is reserved for the totals")
    if len(set(rows)) != len(rows) or len(set(columns)) != len(columns):
        raise ValueError("rows and columns: labels must be unique")
    for key, n in counts.items():
        if key[0] not in rows or key[1] not in columns:
            raise ValueError(f"counts: {key!r} is not a cell of the table")
        if n < 0:
            raise ValueError(f"counts: {key!r} is negative ({n})")
    rows, cols = tuple(rows), tuple(columns)
    values: dict[Key, int] = {(r, c): counts.get((r, c), 0) for r in rows for c in cols}
    for c in cols:
        values[(TOTAL, c)] = sum(values[(r, c)] for r in rows)
    for r in rows:
        values[(r, TOTAL)] = sum(values[(r, c)] for c in cols)
    values[(TOTAL, TOTAL)] = sum(values[(r, TOTAL)] for r in rows)

    graph_rows = (*rows, TOTAL)  # the row of column totals takes part in the equations
    candidates = [(r, c) for r in graph_rows for c in cols]
    primary = {k for k in candidates if 1 <= values[k] < threshold}
    hidden = set(primary)
    withheld = False
    for key in sorted(primary, key=lambda k: (values[k], k)):
        if _protected(values, hidden, key):
            continue
        extra = _complement(values, hidden, key, graph_rows, cols)
        if extra is None:
            withheld = True
            break
        hidden |= extra
    # Hiding more only adds cycles, so earlier entries stay protected; checked all the same.
    if not withheld and not all(_protected(values, hidden, k) for k in primary):
        withheld = True

    entries: dict[Key, int | None] = {}
    protection: dict[Key, str] = {}
    for key, v in values.items():
        if key[1] == TOTAL:  # row totals and the grand total: always shown
            entries[key], protection[key] = v, "none"
        elif withheld:
            entries[key], protection[key] = None, "withheld"
        elif key in primary:
            entries[key], protection[key] = None, "primary"
        elif key in hidden:
            entries[key], protection[key] = None, "complementary"
        else:
            entries[key], protection[key] = v, "none"
    return ProtectedTable(rows, cols, threshold, entries, protection)
