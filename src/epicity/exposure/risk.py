"""Exposure risk from exposure windows: the Corona-Warn-App (CWA 2.x) calculation.

GAEN v2 hands an app *exposure windows*: the scan instances in which one other device (one
diagnosis key) was seen, at most 30 minutes per window and one UTC day each, with the report
type and infectiousness the key carried. The Corona-Warn-App turns them into a risk level in
two stages, which `assess` implements step for step:

Per exposure window
  1. drop it if a *minutes at attenuation* filter matches: the minutes of its scan instances
     whose attenuation lies in the filter's range fall in ``drop_if_minutes_in_range``
     (CWA's default: fewer than 10 minutes below 73 dB -> dropped);
  2. its *transmission risk level* (TRL, 1..8): the key's own TRL when it carries one, else
     CWA's encoding ``report type offset + infectiousness offset``;
  3. drop it if a TRL filter matches (default: TRL 1-2);
  4. its *transmission risk value*: ``TRL x transmissionRiskLevelMultiplier`` (0.2), or a
     per-TRL table when the configuration has one (later CWA versions);
  5. *weighted minutes*: each scan instance's seconds (negative ones count as 0) times the
     weight of the attenuation bucket its attenuation falls in (0 outside every bucket), / 60;
  6. *normalized time* = transmission risk value x weighted minutes;
  7. its risk level from ``normalizedTimePerEWToRiskLevelMapping`` (no level: ignored).

Per UTC day
  1. normalized time per day = the sum over the day's windows;
  2. the day's level from ``normalizedTimePerDayToRiskLevelMapping`` (default: HIGH from 15);
     a day with no level is ignored;
  3. minimum distinct encounters per level: distinct ``(TRL, calibration confidence)`` pairs
     among the day's windows of that level.

Total: HIGH when any day is HIGH, else LOW; the most recent day of each level; the number of
days and the sum of minimum distinct encounters per level.

Sources (Apache-2.0; read, not copied):

- corona-warn-app/cwa-app-android ``Corona-Warn-App/src/main/java/de/rki/coronawarnapp/risk/
  DefaultRiskLevels.kt`` (the version that filters and weighs by ``minAttenuationDb`` and
  clamps negative ``secondsSinceLastScan``; the iOS app's ``RiskCalculationExposureWindow.swift``
  and ``RiskCalculation.swift`` at commit 3ca00d7b do the same);
- the defaults of `RiskConfiguration.cwa_default`: the configuration in cwa-app-android
  ``Corona-Warn-App/src/test/resources/exposure-windows-risk-calculation.json`` at commit
  658d34ce4d63d8637069cb91ef01b15ff7e7f40b, the CWA 1.9 launch configuration of the exposure
  windows calculation (filters: < 10 min below 73 dB, TRL 1-2; weights 1.0 below 55 dB and 0.5
  from 55 to 63 dB; HIGH from 15 normalized minutes per window and per day; multiplier 0.2);
- `RiskConfiguration.cwa_1_15`: cwa-server ``services/distribution/src/main/resources/
  main-config/v2/risk-calculation-parameters-1.15.yaml`` at commit 24abfe37 (no filters,
  weights 0.8/1.0/0.1 up to 79 dB, HIGH from 9, a per-TRL value table, 10-day encounter age);
- infectiousness by days since symptom onset (GAEN's ``DiagnosisKeysDataMapping``, applied
  when windows are built from keys): the Linux Foundation Public Health "Configuring Exposure
  Notification Risk Scores for COVID-19" v2 symptom onset map (lfph/gaen-risk-scoring
  ``risk-scoring.md``): HIGH on days -2..+3, STANDARD on -4, -3, +4, +5, NONE otherwise.

One deliberate difference: CWA Android rounds the normalized time per day to one decimal
(EXPOSUREAPP-12211: 0.6 + 4.8 + 3.6 must be 9, not 8.999...). Rounding to one decimal also
turns 14.98 weighted minutes (899 s) into 15 and so into HIGH, which CWA's own test cases expect
to stay LOW; we round to `RiskConfiguration.normalized_time_decimals` (9) instead, which removes
the binary floating-point error without moving a boundary.

Example::

    from datetime import date
    windows = [ExposureWindow(date(2020, 12, 20), ReportType.CONFIRMED_TEST,
                              Infectiousness.STANDARD, 0,
                              (ScanInstance(50, 48, 600), ScanInstance(50, 48, 600)))]
    result = assess(windows, RiskConfiguration.cwa_default())
    result.level            # RiskLevel.HIGH: 20 min x 1.0 x (TRL 7 x 0.2) = 28 >= 15
    result.days[0].normalized_time  # 28.0
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import IntEnum
from typing import Any

from epicity.exposure.keyfile import ReportType

__all__ = [
    "LFPH_INFECTIOUSNESS_BY_DSOS",
    "CalibrationConfidence",
    "DayRisk",
    "ExposureWindow",
    "Infectiousness",
    "MinutesAtAttenuationFilter",
    "MinutesAtAttenuationWeight",
    "Range",
    "RiskConfiguration",
    "RiskLevel",
    "RiskLevelMapping",
    "RiskResult",
    "ScanInstance",
    "TrlEncoding",
    "WindowRisk",
    "assess",
    "assess_window",
]


class RiskLevel(IntEnum):
    """CWA's risk levels (the values of ``NormalizedTimeToRiskLevelMapping.RiskLevel``)."""

    LOW = 1
    HIGH = 2


