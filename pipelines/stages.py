"""A job is a chain of stages; a stage is a list of datatrove steps run over N tasks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from datatrove.pipeline.base import PipelineStep


@dataclass
class Stage:
    name: str  # also the folder name under _logs/, _stage/ and _excluded/
    pipeline: list[PipelineStep]
    tasks: int
    workers: int = -1
    options: dict[str, Any] = field(default_factory=dict)  # e.g. gpus_per_task for GPU stages
