"""Document-level filters (OBELICS): drop the whole document.

After the node filters, OBELICS (arXiv 2306.16527, appendix "document-level filtering") drops
documents with too few or too many images or words, and documents whose whole text is
repetitive, full of special characters, poor in stopwords, rich in flagged (adult) words or
poor in punctuation. The text rules are those of :mod:`filters.text_rules`, run on ``doc.text``.
"""

from __future__ import annotations

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.filters.base_filter import BaseFilter

from filters.text_rules import TEXT_REASONS, WORDLIST_RULES, first_failing_rule, rule_wordlists
from filters.text_stats import char_ngram_repetition, word_ngram_repetition, words
from schemas.config_interleaved import DocFilterConfig
from schemas.histograms import HistogramRecorder

# Reasons, in the order the rules run (the first failing rule names the drop).
DOCUMENT_REASONS = ("too_few_images", "too_many_images", *TEXT_REASONS)


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
    a list skips the rule (counted ``skipped_<rule>_<lang>``), never borrowing another list.

    With ``histograms_dir`` set, every document's words and character / word repetition ratios
    go to histograms (``schemas.histograms``) written per task under
    ``<histograms_dir>/<histograms_stage>/``; the ratios are then measured on every document,
    not only on those reaching their rule, so the distributions are complete."""

    name = "📄 OBELICS document filters"

    def __init__(
        self,
        cfg: DocFilterConfig | None = None,
        exclusion_writer=None,
        histograms_dir: str | None = None,
        histograms_stage: str = "extract",
    ):
        super().__init__(exclusion_writer)
        self.cfg = cfg or DocFilterConfig()
        self.histograms = HistogramRecorder(histograms_dir, histograms_stage, "document_filters")

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        self.histograms.start()
        yield from super().run(data, rank, world_size)
        self.histograms.finish(rank)

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
        text = doc.text
        tokens = words(text)
        if self.histograms.enabled:
            self.histograms.add("doc_words", len(tokens))
            self.histograms.add("doc_char_10gram_repetition", char_ngram_repetition(text, 10))
            self.histograms.add("doc_word_5gram_repetition", word_ngram_repetition(tokens, 5))
        n_images = count_images(doc)
        if n_images < cfg.min_images:
            return "too_few_images", n_images
        if n_images > cfg.max_images:
            return "too_many_images", n_images
        lang = str(doc.metadata.get("lang") or "und")
        skipped: set[str] = set()
        failure = first_failing_rule(text, tokens, cfg, rule_wordlists(lang), skipped)
        for rule in WORDLIST_RULES:  # in the order the rules run
            if rule in skipped:
                self.stat_update(f"skipped_{rule}_{lang}")
        return failure
