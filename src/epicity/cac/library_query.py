"""The library's search language, parsed once and written out for each backend.

A query is words, ``"quoted phrases"``, prefixes (``quarant*``), exclusions (``-school``)
and ``OR`` between two items; items are otherwise all required (AND). Everything else the
user types (FTS5's ``NEAR``/``^``/``:``/parentheses, tsquery's ``& | ! <->``) is not syntax
here: a word is a run of letters and digits (Unicode, so Hangul too), anything else separates
words. The parsed query is then written as an FTS5 MATCH expression (every word quoted) and
as a PostgreSQL ``tsquery`` built from ``websearch_to_tsquery`` / ``to_tsquery`` calls with
bound parameters, so no user text ever reaches either engine as syntax, and both engines
answer the same question.

    >>> q = parse('mask* "drive through" OR 학교 -school')
    >>> to_fts5(q)
    '("mask"*) AND ("drive through" OR "학교") NOT ("school")'

Words are compared as written, lower-cased (PostgreSQL's 'simple' configuration; FTS5's
``unicode61`` tokenizer with diacritics kept), so Korean matches word by word: ``마스크`` does
not find ``마스크를`` (a word with its particle); ``마스크*`` does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "MAX_QUERY_CHARS",
    "MAX_TERMS",
    "Query",
    "QueryError",
    "Term",
    "parse",
    "to_fts5",
    "to_tsquery_sql",
]

MAX_QUERY_CHARS = 200
MAX_TERMS = 12
MAX_WORD_CHARS = 64
PREFIX_MIN_CHARS = 2  # a one-letter prefix matches half the index: refused

# Letters and digits (underscore excluded: both engines split words at it).
_WORD = re.compile(r"[^\W_]+")
# An item: optional '-', then a quoted phrase (closing quote optional) or a bare chunk.
_ITEM = re.compile(r'(-?)(?:"([^"]*)"?|([^\s"]+))(\*?)')


class QueryError(ValueError):
    """The query cannot be searched (too long, too many words, nothing to look for)."""


@dataclass(frozen=True)
class Term:
    """Words that must appear together in this order; the last may be a prefix."""

    words: tuple[str, ...]
    prefix: bool = False


@dataclass(frozen=True)
class Query:
    """Required groups (each matches if any of its terms does), and excluded terms."""

    groups: tuple[tuple[Term, ...], ...]
    excluded: tuple[Term, ...] = ()

    def terms(self) -> list[Term]:
        """Every term, required and excluded."""
        return [t for g in self.groups for t in g] + list(self.excluded)


def _term(text: str, prefix: bool) -> Term | None:
    words = tuple(w.lower() for w in _WORD.findall(text))
    if not words:
        return None
    if any(len(w) > MAX_WORD_CHARS for w in words):
        raise QueryError(f"q: a word is longer than {MAX_WORD_CHARS} characters")
    if prefix and len(words[-1]) < PREFIX_MIN_CHARS:
        prefix = False  # "a*": searched as the word itself
    return Term(words, prefix)


def parse(text: str) -> Query:
    """The query in `text`; `QueryError` when it is too long or has no words at all."""
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(f"q: at most {MAX_QUERY_CHARS} characters")
    items: list[tuple[bool, Term] | str] = []
    for match in _ITEM.finditer(text):
        minus, phrase, chunk, star = match.groups()
        raw = phrase if phrase is not None else chunk
        if phrase is None and not minus and not star and raw.upper() == "OR":
            items.append("OR")
            continue
        term = _term(raw, prefix=bool(star) or (phrase is None and raw.endswith("*")))
        if term is not None:
            items.append((bool(minus), term))
    groups: list[list[Term]] = []
    excluded: list[Term] = []
    joining = False
    for item in items:
        if isinstance(item, str):  # OR: the next term joins the last group
            joining = bool(groups)
            continue
        negative, term = item
        if negative:
            excluded.append(term)
        elif joining and groups:
            groups[-1].append(term)
        else:
            groups.append([term])
        joining = False
    if not groups:
        if excluded:
            raise QueryError("q: give a word to search for, not only -exclusions")
        raise QueryError("q: no word to search for (words are letters and digits)")
    if sum(len(g) for g in groups) + len(excluded) > MAX_TERMS:
        raise QueryError(f"q: at most {MAX_TERMS} words or phrases")
    return Query(tuple(tuple(g) for g in groups), tuple(excluded))


def _fts5_term(term: Term) -> str:
    # Words hold letters and digits only, so a double quote never needs escaping.
    return '"' + " ".join(term.words) + '"' + ("*" if term.prefix else "")


def _fts5_any(terms: tuple[Term, ...] | list[Term]) -> str:
    return "(" + " OR ".join(_fts5_term(t) for t in terms) + ")"


def to_fts5(query: Query) -> str:
    """The query as an FTS5 MATCH expression."""
    text = " AND ".join(_fts5_any(g) for g in query.groups)
    if query.excluded:
        text += " NOT " + _fts5_any(query.excluded)
    return text


def _tsquery_term(term: Term, name: str, params: dict[str, str]) -> str:
    if term.prefix:
        # to_tsquery syntax, safe: the words are letters and digits only.
        params[name] = " <-> ".join(term.words) + ":*"
        return f"to_tsquery('simple', :{name})"
    # Quoted even for one word, else websearch_to_tsquery would read "or" as its operator.
    params[name] = '"' + " ".join(term.words) + '"'
    return f"websearch_to_tsquery('simple', :{name})"


def to_tsquery_sql(query: Query, prefix: str = "q") -> tuple[str, dict[str, str]]:
    """The query as a PostgreSQL ``tsquery`` expression and its bound parameters."""
    params: dict[str, str] = {}
    counter = iter(range(MAX_TERMS + 1))

    def any_of(terms: tuple[Term, ...] | list[Term]) -> str:
        parts = [_tsquery_term(t, f"{prefix}{next(counter)}", params) for t in terms]
        return "(" + " || ".join(parts) + ")"

    sql = " && ".join(any_of(g) for g in query.groups)
    if query.excluded:
        sql = f"({sql}) && !!{any_of(query.excluded)}"
    return sql, params
