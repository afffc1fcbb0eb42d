"""Case tables and daily incidence for the analytics: from the database, DS4C and CSV files.

- `cases_frame`: one row per case of the operational database, with the dates the methods
  need and the infector from the transmission links (internal case ids only: no person id,
  no name, no address);
- `ds4c_cases_frame`: the same columns from DS4C's `PatientInfo.csv` (its ``infected_by``);
- `daily_incidence`: cases per day (optionally per district), every day present;
- `read_incidence_csv`: a ``date,cases`` file (optionally with ``imported`` and a grouping
  column such as ``district``), validated line by line.

Case-level frames are for the analytics functions; what leaves them is aggregated.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from epicity.analytics.errors import AnalyticsError, NotEnoughData
from epicity.cases.models import Case, TransmissionLink

__all__ = [
    "CASE_COLUMNS",
    "cases_frame",
    "confirmed_cases",
    "daily_incidence",
    "ds4c_cases_frame",
    "read_incidence_csv",
]

#: The columns of `cases_frame` and `ds4c_cases_frame`, in order.
CASE_COLUMNS = (
    "case_id",
    "status",
    "district",
    "age_group",
    "sex",
    "symptom_onset",
    "confirmed_date",
    "infector_case_id",
)

_DATE_COLUMNS = ("symptom_onset", "confirmed_date")


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with CASE_COLUMNS' dtypes: dates as datetime64 (NaT when missing), Int64 ids."""
    for column in _DATE_COLUMNS:
        frame[column] = pd.to_datetime(frame[column], errors="coerce").astype("datetime64[ns]")
    frame["case_id"] = frame["case_id"].astype("int64")
    frame["infector_case_id"] = frame["infector_case_id"].astype("Int64")
    for column in ("status", "district", "age_group", "sex"):
        frame[column] = frame[column].astype("object")
    return frame[list(CASE_COLUMNS)].reset_index(drop=True)


def cases_frame(session: Session) -> pd.DataFrame:
    """One row per case in the operational database, for the analytics.

    ``infector_case_id`` comes from the transmission links; a case linked to several
    infectors gets the first link recorded (the lowest link id).

    Args:
        session: a database session.

    Returns:
        Columns `CASE_COLUMNS`: ``case_id`` (internal id), ``status``, ``district``,
        ``age_group``, ``sex``, ``symptom_onset``, ``confirmed_date`` (datetime64, NaT when
        missing) and ``infector_case_id`` (nullable Int64), ordered by ``case_id``.

    Example:
        >>> frame = cases_frame(session)  # doctest: +SKIP
        >>> daily_incidence(frame, by="district")  # doctest: +SKIP
    """
    first_link = (
        sa.select(
            TransmissionLink.infectee_id.label("infectee_id"),
            sa.func.min(TransmissionLink.id).label("link_id"),
        )
        .group_by(TransmissionLink.infectee_id)
        .subquery()
    )
    infector = (
        sa.select(TransmissionLink.infectee_id, TransmissionLink.infector_id)
        .join(first_link, TransmissionLink.id == first_link.c.link_id)
        .subquery()
    )
    query = (
        sa.select(
            Case.id,
            Case.status,
            Case.district,
            Case.age_group,
            Case.sex,
            Case.symptom_onset,
            Case.confirmed_date,
            infector.c.infector_id,
        )
        .outerjoin(infector, infector.c.infectee_id == Case.id)
        .order_by(Case.id)
    )
    rows = session.execute(query).all()
    frame = pd.DataFrame([tuple(r) for r in rows], columns=list(CASE_COLUMNS))
    return _typed(frame)


def confirmed_cases(session: Session) -> tuple[pd.DataFrame, list[str]]:
    """The database's cases with a confirmation date, and their districts (sorted): what the
    console's analytics pages offer to choose from."""
    cases = cases_frame(session)
    cases = cases[cases["confirmed_date"].notna()]
    return cases, sorted(cases["district"].dropna().astype(str).unique())


