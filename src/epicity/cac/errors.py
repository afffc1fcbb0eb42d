"""Errors of Cities Against COVID-19 (CAC).

::

    CacError                 a CAC rule refused the request; the message names the field
     ├── CacInvalid          one bad input field (registration, key label, query); ``field``
     ├── UpdatesInvalid      a batch of daily updates refused as a whole; ``errors`` lists
     │                       ``{"index", "field", "message"}`` for every problem found
     ├── CityNotFound        no such city (or, for the public, not approved)
     ├── PublisherNotFound   no such publisher key
     ├── KeyInvalid          an API key that is malformed, unknown or revoked, or whose city
     │                       is not approved
     └── CacConflict         the request clashes with the stored state (a city decided
                             already, a name registered twice)
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CacConflict",
    "CacError",
    "CacInvalid",
    "CityNotFound",
    "KeyInvalid",
    "PublisherNotFound",
    "UpdatesInvalid",
]


class CacError(ValueError):
    """A CAC rule refused the request; the message names the field and the problem."""


class CacInvalid(CacError):  # noqa: N818 (the names say what was refused)
    """An input field failed validation; `field` is its name."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class UpdatesInvalid(CacError):  # noqa: N818 (the names say what was refused)
    """A batch of daily updates was refused; nothing of it was stored. `errors` holds one
    ``{"index": int | None, "field": str | None, "message": str}`` per problem (index None:
    the batch itself; field None: the item as a whole)."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        first = errors[0] if errors else {"index": None, "field": None, "message": "refused"}
        where = ".".join(
            str(part) for part in (first.get("index"), first.get("field")) if part is not None
        )
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"{where or 'updates'}: {first['message']}{more}")
        self.errors = errors


class CityNotFound(CacError):  # noqa: N818 (the names say what was refused)
    """No city with that id (for the public: no approved city with that id)."""


class PublisherNotFound(CacError):  # noqa: N818 (the names say what was refused)
    """No publisher key with that id."""


class KeyInvalid(CacError):  # noqa: N818 (the names say what was refused)
    """The API key is malformed, unknown or revoked, or its city is not approved."""


class CacConflict(CacError):  # noqa: N818 (the names say what was refused)
    """The request clashes with what is stored (decided already, registered twice)."""
