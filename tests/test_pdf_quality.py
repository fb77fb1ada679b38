"""Transcription quality against exact ground truth (synth.demo.pdf_truth, audit.transcription):
the scores themselves, the OCR image preparation, the router, and the job's quality on a small
corpus of every page form, with limits close to the README's figures (bench_pdf_quality)."""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import subprocess
import time
from collections import Counter
from types import SimpleNamespace

import numpy as np
import pymupdf
import pytest
from PIL import Image
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen import canvas

from audit.transcription import cell_recall, cer, leakage, reading_order, score, word_f1
from pipelines.executors import run_stages
from pipelines.pdf_ocr import build_pdf_ocr
from pipelines.steps.pdf.ocr_image import skew_angle, unrotate_boxes
from schemas.config import load_config
from schemas.config_pdf import PdfOcrConfig
from schemas.shard_reader import read_shard
from synth.demo.pdf_truth import FORMS, born_digital, register_fonts, scanned

pytestmark = pytest.mark.timeout(300)
TESSERACT = shutil.which("tesseract")
needs_tesseract = pytest.mark.skipif(
    TESSERACT is None and not os.environ.get("VLMDATA_CI"),
    reason="tesseract is not installed (apt-get install tesseract-ocr)",
)


def test_scores_tell_errors_apart():
    lines = ["Title", "first column line one", "first column line two", "second column line one", "Page 1"]
    truth = "\n".join(lines)
    assert cer(truth, truth) == 0 and word_f1(truth, truth) == 1
    assert reading_order(lines, truth) == (1.0, 1.0)
    assert cer(truth, truth.replace("one", "0ne")) == pytest.approx(2 / len(" ".join(truth.split())))
    swapped = "\n".join([lines[0], lines[3], lines[1], lines[2], lines[4]])  # columns read across
    order, found = reading_order(lines, swapped)
    assert found == 1.0 and order == pytest.approx(1 - 2 / 5)
    assert word_f1(truth, swapped) == 1.0 and cer(truth, swapped) > 0.2  # a move costs its characters
    # the footer read between body lines leaks; at the end it does not
    inside = "\n".join([lines[0], lines[1], lines[4], lines[2], lines[3]])
    assert leakage(lines, ["Title"], ["Page 1"], inside) == 0.5
    assert leakage(lines, ["Title"], ["Page 1"], truth) == 0.0
    assert cell_recall(["12.50", "wool"], "wool 12.5O") == 0.5
    assert score(lines, "")["cer"] == 1.0


def test_born_digital_pages_are_not_written_by_the_reader():
    for form in FORMS:
        data, truth = born_digital(form, 0)
        with pymupdf.open(stream=data) as doc:
            assert "ReportLab" in (doc.metadata.get("producer") or "") or b"ReportLab" in data[:4000]
            words = Counter(w[4] for w in doc[0].get_text("words"))
            # every word of the truth is on the page (the bullets of lists are words too)
            assert Counter(truth.text.split()) == words, form
    assert (
        born_digital("rotated", 0)[0] and pymupdf.open(stream=born_digital("rotated", 0)[0])[0].rotation == 90
    )


def _grey(data: bytes, dpi: int) -> Image.Image:
    with pymupdf.open(stream=data) as doc:
        pix = doc[0].get_pixmap(dpi=dpi, colorspace=pymupdf.csGRAY)
        return Image.frombytes("L", (pix.w, pix.h), pix.samples)


@pytest.mark.parametrize("turn", [-2.0, -0.7, 0.0, 1.3, 2.0])
def test_skew_angle_is_found(turn):
    page = _grey(born_digital("one_column", 1)[0], 150)
    turned = page.rotate(-turn, resample=Image.Resampling.BICUBIC, fillcolor=255)  # lines run down-right
    assert skew_angle(turned) == pytest.approx(turn, abs=0.15)


def test_boxes_found_on_a_straightened_image_map_back():
    width, height, angle = 1000, 1400, 2.0
    box = np.array([[600.0, 300.0, 700.0, 330.0]])
    back = unrotate_boxes(box, angle, width, height)
    # turning the original box's centre by `angle` about the image centre lands on the found box's
    cx, cy = (back[0, 0] + back[0, 2]) / 2 - width / 2, (back[0, 1] + back[0, 3]) / 2 - height / 2
    t = math.radians(angle)
    x, y = cx * math.cos(t) - cy * math.sin(t) + width / 2, cx * math.sin(t) + cy * math.cos(t) + height / 2
    assert (x, y) == pytest.approx((650, 315), abs=0.5)
    assert (unrotate_boxes(box, 0.0, width, height) == box).all()


