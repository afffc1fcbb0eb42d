"""The public notices page and its Atom feed on a live service, on both backends: no login,
filters, as_of, paging, Korean and English, the feed parsed as Atom 1.0, bad input -> 400."""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET

from tests.notices.conftest import CAFE, PARK, notice, queue
from tests.web.conftest import LiveService

from epicity.db import session_scope, utcnow
from epicity.notices.service import sync_from_outbox

A = "{http://www.w3.org/2005/Atom}"
ITEM = re.compile(r'<li class="notice-item"')


def _seed(live: LiveService, n_cafes: int = 1) -> None:
    """Notices of visits yesterday and the day before (visible now), queued and approved."""
    now = utcnow()
    base = (now - dt.timedelta(days=2)).replace(hour=3, minute=0, second=0, microsecond=0)
    with session_scope(live.app.state.sessions) as s:
        cafes = [notice(CAFE, place_id=100 + i, start=base) for i in range(n_cafes)]
        queue(s, 1, [*cafes, notice(PARK, place_id=30, start=base + dt.timedelta(days=1))],
              now=now - dt.timedelta(hours=2))  # fmt: skip
        sync_from_outbox(s, now=now)


def test_the_page_lists_filters_and_pages(live: LiveService) -> None:
    _seed(live, n_cafes=21)
    with live.client() as c:  # the public: no login
        page = c.get("/public/notices", params={"lang": "en"})
        assert page.status_code == 200
        assert 'id="notice-filters"' in page.text
        assert 'id="notices"' in page.text
        assert len(ITEM.findall(page.text)) == 20  # 22 notices, 20 a page
        assert "22 notice(s)" in page.text
        assert 'rel="next"' in page.text
        assert "Mapo Park 3" in page.text  # newest first: the park's visit is the latest
        second = c.get("/public/notices", params={"lang": "en", "page": "2"})
        assert len(ITEM.findall(second.text)) == 2
        mapo = c.get("/public/notices", params={"district": "Mapo-gu", "lang": "en"})
        assert len(ITEM.findall(mapo.text)) == 1
        assert "Guro Cafe" not in mapo.text
        assert "notice-map" in mapo.text  # the map of visible notices
        ko = c.get("/public/notices", params={"district": "Mapo-gu", "lang": "ko"})
        assert "확진자 방문 장소" in ko.text
        assert "마포구" in ko.text
        assert ko.headers["content-language"] == "ko"
        past = c.get("/public/notices", params={"as_of": "2020-03-20", "lang": "en"})
        assert past.status_code == 200
        assert not ITEM.findall(past.text)  # nothing was visible then


def test_bad_filters_re_render_the_page_with_400(live: LiveService) -> None:
    with live.client() as c:
        for params, field in (
            ({"district": "Atlantis-gu"}, "district"),
            ({"start": "2020-02-31"}, "start"),
            ({"as_of": "2999-01-01"}, "as_of"),
            ({"source": "gossip"}, "source"),
            ({"page": "0"}, "page"),
            ({"start": "2020-03-09", "end": "2020-03-01"}, "start"),
        ):
            r = c.get("/public/notices", params={**params, "lang": "en"})
            assert r.status_code == 400, params
            assert 'id="notice-error"' in r.text
            assert f"{field}:" in r.text
            assert 'id="notice-filters"' in r.text  # the form is there to correct it
            feed = c.get("/public/notices.atom", params=params)
            if field != "page":
                assert feed.status_code == 400
                assert feed.text.startswith(f"{field}:")
        long = c.get("/public/notices", params={"district": "x" * 41})
        assert long.status_code == 422  # over the parameter's bound


def test_the_feed_is_atom(live: LiveService) -> None:
    _seed(live)
    with live.client() as c:
        r = c.get("/public/notices.atom", params={"lang": "en"})
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/atom+xml")
        root = ET.fromstring(r.content)
        assert root.tag == f"{A}feed"
        for tag in ("id", "title", "updated", "author"):
            assert root.find(f"{A}{tag}") is not None, tag
        entries = root.findall(f"{A}entry")
        assert len(entries) == 2
        for e in entries:
            for tag in ("id", "title", "updated", "summary"):
                assert (e.findtext(f"{A}{tag}") or "").strip(), tag
            dt.datetime.fromisoformat(e.findtext(f"{A}updated") or "")
        titles = [e.findtext(f"{A}title") for e in entries]
        assert titles[0] == "Mapo Park 3 (Mapo-gu)"
        assert "Disinfection" in (entries[1].findtext(f"{A}summary") or "")
        guro = ET.fromstring(c.get("/public/notices.atom", params={"district": "Guro-gu"}).content)
        assert len(guro.findall(f"{A}entry")) == 1
        # the page links the feed with the same filters
        page = c.get("/public/notices", params={"district": "Guro-gu"})
        assert "/public/notices.atom?district=Guro-gu" in page.text
        # nothing about the person: not who approved, no case
        for body in (page.text, r.text):
            assert "officer" not in body
            assert "case" not in body.lower().replace("confirmed case", "")
