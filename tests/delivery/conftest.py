"""Real receivers on loopback (an SMTP server and an HTTP gateway) and outbox helpers."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from sqlalchemy.orm import Session, sessionmaker

from epicity.db import session_scope
from epicity.delivery.settings import SmtpSettings, WebhookSettings
from epicity.tracing.models import OutboxMessage
from epicity.tracing.outbox import approve, enqueue
from epicity.tracing.warnings import (
    AreaAlert,
    IsolationOrder,
    PublicNotice,
    TestAdvice,
    Warnings,
)

SEOUL = ZoneInfo("Asia/Seoul")
NOW = dt.datetime(2020, 3, 8, 9, 0, tzinfo=dt.UTC)
CASE_ID = 4242
SECRET = "s3cr3t-key-for-the-gateway"
SENDER = "warnings@health.seoul.example"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- SMTP -----------------------------------------------------------------------------------


@dataclass
class SmtpReceiver:
    """What the SMTP server received; addresses it refuses with 550."""

    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 (aiosmtpd's hook name)
        self, server: Any, session: Any, envelope: Any
    ) -> str:
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        with self.lock:
            self.messages.append(msg)
        return "250 Message accepted"

    def message_ids(self) -> list[str]:
        with self.lock:
            return [str(m["Message-ID"]) for m in self.messages]

    def settings(self) -> SmtpSettings:
        return SmtpSettings(host="127.0.0.1", port=self.port, sender=SENDER, starttls=False)


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    """A real SMTP server (aiosmtpd) on a free loopback port."""
    receiver = SmtpReceiver(port=free_port())
    controller = Controller(receiver, hostname="127.0.0.1", port=receiver.port)
    controller.start()
    try:
        yield receiver
    finally:
        controller.stop()


# -- HTTP gateway ---------------------------------------------------------------------------


@dataclass
class Request:
    """One POST the gateway received, and what it answered."""

    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def key(self) -> str:
        return self.headers["Idempotency-Key"]

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Gateway:
    """A city gateway on loopback: records requests; can fail the first N, or always."""

    url: str
    requests: list[Request] = field(default_factory=list)
    fail_first: int = 0  # answer 503 to this many requests, then 200
    always: int | None = None  # answer this status to every request
    retry_after: str | None = None
    delay_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, headers: dict[str, str], body: bytes) -> int:
        with self.lock:
            if self.always is not None:
                status = self.always
            elif self.fail_first > 0:
                self.fail_first -= 1
                status = 503
            else:
                status = 200
            self.requests.append(Request(headers, body, status))
            return status

    def delivered_keys(self) -> list[str]:
        with self.lock:
            return [r.key for r in self.requests if r.status == 200]

    def settings(self) -> WebhookSettings:
        return WebhookSettings(url=self.url, secret=SECRET, timeout_s=5.0)


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    """A real HTTP receiver (ThreadingHTTPServer) on a free loopback port."""
    state: dict[str, Gateway] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            g = state["gateway"]
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if g.delay_s:
                time.sleep(g.delay_s)
            status = g.answer(dict(self.headers.items()), body)
            self.send_response(status)
            if g.retry_after is not None and status != 200:
                self.send_header("Retry-After", g.retry_after)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet tests

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state["gateway"] = Gateway(url=f"http://127.0.0.1:{server.server_address[1]}/warnings")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state["gateway"]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# -- outbox ---------------------------------------------------------------------------------


def kst(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2020, 3, day, hour, minute, tzinfo=SEOUL)


def order(person: int) -> IsolationOrder:
    return IsolationOrder(
        contact_id=person,
        last_exposure=kst(5, 13),
        isolate_until=dt.date(2020, 3, 19),
        place="Cafe Dal (Gangnam-gu)",
        reason="You were in close contact with a confirmed case on 2020-03-05 at Cafe Dal "
        "(Gangnam-gu). Stay at home in self-isolation until 2020-03-19.",
        expires=dt.datetime(2020, 3, 20, tzinfo=SEOUL),
    )


def advice(person: int) -> TestAdvice:
    return TestAdvice(
        contact_id=person,
        last_exposure=kst(6, 16),
        monitor_until=dt.date(2020, 3, 20),
        place="Seoul Forest (Seongdong-gu)",
        text="You may have been exposed ... please get tested.",
        expires=dt.datetime(2020, 3, 21, tzinfo=SEOUL),
    )


def alert(tower: int, hour: int = 12) -> AreaAlert:
    return AreaAlert(
        tower_id=tower,
        district="Gangnam-gu",
        landmark="Gangnam Station",
        start=kst(5, hour),
        end=kst(5, hour + 1),
        people_count=33,
        text="[Gangnam-gu] People near Gangnam Station on 3/5 ... please get tested.",
        expires=dt.datetime(2020, 3, 19, 13, tzinfo=SEOUL),
    )


def notice(place: int) -> PublicNotice:
    return PublicNotice(
        place_id=place,
        venue_name=f"Venue {place}",
        category="cafe",
        district="Gangnam-gu",
        address=None,
        date=dt.date(2020, 3, 5),
        start=kst(5, 12),
        end=kst(5, 13),
        expires=dt.datetime(2020, 3, 19, 13, tzinfo=SEOUL),
        disinfection_advised=True,
        text="Cafe: 3/5 12:00-13:00, disinfected.",
    )


def warnings(
    *,
    orders: tuple[int, ...] = (),
    advised: tuple[int, ...] = (),
    towers: tuple[int, ...] = (),
    venues: tuple[int, ...] = (),
) -> Warnings:
    return Warnings(
        timezone="Asia/Seoul",
        orders=[order(p) for p in orders],
        advice=[advice(p) for p in advised],
        area_alerts=[alert(t) for t in towers],
        notices=[notice(v) for v in venues],
    )


def queue(
    sessions: sessionmaker[Session],
    w: Warnings,
    *,
    case_id: int = CASE_ID,
    now: dt.datetime = NOW,
    approved: bool = True,
) -> None:
    """Enqueue the warnings and (by default) approve them, as a health officer would."""
    with session_scope(sessions) as s:
        enqueue(s, case_id=case_id, warnings=w, now=now)
        if approved:
            approve(s, case_id=case_id, actor="officer-park", now=now)


def outbox(sessions: sessionmaker[Session]) -> dict[str, OutboxMessage]:
    """Every outbox row by recipient (recipients are unique in these tests)."""
    with sessions() as s:
        rows = s.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)).all()
    return {r.recipient: r for r in rows}


def rows(sessions: sessionmaker[Session]) -> list[OutboxMessage]:
    """Every outbox row, by id."""
    with sessions() as s:
        return list(s.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)).all())


def add_contacts(sessions: sessionmaker[Session], text: str) -> None:
    """Fill the recipient directory from CSV text (through the validated import)."""
    from epicity.delivery.directory import import_contacts, parse_contacts

    with session_scope(sessions) as s:
        import_contacts(s, parse_contacts(text), now=NOW)
