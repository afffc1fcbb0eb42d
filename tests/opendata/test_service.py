"""Publishing the daily figures on both backends: what they count, revisions and corrections,
idempotency, the protected breakdown, bad input and the scheduled job."""

from __future__ import annotations

import datetime as dt
import threading

import anyio
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from tests.opendata.seed import AS_OF, NOW, day, seed

from epicity.cases import service as cases
from epicity.cases.models import Case
from epicity.db import session_scope
from epicity.opendata import service
from epicity.opendata.errors import Conflict, OpendataError
from epicity.opendata.models import BreakdownCell, Figure, Publication


def _published(session: Session) -> Publication:
    seed(session)
    p = service.publish(session, as_of=AS_OF, actor="officer", now=NOW, note="first")
    session.commit()
    return p


def _fig(session: Session, area: str, n: int) -> service.FigureRow:
    rows = service.current_figures(session, area=area, start=day(n), end=day(n))
    assert len(rows) == 1
    return rows[0]


def _count(session: Session, model: type[Figure] | type[BreakdownCell] | type[Publication]) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_figures_from_cases_isolation_and_tests(session: Session) -> None:
    p = _published(session)
    assert (p.as_of, p.published_by, p.note, p.figures_corrected) == (AS_OF, "officer", "first", 0)
    assert p.figures_added == 7 * 26  # 7 days x (city + 25 districts)
    # cases: the city counts the case without a district; Daegu's and the suspected are out
    city = [_fig(session, "city", n) for n in range(1, 8)]
    assert [r.confirmed_new for r in city] == [3, 8, 2, 0, 0, 0, 0]
    assert [r.confirmed_total for r in city] == [3, 11, 13, 13, 13, 13, 13]
    assert [r.deaths_new for r in city] == [0, 0, 0, 1, 0, 0, 0]
    assert [r.released_total for r in city] == [0, 0, 0, 0, 1, 1, 1]
    mapo = [_fig(session, "Mapo-gu", n) for n in range(1, 8)]
    assert [r.confirmed_total for r in mapo] == [3, 5, 5, 5, 5, 5, 5]
    assert mapo[3].deaths_new == 1
    assert _fig(session, "Guro-gu", 2).confirmed_new == 6
    assert _fig(session, "Guro-gu", 5).released_new == 1
    assert _fig(session, "Gangnam-gu", 3).confirmed_new == 1  # stored as 강남구
    districts = service.current_figures(session, start=day(7), end=day(7))[1:]
    assert sum(r.confirmed_total for r in districts) == 12  # the 13th has no district
    # isolation: Mapo-gu's registration has an address there; the others count in the city
    assert [r.in_isolation for r in city] == [1, 3, 3, 2, 1, 1, 1]
    assert [r.in_isolation for r in mapo] == [1] * 7
    # tests: by the local day of the result and the centre's district (Incheon: city only)
    assert [r.tests_new for r in city] == [0, 0, 41, 3, 0, 0, 0]
    assert [r.positives_new for r in city] == [0, 0, 4, 1, 0, 0, 0]
    assert city[-1].tests_total == 44
    guro = [_fig(session, "Guro-gu", n) for n in range(1, 8)]
    assert [r.tests_new for r in guro] == [0, 0, 41, 2, 0, 0, 0]
    # positivity over 7 days: positives / (positives + negatives), None below 30 such tests
    assert city[1].positivity_7d is None
    assert city[2].positivity_7d == pytest.approx(4 / 40)
    assert city[3].positivity_7d == pytest.approx(round(5 / 43, 4))
    assert guro[3].positivity_7d == pytest.approx(round(4 / 42, 4))
    assert _fig(session, "Jongno-gu", 4).positivity_7d is None
    assert {(r.revision, r.publication_id, r.published_at) for r in city} == {(1, p.id, NOW)}


def test_rows_are_ordered_by_day_then_area_city_first_and_paginated(session: Session) -> None:
    _published(session)
    rows = service.current_figures(session, limit=30, offset=0)
    assert [(r.day, r.area) for r in rows[:2]] == [(day(1), "city"), (day(1), "Dobong-gu")]
    assert rows[26].area == "city"
    assert rows[26].day == day(2)
    assert service.areas()[1:] == sorted(service.areas()[1:])
    assert service.count_figures(session) == 7 * 26
    assert service.count_figures(session, area="Mapo-gu", start=day(3)) == 5
    page = service.current_figures(session, area="Mapo-gu", limit=2, offset=4)
    assert [r.day for r in page] == [day(5), day(6)]


def test_publishing_twice_stores_nothing_new_and_the_next_day_only_its_rows(
    session: Session,
) -> None:
    p = _published(session)
    counts = (_count(session, Figure), _count(session, BreakdownCell))
    again = service.publish(session, as_of=AS_OF, actor="someone else", now=NOW, note="again")
    assert again.id == p.id
    assert (_count(session, Figure), _count(session, BreakdownCell)) == counts
    assert _count(session, Publication) == 1
    nxt = service.publish(session, as_of=day(8), actor="officer", now=NOW + dt.timedelta(days=1))
    assert (nxt.figures_added, nxt.figures_corrected) == (26, 0)
    assert service.latest_publication(session) == nxt