class Infectiousness(IntEnum):
    """GAEN v2 infectiousness of the key's owner on the key's day (``ENInfectiousness``)."""

    NONE = 0
    STANDARD = 1
    HIGH = 2


class CalibrationConfidence(IntEnum):
    """GAEN v2 confidence in the attenuation's calibration (``ENCalibrationConfidence``)."""

    LOWEST = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3


# LFPH v2 symptom onset map (see the module docstring); days not listed are NONE.
LFPH_INFECTIOUSNESS_BY_DSOS: Mapping[int, Infectiousness] = {
    -4: Infectiousness.STANDARD,
    -3: Infectiousness.STANDARD,
    -2: Infectiousness.HIGH,
    -1: Infectiousness.HIGH,
    0: Infectiousness.HIGH,
    1: Infectiousness.HIGH,
    2: Infectiousness.HIGH,
    3: Infectiousness.HIGH,
    4: Infectiousness.STANDARD,
    5: Infectiousness.STANDARD,
}


def _number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name}: expected a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{name}: {value} is not finite")
    return float(value)


@dataclass(frozen=True)
class Range:
    """A closed, half-open or open interval (CWA's ``RiskCalculationParameters.Range``)."""

    min: float
    max: float
    min_exclusive: bool = False
    max_exclusive: bool = False

    def __post_init__(self) -> None:
        _number(self.min, "min")
        _number(self.max, "max")
        if self.min > self.max:
            raise ValueError(f"max: {self.max} is below min {self.min}")

    def __contains__(self, value: float) -> bool:
        if value < self.min or (self.min_exclusive and value == self.min):
            return False
        return not (value > self.max or (self.max_exclusive and value == self.max))

    @classmethod
    def from_cwa(cls, data: Mapping[str, Any], name: str = "range") -> Range:
        """A range from CWA's JSON form: ``{"min": 0, "max": 73, "maxExclusive": true}``."""
        if not isinstance(data, Mapping):
            raise ValueError(f"{name}: expected an object, got {type(data).__name__}")
        try:
            return cls(
                _number(data.get("min", 0), f"{name}.min"),
                _number(data.get("max", 0), f"{name}.max"),
                bool(data.get("minExclusive", False)),
                bool(data.get("maxExclusive", False)),
            )
        except ValueError as exc:
            raise ValueError(f"{name}.{exc}") from None


@dataclass(frozen=True)
class MinutesAtAttenuationFilter:
    """Drop a window when its minutes with attenuation in `attenuation_range` are in `drop_if`."""

    attenuation_range: Range
    drop_if_minutes_in_range: Range


