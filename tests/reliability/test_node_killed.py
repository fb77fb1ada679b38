"""A node of a two-node local Ray cluster removed in the middle of the interleaved job and of the
pdf_ocr job: each job finishes on the node left, and its shards have the same sha256 as an
uninterrupted run with the local executor: nothing lost, nothing duplicated."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

import psutil
import pytest

from pipelines.executors import run_stages
from pipelines.interleaved import build_interleaved
from pipelines.pdf_ocr import build_pdf_ocr
from schemas.config import load_config
from schemas.config_interleaved import InterleavedConfig
from schemas.config_pdf import PdfOcrConfig
from schemas.validate import validate_dataset
from synth.demo.local_web import LocalWeb
from synth.demo.pdfs import PDFS, make_pdf
from synth.demo.warc_pack import demo_web_pages, pack_pages
from tests.helpers import shard_hashes

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

ON_RAY = ["executor.kind=ray", "executor.workers=-1", "executor.mem_per_cpu_gb=0.25"]
LOCAL = ["executor.kind=local", "executor.workers=1"]


@pytest.fixture
def cluster():
    """A head node and one worker node, one CPU each; the test may remove the worker node."""
    import ray
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        ray.shutdown()
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "object_store_memory": 200 * 2**20, "include_dashboard": False},
    )
    worker = cluster.add_node(num_cpus=1, object_store_memory=200 * 2**20)
    ray.init(address=cluster.address, log_to_driver=False)
    yield cluster, worker
    ray.shutdown()
    cluster.shutdown()


def running_on(node) -> list[psutil.Process]:
    """The task processes (datatrove's Ray rank workers) the node is running now."""
    raylet = node.all_processes["raylet"][0].process.pid
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            if " ".join(proc.info["cmdline"] or []).startswith("ray::RankWorker.run_for_rank"):
                if raylet in (parent.pid for parent in proc.parents()):
                    found.append(proc)
    return found


def run_removing_a_node(cluster, worker, stages, cfg, completions: Path) -> None:
    """Run ``stages`` on Ray in a thread; once a task of the stage has completed (a marker in
    ``completions``, whichever task: waiting for task 0's missed the worker's tasks now and then)
    and the worker node is running a task, remove that node, killing the task; then let the job
    finish on the head node."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            run_stages(stages, cfg.executor, cfg.dataset_dir, progress=False)
        except BaseException as error:  # surfaced below
            errors.append(error)

    # a daemon thread: should the test fail with the job still running, the interpreter must not
    # wait on it at exit (a job left on a Ray that the fixture shut down never returns)
    job = threading.Thread(target=run, daemon=True)
    job.start()
    deadline = time.monotonic() + 240
    caught = False
    while time.monotonic() < deadline and job.is_alive():
        # decided once: asking again after the loop raced the task's end (the worker done with its
        # task a moment later read as "never caught")
        caught = completions.is_dir() and any(completions.iterdir()) and bool(running_on(worker))
        if caught:
            break
        time.sleep(0.02)
    if caught:
        cluster.remove_node(worker)
    job.join(timeout=400)
    assert caught, "the worker node was never caught mid-task"
    assert not job.is_alive() and not errors, errors


def interleaved_config(out: Path, warcs: Path, port: int, *executor: str) -> InterleavedConfig:
    return load_config(
        InterleavedConfig,
        None,
        [
            f"output_dir={out}", "dataset=web", f"warcs=[{warcs}/*.warc.gz]", "executor.tasks=4",
            "fetch_images=true", "fetch.override_plain_http=true", "nsfw.enabled=false",
            f"fetch.resolver_override={{'*': '127.0.0.1:{port}'}}", "shards.max_samples=10", *executor,
        ],
    )  # fmt: skip


def test_interleaved_job_survives_a_removed_node(cluster, tmp_path):
    pages = demo_web_pages(copies=3)
    for part in range(4):
        pack_pages([(url, body) for _, url, body in pages[part::4]], tmp_path / f"p{part}.warc.gz")
    with LocalWeb() as web:
        reference = interleaved_config(tmp_path / "local", tmp_path, web.port, *LOCAL)
        run_stages(build_interleaved(reference), reference.executor, reference.dataset_dir, progress=False)
        cfg = interleaved_config(tmp_path / "ray", tmp_path, web.port, *ON_RAY)
        completions = Path(cfg.dataset_dir) / "_logs/extract/completions"
        run_removing_a_node(*cluster, build_interleaved(cfg), cfg, completions)
    assert shard_hashes(Path(cfg.dataset_dir)) == shard_hashes(Path(reference.dataset_dir))
    assert validate_dataset(cfg.dataset_dir).ok


def test_pdf_ocr_job_survives_a_removed_node(cluster, tmp_path):
    pdfs = tmp_path / "pdfs"  # the demo's PDFs drawn with five seeds: 30 files, as many as shared/data has
    pdfs.mkdir()
    for seed in range(5):
        for spec in PDFS:
            (pdfs / f"{seed}-{spec.name}").write_bytes(make_pdf(spec, seed))

    def config(out: Path, *executor: str) -> PdfOcrConfig:
        return load_config(
            PdfOcrConfig,
            None,
            [f"output_dir={out}", "dataset=pdf", f"pdfs=[{pdfs}]", "executor.tasks=4",
             "ocr.enabled=false", "shards.max_samples=10", *executor],
        )  # fmt: skip

    reference = config(tmp_path / "local", *LOCAL)
    run_stages(build_pdf_ocr(reference), reference.executor, reference.dataset_dir, progress=False)
    cfg = config(tmp_path / "ray", *ON_RAY)
    stages = build_pdf_ocr(cfg)
    completions = Path(cfg.dataset_dir) / f"_logs/{stages[0].name}/completions"
    run_removing_a_node(*cluster, stages, cfg, completions)
    assert shard_hashes(Path(cfg.dataset_dir)) == shard_hashes(Path(reference.dataset_dir))
    assert validate_dataset(cfg.dataset_dir).ok
