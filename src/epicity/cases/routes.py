"""Case management over HTTP (`/api/v1`): cases and their lifecycle, contacts and follow-up,
clusters, transmission links and chains, a citizen's own case, and aggregate counts."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from epicity.accounts.permissions import Capability
from epicity.cases import service
from epicity.cases.models import Case, CaseContact, Cluster, ClusterMember, TransmissionLink
from epicity.web.deps import Caller, DbSession, in_thread, need, read_only

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["cases"])

Reader = Annotated[Caller, Depends(need(Capability.READ_CASES))]
Editor = Annotated[Caller, Depends(need(Capability.EDIT_CASES))]
Analyst = Annotated[Caller, Depends(need(Capability.READ_AGGREGATES))]
Citizen = Annotated[Caller, Depends(need(Capability.READ_OWN_RECORDS))]

Status = Literal["suspected", "confirmed", "isolated", "recovered", "deceased", "discarded"]
FollowUp = Literal["none", "reached", "in_isolation", "tested", "released"]
PersonId = Annotated[int, Field(ge=0, le=2**63 - 1)]
Id = Annotated[int, Field(ge=1, le=2**63 - 1)]
Text200 = Annotated[str, Field(min_length=1, max_length=200)]
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]


class CaseOut(BaseModel):
    """A case as staff see it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    source: str
    external_ref: str | None
    person_id: int | None
    status: str
    sex: str | None
    age_group: str | None
    province: str | None
    district: str | None
    symptom_onset: dt.date | None
    test_date: dt.date | None
    confirmed_date: dt.date | None
    isolated_date: dt.date | None
    released_date: dt.date | None
    deceased_date: dt.date | None


class CasePage(BaseModel):
    """A page of cases and the total matching the filters."""

    total: int
    limit: int
    offset: int
    items: list[CaseOut]


class NewCase(BaseModel):
    """A case reported by an investigator or a screening centre."""

    status: Literal["suspected", "confirmed"] = "suspected"
    external_ref: str | None = Field(None, min_length=1, max_length=64)
    person_id: PersonId | None = None
    sex: Literal["female", "male"] | None = None
    age_group: str | None = Field(None, min_length=1, max_length=8)
    province: str | None = Field(None, min_length=1, max_length=100)
    district: str | None = Field(None, min_length=1, max_length=100)
    symptom_onset: dt.date | None = None
    test_date: dt.date | None = None
    confirmed_date: dt.date | None = None
    reason: Text200 = "case reported"


class StatusChange(BaseModel):
    """A move in the case lifecycle."""

    to: Status
    reason: str = Field(min_length=1, max_length=2000)
    on: dt.date | None = Field(None, description="Effective date (default today)")


class HistoryOut(BaseModel):
    """One change of status."""

    model_config = ConfigDict(from_attributes=True)

    from_status: str | None
    to_status: str
    effective_date: dt.date | None
    changed_by: str
    changed_at: dt.datetime
    reason: str


class NewContact(BaseModel):
    """A contact added by hand (from an interview, say)."""

    tier: Literal["close", "casual"]
    person_id: PersonId | None = None
    external_ref: str | None = Field(None, min_length=1, max_length=64)
    note: str = Field("", max_length=2000)


class ContactOut(BaseModel):
    """A contact of a case with its follow-up."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    case_id: int
    person_id: int | None
    external_ref: str | None
    tier: str
    origin: str
    follow_up: str
    note: str


class FollowUpChange(BaseModel):
    """The next step of a contact's follow-up."""

    to: FollowUp
    note: str = Field("", max_length=2000)


class NewCluster(BaseModel):
    """A cluster of cases (a venue, a workplace, an event)."""

    name: Text200
    kind: Literal[
        "venue", "workplace", "religious", "healthcare", "household", "community", "travel",
        "other",
    ] = "other"  # fmt: skip
    province: str | None = Field(None, min_length=1, max_length=100)
    district: str | None = Field(None, min_length=1, max_length=100)


class ClusterOut(BaseModel):
    """A cluster and its size."""

    id: int
    name: str
    kind: str
    province: str | None
    district: str | None
    first_date: dt.date | None
    last_date: dt.date | None
    cases: int


class Membership(BaseModel):
    """A case to add to a cluster."""

    case_id: Id


class NewLink(BaseModel):
    """Who infected whom, and the evidence."""

    infector_id: Id
    infectee_id: Id
    evidence: str = Field(min_length=1, max_length=2000)


