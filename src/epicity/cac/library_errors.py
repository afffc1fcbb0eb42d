"""Errors of the CAC countermeasure library and suppliers directory.

::

    LibraryError                 bad input; the message names the field and the problem (400)
     ├── LibraryNotFound         no such countermeasure, attachment or supplier (404)
     ├── LibraryConflict         clashes with what is stored: a supplier's product listed
     │                           twice, too many attachments (409)
     ├── AttachmentTooLarge      a file over the size limit (413)
     └── AttachmentUnsupported   a file that is not PDF, PNG, JPEG, plain text or CSV, or
                                 whose bytes are not what its name or type says (415)
"""

from __future__ import annotations

__all__ = [
    "AttachmentTooLarge",
    "AttachmentUnsupported",
    "LibraryConflict",
    "LibraryError",
    "LibraryNotFound",
]


class LibraryError(ValueError):
    """The library refused the request; the message names the field and the problem."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class LibraryNotFound(LibraryError):  # noqa: N818 (the names say what was refused)
    """No countermeasure, attachment or supplier with that id (for the public: none of an
    approved city)."""


class LibraryConflict(LibraryError):  # noqa: N818 (the names say what was refused)
    """The request clashes with what is stored."""


class AttachmentTooLarge(LibraryError):  # noqa: N818 (the names say what was refused)
    """The file is larger than the limit."""


class AttachmentUnsupported(LibraryError):  # noqa: N818 (the names say what was refused)
    """The file's type is not allowed, or its bytes do not match its name or declared type."""
