"""`epicity isolation sweep|release` through Typer's CliRunner (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

from argon2 import PasswordHasher
from sqlalchemy import func, select
from typer.testing import CliRunner, Result

from epicity.accounts.service import AccountPolicy, create_user
from epicity.cli import app
from epicity.db import make_engine, migrate, session_factory, session_scope
from epicity.isolation import service as iso
from epicity.isolation.models import IsolationAlert, IsolationRegistration

CHEAP = AccountPolicy(hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
NOW = dt.datetime(2020, 3, 10, 8, 0, tzinfo=iso.SEOUL)


def run(*args: str) -> Result:
    return CliRunner().invoke(app, ["isolation", *args], env={"COLUMNS": "200"})


def test_sweep_then_release(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        migrate(engine)
        with session_scope(session_factory(engine)) as s:
            officer = create_user(
                s, username="officer", password="a long pass phrase 1", role="health_officer",
                policy=CHEAP,
            )  # fmt: skip
            for person, end in ((1, dt.date(2020, 3, 10)), (2, dt.date(2020, 3, 20))):
                iso.register(s, person_id=person, kind="voluntary", end=end,
                             officer_id=officer.id, actor="o", now=NOW)  # fmt: skip
        result = run("sweep", "--at", "2020-03-10T12:30:00+09:00", "--db", db_url)
        assert result.exit_code == 0, result.output
        assert "swept 2 active registration(s)" in result.stdout
        assert "2 new missed-check-in alert(s), 2 reminder(s)" in result.stdout
        again = run("sweep", "--at", "2020-03-10T12:40:00+09:00", "--db", db_url)
        assert "0 new missed-check-in alert(s)" in again.stdout
        result = run("release", "--today", "2020-03-11", "--db", db_url)
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith("released 1 registration(s) ending before 2020-03-11")
        bad = run("release", "--today", "11/03/2020", "--db", db_url)
        assert bad.exit_code == 2
        assert "--today" in bad.output
        with session_scope(session_factory(engine)) as s:
            assert s.scalar(select(func.count()).select_from(IsolationAlert)) == 2
            statuses = sorted(s.scalars(select(IsolationRegistration.status)))
            assert statuses == ["active", "released"]
    finally:
        engine.dispose()
