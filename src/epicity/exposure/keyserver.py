"""The key server: diagnosis-key uploads, signed export batches and their index, retention.

Modelled on google/exposure-notifications-server (its publish validation, embargo of keys
still valid, export batches with padding and an index) and Corona-Warn-App's cwa-server.
Plain functions over a SQLAlchemy session that add and flush but do not commit (the caller
owns the transaction), except where a refusal must still be recorded (said below).

Python interface (what the client library, the simulation and the benchmarks use)::

    publish(session, *, token, body, now, settings=None) -> PublishResult
    export_zips(keys, *, region, start, end, signer, max_keys_per_file=10_000, rng=None)
        -> list[bytes]                 # pure: shuffled, split, signed export zips; no database
    build_export_batches(session, *, now, region, period="daily", settings=None,
                         signer=None, rng=None) -> list[BuiltBatch]
    export_all(session, *, now, period="daily", settings=None, signer=None) -> list[BuiltBatch]
    index_lines(session, *, period="daily", region=None) -> list[str]    # oldest first
    get_export_file(session, *, region, name) -> ExportFile              # .data: zip bytes
    public_keys(session) -> list[SigningKey]
    prune(session, *, now, settings=None) -> PruneResult
    stats(session, *, now, days=14) -> StatsReport

``BuiltBatch(region, period, start, end, key_count, files)`` with ``files`` a list of
``BuiltFile(name, path, batch_num, batch_size, key_count, data)``; ``path`` is the index's
relative path ``{region}/{name}.zip``, ``data`` the zip (``export.bin`` + ``export.sig``,
`epicity.exposure.keyfile`).

Upload (``POST /api/v1/exposure/publish``)
-------------------------------------------
Body ``{"keys": [{"key_data", "rolling_start_interval_number", "rolling_period",
"transmission_risk_level", "report_type", "days_since_onset_of_symptoms"}, ...],
"regions": ["KR-11"]}``; only ``key_data`` and ``rolling_start_interval_number`` are
required. All or nothing: every problem is reported with its field (``keys[3].rolling_period:
...``) and nothing is stored. Rules (exposure-notifications-server's where it has one):

- ``key_data``: standard base64 of exactly 16 bytes; not twice in the upload; not published
  before (a replay), in any region.
- ``rolling_start_interval_number``: 10-minute intervals since the epoch; the key must not
  have ended (start + period) more than 14 days ago; it must not start in the future beyond a
  clock-skew allowance of one hour (phones' clocks drift; a key starts at the UTC midnight of
  its day, so a phone an hour ahead of UTC midnight sends "tomorrow's" key).
- ``rolling_period`` 1..144 (default 144). Keys may share a start interval (an Android >= 1.5
  phone that stops today's key early and starts a new one), at most 3 on one start;
  otherwise a key must start at or after the end of the one before.
- ``transmission_risk_level`` 0..8; absent or 0: the report type's default (confirmed 2,
  likely 4, user-report 5, exposure-notifications-server's backfill).
- ``report_type``: absent, 0 (unknown) or the code's (1 for a confirmed test, 2 likely, 3
  user report): a code issued for a confirmed test cannot upload self-reports, and no upload
  may claim a revocation or recursive report.
- ``days_since_onset_of_symptoms`` -14..14; absent: days from the symptom onset the code
  carries (else its test date) to the key's UTC day, left unset when outside -14..14.
- ``regions``: from ``EPICITY_EXPOSURE_REGIONS`` (default the first), no duplicates.
- At most ``EPICITY_EXPOSURE_MAX_KEYS`` keys (20, exposure-notifications-server's default:
  15 days of daily keys and a few same-day keys fit).

The upload token is consumed (deleted) in the transaction that stores the keys: an upload
stores everything and uses the token up, or stores nothing. A refused upload does not consume
the token, so the app can correct itself (drop a key too old) within the token's hour; it is
counted, and the token revoked at the 5th refusal, so a token cannot be used to probe the
rules at length. Two uploads racing with one token: one wins, the other gets 401.

Embargo: a key still valid at upload (its period not over) is stored with ``export_at`` at
the first hour after it ends, so no export carries a key whose identifiers phones nearby are
still broadcasting (exposure-notifications-server's rule). Other keys' ``export_at`` is the
upload time truncated to the hour: the server keeps no finer upload time.

Export
------
A batch is a window (a UTC day, or an hour) of ``export_at`` per region; only closed windows
are exported (end <= now), and since ``export_at`` is never before the upload's hour, a
closed window never gains a key: exporting is idempotent (a window made is recorded, empty
ones too, and never made again), and run under a lock (PostgreSQL advisory lock, SQLite's
write lock) so two workers or a worker and cron cannot both make one. Each run makes every
closed window of the last 14 days not made yet (a missed run catches up).

A non-empty batch smaller than ``EPICITY_EXPOSURE_EXPORT_MIN_KEYS`` (1000) is padded with
random keys up to that number plus a random 0-10% (exposure-notifications-server's
``MinRecords``/``PaddingRange``), each a copy of a real key's metadata (and export hour) with
random key data: a small batch does not tell how many people uploaded. The padding keys are
stored beside the real ones (``padding``) in the hours of the keys they copy, so the daily
file and the hourly files carry the same padding whichever is made first, and comparing them
does not pick the real keys out. The keys are shuffled (a cryptographic shuffle), so
the order of a file says nothing of the order of uploads, and split into files of at most
``EPICITY_EXPOSURE_EXPORT_MAX_KEYS`` keys with ``batch_num``/``batch_size``.

Files are named ``{period}-{start}-{end}-{batch_num:05d}`` (Unix seconds) and served at
``/api/v1/exposure/exports/{region}/{name}.zip``; ``index.txt`` lists a period's files,
oldest first, as relative paths.

Retention
---------
`prune` deletes keys that ended more than 14 days ago (the end, not the start, so that a key
accepted at upload is never deleted before its export: the upload accepts keys by their
end), export batches and files whose window ended more than 14 days ago (by then every key
in them is older than 14 days; a file is not cut short earlier, as it also carries newer
keys), expired codes and tokens, and failed-verification rows older than an hour. Every
export run prunes first, so a forgotten ``epicity exposure prune`` still deletes.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import random
import secrets
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import delete, false, func, insert, select
from sqlalchemy.orm import Session

from epicity.exposure.crypto import EN_INTERVAL_SECONDS, KEY_LENGTH, TEK_ROLLING_PERIOD
from epicity.exposure.errors import (
    ExportNotFound,
    ExposureConfigError,
    ExposureInvalid,
    PublishInvalid,
)
from epicity.exposure.keyfile import (
    DiagnosisKey,
    KeyExport,
    encode_export,
    sign_export,
    write_zip,
)
from epicity.exposure.models import (
    NAME_MAX,
    PERIODS,
    DailyStats,
    DiagnosisKeyRow,
    ExportBatch,
    ExportFile,
    SigningKey,
    UploadToken,
    VerificationCode,
    VerifyFailure,
)
from epicity.exposure.settings import ExposureSettings
from epicity.exposure.signing import Signer, load_signer
from epicity.exposure.verification import (
    FAILURE_WINDOW,
    authenticate_token,
    bump_stats,
    consume_token,
    note_refused_upload,
)

__all__ = [
    "DEFAULT_RISK",
    "REPORT_NUMBER",
    "BuiltBatch",
    "BuiltFile",
    "PruneResult",
    "PublishResult",
    "StatsReport",
    "build_export_batches",
    "export_all",
    "export_name",
    "export_zips",
    "get_export_file",
    "index_lines",
    "interval_of",
    "prune",
    "public_keys",
    "publish",
    "stats",
]

# ReportType numbers of the export format (TemporaryExposureKey.ReportType).
REPORT_NUMBER = {"confirmed": 1, "likely": 2, "user-report": 3}
# exposure-notifications-server's transmission risk backfill by report type.
DEFAULT_RISK = {"confirmed": 2, "likely": 4, "user-report": 5}
MAX_INTERVAL = 2**31 - 1  # the export format's rolling_start_interval_number is an int32
MAX_DAYS_SINCE_ONSET = 14
MAX_ERRORS = 50  # problems reported per refused upload
_KEY_FIELDS = (
    "key_data",
    "rolling_start_interval_number",
    "rolling_period",
    "transmission_risk_level",
    "report_type",
    "days_since_onset_of_symptoms",
)
_STEP = {"daily": dt.timedelta(days=1), "hourly": dt.timedelta(hours=1)}
_LOCK_KEY = 0x0E9C_0E45  # PostgreSQL advisory lock of the export (any constant of our own)


# --------------------------------------------------------------------------------------------
# results


@dataclass(frozen=True)
class PublishResult:
    """An accepted upload: keys stored (per region), regions, the first hour one may be
    exported."""

    inserted: int
    regions: tuple[str, ...]
    exportable_from: dt.datetime

    def to_json(self) -> dict[str, Any]:
        """The API's answer."""
        return {
            "inserted": self.inserted,
            "regions": list(self.regions),
            "exportable_from": self.exportable_from.isoformat(),
        }


