"""Investigating a case of a generated city through the audited access layer."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import numpy as np
import pytest

from epicity.privacy.access import LocationAccess
from epicity.privacy.errors import NoActiveEmergency
from epicity.privacy.service import audit_entries
from epicity.records.store import LocationStore
from epicity.tracing.config import TracingConfig
from epicity.tracing.index import reference_projection
from epicity.tracing.service import (
    CaseInfo,
    TracingError,
    infectious_window,
    investigate,
    investigate_many,
)
from epicity.tracing.stays import cell_runs, gps_stays

PURPOSE = "epidemiological investigation of a confirmed case"
SEOUL = ZoneInfo("Asia/Seoul")


def cases(store: LocationStore) -> list[int]:
    con = store.connect()
    try:
        return [
            int(r[0])
            for r in con.execute("SELECT person_id FROM cases ORDER BY person_id").fetchall()
        ]
    finally:
        con.close()


def test_infectious_window_runs_from_two_days_before_onset_to_isolation() -> None:
    cfg = TracingConfig()
    start, end, onset = infectious_window(
        CaseInfo(1, date(2020, 3, 5), date(2020, 3, 7), date(2020, 3, 7)), SEOUL, cfg
    )
    assert start == int(
        duckdb.sql("SELECT epoch(TIMESTAMPTZ '2020-03-03 00:00:00+09')").fetchall()[0][0]
    )
    assert end == int(
        duckdb.sql("SELECT epoch(TIMESTAMPTZ '2020-03-08 00:00:00+09')").fetchall()[0][0]
    )
    assert onset - start == 2 * 86_400
    # Without symptoms the test date stands in for onset.
    start2, _, _ = infectious_window(
        CaseInfo(1, None, date(2020, 3, 7), date(2020, 3, 8)), SEOUL, cfg
    )
    assert start2 == start + 2 * 86_400
    # Tested (by tracing) before symptoms began: the test date comes first and sets the start.
    start3, end3, _ = infectious_window(
        CaseInfo(1, date(2020, 3, 9), date(2020, 3, 5), date(2020, 3, 5)), SEOUL, cfg
    )
    assert start3 == start
    assert end3 - start3 == 3 * 86_400
    with pytest.raises(TracingError, match="confirmed_date"):
        infectious_window(CaseInfo(1, date(2020, 3, 9), None, date(2020, 3, 5)), SEOUL, cfg)


def test_investigation_finds_the_case_timeline_and_contacts(
    traced_city: tuple[Path, LocationStore], access: LocationAccess
) -> None:
    city, store = traced_city
    all_cases = cases(store)
    assert all_cases
    truth = duckdb.connect()
    truth.execute("SET TimeZone = 'UTC'")
    checked = confirmed = 0
    for case_id in all_cases[:8]:
        with access.open(PURPOSE, case_id=case_id) as reader:
            inv = investigate(reader, case_id)
        assert inv.window_start < inv.window_end
        for stay in inv.timeline:
            assert inv.window_start <= stay.start < stay.end <= inv.window_end
        # Every venue stay built from a card payment matches a true visit of the case.
        for stay in inv.timeline:
            if stay.kind == "venue" and "card" in stay.sources:
                hits = truth.execute(
                    f"""SELECT count(*) FROM '{city}/truth/stays.parquet' WHERE person_id = ? AND place_id = ?
                        AND epoch(start) < ? AND epoch("end") > ?""",
                    [case_id, stay.place_id, stay.end, stay.start],
                ).fetchall()[0][0]
                assert hits > 0
        # Detected close contacts at venues (mostly) really were there with the case: visit
        # bounds around a payment are estimates, so a few are not.
        for contact in inv.contacts:
            assert contact.contact_id != case_id
            if contact.tier == "close" and contact.place_id is not None:
                checked += 1
                both = truth.execute(
                    f"""SELECT count(*) FROM '{city}/truth/stays.parquet' a JOIN '{city}/truth/stays.parquet' b
                        USING (place_id) WHERE a.person_id = ? AND b.person_id = ? AND place_id = ?
                        AND a.start < b."end" AND b.start < a."end" """,
                    [case_id, contact.contact_id, contact.place_id],
                ).fetchall()[0][0]
                confirmed += both > 0
    assert checked > 0
    assert confirmed / checked >= 0.8


def test_every_investigation_is_audited(
    traced_city: tuple[Path, LocationStore], access: LocationAccess
) -> None:
    case_id = cases(traced_city[1])[0]
    with access.open(PURPOSE, case_id=case_id) as reader:
        investigate(reader, case_id)
    with access._sessions() as s:  # type: ignore[attr-defined]
        entries = audit_entries(s, case_id=case_id)
    reads = [e for e in entries if e.action == "location.read"]
    assert len(reads) == 1
    assert reads[0].actor == "investigator-kim"
    assert reads[0].purpose == PURPOSE
    assert reads[0].rows_returned > 0
    assert {"cases", "gps", "cell"} <= set(reads[0].tables.split(","))


def test_unknown_case_and_missing_emergency_are_clear_errors(
    traced_city: tuple[Path, LocationStore], access: LocationAccess, tmp_path: Path
) -> None:
    with (
        access.open(PURPOSE, case_id=999_999_999) as reader,
        pytest.raises(TracingError, match="999999999"),
    ):
        investigate(reader, 999_999_999)
    from epicity.db import make_engine, migrate, session_factory

    engine = make_engine(f"sqlite:///{tmp_path / 'none.db'}")
    migrate(engine)
    no_emergency = LocationAccess(
        traced_city[1], session_factory(engine), actor="kim", role="investigator"
    )
    with pytest.raises(NoActiveEmergency), no_emergency.open(PURPOSE, case_id=1):
        pass


def test_the_index_holds_the_stays_and_runs_of_each_whole_track(
    traced_city: tuple[Path, LocationStore],
) -> None:
    """Built a day at a time, the index equals stay detection over each person's whole track
    (stays crossing midnight included)."""
    store = traced_city[1]
    con = store.connect()
    ref = con.execute("SELECT lat, lon FROM towers").fetchnumpy()
    mer = con.execute("SELECT lat, lon FROM merchants").fetchnumpy()
    proj = reference_projection(ref["lat"], ref["lon"], mer["lat"], mer["lon"])
    g = con.execute(
        "SELECT person_id, epoch(ts)::BIGINT AS t, lat, lon, accuracy_m FROM gps "
        "ORDER BY person_id, ts"
    ).fetchnumpy()
    x, y = proj.to_xy(g["lat"], g["lon"])
    cfg = replace(TracingConfig(), stay_min_duration_s=0)
    want = gps_stays(g["person_id"], g["t"], x, y, g["accuracy_m"], cfg)
    got = con.execute(
        'SELECT DISTINCT person_id, start, "end", lat, lon, fixes FROM stay_index '
        "ORDER BY person_id, start"
    ).fetchnumpy()
    assert len(want) == len(got["start"]) > 0
    assert (want.person == got["person_id"]).all()
    assert (want.start == got["start"]).all()
    assert (want.end == got["end"]).all()
    assert (want.fixes == got["fixes"]).all()
    lat, lon = proj.to_latlon(want.x, want.y)
    assert np.allclose(lat, got["lat"], atol=1e-12)
    assert np.allclose(lon, got["lon"], atol=1e-12)
    # Some stays cross a UTC midnight, where the build carries chains from one day to the next.
    assert (want.start // 86_400 != (want.end - 1) // 86_400).any()
    c = con.execute(
        "SELECT person_id, epoch(ts)::BIGINT AS t, tower_id FROM cell ORDER BY person_id, ts"
    ).fetchnumpy()
    runs = cell_runs(c["person_id"], c["t"], c["tower_id"])
    order = np.lexsort((runs.end, runs.tower, runs.start, runs.person))
    got_runs = con.execute(
        'SELECT DISTINCT person_id, start, tower_id, "end" FROM cell_runs_index '
        'ORDER BY person_id, start, tower_id, "end"'
    ).fetchnumpy()
    con.close()
    assert (runs.start[order] == got_runs["start"]).all()
    assert (runs.tower[order] == got_runs["tower_id"]).all()
    assert (runs.end[order] == got_runs["end"]).all()


def test_tracing_cases_together_equals_tracing_each_alone(
    traced_city: tuple[Path, LocationStore], access: LocationAccess
) -> None:
    ids = cases(traced_city[1])[:6]
    with access.open(PURPOSE) as reader:
        together = investigate_many(reader, ids)
    for case_id, inv in zip(ids, together, strict=True):
        with access.open(PURPOSE, case_id=case_id) as reader:
            alone = investigate(reader, case_id)
        assert inv.case == alone.case
        assert [(c.contact_id, c.tier, round(c.risk_score, 12)) for c in inv.contacts] == [
            (c.contact_id, c.tier, round(c.risk_score, 12)) for c in alone.contacts
        ]
        assert inv.area == alone.area
    assert any(inv.contacts for inv in together)
    assert any(a.people > 0 for inv in together for a in inv.area)


def test_an_index_built_with_other_thresholds_is_refused(
    traced_city: tuple[Path, LocationStore], access: LocationAccess
) -> None:
    case_id = cases(traced_city[1])[0]
    with (
        access.open(PURPOSE, case_id=case_id) as reader,
        pytest.raises(TracingError, match=r"stay_radius_m=60\.0"),
    ):
        investigate(reader, case_id, config=TracingConfig(stay_radius_m=80.0))


def test_area_counts_equal_a_count_over_everyone_s_cell_runs(
    traced_city: tuple[Path, LocationStore], access: LocationAccess
) -> None:
    """Others whose runs at the tower overlap the case's run, minus the named contacts."""
    store = traced_city[1]
    con = store.connect()
    c = con.execute(
        "SELECT person_id, epoch(ts)::BIGINT AS t, tower_id FROM cell ORDER BY person_id, ts"
    ).fetchnumpy()
    con.close()
    runs = cell_runs(c["person_id"], c["t"], c["tower_id"])
    checked = 0
    for case_id in cases(store)[:4]:
        with access.open(PURPOSE, case_id=case_id) as reader:
            inv = investigate(reader, case_id)
        named = {x.contact_id for x in inv.contacts} | {case_id}
        for a in inv.area:
            m = (runs.tower == a.tower_id) & (runs.start < a.end) & (runs.end > a.start)
            assert a.people == len(set(runs.person[m].tolist()) - named)
            checked += a.people > 0
    assert checked > 0


def test_a_batch_is_audited_once_per_case(
    traced_city: tuple[Path, LocationStore], access: LocationAccess
) -> None:
    ids = cases(traced_city[1])[:3]
    with access.open(PURPOSE, cases=ids) as reader:
        investigate_many(reader, ids)
    with access._sessions() as s:  # type: ignore[attr-defined]
        for case_id in ids:
            reads = [e for e in audit_entries(s, case_id=case_id) if e.action == "location.read"]
            assert len(reads) == 1
            assert reads[0].detail is not None
            assert reads[0].detail["batch_of_cases"] == 3
            assert reads[0].rows_returned > 0
