"""Fixtures for the accounts tests: a cheap argon2id hasher and a clock the test moves."""

from __future__ import annotations

import datetime as dt

import pytest
from argon2 import PasswordHasher

from epicity.accounts.service import AccountPolicy

T0 = dt.datetime(2020, 3, 2, 0, 0, tzinfo=dt.UTC)
PASSWORD = "correct horse 42"


def cheap_hasher(time_cost: int = 1, memory_cost: int = 8) -> PasswordHasher:
    """Argon2id with tiny parameters: the same code path, milliseconds per hash."""
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=1)


class Clock:
    """A clock that stands still until the test moves it."""

    def __init__(self, now: dt.datetime = T0) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        """Move forward by a `timedelta(**delta)`."""
        self.now += dt.timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def policy(clock: Clock) -> AccountPolicy:
    """Cheap hashing, 3 failures in 10 minutes lock, 1-hour sessions, the test's clock."""
    return AccountPolicy(
        hasher=cheap_hasher(),
        max_failures=3,
        lockout_window=dt.timedelta(minutes=10),
        session_ttl=dt.timedelta(hours=1),
        clock=clock,
    )
