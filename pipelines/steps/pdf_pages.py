"""PDF pages -> ``ocr`` documents: a rendered image and its transcription per page.

``PdfPages`` expands each PDF document (``pipelines.steps.pdf_reader``) into one document per
page, in page order: the page rendered with PyMuPDF at ``render.dpi``, scaled down so its longer
side fits ``render.max_side`` (aspect kept), encoded as ``shards.image_format``; the
transcription read from the text layer in reading order; word boxes in ``meta.words``. A page
without a usable text layer is marked ``needs_ocr``; ``PageOcr`` then runs Tesseract on the
rendered image, or drops the page with the reason it could not (``ocr_disabled``,
``ocr_unavailable``, ``ocr_timeout``, ``ocr_failed``, ``ocr_no_text``).

Reading order (``reading_order``) is a recursive XY-cut over the text blocks PyMuPDF finds: the
blocks are split at the widest empty horizontal or vertical band, top before bottom, and left
before right, or right before left on pages whose letters are mostly right-to-left (Arabic,
Hebrew); words of a right-to-left line are read from right to left. Multi-column pages read
column by column; a table reads column by column too (a limit of XY-cut).

A page that fails is dropped with a reason and the PDF goes on: ``page_error`` (PyMuPDF raised),
``page_timeout`` (``render.page_timeout_s`` exceeded: interrupted when the task runs in a main
thread, else measured after the fact), ``page_too_large`` (a side over
``render.max_page_side_pt``), ``page_too_small`` (rendered shorter side under ``render.min_side``).
Counts are ``dropped_<reason>`` in the step's stats; dropped pages go to the exclusion writer.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import unicodedata
from collections.abc import Iterator
from functools import cache
from typing import Any

import numpy as np
import pymupdf
from datatrove.data import Document, DocumentsPipeline, Media, MediaType
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.utils.logging import logger
from PIL import Image

from schemas.config import OcrConfig, PdfRenderConfig

BOX_SCALE = 1000  # word boxes are integers in 0..1000 of the image's width and height
MIN_GAP_PT = 1.0  # narrower empty bands do not separate blocks
INK_STRIDE = 4  # the blank test looks at every 4th pixel in each direction
INK_DELTA = 48  # grey levels away from the page background that count as ink
# pymupdf's word extraction, ligatures expanded (no TEXT_PRESERVE_LIGATURES), clipped to the page
TEXT_FLAGS = pymupdf.TEXT_PRESERVE_WHITESPACE | pymupdf.TEXT_MEDIABOX_CLIP


class PageTimeout(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: float):
    """Raise ``PageTimeout`` after ``seconds`` (SIGALRM: only in a main thread, and only once a
    running C call returns); elsewhere a no-op, and callers compare the elapsed time."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def expire(signum, frame):
        raise PageTimeout()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# ---- transcription from the text layer ----


def _is_rtl(char: str) -> bool:
    return unicodedata.bidirectional(char) in ("R", "AL")


def _is_ltr(char: str) -> bool:
    return unicodedata.bidirectional(char) == "L"


@cache
def _rtl_chars() -> re.Pattern:
    """Every right-to-left character (bidi class R or AL) as one regex character class, built once
    per process: searching with it runs in C, unlike a per-character ``unicodedata`` lookup.
    Right-to-left scripts all lie in planes 0 and 1 (Hebrew, Arabic ... Adlam)."""
    points = [n for n in range(0x80, 0x20000) if _is_rtl(chr(n))]
    ranges, start = [], points[0]
    for previous, point in zip(points, points[1:] + [None], strict=True):
        if point != previous + 1:
            ranges.append(f"{re.escape(chr(start))}-{re.escape(chr(previous))}")
            start = point
    return re.compile(f"[{''.join(ranges)}]")


# U+FFFD and the categories Cc (controls), Cs (surrogates), Co (private use), as characters
GARBAGE = re.compile(
    "[\x00-\x1f\x7f-\x9f\ud800-\udfff\ue000-\uf8ff\ufffd\U000f0000-\U000ffffd\U00100000-\U0010fffd]"
)


def has_rtl(text: str) -> bool:
    """Whether ``text`` holds any right-to-left letter."""
    return not text.isascii() and _rtl_chars().search(text) is not None


