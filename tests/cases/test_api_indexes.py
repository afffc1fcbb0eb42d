"""Migrations 0008, 0014 and 0015: the case list's indexes exist on each backend and its
queries use them, in the list's order (no sort of every matching row for a page)."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from epicity.db import migrate

ORDER = "ORDER BY confirmed_date DESC NULLS LAST, id DESC LIMIT 50"
FILTERS = {
    "": (),
    "district = 'Mapo-gu'": ("district",),
    "status = 'confirmed'": ("status",),
    "district = 'Mapo-gu' AND status = 'confirmed'": ("district", "status"),
}


def _expected(dialect: str) -> dict[str, list[str]]:
    """Each backend's list indexes: SQLite's plain ones (0008, 0014), PostgreSQL's in the
    list's order (0015)."""
    if dialect == "sqlite":
        return {
            "_".join(("ix_cases", *f, "confirmed_date")): [*f, "confirmed_date"]
            for f in FILTERS.values()
            if f
        }
    return {
        "_".join(("ix_cases", *f, "list_order")): [*f, "confirmed_date", "id"]
        for f in FILTERS.values()
    }


def test_case_list_indexes_exist(db_engine: sa.Engine) -> None:
    migrate(db_engine)
    found = {ix["name"]: ix for ix in sa.inspect(db_engine).get_indexes("cases")}
    for name, columns in _expected(db_engine.dialect.name).items():
        assert name in found, f"{name} missing: {sorted(found)}"
        assert found[name]["column_names"] == columns, found[name]
        if db_engine.dialect.name == "postgresql":
            sorting = found[name].get("column_sorting", {})
            assert sorting.get("confirmed_date") == ("desc", "nulls_last"), sorting
            assert sorting.get("id") == ("desc",), sorting


def _fill(con: sa.Connection, n: int = 3000) -> None:
    """Enough cases that a planner prefers an index to sorting the table."""
    rows = [
        {
            "source": "test",
            "status": ("confirmed", "isolated", "recovered")[i % 3],
            "district": ("Mapo-gu", "Jung-gu", "Guro-gu", "Nowon-gu", "Gangnam-gu")[i % 5],
            "confirmed_date": None if i % 97 == 0 else dt.date(2020, 3, 1 + i % 28),
            "created_by": "test",
            "created_at": dt.datetime(2020, 3, 1, tzinfo=dt.UTC),
            "updated_at": dt.datetime(2020, 3, 1, tzinfo=dt.UTC),
        }
        for i in range(n)
    ]
    from epicity.cases.models import Case

    con.execute(sa.insert(Case), rows)


@pytest.mark.parametrize("where", list(FILTERS))
def test_case_list_pages_come_from_an_index_in_order(db_engine: sa.Engine, where: str) -> None:
    migrate(db_engine)
    condition = f"WHERE {where} " if where else ""
    query = f"SELECT * FROM cases {condition}{ORDER}"
    with db_engine.connect() as con:
        _fill(con)
        if db_engine.dialect.name == "sqlite":
            plan = " ".join(str(r) for r in con.exec_driver_sql(f"EXPLAIN QUERY PLAN {query}"))
            if where:
                index = "_".join(("ix_cases", *FILTERS[where], "confirmed_date"))
                assert index in plan, plan
        else:
            con.exec_driver_sql("ANALYZE cases")
            plan = " ".join(str(r) for r in con.exec_driver_sql(f"EXPLAIN {query}"))
            index = "_".join(("ix_cases", *FILTERS[where], "list_order"))
            assert index in plan, plan
        assert "TEMP B-TREE" not in plan, plan  # SQLite sorting the rows itself
        assert "Sort" not in plan, plan  # and PostgreSQL
        con.rollback()
