"""The operational database: URLs, engines, UTC timestamps and migrations, on both backends."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.exc import StatementError

from epicity.accounts import models as accounts_models  # noqa: F401  (tables on Base.metadata)
from epicity.cac import library_models as cac_library_models  # noqa: F401  (tables on Base.metadata)
from epicity.cac import models as cac_models  # noqa: F401  (tables on Base.metadata)
from epicity.cases import models as cases_models  # noqa: F401  (tables on Base.metadata)
from epicity.db import (
    DEFAULT_DATABASE_URL,
    MIGRATIONS_DIR,
    Base,
    UTCDateTime,
    alembic_config,
    compare_options,
    database_url,
    make_engine,
    migrate,
    session_factory,
    session_scope,
)
from epicity.delivery import models as delivery_models  # noqa: F401  (tables on Base.metadata)
from epicity.exposure import models as exposure_models  # noqa: F401  (tables on Base.metadata)
from epicity.exposure import venue_models  # noqa: F401  (tables on Base.metadata)
from epicity.isolation import models as isolation_models  # noqa: F401  (tables on Base.metadata)
from epicity.notices import models as notices_models  # noqa: F401  (tables on Base.metadata)
from epicity.opendata import models as opendata_models  # noqa: F401  (tables on Base.metadata)
from epicity.privacy import models as privacy_models  # noqa: F401  (tables on Base.metadata)
from epicity.relief import models as relief_models  # noqa: F401  (tables on Base.metadata)
from epicity.screening import models as screening_models  # noqa: F401  (tables on Base.metadata)
from epicity.tracing import models as tracing_models  # noqa: F401  (tables on Base.metadata)
from epicity.triage import models as triage_models  # noqa: F401  (tables on Base.metadata)

SEOUL = dt.timezone(dt.timedelta(hours=9))


def _heads() -> set[str]:
    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    assert heads
    return heads


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def test_database_url_from_argument_environment_or_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("EPICITY_DATABASE_URL", raising=False)
    assert database_url() == DEFAULT_DATABASE_URL == "sqlite:///var/epicity.db"
    monkeypatch.setenv("EPICITY_DATABASE_URL", "sqlite:///elsewhere.db")
    assert database_url() == "sqlite:///elsewhere.db"
    assert database_url("sqlite://") == "sqlite://"


def test_postgresql_urls_use_psycopg_3() -> None:
    engine = make_engine("postgresql://someone@db.invalid:5432/epicity")
    try:
        assert engine.url.drivername == "postgresql+psycopg"
        assert engine.dialect.driver == "psycopg"
    finally:
        engine.dispose()


def test_sqlite_creates_its_directory_enforces_foreign_keys_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "epicity.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        assert path.parent.is_dir()
        with engine.connect() as con:
            assert con.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert con.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        engine.dispose()


def test_migrations_ship_inside_the_package() -> None:
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert list((MIGRATIONS_DIR / "versions").glob("0001_*.py"))
    assert alembic_config().get_main_option("script_location") == str(MIGRATIONS_DIR)


def test_migrate_a_fresh_database_then_again(db_url: str) -> None:
    migrate(db_url)
    migrate(db_url)  # idempotent: nothing to do
    engine = make_engine(db_url)
    try:
        assert {
            "emergencies",
            "audit_log",
            "outbox",
            "confirmations",
            "alembic_version",
        } <= _tables(engine)
        with engine.connect() as con:
            assert set(MigrationContext.configure(con).get_current_heads()) == _heads()
    finally:
        engine.dispose()


def test_migrate_accepts_an_engine_and_leaves_it_usable(db_engine: sa.Engine) -> None:
    migrate(db_engine)
    migrate(db_engine)
    with db_engine.connect() as con:
        assert con.execute(sa.text("SELECT count(*) FROM emergencies")).scalar() == 0


def test_models_match_the_migrations(db_engine: sa.Engine) -> None:
    # every domain's tables are on the metadata, so the comparison covers them all
    assert {"emergencies", "audit_log", "outbox", "confirmations"} <= set(Base.metadata.tables)
    migrate(db_engine)
    with db_engine.connect() as con:
        context = MigrationContext.configure(con, opts=compare_options(con.dialect.name))
        assert compare_metadata(context, Base.metadata) == []


def test_downgrade_to_base_and_up_again(db_engine: sa.Engine) -> None:
    from alembic import command

    migrate(db_engine)
    config = alembic_config()
    with db_engine.begin() as con:
        config.attributes["connection"] = con
        command.downgrade(config, "base")
    assert not {"emergencies", "audit_log", "outbox", "confirmations"} & _tables(db_engine)
    migrate(db_engine)
    assert {"emergencies", "audit_log", "outbox", "confirmations"} <= _tables(db_engine)


# -- timestamps ---------------------------------------------------------------------------

_stamps = sa.Table(
    "stamps",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", UTCDateTime()),
)


def test_timestamps_come_back_aware_in_utc(db_engine: sa.Engine) -> None:
    _stamps.create(db_engine)
    local = dt.datetime(2020, 3, 2, 9, 0, 0, 123456, tzinfo=SEOUL)
    with db_engine.begin() as con:
        con.execute(_stamps.insert(), [{"id": 1, "at": local}, {"id": 2, "at": None}])
    with db_engine.connect() as con:
        got = {row.id: row.at for row in con.execute(sa.select(_stamps.c.id, _stamps.c.at))}
        # comparisons in SQL order instants, whatever offset the parameter has
        just_after = dt.datetime(
            2020, 3, 1, 20, 0, 0, 123457, tzinfo=dt.timezone(-dt.timedelta(hours=4))
        )
        query = sa.select(_stamps.c.id)
        assert con.execute(query.where(_stamps.c.at < just_after)).scalars().all() == [1]
        assert con.execute(query.where(_stamps.c.at >= just_after)).scalars().all() == []
    assert got[1] == local
    assert got[1].tzinfo is not None
    assert got[1].utcoffset() == dt.timedelta(0)
    assert got[1] == dt.datetime(2020, 3, 2, 0, 0, 0, 123456, tzinfo=dt.UTC)
    assert got[2] is None


def test_naive_timestamps_are_refused(db_engine: sa.Engine) -> None:
    _stamps.create(db_engine)
    with pytest.raises(StatementError, match="naive datetime"), db_engine.begin() as con:
        con.execute(_stamps.insert(), [{"id": 1, "at": dt.datetime(2020, 3, 2, 9, 0)}])


def test_session_scope_commits_or_rolls_back(db_engine: sa.Engine) -> None:
    _stamps.create(db_engine)
    sessions = session_factory(db_engine)
    at = dt.datetime(2020, 3, 2, tzinfo=dt.UTC)
    with session_scope(sessions) as s:
        s.execute(_stamps.insert(), [{"id": 1, "at": at}])

    def insert_then_fail() -> None:
        with session_scope(sessions) as s:
            s.execute(_stamps.insert(), [{"id": 2, "at": at}])
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        insert_then_fail()
    with sessions() as s:
        assert s.execute(sa.select(_stamps.c.id)).scalars().all() == [1]
