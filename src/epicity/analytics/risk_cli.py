"""`epicity analytics risk`: attack rates and secondary attack rates, as CSV and PNG bar charts.

From a generated city (``--city``: truth beside the confirmed cases), from DS4C (``--ds4c``) and
from the operational database's cases (``--db``), each table written to ``--out`` as
`<name>.csv` and, where there is a chart, `<name>.png` (rates with their confidence intervals).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer
from matplotlib.figure import Figure
from rich.console import Console

from epicity.analytics import risk
from epicity.analytics.errors import AnalyticsError
from epicity.cliutil import database, fail, progress_bar

__all__ = ["Chart", "risk_command", "write_chart"]


@dataclass(frozen=True)
class Chart:
    """How a table is drawn: the value column, its interval columns and the axis label."""

    title: str
    value: str = "rate"
    low: str = "ci_low"
    high: str = "ci_high"
    label: str = "attack rate"
    scale: float = 1.0  # e.g. 100,000 for rates per 100,000
    series: str | None = None  # a column whose values are drawn side by side (truth, confirmed)


COLOURS = ("#0072B2", "#D55E00", "#009E73", "#E69F00")


def write_chart(table: pd.DataFrame, chart: Chart, path: Path) -> None:
    """Horizontal bars of `chart.value` by group with CI whiskers; small groups hatched."""
    series = [None] if chart.series is None else list(dict.fromkeys(table[chart.series]))
    groups = list(dict.fromkeys(table["group"].astype(str)))
    height = max(3.0, 0.32 * len(groups) * len(series) + 1.5)
    fig = Figure(figsize=(8, height), layout="constrained")
    ax = fig.subplots()
    width = 0.8 / len(series)
    y0 = np.arange(len(groups))
    for i, name in enumerate(series):
        part = table if name is None else table[table[chart.series] == name]
        part = part.set_index(part["group"].astype(str)).reindex(groups)
        value = part[chart.value].to_numpy(dtype=float) * chart.scale
        low = part[chart.low].to_numpy(dtype=float) * chart.scale
        high = part[chart.high].to_numpy(dtype=float) * chart.scale
        err = np.vstack([np.maximum(value - low, 0), np.maximum(high - value, 0)])
        small = part["small"].fillna(False).to_numpy(dtype=bool) if "small" in part else None
        y = y0 + (i - (len(series) - 1) / 2) * width
        bars = ax.barh(y, np.nan_to_num(value), height=width, xerr=np.nan_to_num(err),
                       color=COLOURS[i % len(COLOURS)], label=name, capsize=2)  # fmt: skip
        if small is not None:
            for bar, s in zip(bars, small, strict=True):
                if s:
                    bar.set_hatch("//")
                    bar.set_alpha(0.6)
    ax.set_yticks(y0, groups)
    ax.invert_yaxis()
    ax.set_xlabel(f"{chart.label} (95% CI; hatched: fewer than {risk.SMALL_COUNT} events)")
    ax.set_title(chart.title)
    ax.grid(axis="x", alpha=0.3)
    if chart.series is not None:
        ax.legend(loc="lower right")
    fig.savefig(path, dpi=110)


def _save(
    out: Path, name: str, table: pd.DataFrame, chart: Chart | None, written: list[str]
) -> None:
    table.to_csv(out / f"{name}.csv", index=False)
    written.append(f"{name}.csv")
    if chart is not None:
        write_chart(table, chart, out / f"{name}.png")
        written.append(f"{name}.png")


Step = Callable[[], None]


def _city_steps(city: Path, out: Path, method: risk.Method, written: list[str]) -> list[Step]:
    def run(
        name: str, make: Callable[[risk.OutbreakCity], pd.DataFrame], chart: Chart | None
    ) -> Step:
        def step() -> None:
            with risk.open_city(city) as c:
                _save(out, name, make(c), chart, written)

        return step

    both = "truth (infections) vs confirmed cases"
    return [
        run("city_age", lambda c: risk.city_attack_rates(c, "age", method=method),
            Chart(f"Attack rate by age band: {both}", series="source")),
        run("city_household_size",
            lambda c: risk.city_attack_rates(c, "household_size", method=method),
            Chart(f"Attack rate by household size: {both}", series="source")),
        run("city_district", lambda c: risk.city_attack_rates(c, "district", method=method),
            Chart(f"Attack rate by district: {both}", series="source")),
        run("household_sar", lambda c: risk.household_sar(c, method=method),
            Chart("Household secondary attack rate by household size", series="source",
                  label="secondary attack rate")),
        run("setting_sar", lambda c: risk.setting_sar(c, method=method),
            Chart("Secondary attack rate among contacts, by setting (truth)",
                  label="secondary attack rate")),
        run("venue_risk", lambda c: risk.venue_risk(c, method=method),
            Chart("Infections per 1,000 visitor-hours, by place kind (truth)",
                  value="per_1000_visitor_hours", low="per_1000_visitor_hours_low",
                  high="per_1000_visitor_hours_high", label="infections per 1,000 visitor-hours")),
    ]  # fmt: skip


def _ds4c_steps(ds4c: Path, out: Path, method: risk.Method, written: list[str]) -> list[Step]:
    root = ds4c.parent if ds4c.is_file() else ds4c
    patients: list[pd.DataFrame] = []

    def load() -> None:
        patients.append(risk.read_patient_info(ds4c))

    def age() -> None:
        table = risk.ds4c_age_rates(root, method=method)
        _save(out, "ds4c_age", table, Chart(f"Korea: confirmed cases per 100,000 by age "
              f"(DS4C TimeAge, {table.attrs['date']})", scale=1e5, label="cases per 100,000"),
              written)  # fmt: skip

    def district() -> None:
        _save(out, "ds4c_district", risk.ds4c_district_rates(patients[0], method=method),
              Chart("Seoul: PatientInfo cases per 100,000 residents by district", scale=1e5,
                    label="cases per 100,000"), written)  # fmt: skip

    def settings() -> None:
        table = risk.ds4c_settings(root, patients[0], method=method)
        shown = table.rename(columns={"setting": "group"})
        _save(out, "ds4c_settings", table, None, written)
        write_chart(shown, Chart("DS4C: share of PatientInfo cases by infection route",
                                 value="share", label="share of cases with a known route"),
                    out / "ds4c_settings.png")  # fmt: skip
        written.append("ds4c_settings.png")

    def offspring() -> None:
        table = risk.ds4c_offspring(patients[0])
        _save(out, "ds4c_offspring", table, None, written)
        summary = pd.DataFrame([table.attrs])
        _save(out, "ds4c_offspring_summary", summary, None, written)

    def contact_sar() -> None:
        for by in ("age", "route"):
            table = risk.ds4c_contact_sar(patients[0], by=by, method=method)
            _save(out, f"ds4c_contact_sar_{by}", table,
                  Chart(f"DS4C: secondary attack rate among traced contacts, by index's {by}",
                        label="secondary attack rate"), written)  # fmt: skip

    return [load, age, district, settings, offspring, contact_sar]


def _db_steps(db: str, out: Path, method: risk.Method, written: list[str]) -> list[Step]:
    def step() -> None:
        from epicity.analytics.data import cases_frame

        with database(db) as sessions, sessions() as session:
            cases = cases_frame(session)
        for by in ("age_group", "district"):
            table = risk.case_attack_rates(cases, by=by, method=method)
            _save(out, f"db_{by}", table, Chart(f"Confirmed cases per 100,000 by {by} "
                  f"({table.attrs['denominator']})", scale=1e5, label="cases per 100,000"),
                  written)  # fmt: skip
            if table.attrs["excluded"]:
                Console(stderr=True).print(
                    f"{by}: {table.attrs['excluded']} confirmed cases outside the groups "
                    "(missing or not a Seoul district) left out",
                    markup=False,
                )

    return [step]


def risk_command(
    city: Annotated[
        Path | None, typer.Option("--city", help="A generated city directory (Parquet).")
    ] = None,
    ds4c: Annotated[
        Path | None, typer.Option("--ds4c", help="DS4C directory or its PatientInfo.csv.")
    ] = None,
    db: Annotated[
        str | None,
        typer.Option("--db", help="Database URL: attack rates of its confirmed cases."),
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="Output directory.")] = Path("var/risk"),
    method: Annotated[
        str, typer.Option("--method", help="Proportion CI: wilson or clopper-pearson.")
    ] = "wilson",
) -> None:
    """Attack rates, secondary attack rates and riskiest places, with confidence intervals."""
    if city is None and ds4c is None and db is None:
        raise fail("give at least one of --city, --ds4c, --db")
    if method not in risk.METHODS:
        raise fail(f"--method: must be one of {', '.join(risk.METHODS)}, got {method!r}")
    m: risk.Method = method  # type: ignore[assignment]
    for option, path in (("--city", city), ("--ds4c", ds4c)):
        if path is not None and not path.exists():
            raise fail(f"{option}: {path} does not exist")
    out.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    steps: list[Step] = []
    if city is not None:
        steps += _city_steps(city, out, m, written)
    if ds4c is not None:
        steps += _ds4c_steps(ds4c, out, m, written)
    if db is not None:
        steps += _db_steps(db, out, m, written)
    try:
        with progress_bar() as bar:
            task = bar.add_task("risk tables", total=len(steps))
            for step in steps:
                step()
                bar.advance(task)
    except AnalyticsError as err:
        raise fail(str(err)) from None
    Console().print(f"wrote {len(written)} files to {out}: {', '.join(written)}", markup=False)
