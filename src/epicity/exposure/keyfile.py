"""The GAEN key-file format: export.bin, export.sig and the zip that carries them.

A key server publishes the Temporary Exposure Keys of people who reported a positive test as
zip archives holding exactly two members ("Exposure Key Export File Format and
Verification"):

- ``export.bin``: the 16-byte header ``b"EK Export v1    "`` followed by a protobuf
  ``TemporaryExposureKeyExport`` (time window, region, batch, signature infos, the keys);
- ``export.sig``: a protobuf ``TEKSignatureList`` with one ``TEKSignature`` per signing key:
  an ECDSA P-256 signature (ASN.1 DER) over the whole of export.bin, header included, made with
  SHA-256 (OID 1.2.840.10045.4.3.2) or SHA-512 (1.2.840.10045.4.3.4).

The messages are in ``export.proto`` (field numbers and defaults of the specification); this
module maps them to frozen dataclasses and back, so callers never touch protobuf objects::

    export = KeyExport(start_timestamp=t0, end_timestamp=t1, region="SEOUL", batch_num=1,
                       batch_size=1, signature_infos=(info,), keys=keys)
    export_bin = encode_export(export)
    zip_bytes = write_zip(export_bin, sign_export(export_bin, private_key, info, 1, 1))
    ...
    export_bin, export_sig = read_zip(zip_bytes)           # a phone, after download
    verify_export(export_bin, export_sig, {("310", "v1"): public_key})
    keys = decode_export(export_bin).keys

Every input from outside is checked: a bad header, malformed protobuf, a 15-byte key or a zip
with a third member raises `KeyFileError` (a `ValueError`) naming what is wrong; a file whose
signature does not verify raises `SignatureError`. Zips are read with bounded sizes (50 MiB per
member, compression ratio at most 100), so a hostile archive cannot exhaust memory.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import cast

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from google.protobuf.message import DecodeError

from epicity.exposure import export_pb2
from epicity.exposure.crypto import KEY_LENGTH, TEK_ROLLING_PERIOD

__all__ = [
    "ALGORITHM_ECDSA_SHA256",
    "ALGORITHM_ECDSA_SHA512",
    "EXPORT_BIN",
    "EXPORT_HEADER",
    "EXPORT_SIG",
    "MAX_COMPRESSION_RATIO",
    "MAX_EXPORT_BIN_BYTES",
    "MAX_EXPORT_SIG_BYTES",
    "MAX_TRANSMISSION_RISK_LEVEL",
    "DiagnosisKey",
    "KeyExport",
    "KeyFileError",
    "ReportType",
    "SignatureError",
    "SignatureInfo",
    "decode_export",
    "encode_export",
    "read_zip",
    "sign_export",
    "verify_export",
    "write_zip",
]

EXPORT_HEADER = b"EK Export v1    "
"""The 16 bytes export.bin starts with (ASCII, right-padded with spaces)."""
EXPORT_BIN = "export.bin"
EXPORT_SIG = "export.sig"
ALGORITHM_ECDSA_SHA256 = "1.2.840.10045.4.3.2"
"""ecdsa-with-SHA256: what GAEN servers sign with (on curve P-256)."""
ALGORITHM_ECDSA_SHA512 = "1.2.840.10045.4.3.4"
"""ecdsa-with-SHA512: the other algorithm the specification allows (still on P-256)."""
MAX_TRANSMISSION_RISK_LEVEL = 8
"""Transmission risk levels run 0..8 (0: unknown), as the reference server validates them."""
MAX_EXPORT_BIN_BYTES = 50 * 1024 * 1024
"""Largest export.bin accepted from a zip: ~1.7 million keys, above any real batch."""
MAX_EXPORT_SIG_BYTES = 64 * 1024
"""Largest export.sig accepted: one signature is ~110 bytes."""
MAX_COMPRESSION_RATIO = 100
"""Keys are random bytes and barely compress (~1.2x); a far higher ratio is a zip bomb."""

_INT32_MAX = 2**31 - 1
_INT32_MIN = -(2**31)
_UINT64_MAX = 2**64 - 1
_KEY_NAME = re.compile(r"[A-Za-z0-9_]*")  # the spec's class for key ids and versions
_OID = re.compile(r"(?:[0-9]+(?:\.[0-9]+)*)?")
_HASHES: dict[str, type[hashes.SHA256] | type[hashes.SHA512]] = {
    ALGORITHM_ECDSA_SHA256: hashes.SHA256,
    ALGORITHM_ECDSA_SHA512: hashes.SHA512,
}
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the zip epoch: fixed, so equal exports give equal zips


class KeyFileError(ValueError):
    """A key file (export.bin, export.sig or their zip) that cannot be read or written."""


class SignatureError(KeyFileError):
    """No signature in export.sig verifies export.bin with a trusted public key."""


class ReportType(IntEnum):
    """Why a key was published (``TemporaryExposureKey.ReportType`` in the specification)."""

    UNKNOWN = 0
    CONFIRMED_TEST = 1
    CONFIRMED_CLINICAL_DIAGNOSIS = 2
    SELF_REPORT = 3
    RECURSIVE = 4
    REVOKED = 5


_REPORT_TYPES = tuple(ReportType)  # by value: ReportType(n) is _REPORT_TYPES[n]
_REPORT_TYPE_CLASSES = (int, ReportType)


def _check_int(value: object, name: str, low: int, high: int) -> None:
    """ValueError naming `name` unless `value` is an int (not a bool) in low..high."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name}: expected an integer, got {type(value).__name__}")
    if not low <= value <= high:
        raise ValueError(f"{name}: {value} is outside {low}..{high}")


