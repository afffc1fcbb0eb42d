"""GAEN cryptography: the 144 published test vectors (v1.2) and properties of the derivations."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given
from hypothesis import strategies as st

from epicity.exposure.crypto import (
    EN_INTERVAL_SECONDS,
    KEY_LENGTH,
    MAX_INTERVAL,
    TEK_ROLLING_PERIOD,
    aem,
    aemk,
    decrypt_aem,
    en_interval_number,
    new_tek,
    padded_data,
    rpi,
    rpik,
    rpis,
)

keys16 = st.binary(min_size=KEY_LENGTH, max_size=KEY_LENGTH)
intervals = st.integers(min_value=0, max_value=MAX_INTERVAL - TEK_ROLLING_PERIOD)
# Wrong types on purpose, typed Any so the checks below are about run time.
A_STR16: Any = "0" * 16
A_FLOAT: Any = 1.5
A_NONE: Any = None


@pytest.fixture(scope="module")
def vectors(real_data: Path) -> dict[str, Any]:
    """The published Exposure Notification test vectors (google/exposure-notifications-internals)."""
    path = real_data / "gaen_test_vectors.json"
    if not path.is_file():
        pytest.skip(f"GAEN test vectors not found at {path}")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


@pytest.mark.realdata
def test_published_key_derivations(vectors: dict[str, Any]) -> None:
    tek = bytes.fromhex(vectors["tek"])
    assert rpik(tek).hex() == vectors["rpik"]
    assert aemk(tek).hex() == vectors["aemk"]
    start = vectors["rolling_start_interval_number"]
    assert en_interval_number(vectors["key_generation_unix_seconds"]) == start


@pytest.mark.realdata
def test_all_144_published_intervals(vectors: dict[str, Any]) -> None:
    tek = bytes.fromhex(vectors["tek"])
    start = vectors["rolling_start_interval_number"]
    metadata = bytes.fromhex(vectors["ble_metadata"])
    entries = vectors["advertised_data"]
    assert len(entries) == TEK_ROLLING_PERIOD
    all_rpis = rpis(tek, start)
    assert len(all_rpis) == KEY_LENGTH * TEK_ROLLING_PERIOD
    key, meta_key = rpik(tek), aemk(tek)
    for entry in entries:
        i, interval = entry["i"], entry["interval_number"]
        assert interval == start + i
        assert padded_data(interval).hex() == entry["padded_data"], i
        assert rpi(key, interval).hex() == entry["rpi"], i
        assert all_rpis[16 * i : 16 * (i + 1)].hex() == entry["rpi"], i
        assert aem(meta_key, bytes.fromhex(entry["rpi"]), metadata).hex() == entry["aem"], i
        assert decrypt_aem(meta_key, bytes.fromhex(entry["rpi"]), bytes.fromhex(entry["aem"])) == (
            metadata
        )


@pytest.mark.realdata
def test_published_aem_round_trip_example(vectors: dict[str, Any]) -> None:
    example = vectors["roundtrip_example_from_AssociatedEncryptedMetadataGeneratorTest"]
    key = aemk(bytes.fromhex(example["tek"]))
    iv, metadata = bytes.fromhex(example["rpi"]), bytes.fromhex(example["metadata"])
    encrypted = aem(key, iv, metadata)
    assert encrypted != metadata
    assert decrypt_aem(key, iv, encrypted) == metadata


@given(tek=keys16)
def test_hkdf_matches_the_cryptography_package(tek: bytes) -> None:
    # Our HKDF uses precomputed HMAC pads for speed; the library's is the reference.
    for info, derive in ((b"EN-RPIK", rpik), (b"EN-AEMK", aemk)):
        assert derive(tek) == HKDF(hashes.SHA256(), 16, None, info).derive(tek)


@given(tek=keys16, start=intervals, period=st.integers(min_value=1, max_value=144))
def test_rpis_equals_one_rpi_per_interval(tek: bytes, start: int, period: int) -> None:
    key = rpik(tek)
    assert rpis(tek, start, period) == b"".join(rpi(key, start + i) for i in range(period))


def test_rpis_at_the_top_of_the_interval_range() -> None:
    tek = bytes(range(16))
    last = rpis(tek, MAX_INTERVAL - 9, 10)
    assert last[-16:] == rpi(rpik(tek), MAX_INTERVAL)
    with pytest.raises(ValueError, match="period"):
        rpis(tek, MAX_INTERVAL - 9, 11)


@given(aem_key=keys16, iv=keys16, metadata=st.binary(max_size=64))
def test_aem_decrypts_back(aem_key: bytes, iv: bytes, metadata: bytes) -> None:
    encrypted = aem(aem_key, iv, metadata)
    assert len(encrypted) == len(metadata)
    assert decrypt_aem(aem_key, iv, encrypted) == metadata
    # AES-128-CTR with the RPI as the full 16-byte initial counter block.
    reference = Cipher(algorithms.AES(aem_key), modes.CTR(iv)).encryptor().update(metadata)
    assert encrypted == reference


@given(seconds=st.integers(min_value=0, max_value=(MAX_INTERVAL + 1) * EN_INTERVAL_SECONDS - 1))
def test_en_interval_number_is_floor_of_ten_minutes(seconds: int) -> None:
    n = en_interval_number(seconds)
    assert n * EN_INTERVAL_SECONDS <= seconds < (n + 1) * EN_INTERVAL_SECONDS


def test_en_interval_number_boundaries() -> None:
    assert en_interval_number(0) == 0
    assert en_interval_number(599) == 0
    assert en_interval_number(600) == 1
    assert en_interval_number(1_585_785_599) == 2642975
    assert en_interval_number(1_585_785_600) == 2642976
    assert en_interval_number(1_585_785_600.9) == 2642976
    assert en_interval_number((MAX_INTERVAL + 1) * 600 - 1) == MAX_INTERVAL
    bad: Any
    for bad in (-1, (MAX_INTERVAL + 1) * 600, float("nan"), "0", True):
        with pytest.raises(ValueError, match="unix_seconds"):
            en_interval_number(bad)


def test_padded_data_layout() -> None:
    assert padded_data(0x01020304) == b"EN-RPI" + bytes(6) + b"\x04\x03\x02\x01"
    assert padded_data(MAX_INTERVAL)[-4:] == b"\xff\xff\xff\xff"


def test_new_tek_uses_the_given_generator() -> None:
    assert new_tek(random.Random(7).randbytes) == new_tek(random.Random(7).randbytes)
    assert len(new_tek()) == KEY_LENGTH
    assert new_tek() != new_tek()
    with pytest.raises(ValueError, match="rng"):
        new_tek(lambda n: bytes(n - 1))


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda: rpik(bytes(15)), "tek"),
        (lambda: aemk(bytes(17)), "tek"),
        (lambda: aemk(A_STR16), "tek"),
        (lambda: rpi(bytes(16), -1), "interval"),
        (lambda: rpi(bytes(16), MAX_INTERVAL + 1), "interval"),
        (lambda: rpi(bytes(8), 0), "rpik"),
        (lambda: padded_data(A_FLOAT), "interval"),
        (lambda: rpis(bytes(16), 0, 0), "period"),
        (lambda: rpis(bytes(16), 0, 145), "period"),
        (lambda: rpis(bytes(16), -5), "start_interval"),
        (lambda: rpis(bytes(3), 0), "tek"),
        (lambda: aem(bytes(16), bytes(15), b"abcd"), "rpi"),
        (lambda: aem(bytes(15), bytes(16), b"abcd"), "aemk"),
        (lambda: aem(bytes(16), bytes(16), A_STR16), "metadata"),
        (lambda: decrypt_aem(bytes(16), bytes(16), A_NONE), "encrypted_metadata"),
    ],
)
def test_bad_arguments_are_named(call: Any, argument: str) -> None:
    with pytest.raises(ValueError, match=f"^{argument}:"):
        call()
