"""Migration 0021_exposure_venues: follows the key server's and downgrades and upgrades
cleanly on both backends (tests/test_db.py compares every model with the migrations)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from epicity.db import alembic_config, migrate
from epicity.exposure import venue_models  # noqa: F401  (tables on Base.metadata)

TABLES = {"exposure_venues", "exposure_venue_warnings", "exposure_venue_packages"}


def test_the_revision_follows_the_key_server() -> None:
    script = ScriptDirectory.from_config(alembic_config()).get_revision("0021_exposure_venues")
    assert script is not None
    assert script.down_revision == "0020_exposure"
    assert "exposure_venues" in script.branch_labels


def test_the_branch_downgrades_and_upgrades(db_engine: sa.Engine) -> None:
    migrate(db_engine)
    assert set(sa.inspect(db_engine).get_table_names()) >= TABLES
    config = alembic_config()
    with db_engine.begin() as con:
        config.attributes["connection"] = con
        command.downgrade(config, "exposure_venues@0020_exposure")
    remaining = set(sa.inspect(db_engine).get_table_names())
    assert not TABLES & remaining
    assert {"exposure_keys", "cases"} <= remaining
    migrate(db_engine)
    assert set(sa.inspect(db_engine).get_table_names()) >= TABLES