@dataclass(frozen=True)
class DiagnosisKey:
    """A published Temporary Exposure Key with its metadata (``TemporaryExposureKey``).

    Args:
        key_data: the 16-byte TEK.
        rolling_start_interval_number: the ENIntervalNumber the key was first used in.
        rolling_period: how many 10-minute intervals it was used for, 1..144.
        transmission_risk_level: 0..8 (deprecated by GAEN v1.5 in favour of report_type).
        report_type: a `ReportType` value, or None when not given.
        days_since_onset_of_symptoms: days from symptom onset to the key's day (negative:
            before onset), or None when not given.
    """

    key_data: bytes
    rolling_start_interval_number: int
    rolling_period: int = TEK_ROLLING_PERIOD
    transmission_risk_level: int = 0
    report_type: int | None = None
    days_since_onset_of_symptoms: int | None = None

    def __post_init__(self) -> None:
        """Check every field against the file format; ValueError names the field."""
        # One expression for the common, valid case: decoding a million keys builds a million
        # of these. Only a failing key takes the slow path that says which field is wrong.
        report_type = self.report_type
        onset = self.days_since_onset_of_symptoms
        if not (
            type(self.key_data) is bytes
            and len(self.key_data) == KEY_LENGTH
            and type(self.rolling_start_interval_number) is int
            and 0 <= self.rolling_start_interval_number <= _INT32_MAX
            and type(self.rolling_period) is int
            and 1 <= self.rolling_period <= TEK_ROLLING_PERIOD
            and type(self.transmission_risk_level) is int
            and 0 <= self.transmission_risk_level <= MAX_TRANSMISSION_RISK_LEVEL
            and (report_type is None or type(report_type) in _REPORT_TYPE_CLASSES)
            and (report_type is None or 0 <= report_type < len(_REPORT_TYPES))
            and (onset is None or (type(onset) is int and _INT32_MIN <= onset <= _INT32_MAX))
        ):
            self._explain()
        if report_type is not None and type(report_type) is not ReportType:
            object.__setattr__(self, "report_type", _REPORT_TYPES[report_type])

    def _explain(self) -> None:
        """Raise ValueError naming the first field that is out of the file format's range."""
        if not isinstance(self.key_data, bytes):
            raise ValueError(f"key_data: expected bytes, got {type(self.key_data).__name__}")
        if len(self.key_data) != KEY_LENGTH:
            raise ValueError(f"key_data: expected {KEY_LENGTH} bytes, got {len(self.key_data)}")
        _check_int(
            self.rolling_start_interval_number, "rolling_start_interval_number", 0, _INT32_MAX
        )
        _check_int(self.rolling_period, "rolling_period", 1, TEK_ROLLING_PERIOD)
        _check_int(
            self.transmission_risk_level, "transmission_risk_level", 0, MAX_TRANSMISSION_RISK_LEVEL
        )
        if self.report_type is not None:
            _check_int(self.report_type, "report_type", 0, len(_REPORT_TYPES) - 1)
        if self.days_since_onset_of_symptoms is not None:
            _check_int(
                self.days_since_onset_of_symptoms,
                "days_since_onset_of_symptoms",
                _INT32_MIN,
                _INT32_MAX,
            )
        # bool and int subclasses pass the checks above but not the exact-type fast path.
        raise ValueError("key: an integer field holds a bool or an int subclass")


