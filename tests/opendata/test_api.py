"""The open API v1 on a live service, on SQLite and PostgreSQL: one seeded and published
database per backend for the whole module (these tests only read; the ones that publish
again, expire notices or exhaust the rate limit are in test_api_changes.py)."""

from __future__ import annotations

import csv
import datetime as dt
import email.utils
import io
import os
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from tests.web.conftest import LiveService, make_live_service

from epicity.cases import service as cases
from epicity.city.districts import seoul_districts
from epicity.db import make_engine, session_scope
from epicity.opendata import service as opendata
from epicity.opendata.api import LICENCE_URL, Dimension
from epicity.opendata.models import DIMENSIONS

POSTGRES_URL = os.environ.get(
    "EPICITY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
OPEN = "/api/open/v1"
DAY0 = dt.date(2020, 3, 1)
DAYS = 12
# The lone 80s case in Jongno-gu is a small count: the breakdown must hide it.
LONE = ("Jongno-gu", "80-89")
PUBLISHED_AT = dt.datetime(2020, 3, 13, 9, 0, tzinfo=dt.UTC)


def seed_and_publish(live: LiveService) -> None:
    """Confirmed cases over `DAYS` days in a few districts (a large group and one lone old
    case), then one publication as of the last day."""
    districts = ["Guro-gu", "Mapo-gu", "Gangnam-gu"]
    with session_scope(live.app.state.sessions) as s:
        n = 0
        for day in range(DAYS):
            for i, district in enumerate(districts):
                for k in range((day + i) % 4 + 1):
                    n += 1
                    cases.create_case(
                        s,
                        actor="seed",
                        status="confirmed",
                        person_id=n,
                        age_group=("20s", "30s", "40s")[k % 3],
                        province="Seoul",
                        district=district,
                        confirmed_date=DAY0 + dt.timedelta(days=day),
                    )
        cases.create_case(
            s, actor="seed", status="confirmed", person_id=n + 1, age_group="80s",
            province="Seoul", district=LONE[0], confirmed_date=DAY0 + dt.timedelta(days=3),
        )  # fmt: skip
        opendata.publish(
            s, as_of=DAY0 + dt.timedelta(days=DAYS - 1), actor="seed", now=PUBLISHED_AT
        )


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def open_live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveService]:
    """A live service with published figures, once per backend for the module."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('open') / 'epicity.db'}"
        for live in make_live_service(url):
            seed_and_publish(live)
            yield live
        return
    if os.environ.get("EPICITY_TEST_POSTGRES") == "skip":
        pytest.skip("PostgreSQL tests skipped: EPICITY_TEST_POSTGRES=skip")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = make_engine(POSTGRES_URL)
    try:
        with admin.begin() as con:
            con.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        try:
            for live in make_live_service(url.render_as_string(hide_password=False)):
                seed_and_publish(live)
                yield live
        finally:
            with admin.begin() as con:
                con.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


@pytest.fixture
def client(open_live: LiveService) -> Iterator[httpx.Client]:
    """A public client (no token) of the module's service."""
    with open_live.client() as c:
        yield c


def _csv(response: httpx.Response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.text)))


