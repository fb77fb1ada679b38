"""Tesseract OCR of the pages the router sends to it, and the check of text layers on scans.

``PdfPages`` (``pipelines.steps.pdf.pdf_pages``) marks such pages ``needs_ocr`` and gives them their
own greyscale render at ``ocr.dpi`` (``ocr_image``). Pages routed ``check`` (a usable text layer
on a page covered by images: a scan under an OCR layer) also carry a few of the layer's lines with
their boxes (``check_lines``): ``PageOcr`` OCRs those lines and keeps the layer when the two agree
(``router.min_agreement``, character ratio), else OCRs the page (``meta.router``: route ``ocr``,
reason ``layer_disagrees``). OCR reads the render straightened and cleaned
(``pipelines.steps.pdf.ocr_image``), runs Tesseract (one thread, TSV output) and keeps its words
in Tesseract's reading order with their boxes in 0..``BOX_SCALE`` of the image, as the text
layer's words are. A page it cannot transcribe is dropped with the reason: ``ocr_disabled``,
``ocr_unavailable``, ``ocr_timeout``, ``ocr_failed``, ``ocr_no_text``; a page to check keeps its
layer unchecked then (``meta.router.checked = false``).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from typing import Any

import numpy as np
from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.utils.logging import logger
from PIL import Image
from rapidfuzz import fuzz

from pipelines.steps.pdf.ocr_image import pgm, prepare, unrotate_boxes
from pipelines.steps.pdf.pdf_text import BOX_SCALE, reading_order
from schemas.config_pdf import OcrConfig, RouterConfig

CHECK_MARGIN = 0.35  # the crop around a checked line grows by this share of its height on each side
CHECK_GAP = 24  # px of white between the stacked crops


def tesseract_tsv(
    image: bytes, binary: str, languages: str, psm: int, dpi: float, timeout: float
) -> list[dict[str, Any]]:
    """Tesseract's word rows (``level == 5``, non-empty) for one image, as dicts."""
    command = [binary, "stdin", "stdout", "-l", languages, "--psm", str(psm), "--dpi", str(round(dpi)), "tsv"]
    env = dict(os.environ, OMP_THREAD_LIMIT="1")  # one thread: deterministic, and tasks own the cores
    result = subprocess.run(command, input=image, capture_output=True, timeout=timeout, env=env, check=False)
    if result.returncode != 0:
        raise RuntimeError(result.stderr.decode("utf-8", "replace").strip()[-300:])
    lines = result.stdout.decode("utf-8", "replace").splitlines()
    header = lines[0].split("\t") if lines else []
    rows = [dict(zip(header, line.split("\t"), strict=False)) for line in lines[1:]]
    return [r for r in rows if r.get("level") == "5" and r.get("text", "").strip()]


def ocr_transcription(
    rows: list[dict[str, Any]], width: int, height: int, angle: float = 0.0
) -> tuple[str, list, float]:
    """(text, word boxes in 0..BOX_SCALE, mean confidence) from tesseract's word rows, in its
    reading order: words of a line joined by spaces, lines by newlines, paragraphs by blank lines.
    ``angle``: the image OCR read was turned by this many degrees (``ocr_image.prepare``); the
    boxes are mapped back onto the unturned one."""
    paragraphs: dict[tuple, dict[tuple, list[str]]] = {}
    extents: dict[tuple, list[float]] = {}  # paragraph -> [x0, y0, x1, y1]
    confidences = []
    for r in rows:
        paragraph = (int(r["block_num"]), int(r["par_num"]))
        paragraphs.setdefault(paragraph, {}).setdefault((*paragraph, int(r["line_num"])), []).append(
            r["text"]
        )
        left, top = int(r["left"]), int(r["top"])
        right, bottom = left + int(r["width"]), top + int(r["height"])
        box = extents.setdefault(paragraph, [left, top, right, bottom])
        box[:] = min(box[0], left), min(box[1], top), max(box[2], right), max(box[3], bottom)
        confidences.append(float(r.get("conf") or 0))
    # Tesseract's own block order reads a running header's right part after the column under it
    # (bench_pdf_quality: header leakage 0.42 on two-column scans); its paragraphs are put in order
    # by the XY-cut that orders text-layer blocks
    keys = list(paragraphs)
    order = reading_order([tuple(extents[k]) for k in keys], rtl=False)
    text = "\n\n".join("\n".join(" ".join(words) for words in paragraphs[keys[i]].values()) for i in order)
    boxes = []
    if rows:
        px = np.array(
            [[int(r[k]) for k in ("left", "top", "width", "height")] for r in rows], dtype=np.float64
        )
        px[:, 2:] += px[:, :2]  # x0, y0, x1, y1
        px = unrotate_boxes(px, angle, width, height)
        scaled = np.clip(np.rint(px * BOX_SCALE / np.array([width, height, width, height])), 0, BOX_SCALE)
        boxes = [[r["text"], *map(int, box)] for r, box in zip(rows, scaled.tolist(), strict=True)]
    return text, boxes, (sum(confidences) / len(confidences) if confidences else 0.0)


