"""Benchmark: detected close contacts against the synthetic city's ground truth.

Generates a city (or uses `--city DIR` with its `--store`), traces every confirmed case through
the audited access layer, and compares the close contacts found with the true ones:

- true close contact: a true stay at the same indoor place (venue, home, office, school) as the
  case, overlapping it for at least 15 minutes in total, within the case's infectious window;
- observable: both the case and the contact have a record placing them at that place during one
  of those overlaps (a card payment or visitor-log entry at the venue, or a GPS fix within 50 m),
  or they share a household in the resident registry. Contacts nobody's records saw cannot be
  found from records; they are the investigators' interviews' job;
- the naive method: everyone served by the same cell tower as the case at overlapping times
  (runs of connection records) for 15 minutes or more in total.

Usage:
    python bench/accuracy.py --people 100000 --days 14 --seed 1
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import numpy as np

from epicity.city.generate import CityConfig, generate_city
from epicity.privacy.access import AuditedReader, LocationAccess, drill_access
from epicity.records.ingest import ingest_directory
from epicity.records.store import LocationStore
from epicity.tracing.config import TracingConfig
from epicity.tracing.service import CaseInfo, infectious_window, investigate
from epicity.tracing.stays import cell_runs

PURPOSE = "benchmark: accuracy of contact detection against the synthetic ground truth"
OBSERVE_DEG_LAT = 50 / 111_000  # a GPS fix within ~50 m of the place


@dataclass
class Score:
    """True/false positives and negatives of one method."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tp_observable: int = 0
    observable: int = 0
    # Missed observable close contacts: (kind of place, what was found instead) -> count.
    missed: dict[tuple[str, str], int] = field(default_factory=dict)
    per_case: list[tuple[int, int, int, int]] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else float("nan")

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else float("nan")

    @property
    def recall_observable(self) -> float:
        return self.tp_observable / self.observable if self.observable else float("nan")

    @property
    def precision_observable(self) -> float:
        # Contacts found are seen by construction; what was found and truly close counts.
        return self.precision


@contextmanager
def investigator_access(store: LocationStore, workdir: Path) -> Iterator[LocationAccess]:
    """An investigator's access to the store, with an emergency declared in a scratch database."""
    with drill_access(store, workdir / "bench.db", actor="bench", emergency="benchmark") as access:
        yield access


TRUTH_TABLES = {
    "stays": """SELECT person_id, place_id, epoch(start)::BIGINT AS s, epoch("end")::BIGINT AS e
                FROM '{city}/truth/stays.parquet' ORDER BY person_id, s""",
    "places": "SELECT * FROM '{city}/truth/places.parquet'",
    "people": "SELECT person_id, household_id FROM '{city}/people.parquet'",
    **{
        t: f"SELECT person_id, epoch(ts)::BIGINT AS t, merchant_id FROM '{{city}}/{t}.parquet'"
        for t in ("card", "entries")
    },
    "gps": "SELECT person_id, epoch(ts)::BIGINT AS t, lat, lon FROM '{city}/gps.parquet'",
}

