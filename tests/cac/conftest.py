"""CAC's fixtures: the live service of the web tests, and a database migrated once per
module and backend whose sessions are rolled back after each test (the service never
commits, so tests stay apart without paying for a migration each)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests.web.conftest import browser, live  # noqa: F401  (fixtures)

from dbfixtures import BACKENDS, POSTGRES_URL, _postgres_schema_url
from epicity.db import make_engine, migrate


@pytest.fixture(scope="module", params=BACKENDS)
def cac_engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[sa.Engine]:
    """A migrated database for the module, on each backend in turn."""
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("cac") / "epicity.db"
        engine = make_engine(f"sqlite:///{path}")
        migrate(engine)
        yield engine
        engine.dispose()
        return
    if os.environ.get("EPICITY_TEST_POSTGRES") == "skip":
        pytest.skip("PostgreSQL tests skipped: EPICITY_TEST_POSTGRES=skip")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = make_engine(POSTGRES_URL)
    try:
        with admin.begin() as con:
            con.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        engine = make_engine(_postgres_schema_url(schema))
        try:
            migrate(engine)
            yield engine
        finally:
            engine.dispose()
            with admin.begin() as con:
                con.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


@pytest.fixture
def cac_session(cac_engine: sa.Engine) -> Iterator[Session]:
    """A session on the module's database; everything it did is rolled back afterwards."""
    with Session(cac_engine, expire_on_commit=False) as s:
        try:
            yield s
        finally:
            s.rollback()
