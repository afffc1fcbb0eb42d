"""The Corona-Warn-App risk calculation on CWA's own test cases, transcribed, and its edges.

The cases below are transcribed from corona-warn-app/cwa-app-android
``Corona-Warn-App/src/test/resources/exposure-windows-risk-calculation.json`` (Apache-2.0), the
file CWA's ``ExposureWindowsCalculationTest`` runs on both platforms:

- ``CWA_LAUNCH_CASES``: every case of the version at commit
  658d34ce4d63d8637069cb91ef01b15ff7e7f40b, whose configuration is CWA's launch configuration
  (`RiskConfiguration.cwa_default`);
- ``CWA_115_CASES``: cases of the version at commit 010b45484c991ccceb9e335671939c2d54bd5d51,
  run with that file's configuration (``CWA_115_JSON``, read through `from_cwa_json`).

A window is ``(age in days, report type, infectiousness, calibration confidence, scans)``
with scans ``(minAttenuation, typicalAttenuation, secondsSinceLastScan)``; the expectation is
``(total level, age of most recent LOW day, age of most recent HIGH day, days LOW, days HIGH,
distinct encounters LOW, distinct encounters HIGH)``.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from epicity.exposure.keyfile import ReportType
from epicity.exposure.risk import (
    ExposureWindow,
    Infectiousness,
    Range,
    RiskConfiguration,
    RiskLevel,
    ScanInstance,
    assess,
    assess_window,
)

TODAY = date(2021, 3, 1)
Scan = tuple[int, int, int]
Window = tuple[int, int, int, int, list[Scan]]
Expected = tuple[int, int | None, int | None, int, int, int, int]


def s(min_att: int, secs: int, n: int = 1, typical: int = 25) -> list[Scan]:
    return [(min_att, typical, secs)] * n


CWA_LAUNCH_CASES: list[tuple[str, list[Window], Expected]] = [
    ("drop windows with < 10 minutes below 73 dB", [(1, 2, 2, 0, s(30, 300) + s(30, 299))], (1, None, None, 0, 0, 0, 0)),
    ("keep windows with >= 10 minutes below 73 dB", [(1, 2, 2, 0, s(30, 300, 2))], (1, 1, None, 1, 0, 1, 0)),
    ("drop windows at >= 73 dB", [(1, 2, 2, 0, s(73, 300, 2))], (1, None, None, 0, 0, 0, 0)),
    ("keep windows at < 73 dB", [(1, 2, 2, 0, s(72, 300, 2))], (1, 1, None, 1, 0, 1, 0)),
    ("drop windows with TRL <= 2", [(1, 4, 2, 0, s(30, 300, 2))], (1, None, None, 0, 0, 0, 0)),
    ("keep windows with TRL > 2", [(1, 3, 1, 0, s(30, 300, 2))], (1, 1, None, 1, 0, 1, 0)),
    ("LOW window below 15", [(1, 2, 1, 0, s(30, 300, 2) + s(30, 299))], (1, 1, None, 1, 0, 1, 0)),
    ("HIGH window from 15", [(1, 2, 1, 0, s(30, 300, 3))], (2, None, 1, 0, 1, 0, 1)),
    ("most recent LOW date", [(3, 3, 1, 0, s(30, 300, 2)), (2, 3, 1, 0, s(30, 300, 2)), (4, 3, 1, 0, s(30, 300, 2))], (1, 2, None, 3, 0, 3, 0)),
    ("same date/TRL/calibration once (LOW)", [(1, 3, 1, 0, s(30, 300, 2))] * 2, (1, 1, None, 1, 0, 1, 0)),
    ("other calibration counts apart (LOW)", [(1, 3, 1, 0, s(30, 300, 2)), (1, 3, 1, 1, s(30, 300, 2))], (1, 1, None, 1, 0, 2, 0)),
    ("other TRL counts apart (LOW)", [(1, 3, 1, 0, s(30, 300, 2)), (1, 3, 2, 0, s(30, 300, 2))], (1, 1, None, 1, 0, 2, 0)),
    ("other date counts apart (LOW)", [(1, 3, 1, 0, s(30, 300, 2)), (2, 3, 1, 0, s(30, 300, 2))], (1, 1, None, 2, 0, 2, 0)),
    ("enough LOW windows make a HIGH day", [(1, 3, 1, 0, s(30, 300, 2))] * 3, (2, None, 1, 0, 1, 1, 0)),
    ("most recent HIGH date", [(3, 1, 2, 0, s(30, 420, 2)), (2, 1, 2, 0, s(30, 420, 2)), (4, 1, 2, 0, s(30, 420, 2))], (2, None, 2, 0, 3, 0, 3)),
    ("same date/TRL/calibration once (HIGH)", [(1, 1, 2, 0, s(30, 420, 2))] * 2, (2, None, 1, 0, 1, 0, 1)),
    ("other calibration counts apart (HIGH)", [(1, 1, 2, 0, s(30, 420, 2)), (1, 1, 2, 1, s(30, 420, 2))], (2, None, 1, 0, 1, 0, 2)),
    ("other TRL counts apart (HIGH)", [(1, 1, 2, 0, s(30, 420, 2)), (1, 1, 1, 0, s(30, 420, 2))], (2, None, 1, 0, 1, 0, 2)),
    ("other date counts apart (HIGH)", [(1, 1, 2, 0, s(30, 420, 2)), (2, 1, 2, 0, s(30, 420, 2))], (2, None, 1, 0, 2, 0, 2)),
    ("one HIGH window makes the total HIGH", [(2, 3, 1, 0, s(30, 300, 2)), (1, 1, 2, 0, s(30, 420, 2))], (2, 2, 1, 1, 1, 1, 1)),
    ("no windows", [], (1, None, None, 0, 0, 0, 0)),
    ("a window without scan instances", [(1, 2, 2, 0, [])], (1, None, None, 0, 0, 0, 0)),
    ("an attenuation of zero", [(1, 1, 1, 0, s(0, 300) + s(70, 300))], (1, 1, None, 1, 0, 1, 0)),
    ("secondsSinceLastScan of zero", [(1, 1, 1, 0, s(70, 0) + s(70, 300, 2))], (1, 1, None, 1, 0, 1, 0)),
    ("negative secondsSinceLastScan ignored", [(1, 1, 1, 0, s(25, -86160) + s(25, 300, 3))], (2, None, 1, 0, 1, 0, 1)),
]  # fmt: skip

CWA_115_JSON: dict[str, Any] = {
    "minutesAtAttenuationFilters": [],
    "trlFilters": [],
    "minutesAtAttenuationWeights": [
        {"attenuationRange": {"min": 0, "max": 63, "maxExclusive": True}, "weight": 0.8},
        {"attenuationRange": {"min": 63, "max": 73, "maxExclusive": True}, "weight": 1},
        {"attenuationRange": {"min": 73, "max": 79, "maxExclusive": True}, "weight": 0.1},
    ],
    "normalizedTimePerEWToRiskLevelMapping": [
        {"normalizedTimeRange": {"min": 0, "max": 9, "maxExclusive": True}, "riskLevel": 1},
        {"normalizedTimeRange": {"min": 9, "max": 9999}, "riskLevel": 2},
    ],
    "normalizedTimePerDayToRiskLevelMapping": [
        {"normalizedTimeRange": {"min": 5, "max": 9, "maxExclusive": True}, "riskLevel": 1},
        {"normalizedTimeRange": {"min": 9, "max": 99999}, "riskLevel": 2},
    ],
    "trlEncoding": {
        "infectiousnessOffsetStandard": 1,
        "infectiousnessOffsetHigh": 2,
        "reportTypeOffsetRecursive": 0,
        "reportTypeOffsetSelfReport": 2,
        "reportTypeOffsetConfirmedClinicalDiagnosis": 4,
        "reportTypeOffsetConfirmedTest": 6,
    },
    "transmissionRiskValueMapping": [
        {"transmissionRiskLevel": trl, "transmissionRiskValue": value}
        for trl, value in [(1, 0), (2, 0), (3, 0.6), (4, 0.8), (5, 1), (6, 1.2), (7, 1.4), (8, 1.6)]
    ],
}

CWA_115_CASES: list[tuple[str, list[Window], Expected]] = [
    ("keep windows (< 10 minutes)", [(1, 2, 2, 0, s(30, 300) + s(30, 299))], (2, None, 1, 0, 1, 0, 1)),
    ("keep windows (>= 73 dB)", [(1, 2, 2, 0, s(73, 3000))], (1, 1, None, 1, 0, 1, 0)),
    ("keep windows (< 73 dB)", [(1, 2, 2, 0, s(72, 300, 2))], (2, None, 1, 0, 1, 0, 1)),
    ("TRL <= 2 is worth nothing", [(1, 4, 2, 0, s(30, 300, 2))], (1, None, None, 0, 0, 0, 0)),
    ("keep windows with TRL > 2", [(1, 3, 1, 0, s(30, 300, 3))], (1, 1, None, 1, 0, 1, 0)),
    ("no risk below 5", [(1, 2, 1, 0, s(65, 299))], (1, None, None, 0, 0, 0, 0)),
    ("LOW from 5", [(1, 2, 1, 0, s(65, 300))], (1, 1, None, 1, 0, 1, 0)),
    ("LOW below 9", [(1, 2, 1, 0, s(65, 539))], (1, 1, None, 1, 0, 1, 0)),
    ("HIGH from 9", [(1, 2, 1, 0, s(65, 540))], (2, None, 1, 0, 1, 0, 1)),
    ("days without a level are ignored", [(2, 2, 1, 0, s(65, 299)), (3, 2, 1, 0, s(65, 300))], (1, 3, None, 1, 0, 1, 0)),
    ("enough LOW windows make a HIGH day", [(1, 3, 1, 0, s(30, 300, 2))] * 3, (2, None, 1, 0, 1, 1, 0)),
    ("an attenuation of zero", [(1, 2, 1, 0, s(0, 300) + s(65, 300))], (2, None, 1, 0, 1, 0, 1)),
    ("secondsSinceLastScan of zero", [(1, 2, 1, 0, s(70, 0) + s(70, 300, 2))], (2, None, 1, 0, 1, 0, 1)),
    ("negative secondsSinceLastScan ignored", [(1, 2, 1, 0, s(25, -86160) + s(25, 300, 3))], (2, None, 1, 0, 1, 0, 1)),
    ("EXPOSUREAPP-12211: 0.6 + 4.8 + 3.6 is 9", [(1, 2, 2, 3, [(73, 76, 300)]), (1, 2, 2, 3, [(72, 74, 240)]), (1, 2, 2, 3, [(70, 71, 180)])], (2, None, 1, 0, 1, 1, 0)),
]  # fmt: skip


def windows_of(spec: list[Window]) -> list[ExposureWindow]:
    return [
        ExposureWindow(
            TODAY - timedelta(days=age),
            report_type,
            infectiousness,
            calibration,
            tuple(ScanInstance(typical, minimum, secs) for minimum, typical, secs in scans),
        )
        for age, report_type, infectiousness, calibration, scans in spec
    ]


def outcome(windows: list[ExposureWindow], config: RiskConfiguration) -> Expected:
    r = assess(windows, config, today=TODAY)

    def age(d: date | None) -> int | None:
        return None if d is None else (TODAY - d).days

    return (
        int(r.level),
        age(r.most_recent_date_with_low_risk),
        age(r.most_recent_date_with_high_risk),
        r.days_with_low_risk,
        r.days_with_high_risk,
        r.minimum_distinct_encounters_low,
        r.minimum_distinct_encounters_high,
    )


@pytest.mark.parametrize(
    ("description", "spec", "expected"), CWA_LAUNCH_CASES, ids=[c[0] for c in CWA_LAUNCH_CASES]
)
def test_cwa_launch_cases(description: str, spec: list[Window], expected: Expected) -> None:
    assert outcome(windows_of(spec), RiskConfiguration.cwa_default()) == expected


@pytest.mark.parametrize(
    ("description", "spec", "expected"), CWA_115_CASES, ids=[c[0] for c in CWA_115_CASES]
)
def test_cwa_115_cases(description: str, spec: list[Window], expected: Expected) -> None:
    config = RiskConfiguration.from_cwa_json(CWA_115_JSON)
    assert outcome(windows_of(spec), config) == expected
    assert outcome(windows_of(spec), RiskConfiguration.cwa_1_15()) == expected


def test_cwa_1_15_preset_is_the_json_configuration() -> None:
    assert RiskConfiguration.cwa_1_15() == RiskConfiguration.from_cwa_json(
        CWA_115_JSON, max_encounter_age_days=10
    )


def test_hand_computed_example() -> None:
    # 20 minutes at 48 dB (weight 1.0) from a confirmed test, standard infectiousness:
    # TRL 6 + 1 = 7, value 7 x 0.2 = 1.4, normalized 20 x 1.4 = 28 >= 15: HIGH.
    w = ExposureWindow(
        TODAY,
        ReportType.CONFIRMED_TEST,
        Infectiousness.STANDARD,
        0,
        (ScanInstance(50, 48, 600),) * 2,
    )
    r = assess([w])
    assert r.level == RiskLevel.HIGH
    assert r.normalized_time_by_day == {TODAY: pytest.approx(28.0)}
    assert r.most_recent_date_with_high_risk == TODAY
    # Half weight from 55 dB: 20 x 0.5 x 1.4 = 14 < 15: LOW.
    far = ExposureWindow(
        TODAY,
        ReportType.CONFIRMED_TEST,
        Infectiousness.STANDARD,
        0,
        (ScanInstance(58, 58, 600),) * 2,
    )
    assert assess([far]).level == RiskLevel.LOW
    assert assess([far]).days[0].normalized_time == pytest.approx(14.0)


def test_key_trl_takes_precedence_over_the_encoding() -> None:
    base = ExposureWindow(
        TODAY, ReportType.CONFIRMED_TEST, Infectiousness.HIGH, 0, (ScanInstance(40, 40, 600),) * 2
    )
    assert assess_window(base, RiskConfiguration.cwa_default()).transmission_risk_level == 8
    low = ExposureWindow(
        base.date, base.report_type, base.infectiousness, 0, base.scan_instances, 2
    )
    r = assess_window(low, RiskConfiguration.cwa_default())
    assert (r.transmission_risk_level, r.dropped) == (2, "transmission risk level")


def test_encounters_older_than_the_maximum_age_are_ignored() -> None:
    config = RiskConfiguration.cwa_default()
    old = windows_of([(15, 1, 2, 0, s(30, 420, 2))])
    assert assess(old, config, today=TODAY).level == RiskLevel.LOW
    assert assess(old, config, today=TODAY).windows[0].dropped == "too old"
    assert (
        assess(windows_of([(14, 1, 2, 0, s(30, 420, 2))]), config, today=TODAY).level
        == RiskLevel.HIGH
    )
    assert assess(old, config).level == RiskLevel.HIGH  # no `today`: no age filter


def test_range_bounds() -> None:
    r = Range(0, 73, max_exclusive=True)
    assert 0 in r
    assert 72.99 in r
    assert 73 not in r
    assert 5 not in Range(5, 9, min_exclusive=True)
    assert 9 in Range(5, 9)
    with pytest.raises(ValueError, match="max: 1 is below min 2"):
        Range(2, 1)


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"minutesAtAttenuationWeights": [{"attenuationRange": {"min": 0, "max": 55}, "weight": "x"}]}, r"minutesAtAttenuationWeights\[0\]\.weight: expected a number"),
        ({"normalizedTimePerDayToRiskLevelMapping": [{"normalizedTimeRange": {"min": 0, "max": 1}, "riskLevel": 3}]}, r"riskLevel: 3 is not a risk level"),
        ({"trlFilters": [{"dropIfTrlInRange": {"min": 5, "max": 2}}]}, r"trlFilters\[0\]\.dropIfTrlInRange\.max: 2.0 is below min 5"),
        ({"trlEncoding": {"bogus": 1}}, r"trlEncoding\.bogus: unknown field"),
        ({"normalizedTimePerEWToRiskLevelMapping": []}, r"normalized_time_per_window_to_risk_level: must not be empty"),
        ({"minutesAtAttenuationFilters": {"not": "a list"}}, r"minutesAtAttenuationFilters: expected a list"),
    ],
)  # fmt: skip
def test_bad_configuration_names_the_field(patch: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RiskConfiguration.from_cwa_json({**CWA_115_JSON, **patch})


def test_unknown_report_type_without_trl_is_refused() -> None:
    w = ExposureWindow(
        TODAY, ReportType.UNKNOWN, Infectiousness.HIGH, 0, (ScanInstance(40, 40, 600),) * 2
    )
    with pytest.raises(ValueError, match="report_type: 0 has no TRL encoding"):
        assess([w])


@given(
    st.lists(st.tuples(st.integers(0, 90), st.integers(0, 600)), min_size=1, max_size=8),
    st.integers(3, 8),
)
def test_more_time_never_lowers_the_risk(scans: list[tuple[int, int]], trl: int) -> None:
    config = RiskConfiguration.cwa_default()
    instances = tuple(ScanInstance(a, a, sec) for a, sec in scans)
    w = ExposureWindow(TODAY, ReportType.CONFIRMED_TEST, Infectiousness.STANDARD, 0, instances, trl)
    longer = ExposureWindow(
        w.date, w.report_type, w.infectiousness, 0, (*instances, ScanInstance(40, 40, 300)), trl
    )
    assert assess([longer], config).level >= assess([w], config).level
    normal, more = assess_window(w, config), assess_window(longer, config)
    if normal.dropped is None:
        assert more.normalized_time is not None
        assert more.normalized_time >= normal.normalized_time - 1e-9  # type: ignore[operator]
