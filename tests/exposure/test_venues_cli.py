"""`epicity exposure venues ...` and `... venue-warnings ...` on SQLite and PostgreSQL:
register, list, write the QR code, publish and prune; bad input exits with 2."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import segno
from sqlalchemy.orm import Session
from tests.exposure.venues_support import NOW, VISIT_END, VISIT_START, confirmed_case
from typer.testing import CliRunner

from epicity.cli import app
from epicity.db import make_engine, session_factory, session_scope
from epicity.exposure import venues
from epicity.exposure.signing import write_new_key
from epicity.exposure.venue_client import scan

runner = CliRunner()


def _approved_warning(session: Session, venue_id: int) -> None:
    case = confirmed_case(session)
    warning, _ = venues.create_warning(
        session, case_id=case.id, venue_id=venue_id, start=VISIT_START, end=VISIT_END,
        actor="kim", now=NOW,
    )  # fmt: skip
    venues.approve_warning(session, warning_id=warning.id, actor="park", now=NOW)


def test_register_list_poster_publish_prune(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EPICITY_EXPOSURE_CHECKIN_HOST", "checkin.seoul.example")
    db = ["--db", db_url]
    result = runner.invoke(
        app,
        ["exposure", "venues", "register", "--description", "Church of Grace",
         "--address", "5 Seongsan-ro", "--type", "permanent_public_building",
         "--district", "Seodaemun-gu", "--place-id", "812", "--actor", "kim", *db],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    venue_id = int(re.search(r"venue (\d+) registered", result.output)[1])  # type: ignore[index]
    url = re.search(r"check-in URL: (\S+)", result.output)[1]  # type: ignore[index]
    assert scan(url, ["checkin.seoul.example"]).data.description == "Church of Grace"
    assert "management token (shown once): venue_" in result.output

    listed = runner.invoke(app, ["exposure", "venues", "list", "--district", "Seodaemun-gu", *db])
    assert listed.exit_code == 0, listed.output
    assert "Church of Grace" in listed.output
    assert "1 of 1 venue(s)" in listed.output

    out = tmp_path / "poster.svg"
    made = runner.invoke(
        app, ["exposure", "venues", "poster", str(venue_id), "--out", str(out), *db]
    )
    assert made.exit_code == 0, made.output
    expected = tmp_path / "expected.svg"
    segno.make(url, error="m", micro=False).save(str(expected), kind="svg", scale=10, border=4)
    assert out.read_bytes() == expected.read_bytes()

    for args, words in [
        (["venues", "register", "--description", "x", "--address", "y", "--type", "bar",
          "--district", "Mapo-gu"], "type: unknown type"),
        (["venues", "poster", "999999", "--out", str(out)], "venue_id: no venue"),
        (["venue-warnings", "publish"], "EPICITY_EXPOSURE_SIGNING_KEY"),
    ]:  # fmt: skip
        bad = runner.invoke(app, ["exposure", *args, *db])
        assert bad.exit_code == 2, (args, bad.output)
        assert words in bad.output, bad.output

    key = tmp_path / "signing.pem"
    write_new_key(key)
    monkeypatch.setenv("EPICITY_EXPOSURE_SIGNING_KEY", str(key))
    nothing = runner.invoke(app, ["exposure", "venue-warnings", "publish", *db])
    assert "no approved warning to publish" in nothing.output
    # the visit was before this registration: record the warning against a venue as of then
    engine = make_engine(db_url)
    try:
        with session_scope(session_factory(engine)) as session:
            venue, _ = venues.register_venue(
                session, description="Cafe", address="1 Main St", venue_type="permanent_retail",
                district="Mapo-gu", actor="kim", now=VISIT_START.replace(hour=9),
            )  # fmt: skip
            _approved_warning(session, venue.id)
    finally:
        engine.dispose()
    published = runner.invoke(
        app, ["exposure", "venue-warnings", "publish", "--now", NOW.isoformat(), *db]
    )
    assert published.exit_code == 0, published.output
    assert re.search(r"published \d+-1\.zip \(10 reports, decoys included\)", published.output)
    pruned = runner.invoke(
        app, ["exposure", "venue-warnings", "prune", "--now", "2024-04-30T00:00+09:00", *db]
    )
    assert pruned.exit_code == 0, pruned.output
    assert "deleted 1 warning(s), 1 package(s), 0 venue(s)" in pruned.output