def ds4c_cases_frame(path: Path | str) -> pd.DataFrame:
    """DS4C's `PatientInfo.csv` with `cases_frame`'s columns.

    ``case_id`` is DS4C's ``patient_id``, ``district`` its ``city``, ``age_group`` its
    ``age``. ``infected_by`` becomes ``infector_case_id`` when it is a patient id (values such
    as ``#11243`` are not, and are dropped); unparseable dates become NaT.

    Raises:
        AnalyticsError: the file is missing or lacks a column that is read.

    Example:
        >>> cases = ds4c_cases_frame("../shared/data/real/ds4c/PatientInfo.csv")  # doctest: +SKIP
    """
    path = Path(path)
    if not path.is_file():
        raise AnalyticsError(f"ds4c: {path} is not a file")
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    needed = ("patient_id", "state", "city", "age", "sex", "symptom_onset_date")
    missing = [c for c in (*needed, "confirmed_date", "infected_by") if c not in raw.columns]
    if missing:
        raise AnalyticsError(f"ds4c: {path.name} lacks the column(s) {', '.join(missing)}")
    ids = pd.to_numeric(raw["patient_id"].str.strip(), errors="coerce")
    raw = raw[ids.notna()].assign(patient_id=ids[ids.notna()].astype("int64"))
    raw = raw.drop_duplicates("patient_id")
    infector = pd.to_numeric(
        raw["infected_by"].str.strip().where(raw["infected_by"].str.strip().str.isdigit()),
        errors="coerce",
    )

    def text(column: str) -> pd.Series:
        values = raw[column].str.strip()
        return values.where(values != "", None)

    frame = pd.DataFrame(
        {
            "case_id": raw["patient_id"],
            "status": text("state"),
            "district": text("city"),
            "age_group": text("age"),
            "sex": text("sex"),
            "symptom_onset": raw["symptom_onset_date"].str.strip(),
            "confirmed_date": raw["confirmed_date"].str.strip(),
            "infector_case_id": infector.where(infector != raw["patient_id"]),
        }
    )
    return _typed(frame)


def _as_day(value: object, what: str) -> pd.Timestamp:
    try:
        day = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise AnalyticsError(f"{what}: not a date ({value!r})") from exc
    if pd.isna(day):
        raise AnalyticsError(f"{what}: not a date ({value!r})")
    return day.normalize()


