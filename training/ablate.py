"""``vlmdata ablate --config configs/ablate.yaml``: what a data choice does to a model.

A difference to the base variant is called beyond the seed spread when it exceeds twice the
standard error of the difference of the two means over seeds (sample standard deviations).

The seeds decided their recipe by ablation: a model trained with a choice against one trained
without, everything else equal. An ablation config names a base training config (``base``), the
``variants`` (each ``set``s training keys over the base: datasets, weights, per-dataset settings,
steps; dotted keys or nested mappings, lists replace), the ``seeds``, and the ``evaluations``.
Every variant x seed trains the same model for the same steps (the seed fixes weights and data
order, so variants that share data see it in the same order) in ``<output_dir>/runs/<variant>-
seed<k>/``, then is evaluated on every evaluation set and writes ``result.json``. A run with a
``result.json`` is finished: a killed ablation started again keeps it and trains the rest (a run
killed mid-training resumes from its last checkpoint). A run that crashes is recorded as failed,
with its error, and the others go on. With ``parallel`` > 1 runs go to Ray as tasks of
``threads`` CPUs each (an embedded Ray unless ``RAY_ADDRESS`` is set), else one after another.

Evaluations read the first ``samples`` samples of a shard dataset in order (deterministic) with a
processor of the base's ``data`` settings:

- ``exact_match``: the greedy answer equals the truth (qa: the last answer; ocr / pair: the text);
- ``char_accuracy``: 1 - normalised edit distance of the greedy answer to the truth (OCR);
- ``anls``: average normalised Levenshtein similarity (DocVQA's: 0 below 0.5), for ``qa``;
- ``choice``: the lowest-loss of ``choices`` is the truth (multiple choice by likelihood);
- ``loss``: mean loss per answer token on the set (held-out loss, any kind).

Errors before any training: a variant setting keys that do not exist, naming a dataset whose
manifest does not exist, or an evaluation whose metric does not fit its dataset's kind.
``ablation.json`` and ``ablation.html`` (``training.ablation_report``) follow every run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from schemas.config import StrictModel, apply_settings
from schemas.manifest import Manifest
from training.config import DatasetSpec, TrainConfig

METRICS_BY_KIND = {
    "exact_match": {"qa", "ocr", "pair"},
    "char_accuracy": {"ocr", "pair", "qa"},
    "anls": {"qa"},
    "choice": {"qa", "ocr", "pair"},
    "loss": {"qa", "ocr", "pair", "interleaved"},
}


class Variant(StrictModel):
    name: str = Field(
        ..., pattern=r"^[A-Za-z0-9_.-]+$", description="the variant's name (run folders, tables)"
    )
    set: dict[str, Any] = Field(
        default_factory=dict, description="training keys over the base (dotted or nested)"
    )


class EvalSet(StrictModel):
    name: str = Field(..., pattern=r"^[A-Za-z0-9_.-]+$")
    manifest: str = Field(..., description="OUT/<dataset>/manifest.json of the evaluation samples")
    metric: Literal["exact_match", "char_accuracy", "anls", "choice", "loss"]
    choices: list[str] | None = Field(None, description="the candidates of metric=choice")
    samples: int = Field(64, ge=1, description="the first this many samples, in shard order")
    max_new_tokens: int = Field(
        16, ge=1, description="greedy tokens per answer (exact_match, char_accuracy, anls)"
    )

    @model_validator(mode="after")
    def _choices(self) -> EvalSet:
        if self.metric == "choice" and not self.choices:
            raise ValueError(f"evaluation {self.name}: metric=choice needs choices")
        return self


class AblateConfig(StrictModel):
    base: str = Field(
        ..., description="the training config every variant starts from (YAML path, relative to this file)"
    )
    variants: list[Variant] = Field(
        ..., min_length=1, description="the first is the base the others are compared to"
    )
    seeds: list[int] = Field([0], min_length=1)
    evaluations: list[EvalSet] = Field(..., min_length=1)
    output_dir: str = Field("out/ablate", description="runs, ablation.json and ablation.html go here")
    parallel: int = Field(1, ge=1, description="runs at once, as Ray tasks (1: one after another)")
    threads: int = Field(1, ge=1, description="CPU threads per run")


def _kind(manifest: str) -> str:
    path = Path(manifest)
    if not path.exists():
        raise ValueError(f"{manifest}: no manifest; give OUT/<dataset>/manifest.json of a finished job")
    return Manifest.from_json(path.read_text("utf-8")).kind


class Plan:
    """The resolved ablation: every run's training config, checked before any training."""

    def __init__(self, cfg: AblateConfig, config_path: Path):
        self.cfg = cfg
        base_path = (config_path.parent / cfg.base) if not Path(cfg.base).is_absolute() else Path(cfg.base)
        if not base_path.exists() and Path(cfg.base).exists():
            base_path = Path(cfg.base)
        try:
            self.base = yaml.safe_load(base_path.read_text("utf-8")) or {}
        except FileNotFoundError:
            raise ValueError(
                f"base: {cfg.base} not found (relative to {config_path.parent} or the current folder)"
            ) from None
        self.out = Path(cfg.output_dir)
        self.runs: list[tuple[str, int, TrainConfig]] = []
        for variant in cfg.variants:
            tree = apply_settings(self.base, variant.set)
            for seed in cfg.seeds:
                folder = self.run_dir(variant.name, seed)
                tree_seed = {
                    **tree,
                    "seed": seed,
                    "checkpoint_dir": str(folder / "train"),
                    "threads": cfg.threads,
                }
                try:
                    train_cfg = TrainConfig.model_validate(tree_seed)
                except ValidationError as error:
                    problems = "; ".join(
                        f"{'.'.join(map(str, e['loc']))}: {e['msg'].removeprefix('Value error, ')}"
                        for e in error.errors()
                    )
                    raise ValueError(f"variant {variant.name}: {problems}") from None
                for spec in train_cfg.datasets + [d for st in train_cfg.stages for d in st.datasets or []]:
                    try:
                        _kind(spec.manifest)
                    except ValueError as error:
                        raise ValueError(f"variant {variant.name}: {error}") from None
                self.runs.append((variant.name, seed, train_cfg))
        for evaluation in cfg.evaluations:
            kind = _kind(evaluation.manifest)
            if kind not in METRICS_BY_KIND[evaluation.metric]:
                raise ValueError(
                    f"evaluation {evaluation.name}: metric {evaluation.metric} does not fit {kind} samples "
                    f"(it fits {sorted(METRICS_BY_KIND[evaluation.metric])})"
                )

    def run_dir(self, variant: str, seed: int) -> Path:
        return self.out / "runs" / f"{variant}-seed{seed}"


