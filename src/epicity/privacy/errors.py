"""Errors of the privacy domain.

::

    PrivacyError                 anything the privacy rules refuse (also bad input to them)
     ├── NoActiveEmergency       no emergency is in force (or none by that name/id to end)
     ├── PurposeRequired         a read of personal data without a meaningful purpose
     ├── EmergencyConflict       already declared under that name / already ended
     ├── AccessDenied            the role may not do this (analysts read aggregates only)
     └── QueryRefused            SQL the location reader does not run (not one plain SELECT)
"""

from __future__ import annotations

__all__ = [
    "AccessDenied",
    "EmergencyConflict",
    "NoActiveEmergency",
    "PrivacyError",
    "PurposeRequired",
    "QueryRefused",
]


class PrivacyError(Exception):
    """A privacy rule refused the request; the message names the problem."""


class NoActiveEmergency(PrivacyError):  # noqa: N818 (the names say what was refused)
    """No declared emergency is in force, so personal location data may not be read."""


class PurposeRequired(PrivacyError):  # noqa: N818 (the names say what was refused)
    """Reading personal location data needs a stated, meaningful purpose."""


class EmergencyConflict(PrivacyError):  # noqa: N818 (the names say what was refused)
    """The emergency is already declared, or already ended."""


class AccessDenied(PrivacyError):  # noqa: N818 (the names say what was refused)
    """The actor's role does not allow this."""


class QueryRefused(PrivacyError):  # noqa: N818 (the names say what was refused)
    """The location reader runs exactly one SELECT over the store's tables, nothing else."""