@dataclass(frozen=True)
class SignatureInfo:
    """Which key signs an export: its id and version (each ``[A-Za-z0-9_]*``) and algorithm.

    Files from other servers may leave these empty (older ones filled only fields now
    reserved); such an info decodes to empty strings and matches no public key.
    """

    verification_key_version: str
    verification_key_id: str
    signature_algorithm: str = ALGORITHM_ECDSA_SHA256

    def __post_init__(self) -> None:
        """Check the id and version characters and the OID syntax; ValueError names the field."""
        for name in ("verification_key_version", "verification_key_id"):
            value = getattr(self, name)
            if not isinstance(value, str) or not _KEY_NAME.fullmatch(value) or len(value) > 64:
                raise ValueError(f"{name}: {value!r} is not up to 64 characters of [A-Za-z0-9_]")
        algorithm = self.signature_algorithm
        if not isinstance(algorithm, str) or not _OID.fullmatch(algorithm) or len(algorithm) > 64:
            raise ValueError(f"signature_algorithm: {algorithm!r} is not an ASN.1 OID")


@dataclass(frozen=True)
class KeyExport:
    """The content of one export.bin (``TemporaryExposureKeyExport``).

    Args:
        start_timestamp, end_timestamp: the window of the keys' arrival at the server, UTC
            seconds, start <= end.
        region: the region the keys come from (e.g. "SEOUL").
        batch_num, batch_size: this file is batch ``batch_num`` of ``batch_size``, 1-based.
        signature_infos: the keys export.sig is signed with.
        keys: keys released for the first time.
        revised_keys: keys released before whose status changed (e.g. revoked).
    """

    start_timestamp: int
    end_timestamp: int
    region: str
    batch_num: int
    batch_size: int
    signature_infos: tuple[SignatureInfo, ...]
    keys: tuple[DiagnosisKey, ...]
    revised_keys: tuple[DiagnosisKey, ...] = ()

    def __post_init__(self) -> None:
        """Check the window, the batch and the element types; ValueError names the field."""
        _check_int(self.start_timestamp, "start_timestamp", 0, _UINT64_MAX)
        _check_int(self.end_timestamp, "end_timestamp", self.start_timestamp, _UINT64_MAX)
        if not isinstance(self.region, str):
            raise ValueError(f"region: expected a string, got {type(self.region).__name__}")
        _check_int(self.batch_size, "batch_size", 1, _INT32_MAX)
        _check_int(self.batch_num, "batch_num", 1, self.batch_size)
        for name, kind in (
            ("signature_infos", SignatureInfo),
            ("keys", DiagnosisKey),
            ("revised_keys", DiagnosisKey),
        ):
            items = getattr(self, name)
            if not isinstance(items, tuple):
                raise ValueError(f"{name}: expected a tuple, got {type(items).__name__}")
            for i, item in enumerate(items):
                if not isinstance(item, kind):
                    raise ValueError(f"{name}[{i}]: expected {kind.__name__}")


def _key_to_pb(key: DiagnosisKey, out: export_pb2.TemporaryExposureKey) -> None:
    """Fill `out` from `key` the way the reference server does: the transmission risk level
    always, the rolling period only when it is not the default 144, the rest when given."""
    out.key_data = key.key_data
    out.transmission_risk_level = key.transmission_risk_level
    out.rolling_start_interval_number = key.rolling_start_interval_number
    if key.rolling_period != TEK_ROLLING_PERIOD:
        out.rolling_period = key.rolling_period
    if key.report_type is not None:
        out.report_type = cast("export_pb2.TemporaryExposureKey.ReportType", int(key.report_type))
    if key.days_since_onset_of_symptoms is not None:
        out.days_since_onset_of_symptoms = key.days_since_onset_of_symptoms


