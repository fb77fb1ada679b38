"""PDF reader: PDF files (folders, files, globs; local or fsspec) and the application/pdf
responses of WARC files -> one datatrove ``Document`` per PDF.

A PDF document has ``text=""``, the PDF bytes as its one ``Media`` and ``metadata`` holding
``pdf_id`` (tar-safe, sortable), ``source`` (the path, or the URL of a WARC record), the page
count and, when the PDF cannot be used, ``pdf_problem``: one of ``PDF_PROBLEMS``. The reader
never drops anything: ``filters.page_filters.PdfFilter`` drops on ``pdf_problem`` with that
reason, so every bad PDF is counted and sampled like any other drop.

Common Crawl cuts responses longer than its limit and marks the record ``WARC-Truncated``; such
records, and files whose end (``%%EOF``) is missing, are ``truncated``. Inputs are split among
tasks by file, so every page of a PDF is handled by one task, in order.

``pdfs`` may also name WebDataset tars of the published OCR datasets, OCR-IDL
(``pixparse/idl-wds``) and PDFA (``pixparse/pdfa-eng-wds``): a sample holds ``pdf`` bytes and a
``json`` whose ``pages[]`` each have ``lines`` and ``words`` as ``{text: [...], bbox: [[x, y, w, h]
normalised 0..1], score: [...]}`` (lines in reading order, also ``word_slice``) and
``images_bbox``; OCR-IDL samples also hold ``tif`` and ``ocr`` members, not read. The PDF document
keeps those pages (``PUBLISHED``): ``PdfPages`` renders each page and takes its published
transcription instead of reading the text layer or running OCR. A sample whose ``json`` is
missing or not in that layout is read as a plain PDF and counted (``published_json_invalid``).
"""

from __future__ import annotations

import glob
import hashlib
import json
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass

import fsspec
import pymupdf
from datatrove.data import Document, DocumentsPipeline, Media, MediaType
from datatrove.pipeline.base import PipelineStep
from datatrove.utils.logging import logger
from warcio.archiveiterator import ArchiveIterator

from pipelines.steps.web.html_decode import http_payload
from pipelines.steps.web.warc_reader import WARC_ERRORS, WARC_GLOBS
from schemas.shard_reader import SHARD_ERRORS, iter_samples

PDF_TYPES = frozenset({"application/pdf", "application/x-pdf"})
PDF_PROBLEMS = {
    "not_pdf": "no %PDF header",
    "truncated": "the file ends early (WARC-Truncated, or no %%EOF at its end)",
    "corrupt": "pymupdf cannot open it",
    "encrypted": "needs a password",
    "damaged": "opened only by repair, and no page could be recovered (broken page tree)",
    "zero_pages": "a valid PDF without pages",
}
EOF_WINDOW = 2048  # %%EOF must appear in the last bytes (some writers add trailing junk)
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def safe_id(name: str) -> str:
    """A tar-safe id for a file name or path: kept when safe, else sanitised with a short hash
    of the original, so distinct names stay distinct and ids still sort by name."""
    stem = name[:-4] if name.lower().endswith(".pdf") else name
    clean = _UNSAFE.sub("_", stem).strip("_")[:80] or "pdf"
    if clean == stem:
        return clean
    return f"{clean}_{hashlib.sha1(name.encode('utf-8')).hexdigest()[:8]}"


# the key, in the ``Media.metadata`` of a usable PDF, of the pymupdf document the reader opened to
# probe it: ``PdfPages`` takes it over instead of opening the PDF a second time (about 0.3 ms a PDF)
OPEN_PDF = "pymupdf_document"
# the key, in a PDF document's metadata, of the pages of a published dataset's json (in memory only)
PUBLISHED = "published_pages"
SHARD_GLOBS = ("**/*.tar",)


def published_pages(data: bytes) -> list[dict] | None:
    """The ``pages`` of a published sample's json, each as ``{"lines": [text, ...], "words":
    [[text, x0, y0, x1, y1], ...]}`` with boxes in 0..1 of the page; None if not that layout."""
    try:
        pages = json.loads(data)["pages"]
        out = []
        for page in pages:
            lines, words = page["lines"], page.get("words") or {"text": [], "bbox": []}
            boxes = [
                [text, x, y, x + w, y + h]
                for text, (x, y, w, h) in zip(words["text"], words["bbox"], strict=True)
            ]
            out.append({"lines": [str(t) for t in lines["text"]], "words": boxes})
        return out
    except (ValueError, KeyError, TypeError):  # json errors are ValueErrors; zip(strict) too
        return None


