"""GAEN cryptography (Exposure Notification Cryptography Specification v1.2), bytes in and out.

A phone draws a fresh Temporary Exposure Key (TEK, 16 random bytes) for each rolling period of
144 ten-minute intervals, and derives from it::

    RPIK       = HKDF-SHA256(IKM=TEK, salt=empty, info="EN-RPIK", L=16)
    AEMK       = HKDF-SHA256(IKM=TEK, salt=empty, info="EN-AEMK", L=16)
    PaddedData = "EN-RPI" || 0x00 * 6 || ENIntervalNumber (uint32, little-endian)
    RPI        = AES-128-ECB(RPIK, PaddedData)            # broadcast, changes every 10 minutes
    AEM        = AES-128-CTR(AEMK, IV=RPI, BLE metadata)  # 4 bytes: version, tx power

where ``ENIntervalNumber = floor(unix_seconds / 600)``. When a person tests positive their TEKs
are published; every other phone re-derives the RPIs of each published key with `rpis` and
looks them up among the RPIs it has heard. That lookup runs over millions of keys, so `rpis`
derives all of a key's RPIs with one AES-ECB call over the concatenated padded blocks, the
padded blocks of a (start, period) pair are built once and cached, and HKDF is computed with
precomputed HMAC pads (RFC 5869 with SHA-256; the tests check it against `cryptography`'s HKDF
and the published test vectors)::

    tek = new_tek()
    start = en_interval_number(1_585_785_600)  # 2642976, the day's first interval
    ids = rpis(tek, start)                       # 144 * 16 bytes
    assert ids[:16] == rpi(rpik(tek), start)
    metadata = decrypt_aem(aemk(tek), ids[:16], aem(aemk(tek), ids[:16], b"\\x40\\x08\\x00\\x00"))

Every function validates its arguments and raises `ValueError` naming the argument.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable
from functools import lru_cache

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

__all__ = [
    "AEMK_INFO",
    "EN_INTERVAL_SECONDS",
    "KEY_LENGTH",
    "MAX_INTERVAL",
    "RPIK_INFO",
    "RPI_PREFIX",
    "TEK_ROLLING_PERIOD",
    "aem",
    "aemk",
    "decrypt_aem",
    "en_interval_number",
    "new_tek",
    "padded_data",
    "rpi",
    "rpik",
    "rpis",
]

EN_INTERVAL_SECONDS = 600
"""Length of one ENIntervalNumber: ten minutes (spec v1.2, "ENIntervalNumber")."""
TEK_ROLLING_PERIOD = 144
"""Intervals a TEK is used for: 144 x 10 minutes = 24 hours (spec v1.2, "TEKRollingPeriod")."""
KEY_LENGTH = 16
"""Bytes in a TEK, RPIK, AEMK and RPI (AES-128)."""
MAX_INTERVAL = 0xFFFF_FFFF
"""The largest interval number: it is carried as an unsigned 32-bit integer in PaddedData."""
RPIK_INFO = b"EN-RPIK"
AEMK_INFO = b"EN-AEMK"
RPI_PREFIX = b"EN-RPI"

_PAD_CACHE_SIZE = 4096  # (start, period) pairs; at most 2304 bytes each, i.e. <= 10 MB
_ECB = modes.ECB()  # stateless: one instance serves every Cipher

# HMAC-SHA256 (RFC 2104) with the pads precomputed: HKDF-Extract's key is the empty salt, i.e.
# 32 zero bytes, so its inner and outer hashes start from a fixed state we copy. This is ~2.5x
# faster per key than constructing an HKDF object, which matters when deriving 1M keys.
_BLOCK = 64
_IPAD = bytes.maketrans(bytes(range(256)), bytes(b ^ 0x36 for b in range(256)))
_OPAD = bytes.maketrans(bytes(range(256)), bytes(b ^ 0x5C for b in range(256)))
_EXTRACT_INNER = hashlib.sha256(bytes(_BLOCK).translate(_IPAD))
_EXTRACT_OUTER = hashlib.sha256(bytes(_BLOCK).translate(_OPAD))
_PRK_FILL_IPAD = bytes(_BLOCK - 32).translate(_IPAD)  # the 32-byte PRK, zero-filled to a block
_PRK_FILL_OPAD = bytes(_BLOCK - 32).translate(_OPAD)
_RPIK_T1 = RPIK_INFO + b"\x01"  # HKDF-Expand's first block: T(1) = HMAC(PRK, info || 0x01)
_AEMK_T1 = AEMK_INFO + b"\x01"

# PaddedData for intervals 0..143 as little-endian uint32 words: adding `start` to the last
# word of each row gives the blocks of any (start, period) without a Python loop.
_PAD_TEMPLATE = np.zeros((TEK_ROLLING_PERIOD, 4), dtype="<u4")
_PAD_TEMPLATE[:, :3] = np.frombuffer(RPI_PREFIX + bytes(6), dtype="<u4")
_PAD_TEMPLATE[:, 3] = np.arange(TEK_ROLLING_PERIOD, dtype="<u4")


def _check_key(value: object, name: str) -> bytes:
    """`value` as bytes when it is a 16-byte bytes-like object; ValueError naming it otherwise."""
    if not isinstance(value, bytes | bytearray | memoryview):
        raise ValueError(f"{name}: expected {KEY_LENGTH} bytes, got {type(value).__name__}")
    if len(value) != KEY_LENGTH:
        raise ValueError(f"{name}: expected {KEY_LENGTH} bytes, got {len(value)}")
    return bytes(value)


def _check_interval(value: object, name: str) -> int:
    """`value` when it is an int in 0..2**32-1; ValueError naming it otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name}: expected an interval number (int), got {type(value).__name__}")
    if not 0 <= value <= MAX_INTERVAL:
        raise ValueError(f"{name}: {value} is outside 0..{MAX_INTERVAL}")
    return int(value)


