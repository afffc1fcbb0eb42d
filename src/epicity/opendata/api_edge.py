"""The open API's HTTP edge (`/api/open/` only): CORS, the per-client rate limit, conditional
requests (ETag / Last-Modified, 304) and the in-process response cache.

One ASGI middleware, `OpenApiMiddleware`, in front of the routes of `epicity.opendata.api`,
so that a cached answer costs a dict lookup and an ETag comparison, without routing,
parameter parsing or a database session:

- **CORS** for read-only use from any web page: ``Access-Control-Allow-Origin: *`` on every
  answer (errors and 429s included, so a page can read them), preflights (OPTIONS) answered
  here for GET and HEAD with the conditional headers; never credentials.
- **Rate limit**: a token bucket per client (the connection's IP address; behind a proxy,
  run uvicorn with ``--proxy-headers --forwarded-allow-ips`` so it is the client's): `rate`
  requests a second on average, `burst` at once. Over it: 429 with ``Retry-After``; every
  answer carries ``RateLimit-Limit``, ``RateLimit-Remaining``, ``RateLimit-Reset`` and
  ``RateLimit-Policy`` (IETF httpapi draft). The buckets live in the worker process, so N
  workers allow up to N times the rate to a client whose requests spread over them; a
  deployment that needs one exact limit sets it in its proxy (e.g. nginx ``limit_req``) and
  ``EPICITY_OPEN_API_RATE=0`` here.
- **Conditional requests**: an answer of a route (status 200 with the internal
  ``x-epicity-publication`` header) gets a strong ETag, ``"p<publication id>-<hash of the
  body>"``: a new publication always changes it, and equal ETags mean equal bytes. A request
  whose ``If-None-Match`` matches (or, without one, whose ``If-Modified-Since`` is not older
  than ``Last-Modified``) gets 304.
- **Response cache**: answers keyed on (path, query string, latest publication id), least
  recently used first out past `cache_bytes`. The latest publication id is read from the
  database at most once every `refresh` seconds per worker, so a new publication is served
  at most `refresh` seconds (default 1 s) after it is committed. An answer may also say until
  when it holds (``x-epicity-expires``, a Unix time: the notices, which expire by the clock).

Settings (environment, read when the app is created):

=============================  ===========================================================
``EPICITY_OPEN_API_RATE``      requests a second per client (default 10; 0: no limit)
``EPICITY_OPEN_API_BURST``     requests at once per client (default 100)
``EPICITY_OPEN_API_CACHE``     1 (default) or 0: the response cache on or off
``EPICITY_OPEN_API_MAX_AGE``   ``Cache-Control: public, max-age=`` seconds (default 60)
=============================  ===========================================================
"""

from __future__ import annotations

import dataclasses
import email.utils
import hashlib
import json
import math
import os
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "PREFIX",
    "CachedAnswer",
    "OpenApiConfig",
    "OpenApiEdge",
    "OpenApiMiddleware",
    "ResponseCache",
    "TokenBuckets",
    "not_modified",
]

PREFIX = "/api/open/"
# Internal headers a route sets for the edge; stripped before the answer leaves.
PUBLICATION_HEADER = b"x-epicity-publication"
EXPIRES_HEADER = b"x-epicity-expires"
_INTERNAL = frozenset({PUBLICATION_HEADER, EXPIRES_HEADER})

CORS_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"access-control-allow-origin", b"*"),
    (
        b"access-control-expose-headers",
        b"ETag, Last-Modified, Link, Content-Disposition, Retry-After, RateLimit-Limit, "
        b"RateLimit-Remaining, RateLimit-Reset, RateLimit-Policy",
    ),
)
PREFLIGHT_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"access-control-allow-origin", b"*"),
    (b"access-control-allow-methods", b"GET, HEAD, OPTIONS"),
    (b"access-control-allow-headers", b"Accept, Accept-Language, If-None-Match, If-Modified-Since"),
    (b"access-control-max-age", b"86400"),
    (b"allow", b"GET, HEAD, OPTIONS"),
    (b"cache-control", b"public, max-age=86400"),
)
# Headers a 304 repeats (RFC 9110 15.4.5), besides CORS and rate-limit headers.
_KEPT_ON_304 = frozenset({b"etag", b"last-modified", b"cache-control", b"vary", b"link"})


