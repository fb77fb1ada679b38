"""Transcription quality of the ``pdf_ocr`` job, scored against exact ground truth, per page form and route.

Corpus: ``synth.demo.pdf_truth`` (seeded; its docstring defines the ground-truth conventions):
``--pages`` born-digital pages of each of its eight forms (one, two and three columns, footnotes,
a table, a list, a rotated page, Latin with diacritics), written with ReportLab, not with the
reader's library; and ``--scans`` pages of each of four forms under each scan kind: ``scan300``
(clean 300 dpi), ``fax`` (100 dpi, noise, blur, skew up to 2 degrees, JPEG 40) and ``wrong_layer``
(a 200 dpi scan under an invisible text layer of wrong text) and ``right_layer`` (the same scan
under its own text, which should be kept).

Each group (born-digital, then each scan kind) runs through the whole job, ``run_stages(
build_pdf_ocr(cfg))`` on the local executor with one task and one worker, page filters off
(``min_words=0``, no token budget, every language) so that every page is scored; its shards are
read back with ``schemas.shard_reader``. Scores (``audit.transcription``, defined there): CER,
word F1, reading order and lines found, header/footer leakage, table cell recall; averaged per
page form (``<form>`` or ``<scan>/<form>``) and per group, with the route each page took
(``meta.text_source``: ``text_layer`` or ``ocr``). ``pages_s``: pages / wall seconds of the group's
job (start-up included, about a second).

Goals (README): born-digital CER <= 0.5% and reading order >= 0.97 on two-column pages; scan300
CER <= 1%; fax CER <= 8%; wrong_layer pages routed to OCR >= 95%, CER <= 5%. Also reported:
the share of right_layer pages whose layer was kept (``right_layer_kept``). Last line:
``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from audit.transcription import score
from pipelines.executors import run_stages
from pipelines.pdf_ocr import build_pdf_ocr
from schemas.config import load_config
from schemas.config_pdf import PdfOcrConfig
from schemas.shard_reader import read_shard
from synth.demo.pdf_truth import FORMS, SCANNED_FORMS, SCANS, born_digital, scanned

GOALS = {  # group: (score, bound, "max" or "min")
    "born_digital": ("cer", 0.005, "max"),
    "two_column": ("reading_order", 0.97, "min"),
    "scan300": ("cer", 0.01, "max"),
    "fax": ("cer", 0.08, "max"),
    "wrong_layer": ("cer", 0.05, "max"),
}
SCORES = ("cer", "word_f1", "reading_order", "lines_found", "leakage", "cell_recall")


def write_group(folder: Path, pages) -> dict[str, dict]:
    """Write each (pdf bytes, truth) as ``<name>.pdf``; their truths by name."""
    folder.mkdir(parents=True, exist_ok=True)
    truths = {}
    for data, truth in pages:
        (folder / f"{truth.name}.pdf").write_bytes(data)
        truths[truth.name] = truth
    return truths


def run_group(folder: Path, out: Path, settings: list[str]) -> tuple[dict[str, dict], float]:
    """Run the job on ``folder``: ({pdf name: the page's sample json}, wall seconds)."""
    shutil.rmtree(out, ignore_errors=True)
    base = "dataset=quality executor.kind=local executor.tasks=1 executor.workers=1"
    filters = "page_filters.min_words=0 page_filters.max_tokens=null page_filters.languages=[]"
    cfg = load_config(
        PdfOcrConfig,
        None,
        [f"pdfs=[{folder}]", f"output_dir={out}", *base.split(), *filters.split(), *settings],
    )
    start = time.perf_counter()
    run_stages(build_pdf_ocr(cfg), cfg.executor, cfg.dataset_dir, progress=False)
    seconds = time.perf_counter() - start
    samples = {}
    for shard in sorted(Path(cfg.dataset_dir).glob("**/*.tar")):
        for sample in read_shard(str(shard)):
            samples[sample.key.rsplit("-p", 1)[0]] = sample.json()
    return samples, seconds


def summarise(rows: list[dict]) -> dict:
    out: dict = {"pages": len(rows)}
    for name in SCORES:
        values = [r[name] for r in rows if r.get(name) is not None]
        if values:
            out[name] = round(statistics.fmean(values), 4)
    routes = defaultdict(int)
    for r in rows:
        routes[r["route"]] += 1
    out["routes"] = dict(sorted(routes.items()))
    return out


def main() -> None:
    from results import emit

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=6, help="born-digital pages per form")
    parser.add_argument("--scans", type=int, default=4, help="pages per scanned form and scan kind")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", nargs="*", default=[], help="job settings key=value for every group")
    parser.add_argument("--workdir", help="where to write (default: a temp dir under /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the work dir")
    parser.add_argument(
        "--no-save", action="store_true", help="print RESULT without writing benchmarks/results/"
    )
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_pdf_quality-", dir="/tmp"))
    groups = {
        "born_digital": [born_digital(f, args.seed + k, k + 1) for f in FORMS for k in range(args.pages)]
    }
    for scan in SCANS:
        groups[scan] = [
            scanned(scan, f, args.seed + k, k + 1) for f in SCANNED_FORMS for k in range(args.scans)
        ]
    by_form: dict[str, list[dict]] = defaultdict(list)
    result: dict = {"groups": {}, "forms": {}}
    try:
        for group, pages in groups.items():
            truths = write_group(work / "pdfs" / group, pages)
            samples, seconds = run_group(work / "pdfs" / group, work / "out" / group, args.set)
            rows = []
            for name, truth in truths.items():
                sample = samples.get(name)
                text = sample["texts"][1] if sample else ""
                route = sample["meta"].get("text_source", "?") if sample else "dropped"
                row = {"name": name, "route": route} | score(
                    truth.lines, text, truth.header, truth.footer, truth.cells
                )
                rows.append(row)
                by_form[truth.form if group == "born_digital" else f"{group}/{truth.form}"].append(row)
            summary = summarise(rows) | {"pages_s": round(len(rows) / seconds, 2)}
            result["groups"][group] = summary
            print(f"{group:<14} {json.dumps(summary)}")
        for form, rows in by_form.items():
            result["forms"][form] = summarise(rows)
            print(f"  {form:<26} {json.dumps(result['forms'][form])}")
        checks = {}
        for goal, (name, bound, kind) in GOALS.items():
            where = result["groups"].get(goal) or result["forms"].get(goal)
            value = where.get(name)
            checks[f"{goal}.{name}"] = value is not None and (
                value <= bound if kind == "max" else value >= bound
            )
        layer = result["groups"]["wrong_layer"]
        share = layer["routes"].get("ocr", 0) / layer["pages"]
        result["wrong_layer_routed_to_ocr"] = round(share, 3)
        checks["wrong_layer.routed_to_ocr"] = share >= 0.95
        right = result["groups"]["right_layer"]
        result["right_layer_kept"] = round(right["routes"].get("text_layer", 0) / right["pages"], 3)
        result["goals_met"] = checks
        result["settings"] = args.set
        emit("bench_pdf_quality", result, ["pymupdf", "reportlab", "rapidfuzz"])
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
