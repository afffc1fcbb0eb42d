"""Case management: cases through their lifecycle, contacts' follow-up, clusters and chains.

Plain functions over a SQLAlchemy session. They add and flush but do not commit: the caller
owns the transaction (`epicity.db.session_scope`), so a change and its history row land
together or not at all. Bad input raises `CaseError` (or a subclass) naming the field.

Lifecycle
---------
Like WHO Go.Data and SORMAS, a case's classification (suspected, confirmed, discarded) and its
outcome (recovered, deceased) are recorded as one status here, with isolation in between::

    suspected ──> confirmed ──> isolated ──> recovered
        │  │          │  │                   deceased
        │  └─> discarded └──────────────────> recovered | deceased
        └──────────────────────────────────> deceased

- ``suspected -> discarded``: the test came back negative ("not a case" in Go.Data/SORMAS).
- ``suspected -> deceased``: a suspected case can die before any result; the outcome is
  recorded independently of the classification, as in SORMAS.
- ``confirmed -> recovered | deceased`` without isolation is allowed: cases found after
  recovery or post mortem, or treated at home without a formal isolation order, happen, and
  Go.Data and SORMAS record outcomes whatever the isolation.
- recovered, deceased and discarded are final: a correction is a new case, not a reopening.

Each change sets the date of the new status (``confirmed_date``, ``isolated_date``,
``released_date``, ``deceased_date``; default today) and writes a ``case_status_history`` row
with who, when (instant recorded), the effective date and why (a reason is required).

Dates must be consistent (`date_problems`): none in the future; test not after confirmation;
isolation not before confirmation; release or death not before confirmation, isolation or
symptom onset; release and death not both; and a date only for a status that has it (a
suspected case has no confirmed date, only a recovered one a release date). Symptom onset
after confirmation is allowed: pre-symptomatic cases are confirmed before their symptoms.

Contacts' follow-up
-------------------
``none -> reached | in_isolation | tested``, ``reached -> in_isolation | tested | released``,
``in_isolation -> tested | released``, ``tested -> in_isolation | released``; ``released``
(follow-up over) is final. Every change is kept in ``contact_follow_ups``.

Transmission links
------------------
``infector -> infectee`` with evidence (required). Refused: a case to itself, a pair already
linked, and a link that would close a cycle (the infectee already leads to the infector).
A case may have several possible infectors (uncertain source), as in Go.Data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from epicity.cases.errors import CaseError, Conflict, IllegalTransition, LinkRefused, NotFound
from epicity.cases.models import (
    ACTOR_MAX,
    AGE_GROUP_MAX,
    CASE_STATUSES,
    CLUSTER_KINDS,
    CONTACT_ORIGINS,
    CONTACT_TIERS,
    FOLLOW_UP_STATUSES,
    NAME_MAX,
    PLACE_MAX,
    REF_MAX,
    SEXES,
    SOURCE_MAX,
    Case,
    CaseContact,
    CaseStatusChange,
    Cluster,
    ClusterMember,
    FollowUpChange,
    TransmissionLink,
)
from epicity.db import utcnow

__all__ = [
    "CASE_LIST_ORDER",
    "DATE_FIELDS",
    "FOLLOW_UP_TRANSITIONS",
    "STATUS_DATE",
    "TRANSITIONS",
    "Chain",
    "ChainEdge",
    "ChainNode",
    "add_contact",
    "add_link",
    "add_to_cluster",
    "case_count",
    "case_list_filters",
    "chain",
    "change_status",
    "cluster_cases",
    "create_case",
    "create_cluster",
    "date_problems",
    "follow_up_history",
    "get_case",
    "list_cases",
    "status_history",
    "update_follow_up",
]

TRANSITIONS: Mapping[str, tuple[str, ...]] = {
    "suspected": ("confirmed", "discarded", "deceased"),
    "confirmed": ("isolated", "recovered", "deceased"),
    "isolated": ("recovered", "deceased"),
    "recovered": (),
    "deceased": (),
    "discarded": (),
}
# The date a status change sets.
STATUS_DATE: Mapping[str, str] = {
    "confirmed": "confirmed_date",
    "isolated": "isolated_date",
    "recovered": "released_date",
    "deceased": "deceased_date",
}
FOLLOW_UP_TRANSITIONS: Mapping[str, tuple[str, ...]] = {
    "none": ("reached", "in_isolation", "tested"),
    "reached": ("in_isolation", "tested", "released"),
    "in_isolation": ("tested", "released"),
    "tested": ("in_isolation", "released"),
    "released": (),
}
DATE_FIELDS = (
    "symptom_onset",
    "test_date",
    "confirmed_date",
    "isolated_date",
    "released_date",
    "deceased_date",
)
INITIAL_STATUSES = ("suspected", "confirmed")
# Statuses that a given date may accompany.
_DATE_STATUSES: Mapping[str, tuple[str, ...]] = {
    "confirmed_date": ("confirmed", "isolated", "recovered", "deceased"),
    "isolated_date": ("isolated", "recovered", "deceased"),
    "released_date": ("recovered",),
    "deceased_date": ("deceased",),
}
_CHUNK = 500  # ids per IN (...) list


# --------------------------------------------------------------------------------------------
# validation


def _text(value: str | None, what: str, maximum: int, *, required: bool = True) -> str | None:
    if value is None or not value.strip():
        if required:
            raise CaseError(f"{what} must not be empty")
        return None
    value = value.strip()
    if len(value) > maximum:
        raise CaseError(f"{what} is longer than {maximum} characters")
    return value


def _req(value: str | None, what: str, maximum: int) -> str:
    text = _text(value, what, maximum)
    assert text is not None
    return text


def _choice(value: str, what: str, choices: Iterable[str]) -> str:
    options = tuple(choices)
    if value not in options:
        raise CaseError(f"{what} {value!r} is not one of {', '.join(options)}")
    return value


def _day(value: object, what: str) -> dt.date | None:
    if value is None:
        return None
    # A datetime is a date too: refuse it, the time of day would be silently dropped.
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise CaseError(f"{what} must be a date (YYYY-MM-DD), got {value!r}")
    return value


def _id(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise CaseError(f"{what} must be a positive integer, got {value!r}")
    return value


def _today() -> dt.date:
    # Tolerate one day ahead of UTC: Seoul (and the Pacific) are ahead of it.
    return (utcnow() + dt.timedelta(days=1)).date()


def date_problems(
    status: str, dates: Mapping[str, dt.date | None], *, today: dt.date | None = None
) -> list[tuple[str, str]]:
    """The inconsistencies of a case's dates for its `status`, as (field, message) pairs.

    The field named is the one taken to be wrong (the later event). See the module docstring
    for the rules. An empty list means the dates are consistent.
    """
    limit = today if today is not None else _today()
    d = {name: dates.get(name) for name in DATE_FIELDS}
    problems: list[tuple[str, str]] = []
    for name, value in d.items():
        if value is not None and value > limit:
            problems.append((name, f"{name} {value} is in the future"))

    def before(later: str, earlier: str, wording: str) -> None:
        a, b = d[later], d[earlier]
        if a is not None and b is not None and a < b:
            problems.append((later, f"{later} {a} is before {earlier} {b}: {wording}"))

    before("confirmed_date", "test_date", "a case is confirmed by its test")
    before("isolated_date", "confirmed_date", "isolation as a case follows confirmation")
    for end in ("released_date", "deceased_date"):
        for start in ("confirmed_date", "isolated_date", "symptom_onset"):
            before(end, start, "the outcome comes last")
    if d["released_date"] is not None and d["deceased_date"] is not None:
        problems.append(("released_date", "released_date and deceased_date are both set"))
    for name, statuses in _DATE_STATUSES.items():
        if d[name] is not None and status not in statuses:
            problems.append((name, f"{name} is set but the status is {status!r}"))
    if status in ("confirmed", "isolated", "recovered") and d["confirmed_date"] is None:
        problems.append(("confirmed_date", f"confirmed_date is required for status {status!r}"))
    return problems


def _check_dates(case: Case) -> None:
    problems = date_problems(case.status, {n: getattr(case, n) for n in DATE_FIELDS})
    if problems:
        raise CaseError("; ".join(message for _, message in problems))


def _case(session: Session, case_id: int, what: str = "case_id") -> Case:
    case = session.get(Case, _id(case_id, what))
    if case is None:
        raise NotFound(f"{what}: no case with id {case_id}")
    return case


# --------------------------------------------------------------------------------------------
# cases


def create_case(
    session: Session,
    *,
    actor: str,
    status: str = "suspected",
    source: str = "epicity",
    external_ref: str | None = None,
    person_id: int | None = None,
    sex: str | None = None,
    age_group: str | None = None,
    province: str | None = None,
    district: str | None = None,
    symptom_onset: dt.date | None = None,
    test_date: dt.date | None = None,
    confirmed_date: dt.date | None = None,
    reason: str = "case reported",
) -> Case:
    """Create a case as `suspected` or `confirmed` (which needs `confirmed_date`).

    Writes the first history row (from no status). Raises `Conflict` when a case with the
    same `source` and `external_ref` exists and `CaseError` on bad or inconsistent input.
    """
    actor_ = _req(actor, "actor", ACTOR_MAX)
    _choice(status, "status", INITIAL_STATUSES)
    source_ = _req(source, "source", SOURCE_MAX)
    ref = _text(external_ref, "external_ref", REF_MAX, required=False)
    if person_id is not None:
        _id(person_id, "person_id")
    if sex is not None:
        _choice(sex, "sex", SEXES)
    age = _text(age_group, "age_group", AGE_GROUP_MAX, required=False)
    dates = {
        "symptom_onset": _day(symptom_onset, "symptom_onset"),
        "test_date": _day(test_date, "test_date"),
        "confirmed_date": _day(confirmed_date, "confirmed_date"),
    }
    problems = date_problems(status, dates)
    if problems:
        raise CaseError("; ".join(message for _, message in problems))
    if ref is not None:
        clash = session.scalar(
            select(Case.id).where(Case.source == source_, Case.external_ref == ref)
        )
        if clash is not None:
            raise Conflict(f"external_ref {ref!r} of source {source_!r} is case {clash} already")
    now = utcnow()
    case = Case(
        source=source_,
        external_ref=ref,
        person_id=person_id,
        status=status,
        sex=sex,
        age_group=age,
        province=_text(province, "province", PLACE_MAX, required=False),
        district=_text(district, "district", PLACE_MAX, required=False),
        created_by=actor_,
        created_at=now,
        updated_at=now,
        **dates,
    )
    session.add(case)
    session.flush()
    session.add(
        CaseStatusChange(
            case_id=case.id,
            from_status=None,
            to_status=status,
            effective_date=dates["confirmed_date"] if status == "confirmed" else None,
            changed_by=actor_,
            changed_at=now,
            reason=(reason or "").strip() or "case reported",
        )
    )
    session.flush()
    return case


def get_case(session: Session, *, case_id: int) -> Case | None:
    """The case with this id, if any."""
    return session.get(Case, _id(case_id, "case_id"))


_cases = Case.__table__.c
# The case list's order, here and in the API: newest confirmed first, unconfirmed last.
CASE_LIST_ORDER = (_cases.confirmed_date.desc().nulls_last(), _cases.id.desc())


def case_list_filters(
    *,
    status: str | None = None,
    source: str | None = None,
    district: str | None = None,
    cluster_id: int | None = None,
) -> list[ColumnElement[bool]]:
    """The case list's conditions for these filters (already validated), on the table's
    columns, so the ORM list here and the API's Core list share them."""
    where: list[ColumnElement[bool]] = []
    if status is not None:
        where.append(_cases.status == status)
    if source is not None:
        where.append(_cases.source == source)
    if district is not None:
        where.append(_cases.district == district)
    if cluster_id is not None:
        members = select(ClusterMember.case_id).where(ClusterMember.cluster_id == cluster_id)
        where.append(_cases.id.in_(members))
    return where