@dataclass(frozen=True)
class BuiltFile:
    """One export file just made."""

    name: str
    path: str
    batch_num: int
    batch_size: int
    key_count: int
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class BuiltBatch:
    """One export window just made (no files when it had no keys)."""

    region: str
    period: str
    start: dt.datetime
    end: dt.datetime
    key_count: int
    files: tuple[BuiltFile, ...]


@dataclass(frozen=True)
class PruneResult:
    """What retention deleted."""

    keys: int
    batches: int
    files: int
    codes: int
    tokens: int
    failures: int


@dataclass(frozen=True)
class StatsReport:
    """Aggregates only: per-day counts and what is stored now."""

    days: tuple[DailyStats, ...]
    keys_stored: int
    padding_stored: int
    files_stored: int
    live_codes: int
    live_tokens: int


# --------------------------------------------------------------------------------------------
# time


def _aware(now: dt.datetime) -> dt.datetime:
    if not isinstance(now, dt.datetime) or now.tzinfo is None or now.utcoffset() is None:
        raise ExposureInvalid("now", "give an aware time (with a zone)")
    return now.astimezone(dt.UTC)


def interval_of(when: dt.datetime) -> int:
    """The GAEN interval number (10 minutes since the epoch) `when` falls in."""
    return int(_aware(when).timestamp()) // EN_INTERVAL_SECONDS


