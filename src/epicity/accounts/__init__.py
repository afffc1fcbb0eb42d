"""Accounts: users and roles, argon2id passwords, API tokens, console sessions, capabilities.

The web service calls these services; they never import it. Who may do what is one table in
`epicity.accounts.permissions` (`ROLE_CAPABILITIES`, `require`). See `epicity.accounts.models`
for how the account roles relate to the privacy layer's actor roles.
"""

from __future__ import annotations

from epicity.accounts.errors import (
    AccountError,
    AccountLocked,
    AuthenticationFailed,
    InvalidField,
    LoginRequired,
    PermissionDenied,
    SessionInvalid,
    TokenInvalid,
    UsernameTaken,
    UserNotFound,
)
from epicity.accounts.models import (
    ACCOUNT_ROLES,
    STAFF_ROLES,
    ApiToken,
    ConsoleSession,
    LoginFailure,
    User,
)
from epicity.accounts.permissions import (
    ROLE_CAPABILITIES,
    Capability,
    capabilities_of,
    has_capability,
    require,
    require_own_records,
)
from epicity.accounts.service import (
    DEFAULT_POLICY,
    AccountPolicy,
    IssuedToken,
    NewSession,
    authenticate,
    change_password,
    check_csrf,
    create_session,
    create_user,
    deactivate_user,
    get_user,
    issue_token,
    list_tokens,
    list_users,
    resolve_session,
    resolve_token,
    revoke_session,
    revoke_token,
)

__all__ = [
    "ACCOUNT_ROLES",
    "DEFAULT_POLICY",
    "ROLE_CAPABILITIES",
    "STAFF_ROLES",
    "AccountError",
    "AccountLocked",
    "AccountPolicy",
    "ApiToken",
    "AuthenticationFailed",
    "Capability",
    "ConsoleSession",
    "InvalidField",
    "IssuedToken",
    "LoginFailure",
    "LoginRequired",
    "NewSession",
    "PermissionDenied",
    "SessionInvalid",
    "TokenInvalid",
    "User",
    "UserNotFound",
    "UsernameTaken",
    "authenticate",
    "capabilities_of",
    "change_password",
    "check_csrf",
    "create_session",
    "create_user",
    "deactivate_user",
    "get_user",
    "has_capability",
    "issue_token",
    "list_tokens",
    "list_users",
    "require",
    "require_own_records",
    "resolve_session",
    "resolve_token",
    "revoke_session",
    "revoke_token",
]
