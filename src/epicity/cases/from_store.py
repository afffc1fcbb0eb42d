"""Register the confirmed cases of a location store (the synthetic city's, or a city's own
feed loaded with `epicity ingest`) in case management: one case per confirmed person, with
their dates and district, transmission links from `infected_by` and clusters from `cluster`.

Idempotent: a person registered before is left as is (source "store", external ref = their
pseudonymous person id), so running it after every load adds only the new cases. The store's
`cases` table is read through the privacy access layer, like any other store read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from epicity.cases import service
from epicity.cases.errors import LinkRefused
from epicity.cases.models import Case, Cluster, ClusterMember, TransmissionLink

__all__ = ["SOURCE", "StoreCases", "register_store_cases"]

SOURCE = "store"


class CaseReader(Protocol):
    """What this needs from the access layer's reader."""

    def query(self, sql: str) -> Any: ...

    def schema(self) -> dict[str, list[str]]: ...


@dataclass
class StoreCases:
    """What a registration added."""

    read: int = 0
    new_cases: int = 0
    new_links: int = 0
    refused_links: int = 0
    new_clusters: int = 0


def _column(schema: dict[str, list[str]], name: str) -> str:
    return name if name in schema.get("cases", []) else f"NULL AS {name}"


def register_store_cases(session: Session, reader: CaseReader, *, actor: str) -> StoreCases:
    """Add the store's confirmed cases not yet in case management (see the module docstring).
    Adds and flushes, never commits: the caller owns the transaction."""
    out = StoreCases()
    schema = reader.schema()
    if "cases" not in schema:
        return out
    optional = ", ".join(
        _column(schema, c)
        for c in ("infected_by", "cluster", "district", "sex", "age_group", "state")
    )
    rows = reader.query(
        f"SELECT person_id, symptom_onset, test_date, confirmed_date, {optional} "
        "FROM cases ORDER BY confirmed_date, person_id"
    ).to_pylist()
    out.read = len(rows)
    known = {
        str(ref): int(case_id)
        for ref, case_id in session.execute(
            select(Case.external_ref, Case.id).where(Case.source == SOURCE)
        )
    }
    for r in rows:
        ref = str(r["person_id"])
        if ref in known:
            continue
        onset, tested, confirmed = r["symptom_onset"], r["test_date"], r["confirmed_date"]
        case = service.create_case(
            session,
            actor=actor,
            status="confirmed",
            source=SOURCE,
            external_ref=ref,
            person_id=int(r["person_id"]),
            sex=r["sex"],
            age_group=r["age_group"],
            province="Seoul",
            district=r["district"],
            # A test after the confirmation cannot be stored: the feed's own slip, dropped.
            symptom_onset=onset,
            test_date=tested if tested is None or tested <= confirmed else None,
            confirmed_date=confirmed,
            reason="confirmed case in the location store",
        )
        known[ref] = case.id
        out.new_cases += 1
    _links(session, rows, known, actor, out)
    _clusters(session, rows, known, actor, out)
    session.flush()
    return out


def _links(
    session: Session, rows: list[dict[str, Any]], known: dict[str, int], actor: str, out: StoreCases
) -> None:
    existing = {
        (int(a), int(b))
        for a, b in session.execute(
            select(TransmissionLink.infector_id, TransmissionLink.infectee_id)
        )
    }
    for r in rows:
        source = r["infected_by"]
        if source is None or str(source) not in known:
            continue
        pair = (known[str(source)], known[str(r["person_id"])])
        if pair in existing:
            continue
        try:
            service.add_link(
                session,
                infector_id=pair[0],
                infectee_id=pair[1],
                evidence="infected_by in the location store's case feed",
                actor=actor,
                source=SOURCE,
            )
        except LinkRefused:
            out.refused_links += 1
            continue
        existing.add(pair)
        out.new_links += 1


def _clusters(
    session: Session, rows: list[dict[str, Any]], known: dict[str, int], actor: str, out: StoreCases
) -> None:
    by_name = dict(session.execute(select(Cluster.name, Cluster.id)).all())
    members = {
        (int(a), int(b))
        for a, b in session.execute(select(ClusterMember.cluster_id, ClusterMember.case_id))
    }
    for r in rows:
        name = (r["cluster"] or "").strip()
        if not name:
            continue
        if name not in by_name:
            cluster = service.create_cluster(
                session, name=name[:200], actor=actor, kind="venue", source=SOURCE
            )
            by_name[name] = cluster.id
            out.new_clusters += 1
        case_id = known[str(r["person_id"])]
        if (by_name[name], case_id) not in members:
            service.add_to_cluster(session, cluster_id=by_name[name], case_id=case_id, actor=actor)
            members.add((by_name[name], case_id))
