"""Translations of the public pages (Korean and English) and the caller's language.

Every user-facing text of a public page is a key looked up in a catalog: one JSON file per
language and domain, ``<package>/locales/<lang>.json`` (``web/locales`` for the shared
layout, ``opendata/locales`` for the dashboard, ...), merged at start. A key missing from a
language falls back to English, then to the key itself, so a page never breaks; a test checks
that every catalog has the same keys in both languages.

The language is, in order: ``?lang=`` on the request (the switch; remembered in a cookie),
the ``lang`` cookie, the browser's ``Accept-Language``, else ``EPICITY_DEFAULT_LANGUAGE``
(default Korean, the city's language).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from functools import cache
from importlib import resources
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

__all__ = [
    "LANGUAGES",
    "LANG_COOKIE",
    "catalog",
    "catalog_files",
    "render_public",
    "request_language",
    "translator",
]

LANGUAGES = ("ko", "en")
LANGUAGE_NAMES = {"ko": "한국어", "en": "English"}
LANG_COOKIE = "lang"
ENV_DEFAULT_LANGUAGE = "EPICITY_DEFAULT_LANGUAGE"
# Packages whose locales/ directory holds catalogs (a domain adds itself here).
CATALOG_PACKAGES = (
    "epicity.web",
    "epicity.opendata",
    "epicity.cac",
    "epicity.notices",
    "epicity.exposure",
)


def catalog_files(lang: str) -> list[Any]:
    """The catalog files of `lang`, one per package that has one."""
    found = []
    for package in CATALOG_PACKAGES:
        path = resources.files(package).joinpath("locales", f"{lang}.json")
        if path.is_file():
            found.append(path)
    return found


@cache
def catalog(lang: str) -> Mapping[str, str]:
    """Every key of `lang`, from all packages' catalogs (a key defined twice is an error)."""
    merged: dict[str, str] = {}
    for path in catalog_files(lang):
        entries = json.loads(path.read_text(encoding="utf-8"))
        clash = sorted(set(merged) & set(entries))
        if clash:
            raise ValueError(f"{path}: keys defined in another catalog too: {clash[:5]}")
        merged.update(entries)
    return merged


def translator(lang: str) -> Callable[..., str]:
    """`t(key, **values)`: the text of `key` in `lang` (else English, else the key), with
    ``{name}`` placeholders filled from `values`."""
    own, english = catalog(lang), catalog("en")

    def t(key: str, **values: object) -> str:
        text = own.get(key) or english.get(key) or key
        return text.format(**values) if values else text

    return t


def _default_language() -> str:
    lang = os.environ.get(ENV_DEFAULT_LANGUAGE, "ko")
    return lang if lang in LANGUAGES else "ko"


def request_language(request: Request) -> str:
    """The language to answer in (see the module's docstring for the order)."""
    for candidate in (request.query_params.get("lang"), request.cookies.get(LANG_COOKIE)):
        if candidate in LANGUAGES:
            return candidate
    for part in request.headers.get("accept-language", "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return _default_language()


def render_public(
    request: Request, template: str, context: dict[str, Any] | None = None, *, status: int = 200
) -> HTMLResponse:
    """A public page in the caller's language: the template gets `t`, `lang`, the languages
    for the switch, and the current path and query (so the switch keeps the filters)."""
    from epicity.web.pages import render

    lang = request_language(request)
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    ctx = {
        "t": translator(lang),
        "lang": lang,
        "languages": [(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
        "path": request.url.path,
        "query": query,
    }
    ctx.update(context or {})
    response = render(request, template, ctx, status=status)
    if request.query_params.get("lang") in LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax", httponly=True)
    response.headers["Content-Language"] = lang
    response.headers["Vary"] = "Accept-Language, Cookie"
    return response