def run_pages(tmp_path, pages, *settings):
    """Run the job on (pdf bytes, truth) pages: {truth name: (truth, sample json or None)}."""
    folder = tmp_path / "pdfs"
    folder.mkdir()
    for data, truth in pages:
        (folder / f"{truth.name}.pdf").write_bytes(data)
    cfg = load_config(
        PdfOcrConfig,
        None,
        [f"pdfs=[{folder}]", f"output_dir={tmp_path / 'out'}", "dataset=q", "executor.kind=local",
         "executor.tasks=2", "page_filters.min_words=0", "page_filters.max_tokens=null", *settings],
    )  # fmt: skip
    run_stages(build_pdf_ocr(cfg), cfg.executor, cfg.dataset_dir, progress=False)
    found = {}
    for shard in sorted((tmp_path / "out").glob("**/*.tar")):
        for sample in read_shard(str(shard)):
            found[sample.key.rsplit("-p", 1)[0]] = sample.json()
    return {truth.name: (truth, found.get(truth.name)) for _, truth in pages}


def test_born_digital_forms_meet_the_goals(tmp_path):
    results = run_pages(tmp_path, [born_digital(form, 7) for form in FORMS])
    scores = {}
    for name, (truth, sample) in results.items():
        assert sample is not None, name
        router = sample["meta"]["router"]
        assert router["route"] == "text_layer" and router["image_cover"] == 0, (name, router)
        scores[truth.form] = score(truth.lines, sample["texts"][1], truth.header, truth.footer, truth.cells)
    assert np.mean([s["cer"] for s in scores.values()]) <= 0.005, scores
    assert scores["two_column"]["reading_order"] >= 0.97 and scores["three_column"]["reading_order"] >= 0.97
    assert scores["table"]["cell_recall"] == 1.0
    assert all(s["leakage"] == 0 for s in scores.values())


# CI installs tesseract and sets VLMDATA_CI=1: there these tests never skip
@needs_tesseract
def test_scans_and_text_layers_on_scans(tmp_path):
    pages = [
        scanned("scan300", "two_column", 3),
        scanned("fax", "one_column", 1),  # skewed 1.95 degrees: unread paragraphs without deskew
        scanned("fax", "table", 2),
        scanned("wrong_layer", "one_column", 4),
        scanned("wrong_layer", "list", 5),
        scanned("right_layer", "two_column", 6),
    ]
    results = run_pages(tmp_path, pages)
    by_scan: dict[str, list] = {}
    for name, (truth, sample) in results.items():
        assert sample is not None, name
        meta = sample["meta"]
        by_scan.setdefault(truth.scan, []).append((score(truth.lines, sample["texts"][1]), meta))
        assert meta["router"].get("image_cover", 1.0) == 1.0  # OCR-routed pages have no layer to cover
    assert all(s["cer"] <= 0.01 for s, _ in by_scan["scan300"])
    assert all(s["cer"] <= 0.04 for s, _ in by_scan["fax"]), by_scan["fax"]
    assert all(m["router"]["scan_dpi"] == 100 for _, m in by_scan["fax"])
    for s, meta in by_scan["wrong_layer"]:  # a wrong layer is found out and the page OCRed
        assert meta["router"]["route"] == "ocr" and meta["router"]["reason"] == "layer_disagrees"
        assert meta["router"]["agreement"] < 0.8 and meta["text_source"] == "ocr" and s["cer"] <= 0.05
    ((s, meta),) = by_scan["right_layer"]  # a right one is kept, text and word boxes
    assert meta["router"]["route"] == "text_layer" and meta["router"]["agreement"] >= 0.8
    assert meta["text_source"] == "text_layer" and s["cer"] == 0.0


def test_a_layer_to_check_is_kept_unchecked_without_ocr(tmp_path):
    results = run_pages(tmp_path, [scanned("wrong_layer", "one_column", 4)], "ocr.enabled=false")
    ((truth, sample),) = results.values()
    router = sample["meta"]["router"]
    assert router["route"] == "text_layer" and router["checked"] is False and router["image_cover"] == 1.0


def _tesseract_languages() -> set[str]:
    if TESSERACT is None:
        return set()
    listed = subprocess.run([TESSERACT, "--list-langs"], capture_output=True, text=True, check=False)
    return set(listed.stdout.split())


