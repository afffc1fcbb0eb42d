"""The comparison of exposure notification with location-based tracing on a tiny city."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from epicity.city.generate import CityConfig, generate_city
from epicity.exposure import compare
from epicity.exposure.client import Phone
from epicity.exposure.compare import ComparisonReport, Delays, compare_on_city
from epicity.exposure.risk import RiskConfiguration
from epicity.exposure.simulate import encounters, place_layout, scans
from epicity.records.ingest import ingest_directory

SEED = 3


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 2,000-person city over 8 days with enough introductions for a few dozen cases."""
    root = tmp_path_factory.mktemp("compare")
    generate_city(root / "city", CityConfig(people=2_000, days=8, seed=SEED, seed_infections=30))
    ingest_directory(root / "city", root / "store")
    return root / "city", root / "store"


@pytest.fixture(scope="module")
def report(tiny: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> ComparisonReport:
    city, store = tiny
    return compare_on_city(
        city=city,
        store=store,
        workdir=tmp_path_factory.mktemp("work"),
        seed=SEED,
        adoption=0.5,
        sensitivity=(0.0, 0.9),
    )


def test_counts_are_consistent_and_shares_are_shares(report: ComparisonReport) -> None:
    assert report.counts["cases"] >= 10
    rows = report.table()
    assert {(r["method"], r["truth"]) for r in rows} == {
        (m, t) for m in ("location", "exposure notification") for t in ("2 m", "same place")
    }
    for r in rows:
        assert r["warned"] == r["tp"] + r["fp"]
        assert r["true close"] == r["tp"] + r["fn"]
        assert r["tp"] >= 0
        assert r["fp"] >= 0
        assert r["fn"] >= 0
        for key in ("precision", "recall"):
            assert 0 <= r[key] <= 1
    loc = next(r for r in rows if r["method"] == "location" and r["truth"] == "2 m")
    en = next(r for r in rows if r["method"] == "exposure notification" and r["truth"] == "2 m")
    assert loc["warned"] > 0
    assert loc["tp"] > 0
    assert en["warned"] > 0
    assert en["tp"] > 0
    assert 0 <= en["recall (app users)"] <= 1
    # Both definitions judge the same warnings.
    same = {r["method"]: r["warned"] for r in rows if r["truth"] == "same place"}
    assert same == {"location": loc["warned"], "exposure notification": en["warned"]}
    # Delays are positive hours; the investigators' steps take at least the registration hour.
    for score in report.scores:
        assert (score.delay_h > 0).all()
        assert len(score.delay_h) == score.warned
    assert min(s.delay_h.min() for s in report.scores if s.method == "location") >= 1.0


def test_exposure_notification_is_bounded_by_adoption(report: ComparisonReport) -> None:
    by_share = {r["adoption"]: r for r in report.sensitivity_table()}
    assert set(by_share) == {0.0, 0.5, 0.9}
    assert by_share[0.0]["warned"] == 0
    assert by_share[0.0]["recall"] == 0
    assert by_share[0.9]["recall"] >= by_share[0.5]["recall"] > 0
    # Only people with the app can be warned: recall among everyone is bounded by the share of
    # true close contacts who have it; pairs in which both have it are about adoption².
    for s in report.scores:
        if s.method == "exposure notification":
            assert s.true_close_app is not None
            assert s.reachable is not None
            assert s.tp_app == s.tp
            assert s.recall <= s.true_close_app / s.true_close + 1e-12
            assert s.reachable <= s.true_close_app
    for a, r in by_share.items():
        assert r["reachable share"] <= a + 0.05
        assert r["reachable share"] == pytest.approx(a**2, abs=0.15)


def test_markdown_and_plot(report: ComparisonReport, tmp_path: Path) -> None:
    text = report.markdown()
    assert "| location | 2 m |" in text
    assert "| exposure notification | same place |" in text
    assert "| 0.90 |" in text
    assert "personal data" in text
    png = report.plot(tmp_path / "out" / "comparison.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_reproducible_with_a_seed(
    tiny: tuple[Path, Path], report: ComparisonReport, tmp_path: Path
) -> None:
    city, store = tiny
    again = compare_on_city(
        city=city, store=store, workdir=tmp_path, seed=SEED, adoption=0.5, sensitivity=()
    )
    keys = ("warned", "true close", "tp", "precision", "recall", "recall (app users)")
    assert [{k: r[k] for k in keys} for r in again.table()] == [
        {k: r[k] for k in keys} for r in report.table()
    ]
    en = [s for s in again.scores if s.method == "exposure notification"]
    np.testing.assert_array_equal(en[0].delay_h, report.scores[1].delay_h)


def test_shortcuts_change_nothing(tiny: tuple[Path, Path]) -> None:
    """Checking every phone that heard anyone, at every new file, with every key, warns the
    same people at the same times as checking only where a case's keys could match."""
    city, _ = tiny
    town = compare._load_city(city)
    town.cases = town.cases[:12]  # a dozen cases keep checking every phone quick
    ids = np.array(sorted(c.person for c in town.cases), dtype=np.int64)
    layout = place_layout(town.stays, town.kind)
    seen = scans(encounters(town.stays, ids, layout, seed=SEED), seed=SEED)
    runs = [
        compare._exposure_notification(
            town,
            seen,
            adoption=0.6,
            upload_share=1.0,
            delays=Delays(),
            risk=RiskConfiguration.cwa_default(),
            seed=SEED,
            check_all=check_all,
        )
        for check_all in (False, True)
    ]
    assert runs[0].warned_at
    assert runs[0].warned_at == runs[1].warned_at
    assert runs[0].delay_h == runs[1].delay_h
    assert runs[1].phones_checked > runs[0].phones_checked


def test_broadcasts_are_what_the_phone_broadcasts() -> None:
    phones = {p: Phone(rng=random.Random(p).randbytes) for p in (5, 9)}
    rng = np.random.default_rng(0)
    source = rng.choice([5, 9], 200)
    at = 1_583_074_800 + rng.integers(0, 3 * 86_400, 200)
    rpi, aem = compare.broadcasts(phones.__getitem__, source, at)
    for i in range(200):
        r, a = phones[int(source[i])].broadcast(int(at[i]))
        assert rpi[i].tobytes() == r
        assert aem[i].tobytes() == a


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="adoption"):
        compare_on_city(adoption=1.5)
    with pytest.raises(ValueError, match=r"sensitivity\[1\]"):
        compare_on_city(sensitivity=(0.2, -0.1))
    with pytest.raises(ValueError, match="city"):
        compare_on_city(city=tmp_path)
    with pytest.raises(ValueError, match="upload_median_h"):
        compare_on_city(delays=Delays(upload_median_h=-1))
    assert compare.main(["--adoption", "2"]) == 2