def list_cases(
    session: Session,
    *,
    status: str | None = None,
    source: str | None = None,
    district: str | None = None,
    cluster_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Case]:
    """Cases matching the filters, most recently confirmed first (then by id)."""
    if status is not None:
        _choice(status, "status", CASE_STATUSES)
    if not 1 <= limit <= 10_000:
        raise CaseError(f"limit must be between 1 and 10000, got {limit}")
    if offset < 0:
        raise CaseError(f"offset must not be negative, got {offset}")
    where = case_list_filters(
        status=status,
        source=source,
        district=district,
        cluster_id=None if cluster_id is None else _id(cluster_id, "cluster_id"),
    )
    query = select(Case).where(*where).order_by(*CASE_LIST_ORDER)
    return list(session.scalars(query.limit(limit).offset(offset)))


def change_status(
    session: Session,
    *,
    case_id: int,
    to: str,
    actor: str,
    reason: str,
    on: dt.date | None = None,
) -> Case:
    """Move a case to status `to` on date `on` (default today), recording who and why.

    Raises `IllegalTransition` for a change the lifecycle does not allow and `CaseError`
    when the dates would become inconsistent (e.g. released before confirmed).
    """
    actor_ = _req(actor, "actor", ACTOR_MAX)
    reason_ = _req(reason, "reason", 10_000)
    _choice(to, "status", CASE_STATUSES)
    case = _case(session, case_id)
    if to not in TRANSITIONS[case.status]:
        allowed = ", ".join(TRANSITIONS[case.status]) or "none (final status)"
        raise IllegalTransition(
            f"status: case {case.id} cannot go from {case.status!r} to {to!r}; allowed: {allowed}"
        )
    day = _day(on, "on") or utcnow().date()
    dates = {n: getattr(case, n) for n in DATE_FIELDS}
    column = STATUS_DATE.get(to)
    if column is not None:
        dates[column] = day
    problems = date_problems(to, dates)
    if problems:
        raise CaseError("; ".join(message for _, message in problems))
    now = utcnow()
    session.add(
        CaseStatusChange(
            case_id=case.id,
            from_status=case.status,
            to_status=to,
            effective_date=day,
            changed_by=actor_,
            changed_at=now,
            reason=reason_,
        )
    )
    case.status = to
    if column is not None:
        setattr(case, column, day)
    case.updated_at = now
    session.flush()
    return case


