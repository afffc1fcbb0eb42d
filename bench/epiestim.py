"""Reproduction of EpiEstim's published Rt outputs by `epicity.analytics.rt`.

EpiEstim 3.0.0's test expectations (`tests/expected_output/Example{1,2,3,4}.rds`, converted to
CSV in ../shared/data/real/epiestim/, see SOURCES.md) against our estimates from the same
incidence and serial interval:

- Example 1: ``non_parametric_si`` with Flu2009's SI distribution (the file's);
- Example 2: local plus imported cases, ``parametric_si`` mean 2.6, sd 1.5 (our discretisation);
- Example 3: ``parametric_si`` mean 2.6, sd 1.5 (our discretisation);
- Example 4: ``uncertain_si``: R pools 100 x 100 random draws (seed 1), which cannot be
  replayed outside R. With the same 100 SI (mean, sd) samples we compute the pooled posterior
  exactly, and report the difference also in Monte Carlo standard errors of R's estimate.

For each example the table has the number of windows and, per column of EpiEstim's table, the
largest absolute difference (Example 4: and the largest |difference| / MC standard error).

Usage:
    python bench/epiestim.py [--data ../shared/data/real] [--out docs/analytics]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from epicity.analytics.rt import (
    EPIESTIM_COLUMNS,
    discretised_gamma_si,
    estimate_rt,
    estimate_rt_si_samples,
)

REPO = Path(__file__).resolve().parents[1]
DRAWS = 100 * 100  # Example 4: n1 SI samples x n2 R draws each
VALUE_COLUMNS = [c for c in EPIESTIM_COLUMNS if not c.startswith("t_")]
METHODS = {
    1: "non_parametric_si (Flu2009 SI)",
    2: "parametric_si 2.6/1.5, local + imported",
    3: "parametric_si 2.6/1.5",
    4: "uncertain_si (100 SI samples)",
}


def _load(folder: Path, n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    inc = pd.read_csv(folder / f"expected_Example{n}_incidence.csv")
    expected = pd.read_csv(folder / f"expected_Example{n}_R.csv")
    incidence = pd.DataFrame({"local": inc["I_local"], "imported": inc["I_imported"]})
    return incidence, expected


def _estimate(folder: Path, n: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
    """(ours, expected, Monte Carlo standard errors or None)."""
    incidence, expected = _load(folder, n)
    windows = {"t_start": expected["t_start"], "t_end": expected["t_end"]}
    if n == 1:
        si = pd.read_csv(folder / "expected_Example1_si_distr.csv")["si_distr"].to_numpy()
        return estimate_rt(incidence, si, **windows), expected, None
    if n in (2, 3):
        return estimate_rt(incidence, discretised_gamma_si(2.6, 1.5), **windows), expected, None
    samples = pd.read_csv(folder / "expected_Example4_SI_Moments_samples.csv")
    ours = estimate_rt_si_samples(incidence, samples["Mean"], samples["Std"], **windows)
    components = [
        estimate_rt(incidence, discretised_gamma_si(m, s, max_days=len(incidence)), **windows)
        for m, s in zip(samples["Mean"], samples["Std"], strict=True)
    ]
    se = pd.DataFrame({"mean": ours["std"] / np.sqrt(DRAWS)})
    # sd of a sample sd ~ sd * sqrt((kurtosis - 1) / 4N); normal-tails approximation (kurtosis 3)
    se["std"] = ours["std"] * np.sqrt(2 / (4 * DRAWS))
    for column in VALUE_COLUMNS[2:]:
        q = float(column[1:])
        x = ours[column].to_numpy()
        density = np.mean(
            [stats.gamma.pdf(x, c["shape"], scale=c["scale"]) for c in components], axis=0
        )
        se[column] = np.sqrt(q * (1 - q) / DRAWS) / density
    return ours, expected, se


def reproduction_table(data: Path) -> pd.DataFrame:
    """One row per example and column of EpiEstim's table: the largest differences."""
    folder = data / "epiestim"
    rows = []
    for n in (1, 2, 3, 4):
        ours, expected, se = _estimate(folder, n)
        for column in VALUE_COLUMNS:
            theirs = EPIESTIM_COLUMNS[column]
            diff = np.abs(ours[column].to_numpy() - expected[theirs].to_numpy())
            rows.append(
                {
                    "example": n,
                    "method": METHODS[n],
                    "windows": len(expected),
                    "column": theirs,
                    "max_abs_diff": float(diff.max()),
                    "max_diff_in_mc_se": (
                        float((diff / se[column].to_numpy()).max()) if se is not None else np.nan
                    ),
                }
            )
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    """Print the reproduction table and write it as CSV under --out."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "real")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "analytics")
    args = parser.parse_args(argv)
    if not (args.data / "epiestim").is_dir():
        print(f"EpiEstim files not found under {args.data}", file=sys.stderr)
        return 2
    table = reproduction_table(args.data)
    wide = table.pivot(index="example", columns="column", values="max_abs_diff")
    wide = wide[[EPIESTIM_COLUMNS[c] for c in VALUE_COLUMNS]]
    windows = table.groupby("example")["windows"].first()
    names = ["Mean", "Std", "2.5%", "5%", "25%", "50%", "75%", "95%", "97.5%"]
    print("| example | method | windows | " + " | ".join(names) + " |")
    print("|---|---|---|" + "---|" * len(names))
    for n, row in wide.iterrows():
        cells = " | ".join(f"{v:.1e}" for v in row.to_numpy())
        print(f"| {n} | {METHODS[int(n)]} | {windows[n]} | {cells} |")
    mc = table[table["example"] == 4].set_index("column")["max_diff_in_mc_se"]
    mc = mc[[EPIESTIM_COLUMNS[c] for c in VALUE_COLUMNS]]
    cells = " | ".join(f"{v:.2f}" for v in mc.to_numpy())
    print(f"| 4 | in R's Monte Carlo SEs | {windows[4]} | {cells} |")
    exact = table[table["example"] < 4]["max_abs_diff"].max()
    verdict = "met" if exact < 1e-6 else "MISSED"
    print(f"\nExamples 1-3: largest difference {exact:.1e} (goal 1e-6: {verdict})")
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "epiestim_reproduction.csv", index=False)
    print(f"wrote {args.out / 'epiestim_reproduction.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