def _hkdf16(ikm: bytes, t1_input: bytes) -> bytes:
    """HKDF-SHA256 with an empty salt and L=16: the first 16 bytes of HKDF-Expand's T(1)."""
    inner = _EXTRACT_INNER.copy()
    inner.update(ikm)
    outer = _EXTRACT_OUTER.copy()
    outer.update(inner.digest())
    prk = outer.digest()
    t1_inner = hashlib.sha256(prk.translate(_IPAD) + _PRK_FILL_IPAD + t1_input).digest()
    return hashlib.sha256(prk.translate(_OPAD) + _PRK_FILL_OPAD + t1_inner).digest()[:KEY_LENGTH]


def en_interval_number(unix_seconds: int | float) -> int:
    """The ENIntervalNumber of a moment: ``floor(unix_seconds / 600)``.

    Args:
        unix_seconds: seconds since 1970-01-01T00:00:00Z (a float is floored).

    Example::

        en_interval_number(1_585_785_600)  # -> 2642976 (2020-04-02T00:00:00Z)
    """
    if isinstance(unix_seconds, bool) or not isinstance(unix_seconds, int | float | np.number):
        raise ValueError(f"unix_seconds: expected a number, got {type(unix_seconds).__name__}")
    if isinstance(unix_seconds, float | np.floating):
        if not math.isfinite(unix_seconds):
            raise ValueError(f"unix_seconds: {unix_seconds} is not finite")
        unix_seconds = math.floor(unix_seconds)
    interval = int(unix_seconds) // EN_INTERVAL_SECONDS
    if not 0 <= interval <= MAX_INTERVAL:
        raise ValueError(
            f"unix_seconds: {unix_seconds} gives an interval outside 0..{MAX_INTERVAL}"
        )
    return interval


def new_tek(rng: Callable[[int], bytes] = os.urandom) -> bytes:
    """A new Temporary Exposure Key: 16 bytes from `rng` (a CSPRNG; ``os.urandom`` by default).

    Tests and simulations pass a seeded generator such as ``random.Random(7).randbytes``.
    """
    return _check_key(rng(KEY_LENGTH), "rng")


def rpik(tek: bytes) -> bytes:
    """The Rolling Proximity Identifier Key of a TEK: HKDF(TEK, salt=empty, "EN-RPIK", 16)."""
    return _hkdf16(_check_key(tek, "tek"), _RPIK_T1)


def aemk(tek: bytes) -> bytes:
    """The Associated Encrypted Metadata Key of a TEK: HKDF(TEK, salt=empty, "EN-AEMK", 16)."""
    return _hkdf16(_check_key(tek, "tek"), _AEMK_T1)


