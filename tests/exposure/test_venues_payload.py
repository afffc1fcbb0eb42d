"""Venue payloads, location ids, protected reports and packages (pure): CWA's published
examples, round trips, and every malformed input refused with the field named."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from epicity.exposure import venues_pb2 as pb
from epicity.exposure.venue_payload import (
    CHECK_IN_MINUTES_MAX,
    CHECK_IN_MINUTES_MIN,
    MAX_PERIOD,
    PACKAGE_HEADER,
    TEMPORARY_TYPES,
    VENUE_TYPES,
    PayloadInvalid,
    ProtectedReport,
    VenueData,
    WarningPackage,
    WarningWindow,
    checkin_url,
    decode_package,
    decode_payload,
    decoy_report,
    decrypt_report,
    encode_package,
    encode_payload,
    encrypt_report,
    location_id,
    location_id_hash,
    payload_from_url,
    window_intervals,
)

EXPOSURE = Path(__file__).resolve().parents[2] / "src" / "epicity" / "exposure"

# Test data published by the Corona-Warn-App (cwa-app-android, Apache 2.0):
# TraceLocationIdTest "mock server test data - 2" and "- 3" (payload -> location id), and
# CheckInCryptographyTest (key derivation, "encrypt sample 1/2", "decrypt sample 1/2").
CWA_PAYLOAD_2 = (
    "CAESKQgBEhRXYXN0ZSBNYW5hZ2VtZW50IEluYxoPMzc5IE96Zm9jIE1hbm9yGnYIARJgOMTa6eYSiaDv8lW13xdY"
    "EvGHOZ1EYTiFSxt51HEoPCD7CNnvCUiIYPhax1MpkN0UfNClCm9ZWYy0JH01CDVD9eq-voxQ1EcFJQkEIujVwoCN"
    "K0MNGuDK1ayjGxeDc4UDGhCUpoAjtgZJPU4suuQZ6dVUIgcIARAIGJ4E"
)
CWA_ID_2 = "2c4e7a3be61004ed952cc189e85039e01be65f3d82439c8c7fe0f23b12ffa523"
CWA_PAYLOAD_3 = (
    "CAESMggBEg9NZXRhbHMgVVNBIEluYy4aETk2NiBEaXZ1ZCBIZWlnaHRzKLD6qYMGMNDZtoMGGnYIARJgOMTa6eYS"
    "iaDv8lW13xdYEvGHOZ1EYTiFSxt51HEoPCD7CNnvCUiIYPhax1MpkN0UfNClCm9ZWYy0JH01CDVD9eq-voxQ1EcF"
    "JQkEIujVwoCNK0MNGuDK1ayjGxeDc4UDGhD_mjsnT4b74d8M1P4cUflpIgcIARAKGOkJ"
)
CWA_ID_3 = "7051e04206ef9caf3a3165e82d0fec4cfe7ade770a2e01d9c0e456add760934d"
CWA_CN_KEY = base64.b64decode(
    "OMTa6eYSiaDv8lW13xdYEvGHOZ1EYTiFSxt51HEoPCD7CNnvCUiIYPhax1MpkN0UfNClCm9ZWYy0JH01CDVD9eq+"
    "voxQ1EcFJQkEIujVwoCNK0MNGuDK1ayjGxeDc4UD"
)
CWA_LOCATION_1 = base64.b64decode("m686QDEvOYSfRtrRBA8vA58c/6EjjEHp22dTFc+tObY=")
CWA_LOCATION_2 = base64.b64decode("A61rMz1EUJnH3+D/dF7FzBMw0UnvdS82w67U7+oT9yU=")


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64(text: str) -> bytes:
    return base64.b64decode(text)


def _cafe(**changes: object) -> VenueData:
    fields: dict[str, object] = {
        "description": "Cafe Haneul",
        "address": "12 Wausan-ro, Mapo-gu",
        "venue_type": "permanent_food_service",
        "start": None,
        "end": None,
        "default_check_in_minutes": 90,
        "seed": bytes(range(16)),
    }
    fields.update(changes)
    return VenueData(**fields)  # type: ignore[arg-type]


def test_cwa_payloads_decode_and_give_cwa_location_ids() -> None:
    raw = _b64url(CWA_PAYLOAD_2)
    data = decode_payload(raw)
    assert (data.description, data.address) == ("Waste Management Inc", "379 Ozfoc Manor")
    assert data.venue_type == "permanent_public_building"
    assert data.default_check_in_minutes == 542
    assert (data.start, data.end) == (None, None)
    assert location_id(raw).hex() == CWA_ID_2
    # our encoder writes the same bytes from the same fields: the ids agree by construction
    assert encode_payload(data) == raw
    assert encode_payload(data).startswith(b"\x08\x01\x12")
    event = decode_payload(_b64url(CWA_PAYLOAD_3))
    assert event.venue_type == "temporary_club_activity"
    assert (event.start, event.end) == (1617591600, 1617800400)
    assert location_id(_b64url(CWA_PAYLOAD_3)).hex() == CWA_ID_3
    assert encode_payload(event) == _b64url(CWA_PAYLOAD_3)
    assert event.public_key == CWA_CN_KEY


def test_cwa_location_id_hash() -> None:
    # TraceLocationIdTest "test trace location hash generation"
    venue = bytes.fromhex("afa27b44d43b02a9fea41d13cedc2e4016cfcf87c5dbf990e593669aa8ce286d")
    expected = "0f37dac11d1b8118ea0b44303400faa5e3b876da9d758058b5ff7dc2e5da8230"
    assert location_id_hash(venue).hex() == expected


@pytest.mark.parametrize(
    ("venue", "iv", "start", "end", "trl", "mac", "ciphertext"),
    [
        (
            CWA_LOCATION_1,
            "+VNLZEr+j6qotkv8v1ASlQ==",
            2710445,
            2710473,
            7,
            "BJX/KwAXo3vQBMlycMxNxiwlrNyzWdD2LeF9KCrzt/I=",
            "t5TWYYc/kn4vbWRd677L3g==",
        ),
        (
            CWA_LOCATION_2,
            "SM6n2ApMmwWCEVwex9yrmA==",
            2710117,
            2710127,
            8,
            "vfjGr8pJ2F+IhGfHl4Audcrjhhcgr9qJ9hl176S/Il8=",
            "axfEwnDGz7r4c/n65DVDaw==",
        ),
    ],
)
def test_cwa_protected_report_samples(
    venue: bytes, iv: str, start: int, end: int, trl: int, mac: str, ciphertext: str
) -> None:
    window = WarningWindow(start, end - start, trl)
    report = encrypt_report(venue, window, iv=_b64(iv))
    assert report.encrypted_check_in_record == _b64(ciphertext)
    assert report.mac == _b64(mac)
    assert report.location_id_hash == hashlib.sha256(venue).digest()
    assert decrypt_report(report, venue) == window


def test_cwa_key_derivations() -> None:
    # CheckInCryptographyTest: "right encryption key" / "right MAC key" are SHA-256 of the
    # labels and the id; checked through a report whose MAC only the right key reproduces.
    assert (
        base64.b64encode(hashlib.sha256(b"CWA-MAC-KEY" + CWA_LOCATION_1).digest()).decode()
        == "T4jqEMtrtkhQmn+mDXoFBTji4LDiVIZNtP83axUz+bA="
    )
    assert (
        base64.b64encode(hashlib.sha256(b"CWA-ENCRYPTION-KEY" + CWA_LOCATION_1).digest()).decode()
        == "prxOK3dvFTjoxfROd2KyfG0aTFeMYZfPos69m84vv6E="
    )


def test_a_report_for_another_venue_or_tampered_is_refused() -> None:
    window = WarningWindow(2_700_000, 6, 8)
    report = encrypt_report(CWA_LOCATION_1, window)
    with pytest.raises(PayloadInvalid, match="mac"):
        decrypt_report(report, CWA_LOCATION_2)
    flipped = (
        bytes([report.encrypted_check_in_record[0] ^ 1]) + report.encrypted_check_in_record[1:]
    )
    with pytest.raises(PayloadInvalid, match="mac"):
        decrypt_report(
            ProtectedReport(report.location_id_hash, report.iv, flipped, report.mac),
            CWA_LOCATION_1,
        )
    # two reports of the same window differ (random IVs): nothing to correlate
    again = encrypt_report(CWA_LOCATION_1, window)
    assert again.encrypted_check_in_record != report.encrypted_check_in_record


def test_decoys_look_like_reports() -> None:
    real = encrypt_report(CWA_LOCATION_1, WarningWindow(2_900_000, MAX_PERIOD, 8))
    decoy = decoy_report()
    for name in ("location_id_hash", "iv", "encrypted_check_in_record", "mac"):
        assert len(getattr(decoy, name)) == len(getattr(real, name)), name
    with pytest.raises(PayloadInvalid):
        decrypt_report(decoy, CWA_LOCATION_1)


venue_data = st.builds(
    VenueData,
    description=st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=100)
    .map(str.strip)
    .filter(bool),
    address=st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=100)
    .map(str.strip)
    .filter(bool),
    venue_type=st.sampled_from(sorted(set(VENUE_TYPES) - TEMPORARY_TYPES)),
    start=st.none(),
    end=st.none(),
    default_check_in_minutes=st.integers(CHECK_IN_MINUTES_MIN, CHECK_IN_MINUTES_MAX),
    seed=st.binary(min_size=16, max_size=16),
)


@settings(max_examples=50, deadline=None)
@given(data=venue_data, host=st.sampled_from(["epicity.example", "checkin.seoul.go.kr"]))
def test_payload_and_url_round_trip(data: VenueData, host: str) -> None:
    payload = encode_payload(data)
    url = checkin_url(payload, host)
    assert url.startswith(f"https://{host}/c/v1#")
    assert "=" not in url.split("#")[1]
    assert payload_from_url(url, [host]) == payload
    assert decode_payload(payload) == data


def test_an_event_round_trips_and_needs_its_times() -> None:
    event = _cafe(venue_type="temporary_worship_service", start=1_700_000_000, end=1_700_007_200)
    assert decode_payload(encode_payload(event)) == event
    with pytest.raises(PayloadInvalid, match="start: an event"):
        encode_payload(_cafe(venue_type="temporary_private_event"))
    with pytest.raises(PayloadInvalid, match="start: a permanent venue"):
        encode_payload(_cafe(start=1_700_000_000, end=1_700_007_200))
    with pytest.raises(PayloadInvalid, match="end: must be after"):
        encode_payload(_cafe(venue_type="temporary_other", start=1_700_000_000, end=1_700_000_000))


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"description": ""}, "description"),
        ({"description": " x"}, "description"),
        ({"description": "x" * 101}, "description"),
        ({"address": "line\nbreak"}, "address"),
        ({"venue_type": "bar"}, "type"),
        ({"default_check_in_minutes": 5}, "default_check_in_minutes"),
        ({"seed": b"1234"}, "seed"),
    ],
)
def test_bad_venue_fields_are_named(changes: dict[str, object], field: str) -> None:
    with pytest.raises(PayloadInvalid) as caught:
        encode_payload(_cafe(**changes))
    assert caught.value.field == field


def _message(**changes: object) -> bytes:
    message = pb.QRCodePayload.FromString(encode_payload(_cafe()))
    for name, value in changes.items():
        if name == "vendor_type":
            vendor = pb.CWALocationData.FromString(message.vendor_data)
            vendor.type = value  # type: ignore[assignment]
            message.vendor_data = vendor.SerializeToString()
        elif name == "version":
            message.version = value  # type: ignore[assignment]
        elif name == "seed":
            message.crowd_notifier_data.cryptographic_seed = value  # type: ignore[assignment]
    return message.SerializeToString()


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"", "payload"),
        (b"\xff\xff\xff", "payload"),
        (b"\x08" * 2000, "payload"),
        (_message(version=2), "version"),
        (_message(vendor_type=0), "type"),
        (_message(seed=b""), "seed"),
    ],
)
def test_bad_payloads_are_refused(raw: bytes, field: str) -> None:
    with pytest.raises(PayloadInvalid) as caught:
        decode_payload(raw)
    assert caught.value.field == field


@pytest.mark.parametrize(
    "url",
    [
        "http://epicity.example/c/v1#CAES",
        "https://evil.example/c/v1#CAES",
        "https://epicity.example/c/v2#CAES",
        "https://epicity.example/c/v1?v=1#CAES",
        "https://epicity.example/c/v1",
        "https://epicity.example/c/v1#CA+S/",
        "https://user@epicity.example/c/v1#CAES",
        "https://epicity.example:8443/c/v1#CAES",
        "not a url at all",
    ],
)
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(PayloadInvalid) as caught:
        payload_from_url(url, ["epicity.example"])
    assert caught.value.field == "url"


def test_window_intervals_round_outwards_and_are_bounded() -> None:
    start = 1_700_000_000 + 123  # not on an interval boundary
    first, period = window_intervals(start, start + 3600)
    assert first * 600 <= start
    assert (first + period) * 600 >= start + 3600
    assert period == 7
    assert window_intervals(600 * 10, 600 * 154) == (10, MAX_PERIOD)
    with pytest.raises(PayloadInvalid, match="24 hours"):
        window_intervals(600 * 10 + 1, 600 * 154 + 1)
    with pytest.raises(PayloadInvalid, match="after the start"):
        window_intervals(100, 100)


def test_package_round_trip_and_bad_packages() -> None:
    reports = (encrypt_report(CWA_LOCATION_1, WarningWindow(2_800_000, 12, 5)), decoy_report())
    package = WarningPackage(472_000, "KR-11", reports)
    data = encode_package(package)
    assert data.startswith(PACKAGE_HEADER)
    assert decode_package(data) == package
    with pytest.raises(PayloadInvalid, match="header"):
        decode_package(b"EK Export v1    " + data[16:])
    with pytest.raises(PayloadInvalid, match="package"):
        decode_package(PACKAGE_HEADER + b"\xff\xff")
    short = pb.TraceWarningPackage(
        check_in_protected_reports=[pb.CheckInProtectedReport(location_id_hash=b"x", iv=b"")]
    )
    with pytest.raises(PayloadInvalid, match=r"reports\[0\].location_id_hash"):
        decode_package(PACKAGE_HEADER + short.SerializeToString())


def _protoc(tmp_path: Path) -> Path:
    if importlib.util.find_spec("grpc_tools") is None:
        pytest.skip("grpcio-tools is not installed (a development dependency)")
    from grpc_tools import protoc  # type: ignore[import-untyped]

    src = EXPOSURE.parents[1]
    args = [
        "protoc",
        f"-I{src}",
        f"--python_out={tmp_path}",
        f"--pyi_out={tmp_path}",
        str(EXPOSURE / "venues.proto"),
    ]
    assert protoc.main(args) == 0
    return tmp_path / "epicity" / "exposure"


def test_bindings_are_what_protoc_generates(tmp_path: Path) -> None:
    generated = _protoc(tmp_path)
    committed = (EXPOSURE / "venues_pb2.py").read_text()
    fresh = (generated / "venues_pb2.py").read_text()
    version = re.compile(r"# Protobuf Python Version: (\S+)")
    ours, theirs = version.search(committed), version.search(fresh)
    assert ours
    assert theirs
    if ours[1] != theirs[1]:
        pytest.skip(f"installed protoc writes gencode {theirs[1]}, committed is {ours[1]}")
    assert fresh == committed
    assert (generated / "venues_pb2.pyi").read_text() == (EXPOSURE / "venues_pb2.pyi").read_text()
