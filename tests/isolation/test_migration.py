"""Migration 0011_isolation: matches the models on both backends, downgrades cleanly, and the
database itself keeps one active registration per person."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy.exc import IntegrityError
from tests.dbfixtures import schema_diffs

from epicity.db import Base, alembic_config, migrate
from epicity.isolation import models  # noqa: F401  (tables on Base.metadata)

TABLES = {"isolation_registrations", "isolation_checkins", "isolation_alerts"}


def test_the_revision_branches_off_the_cases_branch() -> None:
    script = ScriptDirectory.from_config(alembic_config()).get_revision("0011_isolation")
    assert script is not None
    assert script.down_revision == "0008_api_indexes"
    assert "isolation" in script.branch_labels


def test_models_match_the_migration(db_engine: sa.Engine) -> None:
    assert schema_diffs(db_engine, TABLES) == []


def test_one_active_registration_per_person(db_engine: sa.Engine) -> None:
    migrate(db_engine)
    now = dt.datetime(2020, 3, 8, tzinfo=dt.UTC)
    table = Base.metadata.tables["isolation_registrations"]
    row = {
        "person_id": 7, "kind": "voluntary", "status": "active", "start_date": dt.date(2020, 3, 8),
        "end_date": dt.date(2020, 3, 21), "officer_id": 1, "needs_negative_test": False,
        "created_by": "t", "created_at": now, "updated_at": now,
    }  # fmt: skip
    with db_engine.begin() as con:
        con.execute(table.insert(), [{**row, "status": "released"}, {**row, "status": "released"}])
        con.execute(table.insert(), row)
    with pytest.raises(IntegrityError), db_engine.begin() as con:
        con.execute(table.insert(), row)


def test_downgrade_the_branch_and_up_again(db_engine: sa.Engine) -> None:
    migrate(db_engine)
    config = alembic_config()
    with db_engine.begin() as con:
        config.attributes["connection"] = con
        command.downgrade(config, "isolation@0008_api_indexes")
    remaining = set(sa.inspect(db_engine).get_table_names())
    assert not TABLES & remaining
    assert "cases" in remaining
    migrate(db_engine)
    assert set(sa.inspect(db_engine).get_table_names()) >= TABLES
