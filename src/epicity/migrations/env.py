"""Alembic environment: runs on the connection `epicity.db.migrate` passes in.

Without one (the ``alembic`` command with ``-x url=...`` or ``EPICITY_DATABASE_URL``) it makes
its own engine. Every domain that owns tables is imported here so that
``alembic revision --autogenerate`` sees the whole schema.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from epicity.accounts import models as accounts_models  # noqa: F401  (registers its tables)
from epicity.cac import library_models as cac_library_models  # noqa: F401  (registers its tables)
from epicity.cac import models as cac_models  # noqa: F401  (registers its tables)
from epicity.cases import models as cases_models  # noqa: F401  (registers its tables)
from epicity.db import Base, compare_options, database_url, make_engine
from epicity.delivery import models as delivery_models  # noqa: F401  (registers its tables)
from epicity.exposure import models as exposure_models  # noqa: F401  (registers its tables)
from epicity.exposure import venue_models  # noqa: F401  (registers its tables)
from epicity.isolation import models as isolation_models  # noqa: F401  (registers its tables)
from epicity.notices import models as notices_models  # noqa: F401  (registers its tables)
from epicity.opendata import models as opendata_models  # noqa: F401  (registers its tables)
from epicity.privacy import models as privacy_models  # noqa: F401  (registers its tables)
from epicity.relief import models as relief_models  # noqa: F401  (registers its tables)
from epicity.screening import models as screening_models  # noqa: F401  (registers its tables)
from epicity.tracing import models as tracing_models  # noqa: F401  (registers its tables)
from epicity.triage import models as triage_models  # noqa: F401  (registers its tables)

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    return context.get_x_argument(as_dictionary=True).get("url") or database_url(
        config.get_main_option("sqlalchemy.url")
    )


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER much
        **compare_options(connection.dialect.name),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    """Emit SQL for the configured URL instead of running it."""
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Run the migrations on the given connection, or on a new engine."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url())
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