@dataclass(frozen=True)
class MinutesAtAttenuationWeight:
    """Seconds of scan instances with attenuation in `attenuation_range` count `weight` times."""

    attenuation_range: Range
    weight: float

    def __post_init__(self) -> None:
        if _number(self.weight, "weight") < 0:
            raise ValueError(f"weight: {self.weight} is negative")


@dataclass(frozen=True)
class RiskLevelMapping:
    """Normalized times in `normalized_time_range` map to `risk_level`."""

    normalized_time_range: Range
    risk_level: RiskLevel


@dataclass(frozen=True)
class TrlEncoding:
    """CWA's transmission risk level encoding: TRL = report type offset + infectiousness offset."""

    infectiousness_offset_standard: int = 1
    infectiousness_offset_high: int = 2
    report_type_offset_recursive: int = 0
    report_type_offset_self_report: int = 2
    report_type_offset_confirmed_clinical_diagnosis: int = 4
    report_type_offset_confirmed_test: int = 6

    def trl(self, report_type: int, infectiousness: int) -> int:
        """The TRL of a window from its report type and infectiousness."""
        offsets = {
            ReportType.CONFIRMED_TEST: self.report_type_offset_confirmed_test,
            ReportType.CONFIRMED_CLINICAL_DIAGNOSIS: (
                self.report_type_offset_confirmed_clinical_diagnosis
            ),
            ReportType.SELF_REPORT: self.report_type_offset_self_report,
            ReportType.RECURSIVE: self.report_type_offset_recursive,
        }
        if report_type not in offsets:
            raise ValueError(f"report_type: {report_type} has no TRL encoding (expected 1..4)")
        high = infectiousness == Infectiousness.HIGH
        return offsets[ReportType(report_type)] + (
            self.infectiousness_offset_high if high else self.infectiousness_offset_standard
        )


def _ranges(low_high: Sequence[tuple[float, float, RiskLevel]]) -> tuple[RiskLevelMapping, ...]:
    """Mappings [low, high) -> level, the last one closed (CWA's layout)."""
    out = []
    for i, (low, high, level) in enumerate(low_high):
        last = i == len(low_high) - 1
        out.append(RiskLevelMapping(Range(low, high, max_exclusive=not last), level))
    return tuple(out)


