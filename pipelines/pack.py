"""The ``pack`` job, and the two stages every job ends with: write shards, then finalize.

``pack`` reads staged documents (Parquet, as the stages of every job leave them) and writes
them as shards of one kind. The other jobs call ``shard_stages`` for their tail.
"""

from __future__ import annotations

from datatrove.pipeline.base import PipelineStep

from pipelines.stages import Stage
from pipelines.steps import folder
from pipelines.steps.shards.finalize import FinalizeShards
from pipelines.steps.shards.shard_writer import ShardWriter
from pipelines.steps.stage_io import StageReader
from schemas.config import ConfigError, JobConfig, PackConfig


def shard_stages(
    cfg: JobConfig, kind: str, reader: PipelineStep, tasks: int | None = None, steps: list[PipelineStep] = ()
) -> list[Stage]:
    """write_shards (``tasks`` tasks reading with ``reader``, then ``steps``, e.g. governance
    filters, then the writer) and a one-task finalize."""
    tasks = tasks or cfg.executor.tasks
    writer = ShardWriter(
        cfg.dataset_dir,
        cfg.dataset,
        kind,
        max_bytes=cfg.shards.max_bytes,
        max_samples=cfg.shards.max_samples,
        image_format=cfg.shards.image_format,
        jpeg_quality=cfg.shards.jpeg_quality,
        tokenizer=cfg.shards.tokenizer,
    )
    finalize = FinalizeShards(
        cfg.dataset_dir, cfg.dataset, kind, writer_tasks=tasks, config=cfg.model_dump(mode="json")
    )
    return [Stage("write_shards", [reader, *steps, writer], tasks), Stage("finalize", [finalize], 1)]


def build_pack(cfg: PackConfig) -> list[Stage]:
    inputs = folder(cfg.input)
    if not inputs.isdir("") or not inputs.list_files(glob_pattern="*.parquet"):
        raise ConfigError(f"input={cfg.input}: no staged Parquet files (*.parquet) there")
    return shard_stages(cfg, cfg.kind, StageReader(cfg.input))
