"""HTML -> text quality and speed: our ``extract_nodes`` against trafilatura (its standard and its
fast mode) and resiliparse, side by side.

Input: the 110 real pages of ``web/html`` in the test data (``VLMDATA_TEST_DATA``, default
``../shared/data``: trafilatura's test cache), each file
decoded once the way the WARC reader decodes pages (``html_decode.decode_html``: BOM, declared
charset, UTF-8, detection; two pages are ISO-8859-1) and the same text given to both sides.
``pages.json`` gives each page's URL and, for 106 of them, ``with`` snippets (main text to keep)
and ``without`` snippets (boilerplate to drop), from trafilatura's own evaluation data.

Scoring follows trafilatura's evaluation (``tests/comparison_small.py``, ``evaluate_result``):
a ``with`` snippet found in the output is a true positive, missed a false negative; a
``without`` snippet found is a false positive, missed a true negative. Unlike that script,
output and snippets are both whitespace-normalised first (a line break is not a miss).
Our output text is ``nodes_to_text(nodes)``, what ``Document.text`` becomes.

trafilatura runs as in its own published evaluation ("trafilatura (standard)":
``no_fallback=False, include_comments=False, include_tables=True, include_formatting=False``):
that is ``extract(html, url=url, include_comments=False)`` in trafilatura 2, whose defaults
already run the fallbacks, keep tables and drop formatting; only comments differ from the
defaults, and comments count as boilerplate here. Neither precision nor recall is favoured.
``trafilatura_fast`` is the same call with ``fast=True`` (no fallback extractors), trafilatura's
own speed setting. ``resiliparse`` is ``extract_plain_text(html, main_content=True,
preserve_formatting=True)`` from resiliparse (Chatnoir's lexbor-based extractor, also used for
FineWeb-style crawls): the speed limit of a C++ extractor with main-content heuristics.

Speed: pages/s over all 110 pages, one process, best of ``--repeats`` runs; the runs alternate
between the extractors so that other load on the machine falls on all alike.
Goals: our F1 at most 0.03 below trafilatura's, speed ratio (ours / trafilatura standard) >= 5.
The RESULT is also written to ``benchmarks/results/bench_extraction.json`` (``results.emit``).

``--node-filters MODULE:FUNCTION`` passes a ``Callable[[Extraction], Extraction]`` (e.g. the
OBELICS node-level filters) as ``extract_nodes(postprocess=...)``. Last line: ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipelines.steps.web.html_decode import decode_html
from pipelines.steps.web.html_simplify import Postprocess, extract_nodes
from schemas.samples import nodes_to_text

DATA = (
    Path(os.environ.get("VLMDATA_TEST_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
    / "web"
)


@dataclass(slots=True)
class Page:
    name: str
    url: str
    html: str
    keep: list[str]  # "with" snippets
    drop: list[str]  # "without" snippets


@dataclass(slots=True)
class Score:
    tp: int = 0
    fn: int = 0
    fp: int = 0
    tn: int = 0

    def add(self, other: Score) -> None:
        self.tp, self.fn, self.fp, self.tn = (
            self.tp + other.tp,
            self.fn + other.fn,
            self.fp + other.fp,
            self.tn + other.tn,
        )

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn) if self.tp else 0.0


def normalise(text: str) -> str:
    return " ".join(text.split())


def load_pages(data: Path = DATA) -> list[Page]:
    """Every page of ``data/html`` with its URL and snippets (empty lists where none)."""
    meta = json.loads((data / "pages.json").read_text("utf-8"))
    pages = []
    for path in sorted((data / "html").glob("*.html")):
        info = meta.get(path.name, {})
        html, _ = decode_html(path.read_bytes(), None)
        pages.append(
            Page(path.name, info.get("url", ""), html, info.get("with", []), info.get("without", []))
        )
    return pages


def score_page(text: str | None, page: Page) -> Score:
    """trafilatura's ``evaluate_result`` on whitespace-normalised text (None finds nothing)."""
    found = normalise(text or "")
    score = Score()
    for snippet in page.keep:
        if normalise(snippet) in found:
            score.tp += 1
        else:
            score.fn += 1
    for snippet in page.drop:
        if normalise(snippet) in found:
            score.fp += 1
        else:
            score.tn += 1
    return score


def ours(postprocess: Postprocess | None = None) -> Callable[[Page], str]:
    def run(page: Page) -> str:
        return nodes_to_text(extract_nodes(page.html, page.url, postprocess=postprocess).nodes)

    return run


