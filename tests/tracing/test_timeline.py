"""The case timeline: fused sources, snapping, cell gaps, and investigators' confirmations."""

from __future__ import annotations

import pytest

from epicity.tracing.config import TracingConfig
from epicity.tracing.timeline import Confirmation, apply_confirmations, build_timeline

from .helpers import MIN, PROJ, T0, records, towers, venues

CFG = TracingConfig()
VENUES = venues(
    [(10, 0, 0, "restaurant", True), (11, 3000, 0, "cafe", True), (12, 6000, 0, "park", False)]
)
TOWERS = towers([(1, 0, 0, 800), (2, 3000, 0, 800), (3, 9000, 0, 800)])


def build(recs):  # type: ignore[no-untyped-def]
    return build_timeline(recs, VENUES, TOWERS, PROJ, CFG)


def test_card_inside_a_gps_stay_pins_the_venue_with_gps_bounds() -> None:
    gps = [(1, T0 + m * MIN, 30.0, 0.0, 15.0) for m in (0, 15, 30, 50)]
    stays = build(records(gps=gps, visits=[(1, T0 + 48 * MIN, 10, "card")]))
    venue = [s for s in stays if s.kind == "venue"]
    assert len(venue) == 1
    assert venue[0].place_id == 10
    assert venue[0].sources == ("card", "gps")
    assert venue[0].start == T0 - CFG.stay_pad_s
    assert venue[0].end == T0 + 50 * MIN + CFG.stay_pad_s
    assert venue[0].confidence == 0.95


def test_card_without_gps_uses_the_dwell_model() -> None:
    stays = build(records(visits=[(1, T0, 11, "card")]))
    before, after = CFG.dwell_for("cafe")
    assert [(s.place_id, s.start, s.end, s.sources) for s in stays] == [
        (11, T0 - before, T0 + after, ("card",))
    ]


def test_short_gps_stay_snaps_to_a_close_venue_long_one_stays_a_location() -> None:
    short = [(1, T0 + m * MIN, 6020.0, 10.0, 10.0) for m in (0, 20, 40)]
    long_ = [(1, T0 + 600 * MIN + m * MIN, 6020.0, 10.0, 10.0) for m in range(0, 400, 30)]
    stays = build(records(gps=short + long_))
    assert [s.kind for s in stays] == ["venue", "location"]
    assert stays[0].place_id == 12
    assert stays[0].sources == ("gps",)


def test_cell_runs_fill_only_uncovered_time() -> None:
    gps = [(1, T0 + m * MIN, 0.0, 0.0, 10.0) for m in (0, 30, 60)]
    cells = [
        (1, T0 + 10 * MIN, 1),
        (1, T0 + 40 * MIN, 1),
        (1, T0 + 200 * MIN, 3),
        (1, T0 + 230 * MIN, 3),
    ]
    stays = build(records(gps=gps, cells=cells))
    areas = [s for s in stays if s.kind == "area"]
    assert [(s.tower_id, s.start) for s in areas] == [(3, T0 + 200 * MIN)]
    assert areas[0].radius_m == 800


def test_confirmations_outrank_automatic_sources() -> None:
    stays = build(records(visits=[(1, T0, 10, "card"), (1, T0 + 300 * MIN, 11, "card")]))
    first, second = stays
    removed = apply_confirmations(
        stays,
        [
            Confirmation(
                "remove", "interview", "kim", "case paid for a friend", stay_id=first.stay_id
            )
        ],
        VENUES,
        PROJ,
    )
    assert [s.stay_id for s in removed] == [second.stay_id]
    corrected = apply_confirmations(
        stays,
        [
            Confirmation(
                "correct",
                "cctv",
                "lee",
                "CCTV: left at 12:40",
                stay_id=first.stay_id,
                end=first.end + 20 * MIN,
            )
        ],
        VENUES,
        PROJ,
    )
    fixed = corrected[0]
    assert fixed.end == first.end + 20 * MIN
    assert fixed.sources == ("cctv",)
    assert fixed.confidence == 1.0
    assert "lee" in fixed.note
    # An added stay cuts the overlapping automatic stay: one place at a time.
    added = apply_confirmations(
        stays,
        [
            Confirmation(
                "add",
                "interview",
                "park",
                "was at the park",
                start=T0 - 10 * MIN,
                end=T0 + 60 * MIN,
                place_id=12,
            )
        ],
        VENUES,
        PROJ,
    )
    assert [(s.place_id, s.start, s.end) for s in added][:2] == [
        (10, first.start, T0 - 10 * MIN),
        (12, T0 - 10 * MIN, T0 + 60 * MIN),
    ]


@pytest.mark.parametrize(
    ("confirmation", "field"),
    [
        (Confirmation("remove", "cctv", "", "x", stay_id="a"), "by"),
        (Confirmation("remove", "cctv", "kim", " ", stay_id="a"), "reason"),
        (Confirmation("remove", "cctv", "kim", "why"), "stay_id"),
        (Confirmation("add", "cctv", "kim", "why", start=T0), "start/end"),
        (Confirmation("add", "cctv", "kim", "why", start=T0, end=T0 - 1, place_id=10), "end"),
        (Confirmation("add", "cctv", "kim", "why", start=T0, end=T0 + 60), "place_id"),
        (Confirmation("remove", "cctv", "kim", "why", stay_id="nope"), "stay_id"),
        (Confirmation("add", "cctv", "kim", "why", start=T0, end=T0 + 60, place_id=99), "place_id"),
    ],
)
def test_bad_confirmations_name_the_field(confirmation: Confirmation, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        apply_confirmations(
            build(records(visits=[(1, T0, 10, "card")])), [confirmation], VENUES, PROJ
        )