def status_history(session: Session, *, case_id: int) -> list[CaseStatusChange]:
    """A case's status changes, oldest first."""
    _case(session, case_id)
    return list(
        session.scalars(
            select(CaseStatusChange)
            .where(CaseStatusChange.case_id == case_id)
            .order_by(CaseStatusChange.id)
        )
    )


# --------------------------------------------------------------------------------------------
# contacts


def add_contact(
    session: Session,
    *,
    case_id: int,
    actor: str,
    tier: str,
    person_id: int | None = None,
    external_ref: str | None = None,
    origin: str = "manual",
    note: str = "",
) -> CaseContact:
    """Add a contact (a person pseudonym and/or an outside reference) to a case.

    Follow-up starts at ``none``. Raises `Conflict` when the case already has this contact.
    """
    actor_ = _req(actor, "actor", ACTOR_MAX)
    _choice(tier, "tier", CONTACT_TIERS)
    _choice(origin, "origin", CONTACT_ORIGINS)
    if person_id is not None:
        _id(person_id, "person_id")
    ref = _text(external_ref, "external_ref", REF_MAX, required=False)
    if person_id is None and ref is None:
        raise CaseError("person_id or external_ref: give at least one to say who the contact is")
    case = _case(session, case_id)
    for column, value in ((CaseContact.person_id, person_id), (CaseContact.external_ref, ref)):
        if value is None:
            continue
        clash = session.scalar(
            select(CaseContact.id).where(CaseContact.case_id == case.id, column == value)
        )
        if clash is not None:
            raise Conflict(
                f"{column.key}: case {case.id} already has this contact (contact {clash})"
            )
    now = utcnow()
    contact = CaseContact(
        case_id=case.id,
        person_id=person_id,
        external_ref=ref,
        tier=tier,
        origin=origin,
        follow_up="none",
        note=(note or "").strip(),
        created_by=actor_,
        created_at=now,
        updated_at=now,
    )
    session.add(contact)
    session.flush()
    return contact


