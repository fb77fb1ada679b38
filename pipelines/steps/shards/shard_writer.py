"""The shard writer: documents -> WebDataset tar shards, cut by size and sample count.

Each task owns the shard names ``<dataset>-<rank>-*.tar``. A shard is written under a
``.tar.tmp-*`` name and renamed when complete, so a killed task leaves nothing that looks
finished; the re-run of that task first removes whatever its rank left behind and then writes
the same bytes again (tar headers carry no time, owner or order that could differ). When the
task ends it writes a small index of its shards (sha256, counts) that the finalize stage turns
into the manifest, so nothing is read twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import tarfile

from datatrove.data import DocumentsPipeline
from datatrove.io import DataFolderLike
from datatrove.pipeline.base import PipelineStep
from loguru import logger

from pipelines.steps import folder
from pipelines.steps.shards.samples import BadDocument, Sample, document_to_sample
from schemas.manifest import SHARDS_DIR, ShardEntry, shard_name
from schemas.records import StatKeys
from schemas.samples import count_words

SHARD_INDEX_DIR = "_stage/shard_index"


class OpenShard:
    """One tar shard being written: headers come from ``tarfile.TarInfo``; the member bytes are
    written as they are (no 16 KiB copy loop) and hashed on the way out, so the sha256 the
    manifest needs costs no second read. The layout is exactly what ``tarfile`` writes."""

    def __init__(self, folder, name: str):
        self.name = name
        # unique per attempt: a straggling duplicate of this task (a Ray retry racing an orphan)
        # never renames another attempt's half-written file; the last complete rename wins
        self.tmp_name = f"{name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
        self.path = folder.resolve_paths(self.tmp_name)
        self.raw = folder.open(self.tmp_name, "wb")
        self.sha256 = hashlib.sha256()
        self.size = 0
        self.samples = self.words = self.images = 0
        self.tokens: int | None = 0
        self.sources: dict[str, int] = {}  # samples per instruction source (meta.instruct_source)

    def _write(self, data: bytes) -> None:
        self.sha256.update(data)
        try:
            self.raw.write(data)
        except OSError as error:
            raise self._named(error) from error
        self.size += len(data)

    def _named(self, error: OSError) -> OSError:
        """A write error (ENOSPC, EIO, ...) carries no file name: name the shard being written."""
        return OSError(error.errno, f"{error.strerror} (writing shard {self.name})", self.path)

    def _member(self, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mode = 0o444
        info.mtime = 0
        self._write(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))
        self._write(data)
        if remainder := len(data) % tarfile.BLOCKSIZE:
            self._write(tarfile.NUL * (tarfile.BLOCKSIZE - remainder))

    def add(self, sample: Sample, tokens: int | None) -> None:
        self._member(f"{sample.key}.json", sample.json)
        for suffix, data in sample.images:
            self._member(f"{sample.key}.{suffix}", data)
        self.samples += 1
        self.words += count_words(sample.texts)
        self.images += len(sample.images)
        self.tokens = None if tokens is None or self.tokens is None else self.tokens + tokens

    def close(self) -> ShardEntry:
        # end-of-archive: two zero blocks, then zeros up to a whole record, as tarfile.close() does
        self._write(tarfile.NUL * (2 * tarfile.BLOCKSIZE))
        if remainder := self.size % tarfile.RECORDSIZE:
            self._write(tarfile.NUL * (tarfile.RECORDSIZE - remainder))
        try:
            self.raw.close()  # flushes the buffered tail: a full disk may show only here
        except OSError as error:
            raise self._named(error) from error
        return ShardEntry(
            url=f"{SHARDS_DIR}/{self.name}",
            nsamples=self.samples,
            filesize=self.size,
            sha256=self.sha256.hexdigest(),
            words=self.words,
            images=self.images,
            tokens=self.tokens,
            sources=self.sources or None,
        )


class ShardWriter(PipelineStep):
    """Writes the documents of one kind as WebDataset shards under ``<dataset_dir>/shards``.

    Args:
        dataset_dir: ``OUT/<dataset>`` (local path or fsspec URL)
        dataset: the dataset name used in shard names
        kind: sample kind (interleaved, pair, ocr, qa)
        max_bytes / max_samples: a shard is closed before it would pass either
        image_format / jpeg_quality: images in another format are re-encoded
        tokenizer: optional path of a ``tokenizer.json`` to count tokens
    """

    name = "🗃 Shard writer"
    type = "💽 - WRITER"

    def __init__(
        self,
        dataset_dir: DataFolderLike,
        dataset: str,
        kind: str,
        max_bytes: int = 1_000_000_000,
        max_samples: int = 10_000,
        image_format: str = "jpg",
        jpeg_quality: int = 90,
        tokenizer: str | None = None,
    ):
        super().__init__()
        self.dataset_dir = folder(dataset_dir)
        self.dataset = dataset
        self.kind = kind
        self.max_bytes = max_bytes
        self.max_samples = max_samples
        self.image_format = image_format
        self.jpeg_quality = jpeg_quality
        self.tokenizer_path = tokenizer

    def _clear_rank(self, rank: int) -> None:
        """Remove what an earlier, interrupted run of this rank left behind."""
        prefix = f"{self.dataset}-{rank:05d}-"
        for path in self.dataset_dir.list_files(SHARDS_DIR) if self.dataset_dir.isdir(SHARDS_DIR) else []:
            if path.rsplit("/", 1)[-1].startswith(prefix):
                self.dataset_dir.rm(path)
        index = f"{SHARD_INDEX_DIR}/{rank:05d}.json"
        if self.dataset_dir.exists(index):
            self.dataset_dir.rm(index)

    def _count_tokens(self, sample: Sample) -> int | None:
        if self._tokenizer is None:
            return None
        return (
            sum(len(encoding.ids) for encoding in self._tokenizer.encode_batch(sample.texts))
            if sample.texts
            else 0
        )

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        self._clear_rank(rank)
        self.dataset_dir.makedirs(SHARDS_DIR, exist_ok=True)
        shards_folder = folder(self.dataset_dir.resolve_paths(SHARDS_DIR))
        self._tokenizer = None
        if self.tokenizer_path:
            from tokenizers import Tokenizer

            self._tokenizer = Tokenizer.from_file(self.tokenizer_path)
        entries: list[ShardEntry] = []
        shard: OpenShard | None = None
        for document in data or []:
            with self.track_time():
                try:
                    sample = document_to_sample(document, self.kind, self.image_format, self.jpeg_quality)
                except BadDocument as error:
                    logger.warning(f"{error} (reason={error.reason}, skipped)")
                    self.stat_update(f"{StatKeys.DROPPED_PREFIX}{error.reason}")
                    continue
                if shard and (
                    shard.samples >= self.max_samples
                    or (shard.samples and shard.size + sample.nbytes > self.max_bytes)
                ):
                    entries.append(self._finish(shards_folder, shard))
                    shard = None
                if shard is None:
                    shard = OpenShard(shards_folder, shard_name(self.dataset, rank, len(entries)))
                shard.add(sample, self._count_tokens(sample))
                if source := (document.metadata.get("meta") or {}).get("instruct_source"):
                    shard.sources[source] = shard.sources.get(source, 0) + 1
                self.stat_update(StatKeys.SAMPLES)
                self.stat_update(StatKeys.IMAGES, value=len(sample.images))
                self.stat_update(StatKeys.IMAGES_REENCODED, value=sample.reencoded)
                self.update_doc_stats(document)
            yield document
        if shard is not None:
            entries.append(self._finish(shards_folder, shard))
        with self.dataset_dir.open(f"{SHARD_INDEX_DIR}/{rank:05d}.json", "w") as f:
            json.dump([entry.model_dump() for entry in entries], f, indent=1)

    def _finish(self, folder, shard: OpenShard) -> ShardEntry:
        entry = shard.close()
        folder.mv(shard.tmp_name, shard.name)
        self.stat_update(StatKeys.SHARDS)
        self.stat_update(StatKeys.BYTES, value=entry.filesize)
        return entry
