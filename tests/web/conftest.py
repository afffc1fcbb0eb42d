"""A live epicity service on loopback for the web tests (real uvicorn server, real HTTP), on
each database backend, with one user per role."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

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
