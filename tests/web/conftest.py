"""A live epicity service on loopback for the web tests (real uvicorn server, real HTTP), on
each database backend, with one user per role."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from argon2 import PasswordHasher
from fastapi import FastAPI

from epicity.accounts.service import AccountPolicy, create_user, issue_token
from epicity.db import session_scope
from epicity.web.app import create_app

PASSWORD = "a long pass phrase 1"
STAFF_ROLES = ("admin", "investigator", "health_officer", "analyst", "citizen")
CITIZEN_PERSON_ID = 424242
# Cheap argon2 parameters: the tests log in hundreds of times.
FAST_POLICY = AccountPolicy(hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


# Debian's Chromium, driven by Playwright (never a downloaded browser; the network is closed).
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 800}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium from Debian, launched once per test module (a playwright Browser)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent: install Debian's chromium to run the browser tests")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveService:
    """A running service: its base URL, app (for its session factory) and API tokens by role."""

    url: str
    app: FastAPI
    tokens: dict[str, str] = field(default_factory=dict)

    def client(self, role: str | None = None) -> httpx.Client:
        """An HTTP client, authenticated with the role's token (None: the public)."""
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def serve(app: FastAPI) -> Iterator[str]:
    """Run `app` on a free loopback port in a thread until the generator is closed."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(10)


def make_live_service(db_url: str, store: Path | None = None) -> Iterator[LiveService]:
    """A service on `db_url` with a user and an API token per role (username = role)."""
    app = create_app(db_url, store=store, account_policy=FAST_POLICY, secure_cookies=False)
    tokens = {}
    with session_scope(app.state.sessions) as s:
        for role in STAFF_ROLES:
            create_user(
                s,
                username=role,
                password=PASSWORD,
                role=role,
                person_id=CITIZEN_PERSON_ID if role == "citizen" else None,
                policy=FAST_POLICY,
            )
            tokens[role] = issue_token(s, username=role, name="tests", policy=FAST_POLICY).secret
    try:
        for url in serve(app):
            yield LiveService(url, app, tokens)
    finally:
        app.state.engine.dispose()


@pytest.fixture
def live(db_url: str) -> Iterator[LiveService]:
    """A live service on a fresh database (SQLite and PostgreSQL in turn)."""
    yield from make_live_service(db_url)


# --------------------------------------------------------------------------------------------
# A small seeded case load for the console pages' tests.


@dataclass
class Seeded:
    """Ids of the seeded data: cases by reference, the cluster, contacts by who they are."""

    cases: dict[str, int]
    cluster_id: int
    contacts: dict[str, int]


# (ref, status, source, district, confirmed date); P1..P4 are the cluster, P5 is linked to it
# from outside, D1 stands alone with another source.
SEED_CASES = (
    ("P1", "confirmed", "epicity", "Guro-gu", "2020-03-01"),
    ("P2", "confirmed", "epicity", "Guro-gu", "2020-03-04"),
    ("P3", "confirmed", "epicity", "Guro-gu", "2020-03-05"),
    ("P4", "confirmed", "epicity", "Yangcheon-gu", "2020-03-08"),
    ("P5", "suspected", "epicity", "Mapo-gu", None),
    ("D1", "confirmed", "ds4c", "Mapo-gu", "2020-02-20"),
)
SEED_LINKS = (
    ("P1", "P2", "same office floor, CCTV review"),
    ("P1", "P3", "same team, interview"),
    ("P3", "P4", "household"),
    ("P2", "P5", "shared dinner on 2020-03-05, interview"),
)
SEED_CLUSTER = "Test call centre"


def seed_cases(app: FastAPI) -> Seeded:
    """Cases, a cluster, transmission links, contacts and two audit entries, through the
    domains' own service functions."""
    import datetime as dt

    from epicity.cases import service as cases
    from epicity.privacy.service import audit

    with session_scope(app.state.sessions) as s:
        ids = {}
        for ref, status, source, district, confirmed in SEED_CASES:
            case = cases.create_case(
                s,
                actor="seed",
                status=status,
                source=source,
                external_ref=ref,
                district=district,
                province="Seoul",
                confirmed_date=dt.date.fromisoformat(confirmed) if confirmed else None,
            )
            ids[ref] = case.id
        cluster = cases.create_cluster(
            s, name=SEED_CLUSTER, actor="seed", kind="workplace", district="Guro-gu"
        )
        for ref in ("P1", "P2", "P3", "P4"):
            cases.add_to_cluster(s, cluster_id=cluster.id, case_id=ids[ref], actor="seed")
        for a, b, evidence in SEED_LINKS:
            cases.add_link(
                s, infector_id=ids[a], infectee_id=ids[b], evidence=evidence, actor="seed"
            )
        contacts = {
            "person 1001": cases.add_contact(
                s, case_id=ids["P1"], actor="seed", tier="close", person_id=1001
            ).id,
            "KR-55": cases.add_contact(
                s, case_id=ids["P1"], actor="seed", tier="close", external_ref="KR-55"
            ).id,
            "person 1002": cases.add_contact(
                s, case_id=ids["P1"], actor="seed", tier="casual", person_id=1002
            ).id,
        }
        for action in ("case.read", "location.read"):
            audit(s, actor="investigator", role="investigator", action=action, case_id=ids["P1"])
        return Seeded(ids, cluster.id, contacts)


@pytest.fixture
def seeded(live: LiveService) -> Seeded:
    """`seed_cases` in the live service's database."""
    return seed_cases(live.app)
