"""Venue check-ins on the server: registering venues and events, their QR codes and posters,
investigators' warnings of a confirmed case's visit, their approval, and the signed packages
phones download. Plain functions over a session (they flush, the caller commits).

The design (docs/exposure/venues.md) follows the Corona-Warn-App's event registration, and
unlike Korea's 2020 electronic visitor logs (KI-Pass), which sent every visitor's identity to
a central log, **the server never learns who checked in**: check-ins stay on the phones
(`epicity.exposure.venue_client`). What the server knows is the registry of venues (what a
poster on the door shows anyway) and, when an investigator confirms that a case was at a
venue, the venue and the time. It publishes that as a `CheckInProtectedReport` that only
phones holding the venue's QR code can read::

    venue, token = register_venue(session, description="Cafe Haneul", address="12 Wausan-ro",
                                  venue_type="permanent_food_service", district="Mapo-gu",
                                  actor="public", now=now)
    url = checkin_url_of(venue, settings)           # printed as a QR code on the poster
    warning, _ = create_warning(session, case_id=7, venue_id=venue.id, start=t0, end=t1,
                                actor="kim", now=now)            # an investigator
    approve_warning(session, warning_id=warning.id, actor="park", now=now)  # a health officer
    package = publish_warnings(session, now=now, signer=signer, settings=settings)

Rules (each refusal a `VenueError` naming the field):

- Registration is open to the public (rate-limited per client by the web layer) and returns
  a management token once; only its SHA-256 is stored. Staff may register too, and only
  staff may link a venue to the city's ``place_id``. The district must be one of the city's.
- A warning needs a confirmed case (status not suspected or discarded, a confirmation date),
  a window that ends after it starts, lasts at most 24 hours (in whole 10-minute intervals),
  is not in the future, lies inside the case's infectious window
  (`epicity.tracing.service.infectious_window`) and overlaps the time the venue's code was in
  use (registered before the window ended, not ended before it began). The same case, venue
  and window twice is stored once.
- A health officer (``approve_warnings``) who did not create the warning approves or rejects
  it; approved warnings are published by `publish_warnings` (the command
  ``epicity exposure venue-warnings publish``, run hourly, or the API), padded with decoys to
  a multiple of `VenueSettings.package_pad` and shuffled, so a package shows neither which
  reports are real nor which belong to one case.
- Retention (`prune`): warnings and packages 14 days after the window ended; venues 14 days
  after they ended when no warning refers to them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import segno
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Delete, delete, exists, func, select, update
from sqlalchemy.orm import Session

from epicity.cases.models import Case
from epicity.city.districts import seoul_districts
from epicity.exposure import export_pb2, keyfile
from epicity.exposure.keyserver import _record_public_key  # B's: one rule for key ids
from epicity.exposure.settings import DEFAULT_REGION, REGION_PATTERN
from epicity.exposure.signing import Signer
from epicity.exposure.venue_errors import (
    VenueConflict,
    VenueForbidden,
    VenueInvalid,
    VenueNotFound,
)
from epicity.exposure.venue_models import (
    ACTOR_MAX,
    REASON_MAX,
    WARNING_STATUSES,
    Venue,
    VenuePackage,
    VenueWarning,
)
from epicity.exposure.venue_payload import (
    TRL_MAX,
    TRL_MIN,
    VENUE_TYPES,
    PayloadInvalid,
    VenueData,
    WarningPackage,
    WarningWindow,
    checkin_url,
    decoy_report,
    encode_package,
    encode_payload,
    encrypt_report,
    location_id,
    window_intervals,
)
from epicity.tracing.config import TracingConfig
from epicity.tracing.models import ConfirmationRow
from epicity.tracing.service import CaseInfo, TracingError, infectious_window

__all__ = [
    "DEFAULT_CHECKIN_HOST",
    "DEFAULT_CHECK_IN_MINUTES",
    "DEFAULT_TRL",
    "MAX_WINDOW",
    "QR_ERROR",
    "RETENTION",
    "TOKEN_PREFIX",
    "Suggestion",
    "VenueSettings",
    "approve_warning",
    "checkin_url_of",
    "create_warning",
    "district_name",
    "end_venue",
    "get_venue",
    "get_warning",
    "list_venues",
    "list_warnings",
    "package_data",
    "package_index",
    "prune",
    "publish_warnings",
    "qr_svg",
    "register_venue",
    "reject_warning",
    "set_place",
    "sign_package",
    "suggestions_for_case",
    "token_hash",
    "venue_for_place",
    "venue_json",
    "venue_with_token",
    "warning_json",
]

DEFAULT_CHECKIN_HOST = "epicity.example"  # set EPICITY_EXPOSURE_CHECKIN_HOST to the city's
DEFAULT_CHECK_IN_MINUTES = 120  # CWA's example; the host may choose 10 min to 24 h
# The default transmission risk level of a warning: the highest. An investigator confirmed
# the case was there inside its infectious window; an officer may lower it (outdoors, masks).
DEFAULT_TRL = TRL_MAX
MAX_WINDOW = dt.timedelta(hours=24)
RETENTION = dt.timedelta(days=14)  # as the key server and the phones
TOKEN_PREFIX = "venue_"
QR_ERROR = "m"  # error correction level M (15%): survives a smudged or creased poster
_CONFIRMED_AT_SOME_POINT = ("confirmed", "isolated", "recovered", "deceased")
_HOST = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+")
_TOKEN = re.compile(r"venue_[A-Za-z0-9_-]{32}")
_SECONDS_PER_HOUR = 3600
# Times the service accepts: after the epoch (payloads carry unsigned seconds) and far from
# datetime's limits (a window plus 14 days of retention must still be a datetime).
_EARLIEST = dt.datetime(1970, 1, 2, tzinfo=dt.UTC)
_LATEST = dt.datetime(9000, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class VenueSettings:
    """Venue check-ins' settings (environment, read by `from_env`):

    ==========================================  =============================================
    ``EPICITY_EXPOSURE_CHECKIN_HOST``           host in the QR codes' URLs (epicity.example)
    ``EPICITY_EXPOSURE_VENUE_REGISTRATIONS``    public registrations per client an hour (20;
                                                0: no limit), in each worker's memory
    ``EPICITY_EXPOSURE_VENUE_PAD``              reports in a package: padded with decoys to
                                                a multiple of this (10; 1: no decoys)
    ``EPICITY_EXPOSURE_REGIONS``                the first is the packages' region (KR-11)
    ==========================================  =============================================
    """

    checkin_host: str = DEFAULT_CHECKIN_HOST
    registrations_per_hour: int = 20
    package_pad: int = 10
    region: str = DEFAULT_REGION
    timezone: str = "Asia/Seoul"

    def __post_init__(self) -> None:
        if not _HOST.fullmatch(self.checkin_host):
            raise ValueError(f"checkin_host: {self.checkin_host!r} is not a lower-case host name")
        if self.registrations_per_hour < 0:
            raise ValueError("registrations_per_hour: must be >= 0")
        if not 1 <= self.package_pad <= 1000:
            raise ValueError("package_pad: must be 1 to 1000")
        if not REGION_PATTERN.fullmatch(self.region):
            raise ValueError(f"region: {self.region!r} is not an ISO 3166 code such as KR-11")
        ZoneInfo(self.timezone)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> VenueSettings:
        """The settings from the environment; `ValueError` names a malformed variable."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        if host := env.get("EPICITY_EXPOSURE_CHECKIN_HOST", "").strip():
            values["checkin_host"] = host.lower()
        for name, key in (
            ("EPICITY_EXPOSURE_VENUE_REGISTRATIONS", "registrations_per_hour"),
            ("EPICITY_EXPOSURE_VENUE_PAD", "package_pad"),
        ):
            raw = env.get(name, "").strip()
            if raw:
                try:
                    values[key] = int(raw)
                except ValueError:
                    raise ValueError(f"{name}: not a whole number: {raw[:40]!r}") from None
        if regions := env.get("EPICITY_EXPOSURE_REGIONS", "").strip():
            values["region"] = regions.split(",")[0].strip().upper()
        try:
            return cls(**values)
        except ValueError as err:
            raise ValueError(f"venue settings: {err}") from None


