"""The walk over a page's DOM: elements and text blocks in reading order, with the tag tables and
the boilerplate-name rules it applies as it goes (rule 1 of the ``html_simplify`` docstring).

One pass over a lexbor tree (selectolax) records each block-level element (its parent, tag,
whether a chrome tag or a boilerplate class / id / role marks it, whether it is an article
container) and each block of text or image in order. ``html_content`` then chooses the article
from what the walk recorded, and ``html_simplify.extract_nodes`` puts the two together. The tag
tables live here, with the walk that reads them; ``html_content`` imports those it needs.
"""

from __future__ import annotations

import re
import unicodedata

from selectolax.lexbor import LexborNode

from pipelines.steps.web.html_images import ImageRef, image_ref

HEADING_TAGS = frozenset("h1 h2 h3 h4 h5 h6".split())
GROUP_TAGS = frozenset("ul ol dl table menu".split())  # where the link density of items is judged
ITEM_TAGS = frozenset("li dt dd td th tr tbody thead tfoot".split())

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
_BR_MARK = "\x00"  # a <br> inside the running paragraph
_INVISIBLE = ("\u00ad", "\u200b", "\u2060", "\ufeff")  # soft hyphens, zero-width: they split words
MAX_DEPTH = 300  # deeper elements (broken markup) are flattened to text: no recursion error


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


class Walker:
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
            # "-comment", "-doctype", ...; lexbor gives processing instructions (``<?pi?>`` in SVG) no tag
            if kind is None and (not tag or tag[0] == "-") or kind == _DROP:
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
                if (image := image_ref(child, self.base)) is not None:
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
