"""The key server over real HTTP on a live service (SQLite and PostgreSQL): a positive
screening result's code -> verify -> publish -> export -> index -> download -> signature
checked with the served public key -> the uploaded keys; and the abuse an app could try."""

from __future__ import annotations

import base64
import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select
from tests.exposure.keyserver_support import daily_keys, signer
from tests.web.conftest import LiveService, live  # noqa: F401  (the live service fixture)

from epicity.db import session_scope, utcnow
from epicity.exposure import keyserver as ks
from epicity.exposure.keyfile import decode_export, read_zip, verify_export
from epicity.exposure.models import DiagnosisKeyRow, UploadToken, VerifyFailure
from epicity.exposure.settings import ExposureSettings
from epicity.exposure.verification import exchange_code, issue_code
from epicity.screening import service as screening
from epicity.tracing.models import OutboxMessage

SEOUL = ZoneInfo("Asia/Seoul")
VERIFY = "/api/v1/exposure/verify"
PUBLISH = "/api/v1/exposure/publish"
EXPORTS = "/api/v1/exposure/exports"


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EPICITY_EXPOSURE_CODE_SECRET", "the live test's secret, 32 chars")
    monkeypatch.setenv("EPICITY_EXPOSURE_EXPORT_MIN_KEYS", "0")
    for name in ("VERIFY_PER_CLIENT", "VERIFY_FAILURES", "REGIONS", "SIGNING_KEY"):
        monkeypatch.delenv(f"EPICITY_EXPOSURE_{name}", raising=False)


def _positive_result_message(service: LiveService) -> OutboxMessage:
    """A walk-in tested 3 hours ago, positive an hour ago, through the screening service."""
    now = utcnow()
    with session_scope(service.app.state.sessions) as s:
        centre = screening.create_centre(
            s,
            actor="officer",
            kind="walk_through",
            name="Guro walk-through",
            district="Guro-gu",
            lat=37.495,
            lon=126.887,
            lanes=2,
            minutes_per_test=5,
            hours={d: (dt.time(0), dt.time(23, 45)) for d in range(7)},
            slot_minutes=15,
            now=now - dt.timedelta(days=1),
        )
        # a time the centre is open, an hour or more before now
        local = (now - dt.timedelta(hours=3)).astimezone(SEOUL)
        if local.time() >= dt.time(23, 0):
            local = local.replace(hour=22, minute=0)
        sample = screening.check_in(s, centre_id=centre.id, actor="nurse", person_id=4711,
                                    now=local)  # fmt: skip
        screening.collect_sample(s, barcode=sample.barcode, now=local + dt.timedelta(minutes=5))
        batch = screening.create_batch(s, actor="lab", lab="L", barcodes=[sample.barcode],
                                       mode="individual", now=local + dt.timedelta(minutes=30))  # fmt: skip
        screening.record_pool_result(s, batch_id=batch.id, pool_number=1, result="positive",
                                     actor="lab", now=local + dt.timedelta(hours=1))  # fmt: skip
        message = s.get(OutboxMessage, sample.outbox_id)
        assert message is not None
        s.expunge(message)
        return message


def test_positive_result_to_verified_keys_on_a_phone(live: LiveService) -> None:  # noqa: F811
    message = _positive_result_message(live)
    code = message.payload["verification_code"]
    assert message.recipient == "person:4711"
    today = utcnow().date()
    keys = daily_keys(10, today=today - dt.timedelta(days=1))  # none still valid
    with live.client() as app:
        verified = app.post(VERIFY, json={"code": " ".join([code[:4], code[4:8], code[8:]])})
        assert verified.status_code == 200, verified.text
        token = verified.json()["token"]
        assert verified.json()["report_type"] == "confirmed"
        again = app.post(VERIFY, json={"code": code})
        unknown = app.post(VERIFY, json={"code": "999999999999"})
        assert again.status_code == unknown.status_code == 400
        assert again.json() == unknown.json()  # a used code looks like one that never existed

        auth = {"Authorization": f"Bearer {token}"}
        published = app.post(PUBLISH, json={"keys": keys, "regions": ["KR-11"]}, headers=auth)
        assert published.status_code == 201, published.text
        assert published.json()["inserted"] == 10
        replayed = app.post(PUBLISH, json={"keys": daily_keys(1)}, headers=auth)
        assert replayed.status_code == 401
        assert replayed.headers["WWW-Authenticate"].startswith("Bearer")

        # the export job (cron), with its key; the service serves what it stored
        key = signer()
        with session_scope(live.app.state.sessions) as s:
            built = ks.build_export_batches(
                s, now=utcnow() + dt.timedelta(days=1), region="KR-11",
                settings=ExposureSettings.from_env(), signer=key,
            )  # fmt: skip
        assert sum(len(b.files) for b in built) == 1

        index = app.get(f"{EXPORTS}/index.txt")
        assert index.status_code == 200
        assert index.headers["content-type"].startswith("text/plain")
        [path] = index.text.splitlines()
        assert path.startswith("KR-11/daily-")
        served = app.get(f"{EXPORTS}/keys").json()["keys"]
        assert [(k["key_id"], k["key_version"]) for k in served] == [("450", "v1")]
        public = serialization.load_pem_public_key(served[0]["public_key_pem"].encode())
        assert isinstance(public, ec.EllipticCurvePublicKey)

        download = app.get(f"{EXPORTS}/{path}")
        assert download.status_code == 200
        assert download.headers["content-type"] == "application/zip"
        assert "immutable" in download.headers["cache-control"]
        etag = download.headers["etag"]
        assert app.get(f"{EXPORTS}/{path}", headers={"If-None-Match": etag}).status_code == 304

    export_bin, export_sig = read_zip(download.content)
    verify_export(export_bin, export_sig, {("450", "v1"): public})
    export = decode_export(export_bin)
    assert export.region == "KR-11"
    got = {
        (base64.b64encode(k.key_data).decode(), k.rolling_start_interval_number, k.report_type)
        for k in export.keys
    }
    assert got == {(k["key_data"], k["rolling_start_interval_number"], 1) for k in keys}


