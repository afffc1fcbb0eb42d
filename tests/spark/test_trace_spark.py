"""Contact tracing on Spark: the same investigations as on DuckDB, through the same audited
access layer (epicity.privacy.spark_reader), and the DuckDB-to-Spark SQL translation."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from epicity.city.generate import CityConfig, generate_city
from epicity.cli import app
from epicity.db import make_engine, migrate, session_factory, session_scope
from epicity.geo import LocalProjection
from epicity.privacy.access import AuditedReader, LocationAccess
from epicity.privacy.errors import NoActiveEmergency, QueryRefused
from epicity.privacy.models import AuditEntry
from epicity.privacy.service import audit_entries, declare_emergency
from epicity.privacy.spark_reader import SparkLocationReader
from epicity.privacy.spark_sql import bind_parameters, parse_duckdb, to_spark
from epicity.records.ingest import ingest_directory
from epicity.records.store import LocationStore
from epicity.tracing.cli import trace_cases
from epicity.tracing.config import TracingConfig
from epicity.tracing.index import PLACE_BITS
from epicity.tracing.service import Investigation

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

PURPOSE = "contact tracing of confirmed cases on both engines"
KST = dt.timezone(dt.timedelta(hours=9))
# Six cases confirmed on its last day (2020-03-04), with close and casual contacts.
CITY = CityConfig(people=400, days=3, seed=21, seed_infections=60, transmission=3.0)

# -- the hand-made scenarios, loaded into the same store as the generated city: 150 km from
# it (Daejeon) and with ids past its own, so the two never meet. Places in metres east and
# north of PROJ's origin.
PROJ = LocalProjection(36.3504, 127.3845)
RESTAURANT, KARAOKE, STATION, FAR_STATION = 9_100, 9_101, 9_102, 9_103
TOWER_1, TOWER_2, TOWER_3 = 9_001, 9_002, 9_003  # the case's, the far one, the station's
OFFICE, FRIEND, HOME, FAR = (0.0, 3000.0), (3000.0, 3000.0), (-3000.0, 0.0), (10000.0, 10000.0)
P = 10_000  # people of the scenarios: P + n
CASE_A, CASE_B, CASE_C = P + 1, P + 2, P + 3
CARD_CLOSE, CARD_CASUAL, OFFICE_MATE = P + 11, P + 12, P + 13
FRIEND_HOST, HOUSEMATE, KARAOKE_MATE = P + 14, P + 15, P + 16
TOWER_NEIGHBOURS = range(P + 20, P + 25)  # cell records only, with case A at tower 1
COMMUTERS = range(P + 200, P + 260)  # tap in at the station with case A, one place-hour
PASSERS_BY = range(P + 300, P + 340)  # served by the station's tower then, no payment
SCENARIO_CASES = [CASE_A, CASE_B, CASE_C]


def _latlon(x: float, y: float) -> tuple[float, float]:
    lat, lon = PROJ.to_latlon(np.array([x]), np.array([y]))
    return round(float(lat[0]), 7), round(float(lon[0]), 7)


def _at(day: int, hh: int, mm: int, ss: float = 0) -> str:
    """A time on 2020-03-`day` in Seoul, ISO 8601 with offset (minutes may pass 59)."""
    t = dt.datetime(2020, 3, day, hh, tzinfo=KST) + dt.timedelta(minutes=mm, seconds=ss)
    return t.isoformat()


def _fixes(person: int, xy: tuple[float, float], day: int, start: tuple[int, int], minutes: int):
    """GPS fixes every 10 minutes at a place (within a few metres), from `start` (hh, mm)."""
    out = []
    for k in range(minutes // 10 + 1):
        t = dt.datetime(2020, 3, day, *start, tzinfo=KST) + dt.timedelta(minutes=10 * k)
        lat, lon = _latlon(xy[0] + (k % 3), xy[1] - (k % 2))
        out.append(
            {"person_id": person, "ts": t.isoformat(), "lat": lat, "lon": lon, "accuracy_m": 8}
        )
    return out


def scenario_tables() -> dict[str, list[dict[str, Any]]]:
    """The scenarios, one table per file (see the test docstrings for what each shows)."""
    places = {RESTAURANT: (0.0, 0.0), KARAOKE: (2000.0, 0.0), STATION: (4000.0, 0.0)}
    places[FAR_STATION] = (9000.0, 9000.0)
    kinds = {
        RESTAURANT: ("Hanok Table", "restaurant"),
        KARAOKE: ("Star Karaoke", "karaoke"),
        STATION: ("Seoul Forest Station", "subway_station"),
        FAR_STATION: ("Far Station", "subway_station"),
    }
    merchants = [
        {"merchant_id": m, "name": kinds[m][0], "category": kinds[m][1],
         "lat": _latlon(*xy)[0], "lon": _latlon(*xy)[1], "indoor": "true",
         "district": "Seongdong-gu" if m != FAR_STATION else "Gangnam-gu"}
        for m, xy in places.items()
    ]  # fmt: skip
    towers = [
        {"tower_id": t, "lat": _latlon(*xy)[0], "lon": _latlon(*xy)[1], "range_m": r}
        for t, xy, r in [
            (TOWER_1, (1000.0, 1000.0), 1500),
            (TOWER_2, FAR, 1000),
            (TOWER_3, (4100.0, 0.0), 600),
        ]
    ]
    everyone = [
        CASE_A, CASE_B, CASE_C, CARD_CLOSE, CARD_CASUAL, OFFICE_MATE, FRIEND_HOST, HOUSEMATE,
        KARAOKE_MATE, *TOWER_NEIGHBOURS, *COMMUTERS, *PASSERS_BY,
    ]  # fmt: skip
    home = _latlon(*HOME)
    people = [
        {"person_id": p, "age": 20 + p % 50, "sex": "female" if p % 2 else "male",
         "district": "Seongdong-gu",
         "home_lat": home[0] if p in (CASE_A, HOUSEMATE) else _latlon(p - P, -5000.0)[0],
         "home_lon": home[1] if p in (CASE_A, HOUSEMATE) else _latlon(p - P, -5000.0)[1],
         "household_id": 9_500 if p in (CASE_A, HOUSEMATE) else P + p}
        for p in everyone
    ]  # fmt: skip
    cases = [
        {"person_id": CASE_A, "symptom_onset": "2020-03-05", "test_date": "2020-03-06",
         "confirmed_date": "2020-03-06"},
        {"person_id": CASE_B, "symptom_onset": "2020-03-05", "test_date": "2020-03-06",
         "confirmed_date": "2020-03-06"},
        # No symptoms: the test date sets the window.
        {"person_id": CASE_C, "symptom_onset": "", "test_date": "2020-03-05",
         "confirmed_date": "2020-03-06"},
    ]  # fmt: skip
    card = [
        # Restaurant (dwell 50 min before the bill, 5 after): A 12:00-12:55.
        {"person_id": CASE_A, "ts": _at(4, 12, 50), "merchant_id": RESTAURANT, "amount": 23000},
        # 11:55-12:50, 50 minutes together: close.
        {"person_id": CARD_CLOSE, "ts": _at(4, 12, 45), "merchant_id": RESTAURANT,
         "amount": 9000},
        # 11:15-12:10, 10 minutes together: casual.
        {"person_id": CARD_CASUAL, "ts": _at(4, 12, 5), "merchant_id": RESTAURANT,
         "amount": 8000},
        # The station at rush hour: A and 60 commuters tap in within four minutes.
        {"person_id": CASE_A, "ts": _at(4, 8, 0), "merchant_id": STATION, "amount": 1250},
        *(
            {"person_id": p, "ts": _at(4, 7, 58 + k % 5), "merchant_id": STATION,
             "amount": 1250}
            for k, p in enumerate(COMMUTERS)
        ),
    ]  # fmt: skip
    entries = [
        # Karaoke's visitor log (10 min before, 80 after): 19:50-21:20 and 19:55-21:25.
        {"person_id": CASE_C, "ts": _at(5, 20, 0), "merchant_id": KARAOKE},
        {"person_id": KARAOKE_MATE, "ts": _at(5, 20, 5), "merchant_id": KARAOKE},
    ]
    gps = [
        # An office without a venue: A 13:00-17:00, a colleague 14:00-16:00 a few metres away.
        *_fixes(CASE_A, OFFICE, 4, (13, 0), 240),
        *_fixes(OFFICE_MATE, (OFFICE[0] + 1.0, OFFICE[1] + 1.0), 4, (14, 0), 120),
        # At a friend's over 09:00 in Seoul, which is midnight UTC (a new day partition).
        *_fixes(CASE_A, FRIEND, 5, (7, 30), 180),
        *_fixes(FRIEND_HOST, (FRIEND[0] - 1.0, FRIEND[1]), 5, (8, 30), 80),
        # Case B alone, far away, with fractions of a second (epoch() rounds them).
        *(
            {"person_id": CASE_B, "ts": _at(5, 10, 10 * k, 0.5 + 0.25 * k),
             "lat": _latlon(*FAR)[0], "lon": _latlon(*FAR)[1], "accuracy_m": 10}
            for k in range(5)
        ),
    ]  # fmt: skip
    cell = [
        # A at tower 1 from 10:00 to 11:00 with five neighbours and a named contact.
        *({"person_id": CASE_A, "ts": _at(4, 10, m), "tower_id": TOWER_1} for m in (0, 30, 59)),
        *({"person_id": p, "ts": _at(4, 10, 15), "tower_id": TOWER_1} for p in TOWER_NEIGHBOURS),
        {"person_id": CARD_CLOSE, "ts": _at(4, 10, 20), "tower_id": TOWER_1},
        # The crowded station's tower at rush hour.
        {"person_id": CASE_A, "ts": _at(4, 7, 59), "tower_id": TOWER_3},
        *({"person_id": p, "ts": _at(4, 7, 59), "tower_id": TOWER_3} for p in COMMUTERS),
        *({"person_id": p, "ts": _at(4, 7, 59), "tower_id": TOWER_3} for p in PASSERS_BY),
        # B alone at tower 2, with fractions of a second.
        *({"person_id": CASE_B, "ts": _at(5, 10, m, 0.5), "tower_id": TOWER_2} for m in (0, 40)),
    ]
    return {
        "towers": towers,
        "merchants": merchants,
        "people": people,
        "cases": cases,
        "card": card,
        "entries": entries,
        "gps": gps,
        "cell": cell,
    }


def _write_csv(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> LocationStore:
    """The generated city, then the hand-made scenarios as CSV files, loaded by the DuckDB
    ingest into one store (one store: Spark opens its tables once)."""
    root = tmp_path_factory.mktemp("spark-trace")
    generate_city(root / "city", CITY)
    ingest_directory(root / "city", root / "store")
    (root / "scenarios").mkdir()
    for name, rows in scenario_tables().items():
        _write_csv(root / "scenarios" / f"{name}.csv", rows)
    ingest_directory(root / "scenarios", root / "store")
    return LocationStore(root / "store")


def _city_day(store: LocationStore) -> list[int]:
    """The generated city's cases confirmed on its busiest day."""
    con = store.connect()
    try:
        rows = con.execute(
            "SELECT person_id FROM cases WHERE person_id < ? AND confirmed_date = ("
            "  SELECT confirmed_date FROM cases WHERE person_id < ? GROUP BY 1"
            "  ORDER BY count(*) DESC, 1 LIMIT 1) ORDER BY 1",
            [P, P],
        ).fetchall()
    finally:
        con.close()
    return [int(r[0]) for r in rows]


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sessionmaker[Session]]:
    """A database with an emergency in force (SQLite)."""
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('ops') / 'ops.db'}")
    migrate(engine)
    factory = session_factory(engine)
    with session_scope(factory) as s:
        declare_emergency(s, name="COVID-19", area="Seoul", actor="admin")
    yield factory
    engine.dispose()


