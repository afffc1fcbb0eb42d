"""Migration 0017_notices: matches the model on both backends and downgrades cleanly."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from tests.dbfixtures import schema_diffs

from epicity.db import alembic_config, migrate
from epicity.notices import models  # noqa: F401  (tables on Base.metadata)

TABLES = {"public_notices"}


def test_the_revision_branches_off_the_case_list_order() -> None:
    script = ScriptDirectory.from_config(alembic_config()).get_revision("0017_notices")
    assert script is not None
    assert script.down_revision == "0015_case_list_order_pg"
    assert "notices" in script.branch_labels


def test_models_match_the_migration(db_engine: sa.Engine) -> None:
    assert schema_diffs(db_engine, TABLES) == []


def test_downgrade_the_branch_and_up_again(db_engine: sa.Engine) -> None:
    migrate(db_engine)
    config = alembic_config()
    with db_engine.begin() as con:
        config.attributes["connection"] = con
        command.downgrade(config, "notices@0015_case_list_order_pg")
    remaining = set(sa.inspect(db_engine).get_table_names())
    assert "public_notices" not in remaining
    assert "cases" in remaining
    migrate(db_engine)
    assert "public_notices" in set(sa.inspect(db_engine).get_table_names())
