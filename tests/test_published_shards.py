"""The published OCR datasets' shards read directly: OCR-IDL (pixparse/idl-wds) and PDFA
(pixparse/pdfa-eng-wds) as their cards and viewers show them. A sample is ``<key>.pdf`` and
``<key>.json`` with ``pages[]`` of ``lines`` and ``words`` (``text``, ``bbox`` as [x, y, w, h]
normalised 0..1, ``score``; lines also ``word_slice``) and ``images_bbox``; idl-wds samples also
carry ``<key>.tif`` and ``<key>.ocr``. Pages are rendered; their transcription is the published
one, in its line order, with no OCR run."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pymupdf
import pytest
import webdataset as wds

from pipelines.executors import run_stages
from pipelines.pdf_ocr import build_pdf_ocr
from schemas.config import load_config
from schemas.config_pdf import PdfOcrConfig
from schemas.records import step_stats
from schemas.shard_reader import read_shard
from synth.demo.pdf_truth import born_digital, scanned

pytestmark = pytest.mark.timeout(300)


def published_json(pdf: bytes, lines_per_page: list[list[str]]) -> bytes:
    """The json of a published sample: the given lines per page (as the dataset's OCR read them)
    and the page's words with boxes from pymupdf, normalised [x, y, w, h]."""
    pages = []
    with pymupdf.open(stream=pdf, filetype="pdf") as doc:
        for page, lines in zip(doc, lines_per_page, strict=True):
            w, h = page.rect.width, page.rect.height
            words = page.get_text("words")
            boxes = [[x0 / w, y0 / h, (x1 - x0) / w, (y1 - y0) / h] for x0, y0, x1, y1, *_ in words]
            pages.append({
                "images_bbox": [], "images_bbox_no_text_overlap": [],
                "lines": {"text": lines, "bbox": [[0.1, 0.1 + k / 100, 0.8, 0.01] for k in range(len(lines))],
                          "score": [1.0] * len(lines), "word_slice": [[k, k + 1] for k in range(len(lines))]},
                "words": {"text": [word[4] for word in words], "bbox": boxes, "score": [1.0] * len(words),
                          "line_pos": [[0, k] for k in range(len(words))]},
            })  # fmt: skip
    return json.dumps({"pages": pages}).encode()


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    folder = tmp_path_factory.mktemp("published")
    digital, digital_truth = born_digital("two_column", 3)
    scan, scan_truth = scanned("scan300", "one_column", 4)  # no text layer: only the json has text
    # what the dataset's OCR read of the scan: its lines, one misread, in the published order
    scan_lines = [
        line.replace("the", "tbe", 1) if k == 5 else line for k, line in enumerate(scan_truth.lines)
    ]
    with wds.TarWriter(str(folder / "pdfa-eng-train-0000.tar")) as sink:
        sink.write(
            {"__key__": "0000001", "pdf": digital, "json": published_json(digital, [digital_truth.lines])}
        )
        sink.write({"__key__": "0000002", "pdf": scan, "json": published_json(scan, [scan_lines])})
        sink.write({"__key__": "0000003", "pdf": digital, "json": b"{not json"})  # read as a plain PDF
        sink.write({"__key__": "0000004", "json": published_json(digital, [["a"]])})  # no pdf
    tif = io.BytesIO()
    with pymupdf.open(stream=scan, filetype="pdf") as doc:
        doc[0].get_pixmap(dpi=50).pil_save(tif, format="TIFF")
    with wds.TarWriter(str(folder / "idl-train-00000.tar")) as sink:
        sink.write({"__key__": "fnbd0012", "pdf": scan, "json": published_json(scan, [scan_lines]),
                    "tif": tif.getvalue(), "ocr": b'{"pages": []}'})  # fmt: skip
    return folder, {"digital": digital_truth.lines, "scan": scan_lines}


def run(tmp_path, folder, *settings):
    cfg = load_config(
        PdfOcrConfig,
        None,
        [f"pdfs=[{folder}]", f"output_dir={tmp_path}", "dataset=pub", "executor.kind=local",
         "executor.tasks=2", "page_filters.languages=[]", *settings],
    )  # fmt: skip
    run_stages(build_pdf_ocr(cfg), cfg.executor, cfg.dataset_dir, progress=False)
    found = {}
    for shard in sorted(tmp_path.glob("**/*.tar")):
        found |= {s.key: s.json() for s in read_shard(str(shard))}
    return cfg.dataset_dir, found


def test_published_transcriptions_are_taken_without_ocr(tmp_path, published):
    folder, lines = published
    # OCR off: a page routed to OCR would be dropped, so every kept scan page came from its json
    dataset_dir, found = run(tmp_path, folder, "ocr.enabled=false")
    assert sorted(found) == [
        "idl-train-00000-fnbd0012-p00001", "pdfa-eng-train-0000-0000001-p00001",
        "pdfa-eng-train-0000-0000002-p00001", "pdfa-eng-train-0000-0000003-p00001",
    ]  # fmt: skip
    digital = found["pdfa-eng-train-0000-0000001-p00001"]
    assert digital["texts"][1] == "\n".join(lines["digital"])
    assert digital["meta"]["text_source"] == "published" and digital["meta"]["router"]["route"] == "published"
    for key in ("pdfa-eng-train-0000-0000002-p00001", "idl-train-00000-fnbd0012-p00001"):
        scan = found[key]
        assert scan["texts"][1] == "\n".join(lines["scan"]) and "tbe" in scan["texts"][1]
        assert scan["meta"]["text_source"] == "published"
        assert scan["source"].endswith(("#0000002#page=1", "#fnbd0012#page=1"))
    words = digital["meta"]["words"]
    assert words and all(0 <= v <= 1000 for w in words for v in w[1:])
    assert all(w[1] <= w[3] and w[2] <= w[4] for w in words)
    # the sample whose json is broken was read from its own text layer, and counted
    plain = found["pdfa-eng-train-0000-0000003-p00001"]
    assert plain["meta"]["text_source"] == "text_layer"
    stats = json.loads((Path(dataset_dir) / "_logs/pages/stats.json").read_text())
    reader = step_stats(stats, "PDF reader")
    assert reader["published_json_invalid"] == 1 and reader["published_no_pdf"] == 1
    assert reader["published_samples"] == 4