@dataclass(frozen=True, slots=True)
class OpenApiConfig:
    """The edge's settings (see the module docstring for the environment variables)."""

    rate: float = 10.0  # requests a second per client; 0: no limit
    burst: int = 100
    cache: bool = True
    cache_bytes: int = 64 * 2**20
    refresh: float = 1.0  # seconds between checks of the latest publication
    max_age: int = 60

    def __post_init__(self) -> None:
        if not (math.isfinite(self.rate) and self.rate >= 0):
            raise ValueError(f"rate: must be a finite number >= 0, not {self.rate}")
        if self.burst < 1:
            raise ValueError(f"burst: must be at least 1, not {self.burst}")
        if self.max_age < 0:
            raise ValueError(f"max_age: must be >= 0, not {self.max_age}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> OpenApiConfig:
        """The settings from ``EPICITY_OPEN_API_*``; a bad value raises ValueError naming it."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for name, key, kind in (
            ("EPICITY_OPEN_API_RATE", "rate", float),
            ("EPICITY_OPEN_API_BURST", "burst", int),
            ("EPICITY_OPEN_API_MAX_AGE", "max_age", int),
        ):
            text = env.get(name, "").strip()
            if text:
                try:
                    values[key] = kind(text)
                except ValueError:
                    raise ValueError(f"{name}: not a number: {text!r}") from None
        cache = env.get("EPICITY_OPEN_API_CACHE", "").strip().lower()
        if cache:
            if cache not in ("0", "1", "true", "false", "on", "off"):
                raise ValueError(f"EPICITY_OPEN_API_CACHE: 1 or 0, not {cache!r}")
            values["cache"] = cache in ("1", "true", "on")
        try:
            return cls(**values)
        except ValueError as err:  # "rate: ..." -> "EPICITY_OPEN_API_RATE: ..."
            name, _, problem = str(err).partition(": ")
            raise ValueError(f"EPICITY_OPEN_API_{name.upper()}: {problem}") from None


# ------------------------------------------------------------------------------------------
# rate limit


@dataclass(frozen=True, slots=True)
class Allowance:
    """The outcome of one request against its client's bucket."""

    allowed: bool
    remaining: int  # whole requests left in the bucket
    reset: int  # seconds until the bucket is full again
    retry_after: int  # seconds until one request is allowed (0 when allowed)


class TokenBuckets:
    """One token bucket per client key: `rate` tokens a second, at most `burst`; a request
    takes one. Buckets that have refilled are forgotten (a full bucket is a new one), so
    memory stays bounded by the clients of the last ``burst / rate`` seconds."""

    PRUNE_EVERY = 60.0  # seconds

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._pruned: float | None = None

    def take(self, key: str, now: float | None = None) -> Allowance:
        """Take a token for `key` if there is one."""
        now = time.monotonic() if now is None else now
        if self.rate <= 0:
            return Allowance(True, self.burst, 0, 0)
        tokens, at = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) * self.rate)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        self._buckets[key] = (tokens, now)
        if self._pruned is None:
            self._pruned = now
        elif now - self._pruned > self.PRUNE_EVERY:
            self._prune(now)
        return Allowance(
            allowed=allowed,
            remaining=int(tokens),
            reset=math.ceil((self.burst - tokens) / self.rate),
            retry_after=0 if allowed else max(1, math.ceil((1.0 - tokens) / self.rate)),
        )

    def _prune(self, now: float) -> None:
        self._pruned = now
        full = [
            k for k, (tokens, at) in self._buckets.items()
            if tokens + (now - at) * self.rate >= self.burst
        ]  # fmt: skip
        for key in full:
            del self._buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)


# ------------------------------------------------------------------------------------------
# conditional requests and the cache