# -- helpers -----------------------------------------------------------------------------


def _actor(actor: str) -> str:
    who = (actor or "").strip()
    if not who:
        raise VenueInvalid("actor", "who does this is required")
    if len(who) > ACTOR_MAX:
        raise VenueInvalid("actor", f"longer than {ACTOR_MAX} characters")
    return who


def _aware(name: str, at: dt.datetime) -> dt.datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise VenueInvalid(name, f"{at.isoformat()} has no time zone; give an offset")
    try:
        utc = at.astimezone(dt.UTC)
    except OverflowError:
        raise VenueInvalid(name, "out of range") from None
    if not _EARLIEST <= utc <= _LATEST:
        raise VenueInvalid(name, f"must be between {_EARLIEST.year} and {_LATEST.year}")
    return utc


def _epoch(at: dt.datetime) -> int:
    return int(at.timestamp())


def _instant(epoch: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


def token_hash(token: str) -> str:
    """The stored form of a management token: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def district_name(district: str) -> str:
    """The city's district named `district` (English, any case, or Korean), as stored (the
    English name); `VenueInvalid` for a name that is not one of the city's districts."""
    wanted = (district or "").strip()
    for d in seoul_districts():
        if wanted.lower() == d.name.lower() or wanted == d.name_ko:
            return d.name
    raise VenueInvalid(
        "district",
        f"{wanted[:40]!r} is not a district of the city (e.g. Mapo-gu or 마포구)",
    )


