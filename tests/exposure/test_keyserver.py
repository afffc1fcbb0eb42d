"""The key server on SQLite and PostgreSQL: uploads validated all or nothing (every abuse
refused with its field, nothing stored, the token kept), tokens used once, embargo of keys
still valid, signed exports (split, shuffled, padded, idempotent), index, retention."""

from __future__ import annotations

import base64
import datetime as dt
import os
import random
import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from tests.exposure.keyserver_support import (  # noqa: F401  (fixtures)
    DAY,
    NOW,
    TODAY,
    _db,
    _module_sessions,
    b64,
    counts,
    daily_keys,
    midnight_interval,
    settings,
    signer,
    token_for,
)

from epicity.db import session_scope
from epicity.exposure import keyserver as ks
from epicity.exposure.crypto import EN_INTERVAL_SECONDS
from epicity.exposure.errors import (
    ExportNotFound,
    ExposureConfigError,
    ExposureInvalid,
    PublishInvalid,
    TokenInvalid,
)
from epicity.exposure.keyfile import DiagnosisKey, decode_export, read_zip, verify_export
from epicity.exposure.models import (
    DailyStats,
    DiagnosisKeyRow,
    ExportBatch,
    SigningKey,
    UploadToken,
)
from epicity.exposure.settings import ExposureSettings
from epicity.exposure.signing import Signer, load_signer, write_new_key
from epicity.exposure.verification import hash_token

HOUR = dt.timedelta(hours=1)


def _upload(
    db: Session, keys: list[dict[str, Any]], config: ExposureSettings, **body: Any
) -> ks.PublishResult:
    issued = token_for(db, config)
    return ks.publish(db, token=issued.token, body={"keys": keys, **body}, now=NOW,
                      settings=config)  # fmt: skip


def _files(built: list[ks.BuiltBatch]) -> list[ks.BuiltFile]:
    return [f for b in built for f in b.files]


def _decoded(file: ks.BuiltFile | bytes, key: Signer) -> Any:
    """A file's export, after checking its signature with the public key."""
    export_bin, export_sig = read_zip(file if isinstance(file, bytes) else file.data)
    info = verify_export(
        export_bin,
        export_sig,
        {(key.info.verification_key_id, key.info.verification_key_version): _public(key)},
    )
    assert info == key.info
    return decode_export(export_bin)


def _public(key: Signer) -> Any:
    return key.private_key.public_key()


# -- upload -----------------------------------------------------------------------------------


def test_an_upload_is_stored_and_uses_the_token_up(db: Session) -> None:
    config = settings()
    issued = token_for(db, config, test_date=TODAY - 2 * DAY)
    keys = daily_keys(14)
    result = ks.publish(db, token=issued.token, body={"keys": keys}, now=NOW, settings=config)
    assert result.inserted == 14
    assert result.regions == ("KR-11",)  # the default region
    assert db.scalars(select(UploadToken)).all() == []  # consumed
    rows = {base64.b64encode(r.key_data).decode(): r for r in db.scalars(select(DiagnosisKeyRow))}
    assert set(rows) == {k["key_data"] for k in keys}
    this_hour = NOW.replace(minute=0, second=0, microsecond=0)
    today = keys[-1]["key_data"]
    for data, row in rows.items():
        assert (row.region, row.report_type, row.transmission_risk_level) == ("KR-11", 1, 2)
        assert row.padding is False
        day = dt.datetime.fromtimestamp(
            row.rolling_start_interval_number * EN_INTERVAL_SECONDS, dt.UTC
        ).date()
        # derived from the test date (no symptom onset on the code)
        assert row.days_since_onset_of_symptoms == (day - (TODAY - 2 * DAY)).days
        # today's key is still valid: embargoed until the hour after it ends (UTC midnight)
        expected = (
            dt.datetime.combine(TODAY + DAY, dt.time(0), dt.UTC) if data == today else this_hour
        )
        assert row.export_at == expected
    assert result.exportable_from == this_hour
    stats = db.get(DailyStats, TODAY)
    assert stats is not None
    assert (stats.uploads, stats.keys_published) == (1, 14)
    # the used token is refused like any unknown one
    with pytest.raises(TokenInvalid):
        ks.publish(db, token=issued.token, body={"keys": daily_keys(1)}, now=NOW, settings=config)


