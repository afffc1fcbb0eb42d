"""`epicity exposure`: keygen (0600, refuses to overwrite), export (refused without a key,
idempotent), prune, a hand-issued code, stats (aggregates only)."""

from __future__ import annotations

import datetime as dt
import os
import re
import stat
from pathlib import Path

import pytest
from tests.exposure.keyserver_support import DAY, NOW, TODAY, daily_keys, settings, token_for
from typer.testing import CliRunner

from epicity.cli import app
from epicity.db import make_engine, migrate, session_factory, session_scope
from epicity.exposure import keyserver as ks
from epicity.exposure.errors import ExposureConfigError
from epicity.exposure.signing import load_signer, write_new_key

runner = CliRunner()


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A migrated SQLite database with one upload of 5 past days' keys at NOW."""
    for name in ("SIGNING_KEY", "REGIONS", "EXPORT_MIN_KEYS"):
        monkeypatch.delenv(f"EPICITY_EXPOSURE_{name}", raising=False)
    monkeypatch.setenv("EPICITY_EXPOSURE_CODE_SECRET", "the cli test's secret, 32 chars..")
    url = f"sqlite:///{tmp_path / 'epicity.db'}"
    engine = make_engine(url)
    migrate(engine)
    config = settings(regions=("KR-11",), code_key=b"the cli test's secret, 32 chars..")
    with session_scope(session_factory(engine)) as s:
        issued = token_for(s, config)
        ks.publish(s, token=issued.token, body={"keys": daily_keys(6)[:5]}, now=NOW,
                   settings=config)  # fmt: skip
    engine.dispose()
    return url


def test_keygen_writes_a_private_key_only_its_owner_reads(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "export.pem"
    made = runner.invoke(app, ["exposure", "keygen", "--out", str(path)])
    assert made.exit_code == 0, made.output
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "-----BEGIN PUBLIC KEY-----" in made.output
    assert "PRIVATE" not in made.output
    again = runner.invoke(app, ["exposure", "keygen", "--out", str(path)])
    assert again.exit_code == 2
    assert f"--out: {path} exists" in again.output
    replaced = runner.invoke(app, ["exposure", "keygen", "--out", str(path), "--force"])
    assert replaced.exit_code == 0


def test_a_key_file_others_can_read_or_not_p256_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "export.pem"
    write_new_key(path)
    os.chmod(path, 0o644)
    with pytest.raises(ExposureConfigError, match="may be read by others"):
        load_signer(settings(signing_key_path=path))
    other = tmp_path / "other.pem"
    other.write_text("not a key")
    os.chmod(other, 0o600)
    with pytest.raises(ExposureConfigError, match="not an unencrypted PEM private key"):
        load_signer(settings(signing_key_path=other))
    with pytest.raises(ExposureConfigError, match="cannot read"):
        load_signer(settings(signing_key_path=tmp_path / "absent.pem"))


def test_export_needs_a_key_then_makes_each_window_once(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tomorrow = (NOW + DAY).isoformat()
    refused = runner.invoke(app, ["exposure", "export", "--now", tomorrow, "--db", db])
    assert refused.exit_code == 2
    assert "EPICITY_EXPOSURE_SIGNING_KEY is not set" in refused.output
    key = tmp_path / "export.pem"
    write_new_key(key)
    monkeypatch.setenv("EPICITY_EXPOSURE_SIGNING_KEY", str(key))
    first = runner.invoke(app, ["exposure", "export", "--now", tomorrow, "--db", db])
    assert first.exit_code == 0, first.output
    # padded to 1000 keys and up to 10% more by default
    padded = re.search(r"14 daily window\(s\) made, 1 file\(s\), (\d+) key\(s\)", first.output)
    assert padded is not None, first.output
    assert 1000 <= int(padded.group(1)) <= 1100
    start = int(dt.datetime.combine(TODAY, dt.time(0), dt.UTC).timestamp())
    assert f"KR-11/daily-{start}-{start + 86400}-00001.zip\t{padded.group(1)} keys" in first.output
    again = runner.invoke(app, ["exposure", "export", "--now", tomorrow, "--db", db])
    assert again.exit_code == 0
    assert "0 daily window(s) made, 0 file(s)" in again.output
    hourly = runner.invoke(
        app, ["exposure", "export", "--period", "hourly", "--now", tomorrow, "--db", db]
    )
    assert f"1 file(s), {padded.group(1)} key(s)" in hourly.output  # the same padding
    for bad, message in [
        (["--period", "weekly"], "--period: 'weekly' is not daily or hourly"),
        (["--now", "2020-09-11T00:00"], "has no offset"),
    ]:
        result = runner.invoke(app, ["exposure", "export", *bad, "--db", db])
        assert result.exit_code == 2
        assert message in result.output


def test_prune_code_and_stats(db: str) -> None:
    code = runner.invoke(
        app, ["exposure", "code", "--test-date", str(TODAY), "--report-type", "likely",
              "--now", NOW.isoformat(), "--db", db],
    )  # fmt: skip
    assert code.exit_code == 0, code.output
    digits, valid = code.output.strip().split("\t")
    assert len(digits.replace(" ", "")) == 12
    assert valid == "valid until 2020-09-11T12:34:56+00:00"
    bad = runner.invoke(app, ["exposure", "code", "--test-date", "2020-02-30", "--db", db])
    assert bad.exit_code == 2
    assert "--test-date '2020-02-30' is not a date" in bad.output

    stats = runner.invoke(app, ["exposure", "stats", "--now", NOW.isoformat(), "--db", db])
    assert stats.exit_code == 0, stats.output
    row = next(line for line in stats.output.splitlines() if "2020-09-10" in line)
    assert row.split("│")[1:-1] == [" 2020-09-10 ", "            2 ", "          1 ",
                                     "                    0 ", "       1 ", "    5 "] or [
        c.strip() for c in row.split("│")[1:-1]
    ] == ["2020-09-10", "2", "1", "0", "1", "5"]  # fmt: skip
    assert "stored now: 5 keys (+0 padding), 0 export files, 1 unused live codes" in stats.output

    later = (NOW + 20 * DAY).isoformat()
    pruned = runner.invoke(app, ["exposure", "prune", "--now", later, "--db", db])
    assert pruned.exit_code == 0, pruned.output
    assert "deleted 5 key row(s), 0 export batch(es) with 0 file(s), 2 code(s)" in pruned.output