# -- venues --------------------------------------------------------------------------------


def register_venue(
    session: Session,
    *,
    description: str,
    address: str,
    venue_type: str,
    district: str,
    actor: str,
    now: dt.datetime,
    staff: bool = False,
    place_id: int | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    default_check_in_minutes: int | None = None,
    rng: Callable[[int], bytes] = os.urandom,
) -> tuple[Venue, str]:
    """Register a venue (or, with a temporary type, an event from `start` to `end`) and
    create its QR payload with a fresh 16-byte seed (flushes). Returns the venue and its
    management token, shown only now. `staff` callers may give the city's `place_id`."""
    who = _actor(actor)
    when = _aware("now", now)
    if venue_type not in VENUE_TYPES:
        raise VenueInvalid("type", f"unknown type {venue_type!r}; one of {', '.join(VENUE_TYPES)}")
    the_district = district_name(district)
    if place_id is not None:
        if not staff:
            raise VenueForbidden("place_id", "only staff link a venue to a place of the city")
        if not 0 <= place_id < 2**63:
            raise VenueInvalid("place_id", "out of range")
    starts = _aware("start", start) if start is not None else None
    ends = _aware("end", end) if end is not None else None
    if ends is not None and ends <= when:
        raise VenueInvalid("end", "the event has ended already")
    minutes = (
        DEFAULT_CHECK_IN_MINUTES if default_check_in_minutes is None else (default_check_in_minutes)
    )
    data = VenueData(
        description=(description or "").strip(),
        address=(address or "").strip(),
        venue_type=venue_type,
        start=_epoch(starts) if starts is not None else None,
        end=_epoch(ends) if ends is not None else None,
        default_check_in_minutes=minutes,
        seed=rng(16),
    )
    try:
        payload = encode_payload(data)
    except PayloadInvalid as err:
        raise VenueInvalid(err.field, err.problem) from None
    token = TOKEN_PREFIX + secrets.token_urlsafe(24)
    venue = Venue(
        description=data.description,
        address=data.address,
        venue_type=venue_type,
        district=the_district,
        place_id=place_id,
        starts_at=starts,
        ends_at=ends,
        default_check_in_minutes=minutes,
        payload=payload,
        token_hash=token_hash(token),
        registered_by=who,
        created_at=when,
        ended_at=None,
    )
    session.add(venue)
    session.flush()
    return venue, token


