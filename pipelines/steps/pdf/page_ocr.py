"""Tesseract OCR of the rendered pages that have no usable text layer.

``PdfPages`` (``pipelines.steps.pdf.pdf_pages``) marks such pages ``needs_ocr``; ``PageOcr`` runs
Tesseract on their rendered image (one thread, TSV output), keeps its words in Tesseract's
reading order with their boxes in 0..``BOX_SCALE`` of the image, as the text layer's words are,
or drops the page with the reason it could not: ``ocr_disabled``, ``ocr_unavailable``,
``ocr_timeout``, ``ocr_failed``, ``ocr_no_text``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.utils.logging import logger

from pipelines.steps.pdf.pdf_text import BOX_SCALE
from schemas.config_pdf import OcrConfig


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


def ocr_transcription(rows: list[dict[str, Any]], width: int, height: int) -> tuple[str, list, float]:
    """(text, word boxes in 0..BOX_SCALE, mean confidence) from tesseract's word rows, in its
    reading order: words of a line joined by spaces, lines by newlines, paragraphs by blank lines."""
    paragraphs: dict[tuple, dict[tuple, list[str]]] = {}
    boxes, confidences = [], []
    for r in rows:
        paragraph = (int(r["block_num"]), int(r["par_num"]))
        paragraphs.setdefault(paragraph, {}).setdefault((*paragraph, int(r["line_num"])), []).append(
            r["text"]
        )
        left, top, w, h = (int(r[k]) for k in ("left", "top", "width", "height"))
        boxes.append([
            r["text"], round(left * BOX_SCALE / width), round(top * BOX_SCALE / height),
            round((left + w) * BOX_SCALE / width), round((top + h) * BOX_SCALE / height),
        ])  # fmt: skip
        confidences.append(float(r.get("conf") or 0))
    text = "\n\n".join(
        "\n".join(" ".join(words) for words in lines.values()) for lines in paragraphs.values()
    )
    return text, boxes, (sum(confidences) / len(confidences) if confidences else 0.0)


class PageOcr(BaseFilter):
    """Runs Tesseract on the rendered image of pages marked ``needs_ocr``; other pages pass.

    Drops (with reason) the pages it cannot transcribe: ``ocr_disabled`` (``ocr.enabled`` off),
    ``ocr_unavailable`` (the binary is not there), ``ocr_timeout``, ``ocr_failed``, ``ocr_no_text``.
    """

    name = "🔎 Tesseract OCR"

    def __init__(
        self,
        cfg: OcrConfig | None = None,
        timeout_s: float = 30.0,
        word_boxes: bool = True,
        exclusion_writer=None,
    ):
        super().__init__(exclusion_writer)
        self.cfg = cfg or OcrConfig()
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
        if not doc.metadata.pop("needs_ocr", False):
            return True
        if not self.cfg.enabled:
            return False, "ocr_disabled"
        binary = self.binary()
        if binary is None:
            return False, "ocr_unavailable"
        meta = doc.metadata["meta"]
        try:
            with self.track_time():
                rows = tesseract_tsv(
                    doc.media[0].media_bytes,
                    binary,
                    self.cfg.languages,
                    self.cfg.psm,
                    meta["dpi"],
                    self.timeout_s,
                )
        except subprocess.TimeoutExpired:
            return False, "ocr_timeout"
        except (RuntimeError, OSError) as error:
            logger.warning(f"{doc.metadata.get('source')}: tesseract failed: {error} (reason=ocr_failed)")
            return False, "ocr_failed"
        text, boxes, confidence = ocr_transcription(rows, meta["width"], meta["height"])
        if not text.strip():
            return False, "ocr_no_text"
        doc.text = text
        meta |= {"text_source": "ocr", "ocr_confidence": round(confidence, 2)}
        if self.word_boxes:
            meta["words"] = boxes
        self.stat_update("ocr_pages")
        return True