def test_a_correction_is_a_new_visible_revision_and_history_stays(session: Session) -> None:
    first = _published(session)
    # the investigation finds that case m3 (Mapo-gu, day 1) lives in Guro-gu
    case = session.scalars(select(Case).where(Case.external_ref == "m3")).one()
    case.district = "Guro-gu"
    later = NOW + dt.timedelta(hours=5)
    p = service.publish(
        session, as_of=AS_OF, actor="officer", now=later, note="m3 lives in Guro-gu"
    )
    assert p.id != first.id
    assert p.figures_added == 0
    assert p.figures_corrected == 2 * 7  # Mapo-gu's and Guro-gu's totals, days 1-7
    now_mapo = _fig(session, "Mapo-gu", 1)
    assert (now_mapo.confirmed_new, now_mapo.revision, now_mapo.note) == (
        2,
        2,
        "m3 lives in Guro-gu",
    )
    assert now_mapo.published_at == later
    history = service.revisions(session, day=day(1), area="Mapo-gu")
    assert [(r.revision, r.confirmed_new, r.note) for r in history] == [
        (1, 3, "first"),
        (2, 2, "m3 lives in Guro-gu"),
    ]
    assert history[0].published_at == NOW  # the old revision is still there, unchanged
    assert _fig(session, "city", 1).revision == 1  # the city's figures did not change
    assert service.revisions(session, day=day(1), area="Jongno-gu")[0].revision == 1
    # a correction without a note gets one saying what changed
    case = session.scalars(select(Case).where(Case.external_ref == "k1")).one()
    case.confirmed_date = day(4)
    unexplained = service.publish(session, as_of=AS_OF, actor="officer", now=later)
    assert unexplained.note.startswith("correction: ")
    assert "2020-03-03 to 2020-03-04" in unexplained.note


def test_the_breakdown_of_a_few_cases_hides_what_would_give_them_away(session: Session) -> None:
    _published(session)  # 13 cases, nearly all small counts
    rows = service.breakdown(session, dimension="district_age")
    assert {r.day for r in rows} == {AS_OF}
    cells = {(r.district, r.age_band): r for r in rows}
    assert len(cells) == (25 + 2) * (len(service.AGE_BANDS) + 2)
    for r in rows:
        if r.value is not None and r.age_band != "all":
            assert not 1 <= r.value <= 4, r
    # Gangnam-gu's one case (60s): the row total is 1, so zeros of its row are hidden too
    gangnam = [r for r in rows if r.district == "Gangnam-gu" and r.age_band != "all"]
    assert sum(r.suppressed for r in gangnam) >= 2
    # district totals are the published confirmed totals; the grand total is the city's
    assert cells[("Mapo-gu", "all")].value == 5
    assert cells[("unknown", "all")].value == 1
    assert cells[("all", "all")].value == 13


def test_the_breakdown_hides_small_counts_and_keeps_the_totals(session: Session) -> None:
    seed(session)
    for i, (district, age) in enumerate(
        [("Mapo-gu", "20s")] * 20 + [("Guro-gu", "40s")] * 20 + [("Guro-gu", "20s")] * 12
        + [("Mapo-gu", "40s")] * 9 + [("Songpa-gu", "20s")] * 8 + [("Songpa-gu", "40s")] * 7
    ):  # fmt: skip
        cases.create_case(
            session, actor="t", status="confirmed", external_ref=f"b{i}", district=district,
            province="Seoul", age_group=age, confirmed_date=day(5),
        )  # fmt: skip
    service.publish(session, as_of=AS_OF, actor="officer", now=NOW)
    rows = service.breakdown(session, dimension="district_age")
    assert service.breakdown(session, dimension="district_age", day=AS_OF) == rows
    assert service.breakdown(session, dimension="district_age", day=day(2)) == []
    cells = {(r.district, r.age_band): r for r in rows}
    for r in rows:
        assert r.suppressed == (r.value is None)
        if r.value is not None and r.age_band != "all":
            assert not 1 <= r.value <= 4, r
    assert cells[("Mapo-gu", "30-39")].suppressed  # 1 case
    assert cells[("Mapo-gu", "80-89")].suppressed  # 1 case
    assert cells[("Mapo-gu", "all")].value == 5 + 29
    assert cells[("Jongno-gu", "20-29")].value == 0  # zeros identify no one
    assert cells[("Songpa-gu", "20-29")].value == 8  # nothing small near it
    assert cells[("all", "40-49")].value == 6 + 20 + 9 + 7
    shown = [r for r in rows if r.value and r.age_band != "all" and r.district != "all"]
    assert len(shown) >= 2


