"""The fetcher core against the real local web server: faults -> reasons, retries, bounds, decoding.

Every request goes to 127.0.0.1 through a resolver override; timeouts and byte caps are small so
each test ends in seconds. The address policy (SSRF refusals) is tested in test_fetcher_addresses.py.
"""

from __future__ import annotations

import asyncio
import io
import struct
import time
from collections import Counter

import pytest
from aiohttp import web
from PIL import Image, ImageOps

from pipelines.fetch import FetchConfig, Fetcher, decode_image, fetch_all, is_failure_reason
from synth.demo.local_web import LocalWeb
from tests import corpora
from tests.fetch_fixtures import config, tiny_server

PILLOW_IMAGES = corpora.path("pillow")
REASONS = {"not_an_image", "decode_error", "bomb"}


@pytest.fixture(scope="module")
def web_server():
    with LocalWeb() as server:
        yield server


# --- faults map to reasons -------------------------------------------------------------------

# (fault query, expected failure, expected attempts == server hits, config changes)
FAULT_CASES = [
    ("", None, 1, {}),
    ("fault=404", "http_404", 1, {}),
    ("fault=500", "http_500", 1, {}),  # only 429/503 and connection errors are retried
    ("fault=503", "http_503", 3, {}),
    ("fault=429&retry_after=0&succeed_after=5", "http_429", 3, {}),
    ("fault=reset", "connection", 3, {}),
    ("fault=truncated", "truncated", 1, {}),
    ("fault=wrong_length", "truncated", 1, {}),
    ("fault=oversized", "too_large", 1, {"max_bytes": 50_000}),
    ("fault=endless", "too_large", 1, {"max_bytes": 50_000}),
    ("fault=slow&chunk=16&delay=0.05", "timeout", 2, {"total_timeout": 0.3, "max_attempts": 2}),
    ("fault=noai", "noai", 1, {}),
    ("fault=noimageai", "noai", 1, {}),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("query, failure, attempts, changes", FAULT_CASES)
def test_fault_maps_to_reason(web_server, query, failure, attempts, changes):
    url = web_server.url(
        "faults.example.com",
        f"/{query.replace('&', '_').replace('=', '-') or 'plain'}.jpg" + (f"?{query}" if query else ""),
    )
    (result,) = fetch_all([url], config(web_server, **changes))
    assert (result.failure, result.attempts) == (failure, attempts)
    assert web_server.hits[url] == attempts
    assert (result.body is not None) == (failure is None)


@pytest.mark.timeout(60)
def test_429_honours_retry_after_then_succeeds(web_server):
    url = web_server.url("rate.example.com", "/a.jpg?fault=429&retry_after=1&succeed_after=1")
    (result,) = fetch_all([url], config(web_server))
    assert result.ok and result.attempts == 2 and result.status == 200
    assert result.elapsed >= 0.9  # waited the Retry-After, not the 0.02 s backoff
    assert web_server.hits[url] == 2


@pytest.mark.timeout(60)
def test_retry_after_is_capped(web_server):
    url = web_server.url("rate.example.com", "/b.jpg?fault=429&retry_after=3600&succeed_after=1")
    (result,) = fetch_all([url], config(web_server, retry_after_max=0.2))
    assert result.ok and result.attempts == 2 and result.elapsed < 5


@pytest.mark.timeout(60)
def test_redirects_followed_and_loops_cut(web_server):
    ok_url = web_server.url("redir.example.com", "/a.jpg?fault=redirect")
    loop_url = web_server.url("redir.example.com", "/b.jpg?fault=redirect_loop")
    ok, looped = fetch_all([ok_url, loop_url], config(web_server, max_redirects=3))
    assert ok.ok and ok.attempts == 2 and ok.final_url == "http://redir.example.com/redirected/a.jpg"
    assert looped.failure == "too_many_redirects" and looped.attempts == 4
    loop_hits = web_server.hits[loop_url] + web_server.hits[loop_url + "&loop=1"]
    assert loop_hits == 4


@pytest.mark.timeout(60)
def test_deadline_cuts_a_straggler(web_server):
    url = web_server.url("slow.example.com", "/a.jpg?fault=slow&chunk=16&delay=0.1")
    start = time.monotonic()
    (result,) = fetch_all([url], config(web_server, total_timeout=30, deadline=0.5))
    assert result.failure == "timeout" and time.monotonic() - start < 5


@pytest.mark.timeout(60)
def test_wrong_type_is_judged_by_content(web_server):
    image_url = web_server.url("types.example.com", "/a.jpg?fault=wrong_type")  # image sent as text/html
    page_url = web_server.url("types.example.com", "/p.html?fault=wrong_type")  # page sent as image/jpeg
    image, page = fetch_all([image_url, page_url], config(web_server))
    assert image.ok and image.content_type.startswith("text/html")
    assert page.ok and page.content_type == "image/jpeg"
    assert isinstance(decode_image(image.body, 128, "jpg"), tuple)
    assert decode_image(page.body, 128, "jpg") == "not_an_image"


@pytest.mark.timeout(60)
def test_fetch_many_keeps_order_and_dedups_nothing(web_server):
    urls = [web_server.url(f"h{i % 3}.example.com", f"/{i}.png") for i in range(20)]
    results = fetch_all(urls, config(web_server, concurrency=5, per_host=2))
    assert [r.url for r in results] == urls and all(r.ok for r in results)
    for result in results:
        data, facts = decode_image(result.body, 64, "webp")
        assert max(facts["width"], facts["height"]) <= 64 and facts["format"] == "webp"


@pytest.mark.timeout(60)
def test_concurrency_bounds_hold_per_host_and_overall():
    now: Counter[str] = Counter()
    peak: Counter[str] = Counter()

    async def handler(request: web.BaseRequest) -> web.StreamResponse:
        host = request.headers["Host"]
        for key in (host, "*"):
            now[key] += 1
            peak[key] = max(peak[key], now[key])
        await asyncio.sleep(0.1)
        for key in (host, "*"):
            now[key] -= 1
        return web.Response(body=b"x", content_type="image/jpeg")

    async def run():
        async with tiny_server(handler) as port:
            cfg = FetchConfig(resolver_override={"*": ("127.0.0.1", port)}, concurrency=3, per_host=2)
            async with Fetcher(cfg) as fetcher:
                urls = [f"http://{host}.test/{i}.jpg" for host in ("a", "b") for i in range(6)]
                return await fetcher.fetch_many(urls)

    results = asyncio.run(run())
    assert all(r.ok for r in results)
    assert peak["a.test"] <= 2 and peak["b.test"] <= 2
    assert peak["*"] == 3  # the overall bound holds, and is reached


# --- decoding --------------------------------------------------------------------------------


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


@pytest.mark.timeout(60)
def test_decode_resizes_orients_and_reencodes():
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90: stored 1200x800, displayed 800x1200
    body = encoded(Image.new("RGB", (1200, 800), (200, 30, 30)), "JPEG", exif=exif)
    data, facts = decode_image(body, 512, "jpg")
    assert (facts["width"], facts["height"]) == (341, 512)
    assert (facts["original_width"], facts["original_height"]) == (800, 1200)
    assert facts["original_format"] == "JPEG" and len(facts["sha256"]) == 64
    assert Image.open(io.BytesIO(data)).size == (341, 512)
    small = encoded(Image.new("RGBA", (100, 50), (0, 0, 0, 0)), "PNG")
    data, facts = decode_image(small, 512, "png")
    assert (facts["width"], facts["height"]) == (100, 50)  # never upscaled
    assert Image.open(io.BytesIO(data)).mode == "RGBA"
    assert isinstance(decode_image(small, 512, "jpg"), tuple)  # alpha flattened for JPEG


@pytest.mark.timeout(60)
def test_output_sides_are_scaled_from_the_original_sides():
    """JPEGs decode at reduced scale (draft mode), but the output sides are the original sides
    scaled, as a full decode would give them (img2dataset's): 1,100 x 733 -> 512 x 341, not the
    512 x 342 that scaling the 550 x 367 draft gave."""
    for width, height in [(1100, 733), (733, 1100), (1199, 301), (1024, 767), (640, 479), (513, 300)]:
        body = encoded(Image.new("RGB", (width, height), (90, 120, 200)), "JPEG")
        _, facts = decode_image(body, 512, "jpg")
        scale = 512 / max(width, height)
        assert (facts["width"], facts["height"]) == (round(width * scale), round(height * scale)), (
            width,
            height,
        )


def _exif_block(entries: list[tuple[int, int, int, bytes]]) -> bytes:
    """A little-endian TIFF EXIF block, IFD0 holding `entries` as (tag, type, count, 4 value bytes)."""
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHI", *e[:3]) + e[3] for e in entries)
    return b"Exif\x00\x00II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0)


@pytest.mark.timeout(60)
def test_orientation_is_applied_when_the_exif_block_cannot_be_rewritten():
    """Orientation 6 beside an ImageWidth stored as text: ImageOps.exif_transpose raises on it (it
    writes the EXIF block back without the orientation); the pixels are still turned, and the
    recorded sides match the pixels."""
    orientation = (0x0112, 3, 1, struct.pack("<HH", 6, 0))
    width_as_text = (0x0100, 2, 4, b"abc\x00")
    image = Image.new("RGB", (400, 200), (200, 30, 30))
    image.paste((0, 0, 255), (0, 0, 40, 40))  # a blue corner at the stored top left
    body = encoded(image, "JPEG", exif=_exif_block([orientation, width_as_text]))
    with pytest.raises(struct.error):  # the file is what the test says it is
        ImageOps.exif_transpose(Image.open(io.BytesIO(body)))
    data, facts = decode_image(body, 512, "png")
    out = Image.open(io.BytesIO(data)).convert("RGB")
    assert out.size == (facts["width"], facts["height"]) == (200, 400)
    assert (facts["original_width"], facts["original_height"]) == (200, 400)
    assert out.getpixel((195, 5))[2] > 200  # orientation 6: the stored top left is now top right


@pytest.mark.timeout(60)
def test_decode_reasons():
    assert decode_image(b"<html>not an image</html>", 512) == "not_an_image"
    body = encoded(Image.new("L", (2000, 2000)), "PNG")
    before = Image.MAX_IMAGE_PIXELS
    assert decode_image(body, 512, pixel_limit=1_000_000) == "bomb"
    assert isinstance(decode_image(body, 512), tuple)  # the limit is per call, not global
    assert Image.MAX_IMAGE_PIXELS == before
    jpeg = encoded(Image.new("RGB", (300, 300), (1, 2, 3)), "JPEG")
    assert decode_image(jpeg[: len(jpeg) // 2], 512) == "decode_error"


@pytest.mark.corpus("pillow")
@pytest.mark.timeout(240)
@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about the corrupt files it is fed
def test_pillow_corpus_each_file_gives_bytes_or_a_reason():
    files = sorted(path for path in PILLOW_IMAGES.iterdir() if path.is_file())
    start = time.monotonic()
    outcomes: Counter[str] = Counter()
    for path in files:
        outcome = decode_image(path.read_bytes(), 256, "jpg")
        if isinstance(outcome, tuple):
            data, facts = outcome
            assert data and max(facts["width"], facts["height"]) <= 256, path
            outcomes["ok"] += 1
        else:
            assert outcome in REASONS, (path, outcome)
            outcomes[outcome] += 1
    assert sum(outcomes.values()) == len(files) and outcomes["ok"] > len(files) // 2, outcomes
    assert outcomes["bomb"] >= 1 and outcomes["decode_error"] >= 1, outcomes
    assert time.monotonic() - start < 200


@pytest.mark.corpus("pillow")
@pytest.mark.timeout(240)
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_pillow_corpus_served_through_the_local_web_each_file_kept_or_given_a_reason():
    """All of Pillow's test images (every format and mode, crash, truncated and bomb files)
    fetched from the local web and decoded as the fetch stage does: each one ends as an image or
    with one reason, and nothing escapes as an exception."""
    files = sorted(path for path in PILLOW_IMAGES.iterdir() if path.is_file())
    served = {f"/pillow/{path.name}": path.read_bytes() for path in files}
    with LocalWeb(files=served) as server:
        urls = [server.url("images.example", path) for path in served]
        results = fetch_all(urls, config(server, max_bytes=64 * 1024 * 1024, concurrency=16))
        assert all(server.hits[url] == 1 for url in urls)
    outcomes: Counter[str] = Counter()
    for path, result in zip(files, results, strict=True):
        assert result.url.endswith(path.name)
        if result.failure:
            assert is_failure_reason(result.failure), (path, result.failure)
            outcomes[result.failure] += 1
            continue
        assert result.body == path.read_bytes(), path
        outcome = decode_image(result.body, 256, "jpg")
        outcomes["ok" if isinstance(outcome, tuple) else outcome] += 1
        if not isinstance(outcome, tuple):
            assert outcome in REASONS, (path, outcome)
    assert sum(outcomes.values()) == len(files) == 798 and outcomes["ok"] > len(files) // 2, outcomes
    assert outcomes["bomb"] >= 1 and outcomes["decode_error"] >= 1, outcomes
