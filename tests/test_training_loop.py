"""The training loop on real shards with tiny models on CPU: it learns, resumes exactly, LoRA
freezes what it should, both model families run, and the CLI trains end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from pipelines.cli import main as vlmdata  # noqa: E402
from tests.test_training_data import build_datasets  # noqa: E402
from training.config import TrainConfig  # noqa: E402
from training.loop import Trainer  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see tests/conftest.py


@pytest.fixture(scope="module")
def manifests(tmp_path_factory) -> dict[str, Path]:
    return build_datasets(tmp_path_factory.mktemp("train-loop"), count=16)


def config(manifests, tmp_path, kinds=("pair", "qa"), **overrides) -> TrainConfig:
    data = {
        "datasets": [{"manifest": str(manifests[k]), "weight": 1.0} for k in kinds],
        "checkpoint_dir": str(tmp_path / "ckpt"),
        "steps": 8,
        "batch_size": 2,
        "warmup_steps": 2,
        "log_every": 4,
        "checkpoint_every": 100,
        "data": {"max_length": 160, "shuffle_buffer": 8, "max_image_size": 32},  # one tile per image: fast
        "model": {"vocab_size": 384, "tokenizer_samples": 64},
    }
    for key, value in overrides.items():
        node = data
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return TrainConfig.model_validate(data)


def test_overfits_a_small_repeated_batch(manifests, tmp_path):
    cfg = config(
        manifests, tmp_path, lr_connector=3e-3, lr_backbone=3e-3, warmup_steps=0, steps=30, batch_size=1
    )
    trainer = Trainer(cfg)
    batch = next(trainer.batches())
    losses = []
    for _ in range(30):
        loss = trainer.forward(batch)
        loss.backward()
        trainer.optimizer.step()
        trainer.optimizer.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


@pytest.mark.filterwarnings("ignore:This DataLoader will create")  # 3 workers on 2 cores, on purpose
@pytest.mark.parametrize("workers", [0, 3])  # 3 DataLoader workers: batch 5 comes from worker 1
def test_resume_continues_with_the_same_losses_and_data_position(manifests, tmp_path, workers):
    """Stopped at step 4 and resumed, the run reproduces steps 5-8 of an uninterrupted one
    (NEFTune noise on, so the RNG state must come back too)."""
    extra = {"neftune_alpha": 5.0, "data.num_workers": workers}
    straight = Trainer(config(manifests, tmp_path / "a", **extra))
    full = straight.run(log=lambda _: None)

    first = Trainer(config(manifests, tmp_path / "b", checkpoint_every=4, **extra))
    head = first.run(stop_at=4, log=lambda _: None)
    assert (tmp_path / "b" / "ckpt" / "step-000004" / "trainer.pt").exists()
    resumed = Trainer(config(manifests, tmp_path / "b", checkpoint_every=4, **extra))
    assert resumed.step == 4 and resumed.data_state.positions == first.data_state.positions
    tail = resumed.run(log=lambda _: None)

    assert [r["step"] for r in head + tail] == list(range(1, 9))
    for a, b in zip(full, head + tail, strict=True):
        assert abs(a["loss"] - b["loss"]) < 1e-6, (a, b)
    assert resumed.data_state.positions == straight.data_state.positions
    assert resumed.data_state.batches == straight.data_state.batches == 8


def test_lora_freezes_backbones_and_trains_the_connector(manifests, tmp_path):
    trainer = Trainer(config(manifests, tmp_path, **{"lora.enabled": True, "steps": 1}))
    trainable = {n for n, p in trainer.model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or ".connector." in n for n in trainable)
    assert any(".connector." in n for n in trainable) and any(
        "text_model" in n and "lora_" in n for n in trainable
    )
    assert any("vision_model" in n and "lora_" in n for n in trainable)
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.run(log=lambda _: None)
    after = dict(trainer.model.named_parameters())
    frozen = [n for n in before if n not in trainable]
    assert all(torch.equal(before[n], after[n]) for n in frozen)
    assert any(not torch.equal(before[n], after[n]) for n in trainable if ".connector." in n)
    names = {g["name"] for g in trainer.optimizer.param_groups}
    assert names == {"connector", "backbone"}


def test_dora_builds_and_steps(manifests, tmp_path):
    trainer = Trainer(config(manifests, tmp_path, **{"lora.enabled": True, "lora.dora": True, "steps": 1}))
    assert any("lora_magnitude_vector" in n for n, _ in trainer.model.named_parameters())
    assert trainer.run(log=lambda _: None)[0]["loss"] > 0


@pytest.mark.parametrize("arch", ["idefics2", "idefics3"])
def test_both_model_families_build_and_step(manifests, tmp_path, arch):
    cfg = config(manifests, tmp_path, kinds=("interleaved", "ocr"), steps=2, **{"model.arch": arch})
    trainer = Trainer(cfg)
    assert type(trainer.model).__name__ == f"{arch.capitalize()}ForConditionalGeneration"
    history = trainer.run(log=lambda _: None)
    assert len(history) == 2 and all(r["loss"] > 0 for r in history)
    assert history[-1]["tokens_s"] > 0 and 0 <= history[-1]["data_wait_fraction"] <= 1
    assert history[0]["lr_connector"] == cfg.lr_connector / 2  # warm-up step 1 of 2


def test_separate_learning_rates_and_schedule(manifests, tmp_path):
    cfg = config(
        manifests, tmp_path, lr_connector=1e-2, lr_backbone=1e-3, steps=6, warmup_steps=2, min_lr_ratio=0.1
    )
    history = Trainer(cfg).run(log=lambda _: None)
    assert [round(r["lr_connector"] / r["lr_backbone"], 6) for r in history] == [10.0] * 6
    lrs = [r["lr_backbone"] for r in history]
    assert lrs[0] == pytest.approx(5e-4) and lrs[1] == pytest.approx(1e-3)  # warm-up
    assert lrs[2:] == sorted(lrs[2:], reverse=True) and lrs[-1] >= 1e-4  # cosine down to 10 %


def test_vlmdata_train_cli(manifests, tmp_path, capsys):
    cfg = tmp_path / "train.yaml"
    cfg.write_text(
        "datasets:\n"
        f"  - {{manifest: {manifests['interleaved']}, weight: 0.7}}\n"
        f"  - {{manifest: {manifests['pair']}, weight: 0.3}}\n"
        f"checkpoint_dir: {tmp_path / 'run'}\nsteps: 4\nlog_every: 2\nbatch_size: 2\n"
        "data: {max_length: 192, num_workers: 1}\nmodel: {vocab_size: 384, tokenizer_samples: 32}\n"
    )
    assert vlmdata(["train", "--config", str(cfg), "--export", str(tmp_path / "export"), "seed=3"]) == 0
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [2, 4] and all("tokens_s" in r for r in log)
    assert (tmp_path / "run" / "step-000004" / "trainer.pt").exists()
    assert (tmp_path / "run" / "tokenizer.json").exists()
    # the export loads back as a checkpoint path
    again = config(
        {"pair": manifests["pair"]},
        tmp_path / "again",
        kinds=("pair",),
        steps=1,
        **{"model.path": str(tmp_path / "export")},
    )
    assert Trainer(again).run(log=lambda _: None)[0]["loss"] > 0
    # a second run finds the work done
    assert vlmdata(["train", "--config", str(cfg), "seed=3"]) == 0
    assert "already trained 4 of 4 steps" in capsys.readouterr().err


def test_train_config_errors_are_named(tmp_path, capsys):
    assert vlmdata(["train", "datasets=[]", "stepz=3"]) == 2
    err = capsys.readouterr().err
    assert "stepz: unknown key" in err and "datasets" in err


def test_heldout_loss_is_logged(manifests, tmp_path):
    cfg = config(
        manifests,
        tmp_path,
        steps=2,
        eval_every=2,
        eval_batches=2,
        log_every=2,
        **{"data.heldout_fraction": 0.3},
    )
    history = Trainer(cfg).run(log=lambda _: None)
    assert "heldout_loss" not in history[0] and history[1]["heldout_loss"] > 0
