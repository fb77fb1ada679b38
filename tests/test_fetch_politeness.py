"""Politeness of the fetcher against the real local web server: robots.txt, X-Robots-Tag, the
opt-out list and the per-host rate. Every request goes to 127.0.0.1 through the resolver override;
the server's hit counters prove what was (not) requested. Timeouts are small: seconds per test.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from pipelines.fetch import (
    FAILURE_REASONS,
    FetchConfig,
    Fetcher,
    OptOutList,
    RobotsRules,
    fetch_all,
    is_failure_reason,
    noai_in,
)
from synth.demo.local_web import LocalWeb
from tests.fetch_fixtures import config as fetch_config

AGENT_ONLY = "User-agent: vlmdata\nDisallow: /private/\n\nUser-agent: *\nDisallow: /\n"
NOBODY = "User-agent: *\nDisallow: /\n"
OTHER_BOT = "User-agent: otherbot\nDisallow: /\n"
ROBOTS = {
    "agent.example.com": AGENT_ONLY,
    "closed.example.com": NOBODY,
    "other.example.com": OTHER_BOT,
    "missing.example.com": "404",  # no robots.txt: allow all
    "forbidden.example.com": "403",  # 4xx: allow all
    "down.example.com": "500",  # unreachable: disallow all
    "busy.example.com": "503",  # retried, then unreachable
    "moved.example.com": "redirect",  # followed to /redirected/robots.txt, which has the "*" text
    "*": "User-agent: *\nDisallow: /secret/\n",
}


@pytest.fixture(scope="module")
def web():
    with LocalWeb(robots=ROBOTS) as server:
        yield server


def config(server: LocalWeb, **changes) -> FetchConfig:
    """The fetcher tests' fast config, with one retry fewer."""
    return fetch_config(server, **{"max_attempts": 2, **changes})


def robots_url(host: str) -> str:
    return f"http://{host}/robots.txt"


# --- robots.txt ----------------------------------------------------------------------------------

# (host, path, expected failure)
ROBOTS_CASES = [
    ("agent.example.com", "/public/a.jpg", None),  # our group allows it, "*" would not
    ("agent.example.com", "/private/a.jpg", "robots"),
    ("closed.example.com", "/a.jpg", "robots"),
    ("other.example.com", "/a.jpg", None),  # rules for another crawler do not bind us
    ("missing.example.com", "/a.jpg", None),
    ("forbidden.example.com", "/a.jpg", None),
    ("down.example.com", "/a.jpg", "robots"),
    ("busy.example.com", "/a.jpg", "robots"),
    ("moved.example.com", "/a.jpg", None),
    ("moved.example.com", "/secret/a.jpg", "robots"),
    ("open.example.com", "/secret/a.jpg", "robots"),
]


@pytest.mark.timeout(60)
def test_robots_rules_decide_per_url_and_status(web):
    web.hits.clear()
    urls = [web.url(host, path) for host, path, _ in ROBOTS_CASES]
    results = fetch_all(urls, config(web))
    assert [(r.url, r.failure) for r in results] == [
        (u, f) for u, (_, _, f) in zip(urls, ROBOTS_CASES, strict=True)
    ]
    for result, (_, _, failure) in zip(results, ROBOTS_CASES, strict=True):
        assert web.hits[result.url] == (0 if failure else 1)  # a disallowed URL is never requested
        assert (result.attempts, result.body is None) == ((0, True) if failure else (1, False))
    assert web.hits[robots_url("busy.example.com")] == 2  # 503 is retried (max_attempts) like any GET
    assert web.hits["http://moved.example.com/redirected/robots.txt"] == 1


@pytest.mark.timeout(60)
def test_robots_fetched_once_per_host_and_cached_for_the_fetcher(web):
    web.hits.clear()
    hosts = ("once-a.example.com", "once-b.example.com", "closed.example.com")
    urls = [web.url(host, f"/img/{i}.png") for host in hosts for i in range(15)]
    results = fetch_all(urls, config(web, concurrency=16, per_host=4))
    assert {h: web.hits[robots_url(h)] for h in hosts} == dict.fromkeys(hosts, 1)
    assert sum(r.ok for r in results) == 30
    assert [r.failure for r in results if not r.ok] == ["robots"] * 15
    assert sum(web.hits[u] for u in urls) == 30