def _info_to_pb(info: SignatureInfo, out: export_pb2.SignatureInfo) -> None:
    """Fill `out` from `info`, leaving empty strings unset."""
    if info.verification_key_version:
        out.verification_key_version = info.verification_key_version
    if info.verification_key_id:
        out.verification_key_id = info.verification_key_id
    if info.signature_algorithm:
        out.signature_algorithm = info.signature_algorithm


def _info_from_pb(info: export_pb2.SignatureInfo) -> SignatureInfo:
    """The dataclass of a decoded SignatureInfo (unset fields are empty strings)."""
    return SignatureInfo(
        verification_key_version=info.verification_key_version,
        verification_key_id=info.verification_key_id,
        signature_algorithm=info.signature_algorithm,
    )


def encode_export(export: KeyExport) -> bytes:
    """export.bin for `export`: the header and the serialized ``TemporaryExposureKeyExport``.

    Keys are written in the order given (servers shuffle or sort them so that the order
    reveals nothing about upload times).
    """
    if not isinstance(export, KeyExport):
        raise KeyFileError(f"export: expected a KeyExport, got {type(export).__name__}")
    message = export_pb2.TemporaryExposureKeyExport(
        start_timestamp=export.start_timestamp,
        end_timestamp=export.end_timestamp,
        region=export.region,
        batch_num=export.batch_num,
        batch_size=export.batch_size,
    )
    for info in export.signature_infos:
        _info_to_pb(info, message.signature_infos.add())
    for key in export.keys:
        _key_to_pb(key, message.keys.add())
    for key in export.revised_keys:
        _key_to_pb(key, message.revised_keys.add())
    return EXPORT_HEADER + message.SerializeToString(deterministic=True)


def _keys_from_pb(
    keys: Iterable[export_pb2.TemporaryExposureKey], field: str
) -> tuple[DiagnosisKey, ...]:
    """Decoded keys as dataclasses; KeyFileError naming the key (``keys[3].key_data``)."""
    result = []
    for i, key in enumerate(keys):
        try:
            result.append(
                DiagnosisKey(
                    key_data=key.key_data,
                    rolling_start_interval_number=key.rolling_start_interval_number,
                    rolling_period=key.rolling_period,  # 144 when absent: the proto2 default
                    transmission_risk_level=key.transmission_risk_level,
                    report_type=key.report_type if key.HasField("report_type") else None,
                    days_since_onset_of_symptoms=(
                        key.days_since_onset_of_symptoms
                        if key.HasField("days_since_onset_of_symptoms")
                        else None
                    ),
                )
            )
        except ValueError as e:
            raise KeyFileError(f"export.bin: {field}[{i}].{e}") from None
    return tuple(result)


