"""High-risk groups and places: attack rates, secondary attack rates and relative risks.

Three sources, one table shape (`attack_rates`): ``group, numerator, denominator, rate, ci_low,
ci_high, rr, rr_low, rr_high, reference, small``.

- The synthetic city (`city_attack_rates`, `household_sar`, `setting_sar`, `venue_risk`): the
  ground truth (`truth/infections`, `truth/stays`) beside what the health department knows (the
  confirmed `cases`), so the two can be compared.
- DS4C, the Korean case registry (`ds4c_age_rates`, `ds4c_district_rates`, `ds4c_settings`,
  `ds4c_offspring`, `ds4c_contact_sar`).
- The operational database's cases (`case_attack_rates`, on `epicity.analytics.data.cases_frame`).

Intervals for proportions are Wilson score intervals by default: their coverage is close to
nominal for every n and p, they stay inside [0, 1] and are defined at 0 and n events (Brown, Cai
& DasGupta, Statist. Sci. 16:101, 2001). Clopper-Pearson ("exact") is available; it guarantees
at least nominal coverage and is therefore wider. Rate ratios use the log-scale (Katz) interval,
rates per exposure (visitor-hours) the exact Poisson (Garwood) interval.

Analysts see aggregates only: case- and person-level frames stay inside these functions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

import duckdb
import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from epicity.analytics.errors import AnalyticsError, NotEnoughData
from epicity.city.districts import seoul_districts

__all__ = [
    "AGE_BANDS",
    "KOREA_POPULATION_BY_AGE",
    "SMALL_COUNT",
    "Method",
    "OutbreakCity",
    "age_band",
    "attack_rates",
    "case_attack_rates",
    "city_attack_rates",
    "ds4c_age_rates",
    "ds4c_contact_sar",
    "ds4c_district_rates",
    "ds4c_offspring",
    "ds4c_settings",
    "household_sar",
    "infection_route_setting",
    "open_city",
    "poisson_ci",
    "proportion_ci",
    "rate_ratios",
    "read_patient_info",
    "seoul_population_by_age",
    "setting_sar",
    "venue_risk",
]

Method = Literal["wilson", "clopper-pearson"]
METHODS: tuple[str, ...] = ("wilson", "clopper-pearson")

# Ten-year bands; the last is open, as in DS4C's TimeAge.csv ("80s" there counts 80 and over).
AGE_BANDS: tuple[str, ...] = ("0s", "10s", "20s", "30s", "40s", "50s", "60s", "70s", "80+")

# Korea's registered residents by 10-year band around December 2019 (Statistics Korea, KOSIS
# table DT_1B04005N, resident registration population by age; total ~51.8 million), rounded to
# 10,000 and entered by hand, not downloaded: approximate, used as denominators only.
KOREA_POPULATION_BY_AGE: dict[str, int] = {
    "0s": 4_140_000,
    "10s": 4_860_000,
    "20s": 6_810_000,
    "30s": 7_060_000,
    "40s": 8_310_000,
    "50s": 8_650_000,
    "60s": 6_290_000,
    "70s": 3_670_000,
    "80+": 2_060_000,
}

# Below this many events a rate is flagged `small`: its relative standard error exceeds ~23%
# (the U.S. NCHS rule for unreliable rates, fewer than 20 events).
SMALL_COUNT = 20

RESULT_COLUMNS = [
    "group",
    "numerator",
    "denominator",
    "rate",
    "ci_low",
    "ci_high",
    "rr",
    "rr_low",
    "rr_high",
    "reference",
    "small",
]


# --------------------------------------------------------------------------------------------
# Intervals and the table shape


def _z(level: float) -> float:
    if not 0 < level < 1:
        raise AnalyticsError(f"level: must be between 0 and 1, got {level}")
    return float(stats.norm.ppf(0.5 + level / 2))


def proportion_ci(
    numerator: ArrayLike,
    denominator: ArrayLike,
    *,
    method: Method = "wilson",
    level: float = 0.95,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Confidence interval of proportions k/n (NaN where n = 0).

    Args:
        numerator: event counts k.
        denominator: sizes n (k <= n).
        method: ``"wilson"`` (score interval, default) or ``"clopper-pearson"`` (exact).
        level: confidence level.

    Returns:
        The lower and upper bounds, arrays in [0, 1].

    Example:
        >>> low, high = proportion_ci([3], [10])
        >>> round(float(low[0]), 3), round(float(high[0]), 3)
        (0.108, 0.603)
    """
    k = np.atleast_1d(np.asarray(numerator, dtype=float))
    n = np.atleast_1d(np.asarray(denominator, dtype=float))
    z = _z(level)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        if method == "wilson":
            denom = 1 + z**2 / n
            centre = (p + z**2 / (2 * n)) / denom
            half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
            low, high = centre - half, centre + half
            # Exact at the edges (rounding would put the bound a hair off 0 or 1).
            low = np.where(k == 0, 0.0, low)
            high = np.where(k == n, 1.0, high)
        elif method == "clopper-pearson":
            alpha = 1 - level
            low = np.where(k == 0, 0.0, stats.beta.ppf(alpha / 2, k, n - k + 1))
            high = np.where(k == n, 1.0, stats.beta.ppf(1 - alpha / 2, k + 1, n - k))
        else:
            raise AnalyticsError(f"method: must be one of {', '.join(METHODS)}, got {method!r}")
    # Bounds never cross the estimate, whatever the floating point does.
    low = np.clip(np.minimum(low, p), 0.0, 1.0)
    high = np.clip(np.maximum(high, p), 0.0, 1.0)
    empty = n == 0
    return np.where(empty, np.nan, low), np.where(empty, np.nan, high)


