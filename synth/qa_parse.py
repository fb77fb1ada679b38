"""Parse what an LLM returns into question/answer pairs, tolerating how models really answer.

Asked for a JSON list of ``{"question", "answer"}`` objects, models also return: the list inside
a Markdown code fence; prose before or after it; a single object instead of a list; a wrapper
object (``{"pairs": [...]}``, ``{"questions": [...]}``); other key spellings (``q``/``a``,
``Question``, ``query``/``response``, ``user``/``assistant``); and JSON cut off by the token limit
mid-object. ``parse_pairs`` recovers every complete pair it can and says what it had to do
(``notes``: ``fenced``, ``prose``, ``truncated``, ``single_object``, ``wrapped``, ``qa_lines``,
``bad_items``). When nothing usable is left, ``reason`` says why, for the counters:

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


def _body(text: str, notes: list[str]) -> str:
    """The text with a Markdown code fence removed (the first fence holding JSON wins)."""
    fences = _FENCE.findall(text)
    if not fences:
        return text
    notes.append("fenced")
    for inside in fences:
        if inside.lstrip()[:1] in ("[", "{"):
            return inside
    return fences[0]


def parse_pairs(text: str | None) -> ParseResult:
    """Question/answer pairs from one LLM response (see the module docstring)."""
    result = ParseResult()
    notes = result.notes
    if not text or not text.strip():
        result.reason = "empty"
        return result
    body = _body(text, notes)
    starts = [i for i in (body.find("["), body.find("{")) if i != -1]
    if not starts:
        result.pairs = [(m["q"].strip(), m["a"].strip()) for m in _QA_LINE.finditer(body)]
        if result.pairs:
            notes.append("qa_lines")
        else:
            result.reason = "no_json"
        return result
    start = min(starts)
    if body[:start].strip():
        notes.append("prose")
    try:
        value, end = _DECODER.raw_decode(body, start)
        if body[end:].strip():
            notes.append("prose")
        items = _items(value, notes)
    except json.JSONDecodeError:
        items = _salvage_objects(body[start:])
        if not items:
            result.reason = "invalid_json"
            return result
        notes.append("truncated")
        if (
            len(items) == 1
            and isinstance(items[0], dict)
            and not (_field(items[0], QUESTION_KEYS) and _field(items[0], ANSWER_KEYS))
        ):  # a wrapper that closed although the text after it did not parse
            items = _items(items[0], notes)
    result.pairs = _pairs_of(items, notes)
    if not result.pairs:
        result.reason = "no_pairs"
    result.notes = sorted(set(notes))
    return result