@dataclass(frozen=True)
class RiskConfiguration:
    """The parameters of the CWA risk calculation (``RiskCalculationParameters``) and of turning
    diagnosis keys into exposure windows (GAEN's ``DiagnosisKeysDataMapping``).

    Use `cwa_default` (CWA's launch configuration: high risk from 15 normalized minutes a day) or
    `cwa_1_15`; `from_cwa_json` reads CWA's JSON form (as in its test-case files).
    """

    minutes_at_attenuation_filters: tuple[MinutesAtAttenuationFilter, ...]
    trl_filters: tuple[Range, ...]
    minutes_at_attenuation_weights: tuple[MinutesAtAttenuationWeight, ...]
    normalized_time_per_window_to_risk_level: tuple[RiskLevelMapping, ...]
    normalized_time_per_day_to_risk_level: tuple[RiskLevelMapping, ...]
    trl_encoding: TrlEncoding = TrlEncoding()
    transmission_risk_level_multiplier: float = 0.2
    transmission_risk_values: Mapping[int, float] | None = None
    """TRL -> transmission risk value; when set it replaces the multiplier (CWA >= 1.15)."""
    max_encounter_age_days: int = 14
    """Windows more than this many days before `assess`'s ``today`` are ignored."""
    infectiousness_by_days_since_onset: Mapping[int, Infectiousness] = field(
        default_factory=lambda: dict(LFPH_INFECTIOUSNESS_BY_DSOS)
    )
    infectiousness_when_onset_unknown: Infectiousness = Infectiousness.STANDARD
    report_type_when_missing: ReportType = ReportType.CONFIRMED_TEST
    normalized_time_decimals: int = 9

    def __post_init__(self) -> None:
        if not self.normalized_time_per_window_to_risk_level:
            raise ValueError("normalized_time_per_window_to_risk_level: must not be empty")
        if not self.normalized_time_per_day_to_risk_level:
            raise ValueError("normalized_time_per_day_to_risk_level: must not be empty")
        _number(self.transmission_risk_level_multiplier, "transmission_risk_level_multiplier")
        if self.transmission_risk_values is not None:
            for trl, value in self.transmission_risk_values.items():
                if _number(value, f"transmission_risk_values[{trl}]") < 0:
                    raise ValueError(f"transmission_risk_values[{trl}]: {value} is negative")
        if isinstance(self.max_encounter_age_days, bool) or self.max_encounter_age_days < 0:
            raise ValueError(
                f"max_encounter_age_days: {self.max_encounter_age_days} is not a count of days"
            )
        if not 0 <= self.normalized_time_decimals <= 15:
            raise ValueError(
                f"normalized_time_decimals: {self.normalized_time_decimals} is outside 0..15"
            )

    @classmethod
    def cwa_default(cls) -> RiskConfiguration:
        """CWA's launch configuration of the exposure windows calculation (CWA 1.9, Dec 2020).

        Source: cwa-app-android ``exposure-windows-risk-calculation.json`` at commit
        658d34ce4d63d8637069cb91ef01b15ff7e7f40b (``defaultRiskCalculationConfiguration``).
        """
        return cls(
            # Fewer than 10 minutes below 73 dB (about 8 m): negligible, dropped.
            minutes_at_attenuation_filters=(
                MinutesAtAttenuationFilter(
                    Range(0, 73, max_exclusive=True), Range(0, 10, max_exclusive=True)
                ),
            ),
            # TRL 1-2: the infector's days far from symptom onset, or recursive reports.
            trl_filters=(Range(1, 2),),
            # Below 55 dB (~1.5 m) counts fully, 55-63 dB (~1.5-3 m) half, farther not at all.
            minutes_at_attenuation_weights=(
                MinutesAtAttenuationWeight(Range(0, 55, max_exclusive=True), 1.0),
                MinutesAtAttenuationWeight(Range(55, 63, max_exclusive=True), 0.5),
            ),
            normalized_time_per_window_to_risk_level=_ranges(
                [(0, 15, RiskLevel.LOW), (15, 9999, RiskLevel.HIGH)]
            ),
            # 15 normalized ("weighted") minutes a day: high risk.
            normalized_time_per_day_to_risk_level=_ranges(
                [(0, 15, RiskLevel.LOW), (15, 9999, RiskLevel.HIGH)]
            ),
            trl_encoding=TrlEncoding(),
            transmission_risk_level_multiplier=0.2,
            max_encounter_age_days=14,  # keys and observations are kept 14 days
        )

    @classmethod
    def cwa_1_15(cls) -> RiskConfiguration:
        """CWA's configuration from version 1.15.

        Sources: cwa-server ``risk-calculation-parameters-1.15.yaml`` at commit 24abfe37; the
        TRL value table from cwa-app-android's test configuration at commit
        010b45484c991ccceb9e335671939c2d54bd5d51.
        """
        return cls(
            minutes_at_attenuation_filters=(),
            trl_filters=(),
            minutes_at_attenuation_weights=(
                MinutesAtAttenuationWeight(Range(0, 63, max_exclusive=True), 0.8),
                MinutesAtAttenuationWeight(Range(63, 73, max_exclusive=True), 1.0),
                MinutesAtAttenuationWeight(Range(73, 79, max_exclusive=True), 0.1),
            ),
            normalized_time_per_window_to_risk_level=_ranges(
                [(0, 9, RiskLevel.LOW), (9, 9999, RiskLevel.HIGH)]
            ),
            normalized_time_per_day_to_risk_level=_ranges(
                [(5, 9, RiskLevel.LOW), (9, 99999, RiskLevel.HIGH)]
            ),
            transmission_risk_level_multiplier=0.0,
            transmission_risk_values=dict(
                zip(range(1, 9), (0.0, 0.0, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6), strict=True)
            ),
            max_encounter_age_days=10,
        )

    @classmethod
    def from_cwa_json(cls, data: Mapping[str, Any], **overrides: Any) -> RiskConfiguration:
        """A configuration from CWA's JSON form (``defaultRiskCalculationConfiguration`` of its
        test-case files: camelCase keys, ``attenuationRange``, ``riskLevel`` 1/2, ...).

        Raises ValueError naming the field on anything malformed.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"configuration: expected an object, got {type(data).__name__}")

        def items(key: str) -> list[Mapping[str, Any]]:
            value = data.get(key, [])
            if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
                raise ValueError(f"{key}: expected a list of objects")
            return value

        def level(value: object, name: str) -> RiskLevel:
            try:
                return RiskLevel(value)  # type: ignore[arg-type]
            except ValueError:
                raise ValueError(f"{name}: {value!r} is not a risk level (1 or 2)") from None

        def rng(obj: Mapping[str, Any], key: str, name: str) -> Range:
            return Range.from_cwa(obj.get(key, {}), f"{name}.{key}")

        def mappings(key: str) -> tuple[RiskLevelMapping, ...]:
            return tuple(
                RiskLevelMapping(
                    rng(m, "normalizedTimeRange", f"{key}[{i}]"),
                    level(m.get("riskLevel"), f"{key}[{i}].riskLevel"),
                )
                for i, m in enumerate(items(key))
            )

        enc = data.get("trlEncoding", {})
        if not isinstance(enc, Mapping):
            raise ValueError("trlEncoding: expected an object")
        names = {
            "infectiousnessOffsetStandard": "infectiousness_offset_standard",
            "infectiousnessOffsetHigh": "infectiousness_offset_high",
            "reportTypeOffsetRecursive": "report_type_offset_recursive",
            "reportTypeOffsetSelfReport": "report_type_offset_self_report",
            "reportTypeOffsetConfirmedClinicalDiagnosis": (
                "report_type_offset_confirmed_clinical_diagnosis"
            ),
            "reportTypeOffsetConfirmedTest": "report_type_offset_confirmed_test",
        }
        encoding = {}
        for key, value in enc.items():
            if key not in names:
                raise ValueError(f"trlEncoding.{key}: unknown field")
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"trlEncoding.{key}: expected an integer")
            encoding[names[key]] = value
        values = None
        if "transmissionRiskValueMapping" in data:
            values = {}
            for i, m in enumerate(items("transmissionRiskValueMapping")):
                trl = m.get("transmissionRiskLevel")
                name = f"transmissionRiskValueMapping[{i}]"
                if isinstance(trl, bool) or not isinstance(trl, int):
                    raise ValueError(f"{name}.transmissionRiskLevel: expected an integer")
                values[trl] = _number(
                    m.get("transmissionRiskValue"), f"{name}.transmissionRiskValue"
                )
        filters = "minutesAtAttenuationFilters"
        weights = "minutesAtAttenuationWeights"
        kwargs: dict[str, Any] = {
            "minutes_at_attenuation_filters": tuple(
                MinutesAtAttenuationFilter(
                    rng(f, "attenuationRange", f"{filters}[{i}]"),
                    rng(f, "dropIfMinutesInRange", f"{filters}[{i}]"),
                )
                for i, f in enumerate(items(filters))
            ),
            "trl_filters": tuple(
                rng(f, "dropIfTrlInRange", f"trlFilters[{i}]")
                for i, f in enumerate(items("trlFilters"))
            ),
            "minutes_at_attenuation_weights": tuple(
                MinutesAtAttenuationWeight(
                    rng(w, "attenuationRange", f"{weights}[{i}]"),
                    _number(w.get("weight"), f"{weights}[{i}].weight"),
                )
                for i, w in enumerate(items(weights))
            ),
            "normalized_time_per_window_to_risk_level": mappings(
                "normalizedTimePerEWToRiskLevelMapping"
            ),
            "normalized_time_per_day_to_risk_level": mappings(
                "normalizedTimePerDayToRiskLevelMapping"
            ),
            "trl_encoding": TrlEncoding(**encoding),
            "transmission_risk_level_multiplier": _number(
                data.get("transmissionRiskLevelMultiplier", 0.0), "transmissionRiskLevelMultiplier"
            ),
            "transmission_risk_values": values,
        }
        if "maxEncounterAgeInDays" in data:
            kwargs["max_encounter_age_days"] = data["maxEncounterAgeInDays"]
        kwargs.update(overrides)
        return cls(**kwargs)

    def transmission_risk_value(self, trl: int) -> float:
        """The transmission risk value of a TRL (table when configured, else TRL x multiplier)."""
        if self.transmission_risk_values is not None:
            return self.transmission_risk_values.get(trl, 0.0)
        return trl * self.transmission_risk_level_multiplier

    def infectiousness(self, days_since_onset: int | None) -> Infectiousness:
        """The infectiousness a key gets from its days since onset of symptoms."""
        if days_since_onset is None:
            return self.infectiousness_when_onset_unknown
        return self.infectiousness_by_days_since_onset.get(days_since_onset, Infectiousness.NONE)


@dataclass(frozen=True)
class ScanInstance:
    """One scan in which the other device was heard (GAEN v2 ``ScanInstance``)."""

    typical_attenuation_db: int
    minimum_attenuation_db: int
    seconds_since_last_scan: int


@dataclass(frozen=True)
class ExposureWindow:
    """Scan instances of one other device (one diagnosis key) within 30 minutes of one UTC day.

    `transmission_risk_level` is the key's own TRL (1..8) when it carried one; otherwise (None
    or 0) CWA's encoding derives it from `report_type` and `infectiousness`.
    """

    date: date
    report_type: int
    infectiousness: int
    calibration_confidence: int
    scan_instances: tuple[ScanInstance, ...]
    transmission_risk_level: int | None = None


@dataclass(frozen=True)
class WindowRisk:
    """What the calculation made of one window: dropped (and why) or its TRL, time and level."""

    window: ExposureWindow
    transmission_risk_level: int | None
    normalized_time: float | None
    risk_level: RiskLevel | None
    dropped: str | None = None
    """``"minutes at attenuation"``, ``"transmission risk level"``, ``"no risk level"``,
    ``"too old"`` or None when the window counts."""


@dataclass(frozen=True)
class DayRisk:
    """One UTC day's aggregate: normalized minutes, level and minimum distinct encounters."""

    date: date
    normalized_time: float
    risk_level: RiskLevel
    minimum_distinct_encounters_low: int
    minimum_distinct_encounters_high: int


