"""Migration 0004_delivery: matches the models, branches off tracing, goes down and up again."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.exc import IntegrityError

from epicity.db import Base, alembic_config, migrate
from epicity.delivery import models as delivery_models  # noqa: F401  (registers `recipients`)
from epicity.privacy import models as privacy_models  # noqa: F401
from epicity.tracing import models as tracing_models  # noqa: F401


def _ours(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    table = getattr(obj, "table", obj)  # a column's or index's table, or the table itself
    return getattr(table, "name", name) in ("outbox", "recipients")


def test_branches_off_tracing_with_its_own_label() -> None:
    script = ScriptDirectory.from_config(alembic_config()).get_revision("0004_delivery")
    assert script is not None
    assert script.down_revision == "0002_tracing"
    assert script.branch_labels == {"delivery"}


def test_models_match_the_migrations(db_engine: sa.Engine) -> None:
    migrate(db_engine)
    with db_engine.connect() as con:
        # this domain's tables only: other domains' branches have their own test
        context = MigrationContext.configure(
            con, opts={"compare_type": True, "include_object": _ours}
        )
        assert compare_metadata(context, Base.metadata) == []


def test_new_statuses_allowed_unknown_refused(db_engine: sa.Engine) -> None:
    migrate(db_engine)
    now = dt.datetime(2020, 3, 8, tzinfo=dt.UTC)
    outbox = Base.metadata.tables["outbox"]
    row = {
        "kind": "area_alert", "case_id": 1, "recipient": "tower:1", "payload": {},
        "created_at": now, "not_before": now, "attempts": 0,
    }  # fmt: skip
    with db_engine.begin() as con:
        for i, status in enumerate(("sending", "undeliverable")):
            con.execute(outbox.insert(), {**row, "status": status, "dedupe_key": f"k{i}"})
    with pytest.raises(IntegrityError), db_engine.begin() as con:
        con.execute(outbox.insert(), {**row, "status": "lost", "dedupe_key": "k9"})


def test_down_to_tracing_and_up_again_keeps_rows(db_engine: sa.Engine) -> None:
    migrate(db_engine)
    now = dt.datetime(2020, 3, 8, tzinfo=dt.UTC)
    outbox = Base.metadata.tables["outbox"]
    with db_engine.begin() as con:
        con.execute(
            outbox.insert(),
            {
                "kind": "area_alert", "case_id": 1, "recipient": "tower:1", "payload": {},
                "created_at": now, "not_before": now, "attempts": 1, "status": "sending",
                "dedupe_key": "k", "claimed_by": "w",
            },
        )  # fmt: skip
    config = alembic_config()
    with db_engine.begin() as con:
        config.attributes["connection"] = con
        # Down to 0004 first: 0009_outbox_kinds merges delivery and investigations.
        command.downgrade(config, "0004_delivery")
        command.downgrade(config, "delivery@-1")
    inspector = sa.inspect(db_engine)
    assert "recipients" not in inspector.get_table_names()
    assert "claimed_by" not in {c["name"] for c in inspector.get_columns("outbox")}
    with db_engine.connect() as con:
        assert con.execute(sa.text("SELECT status FROM outbox")).scalar_one() == "pending"
    migrate(db_engine)
    assert "recipients" in sa.inspect(db_engine).get_table_names()
