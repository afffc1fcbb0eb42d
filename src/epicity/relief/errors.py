"""Errors of the relief domain.

::

    ReliefError                  a relief rule refused the request; the message names the field
     ├── ReliefInvalid           bad input (an amount, a date, a household size); ``field``
     ├── ApplicationNotFound     no such application (or not the caller's: the same answer)
     ├── DuplicateApplication    the same kind for an overlapping period (person or venue)
     ├── NotEligible             approval refused: the records do not show eligibility
     └── AlreadyDecided          the application was approved or rejected already
"""

from __future__ import annotations

__all__ = [
    "AlreadyDecided",
    "ApplicationNotFound",
    "DuplicateApplication",
    "NotEligible",
    "ReliefError",
    "ReliefInvalid",
]


class ReliefError(ValueError):
    """A relief rule refused the request; the message names the field and the problem."""


class ReliefInvalid(ReliefError):  # noqa: N818 (the names say what was refused)
    """An input field failed validation; `field` is its name."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class ApplicationNotFound(ReliefError):  # noqa: N818 (the names say what was refused)
    """No application with that id (or, for a citizen, none of theirs)."""


class DuplicateApplication(ReliefError):  # noqa: N818 (the names say what was refused)
    """An application of the same kind for the same person or venue overlaps this period."""


class NotEligible(ReliefError):  # noqa: N818 (the names say what was refused)
    """Approval refused: epicity's records do not show the application eligible."""


class AlreadyDecided(ReliefError):  # noqa: N818 (the names say what was refused)
    """The application has been decided already."""
