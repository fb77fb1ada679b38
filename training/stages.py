"""Multi-stage training: the ``stages:`` list of a training config, run one after another.

Both seeds train in stages. Idefics2 pre-trains at low resolution on interleaved documents and
pairs, then at higher resolution with PDFs added, then fine-tunes on The Cauldron, then a short
chat stage; Idefics3 first trains only the connector with both backbones frozen, raises the
image resolution step by step, turns to DoRA, and ends on synthetic data. A stage here sets its
steps and any of: mixture (``datasets`` with their per-dataset settings), ``data`` keys (image
sizes, lengths, splitting), learning rates, ``freeze`` and ``lora``; the rest is the top level's.

Layout: stage ``k`` (1-based) of ``checkpoint_dir`` works in ``<checkpoint_dir>/<kk>-<name>/``
(its checkpoints, its tokenizer), and once done it exports its weights there as ``final/``
(LoRA merged; ``Trainer.export``, written under a temporary name and renamed when complete). The
next stage starts from that folder (``model.path``), with a fresh optimiser, schedule and data
stream. All stages log to ``<checkpoint_dir>/log.jsonl``, each record naming its stage.

Resume: a stage with a ``final/`` is done and skipped; the first stage without one resumes from
its latest checkpoint (same step, same data position, same RNG) or starts. So a killed run,
started again with the same config, goes on in the stage it was in.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from training.config import TrainConfig

TOP_KEYS = ("lr_connector", "lr_backbone", "warmup_steps", "min_lr_ratio", "batch_size", "grad_accum",
            "neftune_alpha", "freeze", "lora", "datasets")  # fmt: skip


def stage_dir(cfg: TrainConfig, index: int) -> Path:
    return Path(cfg.checkpoint_dir) / f"{index + 1:02d}-{cfg.stages[index].name}"


def resolve(cfg: TrainConfig) -> list[tuple[str, TrainConfig]]:
    """(name, the full config of that stage) for every stage; one stage ``main`` without
    ``stages``."""
    if not cfg.stages:
        return [("main", cfg)]
    base = cfg.model_dump(mode="json", exclude={"stages"})
    resolved = []
    for index, stage in enumerate(cfg.stages):
        merged = {**base, "steps": stage.steps, "checkpoint_dir": str(stage_dir(cfg, index))}
        given = stage.model_dump(mode="json", include=set(TOP_KEYS))
        merged |= {key: value for key, value in given.items() if value is not None}
        if stage.data is not None:
            merged["data"] = {
                **base["data"],
                **stage.data.model_dump(mode="json", include=stage.data.model_fields_set),
            }
        if index:
            previous = str(stage_dir(cfg, index - 1) / "final")  # built from backbones once, at the start
            merged["model"] = {
                **base["model"],
                "path": previous,
                "vision": None,
                "text": None,
                "image_size": None,
            }
        try:
            resolved.append((stage.name, TrainConfig.model_validate(merged)))
        except ValidationError as error:
            reasons = "; ".join(e["msg"].removeprefix("Value error, ") for e in error.errors())
            raise ValueError(f"stages[{index}] ({stage.name}): {reasons}") from None
    return resolved


def run(
    cfg: TrainConfig, log: Callable[[str], None] = print, say: Callable[[str], None] = print
) -> list[Path]:
    """Run every stage not yet done; returns the stages' ``final`` folders. ``say`` reports each
    stage's start or skip."""
    from training.loop import Trainer

    finals = []
    for index, (name, stage_cfg) in enumerate(resolve(cfg)):
        folder = Path(stage_cfg.checkpoint_dir)
        final = folder / "final" if cfg.stages else None
        if final is not None and cfg.resume and (final / "config.json").exists():
            say(f"stage {index + 1} {name}: done ({final})")
            finals.append(final)
            continue
        log_path = Path(cfg.checkpoint_dir) / "log.jsonl"
        trainer = Trainer(stage_cfg, stage=name if cfg.stages else None, log_path=log_path)
        say(f"stage {index + 1} {name}: steps {trainer.step}..{stage_cfg.steps} -> {folder}")
        if trainer.step < stage_cfg.steps:
            trainer.run(log=log)
        if final is not None:
            if trainer.dist.rank == 0:
                trainer.export(final)
            trainer.dist.barrier()
            finals.append(final)
    return finals


def final_config(train_cfg: TrainConfig) -> TrainConfig:
    """A config that loads the last stage's exported weights, for evaluation."""
    last = resolve(train_cfg)[-1][1]
    model = {
        **last.model.model_dump(),
        "path": str(Path(last.checkpoint_dir) / "final"),
        "vision": None,
        "text": None,
    }
    return last.model_copy(
        update={
            "model": type(last.model).model_validate(model),
            "lora": last.lora.model_copy(update={"enabled": False, "dora": False}),
            "stages": [],
        }
    )
