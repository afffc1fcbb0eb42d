"""`import_ds4c` and `epicity import ds4c` on invented rows and, when present, the real file.

The real DS4C files (CC BY-NC-SA 4.0) are read in place from ../shared/data/real/ds4c and
never copied; the expected counts are computed here from the CSV with the csv module alone.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from epicity.cases.cli import import_app
from epicity.cases.ds4c import cluster_kind, import_ds4c, is_cluster
from epicity.cases.models import (
    Case,
    CaseStatusChange,
    Cluster,
    ClusterMember,
    TransmissionLink,
)
from epicity.cases.service import chain, status_history
from epicity.db import session_scope
from epicity.ds4c.convert import Ds4cError

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real" / "ds4c"
HEADER = (
    "patient_id,global_num,sex,birth_year,age,country,province,city,disease,infection_case,"
    "infection_order,infected_by,contact_number,symptom_onset_date,confirmed_date,released_date,"
    "deceased_date,state"
)
# Invented patients (no row of the real data).
ROWS = (
    "1,,female,,30s,Korea,Seoul,Guro-gu,,Test Call Center,,,,2020-03-01,2020-03-02,,,isolated",
    "2,,male,,40s,Korea,Seoul,Guro-gu,,Test Call Center,,1,,,2020-03-04,2020-03-20,,released",
    "3,,male,,50,Korea,Seoul,Mapo-gu,,contact with patient,,2,,,2020-03-05,,2020-03-25,deceased",
    "4,,female,,20s,Korea,Seoul,Mapo-gu,,overseas inflow,,4,,,2020-03-06,,,isolated",  # self
    "5,,female,,20s,Korea,Seoul,Mapo-gu,,etc,,999,,,2020-03-07,,,isolated",  # unknown infector
    "6,,female,,20s,Korea,Seoul,Mapo-gu,,,,#7,,,,,,isolated",  # no confirmed date
    "7,,male,,60s,Korea,Busan,Jung-gu,,Test Church,,8,,,2020-03-10,2020-03-01,,released",
    "8,,male,,70s,Korea,Busan,Jung-gu,,Test Church,,7,,,2020-03-11,2020-03-15,,isolated",  # cycle
    "9,,male,,70s,Korea,Busan,Jung-gu,,,,#12,,,2020-03-11,,,",  # not a patient id; no state
)


def write_info(directory: Path, rows: tuple[str, ...] = ROWS, header: str = HEADER) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "PatientInfo.csv"
    path.write_text("\n".join((header, *rows)) + "\n", encoding="utf-8")
    return path


def count(session: Session, model: type, *where: sa.ColumnElement[bool]) -> int:
    return int(session.scalar(sa.select(sa.func.count()).select_from(model).where(*where)) or 0)


def ids(session: Session) -> dict[str, int]:
    return {ref: i for ref, i in session.execute(sa.select(Case.external_ref, Case.id)) if ref}


def test_import_maps_cases_links_and_clusters(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    path = write_info(tmp_path / "ds4c")
    with session_scope(sessions) as s:
        r = import_ds4c(s, path.parent, actor="importer")
    assert (r.rows, r.cases_read, r.new_cases, r.existing_cases) == (9, 8, 8, 0)
    assert dict(r.skipped_rows) == {"no usable confirmed date": 1}
    assert (r.links_read, r.new_links) == (5, 3)  # 1->2, 2->3, 8->7 (7->8 closes the cycle)
    assert dict(r.skipped_links) == {
        "infected_by is the patient itself": 1,
        "infected_by not a patient id": 1,
        "infector not an imported case": 1,
        "would close a cycle": 1,
    }
    # 7 released before confirmation, 8 still isolated with a release date: dates dropped
    assert dict(r.dates_dropped) == {"released_date": 2}
    assert (r.new_clusters, r.new_memberships) == (2, 4)
    assert r.cluster_sizes == {"Test Call Center": 2, "Test Church": 2}
    with sessions() as s:
        by_ref = ids(s)
        cases = {c.external_ref: c for c in s.scalars(sa.select(Case))}
        assert {ref: c.status for ref, c in cases.items()} == {
            "1": "isolated",
            "2": "recovered",
            "3": "deceased",
            "4": "isolated",
            "5": "isolated",
            "7": "recovered",
            "8": "isolated",
            "9": "confirmed",
        }
        assert cases["2"].released_date == dt.date(2020, 3, 20)
        assert cases["3"].deceased_date == dt.date(2020, 3, 25)
        assert cases["3"].age_group == "50s"
        assert cases["1"].symptom_onset == dt.date(2020, 3, 1)
        assert (cases["7"].released_date, cases["8"].released_date) == (None, None)
        assert all(c.source == "ds4c" and c.created_by == "importer" for c in cases.values())
        steps = [(h.from_status, h.to_status, h.effective_date) for h in status_history(
            s, case_id=by_ref["2"])]  # fmt: skip
        assert steps == [
            (None, "confirmed", dt.date(2020, 3, 4)),
            ("confirmed", "isolated", None),
            ("isolated", "recovered", dt.date(2020, 3, 20)),
        ]
        assert [h.to_status for h in status_history(s, case_id=by_ref["3"])] == [
            "confirmed",
            "deceased",
        ]
        links = set(
            s.execute(sa.select(TransmissionLink.infector_id, TransmissionLink.infectee_id))
        )
        assert links == {
            (by_ref["1"], by_ref["2"]),
            (by_ref["2"], by_ref["3"]),
            (by_ref["8"], by_ref["7"]),
        }
        assert {lk.evidence for lk in s.scalars(sa.select(TransmissionLink))} == {
            "DS4C infected_by"
        }
        clusters = {c.name: c for c in s.scalars(sa.select(Cluster))}
        call = clusters["Test Call Center"]
        assert (call.kind, call.province, call.district) == ("workplace", "Seoul", "Guro-gu")
        assert (call.first_date, call.last_date) == (dt.date(2020, 3, 2), dt.date(2020, 3, 4))
        assert clusters["Test Church"].kind == "religious"
        tree = chain(s, case_id=by_ref["3"])
        assert [n.external_ref for n in tree.nodes] == ["1", "2", "3"]


def test_a_second_import_changes_nothing(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    path = write_info(tmp_path / "ds4c")
    with session_scope(sessions) as s:
        import_ds4c(s, path, actor="a")
    with sessions() as s:
        before = [
            count(s, m) for m in (Case, CaseStatusChange, TransmissionLink, Cluster, ClusterMember)
        ]
        stamps = sorted(str(c.updated_at) for c in s.scalars(sa.select(Case)))
    with session_scope(sessions) as s:
        again = import_ds4c(s, path, actor="b")
    assert (again.new_cases, again.new_links, again.new_clusters, again.new_memberships) == (
        0,
        0,
        0,
        0,
    )
    assert (again.existing_cases, again.existing_links, again.existing_memberships) == (8, 3, 4)
    assert not again.changed
    with sessions() as s:
        after = [
            count(s, m) for m in (Case, CaseStatusChange, TransmissionLink, Cluster, ClusterMember)
        ]
        assert after == before
        assert sorted(str(c.updated_at) for c in s.scalars(sa.select(Case))) == stamps


def test_new_rows_are_added_to_what_is_there(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    write_info(tmp_path / "a", ROWS[:2])
    with session_scope(sessions) as s:
        import_ds4c(s, tmp_path / "a", actor="a")
    extra = "10,,male,,30s,Korea,Seoul,Guro-gu,,Test Call Center,,2,,,2020-03-12,,,isolated"
    write_info(tmp_path / "b", (*ROWS[:2], extra))
    with session_scope(sessions) as s:
        r = import_ds4c(s, tmp_path / "b", actor="a")
    assert (r.new_cases, r.existing_cases, r.new_links, r.existing_links) == (1, 2, 1, 1)
    assert (r.new_clusters, r.existing_clusters, r.new_memberships) == (0, 1, 1)
    with sessions() as s:
        call = s.scalars(sa.select(Cluster)).one()
        assert call.last_date == dt.date(2020, 3, 12)


def test_the_import_commits_nothing_itself(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    path = write_info(tmp_path / "ds4c")

    def import_then_fail() -> None:
        with session_scope(sessions) as s:
            import_ds4c(s, path, actor="a")
            raise RuntimeError("later failure")

    with pytest.raises(RuntimeError, match="later failure"):
        import_then_fail()
    with sessions() as s:
        assert count(s, Case) == count(s, TransmissionLink) == count(s, Cluster) == 0


def test_missing_file_or_column_is_an_error(session: Session, tmp_path: Path) -> None:
    with pytest.raises(Ds4cError, match=r"nowhere: no such file \(give PatientInfo\.csv"):
        import_ds4c(session, tmp_path / "nowhere", actor="a")
    path = write_info(tmp_path / "bad", ("1,2020-03-02",), header="patient_id,confirmed_date")
    with pytest.raises(Ds4cError, match="column 'sex'"):
        import_ds4c(session, path, actor="a")


def test_which_infection_cases_are_clusters() -> None:
    assert is_cluster("Itaewon Clubs")
    assert is_cluster("Guro-gu Call Center")
    for generic in ("contact with patient", "overseas inflow", "etc", "", "  "):
        assert not is_cluster(generic)
    assert cluster_kind("Itaewon Clubs") == "venue"
    assert cluster_kind("River of Grace Community Church") == "religious"
    assert cluster_kind("Cheongdo Daenam Hospital") == "healthcare"
    assert cluster_kind("Guri Collective Infection") == "other"


def test_cli_imports_then_reports_nothing_new(db_url: str, tmp_path: Path) -> None:
    path = write_info(tmp_path / "ds4c")
    runner = CliRunner()
    args = ["ds4c", "--path", str(path), "--db", db_url, "--actor", "tester"]
    first = runner.invoke(import_app, args)
    assert first.exit_code == 0, first.output
    assert "cases:       8 new, 0 already imported" in first.stdout
    assert "links:       3 new" in first.stdout
    assert "would close a cycle" in first.stdout
    second = runner.invoke(import_app, args)
    assert second.exit_code == 0, second.output
    assert "cases:       0 new, 8 already imported" in second.stdout
    assert "nothing new" in second.stdout
    missing = runner.invoke(import_app, ["ds4c", "--path", str(tmp_path / "no"), "--db", db_url])
    assert missing.exit_code == 2
    assert "--path:" in missing.stderr
    bad = write_info(tmp_path / "bad", ("1,2020-03-02",), header="patient_id,confirmed_date")
    result = runner.invoke(import_app, ["ds4c", "--path", str(bad), "--db", db_url])
    assert result.exit_code == 2
    assert "column 'sex'" in result.stderr


# -- the real data ----------------------------------------------------------------------------

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _expected(path: Path) -> dict[str, int]:
    """Counts from the CSV, computed without epicity's reader."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    cases: dict[int, dict[str, str]] = {}
    for r in rows:
        pid = r["patient_id"].strip()
        if not pid.isdigit() or int(pid) in cases:
            continue
        if not _DATE.match(r["confirmed_date"].strip()):
            continue
        cases[int(pid)] = r
    parent: dict[int, int] = {}
    for pid, r in cases.items():
        by = r["infected_by"].strip()
        if not by.isdigit() or int(by) == pid or int(by) not in cases:
            continue
        node = int(by)  # walk up the infectors already linked: reaching pid means a cycle
        while node in parent and node != pid:
            node = parent[node]
        if node != pid:
            parent[pid] = int(by)
    clusters = {
        name: sum(1 for r in cases.values() if r["infection_case"].strip() == name)
        for name in ("Guro-gu Call Center", "Itaewon Clubs")
    }
    return {
        "cases": len(cases),
        "links": len(parent),
        "guro": clusters["Guro-gu Call Center"],
        "itaewon": clusters["Itaewon Clubs"],
    }


