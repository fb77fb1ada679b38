"""Filters for synthetic captions: what a vision-language model writes that is not a caption.

``candidate_reason(text, cfg, identifier)`` returns why a candidate is unusable, or None:
``empty``; ``refusal`` ("I can't see the image", "I'm sorry", "as an AI": the refusal patterns of
the Docmatix QA filters plus image-specific ones); ``repetition`` (a generation loop: one word
3-gram making up at least a third of the caption's 3-grams, or a line repeated); ``too_short`` /
``too_long`` (``min_words`` / ``max_words``); ``wrong_language`` (fastText's language not in
``languages`` or below ``min_language_score``).
"""

from __future__ import annotations

import re
from collections import Counter

from filters.language import LanguageIdentifier
from filters.qa_filters import REFUSAL_RE
from schemas.config_pairs import RecaptionConfig

IMAGE_REFUSAL_RE = re.compile(
    r"\bi (?:can(?:no|')t|am unable to|'m unable to|do not|don't) (?:see|view|access|open|display|process)\b"
    r"|\b(?:no|without an?) (?:image|picture|photo) (?:was |is )?(?:provided|attached|shown|given)\b"
    r"|\bunable to (?:see|view|describe) (?:the|this|an?) (?:image|picture|photo)\b",
    re.IGNORECASE,
)
LOOP_SHARE = 1 / 3  # one 3-gram at least this share of all: a loop


def is_loop(words: list[str], text: str) -> bool:
    lines = [line.strip().lower() for line in text.splitlines() if line.strip()]
    if len(lines) >= 3 and len(set(lines)) < len(lines) / 2:
        return True
    grams = Counter(tuple(w.lower() for w in words[i : i + 3]) for i in range(len(words) - 2))
    return len(words) >= 9 and grams.most_common(1)[0][1] >= LOOP_SHARE * sum(grams.values())


def candidate_reason(
    text: str | None, cfg: RecaptionConfig, identifier: LanguageIdentifier | None
) -> str | None:
    """Why ``text`` is not a usable caption (see the module docstring), or None."""
    if not text or not text.strip():
        return "empty"
    if REFUSAL_RE.search(text) or IMAGE_REFUSAL_RE.search(text):
        return "refusal"
    words = text.split()
    if is_loop(words, text):
        return "repetition"
    if len(words) < cfg.min_words:
        return "too_short"
    if len(words) > cfg.max_words:
        return "too_long"
    if cfg.languages and identifier is not None:
        language, score = identifier.predict(text)
        if language not in cfg.languages or score < cfg.min_language_score:
            return "wrong_language"
    return None
