"""`epicity deliver run|status|contacts` through Typer's CliRunner (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from typer.testing import CliRunner, Result

from epicity.db import make_engine, migrate, session_factory, utcnow
from epicity.delivery.cli import app

from .conftest import SECRET, SENDER, Gateway, SmtpReceiver, queue, rows, warnings

ENV = {"COLUMNS": "200", "USER": "tester"}


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, list(args), env={**ENV, **(env or {})})


def channels_env(smtp: SmtpReceiver, gateway: Gateway) -> dict[str, str]:
    return {
        "EPICITY_SMTP_HOST": "127.0.0.1",
        "EPICITY_SMTP_PORT": str(smtp.port),
        "EPICITY_SMTP_SENDER": SENDER,
        "EPICITY_SMTP_STARTTLS": "false",
        "EPICITY_WEBHOOK_URL": gateway.url,
        "EPICITY_WEBHOOK_SECRET": SECRET,
    }


def test_contacts_run_and_status(
    db_url: str, tmp_path: Path, smtp: SmtpReceiver, gateway: Gateway
) -> None:
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("person_id,email,phone\n11,kim@example.org,\n12,,+821012345678\n")
    result = run("contacts", str(contacts), "--db", db_url)
    assert result.exit_code == 0, result.output
    assert result.stdout == "contacts: 2 added, 0 updated, 0 unchanged\n"
    result = run("contacts", str(contacts), "--db", db_url)
    assert result.stdout == "contacts: 0 added, 0 updated, 2 unchanged\n"

    engine = make_engine(db_url)
    try:
        migrate(engine)
        sessions = session_factory(engine)
        # enqueued now and not expiring (the test warnings are from 2020), so they are due
        queue(sessions, warnings(orders=(11, 12, 13), towers=(7,)), now=utcnow())
        with engine.begin() as con:
            con.execute(sa.text("UPDATE outbox SET expires_at = NULL"))

        result = run("status", "--db", db_url)
        assert result.exit_code == 0, result.output
        assert "pending" in result.stdout

        result = run("run", "--db", db_url, env=channels_env(smtp, gateway))
        assert result.exit_code == 0, result.output
        out = result.stdout
        assert "sent" in out
        assert "undeliverable" in out
        assert "kim@example.org" not in out  # counts only
        assert "+8210" not in out
        assert {r.recipient: r.status for r in rows(sessions)} == {
            "person:11": "sent",
            "person:12": "sent",
            "person:13": "undeliverable",
            "tower:7": "sent",
        }
        assert len(smtp.messages) == 1
        assert len(gateway.requests) == 2

        result = run(
            "run", "--loop", "--rounds", "2", "--interval", "0", "--db", db_url,
            env=channels_env(smtp, gateway),
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert "2 round(s)" in result.stdout
        assert "nothing was due" in result.stdout
        assert len(gateway.requests) == 2  # nothing sent twice

        result = run("status", "--db", db_url)
        assert "undeliverable" in result.stdout
        assert "webhook" in result.stdout
        assert "email" in result.stdout
    finally:
        engine.dispose()


def test_contacts_refused_names_line_and_field(db_url: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("person_id,email,phone\n11,kim@example.org,\n12,oops,\n")
    result = run("contacts", str(bad), "--db", db_url)
    assert result.exit_code == 2
    assert "line 3, email: not an email address" in result.stderr
    assert "nothing stored" in result.stderr


def test_run_refuses_bad_or_missing_settings(db_url: str) -> None:
    result = run("run", "--db", db_url)
    assert result.exit_code == 2
    assert "no channel configured" in result.stderr
    result = run(
        "run", "--db", db_url,
        env={"EPICITY_WEBHOOK_URL": "http://127.0.0.1:9/x", "EPICITY_WEBHOOK_SECRET": "short"},
    )  # fmt: skip
    assert result.exit_code == 2
    assert "EPICITY_WEBHOOK_SECRET: must be at least 16 characters" in result.stderr
