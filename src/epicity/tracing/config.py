"""Thresholds of an investigation, with their defaults and where they come from.

Contact tiers follow the Korean case definitions of 2020 (KDCA, COVID-19 response guidelines
for local governments, edition 9, 2020): a close contact shared a closed space with the case for
15 minutes or more, or was within 2 metres for 15 minutes or more; others present at the same
place are casual contacts who get advice to be tested; people served by the same cell are told
only through area alerts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["DWELL", "TracingConfig"]

MINUTE = 60

# How long a visit lasts around a card payment or a visitor-log entry, by venue category:
# (seconds before the record, seconds after). A restaurant bill is paid at the end of the meal,
# a cafe order and a transit tap at the start. Medians from the synthetic city's routines,
# which follow Seoul time-use surveys; used when no GPS stay gives the real bounds.
DWELL: dict[str, tuple[int, int]] = {
    "restaurant": (50 * MINUTE, 5 * MINUTE),
    "cafe": (2 * MINUTE, 55 * MINUTE),
    "store": (30 * MINUTE, 2 * MINUTE),
    "market": (45 * MINUTE, 5 * MINUTE),
    "club": (40 * MINUTE, 180 * MINUTE),
    "karaoke": (10 * MINUTE, 80 * MINUTE),
    "gym": (2 * MINUTE, 70 * MINUTE),
    "church": (2 * MINUTE, 100 * MINUTE),
    "hospital": (40 * MINUTE, 5 * MINUTE),
    "subway_station": (1 * MINUTE, 2 * MINUTE),
    "park": (30 * MINUTE, 30 * MINUTE),
}
DEFAULT_DWELL = (20 * MINUTE, 20 * MINUTE)


@dataclass(frozen=True)
class TracingConfig:
    """Every threshold of timeline building and contact detection (seconds and metres)."""

    # Infectious window: from this many days before symptom onset (or the test date when there
    # are no symptoms) until isolation (the end of the confirmation day).
    days_before_onset: int = 2
    # Contact tiers (KDCA case definitions).
    close_min_overlap_s: int = 15 * MINUTE
    close_max_distance_m: float = 2.0
    casual_max_distance_m: float = 10.0
    # GPS stay detection (a chain of fixes that stay close, with bounded gaps).
    # Consecutive fixes this close belong to one stay. 60 m keeps one building together under
    # indoor noise yet splits a home from an office next door (tuned on bench/accuracy.py at
    # 100k: 40 m 0.924, 60 m 0.962, 120 m 0.878 recall of observable close contacts).
    stay_radius_m: float = 60.0
    stay_max_gap_s: int = 3 * 3600  # longer silences split a stay
    stay_min_duration_s: int = 10 * MINUTE
    # A stay began before its first fix and ended after its last: padded by up to this much
    # (never past half the way to the neighbouring fixes), and it must last
    # `stay_min_duration_s` padded. 15 min: tuned on the seed-1 and seed-2 cities at 100k
    # (10 min: observable recall 0.974 / 0.930; 15 min: 0.986 / 0.957), checked on seed 4.
    stay_pad_s: int = 15 * MINUTE
    # Snapping a GPS stay to a venue, and deciding that two GPS stays are at the same place.
    snap_radius_m: float = 40.0
    snap_with_payment_m: float = 150.0  # a payment during the stay confirms a farther venue
    same_place_m: float = 35.0  # two stays' median centres this close: the same building
    dwell: dict[str, tuple[int, int]] = field(default_factory=lambda: dict(DWELL))

    def dwell_for(self, category: str | None) -> tuple[int, int]:
        """Seconds before and after a payment or entry that the visit is assumed to last."""
        return self.dwell.get(category or "", DEFAULT_DWELL)

    @property
    def max_dwell_before_s(self) -> int:
        """The longest assumed part of a visit before its record (bounds the lookups)."""
        return max(b for b, _ in [*self.dwell.values(), DEFAULT_DWELL])

    @property
    def max_dwell_after_s(self) -> int:
        """The longest assumed part of a visit after its record."""
        return max(a for _, a in [*self.dwell.values(), DEFAULT_DWELL])