def get_venue(session: Session, *, venue_id: int) -> Venue:
    """The venue with `venue_id`; `VenueNotFound` otherwise."""
    venue = session.get(Venue, venue_id)
    if venue is None:
        raise VenueNotFound("venue_id", f"no venue {venue_id}")
    return venue


def venue_with_token(session: Session, *, venue_id: int, token: str) -> Venue:
    """The venue, if `token` is its management token (compared in constant time);
    `VenueForbidden` otherwise (a token of another venue, or none valid)."""
    venue = get_venue(session, venue_id=venue_id)
    if not _TOKEN.fullmatch(token or "") or not secrets.compare_digest(
        token_hash(token), venue.token_hash
    ):
        raise VenueForbidden("token", f"not the management token of venue {venue_id}")
    return venue


def list_venues(
    session: Session,
    *,
    district: str | None = None,
    place_id: int | None = None,
    q: str | None = None,
    active_at: dt.datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[Venue], int]:
    """Venues (newest first) filtered by district, place id, words of the description or
    address, and in use at `active_at`; and how many match in all."""
    query = select(Venue)
    if district is not None:
        query = query.where(Venue.district == district_name(district))
    if place_id is not None:
        query = query.where(Venue.place_id == place_id)
    if q is not None and q.strip():
        for word in q.split()[:5]:
            pattern = "%" + word.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_") + "%"
            query = query.where(
                Venue.description.ilike(pattern, escape="\\")
                | Venue.address.ilike(pattern, escape="\\")
            )
    if active_at is not None:
        at = _aware("active_at", active_at)
        query = query.where(
            Venue.created_at <= at,
            (Venue.ended_at.is_(None)) | (Venue.ended_at > at),
            (Venue.ends_at.is_(None)) | (Venue.ends_at > at),
        )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(Venue.created_at.desc(), Venue.id.desc()).limit(limit).offset(offset)
    )
    return list(rows), int(total)


def end_venue(session: Session, *, venue_id: int, now: dt.datetime) -> Venue:
    """End a venue's code (an event called off or over early, a poster withdrawn): no
    warning is accepted for time after this. Ending an ended venue changes nothing."""
    venue = get_venue(session, venue_id=venue_id)
    if venue.ended_at is None:
        venue.ended_at = _aware("now", now)
        session.flush()
    return venue


def set_place(session: Session, *, venue_id: int, place_id: int | None) -> Venue:
    """Link a venue to the city's place `place_id` (None: unlink); staff only (the web layer
    checks). Flushes."""
    venue = get_venue(session, venue_id=venue_id)
    if place_id is not None and not 0 <= place_id < 2**63:
        raise VenueInvalid("place_id", "out of range")
    venue.place_id = place_id
    session.flush()
    return venue


def venue_for_place(session: Session, place_id: int, at: dt.datetime | None = None) -> Venue | None:
    """The registered venue at the city's place `place_id` (the newest, and with `at` one
    whose code was in use then), or None: what an investigator's confirmed stay at that place
    (`epicity.tracing.investigations.confirm_stay` with a ``place_id``) can be warned as."""
    found, _ = list_venues(session, place_id=place_id, active_at=at, limit=1)
    return found[0] if found else None


def checkin_url_of(venue: Venue, settings: VenueSettings) -> str:
    """The URL in the venue's QR code, on the configured check-in host."""
    return checkin_url(venue.payload, settings.checkin_host)


def qr_svg(url: str, *, scale: int = 8, border: int = 4) -> str:
    """The QR code of `url` as inline SVG (segno, error correction M, the 4-module quiet zone
    QR readers need), for the poster: sized by a viewBox, so the page's CSS scales it whole."""
    code = segno.make(url, error=QR_ERROR, micro=False)
    return str(code.svg_inline(scale=scale, border=border, omitsize=True))


def _iso(at: dt.datetime | None, tz: ZoneInfo) -> str | None:
    return at.astimezone(tz).isoformat() if at is not None else None


