"""Text statistics behind the OBELICS node- and document-level filters.

Pure functions over a string or its word list, fast enough to run on every paragraph of millions
of documents: one precompiled regular expression per statistic, n-grams counted by hashing
(string slices or word tuples in a ``Counter``; 64-bit hashes in numpy for long texts), nothing
quadratic, no NLP tokenizer.

Words are maximal runs of Unicode letters, marks and digits (``[^\\W_]+`` with the ``regex``
module, whose ``\\w`` includes combining marks), lower-cased. Apostrophes, hyphens and
underscores split words: ``l'homme`` -> ``l``, ``homme`` and ``don't`` -> ``don``, ``t``, so the
word lists carry elided forms (``l``, ``qu``, ``t``) as NLTK's stopword lists do. OBELICS split on
whitespace and stripped special characters instead; the two agree on ordinary prose.

References: OBELICS (Laurençon et al. 2023, arXiv 2306.16527, appendix "node-level and
document-level filtering", code ``obelics/processors/web_document_filtering.py``) and Gopher
(Rae et al. 2021, arXiv 2112.11446, appendix A, "repetition removal").
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Sequence
from heapq import nlargest
from math import isqrt

import numpy as np
import regex

_WORD_RE = regex.compile(r"[^\W_]+")
# Unicode punctuation (P*), symbols (S*: emoji, currency, math, arrows) and numbers (N*).
_SPECIAL_RE = regex.compile(r"[\p{P}\p{S}\p{N}]")
# Sentence and clause punctuation, Latin and CJK / full-width forms (OBELICS: , ; : ? ! .).
PUNCTUATION = ".,;:!?…。，、；：！？؟،।"
_PUNCTUATION_RE = re.compile(f"[{re.escape(PUNCTUATION)}]")
_NUMPY_FROM = 256  # texts this long count character n-grams by hash in numpy
_HASH_PRIME = np.uint64(1099511628211)  # FNV-1a's 64-bit prime


def words(text: str) -> list[str]:
    """The lower-cased words of ``text``: runs of Unicode letters, marks and digits.

    Numbers count as words (``2023``); punctuation, symbols, emoji and underscores separate
    words and are never part of one."""
    return _WORD_RE.findall(text.lower())


def char_ngram_repetition(text: str, n: int = 10) -> float:
    """Character n-gram repetition ratio, as OBELICS defines it (after BigScience ROOTS).

    Count every character n-gram of ``text`` (all ``len(text) - n + 1`` overlapping windows,
    case and whitespace kept). Let ``D`` be the number of distinct n-grams and ``R`` the number
    of distinct n-grams that occur more than once; take the ``k = min(floor(sqrt(D)), R)`` most
    frequent n-grams. The ratio is the sum of their frequencies over the number of windows: the
    share of the text's n-gram windows taken by its most repeated n-grams (an n-gram seen once
    never counts). Taking the top ``sqrt(D)`` rather than every repeated n-gram keeps long,
    natural texts (where a few 10-grams such as ``" of the co"`` recur by chance) low; a line
    of ``L`` characters repeated many times scores about ``1 / sqrt(L)`` (0.2 for 25 characters),
    a run of one repeated character 1. This is the definition behind OBELICS's cut-off of
    0.1 for n = 10 at both levels (long repeated lines are left to the word 5-gram rule);
    Gopher's "characters covered by duplicated n-grams" would put most real pages above 0.1.

    Short texts count string slices; from ``_NUMPY_FROM`` characters on, n-grams are counted by
    a 64-bit polynomial hash of their code points in numpy (about 8x faster on whole
    documents; a hash collision, about 1e-11 likely for a 10,000-character text, could only
    nudge the ratio up). Returns 0.0 for a text shorter than ``n``."""
    total = len(text) - n + 1
    if total <= 0:
        return 0.0
    if len(text) < _NUMPY_FROM:
        counts = Counter([text[i : i + n] for i in range(total)]).values()
        n_distinct = len(counts)
        repeated = [freq for freq in counts if freq > 1]
    else:
        n_distinct, repeated = _hashed_ngram_counts(text, n)
    if not repeated:
        return 0.0
    k = min(isqrt(n_distinct), len(repeated))
    return sum(nlargest(k, repeated)) / total


def _hashed_ngram_counts(text: str, n: int) -> tuple[int, list[int]]:
    """(number of distinct character n-grams, frequencies of those occurring more than once),
    each n-gram identified by a 64-bit hash of its code points."""
    total = len(text) - n + 1
    code_points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    hashes = code_points[:total].copy()
    for offset in range(1, n):  # h = (...((c0 * p) ^ c1) * p ^ ...) ^ c[n-1]  (mod 2**64)
        hashes *= _HASH_PRIME
        hashes ^= code_points[offset : offset + total]
    hashes.sort()
    new_run = hashes[1:] != hashes[:-1]
    if new_run.all():  # every n-gram distinct: the common case for prose
        return total, []
    bounds = np.empty(int(np.count_nonzero(new_run)) + 2, dtype=np.int64)  # runs of equal hashes
    bounds[0], bounds[-1] = 0, total
    bounds[1:-1] = np.flatnonzero(new_run) + 1
    counts = bounds[1:] - bounds[:-1]
    return len(counts), counts[counts > 1].tolist()


def word_ngram_repetition(words: Sequence[str], n: int = 5) -> float:
    """Word n-gram repetition ratio: the share of word n-grams that are duplicated.

    Over all ``len(words) - n + 1`` overlapping word n-grams (words as :func:`words` gives
    them, lower-cased), the ratio is the number of n-gram occurrences whose n-gram occurs more
    than once, over the number of n-grams. This is OBELICS's ``compute_word_repetition_ratio``
    (cut-offs 0.1 per paragraph, 0.2 per document, n = 5), the word-count form of Gopher's
    "fraction of text in duplicate n-grams"; unlike Gopher it counts every occurrence of a
    repeated n-gram, the first included. Returns 0.0 when there are fewer than ``n`` words."""
    total = len(words) - n + 1
    if total <= 0:
        return 0.0
    counts = Counter(zip(*(words[i:] for i in range(n)), strict=False))
    return sum(freq for freq in counts.values() if freq > 1) / total


def special_char_ratio(text: str) -> float:
    """Share of the characters of ``text`` that are special: neither letter, combining mark
    nor whitespace, i.e. Unicode punctuation (P*), symbols (S*, emoji included) and digits (N*).

    OBELICS's special characters are punctuation, symbols, emoji and digits (its list also
    held whitespace, which put ordinary prose near 0.2 and made the cut-off depend on how an
    extractor spaces text). Without whitespace, prose scores about 0.02 to 0.07 and the cut-offs
    0.3 (paragraph) / 0.275 (document) catch timestamps, prices, part numbers, code and symbol or
    emoji runs. Digits stay special: without them almost nothing real reaches 0.3. The
    denominator is every character, whitespace included. Returns 0.0 for an empty text."""
    if not text:
        return 0.0
    return len(_SPECIAL_RE.findall(text)) / len(text)


def word_list_ratio(words: Sequence[str], wordset: Collection[str]) -> float:
    """Share of ``words`` that are in ``wordset`` (stopwords, flagged words, spam words), as
    OBELICS's stopword and flagged-word ratios. Returns 0.0 for no words."""
    if not words:
        return 0.0
    return sum(map(wordset.__contains__, words)) / len(words)


def punctuation_ratio(text: str, n_words: int | None = None) -> float:
    """Sentence punctuation marks per word.

    The marks are ``. , ; : ! ? …`` and their CJK / full-width, Arabic and Devanagari forms (each
    character counts, so ``...`` is three); the denominator is the number of words
    (:func:`words`; pass ``n_words`` when already counted). OBELICS divided by words plus
    marks; per word reads more directly and differs little at these values. Ordinary prose
    scores about 0.1 to 0.2; a run of 12 or more words with no mark at all (menus, tag clouds,
    keyword lists) scores 0, below the paragraph cut-off of 0.001, and a document needs about
    one mark per 33 words for the document cut-off of 0.03. Returns 0.0 when there are no words.
    """
    if n_words is None:
        n_words = len(words(text))
    if not n_words:
        return 0.0
    return len(_PUNCTUATION_RE.findall(text)) / n_words
