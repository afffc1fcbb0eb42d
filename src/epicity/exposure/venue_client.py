"""What a phone does with venue QR codes: scan, check in and out, keep the check-ins on the
phone for 14 days, and match downloaded warnings against them.

Nothing here talks to the server at check-in: the QR code carries everything (the venue's
text, type, default check-in length and a random seed), so the server never learns who was
where. When warnings are published, the phone downloads the signed packages
(`read_package` verifies the signature), looks up each report's location-id hash among its
own check-ins, decrypts the ones that match with the location id only it (and anyone who
scanned the same code) knows, and reports the overlap in minutes::

    book = CheckInBook(hosts={"epicity.example"})
    venue = book.scan("https://epicity.example/c/v1#CAES...")
    visit = book.check_in(venue, at=1_700_000_000)          # auto check-out after the default
    book.check_out(visit.id, at=1_700_003_600)              # or leave earlier
    matches = book.match(read_package(zip_bytes, public_keys).reports)
    for m in matches:
        print(m.description, m.overlap_start, m.overlap_minutes)

Times are UNIX seconds or timezone-aware datetimes. Check-ins whose end is older than
`RETENTION_DAYS` are deleted whenever the book is used (`prune`); `dumps`/`loads` keep the
book in a local file between runs, never anywhere else.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field

from cryptography.hazmat.primitives.asymmetric import ec

from epicity.exposure import keyfile
from epicity.exposure.venue_payload import (
    PayloadInvalid,
    ProtectedReport,
    VenueData,
    WarningPackage,
    decode_package,
    decode_payload,
    decrypt_report,
    location_id,
    location_id_hash,
    payload_from_url,
)

__all__ = [
    "MAX_STAY_SECONDS",
    "RETENTION_DAYS",
    "CheckIn",
    "CheckInBook",
    "CheckInError",
    "ScannedVenue",
    "VenueMatch",
    "read_package",
    "scan",
]

RETENTION_DAYS = 14  # as CWA: check-ins older than the incubation window are no use
MAX_STAY_SECONDS = 24 * 3600  # a check-out more than a day after the check-in is refused
_DAY = 86400

Instant = int | dt.datetime


class CheckInError(ValueError):
    """A check-in or check-out the book refuses; the message names the field."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def _seconds(at: Instant, name: str) -> int:
    if isinstance(at, dt.datetime):
        if at.tzinfo is None or at.utcoffset() is None:
            raise CheckInError(name, "a datetime needs a time zone")
        return int(at.timestamp())
    if isinstance(at, bool) or not isinstance(at, int) or at < 0:
        raise CheckInError(name, f"must be UNIX seconds or an aware datetime, got {at!r}")
    return at


@dataclass(frozen=True)
class ScannedVenue:
    """A scanned QR code: its payload bytes, what they say, and the ids derived from them."""

    url: str
    payload: bytes
    data: VenueData
    location_id: bytes
    location_id_hash: bytes


def scan(url: str, hosts: Iterable[str] | None = None) -> ScannedVenue:
    """Decode and validate a check-in URL (`hosts`: the hosts the app accepts; None: any).

    Raises `PayloadInvalid` naming what is wrong (the URL's form, the payload's fields)."""
    payload = payload_from_url(url, hosts)
    data = decode_payload(payload)
    venue_id = location_id(payload)
    return ScannedVenue(url, payload, data, venue_id, location_id_hash(venue_id))


@dataclass
class CheckIn:
    """One visit on the phone: the venue (its ids and text) and when. `end` is the check-out
    the visitor made; until then the visit ends at `auto_end` (the default length)."""

    id: int
    location_id: bytes
    location_id_hash: bytes
    description: str
    address: str
    start: int
    auto_end: int
    end: int | None = None

    @property
    def effective_end(self) -> int:
        """When the visit ended: the check-out, else the automatic one."""
        return self.end if self.end is not None else self.auto_end


@dataclass(frozen=True)
class VenueMatch:
    """A warning that overlaps one of the phone's check-ins: where, the overlap (UNIX
    seconds) and its length in minutes, and the warning's transmission risk level."""

    check_in_id: int
    description: str
    address: str
    overlap_start: int
    overlap_end: int
    transmission_risk_level: int

    @property
    def overlap_minutes(self) -> float:
        """How long the visit and the case's presence overlapped."""
        return (self.overlap_end - self.overlap_start) / 60


