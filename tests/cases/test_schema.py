"""The cases migration matches the models, on SQLite and PostgreSQL, and downgrades cleanly."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from epicity.cases import models
from epicity.db import Base, alembic_config, compare_options, migrate

TABLES = {
    "cases",
    "case_status_history",
    "case_contacts",
    "contact_follow_ups",
    "clusters",
    "cluster_members",
    "transmission_links",
}


def _ours(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    # Other domains' tables are compared by tests/test_db.py; only ours here.
    if type_ == "table":
        return name in TABLES
    return True


def test_models_match_the_migration(db_engine: sa.Engine) -> None:
    assert set(Base.metadata.tables) >= TABLES
    assert models.Case.__tablename__ == "cases"
    migrate(db_engine)
    assert set(sa.inspect(db_engine).get_table_names()) >= TABLES
    with db_engine.connect() as con:
        opts = compare_options(con.dialect.name, _ours)
        context = MigrationContext.configure(con, opts=opts)
        assert compare_metadata(context, Base.metadata) == []


def test_downgrade_the_branch_and_up_again(db_engine: sa.Engine) -> None:
    migrate(db_engine)
    config = alembic_config()
    with db_engine.begin() as con:
        config.attributes["connection"] = con
        command.downgrade(config, "cases@0002_tracing")
    names = set(sa.inspect(db_engine).get_table_names())
    assert not TABLES & names
    assert {"outbox", "confirmations"} <= names
    migrate(db_engine)
    assert set(sa.inspect(db_engine).get_table_names()) >= TABLES
