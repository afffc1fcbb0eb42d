"""Pieces every command shares: the database option, the acting user, errors and times."""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import os
from collections.abc import Callable, Iterator

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from epicity.db import database_url, make_engine, migrate, session_factory, utcnow
from epicity.privacy.errors import PrivacyError

__all__ = [
    "ACTOR_OPTION",
    "DB_OPTION",
    "ENGINE_OPTION",
    "NOW_OPTION",
    "actor_name",
    "bar_per_label",
    "database",
    "engine_or_default",
    "fail",
    "now_or",
    "parse_time",
    "progress_bar",
]

DB_OPTION = typer.Option(
    None,
    "--db",
    help="Database URL (default: $EPICITY_DATABASE_URL or sqlite:///var/epicity.db).",
    show_default=False,
)
ACTOR_OPTION = typer.Option(
    None, "--actor", help="Who is acting (default: $USER, else 'cli').", show_default=False
)

NOW_OPTION = typer.Option(
    None,
    "--now",
    help="Act as of this ISO 8601 time with offset (default: now).",
    show_default=False,
)


def actor_name(actor: str | None) -> str:
    """The given actor, else the login name, else 'cli'."""
    if actor:
        return actor
    try:
        return os.environ.get("USER") or getpass.getuser() or "cli"
    except Exception:  # getuser raises when no user name can be found at all
        return "cli"


ENGINE_OPTION = typer.Option(
    None,
    "--engine",
    help="duckdb (this machine) or spark (EPICITY_SPARK_MASTER); default EPICITY_ENGINE or duckdb.",
)


def engine_or_default(value: str | None) -> str:
    """`--engine`'s engine, else `EPICITY_ENGINE`'s, else duckdb; a clear error if unknown."""
    from epicity.spark import SparkUnavailable, check_engine, default_engine

    try:
        return check_engine(value) if value is not None else default_engine()
    except (ValueError, SparkUnavailable) as exc:
        raise fail(f"--engine: {exc}") from None


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print `error: message` on stderr; return the Exit to raise."""
    Console(stderr=True).print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(code=code)


@contextlib.contextmanager
def database(url: str | None) -> Iterator[sessionmaker[Session]]:
    """A migrated database's session factory; errors become messages and exit codes."""
    try:
        engine = make_engine(database_url(url))
    except Exception as exc:  # a malformed URL or an unknown driver
        raise fail(f"cannot use the database URL: {exc}") from None
    shown = engine.url.render_as_string(hide_password=True)
    try:
        migrate(engine)
        yield session_factory(engine)
    except PrivacyError as exc:
        raise fail(str(exc)) from None
    except SQLAlchemyError as exc:
        raise fail(f"database {shown}: {str(exc).splitlines()[0]}", code=1) from None
    finally:
        engine.dispose()


def parse_time(value: str, option: str) -> dt.datetime:
    """An ISO 8601 time with an offset, or a clear error naming the option."""
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise fail(f"{option} {value!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise fail(f"{option} {value!r} has no offset; write e.g. {value.strip()}+09:00")
    return parsed


def now_or(value: str | None) -> dt.datetime:
    """`--now`'s time (see `parse_time`), else the current time."""
    return parse_time(value, "--now") if value else utcnow()


def progress_bar(console: Console | None = None) -> Progress:
    """The progress bar of commands that take more than a second (on stderr by default)."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console or Console(stderr=True),
        transient=True,
    )


def bar_per_label(bar: Progress) -> Callable[[str, int, int], None]:
    """A `progress(label, done, total)` callback that shows one bar per label."""
    tasks: dict[str, TaskID] = {}

    def progress(label: str, done: int, total: int) -> None:
        if label not in tasks:
            tasks[label] = bar.add_task(label, total=total)
        bar.update(tasks[label], completed=done, total=total)

    return progress
