"""Readers of the pairs job: image URL + caption tables, and pairs mined from WARC pages.

A pair is a datatrove ``Document`` with ``text`` = the caption and one image ``Media`` (its URL;
the fetch stage adds the bytes), ``metadata["source"]`` = the image URL and ``metadata["meta"]``
= what the shard's ``meta`` starts from: ``url``, ``caption`` and provenance.

``PairsTableReader`` reads tables as img2dataset and LAION publish them: Parquet, CSV, TSV or
JSONL (optionally compressed), on a local path or any fsspec URL, with configurable column
names; files are split among the tasks. A bad row never stops a run: it is skipped and counted
``bad_row_<reason>`` (reasons in :data:`BAD_ROW_REASONS`), and a warning names the file and row
of the first few; a CSV without even a header is counted ``empty_table``. A table lacking the URL or caption column altogether is a configuration
mistake, and raises naming the file, its columns and the option to set.

``WarcPairs`` runs after ``WarcReader`` and ``HtmlExtractor`` (the interleaved job's extraction,
which puts ``alt`` and the ``<figcaption>`` on every image): each image of a page with a non-empty
caption text becomes a pair (``warc_captions`` chooses which text, first non-empty wins); images
without one are counted ``images_without_caption``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from datatrove.data import Document, DocumentsPipeline, Media, MediaType
from datatrove.pipeline.base import PipelineStep
from datatrove.utils.logging import logger

from pipelines.steps import jsonl_rows
from schemas.config_pairs import PairsTableConfig

BAD_ROW_REASONS = {
    "missing_url": "no image URL (null, absent or empty)",
    "not_http_url": "the URL is not http(s)",
    "non_string_url": "the URL is not a string",
    "empty_caption": "no caption (null, absent, empty or only spaces)",
    "non_string_caption": "the caption is not a string",
    "unparsable": "the line is not a JSON object, or the CSV row has the wrong number of fields",
}
WARNED_ROWS = 5  # bad rows logged per file; all of them are counted
FORMATS = {".parquet": "parquet", ".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl"}
COMPRESSIONS = (".gz", ".bz2", ".xz", ".zst", ".zstd")
_KEY_CHARS = re.compile(r"[^A-Za-z0-9_-]+")


def table_format(path: str, configured: str = "auto") -> str:
    """The format of table ``path``: ``configured`` unless "auto", else from its extension."""
    if configured != "auto":
        return configured
    name = path.lower()
    for suffix in COMPRESSIONS:
        name = name.removesuffix(suffix)
    for extension, kind in FORMATS.items():
        if name.endswith(extension):
            return kind
    raise ValueError(
        f"pairs table {path}: unknown format; name it .parquet, .csv, .tsv or .jsonl, or set table.format"
    )


def json_value(value: Any) -> Any:
    """``value`` as JSON can hold it (dates, decimals and bytes from Parquet become strings)."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    return str(value)


def make_pair(doc_id: str, url: str, caption: str, meta: dict[str, Any], alt: str | None = None) -> Document:
    """The document of one pair (see the module docstring)."""
    media = Media(id=url, type=MediaType.IMAGE, url=url, alt=alt)
    metadata = {"source": url, "meta": {"url": url, "caption": caption, **meta}}
    return Document(text=caption, id=doc_id, media=[media], metadata=metadata)


