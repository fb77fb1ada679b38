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


# --- every reply form, generated (issue 23: a fence inside an answer once lost whole replies) ----

from hypothesis import HealthCheck, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

CODE = ["```python\nprint({'a': [1, 2]})\n```", '```json\n[{"question": 1}]\n```', "`x[0]`", "{}", "[]"]
ALPHABET = st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"), include_characters="\n{}[]\"'`\\:,")
TEXT = (
    st.builds(
        lambda head, code, tail: f"{head} {code} {tail}",
        st.text(ALPHABET, max_size=40),
        st.sampled_from(["", *CODE]),
        st.text(ALPHABET, max_size=40),
    )
    .map(str.strip)
    .filter(bool)
)
PAIR_LISTS = st.lists(st.tuples(TEXT, TEXT), min_size=1, max_size=6)


def forms(pairs: list[tuple[str, str]]) -> dict[str, str]:
    items = [{"question": q, "answer": a} for q, a in pairs]
    body = json.dumps(items, ensure_ascii=False)
    out = {
        "plain": body,
        "pretty": json.dumps(items, indent=2),
        "fenced": f"```json\n{body}\n```",
        "prose": f"Here are the pairs you asked for:\n{body}\nLet me know if you need more!",
        "prose_and_fence": f"Sure.\n```json\n{json.dumps(items, indent=1)}\n```\nThese cover the page.",
        "wrapped": json.dumps({"pairs": items}, ensure_ascii=False),
        "json_lines": "\n".join(json.dumps(item, ensure_ascii=False) for item in items),
    }
    if len(items) == 1:
        out["single_object"] = json.dumps(items[0])
    if all("\n" not in q + a and ":" not in q + a for q, a in pairs):
        out["qa_lines"] = "\n\n".join(f"Q: {q}\nA: {a}" for q, a in pairs)
    return out


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(pairs=PAIR_LISTS)
@example(pairs=[("How do I print?", "Use:\n```python\nprint('hi')\n```\nthen run it."), ("Why?", "Because.")])
def test_every_reply_form_gives_back_the_generated_pairs(pairs):
    for form, text in forms(pairs).items():
        result = parse_pairs(text)
        assert result.pairs == pairs, (form, text, result)
    full = json.dumps([{"question": q, "answer": a} for q, a in pairs], ensure_ascii=False)
    cut = full[: full.rfind('"answer"') + 12]  # cut inside the last answer, as max_tokens does
    assert parse_pairs(cut).pairs == pairs[:-1], cut


def test_pairs_split_over_two_lists_are_all_kept():
    """One list per page, with prose between: the second list was once dropped."""
    text = f"Page 1:\n{json.dumps(PAIRS[:1])}\n\nPage 2:\n{json.dumps(PAIRS[1:])}"
    assert parse_pairs(text).pairs == EXPECTED
