"""The fetcher's address policy against the real local web server: SSRF refusals of private
addresses, whether named directly, reached by DNS rebinding or by a redirect.

Every request goes to 127.0.0.1 (through a resolver override, or a stub lookup that is refused
before connecting); timeouts are small so each test ends in seconds.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from aiohttp import web

from pipelines.fetch import AddressPolicy, FetchConfig, Fetcher, Resolver, fetch_all
from pipelines.fetch.client import CheckedResolver
from pipelines.fetch.resolver import RefusedAddress
from synth.demo.local_web import LocalWeb
from tests.fetch_fixtures import PUBLIC_IP, config, tiny_server


@pytest.fixture(scope="module")
def web_server():
    with LocalWeb() as server:
        yield server


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "ip",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fc00::1",
        "fd12:3456::1",
        "fe80::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    ],
)
def test_policy_refuses_non_public(ip):
    assert AddressPolicy().why_refused(ip) is not None
    assert AddressPolicy(allow_private=True).why_refused(ip) is None
    with pytest.raises(RefusedAddress, match="reason=refused_address"):
        AddressPolicy().check("host.test", ip)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("ip", [PUBLIC_IP, "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_policy_allows_public(ip):
    assert AddressPolicy().why_refused(ip) is None


def rebinding_lookup(calls: list[str]):
    """A DNS that answers a public address the first time and 127.0.0.1 ever after."""

    async def lookup(host: str, port: int) -> list[str]:
        calls.append(host)
        return [PUBLIC_IP] if len(calls) == 1 else ["127.0.0.1"]

    return lookup


@pytest.mark.timeout(60)
def test_resolver_checks_every_address_and_caches():
    async def mixed(host: str, port: int) -> list[str]:
        return [PUBLIC_IP, "10.0.0.1"]

    async def run():
        with pytest.raises(RefusedAddress):
            await Resolver(lookup=mixed).resolve("mixed.test", 80)
        calls: list[str] = []
        resolver = Resolver(lookup=rebinding_lookup(calls))
        connector_side = CheckedResolver(resolver)
        first = await connector_side.resolve("rebind.test", 443)
        second = await connector_side.resolve("rebind.test", 443)
        assert [first[0]["host"], second[0]["host"]] == [PUBLIC_IP, PUBLIC_IP]  # the checked answer
        assert first[0]["port"] == 443 and calls == ["rebind.test"]  # one lookup, no second question

    asyncio.run(run())


@pytest.mark.timeout(60)
def test_override_replaces_address_and_port():
    resolver = Resolver(overrides={"*.example.com": ("127.0.0.1", 8765), "exact.test": ("127.0.0.1", 1)})
    address = asyncio.run(CheckedResolver(resolver).resolve("www.example.com", 80))[0]
    assert (address["host"], address["port"]) == ("127.0.0.1", 8765)
    assert resolver.override_for("EXACT.test.") is not None and resolver.override_for("other.test") is None


@pytest.mark.timeout(60)
def test_loopback_without_override_is_refused_and_never_requested(web_server):
    web_server.hits.clear()
    urls = [
        f"http://localhost:{web_server.port}/a.jpg",
        f"http://127.0.0.1:{web_server.port}/a.jpg",
        f"http://[::ffff:127.0.0.1]:{web_server.port}/a.jpg",
    ]
    results = fetch_all(urls, FetchConfig(connect_timeout=2, total_timeout=5, deadline=10))
    assert [r.failure for r in results] == ["refused_address"] * 3
    assert [r.attempts for r in results] == [0, 0, 0]
    assert web_server.hits.total() == 0


@pytest.mark.timeout(60)
def test_rebinding_dns_never_gets_the_request_through(web_server):
    """The check answers public, the connect would answer 127.0.0.1: the connector's own check refuses."""
    web_server.hits.clear()
    calls: list[str] = []

    async def run():
        resolver = Resolver(lookup=rebinding_lookup(calls), cache_ttl=0)  # no cache: a second lookup happens
        cfg = config(web_server, resolver_override={}, respect_robots=False)  # no robots.txt lookup between
        async with Fetcher(cfg, resolver=resolver) as fetcher:
            return await fetcher.fetch(f"http://rebind.test:{web_server.port}/a.jpg")

    result = asyncio.run(run())
    assert result.failure == "refused_address"
    assert len(calls) == 2  # the pre-check, then the connector's lookup, which was checked again
    assert web_server.hits.total() == 0


@pytest.mark.timeout(60)
def test_redirect_to_private_address_is_refused(web_server):
    web_server.hits.clear()
    seen: Counter[str] = Counter()

    async def redirector(request: web.BaseRequest) -> web.StreamResponse:
        if request.path == "/robots.txt":
            return web.Response(status=404)  # no robots.txt: allow all
        seen[request.path] += 1
        targets = {
            "/to-ip": f"http://127.0.0.1:{web_server.port}/x.jpg",
            "/to-name": f"http://localhost:{web_server.port}/y.jpg",
            "/to-ftp": "ftp://files.example.com/z.jpg",
        }
        return web.Response(status=302, headers={"Location": targets[request.path]})

    async def run():
        async with tiny_server(redirector) as port:
            cfg = config(web_server, resolver_override={"redirector.test": ("127.0.0.1", port)})
            async with Fetcher(cfg) as fetcher:
                return await fetcher.fetch_many(
                    [f"http://redirector.test/{name}" for name in ("to-ip", "to-name", "to-ftp")]
                )

    results = asyncio.run(run())
    assert [r.failure for r in results] == ["refused_address", "refused_address", "scheme"]
    assert results[0].final_url == f"http://127.0.0.1:{web_server.port}/x.jpg"
    assert all(count == 1 for count in seen.values()) and len(seen) == 3
    assert web_server.hits.total() == 0
