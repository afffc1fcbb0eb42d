"""`epicity relief export`: approved relief payments as a CSV for the city's finance system."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import typer

from epicity.cliutil import DB_OPTION, database, fail
from epicity.db import session_scope
from epicity.relief.service import export_payments, payments_csv

__all__ = ["app"]

app = typer.Typer(help="Relief payments for the city's finance system.", no_args_is_help=True)


@app.command("export")
def export(
    out: Path = typer.Option(..., "--out", help="CSV file to write (replaced atomically)."),
    new_only: bool = typer.Option(False, "--new-only", help="Only payments never exported before."),
    db: str | None = DB_OPTION,
) -> None:
    """Write approved payments as CSV (one row per payment, a stable reference each). A
    payment's first export stamps its exported_at; exporting again repeats the same rows."""
    if out.exists() and out.is_dir():
        raise fail(f"--out: {out} is a directory")
    with database(db) as sessions, session_scope(sessions) as session:
        rows = export_payments(session, new_only=new_only)
        text = payments_csv(rows)
        # Write beside the target and rename, so a reader never sees half a file; the
        # transaction commits (stamping exported_at) only once the file is in place.
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
                f.write(text)
            os.replace(tmp, out)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    total = sum(r["amount_krw"] for r in rows)
    typer.echo(f"{len(rows)} payments, {total:,} KRW -> {out}")