@dataclass(slots=True)
class CachedAnswer:
    """A route's 200 answer as the edge serves it: headers (internal ones removed, ETag
    added), body, and what its validity depends on."""

    headers: list[tuple[bytes, bytes]]
    body: bytes
    etag: bytes
    last_modified: float | None  # Unix time of Last-Modified
    publication: int
    expires: float | None  # Unix time after which it must be recomputed
    size: int = field(init=False)

    def __post_init__(self) -> None:
        self.size = len(self.body) + sum(len(k) + len(v) for k, v in self.headers) + 200

    @classmethod
    def from_route(cls, headers: Iterable[tuple[bytes, bytes]], body: bytes) -> CachedAnswer:
        """From a route's 200 answer (which carries ``x-epicity-publication``)."""
        kept: list[tuple[bytes, bytes]] = []
        publication, expires, last_modified = 0, None, None
        for key, value in headers:
            lower = key.lower()
            if lower == PUBLICATION_HEADER:
                publication = int(value)
            elif lower == EXPIRES_HEADER:
                expires = float(value)
            else:
                if lower == b"last-modified":
                    last_modified = _http_time(value)
                kept.append((lower, value))
        digest = hashlib.sha256(body).hexdigest()[:20]
        etag = f'"p{publication}-{digest}"'.encode()
        kept.append((b"etag", etag))
        return cls(kept, body, etag, last_modified, publication, expires)

    def fresh(self, now: float) -> bool:
        """Whether the answer still holds by the clock (publications are checked apart)."""
        return self.expires is None or now < self.expires


def _http_time(value: bytes) -> float | None:
    try:
        parsed = email.utils.parsedate_to_datetime(value.decode("latin-1"))
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.timestamp()


def not_modified(answer: CachedAnswer, if_none_match: bytes | None, since: bytes | None) -> bool:
    """RFC 9110 13.2.2: If-None-Match decides when present (weak comparison, ``*`` matches);
    else If-Modified-Since, against Last-Modified (whole seconds)."""
    if if_none_match is not None:
        if if_none_match.strip() == b"*":
            return True
        tags = (t.strip().removeprefix(b"W/") for t in if_none_match.split(b","))
        return answer.etag in tags
    if since is not None and answer.last_modified is not None:
        when = _http_time(since)
        return when is not None and int(answer.last_modified) <= when
    return False