def test_given_metadata_and_regions_are_kept(db: Session) -> None:
    config = settings()
    keys = daily_keys(2, transmission_risk_level=7, report_type=1,
                      days_since_onset_of_symptoms=-3)  # fmt: skip
    keys[0]["rolling_period"] = 100
    result = _upload(db, keys, config, regions=["kr-26", "KR-11"])
    assert result.regions == ("KR-26", "KR-11")
    rows = db.scalars(select(DiagnosisKeyRow).order_by(DiagnosisKeyRow.region)).all()
    assert len(rows) == 4
    assert {(r.transmission_risk_level, r.days_since_onset_of_symptoms) for r in rows} == {(7, -3)}
    assert sorted(r.rolling_period for r in rows) == [100, 100, 144, 144]


def test_onset_outside_14_days_is_left_unset(db: Session) -> None:
    config = settings()
    issued = token_for(db, config, test_date=TODAY, symptom_onset=TODAY - 20 * DAY)
    ks.publish(db, token=issued.token, body={"keys": daily_keys(10)}, now=NOW, settings=config)
    rows = db.scalars(
        select(DiagnosisKeyRow).order_by(DiagnosisKeyRow.rolling_start_interval_number)
    ).all()
    # keys of the 11th to the 20th day after onset: only up to the 14th has a value
    assert [r.days_since_onset_of_symptoms for r in rows] == [11, 12, 13, 14] + [None] * 6


def _keys(n: int = 3) -> list[dict[str, Any]]:
    return daily_keys(n)


def _stored_key(db: Session, config: ExposureSettings) -> dict[str, Any]:
    key = daily_keys(3)[0]
    _upload(db, [key], config)
    return dict(key)


# (what the upload is, how to change the keys, the field, words of the problem)
ABUSES: list[tuple[str, Callable[[list[dict[str, Any]]], Any], str, str]] = [
    (
        "too many keys",
        lambda k: k.extend(daily_keys(18)),
        "keys",
        "at most 20 keys an upload, got 21",
    ),
    (
        "bad base64",
        lambda k: k[1].update(key_data="not base64!!"),
        "keys[1].key_data",
        "not valid base64",
    ),
    (
        "15 bytes",
        lambda k: k[2].update(key_data=b64(os.urandom(15))),
        "keys[2].key_data",
        "must decode to 16 bytes, got 15 bytes",
    ),
    ("no key data", lambda k: k[0].pop("key_data"), "keys[0].key_data", "required"),
    (
        "too old",
        lambda k: k[0].update(rolling_start_interval_number=midnight_interval(TODAY - 15 * DAY)),
        "keys[0].rolling_start_interval_number",
        "the key ended 2020-08-27 00:00 UTC, more than 14 days ago",
    ),
    (
        "future",
        lambda k: k[2].update(rolling_start_interval_number=midnight_interval(TODAY + DAY)),
        "keys[2].rolling_start_interval_number",
        "in the future (beyond the 60-minute clock-skew allowance)",
    ),
    (
        "duplicate in the upload",
        lambda k: k[2].update(key_data=k[0]["key_data"]),
        "keys[2].key_data",
        "the same key as keys[0]",
    ),
    (
        "overlap",
        lambda k: k[1].update(
            rolling_start_interval_number=k[0]["rolling_start_interval_number"] + 10
        ),
        "keys[1].rolling_start_interval_number",
        "overlaps keys[0]",
    ),
    (
        "four keys on one start",
        lambda k: k.extend(
            dict(k[2], key_data=b64(os.urandom(16)), rolling_period=10 + i) for i in range(3)
        ),
        "keys[5].rolling_start_interval_number",
        "more than 3 keys start at interval",
    ),
    (
        "period 0",
        lambda k: k[0].update(rolling_period=0),
        "keys[0].rolling_period",
        "must be from 1 to 144, got 0",
    ),
    (
        "period 145",
        lambda k: k[0].update(rolling_period=145),
        "keys[0].rolling_period",
        "must be from 1 to 144, got 145",
    ),
    (
        "risk 9",
        lambda k: k[1].update(transmission_risk_level=9),
        "keys[1].transmission_risk_level",
        "must be from 0 to 8",
    ),
    (
        "onset 15",
        lambda k: k[1].update(days_since_onset_of_symptoms=15),
        "keys[1].days_since_onset_of_symptoms",
        "must be from -14 to 14",
    ),
    (
        "a boolean start",
        lambda k: k[1].update(rolling_start_interval_number=True),
        "keys[1].rolling_start_interval_number",
        "must be a whole number",
    ),
    (
        "a float period",
        lambda k: k[1].update(rolling_period=144.0),
        "keys[1].rolling_period",
        "must be a whole number",
    ),
    (
        "self-report with a confirmed code",
        lambda k: k[0].update(report_type=3),
        "keys[0].report_type",
        "vouches for a confirmed report (report type 1); this upload cannot claim report type 3",
    ),
    (
        "a revocation",
        lambda k: k[0].update(report_type=5),
        "keys[0].report_type",
        "cannot claim report type 5",
    ),
    (
        "an unknown key field",
        lambda k: k[0].update(keyData="x"),
        "keys[0].keyData",
        "unknown field",
    ),
    (
        "a key that is not an object",
        lambda k: k.__setitem__(1, "abc"),
        "keys[1]",
        "must be an object",
    ),
]


