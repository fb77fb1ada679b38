"""The converter framework: one small declarative ``Converter`` per source layout.

A converter says where a source's rows are (``files``: parquet, jsonl, a JSON file with the rows
under ``records``, or one JSON file per row), which ``fields`` a row of that layout has (a file
without them fails at once), where its ``images`` are (a field holding ``{bytes, path}`` / bytes /
a path, or a ``"{field}"`` path template), which field names the image a row is about
(``group_by``: rows about one image become one multi-turn sample), which rows to keep, which images
are too big, and its ``style``: how a row becomes user/assistant turns
(``pipelines.instruct.styles``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import fsspec
import fsspec.implementations.local
import ijson
import pyarrow.parquet as pq

from pipelines.conversations import Dropped
from pipelines.instruct.styles import Choose, Style, Turn, fill, value
from pipelines.steps import jsonl_rows


@dataclass(frozen=True)
class Converter:
    name: str  # The Cauldron's subset name
    label: str  # The Cauldron's turn ``source``
    family: str
    licence: str
    files: str  # parquet | jsonl | json | json_files
    fields: tuple[str, ...]
    images: tuple[str, ...]
    style: Style
    records: str | None = None  # json: the key of the row list (None: the file is the list)
    group_by: str | None = None
    origin: str = ""  # where the source is published
    text_only: bool = False  # a row without images is a sample without images (else missing_image)
    keep: tuple[tuple[str, Any], ...] = ()  # (field, value): other rows are dropped (other_<field>)
    notes: str = ""
    suffixes: tuple[str, ...] = field(default=())
    # images wider or taller than max_aspect : 1, or with a side over max_side pixels, are left
    # out (image_too_big), as The Cauldron did for InfographicVQA
    max_aspect: float | None = None
    max_side: int | None = None

    def turns(self, row: dict, choose: Choose) -> list[Turn | Dropped]:
        for name, wanted in self.keep:
            if row.get(name) != wanted:
                raise Dropped(f"other_{name}", repr(row.get(name)))
        return self.style.turns(row, choose)

    def group_key(self, row: dict) -> str | None:
        if self.group_by is None:
            return None
        if self.group_by.startswith("@"):  # no image id in the source: the image's own bytes
            ref = value(row, self.group_by[1:])
            data = ref.get("bytes") if isinstance(ref, dict) else ref
            if isinstance(data, bytes | bytearray):
                return hashlib.sha256(data).hexdigest()
            return str(ref.get("path") if isinstance(ref, dict) else ref)
        return fill(self.group_by, row) if "{" in self.group_by else str(value(row, self.group_by))

    def file_suffixes(self) -> tuple[str, ...]:
        return self.suffixes or {"json_files": (".json",)}.get(self.files, (f".{self.files}",))

    def check_fields(self, file: str, present: list[str]) -> None:
        missing = [f for f in self.fields if f not in present]
        if missing:
            raise ValueError(
                f"{file}: converter {self.name!r} reads {self.files} rows with the fields {list(self.fields)}; "
                f"this file lacks {missing} (its fields: {sorted(present)[:20]}): is it another source?"
            )

    def check(self, file: str) -> None:
        """Fail now (``ValueError``) if ``file`` is not of this converter's layout: a parquet
        file's schema alone (no row is read: a first row group can be hundreds of MB), the first
        row of the other kinds."""
        if self.files == "parquet":
            with fsspec.open(file, "rb") as f:
                try:
                    names = pq.ParquetFile(f).schema_arrow.names
                except Exception as error:  # pyarrow raises ArrowInvalid and others for non-parquet
                    raise ValueError(f"{file}: not a parquet file ({error})") from None
            self.check_fields(file, names)
            return
        next(iter(self.rows(file)), None)

    def rows(self, file: str) -> Iterator[tuple[int, dict | Dropped | None]]:
        """(row number, row) of one file, streamed where the format allows (parquet in batches,
        jsonl line by line); a row that is not a JSON object is None (``bad_row``)."""
        if self.files == "parquet":
            fs, path = fsspec.core.url_to_fs(file)
            # a local file by its path: Arrow reads it natively, not through a Python file object
            # (which cost ~0.3 s per GB more: bench_instruct); no pre-buffering, 1 MiB reads, one
            # thread: Arrow's pool then peaks at ~33 MB instead of ~280 MB on a 1 GB export
            local = isinstance(fs, fsspec.implementations.local.LocalFileSystem)
            with contextlib.nullcontext(path) if local else fs.open(path, "rb") as f:
                parquet = pq.ParquetFile(f, pre_buffer=False, buffer_size=1 << 20)
                self.check_fields(file, parquet.schema_arrow.names)
                index = 0
                for batch in parquet.iter_batches(
                    batch_size=32, use_threads=False, columns=self._columns(parquet.schema)
                ):
                    for row in batch.to_pylist():
                        yield index, row
                        index += 1
            return
        with fsspec.open(file, "rt", encoding="utf-8") as f:
            if self.files == "jsonl":  # blank lines are not rows
                yield from enumerate(jsonl_rows(f, lambda keys: self.check_fields(file, keys)))
                return
            if self.files == "json_files":  # one small file per row
                try:
                    data = json.load(f)
                except ValueError as error:
                    raise ValueError(f"{file}: not a JSON file ({error})") from None
                self.check_fields(file, list(data) if isinstance(data, dict) else [])
                yield 0, data
                return
        yield from self._json_rows(file)

    def _columns(self, schema: pq.ParquetSchema) -> list[str] | None:
        """The parquet columns to read: all, but only the one field the style reads of a column
        of records (``subfields``), named by its path in the file (``answers.list.element.answer``
        as pyarrow writes lists, ``answers.list.item.answer`` as older writers did)."""
        wanted = getattr(self.style, "subfields", dict)()
        if not wanted:
            return None
        paths = [schema.column(i).path for i in range(len(schema))]
        columns: list[str] = []
        for path in paths:
            top, _, rest = path.partition(".")
            sub = wanted.get(top)
            # the one field, where the column holds records with it; else the column whole
            fits = sub is not None and any(p.startswith(f"{top}.") and p.endswith(f".{sub}") for p in paths)
            if not fits:
                column = top
            elif path.endswith(f".{sub}"):
                column = path
            else:
                continue  # another field of the records: not read
            if column not in columns:
                columns.append(column)
        return columns

    def _json_rows(self, file: str) -> Iterator[tuple[int, dict | Dropped | None]]:
        """The rows of a JSON file (a list, or a list under ``records``), streamed with ijson:
        a 180 MB qa_pairs.json in FigureQA's layout took 898 MB loaded whole, 13 MB streamed, in the same
        time. A file cut short ends with a ``truncated_file`` drop after its complete rows."""
        prefix = f"{self.records}.item" if self.records else "item"
        index = -1
        with fsspec.open(file, "rb") as f:
            try:
                for index, row in enumerate(ijson.items(f, prefix, use_float=True)):
                    if index == 0:
                        self.check_fields(file, list(row) if isinstance(row, dict) else [])
                    yield index, row if isinstance(row, dict) else None
            except ijson.JSONError as error:
                if index < 0:
                    raise ValueError(f"{file}: not a JSON file ({error})") from None
                yield index + 1, Dropped("truncated_file", f"{file}: {error}")
        if index < 0:
            where = f"as a list under {self.records!r}" if self.records else "as a JSON list"
            raise ValueError(f"{file}: converter {self.name!r} expects its rows {where}; found none")
