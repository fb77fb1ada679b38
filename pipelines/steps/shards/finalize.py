"""The finalize stage (one task): every shard exists -> ``manifest.json`` and ``sizes.json``.

It reads the small per-rank shard indexes the writers left, checks each listed shard is on disk
with its size, removes shard files no index lists (left by an earlier run with other settings),
and writes the manifest and sizes under temporary names, renamed at the end. A reader that finds
``manifest.json`` can trust every shard it lists.
"""

from __future__ import annotations

import json
from typing import Any

from datatrove.data import DocumentsPipeline
from datatrove.io import DataFolderLike
from datatrove.pipeline.base import PipelineStep
from loguru import logger

from pipelines.steps import folder
from pipelines.steps.shards.shard_writer import SHARD_INDEX_DIR
from pipelines.versions import versions
from schemas.manifest import MANIFEST, SHARDS_DIR, SIZES, Manifest, ShardEntry, sizes_json, totals_of
from schemas.records import StatKeys


class IncompleteShards(RuntimeError):
    pass


class FinalizeShards(PipelineStep):
    """Writes the manifest once all ``writer_tasks`` writer tasks have left their index."""

    name = "🧾 Finalize shards"
    type = "💽 - WRITER"

    def __init__(
        self, dataset_dir: DataFolderLike, dataset: str, kind: str, writer_tasks: int, config: dict[str, Any]
    ):
        super().__init__()
        self.dataset_dir = folder(dataset_dir)
        self.dataset = dataset
        self.kind = kind
        self.writer_tasks = writer_tasks
        self.config = config

    def _read_indexes(self) -> list[ShardEntry]:
        entries: list[ShardEntry] = []
        missing = [
            r
            for r in range(self.writer_tasks)
            if not self.dataset_dir.exists(f"{SHARD_INDEX_DIR}/{r:05d}.json")
        ]
        if missing:
            raise IncompleteShards(
                f"{self.dataset_dir.path}: shard writer tasks {missing} left no index; "
                "run the job again to finish them"
            )
        for rank in range(self.writer_tasks):
            with self.dataset_dir.open(f"{SHARD_INDEX_DIR}/{rank:05d}.json") as f:
                entries += [ShardEntry.model_validate(row) for row in json.load(f)]
        return sorted(entries, key=lambda e: e.url)

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        entries = self._read_indexes()
        listed = {e.url for e in entries}
        on_disk = (
            set(self.dataset_dir.list_files(SHARDS_DIR)) if self.dataset_dir.isdir(SHARDS_DIR) else set()
        )
        for entry in entries:
            if entry.url not in on_disk or self.dataset_dir.size(entry.url) != entry.filesize:
                raise IncompleteShards(
                    f"{self.dataset_dir.path}/{entry.url}: listed by its writer but missing or resized"
                )
        for stray in sorted(on_disk - listed):
            logger.warning(f"{self.dataset_dir.path}/{stray}: not written by this run, removed")
            self.dataset_dir.rm(stray)
        manifest = Manifest(
            name=self.dataset,
            kind=self.kind,
            shardlist=entries,
            totals=totals_of(entries),
            config=self.config,
            versions=versions(),
        )
        for name, text in ((SIZES, sizes_json(manifest)), (MANIFEST, manifest.to_json())):
            with self.dataset_dir.open(name + ".tmp", "w") as f:
                f.write(text)
            self.dataset_dir.mv(name + ".tmp", name)
        self.stat_update(StatKeys.SHARDS, value=manifest.totals.shards)
        self.stat_update(StatKeys.SAMPLES, value=manifest.totals.samples)
        logger.info(
            f"{self.dataset_dir.path}/{MANIFEST}: {manifest.totals.shards} shards, "
            f"{manifest.totals.samples} samples, {manifest.totals.bytes / 1e6:.1f} MB"
        )
        return
        yield
