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
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

from selectolax.lexbor import LexborHTMLParser, LexborNode

# What the walk does with each tag; any other tag is inline (unwrapped into the running text).
_DROP, _BR, _IMAGE, _BLOCK, _CHROME, _LINK, _CAPTION, _FIGURE = range(1, 9)
_KIND = {
    **dict.fromkeys(
        "script style noscript iframe svg math template object embed canvas button input select "
        "option textarea map audio video head title frame frameset".split(),
        _DROP,
    ),
    **dict.fromkeys(
        "address article blockquote body caption center dd details dir div dl dt fieldset h1 h2 h3 "
        "h4 h5 h6 hgroup hr html legend li main ol p pre section summary table tbody td tfoot th "
        "thead tr ul".split(),
        _BLOCK,
    ),
    **dict.fromkeys("nav header footer aside menu form dialog".split(), _CHROME),
    **dict.fromkeys(("img", "amp-img", "picture"), _IMAGE),
    **{"br": _BR, "a": _LINK, "figcaption": _CAPTION, "figure": _FIGURE},
}
_HIDDEN, _NAMED = 1, 2  # what an element's attributes say
HEADING_TAGS = frozenset("h1 h2 h3 h4 h5 h6".split())
GROUP_TAGS = frozenset("ul ol dl table menu".split())  # where the link density of items is judged
ITEM_TAGS = frozenset("li dt dd td th tr tbody thead tfoot".split())

# class / id segments (split on space, '-' and '_') that name a page part, not content
_BOILER_WORDS = (
    "nav|navi|navbar|navigation|menu|menus|menubar|submenu|megamenu|breadcrumbs?|pagination|pager|"
    "skip|skiplinks?|jump|footer|sidebar|sidebars|masthead|topbar|toolbar|"
    "cookies?|consent|gdpr|banner|advert\\w*|ads?|adslot|adsense|sponsored|promo|"
    "share|shares|sharing|sharebar|social|socials|follow|newsletter|subscribe|subscription|"
    "comments?|commentlist|disqus|respond|replies|related|recommended|popular|trending|"
    "popup|modal|overlay|byline|meta|tags|tagcloud|tagged|author|outbrain|taboola"
)
_BOILER_RE = re.compile(rf"(?:^|[\s_-])(?:{_BOILER_WORDS})(?=$|[\s_-])")
# run-together names ("mainnav", "sitefooter", "leftsidebar"): a segment ending with the word
_BOILER_SUFFIX_RE = re.compile(r"(?:nav|menu|footer|sidebar|navigation|breadcrumbs?)(?=$|[\s_-])")
_BOILER_ROLES = frozenset("navigation banner contentinfo complementary search menu menubar dialog".split())
_MODIFIER_RE = re.compile(r"--[\w-]*")  # BEM modifiers ("section--ads") name a state, not a part
# whole class names, or styles, that hide an element from sighted readers
_HIDDEN_CLASS_RE = re.compile(
    r"(?:^|\s)(?:hidden|hide|invisible|sr-only|screen-reader-text|visually-hidden|visuallyhidden)(?=$|\s)"
)
_HIDDEN_STYLE_RE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden")
_SRCSET_RE = re.compile(r"[\s,]*(\S+?)(?:,+(?=\s|$)|\s+([^,]*)(?:,|$)|$)")  # url, descriptors
_DIMENSION_RE = re.compile(r"\s*(\d+)(?:\.\d+)?\s*(?:px)?\s*$")
_STYLE_DIMENSION_RE = re.compile(r"(?<![-\w])(width|height)\s*:\s*(\d+)(?:\.\d+)?px")
_PLACEHOLDER_RE = re.compile(r"placeholder|blank|spacer|lazy|loading|transparent|pixel|empty|1x1", re.I)
_LAZY_ATTRS = ("data-src", "data-original", "data-lazy-src", "data-lazy", "data-url")
_BR_MARK = "\x00"  # a <br> inside the running paragraph
_INVISIBLE = ("\u00ad", "\u200b", "\u2060", "\ufeff")  # soft hyphens, zero-width: they split words