@pytest.mark.timeout(60)
def test_robots_can_be_switched_off(web):
    web.hits.clear()
    url = web.url("closed.example.com", "/off.jpg")
    (result,) = fetch_all([url], config(web, respect_robots=False))
    assert result.ok and web.hits[robots_url("closed.example.com")] == 0 and web.hits[url] == 1


@pytest.mark.timeout(60)
def test_robots_of_a_redirect_target_apply():
    with LocalWeb(robots={"target.example.com": NOBODY}) as server:
        url = server.url("source.example.com", "/a.jpg?fault=redirect&to=http://target.example.com/b.jpg")
        (result,) = fetch_all([url], config(server))
        assert (result.failure, result.attempts) == ("robots", 1)
        assert result.final_url == "http://target.example.com/b.jpg"
        assert server.hits[url] == 1 and server.hits[robots_url("target.example.com")] == 1
        assert server.hits["http://target.example.com/b.jpg"] == 0


# RFC 9309, section 5.1 (the example file) and 5.2 (longest match), plus the wildcard cases the
# standard library's RobotFileParser got wrong
RFC_EXAMPLE = """User-Agent: *
Disallow: *.gif$
Disallow: /example/
Allow: /publications/

User-Agent: foobot
Disallow:/
Allow:/example/page.html
Allow:/example/allowed.gif

User-Agent: barbot
User-Agent: bazbot
Disallow: /example/page.html

User-Agent: quxbot

EOF
"""
LONGEST = "User-Agent: foobot\nAllow: /example/page/\nDisallow: /example/page/disallowed.gif\n"
WILDCARDS = "User-agent: *\nDisallow: /*.jpg$\nDisallow: /img/\nAllow: /img/public/\nDisallow: /*?session=\n"


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "text, agent, path, allowed",
    [
        (RFC_EXAMPLE, "foobot", "/example/page.html", True),
        (RFC_EXAMPLE, "foobot", "/example/allowed.gif", True),
        (RFC_EXAMPLE, "foobot", "/example/other.html", False),
        (RFC_EXAMPLE, "foobot", "/publications/", False),  # foobot has its own group: "*" is not read
        (RFC_EXAMPLE, "barbot", "/example/page.html", False),
        (RFC_EXAMPLE, "bazbot", "/example/page.html", False),  # two user-agent lines, one group
        (RFC_EXAMPLE, "bazbot", "/example/other.html", True),
        (RFC_EXAMPLE, "quxbot", "/example/page.html", True),  # an empty group allows everything
        (RFC_EXAMPLE, "vlmdata", "/pictures/a.gif", False),  # the "*" group: *.gif$
        (RFC_EXAMPLE, "vlmdata", "/pictures/a.gif?x=1", True),  # $ anchors at the end
        (RFC_EXAMPLE, "vlmdata", "/example/x.html", False),
        (RFC_EXAMPLE, "vlmdata", "/publications/a.html", True),
        (LONGEST, "foobot", "/example/page/", True),
        (LONGEST, "foobot", "/example/page/disallowed.gif", False),  # the longer rule wins
        (WILDCARDS, "vlmdata", "/a/b.jpg", False),  # RobotFileParser allowed it (no wildcards)
        (WILDCARDS, "vlmdata", "/a/b.jpg.html", True),
        (WILDCARDS, "vlmdata", "/img/public/a.png", True),  # RobotFileParser refused it (first match)
        (WILDCARDS, "vlmdata", "/img/private/a.png", False),
        (WILDCARDS, "vlmdata", "/img/public/a.jpg", True),  # /img/public/ (12 octets) beats /*.jpg$ (7)
        (WILDCARDS, "vlmdata", "/page?session=1", False),
    ],
)
def test_robots_rules_follow_rfc_9309(text, agent, path, allowed):
    rules = RobotsRules.from_outcome(None, text.encode())
    assert rules.allows(agent, f"https://example.com{path}") is allowed


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "text, delay",
    [
        ("User-agent: *\nCrawl-delay: 2\n", 2.0),
        ("User-agent: vlmdata\nCrawl-delay: 0.5\n\nUser-agent: *\nCrawl-delay: 30\n", 0.5),  # our group
        ("User-agent: otherbot\nCrawl-delay: 30\n", None),
        ("User-agent: *\nRequest-rate: 1/5\n", 5.0),
        ("User-agent: *\nCrawl-delay: 1\nRequest-rate: 1/4\n", 4.0),  # the slower of the two
        ("User-agent: *\nCrawl-delay: soon\n", None),
        ("User-agent: *\nDisallow: /x\n", None),
    ],
)
def test_crawl_delay_is_read_for_our_group(text, delay):
    assert RobotsRules.from_outcome(None, text.encode()).delay("vlmdata") == delay


