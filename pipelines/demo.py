"""The embedded demo: needs nothing but the checkout, no network, and runs what exists end to end.

1. writes the demo corpus (``synth.demo.corpus``): a WARC of web pages in three languages with
   the cases the filters must catch, a caption list, PDFs made with pymupdf; and small files of
   The Cauldron's sources in their own layouts (``synth.demo.instruct_sources``), which
   ``configs/instruct.yaml`` reads;
2. starts the local web (``synth.demo.local_web``) on 127.0.0.1 and checks it answers for every image
   of the corpus under its original URL (the crawl jobs fetch them through it);
3. runs the ``interleaved`` job on the corpus WARC: extraction, language, node and document
   filters, text dedup, then fetches the images through the local web (the run maps the corpus's
   fictional hosts to it explicitly), joins them back, filters them (size, NSFW), dedups them and
   writes shards; then the ``pairs`` job on the corpus's caption list, through the same local web;
4. runs the ``pdf_ocr`` job on the corpus PDFs and the WARC's PDF record;
5. stages synthetic documents of every sample kind and packs each into shards with the ``pack``
   job, on the default executor (an embedded Ray);
6. validates every dataset and writes its auditor's report, then trains a tiny Idefics3 a few
   steps on the four packed datasets with the training module.
Not run: ``docmatix`` (it needs an LLM endpoint) and CLIP scores (they need open_clip weights);
no model that could serve them ships inside a package.
"""

from __future__ import annotations

import http.client
import json
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from audit.report import build_report
from pipelines.executors import run_stages
from pipelines.interleaved import build_interleaved
from pipelines.pack import build_pack
from pipelines.pairs import build_pairs
from pipelines.pdf_ocr import build_pdf_ocr
from pipelines.staging import stage_documents
from schemas.config import PackConfig, load_config
from schemas.config_interleaved import InterleavedConfig
from schemas.config_pairs import PairsConfig
from schemas.config_pdf import PdfOcrConfig
from schemas.records import step_stats
from schemas.samples import KINDS
from schemas.validate import validate_dataset
from synth.demo.corpus import CorpusManifest, build_corpus
from synth.demo.documents import make_documents
from synth.demo.instruct_sources import write_sources
from synth.demo.local_web import LocalWeb

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def check_local_web(web: LocalWeb, corpus: CorpusManifest) -> tuple[int, int]:
    """GET every page image of the corpus through the local web with its original Host header;
    returns (answered with an image, answered otherwise), the latter being the deliberate faults."""
    ok = faulty = 0
    for url in sorted({image for page in corpus.pages for image in page.images}):
        parts = urlsplit(url)
        connection = http.client.HTTPConnection("127.0.0.1", web.port, timeout=5)
        try:
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            connection.request("GET", path, headers={"Host": parts.hostname})
            response = connection.getresponse()
            body = response.read()
            good = (
                response.status == 200
                and response.getheader("Content-Type", "").startswith("image/")
                and body
            )
            ok, faulty = (ok + 1, faulty) if good else (ok, faulty + 1)
        except (OSError, http.client.HTTPException):
            faulty += 1
        finally:
            connection.close()
    return ok, faulty


def report_line(label: str, dataset_dir: str, config: dict, detail: str) -> int:
    """Validate a dataset, write its auditor's report, print one line; returns the problem count."""
    report = validate_dataset(dataset_dir)
    status = "valid" if report.ok else f"{len(report.problems)} PROBLEMS"
    build_report(dataset_dir, config=config)
    print(f"{label:<12} {detail}  {status}  {dataset_dir}/report.html")
    return len(report.problems)


