"""Runs a job's stages with the executor the config names: local, ray or slurm.

Stages run one after another; each resumes where it stopped, because datatrove skips the tasks
whose completion marker exists. After a local or Ray stage, any task still without its marker
stops the job with the stage name and the folder holding its logs. Slurm stages are submitted
at once, chained with datatrove's ``depends``, and run later on the cluster.
"""

from __future__ import annotations

import os
import sys

from datatrove.executor import LocalPipelineExecutor
from datatrove.executor.base import PipelineExecutor
from datatrove.io import get_datafolder
from loguru import logger

from pipelines.progress import StageProgress
from pipelines.stages import Stage
from pipelines.steps.lifeline import die_with_parent
from schemas.config import ExecutorConfig

_SHARED_FS_WARNING = "Logging directory points to a local filesystem"


class StageFailed(RuntimeError):
    pass


def logging_dir(dataset_dir: str, stage: Stage) -> str:
    return f"{dataset_dir}/_logs/{stage.name}"


def make_executor(
    stage: Stage, cfg: ExecutorConfig, dataset_dir: str, depends: PipelineExecutor | None = None
):
    workers = stage.workers if stage.workers != -1 else cfg.workers
    pipeline = [die_with_parent, *stage.pipeline]
    common = dict(pipeline=pipeline, tasks=stage.tasks, logging_dir=logging_dir(dataset_dir, stage))
    if cfg.kind == "local":
        return LocalPipelineExecutor(**common, workers=min(workers, stage.tasks) if workers > 0 else -1)
    if cfg.kind == "ray":
        from datatrove.executor.ray import RayPipelineExecutor

        return RayPipelineExecutor(
            **common,
            workers=workers,
            cpus_per_task=cfg.cpus_per_task,
            mem_per_cpu_gb=cfg.mem_per_cpu_gb,
            gpus_per_task=stage.options.get("gpus_per_task", 0),
        )
    if cfg.kind == "slurm":
        from datatrove.executor.slurm import SlurmPipelineExecutor

        return SlurmPipelineExecutor(
            **common,
            workers=workers,
            depends=depends,
            job_name=stage.name,
            partition=cfg.slurm.partition,
            time=cfg.slurm.time,
            cpus_per_task=cfg.slurm.cpus_per_task,
            mem_per_cpu_gb=cfg.slurm.mem_per_cpu_gb,
            qos=cfg.slurm.qos,
        )
    raise ValueError(f"unknown executor {cfg.kind!r}")


def init_ray(address: str | None) -> None:
    """Join the cluster at ``address`` (or ``RAY_ADDRESS``), else start an embedded local Ray."""
    import ray

    if not ray.is_initialized():
        ray.init(address=address or None, include_dashboard=False, log_to_driver=False)


def configure_logging(level: str, cfg: ExecutorConfig | None = None) -> None:
    """Driver-side logging: datatrove's per-step statistics are INFO (and always in
    ``_logs/<stage>/``), so the default WARNING keeps the terminal to progress bars and results.

    On an embedded Ray every worker shares this machine's disk, so datatrove's warning that a
    local logging directory must be shared across nodes does not apply and is silenced."""
    embedded = not ((cfg is not None and cfg.ray_address) or os.environ.get("RAY_ADDRESS"))
    logger.remove()
    logger.add(
        sys.stderr,
        level=level.upper(),
        filter=lambda record: not (embedded and _SHARED_FS_WARNING in record["message"]),
    )


def run_stages(stages: list[Stage], cfg: ExecutorConfig, dataset_dir: str, progress: bool = True) -> None:
    if cfg.kind == "slurm":
        previous = None
        for stage in stages:
            previous = make_executor(stage, cfg, dataset_dir, depends=previous)
        previous.run()  # submits the whole chain
        return
    if cfg.kind == "ray":
        init_ray(cfg.ray_address)
    for stage in stages:
        executor = make_executor(stage, cfg, dataset_dir)
        with StageProgress(
            get_datafolder(logging_dir(dataset_dir, stage)), stage.name, stage.tasks, progress
        ):
            try:
                executor.run()
            except Exception as error:
                # a full disk raises ENOSPC from write(), which names no file: say where it wrote
                unnamed = isinstance(error, OSError) and not error.filename
                where = f" (writing under {dataset_dir})" if unnamed else ""
                raise StageFailed(
                    f"stage {stage.name} failed: {error}{where}; "
                    f"task logs are in {logging_dir(dataset_dir, stage)}/logs"
                ) from error
        if missing := executor.get_incomplete_ranks(skip_completed=True):
            raise StageFailed(
                f"stage {stage.name}: tasks {missing[:10]}{'...' if len(missing) > 10 else ''} did not complete; "
                f"see {logging_dir(dataset_dir, stage)}/logs, then run the same command again to resume"
            )
