"""OCR engines on the same scanned pages: Tesseract as the pdf_ocr job runs it, and RapidOCR.

Why: the job could take a second OCR engine where one beats Tesseract on its scans.
``rapidocr-onnxruntime`` 1.4.x is the candidate that runs offline (its detection and recognition
models, Chinese + English, ship inside the wheel; later rapidocr releases download models at first
use). It is not a dependency of the project: install it into the venv to run that side
(``pip install --no-deps rapidocr-onnxruntime==1.4.4 pyclipper shapely``; its declared
``opencv-python`` would shadow the project's headless OpenCV, which it works with); without it
that side is skipped with one line.

Pages: ``synth.demo.pdf_truth.scanned`` for the scan kinds ``scan300`` and ``fax`` (the forms of
``SCANNED_FORMS``; ``--pages`` each) plus scans of the ``diacritics`` form (German and French
words), seeded. Each page is rendered as the job renders pages for OCR (greyscale at ``ocr.dpi``
300) and prepared as the job prepares them (``ocr_image.prepare``: deskew; median filter on the
100 dpi fax pages), then read by

* tesseract: ``page_ocr.tesseract_tsv`` + ``ocr_transcription`` (``eng+deu+fra``, psm 3, one
  thread), exactly the job's call;
* rapidocr: ``RapidOCR()(image)`` (its defaults; one onnxruntime thread for intra-op work, as the
  job's tasks own their cores), text lines put in reading order by the same XY-cut
  (``pdf_text.reading_order``) and joined by newlines.

Scores per engine and scan kind (``audit.transcription.score``): CER, word F1, reading order;
seconds per page (OCR only, the render and preparation excluded). Last line: ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import time

import numpy as np
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


def rapid_engine():
    try:
        from rapidocr_onnxruntime import RapidOCR
    except ImportError:
        return None
    return RapidOCR(intra_op_num_threads=1)


def rapid(image: Image.Image, engine) -> str:
    result, _ = engine(np.asarray(image))
    if not result:
        return ""
    boxes = []
    for quad, _text, _score in result:
        xs, ys = [p[0] for p in quad], [p[1] for p in quad]
        boxes.append((min(xs), min(ys), max(xs), max(ys)))
    return "\n".join(result[i][1] for i in reading_order(boxes))


def main() -> None:
    from results import emit

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=3, help="pages per form and scan kind")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kinds", nargs="*", default=list(KINDS), choices=list(KINDS), help="scan kinds")
    parser.add_argument("--no-save", action="store_true", help="print RESULT without writing results/")
    args = parser.parse_args()
    binary = shutil.which("tesseract")
    if binary is None:
        raise SystemExit("tesseract not found: install Debian's tesseract-ocr (-eng -deu -fra)")
    os.environ["OMP_THREAD_LIMIT"] = "1"
    engine = rapid_engine()
    if engine is None:
        print("rapidocr side skipped: rapidocr_onnxruntime is not installed (see the docstring)")
    engines = {"tesseract": lambda im: tesseract(im, binary)}
    if engine is not None:
        engines["rapidocr"] = lambda im: rapid(im, engine)
    result: dict = {}
    for kind in args.kinds:
        forms = KINDS[kind]
        scan = "scan300" if kind == "diacritics" else kind
        rows: dict[str, list[dict]] = {name: [] for name in engines}
        for form in forms:
            for k in range(args.pages):
                data, truth = scanned(scan, form, args.seed + k, k + 1)
                image, _ = prepare(render(data), deskew=True, denoise=scan == "fax")
                for name, read in engines.items():
                    start = time.perf_counter()
                    text = read(image)
                    seconds = time.perf_counter() - start
                    scores = score(truth.lines, text, truth.header, truth.footer, truth.cells)
                    rows[name].append(scores | {"seconds": seconds})
        for name, got in rows.items():
            summary = {"pages": len(got)}
            for metric in ("cer", "word_f1", "reading_order", "seconds"):
                summary[metric] = round(statistics.fmean(r[metric] for r in got), 4)
            result.setdefault(name, {})[kind] = summary
            print(f"{name:<10} {kind:<11} {summary}")
    result["rapidocr_run"] = engine is not None
    versions = ["pymupdf"] + (["rapidocr_onnxruntime", "onnxruntime"] if engine is not None else [])
    emit("bench_ocr_engines", result, versions)


if __name__ == "__main__":
    main()
