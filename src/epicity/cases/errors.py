"""Errors of case management.

::

    CaseError                    bad input or a refused change; the message names the field
     ├── NotFound                no case, contact or cluster with that id
     ├── IllegalTransition       a status or follow-up change the lifecycle does not allow
     ├── Conflict                already exists (case ref, contact, cluster name, membership)
     └── LinkRefused             a transmission link to itself, twice, or closing a cycle
"""

from __future__ import annotations

__all__ = ["CaseError", "Conflict", "IllegalTransition", "LinkRefused", "NotFound"]


class CaseError(ValueError):
    """Case management refused the request; the message names the field and the problem."""


class NotFound(CaseError):  # noqa: N818 (the names say what was refused)
    """No case, contact or cluster with that id."""


class IllegalTransition(CaseError):  # noqa: N818 (the names say what was refused)
    """The lifecycle does not allow this status (or follow-up) change."""


class Conflict(CaseError):  # noqa: N818 (the names say what was refused)
    """The thing to create exists already."""


class LinkRefused(CaseError):  # noqa: N818 (the names say what was refused)
    """A transmission link from a case to itself, a repeated link, or one closing a cycle."""
