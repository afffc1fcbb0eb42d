"""Conversion of DS4C into epicity's documented tables (`epicity.ds4c.convert`)."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from epicity.ds4c.convert import Ds4cError, Ds4cReport, convert_ds4c
from epicity.records.schema import CASES, DAILY_COUNTS, ROUTES, Kind, Table

from .sources import INFO_HEADER, INFO_ROWS, TIME_HEADER, TIME_ROWS, write_csv


def read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def header(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as fh:
        return next(csv.reader(fh))


def check_against_schema(table: Table, path: Path) -> None:
    """Every written value fits the documented column (type, nullability, range, choices)."""
    assert tuple(header(path)) == table.column_names
    for row in read(path):
        for col in table.columns:
            v = row[col.name]
            if v == "":
                assert col.nullable, (table.name, col.name, row)
                continue
            if col.kind in (Kind.ID, Kind.INT):
                assert v.isdigit(), (col.name, v)
                n: float = int(v)
            elif col.kind is Kind.FLOAT:
                n = float(v)
            elif col.kind is Kind.DATE:
                assert date.fromisoformat(v).isoformat() == v
                continue
            else:
                assert v == v.strip()
                if col.choices:
                    assert v in col.choices, (col.name, v)
                continue
            assert col.minimum is None or n >= col.minimum
            assert col.maximum is None or n <= col.maximum


# ---------------------------------------------------------------------------------------------
# small invented sources


@pytest.fixture
def mini(mini_dir: Path, tmp_path: Path) -> tuple[Ds4cReport, Path]:
    out = tmp_path / "out"
    return convert_ds4c(mini_dir, out), out


def test_mini_outputs_follow_the_schema(mini: tuple[Ds4cReport, Path]) -> None:
    report, out = mini
    for table in (CASES, ROUTES, DAILY_COUNTS):
        assert report.written[table.name] == out / f"{table.name}.csv"
        check_against_schema(table, out / f"{table.name}.csv")


def test_mini_cases_mapping(mini: tuple[Ds4cReport, Path]) -> None:
    report, out = mini
    rows = {r["person_id"]: r for r in read(out / "cases.csv")}
    assert sorted(rows) == ["101", "102", "103", "104", "105", "107", "108", "109"]
    assert report.patient_rows == 9
    assert report.cases == 8
    assert report.skipped_cases == 1
    assert rows["101"] == {
        "person_id": "101",
        "symptom_onset": "2020-03-01",
        "test_date": "",
        "confirmed_date": "2020-03-02",
        "released_date": "",
        "deceased_date": "",
        "state": "isolated",
        "infected_by": "",
        "cluster": "Test Church",
        "district": "Mapo-gu",
        "province": "Seoul",
        "sex": "female",
        "age_group": "30s",
        "contact_number": "12",
    }
    assert rows["102"]["infected_by"] == "101"
    assert rows["102"]["contact_number"] == ""  # "-"
    assert rows["102"]["released_date"] == "2020-03-20"
    assert rows["103"]["symptom_onset"] == ""  # " "
    assert rows["103"]["age_group"] == "30s"  # "30"
    assert rows["104"]["infected_by"] == ""  # self-infection dropped
    assert rows["104"]["sex"] == ""
    assert rows["105"]["infected_by"] == "999"  # unknown infector kept
    assert rows["105"]["contact_number"] == ""  # a patient id in the contacts column
    assert rows["107"]["infected_by"] == "108"  # both directions of the cycle are kept
    assert rows["108"]["infected_by"] == "107"
    assert rows["109"]["symptom_onset"] == ""  # 2020/03/01
    assert rows["109"]["infected_by"] == ""  # "#7"


def test_mini_findings(mini: tuple[Ds4cReport, Path]) -> None:
    report, _ = mini
    counts = {f.kind: f.count for f in report.findings}
    assert counts == {
        "no_confirmed_date": 1,
        "bad_contact_number": 1,
        "implausible_contact_number": 1,
        "stray_whitespace": 1,
        "age_not_band": 1,
        "self_infection": 1,
        "onset_after_confirmed": 1,
        "deceased_before_confirmed": 1,
        "bad_date": 1,
        "bad_infected_by": 1,
        "unknown_infector": 1,
        "infector_confirmed_later": 1,
        "transmission_cycle": 1,
        "duplicate_route": 1,
        "route_unknown_patient": 1,
        "route_outside_korea": 1,
        "route_bad_date": 1,
        "count_decrease": 1,
    }
    f = report.finding("self_infection")
    assert f is not None
    assert (f.examples[0].record, f.examples[0].field, f.examples[0].value) == (
        "104",
        "infected_by",
        "104",
    )
    f = report.finding("count_decrease")
    assert f is not None
    assert f.file == "TimeProvince.csv"
    assert f.examples[0].record == "2020-03-03 Seoul"
    assert report.finding("bad_sex") is None


def test_mini_summary(mini: tuple[Ds4cReport, Path]) -> None:
    report, out = mini
    assert report.cases_by_province == [("Seoul", 4), ("Busan", 4)]
    assert report.seoul_cases == 4
    assert report.seoul_districts == [("Mapo-gu", 2), ("Jongno-gu", 1), ("etc", 1)]
    assert report.confirmed_range == (date(2020, 3, 2), date(2020, 3, 11))
    assert (report.links, report.links_resolved) == (5, 4)
    trees = [(t.root, t.size, t.generations) for t in report.largest_trees]
    assert trees[0] == (101, 3, 2)
    assert trees[1][1] == 2  # the 107/108 cycle, cut once
    assert [(c.name, c.cases, c.lat) for c in report.clusters] == [("Test Church", 4, 37.55)]
    assert ("contact with patient", 1) in report.infection_routes
    assert (report.route_rows, report.route_points, report.route_patients) == (6, 4, 4)
    assert len(read(out / "routes.csv")) == 4
    assert (report.time_rows, report.daily_counts, report.regions) == (6, 6, 2)
    assert report.latest_seoul is not None
    assert (report.latest_seoul.date, report.latest_seoul.confirmed) == (date(2020, 3, 3), 2)
    assert report.latest_korea is not None
    assert (report.latest_korea.confirmed, report.latest_korea.deceased) == (6, 1)


def test_case_csv_is_optional(mini_dir: Path, tmp_path: Path) -> None:
    (mini_dir / "Case.csv").unlink()
    report = convert_ds4c(mini_dir, tmp_path / "out")
    assert not report.clusters_file
    assert [(c.name, c.cases, c.lat) for c in report.clusters] == [("Test Church", 4, None)]


def test_rerun_overwrites_outputs(mini_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    convert_ds4c(mini_dir, out)
    first = (out / "cases.csv").read_bytes()
    convert_ds4c(mini_dir, out)
    assert (out / "cases.csv").read_bytes() == first


@pytest.mark.parametrize("name", ["PatientInfo.csv", "PatientRoute.csv", "TimeProvince.csv"])
def test_missing_file_is_an_error(mini_dir: Path, tmp_path: Path, name: str) -> None:
    (mini_dir / name).unlink()
    with pytest.raises(Ds4cError, match="required file is missing") as info:
        convert_ds4c(mini_dir, tmp_path / "out")
    assert info.value.file == name
    assert not (tmp_path / "out").exists()


def test_missing_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(Ds4cError, match="does not exist"):
        convert_ds4c(tmp_path / "nowhere", tmp_path / "out")


@pytest.mark.parametrize(
    ("name", "header", "rows", "column"),
    [
        ("PatientInfo.csv", INFO_HEADER, INFO_ROWS, "confirmed_date"),
        ("PatientInfo.csv", INFO_HEADER, INFO_ROWS, "infected_by"),
        ("TimeProvince.csv", TIME_HEADER, TIME_ROWS, "province"),
    ],
)
def test_missing_column_is_an_error(
    mini_dir: Path, tmp_path: Path, name: str, header: str, rows: tuple[str, ...], column: str
) -> None:
    cols = header.split(",")
    i = cols.index(column)
    write_csv(
        mini_dir / name,
        ",".join(cols[:i] + cols[i + 1 :]),
        tuple(",".join(r.split(",")[:i] + r.split(",")[i + 1 :]) for r in rows),
    )
    with pytest.raises(Ds4cError, match="required column is missing") as info:
        convert_ds4c(mini_dir, tmp_path / "out")
    assert (info.value.file, info.value.column) == (name, column)
    assert column in str(info.value)


def test_missing_route_column_is_an_error(mini_dir: Path, tmp_path: Path) -> None:
    write_csv(mini_dir / "PatientRoute.csv", "patient_id,date,type,latitude", ())
    with pytest.raises(Ds4cError) as info:
        convert_ds4c(mini_dir, tmp_path / "out")
    assert (info.value.file, info.value.column) == ("PatientRoute.csv", "province")


def test_empty_file_is_an_error(mini_dir: Path, tmp_path: Path) -> None:
    (mini_dir / "TimeProvince.csv").write_text("", encoding="utf-8")
    with pytest.raises(Ds4cError, match="empty") as info:
        convert_ds4c(mini_dir, tmp_path / "out")
    assert info.value.file == "TimeProvince.csv"


def test_header_with_bom_and_spaces_is_accepted(mini_dir: Path, tmp_path: Path) -> None:
    text = (mini_dir / "TimeProvince.csv").read_text(encoding="utf-8")
    (mini_dir / "TimeProvince.csv").write_text(
        "\ufeff" + text.replace("province,", " province ,", 1), encoding="utf-8"
    )
    report = convert_ds4c(mini_dir, tmp_path / "out")
    assert report.daily_counts == 6


# ---------------------------------------------------------------------------------------------
# the real DS4C files (read in place, never copied)


@pytest.fixture(scope="module")
def real(real_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Ds4cReport, Path]:
    out = tmp_path_factory.mktemp("ds4c-out")
    return convert_ds4c(real_dir, out), out


@pytest.fixture(scope="module")
def info(real_dir: Path) -> list[dict[str, str]]:
    return read(real_dir / "PatientInfo.csv")


@pytest.fixture(scope="module")
def route(real_dir: Path) -> list[dict[str, str]]:
    return read(real_dir / "PatientRoute.csv")


@pytest.fixture(scope="module")
def time_province(real_dir: Path) -> list[dict[str, str]]:
    return read(real_dir / "TimeProvince.csv")


def count(report: Ds4cReport, kind: str) -> int:
    f = report.finding(kind)
    return 0 if f is None else f.count


@pytest.mark.realdata
def test_real_row_counts(
    real: tuple[Ds4cReport, Path],
    info: list[dict[str, str]],
    route: list[dict[str, str]],
    time_province: list[dict[str, str]],
) -> None:
    report, out = real
    with_confirmed = [r for r in info if r["confirmed_date"].strip()]
    assert len(with_confirmed) < len(info)  # the data has cases without a confirmed date
    assert report.patient_rows == len(info)
    assert report.cases == len(with_confirmed) == len(read(out / "cases.csv"))
    assert report.skipped_cases == len(info) - len(with_confirmed)

    # Every PatientRoute row is read; rows repeating the store key collapse into one point.
    keys = {
        (r["patient_id"], r["date"], r["type"], float(r["latitude"]), float(r["longitude"]))
        for r in route
    }
    assert report.route_rows == len(route)
    assert report.route_points == len(keys) == len(read(out / "routes.csv"))
    assert report.route_points + count(report, "duplicate_route") == len(route)

    assert report.time_rows == report.daily_counts == len(time_province)
    assert len(read(out / "daily_counts.csv")) == len(time_province)


@pytest.mark.realdata
def test_real_outputs_follow_the_schema(real: tuple[Ds4cReport, Path]) -> None:
    _, out = real
    for table in (CASES, ROUTES, DAILY_COUNTS):
        check_against_schema(table, out / f"{table.name}.csv")


@pytest.mark.realdata
def test_real_known_facts(
    real: tuple[Ds4cReport, Path],
    info: list[dict[str, str]],
    time_province: list[dict[str, str]],
) -> None:
    report, out = real
    cases = {r["person_id"]: r for r in read(out / "cases.csv")}
    first = cases["1000000001"]
    assert first["confirmed_date"] == "2020-01-23"
    assert first["province"] == "Seoul"
    assert first["state"] == "released"

    confirmed = [r for r in info if r["confirmed_date"].strip()]
    seoul = [r for r in confirmed if r["province"] == "Seoul"]
    assert report.seoul_cases == len(seoul) == sum(c["province"] == "Seoul" for c in cases.values())
    assert dict(report.seoul_districts) == Counter(r["city"] for r in seoul)
    assert (
        report.cases_by_province[0] == Counter(r["province"] for r in confirmed).most_common(1)[0]
    )
    dates = sorted(r["confirmed_date"] for r in confirmed)
    assert report.confirmed_range is not None
    assert [d.isoformat() for d in report.confirmed_range] == [dates[0], dates[-1]]

    last_day = max(r["date"] for r in time_province)
    seoul_last = next(
        r for r in time_province if r["date"] == last_day and r["province"] == "Seoul"
    )
    assert report.latest_seoul is not None
    assert report.latest_seoul.date.isoformat() == last_day
    assert report.latest_seoul.confirmed == int(seoul_last["confirmed"])
    assert report.latest_korea is not None
    assert report.latest_korea.confirmed == sum(
        int(r["confirmed"]) for r in time_province if r["date"] == last_day
    )
    assert report.regions == len({r["province"] for r in time_province})


@pytest.mark.realdata
def test_real_transmission_links(real: tuple[Ds4cReport, Path], info: list[dict[str, str]]) -> None:
    report, _ = real
    case_ids = {r["patient_id"] for r in info if r["confirmed_date"].strip()}
    links = [
        (r["patient_id"], r["infected_by"])
        for r in info
        if r["confirmed_date"].strip()
        and r["infected_by"].isdigit()
        and r["infected_by"] != r["patient_id"]
    ]
    assert report.links == len(links)
    assert report.links_resolved == sum(by in case_ids for _, by in links)
    assert 0 < report.links_resolved < report.links
    sizes = [t.size for t in report.largest_trees]
    assert sizes == sorted(sizes, reverse=True)
    assert sizes[0] > 10


@pytest.mark.realdata
def test_real_findings_match_independent_counts(
    real: tuple[Ds4cReport, Path],
    info: list[dict[str, str]],
    route: list[dict[str, str]],
) -> None:
    report, _ = real
    confirmed = [r for r in info if r["confirmed_date"].strip()]
    ids = {r["patient_id"] for r in info}
    expected = {
        "no_confirmed_date": len(info) - len(confirmed),
        "bad_contact_number": sum(
            bool(r["contact_number"].strip()) and not r["contact_number"].strip().isdigit()
            for r in confirmed
        ),
        "bad_infected_by": sum(
            bool(r["infected_by"].strip()) and not r["infected_by"].strip().isdigit()
            for r in confirmed
        ),
        "self_infection": sum(r["infected_by"] == r["patient_id"] for r in confirmed),
        "unknown_infector": sum(
            r["infected_by"].isdigit() and r["infected_by"] not in ids for r in confirmed
        ),
        "onset_after_confirmed": sum(
            r["symptom_onset_date"].strip() > r["confirmed_date"]
            for r in confirmed
            if r["symptom_onset_date"].strip()
        ),
        "duplicate_route": len(route)
        - len(
            {(r["patient_id"], r["date"], r["type"], r["latitude"], r["longitude"]) for r in route}
        ),
        "route_unknown_patient": sum(r["patient_id"] not in ids for r in route),
        "route_outside_korea": sum(
            not (33 <= float(r["latitude"]) <= 39 and 124 <= float(r["longitude"]) <= 132)
            for r in route
        ),
    }
    assert {k: count(report, k) for k in expected} == expected
    # The quirks this import exists to handle are really in the data.
    for kind in (
        "no_confirmed_date",
        "bad_contact_number",
        "bad_infected_by",
        "self_infection",
        "unknown_infector",
        "onset_after_confirmed",
        "duplicate_route",
    ):
        assert expected[kind] > 0, kind
        f = report.finding(kind)
        assert f is not None
        assert 0 < len(f.examples) <= 5


@pytest.mark.realdata
def test_real_decreasing_cumulative_counts(
    real: tuple[Ds4cReport, Path], time_province: list[dict[str, str]]
) -> None:
    report, _ = real
    last: dict[tuple[str, str], int] = {}
    decreases = 0
    for r in sorted(time_province, key=lambda r: (r["province"], r["date"])):
        for col in ("confirmed", "released", "deceased"):
            v = int(r[col])
            prev = last.get((r["province"], col))
            decreases += prev is not None and v < prev
            last[(r["province"], col)] = v
    assert decreases > 0
    assert count(report, "count_decrease") == decreases
