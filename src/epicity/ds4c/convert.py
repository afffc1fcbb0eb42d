"""Convert the Korean DS4C data set into epicity's documented tables.

DS4C ("Data Science for COVID-19", Kaggle `kimjihoo/coronavirusdataset`) publishes the Korean
case registry (`PatientInfo.csv`), the publicly disclosed movements of cases (`PatientRoute.csv`),
cumulative counts by province (`TimeProvince.csv`) and the list of clusters (`Case.csv`).
`convert_ds4c` turns the first three into `cases.csv`, `routes.csv` and `daily_counts.csv` with
exactly the columns of `epicity.records.schema` and summarises what it found in a `Ds4cReport`.

Errors and findings
-------------------
Structural problems are hard errors (`Ds4cError`, naming the file and column or row): a required
file is missing, unreadable or empty, or lacks a column the conversion reads. Only the columns
that are read are required, so extra or dropped unused columns (`global_num`, `birth_year`, ...)
do not matter.

Problems in individual rows are what real data looks like, so they are never fatal. Each is
counted as a `Finding` with a few examples (record, field, value) and handled as follows:

* ``cases``: a row without a usable confirmed date cannot be a case and is skipped; so is a row
  whose patient id is not an integer or repeats an earlier one. Unparseable optional dates become
  empty. Dates out of order (onset after confirmation, release or death before confirmation) are
  kept as published and only reported. ``infected_by`` is kept only when it is an integer id other
  than the patient's own; ids not in the file are kept (the link is real, the infector is just not
  in this extract) and reported. A ``contact_number`` that is not a non-negative integer, or is
  implausibly large (above `MAX_CONTACTS`; DS4C has patient ids in that column), becomes empty.
  An age such as ``30`` is normalised to the band ``30s``. Unknown ``sex``/``state`` values
  become empty; ``state`` 'isolated' together with a release or death date is kept and reported.
  Values with stray spaces are stripped (a date that is only a space is empty) and reported.
* Transmission summary: a link is an ``infected_by`` written to ``cases``; it resolves when the
  infector is a case in the output. Links whose infector was confirmed later are reported.
  Trees follow resolved links from a root (a case with no resolved infector); when links form a
  cycle (two cases naming each other) one link is cut for the summary only, ``cases`` keeps both.
  ``infected_by`` values such as ``#11243`` (apparently a ``global_num``, which is not unique) are
  not resolved.
* ``routes``: a row with an unparseable date or coordinates is skipped. Rows repeating the
  documented key (person, date, type, lat, lon) are the same record for the store, so only the
  first is written. Points outside Korea or of patients missing from `PatientInfo.csv` are kept
  and reported.
* ``daily_counts``: one row per TimeProvince row (region = province). A row with an unparseable
  date or confirmed count, or a repeated (date, province), is skipped. Cumulative counts that
  decrease from one day to the next (official corrections) are kept and reported.

The module only reads and writes files; loading into a store is `epicity.ds4c.cli`'s job.
"""

from __future__ import annotations

import csv
import re
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from epicity.records.schema import CASES, DAILY_COUNTS, ROUTES

__all__ = [
    "CASE_COLUMNS",
    "CLUSTER_FILE",
    "INFO_COLUMNS",
    "KOREA_LAT",
    "KOREA_LON",
    "MAX_CONTACTS",
    "PATIENT_INFO",
    "PATIENT_ROUTE",
    "REQUIRED_FILES",
    "ROUTE_COLUMNS",
    "TIME_COLUMNS",
    "TIME_PROVINCE",
    "ClusterCount",
    "Ds4cError",
    "Ds4cReport",
    "Example",
    "Finding",
    "LatestCounts",
    "TransmissionTree",
    "convert_ds4c",
]

PATIENT_INFO = "PatientInfo.csv"
PATIENT_ROUTE = "PatientRoute.csv"
TIME_PROVINCE = "TimeProvince.csv"
CLUSTER_FILE = "Case.csv"
REQUIRED_FILES = (PATIENT_INFO, PATIENT_ROUTE, TIME_PROVINCE)

