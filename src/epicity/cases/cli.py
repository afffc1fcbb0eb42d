"""`epicity import ds4c`: load the Korean DS4C cases into case management.

The command brings the database up to date first (idempotent), imports in one transaction
and prints a summary. Bad input (a missing file or column) prints a message on stderr and
exits with 2; a database failure exits with 1 and leaves nothing behind.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

from epicity.cases.ds4c import Ds4cImport, import_ds4c
from epicity.cases.errors import CaseError
from epicity.cliutil import ACTOR_OPTION, DB_OPTION, actor_name, database, fail
from epicity.db import session_scope
from epicity.ds4c.convert import PATIENT_INFO, Ds4cError
from epicity.notices.cli import ds4c_routes

__all__ = ["default_ds4c_path", "import_app"]

import_app = typer.Typer(help="Import outside data into case management.", no_args_is_help=True)


@import_app.callback()
def _group() -> None:
    """Import outside data into case management."""
    # A callback keeps this a group even with one command: `epicity import ds4c`.


# The DS4C public routes as place notices (epicity.notices), beside the DS4C cases.
import_app.command("ds4c-routes")(ds4c_routes)


# Where the shared real data live: $EPICITY_REAL_DATA, else ../shared/data/real beside the
# repository (the commands are run from its root, like `epicity ds4c`).
ENV_REAL_DATA = "EPICITY_REAL_DATA"


def default_ds4c_path() -> Path:
    """``$EPICITY_REAL_DATA/ds4c/PatientInfo.csv``, else ``../shared/data/real/ds4c/...``."""
    root = Path(os.environ.get(ENV_REAL_DATA) or Path("..") / "shared" / "data" / "real")
    return root / "ds4c" / PATIENT_INFO


def _lines(r: Ds4cImport) -> list[str]:
    out = [
        f"DS4C import from {r.path}",
        f"  rows read:   {r.rows:,} ({r.cases_read:,} cases)",
        f"  cases:       {r.new_cases:,} new, {r.existing_cases:,} already imported",
        f"  links:       {r.new_links:,} new, {r.existing_links:,} already present "
        f"(of {r.links_read:,} infected_by)",
        f"  clusters:    {r.new_clusters:,} new, {r.existing_clusters:,} already present; "
        f"memberships {r.new_memberships:,} new, {r.existing_memberships:,} already present",
    ]
    for title, counter in (
        ("rows skipped", r.skipped_rows),
        ("links skipped", r.skipped_links),
        ("dates dropped (inconsistent)", r.dates_dropped),
    ):
        if counter:
            out.append(f"  {title}: {sum(counter.values()):,}")
            out.extend(f"    {n:>6,}  {why}" for why, n in counter.most_common())
    largest = sorted(r.cluster_sizes.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    if largest:
        out.append("  largest clusters:")
        out.extend(f"    {n:>6,}  {name}" for name, n in largest)
    if not r.changed:
        out.append("nothing new: the data were imported already")
    return out


@import_app.command("ds4c")
def ds4c(
    path: Path | None = typer.Option(
        None,
        "--path",
        help=(
            "DS4C PatientInfo.csv, or the directory holding it "
            "(default: $EPICITY_REAL_DATA/ds4c, else ../shared/data/real/ds4c)."
        ),
        show_default=False,
    ),
    actor: str | None = ACTOR_OPTION,
    db: str | None = DB_OPTION,
) -> None:
    """Load DS4C cases, their infected_by links and their clusters (idempotent)."""
    source = path if path is not None else default_ds4c_path()
    if not source.exists():
        raise fail(f"--path: {source} does not exist (the DS4C PatientInfo.csv or its directory)")
    try:
        with database(db) as sessions, session_scope(sessions) as session:
            report = import_ds4c(session, source, actor=actor_name(actor))
    except (Ds4cError, CaseError) as exc:
        raise fail(str(exc)) from None
    for line in _lines(report):
        typer.echo(line)
