"""Read ``ocr`` shards through their manifest, grouped by PDF, and cut documents to a token budget.

``OcrPdfReader`` reads the datasets a job names (``OUT/<dataset>`` or its ``manifest.json``), as
any consumer would: shard list from the manifest, members from the tars. The pages of one PDF
are recognised by the sample's ``meta.pdf`` (the pdf_ocr job) or, failing that, by its
``source`` up to ``#page=`` (``reports/x.pdf#page=3``); the page number is ``meta.page``, else
the ``#page=`` of the source, else the order of appearance. A PDF's pages may be spread over
shards and writer tasks, so each task scans the JSON members of every shard (tar headers let it
seek past the images), keeps the PDFs it owns (a stable hash of the PDF id, modulo the number
of tasks), and then reads only its pages' images. Memory holds the transcriptions of the owned
pages and the offsets of their images, not the images.

It yields one document per PDF (``unit=pdf``: the page images in page order in ``media``, the
pages' transcriptions in ``metadata["pages"]``) or one per page (``unit=page``), in sorted PDF
order, so a task's output does not depend on the shard layout.

``TokenCounter`` and ``fit_pages`` cut a long document to the model's context: whole pages are
kept while they fit the budget, the first page that does not is cut at a token boundary, and the
pages after it are left out (their images too, so every question is about a page shown).
Tokens are counted with the model's ``tokenizers`` JSON when given, else with the estimate
``max(1.5 per word, 1 per 4 characters)`` (``filters.tokens.estimate_tokens``), which errs
high so a budget is not overrun.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import fsspec
from datatrove.data import Document, DocumentsPipeline, Media, MediaType
from datatrove.pipeline.base import PipelineStep

from filters.tokens import estimate_tokens
from schemas.manifest import MANIFEST, Manifest
from schemas.shard_reader import read_shard

_PAGE_IN_SOURCE = re.compile(r"#page=(\d+)$")


def manifest_path(dataset: str) -> str:
    """``OUT/<dataset>`` or its manifest -> the manifest's path."""
    return dataset if dataset.endswith(".json") else f"{dataset.rstrip('/')}/{MANIFEST}"


def ocr_shards(dataset: str) -> list[str]:
    """Shard URLs of an ``ocr`` dataset, from its manifest (relative URLs resolved)."""
    path = manifest_path(dataset)
    try:
        with fsspec.open(path, "r", encoding="utf-8") as f:
            manifest = Manifest.from_json(f.read())
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{path}: no manifest; give OUT/<dataset> of a finished pdf_ocr job"
        ) from None
    if manifest.kind != "ocr":
        raise ValueError(f"{path}: kind is {manifest.kind!r}; the docmatix job reads ocr datasets")
    base = path.rsplit("/", 1)[0] if "/" in path else "."
    return [e.url if "://" in e.url else f"{base}/{e.url}" for e in manifest.shardlist]


def pdf_and_page(sample: dict[str, Any]) -> tuple[str, str, int | None]:
    """(pdf id, pdf source, page number or None) of an ocr sample."""
    source = str(sample.get("source") or "")
    meta = sample.get("meta") or {}
    match = _PAGE_IN_SOURCE.search(source)
    pdf_source = source[: match.start()] if match else source
    page = meta.get("page")
    if not isinstance(page, int):
        page = int(match.group(1)) if match else None
    return str(meta.get("pdf") or pdf_source), pdf_source, page


def owner(pdf: str, world_size: int) -> int:
    """The task that handles a PDF: a stable hash, the same on every machine and run."""
    return int.from_bytes(hashlib.sha1(pdf.encode("utf-8")).digest()[:8], "big") % world_size


@dataclass
class PageRef:
    pdf: str
    pdf_source: str
    page: int
    order: int  # position in the scan: breaks ties, numbers pages without one
    text: str
    source: str
    meta: dict[str, Any]
    shard: str
    image_name: str = ""  # the tar member of its image
    image_offset: int = -1
    image_size: int = 0


@dataclass
class _Scan:
    pages: dict[str, list[PageRef]] = field(default_factory=dict)
    bad_samples: int = 0
    other_language: int = 0  # pages whose meta.lang is not among the reader's languages


