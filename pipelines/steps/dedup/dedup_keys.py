"""Key rows: the small signature rows that global dedup decisions are made from (DESIGN.md
"Engine": a stage writes signature rows, a global stage hash-partitions them and writes drop
lists, the next stage applies them while streaming).

A key row says "item ``ref`` has key ``key`` of kind ``kind``": a document has its URL key, its
MinHash band keys, its image-set key, one key per paragraph; an image has its sha256 key and its
perceptual-hash band keys. ``date`` orders the members of a group (the newest is kept), ``value``
carries what a decision needs besides the key (the page whose image URL this is, a perceptual
hash to verify), ``detail`` what verifies a perceptual hash beyond its band (the crop's chroma
thumbnail and the content-box hash, ``Signature.detail``; empty for other kinds), and ``origin`` is the rank of the task that read the item, so drop lists can be
written per task and each applying task reads only its own.

Rows are written to ``<folder>/p<partition:05d>/<rank:05d>.parquet``, the partition being the key
modulo the number of partitions: every row of one key lands in one partition, so one task of the
grouping stage sees a whole group. A task writes all its partition files, empty ones included.

Refs are stable 63-bit hashes (``stable_hash``) of a document id (``doc_ref``) or of a document id
and an image index (``image_ref``): an applying task recomputes them from the documents it reads.
"""

from __future__ import annotations

import hashlib
from array import array
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import Document
from datatrove.io import DataFolder

from filters.dedup.image_signature import DETAIL_BYTES

# Kinds of keys (a uint8 column); the names are also the reasons of the drops they cause.
KIND_NAMES = {
    1: "duplicate_url",
    2: "near_duplicate",  # MinHash LSH band
    3: "duplicate_image_set",
    4: "frequent_image_url",
    5: "repeated_paragraph",
    6: "duplicate_image",  # sha256 of the stored bytes
    7: "near_duplicate_image",  # perceptual hash band, verified by Hamming distance
}
URL, MINHASH, IMAGE_SET, IMAGE_URL, PARAGRAPH, IMAGE_SHA256, IMAGE_PHASH = range(1, 8)

KEY_SCHEMA = pa.schema(
    [
        ("kind", pa.uint8()),
        ("key", pa.uint64()),
        ("ref", pa.uint64()),
        ("date", pa.int64()),
        ("value", pa.uint64()),
        ("detail", pa.binary()),
        ("origin", pa.int32()),
    ]
)
MASK63 = (1 << 63) - 1
NO_DETAIL = b""
NUMBER_COLUMNS = ("kind", "key", "ref", "date", "value")  # the buffered columns before ``detail``


def stable_hash(text: str) -> int:
    """A 63-bit hash that is the same in every process and on every machine."""
    return (
        int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest())
        & MASK63
    )


def doc_ref(doc: Document) -> int:
    return stable_hash(doc.id)


def image_ref(doc: Document, index: int) -> int:
    return stable_hash(f"{doc.id}#{index}")


def doc_date(doc: Document) -> int:
    """The document's WARC-Date as epoch seconds (0 when absent or unreadable: oldest)."""
    raw = doc.metadata.get("warc_date") or doc.metadata.get("date")
    if not raw:
        return 0
    try:
        return int(datetime.fromisoformat(str(raw).replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0


class KeyRowsWriter:
    """Buffers key rows per partition in compact arrays and appends them to each partition's file
    of this task; bounded memory whatever the number of rows."""

    def __init__(self, folder: DataFolder, partitions: int, rank: int, flush_rows: int = 1 << 18):
        self.folder = folder
        self.partitions = partitions
        self.rank = rank
        self.flush_rows = flush_rows
        self.buffers = [self._empty() for _ in range(partitions)]
        self.writers: list[pq.ParquetWriter | None] = [None] * partitions
        self.files: list = [None] * partitions
        self.rows = 0

    @staticmethod
    def _empty() -> dict[str, array]:
        return {
            "kind": array("B"),
            "key": array("Q"),
            "ref": array("Q"),
            "date": array("q"),
            "value": array("Q"),
            "detail": bytearray(),
            "detail_offsets": array("i", [0]),
        }

    def add(
        self, kind: int, key: int, ref: int, date: int = 0, value: int = 0, detail: bytes = NO_DETAIL
    ) -> None:
        partition = key % self.partitions
        buffer = self.buffers[partition]
        buffer["kind"].append(kind)
        buffer["key"].append(key)
        buffer["ref"].append(ref)
        buffer["date"].append(date)
        buffer["value"].append(value)
        buffer["detail"] += detail
        buffer["detail_offsets"].append(len(buffer["detail"]))
        self.rows += 1
        if len(buffer["key"]) >= self.flush_rows:
            self._flush(partition)

    def _writer(self, partition: int) -> pq.ParquetWriter:
        if self.writers[partition] is None:
            self.files[partition] = self.folder.open(f"p{partition:05d}/{self.rank:05d}.parquet", "wb")
            self.writers[partition] = pq.ParquetWriter(self.files[partition], KEY_SCHEMA)
        return self.writers[partition]

    def _flush(self, partition: int) -> None:
        buffer = self.buffers[partition]
        rows = len(buffer["key"])
        numbers = [pa.array(buffer[name], type=KEY_SCHEMA.field(name).type) for name in NUMBER_COLUMNS]
        detail = pa.BinaryArray.from_buffers(
            pa.binary(),
            rows,
            [None, pa.py_buffer(buffer["detail_offsets"]), pa.py_buffer(bytes(buffer["detail"]))],
        )
        origin = pa.array([self.rank] * rows, type=pa.int32())
        table = pa.Table.from_arrays([*numbers, detail, origin], schema=KEY_SCHEMA)
        self._writer(partition).write_table(table)
        self.buffers[partition] = self._empty()

    def close(self) -> None:
        for partition in range(self.partitions):
            if len(self.buffers[partition]["key"]) or self.writers[partition] is None:
                self._flush(partition)  # an empty file too: the partition's reader expects one per task
            self.writers[partition].close()
            self.files[partition].close()


def read_partition(folder: DataFolder, partition: int) -> pa.Table:
    """All key rows of one partition, from every task that wrote some."""
    prefix = f"p{partition:05d}"
    tables = [KEY_SCHEMA.empty_table()]
    if folder.isdir(prefix):
        for path in sorted(folder.list_files(prefix, glob_pattern="*.parquet")):
            with folder.open(path, "rb") as f:
                tables.append(pq.read_table(f, schema=KEY_SCHEMA))
    return pa.concat_tables(tables)


def detail_matrix(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """The ``detail`` values of rows that all carry one (perceptual-hash rows) as a
    [rows, DETAIL_BYTES] uint8 array."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if not len(array):
        return np.zeros((0, DETAIL_BYTES), dtype=np.uint8)
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int32)[array.offset : array.offset + len(array) + 1]
    if not np.all(np.diff(offsets) == DETAIL_BYTES):
        raise ValueError(f"key rows: detail values must have {DETAIL_BYTES} bytes each")
    data = np.frombuffer(array.buffers()[2], dtype=np.uint8)
    return data[offsets[0] : offsets[-1]].reshape(len(array), DETAIL_BYTES)
