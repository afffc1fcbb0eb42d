"""Investigations of case-management cases over a small generated city (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from epicity.cases.models import CaseContact
from epicity.cases.service import create_case
from epicity.city.generate import CityConfig, generate_city
from epicity.db import make_engine, migrate, session_factory, session_scope
from epicity.privacy.access import LocationAccess
from epicity.privacy.errors import NoActiveEmergency
from epicity.privacy.models import AuditEntry
from epicity.privacy.service import declare_emergency
from epicity.records.ingest import ingest_directory
from epicity.records.store import LocationStore
from epicity.tracing.investigations import (
    CaseNotFound,
    CaseNotTraceable,
    InvestigationConflict,
    InvestigationError,
    approve_warnings,
    close_investigation,
    confirm_stay,
    get_investigation,
    run_investigation,
    warnings_of,
)
from epicity.tracing.models import OutboxMessage
from epicity.tracing.service import investigate, warning_context
from epicity.tracing.warnings import build_warnings

# Small enough to build in a few seconds, with cases that have close and casual contacts.
SMALL_CITY = CityConfig(people=600, days=4, seed=21, seed_infections=40, transmission=2.0)
PURPOSE = "contact tracing of a confirmed case"


@dataclass(frozen=True)
class TracedPerson:
    """A confirmed case of the store with close and casual contacts and a public venue."""

    person_id: int
    confirmed_date: dt.date
    close: int
    casual: int


@dataclass(frozen=True)
class SmallCity:
    store: LocationStore
    person: TracedPerson


def build_small_city(root: Path, config: CityConfig = SMALL_CITY) -> SmallCity:
    """Generate and ingest the small city under `root`; pick a case worth tracing."""
    generate_city(root / "city", config)
    ingest_directory(root / "city", root / "store")
    store = LocationStore(root / "store")
    engine = make_engine(f"sqlite:///{root / 'pick.db'}")
    try:
        migrate(engine)
        sessions = session_factory(engine)
        with session_scope(sessions) as s:
            declare_emergency(s, name="pick", actor="admin")
        access = LocationAccess(store, sessions, actor="picker", role="investigator")
        con = store.connect()
        try:
            rows = con.execute(
                "SELECT person_id, confirmed_date FROM cases ORDER BY person_id"
            ).fetchall()
        finally:
            con.close()
        for person_id, confirmed in rows:
            with access.open(PURPOSE, case_id=int(person_id)) as reader:
                inv = investigate(reader, int(person_id))
                venues, towers = warning_context(reader, inv)
            w = build_warnings(inv, venues, towers=towers)
            tiers = [c.tier for c in inv.contacts]
            if tiers.count("close") and tiers.count("casual") and w.notices:
                person = TracedPerson(
                    int(person_id), confirmed, tiers.count("close"), tiers.count("casual")
                )
                return SmallCity(store, person)
    finally:
        engine.dispose()
    raise AssertionError("no case with close and casual contacts and a public venue")


@pytest.fixture(scope="session")
def small_city(tmp_path_factory: pytest.TempPathFactory) -> SmallCity:
    """The small city, built once per test run."""
    return build_small_city(tmp_path_factory.mktemp("investigation-city"))


@pytest.fixture
def ready(sessions: sessionmaker[Session], small_city: SmallCity) -> int:
    """An emergency in force and a confirmed case for the traced person; the case's id."""
    with session_scope(sessions) as s:
        declare_emergency(s, name="COVID-19", actor="admin")
        case = create_case(
            s,
            actor="investigator-kim",
            status="confirmed",
            person_id=small_city.person.person_id,
            confirmed_date=small_city.person.confirmed_date,
        )
        return case.id


def run(sessions: sessionmaker[Session], store: LocationStore, case_id: int) -> dict[str, int]:
    with session_scope(sessions) as s:
        result = run_investigation(
            s, store, case_id=case_id, actor="investigator-kim", role="investigator",
            purpose=PURPOSE,
        )  # fmt: skip
        return {
            "stays": len(result.investigation.timeline),
            "added": result.contacts_added,
            "queued": result.queued.total_inserted,
            "cancelled": result.queued.total_cancelled,
        }


