"""`vlmdata demo` runs end to end on a fresh folder and leaves valid datasets of every kind."""

import json
import math
import subprocess
import sys

import pytest

from schemas.samples import KINDS


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_demo_end_to_end(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "demo", "--out", str(tmp_path), "--documents", "30"],
        capture_output=True,
        text=True,
        timeout=580,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "PROBLEMS" not in result.stdout
    assert "corpus images served, 3 deliberate faults" in result.stdout
    for kind in KINDS:
        manifest = json.loads((tmp_path / f"demo-{kind}" / "manifest.json").read_text())
        assert manifest["kind"] == kind and manifest["totals"]["samples"] == 30
    assert (tmp_path / "corpus" / "web" / "pages.warc.gz").stat().st_size > 10_000
    web = json.loads((tmp_path / "demo-web" / "manifest.json").read_text())
    assert web["kind"] == "interleaved" and web["totals"]["samples"] >= 20 and web["totals"]["images"] >= 20
    report = json.loads((tmp_path / "demo-web" / "report.json").read_text())
    stages = [stage["name"] for stage in report["stages"]]
    for stage in ("extract", "text_dedup", "fetch", "join", "image_dedup", "write_shards"):
        assert stage in stages, stages
    assert (tmp_path / "demo-web" / "report.html").stat().st_size > 10_000
    for name, kind in (("demo-pairs", "pair"), ("demo-pdf", "ocr")):
        manifest = json.loads((tmp_path / name / "manifest.json").read_text())
        assert manifest["kind"] == kind and manifest["totals"]["samples"] >= 5, name
        assert (tmp_path / name / "report.html").exists()
    log = [json.loads(line) for line in (tmp_path / "train" / "log.jsonl").read_text().splitlines()]
    losses = [entry["loss"] for entry in log if "loss" in entry]
    assert losses and all(math.isfinite(loss) for loss in losses)
