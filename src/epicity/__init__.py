"""epicity: an open-source epidemic-response platform for a city."""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
