"""`epicity publish`: recompute the daily figures from the operational data and publish what
changed (`epicity.opendata.service.publish`).

Run it once a day after midnight (cron, a systemd timer), or keep it running with
``--loop --every 1h``; running it again when nothing changed stores nothing, so a loop, a
cron job and the web workers' scheduled task (``EPICITY_PUBLISH_EVERY``) can overlap safely.
Output holds counts and dates only.
"""

from __future__ import annotations

import datetime as dt
import re
import time

import typer
from sqlalchemy.orm import Session, sessionmaker

from epicity.cliutil import ACTOR_OPTION, DB_OPTION, actor_name, bar_per_label, database, fail
from epicity.cliutil import progress_bar as make_progress_bar
from epicity.db import session_scope, utcnow
from epicity.opendata.errors import Conflict, OpendataError
from epicity.opendata.models import NOTE_MAX
from epicity.opendata.service import default_as_of, latest_publication
from epicity.opendata.service import publish as publish_figures

__all__ = ["parse_every", "publish"]

_EVERY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_every(value: str) -> float:
    """A duration such as "1h", "30m", "90s" or "3600" (seconds), from 1 s to 7 days."""
    m = _EVERY.match(value)
    if not m:
        raise fail(f"--every {value[:40]!r} is not a duration; write e.g. 1h, 30m or 90s")
    seconds = float(m.group(1)) * _SECONDS[m.group(2)]
    if not 1 <= seconds <= 7 * 86400:
        raise fail(f"--every {value!r} must be from 1 second to 7 days")
    return seconds


def _as_of(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise fail(f"--as-of {value[:40]!r} is not a date (YYYY-MM-DD)") from None


def publish(
    as_of: str | None = typer.Option(
        None,
        "--as-of",
        help="Publish every day up to this date (YYYY-MM-DD; default yesterday in Seoul).",
    ),
    note: str = typer.Option(
        "", "--note", help="Why (the reason of a correction); shown with the revisions."
    ),
    loop: bool = typer.Option(False, "--loop", help="Keep publishing until interrupted."),
    every: str = typer.Option("1h", "--every", help="With --loop: time between runs (1h, 30m)."),
    rounds: int | None = typer.Option(
        None, "--rounds", min=1, help="With --loop: stop after this many runs."
    ),
    actor: str | None = ACTOR_OPTION,
    db: str | None = DB_OPTION,
) -> None:
    """Recompute the daily figures (city and districts) and publish those that changed."""
    day = _as_of(as_of)
    interval = parse_every(every)
    if len(note) > NOTE_MAX:
        raise fail(f"--note is {len(note)} characters; at most {NOTE_MAX}")
    who = actor_name(actor)
    done = 0
    with database(db) as sessions:
        try:
            while True:
                now = utcnow()
                try:
                    _publish_once(sessions, day or default_as_of(now), who, now, note)
                except Conflict as err:  # nothing to publish yet: a loop waits for data
                    if not loop:
                        raise fail(str(err), code=1) from None
                    typer.echo(f"nothing to publish: {err}")
                done += 1
                if not loop or (rounds is not None and done >= rounds):
                    break
                time.sleep(interval)
        except KeyboardInterrupt:
            typer.echo("interrupted")
        except OpendataError as err:
            raise fail(str(err)) from None


def _publish_once(
    sessions: sessionmaker[Session], as_of: dt.date, who: str, now: dt.datetime, note: str
) -> None:
    """One publication; prints what it stored, or that nothing changed."""
    with session_scope(sessions) as session, make_progress_bar() as bar:
        before = latest_publication(session)
        p = publish_figures(
            session, as_of=as_of, actor=who, now=now, note=note, progress=bar_per_label(bar)
        )
        if before is not None and p.id == before.id:
            typer.echo(f"nothing changed since publication {p.id} (as of {p.as_of.isoformat()})")
        else:
            typer.echo(
                f"publication {p.id} as of {p.as_of.isoformat()}: {p.figures_added} figure rows "
                f"added, {p.figures_corrected} corrected, {p.cells_changed} breakdown cells changed"
            )