# Tuning, measured on the benchmark pages (rules, never pages).
MAX_LINK_DENSITY = 0.5  # a block with more anchor text than this share is navigation
WRAPPER_SHARE = 0.5  # a marked element holding more of the prose than this is a wrapper
SEMANTIC_SHARE = 0.6  # an <article>/<main>/articleBody holding this share is the container
DESCEND_SHARE = 0.8  # else descend into a child holding this share of its parent's prose
MIN_PROSE_BLOCKS = 2  # ... and at least this many prose blocks (one paragraph is no article)
LEDE_LEVELS = 2  # the lede is looked for this many levels above the container
MIN_PROSE_CHARS = 25  # shorter blocks are labels, not prose
LABEL_CHARS = 40  # a line this short that ends no sentence introduces what follows
DATELINE_CHARS, DATELINE_DIGITS = 30, 0.3  # a line this short with this share of digits is a date
MAX_DEPTH = 300  # deeper elements (broken markup) are flattened to text: no recursion error


@dataclass(slots=True)
class ImageRef:
    """An image of the page: absolute URL, alt text, size when the page states it, and the
    ``<figcaption>`` of its figure (kept with the image, not as a paragraph)."""

    url: str
    alt: str = ""
    width: int | None = None
    height: int | None = None
    caption: str = ""


@dataclass(slots=True)
class Extraction:
    """One page: ordered nodes (``{"type": "text", "text"}`` or ``{"type": "image", "media": i}``,
    i indexing ``images``) and the page title."""

    nodes: list[dict[str, Any]] = field(default_factory=list)
    images: list[ImageRef] = field(default_factory=list)
    title: str = ""


Postprocess = Callable[[Extraction], Extraction]


# --- images ---------------------------------------------------------------------------------


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


def _image(node: LexborNode, base: str) -> ImageRef | None:
    """The image of an ``<img>``, or of a ``<picture>`` (its img, else its largest source)."""
    img = node.css_first("img") if node.tag == "picture" else node
    attrs = img.attributes if img is not None else {}
    url = image_source(attrs)
    if url is None and node.tag == "picture":
        sources = (s.attributes for s in node.css("source"))
        url = next((u for a in sources if (u := _largest(a.get("srcset") or a.get("data-srcset")))), None)
    if url and not url.startswith(("http://", "https://")):
        url = urljoin(base, url)
    if not url or not url.startswith(("http://", "https://")):
        return None
    alt = " ".join((attrs.get("alt") or "").split())
    return ImageRef(url, alt, _dimension(attrs, "width"), _dimension(attrs, "height"))


# --- the walk -------------------------------------------------------------------------------


def _verdict(attrs: dict[str, str | None], memo: dict[tuple, int]) -> int:
    """``_HIDDEN`` (not rendered), ``_NAMED`` (class, id or role names a page part) or 0;
    ``memo`` remembers names already judged (pages repeat their class names)."""
    if "hidden" in attrs or attrs.get("aria-hidden") == "true":
        return _HIDDEN
    style = attrs.get("style")
    if style and ("none" in style or "hidden" in style) and _HIDDEN_STYLE_RE.search(style.lower()):
        return _HIDDEN
    key = (attrs.get("class"), attrs.get("id"), attrs.get("role"))
    if (verdict := memo.get(key)) is None:
        verdict = memo[key] = _names_verdict(*key)
    return verdict


def _names_verdict(classes: str | None, ident: str | None, role: str | None) -> int:
    names = f"{classes or ''} {ident or ''}".lower()
    if _HIDDEN_CLASS_RE.search(names):
        return _HIDDEN
    names = _MODIFIER_RE.sub("", names)
    named = (
        (role or "").lower() in _BOILER_ROLES or _BOILER_RE.search(names) or _BOILER_SUFFIX_RE.search(names)
    )
    return _NAMED if named else 0


