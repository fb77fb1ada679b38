"""Multi-stage training (``training.stages``) and freezing on real shards with tiny models on CPU:
stage 2 starts from stage 1's weights, frozen parts stay bit-identical, a killed run resumes in
the stage it was in, and per-dataset settings reach the processors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from tests.test_training_data import build_datasets  # noqa: E402
from training import stages  # noqa: E402
from training.config import TrainConfig  # noqa: E402
from training.loop import Trainer  # noqa: E402
from training.model import build_model, part_of  # noqa: E402
from training.tokenizer import load_tokenizer, special_ids  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see tests/conftest.py


@pytest.fixture(scope="module")
def manifests(tmp_path_factory) -> dict[str, Path]:
    return build_datasets(tmp_path_factory.mktemp("train-stages"), count=16)


def two_stages(manifests, folder: Path) -> TrainConfig:
    """Stage 1 trains the connector alone on pairs; stage 2 trains everything through LoRA on qa
    at twice the image size, with its own learning rate."""
    return TrainConfig.model_validate(
        {
            "datasets": [{"manifest": str(manifests["pair"])}],
            "checkpoint_dir": str(folder),
            "batch_size": 2,
            "warmup_steps": 1,
            "log_every": 1,
            "checkpoint_every": 2,
            "data": {"max_length": 160, "shuffle_buffer": 8, "max_image_size": 32},
            "model": {"vocab_size": 384, "tokenizer_samples": 64},
            "stages": [
                {"name": "connector", "steps": 4, "freeze": ["vision", "text"], "lr_connector": 1e-2},
                {
                    "name": "lora",
                    "steps": 4,
                    "datasets": [{"manifest": str(manifests["qa"]), "max_image_size": 64}],
                    "data": {"max_length": 192},
                    "lora": {"enabled": True, "r": 4},
                    "lr_backbone": 2e-3,
                },
            ],
        }
    )


def weights(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def test_two_stages_chain_and_frozen_parts_stay_bit_identical(manifests, tmp_path):
    cfg = two_stages(manifests, tmp_path / "run")
    resolved = stages.resolve(cfg)
    assert [name for name, _ in resolved] == ["connector", "lora"]
    second = resolved[1][1]
    assert second.model.path == str(tmp_path / "run" / "01-connector" / "final")
    assert second.data.max_length == 192 and second.data.shuffle_buffer == 8  # only the given keys change
    assert second.lr_backbone == 2e-3 and second.lr_connector == cfg.lr_connector and second.freeze == []

    lines: list[str] = []
    finals = stages.run(cfg, log=lambda _: None, say=lines.append)
    assert [f.parent.name for f in finals] == ["01-connector", "02-lora"]

    # stage 1 changed the connector and nothing else: rebuild its initial model and compare
    tokenizer = load_tokenizer(tmp_path / "run" / "01-connector" / "tokenizer.json")
    first_cfg = resolved[0][1]
    initial = build_model(first_cfg.model, tokenizer.get_vocab_size(), special_ids(tokenizer), cfg.seed)
    after_one = weights(finals[0])
    changed = {
        part_of(name)
        for name, value in initial.state_dict().items()
        if not torch.equal(value, after_one[name])
    }
    assert changed == {"connector"}

    # stage 2 started from stage 1's weights: its first checkpoint's frozen LoRA bases are them
    state = torch.load(tmp_path / "run" / "02-lora" / "step-000002" / "trainer.pt", weights_only=False)[
        "model"
    ]
    base = "base_model.model.model.text_model.layers.0.self_attn.q_proj.base_layer.weight"
    assert torch.equal(state[base], after_one["model.text_model.layers.0.self_attn.q_proj.weight"])
    after_two = weights(finals[1])  # LoRA merged: the backbones moved
    assert not torch.equal(after_two["model.text_model.layers.0.self_attn.q_proj.weight"], state[base])

    records = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [(r["stage"], r["step"]) for r in records] == [("connector", s) for s in range(1, 5)] + [
        ("lora", s) for s in range(1, 5)
    ]
    peak: dict[str, float] = {}
    for r in records:
        peak[r["stage"]] = max(peak.get(r["stage"], 0.0), r["lr_connector"])
    assert peak == {"connector": 1e-2, "lora": cfg.lr_connector}  # each stage its own schedule


def test_a_killed_multistage_run_resumes_in_its_stage(manifests, tmp_path):
    """Killed in stage 2 after its step-2 checkpoint; the rerun skips stage 1 and replays stage 2's
    steps 3-4 exactly as an uninterrupted run."""
    straight = two_stages(manifests, tmp_path / "straight")
    stages.run(straight, log=lambda _: None, say=lambda _: None)
    expected = [json.loads(line) for line in (tmp_path / "straight" / "log.jsonl").read_text().splitlines()]

    cfg = two_stages(manifests, tmp_path / "killed")
    stages.run(cfg, log=lambda _: None, say=lambda _: None)
    # what a kill after stage 2's step 2 leaves: no final, no later checkpoint, a log up to there
    stage_two = tmp_path / "killed" / "02-lora"
    shutil.rmtree(stage_two / "final")
    shutil.rmtree(stage_two / "step-000004")
    log = tmp_path / "killed" / "log.jsonl"
    log.write_text("".join(line + "\n" for line in log.read_text().splitlines()[:6]))
    said: list[str] = []
    stages.run(cfg, log=lambda _: None, say=said.append)
    assert said[0].startswith("stage 1 connector: done") and said[1].startswith("stage 2 lora: steps 2..4")
    resumed = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["stage"], r["step"]) for r in resumed] == [(r["stage"], r["step"]) for r in expected]
    for a, b in zip(expected, resumed, strict=True):
        assert abs(a["loss"] - b["loss"]) < 1e-6, (a, b)
    assert torch.equal(
        weights(stage_two / "final")["lm_head.weight"],
        weights(tmp_path / "straight" / "02-lora" / "final")["lm_head.weight"],
    )


def test_per_dataset_settings_reach_each_processor(manifests, tmp_path):
    cfg = TrainConfig.model_validate(
        {
            "datasets": [
                {"manifest": str(manifests["ocr"]), "max_image_size": 64, "image_splitting": 0.5},
                {"manifest": str(manifests["qa"]), "max_length": 96, "shuffle_turns": True},
            ],
            "checkpoint_dir": str(tmp_path / "ckpt"),
            "data": {"max_length": 160, "max_image_size": 32, "image_splitting": False},
            "model": {"vocab_size": 384, "tokenizer_samples": 64},
            "steps": 1,
        }
    )
    trainer = Trainer(cfg)
    ocr, qa = trainer.processors
    assert (ocr.max_image_size, ocr.image_splitting, ocr.max_length) == (64, 0.5, 160)
    assert (qa.max_image_size, qa.image_splitting, qa.max_length, qa.shuffle_turns) == (32, False, 96, True)
    batch = next(trainer.batches())
    assert batch["input_ids"].shape[1] == 160  # rows keep data.max_length


def test_config_errors_name_the_stage_or_dataset(manifests, tmp_path):
    base = {"datasets": [{"manifest": str(manifests["pair"])}], "checkpoint_dir": str(tmp_path)}
    with pytest.raises(ValueError, match=r"datasets\[0\].max_length 900 is above data.max_length 512"):
        TrainConfig.model_validate({**base, "datasets": [{"manifest": "m", "max_length": 900}]})
    with pytest.raises(ValueError, match="names must differ"):
        TrainConfig.model_validate({**base, "stages": [{"name": "a", "steps": 1}, {"name": "a", "steps": 1}]})
    with pytest.raises(ValueError, match="stages add up to 3"):
        TrainConfig.model_validate(
            {**base, "steps": 5, "stages": [{"name": "a", "steps": 1}, {"name": "b", "steps": 2}]}
        )
    cfg = TrainConfig.model_validate(
        {**base, "stages": [{"name": "a", "steps": 1, "datasets": [{"manifest": "m", "max_length": 900}]}]}
    )
    with pytest.raises(ValueError, match=r"stages\[0\] \(a\):.*above data.max_length"):
        stages.resolve(cfg)
    with pytest.raises(ValueError, match="nothing left to train"):
        Trainer(TrainConfig.model_validate({**base, "model": {"vocab_size": 384, "tokenizer_samples": 16},
                                            "freeze": ["vision", "connector", "text"]}))  # fmt: skip
