"""Matching downloaded diagnosis keys against the identifiers a phone heard, vectorised.

A phone stores every Rolling Proximity Identifier (RPI) it hears with its encrypted metadata
(AEM), the time, the attenuation (or the RSSI) and how long the sighting stands for. When it
downloads the diagnosis keys of people who tested positive it must find which of them it met:
for each key, derive the key's 144 RPIs and look them up among the heard ones. With a million
keys that is 144 million lookups, so `match` works on columns, in chunks of keys:

1. **Index the observations once**: the distinct heard RPIs, sorted as (first 8 bytes, last 8
   bytes) pairs of uint64, each pointing at the observation rows that heard it, plus a
   one-byte-per-slot table addressed by the top bits of an RPI's first word (a Bloom filter
   with one hash: an RPI whose slot is empty was certainly not heard).
2. **Skip keys nobody could have heard**: a key is derived only when some observation lies in
   its validity window widened by the tolerance (two binary searches per chunk).
3. **Derive**: per key `crypto.rpis`, i.e. one HKDF (SHA-256 with precomputed HMAC pads) and
   one AES-128-ECB call through the `cryptography` package (one Cipher per key) over the key's
   144 padded blocks (built once per rolling start and period, cached), gathered into a chunk
   buffer.
4. **Probe**: the chunk's RPIs, viewed as uint64 words without copying, go through the
   slot table (a handful of candidates per thousand survive), then `np.searchsorted` among the
   distinct heard RPIs and a check of all 16 bytes.
5. **Time check**: an RPI counts only when heard within `TOLERANCE_SECONDS` (2 hours) of the
   10-minute interval it belongs to: at most 2 h before the interval starts or 2 h after it
   ends, both ends included (the GAEN specification's +/- 2 hour tolerance, which absorbs clock
   skew between phones).
6. **Attenuation**: an observation stored with an attenuation keeps it; one stored with an RSSI
   gets ``TX power - RSSI``, the TX power read from the AEM decrypted with the key's AEMK
   (metadata byte 1, a signed dBm value; byte 0 must carry major version 1, i.e. 0b01xx_xxxx).

`exposure_windows` then groups each key's matched scan instances into GAEN v2 exposure
windows: at most 30 minutes (a new window starts at the first scan 30 minutes or more after the
current window's first scan) and never across a UTC midnight.

Keys come as `DiagnosisKey` objects (`KeyBatch.from_keys`), as a `KeyBatch` of columns, or
as an iterable of either, consumed chunk by chunk: beyond the keys passed in, memory is one
chunk's buffer (2.3 KB x `chunk_size`) whatever the number of keys; a stream of chunks (keys
decoded file by file) keeps even the keys out of memory.

Example::

    obs = Observations.from_arrays(rpi=heard_rpis, aem=heard_aems, at=times,
                                   attenuation_db=attenuations, seconds=durations)
    matches = match(downloaded_keys, obs)
    windows = exposure_windows(matches, RiskConfiguration.cwa_default())
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np
import numpy.typing as npt

from epicity.exposure import crypto
from epicity.exposure.keyfile import DiagnosisKey, ReportType
from epicity.exposure.risk import (
    CalibrationConfidence,
    ExposureWindow,
    Infectiousness,
    RiskConfiguration,
    ScanInstance,
)

__all__ = [
    "DSOS_MISSING",
    "TOLERANCE_SECONDS",
    "WINDOW_SECONDS",
    "KeyBatch",
    "KeyMatch",
    "Observations",
    "exposure_windows",
    "match",
]

TOLERANCE_SECONDS = 2 * 3600
"""How far outside its 10-minute interval an RPI may be heard and still match."""
WINDOW_SECONDS = 30 * 60
"""The longest exposure window (GAEN v2)."""
DSOS_MISSING = np.iinfo(np.int32).min
"""`KeyBatch.days_since_onset` value of a key without days since onset of symptoms."""
_PERIOD = crypto.TEK_ROLLING_PERIOD
_ROW = 16 * _PERIOD  # bytes of one key's derived RPIs in a chunk buffer
_INTERVAL = crypto.EN_INTERVAL_SECONDS

U8 = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]


# --------------------------------------------------------------------------- keys


@dataclass(frozen=True)
class KeyBatch:
    """Diagnosis keys as columns (one row per key): what `match` iterates over.

    ``report_type`` is -1 and ``days_since_onset`` is `DSOS_MISSING` where a key lacks them.
    """

    key_data: U8  # (n, 16)
    rolling_start: I64
    rolling_period: I64
    transmission_risk_level: I64
    report_type: I64
    days_since_onset: I64

    def __post_init__(self) -> None:
        n = len(self.key_data)
        if self.key_data.dtype != np.uint8 or self.key_data.shape != (n, 16):
            raise ValueError(f"key_data: expected (n, 16) uint8, got {self.key_data.shape}")
        for name in (
            "rolling_start",
            "rolling_period",
            "transmission_risk_level",
            "report_type",
            "days_since_onset",
        ):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"{name}: expected {n} values, got {getattr(self, name).shape}")
        if n and not ((self.rolling_period >= 1).all() and (self.rolling_period <= _PERIOD).all()):
            raise ValueError(f"rolling_period: values must be in 1..{_PERIOD}")
        if n and not (
            (self.rolling_start >= 0).all()
            and (self.rolling_start + self.rolling_period - 1 <= crypto.MAX_INTERVAL).all()
        ):
            raise ValueError("rolling_start: values must be interval numbers (0..2**32-1)")

    def __len__(self) -> int:
        return len(self.key_data)

    @classmethod
    def from_keys(cls, keys: Iterable[DiagnosisKey]) -> KeyBatch:
        """Columns from `DiagnosisKey` objects."""
        keys = list(keys)
        data = np.frombuffer(b"".join(k.key_data for k in keys), dtype=np.uint8)
        if len(data) != 16 * len(keys):
            raise ValueError("key_data: every key must be 16 bytes")
        return cls(
            data.reshape(len(keys), 16),
            np.fromiter((k.rolling_start_interval_number for k in keys), np.int64, len(keys)),
            np.fromiter((k.rolling_period for k in keys), np.int64, len(keys)),
            np.fromiter((k.transmission_risk_level for k in keys), np.int64, len(keys)),
            np.fromiter(
                (-1 if k.report_type is None else int(k.report_type) for k in keys),
                np.int64,
                len(keys),
            ),
            np.fromiter(
                (
                    DSOS_MISSING
                    if k.days_since_onset_of_symptoms is None
                    else k.days_since_onset_of_symptoms
                    for k in keys
                ),
                np.int64,
                len(keys),
            ),
        )

    @classmethod
    def empty(cls) -> KeyBatch:
        """No keys."""
        z = np.zeros(0, np.int64)
        return cls(np.zeros((0, 16), np.uint8), z, z, z, z, z)

    @classmethod
    def concat(cls, batches: Sequence[KeyBatch]) -> KeyBatch:
        """The rows of several batches, in order."""
        if not batches:
            return cls.empty()
        return cls(*(np.concatenate([getattr(b, f) for b in batches]) for f in _FIELDS))

    def take(self, rows: npt.ArrayLike | slice) -> KeyBatch:
        """The given rows (an index array, a slice or a boolean mask)."""
        if isinstance(rows, slice):
            return KeyBatch(*(getattr(self, f)[rows] for f in _FIELDS))
        return KeyBatch(*(getattr(self, f)[np.asarray(rows)] for f in _FIELDS))

    def unique(self) -> KeyBatch:
        """One row per (key data, rolling start): the LAST occurrence wins (a revised key later
        in the stream replaces the earlier one)."""
        if len(self) == 0:
            return self
        words = self.key_data.view("<u8").reshape(len(self), 2)
        # lexsort: last key is primary; reversed rows so that `np.unique` keeps the last one.
        rev = np.arange(len(self))[::-1]
        keys = np.stack([words[rev, 0], words[rev, 1], self.rolling_start[rev].astype(np.uint64)])
        order = np.lexsort(keys[::-1])
        sk = keys[:, order]
        first = np.ones(len(order), bool)
        first[1:] = (sk[:, 1:] != sk[:, :-1]).any(axis=0)
        kept = np.sort(rev[order[first]])
        return self.take(kept)

    def key(self, i: int) -> DiagnosisKey:
        """Row `i` as a `DiagnosisKey`."""
        rt = int(self.report_type[i])
        dsos = int(self.days_since_onset[i])
        return DiagnosisKey(
            key_data=self.key_data[i].tobytes(),
            rolling_start_interval_number=int(self.rolling_start[i]),
            rolling_period=int(self.rolling_period[i]),
            transmission_risk_level=int(self.transmission_risk_level[i]),
            report_type=None if rt < 0 else ReportType(rt),
            days_since_onset_of_symptoms=None if dsos == DSOS_MISSING else dsos,
        )


_FIELDS = (
    "key_data",
    "rolling_start",
    "rolling_period",
    "transmission_risk_level",
    "report_type",
    "days_since_onset",
)


# --------------------------------------------------------------------------- observations


@dataclass(frozen=True)
class Observations:
    """What a phone heard, one row per scan instance (columns, not objects).

    ``attenuation_db`` is NaN where the phone stored an RSSI instead (``rssi_dbm``, NaN where it
    stored an attenuation); ``seconds`` is how long the sighting stands for (GAEN's
    ``secondsSinceLastScan``).
    """

    rpi: U8  # (n, 16)
    aem: U8  # (n, 4)
    at: I64  # unix seconds
    attenuation_db: npt.NDArray[np.float32]
    rssi_dbm: npt.NDArray[np.float32]
    seconds: npt.NDArray[np.int32]

    def __len__(self) -> int:
        return len(self.at)

    @classmethod
    def from_arrays(
        cls,
        *,
        rpi: npt.ArrayLike | bytes,
        aem: npt.ArrayLike | bytes,
        at: npt.ArrayLike,
        seconds: npt.ArrayLike,
        attenuation_db: npt.ArrayLike | None = None,
        rssi_dbm: npt.ArrayLike | None = None,
    ) -> Observations:
        """Validated columns. `rpi`/`aem` are (n, 16)/(n, 4) uint8 arrays or concatenated
        bytes; `at` unix seconds; per row exactly one of `attenuation_db` and `rssi_dbm` must be
        a number (pass NaN in the other, or omit a column that is entirely absent)."""
        times = np.asarray(at)
        if times.dtype.kind not in "iuf" or times.ndim != 1:
            raise ValueError("at: expected a 1-d array of unix seconds")
        if times.dtype.kind == "f" and not np.isfinite(times).all():
            raise ValueError("at: every time must be finite")
        times = np.floor(times).astype(np.int64)
        n = len(times)
        if n and (times.min() < 0 or times.max() > crypto.MAX_INTERVAL * _INTERVAL):
            raise ValueError("at: times must be unix seconds within the interval-number range")

        def blocks(value: npt.ArrayLike | bytes, width: int, name: str) -> U8:
            if isinstance(value, bytes | bytearray | memoryview):
                arr = np.frombuffer(bytes(value), np.uint8)
                if len(arr) != width * n:
                    raise ValueError(f"{name}: expected {width * n} bytes, got {len(arr)}")
                return arr.reshape(n, width)
            arr = np.asarray(value)
            if arr.shape != (n, width) or arr.dtype != np.uint8:
                raise ValueError(f"{name}: expected an ({n}, {width}) uint8 array, got {arr.shape}")
            return np.ascontiguousarray(arr)

        def column(value: npt.ArrayLike | None, name: str) -> npt.NDArray[np.float32]:
            if value is None:
                return np.full(n, np.nan, np.float32)
            arr = np.asarray(value, dtype=np.float32)
            if arr.shape != (n,):
                raise ValueError(f"{name}: expected {n} values, got {arr.shape}")
            return arr

        att = column(attenuation_db, "attenuation_db")
        rssi = column(rssi_dbm, "rssi_dbm")
        has_att, has_rssi = np.isfinite(att), np.isfinite(rssi)
        if (has_att == has_rssi).any():
            i = int(np.flatnonzero(has_att == has_rssi)[0])
            raise ValueError(
                f"attenuation_db: row {i} needs exactly one of attenuation_db and rssi_dbm"
            )
        if has_att.any() and ((att[has_att] < 0) | (att[has_att] > 255)).any():
            raise ValueError("attenuation_db: values must be in 0..255 dB")
        if has_rssi.any() and ((rssi[has_rssi] < -127) | (rssi[has_rssi] > 20)).any():
            raise ValueError("rssi_dbm: values must be in -127..20 dBm")
        secs = np.asarray(seconds)
        if secs.shape != (n,) or secs.dtype.kind not in "iu":
            raise ValueError(f"seconds: expected {n} integers")
        if n and (secs.min() < 0 or secs.max() > 3600):
            raise ValueError("seconds: values must be in 0..3600")
        return cls(
            blocks(rpi, 16, "rpi"),
            blocks(aem, 4, "aem"),
            times,
            att,
            rssi,
            secs.astype(np.int32),
        )

    @classmethod
    def empty(cls) -> Observations:
        """No observations."""
        return cls.from_arrays(
            rpi=np.zeros((0, 16), np.uint8), aem=np.zeros((0, 4), np.uint8), at=np.zeros(0),
            seconds=np.zeros(0, np.int32),
        )  # fmt: skip

    def take(self, rows: npt.ArrayLike) -> Observations:
        """The given rows (index array or boolean mask)."""
        r = np.asarray(rows)
        return Observations(
            self.rpi[r], self.aem[r], self.at[r], self.attenuation_db[r], self.rssi_dbm[r],
            self.seconds[r],
        )  # fmt: skip

    @classmethod
    def concat(cls, parts: Sequence[Observations]) -> Observations:
        """The rows of several tables, in order."""
        if not parts:
            return cls.empty()
        return cls(
            *(
                np.concatenate([getattr(p, f) for p in parts])
                for f in ("rpi", "aem", "at", "attenuation_db", "rssi_dbm", "seconds")
            )
        )


class _Index:
    """The distinct heard RPIs, sorted, with their rows, a slot table and the sorted times."""

    def __init__(self, obs: Observations, tolerance: int) -> None:
        self.obs = obs
        self.tolerance = tolerance
        words = obs.rpi.view("<u8").reshape(len(obs), 2)
        order = np.lexsort((words[:, 1], words[:, 0]))  # by first word, then second
        sw = words[order]
        first = np.ones(len(order), bool)
        first[1:] = (sw[1:] != sw[:-1]).any(axis=1)
        self.hi = np.ascontiguousarray(sw[first, 0])
        self.lo = np.ascontiguousarray(sw[first, 1])
        self.rows = order  # rows of distinct RPI u: rows[offsets[u]:offsets[u + 1]]
        self.offsets = np.append(np.flatnonzero(first), len(order))
        # Slot table on the top bits of the RPI's first 64-bit word: ~64 slots per distinct
        # RPI keeps false candidates near 1.5% while the table stays in cache.
        self.bits = int(min(24, max(12, np.ceil(np.log2(max(len(self.hi), 1) * 64)))))
        self.table = np.zeros(1 << self.bits, np.bool_)
        self.shift = np.uint64(64 - self.bits)
        self.table[(words[:, 0] >> self.shift).view(np.intp)] = True
        self.times = np.sort(obs.at)

    def heard_within(self, start: I64, period: I64) -> npt.NDArray[np.bool_]:
        """Keys with some observation inside their validity window +/- the tolerance."""
        lo = start * _INTERVAL - self.tolerance
        hi = (start + period) * _INTERVAL + self.tolerance
        return np.searchsorted(self.times, hi, "right") > np.searchsorted(self.times, lo, "left")


# --------------------------------------------------------------------------- derivation


def _derive(key_data: bytes, starts: Sequence[int], periods: Sequence[int], out: U8) -> None:
    """RPIs of keys ``key_data[16j:16j+16]`` into ``out[j]`` (rows of 2,304 bytes; a short
    key's row is zero-padded) through `crypto.rpis`: one HKDF and one AES call per key."""
    parts = []
    for j, (start, period) in enumerate(zip(starts, periods, strict=True)):
        parts.append(crypto.rpis(key_data[16 * j : 16 * j + 16], start, period))
        if period < _PERIOD:
            parts.append(bytes(_ROW - 16 * period))
    out[:] = np.frombuffer(b"".join(parts), np.uint8).reshape(out.shape)


# --------------------------------------------------------------------------- matching


@dataclass(frozen=True)
class KeyMatch:
    """One diagnosis key that was heard: the observation rows that heard its RPIs (time order)
    with their times, attenuations (dB; resolved from the AEM where an RSSI was stored) and
    durations. Rows whose AEM could not be read (wrong version) are left out."""

    key: DiagnosisKey
    rows: npt.NDArray[np.intp]
    at: I64
    attenuation_db: npt.NDArray[np.float32]
    seconds: npt.NDArray[np.int32]


def _chunks(keys: KeyBatch | Iterable[DiagnosisKey | KeyBatch], size: int) -> Iterator[KeyBatch]:
    if isinstance(keys, KeyBatch):
        for s in range(0, len(keys), size):
            yield keys.take(slice(s, s + size))
        return
    it = iter(keys)
    while True:
        head = list(itertools.islice(it, size))
        if not head:
            return
        pending: list[DiagnosisKey] = []
        for item in head:
            if isinstance(item, KeyBatch):
                if pending:
                    yield KeyBatch.from_keys(pending)
                    pending = []
                yield from _chunks(item, size)
            elif isinstance(item, DiagnosisKey):
                pending.append(item)
            else:
                raise ValueError(
                    f"keys: expected DiagnosisKey or KeyBatch items, got {type(item).__name__}"
                )
        if pending:
            yield KeyBatch.from_keys(pending)


def match(
    keys: KeyBatch | Iterable[DiagnosisKey | KeyBatch],
    observations: Observations,
    *,
    tolerance_seconds: int = TOLERANCE_SECONDS,
    chunk_size: int = 8192,
) -> list[KeyMatch]:
    """The diagnosis keys among `keys` whose RPIs are among `observations` (see the module
    docstring for the algorithm).

    Args:
        keys: a `KeyBatch`, or an iterable of `DiagnosisKey` objects and/or `KeyBatch` chunks
            (consumed lazily, `chunk_size` keys at a time).
        observations: what the phone heard.
        tolerance_seconds: how far outside its interval an RPI may be heard (2 h, the spec's).
        chunk_size: keys derived per step (the buffer is 2,304 bytes per key).

    Returns:
        One `KeyMatch` per key heard, in the order the keys came.
    """
    if isinstance(tolerance_seconds, bool) or not 0 <= tolerance_seconds <= 86_400:
        raise ValueError(f"tolerance_seconds: {tolerance_seconds} is outside 0..86400")
    if isinstance(chunk_size, bool) or chunk_size < 1:
        raise ValueError(f"chunk_size: {chunk_size} must be a positive integer")
    if len(observations) == 0:
        for _ in _chunks(keys, chunk_size):  # still consume (and validate) the stream
            pass
        return []
    index = _Index(observations, tolerance_seconds)
    buf = np.empty((chunk_size, _ROW), np.uint8)
    out: list[KeyMatch] = []
    for chunk in _chunks(keys, chunk_size):
        heard = np.flatnonzero(index.heard_within(chunk.rolling_start, chunk.rolling_period))
        if len(heard) == 0:
            continue
        sub = chunk.take(heard)
        m = len(sub)
        rows = buf[:m]
        starts, periods = sub.rolling_start.tolist(), sub.rolling_period.tolist()
        _derive(sub.key_data.tobytes(), starts, periods, rows)
        out.extend(_probe(sub, rows, index))
    return out


def _probe(keys: KeyBatch, rows: U8, index: _Index) -> list[KeyMatch]:
    """Matches of one chunk of derived RPIs (`rows[j]` holds key j's 144 RPIs)."""
    m = len(keys)
    words = rows.view("<u8").reshape(m, _PERIOD, 2)
    # int64 indices (a free view of the shifted words) take numpy's fast gather path.
    cand = np.flatnonzero(index.table[(words[:, :, 0] >> index.shift).view(np.intp)])
    if len(cand) == 0:
        return []
    key_row, slot = np.divmod(cand, _PERIOD)
    valid = slot < keys.rolling_period[key_row]  # slots past a short key's period are padding
    key_row, slot = key_row[valid], slot[valid]
    hi, lo = words[key_row, slot, 0], words[key_row, slot, 1]
    pos = np.searchsorted(index.hi, hi)
    found = np.full(len(hi), -1, np.int64)
    while True:  # walk equal first words (distinct RPIs sharing 8 bytes: practically never)
        inb = pos < len(index.hi)
        same = np.zeros(len(hi), bool)
        same[inb] = index.hi[pos[inb]] == hi[inb]
        same &= found < 0
        if not same.any():
            break
        hit = same.copy()
        hit[same] = index.lo[pos[same]] == lo[same]
        found[hit] = pos[hit]
        pos = np.where(same & ~hit, pos + 1, len(index.hi))
    ok = found >= 0
    if not ok.any():
        return []
    key_row, slot, uid = key_row[ok], slot[ok], found[ok]
    # Every observation row of each matched RPI, then the time check.
    counts = index.offsets[uid + 1] - index.offsets[uid]
    rep = np.repeat(np.arange(len(uid)), counts)
    within = np.arange(len(rep)) - np.repeat(np.cumsum(counts) - counts, counts)
    obs_rows = index.rows[index.offsets[uid][rep] + within]
    interval = keys.rolling_start[key_row[rep]] + slot[rep]
    t = index.obs.at[obs_rows]
    tol = index.tolerance
    in_time = (t >= interval * _INTERVAL - tol) & (t <= (interval + 1) * _INTERVAL + tol)
    obs_rows, owner = obs_rows[in_time], key_row[rep][in_time]
    result = []
    for k in np.unique(owner):
        r = np.sort(obs_rows[owner == k])
        r = r[np.argsort(index.obs.at[r], kind="stable")]
        result.append(_key_match(keys.key(int(k)), r, index.obs))
    return result


def _key_match(key: DiagnosisKey, rows: npt.NDArray[np.intp], obs: Observations) -> KeyMatch:
    att = obs.attenuation_db[rows].copy()
    need = np.flatnonzero(~np.isfinite(att))
    if len(need):
        aemk = crypto.aemk(key.key_data)
        for i in need:
            r = rows[i]
            meta = crypto.decrypt_aem(aemk, obs.rpi[r].tobytes(), obs.aem[r].tobytes())
            if meta[0] >> 6 != 0b01:  # unknown major version: TX power unreadable
                continue
            tx_power = int.from_bytes(meta[1:2], "little", signed=True)
            att[i] = max(0.0, tx_power - float(obs.rssi_dbm[r]))
    keep = np.isfinite(att)
    return KeyMatch(key, rows[keep], obs.at[rows[keep]], att[keep], obs.seconds[rows[keep]])


# --------------------------------------------------------------------------- windows


def _utc_date(seconds: int) -> date:
    return datetime.fromtimestamp(seconds, UTC).date()


def exposure_windows(
    matches: Iterable[KeyMatch],
    config: RiskConfiguration | None = None,
    *,
    calibration_confidence: int = CalibrationConfidence.HIGH,
) -> list[ExposureWindow]:
    """GAEN v2 exposure windows of the matched keys.

    Each key's scan instances are cut into windows of at most `WINDOW_SECONDS`, never across a
    UTC midnight. The key's metadata becomes the window's: report type (the configuration's
    ``report_type_when_missing`` when absent), infectiousness from its days since onset of
    symptoms (`RiskConfiguration.infectiousness`) and its TRL when 1..8. Keys the framework
    ignores give no window: revoked keys and keys whose infectiousness is NONE.
    """
    config = config or RiskConfiguration.cwa_default()
    windows = []
    for km in matches:
        key = km.key
        report_type = key.report_type or config.report_type_when_missing
        if report_type == ReportType.REVOKED:
            continue
        infectiousness = config.infectiousness(key.days_since_onset_of_symptoms)
        if infectiousness == Infectiousness.NONE:
            continue
        trl = key.transmission_risk_level if 1 <= key.transmission_risk_level <= 8 else None
        meta = (int(report_type), int(infectiousness), int(calibration_confidence), trl)
        att = np.clip(np.rint(km.attenuation_db), 0, 255).astype(int).tolist()
        current: list[ScanInstance] = []
        start = -1
        day: date | None = None
        for t, a, s in zip(km.at.tolist(), att, km.seconds.tolist(), strict=True):
            d = _utc_date(t)
            if current and (t - start >= WINDOW_SECONDS or d != day):
                windows.append(_window(day, meta, current))
                current = []
            if not current:
                start, day = t, d
            current.append(ScanInstance(a, a, s))
        if current:
            windows.append(_window(day, meta, current))
    return windows


def _window(
    day: date | None, meta: tuple[int, int, int, int | None], scans: list[ScanInstance]
) -> ExposureWindow:
    assert day is not None
    report_type, infectiousness, calibration, trl = meta
    return ExposureWindow(day, report_type, infectiousness, calibration, tuple(scans), trl)