def _as_cells(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    """JSON rows as CSV would have them (null empty, numbers as written)."""

    def cell(v: Any) -> str:
        if v is None:
            return ""
        if isinstance(v, bool):
            return "true" if v else "false"
        return repr(v) if isinstance(v, float) else str(v)

    return [{k: cell(v) for k, v in row.items()} for row in rows]


def test_dimensions_match_the_models() -> None:
    assert Dimension.__args__ == DIMENSIONS  # type: ignore[attr-defined]


def test_figures_page_through_the_whole_history(client: httpx.Client) -> None:
    first = client.get(f"{OPEN}/figures", params={"per_page": 7})
    assert first.status_code == 200
    body = first.json()
    areas = client.get(f"{OPEN}/areas").json()["data"]
    assert body["total"] == DAYS * len(areas)
    assert body["pages"] == -(-body["total"] // 7)
    assert body["links"]["prev"] is None
    assert first.headers["X-Total-Count"] == str(body["total"])
    assert 'rel="next"' in first.headers["Link"]
    rows, page, url = [], body, first.url
    while True:
        assert len(page["data"]) <= 7
        rows += page["data"]
        if page["links"]["next"] is None:
            assert 'rel="next"' not in client.get(url).headers["Link"]
            break
        url = httpx.URL(client.base_url).join(page["links"]["next"])
        page = client.get(url).json()
    assert len(rows) == body["total"]
    order = {a["area"]: i for i, a in enumerate(areas)}  # "city" first, then the districts
    keys = [(r["day"], order[r["area"]]) for r in rows]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)
    bulk = client.get(f"{OPEN}/bulk/figures", params={"format": "json"}).json()["data"]
    assert bulk == rows, "the bulk download is the paginated whole"
    beyond = client.get(f"{OPEN}/figures", params={"per_page": 7, "page": body["pages"] + 1})
    assert beyond.status_code == 200
    assert beyond.json()["data"] == []
    assert beyond.json()["links"]["prev"].endswith(f"page={body['pages']}")


def test_figures_filters(client: httpx.Client) -> None:
    start, end = DAY0 + dt.timedelta(days=2), DAY0 + dt.timedelta(days=5)
    r = client.get(
        f"{OPEN}/figures", params={"area": "Guro-gu", "start": str(start), "end": str(end)}
    )
    data = r.json()["data"]
    assert [row["day"] for row in data] == [str(start + dt.timedelta(days=i)) for i in range(4)]
    assert {row["area"] for row in data} == {"Guro-gu"}
    city = client.get(f"{OPEN}/figures", params={"area": "city", "per_page": 1000}).json()
    assert city["data"][-1]["confirmed_total"] == sum(row["confirmed_new"] for row in city["data"])


def test_latest_day_has_every_area(client: httpx.Client) -> None:
    latest = client.get(f"{OPEN}/figures/latest").json()["data"]
    areas = [a["area"] for a in client.get(f"{OPEN}/areas").json()["data"]]
    assert sorted(r["area"] for r in latest) == sorted(areas)
    assert {r["day"] for r in latest} == {str(DAY0 + dt.timedelta(days=DAYS - 1))}


def test_areas_are_the_city_and_the_districts(client: httpx.Client) -> None:
    data = client.get(f"{OPEN}/areas").json()["data"]
    assert {a["area"] for a in data} == {"city"} | {d.name for d in seoul_districts()}
    mapo = next(a for a in data if a["area"] == "Mapo-gu")
    assert mapo == {
        "area": "Mapo-gu",
        "kind": "district",
        "name_ko": "마포구",
        "code": mapo["code"],
    }


@pytest.mark.parametrize(
    "path",
    [
        "/areas",
        "/figures?per_page=30&page=2",
        "/figures/latest",
        f"/revisions?day={DAY0}&area=city",
        "/breakdowns/district_age",
        "/bulk/figures",
    ],
)
def test_json_and_csv_hold_the_same_rows(client: httpx.Client, path: str) -> None:
    sep = "&" if "?" in path else "?"
    as_json = client.get(f"{OPEN}{path}{sep}format=json")
    as_csv = client.get(f"{OPEN}{path}{sep}format=csv")
    assert as_json.status_code == as_csv.status_code == 200
    assert as_json.headers["content-type"] == "application/json"
    assert as_csv.headers["content-type"] == "text/csv; charset=utf-8"
    rows = as_json.json()["data"]
    assert rows, path
    assert _csv(as_csv) == _as_cells(rows)
    assert as_csv.text.splitlines()[0].split(",") == list(rows[0])


def test_licence_in_every_json_answer_and_csv_header(client: httpx.Client) -> None:
    for path in ("/areas", "/figures", "/figures/latest", "/breakdowns/district_age"):
        body = client.get(f"{OPEN}{path}").json()
        assert body["licence"]["url"] == LICENCE_URL
        assert body["licence"]["spdx"] == "CC-BY-4.0"
        assert body["licence"]["attribution"] == "epicity / Seoul"
        assert body["publication"]["as_of"] == str(DAY0 + dt.timedelta(days=DAYS - 1))
        csv_answer = client.get(f"{OPEN}{path}", params={"format": "csv"})
        assert f'<{LICENCE_URL}>; rel="license"' in csv_answer.headers["Link"]


def test_bulk_download_is_an_attachment(client: httpx.Client) -> None:
    r = client.get(f"{OPEN}/bulk/figures")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    as_of = DAY0 + dt.timedelta(days=DAYS - 1)
    assert r.headers["Content-Disposition"] == (
        f'attachment; filename="epicity-seoul-figures-{as_of}.csv"'
    )
    whole = client.get(f"{OPEN}/figures", params={"per_page": 1000, "format": "csv"})
    assert r.text == whole.text
    j = client.get(f"{OPEN}/bulk/figures", params={"format": "json"})
    assert j.headers["Content-Disposition"].endswith('.json"')


def test_conditional_requests(client: httpx.Client, open_live: LiveService) -> None:
    url = f"{OPEN}/figures?area=city"
    first = client.get(url)
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert etag.startswith('"p'), "strong: not W/"
    assert email.utils.parsedate_to_datetime(modified) == PUBLISHED_AT
    assert "public" in first.headers["Cache-Control"]
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["ETag"] == etag
    assert client.get(url, headers={"If-None-Match": '"p0-other"'}).status_code == 200
    assert client.get(url, headers={"If-Modified-Since": modified}).status_code == 304
    earlier = email.utils.format_datetime(PUBLISHED_AT - dt.timedelta(hours=1), usegmt=True)
    assert client.get(url, headers={"If-Modified-Since": earlier}).status_code == 200
    # another query is another answer, with another ETag
    other = client.get(f"{OPEN}/figures?area=Mapo-gu")
    assert other.headers["ETag"] != etag
    head = client.head(url)
    assert head.status_code == 200
    assert head.headers["ETag"] == etag
    assert head.content == b""
    hits = open_live.app.state.open_api.cache.hits
    client.get(url)
    assert open_live.app.state.open_api.cache.hits == hits + 1, "served from the cache"


def test_cors_for_read_only_use(client: httpx.Client) -> None:
    origin = {"Origin": "https://news.example.org"}
    pre = client.options(
        f"{OPEN}/figures",
        headers={
            **origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "if-none-match",
        },
    )
    assert pre.status_code == 204
    assert pre.headers["Access-Control-Allow-Origin"] == "*"
    assert set(pre.headers["Access-Control-Allow-Methods"].split(", ")) == {
        "GET",
        "HEAD",
        "OPTIONS",
    }
    assert "If-None-Match" in pre.headers["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Credentials" not in pre.headers
    r = client.get(f"{OPEN}/figures", headers=origin)
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert "ETag" in r.headers["Access-Control-Expose-Headers"]
    assert "Access-Control-Allow-Credentials" not in r.headers
    bad = client.get(f"{OPEN}/figures?per_page=0", headers=origin)
    assert bad.status_code == 422
    assert bad.headers["Access-Control-Allow-Origin"] == "*", "errors are readable too"
    # only the open API: the staff API is not for other sites
    staff = client.get("/api/v1/cases", headers=origin)
    assert "Access-Control-Allow-Origin" not in staff.headers
    assert client.options("/api/v1/cases", headers=origin).status_code == 405
    # read-only: no writing method is allowed
    assert client.post(f"{OPEN}/figures").status_code == 405


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("/figures?start=2020-02-30", "start"),
        ("/figures?end=yesterday", "end"),
        ("/figures?start=2020-03-05&end=2020-03-01", "start"),
        ("/figures?area=Atlantis", "area"),
        ("/figures?area=" + "x" * 41, "area"),
        ("/figures?per_page=0", "per_page"),
        ("/figures?per_page=1001", "per_page"),
        ("/figures?page=0", "page"),
        ("/figures?format=xml", "format"),
        ("/revisions?area=city", "day"),
        ("/revisions?day=2020-03-01&area=Nowhere", "area"),
        ("/breakdowns/district_age?day=2020-13-01", "day"),
    ],
)
def test_bad_input_is_refused_naming_the_field(
    client: httpx.Client, query: str, field: str
) -> None:
    r = client.get(f"{OPEN}{query}")
    assert r.status_code == 422, r.text
    assert field in {e["field"] for e in r.json()["errors"]}, r.text
    assert r.json()["detail"].startswith(field) or f"; {field}:" in r.json()["detail"]


