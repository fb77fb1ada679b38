"""The job registry: the names ``vlmdata run`` accepts, their config model and stage builder."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pipelines.interleaved import build_interleaved
from pipelines.pack import build_pack
from pipelines.stages import Stage
from schemas.config import InterleavedConfig, JobConfig, PackConfig


@dataclass(frozen=True)
class Job:
    name: str
    summary: str
    config_model: type[JobConfig]
    build: Callable[[JobConfig], list[Stage]]


JOBS: dict[str, Job] = {
    job.name: job
    for job in [
        Job(
            "interleaved",
            "WARC pages -> OBELICS-style interleaved documents (extraction, node and document filters)",
            InterleavedConfig,
            build_interleaved,
        ),
        Job(
            "pack",
            "staged Parquet documents of one kind -> shards, manifest.json, sizes.json",
            PackConfig,
            build_pack,
        ),
    ]
}
