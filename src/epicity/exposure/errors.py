"""Errors of the exposure-notification key server.

::

    ExposureError             a key-server rule refused the request; the message says why
     ├── ExposureInvalid      one bad input field (a malformed code, a bad option); ``field``
     ├── PublishInvalid       an upload refused as a whole; ``errors`` lists
     │                        ``{"field": "keys[3].key_data", "problem": ...}`` for every problem
     ├── CodeRefused          a well-formed verification code that cannot be exchanged: unknown,
     │                        used already, or expired
     ├── TokenInvalid         no upload token, or one that is unknown, used, expired or revoked
     ├── RateLimited          too many verification attempts; ``retry_after`` in seconds
     ├── ExportNotFound       no such export file
     └── ExposureConfigError  the server is not set up for the operation (no signing key, a
                              bad setting): the operator's to fix, not the client's
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "CodeRefused",
    "ExportNotFound",
    "ExposureConfigError",
    "ExposureError",
    "ExposureInvalid",
    "PublishInvalid",
    "RateLimited",
    "TokenInvalid",
]


class ExposureError(ValueError):
    """A key-server rule refused the request; the message names the field and the problem."""


class ExposureInvalid(ExposureError):  # noqa: N818 (the names say what was refused)
    """An input field failed validation; `field` is its name."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class PublishInvalid(ExposureError):  # noqa: N818 (the names say what was refused)
    """An upload was refused as a whole; nothing of it was stored. `errors` holds one
    ``{"field": str, "problem": str}`` per problem found (``keys[3].rolling_period``)."""

    def __init__(self, errors: Sequence[dict[str, str]]) -> None:
        self.errors = list(errors) or [{"field": "body", "problem": "refused"}]
        first = self.errors[0]
        more = f" (and {len(self.errors) - 1} more)" if len(self.errors) > 1 else ""
        super().__init__(f"{first['field']}: {first['problem']}{more}")


class CodeRefused(ExposureError):  # noqa: N818 (the names say what was refused)
    """A well-formed verification code that cannot be exchanged for an upload token."""


class TokenInvalid(ExposureError):  # noqa: N818 (the names say what was refused)
    """No upload token, or one that is unknown, used, expired or revoked."""


class RateLimited(ExposureError):  # noqa: N818 (the names say what was refused)
    """Too many verification attempts; `retry_after` is the wait in whole seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))


class ExportNotFound(ExposureError):  # noqa: N818 (the names say what was refused)
    """No export file by that region and name (never made, or deleted by retention)."""


class ExposureConfigError(ExposureError):
    """The key server is not set up for this (no signing key, a malformed setting)."""
