"""The access layer: emergency, purpose and role checks, and one audit entry per reader."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from sqlalchemy.orm import Session, sessionmaker

from epicity.db import session_scope
from epicity.privacy.access import LocationAccess, LocationReader
from epicity.privacy.errors import (
    AccessDenied,
    NoActiveEmergency,
    PrivacyError,
    PurposeRequired,
    QueryRefused,
)
from epicity.privacy.models import AuditEntry
from epicity.privacy.service import audit_entries, declare_emergency, end_emergency
from epicity.records.store import LocationStore

PURPOSE = "contact tracing of confirmed case 17"
T0 = dt.datetime(2020, 2, 23, tzinfo=dt.UTC)


@pytest.fixture
def emergency_id(sessions: sessionmaker[Session]) -> int:
    """An emergency in force from now on."""
    with session_scope(sessions) as s:
        return declare_emergency(s, name="COVID-19", actor="mayor").id


def _access(
    store: LocationStore, sessions: sessionmaker[Session], role: str = "investigator"
) -> LocationAccess:
    return LocationAccess(store, sessions, actor="park", role=role)


def _reads(sessions: sessionmaker[Session]) -> list[AuditEntry]:
    with sessions() as s:
        return [e for e in audit_entries(s) if e.action.startswith("location.")]


@pytest.fixture
def untouchable(store: LocationStore, monkeypatch: pytest.MonkeyPatch) -> LocationStore:
    """The store, made to fail the test if anything opens it."""

    def connect() -> duckdb.DuckDBPyConnection:
        raise AssertionError("the store was opened")

    monkeypatch.setattr(store, "connect", connect)
    return store


def test_one_audit_entry_per_reader_with_rows_and_tables(
    store: LocationStore, sessions: sessionmaker[Session], emergency_id: int
) -> None:
    access = _access(store, sessions)
    with access.open(PURPOSE, case_id=17) as reader:
        fixes = reader.query("SELECT * FROM gps WHERE person_id = ? ORDER BY ts", [1])
        towers = reader.query(
            "SELECT c.person_id, t.lat FROM cell c JOIN towers t USING (tower_id) "
            "WHERE c.person_id = $person",
            {"person": 2},
        )
        assert _reads(sessions) == []  # written on leaving the block
    assert isinstance(fixes, pa.Table)
    assert fixes.num_rows == 3
    assert fixes.column_names[:2] == ["person_id", "ts"]
    assert towers.to_pylist() == [{"person_id": 2, "lat": 37.5}]
    [entry] = _reads(sessions)
    assert entry.action == "location.read"
    assert (entry.actor, entry.role, entry.purpose, entry.case_id, entry.emergency_id) == (
        "park",
        "investigator",
        PURPOSE,
        17,
        emergency_id,
    )
    assert entry.table_list == ["gps", "cell"]  # towers are not personal data
    assert entry.rows_returned == 4
    assert entry.detail is not None
    assert entry.detail["queries"] == 2
    assert entry.detail["seconds"] >= 0
    assert entry.detail["sql"][0] == "SELECT * FROM gps WHERE person_id = ? ORDER BY ts"
    assert "error" not in entry.detail

    with access.open(PURPOSE) as reader:
        pass
    second = _reads(sessions)[-1]
    assert (second.case_id, second.tables, second.rows_returned) == (None, "", 0)
    assert len(_reads(sessions)) == 2


def test_tables_found_in_joins_subqueries_ctes_and_unions(
    store: LocationStore, sessions: sessionmaker[Session], emergency_id: int
) -> None:
    sql = """
        WITH mine AS (SELECT person_id, ts FROM "GPS")
        SELECT count(*) AS n FROM mine
        WHERE EXISTS (SELECT 1 FROM cell WHERE cell.person_id = mine.person_id)
        UNION ALL SELECT count(*) FROM main.gps
    """
    with _access(store, sessions).open(PURPOSE) as reader:
        result = reader.query(sql)
    assert result.column("n").to_pylist() == [4, 4]
    [entry] = _reads(sessions)
    assert sorted(entry.table_list) == ["cell", "gps"]
    assert entry.rows_returned == 2


def test_query_numpy(
    store: LocationStore, sessions: sessionmaker[Session], emergency_id: int
) -> None:
    with _access(store, sessions, role="health_officer").open(PURPOSE) as reader:
        arrays = reader.query_numpy("SELECT person_id, lat FROM gps ORDER BY ts")
    assert set(arrays) == {"person_id", "lat"}
    assert isinstance(arrays["lat"], np.ndarray)
    np.testing.assert_array_equal(arrays["person_id"], [1, 1, 2, 1])
    assert _reads(sessions)[0].rows_returned == 4


def _read_then_fail(access: LocationAccess) -> None:
    with access.open(PURPOSE, 5) as reader:
        reader.query("SELECT person_id FROM gps")
        reader.query("SELECT no_such_column FROM cell")


def test_audit_entry_written_when_the_block_raises(
    store: LocationStore, sessions: sessionmaker[Session], emergency_id: int
) -> None:
    with pytest.raises(duckdb.BinderException, match="no_such_column"):
        _read_then_fail(_access(store, sessions))
    [entry] = _reads(sessions)
    assert (entry.action, entry.case_id, entry.rows_returned) == ("location.read", 5, 4)
    assert entry.table_list == ["gps", "cell"]  # the failed query referred to cell too
    assert entry.detail is not None
    assert entry.detail["error"].startswith("BinderException")

    with pytest.raises(KeyError), _access(store, sessions).open(PURPOSE):
        raise KeyError("not a query error")
    assert len(_reads(sessions)) == 2


def test_refused_without_an_emergency(
    untouchable: LocationStore, sessions: sessionmaker[Session]
) -> None:
    access = _access(untouchable, sessions)
    with pytest.raises(NoActiveEmergency, match="no emergency is in force"), access.open(PURPOSE):
        pytest.fail("the block must not run")
    [entry] = _reads(sessions)
    assert (entry.action, entry.purpose, entry.emergency_id) == ("location.denied", PURPOSE, None)
    assert entry.detail is not None
    assert entry.detail["error"] == "NoActiveEmergency"
    assert "during a declared emergency" in entry.detail["message"]


def test_refused_after_the_emergency_ended_or_before_it_starts(
    untouchable: LocationStore, sessions: sessionmaker[Session]
) -> None:
    with session_scope(sessions) as s:
        declare_emergency(
            s, name="past", actor="mayor", starts_at=T0, ends_at=T0 + dt.timedelta(days=30)
        )
        future = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
        declare_emergency(s, name="future", actor="mayor", starts_at=future)
        now = declare_emergency(s, name="now", actor="mayor")
        end_emergency(s, emergency_id=now.id, actor="mayor")
    with pytest.raises(NoActiveEmergency), _access(untouchable, sessions).open(PURPOSE):
        pass


@pytest.mark.parametrize(
    "purpose", ["", "   ", "\n\t", "tracing", "   trace   ", "1234567890", "-----------"]
)
def test_refused_without_a_meaningful_purpose(
    untouchable: LocationStore, sessions: sessionmaker[Session], emergency_id: int, purpose: str
) -> None:
    with (
        pytest.raises(PurposeRequired, match="purpose"),
        _access(untouchable, sessions).open(purpose),
    ):
        pass
    assert [e.action for e in _reads(sessions)] == ["location.denied"]


def test_purpose_is_stored_with_whitespace_collapsed(
    store: LocationStore, sessions: sessionmaker[Session], emergency_id: int
) -> None:
    with _access(store, sessions).open("  timeline of\ncase 17  "):
        pass
    assert _reads(sessions)[0].purpose == "timeline of case 17"


def test_analysts_read_aggregates_only(
    untouchable: LocationStore, sessions: sessionmaker[Session], emergency_id: int
) -> None:
    access = _access(untouchable, sessions, role="analyst")
    with (
        pytest.raises(AccessDenied, match=r"^role analyst may read aggregates only$"),
        access.open(PURPOSE),
    ):
        pass
    [entry] = _reads(sessions)
    assert (entry.action, entry.role) == ("location.denied", "analyst")
    assert issubclass(AccessDenied, PrivacyError)


@pytest.mark.parametrize("role", ["admin", "investigator", "health_officer", "system"])
def test_roles_that_may_read_personal_data(
    store: LocationStore, sessions: sessionmaker[Session], emergency_id: int, role: str
) -> None:
    with _access(store, sessions, role=role).open(PURPOSE) as reader:
        assert reader.query("SELECT count(*) AS n FROM gps").column("n").to_pylist() == [4]
    assert [(e.action, e.role) for e in _reads(sessions)] == [("location.read", role)]


def test_unknown_role_or_actor(store: LocationStore, sessions: sessionmaker[Session]) -> None:
    with pytest.raises(PrivacyError, match="unknown role 'superuser'"):
        LocationAccess(store, sessions, actor="park", role="superuser")
    with pytest.raises(PrivacyError, match="actor must not be empty"):
        LocationAccess(store, sessions, actor=" ", role="admin")


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("COPY gps TO 'leak.csv'", "one SELECT query only"),
        ("SELECT 1; SELECT * FROM gps", "one statement per query, got 2"),
        (
            "SELECT * FROM read_parquet('gps/*.parquet')",
            "table function read_parquet is not allowed",
        ),
        ("SELECT * FROM read_csv('/etc/passwd')", "table function read_csv is not allowed"),
        ("ATTACH 'other.db'", "one SELECT query only"),
        ("SET enable_external_access = true", "one SELECT query only"),
        ("SELEC * FROM gps", "syntax error"),
    ],
)
def test_only_plain_selects_over_the_store(
    store: LocationStore, sessions: sessionmaker[Session], emergency_id: int, sql: str, message: str
) -> None:
    with pytest.raises(QueryRefused, match=message), _access(store, sessions).open(PURPOSE) as r:
        r.query(sql)
    [entry] = _reads(sessions)
    assert entry.action == "location.read"
    assert entry.rows_returned == 0
    assert entry.detail is not None
    assert entry.detail["error"].startswith("QueryRefused")


def test_files_outside_the_store_cannot_be_read(
    store: LocationStore, sessions: sessionmaker[Session], emergency_id: int
) -> None:
    with pytest.raises(duckdb.Error), _access(store, sessions).open(PURPOSE) as r:
        r.query("SELECT * FROM '/etc/passwd'")  # no file reads through replacement scans
    with pytest.raises(duckdb.Error), _access(store, sessions).open(PURPOSE) as r:
        r.query("SELECT * FROM gps UNION ALL SELECT * FROM 'elsewhere/gps.parquet'")


def test_the_reader_is_closed_after_the_block_and_hides_its_connection(
    store: LocationStore, sessions: sessionmaker[Session], emergency_id: int
) -> None:
    with _access(store, sessions).open(PURPOSE) as reader:
        assert reader.query("SELECT 1 AS one").num_rows == 1
        public = {name: getattr(reader, name) for name in dir(reader) if not name.startswith("_")}
        assert not any(isinstance(v, duckdb.DuckDBPyConnection) for v in public.values())
    assert isinstance(reader, LocationReader)
    with pytest.raises(PrivacyError, match="reader is closed"):
        reader.query("SELECT 1")
