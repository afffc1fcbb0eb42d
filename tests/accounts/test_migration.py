"""The accounts migration: a branch off 0002_tracing that matches the models (both backends)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from tests.dbfixtures import schema_diffs

from epicity.accounts import models
from epicity.db import Base, alembic_config, migrate

TABLES = {"users", "api_tokens", "sessions", "login_failures"}


def test_the_revision_branches_off_tracing() -> None:
    script = ScriptDirectory.from_config(alembic_config()).get_revision("0006_accounts")
    assert script is not None
    assert script.down_revision == "0002_tracing"
    assert script.branch_labels == {"accounts"}


def test_models_match_the_migration(db_engine: sa.Engine) -> None:
    assert {t for t in Base.metadata.tables if t in TABLES} == TABLES
    assert models.User.__table__.name == "users"
    assert schema_diffs(db_engine, TABLES) == []


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