def _access(store: LocationStore, sessions: sessionmaker[Session]) -> LocationAccess:
    return LocationAccess(store, sessions, actor="investigator-kim", role="investigator")


def _plain(investigations: Sequence[Investigation]) -> list[dict[str, Any]]:
    return [dataclasses.asdict(inv) for inv in investigations]


@dataclasses.dataclass
class _Traced:
    """A day's cases (the city's busiest day and the scenarios') traced on one engine."""

    investigations: dict[int, dict[str, Any]]  # by case
    warnings: dict[int, dict[str, Any]]
    audit: list[AuditEntry]


@pytest.fixture(scope="module")
def traced(
    store: LocationStore, sessions: sessionmaker[Session], spark: SparkSession
) -> dict[str, _Traced]:
    """Every case of the day traced together by `trace_cases` (one batch), on each engine."""
    access = _access(store, sessions)
    cases = [*_city_day(store), *SCENARIO_CASES]
    out = {}
    for engine in ("duckdb", "spark"):
        before = len(_location_entries(sessions))
        results, failures = trace_cases(
            access, sessions, cases, purpose=PURPOSE, config=TracingConfig(),
            timezone="Asia/Seoul", engine=engine,
        )  # fmt: skip
        assert failures == []
        out[engine] = _Traced(
            {r.investigation.case.person_id: dataclasses.asdict(r.investigation) for r in results},
            {r.investigation.case.person_id: r.warnings.to_json() for r in results},
            _location_entries(sessions)[before:],
        )
    return out


