"""Pack HTML pages into a WARC with their original URLs (what a crawler would have written).

Tests and benchmarks use it to crawl the real pages of ``../shared/data/web`` as they are.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterable
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter


def pack_pages(
    pages: Iterable[tuple[str, bytes]],
    path: str | Path,
    date: str = "2024-01-01T00:00:00Z",
    gzip: bool = True,
) -> int:
    """Write (url, html bytes) pairs as WARC response records; returns the number written.

    The HTTP header declares no charset, so readers must find it in the page or detect it."""
    count = 0
    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=gzip)
        for url, body in pages:
            http = StatusAndHeaders(
                "200 OK",
                [("Content-Type", "text/html"), ("Content-Length", str(len(body)))],
                protocol="HTTP/1.1",
            )
            record_id = f"<urn:uuid:{hashlib.sha1(url.encode()).hexdigest()[:32]}>"
            record = writer.create_warc_record(
                url, "response", payload=io.BytesIO(body), length=len(body), http_headers=http,
                warc_headers_dict={"WARC-Date": date, "WARC-Record-ID": record_id},
            )  # fmt: skip
            writer.write_record(record)
            count += 1
    return count


def shared_web_pages(web_dir: str | Path) -> list[tuple[str, str, bytes]]:
    """(file name, url, html bytes) for every page of ``shared/data/web`` (pages.json gives URLs)."""
    web_dir = Path(web_dir)
    urls = {name: entry["url"] for name, entry in json.loads((web_dir / "pages.json").read_text()).items()}
    return [
        (p.name, urls[p.name], p.read_bytes())
        for p in sorted((web_dir / "html").glob("*.html"))
        if p.name in urls
    ]


def demo_web_pages(seed: int = 0, copies: int = 1) -> list[tuple[str, str, bytes]]:
    """(file name, url, html bytes) for every HTML page of the demo corpus (`synth.demo.pages`):
    en/de/fr articles with boilerplate, images in every form, duplicates, low-quality pages and
    images on hosts the local web answers. `copies` > 1 adds the pages drawn with the next seeds
    (other texts and URLs: 39 pages a seed), for tests that need a job to run a while. Needs
    nothing outside the checkout."""
    from synth.demo.pages import plan_pages, render

    return [
        (f"demo-{s}-{n:03d}.html", page.url, page.body or render(page))
        for s in range(seed, seed + copies)
        for n, page in enumerate(plan_pages(s))
        if page.content_type.startswith("text/html")
    ]
