"""Commands of place notices: ``epicity import ds4c-routes`` and ``epicity notices sync``.

Both bring the database up to date first (idempotent) and work in one transaction. Bad input
(a missing file or column) prints a message on stderr and exits with 2; a database failure
exits with 1 and leaves nothing behind.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

from epicity.cliutil import DB_OPTION, database, fail
from epicity.db import session_scope, utcnow
from epicity.notices.ds4c import FILE_NAME, RoutesImport, import_routes
from epicity.notices.errors import NoticeError
from epicity.notices.service import sync_from_outbox

__all__ = ["app", "default_routes_path", "ds4c_routes"]

app = typer.Typer(help="Public place notices.", no_args_is_help=True)
ENV_REAL_DATA = "EPICITY_REAL_DATA"


def default_routes_path() -> Path:
    """``$EPICITY_REAL_DATA/ds4c/PatientRoute.csv``, else ``../shared/data/real/ds4c/...``."""
    root = Path(os.environ.get(ENV_REAL_DATA) or Path("..") / "shared" / "data" / "real")
    return root / "ds4c" / FILE_NAME


def _lines(r: RoutesImport) -> list[str]:
    days = (
        f"{r.first_day.isoformat()} to {r.last_day.isoformat()}"
        if r.first_day and r.last_day
        else "none"
    )
    out = [
        f"DS4C public routes from {r.path}",
        f"  rows read:        {r.rows:,} ({r.outside:,} outside Seoul)",
        f"  places:           {r.places:,}",
        f"  notices:          {r.notices:,} ({r.multi_day:,} over several days), {days}",
        f"  stored:           {r.added:,} new, {r.unchanged:,} already stored, "
        f"{r.removed:,} removed",
    ]
    for title, counter in (("withheld", r.withheld), ("rows skipped", r.skipped)):
        if counter:
            out.append(f"  {title}: {sum(counter.values()):,}")
            out.extend(f"    {n:>6,}  {why}" for why, n in counter.most_common())
    if not r.changed:
        out.append("nothing new: the routes were imported already")
    return out


def ds4c_routes(
    path: Path | None = typer.Option(
        None,
        "--path",
        help=(
            "DS4C PatientRoute.csv, or the directory holding it "
            "(default: $EPICITY_REAL_DATA/ds4c, else ../shared/data/real/ds4c)."
        ),
        show_default=False,
    ),
    db: str | None = DB_OPTION,
) -> None:
    """Load the DS4C public routes of 2020 as place notices, by tracing's rules (idempotent)."""
    source = path if path is not None else default_routes_path()
    if not source.exists():
        raise fail(f"--path: {source} does not exist (the DS4C {FILE_NAME} or its directory)")
    try:
        with database(db) as sessions, session_scope(sessions) as session:
            report = import_routes(session, source, now=utcnow())
    except NoticeError as exc:
        raise fail(str(exc).replace("path:", "--path:", 1)) from None
    for line in _lines(report):
        typer.echo(line)


@app.command("sync")
def sync(db: str | None = DB_OPTION) -> None:
    """Copy approved public notices from the tracing outbox; delete expired ones."""
    with database(db) as sessions, session_scope(sessions) as session:
        added = sync_from_outbox(session, now=utcnow())
    typer.echo(f"{added:,} notice(s) added")
