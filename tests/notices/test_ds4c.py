"""DS4C public routes as place notices: tracing's rules applied, atomic and idempotent import,
the command, and the real file (``realdata``)."""

from __future__ import annotations

import csv
import datetime as dt
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from epicity.cli import app
from epicity.notices.ds4c import import_routes, read_routes
from epicity.notices.errors import SourceError
from epicity.notices.models import PublicNoticeRow
from epicity.notices.service import ZONE, count_visible, day_end, visible_notices

HEADER = ("patient_id", "global_num", "date", "province", "city", "type", "latitude", "longitude")
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _csv(path: Path, rows: list[tuple[str, ...]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        w = csv.writer(handle)
        w.writerow(HEADER)
        w.writerows(rows)
    return path


ROWS = [
    # two patients at one cafe on 03-05: one notice; the same cafe on 03-06: merged (touching)
    ("1", "1", "2020-03-05", "Seoul", "Guro-gu", "cafe", "37.5", "126.9"),
    ("2", "2", "2020-03-05", "Seoul", "Guro-gu", "cafe", "37.5", "126.9"),
    ("2", "2", "2020-03-06", "Seoul", "Guro-gu", "cafe", "37.5", "126.9"),
    ("3", "3", "2020-03-10", "Seoul", "Mapo-gu", "park", "37.55", "126.91"),
    ("3", "3", "2020-03-10", "Seoul", "Mapo-gu", "etc", "37.56", "126.92"),  # maybe a home
    ("4", "4", "2020-03-11", "Seoul", "Mapo-gu", "home", "37.57", "126.93"),  # tracing's rule
    ("5", "5", "2020-03-11", "Seoul", "Jung-gu", "administrative_area_level_1", "37.5", "127"),
    ("6", "6", "2020-03-11", "Busan", "Jung-gu", "restaurant", "35.1", "129.0"),  # not Seoul
    ("7", "7", "2020-02-30", "Seoul", "Mapo-gu", "store", "37.5", "126.9"),  # no such date
    ("8", "8", "2020-03-12", "Seoul", "Gotham-gu", "store", "37.5", "126.9"),  # no district
]


def test_the_rules_of_tracing_are_applied(tmp_path: Path) -> None:
    notices, report = read_routes(_csv(tmp_path / "PatientRoute.csv", ROWS))
    assert report.rows == len(ROWS)
    assert report.outside == 1
    assert sum(report.withheld.values()) == 3  # etc, home, province-level point
    assert report.withheld["private place (home)"] == 1
    assert report.skipped == Counter({"bad date or coordinates": 1, "district not in Seoul": 1})
    by_kind = {n.category: n for _, n in notices}
    assert sorted(by_kind) == ["cafe", "park"]
    cafe, park = by_kind["cafe"], by_kind["park"]
    # whole local days; consecutive days merged; expiry 14 days after the end
    assert cafe.start == dt.datetime(2020, 3, 5, tzinfo=ZONE)
    assert cafe.end == dt.datetime(2020, 3, 7, tzinfo=ZONE)
    assert cafe.expires == dt.datetime(2020, 3, 21, tzinfo=ZONE)
    assert cafe.disinfection_advised
    assert not park.disinfection_advised  # outdoors
    assert report.multi_day == 1


def test_the_import_is_idempotent_and_replaces(session: Session, tmp_path: Path) -> None:
    path = _csv(tmp_path / "PatientRoute.csv", ROWS)
    first = import_routes(session, path, now=NOW)
    assert (first.added, first.removed) == (2, 0)
    again = import_routes(session, path, now=NOW)
    assert (again.added, again.removed, again.unchanged) == (0, 0, 2)
    assert not again.changed
    rows = session.scalars(select(PublicNoticeRow).order_by(PublicNoticeRow.starts_at)).all()
    assert [(r.source, r.venue_name, r.time_known, r.address) for r in rows] == [
        ("ds4c", None, False, None),
        ("ds4c", None, False, None),
    ]
    # the park row dropped from the file: its notice goes
    fewer = _csv(tmp_path / "fewer.csv", ROWS[:3])
    third = import_routes(session, fewer, now=NOW)
    assert (third.added, third.removed) == (0, 1)


def test_as_of_shows_the_historical_notices(session: Session, tmp_path: Path) -> None:
    import_routes(session, _csv(tmp_path / "PatientRoute.csv", ROWS), now=NOW)
    assert count_visible(session, as_of=NOW) == 0  # all expired long ago
    assert count_visible(session, as_of=day_end(dt.date(2020, 3, 11)), source="ds4c") == 2
    assert count_visible(session, as_of=day_end(dt.date(2020, 3, 10))) == 1  # park: not yet
    # the cafe's notice ended 03-07 00:00, expired 03-21 00:00
    assert count_visible(session, as_of=day_end(dt.date(2020, 3, 20))) == 2
    assert count_visible(session, as_of=day_end(dt.date(2020, 3, 21))) == 1
    (park,) = visible_notices(session, as_of=day_end(dt.date(2020, 3, 21)))
    assert park.category == "park"
    # not visible before the visit ended (its disclosure cannot precede it)
    assert count_visible(session, as_of=day_end(dt.date(2020, 3, 9))) == 1


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "is empty"),
        ("patient_id,date,province,city,type,latitude\n", "longitude"),
    ],
)
def test_a_bad_file_is_refused_and_nothing_stored(
    session: Session, tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "PatientRoute.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SourceError, match=problem):
        import_routes(session, path, now=NOW)
    assert session.scalar(select(func.count()).select_from(PublicNoticeRow)) == 0


def test_the_command(db_url: str, tmp_path: Path) -> None:
    path = _csv(tmp_path / "PatientRoute.csv", ROWS)
    runner = CliRunner()
    first = runner.invoke(app, ["import", "ds4c-routes", "--path", str(path), "--db", db_url])
    assert first.exit_code == 0, first.output
    assert "2 new" in first.output
    again = runner.invoke(app, ["import", "ds4c-routes", "--path", str(tmp_path), "--db", db_url])
    assert again.exit_code == 0, again.output
    assert "nothing new" in again.output
    missing = runner.invoke(
        app, ["import", "ds4c-routes", "--path", str(tmp_path / "no.csv"), "--db", db_url]
    )
    assert missing.exit_code == 2
    assert "--path" in missing.output
    (tmp_path / "bad.csv").write_text("date,type\n2020-03-01,cafe\n", encoding="utf-8")
    bad = runner.invoke(
        app, ["import", "ds4c-routes", "--path", str(tmp_path / "bad.csv"), "--db", db_url]
    )
    assert bad.exit_code == 2
    assert "lacks the column" in bad.output


@pytest.mark.realdata
@pytest.mark.slow
def test_the_real_routes(real_data: Path, session: Session) -> None:
    path = real_data / "ds4c" / "PatientRoute.csv"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    report = import_routes(session, path, now=NOW)
    # counts of the published file (8,092 rows, 3,675 in Seoul, 863 of them 'etc')
    assert report.rows == 8092
    assert report.outside == 4417
    assert sum(report.withheld.values()) == 863
    assert sum(report.skipped.values()) == 0
    assert report.added == report.notices > 1000
    again = import_routes(session, path, now=NOW)
    assert (again.added, again.removed, again.unchanged) == (0, 0, report.notices)
    rows = session.scalars(select(PublicNoticeRow)).all()
    assert {r.category for r in rows}.isdisjoint({"etc", "home", "administrative_area_level_1"})
    for r in rows:
        start, end = r.starts_at.astimezone(ZONE), r.ends_at.astimezone(ZONE)
        assert (start.hour, start.minute, end.hour, end.minute) == (0, 0, 0, 0)  # whole days
        assert r.expires_at == r.ends_at + dt.timedelta(days=14)
        assert r.venue_name is None
        assert r.address is None
    # the historical example: what was visible on 2020-03-20
    assert count_visible(session, as_of=day_end(dt.date(2020, 3, 20)), source="ds4c") > 100