MALFORMED: list[tuple[Any, str, str]] = [
    ([], "body", "must be a JSON object"),
    ({"keys": []}, "keys", "a list of 1 or more"),
    ({"keys": "abc"}, "keys", "a list of 1 or more"),
    ({"keys": _keys(1), "regions": ["KR-27"]}, "regions[0]", "'KR-27' is not a region"),
    ({"keys": _keys(1), "regions": ["KR-11", "kr-11"]}, "regions[1]", "listed twice"),
    ({"keys": _keys(1), "regions": []}, "regions", "a list of 1 to 2 of: KR-11, KR-26"),
    ({"keys": _keys(1), "symptom_onset": 3}, "symptom_onset", "unknown field"),
]


def test_abuse_is_refused_with_its_field_and_nothing_is_stored(
    db: Session, subtests: pytest.Subtests
) -> None:
    config = settings()
    cases = [(case, change, field, problem) for case, change, field, problem in ABUSES]
    cases += [(f"body {i}", body, field, problem) for i, (body, field, problem) in
              enumerate(MALFORMED)]  # fmt: skip
    for case, change, field, problem in cases:
        with subtests.test(case=case):
            if callable(change):
                keys = daily_keys(3)
                change(keys)
                body: Any = {"keys": keys}
            else:
                body = change
            issued = token_for(db, config)
            before = counts(db)
            with pytest.raises(PublishInvalid) as refused:
                ks.publish(db, token=issued.token, body=body, now=NOW, settings=config)
            fields = {e["field"]: e["problem"] for e in refused.value.errors}
            assert field in fields, refused.value.errors
            assert problem in fields[field]
            assert counts(db) == before  # no key stored, the token still there
            token = db.scalars(
                select(UploadToken).where(UploadToken.token_hash == hash_token(issued.token))
            ).one()
            assert token.failed_uploads == 1


def test_a_replay_of_a_stored_key_is_refused(db: Session) -> None:
    config = settings()
    stored = _stored_key(db, config)
    keys = daily_keys(2)
    keys.insert(0, stored)
    issued = token_for(db, config)
    before = counts(db)
    with pytest.raises(PublishInvalid, match=r"keys\[0\].key_data: published already"):
        ks.publish(db, token=issued.token, body={"keys": keys}, now=NOW, settings=config)
    assert counts(db) == before
    # also when sent to another region than the one it was stored in
    with pytest.raises(PublishInvalid, match="published already"):
        ks.publish(db, token=issued.token, body={"keys": keys, "regions": ["KR-26"]}, now=NOW,
                   settings=config)  # fmt: skip


def test_every_problem_is_reported_at_once(db: Session) -> None:
    config = settings()
    keys = daily_keys(3)
    keys[0]["key_data"] = "AAAA"
    keys[2]["rolling_period"] = 200
    issued = token_for(db, config)
    with pytest.raises(PublishInvalid) as refused:
        ks.publish(db, token=issued.token, body={"keys": keys, "regions": ["XX"]}, now=NOW,
                   settings=config)  # fmt: skip
    assert [e["field"] for e in refused.value.errors] == [
        "regions[0]", "keys[0].key_data", "keys[2].rolling_period",
    ]  # fmt: skip
    assert str(refused.value).endswith("(and 2 more)")


def test_a_token_is_revoked_at_its_fifth_refused_upload(db: Session) -> None:
    config = settings()
    issued = token_for(db, config)
    for attempt in range(1, 6):
        with pytest.raises(PublishInvalid):
            ks.publish(db, token=issued.token, body={"keys": []}, now=NOW, settings=config)
        left = db.scalars(select(UploadToken)).all()
        assert len(left) == (1 if attempt < 5 else 0)
    with pytest.raises(TokenInvalid):
        ks.publish(db, token=issued.token, body={"keys": _keys(1)}, now=NOW, settings=config)


