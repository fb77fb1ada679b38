"""PDF pages -> ``ocr`` documents: a rendered image and its transcription per page.

``PdfPages`` expands each PDF document (``pipelines.steps.pdf.pdf_reader``) into one document per
page, in page order: the page rendered with PyMuPDF at ``render.dpi``, scaled down so its longer
side fits ``render.max_side`` (aspect kept), encoded as ``shards.image_format``; its share of ink
(``ink_share``, for ``BlankPageFilter``); the transcription read from the text layer in reading
order, with word boxes in ``meta.words`` (``pipelines.steps.pdf.pdf_text``), or a published
dataset's transcription when the PDF came with one. A page is interpreted once, into a display
list that gives both the image and the text.

A router decides per page (``route``, ``router.*`` in config, the decision and its features in
``meta.router``): ``text_layer``; ``ocr`` when the layer is not usable; ``check`` when images cover
the page (a scan under a text layer). Pages routed ``ocr`` or ``check`` are marked ``needs_ocr``
and carry their own greyscale render at ``ocr.dpi``; ``PageOcr``
(``pipelines.steps.pdf.page_ocr``) OCRs them, or checks the layer against OCR of a few lines.

With ``render.watchdog`` (the default) every page is rendered and transcribed in a child process
(``pipelines.steps.pdf.page_worker``) that is killed when the page passes
``render.page_timeout_s``: MuPDF's C calls cannot be interrupted from Python. Without it, pages
are rendered here, in batches of ``PAGE_BATCH`` across PDFs and then transcribed (see
``pages_here``), and a page is interrupted by SIGALRM only between C calls (in a main thread;
elsewhere the time is measured after the fact).

A page that fails is dropped with a reason and the PDF goes on: ``page_error`` (PyMuPDF raised,
or the page worker died), ``page_timeout`` (``render.page_timeout_s`` exceeded; the seconds are
the exclusion's value), ``page_too_large`` (a side over ``render.max_page_side_pt``),
``page_too_small`` (rendered shorter side under ``render.min_side``). Counts are
``dropped_<reason>`` in the step's stats; dropped pages go to the exclusion writer.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterable, Iterator
from functools import partial

import pymupdf
from datatrove.data import Document, DocumentsPipeline, Media, MediaType
from datatrove.pipeline.base import PipelineStep
from datatrove.utils.logging import logger
from PIL import Image

from pipelines.steps.pdf.page_image import encode, ink_share, zoom_for
from pipelines.steps.pdf.page_worker import PageWorker
from pipelines.steps.pdf.pdf_reader import OPEN_PDF, PUBLISHED
from pipelines.steps.pdf.pdf_text import (
    BOX_SCALE,
    TEXT_FLAGS,
    image_cover,
    line_boxes,
    scan_dpi,
    text_layer,
    word_boxes,
)
from schemas.config_pdf import OcrConfig, PdfRenderConfig, RouterConfig

PAGE_BATCH = 16  # pages rendered one after another before they are transcribed (see PdfPages.pages)


class PageTimeout(Exception):
    pass


@contextlib.contextmanager
def page_alarm():
    """While active, SIGALRM raises ``PageTimeout``: ``signal.setitimer`` then interrupts a page
    once a running C call returns. Yields whether it is active: only in a main thread (where
    Python runs signal handlers) on systems with ``setitimer``; elsewhere callers compare the
    elapsed time. The handler is installed once for many pages (installed and restored twice a
    page, it showed as 0.1 ms a page in a profile); only the timer is set per page."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield False
        return

    def expire(signum, frame):
        raise PageTimeout()

    previous = signal.signal(signal.SIGALRM, expire)
    try:
        yield True
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


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
        router: RouterConfig | None = None,
        ocr: OcrConfig | None = None,
        watchdog: bool | None = None,
    ):
        super().__init__()
        self.cfg = cfg or PdfRenderConfig()
        self.router = router or RouterConfig()
        self.ocr = ocr or OcrConfig()
        self.watchdog = self.cfg.watchdog if watchdog is None else watchdog
        self.image_format = image_format
        self.jpeg_quality = jpeg_quality
        self.exclusion_writer = exclusion_writer
        self._alarm = False  # whether SIGALRM interrupts slow pages (see page_alarm), set per run

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        pymupdf.TOOLS.mupdf_display_errors(False)  # broken files are counted, not printed
        with self.exclusion_writer or contextlib.nullcontext():
            for page_doc, reason in self.pages(data or []):
                if reason is None:
                    self.stat_update("pages")
                    self.update_doc_stats(page_doc)
                    yield page_doc
                    continue
                self.stat_update("dropped", f"dropped_{reason}")
                page_doc.metadata["filter_reason"] = reason
                if self.exclusion_writer:
                    self.exclusion_writer.write(page_doc, rank)

    def pages(self, docs: Iterable[Document]) -> Iterator[tuple[Document, str | None]]:
        """(page document, drop reason or None) for every page of the PDF documents, in order:
        in a child process that a page past its time limit is killed with (``page_worker``), or,
        without ``watchdog``, in this process (``pages_here``)."""
        if not self.watchdog:
            yield from self.pages_here(docs)
            return
        make_step = partial(
            PdfPages,
            self.cfg,
            self.image_format,
            self.jpeg_quality,
            router=self.router,
            ocr=self.ocr,
            watchdog=False,
        )
        worker = PageWorker(make_step, self.cfg.page_timeout_s)
        try:
            for doc in docs:
                if doc.metadata.get("pdf_problem") or not doc.media:
                    continue
                self.stat_update("pdfs")
                opened = doc.media[0].metadata.pop(OPEN_PDF, None)  # the child opens its own
                if opened is not None:
                    opened.close()
                count = int(doc.metadata.get("pdf_pages") or 0)
                published = doc.metadata.get(PUBLISHED) or []
                for number in range(count):
                    known = published[number] if number < len(published) else None
                    worker.submit(
                        id(doc), doc.media[0].media_bytes, number, self._page_doc(doc, number, count), known
                    )
                    if len(worker.queue) > 1:  # one page ahead
                        yield self._answered(worker)
            while worker.queue:
                yield self._answered(worker)
        finally:
            worker.stop()

    def _answered(self, worker: PageWorker) -> tuple[Document, str | None]:
        with self.track_time():
            page_doc, reason, counters, warning, spent = worker.answer()
        for counter in counters:
            self.stat_update(counter)
        if warning:
            logger.warning(f"{page_doc.metadata['source']}: {warning} (reason={reason})")
        if reason is None and spent > self.cfg.page_timeout_s:
            reason = "page_timeout"
        if reason == "page_timeout":
            page_doc.metadata["filter_value"] = round(spent, 3)
        return page_doc, reason

    def pages_here(self, docs: Iterable[Document]) -> Iterator[tuple[Document, str | None]]:
        """(page document, drop reason or None) for every page of the PDF documents, in order.

        Pages go in batches of ``PAGE_BATCH``, across PDFs: first every page of a batch is
        rendered and encoded and its words extracted (``_render``: all MuPDF work), then page by
        page each is transcribed (``_transcribe``: Python) and goes downstream (filters, shard
        writer). Doing the MuPDF work for many pages in a row keeps its code and data in the CPU
        caches: the job ran 2-3% faster than rendering and transcribing page by page (two jobs side
        by side, one per core), with the same output. A PDF stays open until its last page has
        been transcribed."""
        batch: list[tuple[Document, str | None, float, tuple | None]] = []  # (page, reason, seconds, text)
        held: list[pymupdf.Document] = []  # the open PDFs whose pages are in the batch
        with page_alarm() as self._alarm:
            try:
                for doc in docs:
                    if doc.metadata.get("pdf_problem") or not doc.media:
                        continue
                    self.stat_update("pdfs")
                    pdf = doc.media[0].metadata.pop(OPEN_PDF, None)  # the reader's open document
                    try:
                        if pdf is None:
                            pdf = pymupdf.open(stream=doc.media[0].media_bytes, filetype="pdf")
                    except Exception as error:
                        logger.warning(
                            f"{doc.metadata.get('source')}: cannot open ({error}) (reason=page_error)"
                        )
                        batch.append((self._page_doc(doc, 0, 1), "page_error", 0.0, None))
                        continue
                    held.append(pdf)
                    count = pdf.page_count  # a call into MuPDF on every access
                    published = doc.metadata.get(PUBLISHED) or []
                    for number in range(count):
                        page_doc = self._page_doc(doc, number, count)
                        known = published[number] if number < len(published) else None
                        reason, spent, pending = self._timed(
                            page_doc, 0.0, self._render, pdf, number, page_doc, known
                        )
                        batch.append((page_doc, reason, spent, pending))
                        if len(batch) >= PAGE_BATCH:
                            yield from self._transcribe_all(batch)
                            batch = []
                            for done in held[:-1]:  # every page of these is out; the last may have more
                                done.close()
                            held = held[-1:]
                yield from self._transcribe_all(batch)
            finally:
                for pdf in held:
                    pdf.close()

    def _transcribe_all(self, batch: list) -> Iterator[tuple[Document, str | None]]:
        for page_doc, reason, spent, pending in batch:
            if reason is None and pending is not None:
                reason, _, _ = self._timed(page_doc, spent, self._transcribe, page_doc, pending)
            yield page_doc, reason

    def _timed(self, page_doc: Document, spent: float, work, *args) -> tuple[str | None, float, object]:
        """Run ``work(*args)``, which returns (drop reason or None, result), for one page, within
        what is left of its ``render.page_timeout_s`` after ``spent`` seconds. Returns (drop
        reason or None, seconds spent on the page so far, result or None)."""
        limit = self.cfg.page_timeout_s
        start = time.perf_counter()
        reason, result = None, None
        try:
            if self._alarm:
                signal.setitimer(signal.ITIMER_REAL, max(limit - spent, 1e-6))
            try:
                with self.track_time():
                    reason, result = work(*args)
            finally:  # an alarm that fires here raises PageTimeout, caught below
                if self._alarm:
                    signal.setitimer(signal.ITIMER_REAL, 0)
        except PageTimeout:
            reason = "page_timeout"
        except Exception as error:  # MuPDF raises on broken content streams, fonts, images
            where = page_doc.metadata["source"]
            logger.warning(f"{where}: {type(error).__name__}: {error} (reason=page_error)")
            reason = "page_error"
        spent += time.perf_counter() - start
        if reason is None and spent > limit:
            reason = "page_timeout"
        return reason, spent, result

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

    def _render(
        self, pdf: pymupdf.Document, number: int, out: Document, published: dict | None = None
    ) -> tuple[str | None, tuple | None]:
        """Render page ``number`` into ``out`` and extract its words: (drop reason or None, what
        ``_transcribe`` needs, or None when the page is dropped). ``published``: the page's
        transcription from a published dataset (``pdf_reader.published_pages``), taken as is."""
        cfg = self.cfg
        page = pdf.load_page(number)
        # PyMuPDF computes page properties anew on every access: read each once
        rect, rotation = page.rect, page.rotation
        if max(rect.width, rect.height) > cfg.max_page_side_pt:
            return "page_too_large", None
        zoom = zoom_for(rect, cfg.dpi, cfg.max_side)
        matrix = pymupdf.Matrix(zoom, zoom)
        # the page is interpreted once, into a display list that gives the image and the text
        display = page.get_displaylist(annots=True)
        pix = display.get_pixmap(matrix=matrix, colorspace=pymupdf.csRGB, alpha=False)
        width, height = pix.w, pix.h
        meta = out.metadata["meta"]
        meta |= {"width": width, "height": height, "dpi": round(zoom * 72, 2), "rotation": rotation}
        if min(width, height) < cfg.min_side:
            return "page_too_small", None
        out.metadata["ink_share"] = meta["ink_share"] = round(ink_share(pix), 6)
        image = encode(pix, self.image_format, self.jpeg_quality)
        out.media = [Media(id=out.id, type=MediaType.IMAGE, url=None, media_bytes=image)]
        if published is not None:
            return None, (published,)
        # the display list's text, with its image blocks (their boxes only: ~0.02 ms a page)
        textpage = pymupdf.TextPage(display.get_textpage(TEXT_FLAGS | pymupdf.TEXT_PRESERVE_IMAGES))
        if rotation == 0:  # words from the display list, in page coordinates
            return None, (page, display, textpage, textpage, pymupdf.Matrix(1, 1), matrix, width, height)
        # the display list's text is in rotated coordinates: a rotated page reads its own words
        turn = page.rotation_matrix
        return None, (page, display, None, textpage, turn, turn * matrix, width, height)

    def _transcribe(self, out: Document, pending: tuple) -> tuple[None, None]:
        """The text layer of a rendered page into ``out``, in reading order with its word boxes,
        and the router's decision (``route``). A page routed to OCR, or to a check of its layer,
        is marked ``needs_ocr`` and carries its own render for ``PageOcr``."""
        meta = out.metadata["meta"]
        if len(pending) == 1:  # a published transcription
            return self._published(out, pending[0])
        page, display, textpage, images, turn, to_image, width, height = pending
        text, words, garbage = text_layer(page, textpage)
        decision, features = self.route(text, garbage, images, page.rect)
        meta["router"] = {"route": decision, **features}
        self.stat_update(f"route_{decision}")
        if decision == "ocr":
            meta["text_source"] = "none"
        else:
            out.text = text
            meta["text_source"] = "text_layer"
            if self.cfg.word_boxes:
                meta["words"] = word_boxes(words, to_image, width, height)
        if decision == "text_layer":
            return None, None
        dpi = scan_dpi(images)
        if dpi is not None:
            meta["router"]["scan_dpi"] = round(dpi)
        zoom = zoom_for(page.rect, self.ocr.dpi, self.ocr.max_side)
        render = display.get_pixmap(matrix=pymupdf.Matrix(zoom, zoom), colorspace=pymupdf.csGRAY, alpha=False)
        image = Image.frombytes("L", (render.w, render.h), render.samples)
        out.metadata["needs_ocr"] = True
        out.metadata["ocr_image"] = (image, zoom * 72)  # in memory only: PageOcr takes it
        if decision == "check":
            out.metadata["check_lines"] = line_boxes(
                words, turn * pymupdf.Matrix(zoom, zoom), self.router.check_lines
            )
        return None, None

    def _published(self, out: Document, page: dict) -> tuple[None, None]:
        """A published dataset's transcription of a rendered page into ``out``: its lines in their
        (reading) order, its word boxes scaled to 0..BOX_SCALE; ``needs_ocr`` when it has no text."""
        meta = out.metadata["meta"]
        text = "\n".join(line for line in page["lines"] if line.strip())
        meta["router"] = {"route": "published"}
        self.stat_update("route_published")
        if not text:
            out.metadata["needs_ocr"] = True
            meta["text_source"] = "none"
            return None, None
        out.text = text
        meta["text_source"] = "published"
        if self.cfg.word_boxes:
            meta["words"] = [
                [word, *(min(BOX_SCALE, max(0, round(v * BOX_SCALE))) for v in box)]
                for word, *box in page["words"]
            ]
        return None, None

    def route(self, text: str, garbage: float, textpage: pymupdf.TextPage, rect: pymupdf.Rect):
        """(decision, features) for a page's text layer: ``ocr`` when it is not usable (fewer than
        ``router.min_text_chars`` characters: reason ``no_text_layer``; more garbage than
        ``router.max_garbage_share``: ``garbage``), ``check`` when images cover at least
        ``router.check_image_cover`` of the page (a scan under a text layer: ``PageOcr`` OCRs a
        few of its lines and keeps the layer only if they agree), else ``text_layer``."""
        cfg = self.router
        chars = len("".join(text.split()))
        features: dict = {"chars": chars, "garbage": round(garbage, 4)}
        if chars < cfg.min_text_chars:
            return "ocr", features | {"reason": "no_text_layer"}
        if garbage > cfg.max_garbage_share:
            return "ocr", features | {"reason": "garbage"}
        cover = image_cover(textpage, rect)
        features["image_cover"] = round(cover, 3)
        return ("check" if cover >= cfg.check_image_cover else "text_layer"), features
