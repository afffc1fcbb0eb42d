"""`epicity publish`: publishes, says when nothing changed, loops, refuses bad options."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.opendata.seed import AS_OF, seed
from typer.testing import CliRunner

from epicity.cli import app
from epicity.db import make_engine, migrate, session_factory, session_scope
from epicity.opendata import service

runner = CliRunner()


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'epicity.db'}"
    engine = make_engine(url)
    migrate(engine)
    with session_scope(session_factory(engine)) as s:
        seed(s)
    engine.dispose()
    return url


def test_publish_then_nothing_changed(db: str) -> None:
    args = ["publish", "--as-of", AS_OF.isoformat(), "--note", "daily", "--db", db]
    first = runner.invoke(app, [*args, "--actor", "officer"])
    assert first.exit_code == 0, first.output
    assert "publication 1 as of 2020-03-07: 182 figure rows added, 0 corrected" in first.output
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "nothing changed since publication 1 (as of 2020-03-07)" in again.output
    engine = make_engine(db)
    with session_factory(engine)() as s:
        p = service.latest_publication(s)
        assert p is not None
        assert (p.published_by, p.note) == ("officer", "daily")
        assert service.count_figures(s) == 7 * 26
    engine.dispose()


def test_loop_runs_the_given_rounds(db: str) -> None:
    result = runner.invoke(
        app,
        ["publish", "--as-of", AS_OF.isoformat(), "--loop", "--every", "1s", "--rounds", "2",
         "--db", db],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "publication 1" in result.output
    assert "nothing changed since publication 1" in result.output


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--as-of", "2020-02-30"], "--as-of '2020-02-30' is not a date"),
        (["--as-of", "2999-01-01"], "as_of: 2999-01-01 is in the future"),
        (["--every", "often"], "--every 'often' is not a duration"),
        (["--every", "0s"], "must be from 1 second to 7 days"),
        (["--note", "x" * 1001], "--note is 1001 characters; at most 1000"),
    ],
)
def test_bad_options_exit_2_naming_them(tmp_path: Path, options: list[str], message: str) -> None:
    result = runner.invoke(app, ["publish", *options, "--db", f"sqlite:///{tmp_path / 'e.db'}"])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_nothing_to_publish_exits_1(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["publish", "--as-of", "2020-03-07", "--db", f"sqlite:///{tmp_path / 'e.db'}"]
    )
    assert result.exit_code == 1, result.output
    assert "nothing to publish" in result.output


def test_parse_every() -> None:
    from epicity.opendata.cli import parse_every

    assert [parse_every(v) for v in ("1h", "30m", "90s", "3600", "1d")] == [
        3600, 1800, 90, 3600, 86400,
    ]  # fmt: skip