def decode_export(data: bytes) -> KeyExport:
    """The `KeyExport` in export.bin bytes.

    Raises:
        KeyFileError: the header is not ``EK Export v1``, the protobuf is malformed, or a field
            is out of range (a key that is not 16 bytes, a rolling period of 0, ...).
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise KeyFileError(f"export.bin: expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if not data.startswith(EXPORT_HEADER):
        raise KeyFileError(
            f"export.bin: header {data[: len(EXPORT_HEADER)]!r} is not {EXPORT_HEADER!r}"
        )
    message = export_pb2.TemporaryExposureKeyExport()
    try:
        message.ParseFromString(data[len(EXPORT_HEADER) :])
    except DecodeError as e:
        raise KeyFileError(f"export.bin: malformed TemporaryExposureKeyExport ({e})") from None
    infos = []
    for i, info in enumerate(message.signature_infos):
        try:
            infos.append(_info_from_pb(info))
        except ValueError as e:
            raise KeyFileError(f"export.bin: signature_infos[{i}].{e}") from None
    keys = _keys_from_pb(message.keys, "keys")
    revised = _keys_from_pb(message.revised_keys, "revised_keys")
    try:
        return KeyExport(
            start_timestamp=message.start_timestamp,
            end_timestamp=message.end_timestamp,
            region=message.region,
            batch_num=message.batch_num,
            batch_size=message.batch_size,
            signature_infos=tuple(infos),
            keys=keys,
            revised_keys=revised,
        )
    except ValueError as e:
        raise KeyFileError(f"export.bin: {e}") from None


def sign_export(
    export_bin: bytes,
    private_key: ec.EllipticCurvePrivateKey,
    info: SignatureInfo,
    batch_num: int,
    batch_size: int,
) -> bytes:
    """export.sig for `export_bin`: a ``TEKSignatureList`` with one ECDSA P-256 signature.

    The signature covers the whole of export.bin, header included, hashed with the algorithm
    `info` names (SHA-256 unless it says 1.2.840.10045.4.3.4), and is ASN.1 DER encoded.
    """
    if not isinstance(export_bin, bytes) or not export_bin.startswith(EXPORT_HEADER):
        raise KeyFileError("export_bin: expected export.bin bytes starting with the header")
    if not isinstance(private_key, ec.EllipticCurvePrivateKey) or not isinstance(
        private_key.curve, ec.SECP256R1
    ):
        raise KeyFileError("private_key: expected an ECDSA P-256 (secp256r1) private key")
    if not isinstance(info, SignatureInfo):
        raise KeyFileError(f"info: expected a SignatureInfo, got {type(info).__name__}")
    hash_type = _HASHES.get(info.signature_algorithm)
    if hash_type is None:
        raise KeyFileError(
            f"info.signature_algorithm: {info.signature_algorithm!r} is not one of"
            f" {sorted(_HASHES)}"
        )
    try:
        _check_int(batch_size, "batch_size", 1, _INT32_MAX)
        _check_int(batch_num, "batch_num", 1, batch_size)
    except ValueError as e:
        raise KeyFileError(str(e)) from None
    signature = private_key.sign(export_bin, ec.ECDSA(hash_type()))
    signatures = export_pb2.TEKSignatureList()
    entry = signatures.signatures.add()
    _info_to_pb(info, entry.signature_info)
    entry.batch_num = batch_num
    entry.batch_size = batch_size
    entry.signature = signature
    return signatures.SerializeToString(deterministic=True)


def verify_export(
    export_bin: bytes,
    export_sig: bytes,
    public_keys: Mapping[tuple[str, str], ec.EllipticCurvePublicKey],
) -> SignatureInfo:
    """The `SignatureInfo` of the first signature in export.sig that verifies export.bin.

    Args:
        export_bin: the export.bin bytes exactly as downloaded (header included).
        export_sig: the export.sig bytes (a ``TEKSignatureList``).
        public_keys: the trusted keys by ``(verification_key_id, verification_key_version)``;
            signatures by any other key are ignored.

    Raises:
        SignatureError: export.sig is malformed, or none of its signatures verifies with a
            trusted P-256 key and a supported algorithm; the message says why for each.
    """
    if not isinstance(export_bin, bytes | bytearray | memoryview):
        raise SignatureError(f"export_bin: expected bytes, got {type(export_bin).__name__}")
    signatures = export_pb2.TEKSignatureList()
    try:
        signatures.ParseFromString(bytes(export_sig))
    except (DecodeError, TypeError) as e:
        raise SignatureError(f"export.sig: malformed TEKSignatureList ({e})") from None
    if not signatures.signatures:
        raise SignatureError("export.sig: holds no signature")
    reasons = []
    for i, entry in enumerate(signatures.signatures):
        try:
            info = _info_from_pb(entry.signature_info)
        except ValueError as e:
            reasons.append(f"signature {i}: {e}")
            continue
        label = (
            f"signature {i} (key {info.verification_key_id!r} {info.verification_key_version!r})"
        )
        public_key = public_keys.get((info.verification_key_id, info.verification_key_version))
        hash_type = _HASHES.get(info.signature_algorithm)
        if public_key is None:
            reasons.append(f"{label}: not a trusted key")
        elif hash_type is None:
            reasons.append(f"{label}: unsupported algorithm {info.signature_algorithm!r}")
        elif not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(
            public_key.curve, ec.SECP256R1
        ):
            reasons.append(f"{label}: the trusted key is not an ECDSA P-256 key")
        else:
            try:
                public_key.verify(entry.signature, bytes(export_bin), ec.ECDSA(hash_type()))
            except InvalidSignature:
                reasons.append(f"{label}: does not verify")
                continue
            return info
    raise SignatureError("export.sig: no signature verifies export.bin: " + "; ".join(reasons))


def write_zip(export_bin: bytes, export_sig: bytes) -> bytes:
    """The zip archive a key server publishes: export.bin then export.sig, deflated.

    Timestamps, permissions and member order are fixed, so the same files give the same bytes.
    """
    for name, data, limit in (
        (EXPORT_BIN, export_bin, MAX_EXPORT_BIN_BYTES),
        (EXPORT_SIG, export_sig, MAX_EXPORT_SIG_BYTES),
    ):
        if not isinstance(data, bytes):
            raise KeyFileError(f"{name}: expected bytes, got {type(data).__name__}")
        if len(data) > limit:
            raise KeyFileError(f"{name}: {len(data)} bytes is more than {limit}")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in ((EXPORT_BIN, export_bin), (EXPORT_SIG, export_sig)):
            member = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            member.compress_type = zipfile.ZIP_DEFLATED
            member.create_system = 3  # Unix, wherever the server runs
            member.external_attr = 0o644 << 16
            archive.writestr(member, data, compresslevel=6)
    return buffer.getvalue()


def read_zip(data: bytes) -> tuple[bytes, bytes]:
    """(export.bin, export.sig) from a downloaded zip, refusing anything unexpected.

    Raises:
        KeyFileError: not a zip; a member other than export.bin and export.sig (whatever its
            name, including path tricks), one of them missing or repeated, encrypted or stored
            with another compression method; a member larger than its limit
            (`MAX_EXPORT_BIN_BYTES`, `MAX_EXPORT_SIG_BYTES`), declared or actual; a
            compression ratio above `MAX_COMPRESSION_RATIO`; a CRC mismatch.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise KeyFileError(f"zip: expected bytes, got {type(data).__name__}")
    limits = {EXPORT_BIN: MAX_EXPORT_BIN_BYTES, EXPORT_SIG: MAX_EXPORT_SIG_BYTES}
    try:
        with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
            members = archive.infolist()
            names = [m.filename for m in members]
            unexpected = [n for n in names if n not in limits]
            if unexpected:
                raise KeyFileError(f"zip: unexpected member {unexpected[0]!r}")
            for name in limits:
                if names.count(name) != 1:
                    found = "missing" if name not in names else "repeated"
                    raise KeyFileError(f"zip: {name} is {found}")
            contents = {}
            for member in members:
                contents[member.filename] = _read_member(archive, member, limits[member.filename])
    except KeyFileError:
        raise
    except zipfile.BadZipFile as e:
        raise KeyFileError(f"zip: not a valid zip archive ({e})") from None
    except (zipfile.LargeZipFile, NotImplementedError, EOFError, OSError, ValueError) as e:
        raise KeyFileError(f"zip: cannot be read ({e})") from None
    return contents[EXPORT_BIN], contents[EXPORT_SIG]


def _read_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, limit: int) -> bytes:
    """A member's bytes, checked against its declared size, `limit` and the ratio bound."""
    name = member.filename
    if member.flag_bits & 0x1:
        raise KeyFileError(f"zip: {name} is encrypted")
    if member.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise KeyFileError(f"zip: {name} uses compression method {member.compress_type}")
    if member.file_size > limit:
        raise KeyFileError(f"zip: {name} declares {member.file_size} bytes, more than {limit}")
    if member.file_size > MAX_COMPRESSION_RATIO * max(member.compress_size, 1):
        raise KeyFileError(
            f"zip: {name} expands {member.compress_size} bytes to {member.file_size}, a ratio"
            f" above {MAX_COMPRESSION_RATIO}"
        )
    with archive.open(member) as stream:
        content = stream.read(limit + 1)  # bounded even if the declared size lies
    if len(content) != member.file_size:
        raise KeyFileError(
            f"zip: {name} holds {len(content)} bytes, not the {member.file_size} it declares"
        )
    return content
