"""``vlmdata import cauldron PATH``: The Cauldron-format parquet -> ``qa`` shards.

The Cauldron (HuggingFaceM4/the_cauldron, the instruction data of Idefics2) publishes one parquet
folder per subset, each row with ``images`` (a list of ``{bytes, path}``, the Hugging Face Image
feature) and ``texts`` (a list of ``{user, assistant, source}`` turns). ``CauldronReader`` turns
each row into a ``qa`` document: the images in order, the turns as they are (a turn without
``source`` gets ``source``, else the subset's folder name), provenance ``<file>#row=<n>`` in
``source`` and the image paths in ``meta.images``. The shared shard tail (pipelines/pack.py) then writes
shards and a manifest like every job's, so a trainer mixes public data with ours through the
same manifests. Rows without images become text-only samples (counted ``text_only``). Rows that
cannot become a sample are dropped and counted: ``image_without_bytes``, ``no_turns`` (no turn
with both a user and an assistant text). ``governance`` (decontamination against evaluation
sets, PII placeholders) runs before the shard writer.
"""

from __future__ import annotations

import glob
import os
from typing import Any

import fsspec
import pyarrow.parquet as pq
from datatrove.data import Document, DocumentsPipeline, Media, MediaType
from datatrove.pipeline.base import PipelineStep

from pipelines.governance import governance_steps
from pipelines.pack import shard_stages
from schemas.config import ConfigError
from schemas.config_docmatix import CauldronImportConfig


def list_parquet(inputs: list[str]) -> list[str]:
    """Parquet files of files, folders (recursively) and globs, sorted, on any fsspec filesystem."""
    return list_files(inputs, (".parquet",))


def list_files(inputs: list[str], suffixes: tuple[str, ...]) -> list[str]:
    """Files of files, folders (searched recursively for ``suffixes``) and globs, sorted, on any
    fsspec filesystem."""
    files: list[str] = []
    for item in inputs:
        fs, path = fsspec.core.url_to_fs(item)
        protocol = item.split("://")[0] + "://" if "://" in item else ""
        if glob.has_magic(path):
            found = [p for p in fs.glob(path) if fs.isfile(p)]
        elif fs.isdir(path):
            found = [p for p in fs.find(path) if p.endswith(suffixes)]
        elif fs.isfile(path):
            found = [path]
        else:
            raise ConfigError(f"input: {item!r} does not exist")
        if not found:
            raise ConfigError(f"input: {item!r} holds no {' / '.join(suffixes)} file")
        files += [protocol + p for p in found]
    return sorted(set(files))


def _turns(texts: Any, default_source: str) -> list[dict[str, str]]:
    turns = []
    for turn in texts or []:
        if not isinstance(turn, dict):
            continue
        user, assistant = turn.get("user") or "", turn.get("assistant") or ""
        if user.strip() and assistant.strip():
            turns.append(
                {"user": user, "assistant": assistant, "source": turn.get("source") or default_source}
            )
    return turns


class CauldronReader(PipelineStep):
    """Rows of The Cauldron-format parquet files -> ``qa`` documents; files split among tasks."""

    name = "🍲 Cauldron reader"
    type = "📖 - READER"

    def __init__(
        self, files: list[str], images_column: str = "images", texts_column: str = "texts", source=None
    ):
        super().__init__()
        self.files = files
        self.images_column = images_column
        self.texts_column = texts_column
        self.source = source

    def _document(self, file: str, index: int, images: Any, texts: Any) -> Document | str:
        images = images or []  # none: a text-only sample
        if any(not (image or {}).get("bytes") for image in images):
            return "image_without_bytes"
        default_source = self.source or os.path.basename(os.path.dirname(file.split("://")[-1])) or "cauldron"
        turns = _turns(texts, default_source)
        if not turns:
            return "no_turns"
        stem = os.path.basename(file).removesuffix(".parquet")
        parent = os.path.basename(os.path.dirname(file.split("://")[-1]))
        media = [  # the image's path in the data set, if any, lands in meta.images[i].url
            Media(
                id=f"{index}-{i}",
                type=MediaType.IMAGE,
                url=image.get("path") or "",
                media_bytes=image["bytes"],
            )
            for i, image in enumerate(images)
        ]
        meta: dict[str, Any] = {"cauldron_file": f"{parent}/{stem}.parquet", "row": index}
        return Document(
            text="",
            id=f"{parent}-{stem}-{index:08d}",
            media=media,
            metadata={"qa": turns, "source": f"{file}#row={index}", "meta": meta},
        )

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for file in self.files[rank::world_size]:
            with fsspec.open(file, "rb") as f:
                parquet = pq.ParquetFile(f)
                names = parquet.schema_arrow.names
                for column in (self.images_column, self.texts_column):
                    if column not in names:
                        raise ValueError(
                            f"{file}: no column {column!r} (columns: {names}); set images_column/texts_column"
                        )
                index = 0
                for batch in parquet.iter_batches(
                    batch_size=64, columns=[self.images_column, self.texts_column]
                ):
                    for images, texts in zip(
                        batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True
                    ):
                        with self.track_time():
                            document = self._document(file, index, images, texts)
                        index += 1
                        if isinstance(document, str):
                            self.stat_update(f"dropped_{document}")
                            continue
                        self.stat_update("rows_read", "text_only" if not document.media else "with_images")
                        self.update_doc_stats(document)
                        yield document


def build_cauldron_import(cfg: CauldronImportConfig):
    if not cfg.input:
        raise ConfigError(
            "input: give The Cauldron parquet files, folders or globs (vlmdata import cauldron PATH)"
        )
    files = list_parquet(cfg.input)
    reader = CauldronReader(files, cfg.images_column, cfg.texts_column, cfg.source)
    steps = governance_steps(cfg, "write_shards", "all")
    return shard_stages(cfg, "qa", reader, tasks=min(cfg.executor.tasks, len(files)), steps=steps)