def update_follow_up(
    session: Session, *, contact_id: int, to: str, actor: str, note: str = ""
) -> CaseContact:
    """Move a contact's follow-up to `to`; raises `IllegalTransition` when not allowed."""
    actor_ = _req(actor, "actor", ACTOR_MAX)
    _choice(to, "follow_up", FOLLOW_UP_STATUSES)
    contact = session.get(CaseContact, _id(contact_id, "contact_id"))
    if contact is None:
        raise NotFound(f"contact_id: no contact with id {contact_id}")
    if to not in FOLLOW_UP_TRANSITIONS[contact.follow_up]:
        allowed = ", ".join(FOLLOW_UP_TRANSITIONS[contact.follow_up]) or "none (follow-up over)"
        raise IllegalTransition(
            f"follow_up: contact {contact.id} cannot go from {contact.follow_up!r} to {to!r}; "
            f"allowed: {allowed}"
        )
    now = utcnow()
    session.add(
        FollowUpChange(
            contact_id=contact.id,
            from_status=contact.follow_up,
            to_status=to,
            changed_by=actor_,
            changed_at=now,
            note=(note or "").strip(),
        )
    )
    contact.follow_up = to
    contact.updated_at = now
    session.flush()
    return contact


def follow_up_history(session: Session, *, contact_id: int) -> list[FollowUpChange]:
    """A contact's follow-up changes, oldest first."""
    return list(
        session.scalars(
            select(FollowUpChange)
            .where(FollowUpChange.contact_id == _id(contact_id, "contact_id"))
            .order_by(FollowUpChange.id)
        )
    )