class _Walker:
    """One pass over the DOM, recording the elements that own blocks and the blocks in reading
    order. Elements are numbered in document order (``parent[e] < e``, 0 is the root); a block
    is ``(owner, text, link_chars, tag)``, or ``(owner, None, image_index, "img")``."""

    def __init__(self, base: str):
        self.base = base
        self.parent, self.tag, self.mark, self.semantic = [-1], ["#root"], [False], [False]
        self.blocks: list[tuple[int, str | None, int, str]] = []
        self.images: list[ImageRef] = []
        self._buf: list[str] = []
        self._link_chars = self._in_link = self._in_pre = self._in_article = self._in_caption = 0
        self._captions: list[list[str]] = []  # caption texts of each open figure
        self._memo: dict[tuple, int] = {}

    def flush(self, owner: int) -> None:
        """End the running paragraph: its whitespace-normalised lines become one block."""
        raw, link_chars = "".join(self._buf), self._link_chars
        self._buf.clear()  # cleared in place: walk() holds it
        self._link_chars = 0
        if raw.isspace():
            return
        text = "\n".join(line for line in (" ".join(part.split()) for part in raw.split(_BR_MARK)) if line)
        if not text.isascii():
            for char in _INVISIBLE:
                text = text.replace(char, "") if char in text else text
            text = unicodedata.normalize("NFC", text)
        if text and self._in_caption:
            if self._captions:
                self._captions[-1].append(text)
        elif text:
            self.blocks.append((owner, text, link_chars, self.tag[owner]))

    def walk(self, node: LexborNode, owner: int, depth: int = 0) -> None:
        """Walk ``node``'s children: text joins the running paragraph, block elements end it."""
        buf, kinds, memo = self._buf, _KIND, self._memo  # locals: this loop is the hot path
        for child in node.iter(include_text=True):
            tag = child.tag
            if tag == "-text":
                text = child.text_content
                if text and (buf or not text.isspace()):
                    buf.append(text.replace("\n", _BR_MARK) if self._in_pre else text)
                    if self._in_link:
                        self._link_chars += len(text.strip())
                continue
            kind = kinds.get(tag)
            if kind is None and tag[0] == "-" or kind == _DROP:  # "-comment", "-doctype", ...
                continue
            if kind == _BR:
                buf.append(_BR_MARK)
                continue
            attrs = child.attributes
            verdict = _verdict(attrs, memo) if attrs else 0
            if verdict == _HIDDEN:
                continue
            if depth > MAX_DEPTH:
                buf.append(f" {child.text(deep=True, separator=' ')} ")
            elif kind is None and not verdict:  # inline: its text joins the running paragraph
                self.walk(child, owner, depth + 1)
            elif kind == _LINK:
                self._in_link += 1
                self.walk(child, owner, depth + 1)
                self._in_link -= 1
            elif kind == _IMAGE:
                if (image := _image(child, self.base)) is not None:
                    if buf:
                        self.flush(owner)
                    self.blocks.append((owner, None, len(self.images), "img"))
                    self.images.append(image)
            elif kind == _FIGURE:
                self._captions.append([])
                first = len(self.images)
                self.element(child, owner, depth, tag, attrs, False)
                caption = " ".join(self._captions.pop())
                for image in self.images[first:]:
                    image.caption = image.caption or caption
            else:  # an article's own <header> holds its title and lede; a figcaption is no text
                chrome = kind == _CHROME and not (tag == "header" and self._in_article)
                named = verdict == _NAMED and tag not in HEADING_TAGS
                self.element(child, owner, depth, tag, attrs, chrome or named or kind == _CAPTION)

    def element(self, node: LexborNode, owner: int, depth: int, tag: str, attrs: dict, mark: bool) -> None:
        """A block element: it ends the running paragraph and owns the blocks inside it."""
        if self._buf:
            self.flush(owner)
        element = len(self.tag)
        article = tag in ("article", "main") or "articleBody" in (attrs.get("itemprop") or "")
        self.parent.append(owner)
        self.tag.append(tag)
        self.mark.append(mark)
        self.semantic.append(article or attrs.get("role") == "main")
        pre, caption = tag == "pre", tag == "figcaption"
        self._in_pre += pre
        self._in_article += article
        self._in_caption += caption
        self.walk(node, element, depth + 1)
        if self._buf:
            self.flush(element)
        self._in_pre -= pre
        self._in_article -= article
        self._in_caption -= caption


