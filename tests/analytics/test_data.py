"""Analytics data: the case frame from the database (both DBs), DS4C, incidence and CSV checks."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy.orm import Session

from epicity.analytics.data import (
    CASE_COLUMNS,
    cases_frame,
    daily_incidence,
    ds4c_cases_frame,
    read_incidence_csv,
)
from epicity.analytics.errors import AnalyticsError, NotEnoughData
from epicity.cases.service import add_link, create_case

D = dt.date(2020, 3, 2)
DAY = dt.timedelta(days=1)


def test_cases_frame_has_the_interface_columns_and_infectors(session: Session) -> None:
    a = create_case(
        session,
        actor="kim",
        status="confirmed",
        person_id=77,
        district="Guro-gu",
        sex="female",
        age_group="30s",
        symptom_onset=D - DAY,
        confirmed_date=D,
    )
    b = create_case(session, actor="kim", status="confirmed", district="Mapo-gu", confirmed_date=D)
    c = create_case(
        session, actor="kim", district="Mapo-gu", symptom_onset=D + 3 * DAY
    )  # suspected: no confirmation date
    add_link(session, infector_id=a.id, infectee_id=c.id, evidence="household", actor="kim")
    # a second infector recorded later does not replace the first
    add_link(session, infector_id=b.id, infectee_id=c.id, evidence="workplace", actor="kim")
    frame = cases_frame(session)
    assert tuple(frame.columns) == CASE_COLUMNS
    assert "person_id" not in frame.columns
    assert frame["case_id"].tolist() == [a.id, b.id, c.id]
    assert frame["infector_case_id"].isna().tolist() == [True, True, False]
    assert int(frame.loc[2, "infector_case_id"]) == a.id
    assert str(frame["infector_case_id"].dtype) == "Int64"
    assert frame.loc[0, "symptom_onset"] == pd.Timestamp(D - DAY)
    assert pd.isna(frame.loc[2, "confirmed_date"])
    assert frame["status"].tolist() == ["confirmed", "confirmed", "suspected"]
    assert frame.loc[0, ["district", "sex", "age_group"]].tolist() == ["Guro-gu", "female", "30s"]


def test_cases_frame_of_an_empty_database(session: Session) -> None:
    frame = cases_frame(session)
    assert tuple(frame.columns) == CASE_COLUMNS
    assert frame.empty
    with pytest.raises(NotEnoughData, match="confirmed_date: no case has a date"):
        daily_incidence(frame)


def _frame(days: list[str | None], districts: list[str | None] | None = None) -> pd.DataFrame:
    out = pd.DataFrame({"confirmed_date": pd.to_datetime(pd.Series(days))})
    if districts is not None:
        out["district"] = districts
    return out


def test_daily_incidence_fills_every_day() -> None:
    frame = _frame(["2020-03-01", "2020-03-04", "2020-03-04", None])
    inc = daily_incidence(frame)
    assert inc["date"].dt.strftime("%m-%d").tolist() == ["03-01", "03-02", "03-03", "03-04"]
    assert inc["cases"].tolist() == [1, 0, 0, 2]
    ranged = daily_incidence(frame, start="2020-02-28", end=dt.date(2020, 3, 2))
    assert ranged["cases"].tolist() == [0, 0, 1, 0]  # 2020 is a leap year


def test_daily_incidence_by_district() -> None:
    frame = _frame(
        ["2020-03-01", "2020-03-03", "2020-03-03", "2020-03-02"],
        ["Mapo-gu", "Guro-gu", "Mapo-gu", None],
    )
    inc = daily_incidence(frame, by="district")
    assert list(inc.columns) == ["date", "district", "cases"]
    assert inc.groupby("district")["cases"].apply(list).to_dict() == {
        "Guro-gu": [0, 0, 1],
        "Mapo-gu": [1, 0, 1],
    }


def test_daily_incidence_refuses_bad_arguments() -> None:
    frame = _frame(["2020-03-01"])
    with pytest.raises(AnalyticsError, match="district: no such column"):
        daily_incidence(frame, by="district")
    with pytest.raises(AnalyticsError, match="start: 2020-03-05 is after end 2020-03-01"):
        daily_incidence(frame, start="2020-03-05")
    with pytest.raises(AnalyticsError, match="end: not a date"):
        daily_incidence(frame, end="soon")


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cases.csv"
    path.write_text(text)
    return path


def test_read_incidence_csv(tmp_path: Path) -> None:
    inc = read_incidence_csv(_csv(tmp_path, "date,cases\n2020-03-01,1\n2020-03-02,0\n\n"))
    assert list(inc.columns) == ["date", "cases"]
    assert inc["cases"].tolist() == [1, 0]
    assert inc["date"].iloc[1] == pd.Timestamp("2020-03-02")
    with_imported = read_incidence_csv(
        _csv(tmp_path, "date,cases,imported\n2020-03-01,1,2\n2020-03-02,3,0\n")
    )
    assert with_imported["imported"].tolist() == [2, 0]


def test_read_incidence_csv_by_district_checks_each_district(tmp_path: Path) -> None:
    text = "date,district,cases\n2020-03-01,A,1\n2020-03-01,B,2\n2020-03-02,A,0\n2020-03-02,B,5\n"
    inc = read_incidence_csv(_csv(tmp_path, text), by="district")
    assert inc["district"].tolist() == ["A", "B", "A", "B"]
    gap = "date,district,cases\n2020-03-01,A,1\n2020-03-01,B,2\n2020-03-03,A,0\n"
    with pytest.raises(AnalyticsError, match="line 4: date: gap in dates for district A"):
        read_incidence_csv(_csv(tmp_path, gap), by="district")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("day,cases\n2020-03-01,1\n", "line 1: header must have date, cases"),
        (
            "date,cases\n2020-03-01,1\n2020-03-02,-3\n",
            "line 3: cases: negative count -3 on 2020-03-02",
        ),
        ("date,cases\n2020-03-01,1\n2020-03-03,2\n", "line 3: date: gap in dates: 2020-03-01 is"),
        (
            "date,cases\n2020-03-02,1\n2020-03-01,2\n",
            "line 3: date: dates out of order or repeated",
        ),
        (
            "date,cases\n2020-03-01,1\n2020-03-01,2\n",
            "line 3: date: dates out of order or repeated",
        ),
        ("date,cases\n03/01/2020,1\n", "line 2: date: not a YYYY-MM-DD date"),
        ("date,cases\n2020-03-01,many\n", "line 2: cases: not a number"),
        ("date,cases\n2020-03-01,nan\n", "line 2: cases: not a number"),
        ("date,cases\n2020-03-01,1.5\n", "line 2: cases: not a whole number 1.5"),
        ("date,cases\n2020-03-01,1,2\n", "line 2: 3 fields, the header has 2"),
    ],
)
def test_read_incidence_csv_errors_name_the_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(AnalyticsError, match=message):
        read_incidence_csv(_csv(tmp_path, text))


def test_read_incidence_csv_empty_and_missing(tmp_path: Path) -> None:
    with pytest.raises(NotEnoughData, match="no data rows"):
        read_incidence_csv(_csv(tmp_path, "date,cases\n"))
    with pytest.raises(AnalyticsError, match="is not a file"):
        read_incidence_csv(tmp_path / "absent.csv")


def test_ds4c_cases_frame_reads_patient_info(tmp_path: Path) -> None:
    path = tmp_path / "PatientInfo.csv"
    path.write_text(
        "patient_id,sex,age,city,infected_by,symptom_onset_date,confirmed_date,state\n"
        "1,male,50s,Gangseo-gu,,2020-01-22,2020-01-23,released\n"
        "2,female,30s,Mapo-gu,1,2020-01-25,2020-01-27,isolated\n"
        "3,,,Mapo-gu,#11243, ,2020-01-28,isolated\n"
        "4,,,Mapo-gu,4,,2020-01-29,isolated\n"
    )
    frame = ds4c_cases_frame(path)
    assert tuple(frame.columns) == CASE_COLUMNS
    assert frame["infector_case_id"].isna().tolist() == [True, False, True, True]
    assert int(frame.loc[1, "infector_case_id"]) == 1
    assert pd.isna(frame.loc[2, "symptom_onset"])
    assert frame.loc[1, "symptom_onset"] == pd.Timestamp("2020-01-25")
    path.write_text("patient_id,sex\n1,male\n")
    with pytest.raises(AnalyticsError, match="lacks the column"):
        ds4c_cases_frame(path)


@pytest.mark.realdata
def test_ds4c_cases_frame_on_the_real_file(real_data: Path) -> None:
    frame = ds4c_cases_frame(real_data / "ds4c" / "PatientInfo.csv")
    assert len(frame) == 4004
    assert frame["confirmed_date"].isna().sum() == 3  # three rows have no confirmed date
    # 899 infected_by values: 13 are '#' numbers and 2 name the patient itself
    assert frame["infector_case_id"].notna().sum() == 884
