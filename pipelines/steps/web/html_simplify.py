"""HTML page -> interleaved nodes: the OBELICS simplification, plus main-content focus.

OBELICS (Laurençon et al., 2023, "An Open Web-Scale Filtered Dataset of Interleaved Image-Text
Documents", section 3.2) simplifies the DOM: drop comments, scripts and page chrome, unwrap
inline formatting, keep text blocks and images, emit them in order. We do this in one Python
walk over a lexbor tree (selectolax), then pick the article with cheap rules, measured against
trafilatura on its own evaluation pages (``benchmarks/bench_extraction.py``):

1. boilerplate marks: chrome tags (nav, footer, aside, form, ...) and elements whose class / id /
   role names a page part (menu, sidebar, cookie, share, comments, ...), matched on whole name
   segments (``article-header`` is not ``header``); a mark on an element holding most of the
   page's prose is a mislabelled wrapper (``<form>`` around an ASP.NET page) and is lifted;
2. the main container: the innermost ``<article>`` / ``<main>`` / ``articleBody`` holding most
   of the prose, else the smallest element holding most of it; the run of prose, headings and
   images right before it (title, lede, hero image) comes along;
3. block rules: drop blocks that are mostly anchor text (list items and cells judged with their
   list or table, a linked paragraph between prose kept), repeats, date lines, and labels
   ("Related posts:") whose section was dropped. Figure captions go to their images.

``extract_nodes`` here puts the parts together: the walk and the boilerplate-name rules (rule 1)
are in ``html_walk``, images are read in ``html_images`` and the article is chosen (rules 2-3) in
``html_content``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

from selectolax.lexbor import LexborHTMLParser

from pipelines.steps.web.html_content import select_blocks
from pipelines.steps.web.html_images import ImageRef
from pipelines.steps.web.html_walk import Walker

__all__ = ["Extraction", "ImageRef", "Postprocess", "extract_nodes"]


@dataclass(slots=True)
class Extraction:
    """One page: ordered nodes (``{"type": "text", "text"}`` or ``{"type": "image", "media": i}``,
    i indexing ``images``) and the page title."""

    nodes: list[dict[str, Any]] = field(default_factory=list)
    images: list[ImageRef] = field(default_factory=list)
    title: str = ""


Postprocess = Callable[[Extraction], Extraction]


def extract_nodes(html: str, url: str, postprocess: Postprocess | None = None) -> Extraction:
    """Text and image nodes of a page's main content, in reading order.

    ``url`` (with the page's ``<base href>``, if any) resolves relative image URLs.
    ``postprocess`` (e.g. the OBELICS node-level filters) maps the extraction to the one kept."""
    tree = LexborHTMLParser(html)
    base_node = tree.css_first("base[href]")
    base = url
    if base_node:
        try:
            base = urljoin(url, (base_node.attributes.get("href") or "").strip())
        except ValueError:  # a malformed <base href> (e.g. "http://[::1") is ignored
            pass
    title_node = tree.css_first("title")
    walker = Walker(base)
    if (body := tree.body or tree.root) is not None:
        walker.walk(body, 0)
        walker.flush(0)
    extraction = Extraction(title=" ".join(title_node.text().split()) if title_node else "")
    for (_, text, value, _), kept in zip(walker.blocks, select_blocks(walker), strict=True):
        if kept and text is None:
            extraction.nodes.append({"type": "image", "media": len(extraction.images)})
            extraction.images.append(walker.images[value])
        elif kept:
            extraction.nodes.append({"type": "text", "text": text})
    return postprocess(extraction) if postprocess else extraction
