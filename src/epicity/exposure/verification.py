"""Verification: a one-time code with a positive result, exchanged for an upload token.

Modelled on exposure-notifications-verification-server (codes issued by the health
authority, exchanged by the app for a token) and Corona-Warn-App's teleTAN.

Flow
----
1. A positive screening result (`epicity.screening.service`) calls `issue_code`: a random
   12-digit code goes to the person in the result message (the outbox); the key server
   stores only the code's keyed hash, what it vouches for (report type ``confirmed``, the
   test date, the symptom onset when known) and its expiry. No person id, case or barcode.
2. The app sends the code to ``POST /api/v1/exposure/verify`` (`exchange_code`): an unused,
   unexpired code is marked used and exchanged for an upload token (random, 256 bits, stored
   as its SHA-256, valid `ExposureSettings.token_lifetime`, 60 minutes by default), which
   carries the code's claims but no reference to the code.
3. The app publishes its keys with the token (`epicity.exposure.keyserver.publish`); the
   upload consumes (deletes) the token in the same transaction that stores the keys.

The code
--------
12 decimal digits (``4821 3390 1275``; spaces and hyphens are ignored when typed): digits
because it is read from an SMS and typed on a phone's keypad. Length from the brute-force
odds under the rate limits below: with L live codes, each guess hits with probability
L / 10^12; the global limit allows at most G = 3,600 failed guesses an hour (86,400 a day),
so a sustained attack succeeds with probability about 86,400 x L / 10^12 a day: with
10,000 live codes (a day of a large wave's positives, each valid 24 h) 0.09% a day, one
success in about 3 years of continuous attack at the full rate, while the failures show in
``epicity exposure stats``. A 10-digit code (CWA's teleTAN length) would give 8.6% a day at
the same limit. Codes are valid `ExposureSettings.code_lifetime` (24 h): the result message
may be read hours after it is sent, and exposure-notifications-server gives its long codes
24 h (its 8-digit SMS codes 15 minutes).

Stored hash: HMAC-SHA256 keyed by ``EPICITY_EXPOSURE_CODE_SECRET``
------------------------------------------------------------------
The app sends only the code, so the stored form must be found by an index from the code
alone: no per-code salt, and a slow hash (argon2) would not help: 10^12 codes take 10^12
argon2 runs to search either way, and it would cost every verification attempt ~50 ms and
64 MB, a lever for denial of service. What protects the codes in a stolen database is a key
kept outside it: with the secret set, a dump of ``exposure_verification_codes`` alone cannot
be searched for live codes (without it, 10^12 SHA-256 take minutes on a GPU). Without the
secret a public key is used (the hash is then a salted SHA-256) and the docs say to set it.

Rate limits
-----------
- Per client address: every attempt takes a token from the address's bucket (20 an hour by
  default, `TokenBuckets` of the open API). In each worker's memory: N workers allow N times
  as much; behind a proxy, run uvicorn with ``--proxy-headers`` so the address is the
  client's. Mobile carriers put many phones behind one address, hence a generous figure.
- Globally: failed attempts are rows in ``exposure_verify_failures`` (time only), counted
  over the last hour by every worker; past `ExposureSettings.verify_failures_per_hour` every
  attempt gets 429 until the oldest failure is an hour old. This is the limit the odds above
  rest on, whatever the number of workers or addresses. The price: an attacker can hold
  verification shut for everyone while attacking (codes stay valid 24 h to ride that out).

Refusals
--------
A well-formed code that is unknown or used already gets the same answer (``code: not valid
(unknown, or used already)``), so a guesser cannot tell a used code from one that never
existed; an expired code is told so (only a real code can be expired, but it is useless and
the person learns to ask for a new one). A malformed code (not 12 digits) is refused with 422
before any lookup and not counted as a guess: it cannot hit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, delete, func, select, update
from sqlalchemy.orm import Session

from epicity.exposure.errors import CodeRefused, ExposureInvalid, RateLimited, TokenInvalid
from epicity.exposure.models import (
    REPORT_TYPES,
    DailyStats,
    UploadToken,
    VerificationCode,
    VerifyFailure,
)
from epicity.exposure.settings import ExposureSettings
from epicity.opendata.api_edge import Allowance, TokenBuckets

__all__ = [
    "CODE_DIGITS",
    "TOKEN_PREFIX",
    "ClientLimiter",
    "IssuedCode",
    "IssuedToken",
    "authenticate_token",
    "bump_stats",
    "consume_token",
    "exchange_code",
    "format_code",
    "hash_code",
    "hash_token",
    "issue_code",
    "looks_like_token",
    "normalise_code",
    "note_refused_upload",
]

CODE_DIGITS = 12
TOKEN_PREFIX = "enu_"  # exposure notification upload
_TOKEN_BYTES = 32
_TOKEN_RE = re.compile(r"enu_[A-Za-z0-9_-]{43}")
_SEPARATORS = re.compile(r"[\s-]+")
FAILURE_WINDOW = dt.timedelta(hours=1)
_COUNTERS = ("codes_issued", "codes_used", "verify_failures", "uploads", "keys_published")


@dataclass(frozen=True)
class IssuedCode:
    """A code just issued: the code itself (for the person's message only) and its expiry."""

    code: str
    expires_at: dt.datetime
    report_type: str

    @property
    def display(self) -> str:
        """The code in groups of four, as the message shows it."""
        return format_code(self.code)


@dataclass(frozen=True)
class IssuedToken:
    """An upload token just issued (the secret is in this answer only) and its claims."""

    token: str
    expires_at: dt.datetime
    report_type: str
    test_date: dt.date
    symptom_onset: dt.date | None


def _aware(now: dt.datetime) -> dt.datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ExposureInvalid("now", "give an aware time (with a zone)")
    return now.astimezone(dt.UTC)


def _settings(settings: ExposureSettings | None) -> ExposureSettings:
    return settings if settings is not None else ExposureSettings.from_env()


def format_code(code: str) -> str:
    """``482133901275`` as ``4821 3390 1275``."""
    return " ".join(code[i : i + 4] for i in range(0, len(code), 4))


def normalise_code(text: object) -> str:
    """The 12 digits of a typed code (spaces and hyphens dropped), or `ExposureInvalid`."""
    if not isinstance(text, str):
        raise ExposureInvalid("code", "must be a string of 12 digits")
    digits = _SEPARATORS.sub("", text)
    if not (len(digits) == CODE_DIGITS and digits.isascii() and digits.isdigit()):
        raise ExposureInvalid("code", f"must be {CODE_DIGITS} digits, e.g. 4821 3390 1275")
    return digits


def hash_code(code: str, key: bytes) -> str:
    """HMAC-SHA256 of the code's digits under `key`, 64 hex digits (what is stored)."""
    return hmac.new(key, code.encode("ascii"), hashlib.sha256).hexdigest()


def hash_token(token: str) -> str:
    """SHA-256 of an upload token (256 random bits: a keyed or slow hash adds nothing)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def looks_like_token(token: str) -> bool:
    """Whether `token` has an upload token's shape (refused before any lookup otherwise)."""
    return bool(_TOKEN_RE.fullmatch(token))


def bump_stats(session: Session, day: dt.date, **counts: int) -> None:
    """Add `counts` (``uploads=1``, ...) to the day's row, made if missing: one upsert, so
    concurrent workers add up rather than collide."""
    unknown = set(counts) - set(_COUNTERS)
    if unknown:
        raise ValueError(f"unknown counters: {sorted(unknown)}")
    table = DailyStats.__table__
    assert isinstance(table, Table)
    values: dict[str, Any] = dict.fromkeys(_COUNTERS, 0) | counts | {"day": day}
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        pg = pg_insert(table).values(**values)
        session.execute(
            pg.on_conflict_do_update(
                index_elements=["day"], set_={c: table.c[c] + pg.excluded[c] for c in counts}
            )
        )
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        lite = sqlite_insert(table).values(**values)
        session.execute(
            lite.on_conflict_do_update(
                index_elements=["day"], set_={c: table.c[c] + lite.excluded[c] for c in counts}
            )
        )


# --------------------------------------------------------------------------------------------
# issuing


def issue_code(
    session: Session,
    *,
    test_date: dt.date,
    report_type: str = "confirmed",
    symptom_onset: dt.date | None = None,
    now: dt.datetime,
    settings: ExposureSettings | None = None,
) -> IssuedCode:
    """A new one-time code vouching for a `report_type` diagnosis on `test_date` (and the
    symptom onset when known): stored as its HMAC, valid `settings.code_lifetime`. The caller
    sends the code to the person; the key server never learns who that is."""
    when = _aware(now)
    config = _settings(settings)
    if report_type not in REPORT_TYPES:
        raise ExposureInvalid("report_type", f"{report_type!r} is not one of {REPORT_TYPES}")
    latest = (when + dt.timedelta(days=1)).date()  # a local date may be a UTC day ahead
    for name, day in (("test_date", test_date), ("symptom_onset", symptom_onset)):
        if day is not None and not isinstance(day, dt.date):
            raise ExposureInvalid(name, "must be a date")
        if day is not None and day > latest:
            raise ExposureInvalid(name, f"{day} is in the future")
    for _ in range(5):  # a collision is a 1 in 10^12 / live codes event: draw again
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        digest = hash_code(code, config.code_key)
        taken = session.scalar(
            select(VerificationCode.id).where(VerificationCode.code_hash == digest)
        )
        if taken is None:
            break
    else:  # pragma: no cover - would take a broken random source
        raise RuntimeError("no free verification code after 5 draws")
    expires_at = when + config.code_lifetime
    session.add(
        VerificationCode(
            code_hash=digest,
            report_type=report_type,
            test_date=test_date,
            symptom_onset=symptom_onset,
            expires_at=expires_at,
            used=False,
        )
    )
    bump_stats(session, when.date(), codes_issued=1)
    session.flush()
    return IssuedCode(code=code, expires_at=expires_at, report_type=report_type)


# --------------------------------------------------------------------------------------------
# exchanging


def _check_global_limit(session: Session, when: dt.datetime, limit: int) -> None:
    since = when - FAILURE_WINDOW
    failures = session.scalar(
        select(func.count()).select_from(VerifyFailure).where(VerifyFailure.at > since)
    )
    if (failures or 0) < limit:
        return
    oldest = session.scalar(select(func.min(VerifyFailure.at)).where(VerifyFailure.at > since))
    wait = (oldest + FAILURE_WINDOW - when).total_seconds() if oldest else 60
    raise RateLimited(
        "code: too many failed verifications on this server in the last hour; try again later",
        retry_after=int(wait) + 1,
    )


def _refuse(session: Session, when: dt.datetime, message: str) -> CodeRefused:
    """Record a failed attempt (its time only) and return the refusal to raise. The caller
    commits the failure even though the request fails (the routes do)."""
    session.add(VerifyFailure(at=when))
    bump_stats(session, when.date(), verify_failures=1)
    session.flush()
    return CodeRefused(message)


def exchange_code(
    session: Session,
    *,
    code: object,
    now: dt.datetime,
    settings: ExposureSettings | None = None,
) -> IssuedToken:
    """Exchange an unused, unexpired code for an upload token; the code is used up.

    Refused: a malformed code (`ExposureInvalid`, not counted), the server over its global
    failure limit (`RateLimited`), an unknown, used or expired code (`CodeRefused`, after
    adding a failure row the caller should commit).
    """
    when = _aware(now)
    config = _settings(settings)
    digits = normalise_code(code)
    _check_global_limit(session, when, config.verify_failures_per_hour)
    row = session.scalars(
        select(VerificationCode).where(
            VerificationCode.code_hash == hash_code(digits, config.code_key)
        )
    ).first()
    not_valid = "code: not valid (unknown, or used already: each code works once)"
    if row is None or row.used:
        raise _refuse(session, when, not_valid)
    if row.expires_at <= when:
        raise _refuse(
            session, when, "code: expired; ask the health centre that gave it for a new one"
        )
    # Mark it used only if still unused: of two racing exchanges, one wins.
    marked = session.execute(
        update(VerificationCode)
        .where(VerificationCode.id == row.id, VerificationCode.used.is_(False))
        .values(used=True)
        .execution_options(synchronize_session=False)
    )
    if getattr(marked, "rowcount", 0) != 1:
        raise _refuse(session, when, not_valid)
    token = TOKEN_PREFIX + secrets.token_urlsafe(_TOKEN_BYTES)
    assert looks_like_token(token)
    expires_at = when + config.token_lifetime
    session.add(
        UploadToken(
            token_hash=hash_token(token),
            report_type=row.report_type,
            test_date=row.test_date,
            symptom_onset=row.symptom_onset,
            expires_at=expires_at,
            failed_uploads=0,
        )
    )
    bump_stats(session, when.date(), codes_used=1)
    session.flush()
    return IssuedToken(token, expires_at, row.report_type, row.test_date, row.symptom_onset)


def authenticate_token(session: Session, *, token: str | None, now: dt.datetime) -> UploadToken:
    """The live upload token `token` names, or `TokenInvalid` (missing, malformed, unknown,
    used, revoked or expired: the same refusal, 401, for all)."""
    when = _aware(now)
    refusal = (
        "upload token: missing, unknown, used or expired; verify a code first "
        "(POST /api/v1/exposure/verify) and send Authorization: Bearer enu_..."
    )
    if not token or not looks_like_token(token):
        raise TokenInvalid(refusal)
    row = session.scalars(
        select(UploadToken).where(UploadToken.token_hash == hash_token(token))
    ).first()
    if row is None or row.expires_at <= when:
        raise TokenInvalid(refusal)
    return row


def consume_token(session: Session, token: UploadToken, now: dt.datetime) -> None:
    """Delete the token if it is still there and live (in the upload's transaction: of two
    uploads racing with one token, one wins and the other gets `TokenInvalid`)."""
    gone = session.execute(
        delete(UploadToken)
        .where(UploadToken.id == token.id, UploadToken.expires_at > _aware(now))
        .execution_options(synchronize_session=False)
    )
    if getattr(gone, "rowcount", 0) != 1:
        raise TokenInvalid("upload token: used or expired meanwhile")
    session.expunge(token)


def note_refused_upload(session: Session, token: UploadToken, max_failures: int) -> None:
    """Count a refused upload against its token; revoke (delete) it at `max_failures`, so a
    token holder cannot probe the validation rules for long."""
    token.failed_uploads += 1
    if token.failed_uploads >= max_failures:
        session.delete(token)
    session.flush()


# --------------------------------------------------------------------------------------------
# per-client limit


class ClientLimiter:
    """The per-client-address bucket of verification attempts of one worker (see the module
    docstring): `per_hour` attempts an hour, as a burst or spread out."""

    def __init__(self, per_hour: int) -> None:
        self.per_hour = per_hour
        self._buckets = TokenBuckets(rate=per_hour / 3600.0, burst=max(1, per_hour))
        self._lock = threading.Lock()  # sync routes run in a thread pool

    def take(self, client: str, now: float | None = None) -> Allowance:
        """Take one attempt from `client`'s bucket (always allowed when `per_hour` is 0)."""
        with self._lock:
            return self._buckets.take(client, now)
