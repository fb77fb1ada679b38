"""Filters of generated question/answer pairs (Docmatix, and a bit further): drop single pairs.

Docmatix removed answers containing code and answers saying "unanswerable": those two rules come
first, so the counters show what the published recipe alone would drop. Ours follow, each
switchable. A pair is dropped with the first reason that applies, in this order:

- ``empty_question`` / ``empty_answer``: nothing but spaces and punctuation;
- ``answer_code`` (recipe): the answer looks like code (fences, ``def f(``, ``import x``,
  ``{...;}``, SQL, HTML tags, shell prompts: ``CODE_RE``);
- ``unanswerable`` (recipe): the word, in the answer or the question;
- ``question_too_long`` / ``answer_too_long``: over ``max_question_words`` / ``max_answer_words``;
- ``refusal`` (``refusals``): "cannot be answered", "not mentioned in the text", "I'm sorry",
  "as an AI" and their kin (``REFUSAL_RE``), in the answer or the question;
- ``duplicate_question`` (``duplicates``): the same question, normalised, earlier in the document;
- ``unsupported``: fewer than ``min_support`` of the answer's content words stand close together
  in one passage of one page the model saw (``filters/qa_grounding.py``: exact, same first five
  letters, or fuzzy for OCR errors); an answer without content words (``Yes.``) is supported;
- ``unsupported_number_or_name``: a number or a name of the answer is not, exactly, in that
  passage (``exact_numbers_and_names``).

``QaFilters`` runs them over ``metadata["qa_pairs"]`` (``[{"question", "answer"}]``), keeps the
survivors there, counts ``pairs_dropped_<reason>`` and sends each dropped pair to the exclusion
writer as a small document (``<doc id>#<pair index>``). A document left without a pair is
dropped (``no_pairs_left``). A kept pair carries its grounding (``support``, ``page``). Every
answer's support share goes to the ``qa_answer_support`` histogram, its words to
``qa_answer_words``.
"""

from __future__ import annotations

import re

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from filters.qa_grounding import DocumentIndex, Grounding, tokens
from schemas.config_docmatix import QaFilterConfig
from schemas.histograms import HistogramRecorder

PAIR_REASONS = (
    "empty_question",
    "empty_answer",
    "answer_code",
    "unanswerable",
    "question_too_long",
    "answer_too_long",
    "refusal",
    "duplicate_question",
    "unsupported",
    "unsupported_number_or_name",
)
CODE_RE = re.compile(
    r"```|^\s*(?:def|class|import|from\s+\S+\s+import|#include|public\s+static|function)\b"
    r"|\b(?:def|function)\s+\w+\s*\(|\bconsole\.log\(|\bprint\(|\breturn\s+[\w\"'(]+\s*;|=>\s*[{(]"
    r"|\{[^{}]*;[^{}]*\}|</?(?:div|span|script|html|body|table|tr|td|p|br)\b[^>]*>"
    r"|(?-i:\bSELECT\s+.{1,80}?\s+FROM\s+\w+)|^\s*\$\s+\w+|\b\w+\s*\[\s*\d+\s*\]\s*=",
    re.IGNORECASE | re.MULTILINE,
)
UNANSWERABLE_RE = re.compile(r"\bunanswerable\b", re.IGNORECASE)  # Docmatix's own rule
REFUSAL_RE = re.compile(
    r"\bcannot be (?:answered|determined)\b|\bcan ?not answer\b|\bcan't answer\b"
    r"|\bnot (?:mentioned|stated|specified|provided|given|included|available) in the (?:text|document|page|passage|context)\b"
    r"|\b(?:the )?(?:text|document|page|passage|context) does not (?:say|mention|specify|state|provide|contain)\b"
    r"|\bno (?:information|mention) (?:is )?(?:given|provided|available|about)\b|\bi(?:'| a)?m sorry\b"
    r"|\bas an ai\b|\bi (?:cannot|can't|am unable to|'m unable to)\b|\bi do not have (?:access|enough)\b"
    r"|\binsufficient information\b",
    re.IGNORECASE,
)


def question_key(question: str) -> str:
    """A question normalised for duplicate detection: its words, in order."""
    return " ".join(tokens(question))


