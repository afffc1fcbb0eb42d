"""Shared pieces of the key server's tests: a fixed clock, settings, a signer, uploads."""

from __future__ import annotations

import base64
import datetime as dt
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from tests.dbfixtures import BACKENDS, POSTGRES_URL, _postgres_schema_url

from epicity.db import make_engine, migrate, session_factory
from epicity.exposure.crypto import EN_INTERVAL_SECONDS
from epicity.exposure.keyfile import SignatureInfo
from epicity.exposure.models import (
    DiagnosisKeyRow,
    ExportBatch,
    ExportFile,
    UploadToken,
    VerificationCode,
    VerifyFailure,
)
from epicity.exposure.settings import ExposureSettings
from epicity.exposure.signing import Signer, new_private_key
from epicity.exposure.verification import IssuedToken, exchange_code, issue_code

# Thursday 2020-09-10, 12:34 UTC: mid-hour, so hour and day boundaries are tested apart.
NOW = dt.datetime(2020, 9, 10, 12, 34, 56, tzinfo=dt.UTC)
TODAY = NOW.date()
DAY = dt.timedelta(days=1)


@pytest.fixture(scope="module", params=BACKENDS, name="module_sessions")
def _module_sessions(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[sessionmaker[Session]]:
    """Sessions on a database migrated once per test module, on each backend in turn (a
    fresh migration costs 1-2 s; the tests' sessions roll back instead, see `db`)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('exposure') / 'epicity.db'}"
        engine = make_engine(url)
        migrate(engine)
        yield session_factory(engine)
        engine.dispose()
        return
    if os.environ.get("EPICITY_TEST_POSTGRES") == "skip":
        pytest.skip("PostgreSQL tests skipped: EPICITY_TEST_POSTGRES=skip")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = make_engine(POSTGRES_URL)
    with admin.begin() as con:
        con.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(_postgres_schema_url(schema))
    try:
        migrate(engine)
        yield session_factory(engine)
    finally:
        engine.dispose()
        with admin.begin() as con:
            con.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(name="db")
def _db(module_sessions: sessionmaker[Session]) -> Iterator[Session]:
    """A session on the module's database whose work is rolled back after the test (the
    services flush and never commit), so every test starts from empty tables."""
    with module_sessions() as session:
        try:
            yield session
        finally:
            session.rollback()


def settings(**overrides: Any) -> ExposureSettings:
    """Two regions, no padding, a code secret; anything else as given."""
    values: dict[str, Any] = {
        "regions": ("KR-11", "KR-26"),
        "code_key": b"a test secret, not a real one",
        "code_secret_configured": True,
        "export_min_keys": 0,
    }
    values.update(overrides)
    return ExposureSettings(**values)


def signer(key_id: str = "450", version: str = "v1") -> Signer:
    """A fresh signing key."""
    return Signer(new_private_key(), SignatureInfo(version, key_id))


def midnight_interval(day: dt.date) -> int:
    """The interval number of `day`'s UTC midnight (where a daily key starts)."""
    start = dt.datetime.combine(day, dt.time(0), dt.UTC)
    return int(start.timestamp()) // EN_INTERVAL_SECONDS


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def daily_keys(days: int = 14, *, today: dt.date = TODAY, **fields: Any) -> list[dict[str, Any]]:
    """An upload's keys: one random key per UTC day for `days` days ending today (today's key
    still valid at NOW)."""
    keys = []
    for back in range(days - 1, -1, -1):
        key = {
            "key_data": b64(os.urandom(16)),
            "rolling_start_interval_number": midnight_interval(today - back * DAY),
            "rolling_period": 144,
        }
        key.update(fields)
        keys.append(key)
    return keys


def token_for(
    session: Session,
    config: ExposureSettings,
    *,
    now: dt.datetime = NOW,
    test_date: dt.date = TODAY - 2 * DAY,
    report_type: str = "confirmed",
    symptom_onset: dt.date | None = None,
) -> IssuedToken:
    """A code issued and exchanged: a live upload token."""
    code = issue_code(
        session,
        test_date=test_date,
        report_type=report_type,
        symptom_onset=symptom_onset,
        now=now,
        settings=config,
    )
    return exchange_code(session, code=code.code, now=now, settings=config)


def counts(session: Session) -> dict[str, int]:
    """Rows of every table an upload or a verification could change."""
    session.flush()
    return {
        m.__tablename__: session.scalar(select(func.count()).select_from(m)) or 0
        for m in (
            DiagnosisKeyRow,
            UploadToken,
            VerificationCode,
            VerifyFailure,
            ExportBatch,
            ExportFile,
        )
    }
