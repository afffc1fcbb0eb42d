"""`epicity users ...`: add, list, deactivate users, reset passwords, issue and revoke tokens.

Passwords are typed at a hidden prompt (twice) or read from standard input with
``--password-stdin`` (one line), never taken as an argument, which would land in the shell's
history and the process list. Nothing here prints a password hash or a token, except a new
token, once, when it is issued. Every command brings the database up to date first. Bad
input prints ``error: <field>: <problem>`` on stderr and exits with 2.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sys
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table

from epicity.accounts.errors import AccountError
from epicity.accounts.models import ACCOUNT_ROLES
from epicity.accounts.service import (
    change_password,
    create_user,
    deactivate_user,
    issue_token,
    list_tokens,
    list_users,
    revoke_token,
)
from epicity.cliutil import DB_OPTION, database, fail
from epicity.db import session_scope

__all__ = ["app", "token_app"]

DISPLAY_ZONE = ZoneInfo("Asia/Seoul")

app = typer.Typer(
    help="Accounts of the console and the API: users and tokens.", no_args_is_help=True
)
token_app = typer.Typer(help="Issue, list and revoke API tokens.", no_args_is_help=True)
app.add_typer(token_app, name="token")

PASSWORD_STDIN_OPTION = typer.Option(
    False,
    "--password-stdin",
    help="Read the password from the first line of standard input instead of a prompt.",
)


@contextlib.contextmanager
def _refusals() -> Iterator[None]:
    """Accounts errors become `error: ...` on stderr and exit code 2."""
    try:
        yield
    except AccountError as exc:
        raise fail(str(exc)) from None


def _read_password(from_stdin: bool) -> str:
    """The new password, from stdin (one line) or a hidden prompt asked twice."""
    if from_stdin:
        line = sys.stdin.readline()
        password = line.removesuffix("\n").removesuffix("\r")
        if not password:
            raise fail("password: nothing on standard input")
        return password
    prompted: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return prompted


def _show(at: dt.datetime | None) -> str:
    if at is None:
        return "-"
    return at.astimezone(DISPLAY_ZONE).strftime("%Y-%m-%d %H:%M")


@app.command("add")
def add(
    username: str = typer.Argument(..., help="Login name (3-64 letters, digits, . _ @ -)."),
    role: str = typer.Option(
        ..., "--role", help=f"One of: {', '.join(ACCOUNT_ROLES)}.", show_default=False
    ),
    name: str | None = typer.Option(
        None, "--name", help="Display name (default: the username).", show_default=False
    ),
    person_id: int | None = typer.Option(
        None,
        "--person-id",
        help="For a citizen: the pseudonymous person id of their own records.",
        show_default=False,
    ),
    password_stdin: bool = PASSWORD_STDIN_OPTION,
    db: str | None = DB_OPTION,
) -> None:
    """Add a user; the password is prompted for (or read with --password-stdin)."""
    password = _read_password(password_stdin)
    with _refusals(), database(db) as sessions, session_scope(sessions) as session:
        user = create_user(
            session,
            username=username,
            password=password,
            role=role,
            display_name=name,
            person_id=person_id,
        )
        typer.echo(f"added user {user.username} ({user.role}), id {user.id}")


@app.command("list")
def list_(
    active_only: bool = typer.Option(False, "--active", help="Only active users."),
    db: str | None = DB_OPTION,
) -> None:
    """List users: name, role, state and last login (never their password hashes)."""
    with _refusals(), database(db) as sessions, sessions() as session:
        users = list_users(session, include_inactive=not active_only)
        table = Table(title="users", caption=f"times in {DISPLAY_ZONE.key}")
        for column in (
            "id",
            "username",
            "name",
            "role",
            "person",
            "active",
            "created",
            "last login",
        ):
            table.add_column(column, overflow="fold")
        for u in users:
            table.add_row(
                str(u.id),
                u.username,
                u.display_name,
                u.role,
                "" if u.person_id is None else str(u.person_id),
                "yes" if u.active else "no",
                _show(u.created_at),
                _show(u.last_login_at),
            )
        if users:
            Console().print(table)
        else:
            typer.echo("no users")


@app.command("deactivate")
def deactivate(
    username: str = typer.Argument(..., help="The user to deactivate."),
    db: str | None = DB_OPTION,
) -> None:
    """Deactivate a user: no more logins; their sessions and API tokens are revoked."""
    with _refusals(), database(db) as sessions, session_scope(sessions) as session:
        user = deactivate_user(session, username=username)
        typer.echo(f"deactivated user {user.username}; sessions and API tokens revoked")


@app.command("passwd")
def passwd(
    username: str = typer.Argument(..., help="Whose password to set."),
    password_stdin: bool = PASSWORD_STDIN_OPTION,
    db: str | None = DB_OPTION,
) -> None:
    """Set a user's password (an admin's reset); their console sessions are ended."""
    password = _read_password(password_stdin)
    with _refusals(), database(db) as sessions, session_scope(sessions) as session:
        user = change_password(session, username=username, new_password=password)
        typer.echo(f"password of {user.username} changed; console sessions ended")


@token_app.command("issue")
def token_issue(
    username: str = typer.Argument(..., help="Whose token."),
    name: str = typer.Option(
        ..., "--name", help="What uses the token, e.g. 'sms-gateway'.", show_default=False
    ),
    days: int = typer.Option(90, "--days", min=1, max=366, help="Days until it expires."),
    db: str | None = DB_OPTION,
) -> None:
    """Issue an API token and print it once: it cannot be shown again."""
    with _refusals(), database(db) as sessions, session_scope(sessions) as session:
        issued = issue_token(session, username=username, name=name, ttl=dt.timedelta(days=days))
        token = issued.token
    # Printed only after the commit, so a printed token always exists.
    expires = _show(token.expires_at)
    typer.echo(f"token {token.id} for {username.strip()} ({token.name}), expires {expires}:")
    typer.echo(issued.secret)
    typer.echo("Store it now: it is not stored here and cannot be shown again.", err=True)


@token_app.command("list")
def token_list(
    username: str | None = typer.Argument(None, help="Only this user's tokens."),
    db: str | None = DB_OPTION,
) -> None:
    """List API tokens (id, user, name, dates, state); the tokens themselves are not kept."""
    with _refusals(), database(db) as sessions, sessions() as session:
        rows = list_tokens(session, username=username)
        if not rows:
            typer.echo("no API tokens")
            return
        table = Table(title="API tokens", caption=f"times in {DISPLAY_ZONE.key}")
        for column in ("id", "user", "name", "created", "expires", "last used", "revoked"):
            table.add_column(column, overflow="fold")
        for token, user in rows:
            table.add_row(
                str(token.id),
                user.username,
                token.name,
                _show(token.created_at),
                _show(token.expires_at),
                _show(token.last_used_at),
                _show(token.revoked_at) if token.revoked_at else "",
            )
        Console().print(table)


@token_app.command("revoke")
def token_revoke(
    token_id: int = typer.Argument(..., help="The token's id (see `token list`)."),
    db: str | None = DB_OPTION,
) -> None:
    """Revoke an API token by id."""
    with _refusals(), database(db) as sessions, session_scope(sessions) as session:
        token = revoke_token(session, token_id=token_id)
        typer.echo(f"token {token.id} ({token.name}) revoked")