def contacts(sessions: sessionmaker[Session], case_id: int) -> list[tuple[int | None, str, str]]:
    with sessions() as s:
        return [
            (c.person_id, c.tier, c.origin)
            for c in s.scalars(
                sa.select(CaseContact)
                .where(CaseContact.case_id == case_id)
                .order_by(CaseContact.person_id)
            )
        ]


def test_a_run_stores_the_timeline_adds_contacts_and_queues_warnings_for_approval(
    sessions: sessionmaker[Session], small_city: SmallCity, ready: int
) -> None:
    person = small_city.person
    first = run(sessions, small_city.store, ready)
    assert first["stays"] > 0
    assert first["added"] == person.close + person.casual
    assert first["queued"] > 0
    with sessions() as s:
        inv = get_investigation(s, case_id=ready)
        assert inv is not None
        assert (inv.status, inv.person_id, inv.opened_by) == (
            "open",
            person.person_id,
            "investigator-kim",
        )
        assert inv.purpose == PURPOSE
        assert inv.window_end > inv.window_start
        assert inv.contacts["close"] == person.close
        assert inv.contacts["casual"] == person.casual
        stay = inv.timeline[0]
        assert set(stay) >= {"id", "kind", "name", "lat", "lon", "radius_m", "start", "end"}
        assert set(stay) >= {"sources", "confidence"}
        assert stay["start"].endswith("+09:00")  # the city's local time
        assert any(s["kind"] == "venue" and s["name"] for s in inv.timeline)
        waiting = warnings_of(s, case_id=ready)
        assert len(waiting) == first["queued"]
        assert all(m.status == "pending" and m.approved_at is None for m in waiting)
        reads = s.scalars(
            sa.select(AuditEntry).where(
                AuditEntry.action == "location.read", AuditEntry.case_id == person.person_id
            )
        ).all()
        assert len(reads) == 1
        assert reads[0].purpose == PURPOSE
    got = contacts(sessions, ready)
    assert {origin for _, _, origin in got} == {"tracing"}
    assert [tier for _, tier, _ in got].count("close") == person.close

    # Again: nothing new anywhere, one more audited read.
    again = run(sessions, small_city.store, ready)
    assert (again["added"], again["queued"], again["cancelled"]) == (0, 0, 0)
    assert contacts(sessions, ready) == got
    with sessions() as s:
        inv = get_investigation(s, case_id=ready)
        assert inv is not None
        assert inv.opened_by == "investigator-kim"
        count = s.scalar(
            sa.select(sa.func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "location.read")
        )
        assert count == 2


def test_a_confirmation_changes_the_timeline_and_the_warnings_on_re_run(
    sessions: sessionmaker[Session], small_city: SmallCity, ready: int
) -> None:
    run(sessions, small_city.store, ready)
    with sessions() as s:
        inv = get_investigation(s, case_id=ready)
        assert inv is not None
        venue = next(st for st in inv.timeline if st["kind"] == "venue")
    with session_scope(sessions) as s:
        confirm_stay(
            s, case_id=ready, actor="investigator-kim", action="remove", method="interview",
            reason="the case was at home, the card was lent to a relative",
            stay_id=venue["id"],
        )  # fmt: skip
        start = dt.datetime.fromisoformat(venue["end"]) + dt.timedelta(minutes=5)
        confirm_stay(
            s, case_id=ready, actor="investigator-kim", action="add", method="cctv",
            reason="CCTV at the market entrance", start=start,
            end=start + dt.timedelta(minutes=40), lat=37.5665, lon=126.9780,
        )  # fmt: skip
    after = run(sessions, small_city.store, ready)
    with sessions() as s:
        inv = get_investigation(s, case_id=ready)
        assert inv is not None
        assert venue["id"] not in {st["id"] for st in inv.timeline}
        added = [st for st in inv.timeline if st["sources"] == ["cctv"]]
        assert len(added) == 1
        assert added[0]["confidence"] == 1.0
        assert (added[0]["lat"], added[0]["lon"]) == (37.5665, 126.978)
        assert added[0]["start"] == start.isoformat()
        statuses = {m.status for m in warnings_of(s, case_id=ready)}
    assert after["cancelled"] + after["queued"] > 0  # the warnings followed the timeline
    assert "cancelled" in statuses or after["queued"] > 0


