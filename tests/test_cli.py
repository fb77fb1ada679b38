"""The command line: help that lists every key, clear errors, a run and a validate."""

import json
import subprocess
import sys

import pytest

from pipelines.cli import main
from pipelines.jobs import JOBS
from schemas.config import describe_options
from tests import corpora


def vlmdata(*args, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *args], capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.parametrize("job", sorted(JOBS))
def test_help_lists_every_config_key_with_a_description(job):
    result = vlmdata("run", job, "--help")
    assert result.returncode == 0, result.stderr[-2000:]
    for key, _, description in describe_options(JOBS[job].config_model):
        assert f"  {key} " in result.stdout and description, (job, key)


def test_unknown_key_is_named(capsys):
    assert main(["run", "pack", "dataset=x", "input=in", "kind=pair", "shards.max_sampels=3"]) == 2
    assert "shards.max_sampels: unknown key" in capsys.readouterr().err


def test_run_and_validate_end_to_end(staged, tmp_path):
    folder, _ = staged("interleaved", 12)
    config = tmp_path / "job.yaml"
    config.write_text(f"dataset: web\ninput: {folder}\nkind: interleaved\noutput_dir: {tmp_path / 'out'}\n")
    result = vlmdata("run", "pack", "--config", str(config), "executor.tasks=2")  # default: embedded Ray
    assert result.returncode == 0, result.stderr[-2000:]
    assert "stage write_shards" in result.stderr  # the progress bar
    assert "manifest.json" in result.stdout
    check = vlmdata("validate", str(tmp_path / "out" / "web"))
    assert check.returncode == 0 and "12 samples checked: ok" in check.stdout


def test_missing_input_is_named(tmp_path, capsys):
    missing = tmp_path / "no-such-input"
    code = main(
        [
            "run",
            "pack",
            "--no-progress",
            f"input={missing}",
            "kind=pair",
            "dataset=x",
            f"output_dir={tmp_path}",
        ]
    )
    assert code == 2
    assert f"input={missing}: no staged Parquet files" in capsys.readouterr().err


def test_failed_stage_names_stage_and_logs(staged, tmp_path, capsys):
    folder, _ = staged("pair", 4)
    (folder / "00000.parquet").write_bytes(b"PAR1 this is not parquet")
    code = main(
        [
            "run",
            "pack",
            "--no-progress",
            "--executor",
            "local",
            f"input={folder}",
            "kind=pair",
            "dataset=x",
            f"output_dir={tmp_path / 'out'}",
            "executor.workers=1",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "stage write_shards failed" in err and f"{tmp_path / 'out'}/x/_logs/write_shards/logs" in err


@pytest.mark.corpus("web")
def test_inspect_html_on_a_real_page(tmp_path):
    page = corpora.require("web") / "html/adac.de.kindersitze.html"
    urls = corpora.require("web") / "pages.json"
    raw = vlmdata("inspect-html", str(page), "--urls", str(urls), "--raw")
    filtered = vlmdata("inspect-html", str(page), "--urls", str(urls))
    assert raw.returncode == 0 and filtered.returncode == 0, raw.stderr[-2000:]
    before, after = json.loads(raw.stdout), json.loads(filtered.stdout)
    assert before["url"].startswith("https://www.adac.de/") and before["charset"]
    assert len(before["texts"]) == len(before["images"]) and len(after["texts"]) == len(after["images"])
    # node filters only remove nodes; the texts that survive appear in the raw extraction in order
    kept = [t for t in after["texts"] if t]
    raw_texts = [t for t in before["texts"] if t]
    assert kept and len(kept) < len(raw_texts) and all(t in raw_texts for t in kept)
    assert after["metadata"]["lang"] == "de"
    assert "Grenzwert der Richtlinie 2014/79/EU" in " ".join(kept)
