"""The GAEN key-file format: published export samples, signatures, round trips, hostile zips."""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import io
import json
import re
import struct
import warnings
import zipfile
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from epicity.exposure import export_pb2
from epicity.exposure.keyfile import (
    ALGORITHM_ECDSA_SHA256,
    ALGORITHM_ECDSA_SHA512,
    EXPORT_HEADER,
    MAX_EXPORT_BIN_BYTES,
    DiagnosisKey,
    KeyExport,
    KeyFileError,
    ReportType,
    SignatureError,
    SignatureInfo,
    decode_export,
    encode_export,
    read_zip,
    sign_export,
    verify_export,
    write_zip,
)

EXPOSURE = Path(__file__).resolve().parents[2] / "src" / "epicity" / "exposure"
SIGNED = "sample_diagnosis_key_file.zip"
INFO = SignatureInfo(verification_key_version="v1", verification_key_id="epicity")
KEY_COUNTS = {  # SOURCES.md beside the data
    SIGNED: 140,
    "app/src/main/res/raw/export.bin": 110,
    "exposurenotification/src/main/cpp/testdata/export.bin": 200,
}


# --- the published samples (google/exposure-notifications-internals) -------------------------


@pytest.fixture(scope="module")
def samples(real_data: Path) -> dict[str, Any]:
    """The three published exports with their parsed forms and the partner public keys."""
    path = real_data / "gaen_tek_export_samples.json"
    if not path.is_file():
        pytest.skip(f"GAEN export samples not found at {path}")
    data: dict[str, Any] = json.loads(path.read_text())["files"]
    return data


def _bin(sample: dict[str, Any]) -> bytes:
    return bytes.fromhex(sample.get("export_bin_hex") or sample["hex"])


def _key_from_json(key: dict[str, Any]) -> DiagnosisKey:
    return DiagnosisKey(
        key_data=bytes.fromhex(key["key_data"]),
        rolling_start_interval_number=key["rolling_start_interval_number"],
        rolling_period=key.get("rolling_period", 144),
        transmission_risk_level=key.get("transmission_risk_level", 0),
        report_type=key.get("report_type"),
        days_since_onset_of_symptoms=key.get("days_since_onset_of_symptoms"),
    )


def _public_keys(sample: dict[str, Any]) -> dict[str, ec.EllipticCurvePublicKey]:
    found = sample["public_keys_from_ContactTracingFeature.partnerPublicKeys"]
    keys = {}
    for name, spki in found["keys_spki_der_base64"].items():
        key = load_der_public_key(base64.b64decode(spki))
        assert isinstance(key, ec.EllipticCurvePublicKey)
        keys[name] = key
    return keys


@pytest.mark.realdata
def test_published_exports_decode_to_their_parsed_forms(samples: dict[str, Any]) -> None:
    assert len(samples) == 3
    for name, sample in samples.items():
        parsed = sample["parsed_export"]
        export = decode_export(_bin(sample))
        assert (export.start_timestamp, export.end_timestamp) == (
            parsed["start_timestamp"],
            parsed["end_timestamp"],
        ), name
        assert (export.region, export.batch_num, export.batch_size) == ("US", 1, 1), name
        assert export.keys == tuple(_key_from_json(k) for k in parsed["keys"]), name
        assert export.revised_keys == ()
        assert len(export.keys) == KEY_COUNTS[name]
        # rolling_period is omitted for full-day keys and must read as the default 144.
        omitted = [k for k in parsed["keys"] if "rolling_period" not in k]
        assert omitted
        by_data = {k.key_data: k for k in export.keys}
        for key in omitted:
            assert by_data[bytes.fromhex(key["key_data"])].rolling_period == 144
    signed = decode_export(_bin(samples[SIGNED]))
    assert signed.signature_infos == (
        SignatureInfo(verification_key_version="v1", verification_key_id="310"),
    )
    # The two unsigned samples carry an info with only a now-reserved field set.
    unsigned = decode_export(_bin(samples["app/src/main/res/raw/export.bin"]))
    assert unsigned.signature_infos == (SignatureInfo("", "", ""),)


