"""The OBELICS text rules shared by the node (paragraph) and document filters.

OBELICS (arXiv 2306.16527, appendix "node-level and document-level filtering") runs the same
chain of text rules on each paragraph and on each document's whole text, with different
thresholds: word count, character 10-gram and word 5-gram repetition, special characters,
stopwords, flagged (adult) words and punctuation. :func:`first_failing_rule` runs that chain in
that order and names the first rule failed; the paragraph-only parts (the punctuation rule
applying from a number of words, the spam-word rule) are its keyword parameters.

Word-list rules read the lists the caller passes (see :func:`rule_wordlists`); a rule whose list
is None is skipped and its name added to the caller's ``skipped`` set, never applied with
another language's list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from filters.text_stats import (
    char_ngram_repetition,
    punctuation_ratio,
    special_char_ratio,
    word_list_ratio,
    word_ngram_repetition,
)
from filters.wordlists import load_wordlist

# Reasons of the shared chain, in the order the rules run.
TEXT_REASONS = (
    "too_few_words",
    "too_many_words",
    "char_repetition",
    "word_repetition",
    "special_characters",
    "stopwords",
    "flagged_words",
    "punctuation",
)
# The optional rule after the chain (paragraphs only).
SPAM_REASON = "spam_words"
# Word-list rules and the kind of list each reads (filters.wordlists), in the order they run.
WORDLIST_RULES = {"stopwords": "stopwords", "flagged_words": "flagged", SPAM_REASON: "spam"}

WordLists = Mapping[str, frozenset[str] | None]


class TextThresholds(Protocol):
    """The thresholds ``NodeFilterConfig`` and ``DocFilterConfig`` share."""

    min_words: int
    max_words: int
    max_char_10gram_repetition: float
    max_word_5gram_repetition: float
    max_special_char_ratio: float
    min_stopword_ratio: float
    max_flagged_word_ratio: float
    min_punctuation_ratio: float


def rule_wordlists(lang: str) -> dict[str, frozenset[str] | None]:
    """The word list of each word-list rule for language ``lang`` (None where it has none)."""
    return {rule: load_wordlist(kind, lang) for rule, kind in WORDLIST_RULES.items()}


def first_failing_rule(
    text: str,
    tokens: Sequence[str],
    cfg: TextThresholds,
    lists: WordLists,
    skipped: set[str],
    *,
    punctuation_min_words: int = 0,
    max_spam_word_ratio: float | None = None,
) -> tuple[str, float] | None:
    """(reason, measured value) of the first text rule ``text`` fails, or None when it passes.

    ``tokens`` are the words of ``text`` (:func:`filters.text_stats.words`). The punctuation rule
    applies from ``punctuation_min_words`` words (0: always); the spam-word rule runs last, and
    only when ``max_spam_word_ratio`` is given, dropping a text whose spam-word share reaches it.
    A word-list rule whose list in ``lists`` is None is skipped and its name added to ``skipped``.
    """
    n_words = len(tokens)
    if n_words < cfg.min_words:
        return "too_few_words", n_words
    if n_words > cfg.max_words:
        return "too_many_words", n_words
    if (value := char_ngram_repetition(text, 10)) > cfg.max_char_10gram_repetition:
        return "char_repetition", value
    if (value := word_ngram_repetition(tokens, 5)) > cfg.max_word_5gram_repetition:
        return "word_repetition", value
    if (value := special_char_ratio(text)) > cfg.max_special_char_ratio:
        return "special_characters", value
    if (value := _list_ratio("stopwords", tokens, lists, skipped)) is not None:
        if value < cfg.min_stopword_ratio:
            return "stopwords", value
    if (value := _list_ratio("flagged_words", tokens, lists, skipped)) is not None:
        if value > cfg.max_flagged_word_ratio:
            return "flagged_words", value
    if n_words >= punctuation_min_words:
        if (value := punctuation_ratio(text, n_words)) < cfg.min_punctuation_ratio:
            return "punctuation", value
    if max_spam_word_ratio is not None:
        if (value := _list_ratio(SPAM_REASON, tokens, lists, skipped)) is not None:
            if value >= max_spam_word_ratio:
                return SPAM_REASON, value
    return None


def _list_ratio(rule: str, tokens: Sequence[str], lists: WordLists, skipped: set[str]) -> float | None:
    """Share of ``tokens`` on the list of ``rule``; None, with ``rule`` added to ``skipped``, when
    the language has no such list."""
    wordset = lists[rule]
    if wordset is None:
        skipped.add(rule)
        return None
    return word_list_ratio(tokens, wordset)