def _location_entries(sessions: sessionmaker[Session]) -> list[AuditEntry]:
    with sessions() as s:
        return [e for e in audit_entries(s) if e.action.startswith("location.")]


def _assert_equal_tables(want: pa.Table, got: pa.Table, sql: str) -> None:
    """Equal names, types and rows; in the same order when the query sorts."""
    assert got.schema.equals(want.schema), f"{sql}\n{got.schema}\n!=\n{want.schema}"
    if "ORDER BY" not in sql.upper():  # DISTINCT, GROUP BY: any order, on both engines
        keys = [(name, "ascending") for name in want.column_names]
        want, got = want.sort_by(keys), got.sort_by(keys)
    assert got.equals(want), sql


def test_hand_made_scenarios_trace_identically(traced: dict[str, _Traced]) -> None:
    """Timeline, contacts (ids, tiers, scores, exposures), area counts and warnings."""
    duck, spark = traced["duckdb"], traced["spark"]
    for case in SCENARIO_CASES:
        assert spark.investigations[case] == duck.investigations[case]
        assert spark.warnings[case] == duck.warnings[case]


def test_a_day_of_cases_in_a_generated_city_traces_identically(
    traced: dict[str, _Traced], store: LocationStore
) -> None:
    duck, spark = traced["duckdb"], traced["spark"]
    day = _city_day(store)
    assert len(day) >= 5
    assert [spark.investigations[c] for c in day] == [duck.investigations[c] for c in day]
    assert [spark.warnings[c] for c in day] == [duck.warnings[c] for c in day]
    contacts = [x for c in day for x in duck.investigations[c]["contacts"]]
    assert {x["tier"] for x in contacts} == {"close", "casual"}
    assert sum(a["people"] for c in day for a in duck.investigations[c]["area"]) > 0