# --------------------------------------------------------------------------------------------
# clusters


def create_cluster(
    session: Session,
    *,
    name: str,
    actor: str,
    kind: str = "other",
    province: str | None = None,
    district: str | None = None,
    source: str = "epicity",
) -> Cluster:
    """Create a named cluster; raises `Conflict` when the name is taken."""
    name_ = _req(name, "name", NAME_MAX)
    actor_ = _req(actor, "actor", ACTOR_MAX)
    _choice(kind, "kind", CLUSTER_KINDS)
    clash = session.scalar(select(Cluster.id).where(Cluster.name == name_))
    if clash is not None:
        raise Conflict(f"name: cluster {name_!r} exists already (id {clash})")
    cluster = Cluster(
        name=name_,
        kind=kind,
        province=_text(province, "province", PLACE_MAX, required=False),
        district=_text(district, "district", PLACE_MAX, required=False),
        source=_req(source, "source", SOURCE_MAX),
        created_by=actor_,
        created_at=utcnow(),
    )
    session.add(cluster)
    session.flush()
    return cluster


def add_to_cluster(session: Session, *, cluster_id: int, case_id: int, actor: str) -> Cluster:
    """Make a case a member of a cluster; widens the cluster's first/last dates to its own.

    Raises `Conflict` when the case is a member already.
    """
    actor_ = _req(actor, "actor", ACTOR_MAX)
    cluster = session.get(Cluster, _id(cluster_id, "cluster_id"))
    if cluster is None:
        raise NotFound(f"cluster_id: no cluster with id {cluster_id}")
    case = _case(session, case_id)
    if session.get(ClusterMember, (cluster.id, case.id)) is not None:
        raise Conflict(f"case_id: case {case.id} is in cluster {cluster.name!r} already")
    session.add(
        ClusterMember(cluster_id=cluster.id, case_id=case.id, added_by=actor_, added_at=utcnow())
    )
    day = case.confirmed_date or case.symptom_onset
    if day is not None:
        if cluster.first_date is None or day < cluster.first_date:
            cluster.first_date = day
        if cluster.last_date is None or day > cluster.last_date:
            cluster.last_date = day
    session.flush()
    return cluster


def cluster_cases(session: Session, *, cluster_id: int) -> list[Case]:
    """The cases of a cluster, by confirmation date then id."""
    return list(
        session.scalars(
            select(Case)
            .join(ClusterMember, ClusterMember.case_id == Case.id)
            .where(ClusterMember.cluster_id == _id(cluster_id, "cluster_id"))
            .order_by(Case.confirmed_date, Case.id)
        )
    )


# --------------------------------------------------------------------------------------------
# transmission links and chains


def _chunks(ids: Iterable[int]) -> Iterable[list[int]]:
    items = sorted(ids)
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def _neighbours(
    session: Session, ids: set[int], direction: Literal["down", "up"]
) -> list[tuple[int, int]]:
    """Links (infector, infectee) leaving `ids` downwards (to infectees) or upwards."""
    out: list[tuple[int, int]] = []
    column = TransmissionLink.infector_id if direction == "down" else TransmissionLink.infectee_id
    for chunk in _chunks(ids):
        rows = session.execute(
            select(TransmissionLink.infector_id, TransmissionLink.infectee_id).where(
                column.in_(chunk)
            )
        )
        out.extend((a, b) for a, b in rows)
    return out


def _reach(session: Session, start: int, direction: Literal["down", "up"]) -> set[int]:
    """Every case reachable from `start` following links in one direction (start excluded)."""
    seen: set[int] = {start}
    frontier = {start}
    while frontier:
        nxt: set[int] = set()
        for a, b in _neighbours(session, frontier, direction):
            node = b if direction == "down" else a
            if node not in seen:
                seen.add(node)
                nxt.add(node)
        frontier = nxt
    seen.discard(start)
    return seen


