"""Accounts: users, passwords, logins with lockout, API tokens and console sessions.

Plain functions over a SQLAlchemy session that add and flush but do not commit: the caller
owns the transaction (`epicity.db.session_scope`). The one exception is `authenticate`, which
takes the session *factory* and commits on its own, because a failed login must be recorded
(for the lockout) even though the call raises, and a caller's rollback would erase it.

Secrets: passwords are hashed with argon2id (`argon2.PasswordHasher`) and rehashed at the
next login when the hasher's parameters change. API tokens are ``epc_`` + 32 random bytes
(URL-safe base64); console session cookies are 32 random bytes. Both are returned once, at
creation, and only their SHA-256 is stored. Nothing here logs or prints a secret or a hash.

Policy and time are injectable (`AccountPolicy`), so tests use a cheap hasher and a clock of
their own::

    policy = AccountPolicy(max_failures=5, lockout_window=dt.timedelta(minutes=15))
    with session_scope(sessions) as s:
        create_user(s, username="kim", password="correct horse 1", role="investigator")
    user = authenticate(sessions, username="KIM", password="correct horse 1", policy=policy)
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from epicity.accounts.errors import (
    AccountError,
    AccountLocked,
    AuthenticationFailed,
    InvalidField,
    SessionInvalid,
    TokenInvalid,
    UsernameTaken,
    UserNotFound,
)
from epicity.accounts.models import (
    ACCOUNT_ROLES,
    CITIZEN,
    DISPLAY_NAME_MAX,
    TOKEN_NAME_MAX,
    USERNAME_MAX,
    ApiToken,
    ConsoleSession,
    LoginFailure,
    User,
)
from epicity.db import utcnow

__all__ = [
    "DEFAULT_POLICY",
    "PASSWORD_MAX",
    "PASSWORD_MIN",
    "TOKEN_PREFIX",
    "AccountPolicy",
    "IssuedToken",
    "NewSession",
    "authenticate",
    "change_password",
    "check_csrf",
    "count_failures",
    "create_session",
    "create_user",
    "deactivate_user",
    "get_user",
    "issue_token",
    "list_tokens",
    "list_users",
    "resolve_session",
    "resolve_token",
    "resolve_token_until",
    "revoke_session",
    "revoke_token",
    "validate_password",
    "validate_username",
]

PASSWORD_MIN = 12
# Bounds the work an attacker can make the hasher do with one request.
PASSWORD_MAX = 1024
TOKEN_PREFIX = "epc_"
_SECRET_BYTES = 32
_SECRET_CHARS = 43  # 32 bytes in unpadded URL-safe base64
_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{43}")
_USERNAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]*")
USERNAME_MIN = 3
# last_used_at is written at most this often, not on every request.
_TOUCH_EVERY = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class AccountPolicy:
    """The knobs of logins, tokens and sessions, and the clock (all injectable for tests).

    Args:
        hasher: argon2id hasher; its parameters are those of new hashes, and a stored hash
            made with others is rehashed at the next successful login.
        max_failures: failed logins for one username within `lockout_window` that lock it.
        lockout_window: how far back failures count; a locked username unlocks when enough
            of its failures are older than this (so at most this long after the last one).
        token_ttl: default lifetime of an API token; `token_ttl_max` caps any asked for.
        session_ttl: lifetime of a console session (absolute, from login).
        clock: the current instant, aware.
    """

    hasher: PasswordHasher = field(default_factory=PasswordHasher)
    max_failures: int = 5
    lockout_window: dt.timedelta = dt.timedelta(minutes=15)
    token_ttl: dt.timedelta = dt.timedelta(days=90)
    token_ttl_max: dt.timedelta = dt.timedelta(days=366)
    session_ttl: dt.timedelta = dt.timedelta(hours=8)
    clock: Callable[[], dt.datetime] = utcnow

    def __post_init__(self) -> None:
        if self.max_failures < 1:
            raise ValueError("max_failures must be at least 1")
        for name in ("lockout_window", "token_ttl", "token_ttl_max", "session_ttl"):
            if getattr(self, name) <= dt.timedelta(0):
                raise ValueError(f"{name} must be positive")

    @functools.cached_property
    def dummy_hash(self) -> str:
        """A hash of a random password with this hasher, verified for unknown users."""
        return self.hasher.hash(secrets.token_urlsafe(16))


DEFAULT_POLICY = AccountPolicy()


@dataclass(frozen=True)
class IssuedToken:
    """A new API token: `secret` is shown to its owner once and never stored."""

    token: ApiToken
    secret: str = field(repr=False)


@dataclass(frozen=True)
class NewSession:
    """A new console session: `secret` goes in the cookie, `csrf_secret` in forms."""

    session: ConsoleSession
    user: User
    secret: str = field(repr=False)
    csrf_secret: str = field(repr=False)


# -- validation ---------------------------------------------------------------------------


def validate_username(username: str) -> str:
    """The username, stripped; `InvalidField` ("username") unless 3-64 letters/digits/._@-."""
    if not isinstance(username, str):
        raise InvalidField("username", "must be text")
    name = username.strip()
    if not USERNAME_MIN <= len(name) <= USERNAME_MAX:
        raise InvalidField("username", f"must be {USERNAME_MIN} to {USERNAME_MAX} characters long")
    if not _USERNAME_RE.fullmatch(name) or not name.isascii():
        raise InvalidField(
            "username",
            "may contain only ASCII letters, digits and . _ @ - and must start with a letter "
            "or digit",
        )
    return name


def _username_key(username: str) -> str:
    return validate_username(username).lower()


def _character_classes(password: str) -> int:
    return sum(
        [
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        ]
    )


def validate_password(password: str, *, username: str | None = None) -> str:
    """The password, unchanged, if it meets the policy; else `InvalidField` ("password").

    At least 12 and at most 1024 characters, of at least two classes (lower case, upper
    case, digits, others), and not the username.
    """
    if not isinstance(password, str):
        raise InvalidField("password", "must be text")
    if len(password) < PASSWORD_MIN:
        raise InvalidField("password", f"must be at least {PASSWORD_MIN} characters long")
    if len(password) > PASSWORD_MAX:
        raise InvalidField("password", f"must be at most {PASSWORD_MAX} characters long")
    if _character_classes(password) < 2:
        raise InvalidField(
            "password",
            "must mix at least two kinds of characters (lower case, upper case, digits, others)",
        )
    if username is not None and password.strip().lower() == username.strip().lower():
        raise InvalidField("password", "must not be the username")
    return password


def _display_name(display_name: str | None, username: str) -> str:
    name = (display_name if display_name is not None else username).strip()
    if not name:
        raise InvalidField("display_name", "must not be empty")
    if len(name) > DISPLAY_NAME_MAX:
        raise InvalidField("display_name", f"must be at most {DISPLAY_NAME_MAX} characters")
    if any(not c.isprintable() for c in name):
        raise InvalidField("display_name", "must not contain control characters")
    return name


def _role(role: str) -> str:
    if role not in ACCOUNT_ROLES:
        raise InvalidField("role", f"unknown role {role!r}; roles are {', '.join(ACCOUNT_ROLES)}")
    return role


def _person_id(person_id: int | None, role: str) -> int | None:
    if role == CITIZEN:
        if person_id is None:
            raise InvalidField("person_id", "a citizen account needs the person id of its owner")
        if isinstance(person_id, bool) or not isinstance(person_id, int) or person_id < 0:
            raise InvalidField("person_id", "must be a non-negative integer")
        return person_id
    if person_id is not None:
        raise InvalidField("person_id", f"only citizen accounts have one, not {role}")
    return None


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _verify(hasher: PasswordHasher, password_hash: str, password: str) -> bool:
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# -- users --------------------------------------------------------------------------------


def get_user(session: Session, *, username: str) -> User | None:
    """The user with this username (any case), if any; `InvalidField` for a malformed one."""
    key = _username_key(username)
    return session.scalars(select(User).where(User.username_key == key)).one_or_none()


def _existing_user(session: Session, username: str) -> User:
    user = get_user(session, username=username)
    if user is None:
        raise UserNotFound(f"no user named {username.strip()!r}")
    return user


def list_users(session: Session, *, include_inactive: bool = True) -> Sequence[User]:
    """Users ordered by username (case-insensitively)."""
    query = select(User).order_by(User.username_key)
    if not include_inactive:
        query = query.where(User.active.is_(True))
    return session.scalars(query).all()


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: str,
    display_name: str | None = None,
    person_id: int | None = None,
    policy: AccountPolicy = DEFAULT_POLICY,
) -> User:
    """Create an active user; `InvalidField` names a bad field, `UsernameTaken` a clash.

    A citizen needs `person_id` (the pseudonymous id of their own records); other roles
    must not have one. The display name defaults to the username.
    """
    name = validate_username(username)
    _role(role)
    pid = _person_id(person_id, role)
    shown = _display_name(display_name, name)
    validate_password(password, username=name)
    if get_user(session, username=name) is not None:
        raise UsernameTaken(f"username {name!r} is taken (names ignore case)")
    if (
        pid is not None
        and session.scalars(select(User.id).where(User.person_id == pid)).first() is not None
    ):
        raise InvalidField("person_id", "another account already belongs to this person")
    user = User(
        username=name,
        username_key=name.lower(),
        display_name=shown,
        role=role,
        person_id=pid,
        password_hash=policy.hasher.hash(password),
        active=True,
        created_at=policy.clock(),
    )
    session.add(user)
    session.flush()
    return user


def change_password(
    session: Session,
    *,
    username: str,
    new_password: str,
    current_password: str | None = None,
    policy: AccountPolicy = DEFAULT_POLICY,
) -> User:
    """Set a new password and end the user's console sessions.

    With `current_password` (a user changing their own), it must be right, else
    `AuthenticationFailed`; without it (an admin's reset) it is not asked. API tokens stay
    valid: revoke them with `revoke_token` if they may be compromised too.
    """
    user = _existing_user(session, username)
    validate_password(new_password, username=user.username)
    if current_password is not None and not _verify(
        policy.hasher, user.password_hash, current_password
    ):
        raise AuthenticationFailed("current password: wrong password")
    user.password_hash = policy.hasher.hash(new_password)
    _revoke_sessions_of(session, user.id, policy.clock())
    session.flush()
    return user


def deactivate_user(
    session: Session, *, username: str, policy: AccountPolicy = DEFAULT_POLICY
) -> User:
    """Deactivate a user: no more logins; their sessions and API tokens are revoked."""
    user = _existing_user(session, username)
    now = policy.clock()
    user.active = False
    _revoke_sessions_of(session, user.id, now)
    session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    session.flush()
    return user


# -- logins -------------------------------------------------------------------------------


def _locked_until(
    session: Session, key: str, now: dt.datetime, policy: AccountPolicy
) -> dt.datetime | None:
    """When `key` unlocks, if it has `max_failures` or more failures in the window now."""
    since = now - policy.lockout_window
    times = session.scalars(
        select(LoginFailure.at)
        .where(LoginFailure.username_key == key, LoginFailure.at > since)
        .order_by(LoginFailure.at)
    ).all()
    if len(times) < policy.max_failures:
        return None
    # Unlocked once all but max_failures - 1 of them have left the window.
    return times[len(times) - policy.max_failures] + policy.lockout_window


def _record_failure(session: Session, key: str, now: dt.datetime, policy: AccountPolicy) -> None:
    session.add(LoginFailure(username_key=key, at=now))
    # Failures that no longer count are dropped, whoever they were for.
    session.execute(delete(LoginFailure).where(LoginFailure.at <= now - policy.lockout_window))
    session.flush()


def _login(session: Session, username: str, password: str, policy: AccountPolicy) -> User:
    now = policy.clock()
    try:
        key = _username_key(username)
    except InvalidField:
        key = None
    bounded = isinstance(password, str) and len(password) <= PASSWORD_MAX
    if key is None or not bounded:
        _verify(policy.hasher, policy.dummy_hash, "x")  # same work as a real attempt
        raise AuthenticationFailed("wrong username or password")
    locked = _locked_until(session, key, now, policy)
    if locked is not None:
        _verify(policy.hasher, policy.dummy_hash, password)
        raise AccountLocked(locked)
    user = session.scalars(select(User).where(User.username_key == key)).one_or_none()
    # An unknown user costs one argon2 verification too, so timing does not tell names apart.
    ok = _verify(policy.hasher, user.password_hash if user else policy.dummy_hash, password)
    if user is None or not ok:
        _record_failure(session, key, now, policy)
        raise AuthenticationFailed("wrong username or password")
    if not user.active:
        raise AuthenticationFailed("wrong username or password")
    session.execute(delete(LoginFailure).where(LoginFailure.username_key == key))
    if policy.hasher.check_needs_rehash(user.password_hash):
        user.password_hash = policy.hasher.hash(password)
    user.last_login_at = now
    session.flush()
    return user


def authenticate(
    sessions: Callable[[], Session],
    *,
    username: str,
    password: str,
    policy: AccountPolicy = DEFAULT_POLICY,
) -> User:
    """The active user with this username (any case) and password, in its own transaction.

    Raises `AuthenticationFailed` (one message for a wrong password, an unknown user or an
    inactive account; an unknown user costs the same argon2 work as a known one) and
    `AccountLocked` once the username has `policy.max_failures` failures within
    `policy.lockout_window` (unknown usernames lock alike, so locking reveals no names).
    A failure is committed before raising. On success the failures are cleared, the hash is
    upgraded if the hasher's parameters changed, and `last_login_at` is set. The returned
    user is detached from any session, with its columns loaded.
    """
    with sessions() as session:
        try:
            user = _login(session, username, password, policy)
        except AccountError:
            session.commit()
            raise
        session.flush()
        session.expunge(user)  # readable after commit, whatever expire_on_commit says
        session.commit()
        return user


# -- API tokens ---------------------------------------------------------------------------


def issue_token(
    session: Session,
    *,
    username: str,
    name: str,
    ttl: dt.timedelta | None = None,
    policy: AccountPolicy = DEFAULT_POLICY,
) -> IssuedToken:
    """Issue an API token for an active user, valid for `ttl` (default `policy.token_ttl`).

    The returned `secret` (``epc_...``) is the only copy: show it once; only its SHA-256 is
    stored. `InvalidField` for an empty or long `name` or a `ttl` out of bounds.
    """
    label = (name or "").strip()
    if not label:
        raise InvalidField("name", "give the token a name (what or who uses it)")
    if len(label) > TOKEN_NAME_MAX:
        raise InvalidField("name", f"must be at most {TOKEN_NAME_MAX} characters")
    lifetime = policy.token_ttl if ttl is None else ttl
    if not dt.timedelta(0) < lifetime <= policy.token_ttl_max:
        raise InvalidField("ttl", f"must be positive and at most {policy.token_ttl_max.days} days")
    user = _existing_user(session, username)
    if not user.active:
        raise InvalidField("username", f"user {user.username!r} is deactivated")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(_SECRET_BYTES)
    now = policy.clock()
    token = ApiToken(
        user_id=user.id,
        name=label,
        token_hash=_sha256(secret),
        created_at=now,
        expires_at=now + lifetime,
    )
    session.add(token)
    session.flush()
    return IssuedToken(token=token, secret=secret)


def resolve_token(session: Session, *, secret: str, policy: AccountPolicy = DEFAULT_POLICY) -> User:
    """The active user an API token belongs to; `TokenInvalid` if unknown, expired, revoked.

    Also records when the token was last used (at most once a minute).
    """
    return resolve_token_until(session, secret=secret, policy=policy)[0]


def resolve_token_until(
    session: Session, *, secret: str, policy: AccountPolicy = DEFAULT_POLICY
) -> tuple[User, dt.datetime]:
    """`resolve_token`, with the instant the token expires (how long a caller may trust it)."""
    if (
        not isinstance(secret, str)
        or not secret.startswith(TOKEN_PREFIX)
        or not _SECRET_RE.fullmatch(secret[len(TOKEN_PREFIX) :])
    ):
        raise TokenInvalid("invalid API token")
    now = policy.clock()
    row = session.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == _sha256(secret))
    ).one_or_none()
    if row is None:
        raise TokenInvalid("invalid API token")
    token, user = row
    if not token.usable_at(now) or not user.active:
        raise TokenInvalid("invalid API token (expired, revoked or its user deactivated)")
    if token.last_used_at is None or now - token.last_used_at >= _TOUCH_EVERY:
        _touch(session, token, now)
    return user, token.expires_at


# Token hash -> when this process last recorded its use. A client sending many requests at
# once would otherwise make every one of them write the token's row at each minute, and each
# holds that row's lock until its request commits.
_recent_touches: dict[str, dt.datetime] = {}
_MAX_REMEMBERED = 10_000


def _touch(session: Session, token: ApiToken, now: dt.datetime) -> None:
    """Record the token's use: one request per token per minute in this process, and only if
    no other process did it meanwhile (a conditional UPDATE)."""
    seen = _recent_touches.get(token.token_hash)
    if seen is not None and dt.timedelta(0) <= now - seen < _TOUCH_EVERY:
        return
    if len(_recent_touches) >= _MAX_REMEMBERED:
        _recent_touches.clear()
    _recent_touches[token.token_hash] = now
    session.execute(
        update(ApiToken)
        .where(
            ApiToken.id == token.id,
            or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= now - _TOUCH_EVERY),
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    set_committed_value(token, "last_used_at", now)


def revoke_token(
    session: Session, *, token_id: int, policy: AccountPolicy = DEFAULT_POLICY
) -> ApiToken:
    """Revoke an API token by id (idempotent); `UserNotFound` when there is no such token."""
    token = session.get(ApiToken, token_id)
    if token is None:
        raise UserNotFound(f"no API token with id {token_id}")
    if token.revoked_at is None:
        token.revoked_at = policy.clock()
        session.flush()
    return token


def list_tokens(
    session: Session, *, username: str | None = None
) -> Sequence[tuple[ApiToken, User]]:
    """API tokens with their users (no secrets: there are none to show), oldest first."""
    query = select(ApiToken, User).join(User, User.id == ApiToken.user_id).order_by(ApiToken.id)
    if username is not None:
        query = query.where(User.id == _existing_user(session, username).id)
    return [(token, user) for token, user in session.execute(query)]


# -- console sessions ---------------------------------------------------------------------


def create_session(
    session: Session, *, user: User, policy: AccountPolicy = DEFAULT_POLICY
) -> NewSession:
    """Open a console session for an active user (after `authenticate`).

    Returns the cookie `secret` (stored only as its SHA-256) and the session's CSRF secret.
    """
    current = session.get(User, user.id)
    if current is None or not current.active:
        raise SessionInvalid("cannot open a session for a missing or deactivated user")
    secret = secrets.token_urlsafe(_SECRET_BYTES)
    csrf = secrets.token_urlsafe(_SECRET_BYTES)
    now = policy.clock()
    row = ConsoleSession(
        id=_sha256(secret),
        user_id=current.id,
        created_at=now,
        expires_at=now + policy.session_ttl,
        csrf_secret=csrf,
    )
    session.add(row)
    session.flush()
    return NewSession(session=row, user=current, secret=secret, csrf_secret=csrf)


def _session_row(session: Session, secret: str) -> ConsoleSession | None:
    if not isinstance(secret, str) or len(secret) != _SECRET_CHARS:
        return None
    return session.get(ConsoleSession, _sha256(secret))


def resolve_session(
    session: Session, *, secret: str, policy: AccountPolicy = DEFAULT_POLICY
) -> tuple[ConsoleSession, User]:
    """The session of a cookie and its active user; `SessionInvalid` otherwise."""
    row = _session_row(session, secret)
    if row is None:
        raise SessionInvalid("not logged in (unknown session)")
    if not row.usable_at(policy.clock()):
        raise SessionInvalid("the session has expired or was ended; log in again")
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        raise SessionInvalid("the session's account is deactivated")
    return row, user


def revoke_session(
    session: Session, *, secret: str, policy: AccountPolicy = DEFAULT_POLICY
) -> bool:
    """End the session of a cookie (logout); whether there was one still open."""
    row = _session_row(session, secret)
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = policy.clock()
    session.flush()
    return True


def _revoke_sessions_of(session: Session, user_id: int, now: dt.datetime) -> None:
    session.execute(
        update(ConsoleSession)
        .where(ConsoleSession.user_id == user_id, ConsoleSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def check_csrf(console_session: ConsoleSession, presented: str | None) -> None:
    """Return when `presented` is the session's CSRF secret (constant time); else raise."""
    if not isinstance(presented, str) or not hmac.compare_digest(
        presented.encode("utf-8"), console_session.csrf_secret.encode("utf-8")
    ):
        raise SessionInvalid("missing or wrong CSRF token; reload the page")


def count_failures(session: Session, *, username: str) -> int:
    """How many failed logins are on record for `username` (for tests and admins)."""
    key = _username_key(username)
    return (
        session.scalar(
            select(func.count()).select_from(LoginFailure).where(LoginFailure.username_key == key)
        )
        or 0
    )
