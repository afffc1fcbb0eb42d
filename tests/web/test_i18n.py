"""Public pages' translations: every catalog has the same keys in Korean and English, every
key a template asks for exists, and the language follows the switch, cookie and browser."""

from __future__ import annotations

import json
import re
from pathlib import Path

import anyio
import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from epicity.web import i18n

TEMPLATES = Path(i18n.__file__).resolve().parent / "templates"
KEY_IN_TEMPLATE = re.compile(r"""\bt\(\s*["']([a-z0-9_.-]+)["']""")


@pytest.mark.parametrize("package", i18n.CATALOG_PACKAGES)
def test_each_catalog_has_the_same_keys_in_both_languages(package: str) -> None:
    from importlib import resources

    keys = {}
    for lang in i18n.LANGUAGES:
        path = resources.files(package).joinpath("locales", f"{lang}.json")
        entries = json.loads(path.read_text(encoding="utf-8"))
        assert all(isinstance(v, str) and v.strip() for v in entries.values()), (package, lang)
        keys[lang] = set(entries)
    assert keys["ko"] == keys["en"], package


def test_every_key_a_template_uses_is_in_the_catalogs() -> None:
    used = {
        k for path in TEMPLATES.glob("*.html") for k in KEY_IN_TEMPLATE.findall(path.read_text())
    }
    assert used, "no translated template found"
    for lang in i18n.LANGUAGES:
        missing = sorted(used - set(i18n.catalog(lang)))
        assert missing == [], (lang, missing)


def test_translator_fills_values_and_falls_back() -> None:
    t = i18n.translator("ko")
    assert t("nav.dashboard") == "현황판"
    assert i18n.translator("en")("nav.dashboard") == "Dashboard"
    assert t("no.such.key") == "no.such.key"


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/page", response_class=HTMLResponse)
    def page(request: Request) -> HTMLResponse:
        return i18n.render_public(request, "public_base.html")

    return app


def test_language_follows_switch_then_cookie_then_browser(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(i18n.ENV_DEFAULT_LANGUAGE, raising=False)

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=_app())
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            first = await c.get("/page")
            assert first.headers["content-language"] == "ko"  # the city's language
            english = await c.get("/page", headers={"Accept-Language": "en-GB,en;q=0.9"})
            assert english.headers["content-language"] == "en"
            assert "Dashboard" in english.text
            switched = await c.get("/page", params={"lang": "ko", "district": "Mapo-gu"})
            assert "현황판" in switched.text
            assert 'lang="ko"' in switched.text
            assert "district=Mapo-gu&amp;lang=en" in switched.text  # the switch keeps filters
            # the switch is remembered, over the browser's preference
            again = await c.get("/page", headers={"Accept-Language": "en"})
            assert again.headers["content-language"] == "ko"
            unknown = await c.get("/page", params={"lang": "xx"})
            assert unknown.headers["content-language"] == "ko"

    anyio.run(scenario)
