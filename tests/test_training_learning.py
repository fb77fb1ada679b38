"""The learning test of the training module: a tiny model trained by ``vlmdata train`` on `qa`
shards of a generated visual task (the colour of a shape, 4 answers) answers held-out questions
far above chance. It exercises the whole path a trainer uses: our staging and pack jobs write
the shards, the CLI trains from their manifest, and the held-out samples are read and encoded
by the training module's own data code."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from pipelines.cli import main as vlmdata  # noqa: E402
from pipelines.staging import stage_documents  # noqa: E402
from schemas.config import load_config  # noqa: E402
from synth.demo.colour_task import COLOURS, make_colour_documents  # noqa: E402
from tests.helpers import pack  # noqa: E402
from training.config import TrainConfig  # noqa: E402
from training.data import StreamSpec, manifest_shards  # noqa: E402
from training.evaluate import evaluate_choices, read_samples  # noqa: E402
from training.loop import Trainer  # noqa: E402

TRAIN_DOCS, HELDOUT_DOCS = 1000, 200
BUDGET_S = 180  # the bound on training time, on 2 cores

# Tuned to pass with margin on 2 shared cores: one 32 px tile per image (no splitting), 4 visual
# tokens after pixel shuffle, ~16 samples packed per row.
TINY = {
    "model": {
        "hidden_size": 64,
        "layers": 2,
        "heads": 4,
        "vision_hidden_size": 32,
        "vision_layers": 2,
        "tile_size": 32,
        "patch_size": 8,
        "scale_factor": 2,
        "vocab_size": 320,
        "tokenizer_samples": 200,
    },
    "data": {"max_length": 256, "max_image_size": 32, "shuffle_buffer": 64, "num_workers": 0},
    "lr_connector": 3e-3,
    "lr_backbone": 3e-3,
    "warmup_steps": 10,
    "steps": 90,
    "batch_size": 4,
    "log_every": 15,
    "checkpoint_every": 1000,
    "threads": 1,
    "seed": 0,
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see tests/conftest.py


def colour_dataset(root: Path, name: str, count: int, seed: int) -> Path:
    """Stage the task's documents and pack them into `qa` shards; returns the manifest."""
    staged = root / f"staged-{name}"
    stage_documents(make_colour_documents(count, seed), str(staged), files=2)
    out = pack(staged, root / "out", "qa", name, "shards.max_samples=300", "shards.image_format=png")
    return out / "manifest.json"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_tiny_model_learns_the_colour_of_a_shape(tmp_path, capsys):
    train = colour_dataset(tmp_path, "colour-train", TRAIN_DOCS, seed=0)
    heldout = colour_dataset(tmp_path, "colour-heldout", HELDOUT_DOCS, seed=1)
    config = tmp_path / "train.yaml"
    config.write_text(
        json.dumps({**TINY, "datasets": [{"manifest": str(train)}], "checkpoint_dir": str(tmp_path / "run")})
    )  # JSON is YAML

    started = time.perf_counter()
    assert vlmdata(["train", "--config", str(config)]) == 0
    elapsed = time.perf_counter() - started

    trainer = Trainer(load_config(TrainConfig, str(config), []))  # resumes the finished run
    assert trainer.step == TINY["steps"]
    samples = read_samples(StreamSpec([manifest_shards(heldout)], [1.0], shuffle_buffer=1), HELDOUT_DOCS)
    assert len(samples) == HELDOUT_DOCS
    accuracy = evaluate_choices(trainer.model, trainer.processor, samples, sorted(COLOURS))
    with capsys.disabled():
        print(f"\ncolour task: held-out accuracy {accuracy:.3f} after {elapsed:.0f} s of training")
    assert elapsed < BUDGET_S
    assert accuracy >= 0.6
