"""Parse what an LLM returns into question/answer pairs, tolerating how models really answer.

Asked for a JSON list of ``{"question", "answer"}`` objects, models also return: the list inside
a Markdown code fence; prose before or after it; a single object instead of a list; a wrapper
object (``{"pairs": [...]}``, ``{"questions": [...]}``); other key spellings (``q``/``a``,
``Question``, ``query``/``response``, ``user``/``assistant``); and JSON cut off by the token limit
mid-object. ``parse_pairs`` recovers every complete pair it can and says what it had to do
(``notes``: ``fenced``, ``prose``, ``truncated``, ``single_object``, ``json_lines``, ``wrapped``,
``qa_lines``, ``bad_items``).

The JSON is read first, every top-level ``[`` / ``{`` that decodes (``raw_decode``), in order,
before anything is made of Markdown fences: an answer that holds a fenced code block is text
inside a JSON string, and an earlier parser that cut the first fence out first lost whole valid
replies that way. Only when no complete value holds a pair is the reply read as cut off
(complete objects salvaged) or as ``Q:`` / ``A:`` lines. When nothing usable is left, ``reason`` says why, for the counters:

- ``empty``: the response is empty or whitespace;
- ``no_json``: no JSON list or object and no ``Q:``/``A:`` lines in it;
- ``invalid_json``: JSON-looking text from which not one complete object can be recovered;
- ``no_pairs``: valid JSON without any item holding a question and an answer.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

PARSE_REASONS = ("empty", "no_json", "invalid_json", "no_pairs")
QUESTION_KEYS = ("question", "q", "query", "user", "prompt", "question_text")
ANSWER_KEYS = ("answer", "a", "response", "assistant", "reply", "answer_text")
WRAPPER_KEYS = ("pairs", "qa", "qa_pairs", "questions", "items", "data", "results", "conversations")

_FENCE = re.compile(r"```[A-Za-z0-9_-]*[ \t]*\n?(.*?)(?:```|\Z)", re.DOTALL)
_QA_LINE = re.compile(
    r"^\s*(?:\d+[.)]\s*)?(?:\*\*)?(?:Q|Question)(?:\*\*)?\s*[:.](?:\*\*)?\s*(?P<q>.+?)\s*\n+"
    r"\s*(?:\*\*)?(?:A|Answer)(?:\*\*)?\s*[:.](?:\*\*)?\s*(?P<a>.+?)\s*$",
    re.MULTILINE | re.IGNORECASE,
)
_DECODER = json.JSONDecoder()


@dataclass
class ParseResult:
    pairs: list[tuple[str, str]] = field(default_factory=list)
    reason: str | None = None  # set when no pair could be recovered
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.pairs)


def _field(item: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    lowered = {str(k).strip().lower(): v for k, v in item.items()}
    for key in keys:
        value = lowered.get(key)
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value).strip()
    return None


def _items(value: Any, notes: list[str]) -> list[Any]:
    """The list of candidate pair objects inside a decoded JSON value."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        lowered = {str(k).strip().lower(): v for k, v in value.items()}
        for key in WRAPPER_KEYS:
            if isinstance(lowered.get(key), list):
                notes.append("wrapped")
                return lowered[key]
        notes.append("single_object")
        return [value]
    return []


def _pairs_of(items: list[Any], notes: list[str]) -> list[tuple[str, str]]:
    pairs, bad = [], 0
    for item in items:
        if isinstance(item, dict):
            question, answer = _field(item, QUESTION_KEYS), _field(item, ANSWER_KEYS)
        elif isinstance(item, list) and len(item) == 2 and all(isinstance(x, str) for x in item):
            question, answer = item[0].strip(), item[1].strip()
        else:
            question = answer = None
        if question is None or answer is None:
            bad += 1
            continue
        pairs.append((question, answer))
    if bad:
        notes.append("bad_items")
    return pairs


def _salvage_objects(text: str) -> list[Any]:
    """Complete JSON objects inside a list cut off mid-way: ``[{...}, {...}, {"question": "Wh``.
    An object that does not close (the cut one, or a wrapper around the list) is stepped into."""
    objects, position = [], text.find("{")
    while position != -1:
        try:
            value, end = _DECODER.raw_decode(text, position)
        except json.JSONDecodeError:
            position = text.find("{", position + 1)
            continue
        objects.append(value)
        position = text.find("{", end)
    return objects


