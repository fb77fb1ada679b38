"""WARC/ARC readers: crawled HTTP responses -> datatrove Documents holding the decoded page.

Two ways in, one record path (``read_records``), so both give the same ``Document``:
- ``WarcReader`` reads whole WARC and ARC files (plain, or gzip per record), files split among tasks;
- ``WarcPointerReader`` reads single records from a table of ``(file, offset, length)`` pointers, as
  Common Crawl's index gives them, with one ranged read per record.

A document is a ``response`` record with HTTP status 200 and an accepted content type:
``text`` is the decoded page (``html_decode``), ``id`` is ``<warc basename>-<record offset>`` and
``metadata`` holds url, warc_date, warc_file, warc_offset, warc_length, content_type, charset and
source (= url). An accepted type that is not text (e.g. ``application/pdf``) gives ``text=""``
and the body as one ``Media`` (``media_bytes``, type by MIME family), with ``charset=None``.

Broken input never raises: what is valid is read, the rest is counted per reason
(``stat_update``) and logged with the file and offset. Skips by choice are counted quietly.
"""

from __future__ import annotations

import io
import posixpath
from collections.abc import Iterable, Iterator
from typing import IO, Any

import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq
from datatrove.data import Document, DocumentsPipeline, Media, MediaType
from datatrove.io import DataFileLike, DataFolderLike, get_datafolder, get_shard_from_paths_file, open_file
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.readers.base import BaseDiskReader, BaseReader
from datatrove.utils.logging import logger
from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from pipelines.steps.web.html_decode import decode_html, http_payload

HTML_TYPES = ("text/html", "application/xhtml+xml")
WARC_GLOBS = ("**/*.warc", "**/*.warc.gz", "**/*.arc", "**/*.arc.gz")
MAX_REPLACEMENT_SHARE = 0.01  # more U+FFFD than this after every charset failed: binary, not text
# Broken input: each is logged as a warning. Every other reason is a choice, counted quietly:
# skipped_non_response, skipped_non_http, skipped_status_<code>, skipped_content_type,
# skipped_empty, skipped_undecodable.
BROKEN = {
    "warc_unreadable": "not a WARC/ARC record here, the rest of the file is skipped",
    "warc_truncated": "the data ends inside a record's headers, that record is lost",
    "warc_unchunked_gzip": "the whole file is one gzip stream, not one gzip member per record, so "
    "records have no offsets; skipped (fix: `warcio recompress IN OUT`)",
    "record_truncated": "record ends before its Content-Length (or has none), what is there is kept",
    "record_no_http_headers": "response record without an HTTP status line and headers, skipped",
    "record_bad_chunking": "HTTP chunked encoding is broken, body read as warcio best guesses, kept",
    "record_bad_length": "record not followed by a blank line (wrong Content-Length?), kept",
    "pointer_bad_row": "pointer row lacks a file, offset or length, skipped",
    "pointer_missing_file": "file not found, its pointers are skipped",
    "pointer_out_of_range": "offset + length lies past the end of the file, skipped",
}
# What warcio 1.8 raises on a corrupt stream: ArchiveLoadFailed for an unknown record start
# (also a truncated gzip member), AttributeError for a WARC header block cut before its target URI.
WARC_ERRORS = (ArchiveLoadFailed, AttributeError)
_FAMILIES = {"image": MediaType.IMAGE, "video": MediaType.VIDEO, "audio": MediaType.AUDIO}
_POINTER_COLUMNS = {
    "file": ("file", "filename", "warc_filename"),
    "offset": ("offset", "warc_record_offset"),
    "length": ("length", "warc_record_length"),
}


def _count(step: PipelineStep, reason: str, warc_file: str, offset: int, detail: str = "") -> None:
    step.stat_update(reason)
    if reason in BROKEN:
        logger.warning(f"{warc_file} at offset {offset}: {detail or BROKEN[reason]} (reason={reason})")


def _read_page(record: Any, content_types: frozenset[str]) -> tuple[dict | None, list[str]]:
    """``(page, reasons)``: the page's parts, or None with the reason it is skipped."""
    if record.rec_type != "response":
        return None, ["skipped_non_response"]
    url = (record.rec_headers.get_header("WARC-Target-URI") or "").strip().strip("<>").strip()
    if not url.lower().startswith(("http:", "https:")):
        return None, ["skipped_non_http"]  # dns:, whois:, ftp: ... carry no HTTP response
    http = record.http_headers
    status = http.get_statuscode() if http else ""
    if not (status.isdigit() and len(status) == 3):
        return None, ["record_no_http_headers"]
    if status != "200":
        return None, [f"skipped_status_{status}"]
    full_type = http.get_header("Content-Type") or ""
    content_type = full_type.split(";")[0].strip().lower()
    if content_type not in content_types:
        return None, ["skipped_content_type"]
    body, bad_chunking = http_payload(
        record.raw_stream.read(), http.get_header("Content-Encoding"), http.get_header("Transfer-Encoding")
    )
    reasons = ["record_bad_chunking"] if bad_chunking else []
    page = {"url": url, "date": record.rec_headers.get_header("WARC-Date"), "content_type": content_type}
    if not body:
        return None, [*reasons, "skipped_empty"]
    if not content_type.startswith("text/") and not content_type.endswith(("+xml", "/xml", "/json")):
        return page | {"text": "", "charset": None, "body": body}, reasons
    text, charset = decode_html(body, full_type)
    if not text.strip():
        return None, [*reasons, "skipped_empty"]
    if text.count("\ufffd") > MAX_REPLACEMENT_SHARE * len(text):
        return None, [*reasons, "skipped_undecodable"]
    return page | {"text": text, "charset": charset, "body": None}, reasons