@pytest.mark.timeout(60)
def test_crawl_delay_paces_a_host_and_is_capped():
    """One host asks 0.25 s between requests, one asks an hour (paced at the 0.3 s cap and counted
    capped), one asks less than our own rate (our rate holds), one asks nothing."""
    robots = {
        "slow.example.com": "User-agent: *\nCrawl-delay: 0.25\n",
        "greedy.example.com": "User-agent: *\nCrawl-delay: 3600\n",
        "fast.example.com": "User-agent: *\nCrawl-delay: 0.01\n",
        "*": "User-agent: *\nDisallow: /secret/\n",
    }
    n = 5
    with LocalWeb(robots=robots) as server:
        hosts = ("slow.example.com", "greedy.example.com", "fast.example.com", "plain.example.com")
        urls = [server.url(host, f"/{i}.jpg") for host in hosts for i in range(n)]
        cfg = config(server, per_host_rate=20.0, max_crawl_delay=0.3, per_host=8)

        async def run():
            async with Fetcher(cfg) as fetcher:
                results = await fetcher.fetch_many(urls)
                return results, fetcher.crawl_delays

        results, delays = asyncio.run(run())
        assert all(r.ok for r in results)
        assert delays == {"slow.example.com": (0.25, 0.25), "greedy.example.com": (3600.0, 0.3)}
        for host, interval in [
            ("slow.example.com", 0.25),
            ("greedy.example.com", 0.3),
            ("fast.example.com", 0.05),
        ]:
            times = [t for t, url in server.arrivals if url.split("/")[2] == host and "robots" not in url]
            assert len(times) == n
            assert times[-1] - times[0] >= (n - 1) * interval * 0.8, host
        plain = [t for t, url in server.arrivals if url.split("/")[2] == "plain.example.com"]
        assert plain[-1] - plain[0] < (n - 1) * 0.25  # a host asking nothing is paced at our rate only


# --- X-Robots-Tag --------------------------------------------------------------------------------


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "values, opted_out",
    [
        (["noai"], True),
        (["noimageai"], True),
        (["NoIndex, NOAI"], True),
        (["vlmdata: noai"], True),
        (["VLMDATA:noimageai, nofollow"], True),
        (["otherbot: noai"], False),
        (["noindex", "otherbot: noai"], False),
        (["unavailable_after: 25 Jun 2030 15:00:00 PST"], False),
        (["noarchive", "vlmdata: noimageai"], True),
        ([], False),
    ],
)
def test_noai_directives(values, opted_out):
    assert noai_in(values, "vlmdata") is opted_out


@pytest.mark.timeout(60)
def test_x_robots_tag_drops_the_bytes(web):
    web.hits.clear()
    queries = {
        "fault=noai": "noai",
        "fault=noimageai": "noai",
        "fault=noai&tag=vlmdata:noai": "noai",
        "fault=noai&tag=VLMDATA:%20NoImageAI": "noai",
        "fault=noai&tag=otherbot:noai": None,
        "fault=noai&tag=noindex": None,
    }
    urls = [web.url("tags.example.com", f"/{i}.jpg?{q}") for i, q in enumerate(queries)]
    results = fetch_all(urls, config(web))
    assert [r.failure for r in results] == list(queries.values())
    assert all((r.body is None) == (r.failure is not None) for r in results)
    assert [web.hits[u] for u in urls] == [1] * len(urls)  # noai is final: never retried


# --- opt-out list --------------------------------------------------------------------------------

OPT_OUT = """\
# owners who asked us not to use their images
https://www.example.com/photos/listed.jpg
www.example.com/photos/listed-too.png   # without a scheme
optout.example.org

*.wildcard.example.net
"""


@pytest.mark.timeout(30)
def test_opt_out_list_parses_urls_and_domains(tmp_path):
    path = tmp_path / "opt_out.txt"
    path.write_text(OPT_OUT)
    listed = OptOutList.load(str(path))
    assert listed == OptOutList.load(f"file://{path}")
    assert len(listed) == 4
    assert listed.matches("http://www.example.com/photos/listed.jpg")  # any scheme
    assert listed.matches("https://WWW.example.com:443/photos/listed.jpg#frag")
    assert listed.matches("http://www.example.com/photos/listed-too.png")
    assert not listed.matches("http://www.example.com/photos/listed.jpg?v=2")
    assert not listed.matches("http://www.example.com/photos/other.jpg")
    assert listed.matches("http://optout.example.org/a.jpg")
    assert listed.matches("http://cdn.img.optout.example.org/a.jpg")  # subdomains too
    assert not listed.matches("http://notoptout.example.org/a.jpg")
    assert listed.matches("http://wildcard.example.net/a.jpg") and listed.matches(
        "http://x.wildcard.example.net/"
    )
    with pytest.raises(ValueError, match="bad.txt line 2"):
        OptOutList.parse(["ok.example.com", "not a domain"], source="bad.txt")


