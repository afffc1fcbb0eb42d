"""Database fixtures: every storage test runs on SQLite and on PostgreSQL.

PostgreSQL: ``EPICITY_TEST_POSTGRES_URL`` (default the local server's ``test`` database as
``postgres``). Each test gets its own schema, named ``t_<random>``; its URL sets
``search_path`` to that schema through libpq's ``options``, so everything the test (or a CLI
it runs) creates lands there, and the schema is dropped afterwards. Set
``EPICITY_TEST_POSTGRES=skip`` to skip the PostgreSQL runs on a machine without a server;
otherwise a missing server fails the run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from epicity.db import make_engine, migrate, session_factory

POSTGRES_URL = os.environ.get(
    "EPICITY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BACKENDS = ["sqlite", "postgresql"]


def _postgres_schema_url(schema: str) -> str:
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh, empty database (no tables), on each backend in turn."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'db' / 'epicity.db'}"
        return
    if os.environ.get("EPICITY_TEST_POSTGRES") == "skip":
        pytest.skip("PostgreSQL tests skipped: EPICITY_TEST_POSTGRES=skip")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = make_engine(POSTGRES_URL)
    try:
        with admin.begin() as con:
            con.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        try:
            yield _postgres_schema_url(schema)
        finally:
            with admin.begin() as con:
                con.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


@pytest.fixture
def db_engine(db_url: str) -> Iterator[sa.Engine]:
    """An engine on the fresh database (disposed afterwards); not migrated."""
    engine = make_engine(db_url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def sessions(db_engine: sa.Engine) -> sessionmaker[Session]:
    """Sessions on a freshly migrated database."""
    migrate(db_engine)
    return session_factory(db_engine)


@pytest.fixture
def session(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """One session on the migrated database (its transaction is left uncommitted)."""
    with sessions() as s:
        yield s


def schema_diffs(engine: sa.Engine, tables: set[str]) -> list[object]:
    """Migrate `engine`, then what Alembic finds different between the database and the models
    for `tables` only (other domains' sibling branches may add tables whose models a test does
    not import)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from epicity.db import Base, compare_options

    migrate(engine)
    assert set(sa.inspect(engine).get_table_names()) >= tables
    with engine.connect() as con:
        context = MigrationContext.configure(con, opts=compare_options(con.dialect.name))
        diffs = compare_metadata(context, Base.metadata)
    return [d for d in diffs if _table_of(d, tables) in tables]


def _table_of(diff: object, tables: set[str]) -> str | None:
    """The table a compare_metadata entry is about (entries are tuples, or lists of them)."""
    entry = diff[0] if isinstance(diff, list) else diff
    for item in entry[1:] if isinstance(entry, tuple) else (entry,):
        table = item if isinstance(item, sa.Table) else getattr(item, "table", None)
        if isinstance(table, sa.Table):
            return table.name
        if isinstance(item, str) and item in tables:
            return item
    return None