def test_an_expired_token_is_refused(db: Session) -> None:
    config = settings()
    issued = token_for(db, config)
    before = counts(db)
    with pytest.raises(TokenInvalid):
        ks.publish(db, token=issued.token, body={"keys": _keys(2)}, now=NOW + HOUR,
                   settings=config)  # fmt: skip
    assert counts(db) == before


def test_a_likely_code_uploads_likely_keys(db: Session) -> None:
    config = settings()
    issued = token_for(db, config, report_type="likely")
    keys = daily_keys(2, report_type=2)
    ks.publish(db, token=issued.token, body={"keys": keys}, now=NOW, settings=config)
    rows = db.scalars(select(DiagnosisKeyRow)).all()
    assert {(r.report_type, r.transmission_risk_level) for r in rows} == {(2, 4)}


# -- export -----------------------------------------------------------------------------------


def test_daily_export_signed_with_the_uploaded_keys_and_idempotent(db: Session) -> None:
    config = settings()
    key = signer()
    keys = daily_keys(14)
    _upload(db, keys, config, regions=["KR-11", "KR-26"])
    tomorrow = NOW + DAY
    built = ks.build_export_batches(db, now=tomorrow, region="KR-11", settings=config, signer=key)
    # every closed day of the last 14 since the window before: one with keys
    assert [b.start.date() for b in built] == [TODAY - (13 - i) * DAY for i in range(14)]
    with_keys = [b for b in built if b.files]
    assert [(b.start, b.key_count) for b in with_keys] == [
        (dt.datetime.combine(TODAY, dt.time(0), dt.UTC), 13)
    ]  # today's key is embargoed until tomorrow 00:00: in tomorrow's batch
    [file] = _files(built)
    assert file.path == f"KR-11/daily-{int(with_keys[0].start.timestamp())}-" \
        f"{int(with_keys[0].end.timestamp())}-00001.zip"  # fmt: skip
    export = _decoded(file, key)
    assert (export.region, export.batch_num, export.batch_size) == ("KR-11", 1, 1)
    assert export.start_timestamp == int(with_keys[0].start.timestamp())
    assert export.end_timestamp == export.start_timestamp + 86_400
    uploaded = {
        DiagnosisKey(
            key_data=base64.b64decode(k["key_data"]),
            rolling_start_interval_number=k["rolling_start_interval_number"],
            rolling_period=144,
            transmission_risk_level=2,
            report_type=1,
            days_since_onset_of_symptoms=(
                dt.datetime.fromtimestamp(k["rolling_start_interval_number"] * 600, dt.UTC).date()
                - (TODAY - 2 * DAY)
            ).days,
        )
        for k in keys[:-1]
    }
    assert set(export.keys) == uploaded
    # again: nothing new
    assert ks.build_export_batches(db, now=tomorrow, region="KR-11", settings=config,
                                   signer=key) == []  # fmt: skip
    # the next day, today's key comes out in its own batch
    later = ks.build_export_batches(db, now=tomorrow + DAY, region="KR-11", settings=config,
                                    signer=key)  # fmt: skip
    assert [b.key_count for b in later] == [1]
    [late] = _decoded(_files(later)[0], key).keys
    assert late.key_data == base64.b64decode(keys[-1]["key_data"])
    # index: oldest first, the region's files only; the public key recorded
    assert ks.index_lines(db, region="KR-11") == [file.path, _files(later)[0].path]
    assert ks.index_lines(db, region="KR-26") == []
    assert ks.index_lines(db, period="hourly") == []
    [public] = ks.public_keys(db)
    assert public.public_key_pem == key.public_pem
    stored = ks.get_export_file(db, region="KR-11", name=file.name)
    assert stored.data == file.data
    with pytest.raises(ExportNotFound):
        ks.get_export_file(db, region="KR-26", name=file.name)