def padded_data(interval: int) -> bytes:
    """The 16-byte AES input for an interval: "EN-RPI", six zero bytes, uint32 LE interval."""
    return RPI_PREFIX + bytes(6) + _check_interval(interval, "interval").to_bytes(4, "little")


def rpi(rpik: bytes, interval: int) -> bytes:
    """The Rolling Proximity Identifier broadcast during `interval`: AES-128-ECB(RPIK, padded)."""
    key = _check_key(rpik, "rpik")
    block = padded_data(interval)
    return Cipher(algorithms.AES(key), _ECB).encryptor().update(block)


@lru_cache(maxsize=_PAD_CACHE_SIZE)
def _padded_blocks(start: int, period: int) -> bytes:
    """PaddedData for intervals start..start+period-1, concatenated (callers validated both)."""
    blocks = _PAD_TEMPLATE[:period].copy()
    blocks[:, 3] += np.uint32(start)
    return blocks.tobytes()


def rpis(tek: bytes, start_interval: int, period: int = TEK_ROLLING_PERIOD) -> bytes:
    """All RPIs of a TEK, concatenated: 16 bytes for each interval start..start+period-1.

    This is the matching hot path: one HKDF and one AES-ECB call over all padded blocks. RPI
    ``i`` is ``result[16 * i : 16 * (i + 1)]`` and equals ``rpi(rpik(tek), start_interval + i)``.

    Args:
        tek: the 16-byte Temporary Exposure Key.
        start_interval: the key's rolling start interval number.
        period: the key's rolling period, 1..144 intervals.
    """
    # The common case (exact types, in range) is checked first: a microsecond per key counts.
    if not (
        type(tek) is bytes
        and len(tek) == KEY_LENGTH
        and type(start_interval) is int
        and type(period) is int
        and start_interval >= 0
        and 1 <= period <= TEK_ROLLING_PERIOD
        and start_interval + period - 1 <= MAX_INTERVAL
    ):
        tek, start_interval, period = _check_rpis_arguments(tek, start_interval, period)
    blocks = _padded_blocks(start_interval, period)
    return Cipher(algorithms.AES(_hkdf16(tek, _RPIK_T1)), _ECB).encryptor().update(blocks)


def _check_rpis_arguments(
    tek: object, start_interval: object, period: object
) -> tuple[bytes, int, int]:
    """`rpis`' arguments as (bytes, int, int), or ValueError naming the first bad one."""
    key = _check_key(tek, "tek")
    start = _check_interval(start_interval, "start_interval")
    if isinstance(period, bool) or not isinstance(period, int | np.integer):
        raise ValueError(f"period: expected an int, got {type(period).__name__}")
    if not 1 <= period <= TEK_ROLLING_PERIOD:
        raise ValueError(f"period: {period} is outside 1..{TEK_ROLLING_PERIOD}")
    if start + period - 1 > MAX_INTERVAL:
        raise ValueError(f"period: start_interval + period - 1 exceeds {MAX_INTERVAL}")
    return key, start, int(period)


def aem(aemk: bytes, rpi: bytes, metadata: bytes) -> bytes:
    """Encrypt BLE metadata: AES-128-CTR with key AEMK and the RPI as the initial counter block.

    GAEN v1.2 metadata is 4 bytes (version 0x40, transmit power, two reserved bytes); any length
    is accepted since CTR keeps the length.
    """
    key = _check_key(aemk, "aemk")
    iv = _check_key(rpi, "rpi")
    if not isinstance(metadata, bytes | bytearray | memoryview):
        raise ValueError(f"metadata: expected bytes, got {type(metadata).__name__}")
    return Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor().update(bytes(metadata))


def decrypt_aem(aemk: bytes, rpi: bytes, encrypted_metadata: bytes) -> bytes:
    """Decrypt an AEM back to the BLE metadata (CTR is symmetric: the same operation as `aem`)."""
    if not isinstance(encrypted_metadata, bytes | bytearray | memoryview):
        raise ValueError(
            f"encrypted_metadata: expected bytes, got {type(encrypted_metadata).__name__}"
        )
    return aem(aemk, rpi, encrypted_metadata)