def poisson_ci(
    events: ArrayLike, exposure: ArrayLike, *, level: float = 0.95
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Exact (Garwood) confidence interval of rates events / exposure.

    Example:
        >>> low, high = poisson_ci([10], [1000.0])
        >>> round(float(low[0]), 4), round(float(high[0]), 4)
        (0.0048, 0.0184)
    """
    k = np.atleast_1d(np.asarray(events, dtype=float))
    t = np.atleast_1d(np.asarray(exposure, dtype=float))
    alpha = 1 - level
    _z(level)
    low = np.where(k == 0, 0.0, stats.chi2.ppf(alpha / 2, 2 * k) / 2)
    high = stats.chi2.ppf(1 - alpha / 2, 2 * k + 2) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        return low / t, high / t


def _check_counts(
    frame: pd.DataFrame, what: str, group: str, columns: Sequence[str]
) -> pd.DataFrame:
    """The frame's group and count columns, checked: present, whole, non-negative, no NaN."""
    if not isinstance(frame, pd.DataFrame):
        raise AnalyticsError(f"{what}: expected a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in (group, *columns) if c not in frame.columns]
    if missing:
        raise AnalyticsError(
            f"{what}: missing column {missing[0]!r} (has {', '.join(map(str, frame.columns))})"
        )
    if frame.empty:
        raise NotEnoughData(f"{what}: no rows")
    if frame[group].isna().any():
        raise AnalyticsError(
            f"{what}: {group} is empty in row {int(np.argmax(frame[group].isna()))}"
        )
    dup = frame[group][frame[group].duplicated()]
    if len(dup):
        raise AnalyticsError(f"{what}: {group} {dup.iloc[0]!r} appears more than once")
    out = frame[[group]].copy()
    for col in columns:
        values = pd.to_numeric(frame[col], errors="coerce")
        for label, v, raw in zip(frame[group], values, frame[col], strict=True):
            if pd.isna(v):
                raise AnalyticsError(f"{what}: {col} is not a number ({raw!r}) for {label}")
            if v < 0:
                raise AnalyticsError(f"{what}: negative count {v:g} in {col} for {label}")
            if not np.isfinite(v) or v != np.floor(v):
                raise AnalyticsError(f"{what}: {col} must be a whole count, got {v!r} for {label}")
        out[col] = values.astype(np.int64).to_numpy()
    return out


def rate_ratios(
    numerator: ArrayLike,
    denominator: ArrayLike,
    reference: int,
    *,
    level: float = 0.95,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Risk ratios of every group against the group at index `reference`, with log-scale CIs.

    The interval is exp(log RR +- z * se), se^2 = 1/a - 1/n1 + 1/b - 1/n0 (Katz et al.,
    Biometrics 34:469, 1978). It is undefined (NaN) when either group has no events; the ratio
    itself is NaN when the reference has none.

    Example:
        >>> rr, low, high = rate_ratios([20, 10], [100, 100], reference=1)
        >>> float(rr[0]), round(float(low[0]), 2), round(float(high[0]), 2)
        (2.0, 0.99, 4.05)
    """
    a = np.asarray(numerator, dtype=float)
    n = np.asarray(denominator, dtype=float)
    z = _z(level)
    b, n0 = a[reference], n[reference]
    with np.errstate(divide="ignore", invalid="ignore"):
        rr = (a / n) / (b / n0) if b > 0 else np.full(len(a), np.nan)
        se = np.sqrt(1 / a - 1 / n + 1 / b - 1 / n0)
        ok = (a > 0) & (b > 0) & (n > 0)
        low = np.where(ok, rr * np.exp(-z * se), np.nan)
        high = np.where(ok, rr * np.exp(z * se), np.nan)
    return np.asarray(rr, dtype=float), low, high


def attack_rates(
    counts: pd.DataFrame,
    *,
    group: str = "group",
    numerator: str = "cases",
    denominator: str = "population",
    method: Method = "wilson",
    level: float = 0.95,
    reference: str | None = None,
) -> pd.DataFrame:
    """Attack rates numerator / denominator by group, with CIs and risk ratios vs a reference.

    Args:
        counts: one row per group with its counts.
        group: the column naming the group.
        numerator: the column of people who became cases (infected, confirmed, ...).
        denominator: the column of people at risk.
        method: proportion interval, ``"wilson"`` or ``"clopper-pearson"``.
        level: confidence level of every interval.
        reference: the group the risk ratios compare with; default the group with the largest
            denominator (the most precise rate).

    Returns:
        Columns ``group, numerator, denominator, rate, ci_low, ci_high, rr, rr_low, rr_high,
        reference, small`` in the input's order; `small` marks rates from fewer than
        `SMALL_COUNT` events (unreliable) or a group of fewer than 30 people.

    Raises:
        AnalyticsError: a missing column, a NaN, a negative or fractional count, a repeated
            group, a numerator above its denominator, an unknown reference.
        NotEnoughData: no rows.

    Example:
        >>> t = pd.DataFrame({"group": ["a", "b"], "cases": [20, 10], "population": [100, 100]})
        >>> attack_rates(t, reference="b")[["group", "rate", "rr"]]
          group  rate   rr
        0     a   0.2  2.0
        1     b   0.1  1.0
    """
    what = "counts"
    checked = _check_counts(counts, what, group, [numerator, denominator])
    k = checked[numerator].to_numpy()
    n = checked[denominator].to_numpy()
    labels = checked[group].astype(str).tolist()
    for label, a, b in zip(labels, k, n, strict=True):
        if a > b:
            raise AnalyticsError(f"{what}: {numerator} {a} exceeds {denominator} {b} for {label}")
    if reference is None:
        ref = int(np.argmax(n))
    elif reference in labels:
        ref = labels.index(reference)
    else:
        raise AnalyticsError(
            f"reference: unknown group {reference!r} (groups: {', '.join(labels)})"
        )
    low, high = proportion_ci(k, n, method=method, level=level)
    rr, rr_low, rr_high = rate_ratios(k, n, ref, level=level)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(n > 0, k / n, np.nan)
    return pd.DataFrame(
        {
            "group": checked[group].to_numpy(),
            "numerator": k,
            "denominator": n,
            "rate": rate,
            "ci_low": low,
            "ci_high": high,
            "rr": rr,
            "rr_low": rr_low,
            "rr_high": rr_high,
            "reference": np.arange(len(k)) == ref,
            "small": (k < SMALL_COUNT) | (n < 30),
        },
        columns=RESULT_COLUMNS,
    )


def age_band(age: ArrayLike) -> NDArray[np.str_]:
    """Ten-year age band labels (`AGE_BANDS`) of ages in years.

    Example:
        >>> age_band([4, 35, 80, 97]).tolist()
        ['0s', '30s', '80+', '80+']
    """
    a = np.asarray(age, dtype=float)
    if np.isnan(a).any() or (a < 0).any():
        raise AnalyticsError("age: must be a non-negative number of years")
    bands: NDArray[np.str_] = np.array(AGE_BANDS)[
        np.minimum(a // 10, len(AGE_BANDS) - 1).astype(int)
    ]
    return bands


_AGE_LABEL = re.compile(r"^\s*(\d{1,3})\s*(?:s|\+)?\s*$")


def _normalise_age_group(label: object) -> str | None:
    """'30s', '30', '90s', '100s' -> the `AGE_BANDS` label; None when empty or unreadable."""
    if label is None or (isinstance(label, float) and np.isnan(label)):
        return None
    m = _AGE_LABEL.match(str(label))
    if not m:
        return None
    return str(age_band([int(m.group(1))])[0])


# --------------------------------------------------------------------------------------------
# The synthetic city


@dataclass
class OutbreakCity:
    """A generated city directory opened in DuckDB (views `people`, `infections`, `cases`,
    `places`, `stays`), with the run's first day, length and time zone."""

    con: duckdb.DuckDBPyConnection
    start: date
    days: int
    timezone: str

    @property
    def end(self) -> date:
        """The day after the last simulated day."""
        return date.fromordinal(self.start.toordinal() + self.days)


_CITY_TABLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "people": ("people", ("person_id", "age", "district", "household_id")),
    "infections": (
        "truth/infections",
        ("person_id", "infected_at", "infector_id", "place_id", "setting", "confirmed_date"),
    ),
    "cases": ("cases", ("person_id", "confirmed_date", "district")),
    "places": ("truth/places", ("place_id", "kind")),
    "stays": ("truth/stays", ("person_id", "place_id", "start", "end")),
}


@contextmanager
def open_city(city: Path | str) -> Iterator[OutbreakCity]:
    """Open a generated city directory (Parquet tables and `city.json`) for the risk tables.

    Raises:
        AnalyticsError: the directory, a table or a column is missing.
    """
    root = Path(city)
    if not root.is_dir():
        raise AnalyticsError(f"city: {root} is not a directory")
    meta_path = root / "city.json"
    try:
        config = json.loads(meta_path.read_text())["config"]
        start, days, tz = (
            date.fromisoformat(config["start"]),
            int(config["days"]),
            config["timezone"],
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AnalyticsError(f"city: {meta_path} is missing or unreadable ({exc})") from None
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        for view, (name, columns) in _CITY_TABLES.items():
            path = root / f"{name}.parquet"
            if not path.is_file():
                raise AnalyticsError(
                    f"city: {name}.parquet not found in {root}"
                    " (generate the city with --format parquet)"
                )
            con.execute(f"CREATE VIEW {view} AS SELECT * FROM read_parquet('{path}')")
            have = {r[0] for r in con.execute(f"DESCRIBE {view}").fetchall()}
            for col in columns:
                if col not in have:
                    raise AnalyticsError(f"city: {name}.parquet has no column {col!r}")
        yield OutbreakCity(con, start, days, tz)
    finally:
        con.close()


CityGrouping = Literal["age", "household_size", "district"]
_HOUSEHOLD_CAP = 6  # households of 6 or more are one group ("6+")


def _person_groups(city: OutbreakCity, by: CityGrouping) -> str:
    """SQL giving (person_id, grp) for the grouping."""
    if by == "age":
        labels = ", ".join(f"'{b}'" for b in AGE_BANDS)
        return (
            f"SELECT person_id, ([{labels}])[least(age // 10, {len(AGE_BANDS) - 1}) + 1] AS grp "
            "FROM people"
        )
    if by == "household_size":
        cap = _HOUSEHOLD_CAP
        return (
            f"SELECT person_id, CASE WHEN size >= {cap} THEN '{cap}+' ELSE size::VARCHAR END"
            " AS grp FROM (SELECT person_id,"
            " count(*) OVER (PARTITION BY household_id) AS size FROM people)"
        )
    if by == "district":
        return "SELECT person_id, district AS grp FROM people"
    raise AnalyticsError(f"by: must be age, household_size or district, got {by!r}")


def _group_order(by: CityGrouping, groups: Sequence[str]) -> list[str]:
    if by == "age":
        return [g for g in AGE_BANDS if g in set(groups)]
    if by == "household_size":
        return sorted(groups, key=lambda g: int(g.rstrip("+")))
    return sorted(groups)


def city_attack_rates(
    city: OutbreakCity,
    by: CityGrouping,
    *,
    method: Method = "wilson",
    level: float = 0.95,
    reference: str | None = None,
) -> pd.DataFrame:
    """True and observed attack rates of the synthetic outbreak by age band, household size or
    district of residence.

    ``source = "truth"``: infections during the run (`truth/infections`, seeds excluded) among
    the people not infected before day 0. ``source = "confirmed"``: the confirmed cases (what
    the health department knows) among all residents. The gap between the two is the
    under-ascertainment of each group (asymptomatic and untested infections).

    Example:
        >>> with open_city("var/city") as c:  # doctest: +SKIP
        ...     t = city_attack_rates(c, "age")
        >>> t.columns[:3].tolist()  # doctest: +SKIP
        ['source', 'group', 'numerator']
    """
    groups = _person_groups(city, by)
    df = city.con.execute(
        f"""
        WITH g AS ({groups}),
        seeds AS (SELECT person_id FROM infections WHERE setting = 'seed')
        SELECT g.grp,
               count(*) AS residents,
               count(*) FILTER (WHERE s.person_id IS NULL) AS at_risk,
               count(i.person_id) FILTER (WHERE i.setting <> 'seed') AS infected,
               count(c.person_id) AS confirmed
        FROM g
        LEFT JOIN seeds s USING (person_id)
        LEFT JOIN infections i USING (person_id)
        LEFT JOIN cases c USING (person_id)
        GROUP BY g.grp
        """
    ).df()
    df = df.set_index("grp").loc[_group_order(by, df["grp"].tolist())].reset_index()
    out = []
    for source, num, den in (
        ("truth", "infected", "at_risk"),
        ("confirmed", "confirmed", "residents"),
    ):
        t = attack_rates(
            df, group="grp", numerator=num, denominator=den, method=method, level=level,
            reference=reference,
        )  # fmt: skip
        t.insert(0, "source", source)
        out.append(t)
    return pd.concat(out, ignore_index=True)


def household_sar(
    city: OutbreakCity,
    *,
    follow_up_days: int = 14,
    method: Method = "wilson",
    level: float = 0.95,
) -> pd.DataFrame:
    """Household secondary attack rate by household size (and ``all``), truth and observed.

    ``truth``: the index case is the household's first infection; secondary cases are the
    members it infected itself (`infector_id`); at risk are the other members. ``confirmed``:
    what a department computes from its cases and the resident registry: the index is the first
    confirmed member; members confirmed the same day are co-primaries and left out; secondary
    cases are members confirmed 1 to `follow_up_days` days later. Index cases too close to the
    end of the run to be followed up for `follow_up_days` are left out of both.
    """
    last = city.end.toordinal() - follow_up_days
    cutoff = date.fromordinal(last).isoformat()
    df = city.con.execute(
        f"""
        WITH hh AS (SELECT person_id, household_id,
                           count(*) OVER (PARTITION BY household_id) AS size FROM people),
        inf AS (SELECT hh.*, i.infected_at, i.infector_id
                FROM hh JOIN infections i USING (person_id)),
        idx AS (SELECT household_id, arg_min(person_id, (infected_at, person_id)) AS index_id,
                       min(infected_at) AS t0
                FROM inf GROUP BY household_id),
        truth AS (
            SELECT hh.size, count(*) - 1 AS at_risk,
                   count(*) FILTER (WHERE i.infector_id = idx.index_id) AS secondary
            FROM idx JOIN hh USING (household_id)
            LEFT JOIN infections i ON i.person_id = hh.person_id
            WHERE hh.size > 1 AND idx.t0 < TIMESTAMPTZ '{cutoff} 00:00:00+00'
            GROUP BY idx.household_id, hh.size),
        conf AS (SELECT hh.*, c.confirmed_date FROM hh JOIN cases c USING (person_id)),
        first_conf AS (SELECT household_id, min(confirmed_date) AS d0
                       FROM conf GROUP BY household_id),
        observed AS (
            SELECT hh.size,
                   count(*) FILTER (WHERE c.confirmed_date IS NULL
                                    OR c.confirmed_date > f.d0) AS at_risk,
                   count(*) FILTER (WHERE c.confirmed_date > f.d0
                                    AND c.confirmed_date <= f.d0 + {follow_up_days}) AS secondary
            FROM first_conf f JOIN hh USING (household_id)
            LEFT JOIN cases c ON c.person_id = hh.person_id
            WHERE hh.size > 1 AND f.d0 < DATE '{cutoff}'
            GROUP BY f.household_id, hh.size)
        SELECT 'truth' AS source, size, sum(at_risk) AS at_risk, sum(secondary) AS secondary,
               count(*) AS households FROM truth GROUP BY size
        UNION ALL
        SELECT 'confirmed', size, sum(at_risk), sum(secondary), count(*) FROM observed GROUP BY size
        """
    ).df()
    return _by_size_and_all(df, method=method, level=level)


def _by_size_and_all(df: pd.DataFrame, *, method: Method, level: float) -> pd.DataFrame:
    out = []
    for source in ("truth", "confirmed"):
        part = df[df["source"] == source].copy()
        if part.empty or part["at_risk"].sum() == 0:
            continue
        part["grp"] = np.where(
            part["size"] >= _HOUSEHOLD_CAP, f"{_HOUSEHOLD_CAP}+", part["size"].astype(str)
        )
        part = part.groupby("grp", as_index=False)[["at_risk", "secondary", "households"]].sum()
        part = part.set_index("grp").loc[_group_order("household_size", part["grp"].tolist())]
        part = part.reset_index()
        total = pd.DataFrame(
            {
                "grp": ["all"],
                **{c: [int(part[c].sum())] for c in ("at_risk", "secondary", "households")},
            }
        )
        part = pd.concat([part, total], ignore_index=True)
        part = part[part["at_risk"] > 0]
        t = attack_rates(part, group="grp", numerator="secondary", denominator="at_risk",
                         method=method, level=level, reference="all")  # fmt: skip
        t.insert(0, "source", source)
        t["index_cases"] = part["households"].to_numpy()
        out.append(t)
    if not out:
        raise NotEnoughData("household_sar: no household with an index case and follow-up")
    return pd.concat(out, ignore_index=True)


def _local_day(city: OutbreakCity, column: str) -> str:
    return f"CAST(timezone('{city.timezone}', {column}) AS DATE)"


def setting_sar(
    city: OutbreakCity,
    *,
    infectious_days: int = 14,
    method: Method = "wilson",
    level: float = 0.95,
) -> pd.DataFrame:
    """Secondary attack rate by setting (place kind), from the ground truth.

    A contact is a person whose stay overlapped a stay of an infected person (the index) at a
    place of that kind during the index's first `infectious_days` days after infection, while
    the contact was still uninfected. The contact is a secondary case when the index infected
    them at a place of that kind. A pair met in several kinds counts once in each kind. Only
    indexes infected at least `infectious_days` before the end of the run count (followed up
    in full; with a shorter run than that, every index counts and the rates are low).
    Intervals treat contacts as independent (they cluster by index: the CIs are too narrow).

    Returns:
        The `attack_rates` columns (group = kind, numerator = secondary cases, denominator =
        contacts; risk ratios against ``home``) plus ``index_cases``, ranked by rate.
    """
    day_s, day_t = _local_day(city, "s.start"), _local_day(city, "t.start")
    last = max(city.end.toordinal() - infectious_days, city.start.toordinal())
    if city.days <= infectious_days:
        last = city.end.toordinal()
    cutoff = date.fromordinal(last).isoformat()
    df = city.con.execute(
        f"""
        WITH src AS (
            SELECT s.person_id AS index_id, s.place_id, s.start, s."end", {day_s} AS day
            FROM stays s JOIN infections i USING (person_id)
            WHERE s."end" > i.infected_at
              AND i.infected_at < TIMESTAMPTZ '{cutoff} 00:00:00+00'
              AND s.start < i.infected_at + INTERVAL {int(infectious_days)} DAY),
        tgt AS (SELECT t.person_id, t.place_id, t.start, t."end", {day_t} AS day FROM stays t),
        pairs AS (
            SELECT src.index_id, tgt.person_id AS contact_id, p.kind,
                   min(greatest(src.start, tgt.start)) AS first_met
            FROM src JOIN tgt ON tgt.place_id = src.place_id AND tgt.day = src.day
                 AND tgt.start < src."end" AND tgt."end" > src.start
                 AND tgt.person_id <> src.index_id
            JOIN places p ON p.place_id = src.place_id
            GROUP BY ALL)
        SELECT pairs.kind,
               count(*) AS contacts,
               count(*) FILTER (WHERE i.infector_id = pairs.index_id
                                AND ip.kind = pairs.kind) AS secondary,
               count(DISTINCT pairs.index_id) AS index_cases
        FROM pairs
        LEFT JOIN infections i ON i.person_id = pairs.contact_id
        LEFT JOIN places ip ON ip.place_id = i.place_id
        WHERE i.infected_at IS NULL OR i.infected_at > pairs.first_met
        GROUP BY pairs.kind
        """
    ).df()
    if df.empty:
        raise NotEnoughData("setting_sar: no contacts of infected people in the stays")
    ref = "home" if "home" in set(df["kind"]) else None
    t = attack_rates(df, group="kind", numerator="secondary", denominator="contacts",
                     method=method, level=level, reference=ref)  # fmt: skip
    t["index_cases"] = df["index_cases"].to_numpy()
    return t.sort_values(["rate", "numerator"], ascending=False, ignore_index=True)


def venue_risk(
    city: OutbreakCity,
    *,
    per_hours: float = 1000.0,
    method: Method = "wilson",
    level: float = 0.95,
) -> pd.DataFrame:
    """Venue categories (place kinds) ranked by infections per visitor-hour, from the truth.

    Only time spent while still uninfected counts as exposure (a person infected on day 3 is at
    risk until then). Stays are cut at local midnight, so a night at a club may count as two
    visits.

    Returns:
        One row per kind, ranked: ``rank, group, visitors, infected, rate, ci_low, ci_high``
        (infected / visitors, Wilson or Clopper-Pearson), ``visits``, ``visitor_hours``,
        ``per_visit`` and ``per_1000_visitor_hours`` (with its exact Poisson ``_low``/``_high``),
        ``share_of_infections`` and ``small``.
    """
    df = city.con.execute(
        """
        WITH s AS (
            SELECT s.person_id, p.kind,
                   epoch(least(s."end", coalesce(i.infected_at, s."end")) - s.start) / 3600 AS hours
            FROM stays s JOIN places p USING (place_id)
            LEFT JOIN infections i USING (person_id)
            WHERE i.infected_at IS NULL OR s.start < i.infected_at),
        exposure AS (
            SELECT kind, count(DISTINCT person_id) AS visitors, count(*) AS visits,
                   sum(hours) AS visitor_hours
            FROM s GROUP BY kind),
        inf AS (
            SELECT p.kind, count(*) AS infected
            FROM infections i JOIN places p USING (place_id) GROUP BY p.kind)
        SELECT e.kind, e.visitors, coalesce(inf.infected, 0) AS infected, e.visits,
               e.visitor_hours
        FROM exposure e LEFT JOIN inf USING (kind)
        """
    ).df()
    if df.empty:
        raise NotEnoughData("venue_risk: no stays")
    t = attack_rates(df, group="kind", numerator="infected", denominator="visitors",
                     method=method, level=level)  # fmt: skip
    hours = df["visitor_hours"].to_numpy(dtype=float)
    k = df["infected"].to_numpy()
    low, high = poisson_ci(k, hours, level=level)
    out = pd.DataFrame(
        {
            "group": df["kind"],
            "visitors": df["visitors"],
            "infected": k,
            "rate": t["rate"],
            "ci_low": t["ci_low"],
            "ci_high": t["ci_high"],
            "visits": df["visits"],
            "visitor_hours": hours,
            "per_visit": k / df["visits"].to_numpy(),
            "per_1000_visitor_hours": k / hours * per_hours,
            "per_1000_visitor_hours_low": low * per_hours,
            "per_1000_visitor_hours_high": high * per_hours,
            "share_of_infections": k / max(int(k.sum()), 1),
            "small": t["small"],
        }
    )
    out = out.sort_values(
        ["per_1000_visitor_hours", "infected"], ascending=False, ignore_index=True
    )
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out


# --------------------------------------------------------------------------------------------
# DS4C


_PATIENT_COLUMNS = ("patient_id", "age", "province", "city", "infection_case", "infected_by",
                    "contact_number")  # fmt: skip
MAX_CONTACTS = 100_000  # DS4C has patient ids in contact_number (as epicity.ds4c.convert)


def read_patient_info(path: Path | str) -> pd.DataFrame:
    """DS4C's PatientInfo.csv, checked and typed (ids Int64, `age_band`, numeric contacts).

    Case-level: for the functions here, not for display.

    Raises:
        AnalyticsError: the file is missing or lacks a column the analyses read.
    """
    p = Path(path)
    if p.is_dir():
        p = p / "PatientInfo.csv"
    try:
        df = pd.read_csv(p, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise AnalyticsError(f"ds4c: cannot read {p}: {exc}") from None
    missing = [c for c in _PATIENT_COLUMNS if c not in df.columns]
    if missing:
        raise AnalyticsError(f"ds4c: {p.name} has no column {missing[0]!r}")
    df = df.apply(lambda s: s.str.strip())
    df["patient_id"] = pd.to_numeric(df["patient_id"], errors="coerce").astype("Int64")
    df = df[df["patient_id"].notna()].drop_duplicates("patient_id")
    df["infected_by"] = pd.to_numeric(df["infected_by"], errors="coerce").astype("Int64")
    contacts = pd.to_numeric(df["contact_number"], errors="coerce")
    df["contact_number"] = contacts.where((contacts >= 0) & (contacts <= MAX_CONTACTS)).astype(
        "Int64"
    )
    df["age_band"] = df["age"].map(_normalise_age_group)
    return df.reset_index(drop=True)


def _read_csv(path: Path, columns: Sequence[str]) -> pd.DataFrame:
    try:
        df = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise AnalyticsError(f"ds4c: cannot read {path}: {exc}") from None
    for c in columns:
        if c not in df.columns:
            raise AnalyticsError(f"ds4c: {path.name} has no column {c!r}")
    return df


def ds4c_age_rates(
    ds4c_dir: Path | str, *, method: Method = "wilson", level: float = 0.95
) -> pd.DataFrame:
    """Cumulative confirmed cases per resident by age band in Korea (DS4C TimeAge.csv, its last
    date) over `KOREA_POPULATION_BY_AGE`, risk ratios against the largest band. TimeAge counts
    every confirmed case in Korea (PatientInfo holds only a subset).

    Example:
        >>> t = ds4c_age_rates("../shared/data/real/ds4c")  # doctest: +SKIP
        >>> t.loc[t["group"] == "20s", "rate"]  # doctest: +SKIP
    """
    path = Path(ds4c_dir) / "TimeAge.csv"
    df = _read_csv(path, ("date", "age", "confirmed"))
    last = df[df["date"] == df["date"].max()].copy()
    last["band"] = last["age"].map(_normalise_age_group)
    if last["band"].isna().any():
        bad = last.loc[last["band"].isna(), "age"].iloc[0]
        raise AnalyticsError(f"ds4c: TimeAge.csv has an unknown age group {bad!r}")
    counts = last.groupby("band", as_index=False)["confirmed"].sum()
    counts["population"] = counts["band"].map(KOREA_POPULATION_BY_AGE)
    counts = counts.set_index("band").loc[[b for b in AGE_BANDS if b in set(counts["band"])]]
    t = attack_rates(counts.reset_index(), group="band", numerator="confirmed",
                     denominator="population", method=method, level=level)  # fmt: skip
    t.attrs["date"] = str(df["date"].max())
    return t


def ds4c_district_rates(
    patients: pd.DataFrame, *, method: Method = "wilson", level: float = 0.95
) -> pd.DataFrame:
    """PatientInfo cases living in each Seoul district per resident (`seoul_districts`).

    Rows of Seoul without a known district are left out; their number is in
    ``attrs["excluded"]``. PatientInfo is a subset of Korea's cases, so these are lower bounds.
    """
    seoul = patients[patients["province"] == "Seoul"]
    residents = {d.name: d.residents * 1000 for d in seoul_districts()}
    known = seoul[seoul["city"].isin(list(residents))]
    counts = known.groupby("city").size().reindex(sorted(residents), fill_value=0)
    frame = pd.DataFrame(
        {"district": counts.index, "cases": counts.to_numpy(),
         "population": [residents[d] for d in counts.index]}
    )  # fmt: skip
    t = attack_rates(frame, group="district", numerator="cases", denominator="population",
                     method=method, level=level)  # fmt: skip
    t.attrs["excluded"] = len(seoul) - len(known)
    return t


# DS4C's infection routes as settings: first matching pattern wins (checked in this order).
_ROUTE_SETTINGS: tuple[tuple[str, str], ...] = (
    ("overseas inflow", r"^overseas inflow$|pilgrimage"),
    ("contact with patient", r"^contact with patient$"),
    ("unknown", r"^etc$|^$"),
    ("hospital / nursing home", r"hospital|nursing|silver town|medical center|convalescent"),
    ("religious gathering", r"church|shincheonji|crusade|temple"),
    ("club / karaoke", r"club|karaoke|bar\b|pub\b"),
    ("gym", r"gym|fitness|dance"),
    ("workplace", r"call center|logistics|ministry|insurance|company|laboratory|tower|office"),
    ("school / institute", r"kindergarten|school|institute|academy"),
    ("community / residence", r"community|shelter|apt|collective|myeon|gun\b"),
)


def infection_route_setting(route: object) -> str:
    """DS4C's `infection_case` text as a setting, e.g. 'Guro-gu Call Center' -> 'workplace'.

    Example:
        >>> infection_route_setting("Itaewon Clubs")
        'club / karaoke'
    """
    text = "" if route is None or (isinstance(route, float) and np.isnan(route)) else str(route)
    text = text.strip().lower()
    for setting, pattern in _ROUTE_SETTINGS:
        if re.search(pattern, text):
            return setting
    return "other cluster"


_NOT_A_PLACE = {"overseas inflow", "contact with patient", "unknown"}


def ds4c_settings(
    ds4c_dir: Path | str,
    patients: pd.DataFrame | None = None,
    *,
    method: Method = "wilson",
    level: float = 0.95,
) -> pd.DataFrame:
    """Settings ranked by the cases of their clusters (DS4C Case.csv, all Korea) and each
    setting's share of PatientInfo cases with a known route (Wilson CI).

    Returns:
        ``rank, setting, clusters, cluster_cases, patients, share, ci_low, ci_high``; the routes
        that are not places (overseas inflow, contact with a patient, unknown) come last,
        unranked.
    """
    root = Path(ds4c_dir)
    cases = _read_csv(root / "Case.csv", ("infection_case", "group", "confirmed"))
    cases["setting"] = cases["infection_case"].map(infection_route_setting)
    clusters = cases.groupby("setting").agg(
        clusters=("infection_case", "size"), cluster_cases=("confirmed", "sum")
    )
    if patients is None:
        patients = read_patient_info(root)
    route = patients["infection_case"].map(infection_route_setting)
    known = route[route != "unknown"]
    by = known.value_counts()
    out = clusters.join(by.rename("patients"), how="outer").fillna(0).astype(np.int64)
    out = out.reset_index().rename(columns={"index": "setting"})
    n = len(known)
    low, high = proportion_ci(out["patients"], np.full(len(out), n), method=method, level=level)
    out["share"] = out["patients"] / n if n else np.nan
    out["ci_low"], out["ci_high"] = low, high
    # Routes left unrecorded are counted, but are not part of the shares.
    unknown = out["setting"] == "unknown"
    out.loc[unknown, "patients"] = int((route == "unknown").sum())
    out.loc[unknown, ["share", "ci_low", "ci_high"]] = np.nan
    out["place"] = ~out["setting"].isin(_NOT_A_PLACE)
    out = out.sort_values(
        ["place", "cluster_cases", "patients"], ascending=False, ignore_index=True
    )
    out.insert(0, "rank", np.where(out["place"], np.arange(1, len(out) + 1), 0))
    out.attrs["patients_with_route"] = n
    out.attrs["patients"] = len(patients)
    return out.drop(columns="place")


def ds4c_offspring(patients: pd.DataFrame) -> pd.DataFrame:
    """Known secondary cases per case (how many cases name it in `infected_by`).

    Returns:
        The distribution: ``secondary`` (0, 1, 2, ...), ``cases`` with that many, ``share``;
        ``attrs`` has ``mean`` (over all cases), ``variance``, ``dispersion_k``, ``cases``,
        ``links`` (resolved), ``with_secondary`` and ``share_causing_80pct`` (the share of cases
        that caused 80% of the known secondary cases).
    """
    ids = set(patients["patient_id"].dropna().astype(int))
    by = patients["infected_by"].dropna().astype(int)
    resolved = by[by.isin(ids)]
    offspring = resolved.value_counts().reindex(sorted(ids), fill_value=0).to_numpy()
    if len(offspring) == 0:
        raise NotEnoughData("ds4c: no cases")
    dist = np.bincount(offspring)
    out = pd.DataFrame(
        {"secondary": np.arange(len(dist)), "cases": dist, "share": dist / len(offspring)}
    )
    out = out[out["cases"] > 0].reset_index(drop=True)
    ranked = np.cumsum(np.sort(offspring)[::-1])
    total = int(offspring.sum())
    mean, var = float(offspring.mean()), float(offspring.var(ddof=1)) if len(offspring) > 1 else 0.0
    out.attrs.update(
        mean=mean,
        variance=var,
        # Negative binomial dispersion by moments (Lloyd-Smith et al., Nature 438:355, 2005).
        dispersion_k=mean**2 / (var - mean) if var > mean else float("inf"),
        cases=len(offspring),
        links=len(resolved),
        unresolved=len(by) - len(resolved),
        with_secondary=int((offspring > 0).sum()),
        # The share of cases that caused 80% of the known secondary cases.
        share_causing_80pct=float(np.searchsorted(ranked, 0.8 * total) + 1) / len(offspring)
        if total
        else 0.0,
    )
    return out


def ds4c_contact_sar(
    patients: pd.DataFrame,
    *,
    by: Literal["age", "route"] = "route",
    method: Method = "wilson",
    level: float = 0.95,
) -> pd.DataFrame:
    """Secondary attack rate among traced contacts: cases naming an index in `infected_by` /
    that index's `contact_number`, pooled by the index's age band or infection route, plus
    ``all``. Indexes without a contact number (or 0) are left out; so are indexes with more
    secondary cases than contacts (inconsistent records), counted in ``attrs["inconsistent"]``.
    """
    by_col = "age_band" if by == "age" else "route"
    ids = patients["patient_id"].astype(int)
    secondary = patients["infected_by"].dropna().astype(int).value_counts()
    df = pd.DataFrame(
        {
            "secondary": ids.map(secondary).fillna(0).astype(int).to_numpy(),
            "contacts": patients["contact_number"].to_numpy(),
            "age_band": patients["age_band"].to_numpy(),
            "route": patients["infection_case"].map(infection_route_setting).to_numpy(),
        }
    )
    df = df[df["contacts"].notna() & (df["contacts"] > 0)].copy()
    df["contacts"] = df["contacts"].astype(int)
    bad = df["secondary"] > df["contacts"]
    df = df[~bad]
    df[by_col] = df[by_col].fillna("unknown")
    if df.empty:
        raise NotEnoughData("ds4c: no index case with a contact number")
    grouped = df.groupby(by_col).agg(
        secondary=("secondary", "sum"),
        contacts=("contacts", "sum"),
        index_cases=("secondary", "size"),
    )
    if by == "age":
        order = [b for b in (*AGE_BANDS, "unknown") if b in grouped.index]
        grouped = grouped.loc[order]
    grouped.loc["all"] = grouped.sum()
    grouped = grouped.reset_index().rename(columns={by_col: "group"})
    t = attack_rates(grouped, group="group", numerator="secondary", denominator="contacts",
                     method=method, level=level, reference="all")  # fmt: skip
    t["index_cases"] = grouped["index_cases"].to_numpy()
    t.attrs["inconsistent"] = int(bad.sum())
    return t


# --------------------------------------------------------------------------------------------
# The operational database's cases


def seoul_population_by_age() -> pd.DataFrame:
    """Seoul's residents (`seoul_districts`) split by Korea's age structure
    (`KOREA_POPULATION_BY_AGE`): an approximation, since the districts module has residents
    only as totals. Columns ``group, population``."""
    total = sum(d.residents for d in seoul_districts()) * 1000
    korea = sum(KOREA_POPULATION_BY_AGE.values())
    return pd.DataFrame(
        {
            "group": list(KOREA_POPULATION_BY_AGE),
            "population": [round(total * v / korea) for v in KOREA_POPULATION_BY_AGE.values()],
        }
    )


def case_attack_rates(
    cases: pd.DataFrame,
    *,
    by: Literal["district", "age_group"],
    population: pd.DataFrame | None = None,
    districts: Sequence[str] | None = None,
    method: Method = "wilson",
    level: float = 0.95,
) -> pd.DataFrame:
    """Confirmed cases per resident by district or age band, from a case table such as
    `epicity.analytics.data.cases_frame`.

    Cases with a `confirmed_date` count, unless their `status` is suspected or discarded.
    Denominators: district residents from
    `epicity.city.districts`; for age bands, `population` (columns ``group, population``) or by
    default `seoul_population_by_age` (approximate, and said so in ``attrs["denominator"]``).
    Cases without the grouping value or outside the groups are counted in ``attrs["excluded"]``.

    Args:
        cases: one row per case with ``confirmed_date`` and the `by` column.
        by: ``"district"`` or ``"age_group"``.
        population: denominators by group (``group, population``).
        districts: restrict to these districts (each must be a Seoul district).
        method: proportion interval.
        level: confidence level.

    Raises:
        AnalyticsError: a missing column, an unknown district, bad population counts.
        NotEnoughData: no confirmed case.

    Example:
        >>> cases = pd.DataFrame({"district": ["Guro-gu", "Guro-gu", "Mapo-gu"],
        ...                       "confirmed_date": pd.to_datetime(["2020-03-01"] * 3)})
        >>> t = case_attack_rates(cases, by="district", districts=["Guro-gu", "Mapo-gu"])
        >>> t["numerator"].tolist()
        [2, 1]
    """
    if by not in ("district", "age_group"):
        raise AnalyticsError(f"by: must be district or age_group, got {by!r}")
    for col in (by, "confirmed_date"):
        if col not in cases.columns:
            raise AnalyticsError(f"cases: missing column {col!r}")
    confirmed = cases[cases["confirmed_date"].notna()]
    if "status" in cases.columns:  # a discarded (or still suspected) case is not a case
        confirmed = confirmed[~confirmed["status"].isin(("suspected", "discarded"))]
    if confirmed.empty:
        raise NotEnoughData("cases: no confirmed case")
    if by == "district":
        residents = {d.name: d.residents * 1000 for d in seoul_districts()}
        names = sorted(residents)
        if districts is not None:
            unknown = [d for d in districts if d not in residents]
            if unknown:
                raise AnalyticsError(f"district: unknown district {unknown[0]!r} (not a Seoul gu)")
            names = list(dict.fromkeys(districts))
        pop = pd.DataFrame({"group": names, "population": [residents[d] for d in names]})
        note = "district residents, epicity.city.districts (2019-2020, rounded to thousands)"
        labels = confirmed[by]
    else:
        pop = seoul_population_by_age() if population is None else population
        note = (
            "Seoul residents split by Korea's age structure (approximate)"
            if population is None
            else "population given"
        )
        labels = confirmed[by].map(_normalise_age_group)
    checked = _check_counts(pop, "population", "group", ["population"])
    counts = labels.value_counts()
    frame = checked.assign(cases=checked["group"].map(counts).fillna(0).astype(np.int64))
    t = attack_rates(frame, group="group", numerator="cases", denominator="population",
                     method=method, level=level)  # fmt: skip
    t.attrs["excluded"] = int(len(confirmed) - frame["cases"].sum())
    t.attrs["denominator"] = note
    return t
