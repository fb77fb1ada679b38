"""A stand-in for the web on 127.0.0.1, for tests, benchmarks and the demo (nothing here reaches the internet).

It answers any path on any Host header: HTML pages for paths ending in `.html` or `/`, a
per-host `/robots.txt`, and an image for everything else. Content is a pure function of the
original URL (`http://` + Host + path + query), so the fetcher, whose resolver override sends
`http://www.example.com/a.jpg` here without rewriting it, always gets the same bytes for the same
URL. Faults (`synth.demo.local_web_faults`) are injected per URL by rule or by `?fault=NAME`, and every
request is counted so tests can assert exact numbers. A host's robots.txt is its text in `robots`,
or a fault (`robots={"down.example.com": "503"}`); `files` serves fixed bytes at chosen paths
(the fetch benchmark's JPEGs).

    with LocalWeb(rules=[("*/slow/*", Fault("slow", delay=0.01)), ("*.gif", "404")]) as web:
        url = web.url("www.example.com", "/a.jpg")      # what the crawler sees
        override = web.resolver_override()              # {"*": ("127.0.0.1", port)}
        ...
        assert web.hits[url] == 1

CLI: `python -m synth.demo.local_web --port 8765 --rule '*/broken/*=reset'` serves until Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import hashlib
import html
import io
import random
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator, Mapping, Sequence
from fnmatch import fnmatchcase
from posixpath import splitext

from aiohttp import web
from PIL import Image

from synth.demo.documents import make_image, sentence
from synth.demo.local_web_faults import FAULTS, REDIRECTED_PREFIX, Fault, applies, as_fault, serve_fault

LOCALHOST = "127.0.0.1"
IMAGE_FORMATS = ("jpg", "png", "webp", "gif")
MIME = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp", "gif": "image/gif"}
_EXTENSIONS = {".jpg": "jpg", ".jpeg": "jpg", ".png": "png", ".webp": "webp", ".gif": "gif"}
_WIDTHS = (48, 64, 96, 128, 160, 224, 256, 320, 400, 512, 640)
_ASPECTS = (0.5, 0.75, 1.0, 4 / 3, 16 / 9, 2.0, 3.0)  # width / height
ALLOW_ALL = "User-agent: *\nAllow: /\n"
HTML_TYPE = "text/html; charset=utf-8"
_SHUTDOWN_TIMEOUT = 0.25  # seconds aiohttp waits for a handler before cancelling it at stop


def _seed(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def _plain_http(url: str) -> str:
    return "http://" + url[len("https://") :] if url.startswith("https://") else url


def is_page(path: str) -> bool:
    """Paths that get an HTML page rather than an image."""
    return path.endswith(("/", ".html", ".htm"))


def image_for(url: str) -> tuple[bytes, str]:
    """The image at `url` and its MIME type; size, aspect and format vary with a hash of the URL.

    A path ending in a known image extension gets that format (so `.png` is a PNG); any other
    path gets one of jpg/png/webp/gif from the hash.
    """
    rng = random.Random(_seed(url))
    path = url.split("?", 1)[0]
    fmt = _EXTENSIONS.get(splitext(path)[1].lower()) or rng.choice(IMAGE_FORMATS)
    width = rng.choice(_WIDTHS)
    height = max(16, round(width / rng.choice(_ASPECTS)))
    seed = rng.randrange(2**31)
    if fmt != "gif":
        return make_image(seed, width, height, fmt), MIME[fmt]
    out = io.BytesIO()
    Image.open(io.BytesIO(make_image(seed, width, height, "png"))).convert("P").save(out, format="GIF")
    return out.getvalue(), MIME[fmt]


def page_for(url: str) -> str:
    """A small HTML page for `url`: a title, paragraphs, a few <img> and links on the same host."""
    rng = random.Random(_seed("page " + url))
    token = hashlib.sha256(url.encode()).hexdigest()[:10]
    title = html.escape(sentence(rng, rng.randint(3, 6))[:-1])
    body = [f"<h1>{title}</h1>"]
    for i in range(rng.randint(2, 5)):
        body.append(f"<p>{html.escape(' '.join(sentence(rng, rng.randint(8, 20)) for _ in range(2)))}</p>")
        src = f"/images/{token}-{i}.{rng.choice(IMAGE_FORMATS)}"
        body.append(f'<img src="{src}" alt="{html.escape(sentence(rng, rng.randint(3, 8)))}">')
    links = "".join(f'<li><a href="/pages/{token}-{i}.html">more {i}</a></li>' for i in range(2))
    body.append(f"<ul>{links}</ul>")
    head = f"<!doctype html>\n<html><head><title>{title}</title></head><body>"
    return "\n".join([head, *body, "</body></html>"]) + "\n"


class HitCounter(Mapping[str, int]):
    """A thread-safe counter: the server's loop thread adds, tests read; a missing key reads 0."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def add(self, key: str) -> int:
        """Count one more `key` and return its new count."""
        with self._lock:
            self._counts[key] += 1
            return self._counts[key]

    def __getitem__(self, key: str) -> int:
        with self._lock:
            return self._counts.get(key, 0)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._counts

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            return iter(list(self._counts))

    def __len__(self) -> int:
        with self._lock:
            return len(self._counts)

    def total(self) -> int:
        """All counts summed."""
        with self._lock:
            return sum(self._counts.values())

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()


