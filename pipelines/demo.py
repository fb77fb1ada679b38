"""The embedded demo: needs nothing but the checkout, no network, and runs what exists end to end.

1. writes the demo corpus (``synth.demo_corpus``): a WARC of web pages in three languages with
   the cases the filters must catch, a caption list, PDFs made with pymupdf;
2. starts the local web (``synth.local_web``) on 127.0.0.1 and checks it answers for every image
   of the corpus under its original URL (the crawl jobs fetch them through it);
3. runs the ``interleaved`` job on the corpus WARC: extraction, language, node and document
   filters, then fetches the images through the local web (the run maps the corpus's fictional
   hosts to it explicitly), joins them back, filters them and writes shards;
4. stages synthetic documents of every sample kind and packs each into shards with the ``pack``
   job, on the default executor (an embedded Ray), then validates every dataset.
The pairs, PDF and QA jobs join as they land, reading the corpus of step 1.
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
from pipelines.staging import stage_documents
from schemas.config import InterleavedConfig, PackConfig, load_config
from schemas.records import step_stats
from schemas.samples import KINDS
from schemas.validate import validate_dataset
from synth.demo_corpus import CorpusManifest, build_corpus
from synth.documents import make_documents
from synth.local_web import LocalWeb


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


def run_demo(out: str, documents: int = 200, executor: str = "ray", progress: bool = True) -> int:
    root = Path(out)
    started = time.monotonic()
    corpus = build_corpus(root / "corpus")
    print(
        f"corpus       {len(corpus.pages)} web pages, {len(corpus.captions)} captions, {len(corpus.pdfs)} PDFs  {root / 'corpus'}"
    )
    problems = 0
    with LocalWeb() as web:
        ok, faulty = check_local_web(web, corpus)
        print(f"local web    {web.base_url}: {ok} corpus images served, {faulty} deliberate faults")
        # the corpus hosts are fictional: the run explicitly maps them all to the local web
        cfg = load_config(
            InterleavedConfig, None,
            ["dataset=demo-web", f"output_dir={root}", f"warcs=[{root / 'corpus/web/pages.warc.gz'}]",
             f"executor.kind={executor}", "fetch_images=true", "fetch.override_plain_http=true",
             f'fetch.resolver_override={{"*": "127.0.0.1:{web.port}"}}'],
        )  # fmt: skip
        run_stages(build_interleaved(cfg), cfg.executor, cfg.dataset_dir, progress=progress)
    stats = json.loads((Path(cfg.dataset_dir) / "_logs/extract/stats.json").read_text())
    read = int(step_stats(stats, "WARC reader").get("documents", 0))
    kept = int(step_stats(stats, "document filters").get("forwarded", 0))
    report = validate_dataset(cfg.dataset_dir)
    problems += len(report.problems)
    status = "valid" if report.ok else f"{len(report.problems)} PROBLEMS"
    print(
        f"interleaved  {read} pages read, {kept} kept by the text filters, {report.samples} documents with "
        f"fetched images in {report.shards} shards  {status}  {cfg.dataset_dir}/manifest.json"
    )
    html, _ = build_report(cfg.dataset_dir, config=cfg.model_dump(mode="json"))
    print(f"             the auditor's report: {html}")

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
        report = validate_dataset(cfg.dataset_dir)
        problems += len(report.problems)
        status = "valid" if report.ok else f"{len(report.problems)} PROBLEMS"
        print(
            f"{kind:<12} {report.shards:>3} shards {report.samples:>5} samples  {status}  {cfg.dataset_dir}/manifest.json"
        )
    print(
        f"\ndemo finished in {time.monotonic() - started:.0f} s: {root.resolve()}\n"
        "  corpus/   the generated WARC, caption list and PDFs (corpus.json says what each item tests)\n"
        "  inputs/   staged documents of every kind\n"
        "  demo-web/ the interleaved job: shards/, manifest.json, report.html (what every filter removed, why,\n"
        "            and what it looked like), _stage/, _logs/, _excluded/\n"
        "  demo-*/   one dataset per kind: shards/, manifest.json, sizes.json, _logs/"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(run_demo(sys.argv[1] if len(sys.argv) > 1 else "demo-out"))