def _document(page: dict, warc_file: str, offset: int, length: int) -> Document:
    doc_id = f"{posixpath.basename(warc_file)}-{offset}"
    media = []
    if page["body"] is not None:
        family = _FAMILIES.get(page["content_type"].split("/")[0], MediaType.DOCUMENT)
        meta = {"content_type": page["content_type"]}
        media = [Media(id=doc_id, type=family, url=page["url"], media_bytes=page["body"], metadata=meta)]
    metadata = {
        "url": page["url"],
        "warc_date": page["date"],
        "warc_file": warc_file,
        "warc_offset": offset,
        "warc_length": length,
        "content_type": page["content_type"],
        "charset": page["charset"],
        "source": page["url"],
    }
    return Document(text=page["text"], id=doc_id, media=media, metadata=metadata)


def read_records(
    step: PipelineStep,
    stream: IO[bytes],
    warc_file: str,
    content_types: frozenset[str],
    base_offset: int = 0,
    max_records: int | None = None,
) -> Iterator[Document]:
    """Documents of the WARC/ARC records in ``stream``, counting on ``step`` what is skipped and why.

    ``base_offset`` is where ``stream`` starts in ``warc_file`` (a ranged read starts mid-file).
    """
    iterator = ArchiveIterator(stream, arc2warc=True)
    errors_seen = 0
    try:
        for number, record in enumerate(iterator, 1):
            with step.track_time():
                page, reasons = _read_page(record, content_types)
                offset = base_offset + iterator.get_record_offset()  # reads the record to its end
                length = iterator.get_record_length()
            if record.length is None or getattr(record.raw_stream, "limit", 0) > 0:
                reasons.insert(0, "record_truncated")  # data ended in the headers or the block
            bad_length = iterator.err_count > errors_seen
            if iterator.reader.decompressor is not None and iterator.next_line and not bad_length:
                # the gzip member goes on with the next record: warcio would fail on it
                _count(step, "warc_unchunked_gzip", warc_file, offset)
                return
            if bad_length:
                errors_seen = iterator.err_count
                reasons.append("record_bad_length")
            for reason in reasons:
                _count(step, reason, warc_file, offset)
            if page is not None:
                yield _document(page, warc_file, offset, length)
            if number == max_records:
                return
        # warcio ends quietly when the data stops inside a record's headers: bytes left unread
        if iterator.fh.tell() > iterator.offset:
            _count(step, "warc_truncated", warc_file, base_offset + iterator.offset)
    except WARC_ERRORS as error:
        cause = "headers without WARC-Target-URI" if isinstance(error, AttributeError) else str(error).strip()
        detail = f"{BROKEN['warc_unreadable']}: {(cause.splitlines() or [''])[0][:120]}"
        _count(step, "warc_unreadable", warc_file, base_offset + iterator.offset, detail)


class WarcReader(BaseDiskReader):
    """Reads the HTTP 200 responses of WARC and ARC files (plain or gzip per record) as documents.

    Files come from ``data_folder`` matching ``glob_pattern`` (default: every ``.warc``,
    ``.warc.gz``, ``.arc`` and ``.arc.gz`` below it) or from ``paths_file``, split among tasks as
    datatrove's ``get_shard`` does. Only ``content_types`` are kept (default: HTML).
    """

    name = "🕸 WARC reader"

    def __init__(
        self,
        data_folder: DataFolderLike,
        paths_file: DataFileLike | None = None,
        glob_pattern: str | None = None,
        limit: int = -1,
        content_types: Iterable[str] = HTML_TYPES,
        **kwargs: Any,  # skip, recursive, file_progress, doc_progress of BaseDiskReader
    ):
        kwargs["add_file_path"] = False  # warc_file is in the metadata already
        super().__init__(data_folder, paths_file, limit=limit, glob_pattern=glob_pattern, **kwargs)
        self.content_types = frozenset(t.strip().lower() for t in content_types)

    def list_files(self) -> list[str]:
        """Every input file, sorted (fsspec globs have no ``{a,b}``, so the default is several globs)."""
        patterns = [self.glob_pattern] if self.glob_pattern else WARC_GLOBS
        found = set()
        for pattern in patterns:
            found.update(self.data_folder.list_files(recursive=self.recursive, glob_pattern=pattern))
        return sorted(found)

    def read_file(self, filepath: str) -> DocumentsPipeline:
        with self.data_folder.open(filepath, "rb") as f:
            yield from read_records(self, f, filepath, self.content_types)

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        if self.paths_file:
            files = list(get_shard_from_paths_file(self.paths_file, rank, world_size))
        else:
            every = self.list_files()
            if not every:
                raise RuntimeError(
                    f"no WARC/ARC files in {self.data_folder.path} (patterns {self.glob_pattern or WARC_GLOBS})"
                )
            files = every[rank::world_size]
        self._log_limit_scope(rank, world_size)
        for doc in self.read_files_shard(files):
            self.update_doc_stats(doc)
            yield doc


