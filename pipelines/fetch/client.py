"""The fetcher: polite, bounded, SSRF-safe HTTP GETs with aiohttp, one `FetchResult` per URL.

Each URL ends either with a body or with exactly one failure reason from `reasons` (timeout, dns,
refused_address, scheme, invalid_url, connection, http_<status>, too_large, truncated,
too_many_redirects, robots, noai, opt_out), so a stage can count failures by class.

Politeness, per hop (the URL and every redirect target): an opt-out match fails before any
lookup or request; then the host's robots.txt is consulted, fetched once per origin by this same
fetcher (same address policy, redirects, retries and per-host rate) and cached for the fetcher's
life; requests to one host are spaced by `per_host_rate`; a response with
`X-Robots-Tag: noai`/`noimageai` is dropped unread.

What it guarantees: concurrency bounded overall and per host; connect/total timeouts per request
and a per-URL deadline (the straggler cut-off); bodies streamed under a byte cap (also without a
Content-Length, or when the body never ends); redirects followed by hand, each hop's host checked
by the address policy again; retries with exponential backoff on 429/503 (honouring Retry-After,
capped) and on connection errors and timeouts; other statuses are final. aiohttp connects only to
the address `Resolver` checked: the connector's resolver IS our resolver (`CheckedResolver`).
"""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from pipelines.fetch.politeness import HostPacer, OptOutList, RobotsRules, noai_in, product_token
from pipelines.fetch.reasons import http_reason
from pipelines.fetch.resolver import AddressPolicy, FetchAddressError, Resolver
from schemas.retry import RetryPolicy, parse_retry_after

RETRY_STATUSES = frozenset({429, 503})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
DEFAULT_USER_AGENT = "vlmdata/0.1 (+https://github.com/vlmdata)"
_CHUNK = 64 * 1024


@dataclass
class FetchConfig:
    """Everything the fetcher is told; one object so a stage passes it through unchanged."""

    concurrency: int = 64  # requests in flight overall
    per_host: int = 4  # requests in flight per host (URL host name, before overrides)
    connect_timeout: float = 10.0  # seconds to open a connection
    total_timeout: float = 30.0  # seconds for one request, headers and body
    deadline: float = 120.0  # seconds for one URL, retries and backoff included (straggler cut-off)
    max_bytes: int = 20 * 1024 * 1024  # body cap; more is `too_large`
    max_redirects: int = 5
    max_attempts: int = 3  # tries per hop for retryable failures (429, 503, connection, timeout)
    backoff_base: float = 0.5  # first backoff in seconds, doubled per retry
    backoff_max: float = 10.0
    retry_after_max: float = 30.0  # a larger Retry-After is cut to this
    user_agent: str = DEFAULT_USER_AGENT  # robots.txt and X-Robots-Tag match its first word
    allow_private: bool = False  # let URLs reach private/loopback addresses (never for crawls)
    resolver_override: dict[str, tuple[str, int]] = field(default_factory=dict)  # tests and demo
    # https URLs of an overridden host are requested over plain HTTP (the local server speaks no
    # TLS); results keep the original URL
    override_plain_http: bool = False
    dns_ttl: float = 300.0
    respect_robots: bool = True  # consult each host's robots.txt (fetched once per origin)
    per_host_rate: float | None = None  # requests per second per host; None: only `per_host` bounds it
    # a host's robots.txt Crawl-delay (or Request-rate) slower than `per_host_rate` paces that host,
    # up to this many seconds between requests; a host asking more is paced at this and counted
    max_crawl_delay: float = 10.0
    opt_out: OptOutList | None = None  # URLs and domains never requested (reason opt_out)


@dataclass(slots=True)
class FetchResult:
    """What fetching one URL gave: the body, or the reason there is none."""

    url: str
    final_url: str
    status: int | None = None
    content_type: str | None = None
    body: bytes | None = None
    failure: str | None = None
    attempts: int = 0  # requests sent for this URL: retries and redirect hops included
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return self.failure is None