INFO_COLUMNS = (
    "patient_id",
    "sex",
    "age",
    "province",
    "city",
    "infection_case",
    "infected_by",
    "contact_number",
    "symptom_onset_date",
    "confirmed_date",
    "released_date",
    "deceased_date",
    "state",
)
ROUTE_COLUMNS = ("patient_id", "date", "province", "city", "type", "latitude", "longitude")
TIME_COLUMNS = ("date", "province", "confirmed", "released", "deceased")
CASE_COLUMNS = ("province", "infection_case", "group", "confirmed", "latitude", "longitude")

KOREA_LAT = (33.0, 39.0)
KOREA_LON = (124.0, 132.0)
MAX_CONTACTS = 100_000
SEOUL = "Seoul"
# Infection routes in PatientInfo that are not named clusters (used when Case.csv is absent).
GENERIC_ROUTES = frozenset({"contact with patient", "overseas inflow", "etc"})

MAX_EXAMPLES = 5
TOP = 10
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_AGE_DECADE = re.compile(r"^(\d{1,2}0)$")


class Ds4cError(Exception):
    """The DS4C source cannot be converted: a file or column is missing or unreadable."""

    def __init__(
        self, message: str, *, file: str, column: str | None = None, row: int | None = None
    ) -> None:
        where = file
        if row is not None:
            where += f", row {row}"
        if column is not None:
            where += f", column {column!r}"
        super().__init__(f"{where}: {message}")
        self.file = file
        self.column = column
        self.row = row


@dataclass(frozen=True)
class Example:
    """One offending value: the record (patient id or date/province), field and raw value."""

    record: str
    field: str
    value: str


@dataclass
class Finding:
    """A kind of row-level data problem, how often it occurs and what was done about it."""

    kind: str
    file: str
    description: str
    count: int = 0
    examples: list[Example] = field(default_factory=list)


@dataclass(frozen=True)
class TransmissionTree:
    """A tree of resolved `infected_by` links: its root case, size and number of generations."""

    root: int
    size: int  # cases in the tree, root included
    generations: int  # longest root-to-leaf path in links (root alone = 0)
    cluster: str  # the root's infection_case, "" when unknown


@dataclass(frozen=True)
class ClusterCount:
    """Cases per named cluster (`infection_case`), with Case.csv coordinates when known."""

    name: str
    cases: int
    lat: float | None = None
    lon: float | None = None


@dataclass(frozen=True)
class LatestCounts:
    """Cumulative counts of one region on one day."""

    region: str
    date: date
    confirmed: int
    released: int | None
    deceased: int | None


@dataclass
class Ds4cReport:
    """What `convert_ds4c` read, wrote and found."""

    source_dir: Path
    out_dir: Path
    written: dict[str, Path] = field(default_factory=dict)
    # cases
    patient_rows: int = 0
    cases: int = 0
    skipped_cases: int = 0
    cases_by_province: list[tuple[str, int]] = field(default_factory=list)  # top 10
    seoul_cases: int = 0
    seoul_districts: list[tuple[str, int]] = field(default_factory=list)  # all, descending
    confirmed_range: tuple[date, date] | None = None
    cases_by_state: list[tuple[str, int]] = field(default_factory=list)
    # transmission
    links: int = 0  # cases with a usable infected_by
    links_resolved: int = 0  # ... whose infector is a case in the file
    largest_trees: list[TransmissionTree] = field(default_factory=list)
    clusters: list[ClusterCount] = field(default_factory=list)  # top 10 named clusters
    infection_routes: list[tuple[str, int]] = field(default_factory=list)  # generic routes
    clusters_file: bool = False  # whether Case.csv was read
    # routes
    route_rows: int = 0
    route_points: int = 0
    route_patients: int = 0
    routes_by_type: list[tuple[str, int]] = field(default_factory=list)  # top 10
    route_range: tuple[date, date] | None = None
    # daily counts
    time_rows: int = 0
    daily_counts: int = 0
    regions: int = 0
    daily_range: tuple[date, date] | None = None
    latest_seoul: LatestCounts | None = None
    latest_korea: LatestCounts | None = None  # sum over provinces on the latest day
    findings: list[Finding] = field(default_factory=list)

    def finding(self, kind: str) -> Finding | None:
        """The finding of a kind, or None when that problem did not occur."""
        for f in self.findings:
            if f.kind == kind:
                return f
        return None

    @property
    def problem_count(self) -> int:
        """Total number of row-level problems found."""
        return sum(f.count for f in self.findings)


