"""A summary of what a location store holds: aggregates only, no personal data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from epicity.records.store import LocationStore

__all__ = ["StoreSummary", "summarize_store"]


@dataclass
class StoreSummary:
    """Row counts, time span and per-district aggregates of a store."""

    rows: dict[str, int] = field(default_factory=dict)
    first_day: date | None = None
    last_day: date | None = None
    people_with: dict[str, int] = field(default_factory=dict)  # distinct people per record table
    districts: list[tuple[str, int, int]] = field(
        default_factory=list
    )  # district, residents, cases
    merchants_by_category: list[tuple[str, int, int]] = field(
        default_factory=list
    )  # cat, venues, card txns
    cases_by_day: list[tuple[date, int]] = field(default_factory=list)


def summarize_store(store: LocationStore) -> StoreSummary:
    """Aggregate counts over the store (row counts, span, districts, venues, daily cases)."""
    summary = StoreSummary()
    tables = set(store.tables())
    for name in sorted(tables):
        summary.rows[name] = store.row_count(name)
    con = store.connect()
    try:
        days = [d for t in ("gps", "cell", "card", "entries") if t in tables for d in store.days(t)]
        if days:
            summary.first_day, summary.last_day = min(days), max(days)
        for t in ("gps", "cell", "card", "entries"):
            if t in tables:
                summary.people_with[t] = int(
                    con.execute(f"SELECT count(DISTINCT person_id) FROM {t}").fetchall()[0][0]
                )
        if "people" in tables:
            # Absent tables have no view: stand in an empty relation of the same shape.
            cases = "cases" if "cases" in tables else "(SELECT NULL::BIGINT AS person_id LIMIT 0)"
            summary.districts = [
                (str(d), int(n), int(c))
                for d, n, c in con.execute(
                    f"""SELECT coalesce(p.district, '(unknown)'), count(*), count(c.person_id)
                        FROM people p LEFT JOIN {cases} c USING (person_id)
                        GROUP BY 1 ORDER BY 2 DESC"""
                ).fetchall()
            ]
        if "merchants" in tables:
            card = "card" if "card" in tables else "(SELECT NULL::BIGINT AS merchant_id LIMIT 0)"
            summary.merchants_by_category = [
                (str(c), int(v), int(n))
                for c, v, n in con.execute(
                    f"""SELECT category, count(*), coalesce(sum(k.n), 0)
                        FROM merchants m
                        LEFT JOIN (SELECT merchant_id, count(*) AS n FROM {card} GROUP BY 1) k
                        USING (merchant_id)
                        GROUP BY 1 ORDER BY 2 DESC"""
                ).fetchall()
            ]
        if "cases" in tables:
            summary.cases_by_day = [
                (d, int(n))
                for d, n in con.execute(
                    "SELECT confirmed_date, count(*) FROM cases GROUP BY 1 ORDER BY 1"
                ).fetchall()
            ]
    finally:
        con.close()
    return summary
