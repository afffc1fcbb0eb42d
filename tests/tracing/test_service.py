"""Investigating a case of a generated city through the audited access layer."""

from __future__ import annotations

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
from epicity.tracing.service import CaseInfo, TracingError, infectious_window, investigate

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


def test_gps_candidate_search_equals_a_brute_force_scan(
    traced_city: tuple[Path, LocationStore], access: LocationAccess
) -> None:
    """Boxes placed on grid-cell and hour boundaries find exactly who a full scan finds."""
    from epicity.tracing.service import BIN_DEGREES, gps_candidates

    con = traced_city[1].connect()
    fixes = con.execute("SELECT person_id, lat, lon, epoch(ts)::BIGINT AS t FROM gps").fetchnumpy()
    con.close()
    rng = np.random.default_rng(5)
    picks = rng.choice(len(fixes["t"]), size=40, replace=False)
    boxes = []
    for i in picks:
        # Snap a corner onto a cell edge and an hour edge, so the box straddles both.
        lat0 = np.floor(fixes["lat"][i] / BIN_DEGREES) * BIN_DEGREES - 0.0007
        lon0 = np.floor(fixes["lon"][i] / BIN_DEGREES) * BIN_DEGREES - 0.0009
        t0 = int(fixes["t"][i]) // 3600 * 3600 - 600
        boxes.append((lat0, lat0 + 0.0016, lon0, lon0 + 0.002, t0, t0 + 1800))
    start, end = int(fixes["t"].min()), int(fixes["t"].max()) + 1
    with access.open(PURPOSE) as reader:
        found = gps_candidates(reader, boxes, case_id=-1, start=start, end=end)
    inside = np.zeros(len(fixes["t"]), dtype=bool)
    for lat0, lat1, lon0, lon1, t0, t1 in boxes:
        inside |= (
            (fixes["lat"] >= lat0)
            & (fixes["lat"] <= lat1)
            & (fixes["lon"] >= lon0)
            & (fixes["lon"] <= lon1)
            & (fixes["t"] >= t0)
            & (fixes["t"] <= t1)
        )
    expected = sorted({int(p) for p in fixes["person_id"][inside]})
    assert expected
    assert found == expected
