"""The root command line: every domain's commands are reachable, bad arguments exit with 2."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from tests.web.conftest import free_port
from typer.testing import CliRunner

from epicity import __version__
from epicity.cli import app
from epicity.records.store import LocationStore

runner = CliRunner()


def test_version_and_help_list_the_commands() -> None:
    assert runner.invoke(app, ["--version"]).output.strip() == __version__
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("city", "ds4c", "ingest", "demo"):
        assert command in result.output


def test_city_generate_writes_the_tables(tmp_path: Path) -> None:
    out = tmp_path / "city"
    result = runner.invoke(
        app, ["city", "generate", "--people", "400", "--days", "2", "--out", str(out), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    assert "confirmed cases" in result.output
    for table in ("towers", "merchants", "people", "cases", "gps", "cell", "card", "entries"):
        assert (out / f"{table}.parquet").is_file()


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["--people", "0"], "--people"),
        (["--days", "0"], "--days"),
        (["--seed", "-1"], "--seed"),
        (["--format", "xml"], "--format"),
        (["--start", "2020-02-30"], "--start"),
        (["--transmission", "-2"], "--transmission"),
    ],
)
def test_city_generate_rejects_bad_arguments(tmp_path: Path, args: list[str], names: str) -> None:
    result = runner.invoke(app, ["city", "generate", "--out", str(tmp_path / "c"), *args])
    assert result.exit_code == 2
    assert names in result.output
    assert not (tmp_path / "c").exists()


def test_demo_generates_loads_and_summarises(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    args = ["demo", "--people", "500", "--days", "2", "--dir", str(workdir), "--no-serve"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "Location store" in first.output
    assert "Screening: 3 centres opened" in first.output
    store = LocationStore(workdir / "store")
    assert store.row_count("people") == 500
    cells = store.row_count("cell")
    assert cells > 0
    # Running it again regenerates the same city (same seed) and the load adds nothing.
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert LocationStore(workdir / "store").row_count("cell") == cells
    assert "Screening: 0 centres opened" in again.output


def test_demo_without_any_confirmed_case(tmp_path: Path) -> None:
    # One day of a small city: nobody is confirmed yet, and the demo says so instead of failing.
    result = runner.invoke(
        app, ["demo", "--people", "300", "--days", "1", "--dir", str(tmp_path / "d"), "--no-serve"]
    )
    assert result.exit_code == 0, result.output
    assert "Traced cases" in result.output


def test_demo_ends_by_serving_the_console_with_working_logins(tmp_path: Path) -> None:
    port = free_port()
    epicity = Path(sys.executable).parent / "epicity"
    args = [str(epicity), "demo", "--people", "2000", "--days", "6", "--seed", "3"]
    args += ["--dir", str(tmp_path / "d"), "--port", str(port)]
    out = tmp_path / "demo.log"
    with out.open("w") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 240
        while "Ctrl-C stops it" not in out.read_text():
            assert proc.poll() is None, out.read_text()
            assert time.monotonic() < deadline, "the demo did not start the service"
            time.sleep(0.5)
        text = out.read_text()
        password = re.search(r"investigator\s+\S\s+(demo-\S+)", text)
        assert password, text
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
            for _ in range(100):  # uvicorn may need a moment after the banner
                try:
                    c.get("/healthz")
                    break
                except httpx.ConnectError:
                    time.sleep(0.1)
            r = c.post("/login", data={"username": "investigator", "password": password[1]})
            assert r.status_code == 303
            # A Secure cookie: browsers send it to http://127.0.0.1 (a secure context), httpx
            # only over https, so the test sends it itself.
            assert "secure" in r.headers["set-cookie"].lower()
            cookie = f"epicity_session={r.cookies['epicity_session']}"
            cases = c.get("/console/cases", headers={"Cookie": cookie})
            assert cases.status_code == 200
            assert "Cases" in cases.text
    finally:
        proc.terminate()
        proc.wait(20)
