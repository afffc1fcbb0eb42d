"""The outbreak's response settings: the default is today's model, bit for bit."""

from __future__ import annotations

from pathlib import Path

import pytest

from epicity.city.generate import CityConfig, generate_city
from epicity.city.outbreak import Response

# Written by generate_city with this config before `Response` existed (commit 1c6fc57); refresh
# only on purpose, when the outbreak model itself is meant to change.
BASELINE = Path(__file__).parent / "data" / "outbreak_baseline_infections.csv"
BASELINE_CONFIG = CityConfig(
    people=2_000, days=12, seed=7, seed_infections=20, transmission=2.0, format="csv"
)


def test_default_response_reproduces_the_infections_table_of_before(tmp_path: Path) -> None:
    generate_city(tmp_path, BASELINE_CONFIG)
    assert (tmp_path / "truth" / "infections.csv").read_bytes() == BASELINE.read_bytes()


def test_default_response_is_today_and_others_are_not() -> None:
    assert Response().is_default
    assert not Response(warning_delay=0).is_default
    assert not Response(reach=0.3).is_default
    assert not Response(tests_per_day=10).is_default


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"warning_delay": -1.0}, "warning_delay"),
        ({"warning_delay": float("nan")}, "warning_delay"),
        ({"reach": 1.5}, "reach"),
        ({"reach": -0.1}, "reach"),
        ({"tests_per_day": -3}, "tests_per_day"),
        ({"quarantine_days": 0}, "quarantine_days"),
    ],
)
def test_response_rejects_bad_values(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Response(**kwargs).validate()  # type: ignore[arg-type]
