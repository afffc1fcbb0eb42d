"""Relief over a session: applications, their automatic eligibility check against epicity's own
records, officers' decisions, venue closure orders and the payments export.

**Living support** (``living_support``) is for a person ordered into isolation: the claimed
period must lie within one of their *ordered* isolation periods
(`epicity.isolation.service.isolation_periods`; voluntary isolation does not qualify), and
the person must not have received paid leave for it. The amount follows Korea's 2020 rule
(Ministry of Health and Welfare, announced 2020-02-08, payable from 2020-02-17; reported by
Yonhap, "Gov't to provide 1.23 mln won per month for 4-person family with members in
quarantine", 2020-02-08, and Dong-A Ilbo, 2020-02-10): a month's emergency-welfare living
allowance by household size for an isolation of 14 days or more, and for a shorter one the
daily amount (the monthly one / 14, rounded to 100 won) times the days: a family of four
isolated for 10 days receives 10 x 87,900 = 879,000 won, Dong-A's own example. The table is
the 2020 emergency-welfare living allowance; 1 to 4 persons are as reported, the 5-or-more
amount (1,457,500) continues the table's steps of about 227,500 won: Dong-A printed 1,475,000
and another summary 1,453,400, so check it against the ministry's notice before paying. A
city with other rules changes `LIVING_SUPPORT_KRW` and `FULL_PERIOD_DAYS`.

**Business relief** (``rent_relief``, ``emergency_loan``) is for a venue that an officer's
recorded closure order closed during the claimed period, or that a public notice (an
approved ``public_notice`` in the outbox, `epicity.tracing.warnings.PublicNotice`) named
within `NOTICE_LOOKBACK_DAYS` before the period or during it. The applicant states the
amount, up to the city's cap (`BUSINESS_CAP_KRW`: illustrative defaults, not a Seoul figure).
epicity has no register of who owns a venue: the business registration number's check digit
is verified, and the officer verifies ownership with the tax office's register (the evidence
says so).

An officer approves (only an eligible application) or rejects, always with a reason; the
applicant is told through the outbox (``relief_decision``). An approval creates a payment
with a stable reference; `export_payments` lists payments for the finance system and stamps
``exported_at`` the first time each goes out, so exporting again repeats the same rows.

Functions flush but do not commit: the caller owns the transaction.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from epicity.db import utcnow
from epicity.relief.errors import (
    AlreadyDecided,
    ApplicationNotFound,
    DuplicateApplication,
    NotEligible,
    ReliefInvalid,
)
from epicity.relief.models import (
    ACTOR_MAX,
    APPLICATION_KINDS,
    APPLICATION_STATUSES,
    ORDER_REF_MAX,
    ReliefApplication,
    ReliefPayment,
    VenueClosure,
)
from epicity.tracing.models import OutboxMessage
from epicity.tracing.outbox import enqueue_message

__all__ = [
    "BUSINESS_CAP_KRW",
    "CSV_COLUMNS",
    "FULL_PERIOD_DAYS",
    "LIVING_SUPPORT_KRW",
    "MAX_PERIOD_DAYS",
    "NOTICE_LOOKBACK_DAYS",
    "Eligibility",
    "apply",
    "business_number_valid",
    "check_eligibility",
    "decide",
    "export_payments",
    "get_application",
    "list_applications",
    "list_closures",
    "living_support_amount",
    "own_application",
    "own_applications",
    "payment_for",
    "payments_csv",
    "record_closure",
]

# 2020 emergency-welfare living allowance by household size (KRW, a month): see the docstring.
LIVING_SUPPORT_KRW: Mapping[int, int] = {
    1: 454_900,
    2: 774_700,
    3: 1_002_400,
    4: 1_230_000,
    5: 1_457_500,  # 5 or more
}
FULL_PERIOD_DAYS = 14  # 14 days or more of isolation: the full monthly amount
MAX_PERIOD_DAYS = 31  # one application covers at most a month
MAX_HOUSEHOLD = 20
# The city's caps per application (illustrative defaults; set them from the city's programme).
BUSINESS_CAP_KRW: Mapping[str, int] = {"rent_relief": 5_000_000, "emergency_loan": 20_000_000}
NOTICE_LOOKBACK_DAYS = 14  # a notice this long before the period still counts (lost custom)
REASON_MAX = 2000
EARLIEST, LATEST = dt.date(2000, 1, 1), dt.date(2100, 12, 31)  # dates any claim can have
PAYMENT_PREFIX = "EPC-RLF-"
CSV_COLUMNS = (
    "reference",
    "application_id",
    "kind",
    "person_id",
    "venue_id",
    "business_number",
    "amount_krw",
    "period_start",
    "period_end",
    "approved_at",
    "approved_by",
    "exported_at",
)


@dataclass(frozen=True)
class Eligibility:
    """The automatic check: eligible or not, the records found, and what is missing."""

    eligible: bool
    evidence: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """As stored with the application."""
        return {"eligible": self.eligible, "evidence": self.evidence, "problems": self.problems}


# --------------------------------------------------------------------------------------------
# pure rules


def living_support_amount(household_size: int, days: int) -> int:
    """Living support in KRW for a household of `household_size` isolated `days` days: the
    full amount from `FULL_PERIOD_DAYS` days on, else the daily amount (rounded to 100 won)
    times the days."""
    if not 1 <= household_size <= MAX_HOUSEHOLD:
        raise ReliefInvalid("household_size", f"must be 1 to {MAX_HOUSEHOLD}")
    if not 1 <= days <= MAX_PERIOD_DAYS:
        raise ReliefInvalid("period", f"must be 1 to {MAX_PERIOD_DAYS} days, got {days}")
    full = LIVING_SUPPORT_KRW[min(household_size, max(LIVING_SUPPORT_KRW))]
    if days >= FULL_PERIOD_DAYS:
        return full
    daily = round(full / FULL_PERIOD_DAYS / 100) * 100
    return daily * days


def business_number_valid(number: str) -> bool:
    """Whether a Korean business registration number (10 digits, dashes allowed) has a valid
    check digit (weights 1,3,7,1,3,7,1,3,5; the ninth digit's 5x carry)."""
    digits = number.replace("-", "")
    if len(digits) != 10 or not digits.isascii() or not digits.isdigit():
        return False
    d = [int(c) for c in digits]
    weights = (1, 3, 7, 1, 3, 7, 1, 3, 5)
    total = sum(a * b for a, b in zip(d, weights, strict=False)) + d[8] * 5 // 10
    return (10 - total % 10) % 10 == d[9]


def _check_period(start: dt.date, end: dt.date) -> int:
    for name, day in (("period_start", start), ("period_end", end)):
        if not EARLIEST <= day <= LATEST:
            raise ReliefInvalid(name, f"must be between {EARLIEST} and {LATEST}, got {day}")
    if end < start:
        raise ReliefInvalid("period_end", f"{end} is before period_start {start}")
    days = (end - start).days + 1
    if days > MAX_PERIOD_DAYS:
        raise ReliefInvalid("period_end", f"a period is at most {MAX_PERIOD_DAYS} days")
    return days


def _check_actor(actor: str) -> str:
    who = (actor or "").strip()
    if not who or len(who) > ACTOR_MAX:
        raise ReliefInvalid("actor", f"required, at most {ACTOR_MAX} characters")
    return who


def _check_id(value: int, name: str) -> int:
    if isinstance(value, bool) or not 0 <= int(value) <= 2**63 - 1:
        raise ReliefInvalid(name, "must be a non-negative whole number")
    return int(value)


# --------------------------------------------------------------------------------------------
# closures and eligibility


def record_closure(
    session: Session,
    *,
    venue_id: int,
    starts_on: dt.date,
    ends_on: dt.date,
    order_ref: str,
    reason: str,
    actor: str,
    now: dt.datetime | None = None,
) -> VenueClosure:
    """Record a closure order for a venue (flushes)."""
    for name, day in (("starts_on", starts_on), ("ends_on", ends_on)):
        if not EARLIEST <= day <= LATEST:
            raise ReliefInvalid(name, f"must be between {EARLIEST} and {LATEST}, got {day}")
    if ends_on < starts_on:
        raise ReliefInvalid("ends_on", f"{ends_on} is before starts_on {starts_on}")
    ref = (order_ref or "").strip()
    if not ref or len(ref) > ORDER_REF_MAX:
        raise ReliefInvalid("order_ref", f"required, at most {ORDER_REF_MAX} characters")
    why = (reason or "").strip()
    if not why or len(why) > REASON_MAX:
        raise ReliefInvalid("reason", f"required, at most {REASON_MAX} characters")
    row = VenueClosure(
        venue_id=_check_id(venue_id, "venue_id"),
        starts_on=starts_on,
        ends_on=ends_on,
        order_ref=ref,
        reason=why,
        recorded_by=_check_actor(actor),
        recorded_at=utcnow() if now is None else now,
    )
    session.add(row)
    session.flush()
    return row


def list_closures(session: Session, *, venue_id: int | None = None) -> list[VenueClosure]:
    """Recorded closure orders, newest first, optionally for one venue."""
    query = select(VenueClosure)
    if venue_id is not None:
        query = query.where(VenueClosure.venue_id == venue_id)
    return list(session.scalars(query.order_by(VenueClosure.starts_on.desc(), VenueClosure.id)))


def _living_eligibility(
    session: Session, person_id: int, start: dt.date, end: dt.date, paid_leave: bool
) -> Eligibility:
    from epicity.isolation.service import isolation_periods

    evidence, problems = [], []
    periods = isolation_periods(session, person_id=person_id)
    covering = [p for p in periods if p.ordered and p.start <= start and end <= p.end]
    for p in covering:
        evidence.append(
            f"ordered isolation {p.start} to {p.end} (registration {p.registration_id}, "
            f"{p.status}) covers {start} to {end}"
        )
    if not covering:
        ordered = [p for p in periods if p.ordered]
        voluntary = [p for p in periods if not p.ordered]
        if ordered:
            spans = ", ".join(f"{p.start} to {p.end}" for p in ordered)
            problems.append(f"no ordered isolation covers {start} to {end} (ordered: {spans})")
        else:
            problems.append("no ordered isolation on record for this person")
        if voluntary:
            problems.append("voluntary isolation does not qualify for living support")
    if paid_leave:
        problems.append("paid leave was received for the period: living support excluded")
    return Eligibility(not problems, evidence, problems)


def _business_eligibility(
    session: Session, venue_id: int, business_number: str, start: dt.date, end: dt.date
) -> Eligibility:
    evidence = []
    closures = session.scalars(
        select(VenueClosure)
        .where(
            VenueClosure.venue_id == venue_id,
            VenueClosure.starts_on <= end,
            VenueClosure.ends_on >= start,
        )
        .order_by(VenueClosure.starts_on, VenueClosure.id)
    )
    for c in closures:
        evidence.append(
            f"closure order {c.order_ref} for {c.starts_on} to {c.ends_on} "
            f"(recorded by {c.recorded_by})"
        )
    earliest = start - dt.timedelta(days=NOTICE_LOOKBACK_DAYS)
    # Public notices are few (one per venue and window); their venue is in the JSON payload,
    # read here rather than by a backend-specific JSON query.
    notices = session.scalars(
        select(OutboxMessage)
        .where(
            OutboxMessage.kind == "public_notice",
            OutboxMessage.status != "cancelled",
            OutboxMessage.approved_at.is_not(None),
        )
        .order_by(OutboxMessage.id)
    )
    for n in notices:
        payload = n.payload or {}
        try:
            place = int(payload.get("place_id", -1))
            day = dt.date.fromisoformat(str(payload.get("date", "")))
        except (TypeError, ValueError):
            continue
        if place == venue_id and earliest <= day <= end:
            evidence.append(
                f"public notice of {day} ({payload.get('start_time', '?')}-"
                f"{payload.get('end_time', '?')}) names the venue"
            )
    problems = []
    if not evidence:
        problems.append(
            f"no closure order between {start} and {end} and no public notice from {earliest} "
            f"to {end} for venue {venue_id}"
        )
    evidence.append(
        f"business registration {business_number}: check digit valid; ownership of the venue "
        "is not in epicity's records: verify it with the tax office's register"
    )
    return Eligibility(not problems, evidence, problems)


def check_eligibility(session: Session, application: ReliefApplication) -> Eligibility:
    """The automatic eligibility check of `application` against the current records."""
    a = application
    if a.kind == "living_support":
        return _living_eligibility(
            session, a.person_id, a.period_start, a.period_end, a.received_paid_leave
        )
    assert a.venue_id is not None
    assert a.business_number is not None
    return _business_eligibility(
        session, a.venue_id, a.business_number, a.period_start, a.period_end
    )


# --------------------------------------------------------------------------------------------
# applications


def apply(
    session: Session,
    *,
    person_id: int,
    kind: str,
    period_start: dt.date,
    period_end: dt.date,
    household_size: int | None = None,
    venue_id: int | None = None,
    business_number: str | None = None,
    amount_krw: int | None = None,
    received_paid_leave: bool = False,
    now: dt.datetime | None = None,
) -> ReliefApplication:
    """Submit an application for `person_id` (flushes) and check its eligibility at once.

    Living support names `household_size` (the amount is computed); a business application
    names `venue_id`, `business_number` and the `amount_krw` asked for. Raises
    `ReliefInvalid` naming the field, or `DuplicateApplication` when an application of the
    same kind for the same person (living support) or venue (business) overlaps the period
    and is not rejected. An application that is not eligible is still stored: the officer
    sees why, and the records may catch up (an isolation registered late)."""
    if kind not in APPLICATION_KINDS:
        raise ReliefInvalid("kind", f"must be one of {', '.join(APPLICATION_KINDS)}")
    person = _check_id(person_id, "person_id")
    days = _check_period(period_start, period_end)
    if kind == "living_support":
        if household_size is None:
            raise ReliefInvalid("household_size", "required for living support")
        if venue_id is not None or business_number is not None:
            raise ReliefInvalid("venue_id", "living support names no venue")
        amount = living_support_amount(household_size, days)
        if amount_krw is not None and amount_krw != amount:
            raise ReliefInvalid(
                "amount_krw", f"living support is set by the rules: {amount} for this period"
            )
        number = None
        clash = ReliefApplication.person_id == person
    else:
        if household_size is not None:
            raise ReliefInvalid("household_size", "only for living support")
        if venue_id is None:
            raise ReliefInvalid("venue_id", f"required for {kind}")
        venue = _check_id(venue_id, "venue_id")
        if business_number is None or not business_number_valid(business_number):
            raise ReliefInvalid(
                "business_number", "must be a valid 10-digit business registration number"
            )
        number = business_number.replace("-", "")
        cap = BUSINESS_CAP_KRW[kind]
        if amount_krw is None or isinstance(amount_krw, bool) or not 1 <= amount_krw <= cap:
            raise ReliefInvalid("amount_krw", f"must be 1 to {cap:,} KRW for {kind}")
        amount = int(amount_krw)
        clash = ReliefApplication.venue_id == venue
    session.flush()
    existing = session.scalars(
        select(ReliefApplication.id).where(
            ReliefApplication.kind == kind,
            clash,
            ReliefApplication.status != "rejected",
            ReliefApplication.period_start <= period_end,
            ReliefApplication.period_end >= period_start,
        )
    ).first()
    if existing is not None:
        what = "this person" if kind == "living_support" else f"venue {venue_id}"
        raise DuplicateApplication(
            f"period: application {existing} already claims {kind} for {what} in an "
            "overlapping period"
        )
    row = ReliefApplication(
        kind=kind,
        person_id=person,
        household_size=household_size,
        venue_id=None if kind == "living_support" else venue_id,
        business_number=number,
        period_start=period_start,
        period_end=period_end,
        amount_krw=amount,
        received_paid_leave=bool(received_paid_leave),
        status="pending",
        eligible=False,
        eligibility={},
        submitted_at=utcnow() if now is None else now,
    )
    result = check_eligibility(session, row)
    row.eligible = result.eligible
    row.eligibility = result.to_json()
    session.add(row)
    session.flush()
    return row


def get_application(session: Session, *, application_id: int) -> ReliefApplication:
    """The application, or `ApplicationNotFound`."""
    row = session.get(ReliefApplication, application_id)
    if row is None:
        raise ApplicationNotFound(f"application_id: no application with id {application_id}")
    return row


def own_application(session: Session, *, person_id: int, application_id: int) -> ReliefApplication:
    """A citizen's own application; another's is `ApplicationNotFound`, as if absent."""
    row = session.get(ReliefApplication, application_id)
    if row is None or row.person_id != person_id:
        raise ApplicationNotFound(
            f"application_id: no application of yours with id {application_id}"
        )
    return row


def own_applications(session: Session, *, person_id: int) -> list[ReliefApplication]:
    """A citizen's applications, newest first."""
    return list(
        session.scalars(
            select(ReliefApplication)
            .where(ReliefApplication.person_id == person_id)
            .order_by(ReliefApplication.id.desc())
        )
    )


def list_applications(
    session: Session, *, status: str | None = None, limit: int = 100, offset: int = 0
) -> list[ReliefApplication]:
    """Applications for officers, oldest waiting first (by submission), filtered by status."""
    query = select(ReliefApplication)
    if status is not None:
        if status not in APPLICATION_STATUSES:
            raise ReliefInvalid("status", f"must be one of {', '.join(APPLICATION_STATUSES)}")
        query = query.where(ReliefApplication.status == status)
    query = query.order_by(ReliefApplication.submitted_at, ReliefApplication.id)
    return list(session.scalars(query.limit(limit).offset(offset)))


def payment_for(session: Session, *, application_id: int) -> ReliefPayment | None:
    """The payment of an approved application (None otherwise)."""
    return session.scalars(
        select(ReliefPayment).where(ReliefPayment.application_id == application_id)
    ).first()


def _message(row: ReliefApplication) -> str:
    what = {
        "living_support": "living-expense support",
        "rent_relief": "rent relief",
        "emergency_loan": "an emergency loan",
    }[row.kind]
    period = f"{row.period_start} to {row.period_end}"
    if row.status == "approved":
        return (
            f"Your application {row.id} for {what} ({period}) is approved: "
            f"{row.amount_krw:,} KRW will be paid. {row.decision_reason}"
        )
    return (
        f"Your application {row.id} for {what} ({period}) is not approved: "
        f"{row.decision_reason}. You may apply again with new evidence."
    )


def decide(
    session: Session,
    *,
    application_id: int,
    approve: bool,
    reason: str,
    actor: str,
    now: dt.datetime | None = None,
) -> ReliefApplication:
    """Approve or reject a pending application with a reason (flushes); the applicant is sent
    the decision (outbox ``relief_decision``). Approval checks eligibility again against the
    current records and is refused (`NotEligible`) when it fails; it creates the payment."""
    why = (reason or "").strip()
    if not why:
        raise ReliefInvalid("reason", "a decision needs a reason")
    if len(why) > REASON_MAX:
        raise ReliefInvalid("reason", f"at most {REASON_MAX} characters")
    who = _check_actor(actor)
    when = utcnow() if now is None else now
    row = get_application(session, application_id=application_id)
    if row.status != "pending":
        raise AlreadyDecided(f"application_id: application {row.id} is {row.status} already")
    result = check_eligibility(session, row)
    row.eligible = result.eligible
    row.eligibility = result.to_json()
    if approve and not result.eligible:
        session.flush()
        raise NotEligible(f"application {row.id} is not eligible: {'; '.join(result.problems)}")
    row.status = "approved" if approve else "rejected"
    row.decided_by = who
    row.decided_at = when
    row.decision_reason = why
    if approve:
        session.add(
            ReliefPayment(
                application_id=row.id,
                reference=f"{PAYMENT_PREFIX}{row.id:010d}",
                person_id=row.person_id,
                amount_krw=row.amount_krw,
                approved_at=when,
                exported_at=None,
            )
        )
    session.flush()
    enqueue_message(
        session,
        kind="relief_decision",
        person_id=row.person_id,
        payload={
            "text": _message(row),
            "application_id": row.id,
            "decision": row.status,
            "reason": why,
            "amount_krw": row.amount_krw if approve else 0,
        },
        key=f"relief:{row.id}",
        now=when,
    )
    return row


# --------------------------------------------------------------------------------------------
# the payments export


def export_payments(
    session: Session, *, new_only: bool = False, now: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """Approved payments as rows for the finance system (`CSV_COLUMNS`), by reference.

    Each payment not exported before gets ``exported_at = now`` (flushes); a payment keeps its
    reference and first export time for ever, so an export repeated gives the same rows and
    the finance system dedupes on the reference. `new_only` keeps the payments never exported
    before this call. Rows hold pseudonymous ids, never names or accounts: the finance system
    pays through the city's directory of beneficiaries."""
    when = utcnow() if now is None else now
    rows = session.execute(
        select(ReliefPayment, ReliefApplication)
        .join(ReliefApplication, ReliefApplication.id == ReliefPayment.application_id)
        .order_by(ReliefPayment.reference)
    ).all()
    out = []
    for payment, app in rows:
        fresh = payment.exported_at is None
        if fresh:
            payment.exported_at = when
        if new_only and not fresh:
            continue
        out.append(
            {
                "reference": payment.reference,
                "application_id": app.id,
                "kind": app.kind,
                "person_id": payment.person_id,
                "venue_id": app.venue_id,
                "business_number": app.business_number,
                "amount_krw": payment.amount_krw,
                "period_start": app.period_start.isoformat(),
                "period_end": app.period_end.isoformat(),
                "approved_at": payment.approved_at.isoformat(),
                "approved_by": app.decided_by,
                "exported_at": payment.exported_at.isoformat() if payment.exported_at else None,
            }
        )
    session.flush()
    return out


def payments_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """`export_payments` rows as CSV text (header first; UTF-8, comma, CRLF as RFC 4180)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row[k] for k in CSV_COLUMNS})
    return buffer.getvalue()
