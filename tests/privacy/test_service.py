"""Emergency declarations and the audit log (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from epicity.db import session_scope, utcnow
from epicity.privacy import service
from epicity.privacy.errors import EmergencyConflict, NoActiveEmergency, PrivacyError
from epicity.privacy.models import AuditEntry, Emergency
from epicity.privacy.service import (
    active_emergency,
    audit,
    audit_entries,
    declare_emergency,
    end_emergency,
)

SEOUL = dt.timezone(dt.timedelta(hours=9))
T0 = dt.datetime(2020, 2, 23, 0, 0, tzinfo=SEOUL)  # "serious" alert level in Korea, 2020
HOUR = dt.timedelta(hours=1)
US = dt.timedelta(microseconds=1)


def test_declare_with_defaults(session: Session) -> None:
    before = utcnow()
    e = declare_emergency(session, name="COVID-19", actor="kim", reason="Infectious Disease Act")
    assert e.id is not None
    assert (e.name, e.area, e.declared_by, e.reason) == (
        "COVID-19",
        "Seoul",
        "kim",
        "Infectious Disease Act",
    )
    assert before <= e.starts_at <= utcnow()
    assert e.starts_at == e.declared_at
    assert e.ends_at is None
    assert e.ended_at is None
    assert e.ended_by is None
    assert active_emergency(session) == e
    [entry] = audit_entries(session)
    assert (entry.action, entry.actor, entry.role, entry.emergency_id) == (
        "emergency.declare",
        "kim",
        "admin",
        e.id,
    )
    assert entry.purpose == "Infectious Disease Act"
    assert entry.detail is not None
    assert entry.detail["name"] == "COVID-19"


def test_declared_times_are_stored_in_utc(sessions: sessionmaker[Session]) -> None:
    with session_scope(sessions) as s:
        e = declare_emergency(s, name="x", actor="kim", starts_at=T0, ends_at=T0 + 24 * HOUR)
        emergency_id = e.id
    with sessions() as s:
        e = s.get_one(Emergency, emergency_id)
        assert e.starts_at == T0
        assert e.starts_at.utcoffset() == dt.timedelta(0)
        assert e.ends_at == T0 + 24 * HOUR


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": ""}, "emergency name must not be empty"),
        ({"name": "   "}, "emergency name must not be empty"),
        ({"name": "x" * 201}, "emergency name is longer than 200 characters"),
        ({"area": ""}, "area must not be empty"),
        ({"actor": " "}, "actor must not be empty"),
        ({"role": "janitor"}, "unknown role 'janitor'"),
        ({"starts_at": T0, "ends_at": T0}, "must be after start"),
        ({"starts_at": T0, "ends_at": T0 - HOUR}, "must be after start"),
        ({"ends_at": dt.datetime(2020, 3, 1, tzinfo=dt.UTC)}, r"must be after start .* \(now\)"),
        ({"starts_at": dt.datetime(2020, 3, 1)}, "has no time zone"),
    ],
)
def test_declare_refuses_bad_input(
    session: Session, kwargs: dict[str, object], message: str
) -> None:
    args: dict[str, object] = {"name": "COVID-19", "actor": "kim", **kwargs}
    with pytest.raises(PrivacyError, match=message):
        declare_emergency(session, **args)
    assert session.scalars(sa.select(Emergency)).all() == []
    assert audit_entries(session) == []


def test_same_name_twice_conflicts(session: Session) -> None:
    first = declare_emergency(session, name="COVID-19", actor="kim")
    with pytest.raises(
        EmergencyConflict, match=rf"'COVID-19' is already declared \(id {first.id},"
    ):
        declare_emergency(session, name="COVID-19", actor="lee")
    declare_emergency(session, name="MERS", actor="lee")  # another name is fine


def test_same_name_conflicts_with_a_scheduled_overlap_not_a_later_one(session: Session) -> None:
    declare_emergency(session, name="drill", actor="kim", starts_at=T0, ends_at=T0 + 2 * HOUR)
    with pytest.raises(EmergencyConflict):
        declare_emergency(session, name="drill", actor="kim", starts_at=T0 + HOUR)
    with pytest.raises(EmergencyConflict):
        declare_emergency(session, name="drill", actor="kim", starts_at=T0 - HOUR, ends_at=T0 + US)
    # back to back: [T0, T0+2h) then [T0+2h, ...)
    declare_emergency(session, name="drill", actor="kim", starts_at=T0 + 2 * HOUR)
    declare_emergency(session, name="drill", actor="kim", starts_at=T0 - HOUR, ends_at=T0)


def test_same_name_again_after_ending(session: Session) -> None:
    first = declare_emergency(session, name="COVID-19", actor="kim")
    end_emergency(session, name="COVID-19", actor="kim")
    second = declare_emergency(session, name="COVID-19", actor="kim")
    assert second.id != first.id
    assert active_emergency(session) == second


def test_active_between_start_and_planned_end(session: Session) -> None:
    e = declare_emergency(session, name="x", actor="kim", starts_at=T0, ends_at=T0 + HOUR)
    assert active_emergency(session, at=T0 - US) is None
    assert active_emergency(session, at=T0) == e
    assert active_emergency(session, at=T0 + HOUR - US) == e
    assert active_emergency(session, at=T0 + HOUR) is None
    assert active_emergency(session) is None  # 2020 is long past
    assert e.active_at(T0)
    assert not e.active_at(T0 + HOUR)


def test_active_until_ended(session: Session) -> None:
    e = declare_emergency(session, name="x", actor="kim", starts_at=T0)
    assert active_emergency(session) == e
    ended = end_emergency(session, emergency_id=e.id, actor="lee", at=T0 + 3 * HOUR)
    assert (ended.ended_by, ended.ended_at) == ("lee", T0 + 3 * HOUR)
    assert ended.ends_at is None  # the planned end is kept as declared
    assert active_emergency(session, at=T0 + 3 * HOUR - US) == e  # the past stays as it was
    assert active_emergency(session, at=T0 + 3 * HOUR) is None
    assert active_emergency(session) is None
    entry = audit_entries(session)[-1]
    assert (entry.action, entry.actor, entry.emergency_id) == ("emergency.end", "lee", e.id)


def test_active_naive_time_is_refused(session: Session) -> None:
    with pytest.raises(PrivacyError, match="no time zone"):
        active_emergency(session, at=dt.datetime(2020, 3, 1))


def test_latest_started_wins_when_several_are_in_force(session: Session) -> None:
    declare_emergency(session, name="national", actor="kim", starts_at=T0)
    seoul = declare_emergency(session, name="seoul", actor="kim", starts_at=T0 + HOUR)
    national = active_emergency(session, at=T0 + 30 * dt.timedelta(minutes=1))
    assert national is not None
    assert national.name == "national"
    assert active_emergency(session, at=T0 + 2 * HOUR) == seoul


def test_end_by_name_takes_the_current_one(session: Session) -> None:
    old = declare_emergency(session, name="x", actor="kim", starts_at=T0, ends_at=T0 + HOUR)
    current = declare_emergency(session, name="x", actor="kim", starts_at=T0 + 2 * HOUR)
    assert end_emergency(session, name="x", actor="kim") == current
    assert old.ended_at is None


def test_end_refusals(session: Session) -> None:
    with pytest.raises(NoActiveEmergency, match="no current emergency named 'x'"):
        end_emergency(session, name="x", actor="kim")
    with pytest.raises(NoActiveEmergency, match="no emergency with id 99"):
        end_emergency(session, emergency_id=99, actor="kim")
    e = declare_emergency(session, name="x", actor="kim")
    with pytest.raises(PrivacyError, match="exactly one of emergency_id and name"):
        end_emergency(session, actor="kim")
    with pytest.raises(PrivacyError, match="exactly one of emergency_id and name"):
        end_emergency(session, emergency_id=e.id, name="x", actor="kim")
    end_emergency(session, emergency_id=e.id, actor="kim")
    with pytest.raises(EmergencyConflict, match=r"'x' \(id \d+\) was already ended at .* by kim"):
        end_emergency(session, emergency_id=e.id, actor="kim")
    past = declare_emergency(session, name="y", actor="kim", starts_at=T0, ends_at=T0 + HOUR)
    with pytest.raises(EmergencyConflict, match="is already over"):
        end_emergency(session, emergency_id=past.id, actor="kim")


def test_audit_entries_in_order_with_every_field(session: Session) -> None:
    e = declare_emergency(session, name="x", actor="kim")
    first = audit(
        session,
        actor="park",
        role="investigator",
        action="location.read",
        purpose="contact tracing of case 17",
        case_id=17,
        emergency_id=e.id,
        tables=["gps", "cell", "gps", " "],
        rows_returned=42,
        detail={"seconds": 0.5, "queries": 2},
    )
    second = audit(session, actor="system", role="system", action="location.read", case_id=18)
    entries = audit_entries(session)
    assert [x.id for x in entries] == sorted(x.id for x in entries)
    assert entries[-2:] == [first, second]
    assert first.at <= second.at
    assert first.at.tzinfo is not None
    got = session.get_one(AuditEntry, first.id)
    assert (
        got.actor, got.role, got.action, got.purpose, got.case_id, got.emergency_id,
        got.tables, got.table_list, got.rows_returned, got.detail,
    ) == (
        "park", "investigator", "location.read", "contact tracing of case 17", 17, e.id,
        "gps,cell", ["gps", "cell"], 42, {"seconds": 0.5, "queries": 2},
    )  # fmt: skip
    assert (second.purpose, second.tables, second.rows_returned, second.detail) == (
        None,
        "",
        0,
        None,
    )
    assert audit_entries(session, case_id=17) == [first]
    assert audit_entries(session, limit=2) == [first, second]
    assert audit_entries(session, limit=1) == [second]
    assert audit_entries(session, case_id=99) == []


def test_audit_refuses_bad_input(session: Session) -> None:
    with pytest.raises(PrivacyError, match="unknown role 'root'"):
        audit(session, actor="kim", role="root", action="x")
    with pytest.raises(PrivacyError, match="action must not be empty"):
        audit(session, actor="kim", role="admin", action="")
    with pytest.raises(PrivacyError, match="rows_returned must not be negative"):
        audit(session, actor="kim", role="admin", action="x", rows_returned=-1)


def test_audit_entries_survive_commit(sessions: sessionmaker[Session]) -> None:
    with session_scope(sessions) as s:
        audit(s, actor="kim", role="admin", action="x", detail={"k": [1, "two"]})
    with sessions() as s:
        [entry] = audit_entries(s)
        assert entry.detail == {"k": [1, "two"]}


def test_the_service_offers_no_update_or_delete_of_audit_entries() -> None:
    names = {n for n in dir(service) if not n.startswith("_")}
    assert not {n for n in names if "audit" in n} - {"audit", "audit_entries", "AuditEntry"}


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_log SET actor = 'someone else'", "DELETE FROM audit_log"],
)
def test_the_database_refuses_to_change_the_audit_log(
    sessions: sessionmaker[Session], statement: str
) -> None:
    with session_scope(sessions) as s:
        audit(s, actor="kim", role="admin", action="x")
    with pytest.raises(DBAPIError, match="append-only"), session_scope(sessions) as s:
        s.execute(sa.text(statement))
    with sessions() as s:
        assert [e.actor for e in audit_entries(s)] == ["kim"]