def venue_json(venue: Venue, settings: VenueSettings) -> dict[str, Any]:
    """A venue as the API shows it (to staff or its owner): never its token or seed."""
    tz = ZoneInfo(settings.timezone)
    return {
        "id": venue.id,
        "description": venue.description,
        "address": venue.address,
        "type": venue.venue_type,
        "district": venue.district,
        "place_id": venue.place_id,
        "start": _iso(venue.starts_at, tz),
        "end": _iso(venue.ends_at, tz),
        "default_check_in_minutes": venue.default_check_in_minutes,
        "checkin_url": checkin_url_of(venue, settings),
        "poster_url": f"/venues/{venue.id}/poster",
        "registered_by": venue.registered_by,
        "created_at": _iso(venue.created_at, tz),
        "ended_at": _iso(venue.ended_at, tz),
    }


# -- warnings ------------------------------------------------------------------------------


def _confirmed_case(session: Session, case_id: int) -> Case:
    case = session.get(Case, case_id)
    if case is None:
        raise VenueInvalid("case_id", f"no case {case_id}")
    if case.status not in _CONFIRMED_AT_SOME_POINT or case.confirmed_date is None:
        raise VenueInvalid(
            "case_id",
            f"case {case_id} is not a confirmed case (status {case.status}); only a confirmed "
            "case's visit is warned of",
        )
    return case


def _case_window(case: Case, timezone: str) -> tuple[int, int]:
    assert case.confirmed_date is not None
    info = CaseInfo(case.person_id or 0, case.symptom_onset, case.test_date, case.confirmed_date)
    try:
        start, end, _ = infectious_window(info, ZoneInfo(timezone), TracingConfig())
    except TracingError as err:
        raise VenueInvalid("case_id", str(err)) from None
    except (OverflowError, ValueError):  # dates at the calendar's ends
        raise VenueInvalid("case_id", f"case {case.id}'s dates give no infectious window") from None
    return start, end


def create_warning(
    session: Session,
    *,
    case_id: int,
    venue_id: int,
    start: dt.datetime,
    end: dt.datetime,
    actor: str,
    now: dt.datetime,
    transmission_risk_level: int | None = None,
    timezone: str = "Asia/Seoul",
) -> tuple[VenueWarning, bool]:
    """Record that confirmed case `case_id` was at venue `venue_id` from `start` to `end`
    (flushes); the warning waits for approval. Returns it and whether it is new (the same
    case, venue and window in 10-minute intervals give the stored one back)."""
    who = _actor(actor)
    when = _aware("now", now)
    starts, ends = _aware("start", start), _aware("end", end)
    if ends <= starts:
        raise VenueInvalid("end", "must be after the start")
    if ends - starts > MAX_WINDOW:
        raise VenueInvalid("end", "a warning covers at most 24 hours")
    if ends > when:
        raise VenueInvalid("end", "is in the future: warn of a visit that has happened")
    trl = DEFAULT_TRL if transmission_risk_level is None else transmission_risk_level
    if not TRL_MIN <= trl <= TRL_MAX:
        raise VenueInvalid("transmission_risk_level", f"must be {TRL_MIN} to {TRL_MAX}")
    venue = session.get(Venue, venue_id)
    if venue is None:
        raise VenueInvalid("venue_id", f"no venue {venue_id}")
    case = _confirmed_case(session, case_id)
    window_start, window_end = _case_window(case, timezone)
    tz = ZoneInfo(timezone)
    if _epoch(starts) < window_start or _epoch(ends) > window_end:
        raise VenueInvalid(
            "start",
            f"the visit must lie in case {case_id}'s infectious window, "
            f"{_instant(window_start).astimezone(tz).isoformat()} to "
            f"{_instant(window_end).astimezone(tz).isoformat()}",
        )
    if venue.created_at >= ends:
        raise VenueConflict(
            "venue_id",
            f"venue {venue_id} was registered at "
            f"{venue.created_at.astimezone(tz).isoformat()}, after this visit: nobody can have "
            "checked in with its code",
        )
    closed = min((t for t in (venue.ended_at, venue.ends_at) if t is not None), default=None)
    if closed is not None and closed <= starts:
        raise VenueConflict(
            "venue_id",
            f"venue {venue_id}'s code was out of use from {closed.astimezone(tz).isoformat()}, "
            "before this visit",
        )
    try:
        first, period = window_intervals(_epoch(starts), _epoch(ends))
    except PayloadInvalid as err:
        raise VenueInvalid(err.field, err.problem) from None
    existing = session.scalar(
        select(VenueWarning).where(
            VenueWarning.venue_id == venue.id,
            VenueWarning.case_id == case.id,
            VenueWarning.start_interval == first,
            VenueWarning.period == period,
        )
    )
    if existing is not None:
        return existing, False
    warning = VenueWarning(
        venue_id=venue.id,
        case_id=case.id,
        starts_at=starts,
        ends_at=ends,
        start_interval=first,
        period=period,
        transmission_risk_level=trl,
        status="pending",
        created_by=who,
        created_at=when,
        decided_by=None,
        decided_at=None,
        reason="",
        package_id=None,
        expires_at=ends + RETENTION,
    )
    session.add(warning)
    session.flush()
    return warning, True


