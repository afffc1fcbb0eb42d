"""The library's and suppliers directory's service on both backends: posting (every field
checked, idempotent by reference), attachments (limits, types, dedupe), suppliers (upsert,
filters), seeding from DS4C and the shipped list (atomic, idempotent, credited), and the
migration (models match it, FTS objects included; down and up again)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dbfixtures import schema_diffs
from epicity.cac import library_seed, library_service, service, suppliers
from epicity.cac.library_errors import (
    AttachmentTooLarge,
    AttachmentUnsupported,
    LibraryConflict,
    LibraryError,
    LibraryNotFound,
)
from epicity.cac.library_files import MAX_ATTACHMENT_BYTES, MAX_ATTACHMENTS, content_disposition
from epicity.cac.library_models import (
    FTS_TABLE,
    SEARCH_INDEX,
    Attachment,
    Countermeasure,
    CountermeasureTag,
    Supplier,
)
from epicity.cac.models import City
from epicity.db import alembic_config, migrate

NOW = dt.datetime(2020, 6, 1, 3, 0, tzinfo=dt.UTC)
PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32
LIBRARY_TABLES = {
    "cac_countermeasures",
    "cac_countermeasure_tags",
    "cac_attachments",
    "cac_suppliers",
    "cac_supplier_approvals",
}


def city(session: Session, name: str = "Seoul", approve: bool = True) -> int:
    row = service.register_city(
        session,
        name_en=name,
        name_local=name,
        country="KR",
        population=1_000_000,
        time_zone="Asia/Seoul",
        contact_email="cac@city.example.org",
        now=NOW,
    )
    if approve:
        service.decide_city(session, city_id=row.id, approve=True, actor="admin", now=NOW)
    return row.id


def fields(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "title": "Drive-through screening",
        "day": dt.date(2020, 2, 26),
        "category": "testing",
        "language": "en",
        "body": "Tests without leaving the car.\n\nAbout ten minutes each.",
        "tags": ["Screening", "drive-through", "screening "],
    }
    base.update(changes)
    return base


def post(session: Session, city_id: int, **changes: Any) -> tuple[Countermeasure, str]:
    return library_service.post_countermeasure(
        session, city_id=city_id, actor="t", now=NOW, **fields(**changes)
    )


# -- posting --------------------------------------------------------------------------------


def test_a_countermeasure_is_stored_with_normalised_tags(cac_session: Session) -> None:
    row, what = post(cac_session, city(cac_session))
    assert what == "created"
    assert library_service.tags_of(cac_session, [row.id])[row.id] == ["drive-through", "screening"]
    assert row.tags_text == "screening drive-through"
    found = library_service.get_countermeasure(cac_session, countermeasure_id=row.id)
    assert found.body.endswith("About ten minutes each.")


BAD_POSTS = [
    ({"title": "  "}, "title", "required"),
    ({"title": "x" * 301}, "title", "at most"),
    ({"title": "a\nb"}, "title", "control"),
    ({"body": ""}, "text", "required"),
    ({"body": "a\x00b"}, "text", "control"),
    ({"body": "x" * (library_service.BODY_MAX + 1)}, "text", "at most"),
    ({"category": "vaccines"}, "category", "one of"),
    ({"language": "fr"}, "language", "one of"),
    ({"day": "2020-02-26"}, "date", "a date"),
    ({"day": dt.date(2019, 1, 1)}, "date", "on or after"),
    ({"end_day": dt.date(2020, 2, 1)}, "end_date", "before date"),
    ({"tags": "masks"}, "tags", "list"),
    ({"tags": ["ok", ""]}, "tags.1", "letters"),
    ({"tags": ["<b>"]}, "tags.0", "letters"),
    ({"tags": [f"t{i}" for i in range(21)]}, "tags", "at most"),
    ({"source_url": "javascript:alert(1)"}, "source_url", "http"),
]


@pytest.mark.parametrize(("change", "field", "problem"), BAD_POSTS)
def test_bad_posts_name_the_field_and_store_nothing(
    cac_session: Session, change: dict[str, Any], field: str, problem: str
) -> None:
    city_id = city(cac_session)
    with pytest.raises(LibraryError) as info:
        post(cac_session, city_id, **change)
    assert info.value.field == field
    assert problem in info.value.problem
    assert cac_session.scalar(select(func.count()).select_from(Countermeasure)) == 0


def test_only_approved_cities_take_countermeasures(cac_session: Session) -> None:
    pending = city(cac_session, "Pending", approve=False)
    with pytest.raises(LibraryNotFound) as info:
        post(cac_session, pending)
    assert info.value.field == "city_id"


def test_reposting_a_reference_updates_the_entry_and_nothing_else(cac_session: Session) -> None:
    city_id = city(cac_session)
    first, what = post(cac_session, city_id, external_ref="seoul-17")
    assert what == "created"
    again, what = post(cac_session, city_id, external_ref="seoul-17")
    assert (again.id, what) == (first.id, "unchanged")
    changed, what = post(
        cac_session, city_id, external_ref="seoul-17", title="Drive-through", tags=["cars"]
    )
    assert (changed.id, what) == (first.id, "updated")
    assert library_service.tags_of(cac_session, [first.id])[first.id] == ["cars"]
    assert cac_session.scalar(select(func.count()).select_from(Countermeasure)) == 1
    # The index follows the update (SQLite: the triggers; PostgreSQL: the expression).
    assert [h.countermeasure.id for h in library_service.search(cac_session, q="cars").hits] == [
        first.id
    ]
    assert library_service.search(cac_session, q="screening").total == 0
    other, what = post(cac_session, city(cac_session, "Busan"), external_ref="seoul-17")
    assert what == "created"
    assert other.id != first.id


def test_engine_marks_cannot_be_forged_by_text(cac_session: Session) -> None:
    row, _ = post(cac_session, city(cac_session), title="\ue000x\ue001 title")
    assert row.title == "x title"


def test_a_rejected_city_s_countermeasures_disappear(cac_session: Session) -> None:
    city_id = city(cac_session)
    row, _ = post(cac_session, city_id)
    cac_session.execute(sa.update(City).values(status="rejected"))
    with pytest.raises(LibraryNotFound):
        library_service.get_countermeasure(cac_session, countermeasure_id=row.id)
    assert library_service.search(cac_session).total == 0
    assert library_service.search(cac_session, q="screening").total == 0


# -- attachments ----------------------------------------------------------------------------


def attach(session: Session, cid: int, name: str, data: bytes, **kw: Any) -> tuple[Any, bool]:
    return library_service.add_attachment(
        session, countermeasure_id=cid, filename=name, data=data, actor="t", now=NOW, **kw
    )


def test_attachments_are_typed_by_their_bytes_and_stored_once(cac_session: Session) -> None:
    row, _ = post(cac_session, city(cac_session))
    pdf, created = attach(cac_session, row.id, "../../etc/지침.pdf", PDF, declared_type="")
    assert created
    assert (pdf.filename, pdf.content_type, pdf.size) == ("지침.pdf", "application/pdf", len(PDF))
    again, created = attach(cac_session, row.id, "copy.pdf", PDF)
    assert (again.id, created) == (pdf.id, False)
    attach(cac_session, row.id, "poster.png", PNG, declared_type="image/png")
    attach(cac_session, row.id, "photo.JPG", JPEG, declared_type="image/jpg")
    attach(cac_session, row.id, "cases.csv", b"day,n\n2020-03-01,3\n", declared_type="")
    text, _ = attach(cac_session, row.id, "note.txt", "안내문\n".encode())
    listed = library_service.attachments_of(cac_session, countermeasure_id=row.id)
    assert [a.content_type for a in listed] == [
        "application/pdf",
        "image/png",
        "image/jpeg",
        "text/csv",
        "text/plain",
    ]
    stored = library_service.get_attachment(
        cac_session, countermeasure_id=row.id, attachment_id=text.id
    )
    assert stored.data == "안내문\n".encode()
    with pytest.raises(LibraryNotFound):
        library_service.get_attachment(
            cac_session, countermeasure_id=row.id + 1, attachment_id=text.id
        )


BAD_FILES = [
    ("run.exe", b"MZ\x90\x00", AttachmentUnsupported, "filename"),
    ("page.html", b"<html><script>alert(1)</script>", AttachmentUnsupported, "filename"),
    ("fake.pdf", b"<html>not a pdf", AttachmentUnsupported, "file"),
    ("fake.png", PDF, AttachmentUnsupported, "file"),
    ("binary.txt", b"ab\x00cd", AttachmentUnsupported, "file"),
    ("latin1.csv", "café".encode("latin-1"), AttachmentUnsupported, "file"),
    ("empty.pdf", b"", LibraryError, "file"),
    ("/", PDF, LibraryError, "filename"),
    ("big.pdf", b"%PDF-" + b"0" * MAX_ATTACHMENT_BYTES, AttachmentTooLarge, "file"),
]


@pytest.mark.parametrize(("name", "data", "error", "field"), BAD_FILES)
def test_bad_files_are_refused(
    cac_session: Session, name: str, data: bytes, error: type[Exception], field: str
) -> None:
    row, _ = post(cac_session, city(cac_session))
    with pytest.raises(error) as info:
        attach(cac_session, row.id, name, data)
    assert isinstance(info.value, LibraryError)
    assert info.value.field == field
    assert cac_session.scalar(select(func.count()).select_from(Attachment)) == 0


def test_a_declared_type_must_agree_with_the_bytes(cac_session: Session) -> None:
    row, _ = post(cac_session, city(cac_session))
    with pytest.raises(AttachmentUnsupported) as info:
        attach(cac_session, row.id, "plan.pdf", PDF, declared_type="image/png")
    assert info.value.field == "content-type"


def test_files_per_countermeasure_are_limited_and_a_publisher_attaches_to_its_own(
    cac_session: Session,
) -> None:
    seoul = city(cac_session)
    row, _ = post(cac_session, seoul)
    for i in range(MAX_ATTACHMENTS):
        attach(cac_session, row.id, f"n{i}.txt", f"note {i}".encode())
    with pytest.raises(LibraryConflict):
        attach(cac_session, row.id, "one-more.txt", b"more")
    with pytest.raises(LibraryNotFound):
        attach(cac_session, row.id, "x.txt", b"x", city_id=city(cac_session, "Busan"))


def test_content_disposition_keeps_korean_names() -> None:
    value = content_disposition('지침 "v2".pdf', inline=False)
    assert value.startswith('attachment; filename="')
    assert "filename*=UTF-8''%EC%A7%80%EC%B9%A8%20%22v2%22.pdf" in value


# -- suppliers ------------------------------------------------------------------------------


def supplier(session: Session, **changes: Any) -> tuple[Supplier, str]:
    base: dict[str, Any] = {
        "company": "Seegene Inc.",
        "company_local": "씨젠",
        "product": "Allplex 2019-nCoV Assay",
        "kind": "pcr_kit",
        "country": "kr",
        "website": "https://www.seegene.com",
        "contact": "sales@example.com",
        "daily_capacity": 100_000,
        "approvals": [{"authority": "kr_mfds_eua", "date": "2020-02-12", "source": "KCDC"}],
        "source": "KCDC briefing",
    }
    base.update(changes)
    return suppliers.upsert_supplier(session, actor="t", now=NOW, **base)


def test_suppliers_upsert_by_company_and_product(cac_session: Session) -> None:
    row, what = supplier(cac_session)
    assert (what, row.country) == ("created", "KR")
    assert supplier(cac_session)[1] == "unchanged"
    updated, what = supplier(
        cac_session,
        approvals=[
            {"authority": "kr_mfds_eua", "date": "2020-02-12"},
            {"authority": "us_fda_eua", "date": dt.date(2020, 4, 21), "note": "to check"},
        ],
    )
    assert (updated.id, what) == (row.id, "updated")
    approvals = suppliers.approvals_of(cac_session, [row.id])[row.id]
    assert [(a["authority"], a["approved_on"]) for a in approvals] == [
        ("kr_mfds_eua", dt.date(2020, 2, 12)),
        ("us_fda_eua", dt.date(2020, 4, 21)),
    ]


BAD_SUPPLIERS = [
    ({"company": ""}, "company"),
    ({"kind": "vaccine"}, "kind"),
    ({"country": "Korea"}, "country"),
    ({"website": "ftp://x.example"}, "website"),
    ({"contact": "call Mr Kim"}, "contact"),
    ({"daily_capacity": -1}, "daily_capacity"),
    ({"daily_capacity": True}, "daily_capacity"),
    ({"approvals": [{"authority": "moon"}]}, "approvals.0.authority"),
    ({"approvals": [{"authority": "ce_ivd", "date": "2020-13-01"}]}, "approvals.0.date"),
    ({"approvals": [{"authority": "ce_ivd", "when": "x"}]}, "approvals.0.when"),
    ({"approvals": [{"authority": "ce_ivd"}, {"authority": "ce_ivd"}]}, "approvals.1.authority"),
]


@pytest.mark.parametrize(("change", "field"), BAD_SUPPLIERS)
def test_bad_suppliers_name_the_field(
    cac_session: Session, change: dict[str, Any], field: str
) -> None:
    with pytest.raises(LibraryError) as info:
        supplier(cac_session, **change)
    assert info.value.field == field


def test_supplier_filters(cac_session: Session) -> None:
    supplier(cac_session)
    supplier(
        cac_session,
        company="Acme Swabs",
        company_local="",
        product="Flocked swab 100% nylon",
        kind="swab",
        country="US",
        daily_capacity=None,
        approvals=[{"authority": "ce_ivd"}],
    )
    supplier(cac_session, product="Allplex SARS-CoV-2 Assay", daily_capacity=5_000)

    def names(**filters: Any) -> list[str]:
        return [s.product for s in suppliers.list_suppliers(cac_session, **filters).suppliers]

    assert names() == [
        "Flocked swab 100% nylon",
        "Allplex 2019-nCoV Assay",
        "Allplex SARS-CoV-2 Assay",
    ]
    assert names(kind="swab") == ["Flocked swab 100% nylon"]
    assert names(country="kr") == ["Allplex 2019-nCoV Assay", "Allplex SARS-CoV-2 Assay"]
    assert names(authority="ce_ivd") == ["Flocked swab 100% nylon"]
    assert names(q="씨젠") == ["Allplex 2019-nCoV Assay", "Allplex SARS-CoV-2 Assay"]
    assert names(q="100%") == ["Flocked swab 100% nylon"]
    assert names(q="_") == []
    assert names(min_capacity=10_000) == ["Allplex 2019-nCoV Assay"]
    page = suppliers.list_suppliers(cac_session, per_page=2, page=2)
    assert (page.total, page.pages, len(page.suppliers)) == (3, 2, 1)
    with pytest.raises(LibraryError):
        suppliers.list_suppliers(cac_session, kind="vaccine")


# -- seeding --------------------------------------------------------------------------------


def test_the_shipped_supplier_list_cites_a_source_for_everything() -> None:
    entries = library_seed.load_suppliers()
    names = {e["company_local"] for e in entries}
    assert {"코젠바이오텍", "씨젠", "솔젠트", "에스디바이오센서", "바이오세움"} <= names
    for entry in entries:
        assert entry["source"]
        assert entry["approvals"]
        for approval in entry["approvals"]:
            assert approval["source"]
            assert approval["note"]
    first_five = sorted(
        a["date"]
        for e in entries
        for a in e["approvals"]
        if a["authority"] == "kr_mfds_eua" and a["date"] and a["date"] < "2020-04-01"
    )
    # DS4C's Policy.csv dates Korea's 1st to 5th EUA the same way.
    assert first_five == ["2020-02-04", "2020-02-12", "2020-02-27", "2020-02-27", "2020-03-13"]


def test_suppliers_seed_is_idempotent(cac_session: Session) -> None:
    first = library_seed.seed_library(cac_session, now=NOW)
    assert first.suppliers == {"created": len(library_seed.load_suppliers())}
    assert library_seed.seed_library(cac_session, now=NOW).suppliers == {
        "unchanged": len(library_seed.load_suppliers())
    }


def test_a_bad_supplier_list_stores_nothing(cac_session: Session, tmp_path: Path) -> None:
    entries = library_seed.load_suppliers()
    entries[3] = {**entries[3], "kind": "vaccine"}
    path = tmp_path / "suppliers.json"
    path.write_text(json.dumps({"suppliers": entries}), encoding="utf-8")
    with pytest.raises(LibraryError) as info:
        library_seed.seed_library(cac_session, now=NOW, suppliers_file=path)
    assert info.value.field == "suppliers.3.kind"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(LibraryError):
        library_seed.load_suppliers(path)


def test_category_of_ds4c_policies() -> None:
    assert library_seed.category_of("Health", "Mask Distribution") == "masks"
    assert library_seed.category_of("Health", "Drive-Through Screening Center") == "testing"
    assert library_seed.category_of("Education", "School Closure") == "schools"
    assert library_seed.category_of("Martian", "Anything") == "other"


@pytest.mark.realdata
def test_seoul_countermeasures_from_ds4c(cac_session: Session, real_data: Path) -> None:
    report = library_seed.seed_library(cac_session, now=NOW, real_data=real_data)
    assert report.city is not None
    assert report.city.name_en == "Seoul"
    assert report.countermeasures == {"created": 58}
    rows = list(cac_session.scalars(select(Countermeasure).order_by(Countermeasure.day)))
    assert len(rows) == 58
    assert all(r.licence == "CC BY-NC-SA 4.0" and "DS4C" in r.source for r in rows)
    assert all("Licence: CC BY-NC-SA 4.0" in r.body for r in rows)
    first = rows[0]
    assert (first.title, first.day, first.end_day, first.category) == (
        "Infectious Disease Alert Level: Level 1 (Blue)",
        dt.date(2020, 1, 3),
        dt.date(2020, 1, 19),
        "alert",
    )
    masks = library_service.search(cac_session, q="마스크", city_id=report.city.id)
    assert masks.total == 5  # mask distribution x2, mask sales API, wearing of masks x2
    again = library_seed.seed_library(cac_session, now=NOW, real_data=real_data)
    assert again.countermeasures == {"unchanged": 58}
    assert cac_session.scalar(select(func.count()).select_from(CountermeasureTag)) == 58 * 4


@pytest.mark.realdata
def test_a_bad_policy_file_stores_nothing(
    cac_session: Session, real_data: Path, tmp_path: Path
) -> None:
    (tmp_path / "ds4c").mkdir()
    lines = (real_data / library_seed.POLICY_FILE).read_text(encoding="utf-8").splitlines()
    lines[30] = lines[30].replace("2020-", "2020/", 1)
    (tmp_path / library_seed.POLICY_FILE).write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(LibraryError) as info:
        library_seed.seed_library(cac_session, now=NOW, real_data=tmp_path)
    assert "line 31" in info.value.field
    assert cac_session.scalar(select(func.count()).select_from(Countermeasure)) == 0
    shutil.rmtree(tmp_path / "ds4c")
    with pytest.raises(LibraryError):
        library_seed.seed_library(cac_session, now=NOW, real_data=tmp_path)


# -- schema ---------------------------------------------------------------------------------


def test_models_match_the_migration_fts_objects_included(db_engine: sa.Engine) -> None:
    assert schema_diffs(db_engine, LIBRARY_TABLES) == []
    inspector = sa.inspect(db_engine)
    if db_engine.dialect.name == "sqlite":
        assert FTS_TABLE in inspector.get_table_names()
    else:
        names = {i["name"] for i in inspector.get_indexes("cac_countermeasures")}
        assert SEARCH_INDEX in names


def test_downgrade_and_upgrade_again(db_engine: sa.Engine) -> None:
    from alembic import command

    migrate(db_engine)
    config = alembic_config()
    with db_engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "cac_library@0018_cac")
    tables = set(sa.inspect(db_engine).get_table_names())
    assert not tables & (LIBRARY_TABLES | {FTS_TABLE})
    assert "cac_cities" in tables
    migrate(db_engine)
    assert set(sa.inspect(db_engine).get_table_names()) >= LIBRARY_TABLES