# -- one run ------------------------------------------------------------------------------------
def evaluate(trainer, cfg: TrainConfig, evaluation: EvalSet) -> float:
    """The score of a trained model on one evaluation set (see the module docstring)."""
    from training.data import StreamSpec, manifest_shards
    from training.evaluate import metric_score, read_samples
    from training.loop import processors_for

    eval_cfg = cfg.model_copy(update={"datasets": [DatasetSpec(manifest=evaluation.manifest)]})
    (processor,) = processors_for(eval_cfg, trainer.model.config, trainer.tokenizer, trainer.ids)
    samples = read_samples(
        StreamSpec([manifest_shards(evaluation.manifest)], [1.0], shuffle_buffer=1), evaluation.samples
    )
    if not samples:
        raise ValueError(f"evaluation {evaluation.name}: no samples in {evaluation.manifest}")
    return metric_score(
        trainer.model, processor, samples, evaluation.metric, evaluation.choices, evaluation.max_new_tokens
    )


def run_one(variant: str, seed: int, train_cfg: TrainConfig, evaluations: list[EvalSet], folder: str) -> dict:
    """Train (or resume) one run, evaluate it, write its ``result.json``; a crash is a failed run."""
    folder_path = Path(folder)
    started = time.perf_counter()
    record: dict[str, Any] = {"variant": variant, "seed": seed, "status": "ok"}
    try:
        import torch

        torch.set_num_threads(train_cfg.threads or 1)
        from training import stages
        from training.loop import Trainer

        stages.run(train_cfg, log=lambda _: None, say=lambda _: None)
        trainer = Trainer(train_cfg if not train_cfg.stages else stages.final_config(train_cfg))
        record["scores"] = {e.name: round(evaluate(trainer, train_cfg, e), 4) for e in evaluations}
    except Exception as error:  # a crashed run is reported, not dropped, and the others go on
        record |= {
            "status": "failed",
            "error": f"{type(error).__name__}: {error}",
            "trace": traceback.format_exc()[-2000:],
        }
    record["seconds"] = round(time.perf_counter() - started, 1)
    log = Path(train_cfg.checkpoint_dir) / "log.jsonl"
    record["losses"] = [
        [r["step"], r["loss"]] for r in (json.loads(line) for line in log.read_text().splitlines()) if "loss" in r
    ] if log.exists() else []  # fmt: skip
    folder_path.mkdir(parents=True, exist_ok=True)
    if record["status"] == "ok":  # a failed run is tried again next time
        (folder_path / "result.json").write_text(json.dumps(record, indent=1))
    return record