@pytest.mark.timeout(60)
def test_opted_out_urls_are_never_requested(web, tmp_path):
    web.hits.clear()
    listed = OptOutList.parse(OPT_OUT.splitlines())
    urls = [
        web.url("www.example.com", "/photos/listed.jpg"),
        web.url("www.example.com", "/photos/listed-too.png"),
        web.url("optout.example.org", "/a.jpg"),
        web.url("cdn.optout.example.org", "/b.jpg"),
        web.url("www.example.com", "/photos/kept.jpg"),
        web.url("kept.example.org", "/c.jpg?fault=redirect"),  # fine, and so is its redirect target
    ]
    results = fetch_all(urls, config(web, opt_out=listed))
    assert [r.failure for r in results] == ["opt_out"] * 4 + [None, None]
    assert [r.attempts for r in results] == [0, 0, 0, 0, 1, 2]
    opted_hosts = ("optout.example.org", "cdn.optout.example.org")
    assert all(web.hits[u] == 0 for u in urls[:4])
    assert not any(url.split("/")[2] in opted_hosts for url in web.hits)  # not even robots.txt


@pytest.mark.timeout(60)
def test_a_redirect_into_the_opt_out_list_is_refused():
    with LocalWeb() as server:
        url = server.url("rd.example.com", "/a.jpg?fault=redirect&to=http://img.optout.example.org/b.jpg")
        (result,) = fetch_all([url], config(server, opt_out=OptOutList.parse(OPT_OUT.splitlines())))
        assert (result.failure, result.attempts) == ("opt_out", 1)
        assert dict(server.hits) == {robots_url("rd.example.com"): 1, url: 1}


# --- per-host rate ---------------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_per_host_rate_spaces_requests_and_hosts_run_side_by_side(web):
    rate, n = 20.0, 6
    web.arrivals.clear()
    hosts = ("pace-a.example.com", "pace-b.example.com")
    urls = [web.url(host, f"/{i}.jpg") for host in hosts for i in range(n)]
    start = time.monotonic()
    results = fetch_all(urls, config(web, per_host_rate=rate, respect_robots=False, per_host=8))
    assert time.monotonic() - start >= (n - 1) / rate
    assert all(r.ok for r in results)
    arrivals = {host: [t for t, url in web.arrivals if url.split("/")[2] == host] for host in hosts}
    for times in arrivals.values():  # as the server saw them: the client's spacing, give or take jitter
        assert len(times) == n
        # the span, not each gap: on a loaded machine the server may read two requests that were
        # sent a full interval apart in quick succession
        assert times[-1] - times[0] >= (n - 1) / rate * 0.8
    a, b = arrivals.values()
    assert b[0] < a[-1] and a[0] < b[-1]  # the two hosts are paced side by side, not one after the other
    assert max(a[-1], b[-1]) - min(a[0], b[0]) < 2 * (n - 1) / rate


@pytest.mark.timeout(60)
def test_rate_applies_to_robots_txt_too(web):
    web.arrivals.clear()
    urls = [web.url("pace-r.example.com", f"/{i}.jpg") for i in range(3)]
    start = time.monotonic()
    assert all(r.ok for r in fetch_all(urls, config(web, per_host_rate=10.0)))
    assert time.monotonic() - start >= 3 / 10.0  # robots.txt first, then three images, 0.1 s apart
    assert [url for _, url in web.arrivals][0] == robots_url("pace-r.example.com")
    assert len(web.arrivals) == 4


# --- reasons ---------------------------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_failure_reasons_are_one_closed_list():
    assert len(set(FAILURE_REASONS)) == len(FAILURE_REASONS)
    assert all(is_failure_reason(r) for r in [*FAILURE_REASONS, "http_404", "http_503"])
    assert not any(is_failure_reason(r) for r in ["http_", "http_99", "not_image", "ok", "http_404x"])
