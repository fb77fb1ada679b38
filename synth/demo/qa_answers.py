"""Answers as imperfect models write them, about generated documents: exact spans of a page, OCR-noised
copies of them, answers invented from words of other passages of the same document, grounded
answers with one number or name swapped, code and refusals. Used by the grounding tests and
``benchmarks/bench_qa_grounding.py``; documents are 7 pages of the demo's article sentences
(names, places, numbers), no sentence pattern twice."""

from __future__ import annotations

import random
import re

from synth.demo.pages import paragraphs
from synth.demo.texts import NAMES
from synth.qa_prompts import pages_block

_PAGE_HEADING = re.compile(r"^Page (\d+):\n", re.MULTILINE)  # synth.qa_prompts.pages_block's headings


def split_pages(text: str) -> list[tuple[int, str]]:
    """(page number, text) of a pages block made by `document`."""
    parts = _PAGE_HEADING.split(text)
    return [(int(parts[i]), parts[i + 1]) for i in range(1, len(parts) - 1, 2)]


OCR = {"e": "c", "l": "i", "o": "0", "rn": "m", "h": "b", "a": "o", "u": "v", "n": "m", "i": "l"}


def document(rng: random.Random, lang: str = "en") -> str:
    """7 pages of 3 sentences, no sentence pattern used twice in the document."""
    return pages_block(list(enumerate(paragraphs(rng, lang, 7, 3), 1)))


def sentences(text: str) -> list[str]:
    return [
        s for page in split_pages(text) for s in re.split(r"(?<=[.!?])\s+", page[1]) if len(s.split()) > 6
    ]


def span(rng: random.Random, sentence: str) -> str:
    words = sentence.split()
    size = rng.randint(5, min(12, len(words)))
    start = rng.randrange(len(words) - size + 1)
    return " ".join(words[start : start + size])


def ocr_noise(rng: random.Random, text: str) -> str:
    """One OCR-like error in about every third word of 5+ letters (letters only: numbers stay)."""
    out = []
    for word in text.split():
        if len(word) >= 5 and word.isalpha() and rng.random() < 0.35:
            wrong = [k for k in OCR if k in word[1:]]
            if wrong:
                key = rng.choice(wrong)
                at = word.index(key, 1)
                word = word[:at] + OCR[key] + word[at + len(key) :]
        out.append(word)
    return " ".join(out)


def invented(rng: random.Random, text: str) -> str:
    """Content words of three sentences on three different pages, made into one answer."""
    pages = rng.sample(split_pages(text), 3)
    words = []
    for _, page in pages:
        sentence = rng.choice([s for s in re.split(r"(?<=[.!?])\s+", page) if len(s.split()) > 6])
        content = [w.strip(".,") for w in sentence.split() if len(w) > 4]
        words += rng.sample(content, min(2, len(content)))
    return " ".join(["The", *words]) + "."


def swapped(rng: random.Random, text: str) -> str | None:
    """A grounded span holding a number or a name, with that one number or name changed."""
    candidates = [s for s in sentences(text) if re.search(r"\d", s) or any(n in s for n in NAMES["en"])]
    sentence = rng.choice(candidates)
    numbers = re.findall(r"\b\d+\b", sentence)
    if numbers and rng.random() < 0.5:
        old = rng.choice(numbers)
        return re.sub(rf"\b{old}\b", str(int(old) + rng.randint(1, 9)), sentence, count=1)
    names = [n for n in NAMES["en"] if n in sentence]
    if not names:
        return None
    old = rng.choice(names)
    others = [n for n in NAMES["en"] if n not in text]
    return sentence.replace(old, rng.choice(others), 1) if others else None


# what models answer instead of an answer: code (often about the page's own words) and refusals
CODE_ANSWERS = (
    "```python\nprint('{words}')\n```",
    "def answer():\n    return '{words}'",
    "SELECT {words} FROM pages WHERE page = 1",
    "<div class='answer'>{words}</div>",
)
REFUSALS = (
    "The question is unanswerable from the text.",
    "I'm sorry, but the document does not mention {words}.",
    "This cannot be determined from the document.",
    "As an AI, I cannot read {words}.",
)


def cases(rng: random.Random, per_doc: int = 8):
    """(document text, kind, answer) for one document: `per_doc` answers of each kind."""
    text = document(rng)
    for _ in range(per_doc):
        exact = span(rng, rng.choice(sentences(text)))
        for kind, answer in (
            ("grounded", exact),
            ("noised", ocr_noise(rng, exact)),
            ("invented", invented(rng, text)),
            ("swapped", swapped(rng, text)),
            ("code", rng.choice(CODE_ANSWERS).format(words=" ".join(exact.split()[:3]))),
            ("refusal", rng.choice(REFUSALS).format(words=" ".join(exact.split()[:4]))),
        ):
            if answer is not None:
                yield text, kind, answer
