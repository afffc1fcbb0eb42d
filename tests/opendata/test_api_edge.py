"""The open API's edge without a server: token buckets, conditional requests, the response
cache, settings from the environment, and the middleware on a bare ASGI app."""

from __future__ import annotations

import asyncio
import email.utils

import pytest

from epicity.opendata.api_edge import (
    CachedAnswer,
    OpenApiConfig,
    OpenApiEdge,
    OpenApiMiddleware,
    ResponseCache,
    TokenBuckets,
    not_modified,
)


def test_bucket_allows_the_burst_then_the_rate() -> None:
    buckets = TokenBuckets(rate=2.0, burst=3)
    taken = [buckets.take("a", now=100.0) for _ in range(4)]
    assert [t.allowed for t in taken] == [True, True, True, False]
    assert [t.remaining for t in taken[:3]] == [2, 1, 0]
    assert taken[3].retry_after == 1  # one token comes back in 0.5 s: rounded up to 1 s
    assert taken[3].reset == 2  # 3 tokens at 2/s
    assert buckets.take("b", now=100.0).allowed, "each client has its own bucket"
    assert buckets.take("a", now=100.5).allowed, "refilled at the rate"
    assert not buckets.take("a", now=100.6).allowed


def test_bucket_never_holds_more_than_the_burst_and_forgets_full_buckets() -> None:
    buckets = TokenBuckets(rate=1.0, burst=2)
    buckets.take("a", now=0.0)
    assert [buckets.take("a", now=1000.0).allowed for _ in range(3)] == [True, True, False]
    buckets.take("b", now=1000.0)
    assert len(buckets) == 2
    buckets.take("c", now=2000.0)  # past PRUNE_EVERY: a and b have refilled, forgotten
    assert len(buckets) == 1


def test_no_limit_when_the_rate_is_zero() -> None:
    buckets = TokenBuckets(rate=0.0, burst=1)
    assert all(buckets.take("a", now=0.0).allowed for _ in range(100))


def _answer(body: bytes = b"{}", publication: int = 3, **extra: bytes) -> CachedAnswer:
    headers = [
        (b"content-type", b"application/json"),
        (b"x-epicity-publication", b"%d" % publication),
    ]
    headers += [(k.replace("_", "-").encode(), v) for k, v in extra.items()]
    return CachedAnswer.from_route(headers, body)


def test_etag_is_strong_names_the_publication_and_follows_the_body() -> None:
    a = _answer(b"[1]", publication=3)
    assert a.etag.startswith(b'"p3-')
    assert a.etag.endswith(b'"')
    assert (b"etag", a.etag) in a.headers
    assert all(k != b"x-epicity-publication" for k, _ in a.headers), "internal header leaked"
    assert _answer(b"[1]", publication=3).etag == a.etag
    assert _answer(b"[2]", publication=3).etag != a.etag
    assert _answer(b"[1]", publication=4).etag != a.etag


def test_conditional_rules() -> None:
    published = email.utils.format_datetime(
        email.utils.parsedate_to_datetime("Tue, 03 Mar 2020 10:00:00 GMT"), usegmt=True
    ).encode()
    a = _answer(last_modified=published)
    assert not_modified(a, a.etag, None)
    assert not_modified(a, b'"other", ' + a.etag, None)
    assert not_modified(a, b"W/" + a.etag, None), "If-None-Match compares weakly"
    assert not_modified(a, b"*", None)
    assert not not_modified(a, b'"other"', None)
    assert not_modified(a, None, published)
    assert not_modified(a, None, b"Wed, 04 Mar 2020 00:00:00 GMT")
    assert not not_modified(a, None, b"Mon, 02 Mar 2020 00:00:00 GMT")
    assert not not_modified(a, None, b"not a date")
    # If-None-Match decides when present, even when If-Modified-Since would match.
    assert not not_modified(a, b'"other"', published)
    assert not not_modified(_answer(), None, published), "no Last-Modified: never by date"


def test_cache_evicts_least_recently_used_and_old_publications() -> None:
    one = _answer(b"x" * 1000)
    cache = ResponseCache(max_bytes=4 * one.size + 10)
    for i in range(4):
        cache.put(("/p", b"%d" % i, 3), _answer(b"x" * 1000))
    assert cache.get(("/p", b"0", 3), now=0.0) is not None  # 0 is now the most recent
    cache.put(("/p", b"4", 3), _answer(b"x" * 1000))
    assert cache.get(("/p", b"1", 3), now=0.0) is None, "least recently used went first"
    assert cache.get(("/p", b"0", 3), now=0.0) is not None
    assert cache.size <= cache.max_bytes
    cache.put(("/p", b"big", 3), _answer(b"x" * cache.max_bytes))
    assert cache.get(("/p", b"big", 3), now=0.0) is None, "too large to keep"
    cache.put(("/p", b"new", 4), _answer(publication=4))
    cache.drop_older_than(4)
    assert len(cache) == 1


def test_cached_answer_expires_by_the_clock() -> None:
    a = _answer(x_epicity_expires=b"1000.5")
    assert a.fresh(1000.0)
    assert not a.fresh(1000.5)
    assert all(k != b"x-epicity-expires" for k, _ in a.headers)


