"""Where a generated answer stands in its document: the best passage of one page.

An answer is grounded when its content words are found close together in one passage of one
page, not scattered over the document: a bag of words over a 7-page report let "The quarterly
zebra migration report" pass because "report" and "quarter" occur somewhere in it. For every
page the model saw, each content word of the answer is looked up (exactly; by its first five
letters, for inflections; or fuzzily, rapidfuzz ratio >= ``fuzzy_ratio``, for OCR errors), and a
window of ``window_words(n)`` page words is slid over the matches: the score is the largest share
of the answer's content words found in one window, the page the one holding it.

Numbers and names are held to more (after lower-casing and removing accents and thousands
separators): a number must match exactly, a name exactly or as an OCR error of it (fuzzy, never
by a shared prefix); a number with a digit changed or a name swapped for another is a different
fact however well the other words match, so `Grounding.missing_exact` lists the numbers and names
not found in the best window. A name is a content word the answer writes with a capital letter
(a sentence's first word too: "Emma Clarke said" is not "James Clarke said"; a capitalised
common word is found as it is, so this costs only inflections, as of German nouns).

Built once per document (`DocumentIndex`), then one ``ground`` per pair: 14,900 pairs a second on
one core (``benchmarks/results/bench_qa_grounding.json``; goal 2,000).
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cache

from rapidfuzz import fuzz, process

from filters.wordlists import load_wordlist

_WORD = re.compile(r"[^\W_]+(?:[.,][0-9]+)*", re.UNICODE)
STEM_CHARS = 5
NON_CONTENT = frozenset({"yes", "no", "true", "false", "none", "ja", "nein", "oui", "non"})


def normalise(text: str) -> str:
    """Lower case, accents removed (NFKD, combining marks dropped)."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def tokens(text: str) -> list[str]:
    """Normalised words; numbers lose their thousands separators (``1,000`` -> ``1000``)."""
    out = []
    for word in _WORD.findall(normalise(text)):
        if word[0].isdigit():
            word = re.sub(r",(?=\d{3}\b)", "", word)
        out.append(word)
    return out


@cache
def stopwords() -> frozenset[str]:
    words: set[str] = set()
    for lang in ("en", "de", "fr"):
        words |= {normalise(w) for w in load_wordlist("stopwords", lang) or ()}
    return frozenset(words)


_PAGE_HEADING = re.compile(r"^Page (\d+):\n", re.MULTILINE)
_RAW_WORD = re.compile(r"[^\W_]+(?:[.,][0-9]+)*", re.UNICODE)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")  # "h0urs", an OCR error, is a word, not a number


def window_words(content_words: int) -> int:
    """The passage length, in page words, in which an answer of `content_words` must stand."""
    return max(24, 4 * content_words)


def split_pages(text: str) -> list[tuple[int, str]]:
    """(page number, text) of a prompt's pages block (``Page N:`` headings,
    `synth.qa_prompts.pages_block`); a text without headings is page 1."""
    parts = _PAGE_HEADING.split(text)
    if len(parts) == 1:
        return [(1, text)]
    return [(int(parts[i]), parts[i + 1]) for i in range(1, len(parts) - 1, 2)]


def answer_words(answer: str) -> list[tuple[str, bool]]:
    """The answer's content words, each with whether it is held to more (a number or a name)."""
    out = []
    for raw in _RAW_WORD.findall(answer):
        normalised = tokens(raw)
        word = normalised[0] if normalised else ""
        if not word or word in stopwords() or word in NON_CONTENT:
            continue
        out.append((word, _NUMBER.fullmatch(word) is not None or raw[0].isupper()))
    return list(dict.fromkeys(out))  # a repeated word counts once


@dataclass
class Grounding:
    score: float  # share of the answer's content words found in its best passage (1.0: none to find)
    page: int | None  # the page of that passage
    missing_exact: list[str] = field(default_factory=list)  # numbers and names not found there


class DocumentIndex:
    """A document's pages, indexed for `ground`: word -> positions per page, plus prefixes."""

    def __init__(self, text: str, fuzzy_ratio: float = 0.85):
        self.fuzzy_cutoff = round(fuzzy_ratio * 100, 6)  # 0.8 * 100 is 80.00000000000001
        self.pages: list[tuple[int, dict[str, list[int]]]] = []
        self.vocabulary: set[str] = set()
        for number, page_text in split_pages(text):
            positions: dict[str, list[int]] = defaultdict(list)
            for position, word in enumerate(tokens(page_text)):
                positions[word].append(position)
            self.pages.append((number, positions))
            self.vocabulary.update(positions)
        self.by_prefix: dict[str, list[str]] = defaultdict(list)
        for word in self.vocabulary:
            if len(word) >= STEM_CHARS:
                self.by_prefix[word[:STEM_CHARS]].append(word)
        self._choices = sorted(self.vocabulary)
        self._near: dict[tuple[str, bool], list[str]] = {}

    def forms(self, word: str, exact: bool) -> list[str]:
        """Page words that count as `word`. A number: only itself. A name: itself, else a fuzzy
        match (an OCR error, not another name). Any other word: itself and the words sharing its
        first five letters (inflections), else a fuzzy match."""
        if _NUMBER.fullmatch(word):
            return [word]
        key = (word, exact)
        if (near := self._near.get(key)) is None:
            near = [] if exact or len(word) < STEM_CHARS else list(self.by_prefix.get(word[:STEM_CHARS], ()))
            if word in self.vocabulary and word not in near:
                near.append(word)
            if not near and len(word) >= 4:
                near = [m for m, _, _ in process.extract(word, self._choices, scorer=fuzz.ratio,
                                                          score_cutoff=self.fuzzy_cutoff, limit=3)]  # fmt: skip
            self._near[key] = near
        return near

    def ground(self, answer: str) -> Grounding:
        words = answer_words(answer)
        if not words:
            return Grounding(1.0, None)
        forms = [self.forms(word, exact) for word, exact in words]
        span = window_words(len(words))
        best: tuple[int, int | None, set[int]] = (0, None, set())
        for number, positions in self.pages:
            events = sorted(
                (p, i) for i, found in enumerate(forms) for form in found for p in positions.get(form, ())
            )
            if len({i for _, i in events}) <= best[0]:
                continue  # this page cannot beat the best passage so far
            counts: dict[int, int] = defaultdict(int)
            left = 0
            for position, index in events:
                counts[index] += 1
                while position - events[left][0] >= span:
                    gone = events[left][1]
                    counts[gone] -= 1
                    if not counts[gone]:
                        del counts[gone]
                    left += 1
                if len(counts) > best[0]:
                    best = (len(counts), number, set(counts))
        found, page, matched = best
        missing = [word for i, (word, exact) in enumerate(words) if exact and i not in matched]
        return Grounding(found / len(words), page, missing)