@dataclass(frozen=True)
class RiskResult:
    """The total risk (CWA's ``AggregatedRiskResult``) with the days and windows behind it."""

    level: RiskLevel
    days: tuple[DayRisk, ...]
    """Days that got a risk level, oldest first."""
    windows: tuple[WindowRisk, ...] = ()

    def _dates(self, level: RiskLevel) -> list[date]:
        return [d.date for d in self.days if d.risk_level == level]

    @property
    def most_recent_date_with_high_risk(self) -> date | None:
        """The latest day whose level is HIGH (None when there is none)."""
        return max(self._dates(RiskLevel.HIGH), default=None)

    @property
    def most_recent_date_with_low_risk(self) -> date | None:
        """The latest day whose level is LOW (None when there is none)."""
        return max(self._dates(RiskLevel.LOW), default=None)

    @property
    def days_with_high_risk(self) -> int:
        """How many days are HIGH."""
        return len(self._dates(RiskLevel.HIGH))

    @property
    def days_with_low_risk(self) -> int:
        """How many days are LOW."""
        return len(self._dates(RiskLevel.LOW))

    @property
    def minimum_distinct_encounters_high(self) -> int:
        """Sum over days of the distinct (TRL, calibration) pairs among HIGH windows."""
        return sum(d.minimum_distinct_encounters_high for d in self.days)

    @property
    def minimum_distinct_encounters_low(self) -> int:
        """Sum over days of the distinct (TRL, calibration) pairs among LOW windows."""
        return sum(d.minimum_distinct_encounters_low for d in self.days)

    @property
    def normalized_time_by_day(self) -> dict[date, float]:
        """Normalized minutes per day, for the days that got a level."""
        return {d.date: d.normalized_time for d in self.days}