def add_link(
    session: Session,
    *,
    infector_id: int,
    infectee_id: int,
    evidence: str,
    actor: str,
    source: str = "epicity",
) -> TransmissionLink:
    """Record that `infector_id` infected `infectee_id`, with the evidence.

    Raises `LinkRefused` for a self link, a pair already linked or a link closing a cycle,
    `NotFound` for an unknown case and `CaseError` when the evidence is empty.
    """
    evidence_ = _req(evidence, "evidence", 10_000)
    actor_ = _req(actor, "actor", ACTOR_MAX)
    source_ = _req(source, "source", SOURCE_MAX)
    infector = _case(session, infector_id, "infector_id")
    infectee = _case(session, infectee_id, "infectee_id")
    if infector.id == infectee.id:
        raise LinkRefused(f"infectee_id: case {infector.id} cannot infect itself")
    clash = session.scalar(
        select(TransmissionLink.id).where(
            TransmissionLink.infector_id == infector.id,
            TransmissionLink.infectee_id == infectee.id,
        )
    )
    if clash is not None:
        raise LinkRefused(
            f"infectee_id: case {infector.id} -> {infectee.id} is recorded already (link {clash})"
        )
    if infector.id in _reach(session, infectee.id, "down"):
        raise LinkRefused(
            f"infectee_id: case {infectee.id} already leads to case {infector.id} "
            f"in the transmission chain; {infector.id} -> {infectee.id} would close a cycle"
        )
    link = TransmissionLink(
        infector_id=infector.id,
        infectee_id=infectee.id,
        evidence=evidence_,
        source=source_,
        created_by=actor_,
        created_at=utcnow(),
    )
    session.add(link)
    session.flush()
    return link


@dataclass(frozen=True)
class ChainNode:
    """A case in a transmission chain and how it relates to the case asked about."""

    case_id: int
    source: str
    external_ref: str | None
    status: str
    confirmed_date: dt.date | None
    relation: Literal["self", "ancestor", "descendant", "related"]


@dataclass(frozen=True)
class ChainEdge:
    """A transmission link of the chain."""

    infector_id: int
    infectee_id: int
    evidence: str


@dataclass(frozen=True)
class Chain:
    """The transmission chain around one case, as nodes and edges for drawing."""

    case_id: int
    nodes: list[ChainNode]
    edges: list[ChainEdge]

    @property
    def roots(self) -> list[int]:
        """Cases of the chain that no case in it infected."""
        infected = {e.infectee_id for e in self.edges}
        return [n.case_id for n in self.nodes if n.case_id not in infected]


def chain(session: Session, *, case_id: int, lineage_only: bool = False) -> Chain:
    """The transmission chain of a case.

    By default the whole connected chain: every case linked to it through any number of
    links in either direction (its ancestors, its descendants, and their other relatives,
    such as the siblings infected by the same person), which is what a cluster's graph shows.
    With `lineage_only`, only its ancestors and descendants. Nodes are ordered by id.
    """
    case = _case(session, case_id)
    ancestors = _reach(session, case.id, "up")
    descendants = _reach(session, case.id, "down")
    members = {case.id} | ancestors | descendants
    if not lineage_only:
        frontier = set(members)
        while frontier:
            nxt: set[int] = set()
            for a, b in _neighbours(session, frontier, "down") + _neighbours(
                session, frontier, "up"
            ):
                for node in (a, b):
                    if node not in members:
                        members.add(node)
                        nxt.add(node)
            frontier = nxt
    edges: dict[tuple[int, int], ChainEdge] = {}
    cases: dict[int, Case] = {}
    for chunk in _chunks(members):
        for link in session.scalars(
            select(TransmissionLink).where(TransmissionLink.infector_id.in_(chunk))
        ):
            if link.infectee_id in members:
                edges[(link.infector_id, link.infectee_id)] = ChainEdge(
                    link.infector_id, link.infectee_id, link.evidence
                )
        cases.update({c.id: c for c in session.scalars(select(Case).where(Case.id.in_(chunk)))})

    def relation(node: int) -> Literal["self", "ancestor", "descendant", "related"]:
        if node == case.id:
            return "self"
        if node in ancestors:
            return "ancestor"
        if node in descendants:
            return "descendant"
        return "related"

    nodes = [
        ChainNode(c.id, c.source, c.external_ref, c.status, c.confirmed_date, relation(c.id))
        for c in sorted(cases.values(), key=lambda c: c.id)
    ]
    return Chain(case.id, nodes, [edges[k] for k in sorted(edges)])


def case_count(session: Session, *, source: str | None = None) -> int:
    """Number of cases (of one source, when given)."""
    query = select(func.count()).select_from(Case)
    if source is not None:
        query = query.where(Case.source == source)
    return int(session.scalar(query) or 0)
