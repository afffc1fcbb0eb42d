"""`epicity users ...` through Typer's CliRunner (SQLite and PostgreSQL)."""

from __future__ import annotations

import sqlalchemy as sa
from typer.testing import CliRunner, Result

from epicity.accounts.cli import app
from epicity.accounts.models import ApiToken, User
from epicity.accounts.service import authenticate, resolve_token
from epicity.db import make_engine, migrate, session_factory, session_scope

ENV = {"COLUMNS": "250"}
PASSWORD = "Seoul spring 2020"


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=input, env=ENV)


def stored(db_url: str) -> tuple[list[User], list[ApiToken]]:
    engine = make_engine(db_url)
    try:
        migrate(engine)  # a refused command may not have created the tables
        with session_factory(engine)() as s:
            return list(s.scalars(sa.select(User))), list(s.scalars(sa.select(ApiToken)))
    finally:
        engine.dispose()


def test_add_with_password_stdin_then_log_in(db_url: str) -> None:
    result = run(
        "add", "Kim", "--role", "investigator", "--name", "Kim Min-jun", "--password-stdin",
        "--db", db_url, input=PASSWORD + "\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout == "added user Kim (investigator), id 1\n"
    assert PASSWORD not in result.output
    engine = make_engine(db_url)
    try:
        user = authenticate(session_factory(engine), username="kim", password=PASSWORD)
        assert (user.display_name, user.role) == ("Kim Min-jun", "investigator")
    finally:
        engine.dispose()


def test_add_with_the_hidden_prompt_asked_twice(db_url: str) -> None:
    result = run(
        "add", "citizen7", "--role", "citizen", "--person-id", "7", "--db", db_url,
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Password:" in result.output
    assert "Repeat for confirmation:" in result.output
    assert PASSWORD not in result.output  # hidden input is not echoed
    [user], _ = stored(db_url)
    assert (user.username, user.role, user.person_id) == ("citizen7", "citizen", 7)


def test_there_is_no_password_argument(db_url: str) -> None:
    result = run("add", "kim", "--role", "analyst", "--password", PASSWORD, "--db", db_url)
    assert result.exit_code == 2
    assert "No such option" in result.output
    assert stored(db_url) == ([], [])


def test_bad_input_names_the_field(db_url: str) -> None:
    cases = [
        (["add", "kim", "--role", "analyst"], "short\n", "error: password: must be at least 12"),
        (["add", "k", "--role", "analyst"], PASSWORD + "\n", "error: username: must be 3 to 64"),
        (["add", "kim", "--role", "boss"], PASSWORD + "\n", "error: role: unknown role 'boss'"),
        (["add", "kim", "--role", "citizen"], PASSWORD + "\n", "error: person_id: a citizen"),
        (["add", "kim", "--role", "analyst"], "\n", "error: password: nothing on standard input"),
    ]
    for args, stdin, message in cases:
        result = run(*args, "--password-stdin", "--db", db_url, input=stdin)
        assert result.exit_code == 2, result.output
        assert message in result.stderr
    assert run("add", "kim", "--role", "analyst", "--password-stdin", "--db", db_url,
               input=PASSWORD).exit_code == 0  # fmt: skip
    result = run("add", "KIM", "--role", "analyst", "--password-stdin", "--db", db_url,
                 input=PASSWORD)  # fmt: skip
    assert result.exit_code == 2
    assert "error: username 'KIM' is taken (names ignore case)" in result.stderr
    for args in (["deactivate", "ghost"], ["token", "issue", "ghost", "--name", "x"]):
        result = run(*args, "--db", db_url)
        assert result.exit_code == 2
        assert "error: no user named 'ghost'" in result.stderr
    result = run("token", "revoke", "42", "--db", db_url)
    assert result.exit_code == 2
    assert "error: no API token with id 42" in result.stderr


def test_list_deactivate_and_passwd(db_url: str) -> None:
    for name, role in [("zoe", "analyst"), ("Adam", "admin")]:
        result = run("add", name, "--role", role, "--password-stdin", "--db", db_url,
                     input=PASSWORD)  # fmt: skip
        assert result.exit_code == 0, result.output
    result = run("list", "--db", db_url)
    assert result.exit_code == 0, result.output
    assert "Adam" in result.stdout
    assert "analyst" in result.stdout
    assert result.stdout.index("Adam") < result.stdout.index("zoe")
    assert "argon2" not in result.stdout
    result = run("deactivate", "ZOE", "--db", db_url)
    assert result.exit_code == 0, result.output
    assert result.stdout == "deactivated user zoe; sessions and API tokens revoked\n"
    result = run("list", "--active", "--db", db_url)
    assert "zoe" not in result.stdout
    new = "Another pass 2021"
    result = run("passwd", "adam", "--password-stdin", "--db", db_url, input=new + "\n")
    assert result.exit_code == 0, result.output
    assert new not in result.output
    engine = make_engine(db_url)
    try:
        assert authenticate(session_factory(engine), username="adam", password=new).id
    finally:
        engine.dispose()


def test_token_issue_list_revoke(db_url: str) -> None:
    assert run("add", "gateway", "--role", "health_officer", "--password-stdin", "--db", db_url,
               input=PASSWORD).exit_code == 0  # fmt: skip
    result = run("token", "issue", "gateway", "--name", "sms", "--days", "30", "--db", db_url)
    assert result.exit_code == 0, result.output
    header, secret = result.stdout.splitlines()
    assert header.startswith("token 1 for gateway (sms), expires ")
    assert secret.startswith("epc_")
    assert "cannot be shown again" in result.stderr
    _, [token] = stored(db_url)
    assert secret not in (token.token_hash, token.name)
    assert (token.expires_at - token.created_at).days == 30
    engine = make_engine(db_url)
    try:
        with session_scope(session_factory(engine)) as s:
            assert resolve_token(s, secret=secret).username == "gateway"
    finally:
        engine.dispose()
    result = run("token", "list", "--db", db_url)
    assert result.exit_code == 0, result.output
    assert "gateway" in result.stdout
    assert "sms" in result.stdout
    assert secret not in result.stdout
    assert token.token_hash not in result.stdout
    result = run("token", "revoke", "1", "--db", db_url)
    assert result.exit_code == 0, result.output
    assert result.stdout == "token 1 (sms) revoked\n"
    _, [token] = stored(db_url)
    assert token.revoked_at is not None
    result = run("token", "issue", "gateway", "--name", "x", "--days", "400", "--db", db_url)
    assert result.exit_code == 2
    assert run("token", "list", "nobody", "--db", db_url).exit_code == 2