def daily_incidence(
    cases: pd.DataFrame,
    *,
    date_column: str = "confirmed_date",
    by: str | None = None,
    start: dt.date | str | pd.Timestamp | None = None,
    end: dt.date | str | pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Cases per day (and per `by` group), with every day from `start` to `end` present.

    Cases without a date in `date_column` (or, with `by`, without a group) are not counted;
    cases outside ``[start, end]`` neither.

    Args:
        cases: one row per case (`cases_frame`, `ds4c_cases_frame`, or any frame with
            `date_column`).
        date_column: the date that counts (``confirmed_date`` or ``symptom_onset``).
        by: a grouping column (e.g. ``district``); every group gets every day.
        start: first day (default: the earliest date).
        end: last day (default: the latest date).

    Returns:
        Columns ``date``, (`by`), ``cases`` (int64), sorted by (`by`,) date; zeros filled.

    Raises:
        AnalyticsError: unknown column, start after end.
        NotEnoughData: no case has a date and no range was given.

    Example:
        >>> frame = pd.DataFrame({"confirmed_date": pd.to_datetime(
        ...     ["2020-03-01", "2020-03-03", "2020-03-03"])})
        >>> daily_incidence(frame)["cases"].tolist()
        [1, 0, 2]
    """
    for column in (date_column, by):
        if column is not None and column not in cases.columns:
            raise AnalyticsError(f"{column}: no such column in the cases")
    days = pd.to_datetime(cases[date_column], errors="coerce").dt.normalize()
    keep = days.notna()
    if by is not None:
        keep &= cases[by].notna()
    days = days[keep]
    first = _as_day(start, "start") if start is not None else None
    last = _as_day(end, "end") if end is not None else None
    if first is None or last is None:
        if days.empty:
            raise NotEnoughData(f"{date_column}: no case has a date")
        first = first if first is not None else days.min()
        last = last if last is not None else days.max()
    if first > last:
        raise AnalyticsError(f"start: {first.date()} is after end {last.date()}")
    calendar = pd.date_range(first, last, freq="D")
    in_range = (days >= first) & (days <= last)
    if by is None:
        counts = days[in_range].value_counts()
        out = pd.DataFrame({"date": calendar})
        out["cases"] = counts.reindex(calendar, fill_value=0).to_numpy().astype("int64")
        return out
    groups = cases.loc[keep, by][in_range]
    counted = pd.DataFrame({by: groups.to_numpy(), "date": days[in_range].to_numpy()})
    counts = counted.groupby([by, "date"]).size()
    labels = sorted(pd.unique(cases.loc[keep, by]).tolist())
    index = pd.MultiIndex.from_product([labels, calendar], names=[by, "date"])
    out = counts.reindex(index, fill_value=0).rename("cases").reset_index()
    out["cases"] = out["cases"].astype("int64")
    return out[["date", by, "cases"]]


def read_incidence_csv(path: Path | str, *, by: str | None = None) -> pd.DataFrame:
    """A daily incidence file, validated: header ``date,cases`` (plus optional ``imported``).

    With `by` (e.g. ``district``) the file has that column too, and each group is checked
    separately. Dates are ISO (YYYY-MM-DD), consecutive (no gaps, no repeats, in order);
    counts are non-negative whole numbers.

    Args:
        path: the CSV file.
        by: a grouping column the file must have.

    Returns:
        Columns ``date`` (datetime64), (`by`), ``cases`` (and ``imported`` when present).

    Raises:
        AnalyticsError: naming the line and field, e.g. ``"cases.csv line 5: cases:
            negative count -3 on 2020-03-04"``.
        NotEnoughData: the file has no data rows.

    Example:
        >>> read_incidence_csv("seoul.csv")  # doctest: +SKIP
    """
    path = Path(path)
    if not path.is_file():
        raise AnalyticsError(f"cases: {path} is not a file")
    name = path.name
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = [h.strip() for h in next(reader, [])]
        required = ["date", "cases"] + ([by] if by else [])
        missing = [c for c in required if c not in header]
        if missing:
            raise AnalyticsError(
                f"{name} line 1: header must have {', '.join(required)} "
                f"(missing {', '.join(missing)}; found {', '.join(header) or 'nothing'})"
            )
        col = {h: i for i, h in enumerate(header)}
        has_imported = "imported" in col
        rows: list[tuple[object, ...]] = []
        last_day: dict[str, dt.date] = {}
        for line, row in enumerate(reader, start=2):
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise AnalyticsError(
                    f"{name} line {line}: {len(row)} fields, the header has {len(header)}"
                )
            raw_day = row[col["date"]].strip()
            try:
                day = dt.date.fromisoformat(raw_day)
            except ValueError as exc:
                raise AnalyticsError(
                    f"{name} line {line}: date: not a YYYY-MM-DD date ({raw_day!r})"
                ) from exc
            group = row[col[by]].strip() if by else ""
            if by and not group:
                raise AnalyticsError(f"{name} line {line}: {by}: empty")
            counts = [_count(name, line, "cases", row[col["cases"]], day)]
            if has_imported:
                counts.append(_count(name, line, "imported", row[col["imported"]], day))
            previous = last_day.get(group)
            if previous is not None and day != previous + dt.timedelta(days=1):
                where = f" for {by} {group}" if by else ""
                problem = (
                    f"gap in dates{where}: {previous} is followed by {day}"
                    if day > previous
                    else f"dates out of order or repeated{where}: {day} after {previous}"
                )
                raise AnalyticsError(f"{name} line {line}: date: {problem}")
            last_day[group] = day
            rows.append((day, group, *counts))
    if not rows:
        raise NotEnoughData(f"{name}: no data rows")
    columns = ["date", by or "_group", "cases"] + (["imported"] if has_imported else [])
    out = pd.DataFrame(rows, columns=columns)
    out["date"] = pd.to_datetime(out["date"])
    if by is None:
        out = out.drop(columns="_group")
    for c in ("cases", "imported"):
        if c in out.columns:
            out[c] = out[c].astype("int64")
    return out


def _count(name: str, line: int, field: str, raw: str, day: dt.date) -> int:
    text = raw.strip()
    try:
        value = float(text)
    except ValueError as exc:
        raise AnalyticsError(
            f"{name} line {line}: {field}: not a number ({text!r}) on {day}"
        ) from exc
    if not np.isfinite(value):
        raise AnalyticsError(f"{name} line {line}: {field}: not a number ({text!r}) on {day}")
    if value < 0:
        raise AnalyticsError(f"{name} line {line}: {field}: negative count {value:g} on {day}")
    if value != int(value):
        raise AnalyticsError(f"{name} line {line}: {field}: not a whole number {value:g} on {day}")
    return int(value)