@pytest.mark.realdata
def test_published_signature_verifies_with_its_key_only(samples: dict[str, Any]) -> None:
    sample = samples[SIGNED]
    export_bin, export_sig = _bin(sample), bytes.fromhex(sample["export_sig_hex"])
    assert len(export_bin) == sample["export_bin_size"]
    keys = _public_keys(sample)
    info = verify_export(export_bin, export_sig, {("310", "v1"): keys["310-v1"]})
    assert info == SignatureInfo("v1", "310", ALGORITHM_ECDSA_SHA256)
    with pytest.raises(SignatureError, match="does not verify"):
        verify_export(export_bin, export_sig, {("310", "v1"): keys["ExampleServer-v1"]})
    with pytest.raises(SignatureError, match="not a trusted key"):
        verify_export(export_bin, export_sig, {("ExampleServer", "v1"): keys["ExampleServer-v1"]})
    assert read_zip(write_zip(export_bin, export_sig)) == (export_bin, export_sig)


@pytest.mark.realdata
def test_tampered_published_export_fails(samples: dict[str, Any]) -> None:
    sample = samples[SIGNED]
    export_bin, export_sig = _bin(sample), bytes.fromhex(sample["export_sig_hex"])
    trusted = {("310", "v1"): _public_keys(sample)["310-v1"]}
    first_key = export_bin.index(bytes.fromhex(sample["parsed_export"]["keys"][0]["key_data"]))
    for tampered in (
        _flip(export_bin, first_key + 5),  # one bit of a key
        _flip(export_bin, 3),  # the header
        _flip(export_bin, len(export_bin) - 1),  # the last key's metadata
        export_bin[:-1],  # truncated
        export_bin + b"\x00",
    ):
        with pytest.raises(SignatureError):
            verify_export(tampered, export_sig, trusted)
    der = bytes.fromhex(sample["parsed_signatures"][0]["signature_der"])
    at = export_sig.index(der)
    for bad_sig in (
        _flip(export_sig, at + 10),  # r
        _flip(export_sig, len(export_sig) - 1),  # s
        _flip(export_sig, at + 1),  # DER length
        export_sig[:-1],
        b"",
        b"\xff" * 20,
    ):
        with pytest.raises(SignatureError):
            verify_export(export_bin, bad_sig, trusted)


@pytest.mark.realdata
def test_reencoding_the_parsed_sample_gives_the_same_export(samples: dict[str, Any]) -> None:
    sample = samples[SIGNED]
    parsed = sample["parsed_export"]
    export = KeyExport(
        start_timestamp=parsed["start_timestamp"],
        end_timestamp=parsed["end_timestamp"],
        region=parsed["region"],
        batch_num=parsed["batch_num"],
        batch_size=parsed["batch_size"],
        signature_infos=tuple(SignatureInfo(**i) for i in parsed["signature_infos"]),
        keys=tuple(_key_from_json(k) for k in parsed["keys"]),
    )
    encoded = encode_export(export)
    assert decode_export(encoded) == export
    # We write fields the way the reference server does, so the bytes (and thus the published
    # signature) are identical.
    assert encoded == _bin(sample)
    verify_export(
        encoded,
        bytes.fromhex(sample["export_sig_hex"]),
        {("310", "v1"): _public_keys(sample)["310-v1"]},
    )
    for other in samples.values():
        again = decode_export(_bin(other))
        assert decode_export(encode_export(again)) == again


def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


# --- round trips ------------------------------------------------------------------------------

diagnosis_keys = st.builds(
    DiagnosisKey,
    key_data=st.binary(min_size=16, max_size=16),
    rolling_start_interval_number=st.integers(min_value=0, max_value=2**31 - 1),
    rolling_period=st.integers(min_value=1, max_value=144),
    transmission_risk_level=st.integers(min_value=0, max_value=8),
    report_type=st.none() | st.sampled_from(ReportType),
    days_since_onset_of_symptoms=st.none() | st.integers(min_value=-(2**31), max_value=2**31 - 1),
)
key_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
signature_infos = st.builds(
    SignatureInfo,
    verification_key_version=key_names.filter(lambda s: len(s) <= 64),
    verification_key_id=key_names.filter(lambda s: len(s) <= 64),
    signature_algorithm=st.sampled_from([ALGORITHM_ECDSA_SHA256, ALGORITHM_ECDSA_SHA512, ""]),
)


