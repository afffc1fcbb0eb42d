"""Benchmark: high-risk groups and places, from a synthetic outbreak and from DS4C.

Generates a synthetic city (default 50,000 people for 35 days, transmission x1.5 so the outbreak
takes off), times the generation and each risk table, prints the tables and writes them as CSV
and PNG (bar charts with 95% CIs) to `--out`:

- ``city_age``, ``city_household_size``, ``city_district``: attack rates, truth (infections)
  beside what the department knows (confirmed cases);
- ``household_sar`` (truth and observed), ``setting_sar`` (truth), ``venue_risk`` (ranked by
  infections per 1,000 visitor-hours);
- ``ds4c_age``, ``ds4c_district``, ``ds4c_settings``, ``ds4c_offspring(_summary)``,
  ``ds4c_contact_sar_age``, ``ds4c_contact_sar_route`` from `--ds4c`.

Usage:
    python bench/risk.py [--people 50000] [--days 35] [--seed 7] [--transmission 1.5]
                         [--city DIR (reuse a generated city)] [--ds4c DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from epicity.analytics import risk
from epicity.analytics.risk_cli import Chart, write_chart
from epicity.city.generate import CityConfig, generate_city

REPO = Path(__file__).resolve().parents[1]
DS4C = REPO.parent / "shared" / "data" / "real" / "ds4c"
console = Console(width=150)


def _cell(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v)


def show(title: str, table: pd.DataFrame, columns: list[str], seconds: float | None = None) -> None:
    """Print `columns` of `table` (floats to 4 significant digits)."""
    suffix = f" ({seconds:.2f} s)" if seconds is not None else ""
    t = Table(title=title + suffix, title_justify="left")
    for c in columns:
        t.add_column(c, justify="left" if c in ("group", "source", "setting") else "right")
    for row in table[columns].itertuples(index=False):
        t.add_row(*[_cell(v) for v in row])
    console.print(t)


RATE = ["group", "numerator", "denominator", "rate", "ci_low", "ci_high", "rr", "small"]


def save(out: Path, name: str, table: pd.DataFrame, chart: Chart | None) -> None:
    table.to_csv(out / f"{name}.csv", index=False, float_format="%.6g")
    if chart is not None:
        write_chart(table, chart, out / f"{name}.png")


def timed(make: Callable[[], pd.DataFrame]) -> tuple[pd.DataFrame, float]:
    t0 = time.perf_counter()
    table = make()
    return table, time.perf_counter() - t0


def city_tables(city_dir: Path, out: Path) -> None:
    both = "truth (infections) vs confirmed cases"
    with risk.open_city(city_dir) as city:
        for by, label in (("age", "age band"), ("household_size", "household size"),
                          ("district", "district")):  # fmt: skip
            t, s = timed(lambda by=by: risk.city_attack_rates(city, by))  # type: ignore[misc]
            show(f"Attack rate by {label}", t, ["source", *RATE], s)
            save(out, f"city_{by}", t, Chart(f"Attack rate by {label}: {both}", series="source"))
        t, s = timed(lambda: risk.household_sar(city))
        show("Household secondary attack rate", t, ["source", *RATE, "index_cases"], s)
        save(out, "household_sar", t, Chart("Household secondary attack rate by household size",
             series="source", label="secondary attack rate"))  # fmt: skip
        t, s = timed(lambda: risk.setting_sar(city))
        show("Secondary attack rate by setting (truth)", t, [*RATE, "index_cases"], s)
        save(out, "setting_sar", t, Chart("Secondary attack rate among contacts by setting "
             "(truth)", label="secondary attack rate"))  # fmt: skip
        t, s = timed(lambda: risk.venue_risk(city))
        show("Places ranked by infections per 1,000 visitor-hours (truth)", t,
             ["rank", "group", "visitors", "infected", "rate", "per_visit",
              "per_1000_visitor_hours", "per_1000_visitor_hours_low",
              "per_1000_visitor_hours_high", "share_of_infections"], s)  # fmt: skip
        save(out, "venue_risk", t, Chart("Infections per 1,000 visitor-hours, by place kind "
             "(truth)", value="per_1000_visitor_hours", low="per_1000_visitor_hours_low",
             high="per_1000_visitor_hours_high",
             label="infections per 1,000 visitor-hours"))  # fmt: skip


def ds4c_tables(root: Path, out: Path) -> None:
    patients = risk.read_patient_info(root)
    t = risk.ds4c_age_rates(root)
    show(f"DS4C: Korea's confirmed cases by age per resident ({t.attrs['date']})", t, RATE)
    save(out, "ds4c_age", t, Chart("Korea: confirmed cases per 100,000 by age (DS4C TimeAge)",
         scale=1e5, label="cases per 100,000"))  # fmt: skip
    t = risk.ds4c_district_rates(patients)
    show(f"DS4C: Seoul PatientInfo cases per resident by district "
         f"({t.attrs['excluded']} without a district)", t.sort_values("rate", ascending=False),
         RATE)  # fmt: skip
    save(out, "ds4c_district", t, Chart("Seoul: PatientInfo cases per 100,000 by district",
         scale=1e5, label="cases per 100,000"))  # fmt: skip
    t = risk.ds4c_settings(root, patients)
    show(f"DS4C: settings ({t.attrs['patients_with_route']} of {t.attrs['patients']} "
         "PatientInfo cases have a route)", t,
         ["rank", "setting", "clusters", "cluster_cases", "patients", "share", "ci_low",
          "ci_high"])  # fmt: skip
    save(out, "ds4c_settings", t, None)
    write_chart(t.rename(columns={"setting": "group"}), Chart("DS4C: share of PatientInfo "
                "cases by infection route", value="share", label="share of cases with a "
                "known route"), out / "ds4c_settings.png")  # fmt: skip
    t = risk.ds4c_offspring(patients)
    summary = pd.DataFrame([t.attrs])
    show("DS4C: known secondary cases per case (infected_by)", summary, list(summary.columns))
    save(out, "ds4c_offspring", t, None)
    save(out, "ds4c_offspring_summary", summary, None)
    for by in ("age", "route"):
        t = risk.ds4c_contact_sar(patients, by=by)
        show(f"DS4C: SAR among traced contacts by index's {by} "
             f"({t.attrs['inconsistent']} inconsistent indexes left out)", t,
             [*RATE, "index_cases"])  # fmt: skip
        save(out, f"ds4c_contact_sar_{by}", t, Chart(f"DS4C: secondary attack rate among "
             f"traced contacts, by index's {by}", label="secondary attack rate"))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=50_000)
    parser.add_argument("--days", type=int, default=35)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--transmission", type=float, default=1.5)
    parser.add_argument("--city", type=Path, help="reuse a generated city directory")
    parser.add_argument("--ds4c", type=Path, default=DS4C)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "analytics" / "risk")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        city_dir = args.city
        if city_dir is None:
            city_dir = Path(tmp) / "city"
            cfg = CityConfig(people=args.people, days=args.days, seed=args.seed,
                             transmission=args.transmission)  # fmt: skip
            t0 = time.perf_counter()
            report = generate_city(city_dir, cfg)
            console.print(
                f"city: {cfg.people:,} people x {cfg.days} days (seed {cfg.seed}, transmission "
                f"x{cfg.transmission}): {report.infections:,} infections, {report.cases:,} "
                f"confirmed, generated in {time.perf_counter() - t0:.1f} s"
            )
        t0 = time.perf_counter()
        city_tables(city_dir, args.out)
        console.print(f"city risk tables: {time.perf_counter() - t0:.1f} s")
    if args.ds4c.is_dir():
        t0 = time.perf_counter()
        ds4c_tables(args.ds4c, args.out)
        console.print(f"DS4C tables: {time.perf_counter() - t0:.1f} s")
    else:
        console.print(f"DS4C not found at {args.ds4c}: skipped")
    console.print(f"written to {args.out}")


if __name__ == "__main__":
    main()
