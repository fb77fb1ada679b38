"""Images of a page: which URL an ``<img>`` / ``<picture>`` shows, and the size it states.

Pages hide their real image behind lazy loading (``data-src``, ``data-srcset``, a "blank.gif"
``src``) and responsive markup (``srcset``, ``<picture>`` sources). These rules pick the URL a
reader would see, resolve it against the page, and read ``width`` / ``height`` from attributes or
inline style. Kept apart from the walk (``html_simplify``), which only calls ``_image`` on each
image element: these are attribute rules of their own, tested on their own (``parse_srcset``,
``image_source``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urljoin

from selectolax.lexbor import LexborNode

_SRCSET_RE = re.compile(r"[\s,]*(\S+?)(?:,+(?=\s|$)|\s+([^,]*)(?:,|$)|$)")  # url, descriptors
_DIMENSION_RE = re.compile(r"\s*(\d+)(?:\.\d+)?\s*(?:px)?\s*$")
_STYLE_DIMENSION_RE = re.compile(r"(?<![-\w])(width|height)\s*:\s*(\d+)(?:\.\d+)?px")
_PLACEHOLDER_RE = re.compile(r"placeholder|blank|spacer|lazy|loading|transparent|pixel|empty|1x1", re.I)
_LAZY_ATTRS = ("data-src", "data-original", "data-lazy-src", "data-lazy", "data-url")


@dataclass(slots=True)
class ImageRef:
    """An image of the page: absolute URL, alt text, size when the page states it, and the
    ``<figcaption>`` of its figure (kept with the image, not as a paragraph)."""

    url: str
    alt: str = ""
    width: int | None = None
    height: int | None = None
    caption: str = ""


def _usable(value: str | None) -> str | None:
    value = (value or "").strip()
    return None if not value or value.startswith(("data:", "javascript:", "about:", "blob:", "#")) else value


def parse_srcset(srcset: str) -> list[tuple[str, float]]:
    """``srcset`` candidates as (url, size): the ``w`` width, or the ``x`` density times 1e-6 (so
    any width beats a density); a URL may hold commas, as the HTML parsing rules allow."""
    out = []
    for match in _SRCSET_RE.finditer(srcset):
        size = 1e-6
        for part in (match.group(2) or "").split():
            unit, number = part[-1], part[:-1].replace(".", "", 1)
            if unit in "wx" and number.isdigit():
                size = float(part[:-1]) * (1 if unit == "w" else 1e-6)
        out.append((match.group(1), size))
    return out


def _largest(srcset: str | None) -> str | None:
    candidates = [(size, url) for url, size in parse_srcset(srcset or "") if _usable(url)]
    return max(candidates)[1] if candidates else None


def image_source(attrs: dict[str, str | None]) -> str | None:
    """The URL an ``<img>`` shows: ``src``, else a lazy-loading attribute (``data-src``, ...),
    else the largest ``data-srcset`` / ``srcset`` candidate; a placeholder ``src`` ("blank.gif")
    yields to a lazy-loading attribute. ``data:`` URIs and empty values never count."""
    lazy = next((v for v in map(_usable, map(attrs.get, _LAZY_ATTRS)) if v), None)
    src = _usable(attrs.get("src"))
    if src and not (lazy and _PLACEHOLDER_RE.search(src)):
        return src
    return lazy or _largest(attrs.get("data-srcset")) or _largest(attrs.get("srcset"))


def _dimension(attrs: dict[str, str | None], name: str) -> int | None:
    if match := _DIMENSION_RE.match(attrs.get(name) or ""):
        return int(match.group(1))
    found = [int(v) for key, v in _STYLE_DIMENSION_RE.findall(attrs.get("style") or "") if key == name]
    return found[0] if found else None


def image_ref(node: LexborNode, base: str) -> ImageRef | None:
    """The image of an ``<img>``, or of a ``<picture>`` (its img, else its largest source)."""
    img = node.css_first("img") if node.tag == "picture" else node
    attrs = img.attributes if img is not None else {}
    url = image_source(attrs)
    if url is None and node.tag == "picture":
        sources = (s.attributes for s in node.css("source"))
        url = next((u for a in sources if (u := _largest(a.get("srcset") or a.get("data-srcset")))), None)
    if url and not url.startswith(("http://", "https://")):
        try:
            url = urljoin(base, url)
        except ValueError:  # a malformed base or src (e.g. "http://[::1"): no image
            return None
    if not url or not url.startswith(("http://", "https://")):
        return None
    alt = " ".join((attrs.get("alt") or "").split())
    return ImageRef(url, alt, _dimension(attrs, "width"), _dimension(attrs, "height"))