def shard_pdfs(step: PipelineStep, stream, shard: str) -> Iterator[Document]:
    """The PDF documents of one published WebDataset tar (OCR-IDL, PDFA), with their pages."""
    name = safe_id(posixpath.basename(shard).removesuffix(".tar"))
    try:
        for sample in iter_samples(stream, read=lambda suffix: suffix in ("pdf", "json")):
            if "pdf" not in sample.members:
                step.stat_update("published_no_pdf")
                logger.warning(f"{shard}#{sample.key}: no pdf member (reason=published_no_pdf)")
                continue
            pages = published_pages(sample.members["json"]) if "json" in sample.members else None
            extra = {}
            if pages is None:
                step.stat_update("published_json_invalid")
                logger.warning(f"{shard}#{sample.key}: json missing or not in the published layout, read as "
                               "a plain PDF (reason=published_json_invalid)")  # fmt: skip
            else:
                extra[PUBLISHED] = pages
            step.stat_update("published_samples")
            yield pdf_document(
                sample.members["pdf"], f"{name}-{safe_id(sample.key)}", f"{shard}#{sample.key}", extra
            )
    except SHARD_ERRORS as error:
        step.stat_update("shard_unreadable")
        logger.warning(f"{shard}: not readable past this point: {error} (reason=shard_unreadable)")


@dataclass(frozen=True)
class PdfProbe:
    pages: int
    problem: str | None
    repaired: bool = False
    document: pymupdf.Document | None = None  # the open PDF, when asked for and usable


def probe_pdf(data: bytes, truncated: bool = False, keep_open: bool = False) -> PdfProbe:
    """Whether ``data`` is a usable PDF and how many pages it has. The PDF is opened once and
    closed, or, with ``keep_open``, a usable one is returned open as ``document``."""
    if b"%PDF" not in data[:1024]:
        return PdfProbe(0, "not_pdf")
    if truncated or b"%%EOF" not in data[-EOF_WINDOW:]:
        return PdfProbe(0, "truncated")
    try:
        doc = pymupdf.open(stream=data, filetype="pdf")
    except Exception:  # pymupdf raises FileDataError, RuntimeError, ValueError on broken files
        return PdfProbe(0, "corrupt")
    probe = None
    try:
        if doc.needs_pass:
            probe = PdfProbe(0, "encrypted")
        else:
            pages, repaired = doc.page_count, bool(doc.is_repaired)
            problem = ("damaged" if repaired else "zero_pages") if pages == 0 else None
            probe = PdfProbe(pages, problem, repaired, doc if keep_open and problem is None else None)
    finally:
        if probe is None or probe.document is None:  # None: pymupdf raised
            doc.close()
    return probe


def _expand(pattern: str, globs: tuple[str, ...]) -> list[tuple[str, str]]:
    """(full path or URL, path relative to the input) of every file an input names."""
    fs, path = fsspec.core.url_to_fs(pattern)
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    full = (lambda p: p) if protocol in ("file", "local") else (lambda p: fs.unstrip_protocol(p))
    if glob.has_magic(path):
        found = sorted(p for p in fs.glob(path) if fs.isfile(p))
        parts = path.split("/")
        root = "/".join(parts[: next(i for i, part in enumerate(parts) if glob.has_magic(part))])
    elif fs.isdir(path):
        found = sorted({p for g in globs for p in fs.glob(f"{path.rstrip('/')}/{g}") if fs.isfile(p)})
        root = path.rstrip("/")
    elif fs.isfile(path):
        found, root = [path], posixpath.dirname(path)
    else:
        found, root = [], path
    return [(full(p), posixpath.relpath(p, root) if root else posixpath.basename(p)) for p in found]