def test_the_scenarios_find_what_they_were_made_for(traced: dict[str, _Traced]) -> None:
    a, b, c = (traced["duckdb"].investigations[case] for case in SCENARIO_CASES)
    by_id = {x["contact_id"]: x for x in a["contacts"]}
    # The restaurant, by card: 50 minutes together is close, 10 minutes casual.
    assert (by_id[CARD_CLOSE]["tier"], by_id[CARD_CLOSE]["place_id"]) == ("close", RESTAURANT)
    assert (by_id[CARD_CASUAL]["tier"], by_id[CARD_CASUAL]["place_id"]) == ("casual", RESTAURANT)
    assert by_id[CARD_CASUAL]["overlap_minutes"] == 10
    # GPS only: the office, and the friend's home over midnight UTC (09:00 in Seoul).
    for mate in (OFFICE_MATE, FRIEND_HOST):
        assert (by_id[mate]["tier"], by_id[mate]["sources"]) == ("close", ("gps",))
    midnight = int(dt.datetime(2020, 3, 5, tzinfo=dt.UTC).timestamp())
    assert by_id[FRIEND_HOST]["first_contact"] < midnight < by_id[FRIEND_HOST]["last_contact"]
    # The registry's household.
    assert by_id[HOUSEMATE]["tier"] == "close"
    # The crowded station: every commuter is a casual contact there.
    assert {(by_id[p]["tier"], by_id[p]["place_id"]) for p in COMMUTERS} == {("casual", STATION)}
    assert set(by_id) == {CARD_CLOSE, CARD_CASUAL, OFFICE_MATE, FRIEND_HOST, HOUSEMATE,
                          *COMMUTERS}  # fmt: skip
    # Area counts: named contacts are not counted again.
    assert {(x["tower_id"], x["people"]) for x in a["area"]} == {
        (TOWER_1, len(TOWER_NEIGHBOURS)), (TOWER_3, len(PASSERS_BY))
    }  # fmt: skip
    warned = traced["duckdb"].warnings[CASE_A]
    alerts = {x["tower_id"]: x["landmark"] for x in warned["area_alerts"]}
    assert alerts == {TOWER_1: "Seoul Forest Station", TOWER_3: "Seoul Forest Station"}
    # Nobody met B; C met one person at a karaoke with a visitor log.
    assert b["contacts"] == []
    assert [x["people"] for x in b["area"]] == [0]
    assert [(x["contact_id"], x["tier"], x["sources"]) for x in c["contacts"]] == [
        (KARAOKE_MATE, "close", ("entries",))
    ]


