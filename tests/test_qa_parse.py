"""Parsing LLM responses into question/answer pairs: what models really return."""

import json

import pytest

from synth.qa_parse import parse_pairs

PAIRS = [{"question": "Who wrote it?", "answer": "Anna Berg."}, {"question": "When?", "answer": "In 1998."}]
EXPECTED = [("Who wrote it?", "Anna Berg."), ("When?", "In 1998.")]
BODY = json.dumps(PAIRS)


@pytest.mark.parametrize(
    "text, notes",
    [
        (BODY, []),
        (f"```json\n{BODY}\n```", ["fenced"]),
        (f"```\n{BODY}\n```\nThese cover the main facts.", ["fenced"]),
        (f"Sure! Here are the pairs:\n{BODY}\nHope this helps.", ["prose"]),
        (json.dumps({"pairs": PAIRS}), ["wrapped"]),
        (json.dumps({"qa_pairs": PAIRS}), ["wrapped"]),
        (
            json.dumps(
                [{"Q": "Who wrote it?", "A": "Anna Berg."}, {"Question": "When?", "Answer": "In 1998."}]
            ),
            [],
        ),
        (json.dumps([{"query": "Who wrote it?", "response": "Anna Berg."}, ["When?", "In 1998."]]), []),
        ("Q: Who wrote it?\nA: Anna Berg.\n\nQ: When?\nA: In 1998.", ["qa_lines"]),
        (
            "1. **Question:** Who wrote it?\n**Answer:** Anna Berg.\n2. Question: When?\nAnswer: In 1998.",
            ["qa_lines"],
        ),
        (BODY[:-1] + ', {"question": "Where?", "ans', ["truncated"]),
        ('{"pairs": ' + BODY[:-1] + ', {"question": "Where', ["truncated"]),
    ],
)
def test_recovers_pairs(text, notes):
    result = parse_pairs(text)
    assert result.ok and result.reason is None
    assert result.pairs == EXPECTED
    assert set(notes) <= set(result.notes)


def test_single_object_and_bad_items():
    result = parse_pairs('{"question": "Who wrote it?", "answer": "Anna Berg."}')
    assert result.pairs == EXPECTED[:1] and "single_object" in result.notes
    result = parse_pairs(json.dumps([PAIRS[0], {"question": "no answer"}, 3]))
    assert result.pairs == EXPECTED[:1] and "bad_items" in result.notes


@pytest.mark.parametrize(
    "text, reason",
    [
        ("", "empty"),
        ("   \n", "empty"),
        (None, "empty"),
        ("I'm sorry, I cannot help with that.", "no_json"),
        ('[{"question": "Who wrote it?" "answer": oops', "invalid_json"),
        ('[{"question": "Who', "invalid_json"),
        ("[1, 2, 3]", "no_pairs"),
        ('{"note": "nothing here"}', "no_pairs"),
    ],
)
def test_counts_what_it_cannot_parse(text, reason):
    result = parse_pairs(text)
    assert not result.ok and result.reason == reason and result.pairs == []
