"""Migrations 0008 and 0014: the case list's filter indexes exist and its queries use them."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from epicity.db import migrate

INDEXES = {
    "ix_cases_district_confirmed_date": ["district", "confirmed_date"],
    "ix_cases_status_confirmed_date": ["status", "confirmed_date"],
    "ix_cases_district_status_confirmed_date": ["district", "status", "confirmed_date"],
}


def test_case_list_indexes_exist(db_engine: sa.Engine) -> None:
    migrate(db_engine)
    found = {ix["name"]: ix["column_names"] for ix in sa.inspect(db_engine).get_indexes("cases")}
    for name, columns in INDEXES.items():
        assert found.get(name) == columns, f"{name}: {found.get(name)}"


@pytest.mark.parametrize(
    ("where", "index"),
    [
        ("district = 'Mapo-gu'", "ix_cases_district_confirmed_date"),
        (
            "district = 'Mapo-gu' AND status = 'confirmed'",
            "ix_cases_district_status_confirmed_date",
        ),
    ],
)
def test_sqlite_case_list_filters_search_their_index(
    db_engine: sa.Engine, where: str, index: str
) -> None:
    if db_engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's planner picks by statistics; the indexes are checked above")
    migrate(db_engine)
    with db_engine.connect() as con:
        plan = con.exec_driver_sql(
            f"EXPLAIN QUERY PLAN SELECT * FROM cases WHERE {where} "
            "ORDER BY confirmed_date DESC NULLS LAST, id DESC LIMIT 50"
        ).all()
    assert any(index in str(row) for row in plan), plan
