"""The library's full-text search: SQLite FTS5 and PostgreSQL full-text find the same
countermeasures for the same queries (English and Korean words, phrases, prefixes, OR,
exclusions, filters), rank title hits first, mark matches without letting text inject HTML,
and refuse bad queries with a field error rather than failing. The parser alone too."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from dbfixtures import POSTGRES_URL, _postgres_schema_url
from epicity.cac import library_service, service
from epicity.cac.library_errors import LibraryError
from epicity.cac.library_query import (
    MAX_QUERY_CHARS,
    MAX_TERMS,
    QueryError,
    Term,
    parse,
    to_fts5,
    to_tsquery_sql,
)
from epicity.db import make_engine, migrate

NOW = dt.datetime(2020, 6, 1, 3, 0, tzinfo=dt.UTC)

# (ref, language, category, tags, title, text)
CORPUS = [
    ("mask-rotation", "en", "masks", ["masks", "supply"], "Mask rotation system",
     "Public masks were sold on a 5-day rotation by birth year, so that pharmacies could "
     "serve everyone."),
    ("mask-ko", "ko", "masks", ["마스크"], "공적 마스크 5부제",
     "출생연도 끝자리에 따라 요일별로 공적 마스크를 구매하도록 했습니다. 약국에서 마스크를 살 수 "
     "있습니다."),
    ("drive-through", "en", "testing", ["screening"], "Drive-through screening centres",
     "People are tested without leaving their cars; a test takes about ten minutes. Drive "
     "through, get swabbed, go home."),
    ("walk-through-ko", "ko", "testing", ["선별진료소"], "워크스루 선별진료소",
     "걸어서 들어가는 선별진료소에서 검사를 받습니다. 드라이브 스루와 함께 운영했습니다."),
    ("quarantine-app", "en", "isolation", ["app"], "Self-quarantine safety protection app",
     "People in quarantine report symptoms twice a day; the app alerts officers when a phone "
     "leaves the quarantine area."),
    ("wristband", "en", "isolation", [], "Electronic wristbands",
     "Wristbands for people who broke quarantine rules."),
    ("school-online", "en", "schools", ["online"], "Schools open online",
     "Classes started online in April, grade by grade."),
    ("school-ko", "ko", "schools", ["학교"], "온라인 개학",
     "학교는 4월에 학년별로 온라인 개학을 했습니다."),
    ("markup", "en", "other", [], "<script>alert(1)</script> notes",
     "A <b>bold</b> claim about masks & gloves."),
]  # fmt: skip

# query -> the refs both backends must find
EXPECTED: dict[str, set[str]] = {
    "mask": {"mask-rotation"},
    "masks": {"mask-rotation", "markup"},
    "MASKS": {"mask-rotation", "markup"},
    "mask*": {"mask-rotation", "markup"},
    "마스크": {"mask-ko"},
    "마스크를": {"mask-ko"},
    "마스크*": {"mask-ko"},
    "5부제": {"mask-ko"},
    '"drive through"': {"drive-through"},
    '"through drive"': set(),
    "drive-through": {"drive-through"},
    "self-quarantine": {"quarantine-app"},
    "quarantine": {"quarantine-app", "wristband"},
    "quarantine -wristbands": {"quarantine-app"},
    "wristbands OR 선별진료소": {"wristband", "walk-through-ko"},
    "선별진료소": {"walk-through-ko"},
    "선별*": {"walk-through-ko"},
    "학교": {"school-ko"},
    "온라인 개학": {"school-ko"},
    '"온라인 개학"': {"school-ko"},
    '"개학 온라인"': set(),
    "online": {"school-online"},
    "script": {"markup"},
    "screening": {"drive-through"},
    "pharmacies OR 약국에서": {"mask-rotation", "mask-ko"},
    "nothing-like-this": set(),
}
# Queries that are not valid syntax for one engine or the other, or are nonsense: each must
# give results or a LibraryError, the same on both backends, and never fail otherwise.
HOSTILE = [
    '"',
    "(",
    ")",
    "NEAR(mask rotation)",
    "mask AND",
    "AND OR NOT",
    "*",
    "-",
    "--mask",
    "mask:*",
    "title:mask",
    "^mask",
    "mask & !app | (x <-> y)",
    "'; DROP TABLE cac_countermeasures; --",
    "\\",
    "\x00mask",
    "마스크'\"",
    "a" * 64,
    "a" * 65,
    "x " * 13,
    "q" * (MAX_QUERY_CHARS + 1),
    "OR",
    "mask OR OR app",
    "\ue000mask\ue001",
]


def _city(session: Session, name: str) -> int:
    city = service.register_city(
        session,
        name_en=name,
        name_local=name,
        country="KR",
        population=1_000_000,
        time_zone="Asia/Seoul",
        contact_email="cac@city.example.org",
        now=NOW,
    )
    service.decide_city(session, city_id=city.id, approve=True, actor="admin", now=NOW)
    return city.id


def _load(session: Session) -> dict[int, str]:
    city_id = _city(session, "Seoul")
    refs = {}
    for i, (ref, language, category, tags, title, text) in enumerate(CORPUS):
        row, _ = library_service.post_countermeasure(
            session,
            city_id=city_id,
            title=title,
            day=dt.date(2020, 3, 1) + dt.timedelta(days=i),
            category=category,
            language=language,
            body=text,
            tags=tags,
            external_ref=ref,
            actor="test",
            now=NOW,
        )
        refs[row.id] = ref
    return refs


@pytest.fixture(scope="module")
def backends(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Session]]:
    """The corpus on SQLite and on PostgreSQL, both at once (sessions kept open)."""
    engines = {"sqlite": make_engine(f"sqlite:///{tmp_path_factory.mktemp('lib') / 'e.db'}")}
    admin, schema = None, f"t_{uuid.uuid4().hex[:16]}"
    if os.environ.get("EPICITY_TEST_POSTGRES") != "skip":
        admin = make_engine(POSTGRES_URL)
        with admin.begin() as con:
            con.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        engines["postgresql"] = make_engine(_postgres_schema_url(schema))
    sessions = {}
    try:
        for name, engine in engines.items():
            migrate(engine)
            sessions[name] = Session(engine, expire_on_commit=False)
            sessions[name].info["refs"] = _load(sessions[name])
            sessions[name].commit()
        yield sessions
    finally:
        for s in sessions.values():
            s.close()
        for engine in engines.values():
            engine.dispose()
        if admin is not None:
            with admin.begin() as con:
                con.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


def _found(session: Session, q: str, **filters: Any) -> list[str]:
    page = library_service.search(session, q=q, per_page=100, **filters)
    refs: dict[int, str] = session.info["refs"]
    return [refs[h.countermeasure.id] for h in page.hits]


def _outcome(session: Session, q: str) -> tuple[str, Any]:
    try:
        return "found", sorted(_found(session, q))
    except LibraryError as err:
        return "refused", err.field
    finally:
        session.rollback()


def test_postgresql_is_there_unless_skipped(backends: dict[str, Session]) -> None:
    if os.environ.get("EPICITY_TEST_POSTGRES") != "skip":
        assert set(backends) == {"sqlite", "postgresql"}


@pytest.mark.parametrize("q", sorted(EXPECTED))
def test_both_backends_find_the_same_countermeasures(backends: dict[str, Session], q: str) -> None:
    for name, session in backends.items():
        assert set(_found(session, q)) == EXPECTED[q], (name, q)


def test_filters_narrow_the_search_alike(backends: dict[str, Session]) -> None:
    cases = [
        ({"q": "online", "category": "schools"}, {"school-online"}),
        ({"q": "온라인", "language": "ko"}, {"school-ko"}),
        ({"q": "online", "language": "ko"}, set()),
        ({"q": "masks", "tag": "supply"}, {"mask-rotation"}),
        ({"q": "masks", "tag": " SUPPLY "}, {"mask-rotation"}),
        ({"q": "", "category": "isolation"}, {"quarantine-app", "wristband"}),
    ]
    for name, session in backends.items():
        for filters, expected in cases:
            assert set(_found(session, **filters)) == expected, (name, filters)


def test_title_and_tag_hits_rank_above_text_hits(backends: dict[str, Session]) -> None:
    for name, session in backends.items():
        # mask-rotation: tag and text; markup: text only.
        assert _found(session, "masks")[0] == "mask-rotation", name
        # quarantine-app: title and text (twice); wristband: text once.
        assert _found(session, "quarantine") == ["quarantine-app", "wristband"], name


def test_without_a_query_the_newest_come_first(backends: dict[str, Session]) -> None:
    for name, session in backends.items():
        page = library_service.search(session, per_page=3)
        assert page.total == len(CORPUS), name
        assert [session.info["refs"][h.countermeasure.id] for h in page.hits] == [
            "markup",
            "school-ko",
            "school-online",
        ], name
        assert page.pages == 3
        assert all(h.rank is None for h in page.hits)
        second = library_service.search(session, per_page=4, page=3)
        assert len(second.hits) == 1
        assert second.pages == 3


def test_matches_are_marked_and_the_text_escaped(backends: dict[str, Session]) -> None:
    for name, session in backends.items():
        (hit,) = library_service.search(session, q="script").hits
        title = str(library_service.highlight_html(hit.title))
        # (PostgreSQL reads "/script" as a file path, so only the first is marked there.)
        assert title.startswith("&lt;<mark>script</mark>&gt;alert(1)&lt;/"), name
        assert title.endswith("&gt; notes"), name
        assert "<script" not in title, name
        (hit,) = library_service.search(session, q="마스크를").hits
        snippet = str(library_service.highlight_html(hit.snippet))
        assert "<mark>마스크를</mark>" in snippet, (name, snippet)
        (hit,) = library_service.search(session, q="gloves").hits
        snippet = str(library_service.highlight_html(hit.snippet))
        assert "bold&lt;/b&gt;" in snippet, name
        assert "<b>" not in snippet, name
        assert "<mark>gloves</mark>" in snippet, name


@pytest.mark.parametrize("q", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_queries_get_the_same_answer_or_a_field_error(
    backends: dict[str, Session], q: str
) -> None:
    outcomes = {name: _outcome(session, q) for name, session in backends.items()}
    assert len(set(map(repr, outcomes.values()))) == 1, outcomes
    kind, detail = next(iter(outcomes.values()))
    if kind == "refused":
        assert detail == "q"


def test_bad_filters_name_the_field(backends: dict[str, Session]) -> None:
    session = backends["sqlite"]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"category": "vaccines"}, "category"),
        ({"language": "fr"}, "language"),
        ({"page": 0}, "page"),
        ({"per_page": 101}, "per_page"),
    ]
    for filters, field in cases:
        with pytest.raises(LibraryError) as info:
            library_service.search(session, **filters)
        assert info.value.field == field


# -- the parser alone ---------------------------------------------------------------------


def test_parse_words_phrases_prefixes_or_and_exclusions() -> None:
    q = parse('Mask* "Drive  Through" OR 학교 -school -"online class"')
    assert q.groups == (
        (Term(("mask",), prefix=True),),
        (Term(("drive", "through")), Term(("학교",))),
    )
    assert q.excluded == (Term(("school",)), Term(("online", "class")))
    assert to_fts5(q) == (
        '("mask"*) AND ("drive through" OR "학교") NOT ("school" OR "online class")'
    )
    sql, params = to_tsquery_sql(q)
    assert sql == (
        "((to_tsquery('simple', :q0)) && (websearch_to_tsquery('simple', :q1) || "
        "websearch_to_tsquery('simple', :q2))) && !!(websearch_to_tsquery('simple', :q3) || "
        "websearch_to_tsquery('simple', :q4))"
    )
    assert params == {
        "q0": "mask:*",
        "q1": '"drive through"',
        "q2": '"학교"',
        "q3": '"school"',
        "q4": '"online class"',
    }


def test_syntax_of_either_engine_is_only_words() -> None:
    q = parse('NEAR(a b) title:x ^y "z & !w')
    assert to_fts5(q) == '("near a") AND ("b") AND ("title x") AND ("y") AND ("z w")'
    assert all(c.isalnum() or c in ' "' for t in q.terms() for c in " ".join(t.words))


def test_a_one_letter_prefix_is_the_word_itself() -> None:
    assert parse("a*").groups == ((Term(("a",)),),)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "no word"),
        ("*** ((", "no word"),
        ("-mask", "not only -exclusions"),
        ("x" * (MAX_QUERY_CHARS + 1), "at most"),
        (" ".join(["w"] * (MAX_TERMS + 1)), "at most"),
        ("a" * 65, "longer than"),
    ],
)
def test_unsearchable_queries_say_why(text: str, problem: str) -> None:
    with pytest.raises(QueryError) as info:
        parse(text)
    assert str(info.value).startswith("q: ")
    assert problem in str(info.value)