class ResponseCache:
    """Answers by (path, query string, publication id), least recently used evicted first
    once their total size passes `max_bytes`."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[tuple[str, bytes, int], CachedAnswer] = OrderedDict()

    def get(self, key: tuple[str, bytes, int], now: float) -> CachedAnswer | None:
        """The answer under `key` if it is still fresh."""
        answer = self._entries.get(key)
        if answer is None or not answer.fresh(now):
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return answer

    def put(self, key: tuple[str, bytes, int], answer: CachedAnswer) -> None:
        """Keep `answer` (not when larger than a quarter of the budget)."""
        if answer.size > self.max_bytes // 4:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self.size -= old.size
        self._entries[key] = answer
        self.size += answer.size
        while self.size > self.max_bytes and self._entries:
            _, dropped = self._entries.popitem(last=False)
            self.size -= dropped.size

    def drop_older_than(self, publication: int) -> None:
        """Forget answers of earlier publications (they are never asked for again)."""
        for key in [k for k in self._entries if k[2] < publication]:
            self.size -= self._entries.pop(key).size

    def clear(self) -> None:
        """Forget everything."""
        self._entries.clear()
        self.size = 0

    def __len__(self) -> int:
        return len(self._entries)


# ------------------------------------------------------------------------------------------
# the edge's state and the middleware


class OpenApiEdge:
    """The state the middleware shares across requests of one worker: settings, buckets,
    cache and the latest publication id (read through `probe` at most every `refresh` s)."""

    def __init__(self, config: OpenApiConfig, probe: Callable[[], Awaitable[int]]) -> None:
        self.probe = probe
        self.configure(config)

    def configure(self, config: OpenApiConfig) -> None:
        """Apply new settings; buckets and cache start empty."""
        self.config = config
        self.buckets = TokenBuckets(config.rate, config.burst)
        self.cache = ResponseCache(config.cache_bytes)
        self.policy = (
            f"{config.burst};w={math.ceil(config.burst / config.rate)}".encode()
            if (config.rate > 0)
            else b""
        )
        self._publication = -1
        self._checked = -math.inf

    async def publication(self) -> int:
        """The latest publication id (0: none yet), at most `refresh` seconds old."""
        now = time.monotonic()
        if now - self._checked >= self.config.refresh:
            self._checked = now  # before the await: concurrent requests use the old id
            latest = await self.probe()
            if latest != self._publication:
                self._publication = latest
                self.cache.drop_older_than(latest)
        return self._publication

    def rate_headers(self, allowance: Allowance) -> list[tuple[bytes, bytes]]:
        """RateLimit-* headers for an answer (none when there is no limit)."""
        if self.config.rate <= 0:
            return []
        return [
            (b"ratelimit-limit", str(self.config.burst).encode()),
            (b"ratelimit-remaining", str(allowance.remaining).encode()),
            (b"ratelimit-reset", str(allowance.reset).encode()),
            (b"ratelimit-policy", self.policy),
        ]


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:  # ASGI servers give header names in lower case
            return bytes(value)
    return None


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class OpenApiMiddleware:
    """ASGI middleware for `PREFIX`: CORS, rate limit, conditional requests, cache."""

    def __init__(self, app: ASGIApp, edge: OpenApiEdge) -> None:
        self.app = app
        self.edge = edge

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        if method == "OPTIONS":  # preflight: not counted, nothing to compute
            await _respond(send, 204, list(PREFLIGHT_HEADERS), b"")
            return
        edge = self.edge
        allowance = edge.buckets.take(_client(scope))
        extra = [*CORS_HEADERS, *edge.rate_headers(allowance)]
        if not allowance.allowed:
            await _too_many(send, extra, allowance, edge.config)
            return
        if method not in ("GET", "HEAD"):
            await self.app(scope, receive, _adding(send, extra))
            return
        key: tuple[str, bytes, int] | None = None
        if edge.config.cache:
            key = (scope["path"], scope["query_string"], await edge.publication())
            answer = edge.cache.get(key, time.time())
            if answer is not None:
                await _serve(scope, send, answer, extra)
                return
        await self._compute(scope, receive, send, extra, key)

    async def _compute(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        extra: list[tuple[bytes, bytes]],
        key: tuple[str, bytes, int] | None,
    ) -> None:
        """Run the route; a 200 with a publication becomes a `CachedAnswer` (kept when
        caching), served with the conditional rules; anything else passes through."""
        start: Message | None = None
        chunks: list[bytes] = []
        passing = False

        async def capture(message: Message) -> None:
            nonlocal start, passing
            if message["type"] == "http.response.start":
                headers = message.get("headers", [])
                if message["status"] == 200 and any(
                    k.lower() == PUBLICATION_HEADER for k, _ in headers
                ):
                    start = message
                    return
                passing = True
                message = {**message, "headers": [*headers, *extra]}
                await send(message)
            elif passing:
                await send(message)
            else:
                chunks.append(message.get("body", b""))

        # HEAD is answered from the GET's answer (the routes are GET routes); the server
        # still knows the request was a HEAD and sends no body.
        downstream = {**scope, "method": "GET"} if scope["method"] == "HEAD" else scope
        await self.app(downstream, receive, capture)
        if start is None:
            return
        answer = CachedAnswer.from_route(start.get("headers", []), b"".join(chunks))
        if key is not None:
            # Under the publication the route read, which may be newer than the edge's view.
            self.edge.cache.put((key[0], key[1], answer.publication), answer)
        await _serve(scope, send, answer, extra)


async def _serve(
    scope: Scope, send: Send, answer: CachedAnswer, extra: list[tuple[bytes, bytes]]
) -> None:
    if not_modified(answer, _header(scope, b"if-none-match"), _header(scope, b"if-modified-since")):
        kept = [(k, v) for k, v in answer.headers if k in _KEPT_ON_304]
        await _respond(send, 304, [*kept, *extra], b"")
        return
    body = b"" if scope["method"] == "HEAD" else answer.body
    headers = [*answer.headers, *extra]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _respond(
    send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    if status not in (204, 304):
        headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _too_many(
    send: Send, extra: list[tuple[bytes, bytes]], allowance: Allowance, config: OpenApiConfig
) -> None:
    body = json.dumps(
        {
            "detail": f"rate limit: {config.rate:g} requests a second per client, "
            f"{config.burst} at once; retry after {allowance.retry_after} s",
        }
    ).encode()
    headers = [
        *extra,
        (b"content-type", b"application/json"),
        (b"retry-after", str(allowance.retry_after).encode()),
        (b"cache-control", b"no-store"),
    ]
    await _respond(send, 429, headers, body)


def _adding(send: Send, extra: list[tuple[bytes, bytes]]) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return wrapped


def replace_config(edge: OpenApiEdge, **changes: Any) -> None:
    """Change some settings of a running edge (tests: a low rate limit)."""
    edge.configure(dataclasses.replace(edge.config, **changes))
