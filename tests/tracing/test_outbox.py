"""The warnings outbox and stored confirmations (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from epicity.db import session_scope, utcnow
from epicity.tracing.contacts import AreaExposure
from epicity.tracing.models import ConfirmationRow, OutboxMessage
from epicity.tracing.outbox import (
    ApprovalRefused,
    _insert_ignoring_duplicates,
    add_confirmation,
    approve,
    confirmations_for,
    dedupe_key,
    enqueue,
    enqueue_message,
    messages_for,
    pending,
)
from epicity.tracing.timeline import Confirmation
from epicity.tracing.warnings import Warnings, build_warnings

from .test_warnings import (
    BAR,
    CAFE,
    CASE_ID,
    PARK,
    TOWERS,
    VENUES,
    contact,
    investigation,
    kst,
    venue_stay,
)

NOW = dt.datetime(2020, 3, 8, 9, 0, tzinfo=dt.UTC)


def case_warnings(*, extra_contact: bool = False) -> Warnings:
    contacts = [
        contact(11, "close", CAFE, kst(5, 12), kst(5, 13)),
        contact(12, "close", BAR, kst(5, 20), kst(5, 21)),
        contact(13, "casual", PARK, kst(6, 15), kst(6, 16)),
    ]
    if extra_contact:
        contacts.append(contact(14, "casual", CAFE, kst(5, 12), kst(5, 12, 10)))
    inv = investigation(
        timeline=[
            venue_stay(CAFE, kst(5, 12), kst(5, 13)),
            venue_stay(BAR, kst(5, 20), kst(5, 21)),
            venue_stay(PARK, kst(6, 15), kst(6, 16), indoor=False),
        ],
        contacts=contacts,
        area=[
            AreaExposure(7, kst(5, 12), kst(5, 13), 33),
            AreaExposure(8, kst(5, 20), kst(5, 21), 4),
        ],
    )
    return build_warnings(inv, VENUES, towers=TOWERS)


def rows(session: Session) -> list[OutboxMessage]:
    return list(session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)))


# -- enqueue -------------------------------------------------------------------------------


def test_enqueue_queues_every_warning_as_pending(session: Session) -> None:
    w = case_warnings()
    result = enqueue(session, case_id=CASE_ID, warnings=w, now=NOW)
    assert result.inserted == {
        "isolation_order": 2,
        "test_advice": 1,
        "area_alert": 2,
        "public_notice": 3,
    }
    assert result.total_inserted == 8
    assert result.total_skipped == 0
    got = rows(session)
    assert [(r.kind, r.recipient) for r in got] == [
        ("isolation_order", "person:11"),
        ("isolation_order", "person:12"),
        ("test_advice", "person:13"),
        ("area_alert", "tower:7"),
        ("area_alert", "tower:8"),
        ("public_notice", "public"),
        ("public_notice", "public"),
        ("public_notice", "public"),
    ]
    for r, item in zip(got, w.items(), strict=True):
        assert r.case_id == CASE_ID
        assert r.status == "pending"
        assert r.channel is None
        assert r.attempts == 0
        assert r.last_error is None
        assert r.created_at == r.not_before == NOW
        assert r.expires_at == item.expires
        assert r.payload == item.to_json()
        assert str(CASE_ID) not in json.dumps(r.payload)  # internal tracking only
        assert r.dedupe_key == dedupe_key(r.kind, r.recipient, CASE_ID, item.window)
        assert len(r.dedupe_key) == 64


def test_enqueue_again_inserts_nothing_new(sessions: sessionmaker[Session]) -> None:
    with session_scope(sessions) as s:
        enqueue(s, case_id=CASE_ID, warnings=case_warnings())
    with session_scope(sessions) as s:
        again = enqueue(s, case_id=CASE_ID, warnings=case_warnings())
        assert again.total_inserted == 0
        assert again.skipped == {
            "isolation_order": 2,
            "test_advice": 1,
            "area_alert": 2,
            "public_notice": 3,
        }
        # a re-trace that found one more contact queues just that one
        more = enqueue(s, case_id=CASE_ID, warnings=case_warnings(extra_contact=True))
        assert more.inserted["test_advice"] == 1
        assert more.total_inserted == 1
        assert more.total_skipped == 8
    with sessions() as s:
        assert len(rows(s)) == 9
        # the same warnings for another case are other rows
        assert enqueue(s, case_id=CASE_ID + 1, warnings=case_warnings()).total_inserted == 8


def test_enqueue_skips_rows_already_sent_and_duplicates_within_one_call(
    session: Session,
) -> None:
    w = case_warnings()
    enqueue(session, case_id=CASE_ID, warnings=w)
    for r in rows(session):
        r.status = "sent"
    w.orders.append(w.orders[0])
    result = enqueue(session, case_id=CASE_ID, warnings=w)
    assert result.total_inserted == 0
    assert result.skipped["isolation_order"] == 3
    assert pending(session) == []


def test_a_re_trace_cancels_pending_warnings_it_no_longer_gives(session: Session) -> None:
    # First trace: contact 14 gets testing advice; an investigator then removes the stay.
    enqueue(session, case_id=CASE_ID, warnings=case_warnings(extra_contact=True))
    other_case = enqueue(session, case_id=CASE_ID + 1, warnings=case_warnings())
    sent = next(r for r in rows(session) if r.kind == "public_notice" and r.case_id == CASE_ID)
    sent.status = "sent"
    session.flush()
    # The re-trace gives the same warnings minus contact 14's advice and minus one notice.
    again = case_warnings()
    dropped_notice = next(
        n
        for n in again.notices
        if dedupe_key(n.kind, n.recipient, CASE_ID, n.window) != sent.dedupe_key
    )
    again.notices.remove(dropped_notice)
    result = enqueue(session, case_id=CASE_ID, warnings=again)
    assert result.total_inserted == 0
    assert result.cancelled == {
        "isolation_order": 0,
        "test_advice": 1,
        "area_alert": 0,
        "public_notice": 1,
    }
    cancelled = [r for r in rows(session) if r.status == "cancelled"]
    assert {r.kind for r in cancelled} == {"test_advice", "public_notice"}
    assert all(r.case_id == CASE_ID for r in cancelled)
    assert all("superseded" in (r.last_error or "") for r in cancelled)
    # Delivered warnings and other cases' warnings are left alone.
    assert sent.status == "sent"
    assert other_case.total_inserted == 8
    assert (
        len([r for r in rows(session) if r.case_id == CASE_ID + 1 and r.status == "pending"]) == 8
    )
    # Tracing again with the same result cancels nothing more.
    assert enqueue(session, case_id=CASE_ID, warnings=again).total_cancelled == 0


def test_the_database_refuses_duplicate_keys_and_unknown_values(session: Session) -> None:
    enqueue(session, case_id=CASE_ID, warnings=case_warnings())
    first = rows(session)[0]
    session.commit()

    def copy(**changes: object) -> OutboxMessage:
        names = [c.name for c in OutboxMessage.__table__.columns if c.name != "id"]
        values = {name: getattr(first, name) for name in names}
        return OutboxMessage(**{**values, "dedupe_key": "x" * 64, **changes})

    for bad in (
        copy(dedupe_key=first.dedupe_key),
        copy(kind="sms_blast"),
        copy(status="lost"),
        copy(attempts=-1),
    ):
        session.add(bad)
        with pytest.raises(IntegrityError):
            session.flush()
        session.rollback()


def test_a_key_inserted_meanwhile_is_skipped_not_an_error(session: Session) -> None:
    # Two workers enqueueing the same case: the second's pre-check missed the first's row.
    enqueue(session, case_id=CASE_ID, warnings=case_warnings())
    first = rows(session)[0]
    names = [c.name for c in OutboxMessage.__table__.columns if c.name != "id"]
    row = {name: getattr(first, name) for name in names}
    fresh = {**row, "dedupe_key": "f" * 64}
    assert _insert_ignoring_duplicates(session, [row, fresh]) == {"f" * 64}
    assert len(rows(session)) == 9


# -- pending -------------------------------------------------------------------------------


def test_pending_lists_by_kind_limit_and_due_time(session: Session) -> None:
    enqueue(session, case_id=CASE_ID, warnings=case_warnings(), now=NOW)
    everything = pending(session)
    assert len(everything) == 8
    assert [r.recipient for r in pending(session, kind="isolation_order")] == [
        "person:11",
        "person:12",
    ]
    assert [r.id for r in pending(session, limit=3)] == [r.id for r in everything[:3]]
    assert pending(session, kind="public_notice", limit=0) == []
    everything[0].status = "sent"
    everything[1].status = "failed"
    everything[2].status = "cancelled"
    session.flush()
    assert len(pending(session)) == 5
    # not yet due before not_before; notices expire 14 days after the visit
    assert pending(session, due_at=NOW - dt.timedelta(seconds=1)) == []
    assert len(pending(session, due_at=NOW)) == 5
    # 3/19 20:30 in Seoul: what ended on 3/5 at 13:00 (cafe, tower 7) has expired; what ended
    # at 21:00 (bar, tower 8) or on 3/6 (park) has not
    late = dt.datetime(2020, 3, 19, 20, 30, tzinfo=dt.timezone(dt.timedelta(hours=9)))
    got = sorted((r.kind, r.recipient) for r in pending(session, due_at=late))
    assert got == [
        ("area_alert", "tower:8"),
        ("public_notice", "public"),
        ("public_notice", "public"),
    ]
    assert {
        r.payload["venue_name"] for r in pending(session, due_at=late, kind="public_notice")
    } == {
        "Pocha 24",
        "Seoul Forest",
    }
    with pytest.raises(ValueError, match="kind: unknown kind 'sms'"):
        pending(session, kind="sms")
    with pytest.raises(ValueError, match="limit"):
        pending(session, limit=-1)


def test_rows_wait_for_approval_which_is_idempotent_and_checked(session: Session) -> None:
    enqueue(session, case_id=CASE_ID, warnings=case_warnings(), now=NOW)
    enqueue(session, case_id=CASE_ID + 1, warnings=case_warnings(), now=NOW)
    mine = messages_for(session, case_id=CASE_ID)
    assert len(mine) == 8
    assert all(r.approved_at is None and r.approved_by is None for r in rows(session))
    first = approve(session, case_id=CASE_ID, actor="officer-park", message_ids=[mine[0].id])
    assert [r.id for r in first] == [mine[0].id]
    assert (mine[0].approved_by, mine[0].approved_at is not None) == ("officer-park", True)
    everything = approve(session, case_id=CASE_ID, actor="officer-lee", now=NOW)
    assert [r.id for r in everything] == [r.id for r in mine[1:]]
    assert mine[0].approved_by == "officer-park"  # approved before: left as it was
    assert approve(session, case_id=CASE_ID, actor="officer-lee") == []
    other = messages_for(session, case_id=CASE_ID + 1)
    assert all(r.approved_at is None for r in other)  # another case's rows untouched
    with pytest.raises(ApprovalRefused, match=f"message_ids: {other[0].id} not among"):
        approve(session, case_id=CASE_ID, actor="officer-lee", message_ids=[other[0].id])
    other[1].status = "sent"
    with pytest.raises(ApprovalRefused, match="no longer pending"):
        approve(session, case_id=CASE_ID + 1, actor="officer-lee", message_ids=[other[1].id])
    with pytest.raises(ApprovalRefused, match="at least one"):
        approve(session, case_id=CASE_ID + 1, actor="officer-lee", message_ids=[])
    with pytest.raises(ValueError, match="actor"):
        approve(session, case_id=CASE_ID + 1, actor="  ")
    # a re-trace keeps approvals of the rows it still gives; its new rows wait
    enqueue(session, case_id=CASE_ID, warnings=case_warnings(extra_contact=True), now=NOW)
    waiting = [r for r in messages_for(session, case_id=CASE_ID) if r.approved_at is None]
    assert [r.recipient for r in waiting] == ["person:14"]


def test_enqueue_refuses_a_naive_now(session: Session) -> None:
    with pytest.raises(ValueError, match="now: naive"):
        enqueue(session, case_id=1, warnings=Warnings("Asia/Seoul"), now=dt.datetime(2020, 3, 8))


# -- confirmations -------------------------------------------------------------------------

CONFIRMATIONS = [
    Confirmation(
        "add",
        "cctv",
        "investigator-kim",
        "CCTV shows the case at the counter 12:05-12:40",
        start=kst(5, 12, 5) + 17,
        end=kst(5, 12, 40),
        place_id=CAFE,
    ),
    Confirmation(
        "correct",
        "interview",
        "investigator-lee",
        "the case left the bar at 22:00",
        stay_id="v1583406000-504",
        end=kst(5, 22),
    ),
    Confirmation("remove", "interview", "investigator-lee", "never went", stay_id="l1583370000"),
    Confirmation(
        "add",
        "interview",
        "investigator-park",
        "walked in the park",
        start=kst(6, 15),
        end=kst(6, 16),
        lat=37.5444,
        lon=127.0374,
    ),
]


def test_confirmations_round_trip_in_creation_order(sessions: sessionmaker[Session]) -> None:
    with session_scope(sessions) as s:
        before = utcnow()
        for c in CONFIRMATIONS:
            row = add_confirmation(s, case_id=CASE_ID, confirmation=c)
            assert row.id is not None
            assert before <= row.created_at <= utcnow()
        add_confirmation(s, case_id=CASE_ID + 1, confirmation=CONFIRMATIONS[0])
    with sessions() as s:
        assert confirmations_for(s, case_id=CASE_ID) == CONFIRMATIONS
        assert confirmations_for(s, case_id=CASE_ID + 1) == CONFIRMATIONS[:1]
        assert confirmations_for(s, case_id=1) == []
        stored = s.scalars(sa.select(ConfirmationRow).order_by(ConfirmationRow.id)).first()
        assert stored is not None
        assert stored.starts_at == dt.datetime(2020, 3, 5, 3, 5, 17, tzinfo=dt.UTC)
        assert stored.made_by == "investigator-kim"


@pytest.mark.parametrize(
    ("confirmation", "field"),
    [
        (Confirmation("add", "cctv", " ", "why", start=1, end=2, place_id=1), "by"),
        (Confirmation("add", "cctv", "kim", "", start=1, end=2, place_id=1), "reason"),
        (Confirmation("remove", "cctv", "kim", "why"), "stay_id"),
        (Confirmation("add", "cctv", "kim", "why", place_id=1), "start/end"),
        (Confirmation("add", "cctv", "kim", "why", start=1, end=2), "place_id or lat/lon"),
        (Confirmation("add", "cctv", "kim", "why", start=2, end=2, place_id=1), "end"),
        (Confirmation("add", "cctv", "kim", "why", start=1, end=2, lat=91.0, lon=127.0), "lat"),
        (Confirmation("add", "cctv", "kim", "why", start=1, end=2, lat=37.0, lon=181.0), "lon"),
        (Confirmation("remove", "cctv", "k" * 101, "why", stay_id="s"), "by"),
        (Confirmation("remove", "cctv", "kim", "why", stay_id="s" * 101), "stay_id"),
        (Confirmation("remove", "phone", "kim", "why", stay_id="s"), "method"),  # type: ignore[arg-type]
    ],
)
def test_add_confirmation_names_the_bad_field(
    session: Session, confirmation: Confirmation, field: str
) -> None:
    with pytest.raises(ValueError, match=rf"^{field}:"):
        add_confirmation(session, case_id=CASE_ID, confirmation=confirmation)
    assert confirmations_for(session, case_id=CASE_ID) == []


def test_the_database_checks_action_and_method(session: Session) -> None:
    at = utcnow()
    for action, method in (("delete", "cctv"), ("add", "phone")):
        session.add(
            ConfirmationRow(
                case_id=1,
                action=action,
                method=method,
                made_by="kim",
                reason="why",
                created_at=at,
            )
        )
        with pytest.raises(IntegrityError):
            session.flush()
        session.rollback()


# -- personal messages ---------------------------------------------------------------------


def test_enqueue_message_is_approved_idempotent_and_apart_from_warnings(session: Session) -> None:
    enqueue(session, case_id=CASE_ID, warnings=case_warnings())
    payload = {"text": "Your test on 2020-03-08 was negative.", "result": "negative"}
    first = enqueue_message(
        session, kind="test_result", person_id=CASE_ID, payload=payload, key="S-1", now=NOW
    )
    assert first is not None
    assert (first.status, first.approved_by, first.approved_at) == ("pending", "system", NOW)
    assert first.recipient == f"person:{CASE_ID}"
    again = enqueue_message(
        session, kind="test_result", person_id=CASE_ID, payload=payload, key="S-1", now=NOW
    )
    assert again is None
    other = enqueue_message(
        session, kind="isolation_notice", person_id=CASE_ID, payload=payload, key="S-1", now=NOW
    )
    assert other is not None
    assert other.id != first.id
    # The case's warnings are its own: a re-trace, an approval and the case's list leave the
    # person's messages alone.
    enqueue(session, case_id=CASE_ID, warnings=Warnings("Asia/Seoul"))
    approve(session, case_id=CASE_ID, actor="officer")
    assert first.status == "pending"
    assert first.approved_by == "system"
    assert all(
        m.kind not in {"test_result", "isolation_notice"}
        for m in messages_for(session, case_id=CASE_ID)
    )
    with pytest.raises(ValueError, match="kind"):
        enqueue_message(session, kind="isolation_order", person_id=1, payload={}, key="k")
    with pytest.raises(ValueError, match="key"):
        enqueue_message(session, kind="test_result", person_id=1, payload={}, key="")