class LinkOut(BaseModel):
    """A transmission link."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    infector_id: int
    infectee_id: int
    evidence: str
    source: str


class ChainOut(BaseModel):
    """A transmission chain as nodes and edges."""

    case_id: int
    roots: list[int]
    nodes: list[dict[str, object]]
    edges: list[dict[str, int]]


class Counts(BaseModel):
    """Case counts by status and district: aggregates only."""

    total: int
    by_status: dict[str, int]
    by_district: dict[str, int]


def _case_or_404(session: DbSession, case_id: int) -> Case:
    case = service.get_case(session, case_id=case_id)
    if case is None:
        raise HTTPException(404, f"case_id: no case with id {case_id}")
    return case


def _cluster_out(session: DbSession, cluster: Cluster, size: int | None = None) -> ClusterOut:
    if size is None:
        size = session.scalar(select(func.count()).where(ClusterMember.cluster_id == cluster.id))
    return ClusterOut(
        id=cluster.id,
        name=cluster.name,
        kind=cluster.kind,
        province=cluster.province,
        district=cluster.district,
        first_date=cluster.first_date,
        last_date=cluster.last_date,
        cases=int(size or 0),
    )


@router.get("/cases", response_model=CasePage)
async def list_cases(
    session: DbSession,
    _: Reader,
    status: Status | None = None,
    source: Annotated[str | None, Query(min_length=1, max_length=32)] = None,
    district: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    cluster_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> Response:
    """Cases, newest confirmed first, filtered by status, source, district or cluster."""
    cases = Case.__table__.c
    where = service.case_list_filters(
        status=status, source=source, district=district, cluster_id=cluster_id
    )
    names = list(CaseOut.model_fields)

    def page() -> str:
        # Core rows, not ORM objects, written as JSON straight from the typed columns: the
        # list is the busiest read, and validating its 50 rows again cost more than the query.
        connection = session.connection()
        total = connection.scalar(select(func.count()).select_from(Case.__table__).where(*where))
        rows = connection.execute(
            select(*(cases[name] for name in names))
            .where(*where)
            .order_by(*service.CASE_LIST_ORDER)
            .limit(limit)
            .offset(offset)
        )
        items = [dict(zip(names, row, strict=True)) for row in rows]
        found = {"total": total or 0, "limit": limit, "offset": offset, "items": items}
        return json.dumps(found, default=_iso, ensure_ascii=False, separators=(",", ":"))

    return Response(await read_only(session, page), media_type="application/json")


def _iso(value: object) -> str:
    """Dates as JSON (the case list's only non-JSON values)."""
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


@router.post("/cases", response_model=CaseOut, status_code=201)
def create_case(body: NewCase, session: DbSession, caller: Editor) -> CaseOut:
    """Report a case (suspected, or confirmed with its confirmation date)."""
    case = service.create_case(session, actor=caller.actor, **body.model_dump())
    return CaseOut.model_validate(case)


@router.get("/cases/{case_id}", response_model=CaseOut)
async def get_case(case_id: RowId, session: DbSession, _: Reader) -> CaseOut:
    """One case."""
    return await read_only(session, lambda: CaseOut.model_validate(_case_or_404(session, case_id)))


@router.post("/cases/{case_id}/status", response_model=CaseOut)
def change_status(
    case_id: RowId, body: StatusChange, session: DbSession, caller: Editor
) -> CaseOut:
    """Move the case in its lifecycle; an illegal move or inconsistent date is refused."""
    _case_or_404(session, case_id)
    case = service.change_status(
        session, case_id=case_id, to=body.to, actor=caller.actor, reason=body.reason, on=body.on
    )
    return CaseOut.model_validate(case)


@router.get("/cases/{case_id}/history", response_model=list[HistoryOut])
async def history(case_id: RowId, session: DbSession, _: Reader) -> list[HistoryOut]:
    """The case's changes of status, oldest first."""

    def read() -> list[HistoryOut]:
        _case_or_404(session, case_id)
        changes = service.status_history(session, case_id=case_id)
        return [HistoryOut.model_validate(h) for h in changes]

    return await read_only(session, read)


@router.get("/cases/{case_id}/contacts", response_model=list[ContactOut])
async def contacts(case_id: RowId, session: DbSession, _: Reader) -> list[ContactOut]:
    """The case's contacts (close first) with their follow-up."""

    def read() -> list[ContactOut]:
        _case_or_404(session, case_id)
        rows = session.scalars(
            select(CaseContact)
            .where(CaseContact.case_id == case_id)
            .order_by(CaseContact.tier.desc(), CaseContact.id)
        )
        return [ContactOut.model_validate(c) for c in rows]

    return await read_only(session, read)


@router.post("/cases/{case_id}/contacts", response_model=ContactOut, status_code=201)
async def add_contact(
    case_id: RowId, body: NewContact, session: DbSession, caller: Editor
) -> ContactOut:
    """Add a contact by hand; a contact the case has already is refused (409)."""
    if body.person_id is None and body.external_ref is None:
        raise HTTPException(422, "person_id or external_ref: one is required")

    def write() -> ContactOut:
        _case_or_404(session, case_id)
        contact = service.add_contact(
            session,
            case_id=case_id,
            actor=caller.actor,
            tier=body.tier,
            person_id=body.person_id,
            external_ref=body.external_ref,
            note=body.note,
        )
        return ContactOut.model_validate(contact)

    return await in_thread(session, write)


@router.post("/contacts/{contact_id}/follow-up", response_model=ContactOut)
def follow_up(
    contact_id: RowId,
    body: FollowUpChange,
    session: DbSession,
    caller: Editor,
) -> ContactOut:
    """The next step of a contact's follow-up (reached, in isolation, tested, released)."""
    contact = service.update_follow_up(
        session, contact_id=contact_id, to=body.to, actor=caller.actor, note=body.note
    )
    return ContactOut.model_validate(contact)


@router.get("/clusters", response_model=list[ClusterOut])
def clusters(
    session: DbSession,
    _: Reader,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> list[ClusterOut]:
    """Clusters, largest first."""
    size = (
        select(func.count())
        .where(ClusterMember.cluster_id == Cluster.id)
        .correlate(Cluster)
        .scalar_subquery()
    )
    # The size orders the page and is returned with it: one query, not one per cluster.
    rows = session.execute(
        select(Cluster, size).order_by(size.desc(), Cluster.id).limit(limit).offset(offset)
    )
    return [_cluster_out(session, cluster, n) for cluster, n in rows]


@router.post("/clusters", response_model=ClusterOut, status_code=201)
def create_cluster(body: NewCluster, session: DbSession, caller: Editor) -> ClusterOut:
    """Open a cluster (a name already used is refused with 409)."""
    cluster = service.create_cluster(session, actor=caller.actor, **body.model_dump())
    return _cluster_out(session, cluster)


@router.get("/clusters/{cluster_id}", response_model=ClusterOut)
def get_cluster(cluster_id: RowId, session: DbSession, _: Reader) -> ClusterOut:
    """One cluster and its size."""
    cluster = session.get(Cluster, cluster_id)
    if cluster is None:
        raise HTTPException(404, f"cluster_id: no cluster with id {cluster_id}")
    return _cluster_out(session, cluster)


@router.post("/clusters/{cluster_id}/cases", response_model=ClusterOut)
def add_to_cluster(
    cluster_id: RowId,
    body: Membership,
    session: DbSession,
    caller: Editor,
) -> ClusterOut:
    """Add a case to a cluster."""
    cluster = service.add_to_cluster(
        session, cluster_id=cluster_id, case_id=body.case_id, actor=caller.actor
    )
    return _cluster_out(session, cluster)


@router.post("/links", response_model=LinkOut, status_code=201)
def add_link(body: NewLink, session: DbSession, caller: Editor) -> LinkOut:
    """Record a transmission link; self links, repeats and cycles are refused."""
    link = service.add_link(
        session,
        infector_id=body.infector_id,
        infectee_id=body.infectee_id,
        evidence=body.evidence,
        actor=caller.actor,
    )
    return LinkOut.model_validate(link)


@router.get("/cases/{case_id}/links", response_model=list[LinkOut])
def links(case_id: RowId, session: DbSession, _: Reader) -> list[LinkOut]:
    """Links into and out of the case."""
    _case_or_404(session, case_id)
    rows = session.scalars(
        select(TransmissionLink)
        .where(
            (TransmissionLink.infector_id == case_id) | (TransmissionLink.infectee_id == case_id)
        )
        .order_by(TransmissionLink.id)
    )
    return [LinkOut.model_validate(link) for link in rows]


@router.get("/cases/{case_id}/chain", response_model=ChainOut)
def chain(
    case_id: RowId,
    session: DbSession,
    _: Reader,
    lineage_only: bool = False,
) -> ChainOut:
    """The case's transmission chain (its whole connected chain, or only its lineage)."""
    _case_or_404(session, case_id)
    found = service.chain(session, case_id=case_id, lineage_only=lineage_only)
    return ChainOut(
        case_id=found.case_id,
        roots=found.roots,
        nodes=[
            {
                "case_id": n.case_id,
                "source": n.source,
                "external_ref": n.external_ref,
                "status": n.status,
                "confirmed_date": n.confirmed_date.isoformat() if n.confirmed_date else None,
                "relation": n.relation,
            }
            for n in found.nodes
        ],
        edges=[{"infector_id": e.infector_id, "infectee_id": e.infectee_id} for e in found.edges],
    )


@router.get("/me/cases", response_model=list[CaseOut])
def my_cases(session: DbSession, caller: Citizen) -> list[CaseOut]:
    """A citizen's own cases (matched by their pseudonymous person id)."""
    assert caller.user is not None
    rows = session.scalars(
        select(Case).where(Case.person_id == caller.user.person_id).order_by(Case.id)
    )
    return [CaseOut.model_validate(c) for c in rows]


@router.get("/stats/cases", response_model=Counts)
def counts(session: DbSession, _: Analyst) -> Counts:
    """Case counts by status and by district (no person-level data)."""
    by_status = dict(session.execute(select(Case.status, func.count()).group_by(Case.status)).all())
    by_district: dict[str, int] = {}
    for district, n in session.execute(
        select(Case.district, func.count()).group_by(Case.district)
    ).all():
        key = district or "unknown"
        by_district[key] = by_district.get(key, 0) + int(n)
    return Counts(
        total=sum(by_status.values()),
        by_status={str(k): int(v) for k, v in by_status.items()},
        by_district=by_district,
    )