def test_spark_reads_are_audited_like_duckdb(
    traced: dict[str, _Traced], store: LocationStore
) -> None:
    """One location.read per case, with the same tables, rows and statements, and the
    engine."""
    duck, spark = traced["duckdb"].audit, traced["spark"].audit
    cases = [*_city_day(store), *SCENARIO_CASES]
    for entries, engine in ((duck, "duckdb"), (spark, "spark")):
        assert [(e.action, e.case_id) for e in entries] == [("location.read", c) for c in cases]
        assert {e.detail["engine"] for e in entries if e.detail} == {engine}
    for d, s in zip(duck, spark, strict=True):
        assert (s.table_list, s.rows_returned, s.purpose) == (d.table_list, d.rows_returned,
                                                               d.purpose)  # fmt: skip
        assert s.detail is not None
        assert d.detail is not None
        assert (s.detail["sql"], s.detail["batch_of_cases"]) == (d.detail["sql"], len(cases))
    assert {"cases", "gps", "card", "cell", "stay_index", "cell_runs_index"} <= set(
        spark[0].table_list
    )


# -- the command and the audit --------------------------------------------------------------
def test_the_trace_command_reads_through_the_engine_it_is_given(
    store: LocationStore, tmp_path: Path, spark: SparkSession
) -> None:
    """``epicity trace --engine spark`` traces through Spark's reader (the tracing itself is
    `trace_cases`, compared above); a case missing from the store is reported as on DuckDB."""
    engine = make_engine(f"sqlite:///{tmp_path / 'cli.db'}")
    try:
        migrate(engine)
        factory = session_factory(engine)
        with session_scope(factory) as s:
            declare_emergency(s, name="COVID-19", area="Seoul", actor="admin")
        url = engine.url.render_as_string(hide_password=False)
        base = ["trace", "--store", str(store.path), "--case", "999"]
        base += ["--purpose", PURPOSE, "--db", url, "--out", str(tmp_path / "out")]
        outputs = {}
        for name in ("duckdb", "spark"):
            result = CliRunner().invoke(app, [*base, "--engine", name])
            assert result.exit_code == 2, result.output
            outputs[name] = result.output
        assert outputs["spark"] == outputs["duckdb"]
        assert "case 999: case: no confirmed case with person_id 999" in outputs["spark"]
        reads = [e.detail["engine"] for e in _location_entries(factory) if e.detail]
        assert reads.count("spark") == reads.count("duckdb") > 0
        wrong = CliRunner().invoke(app, [*base, "--engine", "flink"])
        assert wrong.exit_code == 2
        assert "unknown engine 'flink'" in wrong.output
    finally:
        engine.dispose()


def test_spark_reader_refused_without_an_emergency(
    store: LocationStore, tmp_path: Path, spark: SparkSession
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'none.db'}")
    try:
        migrate(engine)
        factory = session_factory(engine)
        access = _access(store, factory)
        with (
            _no_spark_jobs(spark),
            pytest.raises(NoActiveEmergency),
            access.open(PURPOSE, case_id=CASE_A, engine="spark"),
        ):
            pytest.fail("the block must not run")
        [entry] = _location_entries(factory)
        assert (entry.action, entry.case_id) == ("location.denied", CASE_A)
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("COPY gps TO 'leak.csv'", "one SELECT query only"),
        ("SELECT 1; SELECT * FROM gps", "one statement per query"),
        ("SELECT * FROM read_parquet('gps/*.parquet')", "table function read_parquet"),
    ],
)
def test_spark_reader_refuses_before_spark_runs(
    store: LocationStore,
    sessions: sessionmaker[Session],
    spark: SparkSession,
    sql: str,
    message: str,
) -> None:
    access = _access(store, sessions)
    before = len(_location_entries(sessions))
    with access.open(PURPOSE, case_id=CASE_A, engine="spark") as reader:
        with _no_spark_jobs(spark), pytest.raises(QueryRefused, match=message):
            reader.query(sql)
        assert isinstance(reader, SparkLocationReader)
    [entry] = _location_entries(sessions)[before:]
    assert entry.rows_returned == 0
    assert entry.detail["engine"] == "spark"


class _no_spark_jobs:  # noqa: N801 (reads as a statement)
    """Fails if Spark ran a job inside the block (the block's jobs are put in a job group)."""

    def __init__(self, spark: SparkSession) -> None:
        self.context = spark.sparkContext
        self.group = f"must-not-run-{id(self)}"

    def __enter__(self) -> None:
        self.context.setJobGroup(self.group, "a refused read")

    def __exit__(self, *exc: object) -> None:
        self.context.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]
        assert list(self.context.statusTracker().getJobIdsForGroup(self.group)) == []


# -- the translation, query shape by query shape ---------------------------------------------
def _bound(sql: str, params: Any = None) -> str:
    return bind_parameters(parse_duckdb(sql), params).sql(dialect="duckdb")


