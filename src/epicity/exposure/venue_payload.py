"""Venue check-ins' bytes: the QR code's payload and URL, location ids, protected warnings and
the warning package. Pure functions shared by the server (`epicity.exposure.venues`) and the
phone (`epicity.exposure.venue_client`); no database, web or CLI imports.

Modelled on the Corona-Warn-App's event registration (cwa-documentation
``event_registration.md``; cwa-server's ``internal/pt`` protocol buffers; cwa-app-android's
``CheckInCryptography``), with the same field numbers and derivations, so the bytes are the
ones a CWA client reads (the tests check CWA's published examples)::

    payload     = QRCodePayload{version 1, TraceLocation{description, address, event times},
                                CrowdNotifierData{seed: 16 random bytes}, vendor_data:
                                CWALocationData{type, default check-in length}}
    url         = https://<host>/c/v1#<base64url(payload), no padding>
    location id = SHA-256("CWA-GUID" || payload)          # known to whoever scanned the code
    id hash     = SHA-256(location id)                     # what a published warning shows

A warning says "a confirmed case was at this venue during these 10-minute intervals" as a
`CheckInProtectedReport`: the `CheckInRecord` (start interval, period, transmission risk
level) encrypted with AES-256-CBC (PKCS#7) under SHA-256("CWA-ENCRYPTION-KEY" || location id)
with a random IV, and authenticated by HMAC-SHA256 over IV || ciphertext under
SHA-256("CWA-MAC-KEY" || location id). Only a phone that scanned the venue's code can tell
when the case was there; everyone else sees a hash they cannot tie to a place and 16 opaque
bytes. `decoy_report` makes reports of the same shape about no venue at all, to pad packages.

A package (``export.bin`` of the published zip) is `PACKAGE_HEADER` followed by a
`TraceWarningPackage`; it is signed and zipped like a GAEN key export (`epicity.exposure.
keyfile`). Every decoder validates what it reads and raises `PayloadInvalid` naming the field.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from google.protobuf.message import DecodeError

from epicity.exposure import venues_pb2 as pb
from epicity.exposure.crypto import EN_INTERVAL_SECONDS

__all__ = [
    "ADDRESS_MAX",
    "CHECK_IN_MINUTES_MAX",
    "CHECK_IN_MINUTES_MIN",
    "DESCRIPTION_MAX",
    "EVENT_MAX_SECONDS",
    "MAX_PACKAGE_REPORTS",
    "MAX_PERIOD",
    "PACKAGE_HEADER",
    "PAYLOAD_MAX_BYTES",
    "PAYLOAD_VERSION",
    "SEED_LENGTH",
    "TEMPORARY_TYPES",
    "TRL_MAX",
    "TRL_MIN",
    "URL_PATH",
    "VENUE_TYPES",
    "PayloadInvalid",
    "ProtectedReport",
    "VenueData",
    "WarningPackage",
    "WarningWindow",
    "checkin_url",
    "decode_package",
    "decode_payload",
    "decoy_report",
    "decrypt_report",
    "encode_package",
    "encode_payload",
    "encrypt_report",
    "interval_number",
    "location_id",
    "location_id_hash",
    "payload_from_url",
    "window_intervals",
]

PAYLOAD_VERSION = 1
SEED_LENGTH = 16
DESCRIPTION_MAX = 100  # CWA's limits: what its app shows
ADDRESS_MAX = 100
# A default check-in length the host may set: CWA's app offers 15 min to 23 h 45; we take
# 10 min (one interval) to 24 h.
CHECK_IN_MINUTES_MIN = 10
CHECK_IN_MINUTES_MAX = 24 * 60
EVENT_MAX_SECONDS = 31 * 86400  # an event (temporary location) lasts at most a month
PAYLOAD_MAX_BYTES = 1024  # a QR code holds ~2.9 kB; ours are ~150 bytes
URL_PATH = "/c/v1"
TRL_MIN, TRL_MAX = 1, 8  # transmission risk levels, as in GAEN and CWA
MAX_PERIOD = 144  # a warning spans at most 24 hours of 10-minute intervals
MAX_PACKAGE_REPORTS = 100_000
PACKAGE_HEADER = b"TW Package v1   "  # 16 bytes, like GAEN's "EK Export v1    "
_CIPHER_BYTES = 16  # a CheckInRecord (at most 12 bytes) pads to one AES block
_MAX_INTERVAL = 0xFFFF_FFFF  # carried as uint32

# CWA's TraceLocationType, by the names the API uses (LOCATION_TYPE_ dropped, lower case).
VENUE_TYPES: dict[str, int] = {
    "permanent_other": pb.LOCATION_TYPE_PERMANENT_OTHER,
    "temporary_other": pb.LOCATION_TYPE_TEMPORARY_OTHER,
    "permanent_retail": pb.LOCATION_TYPE_PERMANENT_RETAIL,
    "permanent_food_service": pb.LOCATION_TYPE_PERMANENT_FOOD_SERVICE,
    "permanent_craft": pb.LOCATION_TYPE_PERMANENT_CRAFT,
    "permanent_workplace": pb.LOCATION_TYPE_PERMANENT_WORKPLACE,
    "permanent_educational_institution": pb.LOCATION_TYPE_PERMANENT_EDUCATIONAL_INSTITUTION,
    "permanent_public_building": pb.LOCATION_TYPE_PERMANENT_PUBLIC_BUILDING,
    "temporary_cultural_event": pb.LOCATION_TYPE_TEMPORARY_CULTURAL_EVENT,
    "temporary_club_activity": pb.LOCATION_TYPE_TEMPORARY_CLUB_ACTIVITY,
    "temporary_private_event": pb.LOCATION_TYPE_TEMPORARY_PRIVATE_EVENT,
    "temporary_worship_service": pb.LOCATION_TYPE_TEMPORARY_WORSHIP_SERVICE,
}
_TYPE_NAMES = {value: name for name, value in VENUE_TYPES.items()}
# Events (with a start and an end) are CWA's "temporary" locations.
TEMPORARY_TYPES = frozenset(name for name in VENUE_TYPES if name.startswith("temporary_"))

_GUID_PREFIX = b"CWA-GUID"
_ENCRYPTION_PREFIX = b"CWA-ENCRYPTION-KEY"
_MAC_PREFIX = b"CWA-MAC-KEY"
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class PayloadInvalid(ValueError):  # noqa: N818 (the name says what was refused)
    """Bytes, a URL or a value that is not a valid venue payload, report or package; `field`
    names what is wrong."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def _text(field: str, value: str, maximum: int) -> str:
    if not value or not value.strip():
        raise PayloadInvalid(field, "required")
    if value != value.strip():
        raise PayloadInvalid(field, "must not start or end with spaces")
    if len(value) > maximum:
        raise PayloadInvalid(field, f"at most {maximum} characters, got {len(value)}")
    if _CONTROL.search(value):
        raise PayloadInvalid(field, "must not contain control characters (line breaks, tabs)")
    return value


