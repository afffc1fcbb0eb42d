"""Errors of screening (centres, bookings, samples, lab batches, results).

::

    ScreeningError               bad input; the message names the field and the problem (400)
     ├── NotFound                no centre, booking, sample or batch with that id (404)
     ├── Conflict                clashes with what is stored: a barcode used already, a double
     │                           booking, a name taken, a sample not in the right state (409)
     └── SlotUnavailable         the slot cannot be booked: closed then, full or over (409)
"""

from __future__ import annotations

__all__ = ["Conflict", "NotFound", "ScreeningError", "SlotUnavailable"]


class ScreeningError(ValueError):
    """Screening refused the request; the message names the field and the problem."""


class NotFound(ScreeningError):  # noqa: N818 (the names say what was refused)
    """No centre, booking, sample or batch with that id (or not the caller's own)."""


class Conflict(ScreeningError):  # noqa: N818 (the names say what was refused)
    """The request clashes with stored state (used barcode, double booking, wrong state)."""


class SlotUnavailable(ScreeningError):  # noqa: N818 (the names say what was refused)
    """The slot cannot be booked: the centre is closed then, the slot is full or over."""
