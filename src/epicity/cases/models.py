"""Tables of case management: cases, their status history, contacts, clusters and links.

The schema is created and changed only by the migrations ``0005_cases`` and
``0008_api_indexes``; these classes must match them (a test compares the two).

- ``cases``: one row per case, identified by ``(source, external_ref)`` when it comes from
  outside (``source`` 'ds4c', ref = DS4C patient id) and by ``id`` always. ``person_id`` is
  the pseudonymous person id of the location store, when known. The dates are calendar dates
  as reported (epidemiological data is reported per day).
- ``case_status_history``: every status change, with who recorded it, when, on what date it
  took effect and why.
- ``case_contacts`` and ``contact_follow_ups``: a case's contacts (from tracing or added by
  hand) and the history of their follow-up status.
- ``clusters`` and ``cluster_members``: named outbreaks (a call centre, a club) and their
  cases; ``first_date``/``last_date`` span the members' confirmation dates.
- ``transmission_links``: who infected whom, with the evidence; never a case to itself, never
  twice the same pair, never a cycle (the service refuses those).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from epicity.db import Base, dialect_index

__all__ = [
    "CASE_STATUSES",
    "CLUSTER_KINDS",
    "CONTACT_ORIGINS",
    "CONTACT_TIERS",
    "FOLLOW_UP_STATUSES",
    "SEXES",
    "Case",
    "CaseContact",
    "CaseStatusChange",
    "Cluster",
    "ClusterMember",
    "FollowUpChange",
    "TransmissionLink",
]

CASE_STATUSES = ("suspected", "confirmed", "isolated", "recovered", "deceased", "discarded")
SEXES = ("female", "male")
CONTACT_TIERS = ("close", "casual")
CONTACT_ORIGINS = ("tracing", "manual")
FOLLOW_UP_STATUSES = ("none", "reached", "in_isolation", "tested", "released")
CLUSTER_KINDS = (
    "venue",
    "workplace",
    "religious",
    "healthcare",
    "household",
    "community",
    "travel",
    "other",
)

SOURCE_MAX = 32
REF_MAX = 64
ACTOR_MAX = 100
PLACE_MAX = 100
NAME_MAX = 200
AGE_GROUP_MAX = 8

# BIGINT on PostgreSQL; SQLite autoincrements only an INTEGER PRIMARY KEY.
_BigId = BigInteger().with_variant(Integer(), "sqlite")


_LITE = "sqlite"


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Case(Base):
    """A case: its status in the lifecycle, who it is (pseudonymously) and its key dates."""

    __tablename__ = "cases"
    __table_args__ = (
        CheckConstraint(_one_of("status", CASE_STATUSES), name="status"),
        CheckConstraint(_one_of("sex", SEXES), name="sex"),
        CheckConstraint(
            "released_date IS NULL OR deceased_date IS NULL", name="not_released_and_deceased"
        ),
        UniqueConstraint("source", "external_ref", name="uq_cases_source_external_ref"),
        Index("ix_cases_status", "status"),
        Index("ix_cases_person_id", "person_id"),
        Index("ix_cases_confirmed_date", "confirmed_date"),
        # The case list's filters (migrations 0008 and 0014): on SQLite a backward scan of
        # these gives the list's order; PostgreSQL's own are below the class (0015).
        dialect_index(
            "ix_cases_district_confirmed_date", "district", "confirmed_date", dialect=_LITE
        ),
        dialect_index("ix_cases_status_confirmed_date", "status", "confirmed_date", dialect=_LITE),
        dialect_index(
            "ix_cases_district_status_confirmed_date",
            "district",
            "status",
            "confirmed_date",
            dialect=_LITE,
        ),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    source: Mapped[str] = mapped_column(String(SOURCE_MAX))
    external_ref: Mapped[str | None] = mapped_column(String(REF_MAX))
    person_id: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    sex: Mapped[str | None] = mapped_column(String(8))
    age_group: Mapped[str | None] = mapped_column(String(AGE_GROUP_MAX))
    province: Mapped[str | None] = mapped_column(String(PLACE_MAX))
    district: Mapped[str | None] = mapped_column(String(PLACE_MAX))
    symptom_onset: Mapped[dt.date | None] = mapped_column(Date)
    test_date: Mapped[dt.date | None] = mapped_column(Date)
    confirmed_date: Mapped[dt.date | None] = mapped_column(Date)
    isolated_date: Mapped[dt.date | None] = mapped_column(Date)
    released_date: Mapped[dt.date | None] = mapped_column(Date)
    deceased_date: Mapped[dt.date | None] = mapped_column(Date)
    created_by: Mapped[str] = mapped_column(String(ACTOR_MAX))
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]

    def __repr__(self) -> str:
        return f"Case(id={self.id!r}, source={self.source!r}, status={self.status!r})"


# PostgreSQL sorts NULL highest, so the list's order (CASE_LIST_ORDER: confirmed_date DESC
# NULLS LAST, id DESC) is an index of its own for each filter the list offers (0015).
for _filters in ((), ("district",), ("status",), ("district", "status")):
    dialect_index(
        "_".join(("ix_cases", *_filters, "list_order")),
        *(Case.__table__.c[name] for name in _filters),
        Case.confirmed_date.desc().nulls_last(),
        Case.id.desc(),
        dialect="postgresql",
    )


class CaseStatusChange(Base):
    """One step of a case's lifecycle (``from_status`` is None when the case was created)."""

    __tablename__ = "case_status_history"
    __table_args__ = (
        CheckConstraint(_one_of("to_status", CASE_STATUSES), name="to_status"),
        Index("ix_case_status_history_case_id", "case_id"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    effective_date: Mapped[dt.date | None] = mapped_column(Date)
    changed_by: Mapped[str] = mapped_column(String(ACTOR_MAX))
    changed_at: Mapped[dt.datetime]
    reason: Mapped[str] = mapped_column(Text)


class CaseContact(Base):
    """A contact of a case: a known person (pseudonym) or an outside reference."""

    __tablename__ = "case_contacts"
    __table_args__ = (
        CheckConstraint(_one_of("tier", CONTACT_TIERS), name="tier"),
        CheckConstraint(_one_of("origin", CONTACT_ORIGINS), name="origin"),
        CheckConstraint(_one_of("follow_up", FOLLOW_UP_STATUSES), name="follow_up"),
        CheckConstraint("person_id IS NOT NULL OR external_ref IS NOT NULL", name="who"),
        UniqueConstraint("case_id", "person_id", name="uq_case_contacts_case_id_person_id"),
        UniqueConstraint("case_id", "external_ref", name="uq_case_contacts_case_id_external_ref"),
        Index("ix_case_contacts_person_id", "person_id"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    person_id: Mapped[int | None] = mapped_column(BigInteger)
    external_ref: Mapped[str | None] = mapped_column(String(REF_MAX))
    tier: Mapped[str] = mapped_column(String(8))
    origin: Mapped[str] = mapped_column(String(8))
    follow_up: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(ACTOR_MAX))
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]

    def __repr__(self) -> str:
        return (
            f"CaseContact(id={self.id!r}, case_id={self.case_id!r}, tier={self.tier!r}, "
            f"follow_up={self.follow_up!r})"
        )


class FollowUpChange(Base):
    """One change of a contact's follow-up status."""

    __tablename__ = "contact_follow_ups"
    __table_args__ = (
        CheckConstraint(_one_of("to_status", FOLLOW_UP_STATUSES), name="to_status"),
        Index("ix_contact_follow_ups_contact_id", "contact_id"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("case_contacts.id"))
    from_status: Mapped[str] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    changed_by: Mapped[str] = mapped_column(String(ACTOR_MAX))
    changed_at: Mapped[dt.datetime]
    note: Mapped[str] = mapped_column(Text)


class Cluster(Base):
    """A named group of cases with a common source (a venue, a workplace, an institution)."""

    __tablename__ = "clusters"
    __table_args__ = (
        CheckConstraint(_one_of("kind", CLUSTER_KINDS), name="kind"),
        UniqueConstraint("name", name="uq_clusters_name"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    kind: Mapped[str] = mapped_column(String(16))
    province: Mapped[str | None] = mapped_column(String(PLACE_MAX))
    district: Mapped[str | None] = mapped_column(String(PLACE_MAX))
    first_date: Mapped[dt.date | None] = mapped_column(Date)
    last_date: Mapped[dt.date | None] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(SOURCE_MAX))
    created_by: Mapped[str] = mapped_column(String(ACTOR_MAX))
    created_at: Mapped[dt.datetime]

    def __repr__(self) -> str:
        return f"Cluster(id={self.id!r}, name={self.name!r})"


class ClusterMember(Base):
    """A case's membership of a cluster."""

    __tablename__ = "cluster_members"
    __table_args__ = (Index("ix_cluster_members_case_id", "case_id"),)

    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"), primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    added_by: Mapped[str] = mapped_column(String(ACTOR_MAX))
    added_at: Mapped[dt.datetime]


class TransmissionLink(Base):
    """`infector` infected `infectee`, on the strength of `evidence`."""

    __tablename__ = "transmission_links"
    __table_args__ = (
        CheckConstraint("infector_id <> infectee_id", name="no_self_link"),
        UniqueConstraint(
            "infector_id", "infectee_id", name="uq_transmission_links_infector_id_infectee_id"
        ),
        Index("ix_transmission_links_infectee_id", "infectee_id"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    infector_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    infectee_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    evidence: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(SOURCE_MAX))
    created_by: Mapped[str] = mapped_column(String(ACTOR_MAX))
    created_at: Mapped[dt.datetime]

    def __repr__(self) -> str:
        return f"TransmissionLink({self.infector_id!r} -> {self.infectee_id!r})"
