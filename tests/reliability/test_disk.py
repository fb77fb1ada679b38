"""Unwritable output: a full disk (a tiny tmpfs) or a read-only one. The job stops with a
message naming the path, leaves no shard that looks complete and no manifest; once space is
freed (the tmpfs grown) or the disk writable again, the same command finishes the job with
the shards of an uninterrupted run. Needs root and mount(2) (tmpfs); skipped elsewhere."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.staging import stage_documents
from schemas.validate import validate_dataset
from synth.demo.documents import make_documents
from tests.helpers import REPO, pack, shard_hashes

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

ARGS = [
    "kind=ocr",
    "dataset=ocr",
    "shards.max_samples=10",
    "executor.kind=local",
    "executor.tasks=2",
    "executor.workers=1",
]


@pytest.fixture
def tmpfs(tmp_path):
    """mount(size) mounts a tmpfs of ``size`` at tmp_path/out; remount(options) changes it."""
    mountpoint = tmp_path / "out"
    mountpoint.mkdir()

    def mount(size: str) -> Path:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mountpoint)],
                              capture_output=True)  # fmt: skip
        if done.returncode:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
        return mountpoint

    def remount(options: str) -> None:
        subprocess.run(["mount", "-o", f"remount,{options}", str(mountpoint)], check=True)

    yield mount, remount
    subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True)


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """150 staged OCR pages and the shards an unhindered run writes (about 3 MB)."""
    tmp = tmp_path_factory.mktemp("disk")
    stage_documents(make_documents("ocr", 150, size=(600, 800)), str(tmp / "in"), files=2)
    reference = pack(tmp / "in", tmp / "reference", "ocr", "ocr", *ARGS)
    return (
        tmp / "in",
        shard_hashes(reference),
        sum(p.stat().st_size for p in (reference / "shards").iterdir()),
    )


def run_cli(input_dir: Path, out: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "pipelines.cli", "run", "pack", "--no-progress",
           f"input={input_dir}", f"output_dir={out}", *ARGS]  # fmt: skip
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=240)


def assert_nothing_looks_complete(dataset: Path, reference: dict[str, str]) -> None:
    """No manifest, and every file named ``.tar`` is a whole shard: the reference run's bytes."""
    assert not (dataset / "manifest.json").exists()
    written = shard_hashes(dataset) if (dataset / "shards").exists() else {}
    for name, sha256 in written.items():
        if name.endswith(".tar"):
            assert sha256 == reference[name], f"{name} is named complete but is not"


def test_disk_full_then_space_freed(tmpfs, pages):
    input_dir, reference, total = pages
    mount, remount = tmpfs
    out = mount(f"{total // 2 // 1024}k")  # room for about half of the shards
    failed = run_cli(input_dir, out)
    assert failed.returncode != 0
    message = failed.stderr.strip().splitlines()[-1]
    print(message)
    # the shard being written when the disk filled, or (a log or index file) the dataset folder
    named = f"{out}/ocr/shards/ocr-" in message or f"(writing under {out}/ocr)" in message
    assert "No space left" in message and named, failed.stderr[-3000:]
    assert_nothing_looks_complete(out / "ocr", reference)
    assert not validate_dataset(str(out / "ocr")).ok

    remount(f"size={4 * total // 1024 + 8192}k")
    done = run_cli(input_dir, out)
    assert done.returncode == 0, done.stderr[-3000:]
    assert shard_hashes(out / "ocr") == reference
    assert validate_dataset(str(out / "ocr")).ok


def test_read_only_output_then_writable(tmpfs, pages):
    input_dir, reference, total = pages
    mount, remount = tmpfs
    out = mount(f"{4 * total // 1024 + 8192}k")
    remount("ro")
    failed = run_cli(input_dir, out)
    assert failed.returncode != 0
    message = failed.stderr.strip().splitlines()[-1]
    print(message)
    assert f"Read-only file system: '{out}/ocr" in message, failed.stderr[-3000:]
    remount("rw")
    assert_nothing_looks_complete(out / "ocr", reference)

    done = run_cli(input_dir, out)
    assert done.returncode == 0, done.stderr[-3000:]
    assert shard_hashes(out / "ocr") == reference
