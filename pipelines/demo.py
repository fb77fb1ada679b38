"""The embedded demo: needs nothing but the checkout and runs what exists end to end.

For now it stages synthetic documents of every sample kind, packs each kind into shards with
the ``pack`` job, and validates the result. (The crawl, PDF and QA jobs join it as they land.)
"""

from __future__ import annotations

import sys
from pathlib import Path

from pipelines.executors import run_stages
from pipelines.pack import build_pack
from pipelines.staging import stage_documents
from schemas.config import PackConfig, load_config
from schemas.samples import KINDS
from schemas.validate import validate_dataset
from synth.documents import make_documents


def run_demo(out: str, documents: int = 200, executor: str = "ray", progress: bool = True) -> int:
    root = Path(out)
    problems = 0
    for kind in KINDS:
        staged = root / "inputs" / kind
        if not (staged / "00001.parquet").exists():
            stage_documents(
                make_documents(kind, documents, fmt="png" if kind == "ocr" else "jpg"), str(staged), files=2
            )
        cfg = load_config(
            PackConfig,
            None,
            [
                f"dataset=demo-{kind}",
                f"output_dir={root}",
                f"input={staged}",
                f"kind={kind}",
                f"executor.kind={executor}",
                "shards.max_samples=64",
            ],
        )
        run_stages(build_pack(cfg), cfg.executor, cfg.dataset_dir, progress=progress)
        report = validate_dataset(cfg.dataset_dir)
        problems += len(report.problems)
        status = "valid" if report.ok else f"{len(report.problems)} PROBLEMS"
        print(
            f"{kind:<12} {report.shards:>3} shards {report.samples:>5} samples  {status}  {cfg.dataset_dir}/manifest.json"
        )
    print(
        f"\ndemo output: {root.resolve()} (inputs/ holds the staged documents; each dataset has shards/, manifest.json, _logs/)"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(run_demo(sys.argv[1] if len(sys.argv) > 1 else "demo-out"))
