"""Matching diagnosis keys against heard RPIs: exactly the planted ones, the +/- 2 h edges, no
false matches, RSSI through the AEM, streaming input, and exposure windows."""

from __future__ import annotations

import json
import random
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from epicity.exposure import crypto
from epicity.exposure.keyfile import DiagnosisKey, ReportType
from epicity.exposure.matching import (
    DSOS_MISSING,
    TOLERANCE_SECONDS,
    KeyBatch,
    Observations,
    exposure_windows,
    match,
)
from epicity.exposure.risk import Infectiousness, RiskConfiguration

DAY0 = 2_642_976  # 2020-04-02T00:00Z, the published test vectors' day


def heard(
    rpis: list[bytes],
    times: list[int],
    *,
    attenuation: float = 50.0,
    aems: list[bytes] | None = None,
) -> Observations:
    n = len(rpis)
    return Observations.from_arrays(
        rpi=b"".join(rpis),
        aem=b"".join(aems) if aems is not None else bytes(4 * n),
        at=np.array(times, np.int64),
        seconds=np.full(n, 300),
        attenuation_db=np.full(n, attenuation),
    )


def rpi_of(tek: bytes, interval: int) -> bytes:
    return crypto.rpi(crypto.rpik(tek), interval)


def found(matches: list) -> dict[bytes, list[int]]:  # type: ignore[type-arg]
    return {m.key.key_data: m.rows.tolist() for m in matches}


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_finds_exactly_the_planted_rpis(data: st.DataObject) -> None:
    rnd = random.Random(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    n_keys = data.draw(st.integers(1, 12), label="keys")
    keys = [
        DiagnosisKey(
            rnd.randbytes(16), DAY0 + 144 * rnd.randrange(14), rnd.choice([144, 144, 60, 1])
        )
        for _ in range(n_keys)
    ]
    rpis: list[bytes] = []
    times: list[int] = []
    expected: dict[bytes, list[int]] = {}
    for k in keys:
        for slot in range(k.rolling_period):
            if rnd.random() < 0.05:
                interval = k.rolling_start_interval_number + slot
                edge = rnd.choice([-TOLERANCE_SECONDS, 600 + TOLERANCE_SECONDS])
                offset = rnd.choice([
                    rnd.randint(-TOLERANCE_SECONDS, 600 + TOLERANCE_SECONDS),  # in time
                    edge,  # exactly 2 h before the interval starts or after it ends
                    edge + (1 if edge > 0 else -1) * rnd.randint(1, 86_400),  # too early/late
                ])  # fmt: skip
                if -TOLERANCE_SECONDS <= offset <= 600 + TOLERANCE_SECONDS:
                    expected.setdefault(k.key_data, []).append(len(rpis))
                rpis.append(rpi_of(k.key_data, interval))
                times.append(interval * 600 + offset)
    noise = data.draw(st.integers(0, 300), label="noise")
    for _ in range(noise):
        rpis.append(rnd.randbytes(16))
        times.append((DAY0 + rnd.randrange(14 * 144)) * 600 + rnd.randrange(600))
    # Shuffle the rows so that row order says nothing; remap the expectation.
    order = list(range(len(rpis)))
    rnd.shuffle(order)
    where = {old: new for new, old in enumerate(order)}
    obs = (
        heard([rpis[i] for i in order], [times[i] for i in order]) if rpis else Observations.empty()
    )
    expected = {kd: sorted(where[r] for r in rows) for kd, rows in expected.items()}
    chunk = data.draw(st.integers(1, 5), label="chunk")
    result = match(keys, obs, chunk_size=chunk)
    got = {kd: sorted(rows) for kd, rows in found(result).items()}
    assert got == expected
    for m in result:  # rows come in time order, with their own times and attenuations
        assert (np.diff(m.at) >= 0).all()
        assert (m.at == obs.at[m.rows]).all()


def test_tolerance_edges_are_two_hours_inclusive() -> None:
    tek = bytes(range(16))
    key = DiagnosisKey(tek, DAY0)
    interval = DAY0 + 50
    rpi = rpi_of(tek, interval)
    begin, end = interval * 600, (interval + 1) * 600
    times = [begin - 7200, begin - 7201, end + 7200, end + 7201, begin + 599]
    obs = heard([rpi] * len(times), times)
    (m,) = match([key], obs)
    assert sorted(m.rows.tolist()) == [0, 2, 4]


def test_no_false_matches_among_random_identifiers() -> None:
    rng = np.random.default_rng(7)
    n = 50_000
    obs = Observations.from_arrays(
        rpi=rng.integers(0, 256, (n, 16), dtype=np.uint8),
        aem=np.zeros((n, 4), np.uint8),
        at=rng.integers(DAY0 * 600, (DAY0 + 14 * 144) * 600, n),
        seconds=np.full(n, 300),
        attenuation_db=np.full(n, 50.0),
    )
    k = 3000
    keys = KeyBatch(
        rng.integers(0, 256, (k, 16), dtype=np.uint8),
        DAY0 + 144 * rng.integers(0, 14, k),
        np.full(k, 144),
        np.full(k, 6),
        np.full(k, 1),
        np.full(k, DSOS_MISSING),
    )
    assert match(keys, obs) == []


def test_short_keys_do_not_match_past_their_period() -> None:
    tek = bytes(16)
    key = DiagnosisKey(tek, DAY0, rolling_period=10)
    obs = heard(
        [rpi_of(tek, DAY0 + 10), rpi_of(tek, DAY0 + 9)], [(DAY0 + 10) * 600, (DAY0 + 9) * 600]
    )
    (m,) = match([key], obs)
    assert m.rows.tolist() == [1]


def test_streams_of_keys_and_batches_give_the_same_matches() -> None:
    rnd = random.Random(11)
    keys = [DiagnosisKey(rnd.randbytes(16), DAY0 + 144 * (i % 5)) for i in range(30)]
    planted = keys[3:30:4]
    obs = heard(
        [rpi_of(k.key_data, k.rolling_start_interval_number + 7) for k in planted],
        [(k.rolling_start_interval_number + 7) * 600 for k in planted],
    )
    want = found(match(keys, obs))
    assert len(want) == len(planted)
    assert found(match(iter(keys), obs, chunk_size=4)) == want
    batch = KeyBatch.from_keys(keys)
    assert (
        found(
            match(
                [batch.take(slice(0, 13)), *keys[13:20], batch.take(slice(20, 30))],
                obs,
                chunk_size=6,
            )
        )
        == want
    )
    assert [m.key for m in match(batch, obs)] == [k for k in keys if k in planted]


def test_attenuation_from_rssi_and_the_transmit_power_in_the_metadata() -> None:
    tek = bytes(range(16, 32))
    interval = DAY0 + 3
    rpi = rpi_of(tek, interval)
    aem = crypto.aem(crypto.aemk(tek), rpi, bytes([0x40, 0xF6, 0, 0]))  # TX power -10 dBm
    bad = crypto.aem(crypto.aemk(tek), rpi, bytes([0x80, 0xF6, 0, 0]))  # major version 2
    obs = Observations.from_arrays(
        rpi=rpi * 3, aem=aem + aem + bad, at=[interval * 600] * 3, seconds=np.full(3, 300),
        attenuation_db=[np.nan, 44.0, np.nan], rssi_dbm=[-70.0, np.nan, -60.0],
    )  # fmt: skip
    (m,) = match([DiagnosisKey(tek, DAY0)], obs)
    assert m.rows.tolist() == [0, 1]  # the row whose TX power cannot be read is left out
    assert m.attenuation_db.tolist() == [60.0, 44.0]  # -10 - (-70)


@pytest.mark.realdata
def test_the_published_test_vectors_match(real_data: Path) -> None:
    path = real_data / "gaen_test_vectors.json"
    if not path.is_file():
        pytest.skip(f"GAEN test vectors not found at {path}")
    v = json.loads(path.read_text())
    entries = v["advertised_data"]
    obs = Observations.from_arrays(
        rpi=b"".join(bytes.fromhex(e["rpi"]) for e in entries),
        aem=b"".join(bytes.fromhex(e["aem"]) for e in entries),
        at=[e["interval_number"] * 600 + 60 for e in entries],
        seconds=np.full(len(entries), 300),
        rssi_dbm=np.full(len(entries), -50.0),
    )
    key = DiagnosisKey(bytes.fromhex(v["tek"]), v["rolling_start_interval_number"])
    (m,) = match([key, DiagnosisKey(bytes(16), v["rolling_start_interval_number"])], obs)
    assert m.key == key
    assert len(m.rows) == 144
    assert (m.attenuation_db == 58.0).all()  # metadata TX power +8 dBm, RSSI -50 dBm


def test_no_observations_no_matches() -> None:
    assert match([DiagnosisKey(bytes(16), DAY0)], Observations.empty()) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rpi": bytes(15)}, "rpi: expected 16 bytes, got 15"),
        ({"attenuation_db": [np.nan]}, "row 0 needs exactly one of attenuation_db and rssi_dbm"),
        ({"attenuation_db": [300.0]}, "attenuation_db: values must be in 0..255"),
        ({"seconds": [-1]}, "seconds: values must be in 0..3600"),
        ({"at": [np.inf]}, "at: every time must be finite"),
    ],
)
def test_bad_observations_are_refused(kwargs: dict[str, object], message: str) -> None:
    base: dict[str, object] = {
        "rpi": bytes(16),
        "aem": bytes(4),
        "at": [DAY0 * 600],
        "seconds": [300],
        "attenuation_db": [50.0],
    }
    with pytest.raises(ValueError, match=message):
        Observations.from_arrays(**{**base, **kwargs})  # type: ignore[arg-type]


