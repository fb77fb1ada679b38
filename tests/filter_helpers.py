"""Setup shared by the node- and document-filter tests: the shared text rules all turned off,
the flagged word of each language, how to measure each text rule, and a step runner."""

from __future__ import annotations

from datatrove.data import Document
from datatrove.pipeline.base import PipelineStep

from filters.text_stats import (
    char_ngram_repetition,
    punctuation_ratio,
    special_char_ratio,
    word_list_ratio,
    word_ngram_repetition,
    words,
)
from filters.wordlists import load_wordlist

# Every shared text rule off: a boundary test turns one rule on at the measured value.
PERMISSIVE_TEXT_RULES = dict(
    min_words=0,
    max_words=1_000_000,
    max_char_10gram_repetition=1,
    max_word_5gram_repetition=1,
    max_special_char_ratio=1,
    min_stopword_ratio=0,
    max_flagged_word_ratio=1,
    min_punctuation_ratio=0,
)
FLAGGED = {"en": "porn", "de": "porno", "fr": "porno"}

# (config field, kind, reason, measure(text, lang)) of the shared text rules, in the order they
# run; a "max" rule drops above its value, a "min" rule below it.
TEXT_RULES = [
    ("min_words", "min", "too_few_words", lambda t, lang: len(words(t))),
    ("max_words", "max", "too_many_words", lambda t, lang: len(words(t))),
    ("max_char_10gram_repetition", "max", "char_repetition", lambda t, lang: char_ngram_repetition(t)),
    ("max_word_5gram_repetition", "max", "word_repetition", lambda t, lang: word_ngram_repetition(words(t))),
    ("max_special_char_ratio", "max", "special_characters", lambda t, lang: special_char_ratio(t)),
    (
        "min_stopword_ratio",
        "min",
        "stopwords",
        lambda t, lang: word_list_ratio(words(t), load_wordlist("stopwords", lang)),
    ),
    (
        "max_flagged_word_ratio",
        "max",
        "flagged_words",
        lambda t, lang: word_list_ratio(words(t), load_wordlist("flagged", lang)),
    ),
    ("min_punctuation_ratio", "min", "punctuation", lambda t, lang: punctuation_ratio(t)),
]


def run_step(step: PipelineStep, docs: list[Document]) -> tuple[list[Document], dict]:
    """Run ``step`` over ``docs``: the documents it yields and its stats as {key: total}."""
    out = list(step.run(iter(docs)))
    return out, {key: stat.total for key, stat in step.stats.stats.items()}