def read_pointer_table(pointers: DataFileLike) -> list[dict]:
    """Rows of a pointer table, by extension: ``.parquet``, ``.csv`` or ``.jsonl`` (``.gz`` too)."""
    name = pointers if isinstance(pointers, str) else pointers[0]
    kind = posixpath.splitext(name.lower().removesuffix(".gz"))[1]
    read = {".parquet": pq.read_table, ".csv": pa_csv.read_csv, ".jsonl": pa_json.read_json}.get(kind)
    if read is None:
        raise ValueError(f"pointer table {name}: unknown format {kind!r}; use .parquet, .csv or .jsonl")
    with open_file(pointers, "rb", compression="infer") as f:
        return read(f).to_pylist()


def _pointer(row: Any) -> tuple[str, int, int] | None:
    """``(file, offset, length)`` of a row, whichever Common Crawl column names it uses."""
    if not isinstance(row, dict):
        return None
    file, offset, length = (
        next((row[a] for a in aliases if row.get(a) not in (None, "")), None)
        for aliases in _POINTER_COLUMNS.values()
    )
    try:
        file, offset, length = str(file or ""), int(offset), int(length)
    except (TypeError, ValueError):
        return None
    return (file, offset, length) if file and offset >= 0 and length > 0 else None


class WarcPointerReader(BaseReader):
    """Reads single WARC records from ``(file, offset, length)`` pointers with ranged reads.

    ``pointers`` is a table (``.parquet``, ``.csv`` or ``.jsonl``) with columns ``file``,
    ``offset`` and ``length`` (Common Crawl's ``filename`` / ``warc_filename``,
    ``warc_record_offset`` and ``warc_record_length`` are accepted; ``url`` is informational).
    Files are paths relative to ``data_folder`` when given, else paths or fsspec URLs. Each task
    reads a contiguous block of rows, grouped by file with one open handle per file.
    """

    name = "🎯 WARC pointer reader"

    def __init__(
        self,
        pointers: DataFileLike,
        data_folder: DataFolderLike | None = None,
        content_types: Iterable[str] = HTML_TYPES,
        limit: int = -1,
    ):
        super().__init__(limit=limit)
        self.pointers = pointers
        self.data_folder = get_datafolder(data_folder) if data_folder is not None else None
        self.content_types = frozenset(t.strip().lower() for t in content_types)

    def _open(self, file: str) -> IO[bytes]:
        # no read-ahead cache: remote files get one range request per record, not a block each
        folder = self.data_folder
        return (
            folder.open(file, "rb", cache_type="none") if folder else open_file(file, "rb", cache_type="none")
        )

    def _read_file(self, file: str, spans: list[tuple[int, int]]) -> Iterator[Document]:
        try:
            handle = self._open(file)
        except FileNotFoundError:
            self.stat_update("pointer_missing_file", value=len(spans))
            logger.warning(
                f"{file}: {BROKEN['pointer_missing_file']} ({len(spans)}, reason=pointer_missing_file)"
            )
            return
        with handle:
            for offset, length in spans:
                handle.seek(offset)
                data = handle.read(length)
                if len(data) < length:
                    _count(self, "pointer_out_of_range", file, offset)
                    continue
                yield from read_records(
                    self, io.BytesIO(data), file, self.content_types, offset, max_records=1
                )

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        rows = read_pointer_table(self.pointers)
        mine = rows[rank * len(rows) // world_size : (rank + 1) * len(rows) // world_size]
        self.stat_update("pointers", value=len(mine))
        by_file: dict[str, list[tuple[int, int]]] = {}
        for index, row in enumerate(mine, rank * len(rows) // world_size):
            pointer = _pointer(row)
            if pointer is None:
                self.stat_update("pointer_bad_row")
                logger.warning(
                    f"{self.pointers} row {index}: {BROKEN['pointer_bad_row']}: {row!r} (reason=pointer_bad_row)"
                )
                continue
            by_file.setdefault(pointer[0], []).append(pointer[1:])
        yielded = 0
        for file, spans in by_file.items():
            for doc in self._read_file(file, sorted(spans)):
                self.stat_update("documents")
                self.update_doc_stats(doc)
                yield doc
                yielded += 1
                if yielded == self.limit:
                    return
