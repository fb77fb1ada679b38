"""`vlmdata demo` runs end to end on a fresh folder and leaves valid datasets of every kind; then
every job's default config in configs/ runs on what the demo wrote, as `make <job>` does."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.jobs import JOBS
from schemas.samples import KINDS
from schemas.validate import validate_dataset
from tests.helpers import REPO
from tests.llm_server import LlmServer, grounded, seen

pytestmark = pytest.mark.slow


def vlmdata(cwd: Path, *args: str, timeout: int = 580) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The folder `make demo` leaves: ./demo-out, the place configs/ name (paths relative to it)."""
    root = tmp_path_factory.mktemp("make-demo")
    result = vlmdata(root, "demo", "--out", "demo-out", "--documents", "30")
    return root, result


@pytest.mark.timeout(600)
def test_demo_end_to_end(demo):
    root, result = demo
    out = root / "demo-out"
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "PROBLEMS" not in result.stdout
    assert "corpus images served, 3 deliberate faults" in result.stdout
    for kind in KINDS:
        manifest = json.loads((out / f"demo-{kind}" / "manifest.json").read_text())
        assert manifest["kind"] == kind and manifest["totals"]["samples"] == 30
    assert (out / "corpus" / "web" / "pages.warc.gz").stat().st_size > 10_000
    web = json.loads((out / "demo-web" / "manifest.json").read_text())
    assert web["kind"] == "interleaved" and web["totals"]["samples"] >= 20 and web["totals"]["images"] >= 20
    report = json.loads((out / "demo-web" / "report.json").read_text())
    stages = [stage["name"] for stage in report["stages"]]
    for stage in ("extract", "text_dedup", "fetch", "join", "image_dedup", "write_shards"):
        assert stage in stages, stages
    assert (out / "demo-web" / "report.html").stat().st_size > 10_000
    for name, kind in (("demo-pairs", "pair"), ("demo-pdf", "ocr")):
        manifest = json.loads((out / name / "manifest.json").read_text())
        assert manifest["kind"] == kind and manifest["totals"]["samples"] >= 5, name
        assert (out / name / "report.html").exists()
    log = [json.loads(line) for line in (out / "train" / "log.jsonl").read_text().splitlines()]
    losses = [entry["loss"] for entry in log if "loss" in entry]
    assert losses and all(math.isfinite(loss) for loss in losses)


# what a job needs beyond the demo, as the README's table says: the key=value a user adds
NEEDS = {"pairs": ["clip.enabled=false"]}  # CLIP scores need open_clip weights (clip.weights=PATH)
CONFIG_JOB = {"recaption": "pairs"}  # configs/recaption.yaml: the pairs job with synthetic captions
NOT_JOBS = {  # configs of other commands, each run by its own tests
    "train": "vlmdata train (below)",
    "ablate": "vlmdata ablate (tests/test_ablate.py)",
    "cauldron": "vlmdata import cauldron (tests/test_cauldron_import.py)",
    "conversations": "vlmdata import messages|alpaca|llava|sharegpt (tests/test_instruction_import.py)",
}


@pytest.mark.timeout(900)
def test_every_default_config_runs_on_what_the_demo_wrote(demo):
    """`make <job>` for every job, with its config from configs/ as it ships: each dataset
    validates (docmatix against a scripted local endpoint, pairs without CLIP scores)."""
    root, result = demo
    assert result.returncode == 0, result.stdout[-2000:]
    configs = {path.stem for path in (REPO / "configs").glob("*.yaml")} - set(NOT_JOBS)
    assert configs == set(JOBS) | set(CONFIG_JOB)
    datasets = {}
    vlm_models = ("HuggingFaceTB/SmolVLM-Instruct",)
    with LlmServer(default=grounded()) as llm, LlmServer(default=seen("right"), models=vlm_models) as vlm:
        for name in sorted(configs):
            extra = [*NEEDS.get(name, []), *([f"llm.endpoint_url={llm.url}"] if name == "docmatix" else []),
                     *([f"recaption.llm.endpoint_url={vlm.url}"] if name == "recaption" else [])]  # fmt: skip
            done = vlmdata(
                root, "run", CONFIG_JOB.get(name, name), "--config", str(REPO / f"configs/{name}.yaml"),
                "--executor", "local", "--no-progress", f"output_dir={root / 'jobs'}", *extra,
            )  # fmt: skip
            assert done.returncode == 0, f"make {name}:\n{done.stdout[-1500:]}\n{done.stderr[-3000:]}"
            manifest = next(line for line in done.stdout.splitlines() if line.startswith("done in"))
            datasets[name] = Path(manifest.split(": ", 1)[1]).parent
    for name, dataset in datasets.items():
        report = validate_dataset(str(dataset))
        assert report.ok and report.samples > 0, (name, report.problems[:5])
    trained = vlmdata(root, "train", "--config", str(REPO / "configs/train.yaml"), "steps=2", "warmup_steps=1",
                      f"checkpoint_dir={root / 'train'}", "data.num_workers=0")  # fmt: skip
    assert trained.returncode == 0, trained.stderr[-3000:]


@pytest.mark.timeout(300)
def test_targets_that_need_more_than_the_demo_say_what(demo):
    """Without an endpoint, docmatix stops before any work naming the endpoint and the key to set;
    pairs with CLIP on names clip.weights."""
    root, _ = demo
    out = root / "needs"
    done = vlmdata(root, "run", "docmatix", "--config", str(REPO / "configs/docmatix.yaml"), "--executor", "local",
                   f"output_dir={out}", "llm.endpoint_url=http://127.0.0.1:9/v1", timeout=120)  # fmt: skip
    assert done.returncode == 2, done.stderr[-2000:]
    assert "http://127.0.0.1:9/v1" in done.stderr and "llm.endpoint_url=URL" in done.stderr
    assert not (out / "demo-docmatix" / "_logs").exists()  # before any work
    with LlmServer(models=("another-model",)) as llm:
        done = vlmdata(root, "run", "docmatix", "--config", str(REPO / "configs/docmatix.yaml"), "--executor",
                       "local", f"output_dir={out}", f"llm.endpoint_url={llm.url}", timeout=120)  # fmt: skip
    assert done.returncode == 2 and "is not served" in done.stderr and "llm.model=NAME" in done.stderr
    done = vlmdata(root, "run", "pairs", "--config", str(REPO / "configs/pairs.yaml"), "--executor", "local",
                   f"output_dir={out}", timeout=120)  # fmt: skip
    assert done.returncode == 2 and "clip.weights" in done.stderr, done.stderr[-2000:]