def _level(value: float, mappings: Iterable[RiskLevelMapping]) -> RiskLevel | None:
    for m in mappings:
        if value in m.normalized_time_range:
            return m.risk_level
    return None


def _attenuation(scan: ScanInstance) -> int:
    # CWA (Android since 1.x, iOS) filters and weighs by the minimum attenuation.
    return scan.minimum_attenuation_db


def assess_window(window: ExposureWindow, config: RiskConfiguration) -> WindowRisk:
    """Steps 1-7 of the per-window calculation (see the module docstring)."""
    scans = window.scan_instances
    for f in config.minutes_at_attenuation_filters:
        seconds = sum(
            max(s.seconds_since_last_scan, 0)
            for s in scans
            if _attenuation(s) in f.attenuation_range
        )
        if seconds / 60 in f.drop_if_minutes_in_range:
            return WindowRisk(window, None, None, None, "minutes at attenuation")
    trl = window.transmission_risk_level
    if not trl:
        trl = config.trl_encoding.trl(window.report_type, window.infectiousness)
    if any(trl in f for f in config.trl_filters):
        return WindowRisk(window, trl, None, None, "transmission risk level")
    weighted_seconds = 0.0
    for s in scans:
        weight = next(
            (
                w.weight
                for w in config.minutes_at_attenuation_weights
                if _attenuation(s) in w.attenuation_range
            ),
            0.0,
        )
        weighted_seconds += max(s.seconds_since_last_scan, 0) * weight
    normalized = config.transmission_risk_value(trl) * weighted_seconds / 60
    level = _level(
        round(normalized, config.normalized_time_decimals),
        config.normalized_time_per_window_to_risk_level,
    )
    if level is None:
        return WindowRisk(window, trl, normalized, None, "no risk level")
    return WindowRisk(window, trl, normalized, level)


