"""Errors of open data (publishing the daily figures, reading them back).

::

    OpendataError                bad input; the message names the field and the problem (400)
     ├── NotFound                no figures or breakdown for that day, area or dimension (404)
     └── Conflict                clashes with what is stored: nothing to publish yet, another
                                 publication running at the same time (409)
"""

from __future__ import annotations

__all__ = ["Conflict", "NotFound", "OpendataError"]


class OpendataError(ValueError):
    """Open data refused the request; the message names the field and the problem."""


class NotFound(OpendataError):  # noqa: N818 (the names say what was refused)
    """No published figures or breakdown for that day, area or dimension."""


class Conflict(OpendataError):  # noqa: N818 (the names say what was refused)
    """Nothing to publish yet, or another publication was stored at the same time."""