# True close contacts of $case over [$w0, $w1), and whether records saw both people there.
TRUE_CLOSE = """
WITH cs AS (
  SELECT place_id, greatest(s, $w0) AS s, least(e, $w1) AS e FROM stays
  WHERE person_id = $case AND e > $w0 AND s < $w1),
ov AS (
  SELECT o.person_id, o.place_id, greatest(cs.s, o.s) AS s, least(cs.e, o.e) AS e
  FROM stays o JOIN cs USING (place_id) JOIN places p USING (place_id)
  WHERE p.indoor AND o.person_id <> $case AND greatest(cs.s, o.s) < least(cs.e, o.e)),
close AS (
  SELECT person_id, place_id, sum(e - s) AS shared FROM ov GROUP BY person_id, place_id
  HAVING sum(e - s) >= 900),
seen AS (
  SELECT ov.person_id, ov.place_id, ov.s, ov.e, who.id AS who
  FROM ov JOIN close USING (person_id, place_id)
  CROSS JOIN (SELECT unnest([ov.person_id, $case]) AS id) who),
evidence AS (
  SELECT seen.person_id, seen.place_id, seen.s, seen.who
  FROM seen JOIN places p USING (place_id)
  WHERE EXISTS (SELECT 1 FROM card c WHERE c.person_id = seen.who
                AND c.merchant_id = seen.place_id AND c.t BETWEEN seen.s AND seen.e)
     OR EXISTS (SELECT 1 FROM entries c WHERE c.person_id = seen.who
                AND c.merchant_id = seen.place_id AND c.t BETWEEN seen.s AND seen.e)
     OR EXISTS (SELECT 1 FROM gps g WHERE g.person_id = seen.who
                AND g.t BETWEEN seen.s AND seen.e AND abs(g.lat - p.lat) <= $dlat
                AND abs(g.lon - p.lon) <= $dlat / cos(radians(p.lat)))),
both_seen AS (
  SELECT person_id FROM evidence GROUP BY person_id, place_id, s
  HAVING count(DISTINCT who) = 2)
SELECT c.person_id,
       c.person_id IN (SELECT person_id FROM both_seen)
       OR coalesce(hh.household_id
                   = (SELECT household_id FROM people WHERE person_id = $case), false),
       c.kind
FROM (SELECT close.person_id, arg_max(p.kind, close.shared) AS kind
      FROM close JOIN places p USING (place_id) GROUP BY close.person_id) c
LEFT JOIN people hh USING (person_id)
"""


