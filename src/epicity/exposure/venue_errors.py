"""Errors of venue check-ins (`epicity.exposure.venues`).

::

    VenueError                a venue rule refused the request; the message names the field
     ├── VenueInvalid         one bad input field (registration, warning window); ``field``,
     │                        ``problem`` (422)
     ├── VenueNotFound        no such venue, warning or package (404)
     ├── VenueForbidden       a management token that is not the venue's, or an officer
     │                        approving their own warning (403)
     └── VenueConflict        clashes with the stored state: deciding a warning decided
                              already, warning for a venue that was not registered then (409)
"""

from __future__ import annotations

__all__ = [
    "VenueConflict",
    "VenueError",
    "VenueForbidden",
    "VenueInvalid",
    "VenueNotFound",
]


class VenueError(ValueError):
    """A venue rule refused the request; the message names the field and the problem."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class VenueInvalid(VenueError):  # noqa: N818 (the names say what was refused)
    """An input field failed validation; `field` is its name."""


class VenueNotFound(VenueError):  # noqa: N818 (the names say what was refused)
    """No venue, warning or package with that id or name (deleted by retention, or never)."""


class VenueForbidden(VenueError):  # noqa: N818 (the names say what was refused)
    """Not allowed for this caller: another venue's token, or approving one's own warning."""


class VenueConflict(VenueError):  # noqa: N818 (the names say what was refused)
    """The request clashes with what is stored (decided already, venue not registered then)."""
