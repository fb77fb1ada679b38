"""Caption filters of the pairs job (LAION, DataComp): drop a pair for its caption alone, before
its image is fetched (cheap before dear).

A pair's caption is ``doc.text``. The rules run in this order and the first failed names the
reason (counted ``dropped_<reason>``, the measured value in ``metadata["filter_value"]``):

- ``url_only``: the caption is nothing but a URL (``https://...``, ``www.x.com/...``);
- ``file_name``: the caption looks like a file name (``IMG_2034.JPG``, ``photo-1.png``,
  ``DSC01234``): one token ending in a file extension, or a camera's file-name pattern;
- ``too_few_chars`` (more than 5 characters by default) and ``too_few_words`` (more than 2);
- ``language`` / ``language_score``: fastText ``lid.176`` (``filters.language``) identifies a
  language outside ``languages``, or a kept one with too low a score;
- ``flagged_words``: the share of flagged (explicit) words of the caption's language
  (``filters.wordlists``) exceeds ``max_flagged_word_ratio``; a language without a list skips it.

The language and its score are written into the pair's meta (``lang``, ``lang_score``).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter

from filters.language import LanguageIdentifier
from filters.text_stats import words
from filters.wordlists import load_wordlist
from schemas.config_pairs import CaptionFilterConfig

CAPTION_REASONS = (
    "url_only",
    "file_name",
    "too_few_chars",
    "too_few_words",
    "language",
    "language_score",
    "flagged_words",
)
_URL_ONLY = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|www\.)\S+$", re.IGNORECASE)
_FILE_EXTENSIONS = (
    "jpg|jpeg|jpe|png|gif|webp|bmp|tif|tiff|svg|heic|heif|avif|ico|raw|cr2|nef|dng"
    "|pdf|html?|php|aspx?|txt|docx?|mp4|mov|avi"
)
_FILE_NAME = re.compile(rf"^\S+\.(?:{_FILE_EXTENSIONS})$", re.IGNORECASE)
# Camera and phone file names without their extension: IMG_2034, DSC01234, DSCN0042, PXL_20230101_...
_CAMERA_NAME = re.compile(
    r"^(?:img|dsc|dscn|dscf|dcim|pxl|mvimg|gopr|sam|p\d{3}|screenshot)[_\- ]?\d[\w\- ]*$", re.IGNORECASE
)


class CaptionVerdict(NamedTuple):
    """What the rules found: the first failed rule and its measured value (None, None when the
    caption passes), and the language when the rules got as far as identifying it."""

    reason: str | None
    value: float | str | None
    lang: str | None = None
    lang_score: float | None = None


def caption_verdict(caption: str, cfg: CaptionFilterConfig, identifier: LanguageIdentifier) -> CaptionVerdict:
    """Run the rules of the module docstring on ``caption``, in order."""
    text = " ".join(caption.split())
    if _URL_ONLY.match(text):
        return CaptionVerdict("url_only", text[:80])
    if _FILE_NAME.match(text) or _CAMERA_NAME.match(text):
        return CaptionVerdict("file_name", text[:80])
    if len(text) < cfg.min_chars:
        return CaptionVerdict("too_few_chars", len(text))
    tokens = words(text)
    if len(tokens) < cfg.min_words:
        return CaptionVerdict("too_few_words", len(tokens))
    lang, score = identifier.predict(text)
    if cfg.languages and lang not in cfg.languages:
        return CaptionVerdict("language", score, lang, score)
    if cfg.languages and score < cfg.min_language_score:
        return CaptionVerdict("language_score", score, lang, score)
    flagged = load_wordlist("flagged", lang)
    if flagged is not None:
        ratio = sum(map(flagged.__contains__, tokens)) / len(tokens)
        if ratio > cfg.max_flagged_word_ratio:
            return CaptionVerdict("flagged_words", ratio, lang, score)
    return CaptionVerdict(None, None, lang, score)


class CaptionFilters(BaseFilter):
    """Drops pairs whose caption fails a rule of the module docstring; kept pairs get ``lang`` and
    ``lang_score`` in ``metadata["meta"]``."""

    name = "💬 Caption filters"

    def __init__(
        self,
        cfg: CaptionFilterConfig | None = None,
        model_path: str | None = None,
        exclusion_writer=None,
    ):
        super().__init__(exclusion_writer)
        self.cfg = cfg or CaptionFilterConfig()
        self.identifier = LanguageIdentifier(model_path)

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        verdict = caption_verdict(doc.text, self.cfg, self.identifier)
        if verdict.reason is not None:
            doc.metadata["filter_value"] = verdict.value
            return False, verdict.reason
        meta = doc.metadata.setdefault("meta", {})
        meta["lang"], meta["lang_score"] = verdict.lang, round(verdict.lang_score, 4)
        return True
