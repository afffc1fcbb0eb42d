"""The CAC tables: the models match migration 0018 and it goes down and up again."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command

from dbfixtures import schema_diffs
from epicity.cac import models  # noqa: F401  (tables on Base.metadata)
from epicity.db import alembic_config, migrate

TABLES = {"cac_cities", "cac_publishers", "cac_daily_updates", "cac_update_revisions"}


def test_models_match_the_migration(db_engine: sa.Engine) -> None:
    assert schema_diffs(db_engine, TABLES) == []


def test_downgrade_then_upgrade(db_engine: sa.Engine) -> None:
    migrate(db_engine)
    config = alembic_config()
    with db_engine.begin() as con:
        config.attributes["connection"] = con
        command.downgrade(config, "cac@0015_case_list_order_pg")
    assert not TABLES & set(sa.inspect(db_engine).get_table_names())
    migrate(db_engine)
    assert set(sa.inspect(db_engine).get_table_names()) >= TABLES