def trafilatura_standard(page: Page) -> str | None:
    import trafilatura

    return trafilatura.extract(page.html, url=page.url, include_comments=False)


def trafilatura_fast(page: Page) -> str | None:
    import trafilatura

    return trafilatura.extract(page.html, url=page.url, include_comments=False, fast=True)


def resiliparse_main(page: Page) -> str:
    from resiliparse.extract.html2text import extract_plain_text

    return extract_plain_text(page.html, main_content=True, preserve_formatting=True)


def measure(
    systems: dict[str, Callable[[Page], str | None]], pages: list[Page], repeats: int
) -> dict[str, tuple[list[str | None], float]]:
    """Each system's outputs and its best pages/s over ``repeats`` runs. Runs alternate between
    systems, so that load from other processes on the machine falls on both alike."""
    best = dict.fromkeys(systems, float("inf"))
    outputs: dict[str, list[str | None]] = {}
    for _ in range(repeats):
        for name, extract in systems.items():
            start = time.perf_counter()
            outputs[name] = [extract(page) for page in pages]
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: (outputs[name], len(pages) / best[name]) for name in systems}


def load_postprocess(spec: str | None) -> Postprocess | None:
    if not spec:
        return None
    module, _, name = spec.partition(":")
    if not name:
        raise SystemExit(f"--node-filters {spec!r}: expected MODULE:FUNCTION, e.g. filters.nodes:apply")
    return getattr(importlib.import_module(module), name)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DATA, help="folder with html/ and pages.json")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per extractor (best counts)")
    parser.add_argument("--node-filters", metavar="MODULE:FUNCTION", help="postprocess each Extraction")
    parser.add_argument("--misses", action="store_true", help="list each page's missed / leaked snippets")
    parser.add_argument(
        "--no-save", action="store_true", help="print RESULT without writing benchmarks/results/"
    )
    args = parser.parse_args()
    if not (args.data / "pages.json").is_file():
        raise SystemExit(
            f"{args.data}: no pages.json; give --data or set VLMDATA_TEST_DATA (see ../shared/data)"
        )
    from results import emit

    pages = load_pages(args.data)
    systems = {
        "ours": ours(load_postprocess(args.node_filters)),
        "trafilatura": trafilatura_standard,
        "trafilatura_fast": trafilatura_fast,
        "resiliparse": resiliparse_main,
    }
    measured = measure(systems, pages, args.repeats)
    print(
        f"{len(pages)} pages ({sum(bool(p.keep) for p in pages)} with snippets), best of {args.repeats} runs"
    )
    header = ("extractor", "precision", "recall", "f1", "tp", "fn", "fp", "tn", "pages/s")
    print("{:<18}{:>10}{:>8}{:>7}{:>5}{:>5}{:>5}{:>5}{:>9}".format(*header))
    result: dict[str, dict[str, float] | float] = {}
    for name, (outputs, speed) in measured.items():
        total = Score()
        for page, text in zip(pages, outputs, strict=True):
            score = score_page(text, page)
            total.add(score)
            if args.misses and (score.fn or score.fp):
                found = normalise(text or "")
                missed = [s for s in page.keep if normalise(s) not in found]
                leaked = [s for s in page.drop if normalise(s) in found]
                print(f"  [{name}] {page.name}: missed {missed} leaked {leaked}")
        row = (name, total.precision, total.recall, total.f1, total.tp, total.fn, total.fp, total.tn, speed)
        print("{:<18}{:>10.3f}{:>8.3f}{:>7.3f}{:>5}{:>5}{:>5}{:>5}{:>9.1f}".format(*row))
        result[name] = {
            "precision": round(total.precision, 4),
            "recall": round(total.recall, 4),
            "f1": round(total.f1, 4),
            "docs_s": round(speed, 1),
        }
    result["speed_ratio"] = round(measured["ours"][1] / measured["trafilatura"][1], 2)
    result["speed_ratio_fast"] = round(measured["ours"][1] / measured["trafilatura_fast"][1], 2)
    result["speed_ratio_resiliparse"] = round(measured["ours"][1] / measured["resiliparse"][1], 2)
    result["pages"] = len(pages)
    result["repeats"] = args.repeats
    emit("bench_extraction", result, ["trafilatura", "resiliparse", "selectolax"])


if __name__ == "__main__":
    main()
