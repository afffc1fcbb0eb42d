"""The role -> capability table: exactly what the docstring's table says, nothing else."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from epicity.accounts import permissions
from epicity.accounts.errors import LoginRequired, PermissionDenied
from epicity.accounts.models import ACCOUNT_ROLES, PRIVACY_ROLES, STAFF_ROLES
from epicity.accounts.permissions import (
    ROLE_CAPABILITIES,
    Capability,
    capabilities_of,
    has_capability,
    require,
    require_own_records,
)
from epicity.privacy.access import PERSONAL_DATA_ROLES

# Written out again here on purpose: a change to the table must be made twice.
EXPECTED = {
    "admin": {
        "manage_users",
        "declare_emergency",
        "read_audit",
        "read_aggregates",
        "manage_cities",
    },
    "investigator": {
        "read_cases",
        "edit_cases",
        "read_location",
        "read_aggregates",
        "run_screening",
    },
    "health_officer": {
        "read_cases",
        "edit_cases",
        "read_location",
        "approve_warnings",
        "read_aggregates",
        "run_screening",
        "manage_isolation",
        "decide_relief",
        "publish_data",
    },
    "analyst": {"read_aggregates"},
    "citizen": {"read_own_records"},
}


@dataclass(frozen=True)
class Someone:
    role: str
    active: bool = True
    person_id: int | None = None


def docstring_table() -> dict[str, set[str]]:
    """The module docstring's table, parsed: role -> capabilities ticked."""
    doc = permissions.__doc__ or ""
    lines = doc.splitlines()
    rules = [i for i, line in enumerate(lines) if re.fullmatch(r"=+( +=+)+", line)]
    assert len(rules) == 3, "the table has three ===== rules"
    header = lines[rules[0] + 1]
    columns = [(m.start(), m.group()) for m in re.finditer(r"\S+", header)]
    table: dict[str, set[str]] = {role: set() for _, role in columns[1:]}
    for line in lines[rules[1] + 1 : rules[2]]:
        capability = line.split()[0]
        for start, role in columns[1:]:
            if line[start : start + 1] == "x":
                table[role].add(capability)
    return table


def test_docstring_table_is_the_mapping_and_the_expected_table() -> None:
    documented = docstring_table()
    assert documented == EXPECTED
    assert {role: {c.value for c in caps} for role, caps in ROLE_CAPABILITIES.items()} == EXPECTED


def test_every_capability_is_in_the_table_and_every_role_has_one() -> None:
    documented = docstring_table()
    assert set().union(*documented.values()) == {c.value for c in Capability}
    assert set(documented) == set(ACCOUNT_ROLES)
    assert all(documented.values())


@pytest.mark.parametrize("role", ACCOUNT_ROLES)
@pytest.mark.parametrize("capability", list(Capability))
def test_require_grants_exactly_the_table(role: str, capability: Capability) -> None:
    user = Someone(role=role, person_id=7 if role == "citizen" else None)
    allowed = capability.value in EXPECTED[role]
    assert has_capability(user, capability) is allowed
    assert has_capability(user, capability.value) is allowed
    if allowed:
        require(user, capability)
    else:
        with pytest.raises(PermissionDenied, match=f"role {role} may not") as caught:
            require(user, capability)
        assert not isinstance(caught.value, LoginRequired)


@pytest.mark.parametrize("capability", list(Capability))
def test_the_public_has_nothing(capability: Capability) -> None:
    assert capabilities_of(None) == frozenset()
    assert not has_capability(None, capability)
    with pytest.raises(LoginRequired, match="log in first"):
        require(None, capability)


def test_a_deactivated_user_has_nothing() -> None:
    user = Someone(role="admin", active=False)
    assert not has_capability(user, "manage_users")
    with pytest.raises(PermissionDenied, match="deactivated"):
        require(user, "manage_users")


def test_unknown_role_has_nothing_and_unknown_capability_is_a_bug() -> None:
    assert capabilities_of("superuser") == frozenset()
    with pytest.raises(PermissionDenied):
        require(Someone(role="superuser"), "read_cases")
    with pytest.raises(ValueError, match="read_everything"):
        require(Someone(role="admin"), "read_everything")


def test_citizens_read_their_own_records_only() -> None:
    require_own_records(Someone(role="citizen", person_id=7), 7)
    with pytest.raises(PermissionDenied, match="own records only"):
        require_own_records(Someone(role="citizen", person_id=7), 8)
    with pytest.raises(PermissionDenied, match="may not read own records"):
        require_own_records(Someone(role="investigator"), 7)
    with pytest.raises(LoginRequired):
        require_own_records(None, 7)


def test_roles_line_up_with_the_privacy_layer() -> None:
    # staff roles act in the privacy layer; citizens never do; "system" cannot log in
    assert set(STAFF_ROLES) == set(ACCOUNT_ROLES) - {"citizen"}
    assert set(STAFF_ROLES) <= set(PRIVACY_ROLES)
    assert "system" not in ACCOUNT_ROLES
    assert "public" not in ACCOUNT_ROLES
    # this gate never admits to location data a role the privacy layer would refuse
    readers = {r for r, caps in ROLE_CAPABILITIES.items() if Capability.READ_LOCATION in caps}
    assert readers <= set(PERSONAL_DATA_ROLES)