def get_warning(session: Session, *, warning_id: int) -> VenueWarning:
    """The warning with `warning_id`; `VenueNotFound` otherwise."""
    warning = session.get(VenueWarning, warning_id)
    if warning is None:
        raise VenueNotFound("warning_id", f"no venue warning {warning_id}")
    return warning


def _decide(
    session: Session, warning_id: int, actor: str, now: dt.datetime, status: str, reason: str
) -> VenueWarning:
    who = _actor(actor)
    warning = get_warning(session, warning_id=warning_id)
    if warning.status == status:
        return warning  # deciding the same twice changes nothing
    if warning.status != "pending":
        raise VenueConflict("warning_id", f"warning {warning_id} is {warning.status} already")
    if who == warning.created_by:
        raise VenueForbidden(
            "actor", "a warning is approved or rejected by another officer than its author"
        )
    if len(reason) > REASON_MAX:
        raise VenueInvalid("reason", f"at most {REASON_MAX} characters")
    warning.status = status
    warning.decided_by = who
    warning.decided_at = _aware("now", now)
    warning.reason = reason.strip()
    session.flush()
    return warning


def approve_warning(
    session: Session, *, warning_id: int, actor: str, now: dt.datetime
) -> VenueWarning:
    """Approve a pending warning for publication (flushes); approving it again changes
    nothing. The approver must not be its author (`VenueForbidden`)."""
    return _decide(session, warning_id, actor, now, "approved", "")


def reject_warning(
    session: Session, *, warning_id: int, actor: str, now: dt.datetime, reason: str = ""
) -> VenueWarning:
    """Reject a pending warning: it is never published (flushes)."""
    return _decide(session, warning_id, actor, now, "rejected", reason)