class OcrPdfReader(PipelineStep):
    """``ocr`` shards (through their manifests) -> documents per PDF (or per page), see module doc."""

    name = "📄 OCR shard reader"
    type = "📖 - READER"

    def __init__(self, datasets: list[str], unit: str = "pdf", languages: list[str] | tuple[str, ...] = ()):
        """`languages`: only pages whose ``meta.lang`` (the pdf_ocr job's language id) is one of
        these are read, the others counted ``pages_other_language``; a page without ``meta.lang``
        is kept. Empty: every page."""
        super().__init__()
        self.languages = frozenset(languages)
        if unit not in ("pdf", "page"):
            raise ValueError(f"unit={unit!r}: pdf or page")
        self.datasets = list(datasets)
        self.unit = unit

    def _scan(self, rank: int, world_size: int) -> _Scan:
        """Every page of this rank's PDFs: the JSON read, the image's offset kept for later."""
        scan, order = _Scan(), 0
        for dataset in self.datasets:
            for shard in ocr_shards(dataset):
                for sample in read_shard(shard, read=lambda suffix: suffix == "json"):
                    try:
                        data = sample.json()
                        text = data["texts"][1]
                        image = data["images"][0]
                    except (ValueError, KeyError, IndexError, TypeError):
                        scan.bad_samples += 1
                        continue
                    pdf, pdf_source, page = pdf_and_page(data)
                    order += 1
                    lang = (data.get("meta") or {}).get("lang")
                    if self.languages and lang and lang not in self.languages:
                        scan.other_language += owner(pdf, world_size) == rank
                        continue
                    if owner(pdf, world_size) != rank or not isinstance(text, str):
                        continue
                    ref = PageRef(
                        pdf, pdf_source, page if page is not None else order, order, text,
                        str(data.get("source") or sample.key), data.get("meta") or {}, shard,
                        f"{sample.key}.{image}",
                    )  # fmt: skip
                    if isinstance(image, str) and image in sample.offsets:
                        ref.image_offset, ref.image_size = sample.offsets[image]
                    scan.pages.setdefault(pdf, []).append(ref)
        return scan

    def _documents(self, pdf: str, pages: list[PageRef], files: dict[str, Any]) -> Iterator[Document]:
        pages = sorted(pages, key=lambda p: (p.page, p.order))
        media = []
        for page in pages:
            if page.image_offset < 0:
                self.stat_update("page_without_image")
                continue
            if page.shard not in files:
                if len(files) >= 8:
                    files.pop(next(iter(files))).close()
                files[page.shard] = fsspec.open(page.shard, "rb").open()
            handle = files[page.shard]
            handle.seek(page.image_offset)
            media.append(
                (
                    page,
                    Media(
                        id=f"{pdf}#page={page.page}",
                        type=MediaType.IMAGE,
                        url=page.source,
                        media_bytes=handle.read(page.image_size),
                        metadata={"page": page.page},
                    ),
                )
            )
        groups = [media] if self.unit == "pdf" else [[item] for item in media]
        for group in groups:
            if not group:
                continue
            first = group[0][0]
            doc_id = pdf if self.unit == "pdf" else f"{pdf}-p{first.page:05d}"
            source = first.pdf_source if self.unit == "pdf" else first.source
            yield Document(
                text="",
                id=doc_id,
                media=[m for _, m in group],
                metadata={
                    "source": source or doc_id,
                    "pdf": pdf,
                    "pages": [{"page": p.page, "text": p.text} for p, _ in group],
                    "meta": {"pdf": pdf, "pdf_source": first.pdf_source},
                },
            )

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        with self.track_time():
            scan = self._scan(rank, world_size)
        if scan.bad_samples:
            self.stat_update("bad_samples", value=scan.bad_samples)
        if scan.other_language:
            self.stat_update("pages_other_language", value=scan.other_language)
        files: dict[str, Any] = {}
        try:
            for pdf in sorted(scan.pages):
                self.stat_update("pdfs")
                for document in self._documents(pdf, scan.pages[pdf], files):
                    self.stat_update("pages", value=len(document.media))
                    self.update_doc_stats(document)
                    yield document
        finally:
            for handle in files.values():
                handle.close()


@cache
def _load_tokenizer(path: str):
    from tokenizers import Tokenizer

    return Tokenizer.from_file(path)


class TokenCounter:
    """Counts and cuts text in tokens: the model's tokenizer when given, else the estimate."""

    def __init__(self, tokenizer: str | None = None):
        self.tokenizer = tokenizer

    def count(self, text: str) -> int:
        if self.tokenizer is None:
            return estimate_tokens(text)
        return len(_load_tokenizer(self.tokenizer).encode(text, add_special_tokens=False).ids)

    def cut(self, text: str, tokens: int) -> str:
        """The longest prefix of ``text`` within ``tokens`` tokens (at a token or word boundary)."""
        if tokens <= 0:
            return ""
        if self.tokenizer is not None:
            encoding = _load_tokenizer(self.tokenizer).encode(text, add_special_tokens=False)
            if len(encoding.ids) <= tokens:
                return text
            return text[: encoding.offsets[tokens - 1][1]]
        ends = [m.end() for m in re.finditer(r"\S+", text)]
        low, high = 0, len(ends)  # largest k whose prefix of k words fits
        while low < high:
            mid = (low + high + 1) // 2
            if estimate_tokens(text[: ends[mid - 1]]) <= tokens:
                low = mid
            else:
                high = mid - 1
        return text[: ends[low - 1]] if low else ""


def fit_pages(
    pages: list[tuple[int, str]], budget: int, counter: TokenCounter, render=lambda n, t: f"Page {n}:\n{t}"
) -> tuple[list[tuple[int, str]], bool]:
    """The pages that fit ``budget`` tokens as ``render`` shows them (whole pages, then the next
    one cut), and whether anything was cut or left out."""
    kept: list[tuple[int, str]] = []
    left = budget
    for number, text in pages:
        cost = counter.count(render(number, text)) + 1  # + the blank line between pages
        if cost <= left:
            kept.append((number, text))
            left -= cost
            continue
        overhead = counter.count(render(number, "")) + 1
        cut = counter.cut(text, left - overhead)
        if cut.strip():
            kept.append((number, cut))
        return kept, True
    return kept, False
