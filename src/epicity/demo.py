"""`epicity demo`: the quickstart's main job on the embedded default.

Generates a synthetic city with an outbreak, loads its records into the location store, prints
what the store holds, then declares an emergency in the demo's own database and traces every
confirmed case through the audited access layer (timelines, contacts, warnings in the outbox).
Finally it registers the cases in case management, opens investigations for the latest ones,
creates one account per staff role and starts the service so the console can be opened.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from epicity.accounts.service import change_password, create_user, get_user
from epicity.cases.errors import CaseError
from epicity.cases.from_store import register_store_cases
from epicity.cases.models import Case
from epicity.city.cli import render_generation, run_generation
from epicity.city.districts import seoul_districts
from epicity.city.generate import CityConfig
from epicity.db import make_engine, migrate, session_factory, session_scope, utcnow
from epicity.exposure.signing import write_new_key
from epicity.opendata.service import publish_latest
from epicity.privacy.access import LocationAccess
from epicity.privacy.service import active_emergency, declare_emergency
from epicity.records.cli import render_ingest, run_ingest
from epicity.records.store import LocationStore
from epicity.records.summary import StoreSummary, summarize_store
from epicity.screening import service as screening
from epicity.tracing.cli import render_results, trace_cases, write_outputs
from epicity.tracing.config import TracingConfig
from epicity.tracing.investigations import InvestigationError, run_investigation
from epicity.tracing.service import TracingError

__all__ = ["demo", "render_summary"]

DEMO_PURPOSE = "demo: trace every confirmed case of the synthetic city"
DEMO_ROLES = ("admin", "investigator", "health_officer", "analyst")
INVESTIGATED = 20  # the latest cases get an investigation in case management (console)


def _table(title: str, columns: list[str], rows: list[tuple[str, ...]]) -> Table:
    """A Rich table whose first column is text and the others right-aligned numbers."""
    table = Table(title=title)
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*row)
    return table


def render_summary(summary: StoreSummary) -> list[Table]:
    """Tables describing a store's contents (aggregates only)."""
    span = (
        f"UTC days {summary.first_day} .. {summary.last_day}" if summary.first_day else "no records"
    )
    people = summary.people_with
    return [
        _table(
            f"Location store ({span})",
            ["table", "rows", "distinct people"],
            [
                (t, f"{n:,}", f"{people[t]:,}" if t in people else "")
                for t, n in summary.rows.items()
            ],
        ),
        _table(
            "Residents and confirmed cases by district",
            ["district", "residents", "cases"],
            [(d, f"{r:,}", f"{c:,}") for d, r, c in summary.districts],
        ),
        _table(
            "Venues and card transactions by category",
            ["category", "venues", "card transactions"],
            [(c, f"{v:,}", f"{n:,}") for c, v, n in summary.merchants_by_category],
        ),
        _table(
            "Confirmed cases by day",
            ["date", "cases"],
            [(d.isoformat(), f"{n:,}") for d, n in summary.cases_by_day],
        ),
    ]


