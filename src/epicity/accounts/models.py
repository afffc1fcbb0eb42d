"""Tables of the accounts domain: users, API tokens, console sessions and failed logins.

The schema is created and changed only by the migrations in ``epicity/migrations/versions``
(``0006_accounts``); these classes must match them (a test compares the two).

Roles. ``ACCOUNT_ROLES`` are the roles a person can log in with: admin, investigator,
health_officer, analyst (aggregates only) and citizen (own records only); "public" is the
absence of a login, not a role. `epicity.privacy.models.ROLES` are the roles an *actor* may
have in the audit log and the location access layer: the account roles except citizen (a
citizen never reads location data through that layer), plus "system" for internal actors
(jobs, the tracing pipeline), which nobody can log in as. So every staff role below is also a
privacy role, and a test keeps it that way.

No secret is stored in clear: ``users.password_hash`` is an argon2id hash; ``api_tokens``
keeps only the SHA-256 of the token; a console session's primary key is the SHA-256 of the
cookie value. Only the CSRF secret of a session is stored as is (it is not a credential on
its own: it is checked together with the session cookie).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from epicity.db import Base
from epicity.privacy.models import ROLES as PRIVACY_ROLES

__all__ = [
    "ACCOUNT_ROLES",
    "CITIZEN",
    "PRIVACY_ROLES",
    "STAFF_ROLES",
    "ApiToken",
    "ConsoleSession",
    "LoginFailure",
    "User",
]

CITIZEN = "citizen"
ACCOUNT_ROLES = ("admin", "investigator", "health_officer", "analyst", CITIZEN)
# The account roles that also act in the privacy layer (all but citizen).
STAFF_ROLES = tuple(r for r in ACCOUNT_ROLES if r != CITIZEN)

USERNAME_MAX = 64
DISPLAY_NAME_MAX = 200
TOKEN_NAME_MAX = 100
HASH_MAX = 255
SHA256_HEX = 64

# BIGINT on PostgreSQL; SQLite autoincrements only an INTEGER PRIMARY KEY.
_BigId = BigInteger().with_variant(Integer(), "sqlite")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class User(Base):
    """A person who can log in. Never deleted: deactivated, so the audit log keeps its actor.

    ``username_key`` is the lower-cased username, unique, so names are unique regardless of
    case while ``username`` keeps the spelling given. A citizen has the pseudonymous
    ``person_id`` of their own records (and only citizens have one).
    """

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(_one_of("role", ACCOUNT_ROLES), name="role"),
        CheckConstraint(
            f"(role = '{CITIZEN}' AND person_id IS NOT NULL)"
            f" OR (role <> '{CITIZEN}' AND person_id IS NULL)",
            name="person_id_iff_citizen",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(USERNAME_MAX))
    username_key: Mapped[str] = mapped_column(String(USERNAME_MAX), unique=True)
    display_name: Mapped[str] = mapped_column(String(DISPLAY_NAME_MAX))
    role: Mapped[str] = mapped_column(String(32))
    person_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    password_hash: Mapped[str] = mapped_column(String(HASH_MAX))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime]
    last_login_at: Mapped[dt.datetime | None]

    def __repr__(self) -> str:  # no hash, ever
        return f"User(id={self.id!r}, username={self.username!r}, role={self.role!r})"


class ApiToken(Base):
    """An API token of a user: only its SHA-256 is kept; the secret is shown once at issue."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        CheckConstraint("expires_at > created_at", name="expires_after_created"),
        Index("ix_api_tokens_user_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(TOKEN_NAME_MAX))
    token_hash: Mapped[str] = mapped_column(String(SHA256_HEX), unique=True)
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    last_used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]

    def usable_at(self, at: dt.datetime) -> bool:
        """Neither revoked nor expired at `at` (the user's state is checked separately)."""
        return self.revoked_at is None and at < self.expires_at

    def __repr__(self) -> str:  # no hash, ever
        return f"ApiToken(id={self.id!r}, user_id={self.user_id!r}, name={self.name!r})"


class ConsoleSession(Base):
    """A logged-in console session; ``id`` is the SHA-256 of the cookie value."""

    __tablename__ = "sessions"
    __table_args__ = (
        CheckConstraint("expires_at > created_at", name="expires_after_created"),
        Index("ix_sessions_user_id", "user_id"),
    )

    id: Mapped[str] = mapped_column(String(SHA256_HEX), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]
    csrf_secret: Mapped[str] = mapped_column(String(SHA256_HEX))

    def usable_at(self, at: dt.datetime) -> bool:
        """Neither revoked nor expired at `at` (the user's state is checked separately)."""
        return self.revoked_at is None and at < self.expires_at

    def __repr__(self) -> str:  # the id is a hash, but it is still what finds the session
        return f"ConsoleSession(user_id={self.user_id!r}, expires_at={self.expires_at!r})"


class LoginFailure(Base):
    """One failed login, by lower-cased username (known or not, so both lock out alike)."""

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_username_key_at", "username_key", "at"),
        Index("ix_login_failures_at", "at"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    username_key: Mapped[str] = mapped_column(String(USERNAME_MAX))
    at: Mapped[dt.datetime]
