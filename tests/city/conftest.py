"""A small synthetic city generated once per test session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from epicity.city.generate import CityConfig, GenerationReport, generate_city

SMALL = CityConfig(people=3_000, days=7, seed=11, seed_infections=30, transmission=2.0)


@pytest.fixture(scope="session")
def small_city(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GenerationReport]:
    out = tmp_path_factory.mktemp("city")
    return out, generate_city(out, SMALL)


@pytest.fixture
def city_db(small_city: tuple[Path, GenerationReport]) -> Iterator[duckdb.DuckDBPyConnection]:
    """DuckDB views over the generated files (records and truth) for consistency checks."""
    out, _ = small_city
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for path in [*out.glob("*.parquet"), *out.glob("truth/*.parquet")]:
        con.execute(f"CREATE VIEW {path.stem} AS SELECT * FROM read_parquet('{path}')")
    yield con
    con.close()
