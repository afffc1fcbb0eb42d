"""Relief on both backends: amounts by the 2020 rule, eligibility from isolation orders,
closures and public notices, double applications refused, decisions with reasons sent to the
applicant, approval only when eligible, and an idempotent payments export."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from tests.relief.helpers import VENUE, business_number, isolate, officer, public_notice

from epicity.relief import service as relief
from epicity.relief.errors import (
    AlreadyDecided,
    ApplicationNotFound,
    DuplicateApplication,
    NotEligible,
    ReliefInvalid,
)
from epicity.relief.models import ReliefApplication, ReliefPayment
from epicity.tracing.models import OutboxMessage

D = dt.date
BRN = business_number("123456789")
PERSON = 424242


def _living(session: Session, **kw: Any) -> ReliefApplication:
    args: dict[str, Any] = {
        "person_id": PERSON,
        "kind": "living_support",
        "period_start": D(2020, 3, 2),
        "period_end": D(2020, 3, 15),
        "household_size": 4,
    }
    args.update(kw)
    return relief.apply(session, **args)


def _business(session: Session, **kw: Any) -> ReliefApplication:
    args: dict[str, Any] = {
        "person_id": PERSON,
        "kind": "rent_relief",
        "period_start": D(2020, 3, 9),
        "period_end": D(2020, 3, 22),
        "venue_id": VENUE,
        "business_number": BRN,
        "amount_krw": 1_500_000,
    }
    args.update(kw)
    return relief.apply(session, **args)


def _rows(session: Session) -> dict[str, int]:
    session.flush()
    return {
        m.__tablename__: session.scalar(select(func.count()).select_from(m)) or 0
        for m in (ReliefApplication, ReliefPayment, OutboxMessage)
    }


# -- pure rules -------------------------------------------------------------------------------


def test_living_support_follows_the_2020_rule() -> None:
    # Dong-A Ilbo's example: a family of four isolated for 10 days, 87,900 won a day
    assert relief.living_support_amount(4, 10) == 879_000
    assert relief.living_support_amount(4, 14) == 1_230_000
    assert relief.living_support_amount(1, 14) == 454_900
    assert relief.living_support_amount(1, 30) == 454_900  # 14 days or more: a month's amount
    assert relief.living_support_amount(7, 20) == relief.living_support_amount(5, 20)
    assert relief.living_support_amount(2, 1) == 55_300  # 774,700 / 14 = 55,336 -> 55,300
    with pytest.raises(ReliefInvalid, match="household_size"):
        relief.living_support_amount(0, 10)


def test_business_numbers_need_their_check_digit() -> None:
    assert relief.business_number_valid(BRN)
    assert relief.business_number_valid(f"{BRN[:3]}-{BRN[3:5]}-{BRN[5:]}")
    wrong = BRN[:9] + str((int(BRN[9]) + 1) % 10)
    assert not relief.business_number_valid(wrong)
    assert not relief.business_number_valid("12345")
    assert not relief.business_number_valid("１２３４５６７８９０")


# -- living support ---------------------------------------------------------------------------


def test_living_support_needs_an_ordered_isolation_covering_the_period(session: Session) -> None:
    officer_id = officer(session)
    isolate(session, PERSON, D(2020, 3, 2), D(2020, 3, 15), officer_id=officer_id)
    ok = _living(session)
    assert ok.eligible
    assert ok.amount_krw == 1_230_000
    assert "ordered isolation 2020-03-02 to 2020-03-15" in ok.eligibility["evidence"][0]
    # a period beyond the order is not covered
    late = _living(
        session, person_id=PERSON, period_start=D(2020, 3, 16), period_end=D(2020, 3, 20)
    )
    assert not late.eligible
    assert "no ordered isolation covers" in late.eligibility["problems"][0]
    # voluntary isolation does not qualify
    isolate(session, 99, D(2020, 3, 2), D(2020, 3, 15), ordered=False)
    voluntary = _living(session, person_id=99)
    assert not voluntary.eligible
    assert any("voluntary" in p for p in voluntary.eligibility["problems"])
    # nobody isolating at all
    assert not _living(session, person_id=7).eligible
    # paid leave excludes
    isolate(session, 8, D(2020, 3, 2), D(2020, 3, 15), officer_id=officer_id)
    leave = _living(session, person_id=8, received_paid_leave=True)
    assert any("paid leave" in p for p in leave.eligibility["problems"])


def test_a_second_application_for_an_overlapping_period_is_refused(session: Session) -> None:
    first = _living(session)
    before = _rows(session)
    with pytest.raises(DuplicateApplication, match=f"application {first.id}"):
        _living(session, period_start=D(2020, 3, 10), period_end=D(2020, 3, 20))
    assert _rows(session) == before
    _living(session, period_start=D(2020, 3, 16), period_end=D(2020, 3, 20))  # no overlap: fine
    relief.decide(session, application_id=first.id, approve=False, reason="no order", actor="o")
    _living(session)  # the rejected one no longer blocks a new application


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"period_end": D(2020, 3, 1)}, "period_end"),
        ({"period_end": D(2020, 5, 1)}, "period_end"),
        ({"household_size": 0}, "household_size"),
        ({"household_size": None}, "household_size"),
        ({"kind": "bailout"}, "kind"),
        ({"amount_krw": 5}, "amount_krw"),
        ({"venue_id": VENUE}, "venue_id"),
        ({"person_id": -1}, "person_id"),
        ({"period_start": D(1, 1, 1), "period_end": D(1, 1, 5)}, "period_start"),
    ],
)
def test_bad_living_applications_store_nothing(
    session: Session, change: dict[str, Any], field: str
) -> None:
    with pytest.raises(ReliefInvalid) as err:
        _living(session, **change)
    assert err.value.field == field
    assert _rows(session) == {"relief_applications": 0, "relief_payments": 0, "outbox": 0}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount_krw": 5_000_001}, "amount_krw"),
        ({"kind": "emergency_loan", "amount_krw": 20_000_001}, "amount_krw"),
        ({"amount_krw": 0}, "amount_krw"),
        ({"amount_krw": None}, "amount_krw"),
        ({"business_number": "1234567890"}, "business_number"),
        ({"venue_id": None}, "venue_id"),
        ({"household_size": 2}, "household_size"),
        ({"period_start": D(1, 1, 1), "period_end": D(1, 1, 5)}, "period_start"),
    ],
)
def test_bad_business_applications_store_nothing(
    session: Session, change: dict[str, Any], field: str
) -> None:
    with pytest.raises(ReliefInvalid) as err:
        _business(session, **change)
    assert err.value.field == field
    assert _rows(session)["relief_applications"] == 0


# -- business relief --------------------------------------------------------------------------


def test_a_recorded_closure_makes_the_venue_eligible(session: Session) -> None:
    assert not _business(session).eligible
    relief.record_closure(
        session,
        venue_id=VENUE,
        starts_on=D(2020, 3, 10),
        ends_on=D(2020, 3, 16),
        order_ref="Guro-2020-0311",
        reason="cluster",
        actor="officer",
    )
    app = _business(session, kind="emergency_loan", amount_krw=10_000_000)
    assert app.eligible
    assert "closure order Guro-2020-0311" in app.eligibility["evidence"][0]
    assert "verify it with the tax office" in app.eligibility["evidence"][-1]
    with pytest.raises(ReliefInvalid, match="ends_on"):
        relief.record_closure(
            session, venue_id=VENUE, starts_on=D(2020, 3, 10), ends_on=D(2020, 3, 9),
            order_ref="x", reason="y", actor="o",
        )  # fmt: skip


def test_a_published_public_notice_makes_the_venue_eligible(session: Session) -> None:
    public_notice(session, VENUE, D(2020, 2, 1))  # too long before the period
    public_notice(session, VENUE, D(2020, 3, 5), approved=False, status="pending")  # unpublished
    public_notice(session, VENUE, D(2020, 3, 6), status="cancelled")
    public_notice(session, VENUE + 1, D(2020, 3, 6))  # another venue
    assert not _business(session).eligible
    public_notice(session, VENUE, D(2020, 3, 4))  # 5 days before the period: counts
    app = _business(session, kind="emergency_loan", amount_krw=3_000_000)
    assert app.eligible
    assert "public notice of 2020-03-04 (19:00-21:30)" in app.eligibility["evidence"][0]


def test_the_same_venue_cannot_claim_the_same_relief_twice(session: Session) -> None:
    _business(session)
    with pytest.raises(DuplicateApplication, match=f"venue {VENUE}"):
        _business(session, person_id=PERSON + 1, period_start=D(2020, 3, 20))
    _business(session, kind="emergency_loan")  # another kind of relief: fine


# -- decisions and payments -------------------------------------------------------------------


def test_decisions_need_a_reason_eligibility_and_are_sent(session: Session) -> None:
    officer_id = officer(session)
    isolate(session, PERSON, D(2020, 3, 2), D(2020, 3, 15), officer_id=officer_id)
    good = _living(session)
    bad = _living(session, person_id=7)
    with pytest.raises(ReliefInvalid, match="reason"):
        relief.decide(session, application_id=good.id, approve=True, reason=" ", actor="o")
    before = _rows(session)
    with pytest.raises(NotEligible, match="no ordered isolation"):
        relief.decide(session, application_id=bad.id, approve=True, reason="ok", actor="o")
    assert _rows(session) == before
    assert bad.status == "pending"
    with pytest.raises(ApplicationNotFound):
        relief.decide(session, application_id=10**9, approve=True, reason="ok", actor="o")

    done = relief.decide(
        session, application_id=good.id, approve=True, reason="order verified", actor="ho"
    )
    assert (done.status, done.decided_by, done.decision_reason) == (
        "approved",
        "ho",
        "order verified",
    )
    payment = relief.payment_for(session, application_id=good.id)
    assert payment is not None
    assert payment.reference == f"EPC-RLF-{good.id:010d}"
    assert payment.amount_krw == 1_230_000
    relief.decide(session, application_id=bad.id, approve=False, reason="no order", actor="ho")
    assert relief.payment_for(session, application_id=bad.id) is None
    with pytest.raises(AlreadyDecided):
        relief.decide(session, application_id=good.id, approve=False, reason="x", actor="ho")
    sent = list(
        session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.kind == "relief_decision")
            .order_by(OutboxMessage.id)
        )
    )
    assert [(m.case_id, m.payload["decision"]) for m in sent] == [
        (PERSON, "approved"),
        (7, "rejected"),
    ]
    assert "1,230,000 KRW" in sent[0].payload["text"]
    assert "no order" in sent[1].payload["text"]
    assert sent[0].approved_by == "system"


def test_the_payments_export_is_idempotent(session: Session) -> None:
    officer_id = officer(session)
    ids = []
    for person in (1, 2, 3):
        isolate(session, person, D(2020, 3, 2), D(2020, 3, 11), officer_id=officer_id)
        ids.append(_living(session, person_id=person, period_end=D(2020, 3, 11)).id)
    for i in ids[:2]:
        relief.decide(session, application_id=i, approve=True, reason="ok", actor="ho")
    t1 = dt.datetime(2020, 3, 20, 9, tzinfo=dt.UTC)
    first = relief.export_payments(session, now=t1)
    assert [r["application_id"] for r in first] == ids[:2]
    assert {r["exported_at"] for r in first} == {t1.isoformat()}
    assert first[0]["amount_krw"] == 10 * 87_900
    again = relief.export_payments(session, now=t1 + dt.timedelta(days=1))
    assert again == first  # same rows, same references, first export time kept
    assert relief.export_payments(session, new_only=True) == []
    relief.decide(session, application_id=ids[2], approve=True, reason="ok", actor="ho")
    t3 = t1 + dt.timedelta(days=2)
    new = relief.export_payments(session, new_only=True, now=t3)
    assert [r["application_id"] for r in new] == [ids[2]]
    text = relief.payments_csv(relief.export_payments(session, now=t3))
    lines = text.split("\r\n")
    assert lines[0] == ",".join(relief.CSV_COLUMNS)
    assert len([x for x in lines if x]) == 4
    assert lines[1].startswith(f"EPC-RLF-{ids[0]:010d},{ids[0]},living_support,1,,,879000,")


def test_citizens_reach_only_their_own_applications(session: Session) -> None:
    mine = _living(session)
    other = _living(session, person_id=PERSON + 1)
    assert relief.own_application(session, person_id=PERSON, application_id=mine.id) is mine
    with pytest.raises(ApplicationNotFound):
        relief.own_application(session, person_id=PERSON, application_id=other.id)
    assert [a.id for a in relief.own_applications(session, person_id=PERSON)] == [mine.id]
