"""`epicity emergency` and `epicity audit` through Typer's CliRunner (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import pytest
from typer.testing import CliRunner, Result

from epicity.cli import app
from epicity.db import make_engine, session_factory, session_scope
from epicity.privacy.service import audit, audit_entries

ENV = {"COLUMNS": "250", "USER": "tester"}


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, list(args), env={**ENV, **(env or {})})


def test_declare_status_end(db_url: str) -> None:
    result = run("emergency", "status", "--db", db_url)
    assert result.exit_code == 1, result.output
    assert result.stdout.startswith("no active emergency")

    result = run(
        "emergency", "declare", "COVID-19", "--reason", "Infectious Disease Act art. 76-2",
        "--actor", "mayor", "--db", db_url,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("declared emergency 1: COVID-19 (Seoul)\n")
    assert "until ended" in result.stdout
    assert "declared by mayor" in result.stdout
    assert "+09:00" in result.stdout  # shown in Seoul time

    result = run("emergency", "status", "--db", db_url)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("emergency 1: COVID-19 (Seoul)")
    assert "reason: Infectious Disease Act art. 76-2" in result.stdout

    result = run("emergency", "end", "--db", db_url)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("ended emergency 1: COVID-19")
    assert "ended by tester" in result.stdout  # $USER by default

    assert run("emergency", "status", "--db", db_url).exit_code == 1


def test_declare_with_area_and_until_then_end_by_name(db_url: str) -> None:
    until = (dt.datetime.now(dt.UTC) + dt.timedelta(days=14)).isoformat()
    result = run(
        "emergency", "declare", "MERS", "--area", "Gangnam-gu", "--until", until, "--db", db_url
    )
    assert result.exit_code == 0, result.output
    assert "MERS (Gangnam-gu)" in result.stdout
    assert "until 20" in result.stdout
    result = run("emergency", "end", "MERS", "--actor", "kim", "--db", db_url)
    assert result.exit_code == 0, result.output
    assert "ended by kim" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["declare", ""], "error: emergency name must not be empty"),
        (["declare", "x", "--area", " "], "error: area must not be empty"),
        (
            ["declare", "x", "--until", "2020-03-01T00:00+09:00"],
            "error: end 2020-02-29T15:00:00+00:00 must be after start",
        ),
        (
            ["declare", "x", "--until", "2099-03-01T00:00"],
            "error: --until '2099-03-01T00:00' has no offset",
        ),
        (
            ["declare", "x", "--until", "next week"],
            "error: --until 'next week' is not an ISO 8601 time",
        ),
        (["end", "nothing-like-this"], "error: no current emergency named 'nothing-like-this'"),
        (["end"], "error: no emergency is in force, nothing to end"),
    ],
)
def test_bad_input_exits_2_with_a_message(db_url: str, args: list[str], message: str) -> None:
    result = run("emergency", *args, "--db", db_url)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(message), result.stderr
    assert result.stdout == ""


def test_declaring_twice_conflicts(db_url: str) -> None:
    assert run("emergency", "declare", "COVID-19", "--db", db_url).exit_code == 0
    result = run("emergency", "declare", "COVID-19", "--db", db_url)
    assert result.exit_code == 2
    assert "error: emergency 'COVID-19' is already declared (id 1," in result.stderr


def test_audit_show(db_url: str) -> None:
    assert (
        run("emergency", "declare", "COVID-19", "--actor", "mayor", "--db", db_url).exit_code == 0
    )
    engine = make_engine(db_url)
    try:
        with session_scope(session_factory(engine)) as s:
            for case in (17, 18, 17):
                audit(
                    s, actor="park", role="investigator", action="location.read",
                    purpose=f"tracing case {case}", case_id=case, emergency_id=1,
                    tables=["gps", "cell"], rows_returned=1234,
                )  # fmt: skip
    finally:
        engine.dispose()

    result = run("audit", "show", "--db", db_url)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].strip() == "audit log"
    assert [line.split("│")[5].strip() for line in lines if "│" in line] == [
        "emergency.declare", "location.read", "location.read", "location.read",
    ]  # fmt: skip
    assert "tracing case 18" in result.stdout
    assert "gps,cell" in result.stdout
    assert "1,234" in result.stdout

    result = run("audit", "show", "--case", "17", "--db", db_url)
    assert result.exit_code == 0, result.output
    assert "audit log of case 17" in result.stdout
    assert result.stdout.count("tracing case 17") == 2
    assert "tracing case 18" not in result.stdout

    result = run("audit", "show", "--limit", "1", "--db", db_url)
    assert result.stdout.count("location.read") == 1
    assert "emergency.declare" not in result.stdout

    result = run("audit", "show", "--case", "99", "--db", db_url)
    assert result.exit_code == 0
    assert "no audit entries" in result.stdout


def test_database_from_the_environment(db_url: str) -> None:
    env = {"EPICITY_DATABASE_URL": db_url}
    assert run("emergency", "declare", "COVID-19", env=env).exit_code == 0
    assert run("emergency", "status", env=env).exit_code == 0
    engine = make_engine(db_url)
    try:
        with session_factory(engine)() as s:
            [entry] = audit_entries(s)
            assert (entry.action, entry.actor, entry.role) == (
                "emergency.declare",
                "tester",
                "admin",
            )
    finally:
        engine.dispose()


def test_unusable_database_url_exits_with_a_message(tmp_path: object) -> None:
    result = run("emergency", "status", "--db", "nosuchdb://x")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: cannot use the database URL")


def test_commands_are_registered() -> None:
    result = run("--help")
    assert result.exit_code == 0
    assert "emergency" in result.stdout
    assert "audit" in result.stdout
    result = run("emergency", "--help")
    for command in ("declare", "end", "status"):
        assert command in result.stdout