# -- the ablation -------------------------------------------------------------------------------
def summarise(plan: Plan, records: list[dict]) -> dict:
    """Mean and spread per variant and evaluation, and each variant against the base."""
    names = [e.name for e in plan.cfg.evaluations]
    base = plan.cfg.variants[0].name
    variants = []
    for variant in plan.cfg.variants:
        runs = [r for r in records if r["variant"] == variant.name]
        scores = {}
        for name in names:
            values = [r["scores"][name] for r in runs if r["status"] == "ok"]
            scores[name] = {
                "mean": round(statistics.fmean(values), 4) if values else None,
                "spread": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0,
                "values": values,
            }
        variants.append({"name": variant.name, "set": variant.set, "runs": runs, "scores": scores})
    by_name = {v["name"]: v for v in variants}
    for variant in variants:
        variant["vs_base"] = {}
        if variant["name"] == base:
            continue
        for name in names:
            mine, theirs = variant["scores"][name], by_name[base]["scores"][name]
            if mine["mean"] is None or theirs["mean"] is None:
                continue
            diff = round(mine["mean"] - theirs["mean"], 4)
            # twice the standard error of the difference of two means over seeds (about a 95%
            # interval): beyond it, the seeds alone would rarely produce the difference
            n_mine, n_theirs = len(mine["values"]), len(theirs["values"])
            margin = round(2 * (mine["spread"] ** 2 / n_mine + theirs["spread"] ** 2 / n_theirs) ** 0.5, 4)
            beyond = abs(diff) > margin
            if len(plan.cfg.seeds) < 2:
                statement = "one seed: no spread to compare with"
            elif beyond:
                statement = f"{'higher' if diff > 0 else 'lower'} than {base} beyond the seed spread (margin {margin:.3f})"
            else:
                statement = f"within the seed spread of {base} (margin {margin:.3f})"
            variant["vs_base"][name] = {
                "diff": diff,
                "margin": margin,
                "beyond_spread": beyond,
                "statement": statement,
            }
    return {
        "base": base,
        "seeds": plan.cfg.seeds,
        "evaluations": [e.model_dump() for e in plan.cfg.evaluations],
        "variants": variants,
    }


def run_ablation(config_path: str, overrides: list[str] | None = None, say=print) -> dict:
    from schemas.config import load_config
    from training.ablation_report import write_report

    cfg = load_config(AblateConfig, config_path, overrides or [])
    plan = Plan(cfg, Path(config_path))
    records, todo = [], []
    for variant, seed, train_cfg in plan.runs:
        done = plan.run_dir(variant, seed) / "result.json"
        if done.exists():
            say(f"{variant} seed {seed}: finished earlier, kept")
            records.append(json.loads(done.read_text()))
        else:
            todo.append((variant, seed, train_cfg))
    if cfg.parallel > 1 and len(todo) > 1:
        import ray

        if not ray.is_initialized():
            ray.init(num_cpus=None, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)
        remote = ray.remote(num_cpus=cfg.threads)(run_one)
        futures = [remote.remote(v, s, c, cfg.evaluations, str(plan.run_dir(v, s))) for v, s, c in todo]
        for (variant, seed, _), record in zip(todo, ray.get(futures), strict=True):
            say(
                f"{variant} seed {seed}: {record['status']} in {record['seconds']} s {record.get('scores', record.get('error'))}"
            )
            records.append(record)
    else:
        for variant, seed, train_cfg in todo:
            say(f"{variant} seed {seed}: training -> {plan.run_dir(variant, seed)}")
            record = run_one(variant, seed, train_cfg, cfg.evaluations, str(plan.run_dir(variant, seed)))
            say(
                f"{variant} seed {seed}: {record['status']} in {record['seconds']} s {record.get('scores', record.get('error'))}"
            )
            records.append(record)
    summary = summarise(plan, records)
    plan.out.mkdir(parents=True, exist_ok=True)
    (plan.out / "ablation.json").write_text(json.dumps(summary, indent=1))
    write_report(summary, plan, plan.out / "ablation.html")
    return summary


def table(summary: dict) -> str:
    """The result as a Markdown table: mean ± spread per variant and evaluation, and the verdict."""
    names = [e["name"] for e in summary["evaluations"]]
    lines = [
        "| variant | " + " | ".join(names) + " | against " + summary["base"] + " |",
        "|---" * (len(names) + 2) + "|",
    ]
    for variant in summary["variants"]:
        cells = []
        for name in names:
            score = variant["scores"][name]
            cells.append(
                "failed" if score["mean"] is None else f"{score['mean']:.3f} ± {score['spread']:.3f}"
            )
        verdicts = (
            "; ".join(f"{n}: {v['statement']} ({v['diff']:+.3f})" for n, v in variant["vs_base"].items())
            or "(the base)"
        )
        failed = sum(r["status"] != "ok" for r in variant["runs"])
        lines.append(
            f"| {variant['name']} | "
            + " | ".join(cells)
            + f" | {verdicts}{f'; {failed} run(s) failed' if failed else ''} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from schemas.config import ConfigError

    parser = argparse.ArgumentParser(
        prog="vlmdata ablate",
        description="Train every variant x seed of an ablation, evaluate each run, and write "
        "ablation.json and ablation.html (mean ± spread per variant, the difference to the base "
        "variant and whether it exceeds the seed spread, loss curves, links to the data reports). "
        "Finished runs are kept when the command is run again.",
    )
    parser.add_argument("--config", required=True, help="YAML (e.g. configs/ablate.yaml)")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="e.g. seeds=[0] output_dir=out/x")
    args = parser.parse_args(argv)
    try:
        summary = run_ablation(args.config, args.overrides, say=lambda line: print(line, file=sys.stderr))
    except (ConfigError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(table(summary))
    failed = sum(r["status"] != "ok" for v in summary["variants"] for r in v["runs"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
