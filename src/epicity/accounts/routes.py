"""Accounts over HTTP: API tokens for clients, console login/logout, the caller's identity,
and user management for admins."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from epicity.accounts.errors import AuthenticationFailed
from epicity.accounts.models import ACCOUNT_ROLES
from epicity.accounts.permissions import Capability, capabilities_of
from epicity.accounts.service import (
    AccountPolicy,
    authenticate,
    create_session,
    create_user,
    issue_token,
    list_users,
    revoke_session,
)
from epicity.web.deps import SESSION_COOKIE, Caller, CurrentCaller, DbSession, check_csrf, need

__all__ = ["router"]

router = APIRouter()

Role = Literal["admin", "investigator", "health_officer", "analyst", "citizen"]
assert set(Role.__args__) == set(ACCOUNT_ROLES)  # type: ignore[attr-defined]


class TokenRequest(BaseModel):
    """A username and password exchanged for an API token."""

    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1024)
    name: str = Field("api", min_length=1, max_length=100, description="What the token is for")
    days: int = Field(30, ge=1, le=366, description="Lifetime in days")


class TokenIssued(BaseModel):
    """The token (shown once) and when it expires."""

    token: str
    expires_at: dt.datetime


class Me(BaseModel):
    """Who the caller is and what they may do."""

    username: str | None
    role: str | None
    capabilities: list[str]


class NewUser(BaseModel):
    """An account to create."""

    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1024)
    role: Role
    display_name: str | None = Field(None, max_length=200)
    person_id: int | None = Field(None, ge=0, le=2**63 - 1)


class UserOut(BaseModel):
    """An account as admins see it (no hash, no secrets)."""

    model_config = ConfigDict(from_attributes=True)

    username: str
    display_name: str
    role: str
    active: bool
    created_at: dt.datetime
    last_login_at: dt.datetime | None


def _policy(request: Request) -> AccountPolicy:
    policy: AccountPolicy = request.app.state.account_policy
    return policy


@router.post("/api/v1/auth/token", tags=["accounts"], response_model=TokenIssued, status_code=201)
def token(body: TokenRequest, request: Request, session: DbSession) -> TokenIssued:
    """Exchange a username and password for an API token (sent as `Authorization: Bearer`)."""
    policy = _policy(request)
    user = authenticate(
        request.app.state.sessions, username=body.username, password=body.password, policy=policy
    )
    issued = issue_token(
        session,
        username=user.username,
        name=body.name,
        ttl=dt.timedelta(days=body.days),
        policy=policy,
    )
    return TokenIssued(token=issued.secret, expires_at=issued.token.expires_at)


@router.get("/api/v1/me", tags=["accounts"], response_model=Me)
def me(caller: CurrentCaller) -> Me:
    """The caller's identity and capabilities (empty for the public)."""
    user = caller.user
    return Me(
        username=user.username if user else None,
        role=user.role if user else None,
        capabilities=sorted(c.value for c in capabilities_of(user.role if user else None)),
    )


@router.get("/api/v1/users", tags=["accounts"], response_model=list[UserOut])
def users(
    session: DbSession, _: Annotated[Caller, Depends(need(Capability.MANAGE_USERS))]
) -> list[UserOut]:
    """Every account (admins)."""
    return [UserOut.model_validate(u) for u in list_users(session)]


@router.post("/api/v1/users", tags=["accounts"], response_model=UserOut, status_code=201)
def add_user(
    body: NewUser,
    request: Request,
    session: DbSession,
    _: Annotated[Caller, Depends(need(Capability.MANAGE_USERS))],
) -> UserOut:
    """Create an account (admins)."""
    u = create_user(
        session,
        username=body.username,
        password=body.password,
        role=body.role,
        display_name=body.display_name,
        person_id=body.person_id,
        policy=_policy(request),
    )
    return UserOut.model_validate(u)


@router.post("/login", tags=["console"], include_in_schema=False)
def login(
    request: Request,
    session: DbSession,
    username: Annotated[str, Form(max_length=100)],
    password: Annotated[str, Form(max_length=1024)],
    next_path: Annotated[str, Form(alias="next", max_length=300)] = "/",
) -> Response:
    """Console login: sets the session cookie and goes on to `next` (a local path only)."""
    from epicity.web.pages import render

    policy = _policy(request)
    try:
        user = authenticate(
            request.app.state.sessions, username=username, password=password, policy=policy
        )
    except AuthenticationFailed as err:
        return render(request, "login.html", {"error": str(err), "next": next_path}, status=401)
    opened = create_session(session, user=user, policy=policy)
    target = next_path if next_path.startswith("/") and not next_path.startswith("//") else "/"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        opened.secret,
        max_age=int(policy.session_ttl.total_seconds()),
        httponly=True,
        secure=bool(request.app.state.secure_cookies),
        samesite="strict",
    )
    return response


@router.post("/logout", tags=["console"], include_in_schema=False)
def logout(
    request: Request,
    session: DbSession,
    caller: CurrentCaller,
    _: Annotated[None, Depends(check_csrf)],
) -> Response:
    """End the console session."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie and caller.via == "session":
        revoke_session(session, secret=cookie, policy=_policy(request))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response
