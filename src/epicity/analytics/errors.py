"""Errors of analytics.

::

    AnalyticsError        bad input; the message names the field and the problem (400, CLI exit 2)
     └── NotEnoughData    the series or table is too short or too sparse for the method (422)
"""

from __future__ import annotations

__all__ = ["AnalyticsError", "NotEnoughData"]


class AnalyticsError(ValueError):
    """Analytics refused its input; the message names the field and the problem."""


class NotEnoughData(AnalyticsError):  # noqa: N818 (the name says what was refused)
    """The input is valid but too short or too sparse for the method asked for."""
