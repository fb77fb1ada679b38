"""``vlmdata train --config configs/train.yaml [key=value ...]``: train from shard datasets.

Under torchrun (``torchrun --nproc-per-node N -m training.cli --config ...``) every process
trains one DDP replica and reads its own share of the shards.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from schemas.config import ConfigError, describe_options, load_config
from training.config import TrainConfig


def build_parser() -> argparse.ArgumentParser:
    rows = describe_options(TrainConfig)
    width = max(len(key) for key, _, _ in rows)
    keys = "\n".join(f"  {key:<{width}}  {text} [default: {default}]" for key, default, text in rows)
    parser = argparse.ArgumentParser(
        prog="vlmdata train",
        description="Train an Idefics2/Idefics3-style model on shard datasets (their manifests), "
        "with mixture weights and per-dataset settings, in one stage or several (`stages:`, "
        "recipes in configs/recipes/); resumes from the latest checkpoint in checkpoint_dir.",
        epilog="configuration keys (set in the YAML file or as key=value after it):\n" + keys,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", help="YAML file (e.g. configs/train.yaml)")
    parser.add_argument("--export", metavar="DIR", help="after training, save a loadable checkpoint here")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. steps=20")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        cfg = load_config(TrainConfig, args.config, args.overrides)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # workers fork after the tokenizer ran
    from training.loop import Trainer  # torch is imported only once the config is valid

    if cfg.stages:
        from training import stages

        try:
            finals = stages.run(cfg, say=lambda line: print(line, file=sys.stderr))
        except (FileNotFoundError, ValueError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        if args.export:
            shutil.copytree(finals[-1], args.export, dirs_exist_ok=True)
            print(f"exported: {args.export}")
        return 0
    try:
        trainer = Trainer(cfg)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if trainer.step >= cfg.steps:
        print(f"{cfg.checkpoint_dir}: already trained {trainer.step} of {cfg.steps} steps", file=sys.stderr)
    else:
        print(f"vlmdata train: steps {trainer.step}..{cfg.steps} -> {cfg.checkpoint_dir}", file=sys.stderr)
        trainer.run()
    if args.export and trainer.dist.rank == 0:
        print(f"exported: {trainer.export(Path(args.export))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