def pair_reason(
    question: str, answer: str, cfg: QaFilterConfig, seen: set[str], index: DocumentIndex | None
) -> tuple[str | None, float | None, Grounding | None]:
    """(first failing reason or None, the value measured, the answer's grounding) of one pair;
    records the question."""
    if not tokens(question):
        return "empty_question", None, None
    if not tokens(answer):
        return "empty_answer", None, None
    # the published recipe's two rules first, so the counters show what it alone would drop
    if CODE_RE.search(answer):
        return "answer_code", None, None
    if UNANSWERABLE_RE.search(answer) or UNANSWERABLE_RE.search(question):
        return "unanswerable", None, None
    # then our stricter ones, each switchable
    if len(question.split()) > cfg.max_question_words:
        return "question_too_long", len(question.split()), None
    if len(answer.split()) > cfg.max_answer_words:
        return "answer_too_long", len(answer.split()), None
    if cfg.refusals and (REFUSAL_RE.search(answer) or REFUSAL_RE.search(question)):
        return "refusal", None, None
    key = question_key(question)
    if cfg.duplicates and key in seen:
        return "duplicate_question", None, None
    seen.add(key)
    if cfg.min_support <= 0:
        return None, None, None
    grounding = index.ground(answer)
    if grounding.score < cfg.min_support:
        return "unsupported", round(grounding.score, 4), grounding
    if cfg.exact_numbers_and_names and grounding.missing_exact:
        return "unsupported_number_or_name", round(grounding.score, 4), grounding
    return None, grounding.score, grounding


class QaFilters(PipelineStep):
    """Drops generated pairs that fail a rule (see the module docstring) and emptied documents."""

    name = "🧹 QA filters"
    type = "🔻 - FILTER"

    def __init__(
        self,
        cfg: QaFilterConfig | None = None,
        exclusion_writer=None,
        histograms_dir: str | None = None,
        histograms_stage: str = "generate",
    ):
        super().__init__()
        self.cfg = cfg or QaFilterConfig()
        self.exclusion_writer = exclusion_writer
        self.histograms = HistogramRecorder(histograms_dir, histograms_stage, "qa_filters")

    def filter_pairs(self, doc: Document) -> tuple[list[dict[str, str]], dict[str, int], list[Document]]:
        """(kept pairs, drops per reason, one small document per dropped pair)."""
        # indexed only when grounding is on (min_support 0 turns it off)
        pages = DocumentIndex(doc.text, self.cfg.fuzzy_ratio) if self.cfg.min_support > 0 else None
        seen: set[str] = set()
        kept, drops, dropped = [], {}, []
        for index, pair in enumerate(doc.metadata.get("qa_pairs") or []):
            question, answer = pair["question"].strip(), pair["answer"].strip()
            reason, value, grounding = pair_reason(question, answer, self.cfg, seen, pages)
            if reason in (None, "unsupported", "unsupported_number_or_name"):
                self.histograms.add("qa_answer_support", value if value is not None else 1.0)
            if reason is None:
                self.histograms.add("qa_answer_words", max(1, len(answer.split())))
                kept.append({"question": question, "answer": answer})
                if grounding is not None:  # the passage it stands in: support share and page
                    kept[-1] |= {"support": round(grounding.score, 4), "page": grounding.page}
                continue
            drops[reason] = drops.get(reason, 0) + 1
            dropped.append(
                Document(
                    text=f"Q: {question}\nA: {answer}",
                    id=f"{doc.id}#{index}",
                    metadata={
                        "filter_reason": reason,
                        "filter_value": value,
                        "missing": grounding.missing_exact if grounding else [],
                        "source": doc.metadata.get("source", ""),
                    },
                )
            )
        return kept, drops, dropped

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        self.histograms.start()
        try:
            for doc in data:
                self.stat_update("documents_in")
                with self.track_time():
                    kept, drops, dropped = self.filter_pairs(doc)
                self.stat_update("pairs_in", value=len(doc.metadata.get("qa_pairs") or []))
                self.stat_update("pairs_kept", value=len(kept))
                for reason, count in sorted(drops.items()):
                    self.stat_update(f"pairs_dropped_{reason}", value=count)
                if self.exclusion_writer is not None:
                    for item in dropped:
                        self.exclusion_writer.write(item, rank)
                doc.metadata["qa_pairs"] = kept
                doc.metadata.setdefault("meta", {})["qa_filters"] = {
                    "pairs_in": len(kept) + sum(drops.values()),
                    "pairs_kept": len(kept),
                    "dropped": dict(sorted(drops.items())),
                }
                if not kept:
                    self.stat_update("dropped_no_pairs_left")
                    doc.metadata["filter_reason"] = "no_pairs_left"
                    if self.exclusion_writer is not None:
                        self.exclusion_writer.write(doc, rank)
                    continue
                self.stat_update("forwarded")
                yield doc
        finally:
            self.histograms.finish(rank)
            if self.exclusion_writer is not None:
                self.exclusion_writer.close()
