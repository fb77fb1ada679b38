"""Grounding generated answers: speed and what is kept, ours against a fuzzy-substring peer.

Input: ``--docs`` generated documents (`synth.demo.qa_answers`: 7 pages of article sentences) and,
per document, 8 answers of each kind: exact spans of a page, OCR-noised copies, answers invented
from words of other passages, grounded answers with one number or name swapped, code, refusals.

* ours: `filters.qa_filters.pair_reason` with the default `QaFilterConfig` (grounding in one
  passage of one page, `filters/qa_grounding.py`), the document index built once per document,
  as the QA filter step does;
* peer: rapidfuzz's ``partial_ratio`` of the answer against each page text (the best-aligned
  substring), kept at >= 80: the usual quick way to ask "does this answer stand in the page?".

One process, one core, best of ``--repeats`` alternating runs. Goal: ours >= 2,000 pairs/s.
RESULT (pairs/s and the kept share per kind for both) also in
``benchmarks/results/bench_qa_grounding.json`` (``results.emit``).
"""

from __future__ import annotations

import argparse
import random
import time

from rapidfuzz import fuzz

from filters.qa_filters import pair_reason
from filters.qa_grounding import DocumentIndex, split_pages
from schemas.config_docmatix import QaFilterConfig
from synth.demo.qa_answers import cases


def ours(items: list[tuple[str, list[tuple[str, str]]]]) -> dict[str, list[bool]]:
    cfg, kept = QaFilterConfig(), {}
    for text, answers in items:
        index = DocumentIndex(text, cfg.fuzzy_ratio)
        for kind, answer in answers:
            reason = pair_reason("What does it say?", answer, cfg, set(), index)[0]
            kept.setdefault(kind, []).append(reason is None)
    return kept


def peer(items: list[tuple[str, list[tuple[str, str]]]]) -> dict[str, list[bool]]:
    kept = {}
    for text, answers in items:
        pages = [page for _, page in split_pages(text)]
        for kind, answer in answers:
            kept.setdefault(kind, []).append(max(fuzz.partial_ratio(answer, page) for page in pages) >= 80)
    return kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=100, help="generated documents")
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--no-save", action="store_true", help="print RESULT without writing benchmarks/results/"
    )
    args = parser.parse_args()
    from results import emit

    rng = random.Random(args.seed)
    items = []
    for _ in range(args.docs):
        generated = list(cases(rng))
        items.append((generated[0][0], [(kind, answer) for _, kind, answer in generated]))
    pairs = sum(len(answers) for _, answers in items)
    best, shares = {}, {}
    for _ in range(args.repeats):
        for name, run in (("ours", ours), ("rapidfuzz_partial_ratio", peer)):
            start = time.perf_counter()
            kept = run(items)
            seconds = time.perf_counter() - start
            best[name] = min(best.get(name, float("inf")), seconds)
            shares[name] = {kind: round(sum(flags) / len(flags), 4) for kind, flags in kept.items()}
    print(f"{pairs} pairs over {args.docs} documents, best of {args.repeats}")
    print(f"{'':26}{'pairs/s':>9}  kept: grounded  noised  invented  swapped  code  refusal")
    for name in best:
        s = shares[name]
        print(
            f"{name:26}{pairs / best[name]:>9.0f}  {s['grounded']:>14.3f}{s['noised']:>8.3f}"
            f"{s['invented']:>10.3f}{s['swapped']:>9.3f}{s['code']:>6.3f}{s['refusal']:>9.3f}"
        )
    result = {name: {"pairs_s": round(pairs / best[name]), "kept": shares[name]} for name in best} | {
        "pairs": pairs,
        "docs": args.docs,
        "seed": args.seed,
    }
    emit("bench_qa_grounding", result, ["rapidfuzz"])


if __name__ == "__main__":
    main()
