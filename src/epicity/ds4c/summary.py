"""Rich tables summarising a DS4C conversion (`Ds4cReport`)."""

from __future__ import annotations

from datetime import date

from rich.console import Console, RenderableType
from rich.table import Table

from epicity.ds4c.convert import Ds4cReport, LatestCounts

__all__ = ["print_summary", "render"]

TOP = 10


def _range(r: tuple[date, date] | None) -> str:
    return f"{r[0]} .. {r[1]}" if r else "-"


def _n(v: int | None) -> str:
    return "-" if v is None else f"{v:,}"


def _counts(title: str, label: str, rows: list[tuple[str, int]], total: int) -> Table:
    t = Table(title=title, title_justify="left")
    t.add_column(label)
    t.add_column("cases", justify="right")
    t.add_column("share", justify="right")
    for name, n in rows:
        t.add_row(name, f"{n:,}", f"{n / total:.1%}" if total else "-")
    return t


def _overview(r: Ds4cReport) -> Table:
    t = Table(title=f"DS4C conversion of {r.source_dir}", title_justify="left")
    t.add_column("table")
    t.add_column("source rows", justify="right")
    t.add_column("rows written", justify="right")
    t.add_column("range")
    t.add_column("notes")
    t.add_row(
        "cases",
        f"{r.patient_rows:,} (PatientInfo)",
        f"{r.cases:,}",
        _range(r.confirmed_range),
        f"{r.skipped_cases} without a confirmed date skipped; "
        + ", ".join(f"{s} {n:,}" for s, n in r.cases_by_state),
    )
    t.add_row(
        "routes",
        f"{r.route_rows:,} (PatientRoute)",
        f"{r.route_points:,}",
        _range(r.route_range),
        f"{r.route_patients:,} patients; {r.route_rows - r.route_points:,} rows not written",
    )
    t.add_row(
        "daily_counts",
        f"{r.time_rows:,} (TimeProvince)",
        f"{r.daily_counts:,}",
        _range(r.daily_range),
        f"{r.regions} regions (provinces)",
    )
    return t


def _transmission(r: Ds4cReport) -> Table:
    share = f" ({r.links_resolved / r.links:.1%})" if r.links else ""
    t = Table(
        title=(
            f"Largest transmission trees ({r.links:,} infected_by links, "
            f"{r.links_resolved:,} to a known case{share})"
        ),
        title_justify="left",
    )
    t.add_column("root case")
    t.add_column("cases", justify="right")
    t.add_column("generations", justify="right")
    t.add_column("root's infection case")
    for tree in r.largest_trees:
        t.add_row(str(tree.root), f"{tree.size:,}", str(tree.generations), tree.cluster or "-")
    return t


def _clusters(r: Ds4cReport) -> Table:
    t = Table(title=f"Top {TOP} clusters (infection_case)", title_justify="left")
    t.add_column("cluster")
    t.add_column("cases", justify="right")
    t.add_column("lat, lon" + ("" if r.clusters_file else " (no Case.csv)"))
    for c in r.clusters:
        where = f"{c.lat:.4f}, {c.lon:.4f}" if c.lat is not None and c.lon is not None else "-"
        t.add_row(c.name, f"{c.cases:,}", where)
    if r.infection_routes:
        t.add_section()
        for name, n in r.infection_routes:
            label = "(no infection_case)" if name == "(unknown)" else f"{name} (not a cluster)"
            t.add_row(f"[dim]{label}[/dim]", f"{n:,}", "")
    return t


def _routes(r: Ds4cReport) -> Table:
    t = Table(title=f"Route points by type (top {TOP})", title_justify="left")
    t.add_column("type")
    t.add_column("points", justify="right")
    for name, n in r.routes_by_type:
        t.add_row(name, f"{n:,}")
    return t


def _latest(r: Ds4cReport) -> Table:
    day = r.daily_range[1] if r.daily_range else None
    t = Table(title=f"Latest cumulative counts ({day or '-'})", title_justify="left")
    t.add_column("region")
    t.add_column("confirmed", justify="right")
    t.add_column("released", justify="right")
    t.add_column("deceased", justify="right")
    latest: list[LatestCounts] = [x for x in (r.latest_seoul, r.latest_korea) if x is not None]
    for x in latest:
        t.add_row(x.region, _n(x.confirmed), _n(x.released), _n(x.deceased))
    return t


def _findings(r: Ds4cReport) -> Table:
    t = Table(
        title=f"Findings in the source data ({r.problem_count:,} problems, none fatal)",
        title_justify="left",
    )
    t.add_column("file")
    t.add_column("finding: action")
    t.add_column("count", justify="right")
    t.add_column("examples (record field=value)")
    for f in r.findings:
        ex = "; ".join(f"{e.record} {e.field}={e.value!r}" for e in f.examples[:2])
        t.add_row(f.file, f.description, f"{f.count:,}", ex)
    return t


def render(report: Ds4cReport) -> list[RenderableType]:
    """The summary of a conversion as Rich tables, in display order."""
    seoul = report.seoul_districts
    seoul_rows = seoul[:TOP]
    rest = sum(n for _, n in seoul[TOP:])
    if rest:
        seoul_rows = [*seoul_rows, (f"{len(seoul) - TOP} other districts", rest)]
    out: list[RenderableType] = [
        _overview(report),
        _counts(
            f"Cases by province (top {TOP})", "province", report.cases_by_province, report.cases
        ),
        _counts(
            f"Seoul cases by district ({report.seoul_cases:,})",
            "district",
            seoul_rows,
            report.seoul_cases,
        ),
        _transmission(report),
        _clusters(report),
        _routes(report),
        _latest(report),
    ]
    if report.findings:
        out.append(_findings(report))
    return out


def print_summary(report: Ds4cReport, console: Console | None = None) -> None:
    """Print `render(report)` to `console` (a new stdout console by default)."""
    console = console or Console()
    for item in render(report):
        console.print(item)
        console.print()