def truth_connection(city: Path) -> duckdb.DuckDBPyConnection:
    """The ground truth and the raw records, for scoring (outside the product's access path)."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for name, sql in TRUTH_TABLES.items():
        con.execute(f"CREATE TABLE {name} AS {sql.format(city=city)}")
    return con


def true_close(
    con: duckdb.DuckDBPyConnection, case_id: int, w0: int, w1: int
) -> tuple[set[int], set[int], dict[int, str]]:
    """(true close contacts, the observable ones, the kind of place each was close at)."""
    rows = con.execute(
        TRUE_CLOSE, {"case": case_id, "w0": w0, "w1": w1, "dlat": OBSERVE_DEG_LAT}
    ).fetchall()
    kinds = {int(p): str(kind) for p, _, kind in rows}
    return {int(p) for p, _, _ in rows}, {int(p) for p, seen, _ in rows if seen}, kinds


def naive_close(reader: AuditedReader, case_id: int, w0: int, w1: int) -> set[int]:
    """The tower-dump method: everyone whose serving cell was the case's, at overlapping
    times (runs of records at one tower), for 15 minutes or more in total."""
    window = "epoch(ts) >= ? AND epoch(ts) < ?"
    mine = reader.query_numpy(
        f"SELECT person_id, epoch(ts)::BIGINT AS t, tower_id FROM cell "
        f"WHERE person_id = ? AND {window} ORDER BY ts, tower_id",
        [case_id, w0, w1],
    )
    case_runs = cell_runs(mine["person_id"], mine["t"], mine["tower_id"])
    if not len(case_runs):
        return set()
    towers = ",".join(str(int(t)) for t in set(case_runs.tower.tolist()))
    others = reader.query_numpy(
        f"SELECT person_id, epoch(ts)::BIGINT AS t, tower_id FROM cell "
        f"WHERE tower_id IN ({towers}) AND person_id <> ? AND {window} "
        "ORDER BY person_id, ts, tower_id",
        [case_id, w0, w1],
    )
    runs = cell_runs(others["person_id"], others["t"], others["tower_id"])
    shared: dict[int, int] = {}
    for k in range(len(case_runs)):
        same = runs.tower == case_runs.tower[k]
        lo = np.maximum(runs.start[same], case_runs.start[k])
        hi = np.minimum(runs.end[same], case_runs.end[k])
        for person, seconds in zip(runs.person[same][hi > lo], (hi - lo)[hi > lo], strict=True):
            shared[int(person)] = shared.get(int(person), 0) + int(seconds)
    return {p for p, seconds in shared.items() if seconds >= 900}


def evaluate(
    city: Path, store: LocationStore, workdir: Path, limit: int | None
) -> tuple[Score, Score, int, float]:
    """Score the tracer and the naive method over every confirmed case."""
    truth = truth_connection(city)
    tz = ZoneInfo("Asia/Seoul")
    config = TracingConfig()
    ours, naive = Score(), Score()
    seconds = 0.0
    with investigator_access(store, workdir) as access:
        with access.open(PURPOSE) as reader:
            cases = reader.query(
                "SELECT person_id, symptom_onset, test_date, confirmed_date FROM cases "
                "ORDER BY person_id"
            ).to_pylist()
        cases = cases[:limit] if limit else cases
        for row in cases:
            case = CaseInfo(
                int(row["person_id"]), row["symptom_onset"], row["test_date"], row["confirmed_date"]
            )
            w0, w1, _ = infectious_window(case, tz, config)
            true, observable, kinds = true_close(truth, case.person_id, w0, w1)
            with access.open(PURPOSE, case_id=case.person_id) as reader:
                started = time.perf_counter()
                inv = investigate(reader, case.person_id, config=config)
                seconds += time.perf_counter() - started
                found_naive = naive_close(reader, case.person_id, w0, w1)
            found = {c.contact_id for c in inv.contacts if c.tier == "close"}
            casual = {c.contact_id for c in inv.contacts if c.tier == "casual"}
            for person in observable - found:
                why = "found as casual" if person in casual else "not found"
                key = (kinds.get(person, "?"), why)
                ours.missed[key] = ours.missed.get(key, 0) + 1
            for score, detected in ((ours, found), (naive, found_naive)):
                score.tp += len(detected & true)
                score.fp += len(detected - true)
                score.fn += len(true - detected)
                score.tp_observable += len(detected & observable)
                score.observable += len(observable)
                score.per_case.append((case.person_id, len(detected), len(true), len(observable)))
    return ours, naive, len(cases), seconds


def main() -> None:
    """Parse arguments, run, print the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--city", type=Path, help="an existing generated city (with --store)")
    parser.add_argument("--store", type=Path, help="its location store")
    parser.add_argument("--limit", type=int, help="trace at most this many cases")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="epicity-accuracy-"))
    try:
        if args.city is None:
            city, store_path = workdir / "city", workdir / "store"
            generate_city(city, CityConfig(people=args.people, days=args.days, seed=args.seed))
            ingest_directory(city, store_path)
        else:
            city, store_path = args.city, args.store
        ours, naive, n_cases, seconds = evaluate(
            city, LocationStore(store_path), workdir, args.limit
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"{n_cases} cases traced in {seconds:.1f} s")
    columns = ["method", "found", "true close", "precision", "recall (all)", "observable"]
    print("| " + " | ".join([*columns, "recall (observable)"]) + " |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, s in (("epicity", ours), ("naive: same tower 15 min", naive)):
        print(
            f"| {name} | {s.tp + s.fp:,} | {s.tp + s.fn:,} | {s.precision:.3f} | {s.recall:.3f} | "
            f"{s.observable:,} | {s.recall_observable:.3f} |"
        )
    if ours.missed:
        print("\nMissed observable close contacts (epicity), by kind of place:\n")
        print("| place | found as casual | not found |")
        print("|---|---:|---:|")
        for kind in sorted({k for k, _ in ours.missed}):
            casual = ours.missed.get((kind, "found as casual"), 0)
            missing = ours.missed.get((kind, "not found"), 0)
            print(f"| {kind} | {casual} | {missing} |")


if __name__ == "__main__":
    main()