def list_warnings(
    session: Session,
    *,
    status: str | None = None,
    case_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[VenueWarning]:
    """Warnings, newest first, by status and case."""
    if status is not None and status not in WARNING_STATUSES:
        raise VenueInvalid("status", f"one of {', '.join(WARNING_STATUSES)}")
    query = select(VenueWarning)
    if status is not None:
        query = query.where(VenueWarning.status == status)
    if case_id is not None:
        query = query.where(VenueWarning.case_id == case_id)
    query = query.order_by(VenueWarning.created_at.desc(), VenueWarning.id.desc())
    return list(session.scalars(query.limit(limit).offset(offset)))


def warning_json(warning: VenueWarning, venue: Venue, timezone: str) -> dict[str, Any]:
    """A warning as staff see it (with the case and venue; never published like this)."""
    tz = ZoneInfo(timezone)
    return {
        "id": warning.id,
        "case_id": warning.case_id,
        "venue": {"id": venue.id, "description": venue.description, "district": venue.district},
        "start": _iso(warning.starts_at, tz),
        "end": _iso(warning.ends_at, tz),
        "published_window": {
            "start": _iso(_instant(warning.start_interval * 600), tz),
            "end": _iso(_instant((warning.start_interval + warning.period) * 600), tz),
        },
        "transmission_risk_level": warning.transmission_risk_level,
        "status": warning.status,
        "created_by": warning.created_by,
        "created_at": _iso(warning.created_at, tz),
        "decided_by": warning.decided_by,
        "decided_at": _iso(warning.decided_at, tz),
        "reason": warning.reason,
    }


@dataclass(frozen=True)
class Suggestion:
    """A confirmed stay of a case at a registered venue, not warned of yet: what the
    investigator may turn into a warning."""

    confirmation_id: int
    venue: Venue
    start: dt.datetime
    end: dt.datetime


def suggestions_for_case(session: Session, *, case_id: int) -> list[Suggestion]:
    """The case's confirmed stays (investigators' confirmations with a place and both times,
    added or corrected) at places that are registered venues, whose code was in use then and
    that have no warning for the case yet. Tracing itself is not changed: nothing is warned
    until an investigator creates the warning."""
    case = session.get(Case, case_id)
    if case is None:
        raise VenueNotFound("case_id", f"no case {case_id}")
    if case.person_id is None:
        return []
    rows = session.scalars(
        select(ConfirmationRow)
        .where(
            ConfirmationRow.case_id == case.person_id,
            ConfirmationRow.action.in_(("add", "correct")),
            ConfirmationRow.place_id.is_not(None),
            ConfirmationRow.starts_at.is_not(None),
            ConfirmationRow.ends_at.is_not(None),
        )
        .order_by(ConfirmationRow.id)
    )
    found = []
    for row in rows:
        assert row.place_id is not None
        assert row.starts_at is not None
        assert row.ends_at is not None
        venue = venue_for_place(session, row.place_id, at=row.starts_at)
        if venue is None:
            continue
        warned = session.scalar(
            select(
                exists().where(
                    VenueWarning.venue_id == venue.id,
                    VenueWarning.case_id == case.id,
                    VenueWarning.starts_at < row.ends_at,
                    VenueWarning.ends_at > row.starts_at,
                )
            )
        )
        if not warned:
            found.append(Suggestion(row.id, venue, row.starts_at, row.ends_at))
    return found


# -- packages ------------------------------------------------------------------------------


def publish_warnings(
    session: Session,
    *,
    now: dt.datetime,
    signer: Signer,
    settings: VenueSettings,
    rng: Callable[[int], bytes] = os.urandom,
) -> VenuePackage | None:
    """Publish every approved warning not yet published (and not expired) as one signed
    package (flushes); None when there is none. The package holds one protected report per
    warning and random decoys up to a multiple of `settings.package_pad`, in random order;
    it carries no case, venue name or id, and nothing that tells two reports of one case."""
    when = _aware("now", now)
    ready = list(
        session.scalars(
            select(VenueWarning)
            .where(VenueWarning.status == "approved", VenueWarning.expires_at > when)
            .order_by(VenueWarning.id)
            .with_for_update()
        )
    )
    if not ready:
        return None
    venues = {
        v.id: v
        for v in session.scalars(select(Venue).where(Venue.id.in_({w.venue_id for w in ready})))
    }
    reports = [
        encrypt_report(
            location_id(venues[w.venue_id].payload),
            WarningWindow(w.start_interval, w.period, w.transmission_risk_level),
            rng=rng,
        )
        for w in ready
    ]
    pad = settings.package_pad
    reports += [decoy_report(rng) for _ in range(-len(reports) % pad)]
    _shuffle(reports, rng)
    hour = _epoch(when) // _SECONDS_PER_HOUR
    export_bin = encode_package(WarningPackage(hour, settings.region, tuple(reports)))
    data = keyfile.write_zip(export_bin, sign_package(export_bin, signer))
    _record_public_key(session, signer, when)
    same_hour = (
        session.scalar(select(func.count()).where(VenuePackage.interval_number == hour)) or 0
    )
    package = VenuePackage(
        name=f"{hour}-{same_hour + 1}",
        interval_number=hour,
        region=settings.region,
        report_count=len(reports),
        sha256=hashlib.sha256(data).hexdigest(),
        data=data,
        created_at=when,
        expires_at=max(w.expires_at for w in ready),
    )
    session.add(package)
    session.flush()
    session.execute(
        update(VenueWarning)
        .where(VenueWarning.id.in_([w.id for w in ready]))
        .values(status="published", package_id=package.id)
    )
    session.flush()
    return package


def sign_package(export_bin: bytes, signer: Signer) -> bytes:
    """``export.sig`` of a package: a ``TEKSignatureList`` with one ECDSA P-256 / SHA-256
    signature over the whole of ``export.bin``, exactly as `keyfile.sign_export` makes for a
    key export (which accepts only key exports' header), so `keyfile.verify_export` checks
    both with the key server's public keys."""
    if signer.info.signature_algorithm != keyfile.ALGORITHM_ECDSA_SHA256:
        raise ValueError(
            f"signer: packages are signed with ECDSA P-256 / SHA-256 "
            f"({keyfile.ALGORITHM_ECDSA_SHA256}), not {signer.info.signature_algorithm}"
        )
    signature = signer.private_key.sign(export_bin, ec.ECDSA(hashes.SHA256()))
    signatures = export_pb2.TEKSignatureList()
    entry = signatures.signatures.add()
    entry.signature_info.verification_key_version = signer.info.verification_key_version
    entry.signature_info.verification_key_id = signer.info.verification_key_id
    entry.signature_info.signature_algorithm = signer.info.signature_algorithm
    entry.batch_num = 1
    entry.batch_size = 1
    entry.signature = signature
    return signatures.SerializeToString(deterministic=True)


def _shuffle(items: list[Any], rng: Callable[[int], bytes]) -> None:
    """Fisher-Yates with `rng`'s bytes (the order must not show which reports are real)."""
    for i in range(len(items) - 1, 0, -1):
        j = int.from_bytes(rng(8), "big") % (i + 1)
        items[i], items[j] = items[j], items[i]


def package_index(session: Session) -> list[str]:
    """The published packages' file names (``<name>.zip``), oldest first."""
    names = session.scalars(
        select(VenuePackage.name).order_by(VenuePackage.created_at, VenuePackage.id)
    )
    return [f"{name}.zip" for name in names]


def package_data(session: Session, *, name: str) -> VenuePackage:
    """The package called `name` (without ``.zip``); `VenueNotFound` otherwise."""
    package = session.scalar(select(VenuePackage).where(VenuePackage.name == name))
    if package is None:
        raise VenueNotFound("name", f"no package {name[:40]!r}")
    return package


def prune(session: Session, *, now: dt.datetime) -> dict[str, int]:
    """Delete what is past retention (flushes): warnings whose window ended 14 days ago
    (whatever their status), packages whose every window did, and venues ended 14 days ago
    that no warning refers to. Returns how many of each."""
    when = _aware("now", now)
    warnings = _deleted(session, delete(VenueWarning).where(VenueWarning.expires_at <= when))
    referenced = select(VenueWarning.id).where(VenueWarning.package_id == VenuePackage.id)
    packages = _deleted(
        session, delete(VenuePackage).where(VenuePackage.expires_at <= when, ~exists(referenced))
    )
    cutoff = when - RETENTION
    in_use = select(VenueWarning.id).where(VenueWarning.venue_id == Venue.id)
    venues = _deleted(
        session,
        delete(Venue).where(
            ((Venue.ended_at <= cutoff) | (Venue.ends_at <= cutoff)), ~exists(in_use)
        ),
    )
    session.flush()
    return {"warnings": warnings, "packages": packages, "venues": venues}


def _deleted(session: Session, statement: Delete) -> int:
    """Run a DELETE; how many rows it removed."""
    return int(getattr(session.execute(statement), "rowcount", 0) or 0)
