"""Errors of self-isolation.

::

    IsolationError              bad input or a refused change; the message names the field
     ├── IsolationInvalid       a value out of its bounds (coordinate, temperature, date,
     │                          an SMS that does not parse): 422, nothing stored
     ├── IsolationNotFound      no registration, case, alert or officer with that id: 404
     └── IsolationConflict      the request clashes with the current state: 409
          └── NotIsolating      a check-in from someone with no active registration
"""

from __future__ import annotations

__all__ = [
    "IsolationConflict",
    "IsolationError",
    "IsolationInvalid",
    "IsolationNotFound",
    "NotIsolating",
]


class IsolationError(ValueError):
    """Self-isolation refused the request; the message names the field and the problem."""


class IsolationInvalid(IsolationError):  # noqa: N818 (the names say what was refused)
    """A value is out of its bounds or does not parse (the message says what is expected)."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class IsolationNotFound(IsolationError):  # noqa: N818 (the names say what was refused)
    """No registration, case, alert or officer with that id."""


class IsolationConflict(IsolationError):  # noqa: N818 (the names say what was refused)
    """Already registered, already acknowledged, already released: the state forbids it."""


class NotIsolating(IsolationConflict):
    """The person has no active isolation registration (a check-in is refused)."""