def test_abuse_over_http_is_refused_and_stores_nothing(
    live: LiveService,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sessions = live.app.state.sessions
    now = utcnow()
    with session_scope(sessions) as s:
        expired = issue_code(s, test_date=now.date(), now=now - dt.timedelta(hours=25)).code
        stale = issue_code(s, test_date=now.date(), now=now - dt.timedelta(hours=2))
        stale_token = exchange_code(s, code=stale.code, now=now - dt.timedelta(hours=2)).token
        live_token = exchange_code(
            s, code=issue_code(s, test_date=now.date(), now=now).code, now=now
        ).token

    def stored() -> tuple[int, int]:
        with session_scope(sessions) as s:
            return (
                s.scalar(select(func.count()).select_from(DiagnosisKeyRow)) or 0,
                s.scalar(select(func.count()).select_from(UploadToken)) or 0,
            )

    monkeypatch.setenv("EPICITY_EXPOSURE_VERIFY_FAILURES", "3")
    with live.client() as app:
        malformed = app.post(VERIFY, json={"code": "12345"})
        assert malformed.status_code == 422
        assert malformed.json()["errors"][0]["field"] == "code"
        too_old = app.post(VERIFY, json={"code": expired})
        assert too_old.status_code == 400
        assert "expired" in too_old.json()["detail"]
        for guess in ("000000000001", "000000000002"):
            assert app.post(VERIFY, json={"code": guess}).status_code == 400
        # three failures in the hour: the server stops answering codes, for everyone
        limited = app.post(VERIFY, json={"code": "000000000003"})
        assert limited.status_code == 429
        assert 3000 < int(limited.headers["Retry-After"]) <= 3601
        with session_scope(sessions) as s:
            assert s.scalar(select(func.count()).select_from(VerifyFailure)) == 3

        # the per-address limit (each worker's memory): 2 attempts, then 429
        monkeypatch.setenv("EPICITY_EXPOSURE_VERIFY_FAILURES", "1000")
        monkeypatch.setenv("EPICITY_EXPOSURE_VERIFY_PER_CLIENT", "2")
        assert [app.post(VERIFY, json={"code": f"00000000001{i}"}).status_code
                for i in range(3)] == [400, 400, 429]  # fmt: skip

        before = stored()
        staff = live.tokens["admin"]
        body = {"keys": daily_keys(3, today=now.date())}
        for headers in ({}, {"Authorization": f"Bearer {staff}"},
                        {"Authorization": f"Bearer {stale_token}"}):  # fmt: skip
            refused = app.post(PUBLISH, json=body, headers=headers)
            assert refused.status_code == 401, headers
        auth = {"Authorization": f"Bearer {live_token}"}
        too_many = app.post(PUBLISH, json={"keys": daily_keys(21, today=now.date())}, headers=auth)
        assert too_many.status_code == 422
        assert too_many.json()["errors"] == [
            {"field": "keys", "problem": "at most 20 keys an upload, got 21"}
        ]
        short = daily_keys(2, today=now.date())
        short[1]["key_data"] = base64.b64encode(b"x" * 15).decode()
        bad = app.post(PUBLISH, json={"keys": short}, headers=auth)
        assert bad.status_code == 422
        assert bad.json()["errors"][0]["field"] == "keys[1].key_data"
        assert stored() == before  # nothing stored, the token kept
        ok = app.post(PUBLISH, json={"keys": daily_keys(2, today=now.date())[:1]}, headers=auth)
        assert ok.status_code == 201, ok.text
        assert stored() == (before[0] + 1, before[1] - 1)

        missing = app.get(f"{EXPORTS}/KR-11/daily-1-2-00001.zip")
        assert missing.status_code == 404
        assert app.get(f"{EXPORTS}/KR-11/..%2Fsecret.zip").status_code == 404
        assert app.get(f"{EXPORTS}/index.txt", params={"region": "KR-99"}).status_code == 404
        assert app.get(f"{EXPORTS}/index.txt", params={"period": "weekly"}).status_code == 422
