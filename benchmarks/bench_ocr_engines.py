"""OCR engines on the same scanned pages: Tesseract as the pdf_ocr job runs it, and RapidOCR.

Why: the job could take a second OCR engine where one beats Tesseract on its scans.
``rapidocr-onnxruntime`` 1.4.x is the candidate that runs offline (its detection and recognition
models, Chinese + English, ship inside the wheel; later rapidocr releases download models at first
use). It is not a dependency of the project: like the other peers it runs in its own virtual
environment, ``benchmarks/.venv-rapidocr`` (``rapidocr-onnxruntime==1.4.4``, created on first use;
``--no-rapidocr`` leaves that side out), reading the prepared page images this script writes and
answering with its text lines and their boxes as JSON.

Pages: ``synth.demo.pdf_truth.scanned`` for the scan kinds ``scan300`` and ``fax`` (the forms of
``SCANNED_FORMS``; ``--pages`` each) plus scans of the ``diacritics`` form (German and French
words), seeded. Each page is rendered as the job renders pages for OCR (greyscale at ``ocr.dpi``
300) and prepared as the job prepares them (``ocr_image.prepare``: deskew; median filter on the
100 dpi fax pages), then read by

* tesseract: ``page_ocr.tesseract_tsv`` + ``ocr_transcription`` (``eng+deu+fra``, psm 3, one
  thread), exactly the job's call;
* rapidocr: ``RapidOCR(intra_op_num_threads=1)(image)`` (its defaults otherwise; one thread, as
  the job's tasks own their cores), text lines put in reading order by the same XY-cut
  (``pdf_text.reading_order``) and joined by newlines. Its seconds are those of the call inside
  its process (the model loads once, before the first page).

Scores per engine and scan kind (``audit.transcription.score``): CER, word F1, reading order;
seconds per page (OCR only, the render and preparation excluded). Last line: ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pymupdf
from PIL import Image

from audit.transcription import score
from pipelines.steps.pdf.ocr_image import pgm, prepare
from pipelines.steps.pdf.page_ocr import ocr_transcription, tesseract_tsv
from pipelines.steps.pdf.pdf_text import reading_order
from synth.demo.pdf_truth import SCANNED_FORMS, scanned

DPI = 300
KINDS = {"scan300": SCANNED_FORMS, "fax": SCANNED_FORMS, "diacritics": ("diacritics",)}


def render(data: bytes) -> Image.Image:
    with pymupdf.open(stream=data, filetype="pdf") as pdf:
        pix = pdf[0].get_pixmap(dpi=DPI, colorspace=pymupdf.csGRAY)
        return Image.frombytes("L", (pix.width, pix.height), pix.samples)


def tesseract(image: Image.Image, binary: str) -> str:
    rows = tesseract_tsv(pgm(image), binary, "eng+deu+fra", 3, DPI, 120)
    return ocr_transcription(rows, image.width, image.height)[0]


PEER_VENV = Path(__file__).resolve().parent / ".venv-rapidocr"
PEER = "rapidocr-onnxruntime==1.4.4"
# runs in the peer's venv: one PGM path per line in, one JSON line per page out
WORKER = """
import json, sys, time
import numpy as np
from PIL import Image
from rapidocr_onnxruntime import RapidOCR
engine = RapidOCR(intra_op_num_threads=1)
engine(np.full((64, 256), 255, np.uint8))  # onnxruntime's first run is slow: not a page's cost
for path in sys.stdin:
    image = np.asarray(Image.open(path.strip()))
    start = time.perf_counter()
    result, _ = engine(image)
    seconds = time.perf_counter() - start
    lines = [[[float(v) for p in quad for v in p], text] for quad, text, _ in (result or [])]
    print(json.dumps({"lines": lines, "seconds": seconds}), flush=True)
"""


def peer_python() -> Path:
    """The peer venv's Python, created with RapidOCR the first time."""
    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {PEER_VENV} with {PEER} (first use)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        subprocess.run([str(PEER_VENV / "bin" / "pip"), "install", "-q", PEER], check=True)
    return python


def rapid(images: list[Path]) -> list[tuple[str, float]]:
    """(text in reading order, seconds) of each image, read by RapidOCR in its own venv."""
    done = subprocess.run(
        [str(peer_python()), "-c", WORKER],
        input="".join(f"{path}\n" for path in images),
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    out = []
    for line in done.stdout.splitlines():
        page = json.loads(line)
        boxes = [(min(q[0::2]), min(q[1::2]), max(q[0::2]), max(q[1::2])) for q, _ in page["lines"]]
        text = "\n".join(page["lines"][i][1] for i in reading_order(boxes)) if boxes else ""
        out.append((text, page["seconds"]))
    return out


def main() -> None:
    from results import emit

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=3, help="pages per form and scan kind")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kinds", nargs="*", default=list(KINDS), choices=list(KINDS), help="scan kinds")
    parser.add_argument("--no-rapidocr", action="store_true", help="Tesseract only (no peer venv)")
    parser.add_argument("--no-save", action="store_true", help="print RESULT without writing results/")
    args = parser.parse_args()
    binary = shutil.which("tesseract")
    if binary is None:
        raise SystemExit("tesseract not found: install Debian's tesseract-ocr (-eng -deu -fra)")
    os.environ["OMP_THREAD_LIMIT"] = "1"
    engines = ["tesseract"] + ([] if args.no_rapidocr else ["rapidocr"])
    result: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench_ocr_engines-") as work:
        for kind in args.kinds:
            scan = "scan300" if kind == "diacritics" else kind
            pages = []
            for form in KINDS[kind]:
                for k in range(args.pages):
                    data, truth = scanned(scan, form, args.seed + k, k + 1)
                    image, _ = prepare(render(data), deskew=True, denoise=scan == "fax")
                    path = Path(work) / f"{kind}-{form}-{k}.pgm"
                    image.save(path)
                    pages.append((path, truth))
            read: dict[str, list[tuple[str, float]]] = {"tesseract": []}
            for path, _ in pages:
                start = time.perf_counter()
                text = tesseract(Image.open(path), binary)
                read["tesseract"].append((text, time.perf_counter() - start))
            if "rapidocr" in engines:
                read["rapidocr"] = rapid([path for path, _ in pages])
            for name in engines:
                rows = [
                    score(truth.lines, text, truth.header, truth.footer, truth.cells) | {"seconds": seconds}
                    for (text, seconds), (_, truth) in zip(read[name], pages, strict=True)
                ]
                summary = {"pages": len(rows)}
                for metric in ("cer", "word_f1", "reading_order", "seconds"):
                    summary[metric] = round(statistics.fmean(r[metric] for r in rows), 4)
                result.setdefault(name, {})[kind] = summary
                print(f"{name:<10} {kind:<11} {summary}")
    result["rapidocr_run"] = "rapidocr" in engines
    peer = {"rapidocr-onnxruntime (peer venv)": PEER.split("==")[1]} if "rapidocr" in engines else {}
    emit("bench_ocr_engines", result, ["pymupdf"], peer)


if __name__ == "__main__":
    main()
