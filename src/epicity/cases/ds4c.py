"""Load the Korean DS4C case registry (``PatientInfo.csv``) into case management.

The file is parsed by `epicity.ds4c.convert` (the same reading, normalising and findings as
``epicity ds4c``); this module maps what it reads onto cases, links and clusters:

- **cases**: one per patient with a usable confirmed date (source ``ds4c``, external ref =
  ``patient_id``). ``state`` gives the status: ``isolated`` -> isolated, ``released`` ->
  recovered (Korea released cases from isolation on recovery), ``deceased`` -> deceased, no
  state -> confirmed. The history is rebuilt from what is known: created confirmed (on the
  confirmed date), then isolated (date not published; Korea isolated every confirmed case
  in hospital or a residential treatment centre) for isolated and released cases, then
  recovered or deceased on the published date. A deceased case goes straight from
  confirmed to deceased (the data do not say whether isolation came first). Dates that
  break the rules of `epicity.cases.service.date_problems` (e.g. released before confirmed,
  or a release date on a case still isolated) are dropped and counted, never guessed.
- **links**: ``infected_by`` -> a link infector -> case with evidence "DS4C infected_by".
  Skipped and counted: an infector that is not an imported case, a case naming itself, a
  value that is not a patient id, and a link that would close a cycle.
- **clusters**: each ``infection_case`` except the generic routes "contact with patient",
  "overseas inflow" and "etc" (and empty). These are the values DS4C's own ``Case.csv``
  marks as group infections: the named venues and institutions (Guro-gu Call Center,
  Itaewon Clubs, Shincheonji Church, ...). The kind is guessed from the name (church ->
  religious, hospital -> healthcare, ...); province and district are the members' most
  frequent ones; first/last dates span the members' confirmation dates.

The import is one transaction (the caller's) and idempotent: cases already imported (same
source and ref), links and memberships already present are left as they are and counted as
existing, so a second run adds nothing. An existing case is never overwritten: after import,
its lifecycle belongs to the investigators.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from epicity.cases.models import (
    Case,
    CaseStatusChange,
    Cluster,
    ClusterMember,
    TransmissionLink,
)
from epicity.cases.service import DATE_FIELDS, date_problems
from epicity.db import utcnow

# The DS4C reader is shared with `epicity ds4c` rather than written twice.
from epicity.ds4c.convert import (
    GENERIC_ROUTES,
    PATIENT_INFO,
    Ds4cError,
    Ds4cReport,
    _Case,
    _Findings,
    _read_cases,
)

__all__ = ["EVIDENCE", "SOURCE", "Ds4cImport", "cluster_kind", "import_ds4c", "is_cluster"]

SOURCE = "ds4c"
EVIDENCE = "DS4C infected_by"
STATE_STATUS = {"isolated": "isolated", "released": "recovered", "deceased": "deceased"}
# (kind, words in the cluster's name), first match wins: "Community Church" is religious.
KIND_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("religious", ("church", "shincheonji", "temple")),
    ("healthcare", ("hospital", "nursing home", "medical", "silver town", "clinic")),
    ("travel", ("pilgrimage", "trip", "tour")),
    ("venue", ("club", "karaoke", "gym", "pub", "bar ")),
    ("workplace", ("call center", "logistics", "insurance", "ministry", "company", "office")),
    ("community", ("community", "shelter", "apt", "kindergarten", "institute", "school")),
)
# Findings of the reader that mean a row was not a case, or an infected_by was dropped.
_ROW_SKIPS = {
    "bad_patient_id": "patient_id not an integer",
    "duplicate_patient": "patient_id repeated",
    "no_confirmed_date": "no usable confirmed date",
}
_LINK_SKIPS = {
    "self_infection": "infected_by is the patient itself",
    "bad_infected_by": "infected_by not a patient id",
}


def is_cluster(infection_case: str) -> bool:
    """Whether a DS4C ``infection_case`` names a cluster (not a generic route)."""
    name = infection_case.strip()
    return bool(name) and name not in GENERIC_ROUTES


def cluster_kind(name: str) -> str:
    """The cluster kind guessed from its name (see `KIND_WORDS`); 'other' when none fits."""
    lowered = f"{name.lower()} "
    for kind, words in KIND_WORDS:
        if any(w in lowered for w in words):
            return kind
    return "other"


@dataclass
class Ds4cImport:
    """What `import_ds4c` read, added and skipped."""

    path: Path
    rows: int = 0  # PatientInfo rows read
    cases_read: int = 0  # rows that are cases
    new_cases: int = 0
    existing_cases: int = 0
    skipped_rows: Counter[str] = field(default_factory=Counter)  # reason -> rows
    dates_dropped: Counter[str] = field(default_factory=Counter)  # field -> cases
    links_read: int = 0  # cases with an infected_by that is another patient id
    new_links: int = 0
    existing_links: int = 0
    skipped_links: Counter[str] = field(default_factory=Counter)  # reason -> links
    new_clusters: int = 0
    existing_clusters: int = 0
    new_memberships: int = 0
    existing_memberships: int = 0
    cluster_sizes: dict[str, int] = field(default_factory=dict)  # name -> DS4C members

    @property
    def changed(self) -> bool:
        """Whether the import added anything."""
        return bool(self.new_cases or self.new_links or self.new_clusters or self.new_memberships)


def _statuses(status: str, c: _Case) -> list[tuple[str | None, str, dt.date | None]]:
    """The history rows (from, to, effective date) of an imported case."""
    steps: list[tuple[str | None, str, dt.date | None]] = [(None, "confirmed", c.confirmed)]
    if status in ("isolated", "recovered"):
        steps.append(("confirmed", "isolated", None))
    if status == "recovered":
        steps.append(("isolated", "recovered", c.released))
    if status == "deceased":
        steps.append(("confirmed", "deceased", c.deceased))
    return steps


def _case_row(c: _Case, report: Ds4cImport, actor: str, now: dt.datetime) -> dict[str, Any]:
    status = STATE_STATUS.get(c.state or "", "confirmed")
    dates: dict[str, dt.date | None] = dict.fromkeys(DATE_FIELDS)
    dates.update(
        symptom_onset=c.onset,
        confirmed_date=c.confirmed,
        released_date=c.released,
        deceased_date=c.deceased,
    )
    # Drop the dates the rules call wrong until none is left; confirmed_date is never dropped
    # (a row without one is not a case and never gets here).
    while problems := [p for p in date_problems(status, dates) if p[0] != "confirmed_date"]:
        name = problems[0][0]
        dates[name] = None
        report.dates_dropped[name] += 1
    return {
        "source": SOURCE,
        "external_ref": str(c.pid),
        "person_id": None,
        "status": status,
        "sex": c.sex,
        "age_group": c.age_group or None,
        "province": c.province or None,
        "district": c.district or None,
        **dates,
        "created_by": actor,
        "created_at": now,
        "updated_at": now,
    }


def _closes_cycle(down: Mapping[int, set[int]], infector: int, infectee: int) -> bool:
    """Whether infectee already leads to infector (so infector -> infectee closes a cycle)."""
    stack, seen = [infectee], {infectee}
    while stack:
        node = stack.pop()
        if node == infector:
            return True
        for nxt in down.get(node, ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return False


def _most_common(values: list[str]) -> str | None:
    known = Counter(v for v in values if v)
    return min(known.items(), key=lambda kv: (-kv[1], kv[0]))[0] if known else None


def import_ds4c(session: Session, path: Path, *, actor: str) -> Ds4cImport:
    """Import ``PatientInfo.csv`` at `path` (a file or the DS4C directory) into `session`.

    Adds and flushes, never commits: run it in one transaction (`epicity.db.session_scope`)
    so that a failure leaves nothing behind. Raises `epicity.ds4c.convert.Ds4cError` when
    the file or a column it needs is missing. See the module docstring for the mapping.
    """
    path = Path(path)
    if path.is_dir():
        path = path / PATIENT_INFO
    if not path.is_file():
        raise Ds4cError(
            f"no such file (give {PATIENT_INFO} or the directory holding it)", file=str(path)
        )
    report = Ds4cImport(path=path)
    found = _Findings()
    parsed = Ds4cReport(source_dir=path.parent, out_dir=path.parent)
    cases, _ = _read_cases(path, found, parsed)
    report.rows = parsed.patient_rows
    report.cases_read = len(cases)
    for f in found.collected():
        if f.kind in _ROW_SKIPS:
            report.skipped_rows[_ROW_SKIPS[f.kind]] += f.count
        elif f.kind in _LINK_SKIPS:
            report.skipped_links[_LINK_SKIPS[f.kind]] += f.count
    now = utcnow()

    # cases
    def ids() -> dict[str, int]:
        rows = session.execute(
            select(Case.external_ref, Case.id).where(Case.source == SOURCE)
        ).all()
        return {ref: case_id for ref, case_id in rows if ref is not None}

    known = ids()
    new = [c for c in cases if str(c.pid) not in known]
    report.existing_cases = len(cases) - len(new)
    report.new_cases = len(new)
    if new:
        rows = [_case_row(c, report, actor, now) for c in new]
        session.execute(insert(Case), rows)
        known = ids()
        history = [
            {
                "case_id": known[str(c.pid)],
                "from_status": before,
                "to_status": after,
                "effective_date": day,
                "changed_by": actor,
                "changed_at": now,
                "reason": f"DS4C import (state {c.state or 'not given'!r})",
            }
            for c, row in zip(new, rows, strict=True)
            for before, after, day in _statuses(row["status"], c)
        ]
        session.execute(insert(CaseStatusChange), history)
    case_of = {c.pid: known[str(c.pid)] for c in cases}

    # links: the whole graph is loaded once so cycles are found without a query per link
    down: defaultdict[int, set[int]] = defaultdict(set)
    for a, b in session.execute(select(TransmissionLink.infector_id, TransmissionLink.infectee_id)):
        down[a].add(b)
    links: list[dict[str, Any]] = []
    for c in cases:
        if c.infected_by is None:
            continue
        report.links_read += 1
        infector = case_of.get(c.infected_by)
        if infector is None:
            report.skipped_links["infector not an imported case"] += 1
            continue
        infectee = case_of[c.pid]
        if infectee in down[infector]:
            report.existing_links += 1
            continue
        if _closes_cycle(down, infector, infectee):
            report.skipped_links["would close a cycle"] += 1
            continue
        down[infector].add(infectee)
        links.append(
            {
                "infector_id": infector,
                "infectee_id": infectee,
                "evidence": EVIDENCE,
                "source": SOURCE,
                "created_by": actor,
                "created_at": now,
            }
        )
    if links:
        session.execute(insert(TransmissionLink), links)
    report.new_links = len(links)

    # clusters
    members: defaultdict[str, list[_Case]] = defaultdict(list)
    for c in cases:
        if is_cluster(c.cluster):
            members[c.cluster].append(c)
    report.cluster_sizes = {name: len(ms) for name, ms in members.items()}
    existing = dict(
        session.execute(
            select(Cluster.name, Cluster.id).where(Cluster.name.in_(list(members)))
        ).all()
    )
    report.existing_clusters = len(existing)
    fresh = [
        {
            "name": name,
            "kind": cluster_kind(name),
            "province": _most_common([c.province for c in ms]),
            "district": _most_common([c.district for c in ms]),
            "first_date": None,
            "last_date": None,
            "source": SOURCE,
            "created_by": actor,
            "created_at": now,
        }
        for name, ms in sorted(members.items())
        if name not in existing
    ]
    if fresh:
        session.execute(insert(Cluster), fresh)
        existing = dict(
            session.execute(
                select(Cluster.name, Cluster.id).where(Cluster.name.in_(list(members)))
            ).all()
        )
    report.new_clusters = len(fresh)
    present = set(
        session.execute(
            select(ClusterMember.cluster_id, ClusterMember.case_id).where(
                ClusterMember.cluster_id.in_(list(existing.values()))
            )
        ).all()
    )
    memberships: list[dict[str, Any]] = []
    widened: set[int] = set()
    for name, ms in members.items():
        cluster_id = existing[name]
        for c in ms:
            if (cluster_id, case_of[c.pid]) in present:
                report.existing_memberships += 1
                continue
            widened.add(cluster_id)
            memberships.append(
                {
                    "cluster_id": cluster_id,
                    "case_id": case_of[c.pid],
                    "added_by": actor,
                    "added_at": now,
                }
            )
    if memberships:
        session.execute(insert(ClusterMember), memberships)
    report.new_memberships = len(memberships)
    # Only clusters that gained members are touched, so a second import changes nothing.
    for cluster in session.scalars(select(Cluster).where(Cluster.id.in_(sorted(widened)))):
        days = session.scalars(
            select(Case.confirmed_date)
            .join(ClusterMember, ClusterMember.case_id == Case.id)
            .where(ClusterMember.cluster_id == cluster.id, Case.confirmed_date.is_not(None))
        ).all()
        if days:
            cluster.first_date = min(d for d in days if d is not None)
            cluster.last_date = max(d for d in days if d is not None)
    session.flush()
    return report
