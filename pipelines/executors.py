"""Runs a job's stages with the executor the config names: local, ray or slurm.

Stages run one after another; each resumes where it stopped, because datatrove skips the tasks
whose completion marker exists. After a local or Ray stage, any task still without its marker
stops the job with the stage name and the folder holding its logs. Slurm stages are submitted
at once, chained with datatrove's ``depends``, and run later on the cluster.
"""

from __future__ import annotations

import os
import queue
import sys
from copy import deepcopy

from datatrove.executor import LocalPipelineExecutor
from datatrove.executor.base import PipelineExecutor
from datatrove.io import get_datafolder
from datatrove.utils.stats import PipelineStats
from loguru import logger

from pipelines.progress import StageProgress
from pipelines.stages import Stage
from pipelines.steps.heap import freeze_heap
from pipelines.steps.lifeline import die_with_parent
from schemas.config import ExecutorConfig

_SHARED_FS_WARNING = "Logging directory points to a local filesystem"


class StageFailed(RuntimeError):
    pass


def logging_dir(dataset_dir: str, stage: Stage) -> str:
    return f"{dataset_dir}/_logs/{stage.name}"


class LocalExecutor(LocalPipelineExecutor):
    """datatrove's local executor; with one worker it runs the tasks one after another in this
    process, as datatrove does, but without its ``multiprocess.Manager``. That manager is a server
    process, forked to hold the queue of free local ranks that only a pool of workers needs; while
    it lives, every page of this process that a task writes to is first copied (copy-on-write
    after the fork), and starting and stopping it costs about 25 ms a stage. The one-worker path
    below is datatrove 0.10's ``LocalPipelineExecutor.run`` (the version pyproject pins) with a
    plain queue in place of the manager's."""

    def run(self):
        if self.workers != 1 or self.depends:
            return super().run()
        self._launched = True
        ranks = range(self.local_rank_offset, self.local_rank_offset + self.local_tasks)
        if all(map(self.is_rank_completed, ranks)):
            logger.info(f"Not doing anything as all {self.local_tasks} tasks have already been completed.")
            return None
        self.save_executor_as_json()
        ranks_to_run = self.get_incomplete_ranks(ranks)
        if (skipped := self.local_tasks - len(ranks_to_run)) > 0:
            logger.info(f"Skipping {skipped} already completed tasks")
        free_ranks = queue.SimpleQueue()  # the one local rank, taken and given back by each task
        free_ranks.put(0)
        pipeline, stats = self.pipeline, []
        for rank in ranks_to_run:
            self.pipeline = deepcopy(pipeline)  # each task starts from fresh steps, as in datatrove
            stats.append(self._launch_run_for_rank(rank, free_ranks))
        merged = sum(stats, start=PipelineStats())
        with self.logging_dir.open("stats.json", "wt") as statsfile:
            merged.save_to_disk(statsfile)
        logger.success(merged.get_repr(f"All {self.local_tasks} tasks"))
        return merged


def make_executor(
    stage: Stage, cfg: ExecutorConfig, dataset_dir: str, depends: PipelineExecutor | None = None
):
    workers = stage.workers if stage.workers != -1 else cfg.workers
    pipeline = [die_with_parent, *stage.pipeline, freeze_heap]
    common = dict(pipeline=pipeline, tasks=stage.tasks, logging_dir=logging_dir(dataset_dir, stage))
    if cfg.kind == "local":
        return LocalExecutor(**common, workers=min(workers, stage.tasks) if workers > 0 else -1)
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