def test_unknown_breakdown_is_not_found(client: httpx.Client) -> None:
    assert client.get(f"{OPEN}/breakdowns/district_sex").status_code == 422


def test_small_counts_stay_suppressed(client: httpx.Client) -> None:
    body = client.get(f"{OPEN}/breakdowns/district_age").json()
    cells = body["data"]
    assert cells
    hidden = [c for c in cells if c["value"] is None]
    assert hidden, "the lone case's cell and its complements are hidden"
    assert all(c["suppressed"] for c in hidden)
    lone = [c for c in cells if (c["district"], c["age_band"]) == LONE]
    assert lone
    assert lone[0]["value"] is None
    # not in the CSV either, in any form
    rows = _csv(client.get(f"{OPEN}/breakdowns/district_age", params={"format": "csv"}))
    lone_csv = [r for r in rows if (r["district"], r["age_band"]) == LONE]
    assert lone_csv[0]["value"] == ""
    # The district's total (1, as in its daily figures) is public, but not the age: every
    # shown age cell of the district is 0 and at least two are hidden, so the lone case may
    # be in any of them.
    row = [c for c in cells if c["district"] == LONE[0] and c["age_band"] != "all"]
    assert all(c["value"] == 0 for c in row if c["value"] is not None)
    assert sum(c["value"] is None for c in row) >= 2


def test_the_openapi_page_lists_the_open_api(open_live: LiveService) -> None:
    spec = httpx.get(f"{open_live.url}/openapi.json").json()
    paths = {p for p in spec["paths"] if p.startswith(OPEN)}
    assert {f"{OPEN}/figures", f"{OPEN}/bulk/figures", f"{OPEN}/areas"} <= paths
