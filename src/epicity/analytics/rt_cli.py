"""`epicity analytics rt` and `epicity analytics serial`: Rt and the serial interval, as CSV/PNG.

``rt`` reads a ``date,cases`` CSV (optionally ``imported``; with ``--by district`` a district
column, one estimate per district), takes the serial interval as a parametric mean and sd
(EpiEstim's discretised gamma) or a distribution file, and writes EpiEstim's table
(``t_start, t_end, Mean(R), Std(R), Quantile.0.025(R) ... Quantile.0.975(R)`` plus the
window's dates). With a reporting delay (``--nowcast-delay-mean/--nowcast-delay-sd`` or
``--nowcast-delay CSV``) the last days are nowcast first (`epicity.analytics.rt`).

``serial`` estimates the serial interval and the onset-to-confirmation delay from DS4C's
PatientInfo.csv or from the operational database's cases and links.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer
from matplotlib.figure import Figure
from rich.console import Console
from rich.table import Table

from epicity.analytics.data import cases_frame, ds4c_cases_frame, read_incidence_csv
from epicity.analytics.errors import AnalyticsError
from epicity.analytics.rt import (
    EPIESTIM_COLUMNS,
    discretised_gamma_si,
    estimate_rt,
    estimate_rt_nowcast,
)
from epicity.analytics.serial import censored_pmf, estimate_serial_and_delay
from epicity.cliutil import DB_OPTION, bar_per_label, database, fail, progress_bar

__all__ = ["read_distribution_csv", "rt_chart", "rt_command", "serial_command"]


def read_distribution_csv(path: Path, what: str) -> np.ndarray:
    """A discrete distribution from a CSV: a probability column (``si_distr``, ``pmf`` or
    ``probability``), one row per day from day 0 (an optional ``t``/``day`` column must
    count 0, 1, 2, ...)."""
    if not path.is_file():
        raise AnalyticsError(f"{what}: {path} is not a file")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        raise AnalyticsError(f"{what}: {path.name} is empty")
    header = [h.strip() for h in rows[0]]
    column = next((c for c in ("si_distr", "pmf", "probability") if c in header), None)
    if column is None:
        raise AnalyticsError(
            f"{what}: {path.name} line 1: needs a si_distr, pmf or probability column"
        )
    day_column = next((c for c in ("t", "day") if c in header), None)
    values = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise AnalyticsError(f"{what}: {path.name} line {line}: wrong number of fields")
        cell = row[header.index(column)].strip()
        try:
            values.append(float(cell))
        except ValueError:
            raise AnalyticsError(
                f"{what}: {path.name} line {line}: {column}: not a number ({cell!r})"
            ) from None
        if day_column is not None and row[header.index(day_column)].strip() != str(len(values) - 1):
            raise AnalyticsError(
                f"{what}: {path.name} line {line}: {day_column}: expected day {len(values) - 1}"
            )
    return np.asarray(values, dtype=float)


def _serial_interval(
    si_mean: float | None, si_sd: float | None, si_distr: Path | None
) -> np.ndarray:
    if si_distr is not None:
        if si_mean is not None or si_sd is not None:
            raise AnalyticsError("--si-distr: give it or --si-mean/--si-sd, not both")
        return read_distribution_csv(si_distr, "--si-distr")
    if si_mean is None or si_sd is None:
        raise AnalyticsError("--si-mean and --si-sd (or --si-distr): the serial interval")
    return discretised_gamma_si(si_mean, si_sd)


def _delay(mean: float | None, sd: float | None, path: Path | None) -> np.ndarray | None:
    if path is not None:
        if mean is not None or sd is not None:
            raise AnalyticsError("--nowcast-delay: give it or the delay's mean/sd, not both")
        return read_distribution_csv(path, "--nowcast-delay")
    if mean is None and sd is None:
        return None
    if mean is None or sd is None:
        raise AnalyticsError("--nowcast-delay-mean and --nowcast-delay-sd: give both")
    if not mean > 0:
        raise AnalyticsError(f"--nowcast-delay-mean: must be positive (got {mean})")
    if not sd > 0:
        raise AnalyticsError(f"--nowcast-delay-sd: must be positive (got {sd})")
    days = np.arange(0, int(np.ceil(mean + 12 * sd)) + 2)
    pmf = censored_pmf(days, "gamma", mean, sd)
    return np.asarray(pmf / pmf.sum(), dtype=float)


def epiestim_table(result: pd.DataFrame) -> pd.DataFrame:
    """`estimate_rt`'s frame in EpiEstim's column names (and dates as YYYY-MM-DD)."""
    table = result.rename(columns=EPIESTIM_COLUMNS)
    keep = [c for c in table.columns if c not in ("shape", "scale")]
    return table[keep]


def rt_chart(incidence: pd.DataFrame, result: pd.DataFrame, title: str) -> Figure:
    """Incidence (bars) above Rt's posterior mean with its 95% band, by the window's end."""
    fig = Figure(figsize=(8, 5.5), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True)
    x = incidence["date"] if "date" in incidence.columns else np.arange(1, len(incidence) + 1)
    top.bar(x, incidence["cases"], color="#999999", width=0.9)
    top.set_ylabel("cases per day")
    top.set_title(title)
    end = result["date_end"] if "date_end" in result.columns else result["t_end"]
    bottom.fill_between(end, result["q0.025"], result["q0.975"], color="#0072B2", alpha=0.25)
    bottom.plot(end, result["mean"], color="#0072B2", label="Rt (mean, 95% interval)")
    bottom.axhline(1.0, color="k", lw=0.8, ls="--")
    bottom.set_ylabel("Rt (window ending that day)")
    bottom.legend(loc="upper right", fontsize=8)
    bottom.tick_params(axis="x", labelrotation=30)
    return fig


def rt_command(
    cases: Annotated[
        Path,
        typer.Option("--cases", help="CSV date,cases (optional imported; district with --by)."),
    ],
    out: Annotated[Path, typer.Option("--out", help="CSV to write (EpiEstim's R table).")],
    si_mean: Annotated[
        float | None, typer.Option("--si-mean", help="Serial interval mean, days (> 1).")
    ] = None,
    si_sd: Annotated[
        float | None, typer.Option("--si-sd", help="Serial interval sd, days (> 0).")
    ] = None,
    si_distr: Annotated[
        Path | None,
        typer.Option("--si-distr", help="Non-parametric SI: CSV t,si_distr from day 0 (= 0)."),
    ] = None,
    window: Annotated[int, typer.Option("--window", help="Days per sliding window.")] = 7,
    by: Annotated[
        str | None, typer.Option("--by", help="Grouping column, e.g. district: Rt per value.")
    ] = None,
    district: Annotated[
        list[str] | None,
        typer.Option("--district", help="Only this value of --by (repeatable)."),
    ] = None,
    png: Annotated[Path | None, typer.Option("--png", help="Also draw the chart(s).")] = None,
    nowcast_delay_mean: Annotated[
        float | None,
        typer.Option("--nowcast-delay-mean", help="Reporting delay mean, days (gamma)."),
    ] = None,
    nowcast_delay_sd: Annotated[
        float | None, typer.Option("--nowcast-delay-sd", help="Reporting delay sd, days.")
    ] = None,
    nowcast_delay: Annotated[
        Path | None,
        typer.Option("--nowcast-delay", help="Reporting delay: CSV day,pmf from day 0."),
    ] = None,
    mean_prior: Annotated[float, typer.Option("--mean-prior", help="Prior mean of R.")] = 5.0,
    std_prior: Annotated[float, typer.Option("--std-prior", help="Prior sd of R.")] = 5.0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the nowcast draws.")] = 0,
) -> None:
    """Estimate the reproduction number (Cori et al. 2013, as EpiEstim) over sliding windows."""
    try:
        if district and not by:
            raise AnalyticsError("--district: only with --by (e.g. --by district)")
        si = _serial_interval(si_mean, si_sd, si_distr)
        delay = _delay(nowcast_delay_mean, nowcast_delay_sd, nowcast_delay)
        incidence = read_incidence_csv(cases, by=by)
        groups: list[str | None] = [None]
        if by:
            known = sorted(incidence[by].unique())
            groups = list(district) if district else known
            unknown = [str(g) for g in groups if g not in known]
            if unknown:
                raise AnalyticsError(
                    f"--district: unknown {by} {', '.join(unknown)} "
                    f"(the file has {', '.join(known)})"
                )
        parts, charts = [], []
        for key in groups:
            part = incidence if key is None else incidence[incidence[by] == key]
            part = part.drop(columns=[by]) if by else part
            if delay is None:
                result = estimate_rt(
                    part, si, window=window, mean_prior=mean_prior, std_prior=std_prior
                )
            else:
                if "imported" in part.columns:
                    raise AnalyticsError("--nowcast-delay: not with an imported column")
                result = estimate_rt_nowcast(
                    part,
                    si,
                    delay,
                    window=window,
                    mean_prior=mean_prior,
                    std_prior=std_prior,
                    seed=seed,
                )
            charts.append((key, part, result))
            table = epiestim_table(result)
            parts.append(table if key is None else table.assign(**{by or "": key}))
    except AnalyticsError as exc:
        raise fail(f"{exc}") from None
    table = pd.concat(parts, ignore_index=True)
    if by:
        table = table[[by, *[c for c in table.columns if c != by]]]
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False, date_format="%Y-%m-%d")
    console = Console(stderr=True)
    console.print(f"wrote {len(table):,} windows to {out}")
    if png is not None:
        png.parent.mkdir(parents=True, exist_ok=True)
        for key, part, result in charts:
            title = "Rt" + (f": {key}" if key is not None else "")
            target = png if key is None else png.with_name(f"{png.stem}_{key}{png.suffix}")
            rt_chart(part, result, title).savefig(target, dpi=110)
            console.print(f"wrote {target}")


def serial_command(
    ds4c: Annotated[
        Path | None, typer.Option("--ds4c", help="DS4C PatientInfo.csv (else the database).")
    ] = None,
    db: str | None = DB_OPTION,
    out: Annotated[
        Path, typer.Option("--out", help="Directory for serial_interval.csv, delay_pmf.csv.")
    ] = Path("."),
    bootstrap: Annotated[
        int, typer.Option("--bootstrap", help="Bootstrap replicates for the 95% intervals.")
    ] = 500,
    seed: Annotated[int, typer.Option("--seed", help="Bootstrap seed.")] = 0,
) -> None:
    """Estimate the serial interval and the onset-to-confirmation delay, with 95% intervals."""
    try:
        if ds4c is not None:
            cases = ds4c_cases_frame(ds4c)
        else:
            with database(db) as sessions, sessions() as session:
                cases = cases_frame(session)
        with progress_bar() as bar:
            si, delay = estimate_serial_and_delay(
                cases, bootstrap=bootstrap, seed=seed, progress=bar_per_label(bar)
            )
    except AnalyticsError as exc:
        raise fail(str(exc)) from None
    rows = [
        {"quantity": "serial_interval", **si.normal.summary()},
        *([{"quantity": "serial_interval", **si.gamma.summary()}] if si.gamma else []),
        {"quantity": "onset_to_confirmation", **delay.gamma.summary()},
        {"quantity": "onset_to_confirmation", **delay.negbin.summary()},
    ]
    summary = pd.DataFrame(rows)
    out.mkdir(parents=True, exist_ok=True)
    summary.to_csv(out / "serial_interval.csv", index=False, float_format="%.4f")
    delay.pmf.to_csv(out / "delay_pmf.csv", index=False, float_format="%.5f")
    table = Table(title=f"Serial interval and delay ({'DS4C' if ds4c else 'database'})")
    for name in ("quantity", "family", "n", "mean (95% CI)", "sd (95% CI)", "AIC"):
        table.add_column(name)
    for row in rows:
        table.add_row(
            str(row["quantity"]),
            str(row["family"]),
            str(row["n"]),
            f"{row['mean']:.2f} ({row['mean_lo']:.2f}-{row['mean_hi']:.2f})",
            f"{row['sd']:.2f} ({row['sd_lo']:.2f}-{row['sd_hi']:.2f})",
            f"{row['aic']:.1f}",
        )
    console = Console()
    console.print(table)
    console.print(
        f"{si.intervals.size} pairs ({int((si.intervals < 0).sum())} negative); "
        f"{si.dropped_mutual} links between cases naming each other left out; "
        f"{delay.dropped_negative} negative delays dropped"
    )
    console.print(f"wrote {out / 'serial_interval.csv'} and {out / 'delay_pmf.csv'}")