@pytest.mark.realdata
def test_real_ds4c_import_counts_and_idempotency(sessions: sessionmaker[Session]) -> None:
    path = REAL / "PatientInfo.csv"
    if not path.is_file():
        pytest.skip(f"real DS4C data not found at {path} (licence: read in place only)")
    want = _expected(path)
    assert want["cases"] > 3000  # the file is the one we think
    assert want["links"] > 500
    started = time.monotonic()
    with session_scope(sessions) as s:
        r = import_ds4c(s, path, actor="test")
    assert time.monotonic() - started < 20
    assert (r.new_cases, r.new_links) == (want["cases"], want["links"])
    with sessions() as s:
        assert count(s, Case, Case.source == "ds4c") == want["cases"]
        assert count(s, TransmissionLink) == want["links"]
        clusters = dict(s.execute(sa.select(Cluster.name, Cluster.id)).all())
        for name, key in (("Guro-gu Call Center", "guro"), ("Itaewon Clubs", "itaewon")):
            members = count(s, ClusterMember, ClusterMember.cluster_id == clusters[name])
            assert members == want[key] == r.cluster_sizes[name]
        assert "contact with patient" not in clusters
        assert "overseas inflow" not in clusters
    with session_scope(sessions) as s:
        again = import_ds4c(s, path, actor="test")
    assert (again.new_cases, again.new_links, again.new_clusters, again.new_memberships) == (
        0,
        0,
        0,
        0,
    )
    with sessions() as s:
        assert count(s, Case) == want["cases"]
        assert count(s, TransmissionLink) == want["links"]
