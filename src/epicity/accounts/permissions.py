"""What each role may do: one table, from role to capabilities, and `require` to enforce it.

The service checks capabilities, never role names, so this table is the single place that
says who may do what. A tick means the role has the capability; nothing else is granted.
"public" (nobody logged in) has no capability at all.

=================  =====  ============  ==============  =======  =======
capability         admin  investigator  health_officer  analyst  citizen
=================  =====  ============  ==============  =======  =======
read_cases                x             x
edit_cases                x             x
read_location             x             x
approve_warnings                        x
read_audit         x
manage_users       x
declare_emergency  x
read_aggregates    x      x             x               x
read_own_records                                                 x
run_screening             x             x
manage_isolation                        x
decide_relief                           x
publish_data                            x
manage_cities      x
=================  =====  ============  ==============  =======  =======

Why this shape:

- **admin** runs the system (users, emergency declarations) and reads the audit log, but
  does not read personal data: the account most worth stealing opens no case, and whoever
  declares an emergency is not the one who reads location data under it.
- **investigator** works cases: reads and edits them (contacts, confirmations of stays) and
  reads location data, which the privacy layer (`epicity.privacy.LocationAccess`) further
  allows only while an emergency is in force and with a stated purpose, and audits.
- **health_officer** has the investigator's capabilities and approves warnings (isolation
  orders, test advice) before they are delivered: a second pair of eyes on every order.
- **analyst** reads aggregates only (counts, curves, Rt), never a person's records.
- **run_screening** (centres, bookings, samples, lab batches, results) is casework: the staff
  of a screening centre and its lab are investigators or health officers.
- **manage_isolation** (people in self-isolation, their check-ins and alerts) and
  **decide_relief** (approving or rejecting relief applications) are health officers' duties:
  both decide about a person's liberty or money.
- **publish_data** (the daily figures and place notices the public sees, and corrections to
  them) is a health officer's decision: what is published cannot be taken back quietly.
- **manage_cities** (approving the cities that join the Cities Against COVID-19 platform) is
  the admin's: it grants another city's publishers their API keys, not access to any person.
- **citizen** reads their own records only: `require_own_records` checks the record's
  pseudonymous person id against the user's.

Every role holding ``read_location`` is also in `epicity.privacy.access.PERSONAL_DATA_ROLES`,
so this gate never admits what the privacy layer would refuse (a test keeps it that way).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Protocol

from epicity.accounts.errors import LoginRequired, PermissionDenied
from epicity.accounts.models import ACCOUNT_ROLES, CITIZEN

__all__ = [
    "ROLE_CAPABILITIES",
    "Capability",
    "HasRole",
    "capabilities_of",
    "has_capability",
    "require",
    "require_own_records",
]


class Capability(StrEnum):
    """Something the service lets a role do (see the module's table)."""

    READ_CASES = "read_cases"
    EDIT_CASES = "edit_cases"
    READ_LOCATION = "read_location"
    APPROVE_WARNINGS = "approve_warnings"
    READ_AUDIT = "read_audit"
    MANAGE_USERS = "manage_users"
    DECLARE_EMERGENCY = "declare_emergency"
    READ_AGGREGATES = "read_aggregates"
    READ_OWN_RECORDS = "read_own_records"
    RUN_SCREENING = "run_screening"
    MANAGE_ISOLATION = "manage_isolation"
    DECIDE_RELIEF = "decide_relief"
    PUBLISH_DATA = "publish_data"
    MANAGE_CITIES = "manage_cities"


C = Capability
_CASEWORK = frozenset({C.READ_CASES, C.EDIT_CASES, C.READ_LOCATION, C.READ_AGGREGATES})

# The module docstring's table, as data; the two are compared by a test.
ROLE_CAPABILITIES: Mapping[str, frozenset[Capability]] = {
    "admin": frozenset(
        {C.MANAGE_USERS, C.DECLARE_EMERGENCY, C.READ_AUDIT, C.READ_AGGREGATES, C.MANAGE_CITIES}
    ),
    "investigator": _CASEWORK | {C.RUN_SCREENING},
    "health_officer": _CASEWORK
    | {C.APPROVE_WARNINGS, C.RUN_SCREENING, C.MANAGE_ISOLATION, C.DECIDE_RELIEF, C.PUBLISH_DATA},
    "analyst": frozenset({C.READ_AGGREGATES}),
    CITIZEN: frozenset({C.READ_OWN_RECORDS}),
}
assert set(ROLE_CAPABILITIES) == set(ACCOUNT_ROLES)


class HasRole(Protocol):
    """Anything with a role, an active flag and (for citizens) a person id, e.g. a `User`."""

    @property
    def role(self) -> str: ...

    @property
    def active(self) -> bool: ...

    @property
    def person_id(self) -> int | None: ...


def capabilities_of(role: str | None) -> frozenset[Capability]:
    """The capabilities of `role`; none for the public (``None``) or an unknown role."""
    if role is None:
        return frozenset()
    return ROLE_CAPABILITIES.get(role, frozenset())


def has_capability(user: HasRole | None, capability: Capability | str) -> bool:
    """Whether `user` (``None`` for the public) is active and has `capability`."""
    if user is None or not user.active:
        return False
    return Capability(capability) in capabilities_of(user.role)


def require(user: HasRole | None, capability: Capability | str) -> None:
    """Return when `user` has `capability`; else raise `LoginRequired` or `PermissionDenied`.

    `LoginRequired` (nobody logged in) is what a web layer answers with 401, and
    `PermissionDenied` with 403. An unknown capability name is a programming error
    (`ValueError`), not a refusal.
    """
    wanted = Capability(capability)
    if user is None:
        raise LoginRequired(f"log in first: {wanted.value} needs a user account")
    if not user.active:
        raise PermissionDenied(f"this account is deactivated; {wanted.value} refused")
    if wanted not in capabilities_of(user.role):
        raise PermissionDenied(f"role {user.role} may not {wanted.value.replace('_', ' ')}")


def require_own_records(user: HasRole | None, person_id: int) -> None:
    """Return when `user` may read the records of `person_id`: their own, as a citizen.

    Staff with ``read_cases`` are not covered here (they read any case through
    ``require(user, "read_cases")``); this check is for the citizen's own-records view.
    """
    require(user, Capability.READ_OWN_RECORDS)
    assert user is not None
    if user.person_id is None or user.person_id != person_id:
        raise PermissionDenied("a citizen may read their own records only")
