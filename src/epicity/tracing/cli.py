"""`epicity trace`: investigate confirmed cases; `epicity trace confirm`: record a confirmation.

Reads location records only through the privacy access layer (an emergency must be in force and
a purpose given); writes each case's timeline.csv, contacts.csv and warnings.json, and queues the
warnings in the outbox.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy.orm import Session, sessionmaker

from epicity.cliutil import (
    ACTOR_OPTION,
    DB_OPTION,
    ENGINE_OPTION,
    actor_name,
    bar_per_label,
    database,
    engine_or_default,
    fail,
    parse_time,
    progress_bar,
)
from epicity.privacy.access import LocationAccess
from epicity.privacy.errors import PrivacyError
from epicity.records.store import LocationStore
from epicity.spark import SparkUnavailable
from epicity.tracing.config import TracingConfig
from epicity.tracing.index import rebuild_index
from epicity.tracing.outbox import add_confirmation, approve, confirmations_for, enqueue
from epicity.tracing.service import (
    Investigation,
    TracingError,
    investigate_many,
    warning_context,
)
from epicity.tracing.timeline import Confirmation
from epicity.tracing.warnings import Warnings, build_warnings

__all__ = ["TraceResult", "app", "trace_cases", "write_outputs"]

app = typer.Typer(
    help="Investigate confirmed cases: timeline, contacts, warnings.",
    invoke_without_command=True,
)


@dataclass
class TraceResult:
    """One traced case and what it produced."""

    investigation: Investigation
    warnings: Warnings
    queued: int
    seconds: float


def _local(epoch: int, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(epoch, tz).isoformat()


def _write_csv(path: Path, header: list[str], rows: Iterable[list[object]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


def _blank(value: object | None) -> object:
    return "" if value is None else value


def write_outputs(result: TraceResult, out: Path, tz: ZoneInfo) -> None:
    """timeline.csv, contacts.csv and warnings.json of one case into `out`."""
    inv = result.investigation
    out.mkdir(parents=True, exist_ok=True)
    _write_csv(
        out / "timeline.csv",
        [
            "stay_id",
            "kind",
            "place_id",
            "name",
            "category",
            "lat",
            "lon",
            "radius_m",
            "start",
            "end",
            "minutes",
            "sources",
            "confidence",
            "note",
        ],
        (
            [
                s.stay_id,
                s.kind,
                _blank(s.place_id),
                inv.venue_names.get(s.place_id, "") if s.place_id is not None else "",
                s.category or "",
                f"{s.lat:.6f}",
                f"{s.lon:.6f}",
                f"{s.radius_m:.0f}",
                _local(s.start, tz),
                _local(s.end, tz),
                f"{s.minutes:.0f}",
                "+".join(s.sources),
                f"{s.confidence:.2f}",
                s.note,
            ]
            for s in inv.timeline
        ),
    )
    _write_csv(
        out / "contacts.csv",
        [
            "contact_id",
            "tier",
            "place_id",
            "first_contact",
            "last_contact",
            "overlap_minutes",
            "min_distance_m",
            "risk_score",
            "sources",
        ],
        (
            [
                c.contact_id,
                c.tier,
                _blank(c.place_id),
                _local(c.first_contact, tz),
                _local(c.last_contact, tz),
                f"{c.overlap_minutes:.0f}",
                f"{c.min_distance_m:.1f}" if c.min_distance_m is not None else "",
                f"{c.risk_score:.4f}",
                "+".join(c.sources),
            ]
            for c in inv.contacts
        ),
    )
    (out / "warnings.json").write_text(
        json.dumps(result.warnings.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )


BATCH_SIZE = 250  # cases traced together through one reader (bounds memory on big days)


def trace_cases(
    access: LocationAccess,
    sessions: sessionmaker[Session],
    case_ids: list[int],
    *,
    purpose: str,
    config: TracingConfig,
    timezone: str,
    progress: Progress | None = None,
    engine: str = "duckdb",
) -> tuple[list[TraceResult], list[tuple[int, str]]]:
    """Trace the cases (together, in batches, each case audited); queue their warnings.

    Returns the traced cases and, for cases that could not be traced (unknown case, dates
    that give no window), the case and the reason; one bad case does not stop the others.
    `engine` reads the store with DuckDB or Spark (the same results).
    """
    results: list[TraceResult] = []
    failures: list[tuple[int, str]] = []
    task = progress.add_task("tracing cases", total=len(case_ids)) if progress else None
    for first in range(0, len(case_ids), BATCH_SIZE):
        batch = case_ids[first : first + BATCH_SIZE]
        started = time.perf_counter()
        with sessions() as session:
            confirmations = {c: confirmations_for(session, case_id=c) for c in batch}
        try:
            traced = _trace_batch(access, batch, purpose, config, timezone, confirmations, engine)
        except TracingError:
            # Find the bad cases: trace this batch one case at a time.
            traced = []
            for case_id in batch:
                try:
                    traced += _trace_batch(
                        access, [case_id], purpose, config, timezone, confirmations, engine
                    )
                except TracingError as exc:
                    failures.append((case_id, str(exc)))
        seconds = (time.perf_counter() - started) / max(len(batch), 1)
        with sessions() as session:
            for inv, warnings in traced:
                queued = enqueue(session, case_id=inv.case.person_id, warnings=warnings)
                results.append(TraceResult(inv, warnings, queued.total_inserted, seconds))
            session.commit()
        if progress is not None and task is not None:
            progress.advance(task, len(batch))
    return results, failures


def _trace_batch(
    access: LocationAccess,
    case_ids: list[int],
    purpose: str,
    config: TracingConfig,
    timezone: str,
    confirmations: dict[int, list[Confirmation]],
    engine: str,
) -> list[tuple[Investigation, Warnings]]:
    opened = (
        access.open(purpose, case_id=case_ids[0], engine=engine)
        if len(case_ids) == 1
        else access.open(purpose, cases=case_ids, engine=engine)
    )
    with opened as reader:
        found = investigate_many(
            reader, case_ids, config=config, timezone=timezone, confirmations=confirmations
        )
        venues, towers = warning_context(reader, *found)
    return [(inv, build_warnings(inv, venues, timezone=timezone, towers=towers)) for inv in found]


def render_results(results: list[TraceResult]) -> Table:
    """One row per traced case: stays, contacts by tier (each gets an order or advice), people
    counted for area alerts, alerts and public notices, new outbox messages, seconds."""
    table = Table(title="Traced cases (close: isolation orders; casual: testing advice)")
    columns = (
        "case",
        "confirmed",
        "stays",
        "close",
        "casual",
        "area people",
        "alerts",
        "notices",
        "queued",
        "s",
    )
    for column in columns:
        table.add_column(column, justify="left" if column in ("case", "confirmed") else "right")
    for r in results:
        inv, w = r.investigation, r.warnings
        tiers = [c.tier for c in inv.contacts]
        table.add_row(
            str(inv.case.person_id),
            inv.case.confirmed_date.strftime("%m-%d"),
            str(len(inv.timeline)),
            str(tiers.count("close")),
            str(tiers.count("casual")),
            str(sum(a.people for a in inv.area)),
            str(len(w.area_alerts)),
            str(len(w.notices)),
            str(r.queued),
            f"{r.seconds:.1f}",
        )
    return table


def _cases_confirmed_on(
    access: LocationAccess, purpose: str, day: date | None, engine: str
) -> list[int]:
    with access.open(purpose, engine=engine) as reader:
        if "cases" not in reader.schema():
            return []
        if day is None:
            latest = (
                reader.query("SELECT max(confirmed_date) AS d FROM cases").column(0).to_pylist()[0]
            )
            if latest is None:
                return []
            day = latest
        rows = reader.query(
            "SELECT person_id FROM cases WHERE confirmed_date = ? ORDER BY person_id", [day]
        )
    return [int(p) for p in rows.column(0).to_pylist()]


@app.callback()
def trace(
    ctx: typer.Context,
    store: Path = typer.Option(Path("var/store"), "--store", help="Location store directory."),
    case: list[int] = typer.Option([], "--case", help="Case person_id (repeatable)."),
    all_new: bool = typer.Option(False, "--all-new", help="Trace every case confirmed on --date."),
    on: str | None = typer.Option(
        None, "--date", help="With --all-new: the confirmation date (default: the latest)."
    ),
    purpose: str = typer.Option(
        "", "--purpose", help="Why the data is read (recorded in the audit log)."
    ),
    out: Path = typer.Option(Path("var/trace"), "--out", help="Output directory."),
    db: str | None = DB_OPTION,
    actor: str | None = ACTOR_OPTION,
    role: str = typer.Option("investigator", "--role", help="Role of the actor."),
    timezone: str = typer.Option("Asia/Seoul", "--timezone", help="The city's time zone."),
    engine: str | None = ENGINE_OPTION,
) -> None:
    """Trace confirmed cases: timeline.csv, contacts.csv and warnings.json per case."""
    if ctx.invoked_subcommand is not None:
        return
    chosen = engine_or_default(engine)
    if not case and not all_new:
        raise fail("give --case ID (repeatable) or --all-new")
    if case and all_new:
        raise fail("give either --case or --all-new, not both")
    if not (store / "manifest.json").is_file():
        raise fail(f"--store {store}: no location store there (run epicity ingest first)")
    try:
        tz = ZoneInfo(timezone)
    except Exception:
        raise fail(f"--timezone {timezone!r}: unknown time zone") from None
    day = None
    if on is not None:
        try:
            day = date.fromisoformat(on)
        except ValueError:
            raise fail(f"--date {on!r}: expected YYYY-MM-DD") from None
    console = Console()
    with database(db) as sessions:
        access = LocationAccess(LocationStore(store), sessions, actor=actor_name(actor), role=role)
        try:
            case_ids = (
                list(dict.fromkeys(case))
                if case
                else _cases_confirmed_on(access, purpose, day, chosen)
            )
            if not case_ids:
                raise fail("no confirmed cases on that date", code=1)
            with progress_bar() as bar:
                results, failures = trace_cases(
                    access,
                    sessions,
                    case_ids,
                    purpose=purpose,
                    config=TracingConfig(),
                    timezone=timezone,
                    progress=bar,
                    engine=chosen,
                )
        except (PrivacyError, TracingError, SparkUnavailable) as exc:
            raise fail(str(exc)) from None
    for r in results:
        case_dir = out if len(case_ids) == 1 else out / f"case-{r.investigation.case.person_id}"
        write_outputs(r, case_dir, tz)
    if results:
        console.print(render_results(results))
        console.print(f"outputs in {out}")
    for case_id, reason in failures:
        Console(stderr=True).print(f"error: case {case_id}: {reason}", markup=False, soft_wrap=True)
    if failures:
        raise typer.Exit(code=2)


@app.command("confirm")
def confirm(
    case: int = typer.Option(..., "--case", help="Case person_id."),
    action: str = typer.Option(..., "--action", help="add, correct or remove."),
    method: str = typer.Option(..., "--method", help="cctv or interview."),
    reason: str = typer.Option(..., "--reason", help="What was seen or said."),
    stay_id: str | None = typer.Option(None, "--stay-id", help="The stay to correct or remove."),
    start: str | None = typer.Option(None, "--start", help="ISO 8601 time with offset."),
    end: str | None = typer.Option(None, "--end", help="ISO 8601 time with offset."),
    place_id: int | None = typer.Option(None, "--place-id", help="Venue (merchant) id."),
    lat: float | None = typer.Option(None, "--lat", min=-90, max=90),
    lon: float | None = typer.Option(None, "--lon", min=-180, max=180),
    db: str | None = DB_OPTION,
    actor: str | None = ACTOR_OPTION,
) -> None:
    """Record an investigator's confirmation (CCTV review or interview) for a case's timeline."""
    if action not in ("add", "correct", "remove"):
        raise fail(f"--action {action!r}: expected add, correct or remove")
    if method not in ("cctv", "interview"):
        raise fail(f"--method {method!r}: expected cctv or interview")
    confirmation = Confirmation(
        action=action,  # type: ignore[arg-type]  # checked above
        method=method,  # type: ignore[arg-type]
        by=actor_name(actor),
        reason=reason,
        stay_id=stay_id,
        start=int(parse_time(start, "--start").timestamp()) if start else None,
        end=int(parse_time(end, "--end").timestamp()) if end else None,
        place_id=place_id,
        lat=lat,
        lon=lon,
    )
    with database(db) as sessions, sessions() as session:
        try:
            row = add_confirmation(session, case_id=case, confirmation=confirmation)
        except ValueError as exc:
            raise fail(str(exc)) from None
        session.commit()
        Console().print(f"confirmation {row.id} recorded for case {case}: {action} ({method})")


@app.command("approve")
def approve_command(
    case: int = typer.Option(..., "--case", min=0, help="Case person_id (as in the outbox)."),
    message: list[int] | None = typer.Option(
        None, "--message", min=1, help="Only this outbox message (repeatable)."
    ),
    db: str | None = DB_OPTION,
    actor: str | None = ACTOR_OPTION,
) -> None:
    """Approve a case's pending warnings for delivery (a health officer's decision; the
    console's Approve buttons do the same). Recorded with who approved and when."""
    with database(db) as sessions, sessions() as session:
        try:
            rows = approve(session, case_id=case, actor=actor_name(actor), message_ids=message)
        except ValueError as exc:
            raise fail(str(exc)) from None
        session.commit()
        Console().print(f"{len(rows)} warnings of case {case} approved for delivery")


@app.command("index")
def index(
    store: Path = typer.Option(Path("var/store"), "--store", help="Location store directory."),
    engine: str | None = ENGINE_OPTION,
) -> None:
    """Rebuild the place-time index tracing reads (ingest keeps it up to date by itself)."""
    chosen = engine_or_default(engine)
    if not (store / "manifest.json").is_file():
        raise fail(f"--store {store}: no location store there (run epicity ingest first)")
    started = time.perf_counter()
    try:
        with progress_bar() as bar:
            rows = rebuild_index(
                LocationStore(store), TracingConfig(), progress=bar_per_label(bar), engine=chosen
            )
    except SparkUnavailable as exc:
        raise fail(str(exc)) from None
    table = Table("index table", "rows", title="Place-time index")
    for name, count in rows.items():
        table.add_row(name, f"{count:,}")
    Console().print(table)
    Console().print(f"built in {time.perf_counter() - started:.1f} s -> {store}")
