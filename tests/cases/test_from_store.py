"""Registering a store's confirmed cases in case management: every case once, with the links
and clusters investigators found, idempotent, read through the audited access layer."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from epicity.cases.from_store import SOURCE, register_store_cases
from epicity.cases.models import Case, Cluster, ClusterMember, TransmissionLink
from epicity.city.generate import CityConfig, generate_city
from epicity.privacy.access import LocationAccess
from epicity.privacy.models import AuditEntry
from epicity.privacy.service import declare_emergency
from epicity.records.ingest import ingest_directory
from epicity.records.store import LocationStore

CITY = CityConfig(people=3_000, days=7, seed=21, seed_infections=40, transmission=2.0)


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, LocationStore]:
    root = tmp_path_factory.mktemp("store-cases")
    generate_city(root / "city", CITY)
    ingest_directory(root / "city", root / "store")
    return root / "city", LocationStore(root / "store")


def _count(session: Session, model: type) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_store_cases_registered_once_with_links_and_clusters(
    city: tuple[Path, LocationStore], sessions: sessionmaker[Session]
) -> None:
    city_dir, store = city
    feed = pq.read_table(next((city_dir).glob("cases.*"))).to_pylist()
    ids = {r["person_id"] for r in feed}
    expected_links = sum(1 for r in feed if r["infected_by"] in ids)
    clusters = {r["cluster"] for r in feed if r["cluster"]}
    assert feed
    assert expected_links  # the generator records known sources
    with sessions() as s:
        declare_emergency(s, name="COVID-19", area="Seoul", actor="admin")
        s.commit()
    access = LocationAccess(store, sessions, actor="kim", role="investigator")
    for run in range(2):
        with access.open("register the city's confirmed cases") as reader, sessions() as s:
            added = register_store_cases(s, reader, actor="kim")
            s.commit()
        assert added.read == len(feed)
        assert added.new_cases == (len(feed) if run == 0 else 0)
    with sessions() as s:
        assert _count(s, Case) == len(feed)
        stored = s.scalars(select(Case).where(Case.source == SOURCE)).all()
        assert {int(c.external_ref or 0) for c in stored} == ids
        assert {c.person_id for c in stored} == ids
        assert all(c.status == "confirmed" for c in stored)
        assert _count(s, TransmissionLink) == expected_links
        assert set(s.scalars(select(Cluster.name))) == clusters
        assert _count(s, ClusterMember) == sum(1 for r in feed if r["cluster"])
        reads = s.scalars(select(AuditEntry).where(AuditEntry.action == "location.read")).all()
        assert len(reads) == 2
