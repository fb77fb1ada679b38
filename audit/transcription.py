"""Scores of a page transcription against its ground truth (``benchmarks/bench_pdf_quality.py``).

Both texts are compared after ``normalise``: Unicode NFC, every run of whitespace one space.

* ``cer``: character error rate, the Levenshtein distance between the two normalised texts over
  the length of the truth (a text in the wrong order pays for every moved character).
* ``word_f1``: F1 of the two bags of words (order ignored).
* ``reading_order``: each truth line is located in the output (``locate``: an exact match,
  looked for after the previous line's first, else the best fuzzy alignment, kept at a ratio of
  ``LINE_MATCH`` or more); the located lines, sorted by where the
  output has them, give a sequence of truth line numbers; the score is one minus the Levenshtein
  distance between that sequence and the same numbers in order, over their count (1.0: every
  located line in its place; a line read out of place costs at most 2). ``lines_found`` is the
  share of truth lines located.
* ``leakage``: of the header and footer lines located, the share found between the first and the
  last located body line (text interleaved into the body, where it harms; at its own end of the
  page it does not).
* ``cell_recall``: the share of table cells whose words appear, in sequence, among the output's
  words.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Sequence

from rapidfuzz import fuzz
from rapidfuzz.distance import Levenshtein

LINE_MATCH = 80.0  # rapidfuzz ratio (0..100) at which a truth line counts as found in the output


def normalise(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


def cer(truth: str, output: str) -> float:
    truth, output = normalise(truth), normalise(output)
    return Levenshtein.distance(truth, output) / max(1, len(truth))


def word_f1(truth: str, output: str) -> float:
    expected, got = Counter(normalise(truth).split()), Counter(normalise(output).split())
    common = sum((expected & got).values())
    if not common:
        return 0.0 if expected or got else 1.0
    precision, recall = common / sum(got.values()), common / sum(expected.values())
    return 2 * precision * recall / (precision + recall)


def locate(lines: Sequence[str], output: str) -> list[int | None]:
    """Where each line starts in the normalised output (its best fuzzy alignment), or None when
    no alignment reaches ``LINE_MATCH``."""
    text = normalise(output)
    found: list[int | None] = []
    cursor = 0  # exact matches are looked for after the previous line first: repeated lines
    for line in lines:  # (table rows, headers) then land in order when the output has them so
        line = normalise(line)
        if not line:
            found.append(None)
            continue
        at = text.find(line, cursor)
        if at < 0:
            at = text.find(line)
        if at < 0:
            match = fuzz.partial_ratio_alignment(line, text, score_cutoff=LINE_MATCH)
            at = match.dest_start if match is not None else -1
        found.append(at if at >= 0 else None)
        if at >= 0:
            cursor = at + len(line)
    return found


def reading_order(lines: Sequence[str], output: str) -> tuple[float, float]:
    """(reading-order score, share of lines found): see the module docstring."""
    places = locate(lines, output)
    found = [(place, k) for k, place in enumerate(places) if place is not None]
    if not found:
        return 0.0, 0.0
    sequence = [k for _, k in sorted(found)]
    score = 1 - Levenshtein.distance(sequence, sorted(sequence)) / len(sequence)
    return score, len(found) / len(lines)


def leakage(lines: Sequence[str], header: Sequence[str], footer: Sequence[str], output: str) -> float | None:
    """Share of the located header and footer lines placed inside the body; None if none located."""
    edges = set(header) | set(footer)
    body = [line for line in lines if line not in edges]
    body_places = [p for p in locate(body, output) if p is not None]
    edge_places = [p for p in locate([*header, *footer], output) if p is not None]
    if not edge_places:
        return None
    if not body_places:
        return 0.0
    first, last = min(body_places), max(body_places)
    return sum(first < p < last for p in edge_places) / len(edge_places)


def cell_recall(cells: Sequence[str], output: str) -> float | None:
    """Share of ``cells`` whose words appear in sequence among the output's words; None if no cells."""
    if not cells:
        return None
    words = normalise(output).split()
    joined = f" {' '.join(words)} "
    return sum(f" {normalise(cell)} " in joined for cell in cells) / len(cells)


def score(truth_lines: Sequence[str], output: str, header=(), footer=(), cells=()) -> dict[str, float | None]:
    """Every score of one page, as a dict (see the module docstring)."""
    truth = "\n".join(truth_lines)
    order, found = reading_order(truth_lines, output)
    return {
        "cer": cer(truth, output),
        "word_f1": word_f1(truth, output),
        "reading_order": order,
        "lines_found": found,
        "leakage": leakage(truth_lines, header, footer, output),
        "cell_recall": cell_recall(cells, output),
    }
