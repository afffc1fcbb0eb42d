"""Self-isolation: registration (ordered contacts or voluntary) with the isolation address as
a geofence, twice-daily check-ins (app or SMS), alerts to the assigned health officer, release
at the end date (with a negative test where symptoms appeared). See `epicity.isolation.service`.
"""

from __future__ import annotations

from epicity.isolation.service import IsolationPeriod, isolation_periods

__all__ = ["IsolationPeriod", "isolation_periods"]