@st.composite
def key_exports(draw: st.DrawFn) -> KeyExport:
    start = draw(st.integers(min_value=0, max_value=2**64 - 1))
    size = draw(st.integers(min_value=1, max_value=2**31 - 1))
    return KeyExport(
        start_timestamp=start,
        end_timestamp=draw(st.integers(min_value=start, max_value=2**64 - 1)),
        region=draw(st.text(max_size=20)),
        batch_num=draw(st.integers(min_value=1, max_value=size)),
        batch_size=size,
        signature_infos=tuple(draw(st.lists(signature_infos, max_size=3))),
        keys=tuple(draw(st.lists(diagnosis_keys, max_size=20))),
        revised_keys=tuple(draw(st.lists(diagnosis_keys, max_size=5))),
    )


@given(export=key_exports())
def test_encode_decode_round_trip(export: KeyExport) -> None:
    data = encode_export(export)
    assert data.startswith(EXPORT_HEADER)
    assert decode_export(data) == export


def test_round_trip_keeps_report_types_and_negative_onset() -> None:
    keys = tuple(
        DiagnosisKey(
            bytes([n]) * 16,
            2_650_000 + 144 * n,
            rolling_period=144 - n,
            transmission_risk_level=n % 9,
            report_type=report,
            days_since_onset_of_symptoms=n - 7,
        )
        for n, report in enumerate(ReportType)
    )
    revoked = (DiagnosisKey(b"r" * 16, 2_650_000, report_type=ReportType.REVOKED),)
    export = KeyExport(1, 2, "SEOUL", 1, 1, (INFO,), keys, revised_keys=revoked)
    decoded = decode_export(encode_export(export))
    assert decoded == export
    assert [k.days_since_onset_of_symptoms for k in decoded.keys] == [-7, -6, -5, -4, -3, -2]
    assert decoded.revised_keys[0].report_type is ReportType.REVOKED
    # sint32 is zigzag-encoded on the wire: -7 is written as 13.
    raw = export_pb2.TemporaryExposureKeyExport()
    raw.ParseFromString(encode_export(export)[16:])
    assert raw.keys[0].days_since_onset_of_symptoms == -7
    assert b"\x30\x0d" in raw.keys[0].SerializeToString()  # field 6, varint, zigzag(-7) = 13


# --- decoding errors -------------------------------------------------------------------------


def _raw_export(**key_fields: Any) -> bytes:
    message = export_pb2.TemporaryExposureKeyExport(
        start_timestamp=1, end_timestamp=2, region="X", batch_num=1, batch_size=1
    )
    fields = {"key_data": bytes(16), "rolling_start_interval_number": 10} | key_fields
    message.keys.add(**fields)
    return EXPORT_HEADER + message.SerializeToString()


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"EK Export v2    " + _raw_export()[16:], "header"),
        (b"", "header"),
        (EXPORT_HEADER + b"\xff\xff\xff", "malformed"),
        (EXPORT_HEADER + b"\x3a\x05\x0a\x10", "malformed"),  # a key cut short
        (_raw_export(key_data=bytes(15)), r"keys\[0\]\.key_data: expected 16 bytes, got 15"),
        (_raw_export(key_data=b""), r"keys\[0\]\.key_data"),
        (_raw_export(rolling_period=0), r"keys\[0\]\.rolling_period: 0 is outside 1\.\.144"),
        (_raw_export(rolling_period=145), r"keys\[0\]\.rolling_period"),
        (_raw_export(transmission_risk_level=9), r"keys\[0\]\.transmission_risk_level"),
        (_raw_export(rolling_start_interval_number=-1), "rolling_start_interval_number"),
        (EXPORT_HEADER + b"\x20\x00\x28\x01", "batch_num: 0 is outside 1..1"),
        (EXPORT_HEADER + b"\x20\x03\x28\x02", "batch_num: 3 is outside 1..2"),
        (EXPORT_HEADER + b"\x20\x01\x28\x00", "batch_size"),
    ],
)
def test_bad_export_bin_is_refused_with_a_reason(data: bytes, problem: str) -> None:
    with pytest.raises(KeyFileError, match=problem):
        decode_export(data)


def test_revised_key_errors_name_the_list() -> None:
    message = export_pb2.TemporaryExposureKeyExport(batch_num=1, batch_size=1)
    message.revised_keys.add(key_data=bytes(3))
    with pytest.raises(KeyFileError, match=r"revised_keys\[0\]\.key_data"):
        decode_export(EXPORT_HEADER + message.SerializeToString())


