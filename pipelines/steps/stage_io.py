"""Staged Parquet: how documents rest between the stages of a job.

One row per datatrove ``Document``: ``id``, ``text``, ``metadata`` as JSON text, and ``media``
as a list of structs with the image bytes in a binary column. The schema is fixed (not inferred
from the first document) so that every task writes the same columns.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
from datatrove.data import Document, Media
from datatrove.io import DataFolderLike
from datatrove.pipeline.readers import ParquetReader
from datatrove.pipeline.writers import ParquetWriter

MEDIA_TYPE = pa.struct(
    [
        ("id", pa.string()),
        ("type", pa.int32()),
        ("url", pa.string()),
        ("alt", pa.string()),
        ("media_bytes", pa.binary()),
        ("metadata", pa.string()),
    ]
)
STAGE_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("text", pa.string()),
        ("metadata", pa.string()),
        ("media", pa.list_(MEDIA_TYPE)),
    ]
)


def document_to_row(document: Document) -> dict[str, Any]:
    return {
        "id": document.id,
        "text": document.text,
        "metadata": json.dumps(document.metadata, ensure_ascii=False, sort_keys=True),
        "media": [
            {
                "id": m.id,
                "type": m.type,
                "url": m.url,
                "alt": m.alt,
                "media_bytes": m.media_bytes,
                "metadata": json.dumps(m.metadata, ensure_ascii=False, sort_keys=True),
            }
            for m in document.media
        ],
    }


def row_to_document(row: dict[str, Any]) -> Document:
    return Document(
        text=row["text"] or "",
        id=row["id"],
        metadata=json.loads(row["metadata"]) if row["metadata"] else {},
        media=[
            Media(
                id=m["id"],
                type=m["type"],
                url=m["url"],
                alt=m["alt"],
                media_bytes=m["media_bytes"],
                metadata=json.loads(m["metadata"]) if m["metadata"] else {},
            )
            for m in row["media"] or []
        ],
    )


class StageWriter(ParquetWriter):
    """Writes documents, image bytes included, as staged Parquet under ``folder``."""

    name = "📦 Stage writer"

    def __init__(self, folder: DataFolderLike, batch_size: int = 256, max_file_size: int = 2 * 2**30):
        super().__init__(
            folder,
            output_filename="${rank}.parquet",
            compression=None,  # images are already compressed; CPU is better spent elsewhere
            adapter=lambda _self, document: document_to_row(document),
            batch_size=batch_size,
            max_file_size=max_file_size,
            schema=STAGE_SCHEMA,
            use_content_defined_chunking=False,
            write_page_index=False,
        )


class StageReader(ParquetReader):
    """Reads staged Parquet back into documents; input files are split among the tasks."""

    name = "📦 Stage reader"

    def __init__(self, folder: DataFolderLike, batch_size: int = 64, limit: int = -1, **kwargs: Any):
        super().__init__(folder, batch_size=batch_size, limit=limit, glob_pattern="*.parquet", **kwargs)

    def get_document_from_dict(self, data: dict, source_file: str, id_in_file: int | str) -> Document:
        return row_to_document(data)