class _Findings:
    """Collects findings in a fixed order of first occurrence."""

    def __init__(self) -> None:
        self._by_kind: dict[str, Finding] = {}

    def add(self, kind: str, file: str, description: str, ex: Example) -> None:
        f = self._by_kind.get(kind)
        if f is None:
            f = self._by_kind[kind] = Finding(kind, file, description)
        f.count += 1
        if len(f.examples) < MAX_EXAMPLES:
            f.examples.append(ex)

    def collected(self) -> list[Finding]:
        """Findings by file (in reading order), most frequent first."""
        order = {name: i for i, name in enumerate((PATIENT_INFO, PATIENT_ROUTE, TIME_PROVINCE))}
        return sorted(
            self._by_kind.values(), key=lambda f: (order.get(f.file, len(order)), -f.count)
        )


# --------------------------------------------------------------------------------------------
# reading


def _rows(path: Path, columns: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (1-based data row number, row) after checking the header has `columns`."""
    name = path.name
    try:
        fh = path.open(encoding="utf-8-sig", newline="")
    except OSError as e:
        raise Ds4cError(f"cannot read the file ({e.strerror})", file=name) from e
    with fh:
        reader = csv.DictReader(fh)
        try:
            header = reader.fieldnames
        except (UnicodeDecodeError, csv.Error) as e:
            raise Ds4cError(f"cannot parse the header ({e})", file=name, row=0) from e
        if not header:
            raise Ds4cError("the file is empty (no header)", file=name)
        present = {h.strip() for h in header}
        for col in columns:
            if col not in present:
                raise Ds4cError(
                    f"required column is missing (header: {','.join(header)})",
                    file=name,
                    column=col,
                )
        reader.fieldnames = [h.strip() for h in header]
        n = 0
        try:
            for n, row in enumerate(reader, start=1):
                yield n, {k: (v or "") for k, v in row.items() if isinstance(k, str)}
        except (UnicodeDecodeError, csv.Error) as e:
            raise Ds4cError(f"cannot parse the row ({e})", file=name, row=n + 1) from e


def _require(source_dir: Path) -> None:
    if not source_dir.is_dir():
        raise Ds4cError(f"source directory {source_dir} does not exist", file=str(source_dir))
    for name in REQUIRED_FILES:
        if not (source_dir / name).is_file():
            raise Ds4cError(f"required file is missing from {source_dir}", file=name)


def _int(raw: str) -> int | None:
    s = raw.strip()
    return int(s) if s.isdigit() and s.isascii() else None


def _float(raw: str) -> float | None:
    try:
        v = float(raw.strip())
    except ValueError:
        return None
    return v if v == v and abs(v) != float("inf") else None


def _date(raw: str) -> date | None:
    s = raw.strip()
    if not _ISO_DATE.match(s):
        return None
    try:
        return date.fromisoformat(s)
    except ValueError:
        return None


def _text(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, float):
        return repr(v)
    return str(v)


def _write(path: Path, columns: tuple[str, ...], rows: Sequence[tuple[object, ...]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(columns)
        for r in rows:
            w.writerow([_text(v) for v in r])


# --------------------------------------------------------------------------------------------
# cases


@dataclass
class _Case:
    pid: int
    onset: date | None
    confirmed: date
    released: date | None
    deceased: date | None
    state: str | None
    infected_by: int | None
    cluster: str
    district: str
    province: str
    sex: str | None
    age_group: str
    contacts: int | None

    def row(self) -> tuple[object, ...]:
        return (
            self.pid,
            self.onset,
            None,  # test_date: not in DS4C
            self.confirmed,
            self.released,
            self.deceased,
            self.state,
            self.infected_by,
            self.cluster,
            self.district,
            self.province,
            self.sex,
            self.age_group,
            self.contacts,
        )


_STATES = frozenset(CASES.column("state").choices or ())
_SEXES = frozenset(CASES.column("sex").choices or ())


def _read_cases(path: Path, found: _Findings, report: Ds4cReport) -> tuple[list[_Case], set[int]]:
    """Read PatientInfo; return the cases and every integer patient id in the file."""
    f = PATIENT_INFO
    cases: list[_Case] = []
    all_ids: set[int] = set()
    for n, r in _rows(path, INFO_COLUMNS):
        report.patient_rows += 1
        raw_id = r["patient_id"]
        pid = _int(raw_id)
        rec = raw_id.strip() or f"row {n}"

        def note(kind: str, desc: str, fld: str, value: str, rec: str = rec) -> None:
            found.add(kind, f, desc, Example(rec, fld, value))

        if pid is None:
            note(
                "bad_patient_id", "patient_id is not an integer: row skipped", "patient_id", raw_id
            )
            continue
        if pid in all_ids:
            note(
                "duplicate_patient",
                "patient_id repeats an earlier row: row skipped",
                "patient_id",
                raw_id,
            )
            continue
        all_ids.add(pid)
        for col, v in r.items():
            if v != v.strip() and col in INFO_COLUMNS:
                note("stray_whitespace", "value with leading/trailing spaces: stripped", col, v)

        confirmed = _date(r["confirmed_date"])
        if confirmed is None:
            note(
                "no_confirmed_date",
                "confirmed date empty or unparseable: not a case, skipped",
                "confirmed_date",
                r["confirmed_date"],
            )
            report.skipped_cases += 1
            continue
        dates: dict[str, date | None] = {}
        for col in ("symptom_onset_date", "released_date", "deceased_date"):
            v = r[col]
            d = _date(v)
            if d is None and v.strip():
                note("bad_date", "unparseable date: left empty", col, v)
            dates[col] = d
        onset, released, deceased = (
            dates["symptom_onset_date"],
            dates["released_date"],
            dates["deceased_date"],
        )
        if onset is not None and onset > confirmed:
            note(
                "onset_after_confirmed",
                "symptom onset after confirmation: kept",
                "symptom_onset_date",
                f"{onset} > {confirmed}",
            )
        if released is not None and released < confirmed:
            note(
                "released_before_confirmed",
                "released before confirmation: kept",
                "released_date",
                f"{released} < {confirmed}",
            )
        if deceased is not None and deceased < confirmed:
            note(
                "deceased_before_confirmed",
                "deceased before confirmation: kept",
                "deceased_date",
                f"{deceased} < {confirmed}",
            )

        state: str | None = r["state"].strip() or None
        if state is not None and state not in _STATES:
            note("bad_state", "unknown state: left empty", "state", r["state"])
            state = None
        if state == "isolated" and (released is not None or deceased is not None):
            dated = ", ".join(
                f"{k} {v}" for k, v in (("released", released), ("deceased", deceased)) if v
            )
            note(
                "state_conflict",
                "state 'isolated' but a released/deceased date: kept",
                "state",
                f"isolated, {dated}",
            )

        sex: str | None = r["sex"].strip() or None
        if sex is not None and sex not in _SEXES:
            note("bad_sex", "unknown sex: left empty", "sex", r["sex"])
            sex = None

        age = r["age"].strip()
        if _AGE_DECADE.match(age):
            note("age_not_band", "age without the 's' of a band: normalised", "age", r["age"])
            age = f"{age}s"

        raw_cn = r["contact_number"]
        contacts = _int(raw_cn)
        if raw_cn.strip() and contacts is None:
            note(
                "bad_contact_number",
                "contact_number is not a count: left empty",
                "contact_number",
                raw_cn,
            )
        elif contacts is not None and contacts > MAX_CONTACTS:
            note(
                "implausible_contact_number",
                f"contact_number above {MAX_CONTACTS:,} (looks like a patient id): left empty",
                "contact_number",
                raw_cn,
            )
            contacts = None

        raw_by = r["infected_by"]
        infected_by = _int(raw_by)
        if raw_by.strip() and infected_by is None:
            note(
                "bad_infected_by",
                "infected_by is not an integer patient id: left empty",
                "infected_by",
                raw_by,
            )
        elif infected_by == pid:
            note(
                "self_infection",
                "infected_by is the patient itself: left empty",
                "infected_by",
                raw_by,
            )
            infected_by = None

        cases.append(
            _Case(
                pid=pid,
                onset=onset,
                confirmed=confirmed,
                released=released,
                deceased=deceased,
                state=state,
                infected_by=infected_by,
                cluster=r["infection_case"].strip(),
                district=r["city"].strip(),
                province=r["province"].strip(),
                sex=sex,
                age_group=age,
                contacts=contacts,
            )
        )
    return cases, all_ids


def _transmission(
    cases: list[_Case], all_ids: set[int], found: _Findings, report: Ds4cReport
) -> None:
    by_id = {c.pid: c for c in cases}
    parent: dict[int, int] = {}
    for c in cases:
        if c.infected_by is None:
            continue
        report.links += 1
        p = by_id.get(c.infected_by)
        if p is None:
            why = (
                "infector has no confirmed date (skipped)"
                if c.infected_by in all_ids
                else "infector not in PatientInfo"
            )
            found.add(
                "unknown_infector",
                PATIENT_INFO,
                "infected_by names no case in the file: link kept",
                Example(str(c.pid), "infected_by", f"{c.infected_by} ({why})"),
            )
            continue
        report.links_resolved += 1
        parent[c.pid] = p.pid
        if p.confirmed > c.confirmed:
            found.add(
                "infector_confirmed_later",
                PATIENT_INFO,
                "infector confirmed after the case it infected: kept",
                Example(
                    str(c.pid), "infected_by", f"{p.pid} confirmed {p.confirmed} > {c.confirmed}"
                ),
            )

    # Every node has at most one parent, so following parents ends at a root or in a cycle.
    root_of: dict[int, int] = {}
    depth: dict[int, int] = {}
    for start in list(parent):
        while True:
            path: list[int] = []
            seen: set[int] = set()
            node = start
            while node in parent and node not in root_of and node not in seen:
                seen.add(node)
                path.append(node)
                node = parent[node]
            if node not in seen:
                break
            # A cycle: cut the link out of this node, which becomes a root, and walk again.
            found.add(
                "transmission_cycle",
                PATIENT_INFO,
                "infected_by links form a cycle (cases naming each other): one link cut",
                Example(str(node), "infected_by", str(parent[node])),
            )
            del parent[node]
        if node not in root_of:
            root_of[node], depth[node] = node, 0
        for child in reversed(path):
            root_of[child] = root_of[node]
            depth[child] = depth[node] + 1
            node = child
    sizes: Counter[int] = Counter(root_of.values())
    generations: dict[int, int] = defaultdict(int)
    for node, root in root_of.items():
        generations[root] = max(generations[root], depth[node])
    ranked = sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    report.largest_trees = [
        TransmissionTree(root, size, generations[root], by_id[root].cluster)
        for root, size in ranked
    ]


def _read_clusters(path: Path) -> dict[str, tuple[bool, float | None, float | None]]:
    """Case.csv: infection_case -> (is a group, lat, lon) of its largest row with coordinates."""
    best: dict[str, tuple[int, bool, float | None, float | None]] = {}
    for _, r in _rows(path, CASE_COLUMNS):
        name = r["infection_case"].strip()
        group = r["group"].strip().upper() == "TRUE"
        lat, lon = _float(r["latitude"]), _float(r["longitude"])
        n = _int(r["confirmed"]) or 0
        has = lat is not None and lon is not None
        prev = best.get(name)
        prev_has = prev is not None and prev[2] is not None
        if prev is None or (has and (not prev_has or n > prev[0])):
            best[name] = (
                n,
                group or (prev is not None and prev[1]),
                lat if has else None,
                lon if has else None,
            )
        elif group and not prev[1]:
            best[name] = (prev[0], True, prev[2], prev[3])
    return {k: (g, la, lo) for k, (_, g, la, lo) in best.items()}


def _summarise_cases(cases: list[_Case], report: Ds4cReport, source: Path) -> None:
    report.cases = len(cases)
    provinces = Counter(c.province or "(unknown)" for c in cases)
    report.cases_by_province = provinces.most_common(TOP)
    seoul = [c for c in cases if c.province == SEOUL]
    report.seoul_cases = len(seoul)
    report.seoul_districts = sorted(
        Counter(c.district or "(unknown)" for c in seoul).items(), key=lambda kv: (-kv[1], kv[0])
    )
    if cases:
        report.confirmed_range = (min(c.confirmed for c in cases), max(c.confirmed for c in cases))
    report.cases_by_state = Counter(c.state or "(unknown)" for c in cases).most_common()

    clusters_path = source / CLUSTER_FILE
    known: dict[str, tuple[bool, float | None, float | None]] = {}
    if clusters_path.is_file():
        known = _read_clusters(clusters_path)
        report.clusters_file = True
    counts = Counter(c.cluster or "(unknown)" for c in cases)
    named: list[ClusterCount] = []
    generic: list[tuple[str, int]] = []
    for name, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        info = known.get(name)
        is_group = info[0] if info is not None else name not in GENERIC_ROUTES
        if name == "(unknown)" or not is_group:
            generic.append((name, n))
        else:
            named.append(
                ClusterCount(name, n, info[1] if info else None, info[2] if info else None)
            )
    report.clusters = named[:TOP]
    report.infection_routes = generic


# --------------------------------------------------------------------------------------------
# routes and daily counts

# person_id, date, type, lat, lon, province, district
_RouteRow = tuple[int, date, str, float, float, str | None, str | None]
# date, region, confirmed, released, deceased, tested
_CountRow = tuple[date, str, int, int | None, int | None, None]


def _convert_routes(
    path: Path, all_ids: set[int], found: _Findings, report: Ds4cReport
) -> list[_RouteRow]:
    f = PATIENT_ROUTE
    out: list[_RouteRow] = []
    keys: set[tuple[int, date, str, float, float]] = set()
    types: Counter[str] = Counter()
    for n, r in _rows(path, ROUTE_COLUMNS):
        report.route_rows += 1
        rec = r["patient_id"].strip() or f"row {n}"

        def note(kind: str, desc: str, fld: str, value: str, rec: str = rec) -> None:
            found.add(kind, f, desc, Example(rec, fld, value))

        pid = _int(r["patient_id"])
        if pid is None:
            note(
                "route_bad_patient_id",
                "patient_id is not an integer: row skipped",
                "patient_id",
                r["patient_id"],
            )
            continue
        d = _date(r["date"])
        if d is None:
            note("route_bad_date", "unparseable date: row skipped", "date", r["date"])
            continue
        lat, lon = _float(r["latitude"]), _float(r["longitude"])
        if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
            note(
                "route_bad_coordinates",
                "unparseable or impossible coordinates: row skipped",
                "latitude,longitude",
                f"{r['latitude']},{r['longitude']}",
            )
            continue
        kind = r["type"].strip()
        if not kind:
            note("route_no_type", "empty place type: row skipped", "type", r["type"])
            continue
        key = (pid, d, kind, lat, lon)
        if key in keys:
            note(
                "duplicate_route",
                "same patient, date, type and place as an earlier row: one point written",
                "date,type",
                f"{d},{kind}",
            )
            continue
        keys.add(key)
        if pid not in all_ids:
            note(
                "route_unknown_patient",
                "route of a patient not in PatientInfo: kept",
                "patient_id",
                r["patient_id"],
            )
        if not (KOREA_LAT[0] <= lat <= KOREA_LAT[1] and KOREA_LON[0] <= lon <= KOREA_LON[1]):
            note(
                "route_outside_korea",
                "coordinates outside Korea: kept",
                "latitude,longitude",
                f"{lat},{lon}",
            )
        types[kind] += 1
        out.append(
            (pid, d, kind, lat, lon, r["province"].strip() or None, r["city"].strip() or None)
        )
    report.route_points = len(out)
    report.route_patients = len({row[0] for row in out})
    report.routes_by_type = types.most_common(TOP)
    if out:
        ds = [row[1] for row in out]
        report.route_range = (min(ds), max(ds))
    return out


def _convert_time(path: Path, found: _Findings, report: Ds4cReport) -> list[_CountRow]:
    f = TIME_PROVINCE
    out: list[_CountRow] = []
    seen: set[tuple[date, str]] = set()
    for n, r in _rows(path, TIME_COLUMNS):
        report.time_rows += 1
        rec = f"{r['date'].strip()} {r['province'].strip()}".strip() or f"row {n}"

        def note(kind: str, desc: str, fld: str, value: str, rec: str = rec) -> None:
            found.add(kind, f, desc, Example(rec, fld, value))

        d = _date(r["date"])
        region = r["province"].strip()
        if d is None:
            note("count_bad_date", "unparseable date: row skipped", "date", r["date"])
            continue
        if not region:
            note("count_no_region", "empty province: row skipped", "province", r["province"])
            continue
        confirmed = _int(r["confirmed"])
        if confirmed is None:
            note(
                "count_bad_value",
                "confirmed is not a non-negative integer: row skipped",
                "confirmed",
                r["confirmed"],
            )
            continue
        values: list[int | None] = []
        for col in ("released", "deceased"):
            v = _int(r[col])
            if v is None and r[col].strip():
                note(
                    "count_bad_value",
                    f"{col} is not a non-negative integer: left empty",
                    col,
                    r[col],
                )
            values.append(v)
        if (d, region) in seen:
            note("count_duplicate", "repeated date and province: row skipped", "date", str(d))
            continue
        seen.add((d, region))
        out.append((d, region, confirmed, values[0], values[1], None))

    last: dict[tuple[str, str], int] = {}
    for row in sorted(out, key=lambda x: (x[1], x[0])):
        d, region = row[0], row[1]
        for col, value in (("confirmed", row[2]), ("released", row[3]), ("deceased", row[4])):
            if value is None:
                continue
            prev = last.get((region, col))
            if prev is not None and value < prev:
                found.add(
                    "count_decrease",
                    f,
                    "cumulative count lower than the day before: kept",
                    Example(f"{d} {region}", col, f"{prev} -> {value}"),
                )
            last[(region, col)] = value

    report.daily_counts = len(out)
    regions = {row[1] for row in out}
    report.regions = len(regions)
    if out:
        first = min(row[0] for row in out)
        latest = max(row[0] for row in out)
        report.daily_range = (first, latest)
        today = [row for row in out if row[0] == latest]
        for row in today:
            if row[1] == SEOUL:
                report.latest_seoul = LatestCounts(SEOUL, latest, row[2], row[3], row[4])

        def total(vals: list[int | None]) -> int | None:
            known = [v for v in vals if v is not None]
            return sum(known) if len(known) == len(vals) else None

        report.latest_korea = LatestCounts(
            f"Korea (sum of {len(today)} provinces)",
            latest,
            sum(row[2] for row in today),
            total([row[3] for row in today]),
            total([row[4] for row in today]),
        )
    return out


# --------------------------------------------------------------------------------------------


def convert_ds4c(source_dir: Path, out_dir: Path) -> Ds4cReport:
    """Convert DS4C CSVs in `source_dir` into `cases.csv`, `routes.csv`, `daily_counts.csv`.

    `out_dir` is created if needed; the three files are overwritten. Raises `Ds4cError` when a
    required file (PatientInfo, PatientRoute, TimeProvince) or a column it reads is missing;
    Case.csv is optional and only adds cluster coordinates to the summary. Row-level problems
    are recorded in `Ds4cReport.findings` (see the module docstring for how each is handled).
    """
    source_dir = Path(source_dir)
    out_dir = Path(out_dir)
    _require(source_dir)
    report = Ds4cReport(source_dir=source_dir, out_dir=out_dir)
    found = _Findings()

    cases, all_ids = _read_cases(source_dir / PATIENT_INFO, found, report)
    _transmission(cases, all_ids, found, report)
    routes = _convert_routes(source_dir / PATIENT_ROUTE, all_ids, found, report)
    counts = _convert_time(source_dir / TIME_PROVINCE, found, report)
    _summarise_cases(cases, report, source_dir)
    report.findings = found.collected()

    out_dir.mkdir(parents=True, exist_ok=True)
    for table, rows in (
        (CASES, [c.row() for c in cases]),
        (ROUTES, routes),
        (DAILY_COUNTS, counts),
    ):
        path = out_dir / f"{table.name}.csv"
        _write(path, table.column_names, rows)
        report.written[table.name] = path
    return report