@given(data=st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_key_file_errors(data: bytes) -> None:
    for parse in (decode_export, read_zip):
        for candidate in (data, EXPORT_HEADER + data, b"PK\x03\x04" + data):
            with contextlib.suppress(KeyFileError):
                parse(candidate)
    with pytest.raises(SignatureError):
        verify_export(EXPORT_HEADER, data, {})


# Wrong types on purpose, typed Any so the checks are about run time.
A_LIST: Any = [DiagnosisKey(bytes(16), 0)]
A_TUPLE_OF_STR: Any = ("k",)


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: DiagnosisKey(bytes(17), 0), "key_data"),
        (lambda: DiagnosisKey(bytes(16), -1), "rolling_start_interval_number"),
        (lambda: DiagnosisKey(bytes(16), 2**31), "rolling_start_interval_number"),
        (lambda: DiagnosisKey(bytes(16), 0, rolling_period=0), "rolling_period"),
        (lambda: DiagnosisKey(bytes(16), 0, transmission_risk_level=-1), "transmission_risk"),
        (lambda: DiagnosisKey(bytes(16), 0, report_type=6), "report_type"),
        (lambda: DiagnosisKey(bytes(16), 0, days_since_onset_of_symptoms=2**31), "days_since"),
        (lambda: SignatureInfo("v1", "../key"), "verification_key_id"),
        (lambda: SignatureInfo("v 1", "k"), "verification_key_version"),
        (lambda: SignatureInfo("v1", "k", "sha256"), "signature_algorithm"),
        (lambda: KeyExport(5, 4, "R", 1, 1, (), ()), "end_timestamp"),
        (lambda: KeyExport(-1, 4, "R", 1, 1, (), ()), "start_timestamp"),
        (lambda: KeyExport(1, 4, "R", 2, 1, (), ()), "batch_num"),
        (lambda: KeyExport(1, 4, "R", 1, 1, (), A_LIST), "keys"),
        (lambda: KeyExport(1, 4, "R", 1, 1, (), A_TUPLE_OF_STR), r"keys\[0\]"),
    ],
)
def test_dataclasses_validate_their_fields(build: Any, field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field}"):
        build()


# --- signatures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def signing_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _export(*infos: SignatureInfo) -> bytes:
    keys = tuple(DiagnosisKey(bytes([n]) * 16, 2_650_000 + n) for n in range(30))
    return encode_export(KeyExport(100, 200, "SEOUL", 1, 1, infos or (INFO,), keys))


@pytest.mark.parametrize("algorithm", [ALGORITHM_ECDSA_SHA256, ALGORITHM_ECDSA_SHA512])
def test_sign_and_verify(signing_key: ec.EllipticCurvePrivateKey, algorithm: str) -> None:
    info = SignatureInfo("v1", "epicity", algorithm)
    export_bin = _export(info)
    export_sig = sign_export(export_bin, signing_key, info, batch_num=1, batch_size=1)
    trusted = {("epicity", "v1"): signing_key.public_key()}
    assert verify_export(export_bin, export_sig, trusted) == info
    parsed = export_pb2.TEKSignatureList()
    parsed.ParseFromString(export_sig)
    (entry,) = parsed.signatures
    assert (entry.batch_num, entry.batch_size) == (1, 1)
    assert entry.signature[0] == 0x30  # an ASN.1 DER SEQUENCE
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(SignatureError, match="does not verify"):
        verify_export(export_bin, export_sig, {("epicity", "v1"): other})
    with pytest.raises(SignatureError, match="not a trusted key"):
        verify_export(export_bin, export_sig, {("epicity", "v2"): signing_key.public_key()})
    with pytest.raises(SignatureError):
        verify_export(_flip(export_bin, 40), export_sig, trusted)


def test_verify_takes_any_verifying_signature(signing_key: ec.EllipticCurvePrivateKey) -> None:
    old, new = SignatureInfo("v1", "epicity"), SignatureInfo("v2", "epicity")
    export_bin = _export(old, new)
    retired = ec.generate_private_key(ec.SECP256R1())
    signatures = export_pb2.TEKSignatureList()
    for key, info in ((retired, old), (signing_key, new)):
        signatures.MergeFromString(sign_export(export_bin, key, info, 1, 1))
    both = signatures.SerializeToString()
    assert len(signatures.signatures) == 2
    assert verify_export(export_bin, both, {("epicity", "v2"): signing_key.public_key()}) == new
    trusted_old = {("epicity", "v1"): retired.public_key()}
    assert verify_export(export_bin, both, trusted_old) == old


