"""Filters of the ``pdf_ocr`` job: whole PDFs first, then single pages.

- ``PdfFilter`` (per PDF, before anything is rendered): drops PDFs the reader could not use,
  with the reader's reason (``encrypted``, ``corrupt``, ``truncated``, ``damaged``, ``zero_pages``,
  ``not_pdf``), and PDFs with fewer than ``min_pages`` or more than ``max_pages`` pages.
- ``BlankPageFilter`` (per page, after rendering, before OCR): drops pages whose share of ink
  (pixels away from the background) is at most ``max_ink_share`` (reason ``blank``).
- ``PageTextFilter`` (per page, on the transcription): ``too_little_text`` (fewer than
  ``min_words`` words), ``too_many_tokens`` (over ``max_tokens``), ``language`` /
  ``language_score`` (when ``languages`` is set; pages under ``language_min_words`` words are
  not judged). Every page gets ``meta.lang`` / ``meta.lang_score`` and ``meta.tokens``.

Tokens are counted with the ``tokenizers`` JSON given (``tokenizer``), else estimated as
``max(ceil(1.5 * words), ceil(characters / 4))``: LLM tokenizers give about 1.3 tokens per
English word and more for German, French, numbers and code; one token per four characters
covers text with few spaces. The estimate errs high, so a budget is not overrun.
"""

from __future__ import annotations

import pymupdf
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.filters.base_filter import BaseFilter

from filters.language import LanguageIdentifier
from filters.tokens import count_tokens, estimate_tokens  # noqa: F401  (estimate_tokens: its documented home was here)
from schemas.config_pdf import PageFilterConfig
from schemas.histograms import HistogramRecorder

# characters of a page that language identification reads: enough for its language (on the 143
# text pages of shared/data/pdf the first 1000 gave the language of the whole page every time, the
# first 500 on 141), and fastText's cost grows with the text (char n-gram lookups in the model)
LANGUAGE_ID_CHARS = 1000


class _MeasuringFilter(BaseFilter):
    """A filter writing histograms of what it measures, per task (see schemas.histograms)."""

    step = "page_filters"

    def __init__(
        self, exclusion_writer=None, histograms_dir: str | None = None, histograms_stage: str = "pages"
    ):
        super().__init__(exclusion_writer)
        self.histograms = HistogramRecorder(histograms_dir, histograms_stage, self.step)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        self.histograms.start()
        yield from super().run(data, rank, world_size)
        self.histograms.finish(rank)


class PdfFilter(_MeasuringFilter):
    """Drops unusable PDFs (the reader's ``pdf_problem``) and PDFs outside the page count limits."""

    name = "📑 PDF filter"
    step = "pdf_filter"

    def __init__(self, cfg: PageFilterConfig | None = None, **kwargs):
        super().__init__(**kwargs)
        self.cfg = cfg or PageFilterConfig()

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        verdict = self._verdict(doc)
        if verdict is not True:  # the reader may have left the PDF open for the page renderer
            close_open_pdfs(doc)
        return verdict

    def _verdict(self, doc: Document) -> bool | tuple[bool, str]:
        problem = doc.metadata.get("pdf_problem")
        if problem:
            return False, problem
        pages = int(doc.metadata.get("pdf_pages", 0))
        self.histograms.add("pdf_pages", pages)
        doc.metadata["filter_value"] = pages
        if pages < self.cfg.min_pages:
            return False, "too_few_pages"
        if pages > self.cfg.max_pages:
            return False, "too_many_pages"
        return True


def close_open_pdfs(doc: Document) -> None:
    """Close and forget the pymupdf documents held in ``doc``'s media metadata."""
    for media in doc.media:
        for key, value in list(media.metadata.items()):
            if isinstance(value, pymupdf.Document):
                value.close()
                del media.metadata[key]


class BlankPageFilter(_MeasuringFilter):
    """Drops blank and near-blank pages by their rendered ink share (``metadata["ink_share"]``)."""

    name = "⬜ Blank page filter"
    step = "blank_pages"

    def __init__(self, cfg: PageFilterConfig | None = None, **kwargs):
        super().__init__(**kwargs)
        self.cfg = cfg or PageFilterConfig()

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        share = float(doc.metadata.get("ink_share", 1.0))
        self.histograms.add("page_ink_share", share)
        if share <= self.cfg.max_ink_share:
            doc.metadata.pop("needs_ocr", None)
            doc.metadata["filter_value"] = share
            return False, "blank"
        return True


class PageTextFilter(_MeasuringFilter):
    """Drops pages with too little text, too many tokens for the budget, or another language."""

    name = "📝 Page text filter"
    step = "page_text"

    def __init__(
        self,
        cfg: PageFilterConfig | None = None,
        tokenizer: str | None = None,
        model_path: str | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.cfg = cfg or PageFilterConfig()
        self.tokenizer = self.cfg.tokenizer or tokenizer
        self.languages = frozenset(self.cfg.languages)
        self.identifier = LanguageIdentifier(model_path)

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        cfg, meta = self.cfg, doc.metadata.setdefault("meta", {})
        words = len(doc.text.split())
        self.histograms.add("page_words", words)
        if words < cfg.min_words:
            doc.metadata["filter_value"] = words
            return False, "too_little_text"
        tokens = meta["tokens"] = count_tokens(doc.text, self.tokenizer)
        self.histograms.add("page_tokens", tokens)
        if cfg.max_tokens is not None and tokens > cfg.max_tokens:
            doc.metadata["filter_value"] = tokens
            return False, "too_many_tokens"
        lang, score = self.identifier.predict(doc.text, max_chars=LANGUAGE_ID_CHARS)
        meta["lang"], meta["lang_score"] = lang, round(score, 4)
        self.stat_update(f"lang_{lang}")
        if self.languages and words >= cfg.language_min_words:
            if lang not in self.languages or score < cfg.min_language_score:
                doc.metadata["filter_value"] = score
                return False, "language" if lang not in self.languages else "language_score"
        return True