def test_approval_of_all_or_some_warnings(
    sessions: sessionmaker[Session], small_city: SmallCity, ready: int
) -> None:
    run(sessions, small_city.store, ready)
    with session_scope(sessions) as s:
        ids = [m.id for m in warnings_of(s, case_id=ready)]
        one = approve_warnings(s, case_id=ready, actor="officer-park", message_ids=[ids[0]])
        assert [m.id for m in one] == [ids[0]]
        rest = approve_warnings(s, case_id=ready, actor="officer-park")
        assert sorted(m.id for m in rest) == ids[1:]
        assert approve_warnings(s, case_id=ready, actor="officer-park") == []
        rows = warnings_of(s, case_id=ready)
        assert all(m.approved_by == "officer-park" and m.approved_at for m in rows)
        with pytest.raises(InvestigationError, match="message_ids: 999999 not among"):
            approve_warnings(s, case_id=ready, actor="officer-park", message_ids=[999999])
        rows[0].status = "cancelled"
        s.flush()
        with pytest.raises(InvestigationError, match="no longer pending"):
            approve_warnings(s, case_id=ready, actor="officer-park", message_ids=[ids[0]])
        with pytest.raises(InvestigationError, match="actor"):
            approve_warnings(s, case_id=ready, actor=" ")


def test_refusals_name_the_problem(
    sessions: sessionmaker[Session], small_city: SmallCity, ready: int
) -> None:
    store = small_city.store
    with session_scope(sessions) as s:
        no_person = create_case(
            s, actor="kim", status="confirmed", confirmed_date=small_city.person.confirmed_date
        ).id
        suspected = create_case(s, actor="kim", person_id=small_city.person.person_id).id
    with pytest.raises(CaseNotTraceable, match="person_id"):
        run(sessions, store, no_person)
    with pytest.raises(CaseNotTraceable, match="confirmed_date"):
        run(sessions, store, suspected)
    with pytest.raises(CaseNotFound, match="case_id"):
        run(sessions, store, 987654)
    with pytest.raises(CaseNotTraceable, match="person_id"), session_scope(sessions) as s:
        confirm_stay(
            s, case_id=no_person, actor="kim", action="remove", method="cctv", reason="r",
            stay_id="x",
        )  # fmt: skip
    with pytest.raises(InvestigationError, match="stay_id"), session_scope(sessions) as s:
        confirm_stay(s, case_id=ready, actor="kim", action="correct", method="cctv", reason="r")
    with pytest.raises(InvestigationError, match="no stay 'v1'"), session_scope(sessions) as s:
        confirm_stay(
            s, case_id=ready, actor="kim", action="remove", method="cctv", reason="r",
            stay_id="v1",
        )  # fmt: skip

    run(sessions, store, ready)
    with session_scope(sessions) as s:
        closed = close_investigation(s, case_id=ready, actor="officer-park")
        assert (closed.status, closed.closed_by) == ("closed", "officer-park")
    with pytest.raises(InvestigationConflict, match="closed"):
        run(sessions, store, ready)


def test_no_emergency_no_read(sessions: sessionmaker[Session], small_city: SmallCity) -> None:
    with session_scope(sessions) as s:
        case_id = create_case(
            s,
            actor="kim",
            status="confirmed",
            person_id=small_city.person.person_id,
            confirmed_date=small_city.person.confirmed_date,
        ).id
    with pytest.raises(NoActiveEmergency):
        run(sessions, small_city.store, case_id)
    with sessions() as s:
        assert get_investigation(s, case_id=case_id) is None
        assert s.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 0
        denied = s.scalars(sa.select(AuditEntry.action)).all()
        assert denied == ["location.denied"]