@dataclass(frozen=True)
class VenueData:
    """What a venue's QR code says: its text, type, event times (None for a permanent venue),
    default check-in length, random seed (and CrowdNotifier's key, empty in our codes)."""

    description: str
    address: str
    venue_type: str
    start: int | None  # UNIX seconds, events only
    end: int | None
    default_check_in_minutes: int
    seed: bytes
    public_key: bytes = b""

    def validate(self) -> None:
        """Raise `PayloadInvalid` naming the first field that is not valid."""
        _text("description", self.description, DESCRIPTION_MAX)
        _text("address", self.address, ADDRESS_MAX)
        if self.venue_type not in VENUE_TYPES:
            raise PayloadInvalid("type", f"unknown type {self.venue_type!r}")
        event = self.venue_type in TEMPORARY_TYPES
        if event and (self.start is None or self.end is None):
            raise PayloadInvalid("start", f"an event ({self.venue_type}) needs a start and an end")
        if not event and (self.start is not None or self.end is not None):
            raise PayloadInvalid(
                "start", f"a permanent venue ({self.venue_type}) has no start or end"
            )
        if self.start is not None and self.end is not None:
            if self.start <= 0:
                raise PayloadInvalid("start", "must be after 1970")
            if self.end <= self.start:
                raise PayloadInvalid("end", "must be after the start")
            if self.end - self.start > EVENT_MAX_SECONDS:
                raise PayloadInvalid("end", "an event lasts at most 31 days")
        if not CHECK_IN_MINUTES_MIN <= self.default_check_in_minutes <= CHECK_IN_MINUTES_MAX:
            raise PayloadInvalid(
                "default_check_in_minutes",
                f"must be {CHECK_IN_MINUTES_MIN} to {CHECK_IN_MINUTES_MAX}, got "
                f"{self.default_check_in_minutes}",
            )
        if len(self.seed) != SEED_LENGTH:
            raise PayloadInvalid("seed", f"must be {SEED_LENGTH} bytes, got {len(self.seed)}")

    @property
    def is_event(self) -> bool:
        """Whether this is an event (a temporary location with a start and an end)."""
        return self.venue_type in TEMPORARY_TYPES


