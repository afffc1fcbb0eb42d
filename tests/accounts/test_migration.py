"""The accounts migration: a branch off 0002_tracing that matches the models (both backends)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from epicity.accounts import models
from epicity.db import Base, alembic_config, migrate

TABLES = {"users", "api_tokens", "sessions", "login_failures"}


def _table_of(diff: object) -> str | None:
    """The table a compare_metadata entry is about (entries are tuples, or lists of them)."""
    entry = diff[0] if isinstance(diff, list) else diff
    assert isinstance(entry, tuple)
    for item in entry[1:]:
        if isinstance(item, sa.Table):
            return item.name
        table = getattr(item, "table", None)
        if isinstance(table, sa.Table):
            return table.name
        if isinstance(item, str) and item in TABLES:
            return item
    return None


def test_the_revision_branches_off_tracing() -> None:
    script = ScriptDirectory.from_config(alembic_config()).get_revision("0006_accounts")
    assert script is not None
    assert script.down_revision == "0002_tracing"
    assert script.branch_labels == {"accounts"}


def test_models_match_the_migration(db_engine: sa.Engine) -> None:
    assert {t for t in Base.metadata.tables if t in TABLES} == TABLES
    assert models.User.__table__.name == "users"
    migrate(db_engine)
    assert set(sa.inspect(db_engine).get_table_names()) >= TABLES
    with db_engine.connect() as con:
        context = MigrationContext.configure(con, opts={"compare_type": True})
        diffs = compare_metadata(context, Base.metadata)
    # other domains' sibling branches may add tables whose models this test does not import
    assert [d for d in diffs if _table_of(d) in TABLES] == []


def test_downgrade_the_branch_and_up_again(db_engine: sa.Engine) -> None:
    migrate(db_engine)
    config = alembic_config()
    with db_engine.begin() as con:
        config.attributes["connection"] = con
        command.downgrade(config, "accounts@0002_tracing")
    remaining = set(sa.inspect(db_engine).get_table_names())
    assert not TABLES & remaining
    assert {"outbox", "emergencies"} <= remaining
    migrate(db_engine)
    assert set(sa.inspect(db_engine).get_table_names()) >= TABLES