def assess(
    windows: Iterable[ExposureWindow],
    config: RiskConfiguration | None = None,
    *,
    today: date | None = None,
) -> RiskResult:
    """The total risk of a set of exposure windows (CWA's calculation; see the module docstring).

    Args:
        windows: exposure windows, in any order.
        config: the parameters; `RiskConfiguration.cwa_default()` when omitted.
        today: when given, windows dated more than ``config.max_encounter_age_days`` before it
            are ignored (``maxEncounterAgeInDays``).
    """
    config = config or RiskConfiguration.cwa_default()
    results: list[WindowRisk] = []
    by_day: dict[date, list[WindowRisk]] = {}
    oldest = today - timedelta(days=config.max_encounter_age_days) if today is not None else None
    for window in windows:
        if oldest is not None and window.date < oldest:
            results.append(WindowRisk(window, None, None, None, "too old"))
            continue
        r = assess_window(window, config)
        results.append(r)
        if r.dropped is None:
            by_day.setdefault(window.date, []).append(r)
    days = []
    for day in sorted(by_day):
        day_windows = by_day[day]
        total = round(
            sum(r.normalized_time or 0.0 for r in day_windows), config.normalized_time_decimals
        )
        level = _level(total, config.normalized_time_per_day_to_risk_level)
        if level is None:
            continue

        def encounters(lvl: RiskLevel, day_windows: list[WindowRisk] = day_windows) -> int:
            return len(
                {
                    (r.transmission_risk_level, r.window.calibration_confidence)
                    for r in day_windows
                    if r.risk_level == lvl
                }
            )

        days.append(
            DayRisk(day, total, level, encounters(RiskLevel.LOW), encounters(RiskLevel.HIGH))
        )
    total_level = (
        RiskLevel.HIGH if any(d.risk_level == RiskLevel.HIGH for d in days) else RiskLevel.LOW
    )
    return RiskResult(total_level, tuple(days), tuple(results))
