"""Errors of the accounts domain.

::

    AccountError                   anything the accounts rules refuse
     ├── InvalidField              bad input; ``field`` names the offending field
     ├── UsernameTaken             a user of that name exists (names compare case-insensitively)
     ├── UserNotFound              no user of that name / token of that id
     ├── AuthenticationFailed      wrong password, unknown or inactive user (one message for all)
     │    └── AccountLocked        too many failed logins lately; ``retry_after`` says until when
     ├── TokenInvalid              an API token that is unknown, expired, revoked or whose user
     │                             is inactive (one message for all)
     ├── SessionInvalid            a console session likewise; also a wrong CSRF token
     └── PermissionDenied          the role lacks the capability
          └── LoginRequired        no user at all (the public): log in first
"""

from __future__ import annotations

import datetime as dt

__all__ = [
    "AccountError",
    "AccountLocked",
    "AuthenticationFailed",
    "InvalidField",
    "LoginRequired",
    "PermissionDenied",
    "SessionInvalid",
    "TokenInvalid",
    "UserNotFound",
    "UsernameTaken",
]


class AccountError(Exception):
    """An accounts rule refused the request; the message names the problem."""


class InvalidField(AccountError):  # noqa: N818 (the names say what was refused)
    """An input field failed validation; `field` is its name."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class UsernameTaken(AccountError):  # noqa: N818 (the names say what was refused)
    """Another user already has this username (compared case-insensitively)."""


class UserNotFound(AccountError):  # noqa: N818 (the names say what was refused)
    """No such user (or API token, for `revoke_token`)."""


class AuthenticationFailed(AccountError):  # noqa: N818 (the names say what was refused)
    """Wrong username or password, or an inactive account: deliberately indistinguishable."""


class AccountLocked(AuthenticationFailed):
    """Too many failed logins for this username in the window; try again at `retry_after`."""

    def __init__(self, retry_after: dt.datetime) -> None:
        super().__init__(
            f"too many failed logins; try again after {retry_after.isoformat(timespec='seconds')}"
        )
        self.retry_after = retry_after


class TokenInvalid(AccountError):  # noqa: N818 (the names say what was refused)
    """The API token is unknown, expired or revoked, or its user is inactive."""


class SessionInvalid(AccountError):  # noqa: N818 (the names say what was refused)
    """The console session is unknown, expired or revoked, its user inactive, or CSRF wrong."""


class PermissionDenied(AccountError):  # noqa: N818 (the names say what was refused)
    """The user's role does not have the capability."""


class LoginRequired(PermissionDenied):
    """Nobody is logged in (the public) and the capability needs a login."""
