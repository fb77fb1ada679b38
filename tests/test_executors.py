"""The local executor: one worker runs its tasks in this process with no helper process and a
frozen start-up heap; more workers go to datatrove's pool of child processes."""

import gc
import json
import os

import multiprocess
import pytest
from datatrove.pipeline.base import PipelineStep

from pipelines.executors import run_stages
from pipelines.stages import Stage
from schemas.config import ExecutorConfig
from schemas.records import step_stats

pytestmark = pytest.mark.timeout(120)


def record_task(folder: str):
    """A pipeline callable writing, per task, where it ran and what the process looked like."""

    def step(data, rank: int = 0, world_size: int = 1):  # runs as the task pulls documents
        seen = {
            "pid": os.getpid(),
            "children": len(multiprocess.active_children()),
            "frozen": gc.get_freeze_count(),
        }
        with open(f"{folder}/task-{rank}.json", "w") as out:
            json.dump(seen, out)
        yield from data or ()

    return step


class CountTasks(PipelineStep):
    """Counts the tasks it runs in, so the merged stats.json shows every task's stats."""

    name = "Task counter"

    def run(self, data, rank: int = 0, world_size: int = 1):
        self.stat_update("tasks")
        yield from data or ()


def run(tmp_path, workers: int, tasks: int = 3) -> dict[int, dict]:
    seen = tmp_path / "seen"
    seen.mkdir(exist_ok=True)
    stage = Stage("probe", [record_task(str(seen)), CountTasks()], tasks)
    run_stages([stage], ExecutorConfig(kind="local", workers=workers), str(tmp_path / "job"), progress=False)
    return {int(p.stem.split("-")[1]): json.loads(p.read_text()) for p in seen.glob("task-*.json")}


def test_one_worker_runs_tasks_here_without_a_manager_process(tmp_path):
    seen = run(tmp_path, workers=1)
    assert sorted(seen) == [0, 1, 2]
    for task in seen.values():
        assert task["pid"] == os.getpid()
        assert task["children"] == 0  # datatrove's executor keeps a Manager server alive here
        assert task["frozen"] > 1000  # modules and config are out of the collector's way
    assert gc.get_freeze_count() == 0  # and back in it once the tasks are done
    logs = tmp_path / "job" / "_logs" / "probe"
    assert sorted(p.name for p in (logs / "completions").iterdir()) == ["00000", "00001", "00002"]
    assert step_stats(json.loads((logs / "stats.json").read_text()), "Task counter")["tasks"] == 3
    # a second run finds every task complete and runs none
    for path in (tmp_path / "seen").iterdir():
        path.unlink()
    assert run(tmp_path, workers=1) == {}


def test_one_worker_runs_only_the_tasks_left(tmp_path):
    run(tmp_path, workers=1)
    (tmp_path / "job" / "_logs" / "probe" / "completions" / "00001").unlink()
    for path in (tmp_path / "seen").iterdir():
        path.unlink()
    assert sorted(run(tmp_path, workers=1)) == [1]


def test_two_workers_run_tasks_in_child_processes(tmp_path):
    seen = run(tmp_path, workers=2)
    assert sorted(seen) == [0, 1, 2]
    assert all(task["pid"] != os.getpid() for task in seen.values())