def encode_payload(data: VenueData) -> bytes:
    """The serialized `QRCodePayload` of `data` (validated first)."""
    data.validate()
    vendor = pb.CWALocationData(
        version=PAYLOAD_VERSION,
        type=VENUE_TYPES[data.venue_type],  # type: ignore[arg-type]
        default_check_in_length_in_minutes=data.default_check_in_minutes,
    )
    message = pb.QRCodePayload(
        version=PAYLOAD_VERSION,
        location_data=pb.TraceLocation(
            version=PAYLOAD_VERSION,
            description=data.description,
            address=data.address,
            start_timestamp=data.start or 0,
            end_timestamp=data.end or 0,
        ),
        crowd_notifier_data=pb.CrowdNotifierData(
            version=PAYLOAD_VERSION, public_key=data.public_key, cryptographic_seed=data.seed
        ),
        vendor_data=vendor.SerializeToString(),
    )
    return message.SerializeToString()


def decode_payload(raw: bytes) -> VenueData:
    """The venue a payload describes, validated; `PayloadInvalid` names what is wrong."""
    if not raw:
        raise PayloadInvalid("payload", "empty")
    if len(raw) > PAYLOAD_MAX_BYTES:
        raise PayloadInvalid("payload", f"longer than {PAYLOAD_MAX_BYTES} bytes")
    try:
        message = pb.QRCodePayload.FromString(raw)
        vendor = pb.CWALocationData.FromString(message.vendor_data)
    except DecodeError:
        raise PayloadInvalid("payload", "not a QRCodePayload protocol buffer") from None
    if message.version != PAYLOAD_VERSION:
        raise PayloadInvalid("version", f"unsupported version {message.version}")
    if not message.HasField("location_data") or not message.HasField("crowd_notifier_data"):
        raise PayloadInvalid("payload", "missing the location or its seed")
    if vendor.version != PAYLOAD_VERSION:
        raise PayloadInvalid("vendor_data", f"unsupported version {vendor.version}")
    location = message.location_data
    type_name = _TYPE_NAMES.get(int(vendor.type))
    if type_name is None:
        raise PayloadInvalid("type", f"unknown or unspecified type {int(vendor.type)}")
    data = VenueData(
        description=location.description,
        address=location.address,
        venue_type=type_name,
        start=location.start_timestamp or None,
        end=location.end_timestamp or None,
        default_check_in_minutes=vendor.default_check_in_length_in_minutes,
        seed=message.crowd_notifier_data.cryptographic_seed,
        public_key=message.crowd_notifier_data.public_key,
    )
    data.validate()
    return data


def location_id(payload: bytes) -> bytes:
    """The venue's location id: SHA-256 of "CWA-GUID" and the payload's bytes as encoded."""
    return hashlib.sha256(_GUID_PREFIX + payload).digest()


def location_id_hash(venue_location_id: bytes) -> bytes:
    """SHA-256 of a location id: what a published warning carries."""
    if len(venue_location_id) != 32:
        raise PayloadInvalid("location_id", f"must be 32 bytes, got {len(venue_location_id)}")
    return hashlib.sha256(venue_location_id).digest()


def checkin_url(payload: bytes, host: str) -> str:
    """The URL a venue's QR code holds: ``https://<host>/c/v1#<base64url payload>``."""
    if not host or "/" in host or "#" in host or "?" in host or host != host.strip():
        raise PayloadInvalid("host", f"not a host name: {host!r}")
    encoded = base64.urlsafe_b64encode(payload).rstrip(b"=").decode("ascii")
    return f"https://{host}{URL_PATH}#{encoded}"


def payload_from_url(url: str, hosts: Iterable[str] | None = None) -> bytes:
    """The payload bytes in a check-in URL; `hosts` (if given) are the hosts accepted.

    Raises `PayloadInvalid` (field ``url``) for anything that is not exactly
    ``https://<host>/c/v1#<base64url>``: another scheme, host or path, a query, bad base64.
    """
    if len(url) > 4 * PAYLOAD_MAX_BYTES:
        raise PayloadInvalid("url", "too long for a check-in code")
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        raise PayloadInvalid("url", "not a URL") from None
    if parts.scheme != "https":
        raise PayloadInvalid("url", f"must be an https URL, got scheme {parts.scheme!r}")
    host = (parts.hostname or "").lower()
    if not host or parts.username or parts.password or parts.port:
        raise PayloadInvalid("url", "must name a plain host")
    allowed = None if hosts is None else {h.lower() for h in hosts}
    if allowed is not None and host not in allowed:
        raise PayloadInvalid("url", f"host {host!r} is not a check-in host of this app")
    if parts.path != URL_PATH or parts.query:
        raise PayloadInvalid("url", f"must be {URL_PATH}#<code> without a query")
    fragment = parts.fragment
    if not fragment or not _BASE64URL.fullmatch(fragment):
        raise PayloadInvalid("url", "the code after # must be base64url")
    try:
        raw = base64.urlsafe_b64decode(fragment + "=" * (-len(fragment) % 4))
    except (binascii.Error, ValueError):
        raise PayloadInvalid("url", "the code after # is not valid base64url") from None
    return raw


