"""The recipe presets of ``configs/recipes/``: every one loads and resolves into its stages, and
the tiny twins run all their stages on the kind of datasets ``make demo`` writes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from schemas.config import load_config  # noqa: E402
from tests.test_training_data import build_datasets  # noqa: E402
from training import stages  # noqa: E402
from training.config import TrainConfig  # noqa: E402

RECIPES = Path(__file__).resolve().parents[1] / "configs" / "recipes"
ALL = sorted(RECIPES.glob("*/*.yaml"))


def test_the_presets_are_there():
    assert {p.relative_to(RECIPES).as_posix() for p in ALL} >= {
        "idefics2/recipe.yaml", "idefics2/tiny.yaml", "idefics3/recipe.yaml", "idefics3/tiny.yaml",
    }  # fmt: skip


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.relative_to(RECIPES).as_posix())
def test_a_recipe_loads_and_resolves(path):
    cfg = load_config(TrainConfig, str(path), [])
    resolved = stages.resolve(cfg)
    assert len(resolved) == len(cfg.stages) >= 4
    arch = path.parent.name
    assert all(stage.model.arch == arch for _, stage in resolved)
    for (_, before), (_, after) in zip(resolved, resolved[1:], strict=False):  # each starts from the last
        assert after.model.path == str(Path(before.checkpoint_dir) / "final")
    if path.name == "recipe.yaml":  # real scale: built from backbones given by path
        assert cfg.model.vision and cfg.model.text and cfg.stages[0].steps >= 1000
    if arch == "idefics3":  # the connector first, alone; DoRA later
        assert resolved[0][1].freeze == ["vision", "text"] and not resolved[0][1].lora.enabled
        assert all(stage.lora.dora for _, stage in resolved[1:])
        sizes = [stage.data.max_image_size for _, stage in resolved]
        assert sizes == sorted(sizes) and sizes[0] < sizes[-1]  # the resolution rises


def _on(manifests: dict[str, Path], node):
    """The recipe with demo-out/demo-<kind>/manifest.json pointing at the test's datasets."""
    if isinstance(node, dict):
        return {k: _on(manifests, v) for k, v in node.items()}
    if isinstance(node, list):
        return [_on(manifests, v) for v in node]
    if isinstance(node, str) and node.startswith("demo-out/demo-"):
        return str(manifests[node.split("/")[1].removeprefix("demo-")])
    return node


@pytest.mark.timeout(300)
@pytest.mark.parametrize("arch", ["idefics2", "idefics3"])
def test_the_tiny_recipe_runs_every_stage(tmp_path, arch):
    manifests = build_datasets(tmp_path / "data", count=16)
    raw = _on(manifests, yaml.safe_load((RECIPES / arch / "tiny.yaml").read_text()))
    cfg = TrainConfig.model_validate({**raw, "checkpoint_dir": str(tmp_path / "run")})
    said: list[str] = []
    finals = stages.run(cfg, log=lambda _: None, say=said.append)
    assert [f.parent.name for f in finals] == [f"{i + 1:02d}-{s.name}" for i, s in enumerate(cfg.stages)]
    assert all((f / "model.safetensors").exists() for f in finals)
    again: list[str] = []
    stages.run(cfg, log=lambda _: None, say=again.append)  # finished: every stage is skipped
    assert all(": done" in line for line in again) and len(again) == len(cfg.stages)
