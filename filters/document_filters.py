"""Document-level filters (OBELICS): drop the whole document.

After the node filters, OBELICS (arXiv 2306.16527, appendix "document-level filtering") drops
documents with too few or too many images or words, and documents whose whole text is
repetitive, full of special characters, poor in stopwords, rich in flagged (adult) words or
poor in punctuation. The statistics are those of :mod:`filters.text_stats`, on ``doc.text``.
"""

from __future__ import annotations

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter

from filters.text_stats import (
    char_ngram_repetition,
    punctuation_ratio,
    special_char_ratio,
    word_list_ratio,
    word_ngram_repetition,
    words,
)
from filters.wordlists import load_wordlist
from schemas.config import DocFilterConfig

# Reasons, in the order the rules run (the first failing rule names the drop).
DOCUMENT_REASONS = (
    "too_few_images",
    "too_many_images",
    "too_few_words",
    "too_many_words",
    "char_repetition",
    "word_repetition",
    "special_characters",
    "stopwords",
    "flagged_words",
    "punctuation",
)


def count_images(doc: Document) -> int:
    """Image nodes of an interleaved document; its media when it has no node layout."""
    nodes = doc.metadata.get("nodes")
    if nodes is None:
        return len(doc.media)
    return sum(1 for node in nodes if node["type"] == "image")


class DocumentQualityFilter(BaseFilter):
    """Drops documents failing OBELICS's document rules; ``metadata["filter_value"]`` of a dropped
    document is the value its first failing rule measured.

    The stopword and flagged-word rules use the lists of ``metadata["lang"]``; a language without
    a list skips the rule (counted ``skipped_<rule>_<lang>``), never borrowing another list."""

    name = "📄 OBELICS document filters"

    def __init__(self, cfg: DocFilterConfig | None = None, exclusion_writer=None):
        super().__init__(exclusion_writer)
        self.cfg = cfg or DocFilterConfig()

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        failure = self.failure(doc)
        if failure is None:
            return True
        reason, value = failure
        doc.metadata["filter_value"] = value
        return False, reason

    def failure(self, doc: Document) -> tuple[str, float] | None:
        """(reason, measured value) of the first rule ``doc`` fails, or None when it passes."""
        cfg = self.cfg
        n_images = count_images(doc)
        if n_images < cfg.min_images:
            return "too_few_images", n_images
        if n_images > cfg.max_images:
            return "too_many_images", n_images
        text = doc.text
        tokens = words(text)
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
        lang = str(doc.metadata.get("lang") or "und")
        if (wordset := load_wordlist("stopwords", lang)) is None:
            self.stat_update(f"skipped_stopwords_{lang}")
        elif (value := word_list_ratio(tokens, wordset)) < cfg.min_stopword_ratio:
            return "stopwords", value
        if (wordset := load_wordlist("flagged", lang)) is None:
            self.stat_update(f"skipped_flagged_words_{lang}")
        elif (value := word_list_ratio(tokens, wordset)) > cfg.max_flagged_word_ratio:
            return "flagged_words", value
        if (value := punctuation_ratio(text, n_words)) < cfg.min_punctuation_ratio:
            return "punctuation", value
        return None