def stack_crops(image: Image.Image, boxes: list[tuple]) -> Image.Image:
    """The regions ``boxes`` (x0, y0, x1, y1 px) of ``image``, each grown by ``CHECK_MARGIN`` of its
    height, stacked top to bottom on white with ``CHECK_GAP`` between them."""
    crops = []
    for x0, y0, x1, y1 in boxes:
        pad = (y1 - y0) * CHECK_MARGIN
        box = (max(0, int(x0 - pad)), max(0, int(y0 - pad)), min(image.width, int(x1 + pad) + 1),
               min(image.height, int(y1 + pad) + 1))  # fmt: skip
        if box[2] > box[0] and box[3] > box[1]:
            crops.append(image.crop(box))
    width = max((c.width for c in crops), default=1) + 2 * CHECK_GAP
    height = sum(c.height + CHECK_GAP for c in crops) + CHECK_GAP
    sheet = Image.new("L", (width, height), 255)
    y = CHECK_GAP
    for crop in crops:
        sheet.paste(crop, (CHECK_GAP, y))
        y += crop.height + CHECK_GAP
    return sheet


class PageOcr(BaseFilter):
    """OCRs the pages marked ``needs_ocr`` and checks the text layers routed ``check``; other
    pages pass (see the module docstring)."""

    name = "🔎 Tesseract OCR"

    def __init__(
        self,
        cfg: OcrConfig | None = None,
        timeout_s: float = 30.0,
        word_boxes: bool = True,
        exclusion_writer=None,
        router: RouterConfig | None = None,
    ):
        super().__init__(exclusion_writer)
        self.cfg = cfg or OcrConfig()
        self.router = router or RouterConfig()
        self.timeout_s = timeout_s
        self.word_boxes = word_boxes
        self._binary: str | None | bool = False  # False: not looked up yet

    def binary(self) -> str | None:
        if self._binary is False:
            self._binary = shutil.which(self.cfg.tesseract)
            if self._binary is None and self.cfg.enabled:
                logger.warning(
                    f"tesseract binary {self.cfg.tesseract!r} not found: pages without a text layer are "
                    "dropped (reason=ocr_unavailable); install the Debian package tesseract-ocr"
                )
        return self._binary

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        metadata = doc.metadata
        if not metadata.pop("needs_ocr", False):
            return True
        image, dpi = metadata.pop("ocr_image", (None, None))
        check = metadata.pop("check_lines", None)
        meta = metadata["meta"]
        router = meta.setdefault("router", {"route": "ocr"})
        binary = self.binary() if self.cfg.enabled else None
        if binary is None:
            if check is not None:  # the layer stays, unchecked
                router |= {"route": "text_layer", "checked": False}
                return True
            return False, ("ocr_disabled" if not self.cfg.enabled else "ocr_unavailable")
        if image is None:  # a page from elsewhere: OCR its training render
            image, dpi = Image.open(io.BytesIO(doc.media[0].media_bytes)).convert("L"), meta["dpi"]
        try:
            with self.track_time():
                if check is not None and self._layer_agrees(image, dpi, binary, check, router):
                    router |= {"route": "text_layer", "checked": True}
                    self.stat_update("layer_agrees")
                    return True
                if check is not None:
                    router |= {"route": "ocr", "reason": "layer_disagrees", "checked": True}
                    self.stat_update("layer_disagrees")
                prepared, angle = prepare(image, self.cfg.deskew, self._denoise(router))
                rows = tesseract_tsv(
                    pgm(prepared), binary, self.cfg.languages, self.cfg.psm, dpi, self.timeout_s
                )
        except subprocess.TimeoutExpired:
            return False, "ocr_timeout"
        except (RuntimeError, OSError) as error:
            logger.warning(f"{metadata.get('source')}: tesseract failed: {error} (reason=ocr_failed)")
            return False, "ocr_failed"
        text, boxes, confidence = ocr_transcription(rows, prepared.width, prepared.height, angle)
        if not text.strip():
            return False, "ocr_no_text"
        doc.text = text
        meta |= {"text_source": "ocr", "ocr_confidence": round(confidence, 2)}
        if angle:
            meta["ocr_deskew_degrees"] = round(angle, 2)
        if self.word_boxes:
            meta["words"] = boxes
        self.stat_update("ocr_pages")
        return True

    def _denoise(self, router: dict) -> bool:
        """Whether to median-filter this page's OCR render: a scan under ``ocr.denoise_below_dpi``."""
        dpi = router.get("scan_dpi")
        return dpi is not None and dpi < self.cfg.denoise_below_dpi

    def _layer_agrees(self, image: Image.Image, dpi: float, binary: str, check: list, router: dict) -> bool:
        """OCR the checked lines (stacked into one image, one Tesseract call, ``--psm 6``: a block
        of text) and compare with the layer's text of those lines; the ratio goes to
        ``router["agreement"]``."""
        sheet = stack_crops(image, [box for _, box in check])
        if self._denoise(router):
            sheet, _ = prepare(sheet, deskew=False, denoise=True)
        rows = tesseract_tsv(pgm(sheet), binary, self.cfg.languages, 6, dpi, self.timeout_s)
        seen = " ".join(r["text"] for r in rows)
        expected = " ".join(text for text, _ in check)
        agreement = fuzz.ratio(" ".join(expected.split()), " ".join(seen.split())) / 100
        router["agreement"] = round(agreement, 3)
        return agreement >= self.router.min_agreement
