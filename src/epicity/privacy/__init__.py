"""Privacy: emergency declarations, the audit log and the access layer to location records.

Personal location data is read only through `LocationAccess` (see `epicity.privacy.access`),
which requires an emergency in force, a stated purpose and a role allowed to see personal
data, and writes an audit entry for every reader it opens.
"""

from __future__ import annotations

from epicity.privacy.access import (
    LOCATION_TABLES,
    AuditedReader,
    LocationAccess,
    LocationReader,
)
from epicity.privacy.errors import (
    AccessDenied,
    EmergencyConflict,
    NoActiveEmergency,
    PrivacyError,
    PurposeRequired,
    QueryRefused,
)
from epicity.privacy.models import ROLES, AuditEntry, Emergency
from epicity.privacy.service import (
    active_emergency,
    audit,
    audit_entries,
    declare_emergency,
    end_emergency,
    get_emergency,
)

__all__ = [
    "LOCATION_TABLES",
    "ROLES",
    "AccessDenied",
    "AuditEntry",
    "AuditedReader",
    "Emergency",
    "EmergencyConflict",
    "LocationAccess",
    "LocationReader",
    "NoActiveEmergency",
    "PrivacyError",
    "PurposeRequired",
    "QueryRefused",
    "active_emergency",
    "audit",
    "audit_entries",
    "declare_emergency",
    "end_emergency",
    "get_emergency",
]
