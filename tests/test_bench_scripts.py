"""Benchmark scripts still run: their CPU smoke modes end in a ``RESULT {json}`` line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _result(script: str, *args: str, timeout: int = 240, results: Path | None = None) -> dict:
    """The RESULT of a benchmark run; its traced record goes to `results` (or nowhere), never into
    the checkout's benchmarks/results/."""
    env = {**os.environ, "VLMDATA_BENCH_RESULTS": str(results)} if results else None
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / script), *args, *([] if results else ["--no-save"])],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env=env,
    )
    assert proc.returncode == 0, f"{script} {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"{script}: no RESULT line in:\n{proc.stdout}"
    return json.loads(lines[-1].removeprefix("RESULT "))


@pytest.mark.slow  # importing torch + transformers alone takes ~15 s on two shared cores
def test_bench_docmatix_tiny(tmp_path) -> None:
    result = _result("bench_docmatix.py", "--tiny", results=tmp_path)
    record = json.loads((tmp_path / "bench_docmatix-tiny.json").read_text())  # traced: what ran where
    assert record["result"] == result and record["cpus"] == os.cpu_count() and record["date"]
    assert record["versions"]["torch"] and record["versions"]["transformers"] and record["commit"]
    assert record["command"][:2] == ["bench_docmatix.py", "--tiny"]
    assert {"output_tokens_s", "requests_s", "gpu"} <= result.keys()
    assert result["gpu"] == "cpu"
    assert result["output_tokens_s"] > 0 and result["requests_s"] > 0
    assert result["pages"] == 4 and result["output_tokens"] == 4 * 8
    assert sum(result["parsed"].values()) == 4  # every generation parsed or counted unparseable


@pytest.mark.slow
def test_bench_train_tiny(tmp_path) -> None:
    result = _result("bench_train.py", "--tiny", "--work-dir", str(tmp_path))
    assert {"tokens_s", "data_wait_fraction", "gpu"} <= result.keys()
    assert result["gpu"] == "cpu" and result["tokens_s"] > 0
    assert 0 <= result["data_wait_fraction"] < 1 and result["steps"] == 3


@pytest.mark.timeout(300)
def test_bench_pdf_quality_smoke() -> None:
    # OCR off: the scans are dropped (ocr_disabled) or keep their layer unchecked, in seconds
    result = _result("bench_pdf_quality.py", "--pages", "1", "--scans", "1", "--set", "ocr.enabled=false")
    assert set(result["groups"]) == {"born_digital", "scan300", "fax", "wrong_layer", "right_layer"}
    assert result["groups"]["born_digital"]["cer"] <= 0.005
    assert result["groups"]["scan300"]["routes"] == {"dropped": 4}
    assert result["groups"]["wrong_layer"]["routes"] == {"text_layer": 4}  # unchecked without OCR
    assert result["goals_met"]["born_digital.cer"] and not result["goals_met"]["wrong_layer.routed_to_ocr"]


@pytest.mark.skipif(
    shutil.which("tesseract") is None and not os.environ.get("VLMDATA_CI"),
    reason="tesseract is not installed (apt-get install tesseract-ocr)",
)
@pytest.mark.timeout(300)
def test_bench_ocr_engines_smoke() -> None:
    result = _result("bench_ocr_engines.py", "--pages", "1", "--kinds", "diacritics", "--no-rapidocr")
    tesseract = result["tesseract"]["diacritics"]
    assert tesseract["pages"] == 1 and tesseract["cer"] <= 0.03 and tesseract["seconds"] > 0
    assert not result["rapidocr_run"] and "rapidocr" not in result  # the peer's venv is not made here


@pytest.mark.timeout(300)
def test_bench_recaption_client_smoke() -> None:
    result = _result("bench_recaption_client.py", "--images", "40", "--repeats", "1")
    assert result["images"] == 40 and result["ours"]["cpu_s_per_1000"] > 0 and result["ratio_cpu"] > 0


@pytest.mark.slow  # importing torch + transformers
@pytest.mark.timeout(300)
def test_bench_recaption_gpu_tiny() -> None:
    result = _result("bench_recaption_gpu.py", "--tiny")
    assert result["gpu"] == "cpu" and result["answers"] == result["images"] == 8 and result["images_s"] > 0


@pytest.mark.timeout(300)
def test_bench_instruct_smoke() -> None:
    result = _result("bench_instruct.py", "--gb", "0.02", "--repeats", "1")
    assert result["rows"] > 0 and result["rows"] % 100 == 0  # whole row groups of 100 rows
    assert result["samples"] == result["rows"] // 4  # four questions per image, one sample each
    assert result["ours_rows_s"] > 0 and result["peer_rows_s"] > 0 and 0 < result["peak_rss_mb"] < 1000
