"""Request dependencies shared by every domain's routes: the database session, the user behind
the request (API token or console session cookie) and capability checks.

An API client sends ``Authorization: Bearer epc_...``; the console sends the session cookie,
and for every state-changing request also the session's CSRF token (form field ``csrf`` or
header ``X-CSRF-Token``), so another site cannot post on a logged-in officer's behalf.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import anyio
from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session, sessionmaker

from epicity.accounts.errors import LoginRequired, PermissionDenied, SessionInvalid, TokenInvalid
from epicity.accounts.models import User
from epicity.accounts.permissions import Capability, require
from epicity.accounts.service import AccountPolicy, resolve_session, resolve_token_until

__all__ = [
    "SESSION_COOKIE",
    "Caller",
    "CurrentCaller",
    "DbSession",
    "Identity",
    "TokenCache",
    "in_thread",
    "need",
    "read_only",
]

T = TypeVar("T")

SESSION_COOKIE = "epicity_session"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _sessions(request: Request) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = request.app.state.sessions
    return factory


async def db_session(request: Request) -> AsyncIterator[Session]:
    """One database session per request: committed when the route returns, else rolled back.

    At most `app.state.db_gate` requests hold a session at once, waited for without a thread.
    Without the gate, under load every worker thread could block waiting for a pooled
    connection while the connections belong to requests waiting for a thread (measured:
    nothing answered at 500 req/s until the pool's 30 s timeout).
    """
    gate: anyio.Semaphore = request.app.state.db_gate
    async with gate:
        session = _sessions(request)()
        try:
            yield session
        except BaseException:
            await run_in_threadpool(_finish, session, commit=False)
            raise
        if session.in_transaction():
            await run_in_threadpool(_finish, session, commit=True)
        else:  # committed by `in_thread`: closing does no database work
            session.close()


async def in_thread(session: Session, work: Callable[[], T]) -> T:
    """Run an async route's database work and its commit in one trip to a worker thread.

    A sync route costs three trips (its caller's lookup, its body, its commit), each a
    thread handover with the GIL; the API's busiest routes are async and make one.
    """
    return await run_in_threadpool(_commit_after, session, work)


async def read_only(session: Session, work: Callable[[], T]) -> T:
    """Run an async route's reads: like `in_thread`, but on SQLite in the event loop itself.

    A read of a local SQLite file in WAL mode takes no lock a writer holds, so it never waits:
    it costs less than the trip to a thread. A server database is read from a thread, since
    its network round trips would stall the loop. `work` must not write.
    """
    if session.get_bind().dialect.name != "sqlite":
        return await in_thread(session, work)
    return _commit_after(session, work)  # the commit ends the read transaction


def _commit_after(session: Session, work: Callable[[], T]) -> T:
    result = work()
    session.commit()
    return result


def _finish(session: Session, *, commit: bool) -> None:
    """Commit (or roll back) and close in one trip to a worker thread."""
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()


# scope="function": commit before the response is sent, so a client never gets a 201 for a
# write that then fails to commit, and its next request sees the write.
DbSession = Annotated[Session, Depends(db_session, scope="function")]


@dataclass(frozen=True, slots=True)
class Identity:
    """The fields of a logged-in `User` that routes and pages use, read once per login.

    A snapshot rather than the ORM object, so it can outlive the request's session (the token
    cache below keeps it for a few seconds)."""

    id: int
    username: str
    role: str
    active: bool
    person_id: int | None

    @classmethod
    def of(cls, user: User) -> Identity:
        """The snapshot of `user`."""
        return cls(user.id, user.username, user.role, user.active, user.person_id)


# How long a process trusts an API token it has checked: revoking a token or deactivating its
# user (`epicity users`) takes effect within this time. Without the cache every API request
# made its own trip to a worker thread and the database to look the token up.
TOKEN_CACHE_S = 10.0
_TOKEN_CACHE_MAX = 10_000


class TokenCache:
    """Token hash -> (monotonic deadline, identity), per process; see `TOKEN_CACHE_S`."""

    def __init__(self, ttl_s: float = TOKEN_CACHE_S) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[str, tuple[float, Identity]] = {}

    def get(self, key: str) -> Identity | None:
        """The identity cached under `key`, if still fresh."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if time.monotonic() >= entry[0]:
            self._entries.pop(key, None)
            return None
        return entry[1]

    def put(self, key: str, identity: Identity, *, valid_for_s: float) -> None:
        """Remember `identity` for the cache's time, or less when the token expires sooner."""
        if len(self._entries) >= _TOKEN_CACHE_MAX:
            self._entries.clear()
        deadline = time.monotonic() + min(self.ttl_s, max(valid_for_s, 0.0))
        self._entries[key] = (deadline, identity)


@dataclass(frozen=True)
class Caller:
    """Who is asking: a user (or None for the public) and how they authenticated."""

    user: Identity | None
    via: str  # "token", "session" or "public"
    csrf: str | None = None

    @property
    def actor(self) -> str:
        """The name the audit log records."""
        return self.user.username if self.user is not None else "public"


def _policy(request: Request) -> AccountPolicy:
    policy: AccountPolicy = request.app.state.account_policy
    return policy


async def current_caller(request: Request, session: DbSession) -> Caller:
    """The caller of a request (also left on `request.state.caller` for the pages). A bad token
    is refused (401) rather than treated as the public, so a client learns that its
    credentials stopped working; an expired console session is the public (log in again).
    A token checked in the last `TOKEN_CACHE_S` seconds is not looked up again."""
    key = _token_key(request.headers.get("authorization", ""))
    cache: TokenCache = request.app.state.token_cache
    identity = cache.get(key) if key is not None else None
    if identity is not None:
        caller = Caller(identity, "token")
    else:
        caller = await run_in_threadpool(_identify_and_commit, request, session)
    request.state.caller = caller
    return caller


def _identify_and_commit(request: Request, session: Session) -> Caller:
    """`_identify`, then commit: the record of a token's use is written at once rather than
    held (on SQLite, with the database's write lock) until the request ends."""
    caller = _identify(request, session)
    session.commit()
    return caller


def _token_key(header: str) -> str | None:
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    return hashlib.sha256(secret.strip().encode()).hexdigest()


def _identify(request: Request, session: Session) -> Caller:
    header = request.headers.get("authorization", "")
    policy = _policy(request)
    if header:
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise HTTPException(401, "Authorization: expected 'Bearer <token>'")
        try:
            user, expires_at = resolve_token_until(session, secret=secret.strip(), policy=policy)
        except TokenInvalid as err:
            raise HTTPException(401, str(err)) from err
        identity = Identity.of(user)
        key = _token_key(header)
        assert key is not None
        cache: TokenCache = request.app.state.token_cache
        cache.put(key, identity, valid_for_s=(expires_at - policy.clock()).total_seconds())
        return Caller(identity, "token")
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        try:
            row, user = resolve_session(session, secret=cookie, policy=policy)
        except SessionInvalid:
            return Caller(None, "public")  # an expired console session: log in again
        return Caller(Identity.of(user), "session", row.csrf_secret)
    return Caller(None, "public")


CurrentCaller = Annotated[Caller, Depends(current_caller)]


async def _form_csrf(request: Request) -> str:
    if request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get("csrf")
        return value if isinstance(value, str) else ""
    return ""


async def check_csrf(request: Request, caller: CurrentCaller) -> None:
    """State-changing requests made with the session cookie must carry its CSRF token."""
    if caller.via != "session" or request.method in _SAFE_METHODS:
        return
    sent = request.headers.get("x-csrf-token") or await _form_csrf(request)
    if not caller.csrf or not hmac.compare_digest(sent.encode(), caller.csrf.encode()):
        raise HTTPException(403, "csrf: missing or wrong CSRF token for this session")


def need(capability: Capability) -> Callable[..., Any]:
    """A dependency that lets the request through only for a caller with `capability`
    (401 for the public, 403 for a role without it) and returns the caller."""

    async def dependency(request: Request, caller: CurrentCaller) -> Caller:
        try:
            require(caller.user, capability)
        except LoginRequired as err:
            raise HTTPException(401, str(err), headers={"WWW-Authenticate": "Bearer"}) from err
        except PermissionDenied as err:
            raise HTTPException(403, str(err)) from err
        await check_csrf(request, caller)
        return caller

    dependency.__name__ = f"need_{capability.value}"
    return dependency