@pytest.mark.skipif(
    not {"ell", "rus"} <= _tesseract_languages() and not os.environ.get("VLMDATA_CI"),
    reason="tesseract's Greek and Russian models are not installed (apt-get install tesseract-ocr-ell "
    "tesseract-ocr-rus)",
)
def test_greek_and_cyrillic_scans_are_read(tmp_path):
    register_fonts()
    lines = [
        "Το δημοτικό συμβούλιο ανακοίνωσε ότι ο παλιός σταθμός θα γίνει βιβλιοθήκη.",
        "Городской совет объявил, что старый вокзал станет публичной библиотекой.",
    ]
    page = io.BytesIO()
    pdf = canvas.Canvas(page, pagesize=(595, 842), invariant=1)
    for k, line in enumerate(lines):
        pdf.setFont("DejaVuSerif", 11)
        pdf.drawString(56, 760 - 20 * k, line)
    pdf.save()
    image = io.BytesIO()
    _grey(page.getvalue(), 200).save(image, format="JPEG", quality=85)
    scan = io.BytesIO()
    pdf = canvas.Canvas(scan, pagesize=(595, 842), invariant=1)
    pdf.drawImage(ImageReader(io.BytesIO(image.getvalue())), 0, 0, 595, 842)
    pdf.save()
    truth = SimpleNamespace(name="greek-russian")
    ((_, sample),) = run_pages(tmp_path, [(scan.getvalue(), truth)], "ocr.languages=ell+rus").values()
    assert sample["meta"]["text_source"] == "ocr"
    assert cer("\n".join(lines), sample["texts"][1]) <= 0.03, sample["texts"][1]


def slow_pdf(fills: int) -> bytes:
    """One page that takes long to draw: ``fills`` full-page translucent fills (about 2.8 ms each
    at 144 dpi here), after a line of text."""
    out = io.BytesIO()
    pdf = canvas.Canvas(out, pagesize=(595, 842), pageCompression=1, invariant=1)
    pdf.drawString(72, 770, "A page that takes long to draw.")
    pdf.setFillAlpha(0.02)
    pdf.setFillColorRGB(0.5, 0.2, 0.9)
    for _ in range(fills):
        pdf.rect(0, 0, 595, 842, stroke=0, fill=1)
    pdf.showPage()
    pdf.save()
    return out.getvalue()


@pytest.mark.parametrize("executor", ["local", "ray"])
def test_a_hung_page_is_stopped_at_its_time_limit(tmp_path, executor):
    limit = 0.5
    slow = SimpleNamespace(name="slow")
    with pymupdf.open(stream=slow_pdf(2000), filetype="pdf") as doc:  # ~5.6 s: 10x the limit
        start = time.perf_counter()
        doc[0].get_pixmap(dpi=144)
        assert time.perf_counter() - start >= 10 * limit * 0.8
    pages = [born_digital("one_column", 1), (slow_pdf(2000), slow), born_digital("list", 2)]
    settings = [f"render.page_timeout_s={limit}", "executor.tasks=1"]
    if executor == "ray":
        settings += ["executor.kind=ray", "executor.workers=-1", "executor.mem_per_cpu_gb=0.25"]
    results = run_pages(tmp_path, pages, *settings)
    assert results["slow"][1] is None and all(results[t.name][1] for _, t in pages if t is not slow)
    (excluded,) = (tmp_path / "out" / "q" / "_excluded" / "pages").glob("*-pages.json")
    (record,) = json.loads(excluded.read_text())["examples"]["page_timeout"]
    assert record["source"].endswith("slow.pdf#page=1")
    assert limit <= record["value"] <= 2 * limit  # seconds the page was given, measured


def test_pdfs_the_filter_drops_are_closed():
    from filters.page_filters import PdfFilter
    from pipelines.steps.pdf.pdf_reader import OPEN_PDF, pdf_document
    from schemas.config_pdf import PageFilterConfig

    data, _ = born_digital("one_column", 0)
    kept, dropped = pdf_document(data, "a", "a.pdf"), pdf_document(data, "b", "b.pdf")
    opened = dropped.media[0].metadata[OPEN_PDF]
    assert PdfFilter(PageFilterConfig(max_pages=1)).filter(kept) is True
    assert PdfFilter(PageFilterConfig(min_pages=2)).filter(dropped) == (False, "too_few_pages")
    assert opened.is_closed and OPEN_PDF not in dropped.media[0].metadata
    assert not kept.media[0].metadata[OPEN_PDF].is_closed