# --- the article ----------------------------------------------------------------------------


def _prose_weight(text: str, link_chars: int) -> int:
    """How much a block counts as article prose: its non-link characters; none for a label or
    a block that is mostly links."""
    size = len(text)
    return 0 if size < MIN_PROSE_CHARS or link_chars > MAX_LINK_DENSITY * size else size - link_chars


def _subtree_sums(parent: list[int], own: list[int]) -> list[int]:
    total = list(own)
    for element in range(len(parent) - 1, 0, -1):
        total[parent[element]] += total[element]
    return total


def _inside(parent: list[int], root: int) -> list[bool]:
    inside = [False] * len(parent)
    inside[root] = True
    for element in range(root + 1, len(parent)):
        inside[element] = inside[parent[element]]
    return inside


def _main_container(w: _Walker, dead: list[bool], weights: list[int]) -> int:
    """The element whose subtree is the article (module docstring, rule 2)."""
    own, count = [0] * len(w.parent), [0] * len(w.parent)
    for (owner, *_), weight in zip(w.blocks, weights, strict=True):
        if weight and not dead[owner]:
            own[owner] += weight
            count[owner] += 1
    total, count = _subtree_sums(w.parent, own), _subtree_sums(w.parent, count)
    for element in range(len(w.parent) - 1, 0, -1):  # the innermost: shares above 1/2 nest
        if w.semantic[element] and not dead[element] and total[element] >= SEMANTIC_SHARE * total[0] > 0:
            return element
    best = [0] * len(w.parent)  # each element's child holding the most prose
    for element in range(1, len(w.parent)):
        parent = w.parent[element]
        if not best[parent] or total[element] > total[best[parent]]:
            best[parent] = element
    current = 0
    while (
        (child := best[current])
        and total[child] >= DESCEND_SHARE * total[current]
        and count[child] >= MIN_PROSE_BLOCKS
    ):
        current = child
    return current


def _lede(w: _Walker, container: int, dead: list[bool], weights: list[int], first: int) -> set[int]:
    """The run of prose, headings and images right before the container (boilerplate skipped),
    within ``LEDE_LEVELS`` levels above it: a title, a standfirst, a hero image."""
    root = container
    for _ in range(LEDE_LEVELS):
        root = max(w.parent[root], 0)
    zone, lede = _inside(w.parent, root), set()
    for index in range(first - 1, -1, -1):
        owner, text, _, tag = w.blocks[index]
        if dead[owner]:
            continue
        if not zone[owner] or not (text is None or weights[index] or tag in HEADING_TAGS):
            break
        lede.add(index)
    return lede


def _link_heavy(text: str, link_chars: int, group: int, chars: list[int], links: list[int]) -> bool:
    """Mostly anchor text; a list item or table cell is judged with its list or table (``group``,
    -1 for none): a link in a data table is content, a list of links is navigation."""
    if link_chars <= MAX_LINK_DENSITY * len(text):
        return False
    return group < 0 or links[group] > MAX_LINK_DENSITY * chars[group]


def _is_dateline(text: str) -> bool:
    """A short line of mostly digits: a date, a time, an issue number ("23.10.2018, 19:49")."""
    if len(text) > DATELINE_CHARS:
        return False
    return sum(c.isdigit() for c in text) >= DATELINE_DIGITS * len(text.replace(" ", ""))


def _is_label(text: str, tag: str) -> bool:
    """A heading, or a short line that ends no sentence ("Related posts:", "Tags"); list items
    and table cells are items, not labels."""
    if tag in HEADING_TAGS:
        return True
    return tag not in ITEM_TAGS and len(text) <= LABEL_CHARS and text[-1] not in ".!?\"'»“”)"


