"""Place notices' service on both backends: sync from tracing's outbox, expiry, filters,
as_of, bad input."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from tests.notices.conftest import PARK, T0, notice, queue

from epicity.notices.errors import NoticeError
from epicity.notices.models import PublicNoticeRow
from epicity.notices.service import (
    ZONE,
    count_visible,
    day_end,
    district_counts,
    parse_filters,
    sync_from_outbox,
    visible_notices,
)
from epicity.tracing.models import OutboxMessage
from epicity.tracing.outbox import approve, enqueue
from epicity.tracing.warnings import IsolationOrder, Warnings

LATER = T0 + dt.timedelta(days=1)


def _order(contact_id: int = 5) -> IsolationOrder:
    return IsolationOrder(
        contact_id=contact_id,
        last_exposure=T0,
        isolate_until=dt.date(2020, 3, 19),
        place="Guro Cafe 12 (Guro-gu)",
        reason="close contact",
        expires=dt.datetime(2020, 3, 20, tzinfo=ZONE),
    )


def test_sync_copies_approved_public_notices_only_and_is_idempotent(session: Session) -> None:
    queue(session, 1, [notice()], orders=[_order()])  # approved: notice and order
    queue(session, 2, [notice(PARK, place_id=30)], approved=False)  # waits for approval
    assert session.scalar(select(OutboxMessage.id).where(OutboxMessage.kind == "isolation_order"))
    assert sync_from_outbox(session, now=LATER) == 1
    assert sync_from_outbox(session, now=LATER) == 0  # again: nothing new
    rows = session.scalars(select(PublicNoticeRow)).all()
    assert [(r.source, r.venue_name, r.category, r.district) for r in rows] == [
        ("tracing", "Guro Cafe 12", "cafe", "Guro-gu")
    ]
    r = rows[0]
    # tracing's rounding: 12:03-12:53 -> 12:00-13:00; expiry 14 days after the end
    assert r.starts_at == dt.datetime(2020, 3, 5, 12, 0, tzinfo=ZONE)
    assert r.ends_at == dt.datetime(2020, 3, 5, 13, 0, tzinfo=ZONE)
    assert r.expires_at == r.ends_at + dt.timedelta(days=14)
    assert r.address == "12 Digital-ro, Guro-gu"
    assert r.disinfection_advised
    assert r.time_known
    assert r.published_at == T0 + dt.timedelta(hours=1)  # the officer's approval
    # nothing that points to the case: no outbox id, no case id, a key not the outbox's
    columns = set(PublicNoticeRow.__table__.columns.keys())
    assert not {"case_id", "person_id", "outbox_id", "dedupe_key"} & columns
    assert r.source_key not in set(session.scalars(select(OutboxMessage.dedupe_key)))
    # the other case's notice is copied once an officer approves it
    approve(session, case_id=2, actor="officer", now=LATER)
    assert sync_from_outbox(session, now=LATER) == 1
    assert count_visible(session, as_of=LATER) == 2


def test_two_cases_at_the_same_place_and_window_make_one_notice(session: Session) -> None:
    queue(session, 1, [notice()])
    queue(session, 2, [notice(start=T0 + dt.timedelta(minutes=2))])  # same rounded window
    assert sync_from_outbox(session, now=LATER) == 1
    assert count_visible(session, as_of=LATER) == 1


def test_a_cancelled_notice_is_deleted(session: Session) -> None:
    queue(session, 1, [notice(), notice(PARK, place_id=30)])
    assert sync_from_outbox(session, now=LATER) == 2
    # a re-trace no longer gives the park: its pending row is cancelled
    enqueue(session, case_id=1, warnings=Warnings("Asia/Seoul", notices=[notice()]), now=LATER)
    assert sync_from_outbox(session, now=LATER) == 0
    names = [n.venue_name for n in visible_notices(session, as_of=LATER)]
    assert names == ["Guro Cafe 12"]


def test_a_notice_expires_14_days_after_the_visit_then_is_deleted(session: Session) -> None:
    queue(session, 1, [notice()])
    sync_from_outbox(session, now=LATER)
    end = dt.datetime(2020, 3, 5, 13, 0, tzinfo=ZONE)
    expiry = end + dt.timedelta(days=14)
    just_before = expiry - dt.timedelta(microseconds=1)
    assert count_visible(session, as_of=just_before) == 1
    assert count_visible(session, as_of=expiry) == 0  # exactly 14 days: gone
    # before its approval it was not public yet
    assert count_visible(session, as_of=T0) == 0
    # deleted on schedule: the next sync after expiry removes it, and does not bring it back
    assert sync_from_outbox(session, now=just_before) == 0
    assert session.scalar(select(PublicNoticeRow.id)) is not None
    assert sync_from_outbox(session, now=expiry) == 0
    assert session.scalar(select(PublicNoticeRow.id)) is None
    assert sync_from_outbox(session, now=expiry + dt.timedelta(days=1)) == 0
    assert session.scalar(select(PublicNoticeRow.id)) is None


def _three(session: Session) -> None:
    queue(
        session,
        1,
        [
            notice(start=T0),
            notice(PARK, place_id=30, start=T0 + dt.timedelta(days=1)),
            notice(place_id=13, start=T0 + dt.timedelta(days=2)),
        ],
    )
    sync_from_outbox(session, now=T0 + dt.timedelta(days=3))


def test_filters_order_and_paging(session: Session) -> None:
    _three(session)
    at = T0 + dt.timedelta(days=3)
    got = visible_notices(session, as_of=at)
    assert [n.visit_date.day for n in got] == [7, 6, 5]  # newest visit first
    assert [n.district for n in visible_notices(session, as_of=at, district="Mapo-gu")] == [
        "Mapo-gu"
    ]
    one_day = visible_notices(session, as_of=at, start=dt.date(2020, 3, 6), end=dt.date(2020, 3, 6))
    assert [n.visit_date.day for n in one_day] == [6]
    assert count_visible(session, as_of=at, start=dt.date(2020, 3, 6)) == 2
    assert count_visible(session, as_of=at, end=dt.date(2020, 3, 5)) == 1
    assert count_visible(session, as_of=at, source="ds4c") == 0
    assert [n.visit_date.day for n in visible_notices(session, as_of=at, limit=1, offset=1)] == [6]
    assert district_counts(session, as_of=at) == {"Guro-gu": 2, "Mapo-gu": 1}
    assert got[0].to_json()["start"].endswith("+09:00")


def test_as_of_a_past_day(session: Session) -> None:
    _three(session)
    # at the end of 2020-03-19 the visit of 03-05 (13:00 + 14 days = 03-19 13:00) is gone
    assert count_visible(session, as_of=day_end(dt.date(2020, 3, 19))) == 2
    assert count_visible(session, as_of=day_end(dt.date(2020, 3, 18))) == 3
    assert count_visible(session, as_of=day_end(dt.date(2020, 3, 22))) == 0


def test_bad_filters_name_the_field(session: Session) -> None:
    cases: list[tuple[dict[str, object], str]] = [
        ({"district": "Atlantis-gu"}, "district"),
        ({"source": "rumour"}, "source"),
        ({"start": dt.date(2020, 3, 9), "end": dt.date(2020, 3, 1)}, "start"),
        ({"limit": 501}, "limit"),
        ({"offset": -1}, "offset"),
        ({"as_of": dt.datetime(2020, 3, 5)}, "as_of"),  # naive
    ]
    for kwargs, field in cases:
        with pytest.raises(NoticeError, match=f"^{field}:"):
            visible_notices(session, **{"as_of": LATER, **kwargs})  # type: ignore[arg-type]
    with pytest.raises(NoticeError, match=r"^now:"):
        sync_from_outbox(session, now=dt.datetime(2020, 3, 5))


NOW = dt.datetime(2020, 4, 1, 12, tzinfo=ZONE)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": "2020-13-01"}, "start"),
        ({"end": "yesterday"}, "end"),
        ({"as_of": "2020-04-02"}, "as_of"),  # the future
        ({"as_of": "1999-01-01"}, "as_of"),
        ({"district": "<script>"}, "district"),
        ({"source": "x"}, "source"),
        ({"start": "2020-03-09", "end": "2020-03-08"}, "start"),
    ],
)
def test_parse_filters_refuses_bad_strings(params: dict[str, str], field: str) -> None:
    with pytest.raises(NoticeError, match=f"^{field}:"):
        parse_filters(params, now=NOW)


def test_parse_filters() -> None:
    f = parse_filters({"district": " Mapo-gu ", "as_of": "2020-03-20", "start": ""}, now=NOW)
    assert f.district == "Mapo-gu"
    assert f.start is None
    assert f.as_of == day_end(dt.date(2020, 3, 20))
    assert parse_filters({"as_of": "2020-04-01"}, now=NOW).as_of == NOW  # today: up to now
    assert parse_filters({}, now=NOW).as_of == NOW


def test_publishing_the_figures_publishes_the_approved_notices(session: Session) -> None:
    from epicity.cases import service as cases
    from epicity.opendata.service import publish

    queue(session, 1, [notice()])  # approved by an officer
    cases.create_case(
        session,
        source="test",
        actor="officer",
        status="confirmed",
        district="Guro-gu",
        confirmed_date=dt.date(2020, 3, 5),
    )
    publish(session, as_of=dt.date(2020, 3, 5), actor="officer", now=LATER)
    assert count_visible(session, as_of=LATER) == 1