def test_bad_input_is_refused(session: Session) -> None:
    with pytest.raises(Conflict, match="as_of: nothing to publish"):
        service.publish(session, as_of=AS_OF, actor="officer", now=NOW)
    seed(session)
    with pytest.raises(OpendataError, match="as_of: 2020-03-09 is in the future"):
        service.publish(session, as_of=day(9), actor="officer", now=NOW)
    with pytest.raises(OpendataError, match="note: at most 1000"):
        service.publish(session, as_of=AS_OF, actor="officer", now=NOW, note="x" * 1001)
    with pytest.raises(OpendataError, match="actor: required"):
        service.publish(session, as_of=AS_OF, actor=" ", now=NOW)
    with pytest.raises(OpendataError, match="now: must be timezone-aware"):
        service.publish(session, as_of=AS_OF, actor="o", now=dt.datetime(2020, 3, 8))
    with pytest.raises(OpendataError, match="area: unknown area 'Atlantis'"):
        service.current_figures(session, area="Atlantis")
    with pytest.raises(OpendataError, match="area: unknown area"):
        service.revisions(session, day=AS_OF, area="mapo")
    with pytest.raises(OpendataError, match="start: 2020-03-07 is after end"):
        service.count_figures(session, start=AS_OF, end=day(1))
    with pytest.raises(OpendataError, match="offset: must be 0 or more"):
        service.current_figures(session, offset=-1)
    with pytest.raises(OpendataError, match="dimension: unknown breakdown 'age'"):
        service.breakdown(session, dimension="age")
    assert _count(session, Publication) == 0


def test_the_age_bands_of_stored_age_groups() -> None:
    assert [service.age_band(a) for a in ("0s", "20s", "20대", "90s", "100s")] == [
        "0-9",
        "20-29",
        "20-29",
        "90+",
        "90+",
    ]
    assert service.age_band(None) == service.age_band("adult") == "unknown"


def test_the_schedule_is_off_by_default_and_validated() -> None:
    assert service.publish_interval({}) is None
    assert service.publish_interval({"EPICITY_PUBLISH_EVERY": "0"}) is None
    assert service.publish_interval({"EPICITY_PUBLISH_EVERY": "3600"}) == 3600
    with pytest.raises(OpendataError, match="EPICITY_PUBLISH_EVERY: 'hourly' is not"):
        service.publish_interval({"EPICITY_PUBLISH_EVERY": "hourly"})
    with pytest.raises(OpendataError, match="outside 60 to 604800"):
        service.publish_interval({"EPICITY_PUBLISH_EVERY": "5"})


def test_two_workers_publishing_at_once_store_one_publication(
    sessions: sessionmaker[Session],
) -> None:
    with session_scope(sessions) as s:
        seed(s)
    results: list[int | None] = []
    barrier = threading.Barrier(2)

    def worker() -> None:
        barrier.wait()
        p = service.publish_once(sessions, actor="worker", now=NOW + dt.timedelta(days=1))
        results.append(p.id if p else None)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    with sessions() as s:
        assert _count(s, Publication) == 1
        assert service.count_figures(s) == 8 * 26  # as of yesterday: day 8
    assert results.count(None) <= 1
    assert len({r for r in results if r is not None}) == 1


def test_the_lifespan_publishes_when_configured(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    recent = dt.date.today() - dt.timedelta(days=3)
    with session_scope(sessions) as s:
        cases.create_case(
            s, actor="t", status="confirmed", external_ref="r1", district="Mapo-gu",
            province="Seoul", confirmed_date=recent,
        )  # fmt: skip

    class State:
        pass

    class App:
        state = State()

    App.state.sessions = sessions  # type: ignore[attr-defined]

    async def run(env: str | None) -> None:
        if env is None:
            monkeypatch.delenv("EPICITY_PUBLISH_EVERY", raising=False)
        else:
            monkeypatch.setenv("EPICITY_PUBLISH_EVERY", env)
        async with service.publishing_lifespan(App()):
            with anyio.move_on_after(30):
                while True:
                    with sessions() as s:
                        if service.latest_publication(s) is not None:
                            break
                    await anyio.sleep(0.05)
                    if env is None:
                        break

    anyio.run(run, None)
    with sessions() as s:
        assert service.latest_publication(s) is None  # off by default
    anyio.run(run, "3600")
    with sessions() as s:
        p = service.latest_publication(s)
        assert p is not None
        assert p.published_by == "scheduler"
        row = service.current_figures(s, area="Mapo-gu", start=recent, end=recent)
        assert row[0].confirmed_new == 1


def test_publish_latest_publishes_as_of_the_last_day_with_data(session: Session) -> None:
    assert service.publish_latest(session, actor="demo", now=NOW) is None
    seed(session)
    p = service.publish_latest(session, actor="demo", now=NOW + dt.timedelta(days=30))
    assert p is not None
    assert p.as_of == day(5)  # g0's release: the last case date; results end on day 4
