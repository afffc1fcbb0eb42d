"""The reference client: a phone's keys, broadcasts, observations, signed downloads and risk,
end to end with real signed export zips (keyfile) and no stand-ins."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from epicity.exposure import crypto
from epicity.exposure.client import CWA_TRL_BY_DAYS_BEFORE_UPLOAD, Phone
from epicity.exposure.keyfile import (
    DiagnosisKey,
    KeyExport,
    ReportType,
    SignatureInfo,
    encode_export,
    read_zip,
    sign_export,
    write_zip,
)
from epicity.exposure.risk import RiskLevel

DAY = 86_400
T0 = 1_600_128_000  # 2020-09-15T00:00:00Z
INFO = SignatureInfo(verification_key_version="v1", verification_key_id="450")
SIGNER = ec.derive_private_key(123_456_789, ec.SECP256R1())
TRUSTED = {("450", "v1"): SIGNER.public_key()}


def signed_zip(keys: list[DiagnosisKey], signer: ec.EllipticCurvePrivateKey = SIGNER) -> bytes:
    export = KeyExport(T0, T0 + DAY, "SEOUL", 1, 1, (INFO,), tuple(keys))
    export_bin = encode_export(export)
    return write_zip(export_bin, sign_export(export_bin, signer, INFO, 1, 1))


def phones() -> tuple[Phone, Phone]:
    return Phone(rng=random.Random(1).randbytes, tx_power_dbm=-10), Phone(
        rng=random.Random(2).randbytes
    )


def meet(
    a: Phone,
    b: Phone,
    start: int,
    minutes: int,
    *,
    attenuation: float | None = None,
    rssi: float | None = None,
) -> None:
    """`b` hears `a` every 5 minutes for `minutes` (each sighting stands for 5 minutes)."""
    for m in range(0, minutes, 5):
        t = start + 60 * m
        rpi, aem = a.broadcast(t)
        b.observe(rpi, aem, t, attenuation_db=attenuation, seconds=300, rssi_dbm=rssi)


@pytest.mark.parametrize(
    ("minutes", "attenuation", "level"),
    [
        (20, 50.0, RiskLevel.HIGH),  # 20 min x weight 1 x TRL 6 x 0.2 = 24 >= 15
        (15, 50.0, RiskLevel.HIGH),  # 15 x 1.2 = 18
        (5, 50.0, RiskLevel.LOW),  # under 10 minutes below 73 dB: dropped
        (60, 80.0, RiskLevel.LOW),  # far away: no minute below 73 dB
        (20, 60.0, RiskLevel.LOW),  # 55-63 dB counts half: 20 x 0.5 x 1.2 = 12
    ],
)
def test_phone_round_trip_through_a_signed_export(
    minutes: int, attenuation: float, level: RiskLevel
) -> None:
    alice, bob = phones()
    met_at = T0 + 10 * 3600
    meet(alice, bob, met_at, minutes, attenuation=attenuation)
    keys = alice.diagnosis_keys(T0 + DAY + 3600)  # the next day: yesterday's key is released
    assert [k.rolling_start_interval_number for k in keys] == [T0 // 600]
    assert keys[0].transmission_risk_level == 6
    result = bob.check([signed_zip(keys)], TRUSTED, now=T0 + DAY + 7200)
    assert result.level == level
    if level == RiskLevel.HIGH:
        assert result.most_recent_date_with_high_risk == date(2020, 9, 15)
        assert result.normalized_time_by_day[date(2020, 9, 15)] == pytest.approx(minutes * 1.2)


def test_rssi_sightings_use_the_transmit_power_in_the_metadata() -> None:
    alice, bob = phones()  # alice transmits at -10 dBm
    meet(alice, bob, T0 + 3600, 20, rssi=-60.0)  # attenuation -10 - (-60) = 50 dB
    result = bob.check([signed_zip(alice.diagnosis_keys(T0 + DAY))], TRUSTED, now=T0 + DAY)
    assert result.level == RiskLevel.HIGH
    assert bob.last_matches[0].attenuation_db.tolist() == [50.0] * 4


def test_someone_not_met_gives_no_risk() -> None:
    alice, bob = phones()
    carol = Phone(rng=random.Random(3).randbytes)
    meet(carol, bob, T0 + 3600, 60, attenuation=40.0)
    result = bob.check([signed_zip(alice.diagnosis_keys(T0 + DAY))], TRUSTED, now=T0 + DAY)
    assert result.level == RiskLevel.LOW
    assert result.days == ()
    assert bob.last_matches == []


def test_tampered_unsigned_and_untrusted_downloads_are_refused() -> None:
    alice, bob = phones()
    meet(alice, bob, T0 + 3600, 30, attenuation=40.0)
    good = signed_zip(alice.diagnosis_keys(T0 + DAY))
    export_bin, export_sig = read_zip(good)
    tampered = bytearray(export_bin)
    tampered[-5] ^= 0x01
    other_signer = ec.derive_private_key(987_654_321, ec.SECP256R1())
    bad = [
        write_zip(bytes(tampered), export_sig),
        write_zip(export_bin, b""),
        signed_zip(alice.diagnosis_keys(T0 + DAY), other_signer),
        b"not a zip",
    ]
    report = bob.download(bad, TRUSTED)
    assert (report.files, report.accepted, report.keys_added) == (4, 0, 0)
    assert [i for i, _ in report.refused] == [0, 1, 2, 3]
    assert "does not verify" in report.refused[0][1]
    assert "no signature" in report.refused[1][1]
    assert "does not verify" in report.refused[2][1]  # same key id, another private key
    assert len(bob.downloaded_keys) == 0
    with pytest.raises(ValueError, match=r"exports: 1 refused: file 0: .*does not verify"):
        bob.check([bad[0]], TRUSTED, now=T0 + DAY)
    with pytest.raises(ValueError, match="public_keys: needed"):
        bob.check([good], now=T0 + DAY)
    assert bob.check([good], TRUSTED, now=T0 + DAY).level == RiskLevel.HIGH


def test_keys_are_deduplicated_across_files() -> None:
    alice, bob = phones()
    meet(alice, bob, T0 + 3600, 30, attenuation=40.0)
    for t in range(T0, T0 + 5 * DAY, DAY):
        alice.broadcast(t + 100)
    keys = alice.diagnosis_keys(T0 + 5 * DAY)
    assert len(keys) == 5
    report = bob.download([signed_zip(keys[:3]), signed_zip(keys[1:])], TRUSTED)
    assert (report.accepted, report.keys_added, report.duplicates) == (2, 5, 2)
    assert len(bob.downloaded_keys) == 5
    again = bob.download([signed_zip(keys)], TRUSTED)
    assert (again.keys_added, again.duplicates) == (0, 5)


def test_diagnosis_keys_release_rules() -> None:
    alice = Phone(rng=random.Random(5).randbytes)
    for d in range(16):
        alice.broadcast(T0 + d * DAY + 60)  # a key for each of 16 days
    now = T0 + 15 * DAY + 3600  # during day 15: its key is still in use
    keys = alice.diagnosis_keys(now, symptom_onset=date(2020, 9, 25))
    starts = [k.rolling_start_interval_number for k in keys]
    assert starts == [(T0 + d * DAY) // 600 for d in range(1, 15)]  # 14 days, not today's
    assert [k.transmission_risk_level for k in keys] == list(
        reversed(CWA_TRL_BY_DAYS_BEFORE_UPLOAD)
    )
    assert keys[-1].days_since_onset_of_symptoms == 4  # Sep 29 - Sep 25
    assert {k.report_type for k in keys} == {ReportType.CONFIRMED_TEST}
    assert len(alice.diagnosis_keys(now, days=3)) == 3
    tomorrow = alice.diagnosis_keys(T0 + 16 * DAY)
    assert tomorrow[-1].rolling_start_interval_number == (T0 + 15 * DAY) // 600
    with pytest.raises(ValueError, match=r"days: 15 is outside 1\.\.14"):
        alice.diagnosis_keys(now, days=15)


def test_broadcast_is_reproducible_and_rotates() -> None:
    a, b = (
        Phone(rng=random.Random(9).randbytes, tx_power_dbm=-7),
        Phone(rng=random.Random(9).randbytes),
    )
    t = T0 + 1234
    assert a.broadcast(t)[0] == b.broadcast(t)[0]
    tek, start = a.temporary_exposure_key(t)
    assert start == T0 // 600
    assert len(tek) == 16
    rpi, aem = a.broadcast(t)
    assert rpi == crypto.rpi(crypto.rpik(tek), crypto.en_interval_number(t))
    assert crypto.decrypt_aem(crypto.aemk(tek), rpi, aem) == bytes([0x40, 0xF9, 0, 0])
    assert a.broadcast(t + 600)[0] != rpi  # a new RPI every interval
    assert a.temporary_exposure_key(t + DAY)[0] != tek  # a new key every day
    when = datetime.fromtimestamp(t, UTC)
    assert a.broadcast(when) == (rpi, aem)
    with pytest.raises(ValueError, match="at: a naive datetime"):
        a.broadcast(when.replace(tzinfo=None))


def test_observations_are_columns_and_old_ones_are_forgotten() -> None:
    alice, bob = phones()
    for d in range(20):
        meet(alice, bob, T0 + d * DAY + 3600, 10, attenuation=45.0)
    obs = bob.observations
    assert isinstance(obs.at, np.ndarray)
    assert obs.rpi.shape == (len(obs), 16)
    assert obs.at.min() >= T0 + 19 * DAY + 3600 - 15 * DAY  # kept about 14 days
    bob.forget(datetime.fromtimestamp(T0 + 18 * DAY, UTC))
    assert bob.observations.at.min() >= T0 + 18 * DAY
    keys = alice.diagnosis_keys(T0 + 20 * DAY)
    alice.forget(T0 + 19 * DAY)
    assert alice.diagnosis_keys(T0 + 20 * DAY) == keys[-1:]


def test_bulk_observations_and_verified_keys() -> None:
    alice, bob = phones()
    sightings = [alice.broadcast(T0 + 60 * m) for m in range(0, 30, 5)]
    bob.observe_many(
        rpi=b"".join(r for r, _ in sightings), aem=b"".join(a for _, a in sightings),
        at=[T0 + 60 * m for m in range(0, 30, 5)], seconds=np.full(6, 300),
        attenuation_db=np.full(6, 52.0),
    )  # fmt: skip
    result = bob.check(keys=alice.diagnosis_keys(T0 + DAY), now=T0 + DAY)
    assert result.level == RiskLevel.HIGH  # 30 min x 1.2 = 36


def test_the_age_limit_applies_when_checking() -> None:
    alice, bob = phones()
    meet(alice, bob, T0 + 3600, 30, attenuation=40.0)
    keys = alice.diagnosis_keys(T0 + DAY)
    assert bob.check(keys=keys, now=T0 + 2 * DAY).level == RiskLevel.HIGH
    # 15 days later the observations, the downloaded key and the window are all gone.
    assert bob.check(now=T0 + 15 * DAY + 1).level == RiskLevel.LOW
    assert len(bob.observations) == 0
    assert len(bob.downloaded_keys) == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"attenuation_db": None}, "give exactly one of attenuation_db and rssi_dbm"),
        ({"rpi": b"short"}, "rpi: expected 16 bytes"),
        ({"aem": b"12345"}, "aem: expected 4 bytes"),
        ({"seconds": 1.5}, "seconds: expected an integer"),
        ({"seconds": 7200}, "seconds: values must be in 0..3600"),
        ({"at": "noon"}, "at: expected a datetime or unix seconds"),
        ({"attenuation_db": 256.0}, "attenuation_db: values must be in 0..255"),
    ],
)
def test_bad_observations_are_refused_and_nothing_is_stored(
    kwargs: dict[str, object], message: str
) -> None:
    bob = Phone()
    args: dict[str, object] = {
        "rpi": bytes(16),
        "aem": bytes(4),
        "at": T0,
        "attenuation_db": 50.0,
        "seconds": 300,
    }
    with pytest.raises(ValueError, match=message):
        bob.observe(**{**args, **kwargs})  # type: ignore[arg-type]
    assert len(bob.observations) == 0


def test_phone_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="tx_power_dbm: 200 is outside"):
        Phone(tx_power_dbm=200)
    with pytest.raises(ValueError, match="calibration_confidence"):
        Phone(calibration_confidence=7)


def test_datetime_and_timedelta_times() -> None:
    alice, bob = phones()
    start = datetime(2020, 9, 15, 9, tzinfo=UTC)
    for m in range(0, 20, 5):
        t = start + timedelta(minutes=m)
        rpi, aem = alice.broadcast(t)
        bob.observe(rpi, aem, t, 48.0, 300)
    keys = alice.diagnosis_keys(start + timedelta(days=1))
    assert bob.check(keys=keys, now=start + timedelta(days=1)).level == RiskLevel.HIGH
