"""Countermeasure library search on SQLite (FTS5) and PostgreSQL (GIN on a tsvector): median
and p95 time of `epicity.cac.library_service.search` for a few queries over N synthetic
countermeasures (English and Korean words drawn from a small vocabulary), and whether
PostgreSQL's plan for a selective phrase uses the GIN index.

    .venv/bin/python bench/library_search.py [--n 20000] [--repeat 30]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from epicity.cac import library_service, service
from epicity.db import make_engine, migrate

NOW = dt.datetime(2021, 1, 1, tzinfo=dt.UTC)
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
WORDS = (
    *("mask", "masks", "testing", "drive", "through", "screening", "quarantine", "isolation"),
    *("school", "online", "pharmacy", "rotation", "wristband", "app", "tracing", "contact"),
    *("centre", "clinic", "borders", "arrival", "마스크", "마스크를", "검사", "선별진료소"),
    *("격리", "자가격리", "학교", "온라인", "개학", "약국", "입국", "거리두기", "역학조사"),
    *("접촉자", "병원", "지원", "재난지원금", "안내", "문자"),
)
QUERIES = ["mask", "마스크", '"drive through"', "quarant*", "school -online", "약국 OR pharmacy"]


def _fill(session: Session, n: int, rng: random.Random) -> None:
    city = service.register_city(
        session,
        name_en="Bench",
        name_local="Bench",
        country="KR",
        population=1_000_000,
        time_zone="Asia/Seoul",
        contact_email="bench@example.org",
        now=NOW,
    )
    service.decide_city(session, city_id=city.id, approve=True, actor="bench", now=NOW)
    for i in range(n):
        library_service.post_countermeasure(
            session,
            city_id=city.id,
            title=" ".join(rng.choices(WORDS, k=5)),
            day=dt.date(2020, 1, 1) + dt.timedelta(days=i % 365),
            category="other",
            language="en",
            body=" ".join(rng.choices(WORDS, k=120)),
            tags=rng.sample(WORDS, 2),
            actor="bench",
            now=NOW,
        )
    session.commit()


def _time(session: Session, q: str, repeat: int) -> tuple[float, float, int]:
    times = []
    total = 0
    for _ in range(repeat):
        start = time.perf_counter()
        total = library_service.search(session, q=q, per_page=20).total
        times.append((time.perf_counter() - start) * 1000)
        session.rollback()
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))], total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(POSTGRES_URL)
    with admin.begin() as con:
        con.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    with tempfile.TemporaryDirectory() as tmp:
        engines = {
            "sqlite": make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}"),
            "postgresql": make_engine(f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"),
        }
        try:
            print(f"{args.n:,} countermeasures of 5 + 120 words; {args.repeat} runs per query")
            print(f"{'backend':<11} {'query':<20} {'matches':>8} {'median ms':>10} {'p95 ms':>8}")
            for name, engine in engines.items():
                migrate(engine)
                with Session(engine) as session:
                    start = time.perf_counter()
                    _fill(session, args.n, random.Random(7))
                    load = time.perf_counter() - start
                    if name == "postgresql":
                        session.execute(sa.text("ANALYZE cac_countermeasures"))
                        plan = "\n".join(
                            r[0]
                            for r in session.execute(
                                sa.text(
                                    "EXPLAIN SELECT id FROM cac_countermeasures WHERE "
                                    "search_vector @@ to_tsquery('simple', 'drive <-> through')"
                                )
                            )
                        )
                        uses = "ix_cac_countermeasures_search" in plan
                    for q in QUERIES:
                        median, p95, total = _time(session, q, args.repeat)
                        print(f"{name:<11} {q:<20} {total:>8,} {median:>10.1f} {p95:>8.1f}")
                    print(f"{name:<11} load: {load:.1f} s ({args.n / load:,.0f} posts/s)")
            print(f"PostgreSQL plan uses the GIN index: {uses}")
        finally:
            for engine in engines.values():
                engine.dispose()
            with admin.begin() as con:
                con.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


if __name__ == "__main__":
    main()
