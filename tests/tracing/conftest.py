"""A generated city loaded into a store, a database with an emergency in force, and access."""

from __future__ import annotations

from pathlib import Path

import pytest

from epicity.city.generate import CityConfig, generate_city
from epicity.db import make_engine, migrate, session_factory
from epicity.privacy.access import LocationAccess
from epicity.privacy.service import declare_emergency
from epicity.records.ingest import ingest_directory
from epicity.records.store import LocationStore

CITY = CityConfig(people=3_000, days=7, seed=21, seed_infections=40, transmission=2.0)


@pytest.fixture(scope="session")
def traced_city(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, LocationStore]:
    root = tmp_path_factory.mktemp("tracing-city")
    generate_city(root / "city", CITY)
    ingest_directory(root / "city", root / "store")
    return root / "city", LocationStore(root / "store")


@pytest.fixture
def access(traced_city: tuple[Path, LocationStore], tmp_path: Path) -> LocationAccess:
    """An investigator's access during a declared emergency (SQLite database)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'ops.db'}")
    migrate(engine)
    sessions = session_factory(engine)
    with sessions() as s:
        declare_emergency(s, name="COVID-19", area="Seoul", actor="admin")
        s.commit()
    return LocationAccess(traced_city[1], sessions, actor="investigator-kim", role="investigator")
