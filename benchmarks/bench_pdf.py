"""PDF page throughput: the ``pdf_ocr`` job against a bare pymupdf render-and-encode loop, side by side.

Input: the readable PDFs of ``pdf/`` in the test data (``VLMDATA_TEST_DATA``, default ``../shared/data``;
those ``probe_pdf`` accepts: the encrypted
and the damaged file are left out, as the job would drop them anyway), copied ``--copies`` times
into a temp dir (``copy-NN/<name>.pdf``) so that one run lasts about 5-8 s. ``pages`` is the
page count of all copies; both sides render every one of them. Each run is timed by wall clock:

* job: ``run_stages(build_pdf_ocr(cfg), ...)`` on the local executor with ``executor.tasks=1``
  and ``executor.workers=1`` (one process), end to end: read, probe, render, read the text layer
  in reading order with word boxes, blank / text filters (language id, token count), write the
  shards (sha256, shard index), then the finalize stage (manifest). ``ocr.enabled=false``: no
  page goes through Tesseract, so no scanned page is in the comparison (pages without a text
  layer are rendered, then dropped as ``ocr_disabled``).
* bare: one loop, ``pymupdf.open`` -> for every page ``Page.get_pixmap`` at the job's zoom
  (``render.dpi``, lowered so the longer side fits ``render.max_side``; RGB, no alpha) -> JPEG at
  ``shards.jpeg_quality`` with Pillow's encoder, as ``page_image.encode`` does (Pillow's
  libjpeg-turbo, not MuPDF's writer) -> bytes kept in memory. No text, no filters, no files.

Runs alternate (job, bare) for ``--repeats`` rounds (8: this shared machine's speed moves by a
fifth from minute to minute, and more rounds give both sides the same chance of a fast minute) and
the best time of each counts.
pages/s = pages / best seconds. Goal: ratio = job pages/s / bare pages/s >= 0.8.
``round_ratios`` are bare seconds / job seconds within each round: neighbours in time, so their
spread shows how much the machine's speed moved during the run.

The job renders in a child process (``render.watchdog``) one page ahead of the task's later
steps, so it can use more than one core: ``cpu_ratio`` = bare CPU-seconds / job CPU-seconds (this
process and its ended children, best round of each) says what it costs per page of CPU.

* published: the same job on the same PDFs packed as one WebDataset tar in the published
  OCR datasets' layout (PDFA / OCR-IDL: ``<key>.pdf`` and ``<key>.json`` with each page's lines
  and words; made before the timing from pymupdf's words), so every page takes the published
  transcription instead of the text layer. Goal: ``published_ratio`` = published pages/s / bare
  pages/s >= 0.8.
``--profile FILE`` writes a cProfile of one extra job run. Last line: ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

import pymupdf
import webdataset as wds
from PIL import Image

from pipelines.executors import run_stages
from pipelines.pdf_ocr import build_pdf_ocr
from pipelines.steps.pdf.page_image import zoom_for
from pipelines.steps.pdf.pdf_reader import probe_pdf
from schemas.config import load_config
from schemas.config_pdf import PdfOcrConfig

DATA = (
    Path(os.environ.get("VLMDATA_TEST_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
    / "pdf"
)


def readable_pdfs(data: Path = DATA) -> list[Path]:
    """The PDFs of ``data`` that the job reads (no ``pdf_problem``), sorted by name."""
    return [p for p in sorted(data.glob("*.pdf")) if probe_pdf(p.read_bytes()).problem is None]


def stage_inputs(pdfs: list[Path], folder: Path, copies: int) -> tuple[list[Path], int]:
    """``copies`` copies of ``pdfs`` under ``folder``; (every copied file, their total page count)."""
    files = []
    for n in range(copies):
        sub = folder / f"copy-{n:02d}"
        sub.mkdir(parents=True)
        for pdf in pdfs:
            shutil.copyfile(pdf, sub / pdf.name)
            files.append(sub / pdf.name)
    pages = 0
    for path in files:
        with pymupdf.open(path) as doc:
            pages += doc.page_count
    return files, pages


def published_tar(files: list[Path], tar: Path) -> None:
    """``files`` as one tar in the published datasets' layout (``<key>.pdf`` + ``<key>.json``)."""
    tar.parent.mkdir(parents=True)
    with wds.TarWriter(str(tar)) as sink:
        for n, path in enumerate(files):
            data, pages = path.read_bytes(), []
            with pymupdf.open(stream=data, filetype="pdf") as doc:
                for page in doc:
                    w, h = page.rect.width, page.rect.height
                    words = page.get_text("words")
                    pages.append({
                        "images_bbox": [],
                        "lines": {"text": page.get_text().splitlines(), "bbox": [], "score": []},
                        "words": {"text": [x[4] for x in words], "score": [1.0] * len(words),
                                  "bbox": [[x[0] / w, x[1] / h, (x[2] - x[0]) / w, (x[3] - x[1]) / h] for x in words]},
                    })  # fmt: skip
            sink.write({"__key__": f"{n:07d}", "pdf": data, "json": json.dumps({"pages": pages}).encode()})


