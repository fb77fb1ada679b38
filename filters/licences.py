"""The licence a web page declares for its own content, if any.

``page_licence(html, base_url)`` returns the licence URL (Creative Commons URLs in one canonical
form, ``https://creativecommons.org/licenses/by-sa/4.0/``), or the declared text when the page
names a licence without a URL, or None. What counts, strongest first:

1. ``<link rel="license" href>`` in the head (HTML's own licence link, Wikipedia);
2. ``<meta name="license" | "dcterms.license" | "dc.license" | "dc.rights" | "dcterms.rights">``;
3. ``<a rel="license" href>`` (rel-license microformat, the CC licence chooser's markup), except
   inside a ``<figure>`` / ``<figcaption>`` or an element whose class names a caption or credit:
   there it licenses an image, not the page;
4. ccREL RDF: ``<license rdf:resource>`` (old CC chooser embeds);
5. a CC badge: a link to a CC licence wrapping an ``<img>`` (licensebuttons.net, i.creativecommons.org);
6. a link to a CC licence inside a sentence that states the page's licence ("licensed under",
   "published under", "steht unter", "unter der Lizenz", "sous licence", "mis à disposition").

Plain links to CC licences elsewhere (photo credits, articles about licences) are not the page's
licence and are ignored.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin

from selectolax.lexbor import LexborHTMLParser, LexborNode

CC_URL = re.compile(
    r"^(?:https?:)?//(?:www\.)?creativecommons\.org/(licenses|publicdomain)/([a-z0-9.+-]+)(?:/(\d\.\d))?(?:/(?!deed)([a-z]{2,3}(?:-[a-z]{2})?)(?=/|$))?",
    re.I,
)
META_NAMES = ("license", "dcterms.license", "dc.license", "dc.rights", "dcterms.rights")
CREDIT_CLASS = re.compile(r"caption|credit|copyright-image|attribution|wp-caption", re.I)
STATEMENT = re.compile(
    r"licen[sc]ed under|published under|available under|is licen[sc]ed|distributed under|"
    r"steh(?:t|en)[^.]{0,60}unter|unter (?:der|einer) (?:lizenz|creative)|lizenziert|"
    r"sous (?:la )?licence|mis à disposition|est publié sous|sont publiés sous",
    re.I,
)


def normalize_licence_url(url: str, base_url: str | None = None) -> str:
    """A CC licence URL in canonical form (https, no deed page, no language); others absolute."""
    url = url.strip()
    if match := CC_URL.match(url):
        kind, name, version, jurisdiction = match.groups()
        parts = [kind.lower(), name.lower()] + [p.lower() for p in (version, jurisdiction) if p]
        return "https://creativecommons.org/" + "/".join(parts) + "/"
    if url.startswith("//"):
        return "https:" + url
    return urljoin(base_url, url) if base_url else url


def _in_credit(node: LexborNode) -> bool:
    parent = node.parent
    while parent is not None and parent.tag not in ("body", "html"):
        if parent.tag in ("figure", "figcaption"):
            return True
        if CREDIT_CLASS.search(parent.attributes.get("class") or ""):
            return True
        parent = parent.parent
    return False


def _is_cc(href: str | None) -> bool:
    return bool(href and CC_URL.match(href.strip()))


def _statement_around(node: LexborNode) -> bool:
    parent = node.parent
    for _ in range(2):  # the sentence is usually the link's paragraph, sometimes one level up
        if parent is None:
            return False
        text = parent.text(separator=" ", strip=True)
        if len(text) < 600 and STATEMENT.search(text):
            return True
        parent = parent.parent
    return False


def page_licence(html: str | bytes, base_url: str | None = None) -> str | None:
    """The licence the page declares for itself (see the module docstring), or None."""
    tree = LexborHTMLParser(html if isinstance(html, str) else html.decode("utf-8", "replace"))
    for link in tree.css("link[rel]"):
        if "license" in (link.attributes.get("rel") or "").lower().split() and link.attributes.get("href"):
            return normalize_licence_url(link.attributes["href"], base_url)
    for meta in tree.css("meta[name]"):
        if (meta.attributes.get("name") or "").lower() in META_NAMES and (
            content := meta.attributes.get("content")
        ):
            content = content.strip()
            return normalize_licence_url(content, base_url) if CC_URL.match(content) else content
    anchors = tree.css("a[href]")
    for a in anchors:
        rel = (a.attributes.get("rel") or "").lower().split()
        if "license" in rel and not _in_credit(a):
            return normalize_licence_url(a.attributes["href"], base_url)
    for node in tree.css("license, cc\\:license"):
        if resource := node.attributes.get("rdf:resource"):
            return normalize_licence_url(resource, base_url)
    for a in anchors:
        if _is_cc(a.attributes.get("href")) and a.css_first("img") is not None and not _in_credit(a):
            return normalize_licence_url(a.attributes["href"], base_url)
    for a in anchors:
        if _is_cc(a.attributes.get("href")) and not _in_credit(a) and _statement_around(a):
            return normalize_licence_url(a.attributes["href"], base_url)
    return None
