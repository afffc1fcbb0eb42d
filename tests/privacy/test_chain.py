"""The audit log's hash chain: appends, verification, tampering, concurrency, CLI, migration.

Tampering goes round the database's append-only guard the way someone with database access
would: on SQLite by dropping the triggers, on PostgreSQL by disabling the table's triggers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner, Result

from epicity.cli import app
from epicity.db import (
    UTCDateTime,
    alembic_config,
    make_engine,
    migrate,
    session_factory,
    session_scope,
)
from epicity.privacy.chain import (
    GENESIS_HASH,
    canonical_bytes,
    entry_hash,
    verify_chain,
)
from epicity.privacy.errors import PrivacyError
from epicity.privacy.models import AuditEntry
from epicity.privacy.service import audit, audit_entries, declare_emergency

AT = dt.datetime(2020, 3, 2, 9, 0, 0, 123, tzinfo=dt.timezone(dt.timedelta(hours=9)))


def _write(sessions: sessionmaker[Session], n: int) -> list[AuditEntry]:
    """`n` entries, each in its own transaction, with varied fields."""
    written = []
    for i in range(n):
        with session_scope(sessions) as s:
            written.append(
                audit(
                    s,
                    actor=f"park{i}",
                    role="investigator",
                    action="location.read",
                    purpose=f"contact tracing of case {i}" if i % 2 else None,
                    case_id=i if i % 3 else None,
                    tables=["gps", "cell"][: i % 3],
                    rows_returned=i * 7,
                    detail={"i": i, "seconds": 0.25 * i, "batch": [i, "b"]} if i % 2 else None,
                )
            )
    return written


def _tamper(engine: sa.Engine, *statements: tuple[str, dict[str, Any]]) -> None:
    """Run `statements` with the append-only guard out of the way, as an attacker would."""
    with engine.begin() as con:
        if engine.dialect.name == "postgresql":
            con.exec_driver_sql("ALTER TABLE audit_log DISABLE TRIGGER ALL")
        else:
            con.exec_driver_sql("DROP TRIGGER IF EXISTS audit_log_no_update")
            con.exec_driver_sql("DROP TRIGGER IF EXISTS audit_log_no_delete")
        for sql, params in statements:
            con.execute(sa.text(sql), params)


def _verify(sessions: sessionmaker[Session]) -> Any:
    with sessions() as s:
        return verify_chain(s)


def _row(engine: sa.Engine, entry_id: int) -> dict[str, Any]:
    table = AuditEntry.__table__
    assert isinstance(table, sa.Table)
    with engine.connect() as con:
        return dict(con.execute(sa.select(table).where(table.c.id == entry_id)).mappings().one())


# -- the serialisation ----------------------------------------------------------------------


def test_the_hash_is_sha256_of_the_documented_serialisation() -> None:
    fields = {
        "id": 7,
        "at": AT,
        "actor": "박",
        "role": "investigator",
        "action": "location.read",
        "purpose": None,
        "case_id": 17,
        "emergency_id": None,
        "tables": "gps,cell",
        "rows_returned": 42,
        "detail": {"b": [1, 2.5], "a": 1e20, "z": -0.0},
    }
    expected = (
        '{"action":"location.read","actor":"\\ubc15","at":"2020-03-02T00:00:00.000123Z",'
        '"case_id":17,"detail":{"a":100000000000000000000,"b":[1,2.5],"z":0},'
        '"emergency_id":null,"id":7,"prev_hash":"' + GENESIS_HASH + '","purpose":null,'
        '"role":"investigator","rows_returned":42,"tables":"gps,cell"}'
    )
    assert canonical_bytes(fields, GENESIS_HASH).decode() == expected
    assert entry_hash(fields, GENESIS_HASH) == hashlib.sha256(expected.encode()).hexdigest()
    assert GENESIS_HASH == "0" * 64
    # every field and the link count
    for name, value in [("actor", "kim"), ("rows_returned", 43), ("detail", None), ("id", 8)]:
        assert entry_hash({**fields, name: value}, GENESIS_HASH) != entry_hash(fields, GENESIS_HASH)
    assert entry_hash(fields, "1" * 64) != entry_hash(fields, GENESIS_HASH)
    # the same instant in another zone is the same entry
    assert entry_hash({**fields, "at": AT.astimezone(dt.UTC)}, GENESIS_HASH) == entry_hash(
        fields, GENESIS_HASH
    )


@pytest.mark.parametrize(
    ("detail", "message"),
    [
        ({"x": float("nan")}, "detail holds nan"),
        ({"x": float("inf")}, "detail holds inf"),
        ({"x": {1, 2}}, "detail holds a set"),
        ({("a", "b"): 1}, "detail is not JSON"),
    ],
)
def test_details_json_cannot_hold_are_refused(
    session: Session, detail: dict[Any, Any], message: str
) -> None:
    with pytest.raises(PrivacyError, match=message):
        audit(session, actor="kim", role="admin", action="x", detail=detail)
    assert audit_entries(session) == []


# -- appending and verifying ----------------------------------------------------------------


def test_an_empty_log_is_intact(sessions: sessionmaker[Session]) -> None:
    result = _verify(sessions)
    assert (result.intact, result.entries, result.head, result.bad_id) == (
        True,
        0,
        GENESIS_HASH,
        None,
    )


def test_entries_chain_and_verify(sessions: sessionmaker[Session]) -> None:
    with session_scope(sessions) as s:
        declare_emergency(s, name="COVID-19", actor="mayor")  # writes an entry too
    written = _write(sessions, 6)
    with sessions() as s:
        entries = audit_entries(s)
    assert len(entries) == 7
    assert entries[0].prev_hash == GENESIS_HASH
    for before, after in itertools.pairwise(entries):
        assert after.prev_hash == before.hash
        assert after.id > before.id
    for entry in entries:
        assert len(entry.hash) == 64
        assert int(entry.hash, 16) >= 0
    # what audit() returned is what was stored
    assert [e.hash for e in written] == [e.hash for e in entries[1:]]
    result = _verify(sessions)
    assert (result.intact, result.entries, result.head) == (True, 7, entries[-1].hash)


def test_details_verify_after_a_round_trip_through_the_database(
    sessions: sessionmaker[Session],
) -> None:
    # JSONB rewrites 1e20 as an integer and -0.0 as 0.0; the hash must not care
    details: list[dict[str, Any]] = [
        {"big": 1e20, "tiny": 1e-07, "neg_zero": -0.0, "third": 1 / 3},
        {"nested": {"list": [1, 2.0, None, True, "서울"]}, "tuple": (1, 2)},
        {"int_key": {1: "one"}, "huge": 2**70, "text": 'a\u2028b "quoted" \\'},
    ]
    with session_scope(sessions) as s:
        for detail in details:
            audit(s, actor="kim", role="admin", action="x", detail=detail)
    result = _verify(sessions)
    assert (result.intact, result.entries) == (True, 3), result.reason
    with sessions() as s:
        assert audit_entries(s)[2].detail == {
            "int_key": {"1": "one"},
            "huge": 2**70,
            "text": 'a\u2028b "quoted" \\',
        }


def test_a_rolled_back_append_leaves_the_chain_intact(sessions: sessionmaker[Session]) -> None:
    _write(sessions, 2)
    with sessions() as s, s.begin():
        audit(s, actor="kim", role="admin", action="x")
        s.rollback()
    _write(sessions, 2)
    result = _verify(sessions)
    assert (result.intact, result.entries) == (True, 4)


def test_the_database_refuses_two_entries_chaining_from_the_same_one(
    sessions: sessionmaker[Session], db_engine: sa.Engine
) -> None:
    [first, second] = _write(sessions, 2)
    fork = {**_row(db_engine, second.id), "id": second.id + 1, "actor": "mallory"}
    fork["hash"] = entry_hash(fork, first.hash)
    with pytest.raises(IntegrityError), db_engine.begin() as con:
        con.execute(sa.insert(AuditEntry.__table__), [fork])


# -- tampering ------------------------------------------------------------------------------


def test_an_altered_middle_entry_is_detected(
    sessions: sessionmaker[Session], db_engine: sa.Engine
) -> None:
    written = _write(sessions, 5)
    middle = written[2].id
    _tamper(
        db_engine,
        ("UPDATE audit_log SET rows_returned = 0 WHERE id = :id", {"id": middle}),
    )
    result = _verify(sessions)
    assert not result.intact
    assert result.bad_id == middle
    assert result.entries == 2
    assert result.head == written[1].hash
    assert result.reason.startswith("altered: its stored hash")


def test_an_altered_entry_whose_hash_was_recomputed_breaks_the_next_link(
    sessions: sessionmaker[Session], db_engine: sa.Engine
) -> None:
    written = _write(sessions, 5)
    middle = written[2]
    forged = {**_row(db_engine, middle.id), "actor": "someone else"}
    _tamper(
        db_engine,
        (
            "UPDATE audit_log SET actor = :actor, hash = :hash WHERE id = :id",
            {
                "actor": "someone else",
                "hash": entry_hash(forged, middle.prev_hash),
                "id": middle.id,
            },
        ),
    )
    result = _verify(sessions)
    assert not result.intact
    assert result.bad_id == written[3].id
    assert result.reason.startswith(f"does not chain from entry {middle.id}")


def test_a_deleted_middle_entry_is_detected(
    sessions: sessionmaker[Session], db_engine: sa.Engine
) -> None:
    written = _write(sessions, 5)
    _tamper(db_engine, ("DELETE FROM audit_log WHERE id = :id", {"id": written[2].id}))
    result = _verify(sessions)
    assert not result.intact
    assert result.bad_id == written[3].id
    assert result.entries == 2
    assert result.reason.startswith(f"does not chain from entry {written[1].id}: prev_hash")
    assert "an entry before it was deleted" in result.reason
    assert f"ids jump from {written[1].id} to {written[3].id}" in result.reason


def test_a_deleted_last_entry_leaves_a_shorter_intact_chain(
    sessions: sessionmaker[Session], db_engine: sa.Engine
) -> None:
    # a chain alone cannot see its tail cut off: the printed head is what to compare with
    # a copy kept elsewhere (documented in the README paragraph)
    written = _write(sessions, 3)
    _tamper(db_engine, ("DELETE FROM audit_log WHERE id = :id", {"id": written[2].id}))
    result = _verify(sessions)
    assert (result.intact, result.entries, result.head) == (True, 2, written[1].hash)


def test_a_forged_entry_with_a_valid_own_hash_that_does_not_chain_is_detected(
    sessions: sessionmaker[Session], db_engine: sa.Engine
) -> None:
    written = _write(sessions, 4)
    forged = {
        **_row(db_engine, written[1].id),
        "id": written[-1].id + 1,
        "actor": "mallory",
        "prev_hash": hashlib.sha256(b"not the head").hexdigest(),
    }
    forged["hash"] = entry_hash(forged, forged["prev_hash"])
    with db_engine.begin() as con:  # inserting needs no bypass: the guard refuses only changes
        con.execute(sa.insert(AuditEntry.__table__), [forged])
    result = _verify(sessions)
    assert not result.intact
    assert result.bad_id == forged["id"]
    assert result.entries == 4
    assert result.reason.startswith(f"does not chain from entry {written[-1].id}")


def test_a_forged_entry_replacing_a_middle_one_is_detected(
    sessions: sessionmaker[Session], db_engine: sa.Engine
) -> None:
    # the forger deletes entry 3 and puts their own in its place, chained from entry 2 with a
    # correct hash: entry 4 still points at the original
    written = _write(sessions, 5)
    victim = written[2]
    forged = {**_row(db_engine, victim.id), "purpose": "nothing to see here"}
    forged["hash"] = entry_hash(forged, written[1].hash)
    _tamper(db_engine, ("DELETE FROM audit_log WHERE id = :id", {"id": victim.id}))
    with db_engine.begin() as con:
        con.execute(sa.insert(AuditEntry.__table__), [forged])
    result = _verify(sessions)
    assert not result.intact
    assert result.bad_id == written[3].id
    assert result.reason.startswith(f"does not chain from entry {victim.id}")


def test_swapped_entries_are_detected(
    sessions: sessionmaker[Session], db_engine: sa.Engine
) -> None:
    written = _write(sessions, 4)
    a, b = written[1].id, written[2].id
    _tamper(
        db_engine,
        ("UPDATE audit_log SET id = :tmp WHERE id = :a", {"tmp": 10_000, "a": a}),
        ("UPDATE audit_log SET id = :a WHERE id = :b", {"a": a, "b": b}),
        ("UPDATE audit_log SET id = :b WHERE id = :tmp", {"b": b, "tmp": 10_000}),
    )
    result = _verify(sessions)
    assert not result.intact
    assert result.bad_id == a
    assert result.reason.startswith("altered")  # the hash covers the id


# -- concurrency ----------------------------------------------------------------------------


def test_concurrent_writers_do_not_fork_the_chain(db_url: str) -> None:
    engine = make_engine(db_url, pool_size=6)
    try:
        migrate(engine)
        sessions = session_factory(engine)
        threads, per_thread = 4, 8
        barrier = threading.Barrier(threads)
        errors: list[BaseException] = []

        def writer(n: int) -> None:
            try:
                barrier.wait()
                for i in range(per_thread):
                    with session_scope(sessions) as s:
                        audit(s, actor=f"writer{n}", role="system", action="x", rows_returned=i)
                        time.sleep(0.002)  # hold the transaction open: a stale head would fork
            except BaseException as exc:
                errors.append(exc)

        pool = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        assert errors == []
        result = _verify(sessions)
        assert (result.intact, result.entries) == (True, threads * per_thread), result.reason
        with sessions() as s:
            entries = audit_entries(s)
        assert {e.actor for e in entries} == {f"writer{n}" for n in range(threads)}
    finally:
        engine.dispose()


# -- the command ----------------------------------------------------------------------------


def _run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "250", "USER": "tester"})


def test_audit_verify_exit_codes(db_url: str) -> None:
    result = _run("audit", "verify", "--db", db_url)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"audit log intact: 0 entries, head {GENESIS_HASH[:16]}\n"

    engine = make_engine(db_url)
    try:
        written = _write(session_factory(engine), 3)
        result = _run("audit", "verify", "--db", db_url)
        assert result.exit_code == 0, result.output
        assert result.stdout == f"audit log intact: 3 entries, head {written[-1].hash[:16]}\n"

        _tamper(engine, ("UPDATE audit_log SET actor = 'x' WHERE id = :id", {"id": written[1].id}))
    finally:
        engine.dispose()
    result = _run("audit", "verify", "--db", db_url)
    assert result.exit_code == 1, result.output
    assert result.stdout.startswith(f"audit log broken at entry {written[1].id}: altered")
    assert result.stdout.rstrip().endswith("(1 entries before it verified)")


def test_audit_verify_on_an_unusable_database_fails_clearly() -> None:
    result = _run("audit", "verify", "--db", "nosuchdriver://x")
    assert result.exit_code == 2
    assert "cannot use the database URL" in result.output


# -- the migration --------------------------------------------------------------------------

_old_audit = sa.table(
    "audit_log",
    sa.column("id", sa.Integer()),
    sa.column("at", UTCDateTime()),
    sa.column("actor", sa.String()),
    sa.column("role", sa.String()),
    sa.column("action", sa.String()),
    sa.column("purpose", sa.Text()),
    sa.column("case_id", sa.BigInteger()),
    sa.column("emergency_id", sa.Integer()),
    sa.column("tables", sa.String()),
    sa.column("rows_returned", sa.BigInteger()),
    sa.column("detail", AuditEntry.__table__.c.detail.type),
)


def _columns(engine: sa.Engine) -> set[str]:
    return {c["name"] for c in sa.inspect(engine).get_columns("audit_log")}


def test_the_migration_chains_existing_entries_and_keeps_the_guard(db_url: str) -> None:
    migrate(db_url, "0002_tracing")
    engine = make_engine(db_url)
    try:
        assert "hash" not in _columns(engine)
        old = [
            {
                "at": AT + dt.timedelta(minutes=i),
                "actor": f"kim{i}",
                "role": "investigator",
                "action": "location.read",
                "purpose": "tracing" if i % 2 else None,
                "case_id": i or None,
                "emergency_id": None,
                "tables": "gps",
                "rows_returned": i,
                "detail": {"seconds": 0.1 * i, "big": 1e20} if i % 2 else None,
            }
            for i in range(1_203)  # more than one page of the backfill
        ]
        with engine.begin() as con:
            con.execute(sa.insert(_old_audit), old)
        migrate(db_url)
        assert {"prev_hash", "hash"} <= _columns(engine)
        sessions = session_factory(engine)
        result = _verify(sessions)
        assert (result.intact, result.entries) == (True, len(old)), result.reason
        # new entries chain from the backfilled head
        [new] = _write(sessions, 1)
        assert new.prev_hash == result.head
        assert _verify(sessions).entries == len(old) + 1
        # the append-only guard is back
        for statement in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"):
            with pytest.raises(DBAPIError, match="append-only"), engine.begin() as con:
                con.exec_driver_sql(statement)
        # the columns are required
        with pytest.raises(IntegrityError), engine.begin() as con:
            con.execute(sa.insert(_old_audit), [{**old[0], "at": AT}])
    finally:
        engine.dispose()


def test_the_migration_downgrades_keeping_the_guard(db_url: str) -> None:
    migrate(db_url)
    engine = make_engine(db_url)
    try:
        _write(session_factory(engine), 2)
        config = alembic_config()
        with engine.begin() as con:
            config.attributes["connection"] = con
            command.downgrade(config, "audit_chain@-1")
        assert not {"prev_hash", "hash"} & _columns(engine)
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as con:
            con.exec_driver_sql("DELETE FROM audit_log")
        migrate(engine)  # and up again: the remaining entries are chained anew
        result = _verify(session_factory(engine))
        assert (result.intact, result.entries) == (True, 2)
    finally:
        engine.dispose()


def test_the_chain_json_is_plain_json() -> None:
    # the serialisation can be checked with any JSON tool, not only this code
    fields = {
        "id": 1, "at": AT, "actor": "a", "role": "admin", "action": "x", "purpose": None,
        "case_id": None, "emergency_id": None, "tables": "", "rows_returned": 0, "detail": None,
    }  # fmt: skip
    document = json.loads(canonical_bytes(fields, GENESIS_HASH))
    assert document["prev_hash"] == GENESIS_HASH
    assert document["at"] == "2020-03-02T00:00:00.000123Z"
