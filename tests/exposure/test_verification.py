"""Verification codes and upload tokens on SQLite and PostgreSQL: issued with a positive
screening result, stored as hashes without a person, exchanged once, refused when unknown,
used or expired (alike for the first two), brute force held by the rate limits."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.orm import Session
from tests.dbfixtures import schema_diffs
from tests.exposure.keyserver_support import (  # noqa: F401  (fixtures)
    DAY,
    NOW,
    TODAY,
    _db,
    _module_sessions,
    counts,
    settings,
    token_for,
)

from epicity.exposure.errors import (
    CodeRefused,
    ExposureConfigError,
    ExposureInvalid,
    RateLimited,
    TokenInvalid,
)
from epicity.exposure.models import DailyStats, UploadToken, VerificationCode, VerifyFailure
from epicity.exposure.settings import ExposureSettings
from epicity.exposure.verification import (
    ClientLimiter,
    authenticate_token,
    exchange_code,
    format_code,
    hash_code,
    issue_code,
    normalise_code,
)
from epicity.screening import service as screening
from epicity.tracing.models import OutboxMessage

TABLES = {
    "exposure_verification_codes",
    "exposure_upload_tokens",
    "exposure_verify_failures",
    "exposure_keys",
    "exposure_export_batches",
    "exposure_export_files",
    "exposure_signing_keys",
    "exposure_daily_stats",
}
SEOUL = ZoneInfo("Asia/Seoul")


def test_models_match_the_migration_and_no_table_links_a_key_to_a_person(
    db_engine: sa.Engine,
) -> None:
    assert schema_diffs(db_engine, TABLES) == []
    inspector = sa.inspect(db_engine)
    for table in TABLES:
        columns = {c["name"] for c in inspector.get_columns(table)}
        assert not columns & {"person_id", "case_id", "barcode", "client", "address", "ip"}
        assert not {"code_id", "token_id"} & columns, table


def test_a_code_is_stored_as_its_hmac_only(db: Session) -> None:
    config = settings()
    code = issue_code(db, test_date=TODAY, now=NOW, settings=config)
    assert re.fullmatch(r"[0-9]{12}", code.code)
    assert code.display == format_code(code.code)
    assert len(code.display.split()) == 3
    assert code.expires_at == NOW + dt.timedelta(hours=24)
    row = db.scalars(select(VerificationCode)).one()
    assert row.code_hash == hash_code(code.code, config.code_key)
    assert row.code_hash != hashlib.sha256(code.code.encode()).hexdigest()
    assert code.code not in repr(row.__dict__)
    assert (row.report_type, row.test_date, row.symptom_onset, row.used) == (
        "confirmed", TODAY, None, False,
    )  # fmt: skip
    stats = db.get(DailyStats, TODAY)
    assert stats is not None
    assert stats.codes_issued == 1


def test_exchange_once_then_refused_like_an_unknown_code(db: Session) -> None:
    config = settings()
    code = issue_code(
        db, test_date=TODAY - DAY, symptom_onset=TODAY - 3 * DAY, now=NOW, settings=config
    )
    typed = "-".join(code.display.split())  # hyphens and spaces are ignored
    issued = exchange_code(db, code=typed, now=NOW + dt.timedelta(hours=1), settings=config)
    assert issued.token.startswith("enu_")
    assert len(issued.token) == 47
    assert issued.expires_at == NOW + dt.timedelta(hours=2)
    assert (issued.test_date, issued.symptom_onset) == (TODAY - DAY, TODAY - 3 * DAY)
    token = db.scalars(select(UploadToken)).one()
    assert token.token_hash == hashlib.sha256(issued.token.encode()).hexdigest()
    assert authenticate_token(db, token=issued.token, now=NOW) is token

    before = counts(db)
    with pytest.raises(CodeRefused) as used:
        exchange_code(db, code=code.code, now=NOW, settings=config)
    with pytest.raises(CodeRefused) as unknown:
        exchange_code(db, code="000000000000", now=NOW, settings=config)
    assert (
        str(used.value)
        == str(unknown.value)
        == ("code: not valid (unknown, or used already: each code works once)")
    )
    after = counts(db)
    assert after["exposure_verify_failures"] == before["exposure_verify_failures"] + 2
    assert {k: v for k, v in after.items() if k != "exposure_verify_failures"} == {
        k: v for k, v in before.items() if k != "exposure_verify_failures"
    }
    stats = db.get(DailyStats, TODAY)
    assert stats is not None
    assert (stats.codes_issued, stats.codes_used, stats.verify_failures) == (1, 1, 2)


def test_an_expired_code_is_refused_and_says_so(db: Session) -> None:
    config = settings()
    code = issue_code(db, test_date=TODAY, now=NOW, settings=config)
    later = NOW + dt.timedelta(hours=24)
    with pytest.raises(CodeRefused, match="expired; ask the health centre"):
        exchange_code(db, code=code.code, now=later, settings=config)
    assert db.scalars(select(UploadToken)).all() == []
    # a second too early it still works
    exchange_code(db, code=code.code, now=later - dt.timedelta(seconds=1), settings=config)


def test_a_malformed_code_is_refused_without_counting_a_guess(db: Session) -> None:
    for typed in ("12345", "1234 5678 901a", "", "１２３４５６７８９０１２", 123456789012):
        with pytest.raises(ExposureInvalid, match="code: must be"):
            exchange_code(db, code=typed, now=NOW, settings=settings())
    assert db.scalars(select(VerifyFailure)).all() == []


def test_brute_force_is_held_by_the_global_failure_limit(db: Session) -> None:
    config = settings(verify_failures_per_hour=3)
    code = issue_code(db, test_date=TODAY, now=NOW, settings=config)
    for i in range(3):
        with pytest.raises(CodeRefused):
            exchange_code(db, code=f"{i:012d}", now=NOW + i * dt.timedelta(minutes=1),
                          settings=config)  # fmt: skip
    later = NOW + dt.timedelta(minutes=10)
    # over the limit, even the right code waits: a guesser gets no more tries
    with pytest.raises(RateLimited) as limited:
        exchange_code(db, code=code.code, now=later, settings=config)
    assert limited.value.retry_after == 50 * 60 + 1  # the first failure leaves the hour then
    assert len(db.scalars(select(VerifyFailure)).all()) == 3  # no new row while limited
    # an hour after the first failure, one attempt is possible again
    assert exchange_code(
        db, code=code.code, now=NOW + dt.timedelta(minutes=60, seconds=1), settings=config
    ).token


def test_tokens_expire_and_malformed_ones_are_refused(db: Session) -> None:
    config = settings(token_lifetime=dt.timedelta(minutes=60))
    issued = token_for(db, config)
    assert authenticate_token(db, token=issued.token, now=NOW + dt.timedelta(minutes=59))
    for token, at in [
        (issued.token, NOW + dt.timedelta(minutes=60)),
        (None, NOW),
        ("", NOW),
        ("epc_" + issued.token[4:], NOW),  # a staff token's shape
        (issued.token[:-1] + ("A" if issued.token[-1] != "A" else "B"), NOW),
    ]:
        with pytest.raises(TokenInvalid, match="upload token: missing, unknown, used or expired"):
            authenticate_token(db, token=token, now=at)


def test_issue_refuses_bad_claims(db: Session) -> None:
    config = settings()
    with pytest.raises(ExposureInvalid, match="report_type: 'negative' is not one of"):
        issue_code(db, test_date=TODAY, report_type="negative", now=NOW, settings=config)
    with pytest.raises(ExposureInvalid, match="test_date: 2020-09-12 is in the future"):
        issue_code(db, test_date=TODAY + 2 * DAY, now=NOW, settings=config)
    with pytest.raises(ExposureInvalid, match="now: give an aware time"):
        issue_code(db, test_date=TODAY, now=NOW.replace(tzinfo=None), settings=config)
    assert db.scalars(select(VerificationCode)).all() == []


def test_normalise_code() -> None:
    assert normalise_code(" 4821-3390 1275 ") == "482133901275"
    assert format_code("482133901275") == "4821 3390 1275"


def test_client_limiter_takes_one_attempt_each() -> None:
    limiter = ClientLimiter(3)
    assert [limiter.take("10.0.0.1", now=0.0).allowed for _ in range(4)] == [
        True, True, True, False,
    ]  # fmt: skip
    refused = limiter.take("10.0.0.1", now=1.0)
    assert not refused.allowed
    assert refused.retry_after == 1199
    assert limiter.take("10.0.0.2", now=1.0).allowed  # another address has its own bucket
    assert limiter.take("10.0.0.1", now=1201.0).allowed
    unlimited = ClientLimiter(0)
    assert all(unlimited.take("x", now=0.0).allowed for _ in range(100))


def test_settings_from_the_environment() -> None:
    env = {
        "EPICITY_EXPOSURE_REGIONS": "kr-11, KR-26",
        "EPICITY_EXPOSURE_CODE_SECRET": "x" * 32,
        "EPICITY_EXPOSURE_CODE_HOURS": "2",
        "EPICITY_EXPOSURE_MAX_KEYS": "30",
        "EPICITY_EXPOSURE_SIGNING_KEY": "/etc/epicity/export.pem",
        "EPICITY_EXPOSURE_SIGNING_KEY_VERSION": "v2",
    }
    config = ExposureSettings.from_env(env)
    assert config.regions == ("KR-11", "KR-26")
    assert config.default_region == "KR-11"
    assert config.code_secret_configured
    assert config.code_key == b"x" * 32
    assert config.code_lifetime == dt.timedelta(hours=2)
    assert config.max_keys_per_upload == 30
    assert str(config.signing_key_path) == "/etc/epicity/export.pem"
    assert (config.signing_key_id, config.signing_key_version) == ("450", "v2")
    default = ExposureSettings.from_env({})
    assert not default.code_secret_configured
    assert default.signing_key_path is None
    for bad, message in [
        ({"EPICITY_EXPOSURE_REGIONS": "Seoul"}, "EPICITY_EXPOSURE_REGIONS: 'SEOUL' is not an ISO"),
        ({"EPICITY_EXPOSURE_CODE_SECRET": "short"}, "EPICITY_EXPOSURE_CODE_SECRET: at least 16"),
        ({"EPICITY_EXPOSURE_MAX_KEYS": "many"}, "EPICITY_EXPOSURE_MAX_KEYS: not a whole number"),
        ({"EPICITY_EXPOSURE_MAX_KEYS": "0"}, "EPICITY_EXPOSURE_MAX_KEYS: must be >= 1"),
        ({"EPICITY_EXPOSURE_SIGNING_KEY_ID": "4-5"}, "EPICITY_EXPOSURE_SIGNING_KEY_ID: 1-64"),
    ]:
        with pytest.raises(ExposureConfigError, match=re.escape(message)):
            ExposureSettings.from_env(bad)


# -- the screening hook -----------------------------------------------------------------------


def _positive_result(session: Session, result: str = "positive") -> OutboxMessage:
    monday = dt.date(2020, 3, 2)
    centre = screening.create_centre(
        session,
        actor="officer",
        kind="walk_through",
        name="Guro walk-through",
        district="Guro-gu",
        lat=37.495,
        lon=126.887,
        lanes=2,
        minutes_per_test=5,
        hours={d: (dt.time(9), dt.time(18)) for d in range(6)},
        slot_minutes=15,
        now=dt.datetime.combine(monday, dt.time(8), SEOUL),
    )
    sample = screening.check_in(
        session,
        centre_id=centre.id,
        actor="nurse",
        person_id=777,
        now=dt.datetime.combine(monday, dt.time(10), SEOUL),
    )
    screening.collect_sample(
        session, barcode=sample.barcode, now=dt.datetime.combine(monday, dt.time(10, 5), SEOUL)
    )
    batch = screening.create_batch(
        session,
        actor="lab",
        lab="Seoul lab",
        barcodes=[sample.barcode],
        mode="individual",
        now=dt.datetime.combine(monday, dt.time(11), SEOUL),
    )
    screening.record_pool_result(
        session,
        batch_id=batch.id,
        pool_number=1,
        result=result,
        actor="lab",
        now=dt.datetime.combine(monday, dt.time(15), SEOUL),
    )
    message = session.get(OutboxMessage, sample.outbox_id)
    assert message is not None
    return message


def test_a_positive_result_carries_a_code_the_app_can_exchange(
    db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EPICITY_EXPOSURE_CODE_SECRET", "a secret of the deployment, 32 chars")
    message = _positive_result(db)
    code = message.payload["verification_code"]
    assert re.fullmatch(r"[0-9]{12}", code)
    assert format_code(code) in message.payload["text"]
    assert "valid until 2020-03-03 15:00" in message.payload["text"]  # 24 h, Seoul time
    assert message.payload["verification_code_expires_at"] == "2020-03-03T06:00:00+00:00"
    row = db.scalars(select(VerificationCode)).one()
    assert (row.test_date, row.report_type) == (dt.date(2020, 3, 2), "confirmed")
    monday_15 = dt.datetime(2020, 3, 2, 15, tzinfo=SEOUL)
    issued = exchange_code(db, code=code, now=monday_15 + dt.timedelta(hours=1))
    assert issued.test_date == dt.date(2020, 3, 2)


def test_a_negative_result_carries_no_code(db: Session) -> None:
    message = _positive_result(db, "negative")
    assert "verification_code" not in message.payload
    assert db.scalars(select(VerificationCode)).all() == []
