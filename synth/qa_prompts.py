"""Prompt templates for Docmatix-style question/answer generation about PDF pages.

Docmatix (HuggingFaceM4, 2024) prompted an LLM with the transcription of a PDF's pages and asked
for question/answer pairs "about four per page", in JSON. Each template here asks for specific,
diverse questions that the page text answers, with answers of human length (a phrase to two
sentences), and for a JSON list of ``{"question": ..., "answer": ...}`` objects, nothing else.
Several templates vary the questions' style (facts, reasoning, summaries, numbers, roles) so
the data set does not repeat one phrasing; one is chosen per document with a seeded RNG
(``choose_template``), and its name goes into the sample's ``meta``.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

_JSON_RULES = (
    "Reply with a JSON list only, no prose and no code fences: "
    '[{{"question": "...", "answer": "..."}}, ...]. '
    "Each question must be answerable from the text alone, name what it asks about, and not repeat "
    "another question. Each answer is a phrase or one or two sentences, as a person would write it, "
    "and uses the document's own words where it can. Do not ask about page numbers or formatting."
)


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    system: str
    instruction: str  # formatted with n_pairs and pages

    def messages(self, pages_text: str, n_pairs: int) -> list[dict[str, str]]:
        """The chat messages of one request: system, then the instruction with the pages."""
        user = self.instruction.format(n_pairs=n_pairs, rules=_JSON_RULES.format(), pages=pages_text)
        return [{"role": "system", "content": self.system}, {"role": "user", "content": user}]


_SYSTEM = "You write question/answer pairs that teach a model to read documents. You answer in JSON."

TEMPLATES: tuple[PromptTemplate, ...] = (
    PromptTemplate(
        "factual",
        _SYSTEM,
        "Below is the text of a document, page by page. Write {n_pairs} question/answer pairs about "
        "specific facts it states: names, dates, places, quantities, definitions. Cover every page. "
        "{rules}\n\n{pages}",
    ),
    PromptTemplate(
        "reasoning",
        _SYSTEM,
        "Read the document below. Write {n_pairs} questions that need one step of reasoning over what "
        "it says (why something happened, how two statements relate, what follows from a stated fact), "
        "each with a short answer grounded in the text. Spread them over all pages. {rules}\n\n{pages}",
    ),
    PromptTemplate(
        "summary",
        _SYSTEM,
        "Here is a document. Write {n_pairs} question/answer pairs: a few asking what a page or "
        "section is about, the rest asking for specific details a reader would look up. {rules}\n\n{pages}",
    ),
    PromptTemplate(
        "numbers_and_entities",
        _SYSTEM,
        "The document below may contain figures, amounts, dates and named entities. Write {n_pairs} "
        "question/answer pairs that ask for them precisely (which, how many, when, who); where the text "
        "has none, ask about its key terms instead. {rules}\n\n{pages}",
    ),
    PromptTemplate(
        "reader_roles",
        _SYSTEM,
        "Imagine three readers of the document below: a student, an analyst and a customer. Write "
        "{n_pairs} questions they would each ask, mixed, which the document answers, with the answers. "
        "{rules}\n\n{pages}",
    ),
    PromptTemplate(
        "locate_and_explain",
        _SYSTEM,
        "Write {n_pairs} question/answer pairs about the document below. Half should ask where or in "
        "what context something is mentioned and what it says; half should ask to explain a term or a "
        "statement in plain words. {rules}\n\n{pages}",
    ),
)
TEMPLATE_NAMES = tuple(t.name for t in TEMPLATES)


def template_by_name(name: str) -> PromptTemplate:
    for template in TEMPLATES:
        if template.name == name:
            return template
    raise ValueError(f"unknown prompt template {name!r}; known: {', '.join(TEMPLATE_NAMES)}")


def choose_template(
    doc_id: str, seed: int, names: tuple[str, ...] | list[str] = TEMPLATE_NAMES
) -> PromptTemplate:
    """The template of one document: a seeded draw keyed by (seed, document id), so the choice is
    the same on every run and machine and does not depend on the order documents arrive in."""
    if not names:
        raise ValueError("no prompt templates enabled")
    digest = hashlib.sha256(f"{seed}\0{doc_id}".encode()).digest()
    rng = random.Random(int.from_bytes(digest[:8], "big"))
    return template_by_name(rng.choice(sorted(names)))


def pages_block(pages: list[tuple[int, str]]) -> str:
    """The pages as the prompt shows them: a ``Page N:`` heading before each transcription."""
    return "\n\n".join(f"Page {number}:\n{text.strip()}" for number, text in pages)


def pairs_wanted(pages: int, per_page: int, max_pairs: int) -> int:
    """About ``per_page`` pairs per page (Docmatix asked for ~4), at most ``max_pairs``."""
    return max(1, min(max_pairs, pages * per_page))
