"""Word lists of the text filters, shipped as package data under ``filters/wordlists/<lang>/``.

Three kinds per language (lid.176 codes: ``en``, ``de``, ``fr``): ``stopwords`` (OBELICS's
stopword ratio), ``flagged`` (explicit sexual terms, OBELICS's flagged-word ratio) and ``spam``
(cookie banners, share buttons, sign-up boxes). Files hold one lower-case word per line; blank
lines and lines starting with ``#`` are ignored. Entries are single words as
:func:`filters.text_stats.words` splits them, so they match the words of a text exactly.
A language without a file has no list: the rules using it are skipped for that language, never
applied with another language's list.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

KINDS = ("stopwords", "flagged", "spam")


@cache
def load_wordlist(kind: str, lang: str) -> frozenset[str] | None:
    """The ``kind`` word list of language ``lang``, or None when there is none (cached)."""
    if kind not in KINDS:
        raise ValueError(f"unknown word list kind {kind!r}; known kinds: {', '.join(KINDS)}")
    if not lang or not lang.isalnum():
        return None
    path = resources.files("filters").joinpath(f"wordlists/{lang}/{kind}.txt")
    if not path.is_file():
        return None
    lines = (line.strip() for line in path.read_text("utf-8").splitlines())
    return frozenset(line.lower() for line in lines if line and not line.startswith("#"))
