"""`deliver_due` against a real SMTP server and a real HTTP gateway, on both backends."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import random
import threading

import pytest
from sqlalchemy.orm import Session, sessionmaker

from epicity.db import session_scope
from epicity.delivery.channels import SIGNATURE_HEADER, EmailChannel, WebhookChannel
from epicity.delivery.service import (
    EXPIRED,
    NO_ADDRESS,
    Channels,
    _claim,
    _record,
    deliver_due,
    status_counts,
)
from epicity.delivery.settings import RetryPolicy, SmtpSettings, WebhookSettings
from epicity.tracing.outbox import approve

from .conftest import (
    CASE_ID,
    NOW,
    SECRET,
    SENDER,
    Gateway,
    SmtpReceiver,
    add_contacts,
    free_port,
    outbox,
    queue,
    rows,
    warnings,
)

POLICY = RetryPolicy(max_attempts=4, backoff_s=10.0, max_backoff_s=1000.0, lease_s=60.0)
CONTACTS = "person_id,email,phone\n11,kim@example.org,\n12,,+82 10-1234-5678\n14,lee@example.org,+821099998888\n"


def both(smtp: SmtpReceiver, gateway: Gateway) -> Channels:
    return Channels(email=EmailChannel(smtp.settings()), webhook=WebhookChannel(gateway.settings()))


def test_routes_email_sms_broadcast_and_undeliverable(
    sessions: sessionmaker[Session], smtp: SmtpReceiver, gateway: Gateway
) -> None:
    add_contacts(sessions, CONTACTS)
    queue(sessions, warnings(orders=(11, 12, 13), advised=(14,), towers=(7,), venues=(501,)))
    report = deliver_due(sessions, both(smtp, gateway), NOW, policy=POLICY)
    assert report.sent == {"email": 2, "webhook": 3}
    assert report.undeliverable == 1
    got = outbox(sessions)

    # email for the people with an address; Message-ID from the idempotency key
    assert sorted(str(m["To"]) for m in smtp.messages) == ["kim@example.org", "lee@example.org"]
    by_to = {str(m["To"]): m for m in smtp.messages}
    kim = by_to["kim@example.org"]
    key = got["person:11"].idempotency_key
    assert kim["Message-ID"] == f"<{key}@health.seoul.example>"
    assert kim["X-Epicity-Idempotency-Key"] == key
    assert kim["From"] == SENDER
    assert kim["Subject"] == "Self-isolation order"
    assert "self-isolation until 2020-03-19" in kim.get_content()
    assert by_to["lee@example.org"]["Subject"] == "Please get tested for COVID-19"

    # SMS for the person with a phone only; area alert and public notice to the gateway
    posts = {r.json()["route"]: r for r in gateway.requests}
    assert set(posts) == {"sms", "area_alert", "public_notice"}
    sms = posts["sms"].json()
    assert sms["to"] == {"phone": "+821012345678"}
    assert sms["kind"] == "isolation_order"
    assert sms["warning"]["contact_id"] == 12
    assert posts["area_alert"].json()["to"] == {"tower_id": 7, "district": "Gangnam-gu"}
    assert posts["public_notice"].json()["to"] == {"audience": "public"}
    for r in gateway.requests:
        assert r.key == r.json()["idempotency_key"]
        assert r.headers["Content-Type"].startswith("application/json")
        expected = "sha256=" + hmac.new(SECRET.encode(), r.body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(r.headers[SIGNATURE_HEADER], expected)
        assert str(4242) not in r.body.decode()  # the case id stays internal

    for person, channel in (
        ("person:11", "email"),
        ("person:12", "webhook"),
        ("tower:7", "webhook"),
    ):
        row = got[person]
        assert (row.status, row.channel, row.attempts) == ("sent", channel, 1)
        assert row.delivered_at == NOW
        assert row.last_error is None
        assert row.lease_until is None
    nobody = got["person:13"]
    assert (nobody.status, nobody.last_error, nobody.delivered_at) == (
        "undeliverable",
        NO_ADDRESS,
        None,
    )
    # nothing more to do: a second run sends nothing
    again = deliver_due(sessions, both(smtp, gateway), NOW + dt.timedelta(hours=1))
    assert again.attempted == 0
    assert len(smtp.messages) == 2
    assert len(gateway.requests) == 3
    with sessions() as s:
        assert set(status_counts(s)) == {
            ("sent", "email", 2),
            ("sent", "webhook", 3),
            ("undeliverable", "-", 1),
        }


def test_retries_with_backoff_until_delivered_once(
    sessions: sessionmaker[Session], gateway: Gateway
) -> None:
    queue(sessions, warnings(towers=(7,)))
    gateway.fail_first = 2
    channels = Channels(webhook=WebhookChannel(gateway.settings()))
    rng = random.Random(5)
    clock = NOW
    report = deliver_due(sessions, channels, clock, policy=POLICY, rng=rng)
    assert report.retrying == {"webhook": 1}
    row = outbox(sessions)["tower:7"]
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "webhook: HTTP 503")
    # first retry after 10 s with equal jitter: between 5 and 10 s
    assert (
        clock + dt.timedelta(seconds=5) <= row.next_attempt_at <= clock + dt.timedelta(seconds=10)
    )
    # not due yet: nothing is sent
    early = deliver_due(
        sessions, channels, row.next_attempt_at - dt.timedelta(seconds=1), policy=POLICY
    )
    assert early.attempted == 0
    assert len(gateway.requests) == 1

    clock = row.next_attempt_at
    deliver_due(sessions, channels, clock, policy=POLICY, rng=rng)
    row = outbox(sessions)["tower:7"]
    assert (row.status, row.attempts) == ("pending", 2)
    assert (
        clock + dt.timedelta(seconds=10) <= row.next_attempt_at <= clock + dt.timedelta(seconds=20)
    )

    clock = row.next_attempt_at
    report = deliver_due(sessions, channels, clock, policy=POLICY, rng=rng)
    assert report.sent == {"webhook": 1}
    row = outbox(sessions)["tower:7"]
    assert (row.status, row.attempts, row.delivered_at, row.last_error) == ("sent", 3, clock, None)
    # the same key and the same signed bytes on every try; delivered once
    assert [r.status for r in gateway.requests] == [503, 503, 200]
    assert {r.key for r in gateway.requests} == {row.idempotency_key}
    assert len({r.body for r in gateway.requests}) == 1
    assert gateway.delivered_keys() == [row.idempotency_key]


def test_max_attempts_then_failed(sessions: sessionmaker[Session], gateway: Gateway) -> None:
    queue(sessions, warnings(venues=(501,)))
    gateway.always = 503
    channels = Channels(webhook=WebhookChannel(gateway.settings()))
    clock = NOW
    for attempt in range(1, POLICY.max_attempts + 1):
        report = deliver_due(sessions, channels, clock, policy=POLICY)
        row = outbox(sessions)["public"]
        assert row.attempts == attempt
        clock = row.next_attempt_at
    assert report.failed == {"webhook": 1}
    assert (row.status, row.last_error) == ("failed", "webhook: HTTP 503")
    later = deliver_due(sessions, channels, clock + dt.timedelta(days=1), policy=POLICY)
    assert later.attempted == 0
    assert len(gateway.requests) == POLICY.max_attempts


@pytest.mark.parametrize("status", [400, 404, 410, 422])
def test_permanent_4xx_fails_without_retry(
    sessions: sessionmaker[Session], gateway: Gateway, status: int
) -> None:
    queue(sessions, warnings(towers=(7,)))
    gateway.always = status
    channels = Channels(webhook=WebhookChannel(gateway.settings()))
    report = deliver_due(sessions, channels, NOW, policy=POLICY)
    assert report.failed == {"webhook": 1}
    row = outbox(sessions)["tower:7"]
    assert (row.status, row.attempts, row.last_error) == ("failed", 1, f"webhook: HTTP {status}")
    assert deliver_due(sessions, channels, NOW + dt.timedelta(days=1)).attempted == 0
    assert len(gateway.requests) == 1


@pytest.mark.parametrize("status", [408, 429])
def test_408_and_429_are_retried_after_retry_after(
    sessions: sessionmaker[Session], gateway: Gateway, status: int
) -> None:
    queue(sessions, warnings(towers=(7,)))
    gateway.always = status
    gateway.retry_after = "120"
    channels = Channels(webhook=WebhookChannel(gateway.settings()))
    report = deliver_due(sessions, channels, NOW, policy=POLICY)
    assert report.retrying == {"webhook": 1}
    row = outbox(sessions)["tower:7"]
    assert row.status == "pending"
    assert row.next_attempt_at == NOW + dt.timedelta(seconds=120)  # more than the backoff


def test_connection_refused_is_retried(sessions: sessionmaker[Session]) -> None:
    queue(sessions, warnings(orders=(11,), towers=(7,)))
    add_contacts(sessions, CONTACTS)
    dead = free_port()  # nothing listens there
    channels = Channels(
        email=EmailChannel(
            SmtpSettings(host="127.0.0.1", port=dead, sender=SENDER, starttls=False, timeout_s=2)
        ),
        webhook=WebhookChannel(
            WebhookSettings(url=f"http://127.0.0.1:{dead}/x", secret=SECRET, timeout_s=2)
        ),
    )
    report = deliver_due(sessions, channels, NOW, policy=POLICY)
    assert report.retrying == {"email": 1, "webhook": 1}
    got = outbox(sessions)
    assert got["person:11"].last_error == "SMTP: ConnectionRefusedError"
    assert got["tower:7"].last_error == "webhook: ConnectionRefusedError"
    assert {r.status for r in got.values()} == {"pending"}


def test_smtp_refused_recipient_fails_permanently(
    sessions: sessionmaker[Session], smtp: SmtpReceiver
) -> None:
    add_contacts(sessions, CONTACTS)
    smtp.refuse.add("kim@example.org")
    queue(sessions, warnings(orders=(11,), advised=(14,)))
    report = deliver_due(
        sessions, Channels(email=EmailChannel(smtp.settings())), NOW, policy=POLICY
    )
    assert report.failed == {"email": 1}
    assert report.sent == {"email": 1}
    got = outbox(sessions)
    assert (got["person:11"].status, got["person:11"].last_error) == (
        "failed",
        "SMTP 550: recipient refused",
    )
    assert "kim" not in (got["person:11"].last_error or "")  # no address in the error
    assert [str(m["To"]) for m in smtp.messages] == ["lee@example.org"]


def test_cancelled_and_expired_rows_are_never_sent(
    sessions: sessionmaker[Session], gateway: Gateway
) -> None:
    queue(sessions, warnings(towers=(7, 8)))
    queue(sessions, warnings(towers=(8,)))  # a later trace drops tower 7: its alert is cancelled
    got = outbox(sessions)
    assert got["tower:7"].status == "cancelled"
    channels = Channels(webhook=WebhookChannel(gateway.settings()))
    expires = got["tower:8"].expires_at
    assert expires is not None
    report = deliver_due(sessions, channels, expires, policy=POLICY)  # too late for tower 8
    assert report.expired == 1
    assert report.attempted == 0
    assert gateway.requests == []
    got = outbox(sessions)
    assert got["tower:7"].status == "cancelled"
    assert (got["tower:8"].status, got["tower:8"].last_error) == ("failed", EXPIRED)


def test_unapproved_rows_are_never_claimed_or_sent(
    sessions: sessionmaker[Session], gateway: Gateway
) -> None:
    queue(sessions, warnings(towers=(7, 8)), approved=False)
    channels = Channels(webhook=WebhookChannel(gateway.settings()))
    later = NOW + dt.timedelta(hours=1)
    for at in (NOW, later):
        report = deliver_due(sessions, channels, at, policy=POLICY)
        assert report.attempted == 0
        assert (
            _claim(
                sessions,
                now=at,
                worker="w",
                policy=POLICY,
                kinds=("area_alert",),
                skip=set(),
                batch=10,
            )
            == []
        )
    assert gateway.requests == []
    assert {r.recipient: (r.status, r.attempts) for r in rows(sessions)} == {
        "tower:7": ("pending", 0),
        "tower:8": ("pending", 0),
    }
    # approving one of them releases that one only
    with session_scope(sessions) as s:
        tower_8 = next(r.id for r in rows(sessions) if r.recipient == "tower:8")
        approve(s, case_id=CASE_ID, actor="officer-park", message_ids=[tower_8], now=NOW)
    report = deliver_due(sessions, channels, later, policy=POLICY)
    assert report.sent == {"webhook": 1}
    got = outbox(sessions)
    assert got["tower:8"].status == "sent"
    assert got["tower:8"].approved_by == "officer-park"
    assert (got["tower:7"].status, got["tower:7"].approved_at) == ("pending", None)
    assert len(gateway.requests) == 1


def test_held_when_the_only_address_needs_a_channel_that_is_off(
    sessions: sessionmaker[Session], gateway: Gateway
) -> None:
    add_contacts(sessions, CONTACTS)
    queue(sessions, warnings(orders=(11, 12)))  # 11 has an email only, 12 a phone only
    report = deliver_due(sessions, Channels(webhook=WebhookChannel(gateway.settings())), NOW)
    assert report.sent == {"webhook": 1}
    assert report.held == 1
    row = outbox(sessions)["person:11"]
    assert (row.status, row.attempts, row.channel) == ("pending", 0, None)


def test_a_crashed_workers_lease_expires_and_the_same_key_is_sent(
    sessions: sessionmaker[Session], gateway: Gateway
) -> None:
    queue(sessions, warnings(towers=(7,)))
    channels = Channels(webhook=WebhookChannel(gateway.settings()))
    # a worker claims the row, then dies before sending or recording anything
    claimed = _claim(
        sessions,
        now=NOW,
        worker="crashed",
        policy=POLICY,
        kinds=("area_alert",),
        skip=set(),
        batch=5,
    )
    assert [c["recipient"] for c in claimed] == ["tower:7"]
    row = outbox(sessions)["tower:7"]
    assert (row.status, row.claimed_by, row.attempts) == ("sending", "crashed", 1)
    assert row.lease_until == NOW + dt.timedelta(seconds=POLICY.lease_s)
    # while the lease holds, nobody else takes it
    assert (
        deliver_due(sessions, channels, NOW + dt.timedelta(seconds=59), policy=POLICY).attempted
        == 0
    )
    # after it, another worker sends it with the same idempotency key
    later = NOW + dt.timedelta(seconds=61)
    report = deliver_due(sessions, channels, later, policy=POLICY, worker="rescuer")
    assert report.sent == {"webhook": 1}
    row = outbox(sessions)["tower:7"]
    assert (row.status, row.claimed_by, row.attempts) == ("sent", "rescuer", 2)
    assert gateway.delivered_keys() == [row.idempotency_key]
    # the crashed worker, back to life, cannot overwrite the result
    assert not _record(sessions, row.id, "crashed", {"status": "failed", "last_error": "late"})
    assert outbox(sessions)["tower:7"].status == "sent"


def test_a_lease_that_runs_out_on_the_last_attempt_fails(
    sessions: sessionmaker[Session], gateway: Gateway
) -> None:
    queue(sessions, warnings(towers=(7,)))
    policy = RetryPolicy(max_attempts=1, lease_s=60.0)
    _claim(
        sessions,
        now=NOW,
        worker="crashed",
        policy=policy,
        kinds=("area_alert",),
        skip=set(),
        batch=5,
    )
    channels = Channels(webhook=WebhookChannel(gateway.settings()))
    deliver_due(sessions, channels, NOW + dt.timedelta(minutes=2), policy=policy)
    row = outbox(sessions)["tower:7"]
    assert row.status == "failed"
    assert gateway.requests == []


def test_two_concurrent_workers_deliver_each_message_exactly_once(
    sessions: sessionmaker[Session], smtp: SmtpReceiver, gateway: Gateway
) -> None:
    people = tuple(range(100, 120))
    add_contacts(
        sessions,
        "person_id,email,phone\n" + "".join(f"{p},p{p}@example.org,\n" for p in people),
    )
    queue(sessions, warnings(orders=people, towers=tuple(range(1, 31))))
    gateway.delay_s = 0.005  # so the workers' sends interleave
    channels = both(smtp, gateway)
    reports = []
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            reports.append(
                deliver_due(sessions, channels, NOW, policy=POLICY, worker=name, batch=3)
            )
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(sum(r.sent.values()) for r in reports) == 50
    got = rows(sessions)
    assert {r.status for r in got} == {"sent"}
    assert {r.attempts for r in got} == {1}
    email_keys = [m.split("@")[0].lstrip("<") for m in smtp.message_ids()]
    assert sorted(email_keys) == sorted(r.idempotency_key for r in got if r.channel == "email")
    assert len(set(email_keys)) == len(email_keys) == 20
    hooks = [r.key for r in gateway.requests]
    assert len(hooks) == len(set(hooks)) == 30
    assert {r.claimed_by for r in got} <= {"w0", "w1"}


def test_naive_now_and_bad_batch_are_refused(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(ValueError, match="now: naive datetime"):
        deliver_due(sessions, Channels(), dt.datetime(2020, 3, 8))
    with pytest.raises(ValueError, match="batch: must be at least 1"):
        deliver_due(sessions, Channels(), NOW, batch=0)


def test_webhook_body_is_canonical_json(sessions: sessionmaker[Session], gateway: Gateway) -> None:
    queue(sessions, warnings(venues=(501,)))
    deliver_due(sessions, Channels(webhook=WebhookChannel(gateway.settings())), NOW)
    (request,) = gateway.requests
    assert (
        request.body
        == json.dumps(
            request.json(), ensure_ascii=False, sort_keys=True, separators=(",", ":")
        ).encode()
    )