def _fence_spans(text: str) -> list[tuple[int, int]]:
    """Where the bodies of Markdown code fences are (for the ``fenced`` note only)."""
    return [match.span(1) for match in _FENCE.finditer(text)]


def _values(text: str) -> list[tuple[Any, int, int]]:
    """Every JSON list or object the text holds at top level, in order: (value, start, end).

    Each ``[`` or ``{`` is tried with ``raw_decode``; a value that decodes is taken whole and the
    scan goes on after it, so what is inside it (an answer holding a fenced code block, braces or
    brackets) is never mistaken for a start. A bracket in prose that does not decode is passed.
    This reads the JSON before any Markdown fence: a fence inside a JSON string cannot win.
    """
    values, position = [], 0
    while True:
        starts = [i for i in (text.find("[", position), text.find("{", position)) if i != -1]
        if not starts:
            return values
        start = min(starts)
        try:
            value, end = _DECODER.raw_decode(text, start)
        except json.JSONDecodeError:
            position = start + 1
            continue
        values.append((value, start, end))
        position = end


def _decoded_pairs(text: str, notes: list[str]) -> tuple[list[tuple[str, str]], tuple[int, int] | None]:
    """Pairs of every decoded value that holds any, in order: a list, a wrapper, or pair objects
    one after the other (JSON lines); a reply that splits its pairs over two lists (one per page,
    say) keeps both. Returns (pairs, the span from the first such value to the last)."""
    pairs: list[tuple[str, str]] = []
    span: tuple[int, int] | None = None
    singles = lists = 0
    for value, start, end in _values(text):
        trial: list[str] = []
        if isinstance(value, dict) and _field(value, QUESTION_KEYS) and _field(value, ANSWER_KEYS):
            found, singles = _pairs_of([value], trial), singles + 1
        else:
            found = _pairs_of(_items(value, trial), trial)
            if found:
                lists += 1
                notes.extend(trial)
        if found:
            pairs += found
            span = (span[0] if span else start, end)
    if singles and not lists:
        notes.append("single_object" if singles == 1 else "json_lines")
    return pairs, span


def parse_pairs(text: str | None) -> ParseResult:
    """Question/answer pairs from one LLM response (see the module docstring)."""
    result = ParseResult()
    notes = result.notes
    if not text or not text.strip():
        result.reason = "empty"
        return result
    pairs, span = _decoded_pairs(text, notes)
    if pairs:
        start, end = span
        fenced = any(a <= start and end <= b for a, b in _fence_spans(text))
        if fenced:
            notes.append("fenced")
        outside = _FENCE.sub("", text) if fenced else text[:start] + text[end:]
        if _cut(text):
            notes.append("truncated")  # complete pair objects, then one cut off
        elif outside.strip():
            notes.append("prose")
        return _done(result, pairs)
    starts = [i for i in (text.find("["), text.find("{")) if i != -1]
    salvaged: list[Any] = []
    if starts:
        salvaged = _salvage_objects(text[min(starts) :])
        if (
            len(salvaged) == 1
            and isinstance(salvaged[0], dict)
            and not (_field(salvaged[0], QUESTION_KEYS) and _field(salvaged[0], ANSWER_KEYS))
        ):  # a wrapper that closed although the text after it did not parse
            salvaged = _items(salvaged[0], notes)
        pairs = _pairs_of(salvaged, notes)
        if pairs:
            notes.append("truncated")
            return _done(result, pairs)
    pairs = [(m["q"].strip(), m["a"].strip()) for m in _QA_LINE.finditer(text)]
    if pairs:
        notes.append("qa_lines")
        return _done(result, pairs)
    if not starts:
        result.reason = "no_json"
    elif salvaged or _values(text):
        result.reason = "no_pairs"
    else:
        result.reason = "invalid_json"
    result.notes = sorted(set(notes))
    return result


def _done(result: ParseResult, pairs: list[tuple[str, str]]) -> ParseResult:
    result.pairs = pairs
    result.notes = sorted(set(result.notes))
    return result


def _cut(text: str) -> bool:
    """Whether the text ends inside JSON that never closes (a reply cut by the token limit)."""
    last = max(text.rfind("["), text.rfind("{"))
    if last == -1:
        return False
    try:
        _DECODER.raw_decode(text, last)
    except json.JSONDecodeError:
        return True
    return False