def test_hourly_export_and_the_window_edges(db: Session) -> None:
    config = settings()
    key = signer()
    _upload(db, daily_keys(3)[:2], config)  # at 12:34: the 12:00 hour
    assert ks.build_export_batches(db, now=NOW, region="KR-11", period="hourly",
                                   settings=config, signer=key)[-1].end <= NOW  # fmt: skip
    # 12:00-13:00 is not closed at 12:59:59, is at 13:00
    at_end = NOW.replace(minute=59, second=59)
    assert ks.build_export_batches(db, now=at_end, region="KR-11", period="hourly",
                                   settings=config, signer=key) == []  # fmt: skip
    built = ks.build_export_batches(db, now=at_end + dt.timedelta(seconds=1), region="KR-11",
                                    period="hourly", settings=config, signer=key)  # fmt: skip
    assert [(b.start.hour, b.key_count) for b in built] == [(12, 2)]
    assert ks.index_lines(db, period="hourly") == [_files(built)[0].path]
    assert _files(built)[0].name.startswith("hourly-")


def test_large_batches_are_split_and_shuffled(db: Session) -> None:
    config = settings(export_max_keys=4)
    key = signer()
    keys = []
    for _ in range(2):  # two uploads of 5 past days each
        batch = daily_keys(6)[:5]
        _upload(db, batch, config)
        keys += batch
    built = ks.build_export_batches(db, now=NOW + DAY, region="KR-11", settings=config,
                                    signer=key, rng=random.Random(7))  # fmt: skip
    files = _files(built)
    assert [(f.batch_num, f.batch_size, f.key_count) for f in files] == [
        (1, 3, 4), (2, 3, 4), (3, 3, 2),
    ]  # fmt: skip
    exports = [_decoded(f, key) for f in files]
    assert [(e.batch_num, e.batch_size) for e in exports] == [(1, 3), (2, 3), (3, 3)]
    order = [base64.b64encode(k.key_data).decode() for e in exports for k in e.keys]
    assert sorted(order) == sorted(k["key_data"] for k in keys)
    assert order != [k["key_data"] for k in keys]  # not in upload order
    assert len({f.name for f in files}) == 3


def test_padding_hides_small_batches_whichever_period_is_made_first(db: Session) -> None:
    config = settings(export_min_keys=40)
    key = signer()
    keys = daily_keys(4)[:3]
    _upload(db, keys, config, regions=["KR-11", "KR-26"])
    real = {base64.b64decode(k["key_data"]) for k in keys}

    def made(region: str, period: str) -> set[bytes]:
        built = ks.build_export_batches(db, now=NOW + DAY, region=region, period=period,
                                        settings=config, signer=key)  # fmt: skip
        return {k.key_data for f in _files(built) for k in _decoded(f, key).keys}

    for region, first, second in (("KR-11", "hourly", "daily"), ("KR-26", "daily", "hourly")):
        one, other = made(region, first), made(region, second)
        assert 40 <= len(one) <= 44
        assert real <= one
        # both periods carry the same padding: comparing them does not single out the real
        assert one == other, region
    padding = db.scalars(select(DiagnosisKeyRow).where(DiagnosisKeyRow.padding)).all()
    # padding copies real keys' metadata and hour: nothing tells it apart but the key data
    real_rows = db.scalars(select(DiagnosisKeyRow).where(~DiagnosisKeyRow.padding)).all()
    shape = {(r.rolling_start_interval_number, r.days_since_onset_of_symptoms, r.export_at)
             for r in real_rows}  # fmt: skip
    assert {(p.rolling_start_interval_number, p.days_since_onset_of_symptoms, p.export_at)
            for p in padding} <= shape  # fmt: skip
    report = ks.stats(db, now=NOW + DAY)
    assert (report.keys_stored, report.padding_stored) == (3, len(padding))


def test_no_signing_key_no_export(db: Session, tmp_path: Any) -> None:
    config = settings()
    _upload(db, daily_keys(2), config)
    before = counts(db)
    with pytest.raises(ExposureConfigError, match="EPICITY_EXPOSURE_SIGNING_KEY is not set"):
        ks.build_export_batches(db, now=NOW + DAY, region="KR-11", settings=config)
    assert counts(db) == before
    with pytest.raises(ExposureInvalid, match="region: 'KR-99' is not one of"):
        ks.build_export_batches(db, now=NOW, region="KR-99", settings=config, signer=signer())
    with pytest.raises(ExposureInvalid, match="period: 'weekly' is not one of"):
        ks.build_export_batches(db, now=NOW, region="KR-11", period="weekly", settings=config,
                                signer=signer())  # fmt: skip
    # with a key file configured, the export signs with it
    path = tmp_path / "export.pem"
    write_new_key(path)
    configured = settings(signing_key_path=path, signing_key_version="v7")
    built = ks.export_all(db, now=NOW + DAY, settings=configured)
    assert {b.region for b in built} == {"KR-11", "KR-26"}
    loaded = load_signer(configured)
    assert _decoded(_files(built)[0], loaded).signature_infos[0].verification_key_version == "v7"


