"""Helpers for tests: run the pack job in-process, hash shards."""

from __future__ import annotations

import hashlib
from pathlib import Path

from pipelines.executors import run_stages
from pipelines.pack import build_pack
from schemas.config import PackConfig, load_config

REPO = Path(__file__).resolve().parents[1]


def pack(input_dir: Path, out: Path, kind: str, dataset: str = "ds", *overrides: str) -> Path:
    """Run the pack job with the local executor; returns OUT/<dataset>."""
    cfg = load_config(
        PackConfig,
        None,
        [
            f"input={input_dir}",
            f"output_dir={out}",
            f"kind={kind}",
            f"dataset={dataset}",
            "executor.kind=local",
            "executor.workers=1",
            *overrides,
        ],
    )
    run_stages(build_pack(cfg), cfg.executor, cfg.dataset_dir, progress=False)
    return Path(cfg.dataset_dir)


def shard_hashes(dataset_dir: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((dataset_dir / "shards").iterdir())
    }