def mostly_rtl(text: str) -> bool:
    """More right-to-left letters than left-to-right ones."""
    if not has_rtl(text):
        return False
    rtl = len(_rtl_chars().findall(text))
    return rtl > sum(map(_is_ltr, text))


def garbage_share(text: str) -> float:
    """Share of characters that carry no text: U+FFFD, private use, controls (not whitespace)."""
    chars = "".join(text.split())
    if not chars:
        return 0.0
    return len(GARBAGE.findall(chars)) / len(chars)


def _widest_gap(spans: list[tuple[float, float]]) -> tuple[float, float]:
    """(width, middle) of the widest empty band between the intervals ``spans``; width 0 if none."""
    spans = sorted(spans)
    best, middle, reach = 0.0, 0.0, spans[0][1]
    for start, end in spans[1:]:
        if start - reach > best:
            best, middle = start - reach, (start + reach) / 2
        reach = max(reach, end)
    return best, middle


def reading_order(boxes: list[tuple[float, float, float, float]], rtl: bool = False) -> list[int]:
    """Indices of ``boxes`` (x0, y0, x1, y1) in reading order, by recursive XY-cut."""

    def cut(items: list[int]) -> list[int]:
        if len(items) < 2:
            return items
        gap_y, at_y = _widest_gap([(boxes[i][1], boxes[i][3]) for i in items])
        gap_x, at_x = _widest_gap([(boxes[i][0], boxes[i][2]) for i in items])
        if max(gap_x, gap_y) < MIN_GAP_PT:
            return sorted(items, key=lambda i: (boxes[i][1], -boxes[i][2] if rtl else boxes[i][0]))
        if gap_y >= gap_x:
            first = [i for i in items if boxes[i][3] <= at_y]
        else:
            first = [i for i in items if (boxes[i][0] >= at_x if rtl else boxes[i][2] <= at_x)]
        chosen = set(first)
        return cut(first) + cut([i for i in items if i not in chosen])

    return cut(list(range(len(boxes))))


def text_layer(
    page: pymupdf.Page, textpage: pymupdf.TextPage | None = None
) -> tuple[str, list[tuple[str, tuple[float, ...]]], float]:
    """The page's text in reading order (lines joined by newlines, blocks by blank lines), its
    words with their boxes ``(x0, y0, x1, y1)`` (unrotated page coordinates) in the same order,
    and the share of characters that were garbage (``garbage_share``; U+FFFD, glyphs without
    Unicode, is removed). ``textpage``: the page's text already extracted with ``TEXT_FLAGS``
    (from its display list, see ``PdfPages._fill``), else it is extracted here."""
    blocks: dict[int, dict[int, list[tuple]]] = {}
    raw = textpage.extractWORDS() if textpage is not None else page.get_text("words", flags=TEXT_FLAGS)
    page_text = "".join(word[4] for word in raw)
    garbage = garbage_share(page_text)
    clean = "\ufffd" in page_text
    for word in raw:
        text = word[4].replace("\ufffd", "").strip() if clean else word[4].strip()
        if text:
            blocks.setdefault(word[5], {}).setdefault(word[6], []).append((*word[:4], text, *word[5:]))
    if not blocks:
        return "", [], garbage
    keys = sorted(blocks)
    rtl_page = has_rtl(page_text)  # else no line is right-to-left either
    rtl = rtl_page and mostly_rtl(
        "".join(w[4] for lines in blocks.values() for line in lines.values() for w in line)
    )
    boxes = []
    for key in keys:
        words = [w for line in blocks[key].values() for w in line]
        x0s, y0s, x1s, y1s = zip(*(w[:4] for w in words), strict=True)
        boxes.append((min(x0s), min(y0s), max(x1s), max(y1s)))
    paragraphs, ordered = [], []
    for index in reading_order(boxes, rtl):
        lines = []
        for _, line in sorted(blocks[keys[index]].items()):
            words = sorted(line, key=lambda w: w[7])
            if rtl_page and mostly_rtl("".join(w[4] for w in words)):
                words = sorted(words, key=lambda w: -w[2])
            lines.append(" ".join(w[4] for w in words))
            ordered += [(w[4], w[:4]) for w in words]
        paragraphs.append("\n".join(lines))
    return "\n\n".join(paragraphs), ordered, garbage


