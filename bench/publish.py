"""Publishing the daily figures at scale: time to publish, to publish again (nothing changed)
and to read back, on a temporary SQLite database (or --db URL, an empty database).

    python bench/publish.py [--cases 20000] [--days 340] [--db URL]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert

import epicity.opendata.service as service
from epicity.cases.models import Case
from epicity.city.districts import seoul_districts
from epicity.db import make_engine, migrate, session_factory


def main() -> None:
    """Seed synthetic cases, publish twice, read back; print a table of timings."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=340)
    parser.add_argument("--db", default=None)
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory()
    url = args.db or f"sqlite:///{Path(tmp.name) / 'bench.db'}"
    engine = make_engine(url)
    migrate(engine)
    sessions = session_factory(engine)
    rng = random.Random(1)
    names: list[str | None] = [d.name for d in seoul_districts()] + [None]
    start = dt.date(2020, 1, 20)
    now = dt.datetime.combine(start + dt.timedelta(days=args.days + 1), dt.time(), dt.UTC)
    rows = [
        {
            "source": "bench",
            "external_ref": f"b{i}",
            "status": "confirmed",
            "district": rng.choice(names),
            "province": "Seoul",
            "age_group": f"{rng.randrange(10) * 10}s",
            "confirmed_date": start + dt.timedelta(days=rng.randrange(args.days)),
            "created_by": "bench",
            "created_at": now,
            "updated_at": now,
        }
        for i in range(args.cases)
    ]
    with sessions() as s:
        s.execute(insert(Case), rows)
        s.commit()
    as_of = start + dt.timedelta(days=args.days - 1)
    results: list[tuple[str, float, str]] = []
    for label in ("publish (first)", "publish (nothing changed)"):
        with sessions() as s:
            t = time.perf_counter()
            p = service.publish(s, as_of=as_of, actor="bench", now=now)
            s.commit()
            results.append((label, time.perf_counter() - t, f"publication {p.id}"))
    with sessions() as s:
        for label, call in (
            ("current_figures(area='city')", lambda: service.current_figures(s, area="city")),
            ("current_figures() every area", lambda: service.current_figures(s)),
            ("breakdown('district_age')", lambda: service.breakdown(s, dimension="district_age")),
        ):
            t = time.perf_counter()
            out = call()
            results.append((label, time.perf_counter() - t, f"{len(out)} rows"))
    engine.dispose()
    print(f"{args.cases:,} cases over {args.days} days, {engine.dialect.name}")
    print(f"{'operation':<32} {'seconds':>8}  result")
    for label, seconds, note in results:
        print(f"{label:<32} {seconds:>8.3f}  {note}")


if __name__ == "__main__":
    main()