def job_config(inputs: Path, out: Path) -> PdfOcrConfig:
    settings = "dataset=bench executor.kind=local executor.tasks=1 executor.workers=1 ocr.enabled=false"
    return load_config(PdfOcrConfig, None, [f"pdfs=[{inputs}]", f"output_dir={out}", *settings.split()])


def cpu_seconds() -> float:
    """CPU seconds of this process and of its children that have ended (the page worker)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_job(cfg: PdfOcrConfig, cpu: list[float] | None = None) -> float:
    shutil.rmtree(cfg.output_dir, ignore_errors=True)
    start, used = time.perf_counter(), cpu_seconds()
    run_stages(build_pdf_ocr(cfg), cfg.executor, cfg.dataset_dir, progress=False)
    if cpu is not None:
        cpu.append(cpu_seconds() - used)
    return time.perf_counter() - start


def run_bare(
    files: list[Path], dpi: int, max_side: int, quality: int, cpu: list[float] | None = None
) -> float:
    start, used = time.perf_counter(), cpu_seconds()
    for path in files:
        with pymupdf.open(stream=path.read_bytes(), filetype="pdf") as doc:
            for page in doc:
                zoom = zoom_for(page, dpi, max_side)
                pix = page.get_pixmap(
                    matrix=pymupdf.Matrix(zoom, zoom), colorspace=pymupdf.csRGB, alpha=False
                )
                image = Image.frombuffer("RGB", (pix.w, pix.h), pix.samples_mv, "raw", "RGB", pix.stride, 1)
                image.save(io.BytesIO(), format="JPEG", quality=quality)
    if cpu is not None:
        cpu.append(cpu_seconds() - used)
    return time.perf_counter() - start


def kept_pages(cfg: PdfOcrConfig) -> int:
    manifest = json.loads((Path(cfg.dataset_dir) / "manifest.json").read_text())
    return manifest["totals"]["samples"]


def main() -> None:
    from results import emit

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=3, help="copies of the PDF set (run length)")
    parser.add_argument(
        "--repeats", type=int, default=8, help="rounds of (job, bare); the best of each counts"
    )
    parser.add_argument("--workdir", help="where to copy and write (default: a temp dir under /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the work dir")
    parser.add_argument(
        "--no-save", action="store_true", help="print RESULT without writing benchmarks/results/"
    )
    parser.add_argument("--profile", help="write a cProfile of one more job run to this file")
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_pdf-", dir="/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        pdfs = readable_pdfs()
        files, pages = stage_inputs(pdfs, work / "pdfs", args.copies)
        print(f"{len(pdfs)} readable PDFs x {args.copies} copies: {len(files)} files, {pages} pages")
        cfg = job_config(work / "pdfs", work / "out")
        published_tar(files, work / "published" / "pdfa-0000.tar")
        published = job_config(work / "published", work / "out-published")
        render, quality = cfg.render, cfg.shards.jpeg_quality
        times: dict[str, list[float]] = {"job": [], "bare": [], "published": []}
        cpu: dict[str, list[float]] = {"job": [], "bare": []}
        for _ in range(args.repeats):  # alternate, so other load falls on all alike
            times["job"].append(run_job(cfg, cpu["job"]))
            times["bare"].append(run_bare(files, render.dpi, render.max_side, quality, cpu["bare"]))
            times["published"].append(run_job(published))
        if args.profile:
            profiler = cProfile.Profile()
            profiler.runcall(run_job, cfg)
            profiler.dump_stats(args.profile)
        width = 6 * args.repeats + 2
        print(f"\n{'run':<10}{'best s':>8}{'all s':>{width}}{'pages/s':>9}")
        speed = {}
        for name, seconds in times.items():
            speed[name] = pages / min(seconds)
            every = " ".join(f"{t:5.2f}" for t in seconds)
            print(f"{name:<10}{min(seconds):>8.2f}{every:>{width}}{speed[name]:>9.1f}")
        rounds = [bare / job for job, bare in zip(times["job"], times["bare"], strict=True)]
        print(f"job kept {kept_pages(cfg)} of {pages} pages as samples; best of {args.repeats}\n")
        result = {
            "job_pages_s": round(speed["job"], 2),
            "bare_pages_s": round(speed["bare"], 2),
            "ratio": round(speed["job"] / speed["bare"], 3),
            "published_pages_s": round(speed["published"], 2),
            "published_ratio": round(speed["published"] / speed["bare"], 3),
            "round_ratios": [round(r, 3) for r in rounds],
            "job_cpu_s": round(min(cpu["job"]), 2),
            "bare_cpu_s": round(min(cpu["bare"]), 2),
            "cpu_ratio": round(min(cpu["bare"]) / min(cpu["job"]), 3),
            "pages": pages,
        }
        emit("bench_pdf", result, ["pymupdf", "pillow", "datatrove"])
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
