"""A reference exposure-notification client: what a phone does, as a library.

`Phone` keeps the state a GAEN phone keeps and nothing else:

- **its own keys**: one Temporary Exposure Key (TEK) per UTC day, drawn from `rng` when the day
  is first needed and valid from that day's first interval (rolling start = a multiple of 144),
  for 144 intervals;
- **what it broadcasts**: `broadcast` gives the current interval's Rolling Proximity
  Identifier and its Associated Encrypted Metadata (BLE metadata: version byte 0x40 = major 1,
  minor 0, then the calibrated transmit power in dBm as a signed byte, then two reserved zero
  bytes);
- **what it hears**: `observe` (one sighting) and `observe_many` (columns) append scan
  instances to numpy columns (`matching.Observations`), never to Python objects per scan;
- **what it publishes after a positive test**: `diagnosis_keys` - the keys of the last 14 days
  whose validity has ended. The current day's key is never released while it is still in use:
  it is released by a later call once the day has rolled over (GAEN v1.5 allows same-day
  release only after the key is rotated; releasing on the next upload keeps an RPI that is
  still being broadcast from ever being matchable). Each key gets the Corona-Warn-App's
  transmission risk level for its distance from the upload (`CWA_TRL_BY_DAYS_BEFORE_UPLOAD`),
  the report type, and days since symptom onset when the onset is known;
- **what it downloads**: `download` accepts only signed export zips: each file must verify with
  one of the trusted public keys (`keyfile.verify_export`), else it is refused whole and the
  reason reported; keys are de-duplicated across files (a revised key replaces the original);
- **what it concludes**: `check` matches the downloaded keys against the observations
  (`matching.match`), builds exposure windows and scores them with the Corona-Warn-App risk
  calculation (`risk.assess`);
- **what it forgets**: everything older than 14 days (`forget`; `observe` and `check` call it
  as time moves on).

Example::

    alice, bob = Phone(rng=random.Random(1).randbytes), Phone(rng=random.Random(2).randbytes)
    for minute in range(0, 20, 5):                      # 20 minutes at ~1 m
        t = t0 + 60 * minute
        rpi, aem = alice.broadcast(t)
        bob.observe(rpi, aem, t, attenuation_db=50, seconds=300)
    keys = alice.diagnosis_keys(t0 + 86_400)             # the next day, after a positive test
    info = SignatureInfo(verification_key_version="v1", verification_key_id="450")
    export_bin = encode_export(KeyExport(t0, t0 + 86_400, "KR-11", 1, 1, (info,), tuple(keys)))
    zip_bytes = write_zip(export_bin, sign_export(export_bin, private_key, info, 1, 1))
    trusted = {("450", "v1"): private_key.public_key()}
    bob.check([zip_bytes], trusted, now=t0 + 86_400).level  # HIGH: 20 min x 1.2 = 24
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives.asymmetric import ec

from epicity.exposure import crypto
from epicity.exposure.keyfile import (
    DiagnosisKey,
    KeyFileError,
    ReportType,
    decode_export,
    read_zip,
    verify_export,
)
from epicity.exposure.matching import (
    KeyBatch,
    KeyMatch,
    Observations,
    exposure_windows,
    match,
)
from epicity.exposure.risk import CalibrationConfidence, RiskConfiguration, RiskResult, assess

__all__ = [
    "CWA_TRL_BY_DAYS_BEFORE_UPLOAD",
    "METADATA_VERSION",
    "RETENTION_DAYS",
    "DownloadReport",
    "Phone",
]

RETENTION_DAYS = 14
"""Days a phone keeps its keys, its observations and downloaded keys."""
METADATA_VERSION = 0x40
"""BLE metadata byte 0: major version 01, minor version 00 (GAEN Bluetooth spec v1.2)."""
CWA_TRL_BY_DAYS_BEFORE_UPLOAD: Sequence[int] = (6, 8, 8, 8, 5, 3, 1, 1, 1, 1, 1, 1, 1, 1)
"""TRL of the key 1, 2, ... 14 days before the upload: the Corona-Warn-App's table by days
before upload consent (cwa-documentation ``cwa-risk-assessment.md``, "An Example", tables 1
and 2: VI, VIII, VIII, VIII, V, III, then I)."""
_DAY = 86_400
_PERIOD = crypto.TEK_ROLLING_PERIOD


def _seconds(at: datetime | float, name: str = "at") -> int:
    """Unix seconds from an aware datetime or a number; ValueError naming `name` otherwise."""
    if isinstance(at, datetime):
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError(f"{name}: a naive datetime; give one with a time zone")
        return int(np.floor(at.timestamp()))
    if isinstance(at, bool) or not isinstance(at, int | float | np.integer | np.floating):
        raise ValueError(f"{name}: expected a datetime or unix seconds, got {type(at).__name__}")
    if not np.isfinite(at) or at < 0:
        raise ValueError(f"{name}: {at} is not a time after 1970")
    return int(np.floor(at))


def _day_start_interval(seconds: int) -> int:
    """The rolling start interval (UTC midnight) of the day containing `seconds`."""
    return crypto.en_interval_number(seconds) // _PERIOD * _PERIOD


@dataclass(frozen=True)
class DownloadReport:
    """What `Phone.download` did: files accepted and refused (with why), keys kept."""

    files: int
    accepted: int
    keys_added: int
    duplicates: int
    refused: tuple[tuple[int, str], ...]
    """(index of the file in the call, reason) for every file refused."""


class _Columns:
    """Growable observation columns (amortised doubling), so that one sighting is one row."""

    def __init__(self) -> None:
        self.n = 0
        self._alloc(256)

    def _alloc(self, cap: int) -> None:
        old = None if not hasattr(self, "rpi") else self.view()
        self.rpi = np.empty((cap, 16), np.uint8)
        self.aem = np.empty((cap, 4), np.uint8)
        self.at = np.empty(cap, np.int64)
        self.att = np.empty(cap, np.float32)
        self.rssi = np.empty(cap, np.float32)
        self.sec = np.empty(cap, np.int32)
        if old is not None:
            self.n = 0
            self.append(old)

    def view(self) -> Observations:
        n = self.n
        return Observations(
            self.rpi[:n], self.aem[:n], self.at[:n], self.att[:n], self.rssi[:n], self.sec[:n]
        )

    def append(self, obs: Observations) -> None:
        k = len(obs)
        if self.n + k > len(self.at):
            self._alloc(max(2 * len(self.at), self.n + k))
        s = slice(self.n, self.n + k)
        self.rpi[s], self.aem[s], self.at[s] = obs.rpi, obs.aem, obs.at
        self.att[s], self.rssi[s], self.sec[s] = obs.attenuation_db, obs.rssi_dbm, obs.seconds
        self.n += k

    def keep(self, mask: npt.NDArray[np.bool_]) -> None:
        obs = self.view().take(mask)
        self.n = 0
        self.append(obs)


class Phone:
    """One phone's exposure-notification state (see the module docstring).

    Args:
        rng: the source of TEKs, ``os.urandom`` by default; pass e.g.
            ``random.Random(seed).randbytes`` for a reproducible simulation.
        tx_power_dbm: the calibrated transmit power written into the BLE metadata (-127..127).
        calibration_confidence: what this phone reports in its exposure windows (0..3).
        config: the risk configuration `check` uses by default (CWA's launch defaults).
    """

    def __init__(
        self,
        *,
        rng: Callable[[int], bytes] = os.urandom,
        tx_power_dbm: int = 0,
        calibration_confidence: int = CalibrationConfidence.HIGH,
        config: RiskConfiguration | None = None,
    ) -> None:
        if isinstance(tx_power_dbm, bool) or not isinstance(tx_power_dbm, int):
            raise ValueError(
                f"tx_power_dbm: expected an integer, got {type(tx_power_dbm).__name__}"
            )
        if not -127 <= tx_power_dbm <= 127:
            raise ValueError(f"tx_power_dbm: {tx_power_dbm} is outside -127..127")
        if calibration_confidence not in tuple(CalibrationConfidence):
            raise ValueError(f"calibration_confidence: {calibration_confidence} is not 0..3")
        self._rng = rng
        self.tx_power_dbm = tx_power_dbm
        self.calibration_confidence = int(calibration_confidence)
        self.config = config or RiskConfiguration.cwa_default()
        self._teks: dict[int, bytes] = {}  # rolling start interval -> TEK
        self._derived: dict[int, tuple[bytes, bytes]] = {}  # rolling start -> (RPIK, AEMK)
        self._obs = _Columns()
        self._keys = KeyBatch.empty()
        self._forgotten_until = 0  # unix seconds: everything before it is gone
        self.last_matches: list[KeyMatch] = []

    # ----------------------------------------------------------------- own keys

    def temporary_exposure_key(self, at: datetime | float) -> tuple[bytes, int]:
        """The TEK in use at `at` and its rolling start interval (drawn on first use)."""
        start = _day_start_interval(_seconds(at))
        tek = self._teks.get(start)
        if tek is None:
            tek = crypto.new_tek(self._rng)
            self._teks[start] = tek
        return tek, start

    def broadcast(self, at: datetime | float) -> tuple[bytes, bytes]:
        """The (RPI, AEM) this phone advertises at `at`."""
        seconds = _seconds(at)
        tek, start = self.temporary_exposure_key(seconds)
        keys = self._derived.get(start)
        if keys is None:
            keys = (crypto.rpik(tek), crypto.aemk(tek))
            self._derived[start] = keys
        rpi = crypto.rpi(keys[0], crypto.en_interval_number(seconds))
        metadata = bytes([METADATA_VERSION, self.tx_power_dbm & 0xFF, 0, 0])
        return rpi, crypto.aem(keys[1], rpi, metadata)

    def diagnosis_keys(
        self,
        now: datetime | float,
        days: int = RETENTION_DAYS,
        *,
        report_type: ReportType = ReportType.CONFIRMED_TEST,
        symptom_onset: date | None = None,
        transmission_risk_levels: Sequence[int] = CWA_TRL_BY_DAYS_BEFORE_UPLOAD,
    ) -> list[DiagnosisKey]:
        """The keys to upload at `now`: those of the last `days` days whose validity has ended
        (the current day's key is left for a later upload), oldest first.

        Args:
            now: the upload time.
            days: how many past days to release, 1..14.
            report_type: the report type the verification code vouched for.
            symptom_onset: the UTC date of symptom onset, when known: each key then carries its
                days since onset (key day - onset day).
            transmission_risk_levels: TRL by days before the upload (1, 2, ...); days past the
                end of the table get its last value.
        """
        seconds = _seconds(now, "now")
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= RETENTION_DAYS:
            raise ValueError(f"days: {days} is outside 1..{RETENTION_DAYS}")
        if not transmission_risk_levels or any(not 0 <= t <= 8 for t in transmission_risk_levels):
            raise ValueError("transmission_risk_levels: expected 0..8 values, at least one")
        today = _day_start_interval(seconds)
        now_interval = crypto.en_interval_number(seconds)
        keys = []
        for start in sorted(self._teks):
            age = (today - start) // _PERIOD  # 1 = yesterday
            if start + _PERIOD > now_interval or not 1 <= age <= days:
                continue
            trl = transmission_risk_levels[min(age, len(transmission_risk_levels)) - 1]
            dsos = None
            if symptom_onset is not None:
                key_day = datetime.fromtimestamp(start * crypto.EN_INTERVAL_SECONDS, UTC).date()
                dsos = (key_day - symptom_onset).days
            keys.append(
                DiagnosisKey(
                    key_data=self._teks[start],
                    rolling_start_interval_number=start,
                    rolling_period=_PERIOD,
                    transmission_risk_level=trl,
                    report_type=report_type,
                    days_since_onset_of_symptoms=dsos,
                )
            )
        return keys

    # ----------------------------------------------------------------- what it hears

    def observe(
        self,
        rpi: bytes,
        aem: bytes,
        at: datetime | float,
        attenuation_db: float | None = None,
        seconds: int = 300,
        *,
        rssi_dbm: float | None = None,
    ) -> None:
        """Record one sighting: an RPI and AEM heard at `at`, standing for `seconds` of
        exposure, with either the attenuation (dB) or the raw RSSI (dBm; the attenuation is
        then computed at matching time from the TX power in the decrypted metadata)."""
        if (attenuation_db is None) == (rssi_dbm is None):
            raise ValueError("attenuation_db: give exactly one of attenuation_db and rssi_dbm")
        for name, value, size in (("rpi", rpi, 16), ("aem", aem, 4)):
            if not isinstance(value, bytes | bytearray) or len(value) != size:
                raise ValueError(f"{name}: expected {size} bytes")
        if isinstance(seconds, bool) or not isinstance(seconds, int | np.integer):
            raise ValueError(f"seconds: expected an integer, got {type(seconds).__name__}")
        nan = float("nan")
        self.observe_many(
            rpi=bytes(rpi),
            aem=bytes(aem),
            at=np.array([_seconds(at)], np.int64),
            seconds=np.array([seconds]),
            attenuation_db=np.array([nan if attenuation_db is None else attenuation_db]),
            rssi_dbm=np.array([nan if rssi_dbm is None else rssi_dbm]),
        )

    def observe_many(
        self,
        *,
        rpi: npt.ArrayLike | bytes,
        aem: npt.ArrayLike | bytes,
        at: npt.ArrayLike,
        seconds: npt.ArrayLike,
        attenuation_db: npt.ArrayLike | None = None,
        rssi_dbm: npt.ArrayLike | None = None,
    ) -> None:
        """Record many sightings at once (columns; see `matching.Observations.from_arrays`).
        Nothing is recorded when any row is invalid."""
        obs = Observations.from_arrays(
            rpi=rpi, aem=aem, at=at, seconds=seconds, attenuation_db=attenuation_db,
            rssi_dbm=rssi_dbm,
        )  # fmt: skip
        if len(obs) == 0:
            return
        self._obs.append(obs)
        horizon = int(obs.at.max()) - RETENTION_DAYS * _DAY
        if horizon >= self._forgotten_until + _DAY:  # at most one sweep per day of time
            self.forget(horizon)

    @property
    def observations(self) -> Observations:
        """What the phone has heard and still keeps (a view; do not modify)."""
        return self._obs.view()

    # ----------------------------------------------------------------- downloads

    def download(
        self,
        zips: Iterable[bytes],
        public_keys: Mapping[tuple[str, str], ec.EllipticCurvePublicKey],
    ) -> DownloadReport:
        """Verify and store the keys of export zips.

        A file is refused whole, with the reason, when it is not a well-formed export zip or
        when no signature in its export.sig verifies with one of `public_keys` (indexed by
        ``(verification_key_id, verification_key_version)``); an unsigned file is refused.
        Keys are de-duplicated by (key data, rolling start) across everything downloaded; a
        file's ``revised_keys`` replace earlier copies of the same keys.
        """
        refused: list[tuple[int, str]] = []
        batches = [self._keys]
        files = accepted = added = 0
        for i, data in enumerate(zips):
            files += 1
            try:
                export_bin, export_sig = read_zip(data)
                verify_export(export_bin, export_sig, public_keys)
                export = decode_export(export_bin)
            except KeyFileError as e:
                refused.append((i, str(e)))
                continue
            accepted += 1
            for part in (export.keys, export.revised_keys):
                if part:
                    batches.append(KeyBatch.from_keys(part))
                    added += len(part)
        before = sum(len(b) for b in batches)
        self._keys = KeyBatch.concat(batches).unique()
        duplicates = before - len(self._keys)
        return DownloadReport(files, accepted, added - duplicates, duplicates, tuple(refused))

    def add_verified_keys(self, keys: Iterable[DiagnosisKey] | KeyBatch) -> None:
        """Store keys the caller has verified already (e.g. an in-process key server in a
        simulation), de-duplicated like `download`'s."""
        batch = keys if isinstance(keys, KeyBatch) else KeyBatch.from_keys(keys)
        self._keys = KeyBatch.concat([self._keys, batch]).unique()

    @property
    def downloaded_keys(self) -> KeyBatch:
        """The diagnosis keys downloaded and kept."""
        return self._keys

    # ----------------------------------------------------------------- risk

    def check(
        self,
        exports: Iterable[bytes] = (),
        public_keys: Mapping[tuple[str, str], ec.EllipticCurvePublicKey] | None = None,
        *,
        keys: Iterable[DiagnosisKey] | KeyBatch | None = None,
        now: datetime | float | None = None,
        config: RiskConfiguration | None = None,
    ) -> RiskResult:
        """Download `exports` (when given; `public_keys` then required), add `keys` (already
        verified), match everything kept against the observations and assess the risk.

        Raises:
            ValueError: `exports` given without `public_keys`, or a file was refused (the
                keys of the other files are kept; the message lists the refusals).
        """
        exports = list(exports)
        if exports:
            if public_keys is None:
                raise ValueError(
                    "public_keys: needed to verify the exports; unsigned files are refused"
                )
            report = self.download(exports, public_keys)
            if report.refused:
                reasons = "; ".join(f"file {i}: {why}" for i, why in report.refused)
                raise ValueError(f"exports: {len(report.refused)} refused: {reasons}")
        if keys is not None:
            self.add_verified_keys(keys)
        seconds = _seconds(time.time() if now is None else now, "now")
        self.forget(seconds - RETENTION_DAYS * _DAY)
        config = config or self.config
        self.last_matches = match(self._keys, self.observations)
        windows = exposure_windows(
            self.last_matches, config, calibration_confidence=self.calibration_confidence
        )
        today = datetime.fromtimestamp(seconds, UTC).date()
        return assess(windows, config, today=today)

    # ----------------------------------------------------------------- retention

    def forget(self, before: datetime | float) -> None:
        """Drop observations made before `before`, own TEKs and downloaded keys whose validity
        ended before it."""
        seconds = _seconds(before, "before")
        interval = seconds // crypto.EN_INTERVAL_SECONDS
        if self._obs.n:
            at = self._obs.at[: self._obs.n]
            if (at < seconds).any():
                self._obs.keep(at >= seconds)
        for start in [s for s in self._teks if s + _PERIOD <= interval]:
            del self._teks[start]
            self._derived.pop(start, None)
        if len(self._keys):
            ends = self._keys.rolling_start + self._keys.rolling_period
            if (ends <= interval).any():
                self._keys = self._keys.take(ends > interval)
        self._forgotten_until = max(self._forgotten_until, seconds)
