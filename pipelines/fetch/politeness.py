"""What site owners ask of a fetcher, as small pieces `client.Fetcher` consults per request.

* `OptOutList`: the run's opt-out file (URLs or domains); a match is refused before any request.
* `RobotsRules`: one host's robots.txt for our user agent, parsed by Protego (RFC 9309: ``*`` and
  ``$`` wildcards, the longest matching rule wins, Allow wins a tie; also ``Crawl-delay`` and
  ``Request-rate``), with RFC 9309's rules for a robots.txt that is missing (4xx: allow all) or
  unreachable (5xx, network errors: disallow all). The standard library's `RobotFileParser` knows
  no wildcards and takes the first matching rule, so ``Disallow: /*.jpg$`` allowed every JPEG.
* `noai_in`: whether ``X-Robots-Tag`` headers opt a response out of AI use.
* `HostPacer`: a minimum interval between requests to one host (``per_host_rate``, or the host's
  own ``Crawl-delay`` when that is slower).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import fsspec
from protego import Protego

from pipelines.fetch.reasons import HTTP_REASON

NOAI_TOKENS = frozenset({"noai", "noimageai"})
# X-Robots-Tag directives that carry a value after a colon; any other "word:" prefix names a user agent
_VALUED_DIRECTIVES = frozenset({"unavailable_after", "max-snippet", "max-image-preview", "max-video-preview"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
ADDRESS_REASONS = frozenset({"refused_address", "dns"})  # facts about the host, not about robots.txt


def product_token(user_agent: str) -> str:
    """The name robots.txt and X-Robots-Tag address us by: ``vlmdata/0.1 (+...)`` -> ``vlmdata``."""
    return user_agent.split("/", 1)[0].strip().split(" ", 1)[0].lower()


# --- opt-out list --------------------------------------------------------------------------------


def _url_key(url: str) -> str | None:
    """`url` without scheme, fragment and default port, host in lower case; None if it does not parse.

    The scheme is left out on purpose: an owner who opts out https://x/a.jpg means the image.
    """
    try:
        parts = urlsplit(url.strip())
        host, port = (parts.hostname or "").rstrip("."), parts.port
    except ValueError:
        return None
    if not host:
        return None
    netloc = host if port in (None, _DEFAULT_PORTS.get(parts.scheme.lower())) else f"{host}:{port}"
    return netloc + (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


@dataclass(frozen=True)
class OptOutList:
    """URLs and domains whose images must not be fetched; a domain covers its subdomains."""

    urls: frozenset[str] = frozenset()
    domains: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, lines: Iterable[str], source: str = "opt-out list") -> OptOutList:
        """One entry a line: a URL (``https://x.org/a.jpg``, or ``x.org/a.jpg``) or a domain
        (``x.org``, ``*.x.org`` and ``.x.org`` mean the same); ``#`` comments and blank lines skipped."""
        urls, domains = set(), set()
        for number, line in enumerate(lines, 1):
            entry = line.split("#", 1)[0].strip()
            if not entry:
                continue
            if "://" in entry or "/" in entry:
                key = _url_key(entry if "://" in entry else f"http://{entry}")
                if key is None or " " in entry:
                    raise ValueError(f"{source} line {number}: {entry!r} is not a URL or a domain")
                urls.add(key)
            else:
                domain = entry.lower().lstrip("*").strip(".")
                if not domain or " " in domain or ":" in domain:
                    raise ValueError(f"{source} line {number}: {entry!r} is not a URL or a domain")
                domains.add(domain)
        return cls(frozenset(urls), frozenset(domains))

    @classmethod
    def load(cls, path: str) -> OptOutList:
        """Read the list from a local path or any fsspec URL (``s3://...``, ``hf://...``)."""
        with fsspec.open(path, "rt", encoding="utf-8") as file:
            return cls.parse(file, source=path)

    def __len__(self) -> int:
        return len(self.urls) + len(self.domains)

    def matches(self, url: str) -> bool:
        """Whether `url` is listed, or its host is a listed domain or one of its subdomains."""
        key = _url_key(url)
        if key is None:
            return False
        if key in self.urls:
            return True
        labels = key.split("/", 1)[0].rsplit(":", 1)[0].split(".")
        return any(".".join(labels[i:]) in self.domains for i in range(len(labels)))


# --- robots.txt ----------------------------------------------------------------------------------


class RobotsRules:
    """One host's robots.txt as it applies to us; `verdict` says where the answer came from:
    ``parsed`` (a 2xx body), ``missing`` (4xx or a redirect chain too long: allow all) or
    ``unreachable`` (5xx, 429, network failures: disallow all), RFC 9309 section 2.3.1."""

    def __init__(self, verdict: str, text: str = "", failure: str | None = None) -> None:
        self.verdict = verdict
        self.failure = failure  # why the fetch of robots.txt failed, if it did
        self._parser = Protego.parse(text) if verdict == "parsed" else None

    @classmethod
    def from_outcome(cls, failure: str | None, body: bytes | None) -> RobotsRules:
        """The rules for a robots.txt fetch that gave `body`, or failed with reason `failure`."""
        if failure is None:
            return cls("parsed", (body or b"").decode("utf-8", errors="replace"))
        if failure == "too_many_redirects":
            return cls("missing", failure=failure)
        if HTTP_REASON.fullmatch(failure) and failure.startswith("http_4") and failure != "http_429":
            return cls("missing", failure=failure)
        return cls("unreachable", failure=failure)

    def refusal(self) -> str:
        """The reason a URL this host's rules disallow fails with: ``robots``, or the host's own
        address failure (``refused_address``, ``dns``) when that is why robots.txt was unreachable."""
        return self.failure if self.failure in ADDRESS_REASONS else "robots"

    def allows(self, agent: str, url: str) -> bool:
        """Whether product token `agent` (see `product_token`) may fetch `url`."""
        if self._parser is None:
            return self.verdict == "missing"
        return self._parser.can_fetch(url, agent)

    def delay(self, agent: str) -> float | None:
        """Seconds the host asks between our requests (``Crawl-delay``, or ``Request-rate: n/s``
        as s/n seconds; the slower of the two), or None when it asks nothing."""
        if self._parser is None:
            return None
        asked = [self._parser.crawl_delay(agent)]
        rate = self._parser.request_rate(agent)
        if rate is not None and rate.requests > 0:
            asked.append(rate.seconds / rate.requests)
        asked = [float(a) for a in asked if a is not None and float(a) > 0]
        return max(asked) if asked else None


# --- X-Robots-Tag --------------------------------------------------------------------------------


def noai_in(values: Iterable[str], agent: str) -> bool:
    """Whether X-Robots-Tag header `values` opt out of AI use for product token `agent`.

    ``noai`` / ``noimageai`` count when they stand alone (``X-Robots-Tag: noindex, noai``) or
    follow our own name (``X-Robots-Tag: vlmdata: noai``), case-insensitively; directives
    addressed to another crawler (``otherbot: noai``) do not apply to us.
    """
    agent = agent.lower()
    for value in values:
        text = value.strip().lower()
        prefix, colon, rest = text.partition(":")
        if colon and prefix.strip() not in _VALUED_DIRECTIVES and " " not in prefix.strip():
            if prefix.strip() != agent:
                continue
            text = rest
        if any(directive.strip() in NOAI_TOKENS for directive in text.split(",")):
            return True
    return False


# --- per-host rate -------------------------------------------------------------------------------


class HostPacer:
    """Spaces requests to one host at least ``1 / rate`` seconds apart (None or 0: no limit), or
    further apart for a host that asked for more (`slow_down`, from its ``Crawl-delay``).

    Each request books the next free send time of its host, so waiters go out in arrival order
    and N requests take at least (N - 1) * interval seconds; other hosts are not held up.
    """

    def __init__(self, rate: float | None) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self._host_interval: dict[str, float] = {}  # hosts that asked for more than `interval`
        self._next: dict[str, float] = {}

    def slow_down(self, host: str, seconds: float) -> None:
        """Space `host`'s requests at least `seconds` apart from now on (never faster than the rate)."""
        if seconds > self.interval:
            self._host_interval[host] = seconds

    def interval_for(self, host: str) -> float:
        return self._host_interval.get(host, self.interval)

    async def wait(self, host: str) -> None:
        interval = self._host_interval.get(host, self.interval)
        if not interval:
            return
        now = time.monotonic()
        start = max(now, self._next.get(host, now))
        self._next[host] = start + interval
        if start > now:
            await asyncio.sleep(start - now)
