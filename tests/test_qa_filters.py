"""Filters of generated pairs: each reason, the support measure, the step's counts."""

import pytest
from datatrove.data import Document

from filters.qa_filters import QaFilters, pair_reason, tokens
from filters.qa_grounding import DocumentIndex
from schemas.config_docmatix import QaFilterConfig

PAGE = (
    "The Riverside Library was founded in 1921 by Margaret Olsen. The reading room holds 45,000 "
    "books and opened in March 2001. Its director, Thomas Weber, reported record visitor numbers."
)


def reason(question, answer, cfg=None, seen=None, page=PAGE):
    cfg = cfg or QaFilterConfig()
    return pair_reason(
        question, answer, cfg, set() if seen is None else seen, DocumentIndex(page, cfg.fuzzy_ratio)
    )[0]


@pytest.mark.parametrize(
    "question, answer, expected",
    [
        ("Who founded the library?", "Margaret Olsen, in 1921.", None),
        ("How many books are there?", "About 45000 books.", None),  # 45,000 == 45000
        ("What did the director report?", "He reports record visitors.", None),  # stems
        ("Who is the director?", "Thomas Webber.", None),  # fuzzy: an OCR-like misspelling
        ("Is it big?", "Yes.", None),  # no content words
        ("?!", "Margaret Olsen.", "empty_question"),
        ("Who founded it?", " ... ", "empty_answer"),
        ("Who " + "really " * 61 + "founded it?", "Margaret Olsen.", "question_too_long"),
        ("Who founded it?", "Margaret " * 121, "answer_too_long"),
        ("How to count?", "```python\nlen(books)\n```", "answer_code"),
        ("How to count?", "Run SELECT count(*) FROM books", "answer_code"),
        ("How to count?", "def count(x): return len(x)", "answer_code"),
        ("How to show it?", "Use <div class='x'>books</div>", "answer_code"),
        ("What is the budget?", "Unanswerable.", "unanswerable"),  # the recipe's own rule
        ("What is the budget?", "The budget is not mentioned in the text.", "refusal"),
        ("What is the budget?", "I'm sorry, I cannot answer that.", "refusal"),
        ("What is the budget?", "As an AI, I do not know.", "refusal"),
        ("What colour is the roof?", "Bright green copper tiles.", "unsupported"),
    ],
)
def test_reasons(question, answer, expected):
    assert reason(question, answer) == expected


def test_duplicates_normalised_and_threshold_configurable():
    seen = set()
    assert reason("Who founded the library?", "Margaret Olsen.", seen=seen) is None
    assert reason("who founded  the Library", "Olsen.", seen=seen) == "duplicate_question"
    half = "Margaret Olsen painted green tiles."  # 2 of 5 content words (margaret, olsen) on the page
    assert reason("Who?", half) == "unsupported"
    assert reason("Who?", half, QaFilterConfig(min_support=0.4)) is None
    assert reason("Who?", half, QaFilterConfig(min_support=0)) is None


def test_tokens_normalise_accents_case_and_numbers():
    assert tokens("Café, 1,000 Élan's") == ["cafe", "1000", "elan", "s"]
    assert DocumentIndex("résumé of 1,000", 0.85).ground("Resume of 1000.").score == 1.0


def test_step_counts_and_drops_emptied_documents():
    class Recorder:
        def __init__(self):
            self.items = []

        def write(self, doc, rank=0):
            self.items.append(doc.metadata["filter_reason"])

        def close(self):
            pass

    docs = [
        Document(text=PAGE, id="a", metadata={"qa_pairs": [
            {"question": "Who founded it?", "answer": "Margaret Olsen."},
            {"question": "Who founded it?", "answer": "Olsen."},
            {"question": "Budget?", "answer": "unanswerable"},
        ]}),
        Document(text=PAGE, id="b", metadata={"qa_pairs": [{"question": "Code?", "answer": "print(1)"}]}),
    ]  # fmt: skip
    recorder = Recorder()
    step = QaFilters(exclusion_writer=recorder)
    kept = list(step.run(iter(docs)))
    assert [d.id for d in kept] == ["a"]
    assert kept[0].metadata["qa_pairs"] == [
        {"question": "Who founded it?", "answer": "Margaret Olsen.", "support": 1.0, "page": 1}
    ]
    assert kept[0].metadata["meta"]["qa_filters"] == {
        "pairs_in": 3,
        "pairs_kept": 1,
        "dropped": {"duplicate_question": 1, "unanswerable": 1},
    }
    assert sorted(recorder.items) == ["answer_code", "duplicate_question", "no_pairs_left", "unanswerable"]
    stats = {k: v.total for k, v in step.stats.stats.items() if hasattr(v, "total")}
    assert stats["pairs_dropped_answer_code"] == 1 and stats["dropped_no_pairs_left"] == 1


def test_our_stricter_rules_switch_off_one_by_one():
    """Each rule beyond the recipe (code, unanswerable) has a switch: off, the pair is kept."""
    seen = set()
    assert reason("Who founded it?", "Margaret Olsen.", seen=seen) is None
    assert reason("Who founded it?", "Margaret Olsen.", QaFilterConfig(duplicates=False), seen=seen) is None
    sorry = "I'm sorry, but Margaret Olsen founded it."
    assert reason("Who?", sorry) == "refusal"
    assert (
        reason("Who?", sorry, QaFilterConfig(refusals=False, min_support=0)) is None
    )  # "sorry": not on the page
    swapped = "The Riverside Library was founded in 1922 by Margaret Olsen."  # 1921 on the page
    assert reason("When?", swapped) == "unsupported_number_or_name"
    assert reason("When?", swapped, QaFilterConfig(exact_numbers_and_names=False)) is None
    assert reason("When?", "Bright green copper tiles.", QaFilterConfig(min_support=0)) is None
    assert (
        reason("How?", "def f(): pass", QaFilterConfig(refusals=False, duplicates=False, min_support=0))
        == "answer_code"
    )