# ---- rendering ----


def zoom_for(page: pymupdf.Page, dpi: int, max_side: int) -> float:
    """Scale from points to pixels: ``dpi / 72``, lowered so the longer side fits ``max_side``."""
    longest = max(page.rect.width, page.rect.height)
    return min(dpi / 72, max_side / longest) if longest > 0 else dpi / 72


def ink_share(pix: pymupdf.Pixmap) -> float:
    """Share of (sampled) pixels that differ from the page background (its median grey)."""
    samples = np.frombuffer(pix.samples_mv, dtype=np.uint8).reshape(pix.h, pix.stride)
    red = samples[::INK_STRIDE, : pix.w * pix.n : pix.n * INK_STRIDE]  # one channel suffices
    n = red.size
    if n == 0:
        return 0.0
    # from the histogram of grey levels: the median (np.median's, truncated) and the pixels beyond
    # INK_DELTA of it, without sorting or widening the pixels
    below = np.cumsum(np.bincount(red.ravel(), minlength=256))  # [256] pixels <= level

    def nth(k: int) -> int:  # the k-th smallest level, from 0
        return int(np.searchsorted(below, k + 1))

    median = nth(n // 2) if n % 2 else (nth(n // 2 - 1) + nth(n // 2)) // 2
    low, high = median - INK_DELTA - 1, median + INK_DELTA
    ink = (int(below[low]) if low >= 0 else 0) + (n - int(below[high]) if high <= 255 else 0)
    return ink / n


def encode(pix: pymupdf.Pixmap, image_format: str, quality: int) -> bytes:
    """The RGB pixmap as ``jpg`` / ``webp`` (Pillow: its libjpeg-turbo is ~7x faster than MuPDF's
    JPEG writer) or ``png`` (MuPDF's writer, the faster one here)."""
    if image_format == "png":
        return pix.tobytes("png")
    image = Image.frombuffer("RGB", (pix.w, pix.h), pix.samples_mv, "raw", "RGB", pix.stride, 1)
    out = io.BytesIO()
    image.save(out, format="JPEG" if image_format == "jpg" else "WEBP", quality=quality)
    return out.getvalue()


def word_boxes(
    words: list[tuple[str, tuple[float, ...]]], matrix: pymupdf.Matrix, width: int, height: int
) -> list:
    """``[word, x0, y0, x1, y1]`` with the box in 0..BOX_SCALE of the rendered image: each box
    ``(x0, y0, x1, y1)`` in page points is mapped by ``matrix`` (the bounding box of its mapped
    corners, as ``Rect * Matrix``), all words at once."""
    if not words:
        return []
    a, b, c, d, e, f = matrix
    rects = np.array([box for _, box in words], dtype=np.float64)  # [N, 4]
    xs, ys = rects[:, [0, 2, 0, 2]], rects[:, [1, 1, 3, 3]]  # [N, 4] corners
    tx, ty = a * xs + c * ys + e, b * xs + d * ys + f
    mapped = np.stack([tx.min(1), ty.min(1), tx.max(1), ty.max(1)], axis=1)  # [N, 4]
    scaled = np.rint(mapped * BOX_SCALE / np.array([width, height, width, height], dtype=np.float64))
    scaled = np.clip(scaled, 0, BOX_SCALE).astype(np.int64).tolist()
    return [[word, *box] for (word, _), box in zip(words, scaled, strict=True)]


class PdfPages(PipelineStep):
    """One document per page of each PDF document, in page order (see the module docstring)."""

    name = "🖨 PDF pages"
    type = "🔨 - EXTRACTOR"

    def __init__(
        self,
        cfg: PdfRenderConfig | None = None,
        image_format: str = "jpg",
        jpeg_quality: int = 90,
        exclusion_writer=None,
    ):
        super().__init__()
        self.cfg = cfg or PdfRenderConfig()
        self.image_format = image_format
        self.jpeg_quality = jpeg_quality
        self.exclusion_writer = exclusion_writer

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        pymupdf.TOOLS.mupdf_display_errors(False)  # broken files are counted, not printed
        with self.exclusion_writer or contextlib.nullcontext():
            for doc in data or []:
                if doc.metadata.get("pdf_problem") or not doc.media:
                    continue
                self.stat_update("pdfs")
                for page_doc, reason in self.pages(doc):
                    if reason is None:
                        self.stat_update("pages")
                        self.update_doc_stats(page_doc)
                        yield page_doc
                        continue
                    self.stat_update("dropped", f"dropped_{reason}")
                    page_doc.metadata["filter_reason"] = reason
                    if self.exclusion_writer:
                        self.exclusion_writer.write(page_doc, rank)

    def pages(self, doc: Document) -> Iterator[tuple[Document, str | None]]:
        """(page document, drop reason or None) for every page of one PDF document."""
        try:
            pdf = pymupdf.open(stream=doc.media[0].media_bytes, filetype="pdf")
        except Exception as error:
            logger.warning(f"{doc.metadata.get('source')}: cannot open ({error}) (reason=page_error)")
            yield self._page_doc(doc, 0, 1), "page_error"
            return
        with pdf:
            for number in range(pdf.page_count):
                page_doc = self._page_doc(doc, number, pdf.page_count)
                start = time.perf_counter()
                try:
                    with time_limit(self.cfg.page_timeout_s), self.track_time():
                        reason = self._fill(pdf, number, page_doc)
                except PageTimeout:
                    reason = "page_timeout"
                except Exception as error:  # MuPDF raises on broken content streams, fonts, images
                    where = page_doc.metadata["source"]
                    logger.warning(f"{where}: {type(error).__name__}: {error} (reason=page_error)")
                    reason = "page_error"
                if reason is None and time.perf_counter() - start > self.cfg.page_timeout_s:
                    reason = "page_timeout"
                yield page_doc, reason

    def _page_doc(self, doc: Document, number: int, pages: int) -> Document:
        pdf_id, source = doc.metadata["pdf_id"], doc.metadata["source"]
        meta = {"pdf": pdf_id, "page": number + 1, "pages": pages}
        metadata = {
            "source": f"{source}#page={number + 1}",
            "pdf_id": pdf_id,
            "page": number + 1,
            "meta": meta,
        }
        for key in ("url", "warc_file", "warc_offset"):
            if key in doc.metadata:
                meta[key] = doc.metadata[key]
        return Document(text="", id=f"{pdf_id}-p{number + 1:05d}", metadata=metadata)

    def _fill(self, pdf: pymupdf.Document, number: int, out: Document) -> str | None:
        """Render and transcribe page ``number`` into ``out``; returns a drop reason or None."""
        cfg = self.cfg
        page = pdf.load_page(number)
        if max(page.rect.width, page.rect.height) > cfg.max_page_side_pt:
            return "page_too_large"
        zoom = zoom_for(page, cfg.dpi, cfg.max_side)
        matrix = pymupdf.Matrix(zoom, zoom)
        # the page is interpreted once, into a display list that gives the image and the text
        display = page.get_displaylist(annots=True)
        pix = display.get_pixmap(matrix=matrix, colorspace=pymupdf.csRGB, alpha=False)
        meta = out.metadata["meta"]
        meta |= {"width": pix.w, "height": pix.h, "dpi": round(zoom * 72, 2), "rotation": page.rotation}
        if min(pix.w, pix.h) < cfg.min_side:
            return "page_too_small"
        out.metadata["ink_share"] = meta["ink_share"] = round(ink_share(pix), 6)
        image = encode(pix, self.image_format, self.jpeg_quality)
        out.media = [Media(id=out.id, type=MediaType.IMAGE, url=None, media_bytes=image)]
        # text from the display list is in rotated coordinates: rotated pages read their own
        textpage = pymupdf.TextPage(display.get_textpage(TEXT_FLAGS)) if page.rotation == 0 else None
        text, words, garbage = text_layer(page, textpage)
        usable = len("".join(text.split())) >= cfg.min_text_chars and garbage <= cfg.max_garbage_share
        if not usable:
            out.metadata["needs_ocr"] = True
            meta["text_source"] = "none"
            return None
        out.text = text
        meta["text_source"] = "text_layer"
        if cfg.word_boxes:
            meta["words"] = word_boxes(words, page.rotation_matrix * matrix, pix.w, pix.h)
        return None


# ---- OCR ----


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
