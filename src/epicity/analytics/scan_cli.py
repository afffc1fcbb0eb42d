"""`epicity analytics hotspots`: the prospective space-time scan on a day, as CSV (and PNG).

Cases come from a CSV (``--cases``: one row per case with ``date`` and ``location``, or
``date``, ``lat``, ``lon`` placed at the nearest location; or counts with a ``cases``
column) with locations from ``--locations`` (default: Seoul's 25 districts), or from a
synthetic city's output (``--city``: confirmed cases at their homes, on a square grid).
``--unit household`` counts each household once (``--household-column`` of the cases CSV;
``--city`` has its people's household ids and uses households by default);
``--calibration-days N`` adds an empirical p-value against the N past days' highest LLRs
and uses it for the alarm. The clusters are written to ``--out`` (locations joined with
';'); ``--png`` draws the locations coloured by observed/expected and the significant
clusters' circles.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer
from matplotlib.figure import Figure
from rich.console import Console
from rich.table import Table

from epicity.analytics.errors import AnalyticsError
from epicity.analytics.scan import (
    ScanResult,
    district_locations,
    nearest_location,
    read_city,
    run_scan,
)
from epicity.cliutil import fail, progress_bar

__all__ = ["hotspots_command", "read_cases_csv", "write_map"]


def _read_csv(path: Path, what: str) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise AnalyticsError(f"{what}: no such file {path}") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise AnalyticsError(f"{what}: {path} is not a readable CSV ({exc})") from None
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    return frame


def _first_bad(mask: pd.Series) -> int:
    """The CSV line of the first flagged row (line 1 is the header)."""
    return int(np.flatnonzero(mask.to_numpy())[0]) + 2


def read_cases_csv(
    path: Path, locations: pd.DataFrame, household_column: str | None = None
) -> pd.DataFrame:
    """Counts (location, date, cases) from a case CSV; errors name the line and field.

    With ``household_column`` the counts also carry an opaque ``household`` label per row
    (for ``unit="household"``); every case needs one."""
    frame = _read_csv(path, "cases")
    if "date" not in frame.columns:
        raise AnalyticsError(f"cases: {path} has no 'date' column")
    if household_column is not None:
        household_column = household_column.strip().lower()
        if household_column not in frame.columns:
            raise AnalyticsError(f"cases: {path} has no {household_column!r} column")
        empty = frame[household_column].str.strip() == ""
        if empty.any():
            raise AnalyticsError(
                f"cases: line {_first_bad(empty)}: {household_column} is empty "
                "(the household unit needs a household on every case)"
            )
    dates = pd.to_datetime(frame["date"].str.strip(), format="%Y-%m-%d", errors="coerce")
    if dates.isna().any():
        line = _first_bad(dates.isna())
        raw = frame["date"].iloc[line - 2]
        raise AnalyticsError(f"cases: line {line}: date {raw!r} is not a YYYY-MM-DD date")
    if "location" in frame.columns:
        where = frame["location"].str.strip()
        known = set(locations["location"].astype(str))
        unknown = ~where.isin(known)
        if unknown.any():
            line = _first_bad(unknown)
            raise AnalyticsError(
                f"cases: line {line}: unknown location {where.iloc[line - 2]!r} "
                "(not in the locations)"
            )
        if "cases" in frame.columns:
            raw = frame["cases"].str.strip()
            counts = pd.to_numeric(raw, errors="coerce")
            bad = counts.isna() | (counts < 0) | (counts != counts.round())
            if bad.any():
                line = _first_bad(bad)
                raise AnalyticsError(
                    f"cases: line {line}: cases {raw.iloc[line - 2]!r} is not a whole number "
                    f">= 0 (on {dates.iloc[line - 2].date()} at {where.iloc[line - 2]})"
                )
        else:
            counts = pd.Series(1, index=frame.index)
        rows = pd.DataFrame({"location": where, "date": dates, "cases": counts.astype(np.int64)})
        keys = ["location", "date"]
        if household_column is not None:
            # Opaque labels: they group a household's cases, nothing else leaves.
            rows["household"] = pd.factorize(frame[household_column].str.strip())[0]
            keys.append("household")
        return rows.groupby(keys, as_index=False)["cases"].sum()
    if {"lat", "lon"} <= set(frame.columns):
        if not {"lat", "lon"} <= set(locations.columns):
            raise AnalyticsError("locations: cases with lat, lon need locations with lat, lon")
        for field in ("lat", "lon"):
            value = pd.to_numeric(frame[field].str.strip(), errors="coerce")
            limit = 90 if field == "lat" else 180
            bad = value.isna() | (value.abs() > limit)
            if bad.any():
                line = _first_bad(bad)
                raw = frame[field].iloc[line - 2]
                raise AnalyticsError(f"cases: line {line}: {field} {raw!r} is not a coordinate")
            frame[field] = value
        placed = pd.DataFrame({"date": dates, "lat": frame["lat"], "lon": frame["lon"]})
        if household_column is not None:
            placed["household"] = frame[household_column].str.strip()
        return nearest_location(
            placed, locations, household_column=None if household_column is None else "household"
        )
    raise AnalyticsError(f"cases: {path} needs a 'location' column, or 'lat' and 'lon'")


def _read_locations(path: Path) -> pd.DataFrame:
    frame = _read_csv(path, "locations")
    for column in ("population", "lat", "lon", "x", "y"):
        if column in frame.columns:
            raw = frame[column].str.strip()
            value = pd.to_numeric(raw, errors="coerce")
            if value.isna().any():
                line = _first_bad(value.isna())
                raise AnalyticsError(
                    f"locations: line {line}: {column} {raw.iloc[line - 2]!r} is not a number"
                )
            frame[column] = value
    if "location" in frame.columns:
        frame["location"] = frame["location"].str.strip()
    return frame


def write_map(
    result: ScanResult,
    locations: pd.DataFrame,
    path: Path,
    alpha: float,
    column: str = "p_value",
) -> None:
    """Locations coloured by observed/expected; circles round clusters with p <= alpha
    (``column``: ``p_value``, or ``empirical_p`` with a calibration)."""
    use_xy = {"x", "y"} <= set(locations.columns)
    merged = result.by_location.merge(locations, on="location", suffixes=("", "_loc"))
    fig = Figure(figsize=(8, 7), layout="constrained")
    ax = fig.subplots()
    if use_xy:
        px, py = merged["x"] / 1000, merged["y"] / 1000
        ax.set_xlabel("km east")
        ax.set_ylabel("km north")
    else:
        px, py = merged["lon"], merged["lat"]
        ax.set_xlabel("longitude")
        ax.set_ylabel("latitude")
    ratio = merged["ratio"].fillna(0.0).clip(upper=5.0)
    size = 12 + 200 * merged["population"] / merged["population"].max()
    points = ax.scatter(px, py, c=ratio, s=size, cmap="viridis", vmin=0, vmax=5)
    fig.colorbar(points, ax=ax, label="observed / expected (last max-days days, capped at 5)")
    shown = result.clusters[result.clusters[column] <= alpha]
    for row in shown.itertuples():
        inside = merged["location"].isin(row.locations)
        ax.scatter(px[inside], py[inside], s=size[inside], facecolors="none", edgecolors="#D55E00")
        ax.annotate(
            f"#{row.rank} p={getattr(row, column):.3f}",
            (float(px[inside].mean()), float(py[inside].mean())),
            color="#D55E00",
        )
    ax.set_title(f"Space-time scan ({result.unit}s) on {result.day}: clusters with p <= {alpha:g}")
    ax.set_aspect("equal" if use_xy else 1 / np.cos(np.radians(float(py.mean()))))
    fig.savefig(path, dpi=110)


def hotspots_command(
    out: Annotated[Path, typer.Option("--out", help="Clusters CSV to write.")],
    cases: Annotated[
        Path | None,
        typer.Option(
            "--cases",
            help="CSV of cases: date,location (one row a case), date,location,cases "
            "(counts) or date,lat,lon (placed at the nearest location).",
        ),
    ] = None,
    locations: Annotated[
        Path | None,
        typer.Option(
            "--locations",
            help="CSV: location,population and lat,lon or x,y (metres). "
            "Default: Seoul's 25 districts (centroids, residents).",
        ),
    ] = None,
    city: Annotated[
        Path | None,
        typer.Option("--city", help="A synthetic city's output: cases at homes on a grid."),
    ] = None,
    cell_m: Annotated[float, typer.Option("--cell-m", help="Grid cell with --city, metres.")] = (
        1000.0
    ),
    day: Annotated[
        str | None, typer.Option("--day", help="Analysis day YYYY-MM-DD (default: last date).")
    ] = None,
    replications: Annotated[int, typer.Option("--replications")] = 999,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    max_days: Annotated[int, typer.Option("--max-days", help="Longest time window.")] = 7,
    study_days: Annotated[int, typer.Option("--study-days", help="Study period, days.")] = 28,
    max_share: Annotated[
        float, typer.Option("--max-share", help="Largest population share of a window.")
    ] = 0.1,
    baseline: Annotated[
        str, typer.Option("--baseline", help="Expected counts: population or history.")
    ] = "population",
    unit: Annotated[
        str,
        typer.Option(
            "--unit",
            help="What is counted: case, household (each household once, at its first case) "
            "or auto (household when the cases carry households: --city, --household-column).",
        ),
    ] = "auto",
    household_column: Annotated[
        str | None,
        typer.Option("--household-column", help="Column of the cases CSV with household ids."),
    ] = None,
    calibration_days: Annotated[
        int,
        typer.Option(
            "--calibration-days",
            help="Also scan this many past days; alarm on the empirical p against their "
            "highest LLRs (0: Monte Carlo p only).",
        ),
    ] = 0,
    alpha: Annotated[
        float, typer.Option("--alpha", help="Show and draw clusters with p <= alpha.")
    ] = 0.05,
    png: Annotated[Path | None, typer.Option("--png", help="Map to write (PNG).")] = None,
) -> None:
    """Prospective space-time scan (Kulldorff, Poisson): hotspots on a day, as CSV."""
    console = Console()
    try:
        if baseline not in ("population", "history"):
            raise AnalyticsError(f"--baseline must be population or history, got {baseline!r}")
        if unit not in ("auto", "case", "household"):
            raise AnalyticsError(f"--unit must be auto, case or household, got {unit!r}")
        if calibration_days < 0:
            raise AnalyticsError(f"--calibration-days must be >= 0, got {calibration_days}")
        if not 0 < alpha <= 1:
            raise AnalyticsError(f"--alpha must be in (0, 1], got {alpha}")
        if day is not None:
            try:
                pd.Timestamp(pd.to_datetime(day, format="%Y-%m-%d"))
            except ValueError:
                raise AnalyticsError(f"--day {day!r} is not a YYYY-MM-DD date") from None
        if city is not None:
            if cases is not None or locations is not None:
                raise AnalyticsError(
                    "--city reads its own cases and homes: drop --cases/--locations"
                )
            if not city.is_dir():
                raise AnalyticsError(f"--city: {city} is not a directory")
            counts, places = read_city(city, cell_m=cell_m)
        else:
            if cases is None:
                raise AnalyticsError(
                    "give --cases CSV (with --locations, or Seoul's districts) or --city DIR"
                )
            places = district_locations() if locations is None else _read_locations(locations)
            if "location" not in places.columns:
                raise AnalyticsError("locations: no 'location' column")
            counts = read_cases_csv(cases, places, household_column)
        if unit == "household" and "household" not in counts.columns:
            raise AnalyticsError(
                "--unit household needs households: --household-column NAME with --cases, "
                "or a --city whose people have household ids"
            )
        chosen = (
            "household"
            if unit == "household" or (unit == "auto" and "household" in counts.columns)
            else "case"
        )
        with progress_bar() as bar:
            task = bar.add_task("replications", total=replications)
            result = run_scan(
                counts,
                places,
                day=day,
                max_days=max_days,
                study_days=study_days,
                max_population_share=max_share,
                baseline="history" if baseline == "history" else "population",
                unit="household" if chosen == "household" else "case",
                calibration_days=calibration_days,
                replications=replications,
                seed=seed,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    except AnalyticsError as exc:
        raise fail(str(exc)) from None

    table = result.clusters.copy()
    table["locations"] = table["locations"].map(";".join)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    column = "empirical_p" if calibration_days else "p_value"
    against = (
        f"empirical p against {calibration_days} past days"
        if calibration_days
        else f"{replications} replications"
    )
    shown = Table(
        title=f"Clusters of {result.unit}s on {result.day} (study period from {result.start}, "
        f"{result.windows:,} windows, {against}), p <= {alpha:g}"
    )
    for heading in (
        "rank",
        "centre",
        "locations",
        "days",
        "observed",
        "expected",
        "RR",
        "p",
        "RI (days)",
        *(["empirical p"] if calibration_days else []),
    ):
        shown.add_column(heading, justify="right")
    for row in result.clusters[result.clusters[column] <= alpha].itertuples():
        members = ";".join(row.locations)
        shown.add_row(
            str(row.rank),
            str(row.centre),
            members if len(members) <= 40 else f"{row.n_locations} locations",
            f"{row.start}..{row.end}",
            str(row.observed),
            f"{row.expected:.2f}",
            f"{row.relative_risk:.2f}",
            f"{row.p_value:.3f}",
            f"{row.recurrence_days:.0f}",
            *([f"{row.empirical_p:.3f}"] if calibration_days else []),
        )
    console.print(shown if shown.row_count else f"No cluster with p <= {alpha:g} on {result.day}.")
    if png is not None:
        png.parent.mkdir(parents=True, exist_ok=True)
        write_map(result, places, png, alpha, column)
    console.print(f"wrote {out}" + (f" and {png}" if png is not None else ""))