def test_refused_signing_inputs(signing_key: ec.EllipticCurvePrivateKey) -> None:
    export_bin = _export()
    with pytest.raises(KeyFileError, match="P-256"):
        sign_export(export_bin, ec.generate_private_key(ec.SECP384R1()), INFO, 1, 1)
    with pytest.raises(KeyFileError, match="signature_algorithm"):
        sign_export(export_bin, signing_key, SignatureInfo("v1", "k", "1.2.3"), 1, 1)
    with pytest.raises(KeyFileError, match="batch_num"):
        sign_export(export_bin, signing_key, INFO, 2, 1)
    with pytest.raises(KeyFileError, match="export_bin"):
        sign_export(export_bin[16:], signing_key, INFO, 1, 1)
    p384 = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(SignatureError, match="not an ECDSA P-256 key"):
        verify_export(
            export_bin,
            sign_export(export_bin, signing_key, INFO, 1, 1),
            {("epicity", "v1"): p384.public_key()},
        )
    with pytest.raises(SignatureError, match="no signature"):
        verify_export(export_bin, b"", {})


# --- the zip ---------------------------------------------------------------------------------


def test_zip_is_deterministic(signing_key: ec.EllipticCurvePrivateKey) -> None:
    export_bin = _export()
    export_sig = sign_export(export_bin, signing_key, INFO, 1, 1)
    first = write_zip(export_bin, export_sig)
    assert write_zip(export_bin, export_sig) == first
    assert read_zip(first) == (export_bin, export_sig)
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        assert archive.namelist() == ["export.bin", "export.sig"]
        assert {m.date_time for m in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def _zip(*members: tuple[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # duplicate names, on purpose
        with zipfile.ZipFile(buffer, "w", compression=method) as archive:
            for name, data in members:
                archive.writestr(name, data)
    return buffer.getvalue()


BIN, SIG = EXPORT_HEADER + b"\x20\x01\x28\x01", b"\x0a\x00"


def _set_central_sizes(data: bytes, compressed: int | None, size: int) -> bytes:
    """Rewrite the declared sizes of the first member in the zip's central directory."""
    at = data.index(b"PK\x01\x02")
    out = bytearray(data)
    if compressed is not None:
        struct.pack_into("<I", out, at + 20, compressed)
    struct.pack_into("<I", out, at + 24, size)
    return bytes(out)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (_zip(("export.bin", BIN), ("export.sig", SIG), ("extra.txt", b"x")), "unexpected member"),
        (_zip(("export.bin", BIN)), "export.sig is missing"),
        (_zip(("export.sig", SIG)), "export.bin is missing"),
        (_zip(("export.bin", BIN), ("export.sig", SIG), ("export.sig", SIG)), "repeated"),
        (_zip(("../export.bin", BIN), ("export.sig", SIG)), r"unexpected member '\.\./export"),
        (_zip(("/export.bin", BIN), ("export.sig", SIG)), "unexpected member"),
        (_zip(("a/export.bin", BIN), ("export.sig", SIG)), "unexpected member"),
        (_zip(("export.bin/", b""), ("export.sig", SIG)), "unexpected member"),
        (_zip(("EXPORT.BIN", BIN), ("export.sig", SIG)), "unexpected member"),
        (_zip(("export.bin", BIN), ("export.sig", b"s" * 70_000)), "export.sig declares"),
        (b"", "not a valid zip"),
        (b"PK\x03\x04" + bytes(60), "not a valid zip"),
        (_zip(("export.bin", BIN), ("export.sig", SIG))[:-30], "not a valid zip"),
    ],
)
def test_hostile_zips_are_refused(data: bytes, problem: str) -> None:
    with pytest.raises(KeyFileError, match=problem):
        read_zip(data)


def test_huge_declared_size_is_refused_before_reading() -> None:
    data = _zip(("export.bin", BIN), ("export.sig", SIG), method=zipfile.ZIP_STORED)
    huge = _set_central_sizes(data, 3_000_000_000, 3_000_000_000)
    with pytest.raises(
        KeyFileError, match=f"declares 3000000000 bytes, more than {MAX_EXPORT_BIN_BYTES}"
    ):
        read_zip(huge)


def test_compression_bomb_is_refused() -> None:
    bomb = _zip(("export.bin", EXPORT_HEADER + bytes(5_000_000)), ("export.sig", SIG))
    assert len(bomb) < 10_000
    with pytest.raises(KeyFileError, match="ratio above 100"):
        read_zip(bomb)


def test_size_that_lies_is_caught() -> None:
    data = _zip(("export.bin", EXPORT_HEADER + bytes(1000)), ("export.sig", SIG))
    # Declares fewer bytes than the member holds: the CRC check or the size check catches it.
    with pytest.raises(KeyFileError):
        read_zip(_set_central_sizes(data, None, 20))


def test_encrypted_member_is_refused() -> None:
    data = bytearray(_zip(("export.bin", BIN), ("export.sig", SIG)))
    at = data.index(b"PK\x01\x02")
    data[at + 8] |= 0x01  # general-purpose flag: encrypted
    with pytest.raises(KeyFileError, match="encrypted"):
        read_zip(bytes(data))


def test_write_zip_refuses_oversized_or_wrong_inputs() -> None:
    with pytest.raises(KeyFileError, match=r"export\.sig"):
        write_zip(BIN, b"s" * 70_000)
    with pytest.raises(KeyFileError, match=r"export\.bin: expected bytes"):
        write_zip("text", SIG)  # type: ignore[arg-type]


# --- the generated bindings ------------------------------------------------------------------


def _protoc(tmp_path: Path, *outputs: str) -> None:
    if importlib.util.find_spec("grpc_tools") is None:
        pytest.skip("grpcio-tools is not installed (a development dependency)")
    from grpc_tools import protoc  # type: ignore[import-untyped]

    src = EXPOSURE.parents[1]
    args = ["protoc", f"-I{src}", *outputs, str(EXPOSURE / "export.proto")]
    assert protoc.main(args) == 0


def test_bindings_match_the_proto(tmp_path: Path) -> None:
    # The descriptor is what protobuf serializes by: it must come from export.proto as it is.
    _protoc(tmp_path, f"--descriptor_set_out={tmp_path / 'set.pb'}")
    from google.protobuf import descriptor_pb2

    files = descriptor_pb2.FileDescriptorSet()
    files.ParseFromString((tmp_path / "set.pb").read_bytes())
    fresh = files.file[0]
    for message in fresh.message_type:  # the Python gencode leaves out JSON names
        for field in message.field:
            field.ClearField("json_name")
    committed = descriptor_pb2.FileDescriptorProto.FromString(export_pb2.DESCRIPTOR.serialized_pb)
    assert fresh == committed
    assert committed.name == "epicity/exposure/export.proto"
    assert [m.name for m in committed.message_type] == [
        "TemporaryExposureKeyExport",
        "SignatureInfo",
        "TemporaryExposureKey",
        "TEKSignatureList",
        "TEKSignature",
    ]


def test_bindings_are_what_protoc_generates(tmp_path: Path) -> None:
    _protoc(tmp_path, f"--python_out={tmp_path}", f"--pyi_out={tmp_path}")
    generated = tmp_path / "epicity" / "exposure"
    committed_py = (EXPOSURE / "export_pb2.py").read_text()
    fresh_py = (generated / "export_pb2.py").read_text()
    version = re.compile(r"# Protobuf Python Version: (\S+)")
    committed_version = version.search(committed_py)
    fresh_version = version.search(fresh_py)
    assert committed_version
    assert fresh_version
    if committed_version[1] != fresh_version[1]:
        pytest.skip(
            f"installed protoc writes gencode {fresh_version[1]}, the committed bindings are"
            f" {committed_version[1]}: compare after regenerating with the pinned grpcio-tools"
        )
    assert fresh_py == committed_py
    assert (generated / "export_pb2.pyi").read_text() == (EXPOSURE / "export_pb2.pyi").read_text()


@settings(max_examples=10, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(export=key_exports())
def test_zip_round_trip(export: KeyExport, signing_key: ec.EllipticCurvePrivateKey) -> None:
    export_bin = encode_export(export)
    export_sig = sign_export(export_bin, signing_key, INFO, export.batch_num, export.batch_size)
    export_bin2, export_sig2 = read_zip(write_zip(export_bin, export_sig))
    assert decode_export(export_bin2) == export
    verify_export(export_bin2, export_sig2, {("epicity", "v1"): signing_key.public_key()})