class LocalWeb:
    """The local web server, run in a daemon thread with its own asyncio loop.

    `rules` are `(pattern, fault)` pairs; a pattern is matched with fnmatch against "host/path"
    (no query) and the first match wins, but a `?fault=NAME` in the URL overrides them. `robots`
    maps a host (or "*") to the text of its robots.txt, or to a `Fault` or fault name served for
    it instead (`"404"`: no robots.txt, `"503"`: unreachable, `"redirect"`: moved, then the text
    of "*"); unlisted hosts allow everything. `files` maps a path to bytes served as they are on
    every host (MIME type from the extension), ahead of the generated images; `pages` maps whole
    URLs to HTML served at exactly those URLs (real pages for crawl tests).
    `hits[url]` counts requests per original URL; `fault_hits[name]` counts injected faults
    (a 429 that has cleared is not counted); `arrivals` lists when each request came. `port=0`
    picks a free port. Stopping cuts in-flight responses (an endless body, say) at once, so
    shutdown never waits on a client.
    """

    def __init__(
        self,
        rules: Sequence[tuple[str, str | Fault]] = (),
        robots: Mapping[str, str | Fault] | None = None,
        port: int = 0,
        files: Mapping[str, bytes] | None = None,
        pages: Mapping[str, bytes] | None = None,
    ) -> None:
        self.rules = [(pattern, as_fault(fault)) for pattern, fault in rules]
        self.robots: dict[str, str | Fault] = {
            host: as_fault(value) if isinstance(value, Fault) or value in FAULTS else value
            for host, value in (robots or {}).items()
        }
        self.files = dict(files or {})
        # whole URLs -> HTML bytes; https URLs are keyed as http, the form in which a fetcher with
        # override_plain_http asks for them
        self.pages = {_plain_http(url): body for url, body in (pages or {}).items()}
        self.hits = HitCounter()
        self.fault_hits = HitCounter()
        # (time.monotonic(), url) of the latest requests in arrival order, for tests of pacing
        self.arrivals: deque[tuple[float, str]] = deque(maxlen=100_000)
        self.port = port
        self._image = functools.lru_cache(maxsize=4096)(image_for)
        self._page = functools.lru_cache(maxsize=1024)(page_for)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def base_url(self) -> str:
        """The server's own address, e.g. `http://127.0.0.1:8765`."""
        return f"http://{LOCALHOST}:{self.port}"

    def url(self, host: str, path: str = "/") -> str:
        """The original URL a crawler would see, e.g. `http://www.example.com/a.jpg`."""
        return f"http://{host}{path if path.startswith('/') else '/' + path}"

    def resolver_override(self) -> dict[str, tuple[str, int]]:
        """A fetcher resolver override sending every host here: `{"*": ("127.0.0.1", port)}`."""
        return {"*": (LOCALHOST, self.port)}

    def _robots_entry(self, host: str) -> str | Fault:
        robots = self.robots
        return robots.get(host, robots.get(host.split(":")[0], robots.get("*", ALLOW_ALL)))

    def fault_for(self, host: str, path: str, query: Mapping[str, str]) -> Fault | None:
        """The fault configured for a request: `?fault=` first, then a robots fault, then the
        first matching rule."""
        fault = Fault.from_query(query)
        if fault is not None:
            return fault
        if path == "/robots.txt":
            entry = self._robots_entry(host)
            if isinstance(entry, Fault):
                return entry
        target = f"{host}{path}"
        return next((fault for pattern, fault in self.rules if fnmatchcase(target, pattern)), None)

    def content_for(self, host: str, path: str, url: str) -> tuple[bytes, str]:
        """What a fault-free answer carries for `url`: robots.txt, a fixed file, an HTML page or an image."""
        if path in ("/robots.txt", REDIRECTED_PREFIX + "/robots.txt"):
            entry = self._robots_entry(host)
            if isinstance(entry, Fault):  # what a robots fault such as "redirect" leads to
                entry = self.robots.get("*", ALLOW_ALL)
            text = entry if isinstance(entry, str) else ALLOW_ALL
            return text.encode(), "text/plain; charset=utf-8"
        if url in self.pages:
            return self.pages[url], HTML_TYPE
        if path in self.files:
            return self.files[path], MIME.get(_EXTENSIONS.get(splitext(path)[1].lower(), ""), "image/jpeg")
        if is_page(path):
            return self._page(url).encode(), HTML_TYPE
        return self._image(url)

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        host = request.headers.get("Host", f"{LOCALHOST}:{self.port}")  # never request.host: it may resolve
        target = request.raw_path  # as sent; absolute ("http://h/p") when a client uses us as its proxy
        url = target if not target.startswith("/") else f"http://{host}{target}"
        hit = self.hits.add(url)
        self.arrivals.append((time.monotonic(), url))  # deque.append is atomic: safe to read from tests
        try:
            fault = self.fault_for(host, request.path, request.query)
        except ValueError as error:
            return web.Response(status=400, text=f"{url}: {error}\n")
        body, content_type = self.content_for(host, request.path, url)
        if fault is None or not applies(fault, request.path, hit):
            return web.Response(body=body, headers={"Content-Type": content_type})
        self.fault_hits.add(fault.name)
        return await serve_fault(request, fault, body, content_type)

    async def _serve(self, sock: socket.socket) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        server = web.Server(self._handle, access_log=None)
        runner = web.ServerRunner(server, shutdown_timeout=_SHUTDOWN_TIMEOUT)
        await runner.setup()
        site = web.SockSite(runner, sock)
        try:
            await site.start()
            self._ready.set()
            await self._stop_event.wait()
            # Stop accepting but let a just-accepted connection finish attaching before the server
            # closes: asyncio leaks its socket otherwise (an AssertionError in Server._attach).
            self._loop.remove_reader(sock.fileno())
            for _ in range(4):
                await asyncio.sleep(0)
            await site.stop()
            for connection in server.connections:  # cut in-flight bodies now, even to a client that stalls
                if connection.transport is not None:
                    connection.transport.abort()
        finally:
            await runner.cleanup()
            await asyncio.sleep(0)  # let the aborted transports finish closing before the loop does

    def _run(self, sock: socket.socket) -> None:
        try:  # asyncio.run also cancels any task left over and closes the loop
            asyncio.run(self._serve(sock))
        except BaseException as error:  # reported to start() by the ready event
            self._error = error
        finally:
            self._ready.set()
            sock.close()

    def start(self, timeout: float = 10.0) -> LocalWeb:
        """Listen on 127.0.0.1 (a free port unless one was given) and serve from a daemon thread."""
        if self._thread is not None:
            raise RuntimeError(f"local web on port {self.port} is already running; stop() it first")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((LOCALHOST, self.port))
            sock.listen(128)
            sock.setblocking(False)
        except OSError as error:
            sock.close()
            raise OSError(
                f"local web: cannot listen on {LOCALHOST}:{self.port} ({error}); pass port=0"
            ) from error
        self.port = sock.getsockname()[1]
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(
            target=self._run, args=(sock,), name=f"local-web-{self.port}", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(timeout) or self._error is not None:
            self.stop()
            raise RuntimeError(f"local web on port {self.port} did not start: {self._error!r}")
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving, end in-flight responses and join the thread, all within `timeout` seconds."""
        thread, loop, stop_event = self._thread, self._loop, self._stop_event
        if thread is None:
            return
        if loop is not None and stop_event is not None and thread.is_alive():
            try:
                loop.call_soon_threadsafe(stop_event.set)
            except RuntimeError:
                pass  # the loop already closed after a failed start
        thread.join(timeout)
        if thread.is_alive():
            raise RuntimeError(f"local web on port {self.port} did not stop within {timeout} s")
        self._thread = self._loop = self._stop_event = None

    def __enter__(self) -> LocalWeb:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _parse_pair(text: str, what: str) -> tuple[str, str]:
    key, sep, value = text.rpartition("=")
    if not sep or not key or not value:
        raise argparse.ArgumentTypeError(f"{what} {text!r}: expected KEY=VALUE")
    return key, value


def main(argv: Sequence[str] | None = None) -> None:
    """Serve the local web on 127.0.0.1 until Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="python -m synth.demo.local_web",
        description="Serve deterministic pages and images for any Host on 127.0.0.1, with injectable faults.",
        epilog=f"Faults: {', '.join(FAULTS)}. Any URL may also ask for one with ?fault=NAME.",
    )
    parser.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (0: a free one)")
    parser.add_argument(
        "--rule",
        action="append",
        default=[],
        type=lambda text: _parse_pair(text, "--rule"),
        help="PATTERN=FAULT, fnmatch on host/path, e.g. '*/broken/*=reset' (repeatable)",
    )
    parser.add_argument(
        "--robots",
        action="append",
        default=[],
        type=lambda text: _parse_pair(text, "--robots"),
        help="HOST=FILE: serve FILE as http://HOST/robots.txt (repeatable; HOST may be *)",
    )
    args = parser.parse_args(argv)
    robots = {}
    for host, path in args.robots:
        with open(path, encoding="utf-8") as file:
            robots[host] = file.read()
    try:
        server = LocalWeb(rules=args.rule, robots=robots, port=args.port)
    except ValueError as error:
        parser.error(str(error))
    with server:
        print(f"local web on {server.base_url} (any Host header); Ctrl-C to stop", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