def _select(w: _Walker) -> list[bool]:
    """Which blocks of the walk make the article (module docstring, rules 1-3)."""
    size = len(w.parent)
    weights = [_prose_weight(text, link) if text is not None else 0 for _, text, link, _ in w.blocks]
    own_prose, own_chars, own_links = [0] * size, [0] * size, [0] * size
    for (owner, text, link_chars, _), weight in zip(w.blocks, weights, strict=True):
        if text is not None:
            own_prose[owner] += weight
            own_chars[owner] += len(text)
            own_links[owner] += link_chars
    prose, chars, links = (_subtree_sums(w.parent, own) for own in (own_prose, own_chars, own_links))
    dead = [False] * size
    for e in range(1, size):
        dead[e] = dead[w.parent[e]] or (w.mark[e] and prose[e] <= WRAPPER_SHARE * prose[0])
    container = _main_container(w, dead, weights)
    inside = _inside(w.parent, container)
    first = next((i for i, block in enumerate(w.blocks) if inside[block[0]]), len(w.blocks))
    lede = _lede(w, container, dead, weights, first)

    keep: list[bool | None] = []  # None: not part of the article (boilerplate, outside, noise)
    seen: set[str] = set()
    for index, (owner, text, link_chars, tag) in enumerate(w.blocks):
        if dead[owner] or not (inside[owner] or index in lede):
            keep.append(None)
        elif text is None:
            keep.append(True)
        elif text in seen or (tag not in HEADING_TAGS and tag not in ITEM_TAGS and _is_dateline(text)):
            keep.append(None)  # a repeat or a date line: not content, but ends no section
        else:
            seen.add(text)
            group = owner
            while w.tag[group] in ITEM_TAGS:
                group = w.parent[group]
            group = group if group != owner and w.tag[group] in GROUP_TAGS else -1
            keep.append(not _link_heavy(text, link_chars, group, chars, links))
    candidates = [i for i, kept in enumerate(keep) if kept is not None]
    # a linked paragraph between two paragraphs of prose is part of the text
    for before, index, after in zip(candidates, candidates[1:], candidates[2:], strict=False):
        if keep[index] is False and w.blocks[index][3] == "p":
            keep[index] = bool(weights[before] and weights[after] and keep[before] and keep[after])
    # a label introduces what follows it: when that was dropped, so is the label (the page's
    # last block introduces nothing: it is no label)
    following = bool(candidates) and candidates[-1] == len(w.blocks) - 1
    for index in reversed(candidates):
        _, text, _, tag = w.blocks[index]
        if keep[index] and text is not None and not following and _is_label(text, tag):
            keep[index] = False
        following = keep[index]
    return [bool(kept) for kept in keep]


def extract_nodes(html: str, url: str, postprocess: Postprocess | None = None) -> Extraction:
    """Text and image nodes of a page's main content, in reading order.

    ``url`` (with the page's ``<base href>``, if any) resolves relative image URLs.
    ``postprocess`` (e.g. the OBELICS node-level filters) maps the extraction to the one kept."""
    tree = LexborHTMLParser(html)
    base_node = tree.css_first("base[href]")
    base = urljoin(url, (base_node.attributes.get("href") or "").strip()) if base_node else url
    title_node = tree.css_first("title")
    walker = _Walker(base)
    if (body := tree.body or tree.root) is not None:
        walker.walk(body, 0)
        walker.flush(0)
    extraction = Extraction(title=" ".join(title_node.text().split()) if title_node else "")
    for (_, text, value, _), kept in zip(walker.blocks, _select(walker), strict=True):
        if kept and text is None:
            extraction.nodes.append({"type": "image", "media": len(extraction.images)})
            extraction.images.append(walker.images[value])
        elif kept:
            extraction.nodes.append({"type": "text", "text": text})
    return postprocess(extraction) if postprocess else extraction