def run_demo(out: str, documents: int = 200, executor: str = "ray", progress: bool = True) -> int:
    root = Path(out)
    started = time.monotonic()
    corpus = build_corpus(root / "corpus")
    print(
        f"corpus       {len(corpus.pages)} web pages, {len(corpus.captions)} captions, {len(corpus.pdfs)} PDFs  {root / 'corpus'}"
    )
    sources = write_sources(root / "instruct-sources")  # for `make instruct` (configs/instruct.yaml)
    print(
        f"sources      {len(sources)} of The Cauldron's sources in their own layouts  {root / 'instruct-sources'}"
    )
    problems = 0
    with LocalWeb() as web:
        ok, faulty = check_local_web(web, corpus)
        print(f"local web    {web.base_url}: {ok} corpus images served, {faulty} deliberate faults")
        # the corpus hosts are fictional: the runs explicitly map them all to the local web
        fetching = [
            "fetch.override_plain_http=true",
            f'fetch.resolver_override={{"*": "127.0.0.1:{web.port}"}}',
            f"executor.kind={executor}",
            f"output_dir={root}",
        ]
        cfg = load_config(
            InterleavedConfig,
            None,
            [
                "dataset=demo-web",
                f"warcs=[{root / 'corpus/web/pages.warc.gz'}]",
                "fetch_images=true",
                *fetching,
            ],
        )
        run_stages(build_interleaved(cfg), cfg.executor, cfg.dataset_dir, progress=progress)
        stats = json.loads((Path(cfg.dataset_dir) / "_logs/extract/stats.json").read_text())
        read = int(step_stats(stats, "WARC reader").get("documents", 0))
        kept = int(step_stats(stats, "document filters").get("forwarded", 0))
        samples = json.loads((Path(cfg.dataset_dir) / "manifest.json").read_text())["totals"]["samples"]
        detail = (
            f"{read} pages read, {kept} kept by the text filters, {samples} documents with fetched images"
        )
        problems += report_line("interleaved", cfg.dataset_dir, cfg.model_dump(mode="json"), detail)

        # CLIP scoring needs an open_clip checkpoint (clip.weights=PATH); none ships with a package
        cfg = load_config(
            PairsConfig,
            None,
            [
                "dataset=demo-pairs",
                f"pairs=[{root / 'corpus/pairs/captions.parquet'}]",
                "clip.enabled=false",
                *fetching,
            ],
        )
        run_stages(build_pairs(cfg), cfg.executor, cfg.dataset_dir, progress=progress)
        samples = json.loads((Path(cfg.dataset_dir) / "manifest.json").read_text())["totals"]["samples"]
        detail = f"{len(corpus.captions)} captions -> {samples} pairs (CLIP off: give clip.weights=PATH)"
        problems += report_line("pairs", cfg.dataset_dir, cfg.model_dump(mode="json"), detail)

    cfg = load_config(
        PdfOcrConfig,
        None,
        ["dataset=demo-pdf", f"output_dir={root}", f"pdfs=[{root / 'corpus/pdfs'}]",
         f"warcs=[{root / 'corpus/web/pages.warc.gz'}]", f"executor.kind={executor}"],
    )  # fmt: skip
    run_stages(build_pdf_ocr(cfg), cfg.executor, cfg.dataset_dir, progress=progress)
    samples = json.loads((Path(cfg.dataset_dir) / "manifest.json").read_text())["totals"]["samples"]
    detail = f"{len(corpus.pdfs)} PDFs (+ the WARC's PDF record) -> {samples} pages"
    problems += report_line("pdf_ocr", cfg.dataset_dir, cfg.model_dump(mode="json"), detail)

    for kind in KINDS:
        staged = root / "inputs" / kind
        if not (staged / "00001.parquet").exists():
            fmt = "png" if kind == "ocr" else "jpg"  # OCR pages arrive as PNG: the writer re-encodes them
            stage_documents(make_documents(kind, documents, fmt=fmt), str(staged), files=2)
        cfg = load_config(
            PackConfig,
            None,
            [f"dataset=demo-{kind}", f"output_dir={root}", f"input={staged}", f"kind={kind}",
             f"executor.kind={executor}", "shards.max_samples=64"],
        )  # fmt: skip
        run_stages(build_pack(cfg), cfg.executor, cfg.dataset_dir, progress=progress)
        manifest = json.loads((Path(cfg.dataset_dir) / "manifest.json").read_text())
        detail = f"{len(manifest['shardlist']):>3} shards {manifest['totals']['samples']:>5} samples"
        problems += report_line(kind, cfg.dataset_dir, cfg.model_dump(mode="json"), detail)

    problems += train_demo(root)
    print(
        f"\ndemo finished in {time.monotonic() - started:.0f} s: {root.resolve()}\n"
        "  corpus/    the generated WARC, caption list and PDFs (corpus.json says what each item tests)\n"
        "  inputs/    staged documents of every kind\n"
        "  demo-web/  the interleaved job; demo-pairs/ the pairs job; demo-pdf/ the pdf_ocr job:\n"
        "             shards/, manifest.json, report.html (what every filter removed, why, and what it\n"
        "             looked like), _stage/, _logs/, _excluded/\n"
        "  demo-*/    one packed dataset per kind\n"
        "  train/     a tiny Idefics3 trained a few steps on the four packed datasets (log.jsonl)\n"
        "  Not run here: docmatix (needs an LLM endpoint: llm.endpoint_url=...), CLIP scores (clip.weights=...)"
    )
    return 1 if problems else 0


def train_demo(root: Path, steps: int = 6) -> int:
    """A few optimizer steps of a tiny Idefics3 on the packed datasets, mixed 0.4/0.3/0.15/0.15;
    returns 1 when the training module could not run (torch missing), else 0."""
    try:
        from training.cli import main as train_main
    except ImportError as error:
        print(f"train        skipped: {error} (install the train extra)")
        return 1
    weights = {"interleaved": 0.4, "pair": 0.3, "ocr": 0.15, "qa": 0.15}
    datasets = ", ".join(
        f"{{manifest: {root / f'demo-{kind}' / 'manifest.json'}, weight: {weight}}}"
        for kind, weight in weights.items()
    )
    started = time.monotonic()
    code = train_main(
        ["--config", str(CONFIGS / "train.yaml"), f"datasets=[{datasets}]", f"checkpoint_dir={root / 'train'}",
         f"steps={steps}", "warmup_steps=2", f"log_every={steps}", f"checkpoint_every={steps}", "data.num_workers=0"]
    )  # fmt: skip
    log = (
        (root / "train" / "log.jsonl").read_text().splitlines()
        if (root / "train" / "log.jsonl").exists()
        else []
    )
    last = json.loads(log[-1]) if log else {}
    print(
        f"train        {steps} steps in {time.monotonic() - started:.0f} s, last log {last}  {root / 'train'}"
    )
    return 1 if code else 0


if __name__ == "__main__":
    sys.exit(run_demo(sys.argv[1] if len(sys.argv) > 1 else "demo-out"))