def demo(
    people: int = typer.Option(
        10_000, "--people", min=100, max=20_000_000, help="Residents of the city."
    ),
    days: int = typer.Option(14, "--days", min=1, max=366, help="Days to simulate."),
    seed: int = typer.Option(1, "--seed", min=0, help="Random seed."),
    workdir: Path = typer.Option(
        Path("var/demo"), "--dir", help="Where the city and the store go."
    ),
    serve: bool = typer.Option(
        True, "--serve/--no-serve", help="Start the service on the demo city at the end."
    ),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="The service's port."),
) -> None:
    """Generate a synthetic Seoul, load its records into the location store, print a summary."""
    if workdir.exists() and not workdir.is_dir():
        raise typer.BadParameter(f"{workdir} exists and is not a directory", param_hint="--dir")
    console = Console()
    city_dir, store_dir = workdir / "city", workdir / "store"
    generation = run_generation(city_dir, CityConfig(people=people, days=days, seed=seed))
    console.print(render_generation(generation))
    report = run_ingest(city_dir, store_dir)
    console.print(render_ingest(report))
    store = LocationStore(store_dir)
    for table in render_summary(summarize_store(store)):
        console.print(table)

    # Investigation: the demo declares its own emergency in its own database.
    engine = make_engine(f"sqlite:///{(workdir / 'epicity.db').resolve()}")
    try:
        migrate(engine)
        sessions = session_factory(engine)
        with sessions() as session:
            if active_emergency(session) is None:
                declare_emergency(session, name="Demo outbreak", area="Seoul", actor="demo")
                session.commit()
        access = LocationAccess(store, sessions, actor="demo", role="investigator")
        case_ids: list[int] = []
        with access.open(DEMO_PURPOSE) as reader:
            if "cases" in reader.schema():  # a small, short run may have no confirmed case yet
                rows = reader.query(
                    "SELECT person_id FROM cases ORDER BY confirmed_date, person_id"
                )
                case_ids = [int(p) for p in rows.column(0).to_pylist()]
        results, failures = trace_cases(
            access,
            sessions,
            case_ids,
            purpose=DEMO_PURPOSE,
            config=TracingConfig(),
            timezone="Asia/Seoul",
        )
        logins = _case_management(sessions, store, console)
        _screening_centres(sessions, console)
        with session_scope(sessions) as session:  # the public dashboard's figures
            published = publish_latest(session, actor="demo", now=utcnow())
            console.print(
                f"Open data: figures published as of {published.as_of}."
                if published
                else "Open data: nothing to publish yet."
            )
    finally:
        engine.dispose()
    tz = ZoneInfo("Asia/Seoul")
    for r in results:
        write_outputs(r, workdir / "trace" / f"case-{r.investigation.case.person_id}", tz)
    console.print(render_results(results))
    for case_id, reason in failures:
        console.print(f"case {case_id} not traced: {reason}", markup=False)
    console.print(
        f"\nCity files: {city_dir} (ground truth in {city_dir / 'truth'}); store: {store_dir};\n"
        f"traces: {workdir / 'trace'}; "
        f"database (emergency, audit log, outbox): {workdir / 'epicity.db'}.\n"
        f"Run it again and nothing doubles: ingest, the outbox and case management are "
        f"idempotent."
    )
    table = Table(title="Console logins (new passwords each run)")
    table.add_column("username")
    table.add_column("password")
    for username, password in logins:
        table.add_row(username, password)
    console.print(table)
    if not serve:
        return
    import uvicorn

    from epicity.web.app import create_app

    # The exposure key server signs its exports; the demo keeps its own key beside its data.
    if not os.environ.get("EPICITY_EXPOSURE_SIGNING_KEY"):
        signing_key = workdir / "exposure-signing.pem"
        if not signing_key.exists():
            write_new_key(signing_key)
        os.environ["EPICITY_EXPOSURE_SIGNING_KEY"] = str(signing_key.resolve())
    app = create_app(f"sqlite:///{(workdir / 'epicity.db').resolve()}", store=store_dir)
    console.print(
        f"Console: http://127.0.0.1:{port}/login  (API docs: http://127.0.0.1:{port}/docs); "
        "Ctrl-C stops it."
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# Three screening centres for the console and self-diagnosis: (kind, district, lanes, minutes
# per test), at the district's centroid, open 09:00-21:00 every day as Seoul's were in 2020.
DEMO_CENTRES = (
    ("walk_through", "Jung-gu", 4, 6.0),
    ("drive_through", "Gangnam-gu", 6, 10.0),
    ("glove_wall", "Mapo-gu", 2, 5.0),
)


def _screening_centres(sessions: Callable[[], Session], console: Console) -> None:
    """Open the demo's screening centres (those already there are left as they are)."""
    centroids = {d.name: (d.centroid_lat, d.centroid_lon) for d in seoul_districts()}
    hours = {weekday: (dt.time(9), dt.time(21)) for weekday in range(7)}
    opened = 0
    with session_scope(sessions) as session:
        names = {c.name for c in screening.list_centres(session)}
        for kind, district, lanes, minutes in DEMO_CENTRES:
            name = f"{district} {kind.replace('_', '-')}"
            if name in names:
                continue
            lat, lon = centroids[district]
            screening.create_centre(
                session, actor="demo", kind=kind, name=name, district=district, lat=lat,
                lon=lon, lanes=lanes, minutes_per_test=minutes, hours=hours,
            )  # fmt: skip
            opened += 1
    console.print(f"Screening: {opened} centres opened ({len(DEMO_CENTRES)} in the demo).")


def _case_management(
    sessions: Callable[[], Session], store: LocationStore, console: Console
) -> list[tuple[str, str]]:
    """Register the store's cases, investigate the latest ones, and (re)create one login per
    staff role with a fresh random password; returns the logins."""
    access = LocationAccess(store, sessions, actor="demo", role="investigator")
    purpose = "demo: register the confirmed cases in case management"
    with access.open(purpose) as reader, sessions() as session:
        added = register_store_cases(session, reader, actor="demo")
        session.commit()
    with sessions() as session:
        latest = session.scalars(
            select(Case.id)
            .where(Case.source == "store", Case.person_id.is_not(None))
            .order_by(Case.confirmed_date.desc(), Case.id.desc())
            .limit(INVESTIGATED)
        ).all()
    investigated = 0
    for case_id in latest:
        with sessions() as session:
            try:
                run_investigation(
                    session,
                    store,
                    case_id=case_id,
                    actor="demo",
                    role="investigator",
                    purpose=DEMO_PURPOSE,
                    access_sessions=sessions,
                )
            except (TracingError, CaseError, InvestigationError) as err:
                console.print(f"case {case_id} not investigated: {err}", markup=False)
                continue
            session.commit()
            investigated += 1
    console.print(
        f"Case management: {added.new_cases} new cases ({added.read} in the store), "
        f"{added.new_links} transmission links, {added.new_clusters} clusters; "
        f"{investigated} investigations opened for the latest cases."
    )
    logins = []
    with sessions() as session:
        for role in DEMO_ROLES:
            password = "demo-" + secrets.token_urlsafe(12)
            if get_user(session, username=role) is None:
                create_user(session, username=role, password=password, role=role)
            else:
                change_password(session, username=role, new_password=password)
            logins.append((role, password))
        session.commit()
    return logins