def interval_number(unix_seconds: int) -> int:
    """The 10-minute interval a UNIX time falls in (GAEN's ENIntervalNumber)."""
    if unix_seconds < 0:
        raise PayloadInvalid("time", "must not be before 1970")
    return unix_seconds // EN_INTERVAL_SECONDS


def window_intervals(start: int, end: int) -> tuple[int, int]:
    """(start interval, period) covering [start, end): start rounded down and end rounded up
    to 10-minute intervals. `PayloadInvalid` when end is not after start or the period would
    exceed `MAX_PERIOD` (24 hours)."""
    if end <= start:
        raise PayloadInvalid("end", "must be after the start")
    first = interval_number(start)
    last = -(-end // EN_INTERVAL_SECONDS)  # ceiling
    period = last - first
    if period > MAX_PERIOD:
        raise PayloadInvalid(
            "end", f"a warning spans at most 24 hours ({MAX_PERIOD} ten-minute intervals)"
        )
    return first, period


@dataclass(frozen=True)
class WarningWindow:
    """When a case was at a venue: `period` 10-minute intervals from `start_interval`, with
    the transmission risk level (1-8)."""

    start_interval: int
    period: int
    transmission_risk_level: int

    def validate(self) -> None:
        """Raise `PayloadInvalid` naming the first field out of range."""
        if not 0 < self.start_interval <= _MAX_INTERVAL:
            raise PayloadInvalid("start_interval_number", f"out of range: {self.start_interval}")
        if not 1 <= self.period <= MAX_PERIOD:
            raise PayloadInvalid("period", f"must be 1 to {MAX_PERIOD}, got {self.period}")
        if not TRL_MIN <= self.transmission_risk_level <= TRL_MAX:
            raise PayloadInvalid(
                "transmission_risk_level",
                f"must be {TRL_MIN} to {TRL_MAX}, got {self.transmission_risk_level}",
            )

    @property
    def start(self) -> int:
        """The window's first second (UNIX time)."""
        return self.start_interval * EN_INTERVAL_SECONDS

    @property
    def end(self) -> int:
        """The second after the window (UNIX time)."""
        return (self.start_interval + self.period) * EN_INTERVAL_SECONDS


@dataclass(frozen=True)
class ProtectedReport:
    """A published warning: the location id's hash, and the window encrypted so that only a
    phone holding the location id can read it."""

    location_id_hash: bytes  # 32
    iv: bytes  # 16
    encrypted_check_in_record: bytes  # 16
    mac: bytes  # 32


def _key(prefix: bytes, venue_location_id: bytes) -> bytes:
    return hashlib.sha256(prefix + venue_location_id).digest()


def _mac(mac_key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    return hmac.new(mac_key, iv + ciphertext, hashlib.sha256).digest()


def encrypt_report(
    venue_location_id: bytes,
    window: WarningWindow,
    iv: bytes | None = None,
    rng: Callable[[int], bytes] = os.urandom,
) -> ProtectedReport:
    """The protected report of `window` at the venue (a random IV unless one is given)."""
    window.validate()
    the_iv = rng(16) if iv is None else iv
    if len(the_iv) != 16:
        raise PayloadInvalid("iv", f"must be 16 bytes, got {len(the_iv)}")
    record = pb.CheckInRecord(
        start_interval_number=window.start_interval,
        period=window.period,
        transmission_risk_level=window.transmission_risk_level,
    ).SerializeToString()
    padder = padding.PKCS7(128).padder()
    padded = padder.update(record) + padder.finalize()
    encryptor = Cipher(
        algorithms.AES(_key(_ENCRYPTION_PREFIX, venue_location_id)), modes.CBC(the_iv)
    ).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    return ProtectedReport(
        location_id_hash=location_id_hash(venue_location_id),
        iv=the_iv,
        encrypted_check_in_record=ciphertext,
        mac=_mac(_key(_MAC_PREFIX, venue_location_id), the_iv, ciphertext),
    )


def decrypt_report(report: ProtectedReport, venue_location_id: bytes) -> WarningWindow:
    """The window of a report about the venue with `venue_location_id`; `PayloadInvalid`
    when the MAC does not verify (tampered, or another venue's) or the record is malformed."""
    expected = _mac(
        _key(_MAC_PREFIX, venue_location_id), report.iv, report.encrypted_check_in_record
    )
    if not hmac.compare_digest(expected, report.mac):
        raise PayloadInvalid("mac", "does not verify for this venue")
    if (
        len(report.iv) != 16
        or not report.encrypted_check_in_record
        or (len(report.encrypted_check_in_record) % 16)
    ):
        raise PayloadInvalid("encrypted_check_in_record", "not whole AES blocks")
    decryptor = Cipher(
        algorithms.AES(_key(_ENCRYPTION_PREFIX, venue_location_id)), modes.CBC(report.iv)
    ).decryptor()
    padded = decryptor.update(report.encrypted_check_in_record) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        record_bytes = unpadder.update(padded) + unpadder.finalize()
        record = pb.CheckInRecord.FromString(record_bytes)
    except (ValueError, DecodeError):
        raise PayloadInvalid("encrypted_check_in_record", "not a CheckInRecord") from None
    window = WarningWindow(
        record.start_interval_number, record.period, record.transmission_risk_level
    )
    window.validate()
    return window


def decoy_report(rng: Callable[[int], bytes] = os.urandom) -> ProtectedReport:
    """A report about no venue, the same size as a real one: random hash, IV, ciphertext and
    MAC. Without a venue's location id nobody can tell it from a real report."""
    return ProtectedReport(rng(32), rng(16), rng(_CIPHER_BYTES), rng(32))


@dataclass(frozen=True)
class WarningPackage:
    """One published file of warnings: made in hour `interval_number` (hours since the UNIX
    epoch) for `region`, holding protected reports (real ones and decoys, in random order)."""

    interval_number: int
    region: str
    reports: tuple[ProtectedReport, ...]


def encode_package(package: WarningPackage) -> bytes:
    """``export.bin`` of a package: `PACKAGE_HEADER` and the `TraceWarningPackage`."""
    if len(package.reports) > MAX_PACKAGE_REPORTS:
        raise PayloadInvalid("reports", f"at most {MAX_PACKAGE_REPORTS} in one package")
    message = pb.TraceWarningPackage(
        interval_number=package.interval_number,
        region=package.region,
        check_in_protected_reports=[
            pb.CheckInProtectedReport(
                location_id_hash=r.location_id_hash,
                iv=r.iv,
                encrypted_check_in_record=r.encrypted_check_in_record,
                mac=r.mac,
            )
            for r in package.reports
        ],
    )
    return PACKAGE_HEADER + message.SerializeToString()


def decode_package(data: bytes) -> WarningPackage:
    """The package in ``export.bin`` bytes; `PayloadInvalid` on a wrong header, a malformed
    protocol buffer, too many reports or fields of the wrong size."""
    if not data.startswith(PACKAGE_HEADER):
        raise PayloadInvalid("header", f"must start with {PACKAGE_HEADER!r}")
    try:
        message = pb.TraceWarningPackage.FromString(data[len(PACKAGE_HEADER) :])
    except DecodeError:
        raise PayloadInvalid("package", "not a TraceWarningPackage protocol buffer") from None
    if len(message.check_in_protected_reports) > MAX_PACKAGE_REPORTS:
        raise PayloadInvalid("reports", f"more than {MAX_PACKAGE_REPORTS}")
    reports = []
    for index, r in enumerate(message.check_in_protected_reports):
        sizes = (
            ("location_id_hash", r.location_id_hash, 32),
            ("iv", r.iv, 16),
            ("mac", r.mac, 32),
        )
        for name, value, size in sizes:
            if len(value) != size:
                raise PayloadInvalid(
                    f"reports[{index}].{name}", f"must be {size} bytes, got {len(value)}"
                )
        if not r.encrypted_check_in_record or len(r.encrypted_check_in_record) % 16:
            raise PayloadInvalid(
                f"reports[{index}].encrypted_check_in_record", "must be whole AES blocks"
            )
        reports.append(
            ProtectedReport(r.location_id_hash, r.iv, r.encrypted_check_in_record, r.mac)
        )
    return WarningPackage(message.interval_number, message.region, tuple(reports))
