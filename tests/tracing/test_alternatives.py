"""The benchmark's alternatives (plain DuckDB over the raw tables, pandas/GeoPandas) find
exactly the contacts the place-time index finds: the speed comparison compares equals."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from epicity.privacy.access import LocationAccess
from epicity.records.store import LocationStore
from epicity.tracing.config import TracingConfig
from epicity.tracing.service import investigate

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from alternatives import duckdb_contacts, pandas_contacts, same_result

PURPOSE = "epidemiological investigation of a confirmed case"


def _cases(store: LocationStore) -> list[int]:
    con = store.connect()
    try:
        return [int(r[0]) for r in con.execute("SELECT person_id FROM cases ORDER BY 1").fetchall()]
    finally:
        con.close()


@pytest.mark.parametrize("method", ["duckdb", "pandas"])
def test_alternatives_find_the_same_contacts(
    method: str, traced_city: tuple[Path, LocationStore], access: LocationAccess
) -> None:
    if method == "pandas":
        pytest.importorskip("geopandas", reason="the bench extra (pip install -e '.[bench]')")
    find = duckdb_contacts if method == "duckdb" else pandas_contacts
    config = TracingConfig()
    compared = 0
    for case_id in _cases(traced_city[1])[:5]:
        with access.open(PURPOSE, case_id=case_id) as reader:
            inv = investigate(reader, case_id, config=config)
            other = find(reader, inv, config)
        same, why = same_result(inv, other)
        assert same, why
        compared += len(inv.contacts)
    assert compared > 0
