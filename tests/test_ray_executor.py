"""Ray execution on a two-node local cluster: same shards as the local executor, and a worker
killed with SIGKILL mid-task is retried into byte-identical shards."""

import os
import signal
import threading
import time

import psutil
import pytest

from pipelines.staging import stage_documents
from schemas.validate import validate_dataset
from synth.demo.documents import make_documents
from tests.helpers import pack, shard_hashes

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

# every task may run at once; each reserves little memory so both nodes take tasks
ON_RAY = ("executor.kind=ray", "executor.workers=-1", "executor.mem_per_cpu_gb=0.25")


@pytest.fixture(scope="module")
def two_node_cluster():
    import ray
    from ray.cluster_utils import Cluster

    if ray.is_initialized():  # an embedded Ray left by another test
        ray.shutdown()
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "object_store_memory": 200 * 2**20, "include_dashboard": False},
    )
    cluster.add_node(num_cpus=1, object_store_memory=200 * 2**20)
    ray.init(address=cluster.address, log_to_driver=False)
    assert len([n for n in ray.nodes() if n["Alive"]]) == 2
    yield cluster
    ray.shutdown()
    cluster.shutdown()


def test_two_nodes_write_the_same_shards_as_local(two_node_cluster, tmp_path):
    stage_documents(make_documents("interleaved", 60), str(tmp_path / "in"), files=4)
    args = ("interleaved", "web", "executor.tasks=4", "shards.max_samples=7")
    local = pack(tmp_path / "in", tmp_path / "local", *args)
    on_ray = pack(tmp_path / "in", tmp_path / "ray", *args, *ON_RAY)
    assert shard_hashes(on_ray) == shard_hashes(local)
    assert validate_dataset(str(on_ray)).ok
    # a re-run finds every task complete and leaves the shards alone
    before = {p: p.stat().st_mtime_ns for p in (on_ray / "shards").iterdir()}
    pack(tmp_path / "in", tmp_path / "ray", *args, *ON_RAY)
    assert {p: p.stat().st_mtime_ns for p in (on_ray / "shards").iterdir()} == before


def rank_workers() -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if cmdline.startswith("ray::RankWorker.run_for_rank"):  # an actor executing a task
            found.append(proc)
    return found


def test_worker_killed_mid_task_is_retried(two_node_cluster, tmp_path):
    stage_documents(make_documents("ocr", 120, fmt="png", size=(900, 1200)), str(tmp_path / "in"), files=2)
    args = ["executor.tasks=2", "shards.max_samples=10"]
    reference = pack(tmp_path / "in", tmp_path / "reference", "ocr", "ocr", *args)

    errors = []

    def run():
        try:
            pack(
                tmp_path / "in",
                tmp_path / "ray",
                "ocr",
                "ocr",
                *args,
                *ON_RAY,
            )
        except Exception as error:  # surfaced below
            errors.append(error)

    job = threading.Thread(target=run)
    job.start()
    shards = tmp_path / "ray" / "ocr" / "shards"
    deadline = time.monotonic() + 120
    killed = None
    while time.monotonic() < deadline and killed is None:
        workers = rank_workers()
        if workers and list(shards.glob("*.tar")) and list(shards.glob("*.tmp-*")):
            killed = workers[0]
            os.kill(killed.pid, signal.SIGKILL)
        time.sleep(0.01)
    assert killed is not None, "no Ray worker was caught mid-task"
    job.join(timeout=240)
    assert not job.is_alive() and not errors, errors
    assert shard_hashes(tmp_path / "ray" / "ocr") == shard_hashes(reference)
    assert validate_dataset(str(tmp_path / "ray" / "ocr")).ok
