"""Write documents made in memory (synthetic corpora, tests) as a staged Parquet folder."""

from __future__ import annotations

from collections.abc import Iterable

from datatrove.data import Document

from pipelines.steps.stage_io import StageWriter


def stage_documents(documents: Iterable[Document], folder: str, files: int = 1) -> None:
    """Spread ``documents`` round-robin over ``files`` Parquet files (00000.parquet, ...)."""
    documents = list(documents)
    for rank in range(files):
        with StageWriter(folder) as writer:
            for document in documents[rank::files]:
                writer.write(document, rank)