class PairsTableReader(PipelineStep):
    """Reads URL + caption tables into pair documents (see the module docstring).

    ``files`` are full paths or fsspec URLs (the job expands globs); task ``rank`` reads
    ``files[rank::world_size]``. Document ids are ``t<file index>-<row index>``, stable for a
    given list of files. Documents from an earlier step pass through first."""

    name = "📋 Pairs table reader"
    type = "📖 - READER"

    def __init__(self, files: Sequence[str], cfg: PairsTableConfig | None = None, batch_rows: int = 8192):
        super().__init__()
        self.files = sorted(files)
        self.cfg = cfg or PairsTableConfig()
        self.batch_rows = batch_rows

    # --- rows of each format: dicts of the wanted columns, or None for an unparsable row ---

    def _columns(self) -> list[str]:
        return list(dict.fromkeys([self.cfg.url_column, self.cfg.caption_column, *self.cfg.keep_columns]))

    def _check_columns(self, path: str, names: Sequence[str]) -> None:
        for option, column in (
            ("url_column", self.cfg.url_column),
            ("caption_column", self.cfg.caption_column),
        ):
            if column not in names:
                raise ValueError(
                    f"pairs table {path}: no column {column!r} (columns: {list(names)[:20]}); "
                    f"set table.{option} to the right name"
                )

    def _parquet_rows(self, f, path: str) -> Iterator[dict | None]:
        parquet = pq.ParquetFile(f)
        names = parquet.schema_arrow.names
        self._check_columns(path, names)
        columns = [c for c in self._columns() if c in names]
        for batch in parquet.iter_batches(batch_size=self.batch_rows, columns=columns):
            yield from batch.to_pylist()

    def _csv_rows(self, f, path: str, delimiter: str) -> Iterator[dict | None]:
        invalid: list[int] = []

        def skip_invalid(_row) -> str:
            invalid.append(1)
            return "skip"

        try:
            reader = pa_csv.open_csv(
                f,
                read_options=pa_csv.ReadOptions(block_size=1 << 22),
                parse_options=pa_csv.ParseOptions(
                    delimiter=delimiter, newlines_in_values=True, invalid_row_handler=skip_invalid
                ),
                # every column read as text: a CSV has no types, and a numeric-looking caption is a caption
                convert_options=pa_csv.ConvertOptions(
                    column_types={c: pa.string() for c in self._columns()}, strings_can_be_null=False
                ),
            )
        except pa.ArrowInvalid as error:
            if "Empty CSV file" not in str(error):
                raise
            logger.warning(f"pairs table {path}: empty, no header (reason=empty_table)")
            self.stat_update("empty_table")
            return
        self._check_columns(path, reader.schema.names)
        columns = [c for c in self._columns() if c in reader.schema.names]
        for batch in reader:
            yield from ([None] * len(invalid))  # malformed rows skipped while parsing this batch
            invalid.clear()
            yield from batch.select(columns).to_pylist()
        yield from ([None] * len(invalid))

    def rows(self, path: str) -> Iterator[dict | None]:
        kind = table_format(path, self.cfg.format)
        if kind == "jsonl":
            with fsspec.open(path, "rt", compression="infer", encoding="utf-8", errors="replace") as f:
                yield from jsonl_rows(f)
            return
        with fsspec.open(path, "rb", compression="infer") as f:
            if kind == "parquet":
                yield from self._parquet_rows(f, path)
            else:
                yield from self._csv_rows(f, path, "," if kind == "csv" else "\t")

    # --- rows -> pairs -------------------------------------------------------------------

    def bad_row(self, row: dict | None) -> str | None:
        """The reason ``row`` is not a pair, or None."""
        if row is None:
            return "unparsable"
        url, caption = row.get(self.cfg.url_column), row.get(self.cfg.caption_column)
        if url is None or url == "":
            return "missing_url"
        if not isinstance(url, str):
            return "non_string_url"
        if not url.strip().lower().startswith(("http://", "https://")):
            return "not_http_url"
        if caption is None:
            return "empty_caption"
        if not isinstance(caption, str):
            return "non_string_caption"
        if not caption.strip():
            return "empty_caption"
        return None

    def read_file(self, index: int, path: str) -> Iterator[Document]:
        stem = _KEY_CHARS.sub("_", path.rsplit("/", 1)[-1])
        warned = 0
        for row_index, row in enumerate(self.rows(path)):
            self.stat_update("rows")
            reason = self.bad_row(row)
            if reason:
                self.stat_update(f"bad_row_{reason}")
                if warned < WARNED_ROWS:
                    warned += 1
                    logger.warning(
                        f"pairs table {path} row {row_index}: {BAD_ROW_REASONS[reason]}, skipped (reason={reason})"
                    )
                continue
            url = row[self.cfg.url_column].strip()
            caption = " ".join(row[self.cfg.caption_column].split())
            meta = {"table": stem, "row": row_index}
            meta.update({c: json_value(row.get(c)) for c in self.cfg.keep_columns})
            self.stat_update("pairs")
            yield make_pair(f"t{index:05d}-{row_index:09d}", url, caption, meta)

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        for index in range(rank, len(self.files), world_size):
            with self.track_time():
                yield from self.read_file(index, self.files[index])


class WarcPairs(PipelineStep):
    """Extracted pages -> one pair per image with a caption text (see the module docstring)."""

    name = "🖼️ WARC pairs"
    type = "🛢 - EXTRAC"

    def __init__(self, captions: Sequence[str] = ("alt", "caption")):
        super().__init__()
        self.captions = tuple(captions)

    def caption(self, media: Media) -> tuple[str, str] | None:
        """(source, caption text) of an image: the first non-empty of ``captions``."""
        for source in self.captions:
            text = media.alt if source == "alt" else (media.metadata or {}).get("caption")
            text = " ".join((text or "").split())
            if text:
                return source, text
        return None

    def pairs(self, page: Document) -> Iterator[Document]:
        seen: set[tuple[str, str]] = set()
        for index, media in enumerate(page.media):
            found = self.caption(media) if media.url else None
            if found is None:
                self.stat_update("images_without_caption")
                continue
            source, caption = found
            if (media.url, caption) in seen:  # the same image and text twice on one page
                self.stat_update("images_repeated_on_page")
                continue
            seen.add((media.url, caption))
            meta = {
                "caption_source": source,
                "page_url": page.metadata.get("url"),
                "warc_file": page.metadata.get("warc_file"),
                "warc_offset": page.metadata.get("warc_offset"),
            }
            self.stat_update("pairs")
            yield make_pair(f"{page.id}-{index}", media.url, caption, meta, alt=media.alt or None)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for page in data:
            self.stat_update("pages")
            with self.track_time():
                found = list(self.pairs(page))
            yield from found