def test_parameters_bind_as_typed_literals_in_order() -> None:
    assert _bound("SELECT ts FROM gps WHERE ts >= ?::TIMESTAMPTZ AND ts < ?", ["a", "b"]) == (
        "SELECT ts FROM gps WHERE ts >= CAST('a' AS TIMESTAMPTZ) AND ts < 'b'"
    )
    assert _bound("SELECT $2, $1, ?", [1, 2, 3]) == "SELECT 2, 1, 3"
    assert _bound("SELECT $d, $s", {"d": dt.date(2020, 3, 5), "s": "it's"}) == (
        "SELECT CAST('2020-03-05' AS DATE), 'it''s'"
    )
    spark_sql = to_spark(parse_duckdb("SELECT 1"), {})
    assert spark_sql == "SELECT 1"
    quoted = bind_parameters(parse_duckdb("SELECT ?"), ["a'b\\c"])
    assert to_spark(quoted, {}) == "SELECT 'a\\'b\\\\c'"
    values = [None, True, 1.5, float("inf"), dt.datetime(2020, 3, 5, 1, 2, tzinfo=dt.UTC)]
    assert _bound("SELECT ?, ?, ?, ?, ?", values) == (
        "SELECT NULL, TRUE, 1.5e0, CAST('Infinity' AS DOUBLE), "
        "CAST('2020-03-05 01:02:00+00:00' AS TIMESTAMPTZ)"
    )
    with pytest.raises(duckdb.InvalidInputException, match="not provided"):
        _bound("SELECT ?, ?", [1])
    with pytest.raises(duckdb.InvalidInputException, match="excess"):
        _bound("SELECT ?", [1, 2])
    with pytest.raises(duckdb.InvalidInputException, match="named"):
        _bound("SELECT $a", [1])


def test_tables_become_the_readers_views_and_small_inputs_are_broadcast() -> None:
    views = {"stay_index": "v_stay", "lookup": "v_lookup", "gps": "v_gps"}
    sql = (
        'SELECT DISTINCT k.case_no, i."end" FROM stay_index i '
        "JOIN (SELECT DISTINCT * FROM lookup) k ON i.key = k.key WHERE i.hour IN (1, 2)"
    )
    assert to_spark(parse_duckdb(sql), views, small={"lookup"}) == (
        "SELECT /*+ BROADCAST(`k`) */ DISTINCT `k`.`case_no`, `i`.`end` FROM `v_stay` AS `i` "
        "JOIN (SELECT DISTINCT * FROM `v_lookup` AS `lookup`) AS `k` ON `i`.`key` = `k`.`key` "
        "WHERE `i`.`hour` IN (1, 2)"
    )
    # A CTE keeps its name; a table named by itself or under main keeps resolving.
    cte = "WITH gps AS (SELECT 1 AS x) SELECT gps.x FROM gps, main.gps AS g"
    assert to_spark(parse_duckdb(cte), views).endswith("FROM `gps`, `v_gps` AS `g`")
    with pytest.raises(KeyError, match="people"):
        to_spark(parse_duckdb("SELECT * FROM people"), views)


def test_duckdb_semantics_sqlglot_misses_are_rewritten() -> None:
    epoch = to_spark(parse_duckdb("SELECT epoch(ts)::BIGINT AS t, epoch(ts) FROM gps"),
                     {"gps": "g"})  # fmt: skip
    assert epoch.startswith(
        "SELECT CAST(BROUND((UNIX_MICROS(CAST(`ts` AS TIMESTAMP)) / 1e6), 0) AS BIGINT) AS `t`, "
        "(UNIX_MICROS(CAST(`ts` AS TIMESTAMP)) / 1e6)"
    )
    casts = to_spark(parse_duckdb("SELECT CAST(2.5 AS BIGINT), (a / b)::INT, x::BIGINT"), {})
    assert casts == (
        "SELECT CAST(ROUND(2.5, 0) AS BIGINT), CAST(BROUND((`a` / `b`), 0) AS INT), "
        "CAST(`x` AS BIGINT)"
    )
    shapes = to_spark(
        parse_duckdb(
            "SELECT arg_min(name, (lat - 1) ^ 2) AS n FROM m, t ANTI JOIN u ON t.a = u.a ORDER BY n"
        ),
        {"m": "m", "t": "t", "u": "u"},
    )
    assert shapes == (
        "SELECT /*+ REPARTITION(1) */ MIN_BY(`name`, POWER((`lat` - 1), 2)) AS `n` "
        "FROM `m` AS `m`, `t` AS `t` ANTI JOIN `u` AS `u` ON `t`.`a` = `u`.`a` "
        "ORDER BY `n` NULLS LAST"
    )