@dataclass
class CheckInBook:
    """The phone's check-ins, kept locally only; `hosts` are the check-in hosts it accepts
    (None: any https host)."""

    hosts: frozenset[str] | None = None
    retention_days: int = RETENTION_DAYS
    _check_ins: dict[int, CheckIn] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def scan(self, url: str) -> ScannedVenue:
        """Decode a QR code's URL (see `scan`)."""
        return scan(url, self.hosts)

    def check_in(self, venue: ScannedVenue | str, at: Instant) -> CheckIn:
        """Check in at `venue` (scanned, or its URL) at `at`; the visit ends automatically
        after the venue's default length (for an event, at the latest when it ends).

        Refused (`CheckInError`) when the event has ended, or while an earlier visit to the
        same venue is still open."""
        scanned = self.scan(venue) if isinstance(venue, str) else venue
        start = _seconds(at, "at")
        self.prune(start)
        data = scanned.data
        auto_end = start + 60 * data.default_check_in_minutes
        if data.end is not None:
            if start >= data.end:
                raise CheckInError("at", "the event has ended")
            auto_end = min(auto_end, data.end)
        for c in self._check_ins.values():
            if c.location_id == scanned.location_id and c.start <= start < c.effective_end:
                raise CheckInError(
                    "venue", f"already checked in here (check-in {c.id}); check out first"
                )
        visit = CheckIn(
            id=next(self._ids),
            location_id=scanned.location_id,
            location_id_hash=scanned.location_id_hash,
            description=data.description,
            address=data.address,
            start=start,
            auto_end=auto_end,
        )
        self._check_ins[visit.id] = visit
        return visit

    def check_out(self, check_in_id: int, at: Instant) -> CheckIn:
        """Record that the visit ended at `at` (after its start, within `MAX_STAY_SECONDS`);
        the visitor's own time replaces the automatic one, earlier or later."""
        visit = self._check_ins.get(check_in_id)
        if visit is None:
            raise CheckInError("check_in_id", f"no check-in {check_in_id} on this phone")
        end = _seconds(at, "at")
        if end <= visit.start:
            raise CheckInError("at", "the check-out must be after the check-in")
        if end - visit.start > MAX_STAY_SECONDS:
            raise CheckInError("at", "a visit lasts at most 24 hours")
        visit.end = end
        return visit

    def check_ins(self) -> list[CheckIn]:
        """The check-ins kept, oldest first."""
        return sorted(self._check_ins.values(), key=lambda c: (c.start, c.id))

    def prune(self, now: Instant) -> int:
        """Delete check-ins that ended more than `retention_days` before `now`; how many."""
        cutoff = _seconds(now, "now") - self.retention_days * _DAY
        old = [i for i, c in self._check_ins.items() if c.effective_end < cutoff]
        for i in old:
            del self._check_ins[i]
        return len(old)

    def match(
        self,
        reports: Iterable[ProtectedReport | WarningPackage],
        now: Instant | None = None,
    ) -> list[VenueMatch]:
        """The warnings (reports, or whole packages) that overlap a check-in, with the
        overlap; ordered by check-in, then overlap start. Reports about venues the phone has
        not visited, or whose MAC does not verify, are skipped; an overlap must be longer
        than zero (touching windows do not match)."""
        if now is not None:
            self.prune(now)
        by_hash: dict[bytes, list[CheckIn]] = {}
        for c in self._check_ins.values():
            by_hash.setdefault(c.location_id_hash, []).append(c)
        found = []
        for item in reports:
            batch = item.reports if isinstance(item, WarningPackage) else (item,)
            for report in batch:
                visits = by_hash.get(report.location_id_hash)
                if not visits:
                    continue
                try:
                    window = decrypt_report(report, visits[0].location_id)
                except PayloadInvalid:
                    continue  # tampered, or a hash collision: not a warning for us
                for visit in visits:
                    start = max(visit.start, window.start)
                    end = min(visit.effective_end, window.end)
                    if end > start:
                        found.append(
                            VenueMatch(
                                visit.id,
                                visit.description,
                                visit.address,
                                start,
                                end,
                                window.transmission_risk_level,
                            )
                        )
        return sorted(found, key=lambda m: (m.check_in_id, m.overlap_start))

    def dumps(self) -> str:
        """The book as JSON, for the phone's local storage."""
        rows = []
        for c in self.check_ins():
            row = asdict(c)
            row["location_id"] = c.location_id.hex()
            row["location_id_hash"] = c.location_id_hash.hex()
            rows.append(row)
        hosts = sorted(self.hosts) if self.hosts is not None else None
        return json.dumps(
            {"version": 1, "hosts": hosts, "retention_days": self.retention_days, "check_ins": rows}
        )

    @classmethod
    def loads(cls, text: str) -> CheckInBook:
        """A book from `dumps`'s JSON."""
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("version") != 1:
            raise CheckInError("book", "not a check-in book of version 1")
        hosts = data.get("hosts")
        book = cls(
            hosts=frozenset(hosts) if hosts is not None else None,
            retention_days=int(data["retention_days"]),
        )
        for row in data["check_ins"]:
            visit = CheckIn(
                id=int(row["id"]),
                location_id=bytes.fromhex(row["location_id"]),
                location_id_hash=bytes.fromhex(row["location_id_hash"]),
                description=str(row["description"]),
                address=str(row["address"]),
                start=int(row["start"]),
                auto_end=int(row["auto_end"]),
                end=None if row["end"] is None else int(row["end"]),
            )
            book._check_ins[visit.id] = visit
        book._ids = itertools.count(max(book._check_ins, default=0) + 1)
        return book


def read_package(
    data: bytes, public_keys: Mapping[tuple[str, str], ec.EllipticCurvePublicKey]
) -> WarningPackage:
    """A downloaded package zip, its signature verified against `public_keys` (by key id and
    version, as `keyfile.verify_export`), decoded. Raises `keyfile.KeyFileError` (a bad zip,
    `SignatureError` when no key verifies) or `PayloadInvalid` (malformed content)."""
    export_bin, export_sig = keyfile.read_zip(data)
    keyfile.verify_export(export_bin, export_sig, public_keys)
    return decode_package(export_bin)
