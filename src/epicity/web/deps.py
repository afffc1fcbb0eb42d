"""Request dependencies shared by every domain's routes: the database session, the user behind
the request (API token or console session cookie) and capability checks.

An API client sends ``Authorization: Bearer epc_...``; the console sends the session cookie,
and for every state-changing request also the session's CSRF token (form field ``csrf`` or
header ``X-CSRF-Token``), so another site cannot post on a logged-in officer's behalf.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import anyio
from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session, sessionmaker

from epicity.accounts.errors import LoginRequired, PermissionDenied, SessionInvalid, TokenInvalid
from epicity.accounts.models import User
from epicity.accounts.permissions import Capability, require
from epicity.accounts.service import AccountPolicy, resolve_session, resolve_token

__all__ = [
    "SESSION_COOKIE",
    "Caller",
    "CurrentCaller",
    "DbSession",
    "need",
]

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
        await run_in_threadpool(_finish, session, commit=True)


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


@dataclass(frozen=True)
class Caller:
    """Who is asking: a user (or None for the public) and how they authenticated."""

    user: User | None
    via: str  # "token", "session" or "public"
    csrf: str | None = None

    @property
    def actor(self) -> str:
        """The name the audit log records."""
        return self.user.username if self.user is not None else "public"


def _policy(request: Request) -> AccountPolicy:
    policy: AccountPolicy = request.app.state.account_policy
    return policy


def current_caller(request: Request, session: DbSession) -> Caller:
    """The caller of a request (also left on `request.state.caller` for the pages). A bad token
    is refused (401) rather than treated as the public, so a client learns that its
    credentials stopped working; an expired console session is the public (log in again)."""
    caller = _identify(request, session)
    request.state.caller = caller
    return caller


def _identify(request: Request, session: Session) -> Caller:
    header = request.headers.get("authorization", "")
    policy = _policy(request)
    if header:
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise HTTPException(401, "Authorization: expected 'Bearer <token>'")
        try:
            user = resolve_token(session, secret=secret.strip(), policy=policy)
        except TokenInvalid as err:
            raise HTTPException(401, str(err)) from err
        return Caller(user, "token")
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        try:
            row, user = resolve_session(session, secret=cookie, policy=policy)
        except SessionInvalid:
            return Caller(None, "public")  # an expired console session: log in again
        return Caller(user, "session", row.csrf_secret)
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
