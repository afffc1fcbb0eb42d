"""The CAC countermeasure library: post, read and search cities' countermeasures, and their
attachments.

Plain functions with keyword-only arguments, called by the routes, pages, seeding and tests
alike; no web imports. Each works inside the caller's transaction and never commits.

Posting (`post_countermeasure`) checks every field and names the first bad one; with an
``external_ref`` (the poster's own id of the measure) a second post of the same reference for
the same city updates the entry (unchanged fields change nothing), so re-posting is
idempotent. Only approved cities' countermeasures are public.

Search (`search`) parses the query once (`epicity.cac.library_query`) and asks the
backend's full-text index: FTS5 with ``bm25`` ranking on SQLite, the GIN-indexed stored
weighted ``tsvector`` with ``ts_rank`` on PostgreSQL. Title hits weigh most, then tags,
then text; ties go to the more recent measure. Each hit carries its title and a snippet of
its text with the matched words marked: the engines mark them with private-use characters
(removed from everything posted, so text cannot forge them), and `highlight_html` escapes
the rest and turns the marks into ``<mark>`` elements.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from markupsafe import Markup, escape
from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session, load_only

from epicity.cac.library_errors import LibraryConflict, LibraryError, LibraryNotFound
from epicity.cac.library_files import MAX_ATTACHMENTS, check_file
from epicity.cac.library_models import (
    ACTOR_MAX,
    CATEGORIES,
    FTS_TABLE,
    LANGUAGES,
    LICENCE_MAX,
    REF_MAX,
    SEARCH_COLUMN,
    SOURCE_MAX,
    TITLE_MAX,
    URL_MAX,
    Attachment,
    Countermeasure,
    CountermeasureTag,
)
from epicity.cac.library_query import Query, QueryError, parse, to_fts5, to_tsquery_sql
from epicity.cac.models import City

__all__ = [
    "BODY_MAX",
    "FIRST_DAY",
    "MAX_TAGS",
    "PER_PAGE_MAX",
    "Hit",
    "SearchPage",
    "add_attachment",
    "attachments_of",
    "countermeasure_json",
    "get_attachment",
    "get_countermeasure",
    "highlight_html",
    "normalise_tags",
    "post_countermeasure",
    "search",
    "tags_of",
]

BODY_MAX = 50_000
MAX_TAGS = 20
TAG_MAX = 50
PER_PAGE_MAX = 100
PAGE_MAX = 1000
FIRST_DAY = dt.date(2019, 12, 1)  # nothing about COVID-19 predates the outbreak
SNIPPET_WORDS = 24
PLAIN_SNIPPET_CHARS = 240
# The engines mark matched words with these (private use, stripped from every input).
MARK_START, MARK_END = "\ue000", "\ue001"
_MARKS = re.compile("[\ue000\ue001]")
# Control characters other than tab and line breaks.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_TAG = re.compile(r"^[^\W_](?:[\w .&+/-]*[\w+])?$")
_BM25 = "bm25(" + FTS_TABLE + ", 10.0, 5.0, 1.0)"  # title, tags, text: as PostgreSQL's A, B, C
_PG_TITLE = f"HighlightAll=TRUE, StartSel={MARK_START}, StopSel={MARK_END}"
_PG_BODY = (
    f"StartSel={MARK_START}, StopSel={MARK_END}, MaxWords={SNIPPET_WORDS}, MinWords=10, "
    'MaxFragments=2, FragmentDelimiter=" … "'
)


# -- validation -----------------------------------------------------------------------------


def _clean(field: str, value: Any, limit: int, *, required: bool, multiline: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise LibraryError(field, "must be text")
    cleaned: str = _MARKS.sub("", value).strip()
    if required and not cleaned:
        raise LibraryError(field, "required")
    if len(cleaned) > limit:
        raise LibraryError(field, f"at most {limit:,} characters")
    bad = _CONTROL.search(cleaned) if multiline else re.search(r"[\x00-\x1f\x7f]", cleaned)
    if bad:
        raise LibraryError(field, "must not contain control characters")
    return cleaned


def _one_of(field: str, value: Any, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise LibraryError(field, f"must be one of {', '.join(allowed)}")
    return value


def _url(field: str, value: Any) -> str:
    url = _clean(field, value, URL_MAX, required=False)
    if url:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc or " " in url:
            raise LibraryError(field, "must be an http(s) URL")
    return url


def _day(field: str, value: Any, *, today: dt.date) -> dt.date:
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise LibraryError(field, "must be a date (YYYY-MM-DD)")
    if value < FIRST_DAY:
        raise LibraryError(field, f"must be on or after {FIRST_DAY.isoformat()}")
    if value > today + dt.timedelta(days=366):
        raise LibraryError(field, "must be within a year from today")
    return value


def normalise_tags(tags: Any) -> list[str]:
    """The tags lower-cased, trimmed and without repeats (in the given order); refused (field
    ``tags``) when one is empty, too long or not words."""
    if tags is None:
        return []
    if not isinstance(tags, list | tuple):
        raise LibraryError("tags", "must be a list of words")
    seen: dict[str, None] = {}
    for i, tag in enumerate(tags):
        if not isinstance(tag, str):
            raise LibraryError(f"tags.{i}", "must be text")
        tag = " ".join(tag.split()).lower()
        if not tag or len(tag) > TAG_MAX or not _TAG.fullmatch(tag):
            raise LibraryError(
                f"tags.{i}", f"1 to {TAG_MAX} letters, digits, spaces or - . & + / (no marks)"
            )
        seen[tag] = None
    if len(seen) > MAX_TAGS:
        raise LibraryError("tags", f"at most {MAX_TAGS} tags")
    return list(seen)


def _approved_city(session: Session, city_id: int) -> City:
    city = session.get(City, city_id)
    if city is None or city.status != "approved":
        raise LibraryNotFound("city_id", f"no approved city {city_id}")
    return city


# -- posting --------------------------------------------------------------------------------


def post_countermeasure(
    session: Session,
    *,
    city_id: int,
    title: Any,
    day: Any,
    category: Any,
    language: Any,
    body: Any,
    actor: str,
    now: dt.datetime,
    end_day: Any = None,
    tags: Any = None,
    source: Any = "",
    licence: Any = "",
    source_url: Any = "",
    external_ref: Any = None,
) -> tuple[Countermeasure, str]:
    """Store a city's countermeasure; with `external_ref` an existing entry of that reference
    is updated instead. Returns the entry and what happened: "created", "updated" or
    "unchanged"."""
    _approved_city(session, city_id)
    today = now.date()
    fields: dict[str, Any] = {
        "title": _clean("title", title, TITLE_MAX, required=True),
        "day": _day("date", day, today=today),
        "end_day": None if end_day is None else _day("end_date", end_day, today=today),
        "category": _one_of("category", category, CATEGORIES),
        "language": _one_of("language", language, LANGUAGES),
        "body": _clean("text", body, BODY_MAX, required=True, multiline=True),
        "source": _clean("source", source, SOURCE_MAX, required=False),
        "licence": _clean("licence", licence, LICENCE_MAX, required=False),
        "source_url": _url("source_url", source_url),
    }
    if fields["end_day"] is not None and fields["end_day"] < fields["day"]:
        raise LibraryError("end_date", "must not be before date")
    ref = _clean("external_ref", external_ref, REF_MAX, required=False) or None
    tag_list = normalise_tags(tags)
    fields["tags_text"] = " ".join(tag_list)
    actor = actor[:ACTOR_MAX]

    row = None
    if ref is not None:
        row = session.scalar(
            select(Countermeasure).where(
                Countermeasure.city_id == city_id, Countermeasure.external_ref == ref
            )
        )
    if row is None:
        row = Countermeasure(
            city_id=city_id,
            external_ref=ref,
            posted_by=actor,
            created_at=now,
            updated_at=now,
            **fields,
        )
        session.add(row)
        session.flush()
        _store_tags(session, row.id, tag_list)
        return row, "created"
    changed = {k: v for k, v in fields.items() if getattr(row, k) != v}
    if not changed:
        return row, "unchanged"
    for key, value in changed.items():
        setattr(row, key, value)
    row.updated_at = now
    row.posted_by = actor
    session.flush()
    if "tags_text" in changed:
        session.execute(
            delete(CountermeasureTag).where(CountermeasureTag.countermeasure_id == row.id)
        )
        _store_tags(session, row.id, tag_list)
    return row, "updated"


def _store_tags(session: Session, countermeasure_id: int, tags: list[str]) -> None:
    session.add_all(CountermeasureTag(countermeasure_id=countermeasure_id, tag=t) for t in tags)
    session.flush()


# -- reading --------------------------------------------------------------------------------


def get_countermeasure(session: Session, *, countermeasure_id: int) -> Countermeasure:
    """The countermeasure `countermeasure_id` of an approved city."""
    row = session.scalar(
        select(Countermeasure)
        .join(City, City.id == Countermeasure.city_id)
        .where(Countermeasure.id == countermeasure_id, City.status == "approved")
    )
    if row is None:
        raise LibraryNotFound("countermeasure_id", f"no countermeasure {countermeasure_id}")
    return row


def tags_of(session: Session, ids: list[int]) -> dict[int, list[str]]:
    """The tags of each countermeasure in `ids`, alphabetically."""
    found: dict[int, list[str]] = {i: [] for i in ids}
    if ids:
        rows = session.execute(
            select(CountermeasureTag.countermeasure_id, CountermeasureTag.tag)
            .where(CountermeasureTag.countermeasure_id.in_(ids))
            .order_by(CountermeasureTag.tag)
        )
        for cid, tag in rows:
            found[cid].append(tag)
    return found


def attachments_of(session: Session, *, countermeasure_id: int) -> list[Attachment]:
    """The attachments of a countermeasure, oldest first, without their bytes."""
    return list(
        session.scalars(
            select(Attachment)
            .options(
                load_only(
                    Attachment.id,
                    Attachment.countermeasure_id,
                    Attachment.filename,
                    Attachment.content_type,
                    Attachment.size,
                    Attachment.sha256,
                    Attachment.created_at,
                )
            )
            .where(Attachment.countermeasure_id == countermeasure_id)
            .order_by(Attachment.id)
        )
    )


def countermeasure_json(
    row: Countermeasure, city: City, tags: list[str], attachments: list[Attachment] | None
) -> dict[str, Any]:
    """The public JSON of a countermeasure (no poster's name)."""
    data: dict[str, Any] = {
        "id": row.id,
        "city": {"id": city.id, "name_en": city.name_en, "name_local": city.name_local},
        "title": row.title,
        "date": row.day.isoformat(),
        "end_date": row.end_day.isoformat() if row.end_day else None,
        "category": row.category,
        "language": row.language,
        "tags": tags,
        "source": row.source,
        "licence": row.licence,
        "source_url": row.source_url,
        "external_ref": row.external_ref,
        "updated_at": row.updated_at.isoformat(),
    }
    if attachments is not None:
        data["text"] = row.body
        data["attachments"] = [
            {
                "id": a.id,
                "filename": a.filename,
                "content_type": a.content_type,
                "size": a.size,
                "sha256": a.sha256,
                "url": f"/api/cac/v1/countermeasures/{row.id}/attachments/{a.id}",
            }
            for a in attachments
        ]
    return data


# -- attachments ----------------------------------------------------------------------------


def add_attachment(
    session: Session,
    *,
    countermeasure_id: int,
    filename: str,
    data: bytes,
    actor: str,
    now: dt.datetime,
    declared_type: str = "",
    city_id: int | None = None,
) -> tuple[Attachment, bool]:
    """Attach a file (checked by `epicity.cac.library_files.check_file`) to a countermeasure;
    `city_id`, when given, is the poster's city, which must be the countermeasure's. The same
    bytes attached twice are stored once: returns the attachment and whether it is new."""
    row = get_countermeasure(session, countermeasure_id=countermeasure_id)
    if city_id is not None and row.city_id != city_id:
        raise LibraryNotFound(
            "countermeasure_id", f"no countermeasure {countermeasure_id} of your city"
        )
    checked = check_file(filename, data, declared=declared_type)
    existing = session.scalar(
        select(Attachment)
        .options(load_only(Attachment.id, Attachment.filename, Attachment.sha256))
        .where(Attachment.countermeasure_id == row.id, Attachment.sha256 == checked.sha256)
    )
    if existing is not None:
        return existing, False
    count = session.scalar(
        select(func.count()).select_from(Attachment).where(Attachment.countermeasure_id == row.id)
    )
    if (count or 0) >= MAX_ATTACHMENTS:
        raise LibraryConflict("file", f"a countermeasure has at most {MAX_ATTACHMENTS} files")
    attachment = Attachment(
        countermeasure_id=row.id,
        filename=checked.filename,
        content_type=checked.content_type,
        size=checked.size,
        sha256=checked.sha256,
        data=data,
        posted_by=actor[:ACTOR_MAX],
        created_at=now,
    )
    session.add(attachment)
    session.flush()
    return attachment, True


def get_attachment(session: Session, *, countermeasure_id: int, attachment_id: int) -> Attachment:
    """An attachment (with its bytes) of a countermeasure of an approved city."""
    get_countermeasure(session, countermeasure_id=countermeasure_id)
    row = session.get(Attachment, attachment_id)
    if row is None or row.countermeasure_id != countermeasure_id:
        raise LibraryNotFound("attachment_id", f"no attachment {attachment_id}")
    return row


# -- search ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hit:
    """A countermeasure in a list or search: the row, its city, and the title and snippet
    with matched words between `MARK_START` and `MARK_END` (no marks without a query)."""

    countermeasure: Countermeasure
    city: City
    title: str
    snippet: str
    rank: float | None


@dataclass(frozen=True)
class SearchPage:
    """A page of hits, the number of all matches and the page's position."""

    hits: list[Hit]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        """How many pages all matches fill (at least one)."""
        return max(1, -(-self.total // self.per_page))


def highlight_html(marked: str) -> Markup:
    """`marked` HTML-escaped, with the engine's marks as ``<mark>`` elements."""
    escaped = str(escape(marked))
    return Markup(escaped.replace(MARK_START, "<mark>").replace(MARK_END, "</mark>"))


def _filters(
    city_id: int | None, category: str | None, tag: str | None, language: str | None
) -> tuple[list[str], dict[str, Any]]:
    where = ["city.status = 'approved'"]
    params: dict[str, Any] = {}
    if city_id is not None:
        where.append("c.city_id = :city_id")
        params["city_id"] = city_id
    if category is not None:
        where.append("c.category = :category")
        params["category"] = _one_of("category", category, CATEGORIES)
    if language is not None:
        where.append("c.language = :language")
        params["language"] = _one_of("language", language, LANGUAGES)
    if tag is not None:
        where.append(
            "EXISTS (SELECT 1 FROM cac_countermeasure_tags t "
            "WHERE t.countermeasure_id = c.id AND t.tag = :tag)"
        )
        params["tag"] = " ".join(tag.split()).lower()
    return where, params


def _sqlite_search(
    session: Session,
    query: Query,
    where: list[str],
    params: dict[str, Any],
    limit: int,
    offset: int,
) -> tuple[list[tuple[int, float, str, str]], int]:
    params = {**params, "match": to_fts5(query), "s": MARK_START, "e": MARK_END}
    base = (
        f"FROM {FTS_TABLE} JOIN cac_countermeasures c ON c.id = {FTS_TABLE}.rowid "
        "JOIN cac_cities city ON city.id = c.city_id "
        f"WHERE {FTS_TABLE} MATCH :match AND " + " AND ".join(where)
    )
    total = session.scalar(text("SELECT count(*) " + base), params) or 0
    rows = session.execute(
        text(
            f"SELECT c.id, {_BM25} AS rank, highlight({FTS_TABLE}, 0, :s, :e), "
            f"snippet({FTS_TABLE}, 2, :s, :e, ' … ', {SNIPPET_WORDS}) "
            + base
            + " ORDER BY rank, c.day DESC, c.id DESC LIMIT :limit OFFSET :offset"
        ),
        {**params, "limit": limit, "offset": offset},
    ).all()
    # bm25 is lower for better matches; shown as a score where higher is better.
    return [(r[0], -float(r[1]), r[2], r[3]) for r in rows], int(total)


def _postgresql_search(
    session: Session,
    query: Query,
    where: list[str],
    params: dict[str, Any],
    limit: int,
    offset: int,
) -> tuple[list[tuple[int, float, str, str]], int]:
    tsquery, query_params = to_tsquery_sql(query)
    params = {**params, **query_params, "title_opts": _PG_TITLE, "body_opts": _PG_BODY}
    matches = (
        f"FROM cac_countermeasures c JOIN cac_cities city ON city.id = c.city_id, "
        f"(SELECT {tsquery} AS q) AS query "
        f"WHERE c.{SEARCH_COLUMN} @@ query.q AND " + " AND ".join(where)
    )
    total = session.scalar(text("SELECT count(*) " + matches), params) or 0
    rows = session.execute(
        text(
            "WITH hits AS (SELECT c.id, c.day, "
            f"ts_rank(c.{SEARCH_COLUMN}, query.q) AS rank, query.q AS q "
            + matches
            + " ORDER BY rank DESC, c.day DESC, c.id DESC LIMIT :limit OFFSET :offset) "
            f"SELECT hits.id, hits.rank, ts_headline('simple', {_pg_text('c.title')}, hits.q, "
            f":title_opts), ts_headline('simple', {_pg_text('c.body')}, hits.q, :body_opts) "
            "FROM hits JOIN cac_countermeasures c ON c.id = hits.id "
            "ORDER BY hits.rank DESC, hits.day DESC, hits.id DESC"
        ),
        {**params, "limit": limit, "offset": offset},
    ).all()
    return [(r[0], float(r[1]), _pg_back(r[2]), _pg_back(r[3])) for r in rows], int(total)


def _pg_text(column: str) -> str:
    """`column` with its angle brackets as control characters: PostgreSQL's parser skips
    whatever looks like an XML tag, so ``<script>`` would not be marked; the vector reads
    them as spaces, and control characters are blanks to the parser too (and never in
    stored text)."""
    return f"translate({column}, '<>', chr(1) || chr(2))"


def _pg_back(marked: str) -> str:
    return marked.replace("\x01", "<").replace("\x02", ">")


def _plain_snippet(body: str) -> str:
    if len(body) <= PLAIN_SNIPPET_CHARS:
        return body
    return body[:PLAIN_SNIPPET_CHARS].rsplit(" ", 1)[0] + " …"


def search(
    session: Session,
    *,
    q: str | None = None,
    city_id: int | None = None,
    category: str | None = None,
    tag: str | None = None,
    language: str | None = None,
    page: int = 1,
    per_page: int = 20,
) -> SearchPage:
    """Countermeasures of approved cities matching the filters and, when `q` has words, the
    full-text query (ranked best first; else newest first); page `page` of `per_page`."""
    if not 1 <= page <= PAGE_MAX:
        raise LibraryError("page", f"must be from 1 to {PAGE_MAX}")
    if not 1 <= per_page <= PER_PAGE_MAX:
        raise LibraryError("per_page", f"must be from 1 to {PER_PAGE_MAX}")
    where, params = _filters(city_id, category, tag, language)
    limit, offset = per_page, (page - 1) * per_page
    q = (q or "").strip()
    if not q:
        base = (
            "FROM cac_countermeasures c JOIN cac_cities city ON city.id = c.city_id WHERE "
            + " AND ".join(where)
        )
        total = session.scalar(text("SELECT count(*) " + base), params)
        ids = list(
            session.scalars(
                text(
                    "SELECT c.id "
                    + base
                    + " ORDER BY c.day DESC, c.id DESC LIMIT :limit OFFSET :offset"
                ),
                {**params, "limit": limit, "offset": offset},
            )
        )
        rows = _load(session, ids)
        hits = [Hit(r, c, r.title, _plain_snippet(r.body), None) for r, c in rows]
        return SearchPage(hits, int(total or 0), page, per_page)
    try:
        query = parse(q)
    except QueryError as err:
        field, _, problem = str(err).partition(": ")
        raise LibraryError(field, problem) from None
    run = _postgresql_search if session.get_bind().dialect.name == "postgresql" else _sqlite_search
    found, total = run(session, query, where, params, limit, offset)
    loaded = {r.id: (r, c) for r, c in _load(session, [f[0] for f in found])}
    hits = [
        Hit(loaded[i][0], loaded[i][1], title, snippet, rank)
        for i, rank, title, snippet in found
        if i in loaded
    ]
    return SearchPage(hits, total, page, per_page)


def _load(session: Session, ids: list[int]) -> list[tuple[Countermeasure, City]]:
    """The countermeasures `ids` with their cities, in the order of `ids`."""
    if not ids:
        return []
    rows = session.execute(
        select(Countermeasure, City)
        .join(City, City.id == Countermeasure.city_id)
        .where(Countermeasure.id.in_(ids))
    ).all()
    by_id = {r[0].id: (r[0], r[1]) for r in rows}
    return [by_id[i] for i in ids if i in by_id]