def test_a_reused_key_version_with_another_key_is_refused(db: Session) -> None:
    config = settings()
    ks.build_export_batches(db, now=NOW, region="KR-11", settings=config, signer=signer())
    with pytest.raises(ExposureConfigError, match="was used with another key"):
        ks.build_export_batches(db, now=NOW + DAY, region="KR-11", settings=config,
                                signer=signer())  # fmt: skip
    ks.build_export_batches(db, now=NOW + DAY, region="KR-11", settings=config,
                            signer=signer(version="v2"))  # fmt: skip
    assert [(k.key_id, k.key_version) for k in db.scalars(select(SigningKey))] == [
        ("450", "v1"), ("450", "v2"),
    ]  # fmt: skip


# -- retention --------------------------------------------------------------------------------


def test_retention_deletes_old_keys_files_codes_and_tokens(db: Session) -> None:
    config = settings()
    key = signer()
    keys = daily_keys(14)
    _upload(db, keys, config)
    token_for(db, config)  # a live token, expiring at NOW + 1 h
    assert ks.prune(db, now=NOW, settings=config) == ks.PruneResult(0, 0, 0, 0, 0, 0)
    # two days on: the oldest key ended more than 14 days ago; both codes and the token expired
    assert ks.prune(db, now=NOW + 2 * DAY, settings=config) == ks.PruneResult(1, 0, 0, 2, 1, 0)
    left = {base64.b64encode(r.key_data).decode() for r in db.scalars(select(DiagnosisKeyRow))}
    assert left == {k["key_data"] for k in keys[1:]}
    ks.build_export_batches(db, now=NOW + 2 * DAY, region="KR-11", settings=config, signer=key)
    assert len(ks.index_lines(db)) == 2  # today's window, and tomorrow's (the embargoed key)
    # a file stays until 14 days after its window ended (by then all its keys are that old)
    assert ks.prune(db, now=NOW + 14 * DAY, settings=config).files == 0
    # an export prunes too, so a forgotten `prune` still deletes
    ks.build_export_batches(db, now=NOW + 15 * DAY, region="KR-11", settings=config, signer=key)
    assert db.scalars(select(DiagnosisKeyRow)).all() == []  # every key ended by then
    assert len(ks.index_lines(db)) == 1
    assert ks.prune(db, now=NOW + 16 * DAY, settings=config).files == 1
    assert ks.index_lines(db) == []
    oldest = min(b.start_at for b in db.scalars(select(ExportBatch)))
    assert oldest == dt.datetime.combine(TODAY + 2 * DAY, dt.time(0), dt.UTC)


def test_two_exporters_at_once_make_each_window_once(sessions: sessionmaker[Session]) -> None:
    config = settings()
    key = signer()
    with session_scope(sessions) as s:
        _upload(s, daily_keys(5)[:4], config)
    start = threading.Barrier(2)
    made: list[int] = []

    def export() -> None:
        with session_scope(sessions) as s:
            start.wait()
            built = ks.build_export_batches(s, now=NOW + DAY, region="KR-11", settings=config,
                                            signer=key)  # fmt: skip
            made.append(len(built))

    threads = [threading.Thread(target=export) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(made) == [0, 14]  # the second waited for the lock, then found them made
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(ExportBatch)) == 14
        assert len(ks.index_lines(s)) == 1


def test_export_zips_is_pure() -> None:
    key = signer()
    keys = [DiagnosisKey(os.urandom(16), 2650000 + 144 * i) for i in range(5)]
    start = dt.datetime(2020, 9, 10, tzinfo=dt.UTC)
    zips = ks.export_zips(keys, region="KR-11", start=start, end=start + DAY, signer=key,
                          max_keys_per_file=2)  # fmt: skip
    exports = [_decoded(z, key) for z in zips]
    assert [(e.batch_num, e.batch_size, len(e.keys)) for e in exports] == [
        (1, 3, 2), (2, 3, 2), (3, 3, 1),
    ]  # fmt: skip
    assert ks.export_zips([], region="KR-11", start=start, end=start + DAY, signer=key) == []