def _lookups(store: LocationStore) -> dict[str, pa.Table]:
    """Case A's keys in the index and named contacts, as tracing builds its inputs."""
    con = store.connect()
    try:
        keys = con.execute(
            "SELECT DISTINCT key FROM stay_index WHERE person_id = ? ORDER BY 1", [CASE_A]
        ).fetchnumpy()["key"]
        runs = con.execute(
            'SELECT key, tower_id, start, "end" FROM cell_runs_index WHERE person_id = ? '
            "ORDER BY 1, 2, 3",
            [CASE_A],
        ).fetchnumpy()
    finally:
        con.close()
    n = len(runs["key"])
    return {
        "stay": pa.table({"key": keys, "case_no": np.zeros(len(keys), np.int64)}),
        "runs": pa.table(
            {
                "key": runs["key"],
                "run_no": np.arange(n, dtype=np.int64),
                "case_id": np.full(n, CASE_A, np.int64),
                "tower_id": runs["tower_id"],
                "run_start": runs["start"],
                "run_end": runs["end"],
            }
        ),
        "named": pa.table(
            {
                "case_id": pa.array([CASE_A] * 3, pa.int64()),
                "person_id": pa.array([CARD_CLOSE, COMMUTERS[0], PASSERS_BY[0]], pa.int64()),
            }
        ),
    }


# Tracing's query shapes as service.py writes them ({hours}: the index partitions to open),
# on tiny inputs. Its other queries are plain SELECTs with ORDER BY, ? parameters and IN an
# input, shown by the tests after these; every one runs in the traces above.
SHAPES = {
    'an index lookup: a joined input, DISTINCT, "end", int32, the hour partition': (
        'SELECT DISTINCT k.case_no, i.person_id, i.start, i."end", i.lat, i.lon, i.radius_m, '
        "i.fixes, i.hour FROM stay_index i JOIN (SELECT DISTINCT * FROM lookup) k "
        "ON i.key = k.key WHERE true AND i.hour IN ({hours})",
        ("stay",),
    ),
    "area counts: a CTE, <>, ANTI JOIN, count(*)": (
        """WITH pairs AS (
              SELECT DISTINCT k.run_no, k.case_id, r.person_id
              FROM cell_runs_index r JOIN lookup k ON r.key = k.key AND r.tower_id = k.tower_id
              WHERE r.start < k.run_end AND r."end" > k.run_start AND r.person_id <> k.case_id
                AND r.hour IN ({hours}))
            SELECT p.run_no, count(*) AS people, count(*)
            FROM pairs p ANTI JOIN named n ON n.case_id = p.case_id AND n.person_id = p.person_id
            GROUP BY p.run_no""",
        ("runs", "named"),
    ),
    "venues: a correlated EXISTS in the select list, NULL as a column": (
        f"""SELECT m.merchant_id, m.name, m.category, NULL AS district, m.indoor,
                   EXISTS (SELECT 1 FROM entries e WHERE e.merchant_id = m.merchant_id)
                   AS keeps_log
            FROM merchants m WHERE m.merchant_id IN ({RESTAURANT}, {KARAOKE}, {STATION})""",
        (),
    ),
    "landmarks: arg_min of ^ over a cross join": (
        """SELECT t.tower_id, arg_min(m.name, (m.lat - t.lat) ^ 2 + (m.lon - t.lon) ^ 2)
                  AS landmark, arg_min(m.district, (m.lat - t.lat) ^ 2 + (m.lon - t.lon) ^ 2)
                  AS district
           FROM towers t, merchants m
           WHERE t.tower_id >= 9000 AND m.category = 'subway_station' GROUP BY t.tower_id""",
        (),
    ),
}


@pytest.fixture(scope="module")
def both_readers(
    store: LocationStore, sessions: sessionmaker[Session], spark: SparkSession
) -> Iterator[tuple[AuditedReader, AuditedReader]]:
    access = _access(store, sessions)
    with (
        access.open(PURPOSE, engine="duckdb") as duck,
        access.open(PURPOSE, engine="spark") as sparked,
    ):
        yield duck, sparked