def test_config_from_environment() -> None:
    assert OpenApiConfig.from_env({}) == OpenApiConfig()
    config = OpenApiConfig.from_env(
        {
            "EPICITY_OPEN_API_RATE": "2.5",
            "EPICITY_OPEN_API_BURST": "5",
            "EPICITY_OPEN_API_CACHE": "0",
        }
    )
    assert (config.rate, config.burst, config.cache) == (2.5, 5, False)
    for env, named in (
        ({"EPICITY_OPEN_API_RATE": "fast"}, "EPICITY_OPEN_API_RATE"),
        ({"EPICITY_OPEN_API_RATE": "-1"}, "EPICITY_OPEN_API_RATE"),
        ({"EPICITY_OPEN_API_RATE": "inf"}, "EPICITY_OPEN_API_RATE"),
        ({"EPICITY_OPEN_API_BURST": "0"}, "EPICITY_OPEN_API_BURST"),
        ({"EPICITY_OPEN_API_CACHE": "maybe"}, "EPICITY_OPEN_API_CACHE"),
    ):
        with pytest.raises(ValueError, match=named):
            OpenApiConfig.from_env(env)


# ------------------------------------------------------------------------------------------
# the middleware around a bare ASGI app that counts its calls


class _Route:
    """An ASGI app answering like an open API route (publication 7), counting calls."""

    def __init__(self) -> None:
        self.calls = 0
        self.publication = 7

    async def __call__(self, scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        self.calls += 1
        body = b'{"n": %d}' % self.publication
        if scope["path"].endswith("/missing"):
            await send({"type": "http.response.start", "status": 404, "headers": []})  # type: ignore[operator]
            await send({"type": "http.response.body", "body": b"{}"})  # type: ignore[operator]
            return
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % len(body)),
            (b"x-epicity-publication", b"%d" % self.publication),
            (b"last-modified", b"Tue, 03 Mar 2020 10:00:00 GMT"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": body})  # type: ignore[operator]


def _call(
    app: OpenApiMiddleware, path: str, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, dict[bytes, bytes], bytes]:
    sent: list[dict] = []  # type: ignore[type-arg]
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": b"a=1",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": ("192.0.2.1", 5000),
    }

    async def receive() -> dict:  # type: ignore[type-arg]
        return {"type": "http.request", "body": b""}

    async def send(message: dict) -> None:  # type: ignore[type-arg]
        sent.append(message)

    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    start = sent[0]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], dict(start["headers"]), body


def _edge(route: _Route, **config: object) -> OpenApiEdge:
    async def probe() -> int:
        return route.publication

    return OpenApiEdge(OpenApiConfig(**config), probe)  # type: ignore[arg-type]


def test_middleware_caches_answers_until_a_new_publication() -> None:
    route = _Route()
    edge = _edge(route, refresh=0.0)
    app = OpenApiMiddleware(route, edge)  # type: ignore[arg-type]
    status, headers, body = _call(app, "/api/open/v1/x")
    assert (status, body, route.calls) == (200, b'{"n": 7}', 1)
    assert headers[b"access-control-allow-origin"] == b"*"
    assert b"x-epicity-publication" not in headers
    etag = headers[b"etag"]
    assert _call(app, "/api/open/v1/x")[2] == body
    assert route.calls == 1, "the second answer came from the cache"
    status, headers, body = _call(app, "/api/open/v1/x", headers={"If-None-Match": etag.decode()})
    assert (status, body) == (304, b"")
    assert headers[b"etag"] == etag
    assert b"content-length" not in headers
    status, _, body = _call(app, "/api/open/v1/x", method="HEAD")
    assert (status, body) == (200, b"")
    route.publication = 8
    status, headers, body = _call(app, "/api/open/v1/x", headers={"If-None-Match": etag.decode()})
    assert (status, body, route.calls) == (200, b'{"n": 8}', 2)
    assert headers[b"etag"] != etag


def test_middleware_without_cache_still_answers_conditionally() -> None:
    route = _Route()
    app = OpenApiMiddleware(route, _edge(route, cache=False))  # type: ignore[arg-type]
    etag = _call(app, "/api/open/v1/x")[1][b"etag"].decode()
    assert _call(app, "/api/open/v1/x", headers={"If-None-Match": etag})[0] == 304
    assert route.calls == 2


def test_middleware_leaves_other_paths_and_errors_alone() -> None:
    route = _Route()
    app = OpenApiMiddleware(route, _edge(route, rate=1.0, burst=1))  # type: ignore[arg-type]
    for _ in range(3):
        status, headers, _ = _call(app, "/api/v1/cases")
        assert status == 200
        assert b"access-control-allow-origin" not in headers
    status, headers, _ = _call(app, "/api/open/v1/missing")
    assert status == 404
    assert headers[b"access-control-allow-origin"] == b"*"
    status, headers, body = _call(app, "/api/open/v1/missing")
    assert status == 429
    assert headers[b"retry-after"] == b"1"
    assert b"rate limit" in body
    assert headers[b"access-control-allow-origin"] == b"*"
    status, headers, _ = _call(app, "/api/open/v1/x", method="OPTIONS")
    assert status == 204, "preflights are not counted"
    assert headers[b"access-control-allow-methods"] == b"GET, HEAD, OPTIONS"
    assert b"access-control-allow-credentials" not in headers
