"""Errors of place notices.

::

    NoticeError          bad input; the message names the field and the problem (400)
     └── SourceError     an import file is missing, unreadable or lacks a column (400; CLI 2)
"""

from __future__ import annotations

__all__ = ["NoticeError", "SourceError"]


class NoticeError(ValueError):
    """Place notices refused the request; the message names the field and the problem."""


class SourceError(NoticeError):
    """An import source cannot be read: a missing file, an unreadable row or a missing column."""