@pytest.mark.parametrize("shape", list(SHAPES))
def test_each_query_shape_gives_the_same_table(
    both_readers: tuple[AuditedReader, AuditedReader], store: LocationStore, shape: str
) -> None:
    duck, sparked = both_readers
    sql, names = SHAPES[shape]
    lookups = _lookups(store)
    inputs = {("lookup" if n in ("stay", "runs") else n): lookups[n] for n in names}
    if "lookup" in inputs:  # the partitions to open, as tracing lists them
        hours = np.unique(inputs["lookup"].column("key").to_numpy() >> PLACE_BITS)
        sql = sql.format(hours=", ".join(str(h) for h in hours))
    want = duck.query(sql, inputs=inputs)
    assert want.num_rows > 0
    _assert_equal_tables(want, sparked.query(sql, inputs=inputs), sql)


def test_nulls_sort_last_and_named_and_date_parameters_bind(
    both_readers: tuple[AuditedReader, AuditedReader],
) -> None:
    """What tracing's own queries do not show: DuckDB sorts NULLs last (Spark first unless
    told), ``$name`` and DATE parameters, DuckDB's name for an unnamed ``count(*)``, an
    empty input."""
    duck, sparked = both_readers
    sql = (
        "SELECT symptom_onset, count(*), max(confirmed_date) = $day AS latest FROM cases "
        "WHERE person_id > $p AND person_id <> $not AND person_id NOT IN (SELECT id FROM nobody) "
        "GROUP BY symptom_onset ORDER BY symptom_onset"
    )
    params = {"day": dt.date(2020, 3, 6), "not": CASE_B, "p": P}
    nobody = {"nobody": _ids([])}
    want = duck.query(sql, params, nobody)
    _assert_equal_tables(want, sparked.query(sql, params, nobody), sql)
    assert want.column_names == ["symptom_onset", "count_star()", "latest"]
    assert want.column("symptom_onset").to_pylist() == [dt.date(2020, 3, 5), None]
    assert want.column("latest").to_pylist() == [True, True]


def test_fractions_of_a_second_round_as_duckdb_rounds(
    both_readers: tuple[AuditedReader, AuditedReader],
) -> None:
    duck, sparked = both_readers
    sql = (
        "SELECT epoch(ts)::BIGINT AS t, epoch(ts) AS exact FROM gps WHERE person_id = ? ORDER BY ts"
    )
    got = sparked.query(sql, [CASE_B]).to_pydict()
    assert got == duck.query(sql, [CASE_B]).to_pydict()
    fractions = [round(x % 1, 2) for x in got["exact"]]
    assert fractions == [0.5, 0.75, 0.0, 0.25, 0.5]
    # Half to even, as DuckDB's cast does: ...00.5 goes down, ...01.5 up (Spark truncates).
    assert got["t"] == [round(x) for x in got["exact"]]
    assert [t - int(x) for t, x in zip(got["t"], got["exact"], strict=True)] == [0, 1, 0, 0, 1]


def test_joins_with_inputs_broadcast_even_when_spark_would_not(
    both_readers: tuple[AuditedReader, AuditedReader],
    store: LocationStore,
    spark: SparkSession,
) -> None:
    _, sparked = both_readers
    assert isinstance(sparked, SparkLocationReader)
    lookups = _lookups(store)
    key = "spark.sql.autoBroadcastJoinThreshold"
    previous = spark.conf.get(key)
    spark.conf.set(key, "-1")  # no broadcast by size: only the hints remain
    try:
        plan = sparked.explain(
            "SELECT DISTINCT k.case_no, i.person_id FROM stay_index i "
            "JOIN (SELECT DISTINCT * FROM lookup) k ON i.key = k.key",
            inputs={"lookup": lookups["stay"]},
        )
        anti = sparked.explain(
            "SELECT p.person_id FROM people p ANTI JOIN named n ON n.person_id = p.person_id "
            "WHERE p.person_id IN (SELECT id FROM case_ids)",
            inputs={"named": lookups["named"], "case_ids": _ids([CASE_A])},
        )
    finally:
        spark.conf.set(key, previous or "10MB")
    assert "Inner, BuildRight" in plan
    assert "SortMergeJoin" not in plan
    # The semi join (IN) and the anti join build on the inputs; the table is never shuffled.
    assert "LeftSemi, BuildRight" in anti
    assert "LeftAnti, BuildRight" in anti
    assert "SortMergeJoin" not in anti
    assert "Exchange hashpartitioning" not in anti


def _ids(ids: list[int]) -> pa.Table:
    return pa.table({"id": pa.array(ids, pa.int64())})


def test_the_spark_reader_has_the_duckdb_readers_tables_and_columns(
    both_readers: tuple[AuditedReader, AuditedReader],
) -> None:
    duck, sparked = both_readers
    schema = sparked.schema()
    assert schema == duck.schema()
    assert schema["stay_index"][-1] == "hour"
