"""Which addresses the fetcher may connect to, and the one lookup per host that decides it (SSRF guard).

A URL from a crawl can name any host, and a host can resolve to anything: 127.0.0.1, the cloud
metadata service at 169.254.169.254, a router on 192.168.0.1. `AddressPolicy` refuses those
unless a run allows private addresses; `Resolver` looks a host up once, checks EVERY address it
got, caches the answer and hands back the checked address. The HTTP client connects to exactly
that address (see `client.CheckedResolver`), so a rebinding DNS that answers a public address to
the check and 127.0.0.1 to the connect never gets a second question.

Overrides (`{"www.example.com": ("127.0.0.1", 8765)}` or `{"*": ...}`) send hosts to a fixed
address and port while URLs keep their original form: tests and the demo point them at the local
web server. An override target is NOT checked by the policy: it is trusted only because the run
configured it explicitly ("unless the run allows it explicitly"). Nothing else may reach a private
address: hosts without an override, IP literals in URLs and redirect targets all go through the
policy.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Lookup = Callable[[str, int], Awaitable[list[str]]]

_CGNAT = ipaddress.ip_network("100.64.0.0/10")


class FetchAddressError(OSError):
    """A host the fetcher will not connect to; `reason` is the failure reason it is counted under."""

    reason = "connection"


class DnsError(FetchAddressError):
    """The host has no address (no such name, or the lookup failed)."""

    reason = "dns"


class RefusedAddress(FetchAddressError):
    """The host resolves to an address the policy refuses (loopback, private, link-local, ...)."""

    reason = "refused_address"


@dataclass(frozen=True)
class Address:
    """Where to connect: an IP address (never a name) and a port."""

    ip: str
    port: int

    @property
    def family(self) -> int:
        return socket.AF_INET6 if ":" in self.ip else socket.AF_INET


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, Teredo client), which is where it goes."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


@dataclass(frozen=True)
class AddressPolicy:
    """Refuses every address that is not plainly public, unless `allow_private`.

    Refused: loopback, private (RFC 1918, ULA fc00::/7), link-local (169.254/16, fe80::/10),
    multicast, unspecified, reserved, shared/CGNAT (100.64/10), anything Python does not call
    global, and IPv6 addresses that embed one of those IPv4 addresses (::ffff:127.0.0.1, 6to4,
    Teredo).
    """

    allow_private: bool = False

    def why_refused(self, ip: str | IPAddress) -> str | None:
        """The class of address `ip` falls in if the policy refuses it, else None."""
        if self.allow_private:
            return None
        address = ipaddress.ip_address(ip.split("%", 1)[0]) if isinstance(ip, str) else ip
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            why = self.why_refused(embedded)
            return f"embedded IPv4 {embedded} is {why}" if why else None
        checks = (
            ("loopback", address.is_loopback),
            ("unspecified", address.is_unspecified),
            ("link-local", address.is_link_local),
            ("multicast", address.is_multicast),
            ("private", address.is_private),
            ("reserved", address.is_reserved),
            ("shared (CGNAT)", isinstance(address, ipaddress.IPv4Address) and address in _CGNAT),
            ("not global", not address.is_global),
        )
        return next((name for name, hit in checks if hit), None)

    def check(self, host: str, ip: str) -> None:
        """Raise `RefusedAddress` naming the host and address unless the policy allows `ip`."""
        why = self.why_refused(ip)
        if why is not None:
            raise RefusedAddress(
                f"{host} resolves to {ip} ({why}): refused (reason=refused_address); "
                "set allow_private or a resolver override to fetch from it on purpose"
            )


async def system_lookup(host: str, port: int) -> list[str]:
    """The host's addresses from the system resolver (`loop.getaddrinfo`), in its order, deduplicated."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


class Resolver:
    """Resolves a host once, checks every address against the policy, and returns the checked one.

    Answers (and lookup failures) are cached for `cache_ttl` seconds, and concurrent lookups of
    one host share a single query. `overrides` maps host patterns (exact, or fnmatch such as
    `*` / `*.example.com`) to a fixed (ip, port): the run's explicit permission, not checked by
    the policy. `lookup` replaces the system resolver (tests use it to imitate a rebinding DNS).
    """

    def __init__(
        self,
        policy: AddressPolicy | None = None,
        overrides: Mapping[str, tuple[str, int]] | None = None,
        cache_ttl: float = 300.0,
        lookup: Lookup | None = None,
    ) -> None:
        self.policy = policy or AddressPolicy()
        self.overrides = {
            pattern.lower(): (ip, int(port)) for pattern, (ip, port) in (overrides or {}).items()
        }
        self.cache_ttl = cache_ttl
        self._lookup = lookup or system_lookup
        self._cache: dict[str, tuple[float, list[str] | FetchAddressError]] = {}
        self._pending: dict[str, asyncio.Task[list[str]]] = {}

    def override_for(self, host: str) -> Address | None:
        """The override address for `host`: an exact entry first, then the first matching pattern."""
        host = host.lower().rstrip(".")
        target = self.overrides.get(host) or next(
            (target for pattern, target in self.overrides.items() if fnmatchcase(host, pattern)), None
        )
        return Address(*target) if target is not None else None

    async def resolve(self, host: str, port: int) -> Address:
        """The address to connect to for `host:port`; raises `RefusedAddress` or `DnsError`.

        An IP literal is checked as it is and never overridden (aiohttp connects to literals
        without asking a resolver, so an override could not take effect there anyway).
        """
        name = host.lower().rstrip(".")
        literal = _literal(name)
        if literal is not None:
            self.policy.check(host, str(literal))
            return Address(str(literal), port)
        override = self.override_for(name)
        if override is not None:
            return override
        answers = await self._answers(name, port)
        for ip in answers:  # every address, not just the one used: a host is as safe as its worst answer
            self.policy.check(host, ip)
        return Address(answers[0], port)

    async def _answers(self, name: str, port: int) -> list[str]:
        cached = self._cache.get(name)
        if cached is not None and cached[0] > time.monotonic():
            if isinstance(cached[1], FetchAddressError):
                raise type(cached[1])(
                    str(cached[1])
                )  # a fresh one: re-raising one object grows its traceback
            return cached[1]
        task = self._pending.get(name)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._query(name, port))
            self._pending[name] = task
            task.add_done_callback(lambda done: self._forget(name, done))
        return await asyncio.shield(task)

    def _forget(self, name: str, task: asyncio.Task[list[str]]) -> None:
        self._pending.pop(name, None)
        if not task.cancelled():
            task.exception()  # retrieved here, so a lookup every waiter abandoned logs no warning

    async def _query(self, name: str, port: int) -> list[str]:
        try:
            answers = await self._lookup(name, port)
            if not answers:
                raise DnsError(f"{name}: no address (reason=dns)")
        except FetchAddressError as error:
            self._cache[name] = (time.monotonic() + self.cache_ttl, error)
            raise
        except OSError as error:  # socket.gaierror and friends
            failure = DnsError(f"{name}: lookup failed: {error} (reason=dns)")
            self._cache[name] = (time.monotonic() + self.cache_ttl, failure)
            raise failure from error
        self._cache[name] = (time.monotonic() + self.cache_ttl, answers)
        return answers
