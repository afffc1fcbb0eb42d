"""Benchmark: tracing speed on an ingested store (with its place-time index).

One case: the median of 20 cases traced one at a time, each through its own audited reader
(as `epicity trace --case` does). A day of cases: every case confirmed on the store's busiest
confirmation day, traced together (`investigate_many`) through one reader. Prints a table with
medians and the process's peak RSS.

Usage:
    python bench/tracing.py --store /path/to/store [--cases 20]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

from accuracy import PURPOSE, investigator_access

from epicity.records.store import LocationStore
from epicity.tracing.service import investigate, investigate_many


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--cases", type=int, default=20)
    args = parser.parse_args()
    store = LocationStore(args.store)
    people = store.row_count("people")
    with tempfile.TemporaryDirectory() as tmp, investigator_access(store, Path(tmp)) as access:
        with access.open(PURPOSE) as reader:
            day, day_cases = reader.query(
                "SELECT confirmed_date, list(person_id ORDER BY person_id) FROM cases "
                "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
            ).to_pylist()[0].values()
        singles = day_cases[: args.cases]
        seconds, contacts = [], []
        for case_id in singles:
            started = time.perf_counter()
            with access.open(PURPOSE, case_id=case_id) as reader:
                inv = investigate(reader, case_id)
            seconds.append(time.perf_counter() - started)
            contacts.append(len(inv.contacts))
        started = time.perf_counter()
        with access.open(PURPOSE) as reader:
            batch = investigate_many(reader, day_cases)
        batch_s = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"| people | job | cases | median s per case | total s | contacts | peak RSS MB |")
    print("|---|---|---:|---:|---:|---:|---:|")
    print(
        f"| {people:,} | one case at a time | {len(singles)} | {statistics.median(seconds):.3f} "
        f"| {sum(seconds):.1f} | {sum(contacts):,} | |"
    )
    print(
        f"| {people:,} | the {day} cases together | {len(day_cases)} | "
        f"{batch_s / len(day_cases):.3f} | {batch_s:.1f} | "
        f"{sum(len(i.contacts) for i in batch):,} | {peak_mb:,.0f} |"
    )


if __name__ == "__main__":
    main()