def list_inputs(pdfs: list[str], warcs: list[str]) -> list[tuple[str, str, str]]:
    """Every input file as ``(type, path or URL, name)``, type ``pdf``, ``shard`` (a published
    dataset's tar, named in ``pdfs``) or ``warc``, sorted by type then name (the order tasks split
    them in). Raises ``FileNotFoundError`` naming an empty input."""
    out = []
    for kind, patterns, globs in (
        ("pdf", pdfs, ("**/*.pdf", "**/*.PDF", *SHARD_GLOBS)),
        ("warc", warcs, WARC_GLOBS),
    ):
        for pattern in patterns:
            found = _expand(pattern, globs)
            if not found:
                raise FileNotFoundError(f"{kind}s: {pattern!r} matches no file")
            for path, name in found:
                out.append(("shard" if kind == "pdf" and name.endswith(".tar") else kind, path, name))
    return sorted(set(out), key=lambda item: (item[0], item[2], item[1]))


def pdf_document(data: bytes, pdf_id: str, source: str, extra: dict | None = None, truncated: bool = False):
    """The ``Document`` of one PDF, probed (see ``probe_pdf``); a usable one keeps the probe's open
    pymupdf document in its media's metadata (``OPEN_PDF``: in memory only, never written)."""
    probe = probe_pdf(data, truncated, keep_open=True)
    metadata = {"pdf_id": pdf_id, "source": source, "pdf_pages": probe.pages, "pdf_bytes": len(data)}
    if probe.problem:
        metadata["pdf_problem"] = probe.problem
    if probe.repaired:
        metadata["pdf_repaired"] = True
    metadata |= extra or {}
    opened = {OPEN_PDF: probe.document} if probe.document is not None else {}
    media = [Media(id=pdf_id, type=MediaType.DOCUMENT, url=source, media_bytes=data, metadata=opened)]
    return Document(text="", id=pdf_id, media=media, metadata=metadata)


def warc_pdfs(step: PipelineStep, stream, warc_file: str) -> Iterator[Document]:
    """The PDF documents of the HTTP 200 application/pdf responses in one WARC stream."""
    iterator = ArchiveIterator(stream, arc2warc=True)
    name = safe_id(posixpath.basename(warc_file))
    try:
        for record in iterator:
            if record.rec_type != "response" or not record.http_headers:
                continue
            http = record.http_headers
            content_type = (http.get_header("Content-Type") or "").split(";")[0].strip().lower()
            if http.get_statuscode() != "200" or content_type not in PDF_TYPES:
                continue
            body, _ = http_payload(
                record.raw_stream.read(),
                http.get_header("Content-Encoding"),
                http.get_header("Transfer-Encoding"),
            )
            offset = iterator.get_record_offset()
            truncated = record.rec_headers.get_header("WARC-Truncated")
            url = (record.rec_headers.get_header("WARC-Target-URI") or "").strip("<> ")
            extra = {"url": url, "warc_file": warc_file, "warc_offset": offset}
            if truncated:
                extra["warc_truncated"] = truncated
            step.stat_update("warc_pdf_records")
            yield pdf_document(
                body, f"{name}-{offset:012d}", url or f"{warc_file}@{offset}", extra, bool(truncated)
            )
    except WARC_ERRORS as error:
        step.stat_update("warc_unreadable")
        logger.warning(
            f"{warc_file}: not readable past offset {iterator.offset}: {error} (reason=warc_unreadable)"
        )


class PdfReader(PipelineStep):
    """Reads PDF files and the PDF responses of WARC files; input files are split among tasks
    (``files[rank::world_size]``), so one task handles a whole PDF. Counts ``pdf_<problem>``."""

    name = "📑 PDF reader"
    type = "📖 - READER"

    def __init__(self, pdfs: list[str], warcs: list[str] = ()):
        super().__init__()
        self.pdfs = list(pdfs)
        self.warcs = list(warcs)

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        for kind, path, name in list_inputs(self.pdfs, self.warcs)[rank::world_size]:
            with fsspec.open(path, "rb") as f:  # warcio reads gzip members itself
                if kind == "warc":
                    documents = warc_pdfs(self, f, path)
                elif kind == "shard":
                    documents = shard_pdfs(self, f, path)
                else:
                    with self.track_time():
                        documents = iter([pdf_document(f.read(), safe_id(name), path)])
                for doc in documents:
                    problem = doc.metadata.get("pdf_problem")
                    self.stat_update(f"pdf_{problem}" if problem else "pdfs")
                    if problem:
                        logger.warning(
                            f"{doc.metadata['source']}: {PDF_PROBLEMS[problem]} (reason={problem})"
                        )
                    self.update_doc_stats(doc)
                    yield doc