def _interval_time(interval: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(interval * EN_INTERVAL_SECONDS, dt.UTC)


def _floor(when: dt.datetime, period: str) -> dt.datetime:
    hour = when.replace(minute=0, second=0, microsecond=0)
    return hour.replace(hour=0) if period == "daily" else hour


def _ceil_hour(when: dt.datetime) -> dt.datetime:
    floor = _floor(when, "hourly")
    return floor if floor == when else floor + dt.timedelta(hours=1)


def _settings(settings: ExposureSettings | None) -> ExposureSettings:
    return settings if settings is not None else ExposureSettings.from_env()


# --------------------------------------------------------------------------------------------
# upload


@dataclass
class _Key:
    index: int
    key_data: bytes
    start: int
    period: int
    risk: int | None
    report_type: int | None
    days_since_onset: int | None
    onset_given: bool


class _Problems:
    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def add(self, field: str, problem: str) -> None:
        if len(self.items) < MAX_ERRORS:
            self.items.append({"field": field, "problem": problem})

    def __bool__(self) -> bool:
        return bool(self.items)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_field(
    item: Mapping[str, Any],
    name: str,
    where: str,
    low: int,
    high: int,
    problems: _Problems,
    *,
    required: bool = False,
) -> int | None:
    value = item.get(name)
    if value is None:
        if required:
            problems.add(f"{where}.{name}", "required")
        return None
    if not _is_int(value):
        problems.add(f"{where}.{name}", f"must be a whole number from {low} to {high}")
        return None
    if not low <= value <= high:
        problems.add(f"{where}.{name}", f"must be from {low} to {high}, got {value}")
        return None
    return int(value)


def _key_data(value: object, where: str, problems: _Problems) -> bytes | None:
    if not isinstance(value, str):
        problems.add(f"{where}.key_data", "required: the key's 16 bytes in standard base64")
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        problems.add(f"{where}.key_data", "not valid base64 (standard alphabet, with padding)")
        return None
    if len(raw) != KEY_LENGTH:
        problems.add(
            f"{where}.key_data", f"must decode to {KEY_LENGTH} bytes, got {len(raw)} bytes"
        )
        return None
    return raw


def _parse_key(item: object, index: int, token: UploadToken, problems: _Problems) -> _Key | None:
    where = f"keys[{index}]"
    if not isinstance(item, dict):
        problems.add(where, "must be an object with key_data and rolling_start_interval_number")
        return None
    before = len(problems.items)
    for name in sorted(set(item) - set(_KEY_FIELDS)):
        problems.add(
            f"{where}.{str(name)[:40]}", f"unknown field (known: {', '.join(_KEY_FIELDS)})"
        )
    key_data = _key_data(item.get("key_data"), where, problems)
    start = _int_field(
        item, "rolling_start_interval_number", where, 0, MAX_INTERVAL, problems, required=True
    )
    period = _int_field(item, "rolling_period", where, 1, TEK_ROLLING_PERIOD, problems)
    risk = _int_field(item, "transmission_risk_level", where, 0, 8, problems)
    report = _int_field(item, "report_type", where, 0, 5, problems)
    onset = _int_field(
        item,
        "days_since_onset_of_symptoms",
        where,
        -MAX_DAYS_SINCE_ONSET,
        MAX_DAYS_SINCE_ONSET,
        problems,
    )
    allowed = REPORT_NUMBER[token.report_type]
    if report not in (None, 0, allowed):
        problems.add(
            f"{where}.report_type",
            f"the verification code vouches for a {token.report_type} report "
            f"(report type {allowed}); this upload cannot claim report type {report}",
        )
    if len(problems.items) > before or key_data is None or start is None:
        return None
    return _Key(
        index,
        key_data,
        start,
        TEK_ROLLING_PERIOD if period is None else period,
        risk,
        report,
        onset,
        onset_given="days_since_onset_of_symptoms" in item
        and item["days_since_onset_of_symptoms"] is not None,
    )


def _regions(body: Mapping[str, Any], config: ExposureSettings, problems: _Problems) -> list[str]:
    raw = body.get("regions")
    if raw is None:
        return [config.default_region]
    allowed = ", ".join(config.regions)
    if not isinstance(raw, list) or not raw or len(raw) > len(config.regions):
        problems.add("regions", f"a list of 1 to {len(config.regions)} of: {allowed}")
        return []
    regions: list[str] = []
    for i, region in enumerate(raw):
        if not isinstance(region, str) or region.upper() not in config.regions:
            shown = repr(region)[:20]
            problems.add(f"regions[{i}]", f"{shown} is not a region of this server ({allowed})")
        elif region.upper() in regions:
            problems.add(f"regions[{i}]", f"{region.upper()} is listed twice")
        else:
            regions.append(region.upper())
    return regions


def _check_times(
    keys: list[_Key], when: dt.datetime, config: ExposureSettings, problems: _Problems
) -> None:
    oldest_end = interval_of(when - config.max_key_age)
    latest_start = interval_of(when + config.clock_skew)
    for k in keys:
        where = f"keys[{k.index}].rolling_start_interval_number"
        if k.start + k.period <= oldest_end:
            ended = _interval_time(k.start + k.period)
            problems.add(
                where,
                f"the key ended {ended:%Y-%m-%d %H:%M} UTC, more than "
                f"{config.max_key_age.days} days ago",
            )
        elif k.start > latest_start:
            problems.add(
                where,
                f"the key starts {_interval_time(k.start):%Y-%m-%d %H:%M} UTC, in the future "
                f"(beyond the {int(config.clock_skew.total_seconds() // 60)}-minute "
                "clock-skew allowance)",
            )


def _check_overlaps(keys: list[_Key], config: ExposureSettings, problems: _Problems) -> None:
    """exposure-notifications-server's rule: keys sharing a start interval are allowed (at
    most `max_same_start_keys`); otherwise a key starts at or after the previous one ends."""
    seen: dict[bytes, int] = {}
    for k in keys:
        if k.key_data in seen:
            problems.add(f"keys[{k.index}].key_data", f"the same key as keys[{seen[k.key_data]}]")
        else:
            seen[k.key_data] = k.index
    same_start: Counter[int] = Counter()
    for k in keys:  # in upload order: the first key past the limit is named
        same_start[k.start] += 1
        if same_start[k.start] == config.max_same_start_keys + 1:
            problems.add(
                f"keys[{k.index}].rolling_start_interval_number",
                f"more than {config.max_same_start_keys} keys start at interval {k.start}",
            )
    previous: _Key | None = None
    end = -1
    for k in sorted(keys, key=lambda k: (k.start, k.period, k.index)):
        if previous is not None and k.start != previous.start and k.start < end:
            problems.add(
                f"keys[{k.index}].rolling_start_interval_number",
                f"overlaps keys[{previous.index}] (intervals {previous.start} to {end}); "
                "keys may share a start but not overlap otherwise",
            )
        if previous is None or k.start != previous.start:
            previous = k
        end = k.start + k.period


def _check_replays(session: Session, keys: list[_Key], problems: _Problems) -> None:
    if not keys:
        return
    stored = set(
        session.scalars(
            select(DiagnosisKeyRow.key_data).where(
                DiagnosisKeyRow.key_data.in_([k.key_data for k in keys])
            )
        )
    )
    for k in keys:
        if k.key_data in stored:
            problems.add(f"keys[{k.index}].key_data", "published already (a replay is refused)")


def _days_since_onset(token: UploadToken, start: int) -> int | None:
    onset = token.symptom_onset or token.test_date
    days = (_interval_time(start).date() - onset).days
    return days if abs(days) <= MAX_DAYS_SINCE_ONSET else None


def publish(
    session: Session,
    *,
    token: str | None,
    body: object,
    now: dt.datetime,
    settings: ExposureSettings | None = None,
) -> PublishResult:
    """Validate and store an upload authorised by an upload token, consuming the token.

    Refused: `TokenInvalid` (401) for a missing, unknown, used or expired token;
    `PublishInvalid` (422) naming every problem, after counting the refusal on the token
    (the caller commits that count; no key is stored).
    """
    when = _aware(now)
    config = _settings(settings)
    upload = authenticate_token(session, token=token, now=when)
    problems = _Problems()
    keys: list[_Key] = []
    regions: list[str] = []
    if not isinstance(body, dict):
        problems.add("body", 'must be a JSON object: {"keys": [...], "regions": [...]}')
    else:
        for name in sorted(set(body) - {"keys", "regions"}):
            problems.add(str(name)[:40], "unknown field (known: keys, regions)")
        regions = _regions(body, config, problems)
        raw = body.get("keys")
        if not isinstance(raw, list) or not raw:
            problems.add("keys", "a list of 1 or more diagnosis keys")
        elif len(raw) > config.max_keys_per_upload:
            problems.add(
                "keys", f"at most {config.max_keys_per_upload} keys an upload, got {len(raw)}"
            )
        else:
            parsed = [_parse_key(item, i, upload, problems) for i, item in enumerate(raw)]
            keys = [k for k in parsed if k is not None]
            _check_times(keys, when, config, problems)
            _check_overlaps(keys, config, problems)
            _check_replays(session, keys, problems)
    if problems:
        note_refused_upload(session, upload, config.token_max_failures)
        raise PublishInvalid(sorted(problems.items, key=_problem_order))
    consume_token(session, upload, when)
    now_hour = _floor(when, "hourly")
    report = REPORT_NUMBER[upload.report_type]
    rows: list[dict[str, Any]] = []
    first_export = None
    for k in keys:
        ends = _interval_time(k.start + k.period)
        export_at = _ceil_hour(ends) if ends > when else now_hour  # embargo keys still valid
        first_export = export_at if first_export is None else min(first_export, export_at)
        onset = k.days_since_onset if k.onset_given else _days_since_onset(upload, k.start)
        for region in regions:
            rows.append(
                {
                    "key_data": k.key_data,
                    "region": region,
                    "rolling_start_interval_number": k.start,
                    "rolling_period": k.period,
                    "transmission_risk_level": k.risk or DEFAULT_RISK[upload.report_type],
                    "report_type": report,
                    "days_since_onset_of_symptoms": onset,
                    "export_at": export_at,
                    "padding": False,
                }
            )
    session.execute(insert(DiagnosisKeyRow), rows)
    bump_stats(session, when.date(), uploads=1, keys_published=len(keys))
    session.flush()
    assert first_export is not None
    return PublishResult(len(keys), tuple(regions), first_export)


def _problem_order(problem: Mapping[str, str]) -> tuple[int, str]:
    field = problem["field"]
    if field.startswith("keys["):
        return (int(field[5 : field.index("]")]) + 1, field)
    return (0, field)


# --------------------------------------------------------------------------------------------
# export


def export_name(period: str, start: dt.datetime, end: dt.datetime, batch_num: int) -> str:
    """A file's name (without ``.zip``): ``daily-1583020800-1583107200-00001``."""
    name = f"{period}-{int(start.timestamp())}-{int(end.timestamp())}-{batch_num:05d}"
    assert len(name) <= NAME_MAX
    return name


def export_zips(
    keys: Sequence[DiagnosisKey],
    *,
    region: str,
    start: dt.datetime,
    end: dt.datetime,
    signer: Signer,
    max_keys_per_file: int = 10_000,
    rng: random.Random | None = None,
) -> list[bytes]:
    """Signed export zips of `keys` (pure: no database): shuffled, split into files of at
    most `max_keys_per_file` keys (``batch_num`` 1..``batch_size``), each ``export.bin``
    with its ``export.sig``. No keys: no files."""
    if max_keys_per_file < 1:
        raise ExposureInvalid("max_keys_per_file", "must be at least 1")
    shuffled = list(keys)
    (rng or secrets.SystemRandom()).shuffle(shuffled)
    chunks = [
        shuffled[i : i + max_keys_per_file] for i in range(0, len(shuffled), max_keys_per_file)
    ]
    zips = []
    for number, chunk in enumerate(chunks, start=1):
        export = KeyExport(
            start_timestamp=int(_aware(start).timestamp()),
            end_timestamp=int(_aware(end).timestamp()),
            region=region,
            batch_num=number,
            batch_size=len(chunks),
            signature_infos=(signer.info,),
            keys=tuple(chunk),
        )
        export_bin = encode_export(export)
        export_sig = sign_export(export_bin, signer.private_key, signer.info, number, len(chunks))
        zips.append(write_zip(export_bin, export_sig))
    return zips


def _take_lock(session: Session) -> None:
    """Serialise export runs (several workers, cron): the second waits, then finds the
    windows made."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(_LOCK_KEY)))
    else:  # SQLite: a write statement takes the database's write lock now
        session.execute(delete(ExportBatch).where(false()))


def _record_public_key(session: Session, signer: Signer, when: dt.datetime) -> None:
    info = signer.info
    pem = signer.public_pem
    known = session.scalars(
        select(SigningKey).where(
            SigningKey.key_id == info.verification_key_id,
            SigningKey.key_version == info.verification_key_version,
        )
    ).first()
    if known is None:
        session.add(
            SigningKey(
                key_id=info.verification_key_id,
                key_version=info.verification_key_version,
                algorithm=info.signature_algorithm,
                public_key_pem=pem,
                first_used_at=when,
            )
        )
    elif known.public_key_pem.strip() != pem.strip():
        raise ExposureConfigError(
            f"signing key id {info.verification_key_id!r} version "
            f"{info.verification_key_version!r} was used with another key: a new key needs a "
            "new EPICITY_EXPOSURE_SIGNING_KEY_VERSION"
        )


def _windows(when: dt.datetime, period: str, retention: dt.timedelta) -> list[dt.datetime]:
    """Starts of the closed windows of the last `retention`, oldest first."""
    step = _STEP[period]
    start = _floor(when - retention, period)
    starts = []
    while start + step <= when:
        starts.append(start)
        start += step
    return starts


# A stored key as an export needs it: the key and the hour it became exportable. Read as
# plain rows, not ORM objects: building 100,000 ORM objects took most of a batch's time.
_Stored = tuple[DiagnosisKey, dt.datetime]
_EXPORT_COLUMNS = (
    DiagnosisKeyRow.key_data,
    DiagnosisKeyRow.rolling_start_interval_number,
    DiagnosisKeyRow.rolling_period,
    DiagnosisKeyRow.transmission_risk_level,
    DiagnosisKeyRow.report_type,
    DiagnosisKeyRow.days_since_onset_of_symptoms,
    DiagnosisKeyRow.export_at,
)


def _pad(
    session: Session,
    rows: list[_Stored],
    region: str,
    config: ExposureSettings,
    rng: random.Random,
) -> list[_Stored]:
    """Random keys, stored, to bring a small non-empty batch to the minimum (+ jitter)."""
    target = config.export_min_keys
    if not rows or target <= 0 or len(rows) >= target:
        return []
    target += rng.randint(0, int(target * config.export_padding_jitter))
    added: list[_Stored] = []
    for _ in range(target - len(rows)):
        model, export_at = rng.choice(rows)
        # the model's hour too: the hourly files then hold the padding the daily file
        # holds, whichever is made first, so comparing them singles out nothing
        added.append((replace(model, key_data=secrets.token_bytes(KEY_LENGTH)), export_at))
    session.execute(
        insert(DiagnosisKeyRow),
        [
            {
                "key_data": key.key_data,
                "region": region,
                "rolling_start_interval_number": key.rolling_start_interval_number,
                "rolling_period": key.rolling_period,
                "transmission_risk_level": key.transmission_risk_level,
                "report_type": key.report_type,
                "days_since_onset_of_symptoms": key.days_since_onset_of_symptoms,
                "export_at": export_at,
                "padding": True,
            }
            for key, export_at in added
        ],
    )
    return added


def _build_window(
    session: Session,
    rows: list[_Stored],
    *,
    region: str,
    period: str,
    start: dt.datetime,
    when: dt.datetime,
    config: ExposureSettings,
    signer: Signer,
    rng: random.Random,
) -> BuiltBatch:
    """One window's batch from its rows (padded, shuffled, split, signed), stored."""
    end = start + _STEP[period]
    rows = rows + _pad(session, rows, region, config, rng)
    zips = export_zips(
        [key for key, _ in rows],
        region=region,
        start=start,
        end=end,
        signer=signer,
        max_keys_per_file=config.export_max_keys,
        rng=rng,
    )
    batch = ExportBatch(
        region=region,
        period=period,
        start_at=start,
        end_at=end,
        batch_size=len(zips),
        key_count=len(rows),
        created_at=when,
    )
    session.add(batch)
    if not zips:
        return BuiltBatch(region, period, start, end, 0, ())
    session.flush()  # the batch's id, for its files
    files = []
    sizes = _chunk_sizes(len(rows), config.export_max_keys)
    for number, (data, count) in enumerate(zip(zips, sizes, strict=True), start=1):
        name = export_name(period, start, end, number)
        session.add(
            ExportFile(
                batch_id=batch.id,
                region=region,
                name=name,
                batch_num=number,
                key_count=count,
                sha256=hashlib.sha256(data).hexdigest(),
                data=data,
                created_at=when,
            )
        )
        files.append(BuiltFile(name, f"{region}/{name}.zip", number, len(zips), count, data))
    return BuiltBatch(region, period, start, end, len(rows), tuple(files))


def _chunk_sizes(total: int, size: int) -> list[int]:
    return [min(size, total - i) for i in range(0, total, size)]


def build_export_batches(
    session: Session,
    *,
    now: dt.datetime,
    region: str,
    period: str = "daily",
    settings: ExposureSettings | None = None,
    signer: Signer | None = None,
    rng: random.Random | None = None,
) -> list[BuiltBatch]:
    """Make every closed `period` window of `region` of the last 14 days not made yet (after
    pruning), under the export lock; the new batches, oldest first (empty windows included,
    without files). Refused without a signing key (`ExposureConfigError`)."""
    when = _aware(now)
    config = _settings(settings)
    if period not in PERIODS:
        raise ExposureInvalid("period", f"{period!r} is not one of {', '.join(PERIODS)}")
    if region not in config.regions:
        raise ExposureInvalid("region", f"{region!r} is not one of {', '.join(config.regions)}")
    key = signer if signer is not None else load_signer(config)
    _take_lock(session)
    prune(session, now=when, settings=config)
    _record_public_key(session, key, when)
    made = set(
        session.scalars(
            select(ExportBatch.start_at).where(
                ExportBatch.region == region, ExportBatch.period == period
            )
        )
    )
    starts = [s for s in _windows(when, period, config.retention) if s not in made]
    if not starts:
        return []
    # One query for every window to make; grouped by window here.
    by_window: dict[dt.datetime, list[_Stored]] = {s: [] for s in starts}
    window_of: dict[dt.datetime, dt.datetime] = {}  # export hours are few: floor each once
    stored = select(*_EXPORT_COLUMNS).where(
        DiagnosisKeyRow.region == region,
        DiagnosisKeyRow.export_at >= starts[0],
        DiagnosisKeyRow.export_at < starts[-1] + _STEP[period],
    )  # no ORDER BY: the keys are shuffled anyway
    # Core rows through the session's connection (same transaction), without ORM loading;
    # flushed first, so the session's pending rows are seen.
    session.flush()
    for data, interval, rolling, risk, report, onset, export_at in session.connection().execute(
        stored
    ):
        if export_at not in window_of:
            window_of[export_at] = _floor(export_at, period)
        window = by_window.get(window_of[export_at])
        if window is not None:  # None: a window made already
            found = DiagnosisKey(bytes(data), interval, rolling, risk, report, onset)
            window.append((found, export_at))
    chance = rng or secrets.SystemRandom()
    built = [
        _build_window(
            session,
            rows,
            region=region,
            period=period,
            start=start,
            when=when,
            config=config,
            signer=key,
            rng=chance,
        )
        for start, rows in by_window.items()
    ]
    session.flush()
    return built


def export_all(
    session: Session,
    *,
    now: dt.datetime,
    period: str = "daily",
    settings: ExposureSettings | None = None,
    signer: Signer | None = None,
) -> list[BuiltBatch]:
    """`build_export_batches` for every configured region."""
    config = _settings(settings)
    key = signer if signer is not None else load_signer(config)
    built: list[BuiltBatch] = []
    for region in config.regions:
        built += build_export_batches(
            session, now=now, region=region, period=period, settings=config, signer=key
        )
    return built


def index_lines(session: Session, *, period: str = "daily", region: str | None = None) -> list[str]:
    """The relative paths (``KR-11/daily-...-00001.zip``) of a period's files, oldest first."""
    if period not in PERIODS:
        raise ExposureInvalid("period", f"{period!r} is not one of {', '.join(PERIODS)}")
    query = (
        select(ExportFile.region, ExportFile.name)
        .join(ExportBatch, ExportBatch.id == ExportFile.batch_id)
        .where(ExportBatch.period == period)
        .order_by(ExportBatch.start_at, ExportFile.region, ExportFile.batch_num)
    )
    if region is not None:
        query = query.where(ExportFile.region == region)
    return [f"{r}/{name}.zip" for r, name in session.execute(query)]


def get_export_file(session: Session, *, region: str, name: str) -> ExportFile:
    """The stored export file `{region}/{name}.zip`, or `ExportNotFound`."""
    row = session.scalars(
        select(ExportFile).where(ExportFile.region == region, ExportFile.name == name)
    ).first()
    if row is None:
        raise ExportNotFound(
            f"export {region[:8]}/{name[:NAME_MAX]}.zip: no such file (see index.txt; files "
            "are deleted 14 days after their window)"
        )
    return row


def public_keys(session: Session) -> list[SigningKey]:
    """Public halves of the signing keys exports used, oldest first."""
    return list(session.scalars(select(SigningKey).order_by(SigningKey.first_used_at)))


# --------------------------------------------------------------------------------------------
# retention and stats


def _count(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def prune(
    session: Session, *, now: dt.datetime, settings: ExposureSettings | None = None
) -> PruneResult:
    """Delete what is past retention (see the module docstring); what was deleted."""
    when = _aware(now)
    config = _settings(settings)
    horizon = when - config.retention
    oldest = interval_of(horizon)
    keys = session.execute(
        delete(DiagnosisKeyRow)
        .where(
            DiagnosisKeyRow.rolling_start_interval_number < oldest,
            DiagnosisKeyRow.rolling_start_interval_number + DiagnosisKeyRow.rolling_period
            <= oldest,
        )
        .execution_options(synchronize_session=False)
    )
    old = select(ExportBatch.id).where(ExportBatch.end_at <= horizon).scalar_subquery()
    files = session.execute(
        delete(ExportFile)
        .where(ExportFile.batch_id.in_(old))
        .execution_options(synchronize_session=False)
    )
    batches = session.execute(
        delete(ExportBatch)
        .where(ExportBatch.end_at <= horizon)
        .execution_options(synchronize_session=False)
    )
    codes = session.execute(
        delete(VerificationCode)
        .where(VerificationCode.expires_at <= when)
        .execution_options(synchronize_session=False)
    )
    tokens = session.execute(
        delete(UploadToken)
        .where(UploadToken.expires_at <= when)
        .execution_options(synchronize_session=False)
    )
    failures = session.execute(
        delete(VerifyFailure)
        .where(VerifyFailure.at <= when - FAILURE_WINDOW)
        .execution_options(synchronize_session=False)
    )
    session.flush()
    return PruneResult(
        _count(keys),
        _count(batches),
        _count(files),
        _count(codes),
        _count(tokens),
        _count(failures),
    )


def stats(session: Session, *, now: dt.datetime, days: int = 14) -> StatsReport:
    """Per-day counts of the last `days` UTC days (to `now`'s) and what is stored now."""
    when = _aware(now)
    today = when.date()
    if not 1 <= days <= 3660:
        raise ExposureInvalid("days", "must be from 1 to 3660")
    rows = session.scalars(
        select(DailyStats)
        .where(DailyStats.day > today - dt.timedelta(days=days), DailyStats.day <= today)
        .order_by(DailyStats.day)
    )
    stored = dict(
        session.execute(
            select(
                DiagnosisKeyRow.padding, func.count(func.distinct(DiagnosisKeyRow.key_data))
            ).group_by(DiagnosisKeyRow.padding)
        ).all()
    )
    return StatsReport(
        days=tuple(rows),
        keys_stored=int(stored.get(False, 0)),
        padding_stored=int(stored.get(True, 0)),
        files_stored=session.scalar(select(func.count()).select_from(ExportFile)) or 0,
        live_codes=session.scalar(
            select(func.count())
            .select_from(VerificationCode)
            .where(VerificationCode.expires_at > when, VerificationCode.used.is_(False))
        )
        or 0,
        live_tokens=session.scalar(
            select(func.count()).select_from(UploadToken).where(UploadToken.expires_at > when)
        )
        or 0,
    )
