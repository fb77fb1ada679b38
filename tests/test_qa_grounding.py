"""Grounding generated answers in one passage (`filters/qa_grounding.py`), against answers as
imperfect models write them: exact spans of a page and OCR-noised copies (to keep), answers
invented from words of other passages of the same document, and grounded answers with one
number or name swapped (to drop). Documents are 7 pages of the demo's article sentences (names,
places, numbers); the goals are checked on seeds never used to tune the rules (0 and 1 were)."""

from __future__ import annotations

import random

import pytest

from filters.qa_filters import pair_reason
from filters.qa_grounding import DocumentIndex, answer_words
from schemas.config_docmatix import QaFilterConfig
from synth.demo.qa_answers import cases
from synth.qa_prompts import pages_block


def kept(text: str, answer: str) -> bool:
    cfg = QaFilterConfig()
    return (
        pair_reason("What does it say?", answer, cfg, set(), DocumentIndex(text, cfg.fuzzy_ratio))[0] is None
    )


def measure(seeds: range, docs: int = 10) -> dict[str, tuple[int, int]]:
    counts: dict[str, list[int]] = {}
    for seed in seeds:
        rng = random.Random(seed)
        for _ in range(docs):
            for text, kind, answer in cases(rng):
                entry = counts.setdefault(kind, [0, 0])
                entry[0] += kept(text, answer)
                entry[1] += 1
    return {kind: (k, n) for kind, (k, n) in counts.items()}


@pytest.mark.timeout(120)
def test_goals_on_seeds_not_used_for_tuning():
    counts = measure(range(2, 5))
    share = {kind: kept_ / total for kind, (kept_, total) in counts.items()}
    assert all(total >= 150 for _, total in counts.values()), counts
    assert share["grounded"] == 1.0, counts
    assert share["noised"] >= 0.98, counts
    assert share["invented"] <= 0.01, counts
    assert share["swapped"] == 0.0, counts
    assert share["code"] == 0.0 and share["refusal"] == 0.0, counts


@pytest.mark.timeout(30)
def test_the_zebra_report_is_not_grounded_in_a_long_report():
    """The issue's case: every word of the invented answer occurs somewhere in the document."""
    text = pages_block(
        [(1, "The annual report of the council lists its members."), (2, "Spending rose in the last two quarters."),
         (3, "A zebra crossing was painted near the school."), (4, "Bird migration was counted in spring.")]
    )  # fmt: skip
    assert not kept(text, "The quarterly zebra migration report")
    assert kept(text, "It lists the members of the council.")


@pytest.mark.timeout(30)
def test_numbers_exact_names_fuzzy_but_never_another_name():
    text = pages_block([(3, "Director Thomas Weber opened the new wing in 2001 with 45,000 books.")])
    index = DocumentIndex(text)
    assert index.ground("Thomas Webber opened it in 2001.").missing_exact == []  # OCR-like
    assert index.ground("Thomas Wagner opened it in 2001.").missing_exact == ["wagner"]
    assert index.ground("It opened in 2002 with 45000 books.").missing_exact == ["2002"]
    grounding = index.ground("The new wing opened in 2001.")
    assert grounding.page == 3 and grounding.score == 1.0
    assert [w for w, exact in answer_words("Director Thomas Weber, in 2001") if exact] == [
        "director",
        "thomas",
        "weber",
        "2001",
    ]
