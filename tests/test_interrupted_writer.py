"""A shard writer killed with SIGKILL mid-shard leaves nothing that looks complete, and the
re-run writes byte-identical shards to an uninterrupted run."""

import os
import signal
import subprocess
import sys
import tarfile
import time

import pytest

from pipelines.staging import stage_documents
from schemas.validate import validate_dataset
from synth.demo.documents import make_documents
from tests.helpers import pack, shard_hashes

ARGS = ["kind=ocr", "dataset=ocr", "shards.max_samples=10", "executor.tasks=1", "executor.workers=1"]


def run_cli(input_dir, out):
    cmd = [
        sys.executable,
        "-m",
        "pipelines.cli",
        "run",
        "pack",
        "--no-progress",
        f"input={input_dir}",
        f"output_dir={out}",
        *ARGS,
    ]
    return subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_sigkill_mid_shard_then_rerun(tmp_path):
    # PNG pages re-encoded to JPEG: slow enough (~10 ms a page) to catch a shard half written
    stage_documents(make_documents("ocr", 150, fmt="png", size=(900, 1200)), str(tmp_path / "in"), files=1)
    reference = pack(tmp_path / "in", tmp_path / "reference", "ocr", "ocr", *ARGS)

    shards = tmp_path / "killed" / "ocr" / "shards"
    proc = run_cli(tmp_path / "in", tmp_path / "killed")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if list(shards.glob("*.tar")) and list(shards.glob("*.tar.tmp-*")):
            break
        time.sleep(0.005)
    else:
        proc.kill()
        pytest.fail("the writer never had a shard in progress")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)

    assert not (tmp_path / "killed" / "ocr" / "manifest.json").exists()
    complete = list(shards.glob("*.tar"))
    assert complete and list(shards.glob("*.tar.tmp-*"))
    for path in complete:  # every file named .tar is a whole shard
        with tarfile.open(path) as tar:
            assert len([m for m in tar.getmembers() if m.name.endswith(".json")]) == 10
    assert not validate_dataset(str(tmp_path / "killed" / "ocr")).ok

    assert run_cli(tmp_path / "in", tmp_path / "killed").wait(timeout=240) == 0
    assert shard_hashes(tmp_path / "killed" / "ocr") == shard_hashes(reference)
    assert validate_dataset(str(tmp_path / "killed" / "ocr")).ok
