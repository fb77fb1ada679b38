"""The local web server: deterministic content per URL, every fault, counters, robots.txt, shutdown.

Every request goes to 127.0.0.1 with the original Host header, as the fetcher's resolver
override will send it; reads are capped and every socket has a timeout.
"""

from __future__ import annotations

import http.client
import io
import re
import socket
import threading
import time
from urllib.parse import urljoin, urlsplit

import pytest
from PIL import Image

from synth.demo.local_web import IMAGE_FORMATS, MIME, LocalWeb, image_for, main, page_for
from synth.demo.local_web_faults import FAULTS, Fault

MB = 1024 * 1024
PIL_FORMAT = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP", "image/gif": "GIF"}
RULES = [
    ("rate.example.com/*", Fault("429", succeed_after=2, retry_after=7)),
    ("*/slow/*", Fault("slow", chunk=512, delay=0.02)),
    ("*/gone/*", "404"),
    ("*/optout/*.jpg", "noai"),
]
ROBOTS = {"private.example.com": "User-agent: *\nDisallow: /\n"}


@pytest.fixture(scope="module")
def web():
    with LocalWeb(rules=RULES, robots=ROBOTS) as server:
        yield server


def request(
    web: LocalWeb, url: str, timeout: float = 5.0
) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    """GET `url` from the local server, sending its host as the Host header."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection("127.0.0.1", web.port, timeout=timeout)
    conn.request(
        "GET", parts.path + (f"?{parts.query}" if parts.query else ""), headers={"Host": parts.netloc}
    )
    return conn, conn.getresponse()


def read_capped(response: http.client.HTTPResponse, cap: int) -> bytes:
    """Read at most about `cap` bytes, then stop."""
    chunks, size = [], 0
    while size < cap:
        chunk = response.read(64 * 1024)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def get(web: LocalWeb, url: str) -> tuple[int, http.client.HTTPMessage, bytes]:
    conn, response = request(web, url)
    try:
        return response.status, response.headers, read_capped(response, 4 * MB)
    finally:
        conn.close()


@pytest.mark.timeout(30)
def test_images_are_deterministic_per_url(web):
    urls = [
        web.url(host, path) for host in ("a.example.com", "b.example.org") for path in ("/x", "/x?v=2", "/y")
    ]
    bodies = {}
    for url in urls:
        status, headers, body = get(web, url)
        assert status == 200
        assert get(web, url)[2] == body == image_for(url)[0]
        image = Image.open(io.BytesIO(body))
        image.load()
        assert image.format == PIL_FORMAT[headers["Content-Type"]]
        assert int(headers["Content-Length"]) == len(body)
        bodies[url] = body
    assert len(set(bodies.values())) == len(urls)  # host, path and query all change the bytes
    sizes = {Image.open(io.BytesIO(image_for(f"http://h.example.com/{i}")[0])).size for i in range(40)}
    formats = {image_for(f"http://h.example.com/{i}")[1] for i in range(40)}
    assert len(sizes) > 5
    assert formats == {MIME[fmt] for fmt in IMAGE_FORMATS}
    assert image_for("http://h.example.com/p.png")[1] == "image/png"  # a known extension wins


@pytest.mark.timeout(30)
def test_html_page_points_at_images_on_the_same_host(web):
    url = web.url("news.example.com", "/2024/story.html")
    status, headers, body = get(web, url)
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert body.decode() == page_for(url) and body == get(web, url)[2]
    sources = re.findall(r'<img src="([^"]+)"', body.decode())
    assert 2 <= len(sources) <= 5 and all(src.startswith("/") for src in sources)
    image_url = urljoin(url, sources[0])
    assert urlsplit(image_url).netloc == "news.example.com"
    status, headers, _ = get(web, image_url)
    assert status == 200 and headers["Content-Type"].startswith("image/")
    assert get(web, web.url("news.example.com", "/"))[2] != body


@pytest.mark.timeout(30)
@pytest.mark.parametrize("code", ["404", "500", "503"])
def test_error_codes(web, code):
    assert get(web, web.url("err.example.com", f"/a.jpg?fault={code}"))[0] == int(code)


@pytest.mark.timeout(30)
def test_rules_match_host_and_path_and_the_query_overrides_them(web):
    assert get(web, web.url("e.example.com", "/gone/a.jpg"))[0] == 404
    assert get(web, web.url("e.example.com", "/kept/a.jpg"))[0] == 200
    assert get(web, web.url("e.example.com", "/gone/b.jpg?fault=500"))[0] == 500
    assert get(web, web.url("e.example.com", "/a.jpg?fault=nonsense"))[0] == 400
    with pytest.raises(ValueError, match="unknown fault 'nonsense'"):
        LocalWeb(rules=[("*", "nonsense")])


@pytest.mark.timeout(30)
def test_429_clears_after_k_hits_with_retry_after(web):
    url = web.url("rate.example.com", "/pic.jpg")
    for _ in range(2):
        status, headers, _ = get(web, url)
        assert status == 429 and headers["Retry-After"] == "7"
    status, headers, body = get(web, url)
    assert status == 200 and body == image_for(url)[0]
    assert web.hits[url] == 3
    status, headers, _ = get(web, web.url("q.example.com", "/a.jpg?fault=429&retry_after=3"))
    assert status == 429 and headers["Retry-After"] == "3"
    assert get(web, web.url("q.example.com", "/a.jpg?fault=429&retry_after=3"))[0] == 200


@pytest.mark.timeout(30)
def test_reset_raises_a_connection_error(web):
    conn, response = request(web, web.url("r.example.com", "/a.jpg?fault=reset"))
    assert response.status == 200
    with pytest.raises(ConnectionError):
        response.read()
    conn.close()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("fault", ["truncated", "wrong_length"])
def test_body_shorter_than_content_length(web, fault):
    url = web.url("t.example.com", f"/a.png?fault={fault}")
    full = image_for(url)[0]
    conn, response = request(web, url)
    announced = int(response.headers["Content-Length"])
    with pytest.raises(http.client.IncompleteRead) as caught:
        response.read()
    conn.close()
    partial = caught.value.partial
    assert len(partial) < announced
    if fault == "truncated":
        assert announced == len(full) and partial == full[: len(full) // 2]
        with pytest.raises(OSError):
            Image.open(io.BytesIO(partial)).load()
    else:
        assert partial == full and announced == len(full) + 1024


@pytest.mark.timeout(30)
@pytest.mark.parametrize("fault", ["oversized", "endless"])
def test_huge_bodies_go_past_a_cap(web, fault):
    conn, response = request(web, web.url("big.example.com", f"/a.jpg?fault={fault}"))
    body = read_capped(response, 2 * MB)
    conn.close()
    assert len(body) >= 2 * MB
    if fault == "oversized":
        assert int(response.headers["Content-Length"]) == 50 * MB
        Image.open(io.BytesIO(body)).load()  # a valid image, padded after its end
    else:
        assert response.headers["Content-Length"] is None
        assert response.headers["Transfer-Encoding"] == "chunked"


@pytest.mark.timeout(30)
def test_slow_drips_the_body(web):
    url = next(
        u for i in range(50) if len(image_for(u := web.url("s.example.com", f"/slow/{i}.jpg"))[0]) > 4096
    )
    full = image_for(url)[0]
    started = time.monotonic()
    status, _, body = get(web, url)
    elapsed = time.monotonic() - started
    assert status == 200 and body == full
    pauses = -(-len(full) // 512) - 1
    assert elapsed >= 0.9 * pauses * 0.02 >= 0.1


@pytest.mark.timeout(30)
def test_redirect_loop_never_ends(web):
    url = web.url("loop.example.com", "/a.jpg?fault=redirect_loop")
    seen = []
    for _ in range(5):
        status, headers, _ = get(web, url)
        assert status == 302
        url = urljoin(url, headers["Location"])
        seen.append(url)
    assert urlsplit(url).netloc == "loop.example.com"
    assert len(set(seen)) == 2  # a -> b -> a -> ...


@pytest.mark.timeout(30)
def test_redirect_once_then_an_image(web):
    url = web.url("go.example.com", "/a.jpg?fault=redirect")
    status, headers, _ = get(web, url)
    assert status == 302
    target = urljoin(url, headers["Location"])
    assert target == "http://go.example.com/redirected/a.jpg"
    status, headers, body = get(web, target)
    assert status == 200 and body == image_for(target)[0]


@pytest.mark.timeout(30)
def test_wrong_type_swaps_image_and_html(web):
    image_url = web.url("w.example.com", "/a.jpg?fault=wrong_type")
    status, headers, body = get(web, image_url)
    assert headers["Content-Type"].startswith("text/html") and body == image_for(image_url)[0]
    page_url = web.url("w.example.com", "/p.html?fault=wrong_type")
    status, headers, body = get(web, page_url)
    assert headers["Content-Type"] == "image/jpeg" and body.decode() == page_for(page_url)


@pytest.mark.timeout(30)
def test_noai_header(web):
    assert get(web, web.url("n.example.com", "/optout/a.jpg"))[1]["X-Robots-Tag"] == "noai"
    assert get(web, web.url("n.example.com", "/a.jpg?fault=noimageai"))[1]["X-Robots-Tag"] == "noimageai"
    assert get(web, web.url("n.example.com", "/optin/a.jpg"))[1]["X-Robots-Tag"] is None


@pytest.mark.timeout(30)
def test_robots_txt_per_host(web):
    status, headers, body = get(web, web.url("private.example.com", "/robots.txt"))
    assert status == 200 and body == b"User-agent: *\nDisallow: /\n"
    assert headers["Content-Type"].startswith("text/plain")
    assert get(web, web.url("open.example.com", "/robots.txt"))[2] == b"User-agent: *\nAllow: /\n"


@pytest.mark.timeout(30)
def test_hit_counters_are_exact():
    with LocalWeb(rules=[("*/down/*", "503")]) as web:
        urls = [web.url("c.example.com", "/a.jpg"), web.url("c.example.com", "/down/b.jpg")]
        for url in urls * 3:
            get(web, url)
        get(web, web.url("c.example.com", "/a.jpg?fault=404"))
        assert dict(web.hits) == {urls[0]: 3, urls[1]: 3, "http://c.example.com/a.jpg?fault=404": 1}
        assert dict(web.fault_hits) == {"503": 3, "404": 1}
        assert web.hits["http://never.example.com/"] == 0 and web.hits.total() == 7


@pytest.mark.timeout(30)
def test_a_proxy_style_request_keeps_the_original_url():
    with LocalWeb() as web:
        url = "http://proxy.example.com/p.html?x=1"
        with socket.create_connection(("127.0.0.1", web.port), timeout=5) as sock:
            sock.sendall(
                f"GET {url} HTTP/1.1\r\nHost: proxy.example.com\r\nConnection: close\r\n\r\n".encode()
            )
            reply = b""
            while chunk := sock.recv(64 * 1024):
                reply += chunk
        assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(page_for(url).encode())
        assert dict(web.hits) == {url: 1}


@pytest.mark.timeout(30)
def test_helpers_name_the_original_url_and_the_override():
    web = LocalWeb()
    with web:
        assert web.url("www.example.com", "a.jpg") == "http://www.example.com/a.jpg"
        assert web.resolver_override() == {"*": ("127.0.0.1", web.port)}
        assert web.base_url == f"http://127.0.0.1:{web.port}"
        with socket.create_connection(("127.0.0.1", web.port), timeout=2):
            pass


@pytest.mark.timeout(30)
def test_shutdown_is_quick_and_closes_the_port_even_mid_response():
    web = LocalWeb()
    with web:
        conn, response = request(web, web.url("x.example.com", "/a.jpg?fault=endless"))
        assert len(read_capped(response, 256 * 1024)) >= 256 * 1024  # then stop reading, stay connected
        started = time.monotonic()
    assert time.monotonic() - started < 3
    conn.close()
    assert not any(thread.name == f"local-web-{web.port}" for thread in threading.enumerate())
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", web.port), timeout=2)


@pytest.mark.timeout(30)
def test_cli_help_lists_the_faults(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["--help"])
    assert caught.value.code == 0
    out = capsys.readouterr().out
    assert "--port" in out and all(name in out for name in FAULTS)
    with pytest.raises(SystemExit) as caught:
        main(["--rule", "no-equals-sign"])
    assert caught.value.code == 2
