"""The operational database: SQLAlchemy engine, sessions, UTC timestamps and migrations.

Operational data (emergency declarations, the audit log and, later, cases, investigations,
contacts, ...) lives in SQLite by default and PostgreSQL in production. Every domain declares
its tables on `Base`; the schema is changed only by the Alembic migrations shipped in
``epicity/migrations/`` and applied with `migrate` (no ``alembic.ini`` needed)::

    engine = make_engine()                      # EPICITY_DATABASE_URL or sqlite:///var/epicity.db
    migrate(engine)                             # upgrade to head; idempotent
    with session_scope(session_factory(engine)) as session:
        ...                                     # committed on success, rolled back on error

Timestamps are stored as UTC instants: ``TIMESTAMP WITH TIME ZONE`` on PostgreSQL, naive UTC
text on SQLite (which has no time zones); both come back as aware datetimes in UTC, and a
naive datetime is refused rather than guessed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

from alembic import command
from alembic.config import Config
from sqlalchemy import DateTime, Engine, Index, MetaData, create_engine, event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

__all__ = [
    "DEFAULT_DATABASE_URL",
    "ENV_DATABASE_URL",
    "MIGRATIONS_DIR",
    "Base",
    "UTCDateTime",
    "compare_options",
    "database_url",
    "dialect_index",
    "dialect_only",
    "make_engine",
    "migrate",
    "session_factory",
    "session_scope",
    "utcnow",
]

ENV_DATABASE_URL = "EPICITY_DATABASE_URL"
DEFAULT_DATABASE_URL = "sqlite:///var/epicity.db"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Stable constraint names, so migrations can refer to them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    """The current instant, timezone-aware, in UTC."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware instant stored in UTC; naive datetimes are refused.

    PostgreSQL stores ``TIMESTAMP WITH TIME ZONE``. SQLite has no time zones: the value is
    converted to UTC and stored without offset (so text comparison orders instants), and read
    back as UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()}: give a time zone")
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    """Declarative base of every operational table (`Mapped[dt.datetime]` is UTC-aware)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dt.datetime: UTCDateTime()}


def dialect_index(name: str, *expressions: Any, dialect: str) -> Index:
    """An index created on `dialect` only. PostgreSQL needs the case list's order spelled in
    its indexes (``DESC NULLS LAST``) where SQLite refuses that syntax and needs none (it
    sorts NULL lowest, so a backward scan of a plain index gives that order already)."""
    index = Index(name, *expressions, info={"dialect": dialect})
    index.ddl_if(dialect=dialect)
    return index


# Tables, indexes and columns a migration creates on one dialect only and no model maps:
# `compare_options` leaves them out.
_DIALECT_ONLY: dict[str, str] = {}


def dialect_only(dialect: str, *names: str) -> None:
    """Declare tables, indexes and columns (``table.column``) that a migration creates on
    `dialect` only and that no model maps, so the models-vs-migrations checks skip them: an
    SQLite FTS5 table and its shadow tables; a PostgreSQL generated ``tsvector`` column and
    its GIN index."""
    _DIALECT_ONLY.update(dict.fromkeys(names, dialect))


def compare_options(dialect: str, keep: Callable[..., bool] | None = None) -> dict[str, Any]:
    """Options of Alembic's `compare_metadata` on a `dialect` database: types compared, and
    another dialect's `dialect_index` left out (Alembic does not read ``ddl_if``), as are the
    `dialect_only` objects; `keep`, when given, is the caller's own `include_object` filter."""

    def include(obj: Any, name: str | None, type_: str, reflected: bool, other: Any) -> bool:
        own = getattr(obj, "info", {}).get("dialect") if type_ == "index" else None
        if own is not None and own != dialect:
            return False
        if type_ in ("table", "index") and reflected and name in _DIALECT_ONLY:
            return False
        if type_ == "column" and reflected and f"{obj.table.name}.{name}" in _DIALECT_ONLY:
            return False
        return keep is None or keep(obj, name, type_, reflected, other)

    return {"compare_type": True, "include_object": include}


def database_url(url: str | None = None) -> str:
    """`url`, else ``EPICITY_DATABASE_URL``, else ``sqlite:///var/epicity.db``."""
    return url or os.environ.get(ENV_DATABASE_URL) or DEFAULT_DATABASE_URL


def _normalise(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs that name no driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    """An engine for `url` (see `database_url`).

    SQLite: the database file's directory is created, foreign keys are enforced and the
    journal is WAL with ``synchronous = NORMAL``. PostgreSQL URLs without a driver use psycopg 3.
    """
    sa_url = make_url(_normalise(database_url(url)))
    if sa_url.get_backend_name() == "sqlite":
        database = sa_url.database or ""
        in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
        if not in_memory:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(sa_url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas(wal=not in_memory))
        return engine
    return create_engine(sa_url, pool_pre_ping=True, **kwargs)


def _sqlite_pragmas(*, wal: bool) -> Callable[[Any, Any], None]:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys = ON")
            if wal:
                cursor.execute("PRAGMA journal_mode = WAL")
                # WAL's recommended setting: a commit is not fsynced, only checkpoints are, so
                # the write lock is not held across a disk flush. Safe from corruption; a power
                # cut (not a crash of the service) can lose the last commits. Production runs
                # PostgreSQL.
                cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA busy_timeout = 5000")
        finally:
            cursor.close()

    return on_connect


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions bound to `engine`; objects stay readable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextlib.contextmanager
def session_scope(factory: Callable[[], Session]) -> Iterator[Session]:
    """A session in one transaction: committed when the block ends, rolled back on error."""
    with factory() as session, session.begin():
        yield session


def alembic_config() -> Config:
    """Alembic's configuration, built in code: the migrations ship inside the package."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def migrate(target: str | Engine | None = None, revision: str = "heads") -> None:
    """Upgrade the database (a URL or an engine; default `database_url()`) to `revision`.

    Idempotent: a database already at `revision` is left as it is. The default, "heads",
    applies every domain's branch: each domain's migrations may branch off the shared base.
    """
    engine = target if isinstance(target, Engine) else make_engine(target)
    try:
        config = alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        if not isinstance(target, Engine):
            engine.dispose()