def test_bad_arguments_are_refused() -> None:
    obs = heard([bytes(16)], [DAY0 * 600])
    with pytest.raises(ValueError, match="keys: expected DiagnosisKey or KeyBatch items, got str"):
        match(["nope"], obs)  # type: ignore[list-item]
    with pytest.raises(ValueError, match="tolerance_seconds"):
        match([], obs, tolerance_seconds=-1)


def test_unique_keeps_the_last_copy_of_a_key() -> None:
    a = DiagnosisKey(bytes(16), DAY0, transmission_risk_level=3)
    b = DiagnosisKey(bytes(16), DAY0, transmission_risk_level=7, report_type=ReportType.REVOKED)
    c = DiagnosisKey(bytes(16), DAY0 + 144)
    u = KeyBatch.from_keys([a, c, b]).unique()
    assert [u.key(i) for i in range(len(u))] == [c, b]


def windows_for(
    key: DiagnosisKey, times: list[int], config: RiskConfiguration | None = None
) -> list:  # type: ignore[type-arg]
    # Each sighting hears the RPI of its interval, or the key's last one after the key's day
    # (a clock slightly behind: still within the 2-hour tolerance).
    last = key.rolling_start_interval_number + key.rolling_period - 1
    obs = heard([rpi_of(key.key_data, min(t // 600, last)) for t in times], times)
    return exposure_windows(match([key], obs), config)


def test_windows_last_at_most_thirty_minutes_and_never_cross_midnight() -> None:
    key = DiagnosisKey(
        bytes(range(16)), DAY0, transmission_risk_level=6, report_type=ReportType.CONFIRMED_TEST
    )
    t = DAY0 * 600 + 23 * 3600  # 23:00 UTC
    times = [t + 60 * m for m in (0, 5, 10, 29, 30, 35, 59, 60, 62)]
    ws = windows_for(key, times)
    assert [len(w.scan_instances) for w in ws] == [4, 3, 2]
    assert [w.date for w in ws] == [date(2020, 4, 2)] * 2 + [date(2020, 4, 3)]
    assert {
        (w.report_type, w.infectiousness, w.transmission_risk_level, w.calibration_confidence)
        for w in ws
    } == {(1, 1, 6, 3)}


def test_window_metadata_from_the_key() -> None:
    times = [DAY0 * 600 + 3600]
    onset_day2 = DiagnosisKey(
        bytes(16), DAY0, report_type=ReportType.SELF_REPORT, days_since_onset_of_symptoms=2
    )
    (w,) = windows_for(onset_day2, times)
    assert (w.report_type, w.infectiousness, w.transmission_risk_level) == (
        3,
        Infectiousness.HIGH,
        None,
    )
    missing = DiagnosisKey(bytes(16), DAY0)  # no report type, no onset: CONFIRMED_TEST, STANDARD
    (w,) = windows_for(missing, times)
    assert (w.report_type, w.infectiousness) == (ReportType.CONFIRMED_TEST, Infectiousness.STANDARD)
    assert windows_for(DiagnosisKey(bytes(16), DAY0, days_since_onset_of_symptoms=9), times) == []
    assert windows_for(DiagnosisKey(bytes(16), DAY0, report_type=ReportType.REVOKED), times) == []