class _Failure(Exception):
    """One try ended without a body; `retry_after` is set when the failure may be retried."""

    def __init__(self, reason: str, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after  # None: final; 0: retry after backoff; > 0: server asked


class CheckedResolver(AbstractResolver):
    """aiohttp's resolver, answering with the address our `Resolver` checked (and the override's port).

    aiohttp's TCPConnector connects to `host`/`port` of what this returns, so the connection goes to
    the checked address and never to a second DNS answer.
    """

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        address = await self.resolver.resolve(host, port)
        return [
            ResolveResult(
                hostname=host,
                host=address.ip,
                port=address.port,
                family=address.family,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
        ]

    async def close(self) -> None:
        pass


class Fetcher:
    """Fetches URLs under one `FetchConfig`; use as `async with Fetcher(config) as fetcher:`.

    `resolver` replaces the one built from the config (tests pass one with a fake lookup).
    """

    def __init__(self, config: FetchConfig | None = None, resolver: Resolver | None = None) -> None:
        self.config = config or FetchConfig()
        self.resolver = resolver or Resolver(
            AddressPolicy(self.config.allow_private), self.config.resolver_override, self.config.dns_ttl
        )
        self._session: aiohttp.ClientSession | None = None
        self._slots: asyncio.Semaphore | None = None
        self._host_slots: dict[str, asyncio.Semaphore] = {}
        self._pacer = HostPacer(self.config.per_host_rate)
        self._agent = product_token(self.config.user_agent)
        self._robots: dict[str, asyncio.Task[RobotsRules]] = {}  # origin -> its rules, fetched once
        # host -> (seconds its robots.txt asked between requests, seconds applied after the cap)
        self.crawl_delays: dict[str, tuple[float, float]] = {}
        self._rng = random.Random()
        # the deadline is enforced around the whole URL (`fetch`), redirects included
        self._policy = RetryPolicy(
            max_attempts=self.config.max_attempts,
            backoff_s=self.config.backoff_base,
            backoff_max_s=self.config.backoff_max,
            retry_after_max_s=self.config.retry_after_max,
        )

    @property
    def robots(self) -> dict[str, RobotsRules]:
        """The robots.txt rules fetched so far, by origin (``http://host[:port]``)."""
        return {
            origin: task.result()
            for origin, task in self._robots.items()
            if task.done() and not task.cancelled()
        }

    async def __aenter__(self) -> Fetcher:
        cfg = self.config
        connector = aiohttp.TCPConnector(
            resolver=CheckedResolver(self.resolver),
            use_dns_cache=False,  # every connection asks CheckedResolver, which caches and checks
            limit=cfg.concurrency,
            limit_per_host=cfg.per_host,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=cfg.total_timeout, connect=cfg.connect_timeout),
            headers={"User-Agent": cfg.user_agent},
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,  # no proxy from the environment: it would connect where we did not check
        )
        self._slots = asyncio.Semaphore(cfg.concurrency)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for task in self._robots.values():
            task.cancel()
        if self._session is not None:
            await self._session.close()
        self._session = None

    async def fetch_many(self, urls: Sequence[str]) -> list[FetchResult]:
        """Fetch all `urls` concurrently (within the bounds); results in the order of `urls`.

        Every URL gets a task at once: callers hand over batches (a partition's worth), not millions.
        """
        return list(await asyncio.gather(*(self.fetch(url) for url in urls)))

    async def fetch(self, url: str, *, for_robots: bool = False) -> FetchResult:
        """Fetch one URL: a body, or a failure reason; never raises for anything the network does.

        `for_robots` fetches a robots.txt: no robots check of its own, no X-Robots-Tag check.
        """
        result = FetchResult(url=url, final_url=url)
        start = time.monotonic()
        try:
            await asyncio.wait_for(self._follow(result, for_robots), timeout=self.config.deadline)
        except asyncio.TimeoutError:
            result.failure, result.body = "timeout", None
        result.elapsed = time.monotonic() - start
        return result

    async def robots_refusal(self, url: URL) -> str | None:
        """None if `url`'s host lets us fetch it, else the failure reason (see `RobotsRules.refusal`);
        the host's robots.txt is fetched on first use and kept for the fetcher's life."""
        origin = str(url.origin())
        task = self._robots.get(origin)
        if task is None:
            task = self._robots[origin] = asyncio.get_running_loop().create_task(self._load_robots(origin))
        rules = await asyncio.shield(task)  # a waiter's deadline must not cancel the shared fetch
        return None if rules.allows(self._agent, str(url)) else rules.refusal()

    async def _load_robots(self, origin: str) -> RobotsRules:
        result = await self.fetch(f"{origin}/robots.txt", for_robots=True)
        rules = RobotsRules.from_outcome(result.failure, result.body)
        asked = rules.delay(self._agent)
        if asked is not None and asked > self._pacer.interval:
            host = URL(origin).host or ""
            applied = min(asked, self.config.max_crawl_delay)
            self._pacer.slow_down(host, applied)
            self.crawl_delays[host] = (asked, max(applied, self._pacer.interval))
        return rules

    async def _follow(self, result: FetchResult, for_robots: bool = False) -> None:
        """Fill `result` by following redirects and retrying, each hop checked again."""
        cfg = self.config
        try:
            current = URL(result.url)
        except (ValueError, TypeError):
            result.failure = "invalid_url"
            return
        hops = 0
        tries = 0  # tries of the current hop
        while True:
            result.final_url = str(current)
            try:
                if current.scheme not in ("http", "https"):
                    raise _Failure("scheme")
                if not current.host:
                    raise _Failure("invalid_url")
                if cfg.opt_out is not None and cfg.opt_out.matches(str(current)):
                    raise _Failure("opt_out")  # before any lookup or request
                await self.resolver.resolve(current.host, current.port or 0)  # refuse before any request
                if cfg.respect_robots and not for_robots:
                    refusal = await self.robots_refusal(current)
                    if refusal is not None:
                        raise _Failure(refusal)
                tries += 1
                result.attempts += 1
                location = await self._get(current, result, for_robots)
            except FetchAddressError as error:
                result.failure = error.reason
                return
            except _Failure as failure:
                result.status = failure.status if failure.status is not None else result.status
                if failure.retry_after is None or tries >= cfg.max_attempts:
                    result.failure = failure.reason
                    return
                await asyncio.sleep(self._policy.delay(tries, failure.retry_after, self._rng))
                continue
            if location is None:
                return
            hops += 1
            if hops > cfg.max_redirects:
                result.failure = "too_many_redirects"
                return
            try:
                current = current.join(URL(location))
            except (ValueError, TypeError):
                result.failure = "invalid_url"
                return
            tries = 0

    def _host_slot(self, host: str) -> asyncio.Semaphore:
        slot = self._host_slots.get(host)
        if slot is None:
            slot = self._host_slots[host] = asyncio.Semaphore(self.config.per_host)
        return slot

    async def _get(self, url: URL, result: FetchResult, for_robots: bool = False) -> str | None:
        """One GET: fills `result` and returns None, or returns a redirect's Location; raises `_Failure`."""
        if self._session is None or self._slots is None:
            raise RuntimeError("Fetcher used outside `async with Fetcher(config) as fetcher`")
        host = url.host or ""
        async with self._host_slot(host):  # host first: a busy or paced host holds no global slot
            await self._pacer.wait(host)
            async with self._slots:
                return await self._request(url, result, for_robots)

    async def _request(self, url: URL, result: FetchResult, for_robots: bool) -> str | None:
        """Send the GET for `url` (on its slots) and read the answer; network errors become `_Failure`."""
        assert self._session is not None
        try:
            target = url
            if (
                self.config.override_plain_http
                and url.scheme == "https"
                and self.resolver.override_for(url.host or "") is not None
            ):
                target = url.with_scheme("http")
            async with self._session.get(target, allow_redirects=False) as response:
                return await self._read(response, result, for_robots)
        except _Failure:
            raise
        except aiohttp.ClientConnectorDNSError as error:
            if isinstance(error.os_error, FetchAddressError):  # the connector's own check refused it
                raise type(error.os_error)(str(error.os_error)) from error
            raise _Failure("dns") from error
        except (asyncio.TimeoutError, aiohttp.ServerTimeoutError) as error:
            raise _Failure("timeout", retry_after=0) from error
        except aiohttp.ClientPayloadError as error:
            reason = _payload_reason(error)  # a reset mid-body is retried, a short body is final
            raise _Failure(reason, retry_after=0 if reason == "connection" else None) from error
        except (aiohttp.ClientError, OSError) as error:
            raise _Failure("connection", retry_after=0) from error

    async def _read(
        self, response: aiohttp.ClientResponse, result: FetchResult, for_robots: bool = False
    ) -> str | None:
        cfg = self.config
        status = response.status
        result.status = status
        result.content_type = response.headers.get("Content-Type")
        if status in REDIRECT_STATUSES and "Location" in response.headers:
            return response.headers["Location"]
        if status in RETRY_STATUSES:
            wait = parse_retry_after(response.headers.get("Retry-After"))
            raise _Failure(http_reason(status), status, retry_after=wait or 0)
        if not 200 <= status < 300:
            raise _Failure(http_reason(status), status)
        if not for_robots and noai_in(response.headers.getall("X-Robots-Tag", []), self._agent):
            response.close()  # do not download what we may not use
            raise _Failure("noai", status)
        length = response.content_length
        if length is not None and length > cfg.max_bytes:
            response.close()
            raise _Failure("too_large", status)
        body = bytearray()
        async for chunk in response.content.iter_chunked(_CHUNK):
            body += chunk
            if len(body) > cfg.max_bytes:
                response.close()  # cut the connection: an endless body would never drain
                raise _Failure("too_large", status)
        if length is not None and len(body) < length:
            raise _Failure("truncated", status)
        result.body = bytes(body)
        return None


def _payload_reason(error: aiohttp.ClientPayloadError) -> str:
    """`truncated` when the server closed cleanly short of Content-Length, `connection` when it reset."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ConnectionResetError | BrokenPipeError):
            return "connection"
        cause = cause.__cause__ or cause.__context__
    return "connection" if "reset" in str(error).lower() else "truncated"


def fetch_all(urls: Sequence[str], config: FetchConfig | None = None) -> list[FetchResult]:
    """Fetch `urls` from synchronous code (a datatrove step) in a fresh event loop; results in order."""

    async def run() -> list[FetchResult]:
        async with Fetcher(config) as fetcher:
            return await fetcher.fetch_many(urls)

    return asyncio.run(run())
